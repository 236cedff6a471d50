//! The log speaks the transparency-log standards, checked by software this
//! project did not write: Go's `golang.org/x/mod/sumdb/note` and
//! `sumdb/tlog` (Debian's golang-golang-x-mod-dev, unmodified) verify a
//! real node's checkpoint note, inclusion and consistency proofs, tiles and
//! receipts; witnesses speak c2sp.org/tlog-witness to each other, and a
//! node publishes a checkpoint as final only with its policy's quorum.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ian_core::checkpoint::{Checkpoint, SignedCheckpoint};
use ian_core::mmr::MemMmr;
use ian_core::note::{NoteSigner, hash_to_base64};
use ian_tests::*;

const GOAL: &str = "tlog";

/// Builds `interop/tlogcheck` with the Debian Go toolchain and x/mod
/// package, in GOPATH mode (nothing is fetched).
fn tlogcheck() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Under target/tmp, not /tmp: one binary per checkout, rebuilt by
        // each run (Go's cache makes that quick), never left behind per run.
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let out = tmp.join("ian-tlogcheck");
        let src = repo_path("interop/tlogcheck");
        let o = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(&src)
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env("GOCACHE", tmp.join("ian-gocache"))
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run `go` ({e}): install golang-go and golang-golang-x-mod-dev (scripts/test.sh does)")
            });
        assert!(
            o.status.success(),
            "go build interop/tlogcheck failed (are golang-go and golang-golang-x-mod-dev installed?): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
    .clone()
}

/// Submits `n` distinct buy-and-hold packs (8 at a time); returns the
/// receipts of the first and last, as submit replies.
fn fill(node: &NodeProc, dir: &Path, n: u64) -> Vec<serde_json::Value> {
    let packed = pack(dir, "buy-and-hold", "position=1.0", "bh.ianpack");
    let (pack, code) = ian_core::PackFile::from_bytes(&std::fs::read(&packed).unwrap())
        .unwrap()
        .into_parts();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let replies = rt.block_on(async {
        let client = ian_node::cli::client::Client::new(&node.url).unwrap();
        let mut tasks = Vec::new();
        for k in 0..8u8 {
            let (client, code, pack, counter) =
                (client.clone(), code.clone(), pack.clone(), counter.clone());
            tasks.push(tokio::spawn(async move {
                let key = ed25519_dalek::SigningKey::from_bytes(&[k + 70; 32]);
                let mut replies = Vec::new();
                loop {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return replies;
                    }
                    let p = ian_core::AgentPack::new(
                        pack.code_hash(),
                        format!("position=0.{i:07}").into_bytes(),
                        pack.metadata().clone(),
                    )
                    .unwrap();
                    let nonce = ian_node::cli::ops::nonce_now();
                    let c = ian_node::cli::ops::sign(GOAL, p, nonce, &key).unwrap();
                    let req = ian_node::cli::ops::submit_request(GOAL, c, Some(&code), 0);
                    let r = ian_node::cli::ops::post_submission(&client, GOAL, &req)
                        .await
                        .expect("submission");
                    match r {
                        ian_node::cli::ops::SubmitOutcome::Accepted(a) => {
                            replies.push(serde_json::to_value(&*a).unwrap())
                        }
                        other => panic!("submission {i} not accepted: {other:?}"),
                    }
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    assert_eq!(replies.len() as u64, n);
    replies
}

fn goal_status(node: &NodeProc) -> serde_json::Value {
    node.get_json(&format!("/api/v1/goals/{GOAL}"))
}

fn run_tlogcheck(node: &NodeProc, extra: &[&str]) -> (bool, String) {
    let vkey = goal_status(node)["log_vkey"].as_str().unwrap().to_string();
    let o = Command::new(tlogcheck())
        .args([
            "-url", &node.url, "-goal", GOAL, "-vkey", &vkey, "-samples", "40",
        ])
        .args(extra)
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

#[test]
fn go_sumdb_verifies_the_checkpoint_proofs_tiles_and_receipts_of_a_real_node() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[("IAN_NODE_NAME", "ian.test")]);
    node.publish(&trading_goal(tmp.path(), GOAL, false));
    // 700 entries: two full level-0 tiles and a partial one, a partial
    // level-1 tile; proofs that cross tile and peak boundaries.
    let replies = fill(&node, tmp.path(), 700);
    let status = goal_status(&node);
    assert_eq!(status["origin"], "ian.test/tlog");
    let receipts: Vec<PathBuf> = replies
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, r)| {
            let p = tmp.path().join(format!("r{i}.tlog-proof"));
            std::fs::write(&p, r["receipt"].as_str().unwrap()).unwrap();
            p
        })
        .collect();
    let mut args = Vec::new();
    for r in &receipts {
        args.push("-receipt");
        args.push(r.to_str().unwrap());
    }
    let (ok, out) = run_tlogcheck(&node, &args);
    assert!(ok, "Go's sumdb tools refused the log:\n{out}");
    assert!(out.contains("ok:"), "{out}");
    assert!(
        out.contains("size 700") || out.contains("N=700") || out.contains("700"),
        "{out}"
    );
}

#[test]
fn go_sumdb_refuses_the_log_under_another_key() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[("IAN_NODE_NAME", "ian.test")]);
    node.publish(&trading_goal(tmp.path(), GOAL, false));
    fill(&node, tmp.path(), 3);
    let other = NoteSigner::new(
        "ian.test/tlog",
        ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
    )
    .unwrap()
    .verifier()
    .to_vkey();
    let o = Command::new(tlogcheck())
        .args(["-url", &node.url, "-goal", GOAL, "-vkey", &other])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stdout(&o));
}

