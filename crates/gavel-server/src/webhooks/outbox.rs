//! The outbox writer: rooms hand it events (never waiting: a bounded queue), it writes one row
//! per event and interested endpoint to the store's outbox in batches, then wakes the
//! deliverers. A command whose events must be durable before it is answered asks for a
//! [`Webhooks::barrier`]: it resolves once everything handed over before it is committed.
//!
//! Batches: whatever is queued, at most [`BATCH_MAX`] events, committed as soon as the previous
//! commit is done — a busy server commits in groups, an idle one at once. A commit that fails
//! (the database is down) is retried every [`RETRY`] with the same rows: nothing queued is
//! lost while the process lives. `kill -9` loses only events not yet committed (the queue),
//! never one a barrier was resolved for.

use super::endpoints::Endpoints;
use super::payload::Notice;
use super::store::NewOutboxRow;
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Events waiting for the writer; past it, an event is counted (`gavel_webhook_unqueued`)
/// and logged, never silently lost.
pub const QUEUE_EVENTS: usize = 16 * 1024;
pub const BATCH_MAX: usize = 512;
pub const RETRY: Duration = Duration::from_secs(1);

enum Msg {
    Event(Notice),
    Barrier(oneshot::Sender<()>),
}

/// The rooms' way to the outbox, and the live endpoints.
#[derive(Clone)]
pub struct Webhooks {
    tx: mpsc::Sender<Msg>,
    metrics: Arc<Metrics>,
    pub endpoints: Arc<Endpoints>,
}

impl Webhooks {
    /// Reads the stored endpoints, starts their deliverers and the writer.
    pub async fn start(
        endpoints: Arc<Endpoints>,
        metrics: Arc<Metrics>,
    ) -> crate::store::StoreResult<Webhooks> {
        endpoints.reload().await?;
        endpoints.keep_reloading();
        let (tx, rx) = mpsc::channel(QUEUE_EVENTS);
        let writer = Writer {
            endpoints: endpoints.clone(),
        };
        tokio::spawn(writer.run(rx));
        Ok(Webhooks {
            tx,
            metrics,
            endpoints,
        })
    }

    /// Whether rooms should report their events at all (an endpoint exists).
    pub fn active(&self) -> bool {
        self.endpoints.any()
    }

    /// Hands an event over; never waits.
    pub fn emit(&self, notice: Notice) {
        if let Err(e) = self.tx.try_send(Msg::Event(notice)) {
            self.metrics.webhook_unqueued.inc();
            if let mpsc::error::TrySendError::Full(Msg::Event(n)) = e {
                tracing::warn!(room = %n.room, kind = n.kind.as_str(), event = %n.event_id,
                    "the webhook outbox's queue is full (the store is stalled): an event was not queued");
            }
        }
    }

    /// Resolves once every event handed over before it is in the outbox.
    pub fn barrier(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::TrySendError::Full(Msg::Barrier(tx))) =
            self.tx.try_send(Msg::Barrier(tx))
        {
            // A full queue: wait for a place off the caller's path.
            let sender = self.tx.clone();
            tokio::spawn(async move {
                let _ = sender.send(Msg::Barrier(tx)).await;
            });
        }
        rx
    }
}

struct Writer {
    endpoints: Arc<Endpoints>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let mut rows = Vec::new();
        let mut barriers = Vec::new();
        while let Some(first) = rx.recv().await {
            // The endpoints as they are for this batch.
            let live = self.endpoints.live();
            let mut woken = vec![false; live.len()];
            let mut next = Some(first);
            let mut events = 0;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Event(n) => {
                        events += 1;
                        for (i, e) in live.iter().enumerate() {
                            let wanted = match &n.only {
                                Some(only) => *only == e.config.name,
                                None => e.config.wants(n.kind),
                            };
                            if wanted {
                                woken[i] = true;
                                rows.push(NewOutboxRow {
                                    endpoint: e.config.name.clone(),
                                    room: n.room.clone(),
                                    event_id: n.event_id.clone(),
                                    kind: n.kind.as_str().to_string(),
                                    created_at: n.created_at,
                                    body: n.body.clone(),
                                });
                            }
                        }
                    }
                    Msg::Barrier(b) => barriers.push(b),
                }
                if events < BATCH_MAX {
                    next = rx.try_recv().ok();
                }
            }
            if !rows.is_empty() {
                self.commit(std::mem::take(&mut rows)).await;
            }
            for (i, w) in woken.iter().enumerate() {
                if *w {
                    self.endpoints.wake(&live[i].config.name);
                }
            }
            for b in barriers.drain(..) {
                let _ = b.send(());
            }
        }
    }

    /// Commits `rows`, retrying until the store takes them.
    async fn commit(&self, rows: Vec<NewOutboxRow>) {
        let rows = Arc::new(rows);
        loop {
            let batch = rows.clone();
            let queued = self
                .endpoints
                .store
                .call(move |s| s.webhook_enqueue(&batch))
                .await;
            match queued {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, events = rows.len(), "cannot write webhook events to the outbox; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}
