//! The server against a fake Binance over real WebSocket frames and HTTP: alerts fire exactly
//! once, across spikes, disconnects, duplicates and restarts; subscriptions follow the alerts.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SYMBOLS: &[&str] = &["BTCUSDT", "ETHUSDT", "BNBBTC", "SOLUSDT"];

async fn server_for(
    ex: &FakeExchange,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> TestServer {
    let mut env: Vec<(String, String)> = ex.env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_in(dir, &env).await
}

async fn alert(
    s: &TestServer,
    token: &str,
    symbol: &str,
    target: &str,
    condition: Option<&str>,
) -> i64 {
    let mut body = json!({"cryptocurrency": symbol, "target_price": target});
    if let Some(c) = condition {
        body["condition"] = json!(c);
    }
    s.create_alert(token, body).await["id"].as_i64().unwrap()
}

async fn status_of(s: &TestServer, token: &str, id: i64) -> Value {
    let (status, a) = s.get(&format!("/alerts/{id}/"), token).await;
    assert_eq!(status, StatusCode::OK);
    a
}

fn notification_rows(s: &TestServer, id: i64) -> i64 {
    let conn = rusqlite::Connection::open(s.data_dir.join("pricealert.db")).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM deliveries WHERE alert_id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test]
async fn above_below_and_cross_each_fire_exactly_once_at_the_crossing_price() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("alice").await;
    let mut events = s.events();

    let above = alert(&s, &token, "BTCUSDT", "65000", Some("above")).await;
    let below = alert(&s, &token, "BTCUSDT", "60000", Some("below")).await;
    let cross = alert(&s, &token, "BTCUSDT", "62000.5", None).await;
    assert_eq!(status_of(&s, &token, cross).await["condition"], "cross");
    ex.wait_subscribed("BTCUSDT").await;

    ex.trade("BTCUSDT", "61000.00000000"); // first price: cross becomes "above"
    ex.trade("BTCUSDT", "62000.49999999");
    ex.trade("BTCUSDT", "62000.50000000"); // cross fires here
    let f = TestServer::wait_triggered(&mut events, cross).await;
    assert_eq!(f.price.to_string(), "62000.50000000");
    ex.trade("BTCUSDT", "64999.99999999");
    ex.trade("BTCUSDT", "65000.00000000"); // above fires at exactly the target
    ex.trade("BTCUSDT", "70000.00000000");
    let f = TestServer::wait_triggered(&mut events, above).await;
    assert_eq!(f.price.to_string(), "65000.00000000");
    ex.trade("BTCUSDT", "59999.00000000"); // below fires
    ex.trade("BTCUSDT", "50000.00000000");
    TestServer::wait_triggered(&mut events, below).await;

    let a = status_of(&s, &token, above).await;
    assert_eq!(a["status"], "triggered");
    assert_eq!(a["triggered_price"], "65000.00000000");
    assert!(a["triggered_at"].as_str().is_some());
    assert_eq!(status_of(&s, &token, cross).await["condition"], "above");
    assert_eq!(
        status_of(&s, &token, below).await["triggered_price"],
        "59999.00000000"
    );
    for id in [above, below, cross] {
        assert_eq!(notification_rows(&s, id), 1);
    }
    let (_, list) = s.get("/alerts/?status=triggered", &token).await;
    assert_eq!(
        list["count"], 3,
        "the cached list was invalidated by the fires"
    );
}

