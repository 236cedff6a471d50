//! Hand-written guests: WAT core modules for the `ian:eval` worlds, turned
//! into components the way contributors do it (`ian-componentize`), or with
//! `wit-component` directly when a test needs a world other than IAN's.
//!
//! The modules speak the canonical ABI by hand, which is what lets them
//! return values no toolchain would produce: pointers outside their memory,
//! misaligned pointers, invalid discriminants, invalid UTF-8.
#![allow(dead_code)]

use ian_componentize::{IAN_EVAL_WIT, World, componentize, embed_world};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// A component for one of IAN's worlds, built with `ian-componentize`.
pub fn ian_component(world: World, wat: &str) -> Vec<u8> {
    let module = wat::parse_str(wat).unwrap_or_else(|e| panic!("WAT: {e}\n{wat}"));
    let embedded = embed_world(&module, world).expect("embed world");
    componentize(&embedded).expect("componentize").bytes
}

/// A component for `world` of the last package in `wit` (each entry one
/// package, resolved in order), built with `wit-component` directly.
pub fn component_for(wit: &[&str], world: &str, wat: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    // `ian:eval` refers to `ian:diagnostics` (its reporting agent world).
    resolve
        .push_str("panic.wit", ian_componentize::IAN_DIAGNOSTICS_WIT)
        .expect("diagnostics WIT resolves");
    let mut last = None;
    for (i, text) in wit.iter().enumerate() {
        last = Some(
            resolve
                .push_str(format!("p{i}.wit"), text)
                .expect("test WIT resolves"),
        );
    }
    let world = resolve
        .select_world(&[last.expect("some WIT")], Some(world))
        .expect("world");
    let mut module = wat::parse_str(wat).unwrap_or_else(|e| panic!("WAT: {e}\n{wat}"));
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("embed");
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .expect("module")
        .encode()
        .expect("encode")
}

/// A bump allocator from address 8192 on that never frees.
pub const BUMP_REALLOC: &str = r#"
  (global $heap (mut i32) (i32.const 8192))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))"#;

/// `init` body that returns `ok`.
pub const INIT_OK: &str = "(i32.store8 (i32.const 16) (i32.const 0)) (i32.const 16)";

/// `act` body returning the list `(ptr, len)` through the return area at 32.
pub fn return_list(ptr: u32, len: u32) -> String {
    format!(
        "(i32.store (i32.const 32) (i32.const {ptr})) \
         (i32.store (i32.const 36) (i32.const {len})) \
         (i32.const 32)"
    )
}

/// The action `[0.0]`, which the trading harness accepts.
pub fn good_action() -> String {
    format!(
        "(f64.store (i32.const 64) (f64.const 0)) {}",
        return_list(64, 1)
    )
}

/// An agent written in WAT. `act` answers `[0.0]` for its first
/// `good_acts` calls (counted per instance) and then runs `bad_act`.
pub struct WatAgent {
    /// Initial (and only) memory size in 64 KiB pages.
    pub pages: u32,
    /// `init` body, leaving the return-area pointer on the stack.
    pub init: String,
    /// How many `act` calls get a valid action first.
    pub good_acts: u32,
    /// `act` body after that, leaving the return-area pointer on the stack.
    pub bad_act: String,
    /// The `cabi_realloc` export.
    pub realloc: String,
    /// Further module fields (data segments, extra exports).
    pub extra: String,
}

impl Default for WatAgent {
    fn default() -> Self {
        WatAgent {
            pages: 1,
            init: INIT_OK.into(),
            good_acts: u32::MAX,
            bad_act: good_action(),
            realloc: BUMP_REALLOC.into(),
            extra: String::new(),
        }
    }
}

impl WatAgent {
    /// The core module.
    pub fn wat(&self) -> String {
        let WatAgent {
            pages,
            init,
            good_acts,
            bad_act,
            realloc,
            extra,
        } = self;
        let good = good_action();
        format!(
            r#"(module
  (memory (export "memory") {pages})
  {realloc}
  (global $calls (mut i32) (i32.const 0))
  (func (export "ian:eval/agent@0.1.0#init") (param i32 i32) (result i32) {init})
  (func (export "ian:eval/agent@0.1.0#act") (param i64 i32 i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (result i32) (i32.le_u (global.get $calls) (i32.const {good_acts}))
      (then {good})
      (else {bad_act})))
  {extra}
)"#
        )
    }

    /// The agent component.
    pub fn component(&self) -> Vec<u8> {
        ian_component(World::AgentPack, &self.wat())
    }
}

