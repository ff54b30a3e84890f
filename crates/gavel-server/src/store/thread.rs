//! The store's own thread: every SQLite call the async code makes runs here, never on a tokio
//! worker, so a slow disk stalls store callers, not rooms or sockets.
//!
//! [`StoreThread::spawn`] starts one OS thread that runs jobs (boxed closures) in the order they
//! were queued. A [`StoreHandle`] is a clonable, async way in: `handle.call(|store| …).await`
//! queues the closure, the thread runs it with the store, and the result comes back through a
//! oneshot. Handles for different interfaces of the same backend (`dyn Store`, Chime's
//! `dyn ChimeStore`) share one thread.
//!
//! One thread, not a pool: SQLite lets one connection write at a time anyway, and with one
//! thread the connection's lock is never contended and commits happen in the order they were
//! asked for (a ban committed before its answer precedes every later write). Reads are indexed
//! and paged (at most 1,000 rows).
//!
//! The queue holds at most [`QUEUE_JOBS`] jobs. When it is full, [`StoreHandle::call`] waits
//! for a slot (backpressure: HTTP handlers and the audit writer slow down; memory does not
//! grow) and [`StoreHandle::try_call`] refuses. A job that panics is reported to its caller
//! as an error; the thread goes on with the next one.

use super::{StoreError, StoreResult};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Jobs waiting for the store thread. A job is a closure with its arguments: names and small
/// documents, or one batch of at most `writer::BATCH_MAX` records (the writer has one in flight
/// at a time).
pub const QUEUE_JOBS: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

/// The queue of the store thread. The thread ends once every handle is dropped.
#[derive(Clone)]
pub struct StoreThread {
    jobs: mpsc::Sender<Job>,
}

impl StoreThread {
    pub fn spawn() -> std::io::Result<StoreThread> {
        let (jobs, mut rx) = mpsc::channel::<Job>(QUEUE_JOBS);
        std::thread::Builder::new()
            .name("gavel-store".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    // The job's result sender is dropped with it: its caller hears of the panic.
                    if catch_unwind(AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a store call panicked");
                    }
                }
            })?;
        Ok(StoreThread { jobs })
    }

    /// A handle that runs calls on this thread with `store`.
    pub fn handle<S: ?Sized + Send + Sync + 'static>(&self, store: Arc<S>) -> StoreHandle<S> {
        StoreHandle {
            thread: self.clone(),
            store,
        }
    }
}

fn gone() -> StoreError {
    StoreError::unavailable("the store thread has stopped")
}

/// A clonable async handle to one interface of the store (`dyn Store` by default).
pub struct StoreHandle<S: ?Sized + 'static = dyn super::Store> {
    thread: StoreThread,
    store: Arc<S>,
}

impl<S: ?Sized> Clone for StoreHandle<S> {
    fn clone(&self) -> Self {
        StoreHandle {
            thread: self.thread.clone(),
            store: self.store.clone(),
        }
    }
}

impl<S: ?Sized + Send + Sync + 'static> StoreHandle<S> {
    /// Runs `f` on the store thread and returns its result; waits for a queue slot if needed.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&S) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (job, answer) = self.job(f);
        self.thread.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| call_failed())?
    }

    /// Queues `f` without waiting, for code that cannot await (the answer can be awaited
    /// later, or dropped). Refused when the queue is full.
    pub fn try_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&S) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<impl Future<Output = StoreResult<T>>> {
        let (job, answer) = self.job(f);
        self.thread.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                StoreError::unavailable(format!("the store is busy ({QUEUE_JOBS} calls waiting)"))
            }
            mpsc::error::TrySendError::Closed(_) => gone(),
        })?;
        Ok(async move { answer.await.map_err(|_| call_failed())? })
    }

    /// The store itself, called synchronously on the caller's thread. For code that is already
    /// on the store thread, or that may block (tests, start-up); async code uses [`Self::call`].
    pub fn blocking(&self) -> &Arc<S> {
        &self.store
    }

    fn job<T: Send + 'static>(
        &self,
        f: impl FnOnce(&S) -> StoreResult<T> + Send + 'static,
    ) -> (Job, oneshot::Receiver<StoreResult<T>>) {
        let (tx, rx) = oneshot::channel();
        let store = self.store.clone();
        let job: Job = Box::new(move || {
            let _ = tx.send(f(&store));
        });
        (job, rx)
    }
}

fn call_failed() -> StoreError {
    StoreError::new("the store call failed (see the server log)")
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Counter: Send + Sync {
        fn get(&self) -> usize;
    }
    struct Fixed(usize);
    impl Counter for Fixed {
        fn get(&self) -> usize {
            self.0
        }
    }

    #[tokio::test]
    async fn calls_run_on_the_store_thread_in_order() {
        let thread = StoreThread::spawn().unwrap();
        let h: StoreHandle<dyn Counter> = thread.handle(Arc::new(Fixed(7)));
        let name = h
            .call(|_| Ok(std::thread::current().name().map(str::to_string)))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("gavel-store"));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut answers = Vec::new();
        for i in 0..10 {
            let order = order.clone();
            answers.push(
                h.try_call(move |s| {
                    order.lock().unwrap().push(i);
                    Ok(s.get() + i)
                })
                .unwrap(),
            );
        }
        for (i, a) in answers.into_iter().enumerate() {
            assert_eq!(a.await.unwrap(), 7 + i);
        }
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_error_and_the_thread_goes_on() {
        let thread = StoreThread::spawn().unwrap();
        let h: StoreHandle<dyn Counter> = thread.handle(Arc::new(Fixed(1)));
        let r: StoreResult<()> = h.call(|_| panic!("boom")).await;
        assert!(r.is_err());
        assert_eq!(h.call(|s| Ok(s.get())).await.unwrap(), 1);
    }
}
