//! A symbol's percent alerts: `percent_up` fires at the first trade at least `percent` % above
//! the lowest trade price of its window, `percent_down` at least `percent` % below the highest,
//! `percent_move` either.
//!
//! An alert's window at a trade at time `t` holds the trades at or after `t − window` that came
//! at or after its start (its creation, or its latest fire). While `t − window` is not past the
//! start (the alert is *young*), that is every trade since the start, and the alert keeps its
//! own extremes. Once it is past, the window is the symbol's last `window` of trades, shared by
//! every alert with that window: one pair of monotonic queues per distinct window gives its low
//! and high in amortized O(1) per trade, and the alerts wait in a set ordered by percentage, so
//! a trade that fires nothing costs two comparisons per window.

use std::collections::{BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use super::Armed;
use crate::domain::{Condition, Move};

/// A percent alert's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PercentState {
    /// Its window holds no trade before this time (creation or latest fire)...
    pub start: i64,
    /// ...and, while young, its lowest and highest price since then (units).
    pub low: Option<u64>,
    pub high: Option<u64>,
    /// It does not fire before this time (a cooldown after a fire; `i64::MIN`: none).
    pub cooling_until: i64,
    /// `Some(fires so far)` for a repeating alert, `None` for a one-shot one.
    pub repeat: Option<u32>,
    pub cooldown_ms: i64,
    /// The trade of its latest fire: trades up to it (replayed after a restart) change nothing.
    pub after_trade: Option<u64>,
}

impl PercentState {
    /// A one-shot alert's state, its window starting at `start`: nothing seen yet, no
    /// cooldown.
    pub fn starting(start: i64) -> Self {
        Self {
            start,
            low: None,
            high: None,
            cooling_until: i64::MIN,
            repeat: None,
            cooldown_ms: 0,
            after_trade: None,
        }
    }
}

/// A percent alert in its book.
#[derive(Clone, Copy, Debug)]
pub struct PercentAlert {
    pub armed: Armed,
    pub rule: Move,
    /// `PercentUp`, `PercentDown` or `PercentMove`.
    pub side: Condition,
    pub state: PercentState,
}

impl PercentAlert {
    fn watches_up(&self) -> bool {
        self.side != Condition::PercentDown
    }

    fn watches_down(&self) -> bool {
        self.side != Condition::PercentUp
    }

    /// Whether it fires at `price` measured from `low` and `high`; the reference if so.
    fn fires(&self, low: u64, high: u64, price: u64) -> Option<u64> {
        if self.watches_up() && self.rule.up_from(low, price) {
            Some(low)
        } else if self.watches_down() && self.rule.down_from(high, price) {
            Some(high)
        } else {
            None
        }
    }

    fn may_fire(&self, time: i64, trade: u64) -> bool {
        self.armed.live_at(time)
            && self.state.cooling_until <= time
            && self.state.after_trade.is_none_or(|after| trade > after)
    }
}

/// The alerts that share one window length, and that window's extremes. The fields every
/// trade reads come first (`repr(C)`), in the first two cache lines (`align(64)`).
#[repr(C, align(64))]
struct Window {
    ms: i64,
    /// The smallest percentage in `up` and in `down` (`u64::MAX`: none), and the earliest end
    /// of a cooldown (`i64::MAX`: none), for the fast path (`refresh` keeps them).
    min_up: u64,
    min_down: u64,
    cooled_at: i64,
    /// Trades of the last `ms`, prices increasing from the front (the front is the low)...
    lows: VecDeque<(i64, u64)>,
    /// ...and decreasing (the front is the high).
    highs: VecDeque<(i64, u64)>,
    /// Alerts whose window still starts at their start.
    young: Vec<i64>,
    /// Grown-up alerts that may fire, by (percent units, id): those watching a rise, a fall.
    up: BTreeSet<(u64, i64)>,
    down: BTreeSet<(u64, i64)>,
    /// Grown-up alerts in a cooldown: `(until, id)`. An alert that leaves early (removed,
    /// edited, or fired) takes its entry with it.
    cooling: BTreeSet<(i64, i64)>,
    /// Alerts with this window.
    count: usize,
}

impl Window {
    fn new(ms: i64, recent: impl Iterator<Item = (i64, u64)>) -> Self {
        let mut w = Self {
            ms,
            lows: VecDeque::new(),
            highs: VecDeque::new(),
            young: Vec::new(),
            up: BTreeSet::new(),
            down: BTreeSet::new(),
            min_up: u64::MAX,
            min_down: u64::MAX,
            cooled_at: i64::MAX,
            cooling: BTreeSet::new(),
            count: 0,
        };
        for (time, price) in recent {
            w.push(time, price);
        }
        w
    }

