//! Witnessing, both ways (c2sp.org/tlog-witness).
//!
//! * [`Witness`]: this node cosigns other logs' checkpoints. For each log
//!   it knows (by origin, with its vkey) it keeps the latest checkpoint it
//!   cosigned, durably, and cosigns a new one only with a valid consistency
//!   proof from exactly that size. Check and update happen under one lock,
//!   and the new record is durable before the cosignature leaves, so the
//!   rollback race the spec describes cannot happen.
//! * [`collect`]: this node's own checkpoints are sent to the witnesses of
//!   its policy; once the quorum has cosigned, the checkpoint becomes the
//!   goal's *final* checkpoint: the one `/logs/<goal>/checkpoint` and
//!   receipts carry.
//!
//! Architecture Invariant: a witness never cosigns two checkpoints of one
//! origin that are not consistent with each other, across restarts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ian_core::checkpoint::SignedCheckpoint;
use ian_core::mmr::{ConsistencyProof, empty_root, verify_consistency};
use ian_core::note::{
    Cosigner, NoteSignature, NoteVerifier, hash_from_base64, hash_to_base64, parse_decimal,
};
use ian_core::policy::Policy;
use ian_core::{Hash32, sha256};
use ian_store::Store;

use crate::runtime::evidence::{Evidence, EvidenceLog};
use crate::runtime::mirror::{Mirror, MirrorRefusal};
use parking_lot::Mutex;
use tracing::{debug, info, warn};

/// Most consistency-proof lines in an add-checkpoint request (the spec's
/// limit).
pub const MAX_PROOF_LINES: usize = 63;

/// The witness key: derived from the node key, so it needs no file of its
/// own, yet is a different key (a cosignature/v1 does not commit to the
/// signer's name, so its key must sign nothing else).
pub fn witness_key(node: &SigningKey) -> SigningKey {
    let mut m = b"ian/witness-key/v1".to_vec();
    m.extend_from_slice(node.as_bytes());
    SigningKey::from_bytes(&sha256(&m).0)
}

/// How an add-checkpoint request was refused, by HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// 400: malformed body, or old size above the checkpoint's.
    #[error("{0}")]
    BadRequest(String),
    /// 403: no valid signature by the log's key.
    #[error("{0}")]
    Forbidden(String),
    /// 404: an origin this witness does not know.
    #[error("unknown log origin {0:?}")]
    UnknownLog(String),
    /// 409: the old size is not the size last cosigned.
    #[error("the latest cosigned size is {0}")]
    Conflict(u64),
    /// 422: the proof does not verify, or the roots disagree.
    #[error("{0}")]
    Unprocessable(String),
    /// 503: a mirror could not copy the log's new entries (try later).
    #[error("{0}")]
    Unavailable(String),
    /// 500: the record could not be made durable.
    #[error("witness store: {0}")]
    Store(String),
}

/// The witness role.
pub struct Witness {
    cosigner: Cosigner,
    /// Re-evaluates mirrored logs before cosigning, when the node is a
    /// mirror.
    mirror: Option<Arc<Mirror>>,
    /// Forks found, and what a mirror found.
    evidence: Arc<EvidenceLog>,
    logs: HashMap<String, NoteVerifier>,
    store: Arc<Store>,
    lock: Mutex<()>,
}

fn record_key(origin: &str) -> String {
    format!("witness/{}", sha256(origin.as_bytes()).to_hex())
}

/// Set once a log is caught forking: it is not followed any more.
fn forked_key(origin: &str) -> String {
    format!("witness-forked/{}", sha256(origin.as_bytes()).to_hex())
}

