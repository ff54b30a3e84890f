//! Property tests of the room state machine: random sequences of joins, leaves, disconnects,
//! time advances and commands from random actors (every role, hidden ones included, and the
//! server) over two rooms, with moves between them. After every step:
//!
//! - at most one participant is pinned, and it is present and not hidden;
//! - no participant holds a track whose source is outside its `can_send`;
//! - no event about a hidden participant reaches any other session;
//! - a refused command emitted no event and changed no public state, and a refused target of a
//!   batch or multi-kick is unchanged;
//! - `counts()` matches the visible and hidden participants;
//! - every event goes to a session in the room at that point of the output stream;
//! - every session's view, rebuilt from the events it received alone, equals the room as that
//!   session may see it (its own record, the visible others, pin, counts, active speakers), and
//!   no event names a participant the session does not know.

use gavel_core::event::Speaker;
use gavel_core::permissions::{ContentResolution, HostControl, VideoResolution};
use gavel_core::roles::{HOST, OBSERVER, PARTICIPANT, VIEWER};
use gavel_core::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const ROOMS: [&str; 2] = ["alpha", "beta"];
const PEOPLE: [&str; 6] = ["ann", "bob", "cat", "dan", "eve", "fay"];
/// Command targets: the people, someone never seen, and the batch wildcard.
const TARGETS: [&str; 8] = ["ann", "bob", "cat", "dan", "eve", "fay", "nobody", "*"];
/// Built-ins plus a hidden publisher and a partial moderator.
const ROLES: [&str; 6] = [HOST, PARTICIPANT, VIEWER, OBSERVER, "ghost", "cohost"];

fn roles() -> Roles {
    let mut roles = Roles::default();
    let participant = roles.get(PARTICIPANT).unwrap().clone();
    roles.insert(
        "ghost",
        Permissions {
            hidden: true,
            ..participant.clone()
        },
    );
    roles.insert(
        "cohost",
        Permissions {
            host: [
                HostControl::MuteAudio,
                HostControl::Pin,
                HostControl::ManageParticipants,
            ]
            .into(),
            ..participant
        },
    );
    roles
}

// ----- generated steps -----

#[derive(Debug, Clone)]
enum Who {
    Server,
    Person(usize),
    /// The n-th present participant holding a host control (if any).
    Host(usize),

    /// A session that already left this room.
    Stale,
}

#[derive(Debug, Clone)]
enum Step {
    Join {
        room: usize,
        who: usize,
        role: usize,
        /// Whether to join again when already present (replace or conflict).
        rejoin: bool,
    },
    Disconnect {
        room: usize,
        who: usize,
    },
    Advance {
        ms: u64,
    },
    /// One 400 ms window of audio levels from one participant (which publishes a microphone
    /// first if it has none, as a client would).
    Speak {
        room: usize,
        who: usize,
        level: u8,
    },
    Command {
        room: usize,
        actor: Who,
        command: Box<Command>,
    },
    /// The target of the room's first pending consent request answers it.
    Answer {
        room: usize,
        accept: bool,
    },
}

fn source() -> impl Strategy<Value = Source> {
    prop::sample::select(Source::ALL.to_vec())
}

/// A fixed name, or `@N`: the room's N-th participant when the step runs.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(TARGETS.to_vec()).prop_map(str::to_string),
        (0usize..3).prop_map(|n| format!("@{n}")),
    ]
}

fn role_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(ROLES.to_vec()).prop_map(str::to_string),
        Just("emperor".to_string()),
    ]
}

fn short_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "x", "y", "Zoë"]).prop_map(str::to_string)
}

fn attributes() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["k1", "k2", "k3"]).prop_map(str::to_string),
        prop::sample::select(vec!["", "v1", "v2"]).prop_map(str::to_string),
        0..3,
    )
}

fn source_set() -> impl Strategy<Value = gavel_core::permissions::SourceSet> {
    prop::collection::btree_set(source(), 0..=4)
}

fn patch() -> impl Strategy<Value = PermissionsPatch> {
    (
        prop::option::of(source_set()),
        prop::option::of(source_set()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::weighted(0.4, any::<bool>()),
        prop::option::weighted(
            0.3,
            prop::collection::btree_set(prop::sample::select(HostControl::ALL.to_vec()), 0..4),
        ),
    )
        .prop_map(
            |(can_send, can_receive, can_publish_data, can_update_own_metadata, hidden, host)| {
                PermissionsPatch {
                    can_send,
                    can_receive,
                    can_publish_data,
                    can_update_own_metadata,
                    hidden,
                    host,
                }
            },
        )
}

fn capabilities() -> impl Strategy<Value = Capabilities> {
    let cap = || {
        prop::sample::select(vec![
            Capability::SendReceive,
            Capability::Send,
            Capability::Receive,
            Capability::None,
        ])
    };
    (cap(), cap(), cap()).prop_map(|(audio, video, content)| Capabilities {
        audio,
        video,
        content,
    })
}

fn ban() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![4 => Just(None), 1 => Just(Some(0)), 3 => (1u64..5).prop_map(Some)]
}

fn batch_entry() -> impl Strategy<Value = BatchEntry> {
    (
        prop::option::of(any::<bool>()),
        prop::option::weighted(0.3, any::<bool>()),
        prop::option::weighted(0.2, any::<bool>()),
        prop::bool::weighted(0.15),
        prop::option::weighted(0.15, 0u64..4),
        prop::option::weighted(0.15, patch()),
        prop::option::weighted(0.15, role_name()),
        prop::option::weighted(0.2, short_text()),
    )
        .prop_map(
            |(
                set_audio,
                set_video,
                set_screen,
                eject,
                ban_seconds,
                permissions,
                role,
                metadata,
            )| {
                BatchEntry {
                    set_audio,
                    set_video,
                    set_screen,
                    eject,
                    ban_seconds,
                    permissions,
                    role,
                    metadata,
                }
            },
        )
}

