//! This node in the cluster (`[cluster]`): its registration and lease, renewed by a thread of
//! its own, and its connection to the bus.
//!
//! The lease thread owns the blocking database connection of [`Leases`] (not the store's, so
//! a busy store never delays a renewal) and runs ownership calls between heartbeats, in order.
//! Whether the lease is held is a local deadline, readable without waiting
//! ([`Node::lease_held`]): renewals push it forward; when renewals fail long enough, it passes
//! and the node must stop serving its rooms before anyone can take them.

use super::bus::Received;
use super::forward::{node_channel, Forwarded, Pending};
use super::lease::{Fence, Leases, Owner};
use super::redis_bus::RedisBus;
use crate::service::{Principal, ServiceRequest};
use crate::store::{StoreError, StoreResult};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// `[cluster]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    #[serde(default)]
    pub enabled: bool,
    /// This node's name among the others; a random suffix makes every start a new node (its
    /// former self's rooms are taken once that lease expires). Default: `node`.
    #[serde(default)]
    pub node_id: Option<String>,
    /// The bus (`redis://host:port/`).
    #[serde(default)]
    pub redis: Option<String>,
    /// How long a node's lease lasts without renewal.
    #[serde(default = "default_lease_ttl_ms")]
    pub lease_ttl_ms: u64,
    /// How often it is renewed.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
}

fn default_lease_ttl_ms() -> u64 {
    10_000
}

fn default_heartbeat_ms() -> u64 {
    2_000
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            node_id: None,
            redis: None,
            lease_ttl_ms: default_lease_ttl_ms(),
            heartbeat_ms: default_heartbeat_ms(),
        }
    }
}

impl ClusterConfig {
    /// What cluster mode cannot start without.
    pub fn validate(&self, store: &crate::config::StoreConfig) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if store.postgres.is_none() {
            return Err("[cluster] needs the PostgreSQL store: set [store] postgres".into());
        }
        if self.redis.is_none() {
            return Err("[cluster] needs the bus: set [cluster] redis".into());
        }
        if self.heartbeat_ms == 0 || self.lease_ttl_ms < 3 * self.heartbeat_ms {
            return Err(
                "[cluster] lease_ttl_ms must be at least three heartbeats (heartbeat_ms > 0)"
                    .into(),
            );
        }
        Ok(())
    }
}

type Job = Box<dyn FnOnce(&mut Leases) + Send>;

/// This node: its id, its lease and the bus.
pub struct Node {
    pub id: String,
    /// The local lease deadline, in milliseconds after `base`.
    valid_until_ms: Arc<AtomicU64>,
    base: Instant,
    jobs: std_mpsc::Sender<Job>,
    pub bus: Arc<RedisBus>,
    /// Calls forwarded to other nodes, waiting for their answers.
    pub(crate) pending: Pending,
    /// This node's rooms' links to the edges holding their sessions' sockets.
    pub links: super::edge_link::Links,
    /// The sessions on this node's sockets whose rooms other nodes serve.
    pub edge: super::edge::Edge,
    /// Recently looked-up owners of rooms this node does not serve, so forwarding does not ask
    /// the database every time (a stale entry is corrected by the owner's `NotHere`).
    owners: Mutex<HashMap<String, (String, Instant)>>,
    left: tokio::sync::watch::Sender<bool>,
    /// Woken when a node leaves: the edge looks at its rooms' owners at once.
    pub(crate) owners_changed: tokio::sync::Notify,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This node's ICE servers (its TURN relay serves only its own media ports): given to the
    /// participants whose rooms — and so media sessions — this node serves, wherever their
    /// sockets are. Set once the relay has started.
    pub ice_servers: std::sync::OnceLock<Arc<crate::turn::IceServers>>,
    /// This node's share of the cluster's ACME state, when it orders certificates
    /// (`cluster/acme.rs`).
    pub acme: std::sync::OnceLock<Arc<super::acme::SharedAcme>>,
}

/// The channel every node hears: notices about nodes.
pub const CLUSTER_CHANNEL: &str = "gavel:cluster";
/// A node left the cluster gracefully (body empty; the envelope names it).
pub const KIND_NODE_LEFT: &str = "node_left";

/// How long a looked-up owner is trusted without asking again.
const OWNER_FRESH: Duration = Duration::from_secs(2);
/// Owners remembered at most (the cache is cleared when full: it is only a shortcut).
const OWNERS_CACHED: usize = 10_000;

