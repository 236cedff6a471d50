//! The group-commit writer: one thread owns every write transaction.
//!
//! Callers put operations on a bounded queue and get a [`Ticket`]. The
//! thread takes everything queued (up to `max_batch` operations or
//! `max_batch_bytes` payload bytes), applies it in ONE redb write transaction,
//! commits with `Durability::Immediate` (fsync) and only then resolves the
//! tickets. While it waits for the disk, new writes queue up and form the next
//! batch, so one fsync is shared by many writes under load while a lone write
//! still commits at once (there is no linger timer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::Receiver;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, Table};

use crate::error::StoreError;
use crate::tables::{BLOBS, CHECKPOINTS, GOAL_INDEX, GOALS, LOG, NODE_KV, PENDING_TAU};
use crate::ticket::Completer;

/// One queued write.
pub(crate) enum Op {
    Append {
        goal: String,
        index: u64,
        entry: Vec<u8>,
        done: Completer<u64>,
    },
    PutGoal {
        goal: String,
        spec: Vec<u8>,
        done: Completer<bool>,
    },
    PutBlob {
        hash: [u8; 32],
        bytes: Vec<u8>,
        done: Completer<bool>,
    },
    PutCheckpoint {
        goal: String,
        size: u64,
        bytes: Vec<u8>,
        done: Completer<bool>,
    },
    PutPendingTau {
        id: u64,
        tx: Vec<u8>,
        done: Completer<()>,
    },
    RemovePendingTau {
        id: u64,
        done: Completer<bool>,
    },
    PutMeta {
        key: String,
        value: Vec<u8>,
        done: Completer<()>,
    },
    /// Commit what came before, report parked, then wait for the gate.
    Pause {
        parked: Completer<()>,
        gate: Arc<Gate>,
    },
}

impl Op {
    /// Payload bytes, for the batch byte bound.
    fn weight(&self) -> usize {
        match self {
            Op::Append { entry, goal, .. } => entry.len() + goal.len(),
            Op::PutGoal { spec, goal, .. } => spec.len() + goal.len(),
            Op::PutBlob { bytes, .. } => bytes.len(),
            Op::PutCheckpoint { bytes, goal, .. } => bytes.len() + goal.len(),
            Op::PutPendingTau { tx, .. } => tx.len(),
            Op::RemovePendingTau { .. } => 8,
            Op::PutMeta { key, value, .. } => key.len() + value.len(),
            Op::Pause { .. } => 0,
        }
    }

    /// Resolve without applying: the batch this op was in did not commit.
    fn fail(self, reason: &str) {
        let e = || StoreError::CommitFailed {
            reason: reason.to_string(),
        };
        match self {
            Op::Append { done, .. } => done.complete(Err(e())),
            Op::PutGoal { done, .. } => done.complete(Err(e())),
            Op::PutBlob { done, .. } => done.complete(Err(e())),
            Op::PutCheckpoint { done, .. } => done.complete(Err(e())),
            Op::PutPendingTau { done, .. } => done.complete(Err(e())),
            Op::RemovePendingTau { done, .. } => done.complete(Err(e())),
            Op::PutMeta { done, .. } => done.complete(Err(e())),
            Op::Pause { parked, .. } => parked.complete(Err(e())),
        }
    }
}

/// A latch the writer waits on while paused.
pub(crate) struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Gate {
            open: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    pub(crate) fn open(&self) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    fn wait_open(&self) {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        while !*g {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Counters for observability (`/metrics`).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) ops_committed: AtomicU64,
    pub(crate) commit_failures: AtomicU64,
    pub(crate) largest_batch: AtomicU64,
}

/// A result decided while applying, handed to the caller after the commit.
trait Finish: Send {
    fn finish(self: Box<Self>, committed: Result<(), &str>);
}

struct Decided<T> {
    done: Completer<T>,
    result: Result<T, StoreError>,
}

impl<T: Send> Finish for Decided<T> {
    fn finish(self: Box<Self>, committed: Result<(), &str>) {
        let r = match committed {
            Ok(()) => self.result,
            Err(reason) => Err(StoreError::CommitFailed {
                reason: reason.to_string(),
            }),
        };
        self.done.complete(r);
    }
}

fn decided<T: Send + 'static>(
    done: Completer<T>,
    result: Result<T, StoreError>,
) -> Box<dyn Finish> {
    Box::new(Decided { done, result })
}

