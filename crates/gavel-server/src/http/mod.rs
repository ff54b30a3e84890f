//! The HTTP server API under `/v1` and the router that also mounts the WebSocket endpoint.
//!
//! Handlers only translate: authenticate the caller into a [`Principal`], read a typed request
//! body (unknown fields refused), call the [`Service`], and turn its reply into JSON. They hold
//! no room state and build no command from strings.

mod breakouts;
mod error;
mod history;
mod participants;
mod ready;
mod rooms;
mod waiting;
mod webhooks;

pub use error::ApiError;

use crate::auth::Verifier;
use crate::registry::Registry;
use crate::service::{Principal, Service, ServiceReply, ServiceRequest};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::Router;
use gavel_core::{Claims, Command, Error, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    /// Every entry point's way into the rooms.
    pub service: Service,
    pub verifier: Arc<Verifier>,
    /// Development mode only: the API key and secret `/dev/token` signs with.
    pub dev_key: Option<(String, String)>,
    /// The ICE servers participants are given (the embedded TURN relay's, external ones).
    pub ice_servers: Arc<crate::turn::IceServers>,
    /// The Chime front-end's meetings and attendees, on the store thread.
    pub chime_store: crate::store::thread::StoreHandle<dyn crate::chime::store::ChimeStore>,
    /// This node in the cluster (`[cluster]`); `None` for a single node.
    pub cluster: Option<Arc<crate::cluster::node::Node>>,
}

/// The host name a request was addressed to (its `Host` header without the port), for URLs
/// handed back to the client.
pub fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    Some(crate::tls::strip_port(host).to_string()).filter(|h| !h.is_empty())
}

pub fn router(state: AppState) -> Router {
    let max_body = state.registry.limits.max_body_bytes;
    let mut router = Router::new();
    if let Some((key, secret)) = state.dev_key.clone() {
        router = router.merge(crate::dev::router(key, secret));
    }
    router
        .merge(crate::console::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready::ready))
        .route("/v1/rtc", get(crate::ws::rtc))
        // LiveKit's client protocol (crate::livekit_rtc).
        .route("/rtc", get(crate::livekit_rtc::rtc))
        .route("/rtc/validate", get(crate::livekit_rtc::validate))
        .route("/rtc/v1", get(crate::livekit_rtc::v1_not_found))
        .route("/rtc/v1/validate", get(crate::livekit_rtc::v1_not_found))
        .route("/v1/rooms", post(rooms::create).get(rooms::list))
        .route(
            "/v1/rooms/{room}",
            get(rooms::get).delete(rooms::delete).patch(rooms::update),
        )
        .route("/v1/rooms/{room}/data", post(rooms::send_data))
        .route("/v1/rooms/{room}/mute-all", post(rooms::mute_all))
        .route("/v1/rooms/{room}/end", post(rooms::end))
        .route("/v1/rooms/{room}/lock", post(rooms::lock))
        .route("/v1/rooms/{room}/unlock", post(rooms::unlock))
        .route("/v1/rooms/{room}/breakouts", post(breakouts::open))
        .route("/v1/rooms/{room}/breakouts/close", post(breakouts::close))
        .route(
            "/v1/rooms/{room}/breakouts/broadcast",
            post(breakouts::broadcast),
        )
        .route("/v1/rooms/{room}/waiting", get(waiting::list))
        .route("/v1/rooms/{room}/waiting/admit", post(waiting::admit))
        .route("/v1/rooms/{room}/waiting/deny", post(waiting::deny))
        .route("/v1/rooms/{room}/waiting-room", post(waiting::switch))
        .route("/v1/rooms/{room}/bans", get(rooms::bans))
        .route("/v1/rooms/{room}/audit", get(history::audit))
        .route("/v1/rooms/{room}/sessions", get(history::sessions))
        .route("/v1/rooms/{room}/bans/{identity}", delete(rooms::lift_ban))
        .route("/v1/rooms/{room}/participants", get(participants::list))
        .route(
            "/v1/rooms/{room}/participants:batch",
            post(participants::batch),
        )
        .route(
            "/v1/rooms/{room}/participants:remove",
            post(participants::remove_many),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}",
            get(participants::get).patch(participants::update),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}/mute",
            post(participants::mute),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}/request-media",
            post(participants::request_media),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}/remove",
            post(participants::remove),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}/revoke-tokens",
            post(participants::revoke_tokens),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}/move",
            post(participants::move_to),
        )
        .route(
            "/v1/rooms/{room}/participants/{identity}/pin",
            post(participants::pin).delete(participants::unpin),
        )
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/v1/webhooks/{name}", delete(webhooks::remove))
        .route("/v1/webhooks/{name}/deliveries", get(webhooks::deliveries))
        .route("/v1/webhooks/{name}/test", post(webhooks::test))
        .route("/v1/webhooks/{name}/replay", post(webhooks::replay))
        .merge(crate::twirp::router())
        .merge(crate::chime::router())
        // A known path with a method it does not take is an unknown endpoint too (in JSON).
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            ApiError(Error::not_found(format!(
                "no such endpoint: {method} is not allowed here"
            )))
        })
        .fallback(|| async { ApiError(Error::not_found("no such endpoint")) })
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            count_errors,
        ))
        .with_state(state)
}

