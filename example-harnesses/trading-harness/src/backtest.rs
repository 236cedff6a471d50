//! The trading backtest itself, independent of where the prices come from.
//! Shared (via `#[path]`) with `trading-harness-wasi`, which reads the same
//! series from its dataset directory, so both harnesses score agents
//! identically.

use ian_guest_sdk::{Action, Metrics, Observation, params::Params, rng::Rng};

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
    /// Parses the goal's config bytes (empty = defaults) for a series of
    /// `rows` prices.
    pub fn parse(bytes: &[u8], rows: usize) -> Result<Config, String> {
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
        if steps == 0 || steps > rows.saturating_sub(2) {
            return Err(format!(
                "config: steps must be in 1..={}, got {steps}",
                rows.saturating_sub(2)
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
                return Err(ian_guest_sdk::agent_invalid_action(format!(
                    "step {t}: position {p} is outside [-1, 1]"
                )));
            }
            other => {
                return Err(ian_guest_sdk::agent_invalid_action(format!(
                    "step {t}: expected 1 value, got {}",
                    other.len()
                )));
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

/// Parses a `date,close` CSV (header line first, closes with exactly two
/// decimals) at run time, with the same `cents / 100.0` arithmetic as the
/// compile-time parser, so both give bit-identical prices. Errors name the
/// 1-based line.
pub fn parse_prices_csv(text: &str) -> Result<Vec<f64>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == "date,close" => {}
        _ => return Err("prices: first line must be the header `date,close`".into()),
    }
    let mut prices = Vec::new();
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || {
            format!(
                "prices: line {}: expected `date,close` with a close like 123.45, got {line:?}",
                i + 1
            )
        };
        let (_, close) = line.split_once(',').ok_or_else(bad)?;
        let (whole, frac) = close.split_once('.').ok_or_else(bad)?;
        if whole.is_empty()
            || frac.len() != 2
            || !whole
                .bytes()
                .chain(frac.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let cents = whole
            .parse::<u64>()
            .ok()
            .and_then(|w| w.checked_mul(100))
            .and_then(|w| w.checked_add(frac.parse::<u64>().ok()?))
            .filter(|c| *c > 0)
            .ok_or_else(bad)?;
        prices.push(cents as f64 / 100.0);
    }
    if prices.len() < 3 {
        return Err(format!(
            "prices: need at least 3 rows, got {}",
            prices.len()
        ));
    }
    Ok(prices)
}
