//! Running a harness or an invariant against an agent.
//!
//! The agent lives in its own `Store` (own fuel, own memory cap) owned by the
//! harness store's data, and is reached only through the host-served
//! `policy` import. The first agent fault is recorded here and becomes the
//! outcome whatever the harness does afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::{ComponentExportIndex, TypedFunc};
use wasmtime::{Engine, ResourceLimiter, Store, Trap, WasmBacktrace};
use wasmtime_wasi::{WasiCtxView, WasiView};

use crate::bindings::agent::AgentPackPre;
use crate::bindings::agent::ian::eval::types::{self, AgentError, Observation};
use crate::bindings::harness::ian::eval::policy;
use crate::fault::{AgentCall, Fault, FuelBudget, InconclusiveCause, Role};
use crate::lift::{Action, GuestText, LiftRefusal, with_action_cap};
use crate::wasi::{VirtualSleep, VirtualTime, WasiParts};

/// Longest error text taken from a guest, so a hostile component cannot make
/// the host keep megabytes of "reason".
pub(crate) const MAX_GUEST_TEXT: usize = 1024;

pub(crate) fn clip(mut s: String) -> String {
    if s.len() > MAX_GUEST_TEXT {
        let mut cut = MAX_GUEST_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Raised by the memory limiter; its presence in an error chain is how a
/// memory-cap violation is recognised (no string matching).
#[derive(Debug, thiserror::Error)]
#[error("memory cap exceeded: {requested} bytes requested, cap {cap} bytes")]
pub(crate) struct MemoryCapExceeded {
    pub requested: u64,
    pub cap: u64,
}

/// Returned by host functions to abort the harness when the host (not the
/// agent) must stop the evaluation; the cause is kept in the agent slot.
#[derive(Debug, thiserror::Error)]
#[error("evaluation aborted by the host")]
pub(crate) struct HostAbort;

/// Per-store memory and table caps.
pub(crate) struct MemCap {
    cap: usize,
    max_table_elements: usize,
}

impl MemCap {
    pub(crate) fn new(cap: u64, max_table_elements: u32) -> MemCap {
        MemCap {
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            max_table_elements: max_table_elements as usize,
        }
    }
}

impl ResourceLimiter for MemCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                requested: desired as u64,
                cap: self.cap as u64,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

/// How an error out of a store is to be read.
#[derive(Debug)]
pub(crate) enum Classified {
    OutOfFuel,
    Memory {
        requested: u64,
        cap: u64,
    },
    StackOverflow,
    Interrupt,
    Aborted,
    Exit(i32),
    /// A returned value over one of the host's limits, refused while lifting.
    Refused(LiftRefusal),
    Guest(String),
    /// Neither a trap nor one of the host's markers: who is to blame depends
    /// on the [`Phase`] it came out of.
    Unattributed(String),
    /// The pooling allocator had no free slot (instantiation only): the
    /// caller may wait for one and run again.
    PoolBusy(String),
}

/// The step of a guest call an error came out of. It decides who is to blame
/// for a [`Classified::Unattributed`] error.
///
/// Once an instance exists, wasmtime's `TypedFunc::call` can fail only
/// (a) with a trap raised while guest code ran (typed: `Trap`, or carrying a
/// `WasmBacktrace`), (b) with an error of our resource limiter or a
/// [`LiftRefusal`] (typed, recognised by `downcast`), or (c) with a
/// canonical-ABI violation by the callee: its `cabi_realloc` returned a
/// pointer the host cannot write the arguments to, or its return value cannot
/// be lifted (pointer or length outside its memory, `ptr + len` overflowing,
/// misaligned pointer, bad return-area pointer, invalid UTF-8, invalid
/// discriminant). wasmtime raises (c) as untyped errors, so (c) is
/// recognised by call site, never by message: what is left after (a) and (b)
/// in [`Phase::Call`] is the callee's. Instantiation, by contrast, fails for
/// host reasons too (e.g. an exhausted instance pool), so there what is left
/// is the host's and is never blamed on a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Creating the instance and looking up its exports.
    Instantiate,
    /// Calling an export of a live instance: lowering its arguments, running
    /// it, lifting its results, running its post-return function.
    Call,
}

/// Sorts an error by cause. Order matters: our own markers first, then
/// wasmtime traps, then anything that went through wasm code (a guest
/// trap); what remains is unattributed and is blamed by [`Phase`].
pub(crate) fn classify(err: &wasmtime::Error) -> Classified {
    if let Some(p) = err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return Classified::PoolBusy(p.to_string());
    }
    if let Some(m) = err.downcast_ref::<MemoryCapExceeded>() {
        return Classified::Memory {
            requested: m.requested,
            cap: m.cap,
        };
    }
    if err.downcast_ref::<HostAbort>().is_some() {
        return Classified::Aborted;
    }
    if let Some(r) = err.downcast_ref::<LiftRefusal>() {
        return Classified::Refused(r.clone());
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Classified::Exit(exit.0);
    }
    let backtrace = err.downcast_ref::<WasmBacktrace>();
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => Classified::OutOfFuel,
            Trap::StackOverflow => Classified::StackOverflow,
            Trap::Interrupt => Classified::Interrupt,
            other => Classified::Guest(describe_trap(&other.to_string(), backtrace)),
        };
    }
    if let Some(bt) = backtrace {
        return Classified::Guest(describe_trap(&root_message(err), Some(bt)));
    }
    Classified::Unattributed(format!("{err:#}"))
}

