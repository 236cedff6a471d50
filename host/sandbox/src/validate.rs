//! Load-time validation that runs before anything is compiled.
//!
//! Compiling is the expensive step (milliseconds) and the one that feeds
//! untrusted bytes to the code generator, so everything that can be decided
//! from the component's outer shape is decided first: size, "is this wasm",
//! "is this a component", the top-level imports against the role's
//! allowlist, and that the exports are exactly the role's world: its one
//! interface, with exactly that interface's functions.
//!
//! Exports beyond the world are refused rather than ignored: the host would
//! never call them, so they can only be a mistake (a debug build, the wrong
//! world) or an attempt to smuggle an interface past review; either way the
//! pack is not what its world says it is.

use crate::fault::{Fault, Role};
use wasmparser::{
    Encoding, Parser, Payload, ValidPayload, Validator, WasmFeatures,
    component_types::ComponentEntityType, types::Types,
};

/// The type-only interface every IAN component imports.
pub(crate) const TYPES_IMPORT: &str = "ian:eval/types@0.1.0";
/// The host-served interface harnesses and invariants import.
pub(crate) const POLICY_IMPORT: &str = "ian:eval/policy@0.1.0";
/// The optional panic report (`ian:diagnostics`) any guest may import;
/// ian-guest-sdk's agents do (world `agent-pack-reporting`).
pub(crate) const PANIC_IMPORT: &str = "ian:diagnostics/panic@0.1.0";

/// WASI p2 interfaces a dataset harness may import: I/O, CLI stdio,
/// clocks, random and read-only filesystem. Sockets are deliberately absent.
const WASI_ALLOWED: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// What an agent of a goal with `agents = "wasi"` may import beyond
/// [`WASI_ALLOWED`]: the sockets CPython, QuickJS and wasi-libc builds link.
/// The filesystem is linked with nothing preopened and every socket
/// operation is denied, so a runtime that probes them gets an error it can
/// handle instead of a missing import. `wasi:http` is in neither list: a
/// component that imports it is refused at load time.
const WASI_AGENT_SOCKETS: &[&str] = &[
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// Whether `name` (a full import name such as `wasi:io/streams@0.2.6`) may
/// be imported by a component of `role`.
pub(crate) fn import_allowed(role: Role, name: &str) -> bool {
    if name == TYPES_IMPORT || name == PANIC_IMPORT {
        return true;
    }
    match role {
        Role::Agent => false,
        Role::Harness | Role::Invariant => name == POLICY_IMPORT,
        Role::DatasetHarness => name == POLICY_IMPORT || is_wasi_p2(name, WASI_ALLOWED),
        Role::WasiAgent => is_wasi_p2(name, WASI_ALLOWED) || is_wasi_p2(name, WASI_AGENT_SOCKETS),
    }
}

/// Whether `name` is one of `allowed` at a WASI 0.2.x version.
fn is_wasi_p2(name: &str, allowed: &[&str]) -> bool {
    name.split_once('@')
        .is_some_and(|(iface, version)| allowed.contains(&iface) && is_wasi_p2_version(version))
}

fn is_wasi_p2_version(v: &str) -> bool {
    let mut parts = v.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("0"), Some("2"), Some(patch), None) if !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit())
    )
}

/// The export a component of `role` must provide.
pub(crate) fn required_export(role: Role) -> &'static str {
    match role {
        Role::Agent | Role::WasiAgent => "ian:eval/agent@0.1.0",
        Role::Harness | Role::DatasetHarness => "ian:eval/harness@0.1.0",
        Role::Invariant => "ian:eval/invariant@0.1.0",
    }
}

/// The items of the role's exported interface, as the WIT defines them:
/// its functions, then the types it `use`s (which a component re-exports
/// from the interface instance).
pub(crate) fn interface_items(role: Role) -> (&'static [&'static str], &'static [&'static str]) {
    match role {
        Role::Agent | Role::WasiAgent => (&["init", "act"], &["observation", "action"]),
        Role::Harness | Role::DatasetHarness => (&["evaluate"], &["metrics"]),
        Role::Invariant => (&["check"], &["pack-info"]),
    }
}

/// What the pre-compile scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Names exported by the instance behind the role's export, when they
    /// could be read (always after compiling; before compiling when the
    /// component-level validation succeeded).
    pub interface: Option<Vec<String>>,
}

