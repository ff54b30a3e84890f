//! A room's media: its engine, its datagram queue, and the glue between the engine and the
//! room model, run by the room's actor (`room_actor.rs`).
//!
//! The order the actor keeps: a message (command, datagram, timer) → the room model →
//! [`RoomMedia::sync`] (new rules to the engine if anything that decides forwarding changed;
//! levels, slot maps and closed sessions back to the model and the clients) → events out.

use super::router::{room_queues, RoomInbox, RoomQueues};
use super::sender::Outbound;
use super::{Datagram, MediaPlane, MAX_MEDIA_AGE};
use crate::config::Limits;
use crate::fanout::{Conn, Frame, Outgoing};
use crate::metrics::{Metrics, ReasonLabel};
use gavel_core::{
    Audience, Command, Error, ErrorCode, Event, MediaSlot, MediaTrack, OfferedTrack, Reply, Room,
    Source,
};
use gavel_media::offer::{self, Kind};
use gavel_media::str0m::net::Protocol;
use gavel_media::{DropReason, EngineOutput, MediaEngine, MediaEvent, Session, Stats};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Most datagrams, and most time, spent on one batch before the room looks at its other work
/// (commands, timers): big enough to share receivers' timer passes under load, small enough
/// that a host's mute waits a few milliseconds at most, however large the room's fan-out.
const BATCH: usize = 32;
const BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(4);

pub struct RoomMedia {
    plane: Arc<MediaPlane>,
    engine: MediaEngine,
    queues: RoomQueues,
    inbox: RoomInbox,
    /// Session id → its ufrag, to unregister it from the router when it goes.
    ufrags: HashMap<String, String>,
    /// Session id → the m-lines its last offer sends on, and what became of their tracks.
    lines: HashMap<String, Vec<Line>>,
    /// The engine's counters as last reported to the metrics.
    reported: Stats,
    metrics: Arc<Metrics>,
    /// Data channel messages: the WebSocket's limits (rate, request size), each participant's
    /// rate, and the commands they asked for, for the actor to run.
    data_limits: Limits,
    data_limiters: HashMap<String, DefaultDirectRateLimiter>,
    data_commands: Vec<DataCommand>,
}

/// A command a participant sent on a data channel (`RoomMedia::take_data_commands`).
pub struct DataCommand {
    pub sid: String,
    /// The request's id, for a request on the command topic: its response goes back to the
    /// sender (`RoomMedia::respond`). None for a data message, which has no response.
    pub id: Option<serde_json::Value>,
    pub command: Command,
}

/// An m-line a client sends on.
#[derive(Debug, Clone)]
struct Line {
    mid: String,
    source: Source,
    state: LineState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Its track is published.
    Live,
    /// Its track was unpublished because the source was revoked (a role change, a Chime
    /// capability set to `None`/`Receive`): it is published again, on the same m-line, as soon
    /// as the source is allowed again — "audio will flow from the attendee" (seed 004).
    Suspended,
    /// Unpublished by the participant itself: it stays off until the client offers again.
    Dropped,
}

/// A participant's media sessions on their way to another room with it (its own, and the one
/// the server offers to, if any). Their routes stay in the router (with the addresses ICE
/// verified, so media resumes at once) until the destination adopts them; dropped without
/// being adopted (the move failed), they are unregistered.
pub struct Carried {
    sessions: Vec<CarriedSession>,
    plane: Arc<MediaPlane>,
}

struct CarriedSession {
    /// The engine's key: the participant's sid, or its subscriber session's.
    key: String,
    ufrag: String,
    lines: Option<Vec<Line>>,
    session: Option<Box<Session>>,
}

impl Drop for Carried {
    fn drop(&mut self) {
        for c in &self.sessions {
            if c.session.is_some() {
                self.plane.router.unregister(&c.ufrag);
            }
        }
    }
}

impl std::fmt::Debug for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.sessions.iter().map(|c| c.key.as_str()).collect();
        f.debug_struct("Carried").field("sessions", &keys).finish()
    }
}

