//! The `Store` handle: open/recover, writes through the group-commit
//! writer, reads through MVCC snapshots, backup.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use redb::{
    Builder, Database, DatabaseError, Durability, Key, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition, TableError, TableHandle, Value,
};
use sha2::{Digest, Sha256};

use crate::config::{MAX_GOAL_ID_BYTES, StoreConfig};
use crate::error::StoreError;
use crate::tables::{
    BLOBS, CHECKPOINTS, GOAL_INDEX, GOALS, LOG, META, NODE_KV, PENDING_TAU, SCHEMA_KEY,
    SCHEMA_VERSION,
};
use crate::ticket::{Ticket, ticket};
use crate::writer::{self, Counters, Gate, Op, WriterLimits};

/// A SHA-256 digest: the key of a blob.
pub type Hash32 = [u8; 32];

/// SHA-256 of `bytes`, the content address blobs are stored under.
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Sha256::digest(bytes).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The durable store of one node: one redb file.
///
/// Share it between threads behind an `Arc`; every method takes `&self`.
/// Writes go to a single writer thread that commits them in groups (see
/// [`Store::append`]); reads run on MVCC snapshots and never wait for it.
pub struct Store {
    db: Arc<Database>,
    tx: Option<Sender<Op>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    config: StoreConfig,
    path: PathBuf,
    recovered: bool,
}

/// Counters of the writer since open, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Write transactions committed (each one fsync).
    pub commits: u64,
    /// Operations acknowledged by those commits.
    pub ops_committed: u64,
    /// Transactions that failed; every ticket in them got `CommitFailed`.
    pub commit_failures: u64,
    /// Most operations one commit has carried.
    pub largest_batch: u64,
    /// Operations waiting in the queue right now.
    pub queued: usize,
}

/// A goal id with the number of entries in its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalSize {
    /// Goal id.
    pub goal: String,
    /// Entries in its log; the next append must use this index.
    pub size: u64,
}

/// While held, the writer commits nothing; writes queue (up to the queue
/// capacity, then `Busy`) and are committed after the pause is dropped.
///
/// For quiescing the store, e.g. around a file-system snapshot or to shed
/// write load. Do not wait on a ticket submitted during the pause from the
/// thread that holds it: it cannot resolve until the pause ends.
/// It borrows the store, so the store cannot be closed (which waits for the
/// writer) while its writer is parked.
#[must_use = "writes resume as soon as the pause is dropped"]
pub struct WritePause<'s> {
    gate: Arc<Gate>,
    _store: std::marker::PhantomData<&'s Store>,
}

impl Drop for WritePause<'_> {
    fn drop(&mut self) {
        self.gate.open();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("recovered", &self.recovered)
            .field("config", &self.config)
            .finish()
    }
}

fn check_goal_id(goal: &str) -> Result<(), StoreError> {
    let reason = if goal.is_empty() {
        "it is empty"
    } else if goal.len() > MAX_GOAL_ID_BYTES {
        "it is longer than 128 bytes"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidGoalId {
        goal: goal.chars().take(MAX_GOAL_ID_BYTES).collect(),
        reason,
    })
}

