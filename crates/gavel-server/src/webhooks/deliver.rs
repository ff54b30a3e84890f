//! Delivery: one task per endpoint, so a dead or slow endpoint delays only its own events.
//!
//! Each round takes, from the outbox, the oldest waiting event of each room that is due (at most
//! [`IN_FLIGHT`] rooms), POSTs them at once, and records each outcome: delivered (a 2xx answer)
//! → removed and logged; anything else → tried again after an exponential backoff with jitter
//! (1 s doubling to [`MAX_BACKOFF`], times a random 0.5–1). A room's next event waits until the
//! one before it is delivered or dropped: each endpoint sees each room's events in order.
//! Every [`TRIM_EVERY`] the endpoint's bounds are enforced: events older than the retry period,
//! and the oldest beyond `max_pending`, are dropped — logged as `dropped` and counted.
//!
//! Delivery is at least once: an endpoint that took an event but whose answer was lost gets it
//! again, with the same `id`. In cluster mode one node at a time delivers to an endpoint (a
//! claim in the shared store, renewed every round and lapsing after [`CLAIM_TTL`]).

use super::config::{EndpointConfig, WebhookConfig};
use super::sign;
use super::store::{DeliveryRecord, OutboxRow, WebhookStore};
use crate::clock::now_ms;
use crate::metrics::{EndpointLabel, Metrics};
use crate::store::thread::StoreHandle;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Rooms whose next event is sent at once to one endpoint.
pub const IN_FLIGHT: usize = 16;
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
pub const TRIM_EVERY: Duration = Duration::from_secs(1);
pub const CLAIM_TTL: Duration = Duration::from_secs(15);
/// How long an idle deliverer sleeps at most before looking at the outbox again (a node that
/// does not hold the claim learns of new events only this way).
const IDLE: Duration = Duration::from_secs(1);

pub struct Deliverer {
    pub endpoint: EndpointConfig,
    /// The API key and secret that sign its requests.
    pub key: (String, String),
    pub config: Arc<WebhookConfig>,
    pub store: StoreHandle<dyn WebhookStore>,
    pub client: super::http::HttpClient,
    pub metrics: Arc<Metrics>,
    pub wake: Arc<Notify>,
    /// This node's name, for the claim.
    pub node: String,
}

impl Deliverer {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let name = self.endpoint.name.clone();
        let mut trim_at = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                // Another node may deliver to this endpoint at once.
                let node = self.node.clone();
                let _ = self
                    .store
                    .call(move |s| s.webhook_release(&name, &node))
                    .await;
                return;
            }
            let wait = match self.round(&mut trim_at).await {
                Ok(Some(wait)) => wait,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(endpoint = %name, error = %e, "webhook outbox unavailable");
                    IDLE
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One round; `Some(wait)` when there is nothing to send before `wait` has passed.
    async fn round(
        &self,
        trim_at: &mut tokio::time::Instant,
    ) -> crate::store::StoreResult<Option<Duration>> {
        let name = self.endpoint.name.clone();
        let node = self.node.clone();
        let ttl = CLAIM_TTL.as_millis() as u64;
        let claimed = {
            let name = name.clone();
            self.store
                .call(move |s| s.webhook_claim(&name, &node, ttl))
                .await?
        };
        if !claimed {
            return Ok(Some(IDLE));
        }
        if tokio::time::Instant::now() >= *trim_at {
            *trim_at = tokio::time::Instant::now() + TRIM_EVERY;
            self.trim().await?;
        }
        let now = now_ms();
        let due = {
            let name = name.clone();
            self.store
                .call(move |s| s.webhook_due(&name, now, IN_FLIGHT))
                .await?
        };
        if due.is_empty() {
            let next = {
                let name = name.clone();
                self.store.call(move |s| s.webhook_next_at(&name)).await?
            };
            let wait = match next {
                Some(at) => Duration::from_millis(at.saturating_sub(now_ms())).min(IDLE),
                None => IDLE,
            };
            return Ok(Some(wait.max(Duration::from_millis(1))));
        }
        let attempts = due.iter().map(|row| self.attempt(row));
        let outcomes = futures_util::future::join_all(attempts).await;
        let mut settled = Vec::new();
        let mut retries = Vec::new();
        let now = now_ms();
        for (row, outcome) in due.into_iter().zip(outcomes) {
            match outcome {
                Ok(status) => {
                    self.metrics.webhook(&name, "delivered", 1);
                    settled.push((row.id, DeliveryRecord::delivered(&row, now, status)));
                }
                Err(error) => {
                    self.metrics.webhook(&name, "failed", 1);
                    let attempts = row.attempts + 1;
                    let next_at = now + backoff(attempts).as_millis() as u64;
                    tracing::debug!(endpoint = %name, event = %row.event_id, attempts, %error, "webhook delivery failed");
                    retries.push((row.id, attempts, next_at, error));
                }
            }
        }
        let log_rows = self.config.log_rows;
        self.store
            .call(move |s| {
                for (id, record) in &settled {
                    s.webhook_settle(*id, record, log_rows)?;
                }
                for (id, attempts, next_at, error) in &retries {
                    s.webhook_retry(*id, *attempts, *next_at, error)?;
                }
                Ok(())
            })
            .await?;
        Ok(None)
    }

    /// Drops what is past the endpoint's bounds, and updates its pending gauge.
    async fn trim(&self) -> crate::store::StoreResult<()> {
        let name = self.endpoint.name.clone();
        let now = now_ms();
        let before = now.saturating_sub(self.config.retry_for_seconds.saturating_mul(1000));
        let (max, log_rows) = (self.config.max_pending, self.config.log_rows);
        let (dropped, pending) = self
            .store
            .call(move |s| {
                let dropped = s.webhook_trim(&name, before, max, now, log_rows)?;
                Ok((dropped, s.webhook_pending_count(&name)?))
            })
            .await?;
        if dropped > 0 {
            tracing::warn!(endpoint = %self.endpoint.name, dropped, "webhook events dropped: past the retry period or the endpoint's bound");
            self.metrics
                .webhook(&self.endpoint.name, "dropped", dropped);
        }
        self.metrics
            .webhook_pending
            .get_or_create(&EndpointLabel {
                endpoint: self.endpoint.name.clone(),
            })
            .set(pending.min(i64::MAX as u64) as i64);
        Ok(())
    }

    /// POSTs one event; `Ok(status)` on a 2xx answer, else why not.
    async fn attempt(&self, row: &OutboxRow) -> Result<u16, String> {
        let (key, secret) = &self.key;
        let auth = sign::authorization(key, secret, row.body.as_bytes(), now_ms() / 1000);
        let headers = [
            ("Content-Type", "application/webhook+json"),
            ("Authorization", auth.as_str()),
            ("X-Gavel-Event-Id", row.event_id.as_str()),
        ];
        let answer = self
            .client
            .post(&self.endpoint.url, &headers, row.body.clone().into())
            .await?;
        match answer.status {
            200..=299 => Ok(answer.status),
            status => Err(format!("HTTP {status}: {}", answer.body)),
        }
    }
}

/// The wait before attempt `attempts + 1`: 1 s doubling up to [`MAX_BACKOFF`], times 0.5–1.
pub fn backoff(attempts: u32) -> Duration {
    let exp = FIRST_BACKOFF.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    let full = exp.min(MAX_BACKOFF);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        for (attempts, full) in [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (40, 300)] {
            let d = backoff(attempts).as_secs_f64();
            assert!(
                d >= full as f64 * 0.5 && d <= full as f64,
                "{attempts}: {d}"
            );
        }
    }
}
