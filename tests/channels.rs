//! Push channels over real HTTP: each kind is delivered to a receiver on 127.0.0.1 that speaks
//! its service's API; retries, permanent failures, test messages, the outbound address rules,
//! and the channels resource itself.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::receiver::{Receiver, Reply};
use common::{assert_error_shape, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A server with an exchange, private targets allowed (receivers are on loopback), fast retries.
async fn server(ex: &FakeExchange, dir: &std::path::Path, extra: &[(&str, &str)]) -> TestServer {
    let mut env: Vec<(String, String)> = ex.env();
    env.push((
        "PRICEALERT_NOTIFY__ALLOW_PRIVATE_TARGETS".into(),
        "true".into(),
    ));
    env.push(("PRICEALERT_SMTP__RETRY_INITIAL".into(), "200ms".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_in(dir, &env).await
}

async fn add_channel(s: &TestServer, token: &str, body: Value) -> Value {
    let (status, channel) = s.post("/channels/", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel
}

/// Adds each channel; returns their ids.
async fn add_channels<const N: usize>(s: &TestServer, token: &str, bodies: [Value; N]) -> [i64; N] {
    let mut ids = [0; N];
    for (i, body) in bodies.into_iter().enumerate() {
        ids[i] = add_channel(s, token, body).await["id"].as_i64().unwrap();
    }
    ids
}

/// The note every fired alert here carries: markup and a line break, as a user might type.
const NOTE: &str = "Take profit <half>\nthen wait";

/// Creates an alert on `channels` and fires it with one crossing trade; returns its id.
async fn fire(s: &TestServer, ex: &FakeExchange, token: &str, channels: &[i64]) -> i64 {
    let alert = s
        .create_alert(
            token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "65000", "condition": "above",
                   "channels": channels, "note": NOTE}),
        )
        .await;
    assert_eq!(alert["note"], NOTE);
    let id = alert["id"].as_i64().unwrap();
    let mut events = s.events();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "65001.50");
    TestServer::wait_triggered(&mut events, id).await;
    id
}

async fn alert(s: &TestServer, token: &str, id: i64) -> Value {
    let (status, a) = s.get(&format!("/alerts/{id}/"), token).await;
    assert_eq!(status, StatusCode::OK);
    a
}

/// Waits until every channel's delivery of the alert's latest fire left `pending`.
async fn settled(s: &TestServer, token: &str, id: i64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let a = alert(s, token, id).await;
        let done = a["notifications"]
            .as_array()
            .is_some_and(|n| !n.is_empty() && n.iter().all(|d| d["status"] != "pending"));
        if done {
            return a;
        }
        assert!(tokio::time::Instant::now() < deadline, "still pending: {a}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_kind_is_delivered_as_its_service_expects() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let (hook, ntfy, telegram, discord, gotify) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    discord.always(Reply::status(204, ""));
    let dir = tempfile::tempdir().unwrap();
    let tg = telegram.url("");
    let s = server(
        &ex,
        dir.path(),
        &[("PRICEALERT_NOTIFY__TELEGRAM_API_URL", &tg)],
    )
    .await;
    let token = s.user("ada").await;
    let ids = add_channels(
        &s,
        &token,
        [
            json!({"kind": "webhook", "url": hook.url("/hook"), "secret": "s3cret-signing-key"}),
            json!({"kind": "ntfy", "server": ntfy.url(""), "topic": "ada-prices", "token": "tk_abcdefghijkl"}),
            json!({"kind": "telegram", "bot_token": "123456:ABC-DEF", "chat_id": "4242"}),
            json!({"kind": "discord", "url": discord.url("/api/webhooks/1/tok-en")}),
            json!({"kind": "gotify", "server": gotify.url(""), "token": "AppToken123"}),
        ],
    )
    .await;
    let id = fire(&s, &ex, &token, &ids).await;

    let w = &hook.wait_for(1).await[0];
    assert_eq!((w.method.as_str(), w.path.as_str()), ("POST", "/hook"));
    assert_eq!(w.header("content-type"), Some("application/json"));
    assert_eq!(w.header("x-pricealert-event"), Some("alert.triggered"));
    assert!(w
        .header("x-pricealert-delivery")
        .is_some_and(|k| k.len() >= 16));
    assert_eq!(
        w.header("x-pricealert-signature"),
        Some(pricealert::notify::signature("s3cret-signing-key", &w.body).as_str())
    );
    let body = w.json();
    assert_eq!(body["event"], "alert.triggered");
    assert_eq!(body["alert"]["id"], id);
    assert_eq!(body["alert"]["triggered_price"], "65001.50");
    assert_eq!(body["alert"]["note"], NOTE);
    assert!(body["alert_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/#alert-{id}")));
    assert!(body["sent_at"].is_string());

    let n = &ntfy.wait_for(1).await[0];
    assert_eq!(
        (n.method.as_str(), n.path.as_str()),
        ("POST", "/ada-prices")
    );
    assert_eq!(n.header("title"), Some("BTCUSDT rose above 65000"));
    assert_eq!(n.header("priority"), Some("4"));
    assert_eq!(n.header("tags"), Some("chart_with_upwards_trend"));
    assert!(n
        .header("click")
        .unwrap()
        .ends_with(&format!("/#alert-{id}")));
    assert_eq!(n.header("authorization"), Some("Bearer tk_abcdefghijkl"));
    assert!(
        n.body
            .starts_with("BTCUSDT rose above 65000 — traded at 65001.50"),
        "{}",
        n.body
    );
    assert!(n.body.contains(&format!("Note: {NOTE}\n")), "{}", n.body);

    let t = &telegram.wait_for(1).await[0];
    assert_eq!(t.path, "/bot123456:ABC-DEF/sendMessage");
    let tb = t.json();
    assert_eq!(
        (tb["chat_id"].as_str(), tb["parse_mode"].as_str()),
        (Some("4242"), Some("HTML"))
    );
    assert_eq!(tb["disable_web_page_preview"], true);
    assert!(tb["text"]
        .as_str()
        .unwrap()
        .contains("<b>BTCUSDT rose above 65000"));
    assert!(tb["text"]
        .as_str()
        .unwrap()
        .contains("Note: Take profit &lt;half&gt;\nthen wait\n"));

    let d = &discord.wait_for(1).await[0];
    assert_eq!(d.path, "/api/webhooks/1/tok-en");
    let db = d.json();
    assert!(db["content"]
        .as_str()
        .unwrap()
        .starts_with("BTCUSDT rose above 65000"));
    assert_eq!(db["embeds"][0]["color"], 0x2e_a0_43);
    assert!(db["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains(&format!("**Note:** {NOTE}")));
    assert!(db["embeds"][0]["timestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    let g = &gotify.wait_for(1).await[0];
    assert_eq!(
        (g.path.as_str(), g.header("x-gotify-key")),
        ("/message", Some("AppToken123"))
    );
    let gb = g.json();
    assert_eq!(gb["title"], "BTCUSDT rose above 65000");
    assert!(gb["message"].as_str().unwrap().contains(NOTE));
    assert!(gb["extras"]["client::notification"]["click"]["url"].is_string());

    let a = settled(&s, &token, id).await;
    let notes = a["notifications"].as_array().unwrap();
    assert_eq!(notes.len(), 5, "{a}");
    assert!(notes.iter().all(|n| n["status"] == "sent"), "{a}");
    assert_eq!(a["notification"]["status"], "sent");
    let metrics = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"pricealert_delivery_attempts_total{kind="telegram",status="sent"} 1"#)
    );
}

#[tokio::test]
async fn temporary_failures_are_retried_with_the_wait_the_service_asks_for() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let (hook, discord, telegram) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    hook.script([
        Reply::Answer {
            status: 429,
            headers: vec![("retry-after", "1".into())],
            body: String::new(),
        },
        Reply::status(503, "busy"),
    ]);
    discord.script([Reply::status(
        429,
        r#"{"message": "You are being rate limited.", "retry_after": 0.6, "global": false}"#,
    )]);
    discord.always(Reply::status(204, ""));
    telegram.script([Reply::status(429, r#"{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}"#)]);
    let dir = tempfile::tempdir().unwrap();
    let tg = telegram.url("");
    let s = server(
        &ex,
        dir.path(),
        &[("PRICEALERT_NOTIFY__TELEGRAM_API_URL", &tg)],
    )
    .await;
    let token = s.user("bob").await;
    let ids = add_channels(
        &s,
        &token,
        [
            json!({"kind": "webhook", "url": hook.url("/h")}),
            json!({"kind": "discord", "url": discord.url("/api/webhooks/2/t")}),
            json!({"kind": "telegram", "bot_token": "1:x", "chat_id": "7"}),
        ],
    )
    .await;
    let id = fire(&s, &ex, &token, &ids).await;

    let tries = hook.wait_for(3).await;
    assert!(
        tries[1].at - tries[0].at >= Duration::from_millis(950),
        "Retry-After ignored"
    );
    let key = tries[0].header("x-pricealert-delivery").unwrap();
    assert!(
        tries
            .iter()
            .all(|t| t.header("x-pricealert-delivery") == Some(key)),
        "the key changed between retries"
    );
    let d = discord.wait_for(2).await;
    assert!(
        d[1].at - d[0].at >= Duration::from_millis(550),
        "Discord's retry_after ignored"
    );
    let t = telegram.wait_for(2).await;
    assert!(
        t[1].at - t[0].at >= Duration::from_millis(950),
        "Telegram's retry_after ignored"
    );
    let a = settled(&s, &token, id).await;
    for note in a["notifications"].as_array().unwrap() {
        assert_eq!(note["status"], "sent", "{a}");
        assert!(note["attempts"].as_i64().unwrap() >= 2, "{a}");
    }
}

#[tokio::test]
async fn refusals_fail_for_good_with_the_services_answer() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let (discord, telegram, gotify) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    discord.always(Reply::status(
        404,
        r#"{"message": "Unknown Webhook", "code": 10015}"#,
    ));
    telegram.always(Reply::status(403, r#"{"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}"#));
    gotify.always(Reply::status(
        401,
        r#"{"error": "Unauthorized", "errorCode": 401}"#,
    ));
    let dir = tempfile::tempdir().unwrap();
    let tg = telegram.url("");
    let s = server(
        &ex,
        dir.path(),
        &[("PRICEALERT_NOTIFY__TELEGRAM_API_URL", &tg)],
    )
    .await;
    let token = s.user("cyd").await;
    let ids = add_channels(
        &s,
        &token,
        [
            json!({"kind": "discord", "url": discord.url("/api/webhooks/3/gone")}),
            json!({"kind": "telegram", "bot_token": "1:x", "chat_id": "7"}),
            json!({"kind": "gotify", "server": gotify.url(""), "token": "bad"}),
        ],
    )
    .await;
    let id = fire(&s, &ex, &token, &ids).await;
    let a = settled(&s, &token, id).await;
    assert_eq!(a["notification"]["status"], "failed");
    let errors: Vec<&str> = a["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(
                (n["status"].as_str(), n["attempts"].as_i64()),
                (Some("failed"), Some(1))
            );
            n["last_error"].as_str().unwrap()
        })
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("Unknown Webhook")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("bot was blocked")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.starts_with("401")), "{errors:?}");
    assert_eq!(discord.requests().len(), 1, "a refusal was retried");

    // The test button says what the service answered.
    let (status, tested) = s
        .call(
            Method::POST,
            &format!("/channels/{}/test/", ids[2]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tested["delivered"], false, "{tested}");
    assert!(
        tested["error"].as_str().unwrap().contains("Unauthorized"),
        "{tested}"
    );
}

#[tokio::test]
async fn a_dead_channel_does_not_hold_up_another() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let (dead, alive) = (Receiver::start().await, Receiver::start().await);
    dead.always(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path(), &[("PRICEALERT_NOTIFY__TIMEOUT", "30s")]).await;
    let token = s.user("dia").await;
    let ids = add_channels(
        &s,
        &token,
        [
            json!({"kind": "webhook", "url": dead.url("/dead")}),
            json!({"kind": "webhook", "url": alive.url("/alive")}),
        ],
    )
    .await;
    // Several fires at once: the dead channel's deliveries hang for 30 s each.
    let mut events = s.events();
    let mut alerts = Vec::new();
    for target in ["100", "101", "102", "103", "104", "105"] {
        let a = s
            .create_alert(&token, json!({"cryptocurrency": "BTCUSDT", "target_price": target, "condition": "above", "channels": ids}))
            .await;
        alerts.push(a["id"].as_i64().unwrap());
    }
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "200");
    for id in &alerts {
        TestServer::wait_triggered(&mut events, *id).await;
    }
    let fired = std::time::Instant::now();
    alive.wait_for(alerts.len()).await;
    assert!(
        fired.elapsed() < Duration::from_secs(10),
        "the live channel waited for the dead one"
    );
}

#[tokio::test]
async fn the_channels_resource() {
    let s = TestServer::start_in(
        tempfile::tempdir().unwrap().keep().as_path(),
        &[
            ("PRICEALERT_NOTIFY__ALLOW_PRIVATE_TARGETS", "true"),
            ("PRICEALERT_LIMITS__MAX_CHANNELS_PER_USER", "3"),
        ],
    )
    .await;
    let hook = Receiver::start().await;
    let token = s.user("eve").await;
    let other = s.user("fay").await;
    // Every account starts with its email channel.
    let (status, list) = s.get("/channels", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["kind"], "email");
    assert_eq!(list["results"][0]["address"], "eve@example.com");

    let created = add_channel(&s, &token, json!({"kind": "webhook", "name": "Home", "url": hook.url("/x"), "secret": "very-secret-value"})).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["secret"], "••••alue", "secrets are masked");
    assert_eq!(
        (created["name"].as_str(), created["enabled"].as_bool()),
        (Some("Home"), Some(true))
    );
    let tg = add_channel(&s, &token, json!({"kind": "telegram", "bot_token": "987654321:very-secret", "chat_id": "-1001234567890"})).await;
    assert!(!tg.to_string().contains("very-secret"), "{tg}");
    let (status, err) = s
        .post(
            "/channels/",
            Some(&token),
            json!({"kind": "ntfy", "topic": "t"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");

    for (body, says) in [
        (json!({"kind": "webhook"}), "url is required"),
        (json!({"kind": "pigeon"}), "kind must be one of"),
        (json!({"kind": "webhook", "url": "ftp://x"}), "url must be"),
        (json!({"url": "https://example.com/"}), "kind is required"),
        (json!({"kind": "email", "address": ""}), "address must be"),
        (
            json!({"kind": "ntfy", "topic": "t", "priority": null}),
            "priority must not be null",
        ),
        (
            json!({"kind": "ntfy", "topic": "t", "priority": 6}),
            "priority must be 1 (min) to 5",
        ),
        (
            json!({"kind": "telegram", "bot_token": "1:a", "chat_id": "-"}),
            "chat_id must be",
        ),
        (
            json!({"kind": "discord", "url": "https://x.example/", "name": "  "}),
            "name must be",
        ),
        (
            json!(["webhook", "https://x.example/"]),
            "must be a JSON object",
        ),
    ] {
        let (status, err) = s.post("/channels/", Some(&token), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(err["error"].as_str().unwrap().contains(says), "{err}");
        assert_error_shape(&err);
    }
    // Someone else's channel does not exist for you.
    assert_eq!(
        s.get(&format!("/channels/{id}/"), &other).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = s
        .create_alert_status(
            &other,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "channels": [id]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = s
        .create_alert_status(
            &other,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1", "channels": null}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, err) = s
        .call(
            Method::PATCH,
            &format!("/channels/{id}"),
            Some(&token),
            Some(json!([null, null])),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an array is not a change: {err}"
    );

    let (status, changed) = s
        .call(
            Method::PATCH,
            &format!("/channels/{id}"),
            Some(&token),
            Some(json!({"name": "Renamed", "enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["name"].as_str(), changed["enabled"].as_bool()),
        (Some("Renamed"), Some(false))
    );
    assert_eq!(changed["secret"], "••••alue", "unchanged secrets stay");
    // A new alert notifies the enabled channels by default.
    let a = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "1"}),
        )
        .await;
    assert_eq!(a["channels"].as_array().unwrap().len(), 2, "{a}");

    let (status, tested) = s
        .call(
            Method::POST,
            &format!("/channels/{id}/test"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, tested),
        (StatusCode::OK, json!({"delivered": true}))
    );
    assert_eq!(hook.wait_for(1).await[0].json()["event"], "test");

    assert_eq!(
        s.delete(&format!("/channels/{id}/"), &token).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&format!("/channels/{id}"), &token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.delete(&format!("/channels/{id}"), &token).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn outbound_targets_must_be_public_unless_allowed() {
    let s = TestServer::start().await;
    let token = s.user("gil").await;
    // Well-formed targets the outbound rules forbid: 403, saying how to allow them. Hosts
    // written as numbers other than dotted IPv4 (which parsers read in surprising ways) and
    // IPv6 literals are not URLs the rule takes: 400.
    let forbidden = (StatusCode::FORBIDDEN, "notify.allow_private_targets");
    let not_a_url = (StatusCode::BAD_REQUEST, "url must be");
    for (url, (expected, says)) in [
        ("http://127.0.0.1:9/hook", forbidden),
        ("http://localhost:9/hook", forbidden),
        ("http://10.0.0.5/hook", forbidden),
        ("http://172.16.3.4/hook", forbidden),
        ("http://192.168.1.10/hook", forbidden),
        ("http://169.254.169.254/latest/meta-data", forbidden),
        ("http://0.0.0.0/hook", forbidden),
        ("http://[::1]:9/hook", not_a_url),
        ("http://[fd00::1]/hook", not_a_url),
        ("http://2130706433/hook", not_a_url),
        ("http://0x7f000001/hook", not_a_url),
        ("http://0177.0.0.1/hook", not_a_url),
    ] {
        let (status, err) = s
            .post(
                "/channels/",
                Some(&token),
                json!({"kind": "webhook", "url": url}),
            )
            .await;
        assert_eq!(status, expected, "{url}: {err}");
        assert!(
            err["error"].as_str().unwrap().contains(says),
            "{url}: {err}"
        );
    }
    let (status, err) = s
        .post(
            "/channels/",
            Some(&token),
            json!({"kind": "gotify", "server": "http://127.0.0.1:1", "token": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    // A name that does not resolve now is taken: deliveries resolve it again.
    let (status, made) = s
        .post(
            "/channels/",
            Some(&token),
            json!({"kind": "webhook", "url": "https://no-such-host.invalid/hook"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
}

#[tokio::test]
async fn a_delivery_interrupted_by_sigkill_is_sent_after_restart_with_the_same_key() {
    use common::process::{free_port, serve_command, wait_healthy};
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let hook = Receiver::start().await;
    // The first attempt never gets an answer: the server is killed while it waits.
    hook.script([Reply::Hang]);
    let dir = tempfile::tempdir().unwrap();
    let spawn = |port: u16| {
        let mut cmd = serve_command(dir.path(), port);
        cmd.env("PRICEALERT_NOTIFY__ALLOW_PRIVATE_TARGETS", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in ex.env() {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    };
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn(port);
    wait_healthy(&client, &base).await;
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    post(
        "/auth/register/",
        None,
        json!({"username": "kim", "password": "password-123", "email": "kim@example.com"}),
    )
    .await
    .unwrap();
    let login: Value = post(
        "/auth/login/",
        None,
        json!({"username": "kim", "password": "password-123"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = login["access"].as_str().unwrap().to_string();
    let channel: Value = post(
        "/channels/",
        Some(&token),
        json!({"kind": "webhook", "url": hook.url("/k")}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let created = post(
        "/alerts/",
        Some(&token),
        json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above", "channels": [channel["id"]]}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "150");
    let first = hook.wait_for(1).await[0].clone();
    server.kill().unwrap(); // SIGKILL, mid-delivery
    server.wait().unwrap();

    let mut server = spawn(port);
    wait_healthy(&client, &base).await;
    let again = hook.wait_for(2).await[1].clone();
    assert_eq!(
        again.header("x-pricealert-delivery"),
        first.header("x-pricealert-delivery"),
        "a retry after the crash must carry the same delivery key"
    );
    assert_eq!(again.json()["alert"]["triggered_price"], "150");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn a_throttling_channel_waits_as_a_whole() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let hook = Receiver::start().await;
    hook.script([Reply::Answer {
        status: 429,
        headers: vec![("retry-after", "2".into())],
        body: String::new(),
    }]);
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        &ex,
        dir.path(),
        &[("PRICEALERT_NOTIFY__CONCURRENCY_PER_CHANNEL", "1")],
    )
    .await;
    let token = s.user("hal").await;
    let channel = add_channel(
        &s,
        &token,
        json!({"kind": "webhook", "url": hook.url("/h")}),
    )
    .await;
    let mut events = s.events();
    let mut alerts = Vec::new();
    for target in ["100", "101", "102"] {
        let a = s
            .create_alert(&token, json!({"cryptocurrency": "BTCUSDT", "target_price": target, "condition": "above", "channels": [channel["id"]]}))
            .await;
        alerts.push(a["id"].as_i64().unwrap());
    }
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "200");
    for id in &alerts {
        TestServer::wait_triggered(&mut events, *id).await;
    }
    // The 429 asked for 2 s: none of the channel's deliveries is tried before then.
    let got = hook.wait_for(4).await;
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(1900),
        "the channel was called again {:?} after it asked for 2 s",
        got[1].at - got[0].at
    );
    for id in alerts {
        assert_eq!(
            settled(&s, &token, id).await["notification"]["status"],
            "sent"
        );
    }
}

#[tokio::test]
async fn disabling_or_deleting_a_channel_fails_its_pending_deliveries_and_keeps_the_past() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let (flaky, fine) = (Receiver::start().await, Receiver::start().await);
    // Always "try again later": its delivery stays pending.
    flaky.always(Reply::status(503, "maintenance"));
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path(), &[]).await;
    let token = s.user("ida").await;
    let ids = add_channels(
        &s,
        &token,
        [
            json!({"kind": "webhook", "name": "Flaky", "url": flaky.url("/f")}),
            json!({"kind": "webhook", "name": "Fine", "url": fine.url("/g")}),
        ],
    )
    .await;
    let id = fire(&s, &ex, &token, &ids).await;
    flaky.wait_for(1).await;
    fine.wait_for(1).await;
    let note = |a: &Value, channel: i64| {
        a["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["channel_id"] == channel)
            .cloned()
            .unwrap()
    };
    // Disabling the flaky channel ends its pending delivery, with the reason.
    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("/channels/{}/", ids[0]),
            Some(&token),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let a = settled(&s, &token, id).await;
    let flaky_note = note(&a, ids[0]);
    assert_eq!(flaky_note["status"], "failed", "{a}");
    assert!(
        flaky_note["last_error"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{a}"
    );
    assert_eq!(note(&a, ids[1])["status"], "sent");
    // Deleting the other keeps its past delivery readable on the alert.
    assert_eq!(
        s.delete(&format!("/channels/{}/", ids[1]), &token).await.0,
        StatusCode::NO_CONTENT
    );
    let a = alert(&s, &token, id).await;
    assert_eq!(note(&a, ids[1])["status"], "sent", "{a}");
    assert!(
        !a["channels"].as_array().unwrap().contains(&json!(ids[1])),
        "{a}"
    );
}

#[tokio::test]
async fn an_alerts_fires_are_listed_with_their_deliveries() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&ex, dir.path(), &[]).await;
    let token = s.user("fay").await;
    let [channel] = add_channels(
        &s,
        &token,
        [json!({"kind": "webhook", "url": hook.url("/h")})],
    )
    .await;
    let unfired = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "99999"}),
        )
        .await;
    let (status, empty) = s
        .get(&format!("/alerts/{}/fires/", unfired["id"]), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        (
            empty["count"].as_i64(),
            empty["results"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    assert_eq!(
        (&empty["next"], &empty["previous"]),
        (&Value::Null, &Value::Null)
    );

    let id = fire(&s, &ex, &token, &[channel]).await;
    let a = settled(&s, &token, id).await;
    let (status, fires) = s.get(&format!("/alerts/{id}/fires/"), &token).await;
    assert_eq!(status, StatusCode::OK, "{fires}");
    assert_eq!(fires["count"], 1, "{fires}");
    let f = &fires["results"][0];
    assert_eq!(f["price"], "65001.50");
    assert_eq!(f["fired_at"], a["triggered_at"]);
    assert_eq!(f["notifications"][0]["channel_id"], channel);
    assert_eq!(f["notifications"][0]["status"], "sent");
    assert_eq!(f["notifications"], a["notifications"]);

    // Not someone else's, not a missing one, not past the last page.
    let other = s.user("gus").await;
    for (path, who) in [
        (format!("/alerts/{id}/fires/"), &other),
        ("/alerts/999999/fires/".to_string(), &token),
        (format!("/alerts/{id}/fires/?page=2"), &token),
    ] {
        let (status, body) = s.get(&path, who).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_error_shape(&body);
    }
    // A deleted alert's history goes with it, as the alert itself does.
    let (status, _) = s.delete(&format!("/alerts/{id}/"), &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.get(&format!("/alerts/{id}/fires/"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
