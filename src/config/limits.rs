//! `[limits]`: rate limits and resource caps. On by default, with limits a normal client never
//! meets; failed logins are what is throttled, not successful ones.

use serde::{Deserialize, Serialize};

use super::{flexible, Rate};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    #[serde(deserialize_with = "flexible::deserialize")]
    pub enabled: bool,
    /// Failed logins per client IP.
    pub login_per_ip: Rate,
    /// Failed logins per account, from anywhere; an address that logged in to the account
    /// before is not held back by it, so an attacker cannot lock the owner out.
    pub login_per_account: Rate,
    /// Registrations per client IP.
    pub register_per_ip: Rate,
    /// Authenticated API calls per user.
    pub api_per_user: Rate,
    /// Alerts a user may have that are not deleted.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub max_alerts_per_user: u32,
    /// Notification channels a user may have (the email channel included).
    #[serde(deserialize_with = "flexible::deserialize")]
    pub max_channels_per_user: u32,
    /// Live event streams (`GET /events`) a user may have open at once.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub max_streams_per_user: u32,
    /// Keys (addresses, accounts, users) each limiter remembers at most.
    #[serde(deserialize_with = "flexible::deserialize")]
    pub max_tracked_keys: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let rate = |s: &str| {
            s.parse().unwrap_or(Rate {
                count: 1,
                period: std::time::Duration::from_secs(1),
            })
        };
        Self {
            enabled: true,
            login_per_ip: rate("10/1m"),
            login_per_account: rate("20/15m"),
            register_per_ip: rate("10/1h"),
            api_per_user: rate("600/1m"),
            max_alerts_per_user: 100,
            max_streams_per_user: 10,
            max_channels_per_user: 10,
            max_tracked_keys: 100_000,
        }
    }
}
