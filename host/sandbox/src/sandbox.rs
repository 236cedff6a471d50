//! The sandbox: one wasmtime engine, its linkers, the component cache and the
//! wall-clock ticker, plus the load and evaluate entry points.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::bindings::agent::AgentPackPre;
use crate::bindings::agent::ian::eval::types as wit;
use crate::bindings::harness::{GoalHarness, GoalHarnessPre};
use crate::bindings::invariant::{GoalInvariant, GoalInvariantPre};
use crate::cache::{CacheStats, ComponentCache, Counters, Lru, compatibility_digest};
use crate::config::{AgentRuntime, Limits, SandboxConfig};
use crate::fault::{Fault, InconclusiveCause, LoadError, Role, SandboxError};
use crate::lift::{GuestText, HarnessMetrics};
use crate::run::{
    AgentExports, AgentLimits, AgentSlot, AgentState, AgentWasi, Deadline, EpochClock, HostState,
    MemCap, Phase, harness_outcome_from_error,
};
use crate::validate::{Shape, check_shape, prevalidate, required_export};
use crate::wasi::{CapturedOutput, WasiParts};

/// The WIT package version every component must target; recorded in every
/// log entry next to the engine version and config hash.
pub const ABI_VERSION: &str = "ian:eval@0.1.0";

/// The exact wasmtime release compiled in. Fuel counts depend on it, which is
/// why it is pinned with `=` in the workspace and recorded with results.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Version of the host-side semantics (fuel accounting, complexity, fault
/// mapping). Part of the config hash: a change here changes recorded
/// numbers even when wasmtime does not. 3: any guest may import
/// `ian:diagnostics/panic`, a harness may blame the agent with
/// `agent_invalid_action`, reported panic messages join trap faults.
const HOST_SEMANTICS: &str = "ian-sandbox/3";

/// Scores produced by a harness. `complexity` is set by the host to the mean
/// agent fuel per `act` call, whatever the harness reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Goal-defined reward (higher is better).
    pub reward: f64,
    /// Goal-defined risk (lower is better).
    pub risk: f64,
    /// Mean agent fuel per `act` call (0 when the agent was never asked).
    pub complexity: f64,
    /// Further named scores, in the harness's order.
    pub extra: Vec<(String, f64)>,
}

/// Everything one evaluation produced. All fields are deterministic for a
/// given (components, params, config, seed, limits, config hash), except
/// when the outcome is `inconclusive`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Metrics, or the first fault.
    pub outcome: Result<Metrics, Fault>,
    /// The seed passed to `evaluate`.
    pub seed: u64,
    /// All agent fuel: instantiation, `init` (incl. after resets) and `act`.
    pub agent_fuel: u64,
    /// The part of `agent_fuel` spent instantiating and in `init`.
    pub agent_init_fuel: u64,
    /// Fuel of each `act` call, in order.
    pub agent_fuel_per_step: Vec<u64>,
    /// Fuel used by the harness's own code.
    pub harness_fuel: u64,
    /// Number of `act` calls the host served.
    pub steps: u64,
    /// Number of `policy.reset` calls served.
    pub resets: u32,
    /// What a WASI harness printed (`None` for harnesses without WASI).
    pub output: Option<CapturedOutput>,
}

/// What an invariant may inspect about a pack (mirrors WIT `pack-info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackInfo {
    /// Metadata pairs of the pack.
    pub metadata: Vec<(String, String)>,
    /// Parameter bytes; the agent is initialised with them when probed.
    pub params: Vec<u8>,
    /// Size of the agent component in bytes.
    pub code_size: u64,
}

/// Outcome of one invariant check, with fuel figures.
#[derive(Debug, Clone, PartialEq)]
pub struct InvariantReport {
    /// `Ok` when the invariant holds; otherwise `invariant_violated` or the
    /// fault that stopped the check.
    pub outcome: Result<(), Fault>,
    /// Agent fuel spent while being probed.
    pub agent_fuel: u64,
    /// Fuel used by the invariant's own code.
    pub invariant_fuel: u64,
    /// Number of `act` calls the invariant made.
    pub steps: u64,
}

/// Slots of the instance pool in use now, each as (in use, total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Core module instances.
    pub core_instances: (u64, u32),
    /// Linear memories.
    pub memories: (u64, u32),
    /// Tables.
    pub tables: (u64, u32),
    /// Component instances.
    pub component_instances: (u64, u32),
}

/// A validated, compiled agent, ready to instantiate in microseconds.
#[derive(Clone)]
pub struct LoadedAgent {
    pre: AgentPackPre<AgentState>,
    exports: AgentExports,
    code_hash: [u8; 32],
    size: u64,
    /// Loaded for a goal with `agents = "wasi"`: bound to the WASI linker,
    /// and its stores get a deterministic WASI context.
    wasi: bool,
    /// [`crate::runtime_code_hash`] of the bytes: which runtime's baseline
    /// a goal counting complexity above baselines subtracts.
    runtime_code: Option<[u8; 32]>,
}

/// A validated, compiled harness, with its WASI grant (if any) bound in.
#[derive(Clone)]
pub struct LoadedHarness {
    pre: GoalHarnessPre<HostState>,
    evaluate: ComponentExportIndex,
    code_hash: [u8; 32],
    size: u64,
    dataset: Option<Arc<PathBuf>>,
}

