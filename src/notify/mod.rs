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
mod push;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use guard::{is_public, Guard};
pub use mailer::{Mailer, MailerError, SendError};
pub use notice::{Notice, NoticeKind};
pub use push::{signature, Outcome, Push};

use crate::clock::now_millis;
use crate::config::SmtpConfig;
use crate::domain::{
    Alert, AlertId, ChannelId, ChannelKind, ChannelSettings, DeliveryStatus, UserId,
};
use crate::metrics::{Metrics, SmtpState};
use crate::store::{DueDelivery, Skip, Store};

/// Rows fetched per pass.
const BATCH: i64 = 64;
/// Longest sleep between passes when nothing is due, in case a wake-up is missed.
const IDLE: Duration = Duration::from_secs(60);

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

pub struct Outbox {
    pub store: Store,
    pub senders: Senders,
    /// The retry schedule, shared by every channel.
    pub config: SmtpConfig,
    pub per_kind: usize,
    pub per_channel: usize,
    /// Poked when a fire is committed, so delivery starts at once.
    pub wake: Arc<Notify>,
    pub events: broadcast::Sender<Delivered>,
    pub metrics: Arc<Metrics>,
    pub render_alert: RenderAlert,
}

/// The wait before attempt `attempts + 1`: `retry_initial` doubling up to `retry_max`.
pub fn retry_delay(config: &SmtpConfig, attempts: i64) -> Duration {
    let initial = config.retry_initial.get();
    let factor = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
    initial.saturating_mul(factor).min(config.retry_max.get())
}

/// What the worker knows about deliveries in flight.
#[derive(Default)]
struct InFlight {
    ids: HashSet<i64>,
    per_channel: HashMap<ChannelId, usize>,
    per_kind: HashMap<ChannelKind, usize>,
}

impl Outbox {
    pub async fn run(self, shutdown: CancellationToken) {
        let outbox = Arc::new(self);
        let with_email = outbox.senders.mailer.is_some();
        match &outbox.senders.mailer {
            Some(mailer) => {
                tracing::info!(server = %mailer.server, "delivery started (email and push)")
            }
            None => tracing::info!("delivery started (push only: smtp.host is not set)"),
        }
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(i64, ChannelId, ChannelKind)>();
        let mut flight = InFlight::default();
        let mut tasks = JoinSet::new();
        loop {
            while let Ok((id, channel, kind)) = done_rx.try_recv() {
                flight.finish(id, channel, kind);
            }
            while tasks.try_join_next().is_some() {}
            let skip = flight.skip(outbox.per_channel, outbox.per_kind);
            let due = match outbox
                .store
                .due_deliveries(now_millis(), BATCH, skip, with_email)
                .await
            {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the outbox");
                    Vec::new()
                }
            };
            let mut started = 0;
            for delivery in due {
                let (channel, kind) = (delivery.channel.id, delivery.kind());
                // Several rows of one channel can come in one batch.
                if flight.per_channel.get(&channel).copied().unwrap_or(0) >= outbox.per_channel
                    || flight.per_kind.get(&kind).copied().unwrap_or(0) >= outbox.per_kind
                {
                    continue;
                }
                flight.start(delivery.id, channel, kind);
                started += 1;
                let (outbox, done) = (outbox.clone(), done_tx.clone());
                tasks.spawn(async move {
                    let id = delivery.id;
                    outbox.deliver(delivery).await;
                    let _ = done.send((id, channel, kind));
                });
            }
            if shutdown.is_cancelled() {
                break;
            }
            // More may be due right away when this pass started some: look again at once.
            if started > 0 {
                continue;
            }
            let wait = if flight.ids.is_empty() {
                match outbox.store.next_delivery_due(with_email).await {
                    Ok(Some(at)) => {
                        Duration::from_millis((at - now_millis()).max(0) as u64).min(IDLE)
                    }
                    _ => IDLE,
                }
            } else {
                // Rows may be due but held back by full channels: a finished one says when.
                IDLE
            };
            tokio::select! {
                done = done_rx.recv() => if let Some((id, channel, kind)) = done {
                    flight.finish(id, channel, kind);
                },
                _ = outbox.wake.notified() => {},
                _ = tokio::time::sleep(wait) => {},
                _ = shutdown.cancelled() => break,
            }
        }
        // Sends in progress may finish (each is bounded by its timeout); the caller's grace
        // period ends the rest, which stay pending.
        while tasks.join_next().await.is_some() {}
    }

    async fn deliver(&self, delivery: DueDelivery) {
        let notice = Notice::for_delivery(&delivery, &self.senders.public_url);
        let alert = match delivery.channel.settings {
            ChannelSettings::Webhook { .. } => self
                .store
                .get_alert(delivery.user_id, delivery.alert_id)
                .await
                .ok()
                .flatten()
                .map(|alert| (self.render_alert)(&alert)),
            _ => None,
        };
        let outcome = self
            .senders
            .send(&delivery.channel.settings, &notice, &delivery.key, alert)
            .await;
        let kind = delivery.kind();
        if kind == ChannelKind::Email {
            let state = match outcome {
                Outcome::Retry { .. } => SmtpState::Failing,
                _ => SmtpState::Ok,
            };
            self.metrics.set_smtp(state);
        }
        let (status, result) = match outcome {
            Outcome::Sent(reply) => {
                tracing::info!(delivery = delivery.id, alert = %delivery.alert_id, %kind, %reply, "notification sent");
                self.metrics
                    .notifications_sent
                    .fetch_add(1, Ordering::Relaxed);
                let result = self.store.mark_sent(delivery.id, now_millis()).await;
                (DeliveryStatus::Sent, result)
            }
            Outcome::Failed(answer) => {
                tracing::warn!(delivery = delivery.id, %kind, error = %answer, "notification refused permanently");
                self.metrics
                    .notifications_failed
                    .fetch_add(1, Ordering::Relaxed);
                let result = self.store.mark_failed(delivery.id, answer).await;
                (DeliveryStatus::Failed, result)
            }
            Outcome::Retry { error, after } => {
                let now = now_millis();
                let give_up_at =
                    delivery.created_at + self.config.give_up_after.get().as_millis() as i64;
                if now >= give_up_at {
                    let error = format!("gave up after {}: {error}", self.config.give_up_after);
                    tracing::warn!(delivery = delivery.id, %kind, %error, "notification failed");
                    self.metrics
                        .notifications_failed
                        .fetch_add(1, Ordering::Relaxed);
                    let result = self.store.mark_failed(delivery.id, error).await;
                    (DeliveryStatus::Failed, result)
                } else {
                    let delay =
                        after.unwrap_or_else(|| retry_delay(&self.config, delivery.attempts));
                    tracing::warn!(delivery = delivery.id, %kind, %error, retry_in = ?delay, "notification delayed");
                    let next = (now + delay.as_millis() as i64).min(give_up_at);
                    let result = self.store.mark_retry(delivery.id, next, error).await;
                    (DeliveryStatus::Pending, result)
                }
            }
        };
        self.metrics.delivery(kind, status);
        match result {
            Ok(()) => {
                let _ = self.events.send(Delivered {
                    alert: delivery.alert_id,
                    user: delivery.user_id,
                    channel: delivery.channel.id,
                    status,
                });
            }
            // The row stays pending and is tried again: at least once, never lost.
            Err(err) => tracing::error!(error = %err, "cannot record a delivery outcome"),
        }
    }
}