/// Reads the `log <vkey> [url]` lines of a tlog-policy file (other lines
/// are not allowed here: this file only lists the logs to witness). The
/// URL is the base URL of the log's node, which a mirror copies from.
pub fn parse_witnessed_logs(text: &str) -> Result<Vec<(NoteVerifier, Option<String>)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let words: Vec<&str> = raw.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        match words.as_slice() {
            [] => {}
            [w, ..] if w.starts_with('#') => {}
            ["log", vkey, rest @ ..] if rest.len() <= 1 => {
                let v = NoteVerifier::parse(vkey).map_err(|e| format!("line {}: {e}", i + 1))?;
                if v.sig_type != ian_core::note::TYPE_ED25519 {
                    return Err(format!(
                        "line {}: a log key must be Ed25519 (type 0x01)",
                        i + 1
                    ));
                }
                if out
                    .iter()
                    .any(|(o, _): &(NoteVerifier, _)| o.name == v.name)
                {
                    return Err(format!(
                        "line {}: origin {} is listed twice; one key per log",
                        i + 1,
                        v.name
                    ));
                }
                out.push((v, rest.first().map(|u| u.trim_end_matches('/').to_string())));
            }
            _ => return Err(format!("line {}: expected `log <vkey> [<url>]`", i + 1)),
        }
    }
    Ok(out)
}

impl Witness {
    /// A witness named `name` cosigning for `logs` (key name = origin).
    pub fn new(
        name: &str,
        key: SigningKey,
        logs: Vec<NoteVerifier>,
        store: Arc<Store>,
        mirror: Option<Arc<Mirror>>,
        evidence: Arc<EvidenceLog>,
    ) -> Result<Self, String> {
        let cosigner = Cosigner::new(name, key).map_err(|e| e.to_string())?;
        Ok(Witness {
            cosigner,
            mirror,
            evidence,
            logs: logs.into_iter().map(|v| (v.name.clone(), v)).collect(),
            store,
            lock: Mutex::new(()),
        })
    }

    /// Whether the log was caught forking (it is not followed any more).
    pub fn is_forked(&self, origin: &str) -> bool {
        self.store
            .meta(&forked_key(origin))
            .map(|v| v.is_some())
            .unwrap_or(true)
    }

    /// The logs this witness follows.
    pub fn origins(&self) -> Vec<String> {
        self.logs.keys().cloned().collect()
    }

    /// Stops following a log caught forking elsewhere (the evidence is
    /// already stored).
    pub fn mark_forked(&self, origin: &str) {
        if self.logs.contains_key(origin) {
            let _ = self
                .store
                .put_meta(&forked_key(origin), b"fork".to_vec())
                .and_then(|t| t.wait());
        }
    }

    /// The key this witness follows for a log.
    pub fn log_key(&self, origin: &str) -> Option<&NoteVerifier> {
        self.logs.get(origin)
    }

    /// Evidence this witness (or its mirror) stored.
    pub fn evidence(&self) -> &EvidenceLog {
        &self.evidence
    }

    /// The mirror role, when this witness re-evaluates.
    pub fn mirror(&self) -> Option<&Arc<Mirror>> {
        self.mirror.as_ref()
    }

    /// The witness's vkey (type 0x04), for policies.
    pub fn vkey(&self) -> String {
        self.cosigner.verifier().to_vkey()
    }

