//! Token buckets keyed by contributor or client address, in a bounded table.
//!
//! Why bounded: keys come from the network (anyone can mint an Ed25519 key),
//! so an unbounded map is a memory leak an attacker controls. When the table
//! is full, buckets that have refilled completely are dropped first (they
//! carry no information: a fresh bucket is full too); if none has, the
//! least recently used bucket goes.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use parking_lot::Mutex;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A table of token buckets with one rate and burst for every key.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    cap: usize,
    inner: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` tokens per second, at most `burst` stored, at most `cap` keys.
    pub fn new(rate: f64, burst: u64, cap: usize) -> Self {
        RateLimiter {
            rate,
            burst: burst as f64,
            cap: cap.max(1),
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `key` at time `now`. `Err(secs)` = retry after.
    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let mut map = self.inner.lock();
        if !map.contains_key(key) && map.len() >= self.cap {
            self.evict(&mut map, now);
        }
        let b = map.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Take one token for `key` now.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    /// Number of keys currently tracked.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict(&self, map: &mut HashMap<K, Bucket>, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        map.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
        });
        if map.len() >= self.cap
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refuses_then_refills() {
        let rl = RateLimiter::new(2.0, 3, 16);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.check_at(&1u32, t0), Ok(()));
        }
        assert_eq!(rl.check_at(&1u32, t0), Err(1));
        assert_eq!(rl.check_at(&1u32, t0 + Duration::from_millis(500)), Ok(()));
        // Other keys have their own bucket.
        assert_eq!(rl.check_at(&2u32, t0), Ok(()));
    }

    #[test]
    fn table_never_exceeds_its_capacity() {
        let rl = RateLimiter::new(1.0, 1, 8);
        let t0 = Instant::now();
        for k in 0..10_000u32 {
            let _ = rl.check_at(&k, t0);
            assert!(rl.len() <= 8);
        }
    }
}
