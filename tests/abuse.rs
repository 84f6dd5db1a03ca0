//! Holding up against abuse: throttled logins that cannot lock the owner out, registration and
//! API limits, the alert cap, bounded password hashing, and tokens that are not what they claim.

mod common;

use std::net::IpAddr;

use common::{assert_error_shape, TestServer};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_from(
    s: &TestServer,
    client: &Client,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(s.url("/auth/login/"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

const LIMITS_ON: (&str, &str) = ("PRICEALERT_LIMITS__ENABLED", "true");

#[tokio::test]
async fn a_thousand_wrong_passwords_are_throttled_and_the_owner_still_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[LIMITS_ON]).await;
    s.register("bob", "correct-horse").await;
    let attacker = client_from("127.0.0.1");
    let (mut refused, mut throttled) = (0, 0);
    for i in 0..1000 {
        let resp = login_from(&s, &attacker, "bob", &format!("guess-{i}")).await;
        match resp.status() {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: u64 = resp.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&wait), "{wait}");
                throttled += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    eprintln!("1000 wrong passwords: {refused} checked and refused, {throttled} throttled");
    // 10 per minute per address (a burst of 10, then one per 6 s).
    assert!(refused <= 12, "{refused} passwords were checked");
    assert_eq!(refused + throttled, 1000);

    let owner = client_from("127.0.0.2");
    let resp = login_from(&s, &owner, "bob", "correct-horse").await;
    assert_eq!(resp.status(), StatusCode::OK, "the owner was locked out");
}

#[tokio::test]
async fn many_addresses_against_one_account_are_slowed_but_a_known_address_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[LIMITS_ON]).await;
    s.register("carol", "correct-horse").await;
    let home = client_from("127.0.0.2");
    assert_eq!(
        login_from(&s, &home, "carol", "correct-horse")
            .await
            .status(),
        StatusCode::OK
    );

    // 20 failures per 15 minutes per account, whatever the addresses.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let c = client_from(&format!("127.0.1.{}", i + 1));
        statuses.push(login_from(&s, &c, "carol", "wrong-password").await.status());
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(refused, 20, "{statuses:?}");
    assert!(statuses[20..]
        .iter()
        .all(|s| *s == StatusCode::TOO_MANY_REQUESTS));
    let stranger = client_from("127.0.2.1");
    assert_eq!(
        login_from(&s, &stranger, "carol", "correct-horse")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner's usual address is not held back by the account's limit.
    assert_eq!(
        login_from(&s, &home, "carol", "correct-horse")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn registrations_and_api_calls_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(
        dir.path(),
        &[
            LIMITS_ON,
            ("PRICEALERT_LIMITS__REGISTER_PER_IP", "3/1h"),
            ("PRICEALERT_LIMITS__API_PER_USER", "5/1m"),
        ],
    )
    .await;
    for name in ["user1", "user2", "user3"] {
        s.register(name, "password-123").await;
    }
    let (status, body) = s
        .post(
            "/auth/register/",
            None,
            json!({"username": "user4", "password": "password-123", "email": "user4@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error_shape(&body);

    let token = s.login("user1", "password-123").await["access"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..5 {
        assert_eq!(s.get("/alerts/", &token).await.0, StatusCode::OK);
    }
    let resp = s
        .client
        .get(s.url("/alerts/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    // Another user has a budget of their own.
    let other = s.login("user2", "password-123").await["access"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.get("/alerts/", &other).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_alert_cap_counts_alerts_that_are_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(
        dir.path(),
        &[("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "3")],
    )
    .await;
    let token = s.user("dora").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let a = s
            .create_alert(
                &token,
                json!({"cryptocurrency": "BTCUSDT", "target_price": format!("{}", i + 1)}),
            )
            .await;
        ids.push(a["id"].clone());
    }
    let (status, body) = s
        .post(
            "/alerts/create/",
            Some(&token),
            json!({"cryptocurrency": "BTCUSDT", "target_price": "9"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("at most 3"),
        "{body}"
    );
    s.delete(&format!("/alerts/{}/", ids[0]), &token).await;
    s.create_alert(
        &token,
        json!({"cryptocurrency": "BTCUSDT", "target_price": "9"}),
    )
    .await;
}

#[tokio::test]
async fn a_login_flood_is_refused_fast_instead_of_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(
        dir.path(),
        &[
            ("PRICEALERT_AUTH__HASH_CONCURRENCY", "1"),
            ("PRICEALERT_AUTH__HASH_QUEUE", "2"),
        ],
    )
    .await;
    s.register("erin", "password-123").await;
    let mut flood = Vec::new();
    for i in 0..24 {
        let client = s.client.clone();
        let url = s.url("/auth/login/");
        flood.push(tokio::spawn(async move {
            let body = json!({"username": "erin", "password": format!("wrong-{i}")});
            client.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    // Other requests are served meanwhile.
    assert_eq!(
        s.client
            .get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let mut busy = 0;
    for task in flood {
        match task.await.unwrap() {
            StatusCode::SERVICE_UNAVAILABLE => busy += 1,
            StatusCode::UNAUTHORIZED => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "no login was refused: hashing queued without bound"
    );
}

/// Signs `claims` with the server's own secret (or another key).
fn sign(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn b64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn forged_expired_and_mismatched_tokens_get_401() {
    let dir = tempfile::tempdir().unwrap();
    // Every request looks its user up, so a removed user is refused at once.
    let s = TestServer::start_in(dir.path(), &[("PRICEALERT_AUTH__USER_RECHECK", "0s")]).await;
    let token = s.user("frank").await;
    let secret = std::fs::read_to_string(dir.path().join("jwt_secret")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = |exp: Value| json!({"sub": "1", "iss": "pricealert", "iat": now, "exp": exp, "typ": "access"});

    // Sanity: a token we sign like the server does is accepted, so the failures below are real.
    assert_eq!(
        s.get(
            "/alerts/",
            &sign(&claims(json!(now + 60)), secret.as_bytes())
        )
        .await
        .0,
        StatusCode::OK
    );

    let payload = b64(claims(json!(now + 60)).to_string().as_bytes());
    let alg_none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    let other_key = sign(
        &claims(json!(now + 60)),
        b"some-other-key-some-other-key-123",
    );
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[1] = b64(
        json!({"sub": "2", "iss": "pricealert", "iat": now, "exp": now + 900, "typ": "access"})
            .to_string()
            .as_bytes(),
    );
    let tampered = parts.join(".");
    let expired = sign(&claims(json!(now - 120)), secret.as_bytes());
    let exp_string = sign(&claims(json!((now + 60).to_string())), secret.as_bytes());
    let wrong_issuer = sign(
        &json!({"sub": "1", "iss": "evil", "iat": now, "exp": now + 60, "typ": "access"}),
        secret.as_bytes(),
    );
    let ghost = sign(
        &json!({"sub": "999", "iss": "pricealert", "iat": now, "exp": now + 60, "typ": "access"}),
        secret.as_bytes(),
    );
    for (name, bad) in [
        ("alg none", alg_none),
        ("another key", other_key),
        ("tampered payload", tampered),
        ("expired", expired),
        ("exp as a string", exp_string),
        ("wrong issuer", wrong_issuer),
        ("unknown user", ghost),
    ] {
        let (status, body) = s.get("/alerts/", &bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        assert_error_shape(&body);
    }

    // A user that no longer exists: their still-unexpired token stops working.
    let conn = rusqlite::Connection::open(dir.path().join("pricealert.db")).unwrap();
    conn.execute("DELETE FROM users WHERE username = 'frank'", [])
        .unwrap();
    assert_eq!(s.get("/alerts/", &token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_removed_by_another_process_loses_access_within_a_second() {
    // Checked sessions are trusted for auth.user_recheck (10 s here); a write by another
    // process (an admin command, or here a plain SQLite connection) is noticed within about a
    // second and every session is checked again.
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[("PRICEALERT_AUTH__USER_RECHECK", "10s")]).await;
    let token = s.user("hank").await;
    assert_eq!(s.get("/alerts/", &token).await.0, StatusCode::OK);
    let conn = rusqlite::Connection::open(dir.path().join("pricealert.db")).unwrap();
    conn.execute("DELETE FROM users WHERE username = 'hank'", [])
        .unwrap();
    let removed = std::time::Instant::now();
    loop {
        let status = s.get("/alerts/", &token).await.0;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            removed.elapsed() < std::time::Duration::from_secs(4),
            "a removed user kept access: the outside write went unnoticed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn changing_the_password_revokes_every_refresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[]).await;
    s.register("gina", "first-password").await;
    let a = s.login("gina", "first-password").await;
    let b = s.login("gina", "first-password").await;
    let access = a["access"].as_str().unwrap();

    let (status, _) = s
        .post(
            "/auth/password/",
            Some(access),
            json!({"current_password": "nope-nope", "new_password": "second-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = s
        .post(
            "/auth/password/",
            Some(access),
            json!({"current_password": "first-password", "new_password": "second-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for old in [&a, &b] {
        let (status, _) = s
            .post("/auth/refresh/", None, json!({"refresh": old["refresh"]}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    s.login("gina", "second-password").await;
    let (status, _) = s
        .post(
            "/auth/login/",
            None,
            json!({"username": "gina", "password": "first-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The same from the shell.
    let c = s.login("gina", "second-password").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pricealert"))
        .args([
            "reset-password",
            "--username",
            "gina",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .env_remove("PRICEALERT_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"third-password\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _) = s
        .post("/auth/refresh/", None, json!({"refresh": c["refresh"]}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.login("gina", "third-password").await;
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[]).await;
    for path in ["/healthz", "/docs", "/nope", "/openapi.json"] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'"),
            "{path}"
        );
    }
}
