//! Rate limits keyed by client address, contributor or peer: `governor`'s GCRA
//! (the token bucket's exact, allocation-free form) over a bounded state
//! table.
//!
//! Why bounded: keys come from the network (anyone can mint an Ed25519 key,
//! or bring many addresses), so governor's own unbounded keyed map would be
//! a memory leak an attacker controls. [`BoundedStore`] keeps at most `cap`
//! keys; when a new key arrives at a full table, the least recently used
//! half is dropped (a dropped key comes back with a full bucket, which is
//! the most it could have had anyway once it has been idle long enough).

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter as Gcra};
use parking_lot::Mutex;

/// Longest replenish period accepted (a rate of 1 per ~31 years): keeps a
/// near-zero rate from overflowing the limiter's arithmetic.
const MAX_PERIOD: Duration = Duration::from_secs(1_000_000_000);

/// At most `cap` keys of GCRA state, least recently used dropped first.
#[derive(Debug)]
pub struct BoundedStore<K> {
    cap: usize,
    inner: Mutex<Table<K>>,
}

#[derive(Debug)]
struct Table<K> {
    /// Key -> (theoretical arrival time, last use).
    map: HashMap<K, (Nanos, u64)>,
    uses: u64,
}

impl<K: Hash + Eq + Clone> BoundedStore<K> {
    fn new(cap: usize) -> Self {
        BoundedStore {
            cap: cap.max(1),
            inner: Mutex::new(Table {
                map: HashMap::new(),
                uses: 0,
            }),
        }
    }
}

impl<K: Hash + Eq + Clone> governor::state::keyed::ShrinkableKeyedStateStore<K>
    for BoundedStore<K>
{
    fn retain_recent(&self, drop_below: Nanos) {
        self.inner
            .lock()
            .map
            .retain(|_, (tat, _)| *tat >= drop_below);
    }

    fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    fn is_empty(&self) -> bool {
        self.inner.lock().map.is_empty()
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut t = self.inner.lock();
        t.uses += 1;
        let used = t.uses;
        let outcome = f(t.map.get(key).map(|(tat, _)| *tat));
        let (value, tat) = match outcome {
            Ok(v) => v,
            Err(e) => {
                // A refused key is in use too: forgetting it first would
                // hand a hammering client a fresh bucket.
                if let Some(entry) = t.map.get_mut(key) {
                    entry.1 = used;
                }
                return Err(e);
            }
        };
        if !t.map.contains_key(key) && t.map.len() >= self.cap {
            // Keep the most recently used half: amortised O(log n) a key.
            let mut by_use: Vec<u64> = t.map.values().map(|(_, u)| *u).collect();
            by_use.sort_unstable();
            let cut = by_use[by_use.len() - self.cap.div_ceil(2).min(by_use.len())];
            t.map.retain(|_, (_, u)| *u >= cut);
            if t.map.len() >= self.cap {
                t.map.clear();
            }
        }
        t.map.insert(key.clone(), (tat, used));
        Ok(value)
    }
}

/// One rate and burst for every key, at most `cap` keys remembered.
pub struct RateLimiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    gcra: Gcra<K, BoundedStore<K>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    cap: usize,
    burst: NonZeroU32,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for RateLimiter<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

