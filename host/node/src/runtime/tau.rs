//! Tau Net wiring: the node's [`TauHooks`] served by the Tau bridge.
//!
//! The node calls [`TauHooks`] at the three moments that matter on chain:
//! a goal is published (goal-registration tx), the log grows (log-commit tx
//! with the signed checkpoint, batched by entries or time), and the top
//! entry changes (upgrade tx with the new active policy hash). Hooks must
//! not block: contribution processing never waits on the network.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ian_core::checkpoint::SignedCheckpoint;
use ian_core::{GoalManifest, Hash32};
use ian_tau::bridge::{
    BridgeConfig, CheckpointVerifier, PendingStore, StoreError as PendingStoreError, TauBridge,
    TauEvent,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tracing::warn;

use crate::runtime::metrics::Sample;
use crate::runtime::service::{Node, TauHooks};

/// The bridge's queue and state, kept in the node's store (table of pending
/// Tau transactions), so nothing is lost across restarts.
pub struct StorePending {
    store: Arc<ian_store::Store>,
}

impl StorePending {
    /// Back the bridge with this store.
    pub fn new(store: Arc<ian_store::Store>) -> Self {
        StorePending { store }
    }
}

impl PendingStore for StorePending {
    fn put(&self, id: u64, bytes: &[u8]) -> Result<(), PendingStoreError> {
        self.store
            .put_pending_tau(id, bytes.to_vec())
            .and_then(|t| t.wait())
            .map_err(|e| PendingStoreError(e.to_string()))
    }
    fn remove(&self, id: u64) -> Result<(), PendingStoreError> {
        self.store
            .remove_pending_tau(id)
            .and_then(|t| t.wait())
            .map(|_| ())
            .map_err(|e| PendingStoreError(e.to_string()))
    }
    fn list(&self) -> Result<Vec<(u64, Vec<u8>)>, PendingStoreError> {
        self.store
            .pending_tau()
            .map_err(|e| PendingStoreError(e.to_string()))
    }
}

/// Answers the bridge's questions from the node's own log and key.
struct NodeVerifier {
    node: Weak<Node>,
}

impl CheckpointVerifier for NodeVerifier {
    fn signature_ok(&self, goal_id: &str, size: u64, root: &[u8; 32], signature: &[u8]) -> bool {
        let Some(node) = self.node.upgrade() else {
            return false;
        };
        let Ok(snap) = node.store().snapshot() else {
            return false;
        };
        let Ok(Some(bytes)) = snap.checkpoint(goal_id, size) else {
            return false;
        };
        let Ok(cp) = SignedCheckpoint::from_canonical_bytes(&bytes) else {
            return false;
        };
        let Ok(g) = node.goal(goal_id) else {
            return false;
        };
        let log = g.log.verifier();
        cp.checkpoint.root.0 == *root
            && cp.signature_by(&log) == Some(signature)
            && cp.verify(&log).is_ok()
    }

    fn consistent(
        &self,
        goal_id: &str,
        old_size: u64,
        old_root: &[u8; 32],
        new_size: u64,
        new_root: &[u8; 32],
    ) -> bool {
        let Some(node) = self.node.upgrade() else {
            return false;
        };
        let Ok(g) = node.goal(goal_id) else {
            return false;
        };
        let st = g.state.read();
        let mmr = st.mmr();
        if new_size > mmr.size() || old_size > new_size {
            return false;
        }
        let Ok(new) = mmr.root_at(new_size) else {
            return false;
        };
        if new.0 != *new_root {
            return false;
        }
        if old_size == 0 {
            return true;
        }
        let (Ok(old), Ok(proof)) = (
            mmr.root_at(old_size),
            mmr.consistency_proof(old_size, new_size),
        ) else {
            return false;
        };
        old.0 == *old_root
            && ian_core::verify_consistency(old_size, &old, new_size, &new, &proof).is_ok()
    }
}

struct GoalClock {
    notified_size: u64,
    notified_at: Instant,
    latest: Option<SignedCheckpoint>,
}

/// The node's Tau wiring over `ian_tau::bridge::TauBridge`.
pub struct BridgeWiring {
    bridge: TauBridge,
    every_entries: u64,
    every: Duration,
    goals: Mutex<BTreeMap<String, GoalClock>>,
}

impl BridgeWiring {
    /// Start the bridge (inside a tokio runtime) with the node's `[tau]`
    /// settings, all of them from the node's one configuration table.
    pub fn start(node: &Arc<Node>) -> Result<Arc<BridgeWiring>, String> {
        let t = node.config().tau.clone();
        let (every_entries, every_secs) = (t.commit_every_entries, t.commit_every_secs);
        let lookup = move |k: &str| -> Option<String> {
            match k {
                "IAN_TAU_ENDPOINT" => Some(t.endpoint.clone()),
                "IAN_TAU_KEY_FILE" => Some(t.key_file.clone()),
                "IAN_TAU_NETWORK_ID" => Some(t.network_id.clone()),
                "IAN_TAU_COMMIT_EVERY_ENTRIES" => Some(t.commit_every_entries.to_string()),
                "IAN_TAU_COMMIT_EVERY_SECS" => Some(t.commit_every_secs.to_string()),
                "IAN_TAU_FEE_LIMIT" => Some(t.fee_limit.to_string()),
                "IAN_TAU_TX_TTL_SECS" => Some(t.tx_ttl_secs.to_string()),
                "IAN_TAU_POLL_MS" => Some(t.poll_ms.to_string()),
                "IAN_TAU_BINDING_FILE" => Some(t.binding_file.clone()),
                "IAN_TAU_ALLOW_KEY_REUSE" => Some(t.allow_key_reuse.to_string()),
                _ => None,
            }
        };
        let cfg = BridgeConfig::from_lookup(lookup)
            .map_err(|e| e.to_string())?
            .ok_or("tau.endpoint is empty")?;
        let store: Arc<dyn PendingStore> = Arc::new(StorePending {
            store: node.store().clone(),
        });
        let verifier = Arc::new(NodeVerifier {
            node: Arc::downgrade(node),
        });
        let bridge = TauBridge::start(cfg, store, verifier).map_err(|e| e.to_string())?;
        let w = Arc::new(BridgeWiring {
            bridge,
            every_entries,
            every: Duration::from_secs(every_secs),
            goals: Mutex::new(BTreeMap::new()),
        });
        // Goals already registered are known to the bridge's persisted
        // state; re-announcing is idempotent (AlreadyKnown).
        for g in node.goal_list() {
            w.goal_published(&g.manifest);
        }
        let weak = Arc::downgrade(&w);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(w) = weak.upgrade() else { break };
                w.flush_due(false);
            }
        });
        Ok(w)
    }

    fn notify(&self, ev: TauEvent) {
        match self.bridge.notify(ev) {
            Ok(_) => {}
            Err(e) => warn!(error = %e, "Tau bridge refused an event"),
        }
    }

    fn checkpoint_event(cp: &SignedCheckpoint) -> TauEvent {
        TauEvent::CheckpointSigned {
            goal_id: cp.checkpoint.goal_id().to_string(),
            size: cp.checkpoint.size,
            root: cp.checkpoint.root.0,
            // The log's note signature: the first line, which the node
            // signs (witness cosignatures are added after it).
            signature: cp
                .note
                .signatures
                .first()
                .map(|s| s.signature.clone())
                .unwrap_or_default(),
        }
    }

    /// Hand the latest checkpoint of each goal to the bridge when enough
    /// entries or time have passed (`force` ignores the time).
    fn flush_due(&self, force: bool) {
        let mut due = Vec::new();
        {
            let mut goals = self.goals.lock();
            for c in goals.values_mut() {
                let Some(cp) = &c.latest else { continue };
                let grew = cp.checkpoint.size > c.notified_size;
                if grew
                    && (force
                        || cp.checkpoint.size - c.notified_size >= self.every_entries
                        || c.notified_at.elapsed() >= self.every)
                {
                    c.notified_size = cp.checkpoint.size;
                    c.notified_at = Instant::now();
                    due.push(cp.clone());
                }
            }
        }
        for cp in due {
            self.notify(Self::checkpoint_event(&cp));
        }
    }
}

