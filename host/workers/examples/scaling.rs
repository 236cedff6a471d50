//! Queue overhead and worker scaling on a real `nats-server -js`:
//!
//!     cargo run --release -p ian-workers --example scaling
//!
//! 1. Overhead: one worker whose evaluation returns at once; the time per
//!    job from publish to the stored result reaching the publisher (what a
//!    node adds to one submission's latency by going through the queue),
//!    then the cost per job when many are in flight (what it takes from
//!    throughput).
//! 2. Scaling: N workers whose evaluation is a 20 ms sleep, standing in for
//!    the CPU of N separate machines (this one has 2 cores); jobs per second
//!    against N.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ian_core::{AgentPack, Hash32, Verdict};
use ian_workers::{Evaluate, Job, Queue, QueueConfig, Ran, Worker, WorkerOptions, worker::Fetch};

struct Sleep(Duration);

impl Evaluate for Sleep {
    fn run(&self, _job: &Job, _fetch: Fetch<'_>) -> Ran {
        if !self.0.is_zero() {
            std::thread::sleep(self.0);
        }
        Ran {
            outcome: ian_workers::Outcome::Evaluated(Verdict::Failed(ian_core::GuestFault::new(
                ian_core::FaultKind::AgentTrap,
                "bench",
            ))),
            seeds: Vec::new(),
            fuel: 0,
        }
    }
    fn environment(&self) -> (String, Hash32, String) {
        ("bench".into(), Hash32::ZERO, "bench".into())
    }
}

fn nats(dir: &std::path::Path) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server (Debian package nats-server) must be installed");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, format!("nats://127.0.0.1:{port}"))
}

/// Publishes `n` distinct jobs and waits for all results; jobs per second
/// and mean microseconds from publish to result.
fn run(
    rt: &tokio::runtime::Runtime,
    q: &Queue,
    round: u64,
    n: u64,
    in_flight: usize,
) -> (f64, f64) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Hash32>();
    rt.block_on(q.listen_results(move |job, _| {
        let _ = tx.send(job);
    }))
    .unwrap();
    let jobs: Vec<Job> = (0..n)
        .map(|i| Job {
            goal_hash: ian_core::sha256(&round.to_le_bytes()),
            pack: AgentPack::new(
                ian_core::sha256(&i.to_le_bytes()),
                Vec::new(),
                Default::default(),
            )
            .unwrap(),
        })
        .collect();
    let t = Instant::now();
    rt.block_on(async {
        let mut rx = rx;
        let mut done = HashSet::new();
        let mut next = 0;
        while done.len() < n as usize {
            // Each publish on its own task, as a node's submissions are:
            // one job's PubAck does not hold back the next job.
            while next < jobs.len() && next - done.len() < in_flight {
                let (q, job) = (q.clone(), jobs[next].clone());
                tokio::spawn(async move { q.publish(&job).await.unwrap() });
                next += 1;
            }
            if let Some(job) = rx.recv().await {
                done.insert(job);
            }
        }
    });
    let secs = t.elapsed().as_secs_f64();
    (n as f64 / secs, secs * 1e6 / n as f64)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("ian-scaling-{}", std::process::id()));
    let (mut server, url) = nats(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let q = rt.block_on(Queue::connect(QueueConfig::new(url))).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let start = |slots: usize, work: Duration, name: &str| {
        Worker::start(
            rt.handle().clone(),
            q.clone(),
            key.clone(),
            WorkerOptions {
                name: name.into(),
                slots,
                stack_bytes: 2 << 20,
                status_every: Duration::from_secs(2),
            },
            Arc::new(Sleep(work)),
        )
        .unwrap()
    };
    println!("queue overhead (evaluation returns at once, one job at a time)");
    let w = start(1, Duration::ZERO, "overhead");
    let (rate, us) = run(&rt, &q, 0, 500, 1);
    println!("| workers | jobs | jobs/s | µs per job (publish → result) |");
    println!("|---|---|---|---|");
    println!("| 1 | 500 | {rate:.0} | {us:.0} |");
    w.stop();
    println!();
    println!("queue cost per job when jobs overlap (1 worker, 4 slots, 64 jobs in flight)");
    let w = start(4, Duration::ZERO, "overhead-pipelined");
    let (rate, us) = run(&rt, &q, 100, 5000, 64);
    println!("| workers | jobs | jobs/s | µs per job |");
    println!("|---|---|---|---|");
    println!("| 1 | 5000 | {rate:.0} | {us:.0} |");
    w.stop();
    println!();
    println!("scaling (each job a 20 ms sleep standing in for another machine's CPU)");
    println!("| workers | jobs | jobs/s | speed-up |");
    println!("|---|---|---|---|");
    let mut base = 0.0;
    for (round, n) in [1usize, 2, 4, 8, 16].into_iter().enumerate() {
        let w = start(n, Duration::from_millis(20), &format!("sim-{n}"));
        let jobs = 50 * n as u64;
        let (rate, _) = run(&rt, &q, round as u64 + 1, jobs, 4 * n);
        if n == 1 {
            base = rate;
        }
        println!("| {n} | {jobs} | {rate:.1} | {:.2}x |", rate / base);
        w.stop();
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
