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

use crate::domain::{
    Alert, AlertEdit, AlertId, ChannelId, Condition, Distance, NewAlert, Price, Repeat, Status,
    Symbol, UserId,
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
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AlertError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownChannel(id) => AlertError::UnknownChannel(id),
            other => AlertError::Store(other),
        }
    }
}

/// What a user asks for, checked for shape by the caller; the condition may be left open.
#[derive(Clone, Debug)]
pub struct AlertRequest {
    pub symbol: Symbol,
    pub target: Price,
    /// `None`: the last known price decides (see `Condition::for_target`).
    pub condition: Option<Condition>,
    /// The channels to notify; empty: every enabled channel of the user.
    pub channels: Vec<ChannelId>,
    pub note: Option<String>,
    pub repeat: Option<Repeat>,
}

/// What a user asks to change in an alert; `None` leaves that part as it is.
#[derive(Clone, Debug, Default)]
pub struct AlertEditRequest {
    pub target: Option<Price>,
    /// `Some(None)`: the last known price decides, as at creation.
    pub condition: Option<Option<Condition>>,
    /// `Some(None)` removes the note.
    pub note: Option<Option<String>>,
    /// `Some(empty)`: every enabled channel of the user.
    pub channels: Option<Vec<ChannelId>>,
    /// `Some(None)` makes it one-shot.
    pub repeat: Option<Option<Repeat>>,
}

/// A repeating alert must be able to re-arm: one that may watch for a rise needs a reset price
/// above zero.
fn check_rearm(
    target: Price,
    condition: Condition,
    repeat: Option<Repeat>,
) -> Result<(), AlertError> {
    match repeat {
        Some(r) if !r.rearm.can_rearm(target, condition) => {
            Err(AlertError::NeverRearms(r.rearm, target))
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
        let condition = request.condition.unwrap_or_else(|| {
            let last = self.prices.get(&request.symbol).map(|(price, _)| price);
            Condition::for_target(request.target, last)
        });
        check_rearm(request.target, condition, request.repeat)?;
        let new = NewAlert {
            symbol: request.symbol,
            target: request.target,
            condition,
            channels: request.channels,
            note: request.note,
            repeat: request.repeat,
        };
        let alert = self
            .store
            .create_alert(user, new, self.max_per_user)
            .await?;
        self.matcher.arm(&alert);
        (self.on_change)(user);
        Ok(alert)
    }

    /// Changes an armed alert; the matcher swaps the definitions in one step. `condition:
    /// Some(None)` lets the last known price choose the side, as at creation.
    pub async fn edit(
        &self,
        user: UserId,
        id: AlertId,
        request: AlertEditRequest,
    ) -> Result<Alert, AlertError> {
        // The alert as it is, read once, when the edit's side or re-arm check depends on it.
        let check = request.target.is_some() || matches!(request.repeat, Some(Some(_)));
        let current = if check || request.condition == Some(None) {
            Some(self.get(user, id).await?)
        } else {
            None
        };
        let condition = match (request.condition, &current) {
            (Some(Some(condition)), _) => Some(condition),
            // As at creation: from its (new or current) target and the last known price.
            (Some(None), Some(now)) => {
                let last = self.prices.get(&now.symbol).map(|(price, _)| price);
                Some(Condition::for_target(
                    request.target.unwrap_or(now.target),
                    last,
                ))
            }
            _ => None,
        };
        if let (true, Some(now)) = (check, &current) {
            check_rearm(
                request.target.unwrap_or(now.target),
                condition.unwrap_or(now.condition),
                request.repeat.unwrap_or(now.repeat),
            )?;
        }
        let edit = AlertEdit {
            target: request.target,
            condition,
            note: request.note,
            channels: request.channels,
            repeat: request.repeat,
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

    /// Arms a fired alert again; trades before now never fire it.
    pub async fn rearm(&self, user: UserId, id: AlertId) -> Result<Alert, AlertError> {
        let alert = self
            .store
            .rearm_alert(user, id)
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
        if committed.triggered.is_empty() {
            return;
        }
        self.metrics
            .fires
            .fetch_add(committed.triggered.len() as u64, Ordering::Relaxed);
        self.outbox_wake.notify_one();
        for fired in committed.triggered {
            // Nobody listening is fine: the fire is committed either way.
            let _ = self.events.send(AlertEvent::Triggered(fired));
        }
    }
}
