//! Notification channels: where a user is told that an alert fired. Plain values; the store
//! keeps them, `notify` delivers through them, `channels` is their use-cases.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::channel_fields as fields;
use super::UserId;

pub use fields::{FIELD_MAX, NAME_MAX};

pub const PRIORITY_RULE: &str = "must be 1 (min) to 5 (urgent)";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChannelId(pub i64);

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Email,
    Webhook,
    Ntfy,
    Telegram,
    Discord,
    Gotify,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 6] = [
        ChannelKind::Email,
        ChannelKind::Webhook,
        ChannelKind::Ntfy,
        ChannelKind::Telegram,
        ChannelKind::Discord,
        ChannelKind::Gotify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Discord => "discord",
            ChannelKind::Gotify => "gotify",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ntfy's default server, for channels that name none.
pub const NTFY_DEFAULT_SERVER: &str = "https://ntfy.sh";
/// ntfy's "high" priority: a push that makes a sound.
pub const NTFY_DEFAULT_PRIORITY: u8 = 4;

/// What a channel of each kind needs to deliver. Secrets (`secret`, `token`, `bot_token`, the
/// token in a Discord webhook URL) are stored as given and never shown: `Debug` redacts them and
/// the API masks them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChannelSettings {
    Email {
        address: String,
    },
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    Ntfy {
        server: String,
        topic: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        priority: u8,
    },
    Telegram {
        bot_token: String,
        chat_id: String,
    },
    Discord {
        url: String,
    },
    Gotify {
        server: String,
        token: String,
    },
}

impl ChannelSettings {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelSettings::Email { .. } => ChannelKind::Email,
            ChannelSettings::Webhook { .. } => ChannelKind::Webhook,
            ChannelSettings::Ntfy { .. } => ChannelKind::Ntfy,
            ChannelSettings::Telegram { .. } => ChannelKind::Telegram,
            ChannelSettings::Discord { .. } => ChannelKind::Discord,
            ChannelSettings::Gotify { .. } => ChannelKind::Gotify,
        }
    }

    /// The URL a delivery goes to, for the kinds that are called over HTTP (the Telegram API's
    /// address comes from the configuration).
    pub fn target_url(&self) -> Option<&str> {
        match self {
            ChannelSettings::Webhook { url, .. } | ChannelSettings::Discord { url } => Some(url),
            ChannelSettings::Ntfy { server, .. } | ChannelSettings::Gotify { server, .. } => {
                Some(server)
            }
            ChannelSettings::Email { .. } | ChannelSettings::Telegram { .. } => None,
        }
    }
}

impl fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only what is safe to log: the kind and the non-secret addresses.
        match self {
            ChannelSettings::Email { address } => write!(f, "Email({address})"),
            ChannelSettings::Webhook { url, .. } => write!(f, "Webhook({url}, secret: <redacted>)"),
            ChannelSettings::Ntfy { server, topic, .. } => {
                write!(f, "Ntfy({server}/{topic}, token: <redacted>)")
            }
            ChannelSettings::Telegram { chat_id, .. } => {
                write!(f, "Telegram(chat {chat_id}, bot_token: <redacted>)")
            }
            ChannelSettings::Discord { url } => write!(f, "Discord({})", mask_discord_url(url)),
            ChannelSettings::Gotify { server, .. } => {
                write!(f, "Gotify({server}, token: <redacted>)")
            }
        }
    }
}

/// A secret as shown back: its last 4 characters, the rest hidden.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "••••".to_string();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••{tail}")
}

/// A Discord webhook URL with its token (the last path segment) masked.
pub fn mask_discord_url(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((head, token)) if !token.is_empty() => format!("{head}/{}", mask(token)),
        _ => mask(url),
    }
}

/// A user's channel as stored.
#[derive(Clone, Debug)]
pub struct Channel {
    pub id: ChannelId,
    pub user_id: UserId,
    pub name: String,
    pub enabled: bool,
    pub created_at: i64,
    pub settings: ChannelSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_or_masks() {
        let s = ChannelSettings::Telegram {
            bot_token: "123456:ABC-secret-token-xyz".into(),
            chat_id: "42".into(),
        };
        assert!(!format!("{s:?}").contains("secret-token"));
        assert_eq!(mask("123456:ABC-secret-token-xyz"), "••••-xyz");
        assert_eq!(mask("short"), "••••");
        let url = "https://discord.com/api/webhooks/1234/very-secret-token-abcd";
        assert_eq!(
            mask_discord_url(url),
            "https://discord.com/api/webhooks/1234/••••abcd"
        );
        let d = ChannelSettings::Discord { url: url.into() };
        assert!(!format!("{d:?}").contains("very-secret"));
    }

