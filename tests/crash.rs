//! Crash safety of the real binary: it is killed with SIGKILL at random moments while alerts are
//! being created and trades cross them, restarted each time, and the database is checked. A
//! quarter of the alerts repeat (re-arm 5 away from the target): each of their fires is one
//! crossing after a reset, none lost and none twice.
//! Run by `.ci/run` (`cargo test --release --test crash -- --ignored`); slow for plain `cargo test`.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::exchange::FakeExchange;
use common::process::{free_port, serve_command, wait_healthy};
use common::receiver::Receiver;
use rand::Rng;
use serde_json::{json, Value};

const SYMBOLS: &[&str] = &["BTCUSDT", "ETHUSDT", "SOLUSDT"];
const KILLS: usize = 24;

fn spawn(ex: &FakeExchange, dir: &std::path::Path, port: u16) -> Child {
    let mut cmd = serve_command(dir, port);
    cmd.env("PRICEALERT_LIMITS__ENABLED", "false")
        .env("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "100000")
        .env("PRICEALERT_AUTH__ACCESS_TTL", "6h")
        .env("RUST_LOG", "warn")
        .env("PRICEALERT_NOTIFY__ALLOW_PRIVATE_TARGETS", "true")
        .env("PRICEALERT_SMTP__RETRY_INITIAL", "200ms")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // CRASH_LOG=file keeps the servers' logs for a look after a failure.
    match std::env::var("CRASH_LOG").ok().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    }) {
        Some(file) => {
            cmd.stderr(file).env("RUST_LOG", "info,pricealert=trace");
        }
        None => {
            cmd.stderr(Stdio::null());
        }
    }
    for (k, v) in ex.env() {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn pricealert")
}

#[derive(Debug)]
struct Row {
    symbol: String,
    target: f64,
    target_text: String,
    condition: String,
    status: String,
    created_at: i64,
    triggered_price: Option<String>,
    triggered_at: Option<i64>,
    /// Re-arms this far back from the target after each fire; `None`: one-shot.
    rearm: Option<f64>,
    /// Its fires as recorded: (price, time), oldest first.
    fires: Vec<(f64, i64)>,
}

fn rows(dir: &std::path::Path) -> (HashMap<i64, Row>, HashMap<i64, i64>) {
    let conn = rusqlite::Connection::open(dir.join("pricealert.db")).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "database corrupted");
    let mut stmt = conn
        .prepare(
            "SELECT id, symbol, target_price, condition, status, created_at, triggered_price, triggered_at, repeat_rearm FROM alerts",
        )
        .unwrap();
    let alerts = stmt
        .query_map([], |r| {
            let target: String = r.get(2)?;
            Ok((
                r.get::<_, i64>(0)?,
                Row {
                    symbol: r.get(1)?,
                    target: target.parse().unwrap(),
                    target_text: target,
                    condition: r.get(3)?,
                    status: r.get(4)?,
                    created_at: r.get(5)?,
                    triggered_price: r.get(6)?,
                    triggered_at: r.get(7)?,
                    rearm: r.get::<_, Option<String>>(8)?.map(|d| d.parse().unwrap()),
                    fires: Vec::new(),
                },
            ))
        })
        .unwrap()
        .collect::<Result<HashMap<i64, Row>, _>>()
        .unwrap();
    let mut alerts = alerts;
    let mut stmt = conn
        .prepare("SELECT alert_id, price, fired_at FROM fires ORDER BY id")
        .unwrap();
    let fires = stmt
        .query_map([], |r| {
            let price: String = r.get(1)?;
            Ok((r.get::<_, i64>(0)?, price.parse().unwrap(), r.get(2)?))
        })
        .unwrap();
    for fire in fires {
        let (id, price, time) = fire.unwrap();
        alerts.get_mut(&id).unwrap().fires.push((price, time));
    }
    let mut stmt = conn
        .prepare("SELECT alert_id, COUNT(*) FROM deliveries GROUP BY alert_id")
        .unwrap();
    let notes = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
        .collect::<Result<HashMap<_, _>, _>>()
        .unwrap();
    (alerts, notes)
}

/// The trade that should fire the alert: the first at or after its creation on the right side.
/// (Test prices have at most two decimals, so comparing them as f64 here is exact enough.)
fn expected_fire(ex: &FakeExchange, row: &Row) -> Option<(String, i64)> {
    ex.state(|st| {
        st.trades.get(&row.symbol).and_then(|list| {
            list.iter()
                .filter(|t| t.time >= row.created_at)
                .find(|t| {
                    let p: f64 = t.price.parse().unwrap();
                    if row.condition == "above" {
                        p >= row.target
                    } else {
                        p <= row.target
                    }
                })
                .map(|t| (t.price.clone(), t.time))
        })
    })
}

