//! The mirror: a witness that re-evaluates before it cosigns.
//!
//! A witness only checks that a log grows append-only. A mirror also checks
//! what was appended: before cosigning a checkpoint of a log it mirrors, it
//! copies the new entries from the log's node (c2sp.org/tlog-tiles entry
//! bundles, the goal's manifest and components, each pack and its code, all
//! checked against their hashes), re-runs every new entry through its own
//! sandbox — the same `rejudge_entry` path `ian-host replay` uses — and
//! requires the entries to rebuild the checkpoint's root. Its cosignature
//! therefore states "every entry up to this size re-evaluates to the
//! recorded bits on this mirror" (the additional statement c2sp.org/
//! tlog-cosignature lets a cosigner key imply).
//!
//! A log is copied from its node's HTTP API (`log <vkey> <url>`) or, over
//! libp2p (`log <vkey> p2p`), from any peer that serves it: every byte is
//! checked the same way, so who served it does not matter. A peer whose
//! bytes fail a hash or do not rebuild the signed root is struck (not asked
//! again, scored down) and the evidence names the peer, not the log.
//!
//! An entry that re-evaluates differently, or entries that do not rebuild
//! the signed root, are stored as evidence (the log's own receipt for the
//! entry and what differed) and the checkpoint is refused. An entry judged
//! under another engine version or sandbox configuration is not judged at
//! all: the mirror refuses and says why.
//!
//! Architecture Invariant: a mirror cosigns a checkpoint only after every
//! entry below its size re-evaluated bit for bit in this process and the
//! entries rebuilt the signed root.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ian_core::checkpoint::{Receipt, SignedCheckpoint};
use ian_core::pipeline::{GoalState, Mismatch, Refusal};
use ian_core::record::LogRecord;
use ian_core::{AgentPack, GoalManifest, Hash32, LogEntry, sha256};
use parking_lot::Mutex;
use tracing::info;

use crate::runtime::evidence::{Evidence, EvidenceLog};
use crate::runtime::judge::{CodeSource, Judge, LoadedGoal, SandboxEvaluator, rejudge_entry};
use crate::runtime::service::tile_index_path;
use crate::runtime::views::ManifestView;
use ian_p2p::SyncRequest;

/// Largest single download from a mirrored node (a component, a bundle).
const MAX_FETCH: usize = 64 * 1024 * 1024;
/// Entries per bundle (c2sp.org/tlog-tiles).
const BUNDLE: u64 = 256;

/// Why a mirror would not cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorRefusal {
    /// The log's node could not be read (try again later).
    #[error("cannot copy the log: {0}")]
    Unavailable(String),
    /// This mirror cannot judge these entries (another engine or sandbox
    /// configuration, a goal it cannot load): it neither agrees nor
    /// accuses.
    #[error("this mirror cannot judge the log: {0}")]
    CannotJudge(String),
    /// An entry re-evaluated differently, or the entries do not rebuild the
    /// signed root: evidence was stored.
    #[error("{0}")]
    Fraud(String),
}

/// One mirrored log: its goal, compiled, and its state as re-evaluated so
/// far.
struct Replica {
    manifest: GoalManifest,
    /// The libp2p peer the manifest came from: if the signed entries name
    /// another goal, that peer is to blame.
    manifest_from: Option<ian_p2p::PeerId>,
    loaded: Arc<LoadedGoal>,
    state: GoalState,
}

/// Where one catch-up copies a log from.
#[derive(Debug, Clone)]
enum Via {
    /// The base URL of the log's node.
    Http(String),
    /// A libp2p peer that serves the log.
    Peer(ian_p2p::PeerId),
}

