//! Per-user cache of list responses (moka, in place of the originals' Redis).
//!
//! Invalidation uses generations: every key carries the user's current generation, and a write
//! bumps it before its response returns. A reader that loaded old rows while a write happened
//! stores them under the old generation, where nobody looks again, so a client never reads its
//! own stale write — not even through that race.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::domain::UserId;

/// Bytes an entry is counted as beyond its value: its key, moka's bookkeeping.
const ENTRY_OVERHEAD: u32 = 256;
/// Users whose generation is remembered at most (a few dozen bytes each).
const MAX_USERS: u64 = 100_000;

/// How much memory a cached value holds.
pub trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for bytes::Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weight for String {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// Bounded by the bytes of its entries (`cache.max_bytes`), not their count: a list page can be
/// 40 KB or 200 bytes.
pub struct ListCache<K, V> {
    enabled: bool,
    next_generation: AtomicU64,
    generations: Cache<UserId, u64>,
    entries: Cache<(UserId, u64, K), Arc<V>>,
}

/// The generation a lookup saw; pass it back to `insert` so a racing write wins.
#[derive(Clone, Copy, Debug)]
pub struct Generation(u64);

impl<K, V> ListCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Weight + Send + Sync + 'static,
{
    pub fn new(enabled: bool, ttl: Duration, max_bytes: u64) -> Self {
        Self {
            enabled,
            next_generation: AtomicU64::new(1),
            // A user whose generation is evicted gets a fresh one: their entries are unreachable,
            // never stale.
            generations: Cache::builder()
                .max_capacity(MAX_USERS)
                .time_to_idle(ttl.saturating_mul(2))
                .build(),
            entries: Cache::builder()
                .weigher(|_key, value: &Arc<V>| {
                    u32::try_from(value.weight())
                        .unwrap_or(u32::MAX)
                        .saturating_add(ENTRY_OVERHEAD)
                })
                .max_capacity(max_bytes)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Bytes the entries are counted as now (after pending evictions run).
    pub fn weighed_bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    fn fresh_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }

    /// Looks the key up; on a miss the returned generation goes with the value to `insert`.
    pub fn get(&self, user: UserId, key: K) -> (Option<Arc<V>>, Generation, K) {
        if !self.enabled {
            return (None, Generation(0), key);
        }
        // A user whose generation was evicted gets a fresh one, never a reused number.
        let generation = self.generations.get_with(user, || self.fresh_generation());
        let full_key = (user, generation, key);
        let hit = self.entries.get(&full_key);
        (hit, Generation(generation), full_key.2)
    }

    pub fn insert(&self, user: UserId, generation: Generation, key: K, value: Arc<V>) {
        if self.enabled {
            self.entries.insert((user, generation.0, key), value);
        }
    }

    /// Makes every cached entry of `user` unreachable; call before answering a write.
    pub fn invalidate_user(&self, user: UserId) {
        if self.enabled {
            self.generations.insert(user, self.fresh_generation());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ListCache<String, String> {
        ListCache::new(true, Duration::from_secs(60), 100_000)
    }

    #[test]
    fn hit_after_insert_and_miss_after_invalidation() {
        let c = cache();
        let u = UserId(1);
        let (miss, generation, key) = c.get(u, "page=1".to_string());
        assert!(miss.is_none());
        c.insert(u, generation, key, Arc::new("v1".into()));
        assert_eq!(
            c.get(u, "page=1".into()).0.as_deref().map(String::as_str),
            Some("v1")
        );
        c.invalidate_user(u);
        assert!(c.get(u, "page=1".into()).0.is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_never_served() {
        let c = cache();
        let u = UserId(7);
        let (_, before_write, key) = c.get(u, "q".into());
        c.invalidate_user(u); // the write lands while the read is still loading rows
        c.insert(u, before_write, key, Arc::new("stale".into()));
        assert!(c.get(u, "q".into()).0.is_none());
    }

    #[test]
    fn users_are_isolated() {
        let c = cache();
        let (_, g, k) = c.get(UserId(1), "q".into());
        c.insert(UserId(1), g, k, Arc::new("one".into()));
        assert!(c.get(UserId(2), "q".into()).0.is_none());
        c.invalidate_user(UserId(2));
        assert!(c.get(UserId(1), "q".into()).0.is_some());
    }

    #[test]
    fn memory_is_bounded_by_bytes_not_entries() {
        let c: ListCache<u32, String> = ListCache::new(true, Duration::from_secs(60), 1 << 20);
        let page = "x".repeat(40_000);
        for i in 0..200 {
            let (_, g, k) = c.get(UserId(i64::from(i)), i);
            c.insert(UserId(i64::from(i)), g, k, Arc::new(page.clone()));
        }
        // 200 pages of 40 KB would be 8 MB; the budget is 1 MiB.
        assert!(c.weighed_bytes() <= 1 << 20, "{}", c.weighed_bytes());
    }

    #[test]
    fn disabled_cache_never_hits() {
        let c: ListCache<String, String> = ListCache::new(false, Duration::from_secs(60), 100_000);
        let (_, g, k) = c.get(UserId(1), "q".into());
        c.insert(UserId(1), g, k, Arc::new("x".into()));
        assert!(c.get(UserId(1), "q".into()).0.is_none());
    }
}
