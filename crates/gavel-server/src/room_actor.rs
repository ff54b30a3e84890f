//! One task per room: it owns the room's core state, feeds it commands and time, and fans the
//! core's outputs out to connections. Nothing else touches a [`Room`].

use crate::clock::{instant_at, now_ms};
use crate::fanout::{Conn, Frame, Outgoing, SendError};
use crate::media::room::{Carried, RoomMedia};
use crate::metrics::{KindLabel, Metrics};
use crate::registry::{Reap, Registry, RoomHandle};
use crate::store::thread::StoreHandle;
use crate::store::writer::Writer;
use crate::store::{audit_policy, SessionRecord};
use gavel_core::{
    Actor, Audience, Command, Decision, DurableWrite, Error, ErrorCode, JoinRequest, LeaveReason,
    Millis, MovingParticipant, Output, Reply, RequestOutcome, Room,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

type Inspector = Box<dyn FnOnce(&Room, Millis) + Send>;

pub enum RoomMsg {
    Join {
        req: JoinRequest,
        conn: Conn,
        reply: oneshot::Sender<Result<String, Error>>,
    },
    /// Many joins in one message (an edge admitting its sessions again after a failover).
    JoinMany {
        joins: Vec<(JoinRequest, Conn)>,
        reply: oneshot::Sender<Vec<Result<String, Error>>>,
    },
    AdmitMoved {
        moving: Box<MovingParticipant>,
        conn: Conn,
        media: Option<Carried>,
        reply: oneshot::Sender<Result<String, Error>>,
    },
    /// A command from the service layer; the caller gets its outcome once its durable effects
    /// are committed.
    Command {
        actor: Actor,
        command: Command,
        reply: oneshot::Sender<CommandOutcome>,
    },
    /// Client request; the response is queued on the client's own connection.
    Client {
        sid: String,
        id: serde_json::Value,
        command: Command,
    },
    /// The session ended on its side (`disconnected`, or `slow_consumer` after a write timeout).
    /// `suspend`: its connection broke (no close frame): it stays, unseen, for the grace
    /// period (`journal.rs`). `conn`: the connection that ended; a session that resumed on
    /// another one since is not affected.
    Disconnected {
        sid: String,
        reason: LeaveReason,
        suspend: bool,
        conn: crate::fanout::WeakConn,
        /// Kept for the resume of a suspended session, and handed back with it.
        kept: Option<String>,
    },
    /// A client resumes session `sid` on a new connection after the room's message `last_ev`
    /// (`None`: with a fresh snapshot).
    Resume {
        sid: String,
        identity: String,
        last_ev: Option<u64>,
        conn: Conn,
        reply: oneshot::Sender<Result<(String, Option<String>), Error>>,
    },
    Inspect(Inspector),
    WaitRequest {
        request_id: String,
        reply: oneshot::Sender<Result<RequestOutcome, Error>>,
    },
    /// The connection of the participant `identity`, if it is here.
    ConnOf {
        identity: String,
        reply: oneshot::Sender<Option<Conn>>,
    },
    /// Edge `edge` missed messages of this room: tell it who of its sessions is here, and send
    /// each a fresh snapshot.
    Resync {
        edge: String,
    },
    /// Ends every session and stops the room; `done` fires once its last outputs are handed on.
    /// `hand_over`: sessions on other nodes' sockets are let go silently instead, for their
    /// edges to admit them again wherever the room is served next (`cluster/failover.rs`).
    Close {
        reason: LeaveReason,
        done: Option<oneshot::Sender<()>>,
        hand_over: bool,
    },
}

impl std::fmt::Debug for RoomMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomMsg")
    }
}

/// What a command came to, for the service layer.
pub struct CommandOutcome {
    pub result: Result<Reply, Error>,
    /// An approved move: the participant taken out, its connection and its media session, for
    /// the destination.
    pub moved: Option<Moved>,
}

/// A participant an approved move took out of its room, on its way to the destination.
pub struct Moved {
    pub moving: Box<MovingParticipant>,
    pub conn: Conn,
    pub media: Option<Carried>,
}

/// Outcomes kept for server-API callers that start waiting after a request already resolved.
const RECENT_OUTCOMES: usize = 1024;

/// A session whose connection broke, waiting for its client to resume.
struct Suspended {
    until: Instant,
    /// What the session's front-end kept for its resume (a LiveKit session's translator state,
    /// `livekit_rtc/parked.rs`), handed back to whichever node it resumes through.
    kept: Option<String>,
}

