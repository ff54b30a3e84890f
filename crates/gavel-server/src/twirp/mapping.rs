//! Our participant and track state as LiveKit's `ParticipantInfo` / `TrackInfo`.

use gavel_core::{ParticipantInfo, Source, TrackInfo};
use livekit_protocol as lk;

pub fn source(s: Source) -> lk::TrackSource {
    match s {
        Source::Microphone => lk::TrackSource::Microphone,
        Source::Camera => lk::TrackSource::Camera,
        Source::ScreenVideo => lk::TrackSource::ScreenShare,
        Source::ScreenAudio => lk::TrackSource::ScreenShareAudio,
    }
}

pub fn track_type(s: Source) -> lk::TrackType {
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