/// Track and request ids (and who is present) are not known when steps are generated: `#trackN` names the actor's
/// N-th track and `#reqN` the N-th pending request, those to the actor first (or nothing), when
/// the step runs.
fn track_ref() -> impl Strategy<Value = String> {
    (0usize..2).prop_map(|n| format!("#track{n}"))
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        // Self actions.
        8 => (source(), any::<bool>()).prop_map(|(source, muted)| Command::PublishTrack {
            source,
            muted,
            name: None
        }),
        2 => track_ref().prop_map(|track_sid| Command::UnpublishTrack { track_sid }),
        2 => (source(), any::<bool>()).prop_map(|(source, muted)| Command::ReserveTrack {
            source,
            muted,
            name: None
        }),
        4 => (track_ref(), any::<bool>())
            .prop_map(|(track_sid, muted)| Command::SetTrackMuted { track_sid, muted }),
        2 => (
            prop::option::of(short_text()),
            prop::option::of(short_text()),
            prop::option::of(attributes())
        )
            .prop_map(|(name, metadata, attributes)| Command::UpdateSelf {
                name,
                metadata,
                attributes
            }),
        2 => (0u8..=130).prop_map(|level| Command::AudioLevel { level }),
        4 => ((0usize..2), any::<bool>()).prop_map(|(n, accept)| Command::RespondRequest {
            request_id: format!("#req{n}"),
            accept
        }),
        1 => Just(Command::Leave),
        1 => Just(Command::Ping),
        3 => any::<bool>().prop_map(|raised| Command::RaiseHand { raised }),
        // Host controls.
        2 => target().prop_map(|identity| Command::LowerHand { identity }),
        2 => target().prop_map(|identity| Command::InviteToStage { identity }),
        2 => target().prop_map(|identity| Command::RemoveFromStage { identity }),
        1 => any::<bool>().prop_map(|locked| Command::LockRoom { locked }),
        // The waiting room (fixed names: waiters are not present, so `@n` never names one).
        3 => (prop::collection::vec(prop::sample::select(TARGETS.to_vec()), 0..3), prop::bool::weighted(0.3))
            .prop_map(|(ids, all)| Command::Admit {
                identities: ids.into_iter().map(str::to_string).collect(),
                all,
            }),
        2 => (prop::collection::vec(prop::sample::select(TARGETS.to_vec()), 0..3), prop::bool::weighted(0.3), ban())
            .prop_map(|(ids, all, ban_seconds)| Command::Deny {
                identities: ids.into_iter().map(str::to_string).collect(),
                all,
                message: Some("no".into()),
                ban_seconds,
            }),
        1 => any::<bool>().prop_map(|enabled| Command::SetWaitingRoom { enabled }),
        // Breakout rooms (the main room's side: plan, timers, notices).
        1 => ((0u32..4), prop::option::of(prop::sample::select(vec![1u32, 60]))).prop_map(
            |(count, duration_seconds)| Command::OpenBreakouts {
                count: Some(count),
                rooms: vec![],
                duration_seconds,
                countdown_seconds: Some(1),
            }
        ),
        1 => prop::option::of(0u32..3)
            .prop_map(|countdown_seconds| Command::CloseBreakouts { countdown_seconds }),
        1 => Just(Command::BroadcastToBreakouts { message: "hi".into() }),
        1 => Just(Command::ListWaiting),
        8 => (target(), source(), any::<bool>()).prop_map(|(identity, source, muted)| {
            Command::Mute {
                identity,
                source,
                muted,
            }
        }),
        6 => (target(), source())
            .prop_map(|(identity, source)| Command::RequestMedia { identity, source }),
        3 => (source(), prop::collection::vec(target(), 0..3))
            .prop_map(|(source, except)| Command::MuteAll { source, except }),
        4 => prop::collection::btree_map(target(), batch_entry(), 1..4)
            .prop_map(|updates| Command::BatchUpdate { updates }),
        2 => (target(), ban(), any::<bool>(), any::<bool>()).prop_map(
            |(identity, ban_seconds, revoke_tokens, require_present)| Command::Kick {
                identity: Some(identity),
                identities: None,
                ban_seconds,
                revoke_tokens,
                revoke_before: None,
                require_present,
            }
        ),
        1 => (prop::collection::vec(target(), 0..4), ban(), any::<bool>()).prop_map(
            |(identities, ban_seconds, revoke_tokens)| Command::Kick {
                identity: None,
                identities: Some(identities),
                ban_seconds,
                revoke_tokens,
                revoke_before: None,
                require_present: false,
            }
        ),
        1 => Just(Command::EndSession),
        4 => target().prop_map(|identity| Command::Pin { identity }),
        2 => prop::option::of(target()).prop_map(|identity| Command::Unpin { identity }),
        5 => (
            target(),
            prop::option::weighted(0.5, patch()),
            prop::option::weighted(0.3, role_name()),
            prop::option::weighted(0.3, short_text()),
            prop::option::weighted(0.2, short_text()),
            prop::option::weighted(0.3, attributes()),
            prop::option::weighted(0.2, capabilities())
        )
            .prop_map(
                |(identity, permissions, role, name, metadata, attributes, capabilities)| {
                    Command::UpdateParticipant {
                        identity,
                        permissions,
                        role,
                        name,
                        metadata,
                        attributes,
                        capabilities,
                    }
                }
            ),
        2 => (target(), prop::sample::select(vec!["alpha", "beta", "elsewhere", "bad/name"]))
            .prop_map(|(identity, destination)| Command::Move {
                identity,
                destination: destination.to_string()
            }),
        1 => target().prop_map(|identity| Command::LiftBan { identity }),
        2 => (prop::collection::vec(target(), 0..3), prop::sample::select(vec!["aGk=", "", "bad!"]))
            .prop_map(|(destination_identities, payload)| Command::SendData {
                payload: payload.to_string(),
                topic: None,
                destination_identities,
                reliable: true,
            }),
        1 => prop::sample::select(vec!["", "{\"a\":1}"]).prop_map(|m| Command::UpdateRoomMetadata {
            metadata: m.to_string()
        }),
    ]
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => Just(Who::Server),
        8 => (0..PEOPLE.len()).prop_map(Who::Person),
        6 => (0usize..3).prop_map(Who::Host),
        1 => Just(Who::Stale),
    ]
}

fn room_index() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(0usize), 1 => Just(1usize)]
}