    fn push(&mut self, time: i64, price: u64) {
        while self.lows.back().is_some_and(|&(_, p)| p >= price) {
            self.lows.pop_back();
        }
        self.lows.push_back((time, price));
        while self.highs.back().is_some_and(|&(_, p)| p <= price) {
            self.highs.pop_back();
        }
        self.highs.push_back((time, price));
        let from = time.saturating_sub(self.ms);
        while self.lows.front().is_some_and(|&(t, _)| t < from) {
            self.lows.pop_front();
        }
        while self.highs.front().is_some_and(|&(t, _)| t < from) {
            self.highs.pop_front();
        }
    }

    fn place(&mut self, id: i64, a: &PercentAlert, time: i64) {
        let key = (a.rule.percent.units(), id);
        if a.state.cooling_until > time {
            self.cooling.insert((a.state.cooling_until, id));
            self.refresh();
            return;
        }
        if a.watches_up() {
            self.up.insert(key);
        }
        if a.watches_down() {
            self.down.insert(key);
        }
        self.refresh();
    }

    fn unplace(&mut self, id: i64, a: &PercentAlert) {
        let key = (a.rule.percent.units(), id);
        self.up.remove(&key);
        self.down.remove(&key);
        self.cooling.remove(&(a.state.cooling_until, id));
        self.young.retain(|y| *y != id);
        self.refresh();
    }

    fn refresh(&mut self) {
        (self.min_up, self.min_down, self.cooled_at) = self.fast_path();
    }

    /// What `refresh` sets, read from the sets.
    fn fast_path(&self) -> (u64, u64, i64) {
        (
            self.up.first().map_or(u64::MAX, |k| k.0),
            self.down.first().map_or(u64::MAX, |k| k.0),
            self.cooling.first().map_or(i64::MAX, |c| c.0),
        )
    }

    /// Heap bytes, roughly: the queues and the sets.
    fn approx_bytes(&self) -> usize {
        (self.lows.capacity() + self.highs.capacity()) * 16
            + (self.up.len() + self.down.len()) * 16 * 4 / 3
            + self.young.capacity() * 8
            + self.cooling.len() * 16 * 4 / 3
    }
}

/// One fire: the alert, the definition that fired, its count with this fire (repeating), and
/// the window low or high it was measured from.
pub struct PercentFire {
    pub id: i64,
    pub armed: Armed,
    pub repeat: Option<u32>,
    pub reference: u64,
}

/// A symbol's percent alerts; `windows` first, which every trade reads (`repr(C)`).
#[derive(Default)]
#[repr(C)]
pub struct Percents {
    windows: Vec<Window>,
    alerts: FxHashMap<i64, PercentAlert>,
}

impl Percents {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Cooling entries over all windows.
    #[cfg(test)]
    pub fn cooling_len(&self) -> usize {
        self.windows.iter().map(|w| w.cooling.len()).sum()
    }

    pub fn get(&self, id: i64) -> Option<&PercentAlert> {
        self.alerts.get(&id)
    }

    pub fn armed(&self) -> impl Iterator<Item = &Armed> {
        self.alerts.values().map(|a| &a.armed)
    }

    /// Adds (or replaces) an alert, young or grown-up as of `now` (the last trade's time);
    /// a new window starts from the symbol's `recent` trades.
    pub fn insert(
        &mut self,
        id: i64,
        alert: PercentAlert,
        now: i64,
        recent: impl Iterator<Item = (i64, u64)>,
    ) -> bool {
        let added = !self.remove(id);
        let at = match self
            .windows
            .iter()
            .position(|w| w.ms == alert.rule.window_ms)
        {
            Some(at) => at,
            None => {
                self.windows.push(Window::new(alert.rule.window_ms, recent));
                self.windows.len() - 1
            }
        };
        let w = &mut self.windows[at];
        w.count += 1;
        if now.saturating_sub(w.ms) > alert.state.start {
            w.place(id, &alert, now);
        } else {
            w.young.push(id);
        }
        self.alerts.insert(id, alert);
        added
    }

    /// Takes an alert out; whether it was there. A window no alert uses any more goes.
    pub fn remove(&mut self, id: i64) -> bool {
        let Some(alert) = self.alerts.remove(&id) else {
            return false;
        };
        if let Some(at) = self
            .windows
            .iter()
            .position(|w| w.ms == alert.rule.window_ms)
        {
            let w = &mut self.windows[at];
            w.unplace(id, &alert);
            w.count -= 1;
            if w.count == 0 {
                self.windows.swap_remove(at);
            }
        }
        true
    }