fn root_message(err: &wasmtime::Error) -> String {
    err.root_cause().to_string()
}

fn is_runtime_frame(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "core::",
        "std::",
        "alloc::",
        "__rust",
        "rust_panic",
        "rust_begin_unwind",
        "dlmalloc",
        "wit_bindgen",
        "cabi_",
        "abort",
        "<core::",
        "<alloc::",
        "<std::",
        "__rdl_",
        "__rg_",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The trap text plus the innermost frame that is not Rust runtime code
/// (demangled), and a note when the trap came from a Rust panic.
fn describe_trap(trap: &str, bt: Option<&WasmBacktrace>) -> String {
    let Some(bt) = bt else {
        return trap.to_owned();
    };
    let mut panicked = false;
    let mut location = None;
    for frame in bt.frames() {
        let Some(raw) = frame.func_name() else {
            continue;
        };
        let name = format!("{:#}", rustc_demangle::demangle(raw));
        if name.contains("panic") {
            panicked = true;
        }
        if !is_runtime_frame(&name) {
            location = Some(name);
            break;
        }
    }
    let mut out = trap.to_owned();
    if let Some(loc) = location {
        out.push_str(" in `");
        out.push_str(&loc);
        out.push('`');
    }
    if panicked {
        out.push_str(" (Rust panic)");
    }
    clip(out)
}

/// Ticks of the wall-clock backstop, advanced by the sandbox's ticker thread
/// in step with `Engine::increment_epoch`.
#[derive(Default)]
pub(crate) struct EpochClock(pub(crate) AtomicU64);

/// The absolute epoch tick at which an evaluation is stopped.
#[derive(Clone)]
pub(crate) struct Deadline {
    clock: Arc<EpochClock>,
    at: u64,
    pub(crate) ms: u64,
}

impl Deadline {
    pub(crate) fn new(clock: Arc<EpochClock>, ms: u64, tick_ms: u64) -> Deadline {
        let ticks = ms.div_ceil(tick_ms).max(1);
        // +1: the current tick is already partly over.
        let at = clock
            .0
            .load(Ordering::Acquire)
            .saturating_add(ticks.saturating_add(1));
        Deadline { clock, at, ms }
    }

    /// Ticks left, or `None` once the deadline has passed.
    pub(crate) fn remaining(&self) -> Option<u64> {
        let now = self.clock.0.load(Ordering::Acquire);
        (now < self.at).then(|| self.at - now)
    }

    /// Arms a store with this deadline; `false` if it has already passed.
    pub(crate) fn arm<T>(&self, store: &mut Store<T>) -> bool {
        match self.remaining() {
            Some(ticks) => {
                store.epoch_deadline_trap();
                // wasmtime adds this to the current epoch without saturating.
                store.set_epoch_deadline(ticks.min(1 << 48));
                true
            }
            None => false,
        }
    }
}

/// Agent-side limits of one evaluation.
#[derive(Clone, Copy)]
pub(crate) struct AgentLimits {
    pub fuel_per_call: u64,
    pub fuel_per_evaluation: u64,
    pub memory_cap: u64,
    pub max_action_len: u32,
    pub max_table_elements: u32,
    /// The deterministic WASI an agent of a `agents = "wasi"` goal gets.
    pub wasi: Option<AgentWasi>,
}

/// Longest tail of an agent's stderr put into its fault message (a Python
/// traceback, a JavaScript exception): 2,048 bytes, the end kept.
pub const MAX_AGENT_STDERR_IN_FAULT: usize = 2048;

/// Domain tag of an agent's WASI seed (docs/ENCODING.md).
pub(crate) const AGENT_WASI_SEED_TAG: &[u8] = b"ian/agent-wasi-seed/v1\0";

/// What an agent store's WASI context is made from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentWasi {
    /// sha256 of the agent component.
    pub code_hash: [u8; 32],
    /// The evaluation seed.
    pub seed: u64,
    pub wall_clock_secs: u64,
    pub max_output: usize,
}