impl Store {
    /// Open (or create) the store at `path` with the default limits (see
    /// [`StoreConfig`]; [`Store::open_with`] takes others).
    ///
    /// A store left by a crash opens cleanly: redb rolls back to the last
    /// committed transaction and repairs its allocator ([`Store::recovered`]
    /// then says so). Every acknowledged write is there.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(path, StoreConfig::default())
    }

    /// Open (or create) the store at `path` with an explicit configuration.
    pub fn open_with(path: impl AsRef<Path>, config: StoreConfig) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let repaired = Arc::new(AtomicBool::new(false));
        let flag = repaired.clone();
        let mut builder = Builder::new();
        builder.set_cache_size(config.cache_bytes);
        builder.set_repair_callback(move |_| flag.store(true, Ordering::Relaxed));
        // A damaged file can make the database library panic while it
        // opens or repairs it: that is a typed error like any other.
        let created =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.create(&path)))
                .map_err(|p| StoreError::Panicked {
                    during: "opening the store",
                    message: panic_text(&*p),
                })?;
        let db = created.map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen { path: path.clone() },
            e => StoreError::Open {
                path: path.clone(),
                source: e.into(),
            },
        })?;
        Self::start(db, path, config, repaired.load(Ordering::Relaxed))
    }

    /// Open (or create) a store on any redb storage backend: e.g.
    /// `redb::backends::InMemoryBackend` for a throw-away store, or a backend
    /// that injects I/O faults. `label` stands in for the path in errors.
    pub fn open_backend(
        backend: impl redb::StorageBackend,
        label: impl Into<PathBuf>,
        config: StoreConfig,
    ) -> Result<Store, StoreError> {
        let path = label.into();
        let repaired = Arc::new(AtomicBool::new(false));
        let flag = repaired.clone();
        let mut builder = Builder::new();
        builder.set_cache_size(config.cache_bytes);
        builder.set_repair_callback(move |_| flag.store(true, Ordering::Relaxed));
        let db = builder
            .create_with_backend(backend)
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                source: e.into(),
            })?;
        Self::start(db, path, config, repaired.load(Ordering::Relaxed))
    }

    fn start(
        db: Database,
        path: PathBuf,
        config: StoreConfig,
        recovered: bool,
    ) -> Result<Store, StoreError> {
        init_schema(&db, &path)?;
        let db = Arc::new(db);
        let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity);
        let counters = Arc::new(Counters::default());
        let limits = WriterLimits {
            max_batch: config.max_batch,
            max_batch_bytes: config.max_batch_bytes,
            quick_repair: config.quick_repair,
        };
        let writer = {
            let db = db.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("ian-store-writer".into())
                .spawn(move || writer::run(db, rx, limits, counters))
                .map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?
        };
        Ok(Store {
            db,
            tx: Some(tx),
            writer: Some(writer),
            counters,
            config,
            path,
            recovered,
        })
    }

    /// Whether opening had to repair the file (the previous process did not
    /// close it: crash, kill, power loss). Nothing acknowledged is lost either way.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits in force.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Writer counters since open.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            ops_committed: self.counters.ops_committed.load(Ordering::Relaxed),
            commit_failures: self.counters.commit_failures.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
            queued: self.tx.as_ref().map_or(0, |t| t.len()),
        }
    }

    fn submit(&self, op: Op) -> Result<(), StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        match tx.try_send(op) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Busy {
                capacity: self.config.queue_capacity,
            }),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }

    fn check_value(&self, what: &'static str, len: usize) -> Result<(), StoreError> {
        if len > self.config.max_value_bytes {
            return Err(StoreError::TooLarge {
                what,
                len,
                limit: self.config.max_value_bytes,
                env: "IAN_STORE_MAX_VALUE_BYTES",
            });
        }
        Ok(())
    }

    /// Append `entry` to `goal`'s log at `index`.
    ///
    /// `index` must equal the log's size when the write is applied: the log is
    /// dense, and an append that would leave a gap or overwrite an entry
    /// resolves `NonDenseAppend` (nothing written). Writes are applied in
    /// submission order, so one producer may queue `i, i+1, ...` without
    /// waiting. The ticket resolves `Ok(index)` only after the transaction
    /// holding the entry is committed with fsync. If that commit fails, every
    /// ticket in the batch resolves `CommitFailed`, and later appends to the
    /// same goal then resolve `NonDenseAppend` (no gap is ever created).
    ///
    /// Returns `Busy` at once when the queue is full, instead of blocking.
    pub fn append(
        &self,
        goal: &str,
        index: u64,
        entry: Vec<u8>,
    ) -> Result<Ticket<u64>, StoreError> {
        check_goal_id(goal)?;
        self.check_value("log entry", entry.len())?;
        let (t, done) = ticket();
        self.submit(Op::Append {
            goal: goal.to_string(),
            index,
            entry,
            done,
        })?;
        Ok(t)
    }

    /// Store a goal's spec. Resolves `Ok(true)` when stored, `Ok(false)` when
    /// the same bytes were already stored, `GoalConflict` when different
    /// bytes were (a goal's spec never changes once entries may refer to it).
    pub fn put_goal(&self, goal: &str, spec: Vec<u8>) -> Result<Ticket<bool>, StoreError> {
        check_goal_id(goal)?;
        self.check_value("goal spec", spec.len())?;
        let (t, done) = ticket();
        self.submit(Op::PutGoal {
            goal: goal.to_string(),
            spec,
            done,
        })?;
        Ok(t)
    }

    /// Store a blob under the hash the caller expects. The bytes are hashed
    /// here and refused with `BlobHashMismatch` unless they match, so a key
    /// always names its content. Idempotent: resolves `Ok(false)` if the blob
    /// was already stored.
    pub fn put_blob(&self, hash: Hash32, bytes: Vec<u8>) -> Result<Ticket<bool>, StoreError> {
        if bytes.len() > self.config.max_blob_bytes {
            return Err(StoreError::TooLarge {
                what: "blob",
                len: bytes.len(),
                limit: self.config.max_blob_bytes,
                env: "IAN_STORE_MAX_BLOB_BYTES",
            });
        }
        let actual = sha256(&bytes);
        if actual != hash {
            return Err(StoreError::BlobHashMismatch {
                claimed: hex(&hash),
                actual: hex(&actual),
            });
        }
        let (t, done) = ticket();
        self.submit(Op::PutBlob { hash, bytes, done })?;
        Ok(t)
    }

    /// Store a blob under its own hash, returned with the ticket.
    pub fn add_blob(&self, bytes: Vec<u8>) -> Result<(Hash32, Ticket<bool>), StoreError> {
        let hash = sha256(&bytes);
        Ok((hash, self.put_blob(hash, bytes)?))
    }

    /// Store the signed checkpoint of `goal` at tree size `size`.
    ///
    /// Refused with `CheckpointBeyondLog` if the log holds fewer than `size`
    /// entries when applied (a checkpoint never commits to entries that are
    /// not durable), and with `CheckpointConflict` if different bytes are
    /// already stored for that size. Resolves `Ok(false)` for an identical
    /// repeat.
    pub fn put_checkpoint(
        &self,
        goal: &str,
        size: u64,
        bytes: Vec<u8>,
    ) -> Result<Ticket<bool>, StoreError> {
        check_goal_id(goal)?;
        self.check_value("checkpoint", bytes.len())?;
        let (t, done) = ticket();
        self.submit(Op::PutCheckpoint {
            goal: goal.to_string(),
            size,
            bytes,
            done,
        })?;
        Ok(t)
    }

    /// Record a Tau transaction that has not been confirmed yet (replaces
    /// any previous bytes under `id`), so it is resubmitted after a restart.
    pub fn put_pending_tau(&self, id: u64, tx: Vec<u8>) -> Result<Ticket<()>, StoreError> {
        self.check_value("pending Tau transaction", tx.len())?;
        let (t, done) = ticket();
        self.submit(Op::PutPendingTau { id, tx, done })?;
        Ok(t)
    }

    /// Forget a pending Tau transaction once confirmed. Resolves whether it existed.
    pub fn remove_pending_tau(&self, id: u64) -> Result<Ticket<bool>, StoreError> {
        let (t, done) = ticket();
        self.submit(Op::RemovePendingTau { id, done })?;
        Ok(t)
    }

    /// Set a node metadata value (node key id, settings); replaces the old value.
    pub fn put_meta(&self, key: &str, value: Vec<u8>) -> Result<Ticket<()>, StoreError> {
        self.check_value("metadata key", key.len())?;
        self.check_value("metadata value", value.len())?;
        let (t, done) = ticket();
        self.submit(Op::PutMeta {
            key: key.to_string(),
            value,
            done,
        })?;
        Ok(t)
    }

    /// Stop committing until the returned guard is dropped. Waits until
    /// everything queued before the call is committed and the writer is idle.
    pub fn pause_writes(&self) -> Result<WritePause<'_>, StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        let gate = Arc::new(Gate::new());
        let (parked, done) = ticket();
        tx.send(Op::Pause {
            parked: done,
            gate: gate.clone(),
        })
        .map_err(|_| StoreError::Closed)?;
        let pause = WritePause {
            gate,
            _store: std::marker::PhantomData,
        };
        parked.wait()?;
        Ok(pause)
    }

    /// A consistent read view of the whole store as of now. Holding it never
    /// blocks the writer (MVCC), but pages it sees are not reused until it is
    /// dropped, so do not keep one for hours.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            txn: self.db.begin_read()?,
        })
    }

    /// Goal spec bytes. See [`Snapshot::goal_spec`].
    pub fn goal_spec(&self, goal: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot()?.goal_spec(goal)
    }

    /// Every goal with its log size, by id. See [`Snapshot::goals`].
    pub fn goals(&self) -> Result<Vec<GoalSize>, StoreError> {
        self.snapshot()?.goals()
    }

    /// Entries in a goal's log. See [`Snapshot::log_size`].
    pub fn log_size(&self, goal: &str) -> Result<Option<u64>, StoreError> {
        self.snapshot()?.log_size(goal)
    }

    /// One log entry. See [`Snapshot::entry`].
    pub fn entry(&self, goal: &str, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot()?.entry(goal, index)
    }

    /// Stream a range of log entries. See [`Snapshot::entries`].
    pub fn entries(&self, goal: &str, range: Range<u64>) -> Result<Entries, StoreError> {
        self.snapshot()?.entries(goal, range)
    }

    /// A blob by hash. See [`Snapshot::blob`].
    pub fn blob(&self, hash: &Hash32) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot()?.blob(hash)
    }

    /// Whether a blob is stored. See [`Snapshot::has_blob`].
    pub fn has_blob(&self, hash: &Hash32) -> Result<bool, StoreError> {
        self.snapshot()?.has_blob(hash)
    }

    /// The checkpoint at one size. See [`Snapshot::checkpoint`].
    pub fn checkpoint(&self, goal: &str, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot()?.checkpoint(goal, size)
    }

    /// The checkpoint with the largest size. See [`Snapshot::latest_checkpoint`].
    pub fn latest_checkpoint(&self, goal: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.snapshot()?.latest_checkpoint(goal)
    }

    /// Pending Tau transactions by id. See [`Snapshot::pending_tau`].
    pub fn pending_tau(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.snapshot()?.pending_tau()
    }

    /// A node metadata value. See [`Snapshot::meta`].
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot()?.meta(key)
    }

    /// Write a consistent copy of the whole store to a new file at `target`
    /// while the node keeps running (a read snapshot; writers are not held up).
    ///
    /// The copy is built in `<target>.partial`, fsynced, then renamed, so
    /// `target` either does not exist or is a complete store. `target` must
    /// not exist. Open the copy with [`Store::open`] to restore.
    pub fn backup_to(&self, target: impl AsRef<Path>) -> Result<(), StoreError> {
        let target = target.as_ref().to_path_buf();
        if target.exists() {
            return Err(StoreError::BackupTargetExists { path: target });
        }
        let mut partial = target.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        if partial.exists() {
            std::fs::remove_file(&partial).map_err(io(&partial))?;
        }
        let snap = self.db.begin_read()?;
        {
            let dst = Builder::new()
                .set_cache_size(self.config.cache_bytes)
                .create(&partial)
                .map_err(|e| StoreError::Open {
                    path: partial.clone(),
                    source: e.into(),
                })?;
            copy_table(&snap, &dst, META)?;
            copy_table(&snap, &dst, NODE_KV)?;
            copy_table(&snap, &dst, GOALS)?;
            copy_table(&snap, &dst, GOAL_INDEX)?;
            copy_table(&snap, &dst, LOG)?;
            copy_table(&snap, &dst, CHECKPOINTS)?;
            copy_table(&snap, &dst, BLOBS)?;
            copy_table(&snap, &dst, PENDING_TAU)?;
            // A final durable commit makes every earlier non-durable one durable.
            let mut w = dst.begin_write()?;
            w.set_durability(Durability::Immediate)
                .map_err(redb::Error::from)?;
            w.commit()?;
        }
        drop(snap);
        std::fs::rename(&partial, &target).map_err(io(&target))?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        Ok(())
    }

    /// Check every page checksum of a store that is NOT open, and rebuild its
    /// allocator state. `Ok(true)` means no damage was found. For operators
    /// after a disk incident, and for tests.
    pub fn check_integrity(path: impl AsRef<Path>) -> Result<bool, StoreError> {
        let path = path.as_ref();
        let mut db = open_offline(path)?;
        Ok(db.check_integrity()?)
    }

    /// Rewrite a store that is NOT open so that free space left by
    /// copy-on-write commits is returned to the file system. Offline
    /// maintenance; returns whether anything was compacted.
    pub fn compact(path: impl AsRef<Path>) -> Result<bool, StoreError> {
        let path = path.as_ref();
        let mut db = open_offline(path)?;
        db.compact().map_err(|e| StoreError::Redb(e.into()))
    }

    /// Commit everything queued, stop the writer and close the file.
    /// Dropping the store does the same.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            w.join().map_err(|_| StoreError::Closed)?;
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Open a store file for offline maintenance, with the default page cache
/// (redb's own default would be 1 GiB).
fn open_offline(path: &Path) -> Result<Database, StoreError> {
    Builder::new()
        .set_cache_size(StoreConfig::default().cache_bytes)
        .open(path)
        .map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
                path: path.to_path_buf(),
            },
            e => StoreError::Open {
                path: path.to_path_buf(),
                source: e.into(),
            },
        })
}

