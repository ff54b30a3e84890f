//! # gavel-server
//!
//! The async shell around `gavel-core`: one actor task per room ([`room_actor`]), found by name
//! in the [`registry`]; every entry point — HTTP handlers ([`http`]), WebSocket sessions
//! ([`ws`]), the compatibility front-ends ([`twirp`] for LiveKit, [`chime`] for the Amazon Chime
//! SDK) — translates its wire format into calls of the one typed [`service`] layer, which
//! authorizes them and runs them against the rooms; [`fanout`] carries events to clients. [`console`] serves
//! the web console, and in development mode [`dev`] mints tokens for it.

pub mod auth;
pub mod chime;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod config_file;
pub mod console;
pub mod dev;
pub mod fanout;
pub mod http;
pub mod journal;
pub mod livekit_rtc;
pub mod media;
pub mod metrics;
pub mod registry;
pub mod room_actor;
pub mod service;
pub mod store;
pub mod tls;
pub mod turn;
pub mod twirp;
pub mod webhooks;
pub mod websocket;
pub mod ws;

use config::Config;
use registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
}

/// The key development tokens are signed with: `devkey` when configured, else the first by name.
fn dev_signing_key(config: &Config) -> Option<(String, String)> {
    let key = match config.keys.get_key_value("devkey") {
        Some(kv) => kv,
        None => config.keys.iter().min_by(|a, b| a.0.cmp(b.0))?,
    };
    Some((key.0.clone(), key.1.clone()))
}

/// A running server: its address, and a way to stop it gracefully.
pub struct Server {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    /// This node in the cluster, if `[cluster]` is enabled.
    pub cluster: Option<Arc<cluster::node::Node>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The TLS listener's accepting task: the port is free once it has ended.
    tls_accepting: Option<tls::listener::Accepting>,
}

impl Server {
    /// Binds and starts serving in the background.
    pub async fn start(config: Config) -> std::io::Result<Server> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (backend, chime_backend, webhook_backend) =
            store::open(&config).await.map_err(invalid)?;
        let metrics = Arc::new(metrics::Metrics::default());
        let (cluster, bus_inbox) = match (&config.cluster.enabled, &config.store.postgres) {
            (true, Some(url)) => {
                let (node, inbox) =
                    cluster::node::Node::start(&config.cluster, url, metrics.clone())
                        .await
                        .map_err(invalid)?;
                (Some(node), Some(inbox))
            }
            _ => (None, None),
        };
        let store_thread = store::thread::StoreThread::spawn()?;
        let store = store_thread.handle::<dyn store::Store>(backend);
        let chime_store = store_thread.handle::<dyn chime::store::ChimeStore>(chime_backend);
        let writer =
            store::writer::Writer::spawn(store.clone(), metrics.clone(), config.audit.clone());
        let (stop, stopped) = watch::channel(false);
        let endpoints = webhooks::endpoints::Endpoints::new(
            &config.webhooks,
            &config.keys,
            dev_signing_key(&config),
            store_thread.handle::<dyn webhooks::store::WebhookStore>(webhook_backend),
            metrics.clone(),
            match &cluster {
                Some(node) => node.id.to_string(),
                None => uuid::Uuid::new_v4().to_string(),
            },
            stopped.clone(),
        );
        let webhooks = webhooks::Webhooks::start(endpoints, metrics.clone())
            .await
            .map_err(invalid)?;
        let registry = Registry::new(
            config.roles.clone(),
            config.limits.clone(),
            config.room_defaults.clone(),
            metrics,
            room_actor::Durable {
                store,
                writer,
                fence: None,
                webhooks: Some(webhooks),
            },
        );
        let plane =
            media::MediaPlane::bind(&config.media, config.bind, registry.metrics.clone()).await?;
        plane.spawn_reader();
        let tls = match &config.tls {
            Some(c) => Some(
                tls::Tls::start(
                    c,
                    config.data_dir.as_deref(),
                    registry.metrics.clone(),
                    cluster.as_ref(),
                )
                .map_err(invalid)?,
            ),
            None => None,
        };
        let ice_servers = turn::start(
            &config.turn,
            config.bind,
            &plane,
            tls.as_ref().map(|t| t.config.clone()),
            registry.metrics.clone(),
        )
        .await?;
        let _ = registry.media.set(plane);
        if let Some(node) = &cluster {
            let _ = node.ice_servers.set(ice_servers.clone());
            let _ = registry.cluster.set(node.clone());
        }
        let restored = registry
            .restore_rooms()
            .await
            .map_err(|e| invalid(e.message))?;
        if restored > 0 {
            tracing::info!(rooms = restored, "restored rooms from the store");
        }
        let service = service::Service::new(registry.clone());
        let state = http::AppState {
            registry: registry.clone(),
            service: service.clone(),
            verifier: Arc::new(auth::Verifier::new(config.keys.clone())),
            dev_key: config.dev.then(|| dev_signing_key(&config)).flatten(),
            ice_servers,
            chime_store,
            cluster: cluster.clone(),
        };
        let app = http::router(state);
        let mut stopped = stopped;
        if let (Some(node), Some(inbox)) = (&cluster, bus_inbox) {
            // What arrived on the bus since the node joined waited in its bounded inbox.
            let (watch_stop, node) = (stopped.clone(), node.clone());
            tokio::spawn(cluster::dispatch(node.clone(), inbox, service));
            tokio::spawn(cluster::failover::watch_owners(
                node.clone(),
                registry.clone(),
                std::time::Duration::from_millis(config.cluster.heartbeat_ms),
                stopped.clone(),
            ));
            tokio::spawn(cluster::node::stop_rooms_when_lease_lapses(
                node,
                registry.clone(),
                watch_stop,
            ));
        }
        let reg = registry.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
            // Every client hears `room_left {reason: server_shutdown}` before we exit.
            reg.shutdown().await;
        };
        let mut tls_accepting = None;
        let task = match (&config.tls, tls) {
            (Some(c), Some(tls)) => {
                if let Some(from) = c.redirect_from {
                    tls::serve_redirect(from, addr.port(), tls.challenges.clone()).await?;
                }
                let (listener, accepting) =
                    tls::listener::TlsListener::new(listener, tls.config.clone())?;
                tls_accepting = Some(accepting);
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                })
            }
            _ => tokio::spawn(async move {
                // Events are small and latency-bound: never hold a frame's tail for Nagle.
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }),
        };
        Ok(Server {
            addr,
            registry,
            cluster,
            stop,
            task,
            tls_accepting,
        })
    }

    /// The media plane's address as clients are told it (the first advertised one).
    pub fn media_addr(&self) -> Option<std::net::SocketAddr> {
        self.registry.media.get()?.advertised.first().copied()
    }

    /// Tells every client the server is shutting down, then stops (waiting at most `grace` for
    /// every session to write its last frames).
    pub async fn shutdown(self, grace: std::time::Duration) {
        let _ = self.stop.send(true);
        let registry = self.registry;
        let (task, accepting) = (self.task, self.tls_accepting);
        let _ = tokio::time::timeout(grace, async move {
            let _ = task.await;
            // The TLS listener's port is closed by its own task, which notices the server
            // stopped: wait for it, so a new server can bind the port at once.
            if let Some(accepting) = accepting {
                let _ = accepting.await;
            }
            registry.sessions_finished().await;
        })
        .await;
        // Last: this node's rooms are free for others at once, not after its lease expires.
        if let Some(node) = self.cluster {
            if let Err(e) = node.leave().await {
                tracing::warn!(error = %e, "could not leave the cluster; its lease will expire");
            }
        }
    }
}
