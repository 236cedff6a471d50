//! A value that cannot be lifted under the canonical ABI is the fault of
//! the component that returned it: `agent_invalid_return` at the call that
//! returned it when an agent did, `harness_fault` when a harness or an
//! invariant did; never `inconclusive`.
//!
//! Every agent case runs under the example trading harness, which stops at
//! the first agent error, and under a harness that ignores agent errors and
//! keeps calling `act`: the outcome is the agent's first fault either way.

mod common;

use common::guests::*;
use common::*;
use ian_componentize::World;
use ian_sandbox::{AgentCall, Fault, PackInfo, Role, Sandbox};

/// Runs `agent` under the trading harness and under the ignoring harness,
/// checks both give the same fault, and returns it.
fn agent_fault(agent: &WatAgent) -> Fault {
    let sb = shared();
    let a = sb.load_agent(&agent.component()).expect("agent loads");
    let trading = harness(sb, "trading-harness");
    let ignoring = sb
        .load_harness(&ignoring_harness(10))
        .expect("ignoring harness loads");
    let under_trading = sb.evaluate(&trading, &a, b"", TRADING_CONFIG, 1, &limits());
    let under_ignoring = sb.evaluate(&ignoring, &a, b"", b"", 1, &limits());
    let fault = under_trading
        .outcome
        .expect_err("trading harness: must be a fault");
    assert_eq!(
        under_ignoring.outcome,
        Err(fault.clone()),
        "a harness that ignores agent errors must not change the outcome"
    );
    assert!(fault.is_agent_fault(), "{fault:?}");
    fault
}

/// An agent whose fourth `act` call (index 3) returns `bad_act`.
fn bad_fourth_act(bad_act: String) -> WatAgent {
    WatAgent {
        good_acts: 3,
        bad_act,
        ..WatAgent::default()
    }
}

fn invalid_return(at: AgentCall, reason: &str) -> Fault {
    Fault::AgentInvalidReturn {
        at,
        reason: reason.into(),
    }
}

const ACT_3: AgentCall = AgentCall::Act { index: 3 };
const INIT: AgentCall = AgentCall::Init { resets: 0 };

#[test]
fn action_pointer_outside_memory_is_an_invalid_return() {
    assert_eq!(
        agent_fault(&bad_fourth_act(return_list(0x00ff_0000, 1))),
        invalid_return(ACT_3, "list pointer/length out of bounds of memory")
    );
}

#[test]
fn action_length_reaching_past_memory_is_an_invalid_return() {
    assert_eq!(
        agent_fault(&bad_fourth_act(return_list(64, 0x0100_0000))),
        invalid_return(ACT_3, "list pointer/length out of bounds of memory")
    );
}

#[test]
fn action_whose_end_wraps_around_32_bits_is_an_invalid_return() {
    // 0xffff_fff8 + 8 * 0x2000_0001 wraps to 0 in 32-bit arithmetic.
    assert_eq!(
        agent_fault(&bad_fourth_act(return_list(0xffff_fff8, 0x2000_0001))),
        invalid_return(ACT_3, "list pointer/length out of bounds of memory")
    );
}

#[test]
fn misaligned_action_pointer_is_an_invalid_return() {
    assert_eq!(
        agent_fault(&bad_fourth_act(return_list(65, 1))),
        invalid_return(ACT_3, "list pointer is not aligned")
    );
}

#[test]
fn return_area_outside_memory_is_an_invalid_return() {
    assert_eq!(
        agent_fault(&bad_fourth_act("(i32.const 0x7ffffff8)".into())),
        invalid_return(ACT_3, "pointer out of bounds of memory")
    );
}

#[test]
fn misaligned_return_area_is_an_invalid_return() {
    assert_eq!(
        agent_fault(&bad_fourth_act("(i32.const 33)".into())),
        invalid_return(ACT_3, "return pointer not aligned")
    );
}

#[test]
fn realloc_answering_outside_memory_is_an_invalid_return_of_the_call_it_served() {
    // Allocations of 8 bytes or more (the observation's features) get an
    // address past the end of memory; the empty params of `init` do not.
    let agent = WatAgent {
        realloc: r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
            (if (result i32) (i32.ge_u (local.get 3) (i32.const 8))
              (then (i32.const 0x00ff0000)) (else (i32.const 8192))))"#
            .into(),
        ..WatAgent::default()
    };
    assert_eq!(
        agent_fault(&agent),
        invalid_return(
            AgentCall::Act { index: 0 },
            "realloc return: beyond end of memory"
        )
    );
}

