//! Proof bundles: optional evidence attached to a contribution, checked in
//! pipeline step 4 by a [`ProofVerifier`].
//!
//! Two real kinds ship with the core:
//!
//! * **attestation** — an Ed25519 signature, by a key the goal lists in
//!   `proofs.attesters`, over `"ian/attestation/v1" ‖ goal id ‖ pack hash`
//!   (e.g. an auditor vouching for a pack);
//! * **dataset** — a Merkle (MMR) inclusion proof that the dataset the pack
//!   was built from is one of the goal's approved datasets, whose MMR root
//!   and size the goal records in `proofs.datasets`.
//!
//! The verifier is a trait so a node can add kinds (e.g. zk receipts)
//! without touching the pipeline.

use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::goal::{GoalId, GoalManifest};
use crate::hash::Hash32;
use crate::keys::{PublicKeyBytes, SignatureBytes};
use crate::mmr::{InclusionProof, MemMmr, leaf_hash, verify_inclusion};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// Most items in one proof bundle.
pub const MAX_PROOF_ITEMS: usize = 16;

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProofItem {
    /// An attester's signature over (goal id, pack hash).
    Attestation {
        /// The attester's key; must be listed by the goal.
        attester: PublicKeyBytes,
        /// Ed25519 signature over [`attestation_message`].
        signature: SignatureBytes,
    },
    /// The pack's dataset is in the goal's approved set.
    Dataset {
        /// The dataset hash ([`dataset_hash`]).
        dataset: Hash32,
        /// Its index in the approved list.
        index: u64,
        /// Inclusion proof against the goal's dataset root.
        proof: InclusionProof,
    },
}

/// Evidence attached to a contribution (possibly none). The contributor's
/// signature covers its hash, so nobody can strip or add items in transit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProofBundle {
    /// Items, verified in order.
    pub items: Vec<ProofItem>,
}

impl ProofBundle {
    /// No evidence.
    pub fn empty() -> Self {
        ProofBundle { items: Vec::new() }
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn encode_into(&self, e: &mut Encoder) {
        e.count(self.items.len());
        for it in &self.items {
            match it {
                ProofItem::Attestation {
                    attester,
                    signature,
                } => {
                    e.u8(0).fixed(&attester.0).fixed(&signature.0);
                }
                ProofItem::Dataset {
                    dataset,
                    index,
                    proof,
                } => {
                    e.u8(1).hash(dataset).u64(*index);
                    proof.encode_into(e);
                }
            }
        }
    }

    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let n = d.count("proofs", MAX_PROOF_ITEMS, 41)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let it = match d.u8("proof.kind")? {
                0 => {
                    let k: [u8; 32] = d.array("proof.attester")?;
                    let attester = PublicKeyBytes::new(k)
                        .map_err(|e| DecodeError::invalid("proof.attester", e))?;
                    let signature = SignatureBytes(d.array("proof.signature")?);
                    ProofItem::Attestation {
                        attester,
                        signature,
                    }
                }
                1 => ProofItem::Dataset {
                    dataset: d.hash("proof.dataset")?,
                    index: d.u64("proof.index")?,
                    proof: InclusionProof::decode_from(d)?,
                },
                value => {
                    return Err(DecodeError::InvalidTag {
                        field: "proof.kind",
                        value,
                    });
                }
            };
            items.push(it);
        }
        Ok(ProofBundle { items })
    }

    /// The proofs hash: H("ian/proof-bundle/v1" ‖ items). Signed by the
    /// contributor and recorded in the log entry.
    pub fn proofs_hash(&self) -> Hash32 {
        let mut e = Encoder::new(domain::PROOF_BUNDLE);
        self.encode_into(&mut e);
        e.digest()
    }
}

/// The bytes an attester signs: `"ian/attestation/v1" ‖ goal id ‖ pack hash`.
pub fn attestation_message(goal: &GoalId, pack_hash: &Hash32) -> Vec<u8> {
    let mut e = Encoder::new(domain::ATTESTATION);
    e.str(goal.as_str()).hash(pack_hash);
    e.finish()
}

