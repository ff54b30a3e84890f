//! Writes audit entries and session rows off the rooms' hot path: rooms hand records to a
//! channel; one task commits them in batches on the store thread (at most every
//! [`BATCH_INTERVAL`], or sooner when [`BATCH_MAX`] are waiting). `flush` commits everything
//! handed over so far (shutdown uses it).
//!
//! Loss window: a record is durable once its batch commits, so `kill -9` can lose at most the
//! records of the last [`BATCH_INTERVAL`] (plus the time of one commit).

use super::thread::StoreHandle;
use super::{AuditEntry, SessionRecord};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub const BATCH_INTERVAL: Duration = Duration::from_millis(100);
pub const BATCH_MAX: usize = 512;

pub enum Record {
    Audit(AuditEntry),
    Session(SessionRecord),
    Flush(oneshot::Sender<()>),
}

/// A clonable handle rooms use to hand over records.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Record>,
}

impl Writer {
    pub fn spawn(store: StoreHandle, on_commit: impl Fn(Duration) + Send + 'static) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(store, rx, on_commit));
        Writer { tx }
    }

    pub fn audit(&self, entry: AuditEntry) {
        let _ = self.tx.send(Record::Audit(entry));
    }

    pub fn session(&self, record: SessionRecord) {
        let _ = self.tx.send(Record::Session(record));
    }

    /// Waits until everything handed over before this call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Record::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run(
    store: StoreHandle,
    mut rx: mpsc::UnboundedReceiver<Record>,
    on_commit: impl Fn(Duration),
) {
    while let Some(first) = rx.recv().await {
        let mut audit = Vec::new();
        let mut sessions = Vec::new();
        let mut flushed = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_INTERVAL;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Record::Audit(a)) => audit.push(a),
                Some(Record::Session(s)) => sessions.push(s),
                Some(Record::Flush(done)) => {
                    flushed.push(done);
                    break;
                }
                None => {}
            }
            if audit.len() + sessions.len() >= BATCH_MAX {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => next = Some(r),
                _ => break,
            }
        }
        let started = std::time::Instant::now();
        let result = store
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
            Ok(()) => on_commit(started.elapsed()),
            Err(e) => tracing::error!(error = %e, "writing audit/session rows failed"),
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}
