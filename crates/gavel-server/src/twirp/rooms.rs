//! Room methods: CreateRoom, ListRooms, DeleteRoom, UpdateRoomMetadata.

use super::{auth, TwirpError};
use crate::http::AppState;
use crate::service::{RoomSummary, ServiceReply, ServiceRequest};
use gavel_core::Command;
use livekit_protocol as lk;

/// The room as LiveKit describes it, from the service's summary.
fn room_info(summary: RoomSummary) -> lk::Room {
    let settings = &summary.settings;
    lk::Room {
        sid: format!("RM_{}", summary.name),
        empty_timeout: settings.empty_timeout_seconds,
        max_participants: settings.max_participants,
        metadata: settings.metadata.clone(),
        num_participants: summary.counts.present + summary.counts.hidden,
        num_publishers: summary.publishers,
        name: summary.name,
        ..Default::default()
    }
}

/// The room's summary, from whichever node serves it.
async fn room_of(
    state: &AppState,
    claims: &gavel_core::Claims,
    room: String,
) -> Result<lk::Room, TwirpError> {
    match auth::call(state, claims, ServiceRequest::Room { room }).await? {
        ServiceReply::Room { room } => Ok(room_info(room)),
        _ => {
            Err(gavel_core::Error::new(gavel_core::ErrorCode::Internal, "unexpected reply").into())
        }
    }
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
        rooms.push(room_info(summary));
    }
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
    match auth::call(state, claims, request).await? {
        ServiceReply::Created { room, .. } => Ok(room_info(room)),
        _ => room_of(state, claims, req.name).await,
    }
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
    room_of(state, claims, req.room).await
}
