//! Sandbox benchmarks: compile, cache hit, instantiate, per-step overhead,
//! a full 256-step evaluation, and evaluations per second on all cores.
//!
//! Needs the guest components (scripts/build-guests.sh). Run with
//! `cargo bench -p ian-sandbox` (bench profile = release).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ian_sandbox::{EvalPool, Limits, Sandbox, SandboxConfig};

fn component(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("IAN_COMPONENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/components")
        });
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run scripts/build-guests.sh first",
            path.display()
        )
    })
}

fn sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig::default()).expect("sandbox")
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../example-harnesses/trading-harness/data");
    for name in [
        "buy-and-hold",
        "ma-crossover",
        "trading-harness",
        "position-limit-invariant",
        "trading-harness-wasi",
    ] {
        let bytes = component(name);
        g.bench_function(format!("{name} ({} B)", bytes.len()), |b| {
            b.iter_batched(
                sandbox,
                |sb| match name {
                    "trading-harness" => drop(sb.load_harness(&bytes).unwrap()),
                    "trading-harness-wasi" => drop(
                        sb.load_harness_with_dataset(&bytes, &data, &Limits::default())
                            .unwrap(),
                    ),
                    "position-limit-invariant" => drop(sb.load_invariant(&bytes).unwrap()),
                    _ => drop(sb.load_agent(&bytes).unwrap()),
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn cache_hit(c: &mut Criterion) {
    let sb = sandbox();
    let bytes = component("ma-crossover");
    sb.load_agent(&bytes).unwrap();
    c.bench_function("load/memory cache hit (ma-crossover, incl. sha256)", |b| {
        b.iter(|| sb.load_agent(&bytes).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = SandboxConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    Sandbox::new(cfg.clone())
        .unwrap()
        .load_agent(&bytes)
        .unwrap();
    let mut g = c.benchmark_group("load");
    g.sample_size(20);
    g.bench_function("disk cache hit (ma-crossover, fresh sandbox)", |b| {
        b.iter_batched(
            || Sandbox::new(cfg.clone()).unwrap(),
            |sb| drop(sb.load_agent(&bytes).unwrap()),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn instantiate(c: &mut Criterion) {
    let sb = sandbox();
    let limits = Limits::default();
    let a = sb.load_agent(&component("buy-and-hold")).unwrap();
    let mut g = c.benchmark_group("instantiate");
    g.bench_function("agent (buy-and-hold, fresh store)", |b| {
        b.iter(|| sb.init_agent(&a, None, &limits).unwrap())
    });
    g.bench_function("agent + init (buy-and-hold)", |b| {
        b.iter(|| sb.init_agent(&a, Some(b""), &limits).unwrap())
    });
    g.finish();
}

fn evaluation(c: &mut Criterion) {
    let sb = sandbox();
    let limits = Limits::default();
    let h = sb.load_harness(&component("trading-harness")).unwrap();
    let bh = sb.load_agent(&component("buy-and-hold")).unwrap();
    let ma = sb.load_agent(&component("ma-crossover")).unwrap();
    let mut g = c.benchmark_group("evaluate");
    g.measurement_time(Duration::from_secs(4));
    // Per-step overhead = (t(1024 steps) - t(1 step)) / 1023.
    for steps in [1u64, 1024] {
        let config = format!("steps={steps},fee_bps=5");
        g.throughput(Throughput::Elements(steps));
        g.bench_function(format!("trading buy-and-hold {steps} steps"), |b| {
            b.iter(|| {
                let r = sb.evaluate(&h, &bh, b"", config.as_bytes(), 1, &limits);
                assert!(r.outcome.is_ok());
            })
        });
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("trading buy-and-hold 256 steps", |b| {
        b.iter(|| sb.evaluate(&h, &bh, b"", b"steps=256,fee_bps=5", 1, &limits))
    });
    g.bench_function("trading ma-crossover(5,20) 256 steps", |b| {
        b.iter(|| {
            sb.evaluate(
                &h,
                &ma,
                b"short=5,long=20",
                b"steps=256,fee_bps=5",
                1,
                &limits,
            )
        })
    });
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let sb = sandbox();
    let limits = Limits::default();
    let h = sb.load_harness(&component("trading-harness")).unwrap();
    let bh = sb.load_agent(&component("buy-and-hold")).unwrap();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    const BATCH: u64 = 400;
    let mut g = c.benchmark_group("throughput");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(BATCH));
    for workers in [1, cores] {
        let pool = EvalPool::new(&sb, workers).unwrap();
        g.bench_function(format!("256-step evaluations, {workers} worker(s)"), |b| {
            b.iter(|| {
                let pending: Vec<_> = (0..BATCH)
                    .map(|seed| pool.evaluate(&h, &bh, b"", b"steps=256,fee_bps=5", seed, &limits))
                    .collect();
                for rx in pending {
                    assert!(rx.recv().unwrap().outcome.is_ok());
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = compile, cache_hit, instantiate, evaluation, throughput
}
criterion_main!(benches);
