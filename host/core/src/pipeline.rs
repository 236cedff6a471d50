//! The contribution pipeline: nine steps, in this order, each a check or
//! update over one goal's state, run in two phases around the evaluation.
//!
//! **Admit** (read-only, [`admit`] / [`GoalState::admit`]):
//! 1. **dedup** — a pack already in the log is refused;
//! 2. **structure** — goal id, sizes, nonce (replay), contributor signature,
//!    and whether the evaluator can load the code at all;
//! 3. **invariants** — the goal's invariant checks, first violation refuses;
//! 4. **proofs** — the proof bundle under the goal's policy.
//!
//! **Evaluate** (outside any lock, [`evaluate`]):
//! 5. **evaluation** — the sandboxed harness run, a typed [`Verdict`].
//!
//! **Commit** (under the goal's write lock, [`GoalState::commit`]):
//! 6. **thresholds** — finite metrics, goal thresholds, score, objectives;
//! 7. **log append** — the entry becomes the next MMR leaf;
//! 8. **dedup update** — pack hash and nonce are recorded;
//! 9. **leaderboard** — top-K and (for Pareto goals) the frontier.
//!
//! Admission reads the log only through [`LogIndex`], so a node can run the
//! costly steps (code load, invariants, evaluation) without holding the
//! goal's lock; commit re-checks what may have changed meanwhile (dedup and
//! the nonce), so the result is as if the nine steps ran back to back.
//! Steps 1–6 only read the state; a refusal changes nothing. Steps 7–9
//! cannot fail. So a contribution is either wholly accepted or leaves no
//! trace, and the state is a pure function of the accepted entries — which
//! is what [`GoalState::replay`] relies on.
//!
//! A host that cannot decide (wall backstop, exhausted pool, internal
//! error) yields [`Refusal::Inconclusive`]: not a rejection, nothing
//! recorded.

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::competition::{PhaseRefusal, UtcTime, utc_day};
use crate::contribution::Contribution;
use crate::dedup::Dedup;
use crate::encoding::Finite;
use crate::entry::{LogEntry, MAX_VERSION_BYTES};
use crate::goal::{GoalId, GoalManifest, RankingKind, ScoreOverflow, ThresholdMiss};
use crate::hash::Hash32;
use crate::keys::PublicKeyBytes;
use crate::leaderboard::{FrontierChange, Leaderboard, LeaderboardChange, ParetoFrontier};
use crate::metrics::{Metrics, MetricsError};
use crate::mmr::{InclusionProof, MemMmr, MmrError, leaf_hash};
use crate::note::NoteSigner;
use crate::pack::AgentPack;
use crate::proofs::{MAX_PROOF_ITEMS, ProofFailure, ProofVerifier};
pub use crate::verdict::{
    Failure, FaultKind, GuestFault, Inconclusive, InconclusiveCause, Verdict,
};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

mod finals;
mod snapshot;
pub use finals::{Finalist, RevealRefusal, judge_final};
pub use snapshot::SnapshotError;

/// Metrics as an evaluator produced them: plain `f64`s, not yet checked.
/// The pipeline refuses NaN/±inf (step 6), so evaluators need not.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMetrics {
    /// Reward.
    pub reward: f64,
    /// Risk.
    pub risk: f64,
    /// Complexity.
    pub complexity: f64,
    /// Extras, in harness order.
    pub extra: Vec<(String, f64)>,
}

/// A successful evaluation and the environment that produced it (recorded
/// in the log entry so that anyone can reproduce it).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Metrics (mean over the goal's seeds, in seed order).
    pub metrics: RawMetrics,
    /// Agent fuel used over all seeds.
    pub fuel_used: u64,
    /// Engine version, e.g. "wasmtime 48.0.8".
    pub engine_version: String,
    /// Hash of the sandbox configuration.
    pub config_hash: Hash32,
    /// WIT ABI version, e.g. "ian:eval@0.1.0".
    pub abi_version: String,
}

/// An invariant that did not pass, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantFailure {
    /// The invariant's name in the goal.
    pub invariant: String,
    /// The guest's fault (recorded) or the host's failure to decide.
    pub failure: Failure,
}

/// Steps 2 (code) and 5: loads and runs a pack's code. The sandbox crate
/// does not depend on the core; the node adapts it to this trait.
pub trait Evaluator {
    /// Step 2 (structure validation): whether the pack's code is something
    /// this evaluator can run at all. It is asked before any invariant, so a
    /// malformed component is refused as malformed rather than blamed on the
    /// first invariant that tried to probe it. The default accepts: an
    /// evaluator that loads no code has nothing to refuse here.
    fn validate_code(
        &self,
        _goal: &GoalManifest,
        _pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), Failure> {
        Ok(())
    }

    /// Step 5: evaluates `pack` (whose component is found by
    /// `pack.code_hash()`).
    fn evaluate(&self, goal: &GoalManifest, pack: &AgentPack, pack_hash: &Hash32) -> Verdict;
}

/// Step 3: runs the goal's invariants against a pack, in goal order,
/// stopping at the first that does not pass.
pub trait InvariantChecker {
    /// Accepts or refuses the pack.
    fn check(
        &self,
        goal: &GoalManifest,
        pack: &AgentPack,
        pack_hash: &Hash32,
    ) -> Result<(), InvariantFailure>;
}

/// An invariant checker for goals that list no invariants: it accepts only
/// when the goal indeed has none, so it cannot silently skip real checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInvariants;

impl InvariantChecker for NoInvariants {
    fn check(
        &self,
        goal: &GoalManifest,
        _pack: &AgentPack,
        _pack_hash: &Hash32,
    ) -> Result<(), InvariantFailure> {
        match goal.invariants.first() {
            None => Ok(()),
            Some(inv) => Err(InvariantFailure {
                invariant: inv.name.clone(),
                failure: Failure::Inconclusive(Inconclusive::new(
                    InconclusiveCause::HostError,
                    "no invariant checker is configured for a goal with invariants",
                )),
            }),
        }
    }
}

