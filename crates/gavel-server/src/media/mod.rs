//! The media plane's shell: the one UDP socket every participant's media shares, the reader
//! that hands each datagram to the room owning its session ([`router`]), and each room's side
//! ([`room`]: its `gavel_media::MediaEngine`, driven by the room's actor).
//!
//! The engine is per room and lives in the room's actor, next to the room model: a host
//! control changes the forwarding rules in the same step that changes the room, before the
//! actor reads the next datagram, so nothing it stopped is forwarded afterwards.

pub mod interfaces;
pub mod room;
pub mod router;
pub mod sender;
pub mod tcp;

use crate::config::{MediaConfig, DEFAULT_MEDIA_PORT, DEFAULT_MEDIA_TCP_PORT};
use crate::metrics::{DirectionLabel, Metrics, ReasonLabel};
use gavel_media::str0m::net::Protocol;
use gavel_media::EngineConfig;
use router::{Routed, Router};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};

/// One datagram for a room's engine.
#[derive(Debug)]
pub struct Datagram {
    pub proto: Protocol,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub bytes: Vec<u8>,
    /// When the reader queued it (media older than [`MAX_MEDIA_AGE`] is dropped unread).
    pub received: std::time::Instant,
}

/// Media datagrams waiting for one room; beyond this the reader drops them (a room busy with
/// a durable commit, or a flood, never makes the reader wait).
pub const ROOM_QUEUE: usize = 2048;
/// Handshake datagrams (STUN, DTLS) waiting for one room, read before its media.
pub const HANDSHAKE_QUEUE: usize = 256;
/// A room that has fallen this far behind drops media it has not read yet instead of
/// forwarding it late: audio a quarter-second stale is worse than lost, and the room catches
/// up instead of staying seconds behind.
pub const MAX_MEDIA_AGE: std::time::Duration = std::time::Duration::from_millis(250);

pub struct MediaPlane {
    socket: UdpSocket,
    /// The address the socket is bound to.
    pub local: SocketAddr,
    /// What clients are told to send to (host candidates).
    pub advertised: Vec<SocketAddr>,
    /// The ICE-TCP port (bound) and the open connections on it.
    pub local_tcp: Option<SocketAddr>,
    pub tcp: tcp::Connections,
    pub router: Router,
    /// The thread that sends UDP datagrams, in batches.
    pub sender: sender::UdpSender,
    pub config: MediaConfig,
    metrics: Arc<Metrics>,
}

