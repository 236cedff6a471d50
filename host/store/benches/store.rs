//! Store throughput and latency. Numbers are recorded in docs/STORE.md.
//!
//! * `durable_append/group_commit/<producers>`: several producer threads, each
//!   appending ~300-byte entries to its own goal with up to 4,096 writes in
//!   flight; every entry is fsynced before its ticket resolves.
//! * `durable_append/single_latency`: one append, wait for its fsync, repeat.
//! * `read/range_stream`: streaming 100,000 stored entries in index order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ian_store::{Store, StoreConfig, Ticket};

const ENTRY_BYTES: usize = 300;
const WINDOW: usize = 4096;

fn entry(i: u64) -> Vec<u8> {
    let mut v = vec![0u8; ENTRY_BYTES];
    v[..8].copy_from_slice(&i.to_le_bytes());
    for (k, b) in v[8..].iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(k) as u8;
    }
    v
}

fn fresh(config: StoreConfig, goals: &[String]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path().join("bench.redb"), config).unwrap();
    for g in goals {
        store
            .put_goal(g, g.clone().into_bytes())
            .unwrap()
            .wait()
            .unwrap();
    }
    (dir, store)
}

/// Append `n` entries to `goal` starting at `*next`, pipelined, all acknowledged on return.
fn produce(store: &Store, goal: &str, next: &mut u64, n: u64) {
    let mut inflight: VecDeque<Ticket<u64>> = VecDeque::with_capacity(WINDOW);
    for _ in 0..n {
        if inflight.len() == WINDOW {
            inflight.pop_front().unwrap().wait().unwrap();
        }
        inflight.push_back(store.append(goal, *next, entry(*next)).unwrap());
        *next += 1;
    }
    for t in inflight {
        t.wait().unwrap();
    }
}

fn group_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_append");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    for producers in [1usize, 4] {
        let per_producer = 20_000 / producers as u64;
        let goals: Vec<String> = (0..producers).map(|p| format!("goal-{p}")).collect();
        let (_dir, store) = fresh(StoreConfig::default(), &goals);
        let mut next = vec![0u64; producers];
        g.throughput(Throughput::Elements(per_producer * producers as u64));
        g.bench_function(BenchmarkId::new("group_commit", producers), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    std::thread::scope(|s| {
                        for (goal, next) in goals.iter().zip(next.iter_mut()) {
                            let store = &store;
                            s.spawn(move || produce(store, goal, next, per_producer));
                        }
                    });
                }
                start.elapsed()
            })
        });
    }
    {
        let goals = vec!["latency".to_string()];
        let (_dir, store) = fresh(StoreConfig::default(), &goals);
        let mut i = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function("single_latency", |b| {
            b.iter(|| {
                store
                    .append("latency", i, entry(i))
                    .unwrap()
                    .wait()
                    .unwrap();
                i += 1;
            })
        });
    }
    {
        let goals = vec!["quick".to_string()];
        let config = StoreConfig {
            quick_repair: true,
            ..StoreConfig::default()
        };
        let (_dir, store) = fresh(config, &goals);
        let mut i = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function("single_latency_quick_repair", |b| {
            b.iter(|| {
                store.append("quick", i, entry(i)).unwrap().wait().unwrap();
                i += 1;
            })
        });
        let mut next = i;
        g.throughput(Throughput::Elements(20_000));
        g.bench_function("group_commit_quick_repair/1", |b| {
            b.iter(|| produce(&store, "quick", &mut next, 20_000))
        });
    }
    g.finish();
}

fn range_read(c: &mut Criterion) {
    const N: u64 = 100_000;
    let goals = vec!["read".to_string()];
    let (_dir, store) = fresh(StoreConfig::default(), &goals);
    let mut next = 0;
    produce(&store, "read", &mut next, N);
    let mut g = c.benchmark_group("read");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("range_stream", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for item in store.entries("read", 0..N).unwrap() {
                bytes += item.unwrap().1.len();
            }
            assert_eq!(bytes, N as usize * ENTRY_BYTES);
        })
    });
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("point_get", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            store.entry("read", i).unwrap().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, group_commit, range_read);
criterion_main!(benches);
