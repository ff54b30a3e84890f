//! Sends the media plane's UDP datagrams, a batch per `sendmmsg(2)` call, from a thread of
//! its own when batches are large.
//!
//! A forwarded packet becomes one datagram per receiver, and on the room's task one
//! `sendto(2)` each was the largest single cost (a quarter of the server's time, profiled in
//! docs/benchmarks.md). A batch now costs one call per [`CHUNK`] datagrams. A large batch (a
//! busy room) goes to this module's thread, so the room's core goes back to forwarding while
//! the system calls run on another core. A small one, when the thread is idle, is sent at
//! once by the room's task: waking a thread for it costs more than sending it (a wake-up is a
//! context switch, expensive in a VM). The thread's queue is bounded: when it falls behind,
//! whole batches are dropped and counted (UDP may drop; a room must never wait on a socket).
//! ICE-TCP frames keep their own per-connection queues (`tcp.rs`).

use crate::metrics::{DirectionLabel, Metrics, ReasonLabel};
use nix::errno::Errno;
use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use prometheus_client::metrics::counter::Counter;
use std::cell::RefCell;
use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Datagrams per `sendmmsg` call (the kernel caps one call at 1024).
const CHUNK: usize = 64;
/// Batches waiting for the thread; each is one room's output of one step.
const QUEUE: usize = 1024;
/// Datagrams waiting for the thread, all batches together. Past this, new batches are dropped,
/// so an overloaded server drops media rather than delivering it ever later. It must hold a
/// burst: one batch of 32 frames for 250 receivers is 8,000 datagrams. At the ~130k
/// datagrams/s one sender thread manages here, this is a quarter second of output.
const MAX_QUEUED: usize = 32_768;
/// A full socket buffer is waited out this many times, a millisecond each, before the rest of
/// a batch is dropped.
const FULL_RETRIES: u32 = 3;
/// Batches up to this size are sent by the caller when the thread is idle.
const INLINE_MAX: usize = 256;

/// One datagram to send.
#[derive(Debug)]
pub struct Outbound {
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

pub struct UdpSender {
    tx: SyncSender<Vec<Outbound>>,
    /// Datagrams queued and not yet sent.
    queued: Arc<AtomicUsize>,
    /// The same socket, for batches sent by the caller.
    socket: UdpSocket,
    counters: Counters,
}

/// The metrics a send updates, resolved once.
#[derive(Clone)]
struct Counters {
    datagrams_out: Counter,
    bytes_out: Counter,
    dropped: Counter,
}

impl Counters {
    fn new(metrics: &Metrics) -> Counters {
        Counters {
            datagrams_out: metrics
                .media_datagrams
                .get_or_create(&DirectionLabel { direction: "out" })
                .clone(),
            bytes_out: metrics
                .media_bytes
                .get_or_create(&DirectionLabel { direction: "out" })
                .clone(),
            dropped: metrics
                .media_dropped
                .get_or_create(&ReasonLabel {
                    reason: "overloaded",
                })
                .clone(),
        }
    }
}

thread_local! {
    /// `sendmmsg`'s headers for batches a caller sends itself (one set per runtime thread).
    static HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(CHUNK, None));
}

impl UdpSender {
    /// Starts the thread on a duplicate of `socket`'s descriptor; it ends when the sender is
    /// dropped.
    pub fn spawn(socket: &impl AsFd, metrics: Arc<Metrics>) -> std::io::Result<UdpSender> {
        let inline = UdpSocket::from(socket.as_fd().try_clone_to_owned()?);
        let threaded = UdpSocket::from(socket.as_fd().try_clone_to_owned()?);
        let (tx, rx) = sync_channel(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = Counters::new(&metrics);
        let (c, q) = (counters.clone(), queued.clone());
        std::thread::Builder::new()
            .name("gavel-media-send".into())
            .spawn(move || run(threaded, rx, q, c))?;
        Ok(UdpSender {
            tx,
            queued,
            socket: inline,
            counters,
        })
    }

    /// Sends `batch` without waiting: at once if it is small and nothing is queued ahead of it
    /// (so datagrams to one receiver keep their order), else through the thread.
    pub fn send(&self, batch: Vec<Outbound>) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        if n <= INLINE_MAX && self.queued.load(Ordering::Acquire) == 0 {
            let unsent = HEADERS.with(|h| {
                send_batch(
                    &self.socket,
                    &mut h.borrow_mut(),
                    &batch,
                    &self.counters,
                    false,
                )
            });
            if unsent > 0 {
                // The socket buffer is full: the thread waits it out for the rest.
                let mut batch = batch;
                self.enqueue(batch.split_off(n - unsent));
            }
            return;
        }
        self.enqueue(batch);
    }

