//! Whether hostile agents slow other evaluations: the time of a normal
//! evaluation (ma-crossover, 256 trading steps) alone, and while another
//! thread evaluates hostile agents back to back: an infinite loop (stopped
//! by fuel), a memory bomb (stopped by the memory cap), a panic, and any
//! further hostile components given (e.g. the Python and JavaScript ones
//! `ian-host new agent --lang` builds, with their `mode=` params).
//!
//! ```text
//! cargo run --release -p ian-sandbox --example noisy_neighbours -- \
//!     [NAME=COMPONENT.wasm@PARAMS ...]
//! ```
//!
//! Prints a Markdown table; docs/SANDBOX.md records it. On a 2-core
//! machine the two threads share nothing but the cores.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ian_sandbox::{AgentRuntime, Limits, LoadedAgent, Sandbox, SandboxConfig};

const CONFIG: &[u8] = b"steps=256,fee_bps=5";
const RUNS: usize = 300;

fn limits() -> Limits {
    Limits {
        agents: AgentRuntime::Wasi,
        max_component_bytes: 64 << 20,
        ..Limits::default()
    }
}

fn components() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/components")
}

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/build-guests.sh)", path.display()))
}

/// Median and 99th percentile of `RUNS` normal evaluations.
fn normal_times(sb: &Sandbox, h: &ian_sandbox::LoadedHarness, a: &LoadedAgent) -> (f64, f64) {
    let mut t: Vec<f64> = (0..RUNS)
        .map(|i| {
            let s = Instant::now();
            let r = sb.evaluate(h, a, b"short=5,long=20", CONFIG, i as u64, &limits());
            assert!(r.outcome.is_ok(), "{:?}", r.outcome);
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[RUNS / 2], t[RUNS * 99 / 100])
}

fn main() {
    let sb = Sandbox::new(SandboxConfig::default()).unwrap();
    let h = sb
        .load_harness(&read(&components().join("trading-harness.wasm")))
        .unwrap();
    let normal = sb
        .load_agent_within(&read(&components().join("ma-crossover.wasm")), &limits())
        .unwrap();
    // A benign neighbour first: what any second busy thread costs.
    let mut hostile: Vec<(String, LoadedAgent, Vec<u8>)> = vec![(
        "ma-crossover (benign)".into(),
        normal.clone(),
        b"short=5,long=20".to_vec(),
    )];
    for n in [
        "hostile-infinite-loop",
        "hostile-memory-bomb",
        "hostile-panic",
    ] {
        let a = sb
            .load_agent_within(&read(&components().join(format!("{n}.wasm"))), &limits())
            .unwrap();
        hostile.push((n.to_string(), a, Vec::new()));
    }
    for spec in std::env::args().skip(1) {
        let (name, rest) = spec.split_once('=').expect("NAME=COMPONENT.wasm@PARAMS");
        let (path, params) = rest.split_once('@').unwrap_or((rest, ""));
        let a = sb
            .load_agent_within(&read(std::path::Path::new(path)), &limits())
            .unwrap();
        hostile.push((name.to_string(), a, params.as_bytes().to_vec()));
    }
    let (alone_p50, alone_p99) = normal_times(&sb, &h, &normal);
    println!("| next to | hostile outcome | hostile evaluation | normal evaluation p50 | p99 |");
    println!("|---|---|---|---|---|");
    println!("| nothing | | | {alone_p50:.2} ms | {alone_p99:.2} ms |");
    for (name, agent, params) in &hostile {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (sb2, h2, a2, p2, stop2, count2) = (
            sb.clone(),
            h.clone(),
            agent.clone(),
            params.clone(),
            stop.clone(),
            count.clone(),
        );
        let noisy = sb
            .spawn_eval_thread(move || {
                let started = Instant::now();
                let mut outcome = String::new();
                while !stop2.load(Ordering::Relaxed) {
                    let r = sb2.evaluate(&h2, &a2, &p2, CONFIG, 1, &limits());
                    outcome = match r.outcome {
                        Ok(_) => "accepted".into(),
                        Err(f) => f.reason_code().to_string(),
                    };
                    count2.fetch_add(1, Ordering::Relaxed);
                }
                (outcome, started.elapsed())
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let (p50, p99) = normal_times(&sb, &h, &normal);
        stop.store(true, Ordering::Relaxed);
        let (outcome, took) = noisy.join().unwrap();
        let n = count.load(Ordering::Relaxed).max(1);
        println!(
            "| {name} | {outcome} | {:.1} ms | {p50:.2} ms | {p99:.2} ms |",
            took.as_secs_f64() * 1e3 / n as f64
        );
    }
}
