//! `[notify]`: push channels (webhook, ntfy, Telegram, Discord, Gotify) and what every delivery
//! shares. Email has its own `[smtp]`; the retry schedule there applies to every channel.

use serde::{Deserialize, Serialize};

use super::{flexible, HumanDuration};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// Limit for one HTTP delivery (connect, send, answer).
    pub timeout: HumanDuration,
    /// Allow channels that point at loopback, private, link-local and other non-public
    /// addresses (a home ntfy or Gotify on the LAN). Off: such channels are refused.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub allow_private_targets: bool,
    /// Telegram's Bot API; a self-hosted Bot API server (or a test) can stand in.
    pub telegram_api_url: String,
    /// Deliveries of one channel kind in flight at once.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub concurrency_per_kind: usize,
    /// Deliveries to one channel in flight at once.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub concurrency_per_channel: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            timeout: HumanDuration::secs(10),
            allow_private_targets: false,
            telegram_api_url: "https://api.telegram.org".to_string(),
            concurrency_per_kind: 16,
            concurrency_per_channel: 4,
        }
    }
}