impl AgentWasi {
    /// The RNG seed of the agent's `resets`-th instance: the first 8 bytes
    /// (little-endian) of sha256(tag ‖ code hash ‖ u64le params length ‖
    /// params ‖ u64le evaluation seed ‖ u32le resets). Depends on nothing
    /// but the pack and the evaluation, so a Python agent's `random` is the
    /// same on every host and differs between seeds and packs.
    pub(crate) fn rng_seed(&self, params: &[u8], resets: u32) -> u64 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(AGENT_WASI_SEED_TAG);
        h.update(self.code_hash);
        h.update((params.len() as u64).to_le_bytes());
        h.update(params);
        h.update(self.seed.to_le_bytes());
        h.update(resets.to_le_bytes());
        let d = h.finalize();
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    }
}

pub(crate) struct AgentState {
    mem: MemCap,
    /// The panic message the agent reported (`ian:diagnostics/panic`)
    /// before trapping, clipped.
    panic: Option<String>,
    /// Its WASI context, for an agent with WASI.
    wasi: Option<WasiParts>,
}

impl AgentState {
    /// What the agent said before failing: its reported panic and the
    /// tail of its stderr.
    fn last_words(&mut self) -> LastWords {
        LastWords {
            panic: self.panic.take(),
            stderr: self
                .wasi
                .as_ref()
                .and_then(|w| w.stderr_tail(MAX_AGENT_STDERR_IN_FAULT)),
        }
    }
}

/// An agent's own explanation of a failure.
#[derive(Default)]
struct LastWords {
    panic: Option<String>,
    stderr: Option<String>,
}

impl LastWords {
    /// `message` with the stderr tail after it.
    fn after(&self, message: String) -> String {
        match &self.stderr {
            Some(s) => format!("{message}; stderr: {s}"),
            None => message,
        }
    }
}

impl VirtualSleep for AgentState {
    fn virtual_time(&mut self) -> VirtualTime {
        self.wasi
            .get_or_insert_with(|| WasiParts::denied(0))
            .time
            .clone()
    }
}

impl VirtualSleep for HostState {
    fn virtual_time(&mut self) -> VirtualTime {
        let wall = self.wall_clock_secs;
        self.wasi
            .get_or_insert_with(|| WasiParts::denied(wall))
            .time
            .clone()
    }
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Only agents with WASI are linked against WASI, and their stores
        // always carry a context; should that ever not hold, the agent gets
        // one that grants nothing rather than the host panicking.
        let parts = self.wasi.get_or_insert_with(|| WasiParts::denied(0));
        WasiCtxView {
            ctx: &mut parts.ctx,
            table: &mut parts.table,
        }
    }
}

/// Store data that can hold a guest's reported panic message.
pub(crate) trait PanicSlot {
    fn panic_slot(&mut self) -> &mut Option<String>;
}

impl PanicSlot for AgentState {
    fn panic_slot(&mut self) -> &mut Option<String> {
        &mut self.panic
    }
}

impl PanicSlot for HostState {
    fn panic_slot(&mut self) -> &mut Option<String> {
        &mut self.panic
    }
}

/// `ian:diagnostics/panic.report`: keeps the first message of the
/// instance, clipped to [`MAX_GUEST_TEXT`] bytes; later calls are not even
/// read, so a guest cannot make the host copy its memory in a loop.
fn report_panic<T: PanicSlot>(
    mut cx: wasmtime::StoreContextMut<'_, T>,
    message: &wasmtime::component::WasmStr,
) {
    if cx.data_mut().panic_slot().is_some() {
        return;
    }
    let text = match message.to_str(&cx) {
        // Borrowed from guest memory: only the clipped head is copied.
        Ok(t) => {
            let mut cut = t.len().min(MAX_GUEST_TEXT);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            let head: String = t[..cut]
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if cut < t.len() {
                format!("{}...", head.trim())
            } else {
                head.trim().to_string()
            }
        }
        Err(_) => "(panic message not readable)".to_string(),
    };
    *cx.data_mut().panic_slot() = Some(text);
}

