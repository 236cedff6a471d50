//! The adapter between `ian-sandbox` (which knows wasm, not IAN types) and
//! the `ian-core` pipeline (which knows IAN types, not wasm).
//!
//! Why precomputation: the core pipeline runs its nine steps under the
//! goal's write lock. Invariant checks and evaluation are the costly steps,
//! and they depend only on the goal and the pack, not on the log; so a
//! worker runs them first, without the lock, and hands the results to the
//! pipeline through [`Precomputed`], which implements the pipeline's
//! `Evaluator` and `InvariantChecker` by returning them. The pipeline still
//! decides, in its order: a duplicate or replayed nonce is refused before
//! the (already computed) invariant result is even looked at.

use std::collections::HashMap;
use std::sync::Arc;

use ian_core::pipeline::{
    CodeFailure, Evaluation, EvaluationFailure, Evaluator, InvariantChecker, InvariantFailure,
    RawMetrics,
};
use ian_core::{AgentPack, GoalManifest, Hash32};
use ian_sandbox::{
    EvalReport, Fault, LoadedAgent, LoadedHarness, LoadedInvariant, PackInfo, Sandbox,
    SandboxConfig,
};
use parking_lot::Mutex;

/// Where an agent's component bytes come from.
pub enum CodeSource<'a> {
    /// Sent with the submission.
    Bytes(&'a [u8]),
    /// Already in the store (content-addressed).
    Store(&'a ian_store::Store),
}

/// A goal's components, compiled and ready.
pub struct LoadedGoal {
    harness: LoadedHarness,
    invariants: Vec<(String, LoadedInvariant)>,
    config: Vec<u8>,
    seeds: Vec<u64>,
    limits: ian_sandbox::Limits,
}

/// Most compiled agents kept in memory (compiled code is also cached on
/// disk by the sandbox).
const AGENT_CACHE: usize = 256;

/// Code hash and the component size limit it was loaded under.
type AgentKey = (Hash32, u64);
/// A loaded agent, or why it was refused.
type AgentLoad = Result<Arc<LoadedAgent>, Fault>;

/// The sandbox plus a cache of loaded agents by code hash.
pub struct Judge {
    sandbox: Arc<Sandbox>,
    agents: Mutex<HashMap<AgentKey, AgentLoad>>,
}

/// Per-seed outcome, for `ian-host eval`.
#[derive(Debug, Clone)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// The sandbox report.
    pub report: EvalReport,
}

/// Results of the costly steps, handed to the pipeline.
pub struct Precomputed {
    /// Step 2: whether the agent component could be loaded at all.
    code: Result<(), CodeFailure>,
    invariants: Result<(), InvariantFailure>,
    evaluation: Option<Result<Evaluation, EvaluationFailure>>,
    fuel: Option<u64>,
    /// Per-seed runs (empty when evaluation did not run).
    pub runs: Vec<SeedRun>,
}

impl Precomputed {
    /// Agent fuel over all seeds, when evaluation ran.
    pub fn fuel(&self) -> Option<u64> {
        self.fuel
    }
    /// The invariant outcome.
    pub fn invariant_result(&self) -> &Result<(), InvariantFailure> {
        &self.invariants
    }
    /// The evaluation outcome.
    pub fn evaluation_result(&self) -> Option<&Result<Evaluation, EvaluationFailure>> {
        self.evaluation.as_ref()
    }
}

impl Evaluator for Precomputed {
    fn validate_code(
        &self,
        _goal: &GoalManifest,
        _pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), CodeFailure> {
        self.code.clone()
    }

