//! Write IAN agents, goal harnesses and goal invariants in plain Rust.
//!
//! An IAN component is a WebAssembly component implementing one world of the
//! `ian:eval@0.1.0` WIT package (`wit/ian-eval.wit`, shipped inside this crate). This crate hides the
//! generated bindings behind three small traits and three export macros, so
//! that a contestant writes only its strategy:
//!
//! ```ignore
//! use ian_guest_sdk::{Action, Agent, Observation, params::Params};
//!
//! struct Flat { level: f64 }
//!
//! impl Agent for Flat {
//!     fn init(params: &[u8]) -> Result<Self, String> {
//!         let p = Params::parse(params)?;
//!         Ok(Flat { level: p.f64_or("level", 0.0)? })
//!     }
//!     fn act(&mut self, _obs: &Observation) -> Action {
//!         vec![self.level]
//!     }
//! }
//!
//! ian_guest_sdk::export_agent!(Flat);
//! ```
//!
//! Build for `wasm32-unknown-unknown` as a `cdylib`, then turn the core
//! module into a component with `ian-componentize` (or `ian-host pack`,
//! which accepts the core module directly). See `docs/GUESTS.md`.
//!
//! The SDK generates bindings for all three worlds; only the *imports* of
//! each land in the library, and only the export macro you invoke adds
//! exports, so an agent component exports `agent` and imports nothing but
//! the type-only `ian:eval/types` interface.

// Lets paths generated as `ian_guest_sdk::...` resolve inside this crate too.
extern crate self as ian_guest_sdk;

pub mod params;
pub mod rng;
pub mod types;

pub use types::{Action, AgentError, Metrics, Observation, PackInfo};

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Generated bindings of the `agent-pack-reporting` world (used by
/// [`export_agent!`]): the agent world plus the panic report, so that a
/// panic's message reaches the contributor instead of a bare trap.
#[doc(hidden)]
pub mod agent_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "agent-pack-reporting",
        with: {
            "ian:eval/types@0.1.0": crate::types,
            "ian:diagnostics/panic@0.1.0": generate,
        },
        pub_export_macro: true,
        export_macro_name: "__ian_export_agent_pack",
        default_bindings_module: "ian_guest_sdk::agent_world",
        runtime_path: "ian_guest_sdk::__wit_bindgen::rt",
    });
}

/// Generated bindings of the `goal-harness` world (used by [`export_harness!`]).
#[doc(hidden)]
pub mod harness_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "goal-harness",
        with: { "ian:eval/types@0.1.0": crate::types },
        pub_export_macro: true,
        export_macro_name: "__ian_export_goal_harness",
        default_bindings_module: "ian_guest_sdk::harness_world",
        runtime_path: "ian_guest_sdk::__wit_bindgen::rt",
    });
}

/// Generated bindings of the `goal-invariant` world (used by
/// [`export_invariant!`]). The `policy` import is shared with the harness
/// world so that one [`Policy`] type serves both.
#[doc(hidden)]
pub mod invariant_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "goal-invariant",
        with: {
            "ian:eval/types@0.1.0": crate::types,
            "ian:eval/policy@0.1.0": crate::harness_world::ian::eval::policy,
        },
        pub_export_macro: true,
        export_macro_name: "__ian_export_goal_invariant",
        default_bindings_module: "ian_guest_sdk::invariant_world",
        runtime_path: "ian_guest_sdk::__wit_bindgen::rt",
    });
}

/// A contestant. One instance lives for one episode: the host creates a
/// fresh instance per evaluation (and per `policy.reset`), calls
/// [`Agent::init`] once with the pack's parameter bytes, then
/// [`Agent::act`] once per step.
///
/// To refuse to act, panic: the host records a trap as the agent's fault.
pub trait Agent: Sized + 'static {
    /// Builds the agent from its parameter bytes (see [`params`]); an `Err`
    /// makes the evaluation fail with `agent_init_failed`.
    fn init(params: &[u8]) -> Result<Self, String>;

    /// Decides on an action for one observation.
    fn act(&mut self, obs: &Observation) -> Action;
}

