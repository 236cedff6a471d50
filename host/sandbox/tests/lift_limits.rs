//! Limits on returned values are checked before the values are copied out
//! of guest memory: an over-long action or too many extra metrics are
//! refused from their `(ptr, len)` alone. (How flat the host's memory stays
//! is measured by `cargo run --release -p ian-sandbox --example lift_rss`;
//! see docs/SANDBOX.md.)

mod common;

use common::guests::*;
use common::*;
use ian_sandbox::{AgentCall, Fault, Limits, MAX_EXTRA_METRICS, MAX_METRIC_NAME_BYTES, Role};

/// An agent whose first `act` returns `len` values starting at 64 KiB,
/// with enough memory for them (zero pages, never written).
fn long_action_agent(len: u32) -> WatAgent {
    let bytes = 65536 + 8 * u64::from(len);
    WatAgent {
        pages: bytes.div_ceil(65536) as u32 + 1,
        good_acts: 0,
        bad_act: return_list(65536, len),
        ..WatAgent::default()
    }
}

fn outcome_under_ignoring_harness(agent: &WatAgent, limits: &Limits) -> Result<(), Fault> {
    let sb = shared();
    let h = sb.load_harness(&ignoring_harness(3)).unwrap();
    let a = sb.load_agent(&agent.component()).unwrap();
    sb.evaluate(&h, &a, b"", b"", 1, limits).outcome.map(|_| ())
}

#[test]
fn a_32_mib_action_is_refused_naming_its_length_and_the_limit() {
    assert_eq!(
        outcome_under_ignoring_harness(&long_action_agent(4 << 20), &limits()),
        Err(Fault::AgentInvalidAction {
            at: AgentCall::Act { index: 0 },
            reason: "4194304 values, over the limit of 64".into()
        })
    );
}

#[test]
fn a_32_mib_action_is_refused_under_the_trading_harness_too() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = sb
        .load_agent(&long_action_agent(4 << 20).component())
        .unwrap();
    assert_eq!(
        sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits())
            .outcome,
        Err(Fault::AgentInvalidAction {
            at: AgentCall::Act { index: 0 },
            reason: "4194304 values, over the limit of 64".into()
        })
    );
}

#[test]
fn an_action_one_over_the_limit_is_refused() {
    let limits = Limits {
        max_action_len: 8,
        ..limits()
    };
    assert_eq!(
        outcome_under_ignoring_harness(&long_action_agent(9), &limits),
        Err(Fault::AgentInvalidAction {
            at: AgentCall::Act { index: 0 },
            reason: "9 values, over the limit of 8".into()
        })
    );
}

#[test]
fn an_action_exactly_at_the_limit_is_accepted() {
    let limits = Limits {
        max_action_len: 8,
        ..limits()
    };
    assert_eq!(
        outcome_under_ignoring_harness(&long_action_agent(8), &limits),
        Ok(())
    );
}

#[test]
fn an_over_long_action_outside_memory_is_an_invalid_return_not_an_invalid_action() {
    // Bounds come first: a (ptr, len) that does not fit in memory is not
    // an action at all.
    let agent = WatAgent {
        good_acts: 0,
        bad_act: return_list(65536, 4 << 20),
        ..WatAgent::default()
    };
    assert_eq!(
        outcome_under_ignoring_harness(&agent, &limits()),
        Err(Fault::AgentInvalidReturn {
            at: AgentCall::Act { index: 0 },
            reason: "list pointer/length out of bounds of memory".into()
        })
    );
}

fn extras_outcome(count: u32, name_len: u32) -> Result<Vec<(String, f64)>, Fault> {
    let sb = shared();
    let h = sb.load_harness(&extras_harness(count, name_len)).unwrap();
    let a = agent(sb, "buy-and-hold");
    sb.evaluate(&h, &a, b"", b"", 1, &limits())
        .outcome
        .map(|m| m.extra)
}

#[test]
fn two_hundred_thousand_extra_metrics_are_refused_naming_the_count_and_the_limit() {
    assert_eq!(
        extras_outcome(200_000, 1),
        Err(Fault::HarnessFault {
            role: Role::Harness,
            message: "returned 200000 extra metrics, over the limit of 32".into()
        })
    );
}

#[test]
fn one_extra_metric_over_the_limit_is_refused() {
    assert_eq!(
        extras_outcome(MAX_EXTRA_METRICS as u32 + 1, 1),
        Err(Fault::HarnessFault {
            role: Role::Harness,
            message: "returned 33 extra metrics, over the limit of 32".into()
        })
    );
}

#[test]
fn extra_metrics_exactly_at_the_limit_are_accepted() {
    let extra = extras_outcome(MAX_EXTRA_METRICS as u32, 1).unwrap();
    assert_eq!(extra, vec![("x".to_owned(), 1.0); MAX_EXTRA_METRICS]);
}

#[test]
fn an_over_long_metric_name_is_refused_before_it_is_copied() {
    assert_eq!(
        extras_outcome(2, MAX_METRIC_NAME_BYTES as u32 + 1),
        Err(Fault::HarnessFault {
            role: Role::Harness,
            message: "returned extra metric #0 with a 65-byte name, over the limit of 64 bytes"
                .into()
        })
    );
}

#[test]
fn a_metric_name_exactly_at_the_limit_is_accepted() {
    let extra = extras_outcome(1, MAX_METRIC_NAME_BYTES as u32).unwrap();
    assert_eq!(extra, vec![("x".repeat(MAX_METRIC_NAME_BYTES), 1.0)]);
}
