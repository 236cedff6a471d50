//! A node never serves a store under another identity: a `node.key` that
//! did not sign the store's checkpoints, or a missing one next to a store,
//! stops the start with a message naming the keys and the fix, and the
//! failed start leaves the data directory as it was. `serve
//! --new-identity` changes the key on purpose: the rotation is recorded,
//! signed by both keys when the old one is at hand, and nothing already
//! handed out stops verifying.

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

/// `ian-host verify FILE --node-key KEY`.
fn verifies(receipt: &Path, key: &str) -> bool {
    cli(&["verify", receipt.to_str().unwrap(), "--node-key", key])
        .status
        .success()
}

/// The rotation statements a node serves, each checked here: (old key,
/// new key, how many of the two keys signed it).
fn rotations(node: &NodeProc) -> Vec<(String, String, usize)> {
    let info = node.get_json("/api/v1/node");
    let name = info["name"].as_str().unwrap().to_string();
    info["key_rotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let note = ian_core::note::Note::parse(s.as_str().unwrap().as_bytes()).unwrap();
            let line = |p: &str| {
                note.text
                    .lines()
                    .find_map(|l| l.strip_prefix(p))
                    .unwrap()
                    .to_string()
            };
            let (old, new) = (line("old "), line("new "));
            let signed = [&old, &new]
                .iter()
                .filter(|k| {
                    ian_core::PublicKeyBytes::from_hex(k).is_ok_and(|k| {
                        ian_core::note::NoteVerifier::new(&name, ian_core::note::TYPE_ED25519, k)
                            .is_ok_and(|v| v.verify(&note).is_ok())
                    })
                })
                .count();
            (old, new, signed)
        })
        .collect()
}

#[test]
fn a_rotated_key_signs_what_follows_and_every_receipt_given_out_still_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeProc::start(&data, &[]);
    node.publish(&trading_goal(tmp.path(), "kept", false));
    let before = tmp.path().join("before.json");
    let r = submit_as_new_contributor(&node, tmp.path(), "kept", "alice", "position=0.5");
    std::fs::write(&before, r.to_string()).unwrap();
    let old = node.get_json("/api/v1/node")["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(node.stop());

    let mut node = NodeProc::start_with_flags(&data, &[], &["--new-identity"]);
    let new = std::fs::read_to_string(data.join("node.pub"))
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(new, old);
    assert_eq!(node.get_json("/api/v1/node")["public_key"], new.as_str());
    let retired = data.join(format!("node.key.retired-{}", &old[..8]));
    assert!(retired.exists(), "the old key is kept");
    // The rotation statement names both keys and both signed it.
    assert_eq!(rotations(&node), vec![(old.clone(), new.clone(), 2)]);
    // The receipt handed out before still verifies under the old key.
    assert!(verifies(&before, &old));
    // The latest checkpoint is served signed by both keys.
    let again = tmp.path().join("again.json");
    std::fs::write(&again, http_get(&node.url, "/api/v1/goals/kept/receipts/0")).unwrap();
    assert!(verifies(&again, &new) && verifies(&again, &old));
    // What follows is signed by the new key only.
    let after = tmp.path().join("after.json");
    let r = submit_as_new_contributor(&node, tmp.path(), "kept", "bob", "position=0.25");
    std::fs::write(&after, r.to_string()).unwrap();
    assert!(verifies(&after, &new));
    assert!(!verifies(&after, &old));
    // A plain restart accepts the checkpoints both keys signed.
    assert!(node.stop());
    let node = NodeProc::start(&data, &[]);
    assert_eq!(node.get_json("/api/v1/goals/kept")["log_size"], 2);
    assert_eq!(rotations(&node).len(), 1);
    // A backup of the rotated store restores: checkpoints of both keys
    // verify.
    let backup = tmp.path().join("rotated.redb");
    let o = node.cli(&[
        "backup",
        "--out",
        backup.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&[
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("restored").to_str().unwrap(),
        "--node-key",
        data.join("node.key").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn a_rotation_without_the_old_key_is_signed_by_the_new_key_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let old = node_with_an_entry(tmp.path(), &data);
    std::fs::remove_file(data.join("node.key")).unwrap();
    let node = NodeProc::start_with_flags(&data, &[], &["--new-identity"]);
    let got = rotations(&node);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, old);
    assert_eq!(got[0].2, 1, "only the new key signed");
    assert_eq!(node.get_json("/api/v1/goals/kept")["log_size"], 1);
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(log.contains("out of band"), "the log warns: {log}");
}

#[test]
fn a_rotation_cut_short_after_the_store_recorded_it_is_finished_by_the_next_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let old = node_with_an_entry(tmp.path(), &data);
    let mut node = NodeProc::start_with_flags(&data, &[], &["--new-identity"]);
    let new = node.get_json("/api/v1/node")["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(node.stop());
    // Put the files back as a crash between the store's record and the
    // renames leaves them.
    let retired = data.join(format!("node.key.retired-{}", &old[..8]));
    std::fs::rename(data.join("node.key"), data.join("node.key.new")).unwrap();
    std::fs::rename(&retired, data.join("node.key")).unwrap();
    let (code, err) = serve_must_fail(&data);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--new-identity"), "{err}");
    let node = NodeProc::start_with_flags(&data, &[], &["--new-identity"]);
    assert_eq!(node.get_json("/api/v1/node")["public_key"], new.as_str());
    assert_eq!(rotations(&node).len(), 1, "no second rotation");
    assert!(retired.exists());
}
