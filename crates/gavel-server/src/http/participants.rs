//! Participant endpoints: list, get, update, mute, request-media, remove, move, pin, batch.

use super::{command, room_command, run, ApiError, Body, Caller, Json, St};
use axum::extract::Path;
use gavel_core::{Error, Reply};
use serde_json::{json, Value};
use std::time::Duration;

type RoomAndIdentity = Path<(String, String)>;

pub async fn list(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    caller.admin_of(&room)?;
    let handle = state.registry.get_or_not_found(&room)?;
    let body = handle
        .inspect(|r, _| {
            let participants: Vec<_> = r.participants().cloned().collect();
            json!({ "participants": participants, "counts": r.counts(), "pinned": r.pinned() })
        })
        .await?;
    Ok(axum::Json(body))
}

pub async fn get(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
) -> Result<Json, ApiError> {
    caller.admin_of(&room)?;
    let handle = state.registry.get_or_not_found(&room)?;
    let found = handle
        .inspect(move |r, _| r.participant(&identity).cloned().ok_or(identity))
        .await?;
    match found {
        Ok(p) => Ok(axum::Json(json!({ "participant": p }))),
        Err(identity) => Err(ApiError(Error::participant_not_found(&identity))),
    }
}

/// A command addressed to one participant, with the identity taken from the path.
async fn targeted(
    state: St,
    caller: Caller,
    (room, identity): (String, String),
    kind: &str,
    body: serde_json::Map<String, Value>,
) -> Result<Json, ApiError> {
    let actor = caller.admin_of(&room)?;
    let cmd = command(kind, body, &[("identity", &identity)])?;
    Ok(axum::Json(run(&state, actor, &room, cmd).await?))
}

pub async fn update(
    state: St,
    caller: Caller,
    Path(p): RoomAndIdentity,
    Body(body): Body,
) -> Result<Json, ApiError> {
    targeted(state, caller, p, "update_participant", body).await
}

pub async fn mute(
    state: St,
    caller: Caller,
    Path(p): RoomAndIdentity,
    Body(body): Body,
) -> Result<Json, ApiError> {
    targeted(state, caller, p, "mute", body).await
}

/// Kick, optionally with a ban and with `revoke_tokens: true` (the identity's current tokens
/// stop working for this room; it needs a newly issued token to come back).
pub async fn remove(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(mut body): Body,
) -> Result<Json, ApiError> {
    let revoke = match body.remove("revoke_tokens") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(ApiError(Error::invalid("revoke_tokens must be a boolean"))),
    };
    let actor = caller.admin_of(&room)?;
    let kick = command("kick", body, &[("identity", &identity)])?;
    if revoke {
        let revoke = command(
            "revoke_tokens",
            Default::default(),
            &[("identity", &identity)],
        )?;
        run(&state, actor.clone(), &room, revoke).await?;
    }
    Ok(axum::Json(run(&state, actor, &room, kick).await?))
}

pub async fn revoke_tokens(
    state: St,
    caller: Caller,
    Path(p): RoomAndIdentity,
    Body(body): Body,
) -> Result<Json, ApiError> {
    targeted(state, caller, p, "revoke_tokens", body).await
}

pub async fn pin(state: St, caller: Caller, Path(p): RoomAndIdentity) -> Result<Json, ApiError> {
    targeted(state, caller, p, "pin", Default::default()).await
}

pub async fn unpin(state: St, caller: Caller, Path(p): RoomAndIdentity) -> Result<Json, ApiError> {
    targeted(state, caller, p, "unpin", Default::default()).await
}

/// Sends a consent request. With `wait_seconds`, answers only once the target responded (or the
/// wait ran out), so a backend asker learns the outcome too.
pub async fn request_media(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(mut body): Body,
) -> Result<Json, ApiError> {
    let wait = match body.remove("wait_seconds") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(s) if s <= 3600 => Some(s),
            _ => return Err(ApiError(Error::invalid("wait_seconds must be 0 to 3600"))),
        },
    };
    let actor = caller.admin_of(&room)?;
    let cmd = command("request_media", body, &[("identity", &identity)])?;
    let handle = state.registry.get_or_not_found(&room)?;
    let (result, _) = handle.command_raw(actor, cmd).await?;
    let reply = result?;
    let (Some(secs), Reply::Request { request_id, .. }) = (wait, &reply) else {
        return Ok(axum::Json(serde_json::to_value(reply).unwrap_or_default()));
    };
    let waited = tokio::time::timeout(
        Duration::from_secs(secs),
        handle.wait_request(request_id.clone()),
    )
    .await;
    let status = match waited {
        Ok(outcome) => serde_json::to_value(outcome?).unwrap_or_default(),
        Err(_) => json!("pending"),
    };
    Ok(axum::Json(
        json!({ "request_id": request_id, "status": status }),
    ))
}

pub async fn move_to(
    state: St,
    caller: Caller,
    Path((room, identity)): RoomAndIdentity,
    Body(body): Body,
) -> Result<Json, ApiError> {
    let actor = caller.admin_of(&room)?;
    let destination = match body.get("destination") {
        Some(Value::String(d)) => d.clone(),
        _ => {
            return Err(ApiError(Error::invalid(
                "missing field `destination` (a room name)",
            )))
        }
    };
    if body.len() > 1 {
        return Err(ApiError(Error::invalid("move takes only `destination`")));
    }
    let source = state.registry.get_or_not_found(&room)?;
    let reply = state
        .registry
        .move_participant(&source, actor, identity, destination.clone())
        .await?;
    let mut v = serde_json::to_value(reply).unwrap_or_default();
    v["room"] = json!(destination);
    Ok(axum::Json(v))
}

pub async fn batch(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(body): Body,
) -> Result<Json, ApiError> {
    room_command(&state, &caller, &room, "batch_update", body).await
}

pub async fn remove_many(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(body): Body,
) -> Result<Json, ApiError> {
    room_command(&state, &caller, &room, "kick", body).await
}
