//! The node's HTTP request bodies: `SubmitRequest` (first byte even) and
//! `PublishRequest` (odd), deserialised as the node does. A contribution
//! that JSON accepts must have a canonical envelope that decodes to the same
//! value; a published goal file and dataset are checked like the node
//! checks them, and what they accept must round-trip.
#![no_main]

use ian_core::dataset::DatasetListing;
use ian_core::{Contribution, GoalSpec};
use ian_fuzz::{PublishRequest, SubmitRequest, json_roundtrip, listing_of, roundtrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, b)) = data.split_first() else {
        return;
    };
    if sel % 2 == 0 {
        let Ok(req) = serde_json::from_slice::<SubmitRequest>(b) else {
            return;
        };
        let c = &req.contribution;
        let _ = c.verify_signature();
        let bytes = c.to_canonical_bytes();
        let d = Contribution::from_canonical_bytes;
        if bytes.len() <= ian_core::contribution::MAX_CONTRIBUTION_BYTES {
            roundtrip(
                "contribution",
                &bytes,
                d(&bytes),
                Contribution::to_canonical_bytes,
                d,
            )
            .expect("a contribution from JSON has no canonical encoding");
        }
        json_roundtrip("submit request", &req, |r| {
            r.contribution.to_canonical_bytes()
        });
    } else {
        let Ok(req) = serde_json::from_slice::<PublishRequest>(b) else {
            return;
        };
        let _ = GoalSpec::from_toml(&req.goal_toml);
        if let Some(l) = listing_of(&req.dataset) {
            let limits = Default::default();
            let bytes = l.to_canonical_bytes();
            let d = |x: &[u8]| DatasetListing::from_canonical_bytes(x, &limits);
            roundtrip(
                "dataset listing",
                &bytes,
                d(&bytes),
                DatasetListing::to_canonical_bytes,
                d,
            )
            .expect("a listing built from uploads has no canonical encoding");
        }
        let json = serde_json::to_string(&req).expect("publish request to JSON");
        let back: PublishRequest = serde_json::from_str(&json).expect("own JSON refused");
        assert_eq!(back, req);
    }
});
