//! Hostile agent: answers `[+inf]` (`agent_invalid_action`).

use ian_guest_sdk::{Action, Agent, Observation};

struct Unbounded;

impl Agent for Unbounded {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Unbounded)
    }

    fn act(&mut self, _obs: &Observation) -> Action {
        vec![std::hint::black_box(1.0f64) / std::hint::black_box(0.0f64)]
    }
}

ian_guest_sdk::export_agent!(Unbounded);
