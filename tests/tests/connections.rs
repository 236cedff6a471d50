//! Connection caps and timeouts of `ian-host serve`, driven over real
//! loopback sockets: over-cap connections are refused at once while the
//! admitted ones stay open, slowloris and idle connections are cut on their
//! clocks, a stalled body fails the request, and a node under
//! `ulimit -n 1024` facing 1,100 idle connections keeps answering
//! `/healthz` without dying or spinning on EMFILE.
//!
//! Every loop is bounded in count and time; every socket is 127.0.0.1.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ian_tests::*;

/// How long any single socket operation may block a test.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Allowance for scheduling on a loaded two-core machine.
const SLACK: Duration = Duration::from_millis(1500);

fn addr(node: &NodeProc) -> SocketAddr {
    node.url
        .trim_start_matches("http://")
        .parse()
        .expect("node URL is http://IP:port")
}

fn connect(a: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&a, IO_TIMEOUT).expect("connect to node");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// What the server did with a connection, seen without blocking.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Nothing to read, not closed.
    Open,
    /// Closed (EOF or reset), with what was received before.
    Closed(Vec<u8>),
}

/// Read whatever is there without waiting: [`Seen::Open`] if the server
/// has neither sent nor closed.
fn peek(s: &mut TcpStream) -> Seen {
    s.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let seen = loop {
        match s.read(&mut buf) {
            Ok(0) => break Seen::Closed(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if got.is_empty() {
                    break Seen::Open;
                }
                // Part of an answer: the close follows at once.
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => break Seen::Closed(got),
        }
    };
    s.set_nonblocking(false).unwrap();
    seen
}

/// Wait until the server closes `s` (EOF or reset), up to `limit`; the
/// time it took and what was received, or `None` if still open.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some((t.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some((t.elapsed(), got)),
        }
    }
    None
}

fn status_of(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    text.lines().next().unwrap_or("").to_string()
}

/// One `GET /healthz` over a new connection: the status line, or the
/// error if the connection failed or was closed without an answer.
fn healthz(a: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&a, IO_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    // A refused connection may already be closed: write errors are answers.
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    if got.is_empty() {
        return Err("closed without an answer".into());
    }
    Ok(status_of(&got))
}

/// Poll `/healthz` until it answers 200 or `limit` passes; how long it took.
fn healthy_within(a: SocketAddr, limit: Duration) -> Result<Duration, String> {
    let t = Instant::now();
    let mut last = String::new();
    while t.elapsed() < limit {
        match healthz(a) {
            Ok(s) if s.starts_with("HTTP/1.1 200") => return Ok(t.elapsed()),
            Ok(s) => last = s,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "no 200 from /healthz within {limit:?}; last: {last}"
    ))
}

/// Stop with SIGTERM; it must exit cleanly and promptly even with client
/// connections open.
fn stop_promptly(node: &mut NodeProc) {
    let t = Instant::now();
    assert!(node.stop(), "node did not stop cleanly: {}", log(node));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        t.elapsed()
    );
}

fn log(node: &NodeProc) -> String {
    std::fs::read_to_string(&node.log).unwrap_or_default()
}

/// Open `n` idle connections (nothing sent).
fn open_idle(a: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| connect(a)).collect()
}

/// Opens connections until `n` are held open by the node. Slots of
/// connections the client just closed come back asynchronously, so an early
/// connection may still be refused; it is replaced until the deadline.
fn admitted(a: SocketAddr, n: usize, within: Duration) -> Option<Vec<TcpStream>> {
    let deadline = Instant::now() + within;
    let mut held: Vec<TcpStream> = Vec::new();
    while Instant::now() < deadline {
        while held.len() < n {
            held.push(connect(a));
        }
        std::thread::sleep(Duration::from_millis(100));
        held.retain_mut(|s| peek(s) == Seen::Open);
        if held.len() == n {
            return Some(held);
        }
    }
    None
}

#[test]
fn connections_over_the_per_ip_cap_get_503_and_close_while_the_first_stay_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(
        &tmp.path().join("data"),
        &[
            ("IAN_MAX_CONNECTIONS_PER_IP", "8"),
            ("IAN_MAX_CONNECTIONS", "100"),
        ],
    );
    let a = addr(&node);
    let mut conns = Vec::new();
    for _ in 0..20 {
        conns.push(connect(a));
        // Accepted in order: the first 8 are the admitted ones.
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut extra = conns.split_off(8);
    for (i, s) in extra.iter_mut().enumerate() {
        let (took, got) = closed_within(s, Duration::from_secs(2))
            .unwrap_or_else(|| panic!("connection {} over the cap still open", i + 8));
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 503") && text.contains("too_many_connections"),
            "connection {} over the cap: got {text:?} after {took:?}",
            i + 8
        );
    }
    for (i, s) in conns.iter_mut().enumerate() {
        assert_eq!(peek(s), Seen::Open, "admitted connection {i} was closed");
    }
    // Still at the cap: a ninth connection is refused too ...
    let refused = healthz(a).unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    // ... until one of the eight closes; then /healthz is served.
    conns.truncate(6);
    let took = healthy_within(a, Duration::from_secs(3)).unwrap();
    println!("healthz answered {took:?} after two admitted connections closed");
    for (i, s) in conns.iter_mut().enumerate() {
        assert_eq!(peek(s), Seen::Open, "admitted connection {i} was closed");
    }
    stop_promptly(&mut node);
}

