//! HTTPS end to end: a node serving a certificate made here (rcgen), the
//! CLI trusting the node's CA with `--ca-cert` / `IAN_CA_CERT`, a CLI that
//! does not trust it refused with a message naming the fix, and the
//! certificate replaced without a restart.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ian_tests::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

const GOAL: &str = "secure";

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, as PEM
/// files in `dir`: (ca, cert, key).
fn ca_and_leaf(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::DnsName("localhost".try_into().unwrap()),
    ];
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let paths = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf_cert.pem()).unwrap();
    std::fs::write(&paths.2, leaf_key.serialize_pem()).unwrap();
    paths
}

/// Runs the CLI against `node` trusting `ca` (or only the public roots).
fn cli_with(node: &NodeProc, ca: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env("IAN_NODE", &node.url)
        .env_remove("IAN_CA_CERT");
    if let Some(ca) = ca {
        c.env("IAN_CA_CERT", ca);
    }
    c.output().unwrap()
}

fn https_node(dir: &Path, cert: &Path, key: &Path) -> NodeProc {
    NodeProc::start(
        &dir.join("data"),
        &[
            ("IAN_TLS_CERT", cert.to_str().unwrap()),
            ("IAN_TLS_KEY", key.to_str().unwrap()),
        ],
    )
}

#[test]
fn a_cli_trusting_the_nodes_ca_publishes_submits_reads_and_verifies_over_https() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_leaf(tmp.path(), "one");
    let node = https_node(tmp.path(), &cert, &key);
    assert!(node.url.starts_with("https://127.0.0.1:"), "{}", node.url);
    let ok = |o: Output| -> String {
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        stdout(&o)
    };
    let goal = trading_goal(tmp.path(), GOAL, false);
    ok(cli_with(
        &node,
        Some(&ca),
        &[
            "goal",
            "publish",
            goal.to_str().unwrap(),
            "--operator-key",
            &node.operator_key(),
        ],
    ));
    let k = keygen(tmp.path(), "me.key");
    let packed = pack(tmp.path(), "buy-and-hold", "position=0.5", "me.ianpack");
    let reply: serde_json::Value = serde_json::from_str(&ok(cli_with(
        &node,
        Some(&ca),
        &[
            "submit",
            packed.to_str().unwrap(),
            "--goal",
            GOAL,
            "--key",
            k.to_str().unwrap(),
            "--json",
        ],
    )))
    .unwrap();
    assert_eq!(reply["status"], "accepted", "{reply}");
    let status = ok(cli_with(&node, Some(&ca), &["status", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(info["goals"][0]["id"], GOAL, "{info}");
    let board = ok(cli_with(&node, Some(&ca), &["leaderboard", GOAL]));
    assert!(board.contains("buy-and-hold"), "{board}");
    // The receipt from the HTTPS answer verifies offline.
    let receipt = tmp.path().join("r.tlog-proof");
    std::fs::write(&receipt, reply["receipt"].as_str().unwrap()).unwrap();
    let pk = info["node"]["public_key"].as_str().unwrap();
    ok(cli_with(
        &node,
        None,
        &["verify", receipt.to_str().unwrap(), "--node-key", pk],
    ));
}

#[test]
fn a_cli_that_does_not_trust_the_nodes_certificate_is_refused_naming_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, cert, key) = ca_and_leaf(tmp.path(), "one");
    let (other_ca, _, _) = ca_and_leaf(tmp.path(), "other");
    let node = https_node(tmp.path(), &cert, &key);
    for ca in [None, Some(other_ca.as_path())] {
        let o = cli_with(&node, ca, &["status"]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.contains("not signed by a trusted CA") && err.contains("--ca-cert"),
            "{err}"
        );
    }
    let o = cli_with(&node, Some(&tmp.path().join("missing.pem")), &["status"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.pem"), "{}", stderr(&o));
}

#[test]
fn a_new_certificate_is_served_after_sighup_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca1, cert, key) = ca_and_leaf(tmp.path(), "one");
    let node = https_node(tmp.path(), &cert, &key);
    assert!(cli_with(&node, Some(&ca1), &["status"]).status.success());
    let (ca2, cert2, key2) = ca_and_leaf(tmp.path(), "two");
    std::fs::copy(&cert2, &cert).unwrap();
    std::fs::copy(&key2, &key).unwrap();
    send_signal(node.child.as_ref().unwrap().id(), "HUP");
    let t = Instant::now();
    while !cli_with(&node, Some(&ca2), &["status"]).status.success() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the new certificate was not served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!cli_with(&node, Some(&ca1), &["status"]).status.success());
    // Still the same process, still serving.
    assert!(node.child.as_ref().is_some());
}

#[test]
fn a_broken_certificate_file_refuses_the_start_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, cert, _) = ca_and_leaf(tmp.path(), "one");
    let bad_key = tmp.path().join("bad-key.pem");
    std::fs::write(&bad_key, "not a key").unwrap();
    let o = Command::new(bin())
        .arg("serve")
        .env("IAN_LISTEN", "127.0.0.1:0")
        .env("IAN_DATA_DIR", tmp.path().join("data"))
        .env("IAN_TLS_CERT", &cert)
        .env("IAN_TLS_KEY", &bad_key)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("server.tls_key") && err.contains("bad-key.pem"),
        "{err}"
    );
}

#[test]
fn without_node_the_cli_finds_the_local_node_from_its_address_file() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    let o = Command::new(bin())
        .args(["status", "--json"])
        .env_remove("IAN_NODE")
        .env("IAN_DATA_DIR", &node.data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pk = node.get_json("/api/v1/node")["public_key"].clone();
    assert_eq!(info["node"]["public_key"], pk);
}
