//! Every kind of leaf a goal's log holds.
//!
//! An accepted contribution is a [`LogEntry`]. A competition adds four
//! more kinds, each with its own domain tag so that no leaf can be read as
//! another: an evaluated submission that was rejected ([`AttemptEntry`],
//! counted against quotas), a contributor's choice of entries for the final
//! evaluation ([`SelectionEntry`]), the hidden-seed secret published after
//! the close ([`RevealEntry`]) and the result of one selected entry on the
//! hidden seeds ([`FinalEntry`]). Every kind starts with the same four
//! fields (goal id, goal hash, log index, timestamp), so a reader can place
//! any leaf before it knows its kind.

use crate::competition::{SECRET_BYTES, SeedSecret};
use crate::encoding::{DecodeError, Decoder, Encoder, Finite, domain};
use crate::entry::{LogEntry, MAX_ENTRY_BYTES, MAX_VERSION_BYTES};
use crate::goal::GoalId;
use crate::hash::Hash32;
use crate::keys::{PublicKeyBytes, SignatureBytes};
use crate::metrics::Metrics;
use crate::mmr::leaf_hash;
use ed25519_dalek::SigningKey;

/// Longest reason code an attempt or a final result records.
pub const MAX_REASON_BYTES: usize = 64;

/// Fields every record starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// The goal.
    pub goal_id: GoalId,
    /// The goal hash the record was written under.
    pub goal_hash: Hash32,
    /// Position in the goal's log.
    pub log_index: u64,
    /// Node time, ms since the Unix epoch; never below the previous leaf's.
    pub timestamp_ms: u64,
}

impl RecordHeader {
    fn encode(&self, e: &mut Encoder) {
        e.str(self.goal_id.as_str())
            .hash(&self.goal_hash)
            .u64(self.log_index)
            .u64(self.timestamp_ms);
    }

    fn decode(d: &mut Decoder<'_>) -> Result<RecordHeader, DecodeError> {
        Ok(RecordHeader {
            goal_id: GoalId::decode_from(d, "record.goal_id")?,
            goal_hash: d.hash("record.goal_hash")?,
            log_index: d.u64("record.log_index")?,
            timestamp_ms: d.u64("record.timestamp_ms")?,
        })
    }
}

/// The evaluation environment a result was produced in; a replay or a
/// mirror re-runs under the same one or does not judge at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalEnv {
    /// Agent fuel used (all seeds run).
    pub fuel_used: u64,
    /// Engine (e.g. "wasmtime 48.0.8").
    pub engine_version: String,
    /// Sandbox configuration hash.
    pub config_hash: Hash32,
    /// WIT ABI version.
    pub abi_version: String,
    /// The goal's harness component hash.
    pub harness_hash: Hash32,
}

impl EvalEnv {
    fn encode(&self, e: &mut Encoder) {
        e.u64(self.fuel_used)
            .str(&self.engine_version)
            .hash(&self.config_hash)
            .str(&self.abi_version)
            .hash(&self.harness_hash);
    }

    fn decode(d: &mut Decoder<'_>) -> Result<EvalEnv, DecodeError> {
        Ok(EvalEnv {
            fuel_used: d.u64("record.fuel_used")?,
            engine_version: d
                .str("record.engine_version", MAX_VERSION_BYTES)?
                .to_string(),
            config_hash: d.hash("record.config_hash")?,
            abi_version: d.str("record.abi_version", MAX_VERSION_BYTES)?.to_string(),
            harness_hash: d.hash("record.harness_hash")?,
        })
    }
}