/// A goal's scorer: runs episodes against the agent through [`Policy`] and
/// turns them into [`Metrics`]. Must be deterministic given
/// `(config, seed)` and the agent's answers; derive any randomness from
/// `seed` (see [`rng::Rng`]).
pub trait Harness {
    /// Evaluates the agent. `config` is the goal file's `harness.config`
    /// string as UTF-8 bytes. An `Err` is reported as `harness_fault`
    /// unless the agent faulted first, in which case the agent's fault wins.
    fn evaluate(config: &[u8], seed: u64, policy: &mut Policy) -> Result<Metrics, String>;
}

/// A goal's admission check on a pack; may probe the agent through
/// [`Policy`]. An `Err` is the human-readable violation reason.
pub trait Invariant {
    /// Checks the pack.
    fn check(pack: &PackInfo, policy: &mut Policy) -> Result<(), String>;
}

/// The agent under evaluation, as seen from a harness or invariant. Calls go
/// through the host, which runs the agent in its own sandbox with its own
/// fuel and memory; the harness never sees agent memory.
///
/// In native unit tests, [`Policy::native`] stands in for the host: it runs
/// a real [`Agent`] type in-process with the host's rules (lazy `init`,
/// sticky first fault, non-finite actions refused), so a harness or
/// invariant is tested against real agent code, not against closures.
pub struct Policy {
    backend: Backend,
}

enum Backend {
    Host,
    #[cfg(not(target_family = "wasm"))]
    Native(native::NativeAgent),
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Host => f.write_str("Policy(host)"),
            #[cfg(not(target_family = "wasm"))]
            Backend::Native(a) => write!(f, "Policy(native, {} act calls)", a.acts),
        }
    }
}

impl Policy {
    #[doc(hidden)]
    pub fn __new() -> Self {
        Policy {
            backend: Backend::Host,
        }
    }

    /// A policy backed by the agent type `A`, run natively in this process
    /// with `params` as its parameter bytes: for unit tests of harnesses and
    /// invariants (`cargo test` on the host target). Like the host, it calls
    /// `A::init` before the first `act` and on every `reset`, turns a panic
    /// into [`AgentError::Trap`] with the panic message, refuses actions
    /// with non-finite values or more than 64 values
    /// ([`AgentError::InvalidAction`]), and answers every call after the
    /// first fault with that fault. Fuel and memory are not metered.
    #[cfg(not(target_family = "wasm"))]
    pub fn native<A: Agent>(params: &[u8]) -> Self {
        Policy {
            backend: Backend::Native(native::NativeAgent::new::<A>(params)),
        }
    }

    /// How many `act` calls reached the agent (native policies only; the
    /// host keeps its own count). Lets a test check that a harness stops at
    /// the first error or plays the number of steps it promises.
    #[cfg(not(target_family = "wasm"))]
    pub fn act_calls(&self) -> u64 {
        match &self.backend {
            Backend::Native(a) => a.acts,
            Backend::Host => 0,
        }
    }

    /// Asks the agent for an action. After the first `Err`, every later call
    /// returns the same error; stop and return it (`?` converts it to
    /// `String`).
    pub fn act(&mut self, obs: &Observation) -> Result<Action, AgentError> {
        match &mut self.backend {
            Backend::Host => harness_world::ian::eval::policy::act(obs),
            #[cfg(not(target_family = "wasm"))]
            Backend::Native(a) => a.act(obs),
        }
    }

    /// Replaces the agent by a fresh instance initialised with the same
    /// parameters (between episodes). Fuel used so far still counts.
    pub fn reset(&mut self) -> Result<(), AgentError> {
        match &mut self.backend {
            Backend::Host => harness_world::ian::eval::policy::reset(),
            #[cfg(not(target_family = "wasm"))]
            Backend::Native(a) => a.reset(),
        }
    }
}

#[cfg(not(target_family = "wasm"))]
mod native {
    //! The in-process stand-in for the host's agent sandbox.
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use crate::{Action, Agent, AgentError, Observation};

    /// The host's default `limits.max_action_len`.
    const MAX_ACTION_LEN: usize = 64;

