//! Parameters change results in the expected way, and the numbers agree
//! with an independent computation from the shipped price series.

mod common;

use common::*;
use ian_sandbox::Metrics;

fn metrics(name: &str, params: &[u8], config: &[u8], seed: u64) -> Metrics {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, name);
    sb.evaluate(&h, &a, params, config, seed, &limits())
        .outcome
        .unwrap_or_else(|f| panic!("{name} {params:?}: {f}"))
}

#[test]
fn moving_average_windows_change_the_result() {
    let fast = metrics("ma-crossover", b"short=5,long=20", TRADING_CONFIG, 1);
    let slow = metrics("ma-crossover", b"short=10,long=50", TRADING_CONFIG, 1);
    assert_ne!(fast.reward.to_bits(), slow.reward.to_bits());
    assert_ne!(fast.extra, slow.extra);
}

#[test]
fn mean_reversion_threshold_changes_the_result() {
    let a = metrics("mean-reversion", b"window=20,z=1", TRADING_CONFIG, 1);
    let b = metrics("mean-reversion", b"window=20,z=2", TRADING_CONFIG, 1);
    assert_ne!(a.reward.to_bits(), b.reward.to_bits());
}

#[test]
fn seed_picks_a_different_window() {
    let a = metrics("buy-and-hold", b"", TRADING_CONFIG, 1);
    let b = metrics("buy-and-hold", b"", TRADING_CONFIG, 2);
    assert_ne!(a.reward.to_bits(), b.reward.to_bits());
}

/// Closing prices from the CSV shipped with the trading harness.
fn prices() -> Vec<f64> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../example-harnesses/trading-harness/data/prices.csv"
    );
    let text = std::fs::read_to_string(path).expect("prices.csv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').nth(1).unwrap().trim().parse::<f64>().unwrap())
        .collect()
}

/// The harness's documented window choice: xoshiro256** seeded through
/// SplitMix64, `1 + below(rows - steps - 1)`.
fn start_for_seed(seed: u64, steps: usize, rows: usize) -> usize {
    let mut sm = seed;
    let mut splitmix = || {
        sm = sm.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = sm;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut s = [splitmix(), splitmix(), splitmix(), splitmix()];
    let mut next = || {
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    };
    let n = (rows - steps - 1) as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = (next() as u128) * (n as u128);
        if (m as u64) >= threshold {
            return 1 + (m >> 64) as usize;
        }
    }
}

#[test]
fn buy_and_hold_reward_is_the_price_ratio_of_its_window() {
    let p = prices();
    assert_eq!(p.len(), 2000);
    for seed in [1u64, 2, 3, 77] {
        let m = metrics("buy-and-hold", b"position=1", b"steps=256,fee_bps=0", seed);
        let s = start_for_seed(seed, 256, p.len());
        let expected = p[s + 256] / p[s] - 1.0;
        assert!(
            (m.reward - expected).abs() < 1e-12,
            "seed {seed}: reward {} vs price ratio {expected}",
            m.reward
        );
        // Max drawdown of a fully invested position is the largest fall of
        // the price from its running peak inside the window.
        let mut peak = p[s];
        let mut drawdown = 0.0f64;
        for &price in &p[s..=s + 256] {
            peak = peak.max(price);
            drawdown = drawdown.max(1.0 - price / peak);
        }
        assert!(
            (m.risk - drawdown).abs() < 1e-12,
            "seed {seed}: risk {} vs {drawdown}",
            m.risk
        );
    }
}

#[test]
fn half_position_earns_about_half_the_return() {
    let full = metrics("buy-and-hold", b"position=1", b"steps=1,fee_bps=0", 5);
    let half = metrics("buy-and-hold", b"position=0.5", b"steps=1,fee_bps=0", 5);
    assert!(
        (half.reward - full.reward / 2.0).abs() < 1e-15,
        "{} vs {}",
        half.reward,
        full.reward
    );
}

#[test]
fn bandit_goal_runs_with_both_bandit_agents() {
    let sb = shared();
    let h = harness(sb, "bandit-harness");
    let ucb = agent(sb, "bandit-ucb");
    let eps = agent(sb, "bandit-epsilon-greedy");
    let r1 = sb.evaluate(&h, &ucb, b"", b"arms=5,steps=256", 11, &limits());
    let r2 = sb.evaluate(&h, &eps, b"", b"arms=5,steps=256", 11, &limits());
    let (m1, m2) = (r1.outcome.unwrap(), r2.outcome.unwrap());
    assert!((0.0..=1.0).contains(&m1.reward) && (0.0..=1.0).contains(&m2.reward));
    assert_ne!(m1.reward.to_bits(), m2.reward.to_bits());
    assert_eq!(r1.steps, 256);
}
