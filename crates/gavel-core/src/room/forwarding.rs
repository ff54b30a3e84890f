//! Media sessions and forwarding rules: which tracks really carry media, who receives them.
//!
//! A participant may open one media session (WebRTC, carried out by the media engine). Tracks
//! it publishes through that session are bound to media (`TrackInfo::media`); a participant
//! with a media session cannot announce tracks as plain state, and its self-reported audio
//! levels are ignored: its levels come from the packets. Participants without a media session
//! (bots, server-side SDKs) announce tracks as state, marked `media: false`, and their
//! reported levels still drive the active-speaker list (they are the only source there is).
//!
//! [`Room::media_rules`] is the decision handed to the engine (see [`crate::media_rules`]).

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Event, UnpublishReason};
use crate::media_rules::{Layer, MediaRules, ReceiverRule, TrackRule};
use crate::participant::TrackInfo;
use crate::permissions::Source;
use crate::Millis;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many explicit subscriptions (publisher × source) per participant: a client
/// cannot grow the room's state without bound.
pub const MAX_SUBSCRIPTIONS: usize = 4096;

impl Room {
    /// Whether anything that decides forwarding changed since the last call. The shell rebuilds
    /// [`Room::media_rules`] only then.
    pub fn take_media_changed(&mut self) -> bool {
        std::mem::take(&mut self.media_changed)
    }

    /// Whether the rules changed since [`Room::take_media_changed`] (without clearing it).
    pub fn media_changed(&self) -> bool {
        self.media_changed
    }

    /// The session `sid` opened its media session (the engine accepted its first offer).
    pub fn media_session_opened(&mut self, sid: &str) -> Result<()> {
        let identity = self.identity_for_sid(sid)?;
        let p = self.participants.get_mut(&identity).expect("indexed");
        if p.media_session {
            return Ok(());
        }
        // Tracks announced as plain state before are not carried by the new session.
        let stateless: BTreeSet<Source> = p
            .info
            .tracks
            .iter()
            .filter(|t| !t.media)
            .map(|t| t.source)
            .collect();
        p.media_session = true;
        let to = self.about(&self.participants[&identity]);
        self.drop_tracks(&identity, &stateless, UnpublishReason::Unpublished, to);
        self.media_changed = true;
        Ok(())
    }

    /// The media session of `sid` closed (ICE failed, or the client closed it): its media
    /// tracks are unpublished, and its connection quality is lost. Unknown sessions are
    /// ignored.
    pub fn media_session_closed(&mut self, now: Millis, sid: &str) {
        let Ok(identity) = self.identity_for_sid(sid) else {
            return;
        };
        let p = self.participants.get_mut(&identity).expect("indexed");
        p.reserved.clear();
        if !std::mem::take(&mut p.media_session) {
            return;
        }
        let carried: BTreeSet<Source> = p
            .info
            .tracks
            .iter()
            .filter(|t| t.media)
            .map(|t| t.source)
            .collect();
        let had_quality = p.quality.is_some();
        let to = self.about(&self.participants[&identity]);
        self.drop_tracks(&identity, &carried, UnpublishReason::Unpublished, to);
        self.media_changed = true;
        if had_quality {
            self.set_quality(now, sid, crate::event::ConnectionQuality::Lost);
        }
    }

    /// Checks, changing nothing, that `sid` may publish `sources` through its media session
    /// (an offer is refused before the engine sees it otherwise). A source it already
    /// publishes through media is fine: a renegotiation offers it again.
    pub fn check_media_publish(&self, sid: &str, sources: &[Source]) -> Result<()> {
        let identity = self.identity_for_sid(sid)?;
        let p = &self.participants[&identity];
        let mut seen = BTreeSet::new();
        if let Some(twice) = sources.iter().find(|s| !seen.insert(**s)) {
            return Err(Error::invalid(format!(
                "the offer sends {} twice",
                twice.as_str()
            )));
        }
        for &source in sources {
            if !p.permissions().can_send.contains(&source) {
                return Err(Error::denied(format!(
                    "'{identity}' may not send {}",
                    source.as_str()
                )));
            }
        }
        Ok(())
    }

