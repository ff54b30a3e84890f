//! Writes audit entries and session rows off the rooms' hot path: rooms hand records to a
//! bounded queue; one task applies the refusal rate limit (`audit_policy`) and commits them in
//! batches on the store thread (at most every [`BATCH_INTERVAL`], or sooner when [`BATCH_MAX`]
//! are waiting). Every [`HOUSEKEEPING_INTERVAL`] it also writes the summaries of suppressed
//! refusals that are due and takes one retention step (`retention`). `flush` commits
//! everything handed over so far, suppressed counts included (shutdown uses it).
//!
//! Loss window: a record is durable once its batch commits, so `kill -9` can lose at most the
//! records of the last [`BATCH_INTERVAL`] (plus the time of one commit).
//!
//! The queue holds [`QUEUE_RECORDS`] records: enough for every session row of a 10,000-person
//! room that closes while a commit is in flight. It fills only if the store stalls. Refused
//! actions are queued only while fewer than [`REFUSED_QUEUED_MAX`] records wait, so a flood of
//! them never crowds out session rows and carried-out actions, and holds at most ~12 MB
//! (`audit_policy` bounds a refusal's entry to ~3 KB; a session row is ~200 bytes; a
//! carried-out action, which needs host controls, at most ~17 KB). A record that finds no
//! place is not written: it is counted in `gavel_audit_dropped_total{kind}` (`refused`,
//! `action`, `session`), and for the last two also logged at WARN — never dropped silently.
//! (Rooms cannot wait for the writer: they do not block on anything.)

use super::audit_policy::{Admission, RefusalLimiter};
use super::retention;
use super::thread::StoreHandle;
use super::{AuditEntry, SessionRecord};
use crate::config::AuditRetention;
use crate::metrics::{KindLabel, Metrics};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub const BATCH_INTERVAL: Duration = Duration::from_millis(100);
pub const BATCH_MAX: usize = 512;
/// Records waiting for the writer.
pub const QUEUE_RECORDS: usize = 16 * 1024;
/// A refused action is queued only while fewer records than this wait.
pub const REFUSED_QUEUED_MAX: usize = QUEUE_RECORDS / 4;
/// How often suppressed-refusal summaries and retention are looked at.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

pub enum Record {
    Audit(AuditEntry),
    Session(SessionRecord),
    Flush(oneshot::Sender<()>),
}

/// A clonable handle rooms use to hand over records.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Record>,
    metrics: Arc<Metrics>,
}

impl Writer {
    pub fn spawn(store: StoreHandle, metrics: Arc<Metrics>, retention: AuditRetention) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE_RECORDS);
        let task = Task {
            store,
            metrics: metrics.clone(),
            retention,
            limiter: RefusalLimiter::default(),
            batch: Batch::default(),
        };
        tokio::spawn(task.run(rx));
        Writer { tx, metrics }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Hands over an audit entry (bounded by `audit_policy::record`, which rooms call).
    pub fn audit(&self, entry: AuditEntry) {
        let kind = if entry.outcome == "ok" {
            "action"
        } else {
            "refused"
        };
        let waiting = QUEUE_RECORDS - self.tx.capacity();
        if kind == "refused" && waiting >= REFUSED_QUEUED_MAX {
            self.dropped(kind);
            return;
        }
        if self.tx.try_send(Record::Audit(entry)).is_err() {
            self.dropped(kind);
        }
    }

    pub fn session(&self, record: SessionRecord) {
        if self.tx.try_send(Record::Session(record)).is_err() {
            self.dropped("session");
        }
    }

    /// Waits until everything handed over before this call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Record::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    fn dropped(&self, kind: &str) {
        self.metrics
            .audit_dropped
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
        if kind != "refused" {
            tracing::warn!(
                kind,
                "the audit writer's queue is full (the store is stalled): a record was not written"
            );
        }
    }
}