impl InFlight {
    /// What the next fetch leaves out: rows in flight, and channels and kinds with no room.
    fn skip(&self, per_channel: usize, per_kind: usize) -> Skip {
        Skip {
            ids: self.ids.iter().copied().collect(),
            channels: self
                .per_channel
                .iter()
                .filter(|(_, n)| **n >= per_channel)
                .map(|(c, _)| c.0)
                .collect(),
            kinds: self
                .per_kind
                .iter()
                .filter(|(_, n)| **n >= per_kind)
                .map(|(k, _)| k.as_str().to_string())
                .collect(),
        }
    }

    fn start(&mut self, id: i64, channel: ChannelId, kind: ChannelKind) {
        self.ids.insert(id);
        *self.per_channel.entry(channel).or_default() += 1;
        *self.per_kind.entry(kind).or_default() += 1;
    }

    fn finish(&mut self, id: i64, channel: ChannelId, kind: ChannelKind) {
        if !self.ids.remove(&id) {
            return;
        }
        for count in [
            self.per_channel.get_mut(&channel),
            self.per_kind.get_mut(&kind),
        ]
        .into_iter()
        .flatten()
        {
            *count -= 1;
        }
        self.per_channel.retain(|_, n| *n > 0);
        self.per_kind.retain(|_, n| *n > 0);
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

    #[test]
    fn in_flight_counts_come_back_to_zero() {
        let mut f = InFlight::default();
        f.start(1, ChannelId(7), ChannelKind::Webhook);
        f.start(2, ChannelId(7), ChannelKind::Webhook);
        f.finish(1, ChannelId(7), ChannelKind::Webhook);
        f.finish(1, ChannelId(7), ChannelKind::Webhook);
        assert_eq!(f.per_channel.get(&ChannelId(7)), Some(&1));
        f.finish(2, ChannelId(7), ChannelKind::Webhook);
        assert!(f.per_channel.is_empty() && f.per_kind.is_empty() && f.ids.is_empty());
    }
}
