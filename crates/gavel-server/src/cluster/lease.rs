//! Node leases and room ownership in PostgreSQL: who owns a room, decided by one
//! compare-and-set, and the epoch that fences the owner's writes.
//!
//! - **A node holds a lease** (`cluster_nodes.lease_until`), renewed every heartbeat. Expiry is
//!   judged by the database's clock (`now()`), never by a node's: nodes need not agree on the
//!   time. A node also keeps a local deadline — when its last successful renewal *started*,
//!   plus the lease's length, minus a margin — and stops serving its rooms when it passes
//!   without a renewal ([`Lease::valid_until`]); a paused or partitioned node therefore stops
//!   before anyone can take its rooms.
//! - **A room has one owner**: `room_owners (room, node, epoch)`. [`Leases::acquire`] is one
//!   statement: insert the row, or take it over when its node's lease has expired (or it was
//!   released), bumping the epoch; two nodes racing for a room cannot both win. Rows are never
//!   deleted, so an epoch is never handed out twice.
//! - **Every durable write is fenced**: the store's commit first checks, in the same
//!   transaction, that this node still owns the room at this epoch with a live lease, and locks
//!   the ownership row until it commits, so a takeover waits for it or it fails. A former owner
//!   that was paused past its lease commits nothing ([`FENCED`]).
//!
//! Blocking calls on the node's own connection (not the store's, so a busy store never delays
//! a renewal); the async side runs them on a thread of their own (`cluster/mod.rs`).

use crate::store::{StoreError, StoreResult};
use std::time::{Duration, Instant};

/// What a fenced commit answers when this node no longer owns the room at that epoch.
pub const FENCED: &str = "this node no longer owns the room";

/// A room's owner and its epoch, which its durable writes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub node: String,
    pub epoch: i64,
}

/// Who owns a room, as [`Leases::acquire`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This node, at this epoch.
    Me(Fence),
    /// Another node with a live lease.
    Other(String),
}

/// A node's lease: until when it may serve, by its own clock.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    /// The local deadline: a renewal that started at `t` and succeeded extends it to
    /// `t + ttl - margin` (the database's lease runs from later than `t`, so this is earlier).
    pub valid_until: Instant,
}

/// The margin a node keeps between its local deadline and the lease in the database: time for
/// its rooms to stop, and for clock-rate differences.
pub fn margin(ttl: Duration) -> Duration {
    (ttl / 5).min(Duration::from_secs(2))
}

/// This node's view of the cluster tables, on a connection of its own that is opened again
/// by the next call after it failed.
pub struct Leases {
    config: postgres::Config,
    client: Option<postgres::Client>,
    node: String,
    ttl: Duration,
}

fn db(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(_) => StoreError::new(format!("database error: {e}")),
        None => StoreError::unavailable(format!("the database connection failed: {e}")),
    }
}

