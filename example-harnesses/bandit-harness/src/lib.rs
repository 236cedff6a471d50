//! Goal harness "bandit": a K-armed Bernoulli bandit.
//!
//! The seed fixes each arm's success probability (uniform in `[0.1, 0.9]`)
//! and one uniform draw `u_t` per step; pulling arm `a` at step `t` pays 1
//! if `u_t < p_a`, else 0. Using one draw per step whatever the arm ("common
//! random numbers") means two agents that pull the same arms get the same
//! rewards, which makes rankings less noisy.
//!
//! Observation at step `t`: `features = [arms, last_arm, last_reward]`
//! (`last_arm = -1`, `last_reward = 0` at `t = 0`). Action: `[arm]`, an
//! integer-valued float in `0..arms`; anything else ends the run with an
//! error.
//!
//! Metrics: reward = mean reward per step; risk = mean pseudo-regret per
//! step, `max_a p_a - p_chosen` (in `[0, 0.8]`); complexity = 0 (the host
//! measures it); extras: `best_arm_rate` (share of pulls of the best arm)
//! and `regret` (total pseudo-regret).
//!
//! Config (UTF-8 `key=value`): `arms` (default 5, `2..=64`), `steps`
//! (default 256, `1..=100000`). Unknown keys are refused.

use ian_guest_sdk::{Action, Harness, Metrics, Observation, Policy, params::Params, rng::Rng};

/// Parsed harness configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Number of arms.
    pub arms: usize,
    /// Number of pulls.
    pub steps: usize,
}

impl Config {
    /// Parses the goal's config bytes (empty = defaults).
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        let p = Params::parse(bytes).map_err(|e| format!("config: {e}"))?;
        p.reject_unknown(&["arms", "steps"])
            .map_err(|e| format!("config: {e}"))?;
        let arms = p.usize_or("arms", 5).map_err(|e| format!("config: {e}"))?;
        let steps = p
            .usize_or("steps", 256)
            .map_err(|e| format!("config: {e}"))?;
        if !(2..=64).contains(&arms) {
            return Err(format!("config: arms must be in 2..=64, got {arms}"));
        }
        if !(1..=100_000).contains(&steps) {
            return Err(format!("config: steps must be in 1..=100000, got {steps}"));
        }
        Ok(Config { arms, steps })
    }
}

/// The arms' success probabilities for `seed`.
pub fn arm_probabilities(seed: u64, arms: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..arms).map(|_| rng.range_f64(0.1, 0.9)).collect()
}

/// Runs one bandit episode against `agent`.
pub fn play(
    cfg: Config,
    seed: u64,
    mut agent: impl FnMut(&Observation) -> Result<Action, String>,
) -> Result<Metrics, String> {
    let probs = arm_probabilities(seed, cfg.arms);
    // A separate stream for the per-step draws, so adding arms to the
    // config does not shift the draws.
    let mut draws = Rng::new(seed ^ 0x6261_6e64_6974_5f75);
    let best_p = probs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (mut total, mut regret, mut best_pulls) = (0.0f64, 0.0f64, 0usize);
    let mut obs = Observation::new(0, vec![cfg.arms as f64, -1.0, 0.0]);
    for t in 0..cfg.steps {
        obs.step = t as u64;
        let action = agent(&obs)?;
        let arm = match action.as_slice() {
            [a] if a.is_finite() && a.fract() == 0.0 && *a >= 0.0 && *a < cfg.arms as f64 => {
                *a as usize
            }
            [a] => {
                return Err(ian_guest_sdk::agent_invalid_action(format!(
                    "step {t}: arm {a} is not an integer in 0..{}",
                    cfg.arms
                )));
            }
            other => {
                return Err(ian_guest_sdk::agent_invalid_action(format!(
                    "step {t}: expected 1 value, got {}",
                    other.len()
                )));
            }
        };
        let reward = if draws.next_f64() < probs[arm] {
            1.0
        } else {
            0.0
        };
        total += reward;
        regret += best_p - probs[arm];
        if probs[arm] == best_p {
            best_pulls += 1;
        }
        obs.features[1] = arm as f64;
        obs.features[2] = reward;
    }
    let n = cfg.steps as f64;
    Ok(Metrics::new(total / n, regret / n)
        .with_extra("best_arm_rate", best_pulls as f64 / n)
        .with_extra("regret", regret))
}

