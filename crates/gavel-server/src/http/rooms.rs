//! Room endpoints: create, list, get, delete, mute-all, end, bans.

use super::{command, room_command, run, ApiError, Body, Caller, Json, St};
use crate::registry::RoomHandle;
use axum::extract::Path;
use axum::http::StatusCode;
use gavel_core::{Error, LeaveReason, RoomSettings};
use serde_json::{json, Value};

/// The room as the server API shows it.
async fn summary(handle: &RoomHandle) -> Result<Value, ApiError> {
    Ok(handle
        .inspect(|room, _| {
            json!({
                "name": room.name(),
                "settings": room.settings(),
                "counts": room.counts(),
                "pinned": room.pinned(),
                "active_speakers": room.active_speakers(),
            })
        })
        .await?)
}

pub async fn create(
    state: St,
    caller: Caller,
    Body(mut body): Body,
) -> Result<(StatusCode, Json), ApiError> {
    caller.require(caller.0.video.room_create, "roomCreate")?;
    let name = match body.remove("name") {
        Some(Value::String(s)) => s,
        _ => return Err(ApiError(Error::invalid("missing field `name` (a string)"))),
    };
    // The body's settings override the server's room defaults.
    let mut merged = match serde_json::to_value(&state.registry.room_defaults) {
        Ok(Value::Object(m)) => m,
        _ => Default::default(),
    };
    merged.append(&mut body);
    let settings: RoomSettings = serde_json::from_value(Value::Object(merged))
        .map_err(|e| ApiError(Error::invalid(format!("invalid room settings: {e}"))))?;
    let (handle, created) = state.registry.get_or_create(&name, Some(settings), true)?;
    // Acknowledged only once durable: the room exists again after a restart.
    let current = handle.inspect(|r, _| r.settings().clone()).await?;
    state.registry.persist_room(&name, current).await?;
    let mut room = summary(&handle).await?;
    room["created"] = json!(created);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!({ "room": room }))))
}

pub async fn list(state: St, caller: Caller) -> Result<Json, ApiError> {
    caller.require(caller.0.video.room_list, "roomList")?;
    let mut rooms = Vec::new();
    for h in state.registry.handles() {
        // A room that closed meanwhile is simply not listed.
        if let Ok(s) = summary(&h).await {
            rooms.push(s);
        }
    }
    Ok(axum::Json(json!({ "rooms": rooms })))
}

pub async fn get(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    caller.admin_of(&room)?;
    let handle = state.registry.get_or_not_found(&room)?;
    Ok(axum::Json(json!({ "room": summary(&handle).await? })))
}

pub async fn delete(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    caller.require(caller.0.video.room_create, "roomCreate")?;
    state
        .registry
        .delete(&room, LeaveReason::RoomDeleted)
        .await?;
    Ok(axum::Json(json!({})))
}

pub async fn mute_all(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(body): Body,
) -> Result<Json, ApiError> {
    room_command(&state, &caller, &room, "mute_all", body).await
}

pub async fn end(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(body): Body,
) -> Result<Json, ApiError> {
    room_command(&state, &caller, &room, "end_session", body).await
}

/// `PATCH /v1/rooms/{room}` `{"metadata": "…"}`: everyone in the room gets `room_updated`.
pub async fn update(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(body): Body,
) -> Result<Json, ApiError> {
    room_command(&state, &caller, &room, "update_room_metadata", body).await
}

/// `POST /v1/rooms/{room}/data`: a data message from the server to everyone or to
/// `destination_identities`.
pub async fn send_data(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(body): Body,
) -> Result<Json, ApiError> {
    room_command(&state, &caller, &room, "send_data", body).await
}

pub async fn bans(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    caller.admin_of(&room)?;
    let handle = state.registry.get_or_not_found(&room)?;
    let bans = handle.inspect(|r, now| r.bans(now)).await?;
    Ok(axum::Json(json!({ "bans": bans })))
}

pub async fn lift_ban(
    state: St,
    caller: Caller,
    Path((room, identity)): Path<(String, String)>,
) -> Result<Json, ApiError> {
    let actor = caller.admin_of(&room)?;
    let cmd = command("lift_ban", Default::default(), &[("identity", &identity)])?;
    Ok(axum::Json(run(&state, actor, &room, cmd).await?))
}
