//! The same evaluation gives the same bits, every time, on every sandbox.

mod common;

use common::*;
use ian_sandbox::EvalReport;

fn bits(r: &EvalReport) -> (u64, u64, u64, Vec<(String, u64)>) {
    let m = r.outcome.as_ref().expect("metrics");
    (
        m.reward.to_bits(),
        m.risk.to_bits(),
        m.complexity.to_bits(),
        m.extra
            .iter()
            .map(|(k, v)| (k.clone(), v.to_bits()))
            .collect(),
    )
}

#[test]
fn same_evaluation_ten_times_gives_identical_metric_bits_and_fuel() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "mean-reversion");
    let first = sb.evaluate(&h, &a, b"window=20,z=1", TRADING_CONFIG, 42, &limits());
    assert!(first.outcome.is_ok(), "{:?}", first.outcome);
    for _ in 0..9 {
        let again = sb.evaluate(&h, &a, b"window=20,z=1", TRADING_CONFIG, 42, &limits());
        assert_eq!(bits(&again), bits(&first));
        assert_eq!(again.agent_fuel, first.agent_fuel);
        assert_eq!(again.agent_fuel_per_step, first.agent_fuel_per_step);
        assert_eq!(again.harness_fuel, first.harness_fuel);
    }
}

#[test]
fn a_fresh_sandbox_reproduces_the_same_report() {
    let run = |sb: &ian_sandbox::Sandbox| {
        let h = harness(sb, "bandit-harness");
        let a = agent(sb, "bandit-ucb");
        sb.evaluate(&h, &a, b"", b"arms=5,steps=256", 3, &limits())
    };
    let one = run(&fresh());
    let two = run(&fresh());
    assert!(one.outcome.is_ok(), "{:?}", one.outcome);
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(one, two);
}

/// Golden numbers: exact fuel and metric bits of two reference
/// evaluations. They change when the engine configuration, the wasmtime
/// version, the host's fuel accounting or the guest code changes, and such
/// a change must be deliberate because recorded results stop replaying.
/// To update after a deliberate change: run
/// `cargo test --release -p ian-sandbox --test determinism -- --nocapture golden`
/// and copy the printed values here (and mention it in the change log).
#[test]
fn golden_fuel_of_reference_evaluations() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let cases = [
        ("buy-and-hold", &b""[..], 150_227u64, 723u64, 110_340u64),
        (
            "ma-crossover",
            &b"short=5,long=20"[..],
            311_576,
            5_988,
            110_340,
        ),
    ];
    for (name, params, agent_fuel, init_fuel, harness_fuel) in cases {
        let a = agent(sb, name);
        let r = sb.evaluate(&h, &a, params, TRADING_CONFIG, 1, &limits());
        println!(
            "{name}: agent_fuel={} init={} harness={} steps={} reward_bits={:#x}",
            r.agent_fuel,
            r.agent_init_fuel,
            r.harness_fuel,
            r.steps,
            r.outcome.as_ref().map(|m| m.reward.to_bits()).unwrap_or(0)
        );
        assert!(r.outcome.is_ok(), "{name}: {:?}", r.outcome);
        assert_eq!(r.steps, 256, "{name}");
        assert_eq!(r.agent_fuel, agent_fuel, "{name}: agent fuel drifted");
        assert_eq!(r.agent_init_fuel, init_fuel, "{name}: init fuel drifted");
        assert_eq!(r.harness_fuel, harness_fuel, "{name}: harness fuel drifted");
        assert_eq!(
            r.agent_fuel,
            r.agent_init_fuel + r.agent_fuel_per_step.iter().sum::<u64>(),
            "{name}: per-step fuel must add up"
        );
    }
}

#[test]
fn complexity_is_mean_agent_fuel_per_act_call() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "ma-crossover");
    let r = sb.evaluate(&h, &a, b"short=5,long=20", TRADING_CONFIG, 9, &limits());
    let m = r.outcome.as_ref().unwrap();
    let per_step: u64 = r.agent_fuel_per_step.iter().sum();
    assert_eq!(r.agent_fuel_per_step.len(), 256);
    assert_eq!(m.complexity, per_step as f64 / 256.0);
    assert!(m.complexity > 0.0);
}

#[test]
fn goal_metrics_are_the_mean_over_seeds_in_order() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "ma-crossover");
    let seeds = [1u64, 2, 3];
    let goal = sb.evaluate_goal(
        &h,
        &a,
        b"short=5,long=20",
        TRADING_CONFIG,
        &seeds,
        &limits(),
    );
    let m = goal.outcome.as_ref().unwrap();
    let singles: Vec<_> = seeds
        .iter()
        .map(|&s| sb.evaluate(&h, &a, b"short=5,long=20", TRADING_CONFIG, s, &limits()))
        .collect();
    let rewards: Vec<f64> = singles
        .iter()
        .map(|r| r.outcome.as_ref().unwrap().reward)
        .collect();
    assert_eq!(
        m.reward.to_bits(),
        ((rewards[0] + rewards[1] + rewards[2]) / 3.0).to_bits()
    );
    assert_eq!(
        goal.agent_fuel,
        singles.iter().map(|r| r.agent_fuel).sum::<u64>()
    );
    assert_eq!(goal.steps, 3 * 256);
    assert_eq!(goal.runs, singles);
}

#[test]
fn goal_evaluation_stops_at_the_first_fault() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "hostile-panic");
    let goal = sb.evaluate_goal(&h, &a, b"", TRADING_CONFIG, &[1, 2, 3], &limits());
    assert_eq!(
        goal.outcome.as_ref().unwrap_err().reason_code(),
        "agent_trap"
    );
    assert_eq!(goal.runs.len(), 1);
}

#[test]
fn goal_without_seeds_is_a_harness_fault() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    let goal = sb.evaluate_goal(&h, &a, b"", TRADING_CONFIG, &[], &limits());
    assert_eq!(goal.outcome.unwrap_err().reason_code(), "harness_fault");
}
