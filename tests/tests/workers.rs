//! Evaluation workers on NATS JetStream: a real `nats-server -js` on
//! loopback with a temporary store, real `ian-host worker` processes, real
//! nodes. At-least-once delivery, exactly-once effect: a worker killed
//! mid-job, a job published twice, a node restarted with a job in flight,
//! NATS restarted — no submission lost, none logged twice, every receipt
//! verifies.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ian_tests::*;
use serde_json::Value;

/// A `nats-server -js` on a loopback port with its store in a temp dir;
/// killed on drop.
struct Nats {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
}

impl Nats {
    fn start(dir: &Path) -> Option<Nats> {
        if Command::new("nats-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("IAN_REQUIRE_NATS").is_none(),
                "nats-server is required (IAN_REQUIRE_NATS) but not installed"
            );
            eprintln!("skipping: nats-server not installed (Debian package nats-server)");
            return None;
        }
        let mut n = Nats {
            child: None,
            port: free_port(),
            store: dir.join("nats"),
        };
        n.launch();
        Some(n)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM, the store kept) and starts it again on
    /// the same port with the same store.
    fn restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            let _ = c.wait();
        }
        self.launch();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An `ian-host worker` process; killed on drop.
struct WorkerProc {
    child: Option<Child>,
}

impl WorkerProc {
    fn start(nats: &Nats, dir: &Path, name: &str, env: &[(&str, &str)]) -> WorkerProc {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let mut cmd = Command::new(bin());
        cmd.args([
            "worker",
            "--nats",
            &nats.url(),
            "--jobs",
            "1",
            "--name",
            name,
        ])
        .arg("--key")
        .arg(dir.join(format!("{name}.key")))
        .arg("--data-dir")
        .arg(dir.join(name))
        .env("IAN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        WorkerProc {
            child: Some(cmd.spawn().expect("spawn ian-host worker")),
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `ian-host workers --json`.
fn workers(nats: &Nats) -> Value {
    let o = cli(&["workers", "--nats", &nats.url(), "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    json_out(&o)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Jobs the worker named `name` has answered, from its status.
fn jobs_of(nats: &Nats, name: &str) -> u64 {
    workers(nats)["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == name)
        .map_or(0, |w| w["jobs"].as_u64().unwrap())
}

fn node_env<'a>(nats: &'a str, keys: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("IAN_WORKERS_NATS", nats),
        ("IAN_WORKERS_KEYS", keys),
        ("IAN_WORKERS_ACK_WAIT_MS", "2000"),
        // Jobs of a worker that dies go to another after 2 s: the goals'
        // worst case (tens of seconds) does not raise it here.
        ("IAN_WORKERS_MAX_ACK_WAIT_MS", "2000"),
        ("IAN_WORKERS_RESULT_TIMEOUT_MS", "20000"),
    ]
}

/// `submit --json` of a packed agent with `key`: (exit code, reply).
fn submit(node: &NodeProc, packed: &Path, goal: &str, key: &Path) -> (i32, Value) {
    let o = node.cli(&[
        "submit",
        packed.to_str().unwrap(),
        "--goal",
        goal,
        "--key",
        key.to_str().unwrap(),
        "--json",
    ]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v)
}

fn log_size(node: &NodeProc, goal: &str) -> u64 {
    node.get_json(&format!("/api/v1/goals/{goal}"))["log_size"]
        .as_u64()
        .unwrap()
}

fn labelled(node: &NodeProc, line_prefix: &str) -> u64 {
    http_get(&node.url, "/metrics")
        .lines()
        .filter(|l| l.starts_with(line_prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn a_node_with_a_worker_logs_the_bits_the_node_computes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let wkey = worker_key(d, "w1");
    let url = nats.url();
    let remote = NodeProc::start(&d.join("remote"), &node_env(&url, &wkey));
    let local = NodeProc::start(&d.join("local"), &[]);
    let _w = WorkerProc::start(&nats, d, "w1", &[]);
    let goal = trading_goal(d, "t", true);
    remote.publish(&goal);
    local.publish(&goal);
    let key = keygen(d, "c.key");
    let p = pack(d, "ma-crossover", "short=5,long=20", "ma.ianpack");
    let (code, r) = submit(&remote, &p, "t", &key);
    assert_eq!(code, 0, "{r}");
    let (code, l) = submit(&local, &p, "t", &key);
    assert_eq!(code, 0, "{l}");
    for f in [
        "metrics",
        "fuel_used",
        "engine_version",
        "config_hash",
        "pack_hash",
    ] {
        assert_eq!(r["entry"][f], l["entry"][f], "{f}");
    }
    assert!(receipt_verifies(&remote, d, &r));
    wait_for("the worker's status", Duration::from_secs(10), || {
        jobs_of(&nats, "w1") == 1
    });
    assert_eq!(
        labelled(&remote, "ian_workers_results_total{"),
        1,
        "one worker result, accepted"
    );
}

/// Runs `f` on a thread; joined by the caller.
fn in_background<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(f)
}

fn queue(nats: &Nats) -> (u64, u64) {
    let q = &workers(nats)["queue"];
    (
        q["pending"].as_u64().unwrap(),
        q["in_flight"].as_u64().unwrap(),
    )
}

#[test]
fn a_result_signed_by_a_key_the_node_does_not_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let listed = worker_key(d, "listed");
    let url = nats.url();
    let mut env = node_env(&url, &listed);
    env.push(("IAN_WORKERS_RESULT_TIMEOUT_MS", "3000"));
    let node = NodeProc::start(&d.join("node"), &env);
    let _stranger = WorkerProc::start(&nats, d, "stranger", &[]);
    node.publish(&trading_goal(d, "t", false));
    let key = keygen(d, "c.key");
    let p = pack(d, "buy-and-hold", "", "bh.ianpack");
    let (code, v) = submit(&node, &p, "t", &key);
    assert_ne!(code, 0, "{v}");
    assert!(v.to_string().contains("host_busy"), "{v}");
    assert_eq!(log_size(&node, "t"), 0);
    let m = http_get(&node.url, "/metrics");
    assert!(
        m.lines()
            .any(|l| l.starts_with("ian_workers_results_total{")
                && l.contains("worker=\"unknown\"")
                && l.contains("result=\"refused\"")),
        "the stranger's results are counted as refused: {m}"
    );
    assert!(!m.contains("result=\"accepted\""), "{m}");
}

#[test]
fn a_job_whose_worker_dies_mid_job_is_finished_by_another_and_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let keys = format!("{},{}", worker_key(d, "doomed"), worker_key(d, "w2"));
    let url = nats.url();
    let node = NodeProc::start(&d.join("node"), &node_env(&url, &keys));
    node.publish(&trading_goal(d, "t", true));
    let key = keygen(d, "c.key");
    let p = pack(d, "ma-crossover", "short=5,long=20", "ma.ianpack");
    let sub = submit_in_background(&node, &p, "t", &key);
    // A worker takes the job and dies before answering: its connection
    // goes with it, the job stays unacknowledged.
    let doomed = HandWorker::new(&nats, &d.join("doomed.key"), &node);
    let taken = doomed.take();
    assert!(taken.job.is_ok());
    assert_eq!(queue(&nats).1, 1, "the job is in flight");
    drop(taken);
    drop(doomed);
    let _w2 = WorkerProc::start(&nats, d, "w2", &[]);
    let (code, v) = sub.join().unwrap();
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(log_size(&node, "t"), 1);
    assert!(receipt_verifies(&node, d, &v));
    wait_for("w2's status", Duration::from_secs(10), || {
        jobs_of(&nats, "w2") == 1
    });
    assert_eq!(queue(&nats), (0, 0), "nothing left in the queue");
}

#[test]
fn a_node_restarted_with_a_job_in_flight_takes_the_stored_result_without_a_second_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let wkey = worker_key(d, "w1");
    let url = nats.url();
    let data = d.join("node");
    let mut node = NodeProc::start(&data, &node_env(&url, &wkey));
    node.publish(&trading_goal(d, "t", true));
    let key = keygen(d, "c.key");
    let p = pack(d, "ma-crossover", "short=5,long=20", "ma.ianpack");
    // No worker yet: the job waits in the queue while the node dies.
    let sub = submit_in_background(&node, &p, "t", &key);
    wait_for("the job in the queue", Duration::from_secs(20), || {
        queue(&nats).0 == 1
    });
    send_signal(node.child.as_ref().unwrap().id(), "KILL");
    let _ = node.child.take().unwrap().wait();
    let _ = sub.join();
    let _w = WorkerProc::start(&nats, d, "w1", &[]);
    wait_for("the worker to answer", Duration::from_secs(20), || {
        jobs_of(&nats, "w1") == 1
    });
    let node = NodeProc::start(&data, &node_env(&url, &wkey));
    assert_eq!(
        log_size(&node, "t"),
        0,
        "nothing was logged before the kill"
    );
    let (code, v) = submit(&node, &p, "t", &key);
    assert_eq!(code, 0, "{v}");
    assert!(receipt_verifies(&node, d, &v));
    assert_eq!(log_size(&node, "t"), 1);
    assert_eq!(metric(&node, "ian_workers_jobs_deduplicated_total"), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        jobs_of(&nats, "w1"),
        1,
        "the stored result was used, not a second run"
    );
}

#[test]
fn submissions_go_on_after_nats_restarts_and_every_receipt_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(mut nats) = Nats::start(d) else {
        return;
    };
    let wkey = worker_key(d, "w1");
    let url = nats.url();
    let node = NodeProc::start(&d.join("node"), &node_env(&url, &wkey));
    let _w = WorkerProc::start(&nats, d, "w1", &[]);
    node.publish(&trading_goal(d, "t", false));
    let key = keygen(d, "c.key");
    let mut receipts = Vec::new();
    for (i, params) in ["short=5,long=20", "short=3,long=30"].iter().enumerate() {
        if i == 1 {
            nats.restart();
        }
        let p = pack(d, "ma-crossover", params, &format!("ma{i}.ianpack"));
        // While the clients reconnect a submission may be told to retry;
        // it is never half-recorded.
        let t = Instant::now();
        let v = loop {
            let (code, v) = submit(&node, &p, "t", &key);
            if code == 0 {
                break v;
            }
            assert!(v.to_string().contains("host_busy"), "{v}");
            assert!(t.elapsed() < Duration::from_secs(60), "{v}");
            std::thread::sleep(Duration::from_millis(500));
        };
        receipts.push(v);
    }
    assert_eq!(log_size(&node, "t"), 2);
    for r in &receipts {
        assert!(receipt_verifies(&node, d, r));
    }
}

/// A stand-in worker driven by the test: it takes jobs off the real queue
/// and answers with results it makes up, signed with a real worker key.
struct HandWorker {
    rt: tokio::runtime::Runtime,
    queue: ian_workers::Queue,
    key: ed25519_dalek::SigningKey,
    env: (String, ian_core::Hash32, String),
}

impl HandWorker {
    fn new(nats: &Nats, key_file: &Path, node: &NodeProc) -> HandWorker {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let queue = rt
            .block_on(ian_workers::Queue::connect(ian_workers::QueueConfig::new(
                nats.url(),
            )))
            .unwrap();
        let key = ian_node::runtime::keyfile::read_signing_key(key_file).unwrap();
        let info = node.get_json("/api/v1/node");
        let env = (
            info["engine_version"].as_str().unwrap().to_string(),
            ian_core::Hash32::from_hex(info["config_hash"].as_str().unwrap()).unwrap(),
            info["abi_version"].as_str().unwrap().to_string(),
        );
        HandWorker {
            rt,
            queue,
            key,
            env,
        }
    }

    fn take(&self) -> ian_workers::Delivery {
        loop {
            if let Some(d) = self
                .rt
                .block_on(self.queue.next_job(Duration::from_millis(500)))
                .unwrap()
            {
                return d;
            }
        }
    }

    /// Answers `d` with `reward` (risk and complexity 0), stores the result
    /// and acknowledges the job.
    fn answer(&self, d: &ian_workers::Delivery, reward: f64) {
        let job = d.job.as_ref().unwrap();
        let (engine_version, config_hash, abi_version) = self.env.clone();
        let evaluation = ian_core::pipeline::Evaluation {
            metrics: ian_core::pipeline::RawMetrics {
                reward,
                risk: 0.0,
                complexity: 0.0,
                extra: Vec::new(),
            },
            fuel_used: 1,
            engine_version: engine_version.clone(),
            config_hash,
            abi_version: abi_version.clone(),
        };
        let signed = ian_workers::WorkResult {
            job: job.id(),
            worker: ian_core::PublicKeyBytes::of(&self.key),
            engine_version,
            config_hash,
            abi_version,
            outcome: ian_workers::Outcome::Evaluated(ian_core::Verdict::Evaluated(evaluation)),
            seeds: Vec::new(),
            fuel: 1,
            elapsed_us: 1,
        }
        .sign(&self.key);
        self.rt.block_on(self.queue.put_result(&signed)).unwrap();
        self.rt.block_on(d.ack()).unwrap();
    }
}

fn submit_in_background(
    node: &NodeProc,
    packed: &Path,
    goal: &str,
    key: &Path,
) -> std::thread::JoinHandle<(Option<i32>, Value)> {
    let (url, p, k, g) = (
        node.url.clone(),
        packed.to_path_buf(),
        key.to_path_buf(),
        goal.to_string(),
    );
    in_background(move || {
        let o = Command::new(bin())
            .args(["submit", p.to_str().unwrap(), "--goal", &g, "--key"])
            .arg(&k)
            .arg("--json")
            .env("IAN_NODE", url)
            .output()
            .unwrap();
        (
            o.status.code(),
            serde_json::from_slice::<Value>(&o.stdout).unwrap_or_default(),
        )
    })
}

#[test]
fn results_commit_in_submission_order_whichever_worker_answers_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let hand_key = worker_key(d, "hand");
    let url = nats.url();
    let node = NodeProc::start(&d.join("node"), &node_env(&url, &hand_key));
    node.publish(&trading_goal(d, "t", false));
    let hand = HandWorker::new(&nats, &d.join("hand.key"), &node);
    let key = keygen(d, "c.key");
    let first = pack(d, "ma-crossover", "short=5,long=20", "a.ianpack");
    let second = pack(d, "ma-crossover", "short=3,long=30", "b.ianpack");
    let a = submit_in_background(&node, &first, "t", &key);
    wait_for("the first job", Duration::from_secs(20), || {
        queue(&nats).0 == 1
    });
    let b = submit_in_background(&node, &second, "t", &key);
    wait_for("the second job", Duration::from_secs(20), || {
        queue(&nats).0 == 2
    });
    let job_a = hand.take();
    let job_b = hand.take();
    hand.answer(&job_b, 2.0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(log_size(&node, "t"), 0, "the second waits for the first");
    hand.answer(&job_a, 1.0);
    let (ca, va) = a.join().unwrap();
    let (cb, vb) = b.join().unwrap();
    assert_eq!((ca, cb), (Some(0), Some(0)), "{va} {vb}");
    assert_eq!(va["entry"]["log_index"], 0);
    assert_eq!(vb["entry"]["log_index"], 1);
    assert_eq!(
        va["entry"]["pack_hash"].as_str().unwrap(),
        job_a.job.as_ref().unwrap().pack.pack_hash().to_hex()
    );
}

#[test]
fn a_sampled_worker_result_with_other_bits_is_replaced_and_its_worker_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let liar_key = worker_key(d, "liar");
    let url = nats.url();
    let mut env = node_env(&url, &liar_key);
    env.push(("IAN_WORKERS_VERIFY_SAMPLE", "1"));
    let node = NodeProc::start(&d.join("node"), &env);
    let local = NodeProc::start(&d.join("local"), &[]);
    let goal = trading_goal(d, "t", true);
    node.publish(&goal);
    local.publish(&goal);
    let liar = HandWorker::new(&nats, &d.join("liar.key"), &node);
    let key = keygen(d, "c.key");
    let p = pack(d, "ma-crossover", "short=5,long=20", "ma.ianpack");
    let sub = submit_in_background(&node, &p, "t", &key);
    let job = liar.take();
    liar.answer(&job, 1e6);
    let (code, v) = sub.join().unwrap();
    assert_eq!(code, Some(0), "{v}");
    let (_, truth) = submit(&local, &p, "t", &key);
    assert_eq!(
        v["entry"]["metrics"], truth["entry"]["metrics"],
        "the node's own bits are logged"
    );
    assert!(receipt_verifies(&node, d, &v));
    let m = http_get(&node.url, "/metrics");
    assert!(
        m.lines()
            .any(|l| l.starts_with("ian_workers_results_total{")
                && l.contains("result=\"mismatch\"")
                && l.ends_with(" 1")),
        "{m}"
    );
    assert!(
        node.get_json("/api/v1/node")["workers"]["flagged"]
            .as_array()
            .is_some_and(|f| f.iter().any(|k| k == liar_key.as_str()))
    );
}

#[test]
fn a_job_published_twice_is_queued_once_and_its_stored_result_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let q = rt
        .block_on(ian_workers::Queue::connect(ian_workers::QueueConfig::new(
            nats.url(),
        )))
        .unwrap();
    let pack = ian_core::AgentPack::new(
        ian_core::sha256(b"code"),
        b"p=1".to_vec(),
        Default::default(),
    )
    .unwrap();
    let job = ian_workers::Job {
        goal_hash: ian_core::sha256(b"goal"),
        pack,
    };
    assert!(
        !rt.block_on(q.publish(&job)).unwrap(),
        "first publish is new"
    );
    assert!(
        rt.block_on(q.publish(&job)).unwrap(),
        "second is a duplicate"
    );
    assert_eq!(rt.block_on(q.depth()).unwrap().pending, 1);
    assert_eq!(rt.block_on(q.result(&job.id())).unwrap(), None);
}

