//! Cluster mode: many nodes on one PostgreSQL database, each room owned by one node at a time.
//!
//! What is here so far is the ownership layer ([`lease`]): node leases judged by the
//! database's clock, one owner per room taken by a single compare-and-set, and the epoch that
//! fences every durable write of a room (the PostgreSQL store checks it in the commit's own
//! transaction); and the bus between nodes ([`bus`], on Redis: [`redis_bus`]). Forwarding requests to a room's owner, the bus between nodes and the edges'
//! fan-out build on it (`docs/cluster.md`); until they land, a server runs as one node.

pub mod bus;
pub mod lease;
pub mod redis_bus;
