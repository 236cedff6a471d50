//! A goal with `agents = "wasi"` on a real node: an agent built with std
//! for wasm32-wasip2 (importing WASI as a language runtime does) is judged
//! like any other, its random numbers replay bit for bit, its stderr reaches
//! the contributor when it fails, and a pure goal still refuses it.

use std::path::{Path, PathBuf};

use ian_tests::*;

/// The test trading goal, with agents granted deterministic WASI.
fn wasi_goal(dir: &Path, id: &str) -> PathBuf {
    let p = trading_goal(dir, id, false);
    let text = std::fs::read_to_string(&p).unwrap().replacen(
        "[harness]",
        "agents = \"wasi\"\n[harness]",
        1,
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn submit(node: &NodeProc, packed: &Path, goal: &str, key: &Path) -> std::process::Output {
    node.cli(&[
        "submit",
        packed.to_str().unwrap(),
        "--goal",
        goal,
        "--key",
        key.to_str().unwrap(),
    ])
}

#[test]
fn a_goal_with_wasi_agents_judges_them_replays_them_and_shows_their_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let node = NodeProc::start(&dir.join("data"), &[]);
    node.publish(&wasi_goal(dir, "runtime"));
    node.publish(&trading_goal(dir, "pure", false));
    let key = keygen(dir, "alice.key");

    let random = pack(dir, "wasi-probe", "mode=random", "random.ianpack");
    let o = submit(&node, &random, "runtime", &key);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let status = node.get_json("/api/v1/goals/runtime");
    assert_eq!(status["log_size"], 1, "{status}");
    assert!(http_get(&node.url, "/goals/runtime").contains("deterministic WASI"));
    let manifest = node.get_json("/api/v1/goals/runtime/manifest");
    assert_eq!(manifest["manifest"]["agents"], "wasi", "{manifest}");

    // The random numbers came from the pack and the seeds: a replay
    // computes the same bits.
    let o = node.cli(&["replay", "runtime", "0", "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json_out(&o)["identical"], true);

    // A failing agent's stderr (here a traceback's last line) is in the
    // rejection the contributor reads.
    let failing = pack(dir, "wasi-probe", "mode=panic", "panic.ianpack");
    let o = submit(&node, &failing, "runtime", &key);
    assert!(!o.status.success());
    let err = format!("{}{}", stdout(&o), stderr(&o));
    assert!(err.contains("agent_trap"), "{err}");
    assert!(
        err.contains("ValueError: the probe was told to fail at step 3"),
        "{err}"
    );

    // Each new component was compiled once, and the time was counted.
    let metrics = http_get(&node.url, "/metrics");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{metrics}"))
    };
    assert!(value("ian_sandbox_compiles_total") >= 1.0);
    assert!(value("ian_sandbox_compile_seconds_total") > 0.0);

    // The same component is refused by a goal that did not grant WASI.
    let o = submit(&node, &random, "pure", &key);
    assert!(!o.status.success());
    let err = format!("{}{}", stdout(&o), stderr(&o));
    assert!(err.contains("forbidden_import"), "{err}");
}

#[test]
fn new_code_is_charged_to_its_contributors_compile_budget_and_compiled_code_is_free() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Two MiB of new code at once, refilled at 1 MiB an hour.
    let node = NodeProc::start(
        &dir.join("data"),
        &[
            ("IAN_CONTRIBUTOR_COMPILE_BURST_MIB", "2"),
            ("IAN_CONTRIBUTOR_COMPILE_MIB_PER_HOUR", "1"),
        ],
    );
    node.publish(&trading_goal(dir, "budget", false));
    let key = keygen(dir, "carol.key");
    let first = pack(dir, "ma-crossover", "short=5,long=20", "a.ianpack");
    let second = pack(dir, "mean-reversion", "window=20,z=1.0", "b.ianpack");
    let third = pack(dir, "buy-and-hold", "position=0.5", "c.ianpack");
    for p in [&first, &second] {
        let o = submit(&node, p, "budget", &key);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    let o = submit(&node, &third, "budget", &key);
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        !o.status.success() && out.contains("compile_budget_exceeded"),
        "{out}"
    );
    // Compiled code costs nothing: the same agent with other params passes.
    let again = pack(dir, "ma-crossover", "short=10,long=40", "d.ianpack");
    let o = submit(&node, &again, "budget", &key);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // Another contributor has a budget of their own.
    let dave = keygen(dir, "dave.key");
    let o = submit(&node, &third, "budget", &dave);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