/// What admission needs to know of the log: whether a pack is already in it
/// and a contributor's last accepted nonce. [`GoalState`] implements it;
/// a node implements it over its lock so that admission holds no lock
/// while it runs invariants.
pub trait LogIndex {
    /// Where a pack already is in the log.
    fn lookup_pack(&self, pack_hash: &Hash32) -> Option<u64>;
    /// A contributor's window of accepted nonces.
    fn nonce_window(&self, contributor: &PublicKeyBytes) -> Option<NonceWindow>;
}

/// How far below a contributor's highest accepted nonce a new one may be.
/// A contributor may have this many submissions in flight at once and see
/// them committed in any order; every nonce is still used at most once.
pub const NONCE_WINDOW: u64 = 64;

/// The nonces a contributor has used, as the highest one plus a bitmap of
/// the [`NONCE_WINDOW`] below it: replay protection that allows parallel
/// submissions (which may commit out of order) without keeping every nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceWindow {
    /// Highest accepted nonce.
    pub max: u64,
    /// Bit `i` set: nonce `max - 1 - i` was accepted.
    pub seen: u64,
}

impl NonceWindow {
    /// The window after a contributor's first accepted nonce.
    pub fn first(nonce: u64) -> NonceWindow {
        NonceWindow {
            max: nonce,
            seen: 0,
        }
    }

    /// Whether `nonce` is new: above the highest, or within the window
    /// below it and not yet used.
    pub fn admits(&self, nonce: u64) -> bool {
        if nonce > self.max {
            return true;
        }
        let d = self.max - nonce;
        (1..=NONCE_WINDOW).contains(&d) && self.seen & (1u64 << (d - 1)) == 0
    }

    /// Records an admitted `nonce`.
    pub fn record(&mut self, nonce: u64) {
        if nonce > self.max {
            let shift = nonce - self.max;
            self.seen = match shift {
                s if s > NONCE_WINDOW => 0,
                NONCE_WINDOW => 1u64 << 63,
                s => (self.seen << s) | (1u64 << (s - 1)),
            };
            self.max = nonce;
        } else if nonce < self.max {
            let d = self.max - nonce;
            if d <= NONCE_WINDOW {
                self.seen |= 1u64 << (d - 1);
            }
        }
    }
}

/// The pipeline step a rejection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 1.
    Dedup,
    /// 2.
    Structure,
    /// 3.
    Invariants,
    /// 4.
    Proofs,
    /// 5.
    Evaluation,
    /// 6.
    Thresholds,
}

impl Step {
    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Step::Dedup => "dedup",
            Step::Structure => "structure",
            Step::Invariants => "invariants",
            Step::Proofs => "proofs",
            Step::Evaluation => "evaluation",
            Step::Thresholds => "thresholds",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a contribution was refused. Each variant has a stable snake_case
/// [`Rejection::code`] and a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// Step 1: the pack is already in the log.
    #[error("pack {pack_hash} is already in the log at index {existing_index}")]
    Duplicate {
        /// The pack.
        pack_hash: Hash32,
        /// Where it already is.
        existing_index: u64,
    },
    /// Step 2: signed for a different goal.
    #[error("contribution is for goal {got}, not {expected}")]
    WrongGoal {
        /// This goal.
        expected: GoalId,
        /// The contribution's goal.
        got: GoalId,
    },
    /// Step 2: a field exceeds the goal's limit.
    #[error("{field} is {len} long, limit is {max}")]
    TooLarge {
        /// Which field.
        field: &'static str,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Step 2: the nonce was already used, or is more than
    /// [`NONCE_WINDOW`] below the contributor's highest accepted one.
    #[error(
        "nonce {nonce} was already used or is more than 64 below the highest accepted nonce {last_accepted} of this contributor (replayed submission)"
    )]
    ReplayedSubmission {
        /// The contribution's nonce.
        nonce: u64,
        /// The contributor's last accepted nonce on this goal.
        last_accepted: u64,
    },
    /// Step 2: the contributor's signature does not verify.
    #[error("contributor signature does not verify")]
    BadSignature,
    /// Step 2: the pack's code cannot be run (not wasm, wrong world,
    /// forbidden import, too large).
    #[error("agent code refused: {0}")]
    InvalidCode(GuestFault),
    /// Step 3.
    #[error("{}", invariant_text(invariant, fault))]
    InvariantViolated {
        /// Invariant name.
        invariant: String,
        /// What it found (or how it failed on this pack).
        fault: GuestFault,
    },
    /// Step 4.
    #[error("proof check failed: {0}")]
    ProofFailed(ProofFailure),
    /// Step 5.
    #[error("{}", evaluation_text(.0))]
    EvaluationFailed(GuestFault),
    /// Step 5: the evaluator's report is malformed (e.g. an over-long
    /// engine version string).
    #[error("evaluation report is invalid: {0}")]
    InvalidEvaluation(String),
    /// Step 6: NaN/±inf or malformed extras.
    #[error("{0}")]
    InvalidMetrics(MetricsError),
    /// Step 6: a threshold was missed.
    #[error("below threshold: {0}")]
    BelowThreshold(ThresholdMiss),
    /// Step 6: the score overflowed.
    #[error("{0}")]
    NonFiniteScore(ScoreOverflow),
    /// Step 6: a Pareto objective names a metric the evaluation lacks.
    #[error("metric {0:?} required by a ranking objective is missing")]
    MissingMetric(String),
    /// Step 2: the entry's time is outside every phase of the goal.
    #[error("{0}")]
    OutsidePhase(PhaseRefusal),
    /// Step 2: the contributor used up a quota of the current phase.
    #[error("{}", quota_text(.0))]
    QuotaExceeded(QuotaExceeded),
}

/// Which quota a submission ran into, and when it frees up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// `max_per_day` or `max_total`.
    pub quota: &'static str,
    /// The phase whose quota it is.
    pub phase: String,
    /// The limit.
    pub limit: u32,
    /// When a submission fits again: the next 00:00 UTC for a daily quota
    /// (unless the phase closes first), `None` for the phase's total.
    pub resets_at: Option<UtcTime>,
}

