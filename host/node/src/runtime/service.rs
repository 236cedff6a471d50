//! The node service: goal registry, per-goal state, the bounded evaluation
//! queue, the worker pool and the durable commit path.
//!
//! Flow of one contribution:
//! 1. the HTTP handler checks rate limits and proof-of-work, then
//!    [`Node::enqueue`]s a job (queue full -> 429, never unbounded);
//! 2. a worker thread (big native stack, never the async runtime) checks the
//!    signature and the cheap pipeline preconditions, then runs the costly
//!    invariant checks and the sandboxed evaluation *without* holding the
//!    goal's lock;
//! 3. under the goal's write lock it runs the nine-step pipeline of
//!    `ian-core` with those results ([`crate::runtime::judge::Precomputed`]), signs
//!    the new checkpoint and queues the entry, checkpoint and blobs to the
//!    store (group commit, in order);
//! 4. the durability thread waits for the store's tickets and only then
//!    replies with the receipt. Nothing is acknowledged before fsync.
//!
//! If the store ever fails a commit after the in-memory state advanced, the
//! node stops accepting contributions (503) instead of serving roots the
//! disk does not hold; a restart rebuilds from the store.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine as _;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use ed25519_dalek::SigningKey;
use ian_core::checkpoint::{Receipt, SignedCheckpoint, log_origin};
use ian_core::goal::ResolvedComponents;
use ian_core::note::NoteSigner;
use ian_core::pipeline::{
    self, GoalState, Inconclusive, LogIndex, Refusal, Rejection, VerifiedContribution,
};
use ian_core::policy::Policy;
use ian_core::record::LogRecord;
use ian_core::{
    AgentPack, Contribution, GoalManifest, GoalSpec, Hash32, LogEntry, PublicKeyBytes,
    StandardProofVerifier,
};
use ian_store::{Store, StoreError, Ticket};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{Instrument as _, debug, error, info, info_span, warn};

use crate::runtime::auth::OperatorKey;
use crate::runtime::config::Config;
use crate::runtime::error::ApiError;
use crate::runtime::evidence::EvidenceLog;
use crate::runtime::judge::{CodeSource, Judge, LoadedGoal, SandboxEvaluator};
use crate::runtime::metrics::Metrics;
use crate::runtime::mirror::Mirror;
use crate::runtime::remote::{Remote, RemoteEvaluator};
use crate::runtime::views::{
    CompetitionView, ConsistencyView, ContributorHistory, GoalList, GoalStatus, HistoryEntry,
    InclusionView, Leaderboard, LogRange, ManifestView, NodeInfo, RankedEntry, RecentRejection,
    RecordView, SeedResult,
};
use crate::runtime::witness::{Collector, Witness, parse_witnessed_logs, witness_key};
use ian_ratelimit::RateLimiter;

/// What the node reports to the Tau side (implemented by
/// [`crate::runtime::tau::BridgeWiring`]). Implementations queue work and
/// return at once.
pub trait TauHooks: Send + Sync {
    /// A goal was published and is durable.
    fn goal_published(&self, manifest: &GoalManifest);
    /// An entry was appended; `new_top` is the pack hash of a new rank-1 entry.
    fn entry_appended(&self, goal: &str, checkpoint: &SignedCheckpoint, new_top: Option<Hash32>);
    /// Per-goal status for `GET /api/v1/goals/{goal}`.
    fn goal_status(&self, goal: &str) -> Value;
    /// Whole status for `GET /api/v1/tau`.
    fn status(&self) -> Value;
    /// Transactions persisted and not yet confirmed.
    fn pending_count(&self) -> u64;
    /// Counters and gauges for `/metrics` (names prefixed `ian_tau_`).
    fn samples(&self) -> Vec<crate::runtime::metrics::Sample>;
}

/// Shared handle.
pub type TauWiring = dyn TauHooks;

/// Handle type stored by the node.
pub type TauHandle = Arc<TauWiring>;

/// Why the node could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory is unusable.
    #[error("data directory {path}: {message}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A key file problem.
    #[error(transparent)]
    Key(#[from] crate::runtime::keyfile::KeyFileError),
    /// The store refused to open or failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A configured file (witness policy, witnessed logs) is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The sandbox could not be created.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// A stored goal or entry does not decode or replay: the data dir is
    /// damaged or was written by an incompatible version.
    #[error("goal {goal}: stored log does not replay: {message}")]
    Replay {
        /// The goal.
        goal: String,
        /// What did not match.
        message: String,
    },
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// Address.
        addr: String,
        /// Error.
        message: String,
    },
    /// Tau wiring could not start.
    #[error("tau: {0}")]
    Tau(String),
    /// `node.key` is not the key this store's checkpoints were signed
    /// with, or is missing next to a store.
    #[error("identity: {0}")]
    Identity(String),
}

/// Body of `POST /api/v1/goals`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The goal file text.
    pub goal_toml: String,
    /// Component path as written in the goal file -> base64 bytes.
    pub components: BTreeMap<String, String>,
    /// The files of the goal's `harness.dataset` directory, when it names
    /// one; absent (or empty) for goals without a dataset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dataset: Vec<DatasetUpload>,
}

/// One file of a published dataset.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetUpload {
    /// Path relative to the dataset directory, `/`-separated.
    pub path: String,
    /// The file's bytes, base64.
    pub bytes: String,
}

/// The typed API error for a refused dataset listing.
fn dataset_refused(e: ian_core::dataset::DatasetError) -> ApiError {
    use ian_core::dataset::DatasetError as E;
    match e {
        E::TooManyFiles { .. } | E::TooManyBytes { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "dataset_too_large",
            format!("dataset: {e}"),
        ),
        other => ApiError::bad_request("invalid_dataset", format!("dataset: {other}")),
    }
}

/// The dataset bounds used when reading back what was already accepted:
/// the hard caps, so lowering the configured limits never strands a goal.
fn stored_dataset_limits() -> ian_core::dataset::DatasetLimits {
    ian_core::dataset::DatasetLimits {
        max_files: ian_core::dataset::HARD_MAX_DATASET_FILES,
        max_bytes: ian_core::dataset::HARD_MAX_DATASET_BYTES,
    }
}

/// Body of `POST /api/v1/goals/{goal}/selections`: what
/// `ian_core::record::sign_selection` signs, and the signature.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectRequest {
    /// The contributor's Ed25519 public key (hex).
    #[schema(value_type = String)]
    pub contributor: PublicKeyBytes,
    /// Above the contributor's previous selection nonce on this goal.
    pub nonce: u64,
    /// Log indices of the contributor's own accepted entries, increasing.
    pub selected: Vec<u64>,
    /// Ed25519 over the selection message (hex).
    #[schema(value_type = String)]
    pub signature: ian_core::SignatureBytes,
}

/// Body of `POST /api/v1/goals/{goal}/reveal`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// The hidden-seed secret: 64 hex digits.
    pub secret: String,
}

/// Body of `POST /api/v1/goals/{goal}/contributions`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The signed contribution (ian-core's JSON form: goal id, pack,
    /// contributor key, nonce, proofs, signature).
    #[schema(value_type = Object)]
    pub contribution: Contribution,
    /// Component bytes, base64; may be left out when the node already holds
    /// the pack's code hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Proof-of-work nonce, when work is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pow_nonce: Option<u64>,
}

/// Reply to an accepted submission.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmitAccepted {
    /// Always `accepted`.
    pub status: String,
    /// The logged entry, as JSON (the same entry the receipt carries).
    pub entry: LogEntry,
    /// The tlog-proof receipt: entry, inclusion proof, checkpoint note.
    pub receipt: Receipt,
    /// Rank on the top-K board after acceptance (1-based), if it entered.
    pub rank: Option<usize>,
    /// Whether the receipt's checkpoint carries the witness policy's
    /// quorum (always true without a policy).
    #[serde(default = "yes")]
    pub witnessed: bool,
}

fn yes() -> bool {
    true
}

/// A checked dataset listing and its file bytes by content hash.
type DatasetFiles = (ian_core::dataset::DatasetListing, BTreeMap<Hash32, Vec<u8>>);

type Reply = tokio::sync::oneshot::Sender<Result<SubmitAccepted, ApiError>>;

struct Job {
    goal: Arc<GoalRt>,
    contribution: Contribution,
    code: Option<Vec<u8>>,
    reply: Reply,
    enqueued: Instant,
    span: tracing::Span,
}

/// An accepted entry whose writes are queued to the store, waiting to be
/// durable before it is signed for and acknowledged.
struct Pending {
    tickets: Vec<Ticket<bool>>,
    /// The per-seed results kept for display; written with the entry, but
    /// a failure only loses the display (the entry stands).
    seeds: Option<Ticket<()>>,
    append: Ticket<u64>,
    ack: Ack,
}

/// What is left to do for an entry once it is durable: sign, reply.
struct Ack {
    reply: Reply,
    entry: LogEntry,
    rank: Option<usize>,
    goal: Arc<GoalRt>,
    enqueued: Instant,
}

/// Most accepted entries signed for by one checkpoint. Bounds the time a
/// batch holds replies and the size of the proofs computed at once.
const MAX_SIGN_BATCH: usize = 4096;

const RECENT_REJECTIONS: usize = 32;

/// One goal at runtime.
pub struct GoalRt {
    /// Goal id.
    pub id: String,
    /// The manifest.
    pub manifest: GoalManifest,
    /// The goal file text as published.
    pub goal_toml: String,
    /// Compiled harness and invariants.
    pub loaded: LoadedGoal,
    /// The nine-step state machine (MMR, dedup, nonces, leaderboard).
    pub state: RwLock<GoalState>,
    /// Signs this goal's checkpoints under its origin `<node name>/<goal>`.
    pub log: NoteSigner,
    /// Latest signed checkpoint.
    pub checkpoint: RwLock<Option<SignedCheckpoint>>,
    /// Latest checkpoint cosigned by the witness quorum (only kept when the
    /// node has a witness policy).
    pub final_checkpoint: RwLock<Option<SignedCheckpoint>>,
    /// The final checkpoint's size, for submissions waiting on it.
    pub witnessed: tokio::sync::watch::Sender<u64>,
    /// Display: recent rejections.
    pub rejections: Mutex<VecDeque<RecentRejection>>,
    /// Display: agent names by pack hash (from metadata), for entries seen.
    pub names: Mutex<BTreeMap<Hash32, String>>,
    /// Counters.
    pub accepted: AtomicU64,
    /// Counters.
    pub rejected: AtomicU64,
    /// When the operator retired the goal (ms since the Unix epoch): no
    /// submissions after it; the log, board and proofs stay served.
    pub retired_at_ms: RwLock<Option<u64>>,
    /// The next rejection's sequence number (stored rejections are a ring
    /// of `limits.stored_rejections` slots, slot = seq mod size).
    pub rejection_seq: AtomicU64,
    /// Which log entries each contributor made, for their history: built
    /// from the store on the first history request and extended by later
    /// ones with only the entries appended since, so a request never
    /// rescans the log.
    pub contributors: Mutex<ContributorIndex>,
}

/// What the pages and histories need from the whole log, covering its
/// first `indexed` entries: contributor key -> the log indices of their
/// accepted entries, and every entry that was the best so far when it was
/// accepted (the "best over time" series).
#[derive(Debug, Default)]
pub struct ContributorIndex {
    indexed: u64,
    by_key: std::collections::HashMap<[u8; 32], Vec<u64>>,
    /// Log indices of each contributor's attempts (a competition's logged
    /// evaluated rejections).
    attempts: std::collections::HashMap<[u8; 32], Vec<u64>>,
    best: Vec<ian_core::ContributionMeta>,
}

impl ContributorIndex {
    /// The entries that each became the best so far, in log order.
    pub fn best_over_time(&self) -> &[ian_core::ContributionMeta] {
        &self.best
    }

    /// Log indices of `key`'s accepted entries, oldest first.
    pub fn entries_of(&self, key: &PublicKeyBytes) -> &[u64] {
        self.by_key.get(&key.0).map_or(&[], |v| v.as_slice())
    }

    /// Log indices of `key`'s attempts, oldest first.
    pub fn attempts_of(&self, key: &PublicKeyBytes) -> &[u64] {
        self.attempts.get(&key.0).map_or(&[], |v| v.as_slice())
    }
}

impl LogIndex for GoalRt {
    fn lookup_pack(&self, pack_hash: &Hash32) -> Option<u64> {
        self.state.read().lookup_pack(pack_hash)
    }
    fn nonce_window(&self, contributor: &PublicKeyBytes) -> Option<pipeline::NonceWindow> {
        self.state.read().nonce_window(contributor)
    }
}

impl GoalRt {
    /// The size of the latest signed checkpoint: what is durable and
    /// published. Roots and proofs are served up to here, never beyond.
    pub fn signed_size(&self) -> u64 {
        self.checkpoint
            .read()
            .as_ref()
            .map_or(0, |c| c.checkpoint.size)
    }

