//! Load-time validation: refused before compiling, with an error that
//! names the problem.

mod common;

use common::*;
use ian_sandbox::{Fault, Limits, Role};

fn load_agent_fault(bytes: &[u8]) -> Fault {
    shared().load_agent(bytes).expect_err("must be refused").0
}

#[test]
fn rejects_agent_that_imports_wasi_filesystem() {
    let sb = fresh();
    let fault = sb.load_agent(&component("hostile-wasi-fs")).unwrap_err().0;
    let Fault::ForbiddenImport { role, import, all } = &fault else {
        panic!("expected forbidden_import, got {fault:?}");
    };
    assert_eq!(*role, Role::Agent);
    assert!(import.starts_with("wasi:"), "{import}");
    assert!(
        all.iter().any(|i| i == "wasi:filesystem/types@0.2.6"),
        "{all:?}"
    );
    assert!(
        all.iter().any(|i| i == "wasi:filesystem/preopens@0.2.6"),
        "{all:?}"
    );
    assert!(
        fault.to_string().contains("wasi:filesystem/preopens@0.2.6"),
        "{fault}"
    );
    assert_eq!(sb.cache_stats().compiles, 0, "refused before compiling");
}

#[test]
fn harness_submitted_as_agent_is_refused_naming_the_policy_import() {
    let fault = load_agent_fault(&component("trading-harness"));
    assert_eq!(
        fault,
        Fault::ForbiddenImport {
            role: Role::Agent,
            import: "ian:eval/policy@0.1.0".into(),
            all: vec!["ian:eval/policy@0.1.0".into()],
        }
    );
}

#[test]
fn agent_submitted_as_harness_is_the_wrong_world() {
    let fault = shared()
        .load_harness(&component("buy-and-hold"))
        .unwrap_err()
        .0;
    let Fault::WrongWorld { role, reason } = &fault else {
        panic!("expected wrong_world, got {fault:?}");
    };
    assert_eq!(*role, Role::Harness);
    assert!(reason.contains("ian:eval/harness@0.1.0"), "{reason}");
    assert!(reason.contains("ian:eval/agent@0.1.0"), "{reason}");
}

#[test]
fn invariant_submitted_as_harness_is_the_wrong_world() {
    let fault = shared()
        .load_harness(&component("position-limit-invariant"))
        .unwrap_err()
        .0;
    assert_eq!(fault.reason_code(), "wrong_world");
}

#[test]
fn random_bytes_are_not_wasm() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let fault = load_agent_fault(&bytes);
    assert_eq!(fault.reason_code(), "not_wasm", "{fault}");
}

#[test]
fn empty_input_is_not_wasm() {
    assert_eq!(load_agent_fault(b"").reason_code(), "not_wasm");
}

#[test]
fn truncated_component_is_not_wasm() {
    let bytes = component("buy-and-hold");
    let fault = load_agent_fault(&bytes[..bytes.len() / 2]);
    assert_eq!(fault.reason_code(), "not_wasm", "{fault}");
}

#[test]
fn core_module_submitted_as_agent_is_the_wrong_world() {
    // A minimal core module exporting one function.
    let module: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // func 0 of type 0
        0x07, 0x05, 0x01, 0x01, b'f', 0x00, 0x00, // export "f"
        0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // body: end
    ];
    let fault = load_agent_fault(module);
    let Fault::WrongWorld {
        role: Role::Agent,
        reason,
    } = &fault
    else {
        panic!("expected wrong_world, got {fault:?}");
    };
    assert!(reason.contains("core wasm module"), "{reason}");
}

#[test]
fn oversized_component_is_refused_before_parsing() {
    let bytes = component("buy-and-hold");
    let limits = Limits {
        max_component_bytes: bytes.len() as u64 - 1,
        ..limits()
    };
    let sb = fresh();
    let fault = sb.load_agent_within(&bytes, &limits).unwrap_err().0;
    assert_eq!(
        fault,
        Fault::ComponentTooLarge {
            size: bytes.len() as u64,
            max: bytes.len() as u64 - 1
        }
    );
    assert_eq!(sb.cache_stats().compiles, 0);
}

#[test]
fn component_exactly_at_the_size_limit_is_accepted() {
    let bytes = component("buy-and-hold");
    let limits = Limits {
        max_component_bytes: bytes.len() as u64,
        ..limits()
    };
    assert!(shared().load_agent_within(&bytes, &limits).is_ok());
}

