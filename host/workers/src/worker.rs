//! The worker loop: pull one job at a time per evaluation thread, keep it
//! alive with progress acks while it runs, store the signed result, then
//! acknowledge. What evaluating means is the caller's ([`Evaluate`]): the
//! node's binary plugs in the same sandbox path as `ian-host eval`, the
//! scaling bench plugs in a CPU-bound stand-in.
//!
//! Architecture Invariant: a job is acknowledged only after its result is
//! stored. A worker killed at any point leaves either no result (the job
//! is redelivered after `ack_wait`) or a stored result (a redelivery
//! re-runs it and stores the same bits under the same key).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ian_core::{Failure, Hash32, Inconclusive, InconclusiveCause, PublicKeyBytes, Verdict};
use tokio::runtime::Handle;
use tracing::{info, warn};

use crate::queue::{Queue, QueueError, WorkerStatus};
use crate::wire::{Job, Outcome, SeedFigures, WorkResult};

/// Least time between two status publications of a worker.
const STATUS_MIN_INTERVAL: Duration = Duration::from_millis(250);

/// What one run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    /// Where it ended.
    pub outcome: Outcome,
    /// Per-seed figures.
    pub seeds: Vec<SeedFigures>,
    /// Agent fuel over all seeds.
    pub fuel: u64,
}

impl Ran {
    /// A run that could not start on this worker (an object missing, a
    /// goal this worker cannot serve): no verdict.
    pub fn host_error(message: impl Into<String>) -> Ran {
        Ran {
            outcome: Outcome::Evaluated(Verdict::Inconclusive(Inconclusive::new(
                InconclusiveCause::HostError,
                message,
            ))),
            seeds: Vec::new(),
            fuel: 0,
        }
    }

    /// Why it ended without a verdict, when it did.
    pub fn inconclusive_reason(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Code(Failure::Inconclusive(i))
            | Outcome::Invariant {
                failure: Failure::Inconclusive(i),
                ..
            }
            | Outcome::Evaluated(Verdict::Inconclusive(i)) => Some(&i.message),
            _ => None,
        }
    }
}

/// Reads objects by hash for a running job (blocking; checked against the
/// hash).
pub type Fetch<'a> = &'a dyn Fn(&Hash32) -> Result<Vec<u8>, QueueError>;

/// How a worker evaluates. Called on an evaluation thread with the stack
/// the caller asked for.
pub trait Evaluate: Send + Sync + 'static {
    /// Runs `job`; `fetch` reads its inputs.
    fn run(&self, job: &Job, fetch: Fetch<'_>) -> Ran;
    /// Engine version, sandbox configuration hash and ABI version signed
    /// into every result.
    fn environment(&self) -> (String, Hash32, String);
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Name shown by `ian-host workers`.
    pub name: String,
    /// Evaluation threads (jobs at once).
    pub slots: usize,
    /// Native stack of each evaluation thread.
    pub stack_bytes: usize,
    /// How often the status is published.
    pub status_every: Duration,
}

/// Counters a worker keeps and publishes.
#[derive(Default)]
struct Counters {
    /// Wakes the status reporter when a job ends.
    changed: tokio::sync::Notify,
    busy: AtomicU64,
    jobs: AtomicU64,
    failures: AtomicU64,
    busy_us: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A running worker; [`Worker::stop`] lets running jobs finish and returns.
pub struct Worker {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    status: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts `opts.slots` evaluation threads pulling from `queue` and a
    /// status reporter on `rt`.
    pub fn start(
        rt: Handle,
        queue: Queue,
        key: SigningKey,
        opts: WorkerOptions,
        eval: Arc<dyn Evaluate>,
    ) -> Result<Worker, QueueError> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (engine, config_hash, _) = eval.environment();
        let me = PublicKeyBytes::of(&key);
        let started_ms = now_ms();
        let status = {
            let (queue, counters, stop, opts) =
                (queue.clone(), counters.clone(), stop.clone(), opts.clone());
            rt.spawn(async move {
                loop {
                    let s = WorkerStatus {
                        worker: me.to_hex(),
                        name: opts.name.clone(),
                        engine_version: engine.clone(),
                        config_hash: config_hash.to_hex(),
                        slots: opts.slots as u64,
                        busy: counters.busy.load(Ordering::Relaxed),
                        jobs: counters.jobs.load(Ordering::Relaxed),
                        failures: counters.failures.load(Ordering::Relaxed),
                        busy_us: counters.busy_us.load(Ordering::Relaxed),
                        started_ms,
                        seen_ms: now_ms(),
                    };
                    if let Err(e) = queue.put_status(&s).await {
                        warn!(error = %e, "worker status not published");
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(opts.status_every) => {}
                        _ = counters.changed.notified() => {
                            // At most a few statuses a second, however
                            // many jobs end: each is a bucket write.
                            tokio::time::sleep(STATUS_MIN_INTERVAL).await;
                        }
                    }
                }
            })
        };
        let mut threads = Vec::new();
        for i in 0..opts.slots.max(1) {
            let (rt, queue, key, eval, stop, counters) = (
                rt.clone(),
                queue.clone(),
                key.clone(),
                eval.clone(),
                stop.clone(),
                counters.clone(),
            );
            let t = std::thread::Builder::new()
                .name(format!("ian-worker-{i}"))
                .stack_size(opts.stack_bytes)
                .spawn(move || slot(rt, queue, key, eval, stop, counters))
                .map_err(|e| QueueError::JetStream {
                    op: "start evaluation thread",
                    reason: e.to_string(),
                })?;
            threads.push(t);
        }
        info!(slots = opts.slots, worker = %me.to_hex(), "worker started");
        Ok(Worker {
            stop,
            threads,
            status,
        })
    }

