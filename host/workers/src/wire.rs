//! The two messages that cross the queue, in canonical bytes (the same
//! length-prefixed encoding as every other IAN structure, see
//! docs/ENCODING.md): the job a node publishes and the signed result a
//! worker answers with.
//!
//! Why canonical bytes rather than JSON: the result carries metric *bits*
//! and is signed; a node compares them with its own evaluation bit for bit
//! (`verify_sample`), so nothing may be re-serialised on the way.

use ed25519_dalek::SigningKey;
use ian_core::encoding::{DecodeError, Decoder, Encoder};
use ian_core::pipeline::{Evaluation, RawMetrics};
use ian_core::{
    AgentPack, Failure, FaultKind, GuestFault, Hash32, Inconclusive, InconclusiveCause,
    PublicKeyBytes, SignatureBytes, Verdict,
};

/// Domain tag of a job.
pub const JOB_DOMAIN: &str = "ian/work-job/v1";
/// Domain tag of a result (the signed part).
pub const RESULT_DOMAIN: &str = "ian/work-result/v1";

/// Longest text field a result may carry (fault messages, names).
const MAX_TEXT: usize = 64 * 1024;
/// Most extra metrics or seeds a result may carry.
const MAX_ITEMS: usize = 1 << 16;
/// Largest pack a job may carry (params are bounded far below this).
const MAX_PACK: usize = 16 * 1024 * 1024;

/// A job's identity: SHA-256 of goal hash ‖ pack hash. The same
/// submission always has the same id, so JetStream's de-duplication
/// (`Nats-Msg-Id`) and the result bucket's keys make a repeated publish or
/// a repeated evaluation harmless.
pub fn job_id(goal_hash: &Hash32, pack_hash: &Hash32) -> Hash32 {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(&goal_hash.0);
    b[32..].copy_from_slice(&pack_hash.0);
    ian_core::sha256(&b)
}

/// One evaluation to run: which goal, which pack. Everything else (the
/// goal's manifest and components, the agent's code) is fetched by hash
/// from the object store and checked against the hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The goal's hash (its manifest is stored under it).
    pub goal_hash: Hash32,
    /// The signed contribution's pack (code hash, params, metadata).
    pub pack: AgentPack,
}

impl Job {
    /// The job's id (see [`job_id`]).
    pub fn id(&self) -> Hash32 {
        job_id(&self.goal_hash, &self.pack.pack_hash())
    }

    /// Canonical bytes: domain ‖ goal hash ‖ bytes(pack).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(JOB_DOMAIN);
        e.hash(&self.goal_hash)
            .bytes(&self.pack.to_canonical_bytes());
        e.finish()
    }

    /// Decodes and checks a job.
    pub fn from_bytes(b: &[u8]) -> Result<Job, DecodeError> {
        let mut d = Decoder::new(b, JOB_DOMAIN)?;
        let goal_hash = d.hash("goal_hash")?;
        let pack = AgentPack::from_canonical_bytes(d.bytes("pack", MAX_PACK)?)?;
        d.finish()?;
        Ok(Job { goal_hash, pack })
    }
}

/// Where in the pipeline a worker's run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Step 2: the agent's code could not be loaded.
    Code(Failure),
    /// Step 3: an invariant refused the pack (or could not decide).
    Invariant {
        /// The invariant's name in the goal.
        name: String,
        /// Why.
        failure: Failure,
    },
    /// Step 5 ran: metrics, a guest fault, or no verdict.
    Evaluated(Verdict),
}

/// One seed's figures, as the node stores them for the entry's page.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedFigures {
    /// The seed.
    pub seed: u64,
    /// Reward bits.
    pub reward: f64,
    /// Risk bits.
    pub risk: f64,
    /// Complexity bits.
    pub complexity: f64,
    /// Extras, in harness order.
    pub extra: Vec<(String, f64)>,
    /// Agent fuel.
    pub agent_fuel: u64,
    /// Harness fuel.
    pub harness_fuel: u64,
    /// `act` calls.
    pub steps: u64,
}

/// What a worker signs: the job it ran, the environment it ran in, and
/// the outcome with every metric as its IEEE-754 bits.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkResult {
    /// The job's id.
    pub job: Hash32,
    /// The worker's public key (also the signer).
    pub worker: PublicKeyBytes,
    /// Engine version, e.g. "wasmtime 48.0.8".
    pub engine_version: String,
    /// Hash of the worker's determinism-relevant sandbox configuration.
    pub config_hash: Hash32,
    /// WIT ABI version.
    pub abi_version: String,
    /// The outcome.
    pub outcome: Outcome,
    /// Per-seed figures (empty unless the evaluation ran).
    pub seeds: Vec<SeedFigures>,
    /// Agent fuel over all seeds (0 unless the evaluation ran).
    pub fuel: u64,
    /// Wall time the worker spent, in microseconds (for operators; not
    /// part of any verdict).
    pub elapsed_us: u64,
}

