//! A component must export exactly its role's world: exports beyond it (an
//! extra interface, an extra function next to the interface, an extra
//! function inside the interface) are refused at load, before compiling,
//! with `wrong_world` naming the extra export.

mod common;

use common::guests::*;
use common::*;
use ian_componentize::IAN_EVAL_WIT;
use ian_sandbox::{Fault, Role};

/// Agent core-module fields for `init`, `act` and the allocator.
fn agent_fields() -> String {
    let wat = WatAgent::default().wat();
    // Everything between `(module` and the final `)`.
    let start = wat.find('\n').unwrap();
    let end = wat.rfind(')').unwrap();
    wat[start..end].to_owned()
}

const DUMP: &str = r#"(func (export "test:extended/debug#dump") (result i32) (i32.const 7))"#;
const DEBUG_INFO: &str = r#"(func (export "debug-info") (result i32) (i32.const 7))"#;

/// Loads `bytes` in `role` on a fresh sandbox and checks nothing was
/// compiled before the refusal.
fn refused_before_compiling(role: Role, bytes: &[u8]) -> Fault {
    let sb = fresh();
    let result = match role {
        Role::Agent => sb.load_agent(bytes).map(drop),
        Role::Harness => sb.load_harness(bytes).map(drop),
        Role::Invariant => sb.load_invariant(bytes).map(drop),
        Role::WasiAgent => sb
            .load_agent_within(
                bytes,
                &ian_sandbox::Limits {
                    agents: ian_sandbox::AgentRuntime::Wasi,
                    ..ian_sandbox::Limits::default()
                },
            )
            .map(drop),
        Role::DatasetHarness => unreachable!(),
    };
    let fault = result.expect_err("must be refused").0;
    assert_eq!(sb.cache_stats().compiles, 0, "refused before compiling");
    fault
}

#[test]
fn agent_exporting_an_extra_interface_is_the_wrong_world() {
    let wat = format!("(module {} {DUMP})", agent_fields());
    let bytes = component_for(
        &[IAN_EVAL_WIT, EXTENDED_WIT],
        "agent-with-debug-interface",
        &wat,
    );
    assert_eq!(
        refused_before_compiling(Role::Agent, &bytes),
        Fault::WrongWorld {
            role: Role::Agent,
            reason: "it exports `test:extended/debug` beyond its world, which exports only \
                     `ian:eval/agent@0.1.0`"
                .into()
        }
    );
}

#[test]
fn agent_exporting_an_extra_function_is_the_wrong_world() {
    let wat = format!("(module {} {DEBUG_INFO})", agent_fields());
    let bytes = component_for(&[IAN_EVAL_WIT, EXTENDED_WIT], "agent-with-debug-func", &wat);
    assert_eq!(
        refused_before_compiling(Role::Agent, &bytes),
        Fault::WrongWorld {
            role: Role::Agent,
            reason: "it exports `debug-info` beyond its world, which exports only \
                     `ian:eval/agent@0.1.0`"
                .into()
        }
    );
}

#[test]
fn agent_with_an_extra_function_inside_its_interface_is_the_wrong_world() {
    let wat = format!(
        r#"(module {} (func (export "ian:eval/agent@0.1.0#debug") (result i32) (i32.const 7)))"#,
        agent_fields()
    );
    let bytes = component_for(&[&ian_wit_with_extra_func("agent")], "agent-pack", &wat);
    assert_eq!(
        refused_before_compiling(Role::Agent, &bytes),
        Fault::WrongWorld {
            role: Role::Agent,
            reason: "its `ian:eval/agent@0.1.0` exports `debug` beyond the interface, which \
                     has only `init`, `act`"
                .into()
        }
    );
}

#[test]
fn harness_exporting_an_extra_interface_is_the_wrong_world() {
    let wat = harness_wat(1, &return_metrics(0, 0), DUMP);
    let bytes = component_for(
        &[IAN_EVAL_WIT, EXTENDED_WIT],
        "harness-with-debug-interface",
        &wat,
    );
    assert_eq!(
        refused_before_compiling(Role::Harness, &bytes),
        Fault::WrongWorld {
            role: Role::Harness,
            reason: "it exports `test:extended/debug` beyond its world, which exports only \
                     `ian:eval/harness@0.1.0`"
                .into()
        }
    );
}

