//! The node-facing bridge: IAN events in, Tau transactions out.
//!
//! * [`TauBridge::notify`] takes an event (goal registered, checkpoint
//!   signed, top entry changed), runs the Rust rule pre-check, persists
//!   what must be sent in a [`PendingStore`] and returns at once; it never
//!   waits for the Tau node.
//! * A background tokio task signs and sends one transaction at a time
//!   (stacking sequence numbers behind an unconfirmed tx would turn one
//!   dropped tx into a chain of gaps), polls its status until it is in a
//!   block, retries transport errors and busy answers with exponential
//!   backoff and jitter, re-signs when the tx expired or its sequence slot
//!   is gone, and drops it (counted, with the error kept) only when the node
//!   refuses it for good.
//! * Log commits are throttled: a checkpoint is committed when it is at
//!   least `commit_every_entries` entries past the last committed one, or
//!   `commit_every_secs` after the last commit. A policy upgrade waits until
//!   the entry that introduced the policy is covered by a committed
//!   checkpoint; commits and upgrades wait until the goal's registration is
//!   confirmed. These orderings are exactly the rule pre-checks
//!   ([`crate::rules`]).
//!
//! Persistence: record id 0 of the store holds the bridge's chain state
//! (what is confirmed on chain, the latest checkpoint, the wanted policy);
//! ids from 1 are pending transactions, in send order. A signed transaction
//! is stored before it is sent, so after a crash the exact same bytes are
//! sent again and the node's INVALID_SEQUENCE answer is resolved through
//! `gettxstatus` (see [`TxSender::send`]).

use crate::client::{
    ClientConfig, Clock, RetryPolicy, SendOutcome, TauClient, TauError, TxSender, system_clock,
};
use crate::keys::{self, KeyError, TauKey};
use crate::payload::{IanTx, PayloadError, hex32};
use crate::protocol::{ErrorCode, TxStatus};
use crate::rules::{
    self, GoalRegistrationInput, GoalRegistrationReject, LogCommitInput, LogCommitReject,
    PolicyUpgradeInput, PolicyUpgradeReject,
};
use crate::tx::SignedTx;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A failure of the backing store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pending store: {0}")]
pub struct StoreError(pub String);

/// Durable storage for the bridge's queue and state: opaque records by id.
/// The node backs it with its redb store; [`MemoryPendingStore`] is for
/// tests and for running without persistence.
pub trait PendingStore: Send + Sync + 'static {
    /// Inserts or replaces record `id` (durably, before returning).
    fn put(&self, id: u64, bytes: &[u8]) -> Result<(), StoreError>;
    /// Removes record `id` (absent is fine).
    fn remove(&self, id: u64) -> Result<(), StoreError>;
    /// All records, ordered by id.
    fn list(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
}

/// A [`PendingStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryPendingStore {
    records: Mutex<BTreeMap<u64, Vec<u8>>>,
}

impl MemoryPendingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl PendingStore for MemoryPendingStore {
    fn put(&self, id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.records
            .lock()
            .expect("store lock")
            .insert(id, bytes.to_vec());
        Ok(())
    }

    fn remove(&self, id: u64) -> Result<(), StoreError> {
        self.records.lock().expect("store lock").remove(&id);
        Ok(())
    }

    fn list(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .records
            .lock()
            .expect("store lock")
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }
}

/// Checks the bridge cannot do itself: the node owns the log and the key
/// that signs checkpoints. The answers become the `sig_ok` and `consistent`
/// inputs of the log-commit rule.
pub trait CheckpointVerifier: Send + Sync + 'static {
    /// Whether `signature` is the node's signature over checkpoint
    /// (`goal_id`, `size`, `root`).
    fn signature_ok(&self, goal_id: &str, size: u64, root: &[u8; 32], signature: &[u8]) -> bool;
    /// Whether the log at (`new_size`, `new_root`) extends the log at
    /// (`old_size`, `old_root`) (a verified consistency proof). Called with
    /// `old_size` 0 and a zero root when nothing was committed yet.
    fn consistent(
        &self,
        goal_id: &str,
        old_size: u64,
        old_root: &[u8; 32],
        new_size: u64,
        new_root: &[u8; 32],
    ) -> bool;
}

/// Something that happened in IAN that Tau should learn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TauEvent {
    /// A goal was published.
    GoalRegistered {
        /// Goal id.
        goal_id: String,
        /// Content hash of the goal spec.
        goal_hash: [u8; 32],
    },
    /// The node signed a checkpoint of a goal's log.
    CheckpointSigned {
        /// Goal id.
        goal_id: String,
        /// Entries covered.
        size: u64,
        /// Log root.
        root: [u8; 32],
        /// The node's signature over (goal, size, root).
        signature: Vec<u8>,
    },
    /// The leaderboard's top entry changed.
    TopEntryChanged {
        /// Goal id.
        goal_id: String,
        /// Pack hash of the new top policy.
        policy_hash: [u8; 32],
        /// Log entry that introduced it.
        entry_index: u64,
    },
}

