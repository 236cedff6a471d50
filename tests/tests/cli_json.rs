//! The read-only CLI commands (`status`, `leaderboard`, `log`, `proof`)
//! with `--json` print what the HTTP API serves, and what they print is
//! checkable with nothing but ian-core's pure verifiers.

use ian_core::{
    ConsistencyProof, Hash32, InclusionProof, LogEntry, PublicKeyBytes, SignedCheckpoint,
    verify_consistency, verify_inclusion,
};
use ian_tests::*;
use serde_json::Value;

const GOAL: &str = "cli-json";
/// `buy-and-hold` positions, one accepted entry each.
const POSITIONS: [&str; 5] = ["1.0", "0.6", "0.2", "-0.2", "-0.6"];
const ENTRIES: u64 = POSITIONS.len() as u64;

struct Populated {
    _tmp: tempfile::TempDir,
    node: NodeProc,
}

/// A node with one trading goal, [`ENTRIES`] accepted entries and one
/// rejection (so every part of the leaderboard body is non-empty).
fn populated_node() -> Populated {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let node = NodeProc::start(&dir.join("data"), &[]);
    node.publish(&trading_goal(dir, GOAL, false));
    let key = keygen(dir, "contributor.key");
    let submit = |p: &std::path::Path| {
        node.cli(&[
            "submit",
            p.to_str().unwrap(),
            "--goal",
            GOAL,
            "--key",
            key.to_str().unwrap(),
            "--json",
        ])
    };
    for (i, position) in POSITIONS.iter().enumerate() {
        let params = format!("position={position}");
        let p = pack(dir, "buy-and-hold", &params, &format!("bh{i}.ianpack"));
        let o = submit(&p);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    }
    let h = pack(dir, "hostile-panic", "", "panic.ianpack");
    assert_eq!(submit(&h).status.code(), Some(3));
    Populated { _tmp: tmp, node }
}

fn cli_json(node: &NodeProc, args: &[&str]) -> Value {
    let o = node.cli(args);
    assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
    json_out(&o)
}

/// Every field the API returns is in the CLI's output with the same value;
/// the CLI may add what it checked.
fn assert_extends(cli: &Value, api: &Value) {
    let api = api.as_object().expect("API object");
    for (k, want) in api {
        assert_eq!(&cli[k], want, "field {k}");
    }
}

/// The log's verifier: the node's public key under the key name the goal
/// status gives as the log's origin.
fn node_key(node: &NodeProc) -> ian_core::note::NoteVerifier {
    let key: PublicKeyBytes =
        serde_json::from_value(node.get_json("/api/v1/node")["public_key"].clone()).unwrap();
    let status = node.get_json(&format!("/api/v1/goals/{GOAL}"));
    let origin = status["origin"].as_str().unwrap();
    let v = ian_core::note::NoteVerifier::new(origin, ian_core::note::TYPE_ED25519, key).unwrap();
    assert_eq!(status["log_vkey"], v.to_vkey());
    v
}

fn signed_checkpoint(node: &NodeProc) -> SignedCheckpoint {
    serde_json::from_value(node.get_json(&format!("/api/v1/goals/{GOAL}/checkpoint"))).unwrap()
}

#[test]
fn status_json_is_the_node_info_and_goal_list_from_the_api() {
    let p = populated_node();
    let v = cli_json(&p.node, &["status", "--json"]);
    assert_eq!(v["node"], p.node.get_json("/api/v1/node"));
    assert_eq!(v["goals"], p.node.get_json("/api/v1/goals")["goals"]);
    assert_eq!(v["goals"].as_array().unwrap().len(), 1);
}

#[test]
fn status_json_for_a_goal_is_the_goal_status_from_the_api() {
    let p = populated_node();
    let v = cli_json(&p.node, &["status", GOAL, "--json"]);
    assert_eq!(v, p.node.get_json(&format!("/api/v1/goals/{GOAL}")));
    assert_eq!(v["log_size"], ENTRIES);
    assert_eq!(v["accepted"], ENTRIES);
    assert_eq!(v["rejected"], 1);
    let cp: SignedCheckpoint = serde_json::from_value(v["checkpoint"].clone()).unwrap();
    cp.verify(&node_key(&p.node)).unwrap();
    assert_eq!(cp.checkpoint.size, ENTRIES);
    assert_eq!(v["root"], serde_json::to_value(cp.checkpoint.root).unwrap());
}

#[test]
fn leaderboard_json_is_the_leaderboard_from_the_api() {
    let p = populated_node();
    let v = cli_json(&p.node, &["leaderboard", GOAL, "--json"]);
    assert_eq!(
        v,
        p.node
            .get_json(&format!("/api/v1/goals/{GOAL}/leaderboard"))
    );
    assert_eq!(v["top"].as_array().unwrap().len() as u64, ENTRIES);
    assert_eq!(v["rejections"].as_array().unwrap().len(), 1);
    assert_eq!(v["rejections"][0]["code"], "agent_trap", "{v}");
}