    /// Finishes the running jobs, publishes a last status and returns.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        // The reporter sees the flag and publishes its last status.
        drop(self.status);
    }

    /// A flag that stops the worker when set (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

/// One evaluation thread.
fn slot(
    rt: Handle,
    queue: Queue,
    key: SigningKey,
    eval: Arc<dyn Evaluate>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let me = PublicKeyBytes::of(&key);
    let (engine_version, config_hash, abi_version) = eval.environment();
    // The consumer's own ack_wait: it was set by whoever created it.
    let progress_every = (queue.ack_wait() / 3).max(Duration::from_millis(100));
    while !stop.load(Ordering::Relaxed) {
        let delivery = match rt.block_on(queue.next_job(Duration::from_millis(500))) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                warn!(error = %e, "cannot fetch a job; retrying");
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        let job = match &delivery.job {
            Ok(j) => j.clone(),
            Err(e) => {
                warn!(error = %e, "malformed job; terminated");
                let _ = rt.block_on(delivery.term());
                continue;
            }
        };
        let started = Instant::now();
        counters.busy.fetch_add(1, Ordering::Relaxed);
        counters.changed.notify_one();
        // Progress acks keep a long job from being handed to another
        // worker; they stop when the job's result is stored.
        let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
        let progress = {
            let delivery = delivery.clone();
            rt.spawn(async move {
                loop {
                    tokio::select! {
                        _ = &mut done_rx => break,
                        _ = tokio::time::sleep(progress_every) => {
                            let _ = delivery.progress().await;
                        }
                    }
                }
            })
        };
        let fetch = |h: &Hash32| rt.block_on(queue.get_object(h));
        // A panic in an evaluation must not take this thread down, nor
        // every thread the redelivered job reaches after it.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| eval.run(&job, &fetch)))
            .unwrap_or_else(|_| Ran::host_error("the evaluation panicked on this worker"));
        let elapsed_us = started.elapsed().as_micros() as u64;
        if let Some(why) = ran.inconclusive_reason() {
            // No verdict on this worker (an input missing, the machine
            // busy, ...): nothing is stored, the job goes back to the
            // queue for another delivery (up to max_deliver).
            warn!(job = %job.id(), reason = %why, "no verdict on this worker; job handed back");
            let _ = done_tx.send(());
            let _ = rt.block_on(progress);
            let _ = rt.block_on(delivery.nak(Duration::from_secs(1)));
            counters.failures.fetch_add(1, Ordering::Relaxed);
            counters.busy.fetch_sub(1, Ordering::Relaxed);
            counters.busy_us.fetch_add(elapsed_us, Ordering::Relaxed);
            counters.changed.notify_one();
            continue;
        }
        let signed = WorkResult {
            job: job.id(),
            worker: me,
            engine_version: engine_version.clone(),
            config_hash,
            abi_version: abi_version.clone(),
            outcome: ran.outcome,
            seeds: ran.seeds,
            fuel: ran.fuel,
            elapsed_us,
        }
        .sign(&key);
        let stored = rt.block_on(queue.put_result(&signed));
        let _ = done_tx.send(());
        let _ = rt.block_on(progress);
        match stored {
            Ok(()) => {
                if let Err(e) = rt.block_on(delivery.ack()) {
                    // The result is stored; a redelivery only stores it again.
                    warn!(job = %job.id(), error = %e, "job ack not confirmed");
                }
                counters.jobs.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                warn!(job = %job.id(), error = %e, "result not stored; the job will be redelivered");
                counters.failures.fetch_add(1, Ordering::Relaxed);
                let _ = rt.block_on(delivery.nak(Duration::from_secs(1)));
            }
        }
        counters.busy.fetch_sub(1, Ordering::Relaxed);
        counters.busy_us.fetch_add(elapsed_us, Ordering::Relaxed);
        counters.changed.notify_one();
    }
}
