//! A hostile network: what a client can choose must not grow memory, logs or connections, and
//! sessions and the database must not outlive what they stand for. Process-level faults are
//! tested against the real binary; the rest in-process over real HTTP.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::process::{free_port, serve_command, spawn_logged, wait_healthy, BIN};
use common::{assert_error_shape, next_event_or_end, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The real binary on a temporary data dir, its log in a file; killed on drop.
struct Binary {
    child: Child,
    base: String,
    port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Binary {
    async fn start(env: &[(&str, &str)]) -> Self {
        Self::start_with(env, None).await
    }

    /// With `nofile`, the server starts under `ulimit -n nofile` (soft and hard).
    async fn start_with(env: &[(&str, &str)], nofile: Option<u64>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("server.log");
        let child = spawn_logged(dir.path(), port, env, nofile, &log);
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&reqwest::Client::new(), &base).await;
        Self {
            child,
            base,
            port,
            log,
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        let mut text = String::new();
        std::fs::File::open(&self.log)
            .and_then(|mut f| f.read_to_string(&mut text))
            .unwrap();
        text
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the server closes the connection; fails if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {within:?}"),
        }
    }
}

#[tokio::test]
async fn made_up_methods_add_no_metrics_series() {
    let s = TestServer::start().await;
    for i in 0..300 {
        let method = Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        let resp = s
            .client
            .request(method, s.url(&format!("/made/up/{i}")))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error());
    }
    let metrics = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("FOO1"), "a made-up method became a label");
    assert!(
        !metrics.contains("/made/up"),
        "a made-up path became a label"
    );
    assert!(
        metrics.contains(r#"route="other",method="OTHER""#),
        "{metrics}"
    );
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("pricealert_http_request_duration_seconds_count"))
        .count();
    assert!(series <= 5, "{series} series after 300 made-up requests");
}

