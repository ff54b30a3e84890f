//! Cluster mode: many nodes on one PostgreSQL database and one bus, each room owned by one
//! node at a time (`docs/cluster.md`).
//!
//! Here so far: the ownership layer ([`lease`]) — node leases judged by the database's clock,
//! one owner per room taken by a single compare-and-set, and the epoch that fences every
//! durable write of a room (the PostgreSQL store checks it in the commit's own transaction) —
//! and the bus between nodes ([`bus`]; on Redis, [`redis_bus`]). Forwarding requests to a
//! room's owner and the edges' fan-out build on both; until they land, a server runs as one
//! node.

pub mod bus;
pub mod lease;
pub mod redis_bus;