fn quota_text(q: &QuotaExceeded) -> String {
    let when = match q.resets_at {
        Some(t) => format!("it resets at {t}"),
        None => "it does not reset in this phase".to_string(),
    };
    format!(
        "quota {} of phase {} is used up ({} evaluated submissions); {when}",
        q.quota, q.phase, q.limit
    )
}

/// Blames the right party: an invariant that merely probed a failing agent
/// did not refuse anything, the agent failed.
fn invariant_text(invariant: &str, fault: &GuestFault) -> String {
    match fault.kind {
        FaultKind::AgentInitFailed => {
            format!("your agent's init failed while invariant {invariant} probed it: {fault}")
        }
        k if k.is_agent_fault() => {
            format!("your agent failed while invariant {invariant} probed it: {fault}")
        }
        _ => format!("invariant {invariant} refused the pack: {fault}"),
    }
}

/// As [`invariant_text`], for the harness's runs.
fn evaluation_text(fault: &GuestFault) -> String {
    match fault.kind {
        FaultKind::AgentInitFailed => format!("your agent's init failed: {fault}"),
        k if k.is_agent_fault() => format!("your agent failed during evaluation: {fault}"),
        _ => format!("evaluation failed: {fault}"),
    }
}

impl Rejection {
    /// Stable snake_case code of the pipeline's rule (API, logs, metrics).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Duplicate { .. } => "duplicate",
            Rejection::WrongGoal { .. } => "wrong_goal",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::ReplayedSubmission { .. } => "replayed_submission",
            Rejection::BadSignature => "bad_signature",
            Rejection::InvalidCode(_) => "invalid_code",
            Rejection::InvariantViolated { .. } => "invariant_violated",
            Rejection::ProofFailed(_) => "proof_failed",
            Rejection::EvaluationFailed(_) => "evaluation_failed",
            Rejection::InvalidEvaluation(_) => "invalid_evaluation",
            Rejection::InvalidMetrics(e) => e.code(),
            Rejection::BelowThreshold(_) => "below_threshold",
            Rejection::NonFiniteScore(_) => "non_finite_score",
            Rejection::MissingMetric(_) => "missing_metric",
            Rejection::OutsidePhase(p) => p.code(),
            Rejection::QuotaExceeded(_) => "quota_exceeded",
        }
    }

    /// The guest's fault kind, when the rejection carries one (code,
    /// invariant and evaluation failures).
    pub fn fault_kind(&self) -> Option<FaultKind> {
        match self {
            Rejection::InvariantViolated { fault, .. }
            | Rejection::InvalidCode(fault)
            | Rejection::EvaluationFailed(fault) => Some(fault.kind),
            _ => None,
        }
    }

    /// The most specific stable code: the fault kind when there is one,
    /// otherwise [`Rejection::code`]. This is what contributors see.
    pub fn reason_code(&self) -> &'static str {
        self.fault_kind()
            .map_or_else(|| self.code(), FaultKind::code)
    }

    /// The step that refused.
    pub fn step(&self) -> Step {
        match self {
            Rejection::Duplicate { .. } => Step::Dedup,
            Rejection::WrongGoal { .. }
            | Rejection::TooLarge { .. }
            | Rejection::ReplayedSubmission { .. }
            | Rejection::BadSignature
            | Rejection::InvalidCode(_)
            | Rejection::OutsidePhase(_)
            | Rejection::QuotaExceeded(_) => Step::Structure,
            Rejection::InvariantViolated { .. } => Step::Invariants,
            Rejection::ProofFailed(_) => Step::Proofs,
            Rejection::EvaluationFailed(_) | Rejection::InvalidEvaluation(_) => Step::Evaluation,
            Rejection::InvalidMetrics(_)
            | Rejection::BelowThreshold(_)
            | Rejection::NonFiniteScore(_)
            | Rejection::MissingMetric(_) => Step::Thresholds,
        }
    }

    /// A serialisable summary for APIs: code, step, fault kind, message.
    pub fn report(&self) -> RejectionReport {
        RejectionReport {
            code: self.code(),
            step: self.step(),
            detail: self.fault_kind(),
            message: self.to_string(),
        }
    }
}

/// Why [`GoalState::admit`] or [`GoalState::commit`] did not accept: a
/// rejection of the pack, or no verdict at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The pack is refused; the reason is recorded and shown.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The host could not decide; nothing is recorded and the contributor
    /// may retry.
    #[error(transparent)]
    Inconclusive(#[from] Inconclusive),
}

impl Refusal {
    /// The rejection, if this is one.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Refusal::Rejected(r) => Some(r),
            Refusal::Inconclusive(_) => None,
        }
    }

    /// The rejection; panics on an inconclusive outcome. For tests and
    /// callers whose evaluator cannot be inconclusive.
    #[track_caller]
    pub fn unwrap_rejected(self) -> Rejection {
        match self {
            Refusal::Rejected(r) => r,
            Refusal::Inconclusive(i) => panic!("expected a rejection, got {i}"),
        }
    }
}

/// Memory held by a [`GoalState`], in bytes, per structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryReport {
    /// MMR node hashes (32 bytes per node, ~2 nodes per entry).
    pub mmr_nodes: usize,
    /// Dedup Bloom filter bits.
    pub dedup_bloom: usize,
    /// Dedup exact index (pack hash -> log index) slots.
    pub dedup_index: usize,
    /// Per-contributor last nonces.
    pub nonces: usize,
    /// Leaderboard entries.
    pub leaderboard: usize,
    /// Pareto frontier entries.
    pub frontier: usize,
}

impl MemoryReport {
    /// Sum of all parts.
    pub fn total(&self) -> usize {
        self.mmr_nodes
            + self.dedup_bloom
            + self.dedup_index
            + self.nonces
            + self.leaderboard
            + self.frontier
    }
}

/// JSON-friendly form of a [`Rejection`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionReport {
    /// [`Rejection::code`].
    pub code: &'static str,
    /// [`Rejection::step`].
    pub step: Step,
    /// [`Rejection::fault_kind`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<FaultKind>,
    /// Human-readable message.
    pub message: String,
}

