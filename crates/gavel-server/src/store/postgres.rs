//! The store on PostgreSQL (`[store] postgres`): the same interface and the same rows as the
//! embedded SQLite store, for nodes that share one database (cluster mode) or a deployment
//! that wants its data in a database server it already runs and backs up.
//!
//! The `postgres` crate's blocking client fits the store's model: every call already runs on
//! the store's own thread (`thread.rs`), one at a time, in the order asked, so one connection
//! is all it needs and commits keep their order. A call made while the database is down fails
//! at once as `unavailable` (connecting waits at most [`CONNECT_TIMEOUT`], a statement at most
//! [`STATEMENT_TIMEOUT`]); the next call connects again, so the server recovers by itself when
//! the database comes back.
//!
//! Connections are plain TCP or a unix socket (`host=/run/postgresql`); TLS to the database
//! is not offered yet (keep the database on a private network or the same machine).

use super::{
    postgres_schema, AuditEntry, DurableRows, SessionRecord, Store, StoreError, StoreResult,
    StoredBan,
};
use crate::cluster::lease::Fence;
use gavel_core::{Capabilities, DurableWrite, Millis, RoomSettings};
use postgres::{Client, NoTls};
use std::sync::Mutex;
use std::time::Duration;

/// How long connecting to the database may take before a call fails as `unavailable`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one statement may run (a call is a few indexed statements).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    config: postgres::Config,
    conn: Mutex<Option<Client>>,
}

impl PostgresStore {
    /// Connects to the database `url` (`postgresql://user@host/db` or `host=… dbname=…`) and
    /// migrates it. Fails if the database cannot be reached now.
    pub fn connect(url: &str) -> StoreResult<PostgresStore> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::new(format!("invalid [store] postgres: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.options(&format!(
            "-c statement_timeout={}",
            STATEMENT_TIMEOUT.as_millis()
        ));
        config.application_name("gavel");
        let mut client = dial(&config)?;
        postgres_schema::migrate(&mut client)?;
        Ok(PostgresStore {
            config,
            conn: Mutex::new(Some(client)),
        })
    }

    /// Runs `f` on the connection, connecting first if there is none. A connection that
    /// failed is dropped, so the next call connects again.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> StoreResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.as_ref().is_none_or(Client::is_closed) {
            *conn = Some(dial(&self.config)?);
        }
        let client = conn.as_mut().expect("connected above");
        f(client).map_err(|e| {
            let err = classify(&e);
            if err.unavailable {
                *conn = None;
            }
            err
        })
    }

    /// Runs `f` in one transaction.
    pub(super) fn in_transaction<T>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> StoreResult<T> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let value = f(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })
    }
}

impl Drop for PostgresStore {
    /// The blocking client owns a runtime, which must not be dropped on an async worker (where
    /// the server's last handle to the store may go): it is dropped on a thread of its own.
    fn drop(&mut self) {
        let conn = self.conn.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = conn.take() {
            let _ = std::thread::Builder::new()
                .name("gavel-store-close".into())
                .spawn(move || drop(client));
        }
    }
}

fn dial(config: &postgres::Config) -> StoreResult<Client> {
    config
        .connect(NoTls)
        .map_err(|e| StoreError::unavailable(format!("cannot reach the database: {e}")))
}

/// A lost or refused connection (and the server shutting down or starting) is `unavailable`;
/// anything the database answered otherwise is an error of the call.
fn classify(e: &postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return StoreError::unavailable(format!("the database connection failed: {e}"));
    };
    let code = db.code().code();
    // Class 08: connection exception; 57: operator intervention (shutdown, cannot connect
    // now, statement timeout).
    match code.starts_with("08") || code.starts_with("57") {
        true => StoreError::unavailable(format!("the database is unavailable: {e}")),
        false => StoreError::new(format!("database error: {e}")),
    }
}

/// The statements behind durable writes, shared by the single-write methods and by
/// [`Store::commit`]'s transaction.
pub(super) mod sql {
    use super::super::sqlite::to_json;
    use crate::store::StoredBan;
    use gavel_core::{Capabilities, Millis, RoomSettings};
    use postgres::GenericClient;

    type R = Result<(), postgres::Error>;

    pub fn save_room(c: &mut impl GenericClient, name: &str, settings: &RoomSettings) -> R {
        let now = crate::clock::now_ms() as i64;
        c.execute(
            "INSERT INTO rooms (name, settings, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET settings = excluded.settings",
            &[&name, &to_json(settings), &now],
        )
        .map(drop)
    }