fn join() -> impl Strategy<Value = Step> {
    // Weighted towards hosts and publishers, so host controls have something to act on.
    let role = prop_oneof![4 => Just(0usize), 4 => Just(1), 1 => Just(2), 1 => Just(3), 1 => Just(4), 1 => Just(5)];
    (
        room_index(),
        0..PEOPLE.len(),
        role,
        prop::bool::weighted(0.15),
    )
        .prop_map(|(room, who, role, rejoin)| Step::Join {
            room,
            who,
            role,
            rejoin,
        })
}

fn step() -> impl Strategy<Value = Step> {
    let room = room_index;
    prop_oneof![
        4 => join(),
        1 => (room(), 0..PEOPLE.len()).prop_map(|(room, who)| Step::Disconnect { room, who }),
        2 => prop::sample::select(vec![50u64, 400, 400, 1_000, 2_500, 31_000])
            .prop_map(|ms| Step::Advance { ms }),
        2 => (room(), 0..PEOPLE.len(), prop::sample::select(vec![5u8, 20, 40, 120]))
            .prop_map(|(room, who, level)| Step::Speak { room, who, level }),
        2 => (room(), any::<bool>()).prop_map(|(room, accept)| Step::Answer { room, accept }),
        20 => (room(), who(), command())
            .prop_map(|(room, actor, command)| Step::Command {
                room,
                actor,
                command: Box::new(command)
            }),
    ]
}

fn settings() -> impl Strategy<Value = RoomSettings> {
    (
        prop::sample::select(vec![
            RemoteUnmute::Off,
            RemoteUnmute::Ask,
            RemoteUnmute::Force,
        ]),
        prop::sample::select(vec![2u32, 30, 30]),
        prop::sample::select(vec![DuplicateIdentity::Replace, DuplicateIdentity::Reject]),
        prop::sample::select(vec![0u32, 0, 3, 5]),
        prop::sample::select(vec![VideoResolution::HD, VideoResolution::None]),
        prop::sample::select(vec![ContentResolution::FHD, ContentResolution::None]),
        // Small limits so large-room behaviour (unlisted audience, coalesced counts) is explored.
        prop::sample::select(vec![0u32, 500, 1, 2, 3]),
        prop::bool::weighted(0.35),
    )
        .prop_map(
            |(
                remote_unmute,
                timeout,
                duplicate_identity,
                max,
                video,
                content,
                listed_limit,
                wait,
            )| {
                let mut waiting_room = Box::<gavel_core::settings::WaitingRoomPolicy>::default();
                waiting_room.enabled = wait;
                waiting_room.timeout_seconds = 30;
                RoomSettings {
                    waiting_room,
                    remote_unmute,
                    request_timeout_seconds: timeout,
                    duplicate_identity,
                    max_participants: max,
                    video_max_resolution: video,
                    content_max_resolution: content,
                    listed_limit,
                    ..Default::default()
                }
            },
        )
}

// ----- the client model -----

fn normalized(p: &ParticipantInfo) -> ParticipantInfo {
    // Speaking time grows without events.
    ParticipantInfo {
        speaking_time_ms: 0,
        ..p.clone()
    }
}

/// A session's view of its room, rebuilt from the events it received and nothing else.
#[derive(Debug, Clone)]
struct View {
    me: ParticipantInfo,
    others: BTreeMap<String, ParticipantInfo>,
    pinned: Option<String>,
    counts: Counts,
    speakers: Vec<String>,
    active_speaker: Option<String>,
}

impl View {
    fn knows(&self, identity: &str) -> bool {
        identity == self.me.identity || self.others.contains_key(identity)
    }

