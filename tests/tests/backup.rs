//! Backup and restore: a consistent online backup of a running node taken
//! while submissions continue, restored into a new data directory only
//! after every checkpoint signature and every replayed root checked out,
//! serves every receipt the node acknowledged before the backup.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ian_tests::*;
use serde_json::Value;

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_backup_taken_under_load_restores_into_a_node_that_serves_every_acknowledged_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeProc::start(&data, &[]);
    node.publish(&trading_goal(tmp.path(), "kept", false));
    let replies: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let backup = tmp.path().join("node.backup");
    let acknowledged_before = std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = submit_as_new_contributor(
                    &node,
                    tmp.path(),
                    "kept",
                    &format!("c{i}"),
                    &format!("position=0.{:03}", i + 1),
                );
                assert_eq!(r["status"], "accepted", "{r}");
                replies.lock().unwrap().push(r);
                i += 1;
            }
        });
        // Stops the submitter however this closure ends (a failed assert
        // included), so the scope never waits on it forever.
        let _stop = StopOnDrop(&stop);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let wait_for = |n: usize| {
            while replies.lock().unwrap().len() < n {
                // A submitter that failed stops adding: fail, do not hang.
                assert!(
                    std::time::Instant::now() < deadline,
                    "submissions stalled at {}",
                    replies.lock().unwrap().len()
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        };
        wait_for(4);
        let before = replies.lock().unwrap().clone();
        let o = node.cli(&[
            "backup",
            "--out",
            backup.to_str().unwrap(),
            "--operator-key-file",
            data.join("operator.key").to_str().unwrap(),
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let made = json_out(&o);
        assert!(made["bytes"].as_u64().unwrap() > 0, "{made}");
        // Keep submitting a little after the backup, then stop.
        let after = replies.lock().unwrap().len();
        wait_for(after + 2);
        stop.store(true, Ordering::Relaxed);
        before
    });
    assert!(node.stop());
    let restored = tmp.path().join("restored");
    let o = cli(&[
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--node-key",
        data.join("node.key").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json_out(&o);
    assert_eq!(report["goals"], 1, "{report}");
    assert!(report["checkpoints"].as_u64().unwrap() >= 1, "{report}");
    let entries = report["entries"].as_u64().unwrap();
    assert!(entries >= acknowledged_before.len() as u64, "{report}");
    let node = NodeProc::start(&restored, &[]);
    assert_eq!(node.get_json("/api/v1/goals/kept")["log_size"], entries);
    for (i, reply) in acknowledged_before.iter().enumerate() {
        let index = reply["entry"]["log_index"].as_u64().unwrap();
        let served = node.get_json(&format!("/api/v1/goals/kept/receipts/{index}"));
        assert_eq!(
            served["entry"]["pack_hash"], reply["entry"]["pack_hash"],
            "entry {index}"
        );
        // The receipt given out before the backup still verifies offline
        // under the node key the restored node serves with.
        let file = tmp.path().join(format!("receipt-{i}.json"));
        std::fs::write(&file, reply.to_string()).unwrap();
        let v = cli(&[
            "verify",
            file.to_str().unwrap(),
            "--node-key",
            restored.join("node.pub").to_str().unwrap(),
        ]);
        assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    }
}

#[test]
fn a_backup_restored_with_another_key_is_refused_and_leaves_no_store() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeProc::start(&data, &[]);
    node.publish(&trading_goal(tmp.path(), "kept", false));
    submit_as_new_contributor(&node, tmp.path(), "kept", "alice", "position=0.5");
    let backup = tmp.path().join("node.backup");
    let o = node.cli(&[
        "backup",
        "--out",
        backup.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(node.stop());
    let other = keygen(tmp.path(), "other.key");
    let restored = tmp.path().join("restored");
    let o = cli(&[
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--node-key",
        other.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("restore refused") && err.contains("signed by key"),
        "{err}"
    );
    assert!(!restored.join("ian.redb").exists());
    assert!(!restored.join("ian.redb.restoring").exists());
    assert!(!restored.join("node.key").exists());
    // Without the operator key nobody takes a backup.
    let node = NodeProc::start(&data, &[]);
    let o = node.cli(&[
        "backup",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
        "--operator-key",
        "wrong",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!tmp.path().join("x").exists() && !tmp.path().join("x.partial").exists());
}
