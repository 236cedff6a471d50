//! The goal file (TOML) and its resolution into the hashed manifest.

use ian_core::goal::{
    Direction, GoalError, GoalId, GoalIdError, GoalSpec, Limits, RankingKind, ResolvedComponents,
};
use ian_core::hash::{Hash32, sha256};

/// The example from the project's contract, verbatim.
const CONTRACT_EXAMPLE: &str = r#"
id = "trading-v1"                       # [a-z0-9][a-z0-9-]{0,63}
title = "Trading: 256-step backtest"
[harness]
component = "../../target/components/trading-harness.wasm"   # relative to the goal file
# sha256 = "<hex>"                      # optional pin; must match the file
config = "steps=256,fee_bps=5"          # passed to evaluate() as UTF-8 bytes
seeds = [1, 2, 3]                       # evaluate once per seed; metrics = mean per field, in seed order
# dataset = "data/"                     # optional: read-only dir mounted at /data (WASI harnesses only)
[[invariants]]
name = "position-limit"
component = "../../target/components/position-limit-invariant.wasm"
[thresholds]                             # all optional; NaN/inf never pass
min_reward = -1.0
max_risk = 0.9
max_complexity = 100000.0
[ranking]
kind = "scalar"                          # or "pareto"
reward = 1.0                             # w_r
risk = 0.5                               # lambda
complexity = 0.0                         # mu
# objectives = ["reward:max", "risk:min"]   # for pareto
[limits]                                 # all optional, defaults documented
fuel_per_evaluation = 50_000_000         # total agent fuel per evaluate() call
fuel_per_call = 5_000_000                # agent fuel per act()/init()
harness_fuel = 500_000_000
memory_bytes = 67_108_864                # per-store linear memory cap (agent and harness each)
max_component_bytes = 4_194_304
max_action_len = 64
wall_backstop_ms = 10_000                # host protection only: -> inconclusive
[leaderboard]
capacity = 10
[proofs]                                 # optional
required = false
"#;

const MINIMAL: &str = r#"
id = "bandit-v1"
title = "Bandit"
[harness]
component = "bandit-harness.wasm"
seeds = [7]
"#;

fn resolved(n_inv: usize) -> ResolvedComponents {
    ResolvedComponents {
        harness: sha256(b"h"),
        invariants: (0..n_inv).map(|i| sha256(&[i as u8])).collect(),
        dataset: None,
    }
}

#[test]
fn parses_the_contract_example_keeping_paths_as_written() {
    let g = GoalSpec::from_toml(CONTRACT_EXAMPLE).unwrap();
    assert_eq!(g.id.as_str(), "trading-v1");
    assert_eq!(
        g.harness.component,
        "../../target/components/trading-harness.wasm"
    );
    assert_eq!(g.harness.config, "steps=256,fee_bps=5");
    assert_eq!(g.harness.seeds, vec![1, 2, 3]);
    assert_eq!(g.invariants[0].name, "position-limit");
    assert_eq!(g.thresholds.max_risk.unwrap().get(), 0.9);
    assert_eq!(g.ranking.kind, RankingKind::Scalar);
    assert_eq!(g.ranking.risk.get(), 0.5);
    assert_eq!(g.limits, Limits::default());
    assert_eq!(g.leaderboard.capacity, 10);
    assert!(!g.proofs.required);
}

#[test]
fn omitted_sections_take_documented_defaults() {
    let g = GoalSpec::from_toml(MINIMAL).unwrap();
    let l = &g.limits;
    assert_eq!(
        (
            l.fuel_per_evaluation,
            l.fuel_per_call,
            l.harness_fuel,
            l.memory_bytes
        ),
        (50_000_000, 5_000_000, 500_000_000, 64 << 20)
    );
    assert_eq!(
        (
            l.max_component_bytes,
            l.max_action_len,
            l.wall_backstop_ms,
            l.max_params_bytes
        ),
        (4 << 20, 64, 10_000, 64 << 10)
    );
    assert_eq!(l.pow_bits, 0, "proof-of-work is off unless the goal asks");
    assert_eq!(
        (
            g.ranking.reward.get(),
            g.ranking.risk.get(),
            g.ranking.complexity.get()
        ),
        (1.0, 0.0, 0.0)
    );
    assert_eq!(
        (g.leaderboard.capacity, g.leaderboard.frontier_capacity),
        (10, 1000)
    );
    assert_eq!(g.thresholds, Default::default());
    assert!(g.invariants.is_empty());
    assert_eq!(g.harness.config, "");
}