    fn person(&mut self, identity: &str) -> &mut ParticipantInfo {
        if identity == self.me.identity {
            &mut self.me
        } else {
            self.others
                .get_mut(identity)
                .unwrap_or_else(|| panic!("an event about unknown '{identity}'"))
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Joined { .. } | Event::Moved { .. } | Event::Waiting { .. } => {
                panic!("{} to a session already in the room", event.kind())
            }
            // The waiting room is about people not in the room.
            Event::WaiterAdded { .. } | Event::WaitersRemoved { .. } => {}
            // Breakouts change no participant (the moves are the service layer's).
            Event::BreakoutsOpened { .. }
            | Event::BreakoutsClosing { .. }
            | Event::BreakoutsClosed
            | Event::BreakoutBroadcast { .. } => {}
            Event::ParticipantJoined { participant } => {
                assert!(
                    !self.knows(&participant.identity),
                    "participant_joined for known '{}'",
                    participant.identity
                );
                assert!(
                    !participant.permissions.hidden,
                    "a hidden participant joined"
                );
                self.others
                    .insert(participant.identity.clone(), participant.clone());
            }
            Event::ParticipantLeft { identity, sid, .. } => {
                let p = self
                    .others
                    .remove(identity)
                    .unwrap_or_else(|| panic!("participant_left for unknown '{identity}'"));
                assert_eq!(&p.sid, sid);
                assert_ne!(
                    self.pinned.as_deref(),
                    Some(identity.as_str()),
                    "left pinned"
                );
            }
            Event::ParticipantUpdated { participant, .. } => {
                let p = self.person(&participant.identity);
                assert_eq!(p.sid, participant.sid);
                *p = participant.clone();
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
                };
            }
            Event::TrackPublished { identity, track } => {
                let p = self.person(identity);
                assert!(p.tracks.iter().all(|t| t.sid != track.sid));
                p.tracks.push(track.clone());
            }
            Event::TrackUnpublished {
                identity,
                track_sid,
                ..
            } => {
                let p = self.person(identity);
                let before = p.tracks.len();
                p.tracks.retain(|t| &t.sid != track_sid);
                assert_eq!(p.tracks.len() + 1, before, "unpublished an unknown track");
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
                if *all {
                    assert!(identity.is_none() && track_sid.is_none() && *muted);
                    for e in except {
                        assert!(self.knows(e), "mute-all excepts unknown '{e}'");
                    }
                    let everyone = std::iter::once(&mut self.me).chain(self.others.values_mut());
                    for p in everyone.filter(|p| !except.contains(&p.identity)) {
                        for t in p.tracks.iter_mut() {
                            if t.source == *source && !t.muted {
                                t.muted = true;
                                t.muted_by = by.clone();
                            }
                        }
                    }
                } else {
                    let (identity, track_sid) = (identity.as_ref().unwrap(), track_sid.as_ref());
                    let p = self.person(identity);
                    let t = p
                        .tracks
                        .iter_mut()
                        .find(|t| Some(&t.sid) == track_sid)
                        .expect("track_muted for an unknown track");
                    assert_eq!(t.source, *source);
                    assert_ne!(t.muted, *muted, "track_muted that changes nothing");
                    t.muted = *muted;
                    t.muted_by = if *muted { by.clone() } else { None };
                }
            }
            Event::MediaRequested { .. } => {}
            Event::RequestResolved { identity, .. } => {
                assert!(
                    self.knows(identity),
                    "request_resolved about unknown '{identity}'"
                );
            }
            Event::Pinned { identity, .. } => {
                assert!(self.knows(identity), "pinned unknown '{identity}'");
                assert_eq!(self.pinned, None, "pinned while another is pinned");
                self.pinned = Some(identity.clone());
            }
            Event::Unpinned { identity, .. } => {
                assert_eq!(
                    self.pinned.as_ref(),
                    Some(identity),
                    "unpinned the wrong one"
                );
                self.pinned = None;
            }
            Event::PermissionsChanged {
                role, permissions, ..
            } => {
                assert_eq!(&self.me.role, role);
                assert_eq!(&self.me.permissions, permissions);
            }
            Event::ActiveSpeakers { speakers } => {
                for s in speakers {
                    assert!(self.knows(&s.identity), "unknown speaker '{}'", s.identity);
                }
                self.speakers = speakers.iter().map(|s| s.identity.clone()).collect();
            }
            Event::ActiveSpeakerChanged { identity } => {
                if let Some(i) = identity {
                    assert!(self.knows(i), "unknown active speaker '{i}'");
                }
                self.active_speaker = identity.clone();
            }
            Event::DataReceived { from, .. } => {
                if let Some(f) = from {
                    assert!(self.knows(f), "data from unknown '{f}'");
                }
            }
            Event::ConnectionQuality { updates } => {
                for u in updates {
                    assert!(
                        self.knows(&u.identity),
                        "quality of unknown '{}'",
                        u.identity
                    );
                }
            }
            // A hand is always someone's the recipient knows (an unlisted raiser is announced
            // first).
            Event::HandChanged { identity, .. } | Event::StageChanged { identity, .. } => {
                assert!(
                    self.knows(identity),
                    "a hand or stage change of unknown '{identity}'"
                );
            }
            Event::StageInvited { .. } | Event::StageInviteResolved { .. } => {}
            Event::RoomUpdated { .. }
            | Event::HostLeft { .. }
            | Event::HostReturned { .. }
            | Event::RoomLeft { .. }
            | Event::MediaSlots { .. }
            | Event::MediaSessionEnded { .. }
            | Event::MediaOffer { .. } => {}
        }
    }

    /// The view must match the room as this session may see it.
    fn check(&self, room: &Room) {
        let me = room
            .participant(&self.me.identity)
            .expect("view of a present session");
        assert_eq!(normalized(&self.me), normalized(me), "own record");
        let visible: BTreeMap<&str, &ParticipantInfo> = room
            .announced()
            .filter(|p| p.identity != self.me.identity)
            .map(|p| (p.identity.as_str(), p))
            .collect();
        assert_eq!(
            self.others.keys().map(String::as_str).collect::<Vec<_>>(),
            visible.keys().copied().collect::<Vec<_>>(),
            "'{}' sees the wrong participants",
            self.me.identity
        );
        for (identity, p) in &self.others {
            assert_eq!(
                normalized(p),
                normalized(visible[identity.as_str()]),
                "'{}' has a stale view of '{identity}'",
                self.me.identity
            );
        }
        assert_eq!(self.pinned.as_deref(), room.pinned(), "pin as seen");
        // Large rooms coalesce counts: they are exact once the pending update went out.
        if !room.counts_pending() {
            assert_eq!(self.counts, room.counts(), "counts as seen");
        }
        let speakers: Vec<&str> = room
            .active_speakers()
            .iter()
            .map(|s: &Speaker| s.identity.as_str())
            .collect();
        assert_eq!(self.speakers, speakers, "active speakers as seen");
        if let Some(a) = &self.active_speaker {
            assert!(self.knows(a), "active speaker '{a}' is gone");
        }
    }
}

// ----- the world: two rooms and the sessions' views -----

type Snapshot = (
    Vec<ParticipantInfo>,
    Option<String>,
    Vec<gavel_core::command::BanInfo>,
    Counts,
    Vec<PendingRequest>,
);

struct World {
    rooms: Vec<Room>,
    /// Per room: session id → that session's view.
    views: Vec<BTreeMap<String, View>>,
    /// Per room: sessions that left it.
    stale: Vec<Vec<String>>,
    now: Millis,
    /// The input being run may let waiters in (an admit, or the waiting room turned off).
    admitting: bool,
}

/// What one input did to one room.
struct Effect {
    /// (recipient sid, event), in order.
    delivered: Vec<(String, Event)>,
    any_event: bool,
    /// Durable writes the room asked for.
    durable: usize,
    /// Participants an approved move took out, for the destination to admit.
    moved: Vec<MovingParticipant>,
}

impl World {
    fn new(settings: [RoomSettings; 2]) -> World {
        let roles = Arc::new(roles());
        let [a, b] = settings;
        World {
            rooms: vec![
                Room::new(ROOMS[0], a, roles.clone(), 1),
                Room::new(ROOMS[1], b, roles, 2),
            ],
            views: vec![BTreeMap::new(), BTreeMap::new()],
            stale: vec![vec![], vec![]],
            now: 1_700_000_000_000,
            admitting: false,
        }
    }

    fn sessions(&self, r: usize) -> BTreeSet<String> {
        self.rooms[r]
            .participants()
            .map(|p| p.sid.clone())
            .collect()
    }

    fn waiting(&self, r: usize) -> BTreeSet<String> {
        self.rooms[r].waiting().into_iter().map(|w| w.sid).collect()
    }

    fn snapshot(&self, r: usize) -> Snapshot {
        let room = &self.rooms[r];
        (
            room.participants().cloned().collect(),
            room.pinned().map(str::to_string),
            room.bans(self.now),
            room.counts(),
            room.pending_requests().cloned().collect(),
        )
    }