/// Produces an attestation item (for attesters' tools and tests).
pub fn attest(key: &SigningKey, goal: &GoalId, pack_hash: &Hash32) -> ProofItem {
    ProofItem::Attestation {
        attester: PublicKeyBytes::of(key),
        signature: SignatureBytes::sign(key, &attestation_message(goal, pack_hash)),
    }
}

/// The hash of a dataset listing ([`crate::dataset::DatasetListing::hash`]):
/// H("ian/dataset/v1" ‖ count ‖ (path ‖ file sha256 ‖ size)…) with entries
/// sorted by path. The same hash names a goal's mounted dataset and the
/// datasets a dataset proof refers to. Callers list the files (I/O); the
/// core fixes how the list is hashed so every node agrees.
pub fn dataset_hash(listing: &crate::dataset::DatasetListing) -> Hash32 {
    listing.hash()
}

/// Builds the approved-dataset MMR from dataset hashes (leaf content = the
/// 32 hash bytes). Goal authors put its root and size in `proofs.datasets`,
/// and hand out [`MemMmr::inclusion_proof`]s to contributors.
pub fn approved_datasets(datasets: &[Hash32]) -> MemMmr {
    let mut m = MemMmr::new_in_memory();
    for d in datasets {
        // The in-memory store cannot fail.
        let _ = m.append(&d.0);
    }
    m
}

/// Why a proof bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFailure {
    /// The goal requires proofs and the bundle lacks a kind.
    #[error("the goal requires a {kind} proof and none was given")]
    Missing { kind: &'static str },
    /// An attestation by a key the goal does not list.
    #[error("attester {0} is not listed by the goal")]
    UnknownAttester(String),
    /// An attestation whose signature does not verify.
    #[error("attestation by {0} does not verify")]
    BadAttestation(String),
    /// A dataset proof for a goal without approved datasets.
    #[error("the goal lists no approved datasets")]
    NoDatasets,
    /// A dataset proof that does not verify against the goal's root.
    #[error("dataset {dataset} is not proven to be in the approved set: {reason}")]
    BadDatasetProof { dataset: String, reason: String },
    /// A verifier-specific failure (for verifiers outside the core).
    #[error("{0}")]
    Other(String),
}

/// Pipeline step 4. Implementations must be deterministic and pure: the
/// same goal, pack hash and bundle always give the same answer.
pub trait ProofVerifier {
    /// Accepts or refuses a bundle for a pack under a goal.
    fn verify(
        &self,
        goal: &GoalManifest,
        pack_hash: &Hash32,
        bundle: &ProofBundle,
    ) -> Result<(), ProofFailure>;
}

/// The core's verifier: attestations and dataset inclusion, per the goal's
/// [`crate::goal::ProofPolicy`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardProofVerifier;

impl ProofVerifier for StandardProofVerifier {
    fn verify(
        &self,
        goal: &GoalManifest,
        pack_hash: &Hash32,
        bundle: &ProofBundle,
    ) -> Result<(), ProofFailure> {
        let policy = &goal.proofs;
        let (mut attested, mut dataset_ok) = (false, false);
        for item in &bundle.items {
            match item {
                ProofItem::Attestation {
                    attester,
                    signature,
                } => {
                    if !policy.attesters.contains(attester) {
                        return Err(ProofFailure::UnknownAttester(attester.to_hex()));
                    }
                    let msg = attestation_message(&goal.id, pack_hash);
                    if !attester.verify_strict(&msg, signature) {
                        return Err(ProofFailure::BadAttestation(attester.to_hex()));
                    }
                    attested = true;
                }
                ProofItem::Dataset {
                    dataset,
                    index,
                    proof,
                } => {
                    let root = policy.datasets.ok_or(ProofFailure::NoDatasets)?;
                    verify_inclusion(&root.root, root.size, *index, &leaf_hash(&dataset.0), proof)
                        .map_err(|e| ProofFailure::BadDatasetProof {
                            dataset: dataset.to_hex(),
                            reason: e.to_string(),
                        })?;
                    dataset_ok = true;
                }
            }
        }
        if policy.required {
            if !policy.attesters.is_empty() && !attested {
                return Err(ProofFailure::Missing {
                    kind: "attestation",
                });
            }
            if policy.datasets.is_some() && !dataset_ok {
                return Err(ProofFailure::Missing { kind: "dataset" });
            }
        }
        Ok(())
    }
}
