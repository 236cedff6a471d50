//! Durable history per contributor: rejections are stored (bounded per
//! goal, the oldest overwritten first) and survive restarts; a contributor
//! sees their accepted and rejected submissions with their place on the
//! board; `submit` says where an accepted entry ranks.

use std::path::Path;

use ian_tests::*;
use serde_json::Value;

fn submit(node: &NodeProc, pack: &Path, key: &Path, json: bool) -> std::process::Output {
    let mut args = vec![
        "submit",
        pack.to_str().unwrap(),
        "--goal",
        "hist",
        "--key",
        key.to_str().unwrap(),
    ];
    if json {
        args.push("--json");
    }
    node.cli(&args)
}

fn history(node: &NodeProc, key: &Path) -> Value {
    let o = node.cli(&[
        "history",
        "--key",
        key.to_str().unwrap(),
        "--goal",
        "hist",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    json_out(&o)[0].clone()
}

#[test]
fn a_contributor_sees_accepted_and_rejected_submissions_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeProc::start(&data, &[]);
    node.publish(&trading_goal(tmp.path(), "hist", true));
    let me = keygen(tmp.path(), "me.key");
    let good = pack(tmp.path(), "buy-and-hold", "position=0.5", "good.ianpack");
    let o = submit(&node, &good, &me, false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("rank 1 of 1"), "{}", stdout(&o));
    let bad = pack(
        tmp.path(),
        "ma-crossover",
        "short=50,long=20",
        "bad.ianpack",
    );
    let o = submit(&node, &bad, &me, true);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    // Someone else's rejection is not in my history.
    let other = keygen(tmp.path(), "other.key");
    let bad2 = pack(tmp.path(), "ma-crossover", "short=9,long=3", "bad2.ianpack");
    assert_eq!(submit(&node, &bad2, &other, true).status.code(), Some(3));
    let h = history(&node, &me);
    assert_eq!(h["accepted"].as_array().unwrap().len(), 1, "{h}");
    assert_eq!(h["accepted"][0]["rank"], 1, "{h}");
    assert_eq!(h["rejected"].as_array().unwrap().len(), 1, "{h}");
    assert_eq!(h["rejected"][0]["code"], "agent_init_failed", "{h}");
    assert!(h["rejected"][0]["time_ms"].as_u64().unwrap() > 0);
    // An entry made after the first look shows on the next one.
    let later = pack(tmp.path(), "buy-and-hold", "position=0.25", "later.ianpack");
    assert!(submit(&node, &later, &me, true).status.success());
    let h = history(&node, &me);
    let indices: Vec<u64> = h["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["log_index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [0, 1], "{h}");
    assert!(node.stop());
    let node = NodeProc::start(&data, &[]);
    let again = history(&node, &me);
    assert_eq!(
        again["rejected"], h["rejected"],
        "rejections survive a restart"
    );
    assert_eq!(again["accepted"], h["accepted"]);
    let o = node.cli(&["history", "--key", me.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(
        text.contains("rejected: agent_init_failed") && text.contains("rank 1 of 2"),
        "{text}"
    );
    // The page's recent rejections come back too.
    let board = node.get_json("/api/v1/goals/hist/leaderboard");
    assert_eq!(board["rejections"].as_array().unwrap().len(), 2, "{board}");
}

#[test]
fn stored_rejections_are_bounded_per_goal_keeping_the_newest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [("IAN_STORED_REJECTIONS", "2")];
    let mut node = NodeProc::start(&data, &env);
    node.publish(&trading_goal(tmp.path(), "hist", true));
    let me = keygen(tmp.path(), "me.key");
    for (i, params) in ["short=50,long=20", "short=40,long=20", "short=30,long=20"]
        .iter()
        .enumerate()
    {
        let p = pack(tmp.path(), "ma-crossover", params, &format!("b{i}.ianpack"));
        assert_eq!(submit(&node, &p, &me, true).status.code(), Some(3));
    }
    assert!(node.stop());
    let node = NodeProc::start(&data, &env);
    let h = history(&node, &me);
    let seqs: Vec<u64> = h["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2], "the oldest was overwritten: {h}");
    let o = node.cli(&["history", "--public-key", "zz", "--goal", "hist"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid_key"), "{}", stderr(&o));
}
