//! The alerts API over real HTTP: exact prices, validation, ownership, pagination, filters and
//! cache invalidation.

mod common;

use common::{assert_error_shape, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn create_keeps_prices_exact_and_normalizes_symbols() {
    let s = TestServer::start().await;
    let token = s.user("alice").await;
    let a = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "btcusdt", "target_price": 65000.12345678}),
        )
        .await;
    assert_eq!(a["cryptocurrency"], "BTCUSDT");
    assert_eq!(a["target_price"], "65000.12345678");
    assert_eq!(a["condition"], "cross");
    assert_eq!(a["status"], "created");
    assert_eq!(a["triggered_at"], Value::Null);
    assert_eq!(a["triggered_price"], Value::Null);
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(a["user"].as_i64().unwrap() > 0);

    // 19 significant digits: a float would round them.
    let b = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "ETHBTC", "target_price": "12345678901.12345678", "condition": "below"}),
        )
        .await;
    assert_eq!(b["target_price"], "12345678901.12345678");
    assert_eq!(b["condition"], "below");
    let c = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "ETHBTC", "target_price": "0.00000001", "condition": "above"}),
        )
        .await;
    assert_eq!(c["target_price"], "0.00000001");

    let (status, got) = s.get(&format!("/alerts/{}/", b["id"]), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, b);
}

#[tokio::test]
async fn create_rejects_bad_input_with_json_errors() {
    let s = TestServer::start().await;
    let token = s.user("bob").await;
    let cases = [
        json!({"cryptocurrency": "B", "target_price": "1"}),
        json!({"cryptocurrency": "BTC-USDT", "target_price": "1"}),
        json!({"cryptocurrency": " BTCUSDT", "target_price": "1"}),
        json!({"cryptocurrency": false, "target_price": "1"}),
        json!({"cryptocurrency": "A23456789012345678901", "target_price": "1"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "0"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": 0}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": -5}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "-5"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "1.123456789"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": 1e-9}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "abc"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "1e5"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "200000000000"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": true}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": null}),
        json!({"cryptocurrency": "BTCUSDT"}),
        json!({"target_price": "1"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "condition": "sideways"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "note": "x".repeat(281)}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "note": "ring\u{7}"}),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "note": 5}),
    ];
    for case in cases {
        let (status, body) = s.post("/alerts/create/", Some(&token), case.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case} -> {body}");
        assert_error_shape(&body);
        if case.get("note").is_some() {
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with("note "), "{error}");
        }
    }
    let (_, list) = s.get("/alerts/", &token).await;
    assert_eq!(list["count"], 0, "a rejected alert was stored: {list}");

    // A client cannot set the status: unknown and read-only fields are ignored.
    let a = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "status": "triggered", "user": 999, "condition": null}),
        )
        .await;
    assert_eq!(a["status"], "created");
    assert_ne!(a["user"], 999);
    assert_eq!(a["condition"], "cross");
    assert_eq!(a["note"], Value::Null);
}

#[tokio::test]
async fn a_note_is_kept_as_given() {
    let s = TestServer::start().await;
    let token = s.user("bob").await;
    let note = format!("Sell half ✓\r\n\t{}", "é".repeat(266));
    assert_eq!(note.chars().count(), 280);
    for (given, kept) in [
        (json!(note), json!(note)),
        (json!(""), Value::Null),
        (Value::Null, Value::Null),
    ] {
        let a = s
            .create_alert(
                &token,
                json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "note": given}),
            )
            .await;
        assert_eq!(a["note"], kept);
        let (_, again) = s.get(&format!("/alerts/{}/", a["id"]), &token).await;
        assert_eq!(again["note"], kept);
    }
}

