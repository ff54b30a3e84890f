//! `/v1/webhooks`: webhook endpoints (docs/webhooks.md). Server-wide: the caller's token needs
//! `roomAdmin` with no room named.

use super::{ApiError, Body, Caller, Json, St};
use crate::webhooks::config::EndpointConfig;
use crate::webhooks::{admin, Webhooks};
use axum::extract::{Path, Query};
use gavel_core::Error;
use serde::Deserialize;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

fn webhooks(state: &St, caller: &Caller) -> Result<Webhooks, ApiError> {
    caller.principal().require_server_admin()?;
    state
        .registry
        .durable
        .webhooks
        .clone()
        .ok_or_else(|| ApiError(Error::precondition("webhooks are not available")))
}

pub async fn list(state: St, caller: Caller) -> Result<Json, ApiError> {
    let w = webhooks(&state, &caller)?;
    Ok(axum::Json(admin::list(&w).await?))
}

pub async fn create(
    state: St,
    caller: Caller,
    Body(endpoint): Body<EndpointConfig>,
) -> Result<Json, ApiError> {
    let w = webhooks(&state, &caller)?;
    Ok(axum::Json(admin::create(&w, endpoint).await?))
}

pub async fn remove(state: St, caller: Caller, Path(name): Path<String>) -> Result<Json, ApiError> {
    let w = webhooks(&state, &caller)?;
    Ok(axum::Json(admin::remove(&w, name).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    before: Option<i64>,
    limit: Option<usize>,
}

pub async fn deliveries(
    state: St,
    caller: Caller,
    Path(name): Path<String>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json, ApiError> {
    let w = webhooks(&state, &caller)?;
    let Query(page) =
        q.map_err(|e| ApiError(Error::invalid(format!("invalid query: {}", e.body_text()))))?;
    let limit = match page.limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => n,
        _ => {
            return Err(ApiError(Error::invalid(format!(
                "limit must be 1 to {MAX_LIMIT}"
            ))))
        }
    };
    Ok(axum::Json(
        admin::deliveries(&w, name, page.before, limit).await?,
    ))
}

pub async fn test(state: St, caller: Caller, Path(name): Path<String>) -> Result<Json, ApiError> {
    let w = webhooks(&state, &caller)?;
    Ok(axum::Json(admin::test(&w, name).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    event_ids: Vec<String>,
}

pub async fn replay(
    state: St,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<Replay>,
) -> Result<Json, ApiError> {
    let w = webhooks(&state, &caller)?;
    Ok(axum::Json(admin::replay(&w, name, body.event_ids).await?))
}
