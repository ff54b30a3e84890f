//! The HTTP server API under `/v1` and the router that also mounts the WebSocket endpoint.
//!
//! Handlers only translate: authenticate, build a core [`gavel_core::Command`], send it to the
//! room actor, and turn the result into JSON. They hold no room state.

mod error;
mod history;
mod participants;
mod rooms;

pub use error::ApiError;

use crate::auth::Verifier;
use crate::registry::Registry;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::Router;
use gavel_core::{Actor, Claims, Command, Error, ErrorCode};
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub verifier: Arc<Verifier>,
    /// Development mode only: the API key and secret `/dev/token` signs with.
    pub dev_key: Option<(String, String)>,
    /// The Chime front-end's meetings and attendees, on the store thread.
    pub chime_store: crate::store::thread::StoreHandle<dyn crate::chime::store::ChimeStore>,
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
        .route("/v1/rtc", get(crate::ws::rtc))
        .route("/v1/rooms", post(rooms::create).get(rooms::list))
        .route(
            "/v1/rooms/{room}",
            get(rooms::get).delete(rooms::delete).patch(rooms::update),
        )
        .route("/v1/rooms/{room}/data", post(rooms::send_data))
        .route("/v1/rooms/{room}/mute-all", post(rooms::mute_all))
        .route("/v1/rooms/{room}/end", post(rooms::end))
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
    /// Room-scoped calls need `roomAdmin` for that room.
    pub fn admin_of(&self, room: &str) -> Result<Actor, ApiError> {
        if !self.0.is_admin_of(room) {
            return Err(ApiError(Error::denied(format!(
                "token lacks roomAdmin for room '{room}'"
            ))));
        }
        let name = if self.0.sub.is_empty() {
            "server".to_string()
        } else {
            self.0.sub.clone()
        };
        Ok(Actor::server(name))
    }

    pub fn require(&self, granted: Option<bool>, grant: &str) -> Result<(), ApiError> {
        if granted == Some(true) {
            Ok(())
        } else {
            Err(ApiError(Error::denied(format!(
                "token lacks the {grant} grant"
            ))))
        }
    }
}

/// A JSON object body; an empty body is an empty object.
pub struct Body(pub Map<String, Value>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError(Error::invalid(format!("cannot read body: {e}"))))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(Body(m)),
            Ok(_) => Err(ApiError(Error::invalid("the body must be a JSON object"))),
            Err(e) => Err(ApiError(Error::invalid(format!("malformed JSON: {e}")))),
        }
    }
}

/// Builds a core command from a body plus fields taken from the path (the path wins).
pub fn command(
    kind: &str,
    mut fields: Map<String, Value>,
    path: &[(&str, &str)],
) -> Result<Command, ApiError> {
    fields.insert("type".into(), Value::from(kind));
    for (k, v) in path {
        fields.insert((*k).into(), Value::from(*v));
    }
    command_from_map(fields).map_err(ApiError)
}

/// Deserializes a command object (`type` plus fields), for both the server API and clients.
/// Serde ignores extra fields beside the tag of a unit variant, so those are refused here.
pub fn command_from_map(map: Map<String, Value>) -> Result<Command, Error> {
    let extra = map.keys().find(|k| *k != "type").cloned();
    let command = serde_json::from_value::<Command>(Value::Object(map))
        .map_err(|e| Error::invalid(format!("invalid request: {e}")))?;
    match extra {
        Some(k)
            if matches!(
                command,
                Command::Ping | Command::Leave | Command::EndSession
            ) =>
        {
            Err(Error::invalid(format!(
                "invalid request: unknown field `{k}`: `{}` takes no fields",
                command.action()
            )))
        }
        _ => Ok(command),
    }
}

/// Runs a server-API command in `room` and returns the reply as JSON.
pub async fn run(
    state: &AppState,
    actor: Actor,
    room: &str,
    command: Command,
) -> Result<Value, ApiError> {
    let handle = state.registry.get_or_not_found(room)?;
    let (result, _) = handle.command_raw(actor, command).await?;
    Ok(serde_json::to_value(result?).unwrap_or_default())
}

/// A room-wide command whose fields are the whole body (mute-all, end, batch, kick many).
pub async fn room_command(
    state: &AppState,
    caller: &Caller,
    room: &str,
    kind: &str,
    body: Map<String, Value>,
) -> Result<Json, ApiError> {
    let actor = caller.admin_of(room)?;
    let cmd = command(kind, body, &[])?;
    Ok(axum::Json(run(state, actor, room, cmd).await?))
}

pub type Json = axum::Json<Value>;
pub type St = State<AppState>;
