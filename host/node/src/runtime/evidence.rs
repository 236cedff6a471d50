//! Evidence of log misbehaviour, kept durably and served at
//! `/api/v1/evidence`: a fork (two checkpoints one log key signed for one
//! size with different roots), an entry that re-evaluates to other bits,
//! an entry the goal's rules refuse, entries that do not rebuild a signed
//! root.
//!
//! Each record carries the log's own signed statements (checkpoint notes, a
//! tlog-proof receipt for the entry), so `ian-host verify-evidence` can show
//! offline, with only the log's key, that the log said what the record
//! claims it said.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ian_core::checkpoint::{Receipt, SignedCheckpoint};
use ian_core::pipeline::Mismatch;
use ian_store::Store;
use serde::{Deserialize, Serialize};
use tracing::warn;

/// One evidence record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `fork` (two checkpoints of one size with different roots, both
    /// signed by the log), `reevaluation_mismatch` (an entry re-evaluates
    /// to other bits), `invalid_entry` (an entry the goal's rules refuse,
    /// e.g. a score that is not its metrics' score) or `root_mismatch` (the
    /// entries served do not rebuild the signed root).
    pub kind: String,
    /// The log.
    pub origin: String,
    /// The entry concerned, if one.
    #[serde(default)]
    pub index: Option<u64>,
    /// The log's receipt for the entry under `checkpoint`: its own signed
    /// statement of the entry's bits.
    #[serde(default)]
    pub receipt: Option<Receipt>,
    /// The checkpoint note the log sent.
    pub checkpoint: SignedCheckpoint,
    /// For a fork: the other checkpoint of the same size.
    #[serde(default)]
    pub conflicting: Option<SignedCheckpoint>,
    /// What differed, field by field.
    #[serde(default)]
    pub differences: Vec<Mismatch>,
    /// Human summary.
    pub detail: String,
    /// For data a libp2p peer served that failed a hash or root check
    /// (kind `bad_peer_data`): the peer. The log is not accused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
}

/// Where the number of evidence records is kept.
const EVIDENCE_COUNT: &str = "evidence-count";

/// The node's evidence records, in its store.
pub struct EvidenceLog {
    store: Arc<Store>,
    count: AtomicU64,
    /// One record written at a time, so the stored count never goes back.
    write: parking_lot::Mutex<()>,
}

impl EvidenceLog {
    /// The records already in `store`.
    pub fn open(store: Arc<Store>) -> Self {
        let count = store
            .meta(EVIDENCE_COUNT)
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(0);
        EvidenceLog {
            store,
            count: AtomicU64::new(count),
            write: parking_lot::Mutex::new(()),
        }
    }

    /// Records stored so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Stores a record durably (a failure is logged: evidence is never a
    /// reason to fail the request that found it).
    pub fn record(&self, ev: Evidence) {
        let _one_at_a_time = self.write.lock();
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        warn!(origin = %ev.origin, kind = %ev.kind, detail = %ev.detail, "evidence recorded");
        let json = serde_json::to_vec(&ev).unwrap_or_default();
        let stored = self
            .store
            .put_meta(&format!("evidence/{n:016}"), json)
            .and_then(|t| t.wait())
            .and_then(|()| {
                self.store
                    .put_meta(EVIDENCE_COUNT, (n + 1).to_string().into_bytes())
            })
            .and_then(|t| t.wait());
        if let Err(e) = stored {
            warn!(error = %e, "evidence not stored");
        }
    }

    /// Every record, oldest first.
    pub fn list(&self) -> Vec<Evidence> {
        let n = self.count();
        let Ok(snap) = self.store.snapshot() else {
            return Vec::new();
        };
        (0..n)
            .filter_map(|i| snap.meta(&format!("evidence/{i:016}")).ok().flatten())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }
}
