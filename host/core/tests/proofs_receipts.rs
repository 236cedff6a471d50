//! Proof bundles (step 4), signed checkpoints and offline receipts.

mod support;

use ian_core::checkpoint::{CheckpointError, Receipt, ReceiptError};
use ian_core::dataset::{DatasetFile, DatasetLimits, DatasetListing};
use ian_core::goal::{DatasetRoot, GoalManifest};
use ian_core::hash::sha256;
use ian_core::mmr::ProofError;
use ian_core::note::{NoteError, NoteSigner};
use ian_core::pipeline::Rejection;
use ian_core::proofs::{
    ProofBundle, ProofFailure, ProofItem, StandardProofVerifier, approved_datasets, attest,
    dataset_hash,
};
use ian_core::{Contribution, GoalState, PublicKeyBytes};
use support::*;

fn goal_with_proofs(required: bool, attester: u8, datasets: Option<DatasetRoot>) -> GoalManifest {
    let mut m = manifest();
    m.proofs.required = required;
    m.proofs.attesters = vec![PublicKeyBytes::of(&key(attester))];
    m.proofs.datasets = datasets;
    m.validate().unwrap();
    m
}

fn run(s: &mut GoalState, c: &Contribution) -> Result<ian_core::Accepted, Rejection> {
    s.process(
        c,
        &ParamsEvaluator::default(),
        &ParamsInvariants::default(),
        &StandardProofVerifier,
        7,
    )
    .map_err(ian_core::Refusal::unwrap_rejected)
}

fn with_proofs(params: &str, items: Vec<ProofItem>, nonce: u64) -> Contribution {
    Contribution::sign(
        goal_id(),
        pack(params),
        ProofBundle { items },
        nonce,
        &key(1),
    )
}

#[test]
fn required_attestation_missing_is_refused() {
    let mut s = GoalState::new(goal_with_proofs(true, 50, None));
    let r = run(&mut s, &contribution("reward=1", 1, 1)).unwrap_err();
    assert_eq!(
        r,
        Rejection::ProofFailed(ProofFailure::Missing {
            kind: "attestation"
        })
    );
    assert_eq!(r.code(), "proof_failed");
}

#[test]
fn attestation_by_a_listed_key_is_accepted() {
    let mut s = GoalState::new(goal_with_proofs(true, 50, None));
    let p = pack("reward=1");
    let item = attest(&key(50), &goal_id(), &p.pack_hash());
    let a = run(&mut s, &with_proofs("reward=1", vec![item.clone()], 1)).unwrap();
    assert_eq!(
        a.entry.proofs_hash,
        ProofBundle { items: vec![item] }.proofs_hash()
    );
}

#[test]
fn attestation_by_an_unlisted_key_is_refused() {
    let mut s = GoalState::new(goal_with_proofs(false, 50, None));
    let item = attest(&key(51), &goal_id(), &pack("reward=1").pack_hash());
    assert_eq!(
        run(&mut s, &with_proofs("reward=1", vec![item], 1)).unwrap_err(),
        Rejection::ProofFailed(ProofFailure::UnknownAttester(
            PublicKeyBytes::of(&key(51)).to_hex()
        ))
    );
}

#[test]
fn attestation_over_another_pack_is_refused_even_when_not_required() {
    let mut s = GoalState::new(goal_with_proofs(false, 50, None));
    let item = attest(&key(50), &goal_id(), &pack("reward=2").pack_hash());
    assert!(matches!(
        run(&mut s, &with_proofs("reward=1", vec![item], 1)).unwrap_err(),
        Rejection::ProofFailed(ProofFailure::BadAttestation(_))
    ));
}

#[test]
fn stripping_proofs_in_transit_breaks_the_contributor_signature() {
    let mut s = GoalState::new(goal_with_proofs(false, 50, None));
    let item = attest(&key(50), &goal_id(), &pack("reward=1").pack_hash());
    let mut c = with_proofs("reward=1", vec![item], 1);
    c.proofs = ProofBundle::empty();
    assert_eq!(run(&mut s, &c).unwrap_err(), Rejection::BadSignature);
}

