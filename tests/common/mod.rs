//! Shared test fixtures: the real server on 127.0.0.1:0 with a temporary data dir, spoken to
//! over real HTTP.
#![allow(dead_code)]

pub mod exchange;
pub mod process;
pub mod receiver;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pricealert::alerts::AlertEvent;
use pricealert::api::AppState;
use pricealert::app::{self, App};
use pricealert::config::{Config, Overrides};
use pricealert::notify::Delivered;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub base: String,
    pub data_dir: PathBuf,
    pub client: Client,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server on a fresh temporary data dir.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Self::start_in(dir.path(), &[]).await;
        server._dir = Some(dir);
        server
    }

    /// A server on `data_dir` with extra `PRICEALERT_*` settings, through the real config layers.
    pub async fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let overrides = Overrides {
            data_dir: Some(data_dir.to_path_buf()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Overrides::default()
        };
        // No exchange unless a test brings one.
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !env
            .iter()
            .any(|(k, _)| k.starts_with("PRICEALERT_MARKET__"))
        {
            env.push(("PRICEALERT_MARKET__ENABLED".into(), "false".into()));
        }
        // Links point at this server unless the test sets the variable (empty: unset).
        let keep_public_url = env
            .iter()
            .any(|(k, _)| k == "PRICEALERT_SERVER__PUBLIC_URL");
        let config = Config::load(&overrides, env).expect("config").config;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = config;
        if !keep_public_url {
            config.server.public_url = Some(format!("http://{addr}"));
        }
        let app = App::new(config).expect("state");
        let state = app.state();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            async move {
                app::run(app, listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("server run");
            }
        });
        let server = Self {
            base: format!("http://{addr}"),
            data_dir: data_dir.to_path_buf(),
            client: Client::new(),
            state,
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        for _ in 0..200 {
            if let Ok(resp) = self.client.get(self.url("/healthz")).send().await {
                if resp.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::task::yield_now().await;
        }
        panic!("server never became healthy");
    }

    /// What the server announces from now on: fires and delivery outcomes.
    pub fn events(&self) -> Events {
        Events {
            alerts: self.state.alerts.subscribe(),
            deliveries: self.state.deliveries.subscribe(),
        }
    }

    /// Waits until the alert's fire is committed (triggered and in the outbox).
    pub async fn wait_triggered(events: &mut Events, alert_id: i64) -> pricealert::domain::Fired {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, events.alerts.recv()).await {
                Ok(Ok(AlertEvent::Triggered(f))) if f.id.0 == alert_id => return f,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Ok(_)) => continue,
                Ok(Err(err)) => panic!("event stream: {err}"),
                Err(_) => panic!("alert {alert_id} never triggered"),
            }
        }
    }

    /// A server on the fake exchange in `dir`, with `extra` environment on top of its own.
    pub async fn on_exchange(
        ex: &exchange::FakeExchange,
        dir: &Path,
        extra: &[(&str, &str)],
    ) -> Self {
        let env: Vec<(String, String)> = ex.env();
        let mut env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.extend_from_slice(extra);
        Self::start_in(dir, &env).await
    }

    /// The user's alert `id` as `GET /alerts/{id}/` answers it (200 asserted).
    pub async fn alert(&self, token: &str, id: &Value) -> Value {
        let (status, a) = self.get(&format!("/alerts/{id}/"), token).await;
        assert_eq!(status, StatusCode::OK, "{a}");
        a
    }

    /// Trades BTCUSDT at `price` after a one-shot sentinel that only that trade fires, and waits
    /// for the sentinel: every trade sent before it has then been matched and committed. The
    /// trade's time is `time`, or the moment after the sentinel was made if that is later (a
    /// trade from before an alert never fires it).
    pub async fn settle(
        &self,
        ex: &exchange::FakeExchange,
        events: &mut Events,
        token: &str,
        price: &str,
        time: i64,
    ) {
        let sentinel = self
            .create_alert(
                token,
                serde_json::json!({"cryptocurrency": "BTCUSDT", "target_price": price, "condition": "above"}),
            )
            .await;
        let time = time.max(pricealert::clock::now_millis());
        ex.trade_at("BTCUSDT", price, time);
        Self::wait_triggered(events, sentinel["id"].as_i64().unwrap()).await;
    }

    /// Waits until the alert's `expired` status is committed.
    pub async fn wait_expired(events: &mut Events, alert_id: i64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            match tokio::time::timeout_at(deadline, events.alerts.recv()).await {
                Ok(Ok(AlertEvent::Expired { id, .. })) if id.0 == alert_id => return,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Ok(_)) => continue,
                Ok(Err(err)) => panic!("event stream: {err}"),
                Err(_) => panic!("alert {alert_id} never expired"),
            }
        }
    }

    /// Waits until a delivery outcome of the alert's notification with `status` is recorded.
    pub async fn wait_notification(
        events: &mut Events,
        alert_id: i64,
        status: pricealert::domain::DeliveryStatus,
    ) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, events.deliveries.recv()).await {
                Ok(Ok(Delivered {
                    alert, status: s, ..
                })) if alert.0 == alert_id && s == status => return,
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    continue
                }
                Ok(Err(err)) => panic!("event stream: {err}"),
                Err(_) => panic!("alert {alert_id}'s notification never became {status:?}"),
            }
        }
    }

    /// Stops the server and waits until it has let go of the port and the database.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
        self._dir.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns (status, parsed JSON body or Null).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn register(&self, username: &str, password: &str) -> Value {
        let (status, body) = self
            .post(
                "/auth/register/",
                None,
                json!({"username": username, "password": password, "email": format!("{username}@example.com")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Returns the whole token response.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let (status, body) = self
            .post(
                "/auth/login/",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Registers and logs in; returns the access token.
    pub async fn user(&self, username: &str) -> String {
        self.register(username, "password-123").await;
        self.login(username, "password-123").await["access"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn create_alert_status(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.post("/alerts/create/", Some(token), body).await
    }

    pub async fn create_alert(&self, token: &str, body: Value) -> Value {
        let (status, alert) = self.post("/alerts/create/", Some(token), body).await;
        assert_eq!(status, StatusCode::CREATED, "{alert}");
        alert
    }
}

/// Receivers of the server's announcements, subscribed before the action that causes them.
pub struct Events {
    pub alerts: tokio::sync::broadcast::Receiver<AlertEvent>,
    pub deliveries: tokio::sync::broadcast::Receiver<Delivered>,
}

/// The next event's JSON data from a server-sent event stream; `None` once the stream ended.
pub async fn next_event_or_end<S>(body: &mut S, buffer: &mut String) -> Option<Value>
where
    S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    use futures_util::StreamExt;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let chunk: String = buffer.drain(..end + 2).collect();
            if let Some(data) = chunk.lines().find_map(|l| l.strip_prefix("data: ")) {
                return Some(serde_json::from_str(data).unwrap());
            }
            continue;
        }
        let bytes = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .expect("no event within 10 s")?
            .ok()?;
        buffer.push_str(&String::from_utf8_lossy(&bytes));
    }
}

/// The next event's JSON data from a server-sent event stream.
pub async fn next_event<S>(body: &mut S, buffer: &mut String) -> Value
where
    S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    next_event_or_end(body, buffer).await.expect("stream ended")
}

/// Every error body is exactly `{"error": "<non-empty message>"}`.
pub fn assert_error_shape(body: &Value) {
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(obj.len(), 1, "{body}");
    assert!(
        obj.get("error")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// The prices of a page of fires (`GET /alerts/{id}/fires/`), in its order.
#[allow(dead_code)]
pub fn fire_prices(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["price"].as_str().unwrap().to_string())
        .collect()
}
