//! What every measured scenario shares: clients look for a byte pattern in each incoming frame
//! (no JSON parsing on the hot path), and the generator collects the first time each client saw
//! it after an action.

use crate::report::Report;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Mutex};

/// The probes of one crowd: set a pattern, run an action, collect each client's first hit.
pub struct Probes {
    n: usize,
    pattern: watch::Sender<Option<Arc<str>>>,
    hits: Mutex<mpsc::UnboundedReceiver<(usize, Instant)>>,
    /// Cloned into each client's [`Probe`].
    pattern_rx: watch::Receiver<Option<Arc<str>>>,
    hit_tx: mpsc::UnboundedSender<(usize, Instant)>,
}

/// A client's end: call [`Probe::check`] with every text frame.
#[derive(Clone)]
pub struct Probe {
    client: usize,
    pattern: watch::Receiver<Option<Arc<str>>>,
    hits: mpsc::UnboundedSender<(usize, Instant)>,
}

impl Probe {
    pub fn check(&self, text: &str) {
        let current = self.pattern.borrow().clone();
        if let Some(p) = current {
            if text.contains(&*p) {
                let _ = self.hits.send((self.client, Instant::now()));
            }
        }
    }

    /// For clients reading the raw byte stream: looks for the pattern in `bytes`, where
    /// `bytes[..fresh]` was already searched before (carried over from the previous read so a
    /// pattern split across two reads is still found); only matches that end in fresh bytes
    /// count, so nothing seen before the pattern was set is reported.
    pub fn check_bytes(&self, bytes: &[u8], fresh: usize) {
        let current = self.pattern.borrow().clone();
        if let Some(p) = current {
            let from = fresh.saturating_sub(p.len().saturating_sub(1));
            if memchr::memmem::find(&bytes[from..], p.as_bytes()).is_some() {
                let _ = self.hits.send((self.client, Instant::now()));
            }
        }
    }
}

impl Probe {
    /// Reads a socket's raw bytes until it closes, checking each read for the pattern. Server
    /// frames are unmasked, so a small event's JSON is in the byte stream verbatim; this skips
    /// per-message framing, UTF-8 checks and allocation (docs/benchmarks.md: the generator was
    /// most of the CPU a 10,000-client fan-out took). Used for Gavel's viewers and Janus alike.
    pub async fn read_raw(&self, mut tcp: TcpStream) {
        // The last bytes of each read are kept for the next search (patterns are short).
        const CARRY: usize = 128;
        let mut buf = vec![0u8; 4096];
        let mut kept = 0;
        loop {
            let read = match tcp.read(&mut buf[kept..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let filled = kept + read;
            self.check_bytes(&buf[..filled], kept);
            let keep = filled.min(CARRY);
            buf.copy_within(filled - keep..filled, 0);
            kept = keep;
        }
    }
}

impl Probes {
    pub fn new(n: usize) -> Probes {
        let (pattern, pattern_rx) = watch::channel(None);
        let (hit_tx, hits) = mpsc::unbounded_channel();
        Probes {
            n,
            pattern,
            hits: Mutex::new(hits),
            pattern_rx,
            hit_tx,
        }
    }

    pub fn probe(&self, client: usize) -> Probe {
        Probe {
            client,
            pattern: self.pattern_rx.clone(),
            hits: self.hit_tx.clone(),
        }
    }

    /// Runs `action` and measures, for `expected` clients, the time from the call until their
    /// first frame containing `pattern`.
    pub async fn measure<F, Fut>(
        &self,
        name: &str,
        pattern: &str,
        expected: usize,
        timeout: Duration,
        action: F,
    ) -> Result<Report, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        self.arm(pattern).await;
        let started = Instant::now();
        action().await?;
        let times = self.collect(name, expected, timeout).await?;
        Ok(Report::from_instants(name, started, &times))
    }

    /// From now on, clients report their first frame containing `pattern` (earlier hits are
    /// forgotten).
    pub async fn arm(&self, pattern: &str) {
        let mut hits = self.hits.lock().await;
        while hits.try_recv().is_ok() {}
        self.pattern.send_replace(Some(Arc::from(pattern)));
    }

    /// Waits until `expected` clients hit the armed pattern; each one's first hit.
    pub async fn collect(
        &self,
        name: &str,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<Instant>, String> {
        let mut hits = self.hits.lock().await;
        let mut seen = vec![None; self.n];
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        while got < expected {
            match tokio::time::timeout_at(deadline, hits.recv()).await {
                Ok(Some((i, t))) if seen[i].is_none() => {
                    seen[i] = Some(t);
                    got += 1;
                }
                Ok(Some(_)) => {}
                _ => {
                    return Err(format!(
                        "{name}: only {got} of {expected} clients got the event in time"
                    ))
                }
            }
        }
        self.pattern.send_replace(None);
        Ok(seen.into_iter().flatten().collect())
    }
}
