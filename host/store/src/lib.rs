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