#[tokio::test]
async fn a_half_sent_header_and_an_idle_keep_alive_are_closed() {
    let server = Binary::start(&[("PRICEALERT_SERVER__HEADER_TIMEOUT", "1s")]).await;
    let addr = format!("127.0.0.1:{}", server.port);

    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    closed_within(&mut slow, Duration::from_secs(5)).await;

    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive after the response, then closed for waiting too long for the next request.
    closed_within(&mut idle, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stalled_body_is_closed_after_the_idle_timeout() {
    let server = Binary::start(&[
        ("PRICEALERT_SERVER__HEADER_TIMEOUT", "30s"),
        ("PRICEALERT_SERVER__IDLE_TIMEOUT", "1s"),
    ])
    .await;
    let mut stream = TcpStream::connect(format!("127.0.0.1:{}", server.port))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\"",
        )
        .await
        .unwrap();
    closed_within(&mut stream, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn idle_connections_cannot_lock_out_a_request() {
    // The server may hold 1,024 files; 1,100 connections that never send a byte are opened
    // first. The header timeout is long, so only the connection cap can keep /healthz up.
    let server =
        Binary::start_with(&[("PRICEALERT_SERVER__HEADER_TIMEOUT", "120s")], Some(1024)).await;
    pricealert::server::nofile::raise().unwrap();
    let addr = format!("127.0.0.1:{}", server.port);
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(10),
        client.get(server.url("/healthz")).send(),
    )
    .await
    .expect("/healthz did not answer with 1,100 idle connections open")
    .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    eprintln!("/healthz answered in {:?}", started.elapsed());
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .unwrap()
        .count();
    assert!(fds < 1024, "{fds} open files");
    let log = server.log();
    assert!(log.contains("open_files=1024"), "{log}");
}

#[tokio::test]
async fn live_streams_are_capped_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(
        dir.path(),
        &[("PRICEALERT_LIMITS__MAX_STREAMS_PER_USER", "2")],
    )
    .await;
    let token = s.user("sam").await;
    let open = || s.client.get(s.url("/events")).bearer_auth(&token).send();
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let third = open().await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_error_shape(&third.json().await.unwrap());
    let other = s.user("tom").await;
    let theirs = s
        .client
        .get(s.url("/events"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::OK);
    // A closed stream gives its slot back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = open().await.unwrap();
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the closed stream kept its slot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens `/events` with `token` and waits for its first event.
async fn stream(
    s: &TestServer,
    token: &str,
) -> (
    impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    String,
) {
    let resp = s
        .client
        .get(s.url("/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.bytes_stream();
    let mut buffer = String::new();
    let first = next_event_or_end(&mut body, &mut buffer).await.unwrap();
    assert_eq!(first["kind"], "prices");
    (body, buffer)
}

/// The stream's next events end with `unauthorized`, then the stream closes.
async fn ends_unauthorized<S>(body: &mut S, buffer: &mut String)
where
    S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    loop {
        match next_event_or_end(body, buffer).await {
            Some(event) if event["kind"] == "unauthorized" => break,
            Some(_) => continue,
            None => panic!("the stream ended without saying why"),
        }
    }
    assert!(
        next_event_or_end(body, buffer).await.is_none(),
        "the stream went on"
    );
}

#[tokio::test]
async fn a_live_stream_ends_when_its_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir.path(), &[("PRICEALERT_AUTH__ACCESS_TTL", "2s")]).await;
    let token = s.user("uma").await;
    let opened = Instant::now();
    let (mut body, mut buffer) = stream(&s, &token).await;
    ends_unauthorized(&mut body, &mut buffer).await;
    assert!(
        opened.elapsed() < Duration::from_secs(8),
        "{:?}",
        opened.elapsed()
    );
}

#[tokio::test]
async fn a_live_stream_ends_at_once_on_logout_and_on_a_password_change() {
    let s = TestServer::start().await;
    s.register("vic", "password-123").await;
    let login = s.login("vic", "password-123").await;
    let (mut body, mut buffer) = stream(&s, login["access"].as_str().unwrap()).await;
    let (status, _) = s
        .post("/auth/logout/", None, json!({"refresh": login["refresh"]}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    ends_unauthorized(&mut body, &mut buffer).await;
    // The logged-out access token is refused for everything else too.
    let (status, _) = s.get("/alerts/", login["access"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let login = s.login("vic", "password-123").await;
    let access = login["access"].as_str().unwrap().to_string();
    let (mut body, mut buffer) = stream(&s, &access).await;
    let (status, body_json) = s
        .call(
            Method::POST,
            "/auth/password/",
            Some(&access),
            Some(json!({"current_password": "password-123", "new_password": "password-456"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body_json}");
    ends_unauthorized(&mut body, &mut buffer).await;
    assert_eq!(s.get("/alerts/", &access).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins() {
    let s = TestServer::start().await;
    let token = s.user("wes").await;
    let guess = json!({"current_password": "not-the-password", "new_password": "password-456"});
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let resp = s
            .client
            .post(s.url("/auth/password/"))
            .bearer_auth(&token)
            .json(&guess)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key("retry-after"));
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(statuses[..statuses.len() - 1]
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn identities_are_never_reused_and_a_deleted_account_ends_at_once() {
    let server = Binary::start(&[]).await;
    let client = reqwest::Client::new();
    let register = |name: &str| {
        client
            .post(server.url("/auth/register/"))
            .json(&json!({"username": name, "password": "password-123", "email": format!("{name}@example.com")}))
            .send()
    };
    register("ann").await.unwrap();
    let bob: Value = register("bob").await.unwrap().json().await.unwrap();
    let login: Value = client
        .post(server.url("/auth/login/"))
        .json(&json!({"username": "bob", "password": "password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access"].as_str().unwrap().to_string();
    let alerts = || {
        client
            .get(server.url("/alerts/"))
            .bearer_auth(&access)
            .send()
    };
    assert_eq!(alerts().await.unwrap().status(), StatusCode::OK);

    let out = std::process::Command::new(BIN)
        .args(["delete-user", "--username", "bob", "--data-dir"])
        .arg(server.data_dir())
        .env_remove("PRICEALERT_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deleted = Instant::now();
    loop {
        let status = alerts().await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            deleted.elapsed() < Duration::from_secs(4),
            "the deleted account's token still works"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next account does not get the deleted one's id, so the old token stays dead.
    let cat: Value = register("cat").await.unwrap().json().await.unwrap();
    assert!(
        cat["id"].as_i64() > bob["id"].as_i64(),
        "{cat} reused {bob}"
    );
    assert_eq!(alerts().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn throttled_logins_write_a_bounded_log() {
    let server = Binary::start(&[]).await;
    let client = reqwest::Client::new();
    let mut throttled = 0;
    for _ in 0..2000 {
        let resp = client
            .post(server.url("/auth/login/"))
            .json(&json!({"username": "nobody", "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
        }
    }
    assert!(throttled > 1900, "{throttled}");
    let lines = server
        .log()
        .lines()
        .filter(|l| l.contains("throttled"))
        .count();
    assert!(
        lines <= 2,
        "{lines} log lines for {throttled} throttled logins"
    );
}

#[tokio::test]
async fn a_deleted_database_is_noticed_and_never_silently_recreated() {
    let mut server = Binary::start(&[]).await;
    let client = reqwest::Client::new();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(server.data_dir().join(format!("pricealert.db{suffix}")));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let health = loop {
        let resp = client.get(server.url("/healthz")).send().await.unwrap();
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            break resp.json::<Value>().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the deleted database went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        health["storage"].as_str().unwrap().contains("deleted"),
        "{health}"
    );
    // A container's HEALTHCHECK sees it too.
    let check = tokio::process::Command::new(common::process::BIN)
        .args(["healthcheck", "--url", &server.url("")])
        .output()
        .await
        .unwrap();
    assert!(!check.status.success(), "healthcheck passed a 503");
    let write = client
        .post(server.url("/auth/register/"))
        .json(&json!({"username": "late", "password": "password-123", "email": "late@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(server.log().contains("ERROR"), "{}", server.log());
    let _ = server.child.kill();
    let _ = server.child.wait();

    // The data dir has a JWT secret and no database: data was lost, so serve refuses...
    let port = free_port();
    let refused = serve_command(server.data_dir(), port)
        .env("PRICEALERT_MARKET__ENABLED", "false")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--init"));
    assert!(!server.data_dir().join("pricealert.db").exists());
    // ...unless told to start afresh.
    let mut fresh = serve_command(server.data_dir(), port)
        .arg("--init")
        .env("PRICEALERT_MARKET__ENABLED", "false")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&client, &format!("http://127.0.0.1:{port}")).await;
    let _ = fresh.kill();
    let _ = fresh.wait();
}

#[tokio::test]
async fn a_full_disk_answers_503_until_a_write_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(
        dir.path(),
        &[("PRICEALERT_LIMITS__MAX_ALERTS_PER_USER", "100000")],
    )
    .await;
    let token = s.user("xena").await;
    let body = json!({"cryptocurrency": "BTCUSDT", "target_price": "100"});
    // The database may not grow past its current size: the next write that needs a page fails
    // as on a full disk (SQLITE_FULL).
    s.state
        .store
        .with_writer(|c| {
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .unwrap();
    let mut full = None;
    for _ in 0..20_000 {
        let (status, body) = s.post("/alerts/create/", Some(&token), body.clone()).await;
        if status != StatusCode::CREATED {
            full = Some((status, body));
            break;
        }
    }
    let full = full.expect("the database never filled up");
    assert_eq!(full.0, StatusCode::SERVICE_UNAVAILABLE, "{}", full.1);
    assert!(
        full.1["error"]
            .as_str()
            .unwrap()
            .starts_with("storage full"),
        "{}",
        full.1
    );
    let health = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    s.state
        .store
        .with_writer(|c| {
            c.query_row("PRAGMA max_page_count = 1000000", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .unwrap();
    let (status, _) = s.post("/alerts/create/", Some(&token), body).await;
    assert_eq!(status, StatusCode::CREATED);
    let health = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn small_ones_duplicate_keys_internal_names_and_inline_scripts() {
    let s = TestServer::start().await;
    let token = s.user("yann").await;
    let resp = s
        .client
        .post(s.url("/alerts/create/"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"cryptocurrency": "BTCUSDT", "target_price": "1", "target_price": "2"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("target_price"),
        "{err}"
    );

    for (path, body) in [
        ("/alerts/abc/", None),
        ("/alerts/?page=x", None),
        ("/alerts/?status=nope", None),
        (
            "/alerts/create/",
            Some(json!({"cryptocurrency": "BTCUSDT"})),
        ),
        (
            "/alerts/create/",
            Some(json!({"cryptocurrency": "BTCUSDT", "target_price": true})),
        ),
        (
            "/alerts/create/",
            Some(json!({"cryptocurrency": 1, "target_price": "1", "condition": "up"})),
        ),
    ] {
        let method = if body.is_some() {
            Method::POST
        } else {
            Method::GET
        };
        let (status, err) = s.call(method, path, Some(&token), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let message = err["error"].as_str().unwrap();
        for internal in [
            "param0",
            "PriceInput",
            "AlertCreate",
            "ConditionIn",
            "StatusFilter",
            "integer(",
            "\"string\"",
        ] {
            assert!(!message.contains(internal), "{path}: {message}");
        }
    }

    for path in ["/", "/docs", "/alerts/"] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let scripts = csp.split("script-src").nth(1).unwrap();
        assert!(!scripts.contains("unsafe-inline"), "{path}: {csp}");
    }
    let page = s
        .client
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>"), "the page has an inline script");
    let script = s.client.get(s.url("/app.js")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    // Browsers ask for it on every first visit; a 404 there is noise in every log.
    let icon = s.client.get(s.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.text().await.unwrap().starts_with("<svg"));
    // The page names a web app manifest, and every icon the manifest names is served as the
    // type it says: what a phone needs to add the page to its home screen.
    assert!(page.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#));
    let manifest = s
        .client
        .get(s.url("/manifest.webmanifest"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        manifest.headers()["content-type"],
        "application/manifest+json"
    );
    let manifest: serde_json::Value = manifest.json().await.unwrap();
    assert_eq!(manifest["start_url"], "/");
    let icons = manifest["icons"].as_array().unwrap();
    assert!(icons.iter().any(|i| i["sizes"] == "512x512"), "{manifest}");
    for (path, kind) in icons
        .iter()
        .map(|i| (i["src"].as_str().unwrap(), i["type"].as_str().unwrap()))
        .chain([("/apple-touch-icon.png", "image/png")])
    {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["content-type"], kind, "{path}");
        let body = resp.bytes().await.unwrap();
        if kind == "image/png" {
            assert!(
                body.starts_with(b"\x89PNG\r\n\x1a\n"),
                "{path} is not a PNG"
            );
        }
    }
}
