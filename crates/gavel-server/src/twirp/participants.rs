//! Participant methods: ListParticipants, GetParticipant, RemoveParticipant, MoveParticipant,
//! MutePublishedTrack, UpdateParticipant.

use super::{auth, mapping, TwirpError};
use crate::http::AppState;
use gavel_core::{Actor, Claims, Command, Error, Reply};
use livekit_protocol as lk;
use serde_json::{json, Map, Value};

pub async fn list_participants(
    state: &AppState,
    claims: &Claims,
    req: lk::ListParticipantsRequest,
) -> Result<lk::ListParticipantsResponse, TwirpError> {
    auth::room_admin(claims, &req.room)?;
    let handle = state.registry.get_or_not_found(&req.room)?;
    let participants = handle
        .inspect(|r, _| r.participants().map(mapping::participant).collect())
        .await?;
    Ok(lk::ListParticipantsResponse { participants })
}

pub async fn get_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::RoomParticipantIdentity,
) -> Result<lk::ParticipantInfo, TwirpError> {
    auth::room_admin(claims, &req.room)?;
    let handle = state.registry.get_or_not_found(&req.room)?;
    let identity = req.identity;
    let found = handle
        .inspect(move |r, _| {
            r.participant(&identity)
                .map(mapping::participant)
                .ok_or(identity)
        })
        .await?;
    found.map_err(|identity| Error::participant_not_found(&identity).into())
}

/// Runs one core command in `room`, exactly as the native server API does.
pub(super) async fn run(
    state: &AppState,
    actor: Actor,
    room: &str,
    command: Command,
) -> Result<Reply, TwirpError> {
    let handle = state.registry.get_or_not_found(room)?;
    let (result, _) = handle.command_raw(actor, command).await?;
    Ok(result?)
}

pub(super) fn command(kind: &str, fields: Value) -> Result<Command, TwirpError> {
    let mut map = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    map.insert("type".into(), Value::from(kind));
    Ok(crate::http::command_from_map(map)?)
}

/// Removes the participant and voids its tokens for this room issued before `revoke_token_ts`
/// (seconds; default now), so a removed participant cannot rejoin with the token it had.
pub async fn remove_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::RoomParticipantIdentity,
) -> Result<lk::RemoveParticipantResponse, TwirpError> {
    let actor = auth::room_admin(claims, &req.room)?;
    let mut revoke = json!({"identity": req.identity});
    if req.revoke_token_ts > 0 {
        revoke["before"] = json!(req.revoke_token_ts.saturating_mul(1000));
    }
    let kick = command("kick", json!({"identity": req.identity}))?;
    // Refuse an unknown identity before revoking anything.
    let identity = req.identity.clone();
    let handle = state.registry.get_or_not_found(&req.room)?;
    let present = handle
        .inspect(move |r, _| r.participant(&identity).is_some())
        .await?;
    if !present {
        return Err(Error::participant_not_found(&req.identity).into());
    }
    run(
        state,
        actor.clone(),
        &req.room,
        command("revoke_tokens", revoke)?,
    )
    .await?;
    run(state, actor, &req.room, kick).await?;
    Ok(lk::RemoveParticipantResponse {})
}

pub async fn move_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::MoveParticipantRequest,
) -> Result<lk::MoveParticipantResponse, TwirpError> {
    let actor = auth::room_admin(claims, &req.room)?;
    let source = state.registry.get_or_not_found(&req.room)?;
    state
        .registry
        .move_participant(&source, actor, req.identity, req.destination_room)
        .await?;
    Ok(lk::MoveParticipantResponse {})
}

/// Mutes (or remotely unmutes, under the room's `remote_unmute` policy) one track by sid.
pub async fn mute_published_track(
    state: &AppState,
    claims: &Claims,
    req: lk::MuteRoomTrackRequest,
) -> Result<lk::MuteRoomTrackResponse, TwirpError> {
    let actor = auth::room_admin(claims, &req.room)?;
    let handle = state.registry.get_or_not_found(&req.room)?;
    let (identity, sid) = (req.identity.clone(), req.track_sid.clone());
    let find = move |r: &gavel_core::Room| {
        r.participant(&identity)
            .map(|p| p.tracks.iter().find(|t| t.sid == sid).cloned())
    };
    let source = match handle.inspect(move |r, _| find(r)).await? {
        None => return Err(Error::participant_not_found(&req.identity).into()),
        Some(None) => return Err(Error::not_found(format!("no track '{}'", req.track_sid)).into()),
        Some(Some(t)) => t.source,
    };
    let mute = command(
        "mute",
        json!({"identity": req.identity, "source": source, "muted": req.muted}),
    )?;
    run(state, actor, &req.room, mute).await?;
    let (identity, sid) = (req.identity.clone(), req.track_sid.clone());
    let track = handle
        .inspect(move |r, _| {
            r.participant(&identity)
                .and_then(|p| p.tracks.iter().find(|t| t.sid == sid).map(mapping::track))
        })
        .await?;
    Ok(lk::MuteRoomTrackResponse { track })
}

/// LiveKit's permission replaces ours, except host controls (which LiveKit does not have).
fn permissions_patch(p: &lk::ParticipantPermission) -> Result<Value, TwirpError> {
    const ALL: [&str; 4] = ["microphone", "camera", "screen_video", "screen_audio"];
    let can_send: Vec<&str> = if !p.can_publish {
        Vec::new()
    } else if p.can_publish_sources.is_empty() {
        ALL.to_vec()
    } else {
        let mut out = Vec::new();
        for s in &p.can_publish_sources {
            match lk::TrackSource::try_from(*s) {
                Ok(lk::TrackSource::Microphone) => out.push("microphone"),
                Ok(lk::TrackSource::Camera) => out.push("camera"),
                Ok(lk::TrackSource::ScreenShare) => out.push("screen_video"),
                Ok(lk::TrackSource::ScreenShareAudio) => out.push("screen_audio"),
                _ => {
                    return Err(TwirpError::new(
                        "invalid_argument",
                        format!("unsupported track source {s} in can_publish_sources"),
                    ))
                }
            }
        }
        out
    };
    let can_receive: Vec<&str> = if p.can_subscribe {
        ALL.to_vec()
    } else {
        Vec::new()
    };
    Ok(json!({
        "can_send": can_send,
        "can_receive": can_receive,
        "can_publish_data": p.can_publish_data,
        "can_update_own_metadata": p.can_update_metadata,
        "hidden": p.hidden,
    }))
}

/// Name, metadata (when not empty), attributes (merged; "" deletes) and permission, as one
/// core `update_participant`; revoking publish unpublishes tracks there.
pub async fn update_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::UpdateParticipantRequest,
) -> Result<lk::ParticipantInfo, TwirpError> {
    let actor = auth::room_admin(claims, &req.room)?;
    let mut fields = json!({"identity": req.identity});
    if !req.name.is_empty() {
        fields["name"] = json!(req.name);
    }
    if !req.metadata.is_empty() {
        fields["metadata"] = json!(req.metadata);
    }
    if !req.attributes.is_empty() {
        fields["attributes"] = json!(req.attributes);
    }
    if let Some(p) = &req.permission {
        fields["permissions"] = permissions_patch(p)?;
    }
    run(
        state,
        actor,
        &req.room,
        command("update_participant", fields)?,
    )
    .await?;
    get_participant(
        state,
        claims,
        lk::RoomParticipantIdentity {
            room: req.room,
            identity: req.identity,
            ..Default::default()
        },
    )
    .await
}
