//! `GET /healthz` and `GET /metrics`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::error::ApiError;
use super::nullable::Nullable;
use super::ApiTags;
use super::AppState;
use crate::clock::{format_millis, now_millis};
use crate::metrics::{SmtpState, Snapshot};

pub struct HealthApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StreamHealth {
    /// At least one exchange stream connection is up.
    Connected,
    /// Trying to reach the exchange (alerts are kept; missed trades are recovered later).
    Connecting,
    /// The last attempt to reach the exchange failed (`stream_problem` says why); still
    /// retrying. Alerts are kept and missed trades recovered once it connects.
    Failing,
    /// `market.enabled` is false.
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SmtpHealth {
    Ok,
    /// The last delivery attempt failed temporarily; it is being retried.
    Failing,
    /// No `smtp.host`: notifications wait in the outbox.
    NotConfigured,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ServerHealth {
    /// Requests are served; the exchange or SMTP being down does not change it.
    Ok,
    /// The database cannot be written (`storage` says why): the server cannot do its work.
    Unavailable,
}

/// Why the exchange cannot be reached.
#[derive(Debug, Object)]
pub struct StreamProblem {
    /// The host and port tried (from `market.stream_url`).
    pub host: String,
    /// The latest attempt's error, in words.
    pub last_error: String,
    /// When the failures began (RFC 3339, UTC).
    pub since: String,
}

#[derive(Debug, Object)]
pub struct Health {
    pub status: ServerHealth,
    pub stream: StreamHealth,
    /// Set while `stream` is `failing`.
    pub stream_problem: Nullable<StreamProblem>,
    pub smtp: SmtpHealth,
    /// Why the database cannot be written (file deleted or replaced, disk full, I/O error);
    /// null while it can.
    pub storage: Nullable<String>,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The server can serve requests.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// The database cannot be written; `storage` says why.
    #[oai(status = 503)]
    Unavailable(Json<Health>),
}

#[derive(ApiResponse)]
pub enum MetricsText {
    /// Prometheus text exposition format.
    #[oai(status = 200, content_type = "text/plain; version=0.0.4")]
    Ok(PlainText<String>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health: 200 while the server can serve requests, 503 when its database cannot be
    /// written; with the state of the exchange stream and of SMTP, which never make it fail.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&Arc<AppState>>) -> HealthResponse {
        let failure = state.metrics.stream_failure();
        let stream = if !state.config.market.enabled {
            StreamHealth::Disabled
        } else if state.metrics.live_connections() > 0 {
            StreamHealth::Connected
        } else if failure.is_some() {
            StreamHealth::Failing
        } else {
            StreamHealth::Connecting
        };
        let stream_problem = failure
            .filter(|_| stream == StreamHealth::Failing)
            .map(|f| StreamProblem {
                host: f.host,
                last_error: f.last_error,
                since: format_millis(f.since_ms),
            });
        let smtp = match state.metrics.smtp() {
            SmtpState::Ok => SmtpHealth::Ok,
            SmtpState::Failing => SmtpHealth::Failing,
            SmtpState::NotConfigured => SmtpHealth::NotConfigured,
        };
        let storage = state.store.problem();
        let health = Health {
            status: if storage.is_some() {
                ServerHealth::Unavailable
            } else {
                ServerHealth::Ok
            },
            stream,
            stream_problem: stream_problem.into(),
            smtp,
            storage: storage.into(),
        };
        match health.status {
            ServerHealth::Ok => HealthResponse::Ok(Json(health)),
            ServerHealth::Unavailable => HealthResponse::Unavailable(Json(health)),
        }
    }

    /// Metrics in the Prometheus text format.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, state: Data<&Arc<AppState>>) -> Result<MetricsText, ApiError> {
        let (pending, sent, failed) = state.store.notification_counts().await?;
        let snapshot = Snapshot {
            armed: state.matcher.armed(),
            pending,
            sent,
            failed,
            now_ms: now_millis(),
        };
        Ok(MetricsText::Ok(PlainText(state.metrics.render(&snapshot))))
    }
}