#[test]
fn realloc_answering_a_misaligned_pointer_is_an_invalid_return() {
    let agent = WatAgent {
        realloc: r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
            (i32.const 8193))"#
            .into(),
        ..WatAgent::default()
    };
    assert_eq!(
        agent_fault(&agent),
        invalid_return(
            AgentCall::Act { index: 0 },
            "realloc return: result not aligned"
        )
    );
}

#[test]
fn invalid_result_discriminant_from_init_is_an_invalid_return() {
    let agent = WatAgent {
        init: "(i32.store8 (i32.const 16) (i32.const 2)) (i32.const 16)".into(),
        ..WatAgent::default()
    };
    assert_eq!(
        agent_fault(&agent),
        invalid_return(INIT, "invalid expected discriminant")
    );
}

#[test]
fn invalid_utf8_in_the_init_error_is_an_invalid_return() {
    let agent = WatAgent {
        init: "(i32.store8 (i32.const 16) (i32.const 1)) \
               (i32.store (i32.const 20) (i32.const 1024)) \
               (i32.store (i32.const 24) (i32.const 2)) \
               (i32.const 16)"
            .into(),
        extra: r#"(data (i32.const 1024) "\ff\fe")"#.into(),
        ..WatAgent::default()
    };
    assert_eq!(
        agent_fault(&agent),
        invalid_return(INIT, "invalid utf-8 sequence of 1 bytes from index 0")
    );
}

#[test]
fn init_error_string_outside_memory_is_an_invalid_return() {
    let agent = WatAgent {
        init: "(i32.store8 (i32.const 16) (i32.const 1)) \
               (i32.store (i32.const 20) (i32.const 0x00ff0000)) \
               (i32.store (i32.const 24) (i32.const 4)) \
               (i32.const 16)"
            .into(),
        ..WatAgent::default()
    };
    assert_eq!(
        agent_fault(&agent),
        invalid_return(INIT, "string pointer/length out of bounds of memory")
    );
}

#[test]
fn a_long_init_error_is_clipped_without_being_copied_whole() {
    // 1 MiB of 'e': validated in place, only the first KiB is kept.
    let agent = WatAgent {
        pages: 20,
        init: "(memory.fill (i32.const 65536) (i32.const 101) (i32.const 1048576)) \
               (i32.store8 (i32.const 16) (i32.const 1)) \
               (i32.store (i32.const 20) (i32.const 65536)) \
               (i32.store (i32.const 24) (i32.const 1048576)) \
               (i32.const 16)"
            .into(),
        ..WatAgent::default()
    };
    let sb = shared();
    let a = sb.load_agent(&agent.component()).unwrap();
    let fault = sb.init_agent(&a, Some(b""), &limits()).unwrap_err();
    let Fault::AgentInitFailed { at, message } = &fault else {
        panic!("expected agent_init_failed, got {fault:?}");
    };
    assert_eq!(*at, INIT);
    assert_eq!(message, &format!("{}...", "e".repeat(1024)));
}

#[test]
fn invalid_return_is_reported_by_init_agent_too() {
    let agent = WatAgent {
        init: "(i32.store8 (i32.const 16) (i32.const 2)) (i32.const 16)".into(),
        ..WatAgent::default()
    };
    let sb = shared();
    let a = sb.load_agent(&agent.component()).unwrap();
    assert_eq!(
        sb.init_agent(&a, Some(b""), &limits()),
        Err(invalid_return(INIT, "invalid expected discriminant"))
    );
}

#[test]
fn act_index_counts_calls_across_resets() {
    // Each agent instance answers its first `act` well and its second
    // badly. The harness asks once, resets, then asks twice: the bad answer
    // is the third call of the evaluation (index 2), though only the second
    // of its instance.
    let act = "(call $act (i64.const 0) (i32.const 512) (i32.const 2) (i32.const 256))";
    let body = format!(
        "{act} (call $reset (i32.const 256)) {act} {act} {}",
        return_metrics(0, 0)
    );
    let sb = shared();
    let h = sb
        .load_harness(&ian_component(
            World::GoalHarness,
            &harness_wat(2, &body, ""),
        ))
        .unwrap();
    let a = sb
        .load_agent(
            &WatAgent {
                good_acts: 1,
                bad_act: return_list(65, 1),
                ..WatAgent::default()
            }
            .component(),
        )
        .unwrap();
    let r = sb.evaluate(&h, &a, b"", b"", 1, &limits());
    assert_eq!(
        r.outcome,
        Err(invalid_return(
            AgentCall::Act { index: 2 },
            "list pointer is not aligned"
        ))
    );
    assert_eq!((r.steps, r.resets), (3, 1));
}

