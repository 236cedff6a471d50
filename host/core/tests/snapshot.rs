//! Goal-state snapshots: a restored state is the snapshotted state, keeps
//! accepting entries exactly as a replay would, and anything truncated,
//! corrupt, hostile or of another goal is refused with a typed error.

mod support;

use ian_core::goal::GoalManifest;
use ian_core::hash::sha256;
use ian_core::mmr::node_count;
use ian_core::pipeline::SnapshotError;
use ian_core::proofs::StandardProofVerifier;
use ian_core::{GoalState, LogEntry, PublicKeyBytes};
use proptest::prelude::*;
use support::*;

fn pareto_manifest() -> GoalManifest {
    manifest_from(&GOAL_TOML.replace(
        "kind = \"scalar\"",
        "kind = \"pareto\"\nobjectives = [\"reward:max\", \"risk:min\"]",
    ))
}

/// Runs submissions `(reward, risk, signer)` through the pipeline and
/// returns the accepted entries and the resulting state. Refusals (below
/// threshold, duplicates) are part of the mix and leave no trace.
fn run(m: &GoalManifest, subs: &[(i32, i32, u8)]) -> (GoalState, Vec<LogEntry>) {
    let mut s = GoalState::new(m.clone());
    let mut entries = Vec::new();
    for (i, &(r, k, signer)) in subs.iter().enumerate() {
        let c = contribution(&format!("reward=0.{r},risk=0.{k}"), i as u64 + 1, signer);
        if let Ok(a) = s.process(
            &c,
            &ParamsEvaluator::default(),
            &ParamsInvariants::default(),
            &StandardProofVerifier,
            1000 + i as u64,
        ) {
            entries.push(a.entry);
        }
    }
    (s, entries)
}

fn subs_strategy() -> impl Strategy<Value = Vec<(i32, i32, u8)>> {
    prop::collection::vec((0i32..10, 0i32..12, 1u8..5), 0..80)
}

/// A small state with every part populated: several contributors, a full
/// leaderboard, a frontier.
fn small() -> (GoalManifest, GoalState) {
    let m = pareto_manifest();
    let subs = [(5, 3, 1), (7, 6, 2), (2, 1, 3), (9, 8, 1), (6, 2, 2)];
    let (s, entries) = run(&m, &subs);
    assert_eq!(entries.len(), 5);
    (m, s)
}

/// Replaces the trailing checksum with the right one for the (edited) body,
/// as a hostile writer could.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    b.truncate(b.len() - 32);
    let h = sha256(&b);
    b.extend_from_slice(&h.0);
    b
}

/// Offsets of the snapshot's fields (layout in docs/ENCODING.md).
struct Layout {
    size: usize,
    node_count: usize,
    nodes: usize,
    pack_count: usize,
    packs: usize,
    nonce_count: usize,
    leaderboard: usize,
}

fn layout(b: &[u8]) -> Layout {
    let u64_at = |o: usize| u64::from_be_bytes(b[o..o + 8].try_into().unwrap());
    let size = 4 + "ian/goal-state/v3".len() + 32;
    let node_count = size + 8;
    let nodes = node_count + 8;
    let pack_count = nodes + 32 * node_count_of(u64_at(size));
    let packs = pack_count + 8;
    let nonce_count = packs + 32 * u64_at(size) as usize;
    // last_timestamp_ms, then the usage count and 52-byte usage records.
    let usage_count = nonce_count + 8 + 48 * u64_at(nonce_count) as usize + 8;
    let leaderboard = usage_count + 8 + 52 * u64_at(usage_count) as usize;
    Layout {
        size,
        node_count,
        nodes,
        pack_count,
        packs,
        nonce_count,
        leaderboard,
    }
}

