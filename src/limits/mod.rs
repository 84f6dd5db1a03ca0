//! Rate limits and who the client is. Failed logins are throttled per address and per account;
//! an address that has logged in to an account before is not held back by that account's
//! limit, so an attacker hammering an account from many addresses slows down but cannot lock
//! its owner out.

mod rate;
mod streams;

use std::net::IpAddr;
use std::time::Duration;

use moka::sync::Cache;

pub use rate::Limiter;
pub use streams::{StreamSlot, Streams};

use crate::config::LimitsConfig;
use crate::domain::{account, UserId};
use crate::log_summary::Summary;

/// How long an address stays trusted for an account after a successful login.
const TRUSTED_FOR: Duration = Duration::from_secs(30 * 86_400);
/// Repeated log lines are summarised per key over this long, for at most this many keys.
const LOG_INTERVAL: Duration = Duration::from_secs(60);
const LOG_KEYS: usize = 100;

pub struct Limits {
    enabled: bool,
    login_ip: Limiter<IpAddr>,
    login_account: Limiter<String>,
    register_ip: Limiter<IpAddr>,
    api_user: Limiter<UserId>,
    trusted: Cache<(String, IpAddr), ()>,
    pub streams: Streams,
    /// Refused password checks (logins and password changes), logged once per address and
    /// minute with a count.
    throttled: Summary,
    /// Wrong passwords, likewise.
    failed: Summary,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Self {
        let keys = config.max_tracked_keys;
        Self {
            enabled: config.enabled,
            login_ip: Limiter::new(config.login_per_ip, keys),
            login_account: Limiter::new(config.login_per_account, keys),
            register_ip: Limiter::new(config.register_per_ip, keys),
            api_user: Limiter::new(config.api_per_user, keys),
            trusted: Cache::builder()
                .max_capacity(keys)
                .time_to_live(TRUSTED_FOR)
                .build(),
            streams: Streams::new(config.max_streams_per_user),
            throttled: Summary::new("password check throttled", LOG_INTERVAL, LOG_KEYS),
            failed: Summary::new("wrong password", LOG_INTERVAL, LOG_KEYS),
        }
    }

    /// Accounts are keyed by their (case-insensitive) username; text that cannot be a username
    /// names no account and is limited by address only, so a client cannot fill the limiter
    /// with long made-up keys.
    fn account_key(username: &str) -> Option<String> {
        account::check_username(username)
            .is_ok()
            .then(|| username.to_ascii_lowercase())
    }

    /// A refused attempt, logged without flooding: `what` is "login" or "password change".
    pub fn log_throttled(&self, ip: IpAddr, what: &str) {
        self.throttled
            .record(&ip, || format!("{what} refused: too many wrong passwords"));
    }

    /// A wrong password, logged without flooding.
    pub fn log_failed(&self, ip: IpAddr, what: &str, reason: &dyn std::fmt::Display) {
        self.failed
            .record(&ip, || format!("{what} failed: {reason}"));
    }

    /// Whether a login attempt may be evaluated now; otherwise how long to wait.
    pub fn login_gate(&self, ip: IpAddr, username: &str) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(wait) = self.login_ip.blocked_for(&ip) {
            return Err(wait);
        }
        let Some(account) = Self::account_key(username) else {
            return Ok(());
        };
        if self.trusted.contains_key(&(account.clone(), ip)) {
            return Ok(());
        }
        match self.login_account.blocked_for(&account) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn login_failed(&self, ip: IpAddr, username: &str) {
        if self.enabled {
            self.login_ip.record(ip);
            if let Some(account) = Self::account_key(username) {
                self.login_account.record(account);
            }
        }
    }

    pub fn login_succeeded(&self, ip: IpAddr, username: &str) {
        if let (true, Some(account)) = (self.enabled, Self::account_key(username)) {
            self.trusted.insert((account, ip), ());
        }
    }

    pub fn register(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.enabled {
            self.register_ip.check(ip)
        } else {
            Ok(())
        }
    }

    pub fn api(&self, user: UserId) -> Result<(), Duration> {
        if self.enabled {
            self.api_user.check(user)
        } else {
            Ok(())
        }
    }
}

/// The client's address: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let chain: Vec<IpAddr> = forwarded_for
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(
        chain
            .into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = [ip("10.0.0.1")];
        let xff = Some("6.6.6.6, 1.2.3.4");
        assert_eq!(
            client_ip(Some(ip("9.9.9.9")), xff, &proxies),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), xff, &proxies),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, &proxies),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn a_trusted_address_passes_an_exhausted_account() {
        let config = LimitsConfig {
            login_per_ip: "100/1m".parse().unwrap(),
            login_per_account: "2/1h".parse().unwrap(),
            ..LimitsConfig::default()
        };
        let limits = Limits::new(&config);
        let (owner, attacker) = (ip("127.0.0.2"), ip("127.0.0.1"));
        limits.login_succeeded(owner, "Bob");
        limits.login_failed(attacker, "bob");
        limits.login_failed(attacker, "bob");
        assert!(limits.login_gate(attacker, "bob").is_err());
        assert!(limits.login_gate(ip("127.0.0.3"), "bob").is_err());
        assert!(limits.login_gate(owner, "bob").is_ok());
    }
}
