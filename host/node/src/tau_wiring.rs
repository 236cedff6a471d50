//! Tau Net wiring: what the node tells the Tau bridge, and the `tau` CLI.
//!
//! The node calls [`TauHooks`] at the three moments that matter on chain:
//! a goal is published (goal-registration tx), the log grows (log-commit tx
//! with the signed checkpoint, batched by entries or time), and the top
//! entry changes (upgrade tx with the new active policy hash). Hooks must
//! not block: contribution processing never waits on the network.

use std::path::Path;
use std::sync::Arc;

use ian_core::checkpoint::SignedCheckpoint;
use ian_core::{GoalManifest, Hash32};
use serde_json::{Value, json};

use crate::commands::CommandError;

/// What the node reports to the Tau side. Implementations queue work and
/// return at once.
pub trait TauHooks: Send + Sync {
    /// A goal was published and is durable.
    fn goal_published(&self, manifest: &GoalManifest);
    /// An entry was appended; `new_top` is the pack hash of a new rank-1 entry.
    fn entry_appended(&self, goal: &str, checkpoint: &SignedCheckpoint, new_top: Option<Hash32>);
    /// Per-goal status for `GET /api/v1/goals/{goal}`.
    fn goal_status(&self, goal: &str) -> Value;
    /// Whole status for `GET /api/v1/tau`.
    fn status(&self) -> Value;
    /// Transactions persisted and not yet confirmed.
    fn pending_count(&self) -> u64;
}

/// Shared handle.
pub type TauWiring = dyn TauHooks;

/// Handle type stored by the node.
pub type TauHandle = Arc<TauWiring>;

/// `ian-host tau keygen`.
pub fn keygen(out: &Path, force: bool) -> Result<Value, CommandError> {
    if force && out.exists() {
        std::fs::remove_file(out).map_err(|e| CommandError::File { path: out.to_path_buf(), message: e.to_string() })?;
    }
    let info = ian_tau::keygen(out).map_err(|e| CommandError::Usage(format!("tau keygen: {e}")))?;
    Ok(json!({"file": info.path, "public_key": info.public_key}))
}

/// Human text for `ian-host tau status`.
pub fn render_status(v: &Value) -> String {
    if v["enabled"].as_bool() != Some(true) {
        return "Tau commitments are off (set IAN_TAU_ENDPOINT and IAN_TAU_KEY_FILE on the node to enable them)".into();
    }
    let mut o = format!("Tau endpoint {}  pending transactions: {}\n", v["endpoint"].as_str().unwrap_or(""), v["pending"]);
    for g in v["goals"].as_array().into_iter().flatten() {
        o.push_str(&format!(
            "  {:<24} registered={} last committed size={} root={}\n",
            g["goal"].as_str().unwrap_or(""),
            g["registered"],
            g["committed_size"],
            g["committed_root"].as_str().unwrap_or("-")
        ));
    }
    o.trim_end().to_string()
}
