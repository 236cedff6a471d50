//! The gauntlet: every way a contribution can be refused, the leaderboard
//! rules, and volume — each test one behaviour, asserting the exact typed
//! outcome.

mod support;

use ian_core::goal::{GoalError, GoalSpec};
use ian_core::hash::Hash32;
use ian_core::leaderboard::{FrontierChange, LeaderboardChange};
use ian_core::metrics::MetricsError;
use ian_core::mmr::{empty_root, leaf_hash, verify_inclusion};
use ian_core::pack::{AgentPack, Metadata, PackError};
use ian_core::pipeline::{FaultKind, GuestFault, Refusal, Rejection, Step, VerifiedContribution};
use ian_core::proofs::{ProofBundle, StandardProofVerifier};
use ian_core::{Contribution, Evaluator as _, GoalState};
use support::*;

fn run(s: &mut GoalState, c: &Contribution) -> Result<ian_core::Accepted, Rejection> {
    s.process(
        c,
        &ParamsEvaluator::default(),
        &ParamsInvariants::default(),
        &StandardProofVerifier,
        1_700_000_000_000,
    )
    .map_err(Refusal::unwrap_rejected)
}

#[test]
fn empty_goal_has_empty_root_and_empty_leaderboard() {
    let s = GoalState::new(manifest());
    assert_eq!(s.size(), 0);
    assert_eq!(s.root(), empty_root());
    assert!(s.leaderboard().is_empty());
    assert!(s.leaderboard().best().is_none());
    assert!(s.frontier().is_none());
    assert!(s.inclusion_proof(0).is_err());
}

#[test]
fn first_contribution_is_accepted_at_index_zero_and_provable() {
    let mut s = GoalState::new(manifest());
    let a = run(&mut s, &contribution("reward=0.5,risk=0.2", 1, 1)).unwrap();
    assert_eq!(a.entry.log_index, 0);
    assert_eq!(a.entry.score.get(), 0.5 - 0.5 * 0.2);
    assert_eq!(a.entry.harness_hash, s.manifest().harness.component);
    assert_eq!(a.entry.goal_hash, s.goal_hash());
    assert_eq!(
        a.leaderboard,
        LeaderboardChange::Entered {
            rank: 0,
            evicted: None
        }
    );
    assert_eq!(s.root(), a.leaf_hash);
    let p = s.inclusion_proof(0).unwrap();
    verify_inclusion(&s.root(), 1, 0, &a.entry.leaf_hash(), &p).unwrap();
    assert!(a.entry.verify_contributor_signature());
}

#[test]
fn duplicate_pack_is_refused_with_the_existing_index() {
    let mut s = GoalState::new(manifest());
    run(&mut s, &contribution("reward=0.5", 1, 1)).unwrap();
    let again = contribution("reward=0.5", 2, 2); // same pack, other contributor
    let r = run(&mut s, &again).unwrap_err();
    assert_eq!(
        r,
        Rejection::Duplicate {
            pack_hash: again.pack.pack_hash(),
            existing_index: 0
        }
    );
    assert_eq!(r.code(), "duplicate");
    assert_eq!(r.step(), Step::Dedup);
}

#[test]
fn duplicate_is_detected_before_the_signature_is_checked() {
    let mut s = GoalState::new(manifest());
    run(&mut s, &contribution("reward=0.5", 1, 1)).unwrap();
    let mut forged = contribution("reward=0.5", 2, 1);
    forged.signature.0[0] ^= 1;
    assert_eq!(run(&mut s, &forged).unwrap_err().code(), "duplicate");
}

#[test]
fn wrong_goal_id_is_refused() {
    let mut s = GoalState::new(manifest());
    let c = Contribution::sign(
        ian_core::GoalId::new("other-goal").unwrap(),
        pack("reward=1"),
        ProofBundle::empty(),
        1,
        &key(1),
    );
    assert_eq!(
        run(&mut s, &c).unwrap_err(),
        Rejection::WrongGoal {
            expected: goal_id(),
            got: ian_core::GoalId::new("other-goal").unwrap()
        }
    );
}

