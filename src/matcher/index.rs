//! The in-memory index of armed alerts: per symbol, ordered by target, so a trade costs
//! O(log n + fired) and never touches the database.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

use crate::domain::{
    AlertId, Condition, Expired, Fired, Move, Price, Rearmed, Resolved, Symbol, UserId,
};

mod percent;

use percent::Percents;
pub use percent::{PercentAlert, PercentState};

/// What kind of alert is armed, with its progress.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Fires once at its target.
    OneShot,
    /// Fires at its target again and again, re-arming in between.
    Repeating(RepeatState),
    /// Fires on a move in percent within a window (see `percent.rs`).
    Percent(Move, PercentState),
}

/// An armed alert as the index keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Armed {
    pub user: UserId,
    /// When it was created, or last edited or re-armed (milliseconds since the epoch): trades
    /// older than this never fire it. A fire carries it, so a fire of an edited alert's old
    /// definition is recognised and dropped.
    pub armed_at: i64,
    /// From this moment on no trade fires it (`i64::MAX`: never).
    pub expires_at: i64,
}

impl Armed {
    /// Whether a trade at `time` may fire it: at or after it was armed, before it expires.
    fn live_at(&self, time: i64) -> bool {
        self.armed_at <= time && time < self.expires_at
    }
}

/// Where a repeating alert stands between fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatPhase {
    /// Watching its target: the next crossing fires it.
    Armed,
    /// Fired: waits for a trade past its reset price, and then for `cooldown_until`.
    Resetting { cooldown_until: i64 },
    /// Reset: fires again at the first crossing at or after `until`.
    Cooling { until: i64 },
}

/// A repeating alert's rule and progress, as the index keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepeatState {
    /// Watching for a rise: a trade at or below this many units re-arms it (`None`: never).
    pub reset_below: Option<u64>,
    /// Watching for a fall: a trade at or above this many units re-arms it.
    pub reset_above: u64,
    pub cooldown_ms: i64,
    /// Fires so far.
    pub fire_count: u32,
    pub phase: RepeatPhase,
    /// The aggregate trade id of its latest fire or re-arm: trades up to it made its state what
    /// it is, so when they come again (replayed after a restart, whose saved stream position
    /// lags behind) they change nothing.
    pub after_trade: Option<u64>,
}

impl RepeatState {
    /// Whether trade `trade` is one this state already took into account.
    fn saw(&self, trade: u64) -> bool {
        self.after_trade.is_some_and(|after| trade <= after)
    }
}

/// A repeating alert in its book.
#[derive(Clone, Copy, Debug)]
struct Repeating {
    target: u64,
    side: Condition,
    armed: Armed,
    state: RepeatState,
}

/// A symbol's alerts. The fields every trade reads come first, in this order (`repr(C)`), so
/// that they share a few cache lines: with thousands of symbols, a book is rarely in cache when
/// its next trade comes, and each line it touches is a wait.
#[repr(C)]
struct Book {
    /// No `above` target is lower than `min_above` (u64::MAX when none), and no `below` target
    /// higher than `max_below`: a trade that fires nothing is decided from these two numbers,
    /// in the book itself, without walking either tree (each walk is a few cache misses).
    /// Every insert keeps them bounds (`watch`); `refresh` makes them exact after removals.
    min_above: u64,
    max_below: Option<u64>,
    /// The repeating alerts' next events, copied from `repeating` by `refresh_repeats` so that
    /// a trade that changes nothing for them does not read the box: the highest reset price
    /// waiting for a fall, the lowest waiting for a rise, the earliest end of a cooldown
    /// (`i64::MAX`: none).
    max_reset_down: Option<u64>,
    min_reset_up: u64,
    cooled_at: i64,
    /// Time of the oldest trade in `recent` (its front), kept here for the same reason.
    oldest_recent: i64,
    /// The last trades on this symbol, so an alert armed a moment after its creation still sees
    /// the trades that arrived in between (its row is committed before it reaches the index).
    recent: VecDeque<(Price, i64, u64)>,
    /// The symbol's percent alerts, if it ever had one: boxed, so a book without costs a
    /// pointer and the fast path one check.
    percents: Option<Box<Percents>>,
    /// Alerts that expire, soonest first: `(expires_at, id, target units)`. An entry whose
    /// alert has left or was edited is skipped when it comes up.
    expiring: BinaryHeap<Reverse<(i64, i64, u64)>>,
    /// Waiting for the first price to choose a side.
    cross: Vec<(u64, i64, Armed)>,
    /// The symbol's repeating alerts, if it ever had one (boxed, as `percents`).
    repeating: Option<Box<Repeats>>,
    /// Time of the newest trade no longer in `recent` (i64::MIN: none forgotten yet).
    forgotten_until: i64,
    /// Fire when price >= target: keyed (target units, alert id).
    above: BTreeMap<(u64, i64), Armed>,
    /// Fire when price <= target.
    below: BTreeMap<(u64, i64), Armed>,
}

