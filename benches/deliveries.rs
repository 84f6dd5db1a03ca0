//! Deliveries under a burst: 10,000 alerts fire on one trade and each is delivered to a webhook
//! receiver running in another process (this benchmark's own binary, started with
//! `--receiver`). Reports the time until all are delivered and p50/p99 from the crossing trade
//! (handed to the exchange's socket) to receipt, which bounds commit-to-receipt from above. Then
//! the same with every alert also on a second channel that never answers: the first channel's
//! figures should not move. Medians of 3 runs. Run with `cargo bench --bench deliveries`.

#[path = "../tests/common/exchange.rs"]
mod exchange;
#[path = "../tests/common/process.rs"]
mod process;

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exchange::FakeExchange;
use process::{free_port, serve_command, wait_healthy};
use serde_json::{json, Value};

const FIRES: usize = 10_000;
const RUNS: usize = 3;

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// The receiver: answers every POST 200 at once (paths under /dead never answer) and prints
/// `<receipt time µs> <path>` per request.
async fn receiver() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let out = out.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let out = out.clone();
                    async move {
                        let at = now_us();
                        let path = req.uri().path().to_string();
                        if path.starts_with("/dead") {
                            std::future::pending::<()>().await;
                        }
                        let _ = http_body_util::BodyExt::collect(req.into_body()).await;
                        if let Ok(mut out) = out.lock() {
                            let _ = writeln!(out, "{at} {path}");
                            let _ = out.flush();
                        }
                        Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::new(),
                        )))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One burst; returns (seconds until all delivered, p50 ms, p99 ms) for the live channel.
async fn burst(with_dead_channel: bool) -> (f64, f64, f64) {
    let mut recv = Command::new(std::env::current_exe().unwrap())
        .arg("--receiver")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(recv.stdout.take().unwrap()).lines();
    let recv_port: u16 = lines.next().unwrap().unwrap().parse().unwrap();
    let _recv = Killed(recv);
    let (tx, rx) = std::sync::mpsc::channel::<(u128, String)>();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some((at, path)) = line.split_once(' ') {
                let _ = tx.send((at.parse().unwrap_or(0), path.to_string()));
            }
        }
    });

    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = serve_command(dir.path(), port);
    if let Ok(n) = std::env::var("PER_CHANNEL") {
        cmd.env("PRICEALERT_NOTIFY__CONCURRENCY_PER_CHANNEL", n);
    }
    cmd.env("PRICEALERT_LIMITS__ENABLED", "false")
        .env("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "100000")
        .env("PRICEALERT_NOTIFY__ALLOW_PRIVATE_TARGETS", "true")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in ex.env() {
        cmd.env(k, v);
    }
    let _server = Killed(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_healthy(&client, &base).await;
    let post = |path: String, token: Option<String>, body: Value| {
        let client = client.clone();
        async move {
            let mut req = client.post(path).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    post(
        format!("{base}/auth/register/"),
        None,
        json!({"username": "bench", "password": "bench-password", "email": "bench@example.com"}),
    )
    .await;
    let login = post(
        format!("{base}/auth/login/"),
        None,
        json!({"username": "bench", "password": "bench-password"}),
    )
    .await;
    let token = login["access"].as_str().unwrap().to_string();
    let mut channels = Vec::new();
    let alive = post(
        format!("{base}/channels/"),
        Some(token.clone()),
        json!({"kind": "webhook", "url": format!("http://127.0.0.1:{recv_port}/alive")}),
    )
    .await;
    channels.push(alive["id"].clone());
    if with_dead_channel {
        let dead = post(
            format!("{base}/channels/"),
            Some(token.clone()),
            json!({"kind": "webhook", "url": format!("http://127.0.0.1:{recv_port}/dead")}),
        )
        .await;
        channels.push(dead["id"].clone());
    }
    // 10,000 alerts "above 100" on the two webhooks only (not the email channel).
    let body = json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above", "channels": channels});
    let mut created = 0;
    for chunk in 0..(FIRES / 100) {
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.push(post(
                format!("{base}/alerts/"),
                Some(token.clone()),
                body.clone(),
            ));
        }
        for a in futures_util::future::join_all(batch).await {
            assert!(a["id"].is_i64(), "chunk {chunk}: {a}");
            created += 1;
        }
    }
    assert_eq!(created, FIRES);
    ex.wait_subscribed("BTCUSDT").await;
    let traded = now_us();
    ex.trade("BTCUSDT", "150");
    let mut latencies = Vec::with_capacity(FIRES);
    let mut last = traded;
    while latencies.len() < FIRES {
        let (at, path) = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("deliveries stopped arriving");
        if path == "/alive" {
            latencies.push((at.saturating_sub(traded)) as f64 / 1000.0);
            last = last.max(at);
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        (last - traded) as f64 / 1e6,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--receiver") {
        receiver().await;
        return;
    }
    let only_first = std::env::var("DELIVERIES_ONE").is_ok();
    for dead in [false, true] {
        if dead && only_first {
            break;
        }
        let label = if dead {
            "with a second channel that never answers"
        } else {
            "one webhook channel"
        };
        let (mut all, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let (t, a, b) = burst(dead).await;
            println!("  {label}: all {FIRES} delivered in {t:.2} s, trade to receipt p50 {a:.0} ms, p99 {b:.0} ms");
            all.push(t);
            p50.push(a);
            p99.push(b);
        }
        println!(
            "{label}: {FIRES} fires in one burst, all delivered in median {:.2} s; trade to receipt p50 {:.0} ms, p99 {:.0} ms (medians of {RUNS})",
            median(all),
            median(p50),
            median(p99)
        );
    }
}
