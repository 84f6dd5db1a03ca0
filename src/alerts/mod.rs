//! The alert use-cases, in one place: create, delete and read a user's alerts, and react to
//! fires once they are committed. HTTP handlers and background workers call these; none of
//! them stores, arms or invalidates anything on its own.
//!
//! Create: check the symbol → choose the condition → store (with the per-user cap) → arm the
//! matcher → tell listeners the owner's alerts changed. Delete mirrors it. A committed fire:
//! tell listeners the owners' alerts changed → count it → wake the outbox → publish it.

mod events;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{broadcast, Notify};

pub use events::AlertEvent;

use crate::clock::now_millis;
use crate::domain::percent::{can_fall, check_percent, check_window};
use crate::domain::{
    Alert, AlertEdit, AlertId, ChannelId, Condition, Distance, Move, NewAlert, Price, Repeat,
    Status, Symbol, UserId,
};
use crate::market::Prices;
use crate::matcher::Matcher;
use crate::metrics::Metrics;
use crate::store::{AlertFilter, AlertPage, Committed, FirePage, Store, StoreError};

/// Live listeners a slow reader may fall behind by before it skips ahead.
const EVENT_BUFFER: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("unknown symbol {0}: the exchange does not list it")]
    UnknownSymbol(Symbol),
    #[error("alert {0} not found")]
    NotFound(AlertId),
    #[error("channel {0} is not one of your channels")]
    UnknownChannel(i64),
    #[error(
        "repeat.rearm {0} is not below the target {1}: an alert waiting for a rise to it could \
         never re-arm"
    )]
    NeverRearms(Distance, Price),
    #[error("{0}")]
    Invalid(String),
    #[error("percent_down by {0} % could never fire: prices stay above zero")]
    NeverFires(Price),
    #[error("expires_at {} is not in the future", crate::clock::format_millis(*.0))]
    ExpiryPassed(i64),
    #[error(
        "alert {0} expired at {at}: re-arming it needs a new expires_at in the future",
        at = crate::clock::format_millis(*.1)
    )]
    ExpiryRequired(AlertId, i64),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AlertError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownChannel(id) => AlertError::UnknownChannel(id),
            StoreError::ExpiryRequired { id, at } => AlertError::ExpiryRequired(AlertId(id), at),
            other => AlertError::Store(other),
        }
    }
}

/// What an alert watches, as asked: `resolve` checks it whole.
#[derive(Clone, Copy, Debug)]
struct Shape {
    target: Option<Price>,
    condition: Option<Condition>,
    percent: Option<Price>,
    window_ms: Option<i64>,
    repeat: Option<Repeat>,
}

/// What a user asks for, checked for shape by the caller; the condition may be left open.
#[derive(Clone, Debug)]
pub struct AlertRequest {
    pub symbol: Symbol,
    /// Required for `above`/`below`, not given for a percent alert.
    pub target: Option<Price>,
    /// A percent alert's move: above 0, at most 1000...
    pub percent: Option<Price>,
    /// ...within this many milliseconds (1m to 24h).
    pub window_ms: Option<i64>,
    /// `None`: the last known price decides (see `Condition::for_target`).
    pub condition: Option<Condition>,
    /// The channels to notify; empty: every enabled channel of the user.
    pub channels: Vec<ChannelId>,
    pub note: Option<String>,
    pub repeat: Option<Repeat>,
    pub expires_at: Option<i64>,
}

/// What a user asks to change in an alert; `None` leaves that part as it is.
#[derive(Clone, Debug, Default)]
pub struct AlertEditRequest {
    pub target: Option<Price>,
    pub percent: Option<Price>,
    pub window_ms: Option<i64>,
    /// `Some(None)`: the last known price decides, as at creation.
    pub condition: Option<Option<Condition>>,
    /// `Some(None)` removes the note.
    pub note: Option<Option<String>>,
    /// `Some(empty)`: every enabled channel of the user.
    pub channels: Option<Vec<ChannelId>>,
    /// `Some(None)` makes it one-shot.
    pub repeat: Option<Option<Repeat>>,
    /// `Some(None)`: it never expires.
    pub expires_at: Option<Option<i64>>,
}

/// `value` when `keep` says so: what an edit keeps of the alert as it was.
fn kept<T>(value: Option<T>, keep: bool) -> Option<T> {
    value.filter(|_| keep)
}

/// An expiry given now must lie ahead.
fn check_expiry(expires_at: Option<i64>) -> Result<(), AlertError> {
    match expires_at {
        Some(at) if at <= now_millis() => Err(AlertError::ExpiryPassed(at)),
        _ => Ok(()),
    }
}

