//! Harness for IAN's end-to-end tests (in `tests/tests/`): the built
//! `ian-host` binary, the real guest components, a real store in a temp
//! dir and real HTTP on a loopback port.
//!
//! Everything here talks to the node the way an operator or contributor
//! does — through the CLI and plain HTTP — so the suite checks the product
//! as shipped, not the library behind it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// Environment variable that names the `ian-host` binary to test, for runs
/// where it was built elsewhere (another target dir, an installed release).
pub const HOST_BIN_ENV: &str = "IAN_HOST_BIN";

/// Environment variable that names the directory of built guest components
/// (default: `target/components` in the source tree, where
/// `scripts/build-guests.sh` puts them).
pub const COMPONENTS_DIR_ENV: &str = "IAN_COMPONENTS_DIR";

/// How long a node may take to write its address file before a test fails
/// instead of hanging.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a node may take to drain and exit after SIGTERM before it is
/// killed and the stop counts as unclean.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The `ian-host` binary under test, located once per test process.
///
/// `CARGO_BIN_EXE_*` exists only inside the package that owns the binary,
/// so this crate finds it itself: `IAN_HOST_BIN` if set; otherwise the
/// binary cargo placed in the same target dir and profile as this test
/// executable (`<target>/<profile>/deps/<test>-<hash>` →
/// `<target>/<profile>/ian-host`). If that binary is missing or older than
/// the `ian_node` library this test was linked against (a run of
/// `cargo test -p ian-tests` alone rebuilds the library but not the
/// binary), it is built first with `cargo build -p ian-node --bin ian-host`
/// in the same target dir and profile, so the tests never drive a stale
/// binary.
pub fn bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(locate_bin).clone()
}

fn locate_bin() -> PathBuf {
    if let Some(p) = std::env::var_os(HOST_BIN_ENV) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{HOST_BIN_ENV}={} is not a file: build it with `cargo build --release -p ian-node --bin ian-host`",
            p.display()
        );
        return p;
    }
    let exe = std::env::current_exe().expect("path of the running test executable");
    let deps = exe
        .parent()
        .expect("test executable lives in <target>/<profile>/deps");
    let profile_dir = deps
        .parent()
        .expect("test executable lives in <target>/<profile>/deps");
    let candidate = profile_dir.join(format!("ian-host{}", std::env::consts::EXE_SUFFIX));
    if !is_fresh(&candidate, deps) {
        build_host(profile_dir);
    }
    assert!(
        candidate.is_file(),
        "{} missing after building it: run `cargo build --release -p ian-node --bin ian-host` \
         or set {HOST_BIN_ENV}",
        candidate.display()
    );
    candidate
}

/// Whether `bin` exists and is at least as new as every `ian_node` library
/// in `deps` (cargo links the binary after the library it wraps).
fn is_fresh(bin: &Path, deps: &Path) -> bool {
    let Some(bin_time) = mtime(bin) else {
        return false;
    };
    let newest_lib = std::fs::read_dir(deps)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libian_node-") && name.ends_with(".rlib")
        })
        .filter_map(|e| mtime(&e.path()))
        .max();
    newest_lib.is_none_or(|lib| bin_time >= lib)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).ok()?.modified().ok()
}

