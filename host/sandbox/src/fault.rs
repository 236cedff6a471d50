//! Typed outcomes of loading and running components.
//!
//! Every fault maps to a stable snake_case reason code ([`Fault::reason_code`])
//! that is recorded in logs and shown to contributors; the codes never change
//! meaning. The Display text names the concrete problem.

use std::fmt;

/// The kind of component a load or a fault is about. The import allowlist
/// and the expected world depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A contestant (`agent-pack` world). Imports nothing but types.
    Agent,
    /// A contestant of a goal that opted into deterministic WASI
    /// (`agents = "wasi"`): the same world, and it may also import the WASI
    /// p2 interfaces language runtimes use, each served deterministically.
    WasiAgent,
    /// A goal harness (`goal-harness` world) without WASI.
    Harness,
    /// A goal harness that was granted a read-only dataset directory and may
    /// import the WASI p2 interfaces that serve it.
    DatasetHarness,
    /// A goal invariant (`goal-invariant` world).
    Invariant,
}

impl Role {
    /// The WIT world a component of this role must target.
    pub fn world(self) -> &'static str {
        match self {
            Role::Agent | Role::WasiAgent => "ian:eval/agent-pack@0.1.0",
            Role::Harness | Role::DatasetHarness => "ian:eval/goal-harness@0.1.0",
            Role::Invariant => "ian:eval/goal-invariant@0.1.0",
        }
    }
}

impl Role {
    /// The role with its indefinite article, for messages ("an agent").
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Agent => "an agent",
            Role::WasiAgent => "an agent with WASI",
            Role::Harness => "a harness",
            Role::DatasetHarness => "a harness with dataset",
            Role::Invariant => "an invariant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Agent => "agent",
            Role::WasiAgent => "agent with WASI",
            Role::Harness => "harness",
            Role::DatasetHarness => "harness with dataset",
            Role::Invariant => "invariant",
        })
    }
}

/// Which agent call a fault happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentCall {
    /// Instantiation plus `init(params)`; `resets` counts earlier
    /// `policy.reset` calls (0 for the first initialisation).
    Init {
        /// How many resets preceded this initialisation.
        resets: u32,
    },
    /// The `index`-th `act` call of the evaluation (0-based, across resets).
    Act {
        /// 0-based index of the call.
        index: u64,
    },
}

impl fmt::Display for AgentCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentCall::Init { resets: 0 } => f.write_str("in init"),
            AgentCall::Init { resets } => write!(f, "in init after reset #{resets}"),
            AgentCall::Act { index } => write!(f, "in act call #{index}"),
        }
    }
}

/// Which fuel budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuelBudget {
    /// The per-call budget (`limits.fuel_per_call`).
    PerCall(u64),
    /// What was left of the per-evaluation budget
    /// (`limits.fuel_per_evaluation`).
    PerEvaluation(u64),
}

impl fmt::Display for FuelBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FuelBudget::PerCall(n) => write!(f, "per-call budget of {n}"),
            FuelBudget::PerEvaluation(n) => write!(f, "per-evaluation budget of {n}"),
        }
    }
}

/// Why a result is inconclusive: the host, not the code under test, stopped
/// the evaluation, so nothing may be recorded as pass or fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InconclusiveCause {
    /// The wall-clock backstop fired.
    WallBackstop {
        /// The backstop that was in force.
        ms: u64,
    },
    /// The host itself failed.
    Host {
        /// What failed.
        message: String,
    },
    /// The instance pool had no free slot for the whole of
    /// [`crate::SandboxConfig::pool_wait_ms`]: the host was busy, the code
    /// under test did nothing wrong.
    PoolBusy {
        /// The pool's own words (which resource ran out).
        message: String,
        /// How long the evaluation waited for a slot.
        waited_ms: u64,
    },
}

impl fmt::Display for InconclusiveCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InconclusiveCause::WallBackstop { ms } => {
                write!(f, "wall-clock backstop of {ms} ms reached")
            }
            InconclusiveCause::Host { message } => write!(f, "host error: {message}"),
            InconclusiveCause::PoolBusy { message, waited_ms } => write!(
                f,
                "no free instance slot after waiting {waited_ms} ms ({message}); raise the \
                 sandbox.pool_* settings or lower limits.workers"
            ),
        }
    }
}

