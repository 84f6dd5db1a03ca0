//! The one error shape of the API, `{"error": "<message>"}`, and the one place where domain and
//! storage errors become HTTP statuses. Internal details go to the log, never to the client.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

use crate::auth::AuthError;
use crate::store::StoreError;

#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// What went wrong, in words meant for the person using the API.
    pub error: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid or expired token")
    }

    /// Logs the cause and answers with a message that reveals nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }
}

/// The body every error response carries.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body)
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        error_response(self.status, &self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status, &self.message)
    }
}

/// The statuses any operation may answer with, each documented with the error body.
const DOCUMENTED: [(u16, &str); 10] = [
    (
        400,
        "Invalid input: malformed JSON, a failed validation or a bad parameter",
    ),
    (401, "Missing, invalid or expired credentials"),
    (404, "No such resource (someone else's alert is also 404)"),
    (405, "Method not allowed on this path"),
    (409, "Conflict: the username or email is already taken"),
    (413, "Request body larger than 16 KiB"),
    (415, "Content type is not application/json"),
    (429, "Too many requests: slow down"),
    (500, "Internal error (details are in the server log only)"),
    (503, "Busy: too many password checks queued; retry shortly"),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(field) => {
                ApiError::new(StatusCode::CONFLICT, format!("{field} is already taken"))
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Invalid(message) => ApiError::bad_request(message),
            AuthError::Taken(field) => {
                ApiError::new(StatusCode::CONFLICT, format!("{field} is already taken"))
            }
            AuthError::BadCredentials | AuthError::InvalidToken | AuthError::TokenReused => {
                ApiError::new(StatusCode::UNAUTHORIZED, err.to_string())
            }
            AuthError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
            AuthError::Store(store) => store.into(),
            AuthError::Internal(cause) => ApiError::internal(cause),
        }
    }
}
