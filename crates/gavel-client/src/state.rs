//! A client's view of the room, rebuilt from the `joined` snapshot and every event after it.

use gavel_core::event::{Speaker, WaiterInfo};
use gavel_core::{ConnectionQuality, Counts, Event, LeaveReason, ParticipantInfo, Source};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomState {
    pub room: String,
    /// The room's metadata (from `joined`, then `room_updated`).
    pub metadata: String,
    /// Whether the room is locked (from `joined`, then `room_updated`).
    pub locked: bool,
    /// The room lost its last host: when its `host_left` action happens (from `joined` and
    /// `host_left`; cleared by `host_returned`).
    pub host_left_at: Option<u64>,
    pub me: Option<ParticipantInfo>,
    /// Everyone else this client can see, by identity.
    pub participants: BTreeMap<String, ParticipantInfo>,
    pub counts: Counts,
    pub pinned: Option<String>,
    pub active_speakers: Vec<Speaker>,
    /// Daily-style single active speaker.
    pub active_speaker: Option<String>,
    /// Consent requests waiting for this client's answer: id → (source, from).
    pub requests: BTreeMap<String, (Source, String)>,
    /// Connection quality by identity (me and those I can see), from `connection_quality`.
    pub quality: BTreeMap<String, ConnectionQuality>,
    /// Set by `room_left`.
    pub left: Option<LeaveReason>,
    /// Raised hands this client may see, oldest first (`joined`, `hand_changed`; a participant
    /// who leaves takes its hand along).
    pub hands: Vec<String>,
    /// Who is on the stage (`joined`, `stage_changed`).
    pub stage: Vec<String>,
    /// Stage invitations waiting for this client's answer: id → from.
    pub stage_invites: BTreeMap<String, String>,
    /// This client waits in the waiting room (from `waiting`; cleared by `joined`).
    pub waiting: Option<WaiterInfo>,
    /// The waiting room, oldest first, when this client holds `admit` (`joined`,
    /// `waiter_added`, `waiters_removed`).
    pub waiters: Vec<WaiterInfo>,
    /// The breakout rooms open from this room (`joined`, `room_updated`).
    pub breakouts: Option<gavel_core::settings::Breakouts>,
    /// When everyone in the breakout rooms is brought back (`breakouts_closing`).
    pub breakouts_closing_at: Option<u64>,
    /// A host's messages to everyone in the breakout rooms, oldest first: (by, message).
    pub broadcasts: Vec<(Option<String>, String)>,
    /// Why the session ended, in words (`room_left`'s message: a host's reason for a denial).
    pub left_message: Option<String>,
}

impl RoomState {
    /// Me and everyone I can see.
    pub fn everyone(&self) -> impl Iterator<Item = &ParticipantInfo> {
        self.me.iter().chain(self.participants.values())
    }

    pub fn get(&self, identity: &str) -> Option<&ParticipantInfo> {
        match &self.me {
            Some(me) if me.identity == identity => Some(me),
            _ => self.participants.get(identity),
        }
    }

