//! The embedded store: SQLite in WAL mode in the data directory.
//!
//! WAL with `synchronous = NORMAL` keeps every committed transaction across a killed process
//! (`kill -9`); only an operating-system crash can lose the last ones.

use super::{migrations, AuditEntry, SessionRecord, Store, StoreError, StoreResult, StoredBan};
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

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
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
                    .map_err(|e| StoreError(format!("{} is unreadable: {e}", what(&key))))?;
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
            suppressed: 0,
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
    fn rooms_holding_state_are_those_with_bans_in_force_presets_or_revocations() {
        let s = SqliteStore::in_memory().unwrap();
        let ban = |room: &str, until| StoredBan {
            room: room.into(),
            identity: "troll".into(),
            until,
            by: "host".into(),
        };
        s.save_ban(&ban("banned", 2_000)).unwrap();
        s.save_ban(&ban("expired", 500)).unwrap();
        s.save_preset(
            "preset",
            "x",
            Some(&Capabilities::of(&gavel_core::Permissions::default())),
        )
        .unwrap();
        s.revoke_tokens("revoked", "x", 10).unwrap();
        s.revoke_tokens("deleted", gavel_core::EVERY_IDENTITY, 10)
            .unwrap();
        s.save_room("api", &RoomSettings::default()).unwrap();
        s.save_ban(&ban("api", 2_000)).unwrap();
        assert_eq!(
            s.rooms_holding_state(1_000).unwrap(),
            ["banned", "preset", "revoked"],
            "rooms created through the API are restored as such"
        );
        assert!(s.holds_state("banned", 1_000).unwrap());
        assert!(!s.holds_state("banned", 2_000).unwrap(), "the ban expired");
        assert!(!s.holds_state("deleted", 1_000).unwrap());
        assert!(s.holds_state("api", 1_000).unwrap());
    }

    #[test]
    fn pruning_deletes_the_oldest_entries_past_either_limit_in_steps() {
        let s = SqliteStore::in_memory().unwrap();
        let entry = |at: u64| AuditEntry {
            id: 0,
            at,
            room: "a".into(),
            actor: "guest".into(),
            action: "kick".into(),
            targets: vec![],
            params: serde_json::json!({}),
            outcome: "permission_denied".into(),
            message: None,
            suppressed: 3,
        };
        s.append_audit(&(1..=100).map(entry).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(s.audit("a", None, None, 1).unwrap()[0].suppressed, 3);
        let ats = |s: &SqliteStore| -> Vec<u64> {
            let mut v: Vec<u64> = s
                .audit("a", None, None, 1000)
                .unwrap()
                .iter()
                .map(|e| e.at)
                .collect();
            v.reverse();
            v
        };
        // By age: entries written before 31 go, 10 per step.
        assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 10);
        assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 10);
        assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 10);
        assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 0);
        assert_eq!(ats(&s).first(), Some(&31));
        // By count: only the newest 25 stay.
        assert_eq!(s.prune_audit(None, Some(25), 1000).unwrap(), 45);
        assert_eq!(ats(&s), (76..=100).collect::<Vec<_>>());
        assert_eq!(s.prune_audit(None, None, 1000).unwrap(), 0);
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