    /// The latest checkpoint cosigned for the log whose origin hashes to
    /// `origin_hash` (hex), with this witness's cosignature.
    pub fn latest(&self, origin_hash: &str) -> Result<Option<String>, WitnessError> {
        let key = format!("witness/{origin_hash}");
        let v = self
            .store
            .meta(&key)
            .map_err(|e| WitnessError::Store(e.to_string()))?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// `POST add-checkpoint`: the cosignature lines, or why not.
    pub fn add_checkpoint(&self, body: &[u8], now_secs: u64) -> Result<String, WitnessError> {
        let bad = |m: String| WitnessError::BadRequest(m);
        let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8".into()))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or_else(|| bad("the first line must be `old <size>`".into()))?;
        let mut hashes = Vec::new();
        for l in lines {
            if hashes.len() == MAX_PROOF_LINES {
                return Err(bad(format!("more than {MAX_PROOF_LINES} proof lines")));
            }
            hashes.push(
                hash_from_base64(l)
                    .ok_or_else(|| bad(format!("proof line {l:?} is not a base64 hash")))?,
            );
        }
        let cp = SignedCheckpoint::parse(note.as_bytes())
            .map_err(|e| bad(format!("checkpoint: {e}")))?;
        let origin = cp.checkpoint.origin.clone();
        let log = self
            .logs
            .get(&origin)
            .ok_or_else(|| WitnessError::UnknownLog(origin.clone()))?;
        cp.verify(log)
            .map_err(|e| WitnessError::Forbidden(format!("checkpoint of {origin}: {e}")))?;
        let size = cp.checkpoint.size;
        if old > size {
            return Err(bad(format!(
                "old size {old} is above the checkpoint size {size}"
            )));
        }
        // A mirror judges the new entries before the witness lock is taken
        // (its replica has its own), so one slow log never holds up the
        // others; the checks below still run on the record under the lock.
        if let Some(m) = self.mirror.as_ref().filter(|m| m.mirrors(&origin))
            && !self.is_forked(&origin)
        {
            m.catch_up(&cp).map_err(|e| match e {
                MirrorRefusal::Unavailable(m) => WitnessError::Unavailable(m),
                other => WitnessError::Unprocessable(other.to_string()),
            })?;
        }
        let _guard = self.lock.lock();
        if self
            .store
            .meta(&forked_key(&origin))
            .map_err(|e| WitnessError::Store(e.to_string()))?
            .is_some()
        {
            return Err(WitnessError::Forbidden(format!(
                "{origin} forked (evidence at /api/v1/evidence); this witness no longer follows it"
            )));
        }
        let key = record_key(&origin);
        let stored = self
            .store
            .meta(&key)
            .map_err(|e| WitnessError::Store(e.to_string()))?
            .map(|b| SignedCheckpoint::parse(&b))
            .transpose()
            .map_err(|e| WitnessError::Store(format!("stored checkpoint of {origin}: {e}")))?;
        let (stored_size, stored_root) = stored.as_ref().map_or((0, empty_root()), |s| {
            (s.checkpoint.size, s.checkpoint.root)
        });
        // Two trees of one size under one key: a fork, whatever else is
        // wrong with the request. Kept as evidence; the log is not followed
        // any more.
        if let Some(s) = &stored
            && s.checkpoint.size == size
            && s.checkpoint.root != cp.checkpoint.root
        {
            self.evidence.record(Evidence {
                kind: "fork".into(),
                origin: origin.clone(),
                index: None,
                receipt: None,
                checkpoint: cp.clone(),
                conflicting: Some(s.clone()),
                differences: Vec::new(),
                served_by: None,
                detail: format!(
                    "{origin} signed two trees of size {size}: roots {} and {}",
                    s.checkpoint.root, cp.checkpoint.root
                ),
            });
            self.store
                .put_meta(&forked_key(&origin), b"fork".to_vec())
                .and_then(|t| t.wait())
                .map_err(|e| WitnessError::Store(e.to_string()))?;
            return Err(WitnessError::Unprocessable(format!(
                "{origin} signed another root for size {size}: fork evidence stored; this log is no longer followed"
            )));
        }
        if old != stored_size {
            return Err(WitnessError::Conflict(stored_size));
        }
        let unprocessable = |m: String| WitnessError::Unprocessable(m);
        if size == 0 && cp.checkpoint.root != empty_root() {
            return Err(unprocessable(
                "a checkpoint of size 0 must have the empty tree's root".into(),
            ));
        }
        verify_consistency(
            old,
            &stored_root,
            size,
            &cp.checkpoint.root,
            &ConsistencyProof { hashes },
        )
        .map_err(|e| {
            unprocessable(format!(
                "consistency from size {old} to {size} of {origin}: {e}"
            ))
        })?;
        let line = self.cosigner.cosign(&cp.note.text, now_secs);
        let mut kept = cp.clone();
        kept.note.signatures.retain(|s| log.matches(s));
        kept.note.add_signature(line.clone());
        self.store
            .put_meta(&key, kept.to_canonical_bytes())
            .and_then(|t| t.wait())
            .map_err(|e| WitnessError::Store(e.to_string()))?;
        debug!(origin = %origin, size, "cosigned a checkpoint");
        Ok(line.to_line())
    }
}

/// Largest answer read from a witness: a few signature lines.
const MAX_WITNESS_ANSWER: usize = 64 * 1024;

/// The client side: asks the policy's witnesses to cosign.
pub struct Collector {
    policy: Policy,
    timeout: Duration,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    /// The size each witness last cosigned, per (witness index, origin).
    /// Kept in memory: after a restart the first request of each witness
    /// is answered 409 with its size, and the retry starts from there.
    known: Mutex<HashMap<(usize, String), u64>>,
}

/// What one witness said.
enum Answer {
    Cosigned(Vec<NoteSignature>),
    Conflict(u64),
    Refused(String),
}

/// The consistency proof from an old size to the checkpoint being sent.
pub type ProofFrom = Arc<dyn Fn(u64) -> Option<ConsistencyProof> + Send + Sync>;

impl Collector {
    /// A collector for a policy. Every witness URL must be `http://` (TLS
    /// to witnesses is not built in: put a local TLS proxy in front), and
    /// the witnesses that have a URL must be able to meet the quorum.
    pub fn new(policy: Policy, timeout: Duration) -> Result<Self, String> {
        for w in &policy.witnesses {
            if let Some(u) = &w.url
                && !u.starts_with("http://")
            {
                return Err(format!(
                    "witness {}: URL {u} is not http:// (the node speaks plain HTTP to witnesses; reach an https witness through a local TLS proxy)",
                    w.name
                ));
            }
        }
        let reachable: Vec<bool> = policy.witnesses.iter().map(|w| w.url.is_some()).collect();
        if !policy.quorum_met(&reachable) {
            return Err(format!(
                "the quorum ({}) cannot be met by the witnesses that have a URL",
                policy.describe_quorum()
            ));
        }
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(timeout));
        Ok(Collector {
            policy,
            timeout,
            http: HyperClient::builder(TokioExecutor::new()).build(conn),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn post(&self, url: &str, body: String) -> Answer {
        let req = match hyper::Request::post(format!("{url}/add-checkpoint"))
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
        {
            Ok(r) => r,
            Err(e) => return Answer::Refused(format!("bad witness URL {url}: {e}")),
        };
        let fut = async {
            let resp = self.http.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = http_body_util::Limited::new(resp.into_body(), MAX_WITNESS_ANSWER)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => return Answer::Refused(format!("{url}: no answer within the timeout")),
            Ok(Err(e)) => return Answer::Refused(format!("{url}: {e}")),
            Ok(Ok(x)) => x,
        };
        let text = String::from_utf8_lossy(&body);
        match status.as_u16() {
            200 => {
                let sigs: Result<Vec<_>, _> = text.lines().map(NoteSignature::parse_line).collect();
                match sigs {
                    Ok(s) => Answer::Cosigned(s),
                    Err(e) => Answer::Refused(format!("{url}: malformed cosignature: {e}")),
                }
            }
            409 => match parse_decimal(text.trim_end_matches('\n')) {
                Some(n) => Answer::Conflict(n),
                None => Answer::Refused(format!("{url}: 409 without a size")),
            },
            s => Answer::Refused(format!("{url}: {s}: {}", text.trim())),
        }
    }

    /// Asks witness `i` (once more from its size after a 409) and returns
    /// its valid cosignature lines over `cp`, recording the size it has now
    /// cosigned.
    async fn ask(
        self: Arc<Self>,
        i: usize,
        cp: SignedCheckpoint,
        proof: ProofFrom,
    ) -> Vec<NoteSignature> {
        let w = &self.policy.witnesses[i];
        let Some(url) = w.url.clone() else {
            return Vec::new();
        };
        let origin = cp.checkpoint.origin.clone();
        let size = cp.checkpoint.size;
        let body = |old: u64| -> Option<String> {
            let p = proof(old)?;
            let mut s = format!("old {old}\n");
            for h in &p.hashes {
                s.push_str(&hash_to_base64(h));
                s.push('\n');
            }
            s.push('\n');
            s.push_str(&cp.to_text());
            Some(s)
        };
        let old = self
            .known
            .lock()
            .get(&(i, origin.clone()))
            .copied()
            .unwrap_or(0)
            .min(size);
        let Some(first) = body(old) else {
            return Vec::new();
        };
        let mut answer = self.post(&url, first).await;
        if let Answer::Conflict(n) = answer {
            self.known.lock().insert((i, origin.clone()), n);
            answer = match (n <= size).then(|| body(n)).flatten() {
                Some(b) => self.post(&url, b).await,
                None => Answer::Refused(format!(
                    "witness has size {n}, beyond this checkpoint's {size}"
                )),
            };
        }
        match answer {
            Answer::Cosigned(sigs) => {
                let valid: Vec<NoteSignature> = sigs
                    .into_iter()
                    .filter(|s| w.key.matches(s))
                    .filter(|s| match w.key.check(&cp.note.text, s) {
                        Ok(_) => true,
                        Err(e) => {
                            warn!(witness = %w.name, error = %e, "invalid cosignature");
                            false
                        }
                    })
                    .collect();
                if !valid.is_empty() {
                    self.known.lock().insert((i, origin), size);
                }
                valid
            }
            Answer::Conflict(n) => {
                warn!(witness = %w.name, size = n, "witness reports another size");
                Vec::new()
            }
            Answer::Refused(e) => {
                warn!(witness = %w.name, error = %e, "witness refused");
                Vec::new()
            }
        }
    }

    /// One round for one checkpoint: every witness with a URL is asked in
    /// parallel, and valid cosignatures are added to `cp` as they arrive.
    /// Returns as soon as the quorum is met (the other requests finish in
    /// the background) or every witness has answered.
    pub async fn round(self: &Arc<Self>, cp: &mut SignedCheckpoint, proof: ProofFrom) -> Vec<bool> {
        let n = self.policy.witnesses.len();
        let (tx, mut rx) = tokio::sync::mpsc::channel(n.max(1));
        for i in 0..n {
            let (me, snapshot, proof, tx) = (self.clone(), cp.clone(), proof.clone(), tx.clone());
            tokio::spawn(async move {
                let sigs = me.ask(i, snapshot, proof).await;
                let _ = tx.send(sigs).await;
            });
        }
        drop(tx);
        let mut have = vec![false; n];
        while let Some(sigs) = rx.recv().await {
            for s in sigs {
                cp.note.add_signature(s);
            }
            have = self.policy.cosigners(cp).unwrap_or_else(|_| vec![false; n]);
            if self.policy.quorum_met(&have) {
                break;
            }
        }
        have
    }
}

/// Logged once when a goal's checkpoint becomes final.
pub(crate) fn log_final(goal: &str, size: u64, root: &Hash32, cosigners: usize) {
    info!(goal = %goal, size, root = %root, cosigners, "checkpoint cosigned by the witness quorum");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vkey(name: &str, seed: u8) -> String {
        ian_core::note::NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32]))
            .unwrap()
            .verifier()
            .to_vkey()
    }