/// Defines `ian:diagnostics/panic` in `linker`: optional for every role.
pub(crate) fn add_panic_report<T: PanicSlot + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    linker.instance(crate::validate::PANIC_IMPORT)?.func_wrap(
        "report",
        |cx: wasmtime::StoreContextMut<'_, T>, (message,): (wasmtime::component::WasmStr,)| {
            report_panic(cx, &message);
            Ok(())
        },
    )
}

/// Where the agent's functions are in its component; looked up once at load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentExports {
    pub init: ComponentExportIndex,
    pub act: ComponentExportIndex,
}

/// `act`, lifted with the action-length limit checked before the copy.
type ActFunc = TypedFunc<(Observation,), (Action,)>;

/// The agent as seen from the harness: instantiated lazily on the first
/// `act`, replaced on `reset`, with sticky faults and fuel accounting.
pub(crate) struct AgentSlot {
    engine: Engine,
    pre: AgentPackPre<AgentState>,
    exports: AgentExports,
    params: Vec<u8>,
    limits: AgentLimits,
    deadline: Deadline,
    live: Option<(Store<AgentState>, ActFunc)>,
    /// First agent fault; sticky.
    pub(crate) fault: Option<Fault>,
    /// Why the host stopped the evaluation, if it did.
    pub(crate) abort: Option<InconclusiveCause>,
    /// All agent fuel used (instantiation, init, act).
    pub(crate) fuel_used: u64,
    /// Fuel of instantiation + init, summed over resets.
    pub(crate) init_fuel: u64,
    /// Fuel of each `act` call, in call order.
    pub(crate) act_fuel: Vec<u64>,
    pub(crate) resets: u32,
}

impl AgentSlot {
    pub(crate) fn new(
        engine: Engine,
        pre: AgentPackPre<AgentState>,
        exports: AgentExports,
        params: Vec<u8>,
        limits: AgentLimits,
        deadline: Deadline,
    ) -> AgentSlot {
        AgentSlot {
            engine,
            pre,
            exports,
            params,
            limits,
            deadline,
            live: None,
            fault: None,
            abort: None,
            fuel_used: 0,
            init_fuel: 0,
            act_fuel: Vec::new(),
            resets: 0,
        }
    }

    fn budget(&self) -> Option<(u64, FuelBudget)> {
        let left = self
            .limits
            .fuel_per_evaluation
            .saturating_sub(self.fuel_used);
        if left == 0 {
            None
        } else if left < self.limits.fuel_per_call {
            Some((
                left,
                FuelBudget::PerEvaluation(self.limits.fuel_per_evaluation),
            ))
        } else {
            Some((
                self.limits.fuel_per_call,
                FuelBudget::PerCall(self.limits.fuel_per_call),
            ))
        }
    }

    fn set_fault(&mut self, fault: Fault) {
        if self.fault.is_none() {
            self.fault = Some(fault);
        }
        self.live = None;
    }

    fn set_abort(&mut self, cause: InconclusiveCause) {
        if self.abort.is_none() {
            self.abort = Some(cause);
        }
        self.live = None;
    }

    /// Maps an error out of the agent store to the slot's state.
    fn record_error(
        &mut self,
        err: &wasmtime::Error,
        at: AgentCall,
        budget: FuelBudget,
        phase: Phase,
        words: LastWords,
    ) {
        match classify(err) {
            Classified::OutOfFuel => self.set_fault(Fault::AgentOutOfFuel { at, budget }),
            Classified::Memory { requested, cap } => {
                self.set_fault(Fault::AgentMemoryExceeded { at, requested, cap })
            }
            Classified::StackOverflow => self.set_fault(Fault::AgentStackOverflow { at }),
            Classified::Interrupt => self.set_abort(InconclusiveCause::WallBackstop {
                ms: self.deadline.ms,
            }),
            Classified::Guest(trap) => {
                // The agent's own words first, when its panic hook sent them.
                let message = words.after(match &words.panic {
                    Some(p) => clip(format!("{p}; {trap}")),
                    None => trap,
                });
                match at {
                    AgentCall::Init { .. } => {
                        self.set_fault(Fault::AgentInitFailed { at, message })
                    }
                    AgentCall::Act { .. } => self.set_fault(Fault::AgentTrap { at, message }),
                }
            }
            Classified::Exit(code) => self.set_fault(Fault::AgentTrap {
                at,
                message: words.after(format!("agent called exit({code})")),
            }),
            Classified::Aborted => self.set_abort(InconclusiveCause::Host {
                message: "nested abort".into(),
            }),
            Classified::Refused(refusal) => self.set_fault(Fault::AgentInvalidAction {
                at,
                reason: refusal.to_string(),
            }),
            Classified::PoolBusy(message) => self.set_abort(InconclusiveCause::PoolBusy {
                message,
                waited_ms: 0,
            }),
            Classified::Unattributed(reason) => match phase {
                Phase::Call => self.set_fault(Fault::AgentInvalidReturn {
                    at,
                    reason: clip(reason),
                }),
                Phase::Instantiate => self.set_abort(InconclusiveCause::Host { message: reason }),
            },
        }
    }