/// Entries copied per transaction by `backup_to`, to bound its memory.
const BACKUP_CHUNK: usize = 50_000;

fn copy_table<K: Key + 'static, V: Value + 'static>(
    src: &ReadTransaction,
    dst: &Database,
    def: TableDefinition<K, V>,
) -> Result<(), StoreError> {
    let table = src.open_table(def)?;
    let mut iter = table.iter()?;
    loop {
        let mut w = dst.begin_write()?;
        w.set_durability(Durability::None)
            .map_err(redb::Error::from)?;
        let mut copied = 0usize;
        let mut finished = true;
        {
            let mut out = w.open_table(def)?;
            for item in iter.by_ref() {
                let (k, v) = item?;
                out.insert(k.value(), v.value())?;
                copied += 1;
                if copied == BACKUP_CHUNK {
                    finished = false;
                    break;
                }
            }
        }
        w.commit()?;
        if finished {
            return Ok(());
        }
    }
}

fn init_schema(db: &Database, path: &Path) -> Result<(), StoreError> {
    let rtx = db.begin_read()?;
    let names: Vec<String> = rtx.list_tables()?.map(|h| h.name().to_string()).collect();
    if !names.is_empty() {
        if !names.iter().any(|n| n == META.name()) {
            return Err(StoreError::NotAnIanStore {
                path: path.to_path_buf(),
            });
        }
        let meta = rtx.open_table(META)?;
        let found = meta.get(SCHEMA_KEY)?.map(|v| v.value().to_vec());
        let found = match found.as_deref().map(<[u8; 4]>::try_from) {
            Some(Ok(b)) => u32::from_le_bytes(b),
            _ => {
                return Err(StoreError::NotAnIanStore {
                    path: path.to_path_buf(),
                });
            }
        };
        if found != SCHEMA_VERSION {
            return Err(StoreError::SchemaMismatch {
                path: path.to_path_buf(),
                found,
                expected: SCHEMA_VERSION,
            });
        }
    }
    drop(rtx);
    let all = [
        NODE_KV.name(),
        GOALS.name(),
        GOAL_INDEX.name(),
        LOG.name(),
        CHECKPOINTS.name(),
        BLOBS.name(),
        PENDING_TAU.name(),
    ];
    if all.iter().all(|n| names.iter().any(|m| m == n)) {
        return Ok(());
    }
    let w = db.begin_write()?;
    {
        let mut meta = w.open_table(META)?;
        if meta.get(SCHEMA_KEY)?.is_none() {
            meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
        }
        w.open_table(NODE_KV)?;
        w.open_table(GOALS)?;
        w.open_table(GOAL_INDEX)?;
        w.open_table(LOG)?;
        w.open_table(CHECKPOINTS)?;
        w.open_table(BLOBS)?;
        w.open_table(PENDING_TAU)?;
    }
    w.commit()?;
    Ok(())
}