#[test]
fn tampered_params_break_the_signature() {
    let mut s = GoalState::new(manifest());
    let mut c = contribution("reward=0.1", 1, 1);
    c.pack = pack("reward=9.0");
    assert_eq!(run(&mut s, &c).unwrap_err(), Rejection::BadSignature);
    assert_eq!(s.size(), 0);
}

#[test]
fn signature_by_another_key_is_refused() {
    let mut s = GoalState::new(manifest());
    let mut c = contribution("reward=0.1", 1, 1);
    c.contributor = ian_core::PublicKeyBytes::of(&key(2));
    assert_eq!(run(&mut s, &c).unwrap_err(), Rejection::BadSignature);
}

#[test]
fn replayed_nonce_is_refused() {
    let mut s = GoalState::new(manifest());
    run(&mut s, &contribution("reward=0.1", 5, 1)).unwrap();
    let r = run(&mut s, &contribution("reward=0.2", 5, 1)).unwrap_err();
    assert_eq!(
        r,
        Rejection::ReplayedSubmission {
            nonce: 5,
            last_accepted: 5
        }
    );
    assert_eq!(r.code(), "replayed_submission");
    // Other contributors have their own sequence.
    run(&mut s, &contribution("reward=0.3", 1, 2)).unwrap();
    run(&mut s, &contribution("reward=0.4", 6, 1)).unwrap();
}

#[test]
fn params_over_the_goal_limit_are_refused() {
    let toml = format!("{GOAL_TOML}[limits]\nmax_params_bytes = 16\n");
    let mut s = GoalState::new(manifest_from(&toml));
    let r = run(&mut s, &contribution("reward=0.5,risk=0.25", 1, 1)).unwrap_err();
    assert_eq!(
        r,
        Rejection::TooLarge {
            field: "params",
            len: 20,
            max: 16
        }
    );
}

#[test]
fn invariant_violation_is_refused_naming_the_invariant_and_evaluation_never_runs() {
    let mut s = GoalState::new(manifest());
    let ev = ParamsEvaluator::default();
    let inv = ParamsInvariants::default();
    let r = s
        .process(
            &contribution("reward=1,violate", 1, 1),
            &ev,
            &inv,
            &StandardProofVerifier,
            0,
        )
        .unwrap_err()
        .unwrap_rejected();
    assert_eq!(
        r,
        Rejection::InvariantViolated {
            invariant: "position-limit".into(),
            fault: GuestFault::new(FaultKind::InvariantViolated, "|action[0]| = 2 > 1"),
        }
    );
    assert_eq!(r.step(), Step::Invariants);
    assert_eq!(inv.calls.get(), 1);
    assert_eq!(ev.calls.get(), 0);
}

#[test]
fn code_the_evaluator_cannot_run_is_refused_at_the_structure_step_before_any_invariant() {
    let mut s = GoalState::new(manifest());
    let ev = ParamsEvaluator::default();
    let inv = ParamsInvariants::default();
    let r = s
        .process(
            &contribution("badcode=forbidden_import", 1, 1),
            &ev,
            &inv,
            &StandardProofVerifier,
            0,
        )
        .unwrap_err()
        .unwrap_rejected();
    assert_eq!(
        r,
        Rejection::InvalidCode(GuestFault::new(
            FaultKind::ForbiddenImport,
            "component imports `wasi:filesystem/types@0.2.6`",
        ))
    );
    assert_eq!(r.code(), "invalid_code");
    assert_eq!(r.fault_kind(), Some(FaultKind::ForbiddenImport));
    assert_eq!(r.reason_code(), "forbidden_import");
    assert_eq!(r.step(), Step::Structure);
    assert_eq!(inv.calls.get(), 0);
    assert_eq!(ev.calls.get(), 0);
    assert_eq!(s.size(), 0);
}

