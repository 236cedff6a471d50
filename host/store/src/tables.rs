//! Table definitions and the schema version. The byte layout of every key
//! and value is written down in docs/STORE.md; change it only together with
//! [`SCHEMA_VERSION`].

use redb::TableDefinition;

/// Version of the table layout below. A store written with another version
/// is refused on open with `StoreError::SchemaMismatch`.
///
/// Version 2: checkpoint values are c2sp.org/tlog-checkpoint notes over RFC
/// 6962 roots (version 1 held IAN's own binary checkpoints); a version-1
/// store must be rebuilt.
pub const SCHEMA_VERSION: u32 = 2;

/// Key in [`META`] under which the schema version is kept (u32 little-endian).
pub(crate) const SCHEMA_KEY: &str = "schema_version";

/// Store-internal metadata: `schema_version`.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("ian_meta");
/// Node metadata the node reads and writes (key id, settings, ...).
pub(crate) const NODE_KV: TableDefinition<&str, &[u8]> = TableDefinition::new("node_kv");
/// Goal id -> goal spec bytes, immutable once stored.
pub(crate) const GOALS: TableDefinition<&str, &[u8]> = TableDefinition::new("goals");
/// Goal id -> (goal number, log size). The number, assigned densely from 0 in
/// publication order, keys the log and checkpoints so that every entry key is
/// 12 fixed bytes whatever the id's length.
pub(crate) const GOAL_INDEX: TableDefinition<&str, (u32, u64)> = TableDefinition::new("goal_index");
/// (goal number, log index) -> log entry bytes.
pub(crate) const LOG: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("log");
/// (goal number, tree size) -> signed checkpoint bytes.
pub(crate) const CHECKPOINTS: TableDefinition<(u32, u64), &[u8]> =
    TableDefinition::new("checkpoints");
/// sha256 of the bytes -> bytes.
pub(crate) const BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs");
/// Pending Tau transaction id -> transaction bytes.
pub(crate) const PENDING_TAU: TableDefinition<u64, &[u8]> = TableDefinition::new("pending_tau");