#[test]
fn unknown_field_is_refused_naming_it() {
    let t = MINIMAL.replace("seeds = [7]", "seeds = [7]\nseed = 3");
    match GoalSpec::from_toml(&t) {
        Err(GoalError::Toml(m)) => assert!(m.contains("seed"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn pareto_without_objectives_and_scalar_with_objectives_are_refused() {
    let t = format!("{MINIMAL}[ranking]\nkind = \"pareto\"\n");
    assert!(
        matches!(GoalSpec::from_toml(&t), Err(GoalError::Invalid(m)) if m.contains("objective"))
    );
    let t = format!("{MINIMAL}[ranking]\nobjectives = [\"reward:max\"]\n");
    assert!(matches!(GoalSpec::from_toml(&t), Err(GoalError::Invalid(m)) if m.contains("pareto")));
    let t = format!("{MINIMAL}[ranking]\nkind = \"pareto\"\nobjectives = [\"reward:up\"]\n");
    assert!(matches!(GoalSpec::from_toml(&t), Err(GoalError::Toml(_))));
}

#[test]
fn pareto_objectives_parse_with_direction() {
    let t = format!(
        "{MINIMAL}[ranking]\nkind = \"pareto\"\nobjectives = [\"reward:max\", \"risk:min\", \"sharpe:max\"]\n"
    );
    let g = GoalSpec::from_toml(&t).unwrap();
    assert_eq!(g.ranking.objectives.len(), 3);
    assert_eq!(g.ranking.objectives[1].direction, Direction::Min);
    assert_eq!(g.ranking.objectives[2].metric, "sharpe");
}

#[test]
fn empty_seed_list_and_zero_limits_are_refused() {
    let t = MINIMAL.replace("seeds = [7]", "seeds = []");
    assert!(matches!(GoalSpec::from_toml(&t), Err(GoalError::Invalid(m)) if m.contains("seeds")));
    let t = format!("{MINIMAL}[limits]\nfuel_per_call = 0\n");
    assert!(
        matches!(GoalSpec::from_toml(&t), Err(GoalError::Invalid(m)) if m.contains("fuel_per_call"))
    );
    let t = format!("{MINIMAL}[limits]\nfuel_per_call = 60000000\n");
    assert!(GoalSpec::from_toml(&t).is_err());
    let t = MINIMAL.replace("seeds = [7]", "seeds = [-1]");
    assert!(matches!(GoalSpec::from_toml(&t), Err(GoalError::Toml(_))));
}

#[test]
fn duplicate_invariant_names_are_refused() {
    let t = format!(
        "{MINIMAL}[[invariants]]\nname = \"a\"\ncomponent = \"x\"\n[[invariants]]\nname = \"a\"\ncomponent = \"y\"\n"
    );
    assert!(matches!(GoalSpec::from_toml(&t), Err(GoalError::Invalid(m)) if m.contains("twice")));
}

#[test]
fn proofs_required_without_any_kind_is_refused_and_bad_attester_key_is_refused() {
    let t = format!("{MINIMAL}[proofs]\nrequired = true\n");
    assert!(matches!(
        GoalSpec::from_toml(&t),
        Err(GoalError::Invalid(_))
    ));
    let t = format!("{MINIMAL}[proofs]\nattesters = [\"{}\"]\n", "zz".repeat(32));
    assert!(matches!(GoalSpec::from_toml(&t), Err(GoalError::Toml(_))));
}

#[test]
fn goal_id_rule_is_enforced() {
    assert!(GoalId::new("a").is_ok());
    assert!(GoalId::new("0-trading-v1").is_ok());
    assert!(GoalId::new("a".repeat(64)).is_ok());
    assert_eq!(GoalId::new(""), Err(GoalIdError::Empty));
    assert_eq!(GoalId::new("a".repeat(65)), Err(GoalIdError::TooLong(65)));
    for bad in ["-a", "Trading", "a_b", "a b", "a/..", "é"] {
        assert!(
            matches!(GoalId::new(bad), Err(GoalIdError::BadChar(_))),
            "{bad}"
        );
    }
}

#[test]
fn resolve_checks_pinned_hashes() {
    let pin = sha256(b"h");
    let t = MINIMAL.replace("seeds = [7]", &format!("seeds = [7]\nsha256 = \"{pin}\""));
    let g = GoalSpec::from_toml(&t).unwrap();
    assert!(g.resolve(&resolved(0)).is_ok());
    let wrong = ResolvedComponents {
        harness: sha256(b"other"),
        ..resolved(0)
    };
    assert_eq!(
        g.resolve(&wrong).unwrap_err(),
        GoalError::HashMismatch {
            component: "bandit-harness.wasm".into(),
            pinned: pin,
            actual: sha256(b"other")
        }
    );
}

#[test]
fn resolve_requires_one_hash_per_invariant() {
    let g = GoalSpec::from_toml(CONTRACT_EXAMPLE).unwrap();
    assert_eq!(
        g.resolve(&resolved(2)).unwrap_err(),
        GoalError::InvariantCount {
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn goal_hash_commits_to_every_rule_but_not_to_paths() {
    let base = GoalSpec::from_toml(CONTRACT_EXAMPLE).unwrap();
    let h = base.resolve(&resolved(1)).unwrap().goal_hash();
    let moved = GoalSpec::from_toml(&CONTRACT_EXAMPLE.replace("../../target/components/", "/opt/"))
        .unwrap();
    assert_eq!(moved.resolve(&resolved(1)).unwrap().goal_hash(), h);
    for (from, to) in [
        ("max_risk = 0.9", "max_risk = 0.8"),
        ("seeds = [1, 2, 3]", "seeds = [1, 3, 2]"),
        ("capacity = 10", "capacity = 11"),
        ("fuel_per_call = 5_000_000", "fuel_per_call = 5_000_001"),
        ("risk = 0.5 ", "risk = 0.25 "),
        ("fee_bps=5", "fee_bps=6"),
        (
            "wall_backstop_ms = 10_000 ",
            "wall_backstop_ms = 10_000\npow_bits = 8 ",
        ),
    ] {
        let t = CONTRACT_EXAMPLE.replace(from, to);
        assert_ne!(t, CONTRACT_EXAMPLE, "{from}");
        let g = GoalSpec::from_toml(&t).unwrap();
        assert_ne!(g.resolve(&resolved(1)).unwrap().goal_hash(), h, "{from}");
    }
    let other_harness = ResolvedComponents {
        harness: Hash32([7; 32]),
        ..resolved(1)
    };
    assert_ne!(base.resolve(&other_harness).unwrap().goal_hash(), h);
}

#[test]
fn manifest_json_is_validated_on_deserialisation() {
    let m = GoalSpec::from_toml(MINIMAL)
        .unwrap()
        .resolve(&resolved(0))
        .unwrap();
    let mut v = serde_json::to_value(&m).unwrap();
    v["leaderboard"]["capacity"] = 0.into();
    let e = serde_json::from_value::<ian_core::GoalManifest>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("leaderboard.capacity"), "{e}");
    let mut v = serde_json::to_value(&m).unwrap();
    v["surprise"] = 1.into();
    assert!(serde_json::from_value::<ian_core::GoalManifest>(v).is_err());
}

#[test]
fn pow_bits_are_read_from_limits_and_round_trip_through_the_manifest() {
    let g = GoalSpec::from_toml(&format!("{MINIMAL}[limits]\npow_bits = 8\n")).unwrap();
    assert_eq!(g.limits.pow_bits, 8);
    let m = g.resolve(&resolved(0)).unwrap();
    let back = ian_core::GoalManifest::from_canonical_bytes(&m.to_canonical_bytes()).unwrap();
    assert_eq!(back.limits.pow_bits, 8);
    assert_eq!(back, m);
}

#[test]
fn pow_bits_above_32_are_refused_naming_the_field() {
    let err = GoalSpec::from_toml(&format!("{MINIMAL}[limits]\npow_bits = 33\n")).unwrap_err();
    assert_eq!(
        err,
        GoalError::Invalid("limits.pow_bits 33 exceeds the maximum of 32".into())
    );
    assert!(GoalSpec::from_toml(&format!("{MINIMAL}[limits]\npow_bits = 32\n")).is_ok());
}
