//! The JetStream side: one work-queue stream of jobs, one durable pull
//! consumer shared by every worker, a key-value bucket of signed results
//! keyed by job id, a key-value bucket of worker statuses, and an object
//! store of everything a job names by hash (goal manifests, harness and
//! invariant components, agent code).
//!
//! Architecture Invariant: a job names its inputs only by hash and a
//! reader checks every object it gets against the hash it asked for, so
//! the object store is a cache that cannot change an evaluation.
//!
//! Why objects instead of job payloads: a NATS message is capped at 1 MiB
//! by default and a Python agent is 18 MB; the object store chunks it, and
//! an agent's code is uploaded once however many jobs name it.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use ian_core::Hash32;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::wire::{Job, SignedResult};

/// The work-queue stream.
pub const STREAM: &str = "IAN_JOBS";
/// The subject jobs are published on.
pub const SUBJECT: &str = "ian.jobs";
/// The durable pull consumer every worker shares.
pub const CONSUMER: &str = "ian-workers";
/// Signed results, keyed by job id (hex).
pub const RESULTS: &str = "ian-results";
/// Worker statuses, keyed by worker key (hex).
pub const STATUSES: &str = "ian-worker-status";
/// Objects by SHA-256 (hex).
pub const OBJECTS: &str = "ian-objects";

/// How the queue is set up. The node creates (or updates) the stream and
/// consumer with these; workers only attach.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// NATS server URL(s), comma-separated.
    pub url: String,
    /// How long a delivered job may go without an ack or a progress ack
    /// before JetStream hands it to another worker.
    pub ack_wait: Duration,
    /// Deliveries of one job before JetStream gives up on it.
    pub max_deliver: i64,
    /// Window in which a second publish of the same job id is dropped.
    pub duplicate_window: Duration,
    /// How long a result stays in the result bucket.
    pub result_ttl: Duration,
    /// How long to wait for the server on connect and for each request.
    pub request_timeout: Duration,
}

