//! Hostile agent: answers `[NaN]` (`agent_invalid_action`; the host refuses
//! non-finite actions before the harness sees them).

use ian_guest_sdk::{Action, Agent, Observation};

struct NotANumber;

impl Agent for NotANumber {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(NotANumber)
    }

    fn act(&mut self, _obs: &Observation) -> Action {
        // 0/0 computed at run time, so the NaN comes out of the guest's own
        // arithmetic (and its bit pattern out of the host's canonicalization).
        vec![std::hint::black_box(0.0f64) / std::hint::black_box(0.0f64)]
    }
}

ian_guest_sdk::export_agent!(NotANumber);
