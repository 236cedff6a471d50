//! `GoalSpec::from_toml`. An accepted goal file must serialise back to TOML
//! that parses to the same spec, and must resolve to a manifest (with the
//! hashes it pins) whose canonical bytes and JSON round-trip.
#![no_main]

use ian_core::GoalSpec;
use ian_core::goal::GoalManifest;
use ian_fuzz::{components_for, json_roundtrip, roundtrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = GoalSpec::from_toml(text) else {
        return;
    };
    let out = toml::to_string(&spec).expect("an accepted goal serialises to TOML");
    let back = GoalSpec::from_toml(&out).unwrap_or_else(|e| panic!("own TOML refused: {e}\n{out}"));
    assert_eq!(back, spec, "TOML round trip changed the goal\n{out}");

    let c = components_for(&spec, spec.harness.dataset.is_some());
    let m = spec
        .resolve(&c)
        .unwrap_or_else(|e| panic!("a valid goal file does not resolve: {e}"));
    let bytes = m.to_canonical_bytes();
    let d = GoalManifest::from_canonical_bytes;
    roundtrip(
        "goal manifest",
        &bytes,
        d(&bytes),
        GoalManifest::to_canonical_bytes,
        d,
    )
    .expect("a resolved manifest's canonical bytes are refused");
    json_roundtrip("goal manifest", &m, GoalManifest::to_canonical_bytes);
});
