//! The relay's one task: `turn-server-proto`'s two servers (UDP and TLS clients), the relayed
//! sockets, and every rule Gavel adds to them.
//!
//! - **Credentials**: a message naming a user is checked before the protocol sees it: the
//!   username must be one of ours and unexpired, and its integrity must verify with the password
//!   the secret gives it (`credentials.rs`). Only then is the user added to the protocol's list
//!   (which cannot forget users: it is bounded by `max_users`; when full, new users are refused
//!   until no allocation is left, and the protocol state is then started afresh).
//! - **No open proxy**: a relayed socket sends only to the media plane's own addresses, and
//!   hears only from them; anything else is dropped and counted.
//! - **Limits**: allocations per participant (by the sid in the username), bits per second per
//!   allocation; relayed ports from a configured range.

use super::credentials;
use super::listeners::{self, Input};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use stun_types::attribute::AttributeStaticType;
use stun_types::message::{LongTermCredentials, Message, MessageIntegrityCredentials};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use turn_server_proto::api::{
    SocketAllocateError, TcpConnectError, TurnServerApi, TurnServerPollRet,
};
use turn_server_proto::server::TurnServer;
use turn_types::stun::TransportType;
use turn_types::AddressFamily;

/// The realm in every challenge.
pub const REALM: &str = "gavel";

pub struct Settings {
    /// The address relayed sockets have, as clients and the media plane see it.
    pub ip: IpAddr,
    /// The IP listeners and relayed sockets are bound on.
    pub bind_ip: IpAddr,
    pub udp_port: u16,
    pub tls_port: Option<u16>,
    pub relay_ports: (u16, u16),
    pub allowed_peers: Vec<SocketAddr>,
    pub secret: Vec<u8>,
    pub max_allocations_per_participant: usize,
    pub max_relay_bitrate: u64,
    pub max_users: usize,
}

/// Where the relay listens.
pub struct Started {
    pub udp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
}

/// Which of the two protocol servers a client or an allocation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Udp,
    Tls,
}

struct Allocation {
    socket: Arc<UdpSocket>,
    side: Side,
    user: String,
    reader: tokio::task::JoinHandle<()>,
    /// Token bucket, in bits: refilled at `max_relay_bitrate`, at most one second's worth.
    budget: f64,
    refilled: std::time::Instant,
}

pub struct Relay {
    settings: Settings,
    udp_server: TurnServer,
    tls_server: TurnServer,
    udp: Option<Arc<UdpSocket>>,
    udp_addr: SocketAddr,
    tls_addr: SocketAddr,
    /// TLS clients: where their messages are written.
    tcp_writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// Users the protocol knows, and when each expires; and their RFC 8489 hashes.
    users: HashMap<String, u64>,
    hashes: HashMap<[u8; 32], String>,
    /// The user each client authenticated as last, for the allocation limits.
    client_user: HashMap<(Side, SocketAddr), String>,
    allocations: HashMap<SocketAddr, Allocation>,
    next_port: u16,
    inputs: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    base: std::time::Instant,
}

