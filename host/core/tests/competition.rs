//! Phases, quotas and the log's clock, as the pipeline applies them at
//! commit and a replay checks them again from the entries alone.

mod support;

use ian_core::competition::UtcTime;
use ian_core::pipeline::{GoalState, Rejection, ReplayError};
use ian_core::proofs::StandardProofVerifier;
use ian_core::{Contribution, LogEntry};
use support::*;

const T0: &str = "2026-12-06T12:00:00Z";

fn at(s: &str) -> u64 {
    UtcTime::parse(s).unwrap().0
}

/// The test goal with one phase `main` from 12:00 to 12:00 two days later
/// (2 per day, 3 in all) and a later phase `final` with no quotas.
fn competition_goal() -> GoalState {
    let toml = format!(
        "{GOAL_TOML}\n[[phases]]\nname = \"main\"\nopens_at = \"{T0}\"\n\
         closes_at = \"2026-12-08T12:00:00Z\"\nmax_per_day = 2\nmax_total = 3\n\
         [[phases]]\nname = \"final\"\nopens_at = \"2026-12-09T00:00:00Z\"\n\
         closes_at = \"2026-12-10T00:00:00Z\"\n"
    );
    GoalState::new(manifest_from(&toml))
}

fn submit(s: &mut GoalState, c: &Contribution, now_ms: u64) -> Result<LogEntry, Rejection> {
    s.process(
        c,
        &ParamsEvaluator::default(),
        &ParamsInvariants::default(),
        &StandardProofVerifier,
        now_ms,
    )
    .map(|a| a.entry)
    .map_err(|r| r.unwrap_rejected())
}

fn code(r: Result<LogEntry, Rejection>) -> &'static str {
    r.expect_err("refused").code()
}

#[test]
fn submissions_before_the_first_phase_are_refused_naming_it() {
    let mut s = competition_goal();
    let r = submit(&mut s, &contribution("reward=0.1", 1, 1), at(T0) - 1);
    let e = r.unwrap_err();
    assert_eq!(e.code(), "phase_not_open");
    assert!(
        e.to_string().contains("main") && e.to_string().contains(T0),
        "{e}"
    );
    assert_eq!(s.size(), 0);
}

#[test]
fn submissions_between_phases_and_after_the_last_are_refused() {
    let mut s = competition_goal();
    let c = contribution("reward=0.1", 1, 1);
    assert_eq!(
        code(submit(&mut s, &c, at("2026-12-08T12:00:00Z"))),
        "between_phases"
    );
    assert_eq!(
        code(submit(&mut s, &c, at("2026-12-10T00:00:00Z"))),
        "competition_closed"
    );
    submit(&mut s, &c, at("2026-12-09T00:00:00Z")).expect("final phase is open");
}

#[test]
fn the_daily_quota_resets_at_midnight_utc_and_names_the_reset() {
    let mut s = competition_goal();
    submit(&mut s, &contribution("reward=0.1", 1, 1), at(T0)).unwrap();
    submit(&mut s, &contribution("reward=0.2", 2, 1), at(T0) + 1).unwrap();
    let e = submit(&mut s, &contribution("reward=0.3", 3, 1), at(T0) + 2).unwrap_err();
    assert_eq!(e.code(), "quota_exceeded");
    let text = e.to_string();
    assert!(
        text.contains("max_per_day") && text.contains("2026-12-07T00:00:00Z"),
        "{text}"
    );
    // Another contributor has their own quota.
    submit(&mut s, &contribution("reward=0.4", 1, 2), at(T0) + 3).unwrap();
    // The next UTC day: one more fits, then the phase total (3) is reached.
    submit(
        &mut s,
        &contribution("reward=0.3", 3, 1),
        at("2026-12-07T00:00:00Z"),
    )
    .unwrap();
    let e = submit(
        &mut s,
        &contribution("reward=0.5", 4, 1),
        at("2026-12-07T01:00:00Z"),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("max_total") && e.to_string().contains("does not reset"),
        "{e}"
    );
    // A new phase starts a new count.
    submit(
        &mut s,
        &contribution("reward=0.5", 4, 1),
        at("2026-12-09T00:00:00Z"),
    )
    .unwrap();
}