/// A rule pre-check refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleRejection {
    /// Goal registration refused.
    #[error("goal registration: {0}")]
    Goal(GoalRegistrationReject),
    /// Log commit refused.
    #[error("log commit: {0}")]
    Commit(LogCommitReject),
    /// Policy upgrade refused.
    #[error("policy upgrade: {0}")]
    Upgrade(PolicyUpgradeReject),
}

/// Bridge errors returned to the caller.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// Configuration is invalid.
    #[error("Tau bridge configuration: {0}")]
    Config(String),
    /// Key file or key-to-network binding problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A persisted record cannot be decoded.
    #[error("pending record {id} is corrupt: {reason}")]
    CorruptRecord {
        /// Record id.
        id: u64,
        /// Decoding error.
        reason: String,
    },
    /// The event fails the rule pre-check; nothing was queued.
    #[error("rejected by the rule pre-check: {0}")]
    Rule(#[from] RuleRejection),
    /// The event cannot be encoded as a transaction.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// `start` was called outside a tokio runtime.
    #[error("the Tau bridge must be started inside a tokio runtime")]
    NoRuntime,
}

/// Bridge settings. Every field has an `IAN_TAU_*` environment override
/// (see [`BridgeConfig::from_lookup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// `host:port` of the Tau node's TCP RPC (`IAN_TAU_ENDPOINT`; unset =
    /// bridge off).
    pub endpoint: String,
    /// BLS key file (`IAN_TAU_KEY_FILE`, required).
    pub key_file: PathBuf,
    /// Id of the Tau network this node commits to (`IAN_TAU_NETWORK_ID`,
    /// required; e.g. `tau-testnet-v2`).
    pub network_id: String,
    /// Use a key already bound to another network (`IAN_TAU_ALLOW_KEY_REUSE`,
    /// default false).
    pub allow_key_reuse: bool,
    /// Key-to-network binding file (`IAN_TAU_BINDING_FILE`, default
    /// `<key_file>.networks.json`).
    pub binding_file: PathBuf,
    /// Commit when this many entries are past the last commit
    /// (`IAN_TAU_COMMIT_EVERY_ENTRIES`, default 64).
    pub commit_every_entries: u64,
    /// ... or when this long has passed since the last commit
    /// (`IAN_TAU_COMMIT_EVERY_SECS`, default 300).
    pub commit_every_secs: u64,
    /// `fee_limit` of every tx (`IAN_TAU_FEE_LIMIT`, default 100; the node
    /// charges its actual fee, 10 per step on tau-testnet-v2, capped by
    /// this).
    pub fee_limit: u64,
    /// Seconds until a tx expires (`IAN_TAU_TX_TTL_SECS`, default 900).
    pub tx_ttl_secs: u64,
    /// How often queued txs are polled and the queue is planned
    /// (`IAN_TAU_POLL_MS`, default 2000).
    pub poll_interval: Duration,
    /// Backoff between attempts of one pending tx (base 1 s, cap 300 s).
    pub item_retry: RetryPolicy,
    /// Transport retries inside one attempt (default 5 attempts, 200 ms
    /// base, 10 s cap).
    pub client_retry: RetryPolicy,
}

impl BridgeConfig {
    /// Defaults for the required fields.
    pub fn new(
        endpoint: impl Into<String>,
        key_file: impl Into<PathBuf>,
        network_id: impl Into<String>,
    ) -> Self {
        let key_file = key_file.into();
        let mut binding = key_file.clone().into_os_string();
        binding.push(".networks.json");
        Self {
            endpoint: endpoint.into(),
            key_file,
            network_id: network_id.into(),
            allow_key_reuse: false,
            binding_file: binding.into(),
            commit_every_entries: 64,
            commit_every_secs: 300,
            fee_limit: 100,
            tx_ttl_secs: 900,
            poll_interval: Duration::from_millis(2000),
            item_retry: RetryPolicy {
                max_attempts: u32::MAX,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(300),
            },
            client_retry: RetryPolicy::default(),
        }
    }