impl MediaPlane {
    /// Binds the media port on the IP of the HTTP bind address.
    pub async fn bind(
        config: &MediaConfig,
        http_bind: SocketAddr,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Arc<MediaPlane>> {
        let ip = http_bind.ip();
        let socket = match config.udp_port {
            // A configured port is a promise to the firewall: it must be this one.
            Some(port) => UdpSocket::bind(SocketAddr::new(ip, port)).await?,
            None if http_bind.port() == 0 => UdpSocket::bind(SocketAddr::new(ip, 0)).await?,
            // Unset: the usual port if free, else any (clients learn it from the answer's
            // candidates, so a second server on one machine still works).
            None => match UdpSocket::bind(SocketAddr::new(ip, DEFAULT_MEDIA_PORT)).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(
                        port = DEFAULT_MEDIA_PORT,
                        error = %e,
                        "media port taken; using any free port (set [media] udp_port to insist)"
                    );
                    UdpSocket::bind(SocketAddr::new(ip, 0)).await?
                }
            },
        };
        let local = socket.local_addr()?;
        let advertised: Vec<SocketAddr> = if config.advertise.is_empty() {
            if local.ip().is_unspecified() {
                let found = interfaces::discover(local.ip());
                if found.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "media: `bind` is a wildcard address and no interface has a usable \
                         address of its family: set [media] advertise to the address(es) \
                         clients reach this server on",
                    ));
                }
                tracing::info!(addresses = ?found, "media: advertising the interfaces' addresses (set [media] advertise to choose)");
                found
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, local.port()))
                    .collect()
            } else {
                vec![local]
            }
        } else {
            config
                .advertise
                .iter()
                .map(|ip: &IpAddr| SocketAddr::new(*ip, local.port()))
                .collect()
        };
        let listener = if config.tcp {
            let listener = bind_tcp(config.tcp_port, http_bind).await?;
            Some(listener)
        } else {
            None
        };
        let local_tcp = listener.as_ref().map(|l| l.local_addr()).transpose()?;
        tracing::info!(%local, ?local_tcp, ?advertised, "media plane on UDP (and ICE-TCP)");
        let sender = sender::UdpSender::spawn(&socket, metrics.clone())?;
        let plane = Arc::new(MediaPlane {
            socket,
            local,
            advertised,
            local_tcp,
            tcp: tcp::Connections::default(),
            router: Router::default(),
            sender,
            config: config.clone(),
            metrics,
        });
        if let (Some(listener), Some(local)) = (listener, local_tcp) {
            tcp::spawn_acceptor(plane.clone(), listener, local);
        }
        Ok(plane)
    }

    /// The address a datagram from `source` was sent to. str0m checks STUN against its own
    /// candidates, so with a wildcard bind (where the socket does not say) it is the advertised
    /// address of the sender's family: IPv4 and IPv6 clients each reach theirs.
    fn destination_for(&self, source: SocketAddr) -> SocketAddr {
        if !self.local.ip().is_unspecified() {
            return self.local;
        }
        let v4 = match source.ip() {
            IpAddr::V4(_) => true,
            IpAddr::V6(ip) => ip.to_ipv4_mapped().is_some(),
        };
        self.advertised
            .iter()
            .find(|a| a.is_ipv4() == v4)
            .copied()
            .unwrap_or(self.advertised[0])
    }

    /// What every room's engine is built with.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            candidates: self
                .advertised
                .iter()
                .map(|a| (Protocol::Udp, *a))
                .chain(self.local_tcp.iter().flat_map(|t| {
                    self.advertised
                        .iter()
                        .map(move |a| (Protocol::Tcp, SocketAddr::new(a.ip(), t.port())))
                }))
                .collect(),
            max_slots: self.config.max_slots,
            max_audio_bitrate: self.config.max_audio_bitrate,
            max_video_bitrate: self.config.max_video_bitrate,
            ..EngineConfig::default()
        }
    }

    /// Sends without waiting: UDP may drop, and a full socket buffer (or a full ICE-TCP queue)
    /// must not stall a room.
    pub fn send(&self, proto: Protocol, contents: &[u8], destination: SocketAddr) {
        let sent = match proto {
            Protocol::Tcp => self.tcp.send(destination, contents),
            _ => self.socket.try_send_to(contents, destination).is_ok(),
        };
        if sent {
            self.metrics
                .media_datagrams
                .get_or_create(&DirectionLabel { direction: "out" })
                .inc();
            self.metrics
                .media_bytes
                .get_or_create(&DirectionLabel { direction: "out" })
                .inc_by(contents.len() as u64);
        }
    }

    /// Reads datagrams for as long as the server runs and hands each to its room.
    pub fn spawn_reader(self: &Arc<Self>) {
        let p = self.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let (n, source) = match p.socket.recv_from(&mut buf).await {
                    Ok(x) => x,
                    // ICMP errors (a peer went away) surface as read errors on some systems.
                    Err(_) => continue,
                };
                p.metrics
                    .media_datagrams
                    .get_or_create(&DirectionLabel { direction: "in" })
                    .inc();
                p.metrics
                    .media_bytes
                    .get_or_create(&DirectionLabel { direction: "in" })
                    .inc_by(n as u64);
                let destination = p.destination_for(source);
                p.deliver(Protocol::Udp, source, destination, &buf[..n]);
            }
        });
    }

    /// Routes one datagram (UDP, or a frame from an ICE-TCP connection) to its room, counting
    /// what is dropped and why.
    pub fn deliver(
        &self,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) {
        let reason = match self.router.route(proto, source, destination, bytes) {
            Routed::Queued => return,
            Routed::Unknown => "unknown",
            Routed::Full => "overloaded",
        };
        self.metrics
            .media_dropped
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }
}

/// The ICE-TCP listener: like the UDP port, a configured port must be free; unset, 7881 if free,
/// else any.
async fn bind_tcp(port: Option<u16>, http_bind: SocketAddr) -> std::io::Result<TcpListener> {
    let ip = http_bind.ip();
    match port {
        Some(port) => TcpListener::bind(SocketAddr::new(ip, port)).await,
        None if http_bind.port() == 0 => TcpListener::bind(SocketAddr::new(ip, 0)).await,
        None => match TcpListener::bind(SocketAddr::new(ip, DEFAULT_MEDIA_TCP_PORT)).await {
            Ok(l) => Ok(l),
            Err(e) => {
                tracing::warn!(port = DEFAULT_MEDIA_TCP_PORT, error = %e, "ICE-TCP port taken; using any free port");
                TcpListener::bind(SocketAddr::new(ip, 0)).await
            }
        },
    }
}
