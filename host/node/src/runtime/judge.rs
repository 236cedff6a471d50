//! The adapter between `ian-sandbox` (which knows wasm, not IAN types) and
//! the `ian-core` pipeline (which knows IAN types, not wasm).
//!
//! [`SandboxEvaluator`] implements the pipeline's `Evaluator` and
//! `InvariantChecker` by really running the goal's components: the node's
//! service, `ian-host eval` and `ian-host replay` all go through it and the
//! core's `admit` -> `evaluate` -> `commit`, so there is one evaluation path.
//! Sandbox faults become the core's typed [`Failure`]s here, in one
//! exhaustive match ([`failure_of`]): a guest's fault is recorded against
//! the pack, a host's failure is inconclusive and never is.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use ian_core::pipeline::{
    Evaluation, Evaluator, Failure, FaultKind, GuestFault, Inconclusive, InconclusiveCause,
    InvariantChecker, InvariantFailure, RawMetrics, Verdict,
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

/// Code hash, and the component size limit and agent runtime it was loaded
/// under: a component refused by a pure goal may load for a goal with WASI,
/// and one loaded with WASI must never serve a pure goal.
type AgentKey = (Hash32, u64, ian_sandbox::AgentRuntime);
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

/// The one place a sandbox [`Fault`] becomes a core [`Failure`]. The match
/// is exhaustive on purpose: a new sandbox fault must be classified here,
/// as the guest's (recorded) or the host's (inconclusive), before the node
/// builds.
pub fn failure_of(f: &Fault) -> Failure {
    let kind = match f {
        Fault::AgentOutOfFuel { .. } => FaultKind::AgentOutOfFuel,
        Fault::AgentMemoryExceeded { .. } => FaultKind::AgentMemoryExceeded,
        Fault::AgentStackOverflow { .. } => FaultKind::AgentStackOverflow,
        Fault::AgentTrap { .. } => FaultKind::AgentTrap,
        Fault::AgentInvalidAction { .. } => FaultKind::AgentInvalidAction,
        Fault::AgentInvalidReturn { .. } => FaultKind::AgentInvalidReturn,
        Fault::AgentInitFailed { .. } => FaultKind::AgentInitFailed,
        Fault::ForbiddenImport { .. } => FaultKind::ForbiddenImport,
        Fault::WrongWorld { .. } => FaultKind::WrongWorld,
        Fault::NotWasm { .. } => FaultKind::NotWasm,
        Fault::ComponentTooLarge { .. } => FaultKind::ComponentTooLarge,
        Fault::HarnessFault { .. } => FaultKind::HarnessFault,
        Fault::NonFiniteMetric { .. } => FaultKind::NonFiniteMetric,
        Fault::InvariantViolated { .. } => FaultKind::InvariantViolated,
        Fault::Inconclusive { cause } => {
            let c = match cause {
                ian_sandbox::InconclusiveCause::WallBackstop { .. } => {
                    InconclusiveCause::WallBackstop
                }
                ian_sandbox::InconclusiveCause::Host { .. } => InconclusiveCause::HostError,
                ian_sandbox::InconclusiveCause::PoolBusy { .. } => InconclusiveCause::HostBusy,
            };
            return Failure::Inconclusive(Inconclusive::new(c, f.to_string()));
        }
    };
    Failure::Guest(GuestFault::new(kind, f.to_string()))
}

/// Re-runs a logged entry's pack through steps 2, 3 and 5 (code check,
/// invariants, evaluation) and compares with step 6 ([`rejudge`]): the one
/// path `replay` and a re-evaluating mirror share. An empty list means the
/// entry is reproduced bit for bit.
pub fn rejudge_entry(
    judge: &Judge,
    loaded: &LoadedGoal,
    manifest: &GoalManifest,
    pack: &AgentPack,
    code: &[u8],
    entry: &ian_core::LogEntry,
) -> Result<Vec<ian_core::pipeline::Mismatch>, ian_core::pipeline::Refusal> {
    let ev = SandboxEvaluator::new(judge, loaded, CodeSource::Bytes(code));
    let h = entry.pack_hash;
    let verdict = match ev
        .validate_code(manifest, pack, &h)
        .map_err(|f| ("structure".to_string(), f))
        .and_then(|()| {
            ev.check(manifest, pack, &h)
                .map_err(|f| (format!("invariant {}", f.invariant), f.failure))
        }) {
        Ok(()) => ev.evaluate(manifest, pack, &h),
        Err((at, f)) => match Verdict::from(f) {
            Verdict::Failed(g) => {
                Verdict::Failed(GuestFault::new(g.kind, format!("{at}: {}", g.message)))
            }
            other => other,
        },
    };
    ian_core::pipeline::rejudge(manifest, entry, verdict)
}