#[tokio::test]
async fn a_spike_that_returns_within_a_second_fires_and_the_wrong_side_never_does() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("bob").await;
    let mut events = s.events();
    let spike = alert(&s, &token, "ETHUSDT", "4000", Some("above")).await;
    let never = alert(&s, &token, "ETHUSDT", "1000", Some("below")).await;
    let sentinel = alert(&s, &token, "ETHUSDT", "9000", Some("above")).await;
    ex.wait_subscribed("ETHUSDT").await;

    ex.trade("ETHUSDT", "3000");
    ex.trade("ETHUSDT", "4100"); // a spike...
    ex.trade("ETHUSDT", "3000"); // ...gone within milliseconds
    assert_eq!(
        TestServer::wait_triggered(&mut events, spike)
            .await
            .price
            .to_string(),
        "4100"
    );
    for p in ["1000.00000001", "2500", "8999.99999999"] {
        ex.trade("ETHUSDT", p);
    }
    ex.trade("ETHUSDT", "9000"); // trades are applied in order: once this fired, the rest were seen
    TestServer::wait_triggered(&mut events, sentinel).await;
    assert_eq!(status_of(&s, &token, never).await["status"], "created");
}

#[tokio::test]
async fn duplicate_delivery_never_double_fires() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("carol").await;
    let mut events = s.events();
    let a = alert(&s, &token, "BNBBTC", "0.01", Some("above")).await;
    ex.wait_subscribed("BNBBTC").await;
    let id = ex.trade("BNBBTC", "0.01000000");
    ex.resend("BNBBTC", id);
    ex.resend("BNBBTC", id);
    TestServer::wait_triggered(&mut events, a).await;
    // A second fire would have to come through the same ordered queue: push a sentinel after.
    let sentinel = alert(&s, &token, "BNBBTC", "0.02", Some("above")).await;
    ex.resend("BNBBTC", id);
    ex.trade("BNBBTC", "0.02000000");
    TestServer::wait_triggered(&mut events, sentinel).await;
    while let Ok(pricealert::alerts::AlertEvent::Triggered(f)) = events.alerts.try_recv() {
        assert_ne!(f.id.0, a, "fired twice");
    }
    assert_eq!(notification_rows(&s, a), 1);
}

#[tokio::test]
async fn subscriptions_follow_alert_creation_and_deletion() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("dave").await;
    ex.wait_for("tickers subscribed", Duration::from_secs(5), |st| {
        st.subscribed().contains("!miniTicker@arr")
    })
    .await;
    assert!(!ex.state(|st| st.subscribed().contains("solusdt@aggTrade")));

    let started = std::time::Instant::now();
    let first = alert(&s, &token, "SOLUSDT", "100", Some("above")).await;
    ex.wait_for(
        "solusdt@aggTrade within a second",
        Duration::from_secs(1),
        |st| st.subscribed().contains("solusdt@aggTrade"),
    )
    .await;
    eprintln!("subscribed {:?} after the create", started.elapsed());
    let second = alert(&s, &token, "SOLUSDT", "200", Some("above")).await;

    s.delete(&format!("/alerts/{first}/"), &token).await;
    s.delete(&format!("/alerts/{second}/"), &token).await;
    ex.wait_for(
        "solusdt@aggTrade unsubscribed",
        Duration::from_secs(2),
        |st| !st.subscribed().contains("solusdt@aggTrade"),
    )
    .await;
    assert_eq!(ex.state(|st| st.opened), 1, "no reconnect needed");
    assert_eq!(ex.state(|st| st.rate_closes), 0);
}

