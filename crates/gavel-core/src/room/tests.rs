//! Unit tests of the room: one per host control and self action, asserting exactly which events
//! each session receives.
//!
//! [`Harness`] drives one [`Room`], drains its outputs after every input and resolves each
//! event's [`Audience`] against the sessions in the room *at that point of the output stream*
//! (a session removed with `Disconnect` stops receiving from there; a joiner starts with its
//! `joined`). Events are then grouped per recipient, labelled by identity.

use super::*;
use crate::command::{BatchEntry, MovingParticipant, TargetResult};
use crate::event::{LeaveReason, RequestOutcome, UnpublishReason};
use crate::participant::TrackInfo;
use crate::permissions::{
    Capabilities, Capability, ContentResolution, PermissionsPatch, Source, VideoResolution,
};
use crate::roles::{HOST, OBSERVER, PARTICIPANT, VIEWER};
use crate::settings::{DuplicateIdentity, RemoteUnmute};
use std::collections::BTreeSet;

const T0: Millis = 1_700_000_000_000;

/// Everything one input produced, per recipient.
#[derive(Debug, Default)]
struct Got {
    /// Recipient label (identity; `identity~old` for a replaced session) → events, in order.
    events: BTreeMap<String, Vec<Event>>,
    /// Every output that is not an event, in order.
    effects: Vec<Output>,
}

impl Got {
    fn to(&self, who: &str) -> &[Event] {
        self.events.get(who).map(Vec::as_slice).unwrap_or(&[])
    }
    fn recipients(&self) -> BTreeSet<&str> {
        self.events.keys().map(String::as_str).collect()
    }
    fn no_events(&self) -> bool {
        self.events.values().all(Vec::is_empty)
    }
    fn kinds(&self, who: &str) -> Vec<&'static str> {
        self.to(who).iter().map(Event::kind).collect()
    }
    fn disconnects(&self) -> Vec<(String, LeaveReason)> {
        self.effects
            .iter()
            .filter_map(|o| match o {
                Output::Disconnect { sid, reason } => Some((sid.clone(), *reason)),
                _ => None,
            })
            .collect()
    }
    fn resolved(&self) -> Vec<(String, RequestOutcome)> {
        self.effects
            .iter()
            .filter_map(|o| match o {
                Output::RequestResolved {
                    request_id,
                    outcome,
                } => Some((request_id.clone(), *outcome)),
                _ => None,
            })
            .collect()
    }
    fn host_actions(&self) -> Vec<(&'static str, Result<(), ErrorCode>)> {
        self.effects
            .iter()
            .filter_map(|o| match o {
                Output::HostAction {
                    action, outcome, ..
                } => Some((*action, outcome.clone().map_err(|e| e.code))),
                _ => None,
            })
            .collect()
    }
}

/// Drains `room`'s outputs, resolving audiences against the sessions present at each point.
/// `before` are the sessions in the room before the input that produced them.
fn drain(
    room: &mut Room,
    before: &BTreeSet<String>,
) -> (BTreeMap<String, Vec<Event>>, Vec<Output>) {
    let after: BTreeSet<String> = room.by_sid.keys().cloned().collect();
    let mut outputs = Vec::new();
    while let Some(o) = room.poll_output() {
        outputs.push(o);
    }
    let closed: BTreeSet<String> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Disconnect { sid, .. } => Some(sid.clone()),
            _ => None,
        })
        .collect();
    // Sessions removed without a `Disconnect` (a closed connection, a move) are gone from the
    // start: the room forgets them before it emits anything.
    let mut members: BTreeSet<String> = before
        .iter()
        .filter(|s| after.contains(*s) || closed.contains(*s))
        .cloned()
        .collect();
    let mut events: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut effects = Vec::new();
    for o in outputs {
        match o {
            Output::Event { to, event } => {
                if let Audience::Only(sid) = &to {
                    if matches!(*event, Event::Joined { .. } | Event::Moved { .. }) {
                        members.insert(sid.clone());
                    }
                    assert!(
                        members.contains(sid),
                        "{} addressed to {sid}, who is not in the room",
                        event.kind()
                    );
                }
                for m in members.iter().filter(|m| to.includes(m)) {
                    events.entry(m.clone()).or_default().push((*event).clone());
                }
            }
            Output::Disconnect { sid, reason } => {
                assert!(members.remove(&sid), "disconnect of {sid}, not in the room");
                effects.push(Output::Disconnect { sid, reason });
            }
            other => effects.push(other),
        }
    }
    assert_eq!(members, after, "sessions after the outputs vs the room");
    (events, effects)
}

/// The public state a refused command must leave unchanged.
type State = (
    Vec<ParticipantInfo>,
    Option<String>,
    Vec<BanInfo>,
    Counts,
    Vec<PendingRequest>,
);

struct Harness {
    room: Room,
    roles: Arc<Roles>,
    now: Millis,
    /// Identity → its current session id.
    sids: BTreeMap<String, String>,
    /// Session id → label.
    labels: HashMap<String, String>,
    got: Got,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(RoomSettings::default(), Roles::default())
    }
    fn settings(settings: RoomSettings) -> Harness {
        Harness::with(settings, Roles::default())
    }
    fn with(settings: RoomSettings, roles: Roles) -> Harness {
        Harness::named("room-a", settings, roles)
    }
    fn named(name: &str, settings: RoomSettings, roles: Roles) -> Harness {
        let roles = Arc::new(roles);
        Harness {
            room: Room::new(name, settings, roles.clone(), 42),
            roles,
            now: T0,
            sids: BTreeMap::new(),
            labels: HashMap::new(),
            got: Got::default(),
        }
    }

    fn members(&self) -> BTreeSet<String> {
        self.room.by_sid.keys().cloned().collect()
    }

    fn record(&mut self, before: BTreeSet<String>) {
        let (events, effects) = drain(&mut self.room, &before);
        for (sid, evs) in events {
            let label = self.labels.get(&sid).cloned().unwrap_or(sid);
            self.got.events.entry(label).or_default().extend(evs);
        }
        self.got.effects.extend(effects);
    }

    /// What happened since the last `take`.
    fn take(&mut self) -> Got {
        std::mem::take(&mut self.got)
    }

    fn request(&self, identity: &str, role: &str) -> JoinRequest {
        JoinRequest {
            identity: identity.into(),
            name: identity.to_uppercase(),
            metadata: String::new(),
            attributes: BTreeMap::new(),
            role: role.into(),
            permissions: self.roles.get(role).unwrap().clone(),
            issued_at: None,
        }
    }

    fn try_join_req(&mut self, req: JoinRequest) -> Result<String> {
        let before = self.members();
        let identity = req.identity.clone();
        let r = self.room.join(self.now, req);
        if let Ok(sid) = &r {
            self.register(&identity, sid);
        }
        self.record(before);
        r
    }

    fn register(&mut self, identity: &str, sid: &str) {
        if let Some(old) = self.sids.insert(identity.into(), sid.into()) {
            self.labels.insert(old, format!("{identity}~old"));
        }
        self.labels.insert(sid.into(), identity.into());
    }

    fn try_join(&mut self, identity: &str, role: &str) -> Result<String> {
        let req = self.request(identity, role);
        self.try_join_req(req)
    }

    fn join(&mut self, identity: &str, role: &str) -> String {
        self.try_join(identity, role).unwrap()
    }

    fn sid(&self, identity: &str) -> String {
        self.sids[identity].clone()
    }

    fn run(&mut self, actor: &Actor, command: Command) -> Result<Reply> {
        let before = self.members();
        let r = self.room.handle(self.now, actor, command);
        self.record(before);
        r
    }

    /// A command from the participant `identity`.
    fn act(&mut self, identity: &str, command: Command) -> Result<Reply> {
        let actor = Actor::Participant {
            sid: self.sid(identity),
        };
        self.run(&actor, command)
    }

    /// A command through the server API.
    fn server(&mut self, command: Command) -> Result<Reply> {
        self.run(&Actor::server("api"), command)
    }

    fn disconnect(&mut self, identity: &str) {
        let before = self.members();
        let sid = self.sid(identity);
        self.room.disconnected(&sid, LeaveReason::Disconnected);
        self.record(before);
    }

    fn advance(&mut self, ms: Millis) {
        self.now += ms;
        let before = self.members();
        self.room.handle_timeout(self.now);
        self.record(before);
    }

    fn admit_moved(&mut self, moving: MovingParticipant) -> Result<String> {
        let before = self.members();
        let identity = moving.info.identity.clone();
        let r = self.room.admit_moved(self.now, moving);
        if let Ok(sid) = &r {
            self.register(&identity, sid);
        }
        self.record(before);
        r
    }

    fn info(&self, identity: &str) -> ParticipantInfo {
        self.room.participant(identity).unwrap().clone()
    }

    fn track(&self, identity: &str, source: Source) -> TrackInfo {
        self.info(identity).track(source).unwrap().clone()
    }

    fn publish(&mut self, identity: &str, source: Source, muted: bool) -> TrackInfo {
        match self.act(
            identity,
            Command::PublishTrack {
                source,
                muted,
                name: None,
            },
        ) {
            Ok(Reply::Track { track }) => track,
            other => panic!("publish failed: {other:?}"),
        }
    }

    fn state(&self) -> State {
        (
            self.room.participants().cloned().collect(),
            self.room.pinned().map(str::to_string),
            self.room.bans(self.now),
            self.room.counts(),
            self.room.pending_requests().cloned().collect(),
        )
    }
}

fn err_code(r: Result<Reply>) -> ErrorCode {
    r.expect_err("expected an error").code
}

fn mute(identity: &str, source: Source) -> Command {
    Command::Mute {
        identity: identity.into(),
        source,
        muted: true,
    }
}

fn unmute(identity: &str, source: Source) -> Command {
    Command::Mute {
        identity: identity.into(),
        source,
        muted: false,
    }
}

fn request_media(identity: &str, source: Source) -> Command {
    Command::RequestMedia {
        identity: identity.into(),
        source,
    }
}

fn respond(request_id: &str, accept: bool) -> Command {
    Command::RespondRequest {
        request_id: request_id.into(),
        accept,
    }
}

fn track_muted(identity: &str, track: &TrackInfo, muted: bool, by: Option<&str>) -> Event {
    Event::TrackMuted {
        identity: Some(identity.into()),
        track_sid: Some(track.sid.clone()),
        source: track.source,
        muted,
        by: by.map(str::to_string),
        all: false,
        except: vec![],
    }
}

fn mute_all_event(source: Source, by: &str, except: &[&str]) -> Event {
    Event::TrackMuted {
        identity: None,
        track_sid: None,
        source,
        muted: true,
        by: Some(by.into()),
        all: true,
        except: except.iter().map(|s| s.to_string()).collect(),
    }
}

fn resolved(request_id: &str, identity: &str, from: &str, outcome: RequestOutcome) -> Event {
    Event::RequestResolved {
        request_id: request_id.into(),
        source: Source::Microphone,
        identity: identity.into(),
        from: from.into(),
        outcome,
    }
}

fn left(h: &Harness, identity: &str, reason: LeaveReason, by: Option<&str>) -> Event {
    Event::ParticipantLeft {
        identity: identity.into(),
        sid: h.sid(identity),
        reason,
        by: by.map(str::to_string),
    }
}

fn counts(present: u32, hidden: u32) -> Event {
    Event::CountsUpdated { present, hidden }
}

fn request_id(r: Result<Reply>) -> (String, bool) {
    match r {
        Ok(Reply::Request {
            request_id,
            status,
            deduplicated,
        }) => {
            assert_eq!(status, "pending");
            (request_id, deduplicated)
        }
        other => panic!("expected a request, got {other:?}"),
    }
}

fn results(r: Result<Reply>) -> BTreeMap<String, TargetResult> {
    match r {
        Ok(Reply::Results { results }) => results,
        other => panic!("expected results, got {other:?}"),
    }
}

fn result_code(results: &BTreeMap<String, TargetResult>, identity: &str) -> Option<ErrorCode> {
    let r = &results[identity];
    assert_eq!(r.ok, r.error.is_none());
    r.error.as_ref().map(|e| e.code)
}

fn sources(list: &[Source]) -> crate::permissions::SourceSet {
    list.iter().copied().collect()
}

/// Host `h`, guest `g` with a live microphone, participant `p`, hidden observer `o`.
fn meeting(settings: RoomSettings) -> (Harness, TrackInfo) {
    let mut h = Harness::settings(settings);
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    h.join("p", PARTICIPANT);
    h.join("o", OBSERVER);
    let mic = h.publish("g", Source::Microphone, false);
    h.take();
    (h, mic)
}

fn settings_with(remote_unmute: RemoteUnmute) -> RoomSettings {
    RoomSettings {
        remote_unmute,
        ..Default::default()
    }
}

// ----- joining, presence, hidden participants -----

#[test]
fn join_sends_snapshot_to_joiner_and_participant_joined_to_others() {
    let mut h = Harness::new();
    h.join("a", HOST);
    h.take();
    let sid = h.join("b", PARTICIPANT);
    let got = h.take();
    let b = h.info("b");
    assert_eq!(b.sid, sid);
    assert_eq!(b.joined_at, T0);
    assert_eq!(
        got.to("b"),
        &[Event::Joined {
            room: h.room.info(),
            me: b.clone(),
            participants: vec![h.info("a")],
            counts: Counts {
                present: 2,
                hidden: 0
            },
            pinned: None,
            active_speakers: vec![],
        }]
    );
    assert_eq!(
        got.to("a"),
        &[Event::ParticipantJoined { participant: b }, counts(2, 0)]
    );
    assert_eq!(h.room.identity_of(&sid), Some("b"));
}