/// `rate` per second with bursts of `burst` (at least 1).
pub fn quota(rate: f64, burst: u64) -> Quota {
    let period = Duration::try_from_secs_f64(1.0 / rate)
        .ok()
        .filter(|_| rate > 0.0)
        .map_or(MAX_PERIOD, |p| p.clamp(Duration::from_nanos(1), MAX_PERIOD));
    let burst =
        NonZeroU32::new(burst.clamp(1, u64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` tokens per second, at most `burst` stored, at most `cap` keys.
    pub fn new(rate: f64, burst: u64, cap: usize) -> Self {
        Self::with_clock(rate, burst, cap, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> RateLimiter<K, C> {
    /// [`RateLimiter::new`] reading time from `clock` (tests use a fake one).
    pub fn with_clock(rate: f64, burst: u64, cap: usize, clock: C) -> Self {
        let q = quota(rate, burst);
        RateLimiter {
            gcra: Gcra::new(q, BoundedStore::new(cap), clock.clone()),
            clock,
            cap: cap.max(1),
            burst: q.burst_size(),
        }
    }

    /// Take one token for `key`. `Err(secs)` = retry after (at least 1).
    pub fn check(&self, key: &K) -> Result<(), u64> {
        if self.gcra.len() >= self.cap {
            // First forget keys whose bucket has refilled: they carry no
            // information. The store drops least recently used ones if
            // that was not enough.
            self.gcra.retain_recent();
        }
        self.gcra.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }

    /// Take `n` tokens for `key` at once (at most the burst: a cost above
    /// it is charged as the whole burst, so it waits for a full bucket
    /// rather than never passing). `Err(secs)` = retry after (at least 1).
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), u64> {
        if self.gcra.len() >= self.cap {
            self.gcra.retain_recent();
        }
        let burst = self.burst;
        let n = NonZeroU32::new(n.clamp(1, burst.get())).unwrap_or(NonZeroU32::MIN);
        match self.gcra.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(wait.as_secs_f64().ceil().max(1.0) as u64)
            }
            // Unreachable with n clamped to the burst; refuse for a while.
            Err(_) => Err(1),
        }
    }

    /// Number of keys currently tracked.
    pub fn len(&self) -> usize {
        self.gcra.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.gcra.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limiter(
        rate: f64,
        burst: u64,
        cap: usize,
    ) -> (RateLimiter<u32, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            RateLimiter::with_clock(rate, burst, cap, clock.clone()),
            clock,
        )
    }

    #[test]
    fn burst_then_refuses_then_refills() {
        let (rl, clock) = limiter(2.0, 3, 16);
        for _ in 0..3 {
            assert_eq!(rl.check(&1), Ok(()));
        }
        assert_eq!(rl.check(&1), Err(1));
        clock.advance(Duration::from_millis(500));
        assert_eq!(rl.check(&1), Ok(()));
        assert_eq!(rl.check(&1), Err(1));
    }

    #[test]
    fn a_cost_of_several_tokens_is_taken_at_once_and_waits_for_all_of_them() {
        let (rl, clock) = limiter(1.0, 10, 16);
        assert_eq!(rl.check_n(&1, 6), Ok(()));
        // 4 left: a cost of 6 must wait 2 s for the missing tokens.
        assert_eq!(rl.check_n(&1, 6), Err(2));
        clock.advance(Duration::from_secs(2));
        assert_eq!(rl.check_n(&1, 6), Ok(()));
    }

    #[test]
    fn a_cost_above_the_burst_waits_for_a_full_bucket_instead_of_never_passing() {
        let (rl, clock) = limiter(1.0, 4, 16);
        assert_eq!(rl.check_n(&1, 100), Ok(()));
        assert_eq!(rl.check_n(&1, 100), Err(4));
        clock.advance(Duration::from_secs(4));
        assert_eq!(rl.check_n(&1, 100), Ok(()));
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let (rl, _) = limiter(1.0, 1, 16);
        assert_eq!(rl.check(&1), Ok(()));
        assert!(rl.check(&1).is_err());
        assert_eq!(rl.check(&2), Ok(()));
    }

    #[test]
    fn retry_after_counts_the_seconds_until_the_next_token() {
        let (rl, _) = limiter(0.1, 1, 16);
        assert_eq!(rl.check(&1), Ok(()));
        assert_eq!(rl.check(&1), Err(10));
    }

    #[test]
    fn the_table_never_exceeds_its_capacity() {
        let (rl, _) = limiter(1.0, 1, 8);
        for k in 0..10_000u32 {
            let _ = rl.check(&k);
            assert!(rl.len() <= 8, "{} keys", rl.len());
        }
    }

    #[test]
    fn a_busy_key_survives_a_flood_of_new_keys() {
        let (rl, _) = limiter(1.0, 2, 8);
        assert_eq!(rl.check(&0), Ok(()));
        for k in 1..1_000u32 {
            let _ = rl.check(&k);
            // Key 0 keeps being used, so it is never the least recent.
            if k % 2 == 0 {
                let _ = rl.check(&0);
            }
        }
        assert!(rl.check(&0).is_err(), "key 0's spent bucket was remembered");
    }

    #[test]
    fn refilled_keys_are_forgotten_before_busy_ones() {
        let (rl, clock) = limiter(1.0, 1, 4);
        for k in 0..3u32 {
            assert_eq!(rl.check(&k), Ok(()));
        }
        clock.advance(Duration::from_secs(10));
        // Key 9 spends its token now; 0..3 have long refilled.
        assert_eq!(rl.check(&9), Ok(()));
        for k in 100..103u32 {
            let _ = rl.check(&k);
        }
        assert!(rl.check(&9).is_err(), "key 9's spent bucket was remembered");
    }

    #[test]
    fn zero_or_absurd_rates_do_not_panic() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300, 1e300] {
            let (rl, _) = limiter(rate, 0, 4);
            let _ = rl.check(&1);
            let _ = rl.check(&1);
        }
    }
}