#[tokio::test]
async fn a_burst_of_new_symbols_is_batched_under_the_rate_limit() {
    let many: Vec<String> = (0..120).map(|i| format!("S{i:03}USDT")).collect();
    let listed: Vec<&str> = many.iter().map(String::as_str).collect();
    let ex = FakeExchange::start(&listed).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(
        &ex,
        dir.path(),
        &[("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "1000")],
    )
    .await;
    let token = s.user("erin").await;
    for sym in &many {
        alert(&s, &token, sym, "1", Some("above")).await;
    }
    ex.wait_for("all 120 streams", Duration::from_secs(10), |st| {
        st.subscribed().len() == 121
    })
    .await;
    let (closes, controls) = ex.state(|st| (st.rate_closes, st.control_messages));
    assert_eq!(closes, 0, "tripped the 5 messages/s limit");
    assert!(controls < 120, "{controls} control messages: not batched");
}

#[tokio::test]
async fn past_the_per_connection_stream_limit_more_connections_open() {
    let many: Vec<String> = (0..120).map(|i| format!("M{i:03}USDT")).collect();
    let listed: Vec<&str> = many.iter().map(String::as_str).collect();
    let ex = FakeExchange::start(&listed).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(
        &ex,
        dir.path(),
        &[
            ("PRICEALERT_MARKET__MAX_STREAMS_PER_CONNECTION", "50"),
            ("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "1000"),
        ],
    )
    .await;
    let token = s.user("olga").await;
    let mut events = s.events();
    let mut ids = Vec::new();
    for sym in &many {
        ids.push(alert(&s, &token, sym, "1", Some("above")).await);
    }
    ex.wait_for(
        "all 120 streams on 3 connections",
        Duration::from_secs(10),
        |st| st.subscribed().len() == 121 && st.live() == 3,
    )
    .await;
    assert!(ex.state(|st| st.per_connection()).iter().all(|n| *n <= 50));
    ex.trade("M119USDT", "2");
    TestServer::wait_triggered(&mut events, ids[119]).await;
}

#[tokio::test]
async fn a_crossing_during_a_disconnect_is_recovered_but_not_for_newer_alerts() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("fay").await;
    let mut events = s.events();
    let old = alert(&s, &token, "BTCUSDT", "65000", Some("above")).await;
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "64000");
    // Make sure the first trade was applied before the outage.
    let start = std::time::Instant::now();
    while s
        .state
        .prices
        .get(&pricealert::domain::Symbol::parse("BTCUSDT").unwrap())
        .is_none()
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "first trade never applied"
        );
        tokio::task::yield_now().await;
    }

    ex.with(|st| st.refuse = Some(503));
    ex.drop_all();
    ex.wait_for("disconnected", Duration::from_secs(5), |st| st.live() == 0)
        .await;
    ex.trade("BTCUSDT", "66000"); // the crossing nobody was connected for
    ex.trade("BTCUSDT", "64500");
    // Created after those trades: a recovered trade must not fire it. Times are milliseconds
    // and a trade in the same millisecond as a creation counts as after it, so let the
    // clock pass the trades' millisecond first (a fast create can land inside it).
    let traded_at = ex.state(|st| st.trades["BTCUSDT"].last().unwrap().time);
    while pricealert::clock::now_millis() <= traded_at {
        tokio::task::yield_now().await;
    }
    let newer = alert(&s, &token, "BTCUSDT", "65500", Some("above")).await;
    ex.wait_for("a refused reconnect", Duration::from_secs(5), |st| {
        st.refused > 0
    })
    .await;
    ex.with(|st| st.refuse = None);

    let f = TestServer::wait_triggered(&mut events, old).await;
    assert_eq!(f.price.to_string(), "66000");
    ex.wait_subscribed("BTCUSDT").await;
    let sentinel = alert(&s, &token, "BTCUSDT", "1", Some("below")).await;
    ex.trade("BTCUSDT", "0.5");
    TestServer::wait_triggered(&mut events, sentinel).await;
    assert_eq!(status_of(&s, &token, newer).await["status"], "created");
}

#[tokio::test]
async fn reconnects_after_server_shutdown_notice_and_after_a_silent_stall() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(
        &ex,
        dir.path(),
        &[
            ("PRICEALERT_MARKET__STALL_TIMEOUT", "600ms"),
            ("PRICEALERT_MARKET__RECONNECT_INITIAL", "10s"),
        ],
    )
    .await;
    let token = s.user("gus").await;
    let mut events = s.events();
    ex.wait_for("connected", Duration::from_secs(5), |st| st.opened == 1)
        .await;

    // serverShutdown: reconnect at once, not after the (here 10 s) backoff.
    ex.server_shutdown();
    ex.wait_for(
        "reconnect after serverShutdown",
        Duration::from_secs(3),
        |st| st.opened == 2 && st.live() == 1,
    )
    .await;

    // A silent stall: the watchdog notices and reconnects.
    ex.stall_all();
    ex.wait_for("reconnect after stall", Duration::from_secs(15), |st| {
        st.opened == 3 && st.live() == 1
    })
    .await;
    let a = alert(&s, &token, "ETHUSDT", "10", Some("above")).await;
    ex.wait_subscribed("ETHUSDT").await;
    ex.trade("ETHUSDT", "11");
    TestServer::wait_triggered(&mut events, a).await;
}