fn kind_of(source: Source) -> Kind {
    match source {
        Source::Microphone | Source::ScreenAudio => Kind::Audio,
        Source::Camera | Source::ScreenVideo => Kind::Video,
    }
}

impl RoomMedia {
    /// `limits`: the clients' limits, which data channel messages follow too.
    pub fn new(plane: Arc<MediaPlane>, metrics: Arc<Metrics>, limits: Limits) -> RoomMedia {
        let (queues, inbox) = room_queues();
        RoomMedia {
            data_limits: limits,
            data_limiters: HashMap::new(),
            data_commands: Vec::new(),
            engine: MediaEngine::new(plane.engine_config()),
            plane,
            queues,
            inbox,
            ufrags: HashMap::new(),
            lines: HashMap::new(),
            reported: Stats::default(),
            metrics,
        }
    }

    /// The next datagram for this room (for the actor's `select!`): handshakes first.
    pub async fn recv(&mut self) -> Option<Datagram> {
        tokio::select! {
            biased;
            Some(d) = self.inbox.handshake.recv() => Some(d),
            Some(d) = self.inbox.media.recv() => Some(d),
            else => None,
        }
    }

    /// `d` and whatever else is already queued (handshakes first), up to [`BATCH`] datagrams
    /// or [`BATCH_TIME`], as one batch: a busy room's receivers run their timers once per
    /// batch instead of once per frame. Media that waited longer than [`MAX_MEDIA_AGE`] is
    /// dropped unread.
    pub fn on_datagram(&mut self, d: Datagram) {
        let now = Instant::now();
        let mut next = Some(d);
        let mut count = 0;
        let mut stale = 0;
        while let Some(d) = next.take() {
            if now.saturating_duration_since(d.received) > MAX_MEDIA_AGE
                && !gavel_media::is_handshake(&d.bytes)
            {
                stale += 1;
            } else {
                self.engine
                    .receive(now, d.proto, d.source, d.destination, &d.bytes);
                count += 1;
            }
            if count < BATCH && now.elapsed() < BATCH_TIME {
                next = self
                    .inbox
                    .handshake
                    .try_recv()
                    .or_else(|_| self.inbox.media.try_recv())
                    .ok();
            }
        }
        if stale > 0 {
            self.metrics
                .media_dropped
                .get_or_create(&ReasonLabel {
                    reason: "overloaded",
                })
                .inc_by(stale);
        }
        self.engine.flush(now);
    }

