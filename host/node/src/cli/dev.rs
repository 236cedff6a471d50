//! `ian-host dev`: the contributor's loop in one command. Builds the agent
//! with cargo, componentizes it, evaluates it against a goal (a file here or
//! a goal on a node) with exactly the code path `eval` and the node use, and
//! prints the scores; `--watch` repeats on every change, `--sweep` runs a
//! parameter grid and prints one row per point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::cli::args::DevArgs;
use crate::cli::commands::Out;
use crate::cli::common::{CommandError, EXIT_INCONCLUSIVE, EXIT_REJECTED, read};
use crate::cli::ops::{self, EvalReport};
use ian_core::pack::{Metadata, PackFile};

/// How often `--watch` looks at the files, and how long they must stay
/// unchanged before a rebuild starts (an editor's save is often several
/// writes).
const POLL: Duration = Duration::from_millis(250);
const SETTLE: Duration = Duration::from_millis(300);
/// `--watch` looks at no more files than this (a project, not a disk).
const MAX_WATCHED_FILES: usize = 20_000;
/// Most points a `--sweep` grid may have.
const MAX_SWEEP_POINTS: usize = 256;

/// A goal loaded once (a node's) or on every run (a file, so that a goal
/// author's edits apply too).
enum Goal {
    File(PathBuf),
    Remote {
        id: String,
        client: crate::cli::client::Client,
        rt: tokio::runtime::Runtime,
        manifest: Box<ian_core::GoalManifest>,
        blobs: BTreeMap<ian_core::Hash32, Vec<u8>>,
    },
}

impl Goal {
    fn open(a: &DevArgs) -> Result<Goal, CommandError> {
        match (&a.goal, &a.goal_id) {
            (Some(p), _) => Ok(Goal::File(p.clone())),
            (None, Some(id)) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        CommandError::Usage(format!("cannot start the async runtime: {e}"))
                    })?;
                let client =
                    crate::cli::client::Client::with_ca(&a.node.url(), a.node.ca_cert.as_deref())?;
                let (manifest, blobs) = rt.block_on(ops::fetch_goal(&client, id))?;
                Ok(Goal::Remote {
                    id: id.clone(),
                    client,
                    rt,
                    manifest: Box::new(manifest),
                    blobs,
                })
            }
            (None, None) => Err(CommandError::Usage(
                "dev needs a goal: --goal FILE, or --goal-id ID with --node URL".into(),
            )),
        }
    }

    fn evaluate(&self, file: PackFile, progress: bool) -> Result<EvalReport, CommandError> {
        match self {
            Goal::File(p) => {
                let (manifest, blobs) = ops::load_goal_file(p)?;
                ops::eval_loaded(&manifest, &blobs, file, progress)
            }
            Goal::Remote {
                id,
                client,
                rt,
                manifest,
                blobs,
            } => {
                let mut r = ops::eval_loaded(manifest, blobs, file, progress)?;
                if let Some(score) = r.score {
                    r.on_board = Some(rt.block_on(ops::board_place(client, id, score))?);
                }
                Ok(r)
            }
        }
    }

    fn watched_file(&self) -> Option<&Path> {
        match self {
            Goal::File(p) if p.is_file() => Some(p),
            _ => None,
        }
    }
}

/// The built agent.
struct Built {
    package: String,
    wasm: PathBuf,
    component: Vec<u8>,
    build_time: Duration,
}

