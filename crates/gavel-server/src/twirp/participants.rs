//! Participant methods: ListParticipants, GetParticipant, RemoveParticipant, MoveParticipant,
//! MutePublishedTrack.

use super::codec::{boolean, int64_in, string, JsonIn, JsonOut};
use super::{auth, mapping, TwirpError};
use crate::http::AppState;
use gavel_core::{Actor, Claims, Command, Error, Reply};
use livekit_protocol as lk;
use serde_json::{json, Map, Value};

impl JsonIn for lk::ListParticipantsRequest {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError> {
        Ok(lk::ListParticipantsRequest {
            room: string(m, "room")?,
        })
    }
}

impl JsonIn for lk::RoomParticipantIdentity {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError> {
        Ok(lk::RoomParticipantIdentity {
            room: string(m, "room")?,
            identity: string(m, "identity")?,
            revoke_token_ts: int64_in(m, "revoke_token_ts")?,
        })
    }
}

impl JsonOut for lk::ListParticipantsResponse {
    fn to_json(&self) -> Map<String, Value> {
        let ps: Vec<Value> = self
            .participants
            .iter()
            .map(|p| Value::Object(p.to_json()))
            .collect();
        let mut m = Map::new();
        m.insert("participants".into(), Value::Array(ps));
        m
    }
}

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

impl JsonIn for lk::MoveParticipantRequest {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError> {
        Ok(lk::MoveParticipantRequest {
            room: string(m, "room")?,
            identity: string(m, "identity")?,
            destination_room: string(m, "destination_room")?,
        })
    }
}

impl JsonIn for lk::MuteRoomTrackRequest {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError> {
        Ok(lk::MuteRoomTrackRequest {
            room: string(m, "room")?,
            identity: string(m, "identity")?,
            track_sid: string(m, "track_sid")?,
            muted: boolean(m, "muted")?,
        })
    }
}

impl JsonOut for lk::MoveParticipantResponse {
    fn to_json(&self) -> Map<String, Value> {
        Map::new()
    }
}

impl JsonOut for lk::RemoveParticipantResponse {
    fn to_json(&self) -> Map<String, Value> {
        Map::new()
    }
}

impl JsonOut for lk::MuteRoomTrackResponse {
    fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(t) = &self.track {
            m.insert("track".into(), Value::Object(t.to_json()));
        }
        m
    }
}

/// Runs one core command in `room`, exactly as the native server API does.
async fn run(
    state: &AppState,
    actor: Actor,
    room: &str,
    command: Command,
) -> Result<Reply, TwirpError> {
    let handle = state.registry.get_or_not_found(room)?;
    let (result, _) = handle.command_raw(actor, command).await?;
    Ok(result?)
}

fn command(kind: &str, fields: Value) -> Result<Command, TwirpError> {
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