    fn sid_of(&self, r: usize, identity: &str) -> Option<String> {
        self.rooms[r].participant(identity).map(|p| p.sid.clone())
    }

    /// Runs `input` on room `r`, then drains, delivers and checks everything.
    fn step<T>(&mut self, r: usize, input: impl FnOnce(&mut Room, Millis) -> T) -> (T, Effect) {
        let before = (self.sessions(r), self.waiting(r));
        let hidden_before: BTreeMap<String, String> = self.rooms[r]
            .participants()
            .filter(|p| p.permissions.hidden)
            .map(|p| (p.identity.clone(), p.sid.clone()))
            .collect();
        let out = input(&mut self.rooms[r], self.now);
        let effect = self.deliver(r, &before);

        // Events about a participant hidden throughout reach only itself.
        let room = &self.rooms[r];
        for (recipient, event) in &effect.delivered {
            for subject in subjects(event) {
                let hidden_sid = hidden_before.get(subject).filter(|sid| {
                    room.participant(subject)
                        .is_some_and(|p| p.permissions.hidden && &&p.sid == sid)
                });
                if let Some(sid) = hidden_sid {
                    assert_eq!(
                        recipient,
                        sid,
                        "{} about hidden '{subject}' sent to another session",
                        event.kind()
                    );
                }
            }
        }
        self.check_room(r);
        (out, effect)
    }

