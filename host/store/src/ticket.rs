//! Tickets: the caller's handle on a queued write.
//!
//! A ticket resolves exactly once, and resolves `Ok` only after the
//! transaction that holds the write has been committed with fsync. If the
//! writer goes away without resolving it, the ticket resolves
//! `Err(StoreError::Closed)`, so a waiter can never hang on a lost write.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::error::StoreError;

struct State<T> {
    result: Option<Result<T, StoreError>>,
    waker: Option<Waker>,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A poisoned lock only means another thread panicked while holding
        // it; the state itself is a plain Option and stays consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handle on one write. Wait with [`Ticket::wait`] from a thread, or `.await`
/// it from async code (it implements `Future` and never blocks the executor).
#[must_use = "a write is only known to be durable once its ticket resolves Ok"]
pub struct Ticket<T> {
    slot: Arc<Slot<T>>,
}

/// The writer's side of a ticket.
pub(crate) struct Completer<T> {
    slot: Option<Arc<Slot<T>>>,
}

/// A connected ticket and completer.
pub(crate) fn ticket<T>() -> (Ticket<T>, Completer<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            result: None,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (
        Ticket { slot: slot.clone() },
        Completer { slot: Some(slot) },
    )
}

impl<T> Completer<T> {
    /// Resolve the ticket. Later calls are impossible (consumes self).
    pub(crate) fn complete(mut self, result: Result<T, StoreError>) {
        if let Some(slot) = self.slot.take() {
            Self::fill(&slot, result);
        }
    }

    fn fill(slot: &Slot<T>, result: Result<T, StoreError>) {
        let waker = {
            let mut st = slot.lock();
            st.result = Some(result);
            st.waker.take()
        };
        slot.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            Self::fill(&slot, Err(StoreError::Closed));
        }
    }
}

impl<T> Ticket<T> {
    /// Block until the write is durable (Ok) or refused/failed (Err).
    pub fn wait(self) -> Result<T, StoreError> {
        let mut st = self.slot.lock();
        loop {
            if let Some(r) = st.result.take() {
                return r;
            }
            st = self.slot.ready.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Like [`Ticket::wait`] but gives the ticket back if it has not resolved
    /// within `timeout`.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Result<T, StoreError>, Ticket<T>> {
        let deadline = std::time::Instant::now() + timeout;
        {
            let mut st = self.slot.lock();
            loop {
                if let Some(r) = st.result.take() {
                    return Ok(r);
                }
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                st = self
                    .slot
                    .ready
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        Err(self)
    }

    /// Whether the ticket has resolved (a later `wait` will not block).
    pub fn is_resolved(&self) -> bool {
        self.slot.lock().result.is_some()
    }
}

impl<T> Future for Ticket<T> {
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.slot.lock();
        match st.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> std::fmt::Debug for Ticket<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("resolved", &self.is_resolved())
            .finish()
    }
}