#[test]
fn entry_times_never_go_backwards_even_when_the_clock_does() {
    let mut s = competition_goal();
    let a = submit(&mut s, &contribution("reward=0.1", 1, 1), at(T0) + 5000).unwrap();
    let b = submit(&mut s, &contribution("reward=0.2", 1, 2), at(T0) + 1000).unwrap();
    assert_eq!(a.timestamp_ms, at(T0) + 5000);
    assert_eq!(
        b.timestamp_ms, a.timestamp_ms,
        "clamped to the last entry's time"
    );
}

#[test]
fn replay_refuses_a_log_whose_time_goes_backwards() {
    let mut s = competition_goal();
    let a = submit(&mut s, &contribution("reward=0.1", 1, 1), at(T0) + 5000).unwrap();
    let mut b = submit(&mut s, &contribution("reward=0.2", 1, 2), at(T0) + 6000).unwrap();
    b.timestamp_ms = at(T0) + 4000;
    let e = GoalState::replay(s.manifest().clone(), [&a, &b]).unwrap_err();
    assert!(
        matches!(e, ReplayError::TimeWentBackwards { index: 1, .. }),
        "{e}"
    );
}

#[test]
fn replay_refuses_an_entry_outside_every_phase_or_over_quota() {
    let mut s = competition_goal();
    let mut a = submit(&mut s, &contribution("reward=0.1", 1, 1), at(T0)).unwrap();
    a.timestamp_ms = at(T0) - 1;
    let e = GoalState::replay(s.manifest().clone(), [&a]).unwrap_err();
    assert!(e.to_string().contains("has not opened"), "{e}");

    let mut s = competition_goal();
    let entries: Vec<LogEntry> = (1..=2)
        .map(|n| {
            submit(
                &mut s,
                &contribution(&format!("reward=0.{n}"), n, 1),
                at(T0),
            )
            .unwrap()
        })
        .collect();
    // A third entry the node should have refused (over max_per_day).
    let mut third = entries[1].clone();
    third.log_index = 2;
    third.nonce = 3;
    third.pack_hash = pack("reward=0.3").pack_hash();
    let e = GoalState::replay(s.manifest().clone(), entries.iter().chain([&third])).unwrap_err();
    assert!(e.to_string().contains("max_per_day"), "{e}");
}

#[test]
fn a_snapshot_keeps_the_clock_and_the_quota_counts() {
    let mut s = competition_goal();
    submit(&mut s, &contribution("reward=0.1", 1, 1), at(T0)).unwrap();
    submit(&mut s, &contribution("reward=0.2", 2, 1), at(T0) + 7).unwrap();
    let restored = GoalState::restore(s.manifest().clone(), &s.snapshot()).unwrap();
    assert_eq!(restored, s);
    assert_eq!(restored.last_timestamp_ms(), at(T0) + 7);
    let mut r = restored;
    let e = submit(&mut r, &contribution("reward=0.3", 3, 1), at(T0) + 8).unwrap_err();
    assert_eq!(e.code(), "quota_exceeded");
}

#[test]
fn a_goal_without_phases_is_always_open() {
    let mut s = GoalState::new(manifest());
    submit(&mut s, &contribution("reward=0.1", 1, 1), 0).unwrap();
    assert!(
        s.check_open(&ian_core::PublicKeyBytes::of(&key(1)), u64::MAX)
            .is_ok()
    );
}

