//! `gavel store migrate`: copies a node's SQLite database into an empty PostgreSQL database,
//! every table and row as it is (ids included, so audit and session paging carry on), in one
//! PostgreSQL transaction: an interrupted copy leaves the target empty, to be run again.
//!
//! Rows are streamed from SQLite into prepared inserts, never held in memory all at once.

use super::postgres::PostgresStore;
use super::sqlite::{SqliteStore, FILE_NAME};
use super::{StoreError, StoreResult};
use postgres::types::ToSql;
use std::path::Path;

/// A column's type, the same in both schemas up to the names SQL gives them.
#[derive(Clone, Copy)]
enum Column {
    Text,
    NullableText,
    Integer,
}

use Column::{Integer as I, NullableText as N, Text as T};

/// Every table, with its columns, in an order that satisfies any future reference between them.
const TABLES: &[(&str, &[(&str, Column)])] = &[
    ("rooms", &[("name", T), ("settings", T), ("created_at", I)]),
    (
        "bans",
        &[("room", T), ("identity", T), ("until", I), ("by", T)],
    ),
    (
        "revocations",
        &[("room", T), ("identity", T), ("before", I)],
    ),
    (
        "presets",
        &[("room", T), ("identity", T), ("capabilities", T)],
    ),
    (
        "audit",
        &[
            ("id", I),
            ("at", I),
            ("room", T),
            ("actor", T),
            ("action", T),
            ("targets", T),
            ("params", T),
            ("outcome", T),
            ("message", N),
            ("suppressed", I),
        ],
    ),
    (
        "sessions",
        &[
            ("id", I),
            ("room", T),
            ("identity", T),
            ("sid", T),
            ("joined_at", I),
            ("left_at", I),
            ("reason", T),
            ("speaking_time_ms", I),
        ],
    ),
    (
        "chime_meetings",
        &[
            ("meeting_id", T),
            ("client_request_token", T),
            ("fingerprint", T),
            ("meeting", T),
            ("created_at", I),
        ],
    ),
    (
        "chime_attendees",
        &[
            ("seq", I),
            ("meeting_id", T),
            ("attendee_id", T),
            ("external_user_id", T),
            ("join_token", T),
            ("created_at", I),
        ],
    ),
];

/// Columns PostgreSQL numbers itself: after the copy, each sequence continues past the rows.
const SEQUENCES: &[(&str, &str)] = &[
    ("audit", "id"),
    ("sessions", "id"),
    ("chime_attendees", "seq"),
];

/// Copies the SQLite database in `data_dir` into the PostgreSQL database `url`; returns the
/// rows copied per table. Refused if there is no SQLite database there or the PostgreSQL one
/// already holds rows. Blocking: call it off any async runtime.
pub fn sqlite_to_postgres(data_dir: &Path, url: &str) -> StoreResult<Vec<(&'static str, u64)>> {
    let file = data_dir.join(FILE_NAME);
    if !file.exists() {
        return Err(StoreError::new(format!(
            "no database at {}",
            file.display()
        )));
    }
    // Both schemas brought up to date first, by their own stores.
    drop(SqliteStore::open(data_dir)?);
    drop(PostgresStore::connect(url)?);
    let lite =
        rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut pg = postgres::Client::connect(url, postgres::NoTls).map_err(pg_error)?;
    let counts: Vec<String> = TABLES
        .iter()
        .map(|(t, _)| format!("(SELECT count(*) FROM {t})"))
        .collect();
    let held: i64 = pg
        .query_one(&format!("SELECT {}", counts.join(" + ")), &[])
        .map_err(pg_error)?
        .get(0);
    if held > 0 {
        return Err(StoreError::new(
            "the PostgreSQL database already holds data: migrate into an empty database",
        ));
    }
    let mut tx = pg.transaction().map_err(pg_error)?;
    let mut copied = Vec::new();
    for (table, columns) in TABLES {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            ))
            .map_err(pg_error)?;
        let mut select = lite.prepare(&format!("SELECT {} FROM {table}", names.join(", ")))?;
        let mut rows = select.query([])?;
        let mut n = 0u64;
        while let Some(row) = rows.next()? {
            let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(columns.len());
            for (i, (_, column)) in columns.iter().enumerate() {
                values.push(match column {
                    Column::Text => Box::new(row.get::<_, String>(i)?),
                    Column::NullableText => Box::new(row.get::<_, Option<String>>(i)?),
                    Column::Integer => Box::new(row.get::<_, i64>(i)?),
                });
            }
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
            tx.execute(&insert, &params).map_err(pg_error)?;
            n += 1;
        }
        copied.push((*table, n));
    }
    for (table, column) in SEQUENCES {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                        COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .map_err(pg_error)?;
    }
    tx.commit().map_err(pg_error)?;
    Ok(copied)
}

fn pg_error(e: postgres::Error) -> StoreError {
    StoreError::new(format!("PostgreSQL: {e}"))
}
