//! The node's accept loop: connection caps, per-connection timeouts and
//! graceful shutdown around the [`crate::api::http::app`] router.
//!
//! Why an accept loop of our own instead of `axum::serve`: `axum::serve`
//! offers no connection cap, no header, idle or body timeout and no hook
//! to refuse a connection with a response, and a node on the open internet
//! needs all of them to stay reachable under idle-connection floods. The
//! loop is small: accept, count the connection against a global and a
//! per-IP cap (over either cap it is answered with a fixed 503 and closed),
//! then serve it with hyper's HTTP/1 connection driver plus a watchdog.
//!
//! Why HTTP/1.1 only: that is what `axum::serve` served with the features
//! this workspace enables, what reverse proxies speak to their upstreams,
//! and it keeps one request per connection at a time, so the per-connection
//! caps also bound concurrent requests.
//!
//! Timeouts (Go's `net/http` semantics, which operators know):
//! * idle — a connection with no request in progress (just opened, kept
//!   alive between requests, or a response the client stopped reading)
//!   that moves no byte for `server.idle_timeout_ms` is closed;
//! * header — from the first byte of a request to the end of its headers,
//!   at most `server.header_timeout_ms` (a slowloris client that trickles
//!   bytes keeps the idle clock running but not this one);
//! * body — the whole request body must arrive within
//!   `server.body_timeout_ms` of the end of the headers; the handler then
//!   sees a body error, answers, and the connection is closed;
//! * handler — `server.request_timeout_ms`, applied by the router.
//!
//! The idle and header clocks are one watchdog per connection that reads
//! three timestamps kept by an I/O wrapper and the service wrapper; it sleeps
//! until the current deadline and is woken by state changes, so it costs no
//! polling. hyper's own header timer stays on as a backstop (idle + header).
//!
//! `accept` errors never end the loop: a refused or aborted handshake is
//! skipped, and resource exhaustion (EMFILE, ENFILE, ENOBUFS, ENOMEM) backs
//! off briefly (10 ms doubling to 250 ms) and retries, so the node neither
//! dies nor spins while out of descriptors. The cap keeps it from getting
//! there: `server.max_connections` plus [`REJECT_SLOTS`] plus the store's
//! and runtime's own descriptors must stay below the open-file limit, which
//! [`warn_if_fd_limit_is_tight`] checks at start.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tower::ServiceExt as _;
use tracing::{debug, info, warn};

use crate::runtime::config::{ConfigError, KEYS, ServerConfig};
use crate::runtime::error::ApiError;

/// Connections being refused at the same time. A refused connection gets
/// its 503 and up to [`REJECT_LINGER`] to read it before the close (so the
/// client sees the answer rather than a reset); beyond this many at once,
/// further ones are closed without an answer. Counts toward the descriptor
/// budget next to `server.max_connections`.
pub const REJECT_SLOTS: usize = 64;

/// Longest a refused connection is kept open after its 503.
const REJECT_LINGER: Duration = Duration::from_millis(500);

/// Descriptors kept free for everything that is not a client connection:
/// the store, the listener, the runtime, logs and refusals.
const FD_HEADROOM: u64 = 128;

/// First and longest pause after an `accept` failure that is not about
/// one connection (out of descriptors or memory).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);

/// Connections the kernel completes and queues before the node accepts
/// them (capped by `net.core.somaxconn`). The usual default of 128 is
/// overrun by a burst of new connections between two wake-ups of the
/// accept loop, and then the kernel drops SYNs, which clients only retry
/// after a second; a longer queue also holds connections while `accept`
/// backs off for lack of descriptors.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Bind the listening socket with [`LISTEN_BACKLOG`] and `SO_REUSEADDR`
/// (a restarted node can rebind at once, as with `TcpListener::bind`).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The connection settings of `[server]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerSettings {
    /// `server.max_connections`.
    pub max_connections: usize,
    /// `server.max_connections_per_ip`.
    pub max_connections_per_ip: usize,
    /// `server.header_timeout_ms`.
    pub header_timeout: Duration,
    /// `server.idle_timeout_ms`.
    pub idle_timeout: Duration,
    /// `server.body_timeout_ms`.
    pub body_timeout: Duration,
}