#[test]
fn hidden_observer_is_invisible_but_counted() {
    let mut h = Harness::new();
    h.join("a", HOST);
    h.join("b", PARTICIPANT);
    h.take();

    h.join("o", OBSERVER);
    let got = h.take();
    assert_eq!(got.to("a"), &[counts(2, 1)]);
    assert_eq!(got.to("b"), &[counts(2, 1)]);
    match got.to("o") {
        [Event::Joined {
            participants,
            counts,
            me,
            ..
        }] => {
            let ids: Vec<_> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(ids, ["a", "b"]);
            assert_eq!(
                *counts,
                Counts {
                    present: 2,
                    hidden: 1
                }
            );
            assert!(me.permissions.hidden);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.room.counts(),
        Counts {
            present: 2,
            hidden: 1
        }
    );

    // A later joiner's snapshot leaves the observer out.
    h.join("c", PARTICIPANT);
    let got = h.take();
    match got.to("c") {
        [Event::Joined {
            participants,
            counts,
            ..
        }] => {
            let ids: Vec<_> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(ids, ["a", "b"]);
            assert_eq!(
                *counts,
                Counts {
                    present: 3,
                    hidden: 1
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        got.to("o"),
        got.to("a"),
        "the observer sees what everyone sees"
    );

    // Its own updates reach only itself.
    let r = h.act(
        "o",
        Command::UpdateSelf {
            name: Some("Watcher".into()),
            metadata: None,
            attributes: None,
        },
    );
    assert!(r.is_ok());
    let got = h.take();
    assert_eq!(got.recipients(), BTreeSet::from(["o"]));
    assert_eq!(got.kinds("o"), ["participant_updated"]);

    // Hosts cannot see it as a target.
    assert_eq!(
        err_code(h.act("a", mute("o", Source::Microphone))),
        ErrorCode::NotFound
    );

    // Its departure is only a count change for the others.
    h.act("o", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("o"),
        &[Event::RoomLeft {
            reason: LeaveReason::Left,
            by: None
        }]
    );
    for who in ["a", "b", "c"] {
        assert_eq!(got.to(who), &[counts(3, 0)], "{who}");
    }
    assert_eq!(
        h.room.counts(),
        Counts {
            present: 3,
            hidden: 0
        }
    );
}

#[test]
fn hidden_publisher_tracks_are_only_seen_by_itself() {
    let mut h = Harness::new();
    h.join("a", HOST);
    let mut req = h.request("ghost", PARTICIPANT);
    req.permissions.hidden = true;
    h.try_join_req(req).unwrap();
    h.take();
    let mic = h.publish("ghost", Source::Microphone, false);
    let got = h.take();
    assert_eq!(
        got.to("ghost"),
        &[Event::TrackPublished {
            identity: "ghost".into(),
            track: mic.clone()
        }]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["ghost"]));

    // Its audio levels never make it an active speaker.
    for i in 0..8 {
        h.now = T0 + i * 50;
        h.act("ghost", Command::AudioLevel { level: 10 }).unwrap();
    }
    assert_eq!(h.room.poll_timeout(), None);

    // Mute-all by the server mutes it, but the summary does not name it.
    h.server(Command::MuteAll {
        source: Source::Microphone,
        except: vec!["a".into()],
    })
    .unwrap();
    let got = h.take();
    assert_eq!(
        got.to("a"),
        &[mute_all_event(Source::Microphone, "api", &["a"])]
    );
    assert!(h.track("ghost", Source::Microphone).muted);
}

#[test]
fn duplicate_identity_replaces_the_old_session() {
    let mut h = Harness::new();
    h.join("a", HOST);
    let old = h.join("b", PARTICIPANT);
    h.publish("b", Source::Microphone, false);
    h.server(Command::Pin {
        identity: "b".into(),
    })
    .unwrap();
    h.take();

    let new = h.join("b", PARTICIPANT);
    assert_ne!(old, new);
    let got = h.take();
    assert_eq!(
        got.to("b~old"),
        &[Event::RoomLeft {
            reason: LeaveReason::Replaced,
            by: None
        }]
    );
    assert_eq!(got.disconnects(), [(old.clone(), LeaveReason::Replaced)]);
    let b = h.info("b");
    assert!(b.tracks.is_empty(), "media belonged to the old connection");
    assert_eq!(
        got.to("a"),
        &[
            Event::Unpinned {
                identity: "b".into(),
                by: None
            },
            Event::ParticipantLeft {
                identity: "b".into(),
                sid: old.clone(),
                reason: LeaveReason::Replaced,
                by: None
            },
            counts(1, 0),
            Event::ParticipantJoined {
                participant: b.clone()
            },
            counts(2, 0),
        ]
    );
    assert_eq!(got.kinds("b"), ["joined"]);
    assert_eq!(h.room.pinned(), None);
    assert_eq!(h.room.identity_of(&old), None);
    // The old session's late commands act on nothing.
    assert_eq!(
        err_code(h.run(&Actor::Participant { sid: old }, Command::Leave)),
        ErrorCode::FailedPrecondition
    );
    assert!(h.take().no_events());
}

#[test]
fn duplicate_identity_reject_is_a_conflict() {
    let mut h = Harness::settings(RoomSettings {
        duplicate_identity: DuplicateIdentity::Reject,
        ..Default::default()
    });
    let sid = h.join("a", HOST);
    h.take();
    assert_eq!(
        h.try_join("a", PARTICIPANT).unwrap_err().code,
        ErrorCode::Conflict
    );
    let got = h.take();
    assert!(got.no_events() && got.effects.is_empty());
    assert_eq!(h.info("a").sid, sid);
}

#[test]
fn max_participants_makes_the_room_full() {
    let mut h = Harness::settings(RoomSettings {
        max_participants: 2,
        ..Default::default()
    });
    h.join("a", HOST);
    h.join("o", OBSERVER);
    h.take();
    assert_eq!(
        h.try_join("c", PARTICIPANT).unwrap_err().code,
        ErrorCode::RoomFull
    );
    assert!(h.take().no_events());
    // Replacing a present identity does not need a free place.
    h.join("a", HOST);
    h.act("o", Command::Leave).unwrap();
    h.join("c", PARTICIPANT);
    assert_eq!(h.room.participants().count(), 2);
}

#[test]
fn join_validates_its_request() {
    let mut h = Harness::new();
    for bad in ["", "*", "a\u{7}b"] {
        assert_eq!(
            h.try_join(bad, PARTICIPANT).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }
    assert!(h.take().no_events());
    assert!(h.room.is_empty());
}

#[test]
fn disconnect_tells_the_others_only() {
    let mut h = Harness::new();
    h.join("a", HOST);
    h.join("b", PARTICIPANT);
    h.take();
    let before = left(&h, "b", LeaveReason::Disconnected, None);
    h.disconnect("b");
    let got = h.take();
    assert_eq!(got.to("b"), &[]);
    assert!(
        got.disconnects().is_empty(),
        "the connection is already gone"
    );
    assert_eq!(got.to("a"), &[before, counts(1, 0)]);
    // Unknown sessions are ignored.
    h.room.disconnected("PA_nobody", LeaveReason::Disconnected);
    assert!(h.room.poll_output().is_none());
}

// ----- tracks -----

#[test]
fn publish_is_limited_to_can_send() {
    let mut h = Harness::new();
    h.join("v", VIEWER);
    h.join("p", PARTICIPANT);
    h.take();
    let before = h.state();
    assert_eq!(
        err_code(h.act(
            "v",
            Command::PublishTrack {
                source: Source::Microphone,
                muted: false,
                name: None
            }
        )),
        ErrorCode::PermissionDenied
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);

    let cam = h.publish("p", Source::Camera, true);
    let got = h.take();
    for who in ["v", "p"] {
        assert_eq!(
            got.to(who),
            &[Event::TrackPublished {
                identity: "p".into(),
                track: cam.clone()
            }]
        );
    }
    assert!(cam.muted && cam.muted_by.is_none());
    // One track per source.
    assert_eq!(
        err_code(h.act(
            "p",
            Command::PublishTrack {
                source: Source::Camera,
                muted: false,
                name: None
            }
        )),
        ErrorCode::Conflict
    );
}

#[test]
fn rooms_without_video_remove_camera_from_permissions() {
    let mut h = Harness::settings(RoomSettings {
        video_max_resolution: VideoResolution::None,
        content_max_resolution: ContentResolution::None,
        ..Default::default()
    });
    h.join("p", PARTICIPANT);
    let perms = h.info("p").permissions;
    assert_eq!(perms.can_send, sources(&[Source::Microphone]));
    assert_eq!(perms.can_receive, sources(&[Source::Microphone]));
    for source in [Source::Camera, Source::ScreenVideo, Source::ScreenAudio] {
        assert_eq!(
            err_code(h.act(
                "p",
                Command::PublishTrack {
                    source,
                    muted: false,
                    name: None
                }
            )),
            ErrorCode::PermissionDenied
        );
    }
}

#[test]
fn unpublish_and_self_mute() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    let mic = h.publish("a", Source::Microphone, false);
    h.take();

    let r = h.act(
        "a",
        Command::SetTrackMuted {
            track_sid: mic.sid.clone(),
            muted: true,
        },
    );
    assert_eq!(r, Ok(Reply::Muted { changed: 1 }));
    let got = h.take();
    for who in ["a", "b"] {
        assert_eq!(got.to(who), &[track_muted("a", &mic, true, None)]);
    }
    // Idempotent.
    let r = h.act(
        "a",
        Command::SetTrackMuted {
            track_sid: mic.sid.clone(),
            muted: true,
        },
    );
    assert_eq!(r, Ok(Reply::Muted { changed: 0 }));
    assert!(h.take().no_events());

    h.act(
        "a",
        Command::UnpublishTrack {
            track_sid: mic.sid.clone(),
        },
    )
    .unwrap();
    let got = h.take();
    let expected = Event::TrackUnpublished {
        identity: "a".into(),
        track_sid: mic.sid.clone(),
        source: Source::Microphone,
        reason: UnpublishReason::Unpublished,
    };
    assert_eq!(got.to("a"), std::slice::from_ref(&expected));
    assert_eq!(got.to("b"), &[expected]);
    assert!(h.info("a").tracks.is_empty());
    // Someone else's or an unknown track is not found.
    assert_eq!(
        err_code(h.act("b", Command::UnpublishTrack { track_sid: mic.sid })),
        ErrorCode::NotFound
    );
    // Self actions need a participant.
    assert_eq!(
        err_code(h.server(Command::PublishTrack {
            source: Source::Microphone,
            muted: false,
            name: None
        })),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn update_self_needs_its_permission() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    let mut req = h.request("b", PARTICIPANT);
    req.permissions.can_update_own_metadata = false;
    h.try_join_req(req).unwrap();
    h.take();
    let before = h.state();
    let cmd = Command::UpdateSelf {
        name: Some("Bee".into()),
        metadata: None,
        attributes: None,
    };
    assert_eq!(
        err_code(h.act("b", cmd.clone())),
        ErrorCode::PermissionDenied
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);

    let r = h.act("a", cmd);
    let a = h.info("a");
    assert_eq!(
        r,
        Ok(Reply::Participant {
            participant: a.clone()
        })
    );
    let got = h.take();
    let expected = Event::ParticipantUpdated {
        participant: a,
        changed: vec!["name".into()],
        by: None,
    };
    assert_eq!(got.to("a"), std::slice::from_ref(&expected));
    assert_eq!(got.to("b"), &[expected]);
}

// ----- mute and remote unmute -----

#[test]
fn host_mute_is_forced_sets_muted_by_and_is_idempotent() {
    let (mut h, mic) = meeting(RoomSettings::default());
    let r = h.act("h", mute("g", Source::Microphone));
    assert_eq!(r, Ok(Reply::Muted { changed: 1 }));
    let got = h.take();
    let expected = track_muted("g", &mic, true, Some("h"));
    for who in ["h", "g", "p"] {
        assert_eq!(got.to(who), std::slice::from_ref(&expected), "{who}");
    }
    // Events about a visible participant go to everyone, hidden ones included.
    assert_eq!(got.to("o"), &[expected]);
    assert_eq!(got.host_actions(), [("mute", Ok(()))]);
    let t = h.track("g", Source::Microphone);
    assert!(t.muted);
    assert_eq!(t.muted_by.as_deref(), Some("h"));

    // Second mute: nothing changes, nobody hears about it.
    let r = h.act("h", mute("g", Source::Microphone));
    assert_eq!(r, Ok(Reply::Muted { changed: 0 }));
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(got.host_actions(), [("mute", Ok(()))]);

    // Not a lock: the guest unmutes itself, and `muted_by` is cleared.
    h.act(
        "g",
        Command::SetTrackMuted {
            track_sid: mic.sid.clone(),
            muted: false,
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.to("h"), &[track_muted("g", &mic, false, None)]);
    assert_eq!(h.track("g", Source::Microphone).muted_by, None);

    // Muting a source without a track changes nothing; an absent target is not found.
    assert_eq!(
        h.act("h", mute("g", Source::Camera)),
        Ok(Reply::Muted { changed: 0 })
    );
    assert_eq!(
        err_code(h.act("h", mute("nobody", Source::Camera))),
        ErrorCode::NotFound
    );
    // The server mutes by name.
    h.take();
    h.server(mute("g", Source::Microphone)).unwrap();
    assert_eq!(
        h.take().to("p"),
        &[track_muted("g", &mic, true, Some("api"))]
    );
}

#[test]
fn remote_unmute_off_is_refused() {
    let (mut h, _) = meeting(settings_with(RemoteUnmute::Off));
    h.act("h", mute("g", Source::Microphone)).unwrap();
    h.take();
    let before = h.state();
    let e = h.act("h", unmute("g", Source::Microphone)).unwrap_err();
    assert_eq!(e.code, ErrorCode::FailedPrecondition);
    assert_eq!(e.message, "remote unmute not enabled");
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(
        got.host_actions(),
        [("mute", Err(ErrorCode::FailedPrecondition))]
    );
    assert_eq!(h.state(), before);
    assert!(h.track("g", Source::Microphone).muted);
}

#[test]
fn remote_unmute_ask_sends_a_consent_request() {
    let (mut h, mic) = meeting(settings_with(RemoteUnmute::Ask));
    h.act("h", mute("g", Source::Microphone)).unwrap();
    h.take();
    let (id, dedup) = request_id(h.act("h", unmute("g", Source::Microphone)));
    assert!(!dedup);
    let got = h.take();
    assert_eq!(got.recipients(), BTreeSet::from(["g"]));
    assert_eq!(
        got.to("g"),
        &[Event::MediaRequested {
            request_id: id.clone(),
            source: Source::Microphone,
            from: "h".into(),
            expires_at: T0 + 30_000,
        }]
    );
    assert!(h.track("g", Source::Microphone).muted, "nothing forced");

    // Consent: the host-muted track comes back on; target and asker learn the outcome.
    h.act("g", respond(&id, true)).unwrap();
    let got = h.take();
    let on = track_muted("g", &mic, false, None);
    assert_eq!(
        got.to("g"),
        &[
            on.clone(),
            resolved(&id, "g", "h", RequestOutcome::Accepted)
        ]
    );
    assert_eq!(
        got.to("h"),
        &[
            on.clone(),
            resolved(&id, "g", "h", RequestOutcome::Accepted)
        ]
    );
    assert_eq!(got.to("p"), std::slice::from_ref(&on));
    assert_eq!(got.to("o"), &[on]);
    assert_eq!(got.resolved(), [(id.clone(), RequestOutcome::Accepted)]);
    let t = h.track("g", Source::Microphone);
    assert!(!t.muted && t.muted_by.is_none());
    assert_eq!(h.room.pending_requests().count(), 0);
    // Answered requests are gone.
    assert_eq!(
        err_code(h.act("g", respond(&id, true))),
        ErrorCode::NotFound
    );
}

#[test]
fn remote_unmute_force_unmutes() {
    let (mut h, mic) = meeting(settings_with(RemoteUnmute::Force));
    h.act("h", mute("g", Source::Microphone)).unwrap();
    h.take();
    let r = h.act("h", unmute("g", Source::Microphone));
    assert_eq!(r, Ok(Reply::Muted { changed: 1 }));
    let got = h.take();
    for who in ["h", "g", "p", "o"] {
        assert_eq!(got.to(who), &[track_muted("g", &mic, false, Some("h"))]);
    }
    let t = h.track("g", Source::Microphone);
    assert!(!t.muted && t.muted_by.is_none());
    assert_eq!(h.room.pending_requests().count(), 0);
}

// ----- consent requests -----

#[test]
fn request_media_reject() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    let got = h.take();
    assert_eq!(got.kinds("p"), ["media_requested"]);
    assert_eq!(got.recipients(), BTreeSet::from(["p"]));
    // Only the target may answer.
    assert_eq!(
        err_code(h.act("g", respond(&id, true))),
        ErrorCode::NotFound
    );
    h.act("p", respond(&id, false)).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[resolved(&id, "p", "h", RequestOutcome::Rejected)]
    );
    assert_eq!(
        got.to("h"),
        &[resolved(&id, "p", "h", RequestOutcome::Rejected)]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["h", "p"]));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Rejected)]);
}

