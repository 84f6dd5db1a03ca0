//! `GET /prices/{symbol}/history` over real HTTP, served from the fake exchange's klines
//! endpoint: exact decimals, one exchange call per key while cached, concurrent requests
//! collapsed into one call, and errors in the JSON shape with the right status.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::{assert_error_shape, TestServer};
use reqwest::StatusCode;

const T0: i64 = 1_672_531_200_000; // 2023-01-01T00:00:00Z

async fn server(ex: &FakeExchange, dir: &std::path::Path) -> TestServer {
    let env: Vec<(String, String)> = ex.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_in(dir, &env).await
}

fn seed(ex: &FakeExchange) {
    ex.with(|s| {
        s.klines.insert(
            "BTCUSDT".into(),
            (0..3)
                .map(|i| {
                    (
                        T0 + i * 60_000,
                        format!("6500{i}.10000000"),
                        format!("6501{i}.99"),
                        format!("6499{i}.00000001"),
                        format!("6500{i}.5"),
                    )
                })
                .collect(),
        );
    });
}

#[tokio::test]
async fn candles_come_exact_and_cached() {
    let ex = FakeExchange::start(&["BTCUSDT", "ETHUSDT"]).await;
    seed(&ex);
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path()).await;
    let token = s.user("cal").await;

    let (status, body) = s
        .get("/prices/btcusdt/history/?interval=1m&limit=2", &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["symbol"], &body["interval"]),
        (&"BTCUSDT".into(), &"1m".into())
    );
    let points = body["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{body}");
    assert_eq!(points[0]["t"], "2023-01-01T00:01:00.000Z");
    assert_eq!(
        (
            &points[1]["open"],
            &points[1]["high"],
            &points[1]["low"],
            &points[1]["close"]
        ),
        (
            &"65002.10000000".into(),
            &"65012.99".into(),
            &"64992.00000001".into(),
            &"65002.5".into()
        )
    );
    let calls = || ex.state(|s| s.kline_calls);
    assert_eq!(calls(), 1);
    // The same key again: from the cache, no Age (it is fresh).
    let resp = s
        .client
        .get(s.url("/prices/BTCUSDT/history?interval=1m&limit=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("age").is_none());
    assert_eq!(calls(), 1);
    // The defaults (5m, 288) are another key.
    let (status, body) = s.get("/prices/BTCUSDT/history", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["interval"].as_str(), calls()), (Some("5m"), 2));
}

#[tokio::test]
async fn concurrent_requests_for_one_key_make_one_exchange_call() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    seed(&ex);
    ex.with(|s| s.kline_delay = Some(Duration::from_millis(300)));
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path()).await;
    let token = s.user("con").await;
    let requests = (0..10).map(|_| s.get("/prices/BTCUSDT/history?interval=15m", &token));
    let answers = futures_util::future::join_all(requests).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["points"].as_array().map(Vec::len), Some(3));
    }
    assert_eq!(ex.state(|s| s.kline_calls), 1);
}

#[tokio::test]
async fn bad_requests_and_outages_answer_in_the_json_shape() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    seed(&ex);
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path()).await;
    let token = s.user("bea").await;
    for path in [
        "/prices/BTCUSDT/history?interval=2m",
        "/prices/BTCUSDT/history?limit=0",
        "/prices/BTCUSDT/history?limit=1001",
        "/prices/BTC-USDT/history",
    ] {
        let (status, body) = s.get(path, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_error_shape(&body);
    }
    let (status, body) = s.get("/prices/NOSUCHCOIN/history", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_shape(&body);

    ex.with(|s| s.klines_status = Some(503));
    let resp = s
        .client
        .get(s.url("/prices/BTCUSDT/history?interval=1h"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error_shape(&body);
}