    /// Resolves audiences against the sessions present at each point of the output stream and
    /// replays the events into the recipients' views.
    fn deliver(&mut self, r: usize, before: &(BTreeSet<String>, BTreeSet<String>)) -> Effect {
        let (before, before_waiting) = before;
        let after = self.sessions(r);
        let waiting_after = self.waiting(r);
        let mut outputs = Vec::new();
        while let Some(o) = self.rooms[r].poll_output() {
            outputs.push(o);
        }
        let closed: BTreeSet<String> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Disconnect { sid, .. } => Some(sid.clone()),
                _ => None,
            })
            .collect();
        // Sessions gone without a `Disconnect` (closed connections, moves) are gone before the
        // room emits anything.
        let mut members: BTreeSet<String> = before
            .iter()
            .filter(|s| after.contains(*s) || closed.contains(*s))
            .cloned()
            .collect();
        for gone in before.difference(&members) {
            self.views[r].remove(gone);
        }
        // Like the shell, waiting sessions are kept out of the room's audience.
        let mut waiting: BTreeSet<String> = before_waiting
            .iter()
            .filter(|s| waiting_after.contains(*s) || closed.contains(*s) || after.contains(*s))
            .cloned()
            .collect();
        let mut delivered = Vec::new();
        let mut any_event = false;
        let mut durable = 0;
        let mut moved = Vec::new();
        for o in outputs {
            if o.is_durable() {
                durable += 1;
            }
            match o {
                Output::MovedOut { moving } => moved.push(*moving),
                Output::Event { to, event } => {
                    any_event = true;
                    if let (Audience::Only(sid), Event::Waiting { me, .. }) = (&to, &*event) {
                        assert!(!members.contains(sid), "waiting to a participant");
                        assert_eq!(&me.sid, sid);
                        waiting.insert(sid.clone());
                    }
                    let addressed = matches!(to, Audience::Only(_) | Audience::Sessions(_));
                    let to_waiter = waiting.iter().any(|w| addressed && to.includes(w));
                    if to_waiter {
                        // Nothing about the room reaches the waiting room.
                        assert!(
                            matches!(*event, Event::Waiting { .. } | Event::RoomLeft { .. }),
                            "{} reached a waiting session",
                            event.kind()
                        );
                        continue;
                    }
                    let arrival = matches!(*event, Event::Joined { .. } | Event::Moved { .. });
                    if let Audience::Only(sid) = &to {
                        if arrival && !members.contains(sid) {
                            members.insert(sid.clone());
                        }
                        assert!(
                            members.contains(sid),
                            "{} to {sid}, who is not in the room",
                            event.kind()
                        );
                    }
                    if let Audience::EveryoneExcept(sid) = &to {
                        assert!(
                            members.contains(sid) || !arrival,
                            "everyone-except an unknown session"
                        );
                    }
                    for m in members.iter().filter(|m| to.includes(m)) {
                        self.receive(r, m, &event);
                        delivered.push((m.clone(), (*event).clone()));
                    }
                }
                Output::Disconnect { sid, .. } if waiting.contains(&sid) => {
                    waiting.remove(&sid);
                    self.stale[r].push(sid);
                }
                Output::WaiterAdmitted { sid } => {
                    // Everyone admitted went through an admit.
                    assert!(self.admitting, "a waiter let in without an admit");
                    assert!(waiting.remove(&sid), "admitted {sid}, who was not waiting");
                }
                Output::Disconnect { sid, .. } => {
                    assert!(members.remove(&sid), "disconnect of {sid}, not in the room");
                    self.views[r].remove(&sid);
                    self.stale[r].push(sid);
                }
                _ => {}
            }
        }
        assert_eq!(members, after, "sessions after the outputs vs the room");
        assert_eq!(
            waiting, waiting_after,
            "waiting after the outputs vs the room"
        );
        for gone in before.difference(&after) {
            if !self.stale[r].contains(gone) {
                self.stale[r].push(gone.clone());
            }
        }
        Effect {
            delivered,
            any_event,
            durable,
            moved,
        }
    }

    fn receive(&mut self, r: usize, sid: &str, event: &Event) {
        let views = &mut self.views[r];
        match event {
            Event::Moved { room, .. } => {
                assert!(!views.contains_key(sid), "moved into a room it is in");
                assert_eq!(room, ROOMS[r]);
            }
            Event::Joined {
                room,
                me,
                participants,
                counts,
                pinned,
                active_speakers,
                ..
            } => {
                assert!(!views.contains_key(sid), "joined twice");
                assert_eq!(room.name, ROOMS[r]);
                assert_eq!(me.sid, sid);
                let others: BTreeMap<String, ParticipantInfo> = participants
                    .iter()
                    .map(|p| (p.identity.clone(), p.clone()))
                    .collect();
                assert_eq!(others.len(), participants.len(), "duplicates in a snapshot");
                assert!(!others.contains_key(&me.identity), "self among the others");
                assert!(participants.iter().all(|p| !p.permissions.hidden));
                let view = View {
                    me: me.clone(),
                    others,
                    pinned: pinned.clone(),
                    counts: *counts,
                    speakers: active_speakers.iter().map(|s| s.identity.clone()).collect(),
                    active_speaker: None,
                };
                if let Some(p) = pinned {
                    assert!(view.knows(p), "snapshot pins someone not in it");
                }
                for s in &view.speakers {
                    assert!(view.knows(s), "snapshot speaker not in it");
                }
                views.insert(sid.to_string(), view);
            }
            Event::RoomLeft { .. } => {
                assert!(views.contains_key(sid));
            }
            other => views
                .get_mut(sid)
                .unwrap_or_else(|| panic!("{} before joined", other.kind()))
                .apply(other),
        }
    }

    fn check_room(&self, r: usize) {
        let room = &self.rooms[r];
        let mut counts = Counts::default();
        let mut identities = BTreeSet::new();
        for p in room.participants() {
            assert!(identities.insert(p.identity.clone()));
            assert_eq!(room.identity_of(&p.sid), Some(p.identity.as_str()));
            if p.permissions.hidden {
                counts.hidden += 1;
            } else {
                counts.present += 1;
            }
            for t in &p.tracks {
                assert!(
                    p.permissions.can_send.contains(&t.source),
                    "'{}' holds a {:?} track it may not send",
                    p.identity,
                    t.source
                );
            }
            let sources: BTreeSet<_> = p.tracks.iter().map(|t| t.source).collect();
            assert_eq!(sources.len(), p.tracks.len(), "one track per source");
        }
        let waiters = room.waiting();
        counts.waiting = waiters.len() as u32;
        for w in &waiters {
            // A waiter is never listed: no participant, snapshot or view holds its session.
            assert!(
                room.identity_of(&w.sid).is_none(),
                "a waiter is a participant"
            );
            assert!(!self.views[r].contains_key(&w.sid), "a waiter has a view");
            assert!(room.is_waiting(&w.sid));
        }
        assert_eq!(room.counts(), counts);
        assert_eq!(room.is_empty(), identities.is_empty() && waiters.is_empty());
        if let Some(pinned) = room.pinned() {
            let p = room
                .participant(pinned)
                .expect("the pinned participant is present");
            assert!(!p.permissions.hidden, "a hidden participant is pinned");
        }
        for s in room.active_speakers() {
            let p = room.participant(&s.identity).expect("speakers are present");
            assert!(!p.permissions.hidden, "a hidden active speaker");
        }
        for q in room.pending_requests() {
            let p = room
                .participant(&q.target_identity)
                .expect("request target present");
            assert_eq!(p.sid, q.target_sid);
            assert!(!q.askers.is_empty());
        }
        // Every session has a view, and it is right.
        let sessions = self.sessions(r);
        assert_eq!(
            self.views[r].keys().cloned().collect::<BTreeSet<_>>(),
            sessions,
            "views vs sessions"
        );
        for view in self.views[r].values() {
            view.check(room);
        }
    }

    fn run(&mut self, s: &Step) {
        match s {
            Step::Join {
                room,
                who,
                role,
                rejoin,
            } => {
                let identity = PEOPLE[*who];
                if *rejoin || self.sid_of(*room, identity).is_none() {
                    self.join(*room, identity, ROLES[*role]);
                }
            }
            Step::Disconnect { room, who } => {
                if let Some(sid) = self.sid_of(*room, PEOPLE[*who]) {
                    self.step(*room, |room, now| {
                        room.disconnected(now, &sid, event_reason());
                    });
                }
            }
            Step::Advance { ms } => self.advance(*ms),
            Step::Speak { room, who, level } => {
                let identity = PEOPLE[*who];
                if let Some(sid) = self.sid_of(*room, identity) {
                    let has_mic = self.rooms[*room]
                        .participant(identity)
                        .is_some_and(|p| p.track(Source::Microphone).is_some());
                    if !has_mic {
                        let publish = Command::PublishTrack {
                            source: Source::Microphone,
                            muted: false,
                            name: None,
                        };
                        self.command(*room, &Who::Person(*who), publish);
                    }
                    let actor = Actor::Participant { sid };
                    let start = self.now;
                    for i in 0..8 {
                        self.now = start + i * 50;
                        let (r, _) = self.step(*room, |room, now| {
                            room.handle(now, &actor, Command::AudioLevel { level: *level })
                        });
                        assert!(r.is_ok());
                    }
                    self.now = start;
                    self.advance(400);
                }
            }
            Step::Command {
                room,
                actor,
                command,
            } => self.command(*room, actor, (**command).clone()),
            Step::Answer { room, accept } => {
                let Some(q) = self.rooms[*room].pending_requests().next().cloned() else {
                    return;
                };
                let (r, _) = self.step(*room, |room, now| {
                    let actor = Actor::Participant { sid: q.target_sid };
                    let answer = Command::RespondRequest {
                        request_id: q.id,
                        accept: *accept,
                    };
                    room.handle(now, &actor, answer)
                });
                assert_eq!(r, Ok(Reply::done()), "the target answers its request");
            }
        }
    }

    fn join(&mut self, r: usize, identity: &str, role: &str) {
        let roles = roles();
        let req = JoinRequest {
            identity: identity.into(),
            name: identity.to_uppercase(),
            metadata: String::new(),
            attributes: BTreeMap::new(),
            role: role.into(),
            permissions: roles.get(role).unwrap().clone(),
            issued_at: None,
            bypass_lock: false,
            bypass_waiting_room: false,
        };
        let before = self.snapshot(r);
        let policy = self.rooms[r].settings().waiting_room.clone();
        let may_enter = !policy.enabled
            || policy.enter_directly.iter().any(|d| d == role)
            || req.permissions.has(HostControl::Admit);
        let (result, effect) = self.step(r, |room, now| room.join(now, req));
        match result {
            Ok(sid) if self.rooms[r].is_waiting(&sid) => {
                assert!(
                    !may_enter,
                    "someone who may enter directly was made to wait"
                );
            }
            Ok(sid) => {
                // Everyone who came in directly may enter directly.
                assert!(may_enter, "'{identity}' entered without waiting");
                assert_eq!(self.sid_of(r, identity), Some(sid));
            }
            Err(e) => {
                assert!(matches!(
                    e.code,
                    ErrorCode::Banned
                        | ErrorCode::Conflict
                        | ErrorCode::RoomFull
                        | ErrorCode::RoomLocked
                        | ErrorCode::Unauthenticated
                ));
                assert!(!effect.any_event, "a refused join emitted events");
                assert_eq!(self.snapshot(r), before, "a refused join changed the room");
            }
        }
    }

    /// Moves time forward like the shell: every deadline `poll_timeout` names is honoured.
    fn advance(&mut self, ms: Millis) {
        let target = self.now + ms;
        loop {
            let due = (0..self.rooms.len())
                .filter_map(|r| self.rooms[r].poll_timeout().map(|t| (t, r)))
                .filter(|(t, _)| *t <= target)
                .min();
            let Some((t, r)) = due else { break };
            self.now = self.now.max(t);
            self.step(r, |room, now| room.handle_timeout(now));
        }
        self.now = target;
        for r in 0..self.rooms.len() {
            self.step(r, |room, now| room.handle_timeout(now));
        }
    }

    fn resolve_refs(&self, r: usize, actor: &Actor, command: Command) -> Command {
        let actor_sid = match actor {
            Actor::Participant { sid } => Some(sid.as_str()),
            Actor::Server { .. } => None,
        };
        let tracks: Vec<String> = match actor {
            Actor::Participant { sid } => self.rooms[r]
                .identity_of(sid)
                .and_then(|i| self.rooms[r].participant(i))
                .map(|p| p.tracks.iter().map(|t| t.sid.clone()).collect())
                .unwrap_or_default(),
            Actor::Server { .. } => vec![],
        };
        let track = |placeholder: String| -> String {
            let n: usize = placeholder.trim_start_matches("#track").parse().unwrap();
            tracks
                .get(n)
                .cloned()
                .unwrap_or_else(|| "TR_unknown".into())
        };
        let present: Vec<String> = self.rooms[r]
            .participants()
            .map(|p| p.identity.clone())
            .collect();
        let who = |name: String| -> String {
            match name.strip_prefix('@') {
                Some(n) => present
                    .get(n.parse::<usize>().unwrap())
                    .cloned()
                    .unwrap_or_else(|| "nobody".into()),
                None => name,
            }
        };
        let many = |names: Vec<String>| names.into_iter().map(who).collect::<Vec<_>>();
        match command {
            Command::Mute {
                identity,
                source,
                muted,
            } => Command::Mute {
                identity: who(identity),
                source,
                muted,
            },
            Command::RequestMedia { identity, source } => Command::RequestMedia {
                identity: who(identity),
                source,
            },
            Command::MuteAll { source, except } => Command::MuteAll {
                source,
                except: many(except),
            },
            Command::BatchUpdate { updates } => Command::BatchUpdate {
                updates: updates.into_iter().map(|(k, v)| (who(k), v)).collect(),
            },
            Command::Kick {
                identity,
                identities,
                ban_seconds,
                revoke_tokens,
                revoke_before,
                require_present,
            } => Command::Kick {
                identity: identity.map(who),
                identities: identities.map(many),
                ban_seconds,
                revoke_tokens,
                revoke_before,
                require_present,
            },
            Command::Pin { identity } => Command::Pin {
                identity: who(identity),
            },
            Command::LowerHand { identity } => Command::LowerHand {
                identity: who(identity),
            },
            Command::InviteToStage { identity } => Command::InviteToStage {
                identity: who(identity),
            },
            Command::RemoveFromStage { identity } => Command::RemoveFromStage {
                identity: who(identity),
            },
            Command::Unpin { identity } => Command::Unpin {
                identity: identity.map(who),
            },
            Command::UpdateParticipant {
                identity,
                permissions,
                role,
                name,
                metadata,
                attributes,
                capabilities,
            } => Command::UpdateParticipant {
                identity: who(identity),
                permissions,
                role,
                name,
                metadata,
                attributes,
                capabilities,
            },
            Command::Move {
                identity,
                destination,
            } => Command::Move {
                identity: who(identity),
                destination,
            },
            Command::LiftBan { identity } => Command::LiftBan {
                identity: who(identity),
            },
            Command::UnpublishTrack { track_sid } => Command::UnpublishTrack {
                track_sid: track(track_sid),
            },
            Command::SetTrackMuted { track_sid, muted } => Command::SetTrackMuted {
                track_sid: track(track_sid),
                muted,
            },
            Command::RespondRequest { request_id, accept } => {
                let n: usize = request_id.trim_start_matches("#req").parse().unwrap();
                let (mine, others): (Vec<&PendingRequest>, Vec<&PendingRequest>) = self.rooms[r]
                    .pending_requests()
                    .partition(|q| Some(q.target_sid.as_str()) == actor_sid);
                let request_id = mine
                    .into_iter()
                    .chain(others)
                    .nth(n)
                    .map(|q| q.id.clone())
                    .unwrap_or_else(|| "RQ_unknown".into());
                Command::RespondRequest { request_id, accept }
            }
            Command::SendData {
                payload,
                topic,
                destination_identities,
                reliable,
            } => Command::SendData {
                payload,
                topic,
                destination_identities: many(destination_identities),
                reliable,
            },
            other => other,
        }
    }

    fn command(&mut self, r: usize, who: &Who, command: Command) {
        let actor = match who {
            Who::Server => Actor::server("api"),
            Who::Person(i) => match self.sid_of(r, PEOPLE[*i]) {
                Some(sid) => Actor::Participant { sid },
                None => return,
            },
            Who::Host(n) => {
                let hosts: Vec<String> = self.rooms[r]
                    .participants()
                    .filter(|p| !p.permissions.host.is_empty())
                    .map(|p| p.sid.clone())
                    .collect();
                match hosts.get(n % hosts.len().max(1)) {
                    Some(sid) => Actor::Participant { sid: sid.clone() },
                    None => return,
                }
            }
            Who::Stale => match self.stale[r].last() {
                Some(sid) => Actor::Participant { sid: sid.clone() },
                None => return,
            },
        };
        let command = self.resolve_refs(r, &actor, command);
        let before = self.snapshot(r);
        let infos: BTreeMap<String, ParticipantInfo> = self.rooms[r]
            .participants()
            .map(|p| (p.identity.clone(), p.clone()))
            .collect();
        let is_host_control = command.is_host_control();
        let destination = match &command {
            Command::Move { destination, .. } => Some(destination.clone()),
            _ => None,
        };
        let may_write = command.may_write_durably();
        self.admitting = matches!(
            command,
            Command::Admit { .. } | Command::SetWaitingRoom { enabled: false }
        );
        // Every third moment the store "fails": a command with durable writes must then leave
        // no trace but its audit entry.
        let store_fails = self.now.is_multiple_of(3);
        let (result, effect) = self.step(r, |room, now| match room.decide(now, &actor, command) {
            Decision::Done(result) => (result, false),
            Decision::Commit(pending) => {
                assert!(!pending.writes.is_empty());
                if store_fails {
                    room.abandon(pending, gavel_core::Error::invalid("store failed"));
                    (Err(gavel_core::Error::invalid("store failed")), true)
                } else {
                    (Ok(room.apply(pending)), false)
                }
            }
        });
        let (result, abandoned) = result;
        self.admitting = false;
        // A command `may_write_durably` denies runs in place: a durable write from it would
        // reach the output queue uncommitted. Decided commands hand theirs over instead.
        assert_eq!(
            effect.durable, 0,
            "a durable write bypassed the decision (may_write_durably: {may_write})"
        );
        if abandoned {
            assert!(!effect.any_event, "an abandoned command emitted events");
            assert_eq!(
                self.snapshot(r),
                before,
                "an abandoned command changed the room"
            );
            return;
        }
        for moving in effect.moved {
            let destination = destination
                .clone()
                .expect("only a move takes a participant out");
            assert!(self.rooms[r].participant(&moving.info.identity).is_none());
            if let Some(d) = ROOMS.iter().position(|n| *n == destination) {
                assert_ne!(d, r);
                let identity = moving.info.identity.clone();
                let sid = moving.info.sid.clone();
                let (admitted, _) = self.step(d, |room, now| room.admit_moved(now, moving));
                if admitted.is_ok() {
                    assert_eq!(self.sid_of(d, &identity), Some(sid));
                }
            }
        }
        match result {
            Err(_) => {
                assert!(!effect.any_event, "a refused command emitted events");
                assert_eq!(
                    self.snapshot(r),
                    before,
                    "a refused command changed the room"
                );
            }
            Ok(Reply::Results { results }) => {
                assert!(is_host_control);
                for (identity, res) in &results {
                    assert_eq!(res.ok, res.error.is_none());
                    if !res.ok {
                        assert_eq!(
                            self.rooms[r].participant(identity),
                            infos.get(identity),
                            "refused target '{identity}' changed: {:?}",
                            res.error
                        );
                    }
                }
            }
            Ok(_) => {}
        }
    }
}

