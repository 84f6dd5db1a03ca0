//! Accounts over real HTTP: registration rules, login, refresh rotation and reuse, logout.

mod common;

use common::{assert_error_shape, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn register_returns_the_account_and_rejects_duplicates() {
    let s = TestServer::start().await;
    let body = s.register("alice", "password-123").await;
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email"], "alice@example.com");
    assert!(body["id"].as_i64().unwrap() > 0);
    assert!(body.get("password").is_none());

    let (status, err) = s
        .post(
            "/auth/register/",
            None,
            json!({"username": "ALICE", "password": "password-123", "email": "other@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["error"].as_str().unwrap().contains("username"), "{err}");

    let (status, err) = s
        .post(
            "/auth/register/",
            None,
            json!({"username": "alice2", "password": "password-123", "email": "Alice@Example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["error"].as_str().unwrap().contains("email"), "{err}");
}

#[tokio::test]
async fn register_validates_every_field() {
    let s = TestServer::start().await;
    let long_password = "p".repeat(129);
    let cases = [
        json!({"username": "ab", "password": "password-123", "email": "a@example.com"}),
        json!({"username": "bad name", "password": "password-123", "email": "a@example.com"}),
        json!({"username": "x".repeat(33), "password": "password-123", "email": "a@example.com"}),
        json!({"username": "okname", "password": "short", "email": "a@example.com"}),
        json!({"username": "okname", "password": long_password, "email": "a@example.com"}),
        json!({"username": "okname", "password": "password-123", "email": "not-an-email"}),
        json!({"username": "okname", "password": "password-123", "email": "a@b.com\r\nBcc: x@y.z"}),
        json!({"username": "okname", "password": "password-123"}),
        json!({"username": 5, "password": "password-123", "email": "a@example.com"}),
        json!([]),
    ];
    for case in cases {
        let (status, body) = s.post("/auth/register/", None, case.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case} -> {body}");
        assert_error_shape(&body);
    }
    // Nothing was half-written: the name is still free.
    s.register("okname", "password-123").await;
}

#[tokio::test]
async fn passwords_are_never_truncated() {
    let s = TestServer::start().await;
    let password = "é".repeat(128);
    s.register("longpw", &password).await;
    s.login("longpw", &password).await;
    let prefix: String = password.chars().take(127).collect();
    let (status, _) = s
        .post(
            "/auth/login/",
            None,
            json!({"username": "longpw", "password": prefix}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_answers_alike_for_wrong_password_and_unknown_user() {
    let s = TestServer::start().await;
    s.register("bob", "password-123").await;
    let started = std::time::Instant::now();
    let tokens = s.login("bob", "password-123").await;
    assert_eq!(tokens["token_type"], "Bearer");
    // The access token's remaining life, 15 minutes from its issue: a second boundary may have
    // passed while the login ran.
    let expires_in = tokens["expires_in"].as_u64().unwrap();
    let took = started.elapsed().as_secs() + 1;
    assert!(
        (900 - took..=900).contains(&expires_in),
        "expires_in {expires_in} after {took} s"
    );
    assert!(tokens["access"].as_str().unwrap().len() > 20);
    assert!(tokens["refresh"].as_str().unwrap().len() > 20);

    let (s1, wrong) = s
        .post(
            "/auth/login/",
            None,
            json!({"username": "bob", "password": "nope-nope"}),
        )
        .await;
    let (s2, unknown) = s
        .post(
            "/auth/login/",
            None,
            json!({"username": "nobody", "password": "nope-nope"}),
        )
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_error_shape(&wrong);
}

#[tokio::test]
async fn flask_aliases_and_trailing_slashes() {
    let s = TestServer::start().await;
    let (status, _) = s
        .post(
            "/register",
            None,
            json!({"username": "carol", "password": "password-123", "email": "carol@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for path in ["/login", "/login/", "/auth/login", "/auth/login/"] {
        let (status, body) = s
            .post(
                path,
                None,
                json!({"username": "carol", "password": "password-123"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

#[tokio::test]
async fn auth_responses_are_not_cached() {
    let s = TestServer::start().await;
    s.register("dora", "password-123").await;
    let resp = s
        .client
        .post(s.url("/auth/login/"))
        .json(&json!({"username": "dora", "password": "password-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_login() {
    let dir = tempfile::tempdir().unwrap();
    // No grace period: any second use is reuse.
    let s = TestServer::start_in(dir.path(), &[("PRICEALERT_AUTH__REFRESH_GRACE", "0s")]).await;
    s.register("erin", "password-123").await;
    let first = s.login("erin", "password-123").await;
    let r1 = first["refresh"].as_str().unwrap();

    let (status, second) = s.post("/auth/refresh/", None, json!({"refresh": r1})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh"].as_str().unwrap();
    assert_ne!(r1, r2);
    let (status, _) = s.get("/alerts/", second["access"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // r1 is dead; presenting it again revokes r2 too.
    let (status, body) = s.post("/auth/refresh/", None, json!({"refresh": r1})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);
    let (status, _) = s.post("/auth/refresh/", None, json!({"refresh": r2})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another login is a separate family and unaffected.
    let other = s.login("erin", "password-123").await;
    let (status, _) = s
        .post("/auth/refresh/", None, json!({"refresh": other["refresh"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_get_the_same_pair() {
    let s = TestServer::start().await;
    s.register("tabs", "password-123").await;
    let login = s.login("tabs", "password-123").await;
    let refresh = json!({"refresh": login["refresh"]});
    let (a, b) = tokio::join!(
        s.post("/auth/refresh/", None, refresh.clone()),
        s.post("/auth/refresh/", None, refresh.clone())
    );
    assert_eq!(
        (a.0, b.0),
        (StatusCode::OK, StatusCode::OK),
        "{} {}",
        a.1,
        b.1
    );
    assert_eq!(a.1["access"], b.1["access"]);
    assert_eq!(a.1["refresh"], b.1["refresh"]);
    // Nothing was revoked: the shared pair works and refreshes on.
    let access = a.1["access"].as_str().unwrap();
    assert_eq!(s.get("/alerts/", access).await.0, StatusCode::OK);
    let (status, next) = s
        .post("/auth/refresh/", None, json!({"refresh": a.1["refresh"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{next}");
}

#[tokio::test]
async fn logout_revokes_that_login_only() {
    let s = TestServer::start().await;
    s.register("fred", "password-123").await;
    let a = s.login("fred", "password-123").await;
    let b = s.login("fred", "password-123").await;
    let (status, body) = s
        .post("/auth/logout/", None, json!({"refresh": a["refresh"]}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = s
        .post("/auth/refresh/", None, json!({"refresh": a["refresh"]}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .post("/auth/refresh/", None, json!({"refresh": b["refresh"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .post("/auth/logout/", None, json!({"refresh": "garbage"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_of_the_wrong_kind_or_shape_get_401() {
    let s = TestServer::start().await;
    s.register("gina", "password-123").await;
    let t = s.login("gina", "password-123").await;
    let access = t["access"].as_str().unwrap();
    let refresh = t["refresh"].as_str().unwrap();

    // A refresh token is not an access token, and vice versa.
    let (status, body) = s.get("/alerts/", refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);
    let (status, _) = s
        .post("/auth/refresh/", None, json!({"refresh": access}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    for bad in ["garbage", "a.b.c", &format!("{access}x")] {
        let (status, body) = s.get("/alerts/", bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_error_shape(&body);
    }
    let (status, body) = s.call(Method::GET, "/alerts/", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);
}
