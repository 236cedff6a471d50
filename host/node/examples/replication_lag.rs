//! How far a mirror trails its primary under load, with real processes.
//!
//! Starts two `ian-host serve` processes on loopback (the release binary
//! next to this example): a primary with the example trading goal, and a
//! mirror that follows its log and re-evaluates every entry. Over `http`
//! the mirror polls the published checkpoint every 20 ms and copies with
//! HTTP GETs; over `p2p` it hears each checkpoint on gossipsub and copies
//! over `/ian/sync/1`. Then submits buy-and-hold packs at
//! a fixed rate for a fixed time and records, per entry, when the primary
//! acknowledged it and when the mirror had re-evaluated it. Prints a
//! Markdown table of the lag (mirror judged − primary acknowledged). Run:
//! `cargo build --release -p ian-node --bin ian-host && cargo run --release -p ian-node --example replication_lag -- 500 10 p2p`
//! (rate per second, seconds, `http` or `p2p`; the guest components must
//! be built).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ian_core::{AgentPack, Metadata, PackFile, sha256};
use parking_lot::Mutex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path, env: &[(&str, String)]) -> (Proc, String) {
    std::fs::create_dir_all(data).unwrap();
    let mut cmd = Command::new(root().join("target/release/ian-host"));
    cmd.arg("serve")
        .env("IAN_LISTEN", "127.0.0.1:0")
        .env("IAN_DATA_DIR", data)
        .env("IAN_LOG", "warn")
        .env("IAN_IP_RATE", "1000000000")
        .env("IAN_IP_BURST", "1000000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Proc(
        cmd.spawn()
            .expect("target/release/ian-host: build it first"),
    );
    let t = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(data.join("node.addr"))
            && s.ends_with('\n')
        {
            return (child, s.trim().to_string());
        }
        assert!(t.elapsed() < Duration::from_secs(60), "node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn metric(url: &str, name: &str) -> u64 {
    let addr = url.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    use std::io::{Read, Write};
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args.next().map_or(500, |a| a.parse().expect("rate"));
    let secs: u64 = args.next().map_or(10, |a| a.parse().expect("seconds"));
    let transport = args.next().unwrap_or_else(|| "http".into());
    let p2p = match transport.as_str() {
        "http" => false,
        "p2p" => true,
        other => panic!("transport {other}: expected http or p2p"),
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut penv = vec![("IAN_NODE_NAME", "p.lag".to_string())];
    if p2p {
        penv.push(("IAN_P2P", "true".into()));
    }
    let (_p, purl) = serve(&tmp.path().join("p"), &penv);
    let goal = root().join("examples/goals/trading.toml");
    let req = ian_node::cli::ops::publish_request(&goal).expect("example goal");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = ian_node::cli::client::Client::new(&purl)
        .unwrap()
        .with_operator_key(Some(
            std::fs::read_to_string(tmp.path().join("p/operator.key"))
                .unwrap()
                .trim()
                .to_string(),
        ));
    let status: serde_json::Value = rt
        .block_on(client.json(reqwest::Method::POST, "/api/v1/goals", Some(&req)))
        .expect("publish");
    let id = status["id"].as_str().unwrap().to_string();
    let vkey = status["log_vkey"].as_str().unwrap().to_string();
    let source = if p2p { "p2p".to_string() } else { purl.clone() };
    std::fs::write(tmp.path().join("logs"), format!("log {vkey} {source}\n")).unwrap();
    let mut menv = vec![
        ("IAN_NODE_NAME", "m.lag".to_string()),
        ("IAN_WITNESS", "true".into()),
        ("IAN_WITNESS_REEVALUATE", "true".into()),
        (
            "IAN_WITNESS_LOGS_FILE",
            tmp.path().join("logs").display().to_string(),
        ),
        ("IAN_WITNESS_RETRY_MS", "20".into()),
    ];
    if p2p {
        let addr = std::fs::read_to_string(tmp.path().join("p/node.p2p")).unwrap();
        menv.push(("IAN_P2P", "true".into()));
        menv.push(("IAN_P2P_BOOTSTRAP", addr.lines().next().unwrap().into()));
    }
    let (_m, murl) = serve(&tmp.path().join("m"), &menv);
    let menv2: Vec<(&str, String)> = menv
        .iter()
        .map(|(k, v)| {
            (
                *k,
                if *k == "IAN_NODE_NAME" {
                    "m2.lag".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    let code = std::fs::read(root().join("target/components/buy-and-hold.wasm")).unwrap();
    let meta = Metadata::new([("name", "buy-and-hold")]).unwrap();
    let (pack0, code) = PackFile::new(code, b"position=1.0".to_vec(), meta.clone())
        .unwrap()
        .into_parts();
    let _ = sha256(&code);
    // Index -> when the primary acknowledged it, and when the mirror had it.
    let acked: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let judged: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (judged, stop, murl) = (judged.clone(), stop.clone(), murl.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let n = metric(&murl, "ian_mirror_reevaluated_total");
                let now = Instant::now();
                let mut j = judged.lock();
                while seen < n {
                    j.push((seen, now));
                    seen += 1;
                }
                drop(j);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let total = rate * secs;
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..total {
            let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
            let (client, id, code, acked) =
                (client.clone(), id.clone(), code.clone(), acked.clone());
            let pack = AgentPack::new(
                pack0.code_hash(),
                format!("position=0.{i:07}").into_bytes(),
                meta.clone(),
            )
            .unwrap();
            tasks.push(tokio::spawn(async move {
                let key = ed25519_dalek::SigningKey::from_bytes(&sha256(&i.to_be_bytes()).0);
                let c = ian_node::cli::ops::sign(&id, pack, 1, &key).unwrap();
                let send_code = (i == 0).then_some(code.as_slice());
                let req = ian_node::cli::ops::submit_request(&id, c, send_code, 0);
                if let Ok(ian_node::cli::ops::SubmitOutcome::Accepted(a)) =
                    ian_node::cli::ops::post_submission(&client, &id, &req).await
                {
                    acked.lock().push((a.entry.log_index, Instant::now()));
                }
            }));
            if i == 0 {
                // The first carries the code; the rest refer to it.
                let t = tasks.pop().unwrap();
                let _ = t.await;
            }
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while (judged.lock().len() as u64) < acked.lock().len() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    let acked = acked.lock().clone();
    let judged: std::collections::HashMap<u64, Instant> = judged.lock().iter().copied().collect();
    let mut lag: Vec<f64> = acked
        .iter()
        .filter_map(|(i, a)| {
            judged
                .get(i)
                .map(|j| j.saturating_duration_since(*a).as_secs_f64() * 1000.0)
        })
        .collect();
    lag.sort_by(f64::total_cmp);
    let offered = total as f64 / started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "| transport | offered rate | acknowledged | re-evaluated by the mirror | lag p50 | lag p99 | lag max |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    if lag.is_empty() {
        println!(
            "| {transport} | {rate}/s | {} | 0 | - | - | - |",
            acked.len()
        );
        return;
    }
    println!(
        "| {transport} | {rate}/s ({offered:.0}/s sent) | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
        acked.len(),
        lag.len(),
        pct(&lag, 0.5),
        pct(&lag, 0.99),
        lag[lag.len() - 1]
    );
    // Catch-up: a fresh mirror joins the finished log and copies, checks
    // and re-evaluates all of it.
    let size = acked.len() as u64;
    let t = Instant::now();
    let (_m2, m2url) = serve(&tmp.path().join("m2"), &menv2);
    let deadline = Instant::now() + Duration::from_secs(300);
    while metric(&m2url, "ian_mirror_reevaluated_total") < size && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = t.elapsed().as_secs_f64();
    let got = metric(&m2url, "ian_mirror_reevaluated_total");
    println!(
        "\ncatch-up over {transport}: a fresh mirror re-evaluated {got} of {size} entries in {took:.2} s ({:.0} entries/s, start-up included)",
        got as f64 / took
    );
}