/// Runs `cargo build --release` in `dir` and finds the agent's `.wasm`,
/// with a message naming the fix when the crate is not set up for IAN.
fn build(dir: &Path, package: Option<&str>) -> Result<Built, CommandError> {
    let started = Instant::now();
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(p) = package {
        cmd.args(["-p", p]);
    }
    let output = cmd
        .output()
        .map_err(|e| CommandError::Usage(format!("cannot run cargo in {}: {e}", dir.display())))?;
    if !output.status.success() {
        return Err(CommandError::Usage(format!(
            "cargo build failed in {} (its errors are above)",
            dir.display()
        )));
    }
    // (package name, cdylib files) per compiled cdylib.
    let mut cdylibs: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let kinds = v["target"]["kind"].as_array().cloned().unwrap_or_default();
        if !kinds.iter().any(|k| k == "cdylib") {
            continue;
        }
        let name = v["target"]["name"].as_str().unwrap_or("").to_string();
        let files = v["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(PathBuf::from))
            .collect();
        cdylibs.push((name, files));
    }
    let wasm: Vec<(String, PathBuf)> = cdylibs
        .iter()
        .flat_map(|(n, fs)| {
            fs.iter()
                .filter(|f| f.extension().is_some_and(|e| e == "wasm"))
                .map(move |f| (n.clone(), f.clone()))
        })
        .collect();
    let (package, wasm) = match (wasm.len(), cdylibs.is_empty()) {
        (1, _) => wasm.into_iter().next().unwrap_or_default(),
        (0, true) => {
            return Err(CommandError::Usage(format!(
                "cargo built no cdylib in {}: an agent crate needs `[lib] crate-type = [\"cdylib\"]` in its Cargo.toml",
                dir.display()
            )));
        }
        (0, false) => {
            let built: Vec<String> = cdylibs
                .iter()
                .flat_map(|(_, fs)| fs.iter().map(|f| f.display().to_string()))
                .collect();
            return Err(CommandError::Usage(format!(
                "cargo built {} but no .wasm: build for wasm32-unknown-unknown (`[build] target = \"wasm32-unknown-unknown\"` in .cargo/config.toml, as `ian-host new agent` writes)",
                built.join(", ")
            )));
        }
        (_, _) => {
            let names: Vec<&str> = wasm.iter().map(|(n, _)| n.as_str()).collect();
            return Err(CommandError::Usage(format!(
                "cargo built several wasm cdylibs ({}): choose one with -p",
                names.join(", ")
            )));
        }
    };
    let bytes = read(&wasm)?;
    let wasi = ian_componentize::wasi_imports(&bytes)
        .map_err(|e| CommandError::Usage(format!("{}: {e}", wasm.display())))?;
    if let Some(problem) = wasi_problem(&wasi) {
        return Err(CommandError::Usage(format!(
            "{}: {problem}",
            wasm.display()
        )));
    }
    let component = ian_componentize::componentize(&bytes)
        .map_err(|e| CommandError::Usage(format!("{}: {e}", wasm.display())))?
        .bytes;
    Ok(Built {
        package,
        wasm,
        component,
        build_time: started.elapsed(),
    })
}

/// The fix for an agent that imports WASI, or `None` when it imports none.
pub fn wasi_problem(imports: &[String]) -> Option<String> {
    let first = imports.first()?;
    let target = if first.starts_with("wasi:") {
        "wasm32-wasip2"
    } else {
        "wasm32-wasip1"
    };
    Some(format!(
        "it imports WASI (`{first}`{}), so it was built for {target}; IAN agents import nothing: build with `--target wasm32-unknown-unknown` and `crate-type = [\"cdylib\"]`",
        if imports.len() > 1 {
            format!(" and {} more", imports.len() - 1)
        } else {
            String::new()
        }
    ))
}

/// `--sweep k=a,b,c` parsed, in order.
fn parse_sweep(specs: &[String]) -> Result<Vec<(String, Vec<String>)>, CommandError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut points = 1usize;
    for s in specs {
        let Some((k, vs)) = s.split_once('=') else {
            return Err(CommandError::Usage(format!(
                "--sweep `{s}` must be KEY=V1,V2,..."
            )));
        };
        let k = k.trim();
        let values: Vec<String> = vs
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if k.is_empty() || values.is_empty() {
            return Err(CommandError::Usage(format!(
                "--sweep `{s}` must be KEY=V1,V2,... with at least one value"
            )));
        }
        if out.iter().any(|(key, _)| key == k) {
            return Err(CommandError::Usage(format!("--sweep names `{k}` twice")));
        }
        points = points.saturating_mul(values.len());
        if points > MAX_SWEEP_POINTS {
            return Err(CommandError::Usage(format!(
                "--sweep grid has more than {MAX_SWEEP_POINTS} points; sweep fewer values"
            )));
        }
        out.push((k.to_string(), values));
    }
    Ok(out)
}