/// Build `ian-host` into the target dir and profile `profile_dir` belongs
/// to, with the cargo that runs these tests.
fn build_host(profile_dir: &Path) {
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name")
        .to_string();
    let mut target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    // Cross builds add a triple level: <target>/<triple>/<profile>. Cargo
    // marks the target dir root with CACHEDIR.TAG.
    let mut triple = None;
    if !target_dir.join("CACHEDIR.TAG").is_file()
        && let Some(parent) = target_dir.parent()
        && parent.join("CACHEDIR.TAG").is_file()
    {
        triple = target_dir
            .file_name()
            .map(|t| t.to_string_lossy().into_owned());
        target_dir = parent.to_path_buf();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cmd = cargo_cmd();
    cmd.args([
        "build",
        "-p",
        "ian-node",
        "--bin",
        "ian-host",
        "--manifest-path",
    ])
    .arg(&manifest)
    .arg("--target-dir")
    .arg(&target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    if let Some(t) = &triple {
        cmd.args(["--target", t]);
    }
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo to build ian-host ({shown}): {e}"));
    assert!(
        out.status.success(),
        "building ian-host failed ({shown}); run `cargo build --release -p ian-node --bin ian-host` \
         or set {HOST_BIN_ENV}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the variables cargo sets for this test process: they describe
/// ian-tests, and build scripts that watch them (ring's does) would see a
/// change and rebuild, and the next plain `cargo build` would rebuild them
/// back. Every cargo (or `ian-host dev`, which runs cargo) a test starts
/// goes through this.
pub fn without_test_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
            "CARGO_TARGET_TMPDIR",
            "CARGO_TARGET_DIR",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || k == "OUT_DIR"
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd
}

/// The cargo that runs these tests, with [`without_test_env`].
pub fn cargo_cmd() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    without_test_env(&mut cmd);
    cmd
}

/// Where projects made by `ian-host new` in tests build their wasm when a
/// test shares one target dir between them: wit-bindgen and its macros are
/// compiled once per machine, not once per test.
pub fn template_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/template-builds")
}

/// `ian-host` run in `dir` (outside the repository, as a user would), with
/// [`without_test_env`]; `target_dir` sets `CARGO_TARGET_DIR` for the cargo
/// that `dev` runs.
pub fn ian_in(dir: &Path, target_dir: Option<&Path>, args: &[&str]) -> Output {
    ian_in_env(dir, target_dir, args, &[])
}

/// As [`ian_in`], with `env` set for the command.
pub fn ian_in_env(
    dir: &Path,
    target_dir: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(bin());
    without_test_env(&mut cmd).current_dir(dir).args(args);
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::null()).output().expect("run ian-host")
}

/// `cargo <args>` in `dir`, which must succeed; its output.
pub fn cargo_in(dir: &Path, target_dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = cargo_cmd();
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let o = cmd.output().expect("run cargo");
    assert!(
        o.status.success(),
        "cargo {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Directory of built guest components; fails with the command that makes
/// them when they are missing.
pub fn components() -> PathBuf {
    let dir = std::env::var_os(COMPONENTS_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/components"));
    assert!(
        dir.join("trading-harness.wasm").is_file(),
        "guest components missing in {}: run scripts/build-guests.sh",
        dir.display()
    );
    dir
}

/// Path of one built component by name (`<name>.wasm`).
pub fn component(name: &str) -> PathBuf {
    let p = components().join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} missing: run scripts/build-guests.sh",
        p.display()
    );
    p
}

/// Path of a file in the source tree, relative to the repository root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Write a trading goal file into `dir` (absolute component paths), so a
/// test controls thresholds and invariants without touching the examples.
pub fn trading_goal(dir: &Path, id: &str, with_invariants: bool) -> PathBuf {
    let mut t = format!(
        "id = \"{id}\"\ntitle = \"Trading test goal\"\n[harness]\ncomponent = \"{}\"\nconfig = \"steps=64,fee_bps=5\"\nseeds = [1, 2]\n",
        component("trading-harness").display()
    );
    if with_invariants {
        t.push_str(&format!(
            "[[invariants]]\nname = \"position-limit\"\ncomponent = \"{}\"\n[[invariants]]\nname = \"param-bounds\"\ncomponent = \"{}\"\n",
            component("position-limit-invariant").display(),
            component("param-bounds-invariant").display()
        ));
    }
    t.push_str("[thresholds]\nmin_reward = -1.0\n[ranking]\nkind = \"scalar\"\nreward = 1.0\nrisk = 0.5\ncomplexity = 0.0\n[leaderboard]\ncapacity = 10\n");
    let p = dir.join(format!("{id}.toml"));
    std::fs::write(&p, t).unwrap();
    p
}

/// Copy an example goal (`examples/goals/<name>.toml`) into `dir`,
/// unchanged except that each component path points at the built component
/// of the same file name in [`components`]; the example's relative paths
/// assume the default components dir, which `IAN_COMPONENTS_DIR` may move.
pub fn example_goal(dir: &Path, name: &str) -> PathBuf {
    let src = repo_path(&format!("examples/goals/{name}.toml"));
    let text =
        std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    let mut goal: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", src.display()));
    let relocate = |v: &mut toml::Value| {
        let old = v.as_str().expect("component path is a string");
        let stem = Path::new(old)
            .file_stem()
            .expect("component path names a file")
            .to_string_lossy()
            .into_owned();
        *v = toml::Value::String(component(&stem).display().to_string());
    };
    relocate(
        goal.get_mut("harness")
            .and_then(|h| h.get_mut("component"))
            .expect("goal has harness.component"),
    );
    if let Some(invs) = goal.get_mut("invariants").and_then(|i| i.as_array_mut()) {
        for inv in invs {
            relocate(inv.get_mut("component").expect("invariant has a component"));
        }
    }
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, toml::to_string(&goal).unwrap()).unwrap();
    p
}

