//! Canonical decoders of the goal side: goal manifest, contribution
//! envelope, agent pack, dataset listing. The first byte picks the decoder;
//! whatever decodes must re-encode to the same bytes and survive a JSON
//! round trip unchanged.
#![no_main]

use ian_core::dataset::{DatasetLimits, DatasetListing};
use ian_core::goal::GoalManifest;
use ian_core::{AgentPack, Contribution};
use ian_fuzz::{hard_dataset_limits, json_roundtrip, roundtrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, b)) = data.split_first() else {
        return;
    };
    match sel % 4 {
        0 => {
            let d = GoalManifest::from_canonical_bytes;
            let enc = GoalManifest::to_canonical_bytes;
            if let Some(m) = roundtrip("goal manifest", b, d(b), enc, d) {
                json_roundtrip("goal manifest", &m, enc);
                let json = serde_json::to_string(&m).expect("manifest to JSON");
                let back = GoalManifest::from_json(&json).expect("own manifest JSON refused");
                assert_eq!(
                    back.goal_hash(),
                    m.goal_hash(),
                    "goal hash changed over JSON"
                );
            }
        }
        1 => {
            let d = Contribution::from_canonical_bytes;
            let enc = Contribution::to_canonical_bytes;
            if let Some(c) = roundtrip("contribution envelope", b, d(b), enc, d) {
                json_roundtrip("contribution envelope", &c, enc);
                let _ = c.verify_signature();
                let p = c.pack.to_canonical_bytes();
                assert_eq!(AgentPack::from_canonical_bytes(&p).as_ref(), Ok(&c.pack));
            }
        }
        2 => {
            let d = AgentPack::from_canonical_bytes;
            let enc = AgentPack::to_canonical_bytes;
            if let Some(p) = roundtrip("agent pack", b, d(b), enc, d) {
                json_roundtrip("agent pack", &p, enc);
            }
        }
        _ => {
            // Both the node's default limits (what it accepts on upload)
            // and the hard caps (what it reads back from its store).
            for limits in [DatasetLimits::default(), hard_dataset_limits()] {
                let d = |x: &[u8]| DatasetListing::from_canonical_bytes(x, &limits);
                let enc = DatasetListing::to_canonical_bytes;
                if let Some(l) = roundtrip("dataset listing", b, d(b), enc, d) {
                    let again = DatasetListing::new(l.files().to_vec(), &limits)
                        .expect("a decoded listing is a valid listing");
                    assert_eq!(again, l, "DatasetListing::new changed a decoded listing");
                }
            }
        }
    }
});
