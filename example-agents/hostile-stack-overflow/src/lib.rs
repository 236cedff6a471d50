//! Hostile agent: unbounded recursion (`agent_stack_overflow`). Each frame
//! keeps a buffer alive across the recursive call and the exit condition is
//! hidden behind `black_box`, so the optimizer can neither turn the recursion
//! into a loop nor prove it finite.

use ian_guest_sdk::{Action, Agent, Observation};

struct Deep;

#[inline(never)]
fn descend(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    if std::hint::black_box(depth) == u64::MAX {
        return frame[0];
    }
    let below = descend(depth + 1);
    std::hint::black_box(below.wrapping_add(frame[7]))
}

impl Agent for Deep {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Deep)
    }

    fn act(&mut self, obs: &Observation) -> Action {
        vec![descend(obs.step) as f64]
    }
}

ian_guest_sdk::export_agent!(Deep);
