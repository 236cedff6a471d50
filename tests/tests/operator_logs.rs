//! Logs an operator can use: in JSON mode every accepted submission is a
//! line with its goal, index, pack, contributor, score and latency; every
//! HTTP request is an access-log line with its route template, status,
//! latency and client; a start-up replay says how much it is replaying.

use ian_tests::*;
use serde_json::Value;

/// The JSON log lines of a node's stderr.
fn lines(node: &NodeProc) -> Vec<Value> {
    std::fs::read_to_string(&node.log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn find<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["message"] == message).collect()
}

#[test]
fn json_logs_hold_every_accepted_submission_and_an_access_log_line_per_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [("IAN_LOG_FORMAT", "json")];
    let node = NodeProc::start(&data, &env);
    node.publish(&trading_goal(tmp.path(), "logged", false));
    let r = submit_as_new_contributor(&node, tmp.path(), "logged", "alice", "position=0.5");
    http_get(&node.url, "/api/v1/goals/logged");
    let all = lines(&node);
    // Killed, not stopped: no state snapshot, so the next start replays.
    drop(node);
    let accepted = find(&all, "contribution accepted");
    assert_eq!(accepted.len(), 1, "{all:?}");
    let a = accepted[0];
    assert_eq!(a["goal"], "logged");
    assert_eq!(a["index"], 0);
    assert_eq!(a["pack"], r["entry"]["pack_hash"]);
    assert_eq!(a["contributor"], r["entry"]["contributor"]);
    assert_eq!(a["score"], r["entry"]["score"]);
    assert!(a["latency_ms"].is_u64(), "{a}");
    let access: Vec<&Value> = all
        .iter()
        .filter(|l| l["target"] == "ian::access")
        .collect();
    let submit = access
        .iter()
        .find(|l| l["route"] == "/api/v1/goals/{goal}/contributions")
        .unwrap_or_else(|| panic!("no access line for the submission: {access:?}"));
    assert_eq!(submit["method"], "POST");
    assert_eq!(submit["status"], 200);
    assert_eq!(submit["client"], "127.0.0.1");
    assert!(submit["latency_ms"].as_f64().unwrap() > 0.0, "{submit}");
    // A restart replays the log and says so.
    let mut again = NodeProc::start(&data, &env);
    assert!(again.stop());
    let replay = lines(&again);
    let said = find(&replay, "replaying the log");
    assert!(
        said.iter()
            .any(|l| l["goal"] == "logged" && l["entries"] == 1),
        "{replay:?}"
    );
}

#[test]
fn text_logs_have_no_access_log_unless_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(&tmp.path().join("a"), &[]);
    http_get(&node.url, "/api/v1/goals");
    assert!(node.stop());
    let text = std::fs::read_to_string(&node.log).unwrap();
    assert!(!text.contains("ian::access"), "{text}");
    let mut node = NodeProc::start(&tmp.path().join("b"), &[("IAN_ACCESS_LOG", "on")]);
    http_get(&node.url, "/api/v1/goals");
    assert!(node.stop());
    let text = std::fs::read_to_string(&node.log).unwrap();
    assert!(
        text.contains("ian::access") && text.contains("route=/api/v1/goals"),
        "{text}"
    );
}

#[test]
fn a_request_cut_by_the_timeout_is_still_in_the_access_log() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ("IAN_LOG_FORMAT", "json"),
        ("IAN_REQUEST_TIMEOUT_MS", "1"),
        ("IAN_WITNESS_WAIT_MS", "0"),
    ];
    let mut node = NodeProc::start(&tmp.path().join("data"), &env);
    // Publishing takes longer than 1 ms: the answer may be a 503 while the
    // goal is still published, so wait for it to appear.
    let goal = trading_goal(tmp.path(), "slow", false);
    let _ = node.cli(&[
        "goal",
        "publish",
        goal.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
    ]);
    let t = std::time::Instant::now();
    while http_get_raw(&node.url, "/api/v1/goals/slow").0 != 200 {
        assert!(t.elapsed().as_secs() < 60, "the goal never appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // An evaluation takes far longer than 1 ms.
    let key = keygen(tmp.path(), "k");
    let p = pack(tmp.path(), "buy-and-hold", "position=0.5", "p.ianpack");
    let o = node.cli(&[
        "submit",
        p.to_str().unwrap(),
        "--goal",
        "slow",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(node.stop());
    let all = lines(&node);
    assert!(
        all.iter().any(|l| l["target"] == "ian::access"
            && l["route"] == "/api/v1/goals/{goal}/contributions"
            && l["status"] == 503),
        "no access line for the timed-out submission: {all:?}"
    );
}
