//! One participant's media session: its str0m `Rtc`, the tracks it publishes and the slots
//! it receives on.

use crate::offer::Kind;
use crate::rewrite::SlotStream;
use std::net::SocketAddr;
use std::time::Instant;
use str0m::change::SdpPendingOffer;
use str0m::channel::ChannelId;
use str0m::media::{Mid, Rid};
use str0m::net::Protocol;
use str0m::Rtc;

/// A track the client sends on one of its m-lines.
#[derive(Debug)]
pub(crate) struct Published {
    pub kind: Kind,
    /// The room's track sid, once the room published it (packets before that are dropped).
    pub track_sid: Option<String>,
    /// Simulcast layers the client sends, as it named them (empty: no simulcast).
    pub rids: Vec<Rid>,
    pub last_keyframe_request: Option<Instant>,
    /// Bitrate limit: bytes seen in the current one-second window.
    pub window_start: Option<Instant>,
    pub window_bytes: u64,
    /// Video: each simulcast layer's measured rate, for receivers' bandwidth decisions.
    pub layer_rates: Vec<LayerRate>,
}

/// One layer's rate over one-second windows.
#[derive(Debug)]
pub(crate) struct LayerRate {
    rid: Option<Rid>,
    window_start: Instant,
    window_bytes: u64,
    /// Bits/s over the last complete window.
    bps: u64,
}

impl Published {
    /// Counts a frame of layer `rid`.
    pub(crate) fn measure_layer(&mut self, now: Instant, rid: Option<Rid>, bytes: usize) {
        let i = match self.layer_rates.iter().position(|r| r.rid == rid) {
            Some(i) => i,
            None => {
                self.layer_rates.push(LayerRate {
                    rid,
                    window_start: now,
                    window_bytes: 0,
                    bps: 0,
                });
                self.layer_rates.len() - 1
            }
        };
        let r = &mut self.layer_rates[i];
        let elapsed = now.saturating_duration_since(r.window_start);
        if elapsed >= std::time::Duration::from_secs(1) {
            r.bps = r.window_bytes * 8 * 1000 / (elapsed.as_millis() as u64).max(1);
            r.window_start = now;
            r.window_bytes = 0;
        }
        r.window_bytes += bytes as u64;
    }

    /// The measured rate of layer `rid` (bits/s; 0 before a full window).
    pub(crate) fn layer_rate(&self, rid: Option<Rid>) -> u64 {
        self.layer_rates
            .iter()
            .find(|r| r.rid == rid)
            .map_or(0, |r| r.bps)
    }
}

/// An m-line the client receives on; the engine decides which track it carries.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub mid: Mid,
    pub kind: Kind,
    pub track: Option<String>,
    /// The simulcast layer chosen for this receiver (`None`: the track has no layers).
    pub rid: Option<Rid>,
    /// A line the server offered names one track in its msid: it carries that track or
    /// nothing. `None` for the slots a client offers, which carry any track.
    pub named: Option<String>,
    /// The slot's outgoing numbering, continuous across what it carries.
    pub out: SlotStream,
    /// A line the server offered whose track is muted: it keeps the track (nothing reaches
    /// it while muted) and resumes, with a keyframe, on unmute.
    pub held: bool,
}

/// A session the server offers to (LiveKit's subscriber connection): the engine adds a
/// send-only m-line for each track it forwards there, named after the track, and negotiates
/// each change itself, one offer at a time.
#[derive(Default)]
pub(crate) struct Offering {
    /// The offer sent and not answered yet.
    pub pending: Option<SdpPendingOffer>,
    /// The m-lines that offer adds, and whether it opens the data channels (both undone if
    /// its answer is refused, to be offered again).
    pub in_flight: Vec<Mid>,
    pub channels_in_flight: bool,
    /// Allowed tracks without an m-line yet: (track sid, kind, publisher, layer).
    pub wanted: Vec<(String, Kind, String, Option<Rid>)>,
    /// m-lines whose track went away: inactive in the next offer.
    pub retired: Vec<Mid>,
    /// Inactive lines, by the track they named. A track that returns before its client saw
    /// the line go inactive takes it back; later, it gets a new line with a new msid (a
    /// second line with the same msid is refused by WebRTC stacks, and LiveKit's Rust SDK
    /// ignores a line that comes back unchanged), until `MAX_OFFERED_LINES`.
    pub dormant: Vec<Slot>,
    /// Dormant lines whose track came back: send-only again in the next offer.
    pub revived: Vec<Mid>,
    /// The data channels are added with the first offer.
    pub opened: bool,
    /// The next offer restarts ICE (its client resumed after a network blip).
    pub restart_ice: bool,
    /// The offer out restarts ICE: made again if its answer is refused.
    pub restart_in_flight: bool,
    /// m-lines added for tracks so far (they stay in the session for good).
    pub lines_added: usize,
    /// Tracks that have had a line, and how many lines after their first.
    pub lines_per_track: std::collections::HashMap<String, u32>,
}

/// Everything the engine holds for one session. Moves between engines whole (a participant
/// moved to another room keeps its connection).
pub struct Session {
    pub(crate) rtc: Rtc,
    /// The room session it belongs to, which the room's rules name. A native client's media
    /// session is keyed by that same id; a LiveKit client's two connections are two sessions
    /// of one participant.
    pub(crate) participant: String,
    /// `Some` when the server offers to this session's client instead of answering its offers.
    pub(crate) offering: Option<Box<Offering>>,
    /// Open data channels by label.
    pub(crate) channels: Vec<(String, ChannelId)>,
    pub(crate) ufrag: String,
    pub(crate) published: Vec<(Mid, Published)>,
    pub(crate) slots: Vec<Slot>,
    /// Remote addresses verified by STUN for this session.
    pub(crate) addrs: Vec<(Protocol, SocketAddr)>,
    pub(crate) connected: bool,
    pub(crate) next_timeout: Option<Instant>,
    /// Its downlink estimate could not carry the layers the rules want for it: it receives
    /// the low layer of every track until it tries them again.
    pub(crate) constrained: bool,
    /// When it last tried its wanted layers again, and how long it waits before the next try.
    pub(crate) retried_at: Option<Instant>,
    pub(crate) retry_backoff: std::time::Duration,
    /// In the engine's list of sessions to poll (so a receiver written to by many packets of
    /// one batch is polled, and its timers run, once).
    pub(crate) queued: bool,
    /// What the client was last told about its slots (to send changes only).
    pub(crate) announced: Vec<Option<String>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ufrag", &self.ufrag)
            .field("published", &self.published.len())
            .field("slots", &self.slots.len())
            .field("connected", &self.connected)
            .finish()
    }
}

impl Session {
    pub(crate) fn published(&self, mid: Mid) -> Option<&Published> {
        self.published
            .iter()
            .find(|(m, _)| *m == mid)
            .map(|(_, p)| p)
    }
    pub(crate) fn published_mut(&mut self, mid: Mid) -> Option<&mut Published> {
        self.published
            .iter_mut()
            .find(|(m, _)| *m == mid)
            .map(|(_, p)| p)
    }
    /// The mid that carries `track_sid`, if this session publishes it.
    pub(crate) fn mid_of(&self, track_sid: &str) -> Option<Mid> {
        self.published
            .iter()
            .find(|(_, p)| p.track_sid.as_deref() == Some(track_sid))
            .map(|(m, _)| *m)
    }
}