/// Records waiting to be committed together.
#[derive(Default)]
struct Batch {
    audit: Vec<AuditEntry>,
    sessions: Vec<SessionRecord>,
    /// When the batch must be committed at the latest.
    due: Option<Instant>,
}

impl Batch {
    fn len(&self) -> usize {
        self.audit.len() + self.sessions.len()
    }
}

struct Task {
    store: StoreHandle,
    metrics: Arc<Metrics>,
    retention: AuditRetention,
    limiter: RefusalLimiter,
    batch: Batch,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Record>) {
        let mut housekeeping = Instant::now() + HOUSEKEEPING_INTERVAL;
        loop {
            let wake = self.batch.due.map_or(housekeeping, |d| d.min(housekeeping));
            tokio::select! {
                record = rx.recv() => match record {
                    Some(Record::Audit(entry)) => self.audit(entry),
                    Some(Record::Session(s)) => self.batch.sessions.push(s),
                    Some(Record::Flush(done)) => {
                        let summaries = self.limiter.due(Instant::now(), true);
                        self.refusals(summaries);
                        self.commit().await;
                        let _ = done.send(());
                    }
                    None => {
                        self.commit().await;
                        return;
                    }
                },
                _ = tokio::time::sleep_until(wake) => {}
            }
            let now = Instant::now();
            if now >= housekeeping {
                let summaries = self.limiter.due(now, false);
                self.refusals(summaries);
                let more = self.retention_step().await;
                // A backlog of old rows is worked off in small steps, a batch interval apart.
                housekeeping = now
                    + if more {
                        BATCH_INTERVAL
                    } else {
                        HOUSEKEEPING_INTERVAL
                    };
            }
            if self.batch.len() > 0 && self.batch.due.is_none() {
                self.batch.due = Some(now + BATCH_INTERVAL);
            }
            if self.batch.len() >= BATCH_MAX || self.batch.due.is_some_and(|d| d <= now) {
                self.commit().await;
            }
        }
    }

    fn audit(&mut self, entry: AuditEntry) {
        if entry.outcome == "ok" {
            self.batch.audit.push(entry);
            return;
        }
        match self.limiter.admit(entry, Instant::now()) {
            Admission::Write(e) => self.refusals(vec![e]),
            Admission::Suppressed => {
                self.metrics.audit_suppressed.inc();
            }
        }
    }

    /// Refusals to write: each is logged with its entry, so the log follows the same rate.
    fn refusals(&mut self, entries: Vec<AuditEntry>) {
        for e in entries {
            tracing::info!(
                room = %e.room,
                actor = %e.actor,
                action = %e.action,
                targets = ?e.targets,
                error = %e.message.as_deref().unwrap_or(&e.outcome),
                suppressed = e.suppressed,
                "host action refused"
            );
            self.batch.audit.push(e);
        }
    }

    async fn commit(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if batch.len() == 0 {
            return;
        }
        let started = std::time::Instant::now();
        let (audit, sessions) = (batch.audit, batch.sessions);
        let result = self
            .store
            .call(move |s| {
                if !audit.is_empty() {
                    s.append_audit(&audit)?;
                }
                if !sessions.is_empty() {
                    s.append_sessions(&sessions)?;
                }
                Ok(())
            })
            .await;
        match result {
            Ok(()) => self
                .metrics
                .store_write_seconds
                .observe(started.elapsed().as_secs_f64()),
            Err(e) => tracing::error!(error = %e, "writing audit/session rows failed"),
        }
    }

    /// One retention step; `true` when it removed a full step's worth (more may be due).
    async fn retention_step(&mut self) -> bool {
        match retention::step(&self.store, &self.retention, crate::clock::now_ms()).await {
            Ok(removed) => {
                self.metrics.audit_pruned.inc_by(removed as u64);
                removed == retention::STEP_ROWS
            }
            Err(e) => {
                tracing::error!(error = %e, "audit retention failed");
                false
            }
        }
    }
}
