//! `GET /healthz` and `GET /metrics`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::error::ApiError;
use super::ApiTags;
use super::AppState;
use crate::clock::now_millis;
use crate::metrics::{SmtpState, Snapshot};

pub struct HealthApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StreamHealth {
    /// At least one exchange stream connection is up.
    Connected,
    /// Trying to reach the exchange (alerts are kept; missed trades are recovered later).
    Connecting,
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

#[derive(Debug, Object)]
pub struct Health {
    /// `ok` whenever the server answers; the exchange and SMTP being down do not change it.
    pub status: String,
    pub stream: StreamHealth,
    pub smtp: SmtpHealth,
}

#[derive(ApiResponse)]
pub enum MetricsText {
    /// Prometheus text exposition format.
    #[oai(status = 200, content_type = "text/plain; version=0.0.4")]
    Ok(PlainText<String>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: 200 once the server accepts requests, with the state of the exchange stream
    /// and of SMTP.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&Arc<AppState>>) -> Json<Health> {
        let stream = if !state.config.market.enabled {
            StreamHealth::Disabled
        } else if state.metrics.live_connections() > 0 {
            StreamHealth::Connected
        } else {
            StreamHealth::Connecting
        };
        let smtp = match state.metrics.smtp() {
            SmtpState::Ok => SmtpHealth::Ok,
            SmtpState::Failing => SmtpHealth::Failing,
            SmtpState::NotConfigured => SmtpHealth::NotConfigured,
        };
        Json(Health {
            status: "ok".to_string(),
            stream,
            smtp,
        })
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
