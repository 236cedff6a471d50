//! Behaviour of the store: durability contract, refusals, concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ian_store::{GoalSize, SCHEMA_VERSION, Store, StoreConfig, StoreError, sha256};
use redb::ReadableDatabase;

const GOAL: &str = "trading-v1";

fn entry(goal: &str, i: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(300);
    v.extend_from_slice(&i.to_le_bytes());
    let seed = sha256(format!("{goal}/{i}").as_bytes());
    while v.len() < 300 {
        v.extend_from_slice(&seed);
    }
    v.truncate(300);
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open_with(dir.path().join("ian.redb"), StoreConfig::default()).expect("open store")
}

fn with_goal(store: &Store, goal: &str) {
    store
        .put_goal(goal, format!("id = \"{goal}\"").into_bytes())
        .unwrap()
        .wait()
        .unwrap();
}

fn append_n(store: &Store, goal: &str, from: u64, to: u64) {
    let tickets: Vec<_> = (from..to)
        .map(|i| store.append(goal, i, entry(goal, i)).unwrap())
        .collect();
    for (i, t) in (from..to).zip(tickets) {
        assert_eq!(t.wait().unwrap(), i);
    }
}

/// Everything a store holds, for whole-store comparisons.
#[derive(Debug, PartialEq)]
struct Dump {
    goals: Vec<GoalSize>,
    specs: Vec<Option<Vec<u8>>>,
    entries: Vec<Vec<(u64, Vec<u8>)>>,
    checkpoints: Vec<Vec<(u64, Option<Vec<u8>>)>>,
    latest: Vec<Option<(u64, Vec<u8>)>>,
    blobs: Vec<Option<Vec<u8>>>,
    pending: Vec<(u64, Vec<u8>)>,
    meta: Option<Vec<u8>>,
}

fn dump(store: &Store, blob_keys: &[[u8; 32]]) -> Dump {
    let snap = store.snapshot().unwrap();
    let goals = snap.goals().unwrap();
    Dump {
        specs: goals
            .iter()
            .map(|g| snap.goal_spec(&g.goal).unwrap())
            .collect(),
        entries: goals
            .iter()
            .map(|g| {
                snap.entries(&g.goal, 0..u64::MAX)
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            })
            .collect(),
        checkpoints: goals
            .iter()
            .map(|g| {
                snap.checkpoint_sizes(&g.goal)
                    .unwrap()
                    .into_iter()
                    .map(|s| (s, snap.checkpoint(&g.goal, s).unwrap()))
                    .collect()
            })
            .collect(),
        latest: goals
            .iter()
            .map(|g| snap.latest_checkpoint(&g.goal).unwrap())
            .collect(),
        blobs: blob_keys.iter().map(|h| snap.blob(h).unwrap()).collect(),
        pending: snap.pending_tau().unwrap(),
        meta: snap.meta("node_key_id").unwrap(),
        goals,
    }
}

#[test]
fn reopening_after_close_gives_identical_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ian.redb");
    let store = Store::open_with(&path, StoreConfig::default()).unwrap();
    with_goal(&store, GOAL);
    with_goal(&store, "bandit-v1");
    append_n(&store, GOAL, 0, 500);
    append_n(&store, "bandit-v1", 0, 7);
    store
        .put_checkpoint(GOAL, 256, b"ckpt-256".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    store
        .put_checkpoint(GOAL, 500, b"ckpt-500".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    let (h1, t1) = store.add_blob(b"component bytes".to_vec()).unwrap();
    let (h2, t2) = store.add_blob(vec![7u8; 100_000]).unwrap();
    assert!(t1.wait().unwrap() && t2.wait().unwrap());
    store
        .put_pending_tau(3, b"tx3".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    store
        .put_pending_tau(1, b"tx1".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    store
        .put_meta("node_key_id", b"ed25519:abc".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    let before = dump(&store, &[h1, h2]);
    assert!(!store.recovered());
    store.close().unwrap();

    let store = Store::open_with(&path, StoreConfig::default()).unwrap();
    assert!(!store.recovered(), "a cleanly closed store needs no repair");
    let after = dump(&store, &[h1, h2]);
    assert_eq!(before, after);
    assert_eq!(
        after.goals,
        vec![
            GoalSize {
                goal: "bandit-v1".into(),
                size: 7
            },
            GoalSize {
                goal: GOAL.into(),
                size: 500
            },
        ]
    );
    assert_eq!(after.latest[1], Some((500, b"ckpt-500".to_vec())));
    assert_eq!(
        after.pending,
        vec![(1, b"tx1".to_vec()), (3, b"tx3".to_vec())]
    );
    assert_eq!(after.entries[1][499], (499, entry(GOAL, 499)));
}

#[test]
fn append_that_would_leave_a_gap_is_refused_with_the_current_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 2);
    let err = store
        .append(GOAL, 3, entry(GOAL, 3))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NonDenseAppend { goal, index: 3, size: 2 } if goal == GOAL),
        "{err:?}"
    );
    assert_eq!(store.log_size(GOAL).unwrap(), Some(2));
    assert_eq!(store.entry(GOAL, 3).unwrap(), None);
}

