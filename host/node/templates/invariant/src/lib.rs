//! Goal invariant "sane-predictions": before a pack is evaluated, probe the
//! agent on a fixed path and refuse it unless every answer is one value
//! within `[-LIMIT, LIMIT]`; refuse parameter blobs over 1 KiB.
//!
//! Invariants run before the harness, on every node, so they must be cheap
//! and deterministic: the probe path is a constant, not random.

use ian_guest_sdk::{Invariant, Observation, PackInfo, Policy};

/// The largest prediction magnitude allowed.
pub const LIMIT: f64 = 1000.0;

/// The probe: a rise, a fall and a jump.
pub const PROBE: [f64; 6] = [0.0, 0.1, 0.2, 0.1, -0.3, 5.0];

pub struct SanePredictions;

/// Checks one answer; the error names the step and the value.
pub fn check_answer(step: usize, action: &[f64]) -> Result<(), String> {
    match action {
        [v] if v.abs() <= LIMIT => Ok(()),
        [v] => Err(format!(
            "probe step {step}: prediction {v} is outside [-{LIMIT}, {LIMIT}]"
        )),
        other => Err(format!(
            "probe step {step}: expected 1 value, got length {}",
            other.len()
        )),
    }
}

impl Invariant for SanePredictions {
    fn check(pack: &PackInfo, policy: &mut Policy) -> Result<(), String> {
        if pack.params.len() > 1024 {
            return Err(format!(
                "params are {} bytes, over 1024",
                pack.params.len()
            ));
        }
        for (step, x) in PROBE.iter().enumerate() {
            let action = policy.act(&Observation::new(step as u64, vec![*x]))?;
            check_answer(step, &action)?;
        }
        Ok(())
    }
}

ian_guest_sdk::export_invariant!(SanePredictions);

#[cfg(test)]
mod tests {
    use super::*;
    use ian_guest_sdk::{Action, Agent};

    /// Predicts `scale * x`; a large scale breaks the limit on the jump.
    struct Scaled(f64);

    impl Agent for Scaled {
        fn init(params: &[u8]) -> Result<Self, String> {
            let p = ian_guest_sdk::params::Params::parse(params)?;
            Ok(Scaled(p.f64_or("scale", 1.0)?))
        }
        fn act(&mut self, obs: &Observation) -> Action {
            vec![self.0 * obs.features[0]]
        }
    }

    fn pack(params: &[u8]) -> PackInfo {
        PackInfo {
            metadata: vec![],
            params: params.to_vec(),
            code_size: 1000,
        }
    }

    #[test]
    fn accepts_an_agent_that_stays_in_range() {
        let mut policy = Policy::native::<Scaled>(b"scale=2");
        assert_eq!(SanePredictions::check(&pack(b"scale=2"), &mut policy), Ok(()));
        assert_eq!(policy.act_calls(), PROBE.len() as u64);
    }

    #[test]
    fn refuses_an_agent_that_leaves_the_range_naming_the_step() {
        let mut policy = Policy::native::<Scaled>(b"scale=1000");
        let err = SanePredictions::check(&pack(b"scale=1000"), &mut policy).unwrap_err();
        assert!(err.contains("probe step 5") && err.contains("5000"), "{err}");
    }

    #[test]
    fn refuses_oversized_params_without_probing() {
        let big = vec![b'x'; 2000];
        let mut policy = Policy::native::<Scaled>(b"");
        assert!(SanePredictions::check(&pack(&big), &mut policy).unwrap_err().contains("2000 bytes"));
        assert_eq!(policy.act_calls(), 0);
    }

    #[test]
    fn an_agent_whose_init_fails_is_refused_with_its_reason() {
        let mut policy = Policy::native::<Scaled>(b"scale=abc");
        let err = SanePredictions::check(&pack(b"scale=abc"), &mut policy).unwrap_err();
        assert!(err.contains("init failed") && err.contains("scale"), "{err}");
    }
}