/// Checks size, encoding, imports and exports without compiling.
pub(crate) fn prevalidate(bytes: &[u8], role: Role, max_bytes: u64) -> Result<Shape, Fault> {
    let size = bytes.len() as u64;
    if size > max_bytes {
        return Err(Fault::ComponentTooLarge {
            size,
            max: max_bytes,
        });
    }
    let shape = scan(bytes, role)?;
    check_shape(&shape, role)?;
    Ok(shape)
}

/// Applies the allowlist and export rule to a list of names; shared by the
/// pre-compile scan and the post-compile re-check of cached artifacts.
pub(crate) fn check_shape(shape: &Shape, role: Role) -> Result<(), Fault> {
    let forbidden: Vec<String> = shape
        .imports
        .iter()
        .filter(|n| !import_allowed(role, n))
        .cloned()
        .collect();
    if let Some(first) = forbidden.first() {
        return Err(Fault::ForbiddenImport {
            role,
            import: first.clone(),
            all: forbidden,
        });
    }
    let want = required_export(role);
    if !shape.exports.iter().any(|e| e == want) {
        let found = if shape.exports.is_empty() {
            "nothing".to_owned()
        } else {
            shape.exports.join(", ")
        };
        return Err(Fault::WrongWorld {
            role,
            reason: format!("it must export `{want}` but exports {found}"),
        });
    }
    let extra: Vec<&str> = shape
        .exports
        .iter()
        .map(String::as_str)
        .filter(|e| *e != want && !toolchain_export(role, e))
        .collect();
    if !extra.is_empty() {
        return Err(Fault::WrongWorld {
            role,
            reason: format!(
                "it exports {} beyond its world, which exports only `{want}`",
                quoted(&extra)
            ),
        });
    }
    if let Some(items) = &shape.interface {
        let (funcs, types) = interface_items(role);
        let extra: Vec<&str> = items
            .iter()
            .map(String::as_str)
            .filter(|n| !funcs.contains(n) && !types.contains(n))
            .collect();
        if !extra.is_empty() {
            return Err(Fault::WrongWorld {
                role,
                reason: format!(
                    "its `{want}` exports {} beyond the interface, which has only {}",
                    quoted(&extra),
                    quoted(funcs)
                ),
            });
        }
    }
    Ok(())
}

