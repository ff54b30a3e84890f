//! The webhook outbox's interface (`crate::webhooks::store::WebhookStore`) on the SQLite store:
//! its tables belong to the one migration list, and its writes share the store's connection.

use super::sqlite::SqliteStore;
use super::StoreResult;
use crate::webhooks::config::EndpointConfig;
use crate::webhooks::store::{DeliveryRecord, NewOutboxRow, OutboxRow, WebhookStore};
use gavel_core::Millis;
use rusqlite::{params, Connection, Row};

const ROW: &str =
    "id, endpoint, room, event_id, kind, created_at, body, attempts, next_at, last_error";

fn outbox_row(r: &Row) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        endpoint: r.get(1)?,
        room: r.get(2)?,
        event_id: r.get(3)?,
        kind: r.get(4)?,
        created_at: r.get::<_, i64>(5)?.max(0) as Millis,
        body: r.get(6)?,
        attempts: r.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_at: r.get::<_, i64>(8)?.max(0) as Millis,
        last_error: r.get(9)?,
    })
}

fn log(c: &Connection, d: &DeliveryRecord, log_rows: u64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO webhook_log
             (endpoint, event_id, kind, room, at, outcome, attempts, status, error, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        d.endpoint,
        d.event_id,
        d.kind,
        d.room,
        d.at as i64,
        d.outcome,
        i64::from(d.attempts),
        d.status.map(i64::from),
        d.error,
        d.body
    ])?;
    // The newest `log_rows` of the endpoint stay.
    c.prepare_cached(
        "DELETE FROM webhook_log WHERE endpoint = ?1 AND id <= (
             SELECT id FROM webhook_log WHERE endpoint = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![d.endpoint, log_rows.min(i64::MAX as u64) as i64])?;
    Ok(())
}

impl WebhookStore for SqliteStore {
    fn webhook_endpoints(&self) -> StoreResult<Vec<EndpointConfig>> {
        self.with(|c| {
            let mut st = c.prepare_cached("SELECT config FROM webhook_endpoints ORDER BY name")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for config in rows {
                // Written by this code from a validated endpoint; an unreadable row is skipped.
                if let Ok(e) = serde_json::from_str(&config?) {
                    out.push(e);
                }
            }
            Ok(out)
        })
    }