/// A result with its worker's signature over [`WorkResult::to_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub struct SignedResult {
    /// The signed content.
    pub result: WorkResult,
    /// Ed25519 signature by `result.worker`.
    pub signature: SignatureBytes,
}

/// Why a result is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResultError {
    /// The bytes do not decode.
    #[error("malformed result: {0}")]
    Malformed(#[from] DecodeError),
    /// The signature does not verify under the named worker key.
    #[error("the result's signature does not verify under worker key {0}")]
    BadSignature(String),
}

fn put_f64(e: &mut Encoder, v: f64) {
    e.u64(v.to_bits());
}

fn get_f64(d: &mut Decoder<'_>, field: &'static str) -> Result<f64, DecodeError> {
    Ok(f64::from_bits(d.u64(field)?))
}

fn put_failure(e: &mut Encoder, f: &Failure) {
    match f {
        Failure::Guest(g) => {
            e.u8(0).str(g.kind.code()).str(&g.message);
        }
        Failure::Inconclusive(i) => {
            e.u8(1).str(i.cause.code()).str(&i.message);
        }
    }
}

fn fault_kind(code: &str) -> Result<FaultKind, DecodeError> {
    FaultKind::ALL
        .into_iter()
        .find(|k| k.code() == code)
        .ok_or_else(|| DecodeError::invalid("fault_kind", format!("unknown fault kind `{code}`")))
}

fn cause(code: &str) -> Result<InconclusiveCause, DecodeError> {
    [
        InconclusiveCause::WallBackstop,
        InconclusiveCause::HostBusy,
        InconclusiveCause::HostError,
    ]
    .into_iter()
    .find(|c| c.code() == code)
    .ok_or_else(|| DecodeError::invalid("cause", format!("unknown inconclusive cause `{code}`")))
}

fn get_failure(d: &mut Decoder<'_>) -> Result<Failure, DecodeError> {
    match d.u8("failure")? {
        0 => {
            let kind = fault_kind(d.str("fault_kind", 64)?)?;
            Ok(Failure::Guest(GuestFault::new(
                kind,
                d.str("message", MAX_TEXT)?,
            )))
        }
        1 => {
            let c = cause(d.str("cause", 64)?)?;
            Ok(Failure::Inconclusive(Inconclusive::new(
                c,
                d.str("message", MAX_TEXT)?,
            )))
        }
        t => Err(DecodeError::invalid("failure", format!("unknown tag {t}"))),
    }
}

fn put_extras(e: &mut Encoder, extra: &[(String, f64)]) {
    e.count(extra.len());
    for (k, v) in extra {
        e.str(k);
        put_f64(e, *v);
    }
}

fn get_extras(d: &mut Decoder<'_>) -> Result<Vec<(String, f64)>, DecodeError> {
    let n = d.count("extra", MAX_ITEMS, 12)?;
    (0..n)
        .map(|_| {
            Ok((
                d.str("extra_name", MAX_TEXT)?.to_string(),
                get_f64(d, "extra_value")?,
            ))
        })
        .collect()
}