#[test]
fn connections_over_the_global_cap_are_refused_and_slots_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(
        &tmp.path().join("data"),
        &[
            ("IAN_MAX_CONNECTIONS", "10"),
            ("IAN_MAX_CONNECTIONS_PER_IP", "1000"),
        ],
    );
    let a = addr(&node);
    let mut conns = Vec::new();
    for _ in 0..20 {
        conns.push(connect(a));
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut extra = conns.split_off(10);
    let t = Instant::now();
    for (i, s) in extra.iter_mut().enumerate() {
        let (_, got) = closed_within(s, Duration::from_secs(2))
            .unwrap_or_else(|| panic!("connection {} over the cap still open", i + 10));
        assert!(
            status_of(&got).starts_with("HTTP/1.1 503"),
            "connection {}: {:?}",
            i + 10,
            String::from_utf8_lossy(&got)
        );
    }
    println!("10 over-cap connections refused within {:?}", t.elapsed());
    for (i, s) in conns.iter_mut().enumerate() {
        assert_eq!(peek(s), Seen::Open, "admitted connection {i} was closed");
    }
    drop(extra);
    // A full round of churn: every slot is given back on close.
    for round in 0..3 {
        conns.clear();
        healthy_within(a, Duration::from_secs(3)).unwrap_or_else(|e| panic!("round {round}: {e}"));
        conns = admitted(a, 10, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("round {round}: 10 slots never all came back"));
        let refused = healthz(a).unwrap();
        assert!(
            refused.starts_with("HTTP/1.1 503"),
            "round {round}: {refused}"
        );
    }
    stop_promptly(&mut node);
}

#[test]
fn slowloris_headers_are_cut_at_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let header = Duration::from_millis(2000);
    let mut node = NodeProc::start(
        &tmp.path().join("data"),
        &[
            ("IAN_HEADER_TIMEOUT_MS", "2000"),
            ("IAN_IDLE_TIMEOUT_MS", "30000"),
        ],
    );
    let a = addr(&node);
    // One client trickles a header byte every 250 ms, one stops after a
    // partial header.
    let mut trickle = connect(a);
    let mut silent = connect(a);
    let start = Instant::now();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\nX-Slow: ")
        .unwrap();
    silent
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\nX-Sl")
        .unwrap();
    let mut trickle_cut = None;
    for _ in 0..80 {
        if start.elapsed() > header + SLACK * 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        if trickle.write_all(b"a").is_err() || matches!(peek(&mut trickle), Seen::Closed(_)) {
            trickle_cut = Some(start.elapsed());
            break;
        }
    }
    let trickle_cut = trickle_cut.unwrap_or_else(|| {
        panic!(
            "a client trickling its headers was still connected after {:?}",
            start.elapsed()
        )
    });
    let waited = start.elapsed();
    let (took, got) = closed_within(&mut silent, header + SLACK * 2)
        .unwrap_or_else(|| panic!("a partial header left open for {:?}", start.elapsed()));
    let silent_cut = waited + took;
    println!(
        "slowloris cut after {trickle_cut:?} (trickling), {silent_cut:?} (silent); header timeout {header:?}"
    );
    assert!(got.is_empty(), "no response expected: {got:?}");
    for cut in [trickle_cut, silent_cut] {
        assert!(
            cut >= header - Duration::from_millis(100) && cut <= header + SLACK,
            "cut after {cut:?}, header timeout {header:?}"
        );
    }
    // Other clients were served all along.
    healthy_within(a, Duration::from_secs(2)).unwrap();
    stop_promptly(&mut node);
}

/// Read one response with a `content-length` body; its status line.
fn read_response(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "response cut short");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    status_of(&head)
}

