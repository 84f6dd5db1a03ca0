//! The hostile-network figures of the release binary (issue 17), each the median of 3 runs:
//! RSS after 200,000 requests with made-up methods; how long `/healthz` takes to answer while
//! 1,100 idle connections are open under `ulimit -n 1024`; log bytes written during 1,000,000
//! throttled logins. Run with `cargo bench --bench hostile`.

use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/common/process.rs"]
mod process;

use process::{free_port, rss_mib, spawn_logged};

const RUNS: usize = 3;
const CONCURRENCY: usize = 64;

struct Server {
    child: Child,
    base: String,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(nofile: Option<u64>, env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("server.log");
    let child = spawn_logged(dir.path(), port, env, nofile, &log);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "server never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server {
        child,
        base,
        port,
        log,
        _dir: dir,
    }
}

/// Sends `total` requests, `CONCURRENCY` at a time; `make(i)` builds request `i`.
async fn flood(
    total: usize,
    make: impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> Duration {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, next, make) = (client.clone(), next.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let _ = make(&client, i).send().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn made_up_methods() -> (f64, f64, usize) {
    let server = start(None, &[("RUST_LOG", "warn")]).await;
    let before = rss_mib(server.child.id());
    let base = server.base.clone();
    flood(200_000, move |client, i| {
        let method = reqwest::Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
        client.request(method, format!("{base}/healthz"))
    })
    .await;
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (before, rss_mib(server.child.id()), metrics.len())
}

async fn healthz_with_idle_connections() -> f64 {
    let server = start(Some(1024), &[("PRICEALERT_SERVER__HEADER_TIMEOUT", "120s")]).await;
    pricealert::server::nofile::raise().unwrap();
    let addr = format!("127.0.0.1:{}", server.port);
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(60),
        client.get(format!("{}/healthz", server.base)).send(),
    )
    .await
    .expect("/healthz did not answer within 60 s")
    .unwrap();
    assert!(resp.status().is_success());
    started.elapsed().as_secs_f64() * 1e3
}

async fn throttled_logins() -> (u64, f64) {
    let server = start(None, &[]).await;
    let before = std::fs::metadata(&server.log).unwrap().len();
    let base = server.base.clone();
    let took = flood(1_000_000, move |client, _| {
        client
            .post(format!("{base}/auth/login/"))
            .json(&serde_json::json!({"username": "nobody", "password": "wrong-password"}))
    })
    .await;
    let after = std::fs::metadata(&server.log).unwrap().len();
    (after - before, 1_000_000.0 / took.as_secs_f64())
}

fn main() {
    pricealert::server::nofile::raise().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut rss = Vec::new();
        for _ in 0..RUNS {
            let (before, after, metrics) = made_up_methods().await;
            println!(
                "  made-up methods: RSS {before:.1} -> {after:.1} MiB, /metrics {metrics} bytes"
            );
            rss.push(after);
        }
        println!(
            "RSS after 200,000 requests with made-up methods: median {:.1} MiB",
            median(rss)
        );

        let mut waits = Vec::new();
        for _ in 0..RUNS {
            let ms = healthz_with_idle_connections().await;
            println!("  /healthz with 1,100 idle connections: {ms:.1} ms");
            waits.push(ms);
        }
        println!(
            "/healthz with 1,100 idle connections under ulimit -n 1024: median {:.1} ms",
            median(waits)
        );

        let mut bytes = Vec::new();
        for _ in 0..RUNS {
            let (written, rate) = throttled_logins().await;
            println!("  1,000,000 throttled logins: {written} log bytes ({rate:.0} req/s)");
            bytes.push(written as f64);
        }
        println!(
            "log bytes during 1,000,000 throttled logins: median {:.0}",
            median(bytes)
        );
    });
}