#[test]
fn a_per_contributor_board_shows_each_contributors_best_once_and_survives_a_snapshot() {
    let toml = format!("{GOAL_TOML}\n[competition]\nboard = \"per-contributor\"\n");
    let mut s = GoalState::new(manifest_from(&toml));
    for (n, (params, who)) in [
        ("reward=0.1", 1),
        ("reward=0.5", 1),
        ("reward=0.3", 2),
        ("reward=0.2", 1),
    ]
    .iter()
    .enumerate()
    {
        submit(&mut s, &contribution(params, n as u64 + 1, *who), 0).unwrap();
    }
    let rows: Vec<(u64, f64)> = s
        .leaderboard()
        .entries()
        .iter()
        .map(|m| (m.log_index, m.metrics.reward.get()))
        .collect();
    assert_eq!(rows, vec![(1, 0.5), (2, 0.3)]);
    let restored = GoalState::restore(s.manifest().clone(), &s.snapshot()).unwrap();
    assert_eq!(restored, s);
}

mod finals {
    use super::*;
    use ian_core::competition::SeedSecret;
    use ian_core::pipeline::{Evaluator, RevealRefusal};
    use ian_core::record::{EvalEnv, FinalOutcome, LogRecord, sign_selection};

    const CLOSE: &str = "2026-12-07T12:00:00Z";

    fn secret() -> SeedSecret {
        SeedSecret::from_bytes([42; 32])
    }

    fn hidden_goal() -> GoalState {
        let toml = format!(
            "{GOAL_TOML}\n[[phases]]\nname = \"main\"\nopens_at = \"{T0}\"\ncloses_at = \"{CLOSE}\"\n\
             [competition]\nfinal_selections = 1\n\
             hidden_seeds = {{ commitment = \"{}\", count = 5 }}\n",
            secret().commitment()
        );
        GoalState::new(manifest_from(&toml))
    }

    fn env() -> EvalEnv {
        EvalEnv {
            fuel_used: 0,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: ian_core::sha256(b"sandbox config"),
            abi_version: "ian:eval@0.1.0".into(),
            harness_hash: ian_core::sha256(b"harness component"),
        }
    }

    /// Alice logs 0.1 then 0.5 and selects her first entry; Bob logs 0.3
    /// and selects nothing. Every leaf, in order.
    fn competition_log(s: &mut GoalState) -> Vec<LogRecord> {
        let mut log = Vec::new();
        for (params, nonce, who) in [
            ("reward=0.1", 1, 1),
            ("reward=0.5", 2, 1),
            ("reward=0.3", 1, 2),
        ] {
            let e = submit(s, &contribution(params, nonce, who), at(T0)).unwrap();
            log.push(LogRecord::Entry(e));
        }
        let (k, sig) = sign_selection(&goal_id(), 1, &[0], &key(1));
        log.push(s.commit_selection(k, 1, vec![0], sig, at(T0) + 1).unwrap());
        log
    }

    /// Runs the final evaluation with the params evaluator until done.
    fn run_finals(s: &mut GoalState, log: &mut Vec<LogRecord>, now: u64) {
        let ev = ParamsEvaluator::default();
        while let Some(next) = s.final_pending() {
            let params = match next.index {
                0 => "reward=0.1",
                1 => "reward=0.5",
                _ => "reward=0.3",
            };
            let p = pack(params);
            assert_eq!(p.pack_hash(), next.pack_hash);
            let verdict = ev.evaluate(s.manifest(), &p, &next.pack_hash);
            log.push(s.commit_final(verdict, env(), now).unwrap());
        }
    }

    #[test]
    fn the_reveal_is_refused_before_the_close_and_with_the_wrong_secret() {
        let mut s = hidden_goal();
        competition_log(&mut s);
        let early = s.commit_reveal(secret(), at(CLOSE) - 1).unwrap_err();
        assert!(matches!(early, RevealRefusal::TooEarly { .. }), "{early}");
        let wrong = s
            .commit_reveal(SeedSecret::from_bytes([1; 32]), at(CLOSE))
            .unwrap_err();
        assert!(
            matches!(wrong, RevealRefusal::WrongSecret { .. }),
            "{wrong}"
        );
        assert_eq!(s.size(), 4, "a refused reveal leaves no leaf");
        s.commit_reveal(secret(), at(CLOSE)).unwrap();
        let twice = s.commit_reveal(secret(), at(CLOSE)).unwrap_err();
        assert_eq!(twice, RevealRefusal::AlreadyRevealed);
    }