/// A symbol's repeating alerts.
#[derive(Default)]
struct Repeats {
    /// Every repeating alert's state, by id; while `Armed` it also sits in the book's `above`,
    /// `below` or `cross` like a one-shot alert.
    alerts: FxHashMap<i64, Repeating>,
    /// Fired repeating alerts waiting for a trade at or below their reset price (those that
    /// watch for a rise), keyed (reset units, id); and at or above it (those that watch for a
    /// fall). A `cross` alert that fired on its first trade waits in both.
    reset_down: BTreeSet<(u64, i64)>,
    reset_up: BTreeSet<(u64, i64)>,
    /// Reset repeating alerts in their cooldown, earliest end first: `(until, id)`. An alert
    /// that leaves its cooldown early (removed, or edited) takes its entry with it, so edits
    /// cannot pile entries up.
    cooling: BTreeSet<(i64, i64)>,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            above: BTreeMap::new(),
            below: BTreeMap::new(),
            cross: Vec::new(),
            min_above: u64::MAX,
            max_below: None,
            max_reset_down: None,
            min_reset_up: u64::MAX,
            cooled_at: i64::MAX,
            oldest_recent: i64::MIN,
            recent: VecDeque::new(),
            forgotten_until: i64::MIN,
            repeating: None,
            percents: None,
            expiring: BinaryHeap::new(),
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

    /// Copies the repeating alerts' next events into the book. Every change to their reset
    /// sets or cooldowns ends with it.
    fn refresh_repeats(&mut self) {
        (self.max_reset_down, self.min_reset_up, self.cooled_at) = self.repeat_events();
    }

    /// The repeating alerts' next events, read from their sets.
    fn repeat_events(&self) -> (Option<u64>, u64, i64) {
        let reps = self.repeats();
        (
            reps.and_then(|r| r.reset_down.last()).map(|(t, _)| *t),
            reps.and_then(|r| r.reset_up.first())
                .map_or(u64::MAX, |(t, _)| *t),
            reps.and_then(|r| r.cooling.first())
                .map_or(i64::MAX, |(t, _)| *t),
        )
    }

    /// Whether the numbers kept for the fast path say what the collections hold: `min_above`
    /// and `max_below` bound the trees, the repeating alerts' events and the oldest recent
    /// trade are exact (debug assertions check it on every trade).
    fn cached_hold(&self) -> bool {
        self.above
            .first_key_value()
            .is_none_or(|((t, _), _)| *t >= self.min_above)
            && self
                .below
                .last_key_value()
                .is_none_or(|((t, _), _)| Some(*t) <= self.max_below)
            && self.repeat_events() == (self.max_reset_down, self.min_reset_up, self.cooled_at)
            && self
                .recent
                .front()
                .is_none_or(|r| r.1 == self.oldest_recent)
    }

    /// Alerts a trade at `p` re-arms: waiting for a fall to `p` or below, and for a rise to it
    /// or above. No allocation, and no look into `repeating`, when there are none.
    fn resets_at(&self, p: u64) -> (Vec<i64>, Vec<i64>) {
        let down_due = self.max_reset_down.is_some_and(|t| t >= p);
        let up_due = self.min_reset_up <= p;
        let Some(reps) = self.repeats().filter(|_| down_due || up_due) else {
            return (Vec::new(), Vec::new());
        };
        let down = if down_due {
            reps.reset_down
                .range((p, i64::MIN)..)
                .map(|k| k.1)
                .collect()
        } else {
            Vec::new()
        };
        let up = if up_due {
            reps.reset_up.range(..=(p, i64::MAX)).map(|k| k.1).collect()
        } else {
            Vec::new()
        };
        (down, up)
    }

