//! Alerts on a move in percent within a window, end to end against a fake Binance over real
//! WebSocket frames and a real SQLite file: a rise measured from the window's low (never from
//! before the alert existed), a fall recovered from a gap, a repeating alert whose window
//! starts afresh at each fire, and the rules of the fields.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::{assert_error_shape, TestServer};
use pricealert::clock::now_millis;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn percent(condition: &str, pct: &str, window: &str) -> Value {
    json!({"cryptocurrency": "BTCUSDT", "condition": condition, "percent": pct, "window": window})
}

#[tokio::test]
async fn a_rise_is_measured_from_the_windows_low_since_the_alert_existed() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let token = s.user("pam").await;
    let mut events = s.events();
    // A low of 80 before the alert: a later 100 must not count as a 25 % rise from it.
    let early = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "condition": "below"}),
        )
        .await;
    ex.wait_subscribed("BTCUSDT").await;
    let t0 = now_millis();
    ex.trade_at("BTCUSDT", "80", t0);
    s.settle(&ex, &mut events, &token, "100", 0).await;
    let _ = early;

    let a = s
        .create_alert(&token, percent("percent_up", "5", "1h"))
        .await;
    assert_eq!(
        (
            &a["target_price"],
            &a["percent"],
            &a["window"],
            &a["condition"]
        ),
        (
            &Value::Null,
            &json!("5"),
            &json!("1h"),
            &json!("percent_up")
        ),
        "{a}"
    );
    let id = a["id"].as_i64().unwrap();
    let t = now_millis();
    ex.trade_at("BTCUSDT", "100", t);
    ex.trade_at("BTCUSDT", "99.99", t + 1);
    ex.trade_at("BTCUSDT", "104.98", t + 2);
    // 99.99 × 1.05 = 104.9895: 104.98 is below it, 104.99 reaches it.
    ex.trade_at("BTCUSDT", "104.99", t + 3);
    let fired = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(fired.price.to_string(), "104.99");
    assert_eq!(fired.reference.map(|p| p.to_string()), Some("99.99".into()));
    let a = s.alert(&token, &json!(id)).await;
    assert_eq!(
        (
            &a["status"],
            &a["triggered_price"],
            &a["triggered_reference"]
        ),
        (&json!("triggered"), &json!("104.99"), &json!("99.99")),
        "{a}"
    );
    let (_, fires) = s.get(&format!("/alerts/{id}/fires/"), &token).await;
    assert_eq!(fires["results"][0]["reference_price"], "99.99", "{fires}");
}

#[tokio::test]
async fn a_fall_inside_a_disconnect_is_recovered_and_a_repeating_window_starts_afresh() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let token = s.user("dora").await;
    let mut events = s.events();
    let mut body = percent("percent_down", "10", "1m");
    body["repeat"] = json!({"cooldown": "10s"});
    let a = s.create_alert(&token, body).await;
    assert_eq!(a["repeat"], json!({"rearm": null, "cooldown": "10s"}));
    let id = a["id"].as_i64().unwrap();
    ex.wait_subscribed("BTCUSDT").await;
    let t = now_millis();
    ex.trade_at("BTCUSDT", "200", t);

    ex.with(|st| st.refuse = Some(503));
    ex.drop_all();
    ex.wait_for("disconnected", Duration::from_secs(5), |st| st.live() == 0)
        .await;
    // While nobody listens: a fall of 10 % from the high of 200.
    ex.trade_at("BTCUSDT", "190", t + 1_000);
    ex.trade_at("BTCUSDT", "180", t + 2_000);
    ex.wait_for("a refused reconnect", Duration::from_secs(5), |st| {
        st.refused > 0
    })
    .await;
    ex.with(|st| st.refuse = None);
    let fired = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(
        (
            fired.price.to_string(),
            fired.reference.map(|p| p.to_string()),
            fired.repeat
        ),
        ("180".into(), Some("200".into()), Some(1))
    );
    // The window starts again at the fire (180): inside the cooldown nothing fires; after
    // it, a fall of 10 % from the highest price since the fire (190) does.
    ex.trade_at("BTCUSDT", "190", t + 3_000);
    ex.trade_at("BTCUSDT", "160", t + 4_000);
    ex.trade_at("BTCUSDT", "171.01", t + 12_001);
    ex.trade_at("BTCUSDT", "171", t + 12_002);
    let again = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(
        (
            again.price.to_string(),
            again.reference.map(|p| p.to_string()),
            again.repeat
        ),
        ("171".into(), Some("190".into()), Some(2))
    );
    let a = s.alert(&token, &json!(id)).await;
    assert_eq!(
        (&a["status"], &a["fire_count"]),
        (&json!("created"), &json!(2))
    );
}