impl QueueConfig {
    /// Defaults (docs/OPERATOR.md) for `url`.
    pub fn new(url: impl Into<String>) -> QueueConfig {
        QueueConfig {
            url: url.into(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            duplicate_window: Duration::from_secs(120),
            result_ttl: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// What went wrong talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Could not connect.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A JetStream request failed.
    #[error("NATS JetStream {op}: {reason}")]
    JetStream {
        /// What was asked.
        op: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// An object's bytes do not hash to its name.
    #[error("object {0} in the object store does not match its hash")]
    Corrupt(String),
    /// An object is not in the store.
    #[error("object {0} is not in the object store")]
    MissingObject(String),
}

fn js_err(op: &'static str) -> impl FnOnce(String) -> QueueError {
    move |reason| QueueError::JetStream { op, reason }
}

/// A worker's self-reported status, in the status bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkerStatus {
    /// Worker public key (hex).
    pub worker: String,
    /// Human name (`--name`, default the host name).
    pub name: String,
    /// Engine version it evaluates with.
    pub engine_version: String,
    /// Its sandbox configuration hash (hex).
    pub config_hash: String,
    /// Evaluation threads.
    pub slots: u64,
    /// Jobs it is running now.
    pub busy: u64,
    /// Jobs it has answered since it started.
    pub jobs: u64,
    /// Jobs handed back without a verdict (an input missing, the machine
    /// busy, a panic) or whose result could not be stored.
    pub failures: u64,
    /// Sum of its jobs' wall time, microseconds.
    pub busy_us: u64,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// When it last reported (ms since the epoch).
    pub seen_ms: u64,
}

/// A delivered job, to be acknowledged once its result is stored.
#[derive(Clone)]
pub struct Delivery {
    /// The job, or why its bytes do not decode.
    pub job: Result<Job, ian_core::DecodeError>,
    msg: jetstream::Message,
}

impl Delivery {
    /// Done: the queue drops the job. Not confirmed by the server: the
    /// result is stored before this, so an ack lost on the way only means
    /// one more delivery, which stores the same result again.
    pub async fn ack(&self) -> Result<(), QueueError> {
        self.msg
            .ack()
            .await
            .map_err(|e| js_err("ack job")(e.to_string()))
    }

    /// Still working: restarts the job's `ack_wait`.
    pub async fn progress(&self) -> Result<(), QueueError> {
        self.msg
            .ack_with(jetstream::AckKind::Progress)
            .await
            .map_err(|e| js_err("progress ack")(e.to_string()))
    }

    /// Hand the job back for redelivery after `delay` (at once when zero).
    pub async fn nak(&self, delay: Duration) -> Result<(), QueueError> {
        let delay = (!delay.is_zero()).then_some(delay);
        self.msg
            .ack_with(jetstream::AckKind::Nak(delay))
            .await
            .map_err(|e| js_err("nak job")(e.to_string()))
    }

    /// Never deliver again (a malformed job).
    pub async fn term(&self) -> Result<(), QueueError> {
        self.msg
            .ack_with(jetstream::AckKind::Term)
            .await
            .map_err(|e| js_err("terminate job")(e.to_string()))
    }
}

/// Queue depth as JetStream counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Jobs waiting for a worker.
    pub pending: u64,
    /// Jobs delivered and not yet acknowledged (being evaluated).
    pub in_flight: u64,
    /// Deliveries beyond the first (a worker died or was slow).
    pub redelivered: u64,
    /// The consumer's `ack_wait` now.
    pub ack_wait: Duration,
}

/// A connection to the queue.
#[derive(Clone)]
pub struct Queue {
    client: async_nats::Client,
    js: jetstream::Context,
    results: kv::Store,
    statuses: kv::Store,
    objects: object_store::ObjectStore,
    /// The pull consumer, looked up once: every pull would otherwise cost
    /// two more JetStream API round trips.
    consumer: consumer::PullConsumer,
    cfg: QueueConfig,
}

impl Queue {
    /// The consumer's `ack_wait` as JetStream holds it (set by whoever
    /// created the consumer; later connections do not change it).
    pub fn ack_wait(&self) -> Duration {
        self.consumer.cached_info().config.ack_wait
    }
}

impl Queue {
    /// Connects and creates (or attaches to) the stream, the consumer and
    /// the buckets.
    pub async fn connect(cfg: QueueConfig) -> Result<Queue, QueueError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(cfg.request_timeout)
            .request_timeout(Some(cfg.request_timeout))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .name("ian")
            .connect(cfg.url.as_str());
        let client = tokio::time::timeout(cfg.request_timeout, client)
            .await
            .map_err(|_| QueueError::Connect {
                url: cfg.url.clone(),
                reason: format!("no answer within {:?}", cfg.request_timeout),
            })?
            .map_err(|e| QueueError::Connect {
                url: cfg.url.clone(),
                reason: e.to_string(),
            })?;
        let js = jetstream::new(client.clone());
        let setup = async {
            js.get_or_create_stream(stream::Config {
                name: STREAM.into(),
                subjects: vec![SUBJECT.into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: cfg.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("stream {STREAM}: {e}"))?;
            // The buckets' streams are made here rather than with
            // `create_key_value`, which first asks for account limits in a
            // shape NATS 2.9 does not answer with; the settings are the
            // ones a KV bucket has.
            let bucket = |name: &str, max_age: Duration| stream::Config {
                name: format!("KV_{name}"),
                subjects: vec![format!("$KV.{name}.>")],
                max_messages_per_subject: 1,
                max_age,
                storage: stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            };
            for (name, age) in [
                (RESULTS, cfg.result_ttl),
                (STATUSES, Duration::from_secs(7 * 24 * 3600)),
            ] {
                js.get_or_create_stream(bucket(name, age))
                    .await
                    .map_err(|e| format!("bucket {name}: {e}"))?;
            }
            let results = js
                .get_key_value(RESULTS)
                .await
                .map_err(|e| format!("bucket {RESULTS}: {e}"))?;
            let statuses = js
                .get_key_value(STATUSES)
                .await
                .map_err(|e| format!("bucket {STATUSES}: {e}"))?;
            let objects = match js.get_object_store(OBJECTS).await {
                Ok(s) => s,
                Err(_) => js
                    .create_object_store(object_store::Config {
                        bucket: OBJECTS.into(),
                        storage: stream::StorageType::File,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("object store {OBJECTS}: {e}"))?,
            };
            Ok::<_, String>((results, statuses, objects))
        };
        let (results, statuses, objects) = tokio::time::timeout(cfg.request_timeout * 4, setup)
            .await
            .map_err(|_| QueueError::Connect {
                url: cfg.url.clone(),
                reason: "JetStream did not answer; is the server running with -js?".into(),
            })?
            .map_err(|reason| QueueError::Connect {
                url: cfg.url.clone(),
                reason: format!("setting up JetStream: {reason}"),
            })?;
        let consumer = Self::attach_consumer(&js, &cfg).await?;
        Ok(Queue {
            client,
            js,
            results,
            statuses,
            objects,
            consumer,
            cfg,
        })
    }

    /// The shared durable pull consumer, created by the first to connect
    /// with the configuration's `ack_wait` and `max_deliver`.
    async fn attach_consumer(
        js: &jetstream::Context,
        cfg: &QueueConfig,
    ) -> Result<consumer::PullConsumer, QueueError> {
        let stream = js
            .get_stream(STREAM)
            .await
            .map_err(|e| js_err("get stream")(e.to_string()))?;
        let config = consumer::pull::Config {
            durable_name: Some(CONSUMER.into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: cfg.ack_wait,
            max_deliver: cfg.max_deliver,
            ..Default::default()
        };
        match stream.get_consumer(CONSUMER).await {
            Ok(c) => Ok(c),
            Err(_) => stream
                .create_consumer(config)
                .await
                .map_err(|e| js_err("create consumer")(e.to_string())),
        }
    }

    /// The next job for this worker, waiting up to `wait`; `None` when
    /// none came. One message per pull, so no job waits in a busy worker's
    /// buffer while another worker is idle.
    pub async fn next_job(&self, wait: Duration) -> Result<Option<Delivery>, QueueError> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| js_err("fetch job")(e.to_string()))?;
        match batch.next().await {
            Some(Ok(msg)) => Ok(Some(Delivery {
                job: Job::from_bytes(&msg.payload),
                msg,
            })),
            Some(Err(e)) => Err(js_err("fetch job")(e.to_string())),
            None => Ok(None),
        }
    }

    /// Raises the consumer's `ack_wait` to `at_least` when it is shorter
    /// (never lowers it: another node's goals may need the longer one);
    /// returns the `ack_wait` now in force. A job must not be handed to a
    /// second worker merely because it is long: the node calls this with
    /// each goal's worst case before it queues the goal's first job.
    pub async fn raise_ack_wait(&self, at_least: Duration) -> Result<Duration, QueueError> {
        let stream = self
            .js
            .get_stream(STREAM)
            .await
            .map_err(|e| js_err("get stream")(e.to_string()))?;
        let mut config = self
            .consumer
            .clone()
            .info()
            .await
            .map_err(|e| js_err("consumer info")(e.to_string()))?
            .config
            .clone();
        if config.ack_wait >= at_least {
            return Ok(config.ack_wait);
        }
        config.ack_wait = at_least;
        let updated = stream
            .create_consumer(config)
            .await
            .map_err(|e| js_err("update consumer ack_wait")(e.to_string()))?;
        Ok(updated.cached_info().config.ack_wait)
    }

    /// A feed of jobs on one subscription, for a worker that asks for
    /// exactly as many jobs as it has idle evaluation threads.
    pub async fn job_feed(&self) -> Result<JobFeed, QueueError> {
        let inbox = self.client.new_inbox();
        let sub = self
            .client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| js_err("subscribe to job inbox")(e.to_string()))?;
        Ok(JobFeed {
            consumer: self.consumer.clone(),
            js: self.js.clone(),
            inbox,
            sub,
            next_id: 0,
            open: BTreeMap::new(),
        })
    }

    /// The configuration this queue was opened with.
    pub fn config(&self) -> &QueueConfig {
        &self.cfg
    }

    /// The underlying client (for subscriptions).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Publishes a job with `Nats-Msg-Id` = its id. `Ok(true)` when
    /// JetStream dropped it as a duplicate of one published within the
    /// duplicate window (then its result may already be in the bucket).
    pub async fn publish(&self, job: &Job) -> Result<bool, QueueError> {
        self.publish_as(job, job.id().to_hex()).await
    }

    /// Publishes `job` again after a result the node refused (a worker it
    /// does not trust answered first), as attempt `n`: a new message id,
    /// so de-duplication lets it through.
    pub async fn republish(&self, job: &Job, n: u32) -> Result<bool, QueueError> {
        self.publish_as(job, format!("{}-{n}", job.id().to_hex()))
            .await
    }

    async fn publish_as(&self, job: &Job, id: String) -> Result<bool, QueueError> {
        let ack = self
            .js
            .send_publish(
                SUBJECT,
                jetstream::message::PublishMessage::build()
                    .payload(Bytes::from(job.to_bytes()))
                    .message_id(id),
            )
            .await
            .map_err(|e| js_err("publish job")(e.to_string()))?
            .await
            .map_err(|e| js_err("publish job")(e.to_string()))?;
        Ok(ack.duplicate)
    }

    /// The subject a result for `job` appears on; a node subscribes to
    /// [`Queue::results_subject`] once and dispatches by this.
    pub fn results_subject() -> String {
        format!("$KV.{RESULTS}.>")
    }

    /// Calls `on(job id, signed result bytes)` for every result stored from
    /// now on, from a task on the current runtime. One core subscription
    /// for all jobs: waiting for a result costs no JetStream consumer.
    pub async fn listen_results(
        &self,
        on: impl Fn(Hash32, Bytes) + Send + 'static,
    ) -> Result<(), QueueError> {
        let mut sub = self
            .client
            .subscribe(Queue::results_subject())
            .await
            .map_err(|e| js_err("subscribe to results")(e.to_string()))?;
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Some(job) = Queue::job_of_subject(&m.subject) {
                    on(job, m.payload);
                }
            }
        });
        Ok(())
    }

    /// The job id a message on [`Queue::results_subject`] is for.
    pub fn job_of_subject(subject: &str) -> Option<Hash32> {
        let key = subject.strip_prefix(&format!("$KV.{RESULTS}."))?;
        Hash32::from_hex(key).ok()
    }

    /// A stored result for `job`, when some worker has answered it.
    pub async fn result(&self, job: &Hash32) -> Result<Option<Bytes>, QueueError> {
        self.results
            .get(job.to_hex())
            .await
            .map_err(|e| js_err("read result")(e.to_string()))
    }

    /// Stores a worker's signed result under its job id.
    pub async fn put_result(&self, r: &SignedResult) -> Result<(), QueueError> {
        self.results
            .put(r.result.job.to_hex(), Bytes::from(r.to_bytes()))
            .await
            .map(|_| ())
            .map_err(|e| js_err("store result")(e.to_string()))
    }

    /// Whether the object store holds `hash`.
    pub async fn has_object(&self, hash: &Hash32) -> Result<bool, QueueError> {
        match self.objects.info(hash.to_hex()).await {
            Ok(i) => Ok(!i.deleted),
            Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => Ok(false),
            Err(e) => Err(js_err("object info")(e.to_string())),
        }
    }

    /// Uploads `bytes` under their SHA-256 (unless already there).
    pub async fn put_object(&self, bytes: &[u8]) -> Result<Hash32, QueueError> {
        let hash = ian_core::sha256(bytes);
        if self.has_object(&hash).await? {
            return Ok(hash);
        }
        let mut r = bytes;
        self.objects
            .put(hash.to_hex().as_str(), &mut r)
            .await
            .map_err(|e| js_err("put object")(e.to_string()))?;
        Ok(hash)
    }

    /// The bytes stored under `hash`, checked against it.
    pub async fn get_object(&self, hash: &Hash32) -> Result<Vec<u8>, QueueError> {
        let name = hash.to_hex();
        let mut o = match self.objects.get(&name).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
                return Err(QueueError::MissingObject(name));
            }
            Err(e) => return Err(js_err("get object")(e.to_string())),
        };
        let mut b = Vec::new();
        o.read_to_end(&mut b)
            .await
            .map_err(|e| js_err("read object")(e.to_string()))?;
        if ian_core::sha256(&b) != *hash {
            return Err(QueueError::Corrupt(name));
        }
        Ok(b)
    }

    /// Jobs waiting, being evaluated, and redelivered.
    pub async fn depth(&self) -> Result<Depth, QueueError> {
        let mut c = self.consumer.clone();
        let i = c
            .info()
            .await
            .map_err(|e| js_err("consumer info")(e.to_string()))?;
        Ok(Depth {
            pending: i.num_pending,
            in_flight: i.num_ack_pending as u64,
            redelivered: i.num_redelivered as u64,
            ack_wait: i.config.ack_wait,
        })
    }

    /// Publishes a worker's status.
    pub async fn put_status(&self, s: &WorkerStatus) -> Result<(), QueueError> {
        let v = serde_json::to_vec(s).map_err(|e| js_err("encode status")(e.to_string()))?;
        self.statuses
            .put(s.worker.as_str(), Bytes::from(v))
            .await
            .map(|_| ())
            .map_err(|e| js_err("store status")(e.to_string()))
    }

    /// Every worker that has reported, by key.
    pub async fn statuses(&self) -> Result<Vec<WorkerStatus>, QueueError> {
        // The bucket's subjects come from one stream-info request. The
        // bucket's `keys()` would start a consumer per call and, on NATS
        // 2.9, may never see the end while workers keep reporting.
        let prefix = format!("$KV.{STATUSES}.");
        let stream = self
            .js
            .get_stream(format!("KV_{STATUSES}"))
            .await
            .map_err(|e| js_err("list workers")(e.to_string()))?;
        let mut subjects = stream
            .info_with_subjects(format!("{prefix}>"))
            .await
            .map_err(|e| js_err("list workers")(e.to_string()))?;
        let mut names = Vec::new();
        while let Some(s) = subjects.next().await {
            let (subject, _) = s.map_err(|e| js_err("list workers")(e.to_string()))?;
            if let Some(k) = subject.strip_prefix(prefix.as_str()) {
                names.push(k.to_string());
            }
        }
        let mut out = Vec::new();
        for k in names {
            if let Some(v) = self
                .statuses
                .get(k)
                .await
                .map_err(|e| js_err("read worker status")(e.to_string()))?
                && let Ok(s) = serde_json::from_slice::<WorkerStatus>(&v)
            {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.worker.cmp(&b.worker)));
        Ok(out)
    }
}

