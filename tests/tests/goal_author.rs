//! The goal author's path from outside this repository: `ian-host new goal`
//! writes a workspace (harness, invariant, baseline) that builds, passes
//! its own native tests and `goal check`, publishes to a real node and
//! takes submissions; standalone harness and invariant templates make a
//! goal of their own; `goal check` refuses objectives naming metrics the
//! harness never emits; `goal retire` closes a goal for good.

use std::path::Path;

use ian_tests::*;
use serde_json::Value;

fn check_json(dir: &Path, goal: &Path, baseline: &Path) -> (i32, Value) {
    let o = ian_in(
        dir,
        None,
        &[
            "goal",
            "check",
            goal.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
            "--json",
        ],
    );
    (o.status.code().unwrap_or(-1), json_out(&o))
}

#[test]
fn a_new_goal_builds_passes_its_tests_and_goal_check_and_takes_submissions_on_a_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("forecast");
    let o = ian_in(tmp.path(), None, &["new", "goal", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // goal.toml names the wasm under ./target, as a plain `cargo build`
    // leaves it; ./target links to the tests' shared target dir, so the
    // SDK and its macros are compiled once per machine, not once per run.
    std::fs::create_dir_all(template_target_dir()).unwrap();
    std::os::unix::fs::symlink(template_target_dir(), dir.join("target")).unwrap();
    cargo_in(&dir, None, &["build", "--release"]);
    let tests = cargo_in(&dir, None, &["test-native"]);
    let text = String::from_utf8_lossy(&tests.stdout);
    assert!(
        text.contains("scores_a_real_agent_deterministically ... ok")
            && text.contains("refuses_an_agent_that_leaves_the_range_naming_the_step ... ok"),
        "{text}"
    );
    let baseline = dir.join("target/wasm32-unknown-unknown/release/forecast_baseline.wasm");
    let goal = dir.join("goal.toml");
    let (code, check) = check_json(&dir, &goal, &baseline);
    assert_eq!(code, 0, "{check}");
    assert_eq!(check["problems"], Value::Array(vec![]), "{check}");
    assert_eq!(check["components"], 2);
    assert_eq!(check["metrics"][3], "hit_rate", "{check}");
    assert_eq!(check["baseline"]["verdict"], "accepted", "{check}");
    // Published as is (core modules are componentized) and submitted to.
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    node.publish(&goal);
    let key = keygen(tmp.path(), "author");
    let pack = tmp.path().join("baseline.ianpack");
    let o = cli(&[
        "pack",
        baseline.to_str().unwrap(),
        "--out",
        pack.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = node.cli(&[
        "submit",
        pack.to_str().unwrap(),
        "--goal",
        "forecast-v1",
        "--key",
        key.to_str().unwrap(),
        "--json",
    ]);
    let reply = json_out(&o);
    assert_eq!(reply["status"], "accepted", "{reply}");
    // The node recorded the score goal check predicted.
    assert_eq!(
        reply["entry"]["score"], check["baseline"]["score"],
        "{reply}"
    );
}

#[test]
fn standalone_harness_and_invariant_templates_make_a_goal_that_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let target = template_target_dir();
    let mut wasm = Vec::new();
    for (kind, name) in [("harness", "my-harness"), ("invariant", "my-invariant")] {
        let dir = tmp.path().join(name);
        let o = ian_in(tmp.path(), None, &["new", kind, dir.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        cargo_in(&dir, Some(&target), &["build", "--release"]);
        wasm.push(target.join(format!(
            "wasm32-unknown-unknown/release/{}.wasm",
            name.replace('-', "_")
        )));
    }
    let goal = tmp.path().join("mine.toml");
    std::fs::write(
        &goal,
        format!(
            "id = \"mine\"\ntitle = \"Mine\"\n[harness]\ncomponent = \"{}\"\nconfig = \"steps=50\"\nseeds = [1, 2]\n\
             [[invariants]]\nname = \"sane\"\ncomponent = \"{}\"\n[ranking]\nkind = \"scalar\"\nreward = 1.0\nrisk = 0.0\ncomplexity = 0.0\n",
            wasm[0].display(),
            wasm[1].display()
        ),
    )
    .unwrap();
    // A constant agent predicts 0.25 every step: scored, not refused.
    let agent = pack(tmp.path(), "buy-and-hold", "position=0.25", "flat.ianpack");
    let o = cli(&[
        "eval",
        "--json",
        "--goal",
        goal.to_str().unwrap(),
        agent.to_str().unwrap(),
    ]);
    let r = json_out(&o);
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["metrics"]["extra"][0][0], "hit_rate", "{r}");
    assert_eq!(r["seeds"].as_array().unwrap().len(), 2);
    // The invariant probes every pack before the harness runs: an agent
    // answering with infinities is stopped there, and blamed.
    let inf = tmp.path().join("inf.ianpack");
    let o = cli(&[
        "pack",
        component("hostile-infinite-action").to_str().unwrap(),
        "--out",
        inf.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&[
        "eval",
        "--json",
        "--goal",
        goal.to_str().unwrap(),
        inf.to_str().unwrap(),
    ]);
    let r = json_out(&o);
    assert_eq!(r["verdict"], "rejected", "{r}");
    assert_eq!(r["step"], "invariants", "{r}");
    assert_eq!(r["reason"], "agent_invalid_action", "{r}");
}

#[test]
fn goal_check_refuses_an_objective_naming_a_metric_the_harness_never_emits() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = example_goal(tmp.path(), "trading");
    let text = std::fs::read_to_string(&goal).unwrap();
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    let ranking = t["ranking"].as_table_mut().unwrap();
    ranking.insert("kind".into(), "pareto".into());
    ranking.insert(
        "objectives".into(),
        toml::Value::Array(vec!["reward:max".into(), "sortino:max".into()]),
    );
    std::fs::write(&goal, toml::to_string(&t).unwrap()).unwrap();
    let (code, check) = check_json(tmp.path(), &goal, &component("buy-and-hold"));
    assert_eq!(code, 1, "{check}");
    let problems = check["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{check}");
    let p = problems[0].as_str().unwrap();
    assert!(
        p.contains("`sortino`") && p.contains("sharpe, turnover"),
        "{p}"
    );
    // Without a baseline the components still load, and the report says
    // what went unchecked.
    let o = ian_in(tmp.path(), None, &["goal", "check", goal.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("no --baseline"), "{}", stdout(&o));
}

#[test]
fn a_retired_goal_refuses_submissions_and_stays_readable_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeProc::start(&data, &[]);
    node.publish(&trading_goal(tmp.path(), "closing", false));
    let first = submit_as_new_contributor(&node, tmp.path(), "closing", "early", "position=0.5");
    assert_eq!(first["status"], "accepted");
    let o = node.cli(&[
        "goal",
        "retire",
        "closing",
        "--operator-key",
        &node.operator_key(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("retired"), "{}", stdout(&o));
    let late = |node: &NodeProc, name: &str| {
        let key = keygen(tmp.path(), name);
        let p = pack(
            tmp.path(),
            "buy-and-hold",
            "position=0.4",
            &format!("{name}.ianpack"),
        );
        node.cli(&[
            "submit",
            p.to_str().unwrap(),
            "--goal",
            "closing",
            "--key",
            key.to_str().unwrap(),
            "--json",
        ])
    };
    // Refused before anything is evaluated: a refused request (exit 1),
    // naming the reason and the time.
    let o = late(&node, "late");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("goal_retired"), "{}", stdout(&o));
    // Without the operator key, nobody else can retire a goal.
    let o = node.cli(&["goal", "retire", "closing", "--operator-key", "wrong"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(node.stop());
    let node = NodeProc::start(&data, &[]);
    let status = node.get_json("/api/v1/goals/closing");
    assert!(
        status["retired_at"].as_str().unwrap().ends_with('Z'),
        "{status}"
    );
    assert_eq!(status["log_size"], 1);
    let board = node.get_json("/api/v1/goals/closing/leaderboard");
    assert_eq!(board["size"], 1, "{board}");
    let page = http_get(&node.url, "/");
    assert!(
        page.contains("<span class=\"badge retired\">retired</span>"),
        "the node page marks the goal"
    );
    let page = http_get(&node.url, "/goals/closing");
    assert!(page.contains("no new submissions"), "the goal page says so");
    let o = late(&node, "later");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("goal_retired"));
}

/// `ian-host goal baseline GOAL AGENT ARGS...`.
fn goal_baseline(dir: &Path, goal: &Path, agent: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "goal",
        "baseline",
        goal.to_str().unwrap(),
        agent.to_str().unwrap(),
    ];
    all.extend(args);
    ian_in(dir, None, &all)
}

/// The extra metric `raw_complexity` of an `eval --json` metrics object.
fn raw_complexity(m: &Value) -> Value {
    m["extra"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == "raw_complexity")
        .unwrap_or_else(|| panic!("no raw_complexity in {m}"))[1]
        .clone()
}

/// `eval --json` of `agent` on `goal`: the accepted evaluation's metrics.
fn accepted_metrics(goal: &Path, agent: &Path) -> Value {
    let r = json_out(&cli(&[
        "eval",
        "--json",
        "--goal",
        goal.to_str().unwrap(),
        agent.to_str().unwrap(),
    ]));
    assert_eq!(r["verdict"], "accepted", "{r}");
    r["metrics"].clone()
}

/// The example trading goal with `[complexity]` set to `table`.
fn with_complexity(goal: &Path, table: toml::Table) {
    let mut t: toml::Table = toml::from_str(&std::fs::read_to_string(goal).unwrap()).unwrap();
    t.insert("complexity".into(), toml::Value::Table(table));
    std::fs::write(goal, toml::to_string(&t).unwrap()).unwrap();
}

#[test]
fn complexity_off_ranks_zero_and_keeps_the_raw_fuel_as_raw_complexity() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = example_goal(tmp.path(), "trading");
    let agent = pack(tmp.path(), "ma-crossover", "short=5,long=20", "ma.ianpack");
    let raw = accepted_metrics(&goal, &agent);
    assert!(raw["complexity"].as_f64().unwrap() > 0.0, "{raw}");
    assert!(
        !raw["extra"].to_string().contains("raw_complexity"),
        "raw complexity adds nothing: {raw}"
    );
    let mut c = toml::Table::new();
    c.insert("mode".into(), "off".into());
    with_complexity(&goal, c);
    let off = accepted_metrics(&goal, &agent);
    assert_eq!(off["complexity"].as_f64(), Some(0.0), "{off}");
    assert_eq!(
        raw_complexity(&off),
        raw["complexity"],
        "the same bits as the raw figure"
    );
}

#[test]
fn goal_baseline_of_an_agent_the_invariants_refuse_says_why_it_measured_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = example_goal(tmp.path(), "trading");
    let bad = pack(tmp.path(), "buy-and-hold", "position=7", "bad.ianpack");
    let o = goal_baseline(tmp.path(), &goal, &bad, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("never reached the evaluation"), "{err}");
}

#[test]
fn goal_baseline_measures_a_runtime_that_complexity_above_baseline_then_subtracts() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = example_goal(tmp.path(), "trading");
    let hold = pack(tmp.path(), "buy-and-hold", "position=0.25", "hold.ianpack");
    let o = goal_baseline(tmp.path(), &goal, &hold, &["--runtime", "hold", "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let b = json_out(&o);
    assert_eq!(b["code"].as_str().unwrap().len(), 64, "{b}");
    let fuel = b["act_fuel"].as_u64().unwrap();
    assert!(fuel > 0 && b["steps"].as_u64().unwrap() > 0, "{b}");
    // Without --json it prints the entry to paste into the goal file.
    let o = goal_baseline(tmp.path(), &goal, &hold, &[]);
    let text = stdout(&o);
    assert!(
        text.contains("[[complexity.baselines]]") && text.contains(&format!("act_fuel = {fuel}")),
        "{text}"
    );

    let mut entry = toml::Table::new();
    entry.insert("runtime".into(), "hold".into());
    entry.insert("code".into(), b["code"].as_str().unwrap().into());
    entry.insert("act_fuel".into(), (fuel as i64).into());
    let mut c = toml::Table::new();
    c.insert("mode".into(), "above-baseline".into());
    c.insert("baselines".into(), toml::Value::Array(vec![entry.into()]));
    with_complexity(&goal, c);
    // The measured agent ranks at its mean minus its floor: under 1 fuel.
    let m = accepted_metrics(&goal, &hold);
    assert!(m["complexity"].as_f64().unwrap() < 1.0, "{m}");
    // An agent with other code has no baseline: ranked = raw.
    let ma = pack(tmp.path(), "ma-crossover", "short=5,long=20", "ma.ianpack");
    let m = accepted_metrics(&goal, &ma);
    assert_eq!(m["complexity"], raw_complexity(&m), "{m}");
}

/// Dotted key paths of a TOML value (arrays of tables add their keys under
/// the array's name).
fn key_paths(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                key_paths(&p, v, out);
            }
        }
        toml::Value::Array(a) if a.iter().all(toml::Value::is_table) && !a.is_empty() => {
            for v in a {
                key_paths(prefix, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[test]
fn the_goal_file_reference_documents_every_key_the_parser_knows() {
    let doc = std::fs::read_to_string(repo_path("docs/GOALS.md")).unwrap();
    let documented: std::collections::BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(k, _)| k.to_string()))
        .collect();
    let example = doc
        .split("## Complete example")
        .nth(1)
        .and_then(|s| s.split("```toml\n").nth(1))
        .and_then(|s| s.split("\n```").next())
        .expect("GOALS.md has a complete example in a toml block");
    // The example parses, and holds every documented key.
    let spec = ian_core::goal::GoalSpec::from_toml(example)
        .unwrap_or_else(|e| panic!("the complete example does not parse: {e}"));
    let mut in_example = std::collections::BTreeSet::new();
    key_paths(
        "",
        &toml::from_str::<toml::Value>(example).unwrap(),
        &mut in_example,
    );
    assert_eq!(
        in_example, documented,
        "the example and the key table differ"
    );
    // What the parser keeps of it, written back, has exactly those keys: a
    // key the parser knows but the table lacks (or the reverse) fails here.
    let mut parsed = std::collections::BTreeSet::new();
    key_paths("", &toml::Value::try_from(&spec).unwrap(), &mut parsed);
    assert_eq!(
        parsed, documented,
        "the parser's keys and the documented keys differ"
    );
    // And a key outside the table is refused, naming it.
    let err = ian_core::goal::GoalSpec::from_toml(&format!("{example}\n[extra]\nkey = 1\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("extra"), "{err}");
}
