//! Errors as JSON, in one shape for every route:
//! `{"error": {"code": "unknown_plugin", "message": "...", ...details}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
    /// Seconds to send as `Retry-After` (503s the client should try again after).
    pub retry_after: Option<u32>,
}

/// How long a client should wait before trying again after the database refused for now.
const DATABASE_RETRY_AFTER_SECONDS: u32 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }
    }

    /// Asks the client to try again after `seconds` (`Retry-After`).
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// A storage failure: 503 with `Retry-After` when the database refused for now (locked, full,
    /// read-only, out of connections), so clients and vendors retry; 500 otherwise.
    pub fn store(error: switchboard_store::StoreError) -> Self {
        if error.is_transient() {
            tracing::warn!(%error, "database unavailable; answering 503");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database cannot take this request now; try again shortly",
            )
            .retry_after(DATABASE_RETRY_AFTER_SECONDS)
        } else {
            ApiError::internal(error)
        }
    }

    /// Adds a detail field next to `code` and `message`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        body.extend(self.details);
        let mut response = (self.status, Json(json!({ "error": body }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<switchboard_app::service_error::ServiceError> for ApiError {
    fn from(error: switchboard_app::service_error::ServiceError) -> Self {
        use switchboard_app::service_error::ServiceError;
        match error {
            ServiceError::NotFound { .. } | ServiceError::Unknown { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
            }
            ServiceError::Invalid { ref field, .. } => {
                let field = field.clone();
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    error.to_string(),
                )
                .with("field", field)
            }
            ServiceError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            ServiceError::Store(error) => ApiError::store(error),
        }
    }
}

/// The error body every route answers with, as documented.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// Stable, for programs: `unauthenticated`, `forbidden`, `not_found`, `invalid`, `conflict`, ...
    code: String,
    /// For people.
    message: String,
    /// For `invalid`: the field at fault.
    field: Option<String>,
}