/// The mirror role.
pub struct Mirror {
    judge: Arc<Judge>,
    /// Where each mirrored log is copied from, by origin: a base URL, or
    /// `p2p` for any libp2p peer that serves it.
    urls: HashMap<String, String>,
    /// The libp2p network, for logs copied over it.
    p2p: std::sync::OnceLock<ian_p2p::P2p>,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    replicas: Mutex<HashMap<String, Replica>>,
    /// Failed copies per origin over libp2p: the next copy asks the next
    /// peer that serves the log, so one unhelpful peer cannot stall it.
    attempts: Mutex<HashMap<String, usize>>,
    /// Entries judged per origin, readable without waiting on a replica
    /// that is being brought up to date.
    judged: Mutex<HashMap<String, u64>>,
    /// The last checkpoint refused per origin (size, root) and why: the
    /// same checkpoint asked again gets the same answer without a new
    /// download, a new re-evaluation or a second evidence record.
    refused: Mutex<HashMap<String, (u64, Hash32, MirrorRefusal)>>,
    /// The runtime the downloads run on (the node's).
    rt: Option<tokio::runtime::Handle>,
    worker_stack: usize,
    /// Entries re-evaluated identically, for `/metrics`.
    pub reevaluated: std::sync::atomic::AtomicU64,
    evidence: Arc<EvidenceLog>,
}