#[test]
fn request_media_expires() {
    let (mut h, _) = meeting(RoomSettings {
        request_timeout_seconds: 10,
        ..Default::default()
    });
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    assert_eq!(h.room.poll_timeout(), Some(T0 + 10_000));
    h.advance(9_999);
    assert!(h.take().no_events());
    h.advance(1);
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[resolved(&id, "p", "h", RequestOutcome::Expired)]
    );
    assert_eq!(
        got.to("h"),
        &[resolved(&id, "p", "h", RequestOutcome::Expired)]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["h", "p"]));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Expired)]);
    assert_eq!(h.room.pending_requests().count(), 0);
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn request_is_cancelled_when_the_target_leaves() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    let p_left = left(&h, "p", LeaveReason::Left, None);
    h.act("p", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[Event::RoomLeft {
            reason: LeaveReason::Left,
            by: None
        }]
    );
    assert_eq!(
        got.to("h"),
        &[
            resolved(&id, "p", "h", RequestOutcome::Cancelled),
            p_left.clone(),
            counts(2, 1)
        ]
    );
    assert_eq!(got.to("g"), &[p_left, counts(2, 1)]);
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn request_is_cancelled_when_its_only_asker_leaves() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.join("h2", HOST);
    h.take();
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    let (id2, dedup) = request_id(h.act("h2", request_media("p", Source::Microphone)));
    assert_eq!((id2.as_str(), dedup), (id.as_str(), true));
    h.take();

    // One of two askers leaving keeps the request.
    h.disconnect("h");
    let got = h.take();
    assert!(got.resolved().is_empty());
    assert_eq!(got.kinds("p"), ["participant_left", "counts_updated"]);
    assert_eq!(h.room.pending_requests().count(), 1);

    // The last one cancels it; the target is told.
    let h2_left = left(&h, "h2", LeaveReason::Disconnected, None);
    h.disconnect("h2");
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[
            // `from` names the askers still attached: only h2 by then.
            resolved(&id, "p", "h2", RequestOutcome::Cancelled),
            h2_left,
            counts(2, 1)
        ]
    );
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn request_media_is_deduplicated_and_every_asker_learns_the_outcome() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.join("h2", HOST);
    h.take();
    let (id, dedup) = request_id(h.act("h", request_media("p", Source::Microphone)));
    assert!(!dedup);
    assert_eq!(h.take().kinds("p"), ["media_requested"]);

    let (id2, dedup) = request_id(h.act("h2", request_media("p", Source::Microphone)));
    assert_eq!(id2, id);
    assert!(dedup);
    // The same asker again, and the server: still one request.
    let (id3, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    let (id4, _) = request_id(h.server(request_media("p", Source::Microphone)));
    assert_eq!((id3.as_str(), id4.as_str()), (id.as_str(), id.as_str()));
    assert!(h.take().no_events(), "the target is asked once");
    let pending: Vec<_> = h.room.pending_requests().collect();
    assert_eq!(pending.len(), 1);
    let labels: Vec<_> = pending[0].askers.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels, ["h", "h2", "api"]);

    // Another source is another request.
    let (other, dedup) = request_id(h.act("h", request_media("p", Source::Camera)));
    assert!(!dedup && other != id);
    h.take();

    h.act("p", respond(&id, true)).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[resolved(&id, "p", "h,h2,api", RequestOutcome::Accepted)]
    );
    assert_eq!(
        got.to("h"),
        &[resolved(&id, "p", "h", RequestOutcome::Accepted)]
    );
    assert_eq!(
        got.to("h2"),
        &[resolved(&id, "p", "h2", RequestOutcome::Accepted)]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["h", "h2", "p"]));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Accepted)]);
    assert_eq!(h.room.pending_requests().count(), 1);
}

#[test]
fn request_media_preconditions() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.join("v", VIEWER);
    h.take();
    let before = h.state();
    // To oneself.
    assert_eq!(
        err_code(h.act("h", request_media("h", Source::Microphone))),
        ErrorCode::InvalidArgument
    );
    // Already sending.
    assert_eq!(
        err_code(h.act("h", request_media("g", Source::Microphone))),
        ErrorCode::FailedPrecondition
    );
    // May not send.
    assert_eq!(
        err_code(h.act("h", request_media("v", Source::Microphone))),
        ErrorCode::FailedPrecondition
    );
    // Hidden and absent targets are not found.
    assert_eq!(
        err_code(h.act("h", request_media("o", Source::Microphone))),
        ErrorCode::NotFound
    );
    assert_eq!(
        err_code(h.act("h", request_media("zed", Source::Microphone))),
        ErrorCode::NotFound
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);
}