/// Prometheus text exposition of [`crate::metrics::Metrics`].
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.registry.metrics.render(),
    )
}

/// Counts every error response by code.
async fn count_errors(
    State(state): State<AppState>,
    response: axum::response::Response,
) -> axum::response::Response {
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.registry.metrics.error(*code);
    }
    response
}

/// `Authorization: Bearer <token>`.
/// A client's access token: from the `access_token` query parameter (browsers cannot set
/// headers on a WebSocket), else from `Authorization: Bearer`.
pub fn access_token(query: Option<String>, headers: &HeaderMap) -> Option<String> {
    query.or_else(|| bearer(headers).map(str::to_string))
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A verified server-API caller.
pub struct Caller(pub Claims);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError(Error::new(
                ErrorCode::Unauthenticated,
                "missing Authorization: Bearer <token>",
            ))
        })?;
        Ok(Caller(state.verifier.verify(token)?))
    }
}

impl Caller {
    pub fn principal(&self) -> Principal {
        Principal::Api {
            claims: self.0.clone(),
        }
    }
}

/// A typed JSON request body; an empty body reads as `{}`. Malformed JSON and unknown or
/// ill-typed fields are refused with `invalid_argument`, before anything runs.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError(Error::invalid(format!("cannot read body: {e}"))))?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // One parse: serde tells malformed JSON apart from a well-formed body of the wrong shape.
        serde_json::from_slice(bytes).map(Body).map_err(|e| {
            let what = if e.is_syntax() || e.is_eof() {
                "malformed JSON"
            } else {
                "invalid request"
            };
            ApiError(Error::invalid(format!("{what}: {e}")))
        })
    }
}

/// A body that must be empty (or `{}`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Runs one service request for an HTTP caller.
pub async fn call(
    state: &AppState,
    caller: &Caller,
    request: ServiceRequest,
) -> Result<ServiceReply, ApiError> {
    Ok(state.service.call(&caller.principal(), request).await?)
}

/// Runs a command in `room` and returns the core's reply as JSON.
pub async fn command(
    state: &AppState,
    caller: &Caller,
    room: &str,
    command: Command,
) -> Result<Json, ApiError> {
    let reply = state
        .service
        .command(&caller.principal(), room, command)
        .await?;
    Ok(axum::Json(serde_json::to_value(reply).unwrap_or_default()))
}

/// A service reply as the native API's body: its fields, without the service's `kind` tag.
pub fn untagged(reply: ServiceReply) -> Json {
    let mut v = serde_json::to_value(reply).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        m.remove("kind");
    }
    axum::Json(v)
}

pub type Json = axum::Json<Value>;
pub type St = State<AppState>;
