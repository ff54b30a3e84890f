//! The Chime front-end's interface (`crate::chime::store::ChimeStore`) on the PostgreSQL store,
//! with the same transactions as SQLite's (`sqlite_chime.rs`): a meeting is committed with its
//! room, and ending it deletes the room's rows and voids its tokens at once.

use super::postgres::{sql, PostgresStore};
use super::{StoreError, StoreResult};
use crate::chime::store::{ChimeAttendee, ChimeMeeting, ChimeStore};
use gavel_core::{Millis, RoomSettings};

impl ChimeStore for PostgresStore {
    fn save_meeting(&self, m: &ChimeMeeting, settings: &RoomSettings) -> StoreResult<()> {
        let now = crate::clock::now_ms() as i64;
        self.with(|c| {
            let mut tx = c.transaction()?;
            sql::save_room(&mut tx, &m.meeting_id, settings)?;
            tx.execute(
                "INSERT INTO chime_meetings
                     (meeting_id, client_request_token, fingerprint, meeting, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &m.meeting_id,
                    &m.client_request_token,
                    &m.fingerprint,
                    &m.meeting.to_string(),
                    &now,
                ],
            )?;
            tx.commit()
        })
    }

    fn meeting(&self, meeting_id: &str) -> StoreResult<Option<ChimeMeeting>> {
        meeting_where(self, "meeting_id", meeting_id)
    }

    fn meeting_by_token(&self, token: &str) -> StoreResult<Option<ChimeMeeting>> {
        meeting_where(self, "client_request_token", token)
    }

    fn end_meeting(&self, meeting_id: &str, now: Millis) -> StoreResult<()> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            sql::delete_room_rows(&mut tx, meeting_id)?;
            sql::revoke_tokens(&mut tx, meeting_id, gavel_core::EVERY_IDENTITY, now)?;
            tx.commit()
        })
    }

    fn save_attendee(&self, a: &ChimeAttendee) -> StoreResult<ChimeAttendee> {
        let now = crate::clock::now_ms() as i64;
        let seq: i64 = self.with(|c| {
            c.query_one(
                "INSERT INTO chime_attendees
                     (meeting_id, attendee_id, external_user_id, join_token, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                &[
                    &a.meeting_id,
                    &a.attendee_id,
                    &a.external_user_id,
                    &a.join_token,
                    &now,
                ],
            )
            .map(|r| r.get(0))
        })?;
        Ok(ChimeAttendee { seq, ..a.clone() })
    }

    fn attendee(&self, meeting_id: &str, attendee_id: &str) -> StoreResult<Option<ChimeAttendee>> {
        attendee_where(self, "attendee_id", meeting_id, attendee_id)
    }

    fn attendee_by_external_id(
        &self,
        meeting_id: &str,
        external_user_id: &str,
    ) -> StoreResult<Option<ChimeAttendee>> {
        attendee_where(self, "external_user_id", meeting_id, external_user_id)
    }

    fn attendees(
        &self,
        meeting_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<ChimeAttendee>> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "{ATTENDEE_COLUMNS} WHERE meeting_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                ),
                &[&meeting_id, &after_seq, &(limit as i64)],
            )?;
            Ok(rows.iter().map(attendee_row).collect())
        })
    }

    fn count_attendees(&self, meeting_id: &str) -> StoreResult<usize> {
        self.with(|c| {
            c.query_one(
                "SELECT count(*) FROM chime_attendees WHERE meeting_id = $1",
                &[&meeting_id],
            )
            .map(|r| r.get::<_, i64>(0).max(0) as usize)
        })
    }

    fn delete_attendee(&self, meeting_id: &str, attendee_id: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM chime_attendees WHERE meeting_id = $1 AND attendee_id = $2",
                &[&meeting_id, &attendee_id],
            )
            .map(drop)
        })
    }
}

const ATTENDEE_COLUMNS: &str =
    "SELECT seq, meeting_id, attendee_id, external_user_id, join_token FROM chime_attendees";

fn attendee_row(r: &postgres::Row) -> ChimeAttendee {
    ChimeAttendee {
        seq: r.get(0),
        meeting_id: r.get(1),
        attendee_id: r.get(2),
        external_user_id: r.get(3),
        join_token: r.get(4),
    }
}

/// The meeting whose `column` (a fixed column name, never input) equals `value`.
fn meeting_where(
    store: &PostgresStore,
    column: &str,
    value: &str,
) -> StoreResult<Option<ChimeMeeting>> {
    let row = store.with(|c| {
        c.query_opt(
            &format!(
                "SELECT meeting_id, client_request_token, fingerprint, meeting
                 FROM chime_meetings WHERE {column} = $1"
            ),
            &[&value],
        )
    })?;
    row.map(|r| {
        let meeting_id: String = r.get(0);
        let meeting = serde_json::from_str(r.get(3)).map_err(|e| {
            StoreError::new(format!("stored meeting '{meeting_id}' is unreadable: {e}"))
        })?;
        Ok(ChimeMeeting {
            meeting_id,
            client_request_token: r.get(1),
            fingerprint: r.get(2),
            meeting,
        })
    })
    .transpose()
}

/// The attendee of `meeting_id` whose `column` (a fixed column name) equals `value`.
fn attendee_where(
    store: &PostgresStore,
    column: &str,
    meeting_id: &str,
    value: &str,
) -> StoreResult<Option<ChimeAttendee>> {
    store.with(|c| {
        c.query_opt(
            &format!("{ATTENDEE_COLUMNS} WHERE meeting_id = $1 AND {column} = $2"),
            &[&meeting_id, &value],
        )
        .map(|r| r.as_ref().map(attendee_row))
    })
}
