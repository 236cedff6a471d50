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

use ian_guest_sdk::{Action, Harness, Metrics, Observation, Policy, params::Params, rng::Rng};

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

/// Parsed harness configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Number of decisions per evaluation.
    pub steps: usize,
    /// Trading cost in basis points of the position change.
    pub fee_bps: f64,
}

/// Default number of steps.
pub const DEFAULT_STEPS: usize = 256;
/// Default fee in basis points.
pub const DEFAULT_FEE_BPS: f64 = 5.0;

impl Config {
    /// Parses the goal's config bytes (empty = defaults).
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        let p = Params::parse(bytes).map_err(|e| format!("config: {e}"))?;
        p.reject_unknown(&["steps", "fee_bps"])
            .map_err(|e| format!("config: {e}"))?;
        let steps = p
            .usize_or("steps", DEFAULT_STEPS)
            .map_err(|e| format!("config: {e}"))?;
        let fee_bps = p
            .f64_or("fee_bps", DEFAULT_FEE_BPS)
            .map_err(|e| format!("config: {e}"))?;
        // One day before the window (for the first return) and one after it
        // (to settle the last position) must exist.
        if steps == 0 || steps > ROWS - 2 {
            return Err(format!(
                "config: steps must be in 1..={}, got {steps}",
                ROWS - 2
            ));
        }
        if !(0.0..=1000.0).contains(&fee_bps) {
            return Err(format!(
                "config: fee_bps must be in [0, 1000], got {fee_bps}"
            ));
        }
        Ok(Config { steps, fee_bps })
    }
}

/// First day of the window for `seed`: uniform over every start that leaves
/// room for the previous day and the settling day.
pub fn start_for_seed(seed: u64, steps: usize, rows: usize) -> usize {
    let starts = (rows - steps - 1) as u64; // valid starts: 1..=rows-steps-1
    1 + Rng::new(seed).below(starts) as usize
}

/// Runs one backtest. `agent` answers each observation; its errors (the
/// host's agent faults) end the run unchanged.
pub fn backtest(
    prices: &[f64],
    cfg: Config,
    seed: u64,
    mut agent: impl FnMut(&Observation) -> Result<Action, String>,
) -> Result<Metrics, String> {
    if cfg.steps == 0 || prices.len() < cfg.steps + 2 {
        return Err(format!(
            "{} prices cannot hold a {}-step window",
            prices.len(),
            cfg.steps
        ));
    }
    let start = start_for_seed(seed, cfg.steps, prices.len());
    let fee_rate = cfg.fee_bps / 10_000.0;
    let (mut equity, mut peak, mut max_drawdown) = (1.0f64, 1.0f64, 0.0f64);
    let (mut previous, mut turnover) = (0.0f64, 0.0f64);
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    let mut obs = Observation::new(0, vec![0.0, 0.0]);
    for t in 0..cfg.steps {
        let i = start + t;
        obs.step = t as u64;
        obs.features[0] = prices[i];
        obs.features[1] = prices[i] / prices[i - 1] - 1.0;
        let action = agent(&obs)?;
        let position = match action.as_slice() {
            [p] if p.is_finite() && p.abs() <= 1.0 => *p,
            [p] => {
                return Err(format!(
                    "invalid action at step {t}: position {p} is outside [-1, 1]"
                ));
            }
            other => {
                return Err(format!(
                    "invalid action at step {t}: expected 1 value, got {}",
                    other.len()
                ));
            }
        };
        let change = (position - previous).abs();
        let step_return = position * (prices[i + 1] / prices[i] - 1.0) - fee_rate * change;
        equity *= 1.0 + step_return;
        peak = peak.max(equity);
        max_drawdown = max_drawdown.max(1.0 - equity / peak);
        turnover += change;
        previous = position;
        sum += step_return;
        sum_sq += step_return * step_return;
    }
    let n = cfg.steps as f64;
    let mean = sum / n;
    let var = (sum_sq / n - mean * mean).max(0.0);
    let sharpe = if var > 0.0 {
        mean / var.sqrt() * 252f64.sqrt()
    } else {
        0.0
    };
    Ok(Metrics::new(equity - 1.0, max_drawdown)
        .with_extra("sharpe", sharpe)
        .with_extra("turnover", turnover))
}

struct Trading;

impl Harness for Trading {
    fn evaluate(config: &[u8], seed: u64, policy: &mut Policy) -> Result<Metrics, String> {
        let cfg = Config::parse(config)?;
        backtest(&PRICES, cfg, seed, |obs| {
            policy.act(obs).map_err(String::from)
        })
    }
}

ian_guest_sdk::export_harness!(Trading);

#[cfg(test)]
mod tests {
    use super::*;

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
    fn empty_config_means_defaults() {
        assert_eq!(
            Config::parse(b"").unwrap(),
            Config {
                steps: 256,
                fee_bps: 5.0
            }
        );
    }

    #[test]
    fn config_refuses_unknown_keys_and_out_of_range_values() {
        assert!(Config::parse(b"stpes=10").unwrap_err().contains("stpes"));
        assert!(Config::parse(b"steps=0").is_err());
        assert!(Config::parse(b"steps=1999").is_err());
        assert!(Config::parse(b"fee_bps=-1").is_err());
    }

    #[test]
    fn flat_agent_earns_nothing_and_risks_nothing() {
        let cfg = Config::parse(b"").unwrap();
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
        let cfg = Config::parse(b"").unwrap();
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
    fn refuses_position_above_one() {
        let err = backtest(&PRICES, Config::parse(b"").unwrap(), 1, constant(1.5)).unwrap_err();
        assert!(
            err.contains("invalid action at step 0") && err.contains("1.5"),
            "{err}"
        );
    }

    #[test]
    fn refuses_wrong_action_length() {
        let err = backtest(&PRICES, Config::parse(b"").unwrap(), 1, |_| {
            Ok(vec![0.0, 0.0])
        })
        .unwrap_err();
        assert!(err.contains("expected 1 value, got 2"), "{err}");
    }

    #[test]
    fn passes_agent_errors_through_and_stops() {
        let mut calls = 0;
        let err = backtest(&PRICES, Config::parse(b"").unwrap(), 1, |_| {
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
