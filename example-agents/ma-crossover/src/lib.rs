//! Trading agent: moving-average crossover.
//!
//! Long (+1) while the `short`-day simple moving average of the price is
//! above the `long`-day one, short (-1) while it is below, flat until `long`
//! prices have been seen. Params: `short` (default 10), `long` (default 40),
//! with `1 <= short < long <= 1000`.

use std::collections::VecDeque;

use ian_guest_sdk::{Action, Agent, Observation, params::Params};

struct MaCrossover {
    short: usize,
    long: usize,
    prices: VecDeque<f64>,
}

impl Agent for MaCrossover {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        p.reject_unknown(&["short", "long"])?;
        let short = p.usize_or("short", 10)?;
        let long = p.usize_or("long", 40)?;
        if short == 0 || short >= long || long > 1000 {
            return Err(format!(
                "need 1 <= short < long <= 1000, got short={short} long={long}"
            ));
        }
        Ok(MaCrossover {
            short,
            long,
            prices: VecDeque::with_capacity(long),
        })
    }

    fn act(&mut self, obs: &Observation) -> Action {
        let Some(&price) = obs.features.first() else {
            return vec![0.0];
        };
        if self.prices.len() == self.long {
            self.prices.pop_front();
        }
        self.prices.push_back(price);
        if self.prices.len() < self.long {
            return vec![0.0];
        }
        let mean = |n: usize| self.prices.iter().rev().take(n).sum::<f64>() / n as f64;
        let (fast, slow) = (mean(self.short), mean(self.long));
        let position = if fast > slow {
            1.0
        } else if fast < slow {
            -1.0
        } else {
            0.0
        };
        vec![position]
    }
}

ian_guest_sdk::export_agent!(MaCrossover);