#[test]
fn revoking_a_source_cancels_its_requests() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    h.server(Command::UpdateParticipant {
        identity: "p".into(),
        permissions: Some(PermissionsPatch {
            can_send: Some(sources(&[Source::Camera])),
            ..Default::default()
        }),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    let got = h.take();
    assert_eq!(
        got.kinds("p"),
        [
            "request_resolved",
            "participant_updated",
            "permissions_changed"
        ]
    );
    assert_eq!(
        got.to("h")[0],
        resolved(&id, "p", "h", RequestOutcome::Cancelled)
    );
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
}

// ----- mute-all -----

#[test]
fn mute_all_sends_one_summary_event_per_recipient_whatever_n() {
    for n in [1usize, 3, 12] {
        let mut h = Harness::new();
        h.join("h", HOST);
        h.join("o", OBSERVER);
        h.publish("h", Source::Microphone, false);
        let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        for name in &names {
            h.join(name, PARTICIPANT);
            h.publish(name, Source::Microphone, false);
            h.publish(name, Source::Camera, false);
        }
        h.take();
        let r = h.act(
            "h",
            Command::MuteAll {
                source: Source::Microphone,
                except: vec!["p0".into(), "o".into()],
            },
        );
        // Every microphone but p0's: the host's own included (it did not except itself).
        assert_eq!(r, Ok(Reply::Muted { changed: n as u32 }));
        let got = h.take();
        let expected = mute_all_event(Source::Microphone, "h", &["p0"]);
        assert_eq!(got.events.len(), n + 2, "everyone hears once");
        for (who, events) in &got.events {
            assert_eq!(events, std::slice::from_ref(&expected), "{who} (n = {n})");
        }
        assert_eq!(got.host_actions(), [("mute_all", Ok(()))]);
        for p in h.room.participants() {
            for t in &p.tracks {
                let should_mute = t.source == Source::Microphone && p.identity != "p0";
                assert_eq!(t.muted, should_mute, "{} {:?}", p.identity, t.source);
                let by = should_mute.then_some("h");
                assert_eq!(t.muted_by.as_deref(), by);
            }
        }
        // Nothing left to mute: nothing sent.
        let r = h.act(
            "h",
            Command::MuteAll {
                source: Source::Microphone,
                except: vec!["p0".into()],
            },
        );
        assert_eq!(r, Ok(Reply::Muted { changed: 0 }));
        assert!(h.take().no_events());
    }
}

#[test]
fn mute_all_needs_the_sources_control() {
    let mut roles = Roles::default();
    let mut audio_mod = roles.get(PARTICIPANT).unwrap().clone();
    audio_mod.host = [HostControl::MuteAudio].into();
    roles.insert("audio_mod", audio_mod);
    let mut h = Harness::with(RoomSettings::default(), roles);
    h.join("m", "audio_mod");
    h.join("p", PARTICIPANT);
    h.publish("p", Source::Camera, false);
    h.publish("p", Source::Microphone, false);
    h.take();
    let before = h.state();
    assert_eq!(
        err_code(h.act(
            "m",
            Command::MuteAll {
                source: Source::Camera,
                except: vec![]
            }
        )),
        ErrorCode::PermissionDenied
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);
    assert_eq!(
        h.act(
            "m",
            Command::MuteAll {
                source: Source::Microphone,
                except: vec![]
            }
        ),
        Ok(Reply::Muted { changed: 1 })
    );
}

// ----- batch update -----

fn batch(entries: Vec<(&str, BatchEntry)>) -> Command {
    Command::BatchUpdate {
        updates: entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

fn audio_off() -> BatchEntry {
    BatchEntry {
        set_audio: Some(false),
        ..Default::default()
    }
}

/// Host `h`, participants `a`, `b`, `c` with live microphones and cameras, observer `o`.
fn batch_room(settings: RoomSettings, roles: Roles) -> Harness {
    let mut h = Harness::with(settings, roles);
    h.join("h", HOST);
    h.publish("h", Source::Microphone, false);
    for who in ["a", "b", "c"] {
        h.join(who, PARTICIPANT);
        h.publish(who, Source::Microphone, false);
        h.publish(who, Source::Camera, false);
    }
    h.join("o", OBSERVER);
    h.take();
    h
}

#[test]
fn batch_update_reports_per_identity_results() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let a_mic = h.track("a", Source::Microphone);
    let b_cam = h.track("b", Source::Camera);
    let r = h.act(
        "h",
        batch(vec![
            ("a", audio_off()),
            (
                "b",
                BatchEntry {
                    set_video: Some(false),
                    ..Default::default()
                },
            ),
            ("c", BatchEntry::default()),
            ("ghost", audio_off()),
            ("o", audio_off()),
        ]),
    );
    let res = results(r);
    assert_eq!(result_code(&res, "a"), None);
    assert_eq!(result_code(&res, "b"), None);
    assert_eq!(result_code(&res, "c"), Some(ErrorCode::InvalidArgument));
    assert_eq!(result_code(&res, "ghost"), Some(ErrorCode::NotFound));
    // A client cannot see hidden participants.
    assert_eq!(result_code(&res, "o"), Some(ErrorCode::NotFound));
    assert_eq!(res.len(), 5);
    let got = h.take();
    let expected = [
        track_muted("a", &a_mic, true, Some("h")),
        track_muted("b", &b_cam, true, Some("h")),
    ];
    for who in ["h", "a", "b", "c", "o"] {
        assert_eq!(got.to(who), &expected, "{who}");
    }
    assert_eq!(got.host_actions(), [("batch_update", Ok(()))]);
    assert!(!h.track("c", Source::Microphone).muted);
}

#[test]
fn batch_update_wildcard_applies_to_everyone_not_listed() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let r = h.act(
        "h",
        batch(vec![
            (
                "*",
                BatchEntry {
                    metadata: Some("quiet".into()),
                    ..Default::default()
                },
            ),
            (
                "a",
                BatchEntry {
                    metadata: Some("loud".into()),
                    ..Default::default()
                },
            ),
        ]),
    );
    let res = results(r);
    // Not the sender, not the hidden observer.
    assert_eq!(
        res.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert!(res.values().all(|r| r.ok));
    assert_eq!(h.info("a").metadata, "loud");
    assert_eq!(h.info("b").metadata, "quiet");
    assert_eq!(h.info("c").metadata, "quiet");
    assert_eq!(h.info("h").metadata, "");
    assert_eq!(h.info("o").metadata, "");
    let got = h.take();
    assert_eq!(
        got.kinds("h"),
        [
            "participant_updated",
            "participant_updated",
            "participant_updated"
        ]
    );
    // The server's wildcard reaches hidden participants too, and the server is no participant.
    let res = results(h.server(batch(vec![(
        "*",
        BatchEntry {
            metadata: Some("all".into()),
            ..Default::default()
        },
    )])));
    assert_eq!(res.len(), 5);
    assert_eq!(h.info("o").metadata, "all");
    let got = h.take();
    assert_eq!(got.to("o").len(), 5, "4 visible updates and its own");
    assert_eq!(got.to("a").len(), 4, "the observer's update stays with it");
}

#[test]
fn batch_update_wildcard_mute_is_one_summary_event() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let r = h.act(
        "h",
        batch(vec![
            (
                "a",
                BatchEntry {
                    set_video: Some(false),
                    ..Default::default()
                },
            ),
            ("*", audio_off()),
        ]),
    );
    let res = results(r);
    assert_eq!(
        res.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert!(res.values().all(|r| r.ok));
    let got = h.take();
    let a_cam = h.track("a", Source::Camera);
    for who in ["h", "a", "b", "c", "o"] {
        assert_eq!(
            got.to(who),
            &[
                track_muted("a", &a_cam, true, Some("h")),
                mute_all_event(Source::Microphone, "h", &["a", "h"])
            ],
            "{who}"
        );
    }
    // Listed and sender untouched; everyone else muted.
    assert!(!h.track("a", Source::Microphone).muted);
    assert!(!h.track("h", Source::Microphone).muted);
    assert!(h.track("b", Source::Microphone).muted);
    assert!(h.track("c", Source::Microphone).muted);
}

#[test]
fn batch_update_eject_and_ban() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let a_left = left(&h, "a", LeaveReason::Kicked, Some("h"));
    let res = results(h.act(
        "h",
        batch(vec![
            (
                "a",
                BatchEntry {
                    eject: true,
                    ban_seconds: Some(60),
                    ..Default::default()
                },
            ),
            (
                "b",
                BatchEntry {
                    ban_seconds: Some(60),
                    ..Default::default()
                },
            ),
            (
                "h",
                BatchEntry {
                    eject: true,
                    ..Default::default()
                },
            ),
        ]),
    ));
    assert_eq!(result_code(&res, "a"), None);
    assert_eq!(result_code(&res, "b"), Some(ErrorCode::InvalidArgument));
    assert_eq!(result_code(&res, "h"), Some(ErrorCode::InvalidArgument));
    let got = h.take();
    assert_eq!(
        got.to("a"),
        &[Event::RoomLeft {
            reason: LeaveReason::Kicked,
            by: Some("h".into())
        }]
    );
    assert_eq!(got.to("b"), &[a_left, counts(3, 1)]);
    assert!(h.room.participant("a").is_none());
    assert_eq!(h.room.bans(h.now)[0].identity, "a");
    assert_eq!(
        h.try_join("a", PARTICIPANT).unwrap_err().code,
        ErrorCode::Banned
    );

    // Ban lengths are checked as for kick (a huge one used to overflow).
    for bad in [0, membership::MAX_BAN_SECONDS + 1, u64::MAX] {
        let res = results(h.server(batch(vec![(
            "b",
            BatchEntry {
                eject: true,
                ban_seconds: Some(bad),
                ..Default::default()
            },
        )])));
        assert_eq!(result_code(&res, "b"), Some(ErrorCode::InvalidArgument));
    }
    assert!(h.take().no_events());
    assert!(h.room.participant("b").is_some());

    // An entry that hides its target and ejects it does both.
    let res = results(h.act(
        "h",
        batch(vec![(
            "b",
            BatchEntry {
                eject: true,
                ban_seconds: Some(5),
                permissions: Some(PermissionsPatch {
                    hidden: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )]),
    ));
    assert_eq!(result_code(&res, "b"), None);
    assert!(h.room.participant("b").is_none());
    assert!(h.room.bans(h.now).iter().any(|b| b.identity == "b"));
    let got = h.take();
    assert_eq!(
        got.kinds("c"),
        ["participant_left", "counts_updated", "counts_updated"],
        "b left (hidden), then the hidden count drops"
    );
}

#[test]
fn kick_lists_with_repeats_report_the_kick() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    h.take();
    let res = results(h.act(
        "h",
        Command::Kick {
            identity: None,
            identities: Some(vec!["a".into(), "a".into()]),
            ban_seconds: None,
        },
    ));
    assert_eq!(result_code(&res, "a"), None);
    assert!(h.room.participant("a").is_none());
}

#[test]
fn batch_update_role_change() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let mic = h.track("a", Source::Microphone);
    let cam = h.track("a", Source::Camera);
    let res = results(h.act(
        "h",
        batch(vec![(
            "a",
            BatchEntry {
                role: Some(VIEWER.into()),
                ..Default::default()
            },
        )]),
    ));
    assert_eq!(result_code(&res, "a"), None);
    let a = h.info("a");
    assert_eq!(a.role, VIEWER);
    assert!(a.tracks.is_empty() && a.permissions.can_send.is_empty());
    let got = h.take();
    let unpublished = |t: &TrackInfo| Event::TrackUnpublished {
        identity: "a".into(),
        track_sid: t.sid.clone(),
        source: t.source,
        reason: UnpublishReason::Permission,
    };
    let updated = Event::ParticipantUpdated {
        participant: a.clone(),
        changed: vec!["role".into(), "permissions".into()],
        by: Some("h".into()),
    };
    let others = [unpublished(&mic), unpublished(&cam), updated];
    assert_eq!(got.to("b"), &others);
    let mut mine = others.to_vec();
    mine.push(Event::PermissionsChanged {
        role: VIEWER.into(),
        permissions: a.permissions,
        by: Some("h".into()),
    });
    assert_eq!(got.to("a"), mine.as_slice());
}

#[test]
fn batch_update_denial_leaves_that_identity_unchanged() {
    let mut roles = Roles::default();
    let mut moderator = roles.get(PARTICIPANT).unwrap().clone();
    moderator.host = [HostControl::MuteAudio, HostControl::ManageParticipants].into();
    roles.insert("moderator", moderator);
    let mut h = batch_room(settings_with(RemoteUnmute::Ask), roles);
    h.join("m", "moderator");
    h.publish("m", Source::Microphone, true);
    h.take();
    let a_before = h.info("a");
    let c_before = h.info("c");
    let m_before = h.info("m");
    let res = results(h.act(
        "m",
        batch(vec![
            // Updates first, then a video mute the moderator may not do: nothing applies.
            (
                "a",
                BatchEntry {
                    metadata: Some("x".into()),
                    set_video: Some(false),
                    ..Default::default()
                },
            ),
            ("b", audio_off()),
            // A host control the moderator lacks cannot be granted.
            (
                "c",
                BatchEntry {
                    set_audio: Some(false),
                    role: Some(HOST.into()),
                    ..Default::default()
                },
            ),
            // Its own role change with a remote unmute of itself: refused whole.
            (
                "m",
                BatchEntry {
                    metadata: Some("me".into()),
                    set_audio: Some(true),
                    ..Default::default()
                },
            ),
        ]),
    ));
    assert_eq!(result_code(&res, "a"), Some(ErrorCode::PermissionDenied));
    assert_eq!(result_code(&res, "b"), None);
    assert_eq!(result_code(&res, "c"), Some(ErrorCode::PermissionDenied));
    assert_eq!(result_code(&res, "m"), Some(ErrorCode::InvalidArgument));
    assert_eq!(h.info("a"), a_before);
    assert_eq!(h.info("c"), c_before);
    assert_eq!(h.info("m"), m_before);
    assert!(h.track("b", Source::Microphone).muted);
    let got = h.take();
    assert_eq!(got.kinds("h"), ["track_muted"], "only b's mute happened");
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn batch_update_remote_unmute_follows_the_policy() {
    let mut h = batch_room(settings_with(RemoteUnmute::Ask), Roles::default());
    h.act("h", mute("a", Source::Microphone)).unwrap();
    h.take();
    let res = results(h.act(
        "h",
        batch(vec![(
            "a",
            BatchEntry {
                set_audio: Some(true),
                ..Default::default()
            },
        )]),
    ));
    let id = res["a"]
        .request_ids
        .first()
        .cloned()
        .expect("a consent request");
    let got = h.take();
    assert_eq!(got.recipients(), BTreeSet::from(["a"]));
    assert_eq!(got.kinds("a"), ["media_requested"]);
    assert_eq!(h.room.pending_requests().next().unwrap().id, id);

    let mut h = batch_room(settings_with(RemoteUnmute::Off), Roles::default());
    h.act("h", mute("a", Source::Microphone)).unwrap();
    h.take();
    let res = results(h.act(
        "h",
        batch(vec![(
            "a",
            BatchEntry {
                set_audio: Some(true),
                metadata: Some("x".into()),
                ..Default::default()
            },
        )]),
    ));
    let e = res["a"].error.clone().unwrap();
    assert_eq!(e.code, ErrorCode::FailedPrecondition);
    assert_eq!(e.message, "remote unmute not enabled");
    assert!(h.take().no_events());
    assert_eq!(h.info("a").metadata, "");
}

#[test]
fn batch_update_that_hides_its_target_still_applies_whole() {
    for policy in [RemoteUnmute::Ask, RemoteUnmute::Force] {
        let mut h = batch_room(settings_with(policy), Roles::default());
        h.act("h", mute("a", Source::Microphone)).unwrap();
        h.take();
        let res = results(h.act(
            "h",
            batch(vec![(
                "a",
                BatchEntry {
                    set_audio: Some(true),
                    permissions: Some(PermissionsPatch {
                        hidden: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )]),
        ));
        assert_eq!(result_code(&res, "a"), None, "{policy:?}");
        assert!(h.info("a").permissions.hidden);
        let got = h.take();
        match policy {
            RemoteUnmute::Ask => {
                // Asked while visible, then gone for the host: the request ends with it.
                assert!(res["a"].request_ids.len() == 1);
                assert_eq!(h.room.pending_requests().count(), 0);
                assert_eq!(
                    got.kinds("h"),
                    ["request_resolved", "participant_left", "counts_updated"]
                );
                assert_eq!(
                    got.kinds("a"),
                    [
                        "media_requested",
                        "request_resolved",
                        "participant_updated",
                        "permissions_changed",
                        "counts_updated"
                    ]
                );
            }
            _ => {
                assert!(!h.track("a", Source::Microphone).muted);
                assert_eq!(
                    got.kinds("h"),
                    ["track_muted", "participant_left", "counts_updated"]
                );
            }
        }
    }
}

#[test]
fn becoming_hidden_cancels_requests_to_it() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    h.server(update(
        "p",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let got = h.take();
    let p_left = Event::ParticipantLeft {
        identity: "p".into(),
        sid: h.sid("p"),
        reason: LeaveReason::Hidden,
        by: Some("api".into()),
    };
    assert_eq!(
        got.to("h"),
        &[
            resolved(&id, "p", "h", RequestOutcome::Cancelled),
            p_left,
            counts(2, 2)
        ]
    );
    assert_eq!(
        got.to("p")[0],
        resolved(&id, "p", "h", RequestOutcome::Cancelled)
    );
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn batch_update_from_a_participant_without_host_controls_is_denied() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let before = h.state();
    let r = h.act("a", batch(vec![("b", audio_off()), ("*", audio_off())]));
    assert_eq!(err_code(r), ErrorCode::PermissionDenied);
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(
        got.host_actions(),
        [("batch_update", Err(ErrorCode::PermissionDenied))]
    );
    assert_eq!(h.state(), before);
    // An empty batch is invalid.
    assert_eq!(
        err_code(h.act("h", batch(vec![]))),
        ErrorCode::InvalidArgument
    );
}

// ----- kick and ban -----

#[test]
fn kick_with_ban_keeps_the_identity_out_until_it_expires() {
    let mut h = Harness::new();
    h.join("h", HOST);
    let g_sid = h.join("g", PARTICIPANT);
    h.join("p", PARTICIPANT);
    h.join("o", OBSERVER);
    h.take();
    let g_left = left(&h, "g", LeaveReason::Kicked, Some("h"));
    let r = h.act(
        "h",
        Command::Kick {
            identity: Some("g".into()),
            identities: None,
            ban_seconds: Some(60),
        },
    );
    assert_eq!(r, Ok(Reply::done()));
    let got = h.take();
    assert_eq!(
        got.to("g"),
        &[Event::RoomLeft {
            reason: LeaveReason::Kicked,
            by: Some("h".into())
        }]
    );
    for who in ["h", "p", "o"] {
        assert_eq!(got.to(who), &[g_left.clone(), counts(2, 1)], "{who}");
    }
    assert_eq!(got.disconnects(), [(g_sid, LeaveReason::Kicked)]);
    assert_eq!(got.host_actions(), [("kick", Ok(()))]);
    assert_eq!(
        h.room.bans(h.now),
        [BanInfo {
            identity: "g".into(),
            until: T0 + 60_000,
            by: "h".into()
        }]
    );

    h.now = T0 + 59_999;
    let e = h.try_join("g", PARTICIPANT).unwrap_err();
    assert_eq!(e.code, ErrorCode::Banned);
    assert!(e.message.contains("1 more seconds"), "{}", e.message);
    assert!(h.take().no_events());
    h.now = T0 + 60_000;
    h.join("g", PARTICIPANT);
    assert!(h.room.bans(h.now).is_empty());
}

#[test]
fn kick_many_reports_per_identity() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.join("c", PARTICIPANT);
    h.take();
    let res = results(h.act(
        "h",
        Command::Kick {
            identity: None,
            identities: Some(vec!["a".into(), "b".into(), "ghost".into(), "h".into()]),
            ban_seconds: None,
        },
    ));
    assert_eq!(result_code(&res, "a"), None);
    assert_eq!(result_code(&res, "b"), None);
    assert_eq!(result_code(&res, "ghost"), Some(ErrorCode::NotFound));
    assert_eq!(result_code(&res, "h"), Some(ErrorCode::InvalidArgument));
    let got = h.take();
    assert_eq!(
        got.kinds("c"),
        [
            "participant_left",
            "counts_updated",
            "participant_left",
            "counts_updated"
        ]
    );
    assert_eq!(got.kinds("a"), ["room_left"]);
    // b is still there while a goes.
    assert_eq!(
        got.kinds("b"),
        ["participant_left", "counts_updated", "room_left"]
    );
    assert!(h.room.bans(h.now).is_empty(), "no ban asked for");

    // With a ban, an absent identity is banned too.
    let res = results(h.act(
        "h",
        Command::Kick {
            identity: None,
            identities: Some(vec!["c".into(), "ghost".into()]),
            ban_seconds: Some(10),
        },
    ));
    assert!(res.values().all(|r| r.ok));
    let banned: Vec<_> = h.room.bans(h.now).into_iter().map(|b| b.identity).collect();
    assert_eq!(banned, ["c", "ghost"]);
}

#[test]
fn kick_validation() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    h.take();
    let before = h.state();
    let kick =
        |identity: Option<&str>, identities: Option<Vec<String>>, ban: Option<u64>| Command::Kick {
            identity: identity.map(str::to_string),
            identities,
            ban_seconds: ban,
        };
    for (cmd, code) in [
        (kick(Some("h"), None, None), ErrorCode::InvalidArgument),
        (kick(Some("ghost"), None, None), ErrorCode::NotFound),
        (kick(Some("a"), None, Some(0)), ErrorCode::InvalidArgument),
        (
            kick(Some("a"), None, Some(membership::MAX_BAN_SECONDS + 1)),
            ErrorCode::InvalidArgument,
        ),
        (kick(None, None, None), ErrorCode::InvalidArgument),
        (kick(None, Some(vec![]), None), ErrorCode::InvalidArgument),
        (
            kick(Some("a"), Some(vec!["a".into()]), None),
            ErrorCode::InvalidArgument,
        ),
        (kick(Some("*"), None, Some(5)), ErrorCode::InvalidArgument),
    ] {
        assert_eq!(err_code(h.act("h", cmd.clone())), code, "{cmd:?}");
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
}

#[test]
fn kicking_an_absent_identity_with_a_ban_records_it_and_lift_ban_removes_it() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.take();
    let r = h.act(
        "h",
        Command::Kick {
            identity: Some("troll".into()),
            identities: None,
            ban_seconds: Some(3600),
        },
    );
    assert_eq!(r, Ok(Reply::done()));
    assert!(h.take().no_events());
    assert!(h.room.has_active_bans(h.now));
    assert_eq!(
        h.try_join("troll", PARTICIPANT).unwrap_err().code,
        ErrorCode::Banned
    );

    let r = h.act(
        "h",
        Command::LiftBan {
            identity: "troll".into(),
        },
    );
    assert_eq!(r, Ok(Reply::done()));
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(got.host_actions(), [("lift_ban", Ok(()))]);
    assert!(h.room.bans(h.now).is_empty());
    h.join("troll", PARTICIPANT);
    assert_eq!(
        err_code(h.act(
            "h",
            Command::LiftBan {
                identity: "troll".into()
            }
        )),
        ErrorCode::NotFound
    );
}

#[test]
fn bans_expire_on_timeout() {
    let mut h = Harness::new();
    h.server(Command::Kick {
        identity: Some("x".into()),
        identities: None,
        ban_seconds: Some(1),
    })
    .unwrap();
    assert!(h.room.has_active_bans(h.now));
    h.advance(1_000);
    assert!(!h.room.has_active_bans(h.now));
    assert_eq!(h.room.bans.len(), 0, "purged");
}

// ----- end session -----

#[test]
fn end_session_removes_everyone() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.server(Command::Kick {
        identity: Some("troll".into()),
        identities: None,
        ban_seconds: Some(600),
    })
    .unwrap();
    h.server(Command::Pin {
        identity: "g".into(),
    })
    .unwrap();
    let (id, _) = request_id(h.act("h", request_media("p", Source::Camera)));
    h.take();
    let sids: BTreeSet<String> = ["h", "g", "p", "o"].iter().map(|i| h.sid(i)).collect();

    let r = h.act("h", Command::EndSession);
    assert_eq!(r, Ok(Reply::done()));
    let got = h.take();
    for who in ["h", "g", "p", "o"] {
        assert_eq!(
            got.to(who),
            &[Event::RoomLeft {
                reason: LeaveReason::Ended,
                by: Some("h".into())
            }],
            "{who}"
        );
    }
    let closed: BTreeSet<String> = got.disconnects().into_iter().map(|(s, _)| s).collect();
    assert_eq!(closed, sids);
    assert!(got
        .disconnects()
        .iter()
        .all(|(_, r)| *r == LeaveReason::Ended));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert!(h.room.is_empty());
    assert_eq!(h.room.counts(), Counts::default());
    assert_eq!(h.room.pinned(), None);
    assert_eq!(h.room.pending_requests().count(), 0);
    assert_eq!(h.room.poll_timeout(), None);
    // The room (and its bans) stay.
    assert_eq!(
        h.try_join("troll", PARTICIPANT).unwrap_err().code,
        ErrorCode::Banned
    );
    let sid = h.join("h", HOST);
    assert_eq!(h.room.identity_of(&sid), Some("h"));
}

// ----- pin -----

#[test]
fn pin_and_unpin() {
    let (mut h, _) = meeting(RoomSettings::default());
    let everyone = ["h", "g", "p", "o"];
    assert_eq!(
        h.act(
            "h",
            Command::Pin {
                identity: "g".into()
            }
        ),
        Ok(Reply::done())
    );
    let got = h.take();
    let pinned = |who: &str| Event::Pinned {
        identity: who.into(),
        by: Some("h".into()),
    };
    let unpinned = |who: &str, by: Option<&str>| Event::Unpinned {
        identity: who.into(),
        by: by.map(str::to_string),
    };
    for who in everyone {
        assert_eq!(got.to(who), &[pinned("g")]);
    }
    assert_eq!(h.room.pinned(), Some("g"));

    // Pinning someone else unpins the previous one.
    h.act(
        "h",
        Command::Pin {
            identity: "p".into(),
        },
    )
    .unwrap();
    let got = h.take();
    for who in everyone {
        assert_eq!(got.to(who), &[unpinned("g", Some("h")), pinned("p")]);
    }
    // Again: nothing to say.
    h.act(
        "h",
        Command::Pin {
            identity: "p".into(),
        },
    )
    .unwrap();
    assert!(h.take().no_events());

    // A joiner learns the pin from its snapshot.
    h.join("late", PARTICIPANT);
    match h.take().to("late") {
        [Event::Joined { pinned, .. }] => assert_eq!(pinned.as_deref(), Some("p")),
        other => panic!("{other:?}"),
    }

    // Unpin by name only unpins that participant.
    assert_eq!(
        err_code(h.act(
            "h",
            Command::Unpin {
                identity: Some("g".into())
            }
        )),
        ErrorCode::FailedPrecondition
    );
    assert!(h.take().no_events());
    h.act(
        "h",
        Command::Unpin {
            identity: Some("p".into()),
        },
    )
    .unwrap();
    let got = h.take();
    for who in everyone {
        assert_eq!(got.to(who), &[unpinned("p", Some("h"))]);
    }
    assert_eq!(h.room.pinned(), None);
    // Unpinning nothing is fine and silent.
    h.act("h", Command::Unpin { identity: None }).unwrap();
    assert!(h.take().no_events());

    // The pinned participant leaving is unpinned.
    h.act(
        "h",
        Command::Pin {
            identity: "g".into(),
        },
    )
    .unwrap();
    h.take();
    let g_left = left(&h, "g", LeaveReason::Left, None);
    h.act("g", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(got.to("p"), &[unpinned("g", None), g_left, counts(3, 1)]);
    assert_eq!(h.room.pinned(), None);
}

#[test]
fn hidden_participants_cannot_be_pinned() {
    let (mut h, _) = meeting(RoomSettings::default());
    // A client cannot even see it.
    assert_eq!(
        err_code(h.act(
            "h",
            Command::Pin {
                identity: "o".into()
            }
        )),
        ErrorCode::NotFound
    );
    // The server can, but the pin would be seen by everyone.
    assert_eq!(
        err_code(h.server(Command::Pin {
            identity: "o".into()
        })),
        ErrorCode::FailedPrecondition
    );
    assert!(h.take().no_events());
    assert_eq!(h.room.pinned(), None);

    // Becoming hidden drops the pin.
    h.server(Command::Pin {
        identity: "p".into(),
    })
    .unwrap();
    h.take();
    let p_left = Event::ParticipantLeft {
        identity: "p".into(),
        sid: h.sid("p"),
        reason: LeaveReason::Hidden,
        by: Some("api".into()),
    };
    h.server(update(
        "p",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let got = h.take();
    let unpinned = Event::Unpinned {
        identity: "p".into(),
        by: Some("api".into()),
    };
    assert_eq!(got.to("g"), &[unpinned.clone(), p_left, counts(2, 2)]);
    assert_eq!(
        got.kinds("p"),
        [
            "unpinned",
            "participant_updated",
            "permissions_changed",
            "counts_updated"
        ]
    );
    assert_eq!(h.room.pinned(), None);
}

// ----- update participant -----

#[derive(Default)]
struct UpdateFields {
    permissions: Option<PermissionsPatch>,
    role: Option<String>,
    name: Option<String>,
    metadata: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    capabilities: Option<Capabilities>,
}

fn update(identity: &str, f: UpdateFields) -> Command {
    Command::UpdateParticipant {
        identity: identity.into(),
        permissions: f.permissions,
        role: f.role,
        name: f.name,
        metadata: f.metadata,
        attributes: f.attributes,
        capabilities: f.capabilities,
    }
}

#[test]
fn update_participant_revoking_can_send_unpublishes() {
    let (mut h, mic) = meeting(RoomSettings::default());
    h.publish("g", Source::Camera, false);
    h.take();
    let r = h.act(
        "h",
        update(
            "g",
            UpdateFields {
                permissions: Some(PermissionsPatch {
                    can_send: Some(sources(&[Source::Camera])),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    );
    let g = h.info("g");
    assert_eq!(
        r,
        Ok(Reply::Participant {
            participant: g.clone()
        })
    );
    assert_eq!(g.tracks.len(), 1);
    assert_eq!(g.tracks[0].source, Source::Camera);
    let got = h.take();
    let others = [
        Event::TrackUnpublished {
            identity: "g".into(),
            track_sid: mic.sid.clone(),
            source: Source::Microphone,
            reason: UnpublishReason::Permission,
        },
        Event::ParticipantUpdated {
            participant: g.clone(),
            changed: vec!["permissions".into()],
            by: Some("h".into()),
        },
    ];
    for who in ["h", "p", "o"] {
        assert_eq!(got.to(who), &others, "{who}");
    }
    let mut mine = others.to_vec();
    mine.push(Event::PermissionsChanged {
        role: PARTICIPANT.into(),
        permissions: g.permissions.clone(),
        by: Some("h".into()),
    });
    assert_eq!(got.to("g"), mine.as_slice());
    assert_eq!(got.host_actions(), [("update_participant", Ok(()))]);

    // Publishing the revoked source is now refused.
    assert_eq!(
        err_code(h.act(
            "g",
            Command::PublishTrack {
                source: Source::Microphone,
                muted: false,
                name: None
            }
        )),
        ErrorCode::PermissionDenied
    );
}

#[test]
fn update_participant_merges_attributes() {
    let mut h = Harness::new();
    h.join("h", HOST);
    let mut req = h.request("g", PARTICIPANT);
    req.attributes = [("a".to_string(), "1".to_string()), ("b".into(), "2".into())].into();
    h.try_join_req(req).unwrap();
    h.take();
    let attrs: BTreeMap<String, String> =
        [("b".to_string(), String::new()), ("c".into(), "3".into())].into();
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                attributes: Some(attrs.clone()),
                name: Some("Gee".into()),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    let g = h.info("g");
    assert_eq!(
        g.attributes,
        [("a".to_string(), "1".to_string()), ("c".into(), "3".into())].into()
    );
    assert_eq!(g.name, "Gee");
    let got = h.take();
    let expected = Event::ParticipantUpdated {
        participant: g,
        changed: vec!["name".into(), "attributes".into()],
        by: Some("h".into()),
    };
    assert_eq!(got.to("h"), std::slice::from_ref(&expected));
    assert_eq!(got.to("g"), &[expected], "no permissions_changed");

    // The same again changes nothing and says nothing.
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                attributes: Some(attrs),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert!(h.take().no_events());

    // Invalid fields refuse the whole update.
    let before = h.state();
    for f in [
        UpdateFields {
            name: Some("x".repeat(200)),
            metadata: Some("m".into()),
            ..Default::default()
        },
        UpdateFields {
            attributes: Some([(String::new(), "v".to_string())].into()),
            ..Default::default()
        },
        UpdateFields {
            role: Some("emperor".into()),
            ..Default::default()
        },
        UpdateFields {
            attributes: Some(
                (0..100)
                    .map(|i| (format!("k{i}"), "v".to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
    ] {
        assert_eq!(
            err_code(h.act("h", update("g", f))),
            ErrorCode::InvalidArgument
        );
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
}

#[test]
fn update_participant_capabilities_follow_chime_rules() {
    use Capability::*;
    let caps = |audio, video, content| Capabilities {
        audio,
        video,
        content,
    };
    let mut h = Harness::settings(RoomSettings {
        video_max_resolution: VideoResolution::None,
        ..Default::default()
    });
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    h.take();
    let before = h.state();
    for bad in [
        caps(SendReceive, Receive, None),
        caps(SendReceive, Send, None),
        // Content may only receive when video receives.
        caps(SendReceive, None, Receive),
    ] {
        assert_eq!(
            err_code(h.act(
                "h",
                update(
                    "g",
                    UpdateFields {
                        capabilities: Some(bad),
                        ..Default::default()
                    }
                )
            )),
            ErrorCode::InvalidArgument,
            "{bad:?}"
        );
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                capabilities: Some(caps(Receive, None, Send)),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    let p = h.info("g").permissions;
    assert_eq!(
        p.can_send,
        sources(&[Source::ScreenVideo, Source::ScreenAudio])
    );
    assert_eq!(p.can_receive, sources(&[Source::Microphone]));
    assert_eq!(
        Capabilities::of(&p),
        caps(Receive, None, Send),
        "the view round-trips"
    );

    // In a room with video, content SendReceive needs video receive.
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    assert_eq!(
        err_code(h.act(
            "h",
            update(
                "g",
                UpdateFields {
                    capabilities: Some(caps(None, Send, SendReceive)),
                    ..Default::default()
                }
            )
        )),
        ErrorCode::InvalidArgument
    );
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                capabilities: Some(caps(None, Receive, SendReceive)),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert_eq!(
        h.info("g").permissions.can_send,
        sources(&[Source::ScreenVideo, Source::ScreenAudio])
    );
}

#[test]
fn nobody_grants_a_host_control_it_lacks() {
    let mut roles = Roles::default();
    let mut cohost = roles.get(PARTICIPANT).unwrap().clone();
    cohost.host = [HostControl::ManageParticipants, HostControl::Pin].into();
    roles.insert("cohost", cohost);
    let mut h = Harness::with(RoomSettings::default(), roles);
    h.join("c", "cohost");
    h.join("g", PARTICIPANT);
    h.join("k", HOST);
    h.take();
    let before = h.state();
    let host_patch = |controls: &[HostControl]| UpdateFields {
        permissions: Some(PermissionsPatch {
            host: Some(controls.iter().copied().collect()),
            ..Default::default()
        }),
        ..Default::default()
    };
    for f in [
        host_patch(&[HostControl::Kick]),
        UpdateFields {
            role: Some(HOST.into()),
            ..Default::default()
        },
    ] {
        assert_eq!(
            err_code(h.act("c", update("g", f))),
            ErrorCode::PermissionDenied
        );
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
    // What it holds it can hand out.
    h.act("c", update("g", host_patch(&[HostControl::Pin])))
        .unwrap();
    assert_eq!(h.info("g").permissions.host, [HostControl::Pin].into());
    // A target keeps controls it already holds when something else changes.
    h.act(
        "c",
        update(
            "k",
            UpdateFields {
                name: Some("K".into()),
                permissions: Some(PermissionsPatch {
                    can_publish_data: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert_eq!(h.info("k").permissions.host.len(), HostControl::ALL.len());
    // The server holds everything.
    h.server(update("g", host_patch(&[HostControl::EndSession])))
        .unwrap();
    assert_eq!(
        h.info("g").permissions.host,
        [HostControl::EndSession].into()
    );
}

#[test]
fn role_change_resets_permissions_then_patches() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.act(
        "h",
        update(
            "p",
            UpdateFields {
                role: Some(VIEWER.into()),
                permissions: Some(PermissionsPatch {
                    can_send: Some(sources(&[Source::Microphone])),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    let p = h.info("p");
    assert_eq!(p.role, VIEWER);
    assert_eq!(p.permissions.can_send, sources(&[Source::Microphone]));
    assert!(!p.permissions.can_publish_data);
    let got = h.take();
    match got.to("p") {
        [Event::ParticipantUpdated { changed, .. }, Event::PermissionsChanged { role, .. }] => {
            assert_eq!(changed, &["role", "permissions"]);
            assert_eq!(role, VIEWER);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unhiding_a_participant_introduces_it() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.server(update(
        "o",
        UpdateFields {
            role: Some(PARTICIPANT.into()),
            ..Default::default()
        },
    ))
    .unwrap();
    let o = h.info("o");
    let got = h.take();
    for who in ["h", "g", "p"] {
        assert_eq!(
            got.to(who),
            &[
                Event::ParticipantJoined {
                    participant: o.clone()
                },
                counts(4, 0)
            ],
            "{who}"
        );
    }
    assert_eq!(
        got.kinds("o"),
        [
            "participant_updated",
            "permissions_changed",
            "counts_updated"
        ]
    );
}

#[test]
fn hiding_a_participant_with_tracks_tells_only_it_about_them() {
    let (mut h, mic) = meeting(RoomSettings::default());
    // Hidden and stripped of the microphone at once.
    let g_left = Event::ParticipantLeft {
        identity: "g".into(),
        sid: h.sid("g"),
        reason: LeaveReason::Hidden,
        by: Some("api".into()),
    };
    h.server(update(
        "g",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(true),
                can_send: Some(sources(&[Source::Camera])),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let got = h.take();
    assert_eq!(got.to("p"), &[g_left, counts(2, 2)]);
    assert_eq!(
        got.to("g")[0],
        Event::TrackUnpublished {
            identity: "g".into(),
            track_sid: mic.sid,
            source: Source::Microphone,
            reason: UnpublishReason::Permission
        }
    );

    // And back, with the microphone: the others learn of it once, from participant_joined.
    h.publish("g", Source::Camera, false);
    h.take();
    h.server(update(
        "g",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(false),
                can_send: Some(sources(&[Source::Microphone])),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let g = h.info("g");
    assert!(g.tracks.is_empty());
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[Event::ParticipantJoined { participant: g }, counts(3, 1)],
        "no track event about a track the others never saw"
    );
    assert_eq!(
        got.kinds("g"),
        [
            "track_unpublished",
            "participant_updated",
            "permissions_changed",
            "counts_updated"
        ]
    );
}

// ----- move -----

#[test]
fn move_detaches_and_admit_moved_attaches() {
    let (mut a, mic) = meeting(RoomSettings::default());
    a.act(
        "h",
        update(
            "g",
            UpdateFields {
                permissions: Some(PermissionsPatch {
                    can_publish_data: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    a.take();
    let g_before = a.info("g");
    let g_left = left(&a, "g", LeaveReason::Moved, Some("h"));
    let r = a.act(
        "h",
        Command::Move {
            identity: "g".into(),
            destination: "room-b".into(),
        },
    );
    let moving = match r {
        Ok(Reply::MoveApproved {
            moving: Some(moving),
            destination,
        }) => {
            assert_eq!(destination, "room-b");
            *moving
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(moving.info, g_before);
    assert_eq!(moving.from_room, "room-a");
    assert_eq!(moving.by, "h");
    let got = a.take();
    assert_eq!(got.to("g"), &[], "the session lives on in the destination");
    assert!(got.disconnects().is_empty());
    for who in ["h", "p", "o"] {
        assert_eq!(got.to(who), &[g_left.clone(), counts(2, 1)], "{who}");
    }
    assert!(a.room.participant("g").is_none());

    let mut b = Harness::named("room-b", RoomSettings::default(), Roles::default());
    b.join("x", PARTICIPANT);
    b.take();
    b.now += 5_000;
    let sid = b.admit_moved(moving).unwrap();
    assert_eq!(sid, g_before.sid);
    let g = b.info("g");
    assert_eq!(g.tracks, vec![mic]);
    assert_eq!(g.permissions, g_before.permissions);
    assert_eq!(g.role, g_before.role);
    assert_eq!(g.joined_at, T0 + 5_000);
    let got = b.take();
    assert_eq!(
        got.to("g"),
        &[
            Event::Moved {
                from: "room-a".into(),
                room: "room-b".into(),
                by: Some("h".into())
            },
            Event::Joined {
                room: b.room.info(),
                me: g.clone(),
                participants: vec![b.info("x")],
                counts: Counts {
                    present: 2,
                    hidden: 0
                },
                pinned: None,
                active_speakers: vec![],
            }
        ]
    );
    assert_eq!(
        got.to("x"),
        &[Event::ParticipantJoined { participant: g }, counts(2, 0)]
    );
}

#[test]
fn move_validation() {
    let (mut h, _) = meeting(RoomSettings::default());
    let before = h.state();
    let mv = |identity: &str, destination: &str| Command::Move {
        identity: identity.into(),
        destination: destination.into(),
    };
    for (cmd, code) in [
        (mv("g", "room-a"), ErrorCode::InvalidArgument),
        (mv("g", "bad/name"), ErrorCode::InvalidArgument),
        (mv("ghost", "room-b"), ErrorCode::NotFound),
        (mv("o", "room-b"), ErrorCode::NotFound),
    ] {
        assert_eq!(err_code(h.act("h", cmd.clone())), code, "{cmd:?}");
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
    // The server may move hidden participants; nobody else hears of it.
    assert!(matches!(
        h.server(mv("o", "room-b")),
        Ok(Reply::MoveApproved { .. })
    ));
    let got = h.take();
    for who in ["h", "g", "p"] {
        assert_eq!(got.to(who), &[counts(3, 0)]);
    }
}

#[test]
fn admit_moved_respects_bans_and_room_settings() {
    let (mut a, _) = meeting(RoomSettings::default());
    a.publish("g", Source::Camera, false);
    let moving = match a.server(Command::Move {
        identity: "g".into(),
        destination: "room-b".into(),
    }) {
        Ok(Reply::MoveApproved {
            moving: Some(m), ..
        }) => *m,
        other => panic!("{other:?}"),
    };
    let mut b = Harness::named(
        "room-b",
        RoomSettings {
            video_max_resolution: VideoResolution::None,
            ..Default::default()
        },
        Roles::default(),
    );
    b.server(Command::Kick {
        identity: Some("g".into()),
        identities: None,
        ban_seconds: Some(60),
    })
    .unwrap();
    assert_eq!(
        b.room.can_admit(b.now, "g").unwrap_err().code,
        ErrorCode::Banned
    );
    assert_eq!(
        b.admit_moved(moving.clone()).unwrap_err().code,
        ErrorCode::Banned
    );
    assert!(b.take().no_events());
    b.server(Command::LiftBan {
        identity: "g".into(),
    })
    .unwrap();
    b.admit_moved(moving).unwrap();
    let g = b.info("g");
    assert!(!g.permissions.can_send.contains(&Source::Camera));
    assert_eq!(
        g.tracks.iter().map(|t| t.source).collect::<Vec<_>>(),
        [Source::Microphone],
        "the camera track does not survive a room without video"
    );
}

// ----- active speaker -----

fn speak(h: &mut Harness, who: &str, level: u8, windows: u64) {
    for _ in 0..windows {
        let start = h.now;
        for i in 0..8 {
            h.now = start + i * 50;
            h.act(who, Command::AudioLevel { level }).unwrap();
        }
        h.now = start;
        h.advance(400);
    }
}

#[test]
fn active_speaker_detection() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.join("o", OBSERVER);
    let a_mic = h.publish("a", Source::Microphone, false);
    h.publish("b", Source::Microphone, false);
    h.take();

    // One loud window makes `a` the active speaker.
    speak(&mut h, "a", 20, 1);
    let got = h.take();
    for who in ["a", "b", "o"] {
        match got.to(who) {
            [Event::ActiveSpeakers { speakers }, Event::ActiveSpeakerChanged { identity }] => {
                assert_eq!(speakers.len(), 1);
                assert_eq!(speakers[0].identity, "a");
                let expected = crate::speaker::linear(20) * 0.5;
                assert!((speakers[0].level - expected).abs() < 1e-6);
                assert_eq!(identity.as_deref(), Some("a"));
            }
            other => panic!("{who}: {other:?}"),
        }
    }
    assert_eq!(h.info("a").speaking_time_ms, 400);
    assert_eq!(h.room.active_speakers().len(), 1);

    // Still speaking: time accumulates, nothing is sent.
    speak(&mut h, "a", 20, 2);
    assert!(h.take().no_events());
    assert_eq!(h.info("a").speaking_time_ms, 1200);

    // Two quiet windows end it; `a` stays the (sticky) active speaker.
    speak(&mut h, "a", 120, 1);
    assert!(h.take().no_events(), "hangover");
    speak(&mut h, "a", 120, 1);
    let got = h.take();
    assert_eq!(got.to("b"), &[Event::ActiveSpeakers { speakers: vec![] }]);
    assert_eq!(h.info("a").speaking_time_ms, 1600);

    // A muted microphone's levels are ignored.
    h.act(
        "a",
        Command::SetTrackMuted {
            track_sid: a_mic.sid.clone(),
            muted: true,
        },
    )
    .unwrap();
    h.take();
    // (Counted, these would start it speaking again.)
    speak(&mut h, "a", 5, 2);
    assert!(h.take().no_events());
    assert_eq!(h.info("a").speaking_time_ms, 1600);
    // Levels are RFC 6464.
    assert_eq!(
        err_code(h.act("a", Command::AudioLevel { level: 128 })),
        ErrorCode::InvalidArgument
    );

    // Another speaker takes over.
    speak(&mut h, "b", 10, 1);
    let got = h.take();
    assert_eq!(
        got.kinds("a"),
        ["active_speakers", "active_speaker_changed"]
    );
    assert_eq!(
        got.to("a")[1],
        Event::ActiveSpeakerChanged {
            identity: Some("b".into())
        }
    );
    // A joiner gets the list in its snapshot.
    h.join("late", PARTICIPANT);
    match h.take().to("late") {
        [Event::Joined {
            active_speakers, ..
        }] => assert_eq!(active_speakers[0].identity, "b"),
        other => panic!("{other:?}"),
    }

    // The active speaker leaving clears it.
    h.act("b", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(
        got.kinds("a"),
        [
            "active_speakers",
            "active_speaker_changed",
            "participant_left",
            "counts_updated"
        ]
    );
    assert_eq!(
        got.to("a")[1],
        Event::ActiveSpeakerChanged { identity: None }
    );
}

#[test]
fn active_speaker_becoming_hidden_is_no_longer_the_active_speaker() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.publish("a", Source::Microphone, false);
    speak(&mut h, "a", 20, 1);
    h.take();
    h.server(update(
        "a",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let got = h.take();
    assert_eq!(
        got.kinds("b"),
        [
            "active_speakers",
            "active_speaker_changed",
            "participant_left",
            "counts_updated"
        ]
    );
    assert_eq!(
        got.to("b")[1],
        Event::ActiveSpeakerChanged { identity: None }
    );
    assert!(h.room.active_speakers().is_empty());
}

// ----- authorization -----

/// Every host control, valid for a host: a fresh room for each, so each can be checked alone.
fn host_controls() -> Vec<Command> {
    vec![
        mute("t", Source::Microphone),
        request_media("t", Source::Camera),
        Command::MuteAll {
            source: Source::Microphone,
            except: vec![],
        },
        batch(vec![("t", audio_off())]),
        batch(vec![("*", audio_off())]),
        batch(vec![(
            "t",
            BatchEntry {
                metadata: Some("m".into()),
                ..Default::default()
            },
        )]),
        batch(vec![(
            "t",
            BatchEntry {
                eject: true,
                ..Default::default()
            },
        )]),
        Command::Kick {
            identity: Some("t".into()),
            identities: None,
            ban_seconds: Some(60),
        },
        Command::Kick {
            identity: None,
            identities: Some(vec!["t".into(), "absent".into()]),
            ban_seconds: Some(60),
        },
        Command::EndSession,
        Command::Pin {
            identity: "t".into(),
        },
        Command::Unpin { identity: None },
        update(
            "t",
            UpdateFields {
                name: Some("Tee".into()),
                ..Default::default()
            },
        ),
        update(
            "t",
            UpdateFields {
                permissions: Some(PermissionsPatch {
                    can_send: Some(Default::default()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
        Command::Move {
            identity: "t".into(),
            destination: "elsewhere".into(),
        },
        Command::LiftBan {
            identity: "banned".into(),
        },
    ]
}

#[test]
fn only_hosts_may_use_host_controls() {
    for command in host_controls() {
        assert!(command.is_host_control());
        for role in [HOST, PARTICIPANT, VIEWER, OBSERVER] {
            let mut h = Harness::new();
            h.join("actor", role);
            h.join("t", PARTICIPANT);
            h.join("w", PARTICIPANT);
            h.publish("t", Source::Microphone, false);
            h.publish("t", Source::Camera, true);
            h.publish("w", Source::Microphone, false);
            h.server(Command::Kick {
                identity: Some("banned".into()),
                identities: None,
                ban_seconds: Some(600),
            })
            .unwrap();
            h.server(Command::Pin {
                identity: "w".into(),
            })
            .unwrap();
            h.take();
            let before = h.state();
            let r = h.act("actor", command.clone());
            let got = h.take();
            let actions = got.host_actions();
            assert_eq!(actions.len(), 1, "one audit entry: {command:?} as {role}");
            assert_eq!(actions[0].0, command.action());
            if role == HOST {
                assert!(r.is_ok(), "{command:?} as host: {r:?}");
                if let Ok(Reply::Results { results }) = &r {
                    assert!(results.values().all(|r| r.ok), "{command:?}: {results:?}");
                }
                assert_eq!(actions[0].1, Ok(()));
                let changed = !got.no_events() || h.state() != before;
                assert!(changed, "{command:?} as host did nothing");
            } else {
                assert_eq!(
                    r.as_ref().map_err(|e| e.code),
                    Err(ErrorCode::PermissionDenied),
                    "{command:?} as {role}"
                );
                assert_eq!(actions[0].1, Err(ErrorCode::PermissionDenied));
                assert!(got.no_events(), "{command:?} as {role}: {got:?}");
                assert!(got.disconnects().is_empty() && got.resolved().is_empty());
                assert_eq!(h.state(), before, "{command:?} as {role}");
            }
        }
    }
}

#[test]
fn the_server_holds_every_host_control() {
    for command in host_controls() {
        let mut h = Harness::new();
        h.join("t", PARTICIPANT);
        h.join("w", PARTICIPANT);
        h.publish("t", Source::Microphone, false);
        h.publish("t", Source::Camera, true);
        h.server(Command::Kick {
            identity: Some("banned".into()),
            identities: None,
            ban_seconds: Some(600),
        })
        .unwrap();
        h.take();
        let r = h.server(command.clone());
        assert!(r.is_ok(), "{command:?}: {r:?}");
        let actions = h.take().host_actions();
        assert_eq!(actions, [(command.action(), Ok(()))]);
    }
}

#[test]
fn commands_from_a_departed_session_are_refused() {
    let mut h = Harness::new();
    h.join("h", HOST);
    let sid = h.join("g", PARTICIPANT);
    h.act("g", Command::Leave).unwrap();
    h.take();
    let before = h.state();
    for command in [Command::Ping, Command::EndSession, Command::Leave] {
        let r = h.run(&Actor::Participant { sid: sid.clone() }, command);
        assert_eq!(err_code(r), ErrorCode::FailedPrecondition);
    }
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(h.state(), before);
    assert_eq!(h.act("h", Command::Ping), Ok(Reply::Pong { pong: true }));
}

/// The outputs that feed durable state: ban changes (set and lifted), the end of each session,
/// and the parameters of every host action.
#[test]
fn durable_outputs_for_bans_sessions_and_audit() {
    let roles = Arc::new(Roles::default());
    let mut room = Room::new("d", RoomSettings::default(), roles.clone(), 1);
    let join = |identity: &str, role: &str| JoinRequest {
        identity: identity.into(),
        name: identity.into(),
        metadata: String::new(),
        attributes: Default::default(),
        role: role.into(),
        permissions: roles.get(role).unwrap().clone(),
        issued_at: None,
    };
    room.join(1_000, join("host", HOST)).unwrap();
    room.join(1_000, join("bob", PARTICIPANT)).unwrap();
    while room.poll_output().is_some() {}
    let kick = Command::Kick {
        identity: Some("bob".into()),
        identities: None,
        ban_seconds: Some(60),
    };
    room.handle(5_000, &Actor::server("api"), kick.clone())
        .unwrap();
    let outs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(outs.contains(&Output::BanChanged {
        identity: "bob".into(),
        until: Some(65_000),
        by: "api".into()
    }));
    let ended = outs.iter().find_map(|o| match o {
        Output::SessionEnded {
            participant,
            reason,
        } => Some((participant.identity.clone(), participant.joined_at, *reason)),
        _ => None,
    });
    assert_eq!(ended, Some(("bob".into(), 1_000, LeaveReason::Kicked)));
    let audited = outs.iter().find_map(|o| match o {
        Output::HostAction { command, .. } => Some(command.as_ref().clone()),
        _ => None,
    });
    assert_eq!(audited, Some(kick));
    room.handle(
        6_000,
        &Actor::server("api"),
        Command::LiftBan {
            identity: "bob".into(),
        },
    )
    .unwrap();
    let outs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(outs.contains(&Output::BanChanged {
        identity: "bob".into(),
        until: None,
        by: "api".into()
    }));
    // A ban restored from storage keeps the identity out.
    room.restore_ban("bob", 100_000, "api");
    assert_eq!(
        room.join(7_000, join("bob", PARTICIPANT)).unwrap_err().code,
        ErrorCode::Banned
    );
}

#[test]
fn revoked_tokens_cannot_rejoin_but_new_ones_can() {
    let roles = Arc::new(Roles::default());
    let mut room = Room::new("r", RoomSettings::default(), roles.clone(), 3);
    let join = |issued_at: Option<Millis>| JoinRequest {
        identity: "bob".into(),
        name: String::new(),
        metadata: String::new(),
        attributes: Default::default(),
        role: PARTICIPANT.into(),
        permissions: roles.get(PARTICIPANT).unwrap().clone(),
        issued_at,
    };
    room.join(1_000, join(Some(0))).unwrap();
    let revoke = Command::RevokeTokens {
        identity: "bob".into(),
        before: None,
    };
    // Only kick-holders may revoke; a refusal changes nothing.
    room.join(
        1_000,
        JoinRequest {
            identity: "pat".into(),
            ..join(Some(0))
        },
    )
    .unwrap();
    let pat = room.participants["pat"].sid().to_string();
    let denied = room.handle(2_000, &Actor::Participant { sid: pat }, revoke.clone());
    assert_eq!(err_code(denied), ErrorCode::PermissionDenied);
    room.handle(5_500, &Actor::server("api"), revoke).unwrap();
    let outs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(outs.contains(&Output::TokensRevoked {
        identity: "bob".into(),
        before: 5_500,
        by: "api".into()
    }));
    for old in [None, Some(0), Some(5_000)] {
        let e = room.join(6_000, join(old)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthenticated, "{old:?}");
    }
    // Issued in a later second: fine.
    room.join(6_000, join(Some(6_000))).unwrap();
}

// ----- data messages and room metadata -----

fn data(payload: &str, to: &[&str]) -> Command {
    Command::SendData {
        payload: payload.into(),
        topic: Some("chat".into()),
        destination_identities: to.iter().map(|s| s.to_string()).collect(),
        reliable: true,
    }
}

fn data_event(from: Option<&str>, payload: &str) -> Event {
    Event::DataReceived {
        from: from.map(str::to_string),
        payload: payload.into(),
        topic: Some("chat".into()),
        reliable: true,
    }
}

#[test]
fn data_from_a_participant_reaches_everyone_else_or_its_destinations() {
    let mut h = Harness::new();
    h.join("host", HOST);
    h.join("ann", PARTICIPANT);
    h.join("bob", PARTICIPANT);
    h.join("spy", OBSERVER);
    h.take();

    h.act("ann", data("aGk=", &[])).unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["bob", "host", "spy"].into());
    assert_eq!(got.to("bob"), [data_event(Some("ann"), "aGk=")]);

    // Destinations: absent ones are skipped, and a participant cannot reach a hidden one.
    h.act("ann", data("aGk=", &["bob", "nobody", "spy"]))
        .unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["bob"].into());

    // The server reaches hidden participants and sends without `from`.
    h.server(data("aGk=", &["spy"])).unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["spy"].into());
    assert_eq!(got.to("spy"), [data_event(None, "aGk=")]);
    assert!(
        got.host_actions().is_empty(),
        "data is not a moderation action"
    );
}

#[test]
fn data_needs_can_publish_data_and_valid_input() {
    let mut h = Harness::new();
    h.join("ann", PARTICIPANT);
    h.join("vic", VIEWER);
    h.join("spy", OBSERVER);
    h.take();
    assert_eq!(
        err_code(h.act("vic", data("aGk=", &[]))),
        ErrorCode::PermissionDenied
    );
    h.server(Command::UpdateParticipant {
        identity: "spy".into(),
        permissions: Some(PermissionsPatch {
            can_publish_data: Some(true),
            ..Default::default()
        }),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    h.take();
    assert_eq!(
        err_code(h.act("spy", data("aGk=", &[]))),
        ErrorCode::FailedPrecondition
    );
    for bad in ["", "not base64!", "aGk", "a===", "aGk=aGk="] {
        assert_eq!(
            err_code(h.act("ann", data(bad, &[]))),
            ErrorCode::InvalidArgument,
            "{bad:?}"
        );
    }
    let big = "A".repeat(crate::ids::MAX_DATA_PAYLOAD + 4);
    assert_eq!(
        err_code(h.act("ann", data(&big, &[]))),
        ErrorCode::InvalidArgument
    );
    assert!(h.take().no_events(), "refused data changes nothing");
}

#[test]
fn room_metadata_update_reaches_everyone_and_is_made_durable() {
    let mut h = Harness::new();
    h.join("host", HOST);
    h.join("ann", PARTICIPANT);
    h.take();
    let update = |m: &str| Command::UpdateRoomMetadata { metadata: m.into() };
    assert_eq!(
        err_code(h.act("ann", update("x"))),
        ErrorCode::PermissionDenied
    );
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(
        got.host_actions(),
        [("update_room_metadata", Err(ErrorCode::PermissionDenied))]
    );

    h.act("host", update("{\"topic\":\"launch\"}")).unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["ann", "host"].into());
    match &got.to("ann")[0] {
        Event::RoomUpdated { room, by } => {
            assert_eq!(room.settings.metadata, "{\"topic\":\"launch\"}");
            assert_eq!(by.as_deref(), Some("host"));
        }
        other => panic!("expected room_updated, got {other:?}"),
    }
    assert!(got
        .effects
        .iter()
        .any(|o| matches!(o, Output::SettingsChanged { settings } if settings.metadata.contains("launch"))));
    assert_eq!(h.room.settings().metadata, "{\"topic\":\"launch\"}");

    // The same metadata again changes nothing.
    h.server(update("{\"topic\":\"launch\"}")).unwrap();
    assert!(h.take().no_events());
    let too_big = "x".repeat(crate::ids::MAX_METADATA + 1);
    assert_eq!(
        err_code(h.server(update(&too_big))),
        ErrorCode::InvalidArgument
    );
}

// ----- large rooms: unlisted audience, coalesced counts -----

fn large(limit: u32) -> Harness {
    Harness::settings(RoomSettings {
        listed_limit: limit,
        ..Default::default()
    })
}

#[test]
fn past_the_listed_limit_audience_joins_are_counted_not_announced() {
    let mut h = large(2);
    h.join("host", HOST);
    h.join("v1", VIEWER);
    h.take();
    h.advance(2_000);
    h.take();

    // The third participant is audience in a room at its limit: nobody hears of it but itself.
    h.join("v2", VIEWER);
    let got = h.take();
    assert_eq!(got.recipients(), ["v2"].into());
    match &got.to("v2")[0] {
        Event::Joined {
            participants,
            counts,
            ..
        } => {
            let names: Vec<&str> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(names, ["host", "v1"]);
            assert_eq!(counts.present, 3, "the snapshot's counts are exact");
        }
        other => panic!("{other:?}"),
    }
    // Counts go out once, coalesced, from the timer.
    h.join("v3", VIEWER);
    assert!(h.take().no_events() || h.room.counts_pending());
    assert!(h.room.counts_pending());
    let due = h.room.poll_timeout().unwrap();
    h.advance(due - h.now);
    let got = h.take();
    assert_eq!(got.to("host"), [counts(4, 0)]);
    assert_eq!(got.to("v3"), [counts(4, 0)]);

    // A participant who may send is always announced.
    h.join("speaker", PARTICIPANT);
    let got = h.take();
    assert!(got.kinds("host").contains(&"participant_joined"));

    // An unlisted member leaving is not announced either.
    h.disconnect("v2");
    let got = h.take();
    assert!(!got.kinds("host").contains(&"participant_left"));

    // Hosts can still act on unlisted members by identity and page through everyone.
    let page = h
        .act(
            "host",
            Command::ListParticipants {
                after: Some("speaker".into()),
                limit: Some(10),
            },
        )
        .unwrap();
    match page {
        Reply::Participants {
            participants,
            counts,
        } => {
            let names: Vec<&str> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(names, ["v1", "v3"]);
            assert_eq!(counts.present, 4);
        }
        other => panic!("{other:?}"),
    }
    h.act(
        "host",
        Command::Kick {
            identity: Some("v3".into()),
            identities: None,
            ban_seconds: None,
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.disconnects().len(), 1);
    assert!(!got.kinds("host").contains(&"participant_left"));
}

#[test]
fn unlisted_audience_is_announced_when_promoted_pinned_or_speaking_in_data() {
    let mut h = large(1);
    h.join("host", HOST);
    h.join("a", VIEWER);
    h.join("b", VIEWER);
    h.join("c", VIEWER);
    h.take();
    // Promotion to a sender.
    h.server(Command::UpdateParticipant {
        identity: "a".into(),
        permissions: None,
        role: Some(PARTICIPANT.into()),
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    let got = h.take();
    assert_eq!(got.kinds("host")[0], "participant_joined");
    assert!(got.kinds("b").contains(&"participant_joined"));
    // Pinning.
    h.act(
        "host",
        Command::Pin {
            identity: "b".into(),
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.kinds("host"), ["participant_joined", "pinned"]);
    // Sending data (with the permission to).
    h.server(Command::UpdateParticipant {
        identity: "c".into(),
        permissions: Some(PermissionsPatch {
            can_publish_data: Some(true),
            ..Default::default()
        }),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    assert_eq!(h.take().recipients(), ["c"].into(), "still unlisted");
    h.act("c", data("aGk=", &[])).unwrap();
    assert_eq!(
        h.take().kinds("host"),
        ["participant_joined", "data_received"]
    );
}

#[test]
fn listed_limit_zero_announces_everyone() {
    let mut h = large(0);
    for i in 0..5 {
        h.join(&format!("v{i}"), VIEWER);
    }
    let got = h.take();
    assert!(got.kinds("v0").contains(&"participant_joined"));
    assert!(!h.room.counts_pending());
}

// ----- presets (Chime attendee capabilities) -----

fn caps(audio: Capability, video: Capability, content: Capability) -> Capabilities {
    Capabilities {
        audio,
        video,
        content,
    }
}

fn set_preset(identity: &str, c: Option<Capabilities>) -> Command {
    Command::SetPreset {
        identity: identity.into(),
        capabilities: c,
    }
}

fn preset_changes(got: &Got) -> Vec<(String, Option<Capabilities>)> {
    got.effects
        .iter()
        .filter_map(|o| match o {
            Output::PresetChanged {
                identity,
                capabilities,
            } => Some((identity.clone(), *capabilities)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_preset_applies_when_its_identity_joins() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    h.take();
    let audio_only = caps(SendReceive, None, None);
    let r = h.server(set_preset("a", Some(audio_only))).unwrap();
    assert_eq!(
        r,
        Reply::Preset {
            identity: "a".into(),
            capabilities: audio_only
        }
    );
    let got = h.take();
    assert!(got.no_events(), "nobody is told about an absent identity");
    assert_eq!(preset_changes(&got), [("a".to_string(), Some(audio_only))]);
    assert_eq!(h.room.preset("a"), Some(audio_only));

    h.join("a", PARTICIPANT);
    let p = h.info("a").permissions;
    assert_eq!(p.can_send, sources(&[Source::Microphone]));
    assert_eq!(p.can_receive, sources(&[Source::Microphone]));
    assert!(p.can_publish_data, "only send/receive change");
    let refused = h.act(
        "a",
        Command::PublishTrack {
            source: Source::Camera,
            muted: false,
            name: Option::None,
        },
    );
    assert_eq!(err_code(refused), ErrorCode::PermissionDenied);
    // Identities without a preset join with what their token grants.
    h.join("b", PARTICIPANT);
    assert_eq!(h.info("b").permissions.can_send.len(), 4);
}

#[test]
fn setting_a_preset_of_a_present_participant_applies_it_live() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    let mic = h.publish("a", Source::Microphone, false);
    let cam = h.publish("a", Source::Camera, false);
    h.take();
    h.act("h", set_preset("a", Some(caps(Receive, SendReceive, None))))
        .unwrap();
    let got = h.take();
    for who in ["h", "a"] {
        assert_eq!(
            got.kinds(who)[..2],
            ["track_unpublished", "participant_updated"],
            "{who}"
        );
        assert!(matches!(
            &got.to(who)[0],
            Event::TrackUnpublished { track_sid, reason: UnpublishReason::Permission, .. }
                if *track_sid == mic.sid
        ));
    }
    assert_eq!(got.kinds("a").last(), Some(&"permissions_changed"));
    assert_eq!(h.track("a", Source::Camera), cam, "the camera stays");
    assert_eq!(h.info("a").permissions.can_send, sources(&[Source::Camera]));
    assert_eq!(
        got.host_actions(),
        [("set_preset", Ok(()))],
        "audited like every host control"
    );
    // The same preset again changes nothing and stores nothing.
    h.act("h", set_preset("a", Some(caps(Receive, SendReceive, None))))
        .unwrap();
    let got = h.take();
    assert!(got.no_events());
    assert!(preset_changes(&got).is_empty());
}

#[test]
fn presets_follow_seed_004_and_a_refusal_changes_nothing() {
    use Capability::*;
    let mut h = Harness::settings(RoomSettings {
        video_max_resolution: VideoResolution::None,
        ..Default::default()
    });
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    h.server(set_preset("g", Some(caps(SendReceive, None, Send))))
        .unwrap();
    h.take();
    let before = (h.state(), h.room.preset("g"));
    for bad in [
        caps(SendReceive, Receive, None),
        caps(SendReceive, Send, None),
        caps(SendReceive, SendReceive, None),
        caps(SendReceive, None, Receive),
        caps(SendReceive, None, SendReceive),
    ] {
        for cmd in [
            set_preset("g", Some(bad)),
            set_preset("new", Some(bad)),
            Command::SetPresetsExcept {
                except: vec![],
                capabilities: bad,
            },
        ] {
            assert_eq!(
                err_code(h.server(cmd)),
                ErrorCode::InvalidArgument,
                "{bad:?}"
            );
            let got = h.take();
            assert!(got.no_events() && preset_changes(&got).is_empty());
            assert_eq!((h.state(), h.room.preset("g")), before);
            assert_eq!(h.room.preset("new"), Option::None);
        }
    }
    // Without capabilities, the room's defaults: no video but content → Video Receive and
    // Content SendReceive (seed 004), even though a request could not ask for Video Receive.
    h.server(set_preset("d", Option::None)).unwrap();
    assert_eq!(
        h.room.preset("d"),
        Some(caps(SendReceive, Receive, SendReceive))
    );
    h.join("d", PARTICIPANT);
    let p = h.info("d").permissions;
    let screen_and_mic = sources(&[Source::Microphone, Source::ScreenVideo, Source::ScreenAudio]);
    assert_eq!(p.can_send, screen_and_mic, "the room forbids the camera");
    assert_eq!(p.can_receive, screen_and_mic);
    // Content MaxResolution None: any content capability but None is refused.
    let mut h = Harness::settings(RoomSettings {
        content_max_resolution: ContentResolution::None,
        ..Default::default()
    });
    for c in [SendReceive, Send, Receive] {
        let r = h.server(set_preset("x", Some(caps(None, SendReceive, c))));
        assert_eq!(err_code(r), ErrorCode::InvalidArgument);
    }
    h.server(set_preset("x", Some(caps(None, Receive, None))))
        .unwrap();
}

#[test]
fn set_presets_except_touches_every_preset_but_the_excluded() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    for id in ["a", "b", "c"] {
        h.server(set_preset(id, Option::None)).unwrap();
    }
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.join("native", PARTICIPANT);
    let cam = h.publish("a", Source::Camera, false);
    h.publish("b", Source::Camera, false);
    h.take();
    let audio_only = caps(SendReceive, Receive, None);
    let r = h
        .server(Command::SetPresetsExcept {
            except: vec!["b".into(), "unknown".into()],
            capabilities: audio_only,
        })
        .unwrap();
    assert_eq!(
        results(Ok(r)).keys().cloned().collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert_eq!(h.room.preset("a"), Some(audio_only));
    assert_eq!(h.room.preset("c"), Some(audio_only));
    assert_eq!(
        h.room.preset("b"),
        Some(Capabilities::defaults(
            VideoResolution::HD,
            ContentResolution::FHD
        ))
    );
    assert_eq!(h.room.preset("native"), Option::None);
    let got = h.take();
    assert!(got.to("a").iter().any(|e| matches!(
        e,
        Event::TrackUnpublished { track_sid, .. } if *track_sid == cam.sid
    )));
    assert_eq!(got.kinds("a").last(), Some(&"permissions_changed"));
    assert!(!got.kinds("b").contains(&"permissions_changed"));
    assert!(!got.kinds("native").contains(&"permissions_changed"));
    assert_eq!(h.info("native").permissions.can_send.len(), 4);
    let mut changed = preset_changes(&got);
    changed.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        changed,
        [
            ("a".to_string(), Some(audio_only)),
            ("c".to_string(), Some(audio_only))
        ]
    );
}

#[test]
fn dropping_a_preset_and_who_may_set_one() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    h.take();
    // A participant without manage_participants is refused, and nothing changes.
    let r = h.act("g", set_preset("x", Some(caps(None, None, None))));
    assert_eq!(err_code(r), ErrorCode::PermissionDenied);
    let got = h.take();
    assert!(preset_changes(&got).is_empty());
    assert_eq!(
        got.host_actions(),
        [("set_preset", Err(ErrorCode::PermissionDenied))]
    );
    assert_eq!(h.room.preset("x"), Option::None);

    h.act("h", set_preset("x", Some(caps(Receive, None, None))))
        .unwrap();
    // update_participant with capabilities keeps an existing preset in step.
    h.join("x", PARTICIPANT);
    h.act(
        "h",
        update(
            "x",
            UpdateFields {
                capabilities: Some(caps(SendReceive, None, None)),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert_eq!(h.room.preset("x"), Some(caps(SendReceive, None, None)));
    h.take();
    h.server(Command::DropPreset {
        identity: "x".into(),
    })
    .unwrap();
    assert_eq!(preset_changes(&h.take()), [("x".to_string(), Option::None)]);
    assert_eq!(h.room.preset("x"), Option::None);
    h.disconnect("x");
    h.join("x", PARTICIPANT);
    assert_eq!(
        h.info("x").permissions.can_send.len(),
        4,
        "the token rules again"
    );
    let r = h.server(Command::DropPreset {
        identity: "x".into(),
    });
    assert_eq!(err_code(r), ErrorCode::NotFound);
    // Restored presets (from storage) apply like any other.
    h.room.restore_preset("y", caps(None, Receive, None));
    h.join("y", PARTICIPANT);
    assert!(h.info("y").permissions.can_send.is_empty());
}

#[test]
fn a_revocation_for_every_identity_voids_all_older_tokens() {
    let mut h = Harness::new();
    h.room.revoke_tokens(EVERY_IDENTITY, T0);
    let mut old = h.request("a", PARTICIPANT);
    old.issued_at = Some(T0 - 1000);
    assert_eq!(err_code_of(h.try_join_req(old)), ErrorCode::Unauthenticated);
    let mut unknown = h.request("b", PARTICIPANT);
    unknown.issued_at = None;
    assert_eq!(
        err_code_of(h.try_join_req(unknown)),
        ErrorCode::Unauthenticated
    );
    let mut fresh = h.request("c", PARTICIPANT);
    fresh.issued_at = Some(T0 + 1000);
    h.try_join_req(fresh).unwrap();
    // Nobody can revoke it through a command: `*` is not an identity.
    let r = h.server(Command::RevokeTokens {
        identity: EVERY_IDENTITY.into(),
        before: None,
    });
    assert_eq!(err_code(r), ErrorCode::InvalidArgument);
}

fn err_code_of<T: std::fmt::Debug>(r: Result<T>) -> ErrorCode {
    r.expect_err("expected an error").code
}
