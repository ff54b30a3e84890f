//! The durable record of a room: the moderation audit log and session history (newest first,
//! paged by `before`).

use super::{ApiError, Caller, Json, St};
use axum::extract::{Path, Query};
use gavel_core::Error;
use serde::Deserialize;
use serde_json::json;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Only entries at or after this time (ms since the epoch).
    since: Option<u64>,
    /// Only entries older than this id (the `next_before` of the previous page).
    before: Option<i64>,
    limit: Option<usize>,
}

impl Page {
    fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => Ok(n),
            _ => Err(ApiError(Error::invalid(format!(
                "limit must be 1 to {MAX_LIMIT}"
            )))),
        }
    }
}

fn query(
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Page, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError(Error::invalid(format!("invalid query: {}", e.body_text()))))
}

pub async fn audit(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json, ApiError> {
    caller.principal().require_admin(&state.registry, &room)?;
    let page = query(q)?;
    let limit = page.limit()?;
    let entries = state
        .registry
        .durable
        .store
        .call(move |s| s.audit(&room, page.since, page.before, limit))
        .await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(axum::Json(
        json!({ "entries": entries, "next_before": next }),
    ))
}

pub async fn sessions(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json, ApiError> {
    caller.principal().require_admin(&state.registry, &room)?;
    let page = query(q)?;
    if page.since.is_some() {
        return Err(ApiError(Error::invalid(
            "sessions are paged with before and limit",
        )));
    }
    let limit = page.limit()?;
    let sessions = state
        .registry
        .durable
        .store
        .call(move |s| s.sessions(&room, page.before, limit))
        .await?;
    let next = (sessions.len() == limit)
        .then(|| sessions.last().map(|s| s.id))
        .flatten();
    Ok(axum::Json(
        json!({ "sessions": sessions, "next_before": next }),
    ))
}
