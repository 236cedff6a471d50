//! Shared helpers: locating the built guest components and building
//! sandboxes. Components are produced by scripts/build-guests.sh.
#![allow(dead_code)]

pub mod guests;

use std::path::PathBuf;
use std::sync::OnceLock;

use ian_sandbox::{Limits, LoadedAgent, LoadedHarness, Sandbox, SandboxConfig};

/// Where the built components are (override with IAN_COMPONENTS_DIR).
pub fn components_dir() -> PathBuf {
    match std::env::var_os("IAN_COMPONENTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/components"),
    }
}

/// The bytes of `target/components/<name>.wasm`.
pub fn component(name: &str) -> Vec<u8> {
    let path = components_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "component {} is missing ({e}): run scripts/build-guests.sh first",
            path.display()
        )
    })
}

/// One sandbox per test binary, so compiled components are shared.
pub fn shared() -> &'static Sandbox {
    static SB: OnceLock<Sandbox> = OnceLock::new();
    SB.get_or_init(fresh)
}

/// A new sandbox with default settings and no disk cache.
pub fn fresh() -> Sandbox {
    Sandbox::new(SandboxConfig::default()).expect("sandbox")
}

pub fn limits() -> Limits {
    Limits::default()
}

pub fn agent(sb: &Sandbox, name: &str) -> LoadedAgent {
    sb.load_agent(&component(name))
        .unwrap_or_else(|e| panic!("loading agent {name}: {e}"))
}

pub fn harness(sb: &Sandbox, name: &str) -> LoadedHarness {
    sb.load_harness(&component(name))
        .unwrap_or_else(|e| panic!("loading harness {name}: {e}"))
}

/// The default trading configuration of the example goal.
pub const TRADING_CONFIG: &[u8] = b"steps=256,fee_bps=5";