/// What acceptance produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The new log entry (the caller persists it).
    pub entry: LogEntry,
    /// Its MMR leaf hash.
    pub leaf_hash: Hash32,
    /// Effect on the top-K board.
    pub leaderboard: LeaderboardChange,
    /// Effect on the Pareto frontier (Pareto goals only).
    pub frontier: Option<FrontierChange>,
}

/// A contribution whose signature has been checked. Signature checks are
/// pure and independent, so a node can run them on many threads and feed
/// the (sequential) state machine with these.
#[derive(Debug, Clone)]
pub struct VerifiedContribution {
    contribution: Contribution,
    hashes: Hashes,
}

/// Hashes computed once per contribution.
#[derive(Debug, Clone, Copy)]
struct Hashes {
    pack: Hash32,
    proofs: Hash32,
}

impl Hashes {
    fn of(c: &Contribution) -> Self {
        Hashes {
            pack: c.pack.pack_hash(),
            proofs: c.proofs.proofs_hash(),
        }
    }
}

impl VerifiedContribution {
    /// Computes the pack hash and checks the contributor's signature.
    pub fn verify(contribution: Contribution) -> Result<Self, Rejection> {
        let hashes = Hashes::of(&contribution);
        if !contribution.verify_signature_with(&hashes.pack, &hashes.proofs) {
            return Err(Rejection::BadSignature);
        }
        Ok(VerifiedContribution {
            contribution,
            hashes,
        })
    }

    /// The contribution.
    pub fn contribution(&self) -> &Contribution {
        &self.contribution
    }

    /// Its pack hash.
    pub fn pack_hash(&self) -> Hash32 {
        self.hashes.pack
    }
}

/// A contribution that passed steps 1–4 against some state of its goal.
/// Only [`admit`] makes one, so [`GoalState::commit`] knows the structure,
/// invariant and proof checks ran.
#[derive(Debug, Clone)]
pub struct Admitted {
    verified: VerifiedContribution,
    goal_hash: Hash32,
}

impl Admitted {
    /// The contribution.
    pub fn contribution(&self) -> &Contribution {
        &self.verified.contribution
    }

    /// Its pack hash.
    pub fn pack_hash(&self) -> Hash32 {
        self.verified.hashes.pack
    }

    /// The pack.
    pub fn pack(&self) -> &AgentPack {
        &self.verified.contribution.pack
    }
}

/// Steps 1–4 for a contribution whose signature was checked: dedup, goal,
/// sizes, nonce, code, invariants, proofs. Reads the log only through
/// `log`; changes nothing.
pub fn admit(
    manifest: &GoalManifest,
    log: &dyn LogIndex,
    v: VerifiedContribution,
    evaluator: &dyn Evaluator,
    invariants: &dyn InvariantChecker,
    proofs: &dyn ProofVerifier,
) -> Result<Admitted, Refusal> {
    let c = &v.contribution;
    let pack_hash = v.hashes.pack;
    // 1. dedup
    check_fresh(log, c, &pack_hash)?;
    // 2. structure validation (signature already checked)
    structure(manifest, c)?;
    evaluator
        .validate_code(manifest, &c.pack, &pack_hash)
        .map_err(|f| match f {
            Failure::Guest(g) => Refusal::Rejected(Rejection::InvalidCode(g)),
            Failure::Inconclusive(i) => Refusal::Inconclusive(i),
        })?;
    // 3. invariants
    invariants
        .check(manifest, &c.pack, &pack_hash)
        .map_err(|f| match f.failure {
            Failure::Guest(fault) => Refusal::Rejected(Rejection::InvariantViolated {
                invariant: f.invariant,
                fault,
            }),
            Failure::Inconclusive(i) => Refusal::Inconclusive(i),
        })?;
    // 4. proofs
    proofs
        .verify(manifest, &pack_hash, &c.proofs)
        .map_err(Rejection::ProofFailed)?;
    Ok(Admitted {
        goal_hash: manifest.goal_hash(),
        verified: v,
    })
}

/// Step 5: the evaluation of an admitted contribution. Holds no state, so
/// it runs outside any lock; the verdict goes to [`GoalState::commit`].
pub fn evaluate(manifest: &GoalManifest, a: &Admitted, evaluator: &dyn Evaluator) -> Verdict {
    evaluator.evaluate(manifest, a.pack(), &a.pack_hash())
}

/// Step 6 on finite metrics: thresholds, score, objectives present.
pub fn score_of(manifest: &GoalManifest, m: &Metrics) -> Result<Finite, Rejection> {
    manifest
        .thresholds
        .check(m)
        .map_err(Rejection::BelowThreshold)?;
    let score = manifest
        .ranking
        .score(m)
        .map_err(Rejection::NonFiniteScore)?;
    for o in &manifest.ranking.objectives {
        if m.get(&o.metric).is_none() {
            return Err(Rejection::MissingMetric(o.metric.clone()));
        }
    }
    Ok(score)
}

/// The evaluation fields an entry records, after step 6.
struct Judged {
    metrics: Metrics,
    score: Finite,
    fuel_used: u64,
    engine_version: String,
    config_hash: Hash32,
    abi_version: String,
}

/// Step 6 over an evaluation: version strings within bounds, finite
/// metrics, thresholds, score. What [`GoalState::commit`] records and
/// [`rejudge`] compares.
fn judge_evaluation(manifest: &GoalManifest, ev: Evaluation) -> Result<Judged, Rejection> {
    for (what, s) in [
        ("engine version", &ev.engine_version),
        ("ABI version", &ev.abi_version),
    ] {
        if s.len() > MAX_VERSION_BYTES {
            return Err(Rejection::InvalidEvaluation(format!(
                "{what} is {} bytes, limit is {MAX_VERSION_BYTES}",
                s.len()
            )));
        }
    }
    let Evaluation {
        metrics: raw,
        fuel_used,
        engine_version,
        config_hash,
        abi_version,
    } = ev;
    let metrics = Metrics::from_raw(raw.reward, raw.risk, raw.complexity, raw.extra)
        .map_err(Rejection::InvalidMetrics)?;
    let score = score_of(manifest, &metrics)?;
    Ok(Judged {
        metrics,
        score,
        fuel_used,
        engine_version,
        config_hash,
        abi_version,
    })
}

