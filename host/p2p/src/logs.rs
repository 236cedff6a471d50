//! What a node believes about the logs it hears of: each origin's key, its
//! newest checkpoint, which peers serve it, and which logs forked.
//!
//! Architecture Invariant: a checkpoint is believed (kept, forwarded,
//! handed to the node) only once it verifies under its origin's key, and an
//! origin's key is learned only from its owner: the libp2p key of the peer
//! that signed the gossip message, or the peer answering `Logs` about its
//! own log, or a key the operator pinned. A forwarding peer cannot
//! introduce a key.

use std::collections::{BTreeMap, BTreeSet};

use ian_core::checkpoint::SignedCheckpoint;
use ian_core::keys::PublicKeyBytes;
use ian_core::note::{NoteVerifier, TYPE_ED25519};
use libp2p::PeerId;

use crate::protocol::{GOALS_TOPIC, MAX_ANNOUNCEMENT, log_topic};

/// The Ed25519 public key inside a peer id (IAN peers use Ed25519 keys,
/// whose peer ids inline the key).
pub fn peer_key(peer: &PeerId) -> Option<[u8; 32]> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let pk = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    Some(pk.try_into_ed25519().ok()?.to_bytes())
}

/// The verifier key of `origin` signed by `key`.
pub fn origin_verifier(origin: &str, key: [u8; 32]) -> Option<NoteVerifier> {
    NoteVerifier::new(origin, TYPE_ED25519, PublicKeyBytes(key)).ok()
}

/// What became of an announcement.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Valid and new: forwarded, and handed to the node.
    Newer(SignedCheckpoint),
    /// Valid, and of a size already known with another root: both are
    /// signed by the log's key, so this is a fork. Forwarded (everyone
    /// should learn of it) and handed to the node as evidence.
    Fork {
        /// The checkpoint believed so far.
        known: SignedCheckpoint,
        /// The one just heard.
        heard: SignedCheckpoint,
    },
    /// Valid but nothing new (a duplicate, an older size, a forked log).
    Ignore(String),
    /// Invalid: not forwarded, and the sender is scored down.
    Reject(String),
}

/// One log as known here.
#[derive(Debug, Clone)]
pub struct LogInfo {
    /// The log's key.
    pub key: [u8; 32],
    /// The newest checkpoint heard.
    pub checkpoint: SignedCheckpoint,
    /// Peers that serve the log: its owner, and peers whose `Logs` answer
    /// named it.
    pub holders: BTreeSet<PeerId>,
    /// Whether the log forked (then it is no longer followed).
    pub forked: bool,
}

/// Every log heard of.
#[derive(Debug, Default)]
pub struct Logs {
    /// By origin.
    pub by_origin: BTreeMap<String, LogInfo>,
    /// Keys the operator pinned (from the node's witnessed logs).
    pub pinned: BTreeMap<String, [u8; 32]>,
}

impl Logs {
    /// The key `origin` is known under, if any.
    pub fn key_of(&self, origin: &str) -> Option<[u8; 32]> {
        self.pinned
            .get(origin)
            .copied()
            .or_else(|| self.by_origin.get(origin).map(|l| l.key))
    }

    /// Judges a checkpoint note heard on `topic` (None: from a `Logs`
    /// answer), claimed by `claimant` (the gossip message's signer, or the
    /// peer answering), served by `holder` (who can be asked for the log's
    /// data). Updates what is believed.
    pub fn hear(
        &mut self,
        topic: Option<&str>,
        data: &[u8],
        claimant: &PeerId,
        holder: Option<PeerId>,
    ) -> Verdict {
        if data.len() > MAX_ANNOUNCEMENT {
            return Verdict::Reject(format!(
                "{} bytes, over the {MAX_ANNOUNCEMENT}-byte announcement limit",
                data.len()
            ));
        }
        let cp = match SignedCheckpoint::parse(data) {
            Ok(cp) => cp,
            Err(e) => return Verdict::Reject(format!("not a signed checkpoint: {e}")),
        };
        let origin = cp.checkpoint.origin.clone();
        if let Some(t) = topic
            && t != GOALS_TOPIC
            && t != log_topic(&origin)
        {
            return Verdict::Reject(format!("a checkpoint of {origin} on topic {t}"));
        }
        let key = match (self.key_of(&origin), peer_key(claimant)) {
            (Some(k), _) => k,
            (None, Some(k)) => k,
            (None, None) => {
                return Verdict::Reject(format!("{claimant} has no Ed25519 key"));
            }
        };
        // Over gossip, only the log's own key may announce it.
        if topic.is_some() && peer_key(claimant) != Some(key) {
            return Verdict::Reject(format!(
                "a checkpoint of {origin} published by {claimant}, which is not the log's key"
            ));
        }
        let Some(v) = origin_verifier(&origin, key) else {
            return Verdict::Reject(format!("origin {origin:?} is not a valid key name"));
        };
        if let Err(e) = cp.verify(&v) {
            return Verdict::Reject(format!("checkpoint of {origin}: {e}"));
        }
        let Some(entry) = self.by_origin.get_mut(&origin) else {
            self.by_origin.insert(
                origin,
                LogInfo {
                    key,
                    checkpoint: cp.clone(),
                    holders: holder.into_iter().collect(),
                    forked: false,
                },
            );
            return Verdict::Newer(cp);
        };
        if let Some(h) = holder {
            entry.holders.insert(h);
        }
        if entry.forked {
            return Verdict::Ignore(format!("{origin} forked; not followed"));
        }
        let known = &entry.checkpoint;
        let (ks, kr) = (known.checkpoint.size, known.checkpoint.root);
        let (s, r) = (cp.checkpoint.size, cp.checkpoint.root);
        if s == ks && r != kr {
            let known = known.clone();
            entry.forked = true;
            return Verdict::Fork { known, heard: cp };
        }
        if s < ks {
            return Verdict::Ignore(format!("{origin} size {s} is older than {ks}"));
        }
        // The same tree again: news only with more cosignatures.
        if s == ks && cp.note.signatures.len() <= known.note.signatures.len() {
            return Verdict::Ignore(format!("{origin} size {s} already known"));
        }
        entry.checkpoint = cp.clone();
        Verdict::Newer(cp)
    }

    /// Marks a log forked (from stored evidence at start-up).
    pub fn mark_forked(&mut self, origin: &str) {
        if let Some(l) = self.by_origin.get_mut(origin) {
            l.forked = true;
        }
    }
}
