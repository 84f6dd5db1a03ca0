//! The delivery worker. It knows which channels have deliveries due and keeps each busy up to
//! its share: `notify.concurrency_per_channel` in flight per channel, `concurrency_per_kind` per
//! kind. A finished delivery refills its own channel from the database (an index read of a few
//! rows); the full list of channels with due rows is read only when something new may be due (a
//! fire was committed, a retry time came). A channel that asked to be retried later (429, a
//! timeout, 5xx) is held back as a whole until then, so a dead channel costs one attempt per
//! backoff, never more than its share, and never anyone else's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{retry_delay, Delivered, Notice, Outcome, RenderAlert, Senders};
use crate::clock::now_millis;
use crate::config::SmtpConfig;
use crate::domain::{ChannelId, ChannelKind, ChannelSettings, DeliveryStatus};
use crate::metrics::{Metrics, SmtpState};
use crate::store::{DueDelivery, Store};

/// Longest sleep when nothing is due, in case a wake-up is missed.
const IDLE: Duration = Duration::from_secs(60);

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

/// A delivery task finished.
struct Done {
    id: i64,
    channel: ChannelId,
    kind: ChannelKind,
    /// The channel's other deliveries wait until then (it asked to be retried).
    hold_until: Option<i64>,
}

/// What the worker knows: deliveries in flight, and channels that may have more due.
#[derive(Default)]
struct Schedule {
    in_flight: HashMap<ChannelId, HashSet<i64>>,
    per_kind: HashMap<ChannelKind, usize>,
    /// Channels that may have due deliveries not yet started (kind for the per-kind share).
    active: BTreeMap<ChannelId, ChannelKind>,
}

impl Schedule {
    fn start(&mut self, id: i64, channel: ChannelId, kind: ChannelKind) {
        self.in_flight.entry(channel).or_default().insert(id);
        *self.per_kind.entry(kind).or_default() += 1;
    }

    fn finish(&mut self, done: &Done) {
        let removed = self
            .in_flight
            .get_mut(&done.channel)
            .is_some_and(|ids| ids.remove(&done.id));
        if !removed {
            return;
        }
        if self
            .in_flight
            .get(&done.channel)
            .is_some_and(HashSet::is_empty)
        {
            self.in_flight.remove(&done.channel);
        }
        if let Some(n) = self.per_kind.get_mut(&done.kind) {
            *n -= 1;
        }
        match done.hold_until {
            // Held: its rows are not due before then; the next read of due channels finds it.
            Some(_) => {
                self.active.remove(&done.channel);
            }
            // It may have more: look.
            None => {
                self.active.insert(done.channel, done.kind);
            }
        }
    }

    /// How many more deliveries `channel` may start now.
    fn room(
        &self,
        channel: ChannelId,
        kind: ChannelKind,
        per_channel: usize,
        per_kind: usize,
    ) -> usize {
        let busy = self.in_flight.get(&channel).map_or(0, HashSet::len);
        let kind_busy = self.per_kind.get(&kind).copied().unwrap_or(0);
        per_channel
            .saturating_sub(busy)
            .min(per_kind.saturating_sub(kind_busy))
    }

