//! docs/OPERATOR.md's walkthrough, run exactly as written: the shell block
//! after `<!-- operator-walkthrough -->`, from the repository root, with
//! `bash -euo pipefail`. It installs `ian-host` with `cargo install` (into
//! a temporary `CARGO_INSTALL_ROOT`, reusing this build's artifacts), then
//! serves over TLS, publishes, monitors, backs up, restores, rotates the
//! key and upgrades.

use std::process::{Command, Stdio};

use ian_tests::*;

#[test]
fn the_operator_walkthrough_runs_as_written() {
    let guide = std::fs::read_to_string(repo_path("docs/OPERATOR.md")).unwrap();
    let block = guide
        .split("<!-- operator-walkthrough -->\n```sh\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("docs/OPERATOR.md has an operator-walkthrough block");
    for step in [
        "cargo install",
        "--new-identity",
        "ian-host backup",
        "ian-host restore",
    ] {
        assert!(block.contains(step), "the walkthrough runs {step}: {block}");
    }
    // The binary under test is built; `cargo install` reuses its artifacts.
    bin();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("prefix");
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("setsid");
    without_test_env(&mut cmd)
        .args(["bash", "-euo", "pipefail", "-c", block])
        .current_dir(repo_path(""))
        .env("CARGO_INSTALL_ROOT", &root)
        .env("CARGO_TARGET_DIR", repo_path("target"))
        .env("PATH", path)
        .env("TMPDIR", tmp.path())
        // Files, not pipes: a node left running by a failed step must not
        // keep the test waiting for end of output.
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(tmp.path().join("out")).unwrap())
        .stderr(std::fs::File::create(tmp.path().join("err")).unwrap());
    let mut child = cmd.spawn().expect("run setsid bash");
    let session = child.id();
    let status = child.wait().expect("wait for bash");
    // Whatever the block left behind (a node after a failed step) goes.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{session}")])
        .stderr(Stdio::null())
        .status();
    let so = std::fs::read_to_string(tmp.path().join("out")).unwrap();
    let se = std::fs::read_to_string(tmp.path().join("err")).unwrap();
    assert!(status.success(), "the walkthrough failed:\n{so}\n{se}");
    assert!(
        root.join("bin/ian-host").exists(),
        "cargo install put ian-host there"
    );
    // The node served over TLS and said which build runs.
    assert!(so.contains("\"status\":\"ok\""), "{so}");
    assert!(so.contains("ian_build_info{version=\""), "{so}");
    // One rotation statement after --new-identity.
    assert!(so.lines().any(|l| l.trim() == "1"), "{so}");
    // The upgraded node serves the restored goal.
    assert!(so.matches("trading-v1").count() >= 2, "{so}");
}
