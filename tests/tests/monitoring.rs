//! What an operator monitors with: the alert rules and the Grafana
//! dashboard in `deploy/` name only metrics a live node exports, the rules
//! pass `promtool check rules` and their unit tests fire as written, and
//! the node's `/metrics` passes `promtool check metrics`.

use std::collections::BTreeSet;
use std::process::Command;

use ian_tests::*;

/// Metric families a live node with one accepted entry exports.
fn exported() -> (BTreeSet<String>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    node.publish(&trading_goal(tmp.path(), "watched", false));
    submit_as_new_contributor(&node, tmp.path(), "watched", "alice", "position=0.5");
    let text = http_get(&node.url, "/metrics");
    let families = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    (families, text)
}

/// `ian_*` and `process_*` names in an expression, histogram suffixes
/// folded to the family.
fn named(expr: &str) -> BTreeSet<String> {
    let mut out = named_with(expr, "ian_");
    out.extend(named_with(expr, "process_"));
    out
}

fn named_with(expr: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find(prefix) {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        out.insert(family.to_string());
        i = end;
    }
    out
}

fn promtool() -> bool {
    let ok = Command::new("promtool").arg("--version").output().is_ok();
    if !ok {
        eprintln!("note: promtool not installed (Debian package prometheus); rules not checked");
    }
    ok
}

#[test]
fn the_alert_rules_and_the_dashboard_use_only_metrics_the_node_exports() {
    let (families, _) = exported();
    let rules = std::fs::read_to_string(repo_path("deploy/prometheus/ian-alerts.yml")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("deploy/grafana/ian-node.json")).unwrap(),
    )
    .unwrap();
    let mut used = named(&rules);
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            used.extend(named(t["expr"].as_str().unwrap()));
        }
    }
    assert!(used.len() >= 8, "{used:?}");
    let missing: Vec<&String> = used.difference(&families).collect();
    assert!(missing.is_empty(), "not exported by the node: {missing:?}");
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_as_their_unit_tests_say() {
    if !promtool() {
        return;
    }
    let dir = repo_path("deploy/prometheus");
    for args in [
        vec!["check", "rules", "ian-alerts.yml"],
        vec!["test", "rules", "ian-alerts.test.yml"],
    ] {
        let o = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn the_metrics_endpoint_passes_promtool_check_metrics() {
    if !promtool() {
        return;
    }
    let (_, text) = exported();
    let o = output_with_stdin(
        Command::new("promtool").args(["check", "metrics"]),
        text.as_bytes(),
    );
    // promtool prints lint findings (e.g. a counter without _total) and
    // fails on a format error.
    assert!(
        o.status.success(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
