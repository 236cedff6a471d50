//! The WASI p2 capability a dataset harness, or an agent of a goal with
//! `agents = "wasi"`, is granted, and nothing more.
//!
//! Everything a WASI context would normally take from the host is replaced
//! by something deterministic: a read-only `/data` preopen for a dataset
//! harness (nothing at all for an agent), a fixed wall clock (for an agent
//! one that starts at the fixed time and advances one millisecond per
//! reading), a monotonic clock that advances one millisecond per reading,
//! RNGs seeded from the evaluation (and for an agent its pack), no network,
//! no environment, no arguments, closed stdin, and stdout/stderr captured
//! into bounded buffers.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{
    FsPerms, HostMonotonicClock, HostWallClock, ResourceTable, WasiCtx, WasiCtxBuilder, WasiView,
};

/// What a WASI harness wrote to stdout and stderr, capped at
/// `SandboxConfig::max_captured_output` bytes per stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// The first bytes written to stdout.
    pub stdout: Vec<u8>,
    /// Whether stdout had more than was kept.
    pub stdout_truncated: bool,
    /// The first bytes written to stderr (panic messages land here).
    pub stderr: Vec<u8>,
    /// Whether stderr had more than was kept.
    pub stderr_truncated: bool,
}

struct CaptureBuf {
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
    /// Keep the last `cap` bytes instead of the first: an agent's stderr,
    /// whose end (a traceback's exception line) is what explains a failure.
    keep_last: bool,
}

/// An output stream that keeps the first `cap` bytes and silently drops the
/// rest. `MemoryOutputPipe` would instead report the stream closed once
/// full, which makes Rust's `println!` panic inside the guest.
#[derive(Clone)]
pub(crate) struct Capture(Arc<Mutex<CaptureBuf>>);

impl Capture {
    pub(crate) fn new(cap: usize) -> Capture {
        Capture(Arc::new(Mutex::new(CaptureBuf {
            data: Vec::new(),
            cap,
            truncated: false,
            keep_last: false,
        })))
    }

    /// A capture that keeps the last `cap` bytes written.
    pub(crate) fn tail(cap: usize) -> Capture {
        let c = Capture::new(cap);
        c.0.lock().keep_last = true;
        c
    }

    fn keep(&self, bytes: &[u8]) {
        let mut b = self.0.lock();
        if b.keep_last {
            let cap = b.cap;
            let bytes = if bytes.len() > cap {
                b.truncated = true;
                b.data.clear();
                &bytes[bytes.len() - cap..]
            } else {
                bytes
            };
            b.data.extend_from_slice(bytes);
            // Trimmed only once twice the cap is held, so a stream of small
            // writes costs amortised O(1) per byte.
            if b.data.len() > cap.saturating_mul(2).max(1) {
                let excess = b.data.len() - cap;
                b.data.drain(..excess);
                b.truncated = true;
            }
            return;
        }
        let room = b.cap.saturating_sub(b.data.len());
        let take = room.min(bytes.len());
        b.data.extend_from_slice(&bytes[..take]);
        if take < bytes.len() {
            b.truncated = true;
        }
    }

    pub(crate) fn take(&self) -> (Vec<u8>, bool) {
        let mut b = self.0.lock();
        if b.keep_last && b.data.len() > b.cap {
            let excess = b.data.len() - b.cap;
            b.data.drain(..excess);
            b.truncated = true;
        }
        (std::mem::take(&mut b.data), b.truncated)
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: excess bytes are dropped, not refused.
        Ok(64 << 10)
    }
}

struct FixedWall(Duration);

impl HostWallClock for FixedWall {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// The virtual time of one WASI context, in nanoseconds: every clock
/// reading returns it and then moves it 1 ms on, and a sleep (a clock
/// subscription) moves it by the time slept instead of waiting. Nothing in
/// it depends on the host's time, so a guest sees the same times on every
/// host, and a guest that sleeps an hour costs the host nothing.
#[derive(Clone, Default)]
pub(crate) struct VirtualTime(Arc<AtomicU64>);

/// What one clock reading moves virtual time by.
const READING_STEP_NS: u64 = 1_000_000;

impl VirtualTime {
    fn read(&self) -> u64 {
        self.0.fetch_add(READING_STEP_NS, Ordering::Relaxed)
    }

    /// A sleep of `ns`: time moves on by it, at once.
    fn sleep(&self, ns: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ns))
            });
    }

    /// A sleep until `t`: time moves to it unless it is already later.
    fn sleep_until(&self, t: u64) {
        self.0.fetch_max(t, Ordering::Relaxed);
    }
}

