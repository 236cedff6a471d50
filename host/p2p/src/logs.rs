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

/// Most logs believed at once.
pub const MAX_LOGS: usize = 10_000;
/// Most logs of one key believed at once.
pub const MAX_LOGS_PER_KEY: usize = 1_024;

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
    ///
    /// Only faults every node sees alike are `Reject`ed (and so scored
    /// down): an oversized or unparsable note, a note on another log's
    /// topic, a gossiped note its own publisher did not sign. A note that
    /// disagrees with what this node believes about the log's key is
    /// `Ignore`d: a forwarder whose view differs is not punished for it.
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
        let own = peer_key(claimant);
        let known = self.key_of(&origin);
        let verifies =
            |k: [u8; 32]| origin_verifier(&origin, k).is_some_and(|v| cp.verify(&v).is_ok());
        let key = if topic.is_some() {
            // Over gossip the publisher signs the message: the note must be
            // signed by that same key.
            let Some(k) = own.filter(|k| verifies(*k)) else {
                return Verdict::Reject(format!(
                    "a checkpoint of {origin} not signed by its publisher {claimant}"
                ));
            };
            if known.is_some_and(|kn| kn != k) {
                return Verdict::Ignore(format!(
                    "{claimant} announces {origin}, which this node knows under another key"
                ));
            }
            k
        } else {
            // A `Logs` answer: under the key already known, else the
            // answering peer's own (it speaks for its own logs only).
            let Some(k) = known.or(own) else {
                return Verdict::Ignore(format!("{claimant} has no Ed25519 key"));
            };
            if !verifies(k) {
                return Verdict::Ignore(format!(
                    "{claimant} named {origin} with a note that does not verify under its key"
                ));
            }
            k
        };
        let from_owner = own == Some(key);
        let fresh = |cp: SignedCheckpoint| LogInfo {
            key,
            checkpoint: cp,
            holders: holder.into_iter().collect(),
            forked: false,
        };
        let Some(entry) = self.by_origin.get_mut(&origin) else {
            if self.by_origin.len() >= MAX_LOGS {
                return Verdict::Ignore(format!("{MAX_LOGS} logs known already"));
            }
            if self.by_origin.values().filter(|l| l.key == key).count() >= MAX_LOGS_PER_KEY {
                return Verdict::Ignore(format!(
                    "{MAX_LOGS_PER_KEY} logs of one key known already"
                ));
            }
            self.by_origin.insert(origin, fresh(cp.clone()));
            return Verdict::Newer(cp);
        };
        if entry.key != key {
            // Believed under another key before the operator pinned this
            // one: what was believed is dropped, not called a fork.
            *entry = fresh(cp.clone());
            return Verdict::Newer(cp);
        }
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
        // The same tree again: news only with more cosignatures, and only
        // from the log's own node (cosignature lines are not checked here,
        // so nobody else may swap them).
        if s == ks && (!from_owner || cp.note.signatures.len() <= known.note.signatures.len()) {
            return Verdict::Ignore(format!("{origin} size {s} already known"));
        }
        entry.checkpoint = cp.clone();
        Verdict::Newer(cp)
    }

    /// Pins `origin` to `key`; a log believed under another key is
    /// forgotten.
    pub fn pin(&mut self, origin: &str, key: [u8; 32]) {
        self.pinned.insert(origin.to_string(), key);
        if self.by_origin.get(origin).is_some_and(|l| l.key != key) {
            self.by_origin.remove(origin);
        }
    }

    /// Marks a log forked (from stored evidence at start-up).
    pub fn mark_forked(&mut self, origin: &str) {
        if let Some(l) = self.by_origin.get_mut(origin) {
            l.forked = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use ian_core::checkpoint::Checkpoint;
    use ian_core::note::NoteSigner;
    use ian_core::sha256;

    use super::*;

    const ORIGIN: &str = "a.example/g";

    fn key(seed: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
    }

    fn peer(seed: u8) -> PeerId {
        let mut s = [seed; 32];
        libp2p::identity::Keypair::ed25519_from_bytes(&mut s)
            .unwrap()
            .public()
            .to_peer_id()
    }

    fn signed(seed: u8, size: u64, root: &[u8]) -> SignedCheckpoint {
        SignedCheckpoint::sign(
            Checkpoint {
                origin: ORIGIN.into(),
                size,
                root: sha256(root),
            },
            &NoteSigner::new(ORIGIN, key(seed)).unwrap(),
        )
    }

    fn hear(logs: &mut Logs, cp: &SignedCheckpoint, by: u8) -> Verdict {
        let topic = log_topic(ORIGIN);
        logs.hear(
            Some(&topic),
            cp.to_text().as_bytes(),
            &peer(by),
            Some(peer(by)),
        )
    }

    #[test]
    fn a_peer_id_carries_the_ed25519_key_that_signs_its_logs() {
        assert_eq!(peer_key(&peer(1)), Some(key(1).verifying_key().to_bytes()));
    }

    #[test]
    fn the_first_checkpoint_of_a_log_binds_its_owners_key() {
        let mut logs = Logs::default();
        assert!(matches!(
            hear(&mut logs, &signed(1, 3, b"r3"), 1),
            Verdict::Newer(_)
        ));
        assert_eq!(logs.key_of(ORIGIN), Some(key(1).verifying_key().to_bytes()));
    }

    #[test]
    fn another_key_announcing_a_known_log_is_ignored_not_punished() {
        let mut logs = Logs::default();
        hear(&mut logs, &signed(1, 3, b"r3"), 1);
        let v = hear(&mut logs, &signed(2, 9, b"r9"), 2);
        assert!(
            matches!(v, Verdict::Ignore(ref m) if m.contains("another key")),
            "{v:?}"
        );
        assert_eq!(logs.by_origin[ORIGIN].checkpoint.checkpoint.size, 3);
    }

    #[test]
    fn a_pinned_key_wins_over_the_first_claimant() {
        let mut logs = Logs::default();
        assert!(matches!(
            hear(&mut logs, &signed(2, 7, b"squat"), 2),
            Verdict::Newer(_)
        ));
        logs.pin(ORIGIN, key(1).verifying_key().to_bytes());
        assert!(matches!(
            hear(&mut logs, &signed(2, 8, b"r8"), 2),
            Verdict::Ignore(_)
        ));
        // The squatter's size with another root: not a fork, the real log.
        assert!(matches!(
            hear(&mut logs, &signed(1, 7, b"r7"), 1),
            Verdict::Newer(_)
        ));
        assert!(!logs.by_origin[ORIGIN].forked);
    }

    #[test]
    fn a_gossiped_checkpoint_not_signed_by_its_publisher_is_rejected() {
        let mut logs = Logs::default();
        let cp = signed(1, 3, b"r3");
        let topic = log_topic(ORIGIN);
        let v = logs.hear(
            Some(&topic),
            cp.to_text().as_bytes(),
            &peer(2),
            Some(peer(2)),
        );
        assert!(matches!(v, Verdict::Reject(_)), "{v:?}");
    }

    #[test]
    fn only_the_logs_own_node_can_add_cosignatures_to_a_known_tree() {
        let mut logs = Logs::default();
        let cp = signed(1, 5, b"r5");
        hear(&mut logs, &cp, 1);
        let mut cosigned = cp.clone();
        let w = ian_core::note::Cosigner::new("w.example", key(3)).unwrap();
        cosigned.note.add_signature(w.cosign(&cp.note.text, 1));
        let v = logs.hear(None, cosigned.to_text().as_bytes(), &peer(2), Some(peer(2)));
        assert!(matches!(v, Verdict::Ignore(_)), "{v:?}");
        assert_eq!(logs.by_origin[ORIGIN].checkpoint.note.signatures.len(), 1);
    }

    #[test]
    fn a_logs_answer_may_carry_another_owners_checkpoint_once_its_key_is_known() {
        let mut logs = Logs::default();
        hear(&mut logs, &signed(1, 3, b"r3"), 1);
        let cp = signed(1, 4, b"r4");
        let v = logs.hear(None, cp.to_text().as_bytes(), &peer(2), Some(peer(2)));
        assert!(matches!(v, Verdict::Newer(_)), "{v:?}");
        assert!(logs.by_origin[ORIGIN].holders.contains(&peer(2)));
    }

    #[test]
    fn two_roots_for_one_size_are_a_fork_and_the_log_is_then_ignored() {
        let mut logs = Logs::default();
        hear(&mut logs, &signed(1, 5, b"one"), 1);
        let v = hear(&mut logs, &signed(1, 5, b"two"), 1);
        assert!(matches!(v, Verdict::Fork { .. }), "{v:?}");
        assert!(logs.by_origin[ORIGIN].forked);
        assert!(matches!(
            hear(&mut logs, &signed(1, 6, b"six"), 1),
            Verdict::Ignore(_)
        ));
    }

    #[test]
    fn older_and_repeated_checkpoints_are_ignored_and_more_cosignatures_are_news() {
        let mut logs = Logs::default();
        let cp = signed(1, 5, b"r5");
        hear(&mut logs, &cp, 1);
        assert!(matches!(
            hear(&mut logs, &signed(1, 4, b"r4"), 1),
            Verdict::Ignore(_)
        ));
        assert!(matches!(hear(&mut logs, &cp, 1), Verdict::Ignore(_)));
        let mut cosigned = cp.clone();
        let w = ian_core::note::Cosigner::new("w.example", key(3)).unwrap();
        cosigned.note.add_signature(w.cosign(&cp.note.text, 1));
        assert!(matches!(hear(&mut logs, &cosigned, 1), Verdict::Newer(_)));
    }

    #[test]
    fn malformed_oversized_and_misplaced_announcements_are_rejected() {
        let mut logs = Logs::default();
        let p = peer(1);
        let topic = log_topic(ORIGIN);
        assert!(matches!(
            logs.hear(Some(&topic), b"hello", &p, None),
            Verdict::Reject(_)
        ));
        let big = vec![b'a'; MAX_ANNOUNCEMENT + 1];
        assert!(matches!(
            logs.hear(Some(&topic), &big, &p, None),
            Verdict::Reject(_)
        ));
        let cp = signed(1, 1, b"r1");
        let other = log_topic("b.example/g");
        let v = logs.hear(Some(&other), cp.to_text().as_bytes(), &p, None);
        assert!(
            matches!(v, Verdict::Reject(ref m) if m.contains("on topic")),
            "{v:?}"
        );
        assert!(logs.by_origin.is_empty());
    }
}
