//! `AppError`: every failure a client can see, with a stable machine code, an HTTP status and a
//! JSON body `{code, message}`. Causes of internal errors are logged, never returned.
use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("payload too large")]
    TooLarge,
    /// Seconds until a retry may succeed.
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
    #[error("service temporarily unavailable, retry")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: String,
    /// Seconds to wait before retrying (`rate_limited`), as in `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl AppError {
    /// The stable machine-readable code, shared by HTTP bodies and WebSocket error frames.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid(_) => "invalid",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::TooLarge => "too_large",
            AppError::RateLimited(_) => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    /// Whether the same request may succeed if retried unchanged.
    pub fn retryable(&self) -> bool {
        matches!(self, AppError::Unavailable(_) | AppError::RateLimited(_))
    }

    /// Seconds until a retry may succeed, when the error says so.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited(secs) => Some((*secs).max(1)),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody<'static> {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
            retry_after: self.retry_after(),
        }
    }

    pub fn log(&self) {
        match self {
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            AppError::Unavailable(e) => tracing::warn!(error = ?e, "dependency unavailable"),
            _ => {}
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => AppError::Unavailable(e.into()),
            other => {
                let text = other.to_string();
                // Lock contention and dropped connections are transient: tell the client to retry.
                if text.contains("database is locked")
                    || text.contains("PoolTimedOut")
                    || text.contains("connection")
                    || text.contains("deadlock")
                {
                    AppError::Unavailable(other.into())
                } else {
                    AppError::Internal(other.into())
                }
            }
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            AppError::RateLimited(secs) => {
                resp.insert_header(("Retry-After", secs.max(&1).to_string()));
            }
            e if e.retryable() => {
                resp.insert_header(("Retry-After", "1"));
            }
            _ => {}
        }
        resp.json(self.body())
    }
}

pub type AppResult<T> = Result<T, AppError>;
