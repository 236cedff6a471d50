//! Shared pieces of the fuzz targets: fixed keys, two small goals, the
//! round-trip laws every target asserts, mirrors of the node's HTTP request
//! bodies, and the seed inputs (`examples/seeds.rs` writes them to
//! `fuzz/seeds/`).

use ed25519_dalek::SigningKey;
use ian_core::dataset::{DatasetFile, DatasetLimits, DatasetListing};
use ian_core::goal::{GoalManifest, GoalSpec, ResolvedComponents};
use ian_core::pipeline::{Evaluation, Evaluator, NoInvariants, RawMetrics, Verdict};
use ian_core::proofs::attest;
use ian_core::{
    AgentPack, Contribution, GoalState, LogEntry, Metadata, PackFile, ProofBundle, PublicKeyBytes,
    Receipt, SignedCheckpoint, StandardProofVerifier, sha256,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::OnceLock;

/// The node key every receipt and checkpoint is verified against.
pub fn node_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// The fuzz goal's log: origin `fuzz.example/fuzz-v1`, signed by the node
/// key.
pub fn log_signer() -> ian_core::note::NoteSigner {
    ian_core::note::NoteSigner::new("fuzz.example/fuzz-v1", node_key()).expect("valid key name")
}

/// The verifier of that log's checkpoints.
pub fn node_public() -> ian_core::note::NoteVerifier {
    log_signer().verifier()
}

/// A contributor key.
pub fn contributor_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// A small scalar goal (also the goal-TOML seed).
pub const SCALAR_GOAL: &str = r#"id = "fuzz-v1"
title = "Fuzz goal"
description = "A small goal for the fuzz targets"

[harness]
component = "harness.wasm"
config = "steps=8"
seeds = [1, 2]

[thresholds]
min_reward = -1.0
max_risk = 0.9

[ranking]
kind = "scalar"
reward = 1.0
risk = 0.5
complexity = 0.0

[leaderboard]
capacity = 3
"#;

/// The Pareto variant of [`SCALAR_GOAL`] (frontier present in snapshots).
pub fn pareto_goal() -> String {
    SCALAR_GOAL.replace(
        "kind = \"scalar\"",
        "kind = \"pareto\"\nobjectives = [\"reward:max\", \"risk:min\"]",
    )
}

/// The component hashes a goal file is resolved with in the targets: the
/// pinned hash where the file pins one, else a fixed hash.
pub fn components_for(spec: &GoalSpec, dataset: bool) -> ResolvedComponents {
    ResolvedComponents {
        harness: spec.harness.sha256.unwrap_or(sha256(b"harness")),
        invariants: spec
            .invariants
            .iter()
            .map(|i| i.sha256.unwrap_or(sha256(i.name.as_bytes())))
            .collect(),
        dataset: dataset.then(|| sha256(b"dataset")),
    }
}

fn resolve(toml: &str) -> GoalManifest {
    let spec = GoalSpec::from_toml(toml).expect("fixture goal parses");
    spec.resolve(&components_for(&spec, false))
        .expect("fixture goal resolves")
}

/// The scalar (`false`) or Pareto (`true`) fixture manifest.
pub fn manifest(pareto: bool) -> &'static GoalManifest {
    static M: OnceLock<[GoalManifest; 2]> = OnceLock::new();
    &M.get_or_init(|| [resolve(SCALAR_GOAL), resolve(&pareto_goal())])[pareto as usize]
}

/// Reports metrics read from the first two params bytes.
struct ParamsEvaluator;

impl Evaluator for ParamsEvaluator {
    fn evaluate(&self, _: &GoalManifest, pack: &AgentPack, _: &ian_core::Hash32) -> Verdict {
        let p = pack.params();
        let at = |i: usize| f64::from(p.get(i).copied().unwrap_or(0)) / 256.0;
        Verdict::Evaluated(Evaluation {
            metrics: RawMetrics {
                reward: at(0),
                risk: at(1),
                complexity: 1.0,
                extra: vec![("sharpe".into(), at(2) - 0.5)],
            },
            fuel_used: 1000 + p.len() as u64,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: sha256(b"sandbox config"),
            abi_version: "ian:eval@0.1.0".into(),
        })
    }
}

