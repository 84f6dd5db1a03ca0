//! Email notifications against a real SMTP server in-process: delivery, retries, permanent
//! failures, restarts, and the end-to-end path from a trade to a message.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::smtp::TestSmtp;
use common::TestServer;
use pricealert::domain::DeliveryStatus;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SYMBOLS: &[&str] = &["BTCUSDT", "ETHUSDT"];

async fn server(
    ex: &FakeExchange,
    smtp: Option<&TestSmtp>,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> TestServer {
    let mut env = ex.env();
    if let Some(smtp) = smtp {
        env.extend(smtp.env());
    }
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_in(dir, &env).await
}

async fn alert(s: &TestServer, token: &str, symbol: &str, target: &str) -> i64 {
    s.create_alert(
        token,
        json!({"cryptocurrency": symbol, "target_price": target, "condition": "above"}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn notification(s: &TestServer, token: &str, id: i64) -> Value {
    let (status, a) = s.get(&format!("/alerts/{id}/"), token).await;
    assert_eq!(status, StatusCode::OK);
    a["notification"].clone()
}

#[tokio::test]
async fn a_crossing_trade_sends_one_email_within_two_seconds() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let smtp = TestSmtp::start();
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, Some(&smtp), dir.path(), &[]).await;
    let token = s.user("alice").await;
    let mut events = s.events();
    let id = alert(&s, &token, "BTCUSDT", "65000").await;
    assert_eq!(notification(&s, &token, id).await, Value::Null);
    ex.wait_subscribed("BTCUSDT").await;

    let crossed = std::time::Instant::now();
    ex.trade("BTCUSDT", "65000.01000000");
    smtp.wait_for("the email", Duration::from_secs(2), |r| r.mails.len() == 1)
        .await;
    eprintln!("email received {:?} after the trade", crossed.elapsed());
    TestServer::wait_notification(&mut events, id, DeliveryStatus::Sent).await;

    let mail = smtp.recorded(|r| r.mails[0].clone());
    assert_eq!(mail.from, "alerts@pricealert.test");
    assert_eq!(mail.to, ["alice@example.com"]);
    let d = &mail.data;
    assert!(d.contains("Subject: BTCUSDT rose above 65000"), "{d}");
    assert!(d.contains("To: alice@example.com"), "{d}");
    assert!(
        d.contains("From: pricealert <alerts@pricealert.test>"),
        "{d}"
    );
    // The delivery's stable key: a resend carries the same Message-ID.
    let message_id = regex::Regex::new(r"Message-ID: <[0-9a-f]{32}@pricealert\.test>").unwrap();
    assert!(message_id.is_match(d), "{d}");
    assert!(d.contains("text/plain") && d.contains("text/html"), "{d}");
    assert!(d.contains("65000.01000000"), "{d}");
    assert!(d.contains(&format!("{}/#alert-{id}", s.base)), "{d}");
    assert!(d.contains(" UTC"), "{d}");

    let (_, a) = s.get(&format!("/alerts/{id}/"), &token).await;
    assert_eq!(a["status"], "triggered");
    assert_eq!(a["notification"]["status"], "sent");
    assert_eq!(a["notification"]["attempts"], 1);
    assert!(a["notification"]["sent_at"].as_str().is_some());
    assert_eq!(a["notification"]["last_error"], Value::Null);
}

#[tokio::test]
async fn a_temporary_failure_is_retried_and_delivered_once() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let smtp = TestSmtp::start();
    smtp.script(451, "Try again later");
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        &ex,
        Some(&smtp),
        dir.path(),
        &[("PRICEALERT_SMTP__RETRY_INITIAL", "200ms")],
    )
    .await;
    let token = s.user("bob").await;
    let mut events = s.events();
    let id = alert(&s, &token, "ETHUSDT", "3000").await;
    ex.wait_subscribed("ETHUSDT").await;
    ex.trade("ETHUSDT", "3001");

    TestServer::wait_notification(&mut events, id, DeliveryStatus::Pending).await;
    let n = notification(&s, &token, id).await;
    assert_eq!(n["status"], "pending");
    assert_eq!(n["attempts"], 1);
    assert!(n["last_error"].as_str().unwrap().contains("451"), "{n}");

    TestServer::wait_notification(&mut events, id, DeliveryStatus::Sent).await;
    assert_eq!(smtp.recorded(|r| (r.attempts, r.mails.len())), (2, 1));
    let n = notification(&s, &token, id).await;
    assert_eq!(
        (n["status"].clone(), n["attempts"].clone()),
        (json!("sent"), json!(2))
    );
}

