//! A goal with N synthetic accepted entries written straight to a real
//! store, and a real `Node` opened on it: shared by the node examples that
//! measure what a large log costs (`node_restart`, `tile_bench`) and what a
//! competition's close costs (`final_bench`).
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use ian_core::encoding::Finite;
use ian_core::hash::{Hash32, sha256};
use ian_core::metrics::Metrics;
use ian_core::{GoalManifest, LogEntry, PublicKeyBytes, SignatureBytes};
use ian_node::runtime::config::Config;
use ian_node::runtime::service::Node;
use ian_store::Store;

const CONTRIBUTORS: u64 = 1000;

pub fn entries(m: &GoalManifest, n: u64) -> impl Iterator<Item = Vec<u8>> + '_ {
    let contributors: Vec<PublicKeyBytes> = (0..CONTRIBUTORS as u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            PublicKeyBytes::of(&ed25519_dalek::SigningKey::from_bytes(&seed))
        })
        .collect();
    let goal_hash = m.goal_hash();
    (0..n).map(move |i| {
        // Rewards in [0, 0.2), risk in [0, 0.3]: inside the goal's thresholds.
        let x = (i.wrapping_mul(2_654_435_761) % 10_000) as f64 / 10_000.0;
        let metrics = Metrics::new(
            Finite::new(0.2 * x).unwrap(),
            Finite::new(0.3 * (1.0 - x)).unwrap(),
            Finite::new(100.0).unwrap(),
        );
        let score = ian_core::pipeline::score_of(m, &metrics).expect("entry passes the goal");
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
}

/// Writes the goal file `goal` into `store` as `goal publish` would: its
/// components, its text and its manifest.
fn store_goal(store: &Store, goal: &Path) -> GoalManifest {
    let req = ian_node::cli::ops::publish_request(goal).expect("goal file");
    let (manifest, blobs) = ian_node::cli::ops::load_goal_file(goal).expect("goal file");
    for (h, b) in blobs {
        store.put_blob(h.0, b).unwrap().wait().unwrap();
    }
    let id = manifest.id.as_str().to_string();
    store
        .put_meta(&format!("goal-toml/{id}"), req.goal_toml.into_bytes())
        .unwrap()
        .wait()
        .unwrap();
    store
        .put_goal(&id, manifest.to_canonical_bytes())
        .unwrap()
        .wait()
        .unwrap();
    manifest
}

pub fn populate(data: &Path, n: u64) {
    let goal = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/goals/trading.toml");
    std::fs::create_dir_all(data).unwrap();
    let store = Store::open(data.join("ian.redb")).unwrap();
    let manifest = store_goal(&store, &goal);
    let id = manifest.id.as_str().to_string();
    let mut pending = std::collections::VecDeque::new();
    for (i, e) in entries(&manifest, n).enumerate() {
        if pending.len() == 4096 {
            let t: ian_store::Ticket<u64> = pending.pop_front().unwrap();
            t.wait().unwrap();
        }
        pending.push_back(store.append(&id, i as u64, e).unwrap());
    }
    for t in pending {
        t.wait().unwrap();
    }
    store.close().unwrap();
    node_key(data);
}

/// The node key the opened node signs with: a store with a log is never
/// opened without one.
fn node_key(data: &Path) {
    ian_node::runtime::keyfile::create_signing_key(&data.join("node.key"), false)
        .expect("node.key");
}

pub fn open(data: &Path) -> (std::sync::Arc<Node>, Duration) {
    let d = data.display().to_string();
    let lookup = move |k: &str| match k {
        "IAN_DATA_DIR" => Some(d.clone()),
        "IAN_OPERATOR_KEY" => Some("restart-bench-operator-key".into()),
        // Benchmarks measure the node, not its per-address rate limiter.
        "IAN_IP_RATE" => Some("1000000000".into()),
        "IAN_IP_BURST" => Some("1000000000".into()),
        _ => None,
    };
    let cfg = Config::build(None, &lookup).unwrap();
    let t = Instant::now();
    let node = Node::open(cfg).expect("node opens");
    (node, t.elapsed())
}

/// The hidden-seed secret of [`populate_competition`]'s goal.
pub const SECRET: [u8; 32] = [7; 32];

/// A competition made of the example trading goal: one phase around the
/// synthetic entries' times (closed long ago, so the secret may be
/// revealed at once), five hidden seeds committed to [`SECRET`], one final
/// selection each, and `n` accepted entries by `n` contributors, each a
/// real buy-and-hold pack (its own `position`) whose pack and code are in
/// the store, so the final evaluation runs every one of them for real.
pub fn populate_competition(data: &Path, n: u64) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("examples/goals/trading.toml")).unwrap();
    let target = root.join("target").display().to_string();
    let commitment = ian_core::competition::SeedSecret::from_bytes(SECRET).commitment();
    let text = format!(
        "{}\n[[phases]]\nname = \"main\"\nopens_at = \"2023-11-14T00:00:00Z\"\n\
         closes_at = \"2023-11-15T00:00:00Z\"\n\
         [competition]\nfinal_selections = 1\n\
         hidden_seeds = {{ commitment = \"{commitment}\", count = 5 }}\n",
        text.replace("../../target", &target)
    );
    std::fs::create_dir_all(data).unwrap();
    let goal = data.join("competition.toml");
    std::fs::write(&goal, text).unwrap();
    let store = Store::open(data.join("ian.redb")).unwrap();
    let manifest = store_goal(&store, &goal);
    let id = manifest.id.as_str().to_string();
    let code = std::fs::read(root.join("target/components/buy-and-hold.wasm"))
        .expect("build the guests first: ./scripts/build-guests.sh");
    let code_hash = sha256(&code);
    store.put_blob(code_hash.0, code).unwrap().wait().unwrap();
    let goal_hash = manifest.goal_hash();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..n {
        // A distinct position per entry (up to 10 million entries).
        let pack = ian_core::AgentPack::new(
            code_hash,
            format!("position=0.{:07}", i + 1).into_bytes(),
            ian_core::Metadata::empty(),
        )
        .unwrap();
        // The appends below are committed after it, in order: waiting on
        // them waits on this too.
        drop(
            store
                .put_blob(pack.pack_hash().0, pack.to_canonical_bytes())
                .unwrap(),
        );
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&i.to_be_bytes());
        let contributor = PublicKeyBytes::of(&ed25519_dalek::SigningKey::from_bytes(&seed));
        let x = (i.wrapping_mul(2_654_435_761) % 10_000) as f64 / 10_000.0;
        let metrics = Metrics::new(
            Finite::new(0.2 * x).unwrap(),
            Finite::new(0.3 * (1.0 - x)).unwrap(),
            Finite::new(100.0).unwrap(),
        );
        let score = ian_core::pipeline::score_of(&manifest, &metrics).expect("passes the goal");
        let entry = LogEntry {
            goal_id: manifest.id.clone(),
            goal_hash,
            log_index: i,
            timestamp_ms: 1_700_000_000_000 + i,
            pack_hash: pack.pack_hash(),
            contributor,
            nonce: 1,
            proofs_hash: Hash32::ZERO,
            signature: SignatureBytes([0; 64]),
            metrics,
            score,
            fuel_used: 1000,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: Hash32([7; 32]),
            abi_version: "ian:eval@0.1.0".into(),
            harness_hash: manifest.harness.component,
        };
        if pending.len() == 4096 {
            let t: ian_store::Ticket<u64> = pending.pop_front().unwrap();
            t.wait().unwrap();
        }
        pending.push_back(store.append(&id, i, entry.to_canonical_bytes()).unwrap());
    }
    for t in pending {
        t.wait().unwrap();
    }
    store.close().unwrap();
    node_key(data);
    id
}

/// [`open`] with `workers` evaluation threads.
pub fn open_with_workers(data: &Path, workers: usize) -> std::sync::Arc<Node> {
    let d = data.display().to_string();
    let lookup = move |k: &str| match k {
        "IAN_DATA_DIR" => Some(d.clone()),
        "IAN_OPERATOR_KEY" => Some("final-bench-operator-key".into()),
        "IAN_WORKERS" => Some(workers.to_string()),
        _ => None,
    };
    let cfg = Config::build(None, &lookup).unwrap();
    Node::open(cfg).expect("node opens")
}
