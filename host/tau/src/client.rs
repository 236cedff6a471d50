//! TCP client for the tau-testnet node.
//!
//! One persistent connection, one request line at a time (`\r\n`
//! terminated), one response line back. Transport failures (connect refused,
//! reset, EOF, timeout) of idempotent commands are retried with exponential
//! backoff and jitter ([`RetryPolicy`]); node rejections are never retried
//! here: they come back as [`TauError::Rejected`] with a typed
//! [`NodeRejection`]. `sendtx` is not idempotent on this node (a re-sent
//! queued tx answers INVALID_SEQUENCE), so its recovery lives in
//! [`TxSender`], which probes `gettxstatus` instead of re-sending blindly.
//!
//! A client-side pacer (governor's GCRA) keeps the connection under the node's rate
//! limit (burst 10, 5 commands/s; `checktx` additionally burst 2, 0.5/s), so
//! RATE_LIMITED is not the normal way to learn about it.

use crate::keys::TauKey;
use crate::protocol::{
    CheckTxResult, Command, ErrorCode, MalformedResponse, NodeRejection, RejectionDetails,
    Response, SendTxAccepted, TxStatus, parse_response,
};
use crate::tx::{FeeLimit, SignedTx, TxError, UnsignedTx};
use backon::Retryable as _;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Everything that can go wrong talking to the node.
#[derive(Debug, thiserror::Error)]
pub enum TauError {
    /// Could not open the TCP connection.
    #[error("cannot connect to Tau node at {endpoint}: {source}")]
    Connect {
        /// Endpoint dialled.
        endpoint: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Read or write failed on an open connection.
    #[error("Tau node connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// No complete response within the request timeout.
    #[error("Tau node did not answer within {0:?}")]
    Timeout(Duration),
    /// The node closed the connection before answering.
    #[error("Tau node closed the connection before answering")]
    ConnectionClosed,
    /// A response line longer than the configured limit.
    #[error("Tau node response exceeds {0} bytes")]
    ResponseTooLarge(usize),
    /// A response line that is not UTF-8.
    #[error("Tau node response is not UTF-8")]
    InvalidUtf8,
    /// A response that does not follow the protocol.
    #[error(transparent)]
    Malformed(#[from] MalformedResponse),
    /// The node answered for another command than the one sent.
    #[error("sent '{sent}' but the node answered for '{echoed}'")]
    CommandMismatch {
        /// Command word sent.
        sent: String,
        /// Command word echoed.
        echoed: String,
    },
    /// The node reported a different tx hash than the one computed locally:
    /// the canonical encoding differs and nothing IAN signs can be trusted.
    #[error("node reports tx hash {reported}, computed {computed}")]
    HashMismatch {
        /// Hash computed by IAN.
        computed: String,
        /// Hash the node reported.
        reported: String,
    },
    /// The node refused the request.
    #[error("Tau node rejected the request: {0}")]
    Rejected(Box<NodeRejection>),
    /// Building or signing a transaction failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The handshake version is not supported by the node.
    #[error("Tau node does not support protocol version {got} (supports {expected})")]
    UnsupportedVersion {
        /// Versions the node speaks.
        expected: String,
        /// Version asked for.
        got: String,
    },
    /// A transport error persisted through every retry.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: Box<TauError>,
    },
}

impl TauError {
    /// Errors of the connection itself, where the request may or may not
    /// have reached the node: the only ones retried automatically.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            TauError::Connect { .. }
                | TauError::Io(_)
                | TauError::Timeout(_)
                | TauError::ConnectionClosed
        )
    }

    /// The node's rejection, if that is what this is.
    pub fn rejection(&self) -> Option<&NodeRejection> {
        match self {
            TauError::Rejected(r) => Some(r),
            TauError::RetriesExhausted { last, .. } => last.rejection(),
            _ => None,
        }
    }

    /// Whether trying again later (same request) can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            TauError::RetriesExhausted { .. } => true,
            TauError::Rejected(r) => r.code.is_transient(),
            e => e.is_transport(),
        }
    }
}

