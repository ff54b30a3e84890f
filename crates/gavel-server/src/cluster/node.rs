//! This node in the cluster (`[cluster]`): its registration and lease, renewed by a thread of
//! its own, and its connection to the bus.
//!
//! The lease thread owns the blocking database connection of [`Leases`] (not the store's, so
//! a busy store never delays a renewal) and runs ownership calls between heartbeats, in order.
//! Whether the lease is held is a local deadline, readable without waiting
//! ([`Node::lease_held`]): renewals push it forward; when renewals fail long enough, it passes
//! and the node must stop serving its rooms before anyone can take them.

use super::bus::Received;
use super::lease::{Fence, Leases, Owner};
use super::redis_bus::RedisBus;
use crate::store::{StoreError, StoreResult};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
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
}

impl Node {
    /// Registers this node, starts its lease thread and connects to the bus. Returns the node
    /// and what arrives on the bus for it.
    pub async fn start(
        config: &ClusterConfig,
        postgres: &str,
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
        let (bus, inbox) = RedisBus::connect(redis).await.map_err(|e| e.0)?;
        let node = Arc::new(Node {
            id,
            valid_until_ms,
            base,
            jobs,
            bus: Arc::new(bus),
        });
        use super::bus::Bus;
        node.bus.subscribe(&node.channel()).await.map_err(|e| e.0)?;
        tracing::info!(node = %node.id, "joined the cluster");
        Ok((node, inbox))
    }

    /// The bus channel this node receives its own messages on.
    pub fn channel(&self) -> String {
        format!("gavel:node:{}", self.id)
    }

    /// Whether this node's lease is held by its own clock: while it is, nobody else can take
    /// its rooms.
    pub fn lease_held(&self) -> bool {
        let now = self.base.elapsed().as_millis() as u64;
        now < self.valid_until_ms.load(Ordering::Relaxed)
    }

    /// Runs `f` on the lease thread, in order with the heartbeats.
    async fn call<T: Send + 'static>(
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

    /// Leaves the cluster (a graceful stop): this node's rooms are free at once.
    pub async fn leave(&self) -> StoreResult<()> {
        self.call(|l| l.leave()).await
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
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                next = Instant::now() + heartbeat;
                match leases.renew() {
                    Ok(lease) => store_deadline(&valid, base, lease.valid_until),
                    Err(e) => {
                        tracing::warn!(node = %leases.node(), error = %e, "lease renewal failed")
                    }
                }
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}
