//! `ian-host bench-submit`: a load generator. Signed submissions over HTTP
//! to a running node, code sent once and then referenced by hash (so the
//! node evaluates with cached compiled code), every reply awaited until the
//! entry is durable. Reports accepted/s and latency percentiles.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ian_core::AgentPack;
use serde::{Deserialize, Serialize};

use crate::cli::args::BenchArgs;
use crate::cli::client::Client;
use crate::cli::common::CommandError;
use crate::cli::ops::{SubmitOutcome, post_submission, pow_bits, sign, submit_request};

/// Run the load.
pub async fn run(client: &Client, a: &BenchArgs) -> Result<BenchReport, CommandError> {
    let file = crate::cli::ops::read_pack(&a.pack)?;
    let (pack, code) = file.into_parts();
    let bits = pow_bits(client, &a.goal).await?;
    // Upload the code once, in its own submission (params numbered past
    // the run's). It must be accepted: only an accepted submission stores
    // its code, and the run's submissions leave the code out.
    let warm_key = SigningKey::from_bytes(&crate::runtime::keyfile::random32());
    let warm_pack = AgentPack::new(
        pack.code_hash(),
        a.params.replace("{n}", &a.count.to_string()).into_bytes(),
        pack.metadata().clone(),
    )
    .map_err(|e| CommandError::Usage(e.to_string()))?;
    let c = sign(&a.goal, warm_pack, 1, &warm_key)?;
    match post_submission(
        client,
        &a.goal,
        &submit_request(&a.goal, c, Some(&code), bits),
    )
    .await?
    {
        SubmitOutcome::Accepted(_) => {}
        SubmitOutcome::Rejected(e) => {
            return Err(CommandError::Usage(format!(
                "the submission that uploads the code was rejected ({}: {}), so the node does not store the code; use a --params template that gives an accepted pack",
                e.error.code, e.error.message
            )));
        }
    }

    let next = Arc::new(AtomicU64::new(0));
    let shed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let bar = crate::cli::progress::items(a.count, "submitting");
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let bar = bar.clone();
        let client = client.clone();
        let next = next.clone();
        let shed = shed.clone();
        let goal = a.goal.clone();
        let template = a.params.clone();
        let pack = pack.clone();
        let count = a.count;
        tasks.push(tokio::spawn(async move {
            let key = SigningKey::from_bytes(&crate::runtime::keyfile::random32());
            let mut nonce = 1u64;
            let mut lat = Vec::new();
            let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
            let mut errors = 0u64;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let p = AgentPack::new(
                    pack.code_hash(),
                    template.replace("{n}", &n.to_string()).into_bytes(),
                    pack.metadata().clone(),
                );
                let Ok(p) = p else { break };
                loop {
                    nonce += 1;
                    let Ok(c) = sign(&goal, p.clone(), nonce, &key) else {
                        break;
                    };
                    let req = submit_request(&goal, c, None, bits);
                    let t = Instant::now();
                    match post_submission(&client, &goal, &req).await {
                        Ok(SubmitOutcome::Accepted(_)) => {
                            lat.push(t.elapsed());
                            break;
                        }
                        Ok(SubmitOutcome::Rejected(v)) => {
                            *rejected.entry(v.error.code.clone()).or_default() += 1;
                            break;
                        }
                        Err(CommandError::Client(crate::cli::client::ClientError::Api {
                            status: 429,
                            retry_after,
                            ..
                        })) => {
                            shed.fetch_add(1, Ordering::Relaxed);
                            let _ = retry_after;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                bar.inc(1);
            }
            (lat, rejected, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors = 0u64;
    for t in tasks {
        let (l, r, e) = t
            .await
            .map_err(|e| CommandError::Usage(format!("load task failed: {e}")))?;
        lat.extend(l);
        for (k, v) in r {
            *rejected.entry(k).or_default() += v;
        }
        errors += e;
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    lat.sort();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[i].as_secs_f64() * 1000.0
    };
    Ok(BenchReport {
        goal: a.goal.clone(),
        submitted: a.count,
        accepted: lat.len() as u64,
        rejected,
        errors,
        retried_429: shed.load(Ordering::Relaxed),
        concurrency: a.concurrency,
        seconds: elapsed.as_secs_f64(),
        accepted_per_sec: lat.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_ms: Latency {
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            max: pct(1.0),
        },
    })
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Goal id.
    pub goal: String,
    /// Submissions sent.
    pub submitted: u64,
    /// Accepted and durable.
    pub accepted: u64,
    /// Rejections by reason code.
    pub rejected: BTreeMap<String, u64>,
    /// Transport or unexpected errors.
    pub errors: u64,
    /// 429 answers retried.
    pub retried_429: u64,
    /// Clients in flight.
    pub concurrency: usize,
    /// Wall time of the run.
    pub seconds: f64,
    /// Durable submissions per second.
    pub accepted_per_sec: f64,
    /// Latency of accepted submissions.
    pub latency_ms: Latency,
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// Human text.
pub fn render(v: &BenchReport) -> String {
    format!(
        "{} accepted of {} in {:.2}s = {:.0} durable submissions/s (concurrency {})\nlatency p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms\nrejected {:?}  errors {}  429-retries {}",
        v.accepted,
        v.submitted,
        v.seconds,
        v.accepted_per_sec,
        v.concurrency,
        v.latency_ms.p50,
        v.latency_ms.p90,
        v.latency_ms.p99,
        v.latency_ms.max,
        v.rejected,
        v.errors,
        v.retried_429
    )
}
