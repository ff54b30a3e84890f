//! Participant methods: ListParticipants, GetParticipant.

use super::codec::{string, JsonIn, JsonOut};
use super::{auth, mapping, TwirpError};
use crate::http::AppState;
use gavel_core::{Claims, Error};
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
            ..Default::default()
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
