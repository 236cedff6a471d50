//! Evaluating a goal over several seeds.

use crate::config::Limits;
use crate::fault::{Fault, Role};
use crate::sandbox::{EvalReport, LoadedAgent, LoadedHarness, Metrics, Sandbox};

/// The result of evaluating one pack against a goal's seed list.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalReport {
    /// Mean metrics over the seeds, or the first fault (in seed order).
    pub outcome: Result<Metrics, Fault>,
    /// One report per seed actually run; evaluation stops at the first
    /// fault, so a failing seed is the last entry.
    pub runs: Vec<EvalReport>,
    /// Sum of agent fuel over the runs.
    pub agent_fuel: u64,
    /// Sum of harness fuel over the runs.
    pub harness_fuel: u64,
    /// Sum of `act` calls over the runs.
    pub steps: u64,
}

impl Sandbox {
    /// Evaluates once per seed, in the given order, and aggregates.
    ///
    /// Aggregation: each metric field (reward, risk, complexity and every
    /// extra, matched by position) is summed in seed order and divided by
    /// the number of seeds, so the result's bits are a pure function of the
    /// per-seed bits. Extras must have the same names in the same order for
    /// every seed, otherwise the harness is at fault. The first fault, in
    /// seed order, is the outcome and later seeds are not run. An empty seed
    /// list is a harness (goal) fault.
    pub fn evaluate_goal(
        &self,
        harness: &LoadedHarness,
        agent: &LoadedAgent,
        params: &[u8],
        config: &[u8],
        seeds: &[u64],
        limits: &Limits,
    ) -> GoalReport {
        let mut report = GoalReport {
            outcome: Err(Fault::HarnessFault {
                role: Role::Harness,
                message: "the goal lists no seeds".into(),
            }),
            runs: Vec::with_capacity(seeds.len()),
            agent_fuel: 0,
            harness_fuel: 0,
            steps: 0,
        };
        let mut per_seed: Vec<Metrics> = Vec::with_capacity(seeds.len());
        for &seed in seeds {
            let run = self.evaluate(harness, agent, params, config, seed, limits);
            report.agent_fuel = report.agent_fuel.saturating_add(run.agent_fuel);
            report.harness_fuel = report.harness_fuel.saturating_add(run.harness_fuel);
            report.steps = report.steps.saturating_add(run.steps);
            let outcome = run.outcome.clone();
            report.runs.push(run);
            match outcome {
                Ok(m) => per_seed.push(m),
                Err(f) => {
                    report.outcome = Err(f);
                    return report;
                }
            }
        }
        if !per_seed.is_empty() {
            report.outcome = mean_metrics(&per_seed);
        }
        report
    }
}

/// Field-wise mean, summing in order. `metrics` must be non-empty.
pub(crate) fn mean_metrics(metrics: &[Metrics]) -> Result<Metrics, Fault> {
    let n = metrics.len() as f64;
    let first = &metrics[0];
    let mut out = Metrics {
        reward: 0.0,
        risk: 0.0,
        complexity: 0.0,
        extra: first.extra.iter().map(|(k, _)| (k.clone(), 0.0)).collect(),
    };
    for (i, m) in metrics.iter().enumerate() {
        let names_match = m.extra.len() == first.extra.len()
            && m.extra
                .iter()
                .zip(&first.extra)
                .all(|((a, _), (b, _))| a == b);
        if !names_match {
            return Err(Fault::HarnessFault {
                role: Role::Harness,
                message: format!("seed #{i} reported different extra metric names than seed #0"),
            });
        }
        out.reward += m.reward;
        out.risk += m.risk;
        out.complexity += m.complexity;
        for (acc, (_, v)) in out.extra.iter_mut().zip(&m.extra) {
            acc.1 += v;
        }
    }
    out.reward /= n;
    out.risk /= n;
    out.complexity /= n;
    for e in &mut out.extra {
        e.1 /= n;
    }
    for (name, v) in [
        ("reward", out.reward),
        ("risk", out.risk),
        ("complexity", out.complexity),
    ]
    .into_iter()
    .chain(out.extra.iter().map(|(k, v)| (k.as_str(), *v)))
    {
        if !v.is_finite() {
            return Err(Fault::NonFiniteMetric {
                name: name.to_owned(),
                value: v.to_string(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(reward: f64, risk: f64, c: f64, extra: &[(&str, f64)]) -> Metrics {
        Metrics {
            reward,
            risk,
            complexity: c,
            extra: extra.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn mean_is_field_wise_in_order() {
        let got = mean_metrics(&[
            m(1.0, 0.5, 10.0, &[("x", 2.0)]),
            m(3.0, 0.25, 20.0, &[("x", 4.0)]),
        ])
        .unwrap();
        assert_eq!(got, m(2.0, 0.375, 15.0, &[("x", 3.0)]));
    }

    #[test]
    fn mismatched_extra_names_are_a_harness_fault() {
        let err = mean_metrics(&[
            m(1.0, 0.0, 0.0, &[("x", 1.0)]),
            m(1.0, 0.0, 0.0, &[("y", 1.0)]),
        ])
        .unwrap_err();
        assert_eq!(err.reason_code(), "harness_fault");
    }

    #[test]
    fn overflowing_mean_is_non_finite() {
        let err =
            mean_metrics(&[m(f64::MAX, 0.0, 0.0, &[]), m(f64::MAX, 0.0, 0.0, &[])]).unwrap_err();
        assert_eq!(
            err,
            Fault::NonFiniteMetric {
                name: "reward".into(),
                value: "inf".into()
            }
        );
    }
}
