//! Every engine knob and default limit of the sandbox, in one place.
//!
//! Each field documents its default and the `IAN_*` environment variable that
//! overrides it. Fields marked *determinism-relevant* are part of
//! [`crate::Sandbox::config_hash`]: two hosts whose config hashes agree compute
//! the same fuel, memory and trap outcomes for the same inputs.

use std::path::PathBuf;

/// Per-evaluation limits. A goal may set each of them; the sandbox's
/// [`SandboxConfig::limits`] provides the defaults.
///
/// Verdicts depend only on the deterministic limits (fuel, memory, action
/// length). `wall_backstop_ms` only protects the host and can only ever yield
/// [`crate::Fault::Inconclusive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Total agent fuel for one `evaluate()`/`check()` call: `init`, every
    /// `act` and every `reset` together. Exhausting it is
    /// `agent_out_of_fuel`. Default 50,000,000; env
    /// `IAN_SANDBOX_FUEL_PER_EVALUATION`.
    pub fuel_per_evaluation: u64,
    /// Agent fuel for a single `init` or `act` call (instantiation counts
    /// towards `init`). Bounds how long one step may think. Default
    /// 5,000,000; env `IAN_SANDBOX_FUEL_PER_CALL`.
    pub fuel_per_call: u64,
    /// Fuel of the harness (or invariant) itself, excluding the agent's.
    /// Exhausting it is `harness_fault`. Default 500,000,000; env
    /// `IAN_SANDBOX_HARNESS_FUEL`.
    pub harness_fuel: u64,
    /// Linear-memory cap per store, applied to the agent and to the harness
    /// separately. Growing past it is `agent_memory_exceeded` (or
    /// `harness_fault` for the harness). Capped by
    /// [`SandboxConfig::pool_max_memory_bytes`]. Default 67,108,864 (64 MiB);
    /// env `IAN_SANDBOX_MEMORY_BYTES`.
    pub memory_bytes: u64,
    /// Largest component binary accepted at load time
    /// (`component_too_large`). Checked before anything is parsed. Default
    /// 4,194,304 (4 MiB); env `IAN_SANDBOX_MAX_COMPONENT_BYTES`.
    pub max_component_bytes: u64,
    /// Longest action vector an agent may return
    /// (`agent_invalid_action`). Default 64; env
    /// `IAN_SANDBOX_MAX_ACTION_LEN`.
    pub max_action_len: u32,
    /// Wall-clock backstop for one evaluation, in milliseconds. Hitting it
    /// gives `inconclusive`, never a pass or a fail. Default 10,000; env
    /// `IAN_SANDBOX_WALL_BACKSTOP_MS`.
    pub wall_backstop_ms: u64,
    /// What an agent may import besides IAN's types. Set by the goal
    /// (`agents = "wasi"`), never by the node: no environment variable
    /// changes it. Default [`AgentRuntime::Pure`].
    pub agents: AgentRuntime,
    /// How the ranked `complexity` is computed. Set by the goal
    /// (`[complexity]`), never by the node. Default
    /// [`crate::Complexity::Raw`].
    pub complexity: crate::Complexity,
}

/// The capability an agent is given, chosen by the goal author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AgentRuntime {
    /// Nothing but IAN's types (and the optional panic report): what
    /// ian-guest-sdk agents need, and the smallest surface.
    #[default]
    Pure,
    /// The WASI p2 interfaces of language runtimes (CPython, QuickJS,
    /// wasi-libc), served deterministically: no files, no environment, a
    /// clock that advances by readings, random bytes from the pack and the
    /// evaluation seed, sockets denied, stdout and stderr captured.
    Wasi,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_evaluation: 50_000_000,
            fuel_per_call: 5_000_000,
            harness_fuel: 500_000_000,
            memory_bytes: 64 << 20,
            max_component_bytes: 4 << 20,
            max_action_len: 64,
            wall_backstop_ms: 10_000,
            agents: AgentRuntime::Pure,
            complexity: crate::Complexity::Raw,
        }
    }
}