#[test]
fn idle_connections_close_after_the_idle_timeout_and_reused_ones_stay_open() {
    let tmp = tempfile::tempdir().unwrap();
    let idle = Duration::from_millis(1500);
    let mut node = NodeProc::start(
        &tmp.path().join("data"),
        &[
            ("IAN_IDLE_TIMEOUT_MS", "1500"),
            ("IAN_HEADER_TIMEOUT_MS", "10000"),
        ],
    );
    let a = addr(&node);
    // A keep-alive connection after one request ...
    let mut kept = connect(a);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
        .unwrap();
    let status = read_response(&mut kept);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let kept_since = Instant::now();
    // ... and a connection that never sends anything.
    let mut fresh = connect(a);
    let fresh_since = Instant::now();
    let (_, got) =
        closed_within(&mut kept, idle + SLACK).expect("keep-alive connection not closed");
    let kept_cut = kept_since.elapsed();
    assert!(got.is_empty(), "{got:?}");
    let (_, got) = closed_within(&mut fresh, idle + SLACK).expect("silent connection not closed");
    let fresh_cut = fresh_since.elapsed();
    assert!(got.is_empty(), "{got:?}");
    println!(
        "idle timeout {idle:?}: keep-alive closed after {kept_cut:?}, silent new connection after {fresh_cut:?}"
    );
    for cut in [kept_cut, fresh_cut] {
        assert!(
            cut >= idle - Duration::from_millis(100) && cut <= idle + SLACK,
            "closed after {cut:?}, idle timeout {idle:?}"
        );
    }
    // Reused within the idle timeout, a connection stays usable well past it.
    let mut reused = connect(a);
    let t = Instant::now();
    for i in 0..4 {
        std::thread::sleep(idle / 2);
        reused
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
            .unwrap();
        let status = read_response(&mut reused);
        assert!(status.starts_with("HTTP/1.1 200"), "request {i}: {status}");
    }
    assert!(t.elapsed() > idle);
    stop_promptly(&mut node);
}

#[test]
fn a_stalled_request_body_fails_at_the_body_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let body_timeout = Duration::from_millis(1500);
    let mut node = NodeProc::start(
        &tmp.path().join("data"),
        &[
            ("IAN_BODY_TIMEOUT_MS", "1500"),
            ("IAN_REQUEST_TIMEOUT_MS", "60000"),
            ("IAN_IDLE_TIMEOUT_MS", "60000"),
        ],
    );
    let a = addr(&node);
    let mut s = connect(a);
    s.write_all(
        b"POST /api/v1/goals/none/contributions HTTP/1.1\r\nHost: node\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"pack\":",
    )
    .unwrap();
    let start = Instant::now();
    let (took, got) = closed_within(&mut s, body_timeout + SLACK * 2).unwrap_or_else(|| {
        panic!(
            "a request with a stalled body still open after {:?}",
            start.elapsed()
        )
    });
    let status = status_of(&got);
    println!("stalled body: {status:?} and close after {took:?} (body timeout {body_timeout:?})");
    assert!(
        took >= body_timeout - Duration::from_millis(100),
        "closed after {took:?}"
    );
    assert!(
        status.starts_with("HTTP/1.1 4"),
        "expected a client error, got {:?}",
        String::from_utf8_lossy(&got)
    );
    healthy_within(a, Duration::from_secs(2)).unwrap();
    stop_promptly(&mut node);
}

/// Make sure this process may hold `want` descriptors: raise its soft
/// limit with `prlimit` (util-linux) if needed, since the tests link no
/// libc binding. Panics with what to do when that is not possible.
fn ensure_fd_limit(want: u64) {
    let soft = || -> Option<u64> {
        let t = std::fs::read_to_string("/proc/self/limits").ok()?;
        let l = t.lines().find(|l| l.starts_with("Max open files"))?;
        l.split_whitespace().nth(3)?.parse().ok()
    };
    if soft().is_some_and(|s| s >= want) {
        return;
    }
    let _ = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={want}:"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        soft().is_some_and(|s| s >= want),
        "this test holds {want} sockets: raise the open-file limit (`ulimit -n {want}`)"
    );
}

/// Start `ian-host serve` under `ulimit -n 1024` (the shell sets the limit
/// and execs the node, so the child's pid is the node's).
fn start_with_fd_limit(data: &Path, env: &[(&str, &str)]) -> NodeProc {
    std::fs::create_dir_all(data).unwrap();
    let _ = std::fs::remove_file(data.join("node.addr"));
    let log = data.with_extension("log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" serve")
        .arg(bin())
        .env("IAN_LISTEN", "127.0.0.1:0")
        .env("IAN_DATA_DIR", data)
        .env("IAN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut node = NodeProc {
        child: Some(
            cmd.spawn()
                .expect("spawn sh -c 'ulimit -n 1024; exec ian-host serve'"),
        ),
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
            panic!("node exited during startup ({st}): {}", log_of(&node));
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "node did not start: {}",
            log_of(&node)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let limits = std::fs::read_to_string(format!(
        "/proc/{}/limits",
        node.child.as_ref().unwrap().id()
    ))
    .unwrap_or_default();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.split_whitespace().nth(3) == Some("1024")),
        "the node does not run under ulimit -n 1024:\n{limits}"
    );
    node
}