fn event_reason() -> event::LeaveReason {
    event::LeaveReason::Disconnected
}

/// The participants an event is about.
fn subjects(event: &Event) -> Vec<&str> {
    match event {
        Event::ParticipantJoined { participant }
        | Event::ParticipantUpdated { participant, .. } => {
            vec![participant.identity.as_str()]
        }
        Event::ParticipantLeft { identity, .. }
        | Event::TrackPublished { identity, .. }
        | Event::TrackUnpublished { identity, .. }
        | Event::Pinned { identity, .. }
        | Event::Unpinned { identity, .. }
        | Event::RequestResolved { identity, .. } => vec![identity.as_str()],
        Event::TrackMuted {
            identity, except, ..
        } => identity
            .iter()
            .chain(except.iter())
            .map(String::as_str)
            .collect(),
        Event::ActiveSpeakers { speakers } => {
            speakers.iter().map(|s| s.identity.as_str()).collect()
        }
        Event::ActiveSpeakerChanged { identity } => identity.iter().map(String::as_str).collect(),
        Event::DataReceived { from, .. } => from.iter().map(String::as_str).collect(),
        Event::ConnectionQuality { updates } => {
            updates.iter().map(|u| u.identity.as_str()).collect()
        }
        Event::Joined { participants, .. } => {
            participants.iter().map(|p| p.identity.as_str()).collect()
        }
        _ => vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=20000 for a longer search.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn room_invariants_hold(
        settings in (settings(), settings()),
        cast in prop::collection::vec(join(), 2..6),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut world = World::new([settings.0, settings.1]);
        for s in cast.iter().chain(&steps) {
            world.run(s);
        }
    }
}

/// The same machinery on a fixed script, so a regression in the model itself shows plainly.
#[test]
fn model_follows_a_scripted_meeting() {
    let mut w = World::new([RoomSettings::default(), RoomSettings::default()]);
    w.join(0, "ann", HOST);
    w.join(0, "bob", PARTICIPANT);
    w.join(0, "cat", OBSERVER);
    w.join(0, "dan", "ghost");
    let bob = Who::Person(1);
    let ann = Who::Person(0);
    let publish = |source| Command::PublishTrack {
        source,
        muted: false,
        name: None,
    };
    w.command(0, &bob, publish(Source::Microphone));
    w.command(0, &Who::Person(3), publish(Source::Microphone));
    w.command(0, &bob, publish(Source::Camera));
    w.run(&Step::Speak {
        room: 0,
        who: 1,
        level: 10,
    });
    w.command(
        0,
        &ann,
        Command::Pin {
            identity: "bob".into(),
        },
    );
    w.command(
        0,
        &Who::Server,
        Command::MuteAll {
            source: Source::Microphone,
            except: vec!["dan".into()],
        },
    );
    w.command(
        0,
        &ann,
        Command::Move {
            identity: "bob".into(),
            destination: "beta".into(),
        },
    );
    assert!(w.rooms[1].participant("bob").is_some());
    w.advance(31_000);
    w.command(0, &ann, Command::EndSession);
    assert!(w.rooms[0].is_empty());
}
