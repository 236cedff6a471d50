//! Trading agent: z-score mean reversion.
//!
//! Over the last `window` prices it computes the z-score of the current
//! price. It goes long (+1) when the z-score drops below `-z`, short (-1)
//! when it rises above `z`, and goes flat again once the price crosses back
//! over its rolling mean. Params: `window` (default 20, 2..=1000), `z`
//! (default 1.0, > 0).

use std::collections::VecDeque;

use ian_guest_sdk::{Action, Agent, Observation, params::Params};

struct MeanReversion {
    window: usize,
    z: f64,
    prices: VecDeque<f64>,
    position: f64,
}

impl Agent for MeanReversion {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        p.reject_unknown(&["window", "z"])?;
        let window = p.usize_or("window", 20)?;
        let z = p.f64_or("z", 1.0)?;
        if !(2..=1000).contains(&window) {
            return Err(format!("window must be in 2..=1000, got {window}"));
        }
        if z <= 0.0 {
            return Err(format!(
                "z must be > 0, got {}",
                p.get("z").unwrap_or_default()
            ));
        }
        Ok(MeanReversion {
            window,
            z,
            prices: VecDeque::with_capacity(window),
            position: 0.0,
        })
    }

    fn act(&mut self, obs: &Observation) -> Action {
        let Some(&price) = obs.features.first() else {
            return vec![self.position];
        };
        if self.prices.len() == self.window {
            self.prices.pop_front();
        }
        self.prices.push_back(price);
        if self.prices.len() < self.window {
            return vec![0.0];
        }
        let n = self.window as f64;
        let mean = self.prices.iter().sum::<f64>() / n;
        let var = self
            .prices
            .iter()
            .map(|p| (p - mean) * (p - mean))
            .sum::<f64>()
            / n;
        let std = var.sqrt();
        if std > 0.0 {
            let score = (price - mean) / std;
            if score > self.z {
                self.position = -1.0;
            } else if score < -self.z {
                self.position = 1.0;
            } else if (self.position > 0.0 && score >= 0.0) || (self.position < 0.0 && score <= 0.0)
            {
                self.position = 0.0;
            }
        }
        vec![self.position]
    }
}

ian_guest_sdk::export_agent!(MeanReversion);
