//! The HTTP channels: how a notice becomes a request to each service, and how each service's
//! answer becomes sent, retry later, or failed for good.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use sha2::Sha256;

use super::guard::Guard;
use super::message::escape;
use super::notice::{Notice, NoticeKind};
use crate::domain::ChannelSettings;

/// How a delivery attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// With what the service answered.
    Sent(String),
    /// Worth trying again (timeout, connection error, 408, 429, 5xx), after `after` if the
    /// service said.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// The service refused it for good (other 4xx); its answer is kept.
    Failed(String),
}

/// Answers longer than this are cut when kept as a delivery's error.
const ANSWER_MAX: usize = 300;

/// The HTTP client and what every push request needs.
#[derive(Clone)]
pub struct Push {
    pub client: reqwest::Client,
    pub guard: Guard,
    pub telegram_api_url: String,
}

impl Push {
    /// A client that resolves only to allowed addresses, follows no redirect, uses no proxy and
    /// gives up after `timeout`.
    pub fn new(guard: Guard, timeout: Duration, telegram_api_url: &str) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(super::guard::GuardedResolver { guard }))
            .user_agent(concat!("pricealert/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            guard,
            telegram_api_url: telegram_api_url.trim_end_matches('/').to_string(),
        })
    }

    /// Sends `notice` through an HTTP channel. `key` is the delivery's stable id; `alert` the
    /// alert as the API shows it (webhooks carry it).
    pub async fn send(
        &self,
        settings: &ChannelSettings,
        notice: &Notice,
        key: &str,
        alert: Option<serde_json::Value>,
    ) -> Outcome {
        let request = match self.request(settings, notice, key, alert) {
            Ok(request) => request,
            Err(err) => return Outcome::Failed(err),
        };
        let request = match request.build() {
            Ok(request) => request,
            Err(err) => return Outcome::Failed(format!("cannot build the request: {err}")),
        };
        if let Err(err) = self.guard.check_literal(request.url()) {
            return Outcome::Failed(err);
        }
        match self.client.execute(request).await {
            Ok(resp) => classify(resp).await,
            Err(err) => transport_error(&err),
        }
    }

    fn request(
        &self,
        settings: &ChannelSettings,
        notice: &Notice,
        key: &str,
        alert: Option<serde_json::Value>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let event = match notice.kind {
            NoticeKind::Triggered => "alert.triggered",
            NoticeKind::Test => "test",
        };
        Ok(match settings {
            ChannelSettings::Webhook { url, secret } => {
                let body = serde_json::json!({
                    "event": event,
                    "alert": alert,
                    "alert_url": notice.link,
                    "sent_at": crate::clock::format_millis(crate::clock::now_millis()),
                })
                .to_string();
                let mut request = self
                    .client
                    .post(url)
                    .header("Content-Type", "application/json")
                    .header("X-Pricealert-Event", event)
                    .header("X-Pricealert-Delivery", key);
                if let Some(secret) = secret {
                    request = request.header("X-Pricealert-Signature", signature(secret, &body));
                }
                request.body(body)
            }
            ChannelSettings::Ntfy {
                server,
                topic,
                token,
                priority,
            } => {
                let tag = if notice.rising {
                    "chart_with_upwards_trend"
                } else {
                    "chart_with_downwards_trend"
                };
                let mut request = self
                    .client
                    .post(format!("{}/{topic}", server.trim_end_matches('/')))
                    .header("Title", header_text(&notice.title))
                    .header("Priority", priority.to_string())
                    .header("Tags", tag)
                    .header("Click", notice.link.as_str())
                    .body(notice.text());
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request
            }
            ChannelSettings::Telegram { bot_token, chat_id } => {
                let mut text = format!("<b>{}</b>\n", escape_telegram(&notice.headline));
                for (label, value) in &notice.details {
                    text.push_str(&format!("{label}: {}\n", escape_telegram(value)));
                }
                text.push_str(&format!(
                    "<a href=\"{}\">See the alert</a>",
                    escape(&notice.link)
                ));
                self.client
                    .post(format!(
                        "{}/bot{bot_token}/sendMessage",
                        self.telegram_api_url
                    ))
                    .json(&serde_json::json!({
                        "chat_id": chat_id,
                        "text": text,
                        "parse_mode": "HTML",
                        "disable_web_page_preview": true,
                    }))
            }
            ChannelSettings::Discord { url } => {
                let description = notice
                    .details
                    .iter()
                    .map(|(label, value)| format!("**{label}:** {value}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                self.client.post(url).json(&serde_json::json!({
                    "content": notice.headline,
                    "embeds": [{
                        "title": notice.title,
                        "description": description,
                        "url": notice.link,
                        "color": if notice.rising { 0x2e_a0_43 } else { 0xd7_3a_49 },
                        "timestamp": notice.time,
                    }],
                }))
            }
            ChannelSettings::Gotify { server, token } => self
                .client
                .post(format!("{}/message", server.trim_end_matches('/')))
                .header("X-Gotify-Key", token.as_str())
                .json(&serde_json::json!({
                    "title": notice.title,
                    "message": notice.text(),
                    "priority": 8,
                    "extras": {"client::notification": {"click": {"url": notice.link}}},
                })),
            ChannelSettings::Email { .. } => return Err("email is not an HTTP channel".into()),
        })
    }
}

