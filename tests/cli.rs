//! The admin commands, run as the real binary.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::TestServer;

const BIN: &str = env!("CARGO_BIN_EXE_pricealert");

fn pricealert(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("PRICEALERT_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn pricealert");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn dir_arg(dir: &Path) -> String {
    dir.to_str().unwrap().to_string()
}

#[test]
fn migrate_applies_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir_arg(dir.path());
    let out = pricealert(&["migrate", "--data-dir", &d], &[], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let latest = pricealert::store::migrations::LATEST;
    assert!(
        text(&out.stdout).contains(&format!("from version 0 to {latest}")),
        "{}",
        text(&out.stdout)
    );
    let out = pricealert(&["--data-dir", &d, "migrate"], &[], None);
    assert!(
        text(&out.stdout).contains(&format!("up to date at version {latest}")),
        "{}",
        text(&out.stdout)
    );
    let conn = rusqlite::Connection::open(dir.path().join("pricealert.db")).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn serve_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir_arg(dir.path());
    assert!(pricealert(&["migrate", "--data-dir", &d], &[], None)
        .status
        .success());
    let conn = rusqlite::Connection::open(dir.path().join("pricealert.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let out = pricealert(
        &["serve", "--data-dir", &d, "--listen", "127.0.0.1:0"],
        &[],
        None,
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("version 99") && err.contains("newer"), "{err}");
}

#[tokio::test]
async fn create_user_reads_the_password_from_stdin_then_login_works() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir_arg(dir.path());
    let out = pricealert(
        &[
            "create-user",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            "--data-dir",
            &d,
        ],
        &[],
        Some("s3cret-password\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created user admin"));
    assert!(!text(&out.stdout).contains("s3cret"));

    let s = TestServer::start_in(dir.path(), &[]).await;
    let tokens = s.login("admin", "s3cret-password").await;
    assert_eq!(tokens["token_type"], "Bearer");
    s.stop().await;

    let out = pricealert(
        &[
            "create-user",
            "--username",
            "admin",
            "--email",
            "x@example.com",
            "--data-dir",
            &d,
        ],
        &[],
        Some("another-password\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("username is already taken"));
    let out = pricealert(
        &[
            "create-user",
            "--username",
            "shorty",
            "--email",
            "s@example.com",
            "--data-dir",
            &d,
        ],
        &[],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("password must be"));
}

#[test]
fn create_user_has_no_password_flag() {
    let out = pricealert(
        &[
            "create-user",
            "--username",
            "a",
            "--email",
            "a@b.co",
            "--password",
            "x",
        ],
        &[],
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--password"));
}

#[test]
fn openapi_prints_the_committed_spec() {
    let out = pricealert(&["openapi"], &[], None);
    assert!(out.status.success());
    let printed = text(&out.stdout);
    assert!(
        printed.starts_with("openapi: 3"),
        "{}",
        &printed[..40.min(printed.len())]
    );
    assert!(printed.contains("/alerts/create"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml at the repository root");
    assert_eq!(
        printed, committed,
        "openapi.yaml is stale: run `pricealert openapi > openapi.yaml`"
    );
}

#[test]
fn check_config_redacts_secrets_and_names_bad_keys() {
    let secret = "super-secret-value-super-secret-value-42";
    let out = pricealert(
        &["check-config", "--data-dir", "/tmp/somewhere"],
        &[
            ("PRICEALERT_AUTH__JWT_SECRET", secret),
            ("PRICEALERT_SERVER__LISTEN", "0.0.0.0:9999"),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains(secret) && !text(&out.stderr).contains(secret));
    assert!(stdout.contains("<redacted>"));
    assert!(stdout.contains("0.0.0.0:9999"));
    assert!(stdout.contains("/tmp/somewhere"));
    assert!(stdout.starts_with("# no config file"), "{stdout}");

    let out = pricealert(
        &["check-config"],
        &[("PRICEALERT_CACHE__TTL", "forever")],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cache.ttl") && err.contains("PRICEALERT_CACHE__TTL"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[server]\nlistne = \"x\"\n").unwrap();
    let out = pricealert(
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("server.listne"));
    // PRICEALERT_CONFIG works like --config.
    let out = pricealert(
        &["check-config"],
        &[("PRICEALERT_CONFIG", file.to_str().unwrap())],
        None,
    );
    assert!(text(&out.stderr).contains("server.listne"));

    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:7001\"\n").unwrap();
    let out = pricealert(
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
        None,
    );
    assert!(
        text(&out.stdout).starts_with(&format!("# loaded from {}", file.display())),
        "{}",
        text(&out.stdout)
    );

    let out = pricealert(&["check-config"], &[("PRICEALERT_SERVER__TYPO", "1")], None);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("PRICEALERT_SERVER__TYPO"));
}

#[test]
fn config_example_is_valid_and_matches_the_defaults() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example");
    let with_example = pricealert(&["check-config", "--config", example], &[], None);
    assert!(
        with_example.status.success(),
        "{}",
        text(&with_example.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let defaults = pricealert(
        &["check-config", "--config", empty.to_str().unwrap()],
        &[],
        None,
    );
    // Past the first line, which names the file.
    let settings = |out: &std::process::Output| {
        text(&out.stdout)
            .split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    };
    assert_eq!(settings(&with_example), settings(&defaults));
}

#[test]
fn commands_say_what_is_missing_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(dir.path());
    let out = pricealert(
        &[
            "--data-dir",
            &data,
            "create-user",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
        ],
        &[],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no password arrived on stdin"),
        "{}",
        text(&out.stderr)
    );

    assert!(pricealert(&["--data-dir", &data, "migrate"], &[], None)
        .status
        .success());
    let folder = dir.path().join("no-such-folder");
    let target = folder.join("backup.db");
    let out = pricealert(
        &[
            "--data-dir",
            &data,
            "backup",
            "--to",
            target.to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("the folder {} does not exist", folder.display())),
        "{err}"
    );

    let missing = dir.path().join("missing.db");
    let out = pricealert(
        &[
            "--data-dir",
            &data,
            "restore",
            "--from",
            missing.to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot restore from {}: no such file",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn every_option_of_every_command_has_a_help_line() {
    for command in [
        "serve",
        "migrate",
        "create-user",
        "reset-password",
        "delete-user",
        "backup",
        "restore",
        "openapi",
        "check-config",
        "send-test-email",
        "healthcheck",
    ] {
        let out = pricealert(&[command, "--help"], &[], None);
        let help = text(&out.stdout);
        let options = help.split_once("Options:").map(|(_, o)| o).unwrap_or("");
        for line in options.lines().filter(|l| l.trim_start().starts_with('-')) {
            let (flag, words) = line.trim_start().split_once("  ").unwrap_or((line, ""));
            assert!(
                !words.trim().is_empty(),
                "{command} {flag} has no help line"
            );
        }
    }
}
