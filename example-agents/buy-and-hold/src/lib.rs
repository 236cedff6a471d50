//! Trading agent: holds a constant position, fully long by default.
//!
//! Params: `position` (default 1.0; -1.0 is buy-and-hold's mirror image).
//! The baseline every other trading agent should be compared to.

use ian_guest_sdk::{Action, Agent, Observation, params::Params};

struct BuyAndHold {
    position: f64,
}

impl Agent for BuyAndHold {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        p.reject_unknown(&["position"])?;
        let position = p.f64_or("position", 1.0)?;
        if !(-1.0..=1.0).contains(&position) {
            return Err(format!(
                "position must be in [-1, 1], got {}",
                p.get("position").unwrap_or_default()
            ));
        }
        Ok(BuyAndHold { position })
    }

    fn act(&mut self, _obs: &Observation) -> Action {
        vec![self.position]
    }
}

ian_guest_sdk::export_agent!(BuyAndHold);
