//! Fixed test vectors: the exact bytes and hashes documented in
//! docs/ENCODING.md. They were cross-checked against an independent
//! implementation (Python hashlib + the `cryptography` package's Ed25519).
//! If one of these fails, the wire format changed: bump the domain tag.

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

fn f(v: f64) -> Finite {
    Finite::new(v).unwrap()
}

fn pack() -> AgentPack {
    let meta = Metadata::new([("name", "ma-crossover"), ("version", "1")]).unwrap();
    AgentPack::new(
        sha256(b"agent component"),
        b"short=5,long=20".to_vec(),
        meta,
    )
    .unwrap()
}

fn goal() -> GoalId {
    GoalId::new("trading-v1").unwrap()
}

fn metrics() -> Metrics {
    Metrics {
        reward: f(0.5),
        risk: f(0.25),
        complexity: f(3.0),
        extra: vec![("sharpe".into(), f(-1.5))],
    }
}

fn entry() -> LogEntry {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    LogEntry {
        goal_id: goal(),
        goal_hash: sha256(b"goal"),
        log_index: 0,
        timestamp_ms: 1_700_000_000_000,
        pack_hash: pack().pack_hash(),
        contributor: PublicKeyBytes::of(&key),
        nonce: 1,
        proofs_hash: ProofBundle::empty().proofs_hash(),
        signature: SignatureBytes([0xab; 64]),
        metrics: metrics(),
        score: f(0.375),
        fuel_used: 123_456,
        engine_version: "wasmtime 48.0.8".into(),
        config_hash: sha256(b"config"),
        abi_version: "ian:eval@0.1.0".into(),
        harness_hash: sha256(b"harness"),
    }
}

#[test]
fn domain_tag_vector() {
    assert_eq!(
        hex::encode(Encoder::new("ian/pack/v1").finish()),
        "0000000b69616e2f7061636b2f7631"
    );
}

#[test]
fn pack_vector() {
    let p = pack();
    assert_eq!(
        p.code_hash().to_hex(),
        "7cf50add89beb3f51e4b6ce3281c296438fcc50bf3260e09577cbdb730706b45"
    );
    assert_eq!(
        hex::encode(p.to_canonical_bytes()),
        "0000000b69616e2f7061636b2f76317cf50add89beb3f51e4b6ce3281c296438fcc50bf3260e09577cbdb730706b450000000f73686f72743d352c6c6f6e673d323000000002000000046e616d650000000c6d612d63726f73736f7665720000000776657273696f6e0000000131"
    );
    assert_eq!(
        p.pack_hash().to_hex(),
        "cf662b11f52c60252945b7372c42558ebedcdea21b356efaf7f6c26b4f3019ca"
    );
}

#[test]
fn pack_file_vector() {
    let pf = PackFile::new(
        b"\0asm\x01\0\0\0".to_vec(),
        b"k=v".to_vec(),
        Metadata::empty(),
    )
    .unwrap();
    assert_eq!(
        hex::encode(pf.to_bytes()),
        "8949414e5041434b0000000193a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476000000036b3d7600000000000000080061736d01000000"
    );
}