    #[test]
    fn the_final_set_is_each_selection_or_else_each_contributors_best() {
        let mut s = hidden_goal();
        let mut log = competition_log(&mut s);
        assert!(
            s.final_pending().is_none(),
            "nothing is due before the reveal"
        );
        log.push(s.commit_reveal(secret(), at(CLOSE)).unwrap());
        assert_eq!(s.revealed_seeds(), Some(secret().seeds(5)));
        // Alice's selection (entry 0, not her better entry 1); Bob's best.
        assert_eq!(s.final_pending().map(|f| f.index), Some(0));
        run_finals(&mut s, &mut log, at(CLOSE) + 10);
        assert_eq!(s.final_progress(), Some((2, 2)));
        let board: Vec<u64> = s
            .final_board()
            .unwrap()
            .entries()
            .iter()
            .map(|m| m.log_index)
            .collect();
        assert_eq!(
            board,
            vec![2, 0],
            "Bob's 0.3 ranks above Alice's selected 0.1"
        );
    }

    #[test]
    fn the_final_board_is_replayed_bit_for_bit_from_the_log() {
        let mut s = hidden_goal();
        let mut log = competition_log(&mut s);
        log.push(s.commit_reveal(secret(), at(CLOSE)).unwrap());
        run_finals(&mut s, &mut log, at(CLOSE) + 10);
        // From the leaves' bytes alone, on a fresh state.
        let decoded: Vec<LogRecord> = log
            .iter()
            .map(|r| LogRecord::from_canonical_bytes(&r.to_canonical_bytes()).unwrap())
            .collect();
        let replayed = GoalState::replay_records(s.manifest().clone(), &decoded).unwrap();
        assert_eq!(replayed, s);
        assert_eq!(replayed.root(), s.root());
        assert_eq!(replayed.final_board(), s.final_board());
    }

    #[test]
    fn a_snapshot_at_any_point_restores_the_final_state() {
        let mut s = hidden_goal();
        let mut log = competition_log(&mut s);
        let check = |s: &GoalState| {
            let r = GoalState::restore(s.manifest().clone(), &s.snapshot()).unwrap();
            assert_eq!(&r, s);
        };
        check(&s);
        log.push(s.commit_reveal(secret(), at(CLOSE)).unwrap());
        check(&s);
        let next = s.final_pending().unwrap();
        let verdict =
            ParamsEvaluator::default().evaluate(s.manifest(), &pack("reward=0.1"), &next.pack_hash);
        s.commit_final(verdict, env(), at(CLOSE) + 1).unwrap();
        check(&s);
        run_finals(&mut s, &mut log, at(CLOSE) + 2);
        check(&s);
    }

    #[test]
    fn replay_refuses_final_results_out_of_order_or_with_a_forged_score() {
        let mut s = hidden_goal();
        let mut log = competition_log(&mut s);
        log.push(s.commit_reveal(secret(), at(CLOSE)).unwrap());
        run_finals(&mut s, &mut log, at(CLOSE) + 10);
        let n = log.len();
        let mut swapped = log.clone();
        swapped.swap(n - 1, n - 2);
        for (i, r) in swapped.iter_mut().enumerate() {
            if let LogRecord::Final(f) = r {
                f.header.log_index = i as u64;
            }
        }
        let e = GoalState::replay_records(s.manifest().clone(), &swapped).unwrap_err();
        assert!(e.to_string().contains("is due"), "{e}");
        let mut forged = log.clone();
        if let Some(LogRecord::Final(f)) = forged.last_mut()
            && let FinalOutcome::Scored { score, .. } = &mut f.outcome
        {
            *score = ian_core::Finite::new(9.0).unwrap();
        }
        let e = GoalState::replay_records(s.manifest().clone(), &forged).unwrap_err();
        assert!(e.to_string().contains("records score"), "{e}");
    }

