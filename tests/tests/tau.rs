//! Tau wiring: the bridge's queue lives in the node's store, status is
//! visible, misconfiguration is refused at start.

use std::sync::Arc;

use ian_node::runtime::tau::StorePending;
use ian_tau::bridge::PendingStore;
use ian_tests::*;
use serde_json::Value;

#[test]
fn store_backed_pending_queue_survives_reopening_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ian.redb");
    {
        let store = Arc::new(ian_store::Store::open(&path).unwrap());
        let p = StorePending::new(store);
        p.put(0, b"state").unwrap();
        p.put(1, b"tx-1").unwrap();
        p.put(2, b"tx-2").unwrap();
        p.remove(1).unwrap();
    }
    let store = Arc::new(ian_store::Store::open(&path).unwrap());
    let p = StorePending::new(store);
    assert_eq!(
        p.list().unwrap(),
        vec![(0, b"state".to_vec()), (2, b"tx-2".to_vec())]
    );
}

#[test]
fn tau_status_says_off_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    let o = node.cli(&["tau", "status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["enabled"], false);
}

#[test]
fn node_refuses_tau_endpoint_without_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(bin())
        .arg("serve")
        .env("IAN_LISTEN", "127.0.0.1:0")
        .env("IAN_DATA_DIR", tmp.path().join("data"))
        .env("IAN_TAU_ENDPOINT", "127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "config key `tau.key_file` (env IAN_TAU_KEY_FILE): required when tau.endpoint is set"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn goal_registration_waits_in_the_store_while_tau_is_unreachable_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("tau.key");
    let o = cli(&["tau", "keygen", "--out", key.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A port nothing listens on: every send attempt fails at the transport.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let env = [
        ("IAN_TAU_ENDPOINT", closed.as_str()),
        ("IAN_TAU_KEY_FILE", key.to_str().unwrap()),
        ("IAN_TAU_NETWORK_ID", "tau-test-net"),
    ];
    let data = tmp.path().join("data");
    let mut node = NodeProc::start(&data, &env);
    let goal = trading_goal(tmp.path(), "tau-goal", false);
    let o = node.cli(&[
        "goal",
        "publish",
        goal.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let status = |n: &NodeProc| -> Value {
        serde_json::from_slice(&n.cli(&["tau", "status", "--json"]).stdout).unwrap()
    };
    let v = status(&node);
    assert_eq!(v["enabled"], true);
    assert_eq!(v["pending"], 1, "{v}");
    assert!(node.stop());
    let node = NodeProc::start(&data, &env);
    let v = status(&node);
    assert_eq!(
        v["pending"], 1,
        "the queued registration must survive a restart: {v}"
    );
    let metrics = http_get(&node.url, "/metrics");
    assert!(metrics.contains("ian_tau_pending_txs 1"), "{metrics}");
}
