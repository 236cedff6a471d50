//! The worker loop. One dispatcher task asks the queue for exactly as many
//! jobs as there are idle evaluation threads (one subscription, see
//! [`JobFeed`](crate::queue::JobFeed)) and hands each delivered job to an
//! idle thread; the thread runs it, keeping it alive with progress acks,
//! signs the result and hands the storing and acknowledging to the runtime
//! so that it can take the next job at once. What evaluating means is the
//! caller's ([`Evaluate`]): the node's binary plugs in the same sandbox
//! path as `ian-host eval`, the scaling bench plugs in a CPU-bound
//! stand-in.
//!
//! Architecture Invariant: a job is acknowledged only after its result is
//! stored. A worker killed at any point leaves either no result (the job
//! is redelivered after `ack_wait`) or a stored result (a redelivery
//! re-runs it and stores the same bits under the same key).
//!
//! Architecture Invariant: a worker holds no job it cannot start. It asks
//! for jobs only for idle threads, so a job never waits in a busy worker
//! while another worker is idle; the results still being stored are
//! bounded by four times the thread count.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ian_core::{Failure, Hash32, Inconclusive, InconclusiveCause, PublicKeyBytes, Verdict};
use tokio::runtime::Handle;
use tracing::{info, warn};

use crate::queue::{Delivery, Fed, Queue, QueueError, WorkerStatus};
use crate::wire::{Job, Outcome, SeedFigures, WorkResult};

/// Least time between two status publications of a worker.
const STATUS_MIN_INTERVAL: Duration = Duration::from_millis(250);

/// How long one pull request waits on the server for jobs. Short, so a
/// stopping worker has few requests left open to answer; an idle worker
/// asks about once per this interval.
const PULL_EXPIRES: Duration = Duration::from_secs(1);

/// Pause after the queue refuses a request, before asking again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

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
    /// Results handed to the runtime and not yet stored and acknowledged.
    storing: AtomicU64,
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
    /// Wakes the dispatcher to see `stop`.
    wake: Arc<tokio::sync::Notify>,
    threads: Vec<std::thread::JoinHandle<()>>,
    status: tokio::task::JoinHandle<()>,
    counters: Arc<Counters>,
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
        let slots = opts.slots.max(1);
        let (job_tx, job_rx) = crossbeam_channel::bounded::<Delivery>(slots);
        let (idle_tx, idle_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut threads = Vec::new();
        for i in 0..slots {
            let (rt, queue, key, eval, stop, counters, job_rx, idle_tx) = (
                rt.clone(),
                queue.clone(),
                key.clone(),
                eval.clone(),
                stop.clone(),
                counters.clone(),
                job_rx.clone(),
                idle_tx.clone(),
            );
            let t = std::thread::Builder::new()
                .name(format!("ian-worker-{i}"))
                .stack_size(opts.stack_bytes)
                .spawn(move || {
                    let slot = Slot {
                        me: PublicKeyBytes::of(&key),
                        environment: eval.environment(),
                        progress_every: (queue.ack_wait() / 3).max(Duration::from_millis(100)),
                        rt,
                        queue,
                        key,
                        eval,
                        stop,
                        counters,
                        slots: slots as u64,
                    };
                    slot.serve(job_rx, idle_tx)
                })
                .map_err(|e| QueueError::JetStream {
                    op: "start evaluation thread",
                    reason: e.to_string(),
                })?;
            threads.push(t);
        }
        rt.spawn(dispatch(
            queue,
            slots,
            job_tx,
            idle_rx,
            stop.clone(),
            wake.clone(),
        ));
        info!(slots, worker = %me.to_hex(), "worker started");
        Ok(Worker {
            stop,
            wake,
            threads,
            status,
            counters,
        })
    }

    /// Finishes the running jobs, hands back the ones delivered but not
    /// started, waits (up to a minute) for the last results to be stored
    /// and acknowledged, and returns. The reporter publishes a last
    /// status. Call it outside the runtime's threads: it blocks.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        // Threads end when the dispatcher has closed their channel, after
        // its open requests are answered or expired.
        for t in self.threads {
            let _ = t.join();
        }
        let until = Instant::now() + Duration::from_secs(60);
        while self.counters.storing.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(self.status);
    }

    /// A flag that stops the worker when set (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

