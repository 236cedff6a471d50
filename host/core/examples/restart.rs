//! Restart cost: replaying the log vs restoring a snapshot.
//!
//! For each entry count N, builds a goal's state from N synthetic accepted
//! entries (applied directly: `apply` does not check signatures), then
//! times, in memory:
//! * **replay** — decode each entry from its canonical bytes and
//!   [`GoalState::apply`] it, which is what a node does at start today;
//! * **snapshot** — [`GoalState::snapshot`];
//! * **restore** — [`GoalState::restore`] from the snapshot bytes,
//!   including the checksum and the recomputation of every MMR parent.
//!
//! Store reads (entry bodies or the snapshot blob) come on top of these.
//! Prints a Markdown table.
//! Run: `cargo run --release -p ian-core --example restart -- 10000 100000 1000000`.

use ian_core::encoding::Finite;
use ian_core::goal::{GoalManifest, GoalSpec, ResolvedComponents};
use ian_core::hash::{Hash32, sha256};
use ian_core::metrics::Metrics;
use ian_core::{GoalState, LogEntry, PublicKeyBytes, SignatureBytes};
use std::time::{Duration, Instant};

/// Contributors the synthetic log rotates through.
const CONTRIBUTORS: u64 = 1000;

fn manifest() -> GoalManifest {
    GoalSpec::from_toml(
        "id = \"restart\"\ntitle = \"restart\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [1]\n[ranking]\nreward = 1.0\nrisk = 0.5\n[leaderboard]\ncapacity = 10\n",
    )
    .unwrap()
    .resolve(&ResolvedComponents {
        harness: sha256(b"h"),
        invariants: vec![],
        dataset: None,
    })
    .unwrap()
}

/// The canonical bytes of N accepted entries, as a store holds them.
fn log(m: &GoalManifest, n: u64) -> Vec<Vec<u8>> {
    let contributors: Vec<PublicKeyBytes> = (0..CONTRIBUTORS as u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            PublicKeyBytes::of(&ed25519_dalek::SigningKey::from_bytes(&seed))
        })
        .collect();
    let goal_hash = m.goal_hash();
    (0..n)
        .map(|i| {
            let x = (i.wrapping_mul(2654435761) % 10_000) as f64 / 10_000.0;
            let metrics = Metrics::new(
                Finite::new(x).unwrap(),
                Finite::new(1.0 - x).unwrap(),
                Finite::new(100.0).unwrap(),
            );
            let score = m.ranking.score(&metrics).unwrap();
            LogEntry {
                goal_id: m.id.clone(),
                goal_hash,
                log_index: i,
                timestamp_ms: 1_700_000_000_000 + i,
                pack_hash: sha256(&i.to_be_bytes()),
                contributor: contributors[(i % CONTRIBUTORS) as usize],
                nonce: i / CONTRIBUTORS + 1,
                proofs_hash: Hash32::ZERO,
                signature: SignatureBytes([0; 64]),
                metrics,
                score,
                fuel_used: 1000,
                engine_version: "wasmtime 48.0.8".into(),
                config_hash: Hash32([7; 32]),
                abi_version: "ian:eval@0.1.0".into(),
                harness_hash: m.harness.component,
            }
            .to_canonical_bytes()
        })
        .collect()
}

fn replay(m: &GoalManifest, log: &[Vec<u8>]) -> GoalState {
    let mut s = GoalState::new(m.clone());
    for b in log {
        let e = LogEntry::from_canonical_bytes(b).expect("valid entry bytes");
        s.apply(&e).expect("valid entry");
    }
    s
}

/// Best of `runs` timings (the machine is shared; the minimum is the
/// least disturbed).
fn best<T>(runs: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut min = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        min = min.min(t.elapsed());
        out = Some(v);
    }
    (min, out.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let sizes: Vec<u64> = {
        let a: Vec<u64> = std::env::args()
            .skip(1)
            .map(|a| a.parse().expect("entry count"))
            .collect();
        if a.is_empty() {
            vec![10_000, 100_000, 1_000_000]
        } else {
            a
        }
    };
    let m = manifest();
    println!(
        "| entries | log bytes | snapshot bytes | replay (decode + apply) | snapshot | restore | replay / restore |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in sizes {
        let log = log(&m, n);
        let log_bytes: usize = log.iter().map(Vec::len).sum();
        let runs = if n >= 1_000_000 { 3 } else { 5 };
        let (t_replay, state) = best(runs, || replay(&m, &log));
        let (t_snap, bytes) = best(runs, || state.snapshot());
        let (t_restore, restored) = best(runs, || {
            GoalState::restore(m.clone(), &bytes).expect("own snapshot restores")
        });
        assert!(restored == state, "restored state differs");
        assert!(restored.matches_checkpoint(&state.checkpoint("node.example/restart")));
        println!(
            "| {n} | {:.1} MB | {:.1} MB | {} ms | {} ms | {} ms | {:.0}× |",
            log_bytes as f64 / 1e6,
            bytes.len() as f64 / 1e6,
            ms(t_replay),
            ms(t_snap),
            ms(t_restore),
            t_replay.as_secs_f64() / t_restore.as_secs_f64(),
        );
    }
}