/// Exponential backoff with jitter for transport errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first (default 5).
    pub max_attempts: u32,
    /// Delay before the first retry (default 200 ms).
    pub base_delay: Duration,
    /// Cap on any single delay (default 10 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The same schedule for `backon`, for at most `attempts` attempts in
    /// all: exponential from `base_delay`, capped at `max_delay`, each wait
    /// drawn uniformly from its upper half ("equal jitter": backon adds up
    /// to one more delay, so the base and cap are halved).
    pub fn backoff(&self, attempts: u32) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.base_delay / 2)
            .with_max_delay(self.max_delay / 2)
            .with_factor(2.0)
            .with_max_times(attempts.saturating_sub(1) as usize)
            .with_jitter()
    }

    /// Delay before retry number `retry` (0-based): `min(max, base * 2^retry)`
    /// with "equal jitter": uniformly in `[d/2, d]`, so many clients that
    /// failed together do not come back together, yet each still waits.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        let d = exp.min(self.max_delay);
        let half = d / 2;
        half + half.mul_f64(jitter_fraction())
    }
}

fn jitter_fraction() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// Client-side pacing that mirrors the node's per-connection limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Commands allowed back-to-back (node: 10).
    pub burst: f64,
    /// Refill per second (node: 5).
    pub per_second: f64,
    /// Extra bucket for `checktx` burst (node: 2).
    pub checktx_burst: f64,
    /// Extra bucket for `checktx` refill per second (node: 0.5).
    pub checktx_per_second: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        // One below the node's burst so a reconnect's fresh bucket on the
        // node side never sees an eleventh command.
        Self {
            burst: 9.0,
            per_second: 5.0,
            checktx_burst: 2.0,
            checktx_per_second: 0.5,
        }
    }
}

/// One GCRA limiter (`governor`), the exact form of a token bucket.
type Pacer = governor::DefaultDirectRateLimiter;

fn pacer(burst: f64, per_second: f64) -> Option<Pacer> {
    // A non-positive rate means no pacing on this bucket.
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let period = std::time::Duration::try_from_secs_f64(1.0 / per_second).ok()?;
    let burst = std::num::NonZeroU32::new(burst.max(1.0).min(f64::from(u32::MAX)) as u32)?;
    let quota = governor::Quota::with_period(period)?.allow_burst(burst);
    Some(governor::RateLimiter::direct(quota))
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of the node's TCP RPC (default port 65432).
    pub endpoint: String,
    /// Connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for one response line (default 15 s).
    pub request_timeout: Duration,
    /// Largest accepted response line (default 32 MiB; `getblocks` grows
    /// with the chain).
    pub max_response_bytes: usize,
    /// Backoff for transport errors.
    pub retry: RetryPolicy,
    /// Client-side pacing; `None` sends as fast as asked.
    pub rate_limit: Option<RateLimit>,
}

impl ClientConfig {
    /// Defaults for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_response_bytes: 32 << 20,
            retry: RetryPolicy::default(),
            rate_limit: Some(RateLimit::default()),
        }
    }
}

struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

struct Limiter {
    all: Option<Pacer>,
    checktx: Option<Pacer>,
}

/// Handshake answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloInfo {
    /// Negotiated protocol version.
    pub version: String,
    /// The node's TAU_ENV.
    pub env: String,
    /// Node implementation.
    pub node: String,
}

/// Connection to one Tau node. Cheap to share behind an `Arc`; requests are
/// serialised on the single connection.
pub struct TauClient {
    cfg: ClientConfig,
    conn: tokio::sync::Mutex<Option<Conn>>,
    limiter: Option<Limiter>,
}

impl std::fmt::Debug for TauClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TauClient")
            .field("endpoint", &self.cfg.endpoint)
            .finish_non_exhaustive()
    }
}