impl Node {
    /// Registers this node, starts its lease thread and connects to the bus. Returns the node
    /// and what arrives on the bus for it.
    pub async fn start(
        config: &ClusterConfig,
        postgres: &str,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<(Arc<Node>, mpsc::Receiver<Received>), String> {
        let suffix: u32 = rand::random();
        let id = format!(
            "{}-{suffix:08x}",
            config.node_id.as_deref().unwrap_or("node")
        );
        let ttl = Duration::from_millis(config.lease_ttl_ms);
        let heartbeat = Duration::from_millis(config.heartbeat_ms);
        let base = Instant::now();
        let valid_until_ms = Arc::new(AtomicU64::new(0));
        let (jobs, queue) = std_mpsc::channel::<Job>();
        let (registered, answer) = oneshot::channel();
        {
            let (id, url, valid) = (id.clone(), postgres.to_string(), valid_until_ms.clone());
            std::thread::Builder::new()
                .name("gavel-lease".into())
                .spawn(move || {
                    let (leases, lease) = match Leases::register(&url, &id, ttl) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = registered.send(Err(e));
                            return;
                        }
                    };
                    store_deadline(&valid, base, lease.valid_until);
                    let _ = registered.send(Ok(()));
                    lease_thread(leases, queue, heartbeat, valid, base);
                })
                .map_err(|e| e.to_string())?;
        }
        answer
            .await
            .map_err(|_| "the lease thread stopped".to_string())?
            .map_err(|e| format!("cannot register with the cluster: {e}"))?;
        let redis = config.redis.as_deref().unwrap_or_default();
        let dropped = metrics.cluster_bus_dropped.clone();
        let (bus, inbox) = RedisBus::connect_counting(redis, dropped)
            .await
            .map_err(|e| e.0)?;
        let bus = Arc::new(bus);
        let links = super::edge_link::Links::start(&id, bus.clone(), metrics.clone());
        let node = Arc::new(Node {
            links,
            edge: super::edge::Edge::default(),
            id,
            valid_until_ms,
            base,
            jobs,
            bus,
            pending: Pending::default(),
            owners: Mutex::new(HashMap::new()),
            left: tokio::sync::watch::channel(false).0,
            owners_changed: tokio::sync::Notify::new(),
            metrics,
            ice_servers: std::sync::OnceLock::new(),
            acme: std::sync::OnceLock::new(),
        });
        use super::bus::Bus;
        node.bus.subscribe(&node.channel()).await.map_err(|e| e.0)?;
        node.bus.subscribe(CLUSTER_CHANNEL).await.map_err(|e| e.0)?;
        tracing::info!(node = %node.id, "joined the cluster");
        Ok((node, inbox))
    }

    /// The ICE servers for the media session of participant `sid` of a room this node serves,
    /// whose socket is on another node: this node's relay (named by `[turn] domain`: the host
    /// name the client used reached the edge, not this node) and the external servers.
    pub fn ice_servers_for(&self, sid: &str) -> Vec<crate::turn::IceServer> {
        self.ice_servers
            .get()
            .map(|s| s.for_participant(sid, None))
            .unwrap_or_default()
    }

    /// The bus channel this node receives its own messages on.
    pub fn channel(&self) -> String {
        node_channel(&self.id)
    }

    /// Whether this node's lease is held by its own clock: while it is, nobody else can take
    /// its rooms.
    pub fn lease_held(&self) -> bool {
        let now = self.base.elapsed().as_millis() as u64;
        now < self.valid_until_ms.load(Ordering::Relaxed)
    }

    /// Runs `f` on the lease thread, in order with the heartbeats.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Leases) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |leases| {
                let _ = tx.send(f(leases));
            }))
            .map_err(|_| StoreError::unavailable("the lease thread has stopped"))?;
        rx.await
            .map_err(|_| StoreError::unavailable("the lease thread has stopped"))?
    }

    /// Takes `room` or says who owns it (`lease.rs`).
    pub async fn acquire(&self, room: &str) -> StoreResult<Owner> {
        let room = room.to_string();
        self.call(move |l| l.acquire(&room)).await
    }

    pub async fn release(&self, room: &str, fence: Fence) -> StoreResult<()> {
        let room = room.to_string();
        self.call(move |l| l.release(&room, &fence)).await
    }

    /// The node serving `room` (with a live lease), if any; `fresh` skips the cache.
    pub async fn owner_of(&self, room: &str, fresh: bool) -> StoreResult<Option<String>> {
        if !fresh {
            if let Some((node, at)) = self.owners.lock().unwrap().get(room) {
                if at.elapsed() < OWNER_FRESH {
                    return Ok(Some(node.clone()));
                }
            }
        }
        let name = room.to_string();
        let owner = self.call(move |l| l.owner(&name)).await?.map(|f| f.node);
        let mut owners = self.owners.lock().unwrap();
        match &owner {
            Some(node) => {
                if owners.len() >= OWNERS_CACHED {
                    owners.clear();
                }
                owners.insert(room.to_string(), (node.clone(), Instant::now()));
            }
            None => {
                owners.remove(room);
            }
        }
        Ok(owner)
    }

    /// Who serves each of `rooms` now (rooms nobody serves are left out).
    pub async fn owners(&self, rooms: Vec<String>) -> StoreResult<HashMap<String, String>> {
        self.call(move |l| l.owners(&rooms)).await
    }

    /// The other nodes with a live lease.
    pub async fn other_nodes(&self) -> StoreResult<Vec<String>> {
        let me = self.id.clone();
        let mut nodes = self.call(|l| l.live_nodes()).await?;
        nodes.retain(|n| *n != me);
        Ok(nodes)
    }

    /// Sends node `to` a message of `kind` (its body made from the call id) and waits for the
    /// answer, at most the forwarding timeout.
    pub async fn ask(
        &self,
        to: &str,
        kind: &str,
        body: impl FnOnce(u64) -> Vec<u8>,
    ) -> Result<super::forward::Answer, gavel_core::Error> {
        let timeout = super::forward::FORWARD_TIMEOUT;
        self.pending
            .ask(self.bus.as_ref(), &self.id, to, kind, body, timeout)
            .await
    }

    /// Runs `request` on node `owner` (`forward.rs`).
    pub async fn forward(&self, owner: &str, by: &Principal, request: ServiceRequest) -> Forwarded {
        let forwarded = self
            .pending
            .forward(self.bus.as_ref(), &self.id, owner, by, request)
            .await;
        self.metrics.forwarded(match &forwarded {
            Forwarded::NotHere => "not_here",
            Forwarded::Reply(r) if r.as_ref().as_ref().is_err_and(super::forward::unanswered) => {
                "unanswered"
            }
            Forwarded::Reply(_) => "answered",
        });
        forwarded
    }

    /// Leaves the cluster (a graceful stop): this node's rooms are free at once, and the other
    /// nodes are told, so none keeps sending this node what it no longer serves.
    pub async fn leave(&self) -> StoreResult<()> {
        let left = self.call(|l| l.leave()).await;
        let _ = self.left.send(true);
        use super::bus::Bus;
        let notice = super::bus::Envelope::new(&self.id, KIND_NODE_LEFT, Vec::new()).encode();
        if let Err(e) = self.bus.publish(CLUSTER_CHANNEL, notice).await {
            tracing::warn!(error = %e, "could not tell the other nodes this one left");
        }
        left
    }

    /// Whether this node has left the cluster (its dispatcher stops then, not before: calls
    /// that arrive while its rooms close are still answered).
    pub fn left(&self) -> tokio::sync::watch::Receiver<bool> {
        self.left.subscribe()
    }

    /// Forgets the cached owner of `room` (a call to it went unanswered).
    pub fn forget_owner_of(&self, room: &str) {
        self.owners.lock().unwrap().remove(room);
    }

    /// Forgets every cached room of node `gone` (it left), and has the edge look at once for
    /// the new owners of its sessions' rooms.
    pub fn forget_node(&self, gone: &str) {
        self.owners.lock().unwrap().retain(|_, (n, _)| n != gone);
        self.owners_changed.notify_one();
    }
}

