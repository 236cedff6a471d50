//! Typed API errors. Every error body has the same shape,
//! `{"error": {"code": "...", "message": "..."}}`, with a stable snake_case
//! code clients can match on and a message written for people. Messages are
//! composed here from typed causes, never from `Display` of internal errors,
//! so storage paths, panics or library internals never reach a client.

use std::borrow::Cow;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// An error returned to an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: Cow<'static, str>,
    /// Human-readable explanation (safe to show: never internal details).
    pub message: String,
    /// Seconds for `Retry-After` (429/503 only).
    pub retry_after: Option<u64>,
}

/// The JSON body of an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// Build an error.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }
    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 404 with a code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// 401: missing or wrong operator key.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs the operator API key in the `Authorization: Bearer <key>` header",
        )
    }
    /// 429 with Retry-After.
    pub fn too_many(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }
    /// 500 without details: the cause is logged, never sent.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the node hit an internal error; it has been logged",
        )
    }
    /// 503: the node is shutting down or the request timed out.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
    /// 503 `inconclusive` with Retry-After: the host could not reach a
    /// verdict (wall backstop, busy pool, internal failure). Nothing was
    /// recorded against the pack, so the same submission may be retried.
    pub fn inconclusive(i: &ian_core::Inconclusive, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "inconclusive",
                format!(
                    "the node could not reach a verdict ({}); nothing was recorded against the pack, retry later",
                    i.cause.code()
                ),
            )
        }
    }
    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;
    use ian_core::{Inconclusive, InconclusiveCause};

    #[test]
    fn inconclusive_is_a_503_with_retry_after_naming_the_cause() {
        let i = Inconclusive::new(InconclusiveCause::WallBackstop, "backstop of 200 ms");
        let e = ApiError::inconclusive(&i, 7);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after, Some(7));
        assert_eq!(e.code, "inconclusive");
        assert!(e.message.contains("wall_backstop"), "{}", e.message);
        assert!(e.message.contains("nothing was recorded"), "{}", e.message);
    }
}
