//! Goal invariant "param-bounds": the pack's parameters must be short,
//! well-formed `key=value` text whose every value is a finite number within
//! fixed bounds.
//!
//! Rules: at most [`MAX_PARAMS_BYTES`] bytes; parses with
//! `ian_guest_sdk::params::Params`; every value parses as `f64`, is finite
//! and lies in `[-BOUND, BOUND]`. Empty params pass. The agent is not
//! probed.

use ian_guest_sdk::{Invariant, PackInfo, Policy, params::Params};

/// Largest accepted parameter blob.
pub const MAX_PARAMS_BYTES: usize = 1024;
/// Largest accepted absolute parameter value.
pub const BOUND: f64 = 1_000_000.0;
/// [`BOUND`] as printed in violation messages (formatting an `f64` would
/// link Rust's float printer into the component for one message).
const BOUND_TEXT: &str = "1000000";

/// Checks a parameter blob; `Err` names the first offending entry.
pub fn check_params(params: &[u8]) -> Result<(), String> {
    if params.len() > MAX_PARAMS_BYTES {
        return Err(format!(
            "params are {} bytes, more than the {MAX_PARAMS_BYTES}-byte limit",
            params.len()
        ));
    }
    let parsed = Params::parse(params).map_err(|e| format!("params do not parse: {e}"))?;
    for (key, value) in parsed.iter() {
        let x: f64 = value
            .parse()
            .map_err(|_| format!("param {key}={value:?} is not a number"))?;
        if !x.is_finite() {
            return Err(format!("param {key}={value} is not finite"));
        }
        if x.abs() > BOUND {
            return Err(format!(
                "param {key}={value} is outside [-{BOUND_TEXT}, {BOUND_TEXT}]"
            ));
        }
    }
    Ok(())
}

struct ParamBounds;

impl Invariant for ParamBounds {
    fn check(pack: &PackInfo, _policy: &mut Policy) -> Result<(), String> {
        check_params(&pack.params)
    }
}

ian_guest_sdk::export_invariant!(ParamBounds);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_empty_and_in_bound_params() {
        assert_eq!(check_params(b""), Ok(()));
        assert_eq!(check_params(b"short=5,long=20"), Ok(()));
        assert_eq!(check_params(b"z=-1e6\nc=0.5"), Ok(()));
    }

    #[test]
    fn refuses_non_finite_values() {
        assert!(check_params(b"z=NaN").unwrap_err().contains("not finite"));
        assert!(check_params(b"z=inf").unwrap_err().contains("not finite"));
    }

    #[test]
    fn refuses_values_outside_bounds() {
        assert!(
            check_params(b"long=1000001")
                .unwrap_err()
                .contains("outside")
        );
    }

    #[test]
    fn refuses_non_numeric_and_malformed_params() {
        assert!(
            check_params(b"mode=fast")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(check_params(b"oops").unwrap_err().contains("do not parse"));
    }

    #[test]
    fn refuses_params_over_one_kib() {
        let long = format!("a={}", "1".repeat(1100));
        assert!(
            check_params(long.as_bytes())
                .unwrap_err()
                .contains("1024-byte limit")
        );
        let edge = format!("a={}", "0".repeat(MAX_PARAMS_BYTES - 2));
        assert_eq!(check_params(edge.as_bytes()), Ok(()));
    }
}