/// Every point of the grid, as `key=value` overrides.
fn grid(sweep: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut points: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, values) in sweep {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((k.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    points
}

/// One sweep point's outcome.
#[derive(Debug, Serialize)]
struct SweepRow {
    params: BTreeMap<String, String>,
    report: EvalReport,
}

fn pack_for(built: &Built, params: &[String]) -> Result<PackFile, CommandError> {
    let bytes = ops::override_params(b"", params)?;
    let meta = Metadata::new(vec![("name".to_string(), built.package.clone())])
        .map_err(|e| CommandError::Usage(format!("metadata: {e}")))?;
    PackFile::new(built.component.clone(), bytes, meta)
        .map_err(|e| CommandError::Usage(format!("pack: {e}")))
}

fn exit_code(reports: &[&EvalReport]) -> i32 {
    if reports.iter().any(|r| r.verdict == "accepted") {
        0
    } else if reports.iter().any(|r| r.verdict == "inconclusive") {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_REJECTED
    }
}

/// One build and evaluation (or one sweep); returns the exit code.
fn once(
    a: &DevArgs,
    goal: &Goal,
    sweep: &[(String, Vec<String>)],
    out: Out,
) -> Result<i32, CommandError> {
    let built = build(&a.dir, a.package.as_deref())?;
    if !out.json {
        eprintln!(
            "✓ built {} ({} bytes as a component, {:.1?}) from {}",
            built.package,
            built.component.len(),
            built.build_time,
            built.wasm.display()
        );
    }
    if sweep.is_empty() {
        let started = Instant::now();
        let r = goal.evaluate(pack_for(&built, &a.params)?, !out.json)?;
        out.print(&r, || {
            format!(
                "{}\nevaluated in {:.1?}",
                ops::render_eval(&r),
                started.elapsed()
            )
        });
        return Ok(exit_code(&[&r]));
    }
    let mut rows = Vec::new();
    for point in grid(sweep) {
        let mut params = a.params.clone();
        params.extend(point.iter().map(|(k, v)| format!("{k}={v}")));
        let report = goal.evaluate(pack_for(&built, &params)?, false)?;
        rows.push(SweepRow {
            params: point.into_iter().collect(),
            report,
        });
    }
    out.print(&rows, || render_sweep(sweep, &rows));
    Ok(exit_code(
        &rows.iter().map(|r| &r.report).collect::<Vec<_>>(),
    ))
}

fn render_sweep(sweep: &[(String, Vec<String>)], rows: &[SweepRow]) -> String {
    use crate::cli::render::num;
    let extras: Vec<String> = rows
        .iter()
        .find_map(|r| r.report.metrics.as_ref())
        .map(|m| m.extra.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let mut header: Vec<String> = sweep.iter().map(|(k, _)| k.to_uppercase()).collect();
    header.extend(["VERDICT", "SCORE", "REWARD", "RISK", "COMPLEXITY"].map(String::from));
    header.extend(extras.iter().map(|e| e.to_uppercase()));
    let mut table = vec![header];
    for r in rows {
        let mut line: Vec<String> = sweep
            .iter()
            .map(|(k, _)| r.params.get(k).cloned().unwrap_or_default())
            .collect();
        let rep = &r.report;
        line.push(match rep.verdict.as_str() {
            "accepted" => "accepted".to_string(),
            v => format!("{v}: {}", rep.reason.as_deref().unwrap_or("")),
        });
        line.push(rep.score.map(num).unwrap_or_else(|| "-".into()));
        match &rep.metrics {
            Some(m) => {
                line.extend([num(m.reward), num(m.risk), num(m.complexity)]);
                for e in &extras {
                    line.push(
                        m.extra
                            .iter()
                            .find(|(n, _)| n == e)
                            .map(|(_, v)| num(*v))
                            .unwrap_or_else(|| "-".into()),
                    );
                }
            }
            None => line.extend(std::iter::repeat_n("-".to_string(), 3 + extras.len())),
        }
        table.push(line);
    }
    crate::cli::render::table(&table)
}

/// Files under `dir` (outside `target/` and hidden directories, without
/// the `Cargo.lock` the build writes) with their modification time and
/// length, plus `extra`.
fn snapshot(dir: &Path, extra: Option<&Path>) -> BTreeMap<PathBuf, (SystemTime, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    if let Some(e) = extra
        && let Ok(m) = std::fs::metadata(e)
    {
        out.insert(
            e.to_path_buf(),
            (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()),
        );
    }
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            if out.len() >= MAX_WATCHED_FILES {
                return out;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(entry.path());
                }
            } else if name == "Cargo.lock" {
                // Written by the build itself; a change of dependencies
                // shows in Cargo.toml.
                continue;
            } else if let Ok(m) = entry.metadata() {
                out.insert(
                    entry.path(),
                    (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()),
                );
            }
        }
    }
    out
}