fn store_deadline(valid: &AtomicU64, base: Instant, until: Instant) {
    let ms = until.saturating_duration_since(base).as_millis() as u64;
    valid.fetch_max(ms, Ordering::Relaxed);
}

/// Renews the lease every `heartbeat` and runs ownership calls in between. Ends when the node
/// is dropped (its job sender with it).
fn lease_thread(
    mut leases: Leases,
    queue: std_mpsc::Receiver<Job>,
    heartbeat: Duration,
    valid: Arc<AtomicU64>,
    base: Instant,
) {
    let mut next = Instant::now() + heartbeat;
    loop {
        match queue.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(job) => job(&mut leases),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Checked after every job too: a steady stream of ownership calls never delays a
        // renewal by more than one call.
        if Instant::now() >= next {
            next = Instant::now() + heartbeat;
            match leases.renew() {
                Ok(lease) => store_deadline(&valid, base, lease.valid_until),
                Err(e) => {
                    tracing::warn!(node = %leases.node(), error = %e, "lease renewal failed")
                }
            }
        }
    }
}

/// Stops this node's rooms whenever its lease lapses by its own clock (renewals failed for a
/// lease's length, less the margin): before another node can take them, the rooms close —
/// this node's own sockets are told (`room_left {reason: server_shutdown}`, which clients
/// answer by reconnecting), participants on other nodes' sockets are let go silently, for their
/// edges to admit them again on the next owner. Their writes were already fenced; this stops
/// them being served at all. Once renewals succeed again, rooms open here again on demand.
/// Ends when the server stops.
pub async fn stop_rooms_when_lease_lapses(
    node: Arc<Node>,
    registry: Arc<crate::registry::Registry>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(LEASE_WATCH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held = node.lease_held();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let now_held = node.lease_held();
        if held && !now_held {
            tracing::error!(node = %node.id, "this node's lease lapsed: stopping its rooms");
            registry.hand_over_all().await;
        }
        held = now_held;
    }
}

/// How often the lease's local deadline is looked at (well inside the lease margin).
const LEASE_WATCH: Duration = Duration::from_millis(100);
