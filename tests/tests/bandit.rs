//! The bandit example goal (`examples/goals/bandit.toml`) end to end: the
//! built `ian-host` binary publishes it, evaluates real UCB and
//! epsilon-greedy agents, ranks them, and hands out receipts that verify
//! offline.

use std::path::{Path, PathBuf};

use ian_tests::*;
use serde_json::Value;

const GOAL: &str = "bandit-v1";

/// The three submissions, in submission order: (component, params).
/// Measured scores (docs/GUESTS.md, "The bandit goal"): UCB with `c=0.2`
/// 0.6982, epsilon-greedy with `epsilon=0.1` 0.6636, UCB with `c=2` 0.5381.
const SUBMISSIONS: [(&str, &str); 3] = [
    ("bandit-ucb", "c=2"),
    ("bandit-epsilon-greedy", "epsilon=0.1"),
    ("bandit-ucb", "c=0.2"),
];

struct Bandit {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    node: NodeProc,
    /// `submit --json` output per submission, in [`SUBMISSIONS`] order.
    submitted: Vec<Value>,
}

/// A node with the bandit goal published and every pack of [`SUBMISSIONS`]
/// submitted and accepted.
fn bandit_node() -> Bandit {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let node = NodeProc::start(&dir.join("data"), &[]);
    node.publish(&example_goal(&dir, "bandit"));
    let key = keygen(&dir, "contributor.key");
    let mut submitted = Vec::new();
    for (i, (agent, params)) in SUBMISSIONS.iter().enumerate() {
        let p = pack(&dir, agent, params, &format!("{i}-{agent}.ianpack"));
        let o = node.cli(&[
            "submit",
            p.to_str().unwrap(),
            "--goal",
            GOAL,
            "--key",
            key.to_str().unwrap(),
            "--json",
        ]);
        let v = json_out(&o);
        assert_eq!(o.status.code(), Some(0), "{agent} {params}: {v}");
        assert_eq!(v["status"], "accepted", "{agent} {params}: {v}");
        submitted.push(v);
    }
    Bandit {
        _tmp: tmp,
        dir,
        node,
        submitted,
    }
}

fn entry(v: &Value) -> &Value {
    &v["entry"]
}

#[test]
fn bandit_leaderboard_ranks_ucb_and_epsilon_greedy_packs_by_their_logged_scores() {
    let b = bandit_node();
    let lb = json_out(&b.node.cli(&["leaderboard", GOAL, "--json"]));
    let top = lb["top"].as_array().unwrap();
    assert_eq!(top.len(), SUBMISSIONS.len(), "{lb}");

    // Each row carries exactly the score and metrics logged for its pack.
    for row in top {
        let sub = b
            .submitted
            .iter()
            .find(|s| entry(s)["pack_hash"] == row["pack_hash"])
            .unwrap_or_else(|| panic!("leaderboard row for an unknown pack: {row}"));
        assert_eq!(row["score"], entry(sub)["score"]);
        assert_eq!(row["metrics"], entry(sub)["metrics"]);
        assert_eq!(row["log_index"], entry(sub)["log_index"]);
    }

    // Best first, by score.
    let scores: Vec<f64> = top.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] > w[1]),
        "leaderboard is not in strictly decreasing score order: {scores:?}"
    );

    // The exploration constant matters: well-tuned UCB first, the default
    // epsilon-greedy second, over-exploring UCB last — not submission order.
    let order: Vec<u64> = top
        .iter()
        .map(|r| r["log_index"].as_u64().unwrap())
        .collect();
    assert_eq!(order, vec![2, 1, 0], "{lb}");
    assert_ne!(
        entry(&b.submitted[0])["metrics"],
        entry(&b.submitted[2])["metrics"]
    );
}

#[test]
fn bandit_receipts_verify_offline_with_ian_host_verify() {
    let b = bandit_node();
    let node_key = b.node.get_json("/api/v1/node")["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    // The node stops first: verification needs nothing but the receipt
    // file and the node's public key.
    let mut node = b.node;
    assert!(node.stop(), "node did not stop cleanly");
    for (i, sub) in b.submitted.iter().enumerate() {
        let file = write_receipt(&b.dir, i, sub);
        let o = cli(&[
            "verify",
            file.to_str().unwrap(),
            "--node-key",
            &node_key,
            "--json",
        ]);
        assert!(
            o.status.success(),
            "receipt {i}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert_eq!(json_out(&o)["valid"], true, "receipt {i}");
    }
}

fn write_receipt(dir: &Path, i: usize, submitted: &Value) -> PathBuf {
    let p = dir.join(format!("receipt-{i}.json"));
    std::fs::write(&p, serde_json::to_vec(submitted).unwrap()).unwrap();
    p
}