#[test]
fn log_json_is_the_requested_log_range_from_the_api() {
    let p = populated_node();
    let v = cli_json(
        &p.node,
        &["log", GOAL, "--start", "1", "--limit", "3", "--json"],
    );
    assert_eq!(
        v,
        p.node
            .get_json(&format!("/api/v1/goals/{GOAL}/log?start=1&limit=3"))
    );
    let entries: Vec<LogEntry> = serde_json::from_value(v["entries"].clone()).unwrap();
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_index).collect();
    assert_eq!(indexes, vec![1, 2, 3]);
    for e in &entries {
        assert!(e.verify_contributor_signature(), "entry {}", e.log_index);
    }
}

#[test]
fn proof_json_proves_every_entry_against_the_signed_checkpoint_from_the_api() {
    let p = populated_node();
    let cp = signed_checkpoint(&p.node);
    cp.verify(&node_key(&p.node)).unwrap();
    let cp = cp.checkpoint;
    assert_eq!(cp.size, ENTRIES);
    let log = p
        .node
        .get_json(&format!("/api/v1/goals/{GOAL}/log?start=0&limit={ENTRIES}"));
    let entries: Vec<LogEntry> = serde_json::from_value(log["entries"].clone()).unwrap();
    assert_eq!(entries.len() as u64, ENTRIES);
    for (index, entry) in (0u64..).zip(&entries) {
        let v = cli_json(&p.node, &["proof", GOAL, &index.to_string(), "--json"]);
        assert_extends(
            &v,
            &p.node
                .get_json(&format!("/api/v1/goals/{GOAL}/log/{index}/proof")),
        );
        assert_eq!(v["verified"], true);
        assert_eq!(v["checkpoint"]["size"], cp.size);
        let leaf: Hash32 = serde_json::from_value(v["leaf_hash"].clone()).unwrap();
        assert_eq!(leaf, entry.leaf_hash(), "entry {index}");
        let proof: InclusionProof = serde_json::from_value(v["proof"].clone()).unwrap();
        verify_inclusion(&cp.root, cp.size, index, &entry.leaf_hash(), &proof)
            .unwrap_or_else(|e| panic!("entry {index}: {e}"));
        // The same proof does not prove a different entry at that index.
        let other = &entries[((index + 1) % ENTRIES) as usize];
        assert!(
            verify_inclusion(&cp.root, cp.size, index, &other.leaf_hash(), &proof).is_err(),
            "entry {index}: proof also accepts another leaf"
        );
    }
}

#[test]
fn proof_json_links_every_earlier_root_to_the_signed_checkpoint() {
    let p = populated_node();
    let cp = signed_checkpoint(&p.node);
    cp.verify(&node_key(&p.node)).unwrap();
    let cp = cp.checkpoint;
    for old in 1..ENTRIES {
        // The root at `old` entries, as the inclusion proof of entry 0 in
        // the tree of that size reports it.
        let at_old = cli_json(
            &p.node,
            &["proof", GOAL, "0", "--size", &old.to_string(), "--json"],
        );
        let old_root: Hash32 = serde_json::from_value(at_old["root"].clone()).unwrap();
        let v = cli_json(
            &p.node,
            &["proof", GOAL, "--from", &old.to_string(), "--json"],
        );
        assert_extends(
            &v,
            &p.node
                .get_json(&format!("/api/v1/goals/{GOAL}/consistency?from={old}")),
        );
        assert_eq!(v["verified"], true);
        let served_old: Hash32 = serde_json::from_value(v["old_root"].clone()).unwrap();
        let served_new: Hash32 = serde_json::from_value(v["new_root"].clone()).unwrap();
        assert_eq!(served_old, old_root, "from {old}");
        assert_eq!(served_new, cp.root, "from {old}");
        let proof: ConsistencyProof = serde_json::from_value(v["proof"].clone()).unwrap();
        verify_consistency(old, &old_root, cp.size, &cp.root, &proof)
            .unwrap_or_else(|e| panic!("from {old}: {e}"));
    }
}

#[test]
fn proof_is_refused_when_the_checkpoint_is_not_signed_by_the_pinned_key() {
    let p = populated_node();
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let o = p.node.cli(&[
        "proof",
        GOAL,
        "0",
        "--node-key",
        &PublicKeyBytes::of(&stranger).to_hex(),
        "--json",
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let v = json_out(&o);
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("does not verify under node key"), "{v}");
}

#[test]
fn proof_with_the_pinned_node_key_says_so() {
    let p = populated_node();
    let key = node_key(&p.node).key.to_hex();
    let v = cli_json(&p.node, &["proof", GOAL, "1", "--node-key", &key, "--json"]);
    assert_eq!(v["verified"], true);
    assert_eq!(v["node_key"], key.as_str());
    assert_eq!(v["node_key_pinned"], true);
}