/// Re-runs the steps an attempt was rejected at (code, invariants,
/// evaluation, thresholds) and says where and why it is rejected now, as
/// `(step, reason code)`; `Ok(None)` when it would be accepted. What a
/// mirror compares an attempt leaf with.
pub fn rejudge_attempt(
    judge: &Judge,
    loaded: &LoadedGoal,
    manifest: &GoalManifest,
    pack: &AgentPack,
    code: &[u8],
) -> Result<Option<(u8, String)>, Inconclusive> {
    let ev = SandboxEvaluator::new(judge, loaded, CodeSource::Bytes(code));
    let h = pack.pack_hash();
    let guest = |step: u8, f: Failure| match f {
        Failure::Guest(g) => Ok(Some((step, g.kind.code().to_string()))),
        Failure::Inconclusive(i) => Err(i),
    };
    if let Err(f) = ev.validate_code(manifest, pack, &h) {
        return guest(2, f);
    }
    if let Err(f) = ev.check(manifest, pack, &h) {
        return guest(3, f.failure);
    }
    match ev.evaluate(manifest, pack, &h) {
        Verdict::Inconclusive(i) => Err(i),
        Verdict::Failed(g) => Ok(Some((5, g.kind.code().to_string()))),
        Verdict::Evaluated(e) => Ok(ian_core::pipeline::evaluation_rejection(manifest, e)
            .map(|r| (6, r.reason_code().to_string()))),
    }
}

/// Steps 2 (code), 3 (invariants) and 5 (evaluation) of one pack, as an
/// evaluation worker runs them and as a node re-runs a sampled worker
/// result: the same calls, in the same order, as [`pipeline::admit`] and
/// [`pipeline::evaluate`] make on a [`SandboxEvaluator`], so a result from
/// a worker and from the node's own pool carry the same bits.
///
/// [`pipeline::admit`]: ian_core::pipeline::admit
/// [`pipeline::evaluate`]: ian_core::pipeline::evaluate
pub fn run_stages(
    judge: &Judge,
    loaded: &LoadedGoal,
    manifest: &GoalManifest,
    pack: &AgentPack,
    code: &[u8],
) -> ian_workers::Ran {
    use ian_workers::{Outcome, Ran};
    let ev = SandboxEvaluator::new(judge, loaded, CodeSource::Bytes(code));
    let h = pack.pack_hash();
    let ended = |outcome| Ran {
        outcome,
        seeds: Vec::new(),
        fuel: 0,
    };
    if let Err(f) = ev.validate_code(manifest, pack, &h) {
        return ended(Outcome::Code(f));
    }
    if let Err(f) = ev.check(manifest, pack, &h) {
        return ended(Outcome::Invariant {
            name: f.invariant,
            failure: f.failure,
        });
    }
    let verdict = ev.evaluate(manifest, pack, &h);
    let runs = ev.runs();
    Ran {
        outcome: Outcome::Evaluated(verdict),
        seeds: seed_figures(&runs).unwrap_or_default(),
        fuel: ev.fuel().unwrap_or(0),
    }
}

/// Per-seed figures of an evaluation, or `None` when some seed has no
/// metrics (the evaluation failed part-way).
pub fn seed_figures(runs: &[SeedRun]) -> Option<Vec<ian_workers::SeedFigures>> {
    runs.iter()
        .map(|r| {
            let m = r.report.outcome.as_ref().ok()?;
            Some(ian_workers::SeedFigures {
                seed: r.seed,
                reward: m.reward,
                risk: m.risk,
                complexity: m.complexity,
                extra: m.extra.clone(),
                agent_fuel: r.report.agent_fuel,
                harness_fuel: r.report.harness_fuel,
                steps: r.report.steps,
            })
        })
        .collect()
}

