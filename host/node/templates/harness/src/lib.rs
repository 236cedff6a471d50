//! Goal harness "forecast": predict the next value of a random walk.
//!
//! Each seed draws one walk: `x_0 = 0`, `x_{t+1} = x_t + N(0, 1) * 0.1`
//! (all randomness from the seed, so every node replays it bit for bit).
//! At step `t` the agent sees `features = [x_t]` and answers
//! `[prediction of x_{t+1}]`.
//!
//! Metrics: reward = `1 - mean |error|`, risk = the largest `|error|`,
//! extra `hit_rate` = the share of predictions within 0.05. An action that
//! is not one finite value is the agent's invalid action.
//!
//! Config (UTF-8 `key=value`): `steps` (default 100, `1..=10000`). Unknown
//! keys are refused.

use ian_guest_sdk::{Harness, Metrics, Observation, Policy, params::Params, rng::Rng};

pub struct Forecast;

/// Parses the goal's `harness.config`.
pub fn steps(config: &[u8]) -> Result<u64, String> {
    let p = Params::parse(config).map_err(|e| format!("config: {e}"))?;
    p.reject_unknown(&["steps"])
        .map_err(|e| format!("config: {e}"))?;
    let steps = p.u64_or("steps", 100).map_err(|e| format!("config: {e}"))?;
    if !(1..=10_000).contains(&steps) {
        return Err(format!("config: steps must be in 1..=10000, got {steps}"));
    }
    Ok(steps)
}

impl Harness for Forecast {
    fn evaluate(config: &[u8], seed: u64, policy: &mut Policy) -> Result<Metrics, String> {
        let steps = steps(config)?;
        let mut rng = Rng::new(seed);
        let mut x = 0.0f64;
        let (mut total, mut worst, mut hits) = (0.0f64, 0.0f64, 0u64);
        for t in 0..steps {
            let action = policy.act(&Observation::new(t, vec![x]))?;
            let [prediction] = action[..] else {
                return Err(ian_guest_sdk::agent_invalid_action(format!(
                    "step {t}: expected 1 value, got {}",
                    action.len()
                )));
            };
            x += rng.normal() * 0.1;
            let error = (prediction - x).abs();
            total += error;
            worst = worst.max(error);
            if error <= 0.05 {
                hits += 1;
            }
        }
        let n = steps as f64;
        Ok(Metrics::new(1.0 - total / n, worst).with_extra("hit_rate", hits as f64 / n))
    }
}

ian_guest_sdk::export_harness!(Forecast);

#[cfg(test)]
mod tests {
    use super::*;
    use ian_guest_sdk::{Action, Agent};

    /// Predicts that nothing moves: the baseline.
    struct Persistence;

    impl Agent for Persistence {
        fn init(_: &[u8]) -> Result<Self, String> {
            Ok(Persistence)
        }
        fn act(&mut self, obs: &Observation) -> Action {
            vec![obs.features[0]]
        }
    }

    /// Answers with two values: an invalid action for this goal.
    struct TwoValues;

    impl Agent for TwoValues {
        fn init(_: &[u8]) -> Result<Self, String> {
            Ok(TwoValues)
        }
        fn act(&mut self, _: &Observation) -> Action {
            vec![0.0, 0.0]
        }
    }

    #[test]
    fn scores_a_real_agent_deterministically() {
        let a = Forecast::evaluate(b"steps=50", 7, &mut Policy::native::<Persistence>(b"")).unwrap();
        let b = Forecast::evaluate(b"steps=50", 7, &mut Policy::native::<Persistence>(b"")).unwrap();
        assert_eq!(a, b);
        assert!(a.reward < 1.0 && a.risk > 0.0, "{a:?}");
        assert_eq!(a.extra[0].0, "hit_rate");
    }

    #[test]
    fn the_seed_changes_the_walk() {
        let a = Forecast::evaluate(b"", 1, &mut Policy::native::<Persistence>(b"")).unwrap();
        let b = Forecast::evaluate(b"", 2, &mut Policy::native::<Persistence>(b"")).unwrap();
        assert_ne!(a.reward, b.reward);
    }

    #[test]
    fn a_wrong_length_action_is_blamed_on_the_agent() {
        let mut policy = Policy::native::<TwoValues>(b"");
        let err = Forecast::evaluate(b"", 1, &mut policy).unwrap_err();
        assert!(err.starts_with(ian_guest_sdk::AGENT_INVALID_ACTION_TAG), "{err}");
        assert_eq!(policy.act_calls(), 1);
    }

    #[test]
    fn config_refuses_unknown_keys_and_out_of_range_steps() {
        assert_eq!(steps(b""), Ok(100));
        assert!(steps(b"stpes=5").unwrap_err().contains("stpes"));
        assert!(steps(b"steps=0").is_err());
    }
}
