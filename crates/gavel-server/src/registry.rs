//! The rooms of this server: one actor task per room, found by name.

use crate::config::Limits;
use crate::fanout::Conn;
use crate::room_actor::{CommandOutcome, Durable, RoomActor, RoomMsg};
use gavel_core::{
    ids, Actor, Command, Error, ErrorCode, JoinRequest, LeaveReason, Millis, MovingParticipant,
    Reply, RequestOutcome, Roles, Room, RoomSettings,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Keeps a session counted (see [`Registry::session_started`]).
pub struct SessionGuard(Arc<Registry>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.metrics.connections.dec();
        if self.0.sessions.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.sessions_idle.notify_waiters();
        }
    }
}

/// What [`Registry::try_reap`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reap {
    Closed,
    /// The room was created through the API: it stays.
    Keep,
    /// Something is on its way to the room: look again later.
    Retry,
}

/// How many parent links a walk up from a room follows (child rooms of child rooms are fine).
const MAX_PARENT_DEPTH: usize = 8;

/// Messages waiting for one room actor; senders wait when it is full (backpressure).
const ROOM_INBOX: usize = 8192;

/// A cheap, clonable address of a room actor.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub name: Arc<str>,
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<RoomMsg>,
    /// Why the room could not open, set before its inbox is dropped: what everything sent to
    /// it is answered with, instead of "closed".
    pub(crate) failed: Arc<std::sync::OnceLock<Error>>,
}

impl RoomHandle {
    /// Why a message could not reach the room or get an answer.
    fn gone(&self) -> Error {
        match self.failed.get() {
            Some(e) => e.clone(),
            None => Error::not_found(format!("room '{}' is closed", self.name)),
        }
    }
}