/// How long past its `expires` a pull request with no answer is still
/// counted (the server's 408 for it may be lost in a reconnect).
const PULL_GRACE: Duration = Duration::from_secs(1);

/// One subscription that pull requests are answered on, each request on
/// its own reply subject (`<inbox>.<n>`) so that the status ending a
/// request (408 expired, 409 refused) names it. Deliveries carry the job's
/// own subject, so each is counted against the oldest open request: the
/// server fills one consumer's waiting requests first come, first served.
///
/// Why not `fetch` per job: every fetch subscribes and unsubscribes an
/// inbox (two more protocol operations and an interest change on the
/// server per job). Why not the client's prefetching stream: it keeps
/// jobs buffered in a busy worker while another sits idle, with their
/// `ack_wait` running. Here a worker asks for exactly the jobs it can
/// start now, so the only buffered jobs are ones already on their way.
pub struct JobFeed {
    consumer: consumer::PullConsumer,
    js: jetstream::Context,
    inbox: String,
    sub: async_nats::Subscriber,
    next_id: u64,
    /// Open requests, oldest first: id -> (jobs still to come, when to
    /// stop counting it).
    open: BTreeMap<u64, (usize, Instant)>,
}

/// What arrived on a [`JobFeed`].
pub enum Fed {
    /// A job (boxed: a delivery is a whole message).
    Job(Box<Delivery>),
    /// A pull request ended (expired, or the consumer refused it); asking
    /// again may be due.
    Ended,
}

