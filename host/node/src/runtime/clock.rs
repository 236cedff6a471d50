//! The node's wall clock: the one source of every time that decides
//! something, namely the timestamp written into each log leaf (and with it
//! an entry's phase and UTC day, so its quotas), the phase checks before
//! work starts, `Retry-After` on a quota refusal, and the countdowns on the
//! API and the page.
//!
//! Architecture Invariant: the shipped `ian-host` never replaces the source.
//! No flag, configuration key or environment variable of `ian-host` moves
//! its clock, so a production node always stamps the system time. Only a
//! program that links this library and calls [`replace_source`] itself can,
//! which the end-to-end tests' own binary (`ian-host-testclock`, in the
//! unpublished tests package, never packaged or installed) does to cross a
//! UTC midnight in a test without waiting for one.

use std::sync::OnceLock;

/// A clock: milliseconds since the Unix epoch.
pub type Source = fn() -> u64;

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Milliseconds since the Unix epoch, from the system clock unless a
/// program replaced the source before the node started.
pub fn now_ms() -> u64 {
    // The first read fixes the source: from then on it cannot change.
    SOURCE.get_or_init(|| system_ms as Source)()
}

/// The system clock, in milliseconds since the Unix epoch (0 before it).
pub fn system_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The source was already set, or already read: a clock that changed
/// under a running node could make log timestamps contradict each other,
/// so it is set once, before anything reads it.
#[derive(Debug, thiserror::Error)]
#[error("the node's clock source is set once, before the node reads it")]
pub struct SourceAlreadySet;

/// Makes `source` the clock for the rest of the process. For test programs
/// that link this library (see the module docs); `ian-host` never calls it.
pub fn replace_source(source: Source) -> Result<(), SourceAlreadySet> {
    SOURCE.set(source).map_err(|_| SourceAlreadySet)
}