#[test]
fn harness_with_an_extra_function_inside_its_interface_is_the_wrong_world() {
    let wat = harness_wat(
        1,
        &return_metrics(0, 0),
        r#"(func (export "ian:eval/harness@0.1.0#debug") (result i32) (i32.const 7))"#,
    );
    let bytes = component_for(&[&ian_wit_with_extra_func("harness")], "goal-harness", &wat);
    assert_eq!(
        refused_before_compiling(Role::Harness, &bytes),
        Fault::WrongWorld {
            role: Role::Harness,
            reason: "its `ian:eval/harness@0.1.0` exports `debug` beyond the interface, which \
                     has only `evaluate`"
                .into()
        }
    );
}

#[test]
fn invariant_exporting_an_extra_function_is_the_wrong_world() {
    let wat = invariant_wat(CHECK_OK, DEBUG_INFO);
    let bytes = component_for(
        &[IAN_EVAL_WIT, EXTENDED_WIT],
        "invariant-with-debug-func",
        &wat,
    );
    assert_eq!(
        refused_before_compiling(Role::Invariant, &bytes),
        Fault::WrongWorld {
            role: Role::Invariant,
            reason: "it exports `debug-info` beyond its world, which exports only \
                     `ian:eval/invariant@0.1.0`"
                .into()
        }
    );
}

#[test]
fn invariant_with_an_extra_function_inside_its_interface_is_the_wrong_world() {
    let wat = invariant_wat(
        CHECK_OK,
        r#"(func (export "ian:eval/invariant@0.1.0#debug") (result i32) (i32.const 7))"#,
    );
    let bytes = component_for(
        &[&ian_wit_with_extra_func("invariant")],
        "goal-invariant",
        &wat,
    );
    assert_eq!(
        refused_before_compiling(Role::Invariant, &bytes),
        Fault::WrongWorld {
            role: Role::Invariant,
            reason: "its `ian:eval/invariant@0.1.0` exports `debug` beyond the interface, \
                     which has only `check`"
                .into()
        }
    );
}

#[test]
fn hand_written_components_of_exactly_their_world_load() {
    let sb = fresh();
    sb.load_agent(&WatAgent::default().component()).unwrap();
    sb.load_harness(&ignoring_harness(1)).unwrap();
    sb.load_invariant(&ian_component(
        ian_componentize::World::GoalInvariant,
        &invariant_wat(CHECK_OK, ""),
    ))
    .unwrap();
}

#[test]
fn an_agent_of_the_plain_agent_pack_world_is_still_accepted_and_evaluated() {
    // Built against `agent-pack` (no panic report), as agents were before
    // `agent-pack-reporting`: the host keeps accepting it.
    let bytes = component_for(&[IAN_EVAL_WIT], "agent-pack", &WatAgent::default().wat());
    let surface = ian_componentize::surface(&bytes).unwrap();
    assert!(
        !surface
            .imports
            .iter()
            .any(|i| i.starts_with("ian:diagnostics")),
        "{surface:?}"
    );
    let sb = fresh();
    let agent = sb.load_agent(&bytes).expect("the plain world loads");
    let h = harness(&sb, "trading-harness");
    let r = sb.evaluate(&h, &agent, b"", TRADING_CONFIG, 1, &limits());
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
}

const HTTP_WIT: &str = r#"
package wasi:http@0.2.6;

interface types {
    ping: func() -> u32;
}
"#;

const HTTP_AGENT_WIT: &str = r#"
package test:http;

world agent-with-http {
    import wasi:http/types@0.2.6;
    include ian:eval/agent-pack@0.1.0;
}
"#;

#[test]
fn an_agent_with_wasi_that_imports_wasi_http_is_refused_before_compiling() {
    let wat = format!(
        r#"(module (import "wasi:http/types@0.2.6" "ping" (func (result i32))) {})"#,
        agent_fields()
    );
    let bytes = component_for(
        &[IAN_EVAL_WIT, HTTP_WIT, HTTP_AGENT_WIT],
        "agent-with-http",
        &wat,
    );
    assert_eq!(
        refused_before_compiling(Role::WasiAgent, &bytes),
        Fault::ForbiddenImport {
            role: Role::WasiAgent,
            import: "wasi:http/types@0.2.6".into(),
            all: vec!["wasi:http/types@0.2.6".into()],
        }
    );
}
