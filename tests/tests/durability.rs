//! Nothing is signed before it is durable: readers polling a node's
//! checkpoint while the node is SIGKILLed again and again under load never
//! see two valid signatures for one (goal, size) with different roots.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ian_core::{Hash32, PublicKeyBytes, SignedCheckpoint};
use ian_tests::*;

const GOAL: &str = "durable";
/// SIGKILLs per run (each after 200-460 ms of load).
const ROUNDS: u64 = 12;

/// One GET; `None` when the node is down or answers anything but 200.
fn try_get(url: &str, path: &str) -> Option<String> {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .filter(|b| !head.to_ascii_lowercase().contains("chunked") || !b.is_empty())
}

/// Submits distinct buy-and-hold packs from several contributors until
/// `stop`, ignoring failures (the node is being killed under it).
fn load(
    url: String,
    code: Vec<u8>,
    pack: ian_core::AgentPack,
    stop: Arc<AtomicBool>,
    n: Arc<AtomicU64>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let Ok(client) = ian_node::cli::client::Client::new(&url) else {
            return;
        };
        let mut tasks = Vec::new();
        for k in 0..6u8 {
            let (client, code, pack, stop, n) = (
                client.clone(),
                code.clone(),
                pack.clone(),
                stop.clone(),
                n.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let key = ed25519_dalek::SigningKey::from_bytes(&[k + 40; 32]);
                while !stop.load(Ordering::Relaxed) {
                    let i = n.fetch_add(1, Ordering::Relaxed);
                    let p = ian_core::AgentPack::new(
                        pack.code_hash(),
                        format!("position=0.{i:07}").into_bytes(),
                        pack.metadata().clone(),
                    )
                    .unwrap();
                    let nonce = ian_node::cli::ops::nonce_now();
                    let Ok(c) = ian_node::cli::ops::sign(GOAL, p, nonce, &key) else {
                        return;
                    };
                    let req = ian_node::cli::ops::submit_request(GOAL, c, Some(&code), 0);
                    if ian_node::cli::ops::post_submission(&client, GOAL, &req)
                        .await
                        .is_err()
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

#[test]
fn readers_never_see_two_signed_roots_for_one_size_across_sigkills() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = NodeProc::start(&data, &[]);
    let goal = trading_goal(tmp.path(), GOAL, false);
    node.publish(&goal);
    let node_key: PublicKeyBytes =
        serde_json::from_value(node.get_json("/api/v1/node")["public_key"].clone()).unwrap();
    let vkey = node.get_json(&format!("/api/v1/goals/{GOAL}"))["log_vkey"].clone();
    let key = ian_core::note::NoteVerifier::parse(vkey.as_str().unwrap()).unwrap();
    assert_eq!(key.key, node_key, "the log is signed with the node key");
    let packed = pack(tmp.path(), "buy-and-hold", "position=1.0", "bh.ianpack");
    let (pack, code) = ian_core::PackFile::from_bytes(&std::fs::read(&packed).unwrap())
        .unwrap()
        .into_parts();
    let mut seen: BTreeMap<u64, Hash32> = BTreeMap::new();
    let mut conflicts = Vec::new();
    let counter = Arc::new(AtomicU64::new(0));
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let loader = {
            let (url, code, pack, stop, n) = (
                node.url.clone(),
                code.clone(),
                pack.clone(),
                stop.clone(),
                counter.clone(),
            );
            std::thread::spawn(move || load(url, code, pack, stop, n))
        };
        // Poll the published checkpoint, then kill the node mid-load.
        let kill_at = Instant::now() + Duration::from_millis(200 + 37 * (round % 8));
        while Instant::now() < kill_at {
            if let Some(body) = try_get(&node.url, &format!("/logs/{GOAL}/checkpoint"))
                && let Ok(cp) = SignedCheckpoint::parse(body.as_bytes())
            {
                assert!(cp.verify(&key).is_ok(), "served checkpoint does not verify");
                let c = cp.checkpoint;
                match seen.get(&c.size) {
                    Some(root) if *root != c.root => conflicts.push((c.size, *root, c.root)),
                    Some(_) => {}
                    None => {
                        seen.insert(c.size, c.root);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut child = node.child.take().unwrap();
        send_signal(child.id(), "KILL");
        let _ = child.wait();
        stop.store(true, Ordering::Relaxed);
        let _ = loader.join();
        node = NodeProc::start(&data, &[]);
        // What the restarted node signs must agree with everything seen.
        let cp: SignedCheckpoint =
            serde_json::from_value(node.get_json(&format!("/api/v1/goals/{GOAL}/checkpoint")))
                .unwrap();
        assert!(cp.verify(&key).is_ok());
        if let Some(root) = seen.get(&cp.checkpoint.size)
            && *root != cp.checkpoint.root
        {
            conflicts.push((cp.checkpoint.size, *root, cp.checkpoint.root));
        }
        // Every earlier signed size is a prefix of the restarted log.
        let now = cp.checkpoint;
        for (&size, root) in seen.range(..now.size) {
            let v = node.get_json(&format!("/api/v1/goals/{GOAL}/log/0/proof?size={size}"));
            let served: Hash32 = serde_json::from_value(v["root"].clone()).unwrap();
            if served != *root {
                conflicts.push((size, *root, served));
            }
        }
    }
    eprintln!(
        "observed {} signed sizes up to {:?} over {ROUNDS} SIGKILLs",
        seen.len(),
        seen.keys().last()
    );
    assert!(
        conflicts.is_empty(),
        "two roots for one size: {conflicts:?}"
    );
    // The test saw a growing log, not an idle node.
    assert!(seen.len() >= 5, "only {} signed sizes observed", seen.len());
}
