//! Each hostile agent ends with its own typed fault, and the host keeps
//! serving afterwards with bit-identical results.

mod common;

use common::*;
use ian_sandbox::{AgentCall, Fault, FuelBudget, Limits, Sandbox, SandboxConfig};

fn run(name: &str, limits: &Limits) -> Fault {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, name);
    sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, limits)
        .outcome
        .expect_err("a hostile agent must not produce metrics")
}

const FIRST_ACT: AgentCall = AgentCall::Act { index: 0 };

#[test]
fn infinite_loop_agent_runs_out_of_per_call_fuel() {
    assert_eq!(
        run("hostile-infinite-loop", &limits()),
        Fault::AgentOutOfFuel {
            at: FIRST_ACT,
            budget: FuelBudget::PerCall(5_000_000)
        }
    );
}

#[test]
fn memory_bomb_agent_hits_the_memory_cap() {
    let fault = run("hostile-memory-bomb", &limits());
    let Fault::AgentMemoryExceeded { at, requested, cap } = fault else {
        panic!("expected agent_memory_exceeded, got {fault:?}");
    };
    assert_eq!(at, FIRST_ACT);
    assert_eq!(cap, 64 << 20);
    assert!(requested > cap, "requested {requested} must exceed the cap");
}

#[test]
fn deep_recursion_overflows_the_wasm_stack() {
    assert_eq!(
        run("hostile-stack-overflow", &limits()),
        Fault::AgentStackOverflow { at: FIRST_ACT }
    );
}

#[test]
fn stack_overflow_is_detected_with_a_smaller_wasm_stack_too() {
    let sb = Sandbox::new(SandboxConfig {
        max_wasm_stack: 128 << 10,
        ..SandboxConfig::default()
    })
    .unwrap();
    let h = harness(&sb, "trading-harness");
    let a = agent(&sb, "hostile-stack-overflow");
    let report = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits());
    assert_eq!(
        report.outcome,
        Err(Fault::AgentStackOverflow { at: FIRST_ACT })
    );
}

#[test]
fn panicking_agent_is_an_agent_trap_marked_as_panic() {
    let fault = run("hostile-panic", &limits());
    let Fault::AgentTrap { at, message } = &fault else {
        panic!("expected agent_trap, got {fault:?}");
    };
    assert_eq!(*at, FIRST_ACT);
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains("(Rust panic)"), "{message}");
}

#[test]
fn a_panicking_agent_built_with_the_sdk_reports_its_panic_message_and_location() {
    let fault = run("hostile-panic", &limits());
    let Fault::AgentTrap { message, .. } = &fault else {
        panic!("expected agent_trap, got {fault:?}");
    };
    assert!(
        message.starts_with("panicked at example-agents/hostile-panic/src/lib.rs:")
            && message.contains("hostile-panic refuses to act at step 0"),
        "{message}"
    );
}

#[test]
fn nan_action_is_invalid() {
    assert_eq!(
        run("hostile-nan-action", &limits()),
        Fault::AgentInvalidAction {
            at: FIRST_ACT,
            reason: "value #0 is not finite (NaN)".into()
        }
    );
}

#[test]
fn infinite_action_is_invalid() {
    assert_eq!(
        run("hostile-infinite-action", &limits()),
        Fault::AgentInvalidAction {
            at: FIRST_ACT,
            reason: "value #0 is not finite (inf)".into()
        }
    );
}

#[test]
fn oversized_action_is_invalid() {
    assert_eq!(
        run("hostile-oversized-action", &limits()),
        Fault::AgentInvalidAction {
            at: FIRST_ACT,
            reason: "1000000 values, over the limit of 64".into()
        }
    );
}