impl TauClient {
    /// A client; connects lazily on the first request.
    pub fn new(cfg: ClientConfig) -> Self {
        let limiter = cfg.rate_limit.map(|r| Limiter {
            all: pacer(r.burst, r.per_second),
            checktx: pacer(r.checktx_burst, r.checktx_per_second),
        });
        Self {
            cfg,
            conn: tokio::sync::Mutex::new(None),
            limiter,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Drops the connection (the next request reconnects).
    pub async fn disconnect(&self) {
        *self.conn.lock().await = None;
    }

    async fn pace(&self, cmd: &Command) {
        let Some(l) = &self.limiter else { return };
        if let Some(p) = &l.all {
            p.until_ready().await;
        }
        if matches!(cmd, Command::CheckTx(_))
            && let Some(p) = &l.checktx
        {
            p.until_ready().await;
        }
    }

    /// Sends one request and reads one response line, without retries. A
    /// transport error drops the connection so the next call reconnects.
    pub async fn request_line(&self, cmd: &Command) -> Result<String, TauError> {
        self.pace(cmd).await;
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let stream = tokio::time::timeout(
                self.cfg.connect_timeout,
                TcpStream::connect(&self.cfg.endpoint),
            )
            .await
            .map_err(|_| TauError::Connect {
                endpoint: self.cfg.endpoint.clone(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            })?
            .map_err(|source| TauError::Connect {
                endpoint: self.cfg.endpoint.clone(),
                source,
            })?;
            let _ = stream.set_nodelay(true);
            let (r, w) = stream.into_split();
            *guard = Some(Conn {
                reader: BufReader::new(r),
                writer: w,
            });
        }
        let conn = guard.as_mut().expect("connected above");
        let result = tokio::time::timeout(
            self.cfg.request_timeout,
            roundtrip(conn, &cmd.to_line(), self.cfg.max_response_bytes),
        )
        .await
        .unwrap_or(Err(TauError::Timeout(self.cfg.request_timeout)));
        if result.is_err() {
            *guard = None;
        }
        result
    }

    /// One request with transport retries (idempotent commands only), parsed.
    pub async fn request(&self, cmd: &Command) -> Result<Response, TauError> {
        let attempts = if cmd.is_idempotent() {
            self.cfg.retry.max_attempts.max(1)
        } else {
            1
        };
        let line = (|| self.request_line(cmd))
            .retry(self.cfg.retry.backoff(attempts))
            .sleep(tokio::time::sleep)
            .when(TauError::is_transport)
            .notify(|e, wait| {
                tracing::debug!(command = %cmd.word(), error = %e, ?wait, "retrying Tau request");
            })
            .await;
        match line {
            Ok(line) => Ok(parse_response(&line)?),
            Err(e) if e.is_transport() && attempts > 1 => Err(TauError::RetriesExhausted {
                attempts,
                last: Box::new(e),
            }),
            Err(e) => Err(e),
        }
    }

    /// A JSON command: returns `data`, or the rejection as an error.
    pub async fn call(&self, cmd: &Command) -> Result<Map<String, Value>, TauError> {
        match self.request(cmd).await? {
            Response::Ok { command, data } => {
                let sent = cmd.word();
                if command != sent {
                    return Err(TauError::CommandMismatch {
                        sent,
                        echoed: command,
                    });
                }
                Ok(data)
            }
            Response::Error(r) => Err(TauError::Rejected(Box::new(r))),
            other => Err(TauError::Malformed(MalformedResponse {
                reason: "handshake line where JSON was expected".into(),
                line: format!("{other:?}"),
            })),
        }
    }

    /// `hello version=N`.
    pub async fn hello(&self, version: u32) -> Result<HelloInfo, TauError> {
        match self.request(&Command::Hello(version)).await? {
            Response::HelloOk { version, env, node } => Ok(HelloInfo { version, env, node }),
            Response::HelloUnsupported { expected, got } => {
                Err(TauError::UnsupportedVersion { expected, got })
            }
            Response::Error(r) => Err(TauError::Rejected(Box::new(r))),
            Response::Ok { .. } => Err(TauError::Malformed(MalformedResponse {
                reason: "JSON answer to hello".into(),
                line: String::new(),
            })),
        }
    }

    /// Next sequence number the node accepts for `address` (confirmed next,
    /// or highest pending + 1).
    pub async fn get_sequence(&self, address: &str) -> Result<u64, TauError> {
        let data = self.call(&Command::GetSequence(address.into())).await?;
        field_u64(&data, "sequence_number")
    }

    /// Confirmed balance (decimal string on the wire).
    pub async fn get_balance(&self, address: &str) -> Result<u128, TauError> {
        let data = self.call(&Command::GetBalance(address.into())).await?;
        data.get("balance")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| missing("balance", &data))
    }

    /// Status of a transaction by hash.
    pub async fn tx_status(&self, tx_hash: &str) -> Result<TxStatus, TauError> {
        let data = self.call(&Command::GetTxStatus(tx_hash.into())).await?;
        TxStatus::from_data(&data).map_err(|reason| {
            TauError::Malformed(MalformedResponse {
                reason,
                line: Value::Object(data).to_string(),
            })
        })
    }

    /// Polls `gettxstatus` every `interval` until the tx is in a block or
    /// gone (rejected, evicted, expired), at most `max_polls` times; returns
    /// the last status seen. `unknown` right after admission is not final:
    /// it keeps polling.
    pub async fn wait_for_status(
        &self,
        tx_hash: &str,
        interval: Duration,
        max_polls: u32,
    ) -> Result<TxStatus, TauError> {
        let mut last = TxStatus::Unknown;
        for poll in 0..max_polls.max(1) {
            if poll > 0 {
                tokio::time::sleep(interval).await;
            }
            last = self.tx_status(tx_hash).await?;
            if matches!(last, TxStatus::Confirmed { .. }) || last.is_dropped() {
                break;
            }
        }
        Ok(last)
    }

    /// The node's clock (ISO-8601 text).
    pub async fn timestamp(&self) -> Result<String, TauError> {
        let data = self.call(&Command::GetTimestamp).await?;
        data.get("timestamp")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| missing("timestamp", &data))
    }