fn node_count_of(size: u64) -> usize {
    node_count(size) as usize
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Every query a node answers from a goal's state, answered alike.
fn assert_answers_alike(a: &GoalState, b: &GoalState, entries: &[LogEntry]) {
    assert!(a == b);
    assert_eq!(a.size(), b.size());
    assert_eq!(a.root(), b.root());
    for k in 0..=a.size() {
        assert_eq!(a.mmr().root_at(k), b.mmr().root_at(k));
    }
    for i in 0..a.size() {
        assert_eq!(a.inclusion_proof(i), b.inclusion_proof(i));
    }
    for e in entries {
        assert_eq!(b.lookup_pack(&e.pack_hash), Some(e.log_index));
    }
    assert_eq!(b.lookup_pack(&sha256(b"never logged")), None);
    for n in 0..6 {
        let k = PublicKeyBytes::of(&key(n));
        assert_eq!(a.last_nonce(&k), b.last_nonce(&k));
    }
    assert_eq!(a.leaderboard(), b.leaderboard());
    assert_eq!(a.frontier(), b.frontier());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_restored_state_equals_the_snapshotted_one_and_answers_alike(
        subs in subs_strategy(),
        pareto in any::<bool>(),
    ) {
        let m = if pareto { pareto_manifest() } else { manifest() };
        let (s, entries) = run(&m, &subs);
        let bytes = s.snapshot();
        let r = GoalState::restore(m, &bytes).unwrap();
        assert_answers_alike(&s, &r, &entries);
        prop_assert_eq!(r.snapshot(), bytes);
    }

    #[test]
    fn restoring_at_any_point_then_applying_the_tail_equals_a_full_replay(
        subs in subs_strategy(),
        pareto in any::<bool>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let m = if pareto { pareto_manifest() } else { manifest() };
        let (_, entries) = run(&m, &subs);
        let k = cut.index(entries.len() + 1);
        let prefix = GoalState::replay(m.clone(), &entries[..k]).unwrap();
        let mut r = GoalState::restore(m.clone(), &prefix.snapshot()).unwrap();
        for e in &entries[k..] {
            r.apply(e).unwrap();
        }
        let full = GoalState::replay(m, &entries).unwrap();
        assert_answers_alike(&full, &r, &entries);
        prop_assert_eq!(r.snapshot(), full.snapshot());
    }

    #[test]
    fn a_corrupt_byte_is_an_error_not_a_panic(
        subs in subs_strategy(),
        pos in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let m = pareto_manifest();
        let (s, _) = run(&m, &subs);
        let mut b = s.snapshot();
        let i = pos.index(b.len());
        b[i] ^= flip;
        prop_assert!(GoalState::restore(m, &b).is_err());
    }
}

#[test]
fn equal_states_give_identical_bytes_however_they_were_built() {
    let (m, s) = small();
    let entries: Vec<LogEntry> = {
        let subs = [(5, 3, 1), (7, 6, 2), (2, 1, 3), (9, 8, 1), (6, 2, 2)];
        run(&m, &subs).1
    };
    let replayed = GoalState::replay(m, &entries).unwrap();
    assert_eq!(s.snapshot(), replayed.snapshot());
}

#[test]
fn an_empty_goal_round_trips() {
    for m in [manifest(), pareto_manifest()] {
        let s = GoalState::new(m.clone());
        let r = GoalState::restore(m, &s.snapshot()).unwrap();
        assert!(r == s);
        assert_eq!(r.root(), s.root());
    }
}

#[test]
fn every_log_size_up_to_forty_round_trips() {
    // Covers every peak shape up to six peaks (e.g. 11 = 8+2+1 leaves).
    let m = manifest();
    let subs: Vec<(i32, i32, u8)> = (0..40).map(|i| (i % 10, i / 10, 1)).collect();
    let (_, entries) = run(&m, &subs);
    assert_eq!(entries.len(), 40);
    for k in 0..=entries.len() {
        let s = GoalState::replay(m.clone(), &entries[..k]).unwrap();
        let r = GoalState::restore(m.clone(), &s.snapshot()).unwrap();
        assert_answers_alike(&s, &r, &entries[..k]);
    }
}

#[test]
fn flipping_any_single_bit_of_a_small_snapshot_is_refused() {
    let (m, s) = small();
    let b = s.snapshot();
    for i in 0..b.len() {
        for bit in [0x01, 0x80] {
            let mut c = b.clone();
            c[i] ^= bit;
            assert!(
                GoalState::restore(m.clone(), &c).is_err(),
                "byte {i} ^ {bit:#x}"
            );
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let (m, s) = small();
    let b = s.snapshot();
    for n in 0..b.len() {
        let e = GoalState::restore(m.clone(), &b[..n]).unwrap_err();
        assert!(
            matches!(
                e,
                SnapshotError::Truncated { .. } | SnapshotError::ChecksumMismatch { .. }
            ),
            "prefix {n}: {e}"
        );
    }
}

#[test]
fn an_appended_byte_is_refused() {
    let (m, s) = small();
    let mut b = s.snapshot();
    b.push(0);
    assert!(matches!(
        GoalState::restore(m.clone(), &b),
        Err(SnapshotError::ChecksumMismatch { .. })
    ));
    let e = GoalState::restore(m, &reseal(b)).unwrap_err();
    assert!(matches!(e, SnapshotError::Decode(_)), "{e}");
}

#[test]
fn a_corrupt_body_is_a_checksum_mismatch() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let at = layout(&b).nodes + 5;
    b[at] ^= 1;
    assert!(matches!(
        GoalState::restore(m, &b),
        Err(SnapshotError::ChecksumMismatch { .. })
    ));
}

#[test]
fn a_snapshot_of_another_goal_is_a_goal_mismatch() {
    let (m, s) = small();
    let other = manifest();
    assert_eq!(
        GoalState::restore(other.clone(), &s.snapshot()).unwrap_err(),
        SnapshotError::GoalMismatch {
            expected: other.goal_hash(),
            found: m.goal_hash(),
        }
    );
}

#[test]
fn bytes_of_another_kind_are_a_wrong_domain() {
    let m = manifest();
    let (_, entries) = run(&m, &[(5, 3, 1)]);
    let e = GoalState::restore(m, &entries[0].to_canonical_bytes()).unwrap_err();
    assert_eq!(
        e,
        SnapshotError::WrongDomain {
            found: "ian/log-entry/v1".into()
        }
    );
}

#[test]
fn a_node_count_that_does_not_fit_the_size_is_refused() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    put_u64(&mut b, l.size, 6);
    assert_eq!(
        GoalState::restore(m, &reseal(b)).unwrap_err(),
        SnapshotError::NodeCountMismatch { size: 6, nodes: 8 }
    );
}

#[test]
fn a_hostile_size_with_a_valid_checksum_is_refused_before_allocating() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    let size = 1u64 << 40;
    put_u64(&mut b, l.size, size);
    put_u64(&mut b, l.node_count, node_count(size));
    let e = GoalState::restore(m.clone(), &reseal(b)).unwrap_err();
    assert!(
        matches!(
            e,
            SnapshotError::Truncated {
                field: "mmr.nodes",
                ..
            }
        ),
        "{e}"
    );
    // A size whose node count overflows cannot match any count.
    let mut b = s.snapshot();
    put_u64(&mut b, l.size, u64::MAX);
    assert!(matches!(
        GoalState::restore(m, &reseal(b)),
        Err(SnapshotError::NodeCountMismatch { .. })
    ));
}

