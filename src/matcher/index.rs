//! The in-memory index of armed alerts: per symbol, ordered by target, so a trade costs
//! O(log n + fired) and never touches the database.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

use crate::domain::{AlertId, Condition, Fired, Price, Resolved, Symbol, UserId};

/// An armed alert as the index keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Armed {
    pub user: UserId,
    /// When it was created, or last edited or re-armed (milliseconds since the epoch): trades
    /// older than this never fire it. A fire carries it, so a fire of an edited alert's old
    /// definition is recognised and dropped.
    pub armed_at: i64,
}

struct Book {
    /// Fire when price >= target: keyed (target units, alert id).
    above: BTreeMap<(u64, i64), Armed>,
    /// Fire when price <= target.
    below: BTreeMap<(u64, i64), Armed>,
    /// Waiting for the first price to choose a side.
    cross: Vec<(u64, i64, Armed)>,
    /// Lowest `above` target (u64::MAX when none) and highest `below` target: a trade that
    /// fires nothing is decided from these two numbers, without walking either tree.
    min_above: u64,
    max_below: Option<u64>,
    /// The last trades on this symbol, so an alert armed a moment after its creation still sees
    /// the trades that arrived in between (its row is committed before it reaches the index).
    recent: VecDeque<(Price, i64)>,
    /// Time of the newest trade no longer in `recent` (i64::MIN: none forgotten yet).
    forgotten_until: i64,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            above: BTreeMap::new(),
            below: BTreeMap::new(),
            cross: Vec::new(),
            min_above: u64::MAX,
            max_below: None,
            recent: VecDeque::new(),
            forgotten_until: i64::MIN,
        }
    }
}

impl Book {
    fn refresh(&mut self) {
        self.min_above = self
            .above
            .first_key_value()
            .map_or(u64::MAX, |((t, _), _)| *t);
        self.max_below = self.below.last_key_value().map(|((t, _), _)| *t);
    }

    fn is_empty(&self) -> bool {
        self.above.is_empty() && self.below.is_empty() && self.cross.is_empty()
    }
}

/// Trades remembered per symbol with armed alerts: those of the last `CATCH_UP_MS`, at least
/// `RECENT_MIN` and at most `RECENT_MAX` of them (24 bytes each: at most 12 KiB a symbol).
/// Arming follows the commit by a few milliseconds, but by much longer on a starved machine: a
/// count of 64 covered about a second of a busy symbol, and an alert armed later never saw the
/// trade that crossed it.
const RECENT_MIN: usize = 64;
const RECENT_MAX: usize = 512;
const CATCH_UP_MS: i64 = 10_000;

#[derive(Default)]
pub struct Index {
    /// Keyed by symbol, looked up by `&str` with a fast non-cryptographic hash: symbols come
    /// from the exchange, not from users, and the set is small.
    books: FxHashMap<Symbol, Book>,
    armed: usize,
}

/// What one trade did to the index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradeOutcome {
    pub fired: Vec<Fired>,
    pub resolved: Vec<Resolved>,
}

impl Index {
    pub fn len(&self) -> usize {
        self.armed
    }

    pub fn is_empty(&self) -> bool {
        self.armed == 0
    }

    /// When the oldest armed alert on `symbol` was created.
    pub fn earliest_armed(&self, symbol: &str) -> Option<i64> {
        let book = self.books.get(symbol)?;
        book.above
            .values()
            .chain(book.below.values())
            .chain(book.cross.iter().map(|(_, _, a)| a))
            .map(|a| a.armed_at)
            .min()
    }

    /// Whether `symbol` has an armed alert.
    pub fn has_symbol(&self, symbol: &str) -> bool {
        self.books.get(symbol).is_some_and(|b| !b.is_empty())
    }

