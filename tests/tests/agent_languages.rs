//! Agents in Python, JavaScript and C, as `ian-host new agent --lang` writes
//! them: each template's native tests pass, its one build command gives a
//! component the node's pipeline accepts on the example trading goal (with
//! `agents = "wasi"` and room for a 32 MiB component), and every language
//! earns exactly the Rust template's reward bits on every seed.
//!
//! The toolchains are what `scripts/test.sh` installs: componentize-py
//! (PyPI) and jco (npm) under `target/tools/`, clang, lld and wasi-libc
//! (Debian). Without them the test says so and skips, unless
//! `IAN_REQUIRE_LANG_TOOLCHAINS=1` (which scripts/test.sh sets once they
//! are installed) makes a missing tool a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use ian_node::cli::new::{COMPONENTIZE_PY_VERSION, JCO_VERSION};
use ian_tests::*;
use serde_json::Value;

fn tools_dir() -> PathBuf {
    repo_path("target/tools")
}

/// PATH with the installed tools and the `ian-host` under test first.
fn path_with_tools() -> String {
    format!(
        "{}:{}:{}",
        tools_dir().join("componentize-py/bin").display(),
        bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// What is missing to build the three templates, if anything.
fn missing_tools() -> Vec<String> {
    let mut missing = Vec::new();
    let ok = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(Command::new(tools_dir().join("componentize-py/bin/componentize-py")).arg("--version")) {
        missing.push(format!(
            "componentize-py {COMPONENTIZE_PY_VERSION} in target/tools/componentize-py"
        ));
    }
    if !tools_dir().join("jco/node_modules/.bin/jco").exists()
        || !ok(Command::new("node").arg("--version"))
    {
        missing.push(format!("jco {JCO_VERSION} in target/tools/jco, and node"));
    }
    if !ok(Command::new("clang").arg("--version"))
        || !Path::new("/usr/include/wasm32-wasi/stdlib.h").exists()
    {
        missing.push("clang, lld and wasi-libc".into());
    }
    missing
}

/// Whether the toolchains are here; says what is missing when they are
/// not, and fails instead when `IAN_REQUIRE_LANG_TOOLCHAINS` is set.
fn toolchains_present() -> bool {
    let missing = missing_tools();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("IAN_REQUIRE_LANG_TOOLCHAINS").is_none(),
        "missing: {missing:?}"
    );
    eprintln!("note: skipped, missing {missing:?} (scripts/test.sh installs them)");
    false
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    without_test_env(&mut cmd)
        .current_dir(dir)
        .args(args)
        .env("PATH", path_with_tools())
        .env("IAN_HOST", bin())
        .envs([compile_cache()])
        .stdin(Stdio::null());
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?} in {} failed:\n{}{}",
        dir.display(),
        stdout(&o),
        stderr(&o)
    );
    o
}

/// The example trading goal, granting WASI and a 32 MiB component.
fn trading_goal_for_runtimes(dir: &Path) -> PathBuf {
    let p = example_goal(dir, "trading");
    let mut goal: toml::Table = std::fs::read_to_string(&p).unwrap().parse().unwrap();
    goal.insert("agents".into(), "wasi".into());
    goal["limits"]
        .as_table_mut()
        .expect("the example goal has [limits]")
        .insert("max_component_bytes".into(), (32i64 << 20).into());
    std::fs::write(&p, toml::to_string(&goal).unwrap()).unwrap();
    p
}

/// One compiled-component cache for every node and every `ian-host eval`
/// here: a language runtime (CPython, SpiderMonkey) is compiled once per
/// machine, not once per command, as a node's own cache would keep it. The
/// cache is keyed by component and engine configuration, so a stale entry
/// is never used.
fn compile_cache() -> (&'static str, &'static str) {
    static DIR: OnceLock<String> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        repo_path("target/tmp/lang-compiled")
            .to_string_lossy()
            .into_owned()
    });
    ("IAN_SANDBOX_CACHE_DIR", dir.as_str())
}

/// `ian-host ARGS` in `dir` (see [`ian_in`]), sharing [`compile_cache`].
fn ian(dir: &Path, target_dir: Option<&Path>, args: &[&str]) -> Output {
    ian_in_env(dir, target_dir, args, &[compile_cache()])
}

