//! The typed vocabulary of evaluation outcomes, shared by every evaluator
//! (the node's sandbox, a mirror's sandbox, a test double) and every reader
//! (the pipeline, the HTTP API, the CLI).
//!
//! Three outcomes are kept apart on purpose, because they mean different
//! things to the people involved:
//!
//! * [`Verdict::Evaluated`] — the code ran and produced metrics;
//! * [`Verdict::Failed`] — the code under test (or the goal's own
//!   components) did something deterministic that refuses the pack: a trap,
//!   running out of fuel, an invalid return value. Recorded against the pack;
//!   any node replaying it reaches the same [`GuestFault`];
//! * [`Verdict::Inconclusive`] — the *host* could not decide (wall-clock
//!   backstop, instance pool exhausted, an internal error, code missing on
//!   this node). Never recorded, never shown as a rejection: the caller is
//!   told to retry.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::pipeline::Evaluation;

/// What a guest did wrong, as a stable code. The sandbox maps each of its
/// faults to exactly one kind; the snake_case names ([`FaultKind::code`])
/// are part of the API and never change meaning (new ones may be added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The agent exhausted a fuel budget.
    AgentOutOfFuel,
    /// The agent tried to grow its memory past the cap.
    AgentMemoryExceeded,
    /// The agent exhausted the wasm stack.
    AgentStackOverflow,
    /// The agent trapped (panic, `unreachable`, out-of-bounds access).
    AgentTrap,
    /// The agent returned an action the host refuses (non-finite, too long).
    AgentInvalidAction,
    /// The agent returned a value that cannot be lifted under the canonical
    /// ABI (pointer or length out of its memory, bad UTF-8, bad
    /// discriminant, misaligned pointer).
    AgentInvalidReturn,
    /// The agent's `init` returned an error or trapped.
    AgentInitFailed,
    /// The component imports something its role may not import.
    ForbiddenImport,
    /// The component does not target the expected world exactly.
    WrongWorld,
    /// The bytes are not a valid WebAssembly component.
    NotWasm,
    /// The component exceeds the goal's size limit.
    ComponentTooLarge,
    /// The goal's harness or invariant itself failed on this pack.
    HarnessFault,
    /// The harness reported a NaN or infinite metric.
    NonFiniteMetric,
    /// An invariant refused the pack.
    InvariantViolated,
}

impl FaultKind {
    /// Every kind, in declaration order (for documentation and tests).
    pub const ALL: [FaultKind; 14] = [
        FaultKind::AgentOutOfFuel,
        FaultKind::AgentMemoryExceeded,
        FaultKind::AgentStackOverflow,
        FaultKind::AgentTrap,
        FaultKind::AgentInvalidAction,
        FaultKind::AgentInvalidReturn,
        FaultKind::AgentInitFailed,
        FaultKind::ForbiddenImport,
        FaultKind::WrongWorld,
        FaultKind::NotWasm,
        FaultKind::ComponentTooLarge,
        FaultKind::HarnessFault,
        FaultKind::NonFiniteMetric,
        FaultKind::InvariantViolated,
    ];