#[test]
fn contribution_vector() {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let pk = PublicKeyBytes::of(&key);
    assert_eq!(
        pk.to_hex(),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
    assert_eq!(
        ProofBundle::empty().proofs_hash().to_hex(),
        "480facb6a5808c310c34bca24401d4943bb7ea392f6dccf47c0e7a8844831f49"
    );
    let msg = contribution_message(
        &goal(),
        &pack().pack_hash(),
        &pk,
        1,
        &ProofBundle::empty().proofs_hash(),
    );
    assert_eq!(
        hex::encode(&msg),
        "0000001369616e2f636f6e747269627574696f6e2f76310000000a74726164696e672d7631cf662b11f52c60252945b7372c42558ebedcdea21b356efaf7f6c26b4f3019ca8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0000000000000001480facb6a5808c310c34bca24401d4943bb7ea392f6dccf47c0e7a8844831f49"
    );
    let c = Contribution::sign(goal(), pack(), ProofBundle::empty(), 1, &key);
    assert_eq!(
        c.signature.to_hex(),
        "82fa9c3bf19e23fae9a8811f340bee3d1d72384586cb1646604a596a3fe47a6bd4f7db545adcbb2f1f861b9779edca9e1346f975ab6c109869e91772509dcb09"
    );
}

#[test]
fn metrics_vector() {
    let mut e = Encoder::new("x");
    metrics().encode_into(&mut e);
    assert_eq!(
        hex::encode(&e.finish()[5..]),
        "3fe00000000000003fd000000000000040080000000000000000000100000006736861727065bff8000000000000"
    );
}

#[test]
fn log_entry_vector() {
    let e = entry();
    assert_eq!(
        hex::encode(e.to_canonical_bytes()),
        "0000001069616e2f6c6f672d656e7472792f76310000000a74726164696e672d76310304523efff53f243d76dc81b7c271f922292543cead846ee714f066c3331e5f00000000000000000000018bcfe56800cf662b11f52c60252945b7372c42558ebedcdea21b356efaf7f6c26b4f3019ca8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0000000000000001480facb6a5808c310c34bca24401d4943bb7ea392f6dccf47c0e7a8844831f49abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab3fe00000000000003fd000000000000040080000000000000000000100000006736861727065bff80000000000003fd8000000000000000000000001e2400000000f7761736d74696d652034382e302e38b79606fb3afea5bd1609ed40b622142f1c98125abcfe89a76a661b0e8e3439100000000e69616e3a6576616c40302e312e3049f756463ad9dcfb9b6ade54d7d6f15476e7214f46a65b4b0c55d46845b12f70"
    );
    assert_eq!(
        e.leaf_hash().to_hex(),
        "7d09a2853227ef0da42ef30fb0354215d4e9582af4168935494c83a8ec7aa0ea"
    );
}

/// RFC 6962 tree hashes of the logs "a", "a b", ... (leaves are the
/// one-byte entries). Computed independently with Python's hashlib from the
/// RFC's recursive definition.
#[test]
fn mmr_root_vectors() {
    let expected = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c",
        "b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb",
        "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1",
        "33376a3bd63e9993708a84ddfe6c28ae58b83505dd1fed711bd924ec5a6239f0",
        "fe14a5426fbd70c0fa73f52342afed0da0bd23c4838662ccf6b88a3070ead97b",
    ];
    let mut m = MemMmr::new_in_memory();
    assert_eq!(m.root().unwrap().to_hex(), expected[0]);
    for (i, l) in [b"a", b"b", b"c", b"d", b"e"].iter().enumerate() {
        m.append(*l).unwrap();
        assert_eq!(
            m.root().unwrap().to_hex(),
            expected[i + 1],
            "size {}",
            i + 1
        );
    }
}

/// The checkpoint note of that 5-entry log signed by key seed [99; 32]
/// under the name `ian.example/bandit-v1`, and a cosignature/v1 by key
/// seed [98; 32]. Computed independently with Python's `cryptography`.
#[test]
fn checkpoint_note_and_cosignature_vectors() {
    let node = SigningKey::from_bytes(&[99u8; 32]);
    let log = NoteSigner::new("ian.example/bandit-v1", node).unwrap();
    assert_eq!(
        log.verifier().to_vkey(),
        "ian.example/bandit-v1+3fa2990e+Aaf236+POLibqM5km1lPkeTQH9xX+clJPfQ7XlCpmHNn"
    );
    let cp = Checkpoint {
        origin: "ian.example/bandit-v1".into(),
        size: 5,
        root: ian_core::Hash32::from_hex(
            "fe14a5426fbd70c0fa73f52342afed0da0bd23c4838662ccf6b88a3070ead97b",
        )
        .unwrap(),
    };
    let s = SignedCheckpoint::sign(cp, &log);
    assert_eq!(
        s.to_text(),
        "ian.example/bandit-v1\n5\n/hSlQm+9cMD6c/UjQq/tDaC9I8SDhmLM9riKMHDq2Xs=\n\n\u{2014} ian.example/bandit-v1 P6KZDotWafCW35Aft+NUMUJZ26WRvxQq++q0nXug3BHk0ntFLQWNBgTjfTJTicuQXUJg6BGbt+n9g7yV7CFfWRaeUAo=\n"
    );
    s.verify(&log.verifier()).unwrap();
    let w = Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[98u8; 32])).unwrap();
    assert_eq!(
        w.verifier().to_vkey(),
        "witness.example/w1+7a18d7fa+BC3wQSXwAVr7R86FOu+HcglP+UmMFMsbnhKXPCkn2g+m"
    );
    assert_eq!(
        w.cosign(&s.note.text, 1_700_000_000).to_line(),
        "\u{2014} witness.example/w1 ehjX+gAAAABlU/EAJn7Xl2ayaLZv3DBGz0KvIgSKdKAZJYVgRumzwl7LYpbFut56Rf0cywFxDwdC0E6zPSDZQn4p4wRSakjbiD3bCw==\n"
    );
}

#[test]
fn minimal_goal_manifest_vector() {
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
    assert_eq!(
        hex::encode(man.to_canonical_bytes()),
        "0000000b69616e2f676f616c2f76310000000962616e6469742d76310000000642616e6469740000000049f756463ad9dcfb9b6ade54d7d6f15476e7214f46a65b4b0c55d46845b12f70000000000000000100000000000000070000000000000000003ff000000000000000000000000000000000000000000000000000000000000002faf08000000000004c4b40000000001dcd650000000000040000000000000000400000000000000000004000000000000027100000000000010000000000000000000a000003e8000000000000"
    );
    assert_eq!(
        man.goal_hash().to_hex(),
        "985a73063de2e6d5a6c65cdab7fae45302779281b04ccdf3be68261495185c47"
    );
}

