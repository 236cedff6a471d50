//! The WASI p2 capability a dataset harness is granted, and nothing more.
//!
//! Everything a WASI context would normally take from the host is replaced
//! by something deterministic: a read-only `/data` preopen, a fixed wall
//! clock, a monotonic clock that advances one millisecond per reading, RNGs
//! seeded from the evaluation seed, no network, no environment, no
//! arguments, closed stdin, and stdout/stderr captured into bounded buffers.

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
    FsPerms, HostMonotonicClock, HostWallClock, ResourceTable, WasiCtx, WasiCtxBuilder,
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
        })))
    }

    fn keep(&self, bytes: &[u8]) {
        let mut b = self.0.lock();
        let room = b.cap.saturating_sub(b.data.len());
        let take = room.min(bytes.len());
        b.data.extend_from_slice(&bytes[..take]);
        if take < bytes.len() {
            b.truncated = true;
        }
    }

    pub(crate) fn take(&self) -> (Vec<u8>, bool) {
        let mut b = self.0.lock();
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

/// Advances by exactly 1 ms per reading, so elapsed-time arithmetic in the
/// harness is deterministic and never zero.
#[derive(Default)]
struct SteppingMono(AtomicU64);

impl HostMonotonicClock for SteppingMono {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(1_000_000, Ordering::Relaxed)
    }
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
        let (mut b, stdout, stderr) = Self::builder(seed, wall_clock_secs, max_output);
        if let Some(dir) = dataset {
            b.preopened_dir(dir, "/data", FsPerms::ReadOnly)
                .map_err(|e| format!("cannot open dataset directory {}: {e}", dir.display()))?;
        }
        Ok(WasiParts {
            ctx: b.build(),
            table: ResourceTable::new(),
            stdout,
            stderr,
        })
    }

    /// A context with no preopens and no output kept.
    pub(crate) fn denied(wall_clock_secs: u64) -> WasiParts {
        let (mut b, stdout, stderr) = Self::builder(0, wall_clock_secs, 0);
        WasiParts {
            ctx: b.build(),
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }

    fn builder(
        seed: u64,
        wall_clock_secs: u64,
        max_output: usize,
    ) -> (WasiCtxBuilder, Capture, Capture) {
        let stdout = Capture::new(max_output);
        let stderr = Capture::new(max_output);
        let mut b = WasiCtxBuilder::new();
        b.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .wall_clock(FixedWall(Duration::from_secs(wall_clock_secs)))
            .monotonic_clock(SteppingMono::default())
            .secure_random(SplitMix64::new(seed ^ SECURE_SALT))
            .insecure_random(SplitMix64::new(seed ^ INSECURE_SALT))
            .insecure_random_seed(u128::from(seed) | (u128::from(!seed) << 64))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        (b, stdout, stderr)
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
