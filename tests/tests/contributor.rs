//! The contributor's path from outside this repository: `ian-host new
//! agent` writes a project that builds with a vendored SDK, `ian-host dev`
//! builds, componentizes and evaluates it (once, on every change, or over a
//! parameter grid), the packaged SDK builds an agent on its own, and
//! mistakes are blamed on the right party with the fix named.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ian_tests::*;
use serde_json::Value;

/// `ian-host new agent` into `<tmp>/<name>`; the project directory.
fn new_agent(tmp: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let dir = tmp.join(name);
    let mut args = vec!["new", "agent", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = ian_in(tmp, None, &args);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    dir
}

/// `ian-host dev` (text) of the project in `dir` against the example
/// trading goal, with `extra` flags.
fn dev_text(tmp: &Path, dir: &Path, extra: &[&str]) -> std::process::Output {
    let goal = example_goal(tmp, "trading");
    let mut args = vec![
        "dev",
        dir.to_str().unwrap(),
        "--goal",
        goal.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ian_in(tmp, Some(&template_target_dir()), &args)
}

/// `ian-host dev --json` of the project in `dir` against the example
/// trading goal, with `extra` flags; (exit code, parsed stdout, stderr).
fn dev_json(tmp: &Path, dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let goal = example_goal(tmp, "trading");
    let mut args = vec![
        "dev",
        dir.to_str().unwrap(),
        "--goal",
        goal.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = ian_in(tmp, Some(&template_target_dir()), &args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v, stderr(&o))
}

#[test]
fn a_new_agent_builds_with_its_vendored_sdk_and_dev_scores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_agent(tmp.path(), "momentum", &[]);
    for f in [
        "Cargo.toml",
        ".cargo/config.toml",
        "src/lib.rs",
        "README.md",
        "vendor/ian-guest-sdk/wit/ian-eval.wit",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains("target = \"wasm32-unknown-unknown\""),
        "{config}"
    );
    let (code, r, err) = dev_json(tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{r}\n{err}");
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["seeds"].as_array().unwrap().len(), 5, "{r}");
    let extra: Vec<&str> = r["metrics"]["extra"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[0].as_str().unwrap())
        .collect();
    assert_eq!(extra, ["sharpe", "turnover"]);
    // --params overrides reach the agent: another lookback, another score.
    let (_, other, err) = dev_json(tmp.path(), &dir, &["--params", "lookback=5,size=0.3"]);
    assert!(other["score"].is_number(), "{other}\n{err}");
    assert_ne!(other["score"], r["score"]);
}

#[test]
fn dev_sweeps_a_parameter_grid_one_row_per_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_agent(tmp.path(), "sweeper", &[]);
    let (code, rows, err) = dev_json(
        tmp.path(),
        &dir,
        &["--sweep", "lookback=20,60", "--sweep", "size=0.5,1"],
    );
    assert_eq!(code, 0, "{rows}\n{err}");
    let rows = rows.as_array().expect("one row per point");
    let points: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["params"]["lookback"].as_str().unwrap().to_string(),
                r["params"]["size"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        points,
        [("20", "0.5"), ("20", "1"), ("60", "0.5"), ("60", "1")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Half the size halves every daily return: the rewards differ.
    assert_ne!(
        rows[2]["report"]["metrics"]["reward"],
        rows[3]["report"]["metrics"]["reward"]
    );
    // The text table names the swept keys and the goal's extra metrics.
    let o = dev_text(tmp.path(), &dir, &["--sweep", "lookback=20,60"]);
    let text = stdout(&o);
    let header = text.lines().next().unwrap_or("");
    for col in ["LOOKBACK", "VERDICT", "SCORE", "SHARPE", "TURNOVER"] {
        assert!(header.contains(col), "{text}");
    }
    assert_eq!(text.lines().count(), 3, "{text}");
}

/// Kills the child on drop, so a failing test never leaks a `dev --watch`.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dev_watch_evaluates_again_after_a_source_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_agent(tmp.path(), "watched", &[]);
    let goal = example_goal(tmp.path(), "trading");
    let mut cmd = Command::new(bin());
    without_test_env(&mut cmd)
        .current_dir(tmp.path())
        .env("CARGO_TARGET_DIR", template_target_dir())
        .args([
            "dev",
            dir.to_str().unwrap(),
            "--goal",
            goal.to_str().unwrap(),
            "--watch",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let (tx, rx) = mpsc::channel();
    let out = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // Every evaluation prints its pack hash, whatever the verdict;
            // the edit changes the code, so the hash.
            if line.starts_with("pack ") && tx.send(line).is_err() {
                return;
            }
        }
    });
    // stderr is kept to explain a timeout (a failed build, say).
    let err_log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = err_log.clone();
    let err = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let wait = |what: &str| {
        rx.recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| {
                panic!(
                    "no evaluation {what}; dev's stderr:\n{}",
                    err_log.lock().unwrap()
                )
            })
    };
    let first = wait("at start");
    // Halve the default position size: new code, a new pack.
    let lib = dir.join("src/lib.rs");
    let src = std::fs::read_to_string(&lib).unwrap();
    let edited = src.replace(r#"p.f64_or("size", 1.0)"#, r#"p.f64_or("size", 0.5)"#);
    assert_ne!(src, edited, "the template's default size moved");
    std::fs::write(&lib, edited).unwrap();
    let second = wait("after the edit");
    assert_ne!(first, second);
}

#[test]
fn the_packaged_sdk_builds_an_agent_with_nothing_else_from_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg_target = tmp.path().join("package-target");
    cargo_in(
        &repo_path(""),
        None,
        &[
            "package",
            "-p",
            "ian-guest-sdk",
            "--allow-dirty",
            "--no-verify",
            "--target-dir",
            pkg_target.to_str().unwrap(),
        ],
    );
    let crate_file = pkg_target
        .join("package")
        .join(format!("ian-guest-sdk-{}.crate", env!("CARGO_PKG_VERSION")));
    assert!(crate_file.is_file(), "{} missing", crate_file.display());
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let st = Command::new("tar")
        .arg("xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(st.success());
    let sdk = unpacked.join(format!("ian-guest-sdk-{}", env!("CARGO_PKG_VERSION")));
    assert!(
        sdk.join("wit/ian-eval.wit").is_file(),
        "the WIT travels in the crate"
    );
    let dir = new_agent(tmp.path(), "packaged", &["--sdk", sdk.to_str().unwrap()]);
    assert!(
        !dir.join("vendor").exists(),
        "--sdk replaces the vendored copy"
    );
    let (code, r, err) = dev_json(tmp.path(), &dir, &[]);
    assert_eq!(code, 0, "{r}\n{err}");
    assert_eq!(r["verdict"], "accepted", "{r}");
}

#[test]
fn dev_names_the_fix_when_the_crate_builds_no_cdylib() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_agent(tmp.path(), "nolib", &[]);
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            r#"crate-type = ["cdylib", "rlib"]"#,
            r#"crate-type = ["rlib"]"#,
        ),
    )
    .unwrap();
    let o = dev_text(tmp.path(), &dir, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(r#"crate-type = ["cdylib"]"#), "{err}");
}

#[test]
fn pack_warns_that_a_wasi_build_targets_the_wrong_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("wasi.ianpack");
    let o = cli(&[
        "pack",
        component("hostile-wasi-fs").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning")
            && err.contains("wasm32-wasip2")
            && err.contains("--target wasm32-unknown-unknown"),
        "{err}"
    );
    // The goal refuses it, and says how to fix the build.
    let goal = example_goal(tmp.path(), "trading");
    let o = cli(&[
        "eval",
        "--goal",
        goal.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stdout(&o).contains("forbidden_import") && stdout(&o).contains("fix "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_init_failure_is_reported_as_the_agents_with_its_own_message() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = pack(
        tmp.path(),
        "ma-crossover",
        "short=50,long=20",
        "bad.ianpack",
    );
    let goal = example_goal(tmp.path(), "trading");
    let o = cli(&[
        "eval",
        "--json",
        "--goal",
        goal.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let r = json_out(&o);
    assert_eq!(r["reason"], "agent_init_failed", "{r}");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.starts_with("your agent's init failed"), "{msg}");
    assert!(msg.contains("need 1 <= short < long"), "{msg}");
    // No empty seed table for a pack refused before evaluation.
    let o = cli(&[
        "eval",
        "--goal",
        goal.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(!stdout(&o).contains("SEED"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("null"), "{}", stdout(&o));
}

#[test]
fn pack_names_the_cdylib_fix_when_the_wasm_output_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp
        .path()
        .join("target/wasm32-unknown-unknown/release/my_agent.wasm");
    let out = tmp.path().join("x.ianpack");
    let o = cli(&[
        "pack",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(r#"crate-type = [\"cdylib\"]"#) || err.contains(r#"crate-type = ["cdylib"]"#),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn dev_against_a_goal_on_a_node_places_the_score_on_its_board() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    node.publish(&example_goal(tmp.path(), "trading"));
    let dir = new_agent(tmp.path(), "remote-dev", &[]);
    let o = ian_in(
        tmp.path(),
        Some(&template_target_dir()),
        &[
            "dev",
            dir.to_str().unwrap(),
            "--goal-id",
            "trading-v1",
            "--node",
            &node.url,
            "--json",
        ],
    );
    let r = json_out(&o);
    assert_eq!(r["verdict"], "accepted", "{r}");
    // The board is empty: first of one.
    assert_eq!(r["on_board"]["rank"], 1, "{r}");
    assert_eq!(r["on_board"]["of"], 1, "{r}");
}
