//! Goal harness "trading", WASI flavour: the same backtest as
//! `trading-harness`, but the price series is read at run time from
//! `/data/prices.csv` in the read-only dataset directory the host mounts
//! (goal file: `harness.dataset`). Given the same CSV it returns
//! bit-identical metrics to `trading-harness`; it exists to exercise the
//! host's WASI harness support (read-only dir, fixed clock, seeded random,
//! bounded output).
//!
//! Config, observation, action and metrics: see `trading-harness`.

use ian_guest_sdk::{Harness, Metrics, Policy};

#[path = "../../trading-harness/src/backtest.rs"]
mod backtest;

use backtest::{Config, backtest, parse_prices_csv};

/// Where the host mounts the goal's dataset directory.
pub const PRICES_PATH: &str = "/data/prices.csv";

struct TradingWasi;

impl Harness for TradingWasi {
    fn evaluate(config: &[u8], seed: u64, policy: &mut Policy) -> Result<Metrics, String> {
        let text = std::fs::read_to_string(PRICES_PATH)
            .map_err(|e| format!("cannot read {PRICES_PATH}: {e}"))?;
        let prices = parse_prices_csv(&text)?;
        let cfg = Config::parse(config, prices.len())?;
        backtest(&prices, cfg, seed, |obs| {
            policy.act(obs).map_err(String::from)
        })
    }
}

ian_guest_sdk::export_harness!(TradingWasi);