    /// Publishes a track carried by `sid`'s media session (after [`Room::check_media_publish`]
    /// and the engine accepted the offer). Returns the track, or the one already published for
    /// that source through media.
    pub fn publish_media_track(
        &mut self,
        sid: &str,
        source: Source,
        muted: bool,
    ) -> Result<TrackInfo> {
        self.check_media_publish(sid, &[source])?;
        let identity = self.identity_for_sid(sid)?;
        if let Some(existing) = self.participants[&identity]
            .tracks_of(source)
            .find(|t| t.media)
        {
            return Ok(existing.clone());
        }
        let ctx = ActorCtx {
            label: identity.clone(),
            sid: Some(sid.to_string()),
            permissions: Some(self.participants[&identity].permissions().clone()),
        };
        // A track reserved for this source (`reserve_track`) is published as announced.
        let p = self.participants.get_mut(&identity).expect("indexed");
        let reserved = p
            .reserved
            .iter()
            .position(|t| t.source == source)
            .map(|i| p.reserved.remove(i));
        let (muted, name, sid) = match reserved {
            Some(t) => (muted || t.muted, Some(t.name), Some(t.sid)),
            None => (muted, None, None),
        };
        match self.publish(&ctx, source, muted, name, true, sid)? {
            Reply::Track { track } => Ok(track),
            _ => unreachable!("publish replies with the track"),
        }
    }

    /// Tracks of `sid` carried by media that its latest offer no longer sends.
    pub fn unpublish_media_tracks_except(&mut self, sid: &str, keep: &[Source]) {
        let Ok(identity) = self.identity_for_sid(sid) else {
            return;
        };
        let gone: BTreeSet<Source> = self.participants[&identity]
            .info
            .tracks
            .iter()
            .filter(|t| t.media && !keep.contains(&t.source))
            .map(|t| t.source)
            .collect();
        if !gone.is_empty() {
            let to = self.about(&self.participants[&identity]);
            self.drop_tracks(&identity, &gone, UnpublishReason::Unpublished, to);
        }
    }

    /// An audio level measured on `sid`'s microphone packets (RFC 6464: 0 loudest, 127
    /// silence). Counts only while the microphone is published, unmuted and the participant
    /// visible: a muted microphone's packets are dropped before this, but a level must never
    /// make a muted participant "speak".
    pub fn media_level(&mut self, now: Millis, sid: &str, level: u8) {
        let Ok(identity) = self.identity_for_sid(sid) else {
            return;
        };
        let p = &self.participants[&identity];
        let live = p.tracks_of(Source::Microphone).any(|t| t.media && !t.muted);
        if live && p.announced() {
            self.speakers.observe(&identity, level.min(127), now);
        }
    }

