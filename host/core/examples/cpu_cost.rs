//! On-CPU cost of the hot operations, measured with the thread's own
//! scheduler clock (`/proc/thread-self/schedstat`, Linux), so the numbers
//! stay meaningful on a shared, busy machine where wall-clock benchmarks
//! (benches/ledger.rs) also count time spent waiting for a core.
//! Run: `cargo run --release -p ian-core --example cpu_cost`.

use ed25519_dalek::SigningKey;
use ian_core::goal::{GoalManifest, GoalSpec, ResolvedComponents};
use ian_core::hash::{Hash32, sha256};
use ian_core::mmr::{MemMmr, leaf_hash, verify_inclusion};
use ian_core::pack::{AgentPack, Metadata};
use ian_core::pipeline::*;
use ian_core::proofs::{ProofBundle, StandardProofVerifier};
use ian_core::{Contribution, GoalId, GoalState};
/// Nanoseconds this thread has spent on a CPU.
fn oncpu() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
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
fn main() {
    const N: u64 = 1_000_000;
    let mut m = MemMmr::new_in_memory();
    for i in 0..N {
        m.append(&i.to_be_bytes()).unwrap();
    }
    let root = m.root().unwrap();
    let t = oncpu();
    let iters = 200_000u64;
    for k in 0..iters {
        let idx = (k.wrapping_mul(2654435761)) % N;
        let p = m.inclusion_proof(idx, N).unwrap();
        verify_inclusion(&root, N, idx, &leaf_hash(&idx.to_be_bytes()), &p).unwrap();
    }
    println!(
        "inclusion gen+verify @1M (incl. leaf hash): {} ns on-CPU",
        (oncpu() - t) / iters
    );
    let man = GoalSpec::from_toml(
        "id = \"bench\"\ntitle = \"b\"\n[harness]\ncomponent = \"h\"\nseeds = [1]\n",
    )
    .unwrap()
    .resolve(&ResolvedComponents {
        harness: sha256(b"h"),
        invariants: vec![],
        dataset: None,
    })
    .unwrap();
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let goal = GoalId::new("bench").unwrap();
    let cs: Vec<Contribution> = (0..20000)
        .map(|i| {
            let pack = AgentPack::new(
                sha256(b"a"),
                format!("short={},long={}", i % 97, i).into_bytes(),
                Metadata::empty(),
            )
            .unwrap();
            Contribution::sign(goal.clone(), pack, ProofBundle::empty(), i as u64 + 1, &key)
        })
        .collect();
    let v: Vec<VerifiedContribution> = cs
        .iter()
        .cloned()
        .map(|c| VerifiedContribution::verify(c).unwrap())
        .collect();
    let t = oncpu();
    let mut n = 0;
    for _ in 0..25 {
        let mut s = GoalState::new(man.clone());
        for c in &v {
            std::hint::black_box(
                s.process_verified(c, &Trivial, &NoInvariants, &StandardProofVerifier, 1)
                    .unwrap(),
            );
            n += 1;
        }
    }
    println!("pipeline excl. signature: {} ns on-CPU", (oncpu() - t) / n);
    let t = oncpu();
    let mut s = GoalState::new(man.clone());
    for c in &cs[..5000] {
        std::hint::black_box(
            s.process(c, &Trivial, &NoInvariants, &StandardProofVerifier, 1)
                .unwrap(),
        );
    }
    println!(
        "pipeline incl. signature: {} ns on-CPU",
        (oncpu() - t) / 5000
    );
}
