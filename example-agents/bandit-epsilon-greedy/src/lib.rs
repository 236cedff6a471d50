//! Bandit agent: epsilon-greedy.
//!
//! With probability `epsilon` it pulls a uniformly random arm, otherwise the
//! arm with the best observed mean (untried arms count as mean 1.0, so each
//! is tried early). Its randomness comes from the SDK's deterministic PRNG
//! seeded by the `seed` param, so evaluations replay bit for bit. Params:
//! `epsilon` (default 0.1, 0..=1), `seed` (default 0).

use ian_guest_sdk::{Action, Agent, Observation, params::Params, rng::Rng};

struct EpsilonGreedy {
    epsilon: f64,
    rng: Rng,
    pulls: Vec<f64>,
    wins: Vec<f64>,
}

impl Agent for EpsilonGreedy {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        p.reject_unknown(&["epsilon", "seed"])?;
        let epsilon = p.f64_or("epsilon", 0.1)?;
        if !(0.0..=1.0).contains(&epsilon) {
            return Err(format!(
                "epsilon must be in [0, 1], got {}",
                p.get("epsilon").unwrap_or_default()
            ));
        }
        Ok(EpsilonGreedy {
            epsilon,
            rng: Rng::new(p.u64_or("seed", 0)?),
            pulls: Vec::new(),
            wins: Vec::new(),
        })
    }

    fn act(&mut self, obs: &Observation) -> Action {
        let (arms, last_arm, last_reward) = match obs.features.as_slice() {
            [a, l, r, ..] => (*a as usize, *l, *r),
            _ => return vec![0.0],
        };
        if arms == 0 {
            return vec![0.0];
        }
        if self.pulls.len() != arms {
            self.pulls = vec![0.0; arms];
            self.wins = vec![0.0; arms];
        }
        if last_arm >= 0.0 && (last_arm as usize) < arms {
            self.pulls[last_arm as usize] += 1.0;
            self.wins[last_arm as usize] += last_reward;
        }
        if self.rng.bernoulli(self.epsilon) {
            return vec![self.rng.below(arms as u64) as f64];
        }
        let mut best = (0usize, f64::NEG_INFINITY);
        for i in 0..arms {
            let mean = if self.pulls[i] == 0.0 {
                1.0
            } else {
                self.wins[i] / self.pulls[i]
            };
            if mean > best.1 {
                best = (i, mean);
            }
        }
        vec![best.0 as f64]
    }
}

ian_guest_sdk::export_agent!(EpsilonGreedy);
