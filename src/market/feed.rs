//! Orders each symbol's trades by aggregate id before the matcher sees them: duplicates (a
//! rotation overlap, a replayed frame) are dropped, and a jump in ids — a dropped connection, a
//! stall, a restart — is filled from the REST API before later trades are applied, so a crossing
//! inside a gap still fires, at the price of the trade that crossed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::Event;
use super::prices::Prices;
use super::protocol::{self, Trade};
use super::rest::Rest;
use crate::clock::now_millis;
use crate::domain::{Cursor, Price, Symbol};
use crate::matcher::Matcher;
use crate::metrics::Metrics;

/// Trades per REST page, and pages at most per gap.
const PAGE: u32 = 1000;
const MAX_PAGES: usize = 50;
/// Flush ticks (500 ms each) a cursor waits before it is committed: a restart replays at least
/// the last two seconds.
const CURSOR_LAG: usize = 4;

struct SymbolState {
    last_id: u64,
    last_time: i64,
    /// The price of the last trade applied, to compare with the ticker's.
    last_price: Option<Price>,
    recovering: bool,
    buffer: Vec<Trade>,
    /// The cursor moved since the last flush.
    dirty: bool,
}

type Backfilled = (Symbol, Result<Vec<Trade>, String>);

/// What the REST API said about a connection suspected of a stall: the symbols (with the id
/// they were at) that traded after it.
struct Probed {
    conn: usize,
    traded: Vec<(Symbol, u64)>,
    reason: String,
}

/// Where a recovery starts: after a known trade, or (with no usable id) at a time.
#[derive(Clone, Copy, Debug)]
enum Start {
    FromId(u64),
    Since(i64),
}

pub struct Feed {
    pub matcher: Arc<Matcher>,
    pub prices: Arc<Prices>,
    pub rest: Option<Rest>,
    /// Recovered trades older than this are not applied.
    pub max_backfill: Duration,
    /// `market.stall_timeout`: how long data may lag behind the exchange before the connection
    /// carrying it is replaced (and its gap recovered), and so how long after an alert's expiry
    /// a symbol that has not traded since is taken to have no trade from before it in flight.
    pub stall_timeout: Duration,
    /// Asks the supervisor to replace a connection whose data stalled.
    replace: mpsc::UnboundedSender<(usize, String)>,
    /// The symbols each connection carries, and when data last came on it.
    carries: HashMap<usize, HashSet<Symbol>>,
    last_data: HashMap<usize, Instant>,
    /// Connections being checked over REST, and when each was last replaced.
    probing: HashSet<usize>,
    replaced_at: HashMap<usize, Instant>,
    probes: mpsc::UnboundedSender<Probed>,
    probe_results: Option<mpsc::UnboundedReceiver<Probed>>,
    /// Connections that were connected and are not now; `None` until the first connects.
    down: Option<HashSet<usize>>,
    metrics: Arc<Metrics>,
    states: HashMap<Symbol, SymbolState>,
    /// Cursor snapshots taken each tick, oldest first, waiting out `CURSOR_LAG`.
    pending_cursors: VecDeque<Vec<Cursor>>,
    backfilled: mpsc::UnboundedSender<Backfilled>,
}

impl Feed {
    pub fn new(
        matcher: Arc<Matcher>,
        prices: Arc<Prices>,
        rest: Option<Rest>,
        (max_backfill, stall_timeout): (Duration, Duration),
        cursors: Vec<Cursor>,
        metrics: Arc<Metrics>,
        replace: mpsc::UnboundedSender<(usize, String)>,
    ) -> (Self, mpsc::UnboundedReceiver<Backfilled>) {
        let (backfilled, rx) = mpsc::unbounded_channel();
        let (probes, probe_results) = mpsc::unbounded_channel();
        let states = cursors
            .into_iter()
            .map(|cursor| {
                let state = SymbolState {
                    last_id: cursor.last_agg_id,
                    last_time: cursor.trade_time,
                    last_price: None,
                    recovering: false,
                    buffer: Vec::new(),
                    dirty: false,
                };
                (cursor.symbol, state)
            })
            .collect();
        let feed = Self {
            matcher,
            prices,
            rest,
            max_backfill,
            stall_timeout,
            replace,
            carries: HashMap::new(),
            last_data: HashMap::new(),
            probing: HashSet::new(),
            replaced_at: HashMap::new(),
            probes,
            probe_results: Some(probe_results),
            down: None,
            metrics,
            states,
            pending_cursors: VecDeque::new(),
            backfilled,
        };
        (feed, rx)
    }

