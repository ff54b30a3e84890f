//! `gavel.toml` plus `GAVEL_…` environment overrides (figment), validated into a [`Config`].
//!
//! Nested keys are reached from the environment with `__`, e.g.
//! `GAVEL_ROOM_DEFAULTS__REMOTE_UNMUTE=force`. `GAVEL_API_KEY` / `GAVEL_API_SECRET` add one key
//! pair. Every key is documented in `gavel.example.toml`. Unknown keys and bad values fail
//! start-up with the offending key named.

use crate::config::{AuditRetention, Config, Limits, MediaConfig};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use gavel_core::permissions::{HostControlSet, Permissions, SourceSet};
use gavel_core::{Roles, RoomSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

/// A custom role: what it may send and receive, and which host controls it holds.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RoleConfig {
    pub can_send: SourceSet,
    pub can_receive: SourceSet,
    pub can_publish_data: bool,
    pub can_update_own_metadata: bool,
    pub hidden: bool,
    pub host: HostControlSet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default = "default_bind")]
    bind: SocketAddr,
    /// API key → secret.
    #[serde(default)]
    keys: HashMap<String, String>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    room_defaults: RoomSettings,
    #[serde(default)]
    roles: BTreeMap<String, RoleConfig>,
    #[serde(default = "default_data_dir")]
    data_dir: std::path::PathBuf,
    #[serde(default)]
    store: crate::config::StoreConfig,
    #[serde(default)]
    audit: AuditRetention,
    #[serde(default)]
    media: MediaConfig,
    #[serde(default)]
    tls: Option<crate::tls::TlsConfig>,
    #[serde(default)]
    turn: crate::turn::TurnConfig,
    #[serde(default)]
    cluster: crate::cluster::node::ClusterConfig,
    #[serde(default)]
    webhooks: crate::webhooks::config::WebhookConfig,
}

fn default_data_dir() -> std::path::PathBuf {
    "./gavel-data".into()
}

fn default_bind() -> SocketAddr {
    "127.0.0.1:7880".parse().expect("valid address")
}

/// Environment variables that belong to the command line, not to the file's keys.
const NOT_FILE_KEYS: [&str; 4] = ["api_key", "api_secret", "url", "config"];

/// Loads `path` (if given, it must exist) and the environment. `dev` keeps the development key.
pub fn load(path: Option<&Path>, dev: bool) -> Result<Config, String> {
    let mut figment = Figment::new();
    if let Some(p) = path {
        if !p.exists() {
            return Err(format!("configuration file {} does not exist", p.display()));
        }
        figment = figment.merge(Toml::file(p));
    }
    figment = figment.merge(
        Env::prefixed("GAVEL_")
            .split("__")
            .filter(|k| !NOT_FILE_KEYS.iter().any(|n| k == *n)),
    );
    let file: FileConfig = figment.extract().map_err(|e| {
        let mut msg = String::from("invalid configuration");
        for err in e {
            msg.push_str(&format!("\n  {err}"));
        }
        msg
    })?;
    let mut config = if dev {
        Config::dev(file.bind)
    } else {
        let mut c = Config::dev(file.bind);
        c.dev = false;
        c.keys.clear();
        c
    };
    config.keys.extend(file.keys);
    if let (Ok(k), Ok(s)) = (
        std::env::var("GAVEL_API_KEY"),
        std::env::var("GAVEL_API_SECRET"),
    ) {
        config.keys.insert(k, s);
    }
    config.limits = file.limits;
    config.data_dir = Some(file.data_dir);
    config.store = file.store;
    config.audit = file.audit;
    config.media = file.media;
    config.tls = file.tls;
    config.turn = file.turn;
    config.cluster = file.cluster;
    config.webhooks = file.webhooks;
    file.room_defaults
        .validate()
        .map_err(|e| format!("invalid configuration: room_defaults: {}", e.message))?;
    config.room_defaults = file.room_defaults;
    let mut roles = Roles::default();
    for (name, r) in file.roles {
        if name.is_empty() || name.len() > 64 {
            return Err(format!(
                "invalid configuration: roles: role name '{name}' must be 1 to 64 bytes"
            ));
        }
        roles.insert(
            name,
            Permissions {
                can_send: r.can_send,
                can_receive: r.can_receive,
                can_publish_data: r.can_publish_data,
                can_update_own_metadata: r.can_update_own_metadata,
                hidden: r.hidden,
                host: r.host,
            },
        );
    }
    config.roles = roles;
    Ok(config)
}