impl TauHooks for BridgeWiring {
    fn goal_published(&self, manifest: &GoalManifest) {
        self.notify(TauEvent::GoalRegistered {
            goal_id: manifest.id.as_str().to_string(),
            goal_hash: manifest.goal_hash().0,
        });
    }

    fn entry_appended(&self, goal: &str, checkpoint: &SignedCheckpoint, new_top: Option<Hash32>) {
        let notify_now = {
            let mut goals = self.goals.lock();
            let c = goals.entry(goal.to_string()).or_insert_with(|| GoalClock {
                notified_size: 0,
                notified_at: Instant::now(),
                latest: None,
            });
            c.latest = Some(checkpoint.clone());
            // A new top entry needs a committed checkpoint covering it
            // before the upgrade can go out, so commit it now.
            if new_top.is_some()
                || checkpoint.checkpoint.size - c.notified_size >= self.every_entries
            {
                c.notified_size = checkpoint.checkpoint.size;
                c.notified_at = Instant::now();
                true
            } else {
                false
            }
        };
        if notify_now {
            self.notify(Self::checkpoint_event(checkpoint));
        }
        if let Some(policy) = new_top {
            self.notify(TauEvent::TopEntryChanged {
                goal_id: goal.to_string(),
                policy_hash: policy.0,
                entry_index: checkpoint.checkpoint.size - 1,
            });
        }
    }

