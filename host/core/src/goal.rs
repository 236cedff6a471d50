//! Goals: identifiers, the goal file (TOML), limits, thresholds, ranking,
//! proof policy, and the resolved [`GoalManifest`] whose hash identifies a
//! goal.
//!
//! The goal *file* names components by path (convenient for authors); the
//! *manifest* names them by SHA-256 (what the network agrees on). Only the
//! manifest is hashed. Resolving paths to hashes needs I/O and is the
//! caller's job: [`GoalSpec::resolve`] takes the computed hashes and checks
//! them against any pins in the file.

use crate::competition::{Competition, CompetitionOptions, Phase};
use crate::encoding::{DecodeError, Decoder, Encoder, Finite, domain};
use crate::hash::Hash32;
pub use crate::keys::PublicKeyBytes;
use crate::metrics::{Metrics, valid_objective_metric};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest goal id, in bytes.
pub const MAX_GOAL_ID_BYTES: usize = 64;
/// Longest goal title, in bytes.
pub const MAX_TITLE_BYTES: usize = 256;
/// Longest goal description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Longest harness config string, in bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Most seeds per goal (each seed is one harness run per contribution).
pub const MAX_SEEDS: usize = 64;
/// Most invariants per goal.
pub const MAX_INVARIANTS: usize = 16;
/// Longest component path in a goal file, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Largest leaderboard capacity.
pub const MAX_LEADERBOARD_CAPACITY: u32 = 10_000;
/// Largest Pareto frontier capacity.
pub const MAX_FRONTIER_CAPACITY: u32 = 100_000;
/// Most Pareto objectives.
pub const MAX_OBJECTIVES: usize = 8;
/// Most attester keys in a proof policy.
pub const MAX_ATTESTERS: usize = 64;
/// Hard cap on component size any goal may allow (64 MiB).
pub const HARD_MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;
/// Hard cap on parameter bytes any goal may allow (1 MiB).
pub const HARD_MAX_PARAMS_BYTES: u64 = 1024 * 1024;
/// Most proof-of-work bits a goal may demand: 2^32 hashes is already hours
/// of work for one submission, and more would lock every contributor out.
pub const MAX_POW_BITS: u32 = 32;

/// A goal identifier: `[a-z0-9][a-z0-9-]{0,63}`.
///
/// Restricted so it is safe in URLs, file names and log lines without
/// escaping, and so one goal has one spelling.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GoalId(std::sync::Arc<str>);

/// Why a goal id (or invariant name, which follows the same rule) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoalIdError {
    /// Empty string.
    #[error("goal id is empty")]
    Empty,
    /// Longer than 64 bytes.
    #[error("goal id is {0} bytes long, limit is 64")]
    TooLong(usize),
    /// A character outside `[a-z0-9-]`, or a leading `-`.
    #[error("goal id {0:?} must match [a-z0-9][a-z0-9-]{{0,63}}")]
    BadChar(String),
}

/// Checks the `[a-z0-9][a-z0-9-]{0,63}` rule.
pub fn check_slug(s: &str) -> Result<(), GoalIdError> {
    if s.is_empty() {
        return Err(GoalIdError::Empty);
    }
    if s.len() > MAX_GOAL_ID_BYTES {
        return Err(GoalIdError::TooLong(s.len()));
    }
    let b = s.as_bytes();
    let ok_first = b[0].is_ascii_lowercase() || b[0].is_ascii_digit();
    let ok_rest = b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !ok_first || !ok_rest {
        return Err(GoalIdError::BadChar(s.chars().take(80).collect()));
    }
    Ok(())
}

impl GoalId {
    /// Validates and wraps.
    pub fn new(s: impl Into<String>) -> Result<Self, GoalIdError> {
        let s: String = s.into();
        check_slug(&s)?;
        Ok(GoalId(s.into()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn decode_from(
        d: &mut Decoder<'_>,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        let s = d.str(field, MAX_GOAL_ID_BYTES)?;
        GoalId::new(s).map_err(|e| DecodeError::invalid(field, e))
    }
}

impl TryFrom<String> for GoalId {
    type Error = GoalIdError;
    fn try_from(s: String) -> Result<Self, GoalIdError> {
        GoalId::new(s)
    }
}

impl From<GoalId> for String {
    fn from(g: GoalId) -> String {
        g.0.to_string()
    }
}

impl fmt::Display for GoalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GoalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoalId({})", self.0)
    }
}

/// Resource limits of a goal. Every field has a default (see
/// `docs/LEDGER.md`); a goal file overrides them in `[limits]`.
///
/// The sandbox enforces the execution limits; the core enforces the pack
/// size limits in structure validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Total agent fuel per `evaluate()` call. Default 50,000,000.
    pub fuel_per_evaluation: u64,
    /// Agent fuel per `act()`/`init()` call. Default 5,000,000.
    pub fuel_per_call: u64,
    /// Harness fuel per `evaluate()` call. Default 500,000,000.
    pub harness_fuel: u64,
    /// Linear-memory cap per store (agent and harness each). Default 64 MiB.
    pub memory_bytes: u64,
    /// Largest component accepted. Default 4 MiB; at most 64 MiB.
    pub max_component_bytes: u64,
    /// Longest action vector. Default 64.
    pub max_action_len: u64,
    /// Wall-clock backstop per evaluation; hitting it is `inconclusive`,
    /// never a verdict. Default 10,000 ms.
    pub wall_backstop_ms: u64,
    /// Largest parameter blob in a pack. Default 64 KiB; at most 1 MiB.
    pub max_params_bytes: u64,
    /// Proof-of-work per submission: leading zero bits the work hash must
    /// have. Part of the goal (and its hash) so a goal author can price
    /// submissions to what one evaluation costs; a node applies the larger
    /// of this and its own setting. Default 0 (none); at most 32.
    pub pow_bits: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_evaluation: 50_000_000,
            fuel_per_call: 5_000_000,
            harness_fuel: 500_000_000,
            memory_bytes: 64 * 1024 * 1024,
            max_component_bytes: 4 * 1024 * 1024,
            max_action_len: 64,
            wall_backstop_ms: 10_000,
            max_params_bytes: 64 * 1024,
            pow_bits: 0,
        }
    }
}

