//! End-to-end: the built `ian-host` binary, real components, real HTTP on
//! loopback, real store. Each test is one behaviour.

use ian_tests::*;
use serde_json::Value;

struct Setup {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    node: NodeProc,
    goal: String,
    key: std::path::PathBuf,
}

fn setup(env: &[(&str, &str)], invariants: bool) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let node = NodeProc::start(&dir.join("data"), env);
    let goal_file = trading_goal(&dir, "trading-test", invariants);
    let o = node.cli(&[
        "goal",
        "publish",
        goal_file.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
        "--json",
    ]);
    assert!(o.status.success(), "publish: {}{}", stdout(&o), stderr(&o));
    let key = keygen(&dir, "alice.key");
    Setup {
        _tmp: tmp,
        dir,
        node,
        goal: "trading-test".into(),
        key,
    }
}

/// What a test needs to drive the node through the client library rather
/// than the CLI: a runtime, a client, and the buy-and-hold pack split into
/// pack and component bytes.
struct Direct {
    rt: tokio::runtime::Runtime,
    client: ian_node::cli::client::Client,
    pack: ian_core::AgentPack,
    code: Vec<u8>,
}

fn direct(s: &Setup) -> Direct {
    let p = pack(&s.dir, "buy-and-hold", "position=1.0", "bh.ianpack");
    let (pack, code) = ian_core::PackFile::from_bytes(&std::fs::read(&p).unwrap())
        .unwrap()
        .into_parts();
    Direct {
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        client: ian_node::cli::client::Client::new(&s.node.url).unwrap(),
        pack,
        code,
    }
}

/// The same agent code with other params: a new pack.
fn with_params(pack: &ian_core::AgentPack, params: &str) -> ian_core::AgentPack {
    ian_core::AgentPack::new(
        pack.code_hash(),
        params.as_bytes().to_vec(),
        pack.metadata().clone(),
    )
    .unwrap()
}

/// Packs `buy-and-hold` with each params string and submits it; every one
/// must be accepted.
fn submit_buy_and_hold(s: &Setup, params: &[&str]) {
    for (i, params) in params.iter().enumerate() {
        let p = pack(&s.dir, "buy-and-hold", params, &format!("bh{i}.ianpack"));
        let (code, v) = submit(s, &p);
        assert_eq!(code, 0, "{params}: {v}");
    }
}

fn submit(s: &Setup, pack: &std::path::Path) -> (i32, Value) {
    let o = s.node.cli(&[
        "submit",
        pack.to_str().unwrap(),
        "--goal",
        &s.goal,
        "--key",
        s.key.to_str().unwrap(),
        "--json",
    ]);
    (o.status.code().unwrap_or(-1), json_out(&o))
}

/// `ian-host submit - --json` with `pack` on stdin.
fn submit_stdin(s: &Setup, pack: &[u8]) -> std::process::Output {
    let args = [
        "submit",
        "-",
        "--goal",
        &s.goal,
        "--key",
        s.key.to_str().unwrap(),
        "--json",
    ];
    s.node.cli_with_stdin(&args, pack)
}

fn rejection_code(s: &Setup, component_name: &str) -> String {
    let p = pack(
        &s.dir,
        component_name,
        "",
        &format!("{component_name}.ianpack"),
    );
    let (code, v) = submit(s, &p);
    assert_eq!(code, 3, "{component_name} should be rejected: {v}");
    v["error"]["code"].as_str().unwrap().to_string()
}

#[test]
fn accepted_submission_returns_a_receipt_that_verifies_offline() {
    let s = setup(&[], true);
    let p = pack(&s.dir, "ma-crossover", "short=5,long=20", "ma.ianpack");
    let (code, v) = submit(&s, &p);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["entry"]["log_index"], 0);
    assert!(receipt_verifies(&s.node, &s.dir, &v));
}

#[test]
fn a_pack_piped_from_pack_into_submit_is_accepted_without_a_file() {
    let s = setup(&[], false);
    let packed = cli(&[
        "pack",
        component("buy-and-hold").to_str().unwrap(),
        "--params",
        "position=0.5",
        "--out",
        "-",
    ]);
    assert!(packed.status.success(), "{}", stderr(&packed));
    assert!(
        packed.stdout.starts_with(&ian_core::pack::PACK_FILE_MAGIC),
        "stdout carries the pack itself"
    );
    assert!(stderr(&packed).contains("pack hash"), "{}", stderr(&packed));
    let o = submit_stdin(&s, &packed.stdout);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert!(receipt_verifies(&s.node, &s.dir, &v), "{v}");
}