    #[test]
    fn witnessed_logs_are_log_lines_with_one_key_per_origin() {
        let ok = format!(
            "# logs\nlog {}\n\nlog {} http://x\n",
            vkey("a.example/1", 1),
            vkey("a.example/2", 2)
        );
        assert_eq!(parse_witnessed_logs(&ok).unwrap().len(), 2);
        let dup = format!(
            "log {}\nlog {}\n",
            vkey("a.example/1", 1),
            vkey("a.example/1", 2)
        );
        assert!(parse_witnessed_logs(&dup).unwrap_err().contains("twice"));
        let cosigner = Cosigner::new("w.example", SigningKey::from_bytes(&[3; 32])).unwrap();
        let wrong = format!("log {}\n", cosigner.verifier().to_vkey());
        assert!(
            parse_witnessed_logs(&wrong)
                .unwrap_err()
                .contains("Ed25519")
        );
        assert!(
            parse_witnessed_logs("witness a b\n")
                .unwrap_err()
                .contains("line 1")
        );
    }

    #[test]
    fn a_policy_with_https_witnesses_or_an_unreachable_quorum_is_refused() {
        let w = Cosigner::new("w.example", SigningKey::from_bytes(&[3; 32]))
            .unwrap()
            .verifier()
            .to_vkey();
        let t = Duration::from_secs(1);
        let https = Policy::parse(&format!("witness a {w} https://w.example\nquorum a\n")).unwrap();
        assert!(Collector::new(https, t).err().unwrap().contains("http://"));
        let no_url = Policy::parse(&format!("witness a {w}\nquorum a\n")).unwrap();
        assert!(
            Collector::new(no_url, t)
                .err()
                .unwrap()
                .contains("cannot be met")
        );
        let fine = Policy::parse(&format!("witness a {w} http://127.0.0.1:1\nquorum a\n")).unwrap();
        assert!(Collector::new(fine, t).is_ok());
    }
}
