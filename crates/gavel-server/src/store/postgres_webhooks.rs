//! The webhook outbox's interface (`crate::webhooks::store::WebhookStore`) on the PostgreSQL
//! store: the same rows and transactions as SQLite's (`sqlite_webhooks.rs`), plus the claim
//! that lets one node at a time deliver to an endpoint when nodes share the outbox.

use super::postgres::PostgresStore;
use super::StoreResult;
use crate::webhooks::config::EndpointConfig;
use crate::webhooks::store::{DeliveryRecord, NewOutboxRow, OutboxRow, WebhookStore};
use gavel_core::Millis;
use postgres::{GenericClient, Row};

const ROW: &str =
    "id, endpoint, room, event_id, kind, created_at, body, attempts, next_at, last_error";

fn outbox_row(r: &Row) -> OutboxRow {
    OutboxRow {
        id: r.get(0),
        endpoint: r.get(1),
        room: r.get(2),
        event_id: r.get(3),
        kind: r.get(4),
        created_at: r.get::<_, i64>(5).max(0) as Millis,
        body: r.get(6),
        attempts: r.get::<_, i32>(7).max(0) as u32,
        next_at: r.get::<_, i64>(8).max(0) as Millis,
        last_error: r.get(9),
    }
}

fn log(
    c: &mut impl GenericClient,
    d: &DeliveryRecord,
    log_rows: u64,
) -> Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO webhook_log
             (endpoint, event_id, kind, room, at, outcome, attempts, status, error, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &d.endpoint,
            &d.event_id,
            &d.kind,
            &d.room,
            &(d.at as i64),
            &d.outcome,
            &(d.attempts.min(i32::MAX as u32) as i32),
            &d.status.map(i32::from),
            &d.error,
            &d.body,
        ],
    )?;
    c.execute(
        "DELETE FROM webhook_log WHERE endpoint = $1 AND id <= (
             SELECT id FROM webhook_log WHERE endpoint = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        &[&d.endpoint, &(log_rows.min(i64::MAX as u64) as i64)],
    )?;
    Ok(())
}

impl WebhookStore for PostgresStore {
    fn webhook_endpoints(&self) -> StoreResult<Vec<EndpointConfig>> {
        self.with(|c| {
            let rows = c.query("SELECT config FROM webhook_endpoints ORDER BY name", &[])?;
            // Written by this code from a validated endpoint; an unreadable row is skipped.
            Ok(rows
                .iter()
                .filter_map(|r| serde_json::from_str(&r.get::<_, String>(0)).ok())
                .collect())
        })
    }

