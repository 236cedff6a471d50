//! Typed errors of the store.

use std::path::PathBuf;

/// Everything that can go wrong in the store, with enough context to act on.
///
/// Refusals of bad requests (`NonDenseAppend`, `BlobHashMismatch`, ...) are
/// separate from storage failures (`Redb`, `CommitFailed`) so the caller can
/// tell "you asked for something wrong" from "the disk failed".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a redb database, or redb refused to open it.
    #[error("cannot open store at {path}: {source}")]
    Open {
        /// Store file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
    /// Another process (or another `Store` in this process) has the file open.
    #[error("store at {path} is already open by another process or handle")]
    AlreadyOpen {
        /// Store file.
        path: PathBuf,
    },
    /// The file was written by a build with a different table layout.
    #[error(
        "store at {path} has schema version {found}, but this build reads schema version {expected}; \
         open it with a matching ian-store build or migrate it"
    )]
    SchemaMismatch {
        /// Store file.
        path: PathBuf,
        /// Version recorded in the file.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// The file is a redb database that does not carry an IAN schema version.
    #[error("{path} is a redb database but not an IAN store (it has tables but no schema version)")]
    NotAnIanStore {
        /// Store file.
        path: PathBuf,
    },
    /// An append whose index is not exactly the current size of the goal's log.
    #[error(
        "append to goal {goal:?} at index {index} refused: the log holds {size} entries, \
         so the next index must be {size}"
    )]
    NonDenseAppend {
        /// Goal id.
        goal: String,
        /// Index the caller asked for.
        index: u64,
        /// Entries stored (and so the only acceptable next index).
        size: u64,
    },
    /// A write that names a goal that was never stored with `put_goal`.
    #[error("goal {goal:?} is not in the store; publish it with put_goal first")]
    UnknownGoal {
        /// Goal id.
        goal: String,
    },
    /// A second, different spec for a goal id that already has one.
    #[error("goal {goal:?} is already stored with a different spec; goal specs are immutable")]
    GoalConflict {
        /// Goal id.
        goal: String,
    },
    /// More goals than the 32-bit goal number can hold.
    #[error("the store already holds 2^32 goals, the most it can number")]
    TooManyGoals,
    /// A goal id the store cannot key on.
    #[error("goal id {goal:?} is invalid: {reason}")]
    InvalidGoalId {
        /// The offending id.
        goal: String,
        /// Why.
        reason: &'static str,
    },
    /// Blob bytes that do not hash to the key they were offered under.
    #[error("blob refused: content hashes to sha256:{actual}, not the claimed sha256:{claimed}")]
    BlobHashMismatch {
        /// Hex of the hash the caller claimed.
        claimed: String,
        /// Hex of the hash of the bytes.
        actual: String,
    },
    /// Stored bytes that no longer hash to their key: the file was altered.
    #[error("stored blob sha256:{hash} is corrupt: its bytes hash to sha256:{actual}")]
    CorruptBlob {
        /// Hex of the key.
        hash: String,
        /// Hex of what the stored bytes hash to.
        actual: String,
    },
    /// A checkpoint for more entries than the log holds.
    #[error(
        "checkpoint of goal {goal:?} at size {size} refused: the log holds only {log_size} entries"
    )]
    CheckpointBeyondLog {
        /// Goal id.
        goal: String,
        /// Size the checkpoint claims.
        size: u64,
        /// Entries stored.
        log_size: u64,
    },
    /// A second, different checkpoint at a size that already has one.
    #[error(
        "a different checkpoint of goal {goal:?} at size {size} is already stored; checkpoints are never replaced"
    )]
    CheckpointConflict {
        /// Goal id.
        goal: String,
        /// Tree size.
        size: u64,
    },
    /// A value over one of the configured size limits.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes (set {env} to change it)")]
    TooLarge {
        /// Kind of value.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit in force.
        limit: usize,
        /// The environment variable that sets the limit.
        env: &'static str,
    },
    /// A read range with start after end.
    #[error("invalid range {start}..{end}: start is after end")]
    InvalidRange {
        /// First index asked for.
        start: u64,
        /// One past the last index asked for.
        end: u64,
    },
    /// The write queue is full: shed load instead of blocking forever.
    #[error(
        "store is busy: {capacity} writes are already queued (IAN_STORE_QUEUE_CAPACITY); retry later"
    )]
    Busy {
        /// Queue capacity in force.
        capacity: usize,
    },
    /// A log entry missing from the middle of a goal's log: the file was altered.
    #[error("log of goal {goal:?} is corrupt: expected index {expected}, found {found}")]
    CorruptLog {
        /// Goal id.
        goal: String,
        /// Index that should come next.
        expected: u64,
        /// Index found instead.
        found: u64,
    },
    /// The writer has stopped (store closed, or its thread died).
    #[error("store is closed; the write was not accepted")]
    Closed,
    /// The transaction holding this write did not commit; nothing in it is durable.
    #[error("commit failed, so this write is not durable: {reason}")]
    CommitFailed {
        /// What redb reported for the batch.
        reason: String,
    },
    /// A configuration value from the environment that does not parse or is out of range.
    #[error("invalid store configuration {var}={value:?}: {reason}")]
    InvalidConfig {
        /// Environment variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A backup target that already exists (never overwritten).
    #[error("backup target {path} already exists; choose a new path")]
    BackupTargetExists {
        /// Target path.
        path: PathBuf,
    },
    /// File system error outside redb (backup rename, metadata).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A redb error while reading or writing.
    #[error("storage error: {0}")]
    Redb(#[from] redb::Error),
    /// The database library panicked (it does on some kinds of on-disk
    /// corruption); the store reports it instead of crashing the caller.
    #[error("the store's database library failed while {during}: {message}")]
    Panicked {
        /// What was being done.
        during: &'static str,
        /// The library's message.
        message: String,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Redb(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
