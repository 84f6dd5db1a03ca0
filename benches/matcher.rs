//! Decode + match throughput, index memory and start-up load time at 1,000,000 armed alerts
//! over 2,000 symbols, also with 10 % of them repeating and 5 % watching a move in percent.
//! Run with `cargo bench --bench matcher` (release build); figures are
//! medians of several runs on one core, as in BENCHMARKS.md.
//!
//! `cargo bench --bench matcher -- --instructions` does only the per-message work of each
//! alert mix, in functions named `counted_*`, for a machine whose speed varies from day to day:
//! `valgrind --tool=callgrind --toggle-collect='*counted_*' target/release/deps/matcher-* --instructions`
//! counts the instructions each takes, which does not depend on how busy the machine is.

// Prices are written as whole_units.fraction_units (1e-8) for readability.
#![allow(clippy::inconsistent_digit_grouping)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pricealert::domain::{
    Alert, AlertId, Condition, Distance, Move, Price, Repeat, Status, Symbol, UserId,
};
use pricealert::market::protocol::decode_trade;
use pricealert::matcher::{Armed, Index, Kind, Matcher, PercentState, Work};
use pricealert::store::Store;
use tokio::sync::mpsc::UnboundedReceiver;

const ALERTS: usize = 1_000_000;
const SYMBOLS: usize = 2_000;
const MESSAGES: usize = 2_000_000;
const RUNS: usize = 5;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn symbol(i: usize) -> Symbol {
    Symbol::parse(&format!("S{i:04}USDT")).unwrap()
}

fn alert(i: usize) -> Alert {
    alert_over(i, SYMBOLS)
}

/// Each symbol trades around 1000.00000000; alerts sit far away on both sides.
fn alert_over(i: usize, symbols: usize) -> Alert {
    let s = i % symbols;
    let (target, condition) = if i.is_multiple_of(2) {
        (
            2_000_00000000 + (i as u64 % 100_000) * 1000,
            Condition::Above,
        )
    } else {
        (500_00000000 - (i as u64 % 100_000) * 1000, Condition::Below)
    };
    Alert {
        id: AlertId(i as i64 + 1),
        user_id: UserId(1 + (i % 1000) as i64),
        symbol: symbol(s),
        target: Price::from_units(target, 8),
        condition,
        status: Status::Created,
        created_at: 0,
        armed_at: 0,
        triggered_at: None,
        triggered_price: None,
        triggered_reference: None,
        percent: None,
        channels: Vec::new(),
        note: None,
        repeat: None,
        fire_count: 0,
        awaiting_reset: false,
        cooldown_until: None,
        last_trade_id: None,
        expires_at: None,
        deliveries: Vec::new(),
    }
}

/// As `alert`, but one in ten repeats, on every symbol: by the alert's round over the symbols
/// (`r = i / SYMBOLS`), those with `r % 20 == 3` watch their target (re-arm 5 %), those with
/// `r % 20 == 13` fired already and wait for the price to come back 10 % (an `above` alert at
/// 500, so a trade at or below 450 re-arms it; trades stay near 1000). With `percent`, one in
/// twenty more (`r % 20 == 7`) watch a 5 % move: a rise within an hour, or either way within
/// 15 minutes (trades stay within 1 %). (By `i % 20` instead, as before, since `SYMBOLS` is a
/// multiple of 20 each kind would sit on one symbol in twenty only.)
fn mixed_alert(i: usize, percent: bool) -> Alert {
    let mut a = alert_over(i, SYMBOLS);
    let round = i / SYMBOLS;
    match round % 20 {
        7 if percent => {
            let (condition, window_ms) = if round % 40 == 7 {
                (Condition::PercentUp, 3_600_000)
            } else {
                (Condition::PercentMove, 900_000)
            };
            a.condition = condition;
            a.target = Price::from_units(0, 0);
            a.percent = Some(Move {
                percent: Price::from_units(5_00000000, 0),
                window_ms,
            });
        }
        3 => {
            a.repeat = Some(Repeat {
                rearm: Some(Distance::parse("5%").unwrap()),
                cooldown_ms: 60_000,
            });
        }
        13 => {
            a.target = Price::from_units(500_00000000 - (i as u64 % 1000) * 1000, 8);
            a.condition = Condition::Above;
            a.repeat = Some(Repeat {
                rearm: Some(Distance::parse("10%").unwrap()),
                cooldown_ms: 60_000,
            });
            a.fire_count = 1;
            a.awaiting_reset = true;
            a.cooldown_until = Some(T0);
            a.last_trade_id = Some(0);
        }
        _ => {}
    }
    a
}

