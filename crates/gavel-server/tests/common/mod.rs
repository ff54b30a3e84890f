//! Shared harness for the server's integration tests: a real server on a loopback port, real
//! WebSocket and HTTP clients.
#![allow(dead_code)]

use gavel_client::core::Event;
use gavel_client::{AccessToken, ApiClient, RtcClient};
use gavel_server::config::{Config, Limits};
use gavel_server::Server;
use std::time::Duration;

pub const KEY: &str = "devkey";
pub const SECRET: &str = "secret";
/// Generous upper bound for "this event arrives"; tests never assert on timing.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for events that must NOT arrive.
pub const QUIET: Duration = Duration::from_millis(300);

pub struct TestServer {
    pub server: Option<Server>,
    pub http: String,
    pub ws: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> TestServer {
        let mut config = Config::dev("127.0.0.1:0".parse().unwrap());
        config.limits = limits;
        let server = Server::start(config).await.expect("server starts");
        let addr = server.addr;
        TestServer {
            server: Some(server),
            http: format!("http://{addr}"),
            ws: format!("ws://{addr}"),
        }
    }

    /// A server-API client with every grant on every room.
    pub fn admin(&self) -> ApiClient {
        ApiClient::new(
            &self.http,
            &AccessToken::new(KEY, SECRET).admin(None).to_jwt(),
        )
    }

    pub fn token(&self, room: &str, identity: &str, role: &str) -> String {
        AccessToken::new(KEY, SECRET)
            .join(room, identity)
            .name(identity)
            .role(role)
            .to_jwt()
    }

    /// Joins `room` as `identity` with a built-in `role`.
    pub async fn join(&self, room: &str, identity: &str, role: &str) -> RtcClient {
        RtcClient::connect(&self.ws, &self.token(room, identity, role))
            .await
            .unwrap_or_else(|e| panic!("{identity} could not join {room}: {e}"))
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// Waits for an event of type `kind` on `client`, panicking with context if it never comes.
pub async fn expect(client: &RtcClient, kind: &str) -> Event {
    client
        .wait_type(kind, WAIT)
        .await
        .unwrap_or_else(|e| panic!("expected {kind}: {e}"))
}

/// Asserts that no event of type `kind` reaches `client` within [`QUIET`].
pub async fn expect_none(client: &RtcClient, kind: &str) {
    if let Ok(e) = client.wait_type(kind, QUIET).await {
        panic!("{} got an unexpected {kind}: {e:?}", client.identity());
    }
}
