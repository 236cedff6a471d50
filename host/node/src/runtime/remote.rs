//! The node's side of evaluation workers (`[workers]`): it publishes each
//! admitted submission as a job, waits for a signed result, checks who
//! signed it and in which environment, and hands the verdict to the same
//! pipeline the embedded pool feeds.
//!
//! Architecture Invariant: the node stays the only sequencer. Workers never
//! touch a log; a result is a verdict the node may refuse (unknown key,
//! another engine or configuration hash, a flagged worker) and the entry is
//! appended by the node's own group commit. Commits of worker results
//! happen in submission order per goal ([`Sequencer`]), so which worker is
//! faster never reorders a log.
//!
//! Architecture Invariant: a job's id is SHA-256(goal hash ‖ pack hash), so
//! a repeated publish (a client retrying, a node restarted with jobs in
//! flight) is de-duplicated by JetStream and finds the stored result rather
//! than evaluating twice; a result stored twice (a job redelivered after a
//! worker died) is the same key with the same bits, and the pipeline's
//! commit refuses a pack already in the log.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ian_core::pipeline::{Evaluator, InvariantChecker, InvariantFailure};
use ian_core::{
    AgentPack, Failure, GoalManifest, Hash32, Inconclusive, InconclusiveCause, PublicKeyBytes,
    Verdict,
};
use ian_workers::{
    Depth, Job, Outcome, Queue, QueueConfig, SignedResult, WorkResult, WorkerStatus,
};
use parking_lot::{Condvar, Mutex};
use tracing::{error, info, warn};

use crate::runtime::config::WorkersSection;
use crate::runtime::judge::{CodeSource, Judge, LoadedGoal, run_stages};

/// How often a waiting submission also reads the result bucket.
const RESULT_POLL: Duration = Duration::from_secs(1);

/// Waiters for results, by job id.
type Waiters = Arc<Mutex<HashMap<Hash32, Vec<crossbeam_channel::Sender<Bytes>>>>>;

/// Per-goal ticket order: a submission takes a ticket when its job is
/// published and commits only once every earlier ticket is done.
#[derive(Default)]
pub struct Sequencer {
    state: Mutex<SeqState>,
    turn: Condvar,
}

#[derive(Default)]
struct SeqState {
    next: u64,
    serving: u64,
    done: std::collections::BTreeSet<u64>,
}

/// A ticket; dropping it lets the next one commit.
pub struct Turn {
    seq: Arc<Sequencer>,
    ticket: u64,
}

impl Sequencer {
    fn take(self: &Arc<Self>) -> Turn {
        let mut s = self.state.lock();
        let ticket = s.next;
        s.next += 1;
        Turn {
            seq: self.clone(),
            ticket,
        }
    }
}

