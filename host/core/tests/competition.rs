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
