//! Log entries (the MMR leaves) and the leaderboard's view of them.

use crate::contribution::contribution_message;
use crate::encoding::{DecodeError, Decoder, Encoder, Finite, domain};
use crate::goal::GoalId;
use crate::hash::Hash32;
use crate::keys::{PublicKeyBytes, SignatureBytes};
use crate::metrics::Metrics;
use crate::mmr::leaf_hash;
use serde::{Deserialize, Serialize};

/// Longest engine/ABI version string, in bytes.
pub const MAX_VERSION_BYTES: usize = 128;
/// Longest encoded log entry the decoder accepts: 65,535 bytes, the most a
/// c2sp.org/tlog-tiles entry bundle can frame (u16 length). Real entries
/// are a few hundred bytes.
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// One accepted contribution, as recorded in the goal's log.
///
/// It carries everything needed to re-check it later: the contributor's
/// signature (with goal id, pack hash, nonce and proofs hash the signed
/// message can be rebuilt), and the exact evaluation environment (engine
/// version, sandbox config hash, ABI version, harness hash, goal hash) so a
/// re-evaluation can reproduce the metrics bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// The goal.
    pub goal_id: GoalId,
    /// Hash of the goal manifest the entry was judged under.
    pub goal_hash: Hash32,
    /// Position in the goal's log (= MMR leaf index).
    pub log_index: u64,
    /// Node time at acceptance, milliseconds since the Unix epoch (given to
    /// the pipeline by the caller; the core reads no clock).
    pub timestamp_ms: u64,
    /// The pack hash.
    pub pack_hash: Hash32,
    /// Contributor's public key (= contributor id).
    pub contributor: PublicKeyBytes,
    /// The contribution's nonce.
    pub nonce: u64,
    /// Hash of the contribution's proof bundle.
    pub proofs_hash: Hash32,
    /// The contributor's signature.
    pub signature: SignatureBytes,
    /// Evaluation result.
    pub metrics: Metrics,
    /// Ranking score under the goal's weights.
    pub score: Finite,
    /// Agent fuel used (all seeds).
    pub fuel_used: u64,
    /// Engine that evaluated (e.g. "wasmtime 48.0.8").
    pub engine_version: String,
    /// Hash of the sandbox configuration.
    pub config_hash: Hash32,
    /// WIT ABI version (e.g. "ian:eval@0.1.0").
    pub abi_version: String,
    /// The goal's harness component hash.
    pub harness_hash: Hash32,
}

impl LogEntry {
    /// Writes the canonical bytes into `e` (which must be fresh).
    fn encode(&self, e: &mut Encoder) {
        e.str(self.goal_id.as_str())
            .hash(&self.goal_hash)
            .u64(self.log_index)
            .u64(self.timestamp_ms)
            .hash(&self.pack_hash)
            .fixed(&self.contributor.0)
            .u64(self.nonce)
            .hash(&self.proofs_hash)
            .fixed(&self.signature.0);
        self.metrics.encode_into(e);
        e.f64(self.score)
            .u64(self.fuel_used)
            .str(&self.engine_version)
            .hash(&self.config_hash)
            .str(&self.abi_version)
            .hash(&self.harness_hash);
    }