    /// Submits a signed tx once (no retry: see [`TxSender`]). Checks that the
    /// node's hash equals the locally computed one.
    pub async fn send_tx(&self, tx: &SignedTx) -> Result<SendTxAccepted, TauError> {
        let data = self.call(&Command::SendTx(tx.clone())).await?;
        let accepted: SendTxAccepted = serde_json::from_value(Value::Object(data.clone()))
            .map_err(|_| missing("tx_hash", &data))?;
        check_hash(tx, &accepted.tx_hash)?;
        Ok(accepted)
    }

    /// Dry-runs a signed tx (Tau evaluation skipped by the node).
    pub async fn check_tx(&self, tx: &SignedTx) -> Result<CheckTxResult, TauError> {
        let data = self.call(&Command::CheckTx(tx.clone())).await?;
        let result: CheckTxResult = serde_json::from_value(Value::Object(data.clone()))
            .map_err(|_| missing("admissible", &data))?;
        check_hash(tx, &result.tx_hash)?;
        Ok(result)
    }
}

fn check_hash(tx: &SignedTx, reported: &str) -> Result<(), TauError> {
    if reported != tx.tx_hash() {
        return Err(TauError::HashMismatch {
            computed: tx.tx_hash().to_string(),
            reported: reported.to_string(),
        });
    }
    Ok(())
}

fn missing(field: &str, data: &Map<String, Value>) -> TauError {
    TauError::Malformed(MalformedResponse {
        reason: format!("missing or mistyped '{field}'"),
        line: Value::Object(data.clone()).to_string(),
    })
}

fn field_u64(data: &Map<String, Value>, field: &str) -> Result<u64, TauError> {
    data.get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| missing(field, data))
}

async fn roundtrip(conn: &mut Conn, line: &str, max: usize) -> Result<String, TauError> {
    let mut out = Vec::with_capacity(line.len() + 2);
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
    conn.writer.write_all(&out).await?;
    conn.writer.flush().await?;
    let mut buf = Vec::new();
    let limit = max as u64 + 2;
    let n = (&mut conn.reader)
        .take(limit)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Err(TauError::ConnectionClosed);
    }
    if buf.last() != Some(&b'\n') {
        if buf.len() as u64 >= limit {
            return Err(TauError::ResponseTooLarge(max));
        }
        return Err(TauError::ConnectionClosed);
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| TauError::InvalidUtf8)
}

/// Unix-seconds clock, injectable so expirations are reproducible in tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// What became of a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Admitted now.
    Queued {
        /// Its hash.
        tx_hash: String,
    },
    /// The node already holds exactly this tx (an earlier send whose reply
    /// was lost): found by `gettxstatus` after INVALID_SEQUENCE.
    AlreadyHeld {
        /// Its hash.
        tx_hash: String,
        /// Status found.
        status: TxStatus,
    },
    /// The tx's sequence number is no longer usable (the slot is taken by
    /// another tx, or there is a gap): re-sign at `expected` and send again.
    StaleSequence {
        /// Sequence the node wants now.
        expected: u64,
        /// Sequence of the refused tx.
        received: u64,
    },
}

/// Builds, signs and submits transactions for one key, tracking its
/// sequence number.
pub struct TxSender {
    client: Arc<TauClient>,
    key: TauKey,
    fee_limit: u64,
    ttl_secs: u64,
    clock: Clock,
    next_sequence: Option<u64>,
}

impl std::fmt::Debug for TxSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxSender")
            .field("key", &self.key)
            .field("next_sequence", &self.next_sequence)
            .finish_non_exhaustive()
    }
}

impl TxSender {
    /// A sender that signs with `key`, `fee_limit` as a decimal string, and
    /// `expiration_time = clock() + ttl_secs`.
    pub fn new(
        client: Arc<TauClient>,
        key: TauKey,
        fee_limit: u64,
        ttl_secs: u64,
        clock: Clock,
    ) -> Self {
        Self {
            client,
            key,
            fee_limit,
            ttl_secs,
            clock,
            next_sequence: None,
        }
    }

    /// The signing key.
    pub fn key(&self) -> &TauKey {
        &self.key
    }