#[test]
fn submit_refuses_a_pack_on_stdin_that_is_not_one() {
    let s = setup(&[], false);
    let o = submit_stdin(&s, b"\x89IANPACK but truncated");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pack file"),
        "{v}"
    );
    assert_eq!(
        s.node.get_json(&format!("/api/v1/goals/{}", s.goal))["log_size"],
        0
    );
}

#[test]
fn receipt_with_tampered_metrics_fails_offline_verification() {
    let s = setup(&[], false);
    let p = pack(&s.dir, "buy-and-hold", "position=1.0", "bh.ianpack");
    let (_, v) = submit(&s, &p);
    let mut r = ian_core::Receipt::parse(v["receipt"].as_str().unwrap().as_bytes()).unwrap();
    r.entry.metrics.reward = ian_core::Finite::new(99.0).unwrap();
    let receipt = s.dir.join("receipt.tlog-proof");
    std::fs::write(&receipt, r.to_text()).unwrap();
    let key = json_out(&s.node.cli(&["status", "--json"]))["node"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let o = cli(&[
        "verify",
        receipt.to_str().unwrap(),
        "--node-key",
        &key,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(json_out(&o)["valid"], false);
}

#[test]
fn different_parameters_give_different_entries_and_leaderboard_ranks_them() {
    let s = setup(&[], false);
    for (i, params) in ["short=5,long=20", "short=10,long=40"].iter().enumerate() {
        let p = pack(&s.dir, "ma-crossover", params, &format!("ma{i}.ianpack"));
        assert_eq!(submit(&s, &p).0, 0);
    }
    let lb = json_out(&s.node.cli(&["leaderboard", &s.goal, "--json"]));
    let top = lb["top"].as_array().unwrap();
    assert_eq!(top.len(), 2);
    assert!(top[0]["score"].as_f64().unwrap() >= top[1]["score"].as_f64().unwrap());
    assert_ne!(top[0]["metrics"]["reward"], top[1]["metrics"]["reward"]);
}

#[test]
fn rejects_infinite_loop_agent_out_of_fuel() {
    let s = setup(&[], false);
    assert_eq!(
        rejection_code(&s, "hostile-infinite-loop"),
        "agent_out_of_fuel"
    );
}

#[test]
fn rejects_memory_bomb_agent() {
    let s = setup(&[], false);
    assert_eq!(
        rejection_code(&s, "hostile-memory-bomb"),
        "agent_memory_exceeded"
    );
}

#[test]
fn rejects_stack_overflow_agent() {
    let s = setup(&[], false);
    assert_eq!(
        rejection_code(&s, "hostile-stack-overflow"),
        "agent_stack_overflow"
    );
}

#[test]
fn rejects_panicking_agent_as_trap() {
    let s = setup(&[], false);
    assert_eq!(rejection_code(&s, "hostile-panic"), "agent_trap");
}

#[test]
fn rejects_nan_infinite_and_oversized_actions() {
    let s = setup(&[], false);
    for name in [
        "hostile-nan-action",
        "hostile-infinite-action",
        "hostile-oversized-action",
    ] {
        assert_eq!(rejection_code(&s, name), "agent_invalid_action", "{name}");
    }
}

#[test]
fn rejects_agent_that_imports_wasi_filesystem() {
    let s = setup(&[], false);
    assert_eq!(rejection_code(&s, "hostile-wasi-fs"), "forbidden_import");
}

#[test]
fn agent_refused_at_load_time_is_reported_by_the_structure_step_not_an_invariant() {
    // The goal has invariants that would probe the agent; a component that
    // cannot even load must be refused before them, naming the import.
    let s = setup(&[], true);
    let p = pack(&s.dir, "hostile-wasi-fs", "", "wasi-fs.ianpack");
    let (code, v) = submit(&s, &p);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["error"]["code"], "forbidden_import");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("pipeline step: structure"), "{message}");
    assert!(message.contains("wasi:"), "{message}");
    assert!(!message.contains("invariant"), "{message}");
}

#[test]
fn rejects_harness_submitted_as_agent() {
    let s = setup(&[], false);
    let code = rejection_code(&s, "trading-harness");
    assert!(
        code == "wrong_world" || code == "forbidden_import",
        "{code}"
    );
}

#[test]
fn rejects_random_bytes_as_not_wasm() {
    let s = setup(&[], false);
    let p = s.dir.join("random.wasm");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&p, bytes).unwrap();
    let (code, v) = submit(&s, &p);
    assert_eq!(code, 3);
    assert_eq!(v["error"]["code"], "not_wasm");
}

