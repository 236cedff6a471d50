//! ian-store: the durable embedded store of an IAN node.
//!
//! One redb file holds goals, content-addressed blobs, the per-goal
//! append-only logs, signed checkpoints, pending Tau transactions and node
//! metadata. The store is byte-oriented: it never parses what it keeps, so
//! the canonical encodings stay in `ian-core` alone.
//!
//! The contract that matters: a write is *acknowledged* (its [`Ticket`]
//! resolves `Ok`) only after the redb transaction that holds it has been
//! committed with fsync. Writes are grouped so that many share one fsync.
//! See docs/STORE.md for the file layout, limits and measured numbers.
//!
//! ```
//! use ian_store::{Store, StoreConfig, StoreError};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open_with(dir.path().join("ian.redb"), StoreConfig::default())?;
//! store.put_goal("trading-v1", b"goal spec bytes".to_vec())?.wait()?;
//! // Queue two appends without waiting; each ticket resolves after its fsync.
//! let a = store.append("trading-v1", 0, b"entry 0".to_vec())?;
//! let b = store.append("trading-v1", 1, b"entry 1".to_vec())?;
//! assert_eq!((a.wait()?, b.wait()?), (0, 1));
//! // Index 5 would leave a gap: refused, nothing written.
//! let gap = store.append("trading-v1", 5, b"entry 5".to_vec())?.wait();
//! assert!(matches!(gap, Err(StoreError::NonDenseAppend { index: 5, size: 2, .. })));
//! // Replay, as a node does on start.
//! for item in store.entries("trading-v1", 0..2)? {
//!     let (index, bytes) = item?;
//!     assert_eq!(bytes, format!("entry {index}").into_bytes());
//! }
//! # Ok::<(), StoreError>(())
//! ```

#![warn(missing_docs)]

mod config;
mod error;
mod store;
mod tables;
mod ticket;
mod writer;

pub use config::{MAX_GOAL_ID_BYTES, StoreConfig};
pub use error::StoreError;
pub use store::{Entries, GoalSize, Hash32, Snapshot, Store, StoreStats, WritePause, sha256};
pub use tables::SCHEMA_VERSION;
pub use ticket::Ticket;
