//! Our participant and track state as LiveKit's `ParticipantInfo` / `TrackInfo`, in protobuf
//! and protojson.

use super::codec::{int64, JsonOut};
use gavel_core::{ParticipantInfo, Source, TrackInfo};
use livekit_protocol as lk;
use serde_json::{json, Map, Value};

pub fn source(s: Source) -> lk::TrackSource {
    match s {
        Source::Microphone => lk::TrackSource::Microphone,
        Source::Camera => lk::TrackSource::Camera,
        Source::ScreenVideo => lk::TrackSource::ScreenShare,
        Source::ScreenAudio => lk::TrackSource::ScreenShareAudio,
    }
}

fn track_type(s: Source) -> lk::TrackType {
    match s {
        Source::Microphone | Source::ScreenAudio => lk::TrackType::Audio,
        Source::Camera | Source::ScreenVideo => lk::TrackType::Video,
    }
}

pub fn track(t: &TrackInfo) -> lk::TrackInfo {
    lk::TrackInfo {
        sid: t.sid.clone(),
        r#type: track_type(t.source) as i32,
        name: t.name.clone(),
        muted: t.muted,
        source: source(t.source) as i32,
        ..Default::default()
    }
}

pub fn permission(p: &gavel_core::Permissions) -> lk::ParticipantPermission {
    lk::ParticipantPermission {
        can_subscribe: !p.can_receive.is_empty(),
        can_publish: !p.can_send.is_empty(),
        can_publish_data: p.can_publish_data,
        can_publish_sources: p.can_send.iter().map(|s| source(*s) as i32).collect(),
        hidden: p.hidden,
        can_update_metadata: p.can_update_own_metadata,
        ..Default::default()
    }
}

pub fn participant(p: &ParticipantInfo) -> lk::ParticipantInfo {
    lk::ParticipantInfo {
        sid: p.sid.clone(),
        identity: p.identity.clone(),
        state: lk::participant_info::State::Active as i32,
        tracks: p.tracks.iter().map(track).collect(),
        metadata: p.metadata.clone(),
        joined_at: (p.joined_at / 1000) as i64,
        joined_at_ms: p.joined_at as i64,
        name: p.name.clone(),
        permission: Some(permission(&p.permissions)),
        is_publisher: !p.tracks.is_empty(),
        attributes: p
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Default::default()
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn source_name(v: i32) -> &'static str {
    lk::TrackSource::try_from(v)
        .unwrap_or(lk::TrackSource::Unknown)
        .as_str_name()
}

impl JsonOut for lk::TrackInfo {
    fn to_json(&self) -> Map<String, Value> {
        obj(json!({
            "sid": self.sid,
            "type": lk::TrackType::try_from(self.r#type).unwrap_or(lk::TrackType::Audio).as_str_name(),
            "name": self.name,
            "muted": self.muted,
            "source": source_name(self.source),
        }))
    }
}

impl JsonOut for lk::ParticipantPermission {
    fn to_json(&self) -> Map<String, Value> {
        let sources: Vec<&str> = self
            .can_publish_sources
            .iter()
            .map(|s| source_name(*s))
            .collect();
        obj(json!({
            "can_subscribe": self.can_subscribe,
            "can_publish": self.can_publish,
            "can_publish_data": self.can_publish_data,
            "can_publish_sources": sources,
            "hidden": self.hidden,
            "can_update_metadata": self.can_update_metadata,
        }))
    }
}

impl JsonOut for lk::ParticipantInfo {
    fn to_json(&self) -> Map<String, Value> {
        let tracks: Vec<Value> = self
            .tracks
            .iter()
            .map(|t| Value::Object(t.to_json()))
            .collect();
        let state = lk::participant_info::State::try_from(self.state)
            .unwrap_or(lk::participant_info::State::Joining)
            .as_str_name();
        obj(json!({
            "sid": self.sid,
            "identity": self.identity,
            "state": state,
            "tracks": tracks,
            "metadata": self.metadata,
            "joined_at": int64(self.joined_at),
            "joined_at_ms": int64(self.joined_at_ms),
            "name": self.name,
            "permission": self.permission.as_ref().map(|p| Value::Object(p.to_json())),
            "is_publisher": self.is_publisher,
            "attributes": self.attributes,
        }))
    }
}
