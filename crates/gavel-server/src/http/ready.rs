//! `GET /readyz`: whether this node can serve requests now, for load balancers and
//! orchestrators — unlike `/healthz`, which only says the process is up. Ready means the
//! durable store answers (within [`STORE_WAIT`]); without it, commands that must be durable
//! would fail. In cluster mode also that this node holds its lease and the bus answers.
//! Answered `200 {"ready": true, …}` or `503 {"ready": false, …}` with each check's state.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the store may take to answer before the node is reported not ready.
pub const STORE_WAIT: Duration = Duration::from_secs(3);

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = &state.registry.durable.store;
    let answered = tokio::time::timeout(STORE_WAIT, store.call(|s| s.ping())).await;
    let store = match answered {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.message),
        Err(_) => Err(format!("no answer within {} s", STORE_WAIT.as_secs())),
    };
    let mut ready = store.is_ok();
    let mut body = json!({"store": store.err().unwrap_or_else(|| "ok".into())});
    if let Some(node) = &state.cluster {
        let lease = node.lease_held();
        let bus = node.bus.healthy.load(std::sync::atomic::Ordering::Relaxed);
        ready &= lease && bus;
        body["node"] = json!(node.id);
        body["lease"] = json!(if lease { "held" } else { "expired" });
        body["bus"] = json!(if bus { "ok" } else { "unreachable" });
    }
    body["ready"] = json!(ready);
    let status = match ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(body))
}