#[test]
fn tiles_and_entry_bundles_are_immutable_and_refused_beyond_the_signed_size() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    node.publish(&trading_goal(tmp.path(), GOAL, false));
    fill(&node, tmp.path(), 5);
    let (status, _, tile) = http_get_raw(&node.url, &format!("/logs/{GOAL}/tile/0/000.p/5"));
    assert_eq!(status, 200);
    assert_eq!(tile.len(), 5 * 32);
    // The partial level-0 tile holds the leaf hashes; the log's own proof
    // API gives the same leaf hash for entry 4.
    let proof = node.get_json(&format!("/api/v1/goals/{GOAL}/log/4/proof"));
    let leaf: ian_core::Hash32 = serde_json::from_value(proof["leaf_hash"].clone()).unwrap();
    assert_eq!(tile[4 * 32..], leaf.0);
    // The bundle frames the five entries: u16 length, entry bytes.
    let (status, _, bundle) =
        http_get_raw(&node.url, &format!("/logs/{GOAL}/tile/entries/000.p/5"));
    assert_eq!(status, 200);
    let mut rest = &bundle[..];
    let mut n = 0;
    while !rest.is_empty() {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let entry = ian_core::LogEntry::from_canonical_bytes(&rest[2..2 + len]).unwrap();
        assert_eq!(entry.log_index, n);
        rest = &rest[2 + len..];
        n += 1;
    }
    assert_eq!(n, 5);
    for (path, code) in [
        (format!("/logs/{GOAL}/tile/0/000.p/6"), 404),
        (format!("/logs/{GOAL}/tile/0/000"), 404),
        (format!("/logs/{GOAL}/tile/entries/000.p/9"), 404),
        (format!("/logs/{GOAL}/tile/0/0"), 404),
    ] {
        let (status, _, _) = http_get_raw(&node.url, &path);
        assert_eq!(status, code, "{path}");
    }
    let (_, headers, _) = http_get_raw(&node.url, &format!("/logs/{GOAL}/tile/0/000.p/5"));
    assert!(headers.contains("immutable"), "{headers}");
    let (_, headers, note) = http_get_raw(&node.url, &format!("/logs/{GOAL}/checkpoint"));
    assert!(headers.contains("text/plain"), "{headers}");
    assert!(!headers.contains("immutable"), "{headers}");
    let cp = SignedCheckpoint::parse(&note).unwrap();
    assert_eq!(cp.checkpoint.size, 5);
}

/// A log of `n` one-byte entries signed by a test key, and its signer.
fn test_log(n: u64) -> (MemMmr, NoteSigner) {
    let mut m = MemMmr::new_in_memory();
    for i in 0..n {
        m.append(&i.to_be_bytes()).unwrap();
    }
    let s = NoteSigner::new(
        "log.test/a",
        ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
    )
    .unwrap();
    (m, s)
}

