//! The WASI capability: granted only with a dataset, read-only at /data,
//! deterministic, output captured.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ian_sandbox::{Fault, Role};

fn dataset() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../example-harnesses/trading-harness/data")
}

fn wasi_eval(dir: &Path, config: &[u8], seed: u64) -> ian_sandbox::EvalReport {
    let sb = shared();
    let h = sb
        .load_harness_with_dataset(&component("trading-harness-wasi"), dir, &limits())
        .expect("dataset harness loads");
    assert!(h.dataset().is_some());
    let a = agent(sb, "ma-crossover");
    sb.evaluate(&h, &a, b"short=5,long=20", config, seed, &limits())
}

#[test]
fn wasi_harness_without_a_dataset_grant_is_refused_naming_the_import() {
    let fault = shared()
        .load_harness(&component("trading-harness-wasi"))
        .unwrap_err()
        .0;
    let Fault::ForbiddenImport {
        role: Role::Harness,
        import,
        all,
    } = &fault
    else {
        panic!("expected forbidden_import, got {fault:?}");
    };
    assert!(import.starts_with("wasi:"), "{import}");
    assert!(
        all.iter().any(|i| i.starts_with("wasi:filesystem/")),
        "{all:?}"
    );
}

#[test]
fn wasi_harness_reading_the_dataset_matches_the_embedded_harness() {
    let via_wasi = wasi_eval(&dataset(), TRADING_CONFIG, 4);
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "ma-crossover");
    let embedded = sb.evaluate(&h, &a, b"short=5,long=20", TRADING_CONFIG, 4, &limits());
    let (w, e) = (
        via_wasi.outcome.as_ref().unwrap(),
        embedded.outcome.as_ref().unwrap(),
    );
    assert_eq!(w.reward.to_bits(), e.reward.to_bits());
    assert_eq!(w.risk.to_bits(), e.risk.to_bits());
    assert_eq!(via_wasi.agent_fuel_per_step, embedded.agent_fuel_per_step);
}

#[test]
fn wasi_evaluation_is_deterministic_and_output_is_captured() {
    let one = wasi_eval(&dataset(), TRADING_CONFIG, 8);
    let two = wasi_eval(&dataset(), TRADING_CONFIG, 8);
    assert!(one.outcome.is_ok(), "{:?}", one.outcome);
    assert_eq!(one, two);
    let out = one.output.expect("a WASI harness's output is captured");
    assert!(!out.stdout_truncated && !out.stderr_truncated);
}

#[test]
fn the_harness_sees_the_granted_directory_not_an_embedded_copy() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(dataset().join("prices.csv")).unwrap();
    let first_rows: String = csv.lines().take(301).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("prices.csv"), first_rows).unwrap();
    let short = wasi_eval(dir.path(), b"steps=256,fee_bps=5", 4);
    let full = wasi_eval(&dataset(), b"steps=256,fee_bps=5", 4);
    assert!(short.outcome.is_ok(), "{:?}", short.outcome);
    assert_ne!(
        short.outcome.unwrap().reward.to_bits(),
        full.outcome.unwrap().reward.to_bits(),
        "a 300-row series gives other windows than the 2000-row one"
    );
}

#[test]
fn missing_data_file_is_a_harness_fault() {
    let empty = tempfile::tempdir().unwrap();
    let r = wasi_eval(empty.path(), TRADING_CONFIG, 1);
    let Err(Fault::HarnessFault {
        role: Role::DatasetHarness,
        message,
    }) = &r.outcome
    else {
        panic!("expected harness_fault, got {:?}", r.outcome);
    };
    assert!(message.contains("/data/prices.csv"), "{message}");
}

#[test]
fn plain_harness_reports_no_captured_output() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    assert_eq!(
        sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits())
            .output,
        None
    );
}
