//! Webhooks (`[webhooks]`, docs/webhooks.md): what happens in rooms, POSTed to endpoints,
//! signed as LiveKit signs its webhooks, from a durable outbox.
//!
//! - [`notices`]: which room outputs are webhook events; [`payload`]: their body (LiveKit's
//!   `WebhookEvent` JSON plus Gavel's fields under `gavel`).
//! - [`outbox`]: rooms hand events to one writer, which commits one row per event and endpoint
//!   to the store's outbox ([`store::WebhookStore`], in SQLite or, shared by a cluster, in
//!   PostgreSQL); a command whose answer must wait for its events to be durable takes a
//!   barrier.
//! - [`deliver`]: one task per endpoint reads its outbox, POSTs each room's events in order,
//!   retries with backoff, drops (logged and counted) what is past the endpoint's bounds;
//!   [`http`] is its client, [`sign`] the `Authorization` JWT.
//! - [`endpoints`]: the live set — the configuration file's endpoints and those created through
//!   the API (stored, so they survive restarts and every node of a cluster sees them) — and one
//!   deliverer per endpoint; [`admin`]: what the server API and `gavel webhooks` do with them.
//!
//! While no endpoint exists, rooms build no payloads (one atomic read per output).

pub mod admin;
pub mod config;
pub mod deliver;
pub mod endpoints;
pub mod http;
pub mod notices;
pub mod outbox;
pub mod payload;
pub mod sign;
pub mod store;

pub use outbox::Webhooks;