    #[test]
    fn settings_round_trip_as_tagged_json() {
        let s = ChannelSettings::Ntfy {
            server: NTFY_DEFAULT_SERVER.into(),
            topic: "alerts".into(),
            token: None,
            priority: 4,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"ntfy","server":"https://ntfy.sh","topic":"alerts","priority":4}"#
        );
        assert_eq!(serde_json::from_str::<ChannelSettings>(&json).unwrap(), s);
    }
}

/// A channel's fields as a client sends them: every one optional, checked by kind in
/// `ChannelSettings::from_fields`. An empty `secret` or `token` removes it.
#[derive(Clone, Debug, Default)]
pub struct ChannelFields {
    pub address: Option<String>,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub server: Option<String>,
    pub topic: Option<String>,
    pub token: Option<String>,
    pub priority: Option<i64>,
    pub bot_token: Option<String>,
    pub chat_id: Option<String>,
}

fn required(value: Option<String>, field: &str, kind: ChannelKind) -> Result<String, String> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{field} is required for a {kind} channel"))
}

/// Runs a field's rule, naming the field in the error.
fn check(field: &str, value: &str, rule: fn(&str) -> Result<(), String>) -> Result<(), String> {
    rule(value).map_err(|rule| format!("{field} {rule}"))
}

fn check_url(field: &str, url: &str) -> Result<(), String> {
    check(field, url, fields::check_url)
}

fn check_secret(field: &str, value: &str) -> Result<(), String> {
    check(field, value, fields::check_secret)
}

/// An optional secret: absent or empty means none.
fn optional_secret(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) => check_secret(field, &v).map(|()| Some(v)),
        None => Ok(None),
    }
}

impl ChannelSettings {
    /// Builds and checks a kind's settings from the fields given (fields of other kinds are
    /// ignored).
    pub fn from_fields(kind: ChannelKind, f: ChannelFields) -> Result<Self, String> {
        Ok(match kind {
            ChannelKind::Email => {
                let address = required(f.address, "address", kind)?;
                super::account::check_email(&address)
                    .map_err(|_| format!("address {}", super::account::EMAIL_RULE))?;
                ChannelSettings::Email { address }
            }
            ChannelKind::Webhook => {
                let url = required(f.url, "url", kind)?;
                check_url("url", &url)?;
                ChannelSettings::Webhook {
                    url,
                    secret: optional_secret("secret", f.secret)?,
                }
            }
            ChannelKind::Ntfy => {
                let server = f
                    .server
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| NTFY_DEFAULT_SERVER.to_string());
                check_url("server", &server)?;
                let topic = required(f.topic, "topic", kind)?;
                check("topic", &topic, fields::check_topic)?;
                let priority = f.priority.unwrap_or(i64::from(NTFY_DEFAULT_PRIORITY));
                if !(1..=5).contains(&priority) {
                    return Err(format!("priority {PRIORITY_RULE}"));
                }
                ChannelSettings::Ntfy {
                    server: server.trim_end_matches('/').to_string(),
                    topic,
                    token: optional_secret("token", f.token)?,
                    priority: priority as u8,
                }
            }
            ChannelKind::Telegram => {
                let bot_token = required(f.bot_token, "bot_token", kind)?;
                check_secret("bot_token", &bot_token)?;
                let chat_id = required(f.chat_id, "chat_id", kind)?;
                check("chat_id", &chat_id, fields::check_chat_id)?;
                ChannelSettings::Telegram { bot_token, chat_id }
            }
            ChannelKind::Discord => {
                let url = required(f.url, "url", kind)?;
                check_url("url", &url)?;
                ChannelSettings::Discord { url }
            }
            ChannelKind::Gotify => {
                let server = required(f.server, "server", kind)?;
                check_url("server", &server)?;
                let token = required(f.token, "token", kind)?;
                check_secret("token", &token)?;
                ChannelSettings::Gotify {
                    server: server.trim_end_matches('/').to_string(),
                    token,
                }
            }
        })
    }

    /// These settings with `change` laid over them (a PATCH): fields not given stay.
    pub fn merged(&self, change: ChannelFields) -> Result<Self, String> {
        let mut f = ChannelFields::default();
        match self.clone() {
            ChannelSettings::Email { address } => f.address = Some(address),
            ChannelSettings::Webhook { url, secret } => {
                f.url = Some(url);
                f.secret = secret;
            }
            ChannelSettings::Ntfy {
                server,
                topic,
                token,
                priority,
            } => {
                f.server = Some(server);
                f.topic = Some(topic);
                f.token = token;
                f.priority = Some(i64::from(priority));
            }
            ChannelSettings::Telegram { bot_token, chat_id } => {
                f.bot_token = Some(bot_token);
                f.chat_id = Some(chat_id);
            }
            ChannelSettings::Discord { url } => f.url = Some(url),
            ChannelSettings::Gotify { server, token } => {
                f.server = Some(server);
                f.token = Some(token);
            }
        }
        // Gotify's server and token cannot be removed: empty keeps them.
        let gotify = self.kind() == ChannelKind::Gotify;
        let kept = |v: Option<String>| v.filter(|v| !(gotify && v.is_empty()));
        let over = ChannelFields {
            address: change.address.or(f.address),
            url: change.url.or(f.url),
            secret: change.secret.or(f.secret),
            server: kept(change.server).or(f.server),
            topic: change.topic.or(f.topic),
            token: kept(change.token).or(f.token),
            priority: change.priority.or(f.priority),
            bot_token: change.bot_token.or(f.bot_token),
            chat_id: change.chat_id.or(f.chat_id),
        };
        Self::from_fields(self.kind(), over)
    }
}

