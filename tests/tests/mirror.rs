//! Mirrors: witnesses that copy a log and re-evaluate every new entry in
//! their own sandbox before they cosign. A primary whose witness policy
//! names a mirror publishes a checkpoint as final only once the mirror has
//! reproduced every entry below it bit for bit.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ian_core::SignedCheckpoint;
use ian_tests::*;

const GOAL: &str = "mirrored";

/// A primary (`primary.test`) with the trading goal and one accepted
/// entry; its log's vkey.
fn primary_with_one_entry(dir: &Path, tag: &str) -> (NodeProc, String) {
    let p = NodeProc::start(&dir.join("primary"), &[("IAN_NODE_NAME", "primary.test")]);
    p.publish(&trading_goal(dir, GOAL, false));
    submit_n(&p, dir, tag, 1);
    let vkey = p.get_json(&format!("/api/v1/goals/{GOAL}"))["log_vkey"]
        .as_str()
        .unwrap()
        .to_string();
    (p, vkey)
}

/// Submits `n` distinct packs with the CLI, each under its own key; the
/// replies.
fn submit_n(node: &NodeProc, dir: &Path, tag: &str, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let params = format!("position=0.{}{i}", tag.len());
            submit_as_new_contributor(node, dir, GOAL, &format!("{tag}{i}"), &params)
        })
        .collect()
}

#[test]
fn a_mirror_reevaluates_every_entry_before_the_primary_publishes_and_catches_up_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let pdata = tmp.path().join("primary");
    let base = [
        ("IAN_NODE_NAME", "primary.test"),
        ("IAN_LISTEN", listen.as_str()),
    ];
    let mut p = NodeProc::start(&pdata, &base);
    p.publish(&trading_goal(tmp.path(), GOAL, true));
    let log_vkey = p.get_json(&format!("/api/v1/goals/{GOAL}"))["log_vkey"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(p.stop());
    let primary_url = format!("http://{listen}");
    let mut m = start_mirror(&tmp.path().join("m"), &log_vkey, &primary_url, &[]);
    let info = m.get_json("/api/v1/node");
    assert_eq!(info["reevaluates"], true);
    let mvkey = info["witness_vkey"].as_str().unwrap().to_string();
    let policy = tmp.path().join("policy");
    std::fs::write(
        &policy,
        format!(
            "log {log_vkey}\nwitness m {mvkey} {}/witness\nquorum m\n",
            m.url
        ),
    )
    .unwrap();
    let mut env = base.to_vec();
    env.push(("IAN_WITNESS_POLICY", policy.to_str().unwrap()));
    env.push(("IAN_WITNESS_RETRY_MS", "100"));
    let p = NodeProc::start(&pdata, &env);

    // Each submission is final only once the mirror re-evaluated it.
    let replies = submit_n(&p, tmp.path(), "a", 3);
    assert!(
        replies.iter().all(|r| r["witnessed"] == true),
        "{replies:?}"
    );
    assert_eq!(metric(&m, "ian_mirror_reevaluated_total"), 3);
    assert_eq!(metric(&m, "ian_evidence_total"), 0);
    let cp =
        SignedCheckpoint::parse(http_get(&p.url, &format!("/logs/{GOAL}/checkpoint")).as_bytes())
            .unwrap();
    assert_eq!(cp.checkpoint.size, 3);

    // A mirror killed loses its replica; after a restart it copies and
    // re-evaluates the whole log again before its next cosignature.
    let mdata = m.data.clone();
    let child = m.child.take().unwrap();
    send_signal(child.id(), "KILL");
    let _ = Command::new("true").status();
    drop(child);
    std::thread::sleep(Duration::from_millis(200));
    let logs = tmp.path().join("m").join("logs");
    m = NodeProc::start(
        &mdata,
        &[
            ("IAN_NODE_NAME", "mirror.test"),
            ("IAN_WITNESS", "true"),
            ("IAN_WITNESS_REEVALUATE", "true"),
            ("IAN_WITNESS_LOGS_FILE", logs.to_str().unwrap()),
            ("IAN_LISTEN", m.url.trim_start_matches("http://")),
        ],
    );
    let replies = submit_n(&p, tmp.path(), "bb", 2);
    assert!(
        replies.iter().all(|r| r["witnessed"] == true),
        "{replies:?}"
    );
    assert_eq!(
        metric(&m, "ian_mirror_reevaluated_total"),
        5,
        "all five, again"
    );
    let evidence = m.get_json("/api/v1/evidence");
    assert_eq!(evidence["evidence"], serde_json::json!([]));
}