#[test]
fn rejects_duplicate_pack() {
    let s = setup(&[], false);
    let p = pack(&s.dir, "buy-and-hold", "position=1.0", "bh.ianpack");
    assert_eq!(submit(&s, &p).0, 0);
    let (code, v) = submit(&s, &p);
    assert_eq!(code, 3);
    assert_eq!(v["error"]["code"], "duplicate");
}

#[test]
fn rejects_params_outside_invariant_bounds() {
    let s = setup(&[], true);
    let p = pack(
        &s.dir,
        "mean-reversion",
        "window=20,z=2000000",
        "mr.ianpack",
    );
    let (code, v) = submit(&s, &p);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["error"]["code"], "invariant_violated");
}

#[test]
fn rejects_agent_below_reward_threshold() {
    // buy-and-hold mirrored never loses more than 100%, so use a goal whose
    // threshold no agent can meet.
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    let goal = trading_goal(tmp.path(), "strict", false);
    let text = std::fs::read_to_string(&goal)
        .unwrap()
        .replace("min_reward = -1.0", "min_reward = 1000.0");
    std::fs::write(&goal, text).unwrap();
    let o = node.cli(&[
        "goal",
        "publish",
        goal.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let key = keygen(tmp.path(), "k");
    let p = pack(tmp.path(), "buy-and-hold", "position=1.0", "bh.ianpack");
    let o = node.cli(&[
        "submit",
        p.to_str().unwrap(),
        "--goal",
        "strict",
        "--key",
        key.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(json_out(&o)["error"]["code"], "below_threshold");
}

#[test]
fn restarted_node_serves_identical_roots_and_leaderboard() {
    let mut s = setup(&[], false);
    submit_buy_and_hold(&s, &["position=1.0", "position=-1.0", "position=0.5"]);
    let before = json_out(&s.node.cli(&["status", &s.goal, "--json"]));
    let lb_before = json_out(&s.node.cli(&["leaderboard", &s.goal, "--json"]));
    assert!(s.node.stop(), "node did not stop cleanly");
    s.node = NodeProc::start(&s.dir.join("data"), &[]);
    let after = json_out(&s.node.cli(&["status", &s.goal, "--json"]));
    let lb_after = json_out(&s.node.cli(&["leaderboard", &s.goal, "--json"]));
    assert_eq!(before["log_size"], 3);
    assert_eq!(before["root"], after["root"]);
    assert_eq!(before["checkpoint"], after["checkpoint"]);
    assert_eq!(lb_before["top"], lb_after["top"]);
}

#[test]
fn replay_of_a_stored_entry_reproduces_the_same_bits() {
    let s = setup(&[], false);
    let p = pack(&s.dir, "mean-reversion", "window=20,z=1.0", "mr.ianpack");
    assert_eq!(submit(&s, &p).0, 0);
    let o = s.node.cli(&["replay", &s.goal, "0", "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json_out(&o)["identical"], true);
}

#[test]
fn local_eval_prints_verdict_metrics_and_fuel() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = trading_goal(tmp.path(), "local", true);
    let p = pack(tmp.path(), "ma-crossover", "short=5,long=20", "ma.ianpack");
    let o = cli(&[
        "eval",
        "--goal",
        goal.to_str().unwrap(),
        p.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["verdict"], "accepted");
    assert!(v["fuel_total"].as_u64().unwrap() > 0);
    assert_eq!(v["seeds"].as_array().unwrap().len(), 2);
    assert!(v["fuel_per_step"]["mean"].as_f64().unwrap() > 0.0);
}

#[test]
fn local_eval_reports_the_reject_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = trading_goal(tmp.path(), "local", false);
    let p = pack(tmp.path(), "hostile-infinite-loop", "", "h.ianpack");
    let o = cli(&[
        "eval",
        "--goal",
        goal.to_str().unwrap(),
        p.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let v = json_out(&o);
    assert_eq!(v["verdict"], "rejected");
    assert_eq!(v["reason"], "agent_out_of_fuel");
}

#[test]
fn burst_beyond_queue_gets_429_and_every_acknowledged_entry_survives_restart() {
    let mut s = setup(&[("IAN_QUEUE_CAPACITY", "1"), ("IAN_WORKERS", "1")], false);
    let Direct {
        rt,
        client,
        pack,
        code,
    } = direct(&s);
    let goal = s.goal.clone();
    let (accepted, shed): (Vec<u64>, usize) = rt.block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..48u64 {
            let client = client.clone();
            let goal = goal.clone();
            let code = code.clone();
            let pk = with_params(&pack, &format!("position={}", (i as f64) / 100.0));
            // One contributor per request, so nonce order cannot reject.
            let key = ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 1; 32]);
            tasks.push(tokio::spawn(async move {
                let c = ian_node::cli::ops::sign(&goal, pk, 1, &key).unwrap();
                let req = ian_node::cli::ops::submit_request(&goal, c, Some(&code), 0);
                ian_node::cli::ops::post_submission(&client, &goal, &req).await
            }));
        }
        let mut accepted = Vec::new();
        let mut shed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(ian_node::cli::ops::SubmitOutcome::Accepted(v)) => {
                    accepted.push(v.receipt.entry.log_index)
                }
                Err(ian_node::cli::common::CommandError::Client(
                    ian_node::cli::client::ClientError::Api {
                        status: 429,
                        retry_after,
                        code,
                        ..
                    },
                )) => {
                    assert_eq!(code, "queue_full");
                    assert_eq!(retry_after, Some(1));
                    shed += 1;
                }
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        (accepted, shed)
    });
    assert!(shed > 0, "a burst of 48 into a queue of 1 must shed load");
    assert!(!accepted.is_empty());
    assert!(s.node.stop());
    s.node = NodeProc::start(&s.dir.join("data"), &[]);
    let st = json_out(&s.node.cli(&["status", &s.goal, "--json"]));
    assert_eq!(st["log_size"].as_u64().unwrap(), accepted.len() as u64);
    let log = json_out(&s.node.cli(&["log", &s.goal, "--limit", "100", "--json"]));
    let mut logged: Vec<u64> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["log_index"].as_u64().unwrap())
        .collect();
    let mut acked = accepted.clone();
    logged.sort();
    acked.sort();
    assert_eq!(logged, acked);
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let mut s = setup(&[], false);
    assert!(s.node.stop());
    assert!(!s.node.data.join("node.addr").exists());
}

#[test]
fn served_inclusion_and_consistency_proofs_verify_against_served_roots() {
    let s = setup(&[], false);
    for (i, params) in [
        "position=1.0",
        "position=-1.0",
        "position=0.5",
        "position=0.25",
        "position=-0.5",
    ]
    .iter()
    .enumerate()
    {
        let p = pack(&s.dir, "buy-and-hold", params, &format!("bh{i}.ianpack"));
        assert_eq!(submit(&s, &p).0, 0);
    }
    let log = json_out(&s.node.cli(&["log", &s.goal, "--json"]));
    for index in 0..5u64 {
        let v = json_out(
            &s.node
                .cli(&["proof", &s.goal, &index.to_string(), "--json"]),
        );
        let root: ian_core::Hash32 = serde_json::from_value(v["root"].clone()).unwrap();
        let proof: ian_core::InclusionProof = serde_json::from_value(v["proof"].clone()).unwrap();
        let entry: ian_core::LogEntry =
            serde_json::from_value(log["entries"][index as usize].clone()).unwrap();
        ian_core::verify_inclusion(&root, 5, index, &entry.leaf_hash(), &proof).unwrap();
    }
    for from in 1..5u64 {
        let v = json_out(
            &s.node
                .cli(&["proof", &s.goal, "--from", &from.to_string(), "--json"]),
        );
        let old: ian_core::Hash32 = serde_json::from_value(v["old_root"].clone()).unwrap();
        let new: ian_core::Hash32 = serde_json::from_value(v["new_root"].clone()).unwrap();
        let proof: ian_core::ConsistencyProof = serde_json::from_value(v["proof"].clone()).unwrap();
        ian_core::verify_consistency(from, &old, 5, &new, &proof).unwrap();
    }
}

/// A goal whose fuel budgets are effectively unlimited and whose wall-clock
/// backstop is short, so an endless agent is stopped by the host, not by
/// its fuel: the one outcome that must never count against the pack.
fn backstop_goal(dir: &std::path::Path) -> std::path::PathBuf {
    let base = trading_goal(dir, "backstop", false);
    let mut text = std::fs::read_to_string(&base).unwrap();
    text.push_str(
        "[limits]\nfuel_per_evaluation = 10000000000\nfuel_per_call = 10000000000\nwall_backstop_ms = 200\n",
    );
    std::fs::write(&base, text).unwrap();
    base
}

#[test]
fn host_backstop_is_a_503_inconclusive_and_nothing_is_recorded_against_the_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    let goal = backstop_goal(tmp.path());
    node.publish(&goal);
    let key = keygen(tmp.path(), "k");
    let p = pack(tmp.path(), "hostile-infinite-loop", "", "loop.ianpack");
    let url = format!("{}/api/v1/goals/backstop/contributions", node.url);
    let o = node.cli(&[
        "submit",
        p.to_str().unwrap(),
        "--goal",
        "backstop",
        "--key",
        key.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{url}: {}", stdout(&o));
    let v = json_out(&o);
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("inconclusive"), "{v}");
    assert!(msg.contains("503"), "{v}");
    let status = node.get_json("/api/v1/goals/backstop");
    assert_eq!(status["log_size"], 0);
    assert_eq!(status["rejected"], 0);
    let board = node.get_json("/api/v1/goals/backstop/leaderboard");
    assert_eq!(board["rejections"], serde_json::json!([]));
}

#[test]
fn host_backstop_gives_an_inconclusive_local_eval_not_a_rejection() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = backstop_goal(tmp.path());
    let p = pack(tmp.path(), "hostile-infinite-loop", "", "loop.ianpack");
    let o = cli(&[
        "eval",
        "--goal",
        goal.to_str().unwrap(),
        p.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stdout(&o));
    let v = json_out(&o);
    assert_eq!(v["verdict"], "inconclusive");
    assert_eq!(v["reason"], "wall_backstop");
}

#[test]
fn local_eval_refuses_a_pack_over_the_goal_limit_by_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let goal = trading_goal(tmp.path(), "small", false);
    let mut text = std::fs::read_to_string(&goal).unwrap();
    text.push_str("[limits]\nmax_component_bytes = 4096\nmax_params_bytes = 1024\n");
    std::fs::write(&goal, text).unwrap();
    // Size is all that is looked at: the bytes need not even be wasm.
    let p = tmp.path().join("big.wasm");
    std::fs::write(&p, vec![0u8; 200_000]).unwrap();
    let size = 200_000;
    let o = cli(&[
        "eval",
        "--goal",
        goal.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("is {size} bytes")), "{err}");
    assert!(err.contains("max_component_bytes 4096"), "{err}");
    assert!(err.contains("it was not read"), "{err}");
}

/// The node's log with terminal colour codes removed.
fn node_log(s: &Setup) -> String {
    let raw = std::fs::read_to_string(&s.node.log).unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn clean_restart_resumes_from_the_state_snapshot_with_identical_roots() {
    let mut s = setup(&[], false);
    submit_buy_and_hold(&s, &["position=1.0", "position=-1.0", "position=0.5"]);
    let before = json_out(&s.node.cli(&["status", &s.goal, "--json"]));
    assert!(s.node.stop(), "node did not stop cleanly");
    s.node = NodeProc::start(&s.dir.join("data"), &[]);
    let log = node_log(&s);
    assert!(log.contains("from_snapshot=3"), "{log}");
    let after = json_out(&s.node.cli(&["status", &s.goal, "--json"]));
    assert_eq!(before["root"], after["root"]);
    assert_eq!(before["checkpoint"], after["checkpoint"]);
    assert_eq!(before["top"], after["top"]);
    // The restored state keeps accepting where the log left off.
    let p = pack(&s.dir, "buy-and-hold", "position=0.25", "bh3.ianpack");
    let (code, v) = submit(&s, &p);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["entry"]["log_index"], 3);
}

#[test]
fn a_damaged_state_snapshot_is_ignored_and_the_log_replayed() {
    let mut s = setup(&[], false);
    submit_buy_and_hold(&s, &["position=1.0", "position=-1.0"]);
    let before = json_out(&s.node.cli(&["status", &s.goal, "--json"]));
    assert!(s.node.stop(), "node did not stop cleanly");
    {
        let store = ian_store::Store::open(s.dir.join("data/ian.redb")).unwrap();
        store
            .put_meta("goal-state/trading-test/0", b"not a snapshot".to_vec())
            .unwrap()
            .wait()
            .unwrap();
        store.close().unwrap();
    }
    s.node = NodeProc::start(&s.dir.join("data"), &[]);
    let log = node_log(&s);
    assert!(log.contains("from_snapshot=0"), "{log}");
    assert!(log.contains("replaying the log"), "{log}");
    let after = json_out(&s.node.cli(&["status", &s.goal, "--json"]));
    assert_eq!(before["root"], after["root"]);
    assert_eq!(before["top"], after["top"]);
}

#[test]
fn a_logged_pack_has_its_receipt_by_pack_hash_and_an_unlogged_one_is_404() {
    let s = setup(&[], false);
    let p = pack(&s.dir, "buy-and-hold", "position=0.75", "bh.ianpack");
    let (code, v) = submit(&s, &p);
    assert_eq!(code, 0, "{v}");
    let pack_hash = v["entry"]["pack_hash"].as_str().unwrap().to_string();
    let by_pack = s.node.get_json(&format!(
        "/api/v1/goals/{}/packs/{pack_hash}/receipt",
        s.goal
    ));
    let by_index = s
        .node
        .get_json(&format!("/api/v1/goals/{}/receipts/0", s.goal));
    assert_eq!(by_pack, by_index);
    assert_eq!(by_pack["entry"]["pack_hash"], pack_hash.as_str());
    let path = format!("/api/v1/goals/{}/packs/{}/receipt", s.goal, "ab".repeat(32));
    let addr = s.node.url.trim_start_matches("http://").to_string();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    assert!(reply.contains("unknown_pack"), "{reply}");
}

#[test]
fn a_store_whose_node_key_is_gone_is_refused_at_start_without_a_new_key() {
    let mut s = setup(&[], false);
    submit_buy_and_hold(&s, &["position=1.0"]);
    assert!(s.node.stop(), "node did not stop cleanly");
    let data = s.dir.join("data");
    // The key that signed the store is gone: no new identity is made.
    std::fs::remove_file(data.join("node.key")).unwrap();
    let o = std::process::Command::new(bin())
        .arg("serve")
        .env("IAN_LISTEN", "127.0.0.1:0")
        .env("IAN_DATA_DIR", &data)
        .env("IAN_LOG", "warn")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("never makes a new key for an existing store"),
        "{err}"
    );
    assert!(!data.join("node.key").exists(), "no new identity was made");
}

