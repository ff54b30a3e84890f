//! Schema migrations, versioned in code. `PRAGMA user_version` records how many have run.
//! Opening an older database runs the missing ones; a newer database is refused.

use super::{StoreError, StoreResult};
use rusqlite::Connection;

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only; never edit.
pub const MIGRATIONS: &[&str] = &[
    // 1: rooms, bans, audit log.
    "CREATE TABLE rooms (
         name TEXT PRIMARY KEY,
         settings TEXT NOT NULL,
         created_at INTEGER NOT NULL
     );
     CREATE TABLE bans (
         room TEXT NOT NULL,
         identity TEXT NOT NULL,
         until INTEGER NOT NULL,
         by TEXT NOT NULL,
         PRIMARY KEY (room, identity)
     );
     CREATE TABLE audit (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         at INTEGER NOT NULL,
         room TEXT NOT NULL,
         actor TEXT NOT NULL,
         action TEXT NOT NULL,
         targets TEXT NOT NULL,
         params TEXT NOT NULL,
         outcome TEXT NOT NULL,
         message TEXT
     );
     CREATE INDEX audit_by_room ON audit (room, id);",
    // 2: session history and token revocations.
    "CREATE TABLE sessions (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         room TEXT NOT NULL,
         identity TEXT NOT NULL,
         sid TEXT NOT NULL,
         joined_at INTEGER NOT NULL,
         left_at INTEGER NOT NULL,
         reason TEXT NOT NULL,
         speaking_time_ms INTEGER NOT NULL
     );
     CREATE INDEX sessions_by_room ON sessions (room, id);
     CREATE TABLE revocations (
         room TEXT NOT NULL,
         identity TEXT NOT NULL,
         before INTEGER NOT NULL,
         PRIMARY KEY (room, identity)
     );",
    // 3: capabilities reserved per identity, and the Chime front-end's meetings and attendees.
    "CREATE TABLE presets (
         room TEXT NOT NULL,
         identity TEXT NOT NULL,
         capabilities TEXT NOT NULL,
         PRIMARY KEY (room, identity)
     );
     CREATE TABLE chime_meetings (
         meeting_id TEXT PRIMARY KEY,
         client_request_token TEXT NOT NULL UNIQUE,
         fingerprint TEXT NOT NULL,
         meeting TEXT NOT NULL,
         created_at INTEGER NOT NULL
     );
     CREATE TABLE chime_attendees (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         meeting_id TEXT NOT NULL,
         attendee_id TEXT NOT NULL,
         external_user_id TEXT NOT NULL,
         join_token TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         UNIQUE (meeting_id, attendee_id),
         UNIQUE (meeting_id, external_user_id)
     );",
    // 4: how many refused attempts an audit entry stands for beyond itself (audit_policy.rs).
    "ALTER TABLE audit ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0;",
    // 5: the webhook outbox (events waiting per endpoint) and its delivery log.
    "CREATE TABLE webhook_outbox (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         endpoint TEXT NOT NULL,
         room TEXT NOT NULL,
         event_id TEXT NOT NULL,
         kind TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         body TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         next_at INTEGER NOT NULL DEFAULT 0,
         last_error TEXT
     );
     CREATE INDEX webhook_outbox_heads ON webhook_outbox (endpoint, room, id);
     CREATE INDEX webhook_outbox_order ON webhook_outbox (endpoint, id);
     CREATE TABLE webhook_log (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         endpoint TEXT NOT NULL,
         event_id TEXT NOT NULL,
         kind TEXT NOT NULL,
         room TEXT NOT NULL,
         at INTEGER NOT NULL,
         outcome TEXT NOT NULL,
         attempts INTEGER NOT NULL,
         status INTEGER,
         error TEXT,
         body TEXT NOT NULL
     );
     CREATE INDEX webhook_log_by_endpoint ON webhook_log (endpoint, id);
     CREATE TABLE webhook_endpoints (
         name TEXT PRIMARY KEY,
         config TEXT NOT NULL,
         created_at INTEGER NOT NULL
     );",
    // 6: settings changed on rooms a join created (a lock), kept while the room is open.
    "CREATE TABLE joined_room_settings (
         room TEXT PRIMARY KEY,
         settings TEXT NOT NULL
     );",
];

pub fn version(conn: &Connection) -> StoreResult<usize> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(v.max(0) as usize)
}

/// Runs the migrations after the database's version, up to `target`, each in a transaction.
pub fn migrate_to(conn: &mut Connection, target: usize) -> StoreResult<()> {
    let current = version(conn)?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::new(format!(
            "the database has schema version {current}, newer than this gavel supports ({}); use a newer gavel",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

pub fn migrate(conn: &mut Connection) -> StoreResult<()> {
    migrate_to(conn, MIGRATIONS.len())
}
