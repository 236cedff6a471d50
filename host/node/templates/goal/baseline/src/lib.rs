//! The goal's baseline agent: predicts that the value does not move
//! (`prediction = x_t`). `ian-host goal check --baseline` runs it on every
//! seed; a contributor's agent should beat it.
//!
//! Params: none (unknown keys are refused).

use ian_guest_sdk::{Action, Agent, Observation, params::Params};

pub struct Persistence;

impl Agent for Persistence {
    fn init(params: &[u8]) -> Result<Self, String> {
        Params::parse(params)?.reject_unknown(&[])?;
        Ok(Persistence)
    }

    fn act(&mut self, obs: &Observation) -> Action {
        vec![obs.features.first().copied().unwrap_or(0.0)]
    }
}

ian_guest_sdk::export_agent!(Persistence);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicts_the_current_value() {
        let mut a = Persistence::init(b"").unwrap();
        assert_eq!(a.act(&Observation::new(3, vec![0.25])), vec![0.25]);
    }

    #[test]
    fn refuses_params() {
        assert!(Persistence::init(b"x=1").is_err());
    }
}
