//! What the server API (`/v1/webhooks`, `http/webhooks.rs`) and `gavel webhooks` do with
//! endpoints: list them with what waits for each, create and remove the API's, read an
//! endpoint's delivery log and waiting events, send a test event, replay logged events.

use super::config::{check_name, check_url, EndpointConfig, Kind};
use super::payload::{self, Parts};
use super::Webhooks;
use crate::clock::now_ms;
use gavel_core::{Error, ErrorCode};
use serde_json::{json, Value};

/// Events listed as waiting in an endpoint's deliveries.
const PENDING_SHOWN: usize = 100;
/// Event ids one replay may name.
pub const REPLAY_MAX: usize = 1000;

fn not_found(name: &str) -> Error {
    Error::not_found(format!("no webhook endpoint '{name}'"))
}

pub async fn list(w: &Webhooks) -> Result<Value, Error> {
    let live = w.endpoints.live();
    let names: Vec<String> = live.iter().map(|e| e.config.name.clone()).collect();
    let pending = w
        .endpoints
        .store
        .call(move |s| {
            names
                .iter()
                .map(|n| s.webhook_pending_count(n))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let endpoints: Vec<Value> = live
        .iter()
        .zip(pending)
        .map(|(e, pending)| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["pending"] = json!(pending);
            v
        })
        .collect();
    Ok(json!({ "endpoints": endpoints }))
}

pub async fn create(w: &Webhooks, endpoint: EndpointConfig) -> Result<Value, Error> {
    check_name(&endpoint.name).map_err(Error::invalid)?;
    check_url(&endpoint.url).map_err(Error::invalid)?;
    if let Some(k) = &endpoint.api_key {
        if !w.endpoints.has_key(k) {
            return Err(Error::invalid(format!("API key '{k}' is not configured")));
        }
    }
    if w.endpoints
        .config
        .endpoints
        .iter()
        .any(|e| e.name == endpoint.name)
    {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "webhook endpoint '{}' is in the configuration file",
                endpoint.name
            ),
        ));
    }
    let stored = endpoint.clone();
    let added = w
        .endpoints
        .store
        .call(move |s| s.webhook_add_endpoint(&stored, now_ms()))
        .await?;
    if !added {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("webhook endpoint '{}' exists already", endpoint.name),
        ));
    }
    w.endpoints.reload().await?;
    Ok(json!({ "endpoint": endpoint }))
}

pub async fn remove(w: &Webhooks, name: String) -> Result<Value, Error> {
    match w.endpoints.get(&name) {
        None => return Err(not_found(&name)),
        Some(e) if e.source == "config" => {
            return Err(Error::precondition(format!(
                "webhook endpoint '{name}' is in the configuration file: remove it there"
            )))
        }
        Some(_) => {}
    }
    let n = name.clone();
    let removed = w
        .endpoints
        .store
        .call(move |s| s.webhook_remove_endpoint(&n))
        .await?;
    w.endpoints.reload().await?;
    match removed {
        true => Ok(json!({})),
        false => Err(not_found(&name)),
    }
}

/// The delivery log (newest first, paged by `before`) and the first waiting events.
pub async fn deliveries(
    w: &Webhooks,
    name: String,
    before: Option<i64>,
    limit: usize,
) -> Result<Value, Error> {
    if w.endpoints.get(&name).is_none() {
        return Err(not_found(&name));
    }
    let (log, pending, count) = w
        .endpoints
        .store
        .call(move |s| {
            Ok((
                s.webhook_log(&name, before, limit)?,
                s.webhook_pending(&name, 0, PENDING_SHOWN)?,
                s.webhook_pending_count(&name)?,
            ))
        })
        .await?;
    let next = (log.len() == limit)
        .then(|| log.last().map(|d| d.id))
        .flatten();
    let pending: Vec<Value> = pending
        .into_iter()
        .map(|r| {
            json!({
                "event_id": r.event_id, "kind": r.kind, "room": r.room,
                "created_at": r.created_at, "attempts": r.attempts,
                "next_attempt_at": r.next_at, "last_error": r.last_error,
            })
        })
        .collect();
    Ok(json!({
        "deliveries": log,
        "next_before": next,
        "pending": pending,
        "pending_total": count,
    }))
}

/// Queues a `test` event for `name` alone; answers once it is in the outbox.
pub async fn test(w: &Webhooks, name: String) -> Result<Value, Error> {
    if w.endpoints.get(&name).is_none() {
        return Err(not_found(&name));
    }
    let mut notice = payload::notice(
        "",
        Kind::Test,
        now_ms(),
        Parts {
            gavel: json!({ "endpoint": name }),
            ..Default::default()
        },
    );
    notice.only = Some(name);
    let id = notice.event_id.clone();
    w.emit(notice);
    let _ = w.barrier().await;
    Ok(json!({ "event_id": id }))
}

/// Queues logged events of `name` again (same ids and bodies).
pub async fn replay(w: &Webhooks, name: String, event_ids: Vec<String>) -> Result<Value, Error> {
    if w.endpoints.get(&name).is_none() {
        return Err(not_found(&name));
    }
    if event_ids.is_empty() || event_ids.len() > REPLAY_MAX {
        return Err(Error::invalid(format!(
            "event_ids must name 1 to {REPLAY_MAX} events"
        )));
    }
    let n = name.clone();
    let found = w
        .endpoints
        .store
        .call(move |s| s.webhook_replay(&n, &event_ids, now_ms()))
        .await?;
    w.endpoints.wake(&name);
    Ok(json!({ "replayed": found }))
}
