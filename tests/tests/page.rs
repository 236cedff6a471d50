//! The web pages of a real node, read the way viewers read them: raw HTML
//! over loopback, and headless Chromium at a desktop (1280 px) and a phone
//! (390 px) width. Screenshots are kept under `target/page-screenshots/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use ian_tests::*;

struct Site {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    node: NodeProc,
    goal: String,
    alice: String,
}

/// A node with one goal whose author text is hostile, three accepted
/// entries from two contributors and one rejection.
fn site() -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let node = NodeProc::start(&dir.join("data"), &[]);
    let goal = "page-test";
    let goal_file = dir.join("goal.toml");
    std::fs::write(
        &goal_file,
        format!(
            "id = \"{goal}\"\ntitle = \"Trading <script>alert(1)</script> & co\"\n\
             description = \"Trade one asset.\\n\\nSecond <b>paragraph</b>.\"\n\
             [harness]\ncomponent = \"{}\"\nconfig = \"steps=64,fee_bps=5\"\nseeds = [1, 2, 3]\n\
             [thresholds]\nmin_reward = -1.0\n[ranking]\nkind = \"scalar\"\nreward = 1.0\nrisk = 0.5\ncomplexity = 0.0\n\
             [leaderboard]\ncapacity = 10\n\
             [[phases]]\nname = \"public-phase-with-a-long-name\"\nopens_at = \"2026-01-01T00:00:00Z\"\n\
             closes_at = \"2099-01-01T00:00:00Z\"\nmax_per_day = 50\nmax_total = 500\n\
             [[phases]]\nname = \"final\"\nopens_at = \"2099-01-02T00:00:00Z\"\ncloses_at = \"2099-02-01T00:00:00Z\"\n\
             [competition]\nhidden_seeds = {{ commitment = \"{}\", count = 8 }}\n",
            component("trading-harness").display(),
            "37e1d73b560274ae2e451285362cd12a715d10c11a798feb96bd98ea30486e75"
        ),
    )
    .unwrap();
    let o = node.cli(&[
        "goal",
        "publish",
        goal_file.to_str().unwrap(),
        "--operator-key",
        &node.operator_key(),
    ]);
    assert!(o.status.success(), "publish: {}", stderr(&o));
    let alice = keygen(&dir, "alice.key");
    let bob = keygen(&dir, "bob.key");
    let submit = |key: &Path, pack: &Path| {
        node.cli(&[
            "submit",
            "--goal",
            goal,
            "--key",
            key.to_str().unwrap(),
            "--json",
            pack.to_str().unwrap(),
        ])
    };
    let mut alice_key = String::new();
    for (i, (key, agent, params)) in [
        (&alice, "buy-and-hold", "position=1.0"),
        (&bob, "ma-crossover", "short=5,long=20"),
        (&alice, "buy-and-hold", "position=-0.5"),
    ]
    .into_iter()
    .enumerate()
    {
        let p = pack(&dir, agent, params, &format!("p{i}.ianpack"));
        let o = submit(key, &p);
        assert!(o.status.success(), "submit {agent}: {}", stderr(&o));
        if i == 0 {
            alice_key = json_out(&o)["entry"]["contributor"]
                .as_str()
                .unwrap()
                .to_string();
        }
    }
    let h = pack(&dir, "hostile-panic", "", "h.ianpack");
    assert!(!submit(&alice, &h).status.success());
    let alice = alice_key;
    Site {
        _tmp: tmp,
        dir,
        node,
        goal: goal.into(),
        alice,
    }
}

impl Site {
    fn pages(&self) -> Vec<(&'static str, String)> {
        vec![
            ("node", "/".to_string()),
            ("goal", format!("/goals/{}", self.goal)),
            (
                "contributor",
                format!("/goals/{}/contributors/{}", self.goal, self.alice),
            ),
            ("entry", format!("/goals/{}/entries/1", self.goal)),
        ]
    }