#[test]
fn a_flood_of_rejected_large_packs_leaves_the_store_size_flat() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let node = NodeProc::start(
        &dir.join("data"),
        &[
            ("IAN_MAX_BODY_BYTES", "16777216"),
            ("IAN_CONTRIBUTOR_BURST", "100"),
        ],
    );
    let goal = trading_goal(dir, "flood", false);
    let mut text = std::fs::read_to_string(&goal).unwrap();
    text.push_str("[limits]\nmax_component_bytes = 8388608\n");
    std::fs::write(&goal, text).unwrap();
    node.publish(&goal);
    let key = keygen(dir, "k");
    let store = dir.join("data/ian.redb");
    let before = std::fs::metadata(&store).unwrap().len();
    const PACK: usize = 6 << 20;
    for i in 0..8u8 {
        // 6 MiB that is not WebAssembly: refused at the structure step.
        let p = dir.join(format!("junk{i}.wasm"));
        std::fs::write(&p, vec![i.wrapping_add(1); PACK]).unwrap();
        let o = node.cli(&[
            "submit",
            p.to_str().unwrap(),
            "--goal",
            "flood",
            "--key",
            key.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
        assert_eq!(json_out(&o)["error"]["code"], "not_wasm");
    }
    let after = std::fs::metadata(&store).unwrap().len();
    assert!(
        after < before + PACK as u64,
        "store grew from {before} to {after} bytes for rejected packs"
    );
    let status = node.get_json("/api/v1/goals/flood");
    assert_eq!(status["log_size"], 0);
}

#[test]
fn a_goal_asking_more_than_the_operator_allows_is_refused_at_publish() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(
        &tmp.path().join("data"),
        &[("IAN_MAX_GOAL_WALL_BACKSTOP_MS", "5000")],
    );
    let goal = trading_goal(tmp.path(), "greedy", false);
    let mut text = std::fs::read_to_string(&goal).unwrap();
    text.push_str("[limits]\nwall_backstop_ms = 60000\n");
    std::fs::write(&goal, text).unwrap();
    let o = node.cli(&[
        "goal",
        "publish",
        goal.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
        "--json",
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(out.contains("goal_limit_too_high"), "{out}");
    assert!(out.contains("wall_backstop_ms = 60000"), "{out}");
    assert!(out.contains("IAN_MAX_GOAL_WALL_BACKSTOP_MS"), "{out}");
    assert_eq!(
        node.get_json("/api/v1/goals")["goals"],
        serde_json::json!([])
    );
}

#[test]
fn forged_submissions_cannot_spend_the_victims_rate_budget() {
    let s = setup(
        &[
            ("IAN_CONTRIBUTOR_BURST", "2"),
            ("IAN_CONTRIBUTOR_RATE", "0.001"),
        ],
        false,
    );
    let victim = ed25519_dalek::SigningKey::from_bytes(&[21u8; 32]);
    let forger = ed25519_dalek::SigningKey::from_bytes(&[22u8; 32]);
    let Direct {
        rt,
        client,
        pack,
        code,
    } = direct(&s);
    let goal = s.goal.clone();
    let with_params = |p: &str| with_params(&pack, p);
    rt.block_on(async move {
        use ian_node::cli::ops::{SubmitOutcome, post_submission, sign, submit_request};
        // Five forgeries naming the victim: signed by another key.
        for i in 0..5u64 {
            let mut c = sign(
                &goal,
                with_params(&format!("position=0.{i}")),
                i + 1,
                &forger,
            )
            .unwrap();
            c.contributor = ian_core::PublicKeyBytes::of(&victim);
            let req = submit_request(&goal, c, Some(&code), 0);
            match post_submission(&client, &goal, &req).await.unwrap() {
                SubmitOutcome::Rejected(b) => assert_eq!(b.error.code, "bad_signature"),
                other => panic!("forgery {i}: {other:?}"),
            }
        }
        // The victim's own budget (a burst of 2) is untouched.
        for i in 0..2u64 {
            let c = sign(
                &goal,
                with_params(&format!("position=0.9{i}")),
                i + 1,
                &victim,
            )
            .unwrap();
            let req = submit_request(&goal, c, Some(&code), 0);
            match post_submission(&client, &goal, &req).await.unwrap() {
                SubmitOutcome::Accepted(_) => {}
                other => panic!("victim's submission {i}: {other:?}"),
            }
        }
        // And the bucket is real: a third genuine one is rate limited.
        let c = sign(&goal, with_params("position=0.95"), 3, &victim).unwrap();
        let req = submit_request(&goal, c, Some(&code), 0);
        match post_submission(&client, &goal, &req).await {
            Err(ian_node::cli::common::CommandError::Client(
                ian_node::cli::client::ClientError::Api { status, code, .. },
            )) => {
                assert_eq!(status, 429);
                assert_eq!(code, "rate_limited");
            }
            other => panic!("third submission: {other:?}"),
        }
    });
}

#[test]
fn sigterm_finishes_within_the_grace_even_with_a_runaway_evaluation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(
        &tmp.path().join("data"),
        &[
            ("IAN_SHUTDOWN_GRACE_MS", "1500"),
            ("IAN_WORKERS", "1"),
            ("IAN_MAX_GOAL_FUEL_PER_EVALUATION", "1000000000000"),
        ],
    );
    // Fuel for about a minute of an endless loop, and a backstop far away.
    let goal = trading_goal(tmp.path(), "runaway", false);
    let mut text = std::fs::read_to_string(&goal).unwrap();
    text.push_str(
        "[limits]\nfuel_per_evaluation = 1000000000000\nfuel_per_call = 1000000000000\nwall_backstop_ms = 600000\n",
    );
    std::fs::write(&goal, text).unwrap();
    node.publish(&goal);
    let key = keygen(tmp.path(), "k");
    let p = pack(tmp.path(), "hostile-infinite-loop", "", "loop.ianpack");
    let mut client = std::process::Command::new(bin())
        .args(["submit", p.to_str().unwrap(), "--goal", "runaway", "--key"])
        .arg(&key)
        .env("IAN_NODE", &node.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let mut child = node.child.take().unwrap();
    let t = std::time::Instant::now();
    send_signal(child.id(), "TERM");
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if t.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = client.kill();
    let _ = client.wait();
    let took = t.elapsed();
    assert!(status.is_some(), "node still running 10 s after SIGTERM");
    assert!(
        took < std::time::Duration::from_millis(1500 + 1500),
        "SIGTERM took {took:?} with a grace of 1.5 s"
    );
}

#[test]
fn one_contributor_may_submit_in_parallel_and_every_submission_counts() {
    let s = setup(&[], false);
    let key = ed25519_dalek::SigningKey::from_bytes(&[31u8; 32]);
    let Direct {
        rt,
        client,
        pack,
        code,
    } = direct(&s);
    let goal = s.goal.clone();
    let accepted = rt.block_on(async move {
        let mut tasks = Vec::new();
        // Nonces 1..=16 in flight at once: they may commit in any order.
        for n in 1..=16u64 {
            let (client, goal, code, key) =
                (client.clone(), goal.clone(), code.clone(), key.clone());
            let pk = with_params(&pack, &format!("position=0.{n:02}"));
            tasks.push(tokio::spawn(async move {
                let c = ian_node::cli::ops::sign(&goal, pk, n, &key).unwrap();
                let req = ian_node::cli::ops::submit_request(&goal, c, Some(&code), 0);
                ian_node::cli::ops::post_submission(&client, &goal, &req).await
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(ian_node::cli::ops::SubmitOutcome::Accepted(_)) => accepted += 1,
                other => panic!("a parallel submission was not accepted: {other:?}"),
            }
        }
        accepted
    });
    assert_eq!(accepted, 16);
    assert_eq!(
        s.node.get_json(&format!("/api/v1/goals/{}", s.goal))["log_size"],
        16
    );
}

#[test]
fn code_cached_from_a_rejected_submission_must_be_sent_again_so_no_entry_lacks_its_code() {
    let s = setup(&[], false);
    let d = direct(&s);
    let key = ed25519_dalek::SigningKey::from_bytes(&[61; 32]);
    let post = |pack: ian_core::AgentPack, nonce: u64, code: Option<&[u8]>| {
        let c = ian_node::cli::ops::sign(&s.goal, pack, nonce, &key).unwrap();
        let req = ian_node::cli::ops::submit_request(&s.goal, c, code, 0);
        d.rt.block_on(ian_node::cli::ops::post_submission(
            &d.client, &s.goal, &req,
        ))
    };
    // Params the agent cannot parse: rejected, though its code compiled.
    let r = post(with_params(&d.pack, "position=oops"), 1, Some(&d.code)).unwrap();
    assert!(
        matches!(r, ian_node::cli::ops::SubmitOutcome::Rejected(_)),
        "{r:?}"
    );
    // Without the code, a valid pack is refused: the node never stored it.
    let e = post(with_params(&d.pack, "position=1.0"), 2, None).unwrap_err();
    assert!(e.to_string().contains("unknown_code"), "{e}");
    // With the code it is accepted, and from then on the code is durable.
    let r = post(with_params(&d.pack, "position=1.0"), 3, Some(&d.code)).unwrap();
    assert!(
        matches!(r, ian_node::cli::ops::SubmitOutcome::Accepted(_)),
        "{r:?}"
    );
    // Now stored with that entry, the code may be left out.
    let r = post(with_params(&d.pack, "position=0.5"), 4, None).unwrap();
    assert!(
        matches!(r, ian_node::cli::ops::SubmitOutcome::Accepted(_)),
        "{r:?}"
    );
}
