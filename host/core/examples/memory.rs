//! Memory and replay throughput at 1,000,000 entries: builds a goal's
//! in-memory state by replaying one million synthetic accepted entries and
//! prints what each structure holds, plus the process RSS.
//! Run: `cargo run --release -p ian-core --example memory [-- ENTRIES]`.

use ian_core::encoding::Finite;
use ian_core::goal::{GoalSpec, ResolvedComponents};
use ian_core::hash::{Hash32, sha256};
use ian_core::metrics::Metrics;
use ian_core::{GoalState, LogEntry, PublicKeyBytes, SignatureBytes};
use std::time::Instant;

fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("entry count"));
    let manifest = GoalSpec::from_toml(
        "id = \"mem\"\ntitle = \"memory\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [1]\n[ranking]\nreward = 1.0\nrisk = 0.5\n[leaderboard]\ncapacity = 10\n",
    )
    .unwrap()
    .resolve(&ResolvedComponents { harness: sha256(b"h"), invariants: vec![], dataset: None })
    .unwrap();
    let contributors: Vec<PublicKeyBytes> = (0..1000u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            PublicKeyBytes::of(&ed25519_dalek::SigningKey::from_bytes(&seed))
        })
        .collect();
    let goal_hash = manifest.goal_hash();
    let template = |i: u64| {
        let x = (i.wrapping_mul(2654435761) % 10_000) as f64 / 10_000.0;
        let metrics = Metrics::new(
            Finite::new(x).unwrap(),
            Finite::new(1.0 - x).unwrap(),
            Finite::new(100.0).unwrap(),
        );
        let score = manifest.ranking.score(&metrics).unwrap();
        LogEntry {
            goal_id: manifest.id.clone(),
            goal_hash,
            log_index: i,
            timestamp_ms: 1_700_000_000_000 + i,
            pack_hash: sha256(&i.to_be_bytes()),
            contributor: contributors[(i % 1000) as usize],
            nonce: i / 1000 + 1,
            proofs_hash: Hash32::ZERO,
            signature: SignatureBytes([0; 64]),
            metrics,
            score,
            fuel_used: 1000,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: Hash32([7; 32]),
            abi_version: "ian:eval@0.1.0".into(),
            harness_hash: manifest.harness.component,
        }
    };
    let rss0 = rss_bytes();
    let mut s = GoalState::new(manifest.clone());
    let t = Instant::now();
    for i in 0..n {
        s.apply(&template(i)).expect("valid entry");
    }
    let dt = t.elapsed();
    let rss1 = rss_bytes();
    let r = s.memory_report();
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!("entries                 {n}");
    println!(
        "replay time             {:.2} s ({:.0} entries/s, incl. building each entry)",
        dt.as_secs_f64(),
        n as f64 / dt.as_secs_f64()
    );
    println!("mmr node hashes         {:8.1} MiB", mib(r.mmr_nodes));
    println!("dedup bloom filter      {:8.1} MiB", mib(r.dedup_bloom));
    println!("dedup exact index       {:8.1} MiB", mib(r.dedup_index));
    println!("contributor nonces      {:8.3} MiB", mib(r.nonces));
    println!("leaderboard             {:8.3} MiB", mib(r.leaderboard));
    println!("accounted total         {:8.1} MiB", mib(r.total()));
    if let (Some(a), Some(b)) = (rss0, rss1) {
        println!(
            "process RSS growth      {:8.1} MiB",
            mib(b.saturating_sub(a))
        );
    }
    println!("root                    {}", s.root());
}