    /// Reads the `IAN_TAU_*` settings through `get`: the embedding program
    /// (the node's configuration table) or a test map. The library never
    /// reads the process environment itself. `Ok(None)` when
    /// `IAN_TAU_ENDPOINT` is unset or empty (the bridge is off by default).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, BridgeError> {
        let Some(endpoint) = get("IAN_TAU_ENDPOINT").filter(|e| !e.trim().is_empty()) else {
            return Ok(None);
        };
        let need = |k: &str| {
            get(k).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                BridgeError::Config(format!("{k} must be set when IAN_TAU_ENDPOINT is set"))
            })
        };
        let mut cfg = Self::new(
            endpoint.trim(),
            need("IAN_TAU_KEY_FILE")?,
            need("IAN_TAU_NETWORK_ID")?,
        );
        let num = |k: &str, min: u64| -> Result<Option<u64>, BridgeError> {
            match get(k) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n >= min => Ok(Some(n)),
                    _ => Err(BridgeError::Config(format!(
                        "{k}={v:?} is not an integer >= {min}"
                    ))),
                },
            }
        };
        if let Some(v) = num("IAN_TAU_COMMIT_EVERY_ENTRIES", 1)? {
            cfg.commit_every_entries = v;
        }
        if let Some(v) = num("IAN_TAU_COMMIT_EVERY_SECS", 1)? {
            cfg.commit_every_secs = v;
        }
        if let Some(v) = num("IAN_TAU_FEE_LIMIT", 0)? {
            if v > crate::tx::MAX_FEE_LIMIT {
                return Err(BridgeError::Config(format!(
                    "IAN_TAU_FEE_LIMIT={v} exceeds 2^63-1"
                )));
            }
            cfg.fee_limit = v;
        }
        if let Some(v) = num("IAN_TAU_TX_TTL_SECS", 30)? {
            cfg.tx_ttl_secs = v;
        }
        if let Some(v) = num("IAN_TAU_POLL_MS", 10)? {
            cfg.poll_interval = Duration::from_millis(v);
        }
        if let Some(v) = get("IAN_TAU_BINDING_FILE").filter(|v| !v.trim().is_empty()) {
            cfg.binding_file = v.into();
        }
        if let Some(v) = get("IAN_TAU_ALLOW_KEY_REUSE") {
            cfg.allow_key_reuse = match v.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" | "" => false,
                other => {
                    return Err(BridgeError::Config(format!(
                        "IAN_TAU_ALLOW_KEY_REUSE={other:?} is not a boolean"
                    )));
                }
            };
        }
        Ok(Some(cfg))
    }
}

// ------------------------------------------------------------------ state

/// A checkpoint confirmed on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedCheckpoint {
    /// Entries covered.
    pub size: u64,
    /// Log root.
    #[serde(with = "hex32")]
    pub root: [u8; 32],
    /// The commit tx.
    pub tx_hash: String,
    /// Block that contains it.
    pub block_number: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    size: u64,
    #[serde(with = "hex32")]
    root: [u8; 32],
    #[serde(with = "crate::payload::hex_vec")]
    signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WantedPolicy {
    #[serde(with = "hex32")]
    policy_hash: [u8; 32],
    entry_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GoalChain {
    #[serde(default, with = "opt_hex32")]
    registered_hash: Option<[u8; 32]>,
    committed: Option<CommittedCheckpoint>,
    #[serde(default, with = "opt_hex32")]
    active_policy: Option<[u8; 32]>,
    latest: Option<Checkpoint>,
    wanted_policy: Option<WantedPolicy>,
    last_commit_at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ChainState {
    goals: BTreeMap<String, GoalChain>,
    next_id: u64,
}

/// A transaction waiting to be sent or confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTx {
    /// Queue id (send order).
    pub id: u64,
    /// What it says.
    pub tx: IanTx,
    /// Canonical JSON of the signed tx, once signed.
    pub signed: Option<String>,
    /// Its hash, once signed.
    pub tx_hash: Option<String>,
    /// Whether the node admitted it (then only its status is polled).
    pub admitted: bool,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// Unix seconds before which it is not tried again (not persisted).
    #[serde(skip)]
    pub not_before: u64,
}

const STATE_ID: u64 = 0;

/// Monotonic counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TauCounters {
    /// Txs the node admitted.
    pub sent: u64,
    /// Txs found in a block.
    pub confirmed: u64,
    /// Txs dropped after a permanent refusal.
    pub failed: u64,
    /// Retries (transport errors, busy answers, re-signs).
    pub retried: u64,
    /// Events refused by the rule pre-check.
    pub rule_rejected: u64,
}

/// Per-goal status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GoalTauStatus {
    /// Goal hash confirmed on chain.
    pub registered_hash: Option<String>,
    /// Last checkpoint confirmed on chain.
    pub last_committed: Option<CommittedCheckpoint>,
    /// Active policy confirmed on chain.
    pub active_policy: Option<String>,
    /// Size of the latest checkpoint the node signed.
    pub latest_checkpoint_size: Option<u64>,
}