    fn enqueue(&self, batch: Vec<Outbound>) {
        let n = batch.len();
        let refused = if self.queued.fetch_add(n, Ordering::AcqRel) + n > MAX_QUEUED {
            Some(batch)
        } else {
            match self.tx.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => Some(b),
            }
        };
        if let Some(batch) = refused {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.counters.dropped.inc_by(batch.len() as u64);
        }
    }
}

fn run(
    socket: UdpSocket,
    rx: Receiver<Vec<Outbound>>,
    queued: Arc<AtomicUsize>,
    counters: Counters,
) {
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(CHUNK, None);
    while let Ok(batch) = rx.recv() {
        send_batch(&socket, &mut headers, &batch, &counters, true);
        queued.fetch_sub(batch.len(), Ordering::AcqRel);
    }
}

/// Sends `batch`, [`CHUNK`] datagrams per call. A full socket buffer is waited out (when
/// `wait`, up to [`FULL_RETRIES`] ms, then the rest is dropped); without `wait` it stops
/// there. Returns how many datagrams at the end of `batch` were neither sent nor dropped.
fn send_batch(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    batch: &[Outbound],
    counters: &Counters,
    wait: bool,
) -> usize {
    let fd = socket.as_raw_fd();
    let mut rest = batch;
    let mut retries = 0;
    while !rest.is_empty() {
        let chunk = &rest[..rest.len().min(CHUNK)];
        let slices: Vec<[IoSlice<'_>; 1]> =
            chunk.iter().map(|o| [IoSlice::new(&o.bytes)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> = chunk
            .iter()
            .map(|o| Some(SockaddrStorage::from(o.to)))
            .collect();
        match sendmmsg(fd, headers, &slices, &addrs, [], MsgFlags::empty()) {
            Ok(results) => {
                let sent = results.count();
                counters.datagrams_out.inc_by(sent as u64);
                counters
                    .bytes_out
                    .inc_by(chunk[..sent].iter().map(|o| o.bytes.len() as u64).sum());
                if sent == 0 {
                    // Nothing went: treat the first as undeliverable and move on.
                    counters.dropped.inc();
                }
                rest = &rest[sent.max(1).min(rest.len())..];
            }
            Err(Errno::EAGAIN) if !wait => return rest.len(),
            Err(Errno::EAGAIN) if retries < FULL_RETRIES => {
                retries += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(Errno::EAGAIN) => {
                counters.dropped.inc_by(rest.len() as u64);
                rest = &[];
            }
            // The first datagram failed for its own sake (an unreachable address): drop it,
            // send the others.
            Err(_) => {
                counters.dropped.inc();
                rest = &rest[1..];
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every datagram of a small batch (sent by the caller) and of a large one (several chunks,
    /// sent by the thread) arrives, intact and in order, at each destination; the counters say
    /// so.
    #[test]
    fn batches_reach_every_destination_over_a_real_socket() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let metrics = Arc::new(Metrics::default());
        let sender = UdpSender::spawn(&socket, metrics.clone()).unwrap();
        let receivers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for r in &receivers {
            r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        let mut total = 0;
        for per_receiver in [3, 100] {
            let batch: Vec<Outbound> = (0..per_receiver)
                .flat_map(|i| {
                    receivers.iter().map(move |r| Outbound {
                        to: r.local_addr().unwrap(),
                        bytes: format!("packet {i}").into_bytes(),
                    })
                })
                .collect();
            total += batch.len() as u64;
            sender.send(batch);
            for r in &receivers {
                let mut buf = [0u8; 64];
                for i in 0..per_receiver {
                    let n = r.recv(&mut buf).expect("every datagram arrives");
                    assert_eq!(&buf[..n], format!("packet {i}").as_bytes());
                }
            }
        }
        // The thread counts after its last call returns, which may trail the arrivals.
        let counted = || {
            metrics
                .media_datagrams
                .get_or_create(&DirectionLabel { direction: "out" })
                .get()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while counted() < total && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(counted(), total);
    }
}
