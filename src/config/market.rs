//! `[market]`: where the exchange is and how the feed behaves.

use serde::{Deserialize, Serialize};

use super::{flexible, HumanDuration};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MarketConfig {
    /// Follow the exchange at all; off, alerts are stored but never fire.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub enabled: bool,
    pub stream_url: String,
    pub rest_url: String,
    /// No frame of any kind for this long means a silent stall: reconnect.
    pub stall_timeout: HumanDuration,
    /// Replace each connection after this long, before the exchange's 24-hour cut.
    pub rotate_after: HumanDuration,
    /// Gap between control messages on one connection (the exchange allows 5 per second).
    pub control_interval: HumanDuration,
    #[serde(deserialize_with = "flexible::deserialize")]
    pub max_streams_per_connection: usize,
    /// Trades missed during a gap are recovered if they are at most this old.
    pub max_backfill: HumanDuration,
    /// How often the list of listed symbols is reloaded.
    pub symbols_refresh: HumanDuration,
    pub reconnect_initial: HumanDuration,
    pub reconnect_max: HumanDuration,
}

impl Default for MarketConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            stream_url: "wss://stream.binance.com:9443".to_string(),
            rest_url: "https://api.binance.com".to_string(),
            stall_timeout: HumanDuration::secs(60),
            rotate_after: HumanDuration::secs(23 * 3600),
            control_interval: HumanDuration(std::time::Duration::from_millis(350)),
            max_streams_per_connection: 1024,
            max_backfill: HumanDuration::secs(600),
            symbols_refresh: HumanDuration::secs(3600),
            reconnect_initial: HumanDuration::secs(1),
            reconnect_max: HumanDuration::secs(60),
        }
    }
}
