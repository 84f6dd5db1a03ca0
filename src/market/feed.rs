//! Orders each symbol's trades by aggregate id before the matcher sees them: duplicates (a
//! rotation overlap, a replayed frame) are dropped, and a jump in ids — a dropped connection, a
//! stall, a restart — is filled from the REST API before later trades are applied, so a crossing
//! inside a gap still fires, at the price of the trade that crossed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connection::Event;
use super::prices::Prices;
use super::protocol::Trade;
use super::rest::Rest;
use crate::domain::Symbol;
use crate::matcher::Matcher;
use crate::store::now_millis;

/// Trades per REST page, and pages at most per gap.
const PAGE: u32 = 1000;
const MAX_PAGES: usize = 50;

struct SymbolState {
    last_id: u64,
    last_time: i64,
    recovering: bool,
    buffer: Vec<Trade>,
}

type Backfilled = (Symbol, Result<Vec<Trade>, String>);

pub struct Feed {
    pub matcher: Arc<Matcher>,
    pub prices: Arc<Prices>,
    pub rest: Option<Rest>,
    /// Recovered trades older than this are not applied.
    pub max_backfill: Duration,
    states: HashMap<Symbol, SymbolState>,
    dirty: HashSet<Symbol>,
    backfilled: mpsc::UnboundedSender<Backfilled>,
}

impl Feed {
    pub fn new(
        matcher: Arc<Matcher>,
        prices: Arc<Prices>,
        rest: Option<Rest>,
        max_backfill: Duration,
        cursors: Vec<(Symbol, u64, i64)>,
    ) -> (Self, mpsc::UnboundedReceiver<Backfilled>) {
        let (backfilled, rx) = mpsc::unbounded_channel();
        let states = cursors
            .into_iter()
            .map(|(symbol, last_id, last_time)| {
                let state = SymbolState {
                    last_id,
                    last_time,
                    recovering: false,
                    buffer: Vec::new(),
                };
                (symbol, state)
            })
            .collect();
        let feed = Self {
            matcher,
            prices,
            rest,
            max_backfill,
            states,
            dirty: HashSet::new(),
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
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Trade(trade)) => self.on_trade(trade),
                    Some(Event::Tickers(tickers)) => {
                        for t in tickers {
                            self.prices.update(&t.symbol, t.price, t.time);
                        }
                    }
                    Some(Event::Connected(conn)) => {
                        tracing::debug!(conn, "connected; recovering what was missed");
                        self.recover_all();
                    }
                    Some(Event::Disconnected(conn)) => tracing::debug!(conn, "disconnected"),
                    None => break,
                },
                Some((symbol, result)) = backfilled.recv() => self.finish_recovery(symbol, result),
                _ = flush.tick() => self.flush_cursors(),
                _ = shutdown.cancelled() => break,
            }
        }
        self.flush_cursors();
    }

    fn apply(&mut self, trade: &Trade) {
        self.prices.update(&trade.symbol, trade.price, trade.time);
        self.matcher
            .on_trade(&trade.symbol, trade.price, trade.time);
        if let Some(state) = self.states.get_mut(&trade.symbol) {
            state.last_id = trade.agg_id;
            state.last_time = trade.time;
        }
        self.dirty.insert(trade.symbol.clone());
    }

    fn on_trade(&mut self, trade: Trade) {
        let Some(state) = self.states.get_mut(&trade.symbol) else {
            self.states.insert(
                trade.symbol.clone(),
                SymbolState {
                    last_id: trade.agg_id,
                    last_time: trade.time,
                    recovering: false,
                    buffer: Vec::new(),
                },
            );
            self.apply(&trade);
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
            self.apply(&trade);
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
        self.spawn_recovery(symbol, from);
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
            self.spawn_recovery(symbol, from);
        }
    }

    fn spawn_recovery(&self, symbol: Symbol, from: u64) {
        let Some(rest) = self.rest.clone() else {
            let _ = self
                .backfilled
                .send((symbol, Err("no REST endpoint".into())));
            return;
        };
        let tx = self.backfilled.clone();
        tokio::spawn(async move {
            let mut trades = Vec::new();
            let mut cursor = from;
            let mut result = Ok(());
            for _ in 0..MAX_PAGES {
                match rest.agg_trades(&symbol, cursor, PAGE).await {
                    Ok(page) => {
                        let full = page.len() as u32 == PAGE;
                        if let Some(last) = page.last() {
                            cursor = last.agg_id + 1;
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
        let mut expected = from;
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
            self.apply(&trade);
            applied += 1;
        }
        tracing::info!(%symbol, recovered, applied, too_old, unrecovered = holes, "gap recovery finished");
    }

    fn flush_cursors(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let cursors = self
            .dirty
            .drain()
            .filter_map(|symbol| {
                let state = self.states.get(&symbol)?;
                Some((symbol, state.last_id, state.last_time))
            })
            .collect();
        self.matcher.record_cursors(cursors);
    }
}