fn add_checkpoint_body(m: &MemMmr, s: &NoteSigner, old: u64, size: u64) -> String {
    let cp = SignedCheckpoint::sign(
        Checkpoint {
            origin: s.name().into(),
            size,
            root: m.root_at(size).unwrap(),
        },
        s,
    );
    let mut b = format!("old {old}\n");
    for h in m.consistency_proof(old, size).unwrap().hashes {
        b.push_str(&hash_to_base64(&h));
        b.push('\n');
    }
    b.push('\n');
    b.push_str(&cp.to_text());
    b
}

fn start_witness(dir: &Path, logs: &[String]) -> NodeProc {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("witnessed-logs");
    let text: String = logs.iter().map(|v| format!("log {v}\n")).collect();
    std::fs::write(&file, text).unwrap();
    NodeProc::start(
        &dir.join("witness-data"),
        &[
            ("IAN_NODE_NAME", "witness.test"),
            ("IAN_WITNESS", "true"),
            ("IAN_WITNESS_LOGS_FILE", file.to_str().unwrap()),
        ],
    )
}

#[test]
fn the_witness_answers_add_checkpoint_as_tlog_witness_specifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, s) = test_log(20);
    let mut w = start_witness(tmp.path(), &[s.verifier().to_vkey()]);
    let vkey = w.get_json("/api/v1/node")["witness_vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let wv = ian_core::note::NoteVerifier::parse(&vkey).unwrap();
    let url = w.url.clone();
    let add = |body: &str| http_post(&url, "/witness/add-checkpoint", body);

    // Unknown origin: 404.
    let other = NoteSigner::new(
        "log.test/b",
        ed25519_dalek::SigningKey::from_bytes(&[6; 32]),
    )
    .unwrap();
    assert_eq!(add(&add_checkpoint_body(&m, &other, 0, 5)).0, 404);
    // A known origin signed by another key: 403.
    let forger = NoteSigner::new(
        "log.test/a",
        ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    )
    .unwrap();
    assert_eq!(add(&add_checkpoint_body(&m, &forger, 0, 5)).0, 403);
    // Garbage: 400; old above the size: 400.
    assert_eq!(add("hello\n\nworld\n").0, 400);
    let mut above = add_checkpoint_body(&m, &s, 0, 5);
    above = above.replacen("old 0", "old 9", 1);
    assert_eq!(add(&above).0, 400);
    // From 0 the proof must be empty, and a size-0 checkpoint must carry
    // the empty tree's root: 422 both.
    let mut padded = add_checkpoint_body(&m, &s, 0, 5);
    padded = padded.replacen(
        "old 0\n",
        &format!("old 0\n{}\n", hash_to_base64(&m.root_at(1).unwrap())),
        1,
    );
    assert_eq!(add(&padded).0, 422);
    let zero = SignedCheckpoint::sign(
        Checkpoint {
            origin: "log.test/a".into(),
            size: 0,
            root: ian_core::Hash32([1; 32]),
        },
        &s,
    );
    assert_eq!(add(&format!("old 0\n\n{}", zero.to_text())).0, 422);
    // First checkpoint from 0: cosigned, and the line verifies.
    let (st, _, body) = add(&add_checkpoint_body(&m, &s, 0, 5));
    assert_eq!(st, 200, "{body}");
    let line = ian_core::note::NoteSignature::parse_line(body.trim_end()).unwrap();
    let text = Checkpoint {
        origin: "log.test/a".into(),
        size: 5,
        root: m.root_at(5).unwrap(),
    }
    .body();
    assert!(wv.check(&text, &line).unwrap().is_some());
    // A stale old size: 409 with the stored size as text/x.tlog.size.
    let (st, ctype, body) = add(&add_checkpoint_body(&m, &s, 0, 12));
    assert_eq!(
        (st, ctype.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );
    // A consistency proof that does not verify: 422.
    let mut bad = add_checkpoint_body(&m, &s, 5, 12);
    let first_hash = bad.lines().nth(1).unwrap().to_string();
    bad = bad.replacen(&first_hash, &hash_to_base64(&ian_core::Hash32([9; 32])), 1);
    assert_eq!(add(&bad).0, 422);
    // (The same size with another root is a fork: see the test below.)
    // A signature line by the log's key name and id that does not verify:
    // 403 (the note is malformed).
    let good = add_checkpoint_body(&m, &s, 5, 12);
    let sig_line = good.lines().last().unwrap().to_string();
    let mut raw = ian_core::note::base64_decode(sig_line.rsplit(' ').next().unwrap()).unwrap();
    raw[10] ^= 1;
    let forged = good.replace(
        &sig_line,
        &format!(
            "\u{2014} log.test/a {}",
            ian_core::note::base64_encode(&raw)
        ),
    );
    assert_eq!(add(&forged).0, 403);
    // The right proof from 5 to 12: cosigned.
    assert_eq!(add(&good).0, 200);
    // The latest cosigned checkpoint survives a restart: old 5 is now a
    // conflict at 12, and the monitoring route serves it.
    assert!(w.stop());
    let w = start_witness(tmp.path(), &[s.verifier().to_vkey()]);
    let (st, _, body) = http_post(
        &w.url,
        "/witness/add-checkpoint",
        &add_checkpoint_body(&m, &s, 5, 20),
    );
    assert_eq!((st, body.as_str()), (409, "12\n"));
    let origin_hash = ian_core::sha256(b"log.test/a").to_hex();
    let served = http_get(&w.url, &format!("/witness/{origin_hash}/checkpoint"));
    let cp = SignedCheckpoint::parse(served.as_bytes()).unwrap();
    assert_eq!(cp.checkpoint.size, 12);
    assert_eq!(cp.cosigned_by([&wv]).unwrap().len(), 1);
}

#[test]
fn concurrent_add_checkpoints_from_one_old_size_cosign_exactly_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, _) = test_log(12);
    let logs: Vec<NoteSigner> = (0..8u8)
        .map(|i| {
            NoteSigner::new(
                &format!("log.test/race{i}"),
                ed25519_dalek::SigningKey::from_bytes(&[i + 20; 32]),
            )
            .unwrap()
        })
        .collect();
    let vkeys: Vec<String> = logs.iter().map(|l| l.verifier().to_vkey()).collect();
    let w = start_witness(tmp.path(), &vkeys);
    for l in &logs {
        // Two clients race from old size 0 to different sizes: the check
        // and the update are one step, so one wins and the other sees 409.
        let (a, b) = (
            add_checkpoint_body(&m, l, 0, 5),
            add_checkpoint_body(&m, l, 0, 12),
        );
        let (u1, u2) = (w.url.clone(), w.url.clone());
        let t1 = std::thread::spawn(move || http_post(&u1, "/witness/add-checkpoint", &a));
        let t2 = std::thread::spawn(move || http_post(&u2, "/witness/add-checkpoint", &b));
        let mut codes = [t1.join().unwrap().0, t2.join().unwrap().0];
        codes.sort();
        assert_eq!(codes, [200, 409], "{}", l.name());
    }
}