#[tokio::test]
async fn answers_pings_while_idle() {
    // Pings every 300 ms, and a client silent for 600 ms is dropped.
    let ex = FakeExchange::start_with(
        SYMBOLS,
        Duration::from_millis(300),
        Duration::from_millis(600),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let _s = server_for(&ex, dir.path(), &[]).await;
    ex.wait_for("8 pongs", Duration::from_secs(10), |st| st.pongs >= 8)
        .await;
    assert_eq!(ex.state(|st| (st.pong_drops, st.opened)), (0, 1));
}

#[tokio::test]
async fn rotation_opens_the_new_connection_before_closing_the_old_and_loses_nothing() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(
        &ex,
        dir.path(),
        &[("PRICEALERT_MARKET__ROTATE_AFTER", "1s")],
    )
    .await;
    let token = s.user("hana").await;
    let mut events = s.events();
    let a = alert(&s, &token, "SOLUSDT", "150", Some("above")).await;
    ex.wait_subscribed("SOLUSDT").await;
    ex.wait_for("a rotation", Duration::from_secs(10), |st| st.closed >= 1)
        .await;
    let log = ex.state(|st| st.log.clone());
    let second_open = log
        .iter()
        .position(|e| *e == ("open", 2))
        .expect("second connection");
    let first_close = log
        .iter()
        .position(|e| *e == ("close", 1))
        .expect("first closed");
    assert!(
        second_open < first_close,
        "closed before the replacement opened: {log:?}"
    );
    ex.wait_subscribed("SOLUSDT").await;
    ex.trade("SOLUSDT", "151");
    TestServer::wait_triggered(&mut events, a).await;
}

#[tokio::test]
async fn restart_keeps_triggered_alerts_fired_and_armed_ones_armed() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("ivan").await;
    let mut events = s.events();
    let fired = alert(&s, &token, "BTCUSDT", "100", Some("above")).await;
    let armed = alert(&s, &token, "BTCUSDT", "200", Some("above")).await;
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "150");
    TestServer::wait_triggered(&mut events, fired).await;
    s.stop().await;

    let s = server_for(&ex, dir.path(), &[]).await;
    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "250");
    TestServer::wait_triggered(&mut events, armed).await;
    assert_eq!(notification_rows(&s, fired), 1);
    assert_eq!(notification_rows(&s, armed), 1);
    assert_eq!(status_of(&s, &token, fired).await["triggered_price"], "150");
}

#[tokio::test]
async fn trades_missed_while_the_server_was_down_are_recovered_after_restart() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("jack").await;
    let a = alert(&s, &token, "ETHUSDT", "3000", Some("above")).await;
    let sentinel_low = alert(&s, &token, "ETHUSDT", "1000", Some("below")).await;
    ex.wait_subscribed("ETHUSDT").await;
    let mut events = s.events();
    ex.trade("ETHUSDT", "2000");
    ex.trade("ETHUSDT", "900");
    TestServer::wait_triggered(&mut events, sentinel_low).await;
    s.stop().await; // the cursor for ETHUSDT is committed on the way down

    ex.trade("ETHUSDT", "3100"); // crossing while the server is down
    ex.trade("ETHUSDT", "2900");
    let s = server_for(&ex, dir.path(), &[]).await;
    let mut events = s.events();
    let f = TestServer::wait_triggered(&mut events, a).await;
    assert_eq!(f.price.to_string(), "3100");
}

