//! Durable state behind a small interface, so another backend can implement it later.
//!
//! What is kept: rooms created through the API (with settings), bans, token revocations and
//! presets, the moderation audit log and one row per participant session ([`Store`]), and the
//! Chime front-end's meetings and attendees (`crate::chime::store::ChimeStore`). The default
//! backend is SQLite ([`sqlite::SqliteStore`], with Chime's part in [`sqlite_chime`]).
//!
//! Async code never calls the store directly: it goes through a [`thread::StoreHandle`], which
//! runs the call on the store's own thread. Audit and session rows are written off the rooms'
//! hot path by [`writer::Writer`], in batches, after [`audit_policy`] has bounded what a
//! refused action may cost; [`retention`] says how long the log keeps them.

pub mod audit_policy;
#[doc(hidden)]
pub mod conformance;
pub mod copy;
pub mod migrations;
pub mod postgres;
pub mod postgres_chime;
pub mod postgres_schema;
pub mod postgres_webhooks;
pub mod retention;
pub mod sqlite;
pub mod sqlite_chime;
pub mod sqlite_webhooks;
pub mod thread;
pub mod writer;

use gavel_core::{Capabilities, Millis, RoomSettings};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A store call that failed: why, and whether the store could not be reached at all (the
/// database is down or the store is overloaded: `unavailable` to the caller, who may retry)
/// rather than refusing the call.
#[derive(Debug)]
pub struct StoreError {
    pub message: String,
    pub unavailable: bool,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
            unavailable: false,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
            unavailable: true,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::new(format!("database error: {e}"))
    }
}

impl From<StoreError> for gavel_core::Error {
    fn from(e: StoreError) -> Self {
        let code = match e.unavailable {
            true => gavel_core::ErrorCode::Unavailable,
            false => gavel_core::ErrorCode::Internal,
        };
        gavel_core::Error::new(code, e.message)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The configured backend, behind both of its interfaces: PostgreSQL when `[store] postgres`
/// is set, else SQLite in the data directory (or in memory without one).
pub async fn open(config: &crate::config::Config) -> StoreResult<Backends> {
    use std::sync::Arc;
    if let Some(url) = config.store.postgres.clone() {
        // The blocking client runs a runtime of its own, which cannot start on an async
        // worker: connect on a thread of its own (later calls run on the store thread).
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(postgres::PostgresStore::connect(&url));
        });
        let pg = Arc::new(
            rx.await
                .map_err(|_| StoreError::new("connecting to PostgreSQL failed"))??,
        );
        return Ok((pg.clone(), pg.clone(), pg));
    }
    let sqlite = Arc::new(match &config.data_dir {
        Some(dir) => sqlite::SqliteStore::open(dir)?,
        None => sqlite::SqliteStore::in_memory()?,
    });
    Ok((sqlite.clone(), sqlite.clone(), sqlite))
}

/// One backend behind each of its interfaces: the rooms' store, Chime's, the webhook outbox's.
pub type Backends = (
    std::sync::Arc<dyn Store>,
    std::sync::Arc<dyn crate::chime::store::ChimeStore>,
    std::sync::Arc<dyn crate::webhooks::store::WebhookStore>,
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBan {
    pub room: String,
    pub identity: String,
    /// Milliseconds since the Unix epoch.
    pub until: Millis,
    pub by: String,
}

/// One host action, carried out or refused, from any path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(default)]
    pub id: i64,
    pub at: Millis,
    pub room: String,
    pub actor: String,
    pub action: String,
    pub targets: Vec<String>,
    /// The command as JSON, cut to a bound (`audit_policy`): a refused command's much shorter.
    pub params: serde_json::Value,
    /// `ok`, or the error code of a refusal.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Refused attempts by the same actor in the same room since its previous entry that were
    /// not written (over the rate `audit_policy` allows); only refusals carry it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One participant session, written when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    #[serde(default)]
    pub id: i64,
    pub room: String,
    pub identity: String,
    pub sid: String,
    pub joined_at: Millis,
    pub left_at: Millis,
    pub reason: String,
    pub speaking_time_ms: u64,
}

/// The row operations a command's durable writes become; each backend says how it runs them
/// (inside the command's transaction), and [`DurableRows::apply`] which ones a write is.
pub(crate) trait DurableRows {
    type Error;
    fn save_ban(&mut self, ban: &StoredBan) -> Result<(), Self::Error>;
    fn lift_ban(&mut self, room: &str, identity: &str) -> Result<(), Self::Error>;
    fn revoke_tokens(
        &mut self,
        room: &str,
        identity: &str,
        before: Millis,
    ) -> Result<(), Self::Error>;
    fn update_room_settings(
        &mut self,
        room: &str,
        settings: &RoomSettings,
    ) -> Result<(), Self::Error>;
    fn save_preset(
        &mut self,
        room: &str,
        identity: &str,
        capabilities: Option<&Capabilities>,
    ) -> Result<(), Self::Error>;