/// A running `ian-host serve` on a loopback port, killed (SIGKILL) on drop
/// if a test did not stop it, so a failing test never leaks a server.
pub struct NodeProc {
    /// The server process, `None` once stopped.
    pub child: Option<Child>,
    /// Base URL from the node's address file, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The node's data dir (store, keys, address file).
    pub data: PathBuf,
    /// The node's stderr (its logs), shown when startup fails.
    pub log: PathBuf,
}

impl NodeProc {
    /// Start on a free port (`127.0.0.1:0`) with `data` as data dir and
    /// extra env; returns once the node has written its address file,
    /// which it does only after it listens.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> NodeProc {
        Self::start_in(None, data, env)
    }

    /// As [`NodeProc::start`], inside the network namespace `netns` when
    /// given (`ip netns exec`, which execs the node: the child is the node).
    pub fn start_in(netns: Option<&str>, data: &Path, env: &[(&str, &str)]) -> NodeProc {
        Self::launch(netns, data, env, &[])
    }

    /// As [`NodeProc::start`], with extra `serve` flags (`--new-identity`).
    pub fn start_with_flags(data: &Path, env: &[(&str, &str)], flags: &[&str]) -> NodeProc {
        Self::launch(None, data, env, flags)
    }

    /// As [`NodeProc::start`], running `program` (a binary with the
    /// `ian-host` command line, e.g. this package's `ian-host-testclock`)
    /// instead of the `ian-host` under test.
    pub fn start_program(program: &Path, data: &Path, env: &[(&str, &str)]) -> NodeProc {
        Self::launch_program(program, None, data, env, &[])
    }

    fn launch(netns: Option<&str>, data: &Path, env: &[(&str, &str)], flags: &[&str]) -> NodeProc {
        Self::launch_program(&bin(), netns, data, env, flags)
    }

    fn launch_program(
        program: &Path,
        netns: Option<&str>,
        data: &Path,
        env: &[(&str, &str)],
        flags: &[&str],
    ) -> NodeProc {
        std::fs::create_dir_all(data).unwrap();
        let _ = std::fs::remove_file(data.join("node.addr"));
        let log = data.with_extension("log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.arg("serve")
            .args(flags)
            .env("IAN_LISTEN", "127.0.0.1:0")
            .env("IAN_DATA_DIR", data)
            .env("IAN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn ian-host serve");
        let mut node = NodeProc {
            child: Some(child),
            url: String::new(),
            data: data.to_path_buf(),
            log,
        };
        let t = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(data.join("node.addr"))
                && s.ends_with('\n')
            {
                node.url = s.trim().to_string();
                break;
            }
            if let Some(st) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "node exited during startup ({st}): {}",
                    std::fs::read_to_string(&node.log).unwrap_or_default()
                );
            }
            assert!(
                t.elapsed() < START_TIMEOUT,
                "node did not start: {}",
                std::fs::read_to_string(&node.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    /// Operator key the node generated in its data dir.
    pub fn operator_key(&self) -> String {
        std::fs::read_to_string(self.data.join("operator.key"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// SIGTERM and wait; returns whether it exited successfully within
    /// the stop timeout.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        send_signal(c.id(), "TERM");
        let t = Instant::now();
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.success();
            }
            if t.elapsed() > STOP_TIMEOUT {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Run a CLI command against this node (`IAN_NODE` set to its URL).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .env("IAN_NODE", &self.url)
            .output()
            .expect("run ian-host")
    }

    /// As [`NodeProc::cli`], with `input` on the command's stdin.
    pub fn cli_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut cmd = Command::new(bin());
        cmd.args(args).env("IAN_NODE", &self.url);
        output_with_stdin(&mut cmd, input)
    }

    /// Publish a goal file with the node's operator key.
    pub fn publish(&self, goal_file: &Path) {
        let o = self.cli(&[
            "goal",
            "publish",
            goal_file.to_str().unwrap(),
            "--operator-key",
            &self.operator_key(),
            "--json",
        ]);
        assert!(o.status.success(), "publish: {}{}", stdout(&o), stderr(&o));
    }

    /// GET a path on this node; the JSON body of a 200 response.
    pub fn get_json(&self, path: &str) -> Value {
        let body = http_get(&self.url, path);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Send a signal by pid with the `kill` utility (no unsafe, no libc).
pub fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Runs `cmd` with `input` written to its stdin (from a thread, so a
/// command that writes before it reads cannot deadlock); its output.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            use std::io::Write as _;
            // A command that refuses early closes its stdin: not our error.
            let _ = stdin.write_all(input);
        });
        child.wait_with_output().expect("wait")
    })
}