    pub fn on_timeout(&mut self) {
        let now = Instant::now();
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
    }

    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.engine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
    }

    /// `media_offer` from `sid`: the room approves what it will send, the engine answers,
    /// then the room publishes those tracks. Refused offers change nothing.
    pub fn offer(
        &mut self,
        core: &mut Room,
        sid: &str,
        sdp: &str,
        tracks: &[OfferedTrack],
    ) -> Result<Reply, Error> {
        let lines = offer::inspect(sdp).map_err(Error::invalid)?;
        let sending: Vec<_> = lines.iter().filter(|m| m.sends).collect();
        let mut sources = Vec::new();
        for t in tracks {
            let Some(line) = sending.iter().find(|m| m.mid == t.mid) else {
                return Err(Error::invalid(format!(
                    "tracks names mid '{}', which the offer does not send on",
                    t.mid
                )));
            };
            if line.kind != kind_of(t.source) {
                return Err(Error::invalid(format!(
                    "mid '{}' is {} but {} is {}",
                    t.mid,
                    line.kind,
                    t.source.as_str(),
                    kind_of(t.source)
                )));
            }
            sources.push(t.source);
        }
        if let Some(line) = sending
            .iter()
            .find(|m| !tracks.iter().any(|t| t.mid == m.mid))
        {
            return Err(Error::invalid(format!(
                "the offer sends on mid '{}': name its source in `tracks`",
                line.mid
            )));
        }
        // A line this session already sends on whose source has been revoked since (the
        // client's offer crossed the revoke, or it keeps the line to send again once allowed)
        // stays on, suspended: its packets are dropped, and the rest of the offer stands. A new
        // line for a source the participant may not send refuses the offer.
        let allowed = core
            .identity_of(sid)
            .and_then(|i| core.participant(i))
            .map(|p| p.permissions.can_send.clone())
            .unwrap_or_default();
        let suspended: Vec<&OfferedTrack> = tracks
            .iter()
            .filter(|t| !allowed.contains(&t.source) && self.had_line(sid, &t.mid, t.source))
            .collect();
        let tracks: Vec<&OfferedTrack> = tracks
            .iter()
            .filter(|t| !suspended.iter().any(|s| s.mid == t.mid))
            .collect();
        sources.retain(|s| tracks.iter().any(|t| t.source == *s));
        core.check_media_publish(sid, &sources)?;
        let answer = self
            .engine
            .accept_offer(Instant::now(), sid, sdp)
            .map_err(|e| Error::invalid(e.0))?;
        self.route_ufrag(sid);
        core.media_session_opened(sid)?;
        core.unpublish_media_tracks_except(sid, &sources);
        let mut published = Vec::new();
        for t in &tracks {
            let track = core.publish_media_track(sid, t.source, false)?;
            self.engine.bind(sid, &t.mid, &track.sid);
            published.push(MediaTrack {
                mid: t.mid.clone(),
                track,
            });
        }
        let live = tracks.iter().map(|t| (*t, LineState::Live));
        let lines = live
            .chain(suspended.iter().map(|t| (*t, LineState::Suspended)))
            .map(|(t, state)| Line {
                mid: t.mid.clone(),
                source: t.source,
                state,
            })
            .collect();
        self.lines.insert(sid.to_string(), lines);
        Ok(Reply::MediaAnswer {
            sdp: answer,
            tracks: published,
        })
    }

    /// Whether `sid`'s session already sent `source` on line `mid`.
    fn had_line(&self, sid: &str, mid: &str, source: Source) -> bool {
        self.lines
            .get(sid)
            .is_some_and(|lines| lines.iter().any(|l| l.mid == mid && l.source == source))
    }

    pub fn candidate(
        &mut self,
        sid: &str,
        candidate: &str,
        subscriber: bool,
    ) -> Result<Reply, Error> {
        let session = match subscriber {
            true => subscriber_session(sid),
            false => sid.to_string(),
        };
        self.engine
            .add_remote_candidate(&session, candidate)
            .map_err(|e| match self.engine.has_session(&session) {
                true => Error::invalid(e.0),
                false => Error::precondition(e.0),
            })?;
        Ok(Reply::done())
    }

    /// Opens `sid`'s session that the server offers to (`media_subscribe`); its offers go to
    /// the participant as `media_offer` events.
    pub fn subscribe(&mut self, core: &mut Room, sid: &str) -> Result<Reply, Error> {
        let session = subscriber_session(sid);
        if self.engine.has_session(&session) {
            return Err(Error::precondition(
                "this participant's subscriber session is open already",
            ));
        }
        core.media_session_opened(sid)?;
        self.engine
            .open_offering(Instant::now(), &session, sid)
            .map_err(|e| Error::invalid(e.0))?;
        self.route_ufrag(&session);
        Ok(Reply::done())
    }

    /// Restarts ICE on `sid`'s subscriber session (`media_subscribe` with `restart_ice`, what a
    /// client that resumed sends): a new offer with new credentials follows as an event.
    pub fn restart_subscriber_ice(&mut self, sid: &str) -> Result<Reply, Error> {
        let session = subscriber_session(sid);
        if !self.engine.has_session(&session) {
            return Err(Error::precondition(
                "no subscriber session: send media_subscribe first",
            ));
        }
        self.engine
            .restart_ice(Instant::now(), &session)
            .map_err(|e| Error::precondition(e.0))?;
        Ok(Reply::done())
    }

    /// Routes datagrams that name `session`'s ufrag to this room: when the session opens, and
    /// again after an ICE restart (either side's) changed it.
    fn route_ufrag(&mut self, session: &str) {
        let Some(ufrag) = self.engine.ufrag(session) else {
            return;
        };
        match self.ufrags.get(session) {
            None => {
                self.plane.router.register(ufrag, self.queues.clone());
                self.ufrags.insert(session.to_string(), ufrag.to_string());
                self.metrics.media_sessions.inc();
            }
            Some(old) if old != ufrag => {
                self.plane.router.unregister(old);
                self.plane.router.register(ufrag, self.queues.clone());
                self.ufrags.insert(session.to_string(), ufrag.to_string());
            }
            Some(_) => {}
        }
    }

    /// The participant's answer to the last `media_offer`.
    pub fn answer(&mut self, sid: &str, sdp: &str) -> Result<Reply, Error> {
        let session = subscriber_session(sid);
        if !self.engine.has_session(&session) {
            return Err(Error::precondition(
                "no subscriber session: send media_subscribe first",
            ));
        }
        self.engine
            .accept_answer(Instant::now(), &session, sdp)
            .map_err(|e| Error::invalid(e.0))?;
        self.route_ufrag(&session);
        Ok(Reply::done())
    }

    /// Takes `sid`'s sessions out for a move (the destination adopts them).
    pub fn take(&mut self, sid: &str) -> Option<Carried> {
        let mut sessions = Vec::new();
        for key in [sid.to_string(), subscriber_session(sid)] {
            let Some(ufrag) = self.ufrags.remove(&key) else {
                continue;
            };
            self.metrics.media_sessions.dec();
            let lines = self.lines.remove(&key);
            match self.engine.take(Instant::now(), &key) {
                Some(session) => sessions.push(CarriedSession {
                    key,
                    ufrag,
                    lines,
                    session: Some(Box::new(session)),
                }),
                None => self.plane.router.unregister(&ufrag),
            }
        }
        self.data_limiters.remove(sid);
        (!sessions.is_empty()).then(|| Carried {
            sessions,
            plane: self.plane.clone(),
        })
    }

    /// Adopts a moved participant's sessions: their datagrams come here from now on. A
    /// session the server offers to is offered again at once: its lines for the tracks of the
    /// room left go inactive, and the tracks here get new ones.
    pub fn adopt(&mut self, mut carried: Carried) {
        for c in &mut carried.sessions {
            let Some(session) = c.session.take() else {
                continue;
            };
            self.plane.router.register(&c.ufrag, self.queues.clone());
            self.ufrags.insert(c.key.clone(), c.ufrag.clone());
            if let Some(lines) = c.lines.take() {
                self.lines.insert(c.key.clone(), lines);
            }
            self.metrics.media_sessions.inc();
            self.engine.insert(Instant::now(), &c.key, *session);
        }
    }

    /// Closes every session (the room is closing).
    pub fn close_all(&mut self) {
        let sids: Vec<String> = self.ufrags.keys().cloned().collect();
        for sid in sids {
            self.close(&sid);
        }
    }

    fn close(&mut self, sid: &str) {
        self.lines.remove(sid);
        if let Some(ufrag) = self.ufrags.remove(sid) {
            self.plane.router.unregister(&ufrag);
            self.metrics.media_sessions.dec();
        }
        self.engine.close(Instant::now(), sid);
    }

    /// Brings the engine and the room into step; see the module doc.
    pub fn sync(
        &mut self,
        core: &mut Room,
        conns: &HashMap<String, Conn>,
        journal: &mut crate::journal::Journal,
        now_ms: u64,
    ) {
        for _ in 0..4 {
            if core.take_media_changed() {
                // Sessions whose participant left (or was kicked, banned, ended) close.
                let gone: Vec<String> = self
                    .ufrags
                    .keys()
                    .filter(|session| core.identity_of(participant_of(session)).is_none())
                    .cloned()
                    .collect();
                for sid in gone {
                    self.close(&sid);
                }
                self.data_limiters
                    .retain(|sid, _| core.identity_of(sid).is_some());
                self.follow_permissions(core);
                self.engine.set_rules(Instant::now(), core.media_rules());
            }
            self.drain(core, conns, journal, now_ms);
            if !core.media_changed() {
                break;
            }
        }
        self.report();
    }

    /// Tracks unpublished by a revoked source come back on their m-line once it is allowed
    /// again; ones the participant dropped itself stay off. O(sessions) per change.
    fn follow_permissions(&mut self, core: &mut Room) {
        for (sid, lines) in &mut self.lines {
            let Some(p) = core.identity_of(sid).and_then(|i| core.participant(i)) else {
                continue;
            };
            let can_send = p.permissions.can_send.clone();
            let live: Vec<Source> = p
                .tracks
                .iter()
                .filter(|t| t.media)
                .map(|t| t.source)
                .collect();
            for line in lines.iter_mut() {
                let allowed = can_send.contains(&line.source);
                match line.state {
                    LineState::Live if !live.contains(&line.source) => {
                        line.state = if allowed {
                            LineState::Dropped
                        } else {
                            LineState::Suspended
                        };
                    }
                    LineState::Suspended if allowed => {
                        if let Ok(track) = core.publish_media_track(sid, line.source, false) {
                            self.engine.bind(sid, &line.mid, &track.sid);
                            line.state = LineState::Live;
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn drain(
        &mut self,
        core: &mut Room,
        conns: &HashMap<String, Conn>,
        journal: &mut crate::journal::Journal,
        now_ms: u64,
    ) {
        // UDP datagrams leave as one batch, sent from the media plane's sender thread.
        let mut udp = Vec::new();
        while let Some(out) = self.engine.poll_output() {
            match out {
                EngineOutput::Transmit(t) if t.proto == Protocol::Udp => udp.push(Outbound {
                    to: t.destination,
                    bytes: t.contents.into(),
                }),
                EngineOutput::Transmit(t) => self.plane.send(t.proto, &t.contents, t.destination),
                EngineOutput::Event(MediaEvent::Level { session, level, .. }) => {
                    core.media_level(now_ms, &session, level)
                }
                EngineOutput::Event(MediaEvent::Closed { session }) => {
                    self.lines.remove(&session);
                    if let Some(ufrag) = self.ufrags.remove(&session) {
                        self.plane.router.unregister(&ufrag);
                        self.metrics.media_sessions.dec();
                    }
                    // A participant with two sessions keeps receiving while one is up.
                    let sid = participant_of(&session);
                    let other = match sid == session {
                        true => subscriber_session(sid),
                        false => sid.to_string(),
                    };
                    if !self.engine.has_session(&other) {
                        core.media_session_closed(now_ms, sid);
                    }
                }
                EngineOutput::Event(MediaEvent::Quality {
                    session,
                    rtt,
                    loss_out,
                    loss_in,
                }) => {
                    let rtt_ms = rtt.map(|d| d.as_millis().min(u128::from(u32::MAX)) as u32);
                    let loss = match (loss_in, loss_out) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    core.media_quality(now_ms, participant_of(&session), rtt_ms, loss);
                    if let Some(rtt) = rtt {
                        self.metrics.media_rtt_seconds.observe(rtt.as_secs_f64());
                    }
                    for (direction, loss) in [("out", loss_out), ("in", loss_in)] {
                        if let Some(loss) = loss {
                            self.metrics
                                .media_loss_ratio
                                .get_or_create(&crate::metrics::DirectionLabel { direction })
                                .observe(f64::from(loss));
                        }
                    }
                }
                EngineOutput::Event(MediaEvent::Connected { session }) => {
                    tracing::debug!(%session, "media connected");
                }
                EngineOutput::Event(MediaEvent::Offer { session, sdp }) => {
                    let sid = participant_of(&session);
                    let to = gavel_core::Audience::Only(sid.to_string());
                    let frame = journal.stamp(&to, Frame::event(&Event::MediaOffer { sdp }));
                    if let Some(conn) = conns.get(sid) {
                        let _ = conn.send(Outgoing::Frame(frame));
                    }
                }
                EngineOutput::Event(MediaEvent::Data {
                    session,
                    label,
                    data,
                    ..
                }) => self.data_received(&session, &label, &data),
                EngineOutput::Event(MediaEvent::Slots {
                    session,
                    slots,
                    unserved_audio,
                    unserved_video,
                }) => {
                    let slots = slots
                        .into_iter()
                        .map(|s| MediaSlot {
                            mid: s.mid,
                            kind: s.kind.to_string(),
                            identity: s.identity,
                            source: s.source,
                            track_sid: s.track_sid,
                        })
                        .collect();
                    let event = Event::MediaSlots {
                        slots,
                        unserved_audio: unserved_audio as u32,
                        unserved_video: unserved_video as u32,
                    };
                    // Kept for a resume even while the session is suspended: its slots change
                    // while it is away.
                    let to = gavel_core::Audience::Only(session.clone());
                    let frame = journal.stamp(&to, Frame::event(&event));
                    if let Some(conn) = conns.get(&session) {
                        let _ = conn.send(Outgoing::Frame(frame));
                    }
                }
            }
        }
        self.plane.sender.send(udp);
    }

    /// A message on one of a session's data channels. Data channels are how LiveKit's clients
    /// send data (native clients use their WebSocket), so it is read as LiveKit's `DataPacket`
    /// (`livekit_rtc/data.rs`): a user packet becomes the sender's `send_data`, a request on
    /// the command topic its own command; both are run by the actor like any command
    /// ([`RoomMedia::take_data_commands`]), within the sender's request rate.
    fn data_received(&mut self, session: &str, label: &str, data: &[u8]) {
        use crate::livekit_rtc::data::{self, Inbound};
        let sid = participant_of(session).to_string();
        let quota = self.data_limits.request_quota();
        let limiter = self
            .data_limiters
            .entry(sid.clone())
            .or_insert_with(|| RateLimiter::direct(quota));
        if limiter.check().is_err() {
            self.metrics.error(ErrorCode::RateLimited);
            return;
        }
        match data::inbound(label, data, self.data_limits.max_message_bytes) {
            Ok(Inbound::Data(command)) => self.data_commands.push(DataCommand {
                sid,
                id: None,
                command,
            }),
            Ok(Inbound::Request(id, command)) => self.data_commands.push(DataCommand {
                sid,
                id: Some(id),
                command,
            }),
            Ok(Inbound::Refused(id, e)) => {
                self.metrics.error(e.code);
                self.respond(&sid, &Frame::response(&id, &Err(e)));
            }
            Err(why) => tracing::debug!(%session, label, why, "data channel message dropped"),
        }
    }

    /// The commands data channel messages asked for since the last call.
    pub fn take_data_commands(&mut self) -> Vec<DataCommand> {
        std::mem::take(&mut self.data_commands)
    }

    /// The response to a request `sid` sent on a data channel, back to it alone.
    pub fn respond(&mut self, sid: &str, response: &Frame) {
        let bytes = crate::livekit_rtc::data::response_packet(response);
        let session = subscriber_session(sid);
        self.engine
            .send_data(Instant::now(), &session, "_reliable", &bytes);
    }

    /// `event` to those of `to` who receive on a session the server offers to (LiveKit's
    /// clients), on its data channels: `data_received` as a data packet from its sender (or the
    /// LiveKit packet it carries, `data::PACKET_TOPIC`), and
    /// events that LiveKit's protocol has no message for as native JSON on the event topic.
    /// Encoded once, written to each. O(those sessions).
    pub fn relay(&mut self, to: &Audience, event: &Event, frame: &Frame) {
        use crate::livekit_rtc::data;
        if !matches!(event, Event::DataReceived { .. }) && !data::is_extra(event) {
            return;
        }
        // Most rooms have no LiveKit client: nothing is encoded for them.
        let receivers: Vec<String> = self
            .ufrags
            .keys()
            .filter(|session| session.ends_with(SUBSCRIBER_SUFFIX))
            .filter(|session| addressed(to, participant_of(session)))
            .cloned()
            .collect();
        if receivers.is_empty() {
            return;
        }
        let (label, bytes) = match event {
            Event::DataReceived {
                from,
                payload,
                topic,
                reliable,
            } => {
                let bytes = match topic.as_deref() {
                    Some(data::PACKET_TOPIC) => {
                        data::restamped(from.as_deref(), payload, *reliable)
                    }
                    topic => data::packet(from.as_deref(), payload, topic, *reliable),
                };
                let Some(bytes) = bytes else {
                    return;
                };
                (data::label(*reliable), bytes)
            }
            // The event's JSON, as serialized once for every WebSocket.
            _ => (
                "_reliable",
                data::server_packet(data::EVENT_TOPIC, frame.json().into_bytes()),
            ),
        };
        let now = Instant::now();
        for session in receivers {
            self.engine.send_data(now, &session, label, &bytes);
        }
    }

    /// The engine's counters into the metrics, as differences since the last report.
    fn report(&mut self) {
        let now = self.engine.stats().clone();
        let was = std::mem::replace(&mut self.reported, now.clone());
        self.metrics
            .media_packets_forwarded
            .inc_by(now.packets_forwarded - was.packets_forwarded);
        for reason in DropReason::ALL {
            let d = now.dropped(reason) - was.dropped(reason);
            if d > 0 {
                self.metrics
                    .media_dropped
                    .get_or_create(&ReasonLabel {
                        reason: reason.as_str(),
                    })
                    .inc_by(d);
            }
        }
    }
}

impl Drop for RoomMedia {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// Whether `sid` is one of `to`.
fn addressed(to: &Audience, sid: &str) -> bool {
    match to {
        Audience::Only(only) => only == sid,
        Audience::Sessions(sids) => sids.iter().any(|s| s == sid),
        Audience::Everyone => true,
        Audience::EveryoneExcept(x) => x != sid,
    }
}

/// The engine's id for `sid`'s session the server offers to (its other session, if it has
/// one, is keyed by `sid` itself).
fn subscriber_session(sid: &str) -> String {
    format!("{sid}{SUBSCRIBER_SUFFIX}")
}

const SUBSCRIBER_SUFFIX: &str = "/sub";

/// The room session (participant) an engine session belongs to.
fn participant_of(session: &str) -> &str {
    session.strip_suffix(SUBSCRIBER_SUFFIX).unwrap_or(session)
}

/// Refusal for media signalling in a room without a media plane.
pub fn no_media_plane() -> Error {
    Error::new(
        ErrorCode::FailedPrecondition,
        "this server has no media plane",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MediaConfig;
    use std::time::Duration;

    fn datagram(first_byte: u8, age: Duration) -> Datagram {
        Datagram {
            proto: Protocol::Udp,
            source: "127.0.0.1:40000".parse().unwrap(),
            destination: "127.0.0.1:40001".parse().unwrap(),
            bytes: vec![first_byte; 40],
            received: Instant::now() - age,
        }
    }

    fn overloaded(metrics: &Metrics) -> u64 {
        metrics
            .media_dropped
            .get_or_create(&ReasonLabel {
                reason: "overloaded",
            })
            .get()
    }

    /// A room that fell behind drops the media it had queued for too long, unread, but never a
    /// handshake, however old; what it reads goes to the engine.
    #[tokio::test]
    async fn stale_media_is_dropped_unread_and_handshakes_never_are() {
        let metrics = Arc::new(Metrics::default());
        let config = MediaConfig {
            tcp: false,
            ..MediaConfig::default()
        };
        let plane = MediaPlane::bind(&config, "127.0.0.1:0".parse().unwrap(), metrics.clone())
            .await
            .unwrap();
        let mut room = RoomMedia::new(plane, metrics.clone(), Limits::default());
        let stale = MAX_MEDIA_AGE + Duration::from_millis(50);
        // Queued behind the first: two stale RTP datagrams, one fresh, one stale STUN.
        room.queues.media.try_send(datagram(0x80, stale)).unwrap();
        room.queues
            .media
            .try_send(datagram(0x80, Duration::ZERO))
            .unwrap();
        room.queues
            .handshake
            .try_send(datagram(0x00, stale))
            .unwrap();
        room.on_datagram(datagram(0x80, stale));
        assert_eq!(overloaded(&metrics), 2, "the two stale media datagrams");
        // The fresh one and the old handshake reached the engine (which knows no session for
        // them: counted in, then dropped as unknown).
        assert_eq!(room.engine.stats().datagrams_in, 2);
        assert!(
            room.inbox.media.try_recv().is_err(),
            "the queue was drained"
        );
    }
}
