//! Canonical decoders of the log side: log entry, checkpoint, signed
//! checkpoint, receipt, inclusion and consistency proof, and any log
//! record (attempt, selection, reveal, final result). The first byte
//! picks the decoder; whatever decodes must re-encode to the same bytes and
//! survive a JSON round trip unchanged.
#![no_main]

use ian_core::record::LogRecord;
use ian_core::{Checkpoint, ConsistencyProof, InclusionProof, LogEntry, Receipt, SignedCheckpoint};
use ian_fuzz::{json_roundtrip, node_public, roundtrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, b)) = data.split_first() else {
        return;
    };
    match sel % 7 {
        0 => {
            let d = LogEntry::from_canonical_bytes;
            if let Some(e) = roundtrip("log entry", b, d(b), LogEntry::to_canonical_bytes, d) {
                json_roundtrip("log entry", &e, LogEntry::to_canonical_bytes);
                let _ = e.verify_contributor_signature();
                assert_eq!(e.encode_reusing(vec![1, 2, 3]), b, "encode_reusing differs");
            }
        }
        1 => {
            // A checkpoint body: three lines re-encode to themselves.
            if let Ok(t) = std::str::from_utf8(b)
                && let Ok(c) = Checkpoint::parse_body(t)
            {
                if t.matches('\n').count() == 3 {
                    assert_eq!(c.body(), t, "checkpoint body re-encodes differently");
                }
                json_roundtrip("checkpoint", &c, |c: &Checkpoint| c.body().into_bytes());
            }
        }
        2 => {
            let d = SignedCheckpoint::from_canonical_bytes;
            let enc = SignedCheckpoint::to_canonical_bytes;
            if let Some(c) = roundtrip("signed checkpoint", b, d(b), enc, d) {
                json_roundtrip("signed checkpoint", &c, enc);
                let _ = c.verify(&node_public());
            }
        }
        3 => {
            let d = Receipt::from_canonical_bytes;
            if let Some(r) = roundtrip("receipt", b, d(b), Receipt::to_canonical_bytes, d) {
                let back = json_roundtrip("receipt", &r, Receipt::to_canonical_bytes);
                assert_eq!(
                    r.verify(&node_public()),
                    back.verify(&node_public()),
                    "receipt verdict changed over JSON"
                );
            }
        }
        4 => {
            let d = InclusionProof::from_canonical_bytes;
            let enc = InclusionProof::to_canonical_bytes;
            if let Some(p) = roundtrip("inclusion proof", b, d(b), enc, d) {
                json_roundtrip("inclusion proof", &p, enc);
            }
        }
        5 => {
            let d = LogRecord::from_canonical_bytes;
            if let Some(r) = roundtrip("log record", b, d(b), LogRecord::to_canonical_bytes, d) {
                assert_eq!(r.leaf_hash(), ian_core::mmr::leaf_hash(b), "leaf hash");
                if let LogRecord::Selection(s) = &r {
                    let _ = s.verify_signature();
                }
            }
        }
        _ => {
            let d = ConsistencyProof::from_canonical_bytes;
            let enc = ConsistencyProof::to_canonical_bytes;
            if let Some(p) = roundtrip("consistency proof", b, d(b), enc, d) {
                json_roundtrip("consistency proof", &p, enc);
            }
        }
    }
});
