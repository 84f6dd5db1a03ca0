//! `[smtp]`: how notifications are delivered. No host means no delivery: notifications wait in
//! the outbox until one is configured.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{flexible, HumanDuration, Secret};

/// The sender when `smtp.from` is not set and `smtp.username` is not an address.
pub const DEFAULT_FROM: &str = "pricealert <pricealert@localhost>";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required); port 587 by default.
    Starttls,
    /// TLS from the first byte; port 465 by default.
    Tls,
    /// No encryption: only for a relay on the same machine or network; port 25 by default.
    None,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Defaults by `security`: 587, 465 or 25.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "flexible::deserialize_some"
    )]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password (first line), instead of `password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    pub security: SmtpSecurity,
    /// `Name <address>` the emails come from; default `pricealert <username>` when
    /// `username` is an address.
    pub from: String,
    /// Limit for connecting and for each SMTP command.
    pub timeout: HumanDuration,
    /// First wait after a temporary failure; doubles each time.
    pub retry_initial: HumanDuration,
    pub retry_max: HumanDuration,
    /// A notification still undelivered this long after it was created is marked failed.
    pub give_up_after: HumanDuration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            username: None,
            password: None,
            password_file: None,
            security: SmtpSecurity::Starttls,
            from: DEFAULT_FROM.to_string(),
            timeout: HumanDuration::secs(30),
            retry_initial: HumanDuration::secs(30),
            retry_max: HumanDuration::secs(3600),
            give_up_after: HumanDuration::secs(86_400),
        }
    }
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }

    /// The password from `password`, or else from the first line of `password_file`.
    pub fn resolve_password(&self) -> std::io::Result<Option<Secret>> {
        if let Some(password) = &self.password {
            return Ok(Some(password.clone()));
        }
        match &self.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)?;
                Ok(Some(Secret::new(
                    text.lines().next().unwrap_or("").trim_end(),
                )))
            }
            None => Ok(None),
        }
    }
}
