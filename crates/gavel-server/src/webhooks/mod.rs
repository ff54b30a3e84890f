//! Webhooks (`[webhooks]`, docs/webhooks.md): what happens in rooms, POSTed to configured
//! endpoints, signed as LiveKit signs its webhooks, from a durable outbox.
//!
//! - [`notices`]: which room outputs are webhook events; [`payload`]: their body (LiveKit's
//!   `WebhookEvent` JSON plus Gavel's fields under `gavel`).
//! - [`outbox`]: rooms hand events to one writer, which commits one row per event and endpoint
//!   to the store's outbox ([`store::WebhookStore`], in SQLite or, shared by a cluster, in
//!   PostgreSQL); a command whose answer must wait for its events to be durable takes a
//!   barrier.
//! - [`deliver`]: one task per endpoint reads its outbox, POSTs each room's events in order,
//!   retries with backoff, drops (logged and counted) what is past the endpoint's bounds.
//! - [`sign`]: the `Authorization` JWT; [`config`]: endpoints and bounds.
//!
//! Nothing here runs when no endpoint is configured: rooms then have no [`Webhooks`] and build
//! no payloads.

pub mod config;
pub mod deliver;
pub mod http;
pub mod notices;
pub mod outbox;
pub mod payload;
pub mod sign;
pub mod store;

pub use outbox::Webhooks;

use crate::metrics::Metrics;
use crate::store::thread::StoreHandle;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Starts the outbox writer and one deliverer per endpoint; `None` without endpoints.
/// `signing_key`: the key endpoints without an `api_key` are signed with.
pub fn start(
    config: &config::WebhookConfig,
    keys: &HashMap<String, String>,
    signing_key: Option<(String, String)>,
    store: StoreHandle<dyn store::WebhookStore>,
    metrics: Arc<Metrics>,
    node: String,
    stop: watch::Receiver<bool>,
) -> Option<Webhooks> {
    if config.endpoints.is_empty() {
        return None;
    }
    let shared = Arc::new(config.clone());
    let client = http::HttpClient::new(Duration::from_millis(config.timeout_ms));
    let mut wake = Vec::new();
    for endpoint in &config.endpoints {
        let notify = Arc::new(Notify::new());
        wake.push(notify.clone());
        let key = match &endpoint.api_key {
            Some(k) => keys.get(k).map(|s| (k.clone(), s.clone())),
            None => signing_key.clone(),
        };
        let Some(key) = key else {
            // `WebhookConfig::validate` refused this at start-up.
            continue;
        };
        let deliverer = deliver::Deliverer {
            endpoint: endpoint.clone(),
            key,
            config: shared.clone(),
            store: store.clone(),
            client: client.clone(),
            metrics: metrics.clone(),
            wake: notify,
            node: node.clone(),
        };
        tokio::spawn(deliverer.run(stop.clone()));
    }
    Some(Webhooks::spawn(config, store, metrics, wake))
}