/// A repeating alert must be able to re-arm: one that may watch for a rise needs a reset price
/// above zero.
fn check_rearm(
    target: Price,
    condition: Condition,
    repeat: Option<Repeat>,
) -> Result<(), AlertError> {
    match repeat.and_then(|r| r.rearm) {
        Some(rearm) if !rearm.can_rearm(target, condition) => {
            Err(AlertError::NeverRearms(rearm, target))
        }
        _ => Ok(()),
    }
}

/// Called with the owner whenever one of their alerts changed, before the change is answered:
/// the API drops that user's cached lists here.
pub type OnChange = Arc<dyn Fn(UserId) + Send + Sync>;

pub struct Alerts {
    store: Store,
    matcher: Arc<Matcher>,
    prices: Arc<Prices>,
    metrics: Arc<Metrics>,
    max_per_user: u32,
    /// Poked when fires are committed, so the outbox delivers at once.
    outbox_wake: Arc<Notify>,
    on_change: OnChange,
    events: broadcast::Sender<AlertEvent>,
}

impl Alerts {
    pub fn new(
        store: Store,
        matcher: Arc<Matcher>,
        prices: Arc<Prices>,
        metrics: Arc<Metrics>,
        max_per_user: u32,
        outbox_wake: Arc<Notify>,
        on_change: OnChange,
    ) -> Self {
        Self {
            store,
            matcher,
            prices,
            metrics,
            max_per_user,
            outbox_wake,
            on_change,
            events: broadcast::channel(EVENT_BUFFER).0,
        }
    }

    /// Fires as they are committed, for live pages and tests.
    pub fn subscribe(&self) -> broadcast::Receiver<AlertEvent> {
        self.events.subscribe()
    }

    /// Stores an armed alert for `user` and arms it.
    pub async fn create(&self, user: UserId, request: AlertRequest) -> Result<Alert, AlertError> {
        if self.prices.is_listed(&request.symbol) == Some(false) {
            return Err(AlertError::UnknownSymbol(request.symbol));
        }
        let shape = Shape {
            target: request.target,
            condition: request.condition,
            percent: request.percent,
            window_ms: request.window_ms,
            repeat: request.repeat,
        };
        let (target, condition, percent) = self.resolve(&request.symbol, shape)?;
        check_expiry(request.expires_at)?;
        let new = NewAlert {
            symbol: request.symbol,
            target,
            condition,
            percent,
            channels: request.channels,
            note: request.note,
            repeat: request.repeat,
            expires_at: request.expires_at,
        };
        let alert = self
            .store
            .create_alert(user, new, self.max_per_user)
            .await?;
        self.matcher.arm(&alert);
        (self.on_change)(user);
        Ok(alert)
    }

    /// What an alert watches, from what was asked: a target and side (the side from the last
    /// known price when not given), or a move in percent within a window; checked whole.
    fn resolve(
        &self,
        symbol: &Symbol,
        shape: Shape,
    ) -> Result<(Price, Condition, Option<Move>), AlertError> {
        let invalid = |msg: &str| Err(AlertError::Invalid(msg.to_string()));
        let rearm = shape.repeat.and_then(|r| r.rearm);
        if shape.condition.is_some_and(Condition::is_percent) {
            let condition = shape.condition.unwrap_or(Condition::PercentMove);
            if shape.target.is_some() {
                return invalid(
                    "target_price is not given for a percent alert: it fires on a move from the \
                     low or high of its window",
                );
            }
            let (Some(percent), Some(window_ms)) = (shape.percent, shape.window_ms) else {
                return invalid("a percent alert needs percent and window");
            };
            check_percent(percent).map_err(|e| AlertError::Invalid(format!("percent {e}")))?;
            check_window(window_ms).map_err(|e| AlertError::Invalid(format!("window {e}")))?;
            if rearm.is_some() {
                return invalid(
                    "repeat.rearm does not apply to a percent alert: it re-arms after its \
                     cooldown, its window starting afresh at the fire",
                );
            }
            if condition == Condition::PercentDown && !can_fall(percent) {
                return Err(AlertError::NeverFires(percent));
            }
            let rule = Move { percent, window_ms };
            return Ok((Price::from_units(0, 0), condition, Some(rule)));
        }
        let Some(target) = shape.target else {
            return invalid("target_price is required");
        };
        if shape.percent.is_some() || shape.window_ms.is_some() {
            return invalid(
                "percent and window are only for percent_up, percent_down and percent_move",
            );
        }
        if shape.repeat.is_some() && rearm.is_none() {
            return invalid("repeat.rearm is required");
        }
        let condition = shape.condition.unwrap_or_else(|| {
            let last = self.prices.get(symbol).map(|(price, _)| price);
            Condition::for_target(target, last)
        });
        check_rearm(target, condition, shape.repeat)?;
        Ok((target, condition, None))
    }

