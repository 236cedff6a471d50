//! Ledger benchmarks (in memory, trivial evaluator):
//! * pipeline throughput excluding signature verification (signatures
//!   pre-verified, as a node does on worker threads) and including it;
//! * replay (`GoalState::apply`) throughput;
//! * inclusion proof generate + verify at 1,000,000 leaves;
//! * consistency proof generate + verify at 1,000,000 leaves;
//! * Ed25519 `verify_strict` alone.
//!
//! Time is the benchmark thread's **CPU time** (`CLOCK_THREAD_CPUTIME_ID`)
//! by default: the development and CI machines are shared 2-core boxes where
//! wall-clock time mostly measures waiting for a core. Set `IAN_BENCH_WALL=1`
//! to measure wall-clock time instead.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use ed25519_dalek::SigningKey;
use ian_core::goal::{GoalManifest, GoalSpec, ResolvedComponents};
use ian_core::hash::{Hash32, sha256};
use ian_core::mmr::{MemMmr, leaf_hash, verify_consistency, verify_inclusion};
use ian_core::pack::{AgentPack, Metadata};
use ian_core::pipeline::{
    Evaluation, Evaluator, NoInvariants, RawMetrics, Verdict, VerifiedContribution,
};
use ian_core::proofs::{ProofBundle, StandardProofVerifier};
use ian_core::{Contribution, GoalId, GoalState, LogEntry};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// CPU time of the calling thread.
fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // the kernel always supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall-clock time since the first call.
fn wall_now() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Criterion measurement over the thread CPU clock; values are `Duration`s
/// so results print like wall-clock ones.
struct ThreadCpu;

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

const POOL: usize = 50_000;

fn manifest() -> GoalManifest {
    GoalSpec::from_toml(
        r#"
id = "bench"
title = "bench"
[harness]
component = "h.wasm"
seeds = [1]
[thresholds]
min_reward = -1.0
[ranking]
reward = 1.0
risk = 0.5
[leaderboard]
capacity = 10
"#,
    )
    .unwrap()
    .resolve(&ResolvedComponents {
        harness: sha256(b"h"),
        invariants: vec![],
        dataset: None,
    })
    .unwrap()
}

/// Metrics derived from the pack hash: deterministic, varied, cheap.
struct Trivial;

impl Evaluator for Trivial {
    fn evaluate(&self, _g: &GoalManifest, _p: &AgentPack, h: &Hash32) -> Verdict {
        let x = u16::from_be_bytes([h.0[0], h.0[1]]) as f64 / 65536.0;
        Verdict::Evaluated(Evaluation {
            metrics: RawMetrics {
                reward: x,
                risk: 1.0 - x,
                complexity: 100.0,
                extra: Vec::new(),
            },
            fuel_used: 1000,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: Hash32([7; 32]),
            abi_version: "ian:eval@0.1.0".into(),
        })
    }
}

fn contributions(n: usize, key: &SigningKey) -> Vec<Contribution> {
    let goal = GoalId::new("bench").unwrap();
    let code = sha256(b"agent");
    (0..n)
        .map(|i| {
            let pack = AgentPack::new(
                code,
                format!("short={},long={}", i % 97, i).into_bytes(),
                Metadata::empty(),
            )
            .unwrap();
            Contribution::sign(goal.clone(), pack, ProofBundle::empty(), i as u64 + 1, key)
        })
        .collect()
}

fn pipeline<M: Measurement<Value = Duration>>(c: &mut Criterion<M>, now: fn() -> Duration) {
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let pool = contributions(POOL, &key);
    let verified: Vec<VerifiedContribution> = pool
        .iter()
        .cloned()
        .map(|c| VerifiedContribution::verify(c).unwrap())
        .collect();
    let m = manifest();

    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("excluding_signature_verification", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(POOL);
                let mut s = GoalState::new(m.clone());
                let t = now();
                for v in &verified[..n] {
                    black_box(
                        s.process_verified(v, &Trivial, &NoInvariants, &StandardProofVerifier, 1)
                            .unwrap(),
                    );
                }
                total += now() - t;
                left -= n;
            }
            total
        })
    });
    g.bench_function("including_signature_verification", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(POOL);
                let mut s = GoalState::new(m.clone());
                let t = now();
                for c in &pool[..n] {
                    black_box(
                        s.process(c, &Trivial, &NoInvariants, &StandardProofVerifier, 1)
                            .unwrap(),
                    );
                }
                total += now() - t;
                left -= n;
            }
            total
        })
    });

    // Replay of accepted entries (what a restart does).
    let mut s = GoalState::new(m.clone());
    let entries: Vec<LogEntry> = verified
        .iter()
        .map(|v| {
            s.process_verified(v, &Trivial, &NoInvariants, &StandardProofVerifier, 1)
                .unwrap()
                .entry
        })
        .collect();
    g.bench_function("replay_apply", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(POOL);
                let mut s = GoalState::new(m.clone());
                let t = now();
                for e in &entries[..n] {
                    black_box(s.apply(e).unwrap());
                }
                total += now() - t;
                left -= n;
            }
            total
        })
    });
    g.finish();

    let mut g = c.benchmark_group("signature");
    let one = &pool[0];
    g.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| black_box(one.verify_signature()))
    });
    g.finish();
}

fn proofs<M: Measurement<Value = Duration>>(c: &mut Criterion<M>) {
    const N: u64 = 1_000_000;
    let mut m = MemMmr::new_in_memory();
    for i in 0..N {
        m.append(&i.to_be_bytes()).unwrap();
    }
    let root = m.root().unwrap();
    let mut g = c.benchmark_group("mmr_1m");
    // Indices spread over the whole log (a multiplicative walk), so node
    // reads miss the cache as they would for real requests; the leaf hash
    // of the entry is part of what a verifier computes.
    let mut k = 0u64;
    g.bench_function("inclusion_generate_and_verify", |b| {
        b.iter(|| {
            k = k.wrapping_add(1);
            let idx = k.wrapping_mul(2_654_435_761) % N;
            let p = m.inclusion_proof(idx, N).unwrap();
            verify_inclusion(&root, N, idx, &leaf_hash(&idx.to_be_bytes()), &p).unwrap();
        })
    });
    let p = m.inclusion_proof(123_456, N).unwrap();
    let l = leaf_hash(&123_456u64.to_be_bytes());
    g.bench_function("inclusion_verify_only", |b| {
        b.iter(|| verify_inclusion(&root, N, 123_456, &l, black_box(&p)).unwrap())
    });
    let old = 654_321u64;
    let old_root = m.root_at(old).unwrap();
    g.bench_function("consistency_generate_and_verify", |b| {
        b.iter(|| {
            let p = m.consistency_proof(old, N).unwrap();
            verify_consistency(old, &old_root, N, &root, &p).unwrap();
        })
    });
    g.bench_function("append", |b| {
        let mut mm = m.clone();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            mm.append_leaf_hash(Hash32([i as u8; 32])).unwrap()
        })
    });
    g.finish();
}

fn main() {
    if std::env::var_os("IAN_BENCH_WALL").is_some() {
        let mut c = Criterion::default().configure_from_args();
        pipeline(&mut c, wall_now);
        proofs(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpu)
            .configure_from_args();
        pipeline(&mut c, thread_cpu_now);
        proofs(&mut c);
        c.final_summary();
    }
}
