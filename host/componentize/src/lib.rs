//! Turns core WebAssembly modules built against the `ian:eval` WIT into
//! components, so that contributors never need to install `wasm-tools`.
//!
//! Guests are compiled for `wasm32-unknown-unknown`, which yields a *core*
//! module: no WASI imports at all, plus a `component-type` custom section that
//! `wit-bindgen` embeds to describe the world the module implements. The host
//! sandbox only accepts *components*, so this crate performs the one missing
//! step with `wit-component`'s [`ComponentEncoder`], validating the result.
//! Inputs that are already components (e.g. `wasm32-wasip2` builds, where
//! rustc's linker did the encoding) are passed through byte for byte, so the
//! code hash a contributor computes stays the hash the node computes.
//!
//! This crate knows nothing about wasmtime; it only rewrites bytes.

use wasmparser::{ComponentExternalKind, Parser, Payload};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// The WIT contract shared by every IAN component, compiled into the crate so
/// that [`embed_world`] works without access to the source tree.
pub const IAN_EVAL_WIT: &str = include_str!("../../../guest-sdk/wit/ian-eval.wit");

/// The `ian:diagnostics@0.1.0` package `ian:eval`'s `agent-pack-reporting`
/// world imports; push it into a `Resolve` before [`IAN_EVAL_WIT`].
pub const IAN_DIAGNOSTICS_WIT: &str =
    include_str!("../../../guest-sdk/wit/deps/diagnostics/panic.wit");

/// Version of the WIT package this crate encodes against; it appears in
/// every import/export name of an IAN component.
pub const ABI_VERSION: &str = "ian:eval@0.1.0";

/// The three roles a component can play; each is one world of `ian:eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// A contestant: exports `agent`, imports no functions.
    AgentPack,
    /// A goal's scorer: imports `policy`, exports `harness`.
    GoalHarness,
    /// A goal's pack check: imports `policy`, exports `invariant`.
    GoalInvariant,
}

impl World {
    /// Name of the world inside the WIT package.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::AgentPack => "agent-pack",
            World::GoalHarness => "goal-harness",
            World::GoalInvariant => "goal-invariant",
        }
    }

    /// The single interface a component of this world exports, as it
    /// appears in the component's export section.
    pub fn exported_interface(self) -> &'static str {
        match self {
            World::AgentPack => "ian:eval/agent@0.1.0",
            World::GoalHarness => "ian:eval/harness@0.1.0",
            World::GoalInvariant => "ian:eval/invariant@0.1.0",
        }
    }
}

/// What kind of WebAssembly binary came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A core module (`wasm32-unknown-unknown` output): gets encoded.
    CoreModule,
    /// Already a component (`wasm32-wasip2` output): copied unchanged.
    Component,
}

/// Result of [`componentize`]: the component bytes and what the input was,
/// so callers can tell users whether anything was rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Componentized {
    /// The component binary.
    pub bytes: Vec<u8>,
    /// What the input was.
    pub input: InputKind,
}

/// Top-level imports and exports of a component: enough to tell which world
/// it targets and whether it asks for anything beyond the IAN contract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surface {
    /// Names of top-level imports, in binary order.
    pub imports: Vec<String>,
    /// Names of top-level instance/function exports, in binary order.
    pub exports: Vec<String>,
}

/// Why a binary could not be turned into an IAN component.
#[derive(Debug, thiserror::Error)]
pub enum ComponentizeError {
    /// The bytes do not start with the WebAssembly magic and a known version.
    #[error(
        "input is not a WebAssembly binary (no `\\0asm` header with a core or component version)"
    )]
    NotWasm,
    /// The header is right but the binary cannot be parsed.
    #[error("input is malformed WebAssembly: {0}")]
    Malformed(String),
    /// A core module without the world description `wit-bindgen` embeds.
    #[error(
        "core module has no `component-type` custom section: build it with ian-guest-sdk \
         (wit-bindgen) or embed a world first with `embed_world`"
    )]
    MissingComponentType,
    /// `wit-component` refused the module, e.g. its exports do not match the
    /// world it claims (the message comes from `wit-component`).
    #[error("cannot encode component: {0}")]
    Encode(String),
    /// The compiled-in WIT failed to resolve; indicates a broken build.
    #[error("built-in WIT package {ABI_VERSION} does not resolve: {0}")]
    Wit(String),
}

/// Tells a core module from a component by the binary header alone, without
/// parsing further: cheap enough to run on untrusted uploads.
pub fn classify(bytes: &[u8]) -> Result<InputKind, ComponentizeError> {
    if Parser::is_component(bytes) {
        Ok(InputKind::Component)
    } else if Parser::is_core_wasm(bytes) {
        Ok(InputKind::CoreModule)
    } else {
        Err(ComponentizeError::NotWasm)
    }
}