impl JobFeed {
    /// Jobs asked for and not yet delivered, over the requests still open.
    pub fn outstanding(&mut self) -> usize {
        let now = Instant::now();
        self.open.retain(|_, (_, until)| *until > now);
        self.open.values().map(|(n, _)| n).sum()
    }

    /// When the oldest open request stops counting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open.values().map(|(_, until)| *until).min()
    }

    /// Asks for `n` more jobs, waiting up to `expires` for them.
    pub async fn request(&mut self, n: usize, expires: Duration) -> Result<(), QueueError> {
        if n == 0 {
            return Ok(());
        }
        let id = self.next_id;
        self.next_id += 1;
        self.consumer
            .request_batch(
                consumer::pull::BatchConfig {
                    batch: n,
                    expires: Some(expires),
                    ..Default::default()
                },
                format!("{}.{id}", self.inbox).into(),
            )
            .await
            .map_err(|e| js_err("request jobs")(e.to_string()))?;
        self.open
            .insert(id, (n, Instant::now() + expires + PULL_GRACE));
        Ok(())
    }

    /// The next delivery or request end; `None` when the subscription is
    /// closed (the client is shutting down).
    pub async fn next(&mut self) -> Option<Fed> {
        loop {
            let msg = self.sub.next().await?;
            match msg.status {
                None | Some(async_nats::StatusCode::OK) => {
                    if let Some(mut oldest) = self.open.first_entry() {
                        let (left, _) = oldest.get_mut();
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            oldest.remove();
                        }
                    }
                    let msg = jetstream::Message {
                        message: msg,
                        context: self.js.clone(),
                    };
                    return Some(Fed::Job(Box::new(Delivery {
                        job: Job::from_bytes(&msg.payload),
                        msg,
                    })));
                }
                Some(async_nats::StatusCode::IDLE_HEARTBEAT) => continue,
                // 408 expired, 404 none, 409 refused (max waiting, consumer
                // deleted, ...): the request is over either way.
                Some(_) => {
                    let id = msg.subject.strip_prefix(self.inbox.as_str());
                    if let Some(id) = id.and_then(|s| s.strip_prefix('.')?.parse::<u64>().ok()) {
                        self.open.remove(&id);
                    }
                    return Some(Fed::Ended);
                }
            }
        }
    }
}
