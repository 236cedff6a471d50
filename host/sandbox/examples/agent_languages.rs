//! What an agent's language costs: component size, first compile, load
//! from the disk cache, instantiation, `init`, one `act` (time and fuel),
//! a whole 256-step trading evaluation and the peak resident memory it
//! took, for each component given (`ian-host new agent --lang` builds).
//!
//! ```text
//! cargo run --release -p ian-sandbox --example agent_languages -- \
//!     rust=rust.wasm python=agent.wasm js=agent.wasm c=agent.wasm
//! ```
//!
//! Every agent runs under `agents = "wasi"` limits (64 MiB components) with
//! params `lookback=60,size=0.5`, against target/components/trading-harness.
//! Each component is measured in a fresh process, so the memory high-water
//! marks do not mix. Prints a Markdown table; docs/SANDBOX.md records it.
//! Linux only (reads /proc/self/status).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ian_sandbox::{AgentRuntime, Limits, Sandbox, SandboxConfig};

const PARAMS: &[u8] = b"lookback=60,size=0.5";
const CHILD_ENV: &str = "IAN_AGENT_LANGUAGES_CHILD";

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

fn limits() -> Limits {
    Limits {
        agents: AgentRuntime::Wasi,
        max_component_bytes: 64 << 20,
        ..Limits::default()
    }
}

/// The median of `n` timings of `f`.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[n / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// One row, measured in this process.
fn measure(name: &str, path: &str) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let harness_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/components/trading-harness.wasm");
    let harness_bytes = std::fs::read(&harness_path)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/build-guests.sh)", harness_path.display()));
    let cache = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let before = vm_hwm_kib();
    let sb = Sandbox::new(config.clone()).unwrap();
    let t = Instant::now();
    let agent = sb
        .load_agent_within(&bytes, &limits())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let compile = t.elapsed();
    let cached = {
        let fresh = Sandbox::new(config).unwrap();
        let t = Instant::now();
        fresh.load_agent_within(&bytes, &limits()).unwrap();
        t.elapsed()
    };
    let instantiate = median(21, || {
        sb.init_agent(&agent, None, &limits()).unwrap();
    });
    let slots = sb.agent_pool_slots(&agent, &limits()).unwrap();
    let init_fuel = sb.init_agent(&agent, Some(PARAMS), &limits()).unwrap();
    let init = median(21, || {
        sb.init_agent(&agent, Some(PARAMS), &limits()).unwrap();
    });
    let harness = sb.load_harness(&harness_bytes).unwrap();
    let eval = |steps: u32| {
        let config = format!("steps={steps},fee_bps=5");
        sb.evaluate(&harness, &agent, PARAMS, config.as_bytes(), 1, &limits())
    };
    let full = eval(256);
    assert!(full.outcome.is_ok(), "{name}: {:?}", full.outcome);
    let act_fuel = full.agent_fuel_per_step.iter().sum::<u64>() / full.steps.max(1);
    let t256 = median(7, || {
        eval(256);
    });
    let t1 = median(7, || {
        eval(1);
    });
    let act = (t256.saturating_sub(t1)) / 255;
    let rss = vm_hwm_kib().saturating_sub(before);
    format!(
        "| {name} | {:.0} KB | {} | {} | {} | {} ({} fuel) | {} ({} fuel) | {} | {:.1} MiB | {} / {} / {} |",
        bytes.len() as f64 / 1000.0,
        ms(compile),
        ms(cached),
        us(instantiate),
        us(init),
        init_fuel,
        us(act),
        act_fuel,
        ms(t256),
        rss as f64 / 1024.0,
        slots.core_instances.0,
        slots.memories.0,
        slots.tables.0,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (name, path) = spec.split_once('=').unwrap();
        println!("{}", measure(name, path));
        return;
    }
    if args.is_empty() {
        eprintln!("usage: agent_languages NAME=COMPONENT.wasm [NAME=COMPONENT.wasm ...]");
        std::process::exit(2);
    }
    println!(
        "| agent | component | first compile | cached load (disk) | instantiate | instantiate + `init` | one `act` | 256-step evaluation | peak RSS growth | pool slots (core instances / memories / tables) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for spec in &args {
        assert!(spec.contains('='), "{spec}: expected NAME=PATH");
        let out = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, spec)
            .output()
            .expect("run the measuring child");
        assert!(
            out.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
