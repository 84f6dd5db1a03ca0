//! The alert matcher: the index of armed alerts, fed by trades, and the task that commits fires.

mod index;
mod persist;

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, watch};

pub use index::{
    Armed, Index, Kind, PercentAlert, PercentState, RepeatPhase, RepeatState, TradeOutcome,
};
pub use persist::{run_persister, Work};

use crate::domain::{Alert, Cursor, Price, Status, Symbol};

pub struct Matcher {
    index: Mutex<Index>,
    /// Bumped whenever the set of symbols with armed alerts changes.
    symbols_changed: watch::Sender<u64>,
    work: mpsc::UnboundedSender<Work>,
}

impl Matcher {
    /// The matcher and the receiving end of its work queue, for `run_persister`.
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Work>) {
        let (work, rx) = mpsc::unbounded_channel();
        let (symbols_changed, _) = watch::channel(0);
        let matcher = Arc::new(Self {
            index: Mutex::new(Index::default()),
            symbols_changed,
            work,
        });
        (matcher, rx)
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves a consistent index (every method finishes its
        // edits before returning), so a poisoned lock is still safe to use.
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify_symbols(&self) {
        self.symbols_changed.send_modify(|v| *v += 1);
    }

    /// Arms an alert (no-op for anything but `created`).
    pub fn arm(&self, alert: &Alert) {
        self.arm_in_place_of(None, alert);
    }

    /// Swaps an edited alert's old definition for its new one in one step: no trade sees
    /// neither or both.
    pub fn replace(&self, old: &Alert, new: &Alert) {
        self.arm_in_place_of(Some(old), new);
    }

    fn arm_in_place_of(&self, old: Option<&Alert>, alert: &Alert) {
        if alert.status != Status::Created {
            return;
        }
        let armed = armed(alert);
        // Committed a moment ago: catch up on the trades since it was armed, under the same
        // lock as `on_trade`, so no trade falls between the two.
        let (new_symbol, outcome) = {
            let mut index = self.index();
            let known = index.has_symbol(&alert.symbol);
            if let Some(old) = old {
                index.remove(old.id, &old.symbol, old.target);
            }
            if index.forgot_since(alert.symbol.as_str(), alert.armed_at) {
                tracing::warn!(
                    alert = %alert.id,
                    armed_at = alert.armed_at,
                    "alert armed later than the trades remembered since it was armed; the \
                     oldest of them were not checked against it (the machine is overloaded)"
                );
            }
            let outcome = index.insert_and_catch_up(
                alert.id,
                alert.symbol.clone(),
                alert.target,
                alert.condition,
                armed,
                kind(alert),
            );
            if !outcome.is_empty() {
                let _ = self.work.send(Work::Trade(outcome.clone()));
            }
            (!known && index.has_symbol(&alert.symbol), outcome)
        };
        tracing::debug!(
            alert = %alert.id,
            armed_at = alert.armed_at,
            fired_on_arrival = outcome.fired.len(),
            "alert armed"
        );
        if new_symbol {
            self.notify_symbols();
        }
    }

    /// Fills the index from the database, a page at a time; returns how many alerts are armed.
    pub async fn load(
        &self,
        store: &crate::store::Store,
    ) -> Result<usize, crate::store::StoreError> {
        const PAGE: i64 = 20_000;
        // The next page is read from SQLite (on the blocking pool) while this one is indexed.
        let fetch = |after: i64| {
            let store = store.clone();
            tokio::spawn(async move { store.armed_alerts_after(after, PAGE).await })
        };
        let mut next = Some(fetch(0));
        while let Some(reading) = next.take() {
            let page = reading
                .await
                .map_err(|err| crate::store::StoreError::Task(err.to_string()))??;
            let Some(last) = page.last() else { break };
            if page.len() as i64 == PAGE {
                next = Some(fetch(last.id.0));
            }
            let mut index = self.index();
            for alert in page {
                let armed = armed(&alert);
                let kind = kind(&alert);
                index.insert_kind(
                    alert.id,
                    alert.symbol,
                    alert.target,
                    alert.condition,
                    armed,
                    kind,
                );
            }
        }
        self.notify_symbols();
        Ok(self.armed())
    }

    pub fn disarm(&self, alert: &Alert) {
        let symbol_gone = {
            let mut index = self.index();
            index.remove(alert.id, &alert.symbol, alert.target);
            !index.has_symbol(&alert.symbol)
        };
        if symbol_gone {
            self.notify_symbols();
        }
    }

    /// Applies a trade (aggregate id `trade`) and queues what it fired for the persister.
    pub fn on_trade(&self, symbol: &str, price: Price, time: i64, trade: u64) -> usize {
        let (outcome, symbol_gone) = {
            let mut index = self.index();
            let outcome = index.on_trade(symbol, price, time, trade);
            let left = !outcome.fired.is_empty() || !outcome.expired.is_empty();
            let gone = left && !index.has_symbol(symbol);
            (outcome, gone)
        };
        let fired = outcome.fired.len();
        if !outcome.is_empty() {
            let _ = self.work.send(Work::Trade(outcome));
        }
        if symbol_gone {
            self.notify_symbols();
        }
        fired
    }

    /// Expires the alerts whose `expires_at` is at or before `through` on the symbols that
    /// `settled` says have every trade before `through` applied (the feed knows: connected,
    /// nothing being recovered). A symbol that trades expires its alerts at its first trade
    /// at or past the moment instead.
    pub fn expire_due(&self, through: i64, settled: impl Fn(&Symbol) -> bool) {
        let (outcome, symbols_gone) = {
            let mut index = self.index();
            let mut outcome = TradeOutcome::default();
            let mut gone = false;
            for symbol in index.expiring_by(through) {
                if settled(&symbol) {
                    let expired = index.expire_through(symbol.as_str(), through);
                    gone |= !expired.is_empty() && !index.has_symbol(&symbol);
                    outcome.expired.extend(expired.expired);
                }
            }
            (outcome, gone)
        };
        if !outcome.is_empty() {
            let _ = self.work.send(Work::Trade(outcome));
        }
        if symbols_gone {
            self.notify_symbols();
        }
    }

    /// Queues a record of how far a symbol's trades have been processed.
    pub fn record_cursors(&self, cursors: Vec<Cursor>) {
        if !cursors.is_empty() {
            let _ = self.work.send(Work::Cursors(cursors));
        }
    }

    pub fn earliest_armed(&self, symbol: &str) -> Option<i64> {
        self.index().earliest_armed(symbol)
    }

    pub fn armed(&self) -> usize {
        self.index().len()
    }

    pub fn armed_symbols(&self) -> Vec<Symbol> {
        let mut symbols: Vec<Symbol> = self.index().symbols().cloned().collect();
        symbols.sort();
        symbols
    }

    pub fn watch_symbols(&self) -> watch::Receiver<u64> {
        self.symbols_changed.subscribe()
    }
}

/// An alert as the index keeps it.
fn armed(alert: &Alert) -> Armed {
    Armed {
        user: alert.user_id,
        armed_at: alert.armed_at,
        expires_at: alert.expires_at.unwrap_or(i64::MAX),
    }
}

/// The alert's kind and progress as stored, in the index's terms.
fn kind(alert: &Alert) -> Kind {
    if let Some(rule) = alert.percent {
        // Its window starts at its latest fire (a repeating one), or when it was armed.
        let fired = alert.repeat.and(alert.triggered_at).unwrap_or(i64::MIN);
        return Kind::Percent(
            rule,
            PercentState {
                cooling_until: alert.cooldown_until.unwrap_or(i64::MIN),
                repeat: alert.repeat.map(|_| alert.fire_count),
                cooldown_ms: alert.repeat.map_or(0, |r| r.cooldown_ms),
                after_trade: alert.last_trade_id,
                ..PercentState::starting(alert.armed_at.max(fired))
            },
        );
    }
    repeat_state(alert).map_or(Kind::OneShot, Kind::Repeating)
}

/// A repeating alert's rule and progress as stored, in the index's terms; `None` for a one-shot
/// alert.
fn repeat_state(alert: &Alert) -> Option<RepeatState> {
    let repeat = alert.repeat?;
    let rearm = repeat.rearm?;
    let phase = match (alert.awaiting_reset, alert.cooldown_until) {
        (true, until) => RepeatPhase::Resetting {
            cooldown_until: until.unwrap_or(i64::MIN),
        },
        (false, Some(until)) if alert.fire_count > 0 => RepeatPhase::Cooling { until },
        _ => RepeatPhase::Armed,
    };
    Some(RepeatState {
        reset_below: rearm.reset_below(alert.target),
        reset_above: rearm.reset_above(alert.target),
        cooldown_ms: repeat.cooldown_ms,
        fire_count: alert.fire_count,
        phase,
        after_trade: alert.last_trade_id,
    })
}
