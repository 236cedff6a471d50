//! Federation over libp2p: real `ian-host` processes on loopback find each
//! other (identify, Kademlia), announce checkpoints on gossipsub, copy logs
//! over `/ian/sync/1`, and re-evaluate before they cosign. Misbehaving
//! peers are played by an `ian-p2p` node inside the test, with its own key.

use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ian_core::checkpoint::{Checkpoint, SignedCheckpoint};
use ian_core::note::NoteSigner;
use ian_core::{Hash32, sha256};
use ian_p2p::protocol::log_topic;
use ian_p2p::{Multiaddr, P2p, P2pConfig, PeerId, ServeError, SyncRequest, SyncResponse};
use ian_tests::*;
use serde_json::Value;

const GOAL: &str = "federated";

/// Polls `f` every 100 ms until it returns `Some`, or panics with `what`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node's first libp2p address, with `/p2p/<peer id>`.
fn p2p_addr(node: &NodeProc) -> String {
    std::fs::read_to_string(node.data.join("node.p2p"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

fn peers(node: &NodeProc) -> Value {
    node.get_json("/api/v1/peers")
}

/// What `node` believes about `origin`: its log view from `/api/v1/peers`.
fn log_view(node: &NodeProc, origin: &str) -> Option<Value> {
    peers(node)["status"]["logs"]
        .as_array()?
        .iter()
        .find(|l| l["origin"] == origin)
        .cloned()
}

fn peer_view(node: &NodeProc, peer: &str) -> Option<Value> {
    peers(node)["status"]["peers"]
        .as_array()?
        .iter()
        .find(|p| p["peer_id"] == peer)
        .cloned()
}

fn p2p_env(port: &str) -> Vec<(String, String)> {
    vec![
        ("IAN_P2P".into(), "true".into()),
        (
            "IAN_P2P_LISTEN".into(),
            format!("/ip4/127.0.0.1/tcp/{port}"),
        ),
        ("IAN_P2P_DISCOVERY_MS".into(), "500".into()),
    ]
}

fn start(data: &Path, env: &[(String, String)]) -> NodeProc {
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    NodeProc::start(data, &e)
}

/// A mirror of `log_vkey` copying it over libp2p, bootstrapped from
/// `bootstrap`.
fn start_p2p_mirror(dir: &Path, name: &str, log_vkey: &str, bootstrap: &str) -> NodeProc {
    std::fs::create_dir_all(dir).unwrap();
    let logs = dir.join("logs");
    std::fs::write(&logs, format!("log {log_vkey} p2p\n")).unwrap();
    let mut env = p2p_env("0");
    env.extend([
        ("IAN_NODE_NAME".to_string(), name.to_string()),
        ("IAN_WITNESS".into(), "true".into()),
        ("IAN_WITNESS_REEVALUATE".into(), "true".into()),
        ("IAN_WITNESS_RETRY_MS".into(), "200".into()),
        ("IAN_WITNESS_LOGS_FILE".into(), logs.display().to_string()),
        ("IAN_P2P_BOOTSTRAP".into(), bootstrap.to_string()),
    ]);
    start(&dir.join("data"), &env)
}

/// A primary `primary.test` with the trading goal, on fixed HTTP and
/// libp2p ports so it can restart with a witness policy; its env and its
/// log's vkey.
fn primary(dir: &Path) -> (Vec<(String, String)>, String) {
    let mut env = p2p_env(&free_port().to_string());
    env.push(("IAN_NODE_NAME".into(), "primary.test".into()));
    env.push(("IAN_LISTEN".into(), format!("127.0.0.1:{}", free_port())));
    let mut p = start(&dir.join("primary"), &env);
    p.publish(&trading_goal(dir, GOAL, false));
    let vkey = p.get_json(&format!("/api/v1/goals/{GOAL}"))["log_vkey"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(p.stop());
    (env, vkey)
}

#[test]
fn three_nodes_hold_the_same_cosigned_checkpoints_and_find_each_other_through_kademlia() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a_env, log_vkey) = primary(tmp.path());
    // A alone first, to learn its libp2p address.
    let a = start(&tmp.path().join("primary"), &a_env);
    let a_addr = p2p_addr(&a);
    let a_peer = a_addr.rsplit('/').next().unwrap().to_string();
    let b = start_p2p_mirror(&tmp.path().join("b"), "b.test", &log_vkey, &a_addr);
    // C knows only B; it finds A through B's Kademlia table.
    let c = start_p2p_mirror(&tmp.path().join("c"), "c.test", &log_vkey, &p2p_addr(&b));
    drop(a);
    let vkey_of = |n: &NodeProc| {
        n.get_json("/api/v1/node")["witness_vkey"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let policy = tmp.path().join("policy");
    std::fs::write(
        &policy,
        format!(
            "log {log_vkey}\nwitness b {} {}/witness\nwitness c {} {}/witness\ngroup both all b c\nquorum both\n",
            vkey_of(&b),
            b.url,
            vkey_of(&c),
            c.url
        ),
    )
    .unwrap();
    a_env.push(("IAN_WITNESS_POLICY".into(), policy.display().to_string()));
    a_env.push(("IAN_WITNESS_RETRY_MS".into(), "100".into()));
    a_env.push(("IAN_WITNESS_WAIT_MS".into(), "20000".into()));
    let a = start(&tmp.path().join("primary"), &a_env);
    wait_for(Duration::from_secs(20), "C to connect to A", || {
        peer_view(&c, &a_peer).filter(|p| p["connected"] == true)
    });

    for r in submit_keys(&a, tmp.path(), 0..3) {
        assert_eq!(r["witnessed"], true, "{r}");
    }
    let published = http_get(&a.url, &format!("/logs/{GOAL}/checkpoint"));
    let cp = SignedCheckpoint::parse(published.as_bytes()).unwrap();
    assert_eq!(cp.checkpoint.size, 3);
    assert_eq!(
        cp.note.signatures.len(),
        3,
        "the log's signature and both cosignatures"
    );
    let origin = cp.checkpoint.origin.clone();
    for n in [&b, &c] {
        let view = wait_for(
            Duration::from_secs(20),
            "the cosigned checkpoint to reach B and C",
            || {
                log_view(n, &origin)
                    .filter(|l| l["checkpoint"].as_str() == Some(published.as_str()))
            },
        );
        assert_eq!(view["vkey"], log_vkey.as_str());
        assert_eq!(view["forked"], false);
        assert_eq!(metric(n, "ian_mirror_reevaluated_total"), 3);
        assert_eq!(metric(n, "ian_evidence_total"), 0);
    }
    let c_peers = c.cli(&["peers"]);
    assert!(c_peers.status.success(), "{}", stderr(&c_peers));
    let text = stdout(&c_peers);
    println!("{text}");
    assert!(text.contains(&a_peer) && text.contains(&log_vkey), "{text}");
}

/// The test's own libp2p node: a key, a name, and what it serves.
struct Rogue {
    key: SigningKey,
    p2p: P2p,
    rt: tokio::runtime::Runtime,
}

/// Serves a fixed `Logs` answer and forwards everything else to a node's
/// HTTP API, tampering with entry bundles when asked to.
struct RogueServer {
    logs: std::sync::Arc<parking_lot::Mutex<Vec<String>>>,
    upstream: Option<String>,
    tamper: bool,
}

impl ian_p2p::SyncServer for RogueServer {
    fn serve(&self, _: &PeerId, req: &SyncRequest) -> SyncResponse {
        if *req == SyncRequest::Logs {
            return Ok(serde_json::to_vec(&*self.logs.lock()).unwrap());
        }
        let Some(base) = &self.upstream else {
            return Err(ServeError::new("not_found", "nothing here"));
        };
        let goal = |o: &str| o.rsplit('/').next().unwrap().to_string();
        let path = match req {
            SyncRequest::Tile { origin, path } => format!("/logs/{}/tile/{path}", goal(origin)),
            SyncRequest::Blob { hash } => format!("/api/v1/blobs/{hash}"),
            SyncRequest::Pack { hash } => format!("/api/v1/packs/{hash}"),
            SyncRequest::Manifest { origin } => format!("/api/v1/goals/{}/manifest", goal(origin)),
            SyncRequest::Checkpoint { origin } => format!("/logs/{}/checkpoint", goal(origin)),
            _ => return Err(ServeError::new("not_found", "not served")),
        };
        let mut body = http_get_bytes(base, &path);
        if self.tamper && path.contains("/tile/entries/") {
            // One byte of the last entry (its score's last digit or a
            // signature byte): the bundle stays well-formed.
            let n = body.len();
            body[n - 1] ^= 1;
        }
        Ok(body)
    }
}

impl Rogue {
    fn start(seed: u8, bootstrap: Option<&str>, server: RogueServer) -> Rogue {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let key = SigningKey::from_bytes(&[seed; 32]);
        let cfg = P2pConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            bootstrap: bootstrap
                .iter()
                .map(|b| b.parse::<Multiaddr>().unwrap())
                .collect(),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 64 << 20,
            requests_per_sec: 1000.0,
            request_burst: 1000,
            discovery_interval: Duration::from_secs(60),
            agent: "rogue/0".into(),
            pinned: Vec::new(),
        };
        let (p2p, _events) = rt
            .block_on(P2p::start(cfg, key.to_bytes(), std::sync::Arc::new(server)))
            .unwrap();
        Rogue { key, p2p, rt }
    }

    fn sign(&self, origin: &str, size: u64, root: Hash32) -> SignedCheckpoint {
        let signer = NoteSigner::new(origin, self.key.clone()).unwrap();
        SignedCheckpoint::sign(
            Checkpoint {
                origin: origin.into(),
                size,
                root,
            },
            &signer,
        )
    }

    /// Publishes until a peer is subscribed to the topic.
    fn publish(&self, topic: &str, data: &[u8]) {
        let t = Instant::now();
        loop {
            match self.rt.block_on(self.p2p.publish(topic, data.to_vec())) {
                Ok(()) => return,
                Err(e) if t.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("publish on {topic}: {e}"),
            }
        }
    }
}

fn plain_node(dir: &Path, name: &str, extra: &[(&str, &str)]) -> NodeProc {
    let mut env = p2p_env("0");
    env.push(("IAN_NODE_NAME".into(), name.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    start(dir, &env)
}

/// Submits one pack per index in `keys`, each under its own key `k<i>` and
/// with `position=0.<i>`; the replies.
fn submit_keys(node: &NodeProc, dir: &Path, keys: std::ops::Range<usize>) -> Vec<Value> {
    keys.map(|i| {
        submit_as_new_contributor(
            node,
            dir,
            GOAL,
            &format!("k{i}"),
            &format!("position=0.{i}"),
        )
    })
    .collect()
}

/// A node `name` with libp2p, the trading goal and `n` accepted entries
/// (each from its own contributor); its log's vkey.
fn node_with_entries(dir: &Path, name: &str, n: usize) -> (NodeProc, String) {
    let node = plain_node(&dir.join(name), name, &[]);
    node.publish(&trading_goal(dir, GOAL, false));
    submit_keys(&node, dir, 0..n);
    let vkey = node.get_json(&format!("/api/v1/goals/{GOAL}"))["log_vkey"]
        .as_str()
        .unwrap()
        .to_string();
    (node, vkey)
}

#[test]
fn a_checkpoint_not_signed_by_the_logs_key_is_dropped_and_its_sender_scored_down() {
    let tmp = tempfile::tempdir().unwrap();
    let honest = plain_node(&tmp.path().join("h"), "honest.test", &[]);
    honest.publish(&trading_goal(tmp.path(), GOAL, false));
    submit_as_new_contributor(&honest, tmp.path(), GOAL, "k0", "position=0.1");
    let origin = format!("honest.test/{GOAL}");
    let real = http_get(&honest.url, &format!("/logs/{GOAL}/checkpoint"));
    let watcher = plain_node(
        &tmp.path().join("w"),
        "watcher.test",
        &[("IAN_P2P_BOOTSTRAP", &p2p_addr(&honest))],
    );
    wait_for(
        Duration::from_secs(20),
        "the watcher to hear the honest log",
        || log_view(&watcher, &origin),
    );
    let rogue = Rogue::start(
        7,
        Some(&p2p_addr(&watcher)),
        RogueServer {
            logs: Default::default(),
            upstream: None,
            tamper: false,
        },
    );
    // A bigger tree of the honest log, its note signed by a key that is
    // neither the log's nor the publisher's.
    let third = SigningKey::from_bytes(&[8; 32]);
    let forged = SignedCheckpoint::sign(
        Checkpoint {
            origin: origin.clone(),
            size: 99,
            root: sha256(b"forged"),
        },
        &NoteSigner::new(&origin, third).unwrap(),
    );
    rogue.publish(&log_topic(&origin), forged.to_text().as_bytes());
    let me = rogue.p2p.peer_id().to_string();
    let seen = wait_for(
        Duration::from_secs(20),
        "the forged checkpoint to be rejected",
        || {
            peer_view(&watcher, &me).filter(|p| {
                p["invalid_messages"].as_u64() >= Some(1) && p["score"].as_f64() < Some(0.0)
            })
        },
    );
    assert!(
        seen["score"].as_f64().unwrap() <= -80.0,
        "graylisted: {seen}"
    );
    assert!(metric(&watcher, "ian_p2p_invalid_messages_total") >= 1);
    let view = log_view(&watcher, &origin).unwrap();
    assert_eq!(
        view["checkpoint"].as_str(),
        Some(real.as_str()),
        "the honest checkpoint stands"
    );
    assert_eq!(
        metric(&watcher, "ian_evidence_total"),
        0,
        "a forgery accuses nobody"
    );
}

#[test]
fn a_split_view_is_stored_as_fork_evidence_that_verifies_offline_and_the_log_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = "split.test/g";
    let first_key = SigningKey::from_bytes(&[9; 32]);
    // The watcher witnesses the log: its key is pinned, so a fork of it is
    // worth a durable record.
    let vkey = ian_core::note::NoteVerifier::new(
        origin,
        ian_core::note::TYPE_ED25519,
        ian_core::keys::PublicKeyBytes(first_key.verifying_key().to_bytes()),
    )
    .unwrap()
    .to_vkey();
    let logs_file = tmp.path().join("witnessed");
    std::fs::write(&logs_file, format!("log {vkey}\n")).unwrap();
    let watcher = plain_node(
        &tmp.path().join("w"),
        "watcher.test",
        &[
            ("IAN_WITNESS", "true"),
            ("IAN_WITNESS_LOGS_FILE", logs_file.to_str().unwrap()),
        ],
    );
    let logs = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let rogue_server = RogueServer {
        logs: logs.clone(),
        upstream: None,
        tamper: false,
    };
    let first = {
        let signer = NoteSigner::new(origin, first_key).unwrap();
        SignedCheckpoint::sign(
            Checkpoint {
                origin: origin.into(),
                size: 5,
                root: sha256(b"view one"),
            },
            &signer,
        )
    };
    logs.lock().push(first.to_text());
    let rogue = Rogue::start(9, Some(&p2p_addr(&watcher)), rogue_server);
    wait_for(
        Duration::from_secs(20),
        "the watcher to hear the first view",
        || log_view(&watcher, origin).filter(|l| l["size"] == 5),
    );
    let second = rogue.sign(origin, 5, sha256(b"view two"));
    rogue.publish(&log_topic(origin), second.to_text().as_bytes());
    let ev = wait_for(Duration::from_secs(20), "fork evidence", || {
        let e = watcher.get_json("/api/v1/evidence")["evidence"]
            .as_array()?
            .first()?
            .clone();
        Some(e)
    });
    assert_eq!(ev["kind"], "fork");
    assert_eq!(ev["origin"], origin);
    assert_eq!(log_view(&watcher, origin).unwrap()["forked"], true);
    assert_eq!(metric(&watcher, "ian_evidence_total"), 1);
    // Offline, with only the log's key: both trees were signed by it.
    let file = tmp.path().join("evidence.json");
    std::fs::write(&file, ev.to_string()).unwrap();
    assert_eq!(log_view(&watcher, origin).unwrap()["vkey"], vkey.as_str());
    let o = cli(&[
        "verify-evidence",
        file.to_str().unwrap(),
        "--log-vkey",
        &vkey,
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // A forked log is not followed: a later checkpoint changes nothing.
    // Offered in the rogue's `Logs` answer, which the watcher asks for
    // again every half second.
    let later = rogue.sign(origin, 6, sha256(b"later"));
    logs.lock().push(later.to_text());
    let served = rogue
        .p2p
        .counters()
        .served
        .load(std::sync::atomic::Ordering::SeqCst);
    wait_for(Duration::from_secs(20), "the watcher to ask again", || {
        (rogue
            .p2p
            .counters()
            .served
            .load(std::sync::atomic::Ordering::SeqCst)
            >= served + 2)
            .then_some(())
    });
    assert_eq!(log_view(&watcher, origin).unwrap()["size"], 5);
}

#[test]
fn a_peer_serving_a_tampered_entry_is_struck_with_evidence_and_the_mirror_copies_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, log_vkey) = node_with_entries(tmp.path(), "primary.test", 2);
    let real = http_get(&p.url, &format!("/logs/{GOAL}/checkpoint"));
    // The rogue claims to serve the primary's log (its Logs answer carries
    // the real checkpoint) and alters a byte of every entry bundle.
    let rogue_server = RogueServer {
        logs: std::sync::Arc::new(parking_lot::Mutex::new(vec![real.clone()])),
        upstream: Some(p.url.clone()),
        tamper: true,
    };
    let rogue = Rogue::start(11, None, rogue_server);
    let rogue_addr = rogue.p2p.listen_addrs()[0].to_string();
    // The mirror knows only the rogue at first.
    let m = start_p2p_mirror(&tmp.path().join("m"), "mirror.test", &log_vkey, &rogue_addr);
    let origin = format!("primary.test/{GOAL}");
    let ev = wait_for(
        Duration::from_secs(30),
        "evidence against the rogue",
        || {
            watcher_evidence(&m)
                .into_iter()
                .find(|e| e["kind"] == "bad_peer_data")
        },
    );
    assert_eq!(ev["served_by"], rogue.p2p.peer_id().to_string());
    assert_eq!(ev["origin"], origin);
    let struck = peer_view(&m, &rogue.p2p.peer_id().to_string()).unwrap();
    assert!(struck["bad_answers"].as_u64() >= Some(1), "{struck}");
    // Once the mirror meets the log's own node, it copies from there and
    // re-evaluates every entry.
    rogue.p2p.dial(p2p_addr(&p).parse().unwrap());
    wait_for(
        Duration::from_secs(30),
        "the mirror to re-evaluate from the primary",
        || (metric(&m, "ian_mirror_reevaluated_total") == 2).then_some(()),
    );
    assert!(
        watcher_evidence(&m)
            .iter()
            .all(|e| e["kind"] == "bad_peer_data"),
        "the log itself is not accused"
    );
}

fn watcher_evidence(n: &NodeProc) -> Vec<Value> {
    n.get_json("/api/v1/evidence")["evidence"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_peer_flooding_sync_requests_is_rate_limited_and_others_are_still_served() {
    let tmp = tempfile::tempdir().unwrap();
    let n = plain_node(
        &tmp.path().join("n"),
        "limited.test",
        &[
            ("IAN_P2P_REQUESTS_PER_SEC", "2"),
            ("IAN_P2P_REQUEST_BURST", "20"),
        ],
    );
    n.publish(&trading_goal(tmp.path(), GOAL, false));
    submit_as_new_contributor(&n, tmp.path(), GOAL, "k0", "position=0.1");
    let origin = format!("limited.test/{GOAL}");
    let target: PeerId = p2p_addr(&n).rsplit('/').next().unwrap().parse().unwrap();
    let quiet = RogueServer {
        logs: Default::default(),
        upstream: None,
        tamper: false,
    };
    let flood = Rogue::start(21, Some(&p2p_addr(&n)), quiet);
    let req = || SyncRequest::Checkpoint {
        origin: origin.clone(),
    };
    wait_for(Duration::from_secs(20), "a connection", || {
        flood.rt.block_on(flood.p2p.request(target, req())).ok()
    });
    let (mut ok, mut limited) = (0, 0);
    for _ in 0..200 {
        match flood.rt.block_on(flood.p2p.request(target, req())) {
            Ok(_) => ok += 1,
            Err(ian_p2p::P2pError::Refused { error, .. }) if error.code == "rate_limited" => {
                limited += 1
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert!(limited >= 150, "{limited} of 200 refused, {ok} served");
    // The burst of 20, less the requests made before the loop (the
    // connection check, the peer's own `Logs` requests on connect).
    assert!((15..=30).contains(&ok), "the burst is served: {ok}");
    assert!(metric(&n, "ian_p2p_rate_limited_total") >= 150);
    // Another peer has its own budget.
    let other = Rogue::start(
        22,
        Some(&p2p_addr(&n)),
        RogueServer {
            logs: Default::default(),
            upstream: None,
            tamper: false,
        },
    );
    let got = wait_for(
        Duration::from_secs(20),
        "the other peer to be served",
        || other.rt.block_on(other.p2p.request(target, req())).ok(),
    );
    let cp = SignedCheckpoint::parse(&got).unwrap();
    assert_eq!(cp.checkpoint.origin, origin);
}

#[test]
fn a_mirror_killed_while_copying_over_libp2p_restarts_and_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, log_vkey) = node_with_entries(tmp.path(), "primary.test", 6);
    let served_before = metric(&p, "ian_p2p_requests_served_total");
    let dir = tmp.path().join("m");
    let mut m = start_p2p_mirror(&dir, "mirror.test", &log_vkey, &p2p_addr(&p));
    // Killed once the primary has started serving it (its `Logs` request
    // and the first copies).
    wait_for(
        Duration::from_secs(20),
        "the mirror to start copying",
        || (metric(&p, "ian_p2p_requests_served_total") >= served_before + 3).then_some(()),
    );
    let child = m.child.take().unwrap();
    send_signal(child.id(), "KILL");
    drop(child);
    std::thread::sleep(Duration::from_millis(200));
    let m = start_p2p_mirror(&dir, "mirror.test", &log_vkey, &p2p_addr(&p));
    wait_for(
        Duration::from_secs(30),
        "the restarted mirror to re-evaluate all six",
        || (metric(&m, "ian_mirror_reevaluated_total") == 6).then_some(()),
    );
    let published = http_get(&p.url, &format!("/logs/{GOAL}/checkpoint"));
    assert_eq!(
        log_view(&m, &format!("primary.test/{GOAL}")).unwrap()["checkpoint"].as_str(),
        Some(published.as_str())
    );
    assert_eq!(metric(&m, "ian_evidence_total"), 0);
}

/// Separate hosts: network namespaces on one bridge, each with its own
/// address. The test reaches every host over the bridge and can cut one
/// host's link (a partition) and restore it.
struct Hosts {
    tag: String,
    subnet: String,
    n: usize,
}

fn sh(args: &[&str]) -> bool {
    std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

impl Hosts {
    /// `None` where namespaces cannot be made (not root, no `ip`).
    fn new(n: usize) -> Option<Hosts> {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root || !sh(&["ip", "-V"]) {
            return None;
        }
        let id = std::process::id() % 100;
        let h = Hosts {
            tag: format!("ian{id}"),
            subnet: format!("10.{}.0", 150 + id),
            n,
        };
        let (t, s) = (&h.tag, &h.subnet);
        let br = format!("{t}br");
        let ok = sh(&["ip", "link", "add", &br, "type", "bridge"])
            && sh(&["ip", "addr", "add", &format!("{s}.1/24"), "dev", &br])
            && sh(&["ip", "link", "set", &br, "up"]);
        if !ok {
            return None;
        }
        for i in 0..n {
            let (ns, host, inner) = (h.ns(i), format!("{t}h{i}"), format!("{t}c{i}"));
            let ok = sh(&["ip", "netns", "add", &ns])
                && sh(&[
                    "ip", "link", "add", &host, "type", "veth", "peer", "name", &inner,
                ])
                && sh(&["ip", "link", "set", &inner, "netns", &ns])
                && sh(&["ip", "link", "set", &host, "master", &br, "up"])
                && sh(&[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", h.ip(i)),
                    "dev",
                    &inner,
                ])
                && sh(&[
                    "ip", "netns", "exec", &ns, "ip", "link", "set", &inner, "up",
                ])
                && sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
            assert!(ok, "setting up network namespace {ns}");
        }
        Some(h)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, i + 2)
    }

    /// Cuts (or restores) host `i`'s link to the bridge.
    fn link(&self, i: usize, up: bool) {
        let dev = format!("{}h{i}", self.tag);
        assert!(sh(&[
            "ip",
            "link",
            "set",
            &dev,
            if up { "up" } else { "down" }
        ]));
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..self.n {
            sh(&["ip", "netns", "del", &self.ns(i)]);
        }
        sh(&["ip", "link", "del", &format!("{}br", self.tag)]);
    }
}

#[test]
fn a_partitioned_mirror_falls_behind_and_catches_up_when_the_network_heals() {
    let Some(hosts) = Hosts::new(2) else {
        eprintln!("skipped: network namespaces need root and iproute2");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let env = |i: usize, name: &str| -> Vec<(String, String)> {
        vec![
            ("IAN_NODE_NAME".into(), name.into()),
            ("IAN_LISTEN".into(), format!("{}:7878", hosts.ip(i))),
            ("IAN_P2P".into(), "true".into()),
            (
                "IAN_P2P_LISTEN".into(),
                format!("/ip4/{}/tcp/7879", hosts.ip(i)),
            ),
            ("IAN_P2P_DISCOVERY_MS".into(), "500".into()),
        ]
    };
    let in_ns = |i: usize, data: &Path, env: &[(String, String)]| {
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        NodeProc::start_in(Some(&hosts.ns(i)), data, &e)
    };
    let a = in_ns(0, &tmp.path().join("a"), &env(0, "primary.test"));
    a.publish(&trading_goal(tmp.path(), GOAL, false));
    submit_keys(&a, tmp.path(), 0..2);
    let log_vkey = a.get_json(&format!("/api/v1/goals/{GOAL}"))["log_vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let logs = tmp.path().join("logs");
    std::fs::write(&logs, format!("log {log_vkey} p2p\n")).unwrap();
    let mut benv = env(1, "mirror.test");
    benv.extend([
        ("IAN_WITNESS".to_string(), "true".to_string()),
        ("IAN_WITNESS_REEVALUATE".into(), "true".into()),
        ("IAN_WITNESS_RETRY_MS".into(), "200".into()),
        ("IAN_WITNESS_LOGS_FILE".into(), logs.display().to_string()),
        ("IAN_P2P_BOOTSTRAP".into(), p2p_addr(&a)),
    ]);
    let b = in_ns(1, &tmp.path().join("b"), &benv);
    let origin = format!("primary.test/{GOAL}");
    wait_for(
        Duration::from_secs(20),
        "the mirror to copy the first two",
        || (metric(&b, "ian_mirror_reevaluated_total") == 2).then_some(()),
    );

    hosts.link(1, false);
    // The primary goes on alone.
    for r in submit_keys(&a, tmp.path(), 2..5) {
        assert_eq!(r["status"], "accepted", "{r}");
    }
    // The mirror, asked from inside its own host, has not heard of them.
    std::thread::sleep(Duration::from_secs(1));
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", &hosts.ns(1)])
        .arg(bin())
        .args(["peers", "--json", "--node", &b.url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let seen: Value = serde_json::from_slice(&o.stdout).unwrap();
    let size = seen["status"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["origin"] == origin.as_str())
        .map(|l| l["size"].clone());
    assert_eq!(size, Some(2.into()), "partitioned, the mirror stays at 2");

    hosts.link(1, true);
    wait_for(
        Duration::from_secs(30),
        "the healed mirror to re-evaluate all five",
        || (metric(&b, "ian_mirror_reevaluated_total") == 5).then_some(()),
    );
    let published = http_get(&a.url, &format!("/logs/{GOAL}/checkpoint"));
    wait_for(
        Duration::from_secs(10),
        "the mirror to hold the primary's checkpoint",
        || {
            (log_view(&b, &origin)?["checkpoint"].as_str() == Some(published.as_str()))
                .then_some(())
        },
    );
    assert_eq!(metric(&b, "ian_evidence_total"), 0);
}