/// Turns a core module carrying `component-type` metadata into a validated
/// component; passes components through unchanged.
///
/// The core module's `name` section is kept, so trap backtraces taken by the
/// host still show function names.
pub fn componentize(bytes: &[u8]) -> Result<Componentized, ComponentizeError> {
    match classify(bytes)? {
        InputKind::Component => Ok(Componentized {
            bytes: bytes.to_vec(),
            input: InputKind::Component,
        }),
        InputKind::CoreModule => {
            if !has_component_type_section(bytes)? {
                return Err(ComponentizeError::MissingComponentType);
            }
            let bytes = ComponentEncoder::default()
                .validate(true)
                .module(bytes)
                .and_then(|mut encoder| encoder.encode())
                .map_err(|e| ComponentizeError::Encode(format!("{e:#}")))?;
            Ok(Componentized {
                bytes,
                input: InputKind::CoreModule,
            })
        }
    }
}

/// Appends the `component-type` metadata for one of the IAN worlds to a core
/// module, for modules produced by toolchains other than `wit-bindgen` (or by
/// hand). The result can then go through [`componentize`].
pub fn embed_world(module: &[u8], world: World) -> Result<Vec<u8>, ComponentizeError> {
    if classify(module)? != InputKind::CoreModule {
        return Err(ComponentizeError::Encode(
            "metadata can only be embedded into a core module, not a component".into(),
        ));
    }
    let mut resolve = Resolve::default();
    resolve
        .push_str("panic.wit", IAN_DIAGNOSTICS_WIT)
        .map_err(|e| ComponentizeError::Wit(format!("{e:#}")))?;
    let package = resolve
        .push_str("ian-eval.wit", IAN_EVAL_WIT)
        .map_err(|e| ComponentizeError::Wit(format!("{e:#}")))?;
    let world_id = resolve
        .select_world(&[package], Some(world.wit_name()))
        .map_err(|e| ComponentizeError::Wit(format!("{e:#}")))?;
    let mut out = module.to_vec();
    wit_component::embed_component_metadata(&mut out, &resolve, world_id, StringEncoding::UTF8)
        .map_err(|e| ComponentizeError::Encode(format!("{e:#}")))?;
    Ok(out)
}

/// wit-bindgen's C bindings of `world`: `(file name, contents)` pairs, the
/// `.c`, the `.h` and the `_component_type.o` object that carries the world
/// for [`componentize`]. What `ian-host new agent --lang c` writes into a
/// project, so a C agent builds with clang and wasi-libc alone.
pub fn c_bindings(world: World) -> Result<Vec<(String, Vec<u8>)>, ComponentizeError> {
    use wit_bindgen_core::wit_parser::Resolve as BindgenResolve;
    let wit = |e: anyhow::Error| ComponentizeError::Wit(format!("{e:#}"));
    let mut resolve = BindgenResolve::default();
    resolve
        .push_str("panic.wit", IAN_DIAGNOSTICS_WIT)
        .map_err(wit)?;
    let package = resolve
        .push_str("ian-eval.wit", IAN_EVAL_WIT)
        .map_err(wit)?;
    let world_id = resolve
        .select_world(&[package], Some(world.wit_name()))
        .map_err(wit)?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world_id, &mut files)
        .map_err(|e| ComponentizeError::Encode(format!("C bindings: {e:#}")))?;
    Ok(files
        .iter()
        .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
        .collect())
}

/// Lists a component's top-level imports and exports (nested components and
/// core modules are not descended into).
pub fn surface(component: &[u8]) -> Result<Surface, ComponentizeError> {
    if classify(component)? != InputKind::Component {
        return Err(ComponentizeError::Malformed(
            "expected a component, found a core module".into(),
        ));
    }
    let mut surface = Surface::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| ComponentizeError::Malformed(e.to_string()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| ComponentizeError::Malformed(e.to_string()))?;
                    surface.imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| ComponentizeError::Malformed(e.to_string()))?;
                    if matches!(
                        export.kind,
                        ComponentExternalKind::Instance | ComponentExternalKind::Func
                    ) {
                        surface.exports.push(export.name.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(surface)
}

/// The WASI imports of a core module (`wasi_snapshot_preview1::fd_write`,
/// what a `wasm32-wasip1` build asks for) or of a component (`wasi:cli/...`,
/// a `wasm32-wasip2` build), in binary order. IAN agents import nothing, so
/// tools use this to tell a user which `--target` they built for by mistake.
pub fn wasi_imports(bytes: &[u8]) -> Result<Vec<String>, ComponentizeError> {
    match classify(bytes)? {
        InputKind::Component => Ok(surface(bytes)?
            .imports
            .into_iter()
            .filter(|i| i.starts_with("wasi:"))
            .collect()),
        InputKind::CoreModule => {
            let mut out = Vec::new();
            for payload in Parser::new(0).parse_all(bytes) {
                let payload = payload.map_err(|e| ComponentizeError::Malformed(e.to_string()))?;
                if let Payload::ImportSection(reader) = payload {
                    for import in reader.into_imports() {
                        let import =
                            import.map_err(|e| ComponentizeError::Malformed(e.to_string()))?;
                        if import.module.starts_with("wasi") {
                            out.push(format!("{}::{}", import.module, import.name));
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}

fn has_component_type_section(module: &[u8]) -> Result<bool, ComponentizeError> {
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| ComponentizeError::Malformed(e.to_string()))?;
        if let Payload::CustomSection(section) = payload
            && section.name().starts_with("component-type")
        {
            return Ok(true);
        }
    }
    Ok(false)
}
