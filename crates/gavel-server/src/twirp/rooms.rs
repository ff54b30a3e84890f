//! Room methods: ListRooms, DeleteRoom.

use super::codec::{int64, string, strings, JsonIn, JsonOut};
use super::{auth, TwirpError};
use crate::http::AppState;
use crate::registry::RoomHandle;
use gavel_core::LeaveReason;
use livekit_protocol as lk;
use serde_json::{json, Map, Value};

impl JsonIn for lk::ListRoomsRequest {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError> {
        Ok(lk::ListRoomsRequest {
            names: strings(m, "names")?,
        })
    }
}

impl JsonIn for lk::DeleteRoomRequest {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError> {
        Ok(lk::DeleteRoomRequest {
            room: string(m, "room")?,
        })
    }
}

impl JsonOut for lk::Room {
    fn to_json(&self) -> Map<String, Value> {
        let v = json!({
            "sid": self.sid,
            "name": self.name,
            "empty_timeout": self.empty_timeout,
            "departure_timeout": self.departure_timeout,
            "max_participants": self.max_participants,
            "creation_time": int64(self.creation_time),
            "creation_time_ms": int64(self.creation_time_ms),
            "metadata": self.metadata,
            "num_participants": self.num_participants,
            "num_publishers": self.num_publishers,
            "active_recording": self.active_recording,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

impl JsonOut for lk::ListRoomsResponse {
    fn to_json(&self) -> Map<String, Value> {
        let rooms: Vec<Value> = self
            .rooms
            .iter()
            .map(|r| Value::Object(r.to_json()))
            .collect();
        let mut m = Map::new();
        m.insert("rooms".into(), Value::Array(rooms));
        m
    }
}

impl JsonOut for lk::DeleteRoomResponse {
    fn to_json(&self) -> Map<String, Value> {
        Map::new()
    }
}

/// The room as LiveKit describes it, from our state.
async fn room_info(handle: &RoomHandle) -> Result<lk::Room, TwirpError> {
    Ok(handle
        .inspect(|room, _| {
            let counts = room.counts();
            lk::Room {
                sid: format!("RM_{}", room.name()),
                name: room.name().to_string(),
                num_participants: counts.present + counts.hidden,
                ..Default::default()
            }
        })
        .await?)
}

pub async fn list_rooms(
    state: &AppState,
    claims: &gavel_core::Claims,
    req: lk::ListRoomsRequest,
) -> Result<lk::ListRoomsResponse, TwirpError> {
    auth::room_list(claims)?;
    let mut rooms = Vec::new();
    for h in state.registry.handles() {
        // A room that closed meanwhile is simply not listed.
        if let Ok(r) = room_info(&h).await {
            if req.names.is_empty() || req.names.contains(&r.name) {
                rooms.push(r);
            }
        }
    }
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(lk::ListRoomsResponse { rooms })
}

pub async fn delete_room(
    state: &AppState,
    claims: &gavel_core::Claims,
    req: lk::DeleteRoomRequest,
) -> Result<lk::DeleteRoomResponse, TwirpError> {
    auth::room_create(claims)?;
    state
        .registry
        .delete(&req.room, LeaveReason::RoomDeleted)
        .await?;
    Ok(lk::DeleteRoomResponse {})
}