/// An agent's wall clock: a fixed start plus the context's virtual time, so
/// `time.time()` moves, and moves by what the agent slept, the same way on
/// every host.
struct SteppingWall {
    start: Duration,
    time: VirtualTime,
}

impl HostWallClock for SteppingWall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(READING_STEP_NS)
    }

    fn now(&self) -> Duration {
        self.start + Duration::from_nanos(self.time.read())
    }
}

/// The monotonic clock: the context's virtual time, which advances by
/// exactly 1 ms per reading (so elapsed-time arithmetic is deterministic
/// and never zero) and by whatever the guest sleeps.
#[derive(Default)]
struct SteppingMono(VirtualTime);

impl HostMonotonicClock for SteppingMono {
    fn resolution(&self) -> u64 {
        READING_STEP_NS
    }

    fn now(&self) -> u64 {
        self.0.read()
    }
}

/// A pollable that is always ready: what a sleep returns once virtual time
/// has moved past it.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

/// Store data with a WASI context whose sleeps are virtual.
pub(crate) trait VirtualSleep: WasiView {
    /// The context's virtual time.
    fn virtual_time(&mut self) -> VirtualTime;
}

/// The interface whose subscriptions [`add_virtual_sleep`] replaces, at
/// the version wasmtime-wasi links (guests importing any 0.2.x reach it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces `subscribe-duration` and `subscribe-instant` of the monotonic
/// clock in `linker` (after `add_to_linker_sync`) with virtual sleeps:
/// wasmtime-wasi's would wait in real time on the evaluation thread, where
/// neither fuel nor the epoch backstop can stop them, so a guest calling
/// `sleep(3600)` would hold a worker for an hour. Here it returns at once,
/// an hour later in virtual time.
pub(crate) fn add_virtual_sleep<T: VirtualSleep + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::DynPollable;
    fn ready<T: VirtualSleep>(s: &mut T) -> wasmtime::Result<Resource<DynPollable>> {
        let table = s.ctx().table;
        let r = table.push(Ready)?;
        wasmtime_wasi::p2::subscribe(table, r)
    }
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut cx: wasmtime::StoreContextMut<'_, T>, (ns,): (u64,)| {
            let s = cx.data_mut();
            s.virtual_time().sleep(ns);
            Ok((ready(s)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut cx: wasmtime::StoreContextMut<'_, T>, (t,): (u64,)| {
            let s = cx.data_mut();
            s.virtual_time().sleep_until(t);
            Ok((ready(s)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// SplitMix64: a tiny, fully specified generator, so the random bytes a
/// harness sees depend only on the evaluation seed, never on a library's
/// choice of algorithm.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl rand::TryRng for SplitMix64 {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// The WASI state of one harness store.
pub(crate) struct WasiParts {
    pub(crate) ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    stdout: Capture,
    stderr: Capture,
    pub(crate) time: VirtualTime,
}

const SECURE_SALT: u64 = 0x5EC0_5EED_0000_0001;
const INSECURE_SALT: u64 = 0x1A5E_C5EE_D000_0002;

impl WasiParts {
    /// The capability for one evaluation: `/data` read-only from `dataset`
    /// (or nothing at all when `dataset` is `None`), everything else
    /// deterministic and derived from `seed`.
    pub(crate) fn new(
        dataset: Option<&Path>,
        seed: u64,
        wall_clock_secs: u64,
        max_output: usize,
    ) -> Result<WasiParts, String> {
        let (mut b, stdout, stderr, time) = Self::builder(seed, wall_clock_secs, max_output);
        if let Some(dir) = dataset {
            b.preopened_dir(dir, "/data", FsPerms::ReadOnly)
                .map_err(|e| format!("cannot open dataset directory {}: {e}", dir.display()))?;
        }
        Ok(WasiParts {
            ctx: b.build(),
            table: ResourceTable::new(),
            stdout,
            stderr,
            time,
        })
    }

    /// An agent's capability: no preopens, a wall clock that starts at
    /// `wall_clock_secs` and steps by readings, RNGs from `seed` (derived
    /// from the pack and the evaluation), stdout's first and stderr's last
    /// `max_output` bytes kept.
    pub(crate) fn for_agent(seed: u64, wall_clock_secs: u64, max_output: usize) -> WasiParts {
        let (mut b, stdout, _, time) = Self::builder(seed, wall_clock_secs, max_output);
        let stderr = Capture::tail(max_output);
        b.stderr(stderr.clone()).wall_clock(SteppingWall {
            start: Duration::from_secs(wall_clock_secs),
            time: time.clone(),
        });
        WasiParts {
            ctx: b.build(),
            table: ResourceTable::new(),
            stdout,
            stderr,
            time,
        }
    }

    /// The last bytes the guest wrote to stderr (at most `max`), as text
    /// with control characters other than newline and tab replaced, or
    /// `None` when it wrote nothing.
    pub(crate) fn stderr_tail(&self, max: usize) -> Option<String> {
        let b = self.stderr.0.lock();
        if b.data.is_empty() {
            return None;
        }
        let start = b.data.len().saturating_sub(max);
        let cut = start > 0 || b.truncated;
        let text: String = String::from_utf8_lossy(&b.data[start..])
            .chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let text = text.trim_end();
        Some(if cut {
            format!("...{text}")
        } else {
            text.to_string()
        })
    }

    /// A context with no preopens and no output kept.
    pub(crate) fn denied(wall_clock_secs: u64) -> WasiParts {
        let (mut b, stdout, stderr, time) = Self::builder(0, wall_clock_secs, 0);
        WasiParts {
            ctx: b.build(),
            table: ResourceTable::new(),
            stdout,
            stderr,
            time,
        }
    }

    fn builder(
        seed: u64,
        wall_clock_secs: u64,
        max_output: usize,
    ) -> (WasiCtxBuilder, Capture, Capture, VirtualTime) {
        let stdout = Capture::new(max_output);
        let stderr = Capture::new(max_output);
        let time = VirtualTime::default();
        let mut b = WasiCtxBuilder::new();
        b.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .wall_clock(FixedWall(Duration::from_secs(wall_clock_secs)))
            .monotonic_clock(SteppingMono(time.clone()))
            .secure_random(SplitMix64::new(seed ^ SECURE_SALT))
            .insecure_random(SplitMix64::new(seed ^ INSECURE_SALT))
            .insecure_random_seed(u128::from(seed) | (u128::from(!seed) << 64))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        (b, stdout, stderr, time)
    }

    pub(crate) fn take_output(&self) -> CapturedOutput {
        let (stdout, stdout_truncated) = self.stdout.take();
        let (stderr, stderr_truncated) = self.stderr.take();
        CapturedOutput {
            stdout,
            stdout_truncated,
            stderr,
            stderr_truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::TryRng;

    #[test]
    fn capture_keeps_first_bytes_and_flags_truncation() {
        let c = Capture::new(5);
        c.keep(b"abc");
        c.keep(b"defgh");
        assert_eq!(c.take(), (b"abcde".to_vec(), true));
    }

    #[test]
    fn a_tail_capture_keeps_the_last_bytes_and_flags_truncation() {
        let c = Capture::tail(4);
        for chunk in [&b"ab"[..], b"cd", b"ef", b"g"] {
            c.keep(chunk);
        }
        assert_eq!(c.take(), (b"defg".to_vec(), true));
        let big = Capture::tail(3);
        big.keep(b"0123456789");
        assert_eq!(big.take(), (b"789".to_vec(), true));
    }

    #[test]
    fn an_agent_wall_clock_starts_fixed_and_steps_by_readings() {
        let w = SteppingWall {
            start: Duration::from_secs(100),
            time: VirtualTime::default(),
        };
        assert_eq!(
            (w.now(), w.now()),
            (Duration::from_secs(100), Duration::from_millis(100_001))
        );
    }

    #[test]
    fn a_sleep_moves_virtual_time_on_and_a_sleep_into_the_past_does_not_go_back() {
        let t = VirtualTime::default();
        let m = SteppingMono(t.clone());
        assert_eq!(m.now(), 0);
        t.sleep(3_600_000_000_000);
        assert_eq!(m.now(), 3_600_001_000_000);
        t.sleep_until(5);
        assert_eq!(m.now(), 3_600_002_000_000);
    }

    #[test]
    fn capture_under_cap_is_not_truncated() {
        let c = Capture::new(5);
        c.keep(b"abcde");
        assert_eq!(c.take(), (b"abcde".to_vec(), false));
    }

    #[test]
    fn splitmix_matches_reference_vector() {
        // Reference values of SplitMix64 seeded with 1234567.
        let mut r = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..3).map(|_| r.try_next_u64().unwrap()).collect();
        assert_eq!(
            got,
            vec![
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn monotonic_clock_steps_one_millisecond_per_reading() {
        let m = SteppingMono::default();
        assert_eq!((m.now(), m.now(), m.now()), (0, 1_000_000, 2_000_000));
    }
}
