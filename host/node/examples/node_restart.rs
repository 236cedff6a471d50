//! What a node restart costs, through the real `Node::open` on a real store.
//!
//! For each entry count N: a fresh data directory gets the example trading
//! goal (its real components) and N synthetic accepted entries written to
//! the store (built so that `GoalState::apply` accepts them; entries are not
//! re-evaluated at start). Then it times three starts:
//! * **replay** — the first start: no snapshot, every entry is read,
//!   decoded and applied (then the node signs a checkpoint for them and,
//!   from 10,000 replayed entries on, saves a state snapshot);
//! * **replay start** — the snapshot made unusable, so every entry is read,
//!   decoded and applied again (the checkpoint exists now), then a fresh
//!   snapshot is saved: what a start costs without a usable snapshot;
//! * **snapshot** — a start after a clean shutdown: the state is restored
//!   from the snapshot and checked against the signed checkpoint.
//!
//! Prints a Markdown table. Run:
//! `cargo run --release -p ian-node --example node_restart -- 10000 100000 1000000`
//! (the guest components must be built: `./scripts/build-guests.sh`).

use std::path::Path;
use std::time::Duration;

use ian_store::Store;

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::{open, populate};

fn drop_snapshot(data: &Path) {
    let store = Store::open(data.join("ian.redb")).unwrap();
    store
        .put_meta("goal-state/trading-v1", b"0 0".to_vec())
        .unwrap()
        .wait()
        .unwrap();
    store.close().unwrap();
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("entry count"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    println!(
        "| entries | first start (replay + sign + save snapshot) | replay start | snapshot start |"
    );
    println!("| ---: | ---: | ---: | ---: |");
    // IAN_RESTART_KEEP=DIR keeps each data directory as DIR/<entries>, so
    // another build of the node can be timed on the very same stores.
    let keep = std::env::var_os("IAN_RESTART_KEEP").map(std::path::PathBuf::from);
    for n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let data = match &keep {
            Some(dir) => dir.join(n.to_string()),
            None => tmp.path().join("data"),
        };
        populate(&data, n);
        let (node, first) = open(&data);
        node.shutdown(Duration::from_secs(5));
        drop(node);
        // A replay with the snapshot made unusable (it then saves again).
        drop_snapshot(&data);
        let (node, replay) = open(&data);
        node.shutdown(Duration::from_secs(5));
        drop(node);
        let (node, restored) = open(&data);
        node.shutdown(Duration::from_secs(5));
        drop(node);
        println!(
            "| {n} | {} | {} | {} |",
            ms(first),
            ms(replay),
            ms(restored)
        );
    }
}