#[test]
fn a_mirror_with_another_sandbox_configuration_refuses_to_judge_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, log_vkey) = primary_with_one_entry(tmp.path(), "c");
    // The WASI wall clock is part of the sandbox configuration hash.
    let m = start_mirror(
        &tmp.path().join("m2"),
        &log_vkey,
        &p.url,
        &[("IAN_SANDBOX_WASI_WALL_CLOCK_SECS", "1")],
    );
    let note = http_get(&p.url, &format!("/logs/{GOAL}/checkpoint"));
    let body = format!("old 0\n\n{note}");
    let (status, _, out) = http_post(&m.url, "/witness/add-checkpoint", &body);
    assert_eq!(status, 422, "{out}");
    assert!(out.contains("cannot judge"), "{out}");
    assert!(out.contains("config"), "{out}");
    assert_eq!(
        metric(&m, "ian_evidence_total"),
        0,
        "refusing to judge is not an accusation"
    );
}

/// A byzantine log: serves a real node's goal, packs and code, but its own
/// entry bundle (an entry whose metrics were altered after evaluation) under
/// its own signed checkpoint. Answers GETs until the test ends.
fn byzantine_log(
    real: &str,
    bundle: Vec<u8>,
    checkpoint: std::sync::Arc<std::sync::Mutex<String>>,
) -> String {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let real = real.to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(c.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            let body = if path.starts_with(&format!("/logs/{GOAL}/tile/entries/")) {
                bundle.clone()
            } else if path == format!("/logs/{GOAL}/checkpoint") {
                checkpoint.lock().unwrap().clone().into_bytes()
            } else {
                // Everything else is the honest node's, byte for byte.
                let addr = real.trim_start_matches("http://");
                let mut u = std::net::TcpStream::connect(addr).unwrap();
                write!(
                    u,
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut all = Vec::new();
                std::io::Read::read_to_end(&mut u, &mut all).unwrap();
                let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                all[split + 4..].to_vec()
            };
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(&body);
        }
    });
    url
}