pub(crate) struct WriterLimits {
    pub(crate) max_batch: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) quick_repair: bool,
}

/// Body of the writer thread. Returns when every sender is gone and the
/// queue is drained (all queued writes are committed before it returns).
pub(crate) fn run(
    db: Arc<Database>,
    rx: Receiver<Op>,
    limits: WriterLimits,
    counters: Arc<Counters>,
) {
    let mut batch: Vec<Op> = Vec::with_capacity(limits.max_batch);
    while let Ok(first) = rx.recv() {
        let mut pause = None;
        let mut bytes = 0usize;
        let mut next = Some(first);
        while let Some(op) = next.take() {
            if let Op::Pause { parked, gate } = op {
                pause = Some((parked, gate));
                break;
            }
            bytes += op.weight();
            batch.push(op);
            if batch.len() >= limits.max_batch || bytes >= limits.max_batch_bytes {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            commit_batch(&db, &mut batch, &limits, &counters);
        }
        if let Some((parked, gate)) = pause {
            parked.complete(Ok(()));
            gate.wait_open();
        }
    }
}

fn commit_batch(db: &Database, batch: &mut Vec<Op>, limits: &WriterLimits, counters: &Counters) {
    let n = batch.len() as u64;
    let mut finishes: Vec<Box<dyn Finish>> = Vec::with_capacity(batch.len());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> Result<(), StoreError> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)
                .map_err(redb::Error::from)?;
            txn.set_quick_repair(limits.quick_repair);
            {
                let mut t = Tables {
                    goals: txn.open_table(GOALS)?,
                    index: txn.open_table(GOAL_INDEX)?,
                    log: txn.open_table(LOG)?,
                    checkpoints: txn.open_table(CHECKPOINTS)?,
                    blobs: txn.open_table(BLOBS)?,
                    pending: txn.open_table(PENDING_TAU)?,
                    kv: txn.open_table(NODE_KV)?,
                    sizes: HashMap::new(),
                };
                for op in batch.drain(..) {
                    finishes.push(t.apply(op)?);
                }
                t.flush_sizes()?;
            }
            txn.commit()?;
            Ok(())
        },
    ))
    // A panic inside the database library fails the batch like any other
    // commit error (every ticket gets it), and the writer lives on.
    .unwrap_or_else(|p| {
        Err(StoreError::Panicked {
            during: "committing a batch",
            message: crate::store::panic_text(&*p),
        })
    });
    match outcome {
        Ok(()) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.ops_committed.fetch_add(n, Ordering::Relaxed);
            counters.largest_batch.fetch_max(n, Ordering::Relaxed);
            for f in finishes {
                f.finish(Ok(()));
            }
        }
        Err(e) => {
            counters.commit_failures.fetch_add(1, Ordering::Relaxed);
            let reason = e.to_string();
            for f in finishes {
                f.finish(Err(&reason));
            }
            // Ops not reached when the error struck.
            for op in batch.drain(..) {
                op.fail(&reason);
            }
        }
    }
}

struct Tables<'t> {
    goals: Table<'t, &'static str, &'static [u8]>,
    index: Table<'t, &'static str, (u32, u64)>,
    log: Table<'t, (u32, u64), &'static [u8]>,
    checkpoints: Table<'t, (u32, u64), &'static [u8]>,
    blobs: Table<'t, &'static [u8; 32], &'static [u8]>,
    pending: Table<'t, u64, &'static [u8]>,
    kv: Table<'t, &'static str, &'static [u8]>,
    /// Goal slots (number, size) read or advanced in this batch. Appends
    /// advance the size here and `flush_sizes` writes each goal's final size
    /// once per batch instead of once per entry.
    sizes: HashMap<String, (u32, u64)>,
}

