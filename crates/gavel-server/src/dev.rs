//! `gavel dev`: ready-made tokens for trying the server, and the development-only token endpoint
//! the web console uses to "join as host / participant / viewer".
//!
//! [`router`] is mounted only when the server runs in development mode: anyone who can reach the
//! port can mint a token there, so it must never exist in production.

use crate::auth::sign;
use crate::clock::now_ms;
use crate::http::{ApiError, AppState, Body};
use axum::routing::{get, post};
use axum::{Json, Router};
use gavel_core::ids::{validate_identity, validate_name, validate_room_name};
use gavel_core::{Claims, Error, VideoGrant};
use serde::Deserialize;
use serde_json::{json, Value};

/// Roles the development endpoint hands out.
pub const DEV_ROLES: [&str; 3] = ["host", "participant", "viewer"];

/// How long a development token lasts.
const DEV_TOKEN_TTL_SECONDS: u64 = 24 * 3600;

/// A token for `identity` in `room`, valid for `ttl_seconds`.
pub fn token(
    key: &str,
    secret: &str,
    room: &str,
    identity: &str,
    role: &str,
    ttl_seconds: u64,
) -> String {
    let claims = Claims {
        iss: key.to_string(),
        sub: identity.to_string(),
        exp: now_ms() / 1000 + ttl_seconds,
        iat: Some(now_ms() / 1000),
        name: Some(identity.to_string()),
        video: VideoGrant {
            room_join: Some(true),
            room: Some(room.to_string()),
            room_admin: Some(role == "host"),
            ..Default::default()
        },
        role: Some(role.to_string()),
        ..Default::default()
    };
    sign(&claims, secret)
}

/// A server-API token: create, list and administer every room.
pub fn admin_token(key: &str, secret: &str, ttl_seconds: u64) -> String {
    let claims = Claims {
        iss: key.to_string(),
        sub: "admin".to_string(),
        exp: now_ms() / 1000 + ttl_seconds,
        video: VideoGrant {
            room_admin: Some(true),
            room_create: Some(true),
            room_list: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    sign(&claims, secret)
}

/// `GET /dev` (the console's "is this a development server?") and `POST /dev/token`, signing with
/// the given API key.
pub fn router(key: String, secret: String) -> Router<AppState> {
    Router::new()
        .route(
            "/dev",
            get(|| async { Json(json!({"dev": true, "roles": DEV_ROLES})) }),
        )
        .route(
            "/dev/token",
            post(move |Body(req): Body<DevTokenRequest>| async move {
                mint(&key, &secret, req).map(Json)
            }),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenRequest {
    room: String,
    name: String,
    role: String,
}

/// `{"room", "name", "role"}` → `{"token", "room", "identity"}`. The display name is the identity,
/// so a kicked-and-banned name stays banned when it asks for a new token.
fn mint(key: &str, secret: &str, req: DevTokenRequest) -> Result<Value, ApiError> {
    let (room, name) = (req.room.trim(), req.name.trim());
    validate_room_name(room)?;
    validate_identity(name)?;
    validate_name(name)?;
    if !DEV_ROLES.contains(&req.role.as_str()) {
        return Err(ApiError(Error::invalid(format!(
            "role must be one of {}",
            DEV_ROLES.join(", ")
        ))));
    }
    let token = token(key, secret, room, name, &req.role, DEV_TOKEN_TTL_SECONDS);
    Ok(json!({"token": token, "room": room, "identity": name}))
}
