//! Hostile agent: answers a 1,000,000-element action (8 MB of zeros), far
//! above the host's `max_action_len` (`agent_invalid_action`).
//!
//! Building 8 MB with the default allocator costs about 8 million fuel
//! (`calloc` clears the block with `memory.fill`, 1 fuel per byte), which
//! would make the agent run out of fuel instead of tripping the length
//! check. So this agent uses a bump allocator that carves every block out of
//! freshly grown pages, which WebAssembly guarantees to be zero: the
//! zero-filled vector costs almost no fuel, and the host has to refuse the
//! action for its *size*.

use ian_guest_sdk::{Action, Agent, Observation};

/// Number of elements returned by every `act`.
pub const LEN: usize = 1_000_000;

struct Flood;

impl Agent for Flood {
    fn init(_params: &[u8]) -> Result<Self, String> {
        Ok(Flood)
    }

    fn act(&mut self, _obs: &Observation) -> Action {
        vec![0.0; std::hint::black_box(LEN)]
    }
}

ian_guest_sdk::export_agent!(Flood);

#[cfg(target_arch = "wasm32")]
mod fresh_pages {
    //! A never-freeing allocator over freshly grown pages.
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::Cell;

    const PAGE: usize = 65_536;

    pub struct FreshPages {
        next: Cell<usize>,
        end: Cell<usize>,
    }

    // SAFETY: wasm32 without the atomics feature has exactly one thread.
    unsafe impl Sync for FreshPages {}

    unsafe impl GlobalAlloc for FreshPages {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let align = layout.align();
            let start = (self.next.get() + align - 1) & !(align - 1);
            match start.checked_add(layout.size()) {
                Some(end) if self.end.get() != 0 && end <= self.end.get() => {
                    self.next.set(end);
                    start as *mut u8
                }
                _ => {
                    // Open a new region of fresh pages (page-aligned, so any
                    // alignment up to 64 KiB is satisfied).
                    let pages = layout.size().div_ceil(PAGE).max(1);
                    let previous = core::arch::wasm32::memory_grow(0, pages);
                    if previous == usize::MAX {
                        return core::ptr::null_mut();
                    }
                    let base = previous * PAGE;
                    self.next.set(base + layout.size());
                    self.end.set(base + pages * PAGE);
                    base as *mut u8
                }
            }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // Every block comes from pages that were never handed out before,
            // and freshly grown WebAssembly pages are zero.
            unsafe { self.alloc(layout) }
        }

        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
    }

    #[global_allocator]
    static ALLOCATOR: FreshPages = FreshPages {
        next: Cell::new(0),
        end: Cell::new(0),
    };
}
