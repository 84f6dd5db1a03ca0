//! A keyed rate limiter (GCRA: one timestamp per key), its memory bounded by moka: keys idle
//! longer than a full refill are forgotten, and at most `max_keys` are kept.

use std::hash::Hash;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::config::Rate;

pub struct Limiter<K> {
    interval: Duration,
    /// How far ahead of now the theoretical arrival time may run: a burst of `count`.
    tolerance: Duration,
    tats: Cache<K, Instant>,
}

impl<K: Hash + Eq + Send + Sync + Clone + 'static> Limiter<K> {
    pub fn new(rate: Rate, max_keys: u64) -> Self {
        let interval = rate.interval();
        Self {
            interval,
            tolerance: interval * rate.count.saturating_sub(1),
            tats: Cache::builder()
                .max_capacity(max_keys)
                .time_to_idle(rate.period + interval)
                .build(),
        }
    }

    /// How long `key` must wait before its next event is allowed; `None` if allowed now.
    pub fn blocked_for(&self, key: &K) -> Option<Duration> {
        let now = Instant::now();
        let tat = self.tats.get(key)?.max(now);
        let ahead = tat - now;
        (ahead > self.tolerance).then(|| ahead - self.tolerance)
    }

    /// Records an event for `key` whether or not it was allowed.
    pub fn record(&self, key: K) {
        let now = Instant::now();
        let interval = self.interval;
        self.tats
            .entry(key)
            .and_upsert_with(|old| old.map_or(now, |e| (*e.value()).max(now)) + interval);
    }

    /// Allows and records the event, or says how long to wait (recording nothing).
    pub fn check(&self, key: K) -> Result<(), Duration> {
        match self.blocked_for(&key) {
            Some(wait) => Err(wait),
            None => {
                self.record(key);
                Ok(())
            }
        }
    }

    /// Keys currently tracked (after pending evictions run).
    pub fn tracked(&self) -> u64 {
        self.tats.run_pending_tasks();
        self.tats.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_blocks_with_the_wait() {
        let limiter = Limiter::new("3/1h".parse().unwrap(), 100);
        for _ in 0..3 {
            assert!(limiter.check("k").is_ok());
        }
        let wait = limiter.check("k").unwrap_err();
        assert!(
            wait > Duration::from_secs(1190) && wait <= Duration::from_secs(1200),
            "{wait:?}"
        );
        assert!(limiter.check("other").is_ok(), "keys are independent");
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let limiter = Limiter::new("5/1m".parse().unwrap(), 1_000);
        for i in 0..20_000u32 {
            limiter.record(i);
        }
        assert!(limiter.tracked() <= 1_100, "{}", limiter.tracked());
    }
}
