//! Configuration, layered: built-in defaults, then `config.toml`, then `PRICEALERT_<SECTION>__<KEY>`
//! environment variables, then command-line flags. Every key is documented in `config.toml.example`.

mod bytes;
mod duration;
mod flexible;
mod known_keys;
mod limits;
pub mod listen;
mod market;
mod notify;
mod rate;
mod secret;
mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use bytes::ByteSize;
pub use duration::HumanDuration;
pub use limits::LimitsConfig;
pub use market::MarketConfig;
pub use notify::NotifyConfig;
pub use rate::Rate;
pub use secret::{Secret, REDACTED};
pub use smtp::{SmtpConfig, SmtpSecurity};

pub const ENV_PREFIX: &str = "PRICEALERT_";
/// Environment variables with the prefix that are not config keys.
const ENV_NOT_KEYS: [&str; 1] = ["PRICEALERT_CONFIG"];
const DEFAULT_FILE: &str = "config.toml";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub cache: CacheConfig,
    pub market: MarketConfig,
    pub smtp: SmtpConfig,
    pub notify: NotifyConfig,
    pub limits: LimitsConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    #[serde(deserialize_with = "listen::deserialize")]
    pub listen: SocketAddr,
    /// Base of the absolute URLs the server hands out (pagination links, email links).
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed, as IP addresses (in the
    /// environment: comma-separated).
    #[serde(deserialize_with = "flexible::deserialize_list")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a client has to send a request's header, counted from when its connection
    /// opened or its previous response ended (so it also closes idle keep-alive connections).
    pub header_timeout: HumanDuration,
    /// A connection on which nothing moves for this long is closed.
    pub idle_timeout: HumanDuration,
    /// Open connections at most; 0 leaves it to the open-file limit (less a reserve).
    #[serde(deserialize_with = "flexible::deserialize")]
    pub max_connections: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub busy_timeout: HumanDuration,
    /// Who checkpoints the WAL into the database file.
    pub checkpoints: Checkpoints,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checkpoints {
    /// The server, in the background and when the WAL passes 16 MB.
    Server,
    /// Another program that replicates the WAL (Litestream): the server never checkpoints,
    /// as Litestream asks of applications; without that program the WAL grows unbounded.
    External,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// When unset, a random secret is generated once and kept in the data dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<Secret>,
    pub access_ttl: HumanDuration,
    pub refresh_ttl: HumanDuration,
    /// Password hashes computed at once; each takes ~19 MiB and tens of milliseconds.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub hash_concurrency: usize,
    /// Hash requests allowed to wait for a slot before new ones are refused with 503.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub hash_queue: usize,
    /// How long a user found in the database is trusted by its access tokens before it is looked
    /// up again; `0s` looks it up on every request.
    pub user_recheck: HumanDuration,
    /// A refresh token presented again this soon after it was exchanged gets the same new pair
    /// (two tabs refreshing at once), instead of counting as reuse.
    pub refresh_grace: HumanDuration,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    #[serde(deserialize_with = "flexible::deserialize")]
    pub enabled: bool,
    pub ttl: HumanDuration,
    /// Memory the cached responses may take, by their size.
    pub max_bytes: ByteSize,
    /// Replaced by `max_bytes`; still accepted (and ignored, with a warning) so older config
    /// files keep working.
    #[serde(
        default,
        skip_serializing,
        deserialize_with = "flexible::deserialize_some"
    )]
    pub max_entries: Option<u64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            trusted_proxies: Vec::new(),
            header_timeout: HumanDuration::secs(10),
            idle_timeout: HumanDuration::secs(60),
            max_connections: 0,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            busy_timeout: HumanDuration::secs(5),
            checkpoints: Checkpoints::Server,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            access_ttl: HumanDuration::secs(15 * 60),
            refresh_ttl: HumanDuration::secs(7 * 86_400),
            hash_concurrency: 2,
            hash_queue: 64,
            user_recheck: HumanDuration::secs(10),
            refresh_grace: HumanDuration::secs(10),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl: HumanDuration::secs(60),
            max_bytes: ByteSize::mib(32),
            max_entries: None,
        }
    }
}

/// Values given on the command line; they win over every other layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_path: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: line {line}, column {column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unknown key `{key}` in config file {path}{}", did_you_mean(.key))]
    UnknownKey { key: String, path: PathBuf },
    #[error("invalid value for `{key}` ({origin}): {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
}

