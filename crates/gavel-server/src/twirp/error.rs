//! Twirp errors: `{"code", "msg", "meta": {}}` with Twirp's HTTP status for each code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gavel_core::{Error, ErrorCode};

#[derive(Debug)]
pub struct TwirpError {
    pub code: &'static str,
    pub msg: String,
}

impl TwirpError {
    pub fn new(code: &'static str, msg: impl Into<String>) -> Self {
        TwirpError {
            code,
            msg: msg.into(),
        }
    }
    pub fn unimplemented(msg: impl Into<String>) -> Self {
        Self::new("unimplemented", msg)
    }
    pub fn malformed(msg: impl Into<String>) -> Self {
        Self::new("malformed", msg)
    }
    pub fn denied() -> Self {
        Self::new("unauthenticated", "permissions denied")
    }
}

/// Twirp's mapping from error code to HTTP status.
pub fn status(code: &str) -> StatusCode {
    match code {
        "canceled" => StatusCode::REQUEST_TIMEOUT,
        "invalid_argument" | "malformed" | "out_of_range" => StatusCode::BAD_REQUEST,
        "deadline_exceeded" => StatusCode::REQUEST_TIMEOUT,
        "not_found" | "bad_route" => StatusCode::NOT_FOUND,
        "already_exists" | "aborted" => StatusCode::CONFLICT,
        "permission_denied" => StatusCode::FORBIDDEN,
        "unauthenticated" => StatusCode::UNAUTHORIZED,
        "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
        "failed_precondition" => StatusCode::PRECONDITION_FAILED,
        "unimplemented" => StatusCode::NOT_IMPLEMENTED,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for TwirpError {
    fn from(e: Error) -> Self {
        let code = match e.code {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied | ErrorCode::Banned | ErrorCode::RoomLocked => {
                "permission_denied"
            }
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::FailedPrecondition => "failed_precondition",
            ErrorCode::Conflict => "already_exists",
            ErrorCode::RoomFull | ErrorCode::RateLimited => "resource_exhausted",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        };
        TwirpError::new(code, e.message)
    }
}

impl IntoResponse for TwirpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "msg": self.msg, "meta": {} });
        (status(self.code), axum::Json(body)).into_response()
    }
}
