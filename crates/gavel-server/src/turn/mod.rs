//! An embedded TURN relay (`[turn]`), for clients whose networks let nothing through but a TLS
//! connection (or UDP to one port): they reach Gavel's media through it.
//!
//! The TURN protocol itself is `turn-server-proto`'s, sans-IO like the rest of Gavel: it is
//! fed datagrams and framed TCP messages and answers with transmits and requests for sockets.
//! This module is its shell:
//! - `listeners.rs`: the UDP port, and the TLS port (the server's certificate; each connection
//!   framed into TURN messages on its own task);
//! - `relay.rs`: the one task that owns the protocol state, the relayed sockets and the limits:
//!   credentials checked (`credentials.rs`: the TURN REST API convention, short-lived, per
//!   participant), allocations per participant, bandwidth per allocation, and the rule that
//!   makes it no open proxy: a relayed socket sends only to this server's own media addresses.
//!
//! Participants get the relay's URLs and their credential with their ICE servers when they
//! join (`joined`'s companion `ice_servers` on the native protocol, `JoinResponse.ice_servers`
//! on LiveKit's), along with any external ICE servers configured.

pub mod credentials;
pub mod framing;
pub mod listeners;
pub mod relay;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// `[turn]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// Run the embedded relay.
    pub enabled: bool,
    /// TURN over UDP, on the IP of `bind`. 0: none.
    pub udp_port: u16,
    /// TURN over TLS (TCP), with the server's certificate (`[tls]` is needed). 0: none.
    pub tls_port: u16,
    /// The name in `turns:` URLs (it must match the certificate). Unset: the host name the
    /// client used to reach the server.
    pub domain: Option<String>,
    /// Relayed sockets take ports from this range, inclusive.
    pub relay_ports: (u16, u16),
    /// How long a credential handed to a participant stays valid.
    pub credential_ttl_seconds: u64,
    /// Relay allocations one participant may hold at once.
    pub max_allocations_per_participant: usize,
    /// Bits per second one allocation may relay towards the media plane; beyond, dropped.
    pub max_relay_bitrate: u64,
    /// Distinct credentials the relay remembers (each one that was used); past this, new ones
    /// are refused until the relay is idle (see `relay.rs`).
    pub max_users: usize,
    /// The secret credentials are signed with. Unset: a random one per start (credentials
    /// then do not survive a restart, which clients recover from by joining again).
    pub secret: Option<String>,
    /// ICE servers handed to participants as they are (an external TURN server, STUN).
    pub external: Vec<IceServer>,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            enabled: false,
            udp_port: 3478,
            tls_port: 5349,
            domain: None,
            relay_ports: (50000, 50999),
            credential_ttl_seconds: 6 * 3600,
            max_allocations_per_participant: 4,
            max_relay_bitrate: 20_000_000,
            max_users: 100_000,
            secret: None,
            external: Vec::new(),
        }
    }
}

/// One ICE server as WebRTC's `RTCIceServer` has it (and LiveKit's `ICEServer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential: String,
}

/// What the signalling front-ends need to hand out ICE servers.
#[derive(Debug)]
pub struct IceServers {
    secret: Vec<u8>,
    ttl: u64,
    udp: Option<SocketAddr>,
    tls_port: Option<u16>,
    domain: Option<String>,
    external: Vec<IceServer>,
}

impl IceServers {
    /// The ICE servers for participant `sid`, who reached this server as `host` (the Host of
    /// its request, for `turns:` URLs when no domain is configured).
    pub fn for_participant(&self, sid: &str, host: Option<&str>) -> Vec<IceServer> {
        let mut out = Vec::new();
        let mut urls = Vec::new();
        if let Some(udp) = self.udp {
            urls.push(format!("turn:{}?transport=udp", url_host(udp)));
        }
        let name = self.domain.as_deref().or(host);
        if let (Some(port), Some(name)) = (self.tls_port, name) {
            urls.push(format!("turns:{name}:{port}?transport=tcp"));
        }
        if !urls.is_empty() {
            let c = credentials::issue(&self.secret, sid, unix_now(), self.ttl);
            out.push(IceServer {
                urls,
                username: c.username,
                credential: c.password,
            });
        }
        out.extend(self.external.iter().cloned());
        out
    }

    /// Only the external servers (the embedded relay is off).
    pub fn external(external: Vec<IceServer>) -> IceServers {
        IceServers {
            secret: Vec::new(),
            ttl: 0,
            udp: None,
            tls_port: None,
            domain: None,
            external,
        }
    }
}

fn url_host(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

/// Seconds since the Unix epoch (credentials' clock).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Starts the relay, if enabled: its listeners on the IP of `bind`, relaying only to `media`
/// (the media plane's advertised addresses). Returns what signalling hands out.
pub async fn start(
    config: &TurnConfig,
    bind: SocketAddr,
    media: &crate::media::MediaPlane,
    tls: Option<Arc<rustls::ServerConfig>>,
    metrics: Arc<crate::metrics::Metrics>,
) -> std::io::Result<Arc<IceServers>> {
    if !config.enabled {
        return Ok(Arc::new(IceServers::external(config.external.clone())));
    }
    let secret = match &config.secret {
        Some(s) => s.as_bytes().to_vec(),
        None => {
            use rand::RngCore;
            let mut s = vec![0u8; 32];
            rand::rng().fill_bytes(&mut s);
            s
        }
    };
    // The address clients are told to use and relayed sockets are bound on: the media plane's
    // (a wildcard bind has no single address to give).
    let ip = media
        .advertised
        .first()
        .map(|a| a.ip())
        .unwrap_or(bind.ip());
    let started = relay::Relay::start(
        relay::Settings {
            ip,
            bind_ip: bind.ip(),
            udp_port: config.udp_port,
            tls_port: (config.tls_port != 0).then_some(config.tls_port),
            relay_ports: config.relay_ports,
            allowed_peers: media.advertised.clone(),
            secret: secret.clone(),
            max_allocations_per_participant: config.max_allocations_per_participant,
            max_relay_bitrate: config.max_relay_bitrate,
            max_users: config.max_users,
        },
        tls.clone(),
        metrics,
    )
    .await?;
    tracing::info!(udp = ?started.udp, tls = ?started.tls, "TURN relay");
    Ok(Arc::new(IceServers {
        secret,
        ttl: config.credential_ttl_seconds,
        udp: started.udp.map(|a| SocketAddr::new(ip, a.port())),
        tls_port: started.tls.map(|a| a.port()),
        domain: config.domain.clone(),
        external: config.external.clone(),
    }))
}
