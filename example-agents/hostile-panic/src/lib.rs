//! Hostile agent: panics in `act` (`agent_trap`). On wasm32-unknown-unknown a
//! panic becomes an `unreachable` trap; the message is lost, the function
//! names in the backtrace are not.

use ian_guest_sdk::{Action, Agent, Observation};

struct Panicker;

impl Agent for Panicker {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Panicker)
    }

    fn act(&mut self, obs: &Observation) -> Action {
        if std::hint::black_box(obs.step) < u64::MAX {
            panic!("hostile-panic refuses to act at step {}", obs.step);
        }
        vec![0.0]
    }
}

ian_guest_sdk::export_agent!(Panicker);