/// Run the CLI without a node.
pub fn cli(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run ian-host")
}

/// The public key of the evaluation worker named `name` in `dir`
/// (`ian-host worker --print-key`; its key file is created when missing).
pub fn worker_key(dir: &Path, name: &str) -> String {
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

/// Whether `ian-host verify --json` finds `reply` (a submission's
/// receipt, written to `dir`) valid under `node`'s current key.
pub fn receipt_verifies(node: &NodeProc, dir: &Path, reply: &Value) -> bool {
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

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout of a `--json` command, parsed; shows both streams when it is not
/// JSON.
pub fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// Build a pack with the CLI (metadata `name=<component_name>`).
pub fn pack(dir: &Path, component_name: &str, params: &str, out_name: &str) -> PathBuf {
    let out = dir.join(out_name);
    let o = cli(&[
        "pack",
        component(component_name).to_str().unwrap(),
        "--params",
        params,
        "--meta",
        &format!("name={component_name}"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "pack failed: {}", stderr(&o));
    out
}

/// Submits a buy-and-hold pack with `params` to `goal` under a new
/// contributor key named `name`, with the CLI; it must be accepted. The
/// reply (`submit --json`).
pub fn submit_as_new_contributor(
    node: &NodeProc,
    dir: &Path,
    goal: &str,
    name: &str,
    params: &str,
) -> Value {
    let key = keygen(dir, &format!("{name}.key"));
    let packed = pack(dir, "buy-and-hold", params, &format!("{name}.ianpack"));
    let o = node.cli(&[
        "submit",
        packed.to_str().unwrap(),
        "--goal",
        goal,
        "--key",
        key.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    json_out(&o)
}

/// Make a contributor key with the CLI.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let o = cli(&["keygen", "--out", p.to_str().unwrap()]);
    assert!(o.status.success(), "keygen failed: {}", stderr(&o));
    p
}

/// A plain HTTP/1.1 POST of a text body over loopback, whatever the
/// answer: (status, content type, body).
pub fn http_post(base: &str, path: &str, body: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

/// A free loopback port (for a node that must keep its address across
/// restarts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET over loopback (std only, independent of the
/// node's own client); asserts a 200 and returns the body.
pub fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to node");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        dechunk(body)
    } else {
        body.to_string()
    }
}

/// A counter or gauge without labels from the node's `/metrics`.
pub fn metric(node: &NodeProc, name: &str) -> u64 {
    http_get(&node.url, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// A plain HTTP/1.1 GET over loopback, whatever the answer: (status,
/// lower-cased headers, body bytes). For the node's binary bodies (tiles,
/// blobs), which carry a Content-Length and are never chunked.
pub fn http_get_raw(base: &str, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to node");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let at = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
    assert!(!head.contains("chunked"), "GET {path}: chunked body");
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, buf[at + 4..].to_vec())
}

/// [`http_get_raw`] that asserts a 200 and returns the body.
pub fn http_get_bytes(base: &str, path: &str) -> Vec<u8> {
    let (status, head, body) = http_get_raw(base, path);
    assert_eq!(status, 200, "GET {path}: {head}");
    body
}

/// Decode an HTTP/1.1 chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size_line, after) = rest.split_once("\r\n").expect("chunk size line");
        let size_hex = size_line.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_hex, 16).expect("chunk size is hex");
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = after[size..]
            .strip_prefix("\r\n")
            .expect("CRLF after chunk");
    }
}

/// A node that mirrors `log_vkey`'s log from `primary` (a witness that
/// re-evaluates every entry before it cosigns), named `mirror.test`.
pub fn start_mirror(dir: &Path, log_vkey: &str, primary: &str, env: &[(&str, &str)]) -> NodeProc {
    std::fs::create_dir_all(dir).unwrap();
    let logs = dir.join("logs");
    std::fs::write(&logs, format!("log {log_vkey} {primary}\n")).unwrap();
    let mut all = vec![
        ("IAN_NODE_NAME", "mirror.test"),
        ("IAN_WITNESS", "true"),
        ("IAN_WITNESS_REEVALUATE", "true"),
        ("IAN_WITNESS_LOGS_FILE", logs.to_str().unwrap()),
    ];
    all.extend_from_slice(env);
    NodeProc::start(&dir.join("data"), &all)
}
