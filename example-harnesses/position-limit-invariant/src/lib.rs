//! Goal invariant "position-limit": probes the agent and requires
//! `|action[0]| <= 1` (finite, exactly one value) on a fixed set of
//! observations.
//!
//! Probes: three synthetic price paths of 64 days each (steady rise, steady
//! fall, a calm market with a +20% spike then a -25% crash), in the trading
//! goal's layout `[price, one-step return]`. The agent is reset before each
//! path so every path starts from a fresh instance, like a real episode.
//! Pack metadata and parameters are not inspected.

use ian_guest_sdk::{Invariant, Observation, PackInfo, Policy};

/// Days per probe path.
pub const PROBE_DAYS: usize = 64;

/// The probe paths: name and price series.
pub fn probe_paths() -> Vec<(&'static str, Vec<f64>)> {
    let rise = (0..PROBE_DAYS)
        .map(|d| 100.0 * 1.01f64.powi(d as i32))
        .collect();
    let fall = (0..PROBE_DAYS)
        .map(|d| 100.0 * 0.99f64.powi(d as i32))
        .collect();
    let shock = (0..PROBE_DAYS)
        .map(|d| {
            let calm = 100.0 + if d % 2 == 0 { 0.5 } else { -0.5 };
            match d {
                40..=47 => calm * 1.2,
                48.. => calm * 0.9,
                _ => calm,
            }
        })
        .collect();
    vec![("rise", rise), ("fall", fall), ("shock", shock)]
}

/// Checks one answer; `Err` names the path, step and offending value.
pub fn check_action(path: &str, step: usize, action: &[f64]) -> Result<(), String> {
    match action {
        [p] if p.is_finite() && p.abs() <= 1.0 => Ok(()),
        [p] => Err(format!(
            "position {p} on probe path '{path}' at step {step} breaks the limit |position| <= 1"
        )),
        other => Err(format!(
            "action of length {} on probe path '{path}' at step {step}; expected exactly 1 value",
            other.len()
        )),
    }
}

struct PositionLimit;

impl Invariant for PositionLimit {
    fn check(_pack: &PackInfo, policy: &mut Policy) -> Result<(), String> {
        for (name, prices) in probe_paths() {
            policy.reset()?;
            for (step, window) in prices.windows(2).enumerate() {
                let obs =
                    Observation::new(step as u64, vec![window[1], window[1] / window[0] - 1.0]);
                let action = policy.act(&obs)?;
                check_action(name, step, &action)?;
            }
        }
        Ok(())
    }
}

ian_guest_sdk::export_invariant!(PositionLimit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_paths_are_positive_and_full_length() {
        for (_, p) in probe_paths() {
            assert_eq!(p.len(), PROBE_DAYS);
            assert!(p.iter().all(|x| *x > 0.0));
        }
    }

    #[test]
    fn accepts_positions_within_the_limit() {
        for p in [-1.0, -0.5, 0.0, 0.999, 1.0] {
            assert_eq!(check_action("rise", 0, &[p]), Ok(()));
        }
    }

    #[test]
    fn refuses_positions_beyond_the_limit_naming_path_and_step() {
        let err = check_action("shock", 41, &[1.5]).unwrap_err();
        assert!(
            err.contains("1.5") && err.contains("shock") && err.contains("41"),
            "{err}"
        );
        assert!(check_action("rise", 0, &[-1.0000001]).is_err());
        assert!(check_action("rise", 0, &[f64::NAN]).is_err());
    }

    #[test]
    fn refuses_wrong_action_length() {
        assert!(
            check_action("fall", 3, &[])
                .unwrap_err()
                .contains("length 0")
        );
        assert!(
            check_action("fall", 3, &[0.0, 0.0])
                .unwrap_err()
                .contains("length 2")
        );
    }
}
