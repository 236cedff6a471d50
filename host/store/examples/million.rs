//! Memory, disk and restart cost of a store holding 1,000,000 log entries.
//!
//! ```text
//! cargo run --release -p ian-store --example million -- [entries] [producers] [window]
//! ```
//! Appends ~300-byte entries durably (group commit), then reports file size,
//! peak RSS, clean reopen time, replay (stream every entry and rebuild the
//! MMR with ian-core) time and memory, and reopen time after a SIGKILL with
//! and without quick repair. Prints a Markdown table.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ian_core::MemMmr;
use ian_store::{Store, StoreConfig, Ticket};

fn entry(i: u64) -> Vec<u8> {
    let mut v = vec![0u8; 300];
    v[..8].copy_from_slice(&i.to_le_bytes());
    for (k, b) in v[8..].iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(k) as u8;
    }
    v
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn produce(store: &Store, goal: &str, from: u64, to: u64, window: usize) {
    let mut inflight: VecDeque<Ticket<u64>> = VecDeque::with_capacity(window);
    for i in from..to {
        if inflight.len() == window {
            inflight.pop_front().unwrap().wait().unwrap();
        }
        inflight.push_back(store.append(goal, i, entry(i)).unwrap());
    }
    for t in inflight {
        t.wait().unwrap();
    }
}

/// Child mode: open the store, commit one write, report, then wait to be killed.
fn hold(path: &Path, quick: bool) {
    let config = StoreConfig {
        quick_repair: quick,
        ..StoreConfig::default()
    };
    let store = Store::open_with(path, config).unwrap();
    store
        .put_meta("held", vec![u8::from(quick)])
        .unwrap()
        .wait()
        .unwrap();
    println!("ready");
    loop {
        std::thread::park();
    }
}

/// Kill a child holding the store after one commit, then time the reopen.
fn crash_reopen_ms(path: &Path, quick: bool) -> (f64, bool) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--hold",
            path.to_str().unwrap(),
            if quick { "1" } else { "0" },
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    let store = Store::open_with(path, StoreConfig::default()).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let recovered = store.recovered();
    store.close().unwrap();
    (ms, recovered)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--hold") {
        hold(Path::new(&args[2]), args[3] == "1");
        return;
    }
    let n: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let producers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let window: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4096);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("million.redb");
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| {
        println!("| {k} | {v} |");
        rows.push((k.to_string(), v));
    };
    println!("| measure | value |\n| --- | --- |");
    row("entries (300 B each)", format!("{n}"));
    row("producers x window", format!("{producers} x {window}"));

    let store = Store::open_with(&path, StoreConfig::default()).unwrap();
    let goals: Vec<String> = (0..producers).map(|p| format!("goal-{p}")).collect();
    for g in &goals {
        store
            .put_goal(g, g.clone().into_bytes())
            .unwrap()
            .wait()
            .unwrap();
    }
    let per = n / producers as u64;
    let t = Instant::now();
    std::thread::scope(|s| {
        for g in &goals {
            let store = &store;
            s.spawn(move || produce(store, g, 0, per, window));
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let stats = store.stats();
    row(
        "durable append",
        format!(
            "{:.2} s, {:.0} entries/s",
            secs,
            (per * producers as u64) as f64 / secs
        ),
    );
    row(
        "commits (fsyncs), mean batch",
        format!(
            "{}, {:.0}",
            stats.commits,
            stats.ops_committed as f64 / stats.commits as f64
        ),
    );
    row(
        "peak RSS after appends",
        format!("{:.1} MiB", mib(status_kib("VmHWM:"))),
    );
    store.close().unwrap();
    let file = std::fs::metadata(&path).unwrap().len();
    row(
        "file size",
        format!(
            "{:.1} MiB ({:.0} B/entry)",
            file as f64 / (1 << 20) as f64,
            file as f64 / n as f64
        ),
    );

    let t = Instant::now();
    let store = Store::open_with(&path, StoreConfig::default()).unwrap();
    row(
        "clean reopen",
        format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3),
    );
    let rss_before = status_kib("VmRSS:");
    let t = Instant::now();
    let mut mmrs = Vec::new();
    for g in store.goals().unwrap() {
        let mut mmr = MemMmr::new_in_memory();
        for item in store.entries(&g.goal, 0..g.size).unwrap() {
            mmr.append(&item.unwrap().1).unwrap();
        }
        mmrs.push(mmr);
    }
    let replay = t.elapsed().as_secs_f64();
    row(
        "replay: stream all entries + rebuild MMR",
        format!("{:.2} s ({:.0} entries/s)", replay, n as f64 / replay),
    );
    let node_bytes: usize = mmrs.iter().map(|m| m.node_bytes()).sum();
    row(
        "MMR node hashes in memory",
        format!("{:.1} MiB", node_bytes as f64 / (1 << 20) as f64),
    );
    row(
        "RSS after replay (store + MMR)",
        format!(
            "{:.1} MiB (+{:.1} MiB)",
            mib(status_kib("VmRSS:")),
            mib(status_kib("VmRSS:") - rss_before)
        ),
    );
    let t = Instant::now();
    let mut bytes = 0usize;
    for g in store.goals().unwrap() {
        for item in store.entries(&g.goal, 0..g.size).unwrap() {
            bytes += item.unwrap().1.len();
        }
    }
    let scan = t.elapsed().as_secs_f64();
    row(
        "stream all entries (warm)",
        format!(
            "{:.2} s ({:.1} MiB/s)",
            scan,
            bytes as f64 / (1 << 20) as f64 / scan
        ),
    );
    drop(mmrs);
    store.close().unwrap();

    let (ms, rec) = crash_reopen_ms(&path, false);
    row(
        "reopen after SIGKILL (full repair)",
        format!("{ms:.0} ms (repaired: {rec})"),
    );
    let (ms, rec) = crash_reopen_ms(&path, true);
    row(
        "reopen after SIGKILL (quick repair)",
        format!("{ms:.0} ms (repaired: {rec})"),
    );
    let t = Instant::now();
    let reclaimed = Store::compact(&path).unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    row(
        "offline compact (Store::compact)",
        format!(
            "{:.1} s, file {:.1} MiB ({:.0} B/entry), compacted: {reclaimed}",
            t.elapsed().as_secs_f64(),
            after as f64 / (1 << 20) as f64,
            after as f64 / n as f64
        ),
    );
    row(
        "peak RSS overall",
        format!("{:.1} MiB", mib(status_kib("VmHWM:"))),
    );
}