    fn apply(&mut self, room: &str, w: &gavel_core::DurableWrite) -> Result<(), Self::Error> {
        use gavel_core::DurableWrite;
        match w {
            DurableWrite::Ban {
                identity,
                until: Some(until),
                by,
            } => self.save_ban(&StoredBan {
                room: room.to_string(),
                identity: identity.clone(),
                until: *until,
                by: by.clone(),
            }),
            DurableWrite::Ban {
                identity,
                until: None,
                ..
            } => self.lift_ban(room, identity),
            DurableWrite::TokensRevoked {
                identity, before, ..
            } => self.revoke_tokens(room, identity, *before),
            DurableWrite::Settings { settings } => self.update_room_settings(room, settings),
            DurableWrite::Preset {
                identity,
                capabilities,
            } => self.save_preset(room, identity, capabilities.as_ref()),
        }
    }
}

/// The durable store. Calls are synchronous and quick; async code makes them on the store
/// thread through a [`thread::StoreHandle`].
pub trait Store: Send + Sync + 'static {
    /// Whether the store answers at all (readiness): a trivial query.
    fn ping(&self) -> StoreResult<()>;

    fn save_room(&self, name: &str, settings: &RoomSettings) -> StoreResult<()>;
    /// Updates a stored room's settings; a room that is not stored (created by a join) stays so.
    fn update_room_settings(&self, name: &str, settings: &RoomSettings) -> StoreResult<()>;
    /// Deletes a room with everything kept for it (bans, revocations, presets, Chime records).
    fn delete_room(&self, name: &str) -> StoreResult<()>;
    fn rooms(&self) -> StoreResult<Vec<(String, RoomSettings)>>;
    /// The settings a room a join created had changed (its lock), if it has such a row.
    fn joined_room_settings(&self, room: &str) -> StoreResult<Option<RoomSettings>>;
    /// A room a join created closed: what was kept for it while open goes.
    fn forget_joined_room(&self, room: &str) -> StoreResult<()>;
    /// Rooms not created through the API that hold state to enforce at `now`: bans in force,
    /// presets, or revocations of an identity. (A revocation of every identity, `*`, is what
    /// deleting a Chime meeting leaves behind; it marks a deleted room and is not counted.)
    fn rooms_holding_state(&self, now: Millis) -> StoreResult<Vec<String>>;
    /// Whether `room` holds such state (see [`Store::rooms_holding_state`]).
    fn holds_state(&self, room: &str, now: Millis) -> StoreResult<bool>;

    fn save_ban(&self, ban: &StoredBan) -> StoreResult<()>;
    fn lift_ban(&self, room: &str, identity: &str) -> StoreResult<()>;
    /// Bans still in force at `now`.
    fn bans(&self, room: &str, now: Millis) -> StoreResult<Vec<StoredBan>>;

    /// Tokens of `identity` for `room` issued before `before` (ms) are void.
    fn revoke_tokens(&self, room: &str, identity: &str, before: Millis) -> StoreResult<()>;
    fn revocations(&self, room: &str) -> StoreResult<Vec<(String, Millis)>>;

    /// Commits the durable writes of one command in `room`, all or none; the command takes
    /// effect only once this returned `Ok`. With a `fence` (cluster mode), only while that
    /// node owns the room at that epoch (`cluster/lease.rs`); otherwise nothing is written and
    /// the call fails as `unavailable`.
    fn commit(
        &self,
        room: &str,
        fence: Option<&crate::cluster::lease::Fence>,
        writes: &[gavel_core::DurableWrite],
    ) -> StoreResult<()>;

    /// Sets (`Some`) or drops (`None`) the preset capabilities of `identity` in `room`.
    fn save_preset(
        &self,
        room: &str,
        identity: &str,
        capabilities: Option<&Capabilities>,
    ) -> StoreResult<()>;
    fn presets(&self, room: &str) -> StoreResult<Vec<(String, Capabilities)>>;

    fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Newest first; `before` is an entry id for paging, `since` a time.
    fn audit(
        &self,
        room: &str,
        since: Option<Millis>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;

    /// Deletes at most `batch` of the oldest audit entries among those written before
    /// `older_than` or beyond the newest `keep_rows` (`None`: no such limit); returns how many.
    fn prune_audit(
        &self,
        older_than: Option<Millis>,
        keep_rows: Option<u64>,
        batch: usize,
    ) -> StoreResult<usize>;

    fn append_sessions(&self, records: &[SessionRecord]) -> StoreResult<()>;
    /// Newest first; `before` is a row id for paging.
    fn sessions(
        &self,
        room: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>>;
}
