//! The live set of endpoints and their deliverers. The configuration file's endpoints are fixed;
//! the API's are stored ([`super::store::WebhookStore`]) and read again every [`RELOAD`] (and
//! at once after a change through this node), so in a cluster every node knows every endpoint.
//! Each endpoint has one deliverer task while it exists.

use super::config::{EndpointConfig, WebhookConfig};
use super::deliver::Deliverer;
use super::http::HttpClient;
use super::store::WebhookStore;
use crate::metrics::Metrics;
use crate::store::thread::StoreHandle;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How often stored endpoints are read again.
pub const RELOAD: Duration = Duration::from_secs(5);

/// An endpoint and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Live {
    #[serde(flatten)]
    pub config: EndpointConfig,
    /// `config` (the configuration file: changed there) or `api`.
    pub source: &'static str,
}

pub struct Endpoints {
    pub config: Arc<WebhookConfig>,
    pub store: StoreHandle<dyn WebhookStore>,
    keys: HashMap<String, String>,
    signing_key: Option<(String, String)>,
    metrics: Arc<Metrics>,
    client: HttpClient,
    node: String,
    stop: watch::Receiver<bool>,
    live: RwLock<Arc<Vec<Live>>>,
    any: AtomicBool,
    /// Per endpoint name: its wake-up and its deliverer task.
    running: Mutex<HashMap<String, Running>>,
}

struct Running {
    config: EndpointConfig,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoints {
    pub fn new(
        config: &WebhookConfig,
        keys: &HashMap<String, String>,
        signing_key: Option<(String, String)>,
        store: StoreHandle<dyn WebhookStore>,
        metrics: Arc<Metrics>,
        node: String,
        stop: watch::Receiver<bool>,
    ) -> Arc<Endpoints> {
        let client = HttpClient::new(Duration::from_millis(config.timeout_ms));
        Arc::new(Endpoints {
            config: Arc::new(config.clone()),
            store,
            keys: keys.clone(),
            signing_key,
            metrics,
            client,
            node,
            stop,
            live: RwLock::new(Arc::new(Vec::new())),
            any: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any endpoint exists (rooms skip building payloads otherwise).
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// The endpoints now.
    pub fn live(&self) -> Arc<Vec<Live>> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn get(&self, name: &str) -> Option<Live> {
        self.live().iter().find(|e| e.config.name == name).cloned()
    }

    /// Wakes the deliverer of `name` (events were queued for it).
    pub fn wake(&self, name: &str) {
        if let Some(r) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            r.wake.notify_one();
        }
    }

    /// Whether `api_key` names a configured key.
    pub fn has_key(&self, api_key: &str) -> bool {
        self.keys.contains_key(api_key)
    }

    /// Reads the stored endpoints and brings the live set and the deliverers in step.
    pub async fn reload(self: &Arc<Self>) -> crate::store::StoreResult<()> {
        let stored = self.store.call(|s| s.webhook_endpoints()).await?;
        let mut live: Vec<Live> = self
            .config
            .endpoints
            .iter()
            .map(|e| Live {
                config: e.clone(),
                source: "config",
            })
            .collect();
        for e in stored {
            // A file endpoint of the same name wins (the API refuses to create one).
            if !live.iter().any(|l| l.config.name == e.name) {
                live.push(Live {
                    config: e,
                    source: "api",
                });
            }
        }
        self.run_deliverers(&live);
        self.any.store(!live.is_empty(), Ordering::Relaxed);
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(live);
        Ok(())
    }

    /// One deliverer per live endpoint: new ones start, removed or changed ones stop.
    fn run_deliverers(&self, live: &[Live]) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|name, r| {
            let keep = live
                .iter()
                .any(|l| l.config.name == *name && l.config == r.config);
            if !keep {
                r.task.abort();
            }
            keep
        });
        for l in live {
            if running.contains_key(&l.config.name) {
                continue;
            }
            let key = match &l.config.api_key {
                Some(k) => self.keys.get(k).map(|s| (k.clone(), s.clone())),
                None => self.signing_key.clone(),
            };
            let Some(key) = key else {
                tracing::warn!(endpoint = %l.config.name, "no API key to sign this endpoint's webhooks: not delivering");
                continue;
            };
            let wake = Arc::new(Notify::new());
            let deliverer = Deliverer {
                endpoint: l.config.clone(),
                key,
                config: self.config.clone(),
                store: self.store.clone(),
                client: self.client.clone(),
                metrics: self.metrics.clone(),
                wake: wake.clone(),
                node: self.node.clone(),
            };
            let task = tokio::spawn(deliverer.run(self.stop.clone()));
            running.insert(
                l.config.name.clone(),
                Running {
                    config: l.config.clone(),
                    wake,
                    task,
                },
            );
        }
    }

    /// Reads the stored endpoints every [`RELOAD`] until the server stops.
    pub fn keep_reloading(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(RELOAD) => {}
                    _ = stop.changed() => return,
                }
                let Some(me) = me.upgrade() else { return };
                if let Err(e) = me.reload().await {
                    tracing::warn!(error = %e, "cannot read the stored webhook endpoints");
                }
            }
        });
    }
}