/// The pipeline's evaluator and invariant checker for one contribution,
/// backed by the real sandbox. It loads the agent once (step 2), runs the
/// invariants against it (step 3) and the harness over the goal's seeds
/// (step 5), and keeps the per-seed runs for reports.
pub struct SandboxEvaluator<'a> {
    judge: &'a Judge,
    goal: &'a LoadedGoal,
    code: CodeSource<'a>,
    agent: OnceCell<Result<Arc<LoadedAgent>, Failure>>,
    runs: RefCell<Vec<SeedRun>>,
    verdict: RefCell<Option<Verdict>>,
    /// Seeds to run instead of the goal's public ones (a competition's
    /// hidden seeds, after the reveal).
    seeds: Option<Vec<u64>>,
}

impl<'a> SandboxEvaluator<'a> {
    /// An evaluator for packs of `goal` whose code comes from `code`.
    pub fn new(judge: &'a Judge, goal: &'a LoadedGoal, code: CodeSource<'a>) -> Self {
        SandboxEvaluator {
            judge,
            goal,
            code,
            agent: OnceCell::new(),
            runs: RefCell::new(Vec::new()),
            verdict: RefCell::new(None),
            seeds: None,
        }
    }

    /// The same evaluator over `seeds` instead of the goal's public seeds:
    /// the final evaluation of a competition runs the selected packs on
    /// the revealed hidden seeds through exactly this path.
    pub fn on_seeds(mut self, seeds: Vec<u64>) -> Self {
        self.seeds = Some(seeds);
        self
    }

    fn agent(&self, pack: &AgentPack) -> Result<Arc<LoadedAgent>, Failure> {
        self.agent
            .get_or_init(|| {
                self.judge
                    .agent(pack.code_hash(), &self.code, &self.goal.limits)
            })
            .clone()
    }

    /// Per-seed runs of the last evaluation (empty when it did not run).
    pub fn runs(&self) -> Vec<SeedRun> {
        self.runs.borrow().clone()
    }

    /// The verdict of the last evaluation, when it ran.
    pub fn last_verdict(&self) -> Option<Verdict> {
        self.verdict.borrow().clone()
    }

    /// Agent fuel over all seeds of the last evaluation, when it ran.
    pub fn fuel(&self) -> Option<u64> {
        let runs = self.runs.borrow();
        (!runs.is_empty()).then(|| runs.iter().map(|r| r.report.agent_fuel).sum())
    }
}

impl Evaluator for SandboxEvaluator<'_> {
    fn validate_code(
        &self,
        _goal: &GoalManifest,
        pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), Failure> {
        self.agent(pack).map(|_| ())
    }

    fn evaluate(&self, _goal: &GoalManifest, pack: &AgentPack, _pack_hash: &Hash32) -> Verdict {
        let agent = match self.agent(pack) {
            Ok(a) => a,
            Err(f) => return f.into(),
        };
        let seeds = self.seeds.as_deref().unwrap_or(&self.goal.seeds);
        let (verdict, runs) = self
            .judge
            .evaluate_seeds(self.goal, &agent, pack.params(), seeds);
        *self.runs.borrow_mut() = runs;
        *self.verdict.borrow_mut() = Some(verdict.clone());
        verdict
    }
}

impl InvariantChecker for SandboxEvaluator<'_> {
    fn check(
        &self,
        _goal: &GoalManifest,
        pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), InvariantFailure> {
        if self.goal.invariants.is_empty() {
            return Ok(());
        }
        let agent = self.agent(pack).map_err(|failure| InvariantFailure {
            invariant: self.goal.invariants[0].0.clone(),
            failure,
        })?;
        let info = PackInfo {
            metadata: pack
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            params: pack.params().to_vec(),
            code_size: agent.size(),
        };
        for (name, inv) in &self.goal.invariants {
            if let Err(f) =
                self.judge
                    .sandbox
                    .check_invariant(inv, &agent, &info, &self.goal.limits)
            {
                return Err(InvariantFailure {
                    invariant: name.clone(),
                    failure: failure_of(&f),
                });
            }
        }
        Ok(())
    }
}

/// Limits of a goal, in the sandbox's terms.
pub fn sandbox_limits(m: &GoalManifest) -> ian_sandbox::Limits {
    ian_sandbox::Limits {
        agents: match m.agents {
            ian_core::Agents::Pure => ian_sandbox::AgentRuntime::Pure,
            ian_core::Agents::Wasi => ian_sandbox::AgentRuntime::Wasi,
        },
        complexity: sandbox_complexity(&m.complexity),
        ..to_sandbox_limits(&m.limits)
    }
}

