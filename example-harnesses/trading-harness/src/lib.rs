//! Goal harness "trading": a backtest over a shipped daily price series.
//!
//! The series (`data/prices.csv`, 2000 business days, generated once by
//! `data/generate_prices.py` and committed) is embedded with `include_str!`
//! and parsed at *compile time* into a constant array, so an evaluation
//! spends no fuel on parsing and a malformed data file fails the build.
//!
//! Episode: the seed picks a start day `s`; for `t in 0..steps` the agent
//! sees `features = [price_{s+t}, price_{s+t}/price_{s+t-1} - 1]` and answers
//! `[position]` with `position` in `[-1, 1]`; the position is held over the
//! next day, earning `position * (price_{s+t+1}/price_{s+t} - 1)` minus a fee
//! of `fee_bps / 10_000 * |position - previous position|`.
//!
//! Metrics: reward = total return of the equity curve, risk = its maximum
//! drawdown (in `[0, 1]` unless equity goes negative), complexity = 0 (the
//! host measures agent fuel per step); extras: `sharpe` (annualised, 252
//! days; 0 for a flat curve) and `turnover` (sum of position changes).
//!
//! Config (UTF-8 `key=value`): `steps` (default 256, `1..=1998`),
//! `fee_bps` (default 5, `0..=1000`). Unknown keys are refused.

use ian_guest_sdk::{Harness, Metrics, Policy};

mod backtest;
pub use backtest::{
    Config, DEFAULT_FEE_BPS, DEFAULT_STEPS, backtest, parse_prices_csv, start_for_seed,
};

const CSV: &str = include_str!("../data/prices.csv");

/// Number of price rows in the embedded series.
pub const ROWS: usize = count_rows(CSV.as_bytes());

/// Closing prices, parsed at compile time from `data/prices.csv`.
pub static PRICES: [f64; ROWS] = parse_prices(CSV.as_bytes());

/// Counts the data rows (every non-empty line after the header).
const fn count_rows(b: &[u8]) -> usize {
    let mut i = 0;
    let mut lines = 0;
    let mut line_has_content = false;
    while i < b.len() {
        if b[i] == b'\n' {
            if line_has_content {
                lines += 1;
            }
            line_has_content = false;
        } else if b[i] != b'\r' {
            line_has_content = true;
        }
        i += 1;
    }
    if line_has_content {
        lines += 1;
    }
    lines - 1
}

/// Parses `date,close` rows whose close has exactly two decimals. Prices are
/// computed as `cents / 100.0`, a single correctly rounded division, so the
/// result is the same on every platform.
const fn parse_prices<const N: usize>(b: &[u8]) -> [f64; N] {
    let mut out = [0.0f64; N];
    let mut i = 0;
    // Skip the header line.
    while b[i] != b'\n' {
        i += 1;
    }
    i += 1;
    let mut row = 0;
    while row < N {
        while b[i] != b',' {
            i += 1;
        }
        i += 1;
        let mut cents: u64 = 0;
        while b[i] != b'.' {
            assert!(b[i].is_ascii_digit(), "prices.csv: non-digit in close");
            cents = cents * 10 + (b[i] - b'0') as u64;
            i += 1;
        }
        i += 1;
        assert!(
            b[i].is_ascii_digit() && b[i + 1].is_ascii_digit(),
            "prices.csv: close needs two decimals"
        );
        cents = cents * 100 + ((b[i] - b'0') as u64) * 10 + (b[i + 1] - b'0') as u64;
        i += 2;
        while i < b.len() && (b[i] == b'\r' || b[i] == b'\n') {
            i += 1;
        }
        assert!(cents > 0, "prices.csv: close must be positive");
        out[row] = cents as f64 / 100.0;
        row += 1;
    }
    out
}

struct Trading;

impl Harness for Trading {
    fn evaluate(config: &[u8], seed: u64, policy: &mut Policy) -> Result<Metrics, String> {
        let cfg = Config::parse(config, ROWS)?;
        backtest(&PRICES, cfg, seed, |obs| {
            policy.act(obs).map_err(String::from)
        })
    }
}

ian_guest_sdk::export_harness!(Trading);