impl ListenerSettings {
    /// Check and convert the connection keys of `[server]`. Every value must
    /// be at least 1: a zero cap would refuse every client, and a zero
    /// timeout would close every connection before its first byte.
    pub fn from_config(s: &ServerConfig) -> Result<Self, ConfigError> {
        fn positive(key: &'static str, v: u64) -> Result<u64, ConfigError> {
            if v >= 1 {
                return Ok(v);
            }
            Err(ConfigError::Invalid {
                key,
                env: KEYS.iter().find(|k| k.key == key).map_or("-", |k| k.env),
                message: "must be at least 1".into(),
            })
        }
        let count = |key, v| positive(key, v).map(|v| usize::try_from(v).unwrap_or(usize::MAX));
        let ms = |key, v| positive(key, v).map(Duration::from_millis);
        Ok(ListenerSettings {
            max_connections: count("server.max_connections", s.max_connections)?,
            max_connections_per_ip: count(
                "server.max_connections_per_ip",
                s.max_connections_per_ip,
            )?,
            header_timeout: ms("server.header_timeout_ms", s.header_timeout_ms)?,
            idle_timeout: ms("server.idle_timeout_ms", s.idle_timeout_ms)?,
            body_timeout: ms("server.body_timeout_ms", s.body_timeout_ms)?,
        })
    }
}

/// Log a warning when `server.max_connections` leaves fewer than
/// [`FD_HEADROOM`] descriptors of the process's open-file limit: at the cap
/// the node would then fail `accept` (and the store could fail to open
/// files) instead of answering 503. Linux only (reads `/proc/self/limits`);
/// elsewhere it does nothing.
pub fn warn_if_fd_limit_is_tight(settings: &ListenerSettings) {
    let Some(limit) = open_file_limit() else {
        return;
    };
    let wanted = settings.max_connections as u64 + FD_HEADROOM;
    if wanted > limit {
        warn!(
            max_connections = settings.max_connections,
            open_file_limit = limit,
            "server.max_connections leaves fewer than {FD_HEADROOM} descriptors of the open-file \
             limit for the store and new connections; lower it or raise `ulimit -n`"
        );
    }
}

/// The soft `Max open files` limit of this process, if the platform says.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Accept and serve connections on `listener` until `shutdown` completes,
/// then stop accepting, let every connection finish its current request
/// (idle ones close at once) and return when all are closed or after
/// `drain_limit`, whichever comes first.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ListenerSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    drain_limit: Duration,
) {
    let table = Arc::new(ConnTable::new(&settings));
    let rejects = Arc::new(Semaphore::new(REJECT_SLOTS));
    let refused_log = RefusalLog::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut backoff = ACCEPT_BACKOFF_MIN;
    // Start and length of the current run of failed accepts.
    let mut failing: Option<(Instant, u64)> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) if is_connection_error(&e) => {
                debug!(error = %e, "accept: connection failed before it was accepted");
                continue;
            }
            Err(e) => {
                // Out of descriptors or memory: the pending connection stays
                // in the kernel's backlog; wait for a slot to be released
                // instead of retrying in a tight loop.
                let (_, n) = failing.get_or_insert((Instant::now(), 0));
                if *n == 0 {
                    warn!(error = %e, "accept failed; backing off until it succeeds");
                }
                *n += 1;
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if let Some((since, n)) = failing.take() {
            info!(
                failures = n,
                after_ms = since.elapsed().as_millis() as u64,
                "accept recovered"
            );
        }
        backoff = ACCEPT_BACKOFF_MIN;
        match table.admit(peer.ip()) {
            Ok(slot) => {
                let _ = stream.set_nodelay(true);
                let conn = Connection {
                    router: router.clone(),
                    settings,
                    peer,
                    stop: stop_rx.clone(),
                    tls: tls.clone(),
                };
                tokio::spawn(conn.run(stream, slot));
            }
            Err(cap) => {
                refused_log.note(cap, peer);
                refuse(stream, &rejects);
            }
        }
    }
    drop(listener);
    let open = table.open();
    info!(
        open_connections = open,
        "stopped accepting; closing connections"
    );
    let _ = stop_tx.send(true);
    if tokio::time::timeout(drain_limit, table.drained())
        .await
        .is_err()
    {
        warn!(
            open_connections = table.open(),
            "connections still open after the drain limit; closing them"
        );
    }
}

