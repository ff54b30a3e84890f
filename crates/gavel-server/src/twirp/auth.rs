//! LiveKit's server-API auth: a Bearer HS256 token; grants per method.

use super::TwirpError;
use crate::http::AppState;
use axum::http::HeaderMap;
use gavel_core::{Actor, Claims};

/// A bad or missing token is `unauthenticated` (401).
pub fn verify(state: &AppState, headers: &HeaderMap) -> Result<Claims, TwirpError> {
    let token = crate::http::bearer(headers).ok_or_else(|| {
        TwirpError::new("unauthenticated", "missing Authorization: Bearer <token>")
    })?;
    state.verifier.verify(token).map_err(TwirpError::from)
}

/// `roomCreate`, needed by CreateRoom and DeleteRoom.
pub fn room_create(claims: &Claims) -> Result<(), TwirpError> {
    granted(claims.video.room_create)
}

/// `roomList`, needed by ListRooms.
pub fn room_list(claims: &Claims) -> Result<(), TwirpError> {
    granted(claims.video.room_list)
}

/// `roomAdmin` for `room`, needed by every participant method; the actor the core sees.
pub fn room_admin(claims: &Claims, room: &str) -> Result<Actor, TwirpError> {
    if !claims.is_admin_of(room) {
        return Err(TwirpError::denied());
    }
    let name = if claims.sub.is_empty() {
        "server".to_string()
    } else {
        claims.sub.clone()
    };
    Ok(Actor::server(name))
}

fn granted(grant: Option<bool>) -> Result<(), TwirpError> {
    if grant == Some(true) {
        Ok(())
    } else {
        Err(TwirpError::denied())
    }
}