/// Asks for jobs for idle threads and hands them out, until stopped; then
/// hands back every job delivered but not started.
async fn dispatch(
    queue: Queue,
    slots: usize,
    jobs: crossbeam_channel::Sender<Delivery>,
    mut idle_rx: tokio::sync::mpsc::UnboundedReceiver<()>,
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut feed = loop {
        match queue.job_feed().await {
            Ok(f) => break f,
            Err(e) => {
                warn!(error = %e, "cannot subscribe for jobs; retrying");
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    };
    let mut idle = slots;
    let mut ready: VecDeque<Delivery> = VecDeque::new();
    let mut pause_until = tokio::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        while idle > 0 {
            let Some(d) = ready.pop_front() else { break };
            if jobs.send(d).is_err() {
                return;
            }
            idle -= 1;
        }
        let want = idle.saturating_sub(feed.outstanding());
        if want > 0
            && tokio::time::Instant::now() >= pause_until
            && let Err(e) = feed.request(want, PULL_EXPIRES).await
        {
            warn!(error = %e, "cannot ask for jobs; retrying");
            pause_until = tokio::time::Instant::now() + RETRY_PAUSE;
        }
        let now = tokio::time::Instant::now();
        let mut tick = feed.next_deadline().unwrap_or(now + PULL_EXPIRES);
        if idle > feed.outstanding() && pause_until > now {
            tick = tick.min(pause_until);
        }
        tokio::select! {
            freed = idle_rx.recv() => match freed {
                Some(()) => idle += 1,
                None => return,
            },
            fed = feed.next() => match fed {
                Some(Fed::Job(d)) => ready.push_back(*d),
                Some(Fed::Ended) => {}
                None => {
                    warn!("job subscription closed");
                    break;
                }
            },
            _ = tokio::time::sleep_until(tick) => {}
            _ = wake.notified() => {}
        }
    }
    // Stopping: jobs delivered but not started go straight back, and so do
    // any that still arrive for the requests left open.
    for d in ready {
        let _ = d.nak(Duration::ZERO).await;
    }
    while feed.outstanding() > 0 {
        let Some(until) = feed.next_deadline() else {
            break;
        };
        tokio::select! {
            fed = feed.next() => match fed {
                Some(Fed::Job(d)) => {
                    let _ = d.nak(Duration::ZERO).await;
                }
                Some(Fed::Ended) => {}
                None => break,
            },
            _ = tokio::time::sleep_until(until) => {}
        }
    }
    // Dropping `jobs` lets the threads end once they have handed back
    // anything still in the channel.
}

/// One evaluation thread.
struct Slot {
    rt: Handle,
    queue: Queue,
    key: SigningKey,
    eval: Arc<dyn Evaluate>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    /// Threads of this worker (results being stored are bounded by
    /// four times this).
    slots: u64,
    /// This worker's public key, derived once.
    me: PublicKeyBytes,
    /// Engine version, configuration hash and ABI signed into results.
    environment: (String, Hash32, String),
    /// How often a running job is progress-acked: a third of the
    /// consumer's own `ack_wait` (set by whoever created it).
    progress_every: Duration,
}

impl Slot {
    /// Runs the jobs the dispatcher hands over until it closes the
    /// channel, telling it each time this thread is idle again.
    fn serve(
        self,
        jobs: crossbeam_channel::Receiver<Delivery>,
        idle: tokio::sync::mpsc::UnboundedSender<()>,
    ) {
        while let Ok(delivery) = jobs.recv() {
            if self.stop.load(Ordering::SeqCst) {
                let _ = self.rt.block_on(delivery.nak(Duration::ZERO));
                let _ = idle.send(());
            } else {
                self.run(delivery, &idle);
            }
        }
    }

    /// Runs one job; its result is stored and the job acknowledged on the
    /// runtime, after this returns. `idle` is told as soon as the
    /// evaluation is over, so that the next job is on its way while this
    /// one's result is signed.
    fn run(&self, delivery: Delivery, idle: &tokio::sync::mpsc::UnboundedSender<()>) {
        let (rt, queue, counters) = (&self.rt, &self.queue, &self.counters);
        let job = match &delivery.job {
            Ok(j) => j.clone(),
            Err(e) => {
                warn!(error = %e, "malformed job; terminated");
                let _ = rt.block_on(delivery.term());
                let _ = idle.send(());
                return;
            }
        };
        let (engine_version, config_hash, abi_version) = self.environment.clone();
        let progress_every = self.progress_every;
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
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.eval.run(&job, &fetch)))
                .unwrap_or_else(|_| Ran::host_error("the evaluation panicked on this worker"));
        let elapsed_us = started.elapsed().as_micros() as u64;
        let _ = idle.send(());
        counters.busy.fetch_sub(1, Ordering::Relaxed);
        counters.busy_us.fetch_add(elapsed_us, Ordering::Relaxed);
        if let Some(why) = ran.inconclusive_reason() {
            // No verdict on this worker (an input missing, the machine
            // busy, ...): nothing is stored, the job goes back to the
            // queue for another delivery (up to max_deliver).
            warn!(job = %job.id(), reason = %why, "no verdict on this worker; job handed back");
            let _ = done_tx.send(());
            let _ = rt.block_on(progress);
            let _ = rt.block_on(delivery.nak(Duration::from_secs(1)));
            counters.failures.fetch_add(1, Ordering::Relaxed);
            counters.changed.notify_one();
            return;
        }
        let signed = WorkResult {
            job: job.id(),
            worker: self.me,
            engine_version,
            config_hash,
            abi_version,
            outcome: ran.outcome,
            seeds: ran.seeds,
            fuel: ran.fuel,
            elapsed_us,
        }
        .sign(&self.key);
        // Storing and acknowledging overlap the next job. This thread
        // waits only while four results per thread are still on their way
        // (a slow or unreachable server).
        while counters.storing.load(Ordering::SeqCst) >= 4 * self.slots {
            std::thread::sleep(Duration::from_millis(1));
        }
        counters.storing.fetch_add(1, Ordering::SeqCst);
        let (queue, counters) = (queue.clone(), counters.clone());
        rt.spawn(async move {
            let stored = queue.put_result(&signed).await;
            let _ = done_tx.send(());
            let _ = progress.await;
            match stored {
                Ok(()) => {
                    if let Err(e) = delivery.ack().await {
                        // The result is stored; a redelivery only stores it again.
                        warn!(job = %job.id(), error = %e, "job ack not confirmed");
                    }
                    counters.jobs.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    warn!(job = %job.id(), error = %e, "result not stored; the job will be redelivered");
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    let _ = delivery.nak(Duration::from_secs(1)).await;
                }
            }
            counters.storing.fetch_sub(1, Ordering::SeqCst);
            counters.changed.notify_one();
        });
    }
}
