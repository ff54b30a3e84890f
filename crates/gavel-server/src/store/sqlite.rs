//! The embedded store: SQLite in WAL mode in the data directory.
//!
//! WAL with `synchronous = NORMAL` keeps every committed transaction across a killed process
//! (`kill -9`); only an operating-system crash can lose the last ones.

use super::{
    migrations, AuditEntry, DurableRows, SessionRecord, Store, StoreError, StoreResult, StoredBan,
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
            StoreError::new(format!(
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

    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut conn)?)
    }
}

/// The statements behind durable writes, shared by the single-write methods and by
/// [`Store::commit`]'s transaction.
mod sql {
    use super::to_json;
    use crate::store::StoredBan;
    use gavel_core::{Capabilities, Millis, RoomSettings};
    use rusqlite::{params, Connection};

    pub fn update_room_settings(
        c: &Connection,
        name: &str,
        settings: &RoomSettings,
    ) -> rusqlite::Result<()> {
        let updated = c.execute(
            "UPDATE rooms SET settings = ?2 WHERE name = ?1",
            params![name, to_json(settings)],
        )?;
        if updated == 0 {
            // A room a join created has no row: its changed settings are kept apart, for as
            // long as it is open (`Store::forget_joined_room`).
            c.execute(
                "INSERT INTO joined_room_settings (room, settings) VALUES (?1, ?2)
                 ON CONFLICT (room) DO UPDATE SET settings = excluded.settings",
                params![name, to_json(settings)],
            )?;
        }
        Ok(())
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

    /// The durable writes of a command, on its transaction.
    pub struct Rows<'a>(pub &'a Connection);

    impl crate::store::DurableRows for Rows<'_> {
        type Error = rusqlite::Error;
        fn save_ban(&mut self, ban: &StoredBan) -> rusqlite::Result<()> {
            save_ban(self.0, ban)
        }
        fn lift_ban(&mut self, room: &str, identity: &str) -> rusqlite::Result<()> {
            lift_ban(self.0, room, identity)
        }
        fn revoke_tokens(
            &mut self,
            room: &str,
            identity: &str,
            before: Millis,
        ) -> rusqlite::Result<()> {
            revoke_tokens(self.0, room, identity, before)
        }
        fn update_room_settings(
            &mut self,
            room: &str,
            settings: &RoomSettings,
        ) -> rusqlite::Result<()> {
            update_room_settings(self.0, room, settings)
        }
        fn save_preset(
            &mut self,
            room: &str,
            identity: &str,
            capabilities: Option<&Capabilities>,
        ) -> rusqlite::Result<()> {
            save_preset(self.0, room, identity, capabilities)
        }
    }
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Store for SqliteStore {
    fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

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
            delete_room_rows(&tx, name)?;
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

    fn joined_room_settings(&self, room: &str) -> StoreResult<Option<RoomSettings>> {
        let text: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT settings FROM joined_room_settings WHERE room = ?1",
                [room],
                |r| r.get(0),
            )
            .optional()
        })?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| {
                StoreError::new(format!(
                    "stored settings of room '{room}' are unreadable: {e}"
                ))
            })
        })
        .transpose()
    }

    fn forget_joined_room(&self, room: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute("DELETE FROM joined_room_settings WHERE room = ?1", [room])
                .map(drop)
        })
    }

    fn rooms_holding_state(&self, now: Millis) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT room FROM ({ROOMS_HOLDING_STATE})
                 WHERE room NOT IN (SELECT name FROM rooms) ORDER BY room"
            ))?;
            let rows = st.query_map(params![now as i64, gavel_core::EVERY_IDENTITY], |r| {
                r.get(0)
            })?;
            rows.collect()
        })
    }

    fn holds_state(&self, room: &str, now: Millis) -> StoreResult<bool> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM ({ROOMS_HOLDING_STATE}) WHERE room = ?3)"),
                params![now as i64, gavel_core::EVERY_IDENTITY, room],
                |r| r.get(0),
            )
        })
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

    /// One transaction: a command's writes are committed together or not at all. A node on
    /// SQLite is alone: there is no ownership to fence, and a fence is a mistake.
    fn commit(
        &self,
        room: &str,
        fence: Option<&crate::cluster::lease::Fence>,
        writes: &[DurableWrite],
    ) -> StoreResult<()> {
        if fence.is_some() {
            return Err(StoreError::new("cluster mode needs the PostgreSQL store"));
        }
        self.with(|c| {
            let tx = c.transaction()?;
            let mut rows = sql::Rows(&tx);
            for w in writes {
                rows.apply(room, w)?;
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

    fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO audit
                         (at, room, actor, action, targets, params, outcome, message, suppressed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
                        e.suppressed as i64,
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
                "SELECT id, at, actor, action, targets, params, outcome, message, suppressed
                 FROM audit
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
                        suppressed: r.get::<_, i64>(8)?.max(0) as u64,
                    })
                },
            )?;
            rows.collect()
        })
    }

    fn prune_audit(
        &self,
        older_than: Option<Millis>,
        keep_rows: Option<u64>,
        batch: usize,
    ) -> StoreResult<usize> {
        // Both look at the oldest rows only, through the primary key: ids grow with time, so
        // the rows past either limit are a prefix of the table (entries of one batch may be a
        // few milliseconds out of order; that does not matter at a scale of days). No scan of
        // the table, however large it has grown.
        let older_than = older_than.map_or(i64::MIN, |t| t as i64);
        let keep_rows = keep_rows.map_or(i64::MAX, |n| n.min(i64::MAX as u64) as i64);
        self.with(|c| {
            c.execute(
                "DELETE FROM audit WHERE id IN (
                     SELECT id FROM (SELECT id, at FROM audit ORDER BY id LIMIT ?3)
                     WHERE at < ?1 OR id <= (SELECT max(id) FROM audit) - ?2
                 )",
                params![older_than, keep_rows, batch as i64],
            )
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
                    .map_err(|e| StoreError::new(format!("{} is unreadable: {e}", what(&key))))?;
                Ok((key, value))
            })
            .collect()
    }
}

