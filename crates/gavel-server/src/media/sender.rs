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
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Datagrams per `sendmmsg` call (the kernel caps one call at 1024).
const CHUNK: usize = 64;
/// Batches waiting for the thread; each is one room's output of one step.
const QUEUE: usize = 1024;
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
    metrics: Arc<Metrics>,
}

impl UdpSender {
    /// Starts the thread on a duplicate of `socket`'s descriptor; it ends when the sender is
    /// dropped.
    pub fn spawn(socket: &impl AsFd, metrics: Arc<Metrics>) -> std::io::Result<UdpSender> {
        let socket = UdpSocket::from(socket.as_fd().try_clone_to_owned()?);
        let (tx, rx) = sync_channel(QUEUE);
        let m = metrics.clone();
        std::thread::Builder::new()
            .name("gavel-media-send".into())
            .spawn(move || run(socket, rx, m))?;
        Ok(UdpSender { tx, metrics })
    }

    /// Queues `batch` without waiting.
    pub fn send(&self, batch: Vec<Outbound>) {
        if batch.is_empty() {
            return;
        }
        if let Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) =
            self.tx.try_send(batch)
        {
            self.metrics
                .media_dropped
                .get_or_create(&ReasonLabel {
                    reason: "overloaded",
                })
                .inc_by(batch.len() as u64);
        }
    }
}

fn run(socket: UdpSocket, rx: Receiver<Vec<Outbound>>, metrics: Arc<Metrics>) {
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
    }
}
