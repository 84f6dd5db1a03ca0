//! Running it for real: graceful shutdown of the binary on SIGTERM, online backups, restores
//! that refuse a database in use.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{free_port, rss_mib, serve_command, wait_healthy, BIN};
use common::{next_event, TestServer};
use serde_json::json;

fn serve(dir: &std::path::Path, port: u16) -> Child {
    serve_command(dir, port)
        .env("PRICEALERT_MARKET__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A running server on `dir` with one registered user, `name` / `password-123`.
async fn serve_with_user(dir: &std::path::Path, name: &str) -> (Child, reqwest::Client, String) {
    let port = free_port();
    let child = serve(dir, port);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&client, &base).await;
    let registered = client
        .post(format!("{base}/auth/register/"))
        .json(&json!({"username": name, "password": "password-123", "email": format!("{name}@example.com")}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);
    (child, client, base)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("PRICEALERT_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_exits_zero_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client, base) = serve_with_user(dir.path(), "sam").await;
    // A login is in flight (argon2 takes a while) when the signal arrives.
    let login = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/auth/login/");
        async move {
            client
                .post(url)
                .json(&json!({"username": "sam", "password": "password-123"}))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(5)).await; // let the request reach the server
    let asked = Instant::now();
    signal(&child, "TERM");
    let resp = login
        .await
        .unwrap()
        .expect("the in-flight request was cut off");
    assert_eq!(resp.status(), 200);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
    eprintln!("exited {:?} after SIGTERM", asked.elapsed());
    // It stopped accepting.
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
}

#[tokio::test]
async fn backup_while_running_and_restore_only_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[]).await;
    let token = s.user("tess").await;
    let kept = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1"}),
        )
        .await;
    let d = dir.path().to_str().unwrap();
    let backup = dir.path().join("backup.db");
    let out = run(&["backup", "--data-dir", d, "--to", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.create_alert(
        &token,
        json!({"cryptocurrency": "BTCUSDT", "target_price": "2"}),
    )
    .await;

    let out = run(&[
        "restore",
        "--data-dir",
        d,
        "--from",
        backup.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "restore overwrote a database in use");
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    // Nor can a second server take the same data dir.
    let mut second = serve(dir.path(), free_port());
    assert!(!second.wait().unwrap().success());
    s.stop().await;

    let out = run(&[
        "restore",
        "--data-dir",
        d,
        "--from",
        backup.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = TestServer::start_in(dir.path(), &[]).await;
    let (_, list) = s.get("/alerts/", &token).await;
    assert_eq!(list["count"], 1, "the state of the backup: {list}");
    assert_eq!(list["results"][0]["id"], kept["id"]);
    s.stop().await;
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
}

#[tokio::test]
async fn metrics_and_health_report_the_feed_the_outbox_and_the_api() {
    let ex = common::exchange::FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let env = ex.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = TestServer::start_in(dir.path(), &env).await;
    let token = s.user("umar").await;
    let mut events = s.events();
    let a = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above"}),
        )
        .await;
    s.create_alert(
        &token,
        json!({"cryptocurrency": "BTCUSDT", "target_price": "900", "condition": "above"}),
    )
    .await;
    ex.wait_subscribed("BTCUSDT").await;
    let health: serde_json::Value = s
        .client
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "stream": "connected", "stream_problem": null, "smtp": "not_configured", "storage": null})
    );

    ex.trade("BTCUSDT", "150");
    TestServer::wait_triggered(&mut events, a["id"].as_i64().unwrap()).await;
    let resp = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    assert_eq!(metric(&text, "pricealert_armed_alerts"), 1.0);
    assert_eq!(metric(&text, "pricealert_fires_total"), 1.0);
    assert_eq!(
        metric(&text, "pricealert_notifications{status=\"pending\"}"),
        1.0
    );
    assert_eq!(metric(&text, "pricealert_stream_connections"), 1.0);
    assert!(
        text.contains("pricealert_last_trade_age_seconds{connection=\"0\"}"),
        "{text}"
    );
    assert_eq!(
        metric(&text, "pricealert_http_request_duration_seconds_count{route=\"/alerts/create\",method=\"POST\",status=\"201\"}"),
        2.0
    );
    assert!(
        text.contains("route=\"/auth/login\",method=\"POST\",status=\"200\",le=\"0.5\""),
        "{text}"
    );
}

#[tokio::test]
async fn the_event_stream_sends_a_snapshot_then_the_callers_fires() {
    let ex = common::exchange::FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let env = ex.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = TestServer::start_in(dir.path(), &env).await;
    let token = s.user("vera").await;
    let other = s.user("walt").await;
    let mine = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above"}),
        )
        .await;
    s.create_alert(
        &other,
        json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above"}),
    )
    .await;
    ex.wait_subscribed("BTCUSDT").await;
    let resp = s
        .client
        .get(s.url("/events?symbols=BTCUSDT"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = resp.bytes_stream();
    let mut buffer = String::new();
    let first = next_event(&mut body, &mut buffer).await;
    assert_eq!(first["kind"], "prices");
    ex.trade("BTCUSDT", "150");
    // Both users' alerts fire; this stream carries only the caller's.
    loop {
        let event = next_event(&mut body, &mut buffer).await;
        if event["kind"] == "triggered" {
            assert_eq!(event["alert"]["id"], mine["id"]);
            assert_eq!(event["alert"]["status"], "triggered");
            assert_eq!(event["alert"]["triggered_price"], "150");
            break;
        }
    }
    let unauthorized = s.client.get(s.url("/events")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
}

/// Every password check allocates argon2's 19 MiB; the server must give that memory back
/// rather than let the heap grow with each login (it once grew ~3 MB per login).
#[tokio::test]
async fn logins_do_not_grow_the_servers_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client, base) = serve_with_user(dir.path(), "rita").await;
    let login = || async {
        let response = client
            .post(format!("{base}/auth/login/"))
            .json(&json!({"username": "rita", "password": "password-123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    };
    for _ in 0..5 {
        login().await;
    }
    let before = rss_mib(child.id());
    for _ in 0..60 {
        login().await;
    }
    let after = rss_mib(child.id());
    signal(&child, "TERM");
    let _ = child.wait();
    assert!(
        after - before < 40.0,
        "RSS grew from {before:.0} MiB to {after:.0} MiB over 60 logins"
    );
}

#[tokio::test]
async fn the_healthcheck_command_passes_only_a_server_that_answers_200() {
    let s = TestServer::start().await;
    let healthcheck = |url: String| async move {
        tokio::process::Command::new(BIN)
            .args(["healthcheck", "--url", &url])
            .env_remove("PRICEALERT_CONFIG")
            .output()
            .await
            .unwrap()
    };
    let ok = healthcheck(s.url("")).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("\"status\""));
    let down = healthcheck(format!("http://127.0.0.1:{}", free_port())).await;
    assert!(!down.status.success(), "nothing listens there");
    assert!(String::from_utf8_lossy(&down.stderr).contains("no answer"));
}