pub struct RoomActor {
    core: Room,
    me: RoomHandle,
    rx: mpsc::Receiver<RoomMsg>,
    registry: Weak<Registry>,
    conns: HashMap<String, Conn>,
    /// Connections of sessions in the waiting room: never part of the room's audience (no
    /// `Everyone` event reaches them), only addressed one by one until admitted.
    waiting: HashMap<String, Conn>,
    waiters: HashMap<String, Vec<oneshot::Sender<Result<RequestOutcome, Error>>>>,
    recent: VecDeque<(String, RequestOutcome)>,
    /// When an empty room will try to close (see [`RoomActor::maybe_reap`]).
    reap_at: Option<Instant>,
    /// The registry kept this room (explicitly created) during the current empty spell.
    reap_declined: bool,
    closed: bool,
    metrics: Arc<Metrics>,
    /// The counts last reported to the participants gauge.
    reported: gavel_core::Counts,
    durable: Durable,
    /// Participants an approved move took out during the current command.
    moved_out: Vec<Moved>,
    /// The room's media engine (absent when the server runs without a media plane).
    media: Option<RoomMedia>,
    close_ack: Option<oneshot::Sender<()>>,
    /// Webhook events were handed to the outbox since the last command was answered: its
    /// answer waits until they are durable.
    noticed: bool,
    /// Closed to be served by another node (no `room_finished`: the room goes on there).
    handed_over: bool,
    /// Recent messages, for sessions that resume (`journal.rs`).
    journal: crate::journal::Journal,
    /// Sessions whose connection broke: when their grace period ends, and what their
    /// front-end kept for the resume.
    suspended: HashMap<String, Suspended>,
    /// How long a broken session may resume.
    grace: std::time::Duration,
}

/// Where a room's durable effects go: `store.call(|s| …).await` runs a store call on the store
/// thread (`store/thread.rs`); the writer takes audit and session rows.
#[derive(Clone)]
pub struct Durable {
    pub store: StoreHandle,
    pub writer: Writer,
    /// In cluster mode, this node's ownership of the room: every commit is fenced by it, so a
    /// node that lost the room commits nothing (`cluster/lease.rs`).
    pub fence: Option<crate::cluster::lease::Fence>,
    /// The webhook outbox, when endpoints are configured.
    pub webhooks: Option<crate::webhooks::Webhooks>,
}

impl Durable {
    /// Commits a command's durable writes for `room` in one transaction, on the store's thread.
    pub async fn commit(&self, room: &str, writes: Vec<DurableWrite>) -> Result<(), String> {
        let room = room.to_string();
        let fence = self.fence.clone();
        self.store
            .call(move |s| s.commit(&room, fence.as_ref(), &writes))
            .await
            .map_err(|e| e.to_string())
    }
}

impl RoomActor {
    /// Starts the actor of a room whose bans, revocations and presets it loads first. A room
    /// whose state cannot be read is not opened (an error, and nothing runs): opening it
    /// without its bans would let a banned identity in.
    pub fn spawn(
        core: Room,
        me: RoomHandle,
        rx: mpsc::Receiver<RoomMsg>,
        registry: Weak<Registry>,
        metrics: Arc<Metrics>,
        durable: Durable,
    ) -> crate::store::StoreResult<()> {
        let mut core = core;
        // Runs on the store thread (see `Registry::get_or_create`): synchronous reads are fine.
        let store = durable.store.blocking().clone();
        let now = now_ms();
        let loaded = (|| {
            let name = core.name();
            Ok((
                store.bans(name, now)?,
                store.revocations(name)?,
                store.presets(name)?,
                store.joined_room_settings(name)?,
            ))
        })();
        let (bans, revocations, presets, joined_settings) = match loaded {
            Ok(state) => state,
            Err(e) => {
                // Set before `rx` is dropped (on return), so every waiting sender reads it.
                let _ = me.failed.set(gavel_core::Error::new(
                    gavel_core::ErrorCode::Unavailable,
                    format!("room '{}' cannot open: {e}", core.name()),
                ));
                return Err(e);
            }
        };
        for b in bans {
            core.restore_ban(&b.identity, b.until, &b.by);
        }
        for (identity, before) in revocations {
            core.revoke_tokens(&identity, before);
        }
        for (identity, caps) in presets {
            core.restore_preset(&identity, caps);
        }
        // A room a join created, open again (after a restart, say) while its meeting goes on:
        // the settings changed meanwhile (its lock) still hold.
        if let Some(settings) = joined_settings {
            core.restore_settings(settings);
        }
        metrics.rooms.inc();
        let media = registry.upgrade().and_then(|r| {
            let plane = r.media.get().cloned()?;
            Some(RoomMedia::new(plane, metrics.clone(), r.limits.clone()))
        });
        let limits = registry
            .upgrade()
            .map(|r| r.limits.clone())
            .unwrap_or_default();
        let actor = RoomActor {
            journal: crate::journal::Journal::new(
                limits.resume_events,
                limits.resume_bytes,
                // A session resumes within the grace period; what it missed just before its
                // connection broke is older by at most a write timeout's worth.
                std::time::Duration::from_millis(limits.resume_grace_ms.saturating_mul(2)),
            ),
            suspended: HashMap::new(),
            grace: std::time::Duration::from_millis(limits.resume_grace_ms),
            media,
            core,
            me,
            rx,
            registry,
            conns: HashMap::new(),
            waiting: HashMap::new(),
            waiters: HashMap::new(),
            recent: VecDeque::new(),
            reap_at: None,
            reap_declined: false,
            closed: false,
            metrics,
            reported: Default::default(),
            durable,
            moved_out: Vec::new(),
            close_ack: None,
            noticed: false,
            handed_over: false,
        };
        actor.notice_room(crate::webhooks::config::Kind::RoomStarted);
        tokio::spawn(actor.run());
        Ok(())
    }