    /// Changes an armed alert; the matcher swaps the definitions in one step. `condition:
    /// Some(None)` lets the last known price choose the side, as at creation.
    pub async fn edit(
        &self,
        user: UserId,
        id: AlertId,
        request: AlertEditRequest,
    ) -> Result<Alert, AlertError> {
        check_expiry(request.expires_at.flatten())?;
        // What it watches changes: the whole is checked, from the alert as it is (read once).
        let reshaped = request.target.is_some()
            || request.condition.is_some()
            || request.percent.is_some()
            || request.window_ms.is_some()
            || request.repeat.is_some();
        let (target, condition, percent) = if reshaped {
            let now = self.get(user, id).await?;
            let was_percent = now.condition.is_percent();
            let becomes_percent = match request.condition {
                Some(condition) => condition.is_some_and(Condition::is_percent),
                None => was_percent,
            };
            let shape = Shape {
                target: request
                    .target
                    .or(kept(Some(now.target), !was_percent && !becomes_percent)),
                condition: match request.condition {
                    Some(condition) => condition,
                    None => Some(now.condition),
                },
                percent: request
                    .percent
                    .or(kept(now.percent.map(|m| m.percent), becomes_percent)),
                window_ms: request
                    .window_ms
                    .or(kept(now.percent.map(|m| m.window_ms), becomes_percent)),
                repeat: request.repeat.unwrap_or(now.repeat),
            };
            let (target, condition, percent) = self.resolve(&now.symbol, shape)?;
            (Some(target), Some(condition), Some(percent))
        } else {
            (None, None, None)
        };
        let edit = AlertEdit {
            target,
            condition,
            percent,
            note: request.note,
            channels: request.channels,
            repeat: request.repeat,
            expires_at: request.expires_at,
        };
        let (old, new) = self
            .store
            .edit_alert(user, id, edit)
            .await?
            .ok_or(AlertError::NotFound(id))?;
        self.matcher.replace(&old, &new);
        (self.on_change)(user);
        self.get(user, id).await
    }

    /// Arms a fired or expired alert again, with a new `expires_at` when given (needed when
    /// its own has passed); trades before now never fire it.
    pub async fn rearm(
        &self,
        user: UserId,
        id: AlertId,
        expires_at: Option<i64>,
    ) -> Result<Alert, AlertError> {
        check_expiry(expires_at)?;
        let alert = self
            .store
            .rearm_alert(user, id, expires_at)
            .await?
            .ok_or(AlertError::NotFound(id))?;
        self.matcher.arm(&alert);
        (self.on_change)(user);
        self.get(user, id).await
    }

    /// Marks the alert deleted (kept as history) and disarms it.
    pub async fn delete(&self, user: UserId, id: AlertId) -> Result<Alert, AlertError> {
        let alert = self
            .store
            .delete_alert(user, id)
            .await?
            .ok_or(AlertError::NotFound(id))?;
        self.matcher.disarm(&alert);
        (self.on_change)(user);
        Ok(alert)
    }

    /// One of the user's alerts; a deleted one is gone for this purpose.
    pub async fn get(&self, user: UserId, id: AlertId) -> Result<Alert, AlertError> {
        self.store
            .get_alert(user, id)
            .await?
            .filter(|alert| alert.status != Status::Deleted)
            .ok_or(AlertError::NotFound(id))
    }

    /// A page of the fires of one of the user's alerts, newest first.
    pub async fn fires(
        &self,
        user: UserId,
        id: AlertId,
        limit: i64,
        offset: i64,
    ) -> Result<FirePage, AlertError> {
        self.store
            .fire_history(user, id, limit, offset)
            .await?
            .ok_or(AlertError::NotFound(id))
    }

    /// A page of the fires of all the user's alerts (not deleted), newest first.
    pub async fn recent_fires(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<FirePage, AlertError> {
        Ok(self.store.recent_fires(user, limit, offset).await?)
    }

    /// A page of the user's alerts, newest first.
    pub async fn list(
        &self,
        user: UserId,
        filter: AlertFilter,
        limit: i64,
        offset: i64,
    ) -> Result<AlertPage, AlertError> {
        Ok(self.store.list_alerts(user, filter, limit, offset).await?)
    }

    /// What follows a committed fire transaction (called by the matcher's persister).
    pub fn committed(&self, committed: Committed) {
        for user in &committed.users {
            (self.on_change)(*user);
        }
        if !committed.triggered.is_empty() {
            self.metrics
                .fires
                .fetch_add(committed.triggered.len() as u64, Ordering::Relaxed);
            self.outbox_wake.notify_one();
        }
        // Nobody listening is fine: it is committed either way. (Fires first: in a batch, an
        // expiry follows the fires before it.)
        for fired in committed.triggered {
            let _ = self.events.send(AlertEvent::Triggered(fired));
        }
        for (id, user) in committed.expired {
            let _ = self.events.send(AlertEvent::Expired { id, user });
        }
    }
}
