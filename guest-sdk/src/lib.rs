//! Write IAN agents, goal harnesses and goal invariants in plain Rust.
//!
//! An IAN component is a WebAssembly component implementing one world of the
//! `ian:eval@0.1.0` WIT package (`wit/ian-eval.wit`). This crate hides the
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

/// Generated bindings of the `agent-pack` world (used by [`export_agent!`]).
#[doc(hidden)]
pub mod agent_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "agent-pack",
        with: { "ian:eval/types@0.1.0": crate::types },
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
        path: "../wit",
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
        path: "../wit",
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
#[derive(Debug)]
pub struct Policy {
    _private: (),
}

impl Policy {
    #[doc(hidden)]
    pub fn __new() -> Self {
        Policy { _private: () }
    }

    /// Asks the agent for an action. After the first `Err`, every later call
    /// returns the same error; stop and return it (`?` converts it to
    /// `String`).
    pub fn act(&mut self, obs: &Observation) -> Result<Action, AgentError> {
        harness_world::ian::eval::policy::act(obs)
    }

    /// Replaces the agent by a fresh instance initialised with the same
    /// parameters (between episodes). Fuel used so far still counts.
    pub fn reset(&mut self) -> Result<(), AgentError> {
        harness_world::ian::eval::policy::reset()
    }
}

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

    pub fn agent_init<T: Agent>(params: &[u8]) -> Result<(), String> {
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
