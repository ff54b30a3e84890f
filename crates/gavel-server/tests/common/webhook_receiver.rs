//! A webhook receiver on loopback for tests: it records every request, and answers as told —
//! 200, 500, or not at all (it holds the request open, as a hung endpoint does).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Fail,
    Hang,
}

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub authorization: String,
    pub content_type: String,
    /// Whether it was answered 200 (the event counts as delivered).
    pub accepted: bool,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Default)]
struct Shared {
    mode: Arc<Mutex<Option<Mode>>>,
    seen: Arc<Mutex<Vec<Received>>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let shared = Shared::default();
        *shared.mode.lock().unwrap() = Some(mode);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, shared }
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    pub fn seen(&self) -> Vec<Received> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The bodies answered 200, in arrival order.
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.seen()
            .iter()
            .filter(|r| r.accepted)
            .map(Received::json)
            .collect()
    }

    /// Waits until `done` holds for the accepted bodies (at most `limit`).
    pub async fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let end = tokio::time::Instant::now() + limit;
        loop {
            let got = self.accepted();
            if done(&got) {
                return got;
            }
            if tokio::time::Instant::now() > end {
                let kinds: Vec<_> = got.iter().map(|b| b["event"].clone()).collect();
                panic!("timed out waiting for {what}; accepted: {kinds:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mode = s.mode.lock().unwrap().unwrap_or(Mode::Accept);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let received = Received {
        body: String::from_utf8_lossy(&body).into_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        accepted: mode == Mode::Accept,
    };
    s.seen.lock().unwrap().push(received);
    match mode {
        Mode::Accept => StatusCode::OK,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
    }
}
