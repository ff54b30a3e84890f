//! One participant's state in a room, and its wire view.

use crate::permissions::{Permissions, Source};
use crate::Millis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A published track, as the client reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub sid: String,
    pub source: Source,
    pub muted: bool,
    /// Who forced the mute (absent when the participant muted itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_by: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Carried by the participant's media session (its packets flow through the server).
    /// `false`: announced as state by a client without media (a bot, a server-side SDK).
    #[serde(default)]
    pub media: bool,
}

/// The wire view of a participant; also what the server API returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub sid: String,
    pub identity: String,
    pub name: String,
    pub metadata: String,
    pub attributes: BTreeMap<String, String>,
    pub role: String,
    pub permissions: Permissions,
    pub tracks: Vec<TrackInfo>,
    /// Milliseconds since the Unix epoch.
    pub joined_at: Millis,
    /// Accumulated time detected as an active speaker.
    pub speaking_time_ms: u64,
}

impl ParticipantInfo {
    pub fn track(&self, source: Source) -> Option<&TrackInfo> {
        self.tracks.iter().find(|t| t.source == source)
    }
}

/// Core-side participant record. Its `info` is exactly what clients see.
#[derive(Debug, Clone)]
pub struct Participant {
    pub info: ParticipantInfo,
    /// Announced to everyone individually (`participant_joined`, in snapshots). Only audience
    /// members who joined a room already holding `listed_limit` participants are not; they are
    /// counted, and listed once they may send, hold a host control or are pinned.
    pub listed: bool,
    /// When the token this session joined with was issued (ms): a move into another room is
    /// checked against that room's token revocations with it.
    pub issued_at: Option<Millis>,
    /// It has an open media session (see `room/forwarding.rs`).
    pub media_session: bool,
    /// Explicit subscriptions: publisher identity → source → subscribed.
    pub subscriptions: HashMap<String, BTreeMap<Source, bool>>,
    /// Simulcast layers asked for, by track sid.
    pub layers: BTreeMap<String, crate::media_rules::Layer>,
    /// Tracks announced before their media arrives (`reserve_track`), at most one per source:
    /// the next offer that sends that source publishes it with this sid, name and mute state.
    pub reserved: Vec<TrackInfo>,
    /// Its connection quality as last announced (`room/quality.rs`); none before a reading.
    pub quality: Option<crate::event::ConnectionQuality>,
}

impl Participant {
    pub fn sid(&self) -> &str {
        &self.info.sid
    }
    pub fn identity(&self) -> &str {
        &self.info.identity
    }
    pub fn hidden(&self) -> bool {
        self.info.permissions.hidden
    }
    /// Whether others are told about this participant: listed and not hidden.
    pub fn announced(&self) -> bool {
        self.listed && !self.hidden()
    }
    /// Audience: may send no media and holds no host control.
    pub fn is_audience(&self) -> bool {
        self.info.permissions.can_send.is_empty() && self.info.permissions.host.is_empty()
    }
    pub fn permissions(&self) -> &Permissions {
        &self.info.permissions
    }
    pub fn tracks_of(&self, source: Source) -> impl Iterator<Item = &TrackInfo> {
        self.info.tracks.iter().filter(move |t| t.source == source)
    }
    pub fn has_live_microphone(&self) -> bool {
        self.tracks_of(Source::Microphone).any(|t| !t.muted)
    }
}
