//! Limits are enforced: memory cap, fuel budgets, the wall-clock backstop.

mod common;

use common::*;
use ian_sandbox::{AgentCall, Fault, FuelBudget, InconclusiveCause, Limits, Role};

#[test]
fn small_memory_cap_stops_the_agent_with_agent_memory_exceeded() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "hostile-memory-bomb");
    let limits = Limits {
        memory_bytes: 4 << 20,
        ..limits()
    };
    let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits);
    let Err(Fault::AgentMemoryExceeded { at, requested, cap }) = r.outcome else {
        panic!("expected agent_memory_exceeded, got {:?}", r.outcome);
    };
    assert_eq!(at, AgentCall::Act { index: 0 });
    assert_eq!(cap, 4 << 20);
    assert!(
        requested > 4 << 20 && requested <= (4 << 20) + (16 << 16),
        "{requested}"
    );
}

#[test]
fn memory_cap_applies_to_the_harness_which_is_never_blamed_on_the_agent() {
    // 64 KiB holds neither component's initial memory. The harness is
    // instantiated first and is the one reported; the agent never ran.
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    let tiny = Limits {
        memory_bytes: 64 << 10,
        ..limits()
    };
    let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &tiny);
    let Err(Fault::HarnessFault {
        role: Role::Harness,
        message,
    }) = &r.outcome
    else {
        panic!("expected harness_fault, got {:?}", r.outcome);
    };
    assert!(message.contains("over the cap of 65536 bytes"), "{message}");
    assert_eq!(r.agent_fuel, 0);
}

#[test]
fn per_evaluation_fuel_budget_is_enforced_across_calls() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    let limits = Limits {
        fuel_per_evaluation: 10_000,
        ..limits()
    };
    let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits);
    let Err(Fault::AgentOutOfFuel {
        at: AgentCall::Act { index },
        budget,
    }) = r.outcome
    else {
        panic!("expected agent_out_of_fuel, got {:?}", r.outcome);
    };
    assert_eq!(budget, FuelBudget::PerEvaluation(10_000));
    assert!(index > 0 && index < 256, "{index}");
    assert_eq!(r.agent_fuel, 10_000);
}

#[test]
fn per_call_fuel_budget_is_enforced_on_init() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "ma-crossover");
    let limits = Limits {
        fuel_per_call: 1_000,
        ..limits()
    };
    let r = sb.evaluate(&h, &a, b"short=5,long=20", TRADING_CONFIG, 1, &limits);
    assert_eq!(
        r.outcome,
        Err(Fault::AgentOutOfFuel {
            at: AgentCall::Init { resets: 0 },
            budget: FuelBudget::PerCall(1_000)
        })
    );
}

#[test]
fn harness_fuel_exhaustion_is_a_harness_fault() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    let limits = Limits {
        harness_fuel: 5_000,
        ..limits()
    };
    let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits);
    let Err(Fault::HarnessFault {
        role: Role::Harness,
        message,
    }) = &r.outcome
    else {
        panic!("expected harness_fault, got {:?}", r.outcome);
    };
    assert!(message.contains("fuel budget of 5000"), "{message}");
}

#[test]
fn wall_backstop_yields_inconclusive_never_a_verdict() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "hostile-infinite-loop");
    let limits = Limits {
        fuel_per_call: 1 << 50,
        fuel_per_evaluation: 1 << 50,
        wall_backstop_ms: 30,
        ..limits()
    };
    let r = sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits);
    assert_eq!(
        r.outcome,
        Err(Fault::Inconclusive {
            cause: InconclusiveCause::WallBackstop { ms: 30 }
        })
    );
    assert!(r.outcome.unwrap_err().is_inconclusive());
}

#[test]
fn harness_error_is_a_harness_fault_not_an_agent_fault() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    let r = sb.evaluate(&h, &a, b"", b"steps=0", 1, &limits());
    let Err(
        f @ Fault::HarnessFault {
            role: Role::Harness,
            message,
        },
    ) = &r.outcome
    else {
        panic!("expected harness_fault, got {:?}", r.outcome);
    };
    assert!(message.contains("steps must be in"), "{message}");
    assert!(!f.is_agent_fault());
}

#[test]
fn invalid_limits_are_refused_as_inconclusive() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    let r = sb.evaluate(
        &h,
        &a,
        b"",
        TRADING_CONFIG,
        1,
        &Limits {
            fuel_per_call: 0,
            ..limits()
        },
    );
    assert!(r.outcome.unwrap_err().is_inconclusive());
}

#[test]
fn components_from_another_sandbox_are_a_host_error() {
    let one = fresh();
    let two = fresh();
    let h = harness(&one, "trading-harness");
    let a = agent(&two, "buy-and-hold");
    let r = one.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits());
    let Err(Fault::Inconclusive {
        cause: InconclusiveCause::Host { message },
    }) = &r.outcome
    else {
        panic!("expected inconclusive host error, got {:?}", r.outcome);
    };
    assert!(message.contains("different Sandbox"), "{message}");
}

#[test]
fn huge_wall_backstop_does_not_overflow_into_an_instant_timeout() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = agent(sb, "buy-and-hold");
    let limits = Limits {
        wall_backstop_ms: u64::MAX,
        ..limits()
    };
    assert!(
        sb.evaluate(&h, &a, b"", TRADING_CONFIG, 1, &limits)
            .outcome
            .is_ok()
    );
}
