//! An agent for goals with `agents = "wasi"`, built for wasm32-wasip2 with
//! std, so its component imports WASI as a language runtime's does. It
//! holds a position and, by `mode`, exercises one part of the deterministic
//! WASI an agent gets, or misbehaves:
//!
//! * `hold` (default): prints a line per step to stdout and stderr.
//! * `random`: the position is drawn from WASI random (through std's
//!   `RandomState`), so it shows that random bytes follow the pack and seed.
//! * `clock`: the position follows the wall clock's milliseconds.
//! * `panic`: writes a traceback-like text to stderr, then panics at step 3.
//! * `exit`: calls `exit(3)` at step 3 (WASI 0.2's exit carries only
//!   success or failure, so the host sees `exit(1)`).
//! * `file`: tries to read `/etc/passwd` and write `/tmp/x`; panics if
//!   either works.
//! * `socket`: tries to connect to 127.0.0.1:80 and to resolve a name;
//!   panics if either works.
//! * `env`: panics if it sees any environment variable or argument.
//! * `sleep`: sleeps an hour at the first step and panics unless both
//!   clocks say an hour went by.
//!
//! Params: `mode`, `position` (default 0.5), `shout` (1: write 64 KiB to
//! stdout and to stderr at each of the first 16 steps, a megabyte each in
//! all, before anything else; default 0).

use std::hash::{BuildHasher, Hasher};
use std::io::Write;

use ian_guest_sdk::{Action, Agent, Observation, params::Params};

struct Probe {
    mode: String,
    position: f64,
    shout: bool,
}

const MODES: &[&str] = &[
    "hold", "random", "clock", "panic", "exit", "file", "socket", "env", "sleep",
];

/// A number in [-1, 1) from WASI's random bytes: `RandomState` keys its
/// hasher with them.
fn random_position() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(42);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn clock_position() -> f64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    (ms % 1000) as f64 / 1000.0
}

impl Agent for Probe {
    fn init(params: &[u8]) -> Result<Self, String> {
        let p = Params::parse(params)?;
        p.reject_unknown(&["mode", "position", "shout"])?;
        let shout = p.f64_or("shout", 0.0)? != 0.0;
        let mode = p.get("mode").unwrap_or("hold").to_string();
        if !MODES.contains(&mode.as_str()) {
            return Err(format!("mode must be one of {MODES:?}, got {mode:?}"));
        }
        let position = p.f64_or("position", 0.5)?;
        if mode == "env" && (std::env::vars_os().next().is_some() || std::env::args_os().len() > 0)
        {
            panic!("the agent saw an environment variable or an argument");
        }
        Ok(Probe {
            mode,
            position,
            shout,
        })
    }

    fn act(&mut self, obs: &Observation) -> Action {
        if self.shout && obs.step < 16 {
            let chunk = vec![b'x'; 64 << 10];
            let _ = std::io::stdout().write_all(&chunk);
            let _ = std::io::stderr().write_all(&chunk);
        }
        match self.mode.as_str() {
            "hold" => {
                println!("step {} position {}", obs.step, self.position);
                eprintln!("step {}", obs.step);
            }
            "random" => return vec![random_position()],
            "clock" => return vec![clock_position()],
            "panic" if obs.step == 3 => {
                eprintln!("Traceback (most recent call last):");
                eprintln!("  File \"agent.py\", line 7, in act");
                eprintln!("ValueError: the probe was told to fail at step 3");
                panic!("told to fail at step {}", obs.step);
            }
            "exit" if obs.step == 3 => std::process::exit(3),
            "sleep" if obs.step == 0 => {
                let hour = std::time::Duration::from_secs(3600);
                let (t0, w0) = (std::time::Instant::now(), std::time::SystemTime::now());
                std::thread::sleep(hour);
                let mono = t0.elapsed();
                let wall = w0.elapsed().unwrap_or_default();
                if mono < hour || wall < hour {
                    panic!("slept an hour, the clocks moved {mono:?} and {wall:?}");
                }
            }
            "file" => {
                if let Ok(b) = std::fs::read("/etc/passwd") {
                    panic!("read {} bytes of /etc/passwd", b.len());
                }
                if std::fs::write("/tmp/x", b"x").is_ok() {
                    panic!("wrote /tmp/x");
                }
            }
            "socket" => {
                if std::net::TcpStream::connect("127.0.0.1:80").is_ok() {
                    panic!("connected to 127.0.0.1:80");
                }
                if std::net::ToSocketAddrs::to_socket_addrs("localhost:80").is_ok() {
                    panic!("resolved localhost");
                }
            }
            _ => {}
        }
        vec![self.position]
    }
}

ian_guest_sdk::export_agent!(Probe);
