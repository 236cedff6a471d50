//! Algebraic laws of the MMR: every inclusion and consistency proof that
//! the log produces verifies, and any single-bit change to any input makes
//! verification fail.

use ian_core::hash::Hash32;
use ian_core::mmr::{
    ConsistencyProof, InclusionProof, MemMmr, ProofError, leaf_hash, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;

fn leaf(i: u64) -> Vec<u8> {
    format!("entry-{i}").into_bytes()
}

fn build(n: u64) -> MemMmr {
    let mut m = MemMmr::new_in_memory();
    for i in 0..n {
        assert_eq!(m.append(&leaf(i)).unwrap(), i);
    }
    m
}

fn flip(h: &Hash32, bit: usize) -> Hash32 {
    let mut b = h.0;
    b[bit / 8 % 32] ^= 1 << (bit % 8);
    Hash32(b)
}

#[test]
fn every_index_verifies_at_every_size_up_to_2000() {
    let mut m = MemMmr::new_in_memory();
    let mut proofs = 0u64;
    for size in 1..=2000u64 {
        m.append(&leaf(size - 1)).unwrap();
        let root = m.root().unwrap();
        for index in 0..size {
            let p = m.inclusion_proof(index, size).unwrap();
            verify_inclusion(&root, size, index, &leaf_hash(&leaf(index)), &p).unwrap();
            proofs += 1;
        }
    }
    assert_eq!(proofs, 2000 * 2001 / 2);
}

#[test]
fn historical_inclusion_proofs_verify_against_historical_roots() {
    let m = build(300);
    for size in 1..=300u64 {
        let root = m.root_at(size).unwrap();
        for index in (0..size).step_by(7) {
            let p = m.inclusion_proof(index, size).unwrap();
            verify_inclusion(&root, size, index, &leaf_hash(&leaf(index)), &p).unwrap();
        }
    }
}

#[test]
fn consistency_verifies_for_every_pair_up_to_300() {
    let m = build(300);
    let roots: Vec<Hash32> = (0..=300).map(|s| m.root_at(s).unwrap()).collect();
    for new in 0..=300u64 {
        for old in 0..=new {
            let p = m.consistency_proof(old, new).unwrap();
            verify_consistency(old, &roots[old as usize], new, &roots[new as usize], &p)
                .unwrap_or_else(|e| panic!("{old}->{new}: {e}"));
        }
    }
}

#[test]
fn inclusion_proof_for_wrong_leaf_content_fails() {
    let m = build(5);
    let p = m.inclusion_proof(3, 5).unwrap();
    assert_eq!(
        verify_inclusion(&m.root().unwrap(), 5, 3, &leaf_hash(b"forged"), &p),
        Err(ProofError::RootMismatch)
    );
}

#[test]
fn index_beyond_size_is_refused() {
    let m = build(4);
    let p = m.inclusion_proof(3, 4).unwrap();
    assert_eq!(
        verify_inclusion(&m.root().unwrap(), 4, 4, &leaf_hash(&leaf(3)), &p),
        Err(ProofError::IndexOutOfRange { index: 4, size: 4 })
    );
}

#[test]
fn consistency_from_larger_to_smaller_is_refused() {
    let m = build(10);
    assert!(m.consistency_proof(6, 5).is_err());
    let p = m.consistency_proof(5, 6).unwrap();
    assert_eq!(
        verify_consistency(6, &m.root_at(6).unwrap(), 5, &m.root_at(5).unwrap(), &p),
        Err(ProofError::OldAfterNew { old: 6, new: 5 })
    );
}

#[test]
fn a_log_that_rewrote_history_fails_consistency() {
    let honest = build(20);
    let mut forked = MemMmr::new_in_memory();
    for i in 0..20u64 {
        forked
            .append(&if i == 7 {
                b"rewritten".to_vec()
            } else {
                leaf(i)
            })
            .unwrap();
    }
    // Proof built by the forked log, checked against the honest old root.
    let p = forked.consistency_proof(10, 20).unwrap();
    assert!(
        verify_consistency(
            10,
            &honest.root_at(10).unwrap(),
            20,
            &forked.root().unwrap(),
            &p
        )
        .is_err()
    );
}

fn all_inclusion_mutations_fail(
    root: Hash32,
    size: u64,
    index: u64,
    lh: Hash32,
    p: &InclusionProof,
    bit: usize,
) {
    assert!(verify_inclusion(&flip(&root, bit), size, index, &lh, p).is_err());
    assert!(verify_inclusion(&root, size, index, &flip(&lh, bit), p).is_err());
    // The size is not checked here: an RFC 6962 root does not commit to it
    // (the signed checkpoint does), so only index mutations must fail.
    for b in 0..64 {
        let i2 = index ^ (1u64 << b);
        assert!(
            verify_inclusion(&root, size, i2, &lh, p).is_err(),
            "index bit {b}"
        );
    }
    for k in 0..p.hashes.len() {
        let mut q = p.clone();
        q.hashes[k] = flip(&q.hashes[k], bit);
        assert!(verify_inclusion(&root, size, index, &lh, &q).is_err());
    }
}

#[test]
fn any_flipped_bit_breaks_inclusion_at_small_sizes() {
    for size in 1..=64u64 {
        let m = build(size);
        let root = m.root().unwrap();
        for index in 0..size {
            let p = m.inclusion_proof(index, size).unwrap();
            let lh = leaf_hash(&leaf(index));
            all_inclusion_mutations_fail(
                root,
                size,
                index,
                lh,
                &p,
                (index * 37 + size) as usize % 256,
            );
        }
    }
}

fn all_consistency_mutations_fail(m: &MemMmr, old: u64, new: u64, bit: usize) {
    let (ro, rn) = (m.root_at(old).unwrap(), m.root_at(new).unwrap());
    let p: ConsistencyProof = m.consistency_proof(old, new).unwrap();
    verify_consistency(old, &ro, new, &rn, &p).unwrap();
    assert!(verify_consistency(old, &flip(&ro, bit), new, &rn, &p).is_err());
    // The empty log is a prefix of every log: nothing binds the new root.
    if old > 0 {
        assert!(verify_consistency(old, &ro, new, &flip(&rn, bit), &p).is_err());
    }
    for k in 0..p.hashes.len() {
        let mut q = p.clone();
        q.hashes[k] = flip(&q.hashes[k], bit);
        assert!(verify_consistency(old, &ro, new, &rn, &q).is_err());
    }
}

#[test]
fn any_flipped_bit_breaks_consistency_at_small_sizes() {
    let m = build(70);
    for new in 1..=70u64 {
        for old in 0..=new {
            all_consistency_mutations_fail(&m, old, new, (old * 31 + new) as usize % 256);
        }
    }
}

/// One shared log of 1,000,000 leaves for the large random checks.
fn big() -> &'static MemMmr {
    use std::sync::OnceLock;
    static BIG: OnceLock<MemMmr> = OnceLock::new();
    BIG.get_or_init(|| build(1_000_000))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_inclusion_at_sizes_up_to_a_million(size in 1u64..=1_000_000, seed in any::<u64>(), bit in 0usize..256) {
        let m = big();
        let index = seed % size;
        let root = m.root_at(size).unwrap();
        let p = m.inclusion_proof(index, size).unwrap();
        let lh = leaf_hash(&leaf(index));
        prop_assert!(verify_inclusion(&root, size, index, &lh, &p).is_ok());
        all_inclusion_mutations_fail(root, size, index, lh, &p, bit);
    }

    #[test]
    fn random_consistency_at_sizes_up_to_a_million(a in 0u64..=1_000_000, b in 0u64..=1_000_000, bit in 0usize..256) {
        let (old, new) = if a <= b { (a, b) } else { (b, a) };
        all_consistency_mutations_fail(big(), old, new, bit);
    }
}
