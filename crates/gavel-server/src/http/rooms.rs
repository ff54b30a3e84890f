//! Room endpoints: create, list, get, delete, update metadata, data, mute-all, end, bans.

use super::{call, command, untagged, ApiError, Body, Caller, Empty, Json, St};
use crate::service::{ServiceReply, ServiceRequest};
use axum::extract::Path;
use axum::http::StatusCode;
use gavel_core::{Command, Error, RoomSettings, Source};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// `POST /v1/rooms {"name": …, …settings}`: the body's settings override the server's room
/// defaults; `parent` makes the room a child of an existing one.
pub async fn create(
    state: St,
    caller: Caller,
    Body(mut body): Body<Map<String, Value>>,
) -> Result<(StatusCode, Json), ApiError> {
    let name = match body.remove("name") {
        Some(Value::String(s)) => s,
        _ => return Err(ApiError(Error::invalid("missing field `name` (a string)"))),
    };
    if body.contains_key("breakouts") {
        // The main room's record of its open breakout rooms: only open_breakouts writes it.
        return Err(ApiError(Error::invalid(
            "breakouts are opened with POST /v1/rooms/{room}/breakouts, not set at creation",
        )));
    }
    let mut merged = match serde_json::to_value(&state.registry.room_defaults) {
        Ok(Value::Object(m)) => m,
        _ => Default::default(),
    };
    merged.append(&mut body);
    // RoomSettings refuses unknown fields, so a typo is an error, not a silent default.
    let settings: RoomSettings = serde_json::from_value(Value::Object(merged))
        .map_err(|e| ApiError(Error::invalid(format!("invalid room settings: {e}"))))?;
    let reply = call(
        &state,
        &caller,
        ServiceRequest::CreateRoom { name, settings },
    )
    .await?;
    let ServiceReply::Created { room, created } = reply else {
        return Err(ApiError(Error::new(
            gavel_core::ErrorCode::Internal,
            "unexpected reply to a room creation",
        )));
    };
    let mut room = serde_json::to_value(room).unwrap_or_default();
    room["created"] = json!(created);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!({ "room": room }))))
}

pub async fn list(state: St, caller: Caller) -> Result<Json, ApiError> {
    Ok(untagged(
        call(&state, &caller, ServiceRequest::Rooms).await?,
    ))
}

pub async fn get(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    Ok(untagged(
        call(&state, &caller, ServiceRequest::Room { room }).await?,
    ))
}

pub async fn delete(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    call(&state, &caller, ServiceRequest::DeleteRoom { room }).await?;
    Ok(axum::Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteAllBody {
    source: Source,
    #[serde(default)]
    except: Vec<String>,
}

pub async fn mute_all(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<MuteAllBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::MuteAll {
        source: b.source,
        except: b.except,
    };
    command(&state, &caller, &room, cmd).await
}

pub async fn end(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(Empty {}): Body<Empty>,
) -> Result<Json, ApiError> {
    command(&state, &caller, &room, Command::EndSession).await
}

/// `POST /v1/rooms/{room}/lock`: nobody new comes in until `…/unlock` (docs/protocol.md).
pub async fn lock(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(Empty {}): Body<Empty>,
) -> Result<Json, ApiError> {
    command(&state, &caller, &room, Command::LockRoom { locked: true }).await
}

pub async fn unlock(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(Empty {}): Body<Empty>,
) -> Result<Json, ApiError> {
    command(&state, &caller, &room, Command::LockRoom { locked: false }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomPatch {
    metadata: String,
}

/// `PATCH /v1/rooms/{room}` `{"metadata": "…"}`: everyone in the room gets `room_updated`.
pub async fn update(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<RoomPatch>,
) -> Result<Json, ApiError> {
    let cmd = Command::UpdateRoomMetadata {
        metadata: b.metadata,
    };
    command(&state, &caller, &room, cmd).await
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataBody {
    /// Base64.
    payload: String,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    destination_identities: Vec<String>,
    #[serde(default = "yes")]
    reliable: bool,
}

/// `POST /v1/rooms/{room}/data`: a data message from the server to everyone or to
/// `destination_identities`.
pub async fn send_data(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<DataBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::SendData {
        payload: b.payload,
        topic: b.topic,
        destination_identities: b.destination_identities,
        reliable: b.reliable,
    };
    command(&state, &caller, &room, cmd).await
}

pub async fn bans(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    Ok(untagged(
        call(&state, &caller, ServiceRequest::Bans { room }).await?,
    ))
}

pub async fn lift_ban(
    state: St,
    caller: Caller,
    Path((room, identity)): Path<(String, String)>,
) -> Result<Json, ApiError> {
    command(&state, &caller, &room, Command::LiftBan { identity }).await
}
