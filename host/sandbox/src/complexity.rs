//! What the `complexity` metric measures, chosen by the goal author.
//!
//! The host, not the harness, computes complexity: the mean agent fuel per
//! `act` call. An agent built with a language runtime (CPython through
//! componentize-py, QuickJS through jco) pays that runtime's own cost at
//! every step, tens of thousands of fuel before the policy runs, so raw
//! fuel ranks languages rather than strategies. A goal can therefore count
//! complexity above a recorded per-runtime baseline, or not at all.
//!
//! Architecture Invariant: the figure is a pure function of the agent's
//! bytes, the per-step fuel and the goal's rule, so a replay computes the
//! same bits. The runtime is recognised from the bytes (never from what
//! the pack says about itself): the SHA-256 of the largest code section
//! among the component's core modules, which is the interpreter's for a
//! runtime build and the same in every agent built with one tool version.

use crate::fault::{Fault, Role};
use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload};

/// The extra metric that keeps the raw figure when the ranked complexity
/// is not raw fuel; the host appends it after the harness's extras.
pub const RAW_COMPLEXITY_METRIC: &str = "raw_complexity";

/// How the ranked `complexity` metric is computed from per-step fuel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Complexity {
    /// Mean agent fuel per `act` call, runtime included.
    #[default]
    Raw,
    /// Always 0: the goal does not rank on complexity.
    Off,
    /// Mean fuel per `act` minus the baseline of the agent's runtime (0 for
    /// an agent whose runtime has none), never below 0.
    AboveBaseline(Vec<RuntimeBaseline>),
}

/// The fuel a runtime's null agent spends per `act` call on a goal,
/// measured once (`ian-host goal baseline`) and recorded in the goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeBaseline {
    /// [`runtime_code_hash`] of the runtime's agents.
    pub runtime_code: [u8; 32],
    /// Mean fuel per `act` of a null agent with that runtime.
    pub act_fuel: u64,
}

/// SHA-256 of the largest code section among the component's core modules
/// (nested components included; the first of equal sizes), or `None` when
/// it has no code. Two agents built with the same componentize-py or jco
/// version share it; a Rust or C agent's is its own code.
pub fn runtime_code_hash(component: &[u8]) -> Option<[u8; 32]> {
    let mut best: Option<std::ops::Range<usize>> = None;
    for payload in Parser::new(0).parse_all(component) {
        let Ok(payload) = payload else {
            return None;
        };
        if let Payload::CodeSectionStart { range, .. } = payload
            && best.as_ref().is_none_or(|b| range.len() > b.len())
        {
            best = Some(range);
        }
    }
    let range = best?;
    Some(Sha256::digest(component.get(range)?).into())
}

impl Complexity {
    /// The ranked figure and, unless the rule is raw, the raw one to keep
    /// beside it as [`RAW_COMPLEXITY_METRIC`].
    pub(crate) fn apply(
        &self,
        act_fuel: &[u64],
        runtime_code: Option<&[u8; 32]>,
    ) -> (f64, Option<f64>) {
        let raw = if act_fuel.is_empty() {
            0.0
        } else {
            act_fuel.iter().sum::<u64>() as f64 / act_fuel.len() as f64
        };
        match self {
            Complexity::Raw => (raw, None),
            Complexity::Off => (0.0, Some(raw)),
            Complexity::AboveBaseline(baselines) => {
                let base = runtime_code
                    .and_then(|c| baselines.iter().find(|b| &b.runtime_code == c))
                    .map_or(0.0, |b| b.act_fuel as f64);
                ((raw - base).max(0.0), Some(raw))
            }
        }
    }

    /// A harness may not report the extra the host adds, nor fill every
    /// extra slot before the host adds it.
    pub(crate) fn check_extras(&self, extra: &[(String, f64)], role: Role) -> Result<(), Fault> {
        if *self == Complexity::Raw {
            return Ok(());
        }
        let fault = |message: String| Err(Fault::HarnessFault { role, message });
        if extra.iter().any(|(n, _)| n == RAW_COMPLEXITY_METRIC) {
            return fault(format!(
                "the harness reports the extra metric {RAW_COMPLEXITY_METRIC:?}, which the host \
                 adds itself under the goal's complexity rule"
            ));
        }
        if extra.len() >= crate::MAX_EXTRA_METRICS {
            return fault(format!(
                "the harness reports {} extra metrics; under the goal's complexity rule the host \
                 adds {RAW_COMPLEXITY_METRIC:?}, so at most {} may come from the harness",
                extra.len(),
                crate::MAX_EXTRA_METRICS - 1
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: [u8; 32] = [7; 32];

    fn above(act_fuel: u64) -> Complexity {
        Complexity::AboveBaseline(vec![RuntimeBaseline {
            runtime_code: PY,
            act_fuel,
        }])
    }

    #[test]
    fn raw_complexity_is_mean_fuel_per_act_with_nothing_beside_it() {
        assert_eq!(
            Complexity::Raw.apply(&[10, 20, 40], None),
            (70.0 / 3.0, None)
        );
        assert_eq!(Complexity::Raw.apply(&[], None), (0.0, None));
    }

    #[test]
    fn off_ranks_zero_and_keeps_the_raw_figure() {
        assert_eq!(Complexity::Off.apply(&[10, 30], None), (0.0, Some(20.0)));
    }

    #[test]
    fn above_baseline_subtracts_the_matching_runtimes_baseline() {
        assert_eq!(above(15).apply(&[10, 30], Some(&PY)), (5.0, Some(20.0)));
    }

    #[test]
    fn above_baseline_never_goes_below_zero() {
        assert_eq!(above(50).apply(&[10, 30], Some(&PY)), (0.0, Some(20.0)));
    }

    #[test]
    fn an_agent_of_another_runtime_gets_no_baseline() {
        assert_eq!(
            above(15).apply(&[10, 30], Some(&[8; 32])),
            (20.0, Some(20.0))
        );
        assert_eq!(above(15).apply(&[10, 30], None), (20.0, Some(20.0)));
    }

    #[test]
    fn a_harness_may_not_report_the_hosts_raw_extra() {
        let extra = vec![(RAW_COMPLEXITY_METRIC.to_owned(), 1.0)];
        assert!(Complexity::Off.check_extras(&extra, Role::Harness).is_err());
        assert!(Complexity::Raw.check_extras(&extra, Role::Harness).is_ok());
    }

    #[test]
    fn a_harness_must_leave_one_extra_slot_for_the_host() {
        let full = vec![("x".to_owned(), 1.0); crate::MAX_EXTRA_METRICS];
        let err = above(1).check_extras(&full, Role::Harness).unwrap_err();
        assert!(err.to_string().contains("at most 31"), "{err}");
        assert!(above(1).check_extras(&full[1..], Role::Harness).is_ok());
    }

    #[test]
    fn runtime_code_hash_of_garbage_is_none() {
        assert_eq!(runtime_code_hash(b"not wasm"), None);
    }
}
