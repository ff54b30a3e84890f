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
pub mod migrations;
pub mod retention;
pub mod sqlite;
pub mod sqlite_chime;
pub mod thread;
pub mod writer;

use gavel_core::{Capabilities, Millis, RoomSettings};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(format!("database error: {e}"))
    }
}

impl From<StoreError> for gavel_core::Error {
    fn from(e: StoreError) -> Self {
        gavel_core::Error::new(gavel_core::ErrorCode::Internal, e.0)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

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

/// The durable store. Calls are synchronous and quick; async code makes them on the store
/// thread through a [`thread::StoreHandle`].
pub trait Store: Send + Sync + 'static {
    fn save_room(&self, name: &str, settings: &RoomSettings) -> StoreResult<()>;
    /// Updates a stored room's settings; a room that is not stored (created by a join) stays so.
    fn update_room_settings(&self, name: &str, settings: &RoomSettings) -> StoreResult<()>;
    /// Deletes a room with everything kept for it (bans, revocations, presets, Chime records).
    fn delete_room(&self, name: &str) -> StoreResult<()>;
    fn rooms(&self) -> StoreResult<Vec<(String, RoomSettings)>>;
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
    /// effect only once this returned `Ok`.
    fn commit(&self, room: &str, writes: &[gavel_core::DurableWrite]) -> StoreResult<()>;

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
