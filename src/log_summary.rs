//! Log lines an attacker cannot multiply. An event that a client can repeat at will (a throttled
//! login, a reused refresh token, a failed `accept`) is logged the first time per key in each
//! interval; repeats are counted and written as one summary line per key when the interval ends.
//! Keys are bounded too: past `max_keys` distinct keys in an interval, the rest are folded into
//! one line. So each kind of event writes at most `2 × max_keys + 1` lines per interval, however
//! many requests arrive.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Summary {
    inner: Arc<Inner>,
}

struct Inner {
    what: &'static str,
    interval: Duration,
    max_keys: usize,
    window: Mutex<Window>,
}

struct Window {
    started: Instant,
    /// Events per key in this window, the first one already logged.
    counts: HashMap<String, u64>,
    /// Events whose key did not fit, and how many distinct keys they had at most.
    overflow: u64,
    flush_scheduled: bool,
}

impl Summary {
    /// `what` names the event in every line, e.g. "login throttled".
    pub fn new(what: &'static str, interval: Duration, max_keys: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                what,
                interval,
                max_keys,
                window: Mutex::new(Window {
                    started: Instant::now(),
                    counts: HashMap::new(),
                    overflow: 0,
                    flush_scheduled: false,
                }),
            }),
        }
    }

    /// Records one event for `key`; logs it (with `detail`) only if it is the key's first in
    /// this interval. Returns whether it was logged.
    pub fn record<K: Display + ?Sized>(&self, key: &K, detail: impl FnOnce() -> String) -> bool {
        let Ok(mut window) = self.inner.window.lock() else {
            return false;
        };
        if window.started.elapsed() >= self.inner.interval {
            self.inner.flush(&mut window);
        }
        let key = key.to_string();
        if let Some(count) = window.counts.get_mut(&key) {
            *count += 1;
        } else if window.counts.len() < self.inner.max_keys {
            window.counts.insert(key.clone(), 1);
            drop(window);
            tracing::warn!(key = %key, "{}: {}", self.inner.what, detail());
            return true;
        } else {
            window.overflow += 1;
        }
        if !window.flush_scheduled {
            window.flush_scheduled = true;
            let wait = self.inner.interval.saturating_sub(window.started.elapsed());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let inner = self.inner.clone();
                runtime.spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Ok(mut window) = inner.window.lock() {
                        inner.flush(&mut window);
                    }
                });
            }
        }
        false
    }
}

impl Inner {
    /// Writes what the window held back and starts a new one.
    fn flush(&self, window: &mut Window) {
        let secs = self.interval.as_secs();
        for (key, count) in window.counts.drain() {
            if count > 1 {
                tracing::warn!(key = %key, repeats = count - 1, "{}: {} more times in the last {secs} s", self.what, count - 1);
            }
        }
        if window.overflow > 0 {
            tracing::warn!(
                repeats = window.overflow,
                "{}: {} more times from other keys in the last {secs} s",
                self.what,
                window.overflow
            );
        }
        window.overflow = 0;
        window.started = Instant::now();
        window.flush_scheduled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_per_key_is_logged_and_repeats_are_held_back() {
        let summary = Summary::new("test event", Duration::from_secs(3600), 2);
        assert!(summary.record("a", String::new));
        assert!(!summary.record("a", String::new));
        assert!(summary.record("b", String::new));
        // A third key in the same window does not fit: counted, not logged.
        assert!(!summary.record("c", String::new));
        let window = summary.inner.window.lock().unwrap();
        assert_eq!(window.counts.len(), 2);
        assert_eq!(window.overflow, 1);
    }

    #[test]
    fn a_new_window_logs_each_key_again() {
        let summary = Summary::new("test event", Duration::ZERO, 10);
        assert!(summary.record("a", String::new));
        assert!(summary.record("a", String::new));
    }
}
