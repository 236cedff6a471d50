//! Specifications of `ian_componentize`, exercised on real core modules
//! written in WAT with the canonical-ABI signatures of the `ian:eval` worlds.

use ian_componentize::{
    ComponentizeError, InputKind, World, classify, componentize, embed_world, surface,
};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// A minimal real agent: `init` accepts anything, `act` always answers
/// `[0.5]`. Memory layout: return area at 8/16, action data at 32, bump heap
/// from 1024.
const AGENT_WAT: &str = r#"
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func $cabi_realloc (export "cabi_realloc")
        (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
        (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $p) (local.get $new_size)))
    (local.get $p))
  (func $agent_init (export "ian:eval/agent@0.1.0#init") (param i32 i32) (result i32)
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.const 8))
  (func $agent_act (export "ian:eval/agent@0.1.0#act") (param i64 i32 i32) (result i32)
    (f64.store (i32.const 32) (f64.const 0.5))
    (i32.store (i32.const 16) (i32.const 32))
    (i32.store (i32.const 20) (i32.const 1))
    (i32.const 16))
)
"#;

/// A harness that asks the policy once and reports all-zero metrics.
const HARNESS_WAT: &str = r#"
(module
  (import "ian:eval/policy@0.1.0" "act" (func $policy_act (param i64 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))
  (func (export "ian:eval/harness@0.1.0#evaluate") (param i32 i32 i64) (result i32)
    (call $policy_act (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 256))
    (i32.store8 (i32.const 64) (i32.const 0))
    (f64.store (i32.const 72) (f64.const 0))
    (f64.store (i32.const 80) (f64.const 0))
    (f64.store (i32.const 88) (f64.const 0))
    (i32.store (i32.const 96) (i32.const 0))
    (i32.store (i32.const 100) (i32.const 0))
    (i32.const 64))
)
"#;

/// An invariant that accepts every pack without probing.
const INVARIANT_WAT: &str = r#"
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))
  (func (export "ian:eval/invariant@0.1.0#check") (param i32 i32 i32 i32 i64) (result i32)
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.const 8))
)
"#;

fn module_for(wat_src: &str, world: World) -> Vec<u8> {
    let core = wat::parse_str(wat_src).expect("test WAT parses");
    embed_world(&core, world).expect("world metadata embeds")
}

fn validate_component(bytes: &[u8]) {
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .expect("output validates as a component");
}

#[test]
fn encodes_agent_module_into_component_exporting_only_agent() {
    let out = componentize(&module_for(AGENT_WAT, World::AgentPack)).unwrap();
    assert_eq!(out.input, InputKind::CoreModule);
    validate_component(&out.bytes);
    let s = surface(&out.bytes).unwrap();
    assert_eq!(s.exports, vec!["ian:eval/agent@0.1.0".to_string()]);
    assert_eq!(s.imports, vec!["ian:eval/types@0.1.0".to_string()]);
}

#[test]
fn encodes_harness_module_importing_policy_and_exporting_harness() {
    let out = componentize(&module_for(HARNESS_WAT, World::GoalHarness)).unwrap();
    validate_component(&out.bytes);
    let s = surface(&out.bytes).unwrap();
    assert_eq!(s.exports, vec!["ian:eval/harness@0.1.0".to_string()]);
    assert_eq!(
        s.imports,
        vec![
            "ian:eval/types@0.1.0".to_string(),
            "ian:eval/policy@0.1.0".to_string()
        ]
    );
}

#[test]
fn encodes_invariant_module_exporting_invariant() {
    let out = componentize(&module_for(INVARIANT_WAT, World::GoalInvariant)).unwrap();
    validate_component(&out.bytes);
    let s = surface(&out.bytes).unwrap();
    assert_eq!(s.exports, vec!["ian:eval/invariant@0.1.0".to_string()]);
    assert_eq!(s.imports, vec!["ian:eval/types@0.1.0".to_string()]);
}

