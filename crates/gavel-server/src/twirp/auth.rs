//! LiveKit's server-API auth: a Bearer HS256 token, verified here; what each method's token
//! may do is decided by the service layer, like for every other entry point.

use super::TwirpError;
use crate::http::AppState;
use crate::service::{Principal, ServiceReply, ServiceRequest};
use axum::http::HeaderMap;
use gavel_core::{Claims, Command, ErrorCode, Reply};

/// A bad or missing token is `unauthenticated` (401).
pub fn verify(state: &AppState, headers: &HeaderMap) -> Result<Claims, TwirpError> {
    let token = crate::http::bearer(headers).ok_or_else(|| {
        TwirpError::new("unauthenticated", "missing Authorization: Bearer <token>")
    })?;
    state.verifier.verify(token).map_err(TwirpError::from)
}

/// One service call for a Twirp method. A refusal for want of a grant keeps LiveKit's
/// convention: `unauthenticated`, "permissions denied".
pub async fn call(
    state: &AppState,
    claims: &Claims,
    request: ServiceRequest,
) -> Result<ServiceReply, TwirpError> {
    let principal = Principal::Api {
        claims: claims.clone(),
    };
    state
        .service
        .call(&principal, request)
        .await
        .map_err(|e| match e.code {
            ErrorCode::PermissionDenied => TwirpError::denied(),
            _ => TwirpError::from(e),
        })
}

/// One core command in `room`.
pub async fn command(
    state: &AppState,
    claims: &Claims,
    room: &str,
    command: Command,
) -> Result<Reply, TwirpError> {
    let request = ServiceRequest::Command {
        room: room.to_string(),
        command,
    };
    match call(state, claims, request).await? {
        ServiceReply::Command { reply } => Ok(reply),
        _ => Ok(Reply::done()),
    }
}