impl Limits {
    /// Refuses zero limits and limits above the hard caps.
    pub fn validate(&self) -> Result<(), GoalError> {
        let fields = [
            ("fuel_per_evaluation", self.fuel_per_evaluation),
            ("fuel_per_call", self.fuel_per_call),
            ("harness_fuel", self.harness_fuel),
            ("memory_bytes", self.memory_bytes),
            ("max_component_bytes", self.max_component_bytes),
            ("max_action_len", self.max_action_len),
            ("wall_backstop_ms", self.wall_backstop_ms),
            ("max_params_bytes", self.max_params_bytes),
        ];
        for (name, v) in fields {
            if v == 0 {
                return Err(GoalError::Invalid(format!("limits.{name} must be > 0")));
            }
        }
        if self.fuel_per_call > self.fuel_per_evaluation {
            return Err(GoalError::Invalid(
                "limits.fuel_per_call must not exceed limits.fuel_per_evaluation".into(),
            ));
        }
        if self.max_component_bytes > HARD_MAX_COMPONENT_BYTES {
            return Err(GoalError::Invalid(format!(
                "limits.max_component_bytes {} exceeds the hard cap {HARD_MAX_COMPONENT_BYTES}",
                self.max_component_bytes
            )));
        }
        if self.max_params_bytes > HARD_MAX_PARAMS_BYTES {
            return Err(GoalError::Invalid(format!(
                "limits.max_params_bytes {} exceeds the hard cap {HARD_MAX_PARAMS_BYTES}",
                self.max_params_bytes
            )));
        }
        if self.pow_bits > MAX_POW_BITS {
            return Err(GoalError::Invalid(format!(
                "limits.pow_bits {} exceeds the maximum of {MAX_POW_BITS}",
                self.pow_bits
            )));
        }
        if self.memory_bytes > 4 * 1024 * 1024 * 1024 {
            return Err(GoalError::Invalid(
                "limits.memory_bytes exceeds 4 GiB (wasm32 address space)".into(),
            ));
        }
        Ok(())
    }

    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.fuel_per_evaluation)
            .u64(self.fuel_per_call)
            .u64(self.harness_fuel)
            .u64(self.memory_bytes)
            .u64(self.max_component_bytes)
            .u64(self.max_action_len)
            .u64(self.wall_backstop_ms)
            .u64(self.max_params_bytes)
            .u32(self.pow_bits);
    }

    fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Limits {
            fuel_per_evaluation: d.u64("limits.fuel_per_evaluation")?,
            fuel_per_call: d.u64("limits.fuel_per_call")?,
            harness_fuel: d.u64("limits.harness_fuel")?,
            memory_bytes: d.u64("limits.memory_bytes")?,
            max_component_bytes: d.u64("limits.max_component_bytes")?,
            max_action_len: d.u64("limits.max_action_len")?,
            wall_backstop_ms: d.u64("limits.wall_backstop_ms")?,
            max_params_bytes: d.u64("limits.max_params_bytes")?,
            pow_bits: d.u32("limits.pow_bits")?,
        })
    }
}

/// Acceptance thresholds. Absent bounds do not constrain; values are finite
/// by type, and metrics are finite by type, so NaN/±inf never pass.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Reward must be >= this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_reward: Option<Finite>,
    /// Risk must be <= this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_risk: Option<Finite>,
    /// Complexity must be <= this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_complexity: Option<Finite>,
}

/// Which threshold a contribution missed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{metric} = {value} is {} the threshold {bound}", if *.is_minimum { "below" } else { "above" })]
pub struct ThresholdMiss {
    /// `"reward"`, `"risk"` or `"complexity"`.
    pub metric: &'static str,
    /// The contribution's value.
    pub value: f64,
    /// The goal's bound.
    pub bound: f64,
    /// True for a minimum (value was below), false for a maximum.
    pub is_minimum: bool,
}

impl Thresholds {
    /// Checks reward, then risk, then complexity; the first miss is reported.
    pub fn check(&self, m: &Metrics) -> Result<(), ThresholdMiss> {
        let checks = [
            ("reward", m.reward.get(), self.min_reward, true),
            ("risk", m.risk.get(), self.max_risk, false),
            ("complexity", m.complexity.get(), self.max_complexity, false),
        ];
        for (metric, value, bound, is_minimum) in checks {
            let Some(bound) = bound.map(|b| b.get()) else {
                continue;
            };
            // Comparisons that are false for NaN: a NaN (impossible by type,
            // but cheap to guard) never passes.
            let within = if is_minimum {
                value >= bound
            } else {
                value <= bound
            };
            if !(within && value.is_finite()) {
                return Err(ThresholdMiss {
                    metric,
                    value,
                    bound,
                    is_minimum,
                });
            }
        }
        Ok(())
    }

    fn encode_into(&self, e: &mut Encoder) {
        for v in [self.min_reward, self.max_risk, self.max_complexity] {
            e.option(v.as_ref(), |e, x| {
                e.f64(*x);
            });
        }
    }

    fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let mut opt = |field| -> Result<Option<Finite>, DecodeError> {
            if d.option_tag(field)? {
                Ok(Some(d.f64(field)?))
            } else {
                Ok(None)
            }
        };
        Ok(Thresholds {
            min_reward: opt("thresholds.min_reward")?,
            max_risk: opt("thresholds.max_risk")?,
            max_complexity: opt("thresholds.max_complexity")?,
        })
    }
}

/// Scalar or Pareto ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RankingKind {
    /// One score: the leaderboard is top-K by score.
    Scalar,
    /// Top-K by score *and* a Pareto frontier over the objectives.
    Pareto,
}

/// Whether larger or smaller values of an objective are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Larger is better.
    Max,
    /// Smaller is better.
    Min,
}

/// One Pareto objective, written `"<metric>:max"` or `"<metric>:min"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    /// `reward`, `risk`, `complexity` or an extra metric's name.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
}

impl Objective {
    /// Parses `"metric:max"` / `"metric:min"`.
    pub fn parse(s: &str) -> Result<Self, GoalError> {
        let (m, d) = s.rsplit_once(':').ok_or_else(|| {
            GoalError::Invalid(format!(
                "objective {s:?} must be \"<metric>:max\" or \"<metric>:min\""
            ))
        })?;
        let direction = match d {
            "max" => Direction::Max,
            "min" => Direction::Min,
            _ => {
                return Err(GoalError::Invalid(format!(
                    "objective {s:?}: direction must be max or min"
                )));
            }
        };
        if !valid_objective_metric(m) {
            return Err(GoalError::Invalid(format!(
                "objective {s:?}: invalid metric name"
            )));
        }
        Ok(Objective {
            metric: m.to_string(),
            direction,
        })
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.direction {
            Direction::Max => "max",
            Direction::Min => "min",
        };
        write!(f, "{}:{}", self.metric, d)
    }
}

impl Serialize for Objective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Objective::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How contributions are ranked.
///
/// The score is always `reward·w_r − risk·λ − complexity·μ`, evaluated as
/// `((w_r·reward) − (λ·risk)) − (μ·complexity)` in IEEE-754 double precision
/// (no fused multiply-add), so every node gets the same bits. Pareto goals
/// additionally keep a frontier over `objectives`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ranking {
    /// Scalar or Pareto.
    #[serde(default = "default_kind")]
    pub kind: RankingKind,
    /// `w_r`, default 1.0.
    #[serde(default = "one")]
    pub reward: Finite,
    /// `λ`, default 0.0.
    #[serde(default)]
    pub risk: Finite,
    /// `μ`, default 0.0.
    #[serde(default)]
    pub complexity: Finite,
    /// Pareto objectives; must be empty for scalar ranking.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<Objective>,
}

fn default_kind() -> RankingKind {
    RankingKind::Scalar
}

fn one() -> Finite {
    Finite::ONE
}

impl Default for Ranking {
    fn default() -> Self {
        Ranking {
            kind: RankingKind::Scalar,
            reward: Finite::ONE,
            risk: Finite::ZERO,
            complexity: Finite::ZERO,
            objectives: Vec::new(),
        }
    }
}

/// A score that came out non-finite (overflow of finite inputs).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("score is not finite ({0})")]
pub struct ScoreOverflow(pub f64);

impl Ranking {
    /// The scalar score; refuses results that overflow to ±inf.
    pub fn score(&self, m: &Metrics) -> Result<Finite, ScoreOverflow> {
        let a = self.reward.get() * m.reward.get();
        let b = self.risk.get() * m.risk.get();
        let c = self.complexity.get() * m.complexity.get();
        let s = (a - b) - c;
        Finite::new(s).map_err(|_| ScoreOverflow(s))
    }

    /// Checks kind/objectives consistency.
    pub fn validate(&self) -> Result<(), GoalError> {
        match self.kind {
            RankingKind::Scalar if !self.objectives.is_empty() => Err(GoalError::Invalid(
                "ranking.objectives is only allowed with kind = \"pareto\"".into(),
            )),
            RankingKind::Pareto if self.objectives.is_empty() => Err(GoalError::Invalid(
                "ranking.kind = \"pareto\" needs at least one objective".into(),
            )),
            _ if self.objectives.len() > MAX_OBJECTIVES => Err(GoalError::Invalid(format!(
                "at most {MAX_OBJECTIVES} ranking objectives"
            ))),
            _ => {
                for (i, o) in self.objectives.iter().enumerate() {
                    if self.objectives[..i].iter().any(|p| p.metric == o.metric) {
                        return Err(GoalError::Invalid(format!(
                            "objective metric {:?} appears twice",
                            o.metric
                        )));
                    }
                }
                Ok(())
            }
        }
    }

    fn encode_into(&self, e: &mut Encoder) {
        e.u8(match self.kind {
            RankingKind::Scalar => 0,
            RankingKind::Pareto => 1,
        });
        e.f64(self.reward).f64(self.risk).f64(self.complexity);
        e.count(self.objectives.len());
        for o in &self.objectives {
            e.str(&o.metric).u8(match o.direction {
                Direction::Max => 0,
                Direction::Min => 1,
            });
        }
    }

    fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let kind = match d.u8("ranking.kind")? {
            0 => RankingKind::Scalar,
            1 => RankingKind::Pareto,
            value => {
                return Err(DecodeError::InvalidTag {
                    field: "ranking.kind",
                    value,
                });
            }
        };
        let reward = d.f64("ranking.reward")?;
        let risk = d.f64("ranking.risk")?;
        let complexity = d.f64("ranking.complexity")?;
        let n = d.count("ranking.objectives", MAX_OBJECTIVES, 5)?;
        let mut objectives = Vec::with_capacity(n);
        for _ in 0..n {
            let metric = d.str("ranking.objective.metric", 64)?.to_string();
            if !valid_objective_metric(&metric) {
                return Err(DecodeError::invalid(
                    "ranking.objective.metric",
                    "invalid name",
                ));
            }
            let direction = match d.u8("ranking.objective.direction")? {
                0 => Direction::Max,
                1 => Direction::Min,
                value => {
                    return Err(DecodeError::InvalidTag {
                        field: "ranking.objective.direction",
                        value,
                    });
                }
            };
            objectives.push(Objective { metric, direction });
        }
        Ok(Ranking {
            kind,
            reward,
            risk,
            complexity,
            objectives,
        })
    }
}