struct Bandit;

impl Harness for Bandit {
    fn evaluate(config: &[u8], seed: u64, policy: &mut Policy) -> Result<Metrics, String> {
        let cfg = Config::parse(config)?;
        play(cfg, seed, |obs| policy.act(obs).map_err(String::from))
    }
}

ian_guest_sdk::export_harness!(Bandit);

#[cfg(test)]
mod tests {
    use super::*;

    fn best_arm(seed: u64, arms: usize) -> usize {
        let p = arm_probabilities(seed, arms);
        (0..arms).fold(0, |b, i| if p[i] > p[b] { i } else { b })
    }

    #[test]
    fn empty_config_means_defaults() {
        assert_eq!(
            Config::parse(b"").unwrap(),
            Config {
                arms: 5,
                steps: 256
            }
        );
    }

    #[test]
    fn config_refuses_bad_values() {
        assert!(Config::parse(b"arms=1").is_err());
        assert!(Config::parse(b"arms=65").is_err());
        assert!(Config::parse(b"steps=0").is_err());
        assert!(Config::parse(b"k=3").unwrap_err().contains("\"k\""));
    }

    #[test]
    fn probabilities_depend_on_seed_and_stay_in_range() {
        let a = arm_probabilities(1, 5);
        assert_eq!(a, arm_probabilities(1, 5));
        assert_ne!(a, arm_probabilities(2, 5));
        assert!(a.iter().all(|p| (0.1..0.9).contains(p)));
    }

    #[test]
    fn oracle_agent_has_zero_regret() {
        let cfg = Config {
            arms: 5,
            steps: 500,
        };
        let best = best_arm(3, 5) as f64;
        let m = play(cfg, 3, |_| Ok(vec![best])).unwrap();
        assert_eq!(m.risk, 0.0);
        assert_eq!(m.extra[0], ("best_arm_rate".into(), 1.0));
        let p = arm_probabilities(3, 5)[best as usize];
        assert!((m.reward - p).abs() < 0.07, "{} vs {p}", m.reward);
    }

    #[test]
    fn worst_arm_has_positive_regret_and_lower_reward() {
        let cfg = Config {
            arms: 5,
            steps: 500,
        };
        let p = arm_probabilities(3, 5);
        let worst = (0..5).fold(0, |w, i| if p[i] < p[w] { i } else { w }) as f64;
        let best = best_arm(3, 5) as f64;
        let bad = play(cfg, 3, |_| Ok(vec![worst])).unwrap();
        let good = play(cfg, 3, |_| Ok(vec![best])).unwrap();
        assert!(bad.risk > 0.0);
        assert!(bad.reward < good.reward);
    }

    #[test]
    fn agent_sees_its_last_arm_and_reward() {
        let cfg = Config { arms: 3, steps: 4 };
        let mut seen = Vec::new();
        play(cfg, 1, |o| {
            seen.push(o.features.clone());
            Ok(vec![(o.step % 3) as f64])
        })
        .unwrap();
        assert_eq!(seen[0], vec![3.0, -1.0, 0.0]);
        assert_eq!(seen[1][..2], [3.0, 0.0]);
        assert_eq!(seen[3][..2], [3.0, 2.0]);
        assert!(seen.iter().all(|f| f[2] == 0.0 || f[2] == 1.0));
    }

    #[test]
    fn refuses_fractional_out_of_range_and_long_actions() {
        let cfg = Config { arms: 3, steps: 4 };
        assert!(
            play(cfg, 1, |_| Ok(vec![0.5]))
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(
            play(cfg, 1, |_| Ok(vec![3.0]))
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(play(cfg, 1, |_| Ok(vec![-1.0])).is_err());
        assert!(play(cfg, 1, |_| Ok(vec![])).unwrap_err().contains("got 0"));
    }
}