    /// The checkpoint published as final: the quorum-cosigned one under a
    /// witness policy, else the latest signed one.
    pub fn published_checkpoint(&self, policy: bool) -> Option<SignedCheckpoint> {
        if policy {
            self.final_checkpoint.read().clone()
        } else {
            self.checkpoint.read().clone()
        }
    }

    /// A board row for an entry, with the agent's name when known.
    pub fn ranked(&self, m: &ian_core::ContributionMeta) -> RankedEntry {
        RankedEntry {
            log_index: m.log_index,
            pack_hash: m.pack_hash,
            contributor: m.contributor,
            name: self
                .names
                .lock()
                .get(&m.pack_hash)
                .cloned()
                .unwrap_or_default(),
            score: m.score,
            metrics: m.metrics.clone(),
            timestamp_ms: m.timestamp_ms,
        }
    }

    fn push_rejection(&self, r: RecentRejection) {
        let mut q = self.rejections.lock();
        if q.len() == RECENT_REJECTIONS {
            q.pop_back();
        }
        q.push_front(r);
    }
}

/// The node.
pub struct Node {
    cfg: Config,
    data_dir: PathBuf,
    store: Arc<Store>,
    signing: SigningKey,
    public: PublicKeyBytes,
    /// Keys that signed this store before `public` (rotations, oldest
    /// first): stored checkpoints signed by them still verify.
    past_keys: Vec<PublicKeyBytes>,
    /// The stored rotation statements (signed notes), oldest first.
    rotations: Vec<String>,
    /// The node's name: origins are `<name>/<goal id>`.
    name: String,
    /// The witness role, when `witness.enabled`.
    witness: Option<Witness>,
    /// Asks the policy's witnesses to cosign, when a policy is set.
    collector: Option<Arc<Collector>>,
    /// Wakes the witnessing task after a batch is signed.
    witness_wake: tokio::sync::Notify,
    /// Wakes the mirroring task when a mirrored log announces a checkpoint.
    mirror_wake: tokio::sync::Notify,
    /// Evidence of misbehaviour this node found (forks heard, entries that
    /// re-evaluate differently, peers serving bad data).
    evidence: Arc<EvidenceLog>,
    /// The libp2p network, once started (`p2p.enabled`).
    p2p: std::sync::OnceLock<ian_p2p::P2p>,
    operator: OperatorKey,
    metrics: Arc<Metrics>,
    judge: Arc<Judge>,
    /// Evaluation workers over NATS (`[workers]`), when configured.
    remote: Option<Arc<Remote>>,
    goals: RwLock<BTreeMap<String, Arc<GoalRt>>>,
    queue: Mutex<Option<Sender<Job>>>,
    queue_rx: Receiver<Job>,
    durable_tx: Mutex<Option<Sender<Pending>>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Goals whose final evaluation runs now (one runner per goal).
    finals_running: Mutex<std::collections::HashSet<String>>,
    contributor_limiter: RateLimiter<[u8; 32]>,
    /// Each contributor's budget for new code to compile, in MiB.
    compile_budget: RateLimiter<[u8; 32]>,
    failed: AtomicBool,
    in_flight: AtomicU64,
    tau: Mutex<Option<TauHandle>>,
    publish_lock: Mutex<()>,
    /// Held while a backup copy is taken.
    backup_lock: Mutex<()>,
    /// Checkpoint records queued by the durability thread, checked at the
    /// next batch (see `settle_checkpoint_writes`).
    checkpoint_writes: Mutex<Vec<(String, Ticket<bool>)>>,
}

mod federation;
mod finals;
mod tlog;
pub use federation::{p2p_config, start_p2p};
pub use tlog::{TILE_WIDTH, TilePath, parse_tile_path, tile_index_path};

pub(crate) use crate::runtime::clock::now_ms;

/// 404 for a goal id this node does not hold, listing the ones it does
/// (up to 20) and naming the nearest when it is a likely typo.
fn goal_missing(goal: &str, known: &[&str]) -> ApiError {
    let shown: String = goal.chars().take(64).collect();
    let mut msg = format!("no goal `{shown}` on this node");
    if let Some((_, near)) = known
        .iter()
        .map(|k| (edit_distance(&shown, k), *k))
        .min()
        .filter(|(d, k)| *d <= 3.max(k.len() / 3))
    {
        msg.push_str(&format!("; did you mean `{near}`?"));
    }
    if known.is_empty() {
        msg.push_str("; it holds no goals yet");
    } else {
        let list: Vec<&str> = known.iter().take(20).copied().collect();
        msg.push_str(&format!(
            "; its goals: {}{}",
            list.join(", "),
            if known.len() > 20 { ", ..." } else { "" }
        ));
    }
    ApiError::not_found("unknown_goal", msg)
}

/// Levenshtein distance (goal ids are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn parse_hash(s: &str) -> Result<Hash32, ApiError> {
    Hash32::from_hex(s).map_err(|_| {
        ApiError::bad_request(
            "invalid_hash",
            "expected a SHA-256 hash as 64 lowercase hex digits",
        )
    })
}