    pub fn update_room_settings(
        c: &mut impl GenericClient,
        name: &str,
        settings: &RoomSettings,
    ) -> R {
        let updated = c.execute(
            "UPDATE rooms SET settings = $2 WHERE name = $1",
            &[&name, &to_json(settings)],
        )?;
        if updated == 0 {
            // As in SQLite: a join-created room's changed settings, kept while it is open.
            c.execute(
                "INSERT INTO joined_room_settings (room, settings) VALUES ($1, $2)
                 ON CONFLICT (room) DO UPDATE SET settings = excluded.settings",
                &[&name, &to_json(settings)],
            )?;
        }
        Ok(())
    }

    pub fn save_ban(c: &mut impl GenericClient, ban: &StoredBan) -> R {
        c.execute(
            "INSERT INTO bans (room, identity, until, by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (room, identity) DO UPDATE SET until = excluded.until, by = excluded.by",
            &[&ban.room, &ban.identity, &(ban.until as i64), &ban.by],
        )
        .map(drop)
    }

    pub fn lift_ban(c: &mut impl GenericClient, room: &str, identity: &str) -> R {
        c.execute(
            "DELETE FROM bans WHERE room = $1 AND identity = $2",
            &[&room, &identity],
        )
        .map(drop)
    }

    pub fn revoke_tokens(
        c: &mut impl GenericClient,
        room: &str,
        identity: &str,
        before: Millis,
    ) -> R {
        c.execute(
            "INSERT INTO revocations (room, identity, before) VALUES ($1, $2, $3)
             ON CONFLICT (room, identity)
             DO UPDATE SET before = GREATEST(revocations.before, excluded.before)",
            &[&room, &identity, &(before as i64)],
        )
        .map(drop)
    }

    pub fn save_preset(
        c: &mut impl GenericClient,
        room: &str,
        identity: &str,
        capabilities: Option<&Capabilities>,
    ) -> R {
        match capabilities {
            Some(caps) => c
                .execute(
                    "INSERT INTO presets (room, identity, capabilities) VALUES ($1, $2, $3)
                     ON CONFLICT (room, identity)
                     DO UPDATE SET capabilities = excluded.capabilities",
                    &[&room, &identity, &to_json(caps)],
                )
                .map(drop),
            None => c
                .execute(
                    "DELETE FROM presets WHERE room = $1 AND identity = $2",
                    &[&room, &identity],
                )
                .map(drop),
        }
    }

    /// The durable writes of a command, on its transaction.
    pub struct Rows<'a, C>(pub &'a mut C);

    impl<C: GenericClient> crate::store::DurableRows for Rows<'_, C> {
        type Error = postgres::Error;
        fn save_ban(&mut self, ban: &StoredBan) -> R {
            save_ban(self.0, ban)
        }
        fn lift_ban(&mut self, room: &str, identity: &str) -> R {
            lift_ban(self.0, room, identity)
        }
        fn revoke_tokens(&mut self, room: &str, identity: &str, before: Millis) -> R {
            revoke_tokens(self.0, room, identity, before)
        }
        fn update_room_settings(&mut self, room: &str, settings: &RoomSettings) -> R {
            update_room_settings(self.0, room, settings)
        }
        fn save_preset(
            &mut self,
            room: &str,
            identity: &str,
            capabilities: Option<&Capabilities>,
        ) -> R {
            save_preset(self.0, room, identity, capabilities)
        }
    }

    /// Deletes the rows of room `name` and of everything kept for it.
    pub fn delete_room_rows(c: &mut impl GenericClient, name: &str) -> R {
        for table in [
            "DELETE FROM rooms WHERE name = $1",
            "DELETE FROM bans WHERE room = $1",
            "DELETE FROM revocations WHERE room = $1",
            "DELETE FROM presets WHERE room = $1",
            "DELETE FROM joined_room_settings WHERE room = $1",
            "DELETE FROM chime_meetings WHERE meeting_id = $1",
            "DELETE FROM chime_attendees WHERE meeting_id = $1",
        ] {
            c.execute(table, &[&name])?;
        }
        Ok(())
    }
}

