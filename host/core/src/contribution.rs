//! Signed contributions.
//!
//! A contributor signs, with Ed25519, the canonical message
//! `"ian/contribution/v1" ‖ goal id ‖ pack hash ‖ contributor key ‖ nonce ‖
//! proofs hash`. The goal id stops a signature being replayed on another
//! goal; the nonce (strictly increasing per contributor and goal) stops an
//! old submission being replayed; the proofs hash stops evidence being
//! added or stripped in transit. The contributor id is the public key (hex).

use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::goal::GoalId;
use crate::hash::Hash32;
use crate::keys::{PublicKeyBytes, SignatureBytes};
use crate::pack::AgentPack;
use crate::proofs::ProofBundle;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// Longest encoded contribution envelope the decoder accepts (2 MiB: the
/// pack's 1 MiB params cap plus metadata and proofs).
pub const MAX_CONTRIBUTION_BYTES: usize = 2 * 1024 * 1024;

/// A submission: a pack for a goal, signed by its contributor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contribution {
    /// The goal this is for; part of the signed message.
    pub goal_id: GoalId,
    /// The pack.
    pub pack: AgentPack,
    /// The contributor's Ed25519 public key (= contributor id).
    pub contributor: PublicKeyBytes,
    /// Must exceed the contributor's last accepted nonce on this goal.
    pub nonce: u64,
    /// Optional evidence.
    #[serde(default)]
    pub proofs: ProofBundle,
    /// Signature over [`Contribution::message`].
    pub signature: SignatureBytes,
}

/// The canonical message a contributor signs.
pub fn contribution_message(
    goal_id: &GoalId,
    pack_hash: &Hash32,
    contributor: &PublicKeyBytes,
    nonce: u64,
    proofs_hash: &Hash32,
) -> Vec<u8> {
    let mut e = Encoder::new(domain::CONTRIBUTION_MESSAGE);
    e.str(goal_id.as_str())
        .hash(pack_hash)
        .fixed(&contributor.0)
        .u64(nonce)
        .hash(proofs_hash);
    e.finish()
}

impl Contribution {
    /// Creates and signs a contribution (Ed25519 signing is deterministic).
    pub fn sign(
        goal_id: GoalId,
        pack: AgentPack,
        proofs: ProofBundle,
        nonce: u64,
        key: &SigningKey,
    ) -> Self {
        let contributor = PublicKeyBytes::of(key);
        let msg = contribution_message(
            &goal_id,
            &pack.pack_hash(),
            &contributor,
            nonce,
            &proofs.proofs_hash(),
        );
        Contribution {
            goal_id,
            pack,
            contributor,
            nonce,
            proofs,
            signature: SignatureBytes::sign(key, &msg),
        }
    }

    /// The message the signature must cover, given the pack hash (passed in
    /// because callers usually have it already).
    pub fn message(&self, pack_hash: &Hash32) -> Vec<u8> {
        self.message_with(pack_hash, &self.proofs.proofs_hash())
    }

    /// Like [`Contribution::message`] with a precomputed proofs hash.
    pub fn message_with(&self, pack_hash: &Hash32, proofs_hash: &Hash32) -> Vec<u8> {
        contribution_message(
            &self.goal_id,
            pack_hash,
            &self.contributor,
            self.nonce,
            proofs_hash,
        )
    }

    /// Strict Ed25519 verification of the contributor's signature.
    pub fn verify_signature(&self) -> bool {
        self.verify_signature_with(&self.pack.pack_hash(), &self.proofs.proofs_hash())
    }

    /// Like [`Contribution::verify_signature`] with precomputed hashes.
    pub fn verify_signature_with(&self, pack_hash: &Hash32, proofs_hash: &Hash32) -> bool {
        self.contributor
            .verify_strict(&self.message_with(pack_hash, proofs_hash), &self.signature)
    }

    /// Canonical envelope bytes (domain `ian/contribution-envelope/v1`),
    /// for transport and storage.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::CONTRIBUTION);
        e.str(self.goal_id.as_str());
        self.pack.encode_fields(&mut e);
        e.fixed(&self.contributor.0).u64(self.nonce);
        self.proofs.encode_into(&mut e);
        e.fixed(&self.signature.0);
        e.finish()
    }

    /// Reads canonical envelope bytes (the signature is *not* checked here;
    /// that is pipeline step 2).
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() > MAX_CONTRIBUTION_BYTES {
            return Err(DecodeError::TooLong {
                field: "contribution",
                len: b.len() as u64,
                max: MAX_CONTRIBUTION_BYTES as u64,
            });
        }
        let mut d = Decoder::new(b, domain::CONTRIBUTION)?;
        let goal_id = GoalId::decode_from(&mut d, "contribution.goal_id")?;
        let pack = AgentPack::decode_fields(&mut d)?;
        let contributor = PublicKeyBytes::new(d.array("contribution.contributor")?)
            .map_err(|e| DecodeError::invalid("contribution.contributor", e))?;
        let nonce = d.u64("contribution.nonce")?;
        let proofs = ProofBundle::decode_from(&mut d)?;
        let signature = SignatureBytes(d.array("contribution.signature")?);
        d.finish()?;
        Ok(Contribution {
            goal_id,
            pack,
            contributor,
            nonce,
            proofs,
            signature,
        })
    }
}
