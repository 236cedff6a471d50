//! Durable submissions per second on this machine with the node's embedded
//! evaluation pool, and with the same node handing evaluations to one and
//! to two local `ian-host worker` processes over a real `nats-server -js`:
//!
//!     cargo run --release -p ian-tests --example workers_bench [-- COUNT]
//!
//! Everything runs on the same cores, so workers cannot add capacity here;
//! the difference is what the queue costs per submission (docs/OPERATOR.md,
//! "Evaluation workers"). Two measures of it: the throughput difference,
//! which on a shared machine moves by ±20 % between runs, and the CPU time
//! the node, the workers and NATS spent per submission (from
//! /proc/<pid>/stat), which other tenants of the machine hardly move.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ian_tests::*;

fn nats(dir: &Path) -> (Child, String) {
    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.join("nats"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (Debian package nats-server) must be installed");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, format!("nats://127.0.0.1:{port}"))
}

/// An `ian-host worker` with `jobs` evaluation threads (its default, one
/// per core, when `None`).
fn worker(dir: &Path, url: &str, name: &str, jobs: Option<usize>) -> Child {
    let mut cmd = Command::new(bin());
    cmd.args(["worker", "--nats", url, "--name", name]);
    if let Some(j) = jobs {
        cmd.args(["--jobs", &j.to_string()]);
    }
    cmd.arg("--key")
        .arg(dir.join(format!("{name}.key")))
        .arg("--data-dir")
        .arg(dir.join(name))
        .env("IAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ian-host worker")
}

/// CPU seconds (user + system) process `pid` has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses;
    // utime and stime are fields 14 and 15, in clock ticks (100 a second).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if f.len() < 13 {
        return 0.0;
    }
    (f[11] + f[12]) as f64 / 100.0
}

/// One run: (accepted/s, p50 ms, p99 ms, CPU µs per submission of the
/// node, its workers and NATS).
fn run(dir: &Path, workers: usize, jobs: Option<usize>, count: u64) -> (f64, f64, f64, f64) {
    let (mut server, url) = nats(dir);
    let names: Vec<String> = (0..workers).map(|i| format!("w{i}")).collect();
    let keys = names
        .iter()
        .map(|n| worker_key(dir, n))
        .collect::<Vec<_>>()
        .join(",");
    let env: Vec<(&str, &str)> = if workers == 0 {
        Vec::new()
    } else {
        vec![
            ("IAN_WORKERS_NATS", url.as_str()),
            ("IAN_WORKERS_KEYS", keys.as_str()),
        ]
    };
    let mut node = NodeProc::start(&dir.join("node"), &env);
    let mut procs: Vec<Child> = names.iter().map(|n| worker(dir, &url, n, jobs)).collect();
    node.publish(&example_goal(dir, "trading"));
    let packed = pack(dir, "buy-and-hold", "", "bh.ianpack");
    let o = node.cli(&[
        "bench-submit",
        "--goal",
        "trading-v1",
        "--pack",
        packed.to_str().unwrap(),
        "--count",
        &count.to_string(),
        "--concurrency",
        "64",
        "--params",
        "position=0.{n}",
        "--json",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    let mut pids: Vec<u32> = procs.iter().map(|p| p.id()).collect();
    pids.push(server.id());
    pids.push(node.child.as_ref().unwrap().id());
    let cpu: f64 = pids.into_iter().map(cpu_secs).sum();
    for p in &mut procs {
        let _ = p.kill();
        let _ = p.wait();
    }
    node.stop();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["accepted"].as_u64(), Some(count), "{v}");
    (
        v["accepted_per_sec"].as_f64().unwrap(),
        v["latency_ms"]["p50"].as_f64().unwrap(),
        v["latency_ms"]["p99"].as_f64().unwrap(),
        cpu * 1e6 / count as f64,
    )
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    println!(
        "examples/goals/trading.toml (5 seeds x 256 steps + 2 invariants = 7 sandbox runs), buy-and-hold, {count} submissions, 64 at a time"
    );
    println!(
        "| evaluation | durable submissions/s | p50 ms | p99 ms | per submission vs embedded | CPU µs per submission | CPU vs embedded |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (mut base, mut base_cpu) = (0.0, 0.0);
    for (label, workers, jobs) in [
        ("embedded pool", 0, None),
        ("1 worker", 1, None),
        ("1 worker, 3 threads", 1, Some(3)),
        ("2 workers", 2, None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (rate, p50, p99, cpu) = run(dir.path(), workers, jobs, count);
        if workers == 0 {
            (base, base_cpu) = (rate, cpu);
        }
        let extra_us = (1.0 / rate - 1.0 / base) * 1e6;
        println!(
            "| {label} | {rate:.0} | {p50:.1} | {p99:.1} | {extra_us:+.0} µs | {cpu:.0} | {:+.0} µs |",
            cpu - base_cpu
        );
    }
}