    fn evaluate(
        &self,
        _goal: &GoalManifest,
        _pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<Evaluation, EvaluationFailure> {
        match &self.evaluation {
            Some(r) => r.clone(),
            None => Err(EvaluationFailure {
                code: "inconclusive".into(),
                message: "evaluation did not run because an earlier check failed".into(),
            }),
        }
    }
}

impl InvariantChecker for Precomputed {
    fn check(
        &self,
        _goal: &GoalManifest,
        _pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), InvariantFailure> {
        self.invariants.clone()
    }
}

/// Limits of a goal, in the sandbox's terms.
pub fn sandbox_limits(m: &GoalManifest) -> ian_sandbox::Limits {
    to_sandbox_limits(&m.limits)
}

/// The goal's limits in the sandbox's terms (the sandbox does not depend on
/// the core, so the two types meet only here).
fn to_sandbox_limits(l: &ian_core::Limits) -> ian_sandbox::Limits {
    ian_sandbox::Limits {
        fuel_per_evaluation: l.fuel_per_evaluation,
        fuel_per_call: l.fuel_per_call,
        harness_fuel: l.harness_fuel,
        memory_bytes: l.memory_bytes,
        max_component_bytes: l.max_component_bytes,
        max_action_len: l.max_action_len.min(u32::MAX as u64) as u32,
        wall_backstop_ms: l.wall_backstop_ms,
    }
}

impl Judge {
    /// A sandbox configured from `IAN_SANDBOX_*` variables.
    pub fn new(worker_stack: usize) -> Result<Self, String> {
        let cfg = SandboxConfig::from_env().map_err(|e| e.to_string())?;
        if worker_stack < cfg.required_native_stack() {
            return Err(format!(
                "limits.worker_stack_bytes ({worker_stack}) is below the {} bytes the sandbox needs for its wasm stack limit",
                cfg.required_native_stack()
            ));
        }
        let sandbox = Sandbox::new(cfg).map_err(|e| e.to_string())?;
        Ok(Judge {
            sandbox: Arc::new(sandbox),
            agents: Mutex::new(HashMap::new()),
        })
    }

    /// "wasmtime 48.0.8".
    pub fn engine_version(&self) -> String {
        self.sandbox.engine_version()
    }
    /// "ian:eval@0.1.0".
    pub fn abi_version(&self) -> &'static str {
        ian_sandbox::ABI_VERSION
    }
    /// Hash of the determinism-relevant sandbox configuration.
    pub fn config_hash(&self) -> Hash32 {
        Hash32(self.sandbox.config_hash())
    }

    /// Whether the agent with this code hash is loaded (so its bytes need
    /// not be sent again).
    pub fn has_agent(&self, code_hash: &Hash32) -> bool {
        self.agents
            .lock()
            .iter()
            .any(|((h, _), r)| h == code_hash && r.is_ok())
    }

    /// Compile a goal's harness and invariants; `blob` finds bytes by hash.
    /// A goal with a dataset needs `dataset`, the materialised (verified)
    /// directory its harness is granted read-only at `/data`.
    pub fn load_goal(
        &self,
        m: &GoalManifest,
        blob: &dyn Fn(Hash32) -> Option<Vec<u8>>,
        dataset: Option<&std::path::Path>,
    ) -> Result<LoadedGoal, String> {
        let hb = blob(m.harness.component)
            .ok_or_else(|| format!("harness component {} is missing", m.harness.component))?;
        let harness = match (m.harness.dataset, dataset) {
            (None, _) => self.sandbox.load_harness(&hb),
            (Some(_), Some(dir)) => {
                self.sandbox
                    .load_harness_with_dataset(&hb, dir, &sandbox_limits(m))
            }
            (Some(h), None) => {
                return Err(format!("harness: dataset {h} is not materialised"));
            }
        }
        .map_err(|e| format!("harness: {e}"))?;
        let mut invariants = Vec::new();
        for inv in &m.invariants {
            let b = blob(inv.component).ok_or_else(|| {
                format!(
                    "invariant {} component {} is missing",
                    inv.name, inv.component
                )
            })?;
            let l = self
                .sandbox
                .load_invariant(&b)
                .map_err(|e| format!("invariant {}: {e}", inv.name))?;
            invariants.push((inv.name.clone(), l));
        }
        Ok(LoadedGoal {
            harness,
            invariants,
            config: m.harness.config.as_bytes().to_vec(),
            seeds: m.harness.seeds.clone(),
            limits: sandbox_limits(m),
        })
    }

    fn agent(
        &self,
        code_hash: Hash32,
        src: CodeSource<'_>,
        limits: &ian_sandbox::Limits,
    ) -> Result<Arc<LoadedAgent>, Fault> {
        let key = (code_hash, limits.max_component_bytes);
        if let Some(r) = self.agents.lock().get(&key) {
            return r.clone();
        }
        let bytes: Vec<u8> = match src {
            CodeSource::Bytes(b) => b.to_vec(),
            CodeSource::Store(s) => match s.blob(&code_hash.0) {
                Ok(Some(b)) => b,
                _ => {
                    return Err(Fault::NotWasm {
                        reason: "the agent code is not available on this node".into(),
                    });
                }
            },
        };
        let r = self
            .sandbox
            .load_agent_within(&bytes, limits)
            .map(Arc::new)
            .map_err(Fault::from);
        let mut cache = self.agents.lock();
        if cache.len() >= AGENT_CACHE {
            // Drop rejected loads first; they are cheap to redo.
            cache.retain(|_, v| v.is_ok());
            if cache.len() >= AGENT_CACHE
                && let Some(k) = cache.keys().next().copied()
            {
                cache.remove(&k);
            }
        }
        cache.insert(key, r.clone());
        r
    }