#[tokio::test]
async fn a_crossing_while_down_is_found_at_restart_without_waiting_for_the_next_trade() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("jill").await;
    let a = alert(&s, &token, "SOLUSDT", "300", Some("above")).await;
    ex.wait_subscribed("SOLUSDT").await;
    // No trade has come yet, so no position for SOLUSDT was ever saved (as after a SIGKILL
    // within a second of its trades).
    s.stop().await;

    ex.trade("SOLUSDT", "310"); // crossing while the server is down
    ex.trade("SOLUSDT", "290");
    // Then the market goes quiet: no live trade will come to start a recovery.
    let s = server_for(&ex, dir.path(), &[]).await;
    let mut events = s.events();
    let f = TestServer::wait_triggered(&mut events, a).await;
    assert_eq!(f.price.to_string(), "310");
}

#[tokio::test]
async fn symbols_and_prices_in_the_api() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("kim").await;
    // The symbol list arrives shortly after start.
    let start = std::time::Instant::now();
    loop {
        let (status, body) = s
            .post(
                "/alerts/",
                Some(&token),
                json!({"cryptocurrency": "NOPEUSDT", "target_price": "1"}),
            )
            .await;
        if status == StatusCode::BAD_REQUEST {
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("unknown symbol"),
                "{body}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "symbol list never loaded"
        );
        tokio::task::yield_now().await;
    }
    let (status, _) = s.get("/prices/BTCUSDT", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    ex.wait_for("tickers subscribed", Duration::from_secs(5), |st| {
        st.subscribed().contains("!miniTicker@arr")
    })
    .await;
    ex.tickers(&[("BTCUSDT", "64000.10"), ("ETHUSDT", "3000")]);
    let start = std::time::Instant::now();
    let price = loop {
        let (status, body) = s.get("/prices/btcusdt/", &token).await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::task::yield_now().await;
    };
    assert_eq!(price["symbol"], "BTCUSDT");
    assert_eq!(price["price"], "64000.10");
    assert!(price["updated_at"].as_str().unwrap().ends_with('Z'));
    let (_, all) = s.get("/prices/?symbols=ethusdt,BTCUSDT", &token).await;
    assert_eq!(all["count"], 2);
    let (_, some) = s.get("/prices/?symbols=ETHUSDT", &token).await;
    assert_eq!(some["results"][0]["price"], "3000");
    let (status, _) = s.get("/prices/?symbols=ETH-USDT", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // With a price known, an omitted condition is inferred, and the alert shows the price.
    let up = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "70000"}),
        )
        .await;
    assert_eq!(up["condition"], "above");
    assert_eq!(up["current_price"], "64000.10");
    let down = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "60000"}),
        )
        .await;
    assert_eq!(down["condition"], "below");
}

#[tokio::test]
async fn the_api_works_while_the_exchange_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let ws = format!("ws://{addr}");
    let rest = format!("http://{addr}");
    let s = TestServer::start_in(
        dir.path(),
        &[
            ("PRICEALERT_MARKET__STREAM_URL", &ws),
            ("PRICEALERT_MARKET__REST_URL", &rest),
        ],
    )
    .await;
    let token = s.user("lea").await;
    let a = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "ANYTHING", "target_price": "1"}),
        )
        .await;
    assert_eq!(a["condition"], "cross");
    assert_eq!(a["current_price"], Value::Null);
}

