//! The components produced by `scripts/build-guests.sh` target the right
//! worlds and import nothing beyond what their role allows.
//!
//! Reads `target/components/` (override: `IAN_COMPONENTS_DIR`).

use std::path::PathBuf;

use ian_componentize::{World, surface};

const AGENTS: &[&str] = &[
    "buy-and-hold",
    "ma-crossover",
    "mean-reversion",
    "bandit-ucb",
    "bandit-epsilon-greedy",
    "hostile-infinite-loop",
    "hostile-memory-bomb",
    "hostile-stack-overflow",
    "hostile-panic",
    "hostile-nan-action",
    "hostile-infinite-action",
    "hostile-oversized-action",
];
const HARNESSES: &[&str] = &["trading-harness", "bandit-harness"];
const INVARIANTS: &[&str] = &["position-limit-invariant", "param-bounds-invariant"];

const TYPES: &str = "ian:eval/types@0.1.0";
const POLICY: &str = "ian:eval/policy@0.1.0";
const PANIC: &str = "ian:diagnostics/panic@0.1.0";

fn components_dir() -> PathBuf {
    std::env::var_os("IAN_COMPONENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/components")
        })
}

fn load(name: &str) -> Vec<u8> {
    let path = components_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run scripts/build-guests.sh",
            path.display()
        )
    })
}

#[test]
fn agents_export_agent_and_import_only_the_type_only_interface_and_the_panic_report() {
    for name in AGENTS {
        let s = surface(&load(name)).unwrap();
        assert_eq!(
            s.exports,
            vec![World::AgentPack.exported_interface()],
            "{name}"
        );
        assert_eq!(s.imports, vec![PANIC, TYPES], "{name}");
    }
}

#[test]
fn harnesses_export_harness_and_import_policy() {
    for name in HARNESSES {
        let s = surface(&load(name)).unwrap();
        assert_eq!(
            s.exports,
            vec![World::GoalHarness.exported_interface()],
            "{name}"
        );
        assert_eq!(s.imports, vec![TYPES, POLICY], "{name}");
    }
}

#[test]
fn invariants_export_invariant() {
    for name in INVARIANTS {
        let s = surface(&load(name)).unwrap();
        assert_eq!(
            s.exports,
            vec![World::GoalInvariant.exported_interface()],
            "{name}"
        );
    }
}

#[test]
fn probing_invariant_imports_policy() {
    let s = surface(&load("position-limit-invariant")).unwrap();
    assert_eq!(s.imports, vec![TYPES, POLICY]);
}

#[test]
fn invariant_that_never_probes_does_not_import_policy() {
    // wit-component drops imports the core module never calls, so hosts must
    // accept any subset of {types, policy} for the goal-invariant world.
    let s = surface(&load("param-bounds-invariant")).unwrap();
    assert_eq!(s.imports, vec![TYPES]);
}

#[test]
fn wasi_fs_agent_exports_agent_but_imports_wasi_filesystem() {
    let s = surface(&load("hostile-wasi-fs")).unwrap();
    assert_eq!(s.exports, vec![World::AgentPack.exported_interface()]);
    assert!(
        s.imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
        "imports: {:?}",
        s.imports
    );
}

#[test]
fn wasi_harness_exports_harness_and_imports_policy_and_wasi_filesystem() {
    let s = surface(&load("trading-harness-wasi")).unwrap();
    assert_eq!(s.exports, vec![World::GoalHarness.exported_interface()]);
    assert!(
        s.imports.iter().any(|i| i == POLICY),
        "imports: {:?}",
        s.imports
    );
    assert!(
        s.imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
        "imports: {:?}",
        s.imports
    );
}
