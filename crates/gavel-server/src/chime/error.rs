//! Chime's modeled errors: the exception's name in `x-amzn-ErrorType` (botocore picks the
//! exception class from it), its status, and a body `{"Code", "Message", "RequestId"}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gavel_core::{Error, ErrorCode};

/// The error shapes of the `chime-sdk-meetings` model that this front-end raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    LimitExceeded,
    Throttling,
    ServiceFailure,
}

impl Kind {
    /// The modeled exception: botocore raises the class of this name.
    pub fn exception(self) -> &'static str {
        match self {
            Kind::BadRequest => "BadRequestException",
            Kind::Unauthorized => "UnauthorizedException",
            Kind::Forbidden => "ForbiddenException",
            Kind::NotFound => "NotFoundException",
            Kind::Conflict => "ConflictException",
            Kind::LimitExceeded => "LimitExceededException",
            Kind::Throttling => "ThrottlingException",
            Kind::ServiceFailure => "ServiceFailureException",
        }
    }

    /// The `Code` Chime puts in the body (and in `CreateAttendeeError.ErrorCode`).
    pub fn code(self) -> &'static str {
        match self {
            Kind::BadRequest => "BadRequest",
            Kind::Unauthorized => "Unauthorized",
            Kind::Forbidden => "Forbidden",
            Kind::NotFound => "NotFound",
            Kind::Conflict => "Conflict",
            Kind::LimitExceeded => "ResourceLimitExceeded",
            Kind::Throttling => "Throttling",
            Kind::ServiceFailure => "ServiceFailure",
        }
    }

    /// The HTTP status of the modeled shape.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::BadRequest | Kind::LimitExceeded => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Throttling => StatusCode::TOO_MANY_REQUESTS,
            Kind::ServiceFailure => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Gavel's code for the same failure (for the error metrics).
    fn gavel_code(self) -> ErrorCode {
        match self {
            Kind::BadRequest => ErrorCode::InvalidArgument,
            Kind::Unauthorized => ErrorCode::Unauthenticated,
            Kind::Forbidden => ErrorCode::PermissionDenied,
            Kind::NotFound => ErrorCode::NotFound,
            Kind::Conflict => ErrorCode::Conflict,
            Kind::LimitExceeded => ErrorCode::RoomFull,
            Kind::Throttling => ErrorCode::RateLimited,
            Kind::ServiceFailure => ErrorCode::Internal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeError {
    pub kind: Kind,
    pub message: String,
}

impl ChimeError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        ChimeError {
            kind,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Kind::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    /// The response, tagged with the request's id.
    pub fn response(self, request_id: &str) -> Response {
        let body = serde_json::json!({
            "Code": self.kind.code(),
            "Message": self.message,
            "RequestId": request_id,
        });
        let mut r = (self.kind.status(), axum::Json(body)).into_response();
        r.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.kind.exception()),
        );
        r.extensions_mut().insert(self.kind.gavel_code());
        r
    }
}

/// Gavel's errors as Chime's exceptions.
impl From<Error> for ChimeError {
    fn from(e: Error) -> Self {
        let kind = match e.code {
            ErrorCode::InvalidArgument | ErrorCode::FailedPrecondition => Kind::BadRequest,
            ErrorCode::Unauthenticated => Kind::Unauthorized,
            ErrorCode::PermissionDenied | ErrorCode::Banned | ErrorCode::RoomLocked => {
                Kind::Forbidden
            }
            ErrorCode::NotFound => Kind::NotFound,
            ErrorCode::Conflict => Kind::Conflict,
            ErrorCode::RoomFull => Kind::LimitExceeded,
            ErrorCode::RateLimited => Kind::Throttling,
            ErrorCode::Internal | ErrorCode::Unavailable => Kind::ServiceFailure,
        };
        ChimeError::new(kind, e.message)
    }
}

impl From<crate::store::StoreError> for ChimeError {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}
