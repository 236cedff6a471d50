//! Competitions on a real node: phases decided by the entry's time,
//! quotas counted from the log (and so kept across a restart), the phase
//! timeline on the API and the page, and a hidden-seed commitment that
//! gives nothing away before the reveal.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ian_core::competition::{SeedSecret, UtcTime};
use ian_tests::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A trading goal with one phase `main` from `opens` to `closes` (ms) and
/// the extra `[competition]` lines.
fn competition_goal(
    dir: &Path,
    id: &str,
    opens: u64,
    closes: u64,
    extra: &str,
) -> std::path::PathBuf {
    let p = trading_goal(dir, id, false);
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(&format!(
        "[[phases]]\nname = \"main\"\nopens_at = \"{}\"\ncloses_at = \"{}\"\nmax_total = 2\n{extra}",
        UtcTime(opens),
        UtcTime(closes)
    ));
    std::fs::write(&p, text).unwrap();
    p
}

fn submit(
    node: &NodeProc,
    dir: &Path,
    key: &Path,
    params: &str,
    name: &str,
) -> std::process::Output {
    let packed = dir.join(name);
    if !packed.exists() {
        pack(dir, "buy-and-hold", params, name);
    }
    node.cli(&[
        "submit",
        packed.to_str().unwrap(),
        "--goal",
        "race",
        "--key",
        key.to_str().unwrap(),
    ])
}

#[test]
fn a_phase_takes_submissions_only_while_open_and_counts_quotas_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    // The node's clock is a file the test moves: the phase opens and
    // closes when the test says, not after seconds of waiting.
    let clock = dir.join("clock");
    let opens = now_ms() + 5_000;
    let closes = opens + 25_000;
    set_clock(&clock, opens - 5_000);
    let program = Path::new(env!("CARGO_BIN_EXE_ian-host-testclock"));
    let env = [("IAN_TEST_CLOCK_FILE", clock.to_str().unwrap())];
    let mut node = NodeProc::start_program(program, &data, &env);
    let key = keygen(dir, "alice.key");
    // Packs first, so the window below is spent on submissions only.
    for (p, name) in [
        ("position=0.1", "a.ianpack"),
        ("position=0.2", "ok0.ianpack"),
        ("position=0.3", "ok1.ianpack"),
        ("position=0.4", "over.ianpack"),
        ("position=0.5", "bob.ianpack"),
        ("position=0.6", "late.ianpack"),
    ] {
        pack(dir, "buy-and-hold", p, name);
    }
    let goal = competition_goal(dir, "race", opens, closes, "");
    node.publish(&goal);

    // Before the phase opens: refused, naming the phase and its time.
    let o = submit(&node, dir, &key, "position=0.1", "a.ianpack");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("phase_not_open") && err.contains("main"),
        "{err}"
    );
    assert!(err.contains(&UtcTime(opens).to_string()), "{err}");

    let status = node.get_json("/api/v1/goals/race");
    assert_eq!(
        status["competition"]["phases"][0]["state"], "upcoming",
        "{status}"
    );
    assert!(http_get(&node.url, "/goals/race").contains("opens in"));

    // While open: two fit, the third is over max_total.
    set_clock(&clock, opens);
    for (i, p) in ["position=0.2", "position=0.3"].iter().enumerate() {
        let o = submit(&node, dir, &key, p, &format!("ok{i}.ianpack"));
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    let status = node.get_json("/api/v1/goals/race");
    assert_eq!(status["competition"]["current_phase"], "main", "{status}");
    assert!(http_get(&node.url, "/goals/race").contains("it closes in"));
    let over = |node: &NodeProc, name: &str| {
        let o = submit(node, dir, &key, "position=0.4", name);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.contains("quota_exceeded") && err.contains("max_total"),
            "{err}"
        );
    };
    over(&node, "over.ianpack");
    // Another contributor has a quota of their own.
    let bob = keygen(dir, "bob.key");
    let o = submit(&node, dir, &bob, "position=0.5", "bob.ianpack");
    assert!(o.status.success(), "{}", stderr(&o));

    // The count comes from the log: a restarted node refuses alike.
    assert!(node.stop());
    let node = NodeProc::start_program(program, &data, &env);
    over(&node, "over2.ianpack");

    // After the close (half open: the closing millisecond is already
    // closed): refused as closed; the log keeps its three entries.
    set_clock(&clock, closes);
    let o = submit(&node, dir, &bob, "position=0.6", "late.ianpack");
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("competition_closed"),
        "{err}"
    );
    let status = node.get_json("/api/v1/goals/race");
    assert_eq!(status["log_size"], 3, "{status}");
    assert_eq!(status["competition"]["phases"][0]["state"], "closed");
    assert!(http_get(&node.url, "/goals/race").contains("The competition closed"));
}