#[test]
fn proof_of_work_vector() {
    let d = ian_core::Hash32([0; 32]);
    let mut e = Encoder::new(ian_core::pow::POW_DOMAIN);
    e.str("trading-v1").hash(&d).u64(0);
    assert_eq!(
        hex::encode(e.as_slice()),
        concat!(
            "0000000a69616e2f706f772f76320000000a74726164696e672d763100000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "00000000"
        )
    );
    assert_eq!(
        ian_core::pow::work_hash("trading-v1", &d, 0).to_hex(),
        "b8a0ffeb387d067eea3eb3b17ab4b30c8771c63d644f7045ab96cf4f4711b54f"
    );
}

#[test]
fn hidden_seed_commitment_and_seed_vectors() {
    use ian_core::competition::SeedSecret;
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = i as u8;
    }
    let s = SeedSecret::from_bytes(b);
    assert_eq!(
        s.commitment().to_hex(),
        "37e1d73b560274ae2e451285362cd12a715d10c11a798feb96bd98ea30486e75"
    );
    assert_eq!(
        s.seeds(3),
        vec![
            3218912813780288611,
            14182107745176822292,
            3672961934087729566
        ]
    );
}

#[test]
fn competition_goal_manifest_vector() {
    let spec = GoalSpec::from_toml(concat!(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n",
        "[[phases]]\nname = \"main\"\nopens_at = \"2026-12-06T12:00:00Z\"\n",
        "closes_at = \"2026-12-20T12:00:00Z\"\nmax_per_day = 5\n",
        "[competition]\nboard = \"per-contributor\"\n",
        "hidden_seeds = { commitment = \"37e1d73b560274ae2e451285362cd12a715d10c11a798feb96bd98ea30486e75\", count = 3 }\n",
    ))
    .unwrap();
    let man = spec
        .resolve(&ResolvedComponents {
            harness: sha256(b"harness"),
            invariants: vec![],
            dataset: None,
        })
        .unwrap();
    assert_eq!(
        hex::encode(man.to_canonical_bytes()),
        "0000000b69616e2f676f616c2f76320000000962616e6469742d76310000000642616e6469740000000049f756463ad9dcfb9b6ade54d7d6f15476e7214f46a65b4b0c55d46845b12f70000000000000000100000000000000070000000000000000003ff000000000000000000000000000000000000000000000000000000000000002faf08000000000004c4b40000000001dcd650000000000040000000000000000400000000000000000004000000000000027100000000000010000000000000000000a000003e800000000000000000001000000046d61696e000001a24b39aa00000001a29352b2000100000005000137e1d73b560274ae2e451285362cd12a715d10c11a798feb96bd98ea30486e75000000030000000201"
    );
    assert_eq!(
        man.goal_hash().to_hex(),
        "4cb74d1104494bb14dc9f9b920544631d809723de5002d71d6841e0b02f1edd6"
    );
    // The manifest reads back from its bytes and from its JSON alike.
    let back = ian_core::GoalManifest::from_canonical_bytes(&man.to_canonical_bytes()).unwrap();
    assert_eq!(back, man);
    let json = serde_json::to_string(&man).unwrap();
    assert!(
        json.contains("\"opens_at\":\"2026-12-06T12:00:00Z\""),
        "{json}"
    );
    assert_eq!(ian_core::GoalManifest::from_json(&json).unwrap(), man);
}

#[test]
fn wasi_agents_goal_manifest_vector() {
    // The minimal goal with `agents = "wasi"`: tagged ian/goal/v3, v1's
    // fields, then option<competition> (none: 00), the runtime (wasi: 01)
    // and the complexity rule (raw: 00, no baselines: 00000000).
    let spec = GoalSpec::from_toml(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\nagents = \"wasi\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n",
    )
    .unwrap();
    let man = spec
        .resolve(&ResolvedComponents {
            harness: sha256(b"harness"),
            invariants: vec![],
            dataset: None,
        })
        .unwrap();
    assert_eq!(man.agents, ian_core::Agents::Wasi);
    assert_eq!(
        hex::encode(man.to_canonical_bytes()),
        "0000000b69616e2f676f616c2f76330000000962616e6469742d76310000000642616e6469740000000049f756463ad9dcfb9b6ade54d7d6f15476e7214f46a65b4b0c55d46845b12f70000000000000000100000000000000070000000000000000003ff000000000000000000000000000000000000000000000000000000000000002faf08000000000004c4b40000000001dcd650000000000040000000000000000400000000000000000004000000000000027100000000000010000000000000000000a000003e800000000000000010000000000"
    );
    assert_eq!(
        man.goal_hash().to_hex(),
        "2df0957afbbe308415100071a7b20e0b44e2c3cb75d2633e234d1503f51be62e"
    );
    let back = ian_core::GoalManifest::from_canonical_bytes(&man.to_canonical_bytes()).unwrap();
    assert_eq!(back, man);
    let json = serde_json::to_string(&man).unwrap();
    assert!(json.contains("\"agents\":\"wasi\""), "{json}");
    assert_eq!(ian_core::GoalManifest::from_json(&json).unwrap(), man);
}

