//! Room methods: CreateRoom, ListRooms, DeleteRoom, UpdateRoomMetadata.

use super::{auth, TwirpError};
use crate::http::AppState;
use crate::registry::RoomHandle;
use crate::service::{ServiceReply, ServiceRequest};
use gavel_core::Command;
use livekit_protocol as lk;

/// The room as LiveKit describes it, from our state.
async fn room_info(handle: &RoomHandle) -> Result<lk::Room, TwirpError> {
    Ok(handle
        .inspect(|room, _| {
            let counts = room.counts();
            let settings = room.settings();
            lk::Room {
                sid: format!("RM_{}", room.name()),
                name: room.name().to_string(),
                empty_timeout: settings.empty_timeout_seconds,
                max_participants: settings.max_participants,
                metadata: settings.metadata.clone(),
                num_participants: counts.present + counts.hidden,
                num_publishers: room.participants().filter(|p| !p.tracks.is_empty()).count() as u32,
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
    let ServiceReply::Rooms { rooms: all } =
        auth::call(state, claims, ServiceRequest::Rooms).await?
    else {
        return Ok(lk::ListRoomsResponse::default());
    };
    let mut rooms = Vec::new();
    for summary in all {
        if !req.names.is_empty() && !req.names.contains(&summary.name) {
            continue;
        }
        // A room that closed meanwhile is simply not listed.
        if let Some(h) = state.registry.get(&summary.name) {
            if let Ok(r) = room_info(&h).await {
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
    auth::call(state, claims, ServiceRequest::DeleteRoom { room: req.room }).await?;
    Ok(lk::DeleteRoomResponse {})
}

/// Creates the room (durably, as the native API does) or returns the existing one.
/// `empty_timeout` and `max_participants` apply when not zero; other fields are ignored.
pub async fn create_room(
    state: &AppState,
    claims: &gavel_core::Claims,
    req: lk::CreateRoomRequest,
) -> Result<lk::Room, TwirpError> {
    let mut settings = state.registry.room_defaults.clone();
    if req.empty_timeout > 0 {
        settings.empty_timeout_seconds = req.empty_timeout;
    }
    if req.max_participants > 0 {
        settings.max_participants = req.max_participants;
    }
    let request = ServiceRequest::CreateRoom {
        name: req.name.clone(),
        settings,
    };
    auth::call(state, claims, request).await?;
    room_info(&state.registry.get_or_not_found(&req.name)?).await
}

/// Replaces the room's metadata through the core command path: clients get `room_updated`.
pub async fn update_room_metadata(
    state: &AppState,
    claims: &gavel_core::Claims,
    req: lk::UpdateRoomMetadataRequest,
) -> Result<lk::Room, TwirpError> {
    let cmd = Command::UpdateRoomMetadata {
        metadata: req.metadata,
    };
    auth::command(state, claims, &req.room, cmd).await?;
    room_info(&state.registry.get_or_not_found(&req.room)?).await
}
