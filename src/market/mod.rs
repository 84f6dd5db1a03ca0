//! The Binance market feed: which streams to follow, on which connections, and the tasks that
//! keep prices, the symbol list and the matcher fed.
//!
//! Trades come from `<symbol>@aggTrade`, not `@trade`: aggregate ids are gap-free per symbol, so
//! a missed trade shows up as a jump in ids and can be fetched back with
//! `GET /api/v3/aggTrades?fromId=`; raw trade ids cannot be fetched without an API key.

mod backoff;
mod connection;
mod fast_trade;
mod feed;
pub mod history;
mod placement;
pub mod prices;
pub mod protocol;
mod rest;
mod trade;

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::MarketConfig;
use crate::domain::Cursor;
use crate::matcher::Matcher;
use crate::metrics::Metrics;
pub use history::{History, HistoryError, Interval, Served};
pub use prices::{MarketStatus, Prices};
pub use rest::{Candle, Rest};

use connection::{Command, Connection, Event, Settings};

struct Link {
    commands: mpsc::UnboundedSender<Command>,
    streams: BTreeSet<String>,
}

/// Runs the feed until `shutdown`; returns when every task it started has stopped.
pub async fn run(
    config: MarketConfig,
    matcher: Arc<Matcher>,
    prices: Arc<Prices>,
    cursors: Vec<Cursor>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let rest = match Rest::new(&config.rest_url) {
        Ok(rest) => Some(rest),
        Err(err) => {
            tracing::error!(error = %err, "REST client unavailable; gaps cannot be recovered");
            None
        }
    };
    let settings = Arc::new(Settings {
        stream_url: config.stream_url.clone(),
        stall_timeout: config.stall_timeout.get(),
        rotate_after: config.rotate_after.get(),
        control_interval: config.control_interval.get(),
        backoff_initial: config.reconnect_initial.get(),
        backoff_max: config.reconnect_max.get(),
        warned_restricted: AtomicBool::new(false),
    });
    let mut tasks = JoinSet::new();
    let (events_tx, events_rx) = mpsc::unbounded_channel::<Event>();
    // The feed asks for a connection whose data stalled to be replaced.
    let (replace_tx, mut replace_rx) = mpsc::unbounded_channel::<(usize, String)>();
    let (feed, backfilled) = feed::Feed::new(
        matcher.clone(),
        prices.clone(),
        rest.clone(),
        (config.max_backfill.get(), config.stall_timeout.get()),
        cursors,
        metrics,
        replace_tx,
    );
    tasks.spawn(feed.run(events_rx, backfilled, shutdown.clone()));
    if let Some(rest) = rest {
        tasks.spawn(refresh_symbols(
            rest,
            prices,
            config.symbols_refresh.get(),
            shutdown.clone(),
        ));
    }

    let per_connection = config.max_streams_per_connection.max(2);
    let mut links: Vec<Link> = Vec::new();
    let spawn_link = |tasks: &mut JoinSet<()>, links: &mut Vec<Link>| {
        let (commands, rx) = mpsc::unbounded_channel();
        let conn = Connection {
            id: links.len(),
            settings: settings.clone(),
            desired: BTreeSet::new(),
            commands: rx,
            events: events_tx.clone(),
            shutdown: shutdown.clone(),
        };
        tasks.spawn(conn.run());
        links.push(Link {
            commands,
            streams: BTreeSet::new(),
        });
    };
    // The first connection always carries the tickers (last prices of every symbol).
    spawn_link(&mut tasks, &mut links);
    let mut changes = matcher.watch_symbols();
    'supervise: loop {
        let mut wanted: BTreeSet<String> = matcher
            .armed_symbols()
            .iter()
            .map(protocol::trade_stream)
            .collect();
        wanted.insert(protocol::TICKERS_STREAM.to_string());
        let current: Vec<BTreeSet<String>> = links.iter().map(|l| l.streams.clone()).collect();
        let plan = placement::plan(&current, &wanted, per_connection);
        for _ in 0..plan.new_connections {
            spawn_link(&mut tasks, &mut links);
        }
        let mut touched = BTreeSet::new();
        for (i, streams) in plan.removals {
            for s in &streams {
                links[i].streams.remove(s);
            }
            touched.insert(i);
            let _ = links[i].commands.send(Command::Unsubscribe(streams));
        }
        for (i, streams) in plan.additions {
            links[i].streams.extend(streams.iter().cloned());
            touched.insert(i);
            let _ = links[i].commands.send(Command::Subscribe(streams));
        }
        // The feed learns what each connection carries, to tell whose data stalled.
        for i in touched {
            let streams = links[i].streams.iter().cloned().collect();
            let _ = events_tx.send(Event::Streams(i, streams));
        }
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break 'supervise } else { break },
                Some((conn, reason)) = replace_rx.recv() => {
                    if let Some(link) = links.get(conn) {
                        let _ = link.commands.send(Command::Replace(reason));
                    }
                }
                _ = shutdown.cancelled() => break 'supervise,
            }
        }
    }
    drop(links);
    while tasks.join_next().await.is_some() {}
}

/// Keeps the list of listed symbols and their statuses fresh (every `market.symbols_refresh`,
/// an hour by default), so alerts on unknown symbols are refused and alerts on symbols that
/// stopped trading or left say so.
async fn refresh_symbols(
    rest: Rest,
    prices: Arc<Prices>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut backoff = backoff::Backoff::new(Duration::from_secs(2), Duration::from_secs(300));
    loop {
        let wait = match rest.symbols().await {
            Ok(symbols) => {
                tracing::info!(count = symbols.len(), "exchange symbol list loaded");
                let changed = prices.set_listed(symbols);
                if !changed.is_empty() {
                    let first: Vec<String> = changed
                        .iter()
                        .take(10)
                        .map(|(symbol, status)| format!("{symbol}: {status:?}"))
                        .collect();
                    tracing::warn!(
                        count = changed.len(),
                        first = %first.join(", "),
                        "symbols changed status on the exchange"
                    );
                }
                backoff.reset();
                every
            }
            Err(rest::RestError::RateLimited { retry_after, .. }) => retry_after,
            Err(err) => {
                tracing::warn!(error = %err, "cannot load the exchange symbol list; retrying");
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = shutdown.cancelled() => return,
        }
    }
}
