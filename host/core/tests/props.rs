//! Property tests: replay, round trips, decoders on hostile bytes,
//! leaderboard and frontier against brute force, dedup without false
//! negatives.

mod support;

use ian_core::checkpoint::{Receipt, SignedCheckpoint};
use ian_core::dedup::Dedup;
use ian_core::encoding::Finite;
use ian_core::entry::ContributionMeta;
use ian_core::goal::{Direction, GoalManifest, Objective};
use ian_core::hash::{Hash32, sha256};
use ian_core::leaderboard::{Leaderboard, ParetoFrontier, ranks_above};
use ian_core::metrics::Metrics;
use ian_core::mmr::{ConsistencyProof, InclusionProof};
use ian_core::pack::{AgentPack, Metadata, PackFile};
use ian_core::proofs::StandardProofVerifier;
use ian_core::{Contribution, GoalState, LogEntry, PublicKeyBytes};
use proptest::prelude::*;
use support::*;

fn pareto_manifest() -> GoalManifest {
    manifest_from(&GOAL_TOML.replace(
        "kind = \"scalar\"",
        "kind = \"pareto\"\nobjectives = [\"reward:max\", \"risk:min\"]",
    ))
}

/// Params for one submission: small integer grids so ties, duplicates,
/// threshold misses and failures all happen often.
fn params_strategy() -> impl Strategy<Value = (String, u64, u8)> {
    (0i32..8, 0i32..12, 0u8..10, 1u64..6, 1u8..4).prop_map(|(r, k, tag, nonce_step, signer)| {
        let p = match tag {
            0 => format!("reward={r},fail=agent_trap"),
            1 => format!("reward={r},violate"),
            _ => format!("reward=0.{r},risk=0.{k}"),
        };
        (p, nonce_step, signer)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replaying_the_accepted_entries_rebuilds_the_identical_state(
        subs in prop::collection::vec(params_strategy(), 1..120),
        pareto in any::<bool>(),
    ) {
        let m = if pareto { pareto_manifest() } else { manifest() };
        let mut s = GoalState::new(m.clone());
        let mut entries = Vec::new();
        let mut nonces = [0u64; 4];
        for (i, (p, step, signer)) in subs.iter().enumerate() {
            // Sometimes reuse a nonce to exercise replay refusal.
            let n = if i % 11 == 10 { nonces[*signer as usize] } else { nonces[*signer as usize] + step };
            let c = contribution(p, n, *signer);
            if let Ok(a) = s.process(&c, &ParamsEvaluator::default(), &ParamsInvariants::default(), &StandardProofVerifier, 1000 + i as u64) {
                nonces[*signer as usize] = n;
                entries.push(a.entry);
            }
        }
        let r = GoalState::replay(m, &entries).unwrap();
        prop_assert!(r == s);
        prop_assert_eq!(r.root(), s.root());
        prop_assert_eq!(r.leaderboard().entries(), s.leaderboard().entries());
        prop_assert_eq!(r.frontier().map(|f| f.members().to_vec()), s.frontier().map(|f| f.members().to_vec()));
        // Entries survive both encodings unchanged.
        for e in &entries {
            prop_assert_eq!(&LogEntry::from_canonical_bytes(&e.to_canonical_bytes()).unwrap(), e);
            let j: LogEntry = serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap();
            prop_assert_eq!(&j, e);
        }
    }
}

#[test]
fn replay_refuses_a_reordered_log() {
    let mut s = GoalState::new(manifest());
    let mut es = Vec::new();
    for i in 0..3u64 {
        es.push(
            s.process(
                &contribution(&format!("reward=0.{i}"), i + 1, 1),
                &ParamsEvaluator::default(),
                &ParamsInvariants::default(),
                &StandardProofVerifier,
                0,
            )
            .unwrap()
            .entry,
        );
    }
    es.swap(1, 2);
    assert_eq!(
        GoalState::replay(manifest(), &es).unwrap_err(),
        ian_core::pipeline::ReplayError::OutOfOrder {
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn replay_refuses_an_entry_with_a_doctored_score() {
    let mut s = GoalState::new(manifest());
    let mut e = s
        .process(
            &contribution("reward=0.5", 1, 1),
            &ParamsEvaluator::default(),
            &ParamsInvariants::default(),
            &StandardProofVerifier,
            0,
        )
        .unwrap()
        .entry;
    e.score = Finite::new(9.0).unwrap();
    assert!(matches!(
        GoalState::replay(manifest(), [&e]).unwrap_err(),
        ian_core::pipeline::ReplayError::ScoreMismatch { .. }
    ));
}

fn sample_entry() -> LogEntry {
    let mut s = GoalState::new(manifest());
    s.process(
        &contribution("reward=0.5,risk=0.25,sharpe=1.5", 1, 1),
        &ParamsEvaluator::default(),
        &ParamsInvariants::default(),
        &StandardProofVerifier,
        42,
    )
    .unwrap()
    .entry
}

fn sample_encodings() -> Vec<Vec<u8>> {
    let e = sample_entry();
    let mut s = GoalState::new(manifest());
    s.apply(&e).unwrap();
    let receipt = Receipt {
        entry: e.clone(),
        proof: s.inclusion_proof(0).unwrap(),
        checkpoint: s.signed_checkpoint(
            &ian_core::note::NoteSigner::new(&format!("n.example/{}", s.manifest().id), key(9))
                .unwrap(),
        ),
    };
    vec![
        e.to_canonical_bytes(),
        receipt.checkpoint.to_canonical_bytes(),
        receipt.to_canonical_bytes(),
        contribution("reward=1", 3, 1).to_canonical_bytes(),
        PackFile::new(
            b"\0asm component".to_vec(),
            b"a=1".to_vec(),
            Metadata::new([("name", "x")]).unwrap(),
        )
        .unwrap()
        .to_bytes(),
        manifest().to_canonical_bytes(),
    ]
}

fn decode_all(b: &[u8]) {
    let _ = LogEntry::from_canonical_bytes(b);
    let _ = SignedCheckpoint::from_canonical_bytes(b);
    let _ = std::str::from_utf8(b).map(ian_core::Checkpoint::parse_body);
    let _ = Receipt::from_canonical_bytes(b);
    let _ = Contribution::from_canonical_bytes(b);
    let _ = PackFile::from_bytes(b);
    let _ = AgentPack::from_canonical_bytes(b);
    let _ = GoalManifest::from_canonical_bytes(b);
    let _ = InclusionProof::from_canonical_bytes(b);
    let _ = ConsistencyProof::from_canonical_bytes(b);
}

#[test]
fn every_truncation_of_a_valid_encoding_is_an_error() {
    let encs = sample_encodings();
    for enc in &encs {
        for cut in 0..enc.len() {
            let b = &enc[..cut];
            assert!(LogEntry::from_canonical_bytes(b).is_err());
            assert!(Receipt::from_canonical_bytes(b).is_err());
            assert!(PackFile::from_bytes(b).is_err());
            assert!(Contribution::from_canonical_bytes(b).is_err());
            assert!(GoalManifest::from_canonical_bytes(b).is_err());
            assert!(SignedCheckpoint::from_canonical_bytes(b).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn decoders_never_panic_on_random_bytes(b in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_all(&b);
    }

    #[test]
    fn decoders_never_panic_on_mutated_valid_encodings(which in 0usize..6, pos in any::<usize>(), byte in any::<u8>(), extra in prop::collection::vec(any::<u8>(), 0..8)) {
        let mut b = sample_encodings().swap_remove(which);
        let i = pos % b.len();
        b[i] = byte;
        b.extend_from_slice(&extra);
        decode_all(&b);
    }
}

fn meta(score: f64, reward: f64, risk: f64, idx: u64) -> ContributionMeta {
    ContributionMeta {
        log_index: idx,
        pack_hash: sha256(&idx.to_be_bytes()),
        contributor: PublicKeyBytes::of(&key(1)),
        score: Finite::new(score).unwrap(),
        metrics: Metrics::new(
            Finite::new(reward).unwrap(),
            Finite::new(risk).unwrap(),
            Finite::ZERO,
        ),
        timestamp_ms: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn leaderboard_always_holds_the_top_k_by_score_then_index(scores in prop::collection::vec(-5i32..5, 0..200), k in 1usize..12) {
        let mut lb = Leaderboard::new(k);
        let all: Vec<ContributionMeta> = scores.iter().enumerate().map(|(i, s)| meta(*s as f64 / 2.0, 0.0, 0.0, i as u64)).collect();
        for m in &all {
            lb.offer(m.clone());
        }
        let mut sorted = all.clone();
        sorted.sort_by(|a, b| if ranks_above(a, b) { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater });
        sorted.truncate(k);
        prop_assert_eq!(lb.entries(), &sorted[..]);
    }

    #[test]
    fn a_per_contributor_board_holds_the_top_k_of_each_contributors_best(entries in prop::collection::vec((-5i32..5, 1u8..6), 0..200), k in 1usize..8) {
        let mut lb = Leaderboard::per_contributor(k);
        let all: Vec<ContributionMeta> = entries.iter().enumerate().map(|(i, (s, who))| ContributionMeta {
            contributor: PublicKeyBytes::of(&key(*who)),
            ..meta(*s as f64 / 2.0, 0.0, 0.0, i as u64)
        }).collect();
        for m in &all {
            lb.offer(m.clone());
        }
        let order = |a: &ContributionMeta, b: &ContributionMeta| if ranks_above(a, b) { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater };
        let mut sorted = all.clone();
        sorted.sort_by(order);
        let mut seen = std::collections::HashSet::new();
        let mut best: Vec<ContributionMeta> = sorted.into_iter().filter(|m| seen.insert(m.contributor)).collect();
        best.truncate(k);
        prop_assert_eq!(lb.entries(), &best[..]);
    }

    #[test]
    fn pareto_frontier_equals_the_brute_force_non_dominated_set(pts in prop::collection::vec((0i32..6, 0i32..6), 0..80)) {
        let objs = vec![
            Objective { metric: "reward".into(), direction: Direction::Max },
            Objective { metric: "risk".into(), direction: Direction::Min },
        ];
        let mut f = ParetoFrontier::new(objs, 10_000);
        let all: Vec<ContributionMeta> = pts.iter().enumerate().map(|(i, (r, k))| meta(0.0, *r as f64, *k as f64, i as u64)).collect();
        for m in &all {
            f.offer(m.clone());
        }
        let dom = |a: &ContributionMeta, b: &ContributionMeta| {
            let (ar, ak, br, bk) = (a.metrics.reward.get(), a.metrics.risk.get(), b.metrics.reward.get(), b.metrics.risk.get());
            ar >= br && ak <= bk && (ar > br || ak < bk)
        };
        let same = |a: &ContributionMeta, b: &ContributionMeta| a.metrics.reward == b.metrics.reward && a.metrics.risk == b.metrics.risk;
        // Non-dominated, and the first of any group of exact ties.
        let expected: Vec<u64> = all.iter().enumerate()
            .filter(|(i, a)| !all.iter().any(|b| dom(b, a)) && !all[..*i].iter().any(|b| same(b, a)))
            .map(|(_, a)| a.log_index)
            .collect();
        let got: Vec<u64> = f.members().iter().map(|m| m.log_index).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn dedup_has_no_false_negatives(keys in prop::collection::vec(any::<[u8; 32]>(), 1..300), probes in prop::collection::vec(any::<[u8; 32]>(), 0..300)) {
        let mut d = Dedup::new();
        for (i, k) in keys.iter().enumerate() {
            d.insert(Hash32(*k), i as u64);
        }
        for (i, k) in keys.iter().enumerate() {
            let first = keys.iter().position(|x| x == k).unwrap();
            prop_assert_eq!(d.lookup(&Hash32(*k)), Some(first as u64), "key {}", i);
        }
        for p in &probes {
            prop_assert_eq!(d.lookup(&Hash32(*p)), keys.iter().position(|x| x == p).map(|i| i as u64));
        }
    }
}

#[test]
fn dedup_finds_every_key_across_filter_rebuilds_and_bloom_stays_selective() {
    let mut d = Dedup::new();
    let n = 300_000u64;
    for i in 0..n {
        assert_eq!(d.insert(sha256(&i.to_be_bytes()), i), None);
    }
    for i in 0..n {
        assert_eq!(d.lookup(&sha256(&i.to_be_bytes())), Some(i));
    }
    // Fast negative: few absent keys get past the filter.
    let fp = (n..n + 100_000)
        .filter(|i| d.bloom().maybe_contains(&sha256(&i.to_be_bytes())))
        .count();
    assert!(fp < 3_000, "false-positive rate {} / 100000", fp);
}

#[test]
fn pack_and_metadata_json_round_trip_and_refuse_duplicate_keys() {
    let p = AgentPack::new(
        code_hash(),
        b"short=5,long=20".to_vec(),
        Metadata::new([("name", "ma"), ("author", "x")]).unwrap(),
    )
    .unwrap();
    let j = serde_json::to_string(&p).unwrap();
    let back: AgentPack = serde_json::from_str(&j).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.pack_hash(), p.pack_hash());
    let dup = format!(
        r#"{{"code_hash":"{}","params":"","metadata":{{"a":"1","a":"2"}}}}"#,
        code_hash()
    );
    let e = serde_json::from_str::<AgentPack>(&dup)
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than once"), "{e}");
}

#[test]
fn negative_zero_and_subnormal_metrics_keep_their_bits_through_json() {
    for v in [-0.0f64, 5e-324, 0.1 + 0.2, f64::MAX, -f64::MIN_POSITIVE] {
        let m = Metrics::from_raw(v, v, v, vec![("x".into(), v)]).unwrap();
        let back: Metrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.reward.get().to_bits(), v.to_bits());
        assert_eq!(back.extra[0].1.get().to_bits(), v.to_bits());
    }
}

#[test]
fn contribution_and_manifest_round_trip_through_both_encodings() {
    let c = contribution("reward=1", 3, 1);
    assert_eq!(
        Contribution::from_canonical_bytes(&c.to_canonical_bytes()).unwrap(),
        c
    );
    let j: Contribution = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(j, c);
    for m in [manifest(), pareto_manifest()] {
        assert_eq!(
            GoalManifest::from_canonical_bytes(&m.to_canonical_bytes()).unwrap(),
            m
        );
        let j = GoalManifest::from_json(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(j.goal_hash(), m.goal_hash());
    }
    let pf = PackFile::new(
        vec![0, 97, 115, 109, 1, 0, 0, 0],
        b"k=v".to_vec(),
        Metadata::empty(),
    )
    .unwrap();
    assert_eq!(PackFile::from_bytes(&pf.to_bytes()).unwrap(), pf);
}

#[test]
fn pack_file_with_swapped_component_is_refused() {
    let pf = PackFile::new(b"component A".to_vec(), vec![], Metadata::empty()).unwrap();
    let mut b = pf.to_bytes();
    let n = b.len();
    b[n - 1] ^= 1;
    assert!(matches!(
        PackFile::from_bytes(&b),
        Err(ian_core::pack::PackError::CodeHashMismatch { .. })
    ));
    let mut b = pf.to_bytes();
    b[0] = b'X';
    assert!(matches!(
        PackFile::from_bytes(&b),
        Err(ian_core::pack::PackError::Decode(
            ian_core::DecodeError::BadMagic { .. }
        ))
    ));
}

#[test]
fn replay_refuses_an_entry_judged_by_another_harness() {
    let mut e = sample_entry();
    e.harness_hash = sha256(b"another harness");
    assert!(matches!(
        GoalState::replay(manifest(), [&e]).unwrap_err(),
        ian_core::pipeline::ReplayError::NotAcceptable { index: 0, .. }
    ));
}

#[test]
fn replay_refuses_an_entry_below_the_goal_thresholds() {
    let mut e = sample_entry();
    e.metrics.reward = Finite::new(-5.0).unwrap();
    e.score = manifest().ranking.score(&e.metrics).unwrap();
    match GoalState::replay(manifest(), [&e]).unwrap_err() {
        ian_core::pipeline::ReplayError::NotAcceptable { index: 0, reason } => {
            assert!(reason.contains("reward"), "{reason}")
        }
        other => panic!("unexpected {other:?}"),
    }
}
