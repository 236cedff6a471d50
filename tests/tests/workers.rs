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

/// The public key of the worker named `name` in `dir` (its key file is
/// created when missing).
fn worker_key(dir: &Path, name: &str) -> String {
    let o = cli(&[
        "worker",
        "--nats",
        "nats://unused",
        "--print-key",
        "--key",
        dir.join(format!("{name}.key")).to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
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
        ("IAN_WORKERS_RESULT_TIMEOUT_MS", "20000"),
    ]
}

/// A trading goal whose evaluation takes long enough to kill a worker in
/// the middle of it (hundreds of milliseconds per job).
fn slow_goal(dir: &Path, id: &str) -> PathBuf {
    let p = trading_goal(dir, id, true);
    let t = std::fs::read_to_string(&p)
        .unwrap()
        .replace("steps=64", "steps=20000")
        .replace("seeds = [1, 2]", "seeds = [1, 2, 3, 4, 5, 6, 7, 8]");
    std::fs::write(&p, t).unwrap();
    p
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

fn verifies(node: &NodeProc, dir: &Path, reply: &Value) -> bool {
    let receipt = dir.join("receipt.json");
    std::fs::write(&receipt, serde_json::to_vec(reply).unwrap()).unwrap();
    let info = json_out(&node.cli(&["status", "--json"]));
    let key = info["node"]["public_key"].as_str().unwrap();
    let o = cli(&[
        "verify",
        receipt.to_str().unwrap(),
        "--node-key",
        key,
        "--json",
    ]);
    o.status.success() && json_out(&o)["valid"] == true
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
    assert!(verifies(&remote, d, &r));
    wait_for("the worker's status", Duration::from_secs(10), || {
        jobs_of(&nats, "w1") == 1
    });
    assert_eq!(
        labelled(&remote, "ian_workers_results_total{"),
        1,
        "one worker result, accepted"
    );
}