/// A consistent, read-only view of the store at one point in time.
///
/// Everything read through one snapshot agrees (e.g. a log size and the
/// entries below it), whatever the writer commits meanwhile.
pub struct Snapshot {
    txn: ReadTransaction,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

fn open_ro<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs a read against the embedded database, turning a panic inside the
/// database library (it panics on some kinds of on-disk corruption) into a
/// typed error naming what was being read, so a damaged store is reported
/// as such instead of taking the node down.
fn guard<T>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(StoreError::Panicked {
            during: what,
            message: panic_text(&*p),
        })
    })
}

/// The text of a caught panic.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".to_string())
}

impl Snapshot {
    fn slot(&self, goal: &str) -> Result<Option<(u32, u64)>, StoreError> {
        let Some(t) = open_ro(&self.txn, GOAL_INDEX)? else {
            return Ok(None);
        };
        Ok(t.get(goal)?.map(|v| v.value()))
    }

    /// The spec bytes a goal was published with, or `None` if unknown.
    pub fn goal_spec(&self, goal: &str) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading goal_spec", || {
            let t = self.txn.open_table(GOALS)?;
            Ok(t.get(goal)?.map(|v| v.value().to_vec()))
        })
    }

    /// Every goal with the size of its log, ordered by id. After a restart,
    /// the node replays `entries(goal, 0..size)` of each to rebuild its MMR,
    /// leaderboard and dedup index.
    pub fn goals(&self) -> Result<Vec<GoalSize>, StoreError> {
        guard("reading goals", || {
            let t = self.txn.open_table(GOAL_INDEX)?;
            let mut out = Vec::new();
            for item in t.iter()? {
                let (k, v) = item?;
                out.push(GoalSize {
                    goal: k.value().to_string(),
                    size: v.value().1,
                });
            }
            Ok(out)
        })
    }

    /// Number of entries in the goal's log (the next index), `None` if the
    /// goal is unknown.
    pub fn log_size(&self, goal: &str) -> Result<Option<u64>, StoreError> {
        guard("reading log_size", || {
            Ok(self.slot(goal)?.map(|(_, size)| size))
        })
    }

    /// One entry, `None` if the index is at or past the log's size or the goal is unknown.
    pub fn entry(&self, goal: &str, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading entry", || {
            let Some((number, _)) = self.slot(goal)? else {
                return Ok(None);
            };
            let t = self.txn.open_table(LOG)?;
            Ok(t.get((number, index))?.map(|v| v.value().to_vec()))
        })
    }

    /// Entries `range.start..range.end` of the goal's log, clipped to its
    /// size, streamed in index order straight from the B-tree (nothing is
    /// loaded up front, so a million-entry replay needs memory for one entry).
    /// `UnknownGoal` for a goal never stored; `InvalidRange` if start > end.
    pub fn entries(&self, goal: &str, range: Range<u64>) -> Result<Entries, StoreError> {
        guard("reading entries", || {
            if range.start > range.end {
                return Err(StoreError::InvalidRange {
                    start: range.start,
                    end: range.end,
                });
            }
            let Some((number, size)) = self.slot(goal)? else {
                return Err(StoreError::UnknownGoal {
                    goal: goal.to_string(),
                });
            };
            let end = range.end.min(size);
            let start = range.start.min(end);
            let t = self.txn.open_table(LOG)?;
            let inner = t.range((number, start)..(number, end))?;
            Ok(Entries {
                goal: goal.to_string(),
                inner,
                next: start,
                end,
                failed: false,
            })
        })
    }

    /// Blob bytes by their SHA-256, re-hashed on the way out: bytes that no
    /// longer match their key give `CorruptBlob`, never silently wrong data.
    pub fn blob(&self, hash: &Hash32) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading blob", || {
            let t = self.txn.open_table(BLOBS)?;
            let Some(bytes) = t.get(hash)?.map(|v| v.value().to_vec()) else {
                return Ok(None);
            };
            let actual = sha256(&bytes);
            if &actual != hash {
                return Err(StoreError::CorruptBlob {
                    hash: hex(hash),
                    actual: hex(&actual),
                });
            }
            Ok(Some(bytes))
        })
    }

    /// A blob's size in bytes, without copying it out.
    pub fn blob_len(&self, hash: &Hash32) -> Result<Option<u64>, StoreError> {
        guard("reading blob_len", || {
            let t = self.txn.open_table(BLOBS)?;
            Ok(t.get(hash)?.map(|v| v.value().len() as u64))
        })
    }

    /// Hands a blob to `sink` in pieces of at most `chunk` bytes, straight
    /// from the database's pages, so serving a large blob never holds a
    /// second whole copy of it. The SHA-256 is computed on the way and
    /// checked at the end: `CorruptBlob` then means the pieces already
    /// handed over must be thrown away (an HTTP download is aborted).
    /// `sink` returns false to stop early (the reader went away).
    /// `Ok(false)` when there is no such blob.
    pub fn blob_chunks(
        &self,
        hash: &Hash32,
        chunk: usize,
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<bool, StoreError> {
        guard("reading blob_chunks", || {
            use sha2::Digest as _;
            let t = self.txn.open_table(BLOBS)?;
            let Some(v) = t.get(hash)? else {
                return Ok(false);
            };
            let mut h = sha2::Sha256::new();
            for piece in v.value().chunks(chunk.max(1)) {
                h.update(piece);
                if !sink(piece) {
                    return Ok(true);
                }
            }
            let actual: [u8; 32] = h.finalize().into();
            if &actual != hash {
                return Err(StoreError::CorruptBlob {
                    hash: hex(hash),
                    actual: hex(&actual),
                });
            }
            Ok(true)
        })
    }

    /// Whether a blob is stored, without reading it.
    pub fn has_blob(&self, hash: &Hash32) -> Result<bool, StoreError> {
        guard("reading has_blob", || {
            let t = self.txn.open_table(BLOBS)?;
            Ok(t.get(hash)?.is_some())
        })
    }

    /// The checkpoint stored for `goal` at tree size `size`.
    pub fn checkpoint(&self, goal: &str, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading checkpoint", || {
            let Some((number, _)) = self.slot(goal)? else {
                return Ok(None);
            };
            let t = self.txn.open_table(CHECKPOINTS)?;
            Ok(t.get((number, size))?.map(|v| v.value().to_vec()))
        })
    }

    /// The stored checkpoint with the largest tree size, with that size.
    pub fn latest_checkpoint(&self, goal: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        guard("reading latest_checkpoint", || {
            let Some((number, _)) = self.slot(goal)? else {
                return Ok(None);
            };
            let t = self.txn.open_table(CHECKPOINTS)?;
            let last = t.range((number, 0)..=(number, u64::MAX))?.next_back();
            match last {
                None => Ok(None),
                Some(item) => {
                    let (k, v) = item?;
                    Ok(Some((k.value().1, v.value().to_vec())))
                }
            }
        })
    }

    /// Tree sizes at which the goal has a stored checkpoint, ascending.
    pub fn checkpoint_sizes(&self, goal: &str) -> Result<Vec<u64>, StoreError> {
        guard("reading checkpoint_sizes", || {
            let Some((number, _)) = self.slot(goal)? else {
                return Ok(Vec::new());
            };
            let t = self.txn.open_table(CHECKPOINTS)?;
            let mut out = Vec::new();
            for item in t.range((number, 0)..=(number, u64::MAX))? {
                out.push(item?.0.value().1);
            }
            Ok(out)
        })
    }

    /// Pending Tau transactions in id order.
    pub fn pending_tau(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        guard("reading pending_tau", || {
            let t = self.txn.open_table(PENDING_TAU)?;
            let mut out = Vec::new();
            for item in t.iter()? {
                let (k, v) = item?;
                out.push((k.value(), v.value().to_vec()));
            }
            Ok(out)
        })
    }

    /// A node metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        guard("reading meta", || {
            let t = self.txn.open_table(NODE_KV)?;
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        })
    }

    /// Number of stored blobs (for metrics).
    pub fn blob_count(&self) -> Result<u64, StoreError> {
        guard("reading blob_count", || {
            Ok(self.txn.open_table(BLOBS)?.len()?)
        })
    }
}

