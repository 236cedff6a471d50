//! Plain Rust mirrors of the `ian:eval/types` WIT interface.
//!
//! The bindings are generated with `with: { "ian:eval/types@0.1.0": crate::types }`,
//! so these hand-written types are what crosses the component boundary.
//! Authors therefore never see generated code, and the SDK's API does not
//! change when the binding generator is upgraded. Field names and shapes
//! must match `guest-sdk/wit/ian-eval.wit` exactly.

use std::fmt;

/// What the agent sees at one step of an episode; the layout of `features`
/// is defined by the goal (see the goal's documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Step index inside the current episode, chosen by the harness.
    pub step: u64,
    /// Feature vector.
    pub features: Vec<f64>,
}

impl Observation {
    /// Builds an observation; a shorthand for harnesses and invariants.
    pub fn new(step: u64, features: Vec<f64>) -> Self {
        Self { step, features }
    }
}

/// The agent's decision; its length and meaning are defined by the goal.
pub type Action = Vec<f64>;

/// Result of one evaluation, produced by a harness. The host overwrites
/// nothing but `complexity` (it measures agent fuel per step itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Higher is better.
    pub reward: f64,
    /// Lower is better.
    pub risk: f64,
    /// Harnesses report 0; the host fills in measured agent fuel per step.
    pub complexity: f64,
    /// Further named scores, in a fixed order chosen by the harness.
    pub extra: Vec<(String, f64)>,
}

impl Metrics {
    /// Metrics with no complexity and no extra scores, the common case.
    pub fn new(reward: f64, risk: f64) -> Self {
        Self {
            reward,
            risk,
            complexity: 0.0,
            extra: Vec::new(),
        }
    }

    /// Adds a named extra score (kept in insertion order).
    pub fn with_extra(mut self, name: &str, value: f64) -> Self {
        self.extra.push((name.to_string(), value));
        self
    }
}

/// What an invariant may inspect about an agent pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackInfo {
    /// Pack metadata as `(key, value)` pairs.
    pub metadata: Vec<(String, String)>,
    /// The pack's parameter bytes (see [`crate::params`]).
    pub params: Vec<u8>,
    /// Size in bytes of the agent component.
    pub code_size: u64,
}

/// Why the host could not obtain an action from the agent. Once an agent has
/// faulted, the host reports that fault as the evaluation's outcome whatever
/// the harness does next, so harnesses should just stop (`?` does that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    /// The agent used up its fuel (per call or per evaluation).
    OutOfFuel,
    /// The agent tried to grow its memory past the host's cap.
    MemoryExceeded,
    /// The agent trapped (panic, unreachable, stack overflow, ...).
    Trap(String),
    /// The agent returned an action the host refuses.
    InvalidAction(String),
    /// `init` failed during (re)initialisation.
    InitFailed(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::OutOfFuel => write!(f, "agent out of fuel"),
            AgentError::MemoryExceeded => write!(f, "agent exceeded its memory cap"),
            AgentError::Trap(msg) => write!(f, "agent trapped: {msg}"),
            AgentError::InvalidAction(msg) => write!(f, "agent returned an invalid action: {msg}"),
            AgentError::InitFailed(msg) => write!(f, "agent init failed: {msg}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Lets harnesses and invariants, which return `Result<_, String>`, use `?`
/// on policy calls.
impl From<AgentError> for String {
    fn from(e: AgentError) -> String {
        e.to_string()
    }
}
