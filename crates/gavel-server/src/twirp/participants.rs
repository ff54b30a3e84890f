//! Participant methods: ListParticipants, GetParticipant, RemoveParticipant, MoveParticipant,
//! MutePublishedTrack, UpdateParticipant.

use super::{auth, mapping, TwirpError};
use crate::http::AppState;
use crate::service::{ServiceReply, ServiceRequest};
use gavel_core::permissions::SourceSet;
use gavel_core::{Claims, Command, Error, PermissionsPatch, Reply, Source};
use livekit_protocol as lk;

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