impl Limits {
    /// Checks that every limit is usable; a zero fuel budget or memory cap
    /// would turn every evaluation into a fault that says nothing about the
    /// agent.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nonzero = [
            ("fuel_per_evaluation", self.fuel_per_evaluation),
            ("fuel_per_call", self.fuel_per_call),
            ("harness_fuel", self.harness_fuel),
            ("memory_bytes", self.memory_bytes),
            ("max_component_bytes", self.max_component_bytes),
            ("max_action_len", u64::from(self.max_action_len)),
            ("wall_backstop_ms", self.wall_backstop_ms),
        ];
        for (field, value) in nonzero {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be greater than zero".into(),
                });
            }
        }
        Ok(())
    }
}

/// Engine settings and default limits of a [`crate::Sandbox`].
///
/// The engine features themselves are not configurable: fuel metering, NaN
/// canonicalisation, deterministic relaxed-SIMD lowering with relaxed SIMD
/// disabled, no threads (the wasmtime `threads` feature is not compiled), no
/// component-model async, the component model and the pooling allocator are
/// always on (see docs/SANDBOX.md for why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Maximum wasm stack per store entry, in bytes. *Determinism-relevant*:
    /// it decides where deep recursion becomes `agent_stack_overflow`.
    /// Default 524,288 (512 KiB); env `IAN_SANDBOX_MAX_WASM_STACK`.
    pub max_wasm_stack: usize,
    /// Native stack of the worker threads spawned by [`crate::EvalPool`] and
    /// [`crate::Sandbox::spawn_eval_thread`]. Must be at least
    /// `2 * max_wasm_stack + 1 MiB`, because the agent's frames nest under
    /// the harness's on one native stack. Default 8,388,608 (8 MiB); env
    /// `IAN_SANDBOX_EVAL_THREAD_STACK`.
    pub eval_thread_stack: usize,
    /// Largest linear memory the pooling allocator can hold; the effective
    /// per-store cap is `min(limits.memory_bytes, pool_max_memory_bytes)`.
    /// *Determinism-relevant*. Default 268,435,456 (256 MiB); env
    /// `IAN_SANDBOX_POOL_MAX_MEMORY_BYTES`.
    pub pool_max_memory_bytes: u64,
    /// Component instances the pool can hold at once. Each running
    /// evaluation uses two (harness and agent). Exhaustion is a host error
    /// (`inconclusive`), never blamed on the agent. Default 128; env
    /// `IAN_SANDBOX_POOL_COMPONENT_INSTANCES`.
    pub pool_component_instances: u32,
    /// Core instances the pool can hold at once (a component contains
    /// several). Default 1,024; env `IAN_SANDBOX_POOL_CORE_INSTANCES`.
    pub pool_core_instances: u32,
    /// Linear memories the pool can hold at once (each reserves about 4 GiB
    /// of address space, not memory). Default 256; env
    /// `IAN_SANDBOX_POOL_MEMORIES`.
    pub pool_memories: u32,
    /// Tables the pool can hold at once. Default 256; env
    /// `IAN_SANDBOX_POOL_TABLES`.
    pub pool_tables: u32,
    /// Bytes of each pooled linear memory (and of each table) kept mapped
    /// between instances and reset with `memset` instead of being returned
    /// to the kernel; on Linux only pages actually written are reset. Saves
    /// page faults on every instantiation. Default 2,097,152 (2 MiB); env
    /// `IAN_SANDBOX_POOL_KEEP_RESIDENT`.
    pub pool_keep_resident: usize,
    /// Maximum elements of one table; `table.grow` beyond it fails (returns
    /// -1) deterministically. *Determinism-relevant*. Default 65,536; env
    /// `IAN_SANDBOX_MAX_TABLE_ELEMENTS`.
    pub max_table_elements: u32,
    /// Period of the epoch ticker behind the wall-clock backstop, in
    /// milliseconds. Smaller is more precise and costs more wake-ups.
    /// Default 10; env `IAN_SANDBOX_EPOCH_TICK_MS`.
    pub epoch_tick_ms: u64,
    /// Directory for precompiled components. `None` keeps the cache in
    /// memory only. Default unset; env `IAN_SANDBOX_CACHE_DIR`.
    pub cache_dir: Option<PathBuf>,
    /// Most bytes of compiled artefacts kept in `cache_dir`; past it the
    /// least recently used are deleted (a componentize-py agent's artefact
    /// takes tens of MB). Default 4,294,967,296 (4 GiB); env
    /// `IAN_SANDBOX_CACHE_MAX_BYTES`.
    pub cache_max_bytes: u64,
    /// Compiled components kept in memory (least recently used are
    /// evicted). Default 256; env `IAN_SANDBOX_MEMORY_CACHE_ENTRIES`.
    pub memory_cache_entries: usize,
    /// Compile functions of one component on several threads. Does not
    /// change the generated code. Default true; env
    /// `IAN_SANDBOX_PARALLEL_COMPILATION` (`true`/`false`/`1`/`0`).
    pub parallel_compilation: bool,
    /// Components compiled at once; further loads of new code wait, and
    /// loads of code being compiled wait for that compile instead of
    /// repeating it. Bounds how many workers new components can hold (an
    /// 18 MB Python agent compiles for seconds). Default 1; env
    /// `IAN_SANDBOX_MAX_CONCURRENT_COMPILES`.
    pub max_concurrent_compiles: usize,
    /// How long an evaluation waits, in total, for free instance slots when
    /// the pool is full, before it is `inconclusive`. Waiting changes no
    /// result: the evaluation runs again from the start once slots free
    /// up. Default 60,000 ms; env `IAN_SANDBOX_POOL_WAIT_MS`.
    pub pool_wait_ms: u64,
    /// Bytes of stdout and of stderr kept from a WASI harness; the rest is
    /// dropped and the capture is marked truncated. Default 65,536; env
    /// `IAN_SANDBOX_MAX_CAPTURED_OUTPUT`.
    pub max_captured_output: usize,
    /// The fixed wall-clock time a WASI harness sees, in seconds since the
    /// Unix epoch. *Determinism-relevant*. Default 1,704,067,200
    /// (2024-01-01T00:00:00Z); env `IAN_SANDBOX_WASI_WALL_CLOCK_SECS`.
    pub wasi_wall_clock_secs: u64,
    /// Default per-evaluation limits (each with its own env override).
    pub limits: Limits,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            max_wasm_stack: 512 << 10,
            eval_thread_stack: 8 << 20,
            pool_max_memory_bytes: 256 << 20,
            pool_component_instances: 128,
            pool_core_instances: 1024,
            pool_memories: 256,
            pool_tables: 256,
            pool_keep_resident: 2 << 20,
            max_table_elements: 65_536,
            epoch_tick_ms: 10,
            cache_dir: None,
            cache_max_bytes: 4 << 30,
            memory_cache_entries: 256,
            parallel_compilation: true,
            max_concurrent_compiles: 1,
            pool_wait_ms: 60_000,
            max_captured_output: 64 << 10,
            wasi_wall_clock_secs: 1_704_067_200,
            limits: Limits::default(),
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An environment variable holds something that does not parse.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The variable, e.g. `IAN_SANDBOX_MAX_WASM_STACK`.
        var: &'static str,
        /// Its value as found.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A field holds a value the sandbox cannot work with.
    #[error("sandbox setting `{field}` is invalid: {reason}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