impl RoomHandle {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> RoomMsg) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| self.gone())?;
        rx.await.map_err(|_| self.gone())
    }

    pub async fn join(&self, req: JoinRequest, conn: Conn) -> Result<String, Error> {
        self.call(|reply| RoomMsg::Join { req, conn, reply })
            .await?
    }

    /// Joins each of `joins`, in one turn of the room; each outcome as [`Self::join`]'s.
    pub async fn join_many(
        &self,
        joins: Vec<(JoinRequest, Conn)>,
    ) -> Result<Vec<Result<String, Error>>, Error> {
        self.call(|reply| RoomMsg::JoinMany { joins, reply }).await
    }

    pub async fn admit_moved(
        &self,
        moving: MovingParticipant,
        conn: Conn,
        media: Option<crate::media::room::Carried>,
    ) -> Result<String, Error> {
        self.call(|reply| RoomMsg::AdmitMoved {
            moving: Box::new(moving),
            conn,
            media,
            reply,
        })
        .await?
    }

    /// Runs a command; an approved move also hands back the participant and its connection.
    /// Answered once the command's durable effects are committed.
    pub(crate) async fn command_outcome(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<CommandOutcome, Error> {
        self.call(|reply| RoomMsg::Command {
            actor,
            command,
            reply,
        })
        .await
    }

    /// Runs a command and returns its result. Moves go through the service layer, which
    /// authorizes the destination too; here they are refused.
    pub(crate) async fn command(&self, actor: Actor, command: Command) -> Result<Reply, Error> {
        if matches!(command, Command::Move { .. }) {
            return Err(Error::new(
                ErrorCode::Internal,
                "a move must go through the service layer",
            ));
        }
        self.command_outcome(actor, command).await?.result
    }

    /// A client request; the reply goes out on that client's connection, after the events.
    pub async fn client(
        &self,
        sid: String,
        id: serde_json::Value,
        command: Command,
    ) -> Result<(), Error> {
        self.tx
            .send(RoomMsg::Client { sid, id, command })
            .await
            .map_err(|_| self.gone())
    }

    /// The connection of participant `identity`, if it is in the room.
    pub(crate) async fn conn_of(&self, identity: String) -> Result<Option<Conn>, Error> {
        self.call(|reply| RoomMsg::ConnOf { identity, reply }).await
    }

    /// An edge missed messages of this room (`cluster/edge.rs`).
    pub async fn resync(&self, edge: String) {
        let _ = self.tx.send(RoomMsg::Resync { edge }).await;
    }

    pub async fn disconnected(&self, sid: String, reason: LeaveReason) {
        let conn = crate::fanout::WeakConn::none();
        let msg = RoomMsg::Disconnected {
            sid,
            reason,
            suspend: false,
            conn,
            kept: None,
        };
        let _ = self.tx.send(msg).await;
    }

    /// The session's connection `conn` ended: with `suspend` (it broke, with no close frame)
    /// the participant stays for the grace period, for its client to resume. Ignored if the
    /// session resumed on another connection meanwhile.
    pub async fn connection_ended(
        &self,
        sid: String,
        reason: LeaveReason,
        suspend: bool,
        conn: crate::fanout::WeakConn,
        kept: Option<String>,
    ) {
        let msg = RoomMsg::Disconnected {
            sid,
            reason,
            suspend,
            conn,
            kept,
        };
        let _ = self.tx.send(msg).await;
    }

    /// Resumes `sid` (of `identity`) on `conn`: the messages after `last_ev` it missed are
    /// queued on `conn` (a fresh snapshot when they are no longer kept, or when `last_ev` is
    /// `None`). Refused when there is no such session. Returns its sid and what its front-end
    /// kept when it broke.
    pub async fn resume(
        &self,
        sid: String,
        identity: String,
        last_ev: Option<u64>,
        conn: Conn,
    ) -> Result<(String, Option<String>), Error> {
        self.call(|reply| RoomMsg::Resume {
            sid,
            identity,
            last_ev,
            conn,
            reply,
        })
        .await?
    }

    /// Reads room state inside the actor.
    pub async fn inspect<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Room, Millis) -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.call(|reply| {
            RoomMsg::Inspect(Box::new(move |room, now| {
                let _ = reply.send(f(room, now));
            }))
        })
        .await
    }

    /// Waits for a consent request's outcome.
    pub async fn wait_request(&self, request_id: String) -> Result<RequestOutcome, Error> {
        self.call(|reply| RoomMsg::WaitRequest { request_id, reply })
            .await?
    }

    pub async fn close(&self, reason: LeaveReason) {
        self.close_and_wait(reason).await;
    }

    /// Closes the room and waits until its last outputs (session rows, audit) are handed on.
    pub async fn close_and_wait(&self, reason: LeaveReason) {
        self.close_handing_over(reason, false).await;
    }

    /// Closes the room and waits; with `hand_over`, its sessions on other nodes' sockets are
    /// let go silently, for their edges to admit them again elsewhere.
    pub async fn close_handing_over(&self, reason: LeaveReason, hand_over: bool) {
        let (done, finished) = oneshot::channel();
        let msg = RoomMsg::Close {
            reason,
            done: Some(done),
            hand_over,
        };
        if self.tx.send(msg).await.is_ok() {
            let _ = finished.await;
        }
    }
}

struct Entry {
    handle: RoomHandle,
    /// The room this one is a child of (fixed at creation).
    parent: Option<String>,
    /// Created through the server API: it stays until deleted. Rooms created by a join close
    /// when they have been empty for their `empty_timeout_seconds`, unless they hold durable
    /// state (see [`Registry::try_reap`]).
    explicit: bool,
    /// Whether the store says the room holds durable state, asked when it would close.
    state: StateCheck,
}

/// The store's answer to "does this room hold durable state?", asked off the registry's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateCheck {
    NotAsked,
    Asking,
    Answered { holds: bool, at: Instant },
}

/// An answer older than this is asked again: the room may have been busy since. (The actor
/// looks again one second after it was told to retry.)
const STATE_ANSWER_FRESH: Duration = Duration::from_secs(3);

pub struct Registry {
    rooms: Mutex<HashMap<String, Entry>>,
    next_id: AtomicU64,
    /// Live WebSocket sessions, so shutdown can wait for their last frames to be written.
    sessions: AtomicU64,
    sessions_idle: tokio::sync::Notify,
    pub roles: Arc<Roles>,
    pub limits: Limits,
    /// Settings for rooms created by a join; the base of rooms created through the API.
    pub room_defaults: RoomSettings,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub durable: Durable,
    /// The media plane every room's engine sends through (set once, at start-up).
    pub media: std::sync::OnceLock<Arc<crate::media::MediaPlane>>,
    /// This node in the cluster (`[cluster]`; set once, at start-up): rooms open only under
    /// its ownership.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::node::Node>>,
}