#[test]
fn host_keeps_serving_after_invalid_returns() {
    let sb = Sandbox::new(Default::default()).unwrap();
    let h = harness(&sb, "trading-harness");
    for bad in [return_list(65, 1), "(i32.const 33)".into()] {
        let a = sb.load_agent(&bad_fourth_act(bad).component()).unwrap();
        let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits());
        assert_eq!(r.outcome.unwrap_err().reason_code(), "agent_invalid_return");
    }
    let a = agent(&sb, "buy-and-hold");
    assert!(
        sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits())
            .outcome
            .is_ok()
    );
}

// ---------------------------------------------------------------- harness

fn harness_fault(body: &str, extra: &str) -> Fault {
    let sb = shared();
    let h = sb
        .load_harness(&ian_component(
            World::GoalHarness,
            &harness_wat(1, body, extra),
        ))
        .expect("harness loads");
    let a = agent(sb, "buy-and-hold");
    sb.evaluate(&h, &a, b"", b"", 1, &limits())
        .outcome
        .expect_err("must be a fault")
}

fn harness_invalid(reason: &str) -> Fault {
    Fault::HarnessFault {
        role: Role::Harness,
        message: format!("returned a value the host cannot read: {reason}"),
    }
}

#[test]
fn invalid_result_discriminant_from_a_harness_is_a_harness_fault() {
    assert_eq!(
        harness_fault(
            "(i32.store8 (i32.const 16) (i32.const 2)) (i32.const 16)",
            ""
        ),
        harness_invalid("invalid expected discriminant")
    );
}

#[test]
fn extra_metrics_outside_memory_are_a_harness_fault() {
    assert_eq!(
        harness_fault(&return_metrics(0x00ff_0000, 1), ""),
        harness_invalid("list pointer/length out of bounds of memory")
    );
}

#[test]
fn invalid_utf8_in_a_metric_name_is_a_harness_fault() {
    let body = format!(
        "(i32.store (i32.const 2048) (i32.const 1024)) \
         (i32.store (i32.const 2052) (i32.const 2)) \
         (f64.store (i32.const 2056) (f64.const 1)) \
         {}",
        return_metrics(2048, 1)
    );
    assert_eq!(
        harness_fault(&body, r#"(data (i32.const 1024) "\ff\fe")"#),
        harness_invalid("invalid utf-8 sequence of 1 bytes from index 0")
    );
}

#[test]
fn harness_error_string_outside_memory_is_a_harness_fault() {
    assert_eq!(
        harness_fault(
            "(i32.store8 (i32.const 16) (i32.const 1)) \
             (i32.store (i32.const 24) (i32.const 0x00ff0000)) \
             (i32.store (i32.const 28) (i32.const 10)) \
             (i32.const 16)",
            ""
        ),
        harness_invalid("string pointer/length out of bounds of memory")
    );
}

#[test]
fn harness_return_area_outside_memory_is_a_harness_fault() {
    assert_eq!(
        harness_fault("(i32.const 0x7ffffff8)", ""),
        harness_invalid("pointer out of bounds of memory")
    );
}

#[test]
fn invalid_result_discriminant_from_an_invariant_is_a_harness_fault() {
    let sb = shared();
    let inv = sb
        .load_invariant(&ian_component(
            World::GoalInvariant,
            &invariant_wat(
                "(i32.store8 (i32.const 16) (i32.const 7)) (i32.const 16)",
                "",
            ),
        ))
        .expect("invariant loads");
    let a = agent(sb, "buy-and-hold");
    assert_eq!(
        sb.check_invariant(&inv, &a, &PackInfo::default(), &limits()),
        Err(Fault::HarnessFault {
            role: Role::Invariant,
            message: "returned a value the host cannot read: invalid expected discriminant".into()
        })
    );
}

#[test]
fn well_formed_wat_invariant_holds() {
    let sb = shared();
    let inv = sb
        .load_invariant(&ian_component(
            World::GoalInvariant,
            &invariant_wat(CHECK_OK, ""),
        ))
        .unwrap();
    let a = agent(sb, "buy-and-hold");
    assert_eq!(
        sb.check_invariant(&inv, &a, &PackInfo::default(), &limits()),
        Ok(())
    );
}
