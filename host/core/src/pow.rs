//! Optional proof-of-work per submission: a price an operator or a goal can
//! put on each submission, checked before any evaluation.
//!
//! Work hash = SHA-256 of the canonical encoding
//! `str "ian/pow/v2" ‖ str goal id ‖ hash D ‖ u64 nonce`, where `D` is
//! [`contribution_digest`], the SHA-256 of the message the contributor
//! signed, so work done for one submission cannot be reused for another.
//! Going through the one [`Encoder`] keeps the layout unambiguous and
//! documented with everything else in `docs/ENCODING.md`. Difficulty =
//! required leading zero bits of the work hash.

use crate::contribution::Contribution;
use crate::encoding::Encoder;
use crate::hash::{Hash32, sha256};

/// Domain tag of the work hash.
pub const POW_DOMAIN: &str = "ian/pow/v2";

/// The hash the work binds to: SHA-256 of the contribution's signed message.
pub fn contribution_digest(c: &Contribution) -> Hash32 {
    sha256(&c.message(&c.pack.pack_hash()))
}

/// The work hash for a nonce.
pub fn work_hash(goal: &str, contribution_digest: &Hash32, nonce: u64) -> Hash32 {
    let mut e = Encoder::new(POW_DOMAIN);
    e.str(goal).hash(contribution_digest).u64(nonce);
    e.digest()
}

/// Leading zero bits of a hash.
pub fn leading_zero_bits(h: &Hash32) -> u32 {
    let mut n = 0;
    for b in &h.0 {
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
pub fn check(goal: &str, digest: &Hash32, nonce: u64, bits: u32) -> bool {
    bits == 0 || leading_zero_bits(&work_hash(goal, digest, nonce)) >= bits
}

/// Finds a nonce (contributor side). Expected work: 2^bits hashes.
pub fn solve(goal: &str, digest: &Hash32, bits: u32) -> u64 {
    (0u64..)
        .find(|n| check(goal, digest, *n, bits))
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        let mut h = Hash32([0xff; 32]);
        assert_eq!(leading_zero_bits(&h), 0);
        h.0[0] = 0;
        h.0[1] = 0x10;
        assert_eq!(leading_zero_bits(&h), 11);
        assert_eq!(leading_zero_bits(&Hash32([0; 32])), 256);
    }

    #[test]
    fn solved_nonce_passes_and_does_not_carry_to_another_goal() {
        let d = Hash32([7; 32]);
        let n = solve("g", &d, 12);
        assert!(check("g", &d, n, 12));
        assert!(leading_zero_bits(&work_hash("g", &d, n)) >= 12);
        assert_ne!(work_hash("g", &d, n), work_hash("h", &d, n));
    }

    #[test]
    fn work_hash_is_the_digest_of_the_canonical_encoding() {
        let mut bytes = Vec::new();
        for part in [POW_DOMAIN.as_bytes(), b"trading-v1"] {
            bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        bytes.extend_from_slice(&[0u8; 32]);
        bytes.extend_from_slice(&0u64.to_be_bytes());
        assert_eq!(work_hash("trading-v1", &Hash32([0; 32]), 0), sha256(&bytes));
    }

    #[test]
    fn work_hash_test_vector() {
        // goal "trading-v1", D = 32 x 0x00, nonce = 0 (docs/ENCODING.md).
        assert_eq!(
            work_hash("trading-v1", &Hash32([0; 32]), 0).to_hex(),
            "b8a0ffeb387d067eea3eb3b17ab4b30c8771c63d644f7045ab96cf4f4711b54f"
        );
    }
}
