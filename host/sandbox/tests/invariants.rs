//! Invariants pass for good agents and reject violating packs with
//! `invariant_violated`; agent faults while probing keep their own code.

mod common;

use common::*;
use ian_sandbox::{AgentCall, Fault, Limits, PackInfo};

fn pack(params: &str, agent_name: &str) -> PackInfo {
    PackInfo {
        metadata: vec![("name".into(), agent_name.into())],
        params: params.as_bytes().to_vec(),
        code_size: component(agent_name).len() as u64,
    }
}

fn check(invariant: &str, agent_name: &str, params: &str, limits: &Limits) -> Result<(), Fault> {
    let sb = shared();
    let inv = sb.load_invariant(&component(invariant)).unwrap();
    let a = agent(sb, agent_name);
    sb.check_invariant(&inv, &a, &pack(params, agent_name), limits)
}

#[test]
fn position_limit_holds_for_the_example_agents() {
    for (name, params) in [
        ("buy-and-hold", ""),
        ("ma-crossover", "short=5,long=20"),
        ("mean-reversion", ""),
    ] {
        assert_eq!(
            check("position-limit-invariant", name, params, &limits()),
            Ok(()),
            "{name}"
        );
    }
}

#[test]
fn position_limit_probes_the_agent_through_policy() {
    let sb = shared();
    let inv = sb
        .load_invariant(&component("position-limit-invariant"))
        .unwrap();
    let a = agent(sb, "ma-crossover");
    let r = sb.check_invariant_report(
        &inv,
        &a,
        &pack("short=5,long=20", "ma-crossover"),
        &limits(),
    );
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(r.steps, 3 * 63, "three probe paths of 64 prices");
    assert!(r.agent_fuel > 0);
}

#[test]
fn position_limit_is_violated_by_a_multi_value_action() {
    // With the action-length limit raised, the million-value action reaches
    // the invariant, which must reject it.
    let limits = Limits {
        max_action_len: 2_000_000,
        ..limits()
    };
    let Err(Fault::InvariantViolated { reason }) = check(
        "position-limit-invariant",
        "hostile-oversized-action",
        "",
        &limits,
    ) else {
        panic!("expected invariant_violated");
    };
    assert!(reason.contains("length 1000000"), "{reason}");
}

#[test]
fn agent_fault_while_probed_keeps_its_own_reason() {
    assert_eq!(
        check(
            "position-limit-invariant",
            "hostile-nan-action",
            "",
            &limits()
        ),
        Err(Fault::AgentInvalidAction {
            at: AgentCall::Act { index: 0 },
            reason: "value #0 is not finite (NaN)".into()
        })
    );
}

#[test]
fn param_bounds_holds_for_in_range_params() {
    assert_eq!(
        check(
            "param-bounds-invariant",
            "ma-crossover",
            "short=5,long=20",
            &limits()
        ),
        Ok(())
    );
}

#[test]
fn param_bounds_rejects_out_of_range_params() {
    assert_eq!(
        check(
            "param-bounds-invariant",
            "ma-crossover",
            "short=5,long=5000000",
            &limits()
        ),
        Err(Fault::InvariantViolated {
            reason: "param long=5000000 is outside [-1000000, 1000000]".into()
        })
    );
}

#[test]
fn param_bounds_rejects_non_finite_params_without_running_the_agent() {
    let sb = shared();
    let inv = sb
        .load_invariant(&component("param-bounds-invariant"))
        .unwrap();
    let a = agent(sb, "buy-and-hold");
    let r = sb.check_invariant_report(&inv, &a, &pack("position=NaN", "buy-and-hold"), &limits());
    assert_eq!(
        r.outcome.as_ref().unwrap_err().reason_code(),
        "invariant_violated"
    );
    assert_eq!(r.agent_fuel, 0, "the agent was never instantiated");
}
