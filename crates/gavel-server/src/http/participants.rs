//! Participant endpoints: list, get, update, mute, request-media, remove, revoke tokens, move,
//! pin, batch. Each reads a typed body and makes one service call.

use super::{call, command, untagged, ApiError, Body, Caller, Empty, Json, St};
use crate::service::{ServiceReply, ServiceRequest};
use axum::extract::Path;
use gavel_core::command::ParticipantUpdate;
use gavel_core::{BatchEntry, Command, Error, Millis, Reply, Source};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

type RoomAndIdentity = Path<(String, String)>;

pub async fn list(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    let reply = call(&state, &caller, ServiceRequest::Participants { room }).await?;
    Ok(untagged(reply))
}

pub async fn get(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
) -> Result<Json, ApiError> {
    let reply = call(
        &state,
        &caller,
        ServiceRequest::Participant { room, identity },
    )
    .await?;
    Ok(untagged(reply))
}

pub async fn update(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(b): Body<ParticipantUpdate>,
) -> Result<Json, ApiError> {
    let cmd = Command::UpdateParticipant {
        identity,
        permissions: b.permissions,
        role: b.role,
        name: b.name,
        metadata: b.metadata,
        attributes: b.attributes,
        capabilities: b.capabilities,
    };
    command(&state, &caller, &room, cmd).await
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    source: Source,
    #[serde(default = "yes")]
    muted: bool,
}

pub async fn mute(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(b): Body<MuteBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::Mute {
        identity,
        source: b.source,
        muted: b.muted,
    };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    #[serde(default)]
    ban_seconds: Option<u64>,
    /// The identity's current tokens stop working for this room: it needs a new token.
    #[serde(default)]
    revoke_tokens: bool,
}

/// Kick, optionally with a ban and with `revoke_tokens: true`: one command. An absent identity
/// is refused unless a ban or revocation applies to it; the reply says whether it was removed.
pub async fn remove(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(b): Body<RemoveBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::Kick {
        identity: Some(identity),
        identities: None,
        ban_seconds: b.ban_seconds,
        revoke_tokens: b.revoke_tokens,
        revoke_before: None,
        require_present: false,
    };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[serde(default)]
    before: Option<Millis>,
}

pub async fn revoke_tokens(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(b): Body<RevokeBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::RevokeTokens {
        identity,
        before: b.before,
    };
    command(&state, &caller, &room, cmd).await
}

pub async fn pin(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(Empty {}): Body<Empty>,
) -> Result<Json, ApiError> {
    command(&state, &caller, &room, Command::Pin { identity }).await
}

pub async fn unpin(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(Empty {}): Body<Empty>,
) -> Result<Json, ApiError> {
    let cmd = Command::Unpin {
        identity: Some(identity),
    };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMediaBody {
    source: Source,
    /// Answer only once the target responded (or this ran out), so a backend asker learns the
    /// outcome too.
    #[serde(default)]
    wait_seconds: Option<u64>,
}

/// The longest a request-media call may wait for its answer.
const MAX_WAIT_SECONDS: u64 = 3600;

/// Sends a consent request; with `wait_seconds`, answers with its outcome (or `pending`).
pub async fn request_media(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(b): Body<RequestMediaBody>,
) -> Result<Json, ApiError> {
    if b.wait_seconds.is_some_and(|s| s > MAX_WAIT_SECONDS) {
        return Err(ApiError(Error::invalid(format!(
            "wait_seconds must be 0 to {MAX_WAIT_SECONDS}"
        ))));
    }
    let cmd = Command::RequestMedia {
        identity,
        source: b.source,
    };
    let principal = caller.principal();
    let reply = state.service.command(&principal, &room, cmd).await?;
    let (Some(secs), Reply::Request { request_id, .. }) = (b.wait_seconds, &reply) else {
        return Ok(axum::Json(serde_json::to_value(reply).unwrap_or_default()));
    };
    let wait = ServiceRequest::WaitRequest {
        room,
        request_id: request_id.clone(),
        wait_ms: secs * 1000,
    };
    let status = match state.service.call(&principal, wait).await? {
        ServiceReply::Outcome {
            outcome: Some(outcome),
        } => serde_json::to_value(outcome).unwrap_or_default(),
        _ => json!("pending"),
    };
    Ok(axum::Json(
        json!({ "request_id": request_id, "status": status }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// A room name.
    destination: String,
}

/// Moves a participant; the caller must be allowed in both rooms.
pub async fn move_to(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(b): Body<MoveBody>,
) -> Result<Json, ApiError> {
    let request = ServiceRequest::Move {
        room,
        identity,
        destination: b.destination.clone(),
    };
    call(&state, &caller, request).await?;
    Ok(axum::Json(json!({ "room": b.destination })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    updates: BTreeMap<String, BatchEntry>,
}

pub async fn batch(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<BatchBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::BatchUpdate { updates: b.updates };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveManyBody {
    identities: Vec<String>,
    #[serde(default)]
    ban_seconds: Option<u64>,
    #[serde(default)]
    revoke_tokens: bool,
}

pub async fn remove_many(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<RemoveManyBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::Kick {
        identity: None,
        identities: Some(b.identities),
        ban_seconds: b.ban_seconds,
        revoke_tokens: b.revoke_tokens,
        revoke_before: None,
        require_present: false,
    };
    command(&state, &caller, &room, cmd).await
}