#[test]
fn append_over_an_existing_index_is_refused_and_the_entry_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 2);
    let err = store
        .append(GOAL, 1, b"other".to_vec())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NonDenseAppend {
                index: 1,
                size: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.entry(GOAL, 1).unwrap(), Some(entry(GOAL, 1)));
}

#[test]
fn refused_append_in_a_batch_does_not_affect_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    let pause = store.pause_writes().unwrap();
    let a = store.append(GOAL, 0, entry(GOAL, 0)).unwrap();
    let bad = store.append(GOAL, 5, entry(GOAL, 5)).unwrap();
    let b = store.append(GOAL, 1, entry(GOAL, 1)).unwrap();
    drop(pause);
    assert_eq!(a.wait().unwrap(), 0);
    assert!(matches!(
        bad.wait(),
        Err(StoreError::NonDenseAppend {
            index: 5,
            size: 1,
            ..
        })
    ));
    assert_eq!(b.wait().unwrap(), 1);
    assert_eq!(store.log_size(GOAL).unwrap(), Some(2));
}

#[test]
fn append_to_an_unpublished_goal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let err = store
        .append("nope", 0, b"x".to_vec())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownGoal { goal } if goal == "nope"),
        "{err:?}"
    );
    assert!(matches!(
        store.entries("nope", 0..1),
        Err(StoreError::UnknownGoal { .. })
    ));
}

#[test]
fn empty_goal_id_is_refused_before_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let err = store.append("", 0, b"x".to_vec()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidGoalId {
                reason: "it is empty",
                ..
            }
        ),
        "{err:?}"
    );
    let long = "g".repeat(129);
    let err = store.put_goal(&long, b"x".to_vec()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidGoalId { .. }), "{err:?}");
}

#[test]
fn republishing_a_goal_with_the_same_spec_is_idempotent_and_a_different_spec_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert!(
        store
            .put_goal(GOAL, b"spec".to_vec())
            .unwrap()
            .wait()
            .unwrap()
    );
    assert!(
        !store
            .put_goal(GOAL, b"spec".to_vec())
            .unwrap()
            .wait()
            .unwrap()
    );
    let err = store
        .put_goal(GOAL, b"other".to_vec())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::GoalConflict { goal } if goal == GOAL),
        "{err:?}"
    );
    assert_eq!(store.goal_spec(GOAL).unwrap(), Some(b"spec".to_vec()));
}

#[test]
fn blob_whose_bytes_do_not_match_the_claimed_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let claimed = sha256(b"what the caller said");
    let err = store
        .put_blob(claimed, b"what the caller sent".to_vec())
        .unwrap_err();
    match err {
        StoreError::BlobHashMismatch { claimed: c, actual } => {
            assert_eq!(c, hex(&claimed));
            assert_eq!(actual, hex(&sha256(b"what the caller sent")));
        }
        other => panic!("expected BlobHashMismatch, got {other:?}"),
    }
    assert!(!store.has_blob(&claimed).unwrap());
}

