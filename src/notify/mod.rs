//! Notifications that are never lost: the delivery worker takes each due outbox row (one per
//! fire and channel), sends it through its channel — email over SMTP, the push kinds over HTTP —
//! retries temporary failures with exponential backoff (or when the service says), and records
//! permanent ones with the service's answer. A row is marked sent only after the service
//! accepted it, so a crash can at worst repeat a send, with the same delivery key.
//!
//! Channels never hold each other up: each delivery runs in its own task, at most
//! `notify.concurrency_per_channel` per channel and `notify.concurrency_per_kind` per kind, and
//! rows of a channel or kind that is full are not even fetched until it has room.

mod guard;
mod mailer;
pub mod message;
mod notice;
mod outbox;
mod push;

use std::sync::Arc;
use std::time::Duration;

pub use guard::{is_public, Guard};
pub use mailer::{Mailer, MailerError, SendError};
pub use notice::{Notice, NoticeKind};
pub use outbox::Outbox;
pub use push::{signature, Outcome, Push};

use crate::config::SmtpConfig;
use crate::domain::{Alert, AlertId, ChannelId, ChannelSettings, DeliveryStatus, UserId};

/// A delivery attempt's outcome, recorded: announced for live pages and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub alert: AlertId,
    pub user: UserId,
    pub channel: ChannelId,
    pub status: DeliveryStatus,
}

/// The alert as the API shows it, for webhook bodies; given by whoever knows the API's shape.
pub type RenderAlert = Arc<dyn Fn(&Alert) -> serde_json::Value + Send + Sync>;

/// Everything that sends: SMTP (when configured) and the HTTP client.
#[derive(Clone)]
pub struct Senders {
    pub mailer: Option<Mailer>,
    pub push: Push,
    pub public_url: String,
}

impl Senders {
    /// Sends `notice` through `settings` now.
    pub async fn send(
        &self,
        settings: &ChannelSettings,
        notice: &Notice,
        key: &str,
        alert: Option<serde_json::Value>,
    ) -> Outcome {
        match settings {
            ChannelSettings::Email { address } => {
                let Some(mailer) = &self.mailer else {
                    return Outcome::Retry {
                        error: "smtp.host is not set: email waits until SMTP is configured"
                            .to_string(),
                        after: None,
                    };
                };
                let message =
                    match message::compose(notice, address, key, &mailer.from, &self.public_url) {
                        Ok(message) => message,
                        Err(err) => return Outcome::Failed(err),
                    };
                match mailer.send(message).await {
                    Ok(reply) => Outcome::Sent(reply),
                    Err(SendError {
                        permanent: true,
                        message,
                    }) => Outcome::Failed(message),
                    Err(SendError { message, .. }) => Outcome::Retry {
                        error: message,
                        after: None,
                    },
                }
            }
            _ => self.push.send(settings, notice, key, alert).await,
        }
    }
}

/// The wait before attempt `attempts + 1`: `retry_initial` doubling up to `retry_max`.
pub fn retry_delay(config: &SmtpConfig, attempts: i64) -> Duration {
    let initial = config.retry_initial.get();
    let factor = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
    initial.saturating_mul(factor).min(config.retry_max.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let config = SmtpConfig::default();
        let secs: Vec<u64> = (0..9).map(|a| retry_delay(&config, a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