    /// The stable snake_case code (API, logs, metrics labels).
    pub fn code(self) -> &'static str {
        match self {
            FaultKind::AgentOutOfFuel => "agent_out_of_fuel",
            FaultKind::AgentMemoryExceeded => "agent_memory_exceeded",
            FaultKind::AgentStackOverflow => "agent_stack_overflow",
            FaultKind::AgentTrap => "agent_trap",
            FaultKind::AgentInvalidAction => "agent_invalid_action",
            FaultKind::AgentInvalidReturn => "agent_invalid_return",
            FaultKind::AgentInitFailed => "agent_init_failed",
            FaultKind::ForbiddenImport => "forbidden_import",
            FaultKind::WrongWorld => "wrong_world",
            FaultKind::NotWasm => "not_wasm",
            FaultKind::ComponentTooLarge => "component_too_large",
            FaultKind::HarnessFault => "harness_fault",
            FaultKind::NonFiniteMetric => "non_finite_metric",
            FaultKind::InvariantViolated => "invariant_violated",
        }
    }

    /// Whether the agent (rather than the goal's components) is to blame.
    pub fn is_agent_fault(self) -> bool {
        matches!(
            self,
            FaultKind::AgentOutOfFuel
                | FaultKind::AgentMemoryExceeded
                | FaultKind::AgentStackOverflow
                | FaultKind::AgentTrap
                | FaultKind::AgentInvalidAction
                | FaultKind::AgentInvalidReturn
                | FaultKind::AgentInitFailed
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A deterministic failure of the code under evaluation: the same pack on
/// any node with the same engine and config fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFault {
    /// What kind of failure.
    pub kind: FaultKind,
    /// The concrete problem, for people (which call, which value, ...).
    pub message: String,
}

impl GuestFault {
    /// A fault of `kind` described by `message`.
    pub fn new(kind: FaultKind, message: impl Into<String>) -> GuestFault {
        GuestFault {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for GuestFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.code())
    }
}

/// Why the host could not reach a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveCause {
    /// The wall-clock backstop fired: a slower or busier machine must not
    /// turn into a recorded failure.
    WallBackstop,
    /// The host ran out of a shared resource (instance pool, queue).
    HostBusy,
    /// The host failed on its own (an internal error, code this node does
    /// not hold, a component that could not be loaded on this node).
    HostError,
}

impl InconclusiveCause {
    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            InconclusiveCause::WallBackstop => "wall_backstop",
            InconclusiveCause::HostBusy => "host_busy",
            InconclusiveCause::HostError => "host_error",
        }
    }
}

/// The host stopped before a verdict. Nothing is recorded against the pack;
/// the contributor may simply retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("inconclusive ({}): {message}", .cause.code())]
pub struct Inconclusive {
    /// Why.
    pub cause: InconclusiveCause,
    /// Detail for operators.
    pub message: String,
}

impl Inconclusive {
    /// An inconclusive outcome with this cause and detail.
    pub fn new(cause: InconclusiveCause, message: impl Into<String>) -> Inconclusive {
        Inconclusive {
            cause,
            message: message.into(),
        }
    }
}

/// A check that did not pass: either the guest's deterministic fault or the
/// host's failure to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Recorded against the pack.
    Guest(GuestFault),
    /// Not a verdict.
    Inconclusive(Inconclusive),
}

impl From<GuestFault> for Failure {
    fn from(f: GuestFault) -> Failure {
        Failure::Guest(f)
    }
}

impl From<Inconclusive> for Failure {
    fn from(i: Inconclusive) -> Failure {
        Failure::Inconclusive(i)
    }
}

/// The outcome of step 5, computed outside any lock and handed to
/// [`crate::pipeline::GoalState::commit`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Metrics were produced (thresholds still apply at commit).
    Evaluated(Evaluation),
    /// A deterministic failure of the guest: the pack is rejected.
    Failed(GuestFault),
    /// No verdict: nothing is recorded.
    Inconclusive(Inconclusive),
}

impl From<Failure> for Verdict {
    fn from(f: Failure) -> Verdict {
        match f {
            Failure::Guest(g) => Verdict::Failed(g),
            Failure::Inconclusive(i) => Verdict::Inconclusive(i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_codes_are_distinct_and_match_their_serde_names() {
        let mut seen = std::collections::BTreeSet::new();
        for k in FaultKind::ALL {
            assert!(seen.insert(k.code()), "duplicate code {}", k.code());
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, serde_json::Value::String(k.code().into()));
            let back: FaultKind = serde_json::from_value(json).unwrap();
            assert_eq!(back, k);
        }
    }

    #[test]
    fn only_agent_kinds_blame_the_agent() {
        assert!(FaultKind::AgentInvalidReturn.is_agent_fault());
        assert!(FaultKind::AgentTrap.is_agent_fault());
        assert!(!FaultKind::HarnessFault.is_agent_fault());
        assert!(!FaultKind::InvariantViolated.is_agent_fault());
        assert!(!FaultKind::NotWasm.is_agent_fault());
    }
}
