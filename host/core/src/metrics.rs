//! Evaluation results as recorded in the log.

use crate::encoding::{DecodeError, Decoder, Encoder, Finite};
use serde::{Deserialize, Serialize};

/// Most extra named metrics a harness may report.
pub const MAX_EXTRA_METRICS: usize = 32;
/// Longest extra metric name, in bytes.
pub const MAX_METRIC_NAME_BYTES: usize = 64;

/// The three ranked quantities plus named extras, all finite.
///
/// Extras keep the order the harness produced them in: that order is part of
/// the deterministic output of an evaluation, so it is part of the hash too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MetricsJson")]
pub struct Metrics {
    /// Higher is better (e.g. total return).
    pub reward: Finite,
    /// Lower is better (e.g. max drawdown).
    pub risk: Finite,
    /// Lower is better; the host measures it (mean agent fuel per call).
    pub complexity: Finite,
    /// Further named scores, unique names, harness order.
    pub extra: Vec<(String, Finite)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsJson {
    reward: Finite,
    risk: Finite,
    complexity: Finite,
    #[serde(default)]
    extra: Vec<(String, Finite)>,
}

impl TryFrom<MetricsJson> for Metrics {
    type Error = MetricsError;
    fn try_from(j: MetricsJson) -> Result<Self, MetricsError> {
        let m = Metrics {
            reward: j.reward,
            risk: j.risk,
            complexity: j.complexity,
            extra: j.extra,
        };
        m.validate()?;
        Ok(m)
    }
}

/// Why raw evaluation output is not acceptable as metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// A metric was NaN or ±infinity.
    #[error("metric {metric} is not finite ({value})")]
    NonFinite { metric: String, value: f64 },
    /// Two extras share a name, or an extra reuses a built-in name.
    #[error("metric name {0:?} appears more than once")]
    DuplicateName(String),
    /// Too many extras.
    #[error("{count} extra metrics, limit is {max}")]
    TooMany { count: usize, max: usize },
    /// An extra's name is empty, too long or uses characters outside
    /// `[A-Za-z0-9_.-]`.
    #[error("invalid metric name {0:?} (1-64 bytes of [A-Za-z0-9_.-])")]
    InvalidName(String),
}

impl MetricsError {
    /// Stable snake_case code for rejections.
    pub fn code(&self) -> &'static str {
        match self {
            MetricsError::NonFinite { .. } => "non_finite_metric",
            _ => "invalid_metrics",
        }
    }
}

/// Built-in metric names; extras may not reuse them.
pub const BUILTIN_METRICS: [&str; 3] = ["reward", "risk", "complexity"];

fn valid_metric_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_METRIC_NAME_BYTES
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl Metrics {
    /// Metrics with no extras.
    pub fn new(reward: Finite, risk: Finite, complexity: Finite) -> Self {
        Metrics {
            reward,
            risk,
            complexity,
            extra: Vec::new(),
        }
    }

    /// Converts raw evaluator output, refusing NaN/±inf and bad extras.
    pub fn from_raw(
        reward: f64,
        risk: f64,
        complexity: f64,
        extra: Vec<(String, f64)>,
    ) -> Result<Self, MetricsError> {
        let fin = |name: &str, v: f64| {
            Finite::new(v).map_err(|_| MetricsError::NonFinite {
                metric: name.to_string(),
                value: v,
            })
        };
        let reward = fin("reward", reward)?;
        let risk = fin("risk", risk)?;
        let complexity = fin("complexity", complexity)?;
        if extra.len() > MAX_EXTRA_METRICS {
            return Err(MetricsError::TooMany {
                count: extra.len(),
                max: MAX_EXTRA_METRICS,
            });
        }
        let mut out = Vec::with_capacity(extra.len());
        for (name, v) in extra {
            let f = fin(&name, v)?;
            out.push((name, f));
        }
        let m = Metrics {
            reward,
            risk,
            complexity,
            extra: out,
        };
        m.validate()?;
        Ok(m)
    }

    /// Checks the extras (names, uniqueness, count); the numbers are finite
    /// by type.
    pub fn validate(&self) -> Result<(), MetricsError> {
        if self.extra.len() > MAX_EXTRA_METRICS {
            return Err(MetricsError::TooMany {
                count: self.extra.len(),
                max: MAX_EXTRA_METRICS,
            });
        }
        for (i, (name, _)) in self.extra.iter().enumerate() {
            if !valid_metric_name(name) {
                return Err(MetricsError::InvalidName(name.clone()));
            }
            if BUILTIN_METRICS.contains(&name.as_str())
                || self.extra[..i].iter().any(|(n, _)| n == name)
            {
                return Err(MetricsError::DuplicateName(name.clone()));
            }
        }
        Ok(())
    }

    /// Looks a metric up by name (built-ins first, then extras).
    pub fn get(&self, name: &str) -> Option<Finite> {
        match name {
            "reward" => Some(self.reward),
            "risk" => Some(self.risk),
            "complexity" => Some(self.complexity),
            _ => self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| *v),
        }
    }

    /// Appends the canonical layout (no domain tag: always nested).
    pub fn encode_into(&self, e: &mut Encoder) {
        e.f64(self.reward).f64(self.risk).f64(self.complexity);
        e.count(self.extra.len());
        for (n, v) in &self.extra {
            e.str(n).f64(*v);
        }
    }

    /// Reads the layout written by [`Metrics::encode_into`].
    pub fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let reward = d.f64("metrics.reward")?;
        let risk = d.f64("metrics.risk")?;
        let complexity = d.f64("metrics.complexity")?;
        let n = d.count("metrics.extra", MAX_EXTRA_METRICS, 12)?;
        let mut extra = Vec::with_capacity(n);
        for _ in 0..n {
            let name = d
                .str("metrics.extra.name", MAX_METRIC_NAME_BYTES)?
                .to_string();
            let v = d.f64("metrics.extra.value")?;
            extra.push((name, v));
        }
        let m = Metrics {
            reward,
            risk,
            complexity,
            extra,
        };
        m.validate()
            .map_err(|e| DecodeError::invalid("metrics", e))?;
        Ok(m)
    }
}

/// Whether `name` may appear in a Pareto objective: a built-in metric or a
/// valid extra name.
pub fn valid_objective_metric(name: &str) -> bool {
    BUILTIN_METRICS.contains(&name) || valid_metric_name(name)
}
