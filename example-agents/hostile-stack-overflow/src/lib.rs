//! Hostile agent: unbounded recursion (`agent_stack_overflow`).
//!
//! Two details matter. The recursion is not a tail call and its result is
//! mixed non-associatively after the call, so the optimizer cannot turn it
//! into a loop; its exit condition (`depth == u64::MAX`) is unreachable in
//! practice but not provably so. And every value lives in wasm locals, none
//! has its address taken, so the frames grow the engine's *wasm* stack
//! rather than Rust's shadow stack in linear memory: the host sees a real
//! stack-overflow trap, not an out-of-bounds access when the shadow stack
//! wraps below address 0.

use ian_guest_sdk::{Action, Agent, Observation};

struct Deep;

#[inline(never)]
fn descend(depth: u64, x: f64) -> u64 {
    if depth == u64::MAX {
        return x as u64;
    }
    let a = x * 1.5 + depth as f64;
    let b = a.sqrt();
    let below = descend(depth + 1, b);
    below.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (a as u64) ^ (b as u64).rotate_left(7)
}

impl Agent for Deep {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Deep)
    }

    fn act(&mut self, obs: &Observation) -> Action {
        let seed = obs.features.first().copied().unwrap_or(1.0);
        vec![(descend(obs.step, seed) % 2) as f64]
    }
}

ian_guest_sdk::export_agent!(Deep);