/// Rows `(room)` of rooms holding state to enforce; `?1` is now, `?2` the every-identity mark.
const ROOMS_HOLDING_STATE: &str = "SELECT room FROM bans WHERE until > ?1
     UNION SELECT room FROM presets
     UNION SELECT room FROM revocations WHERE identity <> ?2";

/// Deletes the rows of room `name` and of everything kept for it, inside `tx`.
pub(super) fn delete_room_rows(tx: &rusqlite::Transaction<'_>, name: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM rooms WHERE name = ?1", [name])?;
    tx.execute("DELETE FROM bans WHERE room = ?1", [name])?;
    tx.execute("DELETE FROM revocations WHERE room = ?1", [name])?;
    tx.execute("DELETE FROM presets WHERE room = ?1", [name])?;
    tx.execute("DELETE FROM joined_room_settings WHERE room = ?1", [name])?;
    tx.execute("DELETE FROM chime_meetings WHERE meeting_id = ?1", [name])?;
    tx.execute("DELETE FROM chime_attendees WHERE meeting_id = ?1", [name])?;
    Ok(())
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
    use crate::store::conformance;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gavel-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn rooms_bans_audit_sessions_round_trip() {
        conformance::rooms_bans_audit_sessions_round_trip(&SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn a_joined_rooms_changed_settings_are_kept_until_it_closes() {
        conformance::joined_room_settings(&SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn rooms_holding_state_are_those_with_bans_in_force_presets_or_revocations() {
        conformance::rooms_holding_state(&SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn pruning_deletes_the_oldest_entries_past_either_limit_in_steps() {
        conformance::pruning(&SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn a_meeting_and_its_attendees_round_trip_and_end_with_a_tombstone() {
        conformance::chime_meetings(&SqliteStore::in_memory().unwrap());
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
        assert!(err.message.contains("schema version 99"), "{err}");
    }
}
