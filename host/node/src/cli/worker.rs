//! `ian-host worker` and `ian-host workers`: an evaluation worker on a
//! node's NATS JetStream queue, and the list of workers with the queue's
//! depth (docs/OPERATOR.md, "Evaluation workers").

use std::sync::Arc;
use std::time::Duration;

use ian_core::PublicKeyBytes;
use ian_workers::{Queue, Worker, WorkerOptions};
use serde_json::json;
use tracing::info;

use crate::cli::args::{WorkerArgs, WorkersArgs};
use crate::cli::common::CommandError;
use crate::cli::telemetry::{self, LogFormat};
use crate::runtime::config::Config;
use crate::runtime::judge::Judge;
use crate::runtime::keyfile;
use crate::runtime::remote::{SandboxWork, queue_config};

fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("ian-worker-io")
        .build()
        .map_err(|e| CommandError::Usage(format!("cannot start the async runtime: {e}")))
}

/// The worker's configuration: the node's file and `IAN_*` variables, with
/// `--nats`, `--jobs` and `--data-dir` on top.
fn worker_config(a: &WorkerArgs) -> Result<Config, CommandError> {
    let jobs = a.jobs.to_string();
    let data_dir = a.data_dir.display().to_string();
    let lookup = move |k: &str| -> Option<String> {
        match k {
            "IAN_WORKERS" => Some(jobs.clone()),
            "IAN_DATA_DIR" => Some(data_dir.clone()),
            // The worker connects with --nats; the node-only checks of
            // `workers.keys` do not apply to it.
            "IAN_WORKERS_NATS" | "IAN_WORKERS_KEYS" => None,
            _ => std::env::var(k).ok(),
        }
    };
    crate::cli::serve::config_from(a.config.as_deref(), &lookup)
}

/// Runs a worker until SIGINT or SIGTERM.
pub fn run(a: WorkerArgs, format: LogFormat) -> Result<i32, CommandError> {
    let key = keyfile::load_or_create_signing_key(&a.key)?;
    let public = PublicKeyBytes::of(&key);
    if a.print_key {
        println!("{}", public.to_hex());
        return Ok(0);
    }
    let cfg = worker_config(&a)?;
    telemetry::init(format, &cfg.log.filter);
    let slots = cfg.worker_count();
    let judge = Judge::new(
        cfg.node_sandbox_config()?,
        cfg.limits.worker_stack_bytes as usize,
    )
    .map_err(CommandError::Usage)?;
    let work = Arc::new(SandboxWork::new(judge));
    let env = ian_workers::Evaluate::environment(&*work);
    let rt = runtime()?;
    let qc = ian_workers::QueueConfig {
        url: a.nats.clone(),
        ..queue_config(&cfg.workers)
    };
    let queue = rt
        .block_on(Queue::connect(qc))
        .map_err(|e| CommandError::Usage(format!("--nats {}: {e}", a.nats)))?;
    let name = a.name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "worker".into())
    });
    let worker = Worker::start(
        rt.handle().clone(),
        queue,
        key,
        WorkerOptions {
            name: name.clone(),
            slots,
            stack_bytes: cfg.limits.worker_stack_bytes as usize,
            status_every: Duration::from_secs(2),
        },
        work,
    )
    .map_err(|e| CommandError::Usage(format!("starting the worker: {e}")))?;
    info!(
        worker = %public.to_hex(),
        name,
        slots,
        nats = %a.nats,
        engine = %env.0,
        config_hash = %env.1,
        "worker pulling jobs"
    );
    rt.block_on(crate::cli::serve::shutdown_signal());
    info!("stopping: running jobs finish first");
    worker.stop();
    // The last status is published by the runtime's reporter; give it a
    // moment before the runtime goes.
    rt.block_on(tokio::time::sleep(Duration::from_millis(200)));
    Ok(0)
}

/// Lists workers and the queue's depth.
pub fn list(a: WorkersArgs, json_out: bool) -> Result<i32, CommandError> {
    telemetry::init(LogFormat::Text, "warn");
    let rt = runtime()?;
    let (depth, statuses) = rt
        .block_on(async {
            let q = Queue::connect(ian_workers::QueueConfig::new(a.nats.clone())).await?;
            Ok::<_, ian_workers::QueueError>((q.depth().await?, q.statuses().await?))
        })
        .map_err(|e| CommandError::Usage(format!("--nats {}: {e}", a.nats)))?;
    let now = crate::runtime::clock::now_ms();
    let v = json!({
        "queue": {
            "pending": depth.pending,
            "in_flight": depth.in_flight,
            "redelivered": depth.redelivered,
            "ack_wait_ms": depth.ack_wait.as_millis() as u64,
        },
        "workers": statuses.iter().map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["seen_secs_ago"] = json!(now.saturating_sub(s.seen_ms) / 1000);
            v
        }).collect::<Vec<_>>(),
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(0);
    }
    println!(
        "queue: {} waiting, {} in flight, {} redelivered, ack_wait {} s",
        depth.pending,
        depth.in_flight,
        depth.redelivered,
        depth.ack_wait.as_secs()
    );
    if statuses.is_empty() {
        println!("no worker has reported");
        return Ok(0);
    }
    println!(
        "{:<16} {:<18} {:>5} {:>5} {:>8} {:>8} {:>10} {:>8}",
        "NAME", "KEY", "SLOTS", "BUSY", "JOBS", "FAILED", "MEAN ms", "SEEN"
    );
    for s in &statuses {
        let mean = if s.jobs > 0 {
            format!("{:.1}", s.busy_us as f64 / s.jobs as f64 / 1e3)
        } else {
            "-".into()
        };
        println!(
            "{:<16} {:<18} {:>5} {:>5} {:>8} {:>8} {:>10} {:>7}s",
            s.name,
            format!("{}…", s.worker.chars().take(16).collect::<String>()),
            s.slots,
            s.busy,
            s.jobs,
            s.failures,
            mean,
            now.saturating_sub(s.seen_ms) / 1000
        );
    }
    Ok(0)
}