#[test]
fn plain_harness_role_refuses_wasi_imports() {
    let fault = shared()
        .load_harness(&component("hostile-wasi-fs"))
        .unwrap_err()
        .0;
    let Fault::ForbiddenImport {
        role: Role::Harness,
        all,
        ..
    } = &fault
    else {
        panic!("expected forbidden_import, got {fault:?}");
    };
    assert!(
        all.iter().any(|i| i == "wasi:filesystem/types@0.2.6"),
        "{all:?}"
    );
}

#[test]
fn dataset_grant_admits_wasi_filesystem_imports_but_still_checks_the_world() {
    // With a dataset granted, WASI p2 filesystem/cli/io imports pass the
    // allowlist; this component then fails only because it is an agent.
    let dir = tempfile::tempdir().unwrap();
    let fault = shared()
        .load_harness_with_dataset(&component("hostile-wasi-fs"), dir.path(), &limits())
        .unwrap_err()
        .0;
    let Fault::WrongWorld {
        role: Role::DatasetHarness,
        reason,
    } = &fault
    else {
        panic!("expected wrong_world, got {fault:?}");
    };
    assert!(reason.contains("ian:eval/harness@0.1.0"), "{reason}");
}

#[test]
fn missing_dataset_directory_is_refused() {
    let fault = shared()
        .load_harness_with_dataset(
            &component("trading-harness"),
            std::path::Path::new("/nonexistent/ian/dataset"),
            &limits(),
        )
        .unwrap_err()
        .0;
    assert_eq!(fault.reason_code(), "harness_fault");
    assert!(
        fault.to_string().contains("/nonexistent/ian/dataset"),
        "{fault}"
    );
}

#[test]
fn every_example_component_loads_in_its_role() {
    let sb = shared();
    for a in [
        "buy-and-hold",
        "ma-crossover",
        "mean-reversion",
        "bandit-ucb",
        "bandit-epsilon-greedy",
    ] {
        sb.load_agent(&component(a))
            .unwrap_or_else(|e| panic!("{a}: {e}"));
    }
    for h in ["trading-harness", "bandit-harness"] {
        sb.load_harness(&component(h))
            .unwrap_or_else(|e| panic!("{h}: {e}"));
    }
    for i in ["position-limit-invariant", "param-bounds-invariant"] {
        sb.load_invariant(&component(i))
            .unwrap_or_else(|e| panic!("{i}: {e}"));
    }
}

/// A component whose only export is named like the agent interface and
/// whose core module uses `body`; it passes the import/export scan, so the
/// engine's validator is what decides.
fn component_with_core_body(body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (core module $m {body})
             (core instance $i (instantiate $m))
             (instance $agent)
             (export "ian:eval/agent@0.1.0" (instance $agent)))"#
    ))
    .expect("test component parses")
}

#[test]
fn relaxed_simd_is_refused_by_the_validator() {
    let bytes = component_with_core_body(
        r#"(func (param v128) (result v128) (i32x4.relaxed_trunc_f32x4_s (local.get 0)))"#,
    );
    let sb = fresh();
    let fault = sb.load_agent(&bytes).unwrap_err().0;
    let Fault::NotWasm { reason } = &fault else {
        panic!("expected not_wasm, got {fault:?}");
    };
    assert!(reason.contains("rejected by the validator"), "{reason}");
    assert!(reason.to_lowercase().contains("relaxed"), "{reason}");
}

#[test]
fn shared_memory_is_refused_because_threads_are_not_compiled_in() {
    let bytes = component_with_core_body(r#"(memory 1 1 shared)"#);
    let fault = fresh().load_agent(&bytes).unwrap_err().0;
    let Fault::NotWasm { reason } = &fault else {
        panic!("expected not_wasm, got {fault:?}");
    };
    assert!(reason.contains("threads"), "{reason}");
}

#[test]
fn plain_simd_is_accepted_by_the_validator() {
    // Same shape as above with a deterministic SIMD instruction: compiles,
    // then fails only because the exported instance has no `init`/`act`.
    let bytes =
        component_with_core_body(r#"(func (param v128) (result v128) (i32x4.abs (local.get 0)))"#);
    let fault = fresh().load_agent(&bytes).unwrap_err().0;
    assert_eq!(fault.reason_code(), "wrong_world", "{fault}");
}
