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

#[test]
fn the_shipped_man_pages_are_the_ones_the_binary_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let o = cli(&["man", "--out-dir", tmp.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let shipped = repo_path("deploy/man");
    assert_eq!(
        listing(&shipped),
        listing(tmp.path()),
        "regenerate with: ian-host man --out-dir deploy/man"
    );
    for name in listing(tmp.path()) {
        assert_eq!(
            std::fs::read(shipped.join(&name)).unwrap(),
            std::fs::read(tmp.path().join(&name)).unwrap(),
            "deploy/man/{name} is stale: ian-host man --out-dir deploy/man"
        );
    }
}

/// Whether this run may install a package: root, dpkg and cargo-deb.
fn can_install_packages() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let dpkg = Command::new("dpkg").arg("--version").output().is_ok();
    let deb = cargo_cmd()
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    root && dpkg && deb
}

#[test]
fn the_debian_package_installs_a_working_node_with_a_valid_unit() {
    if !can_install_packages() {
        eprintln!(
            "note: not root, or dpkg or cargo-deb missing (scripts/test.sh installs cargo-deb); the package was not built"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The binary under test, packaged as built (no second build).
    let o = cargo_cmd()
        .current_dir(repo_path(""))
        .args([
            "deb",
            "-p",
            "ian-node",
            "--no-build",
            "--no-strip",
            "--fast",
            "--output",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let deb = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote a .deb");
    let o = Command::new("dpkg").arg("-i").arg(&deb).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = Command::new("/usr/bin/ian-host")
        .arg("--version")
        .output()
        .unwrap();
    let installed = String::from_utf8_lossy(&v.stdout).into_owned();
    let expected = stdout(&cli(&["--version"]));
    let unit = "/lib/systemd/system/ian-host.service";
    let verified = Command::new("systemd-analyze")
        .args(["verify", "--man=no", unit])
        .output();
    let config = std::fs::read_to_string("/etc/ian/node.toml");
    let man = std::path::Path::new("/usr/share/man/man1/ian-host.1").exists()
        || std::path::Path::new("/usr/share/man/man1/ian-host.1.gz").exists();
    // Leave the machine as it was before asserting anything.
    let removed = Command::new("dpkg")
        .args(["--purge", "ian-host"])
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_eq!(installed, expected);
    if let Ok(o) = verified {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(config.unwrap().contains("[server]"));
    assert!(man, "the man page is installed");
}