    /// Canonical bytes (domain `ian/log-entry/v1`).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::LOG_ENTRY);
        self.encode(&mut e);
        e.finish()
    }

    /// Canonical bytes written into a reused buffer (hot path).
    pub fn encode_reusing(&self, buf: Vec<u8>) -> Vec<u8> {
        let mut e = Encoder::with_buffer(buf, domain::LOG_ENTRY);
        self.encode(&mut e);
        e.finish()
    }

    /// The MMR leaf hash: H(0x00 ‖ canonical bytes).
    pub fn leaf_hash(&self) -> Hash32 {
        leaf_hash(&self.to_canonical_bytes())
    }

    /// Reads canonical bytes back, refusing anything malformed.
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() > MAX_ENTRY_BYTES {
            return Err(DecodeError::TooLong {
                field: "log entry",
                len: b.len() as u64,
                max: MAX_ENTRY_BYTES as u64,
            });
        }
        let mut d = Decoder::new(b, domain::LOG_ENTRY)?;
        let goal_id = GoalId::decode_from(&mut d, "entry.goal_id")?;
        let goal_hash = d.hash("entry.goal_hash")?;
        let log_index = d.u64("entry.log_index")?;
        let timestamp_ms = d.u64("entry.timestamp_ms")?;
        let pack_hash = d.hash("entry.pack_hash")?;
        let contributor = PublicKeyBytes::new(d.array("entry.contributor")?)
            .map_err(|e| DecodeError::invalid("entry.contributor", e))?;
        let nonce = d.u64("entry.nonce")?;
        let proofs_hash = d.hash("entry.proofs_hash")?;
        let signature = SignatureBytes(d.array("entry.signature")?);
        let metrics = Metrics::decode_from(&mut d)?;
        let score = d.f64("entry.score")?;
        let fuel_used = d.u64("entry.fuel_used")?;
        let engine_version = d
            .str("entry.engine_version", MAX_VERSION_BYTES)?
            .to_string();
        let config_hash = d.hash("entry.config_hash")?;
        let abi_version = d.str("entry.abi_version", MAX_VERSION_BYTES)?.to_string();
        let harness_hash = d.hash("entry.harness_hash")?;
        d.finish()?;
        Ok(LogEntry {
            goal_id,
            goal_hash,
            log_index,
            timestamp_ms,
            pack_hash,
            contributor,
            nonce,
            proofs_hash,
            signature,
            metrics,
            score,
            fuel_used,
            engine_version,
            config_hash,
            abi_version,
            harness_hash,
        })
    }

    /// Re-checks the contributor's signature recorded in the entry.
    pub fn verify_contributor_signature(&self) -> bool {
        let msg = contribution_message(
            &self.goal_id,
            &self.pack_hash,
            &self.contributor,
            self.nonce,
            &self.proofs_hash,
        );
        self.contributor.verify_strict(&msg, &self.signature)
    }

    /// The leaderboard's view of this entry.
    pub fn meta(&self) -> ContributionMeta {
        ContributionMeta {
            log_index: self.log_index,
            pack_hash: self.pack_hash,
            contributor: self.contributor,
            score: self.score,
            metrics: self.metrics.clone(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// What the leaderboard and frontier keep per contribution: small, and
/// enough to rank and to find the full entry by log index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContributionMeta {
    /// Position in the log; earlier wins ties.
    pub log_index: u64,
    /// The pack.
    pub pack_hash: Hash32,
    /// The contributor.
    pub contributor: PublicKeyBytes,
    /// Ranking score.
    pub score: Finite,
    /// Metrics (for Pareto objectives and display).
    pub metrics: Metrics,
    /// Acceptance time.
    pub timestamp_ms: u64,
}

/// Fewest bytes an encoded [`ContributionMeta`] takes (no extra metrics),
/// so decoders can bound a count by the bytes left.
pub(crate) const META_MIN_BYTES: usize = 8 + 32 + 32 + 8 + (3 * 8 + 4) + 8;

impl ContributionMeta {
    /// Appends the nested layout (no tag): `u64 log_index, hash pack_hash,
    /// key contributor, f64 score, Metrics, u64 timestamp_ms`.
    pub(crate) fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.log_index)
            .hash(&self.pack_hash)
            .fixed(&self.contributor.0)
            .f64(self.score);
        self.metrics.encode_into(e);
        e.u64(self.timestamp_ms);
    }

    /// Reads the layout written by [`ContributionMeta::encode_into`].
    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let log_index = d.u64("meta.log_index")?;
        let pack_hash = d.hash("meta.pack_hash")?;
        let contributor = PublicKeyBytes::new(d.array("meta.contributor")?)
            .map_err(|e| DecodeError::invalid("meta.contributor", e))?;
        let score = d.f64("meta.score")?;
        let metrics = Metrics::decode_from(d)?;
        let timestamp_ms = d.u64("meta.timestamp_ms")?;
        Ok(ContributionMeta {
            log_index,
            pack_hash,
            contributor,
            score,
            metrics,
            timestamp_ms,
        })
    }
}