#[test]
fn passes_components_through_byte_for_byte() {
    let component = componentize(&module_for(AGENT_WAT, World::AgentPack))
        .unwrap()
        .bytes;
    let again = componentize(&component).unwrap();
    assert_eq!(again.input, InputKind::Component);
    assert_eq!(again.bytes, component);
}

#[test]
fn encoding_is_deterministic() {
    let module = module_for(AGENT_WAT, World::AgentPack);
    assert_eq!(
        componentize(&module).unwrap().bytes,
        componentize(&module).unwrap().bytes
    );
}

#[test]
fn keeps_function_names_of_the_core_module() {
    let out = componentize(&module_for(AGENT_WAT, World::AgentPack)).unwrap();
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(&out.bytes) {
        if let Payload::CustomSection(section) = payload.unwrap()
            && let wasmparser::KnownCustom::Name(reader) = section.as_known()
        {
            for name in reader {
                if let wasmparser::Name::Function(map) = name.unwrap() {
                    for naming in map {
                        names.push(naming.unwrap().name.to_string());
                    }
                }
            }
        }
    }
    assert!(
        names.iter().any(|n| n == "agent_act"),
        "function names in output: {names:?}"
    );
}

#[test]
fn rejects_bytes_that_are_not_wasm() {
    let err = componentize(b"#!/bin/sh\necho not wasm\n").unwrap_err();
    assert!(matches!(err, ComponentizeError::NotWasm), "{err:?}");
}

#[test]
fn rejects_empty_input() {
    assert!(matches!(
        componentize(&[]).unwrap_err(),
        ComponentizeError::NotWasm
    ));
}

#[test]
fn rejects_truncated_module_as_malformed() {
    let module = module_for(AGENT_WAT, World::AgentPack);
    let err = componentize(&module[..module.len() / 2]).unwrap_err();
    assert!(matches!(err, ComponentizeError::Malformed(_)), "{err:?}");
}

#[test]
fn rejects_core_module_without_component_type_section() {
    let core = wat::parse_str(AGENT_WAT).unwrap();
    let err = componentize(&core).unwrap_err();
    assert!(
        matches!(err, ComponentizeError::MissingComponentType),
        "{err:?}"
    );
}

#[test]
fn rejects_module_whose_act_signature_does_not_match_the_world() {
    let wrong = AGENT_WAT.replace(
        r#"(func $agent_act (export "ian:eval/agent@0.1.0#act") (param i64 i32 i32) (result i32)"#,
        r#"(func $agent_act (export "ian:eval/agent@0.1.0#act") (param i32) (result i32)"#,
    );
    assert_ne!(wrong, AGENT_WAT);
    let err = componentize(&module_for(&wrong, World::AgentPack)).unwrap_err();
    match err {
        ComponentizeError::Encode(msg) => assert!(msg.contains("act"), "{msg}"),
        other => panic!("expected Encode, got {other:?}"),
    }
}

#[test]
fn rejects_agent_module_missing_the_act_export() {
    let wrong = AGENT_WAT.replace(r#"(export "ian:eval/agent@0.1.0#act")"#, "");
    let err = componentize(&module_for(&wrong, World::AgentPack)).unwrap_err();
    assert!(matches!(err, ComponentizeError::Encode(_)), "{err:?}");
}

#[test]
fn classify_tells_core_modules_from_components() {
    let module = module_for(AGENT_WAT, World::AgentPack);
    let component = componentize(&module).unwrap().bytes;
    assert_eq!(classify(&module).unwrap(), InputKind::CoreModule);
    assert_eq!(classify(&component).unwrap(), InputKind::Component);
}

#[test]
fn embed_world_refuses_components() {
    let component = componentize(&module_for(AGENT_WAT, World::AgentPack))
        .unwrap()
        .bytes;
    assert!(matches!(
        embed_world(&component, World::AgentPack).unwrap_err(),
        ComponentizeError::Encode(_)
    ));
}

#[test]
fn surface_refuses_core_modules() {
    let core = wat::parse_str(AGENT_WAT).unwrap();
    assert!(matches!(
        surface(&core).unwrap_err(),
        ComponentizeError::Malformed(_)
    ));
}
