//! How long a competition's close takes on this machine: the reveal and
//! the final evaluation of N selected entries on the example trading
//! goal's five hidden seeds, through the node's real final-evaluation path
//! (sandbox, store, signed checkpoints), for each worker count asked for.
//!
//! A fresh data directory gets the example trading goal as a closed
//! competition and N accepted entries by N contributors, each a real
//! buy-and-hold pack (see `support/synthetic.rs`); the node is opened
//! (replaying them), the secret is revealed, and the time until every
//! final result is in the log is measured. Prints a Markdown table. Run:
//! `cargo run --release -p ian-node --example final_bench -- 10000 1 2`
//! (entries, then worker counts; the guest components must be built:
//! `./scripts/build-guests.sh`).

use std::time::{Duration, Instant};

#[path = "support/synthetic.rs"]
mod synthetic;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| a.parse().expect("entry count"))
        .unwrap_or(1000);
    let mut workers: Vec<usize> = args.map(|a| a.parse().expect("worker count")).collect();
    if workers.is_empty() {
        workers = vec![1, 2];
    }
    println!("| selected entries | workers | reveal | final evaluation | per entry | entries/s |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for w in workers {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let goal = synthetic::populate_competition(&data, n);
        let node = synthetic::open_with_workers(&data, w);
        let secret = ian_core::competition::SeedSecret::from_bytes(synthetic::SECRET).to_hex();
        let t = Instant::now();
        node.reveal(&goal, &secret).expect("reveal");
        let reveal = t.elapsed();
        loop {
            let b = node.final_board(&goal).unwrap();
            if b.evaluated == n {
                break;
            }
            assert!(b.total == n, "{} finalists, expected {n}", b.total);
            std::thread::sleep(Duration::from_millis(20));
        }
        let total = t.elapsed();
        println!(
            "| {n} | {w} | {:.1} ms | {:.1} s | {:.2} ms | {:.0} |",
            reveal.as_secs_f64() * 1e3,
            total.as_secs_f64(),
            total.as_secs_f64() * 1e3 / n as f64,
            n as f64 / total.as_secs_f64()
        );
        node.shutdown(Duration::from_secs(5));
    }
}
