//! Helpers for tests that run the real binary.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pricealert");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `GET /healthz` until it answers 200 (the binary has no other way to say it is up).
pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "server never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
