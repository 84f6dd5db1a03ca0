//! Alerts that expire, end to end against a fake Binance over real WebSocket frames and a real
//! SQLite file: a crossing just before the expiry that happened while the stream was down is
//! recovered and fires, one at the expiry never does; an alert on a symbol that does not trade
//! expires once the stream has been quiet past it; the rules of `expires_at` and re-arming.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::{assert_error_shape, TestServer};
use pricealert::clock::{format_millis, now_millis};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn above(target: &str, expires_at: i64) -> Value {
    json!({"cryptocurrency": "BTCUSDT", "target_price": target, "condition": "above",
           "expires_at": format_millis(expires_at)})
}

#[tokio::test]
async fn an_expiry_inside_a_gap_is_exact() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let token = s.user("ella").await;
    let expires = now_millis() + 120_000;
    let before = s.create_alert(&token, above("100", expires)).await;
    assert_eq!(before["expires_at"], format_millis(expires));
    assert_eq!(before["armed"], true);
    let at = s.create_alert(&token, above("200", expires)).await;
    let (before, at) = (before["id"].as_i64().unwrap(), at["id"].as_i64().unwrap());
    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade_at("BTCUSDT", "50", expires - 10);

    ex.with(|st| st.refuse = Some(503));
    ex.drop_all();
    ex.wait_for("disconnected", Duration::from_secs(5), |st| st.live() == 0)
        .await;
    // While nobody listens: a crossing of the first a millisecond before the expiry, and one
    // of the second at the very moment it expires.
    ex.trade_at("BTCUSDT", "101", expires - 1);
    ex.trade_at("BTCUSDT", "201", expires);
    ex.wait_for("a refused reconnect", Duration::from_secs(5), |st| {
        st.refused > 0
    })
    .await;
    ex.with(|st| st.refuse = None);

    let fired = TestServer::wait_triggered(&mut events, before).await;
    assert_eq!(
        (fired.price.to_string(), fired.time),
        ("101".into(), expires - 1)
    );
    TestServer::wait_expired(&mut events, at).await;
    s.settle(&ex, &mut events, &token, "300", expires + 1).await;
    let a = s.alert(&token, &json!(at)).await;
    assert_eq!(
        (
            &a["status"],
            &a["fire_count"],
            &a["triggered_at"],
            &a["armed"]
        ),
        (&json!("expired"), &json!(0), &Value::Null, &json!(false)),
        "{a}"
    );
    assert_eq!(s.alert(&token, &json!(before)).await["status"], "triggered");
    let (_, expired) = s.get("/alerts/?status=expired", &token).await;
    assert_eq!(expired["count"], 1, "{expired}");
    assert_eq!(expired["results"][0]["id"], at);
}

#[tokio::test]
async fn a_repeating_alert_fires_until_its_expiry_and_then_expires() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let token = s.user("rex").await;
    let expires = now_millis() + 120_000;
    let mut body = above("100", expires);
    body["repeat"] = json!({"rearm": "10"});
    let rep = s.create_alert(&token, body).await["id"].as_i64().unwrap();
    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade_at("BTCUSDT", "100", expires - 3);
    TestServer::wait_triggered(&mut events, rep).await;
    ex.trade_at("BTCUSDT", "90", expires - 2);
    // Re-armed, and the next crossing is at its expiry: it does not fire, it expires.
    ex.trade_at("BTCUSDT", "110", expires);
    TestServer::wait_expired(&mut events, rep).await;
    let a = s.alert(&token, &json!(rep)).await;
    assert_eq!(
        (&a["status"], &a["fire_count"]),
        (&json!("expired"), &json!(1)),
        "{a}"
    );
}

#[tokio::test]
async fn an_alert_on_a_quiet_symbol_expires_once_the_stream_is_quiet_past_it() {
    let ex = FakeExchange::start(&["BTCUSDT", "ETHUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    // The grace after an expiry before a symbol that has not traded is taken to be quiet.
    let s = TestServer::on_exchange(
        &ex,
        dir.path(),
        &[("PRICEALERT_MARKET__STALL_TIMEOUT", "1s")],
    )
    .await;
    let token = s.user("quinn").await;
    let mut events = s.events();
    let mut body = above("5000", now_millis() + 1_500);
    body["cryptocurrency"] = json!("ETHUSDT");
    let quiet = s.create_alert(&token, body).await["id"].as_i64().unwrap();
    let live = s
        .create_alert(&token, above("100", now_millis() + 600_000))
        .await["id"]
        .as_i64()
        .unwrap();
    ex.wait_subscribed("ETHUSDT").await;
    TestServer::wait_expired(&mut events, quiet).await;
    let a = s.alert(&token, &json!(quiet)).await;
    assert_eq!(
        (&a["status"], &a["armed"]),
        (&json!("expired"), &json!(false))
    );
    // The other alert, far from its expiry, is untouched and still fires.
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "100");
    TestServer::wait_triggered(&mut events, live).await;
}

#[tokio::test]
async fn expiry_rules_and_rearming_an_expired_alert() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(&ex, dir.path(), &[]).await;
    let token = s.user("eve").await;
    for (expires_at, says) in [
        (
            json!(format_millis(now_millis() - 1_000)),
            "not in the future",
        ),
        (json!("2026-02-30T00:00:00Z"), "RFC 3339"),
        (json!("tomorrow"), "RFC 3339"),
        (json!(1_900_000_000), "expires_at"),
    ] {
        let body =
            json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "expires_at": expires_at});
        let (status, err) = s.create_alert_status(&token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expires_at}: {err}");
        assert_error_shape(&err);
        assert!(err["error"].as_str().unwrap().contains(says), "{err}");
    }
    let (_, listed) = s.get("/alerts/", &token).await;
    assert_eq!(listed["count"], 0, "nothing half-written");

    // Expire one exactly: a trade at its expiry.
    let expires = now_millis() + 60_000;
    let id = s.create_alert(&token, above("100", expires)).await["id"]
        .as_i64()
        .unwrap();
    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade_at("BTCUSDT", "150", expires);
    TestServer::wait_expired(&mut events, id).await;

    let rearm = format!("/alerts/{id}/rearm/");
    let (status, err) = s
        .call(reqwest::Method::POST, &rearm, Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("new expires_at"),
        "{err}"
    );
    let (status, err) = s.post(&rearm, Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    // An expired alert cannot be edited before it is re-armed.
    let (status, _) = s
        .call(
            reqwest::Method::PATCH,
            &format!("/alerts/{id}/"),
            Some(&token),
            Some(json!({"note": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let later = now_millis() + 600_000;
    let (status, a) = s
        .post(
            &rearm,
            Some(&token),
            json!({"expires_at": format_millis(later)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(
        (&a["status"], &a["armed"]),
        (&json!("created"), &json!(true))
    );
    assert_eq!(a["expires_at"], format_millis(later));
    // Trades before the re-arm never fire it; the next crossing does.
    ex.trade("BTCUSDT", "150");
    TestServer::wait_triggered(&mut events, id).await;

    // PATCH sets and removes an expiry.
    let other = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "500", "condition": "above"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/alerts/{other}/");
    let soon = now_millis() + 300_000;
    let (status, a) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"expires_at": format_millis(soon)})),
        )
        .await;
    assert_eq!(
        (status, &a["expires_at"]),
        (StatusCode::OK, &json!(format_millis(soon))),
        "{a}"
    );
    let (status, a) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(
        (status, &a["expires_at"]),
        (StatusCode::OK, &Value::Null),
        "{a}"
    );
    let (status, err) = s
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"expires_at": format_millis(1_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
}