/// A signed submission that reached evaluation (invariants, evaluation or
/// thresholds) and was rejected. It uses up the contribution's nonce and
/// counts against the contributor's quotas, so trying many packs costs the
/// same whether they pass or not; it never ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptEntry {
    /// Common fields.
    pub header: RecordHeader,
    /// The pack.
    pub pack_hash: Hash32,
    /// Contributor's key.
    pub contributor: PublicKeyBytes,
    /// The contribution's nonce.
    pub nonce: u64,
    /// Its proof bundle's hash.
    pub proofs_hash: Hash32,
    /// The contributor's signature (over the contribution message).
    pub signature: SignatureBytes,
    /// Pipeline step that refused: 3 invariants, 5 evaluation, 6 thresholds.
    pub step: u8,
    /// Stable reason code (e.g. `agent_trap`, `below_threshold`).
    pub reason: String,
    /// Where it was judged.
    pub env: EvalEnv,
}

/// A contributor's choice of their entries for the final evaluation. The
/// last one before the close counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionEntry {
    /// Common fields.
    pub header: RecordHeader,
    /// Who selects.
    pub contributor: PublicKeyBytes,
    /// Strictly above the contributor's previous selection nonce.
    pub nonce: u64,
    /// Log indices of the contributor's own accepted entries, strictly
    /// increasing, at most the goal's `final_selections`.
    pub selected: Vec<u64>,
    /// Over [`selection_message`].
    pub signature: SignatureBytes,
}

/// The secret behind the hidden seeds, published after the close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealEntry {
    /// Common fields.
    pub header: RecordHeader,
    /// The secret; it must match the manifest's commitment.
    pub secret: SeedSecret,
}

/// What one selected entry did on the hidden seeds.
#[derive(Debug, Clone, PartialEq)]
pub enum FinalOutcome {
    /// Evaluated and within the thresholds: ranks on the final board.
    Scored {
        /// Mean metrics over the hidden seeds.
        metrics: Metrics,
        /// The goal's score of them.
        score: Finite,
    },
    /// Failed, or missed a threshold, on the hidden seeds: listed, unranked.
    Failed {
        /// Stable reason code.
        reason: String,
    },
}

/// The result of one selected entry on the hidden seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalEntry {
    /// Common fields.
    pub header: RecordHeader,
    /// The public entry that was re-evaluated.
    pub of_index: u64,
    /// Its pack.
    pub pack_hash: Hash32,
    /// Its contributor.
    pub contributor: PublicKeyBytes,
    /// The result.
    pub outcome: FinalOutcome,
    /// Where it was judged.
    pub env: EvalEnv,
}

/// Any leaf of a goal's log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogRecord {
    /// An accepted contribution (`ian/log-entry/v1`).
    Entry(LogEntry),
    /// An evaluated, rejected submission (`ian/attempt-entry/v1`).
    Attempt(AttemptEntry),
    /// A contributor's final selection (`ian/selection-entry/v1`).
    Selection(SelectionEntry),
    /// The hidden-seed secret (`ian/reveal-entry/v1`).
    Reveal(RevealEntry),
    /// A final result (`ian/final-entry/v1`).
    Final(FinalEntry),
}

/// The message a contributor signs to select entries.
pub fn selection_message(
    goal_id: &GoalId,
    contributor: &PublicKeyBytes,
    nonce: u64,
    selected: &[u64],
) -> Vec<u8> {
    let mut e = Encoder::new(domain::SELECTION_MESSAGE);
    e.str(goal_id.as_str()).fixed(&contributor.0).u64(nonce);
    e.count(selected.len());
    for i in selected {
        e.u64(*i);
    }
    e.finish()
}

/// Signs a selection (what `ian-host select` sends).
pub fn sign_selection(
    goal_id: &GoalId,
    nonce: u64,
    selected: &[u64],
    key: &SigningKey,
) -> (PublicKeyBytes, SignatureBytes) {
    let contributor = PublicKeyBytes::of(key);
    let msg = selection_message(goal_id, &contributor, nonce, selected);
    (contributor, SignatureBytes::sign(key, &msg))
}

impl SelectionEntry {
    /// Strict Ed25519 check of the contributor's signature.
    pub fn verify_signature(&self) -> bool {
        let msg = selection_message(
            &self.header.goal_id,
            &self.contributor,
            self.nonce,
            &self.selected,
        );
        self.contributor.verify_strict(&msg, &self.signature)
    }
}