/// Moves the clock of an `ian-host-testclock` node to `t_ms`. The node
/// re-reads the file at every use; the rename makes the change atomic.
fn set_clock(file: &Path, t_ms: u64) {
    let next = file.with_extension("next");
    std::fs::write(&next, t_ms.to_string()).unwrap();
    std::fs::rename(&next, file).unwrap();
}

#[test]
fn a_daily_quota_resets_at_midnight_utc_by_the_entries_own_time() {
    const DAY: u64 = 86_400_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    // A day far from today, so only the injected clock can be in it.
    let day = 20_000 * DAY;
    let clock = dir.join("clock");
    set_clock(&clock, day + DAY - 60_000); // 23:59:00 UTC
    let program = Path::new(env!("CARGO_BIN_EXE_ian-host-testclock"));
    let env = [("IAN_TEST_CLOCK_FILE", clock.to_str().unwrap())];
    let mut node = NodeProc::start_program(program, &data, &env);
    let key = keygen(dir, "alice.key");
    let goal = trading_goal(dir, "race", false);
    let mut text = std::fs::read_to_string(&goal).unwrap();
    text.push_str(&format!(
        "[[phases]]\nname = \"main\"\nopens_at = \"{}\"\ncloses_at = \"{}\"\nmax_per_day = 2\n",
        UtcTime(day - DAY),
        UtcTime(day + 3 * DAY)
    ));
    std::fs::write(&goal, text).unwrap();
    node.publish(&goal);

    let accepted = |node: &NodeProc, p: &str, name: &str| {
        let o = submit(node, dir, &key, p, name);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    };
    let refused_until = |node: &NodeProc, p: &str, name: &str, reset: u64| {
        let o = submit(node, dir, &key, p, name);
        let err = stderr(&o);
        assert!(!o.status.success(), "accepted over the quota");
        assert!(
            err.contains("quota_exceeded") && err.contains("max_per_day"),
            "{err}"
        );
        assert!(
            err.contains(&format!("it resets at {}", UtcTime(reset))),
            "{err}"
        );
    };
    accepted(&node, "position=0.1", "a.ianpack");
    accepted(&node, "position=0.2", "b.ianpack");
    refused_until(&node, "position=0.3", "c.ianpack", day + DAY);

    // One second past midnight the day's count starts again.
    set_clock(&clock, day + DAY + 1_000);
    accepted(&node, "position=0.3", "c.ianpack");
    let log = node.get_json("/api/v1/goals/race/log");
    let times: Vec<u64> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(
        times,
        [day + DAY - 60_000, day + DAY - 60_000, day + DAY + 1_000],
        "{log}"
    );

    // Counted from the log: after a restart the new day has one left.
    assert!(node.stop());
    let mut node = NodeProc::start_program(program, &data, &env);
    accepted(&node, "position=0.4", "d.ianpack");
    refused_until(&node, "position=0.5", "e.ianpack", day + 2 * DAY);

    // The shipped binary has no test clock: given the same variable, it
    // keeps the real time, at which this competition closed long ago.
    assert!(node.stop());
    let node = NodeProc::start(&data, &env);
    let o = submit(&node, dir, &key, "position=0.5", "e.ianpack");
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("competition_closed"),
        "{err}"
    );
}

