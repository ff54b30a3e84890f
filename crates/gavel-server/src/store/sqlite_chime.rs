//! The Chime front-end's interface (`crate::chime::store::ChimeStore`) on the SQLite store.
//!
//! Here rather than in `chime/` because it shares the store's connection and transactions: a
//! meeting is committed with its room, and ending a meeting deletes the room's rows in the same
//! transaction as its own; the tables are created by the one migration list.

use super::sqlite::{delete_room_rows, to_json, SqliteStore};
use super::{StoreError, StoreResult};
use crate::chime::store::{ChimeAttendee, ChimeMeeting, ChimeStore};
use gavel_core::{Millis, RoomSettings};
use rusqlite::{params, OptionalExtension};

impl ChimeStore for SqliteStore {
    fn save_meeting(&self, m: &ChimeMeeting, settings: &RoomSettings) -> StoreResult<()> {
        let now = crate::clock::now_ms() as i64;
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO rooms (name, settings, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET settings = excluded.settings",
                params![m.meeting_id, to_json(settings), now],
            )?;
            tx.execute(
                "INSERT INTO chime_meetings
                     (meeting_id, client_request_token, fingerprint, meeting, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    m.meeting_id,
                    m.client_request_token,
                    m.fingerprint,
                    m.meeting.to_string(),
                    now
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
            let tx = c.transaction()?;
            delete_room_rows(&tx, meeting_id)?;
            tx.execute(
                "INSERT INTO revocations (room, identity, before) VALUES (?1, ?2, ?3)",
                params![meeting_id, gavel_core::EVERY_IDENTITY, now as i64],
            )?;
            tx.commit()
        })
    }

    fn save_attendee(&self, a: &ChimeAttendee) -> StoreResult<ChimeAttendee> {
        let now = crate::clock::now_ms() as i64;
        let seq = self.with(|c| {
            c.execute(
                "INSERT INTO chime_attendees
                     (meeting_id, attendee_id, external_user_id, join_token, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    a.meeting_id,
                    a.attendee_id,
                    a.external_user_id,
                    a.join_token,
                    now
                ],
            )?;
            Ok(c.last_insert_rowid())
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
            let mut st = c.prepare(&format!(
                "{ATTENDEE_COLUMNS} WHERE meeting_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ))?;
            let rows = st.query_map(params![meeting_id, after_seq, limit as i64], attendee_row)?;
            rows.collect()
        })
    }

    fn count_attendees(&self, meeting_id: &str) -> StoreResult<usize> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM chime_attendees WHERE meeting_id = ?1",
                [meeting_id],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n.max(0) as usize)
    }

    fn delete_attendee(&self, meeting_id: &str, attendee_id: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM chime_attendees WHERE meeting_id = ?1 AND attendee_id = ?2",
                [meeting_id, attendee_id],
            )
            .map(drop)
        })
    }
}

const ATTENDEE_COLUMNS: &str =
    "SELECT seq, meeting_id, attendee_id, external_user_id, join_token FROM chime_attendees";

fn attendee_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChimeAttendee> {
    Ok(ChimeAttendee {
        seq: r.get(0)?,
        meeting_id: r.get(1)?,
        attendee_id: r.get(2)?,
        external_user_id: r.get(3)?,
        join_token: r.get(4)?,
    })
}

/// The meeting whose `column` (a fixed column name, never input) equals `value`.
fn meeting_where(
    store: &SqliteStore,
    column: &str,
    value: &str,
) -> StoreResult<Option<ChimeMeeting>> {
    let row: Option<(String, String, String, String)> = store.with(|c| {
        c.query_row(
            &format!(
                "SELECT meeting_id, client_request_token, fingerprint, meeting
                 FROM chime_meetings WHERE {column} = ?1"
            ),
            [value],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
    })?;
    row.map(|(meeting_id, client_request_token, fingerprint, meeting)| {
        let meeting = serde_json::from_str(&meeting).map_err(|e| {
            StoreError::new(format!("stored meeting '{meeting_id}' is unreadable: {e}"))
        })?;
        Ok(ChimeMeeting {
            meeting_id,
            client_request_token,
            fingerprint,
            meeting,
        })
    })
    .transpose()
}

/// The attendee of `meeting_id` whose `column` (a fixed column name) equals `value`.
fn attendee_where(
    store: &SqliteStore,
    column: &str,
    meeting_id: &str,
    value: &str,
) -> StoreResult<Option<ChimeAttendee>> {
    store.with(|c| {
        c.query_row(
            &format!("{ATTENDEE_COLUMNS} WHERE meeting_id = ?1 AND {column} = ?2"),
            [meeting_id, value],
            attendee_row,
        )
        .optional()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meeting_and_its_attendees_round_trip_and_end_with_a_tombstone() {
        crate::store::conformance::chime_meetings(&SqliteStore::in_memory().unwrap());
    }
}
