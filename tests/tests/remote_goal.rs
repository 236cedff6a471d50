//! Goals that live on a node: `goal fetch` writes a directory `eval` reads
//! as is, and `eval --goal-id --node` evaluates locally against the node's
//! goal with the bits the node records, placing the score on its board.

use std::path::Path;

use ian_tests::*;
use serde_json::Value;

const GOAL: &str = "remote";

/// A node with the trading goal (harness and both invariants) and one
/// accepted buy-and-hold entry: the node, its reply.
fn node_with_one_entry(dir: &Path) -> (NodeProc, Value) {
    let node = NodeProc::start(&dir.join("data"), &[]);
    node.publish(&trading_goal(dir, GOAL, true));
    let reply = submit_as_new_contributor(&node, dir, GOAL, "first", "position=0.5");
    assert_eq!(reply["status"], "accepted", "{reply}");
    (node, reply)
}

fn eval_json(args: &[&str]) -> Value {
    let mut all = vec!["eval", "--json"];
    all.extend_from_slice(args);
    let o = cli(&all);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    json_out(&o)
}

#[test]
fn a_fetched_goal_directory_evaluates_a_pack_to_the_bits_the_node_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, reply) = node_with_one_entry(tmp.path());
    let dir = tmp.path().join("fetched");
    let o = node.cli(&[
        "goal",
        "fetch",
        GOAL,
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fetched = json_out(&o);
    assert_eq!(fetched["blobs"], 3, "harness and two invariants: {fetched}");
    assert!(dir.join("manifest.json").is_file());
    // The same pack the node accepted, evaluated here from the directory.
    let pack = pack(tmp.path(), "buy-and-hold", "position=0.5", "again.ianpack");
    let local = eval_json(&["--goal", dir.to_str().unwrap(), pack.to_str().unwrap()]);
    assert_eq!(local["verdict"], "accepted", "{local}");
    assert_eq!(
        local["score"], reply["entry"]["score"],
        "{local} vs {reply}"
    );
    assert_eq!(local["pack_hash"], reply["entry"]["pack_hash"]);
}

#[test]
fn eval_against_a_goal_on_a_node_places_the_score_on_its_board() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, reply) = node_with_one_entry(tmp.path());
    let better = pack(tmp.path(), "buy-and-hold", "position=0.5", "same.ianpack");
    let r = eval_json(&[
        "--goal-id",
        GOAL,
        "--node",
        &node.url,
        better.to_str().unwrap(),
    ]);
    assert_eq!(r["score"], reply["entry"]["score"]);
    assert_eq!(r["on_board"]["of"], 2, "{r}");
    // Equal to the one entry's score: not better than it, so second.
    assert_eq!(r["on_board"]["rank"], 2, "{r}");
    let worse = pack(tmp.path(), "buy-and-hold", "position=0.0", "flat.ianpack");
    let text = node.cli(&["eval", "--goal-id", GOAL, worse.to_str().unwrap()]);
    assert!(
        text.status.success() || text.status.code() == Some(3),
        "{}",
        stderr(&text)
    );
    let out = stdout(&text);
    assert!(
        out.contains("on board") || out.contains("rejected"),
        "{out}"
    );
}

#[test]
fn a_fetched_blob_changed_on_disk_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = node_with_one_entry(tmp.path());
    let dir = tmp.path().join("fetched");
    let o = node.cli(&["goal", "fetch", GOAL, "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let blob = std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let pack = pack(tmp.path(), "buy-and-hold", "position=0.5", "p.ianpack");
    let o = cli(&[
        "eval",
        "--goal",
        dir.to_str().unwrap(),
        pack.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    let name = blob.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        err.contains(&name) && err.contains("does not hash"),
        "{err}"
    );
}

#[test]
fn fetching_a_goal_the_node_does_not_have_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    let o = node.cli(&[
        "goal",
        "fetch",
        "nope",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

#[test]
fn a_mistyped_goal_id_is_answered_with_the_goals_and_the_nearest_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = node_with_one_entry(tmp.path());
    let o = node.cli(&["status", "remot"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("did you mean `remote`?") && err.contains("its goals: remote"),
        "{err}"
    );
}