impl Relay {
    /// Binds the listeners and spawns the relay's task.
    pub async fn start(
        settings: Settings,
        tls: Option<Arc<rustls::ServerConfig>>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Started> {
        let (tx, rx) = mpsc::channel(4096);
        let udp = match settings.udp_port {
            0 => None,
            port => {
                let socket =
                    Arc::new(UdpSocket::bind(SocketAddr::new(settings.bind_ip, port)).await?);
                listeners::read_udp(socket.clone(), tx.clone());
                Some(socket)
            }
        };
        let tls_addr = match (settings.tls_port, tls) {
            (Some(port), Some(config)) => {
                let listener =
                    tokio::net::TcpListener::bind(SocketAddr::new(settings.bind_ip, port)).await?;
                let addr = listener.local_addr()?;
                listeners::accept_tls(listener, turn_tls_config(&config), tx.clone());
                Some(addr)
            }
            (Some(_), None) => {
                tracing::warn!("TURN over TLS needs [tls]: only TURN over UDP runs");
                None
            }
            _ => None,
        };
        let udp_addr = match &udp {
            Some(s) => s.local_addr()?,
            None => SocketAddr::new(settings.bind_ip, 0),
        };
        let tls_listen = tls_addr.unwrap_or(SocketAddr::new(settings.bind_ip, 0));
        let started = Started {
            udp: udp.as_ref().map(|_| udp_addr),
            tls: tls_addr,
        };
        let next_port = settings.relay_ports.0;
        let relay = Relay {
            udp_server: TurnServer::new(TransportType::Udp, udp_addr, REALM.into()),
            tls_server: TurnServer::new(TransportType::Tcp, tls_listen, REALM.into()),
            settings,
            udp,
            udp_addr,
            tls_addr: tls_listen,
            tcp_writers: HashMap::new(),
            users: HashMap::new(),
            hashes: HashMap::new(),
            client_user: HashMap::new(),
            allocations: HashMap::new(),
            next_port,
            inputs: tx,
            metrics,
            base: std::time::Instant::now(),
        };
        tokio::spawn(relay.run(rx));
        Ok(started)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Input>) {
        loop {
            let wake = self.poll().await;
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = rx.recv() => match input {
                    Some(input) => self.on_input(input),
                    None => return,
                },
                _ = sleep => {}
            }
        }
    }

    /// The protocol's clock: time since the relay started (`sans_io_time` counts an
    /// instant as the time elapsed since a base).
    fn now(&self) -> turn_types::Instant {
        turn_types::Instant::from_std(self.base)
    }

    fn server(&mut self, side: Side) -> &mut TurnServer {
        match side {
            Side::Udp => &mut self.udp_server,
            Side::Tls => &mut self.tls_server,
        }
    }

