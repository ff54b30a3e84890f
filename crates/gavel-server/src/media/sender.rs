//! Sends the media plane's UDP datagrams from a thread of its own, a batch per `sendmmsg(2)`.
//!
//! A forwarded packet becomes one datagram per receiver, and on the room's task one
//! `sendto(2)` each was the largest single cost (a quarter of the server's time, profiled in
//! docs/benchmarks.md). Rooms hand each drained batch to this thread instead: the room's core
//! goes back to forwarding, the system calls run on another core, and a batch costs one call
//! per [`CHUNK`] datagrams. The queue of batches is bounded: when the thread falls behind,
//! whole batches are dropped and counted (UDP may drop; a room must never wait on a socket).
//! ICE-TCP frames keep their own per-connection queues (`tcp.rs`).

use crate::metrics::{DirectionLabel, Metrics, ReasonLabel};
use nix::errno::Errno;
use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
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
    metrics: Arc<Metrics>,
}

impl UdpSender {
    /// Starts the thread on a duplicate of `socket`'s descriptor; it ends when the sender is
    /// dropped.
    pub fn spawn(socket: &impl AsFd, metrics: Arc<Metrics>) -> std::io::Result<UdpSender> {
        let socket = UdpSocket::from(socket.as_fd().try_clone_to_owned()?);
        let (tx, rx) = sync_channel(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let (m, q) = (metrics.clone(), queued.clone());
        std::thread::Builder::new()
            .name("gavel-media-send".into())
            .spawn(move || run(socket, rx, q, m))?;
        Ok(UdpSender {
            tx,
            queued,
            metrics,
        })
    }

    /// Queues `batch` without waiting.
    pub fn send(&self, batch: Vec<Outbound>) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        let refused = if self.queued.fetch_add(n, Ordering::Relaxed) + n > MAX_QUEUED {
            Some(batch)
        } else {
            match self.tx.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => Some(b),
            }
        };
        if let Some(batch) = refused {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.metrics
                .media_dropped
                .get_or_create(&ReasonLabel {
                    reason: "overloaded",
                })
                .inc_by(batch.len() as u64);
        }
    }
}

fn run(
    socket: UdpSocket,
    rx: Receiver<Vec<Outbound>>,
    queued: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
) {
    let fd = socket.as_raw_fd();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(CHUNK, None);
    let datagrams_out = metrics
        .media_datagrams
        .get_or_create(&DirectionLabel { direction: "out" })
        .clone();
    let bytes_out = metrics
        .media_bytes
        .get_or_create(&DirectionLabel { direction: "out" })
        .clone();
    let dropped = metrics
        .media_dropped
        .get_or_create(&ReasonLabel {
            reason: "overloaded",
        })
        .clone();
    while let Ok(batch) = rx.recv() {
        let mut rest: &[Outbound] = &batch;
        let mut retries = 0;
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(CHUNK)];
            let slices: Vec<[IoSlice<'_>; 1]> =
                chunk.iter().map(|o| [IoSlice::new(&o.bytes)]).collect();
            let addrs: Vec<Option<SockaddrStorage>> = chunk
                .iter()
                .map(|o| Some(SockaddrStorage::from(o.to)))
                .collect();
            match sendmmsg(fd, &mut headers, &slices, &addrs, [], MsgFlags::empty()) {
                Ok(results) => {
                    let sent = results.count();
                    datagrams_out.inc_by(sent as u64);
                    bytes_out.inc_by(chunk[..sent].iter().map(|o| o.bytes.len() as u64).sum());
                    rest = &rest[sent.max(1).min(rest.len())..];
                    if sent == 0 {
                        // Nothing went: treat the first as undeliverable and move on.
                        dropped.inc();
                    }
                }
                Err(Errno::EAGAIN) if retries < FULL_RETRIES => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(Errno::EAGAIN) => {
                    dropped.inc_by(rest.len() as u64);
                    rest = &[];
                }
                // The first datagram failed for its own sake (an unreachable address):
                // drop it, send the others.
                Err(_) => {
                    dropped.inc();
                    rest = &rest[1..];
                }
            }
        }
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every datagram of batches larger than one `sendmmsg` chunk arrives, intact and in order,
    /// at each destination; and the counters say so.
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
        let per_receiver = 100; // 300 datagrams: several chunks
        let batch: Vec<Outbound> = (0..per_receiver)
            .flat_map(|i| {
                receivers.iter().map(move |r| Outbound {
                    to: r.local_addr().unwrap(),
                    bytes: format!("packet {i}").into_bytes(),
                })
            })
            .collect();
        sender.send(batch);
        for r in &receivers {
            let mut buf = [0u8; 64];
            for i in 0..per_receiver {
                let n = r.recv(&mut buf).expect("every datagram arrives");
                assert_eq!(&buf[..n], format!("packet {i}").as_bytes());
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
        while counted() < 300 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(counted(), 300);
    }
}