    /// The client in use.
    pub fn client(&self) -> &Arc<TauClient> {
        &self.client
    }

    /// The tracked next sequence number, if known.
    pub fn tracked_sequence(&self) -> Option<u64> {
        self.next_sequence
    }

    /// Forgets the tracked sequence; the next signature fetches it.
    pub fn forget_sequence(&mut self) {
        self.next_sequence = None;
    }

    /// The next sequence number, fetched from the node on first use.
    pub async fn next_sequence(&mut self) -> Result<u64, TauError> {
        if let Some(s) = self.next_sequence {
            return Ok(s);
        }
        let s = self.client.get_sequence(self.key.public_hex()).await?;
        self.next_sequence = Some(s);
        Ok(s)
    }

    /// Signs `operations` at the next sequence number with a fresh expiry.
    /// Does not advance the sequence: only admission does.
    pub async fn sign(&mut self, operations: Map<String, Value>) -> Result<SignedTx, TauError> {
        let seq = self.next_sequence().await?;
        Ok(UnsignedTx {
            sender_pubkey: self.key.public_hex().to_string(),
            sequence_number: seq,
            expiration_time: (self.clock)().saturating_add(self.ttl_secs),
            fee_limit: FeeLimit::DecimalString(self.fee_limit),
            operations,
        }
        .sign(&self.key)?)
    }

    /// Sends a signed tx (retrying transport errors with the same bytes) and
    /// resolves INVALID_SEQUENCE instead of re-sending blindly:
    /// * expected > received: the node may already hold this very tx (its
    ///   earlier reply was lost). `gettxstatus` decides: held ->
    ///   [`SendOutcome::AlreadyHeld`]; otherwise the slot went to another tx
    ///   -> [`SendOutcome::StaleSequence`].
    /// * expected < received: a gap (an earlier tx was dropped) ->
    ///   [`SendOutcome::StaleSequence`].
    ///
    /// The tracked sequence follows what the node says in every case.
    pub async fn send(&mut self, tx: &SignedTx) -> Result<SendOutcome, TauError> {
        let seq = tx.sequence_number();
        let retry = self.client.config().retry;
        let client = &self.client;
        let tries = std::sync::atomic::AtomicU32::new(0);
        let result = (|| {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            client.send_tx(tx)
        })
        .retry(retry.backoff(retry.max_attempts))
        .sleep(tokio::time::sleep)
        .when(TauError::is_transport)
        .await;
        match result {
            Ok(accepted) => {
                if let Some(s) = seq {
                    self.next_sequence = Some(s + 1);
                }
                Ok(SendOutcome::Queued {
                    tx_hash: accepted.tx_hash,
                })
            }
            Err(TauError::Rejected(r)) if r.code == ErrorCode::InvalidSequence => {
                let (expected, received) = match r.details {
                    RejectionDetails::Sequence { expected, received } => (expected, received),
                    _ => {
                        let s = self.client.get_sequence(self.key.public_hex()).await?;
                        (s, seq.unwrap_or(0))
                    }
                };
                self.next_sequence = Some(expected);
                if expected > received {
                    let status = self.client.tx_status(tx.tx_hash()).await?;
                    if status.is_held() {
                        return Ok(SendOutcome::AlreadyHeld {
                            tx_hash: tx.tx_hash().to_string(),
                            status,
                        });
                    }
                }
                Ok(SendOutcome::StaleSequence { expected, received })
            }
            Err(e) if e.is_transport() && tries.load(std::sync::atomic::Ordering::Relaxed) > 1 => {
                Err(TauError::RetriesExhausted {
                    attempts: tries.load(std::sync::atomic::Ordering::Relaxed),
                    last: Box::new(e),
                })
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder as _;

    #[test]
    fn backoff_waits_in_the_upper_half_of_each_doubling_delay_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        };
        let waits: Vec<Duration> = p.backoff(p.max_attempts).build().collect();
        assert_eq!(waits.len(), 7, "attempts include the first: 7 retries");
        for (n, w) in waits.iter().enumerate() {
            let full = (p.base_delay * 2u32.pow(n as u32)).min(p.max_delay);
            assert!(
                *w >= full / 2 && *w <= full,
                "retry {n}: {w:?} outside [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1).build().count(), 0);
    }

    #[test]
    fn a_zero_or_negative_rate_paces_nothing() {
        assert!(pacer(9.0, 0.0).is_none());
        assert!(pacer(9.0, -1.0).is_none());
        assert!(pacer(9.0, 5.0).is_some_and(|p| p.check().is_ok()));
    }
}