#[test]
fn a_worker_process_killed_under_load_loses_no_submission_and_logs_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let keys = format!("{},{}", worker_key(d, "w1"), worker_key(d, "w2"));
    let url = nats.url();
    let node = NodeProc::start(&d.join("node"), &node_env(&url, &keys));
    node.publish(&trading_goal(d, "t", true));
    let mut w1 = WorkerProc::start(&nats, d, "w1", &[]);
    let _w2 = WorkerProc::start(&nats, d, "w2", &[]);
    // One contributor key each: one key's concurrent submissions would
    // race for its nonce window.
    let subs: Vec<_> = (0..8)
        .map(|i| {
            let key = keygen(d, &format!("c{i}.key"));
            let p = pack(
                d,
                "ma-crossover",
                &format!("short={},long=20", i + 2),
                &format!("ma{i}.ianpack"),
            );
            submit_in_background(&node, &p, "t", &key)
        })
        .collect();
    wait_for("a first result", Duration::from_secs(30), || {
        labelled(&node, "ian_workers_results_total{") >= 1
    });
    // SIGKILL: whatever w1 holds is unacknowledged and goes to w2.
    w1.kill();
    let replies: Vec<Value> = subs
        .into_iter()
        .map(|s| {
            let (code, v) = s.join().unwrap();
            assert_eq!(code, Some(0), "{v}");
            v
        })
        .collect();
    assert_eq!(log_size(&node, "t"), 8);
    let mut indices: Vec<u64> = replies
        .iter()
        .map(|v| v["entry"]["log_index"].as_u64().unwrap())
        .collect();
    indices.sort();
    assert_eq!(
        indices,
        (0..8).collect::<Vec<_>>(),
        "each submission logged once"
    );
    for v in &replies {
        assert!(receipt_verifies(&node, d, v));
    }
}