/// Why an evaluation, invariant check or load did not produce a verdict of
/// "valid metrics".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    /// The agent exhausted a fuel budget.
    #[error("agent ran out of fuel {at} ({budget})")]
    AgentOutOfFuel {
        /// Where.
        at: AgentCall,
        /// Which budget.
        budget: FuelBudget,
    },
    /// The agent tried to grow its linear memory past the cap.
    #[error("agent asked for {requested} bytes of memory {at}, over the cap of {cap} bytes")]
    AgentMemoryExceeded {
        /// Where.
        at: AgentCall,
        /// Memory size the agent asked for.
        requested: u64,
        /// The cap in force.
        cap: u64,
    },
    /// The agent exhausted the wasm stack.
    #[error("agent overflowed its wasm stack {at}")]
    AgentStackOverflow {
        /// Where.
        at: AgentCall,
    },
    /// The agent trapped (panic, `unreachable`, out-of-bounds access, ...).
    #[error("agent trapped {at}: {message}")]
    AgentTrap {
        /// Where.
        at: AgentCall,
        /// The trap and the innermost non-runtime frame.
        message: String,
    },
    /// The agent returned an action the host refuses.
    #[error("agent returned an invalid action {at}: {reason}")]
    AgentInvalidAction {
        /// Where.
        at: AgentCall,
        /// Non-finite value or over-long vector.
        reason: String,
    },
    /// The agent handed the host a value that cannot be lifted under the
    /// canonical ABI: a list or string outside its memory, a misaligned
    /// pointer, a bad return-area pointer, invalid UTF-8, an invalid
    /// discriminant, or a `cabi_realloc` result the host cannot use. Such a
    /// value is the agent's doing exactly like a trap, so it is never
    /// reported as a host error.
    #[error("agent returned a value the host cannot read {at}: {reason}")]
    AgentInvalidReturn {
        /// Which call returned it.
        at: AgentCall,
        /// What is wrong with it, as the component runtime reported it.
        reason: String,
    },
    /// `init` returned an error or trapped. Displayed as the agent's own
    /// text first: callers add "your agent's init failed: " in front.
    #[error("{message} ({at})")]
    AgentInitFailed {
        /// Where.
        at: AgentCall,
        /// The agent's error text or the trap.
        message: String,
    },
    /// The component imports something its role may not import.
    #[error("{role} component imports `{import}`, which {} may not import{}", .role.with_article(), others_suffix(.all, .import))]
    ForbiddenImport {
        /// The role it was loaded as.
        role: Role,
        /// The first forbidden import, in import order.
        import: String,
        /// Every forbidden import, in import order.
        all: Vec<String>,
    },
    /// The component does not target the world of its role (wrong exports,
    /// a core module instead of a component, mismatched signatures).
    #[error("component is not {} (world {}): {reason}", .role.with_article(), .role.world())]
    WrongWorld {
        /// The role it was loaded as.
        role: Role,
        /// What does not match.
        reason: String,
    },
    /// The bytes are not WebAssembly, or not valid WebAssembly the engine
    /// accepts.
    #[error("not a valid WebAssembly component: {reason}")]
    NotWasm {
        /// What the parser or validator said.
        reason: String,
    },
    /// The component is bigger than `limits.max_component_bytes`.
    #[error("component is {size} bytes, over the limit of {max} bytes")]
    ComponentTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The harness or invariant itself failed (returned an error, trapped,
    /// ran out of its own fuel or memory); never blamed on the agent.
    #[error("{role} failed: {message}")]
    HarnessFault {
        /// Harness or invariant.
        role: Role,
        /// What happened.
        message: String,
    },
    /// The harness reported a NaN or infinite metric.
    #[error("metric `{name}` is not finite ({value})")]
    NonFiniteMetric {
        /// Metric name (`reward`, `risk`, or an extra's name).
        name: String,
        /// The value as text (`NaN`, `inf`, `-inf`).
        value: String,
    },
    /// An invariant rejected the pack.
    #[error("invariant violated: {reason}")]
    InvariantViolated {
        /// The invariant's reason.
        reason: String,
    },
    /// The host stopped the evaluation; not a verdict on the agent.
    #[error("inconclusive: {cause}")]
    Inconclusive {
        /// Why.
        cause: InconclusiveCause,
    },
}

fn others_suffix(all: &[String], first: &str) -> String {
    let others: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|n| *n != first)
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(" (also forbidden: {})", others.join(", "))
    }
}

impl Fault {
    /// The stable reject reason recorded in logs. These strings never
    /// change meaning; new ones may be added.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Fault::AgentOutOfFuel { .. } => "agent_out_of_fuel",
            Fault::AgentMemoryExceeded { .. } => "agent_memory_exceeded",
            Fault::AgentStackOverflow { .. } => "agent_stack_overflow",
            Fault::AgentTrap { .. } => "agent_trap",
            Fault::AgentInvalidAction { .. } => "agent_invalid_action",
            Fault::AgentInvalidReturn { .. } => "agent_invalid_return",
            Fault::AgentInitFailed { .. } => "agent_init_failed",
            Fault::ForbiddenImport { .. } => "forbidden_import",
            Fault::WrongWorld { .. } => "wrong_world",
            Fault::NotWasm { .. } => "not_wasm",
            Fault::ComponentTooLarge { .. } => "component_too_large",
            Fault::HarnessFault { .. } => "harness_fault",
            Fault::NonFiniteMetric { .. } => "non_finite_metric",
            Fault::InvariantViolated { .. } => "invariant_violated",
            Fault::Inconclusive { .. } => "inconclusive",
        }
    }

    /// Whether the fault is the agent's doing (as opposed to the goal's
    /// components or the host).
    pub fn is_agent_fault(&self) -> bool {
        matches!(
            self,
            Fault::AgentOutOfFuel { .. }
                | Fault::AgentMemoryExceeded { .. }
                | Fault::AgentStackOverflow { .. }
                | Fault::AgentTrap { .. }
                | Fault::AgentInvalidAction { .. }
                | Fault::AgentInvalidReturn { .. }
                | Fault::AgentInitFailed { .. }
        )
    }

    /// Whether a replay may legitimately differ: only inconclusive results.
    pub fn is_inconclusive(&self) -> bool {
        matches!(self, Fault::Inconclusive { .. })
    }
}

