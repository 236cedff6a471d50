//! Agents of goals with `agents = "wasi"`: the WASI a language runtime
//! imports is served deterministically (random from the pack and the seed,
//! a clock that steps by readings, no files, no sockets, no environment),
//! and what the agent wrote to stderr explains its failure.

mod common;

use common::*;
use ian_sandbox::{AgentCall, AgentRuntime, EvalReport, Fault, Limits, LoadedAgent, Sandbox};

fn wasi_limits() -> Limits {
    Limits {
        agents: AgentRuntime::Wasi,
        ..Limits::default()
    }
}

fn probe(sb: &Sandbox) -> LoadedAgent {
    sb.load_agent_within(&component("wasi-probe"), &wasi_limits())
        .unwrap_or_else(|e| panic!("loading wasi-probe for a wasi goal: {e}"))
}

fn run(params: &str, seed: u64) -> EvalReport {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = probe(sb);
    sb.evaluate(
        &h,
        &a,
        params.as_bytes(),
        TRADING_CONFIG,
        seed,
        &wasi_limits(),
    )
}

fn reward_bits(r: &EvalReport) -> u64 {
    r.outcome
        .as_ref()
        .unwrap_or_else(|f| panic!("expected metrics, got {f}"))
        .reward
        .to_bits()
}

#[test]
fn a_pure_goal_refuses_an_agent_that_imports_wasi() {
    let fault = shared()
        .load_agent(&component("wasi-probe"))
        .expect_err("a pure goal must refuse WASI imports")
        .0;
    assert_eq!(fault.reason_code(), "forbidden_import", "{fault}");
}

#[test]
fn a_wasi_goal_runs_an_agent_that_prints_every_step() {
    let r = run("mode=hold", 7);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert_eq!(r.steps, 256);
}

#[test]
fn a_wasi_goal_still_takes_a_pure_agent_with_the_same_result() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let pure = sb.evaluate(
        &h,
        &agent(sb, "buy-and-hold"),
        b"position=0.5",
        TRADING_CONFIG,
        7,
        &limits(),
    );
    let a = sb
        .load_agent_within(&component("buy-and-hold"), &wasi_limits())
        .unwrap();
    let wasi = sb.evaluate(&h, &a, b"position=0.5", TRADING_CONFIG, 7, &wasi_limits());
    assert_eq!(pure.outcome, wasi.outcome);
    assert_eq!(pure.agent_fuel, wasi.agent_fuel);
}

#[test]
fn holding_through_wasi_earns_the_same_reward_bits_as_the_pure_agent() {
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let pure = sb.evaluate(
        &h,
        &agent(sb, "buy-and-hold"),
        b"position=0.5",
        TRADING_CONFIG,
        7,
        &limits(),
    );
    assert_eq!(
        reward_bits(&run("mode=hold,position=0.5", 7)),
        reward_bits(&pure)
    );
}

#[test]
fn an_agents_random_numbers_repeat_for_the_same_pack_and_seed_only() {
    let a = run("mode=random", 7);
    let b = run("mode=random", 7);
    assert_eq!(a, b, "the same pack and seed must give the same bits");
    assert_ne!(reward_bits(&a), reward_bits(&run("mode=random", 8)));
    // Other params are another pack: another stream.
    assert_ne!(
        reward_bits(&a),
        reward_bits(&run("mode=random,position=0.25", 7))
    );
}

#[test]
fn an_agents_clock_is_the_same_on_every_run() {
    let a = run("mode=clock", 3);
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert_eq!(a, run("mode=clock", 3));
}

#[test]
fn a_fresh_sandbox_computes_the_same_bits() {
    let other = fresh();
    let h = harness(&other, "trading-harness");
    let a = probe(&other);
    let there = other.evaluate(&h, &a, b"mode=random", TRADING_CONFIG, 9, &wasi_limits());
    assert_eq!(there, run("mode=random", 9));
}

#[test]
fn a_failing_agents_stderr_is_in_its_fault_message() {
    let r = run("mode=panic", 1);
    let Err(Fault::AgentTrap { at, message }) = &r.outcome else {
        panic!("expected agent_trap, got {:?}", r.outcome);
    };
    assert_eq!(*at, AgentCall::Act { index: 3 });
    assert!(message.contains("told to fail at step 3"), "{message}");
    assert!(
        message.contains("stderr:")
            && message.contains("ValueError: the probe was told to fail at step 3"),
        "{message}"
    );
}

#[test]
fn the_stderr_in_a_fault_message_is_its_last_two_kilobytes() {
    // A megabyte of stderr per step, then the traceback and the panic:
    // only the tail, with the traceback's end, is in the message.
    let r = run("mode=panic,shout=1", 1);
    let Err(Fault::AgentTrap { message, .. }) = &r.outcome else {
        panic!("expected agent_trap, got {:?}", r.outcome);
    };
    let stderr = message.split_once("stderr: ").expect("a stderr part").1;
    assert!(stderr.starts_with("...xxx"), "{stderr}");
    assert!(stderr.ends_with("told to fail at step 3"), "{stderr}");
    assert!(stderr.len() <= 3 + 2048, "{}", stderr.len());
}

#[test]
fn an_agent_that_calls_exit_is_a_trap_naming_the_status() {
    let r = run("mode=exit", 1);
    let Err(Fault::AgentTrap { message, .. }) = &r.outcome else {
        panic!("expected agent_trap, got {:?}", r.outcome);
    };
    // WASI 0.2's exit carries only success or failure: 3 arrives as 1.
    assert!(message.contains("agent called exit(1)"), "{message}");
}

#[test]
fn an_agent_finds_no_file_no_socket_and_no_environment() {
    for mode in ["file", "socket", "env"] {
        let r = run(&format!("mode={mode}"), 1);
        assert!(r.outcome.is_ok(), "{mode}: {:?}", r.outcome);
    }
}

#[test]
fn an_agent_printing_megabytes_is_capped_and_finishes() {
    let r = run("mode=hold,shout=1", 1);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert_eq!(r.steps, 256);
}

#[test]
fn an_agent_that_sleeps_an_hour_finishes_at_once_an_hour_later_in_its_time() {
    // A real sleep would outlast the one-second backstop and make the run
    // inconclusive; a virtual one moves the agent's clocks and returns.
    let sb = shared();
    let h = harness(sb, "trading-harness");
    let a = probe(sb);
    let limits = Limits {
        wall_backstop_ms: 1_000,
        ..wasi_limits()
    };
    let r = sb.evaluate(&h, &a, b"mode=sleep", TRADING_CONFIG, 1, &limits);
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
}
