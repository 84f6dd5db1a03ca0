use std::io::Write;
use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn with_file(f: &tempfile::NamedTempFile) -> Overrides {
    Overrides {
        config_path: Some(f.path().to_path_buf()),
        ..Overrides::default()
    }
}

#[test]
fn defaults_without_any_layer() {
    let loaded = Config::load(&Overrides::default(), env(&[])).unwrap();
    let c = loaded.config;
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.storage.data_dir, PathBuf::from("./data"));
    assert_eq!(c.auth.access_ttl.get(), Duration::from_secs(900));
    assert_eq!(c.auth.refresh_ttl.get(), Duration::from_secs(7 * 86_400));
    assert_eq!(c.public_url(), "http://127.0.0.1:8080");
}

#[test]
fn env_beats_file_and_flags_beat_env() {
    let f = file("[server]\nlisten = \"127.0.0.1:1000\"\n[cache]\nmax_bytes = 5\n");
    let e = env(&[
        ("PRICEALERT_SERVER__LISTEN", "127.0.0.1:2000"),
        ("PRICEALERT_STORAGE__DATA_DIR", "/tmp/from-env"),
        ("PRICEALERT_CACHE__TTL", "2m"),
    ]);
    let c = Config::load(&with_file(&f), e.clone()).unwrap().config;
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:2000");
    assert_eq!(c.cache.max_bytes.get(), 5);
    assert_eq!(c.cache.ttl.get(), Duration::from_secs(120));

    let mut flags = with_file(&f);
    flags.listen = Some("127.0.0.1:3000".parse().unwrap());
    flags.data_dir = Some(PathBuf::from("/tmp/from-flag"));
    let c = Config::load(&flags, e).unwrap().config;
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(c.storage.data_dir, PathBuf::from("/tmp/from-flag"));
}

#[test]
fn numbers_from_env_are_text() {
    let c = Config::load(
        &Overrides::default(),
        env(&[
            ("PRICEALERT_CACHE__MAX_BYTES", "42"),
            ("PRICEALERT_SERVER__MAX_CONNECTIONS", "7"),
            ("PRICEALERT_CACHE__ENABLED", "false"),
        ]),
    )
    .unwrap()
    .config;
    assert_eq!(c.cache.max_bytes.get(), 42);
    assert_eq!(c.server.max_connections, 7);
    assert!(!c.cache.enabled);
}

#[test]
fn unknown_file_key_is_an_error_naming_it() {
    let f = file("[server]\nlisten = \"127.0.0.1:1000\"\nlistne = \"x\"\n");
    let err = Config::load(&with_file(&f), env(&[])).unwrap_err();
    assert!(err.to_string().contains("server.listne"), "{err}");
    let f = file("[bogus]\nx = 1\n");
    let err = Config::load(&with_file(&f), env(&[])).unwrap_err();
    assert!(err.to_string().contains("bogus"), "{err}");
}

#[test]
fn unknown_env_var_is_a_warning() {
    let loaded = Config::load(
        &Overrides::default(),
        env(&[
            ("PRICEALERT_SERVER__NOPE", "1"),
            ("PRICEALERT_JUNK", "1"),
            ("PRICEALERT_CONFIG", "ignored-here"),
            ("HOME", "/root"),
        ]),
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("PRICEALERT_SERVER__NOPE")));
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("PRICEALERT_JUNK")));
}