    /// `UpdateSubscription`: the actor's own choice of what it receives from `identity`.
    /// `subscribed: None` returns those sources to the room's default.
    pub(super) fn update_subscription(
        &mut self,
        ctx: &ActorCtx,
        identity: &str,
        sources: &[Source],
        subscribed: Option<bool>,
    ) -> Result<Reply> {
        let me = self.own_identity(ctx)?.to_string();
        crate::ids::validate_identity(identity)?;
        if sources.is_empty() {
            return Err(Error::invalid("sources must name at least one source"));
        }
        let p = self.participants.get_mut(&me).expect("actor is present");
        let existing = p.subscriptions.get(identity).map_or(0, BTreeMap::len);
        let total: usize = p.subscriptions.values().map(BTreeMap::len).sum();
        if subscribed.is_some() && total - existing + sources.len() > MAX_SUBSCRIPTIONS {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("at most {MAX_SUBSCRIPTIONS} explicit subscriptions per participant"),
            ));
        }
        let entry = p.subscriptions.entry(identity.to_string()).or_default();
        for &source in sources {
            match subscribed {
                Some(on) => entry.insert(source, on),
                None => entry.remove(&source),
            };
        }
        if entry.is_empty() {
            p.subscriptions.remove(identity);
        }
        self.media_changed = true;
        Ok(Reply::done())
    }

    /// `UpdateTrackSettings`: the layer the actor wants of a track (kept for tracks that come
    /// and go; bounded like subscriptions).
    pub(super) fn update_track_settings(
        &mut self,
        ctx: &ActorCtx,
        track_sid: &str,
        layer: Option<Layer>,
    ) -> Result<Reply> {
        let me = self.own_identity(ctx)?.to_string();
        if track_sid.is_empty() || track_sid.len() > 64 {
            return Err(Error::invalid("track_sid must be 1 to 64 bytes"));
        }
        let p = self.participants.get_mut(&me).expect("actor is present");
        match layer {
            Some(layer) => {
                if !p.layers.contains_key(track_sid) && p.layers.len() >= MAX_SUBSCRIPTIONS {
                    return Err(Error::new(
                        ErrorCode::FailedPrecondition,
                        format!("at most {MAX_SUBSCRIPTIONS} track settings per participant"),
                    ));
                }
                p.layers.insert(track_sid.to_string(), layer);
            }
            None => {
                p.layers.remove(track_sid);
            }
        }
        self.media_changed = true;
        Ok(Reply::done())
    }

    /// The forwarding decision for the room as it is now (see [`crate::media_rules`]).
    /// O(participants + tracks), plus sorting the camera publishers for last-N.
    pub fn media_rules(&self) -> MediaRules {
        let mut rules = MediaRules::default();
        let last_n = self.last_n_cameras();
        let top_speaker = self.speakers.active().first().map(|s| s.identity.as_str());
        for p in self.participants.values() {
            if p.media_session {
                rules.receivers.insert(
                    p.sid().to_string(),
                    ReceiverRule {
                        can_receive: p.permissions().can_receive.clone(),
                        subscriptions: p
                            .subscriptions
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        layers: p.layers.clone(),
                    },
                );
            }
            if p.hidden() || !p.listed {
                continue;
            }
            let featured =
                self.pinned.as_deref() == Some(p.identity()) || top_speaker == Some(p.identity());
            for t in &p.info.tracks {
                if t.media && t.muted {
                    rules.muted.insert(t.sid.clone());
                }
                if !t.media || t.muted || !p.permissions().can_send.contains(&t.source) {
                    continue;
                }
                rules.tracks.insert(
                    t.sid.clone(),
                    TrackRule {
                        publisher: p.sid().to_string(),
                        publisher_identity: p.identity().to_string(),
                        source: t.source,
                        in_last_n: last_n.contains(p.identity()),
                        layer: if featured { Layer::High } else { Layer::Low },
                    },
                );
            }
        }
        rules
    }

    /// Identities whose cameras everyone receives by default: the pinned participant, then the
    /// active speakers, then the earliest to join, up to `video_last_n`.
    fn last_n_cameras(&self) -> BTreeSet<&str> {
        let n = self.settings.video_last_n as usize;
        let publishing = |p: &&super::Participant| {
            !p.hidden() && p.tracks_of(Source::Camera).any(|t| t.media && !t.muted)
        };
        let featured = self
            .pinned
            .iter()
            .map(String::as_str)
            .chain(self.speakers.active().iter().map(|s| s.identity.as_str()))
            .filter_map(|identity| self.participants.get(identity))
            .filter(publishing);
        let mut rest: Vec<&super::Participant> =
            self.participants.values().filter(publishing).collect();
        rest.sort_by(|a, b| {
            (a.info.joined_at, a.identity()).cmp(&(b.info.joined_at, b.identity()))
        });
        let mut chosen = BTreeSet::new();
        for p in featured.chain(rest) {
            if chosen.len() >= n {
                break;
            }
            chosen.insert(p.identity());
        }
        chosen
    }

    fn identity_for_sid(&self, sid: &str) -> Result<String> {
        self.by_sid
            .get(sid)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no session '{sid}' in this room")))
    }
}

/// Events that can change what is forwarded: the shell rebuilds the rules after them.
pub(super) fn affects_media(event: &Event) -> bool {
    // A join or a leave changes the rules only when that participant has a media session or
    // media tracks: `Room::admit` and `Room::remove` say so themselves. Recomputing them for
    // every join would make filling (or emptying) a 40,000-person room quadratic.
    !matches!(
        event,
        Event::Joined { .. }
            | Event::ParticipantJoined { .. }
            | Event::ParticipantLeft { .. }
            | Event::Moved { .. }
            | Event::MediaSessionEnded { .. }
            | Event::CountsUpdated { .. }
            | Event::MediaRequested { .. }
            | Event::RequestResolved { .. }
            | Event::RoomUpdated { .. }
            | Event::DataReceived { .. }
            | Event::ConnectionQuality { .. }
    )
}
