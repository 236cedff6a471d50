//! Host bindings generated from `guest-sdk/wit/ian-eval.wit`, one module per world.
//!
//! The shared `types` interface and the `policy` interface are generated once
//! and reused through `with`, so one `policy::Host` implementation serves both
//! harnesses and invariants.

pub(crate) mod agent {
    wasmtime::component::bindgen!({
        path: "../../guest-sdk/wit",
        world: "agent-pack",
    });
}

pub(crate) mod harness {
    wasmtime::component::bindgen!({
        path: "../../guest-sdk/wit",
        world: "goal-harness",
        with: { "ian:eval/types": super::agent::ian::eval::types },
        imports: { default: trappable },
    });
}

pub(crate) mod invariant {
    wasmtime::component::bindgen!({
        path: "../../guest-sdk/wit",
        world: "goal-invariant",
        with: {
            "ian:eval/types": super::agent::ian::eval::types,
            "ian:eval/policy": super::harness::ian::eval::policy,
        },
        imports: { default: trappable },
    });
}
