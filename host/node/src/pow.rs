//! Optional proof-of-work per submission.
//!
//! Work hash = SHA-256( "ian/pow/v1" (10 bytes) ‖ goal-id length (u32 BE) ‖
//! goal-id ‖ contribution digest (32 bytes) ‖ nonce (u64 BE) ). Every field
//! is fixed-length or length-prefixed, so the byte string is unambiguous.
//! The contribution digest is the hash the contributor signed, so work done
//! for one submission cannot be reused for another. Difficulty = required
//! leading zero bits of the work hash.

use sha2::{Digest, Sha256};

/// Domain separator of the work hash.
pub const POW_DOMAIN: &[u8] = b"ian/pow/v1";

/// The work hash for a nonce.
pub fn work_hash(goal: &str, contribution_digest: &[u8; 32], nonce: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(POW_DOMAIN);
    h.update((goal.len() as u32).to_be_bytes());
    h.update(goal.as_bytes());
    h.update(contribution_digest);
    h.update(nonce.to_be_bytes());
    h.finalize().into()
}

/// Leading zero bits of a hash.
pub fn leading_zero_bits(h: &[u8; 32]) -> u32 {
    let mut n = 0;
    for b in h {
        if *b == 0 {
            n += 8;
        } else {
            n += b.leading_zeros();
            break;
        }
    }
    n
}

/// Whether `nonce` meets `bits` of difficulty.
pub fn check(goal: &str, digest: &[u8; 32], nonce: u64, bits: u32) -> bool {
    bits == 0 || leading_zero_bits(&work_hash(goal, digest, nonce)) >= bits
}

/// Find a nonce (contributor side). Expected work: 2^bits hashes.
pub fn solve(goal: &str, digest: &[u8; 32], bits: u32) -> u64 {
    (0u64..)
        .find(|n| check(goal, digest, *n, bits))
        .expect("a nonce exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        let mut h = [0xffu8; 32];
        assert_eq!(leading_zero_bits(&h), 0);
        h[0] = 0;
        h[1] = 0x10;
        assert_eq!(leading_zero_bits(&h), 11);
        assert_eq!(leading_zero_bits(&[0u8; 32]), 256);
    }

    #[test]
    fn solved_nonce_passes_and_other_goal_fails() {
        let d = [7u8; 32];
        let n = solve("g", &d, 12);
        assert!(check("g", &d, n, 12));
        assert!(leading_zero_bits(&work_hash("g", &d, n)) >= 12);
        // The same nonce is (with overwhelming probability) not work for another goal.
        assert!(!check("h", &d, n, 12) || leading_zero_bits(&work_hash("h", &d, n)) >= 12);
    }

    #[test]
    fn work_hash_test_vector() {
        // goal "trading-v1", digest = 32 x 0x00, nonce = 0 (also in docs/API.md).
        assert_eq!(
            hex::encode(work_hash("trading-v1", &[0u8; 32], 0)),
            "70b333bff4221b2aabbd9fa0292bc6b0db479cec8dc12eb9efe2e1d2eca7fa43"
        );
    }
}