/// `accept` errors that concern only the connection being accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    /// `server.max_connections`.
    Global,
    /// `server.max_connections_per_ip`.
    PerIp,
}

/// The 503 a refused connection receives: fixed bytes, so refusing costs
/// no allocation and no parsing of anything the client sent.
fn refusal_response() -> &'static [u8] {
    static RESPONSE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    RESPONSE.get_or_init(|| {
        let mut e = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "too many open connections; retry later",
        );
        e.retry_after = Some(1);
        let body = serde_json::to_vec(&e.body()).unwrap_or_default();
        let mut r = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&body);
        r
    })
}

/// Answer a connection over a cap with the fixed 503 and close it. The
/// write side is shut first and the client's bytes are read and dropped for
/// up to [`REJECT_LINGER`], so the close does not turn into a reset that
/// would discard the answer; at most [`REJECT_SLOTS`] linger at once.
fn refuse(stream: TcpStream, slots: &Arc<Semaphore>) {
    let Ok(permit) = slots.clone().try_acquire_owned() else {
        return; // dropping closes it
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        let _ = tokio::time::timeout(REJECT_LINGER, async {
            stream.write_all(refusal_response()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            let mut total = 0usize;
            while total < 64 * 1024 {
                let n = stream.read(&mut sink).await?;
                if n == 0 {
                    break;
                }
                total += n;
            }
            Ok::<(), io::Error>(())
        })
        .await;
    });
}

/// Refusals are logged at most once per interval with a count, so a flood
/// cannot flood the log too.
#[derive(Default)]
struct RefusalLog {
    last: Mutex<Option<Instant>>,
    since_last: AtomicU64,
}

impl RefusalLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    fn note(&self, cap: Cap, peer: SocketAddr) {
        let n = self.since_last.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock();
        if last.is_none_or(|t| t.elapsed() >= Self::INTERVAL) {
            *last = Some(Instant::now());
            self.since_last.store(0, Ordering::Relaxed);
            let which = match cap {
                Cap::Global => "server.max_connections",
                Cap::PerIp => "server.max_connections_per_ip",
            };
            warn!(%peer, refused = n, cap = which, "connection cap reached; refusing with 503");
        } else {
            debug!(%peer, ?cap, "connection refused");
        }
    }
}

/// Open connections, in total and per client address.
struct ConnTable {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
    /// Woken when the last connection closes (shutdown waits for it).
    empty: Notify,
}

#[derive(Default)]
struct Counts {
    total: usize,
    /// Only addresses with at least one open connection: bounded by
    /// `max_total`, whatever the address churn.
    per_ip: HashMap<IpAddr, usize>,
}

impl ConnTable {
    fn new(s: &ListenerSettings) -> Self {
        ConnTable {
            max_total: s.max_connections,
            max_per_ip: s.max_connections_per_ip,
            counts: Mutex::new(Counts::default()),
            empty: Notify::new(),
        }
    }