#[test]
fn storing_the_same_blob_twice_keeps_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let bytes = b"\0asm component".to_vec();
    let (h, t) = store.add_blob(bytes.clone()).unwrap();
    assert!(t.wait().unwrap(), "first put stores");
    assert!(
        !store.put_blob(h, bytes.clone()).unwrap().wait().unwrap(),
        "second put is a no-op"
    );
    assert_eq!(store.blob(&h).unwrap(), Some(bytes));
    assert_eq!(store.snapshot().unwrap().blob_count().unwrap(), 1);
}

#[test]
fn oversized_values_are_refused_naming_the_limit_and_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        max_value_bytes: 10,
        max_blob_bytes: 20,
        ..StoreConfig::default()
    };
    let store = Store::open_with(dir.path().join("s.redb"), config).unwrap();
    let err = store.append(GOAL, 0, vec![0; 11]).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooLarge {
                what: "log entry",
                len: 11,
                limit: 10,
                env: "IAN_STORE_MAX_VALUE_BYTES"
            }
        ),
        "{err:?}"
    );
    let err = store.add_blob(vec![0; 21]).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooLarge {
                what: "blob",
                env: "IAN_STORE_MAX_BLOB_BYTES",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn checkpoint_beyond_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 3);
    let err = store
        .put_checkpoint(GOAL, 4, b"c".to_vec())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::CheckpointBeyondLog {
                size: 4,
                log_size: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.latest_checkpoint(GOAL).unwrap(), None);
}

#[test]
fn a_different_checkpoint_at_a_stored_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 3);
    assert!(
        store
            .put_checkpoint(GOAL, 3, b"a".to_vec())
            .unwrap()
            .wait()
            .unwrap()
    );
    assert!(
        !store
            .put_checkpoint(GOAL, 3, b"a".to_vec())
            .unwrap()
            .wait()
            .unwrap()
    );
    let err = store
        .put_checkpoint(GOAL, 3, b"b".to_vec())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(err, StoreError::CheckpointConflict { size: 3, .. }),
        "{err:?}"
    );
    assert_eq!(store.checkpoint(GOAL, 3).unwrap(), Some(b"a".to_vec()));
}

#[test]
fn latest_checkpoint_is_the_one_with_the_largest_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    with_goal(&store, "zz-other");
    append_n(&store, GOAL, 0, 300);
    append_n(&store, "zz-other", 0, 1);
    for size in [256u64, 1, 300, 17] {
        store
            .put_checkpoint(GOAL, size, format!("c{size}").into_bytes())
            .unwrap()
            .wait()
            .unwrap();
    }
    store
        .put_checkpoint("zz-other", 1, b"other".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(
        store.latest_checkpoint(GOAL).unwrap(),
        Some((300, b"c300".to_vec()))
    );
    assert_eq!(
        store.snapshot().unwrap().checkpoint_sizes(GOAL).unwrap(),
        vec![1, 17, 256, 300]
    );
}

#[test]
fn pending_tau_transactions_are_listed_in_id_order_until_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for id in [5u64, 2, 9] {
        store
            .put_pending_tau(id, format!("tx{id}").into_bytes())
            .unwrap()
            .wait()
            .unwrap();
    }
    assert!(store.remove_pending_tau(5).unwrap().wait().unwrap());
    assert!(!store.remove_pending_tau(5).unwrap().wait().unwrap());
    assert_eq!(
        store.pending_tau().unwrap(),
        vec![(2, b"tx2".to_vec()), (9, b"tx9".to_vec())]
    );
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // the reversed range is the point
fn entry_range_is_clipped_to_the_log_and_streams_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 50);
    let got: Vec<u64> = store
        .entries(GOAL, 40..1000)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(got, (40..50).collect::<Vec<_>>());
    assert_eq!(store.entries(GOAL, 60..70).unwrap().count(), 0);
    assert!(matches!(
        store.entries(GOAL, 5..4),
        Err(StoreError::InvalidRange { start: 5, end: 4 })
    ));
}

