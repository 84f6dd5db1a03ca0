//! Trade to trigger, end to end: the fake exchange (tests/common/exchange.rs, real WebSocket
//! frames on 127.0.0.1) streams 50,000 aggTrade frames per second across 500 symbols to the
//! release binary, which holds 100,000 armed alerts. 2,000 of them are crossed by known trades
//! spread over the run; each one's latency runs from the moment its frame is handed to the
//! exchange's socket writer to the moment its `triggered` event arrives on `GET /events`, which
//! the server sends only after the fire is committed (so this is an upper bound on "frame to
//! committed trigger": it includes the event's own delivery and one SQLite read).
//! Also: the server's CPU over the run, and the latency by quarter of the run (a growing
//! backlog would show as rising latency, as all 500 streams share one ordered connection).
//!
//! Run with `cargo bench --bench trigger`.

#[path = "../tests/common/exchange.rs"]
mod exchange;
#[path = "../tests/common/process.rs"]
mod process;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use exchange::FakeExchange;
use futures_util::StreamExt;
use pricealert::store::Store;
use process::{free_port, rss_mib, serve_command, wait_healthy};
use serde_json::{json, Value};

const RATE: usize = 50_000; // trades per second
const SYMBOLS: usize = 500;
const SEEDED: usize = 98_000; // far from the market: never fire
const FIRING: usize = 2_000; // crossed once each, spread over the run
const WARM_UP: Duration = Duration::from_secs(2);
const RUN: Duration = Duration::from_secs(20);
const RUNS: usize = 3;

fn symbol(i: usize) -> String {
    format!("S{:04}USDT", i % SYMBOLS)
}

/// Firing alert `j`: symbol `j % 500`, the `k = j / 500`-th on it, "below 900 - k". Its trade is
/// at 899.5 - k, which crosses it and none of the later ones on that symbol (lower targets),
/// while the earlier ones have fired already. Everything else trades at 950-1050, between the
/// seeded alerts (below 400.25 / above 2000.5).
fn firing_target(j: usize) -> String {
    format!("{}", 900 - j / SYMBOLS)
}

fn firing_price(j: usize) -> String {
    format!("{}.5", 899 - j / SYMBOLS)
}

fn background_price(i: usize) -> String {
    let x = (i * 7919) % 10_000;
    format!("{}.{:02}", 950 + x / 100, x % 100)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

async fn start_server(dir: &std::path::Path, exchange: &FakeExchange) -> Server {
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = serve_command(dir, port)
        .envs(exchange.env())
        .env("PRICEALERT_LIMITS__ENABLED", "false")
        .env("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_healthy(&reqwest::Client::new(), &server.base).await;
    server
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = client.post(url).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

/// Reads `GET /events` and reports each `triggered` alert id with its arrival time.
async fn follow_events(resp: reqwest::Response, fired: tokio::sync::mpsc::UnboundedSender<i64>) {
    let mut body = resp.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
                let Ok(value) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if value["kind"] == "triggered" {
                    let _ = fired.send(value["alert"]["id"].as_i64().unwrap_or(-1));
                } else if value["kind"] == "prices" {
                    let _ = fired.send(0); // the stream is open
                }
            }
        }
    }
}