    /// Instantiates the agent and looks up its typed `act`.
    fn instantiate(
        &self,
        store: &mut Store<AgentState>,
    ) -> wasmtime::Result<(wasmtime::component::Instance, ActFunc)> {
        let instance = self.pre.instance_pre().instantiate(&mut *store)?;
        let act =
            instance.get_typed_func::<(Observation,), (Action,)>(&mut *store, self.exports.act)?;
        Ok((instance, act))
    }

    /// Prepares a fresh store with the next call's fuel and the deadline.
    fn fresh_store(&mut self, budget: u64) -> Result<Store<AgentState>, ()> {
        let mut store = Store::new(
            &self.engine,
            AgentState {
                mem: MemCap::new(self.limits.memory_cap, self.limits.max_table_elements),
                panic: None,
                wasi: self.limits.wasi.as_ref().map(|w| {
                    WasiParts::for_agent(
                        w.rng_seed(&self.params, self.resets),
                        w.wall_clock_secs,
                        w.max_output,
                    )
                }),
            },
        );
        store.limiter(|s| &mut s.mem);
        if let Err(e) = store.set_fuel(budget) {
            self.set_abort(InconclusiveCause::Host {
                message: format!("{e:#}"),
            });
            return Err(());
        }
        if !self.deadline.arm(&mut store) {
            self.set_abort(InconclusiveCause::WallBackstop {
                ms: self.deadline.ms,
            });
            return Err(());
        }
        Ok(store)
    }

    /// The agent's fault, or the host's abort as `inconclusive`, if either
    /// stopped it.
    pub(crate) fn stopped_by(&mut self) -> Result<(), Fault> {
        if let Some(f) = self.fault.take() {
            return Err(f);
        }
        if let Some(cause) = self.abort.take() {
            return Err(Fault::Inconclusive { cause });
        }
        Ok(())
    }

    /// Instantiates the agent without calling `init` (structure checks and
    /// instantiation benchmarks).
    pub(crate) fn instantiate_only(&mut self) {
        let at = AgentCall::Init {
            resets: self.resets,
        };
        let Some((budget, kind)) = self.budget() else {
            return;
        };
        let Ok(mut store) = self.fresh_store(budget) else {
            return;
        };
        let result = self.instantiate(&mut store);
        let used = budget - store.get_fuel().unwrap_or(0).min(budget);
        self.fuel_used += used;
        self.init_fuel += used;
        match result {
            Ok((_, act)) => self.live = Some((store, act)),
            Err(e) => {
                let words = store.data_mut().last_words();
                self.record_error(&e, at, kind, Phase::Instantiate, words)
            }
        }
    }

    /// Instantiates the agent and calls `init(params)`.
    pub(crate) fn start(&mut self) {
        let at = AgentCall::Init {
            resets: self.resets,
        };
        let Some((budget, kind)) = self.budget() else {
            self.set_fault(Fault::AgentOutOfFuel {
                at,
                budget: FuelBudget::PerEvaluation(self.limits.fuel_per_evaluation),
            });
            return;
        };
        let Ok(mut store) = self.fresh_store(budget) else {
            return;
        };
        let result = match self.instantiate(&mut store).and_then(|(instance, act)| {
            let init = instance.get_typed_func::<(&[u8],), (Result<(), GuestText>,)>(
                &mut store,
                self.exports.init,
            )?;
            Ok((init, act))
        }) {
            Err(e) => Err((e, Phase::Instantiate)),
            Ok((init, act)) => match init.call(&mut store, (&self.params,)) {
                Ok((r,)) => Ok((act, r)),
                Err(e) => Err((e, Phase::Call)),
            },
        };
        let used = budget - store.get_fuel().unwrap_or(0).min(budget);
        self.fuel_used += used;
        self.init_fuel += used;
        match result {
            Ok((act, Ok(()))) => self.live = Some((store, act)),
            Ok((_, Err(GuestText(message)))) => {
                let message = store.data_mut().last_words().after(message);
                self.set_fault(Fault::AgentInitFailed { at, message })
            }
            Err((e, phase)) => {
                let words = store.data_mut().last_words();
                self.record_error(&e, at, kind, phase, words)
            }
        }
    }