impl Leases {
    /// Registers node `node` with a lease of `ttl` (the schema must exist: the store migrates
    /// it). Returns the lease. A node id is used once: a restarted node registers a new one.
    pub fn register(url: &str, node: &str, ttl: Duration) -> StoreResult<(Leases, Lease)> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::new(format!("invalid [store] postgres: {e}")))?;
        config.connect_timeout(crate::store::postgres::CONNECT_TIMEOUT);
        config.application_name("gavel-cluster");
        // A statement that hangs must not outlast the lease it is renewing.
        config.options(&format!("-c statement_timeout={}", (ttl / 2).as_millis()));
        let mut leases = Leases {
            config,
            client: None,
            node: node.to_string(),
            ttl,
        };
        let started = Instant::now();
        let (id, secs) = (leases.node.clone(), ttl.as_secs_f64());
        leases.with(|c| {
            c.execute(
                "INSERT INTO cluster_nodes (id, lease_until)
                 VALUES ($1, now() + make_interval(secs => $2))",
                &[&id, &secs],
            )
        })?;
        let lease = leases.deadline(started);
        Ok((leases, lease))
    }

    /// Runs `f` on the connection, connecting first if there is none; a connection that
    /// failed is dropped, to be opened again by the next call.
    pub(crate) fn with<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> StoreResult<T> {
        if self.client.as_ref().is_none_or(postgres::Client::is_closed) {
            let client = self
                .config
                .connect(postgres::NoTls)
                .map_err(|e| StoreError::unavailable(format!("cannot reach the database: {e}")))?;
            self.client = Some(client);
        }
        let client = self.client.as_mut().expect("connected above");
        f(client).map_err(|e| {
            let err = db(e);
            if err.unavailable {
                self.client = None;
            }
            err
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    fn deadline(&self, started: Instant) -> Lease {
        Lease {
            valid_until: started + self.ttl - margin(self.ttl),
        }
    }

    /// Extends this node's lease. Fails if the database cannot be reached, or if this node's
    /// row is gone (it left): then it must stop serving.
    pub fn renew(&mut self) -> StoreResult<Lease> {
        let started = Instant::now();
        let (id, secs) = (self.node.clone(), self.ttl.as_secs_f64());
        let n = self.with(|c| {
            c.execute(
                "UPDATE cluster_nodes SET lease_until = now() + make_interval(secs => $2)
                 WHERE id = $1",
                &[&id, &secs],
            )
        })?;
        match n {
            1 => Ok(self.deadline(started)),
            _ => Err(StoreError::new(format!(
                "node '{}' is no longer registered",
                self.node
            ))),
        }
    }

    /// Takes `room` if nobody owns it, or its owner's lease has expired, or it was released;
    /// otherwise says who owns it. One statement: concurrent callers get one owner.
    pub fn acquire(&mut self, room: &str) -> StoreResult<Owner> {
        let node = self.node.clone();
        let taken = self.with(|c| {
            c.query_opt(
                "INSERT INTO room_owners (room, node, epoch)
                 SELECT $1, $2, 1
                 WHERE EXISTS (SELECT 1 FROM cluster_nodes
                               WHERE id = $2 AND lease_until > now())
                 ON CONFLICT (room) DO UPDATE
                     SET node = excluded.node, epoch = room_owners.epoch + 1
                     WHERE room_owners.node <> excluded.node
                       AND NOT EXISTS (SELECT 1 FROM cluster_nodes n
                                       WHERE n.id = room_owners.node
                                         AND n.lease_until > now())
                 RETURNING epoch",
                &[&room, &node],
            )
        })?;
        if let Some(row) = taken {
            return Ok(Owner::Me(Fence {
                node: self.node.clone(),
                epoch: row.get(0),
            }));
        }
        // Not taken: someone alive owns it (maybe this node already), or this node's own lease
        // has expired.
        let row = self.with(|c| {
            c.query_opt(
                "SELECT o.node, o.epoch, n.lease_until > now()
                 FROM room_owners o LEFT JOIN cluster_nodes n ON n.id = o.node
                 WHERE o.room = $1",
                &[&room],
            )
        })?;
        match row {
            Some(r)
                if r.get::<_, String>(0) == self.node
                    && r.get::<_, Option<bool>>(2) == Some(true) =>
            {
                Ok(Owner::Me(Fence {
                    node: self.node.clone(),
                    epoch: r.get(1),
                }))
            }
            Some(r) if r.get::<_, Option<bool>>(2) == Some(true) => Ok(Owner::Other(r.get(0))),
            _ => Err(StoreError::unavailable(
                "this node's lease has expired: it cannot take rooms",
            )),
        }
    }

    /// The room's owner with a live lease, if any.
    pub fn owner(&mut self, room: &str) -> StoreResult<Option<Fence>> {
        let row = self.with(|c| {
            c.query_opt(
                "SELECT o.node, o.epoch FROM room_owners o
                 JOIN cluster_nodes n ON n.id = o.node AND n.lease_until > now()
                 WHERE o.room = $1",
                &[&room],
            )
        })?;
        Ok(row.map(|r| Fence {
            node: r.get(0),
            epoch: r.get(1),
        }))
    }

    /// The owners with a live lease of `rooms` (a room nobody serves is not in the answer).
    pub fn owners(
        &mut self,
        rooms: &[String],
    ) -> StoreResult<std::collections::HashMap<String, String>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT o.room, o.node FROM room_owners o
                 JOIN cluster_nodes n ON n.id = o.node AND n.lease_until > now()
                 WHERE o.room = ANY($1)",
                &[&rooms],
            )
        })?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Every node with a live lease, this one included.
    pub fn live_nodes(&mut self) -> StoreResult<Vec<String>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT id FROM cluster_nodes WHERE lease_until > now() ORDER BY id",
                &[],
            )
        })?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Gives `room` up (a graceful hand-over): anyone may take it at once. Only the owner at
    /// `fence`'s epoch can.
    pub fn release(&mut self, room: &str, fence: &Fence) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE room_owners SET node = '' WHERE room = $1 AND node = $2 AND epoch = $3",
                &[&room, &fence.node, &fence.epoch],
            )
        })
        .map(drop)
    }

    /// Leaves the cluster: every room this node owns is released and its lease ends.
    pub fn leave(&mut self) -> StoreResult<()> {
        let node = self.node.clone();
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("UPDATE room_owners SET node = '' WHERE node = $1", &[&node])?;
            tx.execute("DELETE FROM cluster_nodes WHERE id = $1", &[&node])?;
            tx.commit()
        })
    }
}

/// The check at the start of a fenced commit's transaction: `fence` still owns `room` with a
/// live lease. Locks the ownership row until the transaction ends, so a takeover cannot slip
/// in between the check and the commit.
pub fn check_fence(
    tx: &mut impl postgres::GenericClient,
    room: &str,
    fence: &Fence,
) -> Result<bool, postgres::Error> {
    let row = tx.query_opt(
        "SELECT 1 FROM room_owners o JOIN cluster_nodes n ON n.id = o.node
         WHERE o.room = $1 AND o.node = $2 AND o.epoch = $3 AND n.lease_until > now()
         FOR SHARE OF o",
        &[&room, &fence.node, &fence.epoch],
    )?;
    Ok(row.is_some())
}