/// What `ian-host tau status` and `/metrics` show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TauStatus {
    /// Tau node endpoint.
    pub endpoint: String,
    /// Configured network id.
    pub network_id: String,
    /// The bridge's account (BLS public key).
    pub public_key: String,
    /// Txs waiting to be sent or confirmed.
    pub pending: usize,
    /// Hash of the tx currently awaiting confirmation.
    pub in_flight: Option<String>,
    /// Most recent error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Counters.
    pub counters: TauCounters,
    /// Per goal.
    pub goals: BTreeMap<String, GoalTauStatus>,
}

impl TauStatus {
    /// Status from persisted records alone (for the CLI when the node is
    /// not running): counters are zero, `last_error` unknown.
    pub fn from_store(store: &dyn PendingStore) -> Result<Self, BridgeError> {
        let core = BridgeCore::load(store)?;
        Ok(core.status())
    }
}

/// How [`TauBridge::notify`] handled an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// A transaction was queued with this id.
    Queued(u64),
    /// Recorded; a transaction follows when due (commits, upgrades).
    Recorded,
    /// Nothing to send: the chain already has it (or it is queued).
    AlreadyKnown,
}

/// What happened to the item handed out by [`BridgeCore::next_due`].
#[derive(Debug)]
pub enum ItemResult {
    /// It was signed (store before sending).
    Signed(SignedTx),
    /// The send resolved.
    Sent(SendOutcome),
    /// Its status was polled.
    Status(TxStatus),
    /// The attempt failed.
    Failed(TauError),
    /// The stored item cannot be turned into a transaction at all (a
    /// corrupt record): dropped and counted as failed.
    Unsendable(String),
}

mod opt_hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        let o = Option::<String>::deserialize(d)?;
        o.map(|s| {
            hex::decode(&s)
                .map_err(serde::de::Error::custom)?
                .try_into()
                .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
        })
        .transpose()
    }
}

/// The bridge's decisions, without I/O other than the store: what to queue,
/// what to send next, and how each answer changes the state. The worker
/// task drives it; tests drive it directly with typed answers.
pub struct BridgeCore {
    chain: ChainState,
    items: BTreeMap<u64, PendingTx>,
    counters: TauCounters,
    last_error: Option<String>,
    cfg_entries: u64,
    cfg_secs: u64,
    retry: RetryPolicy,
    endpoint: String,
    network_id: String,
    public_key: String,
}

impl BridgeCore {
    /// Loads state and queue from `store`.
    pub fn load(store: &dyn PendingStore) -> Result<Self, BridgeError> {
        let mut chain = ChainState::default();
        let mut items = BTreeMap::new();
        for (id, bytes) in store.list()? {
            let corrupt = |e: serde_json::Error| BridgeError::CorruptRecord {
                id,
                reason: e.to_string(),
            };
            if id == STATE_ID {
                chain = serde_json::from_slice(&bytes).map_err(corrupt)?;
            } else {
                let item: PendingTx = serde_json::from_slice(&bytes).map_err(corrupt)?;
                chain.next_id = chain.next_id.max(id + 1);
                items.insert(id, item);
            }
        }
        chain.next_id = chain.next_id.max(1);
        let defaults = BridgeConfig::new("", "", "");
        Ok(Self {
            chain,
            items,
            counters: TauCounters::default(),
            last_error: None,
            cfg_entries: defaults.commit_every_entries,
            cfg_secs: defaults.commit_every_secs,
            retry: defaults.item_retry,
            endpoint: String::new(),
            network_id: String::new(),
            public_key: String::new(),
        })
    }

    /// Applies the throttling and retry settings of `cfg`.
    pub fn configure(&mut self, cfg: &BridgeConfig, public_key: &str) {
        self.cfg_entries = cfg.commit_every_entries;
        self.cfg_secs = cfg.commit_every_secs;
        self.retry = cfg.item_retry;
        self.endpoint = cfg.endpoint.clone();
        self.network_id = cfg.network_id.clone();
        self.public_key = public_key.to_string();
    }

    fn save_state(&self, store: &dyn PendingStore) -> Result<(), StoreError> {
        store.put(
            STATE_ID,
            &serde_json::to_vec(&self.chain).expect("state serialises"),
        )
    }

    fn save_item(store: &dyn PendingStore, item: &PendingTx) -> Result<(), StoreError> {
        store.put(item.id, &serde_json::to_vec(item).expect("item serialises"))
    }

    fn enqueue(&mut self, store: &dyn PendingStore, tx: IanTx) -> Result<u64, BridgeError> {
        tx.to_operations()?;
        let id = self.chain.next_id;
        let item = PendingTx {
            id,
            tx,
            signed: None,
            tx_hash: None,
            admitted: false,
            attempts: 0,
            not_before: 0,
        };
        Self::save_item(store, &item)?;
        self.chain.next_id += 1;
        self.save_state(store)?;
        self.items.insert(id, item);
        Ok(id)
    }

