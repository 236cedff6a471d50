//! Receipts, checkpoints and MMR proofs as JSON (how clients receive
//! them), verified against a fixed node key. The first byte picks the type.
//! Whatever JSON accepts must also be accepted by the canonical decoder
//! (same value, same verdict), and the verifiers must not panic on any
//! sizes or indices.
#![no_main]

use ian_core::{
    ConsistencyProof, InclusionProof, Receipt, SignedCheckpoint, verify_consistency,
    verify_inclusion,
};
use ian_fuzz::{ConsistencyCase, InclusionCase, json_roundtrip, node_public, roundtrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, b)) = data.split_first() else {
        return;
    };
    let key = node_public();
    match sel % 4 {
        0 => {
            let Ok(r) = serde_json::from_slice::<Receipt>(b) else {
                return;
            };
            let verdict = r.verify(&key);
            let bytes = r.to_canonical_bytes();
            let d = Receipt::from_canonical_bytes;
            let c = roundtrip("receipt", &bytes, d(&bytes), Receipt::to_canonical_bytes, d)
                .expect("a receipt from JSON has no canonical encoding");
            assert_eq!(
                c.verify(&key),
                verdict,
                "verdict differs after canonical round trip"
            );
            json_roundtrip("receipt", &r, Receipt::to_canonical_bytes);
        }
        1 => {
            let Ok(c) = serde_json::from_slice::<SignedCheckpoint>(b) else {
                return;
            };
            let verdict = c.verify(&key);
            let bytes = c.to_canonical_bytes();
            let d = SignedCheckpoint::from_canonical_bytes;
            let back = roundtrip(
                "signed checkpoint",
                &bytes,
                d(&bytes),
                SignedCheckpoint::to_canonical_bytes,
                d,
            )
            .expect("a checkpoint from JSON has no canonical encoding");
            assert_eq!(back.verify(&key), verdict);
            json_roundtrip(
                "signed checkpoint",
                &c,
                SignedCheckpoint::to_canonical_bytes,
            );
        }
        2 => {
            let Ok(c) = serde_json::from_slice::<InclusionCase>(b) else {
                return;
            };
            let _ = verify_inclusion(&c.root, c.size, c.index, &c.leaf, &c.proof);
            let bytes = c.proof.to_canonical_bytes();
            let d = InclusionProof::from_canonical_bytes;
            roundtrip(
                "inclusion proof",
                &bytes,
                d(&bytes),
                InclusionProof::to_canonical_bytes,
                d,
            )
            .expect("an inclusion proof from JSON has no canonical encoding");
        }
        _ => {
            let Ok(c) = serde_json::from_slice::<ConsistencyCase>(b) else {
                return;
            };
            let _ = verify_consistency(c.old_size, &c.old_root, c.new_size, &c.new_root, &c.proof);
            let bytes = c.proof.to_canonical_bytes();
            let d = ConsistencyProof::from_canonical_bytes;
            roundtrip(
                "consistency proof",
                &bytes,
                d(&bytes),
                ConsistencyProof::to_canonical_bytes,
                d,
            )
            .expect("a consistency proof from JSON has no canonical encoding");
        }
    }
});
