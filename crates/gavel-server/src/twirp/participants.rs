//! Participant methods: ListParticipants, GetParticipant, RemoveParticipant, MoveParticipant,
//! MutePublishedTrack, UpdateParticipant.

use super::codec::{boolean, get, int64_in, string, JsonIn, JsonOut};
use super::{auth, mapping, TwirpError};
use crate::http::AppState;
use crate::service::{ServiceReply, ServiceRequest};
use gavel_core::permissions::SourceSet;
use gavel_core::{Claims, Command, Error, PermissionsPatch, Reply, Source};
use livekit_protocol as lk;
use serde_json::{Map, Value};

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
    let request = ServiceRequest::Participants { room: req.room };
    match auth::call(state, claims, request).await? {
        ServiceReply::Participants { participants, .. } => Ok(lk::ListParticipantsResponse {
            participants: participants.iter().map(mapping::participant).collect(),
        }),
        _ => Ok(lk::ListParticipantsResponse::default()),
    }
}

pub async fn get_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::RoomParticipantIdentity,
) -> Result<lk::ParticipantInfo, TwirpError> {
    let request = ServiceRequest::Participant {
        room: req.room,
        identity: req.identity.clone(),
    };
    match auth::call(state, claims, request).await? {
        ServiceReply::Participant { participant } => Ok(mapping::participant(&participant)),
        _ => Err(Error::participant_not_found(&req.identity).into()),
    }
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

/// Removes the participant and voids its tokens for this room issued before `revoke_token_ts`
/// (seconds; default now), so it cannot rejoin with the token it had: one core command. An
/// absent identity is `not_found` and nothing is revoked (LiveKit's behaviour).
pub async fn remove_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::RoomParticipantIdentity,
) -> Result<lk::RemoveParticipantResponse, TwirpError> {
    let kick = Command::Kick {
        identity: Some(req.identity),
        identities: None,
        ban_seconds: None,
        revoke_tokens: true,
        revoke_before: (req.revoke_token_ts > 0)
            .then(|| req.revoke_token_ts.saturating_mul(1000) as u64),
        require_present: true,
    };
    auth::command(state, claims, &req.room, kick).await?;
    Ok(lk::RemoveParticipantResponse {})
}

/// Moves a participant; the token must be allowed in both rooms.
pub async fn move_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::MoveParticipantRequest,
) -> Result<lk::MoveParticipantResponse, TwirpError> {
    let request = ServiceRequest::Move {
        room: req.room,
        identity: req.identity,
        destination: req.destination_room,
    };
    auth::call(state, claims, request).await?;
    Ok(lk::MoveParticipantResponse {})
}

/// Mutes (or remotely unmutes, under the room's `remote_unmute` policy) one track by sid: one
/// core command, which answers with the track as it is afterwards.
pub async fn mute_published_track(
    state: &AppState,
    claims: &Claims,
    req: lk::MuteRoomTrackRequest,
) -> Result<lk::MuteRoomTrackResponse, TwirpError> {
    let mute = Command::MuteTrack {
        identity: req.identity,
        track_sid: req.track_sid,
        muted: req.muted,
    };
    let track = match auth::command(state, claims, &req.room, mute).await? {
        Reply::Track { track } => Some(mapping::track(&track)),
        _ => None,
    };
    Ok(lk::MuteRoomTrackResponse { track })
}

impl JsonIn for lk::UpdateParticipantRequest {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError> {
        let permission = match get(m, "permission") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(permission_from_json(p)?),
            Some(_) => return Err(TwirpError::malformed("`permission` must be an object")),
        };
        let attributes = match get(m, "attributes") {
            None | Some(Value::Null) => Default::default(),
            Some(Value::Object(a)) => a
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(TwirpError::malformed("attribute values must be strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(TwirpError::malformed("`attributes` must be an object")),
        };
        Ok(lk::UpdateParticipantRequest {
            room: string(m, "room")?,
            identity: string(m, "identity")?,
            metadata: string(m, "metadata")?,
            name: string(m, "name")?,
            permission,
            attributes,
        })
    }
}

fn permission_from_json(p: &Map<String, Value>) -> Result<lk::ParticipantPermission, TwirpError> {
    let sources = match get(p, "can_publish_sources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => lk::TrackSource::from_str_name(s)
                    .map(|t| t as i32)
                    .ok_or_else(|| TwirpError::malformed(format!("unknown track source {s:?}"))),
                Value::Number(n) => n
                    .as_i64()
                    .map(|n| n as i32)
                    .ok_or_else(|| TwirpError::malformed("bad track source")),
                _ => Err(TwirpError::malformed("bad track source")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(TwirpError::malformed(
                "`can_publish_sources` must be a list",
            ))
        }
    };
    Ok(lk::ParticipantPermission {
        can_subscribe: boolean(p, "can_subscribe")?,
        can_publish: boolean(p, "can_publish")?,
        can_publish_data: boolean(p, "can_publish_data")?,
        can_publish_sources: sources,
        hidden: boolean(p, "hidden")?,
        can_update_metadata: boolean(p, "can_update_metadata")?,
        ..Default::default()
    })
}

/// LiveKit's permission replaces ours, except host controls (which LiveKit does not have).
fn permissions_patch(p: &lk::ParticipantPermission) -> Result<PermissionsPatch, TwirpError> {
    let all: SourceSet = gavel_core::permissions::all_sources();
    let can_send: SourceSet = if !p.can_publish {
        SourceSet::new()
    } else if p.can_publish_sources.is_empty() {
        all.clone()
    } else {
        let mut out = SourceSet::new();
        for s in &p.can_publish_sources {
            out.insert(match lk::TrackSource::try_from(*s) {
                Ok(lk::TrackSource::Microphone) => Source::Microphone,
                Ok(lk::TrackSource::Camera) => Source::Camera,
                Ok(lk::TrackSource::ScreenShare) => Source::ScreenVideo,
                Ok(lk::TrackSource::ScreenShareAudio) => Source::ScreenAudio,
                _ => {
                    return Err(TwirpError::new(
                        "invalid_argument",
                        format!("unsupported track source {s} in can_publish_sources"),
                    ))
                }
            });
        }
        out
    };
    let can_receive = if p.can_subscribe {
        all
    } else {
        SourceSet::new()
    };
    Ok(PermissionsPatch {
        can_send: Some(can_send),
        can_receive: Some(can_receive),
        can_publish_data: Some(p.can_publish_data),
        can_update_own_metadata: Some(p.can_update_metadata),
        hidden: Some(p.hidden),
        host: None,
    })
}

/// Name, metadata (when not empty), attributes (merged; "" deletes) and permission, as one
/// core `update_participant`; revoking publish unpublishes tracks there.
pub async fn update_participant(
    state: &AppState,
    claims: &Claims,
    req: lk::UpdateParticipantRequest,
) -> Result<lk::ParticipantInfo, TwirpError> {
    let update = Command::UpdateParticipant {
        identity: req.identity.clone(),
        permissions: req.permission.as_ref().map(permissions_patch).transpose()?,
        role: None,
        name: (!req.name.is_empty()).then_some(req.name),
        metadata: (!req.metadata.is_empty()).then_some(req.metadata),
        attributes: (!req.attributes.is_empty()).then(|| req.attributes.into_iter().collect()),
        capabilities: None,
    };
    match auth::command(state, claims, &req.room, update).await? {
        Reply::Participant { participant } => Ok(mapping::participant(&participant)),
        _ => {
            let again = lk::RoomParticipantIdentity {
                room: req.room,
                identity: req.identity,
                ..Default::default()
            };
            get_participant(state, claims, again).await
        }
    }
}