/// Blocks until something under `dir` (or `extra`) differs from `before`
/// and then stays unchanged for [`SETTLE`].
fn wait_for_change(dir: &Path, extra: Option<&Path>, before: BTreeMap<PathBuf, (SystemTime, u64)>) {
    loop {
        std::thread::sleep(POLL);
        let mut now = snapshot(dir, extra);
        if now == before {
            continue;
        }
        loop {
            std::thread::sleep(SETTLE);
            let later = snapshot(dir, extra);
            if later == now {
                return;
            }
            now = later;
        }
    }
}

/// `ian-host dev`.
pub fn run(a: &DevArgs, out: Out) -> Result<i32, CommandError> {
    if !a.dir.join("Cargo.toml").is_file() {
        return Err(CommandError::Usage(format!(
            "{} has no Cargo.toml: point dev at an agent project (`ian-host new agent DIR` writes one)",
            a.dir.display()
        )));
    }
    let sweep = parse_sweep(&a.sweep)?;
    let goal = Goal::open(a)?;
    if !a.watch {
        return once(a, &goal, &sweep, out);
    }
    loop {
        // Taken before the build: a file saved while it runs still counts.
        let before = snapshot(&a.dir, goal.watched_file());
        if let Err(e) = once(a, &goal, &sweep, out) {
            eprintln!("error: {}", crate::cli::common::error_line(&e));
        }
        eprintln!("watching {} for changes (Ctrl-C to stop)", a.dir.display());
        wait_for_change(&a.dir, goal.watched_file(), before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_grid_holds_every_combination_in_order() {
        let s = parse_sweep(&["a=1,2".into(), "b=x,y,z".into()]).unwrap();
        let g = grid(&s);
        assert_eq!(g.len(), 6);
        assert_eq!(
            g[0],
            vec![("a".into(), "1".into()), ("b".into(), "x".into())]
        );
        assert_eq!(
            g[5],
            vec![("a".into(), "2".into()), ("b".into(), "z".into())]
        );
    }

    #[test]
    fn bad_sweeps_are_refused_with_the_reason() {
        for (spec, needle) in [
            (vec!["a"], "KEY=V1"),
            (vec!["a="], "at least one value"),
            (vec!["a=1", "a=2"], "twice"),
        ] {
            let specs: Vec<String> = spec.iter().map(|s| s.to_string()).collect();
            let err = parse_sweep(&specs).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let big: Vec<String> = (0..3).map(|i| format!("k{i}=1,2,3,4,5,6,7")).collect();
        assert!(parse_sweep(&big).unwrap_err().to_string().contains("256"));
    }

    #[test]
    fn a_wasi_import_names_the_target_and_the_fix() {
        let p = wasi_problem(&["wasi_snapshot_preview1::fd_write".into()]).unwrap();
        assert!(
            p.contains("wasm32-wasip1") && p.contains("wasm32-unknown-unknown"),
            "{p}"
        );
        let p = wasi_problem(&[
            "wasi:cli/environment@0.2.3".into(),
            "wasi:io/streams@0.2.3".into(),
        ])
        .unwrap();
        assert!(p.contains("wasm32-wasip2") && p.contains("1 more"), "{p}");
        assert_eq!(wasi_problem(&[]), None);
    }
}