/// Step 6 alone: why an evaluation would be rejected, or `None` when it
/// would be accepted. What a mirror checks an attempt's reason against.
pub fn evaluation_rejection(manifest: &GoalManifest, ev: Evaluation) -> Option<Rejection> {
    judge_evaluation(manifest, ev).err()
}

/// A recorded field that a re-evaluation did not reproduce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Mismatch {
    /// The entry field (`reward`, `extra.sharpe`, `fuel_used`, ...).
    pub field: String,
    /// What the log holds.
    pub recorded: String,
    /// What the re-evaluation gave.
    pub replayed: String,
}

fn float_text(x: f64) -> String {
    format!("{x:?} (bits {:016x})", x.to_bits())
}

/// Re-judges a logged entry from a fresh verdict of its pack, with the same
/// step 6 that [`GoalState::commit`] runs, and lists every recorded field
/// the re-evaluation does not reproduce bit for bit: goal hash, harness
/// hash, ABI version, engine version, config hash, fuel, each metric and
/// the score. An empty list means the entry is reproduced exactly. A verdict
/// that would not have been accepted is returned as the refusal it is.
pub fn rejudge(
    manifest: &GoalManifest,
    entry: &LogEntry,
    verdict: Verdict,
) -> Result<Vec<Mismatch>, Refusal> {
    let ev = match verdict {
        Verdict::Evaluated(ev) => ev,
        Verdict::Failed(f) => return Err(Rejection::EvaluationFailed(f).into()),
        Verdict::Inconclusive(i) => return Err(Refusal::Inconclusive(i)),
    };
    let j = judge_evaluation(manifest, ev)?;
    let mut out = Vec::new();
    let mut diff = |field: &str, recorded: String, replayed: String| {
        if recorded != replayed {
            out.push(Mismatch {
                field: field.to_string(),
                recorded,
                replayed,
            });
        }
    };
    diff(
        "goal_hash",
        entry.goal_hash.to_hex(),
        manifest.goal_hash().to_hex(),
    );
    diff(
        "harness_hash",
        entry.harness_hash.to_hex(),
        manifest.harness.component.to_hex(),
    );
    diff(
        "abi_version",
        entry.abi_version.clone(),
        j.abi_version.clone(),
    );
    diff(
        "engine_version",
        entry.engine_version.clone(),
        j.engine_version.clone(),
    );
    diff(
        "config_hash",
        entry.config_hash.to_hex(),
        j.config_hash.to_hex(),
    );
    diff(
        "fuel_used",
        entry.fuel_used.to_string(),
        j.fuel_used.to_string(),
    );
    let (r, p) = (&entry.metrics, &j.metrics);
    for (name, a, b) in [
        ("reward", r.reward, p.reward),
        ("risk", r.risk, p.risk),
        ("complexity", r.complexity, p.complexity),
    ] {
        diff(name, float_text(a.get()), float_text(b.get()));
    }
    let names = |m: &Metrics| m.extra.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if names(r) != names(p) {
        diff("extra", names(r).join(","), names(p).join(","));
    } else {
        for ((n, a), (_, b)) in r.extra.iter().zip(&p.extra) {
            diff(
                &format!("extra.{n}"),
                float_text(a.get()),
                float_text(b.get()),
            );
        }
    }
    diff(
        "score",
        float_text(entry.score.get()),
        float_text(j.score.get()),
    );
    Ok(out)
}

/// Step 1 and the nonce part of step 2: the checks that depend on the log,
/// run at admission and again at commit.
fn check_fresh(log: &dyn LogIndex, c: &Contribution, pack_hash: &Hash32) -> Result<(), Rejection> {
    if let Some(existing_index) = log.lookup_pack(pack_hash) {
        return Err(Rejection::Duplicate {
            pack_hash: *pack_hash,
            existing_index,
        });
    }
    if let Some(w) = log.nonce_window(&c.contributor)
        && !w.admits(c.nonce)
    {
        return Err(Rejection::ReplayedSubmission {
            nonce: c.nonce,
            last_accepted: w.max,
        });
    }
    Ok(())
}

/// Step 2 without the signature and the code: goal and sizes.
fn structure(manifest: &GoalManifest, c: &Contribution) -> Result<(), Rejection> {
    if c.goal_id != manifest.id {
        return Err(Rejection::WrongGoal {
            expected: manifest.id.clone(),
            got: c.goal_id.clone(),
        });
    }
    let max = manifest.limits.max_params_bytes;
    if c.pack.params().len() as u64 > max {
        return Err(Rejection::TooLarge {
            field: "params",
            len: c.pack.params().len() as u64,
            max,
        });
    }
    if c.proofs.items.len() > MAX_PROOF_ITEMS {
        return Err(Rejection::TooLarge {
            field: "proofs",
            len: c.proofs.items.len() as u64,
            max: MAX_PROOF_ITEMS as u64,
        });
    }
    Ok(())
}

/// Why a log could not be replayed: the entries are not a log this goal
/// could have produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    /// Entry for another goal (id or manifest hash).
    #[error("entry {index} is for goal {goal_id} ({goal_hash}), not this goal")]
    WrongGoal {
        /// Position in the replayed sequence.
        index: u64,
        /// The entry's goal id.
        goal_id: String,
        /// The entry's goal hash.
        goal_hash: Hash32,
    },
    /// Log index out of sequence.
    #[error("entry at position {expected} claims log index {found}")]
    OutOfOrder {
        /// Expected index.
        expected: u64,
        /// Recorded index.
        found: u64,
    },
    /// Same pack twice.
    #[error("entry {index} repeats pack {pack_hash} first logged at {first}")]
    Duplicate {
        /// The entry.
        index: u64,
        /// The pack.
        pack_hash: Hash32,
        /// Where it first appeared.
        first: u64,
    },
    /// Nonce not increasing for a contributor.
    #[error("entry {index} has nonce {nonce}, not above {last} for its contributor")]
    NonceNotIncreasing {
        /// The entry.
        index: u64,
        /// Its nonce.
        nonce: u64,
        /// The contributor's previous nonce.
        last: u64,
    },
    /// Score is not what the goal's ranking gives for the metrics.
    #[error("entry {index} records score {recorded}, ranking gives {computed}")]
    ScoreMismatch {
        /// The entry.
        index: u64,
        /// Recorded.
        recorded: f64,
        /// Recomputed.
        computed: f64,
    },
    /// The entry's time is before its predecessor's.
    #[error(
        "entry {index} is timestamped {timestamp_ms} ms, before the previous entry's {previous_ms} ms"
    )]
    TimeWentBackwards {
        /// The entry.
        index: u64,
        /// Its timestamp.
        timestamp_ms: u64,
        /// The previous entry's.
        previous_ms: u64,
    },
    /// The entry should have been rejected at step 2 or 6.
    #[error("entry {index} should not have been accepted: {reason}")]
    NotAcceptable {
        /// The entry.
        index: u64,
        /// Why.
        reason: String,
    },
}

