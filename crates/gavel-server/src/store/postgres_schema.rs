//! PostgreSQL's schema, versioned in code like SQLite's (`migrations.rs`): the same tables,
//! in PostgreSQL's types. `gavel_schema` records how many migrations have run; opening an older
//! database runs the missing ones, a newer database is refused.
//!
//! Several nodes may start at once against one database: each migration runs in a transaction
//! that first takes a transaction-scoped advisory lock, so they run once, in order.

use super::{StoreError, StoreResult};

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only; never edit.
pub const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's first four migrations hold.
    "CREATE TABLE rooms (
         name TEXT PRIMARY KEY,
         settings TEXT NOT NULL,
         created_at BIGINT NOT NULL
     );
     CREATE TABLE bans (
         room TEXT NOT NULL,
         identity TEXT NOT NULL,
         until BIGINT NOT NULL,
         by TEXT NOT NULL,
         PRIMARY KEY (room, identity)
     );
     CREATE TABLE audit (
         id BIGSERIAL PRIMARY KEY,
         at BIGINT NOT NULL,
         room TEXT NOT NULL,
         actor TEXT NOT NULL,
         action TEXT NOT NULL,
         targets TEXT NOT NULL,
         params TEXT NOT NULL,
         outcome TEXT NOT NULL,
         message TEXT,
         suppressed BIGINT NOT NULL DEFAULT 0
     );
     CREATE INDEX audit_by_room ON audit (room, id);
     CREATE TABLE sessions (
         id BIGSERIAL PRIMARY KEY,
         room TEXT NOT NULL,
         identity TEXT NOT NULL,
         sid TEXT NOT NULL,
         joined_at BIGINT NOT NULL,
         left_at BIGINT NOT NULL,
         reason TEXT NOT NULL,
         speaking_time_ms BIGINT NOT NULL
     );
     CREATE INDEX sessions_by_room ON sessions (room, id);
     CREATE TABLE revocations (
         room TEXT NOT NULL,
         identity TEXT NOT NULL,
         before BIGINT NOT NULL,
         PRIMARY KEY (room, identity)
     );
     CREATE TABLE presets (
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
         created_at BIGINT NOT NULL
     );
     CREATE TABLE chime_attendees (
         seq BIGSERIAL PRIMARY KEY,
         meeting_id TEXT NOT NULL,
         attendee_id TEXT NOT NULL,
         external_user_id TEXT NOT NULL,
         join_token TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         UNIQUE (meeting_id, attendee_id),
         UNIQUE (meeting_id, external_user_id)
     );",
    // 2: cluster mode (`cluster/lease.rs`): nodes and their leases, and each room's owner with
    // the epoch that fences its writes. Ownership rows are never deleted (a released room has
    // no node), so an epoch is never reused.
    "CREATE TABLE cluster_nodes (
         id TEXT PRIMARY KEY,
         lease_until TIMESTAMPTZ NOT NULL,
         started_at TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE TABLE room_owners (
         room TEXT PRIMARY KEY,
         node TEXT NOT NULL,
         epoch BIGINT NOT NULL
     );
     CREATE INDEX room_owners_by_node ON room_owners (node);",
    // 3: ACME shared by the nodes (`cluster/acme.rs`): the account and the issued certificate,
    // the challenges of the order in progress, and the lock of the one node ordering.
    "CREATE TABLE acme_shared (
         name TEXT PRIMARY KEY,
         value TEXT NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE TABLE acme_challenges (
         kind TEXT NOT NULL,
         key TEXT NOT NULL,
         answer TEXT NOT NULL,
         PRIMARY KEY (kind, key)
     );
     CREATE TABLE acme_orderer (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         node TEXT NOT NULL,
         until TIMESTAMPTZ NOT NULL
     );",
    // 4: the webhook outbox and its delivery log (SQLite's 5), and which node delivers to
    // each endpoint.
    "CREATE TABLE webhook_outbox (
         id BIGSERIAL PRIMARY KEY,
         endpoint TEXT NOT NULL,
         room TEXT NOT NULL,
         event_id TEXT NOT NULL,
         kind TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         body TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         next_at BIGINT NOT NULL DEFAULT 0,
         last_error TEXT
     );
     CREATE INDEX webhook_outbox_heads ON webhook_outbox (endpoint, room, id);
     CREATE INDEX webhook_outbox_order ON webhook_outbox (endpoint, id);
     CREATE TABLE webhook_log (
         id BIGSERIAL PRIMARY KEY,
         endpoint TEXT NOT NULL,
         event_id TEXT NOT NULL,
         kind TEXT NOT NULL,
         room TEXT NOT NULL,
         at BIGINT NOT NULL,
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
         created_at BIGINT NOT NULL
     );
     CREATE TABLE webhook_dispatchers (
         endpoint TEXT PRIMARY KEY,
         node TEXT NOT NULL,
         until TIMESTAMPTZ NOT NULL
     );",
    // 5: settings changed on rooms a join created (a lock), kept while the room is open.
    "CREATE TABLE joined_room_settings (
         room TEXT PRIMARY KEY,
         settings TEXT NOT NULL
     );",
];

/// Any fixed number: the advisory lock migrations hold, so concurrent nodes run them once.
const MIGRATION_LOCK: i64 = 0x6761_7665_6c00;

pub fn version(c: &mut postgres::Client) -> Result<usize, postgres::Error> {
    c.batch_execute("CREATE TABLE IF NOT EXISTS gavel_schema (version INTEGER NOT NULL)")?;
    let v: Option<i32> = c
        .query_opt("SELECT max(version) FROM gavel_schema", &[])?
        .and_then(|r| r.get(0));
    Ok(v.unwrap_or(0).max(0) as usize)
}

/// Runs the migrations after the database's version, each in a transaction.
pub fn migrate(c: &mut postgres::Client) -> StoreResult<()> {
    let db = |e: postgres::Error| StoreError::new(format!("database error: {e}"));
    version(c).map_err(db)?;
    loop {
        let mut tx = c.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db)?;
        let v: Option<i32> = tx
            .query_one("SELECT max(version) FROM gavel_schema", &[])
            .map_err(db)?
            .get(0);
        let current = v.unwrap_or(0).max(0) as usize;
        if current > MIGRATIONS.len() {
            return Err(StoreError::new(format!(
                "the database has schema version {current}, newer than this gavel supports ({}); use a newer gavel",
                MIGRATIONS.len()
            )));
        }
        let Some(sql) = MIGRATIONS.get(current) else {
            return Ok(());
        };
        tx.batch_execute(sql).map_err(db)?;
        tx.execute("DELETE FROM gavel_schema", &[]).map_err(db)?;
        tx.execute(
            "INSERT INTO gavel_schema (version) VALUES ($1)",
            &[&(current as i32 + 1)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
    }
}