    fn queued_for(&self, goal_id: &str, kind: &str) -> Option<&PendingTx> {
        self.items
            .values()
            .find(|i| i.tx.goal_id() == goal_id && i.tx.kind_name() == kind)
    }

    /// Handles one event (see [`TauBridge::notify`]).
    pub fn notify(
        &mut self,
        store: &dyn PendingStore,
        event: TauEvent,
    ) -> Result<NotifyOutcome, BridgeError> {
        match event {
            TauEvent::GoalRegistered { goal_id, goal_hash } => {
                crate::payload::check_goal_id(&goal_id)?;
                let confirmed = self
                    .chain
                    .goals
                    .get(&goal_id)
                    .and_then(|g| g.registered_hash);
                let queued = self
                    .queued_for(&goal_id, "goal_registration")
                    .map(|i| match &i.tx {
                        IanTx::GoalRegistration { goal_hash, .. } => *goal_hash,
                        _ => unreachable!("filtered by kind"),
                    });
                let known = confirmed.or(queued);
                let input = GoalRegistrationInput {
                    goal_hash,
                    registered: rules::flag(known.is_some()),
                    registered_hash: known.unwrap_or([0; 32]),
                };
                if let Err(r) = rules::check_goal_registration(&input) {
                    self.counters.rule_rejected += 1;
                    return Err(RuleRejection::Goal(r).into());
                }
                if known.is_some() {
                    return Ok(NotifyOutcome::AlreadyKnown);
                }
                self.chain.goals.entry(goal_id.clone()).or_default();
                let id = self.enqueue(store, IanTx::GoalRegistration { goal_id, goal_hash })?;
                Ok(NotifyOutcome::Queued(id))
            }
            TauEvent::CheckpointSigned {
                goal_id,
                size,
                root,
                signature,
            } => {
                crate::payload::check_goal_id(&goal_id)?;
                if signature.len() != crate::payload::CHECKPOINT_SIGNATURE_LEN {
                    return Err(PayloadError::SignatureLength(signature.len()).into());
                }
                let g = self.chain.goals.entry(goal_id).or_default();
                if g.latest.as_ref().is_some_and(|l| l.size >= size) {
                    return Ok(NotifyOutcome::AlreadyKnown);
                }
                g.latest = Some(Checkpoint {
                    size,
                    root,
                    signature,
                });
                self.save_state(store)?;
                Ok(NotifyOutcome::Recorded)
            }
            TauEvent::TopEntryChanged {
                goal_id,
                policy_hash,
                entry_index,
            } => {
                crate::payload::check_goal_id(&goal_id)?;
                let g = self.chain.goals.entry(goal_id).or_default();
                if g.active_policy == Some(policy_hash) && g.wanted_policy.is_none() {
                    return Ok(NotifyOutcome::AlreadyKnown);
                }
                g.wanted_policy = Some(WantedPolicy {
                    policy_hash,
                    entry_index,
                });
                self.save_state(store)?;
                Ok(NotifyOutcome::Recorded)
            }
        }
    }

    /// Queues the commits and upgrades that are due at `now` and pass the
    /// rule pre-check. Returns the new queue ids.
    pub fn plan(
        &mut self,
        store: &dyn PendingStore,
        verifier: &dyn CheckpointVerifier,
        now: u64,
    ) -> Result<Vec<u64>, BridgeError> {
        let mut new = Vec::new();
        let goal_ids: Vec<String> = self.chain.goals.keys().cloned().collect();
        for goal_id in goal_ids {
            if let Some(id) = self.plan_commit(store, verifier, &goal_id, now)? {
                new.push(id);
            }
            if let Some(id) = self.plan_upgrade(store, &goal_id)? {
                new.push(id);
            }
        }
        Ok(new)
    }