/// Everything a node keeps in memory for one goal: the MMR node hashes, the
/// dedup structures, the per-contributor nonces, the leaderboard and the
/// frontier. Entry bodies are *not* kept: the caller persists
/// [`Accepted::entry`].
#[derive(Debug, Clone)]
pub struct GoalState {
    manifest: GoalManifest,
    goal_hash: Hash32,
    mmr: MemMmr,
    dedup: Dedup,
    nonces: HashMap<PublicKeyBytes, NonceWindow>,
    leaderboard: Leaderboard,
    frontier: Option<ParetoFrontier>,
    /// The last entry's timestamp: the next one is never earlier.
    last_timestamp_ms: u64,
    /// Per contributor, what the current phase's quotas count (only for
    /// goals with phases).
    usage: HashMap<PublicKeyBytes, Usage>,
    /// Selections, the reveal and the final board (goals with hidden
    /// seeds only).
    finals: Option<Box<finals::Finals>>,
    scratch: Vec<u8>,
}

/// A contributor's submissions counted against the quotas. Timestamps
/// never go backwards, so only the latest phase and day need counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Index of the phase of the contributor's last entry.
    pub(crate) phase: u32,
    /// Entries in that phase.
    pub(crate) phase_total: u32,
    /// UTC day of the last entry.
    pub(crate) day: u64,
    /// Entries on that day in that phase.
    pub(crate) day_count: u32,
}

impl PartialEq for GoalState {
    /// Two states are equal when they would answer every query alike.
    fn eq(&self, o: &Self) -> bool {
        self.goal_hash == o.goal_hash
            && self.mmr.store() == o.mmr.store()
            && self.dedup == o.dedup
            && self.nonces == o.nonces
            && self.leaderboard == o.leaderboard
            && self.frontier == o.frontier
            && self.last_timestamp_ms == o.last_timestamp_ms
            && self.usage == o.usage
            && self.finals == o.finals
    }
}

impl fmt::Display for GoalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "goal {} ({} entries, {} on the leaderboard)",
            self.manifest.id,
            self.mmr.size(),
            self.leaderboard.len()
        )
    }
}

impl LogIndex for GoalState {
    fn lookup_pack(&self, pack_hash: &Hash32) -> Option<u64> {
        self.dedup.lookup(pack_hash)
    }
    fn nonce_window(&self, contributor: &PublicKeyBytes) -> Option<NonceWindow> {
        self.nonces.get(contributor).copied()
    }
}

impl GoalState {
    /// An empty goal.
    pub fn new(manifest: GoalManifest) -> Self {
        let goal_hash = manifest.goal_hash();
        let capacity = manifest.leaderboard.capacity as usize;
        let per_contributor = manifest
            .competition
            .as_ref()
            .is_some_and(|c| c.options.board == crate::competition::BoardRows::PerContributor);
        let board = || {
            if per_contributor {
                Leaderboard::per_contributor(capacity)
            } else {
                Leaderboard::new(capacity)
            }
        };
        let leaderboard = board();
        let finals = manifest
            .competition
            .as_ref()
            .and_then(|c| c.options.hidden_seeds)
            .map(|_| Box::new(finals::Finals::new(board())));
        let frontier = match manifest.ranking.kind {
            RankingKind::Pareto => Some(ParetoFrontier::new(
                manifest.ranking.objectives.clone(),
                manifest.leaderboard.frontier_capacity as usize,
            )),
            RankingKind::Scalar => None,
        };
        GoalState {
            manifest,
            goal_hash,
            mmr: MemMmr::new_in_memory(),
            dedup: Dedup::new(),
            nonces: HashMap::new(),
            leaderboard,
            frontier,
            last_timestamp_ms: 0,
            usage: HashMap::new(),
            finals,
            scratch: Vec::with_capacity(512),
        }
    }

    /// The goal.
    pub fn manifest(&self) -> &GoalManifest {
        &self.manifest
    }

    /// The goal hash.
    pub fn goal_hash(&self) -> Hash32 {
        self.goal_hash
    }

    /// Number of log entries.
    pub fn size(&self) -> u64 {
        self.mmr.size()
    }

    /// The time the next entry will carry if it is committed at `now_ms`:
    /// never earlier than the last entry's, so a log's timestamps never go
    /// backwards even when the node's clock does.
    pub fn entry_time(&self, now_ms: u64) -> u64 {
        now_ms.max(self.last_timestamp_ms)
    }

    /// The last entry's timestamp (0 for an empty log).
    pub fn last_timestamp_ms(&self) -> u64 {
        self.last_timestamp_ms
    }