#[test]
fn full_queue_returns_busy_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        queue_capacity: 4,
        ..StoreConfig::default()
    };
    let store = Store::open_with(dir.path().join("s.redb"), config).unwrap();
    with_goal(&store, GOAL);
    let pause = store.pause_writes().unwrap();
    let queued: Vec<_> = (0..4)
        .map(|i| store.append(GOAL, i, entry(GOAL, i)).unwrap())
        .collect();
    let err = store.append(GOAL, 4, entry(GOAL, 4)).unwrap_err();
    assert!(matches!(err, StoreError::Busy { capacity: 4 }), "{err:?}");
    assert!(
        queued.iter().all(|t| !t.is_resolved()),
        "nothing commits while paused"
    );
    drop(pause);
    for (i, t) in queued.into_iter().enumerate() {
        assert_eq!(t.wait().unwrap(), i as u64);
    }
    assert_eq!(store.log_size(GOAL).unwrap(), Some(4));
}

#[test]
fn writes_queued_together_share_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    let commits_before = store.stats().commits;
    let pause = store.pause_writes().unwrap();
    let tickets: Vec<_> = (0..1000)
        .map(|i| store.append(GOAL, i, entry(GOAL, i)).unwrap())
        .collect();
    drop(pause);
    for t in tickets {
        t.wait().unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.commits - commits_before, 1, "{stats:?}");
    assert_eq!(stats.largest_batch, 1000);
}

#[test]
fn batch_size_is_bounded_by_max_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        max_batch: 100,
        ..StoreConfig::default()
    };
    let store = Store::open_with(dir.path().join("s.redb"), config).unwrap();
    with_goal(&store, GOAL);
    let before = store.stats().commits;
    let pause = store.pause_writes().unwrap();
    let tickets: Vec<_> = (0..1000)
        .map(|i| store.append(GOAL, i, entry(GOAL, i)).unwrap())
        .collect();
    drop(pause);
    for t in tickets {
        t.wait().unwrap();
    }
    assert_eq!(store.stats().commits - before, 10);
    assert_eq!(store.stats().largest_batch, 100);
}

#[test]
fn open_snapshot_neither_blocks_writes_nor_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 10);
    let snap = store.snapshot().unwrap();
    let mut iter = snap.entries(GOAL, 0..10).unwrap();
    let first = iter.next().unwrap().unwrap();
    // Writes commit (tickets resolve) while the snapshot and its iterator are open.
    append_n(&store, GOAL, 10, 1010);
    assert_eq!(first, (0, entry(GOAL, 0)));
    assert_eq!(iter.count(), 9);
    assert_eq!(snap.log_size(GOAL).unwrap(), Some(10));
    assert_eq!(store.log_size(GOAL).unwrap(), Some(1010));
}

#[test]
fn concurrent_readers_always_see_a_dense_correct_prefix_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    with_goal(&store, GOAL);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut last = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let snap = store.snapshot().unwrap();
                    let size = snap.log_size(GOAL).unwrap().unwrap();
                    assert!(size >= last, "sizes never go backwards");
                    last = size;
                    let mut n = 0;
                    for item in snap.entries(GOAL, 0..size).unwrap() {
                        let (i, bytes) = item.unwrap();
                        assert_eq!(i, n);
                        assert_eq!(bytes, entry(GOAL, i));
                        n += 1;
                    }
                    assert_eq!(n, size);
                    reads += 1;
                    if finished {
                        return (reads, last);
                    }
                }
            })
        })
        .collect();
    for chunk in 0..20u64 {
        append_n(&store, GOAL, chunk * 500, (chunk + 1) * 500);
    }
    done.store(true, Ordering::Release);
    for r in readers {
        let (reads, last) = r.join().unwrap();
        assert!(reads >= 1);
        assert_eq!(last, 10_000, "a read after the last ack sees everything");
    }
}

#[test]
fn schema_version_mismatch_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    Store::open_with(&path, StoreConfig::default())
        .unwrap()
        .close()
        .unwrap();
    {
        let db = redb::Database::open(&path).unwrap();
        let w = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("ian_meta");
            let mut t = w.open_table(def).unwrap();
            t.insert("schema_version", 999u32.to_le_bytes().as_slice())
                .unwrap();
        }
        w.commit().unwrap();
    }
    let err = Store::open_with(&path, StoreConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaMismatch {
                found: 999,
                expected: SCHEMA_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("schema version 999")
            && msg.contains(&format!("schema version {SCHEMA_VERSION}")),
        "{msg}"
    );
}