    /// The sticky answer once the agent has faulted, or the host error that
    /// aborts the harness.
    fn stopped(&self) -> Option<wasmtime::Result<AgentError>> {
        if let Some(f) = &self.fault {
            return Some(Ok(agent_error(f)));
        }
        if self.abort.is_some() {
            return Some(Err(wasmtime::Error::new(HostAbort)));
        }
        None
    }

    pub(crate) fn act(
        &mut self,
        obs: Observation,
    ) -> wasmtime::Result<Result<Vec<f64>, AgentError>> {
        if let Some(s) = self.stopped() {
            return s.map(Err);
        }
        if self.live.is_none() {
            self.start();
            if let Some(s) = self.stopped() {
                return s.map(Err);
            }
        }
        let at = AgentCall::Act {
            index: self.act_fuel.len() as u64,
        };
        let Some((budget, kind)) = self.budget() else {
            self.act_fuel.push(0);
            self.set_fault(Fault::AgentOutOfFuel {
                at,
                budget: FuelBudget::PerEvaluation(self.limits.fuel_per_evaluation),
            });
            return self
                .stopped()
                .unwrap_or_else(|| Ok(AgentError::OutOfFuel))
                .map(Err);
        };
        let Some((store, act)) = self.live.as_mut() else {
            return Err(wasmtime::Error::new(HostAbort));
        };
        let setup = store.set_fuel(budget);
        if !self.deadline.arm(store) {
            self.set_abort(InconclusiveCause::WallBackstop {
                ms: self.deadline.ms,
            });
            return Err(wasmtime::Error::new(HostAbort));
        }
        if let Err(e) = setup {
            self.set_abort(InconclusiveCause::Host {
                message: format!("{e:#}"),
            });
            return Err(wasmtime::Error::new(HostAbort));
        }
        let result = with_action_cap(self.limits.max_action_len, || act.call(&mut *store, (obs,)));
        let used = budget - store.get_fuel().unwrap_or(0).min(budget);
        self.fuel_used += used;
        self.act_fuel.push(used);
        match result {
            Ok((Action(action),)) => {
                if let Some(reason) = invalid_action(&action, self.limits.max_action_len) {
                    self.set_fault(Fault::AgentInvalidAction { at, reason });
                } else {
                    return Ok(Ok(action));
                }
            }
            Err(e) => {
                let words = store.data_mut().last_words();
                self.record_error(&e, at, kind, Phase::Call, words)
            }
        }
        self.stopped()
            .unwrap_or_else(|| Err(wasmtime::Error::new(HostAbort)))
            .map(Err)
    }

    pub(crate) fn reset(&mut self) -> wasmtime::Result<Result<(), AgentError>> {
        if let Some(s) = self.stopped() {
            return s.map(Err);
        }
        self.live = None;
        self.resets += 1;
        self.start();
        match self.stopped() {
            Some(s) => s.map(Err),
            None => Ok(Ok(())),
        }
    }
}

/// Why an action is refused. Over-long actions are normally refused while
/// lifting (see [`crate::lift::Action`]); the length is checked again here so
/// the rule holds whatever produced the vector.
fn invalid_action(action: &[f64], max_len: u32) -> Option<String> {
    if action.len() > max_len as usize {
        return Some(format!(
            "{} values, over the limit of {max_len}",
            action.len()
        ));
    }
    action
        .iter()
        .position(|v| !v.is_finite())
        .map(|i| format!("value #{i} is not finite ({})", action[i]))
}