impl Registry {
    pub fn new(
        roles: Roles,
        limits: Limits,
        room_defaults: RoomSettings,
        metrics: Arc<crate::metrics::Metrics>,
        durable: Durable,
    ) -> Arc<Registry> {
        Arc::new(Registry {
            rooms: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            sessions: AtomicU64::new(0),
            sessions_idle: tokio::sync::Notify::new(),
            roles: Arc::new(roles),
            limits,
            room_defaults,
            metrics,
            durable,
            media: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
        })
    }

    /// Counts a WebSocket session until the guard drops.
    pub fn session_started(self: &Arc<Self>) -> SessionGuard {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        self.metrics.connections.inc();
        SessionGuard(self.clone())
    }

    /// Waits until no WebSocket session is left.
    pub async fn sessions_finished(&self) {
        loop {
            let idle = self.sessions_idle.notified();
            if self.sessions.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    pub fn get(&self, name: &str) -> Option<RoomHandle> {
        self.rooms
            .lock()
            .unwrap()
            .get(name)
            .map(|e| e.handle.clone())
    }

    /// The parent of a child room.
    pub fn parent_of(&self, name: &str) -> Option<String> {
        self.rooms.lock().unwrap().get(name)?.parent.clone()
    }

    /// `room`, then its parent, grandparent, … — bounded, so a chain is never walked without
    /// end (parents must exist at creation, so there are no cycles; a deleted parent ends it).
    pub fn ancestry<'a>(&'a self, room: &str) -> impl Iterator<Item = String> + 'a {
        std::iter::successors(Some(room.to_string()), move |r| self.parent_of(r))
            .take(MAX_PARENT_DEPTH + 1)
    }

