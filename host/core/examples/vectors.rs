//! Prints the test vectors of docs/ENCODING.md (which tests/vectors.rs
//! checks). Run: `cargo run --release -p ian-core --example vectors`.

use ed25519_dalek::SigningKey;
use ian_core::checkpoint::{Checkpoint, SignedCheckpoint};
use ian_core::contribution::contribution_message;
use ian_core::encoding::{Encoder, Finite};
use ian_core::goal::{GoalSpec, ResolvedComponents};
use ian_core::hash::sha256;
use ian_core::metrics::Metrics;
use ian_core::mmr::MemMmr;
use ian_core::note::{Cosigner, NoteSigner};
use ian_core::pack::{AgentPack, Metadata, PackFile};
use ian_core::proofs::ProofBundle;
use ian_core::{Contribution, GoalId, LogEntry, PublicKeyBytes, SignatureBytes};

fn main() {
    let f = |v: f64| Finite::new(v).unwrap();
    println!(
        "domain ian/pack/v1 = {}",
        hex::encode(Encoder::new("ian/pack/v1").finish())
    );

    let meta = Metadata::new([("name", "ma-crossover"), ("version", "1")]).unwrap();
    let pack = AgentPack::new(
        sha256(b"agent component"),
        b"short=5,long=20".to_vec(),
        meta.clone(),
    )
    .unwrap();
    println!("code_hash = {}", pack.code_hash());
    println!("pack bytes = {}", hex::encode(pack.to_canonical_bytes()));
    println!("pack hash = {}", pack.pack_hash());

    let pf = PackFile::new(
        b"\0asm\x01\0\0\0".to_vec(),
        b"k=v".to_vec(),
        Metadata::empty(),
    )
    .unwrap();
    println!("pack file = {}", hex::encode(pf.to_bytes()));

    let key = SigningKey::from_bytes(&[1u8; 32]);
    let pk = PublicKeyBytes::of(&key);
    println!("key(1) public = {pk}");
    let goal = GoalId::new("trading-v1").unwrap();
    let empty = ProofBundle::empty();
    println!("empty proofs hash = {}", empty.proofs_hash());
    let msg = contribution_message(&goal, &pack.pack_hash(), &pk, 1, &empty.proofs_hash());
    println!("contribution message = {}", hex::encode(&msg));
    let c = Contribution::sign(goal.clone(), pack.clone(), empty, 1, &key);
    println!("contribution signature = {}", c.signature.to_hex());

    let m = Metrics {
        reward: f(0.5),
        risk: f(0.25),
        complexity: f(3.0),
        extra: vec![("sharpe".into(), f(-1.5))],
    };
    let mut e = Encoder::new("x");
    m.encode_into(&mut e);
    println!(
        "metrics (after domain 'x') = {}",
        hex::encode(&e.finish()[5..])
    );

    let entry = LogEntry {
        goal_id: goal.clone(),
        goal_hash: sha256(b"goal"),
        log_index: 0,
        timestamp_ms: 1_700_000_000_000,
        pack_hash: pack.pack_hash(),
        contributor: pk,
        nonce: 1,
        proofs_hash: ProofBundle::empty().proofs_hash(),
        signature: SignatureBytes([0xab; 64]),
        metrics: m,
        score: f(0.375),
        fuel_used: 123_456,
        engine_version: "wasmtime 48.0.8".into(),
        config_hash: sha256(b"config"),
        abi_version: "ian:eval@0.1.0".into(),
        harness_hash: sha256(b"harness"),
    };
    println!("entry bytes = {}", hex::encode(entry.to_canonical_bytes()));
    println!("entry leaf hash = {}", entry.leaf_hash());

    let mut mmr = MemMmr::new_in_memory();
    println!("mmr root size 0 = {}", mmr.root().unwrap());
    for (i, l) in [b"a", b"b", b"c", b"d", b"e"].iter().enumerate() {
        mmr.append(*l).unwrap();
        println!("mmr root size {} = {}", i + 1, mmr.root().unwrap());
    }

    let node = SigningKey::from_bytes(&[99u8; 32]);
    let log = NoteSigner::new("ian.example/bandit-v1", node.clone()).unwrap();
    let cp = Checkpoint {
        origin: log.name().to_string(),
        size: 5,
        root: mmr.root().unwrap(),
    };
    println!("node key(99) public = {}", PublicKeyBytes::of(&node));
    println!("log vkey = {}", log.verifier().to_vkey());
    println!(
        "checkpoint note =\n{}",
        SignedCheckpoint::sign(cp, &log).to_text()
    );
    let w = Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[98u8; 32])).unwrap();
    println!("witness vkey = {}", w.verifier().to_vkey());
    println!(
        "cosignature at 1700000000 = {}",
        w.cosign(&cp_text(&mmr), 1_700_000_000).to_line()
    );

    let spec = GoalSpec::from_toml(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n",
    )
    .unwrap();
    let man = spec
        .resolve(&ResolvedComponents {
            harness: sha256(b"harness"),
            invariants: vec![],
            dataset: None,
        })
        .unwrap();
    println!(
        "minimal goal manifest = {}",
        hex::encode(man.to_canonical_bytes())
    );
    println!("minimal goal hash = {}", man.goal_hash());
}

fn cp_text(mmr: &MemMmr) -> String {
    Checkpoint {
        origin: "ian.example/bandit-v1".into(),
        size: 5,
        root: mmr.root().unwrap(),
    }
    .body()
}