#[tokio::test]
async fn refused_handshakes_are_retried_without_a_tight_loop() {
    let ex = FakeExchange::start(SYMBOLS).await;
    ex.with(|st| st.refuse = Some(429)); // with Retry-After: 1
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    ex.wait_for("a refused handshake", Duration::from_secs(5), |st| {
        st.refused >= 1
    })
    .await;
    // Time passing is the scenario here: with a 50 ms backoff a tight loop would try ~30 times.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tries = ex.state(|st| st.refused);
    assert!(
        tries <= 3,
        "{tries} attempts in 1.5 s despite Retry-After: 1"
    );

    ex.with(|st| st.refuse = Some(451));
    let before = ex.state(|st| st.refused);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tries = ex.state(|st| st.refused) - before;
    assert!(tries <= 2, "{tries} attempts in 1.5 s against a geo-block");

    ex.with(|st| st.refuse = None);
    ex.wait_for("connected at last", Duration::from_secs(10), |st| {
        st.live() == 1
    })
    .await;
    drop(s);
}

#[tokio::test]
async fn trades_before_a_new_symbol_is_subscribed_are_recovered() {
    let ex = FakeExchange::start(SYMBOLS).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(&ex, dir.path(), &[]).await;
    let token = s.user("nina").await;
    let mut events = s.events();
    ex.with(|st| st.subscribe_delay = Some(Duration::from_millis(300)));
    let id = alert(&s, &token, "SOLUSDT", "150", Some("above")).await;
    // The crossing trade happens before the new stream is subscribed: nobody receives it live.
    assert!(!ex.state(|st| st.subscribed().contains("solusdt@aggTrade")));
    ex.trade("SOLUSDT", "151");
    ex.wait_subscribed("SOLUSDT").await;
    ex.trade("SOLUSDT", "140");
    let f = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(f.price.to_string(), "151");
}

/// Polls `/healthz` (it has no event to wait on) until `ready` holds, for at most 30 s (a
/// resolver that does not answer takes 10 s to fail a lookup).
async fn health_until(s: &TestServer, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, health) = s.call(reqwest::Method::GET, "/healthz", None, None).await;
        if ready(&health) {
            return health;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_unreachable_exchange_is_said_where_the_user_looks() {
    let ex = FakeExchange::start(SYMBOLS).await;
    ex.with(|st| st.refuse = Some(503));
    let s = server_for(&ex, tempfile::tempdir().unwrap().path(), &[]).await;
    let health = health_until(&s, "stream failing", |h| h["stream"] == "failing").await;
    let problem = &health["stream_problem"];
    let host = ex.ws_url.trim_start_matches("ws://");
    assert_eq!(problem["host"], host, "{health}");
    assert!(
        problem["last_error"].as_str().unwrap().contains("503"),
        "{health}"
    );
    assert!(
        problem["since"].as_str().unwrap().ends_with('Z'),
        "{health}"
    );
    assert_eq!(
        health["status"], "ok",
        "an unreachable exchange is not a failure"
    );

    // No price because the exchange is unreachable: 503 with Retry-After, not "unknown symbol".
    let resp = reqwest::get(s.url("/prices/BTCUSDT")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("not connected"),
        "{body}"
    );

    // It clears by itself once the stream connects.
    ex.with(|st| st.refuse = None);
    let health = health_until(&s, "stream connected", |h| h["stream"] == "connected").await;
    assert_eq!(health["stream_problem"], Value::Null, "{health}");
    let (status, _) = s
        .call(reqwest::Method::GET, "/prices/NOSUCHCOIN", None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "connected: an unknown symbol is 404"
    );
}

#[tokio::test]
async fn a_stream_host_that_does_not_resolve_is_named_as_a_dns_failure() {
    let s = TestServer::start_in(
        tempfile::tempdir().unwrap().path(),
        &[
            (
                "PRICEALERT_MARKET__STREAM_URL",
                "ws://pricealert-test.invalid:9443",
            ),
            (
                "PRICEALERT_MARKET__REST_URL",
                "http://pricealert-test.invalid:9",
            ),
        ],
    )
    .await;
    let health = health_until(&s, "stream failing", |h| h["stream"] == "failing").await;
    assert_eq!(
        health["stream_problem"]["host"], "pricealert-test.invalid:9443",
        "{health}"
    );
    assert!(
        health["stream_problem"]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("DNS lookup failed"),
        "{health}"
    );
}
