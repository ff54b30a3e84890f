//! Server configuration: where to listen, which API keys exist, and the limits that protect a room.

use gavel_core::{Roles, RoomSettings};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;

/// A secret shorter than this is refused outside `dev` mode.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Frames waiting for one client; when full, the client is disconnected as a slow consumer.
    pub outbox_capacity: usize,
    /// Largest client message accepted (bytes); larger ones get `invalid_argument`.
    pub max_message_bytes: usize,
    /// Client requests per second, sustained, per connection.
    pub requests_per_second: u32,
    /// Burst allowance on top of the sustained rate.
    pub request_burst: u32,
    /// Largest HTTP body accepted (bytes).
    pub max_body_bytes: usize,
    /// How long a write to a client may block before the client is dropped.
    pub write_timeout_ms: u64,
    /// How long a participant whose connection broke (no close frame) stays in its room,
    /// unseen by the others, for its client to resume the session (`journal.rs`); 0: it
    /// leaves at once.
    pub resume_grace_ms: u64,
    /// The events a room keeps for sessions that resume: at most this many…
    pub resume_events: usize,
    /// …and at most this many bytes of them.
    pub resume_bytes: usize,
}

impl Limits {
    /// The rate one client may send at: WebSocket requests, LiveKit signal requests, data
    /// channel messages.
    pub fn request_quota(&self) -> governor::Quota {
        let one = std::num::NonZeroU32::MIN;
        governor::Quota::per_second(
            std::num::NonZeroU32::new(self.requests_per_second).unwrap_or(one),
        )
        .allow_burst(std::num::NonZeroU32::new(self.request_burst).unwrap_or(one))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            outbox_capacity: 4096,
            max_message_bytes: 64 * 1024,
            requests_per_second: 50,
            request_burst: 100,
            max_body_bytes: 256 * 1024,
            write_timeout_ms: 10_000,
            resume_grace_ms: 10_000,
            resume_events: 4096,
            resume_bytes: 4 * 1024 * 1024,
        }
    }
}

/// How long the moderation audit log keeps entries (`[audit]`; `store/retention.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditRetention {
    /// Entries older than this are deleted; 0 keeps them whatever their age.
    pub max_age_days: u32,
    /// Only the newest this many entries are kept; 0 keeps every one.
    pub max_rows: u64,
}

impl Default for AuditRetention {
    fn default() -> Self {
        AuditRetention {
            max_age_days: 90,
            max_rows: 1_000_000,
        }
    }
}

/// The media plane (`[media]`): where WebRTC media is received and what it may cost.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The UDP port every participant's media shares, on the IP of `bind`. Unset: 7882, or
    /// any free port when `bind` asks for one (port 0).
    pub udp_port: Option<u16>,
    /// ICE-TCP (RFC 6544, RFC 4571 framing) for networks that block UDP: one TCP port for every
    /// participant, same rules as `udp_port` with 7881 as the usual port.
    pub tcp_port: Option<u16>,
    /// Whether to offer ICE-TCP at all.
    pub tcp: bool,
    /// Most ICE-TCP connections at once (each costs a task and a small queue).
    pub max_tcp_connections: usize,
    /// Addresses advertised to clients as candidates (a server behind NAT gives its public
    /// ones). Empty: the bound address (the `bind` IP must then be a concrete one).
    pub advertise: Vec<std::net::IpAddr>,
    /// Most receive slots one client may offer.
    pub max_slots: usize,
    /// Bitrate limits per published track, bits/s; frames beyond are dropped and counted.
    pub max_audio_bitrate: u64,
    pub max_video_bitrate: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            udp_port: None,
            tcp_port: None,
            tcp: true,
            max_tcp_connections: 4096,
            advertise: Vec::new(),
            max_slots: 64,
            max_audio_bitrate: 512_000,
            max_video_bitrate: 8_000_000,
        }
    }
}

/// `[store]` in the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A PostgreSQL database to keep the durable state in instead of SQLite
    /// (`postgresql://user:password@host/db` or `host=… user=… dbname=…`).
    #[serde(default)]
    pub postgres: Option<String>,
}

/// The default media port, beside the HTTP port 7880 (LiveKit uses the same pair).
pub const DEFAULT_MEDIA_PORT: u16 = 7882;
/// The default ICE-TCP port (LiveKit's too).
pub const DEFAULT_MEDIA_TCP_PORT: u16 = 7881;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// API key → secret.
    pub keys: HashMap<String, String>,
    pub limits: Limits,
    /// Built-in roles plus the custom ones from the configuration file.
    pub roles: Roles,
    /// Settings of rooms created by a join, and the base of rooms created through the API.
    pub room_defaults: RoomSettings,
    /// Where the durable store lives; `None` keeps it in memory (tests).
    pub data_dir: Option<std::path::PathBuf>,
    /// Another backend for the durable store (`[store]`); the default is SQLite in `data_dir`.
    pub store: StoreConfig,
    pub audit: AuditRetention,
    pub media: MediaConfig,
    /// Development mode: weak secrets allowed, tokens printed on start-up.
    pub dev: bool,
    /// HTTPS and WSS on `bind` (`[tls]`); `None`: plain HTTP.
    pub tls: Option<crate::tls::TlsConfig>,
    /// The embedded TURN relay and the ICE servers participants get (`[turn]`).
    pub turn: crate::turn::TurnConfig,
    /// Cluster mode (`[cluster]`, docs/cluster.md).
    pub cluster: crate::cluster::node::ClusterConfig,
    /// Webhook endpoints and the outbox's bounds (`[webhooks]`, docs/webhooks.md).
    pub webhooks: crate::webhooks::config::WebhookConfig,
}

impl Config {
    pub fn dev(bind: SocketAddr) -> Config {
        Config {
            bind,
            keys: [("devkey".to_string(), "secret".to_string())].into(),
            limits: Limits::default(),
            roles: Roles::default(),
            room_defaults: RoomSettings::default(),
            data_dir: None,
            store: StoreConfig::default(),
            audit: AuditRetention::default(),
            media: MediaConfig::default(),
            dev: true,
            tls: None,
            turn: Default::default(),
            cluster: Default::default(),
            webhooks: Default::default(),
        }
    }

    /// Checks what `serve` must refuse to start with.
    pub fn validate(&self) -> Result<(), String> {
        self.cluster.validate(&self.store)?;
        self.webhooks.validate(&self.keys)?;
        if self.keys.is_empty() {
            return Err("no API key configured: pass --api-key and --api-secret (or GAVEL_API_KEY and GAVEL_API_SECRET), or run `gavel dev`".into());
        }
        if !self.dev {
            for (key, secret) in &self.keys {
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(format!(
                        "the secret of API key '{key}' has {} bytes; at least {MIN_SECRET_BYTES} are required",
                        secret.len()
                    ));
                }
            }
        }
        Ok(())
    }
}
