//! A fake Tau node that replays recorded transcripts over real TCP.
//!
//! It knows nothing about the protocol: it serves a script of recorded
//! `(request, response)` pairs in order, over a real listener on loopback,
//! and refuses any request line that is not byte-for-byte the recorded one
//! (including the `\r\n` terminator). A refused line gets an error envelope
//! with code `REPLAY_MISMATCH`, closes the connection, and is kept in the
//! report, so a test can assert that the client produced exactly the
//! recorded bytes and handled exactly the recorded answers.
//!
//! Scripts are whole transcript files, or exchanges picked from them and
//! spliced into a new order (each exchange is still a real recording), plus
//! [`Exchange::drop_connection`], which closes the connection after reading
//! the request instead of answering: the lost-reply case.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One recorded request and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The exact request line (without `\r\n`).
    pub request: String,
    /// The recorded response line, or `None` to close the connection
    /// without answering.
    pub response: Option<String>,
    /// The recording's note, for failure messages.
    pub note: Option<String>,
}

impl Exchange {
    /// The same request, answered by closing the connection (reply lost).
    pub fn drop_connection(&self) -> Exchange {
        Exchange {
            request: self.request.clone(),
            response: None,
            note: Some(format!("connection dropped instead of: {:?}", self.note)),
        }
    }
}

/// A transcript file: header object, then one exchange per line.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The header line (scenario, keys, framing, ...).
    pub header: serde_json::Value,
    /// Exchanges in recorded order.
    pub exchanges: Vec<Exchange>,
}

/// Errors loading a transcript or running a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// File could not be read.
    #[error("transcript {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A line is not a transcript record.
    #[error("transcript line {line}: {reason}")]
    Format {
        /// 1-based line number.
        line: usize,
        /// Cause.
        reason: String,
    },
    /// The client sent something else than the recording.
    #[error("replay mismatch at exchange {index}: expected {expected:?}, got {got:?}")]
    Mismatch {
        /// Index in the script.
        index: usize,
        /// Recorded request.
        expected: String,
        /// What arrived (with its terminator shown).
        got: String,
    },
    /// The client stopped before the script ended.
    #[error("{remaining} recorded exchanges were never requested (next: {next:?})")]
    Unconsumed {
        /// Exchanges left.
        remaining: usize,
        /// The next expected request.
        next: String,
    },
}

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    header: bool,
    request: Option<String>,
    response: Option<String>,
    note: Option<String>,
}

impl Transcript {
    /// Parses JSONL text.
    pub fn parse(text: &str) -> Result<Self, ReplayError> {
        let mut header = serde_json::Value::Null;
        let mut exchanges = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fmt = |reason: String| ReplayError::Format {
                line: i + 1,
                reason,
            };
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| fmt(e.to_string()))?;
            let rec: Record =
                serde_json::from_value(value.clone()).map_err(|e| fmt(e.to_string()))?;
            if rec.header {
                header = value;
                continue;
            }
            exchanges.push(Exchange {
                request: rec.request.ok_or_else(|| fmt("missing request".into()))?,
                response: Some(rec.response.ok_or_else(|| fmt("missing response".into()))?),
                note: rec.note,
            });
        }
        Ok(Self { header, exchanges })
    }

    /// Loads a `.jsonl` transcript.
    pub fn load(path: &Path) -> Result<Self, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Exchange `n` (1-based, as numbered in the file after the header).
    pub fn exchange(&self, n: usize) -> Exchange {
        self.exchanges[n - 1].clone()
    }
}

#[derive(Debug, Default)]
struct State {
    script: Vec<Exchange>,
    next: usize,
    mismatches: Vec<ReplayError>,
    connections: usize,
}

/// The running fake node.
pub struct ReplayNode {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReplayNode {
    /// Binds `127.0.0.1:0` and serves `script`; connections are served one
    /// after another, each continuing where the previous stopped.
    pub async fn start(script: Vec<Exchange>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            script,
            ..State::default()
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                st.lock().expect("replay state").connections += 1;
                serve(stream, &st).await;
            }
        });
        Ok(Self { addr, state, task })
    }

    /// `host:port` to give the client.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().expect("replay state").connections
    }

    /// Exchanges served so far.
    pub fn served(&self) -> usize {
        self.state.lock().expect("replay state").next
    }

    /// Stops the node; `Ok` only if every exchange was requested exactly as
    /// recorded and nothing else arrived.
    pub fn finish(self) -> Result<(), ReplayError> {
        self.task.abort();
        let mut st = self.state.lock().expect("replay state");
        if let Some(first) = st.mismatches.drain(..).next() {
            return Err(first);
        }
        if st.next < st.script.len() {
            return Err(ReplayError::Unconsumed {
                remaining: st.script.len() - st.next,
                next: st.script[st.next].request.clone(),
            });
        }
        Ok(())
    }
}

impl Drop for ReplayNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: tokio::net::TcpStream, st: &Arc<Mutex<State>>) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    loop {
        let mut raw = Vec::new();
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let got = String::from_utf8_lossy(&raw).into_owned();
        let action = {
            let mut s = st.lock().expect("replay state");
            let index = s.next;
            match s.script.get(index).cloned() {
                Some(ex) if got.strip_suffix("\r\n") == Some(ex.request.as_str()) => {
                    s.next += 1;
                    Ok(ex.response)
                }
                expected => {
                    let err = ReplayError::Mismatch {
                        index,
                        expected: expected
                            .map(|e| format!("{}\r\n", e.request))
                            .unwrap_or_else(|| "<end of script>".into()),
                        got: got.clone(),
                    };
                    s.mismatches.push(err);
                    Err(())
                }
            }
        };
        match action {
            Ok(Some(response)) => {
                let mut bytes = response.into_bytes();
                bytes.extend_from_slice(b"\r\n");
                if w.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(()) => {
                let _ = w
                    .write_all(
                        b"{\"status\":\"error\",\"command\":\"replay\",\"error\":{\"code\":\"REPLAY_MISMATCH\",\"message\":\"request differs from the recording\"}}\r\n",
                    )
                    .await;
                return;
            }
        }
    }
}
