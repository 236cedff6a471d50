//! Signed checkpoints and offline-verifiable receipts.
//!
//! In the spirit of C2SP signed notes / transparency-log checkpoints: a
//! checkpoint is a canonical body (goal, goal hash, size, root, time), a
//! short key id naming the signer, and an Ed25519 signature over the body.
//! A receipt bundles a log entry, its inclusion proof and a checkpoint, so
//! anyone holding only the node's public key can check that the entry is in
//! the log the node committed to — no network, no store.

use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::entry::{LogEntry, MAX_ENTRY_BYTES};
use crate::goal::GoalId;
use crate::hash::{Hash32, sha256};
use crate::keys::{PublicKeyBytes, SignatureBytes};
use crate::mmr::{InclusionProof, ProofError, verify_inclusion};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// A log head: "the log of `goal_id` had `size` entries with root `root`
/// at `timestamp_ms`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Goal.
    pub goal_id: GoalId,
    /// Goal manifest hash, so a checkpoint cannot be moved to a goal that
    /// reuses the id with other rules.
    pub goal_hash: Hash32,
    /// Number of entries.
    pub size: u64,
    /// MMR root at that size.
    pub root: Hash32,
    /// Node time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl Checkpoint {
    /// The signed body (domain `ian/checkpoint/v1`).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::CHECKPOINT);
        self.encode_fields(&mut e);
        e.finish()
    }

    fn encode_fields(&self, e: &mut Encoder) {
        e.str(self.goal_id.as_str())
            .hash(&self.goal_hash)
            .u64(self.size)
            .hash(&self.root)
            .u64(self.timestamp_ms);
    }

    fn decode_fields(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Checkpoint {
            goal_id: GoalId::decode_from(d, "checkpoint.goal_id")?,
            goal_hash: d.hash("checkpoint.goal_hash")?,
            size: d.u64("checkpoint.size")?,
            root: d.hash("checkpoint.root")?,
            timestamp_ms: d.u64("checkpoint.timestamp_ms")?,
        })
    }

    /// Reads a body back.
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(b, domain::CHECKPOINT)?;
        let c = Self::decode_fields(&mut d)?;
        d.finish()?;
        Ok(c)
    }
}

/// Names a node key in 8 bytes: the first 8 bytes of
/// SHA-256(`"ian/key-id/v1"` framed ‖ public key). Lets a verifier holding
/// several keys pick the right one and report "wrong key" precisely.
pub fn key_id(key: &PublicKeyBytes) -> [u8; 8] {
    let mut e = Encoder::new(domain::KEY_ID);
    e.fixed(&key.0);
    let h = sha256(e.as_slice());
    let mut id = [0u8; 8];
    id.copy_from_slice(&h.0[..8]);
    id
}

/// A checkpoint with the node's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// The body.
    pub checkpoint: Checkpoint,
    /// [`key_id`] of the signing key.
    #[serde(with = "key_id_hex")]
    pub key_id: [u8; 8],
    /// Ed25519 signature over the body's canonical bytes.
    pub signature: SignatureBytes,
}

mod key_id_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 8], D::Error> {
        let s = String::deserialize(d)?;
        crate::hash::decode_hex_array::<8>(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a signed checkpoint did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Signed by a different key than the one given.
    #[error("checkpoint was signed by key id {found}, expected {expected}")]
    WrongKey { expected: String, found: String },
    /// The signature does not verify.
    #[error("checkpoint signature does not verify")]
    BadSignature,
}

impl SignedCheckpoint {
    /// Signs a checkpoint with the node key.
    pub fn sign(checkpoint: Checkpoint, key: &SigningKey) -> Self {
        let pk = PublicKeyBytes::of(key);
        let signature = SignatureBytes::sign(key, &checkpoint.to_canonical_bytes());
        SignedCheckpoint {
            checkpoint,
            key_id: key_id(&pk),
            signature,
        }
    }

