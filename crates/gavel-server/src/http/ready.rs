//! `GET /readyz`: whether this node can serve requests now, for load balancers and
//! orchestrators — unlike `/healthz`, which only says the process is up. Ready means the
//! durable store answers (within [`STORE_WAIT`]); without it, commands that must be durable
//! would fail. Answered `200 {"ready": true}` or `503 {"ready": false, "store": "<why>"}`.

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
    match answered {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"ready": true}))),
        Ok(Err(e)) => not_ready(e.message),
        Err(_) => not_ready(format!("no answer within {} s", STORE_WAIT.as_secs())),
    }
}

fn not_ready(why: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"ready": false, "store": why})),
    )
}
