//! `gavel dev`: ready-made tokens for trying the server.

use crate::auth::sign;
use crate::clock::now_ms;
use gavel_core::{Claims, VideoGrant};

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