impl AttemptEntry {
    /// Strict Ed25519 check of the contribution signature it records.
    pub fn verify_contributor_signature(&self) -> bool {
        let msg = crate::contribution::contribution_message(
            &self.header.goal_id,
            &self.pack_hash,
            &self.contributor,
            self.nonce,
            &self.proofs_hash,
        );
        self.contributor.verify_strict(&msg, &self.signature)
    }
}

/// Most entries a selection may name (the largest `final_selections`).
const MAX_SELECTED: usize = crate::competition::MAX_FINAL_SELECTIONS as usize;

impl LogRecord {
    /// The common fields, whatever the kind.
    pub fn header(&self) -> RecordHeader {
        match self {
            LogRecord::Entry(e) => RecordHeader {
                goal_id: e.goal_id.clone(),
                goal_hash: e.goal_hash,
                log_index: e.log_index,
                timestamp_ms: e.timestamp_ms,
            },
            LogRecord::Attempt(a) => a.header.clone(),
            LogRecord::Selection(s) => s.header.clone(),
            LogRecord::Reveal(r) => r.header.clone(),
            LogRecord::Final(f) => f.header.clone(),
        }
    }

    /// Stable name of the kind (API, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            LogRecord::Entry(_) => "entry",
            LogRecord::Attempt(_) => "attempt",
            LogRecord::Selection(_) => "selection",
            LogRecord::Reveal(_) => "reveal",
            LogRecord::Final(_) => "final",
        }
    }

    /// Canonical bytes, under the kind's own domain tag.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        match self {
            LogRecord::Entry(e) => e.to_canonical_bytes(),
            LogRecord::Attempt(a) => {
                let mut e = Encoder::new(domain::ATTEMPT_ENTRY);
                a.header.encode(&mut e);
                e.hash(&a.pack_hash)
                    .fixed(&a.contributor.0)
                    .u64(a.nonce)
                    .hash(&a.proofs_hash)
                    .fixed(&a.signature.0)
                    .u8(a.step)
                    .str(&a.reason);
                a.env.encode(&mut e);
                e.finish()
            }
            LogRecord::Selection(s) => {
                let mut e = Encoder::new(domain::SELECTION_ENTRY);
                s.header.encode(&mut e);
                e.fixed(&s.contributor.0)
                    .u64(s.nonce)
                    .count(s.selected.len());
                for i in &s.selected {
                    e.u64(*i);
                }
                e.fixed(&s.signature.0);
                e.finish()
            }
            LogRecord::Reveal(r) => {
                let mut e = Encoder::new(domain::REVEAL_ENTRY);
                r.header.encode(&mut e);
                e.bytes(r.secret.as_bytes());
                e.finish()
            }
            LogRecord::Final(f) => {
                let mut e = Encoder::new(domain::FINAL_ENTRY);
                f.header.encode(&mut e);
                e.u64(f.of_index).hash(&f.pack_hash).fixed(&f.contributor.0);
                match &f.outcome {
                    FinalOutcome::Scored { metrics, score } => {
                        e.u8(0);
                        metrics.encode_into(&mut e);
                        e.f64(*score);
                    }
                    FinalOutcome::Failed { reason } => {
                        e.u8(1).str(reason);
                    }
                }
                f.env.encode(&mut e);
                e.finish()
            }
        }
    }

    /// The RFC 6962 leaf hash of the canonical bytes.
    pub fn leaf_hash(&self) -> Hash32 {
        leaf_hash(&self.to_canonical_bytes())
    }

    /// Reads any kind back by its domain tag, refusing anything malformed.
    pub fn from_canonical_bytes(b: &[u8]) -> Result<LogRecord, DecodeError> {
        if b.len() > MAX_ENTRY_BYTES {
            return Err(DecodeError::TooLong {
                field: "log record",
                len: b.len() as u64,
                max: MAX_ENTRY_BYTES as u64,
            });
        }
        let mut d = Decoder::bare(b);
        let tag = d.bytes("domain tag", 256)?;
        let key = |d: &mut Decoder<'_>, field: &'static str| {
            PublicKeyBytes::new(d.array(field)?).map_err(|e| DecodeError::invalid(field, e))
        };
        let r = match tag {
            t if t == domain::LOG_ENTRY.as_bytes() => {
                return LogEntry::from_canonical_bytes(b).map(LogRecord::Entry);
            }
            t if t == domain::ATTEMPT_ENTRY.as_bytes() => {
                let header = RecordHeader::decode(&mut d)?;
                let pack_hash = d.hash("attempt.pack_hash")?;
                let contributor = key(&mut d, "attempt.contributor")?;
                let nonce = d.u64("attempt.nonce")?;
                let proofs_hash = d.hash("attempt.proofs_hash")?;
                let signature = SignatureBytes(d.array("attempt.signature")?);
                let step = d.u8("attempt.step")?;
                if !matches!(step, 3 | 5 | 6) {
                    return Err(DecodeError::invalid(
                        "attempt.step",
                        format!("step {step} is not 3, 5 or 6"),
                    ));
                }
                let reason = d.str("attempt.reason", MAX_REASON_BYTES)?.to_string();
                let env = EvalEnv::decode(&mut d)?;
                LogRecord::Attempt(AttemptEntry {
                    header,
                    pack_hash,
                    contributor,
                    nonce,
                    proofs_hash,
                    signature,
                    step,
                    reason,
                    env,
                })
            }
            t if t == domain::SELECTION_ENTRY.as_bytes() => {
                let header = RecordHeader::decode(&mut d)?;
                let contributor = key(&mut d, "selection.contributor")?;
                let nonce = d.u64("selection.nonce")?;
                let n = d.count("selection.selected", MAX_SELECTED, 8)?;
                let mut selected = Vec::with_capacity(n);
                for _ in 0..n {
                    selected.push(d.u64("selection.selected")?);
                }
                let signature = SignatureBytes(d.array("selection.signature")?);
                LogRecord::Selection(SelectionEntry {
                    header,
                    contributor,
                    nonce,
                    selected,
                    signature,
                })
            }
            t if t == domain::REVEAL_ENTRY.as_bytes() => {
                let header = RecordHeader::decode(&mut d)?;
                let raw = d.bytes("reveal.secret", SECRET_BYTES)?;
                let secret: [u8; SECRET_BYTES] = raw.try_into().map_err(|_| {
                    DecodeError::invalid("reveal.secret", format!("{} bytes, not 32", raw.len()))
                })?;
                LogRecord::Reveal(RevealEntry {
                    header,
                    secret: SeedSecret::from_bytes(secret),
                })
            }
            t if t == domain::FINAL_ENTRY.as_bytes() => {
                let header = RecordHeader::decode(&mut d)?;
                let of_index = d.u64("final.of_index")?;
                let pack_hash = d.hash("final.pack_hash")?;
                let contributor = key(&mut d, "final.contributor")?;
                let outcome = match d.u8("final.outcome")? {
                    0 => {
                        let metrics = Metrics::decode_from(&mut d)?;
                        let score = d.f64("final.score")?;
                        FinalOutcome::Scored { metrics, score }
                    }
                    1 => FinalOutcome::Failed {
                        reason: d.str("final.reason", MAX_REASON_BYTES)?.to_string(),
                    },
                    o => {
                        return Err(DecodeError::invalid(
                            "final.outcome",
                            format!("unknown outcome {o}"),
                        ));
                    }
                };
                let env = EvalEnv::decode(&mut d)?;
                LogRecord::Final(FinalEntry {
                    header,
                    of_index,
                    pack_hash,
                    contributor,
                    outcome,
                    env,
                })
            }
            other => {
                return Err(DecodeError::invalid(
                    "domain tag",
                    format!(
                        "{:?} is not a log record kind",
                        String::from_utf8_lossy(other)
                    ),
                ));
            }
        };
        d.finish()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn header(i: u64) -> RecordHeader {
        RecordHeader {
            goal_id: GoalId::new("race").unwrap(),
            goal_hash: sha256(b"goal"),
            log_index: i,
            timestamp_ms: 1_700_000_000_000 + i,
        }
    }

    fn env() -> EvalEnv {
        EvalEnv {
            fuel_used: 1234,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: sha256(b"config"),
            abi_version: "ian:eval@0.1.0".into(),
            harness_hash: sha256(b"harness"),
        }
    }

    fn samples() -> Vec<LogRecord> {
        let key = SigningKey::from_bytes(&[1; 32]);
        let g = GoalId::new("race").unwrap();
        let (contributor, signature) = sign_selection(&g, 3, &[0, 4], &key);
        vec![
            LogRecord::Attempt(AttemptEntry {
                header: header(1),
                pack_hash: sha256(b"pack"),
                contributor,
                nonce: 2,
                proofs_hash: sha256(b"proofs"),
                signature: SignatureBytes([7; 64]),
                step: 5,
                reason: "agent_trap".into(),
                env: env(),
            }),
            LogRecord::Selection(SelectionEntry {
                header: header(2),
                contributor,
                nonce: 3,
                selected: vec![0, 4],
                signature,
            }),
            LogRecord::Reveal(RevealEntry {
                header: header(3),
                secret: SeedSecret::from_bytes([5; 32]),
            }),
            LogRecord::Final(FinalEntry {
                header: header(4),
                of_index: 0,
                pack_hash: sha256(b"pack"),
                contributor,
                outcome: FinalOutcome::Scored {
                    metrics: Metrics::new(
                        Finite::new(0.5).unwrap(),
                        Finite::new(0.25).unwrap(),
                        Finite::ZERO,
                    ),
                    score: Finite::new(0.375).unwrap(),
                },
                env: env(),
            }),
            LogRecord::Final(FinalEntry {
                header: header(5),
                of_index: 4,
                pack_hash: sha256(b"pack 2"),
                contributor,
                outcome: FinalOutcome::Failed {
                    reason: "agent_out_of_fuel".into(),
                },
                env: env(),
            }),
        ]
    }

    #[test]
    fn every_record_kind_reads_back_from_its_bytes() {
        for r in samples() {
            let b = r.to_canonical_bytes();
            assert_eq!(
                LogRecord::from_canonical_bytes(&b).unwrap(),
                r,
                "{}",
                r.kind()
            );
            assert_eq!(r.leaf_hash(), crate::mmr::leaf_hash(&b));
        }
    }

    #[test]
    fn truncated_or_extended_records_are_refused_without_panicking() {
        for r in samples() {
            let b = r.to_canonical_bytes();
            for n in 0..b.len() {
                assert!(LogRecord::from_canonical_bytes(&b[..n]).is_err());
            }
            let mut longer = b.clone();
            longer.push(0);
            assert!(LogRecord::from_canonical_bytes(&longer).is_err());
        }
    }

    #[test]
    fn an_unknown_kind_is_named() {
        let b = Encoder::new("ian/pack/v1").finish();
        let e = LogRecord::from_canonical_bytes(&b).unwrap_err().to_string();
        assert!(
            e.contains("ian/pack/v1") && e.contains("not a log record"),
            "{e}"
        );
    }

    #[test]
    fn a_selection_signature_covers_goal_nonce_and_every_index() {
        let LogRecord::Selection(s) = &samples()[1] else {
            unreachable!()
        };
        assert!(s.verify_signature());
        let mut other = s.clone();
        other.selected = vec![0, 5];
        assert!(!other.verify_signature());
        let mut other = s.clone();
        other.nonce = 4;
        assert!(!other.verify_signature());
        let mut other = s.clone();
        other.header.goal_id = GoalId::new("race-2").unwrap();
        assert!(!other.verify_signature());
    }
}
