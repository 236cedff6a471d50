//! Property: whatever sequence of appends is submitted (right, stale or
//! future indices, several goals, pipelined without waiting), the store
//! behaves like the obvious model — an append succeeds iff its index equals
//! the model log's length — and holds exactly the model's logs, also after
//! a reopen.

use std::collections::BTreeMap;

use ian_store::{Store, StoreConfig, StoreError};
use proptest::prelude::*;

const GOALS: [&str; 3] = ["g0", "g1", "g2"];

#[derive(Debug, Clone)]
struct Attempt {
    goal: usize,
    /// Index relative to the model size at submission: 0 is right.
    offset: i64,
    bytes: Vec<u8>,
}

fn attempt() -> impl Strategy<Value = Attempt> {
    (
        0..GOALS.len(),
        prop_oneof![4 => Just(0i64), 1 => -3i64..0, 1 => 1i64..4],
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(goal, offset, bytes)| Attempt {
            goal,
            offset,
            bytes,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn store_log_equals_the_dense_append_model(attempts in proptest::collection::vec(attempt(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.redb");
        let store = Store::open_with(&path, StoreConfig::default()).unwrap();
        for g in GOALS {
            store.put_goal(g, g.as_bytes().to_vec()).unwrap().wait().unwrap();
        }
        let mut model: BTreeMap<&str, Vec<Vec<u8>>> = GOALS.iter().map(|g| (*g, Vec::new())).collect();
        let mut pending = Vec::new();
        for a in &attempts {
            let goal = GOALS[a.goal];
            let log = model.get_mut(goal).unwrap();
            let size = log.len() as u64;
            let index = size.saturating_add_signed(a.offset);
            let expect_ok = index == size;
            if expect_ok {
                log.push(a.bytes.clone());
            }
            pending.push((store.append(goal, index, a.bytes.clone()).unwrap(), index, expect_ok, size));
        }
        for (ticket, index, expect_ok, size) in pending {
            match ticket.wait() {
                Ok(i) => {
                    prop_assert!(expect_ok);
                    prop_assert_eq!(i, index);
                }
                Err(StoreError::NonDenseAppend { index: i, size: s, .. }) => {
                    prop_assert!(!expect_ok);
                    prop_assert_eq!((i, s), (index, size));
                }
                Err(e) => prop_assert!(false, "unexpected error {e:?}"),
            }
        }
        let check = |store: &Store| -> Result<(), TestCaseError> {
            for (goal, log) in &model {
                let got: Vec<Vec<u8>> = store
                    .entries(goal, 0..u64::MAX)
                    .unwrap()
                    .map(|r| r.unwrap().1)
                    .collect();
                prop_assert_eq!(&got, log);
                prop_assert_eq!(store.log_size(goal).unwrap(), Some(log.len() as u64));
            }
            Ok(())
        };
        check(&store)?;
        store.close().unwrap();
        let store = Store::open_with(&path, StoreConfig::default()).unwrap();
        check(&store)?;
    }
}