impl Tables<'_> {
    fn slot(&mut self, goal: &str) -> Result<Option<(u32, u64)>, StoreError> {
        if let Some(s) = self.sizes.get(goal) {
            return Ok(Some(*s));
        }
        let s = self.index.get(goal)?.map(|g| g.value());
        if let Some(s) = s {
            self.sizes.insert(goal.to_string(), s);
        }
        Ok(s)
    }

    fn flush_sizes(&mut self) -> Result<(), StoreError> {
        for (goal, slot) in &self.sizes {
            self.index.insert(goal.as_str(), *slot)?;
        }
        Ok(())
    }

    /// Apply one op. `Err` is a storage failure that dooms the batch; a
    /// refusal of this op alone is carried inside the returned `Finish`.
    fn apply(&mut self, op: Op) -> Result<Box<dyn Finish>, StoreError> {
        Ok(match op {
            Op::Append {
                goal,
                index,
                entry,
                done,
            } => {
                let slot = self.slot(&goal)?;
                let r = match slot {
                    None => Err(StoreError::UnknownGoal { goal }),
                    Some((_, size)) if size != index => {
                        Err(StoreError::NonDenseAppend { goal, index, size })
                    }
                    Some((number, size)) => {
                        self.log.insert((number, index), entry.as_slice())?;
                        if let Some(s) = self.sizes.get_mut(goal.as_str()) {
                            *s = (number, size + 1);
                        }
                        Ok(index)
                    }
                };
                decided(done, r)
            }
            Op::PutGoal { goal, spec, done } => {
                let existing = self
                    .goals
                    .get(goal.as_str())?
                    .map(|v| v.value() == spec.as_slice());
                let r = match existing {
                    Some(true) => Ok(false),
                    Some(false) => Err(StoreError::GoalConflict { goal }),
                    None => match u32::try_from(self.index.len()?) {
                        Err(_) => Err(StoreError::TooManyGoals),
                        Ok(number) => {
                            self.goals.insert(goal.as_str(), spec.as_slice())?;
                            self.index.insert(goal.as_str(), (number, 0u64))?;
                            self.sizes.insert(goal, (number, 0));
                            Ok(true)
                        }
                    },
                };
                decided(done, r)
            }
            Op::PutBlob { hash, bytes, done } => {
                // The hash was verified by the submitting thread.
                let present = self.blobs.get(&hash)?.is_some();
                if !present {
                    self.blobs.insert(&hash, bytes.as_slice())?;
                }
                decided(done, Ok(!present))
            }
            Op::PutCheckpoint {
                goal,
                size,
                bytes,
                done,
            } => {
                let slot = self.slot(&goal)?;
                let r = match slot {
                    None => Err(StoreError::UnknownGoal { goal }),
                    Some((_, log_size)) if size > log_size => {
                        Err(StoreError::CheckpointBeyondLog {
                            goal,
                            size,
                            log_size,
                        })
                    }
                    Some((number, _)) => {
                        let same = self
                            .checkpoints
                            .get((number, size))?
                            .map(|v| v.value() == bytes.as_slice());
                        match same {
                            Some(true) => Ok(false),
                            Some(false) => Err(StoreError::CheckpointConflict { goal, size }),
                            None => {
                                self.checkpoints.insert((number, size), bytes.as_slice())?;
                                Ok(true)
                            }
                        }
                    }
                };
                decided(done, r)
            }
            Op::PutPendingTau { id, tx, done } => {
                self.pending.insert(id, tx.as_slice())?;
                decided(done, Ok(()))
            }
            Op::RemovePendingTau { id, done } => {
                let existed = self.pending.remove(id)?.is_some();
                decided(done, Ok(existed))
            }
            Op::PutMeta { key, value, done } => {
                self.kv.insert(key.as_str(), value.as_slice())?;
                decided(done, Ok(()))
            }
            Op::Pause { parked, .. } => {
                // `run` never puts a Pause into a batch; resolve it rather than hang.
                decided(parked, Ok(()))
            }
        })
    }
}
