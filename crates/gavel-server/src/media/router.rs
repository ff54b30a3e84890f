//! Which room a datagram is for: by the server-side ICE ufrag a STUN request names, then by
//! the source address such a request came from (see `gavel_media::stun_ufrag`). Rooms
//! register the ufrags of their sessions and unregister them when a session closes or moves.
//!
//! Each room has two queues: handshakes (STUN, DTLS) and media (RTP, RTCP). The room reads
//! handshakes first, so a room that has fallen behind on media still connects new sessions
//! (and answers consent checks) at once.

use super::{Datagram, HANDSHAKE_QUEUE, ROOM_QUEUE};
use gavel_media::str0m::net::Protocol;
use gavel_media::{is_handshake, stun_ufrag};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::mpsc;

/// A remote address is remembered for at most this many per session (ICE checks a few).
const ADDRS_PER_SESSION: usize = 8;

#[derive(Default)]
pub struct Router {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_ufrag: HashMap<String, Route>,
    by_addr: HashMap<(Protocol, SocketAddr), String>,
}

struct Route {
    room: RoomQueues,
    addrs: Vec<(Protocol, SocketAddr)>,
}

/// Where the router puts a room's datagrams.
#[derive(Clone)]
pub struct RoomQueues {
    pub(super) handshake: mpsc::Sender<Datagram>,
    pub(super) media: mpsc::Sender<Datagram>,
}

/// The room's ends of its queues.
pub struct RoomInbox {
    pub handshake: mpsc::Receiver<Datagram>,
    pub media: mpsc::Receiver<Datagram>,
}

pub fn room_queues() -> (RoomQueues, RoomInbox) {
    let (handshake, handshake_rx) = mpsc::channel(HANDSHAKE_QUEUE);
    let (media, media_rx) = mpsc::channel(ROOM_QUEUE);
    (
        RoomQueues { handshake, media },
        RoomInbox {
            handshake: handshake_rx,
            media: media_rx,
        },
    )
}

/// What became of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    Queued,
    /// No session owns it (dropped).
    Unknown,
    /// Its room's queue is full (dropped): the room has fallen behind.
    Full,
}

impl Router {
    /// Datagrams for the session with this ufrag go to `room` (replacing another room's claim:
    /// a moved session).
    pub fn register(&self, ufrag: &str, room: RoomQueues) {
        let mut inner = self.inner.lock().expect("router lock");
        match inner.by_ufrag.get_mut(ufrag) {
            Some(route) => route.room = room,
            None => {
                inner.by_ufrag.insert(
                    ufrag.to_string(),
                    Route {
                        room,
                        addrs: Vec::new(),
                    },
                );
            }
        }
    }

    pub fn unregister(&self, ufrag: &str) {
        let mut inner = self.inner.lock().expect("router lock");
        if let Some(route) = inner.by_ufrag.remove(ufrag) {
            for a in route.addrs {
                inner.by_addr.remove(&a);
            }
        }
    }

    pub fn sessions(&self) -> usize {
        self.inner.lock().expect("router lock").by_ufrag.len()
    }

    /// Hands `bytes` to the room owning it.
    pub fn route(
        &self,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) -> Routed {
        let key = (proto, source);
        let room = {
            let mut inner = self.inner.lock().expect("router lock");
            match stun_ufrag(bytes) {
                Some(ufrag) => {
                    let Some(route) = inner.by_ufrag.get_mut(ufrag) else {
                        return Routed::Unknown;
                    };
                    let room = route.room.clone();
                    if !route.addrs.contains(&key) {
                        let evicted =
                            (route.addrs.len() >= ADDRS_PER_SESSION).then(|| route.addrs.remove(0));
                        route.addrs.push(key);
                        let ufrag = ufrag.to_string();
                        if let Some(old) = evicted {
                            inner.by_addr.remove(&old);
                        }
                        inner.by_addr.insert(key, ufrag);
                    }
                    room
                }
                None => {
                    let Some(ufrag) = inner.by_addr.get(&key) else {
                        return Routed::Unknown;
                    };
                    match inner.by_ufrag.get(ufrag) {
                        Some(route) => route.room.clone(),
                        None => return Routed::Unknown,
                    }
                }
            }
        };
        let queue = if is_handshake(bytes) {
            &room.handshake
        } else {
            &room.media
        };
        let datagram = Datagram {
            proto,
            source,
            destination,
            bytes: bytes.to_vec(),
            received: Instant::now(),
        };
        match queue.try_send(datagram) {
            Ok(()) => Routed::Queued,
            Err(_) => Routed::Full,
        }
    }
}