    /// Strict verification against the node's public key.
    pub fn verify(&self, node_key: &PublicKeyBytes) -> Result<(), CheckpointError> {
        let expected = key_id(node_key);
        if expected != self.key_id {
            return Err(CheckpointError::WrongKey {
                expected: hex::encode(expected),
                found: hex::encode(self.key_id),
            });
        }
        if node_key.verify_strict(&self.checkpoint.to_canonical_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(CheckpointError::BadSignature)
        }
    }

    fn encode_fields(&self, e: &mut Encoder) {
        self.checkpoint.encode_fields(e);
        e.fixed(&self.key_id).fixed(&self.signature.0);
    }

    fn decode_fields(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint::decode_fields(d)?,
            key_id: d.array("checkpoint.key_id")?,
            signature: SignatureBytes(d.array("checkpoint.signature")?),
        })
    }

    /// Canonical bytes (domain `ian/signed-checkpoint/v1`).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::SIGNED_CHECKPOINT);
        self.encode_fields(&mut e);
        e.finish()
    }

    /// Reads canonical bytes (the signature is not checked here).
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(b, domain::SIGNED_CHECKPOINT)?;
        let c = Self::decode_fields(&mut d)?;
        d.finish()?;
        Ok(c)
    }
}

/// Proof, checkable offline, that an entry is in a node's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The entry.
    pub entry: LogEntry,
    /// Its inclusion proof at the checkpoint's size.
    pub proof: InclusionProof,
    /// The node-signed checkpoint.
    pub checkpoint: SignedCheckpoint,
}

/// Why a receipt did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The checkpoint is not validly signed by the given key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// Entry and checkpoint are for different goals.
    #[error(
        "entry is for goal {entry} ({entry_hash}), checkpoint for {checkpoint} ({checkpoint_hash})"
    )]
    GoalMismatch {
        entry: String,
        entry_hash: String,
        checkpoint: String,
        checkpoint_hash: String,
    },
    /// The contributor signature recorded in the entry does not verify.
    #[error("the contributor signature in the entry does not verify")]
    ContributorSignature,
    /// The inclusion proof does not connect the entry to the root.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

impl Receipt {
    /// Checks everything with nothing but the node's public key: the
    /// checkpoint signature, that entry and checkpoint name the same goal,
    /// the contributor's signature in the entry, and the inclusion proof of
    /// the entry's leaf at its log index.
    pub fn verify(&self, node_key: &PublicKeyBytes) -> Result<(), ReceiptError> {
        self.checkpoint.verify(node_key)?;
        let cp = &self.checkpoint.checkpoint;
        let e = &self.entry;
        if e.goal_id != cp.goal_id || e.goal_hash != cp.goal_hash {
            return Err(ReceiptError::GoalMismatch {
                entry: e.goal_id.to_string(),
                entry_hash: e.goal_hash.to_hex(),
                checkpoint: cp.goal_id.to_string(),
                checkpoint_hash: cp.goal_hash.to_hex(),
            });
        }
        if !e.verify_contributor_signature() {
            return Err(ReceiptError::ContributorSignature);
        }
        verify_inclusion(&cp.root, cp.size, e.log_index, &e.leaf_hash(), &self.proof)?;
        Ok(())
    }

    /// Canonical bytes (domain `ian/receipt/v1`): the entry's canonical
    /// bytes (length-framed), the proof, the signed checkpoint.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::RECEIPT);
        e.bytes(&self.entry.to_canonical_bytes());
        self.proof.encode_into(&mut e);
        self.checkpoint.encode_fields(&mut e);
        e.finish()
    }

    /// Reads canonical bytes (nothing is verified here; call
    /// [`Receipt::verify`]).
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(b, domain::RECEIPT)?;
        let entry = LogEntry::from_canonical_bytes(d.bytes("receipt.entry", MAX_ENTRY_BYTES)?)?;
        let proof = InclusionProof::decode_from(&mut d)?;
        let checkpoint = SignedCheckpoint::decode_fields(&mut d)?;
        d.finish()?;
        Ok(Receipt {
            entry,
            proof,
            checkpoint,
        })
    }
}