#[test]
fn evaluation_failure_carries_the_sandbox_reason_code() {
    let mut s = GoalState::new(manifest());
    let r = run(&mut s, &contribution("fail=agent_out_of_fuel", 1, 1)).unwrap_err();
    assert_eq!(r.code(), "evaluation_failed");
    assert_eq!(r.fault_kind(), Some(FaultKind::AgentOutOfFuel));
    assert_eq!(r.step(), Step::Evaluation);
    let rep = serde_json::to_value(r.report()).unwrap();
    assert_eq!(rep["code"], "evaluation_failed");
    assert_eq!(rep["detail"], "agent_out_of_fuel");
    assert_eq!(rep["step"], "evaluation");
}

#[test]
fn below_threshold_is_refused_naming_the_metric() {
    let mut s = GoalState::new(manifest());
    let r = run(&mut s, &contribution("reward=-2", 1, 1)).unwrap_err();
    match &r {
        Rejection::BelowThreshold(m) => {
            assert_eq!(
                (m.metric, m.value, m.bound, m.is_minimum),
                ("reward", -2.0, -1.0, true)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let r = run(&mut s, &contribution("reward=0,risk=0.95", 2, 1)).unwrap_err();
    assert!(matches!(r, Rejection::BelowThreshold(ref m) if m.metric == "risk" && !m.is_minimum));
    assert_eq!(r.code(), "below_threshold");
}

#[test]
fn threshold_bound_itself_passes() {
    let mut s = GoalState::new(manifest());
    run(&mut s, &contribution("reward=-1,risk=0.9", 1, 1)).unwrap();
}

#[test]
fn nan_and_infinite_metrics_are_refused() {
    let mut s = GoalState::new(manifest());
    for (i, p) in [
        "reward=NaN",
        "reward=inf",
        "risk=-inf",
        "complexity=NaN",
        "reward=0,sharpe=NaN",
    ]
    .iter()
    .enumerate()
    {
        let r = run(&mut s, &contribution(p, i as u64 + 1, 1)).unwrap_err();
        assert!(
            matches!(r, Rejection::InvalidMetrics(MetricsError::NonFinite { .. })),
            "{p}: {r:?}"
        );
        assert_eq!(r.code(), "non_finite_metric");
    }
    assert_eq!(s.size(), 0);
}

#[test]
fn score_overflow_is_refused() {
    let toml = GOAL_TOML
        .replace("risk = 0.5", "risk = 1e308")
        .replace("max_risk = 0.9", "max_risk = 1e308");
    let mut s = GoalState::new(manifest_from(&toml));
    let r = run(&mut s, &contribution("reward=0,risk=-10", 1, 1)).unwrap_err();
    assert_eq!(r.code(), "non_finite_score");
}

#[test]
fn goal_file_with_nan_or_infinite_threshold_is_refused() {
    for bad in ["nan", "inf", "-inf"] {
        let toml = GOAL_TOML.replace("min_reward = -1.0", &format!("min_reward = {bad}"));
        assert!(
            matches!(GoalSpec::from_toml(&toml), Err(GoalError::Toml(_))),
            "{bad}"
        );
    }
    let toml = GOAL_TOML.replace("risk = 0.5", "risk = nan");
    assert!(matches!(
        GoalSpec::from_toml(&toml),
        Err(GoalError::Toml(_))
    ));
}

#[test]
fn k_plus_one_better_entry_evicts_the_worst() {
    let mut s = GoalState::new(manifest()); // capacity 3
    for (i, r) in ["0.1", "0.3", "0.2"].iter().enumerate() {
        run(
            &mut s,
            &contribution(&format!("reward={r}"), i as u64 + 1, 1),
        )
        .unwrap();
    }
    let a = run(&mut s, &contribution("reward=0.25", 10, 1)).unwrap();
    match a.leaderboard {
        LeaderboardChange::Entered {
            rank,
            evicted: Some(e),
        } => {
            assert_eq!(rank, 1);
            assert_eq!(e.log_index, 0);
            assert_eq!(e.score.get(), 0.1);
        }
        other => panic!("unexpected {other:?}"),
    }
    let scores: Vec<f64> = s
        .leaderboard()
        .entries()
        .iter()
        .map(|e| e.score.get())
        .collect();
    assert_eq!(scores, vec![0.3, 0.25, 0.2]);
    // A worse one is logged but not ranked.
    let a = run(&mut s, &contribution("reward=0.05", 11, 1)).unwrap();
    assert_eq!(a.leaderboard, LeaderboardChange::NotRanked);
    assert_eq!(s.size(), 5);
}

#[test]
fn equal_scores_rank_the_earlier_log_index_first() {
    let mut s = GoalState::new(manifest());
    run(&mut s, &contribution("reward=0.5,risk=0", 1, 1)).unwrap(); // score 0.5
    run(&mut s, &contribution("reward=0.6,risk=0.2", 2, 1)).unwrap(); // score 0.5
    run(&mut s, &contribution("reward=0.7,risk=0.4", 3, 1)).unwrap(); // score 0.5
    let order: Vec<u64> = s
        .leaderboard()
        .entries()
        .iter()
        .map(|e| e.log_index)
        .collect();
    assert_eq!(order, vec![0, 1, 2]);
}

#[test]
fn exact_tie_with_a_full_board_keeps_the_incumbent() {
    let mut s = GoalState::new(manifest());
    for i in 0..3u64 {
        run(
            &mut s,
            &contribution(&format!("reward=0.5,id={i}"), i + 1, 1),
        )
        .unwrap();
    }
    let a = run(&mut s, &contribution("reward=0.5,id=late", 9, 1)).unwrap();
    assert_eq!(a.leaderboard, LeaderboardChange::NotRanked);
    let order: Vec<u64> = s
        .leaderboard()
        .entries()
        .iter()
        .map(|e| e.log_index)
        .collect();
    assert_eq!(order, vec![0, 1, 2]);
}

#[test]
fn a_thousand_contributions_are_accepted_ranked_and_provable() {
    let mut s = GoalState::new(manifest());
    let mut entries = Vec::new();
    for i in 0..1000u64 {
        let r = (i * 7919 % 1000) as f64 / 1000.0;
        let a = run(
            &mut s,
            &contribution(&format!("reward={r},n={i}"), i + 1, (i % 5) as u8 + 1),
        )
        .unwrap();
        assert_eq!(a.entry.log_index, i);
        entries.push(a.entry);
    }
    assert_eq!(s.size(), 1000);
    let best: Vec<f64> = s
        .leaderboard()
        .entries()
        .iter()
        .map(|e| e.score.get())
        .collect();
    assert_eq!(best, vec![0.999, 0.998, 0.997]);
    let root = s.root();
    for e in &entries {
        let p = s.inclusion_proof(e.log_index).unwrap();
        verify_inclusion(
            &root,
            1000,
            e.log_index,
            &leaf_hash(&e.to_canonical_bytes()),
            &p,
        )
        .unwrap();
    }
    // Every one of them is now a duplicate.
    let r = run(&mut s, &contribution("reward=0.5,n=500", 5000, 1)).unwrap_err();
    assert!(matches!(
        r,
        Rejection::Duplicate {
            existing_index: 500,
            ..
        }
    ));
}

#[test]
fn a_rejection_leaves_the_state_untouched() {
    let mut s = GoalState::new(manifest());
    run(&mut s, &contribution("reward=0.5", 1, 1)).unwrap();
    let before = s.clone();
    for c in [
        contribution("reward=-5", 2, 1),
        contribution("fail=agent_trap", 3, 1),
        contribution("violate", 4, 1),
        contribution("reward=0.5", 5, 1),
        contribution("reward=NaN", 6, 1),
    ] {
        run(&mut s, &c).unwrap_err();
        assert!(s == before);
    }
    // Nonce 2 was never accepted, so it is still usable.
    run(&mut s, &contribution("reward=0.7", 2, 1)).unwrap();
}

#[test]
fn pre_verified_contributions_give_the_same_entries() {
    let mut a = GoalState::new(manifest());
    let mut b = GoalState::new(manifest());
    for i in 0..20u64 {
        let c = contribution(&format!("reward=0.{i}"), i + 1, 3);
        let x = run(&mut a, &c).unwrap();
        let v = VerifiedContribution::verify(c).unwrap();
        let y = b
            .process_verified(
                &v,
                &ParamsEvaluator::default(),
                &ParamsInvariants::default(),
                &StandardProofVerifier,
                1_700_000_000_000,
            )
            .unwrap();
        assert_eq!(x, y);
    }
    assert!(a == b);
    let mut bad = contribution("reward=1", 99, 3);
    bad.nonce = 100;
    assert_eq!(
        VerifiedContribution::verify(bad).unwrap_err(),
        Rejection::BadSignature
    );
}

#[test]
fn over_long_strings_are_refused_with_typed_errors() {
    let long_title = GOAL_TOML.replace("Trading: 256-step backtest", &"t".repeat(300));
    assert_eq!(
        GoalSpec::from_toml(&long_title).unwrap_err(),
        GoalError::TooLong {
            field: "title",
            len: 300,
            max: 256
        }
    );
    let long_id = GOAL_TOML.replace("trading-v1", &"a".repeat(65));
    assert!(matches!(GoalSpec::from_toml(&long_id), Err(GoalError::Toml(m)) if m.contains("64")));
    assert!(matches!(
        Metadata::new([("k".repeat(65), "v")]),
        Err(PackError::BadMetadataKey(_))
    ));
    assert_eq!(
        Metadata::new([("name", "v".repeat(1025))]).unwrap_err(),
        PackError::MetadataValueTooLong {
            key: "name".into(),
            len: 1025,
            max: 1024
        }
    );
    assert_eq!(
        AgentPack::new(code_hash(), vec![0; 1024 * 1024 + 1], Metadata::empty()).unwrap_err(),
        PackError::ParamsTooLarge {
            len: 1024 * 1024 + 1,
            max: 1024 * 1024
        }
    );
    assert!(matches!(
        ian_core::Metrics::from_raw(0.0, 0.0, 0.0, vec![("x".repeat(65), 1.0)]),
        Err(MetricsError::InvalidName(_))
    ));
    let too_many: Vec<(String, String)> = (0..33).map(|i| (format!("k{i}"), "v".into())).collect();
    assert_eq!(
        Metadata::new(too_many).unwrap_err(),
        PackError::TooManyMetadata { count: 33, max: 32 }
    );
}

#[test]
fn over_long_engine_version_from_an_evaluator_is_refused() {
    struct Verbose;
    impl ian_core::Evaluator for Verbose {
        fn evaluate(
            &self,
            g: &ian_core::GoalManifest,
            p: &AgentPack,
            h: &Hash32,
        ) -> ian_core::Verdict {
            match ParamsEvaluator::default().evaluate(g, p, h) {
                ian_core::Verdict::Evaluated(mut e) => {
                    e.engine_version = "w".repeat(129);
                    ian_core::Verdict::Evaluated(e)
                }
                other => other,
            }
        }
    }
    let mut s = GoalState::new(manifest());
    let r = s
        .process(
            &contribution("reward=1", 1, 1),
            &Verbose,
            &ParamsInvariants::default(),
            &StandardProofVerifier,
            0,
        )
        .unwrap_err()
        .unwrap_rejected();
    assert_eq!(r.code(), "invalid_evaluation");
}

#[test]
fn duplicate_extra_metric_names_are_refused() {
    assert_eq!(
        ian_core::Metrics::from_raw(0.0, 0.0, 0.0, vec![("a".into(), 1.0), ("a".into(), 2.0)])
            .unwrap_err(),
        MetricsError::DuplicateName("a".into())
    );
    assert_eq!(
        ian_core::Metrics::from_raw(0.0, 0.0, 0.0, vec![("reward".into(), 1.0)]).unwrap_err(),
        MetricsError::DuplicateName("reward".into())
    );
}

const PARETO_TOML: &str = r#"
id = "bandit-v1"
title = "Bandit"
[harness]
component = "h.wasm"
seeds = [7]
[ranking]
kind = "pareto"
objectives = ["reward:max", "risk:min"]
[leaderboard]
capacity = 5
"#;

fn pareto_contribution(reward: f64, risk: f64, nonce: u64) -> Contribution {
    Contribution::sign(
        ian_core::GoalId::new("bandit-v1").unwrap(),
        pack(&format!("reward={reward},risk={risk}")),
        ProofBundle::empty(),
        nonce,
        &key(1),
    )
}

#[test]
fn pareto_frontier_keeps_exactly_the_non_dominated_points() {
    let mut s = GoalState::new(manifest_from(PARETO_TOML));
    let pts = [
        (1.0, 0.5),
        (2.0, 0.9),
        (0.5, 0.1),
        (1.5, 0.5),
        (1.0, 0.4),
        (0.2, 0.2),
        (1.5, 0.5),
    ];
    let mut changes = Vec::new();
    for (i, (r, k)) in pts.iter().enumerate() {
        let c = pareto_contribution(*r, *k, i as u64 + 1);
        // The last point repeats (1.5, 0.5) with a different pack (params
        // differ in formatting) — an exact objective tie.
        let c = if i == 6 {
            Contribution::sign(
                c.goal_id.clone(),
                pack("reward=1.50,risk=0.50"),
                ProofBundle::empty(),
                7,
                &key(1),
            )
        } else {
            c
        };
        changes.push(run(&mut s, &c).unwrap().frontier.unwrap());
    }
    let f = s.frontier().unwrap();
    let mut members: Vec<(f64, f64)> = f
        .members()
        .iter()
        .map(|m| (m.metrics.reward.get(), m.metrics.risk.get()))
        .collect();
    members.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        members,
        vec![(0.5, 0.1), (1.0, 0.4), (1.5, 0.5), (2.0, 0.9)]
    );
    // (1.5,0.5) removed (1.0,0.5); (1.0,0.4) joined; (0.2,0.2) dominated; the tie kept the incumbent.
    assert_eq!(changes[3], FrontierChange::Joined { removed: vec![0] });
    assert_eq!(changes[5], FrontierChange::NotJoined);
    assert_eq!(changes[6], FrontierChange::NotJoined);
}

#[test]
fn pareto_objective_on_a_missing_extra_metric_is_refused() {
    let toml = PARETO_TOML.replace(
        r#"["reward:max", "risk:min"]"#,
        r#"["reward:max", "sharpe:max"]"#,
    );
    let mut s = GoalState::new(manifest_from(&toml));
    let c = pareto_contribution(1.0, 0.1, 1);
    assert_eq!(
        run(&mut s, &c).unwrap_err(),
        Rejection::MissingMetric("sharpe".into())
    );
    let c = Contribution::sign(
        c.goal_id.clone(),
        pack("reward=1,sharpe=2"),
        ProofBundle::empty(),
        2,
        &key(1),
    );
    run(&mut s, &c).unwrap();
}

#[test]
fn inconclusive_evaluation_is_no_rejection_and_leaves_no_trace() {
    let mut s = GoalState::new(manifest());
    let before = s.clone();
    let r = s
        .process(
            &contribution("reward=1,inconclusive=backstop", 1, 1),
            &ParamsEvaluator::default(),
            &ParamsInvariants::default(),
            &StandardProofVerifier,
            0,
        )
        .unwrap_err();
    assert!(
        matches!(&r, Refusal::Inconclusive(i) if i.cause == ian_core::InconclusiveCause::WallBackstop),
        "{r:?}"
    );
    assert!(r.rejection().is_none());
    assert!(s == before);
    // The same nonce is still usable: nothing was recorded.
    run(&mut s, &contribution("reward=1", 1, 1)).unwrap();
}

#[test]
fn admission_reads_the_state_but_does_not_change_it() {
    let s = GoalState::new(manifest());
    let before = s.clone();
    let v = VerifiedContribution::verify(contribution("reward=1", 1, 1)).unwrap();
    let a = s
        .admit(
            v,
            &ParamsEvaluator::default(),
            &ParamsInvariants::default(),
            &StandardProofVerifier,
        )
        .unwrap();
    assert!(s == before);
    assert_eq!(a.contribution().nonce, 1);
}

#[test]
fn commit_refuses_a_pack_logged_after_its_admission() {
    let mut s = GoalState::new(manifest());
    let ev = ParamsEvaluator::default();
    let inv = ParamsInvariants::default();
    let c = contribution("reward=1", 1, 1);
    let admit = |s: &GoalState| {
        s.admit(
            VerifiedContribution::verify(c.clone()).unwrap(),
            &ev,
            &inv,
            &StandardProofVerifier,
        )
        .unwrap()
    };
    // Two admissions of the same pack race; the second commit loses.
    let first = admit(&s);
    let second = admit(&s);
    let v1 = ian_core::pipeline::evaluate(s.manifest(), &first, &ev);
    let v2 = ian_core::pipeline::evaluate(s.manifest(), &second, &ev);
    s.commit(first, v1, 0).unwrap();
    let r = s.commit(second, v2, 0).unwrap_err().unwrap_rejected();
    assert_eq!(
        r,
        Rejection::Duplicate {
            pack_hash: c.pack.pack_hash(),
            existing_index: 0
        }
    );
    assert_eq!(s.size(), 1);
}

#[test]
fn parallel_submissions_commit_in_any_order_within_the_nonce_window() {
    let mut s = GoalState::new(manifest());
    let ev = ParamsEvaluator::default();
    let inv = ParamsInvariants::default();
    let admit = |s: &GoalState, params: &str, nonce: u64| {
        s.admit(
            VerifiedContribution::verify(contribution(params, nonce, 1)).unwrap(),
            &ev,
            &inv,
            &StandardProofVerifier,
        )
        .unwrap()
    };
    let low = admit(&s, "reward=0.1", 5);
    let high = admit(&s, "reward=0.2", 6);
    let vh = ian_core::pipeline::evaluate(s.manifest(), &high, &ev);
    s.commit(high, vh, 0).unwrap();
    let vl = ian_core::pipeline::evaluate(s.manifest(), &low, &ev);
    s.commit(low, vl, 0).unwrap();
    assert_eq!(s.size(), 2);
    // Each nonce still counts once.
    let again = run(&mut s, &contribution("reward=0.3", 5, 1)).unwrap_err();
    assert_eq!(
        again,
        Rejection::ReplayedSubmission {
            nonce: 5,
            last_accepted: 6
        }
    );
}

#[test]
fn a_nonce_more_than_the_window_below_the_highest_is_refused() {
    let mut s = GoalState::new(manifest());
    run(&mut s, &contribution("reward=0.1", 100, 1)).unwrap();
    // 100 - 64 = 36 is the lowest nonce still inside the window.
    run(&mut s, &contribution("reward=0.2", 36, 1)).unwrap();
    let r = run(&mut s, &contribution("reward=0.3", 35, 1)).unwrap_err();
    assert_eq!(
        r,
        Rejection::ReplayedSubmission {
            nonce: 35,
            last_accepted: 100
        }
    );
    assert_eq!(s.size(), 2);
}

#[test]
fn the_nonce_window_slides_with_the_highest_nonce() {
    use ian_core::pipeline::{NONCE_WINDOW, NonceWindow};
    let mut w = NonceWindow::first(10);
    assert!(!w.admits(10));
    assert!(w.admits(9) && w.admits(11));
    w.record(9);
    assert!(!w.admits(9));
    w.record(10 + NONCE_WINDOW); // 9 and 10 slide out of reach
    assert!(!w.admits(9) && !w.admits(10));
    assert!(w.admits(11) && w.admits(10 + NONCE_WINDOW - 1));
    w.record(12 + NONCE_WINDOW);
    // The old highest (10 + W) is now 2 below the new one and still used.
    assert!(!w.admits(10 + NONCE_WINDOW));
    w.record(1000);
    assert_eq!(w, NonceWindow { max: 1000, seen: 0 });
}

#[test]
fn commit_refuses_an_admission_for_another_goal() {
    let other_toml = GOAL_TOML.replace("trading-v1", "trading-v2");
    let other = manifest_from(&other_toml);
    let mut s = GoalState::new(manifest());
    let o = GoalState::new(other);
    let ev = ParamsEvaluator::default();
    let c = Contribution::sign(
        o.manifest().id.clone(),
        pack("reward=1"),
        ProofBundle::empty(),
        1,
        &key(1),
    );
    let a = o
        .admit(
            VerifiedContribution::verify(c).unwrap(),
            &ev,
            &ParamsInvariants::default(),
            &StandardProofVerifier,
        )
        .unwrap();
    let v = ian_core::pipeline::evaluate(o.manifest(), &a, &ev);
    let r = s.commit(a, v, 0).unwrap_err().unwrap_rejected();
    assert_eq!(r.code(), "wrong_goal");
    assert_eq!(s.size(), 0);
}

#[test]
fn rejudging_an_entry_with_its_own_evaluation_finds_no_difference() {
    let mut s = GoalState::new(manifest());
    let c = contribution("reward=0.5,risk=0.25,sharpe=1.5", 1, 1);
    let entry = run(&mut s, &c).unwrap().entry;
    let verdict = ParamsEvaluator::default().evaluate(s.manifest(), &c.pack, &entry.pack_hash);
    let d = ian_core::pipeline::rejudge(s.manifest(), &entry, verdict).unwrap();
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn rejudging_names_each_field_the_evaluation_does_not_reproduce() {
    let mut s = GoalState::new(manifest());
    let c = contribution("reward=0.5,risk=0.25,sharpe=1.5", 1, 1);
    let entry = run(&mut s, &c).unwrap().entry;
    let ian_core::Verdict::Evaluated(mut e) =
        ParamsEvaluator::default().evaluate(s.manifest(), &c.pack, &entry.pack_hash)
    else {
        panic!("evaluated")
    };
    e.fuel_used += 1;
    e.metrics.extra[0].1 = f64::from_bits(1.5f64.to_bits() + 1);
    let d =
        ian_core::pipeline::rejudge(s.manifest(), &entry, ian_core::Verdict::Evaluated(e)).unwrap();
    let fields: Vec<&str> = d.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(fields, vec!["fuel_used", "extra.sharpe"]);
}

#[test]
fn rejudging_with_a_failed_verdict_is_the_rejection_commit_would_give() {
    let mut s = GoalState::new(manifest());
    let c = contribution("reward=0.5", 1, 1);
    let entry = run(&mut s, &c).unwrap().entry;
    let f = GuestFault::new(FaultKind::AgentTrap, "agent trapped in act call #3");
    let r = ian_core::pipeline::rejudge(s.manifest(), &entry, ian_core::Verdict::Failed(f.clone()))
        .unwrap_err()
        .unwrap_rejected();
    assert_eq!(r, Rejection::EvaluationFailed(f));
}

#[test]
fn agent_names_with_nul_or_bidi_overrides_are_refused() {
    for (name, code) in [
        ("alice\u{0}", 0u32),
        ("\u{202E}ecila", 0x202E),
        ("bob\u{2066}", 0x2066),
        ("two\nlines", 0x0A),
    ] {
        assert_eq!(
            Metadata::new([("name", name)]).unwrap_err(),
            PackError::UnsafeMetadataChar {
                key: "name".into(),
                code
            },
            "{name:?}"
        );
    }
    assert!(Metadata::new([("name", "Ålice — ma-crossover 🙂")]).is_ok());
}

#[test]
fn goal_titles_with_bidi_overrides_are_refused() {
    let t = GOAL_TOML.replace("Trading: 256-step backtest", "Trading \u{202E}tset");
    assert_eq!(
        GoalSpec::from_toml(&t).unwrap_err(),
        GoalError::UnsafeChar {
            field: "title",
            code: 0x202E
        }
    );
}