    #[test]
    fn a_selection_after_the_close_or_of_someone_elses_entry_is_refused() {
        let mut s = hidden_goal();
        competition_log(&mut s);
        let (k, sig) = sign_selection(&goal_id(), 2, &[2], &key(1));
        let e = s
            .commit_selection(k, 2, vec![2], sig, at(T0) + 5)
            .unwrap_err();
        assert!(
            e.contains("not an accepted entry of this contributor"),
            "{e}"
        );
        let (k, sig) = sign_selection(&goal_id(), 2, &[1], &key(1));
        let e = s
            .commit_selection(k, 2, vec![1], sig, at(CLOSE))
            .unwrap_err();
        assert!(e.contains("selections close"), "{e}");
        let (k, _) = sign_selection(&goal_id(), 2, &[1], &key(1));
        let (_, other) = sign_selection(&goal_id(), 2, &[1], &key(3));
        let e = s
            .commit_selection(k, 2, vec![1], other, at(T0) + 5)
            .unwrap_err();
        assert!(e.contains("signature"), "{e}");
    }
}

mod attempts {
    use super::*;
    use ian_core::record::{EvalEnv, LogRecord};

    fn env() -> EvalEnv {
        EvalEnv {
            fuel_used: 77,
            engine_version: "wasmtime 48.0.8".into(),
            config_hash: ian_core::sha256(b"sandbox config"),
            abi_version: "ian:eval@0.1.0".into(),
            harness_hash: ian_core::sha256(b"harness component"),
        }
    }

    #[test]
    fn an_evaluated_rejection_is_logged_and_counts_against_the_daily_quota() {
        let mut s = competition_goal();
        let bad = contribution("reward=0.1,fail=agent_trap", 1, 1);
        let rej = submit(&mut s, &bad, at(T0)).unwrap_err();
        let attempt = s.commit_attempt(&bad, &rej, env(), at(T0)).expect("logged");
        let LogRecord::Attempt(a) = &attempt else {
            panic!("{attempt:?}")
        };
        assert_eq!((a.step, a.reason.as_str()), (5, "agent_trap"));
        assert!(a.verify_contributor_signature());
        let ok =
            LogRecord::Entry(submit(&mut s, &contribution("reward=0.2", 2, 1), at(T0)).unwrap());
        // max_per_day = 2: the attempt and the entry use it up.
        let e = submit(&mut s, &contribution("reward=0.3", 3, 1), at(T0)).unwrap_err();
        assert_eq!(e.code(), "quota_exceeded");
        // The nonce is spent: the same contribution cannot come back.
        assert_eq!(
            submit(&mut s, &bad, at(T0) + 1).unwrap_err().code(),
            "replayed_submission"
        );
        let replayed = GoalState::replay_records(s.manifest().clone(), [&attempt, &ok]).unwrap();
        assert_eq!(replayed, s);
    }

    #[test]
    fn cheap_refusals_and_goals_without_phases_log_no_attempt() {
        let mut s = competition_goal();
        let c = contribution("reward=0.1", 1, 1);
        let dup = submit(&mut s, &c, at(T0))
            .map(|_| ())
            .and_then(|()| submit(&mut s, &c, at(T0)).map(|_| ()));
        let rej = dup.unwrap_err();
        assert_eq!(rej.code(), "duplicate");
        assert!(s.commit_attempt(&c, &rej, env(), at(T0)).is_none());
        let mut plain = GoalState::new(manifest());
        let bad = contribution("reward=0.1,fail=agent_trap", 1, 1);
        let rej = submit(&mut plain, &bad, 0).unwrap_err();
        assert!(plain.commit_attempt(&bad, &rej, env(), 0).is_none());
        assert_eq!(plain.size(), 0);
    }
}
