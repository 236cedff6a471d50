//! Waiting for a free instance slot instead of giving up.
//!
//! The pooling allocator has fixed totals (core instances, memories,
//! tables, component instances). A language-runtime agent takes tens of
//! core instances, so under load an instantiation can find the pool full.
//! Nothing has been decided at that point, and a run is a pure function of
//! its inputs, so the evaluation is dropped (freeing what it held), waits
//! until another evaluation frees slots, and runs again from the start:
//! the same bits as an uncontended run. Only after
//! [`crate::SandboxConfig::pool_wait_ms`] of waiting is it `inconclusive`.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::fault::{Fault, InconclusiveCause};

/// How often a waiter looks again even without a release it heard of: a
/// release wakes one waiter, and the others come back on this period.
const RECHECK: Duration = Duration::from_millis(20);

/// Releases of instance slots, for evaluations waiting for one.
#[derive(Default)]
pub(crate) struct SlotWaiters {
    released: Mutex<u64>,
    cv: Condvar,
    /// Waits started (one per retry).
    pub(crate) waits: AtomicU64,
    /// Time spent waiting, microseconds.
    pub(crate) wait_micros: AtomicU64,
}

impl SlotWaiters {
    /// Called after a run that held its slots has dropped its stores.
    pub(crate) fn released(&self) {
        *self.released.lock() += 1;
        self.cv.notify_one();
    }

    /// Runs `attempt` until it does not come back pool-busy or `budget` of
    /// waiting is spent; then a pool-busy outcome says how long it waited.
    pub(crate) fn run<R>(
        &self,
        budget: Duration,
        mut attempt: impl FnMut() -> R,
        outcome: impl Fn(&mut R) -> Option<&mut Fault>,
    ) -> R {
        let start = Instant::now();
        loop {
            let mut r = attempt();
            let busy = matches!(
                outcome(&mut r),
                Some(Fault::Inconclusive {
                    cause: InconclusiveCause::PoolBusy { .. }
                })
            );
            let waited = start.elapsed();
            if !busy {
                // Only a run that got its slots wakes the waiters: a busy
                // attempt that woke them would start a storm of attempts
                // that each fail and wake the rest again.
                self.released();
                return r;
            }
            if waited >= budget {
                if let Some(Fault::Inconclusive {
                    cause: InconclusiveCause::PoolBusy { waited_ms, .. },
                }) = outcome(&mut r)
                {
                    *waited_ms = waited.as_millis() as u64;
                }
                return r;
            }
            self.waits.fetch_add(1, Ordering::Relaxed);
            let t = Instant::now();
            let mut released = self.released.lock();
            let seen = *released;
            let until = (budget - waited).min(RECHECK);
            while *released == seen {
                if self.cv.wait_for(&mut released, until).timed_out() {
                    break;
                }
            }
            drop(released);
            self.wait_micros
                .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }
}