/// The dataset hash of a one-file dataset.
fn one_file_dataset(path: &str, bytes: &[u8]) -> ian_core::Hash32 {
    let file = DatasetFile {
        path: path.into(),
        sha256: sha256(bytes),
        size: bytes.len() as u64,
    };
    dataset_hash(&DatasetListing::new(vec![file], &DatasetLimits::default()).unwrap())
}

fn datasets() -> (Vec<ian_core::Hash32>, ian_core::MemMmr) {
    let ds: Vec<_> = (0..5u8)
        .map(|i| one_file_dataset(&format!("prices-{i}.csv"), &[i]))
        .collect();
    let m = approved_datasets(&ds);
    (ds, m)
}

#[test]
fn dataset_inclusion_in_the_approved_set_is_accepted() {
    let (ds, m) = datasets();
    let root = DatasetRoot {
        root: m.root().unwrap(),
        size: 5,
    };
    let mut s = GoalState::new(goal_with_proofs(false, 50, Some(root)));
    let item = ProofItem::Dataset {
        dataset: ds[3],
        index: 3,
        proof: m.inclusion_proof(3, 5).unwrap(),
    };
    run(&mut s, &with_proofs("reward=1", vec![item], 1)).unwrap();
}

#[test]
fn dataset_outside_the_approved_set_is_refused() {
    let (_, m) = datasets();
    let root = DatasetRoot {
        root: m.root().unwrap(),
        size: 5,
    };
    let mut s = GoalState::new(goal_with_proofs(false, 50, Some(root)));
    let rogue = one_file_dataset("prices.csv", b"doctored");
    let item = ProofItem::Dataset {
        dataset: rogue,
        index: 3,
        proof: m.inclusion_proof(3, 5).unwrap(),
    };
    let r = run(&mut s, &with_proofs("reward=1", vec![item], 1)).unwrap_err();
    assert!(
        matches!(r, Rejection::ProofFailed(ProofFailure::BadDatasetProof { ref reason, .. }) if reason.contains("root"))
    );
}

#[test]
fn dataset_proof_for_a_goal_without_datasets_is_refused() {
    let (ds, m) = datasets();
    let mut s = GoalState::new(goal_with_proofs(false, 50, None));
    let item = ProofItem::Dataset {
        dataset: ds[0],
        index: 0,
        proof: m.inclusion_proof(0, 5).unwrap(),
    };
    assert_eq!(
        run(&mut s, &with_proofs("reward=1", vec![item], 1)).unwrap_err(),
        Rejection::ProofFailed(ProofFailure::NoDatasets)
    );
}

fn accepted_log(n: u64) -> (GoalState, Vec<ian_core::LogEntry>) {
    let mut s = GoalState::new(manifest());
    let entries = (0..n)
        .map(|i| {
            run(&mut s, &contribution(&format!("reward=0.{i}"), i + 1, 2))
                .unwrap()
                .entry
        })
        .collect();
    (s, entries)
}

fn log_signer(seed: u8) -> NoteSigner {
    NoteSigner::new("node.example/trading-v1", key(seed)).unwrap()
}

fn receipt(s: &GoalState, e: &ian_core::LogEntry) -> Receipt {
    Receipt {
        entry: e.clone(),
        proof: s.inclusion_proof(e.log_index).unwrap(),
        checkpoint: s.signed_checkpoint(&log_signer(99)),
    }
}

#[test]
fn receipt_verifies_offline_with_the_log_key_alone() {
    let (s, entries) = accepted_log(13);
    let log = log_signer(99).verifier();
    for e in &entries {
        let r = receipt(&s, e);
        r.verify(&log).unwrap();
        // Survives both transports: the tlog-proof text and JSON.
        let back = Receipt::from_canonical_bytes(&r.to_canonical_bytes()).unwrap();
        assert_eq!(back, r);
        back.verify(&log).unwrap();
        let json: Receipt = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        json.verify(&log).unwrap();
    }
}