/// A harness core module whose `evaluate` runs `body` (leaving the
/// return-area pointer on the stack); it imports `policy.act` as `$act`
/// with signature `(step i64, features ptr, features len, ret ptr)` and
/// `policy.reset` as `$reset` with signature `(ret ptr)`.
pub fn harness_wat(pages: u32, body: &str, extra: &str) -> String {
    format!(
        r#"(module
  (import "ian:eval/policy@0.1.0" "act" (func $act (param i64 i32 i32 i32)))
  (import "ian:eval/policy@0.1.0" "reset" (func $reset (param i32)))
  (memory (export "memory") {pages})
  {BUMP_REALLOC}
  (func (export "ian:eval/harness@0.1.0#evaluate") (param i32 i32 i64) (result i32)
    (local $i i32)
    {body})
  {extra}
)"#
    )
}

/// Writes `ok(metrics{0, 0, 0, extra = (ptr, len)})` to the return area at
/// 16 and leaves 16 on the stack.
pub fn return_metrics(extra_ptr: u32, extra_len: u32) -> String {
    format!(
        "(i32.store8 (i32.const 16) (i32.const 0)) \
         (f64.store (i32.const 24) (f64.const 0)) \
         (f64.store (i32.const 32) (f64.const 0)) \
         (f64.store (i32.const 40) (f64.const 0)) \
         (i32.store (i32.const 48) (i32.const {extra_ptr})) \
         (i32.store (i32.const 52) (i32.const {extra_len})) \
         (i32.const 16)"
    )
}

/// A harness that calls `policy.act` `calls` times, ignoring every answer
/// (errors included), then reports zero metrics.
pub fn ignoring_harness(calls: u32) -> Vec<u8> {
    let body = format!(
        "(local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const {calls})))
      (call $act (i64.extend_i32_u (local.get $i)) (i32.const 512) (i32.const 2) (i32.const 256))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    {}",
        return_metrics(0, 0)
    );
    ian_component(World::GoalHarness, &harness_wat(2, &body, ""))
}

/// A harness that reports `count` extra metrics, each named with the
/// `name_len` bytes of `x` at 1024, laid out from 65536 on.
pub fn extras_harness(count: u32, name_len: u32) -> Vec<u8> {
    let pages = (65536 + 16 * u64::from(count)).div_ceil(65536) as u32 + 1;
    let body = format!(
        "(local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const {count})))
      (i32.store (i32.add (i32.const 65536) (i32.mul (local.get $i) (i32.const 16))) (i32.const 1024))
      (i32.store (i32.add (i32.const 65540) (i32.mul (local.get $i) (i32.const 16))) (i32.const {name_len}))
      (f64.store (i32.add (i32.const 65544) (i32.mul (local.get $i) (i32.const 16))) (f64.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    {}",
        return_metrics(65536, count)
    );
    let name = "x".repeat(name_len as usize);
    let data = format!(r#"(data (i32.const 1024) "{name}")"#);
    ian_component(World::GoalHarness, &harness_wat(pages, &body, &data))
}

/// An invariant core module whose `check` runs `body`.
pub fn invariant_wat(body: &str, extra: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  {BUMP_REALLOC}
  (func (export "ian:eval/invariant@0.1.0#check") (param i32 i32 i32 i32 i64) (result i32)
    {body})
  {extra}
)"#
    )
}

/// `check` body that returns `ok`.
pub const CHECK_OK: &str = "(i32.store8 (i32.const 16) (i32.const 0)) (i32.const 16)";

/// The `ian:eval` WIT with `debug: func() -> u32` added to the interface
/// exported by `world` (`agent`, `harness` or `invariant`).
pub fn ian_wit_with_extra_func(interface: &str) -> String {
    let anchor = format!("interface {interface} {{");
    assert!(IAN_EVAL_WIT.contains(&anchor), "{anchor}");
    IAN_EVAL_WIT.replace(&anchor, &format!("{anchor}\n    debug: func() -> u32;"))
}

/// A second package whose worlds extend IAN's with a `debug` interface or
/// a `debug-info` function.
pub const EXTENDED_WIT: &str = r#"
package test:extended;

interface debug {
    dump: func() -> u32;
}

world agent-with-debug-interface {
    include ian:eval/agent-pack@0.1.0;
    export debug;
}

world agent-with-debug-func {
    include ian:eval/agent-pack@0.1.0;
    export debug-info: func() -> u32;
}

world harness-with-debug-interface {
    include ian:eval/goal-harness@0.1.0;
    export debug;
}

world invariant-with-debug-func {
    include ian:eval/goal-invariant@0.1.0;
    export debug-info: func() -> u32;
}
"#;