    fn repeats(&self) -> Option<&Repeats> {
        self.repeating.as_deref()
    }

    fn repeats_mut(&mut self) -> &mut Repeats {
        self.repeating.get_or_insert_with(Box::default)
    }

    fn repeating_alert(&self, id: i64) -> Option<Repeating> {
        self.repeats()?.alerts.get(&id).copied()
    }

    fn repeating_alert_mut(&mut self, id: i64) -> Option<&mut Repeating> {
        self.repeating.as_mut()?.alerts.get_mut(&id)
    }

    fn is_empty(&self) -> bool {
        self.above.is_empty()
            && self.below.is_empty()
            && self.cross.is_empty()
            && self.repeats().is_none_or(|r| r.alerts.is_empty())
            && self.percents.as_ref().is_none_or(|p| p.is_empty())
    }

    /// Puts an alert watching its target where `side` says; whether it was not there yet.
    fn watch(&mut self, target: u64, id: i64, side: Condition, armed: Armed) -> bool {
        match side {
            Condition::Above => {
                self.min_above = self.min_above.min(target);
                self.above.insert((target, id), armed).is_none()
            }
            Condition::Below => {
                self.max_below = self.max_below.max(Some(target));
                self.below.insert((target, id), armed).is_none()
            }
            Condition::Cross => {
                let present = self.cross.iter().any(|(_, cid, _)| *cid == id);
                if !present {
                    self.cross.push((target, id, armed));
                }
                !present
            }
            // A percent alert has no target to watch: it lives in `percents`.
            Condition::PercentUp | Condition::PercentDown | Condition::PercentMove => false,
        }
    }

    /// Places a repeating alert by its phase (its entry in `repeats` is already there).
    fn place(&mut self, id: i64, r: Repeating) {
        match r.state.phase {
            RepeatPhase::Armed => {
                self.watch(r.target, id, r.side, r.armed);
            }
            RepeatPhase::Resetting { .. } => {
                let reps = self.repeats_mut();
                if r.side != Condition::Below {
                    if let Some(low) = r.state.reset_below {
                        reps.reset_down.insert((low, id));
                    }
                }
                if r.side != Condition::Above {
                    reps.reset_up.insert((r.state.reset_above, id));
                }
                self.refresh_repeats();
            }
            RepeatPhase::Cooling { until } => {
                self.repeats_mut().cooling.insert((until, id));
                self.refresh_repeats();
            }
        }
    }

    /// Takes a repeating alert out of wherever its phase put it.
    fn unplace(&mut self, id: i64, r: &Repeating) {
        match (r.state.phase, &mut self.repeating) {
            (RepeatPhase::Armed, _) => {
                let key = (r.target, id);
                match r.side {
                    Condition::Above => drop(self.above.remove(&key)),
                    Condition::Below => drop(self.below.remove(&key)),
                    Condition::Cross => self.cross.retain(|(_, cid, _)| *cid != id),
                    Condition::PercentUp | Condition::PercentDown | Condition::PercentMove => {}
                }
            }
            (RepeatPhase::Resetting { .. }, Some(reps)) => {
                if let Some(low) = r.state.reset_below {
                    reps.reset_down.remove(&(low, id));
                }
                reps.reset_up.remove(&(r.state.reset_above, id));
                self.refresh_repeats();
            }
            (RepeatPhase::Cooling { until }, Some(reps)) => {
                reps.cooling.remove(&(until, id));
                self.refresh_repeats();
            }
            (_, None) => {}
        }
    }

    /// The alert `id` with target `target`, wherever it sits.
    fn armed_of(&self, id: i64, target: u64) -> Option<Armed> {
        let key = (target, id);
        self.above
            .get(&key)
            .or_else(|| self.below.get(&key))
            .or_else(|| {
                self.cross
                    .iter()
                    .find(|(_, cid, _)| *cid == id)
                    .map(|(_, _, a)| a)
            })
            .copied()
            .or_else(|| self.repeating_alert(id).map(|r| r.armed))
            .or_else(|| Some(self.percents.as_ref()?.get(id)?.armed))
    }