    fn plan_commit(
        &mut self,
        store: &dyn PendingStore,
        verifier: &dyn CheckpointVerifier,
        goal_id: &str,
        now: u64,
    ) -> Result<Option<u64>, BridgeError> {
        if self.queued_for(goal_id, "log_commit").is_some() {
            return Ok(None);
        }
        let g = &self.chain.goals[goal_id];
        let Some(latest) = g.latest.clone() else {
            return Ok(None);
        };
        let (prev_size, prev_root) = g
            .committed
            .as_ref()
            .map(|c| (c.size, c.root))
            .unwrap_or((0, [0; 32]));
        let due = latest.size >= prev_size.saturating_add(self.cfg_entries)
            || (latest.size > prev_size && now.saturating_sub(g.last_commit_at) >= self.cfg_secs);
        if !due {
            return Ok(None);
        }
        let input = LogCommitInput {
            registered: rules::flag(g.registered_hash.is_some()),
            signature_ok: rules::flag(verifier.signature_ok(
                goal_id,
                latest.size,
                &latest.root,
                &latest.signature,
            )),
            consistent: rules::flag(verifier.consistent(
                goal_id,
                prev_size,
                &prev_root,
                latest.size,
                &latest.root,
            )),
            prev_size,
            new_size: latest.size,
            prev_root,
            new_root: latest.root,
        };
        match rules::check_log_commit(&input) {
            Ok(()) => {
                let id = self.enqueue(
                    store,
                    IanTx::LogCommit {
                        goal_id: goal_id.to_string(),
                        size: latest.size,
                        root: latest.root,
                        signature: latest.signature,
                    },
                )?;
                Ok(Some(id))
            }
            // Waits for the registration to be confirmed.
            Err(LogCommitReject::GoalNotRegistered) => Ok(None),
            Err(LogCommitReject::NothingNew) => Ok(None),
            Err(r) => {
                // A checkpoint that can never pass is dropped, loudly.
                self.counters.rule_rejected += 1;
                self.last_error = Some(format!("goal {goal_id}: {}", RuleRejection::Commit(r)));
                self.chain
                    .goals
                    .get_mut(goal_id)
                    .expect("goal exists")
                    .latest = None;
                self.save_state(store)?;
                Ok(None)
            }
        }
    }

    fn plan_upgrade(
        &mut self,
        store: &dyn PendingStore,
        goal_id: &str,
    ) -> Result<Option<u64>, BridgeError> {
        if self.queued_for(goal_id, "policy_upgrade").is_some() {
            return Ok(None);
        }
        let g = &self.chain.goals[goal_id];
        let Some(wanted) = g.wanted_policy.clone() else {
            return Ok(None);
        };
        let input = PolicyUpgradeInput {
            registered: rules::flag(g.registered_hash.is_some()),
            active_policy: g.active_policy.unwrap_or([0; 32]),
            new_policy: wanted.policy_hash,
            rank: 1,
            entry_index: wanted.entry_index,
            committed_size: g.committed.as_ref().map(|c| c.size).unwrap_or(0),
        };
        match rules::check_policy_upgrade(&input) {
            Ok(()) => {
                let id = self.enqueue(
                    store,
                    IanTx::PolicyUpgrade {
                        goal_id: goal_id.to_string(),
                        policy_hash: wanted.policy_hash,
                        entry_index: wanted.entry_index,
                    },
                )?;
                Ok(Some(id))
            }
            Err(
                PolicyUpgradeReject::GoalNotRegistered | PolicyUpgradeReject::EntryNotCommitted,
            ) => Ok(None),
            Err(r) => {
                if r != PolicyUpgradeReject::AlreadyActive {
                    self.counters.rule_rejected += 1;
                    self.last_error =
                        Some(format!("goal {goal_id}: {}", RuleRejection::Upgrade(r)));
                }
                self.chain
                    .goals
                    .get_mut(goal_id)
                    .expect("goal exists")
                    .wanted_policy = None;
                self.save_state(store)?;
                Ok(None)
            }
        }
    }

    /// The item to work on at `now`: the oldest one (strict send order), if
    /// its backoff has passed.
    pub fn next_due(&self, now: u64) -> Option<PendingTx> {
        self.items
            .values()
            .next()
            .filter(|i| i.not_before <= now)
            .cloned()
    }

