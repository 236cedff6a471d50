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
    /// 500: the record could not be made durable.
    #[error("witness store: {0}")]
    Store(String),
}

/// The witness role.
pub struct Witness {
    cosigner: Cosigner,
    logs: HashMap<String, NoteVerifier>,
    store: Arc<Store>,
    lock: Mutex<()>,
}

fn record_key(origin: &str) -> String {
    format!("witness/{}", sha256(origin.as_bytes()).to_hex())
}

/// Reads the `log <vkey> [url]` lines of a tlog-policy file (other lines
/// are not allowed here: this file only lists the logs to witness).
pub fn parse_witnessed_logs(text: &str) -> Result<Vec<NoteVerifier>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let words: Vec<&str> = raw.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        match words.as_slice() {
            [] => {}
            [w, ..] if w.starts_with('#') => {}
            ["log", vkey] | ["log", vkey, _] => {
                let v = NoteVerifier::parse(vkey).map_err(|e| format!("line {}: {e}", i + 1))?;
                if v.sig_type != ian_core::note::TYPE_ED25519 {
                    return Err(format!(
                        "line {}: a log key must be Ed25519 (type 0x01)",
                        i + 1
                    ));
                }
                out.push(v);
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
    ) -> Result<Self, String> {
        let cosigner = Cosigner::new(name, key).map_err(|e| e.to_string())?;
        Ok(Witness {
            cosigner,
            logs: logs.into_iter().map(|v| (v.name.clone(), v)).collect(),
            store,
            lock: Mutex::new(()),
        })
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
        let _guard = self.lock.lock();
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

/// The client side: asks the policy's witnesses to cosign.
pub struct Collector {
    policy: Policy,
    timeout: Duration,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    /// The size each witness last cosigned, per (witness index, origin).
    known: Mutex<HashMap<(usize, String), u64>>,
}

/// What one witness said.
enum Answer {
    Cosigned(Vec<NoteSignature>),
    Conflict(u64),
    Refused(String),
}

impl Collector {
    /// A collector for a policy (only witnesses with a URL are asked).
    pub fn new(policy: Policy, timeout: Duration) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(timeout));
        Collector {
            policy,
            timeout,
            http: HyperClient::builder(TokioExecutor::new()).build(conn),
            known: Mutex::new(HashMap::new()),
        }
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
            let body = resp
                .into_body()
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
            409 => match text.trim().parse() {
                Ok(n) => Answer::Conflict(n),
                Err(_) => Answer::Refused(format!("{url}: 409 without a size")),
            },
            s => Answer::Refused(format!("{url}: {s}: {}", text.trim())),
        }
    }

    /// One round for one checkpoint: every witness with a URL is asked (in
    /// parallel), valid cosignatures are added to `cp`. `proof(old)` gives
    /// the consistency proof from `old` to `cp`'s size.
    pub async fn round(
        &self,
        cp: &mut SignedCheckpoint,
        proof: &(dyn Fn(u64) -> Option<ConsistencyProof> + Sync),
    ) -> Vec<bool> {
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
        let asks = self
            .policy
            .witnesses
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.url.as_ref().map(|u| (i, u.clone())))
            .map(|(i, url)| {
                let old = self
                    .known
                    .lock()
                    .get(&(i, origin.clone()))
                    .copied()
                    .unwrap_or(0)
                    .min(size);
                let first = body(old);
                let body = &body;
                async move {
                    let Some(b) = first else {
                        return (i, Answer::Refused("no consistency proof".into()));
                    };
                    let mut answer = self.post(&url, b).await;
                    if let Answer::Conflict(n) = answer {
                        // The witness knows another size: once more from there.
                        answer = match (n <= size).then(|| body(n)).flatten() {
                            Some(b) => self.post(&url, b).await,
                            None => Answer::Refused(format!(
                                "{url}: witness has size {n}, beyond this checkpoint's {size}"
                            )),
                        };
                    }
                    (i, answer)
                }
            });
        let answers = futures_join_all(asks).await;
        for (i, a) in answers {
            let w = &self.policy.witnesses[i];
            match a {
                Answer::Cosigned(sigs) => {
                    for s in sigs.into_iter().filter(|s| w.key.matches(s)) {
                        match w.key.check(&cp.note.text, &s) {
                            Ok(_) => {
                                cp.note.add_signature(s);
                                self.known.lock().insert((i, origin.clone()), size);
                            }
                            Err(e) => warn!(witness = %w.name, error = %e, "invalid cosignature"),
                        }
                    }
                }
                Answer::Conflict(n) => {
                    self.known.lock().insert((i, origin.clone()), n);
                    warn!(witness = %w.name, size = n, "witness reports another size");
                }
                Answer::Refused(e) => warn!(witness = %w.name, error = %e, "witness refused"),
            }
        }
        self.policy.cosigners(cp).unwrap_or_default()
    }
}

/// Runs futures concurrently on the current task and collects their
/// outputs (a tiny `join_all`, to keep `futures` out of the tree).
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = fs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Logged once when a goal's checkpoint becomes final.
pub(crate) fn log_final(goal: &str, size: u64, root: &Hash32, cosigners: usize) {
    info!(goal = %goal, size, root = %root, cosigners, "checkpoint cosigned by the witness quorum");
}
