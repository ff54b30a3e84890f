//! What media may flow to whom: the room model's decision, handed to the media engine.
//!
//! The room is the one authority on forwarding. After every change that can affect it (a
//! track published, muted or unpublished, permissions, visibility, a subscription, the pinned
//! participant or the active speakers, someone joining or leaving) the shell asks the room for
//! its [`MediaRules`] and gives them to the media engine, which forwards a packet of track `T`
//! to session `R` only if [`MediaRules::allows`]`(T, R)`.
//!
//! The rules are factored, not a track × receiver matrix: one entry per open track and one per
//! receiver, so building them is O(participants + tracks) and a room-wide change (mute-all, a
//! pin) costs no O(N²) work.

use crate::permissions::{Source, SourceSet};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Which simulcast layer a receiver should get of a video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Low,
    Medium,
    High,
}

/// A track that may be forwarded to someone: published through a media session, not muted,
/// of a source its publisher may send, and the publisher is not hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRule {
    /// The publishing session.
    pub publisher: String,
    pub publisher_identity: String,
    pub source: Source,
    /// Camera tracks: whether the publisher is among the room's last-N (pinned, active speakers,
    /// then the earliest to join), who are received by default. Other sources are always
    /// received by default.
    pub in_last_n: bool,
    /// The layer receivers get by default: high for the pinned participant and the active
    /// speaker, low for the rest.
    pub layer: Layer,
}

/// What one receiving session may get.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverRule {
    pub can_receive: SourceSet,
    /// Explicit subscriptions by publisher identity, then source: `true` subscribes whatever
    /// the default, `false` unsubscribes.
    pub subscriptions: HashMap<String, BTreeMap<Source, bool>>,
    /// Layers the receiver asked for, by track sid.
    pub layers: BTreeMap<String, Layer>,
}

/// The forwarding decision for a whole room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaRules {
    /// Open tracks by track sid. A track missing here reaches nobody.
    pub tracks: HashMap<String, TrackRule>,
    /// Receivers by session id (participants with a media session). A session missing here
    /// receives nothing.
    pub receivers: HashMap<String, ReceiverRule>,
    /// Media tracks that are published but muted (so dropped packets are counted as muted).
    pub muted: HashSet<String>,
}

impl MediaRules {
    /// Whether a packet of `track_sid` may be forwarded to the session `receiver`.
    pub fn allows(&self, track_sid: &str, receiver: &str) -> bool {
        let (Some(track), Some(rx)) = (self.tracks.get(track_sid), self.receivers.get(receiver))
        else {
            return false;
        };
        if track.publisher == receiver || !rx.can_receive.contains(&track.source) {
            return false;
        }
        let explicit = rx
            .subscriptions
            .get(track.publisher_identity.as_str())
            .and_then(|by_source| by_source.get(&track.source));
        match explicit {
            Some(explicit) => *explicit,
            None => track.source != Source::Camera || track.in_last_n,
        }
    }

    /// The layer `receiver` should get of `track_sid` (meaningful for simulcast video only).
    pub fn layer(&self, track_sid: &str, receiver: &str) -> Layer {
        let asked = self
            .receivers
            .get(receiver)
            .and_then(|r| r.layers.get(track_sid).copied());
        asked.unwrap_or_else(|| {
            self.tracks
                .get(track_sid)
                .map(|t| t.layer)
                .unwrap_or(Layer::Low)
        })
    }
}