    /// Applies the result of working on item `id`.
    pub fn apply(
        &mut self,
        store: &dyn PendingStore,
        id: u64,
        result: ItemResult,
        now: u64,
    ) -> Result<(), BridgeError> {
        let Some(mut item) = self.items.get(&id).cloned() else {
            return Ok(());
        };
        match result {
            ItemResult::Signed(tx) => {
                item.signed = Some(tx.canonical_json().to_string());
                item.tx_hash = Some(tx.tx_hash().to_string());
                item.admitted = false;
            }
            ItemResult::Sent(SendOutcome::AlreadyHeld {
                tx_hash,
                status: TxStatus::Confirmed { block_number, .. },
            }) => {
                // Sent before a lost reply or a restart, and already in a block.
                item.tx_hash = Some(tx_hash);
                self.counters.sent += 1;
                self.counters.confirmed += 1;
                self.last_error = None;
                self.confirm(&item, block_number, now);
                self.items.remove(&id);
                store.remove(id)?;
                self.save_state(store)?;
                return Ok(());
            }
            ItemResult::Sent(SendOutcome::Queued { tx_hash })
            | ItemResult::Sent(SendOutcome::AlreadyHeld { tx_hash, .. }) => {
                item.tx_hash = Some(tx_hash);
                item.admitted = true;
                item.attempts = 0;
                self.counters.sent += 1;
                self.last_error = None;
            }
            ItemResult::Sent(SendOutcome::StaleSequence { expected, received }) => {
                self.counters.retried += 1;
                self.last_error = Some(format!(
                    "sequence {received} no longer usable (node expects {expected}); re-signing"
                ));
                item.signed = None;
                item.tx_hash = None;
            }
            ItemResult::Status(TxStatus::Confirmed { block_number, .. }) => {
                self.confirm(&item, block_number, now);
                self.counters.confirmed += 1;
                self.items.remove(&id);
                store.remove(id)?;
                self.save_state(store)?;
                return Ok(());
            }
            ItemResult::Status(TxStatus::Queued { .. }) => {
                item.not_before = now + 1;
            }
            ItemResult::Status(gone) => {
                // Rejected, evicted, expired or unknown: the node no longer
                // holds it; sign again with a fresh sequence and expiry.
                self.counters.retried += 1;
                self.last_error = Some(format!(
                    "tx {} was {gone:?} by the node; re-signing",
                    item.tx_hash.as_deref().unwrap_or("?")
                ));
                item.signed = None;
                item.tx_hash = None;
                item.admitted = false;
            }
            ItemResult::Unsendable(reason) => {
                self.counters.failed += 1;
                self.last_error = Some(format!("pending tx {id} unsendable: {reason}"));
                self.items.remove(&id);
                store.remove(id)?;
                return Ok(());
            }
            ItemResult::Failed(err) => {
                self.last_error = Some(err.to_string());
                let code = err.rejection().map(|r| r.code.clone());
                if code == Some(ErrorCode::TxExpired) {
                    self.counters.retried += 1;
                    item.signed = None;
                    item.tx_hash = None;
                } else if err.is_transient()
                    || matches!(
                        code,
                        Some(ErrorCode::InsufficientFunds | ErrorCode::FeeLimitTooLow)
                    )
                    || matches!(
                        err,
                        TauError::Malformed(_)
                            | TauError::CommandMismatch { .. }
                            | TauError::ResponseTooLarge(_)
                            | TauError::InvalidUtf8
                    )
                {
                    // Busy node, no funds yet, or a garbled answer: the same
                    // tx may pass later. Back off.
                    self.counters.retried += 1;
                    let delay = self.retry.delay(item.attempts.min(30));
                    item.attempts = item.attempts.saturating_add(1);
                    item.not_before = now + delay.as_secs().max(1);
                } else {
                    // Refused for good (bad signature, rejected, invalid...).
                    self.counters.failed += 1;
                    tracing::warn!(id, kind = item.tx.kind_name(), error = %err, "Tau tx dropped");
                    self.items.remove(&id);
                    store.remove(id)?;
                    return Ok(());
                }
            }
        }
        Self::save_item(store, &item)?;
        self.items.insert(id, item);
        Ok(())
    }

    fn confirm(&mut self, item: &PendingTx, block_number: u64, now: u64) {
        let g = self
            .chain
            .goals
            .entry(item.tx.goal_id().to_string())
            .or_default();
        match &item.tx {
            IanTx::GoalRegistration { goal_hash, .. } => g.registered_hash = Some(*goal_hash),
            IanTx::LogCommit { size, root, .. } => {
                if g.committed.as_ref().is_none_or(|c| c.size < *size) {
                    g.committed = Some(CommittedCheckpoint {
                        size: *size,
                        root: *root,
                        tx_hash: item.tx_hash.clone().unwrap_or_default(),
                        block_number,
                    });
                }
                g.last_commit_at = now;
            }
            IanTx::PolicyUpgrade { policy_hash, .. } => {
                g.active_policy = Some(*policy_hash);
                if g.wanted_policy
                    .as_ref()
                    .is_some_and(|w| w.policy_hash == *policy_hash)
                {
                    g.wanted_policy = None;
                }
            }
        }
    }

