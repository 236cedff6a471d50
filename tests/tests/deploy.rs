//! What an operator installs: the systemd unit in `deploy/` passes
//! `systemd-analyze verify` (with its hardening directives known to this
//! systemd), and the default config in `deploy/node.toml` starts a node.

use std::process::Command;

use ian_tests::*;

#[test]
fn the_systemd_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: systemd-analyze not installed; the unit was not verified");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(repo_path("deploy/ian-host.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/ian-host serve"), "{unit}");
    for hardening in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=ian",
    ] {
        assert!(unit.contains(hardening), "the unit lacks {hardening}");
    }
    // The binary under test stands in for the installed one.
    let file = tmp.path().join("ian-host.service");
    std::fs::write(
        &file,
        unit.replace("/usr/bin/ian-host", bin().to_str().unwrap()),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.trim().is_empty(), "systemd-analyze warned: {err}");
}

#[test]
fn the_default_config_starts_a_node_with_json_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let config = repo_path("deploy/node.toml");
    let mut node = NodeProc::start(
        &tmp.path().join("data"),
        &[("IAN_CONFIG", config.to_str().unwrap())],
    );
    let health: serde_json::Value = serde_json::from_str(&http_get(&node.url, "/healthz")).unwrap();
    assert_eq!(health["status"], "ok");
    assert!(node.stop());
    let log = std::fs::read_to_string(&node.log).unwrap();
    let first = log.lines().next().unwrap_or("");
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "the packaged config logs JSON: {first}"
    );
}