    async fn run(mut self) {
        let room = self.me.name.clone();
        tracing::debug!(%room, "room opened");
        while !self.closed {
            let deadline = self.next_deadline();
            // Commands first, then datagrams (handshakes before media): a host's mute never
            // waits behind more than one batch of media.
            tokio::select! {
                biased;
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.on_message(msg).await,
                    None => break,
                },
                Some(d) = recv_media(&mut self.media) => {
                    if let Some(m) = &mut self.media {
                        m.on_datagram(d);
                    }
                    // A busy room always has a datagram ready, so it would otherwise run until
                    // tokio's budget forces a yield (~128 batches): the HTTP and WebSocket
                    // tasks waiting on this worker — a host's mute among them — go first.
                    tokio::task::yield_now().await;
                }
                _ = sleep_until(deadline) => {}
            }
            if let Some(m) = &mut self.media {
                m.on_timeout();
            }
            self.core.handle_timeout(now_ms());
            self.end_expired_suspensions();
            self.flush();
            self.run_data_commands().await;
            self.maybe_reap();
        }
        if let Some(m) = &mut self.media {
            m.close_all();
        }
        if !self.handed_over {
            self.notice_room(crate::webhooks::config::Kind::RoomFinished);
        }
        // Anything still queued is answered with an error by dropping its reply channel.
        self.rx.close();
        while self.rx.try_recv().is_ok() {}
        let r = self.reported;
        self.metrics
            .participants_delta(-i64::from(r.present), -i64::from(r.hidden));
        self.metrics.rooms.dec();
        if let Some(done) = self.close_ack.take() {
            let _ = done.send(());
        }
        // The room is free for any node at once, not when this node's lease expires.
        let node = self
            .registry
            .upgrade()
            .and_then(|r| r.cluster.get().cloned());
        if let (Some(node), Some(fence)) = (node, self.durable.fence.clone()) {
            if let Err(e) = node.release(&room, fence).await {
                tracing::warn!(%room, error = %e, "could not release the room");
            }
        }
        tracing::debug!(%room, "room closed");
    }

    fn next_deadline(&self) -> Option<Instant> {
        let core = self.core.poll_timeout().map(instant_at);
        let media = self.media.as_ref().and_then(RoomMedia::deadline);
        let grace = self.suspended.values().map(|s| s.until).min();
        [core, self.reap_at, media, grace]
            .into_iter()
            .flatten()
            .min()
    }

    async fn on_message(&mut self, msg: RoomMsg) {
        let now = now_ms();
        match msg {
            RoomMsg::Join { req, conn, reply } => {
                let r = self.join(now, req, conn);
                // The snapshot is queued before the join is answered: what the joiner's task
                // sends the session next (`cluster/failover.rs`, `cluster/edge_session.rs`)
                // comes after it.
                self.drain_outputs();
                let _ = reply.send(r);
            }
            RoomMsg::JoinMany { joins, reply } => {
                let results = joins
                    .into_iter()
                    .map(|(req, conn)| self.join(now, req, conn))
                    .collect();
                // As for one join: the snapshots first.
                self.drain_outputs();
                let _ = reply.send(results);
            }
            RoomMsg::AdmitMoved {
                moving,
                conn,
                media,
                reply,
            } => {
                let sid = moving.info.sid.clone();
                // The session must send its next commands here; queue that before the snapshot.
                let _ = conn.send(Outgoing::Switch(self.me.clone()));
                let r = self.core.admit_moved(now, *moving);
                if r.is_ok() {
                    self.attach(&sid, conn, false);
                    if let (Some(m), Some(carried)) = (&mut self.media, media) {
                        m.adopt(carried);
                    }
                }
                // As for a join: the snapshot first.
                self.drain_outputs();
                let _ = reply.send(r);
            }
            RoomMsg::Command {
                actor,
                command,
                reply,
            } => {
                self.noticed = false;
                let result = self.run_command(now, &actor, command).await;
                if let Err(e) = &result {
                    self.metrics.error(e.code);
                }
                self.flush();
                let moved = self.moved_out.pop();
                let outcome = CommandOutcome { result, moved };
                match self.webhooks_durable() {
                    // Answered once its webhook events are in the outbox, off the room's path.
                    Some(durable) => {
                        tokio::spawn(async move {
                            let _ = durable.await;
                            let _ = reply.send(outcome);
                        });
                    }
                    None => {
                        let _ = reply.send(outcome);
                    }
                }
            }
            RoomMsg::Client { sid, id, command } => self.on_client(now, sid, id, command).await,
            RoomMsg::Disconnected {
                sid,
                reason,
                suspend,
                conn,
                kept,
            } => {
                if !self.conn_of(&sid).is_none_or(|c| c.is(&conn)) {
                    return; // it resumed on another connection
                }
                self.take_conn(&sid);
                let grace = self.grace;
                // A waiter is not suspended: it leaves the queue (joining again puts it back).
                let waiting = self.core.is_waiting(&sid);
                if suspend && !grace.is_zero() && self.journal.enabled() && !waiting {
                    if self.core.identity_of(&sid).is_some() {
                        self.metrics.sessions_suspended.inc();
                        let until = Instant::now() + grace;
                        self.suspended.insert(sid, Suspended { until, kept });
                    }
                } else {
                    self.suspended.remove(&sid);
                    self.core.disconnected(now_ms(), &sid, reason);
                }
            }
            RoomMsg::Resume {
                sid,
                identity,
                last_ev,
                conn,
                reply,
            } => {
                let r = self.resume(&sid, &identity, last_ev, conn);
                let _ = reply.send(r);
            }
            RoomMsg::Inspect(f) => f(&self.core, now),
            RoomMsg::WaitRequest { request_id, reply } => {
                if self.core.pending_requests().any(|r| r.id == request_id) {
                    self.waiters.entry(request_id).or_default().push(reply);
                } else if let Some((_, o)) = self.recent.iter().find(|(id, _)| *id == request_id) {
                    let _ = reply.send(Ok(*o));
                } else {
                    let _ = reply.send(Err(Error::not_found(format!("no request '{request_id}'"))));
                }
            }
            RoomMsg::Resync { edge } => self.resync(&edge),
            RoomMsg::ConnOf { identity, reply } => {
                let conn = self
                    .core
                    .participant(&identity)
                    .and_then(|p| self.conns.get(&p.sid))
                    .cloned();
                let _ = reply.send(conn);
            }
            RoomMsg::Close {
                reason,
                done,
                hand_over,
            } => {
                if hand_over {
                    // Nothing more reaches them from here; their edges move them on.
                    self.conns.retain(|_, c| c.edge().is_none());
                    self.waiting.retain(|_, c| c.edge().is_none());
                    self.handed_over = true;
                }
                self.core.close_all(reason, None);
                if let Some(m) = &mut self.media {
                    m.close_all();
                }
                self.closed = true;
                self.close_ack = done;
            }
        }
    }

    async fn on_client(
        &mut self,
        now: Millis,
        sid: String,
        id: serde_json::Value,
        command: Command,
    ) {
        let Some(conn) = self.conn_of(&sid).cloned() else {
            return; // a late request from a session that already left
        };

        if matches!(
            command,
            Command::Move { .. } | Command::OpenBreakouts { .. }
        ) {
            // Moves span two rooms and are authorized in both, and opening breakouts creates
            // rooms and moves people: the service layer runs them (the WebSocket session sends
            // them there), never a room on its own.
            let e = Error::new(
                ErrorCode::Internal,
                "a move must go through the service layer",
            );
            let frame = self.stamp_for(&sid, Frame::response(&id, &Err(e)));
            let _ = conn.send(Outgoing::Frame(frame));
            return;
        }
        let actor = Actor::Participant { sid: sid.clone() };
        let result = match command {
            // A session in the waiting room may only leave or ping: the room refuses the
            // rest, media signalling included (it never reaches the media plane).
            command if self.core.is_waiting(&sid) => self.run_command(now, &actor, command).await,
            // Media signalling: the engine answers, with the room's approval (media/room.rs).
            Command::MediaOffer { sdp, tracks } => match &mut self.media {
                Some(m) => m.offer(&mut self.core, &sid, &sdp, &tracks),
                None => Err(crate::media::room::no_media_plane()),
            },
            Command::MediaCandidate {
                candidate,
                subscriber,
            } => match &mut self.media {
                Some(m) => m.candidate(&sid, &candidate, subscriber),
                None => Err(crate::media::room::no_media_plane()),
            },
            Command::MediaSubscribe { restart_ice } => match &mut self.media {
                Some(m) if restart_ice => m.restart_subscriber_ice(&sid),
                Some(m) => m.subscribe(&mut self.core, &sid),
                None => Err(crate::media::room::no_media_plane()),
            },
            Command::MediaAnswer { sdp } => match &mut self.media {
                Some(m) => m.answer(&sid, &sdp),
                None => Err(crate::media::room::no_media_plane()),
            },
            command => {
                self.noticed = false;
                self.run_command(now, &actor, command).await
            }
        };
        if let Err(e) = &result {
            self.metrics.error(e.code);
        }
        let response = Outgoing::Frame(self.stamp_for(&sid, Frame::response(&id, &result)));
        if self.core.identity_of(&sid).is_none() {
            // The request ended the sender's own session (leave, end_session): answer it before
            // its `room_left` and the close that follows.
            let _ = conn.send(response);
            self.flush();
        } else {
            self.flush();
            match self.webhooks_durable() {
                // Answered once its webhook events are in the outbox, off the room's path (the
                // events it caused are queued already).
                Some(durable) => {
                    tokio::spawn(async move {
                        let _ = durable.await;
                        let _ = conn.send(response);
                    });
                }
                None => {
                    let _ = conn.send(response);
                }
            }
        }
    }

    /// After a command: a barrier on the webhook outbox if it caused webhook events (its
    /// answer waits for it: an acknowledged host action's webhook is never lost).
    fn webhooks_durable(&mut self) -> Option<oneshot::Receiver<()>> {
        if !std::mem::take(&mut self.noticed) {
            return None;
        }
        self.durable.webhooks.as_ref().map(|w| w.barrier())
    }

    /// `room_started` / `room_finished` to the webhook outbox.
    fn notice_room(&self, kind: crate::webhooks::config::Kind) {
        if let Some(w) = &self.durable.webhooks {
            w.emit(crate::webhooks::notices::room(
                &self.me.name,
                kind,
                now_ms(),
            ));
        }
    }

    /// Runs the commands that messages on participants' data channels asked for
    /// (`RoomMedia::take_data_commands`), each as that participant's own command. A request on
    /// the command topic gets its response back on the data channel; a data message has no
    /// answer in LiveKit's protocol, so its refusal is only counted.
    async fn run_data_commands(&mut self) {
        let Some(m) = &mut self.media else { return };
        let commands = m.take_data_commands();
        if commands.is_empty() {
            return;
        }
        let now = now_ms();
        for c in commands {
            let actor = Actor::Participant { sid: c.sid.clone() };
            let result = match c.command {
                // What spans rooms runs in the service layer (the WebSocket and the API).
                Command::Move { .. } | Command::OpenBreakouts { .. } => Err(Error::invalid(
                    "moves and breakout rooms are not available on the data channel: use Gavel's WebSocket or server API",
                )),
                command => self.run_command(now, &actor, command).await,
            };
            if let Err(e) = &result {
                tracing::debug!(room = %self.me.name, error = %e, "data channel command refused");
                self.metrics.error(e.code);
            }
            // Its events first, then its response, as on the WebSocket.
            self.drain_outputs();
            if let (Some(id), Some(m)) = (c.id, &mut self.media) {
                m.respond(&c.sid, &Frame::response(&id, &result));
            }
        }
        self.flush();
    }

    /// Runs one command. One with durable effects is decided first, its writes committed, and
    /// only then applied: if the commit fails the room is unchanged and the command gets
    /// `unavailable` (no other command ever sees that failure).
    async fn run_command(
        &mut self,
        now: Millis,
        actor: &Actor,
        command: Command,
    ) -> Result<Reply, Error> {
        match self.core.decide(now, actor, command) {
            Decision::Done(result) => result,
            Decision::Commit(pending) => {
                let started = std::time::Instant::now();
                let committed = self
                    .durable
                    .commit(&self.me.name, pending.writes.clone())
                    .await;
                self.metrics
                    .store_write_seconds
                    .observe(started.elapsed().as_secs_f64());
                match committed {
                    Ok(()) => Ok(self.core.apply(pending)),
                    Err(e) => {
                        tracing::error!(room = %self.me.name, error = %e, "cannot commit a command's durable effects");
                        let e = Error::new(
                            ErrorCode::Unavailable,
                            format!("the change could not be stored, so nothing was changed: {e}"),
                        );
                        self.core.abandon(pending, e.clone());
                        Err(e)
                    }
                }
            }
        }
    }

    /// Sends every pending output, brings the media engine into step with the room (and sends
    /// what that caused), then brings the gauges and the reaping timer up to date.
    fn flush(&mut self) {
        // Outputs first: a participant moved out hands its media session over here, before the
        // engine closes the sessions of everyone no longer in the room.
        self.drain_outputs();
        if let Some(m) = &mut self.media {
            m.sync(&mut self.core, &self.conns, &mut self.journal, now_ms());
            self.drain_outputs();
        }
        self.report_counts();
        self.schedule_reap();
    }

    fn drain_outputs(&mut self) {
        loop {
            let mut slow = Vec::new();
            while let Some(out) = self.core.poll_output() {
                self.route(out, &mut slow);
            }
            if slow.is_empty() {
                break;
            }
            // Evicting a slow consumer makes the room announce its leaving: go round again.
            self.evict(slow);
        }
    }

    /// One output to where it goes.
    fn route(&mut self, out: Output, slow: &mut Vec<String>) {
        if let Some(w) = &self.durable.webhooks {
            if let Some(notice) = crate::webhooks::notices::from_output(&self.core, &out, now_ms())
            {
                w.emit(notice);
                self.noticed = true;
            }
        }
        match out {
            Output::Event { to, event } => self.fan_out(&to, &event, slow),
            Output::Disconnect { sid, reason } => {
                if let Some(conn) = self.take_conn(&sid) {
                    let _ = conn.send(Outgoing::Close(reason));
                }
            }
            Output::ToBreakouts { rooms, notice } => {
                if let Some(service) = self.service() {
                    tokio::spawn(async move { service.relay_to_breakouts(rooms, notice).await });
                }
            }
            Output::ReturnFromBreakouts { rooms } => {
                if let Some(service) = self.service() {
                    let main = self.me.name.to_string();
                    tokio::spawn(async move { service.return_from_breakouts(main, rooms).await });
                }
            }
            Output::EndBreakouts { rooms } => {
                if let Some(service) = self.service() {
                    let main = self.me.name.to_string();
                    tokio::spawn(async move { service.end_breakouts(main, rooms).await });
                }
            }
            Output::WaiterAdmitted { sid } => {
                if let Some(conn) = self.waiting.remove(&sid) {
                    self.attach(&sid, conn, false);
                }
            }
            Output::RequestResolved {
                request_id,
                outcome,
            } => self.resolved(request_id, outcome),
            Output::MovedOut { moving } => {
                if let Some(conn) = self.conns.remove(&moving.info.sid) {
                    let media = self.media.as_mut().and_then(|m| m.take(&moving.info.sid));
                    self.moved_out.push(Moved {
                        moving,
                        conn,
                        media,
                    });
                }
            }
            out @ (Output::BanChanged { .. }
            | Output::TokensRevoked { .. }
            | Output::SettingsChanged { .. }
            | Output::PresetChanged { .. }) => {
                // Durable writes come out of `Room::decide`, never here (property-tested).
                debug_assert!(false, "an uncommitted durable write: {out:?}");
                tracing::error!(room = %self.me.name, "an uncommitted durable write was dropped");
            }
            Output::SessionStarted { .. } => {}
            Output::SessionEnded {
                participant,
                reason,
                ..
            } => self.durable.writer.session(SessionRecord {
                id: 0,
                room: self.me.name.to_string(),
                identity: participant.identity,
                sid: participant.sid,
                joined_at: participant.joined_at,
                left_at: now_ms(),
                reason: enum_str(&reason),
                speaking_time_ms: participant.speaking_time_ms,
            }),
            Output::HostAction {
                actor,
                action,
                targets,
                command,
                outcome,
            } => self.record_host_action(actor, action, targets, command, outcome),
        }
    }

    /// An event, serialized once, to every connection of its audience.
    fn fan_out(&mut self, to: &Audience, event: &gavel_core::Event, slow: &mut Vec<String>) {
        let started = std::time::Instant::now();
        let frame = self.journal.stamp(to, Frame::event(event));
        let sent = self.deliver(to, &frame, slow);
        if let Some(m) = &mut self.media {
            // LiveKit's clients receive data, and Gavel's extras, on their data channels.
            m.relay(to, event, &frame);
        }
        self.metrics
            .fanout_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.messages_out.inc_by(sent);
        self.metrics
            .events
            .get_or_create(&KindLabel {
                kind: event.kind().to_string(),
            })
            .inc();
    }

    /// A host action, carried out or refused: metrics, the log and a bounded audit entry
    /// (`store::audit_policy` decides what it may cost).
    fn record_host_action(
        &mut self,
        actor: String,
        action: &'static str,
        targets: Vec<String>,
        command: Box<Command>,
        outcome: Result<(), Error>,
    ) {
        audit_policy::record(
            &self.durable.writer,
            audit_policy::Attempt {
                room: &self.me.name,
                actor,
                action,
                targets,
                command,
                outcome,
            },
        );
    }

    /// Drops connections whose queues are full; the room hears they left.
    fn evict(&mut self, slow: Vec<String>) {
        for sid in slow {
            if self.take_conn(&sid).is_some() {
                tracing::warn!(room = %self.me.name, %sid, "disconnecting slow consumer: outgoing queue full");
                self.core
                    .disconnected(now_ms(), &sid, LeaveReason::SlowConsumer);
            }
        }
    }

    /// The participants gauge follows the room's counts.
    fn report_counts(&mut self) {
        let now = self.core.counts();
        let was = std::mem::replace(&mut self.reported, now);
        self.metrics.participants_delta(
            i64::from(now.present) - i64::from(was.present),
            i64::from(now.hidden) - i64::from(was.hidden),
        );
    }

    /// An empty room starts its empty timeout; a room with people in it has none.
    fn schedule_reap(&mut self) {
        if !self.core.is_empty() {
            self.reap_at = None;
            self.reap_declined = false;
        } else if self.reap_at.is_none() && !self.reap_declined {
            let timeout = self.core.settings().empty_timeout_seconds;
            self.reap_at = Some(Instant::now() + std::time::Duration::from_secs(timeout.into()));
        }
    }

    /// Queues `frame` for every connection in `to`; returns how many took it. Sessions on
    /// other nodes' sockets get it through their edge: one message per edge, whatever the
    /// number of its sessions in `to`.
    fn deliver(&self, to: &Audience, frame: &Frame, slow: &mut Vec<String>) -> u64 {
        use crate::cluster::edge_wire::{EdgeAudience, EdgeBody};
        let mut sent = 0;
        // The edges reached, with the keys of their sessions when `to` names sessions.
        type Reached = (
            Arc<crate::cluster::edge_link::EdgeLink>,
            Vec<u64>,
            Vec<String>,
        );
        let mut edges: Vec<Reached> = Vec::new();
        let mut send = |sid: &String, conn: &Conn| {
            if let Some((link, key)) = conn.edge() {
                match edges.iter_mut().find(|(l, _, _)| Arc::ptr_eq(l, link)) {
                    Some((_, keys, sids)) => {
                        keys.push(key);
                        sids.push(sid.clone());
                    }
                    None => edges.push((link.clone(), vec![key], vec![sid.clone()])),
                }
                return;
            }
            match conn.send(Outgoing::Frame(frame.clone())) {
                Ok(()) => sent += 1,
                Err(SendError::Full) => slow.push(sid.clone()),
                Err(SendError::Closed) => {}
            }
        };
        match to {
            Audience::Only(sid) => {
                if let Some(c) = self.conn_of(sid) {
                    send(sid, c)
                }
            }
            Audience::Sessions(sids) => {
                for sid in sids {
                    if let Some(c) = self.conn_of(sid) {
                        send(sid, c)
                    }
                }
            }
            Audience::Everyone => self.conns.iter().for_each(|(s, c)| send(s, c)),
            Audience::EveryoneExcept(x) => self
                .conns
                .iter()
                .filter(|(s, _)| *s != x)
                .for_each(|(s, c)| send(s, c)),
        }
        if edges.is_empty() {
            return sent;
        }
        let except = match to {
            Audience::EveryoneExcept(x) => self.conns.get(x).and_then(|c| c.edge()),
            _ => None,
        };
        let json = frame.json();
        for (link, keys, sids) in edges {
            let audience = match (to, except) {
                (Audience::Everyone, _) => EdgeAudience::All,
                (Audience::EveryoneExcept(_), Some((l, k))) if Arc::ptr_eq(l, &link) => {
                    EdgeAudience::AllExcept(k)
                }
                (Audience::EveryoneExcept(_), _) => EdgeAudience::All,
                _ => EdgeAudience::Keys(keys.clone()),
            };
            let body = EdgeBody::Deliver {
                to: audience,
                frame: json.clone(),
            };
            match link.send(body) {
                Ok(()) => sent += keys.len() as u64,
                Err(SendError::Full) => slow.extend(sids),
                Err(SendError::Closed) => {}
            }
        }
        sent
    }

    /// Adds a participant's connection; a session on another node's socket is attached to
    /// this room's link to that edge, which from then on delivers the room's events to it.
    /// Admits a joiner and attaches its connection.
    fn join(&mut self, now: u64, req: JoinRequest, conn: Conn) -> Result<String, Error> {
        let r = self.core.join(now, req);
        if let Ok(sid) = &r {
            let waiting = self.core.is_waiting(sid);
            self.attach(sid, conn, waiting);
        }
        r
    }

    /// The service layer, for what this room asks of other rooms (its breakouts).
    fn service(&self) -> Option<crate::service::Service> {
        self.registry.upgrade().map(crate::service::Service::new)
    }

    /// A session's connection, in the room or in its waiting room, taken out.
    fn take_conn(&mut self, sid: &str) -> Option<Conn> {
        self.conns.remove(sid).or_else(|| self.waiting.remove(sid))
    }

    /// A session's connection, in the room or in its waiting room.
    fn conn_of(&self, sid: &str) -> Option<&Conn> {
        self.conns.get(sid).or_else(|| self.waiting.get(sid))
    }

    /// `waiting`: the session waits to be admitted; its connection is kept apart (and its
    /// edge told so), where nothing sent to the whole room reaches it.
    fn attach(&mut self, sid: &str, conn: Conn, waiting: bool) {
        use crate::cluster::edge_wire::EdgeBody;
        let conn = match conn.edge() {
            Some((link, key)) => {
                // A session moved in from another room of this node comes with that room's
                // link: it is this room's link to the same edge from now on.
                let link = if *link.room == *self.me.name {
                    link.clone()
                } else {
                    match self
                        .registry
                        .upgrade()
                        .and_then(|r| r.cluster.get().cloned())
                    {
                        Some(node) => node.links.link(&self.me.name, &link.edge),
                        None => link.clone(),
                    }
                };
                let attached = link.send(EdgeBody::Attach {
                    key,
                    sid: sid.to_string(),
                    waiting,
                });
                if attached.is_err() {
                    tracing::warn!(room = %self.me.name, %sid, "could not attach a session on its edge");
                }
                Conn::remote(link, key, conn.is_pinned())
            }
            None => conn,
        };
        match waiting {
            true => self.waiting.insert(sid.to_string(), conn),
            false => self.conns.insert(sid.to_string(), conn),
        };
    }

    /// Answers an edge that saw a gap: the sessions of that edge in this room, then a fresh
    /// snapshot for each (events it missed are not replayed; the snapshot holds their result).
    fn resync(&mut self, edge: &str) {
        use crate::cluster::edge_wire::EdgeBody;
        let mine: Vec<(String, Conn)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.edge().is_some_and(|(l, _)| l.edge == edge))
            .map(|(s, c)| (s.clone(), c.clone()))
            .collect();
        let Some(node) = self
            .registry
            .upgrade()
            .and_then(|r| r.cluster.get().cloned())
        else {
            return;
        };
        let link = node.links.link(&self.me.name, edge);
        let keys = mine
            .iter()
            .filter_map(|(_, c)| c.edge().map(|(_, k)| k))
            .collect();
        let waiting = self
            .waiting
            .values()
            .filter(|c| c.edge().is_some_and(|(l, _)| l.edge == edge))
            .filter_map(|c| c.edge().map(|(_, k)| k))
            .collect();
        let _ = link.send(EdgeBody::Resync { keys, waiting });
        for (sid, conn) in &mine {
            if let Some(snapshot) = self.core.snapshot(sid) {
                let frame = self.stamp_for(sid, Frame::event(&snapshot));
                let _ = conn.send(Outgoing::Frame(frame));
            }
        }
    }

    /// `frame` for `sid` alone, numbered and kept for a resume.
    fn stamp_for(&mut self, sid: &str, frame: Frame) -> Frame {
        self.journal.stamp(&Audience::Only(sid.to_string()), frame)
    }

    /// Sessions whose grace period ended without a resume leave (`disconnected`).
    fn end_expired_suspensions(&mut self) {
        if self.suspended.is_empty() {
            return;
        }
        let now = Instant::now();
        let expired: Vec<String> = self
            .suspended
            .iter()
            .filter(|(_, s)| s.until <= now)
            .map(|(sid, _)| sid.clone())
            .collect();
        for sid in expired {
            self.suspended.remove(&sid);
            if !self.conns.contains_key(&sid) && self.core.identity_of(&sid).is_some() {
                self.metrics.resume("expired");
                self.core
                    .disconnected(now_ms(), &sid, LeaveReason::Disconnected);
            }
        }
    }

    /// A session resumes on `conn`: `resumed`, then what it missed since `last_ev` (or a fresh
    /// snapshot when that is no longer kept, or `last_ev` is `None`), then the live messages.
    /// Only a session of `identity` that is still in the room resumes (a kicked, banned or
    /// ended one is not). Returns its sid and what its front-end kept when it broke.
    fn resume(
        &mut self,
        sid: &str,
        identity: &str,
        last_ev: Option<u64>,
        conn: Conn,
    ) -> Result<(String, Option<String>), Error> {
        if self.core.identity_of(sid) != Some(identity) {
            self.metrics.resume("refused");
            return Err(Error::not_found(format!(
                "no session '{sid}' of '{identity}' to resume in room '{}'",
                self.me.name
            )));
        }
        let kept = self.suspended.remove(sid).and_then(|s| s.kept);
        // A connection still attached is a socket this side has not seen break yet: it is
        // dropped (its task ends), and its late `Disconnected` no longer matches.
        self.conns.remove(sid);
        let replay = match last_ev {
            Some(last) => self.journal.since(last, sid),
            None => crate::journal::Replay::TooOld,
        };
        let outcome = match &replay {
            crate::journal::Replay::Missed(_) => "resumed",
            crate::journal::Replay::TooOld => "snapshot",
        };
        self.metrics.resume(outcome);
        let frames = match replay {
            crate::journal::Replay::Missed(frames) => frames,
            crate::journal::Replay::TooOld => match self.core.snapshot(sid) {
                Some(snapshot) => vec![self.stamp_for(sid, Frame::event(&snapshot))],
                None => Vec::new(),
            },
        };
        // Attached first: a session on an edge is known there by its sid before its frames.
        self.attach(sid, conn, false);
        let Some(conn) = self.conns.get(sid) else {
            return Err(Error::new(
                ErrorCode::Internal,
                "the resumed session has no connection",
            ));
        };
        let _ = conn.send(Outgoing::Frame(Frame::resumed(sid, frames.len())));
        for f in frames {
            if conn.send(Outgoing::Frame(f)).is_err() {
                break; // more than its queue holds: it fails as a slow consumer
            }
        }
        Ok((sid.to_string(), kept))
    }

    fn resolved(&mut self, request_id: String, outcome: RequestOutcome) {
        for w in self.waiters.remove(&request_id).unwrap_or_default() {
            let _ = w.send(Ok(outcome));
        }
        if self.recent.len() == RECENT_OUTCOMES {
            self.recent.pop_front();
        }
        self.recent.push_back((request_id, outcome));
    }

    /// A join-created room closes once it has been empty for its empty timeout, unless it holds
    /// bans that must outlive the session.
    fn maybe_reap(&mut self) {
        match self.reap_at {
            Some(at) if at <= Instant::now() => {}
            _ => return,
        }
        let now = now_ms();
        if let Some(until) = self.core.bans(now).iter().map(|b| b.until).max() {
            self.reap_at = Some(instant_at(until));
            return;
        }
        let Some(registry) = self.registry.upgrade() else {
            self.closed = true;
            return;
        };
        let rx = &self.rx;
        match registry.try_reap(&self.me.name, self.me.id, || rx.is_empty()) {
            Reap::Closed => self.closed = true,
            Reap::Keep => {
                self.reap_at = None;
                self.reap_declined = true;
            }
            Reap::Retry => self.reap_at = Some(Instant::now() + std::time::Duration::from_secs(1)),
        }
    }
}

/// The next datagram for the room's engine; never resolves without a media plane.
async fn recv_media(media: &mut Option<RoomMedia>) -> Option<crate::media::Datagram> {
    match media {
        Some(m) => m.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A serde enum's wire name (`kicked`, `server_shutdown`, …).
fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