    fn idle(&self) -> bool {
        self.in_flight.is_empty()
    }
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
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut schedule = Schedule::default();
        let mut tasks = JoinSet::new();
        // Read which channels have rows due: at start, then whenever something new may be due.
        let mut look = true;
        loop {
            while let Ok(done) = done_rx.try_recv() {
                schedule.finish(&done);
            }
            while tasks.try_join_next().is_some() {}
            if shutdown.is_cancelled() {
                break;
            }
            if look {
                look = false;
                match outbox.store.due_channels(now_millis(), with_email).await {
                    Ok(due) => schedule.active.extend(due),
                    Err(err) => tracing::error!(error = %err, "cannot read the outbox"),
                }
            }
            let started = outbox.refill(&mut schedule, &mut tasks, &done_tx).await;
            if started > 0 {
                continue;
            }
            let wait = if schedule.idle() {
                match outbox.store.next_delivery_due(with_email).await {
                    Ok(Some(at)) => {
                        Duration::from_millis((at - now_millis()).max(0) as u64).min(IDLE)
                    }
                    _ => IDLE,
                }
            } else {
                // A finished delivery says when to look again; a retry time may come first.
                IDLE.min(Duration::from_secs(1))
            };
            tokio::select! {
                done = done_rx.recv() => if let Some(done) = done {
                    schedule.finish(&done);
                },
                _ = outbox.wake.notified() => look = true,
                _ = tokio::time::sleep(wait) => look = true,
                _ = shutdown.cancelled() => break,
            }
        }
        // Sends in progress may finish (each is bounded by its timeout); the caller's grace
        // period ends the rest, which stay pending.
        while tasks.join_next().await.is_some() {}
    }

    /// Starts what the active channels have room for; returns how many started.
    async fn refill(
        self: &Arc<Self>,
        schedule: &mut Schedule,
        tasks: &mut JoinSet<()>,
        done_tx: &mpsc::UnboundedSender<Done>,
    ) -> usize {
        let mut started = 0;
        let channels: Vec<(ChannelId, ChannelKind)> =
            schedule.active.iter().map(|(c, k)| (*c, *k)).collect();
        for (channel, kind) in channels {
            let room = schedule.room(channel, kind, self.per_channel, self.per_kind);
            if room == 0 {
                continue;
            }
            let busy: Vec<i64> = schedule
                .in_flight
                .get(&channel)
                .map(|ids| ids.iter().copied().collect())
                .unwrap_or_default();
            let due = match self
                .store
                .due_for_channel(channel, now_millis(), room as i64, busy)
                .await
            {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the outbox");
                    break;
                }
            };
            if due.len() < room {
                // Everything due on it is now in flight.
                schedule.active.remove(&channel);
            }
            for delivery in due {
                schedule.start(delivery.id, channel, kind);
                started += 1;
                let (outbox, done) = (self.clone(), done_tx.clone());
                tasks.spawn(async move {
                    let id = delivery.id;
                    let hold_until = outbox.deliver(delivery).await;
                    let _ = done.send(Done {
                        id,
                        channel,
                        kind,
                        hold_until,
                    });
                });
            }
        }
        started
    }

    /// Delivers one row and records the outcome; returns when its channel should next be
    /// tried, if it asked to be retried.
    async fn deliver(&self, delivery: DueDelivery) -> Option<i64> {
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
        let mut hold = None;
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
                    // The service is down or throttling: its other deliveries wait as long.
                    hold = Some(next);
                    let result = match self.store.mark_retry(delivery.id, next, error).await {
                        Ok(()) => self.store.hold_channel(delivery.channel.id, next).await,
                        Err(err) => Err(err),
                    };
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
        hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_come_back_and_a_held_channel_leaves_the_active_set() {
        let mut s = Schedule::default();
        let (a, b) = (ChannelId(1), ChannelId(2));
        let hook = ChannelKind::Webhook;
        s.start(10, a, hook);
        s.start(11, a, hook);
        s.start(20, b, hook);
        assert_eq!(s.room(a, hook, 2, 16), 0);
        assert_eq!(s.room(b, hook, 2, 3), 0, "the kind's share is used up");
        let done = |id, channel, hold_until| Done {
            id,
            channel,
            kind: hook,
            hold_until,
        };
        s.finish(&done(10, a, None));
        s.finish(&done(10, a, None));
        assert_eq!(s.room(a, hook, 2, 16), 1);
        assert!(
            s.active.contains_key(&a),
            "a finished channel is looked at again"
        );
        s.finish(&done(20, b, Some(i64::MAX)));
        assert!(
            !s.active.contains_key(&b),
            "a held channel waits for its time"
        );
        s.finish(&done(11, a, None));
        assert!(s.idle());
    }
}