#[test]
fn a_v3_manifest_that_says_pure_agents_is_refused_as_not_canonical() {
    let spec = GoalSpec::from_toml(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\nagents = \"wasi\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n",
    )
    .unwrap();
    let man = spec
        .resolve(&ResolvedComponents {
            harness: sha256(b"harness"),
            invariants: vec![],
            dataset: None,
        })
        .unwrap();
    let mut bytes = man.to_canonical_bytes();
    // The agents byte comes before the complexity rule's five bytes.
    let at = bytes.len() - 6;
    assert_eq!(bytes[at], 1);
    bytes[at] = 0;
    let err = ian_core::GoalManifest::from_canonical_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("goal.agents"), "{err}");
}

#[test]
fn complexity_above_baseline_goal_manifest_vector() {
    // Pure agents, complexity above one runtime's baseline: tagged
    // ian/goal/v3, v1's fields, 00 (no competition), 00 (pure agents),
    // then 02 (above-baseline), u32 1, str runtime, hash code, u64 act_fuel.
    let spec = GoalSpec::from_toml(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n\
         [complexity]\nmode = \"above-baseline\"\n[[complexity.baselines]]\n\
         runtime = \"py\"\ncode = \"0707070707070707070707070707070707070707070707070707070707070707\"\nact_fuel = 51000\n",
    )
    .unwrap();
    let man = spec
        .resolve(&ResolvedComponents {
            harness: sha256(b"harness"),
            invariants: vec![],
            dataset: None,
        })
        .unwrap();
    assert_eq!(man.complexity.mode, ian_core::ComplexityMode::AboveBaseline);
    let bytes = hex::encode(man.to_canonical_bytes());
    assert!(
        bytes.starts_with("0000000b69616e2f676f616c2f7633"),
        "{bytes}"
    );
    assert!(
        bytes.ends_with(
            "000002000000010000000270790707070707070707070707070707070707070707070707070707070707070707\
             000000000000c738"
        ),
        "{bytes}"
    );
    assert_eq!(
        man.goal_hash().to_hex(),
        "b9ec2e01931282b8d9f106ec2b0c7622be9e3a0eb9c2566b3a2f99c15deb648d"
    );
    let back = ian_core::GoalManifest::from_canonical_bytes(&man.to_canonical_bytes()).unwrap();
    assert_eq!(back, man);
    let json = serde_json::to_string(&man).unwrap();
    assert!(json.contains("\"mode\":\"above-baseline\""), "{json}");
    assert_eq!(ian_core::GoalManifest::from_json(&json).unwrap(), man);
}

#[test]
fn a_v3_manifest_with_pure_agents_and_raw_complexity_is_refused_as_not_canonical() {
    let spec = GoalSpec::from_toml(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n\
         [complexity]\nmode = \"off\"\n",
    )
    .unwrap();
    let man = spec
        .resolve(&ResolvedComponents {
            harness: sha256(b"harness"),
            invariants: vec![],
            dataset: None,
        })
        .unwrap();
    let mut bytes = man.to_canonical_bytes();
    let at = bytes.len() - 5;
    assert_eq!(bytes[at], 1, "off is mode 1");
    bytes[at] = 0;
    let err = ian_core::GoalManifest::from_canonical_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("not v3"), "{err}");
}

#[test]
fn above_baseline_without_a_baseline_is_refused_naming_the_command_that_measures_one() {
    let err = GoalSpec::from_toml(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n\
         [complexity]\nmode = \"above-baseline\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("ian-host goal baseline"), "{err}");
}

#[test]
fn baselines_with_raw_complexity_are_refused() {
    let err = GoalSpec::from_toml(
        "id = \"bandit-v1\"\ntitle = \"Bandit\"\n[harness]\ncomponent = \"h.wasm\"\nseeds = [7]\n\
         [[complexity.baselines]]\nruntime = \"py\"\ncode = \"0707070707070707070707070707070707070707070707070707070707070707\"\nact_fuel = 1\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("above-baseline"), "{err}");
}