/// The `agent-error` the harness receives for a recorded fault.
fn agent_error(f: &Fault) -> AgentError {
    match f {
        Fault::AgentOutOfFuel { .. } => AgentError::OutOfFuel,
        Fault::AgentMemoryExceeded { .. } => AgentError::MemoryExceeded,
        Fault::AgentInvalidAction { reason, .. } => AgentError::InvalidAction(reason.clone()),
        Fault::AgentInitFailed { message, .. } => AgentError::InitFailed(message.clone()),
        Fault::AgentInvalidReturn {
            at: AgentCall::Init { .. },
            reason,
        } => AgentError::InitFailed(format!("returned a value the host cannot read: {reason}")),
        Fault::AgentInvalidReturn { reason, .. } => {
            AgentError::InvalidAction(format!("returned a value the host cannot read: {reason}"))
        }
        other => AgentError::Trap(other.to_string()),
    }
}

/// Store data of a harness or invariant.
pub(crate) struct HostState {
    pub(crate) mem: MemCap,
    /// The harness's or invariant's reported panic message.
    pub(crate) panic: Option<String>,
    pub(crate) agent: AgentSlot,
    pub(crate) wasi: Option<WasiParts>,
    /// Only used when a WASI context has to be made up on the spot.
    pub(crate) wall_clock_secs: u64,
}

impl types::Host for HostState {}

impl policy::Host for HostState {
    fn act(&mut self, obs: Observation) -> wasmtime::Result<Result<Vec<f64>, AgentError>> {
        self.agent.act(obs)
    }

    fn reset(&mut self) -> wasmtime::Result<Result<(), AgentError>> {
        self.agent.reset()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // The WASI linker is only used for dataset harnesses, whose state
        // always carries a context; should that ever not hold, the harness
        // gets a context with no preopens rather than the host panicking.
        let wall = self.wall_clock_secs;
        let parts = self.wasi.get_or_insert_with(|| WasiParts::denied(wall));
        WasiCtxView {
            ctx: &mut parts.ctx,
            table: &mut parts.table,
        }
    }
}

/// What an evaluation of the goal's component made of the run, before the
/// sandbox turns it into a report. `phase` says whether the error came out
/// of instantiating the harness/invariant or out of calling it (see
/// [`Phase`]).
pub(crate) fn harness_outcome_from_error(
    err: &wasmtime::Error,
    role: Role,
    harness_fuel: u64,
    backstop_ms: u64,
    phase: Phase,
) -> Fault {
    match classify(err) {
        Classified::OutOfFuel => Fault::HarnessFault {
            role,
            message: format!("ran out of its fuel budget of {harness_fuel}"),
        },
        Classified::Memory { requested, cap } => Fault::HarnessFault {
            role,
            message: format!("asked for {requested} bytes of memory, over the cap of {cap} bytes"),
        },
        Classified::StackOverflow => Fault::HarnessFault {
            role,
            message: "overflowed its wasm stack".into(),
        },
        Classified::Interrupt => Fault::Inconclusive {
            cause: InconclusiveCause::WallBackstop { ms: backstop_ms },
        },
        Classified::Exit(code) => Fault::HarnessFault {
            role,
            message: format!("called exit({code})"),
        },
        Classified::Guest(message) => Fault::HarnessFault {
            role,
            message: format!("trapped: {message}"),
        },
        Classified::Aborted => Fault::Inconclusive {
            cause: InconclusiveCause::Host {
                message: "evaluation aborted by the host".into(),
            },
        },
        Classified::Refused(refusal) => Fault::HarnessFault {
            role,
            message: format!("returned {refusal}"),
        },
        Classified::PoolBusy(message) => Fault::Inconclusive {
            cause: InconclusiveCause::PoolBusy {
                message,
                waited_ms: 0,
            },
        },
        Classified::Unattributed(message) => match phase {
            Phase::Call => Fault::HarnessFault {
                role,
                message: format!("returned a value the host cannot read: {}", clip(message)),
            },
            Phase::Instantiate => Fault::Inconclusive {
                cause: InconclusiveCause::Host { message },
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_wasi_seed_vector() {
        // docs/ENCODING.md "Agent WASI seed"; computed independently with
        // Python's hashlib and struct.
        let w = AgentWasi {
            code_hash: [0x11; 32],
            seed: 7,
            wall_clock_secs: 0,
            max_output: 0,
        };
        assert_eq!(w.rng_seed(b"mode=random", 0), 16_627_786_340_882_068_854);
        assert_eq!(w.rng_seed(b"mode=random", 1), 11_066_786_222_053_635_527);
    }
}
