//! Shared helpers for the node's end-to-end tests: real components, a real
//! `ian-host` process on a loopback port, a real store in a temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The built binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ian-host"))
}

/// Directory of built guest components.
pub fn components() -> PathBuf {
    let dir = std::env::var_os("IAN_COMPONENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/components"));
    assert!(
        dir.join("trading-harness.wasm").is_file(),
        "guest components missing in {}: run scripts/build-guests.sh",
        dir.display()
    );
    dir
}

/// Path of one component.
pub fn component(name: &str) -> PathBuf {
    let p = components().join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} missing: run scripts/build-guests.sh",
        p.display()
    );
    p
}

/// Write a trading goal file into `dir` (absolute component paths).
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

/// A running `ian-host serve`, killed (SIGTERM, then SIGKILL) on drop.
pub struct NodeProc {
    pub child: Option<Child>,
    pub url: String,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl NodeProc {
    /// Start on a free port with a data dir and extra env.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> NodeProc {
        std::fs::create_dir_all(data).unwrap();
        let _ = std::fs::remove_file(data.join("node.addr"));
        let log = data.with_extension("log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
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
                t.elapsed() < Duration::from_secs(60),
                "node did not start: {}",
                std::fs::read_to_string(&node.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    /// Operator key the node generated.
    pub fn operator_key(&self) -> String {
        std::fs::read_to_string(self.data.join("operator.key"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// SIGTERM and wait; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        unsafe_free_kill(c.id(), "TERM");
        let t = Instant::now();
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.success();
            }
            if t.elapsed() > Duration::from_secs(60) {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Run a CLI command against this node.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .env("IAN_NODE", &self.url)
            .output()
            .expect("run ian-host")
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
pub fn unsafe_free_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Run the CLI without a node.
pub fn cli(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run ian-host")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Build a pack with the CLI.
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

/// Make a contributor key with the CLI.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let o = cli(&["keygen", "--out", p.to_str().unwrap()]);
    assert!(o.status.success(), "keygen failed: {}", stderr(&o));
    p
}

/// A plain HTTP/1.1 GET over loopback (std only); returns the body.
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
    body.to_string()
}