    fn on_input(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Udp { from, data } => {
                if !self.admit(Side::Udp, from, &data) {
                    return;
                }
                let transmit = turn_server_proto::api::Transmit {
                    data: data.as_slice(),
                    transport: TransportType::Udp,
                    from,
                    to: self.udp_addr,
                };
                if let Some(out) = self.udp_server.recv(transmit, now) {
                    self.send(out.build());
                }
            }
            Input::TcpOpened { client, writer } => {
                self.tcp_writers.insert(client, writer);
            }
            Input::Tcp { client, data } => {
                if !self.admit(Side::Tls, client, &data) {
                    return;
                }
                let transmit = turn_server_proto::api::Transmit {
                    data: data.as_slice(),
                    transport: TransportType::Tcp,
                    from: client,
                    to: self.tls_addr,
                };
                if let Some(out) = self.tls_server.recv(transmit, now) {
                    self.send(out.build());
                }
            }
            Input::TcpClosed { client } => {
                self.tcp_writers.remove(&client);
                self.client_user.remove(&(Side::Tls, client));
            }
            Input::Relayed { relay, from, data } => {
                // Only the media plane may answer through a relayed socket.
                if !self.settings.allowed_peers.contains(&from) {
                    self.metrics
                        .turn_refused
                        .get_or_create(&reason("peer"))
                        .inc();
                    return;
                }
                let Some(side) = self.allocations.get(&relay).map(|a| a.side) else {
                    return;
                };
                let transmit = turn_server_proto::api::Transmit {
                    data: data.as_slice(),
                    transport: TransportType::Udp,
                    from,
                    to: relay,
                };
                if let Some(out) = self.server(side).recv(transmit, now) {
                    self.send(out.build());
                }
            }
        }
    }

    /// Gavel's checks on a message from a client, before the protocol sees it: a message
    /// naming a user must carry one of our credentials, unexpired, with a valid integrity.
    /// Other messages (channel data, send indications) are the protocol's to judge: they only
    /// work within an allocation, which needed a credential.
    fn admit(&mut self, side: Side, from: SocketAddr, data: &[u8]) -> bool {
        let Ok(msg) = Message::from_bytes(data) else {
            return true;
        };
        // RFC 8489 clients may name their user by its hash (USERHASH): only a user seen by
        // name before can be recognised (and the protocol refuses the others itself).
        let username = match msg.attribute::<stun_types::attribute::Username>() {
            Ok(u) => u.username().to_string(),
            Err(_) => match msg.attribute::<stun_types::attribute::Userhash>() {
                Ok(h) => match self.hashes.get(h.hash()) {
                    Some(name) => name.clone(),
                    None => return true,
                },
                Err(_) => return true,
            },
        };
        let refuse = |m: &Metrics, why: &'static str| {
            m.turn_refused.get_or_create(&reason(why)).inc();
            false
        };
        let Some(expiry) = credentials::expiry(&username) else {
            return refuse(&self.metrics, "credentials");
        };
        if expiry <= super::unix_now() {
            return refuse(&self.metrics, "expired");
        }
        if !self.users.contains_key(&username) {
            let password = credentials::password(&self.settings.secret, &username);
            let key: MessageIntegrityCredentials =
                LongTermCredentials::new(username.clone(), password.clone())
                    .to_key(REALM.to_string())
                    .into();
            if msg.validate_integrity(&key).is_err() {
                // The first request of a session has no integrity (the challenge answers it);
                // a wrong password fails here and is never remembered.
                if msg.has_attribute(stun_types::attribute::MessageIntegrity::TYPE) {
                    return refuse(&self.metrics, "credentials");
                }
                return true;
            }
            if self.users.len() >= self.settings.max_users && !self.reset_if_idle() {
                tracing::warn!("TURN: too many credentials in use; refusing new ones");
                return refuse(&self.metrics, "capacity");
            }
            self.hashes.insert(
                stun_types::attribute::Userhash::compute(&username, REALM),
                username.clone(),
            );
            self.users.insert(username.clone(), expiry);
            self.udp_server.add_user(username.clone(), password.clone());
            self.tls_server.add_user(username.clone(), password);
        }
        self.client_user.insert((side, from), username);
        true
    }

    /// With no allocation left, the protocol's state is started afresh, forgetting every user.
    fn reset_if_idle(&mut self) -> bool {
        if !self.allocations.is_empty() {
            return false;
        }
        self.udp_server = TurnServer::new(TransportType::Udp, self.udp_addr, REALM.into());
        self.tls_server = TurnServer::new(TransportType::Tcp, self.tls_addr, REALM.into());
        self.users.clear();
        self.hashes.clear();
        true
    }

    /// Runs the protocol's requests and timers; returns when it next wants to be woken.
    async fn poll(&mut self) -> Option<std::time::Instant> {
        let mut wake = None;
        for side in [Side::Udp, Side::Tls] {
            loop {
                let now = self.now();
                while let Some(t) = self.server(side).poll_transmit(now) {
                    self.send(t);
                }
                match self.server(side).poll(now) {
                    TurnServerPollRet::WaitUntil(at) => {
                        let at = at.to_std(self.base);
                        wake = Some(wake.map_or(at, |w: std::time::Instant| w.min(at)));
                        break;
                    }
                    TurnServerPollRet::AllocateSocket {
                        transport,
                        listen_addr,
                        client_addr,
                        allocation_transport,
                        family,
                    } => {
                        let result = self.allocate(side, client_addr, family).await;
                        self.server(side).allocated_socket(
                            transport,
                            listen_addr,
                            client_addr,
                            allocation_transport,
                            family,
                            result,
                            now,
                        );
                    }
                    TurnServerPollRet::SocketClose { listen_addr, .. } => {
                        if let Some(a) = self.allocations.remove(&listen_addr) {
                            a.reader.abort();
                            self.metrics.turn_allocations.dec();
                        }
                    }
                    TurnServerPollRet::TcpConnect {
                        relayed_addr,
                        peer_addr,
                        listen_addr,
                        client_addr,
                    } => {
                        // TCP relaying (RFC 6062) is not offered: media is UDP.
                        self.server(side).tcp_connected(
                            relayed_addr,
                            peer_addr,
                            listen_addr,
                            client_addr,
                            Err(TcpConnectError::Forbidden),
                            now,
                        );
                    }
                    TurnServerPollRet::TcpClose { remote_addr, .. } => {
                        self.tcp_writers.remove(&remote_addr);
                    }
                }
            }
        }
        wake
    }

    /// A relayed socket for `client`, within its participant's allowance.
    async fn allocate(
        &mut self,
        side: Side,
        client: SocketAddr,
        family: AddressFamily,
    ) -> Result<SocketAddr, SocketAllocateError> {
        if family != AddressFamily::IPV4 && self.settings.ip.is_ipv4() {
            return Err(SocketAllocateError::AddressFamilyNotSupported);
        }
        let user = self
            .client_user
            .get(&(side, client))
            .cloned()
            .unwrap_or_default();
        let held = self.allocations.values().filter(|a| a.user == user).count();
        if held >= self.settings.max_allocations_per_participant {
            self.metrics
                .turn_refused
                .get_or_create(&reason("allocations"))
                .inc();
            return Err(SocketAllocateError::InsufficientCapacity);
        }
        let (low, high) = self.settings.relay_ports;
        let span = usize::from(high.saturating_sub(low)) + 1;
        for _ in 0..span.min(64) {
            let port = self.next_port;
            self.next_port = if port >= high { low } else { port + 1 };
            let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.settings.bind_ip, port)).await
            else {
                continue;
            };
            let socket = Arc::new(socket);
            let relay = SocketAddr::new(self.settings.ip, port);
            let reader = listeners::read_relayed(socket.clone(), relay, self.inputs.clone());
            self.allocations.insert(
                relay,
                Allocation {
                    socket,
                    side,
                    user,
                    reader,
                    budget: self.settings.max_relay_bitrate as f64,
                    refilled: std::time::Instant::now(),
                },
            );
            self.metrics.turn_allocations.inc();
            return Ok(relay);
        }
        self.metrics
            .turn_refused
            .get_or_create(&reason("ports"))
            .inc();
        Err(SocketAllocateError::InsufficientCapacity)
    }

    /// A transmit from the protocol to where it goes: a client (over UDP or its TLS
    /// connection) or, from a relayed socket, the media plane — and nowhere else.
    fn send(&mut self, t: turn_server_proto::api::Transmit<Vec<u8>>) {
        if t.from == self.udp_addr && t.transport == TransportType::Udp {
            if let Some(udp) = &self.udp {
                let _ = udp.try_send_to(&t.data, t.to);
            }
            return;
        }
        if t.transport == TransportType::Tcp {
            if let Some(w) = self.tcp_writers.get(&t.to) {
                // A client that does not read its answers is its own problem: dropped.
                let _ = w.try_send(super::framing::for_stream(t.data));
            }
            return;
        }
        let Some(a) = self.allocations.get_mut(&t.from) else {
            return;
        };
        if !self.settings.allowed_peers.contains(&t.to) {
            self.metrics
                .turn_refused
                .get_or_create(&reason("peer"))
                .inc();
            return;
        }
        let rate = self.settings.max_relay_bitrate as f64;
        let now = std::time::Instant::now();
        let elapsed = now.duration_since(a.refilled).as_secs_f64();
        a.refilled = now;
        a.budget = (a.budget + elapsed * rate).min(rate);
        let bits = (t.data.len() * 8) as f64;
        if a.budget < bits {
            self.metrics
                .turn_refused
                .get_or_create(&reason("bitrate"))
                .inc();
            return;
        }
        a.budget -= bits;
        match a.socket.try_send_to(&t.data, t.to) {
            Ok(_) => {
                self.metrics.turn_relayed_bytes.inc_by(t.data.len() as u64);
            }
            Err(e) => tracing::debug!(relay = %t.from, error = %e, "relayed send failed"),
        }
    }
}

fn reason(r: &'static str) -> crate::metrics::ReasonLabel {
    crate::metrics::ReasonLabel { reason: r }
}

/// The server's TLS settings for TURN clients: the same certificate, no ALPN (WebRTC stacks
/// offer none, or `stun.turn`).
fn turn_tls_config(https: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let mut c = (**https).clone();
    c.alpn_protocols.clear();
    Arc::new(c)
}