    fn webhook_add_endpoint(&self, endpoint: &EndpointConfig, now: Millis) -> StoreResult<bool> {
        let config = serde_json::to_string(endpoint).unwrap_or_default();
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO webhook_endpoints (name, config, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO NOTHING",
                params![endpoint.name, config, now as i64],
            )?;
            Ok(n == 1)
        })
    }

    fn webhook_remove_endpoint(&self, name: &str) -> StoreResult<bool> {
        self.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "DELETE FROM webhook_endpoints WHERE name = ?1",
                params![name],
            )?;
            if n == 1 {
                tx.execute(
                    "DELETE FROM webhook_outbox WHERE endpoint = ?1",
                    params![name],
                )?;
                tx.execute("DELETE FROM webhook_log WHERE endpoint = ?1", params![name])?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn webhook_replay(
        &self,
        endpoint: &str,
        event_ids: &[String],
        now: Millis,
    ) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut found = Vec::new();
            for id in event_ids {
                // The newest log line of that event (a replayed event may be logged twice).
                let n = tx.execute(
                    "INSERT INTO webhook_outbox (endpoint, room, event_id, kind, created_at, body)
                     SELECT endpoint, room, event_id, kind, ?3, body FROM webhook_log
                     WHERE endpoint = ?1 AND event_id = ?2 ORDER BY id DESC LIMIT 1",
                    params![endpoint, id, now as i64],
                )?;
                if n == 1 {
                    found.push(id.clone());
                }
            }
            tx.commit()?;
            Ok(found)
        })
    }

    fn webhook_enqueue(&self, rows: &[NewOutboxRow]) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO webhook_outbox (endpoint, room, event_id, kind, created_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for r in rows {
                    st.execute(params![
                        r.endpoint,
                        r.room,
                        r.event_id,
                        r.kind,
                        r.created_at as i64,
                        r.body
                    ])?;
                }
            }
            tx.commit()
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
                     SELECT min(id) FROM webhook_outbox WHERE endpoint = ?1 GROUP BY room)
                 AND next_at <= ?2 ORDER BY id LIMIT ?3"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(params![endpoint, now as i64, limit as i64], outbox_row)?;
            rows.collect()
        })
    }

    fn webhook_next_at(&self, endpoint: &str) -> StoreResult<Option<Millis>> {
        self.with(|c| {
            let next: Option<i64> = c.query_row(
                "SELECT min(next_at) FROM webhook_outbox WHERE id IN (
                     SELECT min(id) FROM webhook_outbox WHERE endpoint = ?1 GROUP BY room)",
                params![endpoint],
                |r| r.get(0),
            )?;
            Ok(next.map(|n| n.max(0) as Millis))
        })
    }

    fn webhook_settle(
        &self,
        row_id: i64,
        record: &DeliveryRecord,
        log_rows: u64,
    ) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM webhook_outbox WHERE id = ?1", params![row_id])?;
            log(&tx, record, log_rows)?;
            tx.commit()
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
                "UPDATE webhook_outbox SET attempts = ?2, next_at = ?3, last_error = ?4
                 WHERE id = ?1",
                params![row_id, i64::from(attempts), next_at as i64, error],
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
        self.with(|c| {
            let tx = c.transaction()?;
            let mut gone = Vec::new();
            {
                let sql = format!(
                    "SELECT {ROW} FROM webhook_outbox WHERE endpoint = ?1 AND created_at < ?2
                     ORDER BY id LIMIT 1000"
                );
                let mut st = tx.prepare_cached(&sql)?;
                for r in st.query_map(params![endpoint, created_before as i64], outbox_row)? {
                    gone.push((r?, "not delivered within the retry period"));
                }
                let count: i64 = tx.query_row(
                    "SELECT count(*) FROM webhook_outbox WHERE endpoint = ?1",
                    params![endpoint],
                    |r| r.get(0),
                )?;
                let excess = (count as u64).saturating_sub(max_pending + gone.len() as u64);
                if excess > 0 {
                    let sql = format!(
                        "SELECT {ROW} FROM webhook_outbox WHERE endpoint = ?1 AND created_at >= ?2
                         ORDER BY id LIMIT ?3"
                    );
                    let mut st = tx.prepare_cached(&sql)?;
                    let limit = excess.min(1000) as i64;
                    for r in
                        st.query_map(params![endpoint, created_before as i64, limit], outbox_row)?
                    {
                        gone.push((r?, "the endpoint's outbox was full"));
                    }
                }
            }
            for (row, why) in &gone {
                tx.execute("DELETE FROM webhook_outbox WHERE id = ?1", params![row.id])?;
                log(&tx, &DeliveryRecord::dropped(row, now, why), log_rows)?;
            }
            tx.commit()?;
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
            let mut st = c.prepare_cached(
                "SELECT id, endpoint, event_id, kind, room, at, outcome, attempts, status, error, body
                 FROM webhook_log WHERE endpoint = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = st.query_map(
                params![endpoint, before.unwrap_or(i64::MAX), limit as i64],
                |r| {
                    Ok(DeliveryRecord {
                        id: r.get(0)?,
                        endpoint: r.get(1)?,
                        event_id: r.get(2)?,
                        kind: r.get(3)?,
                        room: r.get(4)?,
                        at: r.get::<_, i64>(5)?.max(0) as Millis,
                        outcome: r.get(6)?,
                        attempts: r.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
                        status: r.get::<_, Option<i64>>(8)?.map(|s| s.clamp(0, 999) as u16),
                        error: r.get(9)?,
                        body: r.get(10)?,
                    })
                },
            )?;
            rows.collect()
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
                "SELECT {ROW} FROM webhook_outbox WHERE endpoint = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(params![endpoint, after, limit as i64], outbox_row)?;
            rows.collect()
        })
    }

    fn webhook_pending_count(&self, endpoint: &str) -> StoreResult<u64> {
        self.with(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM webhook_outbox WHERE endpoint = ?1",
                params![endpoint],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_outbox_conforms() {
        crate::store::conformance::webhook_outbox(&super::SqliteStore::in_memory().unwrap());
    }
}
