//! A webhook's body: LiveKit's `WebhookEvent` (protobuf JSON, as LiveKit's server sends it, so
//! LiveKit's `WebhookReceiver`s parse it), plus Gavel's own fields under `gavel`, which
//! LiveKit's parsers ignore (docs/webhooks.md lists them).
//!
//! Built by the room actor from the room's outputs (`notices`), once per event, whatever the
//! number of endpoints.

use super::config::Kind;
use crate::twirp::mapping;
use gavel_core::{LeaveReason, Millis, ParticipantInfo, TrackInfo};
use livekit_protocol as lk;
use serde_json::{json, Value};

/// One event on its way to the outbox.
#[derive(Debug, Clone)]
pub struct Notice {
    pub room: String,
    pub kind: Kind,
    /// Unique, the same for every endpoint and attempt (receivers deduplicate on it).
    pub event_id: String,
    pub created_at: Millis,
    pub body: String,
    /// For one endpoint only (a test event), whatever its filter.
    pub only: Option<String>,
}

/// What an event says beyond its kind and room.
#[derive(Default)]
pub struct Parts<'a> {
    pub participant: Option<&'a ParticipantInfo>,
    /// Why the participant left (participant_left only).
    pub left: Option<LeaveReason>,
    pub track: Option<lk::TrackInfo>,
    /// Gavel's own fields.
    pub gavel: Value,
}

/// A fresh event id: `EV_` and 22 random base-62 characters (like LiveKit's).
pub fn event_id() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    let mut s = String::from("EV_");
    let mut v = n;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for _ in 0..22 {
        s.push(ALPHABET[(v % 62) as usize] as char);
        v /= 62;
    }
    s
}

pub fn notice(room: &str, kind: Kind, now: Millis, parts: Parts) -> Notice {
    let id = event_id();
    let participant = parts.participant.map(|p| {
        let mut info = mapping::participant(p);
        if let Some(reason) = parts.left {
            info.state = lk::participant_info::State::Disconnected as i32;
            info.disconnect_reason =
                crate::livekit_rtc::translate::disconnect_reason(reason) as i32;
        }
        info
    });
    let event = lk::WebhookEvent {
        event: kind.as_str().to_string(),
        // A test event belongs to no room.
        room: (!room.is_empty()).then(|| lk::Room {
            sid: format!("RM_{room}"),
            name: room.to_string(),
            ..Default::default()
        }),
        participant,
        track: parts.track,
        id: id.clone(),
        created_at: (now / 1000) as i64,
        ..Default::default()
    };
    let mut body = serde_json::to_value(&event).unwrap_or_else(|_| json!({}));
    let mut gavel = match parts.gavel {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    gavel.insert("created_at_ms".into(), json!(now));
    body["gavel"] = Value::Object(gavel);
    Notice {
        room: room.to_string(),
        kind,
        event_id: id,
        created_at: now,
        body: body.to_string(),
        only: None,
    }
}

/// A track as LiveKit describes it, from what an event says of it.
pub fn track(t: &TrackInfo) -> lk::TrackInfo {
    mapping::track(t)
}

/// A track known by its sid and source only (unpublished, or muted by a room-wide mute).
pub fn track_ref(sid: &str, source: gavel_core::Source) -> lk::TrackInfo {
    lk::TrackInfo {
        sid: sid.to_string(),
        source: mapping::source(source) as i32,
        r#type: mapping::track_type(source) as i32,
        ..Default::default()
    }
}