    /// Step 2's time rules for `contributor` submitting at entry time
    /// `t_ms`: a phase is open, and the contributor has quota left in it.
    /// The node asks before evaluating (with its clock) and commit asks
    /// again with the entry's own time, which is what a replay checks.
    pub fn check_open(&self, contributor: &PublicKeyBytes, t_ms: u64) -> Result<(), Rejection> {
        let Some(c) = &self.manifest.competition else {
            return Ok(());
        };
        let Some(phase) = c.phase_at(t_ms).map_err(Rejection::OutsidePhase)? else {
            return Ok(());
        };
        let index = c
            .phases
            .iter()
            .position(|p| p.name == phase.name)
            .unwrap_or(0) as u32;
        let (total, today) = match self.usage.get(contributor) {
            Some(u) if u.phase == index => (
                u.phase_total,
                if u.day == utc_day(t_ms) {
                    u.day_count
                } else {
                    0
                },
            ),
            _ => (0, 0),
        };
        let exceeded = |quota, limit, resets_at| {
            Err(Rejection::QuotaExceeded(QuotaExceeded {
                quota,
                phase: phase.name.clone(),
                limit,
                resets_at,
            }))
        };
        if let Some(max) = phase.max_total
            && total >= max
        {
            return exceeded("max_total", max, None);
        }
        if let Some(max) = phase.max_per_day
            && today >= max
        {
            let midnight = (utc_day(t_ms) + 1) * crate::competition::DAY_MS;
            let resets = (midnight < phase.closes_at.0).then_some(UtcTime(midnight));
            return exceeded("max_per_day", max, resets);
        }
        Ok(())
    }

    /// Uses up a contributor's nonce.
    fn record_nonce(&mut self, contributor: PublicKeyBytes, nonce: u64) {
        self.nonces
            .entry(contributor)
            .and_modify(|w| w.record(nonce))
            .or_insert_with(|| NonceWindow::first(nonce));
    }

    /// Counts an entry at `t_ms` against its contributor's quotas.
    fn count_usage(&mut self, contributor: PublicKeyBytes, t_ms: u64) {
        let Some(c) = &self.manifest.competition else {
            return;
        };
        let Ok(Some(phase)) = c.phase_at(t_ms) else {
            return;
        };
        let index = c
            .phases
            .iter()
            .position(|p| p.name == phase.name)
            .unwrap_or(0) as u32;
        let day = utc_day(t_ms);
        let u = self.usage.entry(contributor).or_insert(Usage {
            phase: index,
            phase_total: 0,
            day,
            day_count: 0,
        });
        if u.phase != index {
            *u = Usage {
                phase: index,
                phase_total: 0,
                day,
                day_count: 0,
            };
        }
        if u.day != day {
            u.day = day;
            u.day_count = 0;
        }
        u.phase_total = u.phase_total.saturating_add(1);
        u.day_count = u.day_count.saturating_add(1);
    }

    /// Current MMR root.
    pub fn root(&self) -> Hash32 {
        // The in-memory store holds every node it counts; it cannot fail.
        self.mmr.root().unwrap_or_default()
    }

    /// The log's MMR (for proofs and historical roots).
    pub fn mmr(&self) -> &MemMmr {
        &self.mmr
    }

    /// Inclusion proof of `index` at the current size.
    pub fn inclusion_proof(&self, index: u64) -> Result<InclusionProof, MmrError> {
        self.mmr.inclusion_proof(index, self.mmr.size())
    }

    /// The top-K board.
    pub fn leaderboard(&self) -> &Leaderboard {
        &self.leaderboard
    }

    /// The Pareto frontier (Pareto goals only).
    pub fn frontier(&self) -> Option<&ParetoFrontier> {
        self.frontier.as_ref()
    }

    /// Where a pack already is in the log.
    pub fn lookup_pack(&self, pack_hash: &Hash32) -> Option<u64> {
        self.dedup.lookup(pack_hash)
    }

    /// A contributor's last accepted nonce.
    pub fn last_nonce(&self, contributor: &PublicKeyBytes) -> Option<u64> {
        self.nonces.get(contributor).map(|w| w.max)
    }

    /// The current log head under the log's origin, for signing.
    pub fn checkpoint(&self, origin: &str) -> Checkpoint {
        Checkpoint {
            origin: origin.to_string(),
            size: self.size(),
            root: self.root(),
        }
    }

    /// The current log head signed by the log; the signer's key name is
    /// the origin (tlog-checkpoint).
    pub fn signed_checkpoint(&self, log: &NoteSigner) -> SignedCheckpoint {
        SignedCheckpoint::sign(self.checkpoint(log.name()), log)
    }

    /// Approximate bytes of memory held, by structure. Entry bodies are
    /// not held, so this grows by ~32 bytes of MMR nodes ×2 plus one dedup
    /// slot per entry.
    pub fn memory_report(&self) -> MemoryReport {
        let meta = std::mem::size_of::<crate::entry::ContributionMeta>();
        MemoryReport {
            mmr_nodes: self.mmr.node_bytes(),
            dedup_bloom: self.dedup.bloom().byte_size(),
            dedup_index: self.dedup.byte_size() - self.dedup.bloom().byte_size(),
            nonces: self.nonces.capacity() * (32 + 16 + 1),
            leaderboard: self.leaderboard.capacity() * meta,
            frontier: self
                .frontier
                .as_ref()
                .map_or(0, |f| std::mem::size_of_val(f.members())),
        }
    }

    /// Steps 1–4 against this state (see [`admit`]).
    pub fn admit(
        &self,
        v: VerifiedContribution,
        evaluator: &dyn Evaluator,
        invariants: &dyn InvariantChecker,
        proofs: &dyn ProofVerifier,
    ) -> Result<Admitted, Refusal> {
        admit(&self.manifest, self, v, evaluator, invariants, proofs)
    }

