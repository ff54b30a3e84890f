//! The room's events as LiveKit's `SignalResponse`s, for one LiveKit client.
//!
//! LiveKit's clients hold each participant as a whole `ParticipantInfo` and expect the whole
//! thing again on every change, with a `version` that grows (the JavaScript SDK ignores an
//! update whose version does not). Gavel's events describe changes (a track muted, a participant
//! updated), so each connection keeps the participants it was told about and sends the changed
//! one whole. Events with no LiveKit message (counts, consent requests, pins) are not sent yet;
//! `docs/compat-livekit.md` lists them.

use crate::twirp::mapping;
use gavel_core::event::UnpublishReason;
use gavel_core::{Event, LeaveReason, ParticipantInfo, RequestOutcome, Source};
use livekit_protocol as lk;
use lk::signal_response::Message;
use std::collections::HashMap;

/// LiveKit's defaults: a ping every 5 s, the connection given up after 15 s of silence.
pub const PING_INTERVAL_SECONDS: i32 = 5;
pub const PING_TIMEOUT_SECONDS: i32 = 15;
/// The LiveKit server version Gavel answers as in `JoinResponse.server_info.version`. LiveKit's
/// SDKs read it to decide what the server supports: from 1.8.0 they use RPC; above 1.13.6
/// they would publish VP9/AV1 as simulcast layers, which Gavel's media plane does not route.
/// Gavel's own version is in `debug_info`.
pub const LIVEKIT_VERSION: &str = "1.8.0";

/// The participants one client knows, as the room last described them, and the version each
/// was last sent with. Serializable: a broken session keeps it for its resume (`parked.rs`).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Translator {
    participants: HashMap<String, ParticipantInfo>,
    by_identity: HashMap<String, String>,
    versions: HashMap<String, u32>,
    me: String,
    /// The next snapshot follows a resume: it is told as changes, not as a join.
    #[serde(skip)]
    resyncing: bool,
}

impl Translator {
    /// The session resumed: the room's next snapshot is told as what changed since this
    /// client last heard (LiveKit's clients acknowledge no message, so it is the state, not
    /// the missed messages, that a resume re-sends, as LiveKit's own server does).
    pub fn resync(&mut self) {
        self.resyncing = true;
    }