    fn goal_status(&self, goal: &str) -> Value {
        let st = self.bridge.status();
        serde_json::to_value(st.goals.get(goal)).unwrap_or(Value::Null)
    }

    fn status(&self) -> Value {
        let st = self.bridge.status();
        let goals: Vec<Value> = st
            .goals
            .iter()
            .map(|(id, g)| {
                json!({
                    "goal": id,
                    "registered": g.registered_hash.is_some(),
                    "committed_size": g.last_committed.as_ref().map(|c| c.size),
                    "committed_root": g.last_committed.as_ref().map(|c| hex::encode(c.root)),
                    "active_policy": g.active_policy,
                    "latest_checkpoint_size": g.latest_checkpoint_size,
                })
            })
            .collect();
        json!({
            "enabled": true,
            "endpoint": st.endpoint,
            "network_id": st.network_id,
            "public_key": st.public_key,
            "pending": st.pending,
            "in_flight": st.in_flight,
            "last_error": st.last_error,
            "counters": st.counters,
            "goals": goals,
            "pending_txs": serde_json::to_value(self.bridge.pending()).unwrap_or(Value::Null),
        })
    }

    fn pending_count(&self) -> u64 {
        self.bridge.status().pending as u64
    }

    fn samples(&self) -> Vec<Sample> {
        let st = self.bridge.status();
        let c = &st.counters;
        let mut out = vec![
            Sample::gauge(
                "ian_tau_pending_txs",
                "Tau transactions waiting to be sent or confirmed.",
                st.pending as f64,
            ),
            Sample::counter(
                "ian_tau_sent",
                "Tau transactions admitted by the node.",
                c.sent,
            ),
            Sample::counter(
                "ian_tau_confirmed",
                "Tau transactions found in a block.",
                c.confirmed,
            ),
            Sample::counter(
                "ian_tau_failed",
                "Tau transactions dropped after a permanent refusal.",
                c.failed,
            ),
            Sample::counter(
                "ian_tau_retried",
                "Retries of Tau transactions (transport, busy, re-sign).",
                c.retried,
            ),
            Sample::counter(
                "ian_tau_rule_rejected",
                "Events refused by the rule pre-check.",
                c.rule_rejected,
            ),
            Sample::gauge(
                "ian_tau_last_error",
                "1 if the last attempt failed.",
                f64::from(u8::from(st.last_error.is_some())),
            ),
        ];
        for (goal, g) in &st.goals {
            if let Some(cp) = &g.last_committed {
                out.push(Sample {
                    labels: vec![("goal", goal.clone())],
                    ..Sample::gauge(
                        "ian_tau_committed_size",
                        "Log size of the last checkpoint confirmed on Tau.",
                        cp.size as f64,
                    )
                });
            }
        }
        out
    }
}