#[tokio::test]
async fn percent_rules_are_checked_and_edits_change_the_kind() {
    let s = TestServer::start().await;
    let token = s.user("rudy").await;
    for (body, status, says) in [
        (
            json!({"cryptocurrency": "BTCUSDT", "condition": "percent_up", "percent": "5", "window": "1h", "target_price": "100"}),
            StatusCode::BAD_REQUEST,
            "target_price is not given",
        ),
        (
            json!({"cryptocurrency": "BTCUSDT", "condition": "percent_up", "percent": "5"}),
            StatusCode::BAD_REQUEST,
            "percent and window",
        ),
        (
            percent("percent_up", "5", "30s"),
            StatusCode::BAD_REQUEST,
            "window must be from 1m to 24h",
        ),
        (
            percent("percent_up", "5", "25h"),
            StatusCode::BAD_REQUEST,
            "window must be from 1m to 24h",
        ),
        (
            percent("percent_up", "0", "1h"),
            StatusCode::BAD_REQUEST,
            "percent must be greater than 0",
        ),
        (
            percent("percent_up", "1000.5", "1h"),
            StatusCode::BAD_REQUEST,
            "at most 1000",
        ),
        (
            percent("percent_up", "abc", "1h"),
            StatusCode::BAD_REQUEST,
            "percent",
        ),
        (
            percent("percent_down", "100", "1h"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "never fire",
        ),
        (
            json!({"cryptocurrency": "BTCUSDT", "condition": "percent_move", "percent": "5", "window": "1h", "repeat": {"rearm": "1%"}}),
            StatusCode::BAD_REQUEST,
            "rearm does not apply",
        ),
        (
            json!({"cryptocurrency": "BTCUSDT", "condition": "above"}),
            StatusCode::BAD_REQUEST,
            "target_price is required",
        ),
        (
            json!({"cryptocurrency": "BTCUSDT", "condition": "above", "target_price": "5", "percent": "5"}),
            StatusCode::BAD_REQUEST,
            "only for percent",
        ),
        (
            json!({"cryptocurrency": "BTCUSDT", "condition": "above", "target_price": "5", "repeat": {"cooldown": "1m"}}),
            StatusCode::BAD_REQUEST,
            "repeat.rearm is required",
        ),
    ] {
        let (got, err) = s.create_alert_status(&token, body.clone()).await;
        assert_eq!(got, status, "{body}: {err}");
        assert_error_shape(&err);
        assert!(
            err["error"].as_str().unwrap().contains(says),
            "{body}: {err}"
        );
    }
    let (_, listed) = s.get("/alerts/", &token).await;
    assert_eq!(listed["count"], 0, "nothing half-written");

    // A percent alert's move and window change; then it becomes a target alert and back.
    let id = s
        .create_alert(&token, percent("percent_move", "2.5", "15m"))
        .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/alerts/{id}/");
    let patch = |body: Value| s.call(Method::PATCH, &path, Some(&token), Some(body));
    let (status, a) = patch(json!({"percent": "3", "window": "4h"})).await;
    assert_eq!(
        (status, &a["percent"], &a["window"]),
        (StatusCode::OK, &json!("3"), &json!("4h")),
        "{a}"
    );
    let (status, err) = patch(json!({"target_price": "100"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, a) = patch(json!({"condition": "above", "target_price": "100"})).await;
    assert_eq!(
        (
            status,
            &a["condition"],
            &a["target_price"],
            &a["percent"],
            &a["window"]
        ),
        (
            StatusCode::OK,
            &json!("above"),
            &json!("100"),
            &Value::Null,
            &Value::Null
        ),
        "{a}"
    );
    let (status, err) = patch(json!({"condition": "percent_up"})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "needs percent and window: {err}"
    );
    let (status, a) =
        patch(json!({"condition": "percent_up", "percent": "1", "window": "1m"})).await;
    assert_eq!(
        (status, &a["condition"], &a["target_price"], &a["percent"]),
        (
            StatusCode::OK,
            &json!("percent_up"),
            &Value::Null,
            &json!("1")
        ),
        "{a}"
    );
}