/// Every fire a repeating alert should have had from the trades so far: a crossing, then one
/// only after a trade at least `rearm` back on the other side.
fn expected_repeats(ex: &FakeExchange, row: &Row, rearm: f64) -> Vec<(f64, i64)> {
    ex.state(|st| {
        let mut fires = Vec::new();
        let mut ready = true;
        for t in st.trades.get(&row.symbol).into_iter().flatten() {
            if t.time < row.created_at {
                continue;
            }
            let p: f64 = t.price.parse().unwrap();
            let (crosses, reset) = if row.condition == "above" {
                (p >= row.target, p <= row.target - rearm)
            } else {
                (p <= row.target, p >= row.target + rearm)
            };
            if ready && crosses {
                fires.push((p, t.time));
                ready = false;
            } else if !ready && reset {
                ready = true;
            }
        }
        fires
    })
}

#[tokio::test]
#[ignore = "kills the real binary ~24 times; run by .ci/run"]
async fn survives_sigkill_at_random_moments() {
    let ex = Arc::new(FakeExchange::start(SYMBOLS).await);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let acknowledged: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let prices: Arc<Mutex<HashMap<&str, f64>>> =
        Arc::new(Mutex::new(SYMBOLS.iter().map(|s| (*s, 1000.0)).collect()));
    let mut token = String::new();
    let started = Instant::now();
    // The user is told by email (no SMTP here: those wait, pending) and by a webhook.
    let hook = Receiver::start().await;

    for round in 0..=KILLS {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = spawn(&ex, dir.path(), port);
        wait_healthy(&client, &base).await;
        if round == 0 {
            client
                .post(format!("{base}/auth/register/"))
                .json(&json!({"username": "crash", "password": "crash-password", "email": "crash@example.com"}))
                .send()
                .await
                .unwrap();
            let t: Value = client
                .post(format!("{base}/auth/login/"))
                .json(&json!({"username": "crash", "password": "crash-password"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            token = t["access"].as_str().unwrap().to_string();
            let added = client
                .post(format!("{base}/channels/"))
                .bearer_auth(&token)
                .json(&json!({"kind": "webhook", "url": hook.url("/crash")}))
                .send()
                .await
                .unwrap();
            assert_eq!(added.status().as_u16(), 201);
        }
        if round == KILLS {
            // The last start is not killed: let it catch up, then check nothing was lost.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (alerts, _) = rows(dir.path());
                let missing: Vec<i64> = alerts
                    .iter()
                    .filter(|(_, r)| match r.rearm {
                        Some(d) => r.fires.len() < expected_repeats(&ex, r, d).len(),
                        None => r.status == "created" && expected_fire(&ex, r).is_some(),
                    })
                    .map(|(id, _)| *id)
                    .collect();
                if missing.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    for id in &missing {
                        let r = &alerts[id];
                        eprintln!(
                            "never fired: {id} {r:?} expected {:?}",
                            expected_fire(&ex, r)
                        );
                    }
                }
                assert!(Instant::now() < deadline, "alerts never fired: {missing:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Every webhook delivery reached the receiver at least once, by its key.
            let deadline = Instant::now() + Duration::from_secs(30);
            let keys = loop {
                let conn = rusqlite::Connection::open(dir.path().join("pricealert.db")).unwrap();
                let pending: i64 = conn
                    .query_row(
                        "SELECT COUNT(*) FROM deliveries WHERE kind = 'webhook' AND status != 'sent'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                if pending == 0 {
                    let mut stmt = conn
                        .prepare("SELECT delivery_key FROM deliveries WHERE kind = 'webhook'")
                        .unwrap();
                    break stmt
                        .query_map([], |r| r.get::<_, String>(0))
                        .unwrap()
                        .collect::<Result<HashSet<_>, _>>()
                        .unwrap();
                }
                assert!(
                    Instant::now() < deadline,
                    "{pending} webhook deliveries never went out"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let received: HashSet<String> = hook
                .requests()
                .iter()
                .filter_map(|r| r.header("x-pricealert-delivery").map(str::to_string))
                .collect();
            let lost: Vec<&String> = keys.difference(&received).collect();
            assert!(
                lost.is_empty(),
                "webhook deliveries never received: {lost:?}"
            );
            eprintln!(
                "webhook: {} deliveries, {} requests received (repeats after kills are allowed)",
                keys.len(),
                hook.requests().len()
            );
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }

        // Create alerts and move prices across them until the kill.
        let kill_after = Duration::from_millis(rand::rng().random_range(100..700));
        let stop = Instant::now() + kill_after;
        let creator = {
            let (client, base, token, ack, prices) = (
                client.clone(),
                base.clone(),
                token.clone(),
                acknowledged.clone(),
                prices.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < stop {
                    let (symbol, target, condition) = {
                        let p = prices.lock().unwrap();
                        let mut rng = rand::rng();
                        let symbol = SYMBOLS[rng.random_range(0..SYMBOLS.len())];
                        let offset: f64 = rng.random_range(1.0..20.0);
                        if rng.random_bool(0.5) {
                            (symbol, p[symbol] + offset, "above")
                        } else {
                            (symbol, p[symbol] - offset, "below")
                        }
                    };
                    let mut body = json!({"cryptocurrency": symbol, "target_price": format!("{target:.2}"), "condition": condition});
                    if rand::rng().random_bool(0.25) {
                        body["repeat"] = json!({"rearm": "5"});
                    }
                    let sent = client
                        .post(format!("{base}/alerts/"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    if let Ok(resp) = sent {
                        if resp.status().as_u16() == 201 {
                            if let Ok(a) = resp.json::<Value>().await {
                                ack.lock().unwrap().insert(a["id"].as_i64().unwrap());
                            }
                        }
                    }
                }
            })
        };
        let trader = {
            let (ex, prices) = (ex.clone(), prices.clone());
            tokio::spawn(async move {
                while Instant::now() < stop {
                    let (symbol, price) = {
                        let mut p = prices.lock().unwrap();
                        let mut rng = rand::rng();
                        let symbol = SYMBOLS[rng.random_range(0..SYMBOLS.len())];
                        let next = (p[symbol] + rng.random_range(-8.0..8.0f64)).max(10.0);
                        p.insert(symbol, next);
                        (symbol, next)
                    };
                    ex.trade(symbol, &format!("{price:.2}"));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        tokio::time::sleep(kill_after).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        creator.await.unwrap();
        trader.await.unwrap();

        // Between runs, with the server dead: the file is sound and nothing acknowledged is gone.
        let (alerts, notes) = rows(dir.path());
        for id in acknowledged.lock().unwrap().iter() {
            assert!(
                alerts.contains_key(id),
                "round {round}: acknowledged alert {id} is gone"
            );
        }
        check_fires(&ex, &alerts, &notes);
    }

    let (alerts, notes) = rows(dir.path());
    check_fires(&ex, &alerts, &notes);
    let triggered = alerts.values().map(|r| r.fires.len()).sum::<usize>();
    let repeats: usize = alerts
        .values()
        .filter(|r| r.rearm.is_some())
        .map(|r| r.fires.len())
        .sum();
    let pending = {
        let conn = rusqlite::Connection::open(dir.path().join("pricealert.db")).unwrap();
        conn.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE kind = 'email' AND status = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    assert_eq!(
        pending as usize, triggered,
        "a pending email notification was lost"
    );
    let trades: usize = ex.state(|st| st.trades.values().map(Vec::len).sum());
    eprintln!(
        "crash test: {KILLS} SIGKILLs in {:?}; {} alerts acknowledged, {} stored, {triggered} fires \
         ({repeats} of repeating alerts), each with exactly one delivery per channel (email + \
         webhook); {trades} trades; integrity_check ok every round",
        started.elapsed(),
        acknowledged.lock().unwrap().len(),
        alerts.len(),
    );
}

/// Every triggered alert fired once, at the first crossing trade after its creation, with one
/// delivery per channel (email and webhook); nothing else has a delivery.
fn check_fires(ex: &FakeExchange, alerts: &HashMap<i64, Row>, notes: &HashMap<i64, i64>) {
    for (id, row) in alerts {
        if let Some(rearm) = row.rearm {
            // Recorded fires are the first of those due (the server may not have seen the
            // latest trades yet), each with one delivery per channel.
            let due = expected_repeats(ex, row, rearm);
            assert!(
                due.starts_with(&row.fires),
                "repeating alert {id} ({} {}) fired {:?}, expected {due:?}",
                row.condition,
                row.target_text,
                row.fires
            );
            assert_eq!(
                notes.get(id).copied().unwrap_or(0),
                2 * row.fires.len() as i64,
                "repeating alert {id}: deliveries"
            );
            continue;
        }
        if row.status == "triggered" {
            assert_eq!(
                notes.get(id),
                Some(&2),
                "alert {id} has {:?} deliveries",
                notes.get(id)
            );
            let (price, time) = expected_fire(ex, row)
                .unwrap_or_else(|| panic!("alert {id} fired with no crossing"));
            let got: f64 = row.triggered_price.as_deref().unwrap().parse().unwrap();
            if got != price.parse::<f64>().unwrap() {
                let around: Vec<String> = ex.state(|st| {
                    st.trades[&row.symbol]
                        .iter()
                        .filter(|t| (-100..300).contains(&(t.time - row.created_at)))
                        .map(|t| format!("#{} {} @{}", t.id, t.price, t.time - row.created_at))
                        .collect()
                });
                panic!(
                    "alert {id} ({} {}, created {}) fired at {got} (at {:?}), expected {price}; trades around: {around:?}",
                    row.condition, row.target_text, row.created_at, row.triggered_at.map(|t| t - row.created_at)
                );
            }
            assert_eq!(row.triggered_at, Some(time), "alert {id}");
        } else {
            assert!(
                !notes.contains_key(id),
                "alert {id} is {} but has a notification",
                row.status
            );
        }
    }
}