    /// Takes alert `id` (with target `target`) out wherever it sits; whether it was there.
    fn remove(&mut self, id: i64, target: u64) -> bool {
        let key = (target, id);
        let mut removed = self.above.remove(&key).is_some() || self.below.remove(&key).is_some();
        if !removed {
            let before = self.cross.len();
            self.cross.retain(|(_, cid, _)| *cid != id);
            removed = self.cross.len() != before;
        }
        if let Some(r) = self
            .repeating
            .as_mut()
            .and_then(|reps| reps.alerts.remove(&id))
        {
            self.unplace(id, &r);
            removed = true;
        }
        if let Some(percents) = self.percents.as_mut() {
            removed |= percents.remove(id);
        }
        self.refresh();
        removed
    }

    /// Remembers when an alert expires, if it does.
    fn expire_at(&mut self, id: i64, target: u64, armed: Armed) {
        if armed.expires_at == i64::MAX {
            return;
        }
        self.expiring.push(Reverse((armed.expires_at, id, target)));
        // Entries of removed or edited alerts wait until their moment comes; an owner who edits
        // the expiry again and again must not grow the heap without a bound. At each power of
        // two, those stale entries go (amortized O(1) a push).
        let len = self.expiring.len();
        if len >= 64 && len.is_power_of_two() {
            let live = |&Reverse((at, id, target)): &Reverse<(i64, i64, u64)>| {
                self.armed_of(id, target)
                    .is_some_and(|a| a.expires_at == at)
            };
            let kept: BinaryHeap<_> = self.expiring.iter().filter(|e| live(e)).copied().collect();
            self.expiring = kept;
        }
    }

    /// Takes out the alerts that expire at or before `time`; returns how many.
    fn expire_through(&mut self, time: i64, out: &mut TradeOutcome) -> usize {
        let mut count = 0;
        while let Some(&Reverse((at, id, target))) = self.expiring.peek() {
            if at > time {
                break;
            }
            self.expiring.pop();
            let Some(armed) = self.armed_of(id, target) else {
                continue;
            };
            if armed.expires_at == at && self.remove(id, target) {
                count += 1;
                out.expired.push(Expired {
                    id: AlertId(id),
                    armed_at: armed.armed_at,
                });
            }
        }
        count
    }

    /// Whether trade `trade` is one that repeating alert `id` already took into account.
    fn seen_by(&self, id: i64, trade: u64) -> bool {
        self.repeating_alert(id).is_some_and(|r| r.state.saw(trade))
    }

    /// A repeating alert `id` fired: it waits for its reset. Returns its count of fires.
    fn fired_repeating(&mut self, id: i64, time: i64, trade: u64) -> Option<u32> {
        let r = self.repeating_alert_mut(id)?;
        r.state.fire_count = r.state.fire_count.saturating_add(1);
        r.state.after_trade = Some(trade);
        r.state.phase = RepeatPhase::Resetting {
            cooldown_until: time.saturating_add(r.state.cooldown_ms),
        };
        let (count, r) = (r.state.fire_count, *r);
        self.place(id, r);
        Some(count)
    }

    /// A trade at `time` reached repeating alert `id`'s reset price, watching for `side`
    /// next: it re-arms now, or once its cooldown ends.
    fn reset(&mut self, id: i64, side: Condition, time: i64, trade: u64, out: &mut TradeOutcome) {
        let Some(r) = self.repeating_alert(id) else {
            return;
        };
        let RepeatPhase::Resetting { cooldown_until } = r.state.phase else {
            return;
        };
        if r.state.saw(trade) {
            return;
        }
        // A cross alert that fired on its first trade waited on both sides: the side it
        // reset on decides which way it watches now.
        self.unplace(id, &r);
        if r.side == Condition::Cross {
            out.resolved.push(Resolved {
                id: AlertId(id),
                armed_at: r.armed.armed_at,
                condition: side,
            });
        }
        let phase = if cooldown_until <= time {
            RepeatPhase::Armed
        } else {
            RepeatPhase::Cooling {
                until: cooldown_until,
            }
        };
        let r = Repeating {
            side,
            state: RepeatState {
                phase,
                after_trade: Some(trade),
                ..r.state
            },
            ..r
        };
        self.repeats_mut().alerts.insert(id, r);
        self.place(id, r);
        out.rearmed.push(Rearmed {
            id: AlertId(id),
            armed_at: r.armed.armed_at,
            fire_count: r.state.fire_count,
            trade,
        });
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
    /// Repeating alerts a trade past their re-arm distance re-armed.
    pub rearmed: Vec<Rearmed>,
    /// Alerts that expired unfired: the trade came at or after their `expires_at`.
    pub expired: Vec<Expired>,
}

impl TradeOutcome {
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty()
            && self.resolved.is_empty()
            && self.rearmed.is_empty()
            && self.expired.is_empty()
    }

