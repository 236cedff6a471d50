//! Engine identity: version, config hash, ABI version, worker threads.

mod common;

use common::*;
use ian_sandbox::{ABI_VERSION, EvalPool, Sandbox, SandboxConfig};

#[test]
fn engine_version_matches_the_pinned_wasmtime() {
    let root =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    let line = root
        .lines()
        .find(|l| l.starts_with("wasmtime = "))
        .expect("wasmtime pin");
    let pinned = line
        .split("version = \"=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    assert_eq!(shared().engine_version(), format!("wasmtime {pinned}"));
}

#[test]
fn abi_version_is_the_wit_package() {
    let wit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../guest-sdk/wit/ian-eval.wit"
    ))
    .unwrap();
    assert!(wit.contains(&format!("package {ABI_VERSION};")));
}

#[test]
fn config_hash_of_the_default_config_is_pinned() {
    // Changes only when a determinism-relevant setting changes; update
    // together with the golden-fuel test.
    assert_eq!(
        hex::encode(shared().config_hash()),
        "735d6cc8180f07f9675d64a43299376f20ec69030eb7d2702e73d6faba66d78f"
    );
}

#[test]
fn config_hash_follows_determinism_relevant_settings_only() {
    let base = fresh().config_hash();
    let stack = Sandbox::new(SandboxConfig {
        max_wasm_stack: 256 << 10,
        ..SandboxConfig::default()
    })
    .unwrap()
    .config_hash();
    let clock = Sandbox::new(SandboxConfig {
        wasi_wall_clock_secs: 0,
        ..SandboxConfig::default()
    })
    .unwrap()
    .config_hash();
    let operational = Sandbox::new(SandboxConfig {
        pool_component_instances: 16,
        memory_cache_entries: 3,
        epoch_tick_ms: 5,
        parallel_compilation: false,
        ..SandboxConfig::default()
    })
    .unwrap()
    .config_hash();
    assert_ne!(base, stack);
    assert_ne!(base, clock);
    assert_eq!(base, operational);
}

#[test]
fn config_description_names_the_engine_version() {
    let d = shared().config_description();
    assert!(d.contains("engine=wasmtime 48.0.8"), "{d}");
    assert!(d.contains("nan_canonicalization=true"), "{d}");
}

#[test]
fn eval_pool_gives_the_same_reports_as_the_calling_thread() {
    let sb = fresh();
    let h = harness(&sb, "trading-harness");
    let a = agent(&sb, "ma-crossover");
    let pool = EvalPool::new(&sb, 2).unwrap();
    assert_eq!(pool.workers(), 2);
    let pending: Vec<_> = (0..8u64)
        .map(|seed| pool.evaluate(&h, &a, b"short=5,long=20", TRADING_CONFIG, seed, &limits()))
        .collect();
    for (seed, rx) in pending.into_iter().enumerate() {
        let pooled = rx.recv().unwrap();
        let direct = sb.evaluate(
            &h,
            &a,
            b"short=5,long=20",
            TRADING_CONFIG,
            seed as u64,
            &limits(),
        );
        assert_eq!(pooled, direct);
    }
}

#[test]
fn eval_threads_are_sized_for_nested_wasm_stacks() {
    let cfg = SandboxConfig {
        max_wasm_stack: 4 << 20,
        eval_thread_stack: 16 << 20,
        ..SandboxConfig::default()
    };
    assert_eq!(cfg.required_native_stack(), (8 << 20) + (1 << 20));
    let sb = Sandbox::new(cfg).unwrap();
    let h = harness(&sb, "trading-harness");
    let a = agent(&sb, "hostile-stack-overflow");
    let sb2 = sb.clone();
    let report = sb
        .spawn_eval_thread(move || sb2.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits()))
        .unwrap()
        .join()
        .unwrap();
    assert!(report.outcome.unwrap_err().is_agent_fault());
}
