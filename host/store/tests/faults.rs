//! A commit that fails acknowledges nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ian_store::{Store, StoreConfig, StoreError};
use redb::StorageBackend;
use redb::backends::InMemoryBackend;

/// An in-memory disk whose fsync can be made to fail.
#[derive(Debug)]
struct FlakyDisk {
    inner: InMemoryBackend,
    fail_sync: Arc<AtomicBool>,
}

impl StorageBackend for FlakyDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.inner.write(offset, data)
    }
}

#[test]
fn failed_fsync_fails_every_ticket_of_the_batch_and_nothing_becomes_visible() {
    let fail = Arc::new(AtomicBool::new(false));
    let disk = FlakyDisk {
        inner: InMemoryBackend::new(),
        fail_sync: fail.clone(),
    };
    let store = Store::open_backend(disk, "flaky-disk", StoreConfig::default()).unwrap();
    store
        .put_goal("g", b"spec".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    store
        .append("g", 0, b"e0".to_vec())
        .unwrap()
        .wait()
        .unwrap();

    let pause = store.pause_writes().unwrap();
    let tickets: Vec<_> = (1..6u64)
        .map(|i| store.append("g", i, format!("e{i}").into_bytes()).unwrap())
        .collect();
    let blob = store.add_blob(b"blob".to_vec()).unwrap();
    fail.store(true, Ordering::SeqCst);
    drop(pause);

    for t in tickets {
        let err = t.wait().unwrap_err();
        assert!(matches!(err, StoreError::CommitFailed { .. }), "{err:?}");
    }
    let err = blob.1.wait().unwrap_err();
    assert!(matches!(err, StoreError::CommitFailed { .. }), "{err:?}");
    assert_eq!(store.stats().commit_failures, 1);

    // Readers still see exactly what was acknowledged before.
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.log_size("g").unwrap(), Some(1));
    assert!(!snap.has_blob(&blob.0).unwrap());
}

#[test]
fn after_a_failed_fsync_every_later_write_is_refused_until_reopen() {
    // After a failed fsync the OS page cache can no longer be trusted, so
    // redb refuses further writes; the store must report that, not ack.
    let fail = Arc::new(AtomicBool::new(false));
    let disk = FlakyDisk {
        inner: InMemoryBackend::new(),
        fail_sync: fail.clone(),
    };
    let store = Store::open_backend(disk, "flaky-disk", StoreConfig::default()).unwrap();
    store
        .put_goal("g", b"spec".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    fail.store(true, Ordering::SeqCst);
    let err = store
        .append("g", 0, b"e0".to_vec())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(matches!(err, StoreError::CommitFailed { .. }), "{err:?}");
    fail.store(false, Ordering::SeqCst);
    let err = store
        .append("g", 0, b"e0".to_vec())
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::CommitFailed { reason } if reason.contains("re-open")),
        "{err:?}"
    );
    assert_eq!(store.log_size("g").unwrap(), Some(0));
}