    /// Applies a trade: every window's extremes move, young alerts grow up or update their own,
    /// cooled alerts return, and whatever the trade fires is returned (one-shot alerts leave).
    pub fn on_trade(&mut self, price: u64, time: i64, trade: u64) -> Vec<PercentFire> {
        let mut fires = Vec::new();
        for w in &mut self.windows {
            w.push(time, price);
            // Young alerts: their own extremes, or grown up by now.
            let mut i = 0;
            while i < w.young.len() {
                let id = w.young[i];
                let Some(a) = self.alerts.get_mut(&id) else {
                    w.young.swap_remove(i);
                    continue;
                };
                if time.saturating_sub(w.ms) > a.state.start {
                    w.young.swap_remove(i);
                    let a = *a;
                    w.place(id, &a, time);
                    continue;
                }
                // Trades before its start (late, or replayed) are not in its window.
                if time < a.state.start || a.state.after_trade.is_some_and(|after| trade <= after) {
                    i += 1;
                    continue;
                }
                let low = a.state.low.map_or(price, |l| l.min(price));
                let high = a.state.high.map_or(price, |h| h.max(price));
                a.state.low = Some(low);
                a.state.high = Some(high);
                if a.may_fire(time, trade) {
                    if let Some(reference) = a.fires(low, high, price) {
                        fires.push((id, reference));
                    }
                }
                i += 1;
            }
            // Cooled grown-up alerts may fire again.
            debug_assert_eq!(
                (w.min_up, w.min_down, w.cooled_at),
                w.fast_path(),
                "stale fast path"
            );
            if w.cooled_at <= time {
                while let Some(&(until, id)) = w.cooling.first() {
                    if until > time {
                        break;
                    }
                    w.cooling.pop_first();
                    // An entry leaves with its alert (`unplace`), so it is always current.
                    if let Some(&a) = self.alerts.get(&id) {
                        debug_assert_eq!(a.state.cooling_until, until);
                        if time.saturating_sub(w.ms) > a.state.start {
                            w.place(id, &a, time);
                        }
                    }
                }
                w.refresh();
            }
            // Grown-up alerts, measured from the shared window; the smallest percentage first
            // (usually the only check).
            let (Some(&(_, low)), Some(&(_, high))) = (w.lows.front(), w.highs.front()) else {
                continue;
            };
            let up_hit = w.min_up != u64::MAX && Move::units_up(w.min_up, low, price);
            let down_hit = w.min_down != u64::MAX && Move::units_down(w.min_down, high, price);
            if !up_hit && !down_hit {
                continue;
            }
            for (set, rising) in [(&w.up, true), (&w.down, false)] {
                for &(_, id) in set.iter() {
                    let Some(a) = self.alerts.get(&id) else {
                        continue;
                    };
                    let hit = if rising {
                        a.rule.up_from(low, price)
                    } else {
                        a.rule.down_from(high, price)
                    };
                    if !hit {
                        // Ordered by percentage: none after it is hit either.
                        break;
                    }
                    if a.may_fire(time, trade) {
                        fires.push((id, if rising { low } else { high }));
                    }
                }
            }
        }
        // A `percent_move` alert hit both ways keeps its rise (pushed first): a stable sort.
        fires.sort_by_key(|&(id, _)| id);
        fires.dedup_by_key(|&mut (id, _)| id);
        fires
            .into_iter()
            .filter_map(|(id, reference)| self.fired(id, time, price, trade, reference))
            .collect()
    }

    /// An alert fired: a one-shot one leaves; a repeating one counts it, cools down, and its
    /// window starts afresh at this trade.
    fn fired(
        &mut self,
        id: i64,
        time: i64,
        price: u64,
        trade: u64,
        reference: u64,
    ) -> Option<PercentFire> {
        let a = *self.alerts.get(&id)?;
        let Some(count) = a.state.repeat else {
            self.remove(id);
            return Some(PercentFire {
                id,
                armed: a.armed,
                repeat: None,
                reference,
            });
        };
        let count = count.saturating_add(1);
        let next = PercentAlert {
            state: PercentState {
                start: time,
                low: Some(price),
                high: Some(price),
                cooling_until: time.saturating_add(a.state.cooldown_ms),
                repeat: Some(count),
                after_trade: Some(trade),
                ..a.state
            },
            ..a
        };
        self.remove(id);
        // Young again: its window starts at this trade.
        self.insert(id, next, time, std::iter::empty());
        Some(PercentFire {
            id,
            armed: a.armed,
            repeat: Some(count),
            reference,
        })
    }

    pub fn approx_bytes(&self) -> usize {
        self.alerts.len() * (std::mem::size_of::<PercentAlert>() + 16) * 4 / 3
            + self.windows.iter().map(Window::approx_bytes).sum::<usize>()
    }
}