/// Why a component could not be loaded. Converts into the matching
/// [`Fault`] (same reason code) so a rejected pack gets the same record as
/// one that failed at run time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(transparent)]
pub struct LoadError(pub Fault);

impl LoadError {
    /// Stable reason code, as [`Fault::reason_code`].
    pub fn reason_code(&self) -> &'static str {
        self.0.reason_code()
    }

    /// The underlying fault.
    pub fn fault(&self) -> &Fault {
        &self.0
    }
}

impl From<LoadError> for Fault {
    fn from(e: LoadError) -> Fault {
        e.0
    }
}

/// The sandbox could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The engine or a linker could not be built.
    #[error("engine setup failed: {0}")]
    Engine(String),
    /// The cache directory is unusable.
    #[error("cache directory {path} is unusable: {reason}")]
    CacheDir {
        /// The directory.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The background epoch ticker could not be started.
    #[error("could not start the epoch ticker thread: {0}")]
    Ticker(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_the_contracted_ones() {
        let at = AgentCall::Act { index: 3 };
        let cases: Vec<(Fault, &str)> = vec![
            (
                Fault::AgentOutOfFuel {
                    at,
                    budget: FuelBudget::PerCall(5),
                },
                "agent_out_of_fuel",
            ),
            (
                Fault::AgentMemoryExceeded {
                    at,
                    requested: 1,
                    cap: 0,
                },
                "agent_memory_exceeded",
            ),
            (Fault::AgentStackOverflow { at }, "agent_stack_overflow"),
            (
                Fault::AgentTrap {
                    at,
                    message: String::new(),
                },
                "agent_trap",
            ),
            (
                Fault::AgentInvalidAction {
                    at,
                    reason: String::new(),
                },
                "agent_invalid_action",
            ),
            (
                Fault::AgentInvalidReturn {
                    at,
                    reason: String::new(),
                },
                "agent_invalid_return",
            ),
            (
                Fault::AgentInitFailed {
                    at: AgentCall::Init { resets: 0 },
                    message: String::new(),
                },
                "agent_init_failed",
            ),
            (
                Fault::ForbiddenImport {
                    role: Role::Agent,
                    import: "x".into(),
                    all: vec![],
                },
                "forbidden_import",
            ),
            (
                Fault::WrongWorld {
                    role: Role::Agent,
                    reason: String::new(),
                },
                "wrong_world",
            ),
            (
                Fault::NotWasm {
                    reason: String::new(),
                },
                "not_wasm",
            ),
            (
                Fault::ComponentTooLarge { size: 2, max: 1 },
                "component_too_large",
            ),
            (
                Fault::HarnessFault {
                    role: Role::Harness,
                    message: String::new(),
                },
                "harness_fault",
            ),
            (
                Fault::NonFiniteMetric {
                    name: "r".into(),
                    value: "NaN".into(),
                },
                "non_finite_metric",
            ),
            (
                Fault::InvariantViolated {
                    reason: String::new(),
                },
                "invariant_violated",
            ),
            (
                Fault::Inconclusive {
                    cause: InconclusiveCause::WallBackstop { ms: 1 },
                },
                "inconclusive",
            ),
        ];
        for (fault, code) in cases {
            assert_eq!(fault.reason_code(), code, "{fault:?}");
        }
    }

    #[test]
    fn an_invalid_return_is_the_agents_fault_and_never_inconclusive() {
        let f = Fault::AgentInvalidReturn {
            at: AgentCall::Act { index: 3 },
            reason: "list pointer is not aligned".into(),
        };
        assert!(f.is_agent_fault());
        assert!(!f.is_inconclusive());
        assert_eq!(
            f.to_string(),
            "agent returned a value the host cannot read in act call #3: \
             list pointer is not aligned"
        );
    }

    #[test]
    fn forbidden_import_message_names_every_import() {
        let f = Fault::ForbiddenImport {
            role: Role::Agent,
            import: "wasi:filesystem/types@0.2.6".into(),
            all: vec![
                "wasi:filesystem/types@0.2.6".into(),
                "wasi:cli/stdout@0.2.6".into(),
            ],
        };
        let text = f.to_string();
        assert!(text.contains("`wasi:filesystem/types@0.2.6`"), "{text}");
        assert!(text.contains("wasi:cli/stdout@0.2.6"), "{text}");
    }
}
