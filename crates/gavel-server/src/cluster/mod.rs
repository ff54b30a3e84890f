//! Cluster mode: many nodes on one PostgreSQL database and one bus, each room owned by one
//! node at a time (`docs/cluster.md`).
//!
//! Here so far: the ownership layer ([`lease`]) — node leases judged by the database's clock,
//! one owner per room taken by a single compare-and-set, and the epoch that fences every
//! durable write of a room (the PostgreSQL store checks it in the commit's own transaction) —
//! and the bus between nodes ([`bus`]; on Redis, [`redis_bus`]); and this node's membership
//! ([`node`]: registration, the lease thread, readiness). The registry opens a room only under
//! this node's ownership and its commits carry the fence (`registry.rs`, `room_actor.rs`).
//! Forwarding requests to a room's owner and the edges' fan-out build on these; until they
//! land, a node refuses the rooms another node owns.

pub mod bus;
pub mod lease;
pub mod node;
pub mod redis_bus;

use bus::{Envelope, Received};
use std::sync::Arc;

/// Reads what the bus brings this node. No message kinds are served yet (forwarding is to
/// come); a message of a wire version this node cannot read is refused with a clear error,
/// never misread.
pub async fn dispatch(node: Arc<node::Node>, mut inbox: tokio::sync::mpsc::Receiver<Received>) {
    while let Some(message) = inbox.recv().await {
        match Envelope::decode(&message.payload) {
            Ok(envelope) => tracing::debug!(
                node = %node.id,
                from = %envelope.from,
                kind = %envelope.kind,
                "bus message with no handler"
            ),
            Err(refused) => tracing::warn!(
                node = %node.id,
                channel = %message.channel,
                "{refused}"
            ),
        }
    }
}