/// The root of a goal's list of approved datasets (an MMR over dataset
/// hashes, see [`crate::proofs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetRoot {
    /// MMR root over the approved dataset hashes.
    pub root: Hash32,
    /// Number of approved datasets (the MMR size).
    pub size: u64,
}

/// What proofs a goal accepts or demands.
///
/// Any proof item a contribution carries is always verified (never ignored);
/// `required` additionally demands at least one valid item of every
/// configured kind.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofPolicy {
    /// Demand proofs of every configured kind.
    #[serde(default)]
    pub required: bool,
    /// Keys whose Ed25519 attestation over a pack hash is accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attesters: Vec<PublicKeyBytes>,
    /// Approved datasets a pack may prove it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasets: Option<DatasetRoot>,
}

impl ProofPolicy {
    /// Checks sizes and that `required` has something to require.
    pub fn validate(&self) -> Result<(), GoalError> {
        if self.attesters.len() > MAX_ATTESTERS {
            return Err(GoalError::Invalid(format!(
                "at most {MAX_ATTESTERS} proofs.attesters"
            )));
        }
        if self.required && self.attesters.is_empty() && self.datasets.is_none() {
            return Err(GoalError::Invalid(
                "proofs.required = true needs proofs.attesters or proofs.datasets".into(),
            ));
        }
        for (i, k) in self.attesters.iter().enumerate() {
            if self.attesters[..i].contains(k) {
                return Err(GoalError::Invalid(format!("attester {k} listed twice")));
            }
        }
        Ok(())
    }

    fn encode_into(&self, e: &mut Encoder) {
        e.bool(self.required);
        e.count(self.attesters.len());
        for k in &self.attesters {
            e.fixed(&k.0);
        }
        e.option(self.datasets.as_ref(), |e, r| {
            e.hash(&r.root).u64(r.size);
        });
    }

    fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let required = d.bool("proofs.required")?;
        let n = d.count("proofs.attesters", MAX_ATTESTERS, 32)?;
        let mut attesters = Vec::with_capacity(n);
        for _ in 0..n {
            let k: [u8; 32] = d.array("proofs.attester")?;
            ed25519_dalek::VerifyingKey::from_bytes(&k)
                .map_err(|_| DecodeError::invalid("proofs.attester", "not an Ed25519 key"))?;
            attesters.push(PublicKeyBytes(k));
        }
        let datasets = if d.option_tag("proofs.datasets")? {
            Some(DatasetRoot {
                root: d.hash("proofs.datasets.root")?,
                size: d.u64("proofs.datasets.size")?,
            })
        } else {
            None
        };
        Ok(ProofPolicy {
            required,
            attesters,
            datasets,
        })
    }
}

/// Why a goal file or manifest was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GoalError {
    /// The TOML did not parse or had unknown/mistyped fields.
    #[error("goal file: {0}")]
    Toml(String),
    /// The JSON did not parse.
    #[error("goal manifest JSON: {0}")]
    Json(String),
    /// The goal id is not valid.
    #[error("goal id: {0}")]
    Id(#[from] GoalIdError),
    /// A field is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// A string is longer than its limit.
    #[error("{field} is {len} bytes long, limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// A name shown to people holds a control character or a bidirectional
    /// override (see [`crate::pack::is_unsafe_display_char`]).
    #[error(
        "{field} contains the character U+{code:04X}, which is not allowed (control or bidirectional override)"
    )]
    UnsafeChar { field: &'static str, code: u32 },
    /// A component's bytes do not match the hash pinned in the goal file.
    #[error("{component}: sha256 is {actual}, but the goal file pins {pinned}")]
    HashMismatch {
        component: String,
        pinned: Hash32,
        actual: Hash32,
    },
    /// The caller resolved a different number of invariants than the file lists.
    #[error("goal lists {expected} invariants but {got} hashes were given")]
    InvariantCount { expected: usize, got: usize },
}

