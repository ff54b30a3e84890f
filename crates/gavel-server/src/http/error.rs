//! `{"error": {"code", "message"}}` with the HTTP status each code maps to.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gavel_core::{Error, ErrorCode};

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError(e.into())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionDenied | ErrorCode::Banned | ErrorCode::RoomLocked => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorCode::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        ErrorCode::Conflict | ErrorCode::RoomFull => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.0 });
        let mut response = (status(self.0.code), axum::Json(body)).into_response();
        // Read by the error-counting middleware (metrics).
        response.extensions_mut().insert(self.0.code);
        response
    }
}