/// `sha256=<hex HMAC-SHA256 of body with secret>`, as GitHub signs webhooks.
pub fn signature(secret: &str, body: &str) -> String {
    // HMAC takes keys of any length; the error case cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Header values must be visible ASCII: anything else becomes `?`.
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Telegram's HTML mode needs `<`, `>` and `&` escaped, nothing more.
fn escape_telegram(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn transport_error(err: &reqwest::Error) -> Outcome {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if message.contains("notify.allow_private_targets") {
        return Outcome::Failed(message);
    }
    Outcome::Retry {
        error: if err.is_timeout() {
            format!("timed out: {message}")
        } else {
            message
        },
        after: None,
    }
}

async fn classify(resp: reqwest::Response) -> Outcome {
    let status = resp.status();
    let header_wait = retry_after(resp.headers());
    let body = resp.text().await.unwrap_or_default();
    let answer = answer(status, &body);
    if status.is_success() {
        return Outcome::Sent(status.to_string());
    }
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        return Outcome::Retry {
            error: answer,
            after: header_wait.or_else(|| body_retry_after(&body)),
        };
    }
    Outcome::Failed(answer)
}

/// The status and the start of the body, one line, for a delivery's `last_error`.
fn answer(status: StatusCode, body: &str) -> String {
    let body: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ANSWER_MAX)
        .collect();
    let body = body.trim();
    if body.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {body}")
    }
}

/// `Retry-After` in seconds (an HTTP date is not worth a parser here; the backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

/// Telegram's `parameters.retry_after` and Discord's `retry_after` (seconds, may be fractional).
fn body_retry_after(body: &str) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let secs = value
        .get("parameters")
        .and_then(|p| p.get("retry_after"))
        .or_else(|| value.get("retry_after"))?
        .as_f64()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_githubs_format() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog")
        assert_eq!(
            signature("key", "The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn services_say_how_long_to_wait() {
        assert_eq!(
            body_retry_after(r#"{"ok":false,"error_code":429,"parameters":{"retry_after":3}}"#),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            body_retry_after(r#"{"message":"rate limited","retry_after":0.5,"global":false}"#),
            Some(Duration::from_millis(500))
        );
        assert_eq!(body_retry_after("nope"), None);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
    }

    #[test]
    fn answers_are_one_short_line() {
        let long = "x".repeat(1000);
        assert!(answer(StatusCode::NOT_FOUND, &long).len() < ANSWER_MAX + 20);
        assert_eq!(
            answer(
                StatusCode::FORBIDDEN,
                "{\"description\":\"Forbidden: bot was blocked\"}\n"
            ),
            "403 Forbidden: {\"description\":\"Forbidden: bot was blocked\"}"
        );
    }
}
