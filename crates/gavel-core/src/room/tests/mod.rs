//! Unit tests of the room: one per host control and self action, asserting exactly which events
//! each session receives.
//!
//! [`Harness`] drives one [`Room`], drains its outputs after every input and resolves each
//! event's [`Audience`] against the sessions in the room *at that point of the output stream*
//! (a session removed with `Disconnect` stops receiving from there; a joiner starts with its
//! `joined`). Events are then grouped per recipient, labelled by identity.
//!
//! The harness and the helpers shared by several areas live here; the tests are in one
//! submodule per area, after the `room` modules they exercise.

mod authorization;
mod batch;
mod breakouts;
mod consent;
mod data;
mod forwarding;
mod hands;
mod host_left;
mod large_room;
mod lock;
mod media;
mod membership;
mod pin;
mod preset;
mod speaker;
mod stage;
mod update;
mod waiting;

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
    /// The participant an approved move handed over, if any.
    fn moved_out(&self) -> Option<crate::command::MovingParticipant> {
        self.effects.iter().find_map(|o| match o {
            Output::MovedOut { moving } => Some((**moving).clone()),
            _ => None,
        })
    }
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
/// `before` are the sessions in the room and in its waiting room before the input that
/// produced them. Like the shell, it keeps waiting sessions out of the room's audience: they
/// get only what is addressed to them, and the harness fails if that is anything but their
/// own status or the end of their session.
fn drain(room: &mut Room, before: &Sessions) -> (BTreeMap<String, Vec<Event>>, Vec<Output>) {
    let (before, before_waiting) = before;
    let after: BTreeSet<String> = room.by_sid.keys().cloned().collect();
    let waiting_after: BTreeSet<String> = room.waiting.by_sid.keys().cloned().collect();
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
    let admitted: BTreeSet<String> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::WaiterAdmitted { sid } => Some(sid.clone()),
            _ => None,
        })
        .collect();
    let mut waiting: BTreeSet<String> = before_waiting
        .iter()
        .filter(|s| waiting_after.contains(*s) || closed.contains(*s) || admitted.contains(*s))
        .cloned()
        .collect();
    let mut events: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut effects = Vec::new();
    for o in outputs {
        match o {
            Output::Event { to, event } => {
                if let (Audience::Only(sid), Event::Waiting { .. }) = (&to, &*event) {
                    assert!(!members.contains(sid), "waiting sent to a participant");
                    waiting.insert(sid.clone());
                }
                let addressed = matches!(to, Audience::Only(_) | Audience::Sessions(_));
                for w in waiting.iter().filter(|w| addressed && to.includes(w)) {
                    assert!(
                        matches!(*event, Event::Waiting { .. } | Event::RoomLeft { .. }),
                        "{} reached {w}, who is in the waiting room",
                        event.kind()
                    );
                    events.entry(w.clone()).or_default().push((*event).clone());
                }
                if let Audience::Only(sid) = &to {
                    if waiting.contains(sid) {
                        continue;
                    }
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
                assert!(
                    members.remove(&sid) || waiting.remove(&sid),
                    "disconnect of {sid}, not in the room"
                );
                effects.push(Output::Disconnect { sid, reason });
            }
            Output::WaiterAdmitted { sid } => {
                assert!(waiting.remove(&sid), "admitted {sid}, who was not waiting");
                members.insert(sid.clone());
                effects.push(Output::WaiterAdmitted { sid });
            }
            other => effects.push(other),
        }
    }
    assert_eq!(members, after, "sessions after the outputs vs the room");
    assert_eq!(
        waiting, waiting_after,
        "waiting after the outputs vs the room"
    );
    (events, effects)
}

/// The sessions in the room, and those in its waiting room.
type Sessions = (BTreeSet<String>, BTreeSet<String>);

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

    fn members(&self) -> Sessions {
        (
            self.room.by_sid.keys().cloned().collect(),
            self.room.waiting.by_sid.keys().cloned().collect(),
        )
    }

    fn record(&mut self, before: Sessions) {
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
            bypass_lock: false,
            bypass_waiting_room: false,
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
        self.room
            .disconnected(self.now, &sid, LeaveReason::Disconnected);
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
    Event::CountsUpdated {
        present,
        hidden,
        waiting: 0,
    }
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

// ----- commands shared by several areas -----

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

fn data(payload: &str, to: &[&str]) -> Command {
    Command::SendData {
        payload: payload.into(),
        topic: Some("chat".into()),
        destination_identities: to.iter().map(|s| s.to_string()).collect(),
        reliable: true,
    }
}

fn caps(audio: Capability, video: Capability, content: Capability) -> Capabilities {
    Capabilities {
        audio,
        video,
        content,
    }
}
