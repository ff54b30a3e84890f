//! The embedded store: SQLite in WAL mode in the data directory.
//!
//! WAL with `synchronous = NORMAL` keeps every committed transaction across a killed process
//! (`kill -9`); only an operating-system crash can lose the last ones.

use super::{
    migrations, AuditEntry, ChimeAttendee, ChimeMeeting, SessionRecord, Store, StoreError,
    StoreResult, StoredBan,
};
use gavel_core::{Capabilities, DurableWrite, Millis, RoomSettings};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

pub const FILE_NAME: &str = "gavel.db";

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/gavel.db` and migrates it.
    pub fn open(dir: &Path) -> StoreResult<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let conn = Connection::open(dir.join(FILE_NAME))?;
        Self::init(conn)
    }

    /// A private database in memory (tests, and `dev` without a data directory).
    pub fn in_memory() -> StoreResult<SqliteStore> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> StoreResult<SqliteStore> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut conn)?)
    }
}

/// The statements behind durable writes, shared by the single-write methods and by
/// [`Store::commit`]'s transaction.
mod sql {
    use super::to_json;
    use crate::store::StoredBan;
    use gavel_core::{Capabilities, DurableWrite, Millis, RoomSettings};
    use rusqlite::{params, Connection};

    pub fn update_room_settings(
        c: &Connection,
        name: &str,
        settings: &RoomSettings,
    ) -> rusqlite::Result<()> {
        c.execute(
            "UPDATE rooms SET settings = ?2 WHERE name = ?1",
            params![name, to_json(settings)],
        )
        .map(drop)
    }

    pub fn save_ban(c: &Connection, ban: &StoredBan) -> rusqlite::Result<()> {
        c.execute(
            "INSERT INTO bans (room, identity, until, by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (room, identity) DO UPDATE SET until = excluded.until, by = excluded.by",
            params![ban.room, ban.identity, ban.until as i64, ban.by],
        )
        .map(drop)
    }

    pub fn lift_ban(c: &Connection, room: &str, identity: &str) -> rusqlite::Result<()> {
        c.execute(
            "DELETE FROM bans WHERE room = ?1 AND identity = ?2",
            [room, identity],
        )
        .map(drop)
    }

    pub fn revoke_tokens(
        c: &Connection,
        room: &str,
        identity: &str,
        before: Millis,
    ) -> rusqlite::Result<()> {
        c.execute(
            "INSERT INTO revocations (room, identity, before) VALUES (?1, ?2, ?3)
             ON CONFLICT (room, identity) DO UPDATE SET before = max(before, excluded.before)",
            params![room, identity, before as i64],
        )
        .map(drop)
    }

    pub fn save_preset(
        c: &Connection,
        room: &str,
        identity: &str,
        capabilities: Option<&Capabilities>,
    ) -> rusqlite::Result<()> {
        match capabilities {
            Some(caps) => c
                .execute(
                    "INSERT INTO presets (room, identity, capabilities) VALUES (?1, ?2, ?3)
                     ON CONFLICT (room, identity) DO UPDATE SET capabilities = excluded.capabilities",
                    params![room, identity, to_json(caps)],
                )
                .map(drop),
            None => c
                .execute(
                    "DELETE FROM presets WHERE room = ?1 AND identity = ?2",
                    [room, identity],
                )
                .map(drop),
        }
    }

    pub fn durable_write(c: &Connection, room: &str, w: &DurableWrite) -> rusqlite::Result<()> {
        match w {
            DurableWrite::Ban {
                identity,
                until: Some(until),
                by,
            } => save_ban(
                c,
                &StoredBan {
                    room: room.to_string(),
                    identity: identity.clone(),
                    until: *until,
                    by: by.clone(),
                },
            ),
            DurableWrite::Ban {
                identity,
                until: None,
                ..
            } => lift_ban(c, room, identity),
            DurableWrite::TokensRevoked {
                identity, before, ..
            } => revoke_tokens(c, room, identity, *before),
            DurableWrite::Settings { settings } => update_room_settings(c, room, settings),
            DurableWrite::Preset {
                identity,
                capabilities,
            } => save_preset(c, room, identity, capabilities.as_ref()),
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Store for SqliteStore {
    fn save_room(&self, name: &str, settings: &RoomSettings) -> StoreResult<()> {
        let now = crate::clock::now_ms() as i64;
        self.with(|c| {
            c.execute(
                "INSERT INTO rooms (name, settings, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET settings = excluded.settings",
                params![name, to_json(settings), now],
            )
            .map(drop)
        })
    }

    fn update_room_settings(&self, name: &str, settings: &RoomSettings) -> StoreResult<()> {
        self.with(|c| sql::update_room_settings(c, name, settings))
    }

    fn delete_room(&self, name: &str) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM rooms WHERE name = ?1", [name])?;
            tx.execute("DELETE FROM bans WHERE room = ?1", [name])?;
            tx.execute("DELETE FROM revocations WHERE room = ?1", [name])?;
            tx.execute("DELETE FROM presets WHERE room = ?1", [name])?;
            tx.execute("DELETE FROM chime_meetings WHERE meeting_id = ?1", [name])?;
            tx.execute("DELETE FROM chime_attendees WHERE meeting_id = ?1", [name])?;
            tx.commit()
        })
    }

    fn rooms(&self) -> StoreResult<Vec<(String, RoomSettings)>> {
        self.keyed_json(
            "SELECT name, settings FROM rooms ORDER BY name",
            [],
            |name| format!("stored settings of room '{name}'"),
        )
    }

    fn save_ban(&self, ban: &StoredBan) -> StoreResult<()> {
        self.with(|c| sql::save_ban(c, ban))
    }

    fn lift_ban(&self, room: &str, identity: &str) -> StoreResult<()> {
        self.with(|c| sql::lift_ban(c, room, identity))
    }

    fn bans(&self, room: &str, now: Millis) -> StoreResult<Vec<StoredBan>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT identity, until, by FROM bans WHERE room = ?1 AND until > ?2 ORDER BY identity",
            )?;
            let rows = st.query_map(params![room, now as i64], |r| {
                Ok(StoredBan {
                    room: room.to_string(),
                    identity: r.get(0)?,
                    until: r.get::<_, i64>(1)? as Millis,
                    by: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    fn revoke_tokens(&self, room: &str, identity: &str, before: Millis) -> StoreResult<()> {
        self.with(|c| sql::revoke_tokens(c, room, identity, before))
    }

    fn revocations(&self, room: &str) -> StoreResult<Vec<(String, Millis)>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT identity, before FROM revocations WHERE room = ?1")?;
            let rows = st.query_map([room], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as Millis)))?;
            rows.collect()
        })
    }

    fn save_preset(
        &self,
        room: &str,
        identity: &str,
        capabilities: Option<&Capabilities>,
    ) -> StoreResult<()> {
        self.with(|c| sql::save_preset(c, room, identity, capabilities))
    }

    /// One transaction: a command's writes are committed together or not at all.
    fn commit(&self, room: &str, writes: &[DurableWrite]) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for w in writes {
                sql::durable_write(&tx, room, w)?;
            }
            tx.commit()
        })
    }

    fn presets(&self, room: &str) -> StoreResult<Vec<(String, Capabilities)>> {
        self.keyed_json(
            "SELECT identity, capabilities FROM presets WHERE room = ?1",
            [room],
            |identity| format!("stored preset of '{identity}' in room '{room}'"),
        )
    }

    fn save_chime_meeting(&self, m: &ChimeMeeting, settings: &RoomSettings) -> StoreResult<()> {
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

    fn chime_meeting(&self, meeting_id: &str) -> StoreResult<Option<ChimeMeeting>> {
        self.chime_meeting_where("meeting_id", meeting_id)
    }

    fn chime_meeting_by_token(&self, token: &str) -> StoreResult<Option<ChimeMeeting>> {
        self.chime_meeting_where("client_request_token", token)
    }

    fn save_chime_attendee(&self, a: &ChimeAttendee) -> StoreResult<ChimeAttendee> {
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

    fn chime_attendee(
        &self,
        meeting_id: &str,
        attendee_id: &str,
    ) -> StoreResult<Option<ChimeAttendee>> {
        self.chime_attendee_where("attendee_id", meeting_id, attendee_id)
    }

    fn chime_attendee_by_external_id(
        &self,
        meeting_id: &str,
        external_user_id: &str,
    ) -> StoreResult<Option<ChimeAttendee>> {
        self.chime_attendee_where("external_user_id", meeting_id, external_user_id)
    }

    fn chime_attendees(
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

    fn count_chime_attendees(&self, meeting_id: &str) -> StoreResult<usize> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM chime_attendees WHERE meeting_id = ?1",
                [meeting_id],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n.max(0) as usize)
    }

    fn delete_chime_attendee(&self, meeting_id: &str, attendee_id: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM chime_attendees WHERE meeting_id = ?1 AND attendee_id = ?2",
                [meeting_id, attendee_id],
            )
            .map(drop)
        })
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO audit (at, room, actor, action, targets, params, outcome, message)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for e in entries {
                    st.execute(params![
                        e.at as i64,
                        e.room,
                        e.actor,
                        e.action,
                        to_json(&e.targets),
                        e.params.to_string(),
                        e.outcome,
                        e.message,
                    ])?;
                }
            }
            tx.commit()
        })
    }

    fn audit(
        &self,
        room: &str,
        since: Option<Millis>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, at, actor, action, targets, params, outcome, message FROM audit
                 WHERE room = ?1 AND at >= ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
            )?;
            let rows = st.query_map(
                params![
                    room,
                    since.unwrap_or(0) as i64,
                    before.unwrap_or(i64::MAX),
                    limit as i64
                ],
                |r| {
                    let targets: String = r.get(4)?;
                    let params: String = r.get(5)?;
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: r.get::<_, i64>(1)? as Millis,
                        room: room.to_string(),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        targets: serde_json::from_str(&targets).unwrap_or_default(),
                        params: serde_json::from_str(&params).unwrap_or_default(),
                        outcome: r.get(6)?,
                        message: r.get(7)?,
                    })
                },
            )?;
            rows.collect()
        })
    }

    fn append_sessions(&self, records: &[SessionRecord]) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO sessions (room, identity, sid, joined_at, left_at, reason, speaking_time_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for s in records {
                    st.execute(params![
                        s.room,
                        s.identity,
                        s.sid,
                        s.joined_at as i64,
                        s.left_at as i64,
                        s.reason,
                        s.speaking_time_ms as i64,
                    ])?;
                }
            }
            tx.commit()
        })
    }

    fn sessions(
        &self,
        room: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, identity, sid, joined_at, left_at, reason, speaking_time_ms FROM sessions
                 WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = st.query_map(
                params![room, before.unwrap_or(i64::MAX), limit as i64],
                |r| {
                    Ok(SessionRecord {
                        id: r.get(0)?,
                        room: room.to_string(),
                        identity: r.get(1)?,
                        sid: r.get(2)?,
                        joined_at: r.get::<_, i64>(3)? as Millis,
                        left_at: r.get::<_, i64>(4)? as Millis,
                        reason: r.get(5)?,
                        speaking_time_ms: r.get::<_, i64>(6)? as u64,
                    })
                },
            )?;
            rows.collect()
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

impl SqliteStore {
    /// Rows of (key, JSON document), each document parsed; `what` names a row in errors.
    fn keyed_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: impl Fn(&str) -> String,
    ) -> StoreResult<Vec<(String, T)>> {
        let rows: Vec<(String, String)> = self.with(|c| {
            let mut st = c.prepare(sql)?;
            let rows = st.query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(key, doc)| {
                let value = serde_json::from_str(&doc)
                    .map_err(|e| StoreError(format!("{} is unreadable: {e}", what(&key))))?;
                Ok((key, value))
            })
            .collect()
    }

    /// The meeting whose `column` (a fixed column name, never input) equals `value`.
    fn chime_meeting_where(&self, column: &str, value: &str) -> StoreResult<Option<ChimeMeeting>> {
        let row: Option<(String, String, String, String)> = self.with(|c| {
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
                StoreError(format!("stored meeting '{meeting_id}' is unreadable: {e}"))
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
    fn chime_attendee_where(
        &self,
        column: &str,
        meeting_id: &str,
        value: &str,
    ) -> StoreResult<Option<ChimeAttendee>> {
        self.with(|c| {
            c.query_row(
                &format!("{ATTENDEE_COLUMNS} WHERE meeting_id = ?1 AND {column} = ?2"),
                [meeting_id, value],
                attendee_row,
            )
            .optional()
        })
    }
}

/// The schema version of the database in `dir`, if there is one (for diagnostics and tests).
pub fn schema_version(dir: &Path) -> StoreResult<Option<usize>> {
    let path = dir.join(FILE_NAME);
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open(path)?;
    let v: Option<i64> = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .optional()?;
    Ok(v.map(|v| v as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gavel-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn rooms_bans_audit_sessions_round_trip() {
        let s = SqliteStore::in_memory().unwrap();
        let settings = RoomSettings {
            max_participants: 7,
            ..Default::default()
        };
        s.save_room("a", &settings).unwrap();
        assert_eq!(s.rooms().unwrap(), vec![("a".to_string(), settings)]);
        let ban = StoredBan {
            room: "a".into(),
            identity: "troll".into(),
            until: 2_000,
            by: "host".into(),
        };
        s.save_ban(&ban).unwrap();
        assert_eq!(s.bans("a", 1_000).unwrap(), vec![ban.clone()]);
        assert!(
            s.bans("a", 2_000).unwrap().is_empty(),
            "expired bans are not in force"
        );
        s.lift_ban("a", "troll").unwrap();
        assert!(s.bans("a", 0).unwrap().is_empty());
        s.revoke_tokens("a", "x", 10).unwrap();
        s.revoke_tokens("a", "x", 5).unwrap();
        assert_eq!(s.revocations("a").unwrap(), vec![("x".to_string(), 10)]);

        let entry = |i: u64| AuditEntry {
            id: 0,
            at: i,
            room: "a".into(),
            actor: "host".into(),
            action: "mute".into(),
            targets: vec!["bob".into()],
            params: serde_json::json!({"source": "microphone"}),
            outcome: "ok".into(),
            message: None,
        };
        s.append_audit(&(1..=5).map(entry).collect::<Vec<_>>())
            .unwrap();
        let page = s.audit("a", None, None, 2).unwrap();
        assert_eq!(page.iter().map(|e| e.at).collect::<Vec<_>>(), [5, 4]);
        let next = s.audit("a", None, Some(page[1].id), 10).unwrap();
        assert_eq!(next.iter().map(|e| e.at).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(s.audit("a", Some(4), None, 10).unwrap().len(), 2);
        assert_eq!(next[0].params["source"], "microphone");

        s.append_sessions(&[SessionRecord {
            id: 0,
            room: "a".into(),
            identity: "bob".into(),
            sid: "PA_1".into(),
            joined_at: 1,
            left_at: 9,
            reason: "left".into(),
            speaking_time_ms: 400,
        }])
        .unwrap();
        assert_eq!(s.sessions("a", None, 10).unwrap()[0].speaking_time_ms, 400);
        s.delete_room("a").unwrap();
        assert!(s.rooms().unwrap().is_empty());
    }

    #[test]
    fn an_older_database_is_migrated_and_keeps_its_rows() {
        let dir = temp_dir("old");
        std::fs::create_dir_all(&dir).unwrap();
        {
            let mut c = Connection::open(dir.join(FILE_NAME)).unwrap();
            migrations::migrate_to(&mut c, 1).unwrap();
            c.execute(
                "INSERT INTO bans (room, identity, until, by) VALUES ('r', 'x', 99, 'h')",
                [],
            )
            .unwrap();
        }
        assert_eq!(schema_version(&dir).unwrap(), Some(1));
        let s = SqliteStore::open(&dir).unwrap();
        assert_eq!(
            schema_version(&dir).unwrap(),
            Some(migrations::MIGRATIONS.len())
        );
        assert_eq!(s.bans("r", 0).unwrap().len(), 1);
        assert!(
            s.sessions("r", None, 1).unwrap().is_empty(),
            "new tables exist"
        );
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = temp_dir("new");
        std::fs::create_dir_all(&dir).unwrap();
        Connection::open(dir.join(FILE_NAME))
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = SqliteStore::open(&dir).err().unwrap();
        assert!(err.0.contains("schema version 99"), "{err}");
    }
}
