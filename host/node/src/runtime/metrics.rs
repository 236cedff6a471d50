//! Prometheus metrics through `prometheus-client` (OpenMetrics text).
//!
//! Metrics the node updates as it works (submissions, latencies, queue,
//! checkpoints) are registered typed families. Values that live elsewhere
//! and are only read at scrape time (the store's commit counts, evidence,
//! libp2p, mirror and Tau counters) come from [`Metrics::set_scrape`]'s
//! hook; process metrics (CPU, memory, file descriptors, start time) come
//! from `/proc/self` on Linux.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label set: fixed names, runtime values.
pub type Labels = Vec<(&'static str, String)>;

/// A counter family with fixed label names.
#[derive(Debug, Clone)]
pub struct LabeledCounter {
    names: &'static [&'static str],
    family: Family<Labels, Counter>,
}

impl LabeledCounter {
    fn new(names: &'static [&'static str]) -> Self {
        LabeledCounter {
            names,
            family: Family::default(),
        }
    }

    fn labels(&self, values: &[&str]) -> Labels {
        self.names
            .iter()
            .zip(values)
            .map(|(n, v)| (*n, v.to_string()))
            .collect()
    }

    /// Add `n` to the series with these label values (in the order of the
    /// label names).
    pub fn add(&self, values: &[&str], n: u64) {
        self.family.get_or_create(&self.labels(values)).inc_by(n);
    }

    /// Add one.
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    /// Current value of one series.
    pub fn get(&self, values: &[&str]) -> u64 {
        self.family.get_or_create(&self.labels(values)).get()
    }
}

/// A histogram per goal.
pub type GoalHistogram = Family<Labels, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    Histogram::new(SECONDS.iter().copied())
}

fn fuel() -> Histogram {
    Histogram::new(FUEL.iter().copied())
}

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const FUEL: &[f64] = &[1e4, 1e5, 1e6, 1e7, 5e7, 1e8, 5e8, 1e9];

/// One value read at scrape time. Its help text ends with a full stop
/// (the registry adds one to what is registered there; a collector's text
/// is written as given).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name; counters without the `_total` the encoder appends.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub counter: bool,
    /// Label set (empty for none).
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// An unlabelled counter.
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> Self {
        Sample {
            name,
            help,
            counter: true,
            labels: Vec::new(),
            value: value as f64,
        }
    }

    /// An unlabelled gauge.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Sample {
            name,
            help,
            counter: false,
            labels: Vec::new(),
            value,
        }
    }
}

type ScrapeHook = Box<dyn Fn() -> Vec<Sample> + Send + Sync>;

/// Encodes what the scrape hook returns; samples of one name share one
/// descriptor (they must be adjacent).
#[derive(Default, Clone)]
struct HookCollector(Arc<OnceLock<ScrapeHook>>);

impl std::fmt::Debug for HookCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookCollector")
    }
}

impl Collector for HookCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(hook) = self.0.get() else {
            return Ok(());
        };
        let samples = hook();
        let mut i = 0;
        while i < samples.len() {
            let first = &samples[i];
            let kind = if first.counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut family = encoder.encode_descriptor(first.name, first.help, None, kind)?;
            if first.labels.is_empty() {
                encode_value(first, family)?;
                i += 1;
                continue;
            }
            while i < samples.len() && samples[i].name == first.name {
                encode_value(&samples[i], family.encode_family(&samples[i].labels)?)?;
                i += 1;
            }
        }
        Ok(())
    }
}

/// Whole numbers print as integers (`3`, not `3.0`), as scrapers and
/// people reading the page expect of counts.
fn encode_value(
    s: &Sample,
    m: prometheus_client::encoding::MetricEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let whole = s.value.fract() == 0.0 && s.value.abs() < 9.0e15;
    match (s.counter, whole) {
        (true, true) => ConstCounter::new(s.value as u64).encode(m),
        (true, false) => ConstCounter::new(s.value).encode(m),
        (false, true) => ConstGauge::new(s.value as i64).encode(m),
        (false, false) => ConstGauge::new(s.value).encode(m),
    }
}

/// Process metrics with the names every Prometheus client uses
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...),
/// read from `/proc/self` at scrape time. Elsewhere than Linux: none.
#[derive(Debug, Default)]
struct ProcessCollector;

impl ProcessCollector {
    fn samples() -> Option<Vec<Sample>> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may
        // hold spaces: field 3 (state) is at index 0.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Option<f64> { f.get(n - 3)?.parse().ok() };
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as f64;
        let boot: f64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        let max_fds: f64 = std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
            .unwrap_or(0.0);
        let mut cpu = Sample::gauge(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            (field(14)? + field(15)?) / ticks,
        );
        cpu.counter = true;
        Some(vec![
            cpu,
            Sample::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                field(24)? * page,
            ),
            Sample::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                field(23)?,
            ),
            Sample::gauge(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds.",
                boot + field(22)? / ticks,
            ),
            Sample::gauge(
                "process_threads",
                "Number of OS threads in the process.",
                field(20)?,
            ),
            Sample::gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                open_fds,
            ),
            Sample::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max_fds,
            ),
        ])
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for s in Self::samples().unwrap_or_default() {
            let kind = if s.counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            encode_value(&s, encoder.encode_descriptor(s.name, s.help, None, kind)?)?;
        }
        Ok(())
    }
}