    /// Run the costly steps (invariants, then evaluation if they pass).
    pub fn precompute(
        &self,
        g: &LoadedGoal,
        m: &GoalManifest,
        pack: &AgentPack,
        src: CodeSource<'_>,
    ) -> Precomputed {
        if pack.params().len() as u64 > m.limits.max_params_bytes {
            // The pipeline's structure step refuses this before step 3.
            return Precomputed {
                code: Ok(()),
                invariants: Ok(()),
                evaluation: None,
                fuel: None,
                runs: Vec::new(),
            };
        }
        let agent = match self.agent(pack.code_hash(), src, &g.limits) {
            Ok(a) => a,
            Err(f) => {
                // Load-time refusal (not wasm, wrong world, forbidden import,
                // too large): the agent cannot run, so the pipeline refuses
                // it at the structure step, before any invariant.
                return Precomputed {
                    code: Err(CodeFailure {
                        code: f.reason_code().to_string(),
                        message: f.to_string(),
                    }),
                    invariants: Ok(()),
                    evaluation: None,
                    fuel: None,
                    runs: Vec::new(),
                };
            }
        };
        let info = PackInfo {
            metadata: pack
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            params: pack.params().to_vec(),
            code_size: agent.size(),
        };
        for (name, inv) in &g.invariants {
            if let Err(f) = self.sandbox.check_invariant(inv, &agent, &info, &g.limits) {
                return Precomputed {
                    code: Ok(()),
                    invariants: Err(InvariantFailure {
                        invariant: name.clone(),
                        code: f.reason_code().to_string(),
                        message: f.to_string(),
                    }),
                    evaluation: None,
                    fuel: None,
                    runs: Vec::new(),
                };
            }
        }
        let (evaluation, runs) = self.evaluate_seeds(g, &agent, pack.params());
        let fuel = runs.iter().map(|r| r.report.agent_fuel).sum::<u64>();
        Precomputed {
            code: Ok(()),
            invariants: Ok(()),
            evaluation: Some(evaluation),
            fuel: Some(fuel),
            runs,
        }
    }

    /// Evaluate over the goal's seeds with the sandbox's own aggregation
    /// (mean per field in seed order; complexity measured by the host as
    /// agent fuel per `act` call); the first fault is the outcome.
    pub fn evaluate_seeds(
        &self,
        g: &LoadedGoal,
        agent: &LoadedAgent,
        params: &[u8],
    ) -> (Result<Evaluation, EvaluationFailure>, Vec<SeedRun>) {
        let report = self
            .sandbox
            .evaluate_goal(&g.harness, agent, params, &g.config, &g.seeds, &g.limits);
        let runs: Vec<SeedRun> = report
            .runs
            .iter()
            .map(|r| SeedRun {
                seed: r.seed,
                report: r.clone(),
            })
            .collect();
        let outcome = match report.outcome {
            Ok(m) => Ok(Evaluation {
                metrics: RawMetrics {
                    reward: m.reward,
                    risk: m.risk,
                    complexity: m.complexity,
                    extra: m.extra,
                },
                fuel_used: report.agent_fuel,
                engine_version: self.engine_version(),
                config_hash: self.config_hash(),
                abi_version: self.abi_version().to_string(),
            }),
            Err(f) => {
                let seed = runs
                    .last()
                    .map(|r| format!("seed {}: ", r.seed))
                    .unwrap_or_default();
                Err(EvaluationFailure {
                    code: f.reason_code().to_string(),
                    message: format!("{seed}{f}"),
                })
            }
        };
        (outcome, runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both crates document the same default limits; a goal that sets none
    /// must get exactly the sandbox's defaults, so the two cannot drift apart.
    #[test]
    fn default_goal_limits_are_the_sandbox_default_limits() {
        assert_eq!(
            to_sandbox_limits(&ian_core::Limits::default()),
            ian_sandbox::Limits::default()
        );
    }
}