/// A pack whose params carry its metrics.
pub fn pack(reward: u8, risk: u8, metadata: &[(&str, &str)]) -> AgentPack {
    let params = vec![reward, risk, reward ^ risk, b'p'];
    let md = Metadata::new(metadata.iter().copied()).expect("fixture metadata");
    AgentPack::new(sha256(b"agent component"), params, md).expect("fixture pack")
}

/// A signed contribution to the fixture goal.
pub fn contribution(reward: u8, risk: u8, nonce: u64, signer: u8) -> Contribution {
    let p = pack(reward, risk, &[("lang", "rust"), ("name", "fuzz")]);
    Contribution::sign(
        manifest(false).id.clone(),
        p,
        ProofBundle::empty(),
        nonce,
        &contributor_key(signer),
    )
}

/// Runs a few contributions through the pipeline of the fixture goal.
pub fn state(pareto: bool, subs: &[(u8, u8, u8)]) -> (GoalState, Vec<LogEntry>) {
    let mut s = GoalState::new(manifest(pareto).clone());
    let mut entries = Vec::new();
    for (i, &(reward, risk, signer)) in subs.iter().enumerate() {
        let c = contribution(reward, risk, i as u64 + 1, signer);
        if let Ok(a) = s.process(
            &c,
            &ParamsEvaluator,
            &NoInvariants,
            &StandardProofVerifier,
            1_700_000_000_000 + i as u64,
        ) {
            entries.push(a.entry);
        }
    }
    (s, entries)
}

/// A checkpoint of `s` signed by [`node_key`].
pub fn signed_checkpoint(s: &GoalState) -> SignedCheckpoint {
    s.signed_checkpoint(&log_signer())
}

/// A valid receipt for entry `i` of `s`.
pub fn receipt(s: &GoalState, entries: &[LogEntry], i: usize) -> Receipt {
    Receipt {
        entry: entries[i].clone(),
        proof: s.inclusion_proof(i as u64).expect("proof"),
        checkpoint: signed_checkpoint(s),
    }
}

/// Decode-then-encode law: when `decoded` is `Ok`, encoding it again must
/// give back exactly `input` (one value, one encoding), and decoding those
/// bytes again must give an equal value.
pub fn roundtrip<T, E>(
    what: &str,
    input: &[u8],
    decoded: Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<T, E>,
) -> Option<T>
where
    T: PartialEq + Debug,
    E: Debug,
{
    let v = decoded.ok()?;
    let bytes = encode(&v);
    assert!(
        bytes == input,
        "{what}: re-encoding a decoded value changed the bytes\n input: {input:02x?}\noutput: {bytes:02x?}"
    );
    let again = decode(&bytes).unwrap_or_else(|e| panic!("{what}: own encoding refused: {e:?}"));
    assert_eq!(
        again, v,
        "{what}: decoding the re-encoding gave another value"
    );
    Some(v)
}

/// JSON law: a value serialises, and the JSON deserialises to an equal
/// value that has the same canonical bytes.
pub fn json_roundtrip<T>(what: &str, v: &T, canonical: impl Fn(&T) -> Vec<u8>) -> T
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + Debug,
{
    let json = serde_json::to_string(v).unwrap_or_else(|e| panic!("{what}: to JSON: {e}"));
    let back: T = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{what}: own JSON refused: {e}\njson: {json}"));
    assert_eq!(&back, v, "{what}: JSON round trip changed the value");
    assert!(
        canonical(&back) == canonical(v),
        "{what}: JSON round trip changed the canonical bytes"
    );
    back
}

/// The dataset limits a node uses when reading back accepted listings.
pub fn hard_dataset_limits() -> DatasetLimits {
    DatasetLimits {
        max_files: ian_core::dataset::HARD_MAX_DATASET_FILES,
        max_bytes: ian_core::dataset::HARD_MAX_DATASET_BYTES,
    }
}

