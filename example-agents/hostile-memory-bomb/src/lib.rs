//! Hostile agent: grows linear memory until the host refuses
//! (`agent_memory_exceeded`). Pages are grown but never touched, so the bomb
//! costs almost no fuel and reaches the memory cap before any fuel limit.

use ian_guest_sdk::{Action, Agent, Observation};

struct Bomb;

impl Agent for Bomb {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Bomb)
    }

    fn act(&mut self, _obs: &Observation) -> Action {
        let mut grown_pages = 0usize;
        // 16 pages = 1 MiB per step, up to the full 4 GiB address space.
        while grow_pages(16) {
            grown_pages += 16;
        }
        vec![grown_pages as f64]
    }
}

#[cfg(target_arch = "wasm32")]
fn grow_pages(pages: usize) -> bool {
    core::arch::wasm32::memory_grow(0, pages) != usize::MAX
}

/// Native builds (workspace checks only) have no linear memory to grow.
#[cfg(not(target_arch = "wasm32"))]
fn grow_pages(_pages: usize) -> bool {
    false
}

ian_guest_sdk::export_agent!(Bomb);