#[tokio::test]
async fn a_permanent_failure_is_recorded_and_not_retried() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let smtp = TestSmtp::start();
    smtp.script(554, "Transaction failed: no such user here");
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        &ex,
        Some(&smtp),
        dir.path(),
        &[("PRICEALERT_SMTP__RETRY_INITIAL", "100ms")],
    )
    .await;
    let token = s.user("carol").await;
    let mut events = s.events();
    let id = alert(&s, &token, "BTCUSDT", "10").await;
    let second = alert(&s, &token, "BTCUSDT", "20").await;
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "11");
    TestServer::wait_notification(&mut events, id, DeliveryStatus::Failed).await;
    let n = notification(&s, &token, id).await;
    assert_eq!(n["status"], "failed");
    assert!(
        n["last_error"]
            .as_str()
            .unwrap()
            .contains("no such user here"),
        "{n}"
    );

    // Another alert's email goes through afterwards: had the first been retried (every
    // 100 ms), it would have been delivered before or alongside this one.
    tokio::time::sleep(Duration::from_millis(500)).await; // several retry periods pass
    ex.trade("BTCUSDT", "21");
    TestServer::wait_notification(&mut events, second, DeliveryStatus::Sent).await;
    assert_eq!(smtp.recorded(|r| (r.attempts, r.mails.len())), (2, 1));
    assert_eq!(notification(&s, &token, id).await["attempts"], 1);
}

#[tokio::test]
async fn without_smtp_notifications_wait_and_go_out_after_a_restart_with_smtp() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, None, dir.path(), &[]).await;
    let token = s.user("dave").await;
    let mut events = s.events();
    let id = alert(&s, &token, "ETHUSDT", "100").await;
    ex.wait_subscribed("ETHUSDT").await;
    ex.trade("ETHUSDT", "150");
    TestServer::wait_triggered(&mut events, id).await;
    let n = notification(&s, &token, id).await;
    assert_eq!(n["status"], "pending");
    assert_eq!(n["attempts"], 0);
    s.stop().await;

    let smtp = TestSmtp::start();
    let s = server(&ex, Some(&smtp), dir.path(), &[]).await;
    smtp.wait_for("the held email", Duration::from_secs(5), |r| {
        r.mails.len() == 1
    })
    .await;
    assert_eq!(
        smtp.recorded(|r| r.mails[0].to.clone()),
        ["dave@example.com"]
    );
    let mut events = s.events();
    if notification(&s, &token, id).await["status"] != "sent" {
        TestServer::wait_notification(&mut events, id, DeliveryStatus::Sent).await;
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retried_with_the_error_visible() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        &ex,
        None,
        dir.path(),
        &[
            ("PRICEALERT_SMTP__HOST", "127.0.0.1"),
            ("PRICEALERT_SMTP__PORT", &port),
            ("PRICEALERT_SMTP__SECURITY", "none"),
            ("PRICEALERT_SMTP__RETRY_INITIAL", "100ms"),
        ],
    )
    .await;
    let token = s.user("erin").await;
    let mut events = s.events();
    let id = alert(&s, &token, "BTCUSDT", "1").await;
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "2");
    TestServer::wait_notification(&mut events, id, DeliveryStatus::Pending).await;
    TestServer::wait_notification(&mut events, id, DeliveryStatus::Pending).await;
    let n = notification(&s, &token, id).await;
    assert_eq!(n["status"], "pending");
    assert!(n["attempts"].as_i64().unwrap() >= 2, "{n}");
    assert!(!n["last_error"].as_str().unwrap().is_empty());
}

#[test]
fn send_test_email_reports_the_reply_or_the_error() {
    let smtp = TestSmtp::start();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pricealert"));
    cmd.args(["send-test-email", "--to", "me@example.com"])
        .env_remove("PRICEALERT_CONFIG");
    for (k, v) in smtp.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("250"), "{stdout}");
    let mails = smtp.recorded(|r| r.mails.clone());
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["me@example.com"]);

    smtp.script(550, "Mailbox unavailable");
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("permanent") && stderr.contains("Mailbox unavailable"),
        "{stderr}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pricealert"))
        .args(["send-test-email", "--to", "me@example.com"])
        .env_remove("PRICEALERT_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("smtp.host is not set"));
}