    type Act = Box<dyn FnMut(&Observation) -> Action>;
    type Init = fn(&[u8]) -> Result<Act, String>;

    pub(crate) struct NativeAgent {
        init: Init,
        params: Vec<u8>,
        live: Option<Act>,
        fault: Option<AgentError>,
        pub(crate) acts: u64,
    }

    fn init_boxed<A: Agent>(params: &[u8]) -> Result<Act, String> {
        let mut agent = A::init(params)?;
        Ok(Box::new(move |obs: &Observation| agent.act(obs)))
    }

    fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-text panic payload)".into());
        format!("panicked: {msg}")
    }

    impl NativeAgent {
        pub(crate) fn new<A: Agent>(params: &[u8]) -> Self {
            NativeAgent {
                init: init_boxed::<A>,
                params: params.to_vec(),
                live: None,
                fault: None,
                acts: 0,
            }
        }

        fn start(&mut self) -> Result<(), AgentError> {
            let init = self.init;
            let params = self.params.clone();
            match catch_unwind(move || init(&params)) {
                Ok(Ok(act)) => {
                    self.live = Some(act);
                    Ok(())
                }
                Ok(Err(msg)) => Err(self.fail(AgentError::InitFailed(msg))),
                Err(p) => Err(self.fail(AgentError::InitFailed(panic_text(p)))),
            }
        }

        fn fail(&mut self, e: AgentError) -> AgentError {
            self.live = None;
            self.fault = Some(e.clone());
            e
        }

        pub(crate) fn act(&mut self, obs: &Observation) -> Result<Action, AgentError> {
            if let Some(f) = &self.fault {
                return Err(f.clone());
            }
            if self.live.is_none() {
                self.start()?;
            }
            let Some(act) = self.live.as_mut() else {
                unreachable!("start() either sets `live` or returns an error")
            };
            self.acts += 1;
            let action = match catch_unwind(AssertUnwindSafe(|| act(obs))) {
                Ok(a) => a,
                Err(p) => return Err(self.fail(AgentError::Trap(panic_text(p)))),
            };
            if action.len() > MAX_ACTION_LEN {
                let reason = format!(
                    "{} values, over the limit of {MAX_ACTION_LEN}",
                    action.len()
                );
                return Err(self.fail(AgentError::InvalidAction(reason)));
            }
            if let Some(i) = action.iter().position(|v| !v.is_finite()) {
                let reason = format!("value #{i} is not finite ({})", action[i]);
                return Err(self.fail(AgentError::InvalidAction(reason)));
            }
            Ok(action)
        }

        pub(crate) fn reset(&mut self) -> Result<(), AgentError> {
            if let Some(f) = &self.fault {
                return Err(f.clone());
            }
            self.live = None;
            self.start()
        }
    }
}

/// What a harness returns to blame the agent for an action the goal
/// refuses (wrong length, outside the goal's range): the host records
/// `agent_invalid_action` against the agent's last `act` call, not a fault
/// of the harness. A plain `Err(String)` stays the harness's own fault.
///
/// ```ignore
/// let [position] = action[..] else {
///     return Err(ian_guest_sdk::agent_invalid_action(format!(
///         "expected 1 value, got {}", action.len()
///     )));
/// };
/// ```
pub fn agent_invalid_action(reason: impl std::fmt::Display) -> String {
    format!("{AGENT_INVALID_ACTION_TAG}{reason}")
}

/// The marker [`agent_invalid_action`] puts in front of its reason; the
/// host matches it exactly.
pub const AGENT_INVALID_ACTION_TAG: &str = "ian:agent-invalid-action: ";

#[doc(hidden)]
pub mod __private {
    //! Runtime glue used by the export macros; not part of the API.
    use std::cell::RefCell;

    use crate::{Action, Agent, Observation};

    trait DynAgent {
        fn act(&mut self, obs: &Observation) -> Action;
    }

    impl<T: Agent> DynAgent for T {
        fn act(&mut self, obs: &Observation) -> Action {
            Agent::act(self, obs)
        }
    }

    thread_local! {
        static AGENT: RefCell<Option<Box<dyn DynAgent>>> = const { RefCell::new(None) };
    }