impl WorkResult {
    /// The canonical bytes the worker signs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(RESULT_DOMAIN);
        e.hash(&self.job)
            .fixed(&self.worker.0)
            .str(&self.engine_version)
            .hash(&self.config_hash)
            .str(&self.abi_version);
        match &self.outcome {
            Outcome::Code(f) => {
                e.u8(0);
                put_failure(&mut e, f);
            }
            Outcome::Invariant { name, failure } => {
                e.u8(1).str(name);
                put_failure(&mut e, failure);
            }
            Outcome::Evaluated(v) => {
                e.u8(2);
                match v {
                    Verdict::Evaluated(ev) => {
                        e.u8(0);
                        put_f64(&mut e, ev.metrics.reward);
                        put_f64(&mut e, ev.metrics.risk);
                        put_f64(&mut e, ev.metrics.complexity);
                        put_extras(&mut e, &ev.metrics.extra);
                    }
                    Verdict::Failed(g) => {
                        e.u8(1);
                        put_failure(&mut e, &Failure::Guest(g.clone()));
                    }
                    Verdict::Inconclusive(i) => {
                        e.u8(2);
                        put_failure(&mut e, &Failure::Inconclusive(i.clone()));
                    }
                }
            }
        }
        e.count(self.seeds.len());
        for s in &self.seeds {
            e.u64(s.seed);
            put_f64(&mut e, s.reward);
            put_f64(&mut e, s.risk);
            put_f64(&mut e, s.complexity);
            put_extras(&mut e, &s.extra);
            e.u64(s.agent_fuel).u64(s.harness_fuel).u64(s.steps);
        }
        e.u64(self.fuel).u64(self.elapsed_us);
        e.finish()
    }

    fn decode(d: &mut Decoder<'_>) -> Result<WorkResult, DecodeError> {
        let job = d.hash("job")?;
        let worker = PublicKeyBytes(d.array::<32>("worker")?);
        let engine_version = d.str("engine_version", 256)?.to_string();
        let config_hash = d.hash("config_hash")?;
        let abi_version = d.str("abi_version", 256)?.to_string();
        let outcome = match d.u8("stage")? {
            0 => Outcome::Code(get_failure(d)?),
            1 => Outcome::Invariant {
                name: d.str("invariant", MAX_TEXT)?.to_string(),
                failure: get_failure(d)?,
            },
            2 => Outcome::Evaluated(match d.u8("verdict")? {
                0 => {
                    let reward = get_f64(d, "reward")?;
                    let risk = get_f64(d, "risk")?;
                    let complexity = get_f64(d, "complexity")?;
                    let extra = get_extras(d)?;
                    Verdict::Evaluated(Evaluation {
                        metrics: RawMetrics {
                            reward,
                            risk,
                            complexity,
                            extra,
                        },
                        fuel_used: 0,
                        engine_version: engine_version.clone(),
                        config_hash,
                        abi_version: abi_version.clone(),
                    })
                }
                1 | 2 => Verdict::from(get_failure(d)?),
                t => return Err(DecodeError::invalid("verdict", format!("unknown tag {t}"))),
            }),
            t => return Err(DecodeError::invalid("stage", format!("unknown tag {t}"))),
        };
        let n = d.count("seeds", MAX_ITEMS, 60)?;
        let mut seeds = Vec::with_capacity(n);
        for _ in 0..n {
            seeds.push(SeedFigures {
                seed: d.u64("seed")?,
                reward: get_f64(d, "seed_reward")?,
                risk: get_f64(d, "seed_risk")?,
                complexity: get_f64(d, "seed_complexity")?,
                extra: get_extras(d)?,
                agent_fuel: d.u64("seed_agent_fuel")?,
                harness_fuel: d.u64("seed_harness_fuel")?,
                steps: d.u64("seed_steps")?,
            });
        }
        let fuel = d.u64("fuel")?;
        let elapsed_us = d.u64("elapsed_us")?;
        let mut r = WorkResult {
            job,
            worker,
            engine_version,
            config_hash,
            abi_version,
            outcome,
            seeds,
            fuel,
            elapsed_us,
        };
        if let Outcome::Evaluated(Verdict::Evaluated(ev)) = &mut r.outcome {
            ev.fuel_used = fuel;
        }
        Ok(r)
    }

    /// Signs the result with the worker's key (which must be `worker`).
    pub fn sign(self, key: &SigningKey) -> SignedResult {
        let signature = SignatureBytes::sign(key, &self.to_bytes());
        SignedResult {
            result: self,
            signature,
        }
    }

    /// The pipeline's verdict pieces: step 2's failure, step 3's, or step
    /// 5's verdict.
    pub fn verdict(&self) -> Verdict {
        match &self.outcome {
            Outcome::Code(f) => Verdict::from(f.clone()),
            Outcome::Invariant { failure, .. } => Verdict::from(failure.clone()),
            Outcome::Evaluated(v) => v.clone(),
        }
    }
}

