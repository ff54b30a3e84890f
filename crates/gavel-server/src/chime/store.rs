//! What the Chime front-end keeps: meetings (with their idempotency tokens) and attendees
//! (with their join tokens). Only `chime/` uses this interface; the rest of the server knows
//! rooms, not meetings.
//!
//! The SQLite implementation is in `store/sqlite_chime.rs`, beside the other SQLite code:
//! a meeting and its room are committed in one transaction on the same connection, deleting a
//! room deletes its meeting, and the tables belong to the one migration list
//! (`store/migrations.rs`).

use crate::store::StoreResult;
use gavel_core::{Millis, RoomSettings};

/// A meeting created through the Chime front-end; its room has the same name as `meeting_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeMeeting {
    pub meeting_id: String,
    /// CreateMeeting's idempotency token.
    pub client_request_token: String,
    /// The creating request, less its token: a retry must match it.
    pub fingerprint: String,
    /// The meeting as the API returns it (without the request-dependent `MediaPlacement`).
    pub meeting: serde_json::Value,
}

/// An attendee of a Chime meeting: its identity in the room is `attendee_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeAttendee {
    /// Creation order, for paging.
    pub seq: i64,
    pub meeting_id: String,
    pub attendee_id: String,
    pub external_user_id: String,
    pub join_token: String,
}

/// The Chime front-end's durable state. Calls are synchronous; `chime/` makes them on the
/// store thread (`store/thread.rs`).
pub trait ChimeStore: Send + Sync + 'static {
    /// Records a meeting and its room (with `settings`) in one transaction.
    fn save_meeting(&self, meeting: &ChimeMeeting, settings: &RoomSettings) -> StoreResult<()>;
    fn meeting(&self, meeting_id: &str) -> StoreResult<Option<ChimeMeeting>>;
    fn meeting_by_token(&self, client_request_token: &str) -> StoreResult<Option<ChimeMeeting>>;
    /// Forgets the meeting, its room and everything kept for them, and voids every join token
    /// of that room name issued before `now` (so a late join cannot open a new room of that
    /// name, even after a restart) — in one transaction.
    fn end_meeting(&self, meeting_id: &str, now: Millis) -> StoreResult<()>;

    /// Records an attendee; returns it with its `seq`.
    fn save_attendee(&self, attendee: &ChimeAttendee) -> StoreResult<ChimeAttendee>;
    fn attendee(&self, meeting_id: &str, attendee_id: &str) -> StoreResult<Option<ChimeAttendee>>;
    fn attendee_by_external_id(
        &self,
        meeting_id: &str,
        external_user_id: &str,
    ) -> StoreResult<Option<ChimeAttendee>>;
    /// In creation order, those created after `after_seq`, at most `limit`.
    fn attendees(
        &self,
        meeting_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<ChimeAttendee>>;
    fn count_attendees(&self, meeting_id: &str) -> StoreResult<usize>;
    fn delete_attendee(&self, meeting_id: &str, attendee_id: &str) -> StoreResult<()>;
}