#[cfg(test)]
mod tests {
    use super::*;
    use ian_guest_sdk::{Action, Observation};

    fn constant(position: f64) -> impl FnMut(&Observation) -> Result<Action, String> {
        move |_| Ok(vec![position])
    }

    #[test]
    fn embedded_series_has_2000_positive_rows() {
        assert_eq!(ROWS, 2000);
        assert_eq!(PRICES[0], 100.0);
        assert_eq!(PRICES[1], 102.13);
        assert_eq!(PRICES[ROWS - 1], 145.12);
        assert!(PRICES.iter().all(|p| *p > 0.0));
    }

    #[test]
    fn run_time_parser_matches_compile_time_parser_bit_for_bit() {
        let parsed = parse_prices_csv(CSV).unwrap();
        assert_eq!(parsed.len(), ROWS);
        assert!(
            parsed
                .iter()
                .zip(PRICES.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn run_time_parser_names_the_bad_line() {
        let err = parse_prices_csv("date,close\n2020-01-01,1.00\n2020-01-02,1.5\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(
            parse_prices_csv("when,price\n")
                .unwrap_err()
                .contains("header")
        );
        let err = parse_prices_csv("date,close\n2020-01-01,0.00\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn empty_config_means_defaults() {
        assert_eq!(
            Config::parse(b"", ROWS).unwrap(),
            Config {
                steps: 256,
                fee_bps: 5.0
            }
        );
    }

    #[test]
    fn config_refuses_unknown_keys_and_out_of_range_values() {
        assert!(
            Config::parse(b"stpes=10", ROWS)
                .unwrap_err()
                .contains("stpes")
        );
        assert!(Config::parse(b"steps=0", ROWS).is_err());
        assert!(Config::parse(b"steps=1999", ROWS).is_err());
        assert!(Config::parse(b"fee_bps=-1", ROWS).is_err());
    }

    #[test]
    fn flat_agent_earns_nothing_and_risks_nothing() {
        let cfg = Config::parse(b"", ROWS).unwrap();
        let m = backtest(&PRICES, cfg, 1, constant(0.0)).unwrap();
        assert_eq!((m.reward, m.risk, m.complexity), (0.0, 0.0, 0.0));
        assert_eq!(
            m.extra,
            vec![("sharpe".into(), 0.0), ("turnover".into(), 0.0)]
        );
    }

    #[test]
    fn fully_long_agent_earns_the_window_return_minus_one_entry_fee() {
        let cfg = Config {
            steps: 10,
            fee_bps: 0.0,
        };
        let m = backtest(&PRICES, cfg, 7, constant(1.0)).unwrap();
        let s = start_for_seed(7, 10, ROWS);
        let expected = PRICES[s + 10] / PRICES[s] - 1.0;
        assert!(
            (m.reward - expected).abs() < 1e-12,
            "{} vs {expected}",
            m.reward
        );
        assert_eq!(m.extra[1], ("turnover".into(), 1.0));
    }

    #[test]
    fn fees_reduce_the_return() {
        let free = backtest(
            &PRICES,
            Config {
                steps: 50,
                fee_bps: 0.0,
            },
            3,
            constant(1.0),
        )
        .unwrap();
        let paid = backtest(
            &PRICES,
            Config {
                steps: 50,
                fee_bps: 50.0,
            },
            3,
            constant(1.0),
        )
        .unwrap();
        assert!(paid.reward < free.reward);
    }

    #[test]
    fn short_mirrors_long_at_zero_fee_on_one_step() {
        let cfg = Config {
            steps: 1,
            fee_bps: 0.0,
        };
        let long = backtest(&PRICES, cfg, 9, constant(1.0)).unwrap();
        let short = backtest(&PRICES, cfg, 9, constant(-1.0)).unwrap();
        assert!((long.reward + short.reward).abs() < 1e-15);
        assert!(long.reward != 0.0);
    }

    #[test]
    fn drawdown_is_never_negative_and_seed_moves_the_window() {
        let cfg = Config::parse(b"", ROWS).unwrap();
        let a = backtest(&PRICES, cfg, 1, constant(1.0)).unwrap();
        let b = backtest(&PRICES, cfg, 2, constant(1.0)).unwrap();
        assert!(a.risk >= 0.0 && b.risk >= 0.0);
        assert_ne!(a.reward, b.reward);
        assert_ne!(start_for_seed(1, 256, ROWS), start_for_seed(2, 256, ROWS));
    }

    #[test]
    fn every_start_leaves_room_for_the_window() {
        for seed in 0..5000 {
            let s = start_for_seed(seed, 1998, ROWS);
            assert_eq!(s, 1);
            let s = start_for_seed(seed, 256, ROWS);
            assert!((1..=ROWS - 257).contains(&s));
        }
    }

    #[test]
    fn a_position_above_one_is_blamed_on_the_agent() {
        let err =
            backtest(&PRICES, Config::parse(b"", ROWS).unwrap(), 1, constant(1.5)).unwrap_err();
        assert!(
            err.starts_with(ian_guest_sdk::AGENT_INVALID_ACTION_TAG)
                && err.contains("step 0")
                && err.contains("1.5"),
            "{err}"
        );
    }

    /// Goes long after a rise and short after a fall: a real agent type,
    /// run natively through `Policy::native` as the host would run it.
    struct Momentum {
        size: f64,
    }

    impl ian_guest_sdk::Agent for Momentum {
        fn init(params: &[u8]) -> Result<Self, String> {
            let size = ian_guest_sdk::params::Params::parse(params)?.f64_or("size", 1.0)?;
            Ok(Momentum { size })
        }
        fn act(&mut self, obs: &Observation) -> Action {
            vec![self.size * obs.features[1].signum()]
        }
    }

    #[test]
    fn the_harness_scores_a_real_agent_through_the_native_policy() {
        let mut half = Policy::native::<Momentum>(b"size=0.5");
        let m = Trading::evaluate(b"steps=64,fee_bps=0", 3, &mut half).unwrap();
        assert_eq!(half.act_calls(), 64);
        assert!(m.risk >= 0.0 && m.reward != 0.0);
        // The same agent at double size moves twice as far each day.
        let mut full = Policy::native::<Momentum>(b"size=1");
        let m2 = Trading::evaluate(b"steps=1,fee_bps=0", 3, &mut full).unwrap();
        let mut half1 = Policy::native::<Momentum>(b"size=0.5");
        let m1 = Trading::evaluate(b"steps=1,fee_bps=0", 3, &mut half1).unwrap();
        assert!((m2.reward - 2.0 * m1.reward).abs() < 1e-15);
    }

    #[test]
    fn an_oversized_agent_position_is_the_agents_invalid_action() {
        let mut p = Policy::native::<Momentum>(b"size=2");
        let err = Trading::evaluate(b"steps=8", 1, &mut p).unwrap_err();
        assert!(
            err.starts_with(ian_guest_sdk::AGENT_INVALID_ACTION_TAG),
            "{err}"
        );
        assert_eq!(p.act_calls(), 1);
    }

    #[test]
    fn refuses_wrong_action_length() {
        let err = backtest(&PRICES, Config::parse(b"", ROWS).unwrap(), 1, |_| {
            Ok(vec![0.0, 0.0])
        })
        .unwrap_err();
        assert!(err.contains("expected 1 value, got 2"), "{err}");
    }

    #[test]
    fn passes_agent_errors_through_and_stops() {
        let mut calls = 0;
        let err = backtest(&PRICES, Config::parse(b"", ROWS).unwrap(), 1, |_| {
            calls += 1;
            Err("agent out of fuel".to_string())
        })
        .unwrap_err();
        assert_eq!((err.as_str(), calls), ("agent out of fuel", 1));
    }

    #[test]
    fn agent_sees_price_and_return() {
        let cfg = Config {
            steps: 3,
            fee_bps: 5.0,
        };
        let s = start_for_seed(4, 3, ROWS);
        let mut seen = Vec::new();
        backtest(&PRICES, cfg, 4, |o| {
            seen.push((o.step, o.features.clone()));
            Ok(vec![0.0])
        })
        .unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2].0, 2);
        assert_eq!(
            seen[2].1,
            vec![PRICES[s + 2], PRICES[s + 2] / PRICES[s + 1] - 1.0]
        );
    }
}
