//! Every limit and knob of the store, with its default and environment override.

use crate::error::StoreError;

/// Settings of one open store. `Default` gives the documented defaults;
/// [`StoreConfig::from_lookup`] applies `IAN_STORE_*` overrides on top.
///
/// All limits exist so that bad input or overload gives a typed error
/// (`TooLarge`, `Busy`) instead of unbounded memory or a hang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Writes that may wait for the writer thread. A submission beyond this
    /// gets `StoreError::Busy` at once. Default 65,536; env `IAN_STORE_QUEUE_CAPACITY`.
    pub queue_capacity: usize,
    /// Most writes committed by one transaction (one fsync). Larger batches
    /// amortise the fsync; smaller ones bound the latency of the first write.
    /// Default 8,192; env `IAN_STORE_MAX_BATCH`.
    pub max_batch: usize,
    /// Most payload bytes committed by one transaction; a single larger write
    /// still commits, alone. Default 16 MiB; env `IAN_STORE_MAX_BATCH_BYTES`.
    pub max_batch_bytes: usize,
    /// Page cache redb may use. Default 64 MiB; env `IAN_STORE_CACHE_BYTES`.
    pub cache_bytes: usize,
    /// Largest log entry, checkpoint, goal spec, pending Tau transaction or
    /// metadata value. Default 1 MiB; env `IAN_STORE_MAX_VALUE_BYTES`.
    pub max_value_bytes: usize,
    /// Largest blob (e.g. a component). Default 64 MiB; env `IAN_STORE_MAX_BLOB_BYTES`.
    pub max_blob_bytes: usize,
    /// Save redb's allocator state in every commit (two-phase commit) so that
    /// reopening after a crash needs no full-file repair walk. Costs commit
    /// time; see docs/STORE.md for the measured trade. Default false;
    /// env `IAN_STORE_QUICK_REPAIR` (`1`/`true`/`0`/`false`).
    pub quick_repair: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            queue_capacity: 65_536,
            max_batch: 8_192,
            max_batch_bytes: 16 << 20,
            cache_bytes: 64 << 20,
            max_value_bytes: 1 << 20,
            max_blob_bytes: 64 << 20,
            quick_repair: false,
        }
    }
}

/// Largest goal id the store keys on, in bytes (ids are short slugs).
pub const MAX_GOAL_ID_BYTES: usize = 128;

impl StoreConfig {
    /// Defaults overridden by the `IAN_STORE_*` settings that `lookup`
    /// returns. The library never reads the process environment: the
    /// embedding program (the node's configuration table) supplies them.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StoreError> {
        let mut c = StoreConfig::default();
        let size = |var: &'static str, slot: &mut usize| -> Result<(), StoreError> {
            if let Some(v) = lookup(var) {
                let n: usize = v.trim().parse().map_err(|_| StoreError::InvalidConfig {
                    var,
                    value: v.clone(),
                    reason: "not a non-negative integer",
                })?;
                if n == 0 {
                    return Err(StoreError::InvalidConfig {
                        var,
                        value: v,
                        reason: "must be at least 1",
                    });
                }
                *slot = n;
            }
            Ok(())
        };
        size("IAN_STORE_QUEUE_CAPACITY", &mut c.queue_capacity)?;
        size("IAN_STORE_MAX_BATCH", &mut c.max_batch)?;
        size("IAN_STORE_MAX_BATCH_BYTES", &mut c.max_batch_bytes)?;
        size("IAN_STORE_CACHE_BYTES", &mut c.cache_bytes)?;
        size("IAN_STORE_MAX_VALUE_BYTES", &mut c.max_value_bytes)?;
        size("IAN_STORE_MAX_BLOB_BYTES", &mut c.max_blob_bytes)?;
        if let Some(v) = lookup("IAN_STORE_QUICK_REPAIR") {
            c.quick_repair = match v.trim() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => {
                    return Err(StoreError::InvalidConfig {
                        var: "IAN_STORE_QUICK_REPAIR",
                        value: v,
                        reason: "expected 1, true, 0 or false",
                    });
                }
            };
        }
        // redb refuses values over 3 GiB; keep both limits under that.
        const REDB_MAX: usize = 3 << 30;
        if c.max_blob_bytes > REDB_MAX {
            return Err(StoreError::InvalidConfig {
                var: "IAN_STORE_MAX_BLOB_BYTES",
                value: c.max_blob_bytes.to_string(),
                reason: "redb stores values of at most 3 GiB",
            });
        }
        if c.max_value_bytes > REDB_MAX {
            return Err(StoreError::InvalidConfig {
                var: "IAN_STORE_MAX_VALUE_BYTES",
                value: c.max_value_bytes.to_string(),
                reason: "redb stores values of at most 3 GiB",
            });
        }
        Ok(c)
    }
}