const T0: i64 = 1_672_515_782_136;

/// Real-format combined-stream aggTrade frames.
fn messages(n: usize) -> Vec<String> {
    messages_at(n, T0)
}

/// The same frames with trade time `time`: alerts created at `time` see them, and the matcher's
/// memory of earlier trades (replayed to newly armed alerts) holds only older ones.
fn messages_at(n: usize, time: i64) -> Vec<String> {
    messages_over(n, time, SYMBOLS)
}

fn messages_over(n: usize, time: i64, symbols: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let s = i % symbols;
            let price = 1000_00000000u64 + (i as u64 * 7919) % 10_00000000;
            let p = Price::from_units(price, 8);
            format!(
                r#"{{"stream":"s{s:04}usdt@aggTrade","data":{{"e":"aggTrade","E":{time},"s":"S{s:04}USDT","a":{a},"p":"{p}","q":"4.70443515","f":27781,"l":27781,"T":{time},"m":true,"M":true}}}}"#,
                a = 26129 + i
            )
        })
        .collect()
}

fn run(matcher: &Matcher, frames: &[String], count: usize) -> (Duration, usize) {
    let started = Instant::now();
    let mut fired = 0;
    for i in 0..count {
        if let Some(Ok(t)) = decode_trade(frames[i % frames.len()].as_bytes()) {
            fired += matcher.on_trade(t.symbol, t.price, t.time, t.agg_id);
        }
    }
    (started.elapsed(), fired)
}

/// The original service's design, for comparison: each trade is parsed into a generic JSON
/// value, the symbol's armed alerts are fetched from SQLite (by an index, with the statement
/// prepared once, which is generous to it), and prices are compared as floats.
fn naive_run(conn: &rusqlite::Connection, frames: &[String], count: usize) -> (Duration, usize) {
    let mut query = conn
        .prepare_cached(
            "SELECT id, target_price, condition FROM alerts WHERE symbol = ?1 AND status = 'created'",
        )
        .unwrap();
    let started = Instant::now();
    let mut fired = 0;
    for i in 0..count {
        let frame: serde_json::Value = serde_json::from_str(&frames[i % frames.len()]).unwrap();
        let data = &frame["data"];
        let symbol = data["s"].as_str().unwrap();
        let price: f64 = data["p"].as_str().unwrap().parse().unwrap();
        let mut rows = query.query([symbol]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let target: f64 = row.get::<_, String>(1).unwrap().parse().unwrap();
            let condition: String = row.get(2).unwrap();
            if (condition == "above" && price >= target)
                || (condition == "below" && price <= target)
            {
                fired += 1;
            }
        }
    }
    (started.elapsed(), fired)
}

/// Messages per second of the naive design and of the matcher on the same frames, at one
/// scale: `alerts` armed alerts over `symbols` symbols (the naive design reads
/// `alerts / symbols` rows per trade).
async fn side_by_side(alerts: usize, symbols: usize) -> (f64, f64) {
    const NAIVE_MESSAGES: usize = 20_000;
    let frames = messages_over(symbols, T0, symbols);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Duration::from_secs(5)).unwrap();
    store.seed_bench_alerts(alerts, symbols).await.unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("pricealert.db")).unwrap();
    naive_run(&conn, &frames, 2_000); // warm-up: pages in cache
    let naive = median_rate(NAIVE_MESSAGES, || naive_run(&conn, &frames, NAIVE_MESSAGES));
    let (matcher, _work) = Matcher::new();
    for i in 0..alerts {
        matcher.arm(&alert_over(i, symbols));
    }
    run(&matcher, &frames, 200_000);
    let ours = median_rate(MESSAGES, || run(&matcher, &frames, MESSAGES));
    (naive, ours)
}