/// Rows `(room)` of rooms holding state to enforce; `$1` is now, `$2` the every-identity mark.
const ROOMS_HOLDING_STATE: &str = "SELECT room FROM bans WHERE until > $1
     UNION SELECT room FROM presets
     UNION SELECT room FROM revocations WHERE identity <> $2";

impl Store for PostgresStore {
    fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.simple_query("SELECT 1").map(drop))
    }

    fn save_room(&self, name: &str, settings: &RoomSettings) -> StoreResult<()> {
        self.with(|c| sql::save_room(c, name, settings))
    }

    fn update_room_settings(&self, name: &str, settings: &RoomSettings) -> StoreResult<()> {
        self.with(|c| sql::update_room_settings(c, name, settings))
    }

    fn delete_room(&self, name: &str) -> StoreResult<()> {
        self.in_transaction(|tx| sql::delete_room_rows(tx, name))
    }

    fn rooms(&self) -> StoreResult<Vec<(String, RoomSettings)>> {
        let rows = self.with(|c| c.query("SELECT name, settings FROM rooms ORDER BY name", &[]))?;
        keyed_json(rows, |name| format!("stored settings of room '{name}'"))
    }

    fn joined_room_settings(&self, room: &str) -> StoreResult<Option<RoomSettings>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT room, settings FROM joined_room_settings WHERE room = $1",
                &[&room],
            )
        })?;
        let mut found = keyed_json(rows, |name| format!("stored settings of room '{name}'"))?;
        Ok(found.pop().map(|(_, s)| s))
    }

    fn forget_joined_room(&self, room: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute("DELETE FROM joined_room_settings WHERE room = $1", &[&room])
                .map(drop)
        })
    }

    fn rooms_holding_state(&self, now: Millis) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT room FROM ({ROOMS_HOLDING_STATE}) held
                     WHERE room NOT IN (SELECT name FROM rooms) ORDER BY room"
                ),
                &[&(now as i64), &gavel_core::EVERY_IDENTITY],
            )?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn holds_state(&self, room: &str, now: Millis) -> StoreResult<bool> {
        self.with(|c| {
            let row = c.query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM ({ROOMS_HOLDING_STATE}) held WHERE room = $3)"
                ),
                &[&(now as i64), &gavel_core::EVERY_IDENTITY, &room],
            )?;
            Ok(row.get(0))
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
            let rows = c.query(
                "SELECT identity, until, by FROM bans WHERE room = $1 AND until > $2
                 ORDER BY identity",
                &[&room, &(now as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| StoredBan {
                    room: room.to_string(),
                    identity: r.get(0),
                    until: r.get::<_, i64>(1) as Millis,
                    by: r.get(2),
                })
                .collect())
        })
    }

    fn revoke_tokens(&self, room: &str, identity: &str, before: Millis) -> StoreResult<()> {
        self.with(|c| sql::revoke_tokens(c, room, identity, before))
    }

    fn revocations(&self, room: &str) -> StoreResult<Vec<(String, Millis)>> {
        self.with(|c| {
            let rows = c.query(
                "SELECT identity, before FROM revocations WHERE room = $1",
                &[&room],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as Millis))
                .collect())
        })
    }

    /// One transaction: a command's writes are committed together or not at all, and with a
    /// fence only while its node still owns the room at its epoch.
    fn commit(
        &self,
        room: &str,
        fence: Option<&Fence>,
        writes: &[DurableWrite],
    ) -> StoreResult<()> {
        let owned = self.in_transaction(|tx| {
            if let Some(fence) = fence {
                if !crate::cluster::lease::check_fence(tx, room, fence)? {
                    return Ok(false);
                }
            }
            let mut rows = sql::Rows(tx);
            for w in writes {
                rows.apply(room, w)?;
            }
            Ok(true)
        })?;
        match owned {
            true => Ok(()),
            false => Err(StoreError::unavailable(crate::cluster::lease::FENCED)),
        }
    }

    fn save_preset(
        &self,
        room: &str,
        identity: &str,
        capabilities: Option<&Capabilities>,
    ) -> StoreResult<()> {
        self.with(|c| sql::save_preset(c, room, identity, capabilities))
    }

    fn presets(&self, room: &str) -> StoreResult<Vec<(String, Capabilities)>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT identity, capabilities FROM presets WHERE room = $1",
                &[&room],
            )
        })?;
        keyed_json(rows, |identity| {
            format!("stored preset of '{identity}' in room '{room}'")
        })
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        self.in_transaction(|tx| {
            let st = tx.prepare(
                "INSERT INTO audit
                     (at, room, actor, action, targets, params, outcome, message, suppressed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )?;
            for e in entries {
                tx.execute(
                    &st,
                    &[
                        &(e.at as i64),
                        &e.room,
                        &e.actor,
                        &e.action,
                        &super::sqlite::to_json(&e.targets),
                        &e.params.to_string(),
                        &e.outcome,
                        &e.message,
                        &(e.suppressed.min(i64::MAX as u64) as i64),
                    ],
                )?;
            }
            Ok(())
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
            let rows = c.query(
                "SELECT id, at, actor, action, targets, params, outcome, message, suppressed
                 FROM audit
                 WHERE room = $1 AND at >= $2 AND id < $3 ORDER BY id DESC LIMIT $4",
                &[
                    &room,
                    &(since.unwrap_or(0) as i64),
                    &before.unwrap_or(i64::MAX),
                    &(limit as i64),
                ],
            )?;
            Ok(rows
                .iter()
                .map(|r| AuditEntry {
                    id: r.get(0),
                    at: r.get::<_, i64>(1) as Millis,
                    room: room.to_string(),
                    actor: r.get(2),
                    action: r.get(3),
                    targets: serde_json::from_str(r.get(4)).unwrap_or_default(),
                    params: serde_json::from_str(r.get(5)).unwrap_or_default(),
                    outcome: r.get(6),
                    message: r.get(7),
                    suppressed: r.get::<_, i64>(8).max(0) as u64,
                })
                .collect())
        })
    }

    fn prune_audit(
        &self,
        older_than: Option<Millis>,
        keep_rows: Option<u64>,
        batch: usize,
    ) -> StoreResult<usize> {
        // As in SQLite: only the oldest rows, through the primary key, never a scan. An absent
        // limit is NULL (no row is past it), so no arithmetic can overflow.
        let older_than = older_than.map(|t| t.min(i64::MAX as u64) as i64);
        let keep_rows = keep_rows.map(|n| n.min(i64::MAX as u64) as i64);
        self.with(|c| {
            c.execute(
                "DELETE FROM audit WHERE id IN (
                     SELECT id FROM (SELECT id, at FROM audit ORDER BY id LIMIT $3) oldest
                     WHERE at < $1
                        OR id <= (SELECT max(id) FROM audit) - $2
                 )",
                &[&older_than, &keep_rows, &(batch as i64)],
            )
        })
        .map(|n| n as usize)
    }

    fn append_sessions(&self, records: &[SessionRecord]) -> StoreResult<()> {
        self.in_transaction(|tx| {
            let st = tx.prepare(
                "INSERT INTO sessions
                     (room, identity, sid, joined_at, left_at, reason, speaking_time_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )?;
            for s in records {
                tx.execute(
                    &st,
                    &[
                        &s.room,
                        &s.identity,
                        &s.sid,
                        &(s.joined_at as i64),
                        &(s.left_at as i64),
                        &s.reason,
                        &(s.speaking_time_ms.min(i64::MAX as u64) as i64),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn sessions(
        &self,
        room: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.with(|c| {
            let rows = c.query(
                "SELECT id, identity, sid, joined_at, left_at, reason, speaking_time_ms
                 FROM sessions WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                &[&room, &before.unwrap_or(i64::MAX), &(limit as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| SessionRecord {
                    id: r.get(0),
                    room: room.to_string(),
                    identity: r.get(1),
                    sid: r.get(2),
                    joined_at: r.get::<_, i64>(3) as Millis,
                    left_at: r.get::<_, i64>(4) as Millis,
                    reason: r.get(5),
                    speaking_time_ms: r.get::<_, i64>(6).max(0) as u64,
                })
                .collect())
        })
    }
}

/// Rows of (key, JSON document), each document parsed; `what` names a row in errors.
fn keyed_json<T: serde::de::DeserializeOwned>(
    rows: Vec<postgres::Row>,
    what: impl Fn(&str) -> String,
) -> StoreResult<Vec<(String, T)>> {
    rows.iter()
        .map(|r| {
            let key: String = r.get(0);
            let doc: &str = r.get(1);
            let value = serde_json::from_str(doc)
                .map_err(|e| StoreError::new(format!("{} is unreadable: {e}", what(&key))))?;
            Ok((key, value))
        })
        .collect()
}
