//! Hostile agent: `act` never returns. The host must stop it by fuel
//! (`agent_out_of_fuel`), never by wall clock.

use ian_guest_sdk::{Action, Agent, Observation};

struct Spin;

impl Agent for Spin {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Spin)
    }

    fn act(&mut self, obs: &Observation) -> Action {
        // black_box keeps the optimizer from proving anything about the loop.
        let mut x = obs.step;
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

ian_guest_sdk::export_agent!(Spin);