    /// Steps 6–9: turns an admitted contribution and its verdict into the
    /// next log entry. Dedup and the nonce are checked again, since the log
    /// may have grown since admission; a failed or inconclusive verdict, a
    /// missed threshold or a stale admission changes nothing.
    pub fn commit(
        &mut self,
        a: Admitted,
        verdict: Verdict,
        now_ms: u64,
    ) -> Result<Accepted, Refusal> {
        let c = &a.verified.contribution;
        let pack_hash = a.verified.hashes.pack;
        if a.goal_hash != self.goal_hash {
            // Admitted for another goal: the same refusal step 2 gives.
            return Err(Rejection::WrongGoal {
                expected: self.manifest.id.clone(),
                got: c.goal_id.clone(),
            }
            .into());
        }
        check_fresh(self, c, &pack_hash)?;
        let timestamp_ms = self.entry_time(now_ms);
        self.check_open(&c.contributor, timestamp_ms)?;
        let ev = match verdict {
            Verdict::Evaluated(ev) => ev,
            Verdict::Failed(f) => return Err(Rejection::EvaluationFailed(f).into()),
            Verdict::Inconclusive(i) => return Err(Refusal::Inconclusive(i)),
        };
        // 6. thresholds (and score)
        let Judged {
            metrics,
            score,
            fuel_used,
            engine_version,
            config_hash,
            abi_version,
        } = judge_evaluation(&self.manifest, ev)?;
        // 7. log append
        let entry = LogEntry {
            goal_id: self.manifest.id.clone(),
            goal_hash: self.goal_hash,
            log_index: self.mmr.size(),
            timestamp_ms,
            pack_hash,
            contributor: c.contributor,
            nonce: c.nonce,
            proofs_hash: a.verified.hashes.proofs,
            signature: c.signature,
            metrics,
            score,
            fuel_used,
            engine_version,
            config_hash,
            abi_version,
            harness_hash: self.manifest.harness.component,
        };
        let leaf = self.append(&entry);
        // 8. dedup update, 9. leaderboard
        let (leaderboard, frontier) = self.record(&entry);
        Ok(Accepted {
            entry,
            leaf_hash: leaf,
            leaderboard,
            frontier,
        })
    }

    /// All nine steps back to back, including the signature check: admit,
    /// evaluate, commit. A duplicate is refused as a duplicate even when
    /// its signature is forged, as step 1 comes first.
    pub fn process(
        &mut self,
        c: &Contribution,
        evaluator: &dyn Evaluator,
        invariants: &dyn InvariantChecker,
        proofs: &dyn ProofVerifier,
        now_ms: u64,
    ) -> Result<Accepted, Refusal> {
        let hashes = Hashes::of(c);
        check_fresh(self, c, &hashes.pack)?;
        structure(&self.manifest, c)?;
        if !c.verify_signature_with(&hashes.pack, &hashes.proofs) {
            return Err(Rejection::BadSignature.into());
        }
        let v = VerifiedContribution {
            contribution: c.clone(),
            hashes,
        };
        self.process_verified(&v, evaluator, invariants, proofs, now_ms)
    }

    /// All nine steps for a contribution whose signature was already
    /// checked.
    pub fn process_verified(
        &mut self,
        v: &VerifiedContribution,
        evaluator: &dyn Evaluator,
        invariants: &dyn InvariantChecker,
        proofs: &dyn ProofVerifier,
        now_ms: u64,
    ) -> Result<Accepted, Refusal> {
        let a = self.admit(v.clone(), evaluator, invariants, proofs)?;
        let verdict = evaluate(&self.manifest, &a, evaluator);
        self.commit(a, verdict, now_ms)
    }
    /// Step 6 on finite metrics (see [`score_of`]).
    fn judge(&self, m: &Metrics) -> Result<Finite, Rejection> {
        score_of(&self.manifest, m)
    }

    /// Step 7.
    fn append(&mut self, entry: &LogEntry) -> Hash32 {
        let buf = std::mem::take(&mut self.scratch);
        let bytes = entry.encode_reusing(buf);
        let leaf = leaf_hash(&bytes);
        self.scratch = bytes;
        // The in-memory node store never fails.
        let _ = self.mmr.append_leaf_hash(leaf);
        leaf
    }

    /// Steps 8 and 9.
    fn record(&mut self, entry: &LogEntry) -> (LeaderboardChange, Option<FrontierChange>) {
        self.dedup.insert(entry.pack_hash, entry.log_index);
        self.last_timestamp_ms = entry.timestamp_ms;
        self.count_usage(entry.contributor, entry.timestamp_ms);
        self.record_nonce(entry.contributor, entry.nonce);
        self.record_owned(entry.contributor, entry.log_index, entry.score);
        // Most entries neither rank nor join: build the meta only when needed.
        let frontier = self.frontier.as_mut().map(|f| f.offer(entry.meta()));
        let board = if self.leaderboard.would_rank(entry.score, entry.log_index) {
            self.leaderboard.offer(entry.meta())
        } else {
            LeaderboardChange::NotRanked
        };
        (board, frontier)
    }

    /// Applies one already-accepted entry (from this node's store or a
    /// peer), checking that it is one this goal could have accepted next.
    /// Signatures are not re-checked here (see
    /// [`LogEntry::verify_contributor_signature`]), so that replaying a
    /// large log is fast; evaluation is not re-run.
    pub fn apply(&mut self, entry: &LogEntry) -> Result<Hash32, ReplayError> {
        let index = self.mmr.size();
        self.check_position(
            &entry.goal_id,
            &entry.goal_hash,
            entry.log_index,
            entry.timestamp_ms,
        )?;
        self.check_unused(index, &entry.pack_hash, &entry.contributor, entry.nonce)?;
        self.check_open(&entry.contributor, entry.timestamp_ms)
            .map_err(|r| ReplayError::NotAcceptable {
                index,
                reason: r.to_string(),
            })?;
        if entry.harness_hash != self.manifest.harness.component {
            return Err(ReplayError::NotAcceptable {
                index,
                reason: format!(
                    "harness hash {} is not the goal's harness {}",
                    entry.harness_hash, self.manifest.harness.component
                ),
            });
        }
        let computed = self
            .judge(&entry.metrics)
            .map_err(|r| ReplayError::NotAcceptable {
                index,
                reason: r.to_string(),
            })?;
        if computed.get().to_bits() != entry.score.get().to_bits() {
            return Err(ReplayError::ScoreMismatch {
                index,
                recorded: entry.score.get(),
                computed: computed.get(),
            });
        }
        let leaf = self.append(entry);
        self.record(entry);
        Ok(leaf)
    }

    /// Rebuilds a goal's state from its log, reproducing the same roots,
    /// leaderboard, frontier, dedup index and nonces as the original.
    pub fn replay<'a>(
        manifest: GoalManifest,
        entries: impl IntoIterator<Item = &'a LogEntry>,
    ) -> Result<GoalState, ReplayError> {
        let mut s = GoalState::new(manifest);
        for e in entries {
            s.apply(e)?;
        }
        Ok(s)
    }
}
