//! Prometheus metrics, hand-rolled text exposition (format 0.0.4).
//!
//! Why hand-rolled: a dozen series with fixed label sets; atomics and a small
//! mutex-guarded map are all that is needed, and the exposition stays
//! auditable in one file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// A histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_bits: Mutex<f64>,
    count: AtomicU64,
}

impl Histogram {
    /// A histogram with these bucket upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: Mutex::new(0.0),
            count: AtomicU64::new(0),
        }
    }

    /// Record one observation.
    pub fn observe(&self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        *self.sum_bits.lock() += v;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in self.bounds.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                self.counts[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count());
        let _ = writeln!(out, "{name}_sum {}", *self.sum_bits.lock());
        let _ = writeln!(out, "{name}_count {}", self.count());
    }
}

/// A counter family with label values.
#[derive(Debug, Default)]
pub struct LabeledCounter {
    inner: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl LabeledCounter {
    /// Add `n` to the series with these label values.
    pub fn add(&self, labels: &[&str], n: u64) {
        *self
            .inner
            .lock()
            .entry(labels.iter().map(|s| s.to_string()).collect())
            .or_default() += n;
    }
    /// Add one.
    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1);
    }
    /// Current value of one series.
    pub fn get(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        self.inner.lock().get(&key).copied().unwrap_or(0)
    }
    /// Sum over all series.
    pub fn total(&self) -> u64 {
        self.inner.lock().values().sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label_names: &[&str], kind: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (vals, v) in self.inner.lock().iter() {
            let labels: Vec<String> = label_names
                .iter()
                .zip(vals)
                .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {v}", labels.join(","));
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const FUEL: &[f64] = &[1e4, 1e5, 1e6, 1e7, 5e7, 1e8, 5e8, 1e9];

/// Every metric the node exports.
#[derive(Debug)]
pub struct Metrics {
    /// Submissions by goal and outcome (`accepted`, a reject reason code,
    /// `inconclusive`, `rate_limited`, `shed`, `invalid`).
    pub submissions: LabeledCounter,
    /// HTTP responses by route and status class.
    pub http_responses: LabeledCounter,
    /// Wall time of the evaluation pipeline per contribution.
    pub evaluation_seconds: Histogram,
    /// Agent fuel per contribution (all seeds).
    pub evaluation_fuel: Histogram,
    /// Submit latency: request received to durable reply.
    pub submit_seconds: Histogram,
    /// Store transactions committed (each one fsync), from the store.
    pub store_commits: AtomicU64,
    /// Writes made durable by those commits, from the store.
    pub store_ops: AtomicU64,
    /// Contributions waiting for a worker.
    pub queue_depth: AtomicU64,
    /// Capacity of the queue.
    pub queue_capacity: AtomicU64,
    /// Entries in each goal's log.
    pub log_size: LabeledCounter,
    /// Checkpoints signed (one per goal per durable batch).
    pub checkpoints_signed: AtomicU64,
    /// Checkpoints that reached the witness quorum.
    pub checkpoints_cosigned: AtomicU64,
    /// Checkpoints of other logs this node cosigned as a witness.
    pub witness_cosigned: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            submissions: LabeledCounter::default(),
            http_responses: LabeledCounter::default(),
            evaluation_seconds: Histogram::new(SECONDS),
            evaluation_fuel: Histogram::new(FUEL),
            submit_seconds: Histogram::new(SECONDS),
            store_commits: AtomicU64::new(0),
            store_ops: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            queue_capacity: AtomicU64::new(0),
            log_size: LabeledCounter::default(),
            checkpoints_signed: AtomicU64::new(0),
            checkpoints_cosigned: AtomicU64::new(0),
            witness_cosigned: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Set the log size gauge of a goal.
    pub fn set_log_size(&self, goal: &str, size: u64) {
        self.log_size
            .inner
            .lock()
            .insert(vec![goal.to_string()], size);
    }

    /// Render the text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.submissions.render(
            &mut out,
            "ian_submissions_total",
            "Contributions received, by goal and outcome.",
            &["goal", "outcome"],
            "counter",
        );
        self.http_responses.render(
            &mut out,
            "ian_http_responses_total",
            "HTTP responses by route and status code.",
            &["route", "status"],
            "counter",
        );
        self.evaluation_seconds.render(
            &mut out,
            "ian_evaluation_seconds",
            "Wall time of the evaluation pipeline per contribution.",
        );
        self.evaluation_fuel.render(
            &mut out,
            "ian_evaluation_fuel",
            "Agent fuel consumed per contribution, all seeds.",
        );
        self.submit_seconds.render(
            &mut out,
            "ian_submit_seconds",
            "Submission latency from request to durable reply.",
        );
        let _ = writeln!(
            out,
            "# HELP ian_queue_depth Contributions waiting for an evaluation worker.\n# TYPE ian_queue_depth gauge\nian_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ian_queue_capacity Capacity of the evaluation queue.\n# TYPE ian_queue_capacity gauge\nian_queue_capacity {}",
            self.queue_capacity.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ian_store_commits_total Store transactions committed with fsync (group commit).\n# TYPE ian_store_commits_total counter\nian_store_commits_total {}",
            self.store_commits.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ian_store_writes_total Writes made durable by those commits.\n# TYPE ian_store_writes_total counter\nian_store_writes_total {}",
            self.store_ops.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ian_checkpoints_signed_total Checkpoints signed, one per goal per durable batch of entries.\n# TYPE ian_checkpoints_signed_total counter\nian_checkpoints_signed_total {}",
            self.checkpoints_signed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ian_checkpoints_cosigned_total Checkpoints of this node's logs that reached the witness quorum.\n# TYPE ian_checkpoints_cosigned_total counter\nian_checkpoints_cosigned_total {}",
            self.checkpoints_cosigned.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ian_witness_cosigned_total Checkpoints of other logs this node cosigned as a witness.\n# TYPE ian_witness_cosigned_total counter\nian_witness_cosigned_total {}",
            self.witness_cosigned.load(Ordering::Relaxed)
        );
        self.log_size.render(
            &mut out,
            "ian_log_size",
            "Entries in the goal's append-only log.",
            &["goal"],
            "gauge",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(3.0);
        let mut s = String::new();
        h.render(&mut s, "x", "h");
        assert!(s.contains("x_bucket{le=\"1\"} 1\n"));
        assert!(s.contains("x_bucket{le=\"2\"} 2\n"));
        assert!(s.contains("x_bucket{le=\"+Inf\"} 3\n"));
        assert!(s.contains("x_sum 5\n"));
    }

    #[test]
    fn labeled_counters_render_with_escaped_labels() {
        let m = Metrics::default();
        m.submissions.inc(&["g\"1", "accepted"]);
        m.submissions.inc(&["g\"1", "accepted"]);
        assert!(
            m.render()
                .contains("ian_submissions_total{goal=\"g\\\"1\",outcome=\"accepted\"} 2\n")
        );
    }
}