/// Every metric the node exports, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    hook: HookCollector,
    /// Submissions by goal and outcome (`accepted`, a reject reason code,
    /// `inconclusive`, `rate_limited`, `shed`, `invalid`).
    pub submissions: LabeledCounter,
    /// HTTP responses by route template and status code.
    pub http_responses: LabeledCounter,
    /// Wall time of the evaluation pipeline per contribution, per goal.
    pub evaluation_seconds: GoalHistogram,
    /// Agent fuel per contribution (all seeds), per goal.
    pub evaluation_fuel: GoalHistogram,
    /// Submit latency, request received to durable reply, per goal.
    pub submit_seconds: GoalHistogram,
    /// Contributions waiting for a worker.
    pub queue_depth: Gauge,
    /// Capacity of the queue.
    pub queue_capacity: Gauge,
    /// Entries in each goal's log.
    pub log_size: Family<Labels, Gauge>,
    /// Checkpoints signed (one per goal per durable batch).
    pub checkpoints_signed: Counter,
    /// Checkpoints that reached the witness quorum.
    pub checkpoints_cosigned: Counter,
    /// Checkpoints of other logs this node cosigned as a witness.
    pub witness_cosigned: Counter,
    build_info: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let hook = HookCollector::default();
        let m = Metrics {
            submissions: LabeledCounter::new(&["goal", "outcome"]),
            http_responses: LabeledCounter::new(&["route", "status"]),
            evaluation_seconds: Family::new_with_constructor(seconds),
            evaluation_fuel: Family::new_with_constructor(fuel),
            submit_seconds: Family::new_with_constructor(seconds),
            queue_depth: Gauge::default(),
            queue_capacity: Gauge::default(),
            log_size: Family::default(),
            checkpoints_signed: Counter::default(),
            checkpoints_cosigned: Counter::default(),
            witness_cosigned: Counter::default(),
            build_info: Family::default(),
            registry: Registry::default(),
            hook: hook.clone(),
        };
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let started: Gauge = Gauge::default();
        started.set(start);
        registry.register(
            "ian_build_info",
            "The running ian-host: version, engine, ABI and sandbox config hash (value 1)",
            m.build_info.clone(),
        );
        registry.register(
            "ian_start_time_seconds",
            "When the node started, in seconds since the Unix epoch",
            started,
        );
        registry.register(
            "ian_submissions",
            "Contributions received, by goal and outcome",
            m.submissions.family.clone(),
        );
        registry.register(
            "ian_http_responses",
            "HTTP responses by route and status code",
            m.http_responses.family.clone(),
        );
        registry.register(
            "ian_evaluation_seconds",
            "Wall time of the evaluation pipeline per contribution, by goal",
            m.evaluation_seconds.clone(),
        );
        registry.register(
            "ian_evaluation_fuel",
            "Agent fuel consumed per contribution, all seeds, by goal",
            m.evaluation_fuel.clone(),
        );
        registry.register(
            "ian_submit_seconds",
            "Submission latency from request to durable reply, by goal",
            m.submit_seconds.clone(),
        );
        registry.register(
            "ian_queue_depth",
            "Contributions waiting for an evaluation worker",
            m.queue_depth.clone(),
        );
        registry.register(
            "ian_queue_capacity",
            "Capacity of the evaluation queue",
            m.queue_capacity.clone(),
        );
        registry.register(
            "ian_checkpoints_signed",
            "Checkpoints signed, one per goal per durable batch of entries",
            m.checkpoints_signed.clone(),
        );
        registry.register(
            "ian_checkpoints_cosigned",
            "Checkpoints of this node's logs that reached the witness quorum",
            m.checkpoints_cosigned.clone(),
        );
        registry.register(
            "ian_witness_cosigned",
            "Checkpoints of other logs this node cosigned as a witness",
            m.witness_cosigned.clone(),
        );
        registry.register(
            "ian_log_size",
            "Entries in the goal's append-only log",
            m.log_size.clone(),
        );
        registry.register_collector(Box::new(hook));
        registry.register_collector(Box::new(ProcessCollector));
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Set the log size gauge of a goal.
    pub fn set_log_size(&self, goal: &str, size: u64) {
        self.log_size
            .get_or_create(&vec![("goal", goal.to_string())])
            .set(size as i64);
    }

    /// Records what is running, for `ian_build_info`.
    pub fn set_build_info(&self, version: &str, engine: &str, abi: &str, config_hash: &str) {
        self.build_info
            .get_or_create(&vec![
                ("version", version.to_string()),
                ("engine", engine.to_string()),
                ("abi", abi.to_string()),
                ("config_hash", config_hash.to_string()),
            ])
            .set(1);
    }

    /// Sets the function that reads, at each scrape, the values the node
    /// keeps elsewhere. Only the first call counts.
    pub fn set_scrape(&self, hook: impl Fn() -> Vec<Sample> + Send + Sync + 'static) {
        let _ = self.hook.0.set(Box::new(hook));
    }

    /// Observe a submission's latency for `goal`.
    pub fn observe_submit(&self, goal: &str, seconds: f64) {
        self.submit_seconds
            .get_or_create(&goal_labels(goal))
            .observe(seconds);
    }

    /// Observe an evaluation's wall time and fuel for `goal`.
    pub fn observe_evaluation(&self, goal: &str, seconds: f64, fuel: Option<u64>) {
        let l = goal_labels(goal);
        self.evaluation_seconds.get_or_create(&l).observe(seconds);
        if let Some(f) = fuel {
            self.evaluation_fuel.get_or_create(&l).observe(f as f64);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The same exposition in the Prometheus text format 0.0.4, for scrapers
/// and tools (`promtool check metrics`, `curl`) that do not ask for
/// OpenMetrics: counter families are named with their `_total` suffix in
/// `# HELP`/`# TYPE`, and there is no `# EOF`. What the Prometheus project's
/// own clients serve by content negotiation.
pub fn to_text_format(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in openmetrics.lines() {
        if let Some(name) = l
            .strip_prefix("# TYPE ")
            .and_then(|t| t.strip_suffix(" counter"))
        {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for l in openmetrics.lines() {
        if l == "# EOF" || l.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = l.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(r) => out.push_str(&r),
            None => out.push_str(l),
        }
        out.push('\n');
    }
    out
}

/// The content type of [`to_text_format`].
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn goal_labels(goal: &str) -> Labels {
    vec![("goal", goal.to_string())]
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_per_goal() {
        let m = Metrics::default();
        for v in [0.0004, 0.003, 20.0] {
            m.observe_submit("g", v);
        }
        let text = m.render();
        assert!(
            text.contains("ian_submit_seconds_bucket{le=\"0.0005\",goal=\"g\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ian_submit_seconds_bucket{le=\"0.005\",goal=\"g\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ian_submit_seconds_bucket{le=\"+Inf\",goal=\"g\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("ian_submit_seconds_count{goal=\"g\"} 3\n"),
            "{text}"
        );
    }

    #[test]
    fn labeled_counters_render_with_escaped_labels() {
        let m = Metrics::default();
        m.submissions.inc(&["g\"1", "accepted"]);
        m.submissions.inc(&["g\"1", "accepted"]);
        assert_eq!(m.submissions.get(&["g\"1", "accepted"]), 2);
        let text = m.render();
        assert!(
            text.contains("ian_submissions_total{goal=\"g\\\"1\",outcome=\"accepted\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn scrape_samples_of_one_name_share_a_descriptor() {
        let m = Metrics::default();
        m.set_scrape(|| {
            vec![
                Sample::counter("ian_evidence", "Evidence.", 3),
                Sample {
                    labels: vec![("goal", "a".into())],
                    ..Sample::gauge("ian_tau_committed_size", "Size.", 5.0)
                },
                Sample {
                    labels: vec![("goal", "b".into())],
                    ..Sample::gauge("ian_tau_committed_size", "Size.", 7.0)
                },
            ]
        });
        let text = m.render();
        assert!(text.contains("ian_evidence_total 3\n"), "{text}");
        assert_eq!(
            text.matches("# TYPE ian_tau_committed_size gauge").count(),
            1
        );
        assert!(
            text.contains("ian_tau_committed_size{goal=\"b\"} 7\n"),
            "{text}"
        );
        assert!(!text.contains("{}"), "no empty label sets: {text}");
        assert!(!text.contains(".."), "one full stop per help text: {text}");
    }

    #[test]
    fn the_text_format_names_counters_with_total_and_has_no_eof() {
        let m = Metrics::default();
        m.checkpoints_signed.inc();
        let text = to_text_format(&m.render());
        assert!(
            text.contains("# HELP ian_checkpoints_signed_total Checkpoints signed"),
            "{text}"
        );
        assert!(
            text.contains(
                "# TYPE ian_checkpoints_signed_total counter\nian_checkpoints_signed_total 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE ian_queue_depth gauge\n"), "{text}");
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn build_info_start_time_and_process_metrics_are_exported() {
        let m = Metrics::default();
        m.set_build_info("0.1.0", "wasmtime 48.0.8", "ian:eval@0.1.0", "ab");
        let text = m.render();
        assert!(
            text.contains("ian_build_info{version=\"0.1.0\",engine=\"wasmtime 48.0.8\",abi=\"ian:eval@0.1.0\",config_hash=\"ab\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE ian_start_time_seconds gauge"));
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_resident_memory_bytes "), "{text}");
            assert!(text.contains("process_cpu_seconds_total "), "{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
