//! Editing an armed alert (`PATCH /alerts/{id}/`) and re-arming a fired one
//! (`POST /alerts/{id}/rearm/`), against a fake Binance over real WebSocket frames: the matcher
//! sees the new definition at once and never the old one again, trades from before an edit or a
//! re-arm never fire it, and lists are fresh in the answer's wake.

mod common;

use common::exchange::FakeExchange;
use common::{assert_error_shape, fire_prices, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn server(ex: &FakeExchange, dir: &std::path::Path) -> TestServer {
    let env: Vec<(String, String)> = ex.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_in(dir, &env).await
}

async fn patch(s: &TestServer, token: &str, id: &Value, body: Value) -> (StatusCode, Value) {
    s.call(
        Method::PATCH,
        &format!("/alerts/{id}/"),
        Some(token),
        Some(body),
    )
    .await
}

async fn above(s: &TestServer, token: &str, target: &str) -> Value {
    s.create_alert(
        token,
        json!({"cryptocurrency": "BTCUSDT", "target_price": target, "condition": "above"}),
    )
    .await
}

async fn status_of(s: &TestServer, token: &str, id: &Value) -> String {
    let (_, a) = s.get(&format!("/alerts/{id}/"), token).await;
    a["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_edited_target_is_matched_at_once_and_the_old_one_never() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path()).await;
    let token = s.user("eve").await;
    let edited = above(&s, &token, "100").await;
    // Fired by the same trades as would have fired the old target: once it has fired, the
    // trade has been matched against the edited alert too (fires commit in trade order).
    let sentinel = above(&s, &token, "150").await;
    let (_, listed) = s.get("/alerts/", &token).await;
    assert_eq!(listed["results"][1]["target_price"], "100");

    let (status, after) = patch(
        &s,
        &token,
        &edited["id"],
        json!({"target_price": "200.50", "note": "moved up"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(
        (&after["target_price"], &after["condition"], &after["note"]),
        (&json!("200.50"), &json!("above"), &json!("moved up"))
    );
    assert_eq!(after["created_at"], edited["created_at"]);
    // The cached list shows the edit in the answer's wake.
    let (_, listed) = s.get("/alerts/", &token).await;
    assert_eq!(listed["results"][1]["target_price"], "200.50");

    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "150");
    TestServer::wait_triggered(&mut events, sentinel["id"].as_i64().unwrap()).await;
    assert_eq!(status_of(&s, &token, &edited["id"]).await, "created");
    ex.trade("BTCUSDT", "200.50");
    let fired = TestServer::wait_triggered(&mut events, edited["id"].as_i64().unwrap()).await;
    assert_eq!(fired.price.to_string(), "200.50");

    // A fired alert cannot be edited; it can be re-armed.
    let (status, body) = patch(&s, &token, &edited["id"], json!({"target_price": "300"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("rearm"), "{body}");
}

#[tokio::test]
async fn a_rearmed_alert_fires_again_on_a_new_crossing_only() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path()).await;
    let token = s.user("rae").await;
    let a = above(&s, &token, "100").await;
    let id = a["id"].as_i64().unwrap();
    let path = format!("/alerts/{id}/rearm/");
    let (status, body) = s.post(&path, Some(&token), json!({})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an armed alert re-armed: {body}"
    );
    assert_error_shape(&body);

    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "120");
    TestServer::wait_triggered(&mut events, id).await;
    let (status, again) = s.post(&path, Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "created");
    // The latest fire is still shown until the next one.
    assert_eq!(again["triggered_price"], "120");
    let (_, listed) = s.get("/alerts/?status=active", &token).await;
    assert_eq!(listed["count"], 1, "{listed}");

    // The trade that fired it is remembered by the matcher, but it came before the re-arm: a
    // sentinel fired by the next trade shows that it was not replayed into a second fire.
    let sentinel = above(&s, &token, "110").await;
    ex.trade("BTCUSDT", "115");
    let sentinel_fire =
        TestServer::wait_triggered(&mut events, sentinel["id"].as_i64().unwrap()).await;
    assert_eq!(sentinel_fire.price.to_string(), "115");
    // Fired by the same trade, so in the same transaction as the sentinel.
    assert_eq!(status_of(&s, &token, &a["id"]).await, "triggered");

    let (_, fires) = s.get(&format!("/alerts/{id}/fires/"), &token).await;
    let prices = fire_prices(&fires);
    assert_eq!(prices, ["115", "120"], "{fires}");

    // Recent activity lists the fires of all the user's alerts, newest first, in pages.
    let (status, recent) = s.get("/fires/?page_size=2", &token).await;
    assert_eq!(status, StatusCode::OK, "{recent}");
    assert_eq!(recent["count"], 3, "{recent}");
    let fired = |page: &Value| -> Vec<(i64, String)> {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                assert_eq!(f["cryptocurrency"], "BTCUSDT", "{f}");
                (
                    f["alert_id"].as_i64().unwrap(),
                    f["price"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let mut newest = fired(&recent);
    newest.sort();
    let sentinel_id = sentinel["id"].as_i64().unwrap();
    assert_eq!(
        newest,
        [(id, "115".to_string()), (sentinel_id, "115".to_string())]
    );
    let next = recent["next"].as_str().unwrap();
    assert!(next.ends_with("/fires/?page=2&page_size=2"), "{next}");
    let (_, older) = s.get("/fires/?page=2&page_size=2", &token).await;
    assert_eq!(fired(&older), [(id, "120".to_string())], "{older}");
    // Nobody else's, and a deleted alert's fires leave it.
    let other = s.user("ray").await;
    let (_, theirs) = s.get("/fires/", &other).await;
    assert_eq!(theirs["count"], 0, "{theirs}");
    s.delete(&format!("/alerts/{id}/"), &token).await;
    let (_, left) = s.get("/fires/", &token).await;
    assert_eq!(fired(&left), [(sentinel_id, "115".to_string())], "{left}");
}

#[tokio::test]
async fn edits_are_checked_like_creates() {
    let s = TestServer::start().await;
    let token = s.user("val").await;
    let a = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "below", "note": "x"}),
        )
        .await;
    let id = &a["id"];
    for bad in [
        json!({"target_price": "0"}),
        json!({"target_price": "abc"}),
        json!({"target_price": null}),
        json!({"condition": "sideways"}),
        json!({"note": "x".repeat(281)}),
        json!({"channels": null}),
        json!([]),
    ] {
        let (status, body) = patch(&s, &token, id, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert_error_shape(&body);
    }
    let (status, body) = patch(&s, &token, id, json!({"channels": [999999]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, same) = patch(&s, &token, id, json!({})).await;
    assert_eq!((status, &same), (StatusCode::OK, &a));
    let (_, unchanged) = s.get(&format!("/alerts/{id}/"), &token).await;
    assert_eq!(
        (
            &unchanged["target_price"],
            &unchanged["condition"],
            &unchanged["note"]
        ),
        (&json!("100"), &json!("below"), &json!("x"))
    );

    // Only what is given changes; null removes the note; null condition: the price decides,
    // and with no price known the first trade does.
    let (status, b) = patch(&s, &token, id, json!({"note": null, "condition": null})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (&b["target_price"], &b["condition"], &b["note"]),
        (&json!("100"), &json!("cross"), &Value::Null)
    );
    let (_, c) = patch(&s, &token, id, json!({"note": "y"})).await;
    assert_eq!(
        (&c["note"], &c["condition"]),
        (&json!("y"), &json!("cross"))
    );
    let (_, d) = patch(&s, &token, id, json!({"note": ""})).await;
    assert_eq!(d["note"], Value::Null);

    // Not someone else's, not a deleted one.
    let other = s.user("ozzy").await;
    let (status, _) = patch(&s, &other, id, json!({"target_price": "5"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .post(&format!("/alerts/{id}/rearm/"), Some(&other), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.delete(&format!("/alerts/{id}/"), &token).await;
    let (status, _) = patch(&s, &token, id, json!({"target_price": "5"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .post(&format!("/alerts/{id}/rearm/"), Some(&token), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
