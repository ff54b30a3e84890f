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

/// Messages waiting for one room actor; senders wait when it is full (backpressure).
const ROOM_INBOX: usize = 8192;

/// A cheap, clonable address of a room actor.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub name: Arc<str>,
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<RoomMsg>,
}

fn room_gone(name: &str) -> Error {
    Error::not_found(format!("room '{name}' is closed"))
}

impl RoomHandle {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> RoomMsg) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| room_gone(&self.name))?;
        rx.await.map_err(|_| room_gone(&self.name))
    }

    pub async fn join(&self, req: JoinRequest, conn: Conn) -> Result<String, Error> {
        self.call(|reply| RoomMsg::Join { req, conn, reply })
            .await?
    }

    pub async fn admit_moved(
        &self,
        moving: MovingParticipant,
        conn: Conn,
    ) -> Result<String, Error> {
        self.call(|reply| RoomMsg::AdmitMoved {
            moving: Box::new(moving),
            conn,
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
            .map_err(|_| room_gone(&self.name))
    }

    pub async fn disconnected(&self, sid: String, reason: LeaveReason) {
        let _ = self.tx.send(RoomMsg::Disconnected { sid, reason }).await;
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
        let (done, finished) = oneshot::channel();
        let msg = RoomMsg::Close {
            reason,
            done: Some(done),
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
    /// when they have been empty for their `empty_timeout_seconds`.
    explicit: bool,
}

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

    /// Children inherit their ancestors' bans: refuses `identity` if any ancestor of `room`
    /// bans it.
    pub async fn check_inherited_bans(&self, room: &str, identity: &str) -> Result<(), Error> {
        let mut next = self.parent_of(room);
        // Bounded like every walk up the parent chain.
        for _ in 0..8 {
            let Some(parent) = next else { break };
            if let Some(handle) = self.get(&parent) {
                let who = identity.to_string();
                let banned = handle
                    .inspect(move |r, now| r.bans(now).into_iter().find(|b| b.identity == who))
                    .await?;
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
            next = self.parent_of(&parent);
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
        settings.validate()?;
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
        };
        let parent = settings.parent.clone();
        let core = Room::new(name, settings, self.roles.clone(), rand::random());
        RoomActor::spawn(
            core,
            handle.clone(),
            rx,
            Arc::downgrade(self),
            self.metrics.clone(),
            self.durable.clone(),
        );
        rooms.insert(
            name.to_string(),
            Entry {
                handle: handle.clone(),
                parent,
                explicit,
            },
        );
        Ok((handle, true))
    }

    /// Called by an idle room actor: removes it if it is still this registry's room of that name,
    /// not explicit, and nothing is waiting in its inbox.
    pub(crate) fn try_reap(&self, name: &str, id: u64, inbox_empty: impl Fn() -> bool) -> Reap {
        let mut rooms = self.rooms.lock().unwrap();
        match rooms.get(name) {
            Some(e) if e.handle.id == id && e.explicit => Reap::Keep,
            Some(e) if e.handle.id == id && !inbox_empty() => Reap::Retry,
            Some(e) if e.handle.id == id => {
                rooms.remove(name);
                Reap::Closed
            }
            // Deleted or replaced: this actor is no longer reachable.
            _ => Reap::Closed,
        }
    }

    /// Deletes a room: everyone in it gets `room_left {reason}`.
    /// Deletes a room, with its stored settings, bans and revocations.
    pub async fn delete(&self, name: &str, reason: LeaveReason) -> Result<(), Error> {
        let entry = self.rooms.lock().unwrap().remove(name);
        match entry {
            Some(e) => {
                e.handle.close(reason).await;
                let store = self.durable.store.clone();
                let name = name.to_string();
                blocking(move || store.delete_room(&name)).await
            }
            None => Err(Error::not_found(format!("room '{name}' does not exist"))),
        }
    }

    /// Records that `name` was created through the API, so it exists again after a restart.
    pub async fn persist_room(&self, name: &str, settings: RoomSettings) -> Result<(), Error> {
        let store = self.durable.store.clone();
        let name = name.to_string();
        blocking(move || store.save_room(&name, &settings)).await
    }

    /// Opens every room kept in the store (empty, with its settings and bans).
    pub fn restore_rooms(self: &Arc<Self>) -> Result<usize, Error> {
        let rooms = self.durable.store.rooms()?;
        let n = rooms.len();
        for (name, settings) in rooms {
            self.get_or_create(&name, Some(settings), true)?;
        }
        Ok(n)
    }

    /// Closes every room (SIGTERM): clients get `room_left {reason: server_shutdown}`; then
    /// every audit and session row is committed.
    pub async fn shutdown(&self) {
        let entries: Vec<Entry> = self.rooms.lock().unwrap().drain().map(|(_, e)| e).collect();
        for e in entries {
            e.handle.close_and_wait(LeaveReason::ServerShutdown).await;
        }
        self.durable.writer.flush().await;
    }
}

/// Runs a store call off the async threads.
async fn blocking(
    f: impl FnOnce() -> crate::store::StoreResult<()> + Send + 'static,
) -> Result<(), Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(Error::new(
            ErrorCode::Internal,
            format!("store task failed: {e}"),
        )),
    }
}
