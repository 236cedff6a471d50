//! The README's walkthrough, run exactly as written: the shell block after
//! `<!-- walkthrough -->` in README.md, from the repository root, with
//! `bash -e`. It leaves the repository after its first lines, so this is
//! also the check that a contributor needs nothing of the checkout beyond
//! `ian-host` and the example goal.

use std::process::{Command, Stdio};

use ian_tests::*;

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough -->\n```sh\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("README.md has a walkthrough block");
    assert!(block.contains("ian-host new agent"), "{block}");
    // The ian-host the block builds must be the one under test.
    bin();
    // In a session of its own, so the node the block starts in the
    // background is stopped even when a step fails before `kill %1`.
    let mut cmd = Command::new("setsid");
    without_test_env(&mut cmd)
        .args(["bash", "-euo", "pipefail", "-c", block])
        .current_dir(repo_path(""))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("run setsid bash");
    let session = child.id();
    let out = child.wait_with_output().expect("wait for bash");
    send_signal_to_group(session);
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "the walkthrough failed:\n{so}\n{se}");
    // Step 2 evaluated and step 3's table has one row per grid point.
    assert!(so.contains("verdict   ACCEPTED"), "{so}");
    assert!(so.contains("LOOKBACK  SIZE"), "{so}");
    // Step 6: accepted, verified offline, on the board.
    assert!(
        so.contains("receipt OK: entry 0 of goal trading-v1"),
        "{so}"
    );
    assert!(
        so.contains("   1      0  my-momentum"),
        "the board names the agent: {so}"
    );
}

/// SIGKILL to every process left in the session `leader` started.
fn send_signal_to_group(leader: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{leader}")])
        .stderr(Stdio::null())
        .status();
}