    fn html(&self, path: &str) -> String {
        let (status, head, body) = http_get_raw(&self.node.url, path);
        assert_eq!(status, 200, "GET {path}: {head}");
        assert!(head.contains("content-type: text/html"), "{head}");
        String::from_utf8(body).unwrap()
    }
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page"))
        + start.len();
    let to = s[from..].find(end).unwrap() + from;
    &s[from..to]
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Builds an agent from the template whose `act` panics with a message
/// full of bidi and control characters, and submits it: the node keeps the
/// panic message in the rejection, which the pages show.
fn submit_liar(s: &Site) {
    let dir = s.dir.join("liar");
    let o = ian_in(
        &s.dir,
        None,
        &["new", "agent", dir.to_str().unwrap(), "--name", "liar"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lib = dir.join("src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    let act = "fn act(&mut self, obs: &Observation) -> Action {";
    assert!(code.contains(act));
    std::fs::write(
        &lib,
        code.replacen(
            act,
            &format!("{act}\n        if obs.step < u64::MAX {{ panic!(\"evil\\u{{202E}}gpj.exe \\u{{2066}}x\\u{{2069}} \\u{{1b}}[2J\"); }}"),
            1,
        ),
    )
    .unwrap();
    let target = template_target_dir();
    let o = cargo_in(&dir, Some(&target), &["build", "--release"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let wasm = target.join("wasm32-unknown-unknown/release/liar.wasm");
    let p = s.dir.join("liar.ianpack");
    let o = cli(&[
        "pack",
        wasm.to_str().unwrap(),
        "--meta",
        "name=liar",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = s.node.cli(&[
        "submit",
        "--goal",
        &s.goal,
        "--key",
        s.dir.join("alice.key").to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    let out = stdout(&o) + &stderr(&o);
    assert!(out.contains("agent_trap") && out.contains("evil"), "{out}");
}

#[test]
fn no_page_carries_a_script_or_a_raw_bidi_or_control_character() {
    let s = site();
    submit_liar(&s);
    for (name, path) in s.pages() {
        let page = s.html(&path);
        assert!(
            !page.to_ascii_lowercase().contains("<script"),
            "{name}: {page}"
        );
        let raw = |c: char| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        };
        if let Some(c) = page.chars().find(|&c| raw(c)) {
            panic!("{name} page carries U+{:04X} raw", c as u32);
        }
    }
    let goal = s.html(&format!("/goals/{}", s.goal));
    assert!(
        goal.contains("Trading &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{goal}"
    );
    assert!(
        goal.contains("<p>Second &lt;b&gt;paragraph&lt;/b&gt;.</p>"),
        "{goal}"
    );
    // The agent's panic message, with each bidi control replaced.
    assert!(
        goal.contains("evil\u{FFFD}gpj.exe \u{FFFD}x\u{FFFD}"),
        "{goal}"
    );
}

#[test]
fn the_goal_page_shows_rules_board_charts_and_rejections_and_refreshes_itself() {
    let s = site();
    let page = s.html(&format!("/goals/{}", s.goal));
    assert!(page.contains("<meta http-equiv=\"refresh\""));
    assert!(
        page.contains("score = 1·reward − 0.5·risk − 0·complexity"),
        "{page}"
    );
    assert!(page.contains("reward ≥ -1"));
    assert!(page.contains("<code>1, 2, 3</code>"), "public seeds");
    // The competition: the open phase with its countdown, the timeline.
    assert!(page.contains("<h2>Competition</h2>"), "{page}");
    assert!(page.contains("is open: it closes in"), "{page}");
    assert!(page.contains("50 a day, 500 in all"), "{page}");
    assert!(page.contains("<tr class=\"upcoming\">"), "{page}");
    // The board: three entries, each linking its entry and contributor
    // page, with its acceptance time.
    let board = between(&page, "<h2>Board</h2>", "</table>");
    assert_eq!(board.matches("<tr>").count(), 4, "{board}");
    assert_eq!(board.matches("/entries/").count(), 3);
    assert_eq!(board.matches("/contributors/").count(), 3);
    assert_eq!(board.matches("<time datetime=\"").count(), 3);
    // Both charts are inline SVG whose marks link to entries.
    let frontier = between(&page, "Pareto frontier", "</svg>");
    assert_eq!(frontier.matches("<circle").count(), 3, "{frontier}");
    assert!(frontier.contains("class=\"dot on\""));
    let best = between(&page, "Best score over time", "</svg>");
    assert!(best.contains("<path class=\"best\" d=\"M"), "{best}");
    let rejections = between(&page, "Recent rejections", "</table>");
    assert!(rejections.contains("agent_trap"), "{rejections}");
    for link in [
        between(board, "href=\"", "\""),
        between(rejections, "href=\"", "\""),
    ] {
        s.html(link);
    }
}

#[test]
fn the_contributor_page_lists_accepted_entries_with_rank_and_stored_rejections() {
    let s = site();
    let page = s.html(&format!("/goals/{}/contributors/{}", s.goal, s.alice));
    let accepted = between(&page, "Accepted entries", "</table>");
    assert_eq!(accepted.matches("/entries/").count(), 2, "{accepted}");
    let rejected = between(&page, "Rejected submissions", "</table>");
    assert!(rejected.contains("agent_trap"), "{rejected}");
    assert!(page.contains(&format!("ian-host history --public-key {}", s.alice)));
}

#[test]
fn the_entry_page_shows_per_seed_results_whose_mean_is_the_logged_reward() {
    let s = site();
    let page = s.html(&format!("/goals/{}/entries/0", s.goal));
    let entry: serde_json::Value = serde_json::from_str(&http_get(
        &s.node.url,
        &format!("/api/v1/goals/{}/receipts/0", s.goal),
    ))
    .unwrap();
    let seeds = between(&page, "Per seed", "</table>");
    let rewards: Vec<f64> = seeds
        .split("<tr>")
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split("<td class=\"n\">").skip(1).collect();
            unescape(cells[1].split('<').next().unwrap())
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(rewards.len(), 3, "one row per seed: {seeds}");
    let mean = rewards.iter().sum::<f64>() / 3.0;
    let logged = entry["entry"]["metrics"]["reward"].as_f64().unwrap();
    // The page prints four decimals.
    assert!(
        (mean - logged).abs() < 1e-3,
        "mean {mean} vs logged {logged}"
    );
}

#[test]
fn the_verify_command_on_an_entry_page_checks_its_receipt() {
    let s = site();
    let page = s.html(&format!("/goals/{}/entries/2", s.goal));
    let commands = unescape(between(&page, "<pre class=\"verify\">", "</pre>"));
    let mut lines = commands.lines();
    // `curl -fsS -o FILE URL`: fetched here over the same loopback.
    let curl: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&curl[..3], ["curl", "-fsS", "-o"]);
    let path = curl[4]
        .strip_prefix(&s.node.url)
        .expect("the node's own URL");
    std::fs::write(s.dir.join(curl[3]), http_get(&s.node.url, path)).unwrap();
    let verify: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(verify[0], "ian-host");
    let o = Command::new(bin())
        .args(&verify[1..])
        .current_dir(&s.dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn unknown_goals_entries_and_keys_get_html_error_pages() {
    let s = site();
    for (path, status) in [
        ("/goals/nope".to_string(), 404),
        (format!("/goals/{}/entries/99", s.goal), 404),
        (format!("/goals/{}/entries/x", s.goal), 400),
        (format!("/goals/{}/contributors/zz", s.goal), 400),
    ] {
        let (got, head, body) = http_get_raw(&s.node.url, &path);
        assert_eq!(got, status, "{path}");
        assert!(head.contains("content-type: text/html"), "{path}: {head}");
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("<h1>Not here</h1>"), "{path}: {body}");
    }
}

// ------------------------------------------------------------ Chromium ---

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("IAN_REQUIRE_CHROMIUM").is_none(),
            "IAN_REQUIRE_CHROMIUM is set but no chromium is installed"
        );
        eprintln!("SKIPPED: chromium is not installed (scripts/test.sh installs it)");
    }
    found
}

/// Serves `/__frame?w=W&p=PATH`, a page holding PATH of the node in an
/// iframe exactly W px wide (headless Chromium will not open a window
/// narrower than 500 px) that records the framed document's widths once
/// it has loaded; every other path is passed through to the node. Same
/// origin, so the frame's document can be measured.
fn frame_proxy(node: String) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let node = node.clone();
            std::thread::spawn(move || serve(conn, &node));
        }
    });
    addr
}

fn serve(mut conn: TcpStream, node: &str) {
    let mut line = String::new();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    if r.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (status, ctype, body) = if let Some(q) = path.strip_prefix("/__frame?") {
        let (w, p) = q.split_once("&p=").unwrap();
        let w = w.trim_start_matches("w=");
        let html = format!(
            "<!doctype html><html><body style=\"margin:0\">\
             <iframe id=\"f\" src=\"{p}\" style=\"display:block;border:0;width:{w}px;height:2400px\"></iframe>\
             <script>document.getElementById('f').addEventListener('load',function(){{\
             var e=this.contentDocument.documentElement;\
             document.body.setAttribute('data-scroll-width',e.scrollWidth);\
             document.body.setAttribute('data-client-width',e.clientWidth);}});</script></body></html>"
        );
        (200, "text/html".to_string(), html.into_bytes())
    } else {
        let (status, head, body) = http_get_raw(node, &path);
        let ctype = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap_or("application/octet-stream")
            .to_string();
        (status, ctype, body)
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(&body);
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
}

fn headless(chromium: &str, profile: &Path, width: u32, args: &[&str]) -> std::process::Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--window-size={},2400", width.max(500)),
            "--virtual-time-budget=5000",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_page_fits_a_390_px_phone_and_a_1280_px_desktop_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let s = site();
    let proxy = frame_proxy(s.node.url.clone());
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/page-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, path) in s.pages() {
        for width in [1280u32, 390] {
            let frame = format!("{proxy}/__frame?w={width}&p={path}");
            let profile = s.dir.join(format!("chromium-{name}-{width}"));
            let o = headless(chromium, &profile, width, &["--dump-dom", &frame]);
            let dom = String::from_utf8_lossy(&o.stdout);
            let attr = |a: &str| -> u32 {
                between(&dom, &format!("{a}=\""), "\"")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name} at {width}px: {dom}"))
            };
            let (scroll, client) = (attr("data-scroll-width"), attr("data-client-width"));
            assert_eq!(client, width, "{name}: the frame is the viewport");
            assert!(
                scroll <= client,
                "{name} page is {scroll}px wide in a {client}px viewport"
            );
            let png = shots.join(format!("{name}-{width}.png"));
            let _ = std::fs::remove_file(&png);
            let o = headless(
                chromium,
                &profile,
                width,
                &[&format!("--screenshot={}", png.display()), &frame],
            );
            let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(
                len > 10_000,
                "{name} at {width}px: no screenshot: {}",
                stderr(&o)
            );
        }
    }
}
