//! Notifications that are never lost: the outbox worker delivers each fired alert's row over
//! SMTP, retries temporary failures with exponential backoff, and records permanent ones. A row
//! is marked sent only after the server's final 250, so a crash can at worst repeat a send.

mod mailer;
pub mod message;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

pub use mailer::{Mailer, MailerError, SendError};

use crate::clock::now_millis;
use crate::config::SmtpConfig;
use crate::domain::{AlertId, DeliveryStatus, UserId};
use crate::metrics::{Metrics, SmtpState};
use crate::store::{OutboxItem, Store};

/// Rows fetched per pass.
const BATCH: i64 = 50;
/// Longest sleep between passes when nothing is due, in case a wake-up is missed.
const IDLE: Duration = Duration::from_secs(60);

/// A delivery attempt's outcome, recorded: announced for live pages and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub alert: AlertId,
    pub user: UserId,
    pub status: DeliveryStatus,
}

pub struct Outbox {
    pub store: Store,
    pub mailer: Mailer,
    pub config: SmtpConfig,
    pub public_url: String,
    /// Poked when a fire is committed, so delivery starts at once.
    pub wake: Arc<Notify>,
    pub events: broadcast::Sender<Delivered>,
    pub metrics: Arc<Metrics>,
}

/// The wait before attempt `attempts + 1`: `retry_initial` doubling up to `retry_max`.
pub fn retry_delay(config: &SmtpConfig, attempts: i64) -> Duration {
    let initial = config.retry_initial.get();
    let factor = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
    initial.saturating_mul(factor).min(config.retry_max.get())
}

impl Outbox {
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(server = %self.mailer.server, "email delivery started");
        loop {
            let due = match self.store.due_notifications(now_millis(), BATCH).await {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the outbox");
                    Vec::new()
                }
            };
            let busy = due.len() as i64 == BATCH;
            for item in due {
                // A send in progress is allowed to finish (bounded by smtp.timeout).
                self.deliver(item).await;
                if shutdown.is_cancelled() {
                    return;
                }
            }
            if busy {
                continue;
            }
            let wait = match self.store.next_notification_due().await {
                Ok(Some(at)) => Duration::from_millis((at - now_millis()).max(0) as u64).min(IDLE),
                _ => IDLE,
            };
            tokio::select! {
                _ = self.wake.notified() => {},
                _ = tokio::time::sleep(wait) => {},
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn deliver(&self, item: OutboxItem) {
        let message = match message::compose(&item, &self.mailer.from, &self.public_url) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(notification = item.id, error = %err, "cannot compose notification");
                self.record(
                    &item,
                    DeliveryStatus::Failed,
                    self.store.mark_failed(item.id, err).await,
                );
                return;
            }
        };
        match self.mailer.send(message).await {
            Ok(reply) => {
                self.metrics.set_smtp(SmtpState::Ok);
                self.metrics
                    .notifications_sent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(notification = item.id, alert = %item.alert_id, %reply, "notification sent");
                let result = self.store.mark_sent(item.id, now_millis()).await;
                self.record(&item, DeliveryStatus::Sent, result);
            }
            Err(SendError {
                permanent: true,
                message,
            }) => {
                self.metrics.set_smtp(SmtpState::Ok);
                self.metrics
                    .notifications_failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(notification = item.id, error = %message, "notification refused permanently");
                let result = self.store.mark_failed(item.id, message).await;
                self.record(&item, DeliveryStatus::Failed, result);
            }
            Err(SendError { message, .. }) => {
                self.metrics.set_smtp(SmtpState::Failing);
                let now = now_millis();
                let give_up_at =
                    item.created_at + self.config.give_up_after.get().as_millis() as i64;
                if now >= give_up_at {
                    let error = format!("gave up after {}: {message}", self.config.give_up_after);
                    tracing::warn!(notification = item.id, %error, "notification failed");
                    let result = self.store.mark_failed(item.id, error).await;
                    self.record(&item, DeliveryStatus::Failed, result);
                } else {
                    let delay = retry_delay(&self.config, item.attempts);
                    tracing::warn!(notification = item.id, error = %message, retry_in = ?delay, "notification delayed");
                    let next = (now + delay.as_millis() as i64).min(give_up_at);
                    let result = self.store.mark_retry(item.id, next, message).await;
                    self.record(&item, DeliveryStatus::Pending, result);
                }
            }
        }
    }

    fn record(
        &self,
        item: &OutboxItem,
        status: DeliveryStatus,
        result: Result<(), crate::store::StoreError>,
    ) {
        match result {
            Ok(()) => {
                let _ = self.events.send(Delivered {
                    alert: item.alert_id,
                    user: item.user_id,
                    status,
                });
            }
            // The row stays pending and is tried again: at least once, never lost.
            Err(err) => tracing::error!(error = %err, "cannot record a delivery outcome"),
        }
    }
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
