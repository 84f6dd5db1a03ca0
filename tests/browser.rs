//! The web page in a real browser (Debian's Chromium driven by playwright-core): sign up, log
//! in, add a webhook channel and test it, create an alert on it, the fake exchange crosses it,
//! and the page shows it triggered and delivered without a reload. Needs `chromium` and `npm install` in tests/browser; `.ci/run` provides both.
//! The screenshot lands in target/e2e/page.png.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::exchange::FakeExchange;
use common::receiver::Receiver;
use common::TestServer;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
#[ignore = "needs Chromium and node; run by .ci/run"]
async fn the_page_shows_a_trigger_live() {
    let ex = FakeExchange::start(&["BTCUSDT", "ETHUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let hook = Receiver::start().await;
    let mut env = ex.env();
    env.push((
        "PRICEALERT_NOTIFY__ALLOW_PRIVATE_TARGETS".into(),
        "true".into(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // A day of 5-minute candles for the chart, drifting up to 64,000.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - now % 300_000 - 287 * 300_000;
    ex.with(|st| {
        st.klines.insert(
            "BTCUSDT".into(),
            (0..288)
                .map(|i| {
                    let close = format!("{}.00", 63_000 + i * 1000 / 287);
                    (
                        start + i * 300_000,
                        close.clone(),
                        close.clone(),
                        close.clone(),
                        close,
                    )
                })
                .collect(),
        );
    });
    let s = TestServer::start_in(dir.path(), &env).await;
    ex.wait_for("tickers", Duration::from_secs(5), |st| {
        st.subscribed().contains("!miniTicker@arr")
    })
    .await;
    ex.tickers(&[("BTCUSDT", "64000.00"), ("ETHUSDT", "3000.00")]);

    let root = env!("CARGO_MANIFEST_DIR");
    let shot = format!("{root}/target/e2e/page.png");
    std::fs::create_dir_all(format!("{root}/target/e2e")).unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(format!("{root}/tests/browser/e2e.mjs"))
        .arg(&s.base)
        .arg(&shot)
        .arg(hook.url("/from-the-page"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut triggered = false;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await
    {
        eprintln!("browser: {line}");
        if line.starts_with("CREATED ") {
            ex.wait_subscribed("BTCUSDT").await;
            // Past the access token's life: the live stream ends with `unauthorized`, and the
            // fire below shows only if the page renewed its session and reconnected.
            tokio::time::sleep(Duration::from_secs(5)).await;
            ex.trade("BTCUSDT", "64990.00");
            ex.trade("BTCUSDT", "65001.50");
        }
        if let Some(at) = line.strip_prefix("EXPIRING ") {
            ex.wait_subscribed("ETHUSDT").await;
            ex.trade_at("ETHUSDT", "100", at.parse().unwrap());
        }
        if line == "TRIGGERED" {
            triggered = true;
        }
    }
    let status = child.wait().await.unwrap();
    assert!(status.success() && triggered, "the browser run failed");
    // The page's test button and the fire both went through the webhook it added.
    let got = hook.requests();
    let events: Vec<String> = got.iter().map(|r| r.json()["event"].to_string()).collect();
    assert!(events.contains(&"\"test\"".to_string()), "{events:?}");
    assert!(
        events.contains(&"\"alert.triggered\"".to_string()),
        "{events:?}"
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "no screenshot"
    );
}