    /// What `event` means to this client, in order (often nothing).
    pub fn translate(&mut self, event: Event) -> Vec<Message> {
        match event {
            Event::Joined {
                room,
                me,
                participants,
                active_speakers,
                ..
            } if std::mem::take(&mut self.resyncing) => {
                self.resynced(&room.name, me, participants, &active_speakers)
            }
            Event::Joined {
                room,
                me,
                participants,
                ..
            } => {
                let moved = !self.me.is_empty();
                self.me = me.sid.clone();
                // A second snapshot: the participant was moved to another room. Everyone it
                // knew is forgotten (versions stay: a participant seen again keeps growing).
                self.participants.clear();
                self.by_identity.clear();
                let others: Vec<lk::ParticipantInfo> =
                    participants.into_iter().map(|p| self.remember(p)).collect();
                let me = self.remember(me);
                if moved {
                    // LiveKit's message for it; the session adds a token for the new room.
                    return vec![Message::RoomMoved(lk::RoomMovedResponse {
                        room: Some(lk_room(&room.name)),
                        participant: Some(me),
                        other_participants: others,
                        ..Default::default()
                    })];
                }
                vec![Message::Join(lk::JoinResponse {
                    room: Some(lk_room(&room.name)),
                    participant: Some(me),
                    other_participants: others,
                    server_version: LIVEKIT_VERSION.into(),
                    server_info: Some(server_info()),
                    // The server offers the connection the client receives on first; the
                    // client offers its publisher connection when it publishes.
                    subscriber_primary: true,
                    ping_interval: PING_INTERVAL_SECONDS,
                    ping_timeout: PING_TIMEOUT_SECONDS,
                    ..Default::default()
                })]
            }
            Event::ParticipantJoined { participant } => {
                vec![update(vec![self.remember(participant)])]
            }
            Event::ParticipantUpdated { participant, .. } => {
                vec![update(vec![self.remember(participant)])]
            }
            Event::ParticipantLeft { sid, reason, .. } => {
                let Some(p) = self.participants.remove(&sid) else {
                    return Vec::new();
                };
                self.by_identity.remove(&p.identity);
                let mut info = mapping::participant(&p);
                info.state = lk::participant_info::State::Disconnected as i32;
                info.disconnect_reason = disconnect_reason(reason) as i32;
                info.version = self.bump(&sid);
                self.versions.remove(&sid);
                vec![update(vec![info])]
            }
            Event::TrackPublished { identity, track } => self.change(&identity, |p| {
                p.tracks.retain(|t| t.sid != track.sid);
                p.tracks.push(track);
            }),
            Event::TrackUnpublished {
                identity,
                track_sid,
                reason,
                ..
            } => {
                let mine = self.is_me(&identity);
                let sid = track_sid.clone();
                let mut out = self.change(&identity, |p| p.tracks.retain(|t| t.sid != sid));
                // The server took this client's own track away (its source was revoked): its
                // SDK unpublishes it locally on this message.
                if mine && reason == UnpublishReason::Permission {
                    out.push(Message::TrackUnpublished(lk::TrackUnpublishedResponse {
                        track_sid,
                    }));
                }
                out
            }
            Event::TrackMuted {
                identity: Some(identity),
                track_sid: Some(track_sid),
                muted,
                by,
                ..
            } => {
                let sid = track_sid.clone();
                let mut out = self.change(&identity, |p| {
                    for t in p.tracks.iter_mut().filter(|t| t.sid == sid) {
                        t.muted = muted;
                    }
                });
                // A host muted (or, by the room's policy, unmuted) this client's own track:
                // its SDK follows LiveKit's server mute.
                if by.is_some() && self.is_me(&identity) {
                    out.push(Message::Mute(lk::MuteTrackRequest {
                        sid: track_sid,
                        muted,
                    }));
                }
                out
            }
            Event::TrackMuted {
                source,
                muted,
                all: true,
                except,
                ..
            } => {
                let mine: Vec<String> = self
                    .participants
                    .get(&self.me)
                    .filter(|p| !except.contains(&p.identity))
                    .map(|p| {
                        p.tracks
                            .iter()
                            .filter(|t| t.source == source && t.muted != muted)
                            .map(|t| t.sid.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut out = self.mute_all(source, muted, &except);
                out.extend(
                    mine.into_iter()
                        .map(|sid| Message::Mute(lk::MuteTrackRequest { sid, muted })),
                );
                out
            }
            Event::PermissionsChanged {
                role, permissions, ..
            } => {
                let me = self.me.clone();
                match self.participants.get_mut(&me) {
                    Some(p) => {
                        p.role = role;
                        p.permissions = permissions;
                        let p = p.clone();
                        vec![update(vec![self.remember(p)])]
                    }
                    None => Vec::new(),
                }
            }
            Event::ActiveSpeakers { speakers } => {
                let speakers = speakers
                    .iter()
                    .filter_map(|s| {
                        Some(lk::SpeakerInfo {
                            sid: self.by_identity.get(&s.identity)?.clone(),
                            level: s.level,
                            active: true,
                        })
                    })
                    .collect();
                vec![Message::SpeakersChanged(lk::SpeakersChanged { speakers })]
            }
            Event::RequestResolved {
                identity,
                source,
                outcome: RequestOutcome::Accepted,
                ..
            } if self.is_me(&identity) => {
                // This client consented to unmute (on the command topic): the server unmuted
                // its track, and its SDK unmutes the local one on this message.
                let me = self.me.clone();
                self.participants
                    .get(&me)
                    .map(|p| {
                        p.tracks
                            .iter()
                            .filter(|t| t.source == source && !t.muted)
                            .map(|t| {
                                Message::Mute(lk::MuteTrackRequest {
                                    sid: t.sid.clone(),
                                    muted: false,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Event::ConnectionQuality { updates } => {
                let updates: Vec<lk::ConnectionQualityInfo> = updates
                    .iter()
                    .filter_map(|u| {
                        let (quality, score) = connection_quality(u.quality);
                        Some(lk::ConnectionQualityInfo {
                            participant_sid: self.by_identity.get(&u.identity)?.clone(),
                            quality: quality as i32,
                            score,
                        })
                    })
                    .collect();
                match updates.is_empty() {
                    true => Vec::new(),
                    false => vec![Message::ConnectionQuality(lk::ConnectionQualityUpdate {
                        updates,
                    })],
                }
            }
            Event::RoomUpdated { room, .. } => vec![Message::RoomUpdate(lk::RoomUpdate {
                room: Some(lk_room(&room.name)),
            })],
            Event::MediaOffer { sdp } => vec![Message::Offer(lk::SessionDescription {
                r#type: "offer".into(),
                sdp,
                ..Default::default()
            })],
            Event::RoomLeft { reason, .. } => vec![leave(reason)],
            _ => Vec::new(),
        }
    }

    /// A resumed client's catch-up from the room's snapshot: its own tracks' mutes that changed
    /// (as the server mutes its SDK follows; without them its SDK would put its own state back),
    /// every participant whole with a newer version, those gone as disconnected, the room, and
    /// the active speakers.
    fn resynced(
        &mut self,
        room: &str,
        me: ParticipantInfo,
        participants: Vec<ParticipantInfo>,
        speakers: &[gavel_core::event::Speaker],
    ) -> Vec<Message> {
        let mut out = Vec::new();
        if let Some(before) = self.participants.get(&self.me) {
            for t in &me.tracks {
                if before
                    .tracks
                    .iter()
                    .any(|b| b.sid == t.sid && b.muted != t.muted)
                {
                    out.push(Message::Mute(lk::MuteTrackRequest {
                        sid: t.sid.clone(),
                        muted: t.muted,
                    }));
                }
            }
        }
        self.me = me.sid.clone();
        let present: std::collections::HashSet<&str> = participants
            .iter()
            .map(|p| p.sid.as_str())
            .chain([me.sid.as_str()])
            .collect();
        let gone: Vec<ParticipantInfo> = self
            .participants
            .values()
            .filter(|p| !present.contains(p.sid.as_str()))
            .cloned()
            .collect();
        let mut infos = Vec::new();
        for p in gone {
            self.participants.remove(&p.sid);
            self.by_identity.remove(&p.identity);
            let mut info = mapping::participant(&p);
            info.state = lk::participant_info::State::Disconnected as i32;
            info.version = self.bump(&p.sid);
            self.versions.remove(&p.sid);
            infos.push(info);
        }
        for p in participants.into_iter().chain([me]) {
            infos.push(self.remember(p));
        }
        out.push(update(infos));
        out.push(Message::RoomUpdate(lk::RoomUpdate {
            room: Some(lk_room(room)),
        }));
        out.extend(self.translate(Event::ActiveSpeakers {
            speakers: speakers.to_vec(),
        }));
        out
    }

    fn is_me(&self, identity: &str) -> bool {
        self.by_identity.get(identity) == Some(&self.me)
    }

    /// Whose track `track_sid` is, and its source, as far as this client was told.
    pub fn track_owner(&self, track_sid: &str) -> Option<(String, Source)> {
        self.participants.values().find_map(|p| {
            p.tracks
                .iter()
                .find(|t| t.sid == track_sid)
                .map(|t| (p.identity.clone(), t.source))
        })
    }

    /// Stores `p` and returns it as LiveKit's, with the next version.
    fn remember(&mut self, p: ParticipantInfo) -> lk::ParticipantInfo {
        let mut info = mapping::participant(&p);
        info.version = self.bump(&p.sid);
        self.by_identity.insert(p.identity.clone(), p.sid.clone());
        self.participants.insert(p.sid.clone(), p);
        info
    }

    fn bump(&mut self, sid: &str) -> u32 {
        let v = self.versions.entry(sid.to_string()).or_insert(0);
        *v += 1;
        *v
    }

    /// Applies `f` to the participant `identity` and sends it whole.
    fn change(&mut self, identity: &str, f: impl FnOnce(&mut ParticipantInfo)) -> Vec<Message> {
        let Some(sid) = self.by_identity.get(identity).cloned() else {
            return Vec::new();
        };
        let Some(mut p) = self.participants.remove(&sid) else {
            return Vec::new();
        };
        f(&mut p);
        vec![update(vec![self.remember(p)])]
    }

    /// Mute-all: every participant with a track of `source` not in `except` changes.
    fn mute_all(&mut self, source: Source, muted: bool, except: &[String]) -> Vec<Message> {
        let sids: Vec<String> = self
            .participants
            .values()
            .filter(|p| !except.contains(&p.identity))
            .filter(|p| {
                p.tracks
                    .iter()
                    .any(|t| t.source == source && t.muted != muted)
            })
            .map(|p| p.sid.clone())
            .collect();
        let mut changed = Vec::new();
        for sid in sids {
            let mut p = self.participants.remove(&sid).expect("listed above");
            for t in p.tracks.iter_mut().filter(|t| t.source == source) {
                t.muted = muted;
            }
            changed.push(self.remember(p));
        }
        match changed.is_empty() {
            true => Vec::new(),
            false => vec![update(changed)],
        }
    }
}

/// What the server says of itself, in a `JoinResponse` and a `ReconnectResponse`.
pub fn server_info() -> lk::ServerInfo {
    lk::ServerInfo {
        edition: lk::server_info::Edition::Standard as i32,
        version: LIVEKIT_VERSION.into(),
        protocol: 16,
        node_id: "gavel".into(),
        debug_info: concat!("Gavel ", env!("CARGO_PKG_VERSION")).into(),
        ..Default::default()
    }
}

fn update(participants: Vec<lk::ParticipantInfo>) -> Message {
    Message::Update(lk::ParticipantUpdate { participants })
}

fn lk_room(name: &str) -> lk::Room {
    lk::Room {
        sid: format!("RM_{name}"),
        name: name.into(),
        ..Default::default()
    }
}

/// LiveKit's level for Gavel's, and a score on LiveKit's scale (a mean opinion score, 1–5).
fn connection_quality(q: gavel_core::ConnectionQuality) -> (lk::ConnectionQuality, f32) {
    use gavel_core::ConnectionQuality as Q;
    match q {
        Q::Excellent => (lk::ConnectionQuality::Excellent, 4.5),
        Q::Good => (lk::ConnectionQuality::Good, 3.5),
        Q::Poor => (lk::ConnectionQuality::Poor, 2.0),
        Q::Lost => (lk::ConnectionQuality::Lost, 1.0),
    }
}

/// The `Leave` that ends a session, with LiveKit's reason for Gavel's.
pub fn leave(reason: LeaveReason) -> Message {
    Message::Leave(lk::LeaveRequest {
        reason: disconnect_reason(reason) as i32,
        action: lk::leave_request::Action::Disconnect as i32,
        ..Default::default()
    })
}

pub fn disconnect_reason(reason: LeaveReason) -> lk::DisconnectReason {
    use lk::DisconnectReason as D;
    match reason {
        LeaveReason::Left | LeaveReason::Disconnected => D::ClientInitiated,
        LeaveReason::Kicked | LeaveReason::Hidden | LeaveReason::Moved => D::ParticipantRemoved,
        LeaveReason::Ended | LeaveReason::HostLeft => D::RoomClosed,
        LeaveReason::RoomDeleted => D::RoomDeleted,
        LeaveReason::Replaced => D::DuplicateIdentity,
        LeaveReason::ServerShutdown => D::ServerShutdown,
        LeaveReason::SlowConsumer => D::SignalClose,
        LeaveReason::MoveFailed => D::StateMismatch,
        LeaveReason::Denied => D::UserRejected,
        LeaveReason::WaitingTimeout => D::ConnectionTimeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::event::RoomInfo;
    use gavel_core::{Permissions, TrackInfo};

    fn person(sid: &str, identity: &str) -> ParticipantInfo {
        ParticipantInfo {
            sid: sid.into(),
            identity: identity.into(),
            name: String::new(),
            metadata: String::new(),
            attributes: Default::default(),
            role: "participant".into(),
            permissions: Permissions::default(),
            tracks: Vec::new(),
            joined_at: 0,
            speaking_time_ms: 0,
        }
    }

    #[test]
    fn versions_grow_and_a_departure_is_a_disconnected_update() {
        let mut t = Translator::default();
        let joined = Event::Joined {
            room: RoomInfo {
                name: "r".into(),
                settings: Default::default(),
                host_left_at: None,
            },
            me: person("PA_me", "me"),
            participants: vec![person("PA_ann", "ann")],
            counts: Default::default(),
            pinned: None,
            active_speakers: Vec::new(),
            hands: Vec::new(),
            stage: Vec::new(),
            waiters: Vec::new(),
        };
        let out = t.translate(joined);
        let Message::Join(j) = &out[0] else { panic!() };
        assert!(j.subscriber_primary);
        assert!(j.ping_interval > 0 && j.ping_timeout > 0);
        assert_eq!(j.room.as_ref().unwrap().sid, "RM_r");
        assert_eq!(j.other_participants[0].version, 1);
        let track = TrackInfo {
            sid: "TR_1".into(),
            source: Source::Microphone,
            muted: false,
            muted_by: None,
            name: String::new(),
            media: true,
        };
        let out = t.translate(Event::TrackPublished {
            identity: "ann".into(),
            track,
        });
        let Message::Update(u) = &out[0] else {
            panic!()
        };
        assert_eq!(u.participants[0].version, 2);
        assert_eq!(u.participants[0].tracks.len(), 1);
        let out = t.translate(Event::ParticipantLeft {
            identity: "ann".into(),
            sid: "PA_ann".into(),
            reason: LeaveReason::Kicked,
            by: None,
        });
        let Message::Update(u) = &out[0] else {
            panic!()
        };
        assert_eq!(u.participants[0].version, 3);
        assert_eq!(
            u.participants[0].state,
            lk::participant_info::State::Disconnected as i32
        );
        assert_eq!(
            u.participants[0].disconnect_reason,
            lk::DisconnectReason::ParticipantRemoved as i32
        );
    }

    /// A resumed client is told its own track's mute that a host made while it was away (its
    /// SDK would otherwise put its own state back), before the participants.
    #[test]
    fn a_resync_tells_a_mute_made_while_away_first() {
        let mut t = Translator::default();
        let room = RoomInfo {
            name: "r".into(),
            settings: Default::default(),
            host_left_at: None,
        };
        let mic = |muted| TrackInfo {
            sid: "TR_mic".into(),
            source: Source::Microphone,
            muted,
            muted_by: None,
            name: String::new(),
            media: true,
        };
        let mut me = person("PA_me", "me");
        me.tracks.push(mic(false));
        let joined = |me: ParticipantInfo| Event::Joined {
            room: room.clone(),
            me,
            participants: Vec::new(),
            counts: Default::default(),
            pinned: None,
            active_speakers: Vec::new(),
            hands: Vec::new(),
            stage: Vec::new(),
            waiters: Vec::new(),
        };
        t.translate(joined(me.clone()));
        me.tracks[0].muted = true;
        t.resync();
        let out = t.translate(joined(me));
        let Message::Mute(m) = &out[0] else {
            panic!("{out:?}")
        };
        assert!(m.muted && m.sid == "TR_mic");
        let Message::Update(u) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(u.participants[0].version, 2);
        assert!(matches!(out[2], Message::RoomUpdate(_)));
    }
}