fn log_of(node: &NodeProc) -> String {
    log(node)
}

/// CPU time (user + system, clock ticks) the process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/pid/stat");
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

const FLOOD: usize = 1100;

/// The scenario with the default cap (512, below the limit of
/// 1024): the flood costs the node at most 512 descriptors, every other
/// connection is refused at once, the node never runs out, and `/healthz`
/// answers as soon as the idle clock frees slots, with all 1,100 client
/// sockets still open.
#[test]
fn eleven_hundred_idle_connections_under_ulimit_1024_leave_healthz_answering() {
    ensure_fd_limit(2 * FLOOD as u64 + 512);
    let tmp = tempfile::tempdir().unwrap();
    let idle = Duration::from_millis(5000);
    let mut node = start_with_fd_limit(
        &tmp.path().join("data"),
        &[
            ("IAN_IDLE_TIMEOUT_MS", "5000"),
            // All test traffic comes from 127.0.0.1: let the global cap act.
            ("IAN_MAX_CONNECTIONS_PER_IP", "100000"),
        ],
    );
    let a = addr(&node);
    let t = Instant::now();
    let mut flood = open_idle(a, FLOOD);
    let opened = t.elapsed();
    assert!(
        opened < Duration::from_secs(3),
        "opening took {opened:?}: too slow for this test"
    );
    std::thread::sleep(Duration::from_millis(500));
    let open = flood
        .iter_mut()
        .map(peek)
        .filter(|s| *s == Seen::Open)
        .count();
    println!("{FLOOD} idle connections opened in {opened:?}; {open} held open by the node");
    assert_eq!(
        open, 512,
        "the node should hold exactly server.max_connections"
    );
    let took =
        healthy_within(a, idle + SLACK * 2).unwrap_or_else(|e| panic!("{e}\n{}", log(&node)));
    println!("/healthz answered {took:?} after the flood (idle timeout {idle:?})");
    assert!(
        !log(&node).contains("accept failed"),
        "the node ran out of descriptors: {}",
        log(&node)
    );
    // Repeated: the refused connections never pile up.
    for _ in 0..5 {
        healthy_within(a, Duration::from_secs(2)).unwrap();
    }
    drop(flood);
    stop_promptly(&mut node);
}

/// With the cap misconfigured above the descriptor limit, `accept` fails
/// with EMFILE: the node must neither exit nor spin, and must serve again
/// once descriptors come back.
#[test]
fn out_of_descriptors_the_node_backs_off_and_recovers() {
    ensure_fd_limit(2 * FLOOD as u64 + 512);
    let tmp = tempfile::tempdir().unwrap();
    let idle = Duration::from_millis(5000);
    let mut node = start_with_fd_limit(
        &tmp.path().join("data"),
        &[
            ("IAN_IDLE_TIMEOUT_MS", "5000"),
            ("IAN_MAX_CONNECTIONS", "5000"),
            ("IAN_MAX_CONNECTIONS_PER_IP", "5000"),
        ],
    );
    let pid = node.child.as_ref().unwrap().id();
    assert!(
        log(&node).contains("leaves fewer than"),
        "no warning about the cap above the descriptor limit: {}",
        log(&node)
    );
    let a = addr(&node);
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        // Connections beyond the backlog may not complete: bounded each.
        match TcpStream::connect_timeout(&a, Duration::from_millis(500)) {
            Ok(s) => flood.push(s),
            Err(e) => {
                println!("connect {} failed: {e}", flood.len());
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    println!(
        "{} connections opened; node CPU while out of descriptors: {used} ticks in 1 s",
        flood.len()
    );
    assert!(
        log(&node).contains("accept failed"),
        "the node never ran out of descriptors: {}",
        log(&node)
    );
    // A spinning accept loop burns a whole core: 100 ticks a second.
    assert!(
        used < 30,
        "the node used {used} ticks in 1 s while out of descriptors"
    );
    assert!(
        node.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the node exited: {}",
        log(&node)
    );
    let took =
        healthy_within(a, idle * 2 + SLACK * 2).unwrap_or_else(|e| panic!("{e}\n{}", log(&node)));
    println!("/healthz answered {took:?} after the descriptors ran out");
    assert!(log(&node).contains("accept recovered"), "{}", log(&node));
    drop(flood);
    stop_promptly(&mut node);
}