/// A one-line name shown on pages: no control characters, no bidi overrides.
fn check_display_name(field: &'static str, s: &str) -> Result<(), GoalError> {
    match s.chars().find(|c| crate::pack::is_unsafe_display_char(*c)) {
        Some(c) => Err(GoalError::UnsafeChar {
            field,
            code: c as u32,
        }),
        None => Ok(()),
    }
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), GoalError> {
    if s.len() > max {
        return Err(GoalError::TooLong {
            field,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

/// The harness section of a goal file (paths unresolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessSpec {
    /// Path to the harness component, relative to the goal file.
    pub component: String,
    /// Optional pin: the component's bytes must hash to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Hash32>,
    /// Passed to `evaluate()` as UTF-8 bytes.
    #[serde(default)]
    pub config: String,
    /// One harness run per seed; metrics are the per-field mean in seed order.
    pub seeds: Vec<u64>,
    /// Optional read-only dataset directory (WASI harnesses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
}

/// One `[[invariants]]` entry of a goal file (path unresolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvariantSpec {
    /// `[a-z0-9][a-z0-9-]{0,63}`, unique within the goal.
    pub name: String,
    /// Path to the invariant component, relative to the goal file.
    pub component: String,
    /// Optional pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Hash32>,
}

/// `[leaderboard]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaderboardSpec {
    /// Top-K size. Default 10, at most 10,000.
    pub capacity: u32,
    /// Most points kept on a Pareto frontier (the worst by score leave
    /// first). Default 1,000, at most 100,000.
    pub frontier_capacity: u32,
}

impl Default for LeaderboardSpec {
    fn default() -> Self {
        LeaderboardSpec {
            capacity: 10,
            frontier_capacity: 1_000,
        }
    }
}

impl LeaderboardSpec {
    fn validate(&self) -> Result<(), GoalError> {
        if self.capacity == 0 || self.capacity > MAX_LEADERBOARD_CAPACITY {
            return Err(GoalError::Invalid(format!(
                "leaderboard.capacity must be 1..={MAX_LEADERBOARD_CAPACITY}"
            )));
        }
        if self.frontier_capacity == 0 || self.frontier_capacity > MAX_FRONTIER_CAPACITY {
            return Err(GoalError::Invalid(format!(
                "leaderboard.frontier_capacity must be 1..={MAX_FRONTIER_CAPACITY}"
            )));
        }
        Ok(())
    }
}

/// What a goal's agents may import, chosen by the goal author: part of the
/// manifest, so of the goal hash every entry carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agents {
    /// IAN's types only (and the optional panic report): ian-guest-sdk
    /// agents, the smallest surface.
    #[default]
    Pure,
    /// Also the WASI p2 interfaces language runtimes (CPython, QuickJS,
    /// wasi-libc) import, each served deterministically by the sandbox.
    Wasi,
}

impl Agents {
    /// Whether this is the default, which the encodings leave out.
    pub fn is_pure(&self) -> bool {
        *self == Agents::Pure
    }

    /// Its byte in `ian/goal/v3`.
    fn code(self) -> u8 {
        match self {
            Agents::Pure => 0,
            Agents::Wasi => 1,
        }
    }
}

/// How the ranked `complexity` metric is computed from the agent's fuel
/// per `act` call (`[complexity]` in the goal file). Part of the manifest,
/// so of the goal hash.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplexityRule {
    /// `raw` (default), `off` or `above-baseline`.
    #[serde(default)]
    pub mode: ComplexityMode,
    /// Per-runtime baselines, with `above-baseline` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub baselines: Vec<RuntimeBaseline>,
}

/// What `complexity` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComplexityMode {
    /// Mean agent fuel per `act`, language runtime included.
    #[default]
    Raw,
    /// Always 0: the goal does not rank on complexity.
    Off,
    /// Mean fuel per `act` above the agent's runtime's recorded baseline.
    AboveBaseline,
}

/// A runtime's null-agent fuel per `act` on this goal, as `ian-host goal
/// baseline` measured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeBaseline {
    /// A label for people (`componentize-py 0.25.1`); not used to match.
    pub runtime: String,
    /// SHA-256 of the largest code section in the runtime's agents: how an
    /// agent's runtime is recognised, from its bytes alone.
    pub code: Hash32,
    /// Mean fuel per `act` of the runtime's null agent.
    pub act_fuel: u64,
}

/// Most runtime baselines a goal may record.
pub const MAX_RUNTIME_BASELINES: usize = 16;

impl ComplexityRule {
    /// Whether this is the default, which the encodings leave out.
    pub fn is_raw(&self) -> bool {
        *self == ComplexityRule::default()
    }

    fn validate(&self) -> Result<(), GoalError> {
        let invalid = |m: String| Err(GoalError::Invalid(m));
        match self.mode {
            ComplexityMode::AboveBaseline if self.baselines.is_empty() => {
                return invalid(
                    "complexity.mode = \"above-baseline\" needs at least one [[complexity.baselines]] \
                     (measure one with `ian-host goal baseline`)"
                        .into(),
                );
            }
            ComplexityMode::Raw | ComplexityMode::Off if !self.baselines.is_empty() => {
                return invalid(
                    "complexity.baselines are used only with complexity.mode = \"above-baseline\""
                        .into(),
                );
            }
            _ => {}
        }
        if self.baselines.len() > MAX_RUNTIME_BASELINES {
            return invalid(format!(
                "at most {MAX_RUNTIME_BASELINES} complexity.baselines"
            ));
        }
        for (i, b) in self.baselines.iter().enumerate() {
            check_len("complexity.baselines.runtime", &b.runtime, MAX_TITLE_BYTES)?;
            check_display_name("complexity.baselines.runtime", &b.runtime)?;
            if self.baselines[..i].iter().any(|o| o.code == b.code) {
                return invalid(format!(
                    "complexity.baselines: code {} appears twice",
                    b.code
                ));
            }
        }
        Ok(())
    }

    fn mode_code(&self) -> u8 {
        match self.mode {
            ComplexityMode::Raw => 0,
            ComplexityMode::Off => 1,
            ComplexityMode::AboveBaseline => 2,
        }
    }

    /// `u8 mode (0 raw, 1 off, 2 above-baseline)`, then `u32 count` and per
    /// baseline `str runtime, hash code, u64 act_fuel`.
    fn encode_into(&self, e: &mut Encoder) {
        e.u8(self.mode_code());
        e.count(self.baselines.len());
        for b in &self.baselines {
            e.str(&b.runtime).hash(&b.code).u64(b.act_fuel);
        }
    }

    fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let mode = match d.u8("goal.complexity.mode")? {
            0 => ComplexityMode::Raw,
            1 => ComplexityMode::Off,
            2 => ComplexityMode::AboveBaseline,
            other => {
                return Err(DecodeError::invalid(
                    "goal.complexity.mode",
                    format!("{other} is not a complexity mode (0 raw, 1 off, 2 above-baseline)"),
                ));
            }
        };
        let n = d.count(
            "goal.complexity.baselines",
            MAX_RUNTIME_BASELINES,
            4 + 32 + 8,
        )?;
        let mut baselines = Vec::with_capacity(n);
        for _ in 0..n {
            baselines.push(RuntimeBaseline {
                runtime: d
                    .str("goal.complexity.baseline.runtime", MAX_TITLE_BYTES)?
                    .to_string(),
                code: d.hash("goal.complexity.baseline.code")?,
                act_fuel: d.u64("goal.complexity.baseline.act_fuel")?,
            });
        }
        Ok(ComplexityRule { mode, baselines })
    }
}

/// A parsed goal file. Component paths are kept exactly as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalSpec {
    /// Goal id.
    pub id: GoalId,
    /// Human-readable title.
    pub title: String,
    /// Optional longer description.
    #[serde(default)]
    pub description: String,
    /// Evaluation harness.
    pub harness: HarnessSpec,
    /// Invariant checks, run in order, first violation rejects.
    #[serde(default)]
    pub invariants: Vec<InvariantSpec>,
    /// Acceptance thresholds.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Ranking rule.
    #[serde(default)]
    pub ranking: Ranking,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Leaderboard sizes.
    #[serde(default)]
    pub leaderboard: LeaderboardSpec,
    /// Proof policy.
    #[serde(default)]
    pub proofs: ProofPolicy,
    /// Submission windows (`[[phases]]`), in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
    /// Hidden seeds, final selections, board rows (`[competition]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competition: Option<CompetitionOptions>,
    /// What agents may import (`agents = "wasi"`); default `pure`.
    #[serde(default, skip_serializing_if = "Agents::is_pure")]
    pub agents: Agents,
    /// What `complexity` counts (`[complexity]`); default raw fuel.
    #[serde(default, skip_serializing_if = "ComplexityRule::is_raw")]
    pub complexity: ComplexityRule,
}

/// The hashes a caller computed for the components a goal file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedComponents {
    /// SHA-256 of the harness component bytes.
    pub harness: Hash32,
    /// SHA-256 of each invariant component, in goal-file order.
    pub invariants: Vec<Hash32>,
    /// Dataset hash ([`crate::proofs::dataset_hash`]) if the goal names a dataset.
    pub dataset: Option<Hash32>,
}

impl GoalSpec {
    /// Parses and validates a goal file. Pure: paths are not touched.
    pub fn from_toml(text: &str) -> Result<GoalSpec, GoalError> {
        let spec: GoalSpec = toml::from_str(text).map_err(|e| GoalError::Toml(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), GoalError> {
        check_len("title", &self.title, MAX_TITLE_BYTES)?;
        check_display_name("title", &self.title)?;
        check_len("description", &self.description, MAX_DESCRIPTION_BYTES)?;
        check_len("harness.component", &self.harness.component, MAX_PATH_BYTES)?;
        if let Some(d) = &self.harness.dataset {
            check_len("harness.dataset", d, MAX_PATH_BYTES)?;
        }
        check_harness_common(&self.harness.config, &self.harness.seeds)?;
        if self.invariants.len() > MAX_INVARIANTS {
            return Err(GoalError::Invalid(format!(
                "at most {MAX_INVARIANTS} invariants"
            )));
        }
        for (i, inv) in self.invariants.iter().enumerate() {
            check_len("invariants.component", &inv.component, MAX_PATH_BYTES)?;
            check_invariant_name(
                &inv.name,
                self.invariants[..i].iter().map(|p| p.name.as_str()),
            )?;
        }
        self.ranking.validate()?;
        self.limits.validate()?;
        self.leaderboard.validate()?;
        self.proofs.validate()?;
        Competition::from_spec(&self.phases, self.competition.as_ref())?;
        self.complexity.validate()?;
        Ok(())
    }

    /// Turns the file into the manifest that is hashed, given the hashes
    /// the caller computed for the named files. Pinned hashes must match.
    pub fn resolve(&self, c: &ResolvedComponents) -> Result<GoalManifest, GoalError> {
        if let Some(pin) = self.harness.sha256
            && pin != c.harness
        {
            return Err(GoalError::HashMismatch {
                component: self.harness.component.clone(),
                pinned: pin,
                actual: c.harness,
            });
        }
        if c.invariants.len() != self.invariants.len() {
            return Err(GoalError::InvariantCount {
                expected: self.invariants.len(),
                got: c.invariants.len(),
            });
        }
        let mut invariants = Vec::with_capacity(self.invariants.len());
        for (inv, h) in self.invariants.iter().zip(&c.invariants) {
            if let Some(pin) = inv.sha256
                && pin != *h
            {
                return Err(GoalError::HashMismatch {
                    component: inv.component.clone(),
                    pinned: pin,
                    actual: *h,
                });
            }
            invariants.push(InvariantRef {
                name: inv.name.clone(),
                component: *h,
            });
        }
        if self.harness.dataset.is_some() != c.dataset.is_some() {
            return Err(GoalError::Invalid(
                "a dataset hash must be given exactly when the goal names a dataset".into(),
            ));
        }
        let m = GoalManifest {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            harness: HarnessRef {
                component: c.harness,
                config: self.harness.config.clone(),
                seeds: self.harness.seeds.clone(),
                dataset: c.dataset,
            },
            invariants,
            thresholds: self.thresholds.clone(),
            ranking: self.ranking.clone(),
            limits: self.limits.clone(),
            leaderboard: self.leaderboard,
            proofs: self.proofs.clone(),
            competition: Competition::from_spec(&self.phases, self.competition.as_ref())?,
            agents: self.agents,
            complexity: self.complexity.clone(),
        };
        m.validate()?;
        Ok(m)
    }
}

fn check_harness_common(config: &str, seeds: &[u64]) -> Result<(), GoalError> {
    check_len("harness.config", config, MAX_CONFIG_BYTES)?;
    if seeds.is_empty() {
        return Err(GoalError::Invalid("harness.seeds must not be empty".into()));
    }
    if seeds.len() > MAX_SEEDS {
        return Err(GoalError::Invalid(format!(
            "at most {MAX_SEEDS} harness.seeds"
        )));
    }
    Ok(())
}

fn check_invariant_name<'a>(
    name: &str,
    mut earlier: impl Iterator<Item = &'a str>,
) -> Result<(), GoalError> {
    check_slug(name).map_err(|e| GoalError::Invalid(format!("invariant name: {e}")))?;
    if earlier.any(|n| n == name) {
        return Err(GoalError::Invalid(format!(
            "invariant name {name:?} appears twice"
        )));
    }
    Ok(())
}

/// The harness as the network knows it: by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessRef {
    /// SHA-256 of the harness component.
    pub component: Hash32,
    /// Config passed to `evaluate()`.
    pub config: String,
    /// Seeds, in order.
    pub seeds: Vec<u64>,
    /// Dataset hash, if the harness mounts a dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Hash32>,
}