    /// A snapshot for status and metrics.
    pub fn status(&self) -> TauStatus {
        TauStatus {
            endpoint: self.endpoint.clone(),
            network_id: self.network_id.clone(),
            public_key: self.public_key.clone(),
            pending: self.items.len(),
            in_flight: self
                .items
                .values()
                .next()
                .filter(|i| i.admitted)
                .and_then(|i| i.tx_hash.clone()),
            last_error: self.last_error.clone(),
            counters: self.counters,
            goals: self
                .chain
                .goals
                .iter()
                .map(|(id, g)| {
                    (
                        id.clone(),
                        GoalTauStatus {
                            registered_hash: g.registered_hash.map(hex::encode),
                            last_committed: g.committed.clone(),
                            active_policy: g.active_policy.map(hex::encode),
                            latest_checkpoint_size: g.latest.as_ref().map(|l| l.size),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Pending items in send order.
    pub fn pending(&self) -> Vec<PendingTx> {
        self.items.values().cloned().collect()
    }
}

// ----------------------------------------------------------------- runtime

struct Shared {
    core: Mutex<BridgeCore>,
    store: Arc<dyn PendingStore>,
    wake: tokio::sync::Notify,
}

/// The running bridge. Dropping it stops the background task; everything
/// not yet confirmed stays in the store for the next start.
pub struct TauBridge {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TauBridge {
    /// Loads the key, enforces the key-to-network binding, loads the queue
    /// and spawns the sender on the current tokio runtime.
    pub fn start(
        cfg: BridgeConfig,
        store: Arc<dyn PendingStore>,
        verifier: Arc<dyn CheckpointVerifier>,
    ) -> Result<Self, BridgeError> {
        Self::start_with_clock(cfg, store, verifier, system_clock())
    }

    /// [`TauBridge::start`] with an injected clock.
    pub fn start_with_clock(
        cfg: BridgeConfig,
        store: Arc<dyn PendingStore>,
        verifier: Arc<dyn CheckpointVerifier>,
        clock: Clock,
    ) -> Result<Self, BridgeError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| BridgeError::NoRuntime)?;
        if cfg.endpoint.trim().is_empty() || cfg.network_id.trim().is_empty() {
            return Err(BridgeError::Config(
                "endpoint and network id are required".into(),
            ));
        }
        let key = TauKey::load(&cfg.key_file)?;
        keys::bind_key_to_network(
            &cfg.binding_file,
            key.public_hex(),
            &cfg.network_id,
            cfg.allow_key_reuse,
        )?;
        let mut core = BridgeCore::load(store.as_ref())?;
        core.configure(&cfg, key.public_hex());
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            store,
            wake: tokio::sync::Notify::new(),
        });
        let mut client_cfg = ClientConfig::new(cfg.endpoint.clone());
        client_cfg.retry = cfg.client_retry;
        let client = Arc::new(TauClient::new(client_cfg));
        let sender = TxSender::new(client, key, cfg.fee_limit, cfg.tx_ttl_secs, clock.clone());
        let task = handle.spawn(worker(
            shared.clone(),
            sender,
            verifier,
            clock,
            cfg.poll_interval,
        ));
        Ok(Self { shared, task })
    }

    /// Records an event and returns without waiting for the Tau node. Fails
    /// only when the rule pre-check refuses the event, the event is
    /// malformed, or the store fails; then nothing was queued.
    pub fn notify(&self, event: TauEvent) -> Result<NotifyOutcome, BridgeError> {
        let out = {
            let mut core = self.shared.core.lock().expect("bridge lock");
            core.notify(self.shared.store.as_ref(), event)?
        };
        self.shared.wake.notify_one();
        Ok(out)
    }

    /// Current status.
    pub fn status(&self) -> TauStatus {
        self.shared.core.lock().expect("bridge lock").status()
    }

    /// Pending transactions in send order.
    pub fn pending(&self) -> Vec<PendingTx> {
        self.shared.core.lock().expect("bridge lock").pending()
    }

    /// Stops the background task.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for TauBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn worker(
    shared: Arc<Shared>,
    mut sender: TxSender,
    verifier: Arc<dyn CheckpointVerifier>,
    clock: Clock,
    poll: Duration,
) {
    loop {
        let now = clock();
        let due = {
            let mut core = shared.core.lock().expect("bridge lock");
            if let Err(e) = core.plan(shared.store.as_ref(), verifier.as_ref(), now) {
                core.last_error = Some(e.to_string());
            }
            core.next_due(now)
        };
        let progressed = match due {
            Some(item) => {
                let result = work_on(&mut sender, &item).await;
                let mut core = shared.core.lock().expect("bridge lock");
                let fresh_sign = matches!(result, ItemResult::Signed(_));
                if let Err(e) = core.apply(shared.store.as_ref(), item.id, result, clock()) {
                    core.last_error = Some(e.to_string());
                }
                fresh_sign
            }
            None => false,
        };
        if !progressed {
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

async fn work_on(sender: &mut TxSender, item: &PendingTx) -> ItemResult {
    if item.admitted {
        let hash = item.tx_hash.clone().unwrap_or_default();
        return match sender.client().tx_status(&hash).await {
            Ok(status) => ItemResult::Status(status),
            Err(e) => ItemResult::Failed(e),
        };
    }
    match &item.signed {
        None => match item.tx.to_operations() {
            Ok(ops) => match sender.sign(ops).await {
                Ok(tx) => ItemResult::Signed(tx),
                Err(e) => ItemResult::Failed(e),
            },
            Err(e) => ItemResult::Unsendable(e.to_string()),
        },
        Some(json) => match SignedTx::from_json(json) {
            Ok(tx) => match sender.send(&tx).await {
                Ok(outcome) => ItemResult::Sent(outcome),
                Err(e) => ItemResult::Failed(e),
            },
            Err(e) => ItemResult::Unsendable(e.to_string()),
        },
    }
}