/// The name a channel gets when none is given.
pub fn default_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Email => "Email",
        ChannelKind::Webhook => "Webhook",
        ChannelKind::Ntfy => "ntfy",
        ChannelKind::Telegram => "Telegram",
        ChannelKind::Discord => "Discord",
        ChannelKind::Gotify => "Gotify",
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn each_kind_checks_its_own_fields() {
        let err = |kind, f| ChannelSettings::from_fields(kind, f).unwrap_err();
        assert_eq!(
            err(ChannelKind::Webhook, ChannelFields::default()),
            "url is required for a webhook channel"
        );
        let bad_url = ChannelFields {
            url: Some("ftp://x".into()),
            ..Default::default()
        };
        assert!(err(ChannelKind::Discord, bad_url).starts_with("url must be"));
        let ntfy = ChannelSettings::from_fields(
            ChannelKind::Ntfy,
            ChannelFields {
                topic: Some("btc_alerts".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            ntfy,
            ChannelSettings::Ntfy {
                server: NTFY_DEFAULT_SERVER.into(),
                topic: "btc_alerts".into(),
                token: None,
                priority: 4
            }
        );
        let loud = ChannelFields {
            topic: Some("t".into()),
            priority: Some(9),
            ..Default::default()
        };
        assert!(err(ChannelKind::Ntfy, loud).starts_with("priority"));
        for (chat, ok) in [
            ("123456789", true),
            ("-1001234567890", true),
            ("@my_channel", true),
            ("me", false),
        ] {
            let f = ChannelFields {
                bot_token: Some("123:abc".into()),
                chat_id: Some(chat.into()),
                ..Default::default()
            };
            assert_eq!(
                ChannelSettings::from_fields(ChannelKind::Telegram, f).is_ok(),
                ok,
                "{chat}"
            );
        }
    }

    #[test]
    fn a_change_keeps_what_it_does_not_name() {
        let hook = ChannelSettings::Webhook {
            url: "https://example.com/a".into(),
            secret: Some("s3cret-value".into()),
        };
        let moved = hook
            .merged(ChannelFields {
                url: Some("https://example.com/b".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            moved,
            ChannelSettings::Webhook {
                url: "https://example.com/b".into(),
                secret: Some("s3cret-value".into())
            }
        );
        let cleared = hook
            .merged(ChannelFields {
                secret: Some(String::new()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            cleared,
            ChannelSettings::Webhook {
                url: "https://example.com/a".into(),
                secret: None
            }
        );
        let gotify = ChannelSettings::Gotify {
            server: "https://gotify.example.com".into(),
            token: "app-token".into(),
        };
        let emptied = ChannelFields {
            server: Some(String::new()),
            token: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(gotify.merged(emptied).unwrap(), gotify, "empty keeps them");
    }
}