/// A loaded configuration and the warnings found on the way (logged once logging is up).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Builds the effective configuration from every layer; `env` is the process environment.
    pub fn load(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let mut warnings = Vec::new();
        let (file_table, file_path) = read_file(overrides.config_path.as_deref())?;
        let file_origin = file_path
            .as_ref()
            .map(|p| format!("in {}", p.display()))
            .unwrap_or_default();

        // The file alone first, so an unknown key there is an error naming the file.
        if let Some(path) = &file_path {
            let mut unknown = Vec::new();
            let _ = deserialize(file_table.clone(), &mut unknown);
            if let Some(key) = unknown.into_iter().next() {
                return Err(ConfigError::UnknownKey {
                    key,
                    path: path.clone(),
                });
            }
        }

        let mut table = file_table;
        let mut env_origin: HashMap<String, String> = HashMap::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            // Set to the empty string counts as unset (a blank line in an env file).
            if value.is_empty() {
                continue;
            }
            if ENV_NOT_KEYS.contains(&name.as_str()) {
                continue;
            }
            let Some((section, key)) = rest
                .split_once("__")
                .filter(|(s, k)| !s.is_empty() && !k.is_empty() && !k.contains("__"))
            else {
                warnings.push(format!(
                    "ignoring environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>"
                ));
                continue;
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(section_table) = entry {
                section_table.insert(key.clone(), toml::Value::String(value));
                env_origin.insert(format!("{section}.{key}"), name);
            }
        }

        let mut unknown = Vec::new();
        let mut config = deserialize(table, &mut unknown).map_err(|(key, message)| {
            let origin = match env_origin.get(&key) {
                Some(var) => format!("from environment variable {var}"),
                None if !file_origin.is_empty() => file_origin.clone(),
                None => "built-in default".to_string(),
            };
            ConfigError::Invalid {
                key,
                origin,
                message,
            }
        })?;
        for key in unknown {
            let var = env_origin
                .iter()
                .find(|(path, _)| key.starts_with(path.as_str()))
                .map(|(_, var)| var.clone())
                .unwrap_or_else(|| key.clone());
            warnings.push(format!(
                "ignoring environment variable {var}: `{key}` is not a config key{}",
                did_you_mean(&key)
            ));
        }

        if let Some(dir) = &overrides.data_dir {
            config.storage.data_dir = dir.clone();
        }
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if config.server.public_url.is_none() && !config.server.listen.ip().is_loopback() {
            warnings.push(format!(
                "server.public_url is not set, so links in notifications point to \
                 http://{listen}, which other machines may not reach: set server.public_url \
                 (PRICEALERT_SERVER__PUBLIC_URL) to the address people open, like \
                 https://alerts.example.com",
                listen = config.server.listen
            ));
        }
        config.validate()?;
        if config.cache.max_entries.is_some() {
            warnings.push(
                "cache.max_entries is no longer used: the cache is bounded by cache.max_bytes"
                    .to_string(),
            );
        }
        Ok(Loaded {
            config,
            warnings,
            file: file_path,
        })
    }

    /// Checks what types alone cannot, and fills in values derived from others.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.to_string(),
            origin: "effective configuration".to_string(),
            message: message.to_string(),
        };
        // Unset stays unset: links then follow each request (`api/links.rs`).
        if let Some(url) = self.server.public_url.take() {
            let url = url.trim_end_matches('/').to_string();
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains(char::is_whitespace)
            {
                return Err(invalid(
                    "server.public_url",
                    "must be an http:// or https:// URL, like https://alerts.example.com",
                ));
            }
            self.server.public_url = Some(url);
        }
        if let Some(secret) = &self.auth.jwt_secret {
            if secret.expose().len() < 32 {
                return Err(invalid(
                    "auth.jwt_secret",
                    "must be at least 32 characters (or leave it unset to generate one)",
                ));
            }
        }
        if self.auth.access_ttl.get().is_zero() {
            return Err(invalid("auth.access_ttl", "must be longer than 0s"));
        }
        if self.auth.refresh_ttl <= self.auth.access_ttl {
            return Err(invalid(
                "auth.refresh_ttl",
                "must be longer than auth.access_ttl",
            ));
        }
        if !(self.market.stream_url.starts_with("ws://")
            || self.market.stream_url.starts_with("wss://"))
        {
            return Err(invalid(
                "market.stream_url",
                "must be a ws:// or wss:// URL",
            ));
        }
        if !(self.market.rest_url.starts_with("http://")
            || self.market.rest_url.starts_with("https://"))
        {
            return Err(invalid(
                "market.rest_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.market.control_interval.get() < std::time::Duration::from_millis(200) {
            return Err(invalid(
                "market.control_interval",
                "must be at least 200ms (the exchange allows 5 messages per second)",
            ));
        }
        if self.market.symbols_refresh.get() < std::time::Duration::from_secs(1) {
            return Err(invalid(
                "market.symbols_refresh",
                "must be at least 1s (each reload is a request to the exchange)",
            ));
        }
        if self.market.stall_timeout.get().is_zero() || self.market.rotate_after.get().is_zero() {
            return Err(invalid(
                "market.stall_timeout",
                "durations must be longer than 0s",
            ));
        }
        // Left at its default, the sender is the account we log in with when that is an address
        // (many providers refuse any other sender).
        if self.smtp.from == smtp::DEFAULT_FROM {
            if let Some(username) = self
                .smtp
                .username
                .as_deref()
                .filter(|u| crate::domain::account::check_email(u).is_ok())
            {
                self.smtp.from = format!("pricealert <{username}>");
            }
        }
        if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "smtp.from",
                "must be an address like `pricealert <alerts@example.com>`",
            ));
        }
        if self
            .smtp
            .host
            .as_deref()
            .is_some_and(|h| h.trim().is_empty() || h.contains(char::is_whitespace))
        {
            return Err(invalid(
                "smtp.host",
                "must be a host name like smtp.gmail.com",
            ));
        }
        if self.smtp.password.is_some() && self.smtp.password_file.is_some() {
            return Err(invalid(
                "smtp.password_file",
                "set smtp.password or smtp.password_file, not both",
            ));
        }
        if self.smtp.retry_initial.get().is_zero() || self.smtp.retry_max < self.smtp.retry_initial
        {
            return Err(invalid(
                "smtp.retry_max",
                "must be at least smtp.retry_initial, which must be > 0",
            ));
        }
        if !(self.notify.telegram_api_url.starts_with("http://")
            || self.notify.telegram_api_url.starts_with("https://"))
        {
            return Err(invalid(
                "notify.telegram_api_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.notify.timeout.get().is_zero() {
            return Err(invalid("notify.timeout", "must be longer than 0s"));
        }
        if self.notify.concurrency_per_kind == 0 || self.notify.concurrency_per_channel == 0 {
            return Err(invalid(
                "notify.concurrency_per_kind",
                "notify.concurrency_per_kind and concurrency_per_channel must be at least 1",
            ));
        }
        if self.limits.max_channels_per_user == 0 {
            return Err(invalid(
                "limits.max_channels_per_user",
                "must be at least 1",
            ));
        }
        if self.limits.max_alerts_per_user == 0 {
            return Err(invalid("limits.max_alerts_per_user", "must be at least 1"));
        }
        if self.auth.hash_concurrency == 0 {
            return Err(invalid("auth.hash_concurrency", "must be at least 1"));
        }
        if self.server.header_timeout.get().is_zero() || self.server.idle_timeout.get().is_zero() {
            return Err(invalid(
                "server.header_timeout",
                "server.header_timeout and server.idle_timeout must be longer than 0s",
            ));
        }
        if self.limits.max_streams_per_user == 0 {
            return Err(invalid("limits.max_streams_per_user", "must be at least 1"));
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(invalid("storage.data_dir", "must not be empty"));
        }
        Ok(())
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
    }

    /// The configuration as TOML, secrets replaced by a placeholder.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|err| format!("# cannot render: {err}\n"))
    }
}

/// "; did you mean `x`?" when a known key is close to `key`.
fn did_you_mean(key: &str) -> String {
    known_keys::suggest(key)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

fn read_file(explicit: Option<&Path>) -> Result<(toml::Table, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok((toml::Table::new(), None)),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let table = text.parse::<toml::Table>().map_err(|err| {
        let at = err.span().map_or(0, |span| span.start);
        let before = &text[..at.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError::Syntax {
            path: path.clone(),
            line,
            column,
            message: err.message().trim_end().to_string(),
        }
    })?;
    Ok((table, Some(path)))
}

/// Deserializes, collecting ignored (unknown) keys; an error comes back as (key path, message).
fn deserialize(table: toml::Table, unknown: &mut Vec<String>) -> Result<Config, (String, String)> {
    let value = toml::Value::Table(table);
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let ignored = serde_ignored::Deserializer::new(value, &mut record);
    serde_path_to_error::deserialize(ignored).map_err(|err| {
        let key = err.path().to_string();
        (key, err.into_inner().message().to_string())
    })
}

#[cfg(test)]
mod tests;
