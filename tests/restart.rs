//! The same data dir across restarts: users, alerts and issued tokens all survive.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn users_alerts_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestServer::start_in(dir.path(), &[]).await;
    first.register("ivan", "password-123").await;
    let tokens = first.login("ivan", "password-123").await;
    let access = tokens["access"].as_str().unwrap().to_string();
    let alert = first
        .create_alert(
            &access,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "65000.50"}),
        )
        .await;
    first.stop().await;

    let secret_file = dir.path().join("jwt_secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret_before = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(secret_before.len(), 64, "256 bits, hex");

    let second = TestServer::start_in(dir.path(), &[]).await;
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap(),
        secret_before
    );
    let (status, got) = second
        .get(&format!("/alerts/{}/", alert["id"]), &access)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "access token from before the restart"
    );
    assert_eq!(got, alert);
    let (status, _) = second
        .post(
            "/auth/refresh/",
            None,
            json!({"refresh": tokens["refresh"]}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refresh token from before the restart"
    );
    second.login("ivan", "password-123").await;
    second.stop().await;
}

#[tokio::test]
async fn a_configured_secret_is_used_instead_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "configured-secret-configured-secret-0123456789";
    let s = TestServer::start_in(dir.path(), &[("PRICEALERT_AUTH__JWT_SECRET", secret)]).await;
    let token = s.user("jane").await;
    s.stop().await;
    assert!(!dir.path().join("jwt_secret").exists());

    // A different secret invalidates the tokens: proof the configured one signed them.
    let other = TestServer::start_in(
        dir.path(),
        &[(
            "PRICEALERT_AUTH__JWT_SECRET",
            "another-secret-another-secret-0123456789",
        )],
    )
    .await;
    let (status, _) = other.get("/alerts/", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    other.stop().await;
}