impl SignedResult {
    /// Wire bytes: the signed content ‖ 64-byte signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.result.to_bytes();
        b.extend_from_slice(&self.signature.0);
        b
    }

    /// Decodes a result and verifies its signature under the key it names.
    /// Whether that key is one the node trusts is the node's question.
    pub fn from_bytes(b: &[u8]) -> Result<SignedResult, ResultError> {
        if b.len() < 64 {
            return Err(ResultError::Malformed(DecodeError::invalid(
                "signature",
                "shorter than a signature",
            )));
        }
        let (body, sig) = b.split_at(b.len() - 64);
        let mut d = Decoder::new(body, RESULT_DOMAIN)?;
        let result = WorkResult::decode(&mut d)?;
        d.finish()?;
        let signature = SignatureBytes(sig.try_into().expect("64 bytes"));
        if !result.worker.verify_strict(body, &signature) {
            return Err(ResultError::BadSignature(result.worker.to_hex()));
        }
        Ok(SignedResult { result, signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            goal_hash: Hash32([0x11; 32]),
            pack: AgentPack::new(Hash32([0x22; 32]), b"a=1".to_vec(), Default::default()).unwrap(),
        }
    }

    fn result(key: &SigningKey) -> WorkResult {
        WorkResult {
            job: job().id(),
            worker: PublicKeyBytes::of(key),
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: Hash32([0x33; 32]),
            abi_version: "ian:eval@0.1.0".into(),
            outcome: Outcome::Evaluated(Verdict::Evaluated(Evaluation {
                metrics: RawMetrics {
                    reward: 0.5,
                    risk: -0.0,
                    complexity: 3.25,
                    extra: vec![("drawdown".into(), 0.125)],
                },
                fuel_used: 7,
                engine_version: "wasmtime 48.0.8".into(),
                config_hash: Hash32([0x33; 32]),
                abi_version: "ian:eval@0.1.0".into(),
            })),
            seeds: vec![SeedFigures {
                seed: 1,
                reward: 0.5,
                risk: -0.0,
                complexity: 3.25,
                extra: vec![("drawdown".into(), 0.125)],
                agent_fuel: 7,
                harness_fuel: 9,
                steps: 2,
            }],
            fuel: 7,
            elapsed_us: 1234,
        }
    }

    #[test]
    fn the_job_id_is_the_sha256_of_goal_hash_then_pack_hash() {
        let j = job();
        let mut b = vec![0x11; 32];
        b.extend_from_slice(&j.pack.pack_hash().0);
        assert_eq!(j.id(), ian_core::sha256(&b));
    }

    #[test]
    fn a_job_reads_back_from_its_bytes() {
        assert_eq!(Job::from_bytes(&job().to_bytes()).unwrap(), job());
    }

    #[test]
    fn a_signed_result_reads_back_with_every_bit_including_negative_zero() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let s = result(&key).sign(&key);
        let back = SignedResult::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), s.to_bytes());
        let Outcome::Evaluated(Verdict::Evaluated(e)) = &back.result.outcome else {
            panic!("evaluated")
        };
        assert_eq!(e.metrics.risk.to_bits(), (-0.0f64).to_bits());
        assert_eq!(e.fuel_used, 7);
    }

    #[test]
    fn a_result_changed_after_signing_is_refused() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let mut b = result(&key).sign(&key).to_bytes();
        let at = b.len() - 64 - 9; // inside the fuel field
        b[at] ^= 1;
        assert!(matches!(
            SignedResult::from_bytes(&b),
            Err(ResultError::BadSignature(_))
        ));
    }

    #[test]
    fn a_result_naming_an_unknown_fault_kind_is_malformed() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let mut r = result(&key);
        r.outcome = Outcome::Code(Failure::Guest(GuestFault::new(FaultKind::NotWasm, "x")));
        let b = r.to_bytes();
        let b = String::from_utf8_lossy(&b)
            .replace("not_wasm", "not_wasx")
            .into_bytes();
        let mut d = Decoder::new(&b, RESULT_DOMAIN).unwrap();
        assert!(WorkResult::decode(&mut d).is_err());
    }

    /// docs/ENCODING.md, "Evaluation jobs and results".
    #[test]
    fn the_documented_vectors_hold() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let j = job();
        let r = result(&key).sign(&key);
        assert_eq!(
            (
                j.id().to_hex(),
                ian_core::sha256(&j.to_bytes()).to_hex(),
                ian_core::sha256(&r.result.to_bytes()).to_hex(),
                r.signature.to_hex(),
            ),
            (
                "8025a225e0cc5d5268fff8e5dfc224431b685e28240281f7267b086dd794574d".to_string(),
                "07a47379d1d40122734fdfef5d2edd02dd0a2b3244b76d0bd4c2862a2d22faba".to_string(),
                "1dc918b54fee01c20cc106feb59b7794cd689ec7fc29e54b86cedb1fc63df55e".to_string(),
                "fab7783c9d635b15f4d24df3de082d0a81787e09f43e9742c3738f9c6d3ac00098320929bff7b5664586458219c95b697044f926415f868611c3167e9e7f0b01".to_string(),
            )
        );
    }
}