/// A validated, compiled invariant.
#[derive(Clone)]
pub struct LoadedInvariant {
    pre: GoalInvariantPre<HostState>,
    check: ComponentExportIndex,
    code_hash: [u8; 32],
    size: u64,
}

macro_rules! loaded_accessors {
    ($t:ty) => {
        impl $t {
            /// sha256 of the component bytes.
            pub fn code_hash(&self) -> [u8; 32] {
                self.code_hash
            }

            /// Size of the component bytes.
            pub fn size(&self) -> u64 {
                self.size
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("code_hash", &hex::encode(self.code_hash))
                    .field("size", &self.size)
                    .finish()
            }
        }
    };
}
loaded_accessors!(LoadedAgent);
loaded_accessors!(LoadedHarness);
loaded_accessors!(LoadedInvariant);

impl LoadedAgent {
    /// Which language runtime the agent carries, by
    /// [`crate::runtime_code_hash`]: what `ian-host goal baseline` records.
    pub fn runtime_code(&self) -> Option<[u8; 32]> {
        self.runtime_code
    }
}

impl LoadedHarness {
    /// The dataset directory mounted read-only at `/data`, if granted.
    pub fn dataset(&self) -> Option<&Path> {
        self.dataset.as_deref().map(PathBuf::as_path)
    }
}

#[derive(Clone)]
enum Prepared {
    Agent(AgentPackPre<AgentState>, AgentExports, Option<[u8; 32]>),
    Harness(GoalHarnessPre<HostState>, ComponentExportIndex),
    Invariant(GoalInvariantPre<HostState>, ComponentExportIndex),
}

/// Where function `func` of the role's exported interface is.
fn func_index(
    component: &Component,
    role: Role,
    func: &str,
) -> Result<ComponentExportIndex, Fault> {
    let iface = required_export(role);
    component
        .get_export_index(None, iface)
        .and_then(|i| component.get_export_index(Some(&i), func))
        .ok_or_else(|| Fault::WrongWorld {
            role,
            reason: format!("`{iface}` does not export `{func}`"),
        })
}

struct Inner {
    engine: Engine,
    config: SandboxConfig,
    config_hash: [u8; 32],
    agent_linker: Linker<AgentState>,
    wasi_agent_linker: Linker<AgentState>,
    harness_linker: Linker<HostState>,
    dataset_linker: Linker<HostState>,
    invariant_linker: Linker<HostState>,
    cache: ComponentCache,
    slots: crate::slots::SlotWaiters,
    prepared: Mutex<Lru<(Role, [u8; 32]), Prepared>>,
    clock: Arc<EpochClock>,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.ticker.lock().take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// IAN's deterministic wasm sandbox. Cheap to clone and share between
/// threads; all clones use one engine, one cache and one ticker.
///
/// `evaluate` and `check_invariant` run on the calling thread, which needs
/// a native stack of at least [`SandboxConfig::required_native_stack`]
/// (about 2 MiB with the defaults, which every Rust-spawned thread has).
/// With a larger `max_wasm_stack`, run them on [`crate::EvalPool`] workers
/// or [`Sandbox::spawn_eval_thread`] threads, which are sized from the
/// config.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("engine_version", &self.engine_version())
            .field("config_hash", &hex::encode(self.config_hash()))
            .finish()
    }
}

fn engine_config(c: &SandboxConfig) -> Config {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_nan_canonicalization(true)
        .wasm_simd(true)
        .wasm_relaxed_simd(false)
        .relaxed_simd_deterministic(true)
        .wasm_memory64(false)
        .wasm_component_model_error_context(false)
        .concurrency_support(false)
        .max_wasm_stack(c.max_wasm_stack)
        // wasmtime-wasi compiles in async support, whose fiber stacks must be
        // at least as large as the wasm stack (no fiber is used: calls are
        // synchronous).
        .async_stack_size(c.max_wasm_stack.saturating_add(1 << 20).max(2 << 20))
        .parallel_compilation(c.parallel_compilation);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(c.pool_component_instances)
        .total_core_instances(c.pool_core_instances)
        .total_memories(c.pool_memories)
        .total_tables(c.pool_tables)
        .max_memory_size(usize::try_from(c.pool_max_memory_bytes).unwrap_or(usize::MAX))
        .table_elements(c.max_table_elements as usize)
        .linear_memory_keep_resident(c.pool_keep_resident)
        .table_keep_resident(c.pool_keep_resident)
        .pagemap_scan(wasmtime::Enabled::Auto);
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    cfg
}

