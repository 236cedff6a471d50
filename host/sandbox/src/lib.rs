//! IAN's deterministic WebAssembly sandbox: the only crate that touches
//! wasmtime.
//!
//! It turns untrusted component bytes into verdicts that depend only on
//! deterministic quantities (fuel, memory cap, traps): load-time validation
//! before compiling, a compiled-component cache in memory and on disk,
//! runners for harness+agent and invariant+agent with the agent in its own
//! store, a wall-clock backstop that can only ever yield `inconclusive`, and
//! typed faults with stable reason codes. See docs/SANDBOX.md.

#![warn(missing_docs)]

mod bindings;
mod cache;
mod complexity;
mod config;
mod fault;
mod goal;
mod lift;
mod pool;
mod run;
mod sandbox;
mod slots;
mod validate;
mod wasi;

pub use cache::CacheStats;
pub use complexity::{Complexity, RAW_COMPLEXITY_METRIC, RuntimeBaseline, runtime_code_hash};
pub use config::{AgentRuntime, ConfigError, Limits, SandboxConfig};
pub use fault::{AgentCall, Fault, FuelBudget, InconclusiveCause, LoadError, Role, SandboxError};
pub use goal::GoalReport;
pub use lift::{MAX_EXTRA_METRICS, MAX_METRIC_NAME_BYTES};
pub use pool::EvalPool;
pub use sandbox::{
    ABI_VERSION, AGENT_INVALID_ACTION_TAG, EvalReport, InvariantReport, LoadedAgent, LoadedHarness,
    LoadedInvariant, Metrics, PackInfo, PoolUsage, Sandbox, WASMTIME_VERSION,
};
pub use wasi::CapturedOutput;

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_can_be_shared_across_threads() {
        send_sync::<crate::Sandbox>();
        send_sync::<crate::LoadedAgent>();
        send_sync::<crate::LoadedHarness>();
        send_sync::<crate::LoadedInvariant>();
        send_sync::<crate::EvalReport>();
    }
}
