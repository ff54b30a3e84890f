//! The Amazon Chime SDK Meetings API (`chime-sdk-meetings`, 2021-07-15, REST-JSON) on Gavel's
//! port, for AWS SDKs such as boto3 (`docs/compat-chime.md`).
//!
//! Every request is checked with AWS Signature Version 4 against the server's API keys, then
//! routed by method, path and `operation` query. A meeting is a room whose name is the
//! `MeetingId`; an attendee is the identity `AttendeeId` in it, with its capabilities as the
//! room's preset for that identity. Handlers only translate: room changes are core commands
//! sent to the room actor, like the native API's, so authorization, events and audit are the
//! same; what only Chime needs (ids, external ids, join tokens) is kept behind its own interface,
//! [`store::ChimeStore`], called on the store thread.

mod attendees;
mod capabilities;
mod error;
mod meetings;
mod model;
pub mod sigv4;
pub mod store;

pub use error::{ChimeError, Kind};

use crate::http::AppState;
use crate::service::Principal;
use crate::store::StoreResult;
use axum::extract::{Request, State};
use axum::http::{request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use gavel_core::{Command, Reply};
use serde_json::Value;
use std::sync::Arc;
use store::ChimeStore;

/// State shared by the Chime handlers of one server.
#[derive(Default)]
pub struct Shared {
    /// Held by every call that changes meetings or attendees, so checks and writes that span
    /// the store and a room (idempotency, attendee limits) see no interleaving. The Chime API
    /// is a control plane: calls are few, and rooms never wait on this lock.
    writes: tokio::sync::Mutex<()>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/meetings", any(handle))
        .route("/meetings/{*rest}", any(handle))
        .route("/tags", any(handle))
        .layer(Extension(Arc::new(Shared::default())))
}

/// One verified call.
pub struct Ctx {
    state: AppState,
    shared: Arc<Shared>,
    access_key: String,
    secret: String,
    /// The `Host` the client used, for the URLs given back in `MediaPlacement`.
    host: String,
}

impl Ctx {
    /// The service-layer caller: the request's signature was verified with this access key,
    /// which holds the Chime API over every meeting; events and audit entries name it.
    fn principal(&self) -> Principal {
        Principal::server(&format!("chime:{}", self.access_key))
    }

    /// Runs a core command in the meeting's room through the service layer, like every API.
    async fn command(&self, meeting_id: &str, command: Command) -> Result<Reply, ChimeError> {
        Ok(self
            .state
            .service
            .command(&self.principal(), meeting_id, command)
            .await?)
    }

    /// A call to the Chime store, on the store thread.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn ChimeStore) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, ChimeError> {
        Ok(self.state.chime_store.call(f).await?)
    }
}

/// A successful response with a JSON body.
fn json(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn handle(
    State(state): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    request: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let limit = state.registry.limits.max_body_bytes;
    let mut response = match axum::body::to_bytes(body, limit).await {
        Ok(body) => match call(state, shared, &parts, &body).await {
            Ok(r) => r,
            Err(e) => e.response(&request_id),
        },
        Err(_) => ChimeError::bad_request(format!("the body is unreadable or over {limit} bytes"))
            .response(&request_id),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

async fn call(
    state: AppState,
    shared: Arc<Shared>,
    parts: &Parts,
    body: &[u8],
) -> Result<Response, ChimeError> {
    let signed = sigv4::Signed {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let now = (crate::clock::now_ms() / 1000) as i64;
    let verifier = state.verifier.clone();
    let access_key = sigv4::verify(&signed, |k| verifier.secret(k).map(str::to_string), now)?;
    let secret = verifier.secret(&access_key).unwrap_or_default().to_string();
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let ctx = Ctx {
        state,
        shared,
        access_key,
        secret,
        host,
    };
    let query = Query::parse(parts.uri.query());
    let segments: Vec<String> = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(|s| String::from_utf8_lossy(&sigv4::percent_decode(s)).into_owned())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let operation = query.get("operation");
    match (parts.method.as_str(), &segments[..], operation) {
        ("POST", ["meetings"], None) => meetings::create(&ctx, body, false).await,
        ("POST", ["meetings"], Some("create-attendees")) => {
            meetings::create(&ctx, body, true).await
        }
        ("GET", ["meetings", m], None) => meetings::get(&ctx, m).await,
        ("DELETE", ["meetings", m], None) => meetings::delete(&ctx, m).await,
        ("POST", ["meetings", m, "attendees"], None) => attendees::create(&ctx, m, body).await,
        ("POST", ["meetings", m, "attendees"], Some("batch-create")) => {
            attendees::batch_create(&ctx, m, body).await
        }
        ("GET", ["meetings", m, "attendees"], None) => attendees::list(&ctx, m, &query).await,
        ("PUT", ["meetings", m, "attendees", "capabilities"], Some("batch-update-except")) => {
            capabilities::batch_update_except(&ctx, m, body).await
        }
        ("GET", ["meetings", m, "attendees", a], None) => attendees::get(&ctx, m, a).await,
        ("DELETE", ["meetings", m, "attendees", a], None) => attendees::delete(&ctx, m, a).await,
        ("PUT", ["meetings", m, "attendees", a, "capabilities"], None) => {
            capabilities::update(&ctx, m, a, body).await
        }
        (_, ["meetings", _, "transcription"], _) | (_, ["tags"], _) => {
            Err(ChimeError::bad_request(format!(
                "{} {} is not supported by this server (transcription and tagging are not served)",
                parts.method,
                parts.uri.path()
            )))
        }
        (method, _, _) => Err(ChimeError::not_found(format!(
            "no Chime SDK Meetings operation is {method} {}",
            parts.uri
        ))),
    }
}

/// Decoded query parameters, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let decode = |s: &str| String::from_utf8_lossy(&sigv4::percent_decode(s)).into_owned();
        Query(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