/// The canonical text of every determinism-relevant setting. Changing any
/// line changes the config hash, and therefore what a replay must match.
fn canonical_description(c: &SandboxConfig) -> String {
    format!(
        "engine=wasmtime {WASMTIME_VERSION}\n\
         host_semantics={HOST_SEMANTICS}\n\
         abi={ABI_VERSION}\n\
         component_model=true\n\
         consume_fuel=true\n\
         operator_cost=default\n\
         nan_canonicalization=true\n\
         simd=true\n\
         relaxed_simd=false\n\
         relaxed_simd_deterministic=true\n\
         threads=not-compiled\n\
         memory64=false\n\
         component_model_async=false\n\
         max_wasm_stack={}\n\
         pool_max_memory_bytes={}\n\
         max_table_elements={}\n\
         wasi_wall_clock_secs={}\n\
         wasi_monotonic_step_ns=1000000\n\
         wasi_rng=splitmix64\n\
         agent_wasi=no-preopens,no-env,sockets-denied,wall-step-ns=1000000\n\
         agent_wasi_seed=sha256(ian/agent-wasi-seed/v1,code,params,seed,resets)\n",
        c.max_wasm_stack, c.pool_max_memory_bytes, c.max_table_elements, c.wasi_wall_clock_secs
    )
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A harness or invariant trap with the panic message the guest reported
/// in front, when it reported one.
fn with_reported_panic(fault: Fault, panic: &Option<String>) -> Fault {
    match (fault, panic) {
        (Fault::HarnessFault { role, message }, Some(p)) if message.starts_with("trapped") => {
            Fault::HarnessFault {
                role,
                message: crate::run::clip(format!("{p}; {message}")),
            }
        }
        (fault, _) => fault,
    }
}

/// The prefix with which a harness blames the agent for an action it
/// refuses (wrong length, out of the goal's range), instead of reporting a
/// fault of its own. `ian_guest_sdk::agent_invalid_action` writes it.
pub const AGENT_INVALID_ACTION_TAG: &str = "ian:agent-invalid-action: ";

/// What a harness's `Err(message)` means: the agent's invalid action when
/// the harness says so (with [`AGENT_INVALID_ACTION_TAG`]) after at least
/// one action, else the harness's own fault.
fn harness_error(role: Role, message: String, slot: &crate::run::AgentSlot) -> Fault {
    match message.strip_prefix(AGENT_INVALID_ACTION_TAG) {
        Some(reason) if !slot.act_fuel.is_empty() => Fault::AgentInvalidAction {
            at: crate::fault::AgentCall::Act {
                index: slot.act_fuel.len() as u64 - 1,
            },
            reason: format!("the harness refused it: {reason}"),
        },
        _ => Fault::HarnessFault {
            role,
            message: format!("evaluate returned an error: {message}"),
        },
    }
}

fn host_fault(message: impl Into<String>) -> Fault {
    Fault::Inconclusive {
        cause: InconclusiveCause::Host {
            message: message.into(),
        },
    }
}

impl Sandbox {
    /// Builds the engine, linkers, cache and ticker. Fails on an invalid
    /// config or an unusable cache directory.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        config.validate()?;
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| SandboxError::Engine(format!("{e:#}")))?;
        let engine_err = |e: wasmtime::Error| SandboxError::Engine(format!("{e:#}"));

        let mut agent_linker = Linker::<AgentState>::new(&engine);
        // Optional for every role (ian:eval's `agent-pack-reporting` world
        // imports it); components of the plain worlds import nothing more.
        crate::run::add_panic_report(&mut agent_linker).map_err(engine_err)?;
        let mut wasi_agent_linker = Linker::<AgentState>::new(&engine);
        crate::run::add_panic_report(&mut wasi_agent_linker).map_err(engine_err)?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut wasi_agent_linker).map_err(engine_err)?;
        crate::wasi::add_virtual_sleep(&mut wasi_agent_linker).map_err(engine_err)?;
        let mut harness_linker = Linker::<HostState>::new(&engine);
        GoalHarness::add_to_linker::<HostState, HasSelf<HostState>>(&mut harness_linker, |s| s)
            .map_err(engine_err)?;
        let mut dataset_linker = Linker::<HostState>::new(&engine);
        GoalHarness::add_to_linker::<HostState, HasSelf<HostState>>(&mut dataset_linker, |s| s)
            .map_err(engine_err)?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut dataset_linker).map_err(engine_err)?;
        crate::wasi::add_virtual_sleep(&mut dataset_linker).map_err(engine_err)?;
        let mut invariant_linker = Linker::<HostState>::new(&engine);
        GoalInvariant::add_to_linker::<HostState, HasSelf<HostState>>(&mut invariant_linker, |s| s)
            .map_err(engine_err)?;
        for linker in [
            &mut harness_linker,
            &mut dataset_linker,
            &mut invariant_linker,
        ] {
            crate::run::add_panic_report(linker).map_err(engine_err)?;
        }

        let config_hash = sha256(canonical_description(&config).as_bytes());
        let compat = compatibility_digest(&engine);
        let cache = ComponentCache::new(
            config.memory_cache_entries,
            config.max_concurrent_compiles,
            config.cache_dir.as_deref(),
            config.cache_max_bytes,
            &format!("wasmtime {WASMTIME_VERSION}"),
            &config_hash,
            &compat,
        )
        .map_err(|e| SandboxError::CacheDir {
            path: config
                .cache_dir
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason: e.to_string(),
        })?;

        let clock = Arc::new(EpochClock::default());
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let clock = clock.clone();
            let stop = stop.clone();
            let tick = Duration::from_millis(config.epoch_tick_ms);
            std::thread::Builder::new()
                .name("ian-sandbox-epoch".into())
                .stack_size(64 << 10)
                .spawn(move || {
                    let start = Instant::now();
                    let mut n: u32 = 0;
                    while !stop.load(Ordering::Acquire) {
                        n = n.wrapping_add(1);
                        let next = start + tick * n;
                        loop {
                            let now = Instant::now();
                            if now >= next || stop.load(Ordering::Acquire) {
                                break;
                            }
                            std::thread::park_timeout(next - now);
                        }
                        engine.increment_epoch();
                        clock.0.fetch_add(1, Ordering::AcqRel);
                    }
                })
                .map_err(|e| SandboxError::Ticker(e.to_string()))?
        };

        Ok(Sandbox {
            inner: Arc::new(Inner {
                prepared: Mutex::new(Lru::new(config.memory_cache_entries.saturating_mul(2))),
                engine,
                config,
                config_hash,
                agent_linker,
                wasi_agent_linker,
                harness_linker,
                dataset_linker,
                invariant_linker,
                cache,
                slots: Default::default(),
                clock,
                stop,
                ticker: Mutex::new(Some(ticker)),
            }),
        })
    }

    /// `"wasmtime 48.0.8"`: recorded with every result, because fuel counts
    /// depend on it.
    pub fn engine_version(&self) -> String {
        format!("wasmtime {WASMTIME_VERSION}")
    }

    /// sha256 of the canonical description of every determinism-relevant
    /// engine setting and the engine version. Two hosts with the same hash
    /// compute the same fuel and outcomes.
    pub fn config_hash(&self) -> [u8; 32] {
        self.inner.config_hash
    }

    /// The text that [`Sandbox::config_hash`] hashes, for logs and audits.
    pub fn config_description(&self) -> String {
        canonical_description(&self.inner.config)
    }

    /// The configuration this sandbox was built with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// Whether loading code with this hash would find it compiled (in
    /// memory or on disk): a node charges compiling, not loading, to the
    /// contributor who sends new code.
    pub fn is_compiled(&self, code_hash: &[u8; 32]) -> bool {
        self.inner.cache.contains(code_hash)
    }

    /// What the compiled-component cache did so far.
    pub fn cache_stats(&self) -> CacheStats {
        use std::sync::atomic::Ordering::Relaxed;
        CacheStats {
            pool_waits: self.inner.slots.waits.load(Relaxed),
            pool_wait_micros: self.inner.slots.wait_micros.load(Relaxed),
            ..self.inner.cache.counters.snapshot()
        }
    }

    /// What the instance pool holds now against its totals, for `/metrics`.
    pub fn pool_usage(&self) -> PoolUsage {
        let c = &self.inner.config;
        let m = self.inner.engine.pooling_allocator_metrics();
        PoolUsage {
            core_instances: (
                m.as_ref().map_or(0, |m| m.core_instances()),
                c.pool_core_instances,
            ),
            memories: (
                m.as_ref().map_or(0, |m| m.memories() as u64),
                c.pool_memories,
            ),
            tables: (m.as_ref().map_or(0, |m| m.tables() as u64), c.pool_tables),
            component_instances: (
                m.as_ref().map_or(0, |m| m.component_instances()),
                c.pool_component_instances,
            ),
        }
    }

    /// Compiled components currently held in memory.
    pub fn cached_components(&self) -> usize {
        self.inner.cache.memory_len()
    }

    /// Where the compiled form of `bytes` is (or would be) stored on disk,
    /// when a disk cache is configured.
    pub fn disk_cache_path(&self, bytes: &[u8]) -> Option<PathBuf> {
        self.inner.cache.disk_path(&sha256(bytes))
    }

    /// Validates and compiles an agent, with the configured default
    /// `max_component_bytes`.
    pub fn load_agent(&self, bytes: &[u8]) -> Result<LoadedAgent, LoadError> {
        self.load_agent_within(bytes, &self.inner.config.limits)
    }

    /// Validates and compiles an agent under a goal's limits.
    pub fn load_agent_within(
        &self,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<LoadedAgent, LoadError> {
        let role = match limits.agents {
            AgentRuntime::Pure => Role::Agent,
            AgentRuntime::Wasi => Role::WasiAgent,
        };
        let (prepared, code_hash) = self.load(role, bytes, limits.max_component_bytes)?;
        match prepared {
            Prepared::Agent(pre, exports, runtime_code) => Ok(LoadedAgent {
                pre,
                exports,
                code_hash,
                size: bytes.len() as u64,
                wasi: role == Role::WasiAgent,
                runtime_code,
            }),
            _ => Err(LoadError(host_fault(
                "cache returned the wrong kind of component",
            ))),
        }
    }

    /// Validates and compiles a harness that gets no WASI at all.
    pub fn load_harness(&self, bytes: &[u8]) -> Result<LoadedHarness, LoadError> {
        self.load_harness_within(bytes, &self.inner.config.limits)
    }

    /// As [`Sandbox::load_harness`], under a goal's limits.
    pub fn load_harness_within(
        &self,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<LoadedHarness, LoadError> {
        let (prepared, code_hash) = self.load(Role::Harness, bytes, limits.max_component_bytes)?;
        match prepared {
            Prepared::Harness(pre, evaluate) => Ok(LoadedHarness {
                pre,
                evaluate,
                code_hash,
                size: bytes.len() as u64,
                dataset: None,
            }),
            _ => Err(LoadError(host_fault(
                "cache returned the wrong kind of component",
            ))),
        }
    }

    /// Validates and compiles a harness that is granted `dataset` read-only
    /// at `/data` plus deterministic WASI p2 (clocks, random, captured
    /// stdio). This is the only way a component ever gets WASI.
    pub fn load_harness_with_dataset(
        &self,
        bytes: &[u8],
        dataset: &Path,
        limits: &Limits,
    ) -> Result<LoadedHarness, LoadError> {
        let dir = dataset.canonicalize().map_err(|e| {
            LoadError(Fault::HarnessFault {
                role: Role::DatasetHarness,
                message: format!("dataset directory {}: {e}", dataset.display()),
            })
        })?;
        if !dir.is_dir() {
            return Err(LoadError(Fault::HarnessFault {
                role: Role::DatasetHarness,
                message: format!("dataset path {} is not a directory", dataset.display()),
            }));
        }
        let (prepared, code_hash) =
            self.load(Role::DatasetHarness, bytes, limits.max_component_bytes)?;
        match prepared {
            Prepared::Harness(pre, evaluate) => Ok(LoadedHarness {
                pre,
                evaluate,
                code_hash,
                size: bytes.len() as u64,
                dataset: Some(Arc::new(dir)),
            }),
            _ => Err(LoadError(host_fault(
                "cache returned the wrong kind of component",
            ))),
        }
    }

    /// Validates and compiles an invariant.
    pub fn load_invariant(&self, bytes: &[u8]) -> Result<LoadedInvariant, LoadError> {
        self.load_invariant_within(bytes, &self.inner.config.limits)
    }

    /// As [`Sandbox::load_invariant`], under a goal's limits.
    pub fn load_invariant_within(
        &self,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<LoadedInvariant, LoadError> {
        let (prepared, code_hash) =
            self.load(Role::Invariant, bytes, limits.max_component_bytes)?;
        match prepared {
            Prepared::Invariant(pre, check) => Ok(LoadedInvariant {
                pre,
                check,
                code_hash,
                size: bytes.len() as u64,
            }),
            _ => Err(LoadError(host_fault(
                "cache returned the wrong kind of component",
            ))),
        }
    }

    fn load(
        &self,
        role: Role,
        bytes: &[u8],
        max_bytes: u64,
    ) -> Result<(Prepared, [u8; 32]), LoadError> {
        let size = bytes.len() as u64;
        if size > max_bytes {
            return Err(LoadError(Fault::ComponentTooLarge {
                size,
                max: max_bytes,
            }));
        }
        let code_hash = sha256(bytes);
        if let Some(p) = self.inner.prepared.lock().get(&(role, code_hash)) {
            Counters::bump(&self.inner.cache.counters.memory_hits);
            return Ok((p, code_hash));
        }
        prevalidate(bytes, role, max_bytes).map_err(LoadError)?;
        let component = self
            .inner
            .cache
            .get_or_compile(&self.inner.engine, &code_hash, bytes)
            .map_err(LoadError)?;
        let mut prepared = self.prepare(role, &component).map_err(LoadError)?;
        if let Prepared::Agent(_, _, runtime_code) = &mut prepared {
            *runtime_code = crate::runtime_code_hash(bytes);
        }
        self.inner
            .prepared
            .lock()
            .insert((role, code_hash), prepared.clone());
        Ok((prepared, code_hash))
    }

    /// Re-checks the compiled component's imports and exports (this also
    /// covers artifacts that came from the disk cache) and binds it to the
    /// role's linker.
    fn prepare(&self, role: Role, component: &Component) -> Result<Prepared, Fault> {
        let engine = &self.inner.engine;
        let ty = component.component_type();
        let interface = ty.exports(engine).find_map(|(n, item)| match item.ty {
            ComponentItem::ComponentInstance(i) if n == required_export(role) => {
                Some(i.exports(engine).map(|(n, _)| n.to_owned()).collect())
            }
            _ => None,
        });
        let shape = Shape {
            imports: ty.imports(engine).map(|(n, _)| n.to_owned()).collect(),
            exports: ty.exports(engine).map(|(n, _)| n.to_owned()).collect(),
            interface,
        };
        check_shape(&shape, role)?;
        let wrong = |e: wasmtime::Error| Fault::WrongWorld {
            role,
            reason: crate::run::clip(format!("{e:#}")),
        };
        Ok(match role {
            Role::Agent | Role::WasiAgent => {
                let linker = match role {
                    Role::WasiAgent => &self.inner.wasi_agent_linker,
                    _ => &self.inner.agent_linker,
                };
                let pre = linker.instantiate_pre(component).map_err(wrong)?;
                let exports = AgentExports {
                    init: func_index(component, role, "init")?,
                    act: func_index(component, role, "act")?,
                };
                Prepared::Agent(AgentPackPre::new(pre).map_err(wrong)?, exports, None)
            }
            Role::Harness => {
                let pre = self
                    .inner
                    .harness_linker
                    .instantiate_pre(component)
                    .map_err(wrong)?;
                Prepared::Harness(
                    GoalHarnessPre::new(pre).map_err(wrong)?,
                    func_index(component, role, "evaluate")?,
                )
            }
            Role::DatasetHarness => {
                let pre = self
                    .inner
                    .dataset_linker
                    .instantiate_pre(component)
                    .map_err(wrong)?;
                Prepared::Harness(
                    GoalHarnessPre::new(pre).map_err(wrong)?,
                    func_index(component, role, "evaluate")?,
                )
            }
            Role::Invariant => {
                let pre = self
                    .inner
                    .invariant_linker
                    .instantiate_pre(component)
                    .map_err(wrong)?;
                Prepared::Invariant(
                    GoalInvariantPre::new(pre).map_err(wrong)?,
                    func_index(component, role, "check")?,
                )
            }
        })
    }

    /// The agent side of one run; `seed` is the evaluation's (0 where
    /// there is none: structure checks and invariants), which only an agent
    /// with WASI sees, through its RNG.
    fn agent_slot(
        &self,
        agent: &LoadedAgent,
        params: &[u8],
        limits: &Limits,
        deadline: Deadline,
        seed: u64,
    ) -> AgentSlot {
        let cfg = &self.inner.config;
        AgentSlot::new(
            self.inner.engine.clone(),
            agent.pre.clone(),
            agent.exports,
            params.to_vec(),
            AgentLimits {
                fuel_per_call: limits.fuel_per_call,
                fuel_per_evaluation: limits.fuel_per_evaluation,
                memory_cap: self.memory_cap(limits),
                max_action_len: limits.max_action_len,
                max_table_elements: cfg.max_table_elements,
                wasi: agent.wasi.then_some(AgentWasi {
                    code_hash: agent.code_hash,
                    seed,
                    wall_clock_secs: cfg.wasi_wall_clock_secs,
                    max_output: cfg.max_captured_output,
                }),
            },
            deadline,
        )
    }

    fn memory_cap(&self, limits: &Limits) -> u64 {
        limits
            .memory_bytes
            .min(self.inner.config.pool_max_memory_bytes)
    }

    fn deadline(&self, limits: &Limits) -> Deadline {
        Deadline::new(
            self.inner.clock.clone(),
            limits.wall_backstop_ms,
            self.inner.config.epoch_tick_ms,
        )
    }

    fn foreign(&self, engines: &[&Engine]) -> Option<Fault> {
        engines
            .iter()
            .any(|e| !Engine::same(e, &self.inner.engine))
            .then(|| host_fault("component was loaded by a different Sandbox"))
    }

    /// Structure check of a pack without a harness: instantiates the agent
    /// in a fresh store under `limits` and, when `params` is given, calls
    /// `init(params)`. Returns the agent fuel used. Costs one instantiation
    /// (microseconds), so the node can refuse packs whose parameters the
    /// agent rejects before running a whole evaluation.
    pub fn init_agent(
        &self,
        agent: &LoadedAgent,
        params: Option<&[u8]>,
        limits: &Limits,
    ) -> Result<u64, Fault> {
        limits.validate().map_err(|e| host_fault(e.to_string()))?;
        if let Some(f) = self.foreign(&[agent.pre.engine()]) {
            return Err(f);
        }
        let mut slot = self.agent_slot(
            agent,
            params.unwrap_or_default(),
            limits,
            self.deadline(limits),
            0,
        );
        match params {
            Some(_) => slot.start(),
            None => slot.instantiate_only(),
        }
        slot.stopped_by()?;
        Ok(slot.fuel_used)
    }

    /// The pool slots one live instance of `agent` holds, measured by
    /// instantiating it while nothing else runs in this sandbox (benches and
    /// sizing; concurrent evaluations would be counted too).
    pub fn agent_pool_slots(
        &self,
        agent: &LoadedAgent,
        limits: &Limits,
    ) -> Result<PoolUsage, Fault> {
        let before = self.pool_usage();
        let mut slot = self.agent_slot(agent, &[], limits, self.deadline(limits), 0);
        slot.instantiate_only();
        slot.stopped_by()?;
        let during = self.pool_usage();
        let d = |a: (u64, u32), b: (u64, u32)| (a.0.saturating_sub(b.0), a.1);
        Ok(PoolUsage {
            core_instances: d(during.core_instances, before.core_instances),
            memories: d(during.memories, before.memories),
            tables: d(during.tables, before.tables),
            component_instances: d(during.component_instances, before.component_instances),
        })
    }

    /// Runs one evaluation: a fresh harness instance calls `evaluate(config,
    /// seed)` and reaches a fresh agent (initialised with `params`) through
    /// `policy`. Never panics on guest behaviour; every problem is a
    /// [`Fault`] in the report.
    pub fn evaluate(
        &self,
        harness: &LoadedHarness,
        agent: &LoadedAgent,
        params: &[u8],
        config: &[u8],
        seed: u64,
        limits: &Limits,
    ) -> EvalReport {
        self.inner.slots.run(
            self.pool_wait(),
            || self.evaluate_once(harness, agent, params, config, seed, limits),
            |r| r.outcome.as_mut().err(),
        )
    }

    fn pool_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.inner.config.pool_wait_ms)
    }

    /// One run of [`Sandbox::evaluate`]; pool-busy when an instantiation
    /// found no free slot.
    fn evaluate_once(
        &self,
        harness: &LoadedHarness,
        agent: &LoadedAgent,
        params: &[u8],
        config: &[u8],
        seed: u64,
        limits: &Limits,
    ) -> EvalReport {
        let mut report = EvalReport {
            outcome: Err(host_fault("not run")),
            seed,
            agent_fuel: 0,
            agent_init_fuel: 0,
            agent_fuel_per_step: Vec::new(),
            harness_fuel: 0,
            steps: 0,
            resets: 0,
            output: None,
        };
        if let Err(e) = limits.validate() {
            report.outcome = Err(host_fault(e.to_string()));
            return report;
        }
        if let Some(f) = self.foreign(&[harness.pre.engine(), agent.pre.engine()]) {
            report.outcome = Err(f);
            return report;
        }
        let cfg = &self.inner.config;
        let deadline = self.deadline(limits);
        let wasi = match harness.dataset.as_deref() {
            Some(dir) => match WasiParts::new(
                Some(dir),
                seed,
                cfg.wasi_wall_clock_secs,
                cfg.max_captured_output,
            ) {
                Ok(w) => Some(w),
                Err(message) => {
                    report.outcome = Err(host_fault(message));
                    return report;
                }
            },
            None => None,
        };
        let state = HostState {
            panic: None,
            mem: MemCap::new(self.memory_cap(limits), cfg.max_table_elements),
            agent: self.agent_slot(agent, params, limits, deadline.clone(), seed),
            wasi,
            wall_clock_secs: cfg.wasi_wall_clock_secs,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.mem);
        if let Err(e) = store.set_fuel(limits.harness_fuel) {
            report.outcome = Err(host_fault(format!("{e:#}")));
            return report;
        }
        let result = if deadline.arm(&mut store) {
            match harness
                .pre
                .instance_pre()
                .instantiate(&mut store)
                .and_then(|i| {
                    i.get_typed_func::<(&[u8], u64), (Result<HarnessMetrics, GuestText>,)>(
                        &mut store,
                        harness.evaluate,
                    )
                }) {
                Err(e) => Err((e, Phase::Instantiate)),
                Ok(f) => f
                    .call(&mut store, (config, seed))
                    .map(|(r,)| r)
                    .map_err(|e| (e, Phase::Call)),
            }
        } else {
            Err((
                wasmtime::Error::new(wasmtime::Trap::Interrupt),
                Phase::Instantiate,
            ))
        };
        report.harness_fuel =
            limits.harness_fuel - store.get_fuel().unwrap_or(0).min(limits.harness_fuel);
        let state = store.into_data();
        let slot = &state.agent;
        report.agent_fuel = slot.fuel_used;
        report.agent_init_fuel = slot.init_fuel;
        report.agent_fuel_per_step = slot.act_fuel.clone();
        report.steps = slot.act_fuel.len() as u64;
        report.resets = slot.resets;
        report.output = state.wasi.as_ref().map(WasiParts::take_output);
        let role = if harness.dataset.is_some() {
            Role::DatasetHarness
        } else {
            Role::Harness
        };
        report.outcome = if let Some(f) = &slot.fault {
            Err(f.clone())
        } else if let Some(cause) = &slot.abort {
            Err(Fault::Inconclusive {
                cause: cause.clone(),
            })
        } else {
            match result {
                Err((e, phase)) => Err(with_reported_panic(
                    harness_outcome_from_error(
                        &e,
                        role,
                        limits.harness_fuel,
                        limits.wall_backstop_ms,
                        phase,
                    ),
                    &state.panic,
                )),
                Ok(Err(GuestText(message))) => Err(harness_error(role, message, slot)),
                Ok(Ok(m)) => finish_metrics(
                    wit::Metrics {
                        reward: m.reward,
                        risk: m.risk,
                        complexity: m.complexity,
                        extra: m.extra.0,
                    },
                    &slot.act_fuel,
                    &limits.complexity,
                    agent.runtime_code.as_ref(),
                    role,
                ),
            }
        };
        report
    }

    /// Runs an invariant against an agent; `Ok(())` when it holds.
    pub fn check_invariant(
        &self,
        invariant: &LoadedInvariant,
        agent: &LoadedAgent,
        pack: &PackInfo,
        limits: &Limits,
    ) -> Result<(), Fault> {
        self.check_invariant_report(invariant, agent, pack, limits)
            .outcome
    }

    /// As [`Sandbox::check_invariant`], with fuel figures.
    pub fn check_invariant_report(
        &self,
        invariant: &LoadedInvariant,
        agent: &LoadedAgent,
        pack: &PackInfo,
        limits: &Limits,
    ) -> InvariantReport {
        self.inner.slots.run(
            self.pool_wait(),
            || self.check_invariant_once(invariant, agent, pack, limits),
            |r| r.outcome.as_mut().err(),
        )
    }

    fn check_invariant_once(
        &self,
        invariant: &LoadedInvariant,
        agent: &LoadedAgent,
        pack: &PackInfo,
        limits: &Limits,
    ) -> InvariantReport {
        let mut report = InvariantReport {
            outcome: Err(host_fault("not run")),
            agent_fuel: 0,
            invariant_fuel: 0,
            steps: 0,
        };
        if let Err(e) = limits.validate() {
            report.outcome = Err(host_fault(e.to_string()));
            return report;
        }
        if let Some(f) = self.foreign(&[invariant.pre.engine(), agent.pre.engine()]) {
            report.outcome = Err(f);
            return report;
        }
        let cfg = &self.inner.config;
        let deadline = self.deadline(limits);
        let state = HostState {
            panic: None,
            mem: MemCap::new(self.memory_cap(limits), cfg.max_table_elements),
            agent: self.agent_slot(agent, &pack.params, limits, deadline.clone(), 0),
            wasi: None,
            wall_clock_secs: cfg.wasi_wall_clock_secs,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.mem);
        if let Err(e) = store.set_fuel(limits.harness_fuel) {
            report.outcome = Err(host_fault(format!("{e:#}")));
            return report;
        }
        let info = wit::PackInfo {
            metadata: pack.metadata.clone(),
            params: pack.params.clone(),
            code_size: pack.code_size,
        };
        let result = if deadline.arm(&mut store) {
            match invariant
                .pre
                .instance_pre()
                .instantiate(&mut store)
                .and_then(|i| {
                    i.get_typed_func::<(&wit::PackInfo,), (Result<(), GuestText>,)>(
                        &mut store,
                        invariant.check,
                    )
                }) {
                Err(e) => Err((e, Phase::Instantiate)),
                Ok(f) => f
                    .call(&mut store, (&info,))
                    .map(|(r,)| r)
                    .map_err(|e| (e, Phase::Call)),
            }
        } else {
            Err((
                wasmtime::Error::new(wasmtime::Trap::Interrupt),
                Phase::Instantiate,
            ))
        };
        report.invariant_fuel =
            limits.harness_fuel - store.get_fuel().unwrap_or(0).min(limits.harness_fuel);
        let state = store.into_data();
        let slot = &state.agent;
        report.agent_fuel = slot.fuel_used;
        report.steps = slot.act_fuel.len() as u64;
        report.outcome = if let Some(f) = &slot.fault {
            Err(f.clone())
        } else if let Some(cause) = &slot.abort {
            Err(Fault::Inconclusive {
                cause: cause.clone(),
            })
        } else {
            match result {
                Err((e, phase)) => Err(with_reported_panic(
                    harness_outcome_from_error(
                        &e,
                        Role::Invariant,
                        limits.harness_fuel,
                        limits.wall_backstop_ms,
                        phase,
                    ),
                    &state.panic,
                )),
                Ok(Err(GuestText(reason))) => Err(Fault::InvariantViolated { reason }),
                Ok(Ok(())) => Ok(()),
            }
        };
        report
    }

    /// Spawns a thread whose native stack is `config.eval_thread_stack`, big
    /// enough for nested harness and agent wasm stacks, and runs `f` on it.
    pub fn spawn_eval_thread<F, R>(&self, f: F) -> std::io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        std::thread::Builder::new()
            .name("ian-eval".into())
            .stack_size(self.inner.config.eval_thread_stack)
            .spawn(f)
    }
}