/// Streaming iterator over log entries: yields `(index, bytes)` in index
/// order. Keeps its snapshot alive until dropped. A hole in the stored log
/// (only possible if the file was altered) yields `CorruptLog` and ends.
pub struct Entries {
    goal: String,
    inner: redb::Range<'static, (u32, u64), &'static [u8]>,
    next: u64,
    end: u64,
    failed: bool,
}

impl Entries {
    /// Entries left to yield.
    pub fn remaining(&self) -> u64 {
        if self.failed { 0 } else { self.end - self.next }
    }
}

impl Iterator for Entries {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.end {
            return None;
        }
        let found = match self.inner.next() {
            None => None,
            Some(Err(e)) => {
                self.failed = true;
                return Some(Err(e.into()));
            }
            Some(Ok((k, v))) => Some((k.value().1, v)),
        };
        match found {
            Some((index, v)) if index == self.next => {
                self.next += 1;
                Some(Ok((index, v.value().to_vec())))
            }
            other => {
                self.failed = true;
                Some(Err(StoreError::CorruptLog {
                    goal: self.goal.clone(),
                    expected: self.next,
                    found: other.map_or(self.end, |(i, _)| i),
                }))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        (0, Some(n))
    }
}

#[cfg(test)]
mod panic_tests {
    use super::*;

    #[test]
    fn a_panic_in_the_database_library_becomes_a_typed_error() {
        let r: Result<(), StoreError> =
            guard("reading entries", || panic!("page checksum mismatch"));
        match r {
            Err(StoreError::Panicked { during, message }) => {
                assert_eq!(during, "reading entries");
                assert_eq!(message, "page checksum mismatch");
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
}