#[tokio::test]
async fn both_create_paths_and_both_delete_paths_work() {
    let s = TestServer::start().await;
    let token = s.user("carol").await;
    let (status, a) = s
        .post(
            "/alerts/",
            Some(&token),
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let b = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "2"}),
        )
        .await;

    let (status, _) = s
        .delete(&format!("/alerts/delete/{}/", a["id"]), &token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.delete(&format!("/alerts/{}", b["id"]), &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Gone from reads, kept as history in the deleted list.
    let (status, _) = s.get(&format!("/alerts/{}/", a["id"]), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = s.delete(&format!("/alerts/{}/", a["id"]), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);

    let (_, active) = s.get("/alerts/", &token).await;
    assert_eq!(active["count"], 0);
    let (_, deleted) = s.get("/alerts/?status=deleted", &token).await;
    assert_eq!(deleted["count"], 2);
    assert_eq!(deleted["results"][0]["status"], "deleted");
}

#[tokio::test]
async fn users_never_see_each_others_alerts() {
    let s = TestServer::start().await;
    let alice = s.user("alice").await;
    let mallory = s.user("mallory").await;
    let a = s
        .create_alert(
            &alice,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1"}),
        )
        .await;
    let path = format!("/alerts/{}/", a["id"]);

    let (status, body) = s.get(&path, &mallory).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    let (unknown_status, unknown_body) = s.get("/alerts/999999/", &mallory).await;
    assert_eq!(unknown_status, StatusCode::NOT_FOUND);
    assert_error_shape(&unknown_body);
    let (status, _) = s.delete(&path, &mallory).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = s.get("/alerts/", &mallory).await;
    assert_eq!(list["count"], 0);

    let (_, mine) = s.get(&path, &alice).await;
    assert_eq!(
        mine["status"], "created",
        "mallory's delete must not touch it"
    );
}

async fn seed(s: &TestServer, token: &str, n: usize, symbol: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let a = s
            .create_alert(
                token,
                json!({"cryptocurrency": symbol, "target_price": format!("{}", i + 1)}),
            )
            .await;
        ids.push(a["id"].as_i64().unwrap());
    }
    ids
}

fn ids(page: &Value) -> Vec<i64> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn pagination_at_the_edges() {
    let s = TestServer::start().await;
    let token = s.user("dave").await;
    let mut created = seed(&s, &token, 25, "BTCUSDT").await;
    created.reverse(); // newest first

    let (status, p1) = s.get("/alerts/", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p1["count"], 25);
    assert_eq!(ids(&p1), created[..10]);
    assert_eq!(p1["previous"], Value::Null);
    assert_eq!(
        p1["next"],
        format!("{}/alerts/?page=2&page_size=10", s.base)
    );

    let (_, p3) = s.get("/alerts/?page=3", &token).await;
    assert_eq!(ids(&p3), created[20..]);
    assert_eq!(p3["next"], Value::Null);
    assert_eq!(
        p3["previous"],
        format!("{}/alerts/?page=2&page_size=10", s.base)
    );

    // The links work as given.
    let next = p1["next"]
        .as_str()
        .unwrap()
        .trim_start_matches(&s.base)
        .to_string();
    let (_, p2) = s.get(&next, &token).await;
    assert_eq!(ids(&p2), created[10..20]);

    let (_, exact) = s.get("/alerts/?page_size=25", &token).await;
    assert_eq!(ids(&exact).len(), 25);
    assert_eq!(exact["next"], Value::Null);
    let (_, alias) = s.get("/alerts/?per_page=5&page=5", &token).await;
    assert_eq!(ids(&alias), created[20..]);
    assert_eq!(alias["next"], Value::Null);
    let (_, max) = s.get("/alerts/?page_size=100", &token).await;
    assert_eq!(ids(&max).len(), 25);
    // Over 100 is clamped to 100 (as the original services' clients expect), not refused.
    for big in ["page_size=101", "per_page=1000", "page_size=1000000000"] {
        let (status, page) = s.get(&format!("/alerts/?{big}"), &token).await;
        assert_eq!(status, StatusCode::OK, "{big}: {page}");
        assert_eq!(ids(&page).len(), 25, "{big}");
    }

    let (status, body) = s.get("/alerts/?page=4", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    for bad in [
        "page=0",
        "page=-1",
        "page=x",
        "page_size=0",
        "page_size=1000000001",
        "per_page=20945675213107087015936",
        "status=bogus",
        "cryptocurrency=B",
        "cryptocurrency=BTC-USD",
    ] {
        let (status, body) = s.get(&format!("/alerts/?{bad}"), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_error_shape(&body);
    }
}

#[tokio::test]
async fn an_empty_list_is_one_page() {
    let s = TestServer::start().await;
    let token = s.user("erin").await;
    let (status, list) = s.get("/alerts/", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!({"results": [], "count": 0, "next": null, "previous": null})
    );
}

#[tokio::test]
async fn filters_by_status_and_symbol() {
    let s = TestServer::start().await;
    let token = s.user("fay").await;
    seed(&s, &token, 3, "BTCUSDT").await;
    let eth = seed(&s, &token, 2, "ETHUSDT").await;
    s.delete(&format!("/alerts/{}/", eth[0]), &token).await;

    let count = |q: &'static str| {
        let s = &s;
        let token = token.clone();
        async move { s.get(&format!("/alerts/?{q}"), &token).await.1["count"].clone() }
    };
    assert_eq!(count("cryptocurrency=ethusdt").await, 1);
    assert_eq!(count("cryptocurrency=BTCUSDT").await, 3);
    assert_eq!(count("status=created").await, 4);
    assert_eq!(count("status=active").await, 4);
    assert_eq!(count("status=triggered").await, 0);
    assert_eq!(count("status=deleted").await, 1);
    assert_eq!(count("status=Deleted").await, 1, "any case");
    assert_eq!(count("status=ACTIVE").await, 4, "any case");
    assert_eq!(count("status=deleted&cryptocurrency=ethusdt").await, 1);
    let (_, page) = s
        .get(
            "/alerts/?status=active&cryptocurrency=btcusdt&page_size=1",
            &token,
        )
        .await;
    assert_eq!(
        page["next"],
        format!(
            "{}/alerts/?page=2&page_size=1&status=active&cryptocurrency=BTCUSDT",
            s.base
        )
    );
}

#[tokio::test]
async fn writes_are_visible_in_the_very_next_list() {
    let s = TestServer::start().await;
    let token = s.user("gus").await;
    for round in 1..=5 {
        let (_, before) = s.get("/alerts/", &token).await; // fills the cache
        let (_, again) = s.get("/alerts/", &token).await; // served from it
        assert_eq!(before, again);
        let a = s
            .create_alert(
                &token,
                json!({"cryptocurrency": "BTCUSDT", "target_price": "1"}),
            )
            .await;
        let (_, after) = s.get("/alerts/", &token).await;
        assert_eq!(after["count"], round, "stale list after create");
        assert_eq!(after["results"][0]["id"], a["id"]);
    }
    let (_, list) = s.get("/alerts/", &token).await;
    let newest = list["results"][0]["id"].clone();
    s.delete(&format!("/alerts/{newest}/"), &token).await;
    let (_, after) = s.get("/alerts/", &token).await;
    assert_eq!(after["count"], 4, "stale list after delete");
    let (_, deleted) = s.get("/alerts/?status=deleted", &token).await;
    assert_eq!(deleted["count"], 1);
}

#[tokio::test]
async fn every_framework_error_has_the_json_shape() {
    let s = TestServer::start().await;
    let token = s.user("hana").await;
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{status}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_error_shape(&body);
        status
    };
    let c = &s.client;
    assert_eq!(
        send(c.get(s.url("/no/such/route"))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(c.put(s.url("/alerts/"))).await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let bad_json = c
        .post(s.url("/alerts/create/"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"cryptocurrency\": ");
    assert_eq!(send(bad_json).await, StatusCode::BAD_REQUEST);
    let wrong_type = c
        .post(s.url("/alerts/create/"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("BTCUSDT 1");
    assert_eq!(send(wrong_type).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = c
        .post(s.url("/alerts/create/"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"cryptocurrency\": \"{}\"}}",
            "A".repeat(17 * 1024)
        ));
    assert_eq!(send(huge).await, StatusCode::PAYLOAD_TOO_LARGE);
    // Without a Content-Length header, too.
    let chunks = futures_stream(17);
    let chunked = c
        .post(s.url("/auth/login/"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks));
    assert_eq!(send(chunked).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        send(c.get(s.url("/alerts/abc/")).bearer_auth(&token)).await,
        StatusCode::BAD_REQUEST
    );
}

fn futures_stream(kib: usize) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::iter((0..kib).map(|_| Ok(vec![b' '; 1024])))
}

#[tokio::test]
async fn docs_and_spec_are_served() {
    let s = TestServer::start().await;
    let html = s.client.get(s.url("/docs")).send().await.unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert!(html.text().await.unwrap().contains("swagger"));
    let spec: Value = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/alerts/create"]["post"].is_object());
    assert!(spec["components"]["securitySchemes"]["BearerAuth"].is_object());
    // Each operation documents its error responses.
    let responses = &spec["paths"]["/alerts/{id}"]["get"]["responses"];
    for code in ["400", "401", "404"] {
        assert!(responses[code].is_object(), "{code} missing");
    }
    let yaml = s.client.get(s.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(yaml.status(), StatusCode::OK);
    assert_eq!(yaml.text().await.unwrap(), pricealert::api::spec_yaml());
}

/// The `next` link of a one-per-page list, asked for with `headers`.
async fn next_link(s: &TestServer, token: &str, headers: &[(&str, &str)]) -> String {
    let mut req = s
        .client
        .get(s.url("/alerts/?page_size=1"))
        .bearer_auth(token);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let page: Value = req.send().await.unwrap().json().await.unwrap();
    page["next"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn without_a_public_url_links_follow_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[("PRICEALERT_SERVER__PUBLIC_URL", "")]).await;
    let token = s.user("lina").await;
    seed(&s, &token, 2, "BTCUSDT").await;
    assert_eq!(
        next_link(&s, &token, &[("host", "alerts.lan:8080")]).await,
        "http://alerts.lan:8080/alerts/?page=2&page_size=1"
    );
    // Forwarded headers are believed only from a trusted proxy: this peer is not one.
    let forwarded = [
        ("host", "alerts.lan:8080"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
    ];
    assert_eq!(
        next_link(&s, &token, &forwarded).await,
        "http://alerts.lan:8080/alerts/?page=2&page_size=1"
    );
    // A header that is not a host is not used.
    assert!(next_link(&s, &token, &[("host", "a b/c")])
        .await
        .starts_with("http://127.0.0.1"));

    let dir = tempfile::tempdir().unwrap();
    let proxied = TestServer::start_in(
        dir.path(),
        &[
            ("PRICEALERT_SERVER__PUBLIC_URL", ""),
            ("PRICEALERT_SERVER__TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let token = proxied.user("lina").await;
    seed(&proxied, &token, 2, "BTCUSDT").await;
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "prices.example.com"),
    ];
    assert_eq!(
        next_link(&proxied, &token, &forwarded).await,
        "https://prices.example.com/alerts/?page=2&page_size=1"
    );

    // A set public_url always wins.
    let dir = tempfile::tempdir().unwrap();
    let fixed = TestServer::start_in(
        dir.path(),
        &[(
            "PRICEALERT_SERVER__PUBLIC_URL",
            "https://alerts.example.com",
        )],
    )
    .await;
    let token = fixed.user("lina").await;
    seed(&fixed, &token, 2, "BTCUSDT").await;
    assert_eq!(
        next_link(&fixed, &token, &[("host", "alerts.lan:8080")]).await,
        "https://alerts.example.com/alerts/?page=2&page_size=1"
    );
}