/// `ian-host new agent --lang LANG` into `<tmp>/<name>`.
fn new_agent(tmp: &Path, lang: &str) -> PathBuf {
    let dir = tmp.join(format!("{lang}-agent"));
    let o = ian(
        tmp,
        None,
        &["new", "agent", "--lang", lang, dir.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    dir
}

/// The momentum template of `lang` (`python` or `js`), built once per
/// test process and shared by the tests that only read it: a Python build
/// takes about 15 s of CPU.
fn built_template(lang: &'static str) -> PathBuf {
    type Cells = BTreeMap<&'static str, Arc<OnceLock<PathBuf>>>;
    static BUILT: Mutex<Cells> = Mutex::new(BTreeMap::new());
    let cell = BUILT.lock().unwrap().entry(lang).or_default().clone();
    cell.get_or_init(|| {
        let root = repo_path("target/tmp").join(format!("lang-templates-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let dir = new_agent(&root, lang);
        match lang {
            "python" => {
                run(&dir, "./build.sh", &[]);
            }
            "js" => {
                std::os::unix::fs::symlink(
                    tools_dir().join("jco/node_modules"),
                    dir.join("node_modules"),
                )
                .unwrap();
                run(&dir, "npm", &["run", "build"]);
            }
            other => panic!("no shared build for {other}"),
        }
        dir
    })
    .clone()
}

/// `ian-host pack WASM --params PARAMS [--meta M ...] --out DIR/NAME`.
fn pack_as(dir: &Path, wasm: &Path, params: &str, meta: &[&str], name: &str) -> PathBuf {
    let packed = dir.join(name);
    let mut args = vec![
        "pack",
        wasm.to_str().unwrap(),
        "--params",
        params,
        "--out",
        packed.to_str().unwrap(),
    ];
    for m in meta {
        args.extend(["--meta", m]);
    }
    let o = ian(dir, None, &args);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    packed
}

/// `ian-host pack WASM --params PARAMS --out -`: the pack's bytes.
fn pack_bytes(dir: &Path, wasm: &Path, params: &str) -> Vec<u8> {
    let o = ian(
        dir,
        None,
        &[
            "pack",
            wasm.to_str().unwrap(),
            "--params",
            params,
            "--out",
            "-",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    o.stdout
}

/// Packs `wasm` with the template's params and metadata, evaluates it on
/// `goal`; the accepted evaluation's (seed, reward bits) pairs.
fn rewards(dir: &Path, wasm: &Path, goal: &Path, meta: &[&str]) -> Vec<(u64, u64)> {
    let packed = pack_as(dir, wasm, "lookback=60,size=0.5", meta, "agent.ianpack");
    let o = ian(
        dir,
        None,
        &[
            "eval",
            "--goal",
            goal.to_str().unwrap(),
            packed.to_str().unwrap(),
            "--json",
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("eval --json ({e}): {}{}", stdout(&o), stderr(&o)));
    assert_eq!(v["verdict"], "accepted", "{v}");
    v["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["seed"].as_u64().unwrap(),
                s["metrics"]["reward"].as_f64().unwrap().to_bits(),
            )
        })
        .collect()
}

#[test]
fn scripts_test_sh_installs_the_tool_versions_the_templates_pin() {
    let script = std::fs::read_to_string(repo_path("scripts/test.sh")).unwrap();
    assert!(
        script.contains(&format!(
            "COMPONENTIZE_PY_VERSION={COMPONENTIZE_PY_VERSION}"
        )),
        "scripts/test.sh must install componentize-py {COMPONENTIZE_PY_VERSION}"
    );
    assert!(
        script.contains(&format!("JCO_VERSION={JCO_VERSION}")),
        "scripts/test.sh must install jco {JCO_VERSION}"
    );
}

#[test]
fn python_javascript_and_c_agents_earn_the_rust_agents_reward_bits() {
    if !toolchains_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let goal = trading_goal_for_runtimes(tmp);

    let rust = new_agent(tmp, "rust");
    let o = cargo_in(&rust, Some(&template_target_dir()), &["test-native"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = cargo_in(
        &rust,
        Some(&template_target_dir()),
        &["build", "--release", "--target", "wasm32-unknown-unknown"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rust_wasm = template_target_dir().join("wasm32-unknown-unknown/release/rust_agent.wasm");
    let expected = rewards(&rust, &rust_wasm, &goal, &["lang=rust"]);
    assert_eq!(expected.len(), 5, "one reward per seed of the goal");

    let python = built_template("python");
    run(&python, "./test.sh", &[]);
    let toolchain = format!("toolchain=componentize-py/{COMPONENTIZE_PY_VERSION}");
    assert_eq!(
        rewards(
            &python,
            &python.join("agent.wasm"),
            &goal,
            &["lang=python", &toolchain]
        ),
        expected,
        "Python"
    );

    let js = built_template("js");
    run(&js, "npm", &["test"]);
    let toolchain = format!("toolchain=jco-quickjs/{JCO_VERSION}");
    assert_eq!(
        rewards(
            &js,
            &js.join("agent.wasm"),
            &goal,
            &["lang=javascript", &toolchain]
        ),
        expected,
        "JavaScript"
    );

    let c = new_agent(tmp, "c");
    run(&c, "./test.sh", &[]);
    run(&c, "./build.sh", &[]);
    assert_eq!(
        rewards(&c, &c.join("agent.wasm"), &goal, &["lang=c"]),
        expected,
        "C"
    );
}

/// `ian-host goal baseline GOAL WASM --json`.
fn baseline(dir: &Path, goal: &Path, wasm: &Path, runtime: &str) -> Value {
    let o = ian(
        dir,
        None,
        &[
            "goal",
            "baseline",
            goal.to_str().unwrap(),
            wasm.to_str().unwrap(),
            "--runtime",
            runtime,
            "--json",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `eval --json` of a bare component; its metrics.
fn eval_metrics(dir: &Path, goal: &Path, wasm: &Path) -> Value {
    let o = ian(
        dir,
        None,
        &[
            "eval",
            "--goal",
            goal.to_str().unwrap(),
            wasm.to_str().unwrap(),
            "--params",
            "lookback=60,size=0.5",
            "--json",
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("eval --json ({e}): {}{}", stdout(&o), stderr(&o)));
    assert_eq!(v["verdict"], "accepted", "{v}");
    v["metrics"].clone()
}

/// The extra metric `name` of an `eval --json` metrics object.
fn extra(metrics: &Value, name: &str) -> f64 {
    metrics["extra"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == name)
        .unwrap_or_else(|| panic!("no extra {name} in {metrics}"))[1]
        .as_f64()
        .unwrap()
}

/// A copy of the built template `dir` whose `act` returns a constant,
/// built with `build`: the runtime's null agent.
fn null_agent(tmp: &Path, dir: &Path, file: &str, old: &str, new: &str, build: &[&str]) -> PathBuf {
    let null = tmp.join(format!(
        "{}-null",
        dir.file_name().unwrap().to_string_lossy()
    ));
    run(
        tmp,
        "cp",
        &["-rP", dir.to_str().unwrap(), null.to_str().unwrap()],
    );
    patch(&null.join(file), old, new);
    run(&null, build[0], &build[1..]);
    null
}

/// Replaces the one occurrence of `old` in `file`.
fn patch(file: &Path, old: &str, new: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(text.matches(old).count(), 1, "{old} in {}", file.display());
    std::fs::write(file, text.replace(old, new)).unwrap();
}

#[test]
fn complexity_above_a_runtimes_baseline_counts_the_policy_not_the_interpreter() {
    if !toolchains_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let goal = trading_goal_for_runtimes(tmp);

    // Each runtime's momentum agent and its null agent (act does nothing).
    let python = built_template("python");
    let py_null = null_agent(
        tmp,
        &python,
        "app.py",
        "        return POLICY.act(obs.features)",
        "        return [0.0]",
        &["./build.sh"],
    );
    let js = built_template("js");
    let js_null = null_agent(
        tmp,
        &js,
        "agent.js",
        "    return policy.act(obs.features);",
        "    return [0.0];",
        &["npm", "run", "build"],
    );

    let py_base = baseline(tmp, &goal, &py_null.join("agent.wasm"), "componentize-py");
    let js_base = baseline(tmp, &goal, &js_null.join("agent.wasm"), "jco-quickjs");
    // The runtime is recognised from the bytes: the same for the momentum
    // agent and the null agent of one tool, different between tools.
    let py_agent = baseline(tmp, &goal, &python.join("agent.wasm"), "x");
    let js_agent = baseline(tmp, &goal, &js.join("agent.wasm"), "x");
    assert_eq!(py_agent["code"], py_base["code"]);
    assert_eq!(js_agent["code"], js_base["code"]);
    assert_ne!(py_base["code"], js_base["code"]);
    let py_fuel = py_base["act_fuel"].as_u64().unwrap();
    let js_fuel = js_base["act_fuel"].as_u64().unwrap();
    assert!(py_fuel > 1000 && js_fuel > 1000, "{py_base} {js_base}");

    // The goal counts complexity above those baselines.
    let mut g: toml::Table = std::fs::read_to_string(&goal).unwrap().parse().unwrap();
    let entry = |b: &Value| {
        let mut t = toml::Table::new();
        t.insert("runtime".into(), b["runtime"].as_str().unwrap().into());
        t.insert("code".into(), b["code"].as_str().unwrap().into());
        t.insert(
            "act_fuel".into(),
            (b["act_fuel"].as_u64().unwrap() as i64).into(),
        );
        toml::Value::Table(t)
    };
    let mut c = toml::Table::new();
    c.insert("mode".into(), "above-baseline".into());
    c.insert(
        "baselines".into(),
        toml::Value::Array(vec![entry(&py_base), entry(&js_base)]),
    );
    g.insert("complexity".into(), toml::Value::Table(c));
    std::fs::write(&goal, toml::to_string(&g).unwrap()).unwrap();

    for (agent, base) in [(&python, py_fuel), (&js, js_fuel)] {
        let m = eval_metrics(tmp, &goal, &agent.join("agent.wasm"));
        let raw = extra(&m, "raw_complexity");
        let ranked = m["complexity"].as_f64().unwrap();
        // Per seed, then averaged: equal up to the rounding of the mean.
        assert!((ranked - (raw - base as f64)).abs() < 1e-6, "{m}");
        assert!(ranked < raw, "{m}");
        eprintln!(
            "{}: raw {raw:.0}, baseline {base}, ranked {ranked:.0}",
            agent.display()
        );
    }
    // A null agent of the runtime ranks at about zero (its fuel moves a
    // little with the params, which the baseline was measured without).
    let m = eval_metrics(tmp, &goal, &py_null.join("agent.wasm"));
    assert!(
        m["complexity"].as_f64().unwrap() < py_fuel as f64 / 100.0,
        "{m}"
    );
}

/// A Python agent whose `mode` param picks a misbehaviour.
const HOSTILE_PY: &str = r#"
import socket
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

MODE = None


class Agent(exports.Agent):
    def init(self, params: bytes) -> None:
        global MODE
        MODE = params.decode().partition("=")[2]

    def act(self, obs: types.Observation) -> list:
        if MODE == "loop":
            while True:
                pass
        if MODE == "memory":
            hoard = bytearray(256 << 20)
        if MODE == "raise":
            raise ValueError("the hostile agent gives up")
        if MODE == "file":
            open("/etc/passwd").read()
        if MODE == "socket":
            socket.create_connection(("127.0.0.1", 80))
        if MODE == "print" and obs.step == 0:
            sys.stdout.write("x" * (1 << 20))
            sys.stderr.write("y" * (1 << 20))
        return [0.0]
"#;

/// A JavaScript agent whose `mode` param picks a misbehaviour.
const HOSTILE_JS: &str = r#"
let mode = null;
export const agent = {
  init(params) {
    mode = String.fromCharCode(...params).split("=")[1];
  },
  act(obs) {
    if (mode === "loop") { for (;;) {} }
    if (mode === "memory") { globalThis.hoard = new ArrayBuffer(256 << 20); }
    if (mode === "raise") { throw new Error("the hostile agent gives up"); }
    return [0.0];
  },
};
"#;

/// The test trading goal `id`, granting WASI and a 32 MiB component.
fn runtimes_goal(tmp: &Path, id: &str, with_invariants: bool) -> PathBuf {
    let goal = trading_goal(tmp, id, with_invariants);
    let mut text = std::fs::read_to_string(&goal).unwrap().replacen(
        "[harness]",
        "agents = \"wasi\"\n[harness]",
        1,
    );
    text.push_str("[limits]\nmax_component_bytes = 33554432\n");
    std::fs::write(&goal, text).unwrap();
    goal
}

/// Submits `packed` built from `wasm` with `mode=MODE` to `goal` on
/// `node`; the CLI's output.
fn submit_mode(node: &NodeProc, dir: &Path, wasm: &Path, key: &Path, mode: &str) -> String {
    let packed = pack_as(
        dir,
        wasm,
        &format!("mode={mode}"),
        &[],
        &format!("{mode}.ianpack"),
    );
    let o = node.cli(&[
        "submit",
        packed.to_str().unwrap(),
        "--goal",
        "runtimes",
        "--key",
        key.to_str().unwrap(),
    ]);
    format!("{}{}", stdout(&o), stderr(&o))
}

#[test]
fn hostile_python_and_javascript_agents_get_the_rejection_they_deserve_with_their_words() {
    if !toolchains_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let python = new_agent(tmp, "python");
    std::fs::write(python.join("app.py"), HOSTILE_PY).unwrap();
    run(&python, "./build.sh", &[]);
    let js = new_agent(tmp, "js");
    std::fs::write(js.join("agent.js"), HOSTILE_JS).unwrap();
    std::os::unix::fs::symlink(
        tools_dir().join("jco/node_modules"),
        js.join("node_modules"),
    )
    .unwrap();
    run(&js, "npm", &["run", "build"]);

    let node = NodeProc::start(&tmp.join("data"), &[compile_cache()]);
    node.publish(&runtimes_goal(tmp, "runtimes", false));
    let key = keygen(tmp, "mallory.key");

    let py = python.join("agent.wasm");
    for (mode, code, words) in [
        ("loop", "agent_out_of_fuel", ""),
        ("memory", "agent_memory_exceeded", ""),
        (
            "raise",
            "agent_trap",
            "ValueError: the hostile agent gives up",
        ),
        ("file", "agent_trap", "FileNotFoundError"),
        ("socket", "agent_trap", "Error"),
    ] {
        let out = submit_mode(&node, &python, &py, &key, mode);
        assert!(
            out.contains(code) && out.contains(words),
            "Python {mode}: {out}"
        );
    }
    // Printing a megabyte on each stream is no fault: captured, capped.
    let out = submit_mode(&node, &python, &py, &key, "print");
    assert!(!out.contains("agent_"), "Python print: {out}");

    let jsw = js.join("agent.wasm");
    for (mode, code, words) in [
        ("loop", "agent_out_of_fuel", ""),
        ("memory", "agent_memory_exceeded", ""),
        ("raise", "agent_trap", "the hostile agent gives up"),
    ] {
        let out = submit_mode(&node, &js, &jsw, &key, mode);
        assert!(
            out.contains(code) && out.contains(words),
            "JavaScript {mode}: {out}"
        );
    }
    // The node still judges a sound agent as before.
    let status = node.get_json("/api/v1/goals/runtimes");
    assert_eq!(
        status["log_size"], 1,
        "only the printing agent is accepted: {status}"
    );
}

#[test]
fn sixty_four_concurrent_python_agents_wait_for_instance_slots_and_are_all_judged() {
    if !toolchains_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let wasm = built_template("python").join("agent.wasm");
    // 64 workers, and a pool of 20 core instances: a Python agent and its
    // harness hold 17, so one evaluation fits at a time and the others
    // must wait for slots. 500 steps per seed keep each evaluation busy long
    // enough for the 64 to meet.
    let node = NodeProc::start(
        &tmp.join("data"),
        &[
            ("IAN_WORKERS", "64"),
            ("IAN_SANDBOX_POOL_CORE_INSTANCES", "20"),
            compile_cache(),
        ],
    );
    let goal = runtimes_goal(tmp, "crowd", true);
    patch(&goal, "steps=64,", "steps=500,");
    node.publish(&goal);
    let n = 64;
    // The packs stay in memory and reach `submit` on its stdin: 65 Python
    // packs are over a gigabyte that need not touch the disk.
    let packs: Vec<(Vec<u8>, PathBuf)> = (1..=n)
        .map(|i| {
            let packed = pack_bytes(tmp, &wasm, &format!("lookback={i},size=0.5"));
            (packed, keygen(tmp, &format!("c{i}.key")))
        })
        .collect();
    // The first compiles the agent (seconds); the 64 then arrive at once.
    let submit = |(packed, key): &(Vec<u8>, PathBuf)| {
        let o = node.cli_with_stdin(
            &[
                "submit",
                "-",
                "--goal",
                "crowd",
                "--key",
                key.to_str().unwrap(),
                "--json",
            ],
            packed,
        );
        format!("{}{}", stdout(&o), stderr(&o))
    };
    let warm = pack_bytes(tmp, &wasm, "lookback=100");
    let out = submit(&(warm, keygen(tmp, "warm.key")));
    assert!(out.contains("\"accepted\""), "{out}");
    let outs: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = packs.iter().map(|p| s.spawn(move || submit(p))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, out) in outs.iter().enumerate() {
        assert!(
            out.contains("\"accepted\"") && !out.contains("inconclusive"),
            "pack {}: {out}",
            i + 1
        );
    }
    assert_eq!(node.get_json("/api/v1/goals/crowd")["log_size"], n + 1);
    let metrics = http_get(&node.url, "/metrics");
    let waits = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ian_sandbox_pool_waits_total "))
        .unwrap_or_else(|| panic!("no pool waits counter in\n{metrics}"));
    eprintln!("pool waits: {waits}");
    assert!(
        waits.parse::<f64>().unwrap() > 0.0,
        "they had to wait: {waits}"
    );
    assert!(
        metrics.contains("ian_sandbox_pool_slots{resource=\"core_instances\"} 20"),
        "{metrics}"
    );
}