impl Turn {
    /// Blocks until every earlier ticket is done.
    pub fn wait(&self) {
        let mut s = self.seq.state.lock();
        while s.serving != self.ticket {
            self.seq.turn.wait(&mut s);
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut s = self.seq.state.lock();
        s.done.insert(self.ticket);
        loop {
            let serving = s.serving;
            if !s.done.remove(&serving) {
                break;
            }
            s.serving += 1;
        }
        self.seq.turn.notify_all();
    }
}

/// Counters and gauges for `/metrics` and `GET /api/v1/workers`.
#[derive(Default)]
pub struct RemoteStats {
    /// Submissions waiting for a worker's result now.
    pub waiting: AtomicU64,
    /// Jobs published (not counting de-duplicated ones).
    pub published: AtomicU64,
    /// Publishes JetStream dropped as duplicates.
    pub duplicates: AtomicU64,
    /// Submissions that got no usable result in time.
    pub timed_out: AtomicU64,
    /// Results by (worker key hex, disposition).
    pub results: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// The queue as JetStream last reported it.
    pub depth: Mutex<Option<Depth>>,
    /// Workers as they last reported.
    pub statuses: Mutex<Vec<WorkerStatus>>,
}

impl RemoteStats {
    fn count(&self, worker: &str, what: &'static str) {
        *self
            .results
            .lock()
            .entry((worker.to_string(), what))
            .or_default() += 1;
    }
}

/// The node's connection to its workers.
pub struct Remote {
    rt: Option<tokio::runtime::Runtime>,
    queue: Queue,
    keys: HashSet<PublicKeyBytes>,
    flagged: Mutex<HashSet<PublicKeyBytes>>,
    waiters: Waiters,
    uploaded: Mutex<HashSet<Hash32>>,
    sequencers: Mutex<HashMap<String, Arc<Sequencer>>>,
    timeout: Duration,
    /// The consumer's `ack_wait` as last read or raised, in ms.
    ack_wait_ms: AtomicU64,
    /// Most `ack_wait` is raised to.
    max_ack_wait: Duration,
    /// Times a job is published again after refused results.
    max_republish: u32,
    verify_sample: f64,
    sampler: std::collections::hash_map::RandomState,
    engine: (String, Hash32, String),
    /// Counters and gauges.
    pub stats: Arc<RemoteStats>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        // A runtime may not be dropped inside another one's context.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Allowance on top of a goal's sandbox runs for what the backstop does
/// not time: fetching the job's inputs (compiling them is covered by the
/// progress acks a worker sends all through a job).
const JOB_MARGIN: Duration = Duration::from_secs(1);

/// The longest a job on `m` can hold a worker: each of its sandbox runs
/// (every seed, every invariant, and the code check) is stopped by the
/// goal's wall-clock backstop at the latest, plus [`JOB_MARGIN`]. The
/// queue's `ack_wait` is raised to cover it, and the node waits at least
/// this long for the job's result.
pub fn worst_case(m: &GoalManifest) -> Duration {
    let runs = m.harness.seeds.len() as u64 + m.invariants.len() as u64 + 1;
    Duration::from_millis(runs.saturating_mul(m.limits.wall_backstop_ms)) + JOB_MARGIN
}

/// The queue settings of a node's `[workers]` section.
pub fn queue_config(w: &WorkersSection) -> QueueConfig {
    QueueConfig {
        ack_wait: Duration::from_millis(w.ack_wait_ms),
        max_deliver: w.max_deliver.min(i64::MAX as u64) as i64,
        duplicate_window: Duration::from_millis(w.duplicate_window_ms),
        ..QueueConfig::new(w.nats.trim())
    }
}

impl Remote {
    /// Connects to NATS, sets up the queue and starts listening for
    /// results; `judge` gives the environment results must match.
    pub fn connect(w: &WorkersSection, judge: &Judge) -> Result<Remote, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ian-nats")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the NATS runtime: {e}"))?;
        let keys = w
            .key_list()?
            .into_iter()
            .collect::<HashSet<PublicKeyBytes>>();
        let queue = rt
            .block_on(Queue::connect(queue_config(w)))
            .map_err(|e| format!("workers.nats: {e}"))?;
        let waiters: Waiters = Arc::default();
        let stats = Arc::new(RemoteStats::default());
        {
            let waiters = waiters.clone();
            rt.block_on(queue.listen_results(move |job, payload| {
                if let Some(ws) = waiters.lock().get(&job) {
                    for w in ws {
                        let _ = w.try_send(payload.clone());
                    }
                }
            }))
            .map_err(|e| format!("workers.nats: {e}"))?;
        }
        {
            let (queue, stats) = (queue.clone(), stats.clone());
            rt.spawn(async move {
                loop {
                    if let Ok(d) = queue.depth().await {
                        *stats.depth.lock() = Some(d);
                    }
                    if let Ok(s) = queue.statuses().await {
                        *stats.statuses.lock() = s;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            });
        }
        let ack_wait_ms = AtomicU64::new(queue.ack_wait().as_millis() as u64);
        Ok(Remote {
            rt: Some(rt),
            queue,
            keys,
            flagged: Mutex::default(),
            waiters,
            uploaded: Mutex::default(),
            sequencers: Mutex::default(),
            timeout: Duration::from_millis(w.result_timeout_ms),
            ack_wait_ms,
            max_ack_wait: Duration::from_millis(w.max_ack_wait_ms),
            max_republish: w.max_deliver.min(u64::from(u32::MAX)) as u32,
            verify_sample: w.verify_sample,
            sampler: std::collections::hash_map::RandomState::new(),
            engine: (
                judge.engine_version(),
                judge.config_hash(),
                judge.abi_version().to_string(),
            ),
            stats,
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime lives until drop")
    }

    /// Whether submissions to `m` go to workers. A goal with a dataset is
    /// evaluated by the node itself: workers carry components and code,
    /// not datasets.
    pub fn serves(&self, m: &GoalManifest) -> bool {
        m.harness.dataset.is_none()
    }

    /// What `GET /api/v1/node` shows of the workers.
    pub fn info(&self) -> crate::runtime::views::WorkersInfo {
        let hex = |s: &HashSet<PublicKeyBytes>| {
            let mut v: Vec<String> = s.iter().map(|k| k.to_hex()).collect();
            v.sort();
            v
        };
        crate::runtime::views::WorkersInfo {
            keys: hex(&self.keys),
            flagged: hex(&self.flagged.lock()),
            verify_sample: self.verify_sample,
        }
    }

    fn sequencer(&self, goal: &str) -> Arc<Sequencer> {
        self.sequencers
            .lock()
            .entry(goal.to_string())
            .or_default()
            .clone()
    }

    /// Uploads the object `hash` unless this node already has; the bytes
    /// are read only then (an agent's code is hashed and read once, not
    /// per submission).
    fn upload(
        &self,
        hash: Hash32,
        bytes: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        if self.uploaded.lock().contains(&hash) {
            return Ok(());
        }
        let b = bytes()?;
        let put = self
            .rt()
            .block_on(self.queue.put_object(&b))
            .map_err(|e| e.to_string())?;
        if put != hash {
            return Err(format!("object {hash} has other bytes ({put})"));
        }
        self.uploaded.lock().insert(hash);
        Ok(())
    }

    /// Everything a worker fetches for a job on `m`: the manifest under its
    /// goal hash, the harness and invariant components, the agent's code.
    fn upload_inputs(
        &self,
        m: &GoalManifest,
        goal_hash: Hash32,
        blob: &dyn Fn(Hash32) -> Option<Vec<u8>>,
        code_hash: Hash32,
        code: &dyn Fn() -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        self.upload(goal_hash, || Ok(m.to_canonical_bytes()))?;
        let mut components = vec![m.harness.component];
        components.extend(m.invariants.iter().map(|i| i.component));
        for h in components {
            self.upload(h, || {
                blob(h).ok_or_else(|| format!("component {h} is not in the store"))
            })?;
        }
        self.upload(code_hash, code)
    }

    /// Why a result is not taken, or `None` when it is.
    fn refusal(&self, r: &WorkResult, job: &Hash32) -> Option<String> {
        if r.job != *job {
            return Some(format!("answers job {} instead", r.job));
        }
        if !self.keys.contains(&r.worker) {
            return Some(format!(
                "signed by {}, which is not in workers.keys",
                r.worker.to_hex()
            ));
        }
        if self.flagged.lock().contains(&r.worker) {
            return Some(format!(
                "signed by {}, flagged for a result that differed from the node's",
                r.worker.to_hex()
            ));
        }
        let (engine, config, abi) = &self.engine;
        if r.engine_version != *engine || r.config_hash != *config || r.abi_version != *abi {
            return Some(format!(
                "evaluated with {} / config {} / {}, the node runs {engine} / config {config} / {abi}",
                r.engine_version, r.config_hash, r.abi_version
            ));
        }
        None
    }

    /// Makes the consumer's `ack_wait` at least `worst`, up to
    /// `workers.max_ack_wait_ms` (one request, the first time a goal needs
    /// more than the queue has).
    fn cover(&self, worst: Duration) -> Result<(), String> {
        let worst = worst.min(self.max_ack_wait);
        if worst.as_millis() as u64 <= self.ack_wait_ms.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now = self
            .rt()
            .block_on(self.queue.raise_ack_wait(worst))
            .map_err(|e| e.to_string())?;
        info!(
            ack_wait_ms = now.as_millis() as u64,
            "raised the work queue's ack_wait to a goal's worst case"
        );
        self.ack_wait_ms
            .fetch_max(now.as_millis() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Publishes the job and waits for an acceptable result. The ticket is
    /// taken before the publish, so tickets follow publish order.
    fn run(
        &self,
        goal_id: &str,
        m: &GoalManifest,
        pack: &AgentPack,
        code: &dyn Fn() -> Result<Vec<u8>, String>,
        blob: &dyn Fn(Hash32) -> Option<Vec<u8>>,
    ) -> (Turn, Result<WorkResult, Inconclusive>) {
        let turn = self.sequencer(goal_id).take();
        let busy = |why: String| Inconclusive::new(InconclusiveCause::HostBusy, why);
        let goal_hash = m.goal_hash();
        if let Err(e) = self.upload_inputs(m, goal_hash, blob, pack.code_hash(), code) {
            return (turn, Err(busy(format!("evaluation workers: {e}"))));
        }
        let worst = worst_case(m);
        if let Err(e) = self.cover(worst) {
            return (turn, Err(busy(format!("evaluation workers: {e}"))));
        }
        let job = Job {
            goal_hash,
            pack: pack.clone(),
        };
        let id = job.id();
        let (tx, rx) = crossbeam_channel::bounded::<Bytes>(16);
        self.waiters.lock().entry(id).or_default().push(tx.clone());
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let result = self.wait(
            &job,
            &tx,
            &rx,
            self.timeout.max(worst.min(self.max_ack_wait)),
        );
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        {
            let mut w = self.waiters.lock();
            if let Some(v) = w.get_mut(&id) {
                v.retain(|s| !s.same_channel(&tx));
                if v.is_empty() {
                    w.remove(&id);
                }
            }
        }
        (turn, result)
    }

    fn wait(
        &self,
        job: &Job,
        tx: &crossbeam_channel::Sender<Bytes>,
        rx: &crossbeam_channel::Receiver<Bytes>,
        timeout: Duration,
    ) -> Result<WorkResult, Inconclusive> {
        let id = job.id();
        let busy = |why: String| Inconclusive::new(InconclusiveCause::HostBusy, why);
        match self.rt().block_on(self.queue.publish(job)) {
            Ok(false) => {
                self.stats.published.fetch_add(1, Ordering::Relaxed);
            }
            Ok(true) => {
                // Published before (a retry, a restarted node): its result
                // may be stored already; otherwise it is still queued or
                // running, and its result will arrive on the subscription.
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                if let Ok(Some(b)) = self.rt().block_on(self.queue.result(&id)) {
                    let _ = tx.try_send(b);
                }
            }
            Err(e) => return Err(busy(format!("evaluation workers: {e}"))),
        }
        let deadline = Instant::now() + timeout;
        // Results already refused (by the hash of their bytes), so reading
        // the bucket again does not refuse and republish them again.
        let mut refused = HashSet::new();
        let mut republished = 0u32;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                return Err(busy(format!(
                    "no evaluation worker answered job {id} within {} ms (workers.result_timeout_ms, or the goal's worst case when longer); retry later",
                    timeout.as_millis()
                )));
            }
            let bytes = match rx.recv_timeout(left.min(RESULT_POLL)) {
                Ok(b) => b,
                // A result stored while the subscription was down (NATS
                // reconnecting) is in the bucket all the same.
                Err(_) => match self.rt().block_on(self.queue.result(&id)) {
                    Ok(Some(b)) => b,
                    _ => continue,
                },
            };
            if bytes.is_empty() || !refused.insert(ian_core::sha256(&bytes)) {
                continue;
            }
            let why = match SignedResult::from_bytes(&bytes) {
                Ok(s) => match self.refusal(&s.result, &id) {
                    None => return Ok(s.result),
                    Some(why) => {
                        self.stats.count(&self.label(&s.result.worker), "refused");
                        why
                    }
                },
                Err(e) => e.to_string(),
            };
            warn!(job = %id, reason = %why, "worker result refused");
            // The refused result took the job off the queue: publish it
            // again for a worker the node trusts, a bounded number of times.
            if republished < self.max_republish {
                republished += 1;
                if let Err(e) = self.rt().block_on(self.queue.republish(job, republished)) {
                    warn!(job = %id, error = %e, "job not published again");
                }
            }
        }
    }

    /// The `worker` label of a key: its hex when listed, `unknown`
    /// otherwise (anyone can make keys; the label set stays bounded).
    fn label(&self, worker: &PublicKeyBytes) -> String {
        if self.keys.contains(worker) {
            worker.to_hex()
        } else {
            "unknown".into()
        }
    }

    /// Whether this job's result is re-evaluated by the node: a fraction
    /// `verify_sample` of jobs, chosen by a per-process secret so a worker
    /// cannot tell which.
    fn sampled(&self, job: &Hash32) -> bool {
        if self.verify_sample <= 0.0 {
            return false;
        }
        let x = self.sampler.hash_one(job.0) as f64 / u64::MAX as f64;
        x < self.verify_sample
    }

    /// Compares a worker's result with the node's own run; on a difference
    /// the worker is flagged and the node's result is used. A run of the
    /// node's own that reached no verdict proves nothing either way.
    fn verified(&self, r: WorkResult, own: ian_workers::Ran) -> WorkResult {
        if own.inconclusive_reason().is_some() {
            self.stats.count(&r.worker.to_hex(), "unverified");
            return r;
        }
        let mine = WorkResult {
            outcome: own.outcome,
            seeds: own.seeds,
            fuel: own.fuel,
            ..r.clone()
        };
        if mine.to_bytes() == r.to_bytes() {
            self.stats.count(&r.worker.to_hex(), "verified");
            return r;
        }
        error!(
            worker = %r.worker.to_hex(),
            job = %r.job,
            "worker result differs from the node's own evaluation; worker flagged, the node's result is used"
        );
        self.stats.count(&r.worker.to_hex(), "mismatch");
        self.flagged.lock().insert(r.worker);
        mine
    }

    /// Samples for `/metrics`.
    pub fn samples(&self) -> Vec<crate::runtime::metrics::Sample> {
        use crate::runtime::metrics::Sample;
        let st = &self.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let depth = (*st.depth.lock()).unwrap_or_default();
        let mut out = vec![
            Sample::gauge(
                "ian_workers_queue_depth",
                "Jobs in the JetStream work queue not yet delivered to a worker.",
                depth.pending as f64,
            ),
            Sample::gauge(
                "ian_workers_jobs_in_flight",
                "Jobs delivered to workers and not yet acknowledged.",
                depth.in_flight as f64,
            ),
            Sample::gauge(
                "ian_workers_jobs_redelivered",
                "Unacknowledged jobs delivered more than once (a worker died or went silent past ack_wait).",
                depth.redelivered as f64,
            ),
            Sample::gauge(
                "ian_workers_ack_wait_seconds",
                "The work queue's ack_wait: how long a job's worker may go silent before the job goes to another (at least workers.ack_wait_ms, raised to the longest goal's worst case).",
                depth.ack_wait.as_secs_f64(),
            ),
            Sample::gauge(
                "ian_workers_waiting",
                "Submissions on this node waiting for a worker's result.",
                get(&st.waiting) as f64,
            ),
            Sample::counter(
                "ian_workers_jobs_published",
                "Jobs published to the work queue.",
                get(&st.published),
            ),
            Sample::counter(
                "ian_workers_jobs_deduplicated",
                "Publishes JetStream dropped as duplicates (a retry or restart found the job or its result).",
                get(&st.duplicates),
            ),
            Sample::counter(
                "ian_workers_timeouts",
                "Submissions that got no usable worker result within workers.result_timeout_ms.",
                get(&st.timed_out),
            ),
        ];
        for ((worker, what), n) in st.results.lock().iter() {
            out.push(Sample {
                labels: vec![("worker", worker.clone()), ("result", (*what).to_string())],
                ..Sample::counter(
                    "ian_workers_results",
                    "Worker results by worker key (`unknown` for keys not in workers.keys) and what the node did with them (accepted, refused, verified, unverified, mismatch).",
                    *n,
                )
            });
        }
        let statuses = st.statuses.lock().clone();
        for (name, help, f) in [
            (
                "ian_worker_jobs",
                "Jobs a worker has answered since it started (its last status).",
                (|s: &WorkerStatus| s.jobs as f64) as fn(&WorkerStatus) -> f64,
            ),
            (
                "ian_worker_failures",
                "Jobs a worker handed back without a verdict (an input missing, the machine busy, a panic) or could not store the result of.",
                |s: &WorkerStatus| s.failures as f64,
            ),
            (
                "ian_worker_busy",
                "Jobs a worker is running (its last status).",
                |s: &WorkerStatus| s.busy as f64,
            ),
            (
                "ian_worker_seen_timestamp_seconds",
                "When a worker last reported (Unix seconds).",
                |s: &WorkerStatus| s.seen_ms as f64 / 1e3,
            ),
        ] {
            for s in &statuses {
                out.push(Sample {
                    labels: vec![("worker", s.worker.clone()), ("name", s.name.clone())],
                    value: f(s),
                    counter: name.ends_with("jobs") || name.ends_with("failures"),
                    ..Sample::gauge(name, help, 0.0)
                });
            }
        }
        out
    }
}

/// The pipeline's evaluator for one contribution when workers evaluate:
/// the first question the pipeline asks (step 2) publishes the job and
/// waits; steps 3 and 5 read the same result.
pub struct RemoteEvaluator<'a> {
    remote: &'a Remote,
    judge: &'a Judge,
    goal_id: &'a str,
    loaded: &'a LoadedGoal,
    code: CodeSource<'a>,
    blob: &'a dyn Fn(Hash32) -> Option<Vec<u8>>,
    result: OnceCell<Result<WorkResult, Inconclusive>>,
    turn: RefCell<Option<Turn>>,
}

impl<'a> RemoteEvaluator<'a> {
    /// An evaluator that sends packs of `goal_id` to workers.
    pub fn new(
        remote: &'a Remote,
        judge: &'a Judge,
        goal_id: &'a str,
        loaded: &'a LoadedGoal,
        code: CodeSource<'a>,
        blob: &'a dyn Fn(Hash32) -> Option<Vec<u8>>,
    ) -> Self {
        RemoteEvaluator {
            remote,
            judge,
            goal_id,
            loaded,
            code,
            blob,
            result: OnceCell::new(),
            turn: RefCell::new(None),
        }
    }

    fn code_bytes(&self, pack: &AgentPack) -> Result<Vec<u8>, Inconclusive> {
        match &self.code {
            CodeSource::Bytes(b) => Ok(b.to_vec()),
            CodeSource::Store(s) => s.blob(&pack.code_hash().0).ok().flatten().ok_or_else(|| {
                Inconclusive::new(
                    InconclusiveCause::HostError,
                    format!(
                        "agent code {} is not available on this node",
                        pack.code_hash()
                    ),
                )
            }),
        }
    }

    fn result(&self, m: &GoalManifest, pack: &AgentPack) -> Result<&WorkResult, Inconclusive> {
        self.result
            .get_or_init(|| {
                let code = || self.code_bytes(pack).map_err(|i| i.message);
                let (turn, r) = self.remote.run(self.goal_id, m, pack, &code, self.blob);
                *self.turn.borrow_mut() = Some(turn);
                let r = r?;
                let r = if self.remote.sampled(&r.job) {
                    let own = run_stages(self.judge, self.loaded, m, pack, &self.code_bytes(pack)?);
                    self.remote.verified(r, own)
                } else {
                    r
                };
                self.remote.stats.count(&r.worker.to_hex(), "accepted");
                Ok(r)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Waits until every submission published before this one has been
    /// committed or refused (no-op when no job was published).
    pub fn wait_turn(&self) {
        if let Some(t) = self.turn.borrow().as_ref() {
            t.wait();
        }
    }

    /// Lets the next submission commit.
    pub fn release_turn(&self) {
        self.turn.borrow_mut().take();
    }

    /// Agent fuel of the evaluation, when it ran.
    pub fn fuel(&self) -> Option<u64> {
        match self.result.get()? {
            Ok(r) if matches!(r.outcome, Outcome::Evaluated(_)) => Some(r.fuel),
            _ => None,
        }
    }

    /// Per-seed figures of the evaluation, when it ran to the end.
    pub fn seed_figures(&self) -> Option<Vec<ian_workers::SeedFigures>> {
        match self.result.get()? {
            Ok(r) if !r.seeds.is_empty() => Some(r.seeds.clone()),
            _ => None,
        }
    }
}

impl Evaluator for RemoteEvaluator<'_> {
    fn validate_code(&self, m: &GoalManifest, pack: &AgentPack, _: &Hash32) -> Result<(), Failure> {
        match &self.result(m, pack)?.outcome {
            Outcome::Code(f) => Err(f.clone()),
            _ => Ok(()),
        }
    }

    fn evaluate(&self, m: &GoalManifest, pack: &AgentPack, _: &Hash32) -> Verdict {
        match self.result(m, pack) {
            Ok(r) => r.verdict(),
            Err(i) => Verdict::Inconclusive(i),
        }
    }
}

impl InvariantChecker for RemoteEvaluator<'_> {
    fn check(
        &self,
        m: &GoalManifest,
        pack: &AgentPack,
        _: &Hash32,
    ) -> Result<(), InvariantFailure> {
        match self.result(m, pack) {
            Ok(WorkResult {
                outcome: Outcome::Invariant { name, failure },
                ..
            }) => Err(InvariantFailure {
                invariant: name.clone(),
                failure: failure.clone(),
            }),
            Ok(_) => Ok(()),
            Err(i) => Err(InvariantFailure {
                invariant: m
                    .invariants
                    .first()
                    .map(|i| i.name.clone())
                    .unwrap_or_default(),
                failure: Failure::Inconclusive(i),
            }),
        }
    }
}

/// `ian-host worker`'s evaluation: the goal's manifest and components and
/// the agent's code fetched by hash, then [`run_stages`] on this machine's
/// sandbox.
pub struct SandboxWork {
    judge: Judge,
    goals: Mutex<HashMap<Hash32, Arc<(GoalManifest, LoadedGoal)>>>,
    /// Agent code by hash, so a code sent with many packs is fetched from
    /// the object store once; bounded by [`WORKER_CODE_BYTES`].
    code: Mutex<(CodeCache, usize)>,
}

/// Agent code by hash.
type CodeCache = HashMap<Hash32, Arc<Vec<u8>>>;

/// Agent code a worker keeps in memory (bytes); when full it starts over.
const WORKER_CODE_BYTES: usize = 256 << 20;

/// Goals a worker keeps compiled.
const WORKER_GOALS: usize = 64;

impl SandboxWork {
    /// Evaluates with `judge` (built from the same `[sandbox]` settings as
    /// the node's, or its results are refused).
    pub fn new(judge: Judge) -> SandboxWork {
        SandboxWork {
            judge,
            goals: Mutex::default(),
            code: Mutex::default(),
        }
    }

    fn goal(
        &self,
        hash: &Hash32,
        fetch: ian_workers::worker::Fetch<'_>,
    ) -> Result<Arc<(GoalManifest, LoadedGoal)>, String> {
        if let Some(g) = self.goals.lock().get(hash) {
            return Ok(g.clone());
        }
        let bytes = fetch(hash).map_err(|e| format!("goal manifest: {e}"))?;
        let m = GoalManifest::from_canonical_bytes(&bytes)
            .map_err(|e| format!("goal manifest {hash}: {e}"))?;
        if m.harness.dataset.is_some() {
            return Err(format!(
                "goal {hash} has a dataset; workers do not carry datasets (the node evaluates it)"
            ));
        }
        let loaded = self
            .judge
            .load_goal(&m, &|h| fetch(&h).ok(), None)
            .map_err(|e| format!("goal {hash}: {e}"))?;
        let g = Arc::new((m, loaded));
        let mut goals = self.goals.lock();
        if goals.len() >= WORKER_GOALS {
            goals.clear();
        }
        goals.insert(*hash, g.clone());
        Ok(g)
    }
}

impl ian_workers::Evaluate for SandboxWork {
    fn run(&self, job: &Job, fetch: ian_workers::worker::Fetch<'_>) -> ian_workers::Ran {
        let g = match self.goal(&job.goal_hash, fetch) {
            Ok(g) => g,
            Err(e) => return ian_workers::Ran::host_error(e),
        };
        let h = job.pack.code_hash();
        let cached = self.code.lock().0.get(&h).cloned();
        let code = match cached {
            Some(c) => c,
            None => match fetch(&h) {
                Ok(c) => {
                    let c = Arc::new(c);
                    let mut cache = self.code.lock();
                    if cache.1 + c.len() > WORKER_CODE_BYTES {
                        *cache = Default::default();
                    }
                    cache.1 += c.len();
                    cache.0.insert(h, c.clone());
                    c
                }
                Err(e) => return ian_workers::Ran::host_error(format!("agent code: {e}")),
            },
        };
        run_stages(&self.judge, &g.1, &g.0, &job.pack, &code)
    }

    fn environment(&self) -> (String, Hash32, String) {
        (
            self.judge.engine_version(),
            self.judge.config_hash(),
            self.judge.abi_version().to_string(),
        )
    }
}
