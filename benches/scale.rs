//! Start-up time and memory of the real release binary: with 1,000,000 armed alerts in the
//! database, and idle with none. Run with `cargo bench --bench scale`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pricealert::store::Store;

#[path = "../tests/common/process.rs"]
mod process;

use process::{free_port, rss_mib, serve_command};

const ALERTS: usize = 1_000_000;
const SYMBOLS: usize = 2_000;
const RUNS: usize = 3;

/// Starts the server, waits for /healthz, lets it settle, returns (start-up time, RSS in MiB).
fn measure(dir: &std::path::Path) -> (Duration, f64) {
    let port = free_port();
    let started = Instant::now();
    let mut child = serve_command(dir, port)
        .env("PRICEALERT_MARKET__ENABLED", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.starts_with("HTTP/1.1 200") {
                break started.elapsed();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never came up");
        std::thread::sleep(Duration::from_millis(2));
    };
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_mib(child.id());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    (up, rss)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn report(label: &str, dir: &std::path::Path) {
    let runs: Vec<(Duration, f64)> = (0..RUNS).map(|_| measure(dir)).collect();
    let up = median(runs.iter().map(|r| r.0.as_secs_f64() * 1e3).collect());
    let rss = median(runs.iter().map(|r| r.1).collect());
    println!("{label}: start-up (spawn to /healthz 200) median {up:.0} ms, RSS median {rss:.1} MiB ({RUNS} runs)");
}

fn main() {
    let idle = tempfile::tempdir().unwrap();
    report("idle, no alerts", idle.path());

    let full = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(full.path(), Duration::from_secs(5)).unwrap();
        store.seed_bench_alerts(ALERTS, SYMBOLS).await.unwrap();
    });
    report("1,000,000 armed alerts over 2,000 symbols", full.path());
}
