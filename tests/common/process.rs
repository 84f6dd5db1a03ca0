//! Helpers for tests that run the real binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
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

/// `pricealert serve` on `data_dir` and 127.0.0.1:`port`, ignoring any config file from the
/// environment; callers add settings and stdio.
pub fn serve_command(data_dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env_remove("PRICEALERT_CONFIG");
    cmd
}

/// Resident memory of a process, from /proc.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// `serve_command` without an exchange, its log in `log`, with `env` and, with `nofile`, under
/// `ulimit -n nofile` (soft and hard); started, not yet healthy.
pub fn spawn_logged(
    data_dir: &Path,
    port: u16,
    env: &[(&str, &str)],
    nofile: Option<u64>,
    log: &Path,
) -> std::process::Child {
    let mut cmd = serve_command(data_dir, port);
    cmd.env("PRICEALERT_MARKET__ENABLED", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(limit) = nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe and touches nothing but the limit.
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().unwrap()
}
