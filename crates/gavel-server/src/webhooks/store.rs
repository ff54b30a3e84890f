//! What the webhook outbox keeps, behind its own interface (like Chime's `ChimeStore`): the
//! events waiting per endpoint, and the delivery log. The SQLite implementation is in
//! `store/sqlite_webhooks.rs`, the PostgreSQL one in `store/postgres_webhooks.rs`; both run on
//! the store thread (`store/thread.rs`).

use super::config::EndpointConfig;
use crate::store::StoreResult;
use gavel_core::Millis;
use serde::{Deserialize, Serialize};

/// An event waiting for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// Outbox order: a room's events go to an endpoint in this order.
    pub id: i64,
    pub endpoint: String,
    pub room: String,
    /// The event's id (the same for every endpoint and every attempt): receivers deduplicate
    /// on it.
    pub event_id: String,
    pub kind: String,
    pub created_at: Millis,
    /// The JSON body, signed anew at each attempt.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time.
    pub next_at: Millis,
    pub last_error: Option<String>,
}

/// One line of an endpoint's delivery log: an event delivered or dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    #[serde(default)]
    pub id: i64,
    pub endpoint: String,
    pub event_id: String,
    pub kind: String,
    pub room: String,
    /// When it was delivered or dropped.
    pub at: Millis,
    /// `delivered`, or `dropped` (past the retry period or the endpoint's bound).
    pub outcome: String,
    /// Attempts made, the last included.
    pub attempts: u32,
    /// The last HTTP status received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The body, for replays.
    #[serde(skip)]
    pub body: String,
}

impl DeliveryRecord {
    /// The log line of an event delivered at `now` with HTTP `status` (this attempt included).
    pub fn delivered(row: &OutboxRow, now: Millis, status: u16) -> DeliveryRecord {
        DeliveryRecord {
            id: 0,
            endpoint: row.endpoint.clone(),
            event_id: row.event_id.clone(),
            kind: row.kind.clone(),
            room: row.room.clone(),
            at: now,
            outcome: "delivered".into(),
            attempts: row.attempts + 1,
            status: Some(status),
            error: None,
            body: row.body.clone(),
        }
    }

    /// The log line of an event dropped at `now` for `why`.
    pub fn dropped(row: &OutboxRow, now: Millis, why: &str) -> DeliveryRecord {
        DeliveryRecord {
            id: 0,
            endpoint: row.endpoint.clone(),
            event_id: row.event_id.clone(),
            kind: row.kind.clone(),
            room: row.room.clone(),
            at: now,
            outcome: "dropped".into(),
            attempts: row.attempts,
            status: None,
            error: Some(match &row.last_error {
                Some(e) => format!("{why} (last error: {e})"),
                None => why.to_string(),
            }),
            body: row.body.clone(),
        }
    }
}

/// An event to queue for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxRow {
    pub endpoint: String,
    pub room: String,
    pub event_id: String,
    pub kind: String,
    pub created_at: Millis,
    pub body: String,
}

pub trait WebhookStore: Send + Sync + 'static {
    /// Endpoints created through the API (the configuration file's are not stored).
    fn webhook_endpoints(&self) -> StoreResult<Vec<EndpointConfig>>;
    /// Stores a new endpoint; `false` if one of that name is stored already.
    fn webhook_add_endpoint(&self, endpoint: &EndpointConfig, now: Millis) -> StoreResult<bool>;
    /// Forgets a stored endpoint with its waiting events and its log; `false` if none.
    fn webhook_remove_endpoint(&self, name: &str) -> StoreResult<bool>;
    /// Queues the logged events `event_ids` of `endpoint` again, with their ids and bodies;
    /// returns the ids found.
    fn webhook_replay(
        &self,
        endpoint: &str,
        event_ids: &[String],
        now: Millis,
    ) -> StoreResult<Vec<String>>;
    /// Queues events, all or none.
    fn webhook_enqueue(&self, rows: &[NewOutboxRow]) -> StoreResult<()>;
    /// The oldest waiting event of each room of `endpoint` that is due at `now`, oldest first,
    /// at most `limit`: what may be sent now without passing an earlier event of its room.
    fn webhook_due(&self, endpoint: &str, now: Millis, limit: usize)
        -> StoreResult<Vec<OutboxRow>>;
    /// When the next of those heads is due, if any waits.
    fn webhook_next_at(&self, endpoint: &str) -> StoreResult<Option<Millis>>;
    /// Removes a delivered or dropped event and logs it, keeping the newest `log_rows` log rows
    /// of its endpoint.
    fn webhook_settle(
        &self,
        row_id: i64,
        record: &DeliveryRecord,
        log_rows: u64,
    ) -> StoreResult<()>;
    /// Records a failed attempt: tried again at `next_at`.
    fn webhook_retry(
        &self,
        row_id: i64,
        attempts: u32,
        next_at: Millis,
        error: &str,
    ) -> StoreResult<()>;
    /// Drops (and logs as `dropped`) the events of `endpoint` created before `created_before`
    /// and the oldest beyond `max_pending`; returns how many.
    fn webhook_trim(
        &self,
        endpoint: &str,
        created_before: Millis,
        max_pending: u64,
        now: Millis,
        log_rows: u64,
    ) -> StoreResult<u64>;
    /// The delivery log of `endpoint`, newest first; `before` is a log row id for paging.
    fn webhook_log(
        &self,
        endpoint: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Events waiting for `endpoint`, oldest first; `after` is a row id for paging.
    fn webhook_pending(
        &self,
        endpoint: &str,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>>;
    /// How many events wait for `endpoint`.
    fn webhook_pending_count(&self, endpoint: &str) -> StoreResult<u64>;
    /// Takes or renews, for `ttl_ms` by the database's clock, the right to deliver to
    /// `endpoint` for `node`: one deliverer per endpoint keeps each room's events in order when
    /// nodes share the outbox. A store only one process uses always grants it.
    fn webhook_claim(&self, _endpoint: &str, _node: &str, _ttl_ms: u64) -> StoreResult<bool> {
        Ok(true)
    }
    /// Gives up `node`'s claim on `endpoint` (it stops): another node may deliver at once.
    fn webhook_release(&self, _endpoint: &str, _node: &str) -> StoreResult<()> {
        Ok(())
    }
}