/// Same JSON shape as `ian_node::runtime::service::SubmitRequest` (the
/// body of `POST /api/v1/goals/{goal}/contributions`); kept in step by hand because
/// depending on ian-node would build wasmtime into the fuzz crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The signed contribution.
    pub contribution: Contribution,
    /// Component bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Proof-of-work nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pow_nonce: Option<u64>,
}

/// Same JSON shape as `ian_node::runtime::service::PublishRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The goal file text.
    pub goal_toml: String,
    /// Component path as written in the goal file -> base64 bytes.
    pub components: BTreeMap<String, String>,
    /// Dataset files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dataset: Vec<DatasetUpload>,
}

/// Same JSON shape as `ian_node::runtime::service::DatasetUpload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetUpload {
    /// Path relative to the dataset directory.
    pub path: String,
    /// The file's bytes, base64.
    pub bytes: String,
}

/// A dataset listing as the node builds one from uploads (the base64 text
/// stands in for the bytes: only its hash and length are listed).
pub fn listing_of(uploads: &[DatasetUpload]) -> Option<DatasetListing> {
    let files = uploads
        .iter()
        .map(|u| DatasetFile {
            path: u.path.clone(),
            sha256: sha256(u.bytes.as_bytes()),
            size: u.bytes.len() as u64,
        })
        .collect();
    DatasetListing::new(files, &DatasetLimits::default()).ok()
}

