//! Hostile agent: answers a 1,000,000-element action (8 MB), far above the
//! host's `max_action_len` (`agent_invalid_action`).

use ian_guest_sdk::{Action, Agent, Observation};

/// Number of elements returned by every `act`.
const LEN: usize = 1_000_000;

struct Flood;

impl Agent for Flood {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Flood)
    }

    fn act(&mut self, _obs: &Observation) -> Action {
        vec![0.25; std::hint::black_box(LEN)]
    }
}

ian_guest_sdk::export_agent!(Flood);