/// Messages per second, median of `RUNS` runs of `messages` each; none may fire.
fn median_rate(messages: usize, mut run: impl FnMut() -> (Duration, usize)) -> f64 {
    median(
        (0..RUNS)
            .map(|_| {
                let (elapsed, fired) = run();
                assert_eq!(fired, 0);
                messages as f64 / elapsed.as_secs_f64()
            })
            .collect(),
    )
}

/// A day of a busy symbol through one 24-hour window: 1,500,000 trades 57.6 ms apart, prices a
/// random walk of ±1 unit of 0.01 around 65,000 (a deterministic generator). Prints the cost
/// per trade of the window upkeep and its memory at the end (queue capacity, i.e. the peak).
fn window_upkeep() {
    const TRADES: u64 = 1_500_000;
    let symbol = symbol(0);
    let mut index = Index::default();
    let rule = Move {
        percent: Price::from_units(1000_00000000, 0),
        window_ms: 86_400_000,
    };
    let state = PercentState::starting(T0);
    let armed = Armed {
        user: UserId(1),
        armed_at: T0,
        expires_at: i64::MAX,
    };
    index.insert_kind(
        AlertId(1),
        symbol.clone(),
        Price::from_units(0, 0),
        Condition::PercentMove,
        armed,
        Kind::Percent(rule, state),
    );
    let before = index.approx_bytes();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut price: u64 = 65_000_00000000;
    let started = Instant::now();
    for i in 0..TRADES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        price = if x & 1 == 0 {
            price + 1_000_000
        } else {
            price - 1_000_000
        };
        let time = T0 + (i as i64 * 576) / 10;
        let out = index.on_trade(&symbol, Price::from_units(price, 8), time, i);
        assert!(out.fired.is_empty());
    }
    let elapsed = started.elapsed();
    println!(
        "window upkeep: one 24 h window, {TRADES} random-walk trades over a day: {:.0} ns/trade \
         (index with its alert), window memory {:.1} KB at the end (queue capacity)",
        elapsed.as_nanos() as f64 / TRADES as f64,
        index.approx_bytes().saturating_sub(before) as f64 / 1e3
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A matcher armed with `ALERTS` alerts made by `alert`, and its work queue (kept, or the
/// matcher's sends fail).
fn armed_matcher(alert: impl Fn(usize) -> Alert) -> (Arc<Matcher>, UnboundedReceiver<Work>) {
    let (matcher, work) = Matcher::new();
    for i in 0..ALERTS {
        matcher.arm(&alert(i));
    }
    (matcher, work)
}

/// Decodes `count` frames, round the list; how many were trades.
fn decode_all(frames: &[String], count: usize) -> usize {
    (0..count)
        .filter(|i| decode_trade(frames[i % frames.len()].as_bytes()).is_some_and(|t| t.is_ok()))
        .count()
}

/// Messages each `counted_*` function decodes and matches.
const COUNTED: usize = 200_000;

#[inline(never)]
fn counted_decode_only(frames: &[String]) -> usize {
    decode_all(frames, COUNTED)
}

// The three bodies differ by a constant the optimizer cannot see through, or it would merge
// them into one function and callgrind would count the three mixes as one.
#[inline(never)]
fn counted_one_shot(matcher: &Matcher, frames: &[String]) -> usize {
    run(matcher, frames, COUNTED).1 + std::hint::black_box(1) - 1
}

#[inline(never)]
fn counted_mix_repeating(matcher: &Matcher, frames: &[String]) -> usize {
    run(matcher, frames, COUNTED).1 + std::hint::black_box(2) - 2
}

#[inline(never)]
fn counted_mix_repeating_percent(matcher: &Matcher, frames: &[String]) -> usize {
    run(matcher, frames, COUNTED).1 + std::hint::black_box(3) - 3
}

/// The `--instructions` mode: each mix's index is built and warmed up outside the counted
/// functions, then each decodes and matches `COUNTED` messages, none firing.
fn instructions() {
    let frames = messages(SYMBOLS);
    assert_eq!(counted_decode_only(&frames), COUNTED);
    let build = |alert: &dyn Fn(usize) -> Alert| {
        let armed = armed_matcher(alert);
        run(&armed.0, &frames, 200_000); // warm-up: the windows fill
        armed
    };
    let (one_shot, _w1) = build(&alert);
    assert_eq!(counted_one_shot(&one_shot, &frames), 0);
    drop(one_shot);
    let (mix, _w2) = build(&|i| mixed_alert(i, false));
    assert_eq!(counted_mix_repeating(&mix, &frames), 0);
    drop(mix);
    let (percent, _w3) = build(&|i| mixed_alert(i, true));
    assert_eq!(counted_mix_repeating_percent(&percent, &frames), 0);
    println!("{COUNTED} messages counted per mix");
}

fn main() {
    if std::env::args().any(|a| a == "--instructions") {
        return instructions();
    }
    let before = rss_bytes();
    let (matcher, mut work) = armed_matcher(alert);
    let index_rss = rss_bytes().saturating_sub(before);
    println!(
        "index: {} armed alerts over {SYMBOLS} symbols, RSS growth {:.1} MB",
        matcher.armed(),
        index_rss as f64 / 1e6
    );

    // 2,000 frames (one per symbol, ~400 KB) stay in cache, as frames fresh from a socket do;
    // the 20,000-frame set (~4 MB) is the cache-cold worst case, reported alongside.
    let cold = messages(20_000);
    let frames = messages(SYMBOLS);
    let bytes: usize = frames.iter().map(String::len).sum::<usize>() / frames.len();
    run(&matcher, &frames, 200_000); // warm-up
    let started = Instant::now();
    let ok = decode_all(&frames, MESSAGES);
    let decode_only = started.elapsed();
    assert_eq!(ok, MESSAGES);
    println!(
        "decode only: {:.2} M msg/s ({:.0} ns/msg)",
        MESSAGES as f64 / decode_only.as_secs_f64() / 1e6,
        decode_only.as_nanos() as f64 / MESSAGES as f64
    );
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let (elapsed, fired) = run(&matcher, &frames, MESSAGES);
        assert_eq!(fired, 0);
        rates.push(MESSAGES as f64 / elapsed.as_secs_f64());
    }
    let no_fire = median(rates.clone());
    let mut cold_rates = Vec::new();
    for _ in 0..RUNS {
        let (elapsed, _) = run(&matcher, &cold, MESSAGES);
        cold_rates.push(MESSAGES as f64 / elapsed.as_secs_f64());
    }
    println!(
        "decode+match, no fires, 20,000 distinct frames (cache-cold): median {:.2} M msg/s",
        median(cold_rates) / 1e6
    );
    println!(
        "decode+match, no fires: median {:.2} M msg/s ({:.0} ns/msg, {bytes} B/msg) over {RUNS} runs of {MESSAGES}; runs: {:?}",
        no_fire / 1e6,
        1e9 / no_fire,
        rates.iter().map(|r| format!("{:.2}M", r / 1e6)).collect::<Vec<_>>()
    );

    // The mix: 1,000,000 alerts again, 10 % of them repeating (half watching their target,
    // half fired and waiting for the price to come back by 10 %, far from where it trades),
    // then with 5 % of them percent alerts too: the difference is the windows' upkeep. Each
    // index stays until both ran: a dropped one's pages would be reused and hide the growth.
    let mut kept = Vec::new();
    for (label, percent) in [
        ("10 % repeating", false),
        ("10 % repeating, 5 % percent", true),
    ] {
        let before = rss_bytes();
        let (mixed, mixed_work) = armed_matcher(|i| mixed_alert(i, percent));
        let mixed_rss = rss_bytes().saturating_sub(before);
        run(&mixed, &frames, 200_000); // warm-up: the windows fill
        let mut mixed_rates = Vec::new();
        for _ in 0..RUNS {
            let (elapsed, fired) = run(&mixed, &frames, MESSAGES);
            assert_eq!(fired, 0);
            mixed_rates.push(MESSAGES as f64 / elapsed.as_secs_f64());
        }
        println!(
            "mix ({label}): {} alerts, index RSS growth {:.1} MB; decode+match, no fires: \
             median {:.2} M msg/s; runs: {:?}",
            mixed.armed(),
            mixed_rss as f64 / 1e6,
            median(mixed_rates.clone()) / 1e6,
            mixed_rates
                .iter()
                .map(|r| format!("{:.2}M", r / 1e6))
                .collect::<Vec<_>>()
        );
        kept.push((mixed, mixed_work));
    }
    drop(kept);

    window_upkeep();

    // 1,000 alerts that the stream will cross: the same run now fires each once.
    let mut with_fires = Vec::new();
    for run_no in 0..RUNS {
        let at = T0 + 1 + run_no as i64;
        let run_frames = messages_at(SYMBOLS, at);
        for k in 0..1000 {
            let mut a = alert(k);
            a.created_at = at;
            a.armed_at = at;
            a.id = AlertId((ALERTS + run_no * 1000 + k) as i64 + 1);
            // Every trade is at or above 1000, so each of these fires at its symbol's first trade.
            a.target = Price::from_units(1000_00000000, 8);
            a.condition = Condition::Above;
            matcher.arm(&a);
        }
        let (elapsed, fired) = run(&matcher, &run_frames, MESSAGES);
        assert_eq!(fired, 1000);
        with_fires.push(elapsed.as_secs_f64());
        while work.try_recv().is_ok() {}
    }
    // The difference from the no-fire figure is within run-to-run noise; the fires' own cost is
    // timed alone below.
    println!(
        "with 1,000 fires per run: median {:.2} M msg/s",
        MESSAGES as f64 / median(with_fires) / 1e6
    );
    // The fires alone: 1,000 trades, each firing one alert, timed by themselves.
    let fire_at = T0 + 100;
    let fire_frames: Vec<String> = messages_at(1000, fire_at);
    for k in 0..1000 {
        let mut a = alert(k);
        a.created_at = fire_at;
        a.armed_at = fire_at;
        a.id = AlertId((ALERTS + 100_000 + k) as i64);
        a.target = Price::from_units(1000_00000000, 8);
        a.condition = Condition::Above;
        matcher.arm(&a);
    }
    let (elapsed, fired) = run(&matcher, &fire_frames, 1000);
    assert_eq!(fired, 1000);
    while work.try_recv().is_ok() {}
    println!(
        "1,000 trades that each fire one alert: {:.2} ms ({:.2} µs per fire, decode included)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / 1000.0
    );

    // Start-up: load 1,000,000 armed alerts from SQLite into a fresh index.
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(dir.path(), Duration::from_secs(5)).unwrap();
        store.seed_bench_alerts(ALERTS, SYMBOLS).await.unwrap();
        let mut loads = Vec::new();
        for _ in 0..3 {
            let (fresh, _rx) = Matcher::new();
            let started = Instant::now();
            let n = fresh.load(&store).await.unwrap();
            loads.push(started.elapsed().as_secs_f64());
            assert_eq!(n, ALERTS);
        }
        println!(
            "load {ALERTS} armed alerts from SQLite at start: median {:.0} ms",
            median(loads) * 1e3
        );
        drop(store);

        for (alerts, symbols) in [(ALERTS, SYMBOLS), (100_000, 500)] {
            let (naive, ours) = side_by_side(alerts, symbols).await;
            println!(
                "naive design (JSON value, one SQLite query per trade, float prices) vs the matcher, \
                 {alerts} alerts over {symbols} symbols: {:.0} msg/s vs {:.2} M msg/s, {:.0}x",
                naive,
                ours / 1e6,
                ours / naive
            );
        }
    });
}