/// Whether `name` is an export a language toolchain leaves beside the
/// world, which an agent with WASI may carry: componentize-py keeps
/// `exports`, the instance its build-time pre-initialisation called. The
/// host never calls such exports. Only for agents of goals that opted into
/// WASI, and never an `ian:` interface, so an agent still cannot pose as a
/// harness or an invariant.
fn toolchain_export(role: Role, name: &str) -> bool {
    role == Role::WasiAgent && !name.starts_with("ian:")
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names exported by the instance that a validated component exports
/// as `name`, or `None` if it is not an instance.
fn instance_export_names(types: &Types, name: &str) -> Option<Vec<String>> {
    match types.component_item_for_export(name)?.ty {
        ComponentEntityType::Instance(id) => Some(types[id].exports.keys().cloned().collect()),
        _ => None,
    }
}

fn scan(bytes: &[u8], role: Role) -> Result<Shape, Fault> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(Fault::NotWasm {
            reason: "missing the `\\0asm` magic number".into(),
        });
    }
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut depth = 0usize;
    // Component-level validation without function bodies (those are left to
    // the engine's compile step), only to learn the type of the exported
    // interface instance before compiling. Permissive on purpose: it never
    // refuses anything itself; if it cannot validate, the members are
    // checked after compiling instead.
    let mut validator = Some(Validator::new_with_features(WasmFeatures::all()));
    let mut types = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| Fault::NotWasm {
            reason: e.to_string(),
        })?;
        if let Some(v) = validator.as_mut() {
            match v.payload(&payload) {
                Ok(ValidPayload::End(t)) => types = Some(t),
                Ok(_) => {}
                Err(_) => validator = None,
            }
        }
        match payload {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => {
                return Err(Fault::WrongWorld {
                    role,
                    reason: "this is a core wasm module, not a component; package it \
                             into a component first (ian-componentize)"
                        .into(),
                });
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| Fault::NotWasm {
                        reason: e.to_string(),
                    })?;
                    imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| Fault::NotWasm {
                        reason: e.to_string(),
                    })?;
                    exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    let interface = types.and_then(|t| instance_export_names(&t, required_export(role)));
    Ok(Shape {
        imports,
        exports,
        interface,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_may_import_only_the_type_interface() {
        assert!(import_allowed(Role::Agent, "ian:eval/types@0.1.0"));
        assert!(!import_allowed(Role::Agent, "ian:eval/policy@0.1.0"));
        assert!(import_allowed(Role::Agent, "ian:diagnostics/panic@0.1.0"));
        assert!(import_allowed(Role::Harness, "ian:diagnostics/panic@0.1.0"));
        assert!(!import_allowed(Role::Agent, "ian:diagnostics/panic@0.2.0"));
        assert!(!import_allowed(Role::Agent, "wasi:io/streams@0.2.6"));
        assert!(!import_allowed(Role::Agent, "ian:eval/types@0.2.0"));
    }

    #[test]
    fn an_agent_with_wasi_may_import_p2_interfaces_but_not_http_or_the_policy() {
        assert!(import_allowed(Role::WasiAgent, "ian:eval/types@0.1.0"));
        assert!(import_allowed(Role::WasiAgent, "wasi:cli/stderr@0.2.6"));
        assert!(import_allowed(Role::WasiAgent, "wasi:sockets/tcp@0.2.0"));
        assert!(import_allowed(
            Role::WasiAgent,
            "wasi:filesystem/preopens@0.2.3"
        ));
        assert!(!import_allowed(Role::WasiAgent, "wasi:http/types@0.2.6"));
        assert!(!import_allowed(Role::WasiAgent, "wasi:cli/stderr@0.3.0"));
        assert!(!import_allowed(Role::WasiAgent, "ian:eval/policy@0.1.0"));
        assert!(!import_allowed(
            Role::DatasetHarness,
            "wasi:sockets/tcp@0.2.0"
        ));
    }

    #[test]
    fn plain_harness_gets_no_wasi() {
        assert!(import_allowed(Role::Harness, "ian:eval/policy@0.1.0"));
        assert!(!import_allowed(
            Role::Harness,
            "wasi:filesystem/types@0.2.6"
        ));
        assert!(import_allowed(Role::Invariant, "ian:eval/policy@0.1.0"));
    }

    #[test]
    fn dataset_harness_gets_wasi_p2_but_no_sockets() {
        assert!(import_allowed(
            Role::DatasetHarness,
            "wasi:filesystem/types@0.2.6"
        ));
        assert!(import_allowed(
            Role::DatasetHarness,
            "wasi:io/streams@0.2.12"
        ));
        assert!(!import_allowed(
            Role::DatasetHarness,
            "wasi:sockets/tcp@0.2.6"
        ));
        assert!(!import_allowed(
            Role::DatasetHarness,
            "wasi:filesystem/types@0.3.0"
        ));
        assert!(!import_allowed(
            Role::DatasetHarness,
            "wasi:filesystem/types"
        ));
        assert!(!import_allowed(
            Role::DatasetHarness,
            "wasi:http/outgoing-handler@0.2.6"
        ));
    }

    #[test]
    fn random_bytes_are_not_wasm() {
        let err = prevalidate(b"hello, this is not wasm", Role::Agent, 1 << 20).unwrap_err();
        assert_eq!(err.reason_code(), "not_wasm");
    }

    #[test]
    fn truncated_header_is_not_wasm() {
        let err = prevalidate(b"\0asm\x0d\x00\x01\x00\x01", Role::Agent, 1 << 20).unwrap_err();
        assert_eq!(err.reason_code(), "not_wasm");
    }

    #[test]
    fn size_is_checked_before_parsing() {
        let err = prevalidate(&[0u8; 100], Role::Agent, 99).unwrap_err();
        assert_eq!(err, Fault::ComponentTooLarge { size: 100, max: 99 });
    }

    #[test]
    fn core_module_is_the_wrong_world() {
        // The smallest core module: magic + version 1.
        let err = prevalidate(b"\0asm\x01\x00\x00\x00", Role::Agent, 1 << 20).unwrap_err();
        assert_eq!(err.reason_code(), "wrong_world");
        assert!(err.to_string().contains("core wasm module"), "{err}");
    }

    #[test]
    fn empty_component_is_the_wrong_world() {
        let err = prevalidate(b"\0asm\x0d\x00\x01\x00", Role::Agent, 1 << 20).unwrap_err();
        assert_eq!(err.reason_code(), "wrong_world");
        assert!(err.to_string().contains("ian:eval/agent@0.1.0"), "{err}");
    }
}