#[test]
fn a_hidden_seed_commitment_gives_no_seed_away_before_the_reveal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let secret_file = dir.join("secret.hex");
    let o = cli(&[
        "goal",
        "secret",
        "--out",
        secret_file.to_str().unwrap(),
        "--count",
        "4",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let made = json_out(&o);
    let secret = SeedSecret::from_hex(&std::fs::read_to_string(&secret_file).unwrap()).unwrap();
    assert_eq!(made["commitment"], secret.commitment().to_hex());
    // Never overwritten: a second secret for the same file is refused.
    let again = cli(&["goal", "secret", "--out", secret_file.to_str().unwrap()]);
    assert!(!again.status.success());

    let opens = now_ms();
    let goal = competition_goal(
        dir,
        "race",
        opens,
        opens + 3_600_000,
        &format!(
            "[competition]\nhidden_seeds = {{ commitment = \"{}\", count = 4 }}\n",
            secret.commitment()
        ),
    );
    let node = NodeProc::start(&dir.join("data"), &[]);
    node.publish(&goal);
    // The commitment cannot change once published: the same goal id with
    // another commitment is another goal hash, refused.
    let text = std::fs::read_to_string(&goal).unwrap();
    let other = SeedSecret::from_bytes([9; 32]).commitment().to_hex();
    std::fs::write(&goal, text.replace(&secret.commitment().to_hex(), &other)).unwrap();
    let o = node.cli(&[
        "goal",
        "publish",
        goal.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
    ]);
    assert!(!o.status.success(), "a changed commitment was published");
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains("goal_exists"));
    let key = keygen(dir, "alice.key");
    let o = submit(&node, dir, &key, "position=0.2", "a.ianpack");
    assert!(o.status.success(), "{}", stderr(&o));

    let status = node.get_json("/api/v1/goals/race");
    assert_eq!(status["competition"]["hidden_seeds"], 4);
    let seeds = secret.seeds(4);
    for path in [
        "/",
        "/goals/race",
        "/goals/race/entries/0",
        "/api/v1/node",
        "/api/v1/goals",
        "/api/v1/goals/race",
        "/api/v1/goals/race/manifest",
        "/api/v1/goals/race/leaderboard",
        "/api/v1/goals/race/log",
        "/api/v1/goals/race/log/0/proof",
        "/api/v1/goals/race/receipts/0",
        "/api/v1/goals/race/checkpoint",
        "/api/v1/openapi.json",
        "/logs/race/checkpoint",
        "/metrics",
    ] {
        let body = http_get(&node.url, path);
        for s in &seeds {
            for form in [s.to_string(), format!("{s:016x}"), hex_of(&s.to_be_bytes())] {
                assert!(!body.contains(&form), "{path} gives away hidden seed {s}");
            }
        }
        assert!(
            !body.contains(&secret.to_hex()),
            "{path} gives away the secret"
        );
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_final_board_on_revealed_hidden_seeds_is_recomputed_bit_for_bit_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let secret_file = dir.join("secret.hex");
    let o = cli(&[
        "goal",
        "secret",
        "--out",
        secret_file.to_str().unwrap(),
        "--count",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let secret = SeedSecret::from_hex(&std::fs::read_to_string(&secret_file).unwrap()).unwrap();
    let (alice, bob) = (keygen(dir, "alice.key"), keygen(dir, "bob.key"));
    let panic_pack = pack(dir, "hostile-panic", "x=1", "panic.ianpack");
    for (p, name) in [
        ("position=0.2", "a1.ianpack"),
        ("position=0.9", "a2.ianpack"),
        ("position=0.5", "b1.ianpack"),
        ("position=0.7", "b2.ianpack"),
    ] {
        pack(dir, "buy-and-hold", p, name);
    }
    let opens = now_ms();
    let closes = opens + 20_000;
    let clock = dir.join("clock");
    set_clock(&clock, opens);
    let goal = competition_goal(
        dir,
        "race",
        opens,
        closes,
        &format!(
            "[competition]\nfinal_selections = 1\nhidden_seeds = {{ commitment = \"{}\", count = 3 }}\n",
            secret.commitment()
        ),
    );
    let data = dir.join("data");
    let program = Path::new(env!("CARGO_BIN_EXE_ian-host-testclock"));
    let env = [("IAN_TEST_CLOCK_FILE", clock.to_str().unwrap())];
    let mut node = NodeProc::start_program(program, &data, &env);
    node.publish(&goal);
    for (key, params, name) in [
        (&alice, "position=0.2", "a1.ianpack"),
        (&alice, "position=0.9", "a2.ianpack"),
        (&bob, "position=0.5", "b1.ianpack"),
    ] {
        let o = submit(&node, dir, key, params, name);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // Bob's agent panics: an evaluated rejection, logged as an attempt that
    // counts against his quota (max_total 2: one entry, one attempt).
    let o = node.cli(&[
        "submit",
        panic_pack.to_str().unwrap(),
        "--goal",
        "race",
        "--key",
        bob.to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let o = submit(&node, dir, &bob, "position=0.7", "b2.ianpack");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("quota_exceeded") && stderr(&o).contains("max_total"),
        "the attempt counted: {}",
        stderr(&o)
    );
    // Alice selects her entry that ranks lower in public (entries 0 and 1
    // are hers, 2 is Bob's); her selection, not her best, goes to the final.
    let public = node.get_json("/api/v1/goals/race/leaderboard");
    let rank_of = |i: u64| {
        public["top"]
            .as_array()
            .unwrap()
            .iter()
            .position(|r| r["log_index"] == i)
            .unwrap()
    };
    let alice_pick = if rank_of(0) > rank_of(1) { 0 } else { 1 };
    let select = |entry: u64| {
        node.cli(&[
            "select",
            &entry.to_string(),
            "--goal",
            "race",
            "--key",
            alice.to_str().unwrap(),
        ])
    };
    let o = select(2);
    assert!(!o.status.success(), "Bob's entry is not Alice's to select");
    assert!(stderr(&o).contains("invalid_selection"), "{}", stderr(&o));
    let o = select(alice_pick);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let reveal = |node: &NodeProc, file: &Path| {
        node.cli(&[
            "goal",
            "reveal",
            "race",
            "--secret-file",
            file.to_str().unwrap(),
            "--operator-key",
            &node.operator_key(),
        ])
    };
    // Not before the close, and never with another secret.
    let o = reveal(&node, &secret_file);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("competition_open"), "{}", stderr(&o));
    set_clock(&clock, closes);
    let wrong = dir.join("wrong.hex");
    std::fs::write(&wrong, SeedSecret::from_bytes([3; 32]).to_hex()).unwrap();
    let o = reveal(&node, &wrong);
    assert!(stderr(&o).contains("wrong_secret"), "{}", stderr(&o));
    let o = reveal(&node, &secret_file);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // The final evaluation: each contributor's best public entry.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let board = loop {
        let b = node.get_json("/api/v1/goals/race/final");
        // Done, and durable: the signed log holds every final result.
        let signed = node.get_json("/api/v1/goals/race")["log_size"].clone();
        if (b["evaluated"] == 2 && signed == 8) || std::time::Instant::now() > deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(board["revealed"], true, "{board}");
    assert_eq!(board["total"], 2, "{board}");
    assert_eq!(board["evaluated"], 2, "{board}");
    assert_eq!(
        board["hidden_seeds"],
        serde_json::json!(secret.seeds(3)),
        "the seeds are the secret's"
    );
    let finalists: Vec<u64> = board["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["log_index"].as_u64().unwrap())
        .collect();
    // Alice's selection and Bob's best (his only) entry.
    let mut got = finalists.clone();
    got.sort();
    let mut want = vec![alice_pick, 2];
    want.sort();
    assert_eq!(got, want, "the selected entries: {board}");
    let log = node.get_json("/api/v1/goals/race/log");
    let kinds: Vec<&str> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["attempt", "selection", "reveal", "final", "final"],
        "{log}"
    );
    assert!(http_get(&node.url, "/goals/race").contains("Final board (hidden seeds)"));
    // Bob's history shows the attempt, from the log.
    let bob_key = log["records"][0]["contributor"].as_str().unwrap();
    let history = node.get_json(&format!("/api/v1/goals/race/contributors/{bob_key}"));
    assert!(
        history["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["detail"]
                .as_str()
                .unwrap()
                .contains("logged as attempt 3")),
        "{history}"
    );

    // Anyone re-computes the final board from the signed log alone.
    let o = cli(&["replay", "--final", "race", "--node", &node.url, "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["identical"], true, "{v}");
    assert_eq!(v["finals"], 2, "{v}");
    let replayed: Vec<u64> = v["board"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["log_index"].as_u64().unwrap())
        .collect();
    assert_eq!(replayed, finalists, "the same board, in the same order");

    // The CLI shows the final board beside the public one.
    let o = cli(&["leaderboard", "race", "--final", "--node", &node.url]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("final board of race") && stdout(&o).contains("2 of 2"),
        "{}",
        stdout(&o)
    );

    // A mirror copies the whole log, reveal and final results included, and
    // re-evaluates every leaf it can judge, finals on the hidden seeds.
    let vkey = node.get_json("/api/v1/goals/race")["log_vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let m = start_mirror(
        &dir.join("m"),
        &vkey,
        &node.url,
        &[("IAN_WITNESS_RETRY_MS", "50")],
    );
    let size = node.get_json("/api/v1/goals/race")["log_size"]
        .as_u64()
        .unwrap();
    assert_eq!(
        size, 8,
        "three entries, an attempt, a selection, the reveal, two final results"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while metric(&m, "ian_mirror_reevaluated_total") < size {
        assert!(
            std::time::Instant::now() < deadline,
            "the mirror did not follow the competition's log: {} of {size}; evidence {}",
            metric(&m, "ian_mirror_reevaluated_total"),
            http_get(&m.url, "/api/v1/evidence")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&m, "ian_evidence_total"), 0);
    drop(m);

    // A restarted node rebuilds the same final board from its log.
    assert!(node.stop());
    let node = NodeProc::start_program(program, &data, &env);
    assert_eq!(
        node.get_json("/api/v1/goals/race/final")["top"],
        board["top"]
    );
}