    /// Take a slot for a connection from `ip`, or say which cap is full.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Cap> {
        let ip = ip.to_canonical();
        let mut c = self.counts.lock();
        if c.total >= self.max_total {
            return Err(Cap::Global);
        }
        let n = c.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(Cap::PerIp);
        }
        *n += 1;
        c.total += 1;
        Ok(Slot {
            table: self.clone(),
            ip,
        })
    }

    fn open(&self) -> usize {
        self.counts.lock().total
    }

    /// Resolves once no connection is open.
    async fn drained(&self) {
        loop {
            let notified = self.empty.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One connection's place in the [`ConnTable`], given back on drop, i.e.
/// whenever and however the connection's task ends.
struct Slot {
    table: Arc<ConnTable>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.table.counts.lock();
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
        c.total -= 1;
        if c.total == 0 {
            self.table.empty.notify_waiters();
        }
    }
}

/// Why the watchdog closed a connection (for the debug log).
#[derive(Debug, Clone, Copy)]
enum Expired {
    Idle,
    Header,
}

/// Where a connection is in its request cycle, as seen by the watchdog.
const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// Shared between a connection's I/O wrapper, its service and its watchdog.
/// Times are milliseconds since `origin`.
struct Activity {
    origin: tokio::time::Instant,
    state: AtomicU8,
    /// When the current state began.
    since: AtomicU64,
    /// Last byte read or written.
    last_io: AtomicU64,
    in_flight: AtomicUsize,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            origin: tokio::time::Instant::now(),
            state: AtomicU8::new(IDLE),
            since: AtomicU64::new(0),
            last_io: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> tokio::time::Instant {
        self.origin + Duration::from_millis(ms)
    }

    fn on_read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self
            .state
            .compare_exchange(IDLE, HEAD, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.since.store(now, Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn on_write(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// A request's headers are complete: no idle or header clock until its
    /// response is produced.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.state.store(BUSY, Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Resolves when the connection has overstayed its current clock.
    async fn expired(&self, s: &ListenerSettings) -> Expired {
        loop {
            let changed = self.changed.notified();
            let deadline = match self.state.load(Ordering::Acquire) {
                IDLE => {
                    let from = self
                        .since
                        .load(Ordering::Acquire)
                        .max(self.last_io.load(Ordering::Relaxed));
                    Some((self.at(from) + s.idle_timeout, Expired::Idle))
                }
                HEAD => Some((
                    self.at(self.since.load(Ordering::Acquire)) + s.header_timeout,
                    Expired::Header,
                )),
                _ => None,
            };
            match deadline {
                Some((at, why)) if at <= tokio::time::Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A request in progress; when its response is ready (or the request is
/// dropped), the connection is idle again unless another one is running.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = a.now();
            a.since.store(now, Ordering::Release);
            a.last_io.store(now, Ordering::Relaxed);
            a.state.store(IDLE, Ordering::Release);
            a.changed.notify_one();
        }
    }
}

/// The socket, reporting every byte moved to the connection's [`Activity`].
struct WatchedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.on_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        if n > 0 {
            self.activity.on_write();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        if n > 0 {
            self.activity.on_write();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why a request body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body did not arrive in time.
    #[error("the request body took longer than server.body_timeout_ms to arrive")]
    Timeout,
    /// The connection failed or the body was malformed.
    #[error(transparent)]
    Read(#[from] hyper::Error),
}

/// A request body that must be complete by a deadline fixed when its
/// headers arrived: a per-read timeout would let a client that sends one
/// byte just inside each timeout hold the request open forever.
struct DeadlineBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    /// Armed on the first read that has to wait, so requests whose body is
    /// already buffered (or empty) never allocate a timer.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Poll::Ready(f) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(f.map(|r| r.map_err(BodyError::Read)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::Timeout))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: Router,
    settings: ListenerSettings,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    /// TLS, when the node serves HTTPS itself.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Connection {
    /// Serve the connection until the client closes it, a clock expires,
    /// or shutdown has let its current request finish. `slot` is released
    /// when this returns. Over TLS the handshake must complete within the
    /// header timeout.
    async fn run(self, stream: TcpStream, slot: Slot) {
        let _slot = slot;
        let activity = Arc::new(Activity::new());
        let io = WatchedIo {
            inner: stream,
            activity: activity.clone(),
        };
        match self.tls.clone() {
            None => self.serve(TokioIo::new(io), activity).await,
            Some(acceptor) => {
                let peer = self.peer;
                match tokio::time::timeout(self.settings.header_timeout, acceptor.accept(io)).await
                {
                    Ok(Ok(tls)) => self.serve(TokioIo::new(tls), activity).await,
                    Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
    }

    async fn serve<I>(self, io: TokioIo<I>, activity: Arc<Activity>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            router,
            settings,
            peer,
            mut stop,
            tls: _,
        } = self;
        let service_activity = activity.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let in_flight = service_activity.begin();
            let router = router.clone();
            let deadline = tokio::time::Instant::now() + settings.body_timeout;
            async move {
                let mut req = req.map(|inner| DeadlineBody {
                    inner,
                    deadline,
                    timer: None,
                });
                // What `into_make_service_with_connect_info` would insert:
                // the API's per-IP limits read it.
                req.extensions_mut().insert(ConnectInfo(peer));
                let resp: Result<_, Infallible> = router.oneshot(req).await;
                drop(in_flight);
                resp
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.idle_timeout + settings.header_timeout)
            .keep_alive(true)
            .serve_connection(io, service);
        tokio::pin!(conn);
        let mut stopping = *stop.borrow();
        if stopping {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                why = activity.expired(&settings) => {
                    debug!(%peer, ?why, "closing connection: timed out");
                    return;
                }
                r = stop.changed(), if !stopping => {
                    stopping = true;
                    if r.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(total: usize, per_ip: usize) -> ListenerSettings {
        ListenerSettings {
            max_connections: total,
            max_connections_per_ip: per_ip,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn caps_count_per_address_and_in_total_and_slots_come_back() {
        let t = Arc::new(ConnTable::new(&settings(3, 2)));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = t.admit(a).unwrap();
        let _a2 = t.admit(a).unwrap();
        assert_eq!(t.admit(a).err(), Some(Cap::PerIp));
        let _b1 = t.admit(b).unwrap();
        assert_eq!(t.admit(b).err(), Some(Cap::Global));
        drop(a1);
        assert_eq!(t.open(), 2);
        let _a3 = t.admit(a).unwrap();
        assert_eq!(t.counts.lock().per_ip.len(), 2);
    }

    #[test]
    fn an_ipv4_mapped_address_counts_as_the_ipv4_address() {
        let t = Arc::new(ConnTable::new(&settings(10, 1)));
        let _v4 = t.admit("10.0.0.1".parse().unwrap()).unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(t.admit(mapped).err(), Some(Cap::PerIp));
    }

    #[test]
    fn the_table_forgets_an_address_once_its_last_connection_closes() {
        let t = Arc::new(ConnTable::new(&settings(10, 10)));
        for i in 0..5u8 {
            drop(t.admit(IpAddr::from([10, 0, 0, i])).unwrap());
        }
        assert!(t.counts.lock().per_ip.is_empty());
        assert_eq!(t.open(), 0);
    }

    #[test]
    fn zero_caps_and_timeouts_are_refused_naming_the_key() {
        let mut c = crate::runtime::config::Config::defaults().server;
        assert!(ListenerSettings::from_config(&c).is_ok());
        c.header_timeout_ms = 0;
        let e = ListenerSettings::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("IAN_HEADER_TIMEOUT_MS"), "{e}");
        c.header_timeout_ms = 1;
        c.max_connections_per_ip = 0;
        let e = ListenerSettings::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("server.max_connections_per_ip"), "{e}");
    }

    #[test]
    fn the_refusal_is_a_complete_http_response_with_a_json_error() {
        let r = std::str::from_utf8(refusal_response()).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "too_many_connections");
    }

    #[tokio::test]
    async fn the_watchdog_uses_the_idle_clock_then_the_header_clock_and_none_while_busy() {
        let s = ListenerSettings {
            idle_timeout: Duration::from_millis(400),
            header_timeout: Duration::from_millis(150),
            ..settings(1, 1)
        };
        let a = Arc::new(Activity::new());
        // A request in progress: no clock at all.
        let busy = a.begin();
        let r = tokio::time::timeout(s.idle_timeout * 2, a.expired(&s)).await;
        assert!(r.is_err(), "a busy connection must not expire");
        drop(busy);
        // The watchdog keeps whole milliseconds since its origin, so a
        // deadline can fall up to 1 ms before the exact instant.
        let tick = Duration::from_millis(1);
        let t = Instant::now();
        assert!(matches!(a.expired(&s).await, Expired::Idle));
        assert!(t.elapsed() + tick >= s.idle_timeout, "{:?}", t.elapsed());
        // A first byte moves a new connection from the idle clock to the
        // (here shorter) header clock, counted from that byte.
        let a = Arc::new(Activity::new());
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.on_read();
        let t = Instant::now();
        assert!(matches!(a.expired(&s).await, Expired::Header));
        assert!(t.elapsed() + tick >= s.header_timeout, "{:?}", t.elapsed());
        assert!(t.elapsed() < s.idle_timeout, "{:?}", t.elapsed());
    }
}