impl Node {
    /// Open the data dir (creating keys on first start), rebuild every goal
    /// from the store by replay (checking roots against stored
    /// checkpoints) and start the workers.
    pub fn open(cfg: Config) -> Result<Arc<Node>, NodeError> {
        let data_dir = cfg.server.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|e| NodeError::DataDir {
            path: data_dir.clone(),
            message: e.to_string(),
        })?;
        let key_file = data_dir.join("node.key");
        let store_file = data_dir.join("ian.redb");
        // A store without its key must not get a new one: every checkpoint
        // already handed out was signed by the old key, and a new identity
        // would serve the same log under a name nobody can check.
        if store_file.exists() && !key_file.exists() {
            return Err(NodeError::Identity(format!(
                "{} holds a store but there is no {}: the key that signed its checkpoints is not here. \
                 Put that node.key back into {} (from where the store came from, or your backup of it); \
                 a node never makes a new key for an existing store on its own (`serve --new-identity` \
                 does, on purpose, recording the rotation)",
                store_file.display(),
                key_file.display(),
                data_dir.display()
            )));
        }
        let signing = crate::runtime::keyfile::load_or_create_signing_key(&key_file)?;
        let public = PublicKeyBytes::of(&signing);
        let store_cfg = cfg.store_config().map_err(|e| NodeError::DataDir {
            path: store_file.clone(),
            message: e.to_string(),
        })?;
        let store = Arc::new(Store::open_with(&store_file, store_cfg)?);
        let unrecorded = check_identity(&store, &public, &key_file)?;
        let (past_keys, rotations, stored_name) = {
            let snap = store.snapshot()?;
            let name = snap
                .meta(crate::runtime::rotate::NODE_NAME)?
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            (
                crate::runtime::rotate::past_keys(&snap),
                crate::runtime::rotate::statements(&snap),
                name,
            )
        };
        remove_backup_files(&data_dir);
        // The public half, for people to hand out and for `verify
        // --node-key <data_dir>/node.pub`; rewritten from node.key on every
        // start, so it can never disagree with it.
        let pub_file = data_dir.join("node.pub");
        std::fs::write(&pub_file, format!("{}\n", public.to_hex())).map_err(|e| {
            NodeError::DataDir {
                path: pub_file.clone(),
                message: e.to_string(),
            }
        })?;
        // A rotated store keeps the name its logs were published under.
        let name = if !cfg.server.name.is_empty() {
            cfg.server.name.clone()
        } else if let Some(n) = stored_name {
            n
        } else {
            format!("ian-{}", &ian_core::sha256(&public.0).to_hex()[..8])
        };
        let read_file = |what: &'static str, path: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| NodeError::Config(format!("{what} {path}: {e}")))
        };
        let collector = if cfg.witness.policy_file.is_empty() {
            None
        } else {
            let text = read_file("witness.policy_file", &cfg.witness.policy_file)?;
            let policy = Policy::parse(&text).map_err(|e| {
                NodeError::Config(format!(
                    "witness.policy_file {}: {e}",
                    cfg.witness.policy_file
                ))
            })?;
            if policy.needs_witnesses() {
                let c = Collector::new(policy, Duration::from_millis(cfg.witness.timeout_ms))
                    .map_err(|e| {
                        NodeError::Config(format!(
                            "witness.policy_file {}: {e}",
                            cfg.witness.policy_file
                        ))
                    })?;
                Some(Arc::new(c))
            } else {
                None
            }
        };
        let witnessed_logs = if cfg.witness.enabled {
            let text = read_file("witness.logs_file", &cfg.witness.logs_file)?;
            Some(parse_witnessed_logs(&text).map_err(|e| {
                NodeError::Config(format!("witness.logs_file {}: {e}", cfg.witness.logs_file))
            })?)
        } else {
            None
        };
        let operator_key = if cfg.server.operator_key.is_empty() {
            let p = data_dir.join("operator.key");
            if !p.exists() {
                crate::runtime::keyfile::write_secret(
                    &p,
                    &crate::runtime::auth::generate_key(),
                    false,
                )?;
                info!(file = %p.display(), "generated operator API key");
            }
            crate::runtime::keyfile::read_secret(&p)?
        } else {
            cfg.server.operator_key.clone()
        };
        let judge = Arc::new(
            Judge::new(
                cfg.node_sandbox_config()
                    .map_err(|e| NodeError::Sandbox(e.to_string()))?,
                cfg.limits.worker_stack_bytes as usize,
            )
            .map_err(NodeError::Sandbox)?,
        );
        let remote = if cfg.workers.enabled() {
            Some(Arc::new(
                Remote::connect(&cfg.workers, &judge).map_err(NodeError::Sandbox)?,
            ))
        } else {
            None
        };
        let evidence = Arc::new(EvidenceLog::open(store.clone()));
        let witness = match witnessed_logs {
            None => None,
            Some(logs) => {
                let mirror = if cfg.witness.reevaluate {
                    let mut urls = std::collections::HashMap::new();
                    for (v, url) in &logs {
                        let url = url.clone().ok_or_else(|| {
                            NodeError::Config(format!(
                                "witness.logs_file: log {} has no source; a re-evaluating witness copies each log from its node (`log <vkey> <url>`) or from libp2p peers (`log <vkey> p2p`)",
                                v.name
                            ))
                        })?;
                        if url == "p2p" && !cfg.p2p.enabled {
                            return Err(NodeError::Config(format!(
                                "witness.logs_file: log {} is copied over libp2p (`p2p`), which needs p2p.enabled = true",
                                v.name
                            )));
                        }
                        urls.insert(v.name.clone(), url);
                    }
                    Some(Arc::new(
                        Mirror::new(
                            judge.clone(),
                            evidence.clone(),
                            urls,
                            Duration::from_millis(cfg.witness.timeout_ms),
                            cfg.limits.worker_stack_bytes as usize,
                        )
                        .map_err(NodeError::Config)?,
                    ))
                } else {
                    None
                };
                Some(
                    Witness::new(
                        &format!("{name}/witness"),
                        witness_key(&signing),
                        logs.into_iter().map(|(v, _)| v).collect(),
                        store.clone(),
                        mirror,
                        evidence.clone(),
                    )
                    .map_err(NodeError::Config)?,
                )
            }
        };
        let metrics = Arc::new(Metrics::default());
        metrics.queue_capacity.set(cfg.limits.queue_capacity as i64);
        let (tx, rx) = bounded::<Job>(cfg.limits.queue_capacity as usize);
        let l = &cfg.limits;
        let node = Arc::new(Node {
            contributor_limiter: RateLimiter::new(
                l.contributor_rate_per_sec,
                l.contributor_burst,
                l.rate_table_entries as usize,
            ),
            compile_budget: RateLimiter::new(
                l.contributor_compile_mib_per_hour / 3600.0,
                l.contributor_compile_burst_mib,
                l.rate_table_entries as usize,
            ),
            data_dir,
            store,
            signing,
            public,
            past_keys,
            rotations,
            name,
            witness,
            collector,
            witness_wake: tokio::sync::Notify::new(),
            mirror_wake: tokio::sync::Notify::new(),
            evidence,
            p2p: std::sync::OnceLock::new(),
            operator: OperatorKey::new(&operator_key),
            metrics,
            judge,
            remote,
            goals: RwLock::new(BTreeMap::new()),
            queue: Mutex::new(Some(tx)),
            queue_rx: rx,
            durable_tx: Mutex::new(None),
            workers: Mutex::new(Vec::new()),
            finals_running: Mutex::new(std::collections::HashSet::new()),
            failed: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            tau: Mutex::new(None),
            publish_lock: Mutex::new(()),
            backup_lock: Mutex::new(()),
            checkpoint_writes: Mutex::new(Vec::new()),
            cfg,
        });
        node.metrics.set_build_info(
            env!("CARGO_PKG_VERSION"),
            &node.judge.engine_version(),
            node.judge.abi_version(),
            &node.judge.config_hash().to_hex(),
        );
        let weak = Arc::downgrade(&node);
        node.metrics.set_scrape(move || {
            weak.upgrade()
                .map(|n| n.scrape_samples())
                .unwrap_or_default()
        });
        node.rebuild()?;
        if unrecorded {
            // Only now: the replay has checked every stored checkpoint
            // against this key, so the record cannot pin a wrong one.
            node.store
                .put_meta(IDENTITY_KEY, node.public.to_hex().into_bytes())
                .and_then(|t| t.wait())?;
        }
        node.start_threads()?;
        // A final evaluation cut short (a crash, a shutdown) resumes where
        // the log stops.
        for g in node.goal_list() {
            node.start_finals(&g);
        }
        Ok(node)
    }

    fn rebuild(&self) -> Result<(), NodeError> {
        let snap = self.store.snapshot()?;
        for g in snap.goals()? {
            let id = g.goal.clone();
            let bad = |m: String| NodeError::Replay {
                goal: id.clone(),
                message: m,
            };
            let spec = snap
                .goal_spec(&id)?
                .ok_or_else(|| bad("goal listed without a spec".into()))?;
            let manifest = GoalManifest::from_canonical_bytes(&spec)
                .map_err(|e| bad(format!("manifest: {e}")))?;
            let toml_text = snap
                .meta(&format!("goal-toml/{id}"))?
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let started = Instant::now();
            let dataset_dir = match manifest.harness.dataset {
                None => None,
                Some(h) => {
                    let listing = snap
                        .blob(&h.0)?
                        .filter(|b| ian_core::sha256(b) == h)
                        .ok_or_else(|| bad(format!("dataset listing {h} is missing or damaged")))?;
                    let listing = ian_core::dataset::DatasetListing::from_canonical_bytes(
                        &listing,
                        &stored_dataset_limits(),
                    )
                    .map_err(|e| bad(format!("dataset listing {h}: {e}")))?;
                    let dir = crate::runtime::datasets::materialise(
                        &self.data_dir.join("datasets"),
                        &listing,
                        &|f| snap.blob(&f.0).ok().flatten(),
                    )
                    .map_err(|e| bad(format!("dataset {h}: {e}")))?;
                    Some(dir)
                }
            };
            let loaded = self
                .judge
                .load_goal(
                    &manifest,
                    &|h| snap.blob(&h.0).ok().flatten(),
                    dataset_dir.as_deref(),
                )
                .map_err(|e| bad(format!("components: {e}")))?;
            let size = snap.log_size(&id)?.unwrap_or(0);
            // A snapshot that verifies against a signed checkpoint spares
            // the replay of everything before it; otherwise replay it all.
            let restored = self.restore_state(&snap, &id, &manifest, size);
            let from_snapshot = restored.as_ref().map_or(0, |s| s.size());
            let mut state = restored.unwrap_or_else(|| GoalState::new(manifest.clone()));
            if size > from_snapshot {
                info!(goal = %id, entries = size - from_snapshot, from_snapshot, "replaying the log");
            }
            let mut progress = Instant::now();
            for item in snap.entries(&id, from_snapshot..size)? {
                let (index, bytes) = item?;
                if progress.elapsed() >= REPLAY_PROGRESS_EVERY {
                    progress = Instant::now();
                    info!(goal = %id, done = index - from_snapshot, of = size - from_snapshot, "replaying the log");
                }
                let record = LogRecord::from_canonical_bytes(&bytes)
                    .map_err(|e| bad(format!("entry decode: {e}")))?;
                state
                    .apply_record(&record)
                    .map_err(|e| bad(e.to_string()))?;
            }
            let names = names_for_display(&snap, &id, &state)?;
            let log = self.log_signer(&id)?;
            // Every stored checkpoint must match the replayed root at its size.
            let mut latest = None;
            for cp_size in snap.checkpoint_sizes(&id)? {
                let bytes = snap
                    .checkpoint(&id, cp_size)?
                    .ok_or_else(|| bad("checkpoint vanished".into()))?;
                let cp = SignedCheckpoint::from_canonical_bytes(&bytes)
                    .map_err(|e| bad(format!("checkpoint decode: {e}")))?;
                // Every stored signature is this node's, for this goal and
                // size: a store holding another key's checkpoints (a restore
                // without the right node.key) is refused, not re-signed.
                if cp.checkpoint.size != cp_size || cp.checkpoint.origin != log.name() {
                    return Err(bad(format!(
                        "checkpoint stored under size {cp_size} is for log {} at size {}, not {}: the store was written under another identity (another node's key in node.key, or another server.name)",
                        cp.checkpoint.origin,
                        cp.checkpoint.size,
                        log.name()
                    )));
                }
                // Those up to a restored snapshot's size were verified by the
                // start (or signed by the process) that wrote the snapshot,
                // and the snapshot itself matched a checkpoint this key
                // signed; checking them again would make a start linear in
                // the log after all (one signature per durable batch).
                if cp_size > from_snapshot {
                    self.signed_by_us(&cp).map_err(|e| {
                        bad(format!(
                            "stored checkpoint at size {cp_size} does not verify under this node's key {}{}: {e}",
                            self.public.to_hex(),
                            if self.past_keys.is_empty() { "" } else { " or an earlier one" }
                        ))
                    })?;
                }
                let root = state
                    .mmr()
                    .root_at(cp_size)
                    .map_err(|e| bad(format!("root at {cp_size}: {e}")))?;
                if root != cp.checkpoint.root {
                    return Err(bad(format!(
                        "replayed root at size {cp_size} is {root}, stored checkpoint says {}",
                        cp.checkpoint.root
                    )));
                }
                latest = Some(cp);
            }
            // Entries made durable after the last checkpoint record (a crash
            // between a batch's fsync and its checkpoint's) get one now; the
            // root is a function of those entries, so it cannot contradict
            // anything signed before.
            if size > 0 && latest.as_ref().is_none_or(|c| c.checkpoint.size < size) {
                let cp = state.signed_checkpoint(&log);
                self.store
                    .put_checkpoint(&id, size, cp.to_canonical_bytes())?
                    .wait()?;
                info!(goal = %id, size, "signed a checkpoint for entries durable after the last one");
                latest = Some(cp);
            }
            // After a key rotation the latest checkpoint carries only the
            // old key's signature: the node adds its own (deterministic:
            // the same bytes at every start) and serves both.
            if let Some(cp) = latest.as_mut()
                && cp.verify(&log.verifier()).is_err()
            {
                cp.note.signatures.push(log.sign(&cp.note.text));
            }
            info!(goal = %id, entries = size, from_snapshot, root = %state.root(), elapsed_ms = started.elapsed().as_millis() as u64, "goal rebuilt from store");
            if size - from_snapshot >= SNAPSHOT_AFTER_REPLAYING {
                // The next start (even after a crash) replays only what
                // follows this point.
                self.save_state(&id, &state)?;
            }
            self.metrics.set_log_size(&id, size);
            let final_cp = self.stored_final(&snap, &id, &state, &log);
            let stored = stored_rejections(&snap, &id, self.cfg.limits.stored_rejections);
            let final_size = final_cp.as_ref().map_or(0, |c| c.checkpoint.size);
            let rt = Arc::new(GoalRt {
                id: id.clone(),
                manifest,
                goal_toml: toml_text,
                loaded,
                state: RwLock::new(state),
                log,
                checkpoint: RwLock::new(latest),
                final_checkpoint: RwLock::new(final_cp),
                witnessed: tokio::sync::watch::channel(final_size).0,
                rejections: Mutex::new(
                    stored
                        .iter()
                        .rev()
                        .take(RECENT_REJECTIONS)
                        .cloned()
                        .collect(),
                ),
                names: Mutex::new(names),
                accepted: AtomicU64::new(size),
                rejected: AtomicU64::new(0),
                retired_at_ms: RwLock::new(retired_at(&snap, &id)),
                rejection_seq: AtomicU64::new(stored.last().map_or(0, |r| r.seq + 1)),
                contributors: Mutex::new(ContributorIndex::default()),
            });
            self.goals.write().insert(id, rt);
        }
        Ok(())
    }

    /// The note signer of a goal's log on this node.
    /// Whether a stored checkpoint was signed by this node: its current
    /// key or one it rotated away from.
    fn signed_by_us(
        &self,
        cp: &SignedCheckpoint,
    ) -> Result<(), ian_core::checkpoint::CheckpointError> {
        crate::runtime::rotate::signed_by_us(cp, &self.public, &self.past_keys)
    }

    fn log_signer(&self, goal: &str) -> Result<NoteSigner, NodeError> {
        NoteSigner::new(&log_origin(&self.name, goal), self.signing.clone())
            .map_err(|e| NodeError::Config(format!("server.name: {e}")))
    }

    /// The last quorum-cosigned checkpoint of a goal, if it is stored,
    /// signed by this log and consistent with the replayed log; anything
    /// else is dropped with a warning (the witnesses are asked again).
    fn stored_final(
        &self,
        snap: &ian_store::Snapshot,
        id: &str,
        state: &GoalState,
        log: &NoteSigner,
    ) -> Option<SignedCheckpoint> {
        let c = self.collector.as_ref()?;
        let bytes = snap.meta(&final_key(id)).ok().flatten()?;
        let cp = SignedCheckpoint::parse(&bytes).ok()?;
        let ok = self.signed_by_us(&cp).is_ok()
            && log.name() == cp.checkpoint.origin
            && state
                .mmr()
                .root_at(cp.checkpoint.size)
                .is_ok_and(|r| r == cp.checkpoint.root)
            && c.policy()
                .cosigners(&cp)
                .is_ok_and(|h| c.policy().quorum_met(&h));
        if !ok {
            warn!(goal = %id, "stored final checkpoint does not check out; asking the witnesses again");
        }
        ok.then_some(cp)
    }

    /// The goal's stored state snapshot, if it decodes for this manifest,
    /// is not ahead of the log, and matches a checkpoint this node signed at
    /// exactly its size. Anything else is logged and ignored: the caller
    /// replays instead, so a bad snapshot costs time, never correctness.
    fn restore_state(
        &self,
        snap: &ian_store::Snapshot,
        id: &str,
        manifest: &GoalManifest,
        log_size: u64,
    ) -> Option<GoalState> {
        let bytes = match read_chunked(snap, &state_key(id)) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                warn!(goal = %id, error = %e, "state snapshot unreadable; replaying the log");
                return None;
            }
        };
        let state = match GoalState::restore(manifest.clone(), &bytes) {
            Ok(s) => s,
            Err(e) => {
                warn!(goal = %id, error = %e, "state snapshot refused; replaying the log");
                return None;
            }
        };
        let at = state.size();
        let signed = snap
            .checkpoint(id, at)
            .ok()
            .flatten()
            .and_then(|b| SignedCheckpoint::from_canonical_bytes(&b).ok())
            .filter(|cp| {
                self.log_signer(id)
                    .is_ok_and(|l| l.name() == cp.checkpoint.origin)
                    && self.signed_by_us(cp).is_ok()
            });
        match signed {
            Some(cp) if at <= log_size && state.matches_checkpoint(&cp.checkpoint) => Some(state),
            _ => {
                warn!(goal = %id, snapshot_size = at, log_size, "state snapshot does not match a signed checkpoint; replaying the log");
                None
            }
        }
    }

    /// Stores a goal's state snapshot (in chunks the store accepts),
    /// replacing the previous one.
    fn save_state(&self, id: &str, state: &GoalState) -> Result<(), NodeError> {
        let started = Instant::now();
        let bytes = state.snapshot();
        let chunk = self.store.config().max_value_bytes.max(1024);
        let key = state_key(id);
        let mut tickets = Vec::new();
        let parts: Vec<&[u8]> = bytes.chunks(chunk).collect();
        for (i, part) in parts.iter().enumerate() {
            tickets.push(self.store.put_meta(&format!("{key}/{i}"), part.to_vec())?);
        }
        // The header goes last: a crash before it leaves the old header,
        // whose chunks then fail the snapshot checksum and are ignored.
        let header = format!("{} {}", parts.len(), bytes.len()).into_bytes();
        tickets.push(self.store.put_meta(&key, header)?);
        for t in tickets {
            t.wait()?;
        }
        info!(goal = %id, size = state.size(), bytes = bytes.len(), elapsed_ms = started.elapsed().as_millis() as u64, "state snapshot saved");
        Ok(())
    }

    /// Snapshots every goal (after the workers stopped, so nothing moves).
    fn save_states(&self) {
        for g in self.goal_list() {
            let st = g.state.read();
            if st.size() == 0 {
                continue;
            }
            if let Err(e) = self.save_state(&g.id, &st) {
                warn!(goal = %g.id, error = %e, "could not save the state snapshot; the next start replays the log");
            }
        }
    }

    fn start_threads(self: &Arc<Self>) -> Result<(), NodeError> {
        let (dtx, drx) = crossbeam_channel::unbounded::<Pending>();
        *self.durable_tx.lock() = Some(dtx);
        let mut handles = Vec::new();
        let n = self.cfg.processing_threads();
        for i in 0..n {
            let node = Arc::clone(self);
            let rx = self.queue_rx.clone();
            let h = std::thread::Builder::new()
                .name(format!("ian-eval-{i}"))
                .stack_size(self.cfg.limits.worker_stack_bytes as usize)
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        node.metrics.queue_depth.dec();
                        node.process(job);
                    }
                })
                .map_err(|e| NodeError::Sandbox(format!("cannot start worker thread: {e}")))?;
            handles.push(h);
        }
        let node = Arc::clone(self);
        let h = std::thread::Builder::new()
            .name("ian-durable".into())
            .spawn(move || node.durable_loop(drx))
            .map_err(|e| NodeError::Sandbox(format!("cannot start durability thread: {e}")))?;
        handles.push(h);
        *self.workers.lock() = handles;
        info!(
            workers = n,
            queue = self.cfg.limits.queue_capacity,
            "evaluation workers started"
        );
        Ok(())
    }

    /// Attach Tau wiring (after open).
    pub fn set_tau(&self, tau: TauHandle) {
        *self.tau.lock() = Some(tau);
    }

    /// The Tau wiring, if enabled.
    pub fn tau(&self) -> Option<TauHandle> {
        self.tau.lock().clone()
    }

    /// Stop accepting, let queued contributions finish (they are replied to
    /// only once durable), then stop the threads and close the store.
    pub fn shutdown(&self, grace: Duration) {
        drop(self.queue.lock().take());
        let deadline = Instant::now() + grace;
        while (self.in_flight.load(Ordering::SeqCst) > 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let left = self.in_flight.load(Ordering::SeqCst);
        if left > 0 {
            warn!(
                left,
                "shutdown grace elapsed with contributions still in flight; they were never acknowledged"
            );
        }
        drop(self.durable_tx.lock().take());
        // A runaway evaluation (bounded only by its goal's wall backstop)
        // must not hold the shutdown past its grace: threads still busy at
        // the deadline are left to end with the process. Their entries were
        // never acknowledged, and the log on disk stays consistent.
        let handles = std::mem::take(&mut *self.workers.lock());
        let settle = deadline.max(Instant::now()) + Duration::from_millis(200);
        let mut abandoned = 0;
        for h in handles {
            while !h.is_finished() && Instant::now() < settle {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                abandoned += 1;
            }
        }
        if abandoned > 0 {
            warn!(
                abandoned,
                "shutdown grace elapsed with evaluations still running; leaving them to end with the process"
            );
            // Still-running workers could commit after a snapshot; skip it,
            // the next start replays the tail instead.
            return;
        }
        info!("evaluation workers stopped");
        if !self.failed.load(Ordering::SeqCst) {
            self.save_states();
        }
    }

    /// Whether a store commit failed (the node then refuses contributions
    /// until restarted): the `ian_store_failed` gauge.
    pub fn store_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Why the node refuses contributions right now, if it does: a failed
    /// store commit (until restarted) or a shutdown in progress.
    pub fn refusing(&self) -> Option<&'static str> {
        if self.failed.load(Ordering::SeqCst) {
            Some("the store failed a commit; the node accepts no contributions until restarted")
        } else if self.queue.lock().is_none() {
            Some("the node is shutting down")
        } else {
            None
        }
    }

    /// Config in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// Metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// Operator key checker.
    pub fn operator_key(&self) -> &OperatorKey {
        &self.operator
    }
    /// The node's checkpoint-signing public key.
    pub fn public_key(&self) -> PublicKeyBytes {
        self.public
    }
    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    /// Number of goals.
    pub fn goal_count(&self) -> usize {
        self.goals.read().len()
    }
    /// Whether a goal exists.
    pub fn has_goal(&self, goal: &str) -> bool {
        self.goals.read().contains_key(goal)
    }
    /// A goal's runtime.
    pub fn goal(&self, goal: &str) -> Result<Arc<GoalRt>, ApiError> {
        let goals = self.goals.read();
        match goals.get(goal) {
            Some(g) => Ok(g.clone()),
            None => {
                let known: Vec<&str> = goals.keys().map(String::as_str).collect();
                Err(goal_missing(goal, &known))
            }
        }
    }
    /// All goals.
    pub fn goal_list(&self) -> Vec<Arc<GoalRt>> {
        self.goals.read().values().cloned().collect()
    }

    /// Update gauges that are read rather than counted.
    /// What `/metrics` reads from elsewhere at each scrape: the store,
    /// evidence, the libp2p network, the mirror and the Tau bridge.
    fn scrape_samples(&self) -> Vec<crate::runtime::metrics::Sample> {
        use crate::runtime::metrics::Sample;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let st = self.store.stats();
        let cache = self.judge.cache_stats();
        let mut out = vec![
            Sample::counter(
                "ian_store_commits",
                "Store transactions committed with fsync (group commit).",
                st.commits,
            ),
            Sample::counter(
                "ian_store_writes",
                "Writes made durable by those commits.",
                st.ops_committed,
            ),
            Sample::gauge(
                "ian_store_failed",
                "1 when a store commit failed: the node accepts no contributions until restarted.",
                f64::from(u8::from(self.store_failed())),
            ),
            Sample::counter(
                "ian_sandbox_compiles",
                "Components compiled (new code: neither in memory nor in the disk cache).",
                cache.compiles,
            ),
            Sample {
                value: cache.compile_micros as f64 / 1e6,
                ..Sample::counter(
                    "ian_sandbox_compile_seconds",
                    "Time spent compiling components.",
                    0,
                )
            },
            Sample::counter(
                "ian_sandbox_compile_waits",
                "Loads of new code that waited for the compile gate (sandbox.max_concurrent_compiles) or for the same code's compile.",
                cache.compile_waits,
            ),
            Sample::counter(
                "ian_sandbox_cache_hits",
                "Component loads answered by the compiled cache (memory or disk) without compiling.",
                cache.memory_hits + cache.disk_hits,
            ),
            Sample::counter(
                "ian_sandbox_pool_waits",
                "Evaluations that found the instance pool full and waited for slots to run again (sandbox.pool_wait_ms).",
                cache.pool_waits,
            ),
            Sample {
                value: cache.pool_wait_micros as f64 / 1e6,
                ..Sample::counter(
                    "ian_sandbox_pool_wait_seconds",
                    "Time evaluations spent waiting for instance slots.",
                    0,
                )
            },
            Sample::counter(
                "ian_evidence",
                "Evidence records stored: forks, entries that re-evaluate differently or break the goal's rules, entries that do not rebuild a signed root, peers serving bad data.",
                self.evidence().count(),
            ),
        ];
        let pool = self.judge.pool_usage();
        let resources = [
            ("core_instances", pool.core_instances),
            ("memories", pool.memories),
            ("tables", pool.tables),
            ("component_instances", pool.component_instances),
        ];
        // Each family's samples together: one HELP line per metric name.
        for (what, (used, _)) in resources {
            out.push(Sample {
                labels: vec![("resource", what.into())],
                ..Sample::gauge(
                    "ian_sandbox_pool_in_use",
                    "Instance-pool slots in use now, by resource.",
                    used as f64,
                )
            });
        }
        for (what, (_, total)) in resources {
            out.push(Sample {
                labels: vec![("resource", what.into())],
                ..Sample::gauge(
                    "ian_sandbox_pool_slots",
                    "Instance-pool slots, by resource (sandbox.pool_<resource>).",
                    f64::from(total),
                )
            });
        }
        if let Some(p) = self.p2p() {
            let c = p.counters();
            out.extend([
                Sample::gauge(
                    "ian_p2p_peers",
                    "libp2p peers connected.",
                    p.connected() as f64,
                ),
                Sample::counter(
                    "ian_p2p_invalid_messages",
                    "Announcements rejected by validation (their senders are scored down).",
                    get(&c.invalid_messages),
                ),
                Sample::counter(
                    "ian_p2p_rate_limited",
                    "Sync requests refused by the per-peer rate limit.",
                    get(&c.rate_limited),
                ),
                Sample::counter(
                    "ian_p2p_requests_served",
                    "Sync requests served to peers.",
                    get(&c.served),
                ),
                Sample::counter(
                    "ian_p2p_checkpoints_announced",
                    "Checkpoints of this node's logs announced.",
                    get(&c.announced),
                ),
                Sample::counter(
                    "ian_p2p_checkpoints_heard",
                    "Newer checkpoints of other logs heard and verified.",
                    get(&c.heard),
                ),
            ]);
        }
        if let Some(m) = self.witness().and_then(|w| w.mirror()) {
            out.push(Sample::counter(
                "ian_mirror_reevaluated",
                "Entries of mirrored logs re-evaluated to the recorded bits.",
                get(&m.reevaluated),
            ));
        }
        if let Some(t) = self.tau() {
            out.extend(t.samples());
        }
        if let Some(r) = &self.remote {
            out.extend(r.samples());
        }
        out
    }

    /// The node's evaluation workers, when `[workers]` is configured.
    pub fn remote(&self) -> Option<&Arc<Remote>> {
        self.remote.as_ref()
    }

    pub fn refresh_gauges(&self) {
        for g in self.goal_list() {
            self.metrics.set_log_size(&g.id, g.state.read().size());
        }
    }

    /// `GET /api/v1/node`.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            public_key: self.public,
            engine_version: self.judge.engine_version(),
            abi_version: self.judge.abi_version().to_string(),
            config_hash: self.judge.config_hash(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            name: self.name.clone(),
            witness_vkey: self.witness.as_ref().map(|w| w.vkey()),
            reevaluates: self.witness.as_ref().is_some_and(|w| w.mirror().is_some()),
            key_rotations: self.rotations.clone(),
            workers: self.remote.as_ref().map(|r| r.info()),
        }
    }

    /// Effective proof-of-work bits for a goal: the larger of the node's
    /// setting and the goal's own `limits.pow_bits`, so an operator can
    /// raise the price of a submission but never lower what the goal asks.
    pub fn pow_bits(&self, goal: &GoalRt) -> u32 {
        let node = self.cfg.limits.pow_bits.min(u32::MAX as u64) as u32;
        node.max(goal.manifest.limits.pow_bits)
    }

    /// `GET /api/v1/goals/{goal}` body.
    pub fn status_of(&self, g: &GoalRt) -> GoalStatus {
        let checkpoint = g.checkpoint.read().clone();
        let st = g.state.read();
        let top = st.leaderboard().best().map(|m| g.ranked(m));
        // Size and root are the signed checkpoint's: durable, published.
        let (log_size, root) = match &checkpoint {
            Some(c) => (c.checkpoint.size, c.checkpoint.root),
            None => (0, GoalState::new(g.manifest.clone()).root()),
        };
        GoalStatus {
            id: g.id.clone(),
            title: g.manifest.title.clone(),
            goal_hash: st.goal_hash(),
            log_size,
            root,
            checkpoint,
            origin: g.log.name().to_string(),
            log_vkey: g.log.verifier().to_vkey(),
            tiles: format!("/logs/{}", g.id),
            top,
            accepted: g.accepted.load(Ordering::Relaxed),
            rejected: g.rejected.load(Ordering::Relaxed),
            pow_bits: self.pow_bits(g),
            ranking: ranking_text(&g.manifest),
            tau: self.tau().map(|t| t.goal_status(&g.id)),
            retired_at: g
                .retired_at_ms
                .read()
                .map(crate::runtime::timefmt::rfc3339_ms),
            competition: CompetitionView::of(&g.manifest, now_ms(), &st),
        }
    }

    /// `GET /api/v1/goals/{goal}/contributors/{key}`: the contributor's
    /// accepted entries (through the goal's contributor index) with their
    /// place on the board, and their stored rejections.
    pub fn contributor_history(
        &self,
        goal: &str,
        key: &str,
    ) -> Result<ContributorHistory, ApiError> {
        let g = self.goal(goal)?;
        let contributor = PublicKeyBytes::from_hex(key).map_err(|_| {
            ApiError::bad_request(
                "invalid_key",
                "expected an Ed25519 public key as 64 hex digits",
            )
        })?;
        let (size, ranks) = {
            let st = g.state.read();
            let ranks: BTreeMap<u64, u64> = st
                .leaderboard()
                .entries()
                .iter()
                .enumerate()
                .map(|(i, m)| (m.log_index, i as u64 + 1))
                .collect();
            (st.size(), ranks)
        };
        let snap = self.store.snapshot().map_err(internal)?;
        let (mine, attempts) = {
            let idx = self.log_index(&g, &snap, size)?;
            (
                idx.entries_of(&contributor).to_vec(),
                idx.attempts_of(&contributor).to_vec(),
            )
        };
        let mut accepted = Vec::new();
        for index in mine {
            let Some(bytes) = snap.entry(&g.id, index).map_err(internal)? else {
                continue;
            };
            let entry = LogEntry::from_canonical_bytes(&bytes).map_err(internal)?;
            accepted.push(HistoryEntry {
                log_index: index,
                pack_hash: entry.pack_hash.to_hex(),
                name: g
                    .names
                    .lock()
                    .get(&entry.pack_hash)
                    .cloned()
                    .unwrap_or_default(),
                score: entry.score.get(),
                timestamp_ms: entry.timestamp_ms,
                rank: ranks.get(&index).copied(),
            });
        }
        // The logged attempts are permanent; the stored ring holds their
        // messages (while it keeps them) and the refusals that are not
        // logged.
        let mut ring: Vec<RecentRejection> =
            stored_rejections(&snap, &g.id, self.cfg.limits.stored_rejections)
                .into_iter()
                .filter(|r| r.contributor == contributor.to_hex())
                .collect();
        let mut rejected = Vec::new();
        for index in attempts {
            let Some(bytes) = snap.entry(&g.id, index).map_err(internal)? else {
                continue;
            };
            let Ok(LogRecord::Attempt(a)) = LogRecord::from_canonical_bytes(&bytes) else {
                continue;
            };
            let logged = format!("logged as attempt {index}, which counts against the quotas");
            let stored = ring
                .iter()
                .position(|r| r.pack_hash == a.pack_hash.to_hex() && r.code == a.reason);
            if let Some(at) = stored {
                let mut r = ring.remove(at);
                r.detail = format!("{}; {logged}", r.detail);
                rejected.push(r);
                continue;
            }
            let name = snap
                .blob(&a.pack_hash.0)
                .ok()
                .flatten()
                .and_then(|b| ian_core::AgentPack::from_canonical_bytes(&b).ok())
                .and_then(|p| p.metadata().get("name").map(str::to_string))
                .unwrap_or_default();
            rejected.push(RecentRejection {
                pack_hash: a.pack_hash.to_hex(),
                name,
                code: a.reason.clone(),
                step: match a.step {
                    3 => "invariants",
                    5 => "evaluation",
                    _ => "thresholds",
                }
                .to_string(),
                detail: format!("evaluated and rejected ({}); {logged}", a.reason),
                contributor: contributor.to_hex(),
                time_ms: a.header.timestamp_ms,
                seq: 0,
            });
        }
        rejected.extend(ring);
        rejected.sort_by_key(|r| r.time_ms);
        Ok(ContributorHistory {
            goal: g.id.clone(),
            contributor: contributor.to_hex(),
            log_size: size,
            accepted,
            rejected,
        })
    }

    /// The goal's [`ContributorIndex`] extended to cover the first `size`
    /// entries: built on first use, then fed only what was appended since.
    pub fn log_index<'g>(
        &self,
        g: &'g GoalRt,
        snap: &ian_store::Snapshot,
        size: u64,
    ) -> Result<parking_lot::MutexGuard<'g, ContributorIndex>, ApiError> {
        let mut idx = g.contributors.lock();
        if idx.indexed < size {
            for item in snap.entries(&g.id, idx.indexed..size).map_err(internal)? {
                let (index, bytes) = item.map_err(internal)?;
                idx.indexed = index + 1;
                let entry = match LogRecord::from_canonical_bytes(&bytes) {
                    Ok(LogRecord::Entry(e)) => e,
                    Ok(LogRecord::Attempt(a)) => {
                        idx.attempts.entry(a.contributor.0).or_default().push(index);
                        continue;
                    }
                    _ => continue,
                };
                idx.by_key
                    .entry(entry.contributor.0)
                    .or_default()
                    .push(index);
                let meta = entry.meta();
                if idx
                    .best
                    .last()
                    .is_none_or(|b| ian_core::leaderboard::ranks_above(&meta, b))
                {
                    idx.best.push(meta);
                }
            }
        }
        Ok(idx)
    }

    /// The per-seed results the node kept when it accepted entry `index`
    /// (`None` for entries it did not evaluate itself, e.g. restored from
    /// an older store).
    pub fn seed_results(&self, goal: &str, index: u64) -> Option<Vec<SeedResult>> {
        let bytes = self.store.meta(&seeds_key(goal, index)).ok().flatten()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// A consistent online copy of the whole store (one read snapshot;
    /// submissions go on), as an open file already unlinked from the data
    /// dir, with its length: the caller streams it and nothing is left
    /// behind, even if the download is cut.
    pub fn backup(&self) -> Result<(std::fs::File, u64), ApiError> {
        // One at a time: each copy is the size of the store.
        let Some(_one) = self.backup_lock.try_lock() else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "backup_running",
                "another backup is being taken; try again when it is done",
            ));
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = self.data_dir.join(format!("{BACKUP_PREFIX}{nanos}.redb"));
        if let Err(e) = self.store.backup_to(&path) {
            remove_backup_files(&self.data_dir);
            return Err(internal(e));
        }
        let file = std::fs::File::open(&path).map_err(internal);
        let _ = std::fs::remove_file(&path);
        let file = file?;
        let len = file.metadata().map_err(internal)?.len();
        info!(bytes = len, "backup taken");
        Ok((file, len))
    }

    /// Retires a goal (operator): durable before it takes effect, and
    /// idempotent (a retired goal keeps its first retirement time). Entries
    /// already queued are still decided; nothing is removed.
    pub fn retire(&self, goal: &str) -> Result<GoalStatus, ApiError> {
        let g = self.goal(goal)?;
        let _serial = self.publish_lock.lock();
        if g.retired_at_ms.read().is_none() {
            let now = now_ms();
            self.store
                .put_meta(&retired_key(&g.id), now.to_string().into_bytes())
                .and_then(|t| t.wait())
                .map_err(internal)?;
            *g.retired_at_ms.write() = Some(now);
            info!(goal = %g.id, "goal retired");
        }
        Ok(self.status_of(&g))
    }

    /// All goal statuses.
    pub fn goal_statuses(&self) -> GoalList {
        GoalList {
            goals: self.goal_list().iter().map(|g| self.status_of(g)).collect(),
        }
    }

    /// `GET /api/v1/goals/{goal}`.
    pub fn goal_status(&self, goal: &str) -> Result<GoalStatus, ApiError> {
        let g = self.goal(goal)?;
        Ok(self.status_of(&g))
    }

    /// `GET /api/v1/goals/{goal}/manifest`.
    pub fn manifest(&self, goal: &str) -> Result<ManifestView, ApiError> {
        let g = self.goal(goal)?;
        Ok(ManifestView {
            goal_toml: g.goal_toml.clone(),
            manifest: g.manifest.clone(),
            goal_hash: g.manifest.goal_hash(),
        })
    }

    /// `GET /api/v1/goals/{goal}/leaderboard`.
    pub fn leaderboard(&self, goal: &str) -> Result<Leaderboard, ApiError> {
        let g = self.goal(goal)?;
        let st = g.state.read();
        Ok(Leaderboard {
            goal: g.id.clone(),
            ranking: ranking_text(&g.manifest),
            size: st.size(),
            top: st
                .leaderboard()
                .entries()
                .iter()
                .map(|m| g.ranked(m))
                .collect(),
            pareto: st
                .frontier()
                .map(|f| f.members().iter().map(|m| g.ranked(m)).collect())
                .unwrap_or_default(),
            rejections: g.rejections.lock().iter().cloned().collect(),
        })
    }

    /// `GET /api/v1/goals/{goal}/final`.
    pub fn final_board(&self, goal: &str) -> Result<crate::runtime::views::FinalBoard, ApiError> {
        let g = self.goal(goal)?;
        let st = g.state.read();
        let (evaluated, total) = st.final_progress().unwrap_or((0, 0));
        Ok(crate::runtime::views::FinalBoard {
            goal: g.id.clone(),
            revealed: st.revealed_seeds().is_some(),
            hidden_seeds: st.revealed_seeds().unwrap_or_default(),
            evaluated: evaluated as u64,
            total: total as u64,
            top: st
                .final_board()
                .map(|b| b.entries().iter().map(|m| g.ranked(m)).collect())
                .unwrap_or_default(),
        })
    }

    /// `GET /api/v1/goals/{goal}/log`.
    pub fn log_range(
        &self,
        goal: &str,
        start: u64,
        limit: Option<u64>,
    ) -> Result<LogRange, ApiError> {
        let g = self.goal(goal)?;
        let size = g.state.read().size();
        let max = self.cfg.limits.max_log_range;
        let limit = limit.unwrap_or(max.min(100));
        if limit > max {
            return Err(ApiError::bad_request(
                "range_too_large",
                format!("limit {limit} exceeds the maximum of {max} entries per request"),
            ));
        }
        let end = start.saturating_add(limit).min(size);
        let (mut entries, mut records) = (Vec::new(), Vec::new());
        if start < end {
            let snap = self.store.snapshot().map_err(internal)?;
            for item in snap.entries(&g.id, start..end).map_err(internal)? {
                let (_, bytes) = item.map_err(internal)?;
                match LogRecord::from_canonical_bytes(&bytes)
                    .map_err(|e| internal(format!("{e}")))?
                {
                    LogRecord::Entry(e) => entries.push(e),
                    other => records.extend(RecordView::of(&other)),
                }
            }
        }
        Ok(LogRange {
            goal: g.id.clone(),
            start,
            size,
            entries,
            records,
        })
    }

    /// `GET /api/v1/goals/{goal}/log/{index}/proof`.
    pub fn inclusion_proof(
        &self,
        goal: &str,
        index: u64,
        size: Option<u64>,
    ) -> Result<InclusionView, ApiError> {
        let g = self.goal(goal)?;
        let signed = g.signed_size();
        let st = g.state.read();
        let size = size.unwrap_or(signed);
        if size > signed {
            return Err(ApiError::bad_request(
                "size_out_of_range",
                format!("size {size} is beyond the latest signed checkpoint (size {signed})"),
            ));
        }
        if index >= size {
            return Err(ApiError::not_found(
                "index_out_of_range",
                format!("no entry {index} in a log of size {size}"),
            ));
        }
        let proof = st
            .mmr()
            .inclusion_proof(index, size)
            .map_err(|e| internal(e.to_string()))?;
        let root = st
            .mmr()
            .root_at(size)
            .map_err(|e| internal(e.to_string()))?;
        let leaf = st.mmr().leaf(index).map_err(|e| internal(e.to_string()))?;
        Ok(InclusionView {
            goal: g.id.clone(),
            index,
            size,
            root,
            leaf_hash: leaf,
            proof,
        })
    }

    /// `GET /api/v1/goals/{goal}/receipts/{index}`: entry + proof at the
    /// latest checkpoint's size + that checkpoint.
    pub fn receipt(&self, goal: &str, index: u64) -> Result<Receipt, ApiError> {
        let g = self.goal(goal)?;
        let (proof, checkpoint) = {
            let st = g.state.read();
            // The quorum-cosigned checkpoint when it covers the entry, so
            // the receipt carries the witnesses' cosignatures; else the
            // latest signed one.
            let final_cp = g
                .final_checkpoint
                .read()
                .clone()
                .filter(|c| self.collector.is_some() && c.checkpoint.size > index);
            let cp = final_cp.or_else(|| g.checkpoint.read().clone());
            let Some(cp) = cp else {
                return Err(ApiError::not_found(
                    "index_out_of_range",
                    format!("no entry {index}: the log is empty"),
                ));
            };
            let size = cp.checkpoint.size;
            if index >= size {
                return Err(ApiError::not_found(
                    "index_out_of_range",
                    format!("no entry {index} in a log of size {size}"),
                ));
            }
            (
                st.mmr()
                    .inclusion_proof(index, size)
                    .map_err(|e| internal(e.to_string()))?,
                cp,
            )
        };
        let bytes = self
            .store
            .snapshot()
            .and_then(|s| s.entry(&g.id, index))
            .map_err(internal)?;
        let bytes = bytes.ok_or_else(|| {
            ApiError::not_found("index_out_of_range", format!("no entry {index}"))
        })?;
        let entry = match LogRecord::from_canonical_bytes(&bytes)
            .map_err(|e| internal(e.to_string()))?
        {
            LogRecord::Entry(e) => e,
            other => {
                return Err(ApiError::not_found(
                    "not_an_entry",
                    format!(
                        "leaf {index} of goal {} is a {} record, not an accepted entry: receipts are for entries; its inclusion proof is at /api/v1/goals/{}/log/{index}/proof",
                        g.id,
                        other.kind(),
                        g.id
                    ),
                ));
            }
        };
        Ok(Receipt {
            entry,
            proof,
            checkpoint,
        })
    }

    /// `GET /api/v1/goals/{goal}/packs/{hash}/receipt`: the receipt of the
    /// entry that logged this pack, so a client whose submission timed out
    /// can find out whether it was recorded.
    pub fn receipt_for_pack(&self, goal: &str, pack: &str) -> Result<Receipt, ApiError> {
        let h = parse_hash(pack)?;
        let g = self.goal(goal)?;
        let index = g.state.read().lookup_pack(&h).ok_or_else(|| {
            ApiError::not_found(
                "unknown_pack",
                format!("goal {goal} has not logged pack {h} (not accepted, or not yet durable)"),
            )
        })?;
        self.receipt(goal, index)
    }

    /// `GET /api/v1/goals/{goal}/checkpoint`.
    pub fn checkpoint(&self, goal: &str) -> Result<SignedCheckpoint, ApiError> {
        let g = self.goal(goal)?;
        let cp = g.checkpoint.read().clone();
        cp.ok_or_else(|| {
            ApiError::not_found(
                "no_checkpoint",
                "the log is empty; no checkpoint signed yet",
            )
        })
    }

    /// `GET /api/v1/goals/{goal}/consistency`.
    pub fn consistency(
        &self,
        goal: &str,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyView, ApiError> {
        let g = self.goal(goal)?;
        let signed = g.signed_size();
        let st = g.state.read();
        let to = to.unwrap_or(signed);
        if to > signed || from > to {
            return Err(ApiError::bad_request(
                "size_out_of_range",
                format!(
                    "need from <= to <= {signed} (the latest signed checkpoint's size), got from={from} to={to}"
                ),
            ));
        }
        let proof = st
            .mmr()
            .consistency_proof(from, to)
            .map_err(|e| internal(e.to_string()))?;
        let old_root = st
            .mmr()
            .root_at(from)
            .map_err(|e| internal(e.to_string()))?;
        let new_root = st.mmr().root_at(to).map_err(|e| internal(e.to_string()))?;
        Ok(ConsistencyView {
            goal: g.id.clone(),
            from,
            to,
            old_root,
            new_root,
            proof,
        })
    }

    /// `GET /api/v1/blobs/{hash}`.
    pub fn blob(&self, hash: &str) -> Result<Vec<u8>, ApiError> {
        let h = parse_hash(hash)?;
        self.store
            .blob(&h.0)
            .map_err(internal)?
            .ok_or_else(|| ApiError::not_found("unknown_blob", "no blob with this hash"))
    }

    /// `GET /api/v1/packs/{hash}`.
    pub fn pack(&self, hash: &str) -> Result<AgentPack, ApiError> {
        let h = parse_hash(hash)?;
        let bytes = self.store.blob(&h.0).map_err(internal)?.ok_or_else(|| {
            ApiError::not_found("unknown_pack", "no accepted pack with this hash")
        })?;
        AgentPack::from_canonical_bytes(&bytes)
            .map_err(|_| ApiError::not_found("unknown_pack", "no accepted pack with this hash"))
    }

    /// `GET /api/v1/tau`.
    pub fn tau_status(&self) -> Value {
        match self.tau() {
            Some(t) => t.status(),
            None => json!({"enabled": false, "goals": [], "pending": 0}),
        }
    }

    /// Publish a goal (blocking: hashes and compiles components).
    /// Returns the status and whether it was newly created.
    pub fn publish(&self, req: PublishRequest) -> Result<(GoalStatus, bool), ApiError> {
        let _serial = self.publish_lock.lock();
        let spec = GoalSpec::from_toml(&req.goal_toml)
            .map_err(|e| ApiError::bad_request("invalid_goal", format!("goal file: {e}")))?;
        let get = |path: &str| -> Result<Vec<u8>, ApiError> {
            let b = req.components.get(path).ok_or_else(|| {
                ApiError::bad_request(
                    "missing_component",
                    format!(
                        "the goal names component `{path}` but the request does not include it"
                    ),
                )
            })?;
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_base64",
                        format!("component `{path}` is not valid base64"),
                    )
                })
        };
        let dataset = self.dataset_of(&spec, &req.dataset)?;
        let harness = get(&spec.harness.component)?;
        let mut invariants = Vec::new();
        for inv in &spec.invariants {
            invariants.push(get(&inv.component)?);
        }
        let resolved = ResolvedComponents {
            harness: ian_core::sha256(&harness),
            invariants: invariants.iter().map(|b| ian_core::sha256(b)).collect(),
            dataset: dataset.as_ref().map(|(l, _)| l.hash()),
        };
        let manifest = spec
            .resolve(&resolved)
            .map_err(|e| ApiError::bad_request("invalid_goal", format!("goal file: {e}")))?;
        if let Some((field, value, max, setting)) =
            self.cfg.limits.goal_limit_over(&manifest.limits)
        {
            return Err(ApiError::bad_request(
                "goal_limit_too_high",
                format!(
                    "the goal's [limits] {field} = {value} is above this node's maximum of {max} ({setting})"
                ),
            ));
        }
        let id = manifest.id.as_str().to_string();
        if let Some(existing) = self.goals.read().get(&id) {
            if existing.manifest.goal_hash() == manifest.goal_hash() {
                return Ok((self.status_of(existing), false));
            }
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "goal_exists",
                format!("goal `{id}` already exists with different rules; publish under a new id"),
            ));
        }
        if self.goal_count() as u64 >= self.cfg.limits.max_goals {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "too_many_goals",
                format!(
                    "this node holds its maximum of {} goals",
                    self.cfg.limits.max_goals
                ),
            ));
        }
        let mut blobs: BTreeMap<Hash32, Vec<u8>> = BTreeMap::new();
        blobs.insert(resolved.harness, harness);
        for (h, b) in resolved.invariants.iter().zip(invariants) {
            blobs.insert(*h, b);
        }
        let dataset_dir = match dataset {
            None => None,
            Some((listing, files)) => {
                // The listing is stored as the blob named by the dataset
                // hash, next to the file blobs, so a restart (or a replaying
                // client) can rebuild the directory from blobs alone.
                blobs.insert(listing.hash(), listing.to_canonical_bytes());
                blobs.extend(files);
                let dir = crate::runtime::datasets::materialise(
                    &self.data_dir.join("datasets"),
                    &listing,
                    &|h| blobs.get(h).cloned(),
                )
                .map_err(|e| internal(format!("materialising the dataset: {e}")))?;
                Some(dir)
            }
        };
        let loaded = self
            .judge
            .load_goal(
                &manifest,
                &|h| blobs.get(&h).cloned(),
                dataset_dir.as_deref(),
            )
            .map_err(|e| {
                ApiError::bad_request("invalid_component", format!("goal component refused: {e}"))
            })?;
        // Durable before visible.
        let mut tickets = Vec::new();
        for (h, b) in &blobs {
            tickets.push(self.store.put_blob(h.0, b.clone()).map_err(internal)?);
        }
        let meta = self
            .store
            .put_meta(
                &format!("goal-toml/{id}"),
                req.goal_toml.clone().into_bytes(),
            )
            .map_err(internal)?;
        let goal_t = self
            .store
            .put_goal(&id, manifest.to_canonical_bytes())
            .map_err(internal)?;
        for t in tickets {
            t.wait().map_err(internal)?;
        }
        meta.wait().map_err(internal)?;
        goal_t.wait().map_err(|e| match e {
            StoreError::GoalConflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "goal_exists",
                format!("goal `{id}` already exists with different rules"),
            ),
            other => internal(other),
        })?;
        let log = self.log_signer(&id).map_err(internal)?;
        let rt = Arc::new(GoalRt {
            id: id.clone(),
            state: RwLock::new(GoalState::new(manifest.clone())),
            manifest,
            goal_toml: req.goal_toml,
            loaded,
            log,
            checkpoint: RwLock::new(None),
            final_checkpoint: RwLock::new(None),
            witnessed: tokio::sync::watch::channel(0).0,
            rejections: Mutex::new(VecDeque::new()),
            names: Mutex::new(BTreeMap::new()),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retired_at_ms: RwLock::new(None),
            rejection_seq: AtomicU64::new(0),
            contributors: Mutex::new(ContributorIndex::default()),
        });
        self.goals.write().insert(id.clone(), rt.clone());
        self.metrics.set_log_size(&id, 0);
        info!(goal = %id, goal_hash = %rt.manifest.goal_hash(), "goal published");
        if let Some(p) = self.p2p() {
            // Nobody else may announce this node's new log.
            p.pin(
                &ian_core::checkpoint::log_origin(&self.name, &id),
                self.public.0,
            );
        }
        if let Some(t) = self.tau() {
            t.goal_published(&rt.manifest);
        }
        Ok((self.status_of(&rt), true))
    }

    /// Checks a publish request's dataset files against the goal file and
    /// the node's dataset limits; returns the listing and the file bytes by
    /// content hash.
    fn dataset_of(
        &self,
        spec: &GoalSpec,
        uploads: &[DatasetUpload],
    ) -> Result<Option<DatasetFiles>, ApiError> {
        let Some(dir) = &spec.harness.dataset else {
            if uploads.is_empty() {
                return Ok(None);
            }
            return Err(ApiError::bad_request(
                "unexpected_dataset",
                "the request carries dataset files but the goal file names no harness.dataset",
            ));
        };
        if uploads.is_empty() {
            return Err(ApiError::bad_request(
                "missing_dataset",
                format!(
                    "the goal names dataset `{dir}` but the request does not include its files"
                ),
            ));
        }
        let limits = self.cfg.limits.dataset_limits();
        if uploads.len() as u64 > limits.max_files {
            return Err(dataset_refused(
                ian_core::dataset::DatasetError::TooManyFiles {
                    count: uploads.len() as u64,
                    max: limits.max_files,
                },
            ));
        }
        let mut listed = Vec::with_capacity(uploads.len());
        let mut files = BTreeMap::new();
        for u in uploads {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&u.bytes)
                .map_err(|_| {
                    let shown: String = u.path.chars().take(200).collect();
                    ApiError::bad_request(
                        "invalid_base64",
                        format!("dataset file `{shown}` is not valid base64"),
                    )
                })?;
            let sha256 = ian_core::sha256(&bytes);
            listed.push(ian_core::dataset::DatasetFile {
                path: u.path.clone(),
                sha256,
                size: bytes.len() as u64,
            });
            files.insert(sha256, bytes);
        }
        let listing =
            ian_core::dataset::DatasetListing::new(listed, &limits).map_err(dataset_refused)?;
        Ok(Some((listing, files)))
    }

    /// Admission: rate limits, proof-of-work, code presence; then queue.
    /// Returns the channel the reply arrives on.
    pub fn enqueue(
        &self,
        goal: &str,
        req: SubmitRequest,
        received: Instant,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<SubmitAccepted, ApiError>>, ApiError> {
        let g = self.goal(goal)?;
        let count = |outcome: &str| self.metrics.submissions.inc(&[&g.id, outcome]);
        if let Some(at) = *g.retired_at_ms.read() {
            count("invalid");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "goal_retired",
                format!(
                    "goal `{}` was retired at {} and takes no new submissions; its log, leaderboard and proofs stay readable",
                    g.id,
                    crate::runtime::timefmt::rfc3339_ms(at)
                ),
            ));
        }
        if self.failed.load(Ordering::Relaxed) {
            return Err(ApiError::unavailable(
                "the node's store failed; it accepts no contributions until restarted",
            ));
        }
        let c = &req.contribution;
        // Phases and quotas, asked before any work with the node's clock;
        // commit asks again with the entry's own time, which is what counts.
        let now = now_ms();
        let open = {
            let st = g.state.read();
            st.check_open(&c.contributor, st.entry_time(now))
        };
        if let Err(r) = open {
            count(r.code());
            return Err(rejection_error(&r, now));
        }
        // The contributor's token bucket is charged only once the signature
        // verifies (on the worker), so a forger naming someone else's key
        // cannot spend their budget; the per-IP bucket already ran.
        let bits = self.pow_bits(&g);
        if bits > 0 {
            let digest = ian_core::pow::contribution_digest(c);
            match req.pow_nonce {
                Some(n) if ian_core::pow::check(&g.id, &digest, n, bits) => {}
                Some(_) => {
                    count("invalid");
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "insufficient_work",
                        format!("the proof-of-work nonce does not give {bits} leading zero bits"),
                    ));
                }
                None => {
                    count("invalid");
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "work_required",
                        format!("this goal requires proof-of-work of {bits} bits (`pow_nonce`)"),
                    ));
                }
            }
        }
        let code = match &req.code {
            Some(b64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| {
                        count("invalid");
                        ApiError::bad_request("invalid_base64", "`code` is not valid base64")
                    })?;
                if ian_core::sha256(&bytes) != c.pack.code_hash() {
                    count("invalid");
                    return Err(ApiError::bad_request(
                        "code_hash_mismatch",
                        "the SHA-256 of `code` is not the pack's code hash",
                    ));
                }
                Some(bytes)
            }
            None => {
                // Only code already in the store may be left out: an entry
                // is never accepted without its code being durable (compiled
                // code cached from a rejected submission does not count).
                if !self
                    .store
                    .has_blob(&c.pack.code_hash().0)
                    .map_err(internal)?
                {
                    count("invalid");
                    return Err(ApiError::not_found(
                        "unknown_code",
                        "the node does not hold this code hash; send the component bytes in `code`",
                    ));
                }
                None
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = info_span!("contribution", goal = %g.id, pack = %c.pack.pack_hash(), contributor = %c.contributor.to_hex());
        let job = Job {
            goal: g.clone(),
            contribution: req.contribution,
            code,
            reply: tx,
            enqueued: received,
            span,
        };
        let queue = self.queue.lock().clone();
        let Some(queue) = queue else {
            return Err(ApiError::unavailable("the node is shutting down"));
        };
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        match queue.try_send(job) {
            Ok(()) => {
                self.metrics.queue_depth.inc();
                Ok(rx)
            }
            Err(TrySendError::Full(_)) => {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                count("shed");
                Err(ApiError::too_many(
                    "queue_full",
                    "the evaluation queue is full; retry later",
                    self.cfg.limits.retry_after_secs,
                ))
            }
            Err(TrySendError::Disconnected(_)) => {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                Err(ApiError::unavailable("the node is shutting down"))
            }
        }
    }

    fn reject(&self, g: &GoalRt, c: &Contribution, r: &Rejection, reply: Reply) {
        // A contribution whose signature does not verify names a key that
        // may not be its author's: it is kept, but in nobody's history.
        let attributed = !matches!(r, Rejection::BadSignature);
        let code = r.reason_code();
        let step = r.step();
        let message = r.to_string();
        self.metrics.submissions.inc(&[&g.id, code]);
        g.rejected.fetch_add(1, Ordering::Relaxed);
        let seq = g.rejection_seq.fetch_add(1, Ordering::Relaxed);
        let record = RecentRejection {
            pack_hash: c.pack.pack_hash().to_hex(),
            name: c.pack.metadata().get("name").unwrap_or("").to_string(),
            code: code.to_string(),
            step: step.name().to_string(),
            detail: message.clone(),
            contributor: if attributed {
                c.contributor.to_hex()
            } else {
                String::new()
            },
            time_ms: now_ms(),
            seq,
        };
        // Kept for the contributor's history; not waited for: a rejection
        // never holds up the pipeline, and a flood of them only rewrites
        // the goal's bounded ring of slots.
        let slot = seq % self.cfg.limits.stored_rejections;
        if let Err(e) = self.store.put_meta(
            &rejection_key(&g.id, slot),
            serde_json::to_vec(&record).unwrap_or_default(),
        ) {
            warn!(goal = %g.id, error = %e, "rejection not stored");
        }
        g.push_rejection(record);
        info!(
            goal = %g.id,
            pack = %c.pack.pack_hash(),
            contributor = %c.contributor.to_hex(),
            code,
            step = step.name(),
            reason = %message,
            "contribution rejected"
        );
        let _ = reply.send(Err(rejection_error(r, now_ms())));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// The host could not decide: nothing is recorded or shown against the
    /// pack; the contributor is told to retry.
    fn inconclusive(&self, g: &GoalRt, i: &Inconclusive, reply: Reply) {
        self.metrics.submissions.inc(&[&g.id, "inconclusive"]);
        warn!(cause = i.cause.code(), reason = %i.message, "evaluation inconclusive; nothing recorded");
        let _ = reply.send(Err(ApiError::inconclusive(
            i,
            self.cfg.limits.retry_after_secs,
        )));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    fn refuse(&self, g: &GoalRt, c: &Contribution, r: Refusal, reply: Reply) {
        match r {
            Refusal::Rejected(r) => self.reject(g, c, &r, reply),
            Refusal::Inconclusive(i) => self.inconclusive(g, &i, reply),
        }
    }

    fn process(&self, job: Job) {
        let span = job.span.clone();
        let _e = span.enter();
        let Job {
            goal: g,
            contribution: c,
            code,
            reply,
            enqueued,
            ..
        } = job;
        if reply.is_closed() {
            debug!("client went away before evaluation; dropping");
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let started = Instant::now();
        // Step 2 (signature part) off the lock: pure, parallel.
        let v = match VerifiedContribution::verify(c.clone()) {
            Ok(v) => v,
            Err(r) => return self.reject(&g, &c, &r, reply),
        };
        if let Err(secs) = self.contributor_limiter.check(&c.contributor.0) {
            self.metrics.submissions.inc(&[&g.id, "rate_limited"]);
            let _ = reply.send(Err(ApiError::too_many(
                "rate_limited",
                "too many submissions from this contributor",
                secs,
            )));
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        // New code is charged by size before anything compiles it; code the
        // node has compiled costs nothing, however often it comes.
        if let Some(bytes) = &code {
            let code_hash = ian_core::hash::sha256(bytes);
            if !self.judge.is_compiled(&code_hash) {
                let mib = bytes.len().div_ceil(1 << 20).max(1) as u32;
                if let Err(secs) = self.compile_budget.check_n(&c.contributor.0, mib) {
                    self.metrics
                        .submissions
                        .inc(&[&g.id, "compile_budget_exceeded"]);
                    let _ = reply.send(Err(ApiError::too_many(
                        "compile_budget_exceeded",
                        format!(
                            "this contributor's budget for new code to compile is used up \
                             ({mib} MiB asked; limits.contributor_compile_burst_mib and \
                             limits.contributor_compile_mib_per_hour); code the node has \
                             compiled is free, new code fits again in {secs} s"
                        ),
                        secs,
                    )));
                    self.in_flight.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
            }
        }
        let pack_hash = v.pack_hash();
        let code_source = match &code {
            Some(bytes) => CodeSource::Bytes(bytes),
            None => CodeSource::Store(&self.store),
        };
        let blob = |h: Hash32| self.store.blob(&h.0).ok().flatten();
        let ev = match &self.remote {
            Some(r) if r.serves(&g.manifest) => Ev::Remote(RemoteEvaluator::new(
                r,
                &self.judge,
                &g.id,
                &g.loaded,
                code_source,
                &blob,
            )),
            _ => Ev::Local(SandboxEvaluator::new(&self.judge, &g.loaded, code_source)),
        };
        // Steps 1-4 and 5 without holding the goal's lock: admission reads
        // the log through `GoalRt`'s `LogIndex`, one short read lock per
        // look-up.
        let admitted = {
            let _s = info_span!("admit").entered();
            pipeline::admit(
                &g.manifest,
                &*g,
                v,
                ev.evaluator(),
                ev.checker(),
                &StandardProofVerifier,
            )
        };
        let admitted = match admitted {
            Ok(a) => a,
            Err(r) => {
                if let Refusal::Rejected(rej) = &r {
                    self.log_attempt(&g, &c, rej, 0, code.as_deref());
                }
                return self.refuse(&g, &c, r, reply);
            }
        };
        let verdict = {
            let _s = info_span!("evaluate").entered();
            pipeline::evaluate(&g.manifest, &admitted, ev.evaluator())
        };
        self.metrics
            .observe_evaluation(&g.id, started.elapsed().as_secs_f64(), ev.fuel());
        // Steps 6-9 under the goal's write lock; then queue the durable
        // writes in order. The agent's code is stored only with an entry
        // that needs it. Worker results commit in submission order.
        ev.wait_turn();
        let mut st = g.state.write();
        let accepted = match st.commit(admitted, verdict, now_ms()) {
            Ok(a) => a,
            Err(r) => {
                drop(st);
                if let Refusal::Rejected(rej) = &r {
                    self.log_attempt(&g, &c, rej, ev.fuel().unwrap_or(0), code.as_deref());
                }
                return self.refuse(&g, &c, r, reply);
            }
        };
        let entry = accepted.entry;
        let index = entry.log_index;
        let rank = match &accepted.leaderboard {
            ian_core::leaderboard::LeaderboardChange::Entered { rank, .. } => Some(rank + 1),
            _ => None,
        };
        // Queued while the goal's lock is held, so appends reach the store
        // in log order; nothing is signed here (see `finish_batch`).
        let writes = (|| -> Result<(Vec<Ticket<bool>>, Ticket<u64>), StoreError> {
            let mut ts = Vec::new();
            if let Some(bytes) = &code
                && !self.store.has_blob(&c.pack.code_hash().0)?
            {
                ts.push(self.store.put_blob(c.pack.code_hash().0, bytes.clone())?);
            }
            ts.push(
                self.store
                    .put_blob(pack_hash.0, c.pack.to_canonical_bytes())?,
            );
            let append = self
                .store
                .append(&g.id, index, entry.to_canonical_bytes())?;
            Ok((ts, append))
        })();
        let (tickets, append) = match writes {
            Ok(w) => w,
            Err(e) => {
                drop(st);
                return self.fail(&g, reply, format!("store refused the write: {e}"));
            }
        };
        drop(st);
        ev.release_turn();
        let seeds = seed_results(ev.seed_figures()).and_then(|r| {
            self.store
                .put_meta(&seeds_key(&g.id, index), r)
                .map_err(|e| warn!(goal = %g.id, index, error = %e, "per-seed results not stored"))
                .ok()
        });
        if let Some(n) = c.pack.metadata().get("name") {
            g.names.lock().insert(pack_hash, n.to_string());
        }
        let durable_tx = self.durable_tx.lock().clone();
        let pending = Pending {
            tickets,
            seeds,
            append,
            ack: Ack {
                reply,
                entry,
                rank,
                goal: g.clone(),
                enqueued,
            },
        };
        match durable_tx {
            Some(tx) => {
                if let Err(e) = tx.send(pending) {
                    self.finish_batch(vec![e.into_inner()]);
                }
            }
            None => self.finish_batch(vec![pending]),
        }
    }

    fn fail(&self, g: &GoalRt, reply: Reply, why: String) {
        let _ = reply.send(Err(ApiError::internal()));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.halt(g, &why);
    }

    /// A write path failed: refuse everything until restarted, and serve
    /// what the store holds.
    fn halt(&self, g: &GoalRt, why: &str) {
        error!(goal = %g.id, reason = %why, "commit path failed; the node stops accepting contributions until restarted");
        if !self.failed.swap(true, Ordering::SeqCst) {
            self.roll_back_to_disk();
        }
    }

    /// After a failed commit, what is served (boards, names, sizes) goes
    /// back to what the store holds: each goal's state is rebuilt from its
    /// durable log. Best effort: a store that cannot even be read leaves
    /// the state as it was, and the node refuses submissions either way.
    fn roll_back_to_disk(&self) {
        let Ok(snap) = self.store.snapshot() else {
            return;
        };
        for g in self.goal_list() {
            let size = match snap.log_size(&g.id) {
                Ok(s) => s.unwrap_or(0),
                Err(_) => continue,
            };
            let mut state = GoalState::new(g.manifest.clone());
            let replayed = snap.entries(&g.id, 0..size).map(|items| {
                items.into_iter().all(|item| {
                    item.ok()
                        .and_then(|(_, b)| LogRecord::from_canonical_bytes(&b).ok())
                        .is_some_and(|r| state.apply_record(&r).is_ok())
                })
            });
            if matches!(replayed, Ok(true)) {
                *g.state.write() = state;
                warn!(goal = %g.id, size, "served state rolled back to the durable log");
            }
        }
    }

    /// The durability thread: takes whatever accepted entries have queued
    /// up (one group-commit batch, give or take), waits until they are on
    /// disk, then signs one checkpoint per goal at the largest durable size
    /// and replies to each contributor with a receipt under it.
    fn durable_loop(&self, rx: Receiver<Pending>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_SIGN_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            self.finish_batch(batch);
        }
        // The last batch's checkpoint records must be on disk before the
        // node reports itself stopped.
        self.settle_checkpoint_writes();
    }

    /// Waits for checkpoint records queued by earlier batches. Appends
    /// commit in queue order, so once a later batch is durable these have
    /// long resolved; a failure stops the node like any failed commit.
    fn settle_checkpoint_writes(&self) -> bool {
        let pending = std::mem::take(&mut *self.checkpoint_writes.lock());
        let mut ok = true;
        for (goal, t) in pending {
            if let Err(e) = t.wait() {
                error!(goal = %goal, error = %e, "checkpoint record not durable");
                self.failed.store(true, Ordering::SeqCst);
                ok = false;
            }
        }
        ok
    }

    fn finish_batch(&self, batch: Vec<Pending>) {
        // 1. Durable first: nothing below is signed or sent before fsync.
        let mut durable: BTreeMap<String, Vec<Ack>> = BTreeMap::new();
        for Pending {
            tickets,
            seeds,
            append,
            ack: p,
        } in batch
        {
            if let Some(Err(e)) = seeds.map(Ticket::wait) {
                warn!(goal = %p.goal.id, index = p.entry.log_index, error = %e, "per-seed results not stored");
            }
            let mut ok = true;
            if let Err(e) = append.wait() {
                error!(goal = %p.goal.id, error = %e, "log append not durable");
                ok = false;
            }
            for t in tickets {
                if let Err(e) = t.wait() {
                    error!(goal = %p.goal.id, error = %e, "write not durable");
                    ok = false;
                }
            }
            if ok {
                durable.entry(p.goal.id.clone()).or_default().push(p);
            } else {
                self.fail(&p.goal, p.reply, "store commit failed".into());
            }
        }
        if !self.settle_checkpoint_writes() {
            for p in durable.into_values().flatten() {
                self.fail(&p.goal, p.reply, "checkpoint record not durable".into());
            }
            return;
        }
        // 2. One signed checkpoint per goal for the whole batch.
        for (_, ps) in durable {
            let g = ps[0].goal.clone();
            let size = ps.iter().map(|p| p.entry.log_index + 1).max().unwrap_or(0);
            let signed = {
                let st = g.state.read();
                st.mmr().root_at(size).and_then(|root| {
                    let proofs = ps
                        .iter()
                        .map(|p| st.mmr().inclusion_proof(p.entry.log_index, size))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((root, proofs))
                })
            };
            let (root, proofs) = match signed {
                Ok(x) => x,
                Err(e) => {
                    for p in ps {
                        self.fail(&g, p.reply, format!("proof at size {size}: {e}"));
                    }
                    continue;
                }
            };
            let cp = SignedCheckpoint::sign(
                ian_core::Checkpoint {
                    origin: g.log.name().to_string(),
                    size,
                    root,
                },
                &g.log,
            );
            match self
                .store
                .put_checkpoint(&g.id, size, cp.to_canonical_bytes())
            {
                Ok(t) => self.checkpoint_writes.lock().push((g.id.clone(), t)),
                Err(e) => {
                    for p in ps {
                        self.fail(&g, p.reply, format!("checkpoint record refused: {e}"));
                    }
                    continue;
                }
            }
            {
                let mut cur = g.checkpoint.write();
                if cur.as_ref().is_none_or(|c| c.checkpoint.size < size) {
                    *cur = Some(cp.clone());
                }
            }
            self.metrics.checkpoints_signed.inc();
            let new_top = ps
                .iter()
                .rev()
                .find(|p| p.rank == Some(1))
                .map(|p| p.entry.pack_hash);
            if let Some(t) = self.tau() {
                t.entry_appended(&g.id, &cp, new_top);
            }
            if self.collector.is_some() {
                self.witness_wake.notify_one();
            } else {
                self.announce(&cp);
            }
            // 3. Replies, each a receipt under the batch's checkpoint.
            for (p, proof) in ps.into_iter().zip(proofs) {
                g.accepted.fetch_add(1, Ordering::Relaxed);
                self.metrics.submissions.inc(&[&g.id, "accepted"]);
                let index = p.entry.log_index;
                info!(
                    goal = %g.id,
                    index,
                    pack = %p.entry.pack_hash,
                    contributor = %p.entry.contributor.to_hex(),
                    score = p.entry.score.get(),
                    rank = p.rank,
                    latency_ms = p.enqueued.elapsed().as_millis() as u64,
                    "contribution accepted"
                );
                let _ = p.reply.send(Ok(SubmitAccepted {
                    status: "accepted".into(),
                    entry: p.entry.clone(),
                    receipt: Receipt {
                        entry: p.entry,
                        proof,
                        checkpoint: cp.clone(),
                    },
                    rank: p.rank,
                    witnessed: self.collector.is_none(),
                }));
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Where the per-seed results of accepted entry `index` are kept.
pub(crate) fn seeds_key(goal: &str, index: u64) -> String {
    format!("seeds/{goal}/{index}")
}

/// The stored form of an evaluation's per-seed results (JSON list of
/// [`SeedResult`]), or `None` when some seed has no metrics.
/// The evaluator of one contribution: the node's own sandbox, or its
/// evaluation workers.
enum Ev<'a> {
    Local(SandboxEvaluator<'a>),
    Remote(RemoteEvaluator<'a>),
}

impl Ev<'_> {
    fn evaluator(&self) -> &dyn ian_core::pipeline::Evaluator {
        match self {
            Ev::Local(e) => e,
            Ev::Remote(e) => e,
        }
    }

    fn checker(&self) -> &dyn ian_core::pipeline::InvariantChecker {
        match self {
            Ev::Local(e) => e,
            Ev::Remote(e) => e,
        }
    }

    fn fuel(&self) -> Option<u64> {
        match self {
            Ev::Local(e) => e.fuel(),
            Ev::Remote(e) => e.fuel(),
        }
    }

    fn seed_figures(&self) -> Option<Vec<ian_workers::SeedFigures>> {
        match self {
            Ev::Local(e) => crate::runtime::judge::seed_figures(&e.runs()),
            Ev::Remote(e) => e.seed_figures(),
        }
    }

    fn wait_turn(&self) {
        if let Ev::Remote(e) = self {
            e.wait_turn();
        }
    }

    fn release_turn(&self) {
        if let Ev::Remote(e) = self {
            e.release_turn();
        }
    }
}

fn seed_results(figures: Option<Vec<ian_workers::SeedFigures>>) -> Option<Vec<u8>> {
    let results = figures?
        .into_iter()
        .map(|f| SeedResult {
            seed: f.seed,
            reward: f.reward,
            risk: f.risk,
            complexity: f.complexity,
            extra: f.extra,
            agent_fuel: f.agent_fuel,
            harness_fuel: f.harness_fuel,
            steps: f.steps,
        })
        .collect::<Vec<_>>();
    if results.is_empty() {
        return None;
    }
    serde_json::to_vec(&results).ok()
}

/// Entries a start must have replayed before it saves a fresh snapshot, so
/// the next start, even after a crash, replays only what follows.
const SNAPSHOT_AFTER_REPLAYING: u64 = 10_000;

/// Where a goal's state snapshot header lives; its chunks follow as
/// `<key>/<n>`.
fn state_key(goal: &str) -> String {
    format!("goal-state/{goal}")
}

/// Where a goal's last quorum-cosigned checkpoint note is kept.
fn final_key(goal: &str) -> String {
    format!("cosigned-checkpoint/{goal}")
}

/// Reads a chunked value written by `Node::save_state`.
fn read_chunked(snap: &ian_store::Snapshot, key: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(header) = snap.meta(key).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let text = String::from_utf8(header).map_err(|_| "header is not text".to_string())?;
    let (n, len) = text
        .split_once(' ')
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .ok_or_else(|| format!("bad header {text:?}"))?;
    let mut out = Vec::with_capacity(len.min(1 << 30));
    for i in 0..n {
        let part = snap
            .meta(&format!("{key}/{i}"))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("chunk {i} of {n} is missing"))?;
        out.extend_from_slice(&part);
    }
    if out.len() != len {
        return Err(format!(
            "chunks hold {} bytes, header says {len}",
            out.len()
        ));
    }
    Ok(Some(out))
}

/// Agent names for what pages and boards show (leaderboard, frontier, the
/// last entries), read from the stored packs. Other names are looked up as
/// entries are shown, so a start never reads one pack per log entry.
fn names_for_display(
    snap: &ian_store::Snapshot,
    goal: &str,
    state: &GoalState,
) -> Result<BTreeMap<Hash32, String>, StoreError> {
    let mut want: Vec<Hash32> = state
        .leaderboard()
        .entries()
        .iter()
        .map(|m| m.pack_hash)
        .collect();
    if let Some(f) = state.frontier() {
        want.extend(f.members().iter().map(|m| m.pack_hash));
    }
    let size = state.size();
    for item in snap.entries(goal, size.saturating_sub(RECENT_NAMES)..size)? {
        let (_, bytes) = item?;
        if let Ok(e) = LogEntry::from_canonical_bytes(&bytes) {
            want.push(e.pack_hash);
        }
    }
    let mut names = BTreeMap::new();
    for h in want {
        if let Some(Ok(pack)) = snap
            .blob(&h.0)?
            .map(|b| AgentPack::from_canonical_bytes(&b))
            && let Some(n) = pack.metadata().get("name")
        {
            names.insert(h, n.to_string());
        }
    }
    Ok(names)
}

/// Most recent entries whose names are loaded at start (the page shows 10).
const RECENT_NAMES: u64 = 32;

/// The HTTP answer to a rejection: 409 for a pack or nonce already used,
/// 403 outside every phase, 429 for a used-up quota (with `Retry-After`
/// when it resets), 422 for everything the pipeline judged.
fn rejection_error(r: &Rejection, now_ms: u64) -> ApiError {
    let code = r.reason_code();
    let message = format!("{r} (pipeline step: {})", r.step());
    match r {
        Rejection::Duplicate { .. } | Rejection::ReplayedSubmission { .. } => {
            ApiError::new(StatusCode::CONFLICT, code, message)
        }
        Rejection::OutsidePhase(_) => ApiError::new(StatusCode::FORBIDDEN, code, message),
        Rejection::QuotaExceeded(q) => match q.resets_at {
            Some(t) => ApiError::too_many(
                code,
                message,
                t.0.saturating_sub(now_ms).div_ceil(1000).max(1),
            ),
            None => ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message),
        },
        _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    error!(error = %e, "internal error");
    ApiError::internal()
}

/// The ranking rule in words.
/// File-name prefix of the store copies a backup streams from the data
/// dir (unlinked once open; any left by a crash go at the next start).
const BACKUP_PREFIX: &str = ".backup-";

/// Removes backup copies (and their `.partial` files) from `data_dir`.
fn remove_backup_files(data_dir: &Path) {
    for e in std::fs::read_dir(data_dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(BACKUP_PREFIX) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Store key (node metadata) of one slot of a goal's stored rejections.
fn rejection_key(goal: &str, slot: u64) -> String {
    format!("rejection/{goal}/{slot}")
}

/// A goal's stored rejections, oldest first.
fn stored_rejections(snap: &ian_store::Snapshot, goal: &str, slots: u64) -> Vec<RecentRejection> {
    let mut out: Vec<RecentRejection> = (0..slots)
        .filter_map(|slot| snap.meta(&rejection_key(goal, slot)).ok().flatten())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by_key(|r| r.seq);
    out
}

/// How often a long start-up replay reports its progress.
const REPLAY_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Store key (node metadata) of the public key that signs this store's
/// checkpoints (hex), written at the first start with the store.
pub(crate) const IDENTITY_KEY: &str = "node-public-key";

/// Refuses a `node.key` other than the one this store was signed with,
/// naming both keys and the fix. `Ok(true)`: the store has no record yet
/// (its first start, or a store from before the record), and the caller
/// records the key once the replay has checked it against every stored
/// checkpoint.
fn check_identity(
    store: &Store,
    public: &PublicKeyBytes,
    key_file: &Path,
) -> Result<bool, NodeError> {
    let ours = public.to_hex();
    match store.snapshot()?.meta(IDENTITY_KEY)? {
        Some(stored) if stored == ours.as_bytes() => Ok(false),
        Some(stored) => Err(NodeError::Identity(format!(
            "{} holds key {ours}, but this store's checkpoints were signed by key {}. \
             Put the node.key with public key {} back, or start this key on a new data directory; \
             serving this store under another key would make every receipt already given out unverifiable. \
             To change the key on purpose, put the old node.key back and start once with --new-identity",
            key_file.display(),
            String::from_utf8_lossy(&stored),
            String::from_utf8_lossy(&stored)
        ))),
        None => Ok(true),
    }
}

/// Store key (node metadata) of a goal's retirement time: decimal ms since
/// the Unix epoch (docs/STORE.md).
fn retired_key(goal: &str) -> String {
    format!("retired/{goal}")
}

/// When `goal` was retired, from the store.
fn retired_at(snap: &ian_store::Snapshot, goal: &str) -> Option<u64> {
    let b = snap.meta(&retired_key(goal)).ok().flatten()?;
    std::str::from_utf8(&b).ok()?.trim().parse().ok()
}

/// The ranking rule in words (goal status, page).
pub fn ranking_text(m: &GoalManifest) -> String {
    let r = &m.ranking;
    match r.kind {
        ian_core::goal::RankingKind::Scalar => format!(
            "score = {}·reward − {}·risk − {}·complexity",
            r.reward, r.risk, r.complexity
        ),
        ian_core::goal::RankingKind::Pareto => format!(
            "Pareto over {}",
            r.objectives
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Tracing instrumentation helper for async callers.
pub async fn in_span<F: std::future::Future>(span: tracing::Span, f: F) -> F::Output {
    f.instrument(span).await
}

#[cfg(test)]
mod goal_missing_tests {
    use super::*;

    #[test]
    fn an_unknown_goal_id_lists_the_goals_and_suggests_the_nearest() {
        let e = goal_missing("trading-v2", &["bandit-v1", "trading-v1"]);
        assert!(
            e.message.contains("did you mean `trading-v1`?"),
            "{}",
            e.message
        );
        assert!(e.message.contains("bandit-v1, trading-v1"), "{}", e.message);
        let far = goal_missing("zzzzzzzzzz", &["bandit-v1"]);
        assert!(!far.message.contains("did you mean"), "{}", far.message);
        let none = goal_missing("x", &[]);
        assert!(none.message.contains("holds no goals"), "{}", none.message);
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