    /// Children inherit their ancestors' bans: refuses `identity` if any ancestor of `room`
    /// bans it.
    pub async fn check_inherited_bans(&self, room: &str, identity: &str) -> Result<(), Error> {
        for parent in self.ancestry(room).skip(1) {
            let Some(handle) = self.get(&parent) else {
                continue;
            };
            let who = identity.to_string();
            let banned = handle.inspect(move |r, now| r.ban_of(&who, now)).await?;
            if let Some(ban) = banned {
                return Err(Error::new(
                    ErrorCode::Banned,
                    format!(
                        "'{identity}' is banned from room '{parent}', and so from its child room '{room}', for {} more seconds",
                        ban.until.saturating_sub(crate::clock::now_ms()).div_ceil(1000)
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn get_or_not_found(&self, name: &str) -> Result<RoomHandle, Error> {
        self.get(name)
            .ok_or_else(|| Error::not_found(format!("room '{name}' does not exist")))
    }

    pub fn handles(&self) -> Vec<RoomHandle> {
        let mut v: Vec<_> = self
            .rooms
            .lock()
            .unwrap()
            .values()
            .map(|e| e.handle.clone())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Returns the room, creating it (with `settings`) if needed; `true` when it was created.
    /// An explicit create marks an existing join-created room as explicit too.
    pub fn get_or_create(
        self: &Arc<Self>,
        name: &str,
        settings: Option<RoomSettings>,
        explicit: bool,
    ) -> Result<(RoomHandle, bool), Error> {
        ids::validate_room_name(name)?;
        let settings = settings.unwrap_or_else(|| self.room_defaults.clone());
        settings.validate_with(&self.roles)?;
        let (handle, rx) = {
            let mut rooms = self.rooms.lock().unwrap();
            if let Some(e) = rooms.get_mut(name) {
                e.explicit |= explicit;
                return Ok((e.handle.clone(), false));
            }
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = mpsc::channel(ROOM_INBOX);
            let handle = RoomHandle {
                name: Arc::from(name),
                id,
                tx,
                failed: Default::default(),
            };
            rooms.insert(
                name.to_string(),
                Entry {
                    handle: handle.clone(),
                    parent: settings.parent.clone(),
                    explicit,
                    state: StateCheck::NotAsked,
                },
            );
            (handle, rx)
        };
        let core = Room::new(name, settings, self.roles.clone(), rand::random());
        self.open(core, handle.clone(), rx);
        Ok((handle, true))
    }

    /// Starts a new room's actor. The actor loads the room's bans, revocations and presets
    /// when it starts, so it is started on the store thread (never under the registry's lock,
    /// never on an async worker); whatever is sent to the room meanwhile waits in its inbox,
    /// so nothing reaches it before its bans are in force.
    fn open(self: &Arc<Self>, core: Room, handle: RoomHandle, rx: mpsc::Receiver<RoomMsg>) {
        let (name, id) = (handle.name.clone(), handle.id);
        let registry = Arc::downgrade(self);
        let (metrics, mut durable) = (self.metrics.clone(), self.durable.clone());
        let runtime = tokio::runtime::Handle::current();
        let store = self.durable.store.clone();
        let this = Arc::downgrade(self);
        let node = self.cluster.get().cloned();
        tokio::spawn(async move {
            // In cluster mode a room opens only where it is owned: one owner at a time.
            if let Some(node) = node {
                use crate::cluster::lease::Owner;
                let refused = match node.acquire(&name).await {
                    Ok(Owner::Me(fence)) => {
                        durable.fence = Some(fence);
                        None
                    }
                    Ok(Owner::Other(owner)) => Some(format!(
                        "room '{name}' is served by another node ({owner}); connect there"
                    )),
                    Err(e) => Some(format!("room '{name}' cannot open: {e}")),
                };
                if let Some(why) = refused {
                    // Set before the inbox (`rx`) is dropped, so every waiting sender reads it.
                    let _ = handle.failed.set(Error::new(ErrorCode::Unavailable, why));
                    if let Some(this) = this.upgrade() {
                        let mut rooms = this.rooms.lock().unwrap();
                        if rooms.get(&*name).is_some_and(|e| e.handle.id == id) {
                            rooms.remove(&*name);
                        }
                    }
                    drop(rx);
                    return;
                }
            }
            let started = store
                .call(move |_| {
                    let _in_runtime = runtime.enter();
                    RoomActor::spawn(core, handle, rx, registry, metrics, durable)
                })
                .await;
            if let Err(e) = started {
                tracing::error!(room = %name, error = %e, "cannot open the room");
                if let Some(this) = this.upgrade() {
                    let mut rooms = this.rooms.lock().unwrap();
                    if rooms.get(&*name).is_some_and(|e| e.handle.id == id) {
                        rooms.remove(&*name);
                    }
                }
            }
        });
    }

    /// Called by an idle room actor: removes it if it is still this registry's room of that name,
    /// not explicit, holds no durable state, and nothing is waiting in its inbox.
    ///
    /// A join-created room that holds durable state (bans in force, presets, revocations) stays
    /// listed, so its bans can be read and lifted through the API — as after a restart, which
    /// reopens such rooms. The room actor keeps a room with bans in force itself; for the rest
    /// the store is asked here, off the lock (the actor looks again a second later). A preset
    /// or revocation set on the empty room in that second may be missed: the room then closes,
    /// and its state waits in the store for the next join or restart.
    pub(crate) fn try_reap(
        self: &Arc<Self>,
        name: &str,
        id: u64,
        inbox_empty: impl Fn() -> bool,
    ) -> Reap {
        let mut rooms = self.rooms.lock().unwrap();
        let entry = match rooms.get_mut(name) {
            Some(e) if e.handle.id == id => e,
            // Deleted or replaced: this actor is no longer reachable.
            _ => return Reap::Closed,
        };
        if entry.explicit {
            return Reap::Keep;
        }
        if !inbox_empty() {
            return Reap::Retry;
        }
        match entry.state {
            StateCheck::Asking => Reap::Retry,
            StateCheck::Answered { holds, at } if at.elapsed() < STATE_ANSWER_FRESH => {
                if holds {
                    // Asked again the next time the room is left empty.
                    entry.state = StateCheck::NotAsked;
                    Reap::Keep
                } else {
                    rooms.remove(name);
                    // Queued before any later open of the same name (the store thread runs
                    // jobs in order): a new meeting in this room starts from its defaults.
                    let room = name.to_string();
                    if let Err(e) = self
                        .durable
                        .store
                        .try_call(move |s| s.forget_joined_room(&room))
                    {
                        tracing::warn!(room = name, error = %e, "the closed room's kept settings stay");
                    }
                    Reap::Closed
                }
            }
            StateCheck::NotAsked | StateCheck::Answered { .. } => {
                entry.state = StateCheck::Asking;
                self.ask_holds_state(name, id);
                Reap::Retry
            }
        }
    }

    fn ask_holds_state(self: &Arc<Self>, name: &str, id: u64) {
        let this = Arc::downgrade(self);
        let store = self.durable.store.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let room = name.clone();
            let now = crate::clock::now_ms();
            let holds = store
                .call(move |s| s.holds_state(&room, now))
                .await
                .unwrap_or_else(|e| {
                    // Unknown: keep the room rather than hide state that may be there.
                    tracing::error!(room = %name, error = %e, "cannot tell whether the room holds durable state");
                    true
                });
            let Some(this) = this.upgrade() else { return };
            let mut rooms = this.rooms.lock().unwrap();
            if let Some(e) = rooms.get_mut(&name) {
                if e.handle.id == id && e.state == StateCheck::Asking {
                    e.state = StateCheck::Answered {
                        holds,
                        at: Instant::now(),
                    };
                }
            }
        });
    }

    /// Deletes a room, with its stored settings, bans, revocations and presets: everyone in
    /// it gets `room_left {reason}`.
    pub async fn delete(&self, name: &str, reason: LeaveReason) -> Result<(), Error> {
        let entry = self.rooms.lock().unwrap().remove(name);
        match entry {
            Some(e) => {
                e.handle.close(reason).await;
                let name = name.to_string();
                Ok(self
                    .durable
                    .store
                    .call(move |s| s.delete_room(&name))
                    .await?)
            }
            None => Err(Error::not_found(format!("room '{name}' does not exist"))),
        }
    }

    /// Records that `name` was created through the API, so it exists again after a restart.
    pub async fn persist_room(&self, name: &str, settings: RoomSettings) -> Result<(), Error> {
        let name = name.to_string();
        Ok(self
            .durable
            .store
            .call(move |s| s.save_room(&name, &settings))
            .await?)
    }

    /// Opens every room kept in the store (empty, with its settings and bans), and every room
    /// a join created that holds durable state (bans in force, presets, revocations), so their
    /// bans can be read and lifted. Returns how many were opened.
    pub async fn restore_rooms(self: &Arc<Self>) -> Result<usize, Error> {
        let now = crate::clock::now_ms();
        let (stored, holding) = self
            .durable
            .store
            .call(move |s| Ok((s.rooms()?, s.rooms_holding_state(now)?)))
            .await?;
        let n = stored.len() + holding.len();
        for (name, settings) in stored {
            self.get_or_create(&name, Some(settings), true)?;
        }
        for name in holding {
            self.get_or_create(&name, None, false)?;
        }
        Ok(n)
    }

    /// Closes every room (SIGTERM): clients get `room_left {reason: server_shutdown}`; then
    /// every audit and session row is committed. In cluster mode the rooms are handed over:
    /// participants whose sockets are on other nodes stay in them, admitted again by their
    /// edges on the room's next owner; only this node's own sockets close (their clients
    /// reconnect to any node).
    pub async fn shutdown(&self) {
        self.hand_over_all().await;
        self.durable.writer.flush().await;
        // The rooms' last webhook events (people leaving, rooms finishing) are in the outbox
        // before the process ends: the next node or start delivers them.
        if let Some(w) = &self.durable.webhooks {
            let _ = w.barrier().await;
        }
    }

    /// Closes every room with `room_left {reason: server_shutdown}` for this node's own
    /// sockets; in cluster mode, participants on other nodes' sockets are let go silently, for
    /// their edges to admit them again on the rooms' next owners (a stop, or a lapsed lease).
    pub async fn hand_over_all(&self) {
        let hand_over = self.cluster.get().is_some();
        let entries: Vec<Entry> = self.rooms.lock().unwrap().drain().map(|(_, e)| e).collect();
        for e in entries {
            e.handle
                .close_handing_over(LeaveReason::ServerShutdown, hand_over)
                .await;
        }
    }
}