    fn get_mut(&mut self, identity: &str) -> Option<&mut ParticipantInfo> {
        match &mut self.me {
            Some(me) if me.identity == identity => Some(me),
            _ => self.participants.get_mut(identity),
        }
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Joined {
                room,
                me,
                participants,
                counts,
                pinned,
                active_speakers,
                hands,
                stage,
                waiters,
            } => {
                *self = RoomState {
                    room: room.name.clone(),
                    metadata: room.settings.metadata.clone(),
                    locked: room.settings.locked,
                    host_left_at: room.host_left_at,
                    me: Some(me.clone()),
                    participants: participants
                        .iter()
                        .map(|p| (p.identity.clone(), p.clone()))
                        .collect(),
                    counts: *counts,
                    pinned: pinned.clone(),
                    active_speakers: active_speakers.clone(),
                    active_speaker: active_speakers.first().map(|s| s.identity.clone()),
                    hands: hands.clone(),
                    stage: stage.clone(),
                    waiters: waiters.clone(),
                    breakouts: room.settings.breakouts.as_deref().cloned(),
                    ..Default::default()
                };
            }
            Event::BreakoutsOpened { .. } | Event::BreakoutsClosed => {
                self.breakouts_closing_at = None;
            }
            Event::BreakoutsClosing { at, .. } => self.breakouts_closing_at = Some(*at),
            Event::BreakoutBroadcast { message, by } => {
                self.broadcasts.push((by.clone(), message.clone()));
            }
            Event::Waiting { room, me } => {
                self.room = room.clone();
                self.waiting = Some(me.clone());
            }
            Event::WaiterAdded { waiter } => {
                self.waiters.retain(|w| w.identity != waiter.identity);
                self.waiters.push(waiter.clone());
            }
            Event::WaitersRemoved { identities, .. } => {
                self.waiters.retain(|w| !identities.contains(&w.identity));
            }
            Event::RoomUpdated { room, .. } => {
                self.metadata = room.settings.metadata.clone();
                self.locked = room.settings.locked;
                self.breakouts = room.settings.breakouts.as_deref().cloned();
            }
            Event::HostLeft { at, .. } => self.host_left_at = Some(*at),
            Event::HostReturned { .. } => self.host_left_at = None,
            Event::StageInvited {
                request_id, from, ..
            } => {
                self.stage_invites.insert(request_id.clone(), from.clone());
            }
            Event::StageInviteResolved { request_id, .. } => {
                self.stage_invites.remove(request_id);
            }
            Event::StageChanged {
                identity, on_stage, ..
            } => {
                self.stage.retain(|h| h != identity);
                if *on_stage {
                    self.stage.push(identity.clone());
                }
            }
            Event::HandChanged {
                identity, raised, ..
            } => {
                self.hands.retain(|h| h != identity);
                if *raised {
                    self.hands.push(identity.clone());
                }
            }
            // Data messages are for the application; they change no room state.
            Event::DataReceived { .. } => {}
            Event::ParticipantJoined { participant } => {
                self.participants
                    .insert(participant.identity.clone(), participant.clone());
            }
            Event::ParticipantLeft { identity, .. } => {
                self.participants.remove(identity);
                self.quality.remove(identity);
                self.hands.retain(|h| h != identity);
                self.stage.retain(|h| h != identity);
            }
            Event::ConnectionQuality { updates } => {
                for u in updates {
                    self.quality.insert(u.identity.clone(), u.quality);
                }
            }
            Event::ParticipantUpdated { participant, .. } => {
                if let Some(p) = self.get_mut(&participant.identity) {
                    *p = participant.clone();
                } else {
                    self.participants
                        .insert(participant.identity.clone(), participant.clone());
                }
            }
            Event::CountsUpdated {
                present,
                hidden,
                waiting,
            } => {
                self.counts = Counts {
                    present: *present,
                    hidden: *hidden,
                    waiting: *waiting,
                }
            }
            Event::TrackPublished { identity, track } => {
                if let Some(p) = self.get_mut(identity) {
                    p.tracks.push(track.clone());
                }
            }
            Event::TrackUnpublished {
                identity,
                track_sid,
                ..
            } => {
                if let Some(p) = self.get_mut(identity) {
                    p.tracks.retain(|t| &t.sid != track_sid);
                }
            }
            Event::TrackMuted {
                identity,
                track_sid,
                source,
                muted,
                by,
                all,
                except,
            } => {
                let apply = |p: &mut ParticipantInfo| {
                    for t in p.tracks.iter_mut().filter(|t| t.source == *source) {
                        if *all || track_sid.as_deref() == Some(&t.sid) {
                            t.muted = *muted;
                            t.muted_by = if *muted { by.clone() } else { None };
                        }
                    }
                };
                if *all {
                    let me = self.me.iter_mut();
                    for p in me.chain(self.participants.values_mut()) {
                        if !except.contains(&p.identity) {
                            apply(p);
                        }
                    }
                } else if let Some(p) = identity.as_deref().and_then(|i| self.get_mut(i)) {
                    apply(p);
                }
            }
            Event::MediaRequested {
                request_id,
                source,
                from,
                ..
            } => {
                self.requests
                    .insert(request_id.clone(), (*source, from.clone()));
            }
            Event::RequestResolved { request_id, .. } => {
                self.requests.remove(request_id);
            }
            Event::Pinned { identity, .. } => self.pinned = Some(identity.clone()),
            Event::Unpinned { identity, .. } => {
                if self.pinned.as_ref() == Some(identity) {
                    self.pinned = None;
                }
            }
            Event::PermissionsChanged {
                role, permissions, ..
            } => {
                if let Some(me) = &mut self.me {
                    me.role = role.clone();
                    me.permissions = permissions.clone();
                }
            }
            Event::ActiveSpeakers { speakers } => self.active_speakers = speakers.clone(),
            Event::ActiveSpeakerChanged { identity } => self.active_speaker = identity.clone(),
            // Which slot carries whose track concerns the media session, not the room's state.
            Event::Moved { .. }
            | Event::MediaSessionEnded { .. }
            | Event::MediaSlots { .. }
            | Event::MediaOffer { .. } => {}
            Event::RoomLeft {
                reason, message, ..
            } => {
                self.left = Some(*reason);
                self.left_message = message.clone();
            }
        }
    }
}
