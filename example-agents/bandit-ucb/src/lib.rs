//! Bandit agent: UCB1.
//!
//! Pulls every arm once, then the arm maximising
//! `mean_i + c * sqrt(ln t / n_i)`. Param: `c` (exploration weight,
//! default 1.0, 0..=100). Learns from the `[arms, last_arm, last_reward]`
//! observation of the bandit goal.

use ian_guest_sdk::{Action, Agent, Observation, params::Params};

struct Ucb {
    c: f64,
    pulls: Vec<f64>,
    wins: Vec<f64>,
}

impl Agent for Ucb {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        p.reject_unknown(&["c"])?;
        let c = p.f64_or("c", 1.0)?;
        if !(0.0..=100.0).contains(&c) {
            return Err(format!(
                "c must be in [0, 100], got {}",
                p.get("c").unwrap_or_default()
            ));
        }
        Ok(Ucb {
            c,
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
        if let Some(untried) = self.pulls.iter().position(|&n| n == 0.0) {
            return vec![untried as f64];
        }
        let t: f64 = self.pulls.iter().sum();
        let ln_t = t.ln();
        let mut best = (0usize, f64::NEG_INFINITY);
        for i in 0..arms {
            let score = self.wins[i] / self.pulls[i] + self.c * (ln_t / self.pulls[i]).sqrt();
            if score > best.1 {
                best = (i, score);
            }
        }
        vec![best.0 as f64]
    }
}

ian_guest_sdk::export_agent!(Ucb);