#[test]
fn a_job_answered_by_an_untrusted_worker_is_published_again_for_a_trusted_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let _stranger_key = worker_key(d, "stranger");
    let trusted = worker_key(d, "trusted");
    let url = nats.url();
    let node = NodeProc::start(&d.join("node"), &node_env(&url, &trusted));
    node.publish(&trading_goal(d, "t", false));
    let key = keygen(d, "c.key");
    let p = pack(d, "ma-crossover", "short=5,long=20", "ma.ianpack");
    let sub = submit_in_background(&node, &p, "t", &key);
    let stranger = HandWorker::new(&nats, &d.join("stranger.key"), &node);
    let job = stranger.take();
    stranger.answer(&job, 1e6);
    let _w = WorkerProc::start(&nats, d, "trusted", &[]);
    let (code, v) = sub.join().unwrap();
    assert_eq!(code, Some(0), "{v}");
    assert_ne!(v["entry"]["metrics"]["reward"], 1e6, "{v}");
    assert_eq!(log_size(&node, "t"), 1);
    wait_for(
        "the trusted worker's status",
        Duration::from_secs(10),
        || jobs_of(&nats, "trusted") == 1,
    );
}

#[test]
fn a_goal_whose_worst_case_is_longer_than_ack_wait_raises_the_queues_ack_wait_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(nats) = Nats::start(d) else { return };
    let wkey = worker_key(d, "w1");
    let url = nats.url();
    let env = [
        ("IAN_WORKERS_NATS", url.as_str()),
        ("IAN_WORKERS_KEYS", wkey.as_str()),
        ("IAN_WORKERS_ACK_WAIT_MS", "2000"),
    ];
    let node = NodeProc::start(&d.join("node"), &env);
    let _w = WorkerProc::start(&nats, d, "w1", &[]);
    assert_eq!(workers(&nats)["queue"]["ack_wait_ms"], 2000);
    // 2 seeds + 2 invariants + the code check, each stopped by the
    // default 10 s wall-clock backstop at the latest, plus 1 s.
    node.publish(&trading_goal(d, "t", true));
    let key = keygen(d, "c.key");
    let p = pack(d, "ma-crossover", "short=5,long=20", "ma.ianpack");
    let (code, r) = submit(&node, &p, "t", &key);
    assert_eq!(code, 0, "{r}");
    assert_eq!(workers(&nats)["queue"]["ack_wait_ms"], 51_000);
    wait_for("the ack_wait gauge", Duration::from_secs(10), || {
        labelled(&node, "ian_workers_ack_wait_seconds ") == 51
    });
}
