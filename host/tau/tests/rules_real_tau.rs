//! Runs the `.tau` rules through the real `tau` binary when `TAU_BIN` points
//! at one, and compares its outputs with the expected fixture outputs.
//!
//! The real `tau` prints parse and type errors as lines starting with
//! `(Error)` and still exits 0, so this test reads what it printed and what
//! it wrote; the exit code alone proves nothing. `TAU_ARGS` (split on
//! whitespace) adds options before the file name; `TAU_TIMEOUT_SECS`
//! (default 120) bounds each run.

use ian_tau::rules::{self, RuleId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rules_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules"))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

struct Run {
    printed: String,
    outputs: BTreeMap<String, Vec<u64>>,
}

fn run_rule(tau_bin: &Path, rule: RuleId) -> Run {
    let work = tempfile::tempdir().unwrap();
    let tau_file = work.path().join(format!("{}.tau", rule.name()));
    std::fs::copy(rule.tau_file(&rules_dir()), &tau_file).unwrap();
    std::fs::create_dir(work.path().join("inputs")).unwrap();
    for (name, _) in rule.inputs() {
        std::fs::copy(
            rule.fixture_dir(&rules_dir())
                .join("inputs")
                .join(format!("{name}.in")),
            work.path().join("inputs").join(format!("{name}.in")),
        )
        .unwrap();
    }
    let args: Vec<String> = std::env::var("TAU_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let timeout = Duration::from_secs(
        std::env::var("TAU_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    );
    let stdout_path = work.path().join("stdout.txt");
    let stderr_path = work.path().join("stderr.txt");
    let mut child = Command::new(tau_bin)
        .args(&args)
        .arg(&tau_file)
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start TAU_BIN {}: {e}", tau_bin.display()));
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{}: tau did not finish within {timeout:?}; output:\n{}",
                rule.name(),
                std::fs::read_to_string(&stdout_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let printed = strip_ansi(&format!(
        "{}\n{}",
        std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    ));
    let mut outputs = BTreeMap::new();
    for (name, _) in rule.outputs() {
        let file = work.path().join(format!("{name}.out"));
        let values: Vec<u64> = match std::fs::read_to_string(&file) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    rules::parse_tau_output_value(l).unwrap_or_else(|| {
                        panic!("{}: unreadable value {l:?} in {name}.out", rule.name())
                    })
                })
                .collect(),
            // Fall back to the console form `oN[k] := v`.
            Err(_) => printed
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("{name}[")))
                .filter_map(rules::parse_tau_output_value)
                .collect(),
        };
        outputs.insert((*name).to_string(), values);
    }
    Run { printed, outputs }
}

#[test]
fn rules_run_in_real_tau_and_produce_the_expected_outputs() {
    let Some(tau_bin) = std::env::var_os("TAU_BIN") else {
        println!("skipped: TAU_BIN not set");
        return;
    };
    let tau_bin = PathBuf::from(tau_bin);
    for rule in RuleId::ALL {
        let fixture = rules::load_fixture(&rules_dir(), rule).unwrap();
        let run = run_rule(&tau_bin, rule);
        let errors: Vec<&str> = run
            .printed
            .lines()
            .filter(|l| l.contains("(Error)"))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: tau reported errors:\n{}\nfull output:\n{}",
            rule.name(),
            errors.join("\n"),
            run.printed
        );
        for (name, _) in rule.outputs() {
            let got = &run.outputs[*name];
            let want: Vec<u64> = fixture.steps.iter().map(|s| s.expected[*name]).collect();
            assert_eq!(
                got.len(),
                want.len(),
                "{}: {name} has {} values, expected {}; output:\n{}",
                rule.name(),
                got.len(),
                want.len(),
                run.printed
            );
            for (step, (g, w)) in fixture.steps.iter().zip(got.iter().zip(&want)) {
                assert_eq!(
                    g,
                    w,
                    "{}: {name} at step {} ({})",
                    rule.name(),
                    step.step,
                    step.name
                );
            }
        }
        println!(
            "{}: {} steps match in real tau",
            rule.name(),
            fixture.steps.len()
        );
    }
}