/// An invariant by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvariantRef {
    /// Name, unique within the goal; appears in rejection reasons.
    pub name: String,
    /// SHA-256 of the invariant component.
    pub component: Hash32,
}

/// A resolved goal: everything a node needs to judge a contribution, with
/// components named by hash. Its canonical encoding is hashed to the goal
/// hash recorded in every log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedManifest")]
pub struct GoalManifest {
    /// Goal id.
    pub id: GoalId,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Harness.
    pub harness: HarnessRef,
    /// Invariants, in order.
    #[serde(default)]
    pub invariants: Vec<InvariantRef>,
    /// Thresholds.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Ranking.
    #[serde(default)]
    pub ranking: Ranking,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Leaderboard sizes.
    #[serde(default)]
    pub leaderboard: LeaderboardSpec,
    /// Proof policy.
    #[serde(default)]
    pub proofs: ProofPolicy,
    /// Phases, quotas, hidden seeds: a competition's rules. Absent for a
    /// goal that is always open (and then its encoding is `ian/goal/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competition: Option<Competition>,
    /// What agents may import; `pure` unless the goal says `wasi` (then its
    /// encoding is `ian/goal/v3`).
    #[serde(default, skip_serializing_if = "Agents::is_pure")]
    pub agents: Agents,
    /// What `complexity` counts; raw fuel unless the goal says otherwise
    /// (then its encoding is `ian/goal/v3`).
    #[serde(default, skip_serializing_if = "ComplexityRule::is_raw")]
    pub complexity: ComplexityRule,
}

/// The JSON shape of a manifest before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UncheckedManifest {
    id: GoalId,
    title: String,
    #[serde(default)]
    description: String,
    harness: HarnessRef,
    #[serde(default)]
    invariants: Vec<InvariantRef>,
    #[serde(default)]
    thresholds: Thresholds,
    #[serde(default)]
    ranking: Ranking,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    leaderboard: LeaderboardSpec,
    #[serde(default)]
    proofs: ProofPolicy,
    #[serde(default)]
    competition: Option<Competition>,
    #[serde(default)]
    agents: Agents,
    #[serde(default)]
    complexity: ComplexityRule,
}

impl TryFrom<UncheckedManifest> for GoalManifest {
    type Error = GoalError;
    fn try_from(u: UncheckedManifest) -> Result<Self, GoalError> {
        let m = GoalManifest {
            id: u.id,
            title: u.title,
            description: u.description,
            harness: u.harness,
            invariants: u.invariants,
            thresholds: u.thresholds,
            ranking: u.ranking,
            limits: u.limits,
            leaderboard: u.leaderboard,
            proofs: u.proofs,
            competition: u.competition,
            agents: u.agents,
            complexity: u.complexity,
        };
        m.validate()?;
        Ok(m)
    }
}

/// Longest encoded manifest accepted by the decoder (1 MiB).
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