#[test]
fn a_hostile_nonce_count_with_a_valid_checksum_is_refused_before_allocating() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    put_u64(&mut b, l.nonce_count, u64::MAX / 2);
    let e = GoalState::restore(m, &reseal(b)).unwrap_err();
    assert!(
        matches!(
            e,
            SnapshotError::Truncated {
                field: "nonces",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_altered_mmr_parent_is_refused_even_with_a_valid_checksum() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    // Position 2 is the parent of leaves 0 and 1.
    b[l.nodes + 2 * 32] ^= 1;
    assert_eq!(
        GoalState::restore(m, &reseal(b)).unwrap_err(),
        SnapshotError::NodeMismatch { position: 2 }
    );
}

#[test]
fn a_pack_count_other_than_the_size_is_refused() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    put_u64(&mut b, l.pack_count, 4);
    assert_eq!(
        GoalState::restore(m, &reseal(b)).unwrap_err(),
        SnapshotError::PackCountMismatch { size: 5, packs: 4 }
    );
}

#[test]
fn a_pack_logged_twice_is_refused() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    let first = b[l.packs..l.packs + 32].to_vec();
    b[l.packs + 32..l.packs + 64].copy_from_slice(&first);
    assert!(matches!(
        GoalState::restore(m, &reseal(b)),
        Err(SnapshotError::DuplicatePack {
            first: 0,
            second: 1,
            ..
        })
    ));
}

#[test]
fn a_leaderboard_score_the_ranking_does_not_give_is_refused() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    // count (u32), then log_index, pack_hash, contributor, score.
    let score = l.leaderboard + 4 + 8 + 32 + 32;
    put_u64(&mut b, score, 0.125f64.to_bits());
    let e = GoalState::restore(m, &reseal(b)).unwrap_err();
    assert!(
        matches!(
            e,
            SnapshotError::Inconsistent {
                part: "leaderboard",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn unsorted_contributors_are_refused() {
    let (m, s) = small();
    let mut b = s.snapshot();
    let l = layout(&b);
    let pairs = l.nonce_count + 8;
    let (x, y) = b[pairs..pairs + 96].split_at_mut(48);
    x.swap_with_slice(y);
    assert!(matches!(
        GoalState::restore(m, &reseal(b)),
        Err(SnapshotError::Inconsistent { part: "nonces", .. })
    ));
}

#[test]
fn a_restored_state_matches_its_signed_checkpoints_and_no_other() {
    let (m, s) = small();
    let at3 = GoalState::replay(m.clone(), &run(&m, &[(5, 3, 1), (7, 6, 2), (2, 1, 3)]).1)
        .unwrap()
        .checkpoint(&origin(&m));
    let r = GoalState::restore(m.clone(), &s.snapshot()).unwrap();
    assert!(r.matches_checkpoint(&s.checkpoint(&origin(&m))));
    assert!(
        r.matches_checkpoint(&at3),
        "an earlier checkpoint of the same log"
    );
    // The last leaf of an odd-sized log is its own peak: altering it keeps
    // every parent consistent, so only the checkpoint can tell.
    let mut b = s.snapshot();
    let l = layout(&b);
    b[l.nodes + 32 * (node_count_of(5) - 1)] ^= 1;
    let forged = GoalState::restore(m.clone(), &reseal(b)).unwrap();
    assert!(!forged.matches_checkpoint(&s.checkpoint(&origin(&m))));
    assert!(forged.matches_checkpoint(&at3));
}

fn origin(m: &GoalManifest) -> String {
    format!("node.example/{}", m.id)
}