/// Streams the load; returns when each firing trade was handed to the exchange, and the count.
fn send_load(exchange: Arc<FakeExchange>) -> (Vec<Instant>, usize) {
    let total = ((WARM_UP + RUN).as_secs_f64() * RATE as f64) as usize;
    let fire_every = RUN.as_secs_f64() / FIRING as f64;
    let mut fired_at = Vec::with_capacity(FIRING);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut next_fire = 0usize;
    while sent < total {
        let elapsed = started.elapsed();
        let due = ((elapsed.as_secs_f64() * RATE as f64) as usize).min(total);
        let mut batch: Vec<(String, String)> = Vec::with_capacity(due - sent);
        let mut firing_in_batch = 0;
        while sent < due {
            let fire_due = WARM_UP.as_secs_f64() + next_fire as f64 * fire_every;
            if next_fire < FIRING && elapsed.as_secs_f64() >= fire_due {
                batch.push((symbol(next_fire), firing_price(next_fire)));
                next_fire += 1;
                firing_in_batch += 1;
            } else {
                batch.push((symbol(sent), background_price(sent)));
            }
            sent += 1;
        }
        if !batch.is_empty() {
            let refs: Vec<(&str, &str)> = batch
                .iter()
                .map(|(s, p)| (s.as_str(), p.as_str()))
                .collect();
            let now = Instant::now();
            exchange.trades(&refs);
            fired_at.extend(std::iter::repeat_n(now, firing_in_batch));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    (fired_at, sent)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct RunFigures {
    p50: f64,
    p99: f64,
    max: f64,
    quarters: [f64; 4],
    cpu: f64,
    rate: f64,
    rss: f64,
}

async fn one_run() -> RunFigures {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), Duration::from_secs(5)).unwrap();
        store.seed_bench_alerts(SEEDED, SYMBOLS).await.unwrap();
    }
    let listed: Vec<String> = (0..SYMBOLS).map(symbol).collect();
    let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
    let exchange = Arc::new(FakeExchange::start(&listed).await);
    let server = start_server(dir.path(), &exchange).await;
    let client = reqwest::Client::new();
    let account =
        json!({"username": "trigger", "password": "bench-password", "email": "t@example.com"});
    post(
        &client,
        format!("{}/auth/register/", server.base),
        None,
        account.clone(),
    )
    .await;
    let login = post(
        &client,
        format!("{}/auth/login/", server.base),
        None,
        account,
    )
    .await;
    let token = login["access"].as_str().unwrap().to_string();
    let mut ids = Vec::with_capacity(FIRING);
    for j in 0..FIRING {
        let alert = post(
            &client,
            format!("{}/alerts/create/", server.base),
            Some(&token),
            json!({"cryptocurrency": symbol(j), "target_price": firing_target(j), "condition": "below"}),
        )
        .await;
        ids.push(alert["id"].as_i64().unwrap());
    }
    exchange
        .wait_for("all 500 symbols subscribed", Duration::from_secs(60), |s| {
            s.subscribed()
                .iter()
                .filter(|x| x.ends_with("@aggTrade"))
                .count()
                == SYMBOLS
        })
        .await;

    let events = client
        .get(format!("{}/events", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(events.status().is_success());
    let (fired_tx, mut fired_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(follow_events(events, fired_tx));
    assert_eq!(
        fired_rx.recv().await,
        Some(0),
        "the event stream opens with prices"
    );

    let pid = server.child.id();
    let cpu_before = cpu_seconds(pid);
    let load_started = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    let sender = exchange.clone();
    std::thread::spawn(move || {
        let _ = done_tx.send(send_load(sender));
    });

    let by_id: HashMap<i64, usize> = ids.iter().enumerate().map(|(j, id)| (*id, j)).collect();
    let mut arrived: Vec<Option<Instant>> = vec![None; FIRING];
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + WARM_UP + RUN + Duration::from_secs(30);
    while seen < FIRING {
        let id = tokio::time::timeout_at(deadline, fired_rx.recv())
            .await
            .expect("every crossed alert fires")
            .expect("event stream open");
        if id == 0 {
            continue;
        }
        let j = by_id[&id];
        assert!(arrived[j].is_none(), "alert {id} fired twice");
        arrived[j] = Some(Instant::now());
        seen += 1;
    }
    let (sent_at, sent) = done_rx.recv().unwrap();
    let wall = load_started.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(pid) - cpu_before) / wall;
    let rss = rss_mib(pid);
    assert_eq!(sent_at.len(), FIRING);

    let latencies: Vec<f64> = (0..FIRING)
        .map(|j| {
            arrived[j]
                .unwrap()
                .saturating_duration_since(sent_at[j])
                .as_secs_f64()
                * 1e3
        })
        .collect();
    let mut quarters = [0.0; 4];
    for (q, chunk) in latencies.chunks(FIRING / 4).enumerate().take(4) {
        quarters[q] = median(chunk.to_vec());
    }
    let mut sorted = latencies;
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    drop(server);
    RunFigures {
        p50: percentile(&sorted, 50.0),
        p99: percentile(&sorted, 99.0),
        max: *sorted.last().unwrap(),
        quarters,
        cpu,
        rate: sent as f64 / (WARM_UP + RUN).as_secs_f64(),
        rss,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut runs = Vec::new();
    for run in 1..=RUNS {
        let f = one_run().await;
        println!(
            "run {run}: {:.0} trades/s sent; trigger latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             p50 by quarter {:.2} / {:.2} / {:.2} / {:.2} ms; server CPU {:.0}% of one core; RSS {:.1} MiB",
            f.rate, f.p50, f.p99, f.max, f.quarters[0], f.quarters[1], f.quarters[2], f.quarters[3],
            f.cpu * 100.0, f.rss
        );
        runs.push(f);
    }
    let m = |f: fn(&RunFigures) -> f64| median(runs.iter().map(f).collect());
    println!(
        "trade to trigger, {RATE} trades/s over {SYMBOLS} symbols, {} armed alerts, {FIRING} fires per run, \
         medians of {RUNS} runs: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; server CPU {:.0}% of one core; \
         last-quarter p50 {:.2} ms vs first {:.2} ms",
        SEEDED + FIRING,
        m(|f| f.p50),
        m(|f| f.p99),
        m(|f| f.max),
        m(|f| f.cpu) * 100.0,
        m(|f| f.quarters[3]),
        m(|f| f.quarters[0]),
    );
}
