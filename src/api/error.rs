//! The one error shape of the API, `{"error": "<message>"}`, and the one place where domain and
//! storage errors become HTTP statuses. Internal details go to the log, never to the client.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

use crate::alerts::AlertError;
use crate::auth::AuthError;
use crate::channels::ChannelError;
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
    /// Seconds, sent as `Retry-After` with 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429, with how long to wait (rounded up to whole seconds).
    pub fn too_many(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("too many requests: try again in {secs} s"),
            retry_after: Some(secs.max(1)),
        }
    }

    /// 503, with how many seconds to wait before retrying.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
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
        let mut resp = error_response(self.status, &self.message);
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(
                poem::http::header::RETRY_AFTER,
                poem::http::HeaderValue::from(secs),
            );
        }
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// The statuses any operation may answer with, each documented with the error body.
const DOCUMENTED: [(u16, &str); 12] = [
    (
        400,
        "Invalid input: malformed JSON, a failed validation or a bad parameter",
    ),
    (401, "Missing, invalid or expired credentials"),
    (
        403,
        "A channel's target is not a public address and notify.allow_private_targets is off",
    ),
    (404, "No such resource (someone else's alert is also 404)"),
    (405, "Method not allowed on this path"),
    (
        409,
        "Conflict: the username or email is already taken, or the alert or channel limit is reached",
    ),
    (413, "Request body larger than 16 KiB"),
    (415, "Content type is not application/json"),
    (
        422,
        "Valid fields that contradict each other: a repeating alert whose re-arm distance could never be reached",
    ),
    (429, "Too many requests: slow down"),
    (500, "Internal error (details are in the server log only)"),
    (
        503,
        "Busy (too many password checks queued), the database cannot be written, or no price is known while the exchange is unreachable; retry after Retry-After",
    ),
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
            StoreError::ChannelLimit(max) => ApiError::new(
                StatusCode::CONFLICT,
                format!("channel limit reached: at most {max} channels; delete one first"),
            ),
            StoreError::UnknownChannel(id) => {
                ApiError::not_found(format!("channel {id} is not one of your channels"))
            }
            err @ StoreError::WrongStatus { .. } => {
                ApiError::new(StatusCode::CONFLICT, err.to_string())
            }
            StoreError::AlertLimit(max) => ApiError::new(
                StatusCode::CONFLICT,
                format!("alert limit reached: at most {max} alerts that are not deleted; delete some first"),
            ),
            // A token whose user was removed after the token was last checked.
            StoreError::UnknownUser => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid or expired token")
            }
            StoreError::Unavailable(reason) => ApiError {
                retry_after: Some(30),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason)
            },
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
            AuthError::Busy => ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
            },
            AuthError::Store(store) => store.into(),
            AuthError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<AlertError> for ApiError {
    fn from(err: AlertError) -> Self {
        match err {
            AlertError::UnknownSymbol(_)
            | AlertError::Invalid(_)
            | AlertError::ExpiryPassed(_)
            | AlertError::ExpiryRequired(..) => ApiError::bad_request(err.to_string()),
            AlertError::NeverRearms(..) | AlertError::NeverFires(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, err.to_string())
            }
            AlertError::NotFound(_) => ApiError::not_found(err.to_string()),
            // Like another user's alert: not found.
            AlertError::UnknownChannel(_) => ApiError::not_found(err.to_string()),
            AlertError::Store(store) => store.into(),
        }
    }
}

impl From<ChannelError> for ApiError {
    fn from(err: ChannelError) -> Self {
        match err {
            ChannelError::Invalid(message) => ApiError::bad_request(message),
            // Well-formed, but the server's outbound rules forbid calling it.
            ChannelError::Refused(message) => ApiError::new(StatusCode::FORBIDDEN, message),
            ChannelError::NotFound(_) => ApiError::not_found(err.to_string()),
            ChannelError::Store(store) => store.into(),
        }
    }
}