    /// Sends the panic message to the host (`ian:diagnostics/panic`)
    /// before the abort turns it into a bare trap. Installed once per
    /// instance, at the first `init`.
    #[cfg(target_family = "wasm")]
    fn report_panics() {
        use std::sync::Once;
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                crate::agent_world::ian::diagnostics::panic::report(&info.to_string());
            }));
        });
    }

    pub fn agent_init<T: Agent>(params: &[u8]) -> Result<(), String> {
        #[cfg(target_family = "wasm")]
        report_panics();
        let agent = T::init(params)?;
        AGENT.with_borrow_mut(|slot| *slot = Some(Box::new(agent)));
        Ok(())
    }

    pub fn agent_act(obs: &Observation) -> Action {
        AGENT.with_borrow_mut(|slot| match slot {
            Some(agent) => agent.act(obs),
            None => panic!("ian agent: act called before a successful init"),
        })
    }
}

/// Exports a type implementing [`Agent`] as the component's `agent`
/// interface (world `agent-pack`). Invoke once, in a `cdylib` crate.
#[macro_export]
macro_rules! export_agent {
    ($agent:ty) => {
        // Native builds (unit tests) export nothing: the component exports
        // exist only on wasm, where a native linker never sees their names.
        #[cfg(not(target_family = "wasm"))]
        const _: fn(&[u8]) -> ::core::result::Result<$agent, ::std::string::String> =
            <$agent as $crate::Agent>::init;
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct __IanAgentGlue;
            impl $crate::agent_world::exports::ian::eval::agent::Guest for __IanAgentGlue {
                fn init(
                    params: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::agent_init::<$agent>(&params)
                }
                fn act(obs: $crate::Observation) -> $crate::Action {
                    $crate::__private::agent_act(&obs)
                }
            }
            $crate::agent_world::__ian_export_agent_pack!(
                __IanAgentGlue with_types_in $crate::agent_world
            );
        };
    };
}

/// Exports a type implementing [`Harness`] as the component's `harness`
/// interface (world `goal-harness`). Invoke once, in a `cdylib` crate.
#[macro_export]
macro_rules! export_harness {
    ($harness:ty) => {
        #[cfg(not(target_family = "wasm"))]
        const _: fn(
            &[u8],
            u64,
            &mut $crate::Policy,
        ) -> ::core::result::Result<$crate::Metrics, ::std::string::String> =
            <$harness as $crate::Harness>::evaluate;
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct __IanHarnessGlue;
            impl $crate::harness_world::exports::ian::eval::harness::Guest for __IanHarnessGlue {
                fn evaluate(
                    config: ::std::vec::Vec<u8>,
                    seed: u64,
                ) -> ::core::result::Result<$crate::Metrics, ::std::string::String> {
                    let mut policy = $crate::Policy::__new();
                    <$harness as $crate::Harness>::evaluate(&config, seed, &mut policy)
                }
            }
            $crate::harness_world::__ian_export_goal_harness!(
                __IanHarnessGlue with_types_in $crate::harness_world
            );
        };
    };
}

/// Exports a type implementing [`Invariant`] as the component's `invariant`
/// interface (world `goal-invariant`). Invoke once, in a `cdylib` crate.
#[macro_export]
macro_rules! export_invariant {
    ($invariant:ty) => {
        #[cfg(not(target_family = "wasm"))]
        const _: fn(
            &$crate::PackInfo,
            &mut $crate::Policy,
        ) -> ::core::result::Result<(), ::std::string::String> =
            <$invariant as $crate::Invariant>::check;
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct __IanInvariantGlue;
            impl $crate::invariant_world::exports::ian::eval::invariant::Guest
                for __IanInvariantGlue
            {
                fn check(
                    pack: $crate::PackInfo,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    let mut policy = $crate::Policy::__new();
                    <$invariant as $crate::Invariant>::check(&pack, &mut policy)
                }
            }
            $crate::invariant_world::__ian_export_goal_invariant!(
                __IanInvariantGlue with_types_in $crate::invariant_world
            );
        };
    };
}