    fn webhook_add_endpoint(&self, endpoint: &EndpointConfig, now: Millis) -> StoreResult<bool> {
        let config = serde_json::to_string(endpoint).unwrap_or_default();
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO webhook_endpoints (name, config, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&endpoint.name, &config, &(now as i64)],
            )?;
            Ok(n == 1)
        })
    }

    fn webhook_remove_endpoint(&self, name: &str) -> StoreResult<bool> {
        self.in_transaction(|tx| {
            let n = tx.execute("DELETE FROM webhook_endpoints WHERE name = $1", &[&name])?;
            if n == 1 {
                tx.execute("DELETE FROM webhook_outbox WHERE endpoint = $1", &[&name])?;
                tx.execute("DELETE FROM webhook_log WHERE endpoint = $1", &[&name])?;
                tx.execute(
                    "DELETE FROM webhook_dispatchers WHERE endpoint = $1",
                    &[&name],
                )?;
            }
            Ok(n == 1)
        })
    }

    fn webhook_replay(
        &self,
        endpoint: &str,
        event_ids: &[String],
        now: Millis,
    ) -> StoreResult<Vec<String>> {
        self.in_transaction(|tx| {
            let mut found = Vec::new();
            for id in event_ids {
                let n = tx.execute(
                    "INSERT INTO webhook_outbox (endpoint, room, event_id, kind, created_at, body)
                     SELECT endpoint, room, event_id, kind, $3, body FROM webhook_log
                     WHERE endpoint = $1 AND event_id = $2 ORDER BY id DESC LIMIT 1",
                    &[&endpoint, id, &(now as i64)],
                )?;
                if n == 1 {
                    found.push(id.clone());
                }
            }
            Ok(found)
        })
    }

    fn webhook_enqueue(&self, rows: &[NewOutboxRow]) -> StoreResult<()> {
        self.in_transaction(|tx| {
            let st = tx.prepare(
                "INSERT INTO webhook_outbox (endpoint, room, event_id, kind, created_at, body)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )?;
            for r in rows {
                tx.execute(
                    &st,
                    &[
                        &r.endpoint,
                        &r.room,
                        &r.event_id,
                        &r.kind,
                        &(r.created_at as i64),
                        &r.body,
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn webhook_due(
        &self,
        endpoint: &str,
        now: Millis,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        self.with(|c| {
            let sql = format!(
                "SELECT {ROW} FROM webhook_outbox WHERE id IN (
                     SELECT min(id) FROM webhook_outbox WHERE endpoint = $1 GROUP BY room)
                 AND next_at <= $2 ORDER BY id LIMIT $3"
            );
            let rows = c.query(&sql, &[&endpoint, &(now as i64), &(limit as i64)])?;
            Ok(rows.iter().map(outbox_row).collect())
        })
    }

    fn webhook_next_at(&self, endpoint: &str) -> StoreResult<Option<Millis>> {
        self.with(|c| {
            let row = c.query_one(
                "SELECT min(next_at) FROM webhook_outbox WHERE id IN (
                     SELECT min(id) FROM webhook_outbox WHERE endpoint = $1 GROUP BY room)",
                &[&endpoint],
            )?;
            Ok(row.get::<_, Option<i64>>(0).map(|n| n.max(0) as Millis))
        })
    }

    fn webhook_settle(
        &self,
        row_id: i64,
        record: &DeliveryRecord,
        log_rows: u64,
    ) -> StoreResult<()> {
        self.in_transaction(|tx| {
            tx.execute("DELETE FROM webhook_outbox WHERE id = $1", &[&row_id])?;
            log(tx, record, log_rows)
        })
    }

    fn webhook_retry(
        &self,
        row_id: i64,
        attempts: u32,
        next_at: Millis,
        error: &str,
    ) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE webhook_outbox SET attempts = $2, next_at = $3, last_error = $4
                 WHERE id = $1",
                &[
                    &row_id,
                    &(attempts.min(i32::MAX as u32) as i32),
                    &(next_at as i64),
                    &error,
                ],
            )
            .map(drop)
        })
    }

    fn webhook_trim(
        &self,
        endpoint: &str,
        created_before: Millis,
        max_pending: u64,
        now: Millis,
        log_rows: u64,
    ) -> StoreResult<u64> {
        self.in_transaction(|tx| {
            let mut gone = Vec::new();
            let sql = format!(
                "SELECT {ROW} FROM webhook_outbox WHERE endpoint = $1 AND created_at < $2
                 ORDER BY id LIMIT 1000"
            );
            for r in tx.query(&sql, &[&endpoint, &(created_before as i64)])? {
                gone.push((outbox_row(&r), "not delivered within the retry period"));
            }
            let count: i64 = tx
                .query_one(
                    "SELECT count(*) FROM webhook_outbox WHERE endpoint = $1",
                    &[&endpoint],
                )?
                .get(0);
            let excess = (count.max(0) as u64).saturating_sub(max_pending + gone.len() as u64);
            if excess > 0 {
                let sql = format!(
                    "SELECT {ROW} FROM webhook_outbox WHERE endpoint = $1 AND created_at >= $2
                     ORDER BY id LIMIT $3"
                );
                let limit = excess.min(1000) as i64;
                for r in tx.query(&sql, &[&endpoint, &(created_before as i64), &limit])? {
                    gone.push((outbox_row(&r), "the endpoint's outbox was full"));
                }
            }
            for (row, why) in &gone {
                tx.execute("DELETE FROM webhook_outbox WHERE id = $1", &[&row.id])?;
                log(tx, &DeliveryRecord::dropped(row, now, why), log_rows)?;
            }
            Ok(gone.len() as u64)
        })
    }

    fn webhook_log(
        &self,
        endpoint: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.with(|c| {
            let rows = c.query(
                "SELECT id, endpoint, event_id, kind, room, at, outcome, attempts, status, error, body
                 FROM webhook_log WHERE endpoint = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                &[&endpoint, &before.unwrap_or(i64::MAX), &(limit as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| DeliveryRecord {
                    id: r.get(0),
                    endpoint: r.get(1),
                    event_id: r.get(2),
                    kind: r.get(3),
                    room: r.get(4),
                    at: r.get::<_, i64>(5).max(0) as Millis,
                    outcome: r.get(6),
                    attempts: r.get::<_, i32>(7).max(0) as u32,
                    status: r.get::<_, Option<i32>>(8).map(|s| s.clamp(0, 999) as u16),
                    error: r.get(9),
                    body: r.get(10),
                })
                .collect())
        })
    }

    fn webhook_pending(
        &self,
        endpoint: &str,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        self.with(|c| {
            let sql = format!(
                "SELECT {ROW} FROM webhook_outbox WHERE endpoint = $1 AND id > $2 ORDER BY id LIMIT $3"
            );
            let rows = c.query(&sql, &[&endpoint, &after, &(limit as i64)])?;
            Ok(rows.iter().map(outbox_row).collect())
        })
    }

    fn webhook_pending_count(&self, endpoint: &str) -> StoreResult<u64> {
        self.with(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM webhook_outbox WHERE endpoint = $1",
                    &[&endpoint],
                )?
                .get(0);
            Ok(n.max(0) as u64)
        })
    }

    fn webhook_claim(&self, endpoint: &str, node: &str, ttl_ms: u64) -> StoreResult<bool> {
        self.with(|c| {
            let ttl = ttl_ms.min(i64::MAX as u64) as i64;
            let rows = c.query(
                "INSERT INTO webhook_dispatchers (endpoint, node, until)
                 VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
                 ON CONFLICT (endpoint) DO UPDATE SET node = $2, until = now() + $3::bigint * interval '1 millisecond'
                 WHERE webhook_dispatchers.node = $2 OR webhook_dispatchers.until < now()
                 RETURNING node",
                &[&endpoint, &node, &ttl],
            )?;
            Ok(!rows.is_empty())
        })
    }

    fn webhook_release(&self, endpoint: &str, node: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM webhook_dispatchers WHERE endpoint = $1 AND node = $2",
                &[&endpoint, &node],
            )
            .map(drop)
        })
    }
}
