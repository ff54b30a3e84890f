//! A cluster for tests: a private PostgreSQL and Redis, and node configurations on them.

use super::postgres::Postgres;
use super::redis::Redis;
use super::TestServer;
use gavel_server::cluster::node::ClusterConfig;
use std::sync::Arc;

/// A private PostgreSQL (with database `db`) and Redis, and the configuration of a node named
/// `name` on them with a lease of `ttl_ms` renewed every `heartbeat_ms`.
pub struct Cluster {
    pub pg: Arc<Postgres>,
    pub redis: Arc<Redis>,
    pub url: String,
}

impl Cluster {
    pub async fn start(db: &'static str) -> Cluster {
        let pg = Arc::new(tokio::task::spawn_blocking(Postgres::start).await.unwrap());
        let url = {
            let pg = pg.clone();
            tokio::task::spawn_blocking(move || pg.database(db))
                .await
                .unwrap()
        };
        Cluster {
            pg,
            redis: Arc::new(Redis::start()),
            url,
        }
    }

    pub fn node(&self, name: &str, ttl_ms: u64, heartbeat_ms: u64) -> gavel_server::config::Config {
        let mut c = TestServer::config();
        c.store.postgres = Some(self.url.clone());
        c.cluster = ClusterConfig {
            enabled: true,
            node_id: Some(name.into()),
            redis: Some(self.redis.url()),
            lease_ttl_ms: ttl_ms,
            heartbeat_ms,
        };
        c
    }
}

/// The id of the node serving at `http` (from its `/readyz`).
pub async fn node_id(http: &str) -> String {
    let body: serde_json::Value = reqwest::get(format!("{http}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["node"].as_str().unwrap().to_string()
}
