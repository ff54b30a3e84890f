//! Shared harness for the server's integration tests: a real server on a loopback port, real
//! WebSocket and HTTP clients.
#![allow(dead_code)]

pub mod chime;
pub mod cluster;
pub mod deploy;
pub mod external;
pub mod media;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod tls;
pub mod turn;
pub mod webhook_receiver;

use gavel_client::core::Event;
use gavel_client::{AccessToken, ApiClient, Message, RtcClient};
use gavel_server::config::{Config, Limits};
use gavel_server::Server;
use serde_json::json;
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
        let mut config = Self::config();
        config.limits = limits;
        Self::with_config(config).await
    }

    /// A development server keeping its state in `dir` (SQLite), so tests can reach the file.
    pub async fn with_data_dir(dir: &std::path::Path) -> TestServer {
        let mut config = Config::dev("127.0.0.1:0".parse().unwrap());
        config.data_dir = Some(dir.to_path_buf());
        Self::with_config(config).await
    }

    /// The configuration [`TestServer::start`] uses: development keys, a loopback port.
    pub fn config() -> Config {
        Config::dev("127.0.0.1:0".parse().unwrap())
    }

    pub async fn with_config(config: Config) -> TestServer {
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

// ----- helpers for the seed_*.rs tests -----

/// Waits for events of each `kinds` in turn (others may come in between). Because earlier
/// non-matching events are skipped, a `kind` that arrived before its predecessor fails: this
/// checks order. Returns the matched events.
pub async fn expect_kinds(client: &RtcClient, kinds: &[&str]) -> Vec<Event> {
    let mut out = Vec::new();
    for kind in kinds {
        let e = client.wait_type(kind, WAIT).await.unwrap_or_else(|e| {
            panic!(
                "{} expected {kind} (in order {kinds:?}, after {out:?}): {e}",
                client.identity()
            )
        });
        out.push(e);
    }
    out
}

/// The error code of a failed WebSocket request, panicking if it succeeded.
pub fn ws_code(r: Result<serde_json::Value, gavel_client::core::Error>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e.code.as_str(),
    }
}

/// The code and HTTP status of a failed server-API call, panicking if it succeeded.
pub fn api_code(r: Result<serde_json::Value, gavel_client::ApiError>) -> (&'static str, u16) {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => (e.code().as_str(), e.status),
    }
}

/// `room_left` with `reason` (and `by`), then the socket closes with code 1000 and the reason.
pub async fn expect_room_left(client: &RtcClient, reason: &str, by: Option<&str>) {
    match expect(client, "room_left").await {
        Event::RoomLeft {
            reason: r, by: b, ..
        } => {
            let r = serde_json::to_value(r).unwrap();
            assert_eq!(r, reason, "{}: room_left reason", client.identity());
            assert_eq!(b.as_deref(), by, "{}: room_left by", client.identity());
        }
        other => panic!("unexpected {other:?}"),
    }
    let closed = client.wait_closed(WAIT).await;
    assert_eq!(
        closed,
        Some((1000, reason.to_string())),
        "{}",
        client.identity()
    );
}

/// `GET /v1/rooms/{room}/participants/{identity}` → the participant object.
pub async fn api_participant(api: &ApiClient, room: &str, identity: &str) -> serde_json::Value {
    api.get_participant(room, identity)
        .await
        .unwrap_or_else(|e| panic!("GET {identity} in {room}: {e}"))["participant"]
        .clone()
}

/// Identities listed by `GET /v1/rooms/{room}/participants`, sorted.
pub async fn api_identities(api: &ApiClient, room: &str) -> Vec<String> {
    let v = api.list_participants(room).await.unwrap();
    let mut ids: Vec<String> = v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// A barrier: pings `client` and returns every message that reached it before the pong.
///
/// The server answers a request after queueing every event that came before it on the same
/// connection, and the client files events before it hands over the response, so once the ping
/// is answered everything sent earlier is buffered: draining without waiting is exact.
pub async fn settle(client: &RtcClient) -> Vec<Message> {
    let r = client
        .request(json!({"type": "ping"}))
        .await
        .unwrap_or_else(|e| panic!("{}: ping failed: {e}", client.identity()));
    assert_eq!(r["pong"], true);
    let mut out = Vec::new();
    while let Some(m) = client.next(Duration::ZERO).await {
        out.push(m);
    }
    out
}

/// Asserts that nothing (event or stray response) reached `client` since the last barrier.
pub async fn assert_nothing(client: &RtcClient, what: &str) {
    let got = settle(client).await;
    assert!(
        got.is_empty(),
        "{} received {got:?} after {what}",
        client.identity()
    );
}

/// The value of the Prometheus series `series` (0 when absent).
pub async fn metric(s: &TestServer, series: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", s.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}
