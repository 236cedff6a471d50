//! `GoalState::restore` on snapshot bytes. The first byte picks the goal
//! (bit 0: scalar or Pareto) and whether the input is taken as a whole
//! snapshot (bit 1) or as a body that gets its correct checksum appended,
//! so that mutations reach the checks behind the checksum. A restored state
//! must snapshot back to exactly the same bytes and answer like itself.
#![no_main]

use ian_core::{GoalState, sha256};
use ian_fuzz::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, b)) = data.split_first() else {
        return;
    };
    let m = manifest(sel & 1 == 1).clone();
    let bytes = if sel & 2 == 0 {
        [b, &sha256(b).0[..]].concat()
    } else {
        b.to_vec()
    };
    let Ok(s) = GoalState::restore(m.clone(), &bytes) else {
        return;
    };
    let again = s.snapshot();
    assert!(
        again == bytes,
        "snapshot of a restored state differs from its input"
    );
    let r = GoalState::restore(m, &again).expect("own snapshot refused");
    assert!(r == s, "restoring the re-snapshot gave another state");
    assert_eq!(r.root(), s.root());
    for i in 0..s.size().min(8) {
        let p = s
            .inclusion_proof(i)
            .expect("inclusion proof of a restored state");
        assert_eq!(r.inclusion_proof(i).expect("proof"), p);
    }
});