#[test]
fn redb_file_of_another_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let w = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("something");
            w.open_table(def).unwrap().insert(1, 2).unwrap();
        }
        w.commit().unwrap();
        let r = db.begin_read().unwrap();
        drop(r);
    }
    let err = Store::open_with(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::NotAnIanStore { .. }), "{err:?}");
}

#[test]
fn file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.redb");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::open_with(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
}

#[test]
fn second_open_of_an_open_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let _first = Store::open_with(&path, StoreConfig::default()).unwrap();
    let err = Store::open_with(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyOpen { .. }), "{err:?}");
}

#[test]
fn backup_is_a_complete_store_that_opens_with_the_same_contents() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 1200);
    store
        .put_checkpoint(GOAL, 1200, b"c".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    let (h, t) = store.add_blob(vec![1u8; 5000]).unwrap();
    t.wait().unwrap();
    store
        .put_meta("node_key_id", b"k".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    let target = dir.path().join("backup.redb");
    store.backup_to(&target).unwrap();
    assert!(!dir.path().join("backup.redb.partial").exists());
    let before = dump(&store, &[h]);
    let copy = Store::open_with(&target, StoreConfig::default()).unwrap();
    assert_eq!(dump(&copy, &[h]), before);
    let err = store.backup_to(&target).unwrap_err();
    assert!(
        matches!(err, StoreError::BackupTargetExists { .. }),
        "{err:?}"
    );
}

#[test]
fn backup_taken_during_writes_is_a_consistent_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    with_goal(&store, GOAL);
    append_n(&store, GOAL, 0, 1000);
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || append_n(&store, GOAL, 1000, 20_000))
    };
    std::thread::sleep(Duration::from_millis(20));
    let target = dir.path().join("backup.redb");
    store.backup_to(&target).unwrap();
    writer.join().unwrap();
    let copy = Store::open_with(&target, StoreConfig::default()).unwrap();
    let size = copy.log_size(GOAL).unwrap().unwrap();
    assert!((1000..=20_000).contains(&size));
    let mut n = 0;
    for item in copy.entries(GOAL, 0..size).unwrap() {
        let (i, bytes) = item.unwrap();
        assert_eq!((i, bytes), (n, entry(GOAL, n)));
        n += 1;
    }
    assert_eq!(n, size);
}

#[test]
fn ticket_can_be_awaited_from_async_code() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    with_goal(&store, GOAL);
    let ticket = store.append(GOAL, 0, entry(GOAL, 0)).unwrap();
    // A minimal executor: poll with a thread-unparking waker until ready.
    let result = block_on(ticket);
    assert_eq!(result.unwrap(), 0);
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn writes_after_close_are_refused_as_closed_and_queued_writes_commit_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = Store::open_with(&path, StoreConfig::default()).unwrap();
    with_goal(&store, GOAL);
    let tickets: Vec<_> = (0..100)
        .map(|i| store.append(GOAL, i, entry(GOAL, i)).unwrap())
        .collect();
    store.close().unwrap();
    for t in tickets {
        t.wait().unwrap();
    }
    let store = Store::open_with(&path, StoreConfig::default()).unwrap();
    assert_eq!(store.log_size(GOAL).unwrap(), Some(100));
}

#[test]
fn env_overrides_are_applied_and_bad_values_refused() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let c = StoreConfig::from_lookup(env(&[
        ("IAN_STORE_MAX_BATCH", "17"),
        ("IAN_STORE_QUICK_REPAIR", "true"),
    ]))
    .unwrap();
    assert_eq!(c.max_batch, 17);
    assert!(c.quick_repair);
    assert_eq!(c.queue_capacity, StoreConfig::default().queue_capacity);
    let err = StoreConfig::from_lookup(env(&[("IAN_STORE_QUEUE_CAPACITY", "lots")])).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidConfig {
                var: "IAN_STORE_QUEUE_CAPACITY",
                ..
            }
        ),
        "{err:?}"
    );
    let err = StoreConfig::from_lookup(env(&[("IAN_STORE_MAX_BATCH", "0")])).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidConfig {
                reason: "must be at least 1",
                ..
            }
        ),
        "{err:?}"
    );
}