    fn extend(&mut self, other: TradeOutcome) {
        self.fired.extend(other.fired);
        self.resolved.extend(other.resolved);
        self.rearmed.extend(other.rearmed);
        self.expired.extend(other.expired);
    }
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
            .chain(
                book.repeats()
                    .into_iter()
                    .flat_map(|r| r.alerts.values().map(|r| &r.armed)),
            )
            .chain(book.percents.iter().flat_map(|p| p.armed()))
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
        let added = book.watch(target.units(), id.0, condition, armed);
        book.refresh();
        if added {
            self.armed += 1;
        }
        book.expire_at(id.0, target.units(), armed);
    }

    /// Inserts an alert of any kind.
    pub fn insert_kind(
        &mut self,
        id: AlertId,
        symbol: Symbol,
        target: Price,
        condition: Condition,
        armed: Armed,
        kind: Kind,
    ) {
        match kind {
            Kind::Repeating(state) => {
                self.insert_repeating(id, symbol, target, condition, armed, state)
            }
            Kind::OneShot => self.insert(id, symbol, target, condition, armed),
            Kind::Percent(rule, state) => {
                let alert = PercentAlert {
                    armed,
                    rule,
                    side: condition,
                    state,
                };
                self.insert_percent(id, symbol, alert);
            }
        }
    }

    /// Inserts a percent alert; a window new to the symbol starts with its recent trades.
    pub fn insert_percent(&mut self, id: AlertId, symbol: Symbol, alert: PercentAlert) {
        let book = self.books.entry(symbol).or_default();
        let now = book.recent.back().map_or(i64::MIN, |r| r.1);
        let recent = book.recent.iter().map(|(p, t, _)| (*t, p.units()));
        let added = book
            .percents
            .get_or_insert_with(Box::default)
            .insert(id.0, alert, now, recent);
        if added {
            self.armed += 1;
        }
        book.expire_at(id.0, 0, alert.armed);
    }

    /// Inserts a repeating alert in the phase `state` says.
    pub fn insert_repeating(
        &mut self,
        id: AlertId,
        symbol: Symbol,
        target: Price,
        condition: Condition,
        armed: Armed,
        state: RepeatState,
    ) {
        let book = self.books.entry(symbol).or_default();
        let r = Repeating {
            target: target.units(),
            side: condition,
            armed,
            state,
        };
        if let Some(old) = book.repeats_mut().alerts.insert(id.0, r) {
            book.unplace(id.0, &old);
        } else {
            self.armed += 1;
        }
        book.place(id.0, r);
        book.refresh();
        book.expire_at(id.0, r.target, armed);
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
        kind: Kind,
    ) -> TradeOutcome {
        let missed: Vec<(Price, i64, u64)> = self
            .books
            .get(symbol.as_str())
            .map(|b| {
                b.recent
                    .iter()
                    .filter(|(_, t, _)| *t >= armed.armed_at)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        if missed.is_empty() {
            self.insert_kind(id, symbol, target, condition, armed, kind);
            return TradeOutcome::default();
        }
        // Replay through a scratch index holding only this alert, then keep what is left.
        let mut scratch = Index::default();
        scratch.insert_kind(id, symbol.clone(), target, condition, armed, kind);
        let mut outcome = TradeOutcome::default();
        for (price, time, trade) in missed {
            outcome.extend(scratch.on_trade(symbol.as_str(), price, time, trade));
        }
        let left = scratch.books.get(symbol.as_str());
        if let Kind::Percent(..) = kind {
            if let Some(a) = left.and_then(|b| b.percents.as_ref()?.get(id.0).copied()) {
                self.insert_percent(id, symbol, a);
            }
        } else if let Kind::Repeating(_) = kind {
            if let Some(r) = left.and_then(|b| b.repeating_alert(id.0)) {
                self.insert_repeating(id, symbol, target, r.side, armed, r.state);
            }
        } else if outcome.fired.is_empty() && outcome.expired.is_empty() {
            let condition = outcome.resolved.last().map_or(condition, |r| r.condition);
            self.insert(id, symbol, target, condition, armed);
        }
        outcome
    }

    /// Removes an alert wherever it sits; returns whether it was armed.
    pub fn remove(&mut self, id: AlertId, symbol: &Symbol, target: Price) -> bool {
        let removed = self
            .books
            .get_mut(symbol)
            .is_some_and(|book| book.remove(id.0, target.units()));
        if removed {
            self.armed -= 1;
        }
        removed
    }

    /// Expires the alerts on `symbol` whose `expires_at` is at or before `time`: the caller
    /// knows every trade on it before `time` was applied.
    pub fn expire_through(&mut self, symbol: &str, time: i64) -> TradeOutcome {
        let mut outcome = TradeOutcome::default();
        if let Some(book) = self.books.get_mut(symbol) {
            self.armed -= book.expire_through(time, &mut outcome);
        }
        outcome
    }

    /// Symbols with an alert that expires at or before `time`.
    pub fn expiring_by(&self, time: i64) -> Vec<Symbol> {
        self.books
            .iter()
            .filter(|(_, book)| {
                book.expiring
                    .peek()
                    .is_some_and(|Reverse((at, _, _))| *at <= time)
            })
            .map(|(symbol, _)| symbol.clone())
            .collect()
    }

    /// Applies one trade (aggregate id `trade`): fires every armed alert it crosses that
    /// existed at the trade's time, lets it choose the side of waiting `cross` alerts, and
    /// re-arms repeating alerts it moved far enough back.
    pub fn on_trade(&mut self, symbol: &str, price: Price, time: i64, trade: u64) -> TradeOutcome {
        let mut outcome = TradeOutcome::default();
        let Some(book) = self.books.get_mut(symbol) else {
            return outcome;
        };
        if book.recent.is_empty() {
            book.oldest_recent = time;
        }
        book.recent.push_back((price, time, trade));
        while book.recent.len() > RECENT_MAX
            || (book.recent.len() > RECENT_MIN && book.oldest_recent < time - CATCH_UP_MS)
        {
            if let Some((_, t, _)) = book.recent.pop_front() {
                book.forgotten_until = t;
            }
            book.oldest_recent = book.recent.front().map_or(i64::MIN, |r| r.1);
        }
        let p = price.units();
        // Every trade before this one was applied: alerts that expired by its time leave
        // unfired, before it is matched.
        if book
            .expiring
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= time)
        {
            self.armed -= book.expire_through(time, &mut outcome);
        }
        // Repeating alerts whose cooldown ended by this trade watch their target again.
        if book.cooled_at <= time {
            if let Some(reps) = book.repeating.as_mut() {
                let mut cooled = Vec::new();
                while let Some(&(until, id)) = reps.cooling.first() {
                    if until > time {
                        break;
                    }
                    reps.cooling.pop_first();
                    // An entry leaves with its alert's cooldown (`unplace`), so it is always current.
                    if let Some(r) = reps.alerts.get_mut(&id) {
                        debug_assert_eq!(r.state.phase, RepeatPhase::Cooling { until });
                        r.state.phase = RepeatPhase::Armed;
                        cooled.push((id, *r));
                    }
                }
                for (id, r) in cooled {
                    book.watch(r.target, id, r.side, r.armed);
                }
                book.refresh_repeats();
            }
        }
        // A repeating alert stays in the index after a fire; a one-shot alert leaves it.
        let mut one_shots = 0;
        let mut fire = |book: &mut Book, id: i64, armed: &Armed, out: &mut TradeOutcome| {
            let repeat = book.fired_repeating(id, time, trade);
            if repeat.is_none() {
                one_shots += 1;
            }
            if let Ok(symbol) = Symbol::parse(symbol) {
                out.fired.push(Fired {
                    id: AlertId(id),
                    user: armed.user,
                    armed_at: armed.armed_at,
                    symbol,
                    price,
                    time,
                    trade,
                    reference: None,
                    repeat,
                });
            }
        };

        debug_assert!(book.cached_hold());
        // Whether alerts left `above` or `below` (a one-shot fire, or a repeating alert's).
        let mut left = false;
        if book.min_above <= p {
            let hits: Vec<(u64, i64)> = book
                .above
                .range(..=(p, i64::MAX))
                .filter(|(key, armed)| armed.live_at(time) && !book.seen_by(key.1, trade))
                .map(|(key, _)| *key)
                .collect();
            for key in hits {
                if let Some(armed) = book.above.remove(&key) {
                    left = true;
                    fire(book, key.1, &armed, &mut outcome);
                }
            }
        }
        if book.max_below.is_some_and(|t| t >= p) {
            let hits: Vec<(u64, i64)> = book
                .below
                .range((p, i64::MIN)..)
                .filter(|(key, armed)| armed.live_at(time) && !book.seen_by(key.1, trade))
                .map(|(key, _)| *key)
                .collect();
            for key in hits {
                if let Some(armed) = book.below.remove(&key) {
                    left = true;
                    fire(book, key.1, &armed, &mut outcome);
                }
            }
        }
        if !book.cross.is_empty() {
            let waiting = std::mem::take(&mut book.cross);
            for (target, id, armed) in waiting {
                if !armed.live_at(time) || book.seen_by(id, trade) {
                    book.cross.push((target, id, armed));
                } else if target == p {
                    fire(book, id, &armed, &mut outcome);
                } else {
                    // Below the target now: wait for it to rise to it, and vice versa.
                    let condition = if p < target {
                        Condition::Above
                    } else {
                        Condition::Below
                    };
                    book.watch(target, id, condition, armed);
                    if let Some(r) = book.repeating_alert_mut(id) {
                        r.side = condition;
                    }
                    outcome.resolved.push(Resolved {
                        id: AlertId(id),
                        armed_at: armed.armed_at,
                        condition,
                    });
                }
            }
        }
        // Fired repeating alerts past their reset price re-arm. (None fired by this trade
        // is: a reset price is strictly on the other side of the target.)
        let (down, up) = book.resets_at(p);
        for id in down {
            book.reset(id, Condition::Above, time, trade, &mut outcome);
        }
        for id in up {
            book.reset(id, Condition::Below, time, trade, &mut outcome);
        }
        let percent_fires = book
            .percents
            .as_mut()
            .map(|percents| percents.on_trade(p, time, trade))
            .unwrap_or_default();
        if !percent_fires.is_empty() {
            if let Ok(symbol) = Symbol::parse(symbol) {
                for f in percent_fires {
                    if f.repeat.is_none() {
                        one_shots += 1;
                    }
                    outcome.fired.push(Fired {
                        id: AlertId(f.id),
                        user: f.armed.user,
                        armed_at: f.armed.armed_at,
                        symbol: symbol.clone(),
                        price,
                        time,
                        trade,
                        reference: Some(Price::from_units_shortest(f.reference)),
                        repeat: f.repeat,
                    });
                }
            }
        }
        if left {
            book.refresh();
        }
        self.armed -= one_shots;
        // An emptied book stays, remembering its recent trades: an alert created a moment
        // before a trade that reaches the index only after it still catches up on it. (At most
        // one book per symbol ever followed, each a few KB.)
        outcome
    }

    /// Bytes of heap the index holds, roughly; for benchmarks and metrics.
    pub fn approx_bytes(&self) -> usize {
        // A BTreeMap entry costs its key and value plus about a third more for node slack.
        self.armed * (std::mem::size_of::<(u64, i64)>() + std::mem::size_of::<Armed>()) * 4 / 3
            + self
                .books
                .values()
                .filter_map(|b| b.percents.as_ref())
                .map(|p| p.approx_bytes())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
