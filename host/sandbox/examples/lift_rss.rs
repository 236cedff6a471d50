//! Measures how much host memory an over-long guest return costs: peak
//! resident set (`VmHWM` in /proc/self/status) before and after one
//! evaluation, each case in a fresh process so the high-water marks do not
//! mix.
//!
//! ```text
//! cargo run --release -p ian-sandbox --example lift_rss
//! ```
//!
//! Prints a Markdown table; docs/SANDBOX.md records the numbers, next to
//! those of the previous lifting code. Linux only.

#[path = "../tests/common/guests.rs"]
mod guests;

use std::process::Command;

use guests::*;
use ian_sandbox::{Limits, Sandbox, SandboxConfig};

/// Peak resident set of this process so far, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

/// An agent whose first `act` returns `len` zero values from 64 KiB on.
fn long_action_agent(len: u32) -> WatAgent {
    let bytes = 65536 + 8 * u64::from(len);
    WatAgent {
        pages: bytes.div_ceil(65536) as u32 + 1,
        good_acts: 0,
        bad_act: return_list(65536, len),
        ..WatAgent::default()
    }
}

const CASES: &[(&str, &str)] = &[
    ("baseline", "well-behaved agent, 1-value action"),
    (
        "action-32mib",
        "agent returns 4,194,304 values (32 MiB), limit 64",
    ),
    (
        "action-32mib-allowed",
        "same action with the limit raised to 4,194,304 (copied)",
    ),
    ("extras-200k", "harness returns 200,000 extra metrics"),
];

fn run_case(case: &str) {
    let sb = Sandbox::new(SandboxConfig::default()).expect("sandbox");
    let limits = Limits::default();
    let (agent, harness, limits) = match case {
        "baseline" => (WatAgent::default(), ignoring_harness(3), limits),
        "action-32mib" => (long_action_agent(4 << 20), ignoring_harness(3), limits),
        "action-32mib-allowed" => (
            long_action_agent(4 << 20),
            ignoring_harness(3),
            Limits {
                max_action_len: 4 << 20,
                ..limits
            },
        ),
        "extras-200k" => (WatAgent::default(), extras_harness(200_000, 1), limits),
        other => panic!("unknown case {other}"),
    };
    let a = sb.load_agent(&agent.component()).expect("agent");
    let h = sb.load_harness(&harness).expect("harness");
    // Warm up the instance pool and allocator with a harmless run.
    let warm = sb.load_harness(&ignoring_harness(1)).expect("harness");
    let benign = sb
        .load_agent(&WatAgent::default().component())
        .expect("agent");
    let _ = sb.evaluate(&warm, &benign, b"", b"", 0, &limits);
    let before = vm_hwm_kib();
    let report = sb.evaluate(&h, &a, b"", b"", 1, &limits);
    let after = vm_hwm_kib();
    let outcome = match &report.outcome {
        Ok(m) => format!("ok ({} extras)", m.extra.len()),
        Err(f) => format!("{}: {f}", f.reason_code()),
    };
    println!("{before}\t{after}\t{outcome}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(case) = args.get(1) {
        run_case(case);
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    println!("| case | outcome | VmHWM before | VmHWM after | growth |");
    println!("|---|---|---:|---:|---:|");
    for (case, what) in CASES {
        let out = Command::new(&exe).arg(case).output().expect("run case");
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).expect("utf-8");
        let mut parts = line.trim_end().splitn(3, '\t');
        let before: u64 = parts.next().unwrap().parse().unwrap();
        let after: u64 = parts.next().unwrap().parse().unwrap();
        let outcome = parts.next().unwrap();
        println!(
            "| {what} | `{outcome}` | {:.1} MiB | {:.1} MiB | {:+.1} MiB |",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after as f64 - before as f64) / 1024.0
        );
    }
}