/// The goal's complexity rule in the sandbox's terms.
fn sandbox_complexity(c: &ian_core::ComplexityRule) -> ian_sandbox::Complexity {
    match c.mode {
        ian_core::ComplexityMode::Raw => ian_sandbox::Complexity::Raw,
        ian_core::ComplexityMode::Off => ian_sandbox::Complexity::Off,
        ian_core::ComplexityMode::AboveBaseline => ian_sandbox::Complexity::AboveBaseline(
            c.baselines
                .iter()
                .map(|b| ian_sandbox::RuntimeBaseline {
                    runtime_code: b.code.0,
                    act_fuel: b.act_fuel,
                })
                .collect(),
        ),
    }
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
        agents: ian_sandbox::AgentRuntime::Pure,
        complexity: ian_sandbox::Complexity::Raw,
    }
}

impl Judge {
    /// What the compiled-component cache did (compiles, their time, hits,
    /// loads that waited for the compile gate), for `/metrics`.
    pub fn cache_stats(&self) -> ian_sandbox::CacheStats {
        self.sandbox.cache_stats()
    }

    /// Instance-pool slots in use against their totals, for `/metrics`.
    pub fn pool_usage(&self) -> ian_sandbox::PoolUsage {
        self.sandbox.pool_usage()
    }

    /// Whether an agent with this code would load without compiling.
    pub fn is_compiled(&self, code_hash: &Hash32) -> bool {
        self.sandbox.is_compiled(&code_hash.0)
    }

    /// A sandbox with this configuration (the node's `[sandbox]` section).
    pub fn new(cfg: SandboxConfig, worker_stack: usize) -> Result<Self, String> {
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
            (None, _) => self.sandbox.load_harness_within(&hb, &sandbox_limits(m)),
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
                .load_invariant_within(&b, &sandbox_limits(m))
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
        src: &CodeSource<'_>,
        limits: &ian_sandbox::Limits,
    ) -> Result<Arc<LoadedAgent>, Failure> {
        let key = (code_hash, limits.max_component_bytes, limits.agents);
        if let Some(r) = self.agents.lock().get(&key) {
            return r.clone().map_err(|f| failure_of(&f));
        }
        let bytes: Vec<u8> = match src {
            CodeSource::Bytes(b) => b.to_vec(),
            CodeSource::Store(s) => match s.blob(&code_hash.0) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Err(Failure::Inconclusive(Inconclusive::new(
                        InconclusiveCause::HostError,
                        format!("agent code {code_hash} is not available on this node"),
                    )));
                }
                Err(e) => {
                    return Err(Failure::Inconclusive(Inconclusive::new(
                        InconclusiveCause::HostError,
                        format!("reading agent code {code_hash}: {e}"),
                    )));
                }
            },
        };
        let r = self
            .sandbox
            .load_agent_within(&bytes, limits)
            .map(Arc::new)
            .map_err(Fault::from);
        // Only verdicts are cached: a host failure must be retried.
        if let Err(f) = &r
            && f.is_inconclusive()
        {
            return Err(failure_of(f));
        }
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
        r.map_err(|f| failure_of(&f))
    }

    /// Evaluate over `seeds` (the goal's public ones, or the revealed
    /// hidden ones) with the sandbox's own aggregation
    /// (mean per field in seed order; complexity measured by the host as
    /// agent fuel per `act` call); the first fault is the outcome.
    pub fn evaluate_seeds(
        &self,
        g: &LoadedGoal,
        agent: &LoadedAgent,
        params: &[u8],
        seeds: &[u64],
    ) -> (Verdict, Vec<SeedRun>) {
        let report = self
            .sandbox
            .evaluate_goal(&g.harness, agent, params, &g.config, seeds, &g.limits);
        let runs: Vec<SeedRun> = report
            .runs
            .iter()
            .map(|r| SeedRun {
                seed: r.seed,
                report: r.clone(),
            })
            .collect();
        let outcome = match report.outcome {
            Ok(m) => Verdict::Evaluated(Evaluation {
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
                match failure_of(&f) {
                    Failure::Guest(g) => {
                        Verdict::Failed(GuestFault::new(g.kind, format!("{seed}{}", g.message)))
                    }
                    Failure::Inconclusive(i) => Verdict::Inconclusive(Inconclusive::new(
                        i.cause,
                        format!("{seed}{}", i.message),
                    )),
                }
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