/// Checks the harness's metrics and sets `complexity` from the agent's
/// fuel per `act` call under the goal's rule (the raw mean, unless the goal
/// says otherwise; then the raw mean follows the harness's extras).
fn finish_metrics(
    m: wit::Metrics,
    act_fuel: &[u64],
    rule: &crate::Complexity,
    runtime_code: Option<&[u8; 32]>,
    role: Role,
) -> Result<Metrics, Fault> {
    let non_finite = |name: &str, v: f64| Fault::NonFiniteMetric {
        name: name.to_owned(),
        value: v.to_string(),
    };
    if !m.reward.is_finite() {
        return Err(non_finite("reward", m.reward));
    }
    if !m.risk.is_finite() {
        return Err(non_finite("risk", m.risk));
    }
    for (name, v) in &m.extra {
        if !v.is_finite() {
            return Err(non_finite(&crate::run::clip(name.clone()), *v));
        }
    }
    rule.check_extras(&m.extra, role)?;
    let (complexity, raw) = rule.apply(act_fuel, runtime_code);
    let mut extra = m.extra;
    if let Some(raw) = raw {
        extra.push((crate::RAW_COMPLEXITY_METRIC.to_owned(), raw));
    }
    Ok(Metrics {
        reward: m.reward,
        risk: m.risk,
        complexity,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fin(m: wit::Metrics, act_fuel: &[u64]) -> Result<Metrics, Fault> {
        finish_metrics(m, act_fuel, &crate::Complexity::Raw, None, Role::Harness)
    }

    #[test]
    fn a_goal_without_raw_complexity_keeps_the_raw_figure_after_the_harness_extras() {
        let m = finish_metrics(
            wit_metrics(0.5, 0.1, vec![("sharpe".into(), 1.5)]),
            &[10, 30],
            &crate::Complexity::Off,
            None,
            Role::Harness,
        )
        .unwrap();
        assert_eq!(m.complexity, 0.0);
        assert_eq!(
            m.extra,
            vec![("sharpe".into(), 1.5), ("raw_complexity".into(), 20.0)]
        );
    }

    fn wit_metrics(reward: f64, risk: f64, extra: Vec<(String, f64)>) -> wit::Metrics {
        wit::Metrics {
            reward,
            risk,
            complexity: 123.0,
            extra,
        }
    }

    #[test]
    fn nan_reward_is_a_non_finite_metric() {
        assert_eq!(
            fin(wit_metrics(f64::NAN, 0.0, vec![]), &[1]),
            Err(Fault::NonFiniteMetric {
                name: "reward".into(),
                value: "NaN".into()
            })
        );
    }

    #[test]
    fn infinite_extra_is_a_non_finite_metric_naming_it() {
        assert_eq!(
            fin(
                wit_metrics(0.0, 0.0, vec![("sharpe".into(), f64::NEG_INFINITY)]),
                &[1]
            ),
            Err(Fault::NonFiniteMetric {
                name: "sharpe".into(),
                value: "-inf".into()
            })
        );
    }

    #[test]
    fn host_overrides_the_harness_complexity_with_mean_act_fuel() {
        let m = fin(wit_metrics(0.5, 0.1, vec![]), &[10, 20, 40]).unwrap();
        assert_eq!(m.complexity, 70.0 / 3.0);
        let none = fin(wit_metrics(0.5, 0.1, vec![]), &[]).unwrap();
        assert_eq!(none.complexity, 0.0);
    }

    #[test]
    fn canonical_description_lists_every_determinism_relevant_setting() {
        let d = canonical_description(&SandboxConfig::default());
        for key in [
            "max_wasm_stack=524288",
            "pool_max_memory_bytes=268435456",
            "max_table_elements=65536",
            "wasi_wall_clock_secs=1704067200",
            "relaxed_simd=false",
            "nan_canonicalization=true",
        ] {
            assert!(d.lines().any(|l| l == key), "missing {key} in\n{d}");
        }
    }
}