impl GoalManifest {
    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), GoalError> {
        check_len("title", &self.title, MAX_TITLE_BYTES)?;
        check_len("description", &self.description, MAX_DESCRIPTION_BYTES)?;
        check_harness_common(&self.harness.config, &self.harness.seeds)?;
        if self.invariants.len() > MAX_INVARIANTS {
            return Err(GoalError::Invalid(format!(
                "at most {MAX_INVARIANTS} invariants"
            )));
        }
        for (i, inv) in self.invariants.iter().enumerate() {
            check_invariant_name(
                &inv.name,
                self.invariants[..i].iter().map(|p| p.name.as_str()),
            )?;
        }
        self.ranking.validate()?;
        self.limits.validate()?;
        self.leaderboard.validate()?;
        self.proofs.validate()?;
        if let Some(c) = &self.competition {
            c.validate()?;
        }
        self.complexity.validate()?;
        Ok(())
    }

    /// Parses JSON (API and files); deserialisation always validates.
    pub fn from_json(text: &str) -> Result<GoalManifest, GoalError> {
        serde_json::from_str(text).map_err(|e| GoalError::Json(e.to_string()))
    }

    /// Canonical bytes: domain `ian/goal/v1`; `ian/goal/v2` with the
    /// competition's fields after v1's when the goal has competition rules;
    /// `ian/goal/v3` (v1's fields, an optional competition, the agent
    /// runtime, the complexity rule) when its agents get WASI or its
    /// complexity is not raw fuel. Each goal has exactly one.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let tag = match (self.agents, &self.competition) {
            _ if !self.complexity.is_raw() => domain::GOAL_V3,
            (Agents::Pure, None) => domain::GOAL,
            (Agents::Pure, Some(_)) => domain::GOAL_V2,
            (_, _) => domain::GOAL_V3,
        };
        let mut e = Encoder::new(tag);
        e.str(self.id.as_str())
            .str(&self.title)
            .str(&self.description);
        e.hash(&self.harness.component).str(&self.harness.config);
        e.count(self.harness.seeds.len());
        for s in &self.harness.seeds {
            e.u64(*s);
        }
        e.option(self.harness.dataset.as_ref(), |e, h| {
            e.hash(h);
        });
        e.count(self.invariants.len());
        for inv in &self.invariants {
            e.str(&inv.name).hash(&inv.component);
        }
        self.thresholds.encode_into(&mut e);
        self.ranking.encode_into(&mut e);
        self.limits.encode_into(&mut e);
        e.u32(self.leaderboard.capacity)
            .u32(self.leaderboard.frontier_capacity);
        self.proofs.encode_into(&mut e);
        if tag == domain::GOAL_V3 {
            e.option(self.competition.as_ref(), |e, c| c.encode_into(e));
            e.u8(self.agents.code());
            self.complexity.encode_into(&mut e);
        } else if let Some(c) = &self.competition {
            c.encode_into(&mut e);
        }
        e.finish()
    }

    /// The goal hash: SHA-256 of the canonical bytes.
    pub fn goal_hash(&self) -> Hash32 {
        crate::hash::sha256(&self.to_canonical_bytes())
    }

    /// Reads canonical bytes back and validates them.
    pub fn from_canonical_bytes(b: &[u8]) -> Result<GoalManifest, DecodeError> {
        if b.len() > MAX_MANIFEST_BYTES {
            return Err(DecodeError::TooLong {
                field: "goal manifest",
                len: b.len() as u64,
                max: MAX_MANIFEST_BYTES as u64,
            });
        }
        let (mut d, version) = match Decoder::new(b, domain::GOAL) {
            Ok(d) => (d, 1),
            Err(DecodeError::WrongDomain { .. }) => match Decoder::new(b, domain::GOAL_V2) {
                Ok(d) => (d, 2),
                Err(DecodeError::WrongDomain { .. }) => (Decoder::new(b, domain::GOAL_V3)?, 3),
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let id = GoalId::decode_from(&mut d, "goal.id")?;
        let title = d.str("goal.title", MAX_TITLE_BYTES)?.to_string();
        let description = d
            .str("goal.description", MAX_DESCRIPTION_BYTES)?
            .to_string();
        let component = d.hash("goal.harness.component")?;
        let config = d.str("goal.harness.config", MAX_CONFIG_BYTES)?.to_string();
        let n = d.count("goal.harness.seeds", MAX_SEEDS, 8)?;
        let mut seeds = Vec::with_capacity(n);
        for _ in 0..n {
            seeds.push(d.u64("goal.harness.seed")?);
        }
        let dataset = if d.option_tag("goal.harness.dataset")? {
            Some(d.hash("goal.harness.dataset")?)
        } else {
            None
        };
        let n = d.count("goal.invariants", MAX_INVARIANTS, 36)?;
        let mut invariants = Vec::with_capacity(n);
        for _ in 0..n {
            let name = d.str("goal.invariant.name", MAX_GOAL_ID_BYTES)?.to_string();
            let component = d.hash("goal.invariant.component")?;
            invariants.push(InvariantRef { name, component });
        }
        let thresholds = Thresholds::decode_from(&mut d)?;
        let ranking = Ranking::decode_from(&mut d)?;
        let limits = Limits::decode_from(&mut d)?;
        let leaderboard = LeaderboardSpec {
            capacity: d.u32("goal.leaderboard.capacity")?,
            frontier_capacity: d.u32("goal.leaderboard.frontier_capacity")?,
        };
        let proofs = ProofPolicy::decode_from(&mut d)?;
        let (competition, agents, complexity) = match version {
            1 => (None, Agents::Pure, ComplexityRule::default()),
            2 => (
                Some(Competition::decode_from(&mut d)?),
                Agents::Pure,
                ComplexityRule::default(),
            ),
            _ => {
                let competition = if d.option_tag("goal.competition")? {
                    Some(Competition::decode_from(&mut d)?)
                } else {
                    None
                };
                let agents = match d.u8("goal.agents")? {
                    0 => Agents::Pure,
                    1 => Agents::Wasi,
                    other => {
                        return Err(DecodeError::invalid(
                            "goal.agents",
                            format!("{other} is not an agent runtime (0 pure, 1 wasi)"),
                        ));
                    }
                };
                let complexity = ComplexityRule::decode_from(&mut d)?;
                // Pure agents with raw complexity are v1 or v2: a v3 saying
                // so is not canonical.
                if agents.is_pure() && complexity.is_raw() {
                    return Err(DecodeError::invalid(
                        "goal.agents",
                        "pure agents and raw complexity are encoded as ian/goal/v1 or v2, not v3",
                    ));
                }
                (competition, agents, complexity)
            }
        };
        d.finish()?;
        let m = GoalManifest {
            id,
            title,
            description,
            harness: HarnessRef {
                component,
                config,
                seeds,
                dataset,
            },
            invariants,
            thresholds,
            ranking,
            limits,
            leaderboard,
            proofs,
            competition,
            agents,
            complexity,
        };
        m.validate()
            .map_err(|e| DecodeError::invalid("goal manifest", e))?;
        Ok(m)
    }
}