    /// Symbols with at least one armed alert.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.books
            .iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(s, _)| s)
    }

    pub fn insert(
        &mut self,
        id: AlertId,
        symbol: Symbol,
        target: Price,
        condition: Condition,
        armed: Armed,
    ) {
        let book = self.books.entry(symbol).or_default();
        let key = (target.units(), id.0);
        let added = match condition {
            Condition::Above => book.above.insert(key, armed).is_none(),
            Condition::Below => book.below.insert(key, armed).is_none(),
            Condition::Cross => {
                let present = book.cross.iter().any(|(_, cid, _)| *cid == id.0);
                if !present {
                    book.cross.push((key.0, key.1, armed));
                }
                !present
            }
        };
        book.refresh();
        if added {
            self.armed += 1;
        }
    }

    /// Whether trades on `symbol` at or after `since` were already forgotten: an alert created
    /// then and armed only now cannot catch up on all of them.
    pub fn forgot_since(&self, symbol: &str, since: i64) -> bool {
        self.books
            .get(symbol)
            .is_some_and(|b| b.forgotten_until >= since)
    }

    /// Inserts an alert, then applies to it alone the remembered trades at or after its
    /// creation: what it would have seen had it been in the index from that moment.
    pub fn insert_and_catch_up(
        &mut self,
        id: AlertId,
        symbol: Symbol,
        target: Price,
        condition: Condition,
        armed: Armed,
    ) -> TradeOutcome {
        let missed: Vec<(Price, i64)> = self
            .books
            .get(symbol.as_str())
            .map(|b| {
                b.recent
                    .iter()
                    .filter(|(_, t)| *t >= armed.armed_at)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        if missed.is_empty() {
            self.insert(id, symbol, target, condition, armed);
            return TradeOutcome::default();
        }
        // Replay through a scratch index holding only this alert, then keep what is left.
        let mut scratch = Index::default();
        scratch.insert(id, symbol.clone(), target, condition, armed);
        let mut outcome = TradeOutcome::default();
        for (price, time) in missed {
            let step = scratch.on_trade(symbol.as_str(), price, time);
            outcome.fired.extend(step.fired);
            outcome.resolved.extend(step.resolved);
        }
        if outcome.fired.is_empty() {
            let condition = outcome.resolved.last().map_or(condition, |r| r.condition);
            self.insert(id, symbol, target, condition, armed);
        }
        outcome
    }

    /// Removes an alert wherever it sits; returns whether it was armed.
    pub fn remove(&mut self, id: AlertId, symbol: &Symbol, target: Price) -> bool {
        let Some(book) = self.books.get_mut(symbol) else {
            return false;
        };
        let key = (target.units(), id.0);
        let mut removed = book.above.remove(&key).is_some() || book.below.remove(&key).is_some();
        if !removed {
            let before = book.cross.len();
            book.cross.retain(|(_, cid, _)| *cid != id.0);
            removed = book.cross.len() != before;
        }
        book.refresh();
        if removed {
            self.armed -= 1;
        }
        removed
    }

    /// Applies one trade: fires every armed alert it crosses that existed at the trade's time,
    /// and lets it choose the side of waiting `cross` alerts.
    pub fn on_trade(&mut self, symbol: &str, price: Price, time: i64) -> TradeOutcome {
        let mut outcome = TradeOutcome::default();
        let Some(book) = self.books.get_mut(symbol) else {
            return outcome;
        };
        book.recent.push_back((price, time));
        while book.recent.len() > RECENT_MAX
            || (book.recent.len() > RECENT_MIN
                && book
                    .recent
                    .front()
                    .is_some_and(|(_, t)| *t < time - CATCH_UP_MS))
        {
            if let Some((_, t)) = book.recent.pop_front() {
                book.forgotten_until = t;
            }
        }
        let p = price.units();
        let fire = |id: i64, armed: &Armed, out: &mut TradeOutcome| {
            if let Ok(symbol) = Symbol::parse(symbol) {
                out.fired.push(Fired {
                    id: AlertId(id),
                    user: armed.user,
                    armed_at: armed.armed_at,
                    symbol,
                    price,
                    time,
                });
            }
        };

        if book
            .above
            .first_key_value()
            .is_some_and(|((t, _), _)| *t <= p)
        {
            let hits: Vec<(u64, i64)> = book
                .above
                .range(..=(p, i64::MAX))
                .filter(|(_, armed)| armed.armed_at <= time)
                .map(|(key, _)| *key)
                .collect();
            for key in hits {
                if let Some(armed) = book.above.remove(&key) {
                    fire(key.1, &armed, &mut outcome);
                }
            }
        }
        if book
            .below
            .last_key_value()
            .is_some_and(|((t, _), _)| *t >= p)
        {
            let hits: Vec<(u64, i64)> = book
                .below
                .range((p, i64::MIN)..)
                .filter(|(_, armed)| armed.armed_at <= time)
                .map(|(key, _)| *key)
                .collect();
            for key in hits {
                if let Some(armed) = book.below.remove(&key) {
                    fire(key.1, &armed, &mut outcome);
                }
            }
        }
        if !book.cross.is_empty() {
            let waiting = std::mem::take(&mut book.cross);
            for (target, id, armed) in waiting {
                if armed.armed_at > time {
                    book.cross.push((target, id, armed));
                } else if target == p {
                    fire(id, &armed, &mut outcome);
                } else {
                    // Below the target now: wait for it to rise to it, and vice versa.
                    let condition = if p < target {
                        Condition::Above
                    } else {
                        Condition::Below
                    };
                    let side = if p < target {
                        &mut book.above
                    } else {
                        &mut book.below
                    };
                    side.insert((target, id), armed);
                    outcome.resolved.push(Resolved {
                        id: AlertId(id),
                        armed_at: armed.armed_at,
                        condition,
                    });
                }
            }
        }
        book.refresh();
        self.armed -= outcome.fired.len();
        // An emptied book stays, remembering its recent trades: an alert created a moment
        // before a trade that reaches the index only after it still catches up on it. (At most
        // one book per symbol ever followed, each a few KB.)
        outcome
    }

    /// Bytes of heap the index holds, roughly; for benchmarks and metrics.
    pub fn approx_bytes(&self) -> usize {
        // A BTreeMap entry costs its key and value plus about a third more for node slack.
        self.armed * (std::mem::size_of::<(u64, i64)>() + std::mem::size_of::<Armed>()) * 4 / 3
    }
}

#[cfg(test)]
mod tests;