#[test]
fn action_length_limit_is_configurable() {
    let limits = Limits {
        max_action_len: 1_000_000,
        ..limits()
    };
    // The harness now receives the long action and refuses it itself,
    // blaming the agent.
    let fault = run("hostile-oversized-action", &limits);
    let Fault::AgentInvalidAction { reason, .. } = &fault else {
        panic!("expected agent_invalid_action from the harness, got {fault:?}");
    };
    assert!(
        reason.contains("the harness refused it")
            && reason.contains("expected 1 value, got 1000000"),
        "{reason}"
    );
}

#[test]
fn host_keeps_serving_after_every_hostile_agent() {
    let sb = fresh();
    let h = harness(&sb, "trading-harness");
    for name in [
        "hostile-infinite-loop",
        "hostile-memory-bomb",
        "hostile-stack-overflow",
        "hostile-panic",
        "hostile-nan-action",
        "hostile-infinite-action",
        "hostile-oversized-action",
    ] {
        let a = agent(&sb, name);
        let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 7, &limits());
        assert!(
            r.outcome.as_ref().is_err_and(Fault::is_agent_fault),
            "{name}: {:?}",
            r.outcome
        );
    }
    for name in ["hostile-wasi-fs", "trading-harness"] {
        assert!(
            sb.load_agent(&component(name)).is_err(),
            "{name} must be refused"
        );
    }
    assert!(sb.load_agent(b"definitely not wasm").is_err());

    let a = agent(&sb, "ma-crossover");
    let after = sb.evaluate(&h, &a, b"short=5,long=20", TRADING_CONFIG, 7, &limits());
    assert!(after.outcome.is_ok(), "{:?}", after.outcome);

    let clean = fresh();
    let h2 = harness(&clean, "trading-harness");
    let a2 = agent(&clean, "ma-crossover");
    let baseline = clean.evaluate(&h2, &a2, b"short=5,long=20", TRADING_CONFIG, 7, &limits());
    let bits = |r: &ian_sandbox::EvalReport| {
        let m = r.outcome.as_ref().unwrap();
        (m.reward.to_bits(), m.risk.to_bits(), m.complexity.to_bits())
    };
    assert_eq!(bits(&after), bits(&baseline));
    assert_eq!(after, baseline);
}

#[test]
fn agent_init_error_is_agent_init_failed() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "ma-crossover");
    let r = sb.evaluate(&h, &a, b"short=50,long=20", TRADING_CONFIG, 1, &limits());
    let Err(Fault::AgentInitFailed { at, message }) = &r.outcome else {
        panic!("expected agent_init_failed, got {:?}", r.outcome);
    };
    assert_eq!(*at, AgentCall::Init { resets: 0 });
    assert!(message.contains("short < long"), "{message}");
    assert_eq!(r.steps, 0);
}

#[test]
fn init_agent_checks_params_without_a_harness() {
    let sb = shared();
    let a = agent(sb, "ma-crossover");
    assert!(
        sb.init_agent(&a, Some(b"short=5,long=20"), &limits())
            .unwrap()
            > 0
    );
    assert!(sb.init_agent(&a, None, &limits()).is_ok());
    let fault = sb
        .init_agent(&a, Some(b"short=9,long=3"), &limits())
        .unwrap_err();
    assert_eq!(fault.reason_code(), "agent_init_failed");
}

#[test]
fn an_action_the_harness_refuses_is_the_agents_invalid_action_not_a_harness_fault() {
    // A trading agent answers the bandit goal with a position (here 0.5),
    // not an arm index; the bandit harness blames the agent for it.
    let sb = shared();
    let h = harness(sb, "bandit-harness");
    let a = agent(sb, "buy-and-hold");
    let fault = sb
        .evaluate(&h, &a, b"position=0.5", b"", 1, &limits())
        .outcome
        .expect_err("a position is not an arm");
    let Fault::AgentInvalidAction { at, reason } = &fault else {
        panic!("expected agent_invalid_action, got {fault:?}");
    };
    assert_eq!(*at, FIRST_ACT);
    assert!(
        reason.starts_with("the harness refused it: step 0"),
        "{reason}"
    );
    assert!(fault.is_agent_fault());
}