#[test]
fn a_checkpoint_is_final_only_with_the_quorum_and_receipts_carry_the_cosignatures() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("log-data");
    // The log's vkey is known once the node has a key and a goal.
    let mut log = NodeProc::start(&data, &[("IAN_NODE_NAME", "log.test")]);
    log.publish(&trading_goal(tmp.path(), GOAL, false));
    let log_vkey = goal_status(&log)["log_vkey"].as_str().unwrap().to_string();
    assert!(log.stop());
    let w1 = start_witness(&tmp.path().join("w1"), std::slice::from_ref(&log_vkey));
    let mut w2 = start_witness(&tmp.path().join("w2"), std::slice::from_ref(&log_vkey));
    let wkey = |w: &NodeProc| {
        w.get_json("/api/v1/node")["witness_vkey"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (k1, k2) = (wkey(&w1), wkey(&w2));
    let policy = tmp.path().join("policy");
    std::fs::write(
        &policy,
        format!(
            "log {log_vkey}\nwitness w1 {k1} {}/witness\nwitness w2 {k2} {}/witness\ngroup both 2 w1 w2\nquorum both\n",
            w1.url, w2.url
        ),
    )
    .unwrap();
    let env = [
        ("IAN_NODE_NAME", "log.test"),
        ("IAN_WITNESS_POLICY", policy.to_str().unwrap()),
        ("IAN_WITNESS_TIMEOUT_MS", "3000"),
        ("IAN_WITNESS_RETRY_MS", "100"),
    ];
    let mut log = NodeProc::start(&data, &env);
    let replies = fill(&log, tmp.path(), 4);
    assert!(
        replies.iter().all(|r| r["witnessed"] == true),
        "both witnesses are up: every receipt is witnessed"
    );
    let last = replies
        .iter()
        .max_by_key(|r| {
            ian_core::Receipt::parse(r["receipt"].as_str().unwrap().as_bytes())
                .unwrap()
                .entry
                .log_index
        })
        .unwrap();
    let rfile = tmp.path().join("last.tlog-proof");
    std::fs::write(&rfile, last["receipt"].as_str().unwrap()).unwrap();
    let o = cli(&[
        "verify",
        rfile.to_str().unwrap(),
        "--witness-policy",
        policy.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json_out(&o)["witnesses"], serde_json::json!(["w1", "w2"]));
    // Go checks both cosignatures from the spec text.
    let (ok, out) = run_tlogcheck(
        &log,
        &[
            "-witness",
            &k1,
            "-witness",
            &k2,
            "-receipt",
            rfile.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");

    // With one of two witnesses down, nothing new becomes final.
    let final_size =
        SignedCheckpoint::parse(http_get(&log.url, &format!("/logs/{GOAL}/checkpoint")).as_bytes())
            .unwrap()
            .checkpoint
            .size;
    assert_eq!(final_size, 4);
    // A restarted log reloads its final checkpoint, starts each witness
    // from 0, is told the witness's size (409) and goes on from there.
    assert!(log.stop());
    let log = NodeProc::start(&data, &env);
    let after_restart = fill_more(&log, tmp.path(), "restart");
    assert_eq!(after_restart["witnessed"], true, "{after_restart}");
    let final_size =
        SignedCheckpoint::parse(http_get(&log.url, &format!("/logs/{GOAL}/checkpoint")).as_bytes())
            .unwrap()
            .checkpoint
            .size;
    assert_eq!(final_size, 5);
    assert!(w2.stop());
    let later = fill_more(&log, tmp.path(), "late");
    assert_eq!(later["witnessed"], false);
    let still =
        SignedCheckpoint::parse(http_get(&log.url, &format!("/logs/{GOAL}/checkpoint")).as_bytes())
            .unwrap();
    assert_eq!(still.checkpoint.size, 5, "published without the quorum");
    // Its receipt verifies under the log key, but not under the policy.
    let rfile = tmp.path().join("later.tlog-proof");
    std::fs::write(&rfile, later["receipt"].as_str().unwrap()).unwrap();
    let o = cli(&[
        "verify",
        rfile.to_str().unwrap(),
        "--witness-policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("quorum"), "{}", stdout(&o));
}

/// One more submission, with its own contributor (so nonces stay simple).
fn fill_more(node: &NodeProc, dir: &Path, name: &str) -> serde_json::Value {
    let params = format!("position=0.{}", name.len());
    submit_as_new_contributor(node, dir, GOAL, name, &params)
}

#[test]
fn a_log_that_signs_two_trees_of_one_size_is_caught_and_no_longer_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, s) = test_log(12);
    let w = start_witness(tmp.path(), &[s.verifier().to_vkey()]);
    let add = |body: &str| http_post(&w.url, "/witness/add-checkpoint", body);
    assert_eq!(add(&add_checkpoint_body(&m, &s, 0, 12)).0, 200);
    // Another history of the same size, signed by the same key: 422.
    let mut fork = MemMmr::new_in_memory();
    for i in 0..12u64 {
        fork.append(&(i + 100).to_be_bytes()).unwrap();
    }
    let (st, _, body) = add(&add_checkpoint_body(&fork, &s, 12, 12));
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("fork"), "{body}");
    // The log is not followed any more, even with an honest request.
    let (st, _, body) = add(&add_checkpoint_body(&m, &s, 12, 12));
    assert_eq!(st, 403, "{body}");
    let ev = w.get_json("/api/v1/evidence");
    assert_eq!(ev["evidence"][0]["kind"], "fork");
    let metrics = http_get(&w.url, "/metrics");
    assert!(metrics.contains("ian_evidence_total 1"), "{metrics}");
    // Anyone holding the log's key can check the fork offline.
    let file = tmp.path().join("fork.json");
    std::fs::write(&file, serde_json::to_vec(&ev).unwrap()).unwrap();
    let o = cli(&[
        "verify-evidence",
        file.to_str().unwrap(),
        "--log-vkey",
        &s.verifier().to_vkey(),
        "--json",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json_out(&o)[0]["proven"], true);
}
