//! A momentum agent for the example trading goal (`trading-v1`).
//!
//! Each step the goal shows `features = [price, one-step return]` and takes
//! `[position]` in `[-1, 1]`. This agent sums the last `lookback` returns and
//! holds `size` in their direction (flat when they cancel out).
//!
//! Params (text, e.g. `lookback=10,size=0.5`): `lookback` (default 60,
//! `1..=250`), `size` (default 1.0, `0..=1`). Unknown keys are refused, so a
//! typo fails at `init`, not silently.

use ian_guest_sdk::{Action, Agent, Observation, params::Params};

pub struct Momentum {
    lookback: usize,
    size: f64,
    returns: Vec<f64>,
}

impl Agent for Momentum {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        p.reject_unknown(&["lookback", "size"])?;
        let lookback = p.usize_or("lookback", 60)?;
        let size = p.f64_or("size", 1.0)?;
        if !(1..=250).contains(&lookback) {
            return Err(format!("lookback must be in 1..=250, got {lookback}"));
        }
        if !(0.0..=1.0).contains(&size) {
            return Err(format!("size must be in [0, 1], got {size}"));
        }
        Ok(Momentum {
            lookback,
            size,
            returns: Vec::with_capacity(lookback),
        })
    }

    fn act(&mut self, obs: &Observation) -> Action {
        let r = obs.features.get(1).copied().unwrap_or(0.0);
        if self.returns.len() == self.lookback {
            self.returns.remove(0);
        }
        self.returns.push(r);
        let trend: f64 = self.returns.iter().sum();
        let position = if trend > 0.0 {
            self.size
        } else if trend < 0.0 {
            -self.size
        } else {
            0.0
        };
        vec![position]
    }
}

ian_guest_sdk::export_agent!(Momentum);

#[cfg(test)]
mod tests {
    use super::*;

    fn step(agent: &mut Momentum, ret: f64) -> f64 {
        agent.act(&Observation::new(0, vec![100.0, ret]))[0]
    }

    #[test]
    fn follows_the_recent_trend() {
        // Returns that add up exactly in binary, so the signs are certain.
        let mut a = Momentum::init(b"lookback=3,size=0.5").unwrap();
        assert_eq!(step(&mut a, 0.25), 0.5);
        assert_eq!(step(&mut a, -0.75), -0.5);
        assert_eq!(step(&mut a, 0.25), -0.5);
        // The oldest return leaves the window: the first 0.25 is forgotten.
        assert_eq!(step(&mut a, 1.0), 0.5);
    }

    #[test]
    fn refuses_bad_params_with_a_reason() {
        let err = Momentum::init(b"lookback=0").err().unwrap();
        assert!(err.contains("lookback"), "{err}");
        assert!(Momentum::init(b"size=2").is_err());
        assert!(Momentum::init(b"lokback=3").is_err());
    }
}