#[test]
fn a_receipt_is_a_tlog_proof_with_the_entry_as_extra() {
    let (s, entries) = accepted_log(5);
    let r = receipt(&s, &entries[3]);
    let text = r.to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "c2sp.org/tlog-proof@v1");
    let extra = ian_core::note::base64_decode(lines[1].strip_prefix("extra ").unwrap()).unwrap();
    assert_eq!(extra, entries[3].to_canonical_bytes());
    assert_eq!(lines[2], "index 3");
    // Three audit-path lines (size 5, index 3), a blank line, the note.
    assert_eq!(lines[6], "");
    assert_eq!(lines[7], "node.example/trading-v1");
    assert_eq!(lines[8], "5");
}

#[test]
fn receipt_checked_against_another_log_key_is_refused() {
    let (s, entries) = accepted_log(3);
    let r = receipt(&s, &entries[1]);
    assert!(matches!(
        r.verify(&log_signer(98).verifier()),
        Err(ReceiptError::Checkpoint(CheckpointError::Note(
            NoteError::Unsigned(_)
        )))
    ));
}

#[test]
fn receipt_with_tampered_checkpoint_is_refused() {
    let (s, entries) = accepted_log(3);
    let log = log_signer(99).verifier();
    let mut r = receipt(&s, &entries[1]);
    r.checkpoint.checkpoint.size = 2;
    assert!(matches!(
        r.verify(&log),
        Err(ReceiptError::Checkpoint(CheckpointError::Body(_)))
    ));
    let mut r = receipt(&s, &entries[1]);
    r.checkpoint.note.text = r.checkpoint.note.text.replace("\n3\n", "\n2\n");
    assert!(matches!(
        r.verify(&log),
        Err(ReceiptError::Checkpoint(CheckpointError::Note(
            NoteError::BadSignature(_)
        )))
    ));
}

#[test]
fn receipt_with_tampered_metrics_is_refused() {
    let (s, entries) = accepted_log(6);
    let log = log_signer(99).verifier();
    let mut r = receipt(&s, &entries[4]);
    r.entry.metrics.reward = ian_core::Finite::new(100.0).unwrap();
    assert_eq!(
        r.verify(&log),
        Err(ReceiptError::Inclusion(ProofError::RootMismatch))
    );
}

#[test]
fn receipt_with_forged_contributor_is_refused() {
    let (s, entries) = accepted_log(2);
    let log = log_signer(99).verifier();
    let mut r = receipt(&s, &entries[0]);
    r.entry.contributor = PublicKeyBytes::of(&key(5));
    assert_eq!(r.verify(&log), Err(ReceiptError::ContributorSignature));
}

#[test]
fn receipt_entry_beyond_checkpoint_is_refused() {
    let (mut s, _) = accepted_log(4);
    let cp = s.signed_checkpoint(&log_signer(99));
    let late = run(&mut s, &contribution("reward=0.9", 50, 2))
        .unwrap()
        .entry;
    let r = Receipt {
        proof: s.inclusion_proof(4).unwrap(),
        entry: late,
        checkpoint: cp,
    };
    assert_eq!(
        r.verify(&log_signer(99).verifier()),
        Err(ReceiptError::Inclusion(ProofError::IndexOutOfRange {
            index: 4,
            size: 4
        }))
    );
}

#[test]
fn receipt_for_another_goal_is_refused() {
    let (s, entries) = accepted_log(2);
    let other = NoteSigner::new("node.example/other-goal", key(99)).unwrap();
    let mut r = receipt(&s, &entries[0]);
    r.checkpoint = s.signed_checkpoint(&other);
    assert!(matches!(
        r.verify(&other.verifier()),
        Err(ReceiptError::GoalMismatch { .. })
    ));
}

#[test]
fn malformed_receipt_text_names_the_problem() {
    let (s, entries) = accepted_log(2);
    let good = receipt(&s, &entries[1]).to_text();
    for (bad, needle) in [
        (
            good.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
            "first line",
        ),
        (good.replacen("index 1", "index 01", 1), "index"),
        (good.replacen("index 1", "index 0", 1), "differs"),
        (good.replacen("\n\n", "\n", 1), "is not a base64 hash"),
    ] {
        let e = Receipt::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    }
}