impl Mirror {
    /// A mirror of the logs in `urls` (origin → base URL of their node).
    pub fn new(
        judge: Arc<Judge>,
        evidence: Arc<EvidenceLog>,
        urls: HashMap<String, String>,
        timeout: Duration,
        worker_stack: usize,
    ) -> Result<Self, String> {
        for (o, u) in &urls {
            if !u.starts_with("http://") && u != "p2p" {
                return Err(format!(
                    "mirrored log {o}: source {u} is neither an http:// URL nor `p2p`"
                ));
            }
        }
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(timeout));
        Ok(Mirror {
            judge,
            urls,
            p2p: std::sync::OnceLock::new(),
            http: HyperClient::builder(TokioExecutor::new()).build(conn),
            timeout,
            replicas: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            judged: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            rt: tokio::runtime::Handle::try_current().ok(),
            worker_stack,
            reevaluated: 0.into(),
            evidence,
        })
    }

    /// The mirrored logs' origins.
    pub fn origins(&self) -> Vec<String> {
        self.urls.keys().cloned().collect()
    }

    /// Copies logs marked `p2p` over this network.
    pub fn set_p2p(&self, p2p: ian_p2p::P2p) {
        let _ = self.p2p.set(p2p);
    }

    /// The log's current checkpoint from its node (or, over libp2p, the
    /// newest one announced), if the note is validly signed by `key`; the
    /// replica's size beside it.
    pub async fn pull(
        &self,
        origin: &str,
        key: &ian_core::note::NoteVerifier,
    ) -> Option<(SignedCheckpoint, u64)> {
        let source = self.urls.get(origin)?;
        let cp = if source == "p2p" {
            self.p2p.get()?.latest(origin)?
        } else {
            let b = self
                .get(&Via::Http(source.clone()), checkpoint_request(origin))
                .await
                .ok()?;
            SignedCheckpoint::parse(&b).ok()?
        };
        cp.verify(key).ok()?;
        let have = self.judged.lock().get(origin).copied().unwrap_or(0);
        let refused = self
            .refused
            .lock()
            .get(origin)
            .is_some_and(|(s, r, _)| *s == cp.checkpoint.size && *r == cp.checkpoint.root);
        (!refused).then_some((cp, have))
    }

    /// Whether this mirror re-evaluates the log `origin`.
    pub fn mirrors(&self, origin: &str) -> bool {
        self.urls.contains_key(origin)
    }

    /// One thing from where the log is copied: the same bytes over HTTP
    /// and over libp2p.
    async fn get(&self, via: &Via, req: SyncRequest) -> Result<Bytes, MirrorRefusal> {
        match via {
            Via::Http(base) => self.get_url(http_url(base, &req)).await,
            Via::Peer(peer) => {
                let p2p = self
                    .p2p
                    .get()
                    .ok_or_else(|| MirrorRefusal::Unavailable("libp2p is not running".into()))?;
                // A peer that is only busy or rate-limiting is asked again
                // after a pause (a catch-up asks for one pack per agent),
                // within the same bound as one HTTP download.
                let deadline = tokio::time::Instant::now() + self.timeout * 4;
                loop {
                    match p2p.request(*peer, req.clone()).await {
                        Ok(b) => return Ok(Bytes::from(b)),
                        Err(ian_p2p::P2pError::Refused { error, .. })
                            if (error.code == "rate_limited" || error.code == "busy")
                                && tokio::time::Instant::now() < deadline =>
                        {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => return Err(MirrorRefusal::Unavailable(e.to_string())),
                    }
                }
            }
        }
    }

    async fn get_url(&self, url: String) -> Result<Bytes, MirrorRefusal> {
        let unavailable = |m: String| MirrorRefusal::Unavailable(m);
        let fut = async {
            let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
            let resp = self
                .http
                .get(uri)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status();
            let body = http_body_util::Limited::new(resp.into_body(), MAX_FETCH)
                .collect()
                .await
                .map_err(|e| format!("{url}: {e}"))?
                .to_bytes();
            if status != 200 {
                return Err(format!(
                    "{url}: {status}: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ));
            }
            Ok(body)
        };
        tokio::time::timeout(self.timeout * 4, fut)
            .await
            .map_err(|_| unavailable(format!("{url}: no answer in time")))?
            .map_err(unavailable)
    }

    async fn blob(&self, via: &Via, h: Hash32) -> Result<Vec<u8>, MirrorRefusal> {
        let b = self
            .get(via, SyncRequest::Blob { hash: h.to_hex() })
            .await?;
        if sha256(&b) != h {
            return Err(MirrorRefusal::Fraud(format!(
                "the log's node served blob {h} with other bytes"
            )));
        }
        Ok(b.to_vec())
    }

    /// Everything needed to judge entries `[from, to)`, fetched and checked
    /// against hashes: the entries (from entry bundles), and each new
    /// pack with its code.
    async fn fetch(
        &self,
        via: &Via,
        origin: &str,
        from: u64,
        to: u64,
    ) -> Result<Fetched, MirrorRefusal> {
        let (mut entries, mut records) = (Vec::new(), Vec::new());
        let mut n = from / BUNDLE;
        while n * BUNDLE < to {
            let width = (to - n * BUNDLE).min(BUNDLE);
            let path = if width == BUNDLE {
                tile_index_path(n)
            } else {
                format!("{}.p/{width}", tile_index_path(n))
            };
            let b = self
                .get(
                    via,
                    SyncRequest::Tile {
                        origin: origin.to_string(),
                        path: format!("entries/{path}"),
                    },
                )
                .await?;
            let mut rest = &b[..];
            let mut i = n * BUNDLE;
            while !rest.is_empty() {
                let bad = || MirrorRefusal::Fraud(format!("entry bundle {n} is malformed"));
                if i == n * BUNDLE + width {
                    return Err(MirrorRefusal::Fraud(format!(
                        "entry bundle {n} holds more than its {width} entries"
                    )));
                }
                let len = u16::from_be_bytes([
                    *rest.first().ok_or_else(bad)?,
                    *rest.get(1).ok_or_else(bad)?,
                ]) as usize;
                let bytes = rest.get(2..2 + len).ok_or_else(bad)?;
                if i >= from {
                    let r = LogRecord::from_canonical_bytes(bytes).map_err(|e| {
                        MirrorRefusal::Fraud(format!("entry {i} does not decode: {e}"))
                    })?;
                    if let LogRecord::Entry(e) = &r {
                        entries.push(e.clone());
                    }
                    records.push(r);
                }
                rest = &rest[2 + len..];
                i += 1;
            }
            if i != n * BUNDLE + width {
                return Err(MirrorRefusal::Fraud(format!(
                    "entry bundle {n} holds {} of its {width} entries",
                    i - n * BUNDLE
                )));
            }
            n += 1;
        }
        if records.len() as u64 != to - from {
            return Err(MirrorRefusal::Fraud(format!(
                "the log's node served {} entries for [{from}, {to})",
                records.len()
            )));
        }
        let mut packs = BTreeMap::new();
        let mut code = BTreeMap::new();
        // Entries' packs, and the packs final results re-evaluated (those
        // of earlier entries, perhaps copied in an earlier catch-up).
        let wanted: Vec<Hash32> = records
            .iter()
            .filter_map(|r| match r {
                LogRecord::Entry(e) => Some(e.pack_hash),
                LogRecord::Final(f) => Some(f.pack_hash),
                LogRecord::Attempt(a) => Some(a.pack_hash),
                _ => None,
            })
            .collect();
        for pack_hash in wanted {
            if packs.contains_key(&pack_hash) {
                continue;
            }
            let b = self
                .get(
                    via,
                    SyncRequest::Pack {
                        hash: pack_hash.to_hex(),
                    },
                )
                .await?;
            let p: AgentPack = serde_json::from_slice(&b).map_err(|err| {
                MirrorRefusal::Fraud(format!("pack {} is not a pack: {err}", pack_hash))
            })?;
            if p.pack_hash() != pack_hash {
                return Err(MirrorRefusal::Fraud(format!(
                    "the log's node served another pack for {}",
                    pack_hash
                )));
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = code.entry(p.code_hash()) {
                slot.insert(self.blob(via, p.code_hash()).await?);
            }
            packs.insert(pack_hash, p);
        }
        Ok(Fetched {
            entries,
            records,
            packs,
            code,
        })
    }

    async fn load(
        &self,
        via: &Via,
        origin: &str,
        goal: &str,
    ) -> Result<(GoalManifest, Arc<LoadedGoal>), MirrorRefusal> {
        let b = self
            .get(
                via,
                SyncRequest::Manifest {
                    origin: origin.to_string(),
                },
            )
            .await?;
        let v: ManifestView = serde_json::from_slice(&b)
            .map_err(|e| MirrorRefusal::Unavailable(format!("manifest of {goal}: {e}")))?;
        if v.manifest.id.as_str() != goal || v.manifest.goal_hash() != v.goal_hash {
            return Err(MirrorRefusal::Fraud(format!(
                "the manifest served for {goal} is for {} or does not hash to {}",
                v.manifest.id, v.goal_hash
            )));
        }
        if v.manifest.harness.dataset.is_some() {
            return Err(MirrorRefusal::CannotJudge(format!(
                "goal {goal} mounts a dataset, which this mirror does not copy yet"
            )));
        }
        let mut blobs = HashMap::new();
        let mut hashes = vec![v.manifest.harness.component];
        hashes.extend(v.manifest.invariants.iter().map(|i| i.component));
        for h in hashes {
            blobs.insert(h, self.blob(via, h).await?);
        }
        let loaded = self
            .judge
            .load_goal(&v.manifest, &|h| blobs.get(&h).cloned(), None)
            .map_err(|e| MirrorRefusal::CannotJudge(format!("goal {goal}: {e}")))?;
        Ok((v.manifest, Arc::new(loaded)))
    }

    /// Brings the replica of `cp`'s log up to `cp` (whose signature and
    /// consistency the witness has checked): copies, re-evaluates, and
    /// checks the root. `Ok` means the mirror may cosign. Called from a
    /// blocking thread inside the tokio runtime.
    pub fn catch_up(&self, cp: &SignedCheckpoint) -> Result<(), MirrorRefusal> {
        let origin = &cp.checkpoint.origin;
        let (size, root) = (cp.checkpoint.size, cp.checkpoint.root);
        // One catch-up at a time (the request path and the follower may ask
        // at once): the second finds the first's answer.
        let mut replicas = self.replicas.lock();
        if let Some((_, _, why)) = self
            .refused
            .lock()
            .get(origin)
            .filter(|(s, r, _)| *s == size && *r == root)
        {
            return Err(why.clone());
        }
        let result = self.catch_up_locked(&mut replicas, cp);
        match &result {
            Ok(()) => {}
            Err(MirrorRefusal::Unavailable(_)) => {
                *self.attempts.lock().entry(origin.clone()).or_default() += 1;
            }
            Err(why) => {
                self.refused
                    .lock()
                    .insert(origin.clone(), (size, root, why.clone()));
            }
        }
        result
    }

    fn catch_up_locked(
        &self,
        replicas: &mut HashMap<String, Replica>,
        cp: &SignedCheckpoint,
    ) -> Result<(), MirrorRefusal> {
        let origin = &cp.checkpoint.origin;
        let Some(source) = self.urls.get(origin).cloned() else {
            return Ok(());
        };
        let via = if source == "p2p" {
            let p2p = self
                .p2p
                .get()
                .ok_or_else(|| MirrorRefusal::Unavailable("libp2p is not running".into()))?;
            let holders = p2p.holders(origin);
            if holders.is_empty() {
                return Err(MirrorRefusal::Unavailable(format!(
                    "no libp2p peer serves {origin} yet"
                )));
            }
            let n = self.attempts.lock().get(origin).copied().unwrap_or(0);
            Via::Peer(holders[n % holders.len()])
        } else {
            Via::Http(source)
        };
        // What the source served failed a check: over libp2p that is the
        // peer's fault, not the log's.
        let blame = |e: MirrorRefusal| match (&via, e) {
            (Via::Peer(p), MirrorRefusal::Fraud(why)) => self.bad_peer(*p, cp, why),
            (_, e) => e,
        };
        let goal = cp.checkpoint.goal_id().to_string();
        let Some(rt) = self.rt.clone() else {
            return Err(MirrorRefusal::Unavailable(
                "the mirror runs outside the node's runtime".into(),
            ));
        };
        if !replicas.contains_key(origin) {
            let (manifest, loaded) =
                rt.block_on(self.load(&via, origin, &goal))
                    .map_err(|e| match (&via, e) {
                        // Nothing signed says this is the log's goal yet: a
                        // peer's manifest this mirror cannot load is the
                        // peer's problem until the entries confirm it.
                        (Via::Peer(p), MirrorRefusal::CannotJudge(why)) => {
                            MirrorRefusal::Unavailable(format!(
                                "peer {p} served a goal this mirror cannot load: {why}"
                            ))
                        }
                        (_, e) => blame(e),
                    })?;
            let state = GoalState::new(manifest.clone());
            replicas.insert(
                origin.clone(),
                Replica {
                    manifest_from: match &via {
                        Via::Peer(p) => Some(*p),
                        Via::Http(_) => None,
                    },
                    manifest,
                    loaded,
                    state,
                },
            );
        }
        let r = replicas.get_mut(origin).expect("inserted above");
        let (from, to) = (r.state.size(), cp.checkpoint.size);
        if to <= from {
            // Already judged (the replica follows the log on its own): the
            // checkpoint must name the tree the judged entries built.
            let root = r.state.mmr().root_at(to).unwrap_or(Hash32::ZERO);
            if root != cp.checkpoint.root {
                return Err(self.record(root_mismatch(
                    cp,
                    format!(
                        "the log's entries [0, {to}), already copied and judged, rebuild root {root}; this checkpoint signs {}",
                        cp.checkpoint.root
                    ),
                )));
            }
            return Ok(());
        }
        let fetched = rt
            .block_on(self.fetch(&via, origin, from, to))
            .map_err(blame)?;
        // The manifest was only checked against the hash served beside it:
        // the signed entries say which goal they are for.
        if let Some(h) = fetched
            .records
            .iter()
            .map(LogRecord::header)
            .find(|h| h.goal_hash != r.manifest.goal_hash())
        {
            let why = format!(
                "entry {} is for goal hash {}, the manifest served hashes to {}",
                h.log_index,
                h.goal_hash,
                r.manifest.goal_hash()
            );
            let from = r.manifest_from;
            replicas.remove(origin);
            return Err(match from {
                Some(p) => self.bad_peer(p, cp, format!("its manifest: {why}")),
                None => MirrorRefusal::Unavailable(why),
            });
        }
        // The served entries must rebuild the signed root before anything
        // else is believed about them; the same tree gives each entry the
        // log's own receipt, for evidence.
        let mut tree = r.state.mmr().clone();
        for rec in &fetched.records {
            let _ = tree.append(&rec.to_canonical_bytes());
        }
        let rebuilt = tree.root().unwrap_or(Hash32::ZERO);
        if rebuilt != cp.checkpoint.root {
            let why = format!(
                "the entries served for [{from}, {to}) rebuild root {rebuilt}, the checkpoint signs {}",
                cp.checkpoint.root
            );
            return Err(match via {
                Via::Peer(p) => self.bad_peer(p, cp, why),
                Via::Http(_) => self.record(root_mismatch(cp, why)),
            });
        }
        let receipt_of = |e: &LogEntry| {
            tree.inclusion_proof(e.log_index, to)
                .ok()
                .map(|proof| Receipt {
                    entry: e.clone(),
                    proof,
                    checkpoint: cp.clone(),
                })
        };
        let mut next = r.state.clone();
        let (engine, config) = (self.judge.engine_version(), self.judge.config_hash());
        for rec in &fetched.records {
            let (index, evaluated_by) = match rec {
                LogRecord::Entry(e) => (e.log_index, Some((&e.engine_version, e.config_hash))),
                LogRecord::Final(f) => (
                    f.header.log_index,
                    Some((&f.env.engine_version, f.env.config_hash)),
                ),
                LogRecord::Attempt(a) => (
                    a.header.log_index,
                    Some((&a.env.engine_version, a.env.config_hash)),
                ),
                LogRecord::Selection(_) | LogRecord::Reveal(_) => (rec.header().log_index, None),
            };
            if let Some((e_engine, e_config)) = evaluated_by
                && (*e_engine != engine || e_config != config)
            {
                return Err(MirrorRefusal::CannotJudge(format!(
                    "entry {index} was evaluated with {e_engine} and sandbox config {e_config}; this mirror runs {engine} with config {config}"
                )));
            }
            if let Err(err) = next.apply_record(rec) {
                return Err(self.record(Evidence {
                    conflicting: None,
                    kind: "invalid_entry".into(),
                    origin: origin.clone(),
                    index: Some(index),
                    receipt: match rec {
                        LogRecord::Entry(e) => receipt_of(e),
                        _ => None,
                    },
                    checkpoint: cp.clone(),
                    differences: Vec::new(),
                    served_by: None,
                    detail: format!(
                        "{} {index} of {origin} is not a valid leaf: {err}",
                        rec.kind()
                    ),
                }));
            }
        }
        // Every entry re-evaluated, on a thread with the evaluation stack.
        let judged = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("ian-mirror".into())
                .stack_size(self.worker_stack)
                .spawn_scoped(s, || {
                    fetched
                        .entries
                        .iter()
                        .map(|e| {
                            let pack = &fetched.packs[&e.pack_hash];
                            let code = &fetched.code[&pack.code_hash()];
                            rejudge_entry(&self.judge, &r.loaded, &r.manifest, pack, code, e)
                        })
                        .collect::<Vec<_>>()
                })
                .map(|h| h.join())
        });
        let judged = match judged {
            Ok(Ok(j)) => j,
            _ => {
                return Err(MirrorRefusal::Unavailable(
                    "the evaluation thread failed".into(),
                ));
            }
        };
        for (e, j) in fetched.entries.iter().zip(judged) {
            let differences = match j {
                Ok(d) if d.is_empty() => continue,
                Ok(d) => d,
                Err(Refusal::Rejected(rej)) => vec![Mismatch {
                    field: "outcome".into(),
                    recorded: "accepted".into(),
                    replayed: format!("rejected: {rej}"),
                }],
                Err(Refusal::Inconclusive(i)) => {
                    return Err(MirrorRefusal::Unavailable(format!(
                        "re-evaluating entry {} was inconclusive: {i}",
                        e.log_index
                    )));
                }
            };
            let receipt = receipt_of(e);
            let ev = Evidence {
                conflicting: None,
                kind: "reevaluation_mismatch".into(),
                origin: origin.clone(),
                index: Some(e.log_index),
                receipt,
                checkpoint: cp.clone(),
                detail: format!(
                    "entry {} of {origin} re-evaluates differently: {}",
                    e.log_index,
                    differences
                        .iter()
                        .map(|m| format!(
                            "{} recorded {} replayed {}",
                            m.field, m.recorded, m.replayed
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                differences,
                served_by: None,
            };
            return Err(self.record(ev));
        }
        self.rejudge_finals(&r.manifest, &r.loaded, &next, &fetched, origin, cp)?;
        let n = to - from;
        self.reevaluated
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        r.state = next;
        self.judged.lock().insert(origin.clone(), to);
        if n > 0 {
            info!(origin = %origin, from, to, "re-evaluated entries identically");
        }
        Ok(())
    }

    /// Every final result of the range evaluated again here on the
    /// revealed hidden seeds; one that differs is evidence.
    fn rejudge_finals(
        &self,
        manifest: &GoalManifest,
        loaded: &LoadedGoal,
        state: &GoalState,
        fetched: &Fetched,
        origin: &str,
        cp: &SignedCheckpoint,
    ) -> Result<(), MirrorRefusal> {
        self.rejudge_attempts(manifest, loaded, fetched, origin, cp)?;
        let finals: Vec<&ian_core::record::FinalEntry> = fetched
            .records
            .iter()
            .filter_map(|r| match r {
                LogRecord::Final(f) => Some(f),
                _ => None,
            })
            .collect();
        if finals.is_empty() {
            return Ok(());
        }
        let Some(seeds) = state.revealed_seeds() else {
            return Err(MirrorRefusal::Fraud(format!(
                "{origin} holds final results without a reveal"
            )));
        };
        let env = ian_core::record::EvalEnv {
            fuel_used: 0,
            engine_version: self.judge.engine_version(),
            config_hash: self.judge.config_hash(),
            abi_version: self.judge.abi_version().to_string(),
            harness_hash: manifest.harness.component,
        };
        let judged = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("ian-mirror-finals".into())
                .stack_size(self.worker_stack)
                .spawn_scoped(s, || {
                    finals
                        .iter()
                        .map(|f| {
                            let pack = &fetched.packs[&f.pack_hash];
                            let code = &fetched.code[&pack.code_hash()];
                            let ev =
                                SandboxEvaluator::new(&self.judge, loaded, CodeSource::Bytes(code))
                                    .on_seeds(seeds.clone());
                            let verdict = ian_core::pipeline::Evaluator::evaluate(
                                &ev,
                                manifest,
                                pack,
                                &f.pack_hash,
                            );
                            ian_core::pipeline::judge_final(manifest, verdict, env.clone())
                        })
                        .collect::<Vec<_>>()
                })
                .map(|h| h.join())
        });
        let Ok(Ok(judged)) = judged else {
            return Err(MirrorRefusal::Unavailable(
                "the evaluation thread failed".into(),
            ));
        };
        for (f, mine) in finals.into_iter().zip(judged) {
            let Some((outcome, env)) = mine else {
                return Err(MirrorRefusal::Unavailable(format!(
                    "re-evaluating final result {} was inconclusive",
                    f.header.log_index
                )));
            };
            if outcome == f.outcome && env == f.env {
                continue;
            }
            return Err(self.record(Evidence {
                conflicting: None,
                kind: "reevaluation_mismatch".into(),
                origin: origin.to_string(),
                index: Some(f.header.log_index),
                receipt: None,
                checkpoint: cp.clone(),
                differences: vec![Mismatch {
                    field: "final".into(),
                    recorded: format!("{:?} {:?}", f.outcome, f.env),
                    replayed: format!("{outcome:?} {env:?}"),
                }],
                served_by: None,
                detail: format!(
                    "final result {} of {origin} (entry {} on the hidden seeds) re-evaluates differently",
                    f.header.log_index, f.of_index
                ),
            }));
        }
        Ok(())
    }

    /// Every attempt of the range run again here: it must be rejected at
    /// the same step for the same reason; otherwise that is evidence.
    fn rejudge_attempts(
        &self,
        manifest: &GoalManifest,
        loaded: &LoadedGoal,
        fetched: &Fetched,
        origin: &str,
        cp: &SignedCheckpoint,
    ) -> Result<(), MirrorRefusal> {
        let attempts: Vec<&ian_core::record::AttemptEntry> = fetched
            .records
            .iter()
            .filter_map(|r| match r {
                LogRecord::Attempt(a) => Some(a),
                _ => None,
            })
            .collect();
        if attempts.is_empty() {
            return Ok(());
        }
        let judged = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("ian-mirror-attempts".into())
                .stack_size(self.worker_stack)
                .spawn_scoped(s, || {
                    attempts
                        .iter()
                        .map(|a| {
                            let pack = &fetched.packs[&a.pack_hash];
                            let code = &fetched.code[&pack.code_hash()];
                            crate::runtime::judge::rejudge_attempt(
                                &self.judge,
                                loaded,
                                manifest,
                                pack,
                                code,
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .map(|h| h.join())
        });
        let Ok(Ok(judged)) = judged else {
            return Err(MirrorRefusal::Unavailable(
                "the evaluation thread failed".into(),
            ));
        };
        for (a, mine) in attempts.into_iter().zip(judged) {
            let mine = mine.map_err(|i| {
                MirrorRefusal::Unavailable(format!(
                    "re-evaluating attempt {} was inconclusive: {i}",
                    a.header.log_index
                ))
            })?;
            if mine.as_ref() == Some(&(a.step, a.reason.clone())) {
                continue;
            }
            let replayed = match &mine {
                Some((step, reason)) => format!("rejected at step {step}: {reason}"),
                None => "accepted".to_string(),
            };
            return Err(self.record(Evidence {
                conflicting: None,
                kind: "reevaluation_mismatch".into(),
                origin: origin.to_string(),
                index: Some(a.header.log_index),
                receipt: None,
                checkpoint: cp.clone(),
                differences: vec![Mismatch {
                    field: "attempt".into(),
                    recorded: format!("rejected at step {}: {}", a.step, a.reason),
                    replayed: replayed.clone(),
                }],
                served_by: None,
                detail: format!(
                    "attempt {} of {origin} re-evaluates differently: recorded rejected at step {} ({}), here {replayed}",
                    a.header.log_index, a.step, a.reason
                ),
            }));
        }
        Ok(())
    }

    /// A peer served bytes that failed a hash or root check: evidence
    /// naming the peer, the peer struck (not asked again), and the log is
    /// tried again from another peer.
    fn bad_peer(&self, peer: ian_p2p::PeerId, cp: &SignedCheckpoint, why: String) -> MirrorRefusal {
        let origin = &cp.checkpoint.origin;
        self.evidence.record(Evidence {
            kind: "bad_peer_data".into(),
            origin: origin.clone(),
            index: None,
            receipt: None,
            checkpoint: cp.clone(),
            conflicting: None,
            differences: Vec::new(),
            detail: format!("peer {peer} served {origin} with bad data: {why}"),
            served_by: Some(peer.to_string()),
        });
        if let Some(p2p) = self.p2p.get() {
            p2p.strike(peer);
        }
        MirrorRefusal::Unavailable(format!(
            "peer {peer} served bad data ({why}); asking another"
        ))
    }

    /// Stores evidence and returns the refusal naming it.
    fn record(&self, ev: Evidence) -> MirrorRefusal {
        let detail = ev.detail.clone();
        self.evidence.record(ev);
        MirrorRefusal::Fraud(detail)
    }
}

/// Evidence that entries do not rebuild the root `cp` signs.
fn root_mismatch(cp: &SignedCheckpoint, detail: String) -> Evidence {
    Evidence {
        kind: "root_mismatch".into(),
        origin: cp.checkpoint.origin.clone(),
        index: None,
        receipt: None,
        checkpoint: cp.clone(),
        conflicting: None,
        differences: Vec::new(),
        detail,
        served_by: None,
    }
}

/// The request for a log's checkpoint.
fn checkpoint_request(origin: &str) -> SyncRequest {
    SyncRequest::Checkpoint {
        origin: origin.to_string(),
    }
}

/// The HTTP URL that serves what `req` asks for.
fn http_url(base: &str, req: &SyncRequest) -> String {
    let goal = |origin: &str| origin.rsplit('/').next().unwrap_or_default().to_string();
    match req {
        SyncRequest::Logs => format!("{base}/api/v1/goals"),
        SyncRequest::Checkpoint { origin } => format!("{base}/logs/{}/checkpoint", goal(origin)),
        SyncRequest::Tile { origin, path } => format!("{base}/logs/{}/tile/{path}", goal(origin)),
        SyncRequest::Blob { hash } => format!("{base}/api/v1/blobs/{hash}"),
        SyncRequest::Pack { hash } => format!("{base}/api/v1/packs/{hash}"),
        SyncRequest::Manifest { origin } => {
            format!("{base}/api/v1/goals/{}/manifest", goal(origin))
        }
        SyncRequest::Consistency { origin, old, new } => format!(
            "{base}/api/v1/goals/{}/consistency?from={old}&to={new}",
            goal(origin)
        ),
    }
}

struct Fetched {
    /// The accepted entries among `records`.
    entries: Vec<LogEntry>,
    /// Every leaf of the range, in order.
    records: Vec<LogRecord>,
    packs: BTreeMap<Hash32, AgentPack>,
    code: BTreeMap<Hash32, Vec<u8>>,
}
