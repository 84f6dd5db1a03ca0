//! Repeating alerts end to end, against a fake Binance over real WebSocket frames and a real
//! SQLite file: a wobble around the target inside the re-arm distance fires once, a crossing
//! inside the cooldown does not fire, the re-arm progress survives a restart, and a reset and a
//! crossing while the stream was down are recovered and fire.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::{assert_error_shape, fire_prices, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn fire_count(a: &Value) -> (i64, bool, &str) {
    (
        a["fire_count"].as_i64().unwrap(),
        a["armed"].as_bool().unwrap(),
        a["status"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn a_repeating_alert_fires_once_per_swing_and_never_in_its_cooldown() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let token = s.user("rita").await;
    let rep = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above",
                   "repeat": {"rearm": "10%", "cooldown": "1m"}}),
        )
        .await;
    assert_eq!(rep["repeat"], json!({"rearm": "10%", "cooldown": "1m"}));
    assert_eq!(fire_count(&rep), (0, true, "created"));
    let id = rep["id"].as_i64().unwrap();

    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "100");
    let first = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(first.price.to_string(), "100");
    // It keeps watching, disarmed until the price is back at 90 or lower.
    assert_eq!(
        fire_count(&s.alert(&token, &json!(id)).await),
        (1, false, "created")
    );
    // A wobble inside the distance: up through the target again and again, never down to 90.
    for price in ["95", "105", "90.00000001", "101"] {
        ex.trade("BTCUSDT", price);
    }
    s.settle(&ex, &mut events, &token, "150", 0).await;
    assert_eq!(
        fire_count(&s.alert(&token, &json!(id)).await),
        (1, false, "created")
    );

    // Its progress is kept across a restart: still waiting for the reset, so a crossing past
    // the cooldown does not fire it either.
    drop(events);
    let dir = s.stop().await.unwrap_or(dir);
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade_at("BTCUSDT", "120", first.time + 60_000);
    s.settle(&ex, &mut events, &token, "160", 0).await;
    assert_eq!(
        fire_count(&s.alert(&token, &json!(id)).await),
        (1, false, "created")
    );

    // Reset at 90, then a crossing inside the minute's cooldown: still nothing.
    ex.trade("BTCUSDT", "90");
    ex.trade("BTCUSDT", "130");
    s.settle(&ex, &mut events, &token, "170", 0).await;
    assert_eq!(
        fire_count(&s.alert(&token, &json!(id)).await),
        (1, false, "created")
    );
    // The first crossing a minute after the fire (in trade time) fires it again.
    ex.trade_at("BTCUSDT", "100.5", first.time + 60_000);
    let second = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(second.price.to_string(), "100.5");
    let now = s.alert(&token, &json!(id)).await;
    assert_eq!(fire_count(&now), (2, false, "created"));
    assert_eq!(now["triggered_price"], "100.5");
    let (_, fires) = s.get(&format!("/alerts/{id}/fires/"), &token).await;
    let prices = fire_prices(&fires);
    assert_eq!(prices, ["100.5", "100"], "{fires}");
}

#[tokio::test]
async fn a_reset_and_a_crossing_during_a_disconnect_are_recovered() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let token = s.user("reed").await;
    let rep = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "50", "condition": "below",
                   "repeat": {"rearm": "5"}}),
        )
        .await;
    assert_eq!(rep["repeat"]["cooldown"], "0s");
    let id = rep["id"].as_i64().unwrap();
    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "49");
    TestServer::wait_triggered(&mut events, id).await;

    ex.with(|st| st.refuse = Some(503));
    ex.drop_all();
    ex.wait_for("disconnected", Duration::from_secs(5), |st| st.live() == 0)
        .await;
    // Nobody is connected for the reset (55) or the crossing after it.
    ex.trade("BTCUSDT", "55");
    ex.trade("BTCUSDT", "48.5");
    ex.wait_for("a refused reconnect", Duration::from_secs(5), |st| {
        st.refused > 0
    })
    .await;
    ex.with(|st| st.refuse = None);
    let again = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(again.price.to_string(), "48.5");
    assert_eq!(s.alert(&token, &json!(id)).await["fire_count"], 2);
}

#[tokio::test]
async fn repeat_rules_are_checked() {
    let s = TestServer::start().await;
    let token = s.user("rob").await;
    let make = |repeat: Value| json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above", "repeat": repeat});
    for (repeat, status, says) in [
        (json!({"rearm": "0"}), StatusCode::BAD_REQUEST, "rearm"),
        (json!({"rearm": "100%"}), StatusCode::BAD_REQUEST, "rearm"),
        (json!({"rearm": "abc"}), StatusCode::BAD_REQUEST, "rearm"),
        (json!({"rearm": 5}), StatusCode::BAD_REQUEST, "rearm"),
        (json!({}), StatusCode::BAD_REQUEST, "rearm"),
        (
            json!({"rearm": "5", "cooldown": "5 min"}),
            StatusCode::BAD_REQUEST,
            "cooldown",
        ),
        (
            json!({"rearm": "5", "cooldown": null}),
            StatusCode::BAD_REQUEST,
            "cooldown",
        ),
        // Waiting for a rise to 100, it could only re-arm at 0 or below.
        (
            json!({"rearm": "100"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "never re-arm",
        ),
    ] {
        let (got, body) = s.create_alert_status(&token, make(repeat.clone())).await;
        assert_eq!(got, status, "{repeat}: {body}");
        assert_error_shape(&body);
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{repeat}: {body}"
        );
    }
    let (_, listed) = s.get("/alerts/", &token).await;
    assert_eq!(listed["count"], 0, "nothing half-written");
    // null is a one-shot alert; editing turns it into a repeating one and back.
    let one = s.create_alert(&token, make(Value::Null)).await;
    assert_eq!(
        (&one["repeat"], &one["fire_count"]),
        (&Value::Null, &json!(0))
    );
    let path = format!("/alerts/{}/", one["id"]);
    let (status, edited) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"repeat": {"rearm": "0.5%", "cooldown": "15m"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        edited["repeat"],
        json!({"rearm": "0.5%", "cooldown": "15m"})
    );
    let (status, edited) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"target_price": "50"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (status, body) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"repeat": {"rearm": "60"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A `below` alert may re-arm 60 above its target of 50; turned into an `above` one by its
    // condition alone, it could never re-arm, and the edit is refused as a whole.
    let (status, edited) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"condition": "below", "repeat": {"rearm": "60"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (status, body) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"condition": "above"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(s.get(&path, &token).await.1["condition"], "below");
    let (_, edited) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"repeat": null})),
        )
        .await;
    assert_eq!(edited["repeat"], Value::Null);
}