#[test]
fn bad_values_name_key_and_origin() {
    let err = Config::load(
        &Overrides::default(),
        env(&[("PRICEALERT_AUTH__ACCESS_TTL", "15 minutes")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("auth.access_ttl"), "{err}");
    assert!(err.contains("PRICEALERT_AUTH__ACCESS_TTL"), "{err}");

    let f = file("[server]\nlisten = \"not an address\"\n");
    let err = Config::load(&with_file(&f), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.listen"), "{err}");

    let err = Config::load(
        &Overrides::default(),
        env(&[("PRICEALERT_CACHE__MAX_ENTRIES", "lots")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cache.max_entries"), "{err}");
}

#[test]
fn short_jwt_secret_and_bad_public_url_are_rejected() {
    let err = Config::load(
        &Overrides::default(),
        env(&[("PRICEALERT_AUTH__JWT_SECRET", "short")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("auth.jwt_secret") && !err.contains("short"),
        "{err}"
    );
    let err = Config::load(
        &Overrides::default(),
        env(&[("PRICEALERT_SERVER__PUBLIC_URL", "ftp://x")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("server.public_url"), "{err}");
}

#[test]
fn secrets_are_redacted_in_debug_and_toml() {
    let secret = "a-very-secret-value-that-is-long-enough-0123";
    let c = Config::load(
        &Overrides::default(),
        env(&[("PRICEALERT_AUTH__JWT_SECRET", secret)]),
    )
    .unwrap()
    .config;
    assert_eq!(c.auth.jwt_secret.as_ref().unwrap().expose(), secret);
    assert!(!format!("{c:?}").contains(secret));
    let rendered = c.to_redacted_toml();
    assert!(!rendered.contains(secret));
    assert!(rendered.contains(REDACTED));
}

#[test]
fn missing_explicit_file_is_an_error() {
    let overrides = Overrides {
        config_path: Some(PathBuf::from("/nonexistent/pricealert.toml")),
        ..Overrides::default()
    };
    let err = Config::load(&overrides, env(&[])).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/pricealert.toml"), "{err}");
}

#[test]
fn the_replaced_cache_key_is_accepted_with_a_warning() {
    let f = file("[cache]\nmax_entries = 5\nmax_bytes = \"1MiB\"\n");
    let loaded = Config::load(&with_file(&f), env(&[])).unwrap();
    assert_eq!(loaded.config.cache.max_bytes.get(), 1 << 20);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("cache.max_entries")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let f = file("[smtp]\nusername = \"bot@example.com\"\n");
    let c = Config::load(
        &with_file(&f),
        env(&[
            ("PRICEALERT_SMTP__USERNAME", ""),
            ("PRICEALERT_SERVER__LISTEN", ""),
        ]),
    )
    .unwrap()
    .config;
    assert_eq!(c.smtp.username.as_deref(), Some("bot@example.com"));
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn the_sender_defaults_to_the_smtp_username_when_it_is_an_address() {
    let load = |pairs: &[(&str, &str)]| {
        Config::load(&Overrides::default(), env(pairs))
            .unwrap()
            .config
    };
    let c = load(&[("PRICEALERT_SMTP__USERNAME", "alerts@example.com")]);
    assert_eq!(c.smtp.from, "pricealert <alerts@example.com>");
    let c = load(&[("PRICEALERT_SMTP__USERNAME", "apikey")]);
    assert_eq!(
        c.smtp.from,
        smtp::DEFAULT_FROM,
        "not an address: the default stays"
    );
    let c = load(&[
        ("PRICEALERT_SMTP__USERNAME", "alerts@example.com"),
        ("PRICEALERT_SMTP__FROM", "Prices <prices@example.com>"),
    ]);
    assert_eq!(
        c.smtp.from, "Prices <prices@example.com>",
        "a set sender wins"
    );
}

#[test]
fn config_errors_say_where() {
    let f = file("[server]\nlisten = \"127.0.0.1:1\"\npublic_url = \"http://x\n");
    let err = Config::load(&with_file(&f), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3, column"), "{err}");
    let f = file("[server]\nlisen = \"127.0.0.1:1\"\n");
    let err = Config::load(&with_file(&f), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown key `server.lisen`"), "{err}");
    assert!(err.ends_with("did you mean `server.listen`?"), "{err}");
    let loaded = Config::load(
        &Overrides::default(),
        env(&[("PRICEALERT_SMTP__HOTS", "mail.example.com")]),
    )
    .unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("did you mean `smtp.host`?")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn listening_beyond_this_machine_without_a_public_url_warns_once() {
    let warned = |pairs: &[(&str, &str)]| {
        Config::load(&Overrides::default(), env(pairs))
            .unwrap()
            .warnings
            .iter()
            .filter(|w| w.contains("server.public_url is not set"))
            .count()
    };
    assert_eq!(warned(&[("PRICEALERT_SERVER__LISTEN", ":8080")]), 1);
    assert_eq!(
        warned(&[("PRICEALERT_SERVER__LISTEN", "localhost:8080")]),
        0
    );
    assert_eq!(
        warned(&[
            ("PRICEALERT_SERVER__LISTEN", "0.0.0.0:8080"),
            (
                "PRICEALERT_SERVER__PUBLIC_URL",
                "https://alerts.example.com"
            ),
        ]),
        0
    );
}