/// Seed inputs: `(target, name, bytes)`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |t: &'static str, name: &str, b: Vec<u8>| out.push((t, name.to_string(), b));
    let subs = [
        (130, 40, 1),
        (200, 90, 2),
        (60, 10, 3),
        (250, 200, 1),
        (150, 20, 2),
    ];
    let (s, entries) = state(false, &subs);
    let (p, _) = state(true, &subs);
    assert_eq!(entries.len(), 5, "fixture contributions are accepted");
    let r = receipt(&s, &entries, 2);

    // canonical_log: selector byte, then the bytes.
    let tagged = |sel: u8, b: Vec<u8>| [vec![sel], b].concat();
    add(
        "canonical_log",
        "entry",
        tagged(0, entries[0].to_canonical_bytes()),
    );
    add(
        "canonical_log",
        "checkpoint",
        tagged(1, r.checkpoint.checkpoint.body().into_bytes()),
    );
    add(
        "canonical_log",
        "signed_checkpoint",
        tagged(2, r.checkpoint.to_canonical_bytes()),
    );
    add(
        "canonical_log",
        "receipt",
        tagged(3, r.to_canonical_bytes()),
    );
    add(
        "canonical_log",
        "inclusion",
        tagged(4, r.proof.to_canonical_bytes()),
    );
    let cons = s.mmr().consistency_proof(2, 5).expect("consistency proof");
    add(
        "canonical_log",
        "consistency",
        tagged(5, cons.to_canonical_bytes()),
    );

    // canonical_goal.
    add(
        "canonical_goal",
        "manifest",
        tagged(0, manifest(false).to_canonical_bytes()),
    );
    add(
        "canonical_goal",
        "manifest_pareto",
        tagged(0, manifest(true).to_canonical_bytes()),
    );
    let mut c = contribution(1, 2, 3, 4);
    add(
        "canonical_goal",
        "contribution",
        tagged(1, c.to_canonical_bytes()),
    );
    c.proofs
        .items
        .push(attest(&contributor_key(9), &c.goal_id, &c.pack.pack_hash()));
    c.proofs.items.push(ian_core::ProofItem::Dataset {
        dataset: sha256(b"dataset"),
        index: 1,
        proof: r.proof.clone(),
    });
    add(
        "canonical_goal",
        "contribution_proofs",
        tagged(1, c.to_canonical_bytes()),
    );
    add(
        "canonical_goal",
        "pack",
        tagged(2, c.pack.to_canonical_bytes()),
    );
    let listing = DatasetListing::new(
        ["a.csv", "dir/b.bin", "dir/sub/c.txt"]
            .iter()
            .map(|p| DatasetFile {
                path: p.to_string(),
                sha256: sha256(p.as_bytes()),
                size: p.len() as u64,
            })
            .collect(),
        &DatasetLimits::default(),
    )
    .expect("fixture listing");
    add(
        "canonical_goal",
        "dataset",
        tagged(3, listing.to_canonical_bytes()),
    );

    // goal_state: selector (bit 0 = Pareto goal), then the body without
    // its checksum (the target appends the right one).
    for (sel, name, st) in [(0u8, "scalar", &s), (1, "pareto", &p)] {
        let snap = st.snapshot();
        add(
            "goal_state",
            name,
            tagged(sel, snap[..snap.len() - 32].to_vec()),
        );
        let empty = GoalState::new(manifest(sel == 1).clone()).snapshot();
        add(
            "goal_state",
            &format!("{name}_empty"),
            tagged(sel, empty[..empty.len() - 32].to_vec()),
        );
    }

    // goal_toml.
    add("goal_toml", "scalar", SCALAR_GOAL.as_bytes().to_vec());
    add("goal_toml", "pareto", pareto_goal().into_bytes());
    let full = format!(
        "{}\n[[invariants]]\nname = \"position-limit\"\ncomponent = \"inv.wasm\"\nsha256 = \"{}\"\n\n[limits]\nfuel_per_evaluation = 2000000000\npow_bits = 4\n\n[proofs]\nrequired = true\nattesters = [\"{}\"]\n",
        SCALAR_GOAL.replace("seeds = [1, 2]", "seeds = [1, 2]\ndataset = \"data\""),
        sha256(b"inv"),
        PublicKeyBytes::of(&contributor_key(9)).to_hex(),
    );
    GoalSpec::from_toml(&full).expect("the full seed goal parses");
    add("goal_toml", "full", full.into_bytes());

    // pack_file.
    let pf = PackFile::new(
        b"\0asm\x0d\0\x01\0component".to_vec(),
        vec![1, 2, 3],
        Metadata::new([("name", "fuzz"), ("version", "1")]).expect("metadata"),
    )
    .expect("pack file");
    add("pack_file", "small", pf.to_bytes());

    // proofs_json: selector, then JSON.
    let json = |v: &dyn erased::Json| v.json().into_bytes();
    add("proofs_json", "receipt", tagged(0, json(&r)));
    add(
        "proofs_json",
        "signed_checkpoint",
        tagged(1, json(&r.checkpoint)),
    );
    let inc = InclusionCase {
        root: s.root(),
        size: s.size(),
        index: 2,
        leaf: entries[2].leaf_hash(),
        proof: r.proof.clone(),
    };
    add("proofs_json", "inclusion", tagged(2, json(&inc)));
    let con = ConsistencyCase {
        old_size: 2,
        old_root: s.mmr().root_at(2).expect("root"),
        new_size: 5,
        new_root: s.root(),
        proof: cons,
    };
    add("proofs_json", "consistency", tagged(3, json(&con)));

    // http_json.
    let sub = SubmitRequest {
        contribution: c.clone(),
        code: Some("AGFzbQ0AAQA=".into()),
        pow_nonce: Some(42),
    };
    add("http_json", "submit", tagged(0, json(&sub)));
    let publish = PublishRequest {
        goal_toml: SCALAR_GOAL.into(),
        components: [("harness.wasm".to_string(), "AGFzbQ0AAQA=".to_string())].into(),
        dataset: vec![
            DatasetUpload {
                path: "a.csv".into(),
                bytes: "eCx5CjEsMgo=".into(),
            },
            DatasetUpload {
                path: "dir/b.bin".into(),
                bytes: "AAEC".into(),
            },
        ],
    };
    add("http_json", "publish", tagged(1, json(&publish)));
    out
}

/// `proofs_json` input: an inclusion proof with what it is checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionCase {
    pub root: ian_core::Hash32,
    pub size: u64,
    pub index: u64,
    pub leaf: ian_core::Hash32,
    pub proof: ian_core::InclusionProof,
}

/// `proofs_json` input: a consistency proof between two roots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyCase {
    pub old_size: u64,
    pub old_root: ian_core::Hash32,
    pub new_size: u64,
    pub new_root: ian_core::Hash32,
    pub proof: ian_core::ConsistencyProof,
}

mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string_pretty(self).expect("fixture serialises")
        }
    }
}