fn parse_u64(var: &'static str, value: &str) -> Result<u64, ConfigError> {
    let cleaned: String = value.trim().chars().filter(|c| *c != '_').collect();
    cleaned.parse::<u64>().map_err(|e| ConfigError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason: format!("expected a non-negative integer ({e})"),
    })
}

fn parse_num<T: TryFrom<u64>>(var: &'static str, value: &str) -> Result<T, ConfigError> {
    let n = parse_u64(var, value)?;
    T::try_from(n).map_err(|_| ConfigError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason: "number out of range".into(),
    })
}

fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::InvalidEnv {
            var,
            value: value.to_owned(),
            reason: "expected true/false/1/0".into(),
        }),
    }
}

impl SandboxConfig {
    /// Defaults overridden by the `IAN_SANDBOX_*` settings that `lookup`
    /// returns, then validated. Unset settings keep the default; set but
    /// invalid ones are an error naming the variable (never silently
    /// ignored). The library never reads the process environment itself:
    /// the embedding program (the node's one configuration table) decides
    /// where the settings come from.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Option<String>,
    ) -> Result<SandboxConfig, ConfigError> {
        let mut c = SandboxConfig::default();
        macro_rules! num {
            ($var:literal, $field:expr) => {
                if let Some(v) = lookup($var) {
                    $field = parse_num($var, &v)?;
                }
            };
        }
        num!("IAN_SANDBOX_MAX_WASM_STACK", c.max_wasm_stack);
        num!("IAN_SANDBOX_EVAL_THREAD_STACK", c.eval_thread_stack);
        num!("IAN_SANDBOX_POOL_MAX_MEMORY_BYTES", c.pool_max_memory_bytes);
        num!(
            "IAN_SANDBOX_POOL_COMPONENT_INSTANCES",
            c.pool_component_instances
        );
        num!("IAN_SANDBOX_POOL_CORE_INSTANCES", c.pool_core_instances);
        num!("IAN_SANDBOX_POOL_MEMORIES", c.pool_memories);
        num!("IAN_SANDBOX_POOL_TABLES", c.pool_tables);
        num!("IAN_SANDBOX_POOL_KEEP_RESIDENT", c.pool_keep_resident);
        num!("IAN_SANDBOX_POOL_WAIT_MS", c.pool_wait_ms);
        num!("IAN_SANDBOX_MAX_TABLE_ELEMENTS", c.max_table_elements);
        num!("IAN_SANDBOX_EPOCH_TICK_MS", c.epoch_tick_ms);
        if let Some(v) = lookup("IAN_SANDBOX_CACHE_DIR") {
            let v = v.trim().to_owned();
            c.cache_dir = if v.is_empty() {
                None
            } else {
                Some(PathBuf::from(v))
            };
        }
        num!("IAN_SANDBOX_MEMORY_CACHE_ENTRIES", c.memory_cache_entries);
        num!("IAN_SANDBOX_CACHE_MAX_BYTES", c.cache_max_bytes);
        if let Some(v) = lookup("IAN_SANDBOX_PARALLEL_COMPILATION") {
            c.parallel_compilation = parse_bool("IAN_SANDBOX_PARALLEL_COMPILATION", &v)?;
        }
        num!(
            "IAN_SANDBOX_MAX_CONCURRENT_COMPILES",
            c.max_concurrent_compiles
        );
        num!("IAN_SANDBOX_MAX_CAPTURED_OUTPUT", c.max_captured_output);
        num!("IAN_SANDBOX_WASI_WALL_CLOCK_SECS", c.wasi_wall_clock_secs);
        num!(
            "IAN_SANDBOX_FUEL_PER_EVALUATION",
            c.limits.fuel_per_evaluation
        );
        num!("IAN_SANDBOX_FUEL_PER_CALL", c.limits.fuel_per_call);
        num!("IAN_SANDBOX_HARNESS_FUEL", c.limits.harness_fuel);
        num!("IAN_SANDBOX_MEMORY_BYTES", c.limits.memory_bytes);
        num!(
            "IAN_SANDBOX_MAX_COMPONENT_BYTES",
            c.limits.max_component_bytes
        );
        num!("IAN_SANDBOX_MAX_ACTION_LEN", c.limits.max_action_len);
        num!("IAN_SANDBOX_WALL_BACKSTOP_MS", c.limits.wall_backstop_ms);
        c.validate()?;
        Ok(c)
    }

    /// The native stack an evaluation thread needs: the agent's wasm stack
    /// window sits below the harness's, plus 1 MiB for host frames.
    pub fn required_native_stack(&self) -> usize {
        self.max_wasm_stack
            .saturating_mul(2)
            .saturating_add(1 << 20)
    }

    /// Refuses settings the engine cannot honour or that would make every
    /// evaluation fail.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, reason: String| ConfigError::Invalid { field, reason };
        if self.max_wasm_stack < 64 << 10 {
            return Err(invalid(
                "max_wasm_stack",
                format!(
                    "{} bytes is below the 65536-byte minimum",
                    self.max_wasm_stack
                ),
            ));
        }
        if self.max_wasm_stack > 256 << 20 {
            return Err(invalid(
                "max_wasm_stack",
                format!("{} bytes is above the 256 MiB maximum", self.max_wasm_stack),
            ));
        }
        if self.eval_thread_stack < self.required_native_stack() {
            return Err(invalid(
                "eval_thread_stack",
                format!(
                    "{} bytes is below 2 * max_wasm_stack + 1 MiB = {} bytes",
                    self.eval_thread_stack,
                    self.required_native_stack()
                ),
            ));
        }
        if self.pool_max_memory_bytes < 64 << 10 {
            return Err(invalid(
                "pool_max_memory_bytes",
                "must hold at least one 64 KiB page".into(),
            ));
        }
        for (field, v) in [
            ("pool_component_instances", self.pool_component_instances),
            ("pool_core_instances", self.pool_core_instances),
            ("pool_memories", self.pool_memories),
            ("pool_tables", self.pool_tables),
            ("max_table_elements", self.max_table_elements),
        ] {
            if v < 2 {
                return Err(invalid(field, format!("{v} is below the minimum of 2")));
            }
        }
        if self.max_concurrent_compiles == 0 {
            return Err(invalid(
                "max_concurrent_compiles",
                "0 would never compile anything; the minimum is 1".into(),
            ));
        }
        if self.epoch_tick_ms == 0 || self.epoch_tick_ms > 60_000 {
            return Err(invalid(
                "epoch_tick_ms",
                format!("{} is outside 1..=60000", self.epoch_tick_ms),
            ));
        }
        if self.memory_cache_entries == 0 {
            return Err(invalid("memory_cache_entries", "must be at least 1".into()));
        }
        self.limits.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&'static str, &str)]) -> impl Fn(&'static str) -> Option<String> {
        let map: HashMap<&'static str, String> =
            pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn empty_environment_gives_documented_defaults() {
        let c = SandboxConfig::from_lookup(|_| None).unwrap();
        assert_eq!(c, SandboxConfig::default());
        assert_eq!(c.max_wasm_stack, 524_288);
        assert_eq!(c.limits.fuel_per_evaluation, 50_000_000);
        assert_eq!(c.limits.memory_bytes, 67_108_864);
        assert_eq!(c.limits.max_component_bytes, 4_194_304);
    }

    #[test]
    fn env_overrides_fields_and_accepts_underscores() {
        let c = SandboxConfig::from_lookup(lookup(&[
            ("IAN_SANDBOX_FUEL_PER_CALL", "1_000"),
            ("IAN_SANDBOX_CACHE_DIR", "/tmp/x"),
            ("IAN_SANDBOX_PARALLEL_COMPILATION", "false"),
        ]))
        .unwrap();
        assert_eq!(c.limits.fuel_per_call, 1000);
        assert_eq!(c.cache_dir, Some(PathBuf::from("/tmp/x")));
        assert!(!c.parallel_compilation);
    }

    #[test]
    fn unparsable_env_value_names_the_variable() {
        let err = SandboxConfig::from_lookup(lookup(&[("IAN_SANDBOX_MAX_WASM_STACK", "lots")]))
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidEnv {
                var: "IAN_SANDBOX_MAX_WASM_STACK",
                ..
            }
        ));
        assert!(err.to_string().contains("IAN_SANDBOX_MAX_WASM_STACK"));
    }

    #[test]
    fn out_of_range_env_value_is_refused() {
        let err =
            SandboxConfig::from_lookup(lookup(&[("IAN_SANDBOX_MAX_ACTION_LEN", "99999999999")]))
                .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidEnv {
                var: "IAN_SANDBOX_MAX_ACTION_LEN",
                ..
            }
        ));
    }

    #[test]
    fn eval_thread_stack_must_cover_two_wasm_stacks() {
        let err = SandboxConfig::from_lookup(lookup(&[("IAN_SANDBOX_MAX_WASM_STACK", "8388608")]))
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                field: "eval_thread_stack",
                ..
            }
        ));
    }

    #[test]
    fn zero_fuel_is_refused() {
        let err =
            SandboxConfig::from_lookup(lookup(&[("IAN_SANDBOX_FUEL_PER_CALL", "0")])).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Invalid {
                field: "fuel_per_call",
                reason: "must be greater than zero".into()
            }
        );
    }
}