    pub async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut backfilled: mpsc::UnboundedReceiver<Backfilled>,
        shutdown: CancellationToken,
    ) {
        let mut flush = tokio::time::interval(Duration::from_millis(500));
        let Some(mut probe_results) = self.probe_results.take() else {
            return;
        };
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Trade(conn, trade)) => {
                        self.last_data.insert(conn, Instant::now());
                        self.metrics.trade(conn, trade.time);
                        self.on_trade(trade);
                    }
                    Some(Event::Tickers(conn, tickers)) => {
                        self.last_data.insert(conn, Instant::now());
                        for t in &tickers {
                            self.prices.update(&t.symbol, t.price, t.time);
                        }
                        self.check_tickers(&tickers);
                    }
                    Some(Event::Streams(conn, streams)) => {
                        let symbols = streams.iter().filter_map(|s| protocol::stream_symbol(s)).collect();
                        self.carries.insert(conn, symbols);
                    }
                    Some(Event::Replaced(conn)) => {
                        self.last_data.insert(conn, Instant::now());
                        tracing::info!(conn, "connection replaced; recovering what its streams missed");
                        self.recover_all();
                    }
                    Some(Event::Connected(conn)) => {
                        self.last_data.insert(conn, Instant::now());
                        self.metrics.connection(conn, true);
                        self.down.get_or_insert_with(HashSet::new).remove(&conn);
                        tracing::debug!(conn, "connected; recovering what was missed");
                        self.recover_all();
                    }
                    Some(Event::Disconnected(conn)) => {
                        self.metrics.connection(conn, false);
                        if let Some(down) = self.down.as_mut() {
                            down.insert(conn);
                        }
                        tracing::debug!(conn, "disconnected");
                    }
                    Some(Event::Failed { host, error }) => {
                        self.metrics.stream_failed(&host, &error, now_millis());
                    }
                    None => break,
                },
                Some((symbol, result)) = backfilled.recv() => self.finish_recovery(symbol, result),
                Some(probed) = probe_results.recv() => self.probed(probed),
                _ = flush.tick() => {
                    self.flush_cursors();
                    self.expire_quiet();
                    self.check_silence();
                }
                _ = shutdown.cancelled() => break,
            }
        }
        // On a clean stop every alert has reached the matcher: no need to hold cursors back.
        self.flush_cursors();
        for due in std::mem::take(&mut self.pending_cursors) {
            self.matcher.record_cursors(due);
        }
    }

    /// Matches one trade and moves its symbol's cursor past it. Takes the fields it needs, so
    /// a caller holding the symbol's state does not look it up again.
    fn apply(prices: &Prices, matcher: &Matcher, state: &mut SymbolState, trade: &Trade) {
        tracing::trace!(symbol = %trade.symbol, id = trade.agg_id, time = trade.time, "apply");
        prices.update(&trade.symbol, trade.price, trade.time);
        matcher.on_trade(&trade.symbol, trade.price, trade.time, trade.agg_id);
        state.last_id = trade.agg_id;
        state.last_time = trade.time;
        state.last_price = Some(trade.price);
        state.dirty = true;
    }

    /// The oldest moment whose trades are still worth matching for `symbol`: its oldest armed
    /// alert's creation, but no further back than `max_backfill`.
    fn wanted_since(&self, symbol: &Symbol) -> Option<i64> {
        let floor = now_millis() - self.max_backfill.as_millis() as i64;
        self.matcher.earliest_armed(symbol).map(|t| t.max(floor))
    }

    /// The hot path: one lookup per trade; the clock is read only when ids jump.
    fn on_trade(&mut self, trade: Trade) {
        let Some(state) = self.states.get_mut(&trade.symbol) else {
            self.first_trade(trade);
            return;
        };
        if trade.agg_id <= state.last_id {
            return; // already applied: a duplicate frame
        }
        if state.recovering {
            state.buffer.push(trade);
            return;
        }
        if trade.agg_id == state.last_id + 1 {
            Self::apply(&self.prices, &self.matcher, state, &trade);
            return;
        }
        if state.last_time < now_millis() - self.max_backfill.as_millis() as i64 {
            // Not seen for longer than we would replay: start over as a newly followed symbol.
            self.states.remove(&trade.symbol);
            self.first_trade(trade);
            return;
        }
        let from = state.last_id + 1;
        tracing::warn!(
            symbol = %trade.symbol,
            missing = trade.agg_id - from,
            from,
            to = trade.agg_id - 1,
            "gap in aggregate trade ids; recovering from REST"
        );
        let symbol = trade.symbol.clone();
        state.recovering = true;
        state.buffer.push(trade);
        self.spawn_recovery(symbol, Start::FromId(from));
    }

    /// A newly followed symbol (or one not seen for long): the trades between its oldest alert
    /// and this one came before the subscription did, so fetch them by time.
    fn first_trade(&mut self, trade: Trade) {
        let since = self
            .wanted_since(&trade.symbol)
            .filter(|since| *since <= trade.time);
        let symbol = trade.symbol.clone();
        let mut state = SymbolState {
            last_id: trade.agg_id,
            last_price: None,
            last_time: trade.time,
            recovering: false,
            buffer: Vec::new(),
            dirty: false,
        };
        match since {
            Some(since) => {
                tracing::info!(%symbol, since, "first trades of a symbol: fetching those since its oldest alert");
                state.last_id = 0;
                state.recovering = true;
                state.buffer.push(trade);
                self.states.insert(symbol.clone(), state);
                self.spawn_recovery(symbol, Start::Since(since));
            }
            None => {
                Self::apply(&self.prices, &self.matcher, &mut state, &trade);
                self.states.insert(symbol, state);
            }
        }
    }

    /// After a (re)connect, fetches whatever each armed symbol missed since its last trade.
    fn recover_all(&mut self) {
        let armed: HashSet<Symbol> = self.matcher.armed_symbols().into_iter().collect();
        let starts: Vec<(Symbol, u64)> = self
            .states
            .iter_mut()
            .filter(|(symbol, state)| !state.recovering && armed.contains(*symbol))
            .map(|(symbol, state)| {
                state.recovering = true;
                (symbol.clone(), state.last_id + 1)
            })
            .collect();
        for (symbol, from) in starts {
            self.spawn_recovery(symbol, Start::FromId(from));
        }
        // Armed symbols with no position yet (none saved before a restart): what they missed is
        // fetched by time now, not when their next trade happens to come, which for a quiet
        // symbol can be long after a crossing that happened while the server was down.
        let unplaced: Vec<(Symbol, i64)> = armed
            .into_iter()
            .filter(|symbol| !self.states.contains_key(symbol))
            .filter_map(|symbol| self.wanted_since(&symbol).map(|since| (symbol, since)))
            .collect();
        for (symbol, since) in unplaced {
            tracing::info!(%symbol, since, "no saved position: fetching the trades since its oldest alert");
            self.states.insert(
                symbol.clone(),
                SymbolState {
                    last_id: 0,
                    last_price: None,
                    last_time: since,
                    recovering: true,
                    buffer: Vec::new(),
                    dirty: false,
                },
            );
            self.spawn_recovery(symbol, Start::Since(since));
        }
    }

    fn spawn_recovery(&self, symbol: Symbol, start: Start) {
        let Some(rest) = self.rest.clone() else {
            let _ = self
                .backfilled
                .send((symbol, Err("no REST endpoint".into())));
            return;
        };
        let tx = self.backfilled.clone();
        tokio::spawn(async move {
            let mut trades = Vec::new();
            let mut cursor = start;
            let mut result = Ok(());
            for _ in 0..MAX_PAGES {
                let page = match cursor {
                    Start::FromId(id) => rest.agg_trades(&symbol, id, PAGE).await,
                    Start::Since(time) => rest.agg_trades_since(&symbol, time, PAGE).await,
                };
                match page {
                    Ok(page) => {
                        let full = page.len() as u32 == PAGE;
                        if let Some(last) = page.last() {
                            cursor = Start::FromId(last.agg_id + 1);
                        }
                        trades.extend(page);
                        if !full {
                            break;
                        }
                    }
                    Err(err) => {
                        result = Err(err.to_string());
                        break;
                    }
                }
            }
            let _ = tx.send((symbol, result.map(|()| trades)));
        });
    }

    fn finish_recovery(&mut self, symbol: Symbol, result: Result<Vec<Trade>, String>) {
        let Some(state) = self.states.get_mut(&symbol) else {
            return;
        };
        state.recovering = false;
        let from = state.last_id + 1;
        let mut trades = std::mem::take(&mut state.buffer);
        let recovered = match result {
            Ok(fetched) => {
                let n = fetched.len();
                self.metrics
                    .trades_recovered
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                trades.extend(fetched);
                n
            }
            Err(err) => {
                tracing::error!(%symbol, error = %err, "could not recover missed trades");
                0
            }
        };
        trades.sort_by_key(|t| t.agg_id);
        trades.dedup_by_key(|t| t.agg_id);
        let oldest_allowed = now_millis() - self.max_backfill.as_millis() as i64;
        let mut applied = 0usize;
        let mut too_old = 0usize;
        // After a recovery by time there is no known id to count holes from.
        let mut expected = if from == 1 {
            trades.first().map_or(from, |t| t.agg_id)
        } else {
            from
        };
        let mut holes = 0u64;
        for trade in trades {
            if trade.agg_id < from {
                continue;
            }
            holes += trade.agg_id - expected;
            expected = trade.agg_id + 1;
            if trade.time < oldest_allowed {
                too_old += 1;
                // Advance past it without matching: a crossing that old is not news.
                if let Some(state) = self.states.get_mut(&symbol) {
                    state.last_id = trade.agg_id;
                    state.last_time = trade.time;
                }
                continue;
            }
            if let Some(state) = self.states.get_mut(&symbol) {
                Self::apply(&self.prices, &self.matcher, state, &trade);
                applied += 1;
            }
        }
        tracing::info!(%symbol, recovered, applied, too_old, unrecovered = holes, "gap recovery finished");
        // A recovery by time that found nothing leaves no position: the next live trade starts
        // the symbol afresh (`first_trade`) instead of counting a gap from id 1.
        if self
            .states
            .get(&symbol)
            .is_some_and(|s| s.last_id == 0 && !s.recovering)
        {
            self.states.remove(&symbol);
        }
    }

    /// Expires alerts on symbols that have not traded since their expiry: once every connection
    /// is up, the symbol is not being recovered, and `expiry_grace` has passed, no trade from
    /// before the expiry can still be on its way. (A symbol that trades expires them at its
    /// first trade at or past the moment, exactly.)
    fn expire_quiet(&self) {
        if self.down.as_ref().is_none_or(|down| !down.is_empty()) {
            return;
        }
        let through = now_millis() - self.stall_timeout.as_millis() as i64;
        self.matcher.expire_due(through, |symbol| {
            self.states.get(symbol).is_none_or(|s| !s.recovering)
        });
    }

    /// A ticker that shows a symbol trading at another price than its last aggregate trade,
    /// more than `stall_timeout` (exchange time) after that trade: the connection carrying the
    /// symbol may answer pings while its trades stopped. The REST API confirms it (an
    /// aggregate trade may simply be a moment behind its ticker).
    fn check_tickers(&mut self, tickers: &[protocol::Ticker]) {
        let lag = self.stall_timeout.as_millis() as i64;
        let mut suspects: HashMap<usize, Vec<(Symbol, u64)>> = HashMap::new();
        for t in tickers {
            let Some(state) = self.states.get(&t.symbol) else {
                continue;
            };
            let moved = state.last_price.is_some_and(|p| p != t.price);
            if state.recovering || !moved || t.time <= state.last_time.saturating_add(lag) {
                continue;
            }
            let carrier = self
                .carries
                .iter()
                .find(|(_, symbols)| symbols.contains(&t.symbol))
                .map(|(conn, _)| *conn);
            if let Some(conn) = carrier {
                suspects
                    .entry(conn)
                    .or_default()
                    .push((t.symbol.clone(), state.last_id));
            }
        }
        for (conn, mut symbols) in suspects {
            symbols.truncate(3);
            let reason = format!(
                "the ticker shows {} trading, but no aggregate trade came for it in {:?}",
                symbols[0].0, self.stall_timeout
            );
            self.probe(conn, symbols, reason);
        }
    }

    /// A connection with streams and no data (trades or tickers) for `stall_timeout` while it
    /// is up: ask the REST API whether its symbols traded since. A quiet market is left alone.
    fn check_silence(&mut self) {
        let down = self.down.clone().unwrap_or_default();
        let silent: Vec<usize> = self
            .carries
            .iter()
            .filter(|(conn, symbols)| !symbols.is_empty() && !down.contains(conn))
            .filter(|(conn, _)| {
                self.last_data
                    .get(conn)
                    .is_some_and(|at| at.elapsed() > self.stall_timeout)
            })
            .map(|(conn, _)| *conn)
            .collect();
        for conn in silent {
            // Its three most recently traded symbols that have a position to ask from.
            let mut known: Vec<(i64, Symbol, u64)> = self.carries[&conn]
                .iter()
                .filter_map(|s| {
                    let st = self.states.get(s)?;
                    (!st.recovering && st.last_id > 0)
                        .then(|| (st.last_time, s.clone(), st.last_id))
                })
                .collect();
            known.sort_by_key(|k| std::cmp::Reverse(k.0));
            known.truncate(3);
            // Looked at now: again after another `stall_timeout` unless data comes.
            self.last_data.insert(conn, Instant::now());
            let symbols = known.into_iter().map(|(_, s, id)| (s, id)).collect();
            let reason = format!(
                "no data for {:?} while the exchange reports trades on its symbols",
                self.stall_timeout
            );
            self.probe(conn, symbols, reason);
        }
    }

    /// Asks the REST API whether `symbols` traded after the given ids; one check per connection
    /// at a time.
    fn probe(&mut self, conn: usize, symbols: Vec<(Symbol, u64)>, reason: String) {
        let Some(rest) = self.rest.clone() else {
            return;
        };
        if symbols.is_empty() || !self.probing.insert(conn) {
            return;
        }
        let tx = self.probes.clone();
        tokio::spawn(async move {
            let mut traded = Vec::new();
            for (symbol, last_id) in symbols {
                if let Ok(page) = rest.agg_trades(&symbol, last_id + 1, 1).await {
                    if !page.is_empty() {
                        traded.push((symbol, last_id));
                    }
                }
            }
            let _ = tx.send(Probed {
                conn,
                traded,
                reason,
            });
        });
    }

    /// The exchange has trades the stream did not bring, and still has not: the connection
    /// stalled. (A quiet market, or trades that came meanwhile, change nothing.)
    fn probed(&mut self, probed: Probed) {
        self.probing.remove(&probed.conn);
        let missing = probed.traded.iter().any(|(symbol, id)| {
            self.states
                .get(symbol)
                .is_some_and(|s| s.last_id == *id && !s.recovering)
        });
        if missing {
            self.request_replace(probed.conn, probed.reason);
        } else {
            tracing::debug!(conn = probed.conn, "no trades missing: a quiet market");
        }
    }

    /// At most one replacement per connection per `stall_timeout`.
    fn request_replace(&mut self, conn: usize, reason: String) {
        if self
            .replaced_at
            .get(&conn)
            .is_some_and(|at| at.elapsed() < self.stall_timeout)
        {
            return;
        }
        self.replaced_at.insert(conn, Instant::now());
        self.last_data.insert(conn, Instant::now());
        self.metrics
            .stalls_replaced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.replace.send((conn, reason));
    }

    /// Records where each symbol's stream stands, but commits it only `CURSOR_LAG` ticks
    /// later: an alert is committed a moment before it reaches the matcher, and a restart
    /// replays at least the trades of that moment, so none it should have seen is skipped.
    fn flush_cursors(&mut self) {
        let snapshot: Vec<Cursor> = self
            .states
            .iter_mut()
            .filter(|(_, state)| state.dirty)
            .map(|(symbol, state)| {
                state.dirty = false;
                Cursor {
                    symbol: symbol.clone(),
                    last_agg_id: state.last_id,
                    trade_time: state.last_time,
                }
            })
            .collect();
        self.pending_cursors.push_back(snapshot);
        while self.pending_cursors.len() > CURSOR_LAG {
            if let Some(due) = self.pending_cursors.pop_front() {
                self.matcher.record_cursors(due);
            }
        }
    }
}