#[test]
fn an_entry_whose_metrics_were_altered_is_caught_stored_as_evidence_and_not_cosigned() {
    let tmp = tempfile::tempdir().unwrap();
    let p = NodeProc::start(
        &tmp.path().join("primary"),
        &[("IAN_NODE_NAME", "primary.test")],
    );
    p.publish(&trading_goal(tmp.path(), GOAL, false));
    let reply = submit_n(&p, tmp.path(), "d", 1).remove(0);
    // The honest entry, with its reward raised after the fact. The
    // contributor's signature does not cover metrics, so only a
    // re-evaluation can tell.
    let mut entry: ian_core::LogEntry = serde_json::from_value(reply["entry"].clone()).unwrap();
    entry.metrics.reward = ian_core::Finite::new(entry.metrics.reward.get() + 1.0).unwrap();
    // ... and the score made consistent with it, so the entry is valid
    // under the goal's rules and only re-running the agent can tell.
    let manifest: ian_core::GoalManifest = serde_json::from_value(
        p.get_json(&format!("/api/v1/goals/{GOAL}/manifest"))["manifest"].clone(),
    )
    .unwrap();
    entry.score = ian_core::pipeline::score_of(&manifest, &entry.metrics).unwrap();
    let bytes = entry.to_canonical_bytes();
    let mut bundle = (bytes.len() as u16).to_be_bytes().to_vec();
    bundle.extend_from_slice(&bytes);
    let served = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let url = byzantine_log(&p.url, bundle, served.clone());
    // Its own log key signs a checkpoint over the altered entry.
    let key = ed25519_dalek::SigningKey::from_bytes(&[77; 32]);
    let log = ian_core::note::NoteSigner::new(&format!("byzantine.test/{GOAL}"), key).unwrap();
    let mut mmr = ian_core::MemMmr::new_in_memory();
    mmr.append(&bytes).unwrap();
    let cp = SignedCheckpoint::sign(
        ian_core::Checkpoint {
            origin: log.name().into(),
            size: 1,
            root: mmr.root().unwrap(),
        },
        &log,
    );
    *served.lock().unwrap() = cp.to_text();
    let m = start_mirror(
        &tmp.path().join("m3"),
        &log.verifier().to_vkey(),
        &url,
        &[("IAN_WITNESS_RETRY_MS", "50")],
    );
    let body = format!("old 0\n\n{}", cp.to_text());
    let (status, _, out) = http_post(&m.url, "/witness/add-checkpoint", &body);
    assert_eq!(status, 422, "{out}");
    assert!(out.contains("re-evaluates differently"), "{out}");
    assert!(out.contains("reward"), "{out}");
    // Following the log and being asked again give the same refusal, not
    // a new download and a new record each time.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(metric(&m, "ian_evidence_total"), 1);
    assert_eq!(metric(&m, "ian_mirror_reevaluated_total"), 0);
    let page = http_get(&m.url, "/");
    assert!(page.contains("stored: <strong>1</strong>"), "{page}");
    // The evidence carries the log's own signed receipt for the entry:
    // anyone holding the log's key can check the log really said it.
    let ev = m.get_json("/api/v1/evidence");
    let item = &ev["evidence"][0];
    assert_eq!(item["kind"], "reevaluation_mismatch");
    assert_eq!(item["index"], 0);
    let receipt = ian_core::Receipt::parse(item["receipt"].as_str().unwrap().as_bytes()).unwrap();
    receipt.verify(&log.verifier()).unwrap();
    assert_eq!(receipt.entry.metrics.reward, entry.metrics.reward);
    assert!(
        item["differences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["field"] == "reward"),
        "{item}"
    );
    // Offline, with only the log's key: the log did sign those bits.
    let file = tmp.path().join("evidence.json");
    std::fs::write(&file, serde_json::to_vec(&ev).unwrap()).unwrap();
    let vkey = log.verifier().to_vkey();
    let o = cli(&[
        "verify-evidence",
        file.to_str().unwrap(),
        "--log-vkey",
        &vkey,
        "--json",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json_out(&o)[0]["proven"], true);
    let other = ian_core::note::NoteSigner::new(
        &format!("byzantine.test/{GOAL}"),
        ed25519_dalek::SigningKey::from_bytes(&[78; 32]),
    )
    .unwrap()
    .verifier()
    .to_vkey();
    let o = cli(&[
        "verify-evidence",
        file.to_str().unwrap(),
        "--log-vkey",
        &other,
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    // An honest receipt relabelled as another entry's accusation is not
    // shown by the log's signature.
    let mut forged = ev.clone();
    forged["evidence"][0]["index"] = serde_json::json!(5);
    std::fs::write(&file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let o = cli(&[
        "verify-evidence",
        file.to_str().unwrap(),
        "--log-vkey",
        &vkey,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert_eq!(json_out(&o)[0]["proven"], false);
}

#[test]
fn two_nodes_forwarding_to_each_other_do_not_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let (la, lb) = (format!("127.0.0.1:{pa}"), format!("127.0.0.1:{pb}"));
    let (ua, ub) = (format!("http://{la}"), format!("http://{lb}"));
    let a = NodeProc::start(
        &tmp.path().join("a"),
        &[("IAN_LISTEN", la.as_str()), ("IAN_FORWARD_TO", ub.as_str())],
    );
    let _b = NodeProc::start(
        &tmp.path().join("b"),
        &[("IAN_LISTEN", lb.as_str()), ("IAN_FORWARD_TO", ua.as_str())],
    );
    // a forwards once to b; b does not forward a forwarded request back.
    let addr = a.url.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "GET /api/v1/goals/nowhere HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("unknown_goal"), "{out}");
}

#[test]
fn a_node_forwards_submissions_for_goals_it_does_not_hold_and_returns_the_primarys_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let p = NodeProc::start(
        &tmp.path().join("primary"),
        &[("IAN_NODE_NAME", "primary.test")],
    );
    p.publish(&trading_goal(tmp.path(), GOAL, false));
    let f = NodeProc::start(
        &tmp.path().join("follower"),
        &[
            ("IAN_NODE_NAME", "follower.test"),
            ("IAN_FORWARD_TO", p.url.as_str()),
        ],
    );
    let reply = submit_n(&f, tmp.path(), "e", 1).remove(0);
    assert_eq!(reply["status"], "accepted");
    // The receipt is the primary's: its origin, its key.
    let receipt = tmp.path().join("fwd.tlog-proof");
    std::fs::write(&receipt, reply["receipt"].as_str().unwrap()).unwrap();
    let pkey = p.get_json("/api/v1/node")["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let o = cli(&["verify", receipt.to_str().unwrap(), "--node-key", &pkey]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("primary.test/"), "{}", stdout(&o));
    assert_eq!(p.get_json(&format!("/api/v1/goals/{GOAL}"))["log_size"], 1);
    assert_eq!(f.get_json("/api/v1/goals")["goals"], serde_json::json!([]));
    // A rejection comes back as the primary's rejection.
    let key = keygen(tmp.path(), "rej.key");
    let bad = pack(tmp.path(), "buy-and-hold", "position=oops", "rej.ianpack");
    let o = f.cli(&[
        "submit",
        bad.to_str().unwrap(),
        "--goal",
        GOAL,
        "--key",
        key.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn a_mirror_follows_the_log_on_its_own_and_reevaluates_new_entries_as_they_appear() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, log_vkey) = primary_with_one_entry(tmp.path(), "f");
    // No witness policy on the primary: nobody asks the mirror to cosign.
    let m = start_mirror(
        &tmp.path().join("m4"),
        &log_vkey,
        &p.url,
        &[("IAN_WITNESS_RETRY_MS", "50")],
    );
    submit_n(&p, tmp.path(), "gg", 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while metric(&m, "ian_mirror_reevaluated_total") < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the mirror did not follow the log: {}",
            metric(&m, "ian_mirror_reevaluated_total")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&m, "ian_mirror_reevaluated_total"), 3);
    assert_eq!(metric(&m, "ian_evidence_total"), 0);
}
