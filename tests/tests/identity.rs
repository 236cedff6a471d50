//! A node never serves a store under another identity: a `node.key` that
//! did not sign the store's checkpoints, or a missing one next to a store,
//! stops the start with a message naming the keys and the fix, and the
//! failed start leaves the data directory as it was.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ian_tests::*;

/// Runs `ian-host serve` on `data`, which must fail; (exit code, stderr).
fn serve_must_fail(data: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(bin())
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the node started (or hung) instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A node with one goal and one accepted entry, stopped; its public key.
fn node_with_an_entry(tmp: &Path, data: &Path) -> String {
    let mut node = NodeProc::start(data, &[]);
    node.publish(&trading_goal(tmp, "kept", false));
    let r = submit_as_new_contributor(&node, tmp, "kept", "alice", "position=0.5");
    assert_eq!(r["status"], "accepted");
    assert!(node.stop());
    std::fs::read_to_string(data.join("node.pub"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_node_key_that_did_not_sign_the_store_is_refused_naming_both_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let old = node_with_an_entry(tmp.path(), &data);
    let right_key = std::fs::read(data.join("node.key")).unwrap();
    let other = tmp.path().join("other.key");
    let o = cli(&["keygen", "--out", other.to_str().unwrap(), "--json"]);
    let new = json_out(&o)["public_key"].as_str().unwrap().to_string();
    std::fs::copy(&other, data.join("node.key")).unwrap();
    let before = files(&data);
    let (code, err) = serve_must_fail(&data);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&old),
        "names the key that signed the store: {err}"
    );
    assert!(err.contains(&new), "names the key in node.key: {err}");
    assert!(err.contains("node.key"), "{err}");
    assert_eq!(files(&data), before, "a failed start creates no files");
    assert_eq!(
        std::fs::read_to_string(data.join("node.pub"))
            .unwrap()
            .trim(),
        old,
        "node.pub still names the store's key"
    );
    // The right key back: the node starts and serves the entry.
    std::fs::write(data.join("node.key"), right_key).unwrap();
    let node = NodeProc::start(&data, &[]);
    assert_eq!(node.get_json("/api/v1/goals/kept")["log_size"], 1);
}

#[test]
fn a_store_without_its_node_key_is_refused_and_no_key_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let old = node_with_an_entry(tmp.path(), &data);
    let key = std::fs::read(data.join("node.key")).unwrap();
    std::fs::remove_file(data.join("node.key")).unwrap();
    let before = files(&data);
    let (code, err) = serve_must_fail(&data);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("node.key") && err.contains("never makes a new key"),
        "{err}"
    );
    assert!(!data.join("node.key").exists(), "no new key was made");
    assert_eq!(files(&data), before);
    std::fs::write(data.join("node.key"), key).unwrap();
    let node = NodeProc::start(&data, &[]);
    assert_eq!(
        node.get_json("/api/v1/node")["public_key"].as_str(),
        Some(old.as_str())
    );
}
