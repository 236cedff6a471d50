//! `PackFile::from_bytes` (`.ianpack`). A pack file that parses must write
//! back to the same bytes, and its pack must round-trip canonically.
#![no_main]

use ian_core::{AgentPack, PackFile, sha256};
use ian_fuzz::{json_roundtrip, roundtrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(f) = roundtrip(
        "pack file",
        data,
        PackFile::from_bytes(data),
        PackFile::to_bytes,
        PackFile::from_bytes,
    ) else {
        return;
    };
    assert_eq!(f.pack().code_hash(), sha256(f.component()));
    let p = f.pack().to_canonical_bytes();
    let d = AgentPack::from_canonical_bytes;
    roundtrip("agent pack", &p, d(&p), AgentPack::to_canonical_bytes, d)
        .expect("the pack of a pack file is refused");
    json_roundtrip("agent pack", f.pack(), AgentPack::to_canonical_bytes);
    let again = PackFile::new(
        f.component().to_vec(),
        f.pack().params().to_vec(),
        f.pack().metadata().clone(),
    )
    .expect("PackFile::new refuses a parsed pack file");
    assert_eq!(again, f);
});
