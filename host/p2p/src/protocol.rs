//! The wire: topic names, the sync request and its framing.
//!
//! Announcements are c2sp.org/tlog-checkpoint notes as they are, one per
//! gossipsub message. Sync is one libp2p request-response protocol,
//! `/ian/sync/1`: a request is a small JSON object, a response is one tag
//! byte then either the bytes asked for (`0x00`) or a JSON error
//! (`0x01`, `{"code": ..., "message": ...}`). The bytes are exactly what
//! the node's HTTP API serves for the same thing, so one verifier checks
//! both.

use libp2p::StreamProtocol;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use serde::{Deserialize, Serialize};

/// The sync protocol's name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/ian/sync/1");
/// The Kademlia protocol's name (IAN nodes form their own DHT).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ian/kad/1.0.0");
/// identify's protocol version: peers speaking another one are not IAN
/// nodes.
pub const IDENTIFY_PROTOCOL: &str = "/ian/1.0.0";
/// The topic every node subscribes to: the first checkpoint of each new log
/// (new goals) and each log's newest checkpoint when a node starts.
pub const GOALS_TOPIC: &str = "ian/goals/1";
/// Largest announcement: a checkpoint note with its cosignatures (at most
/// 64 signature lines of ~100 bytes).
pub const MAX_ANNOUNCEMENT: usize = 8 * 1024;
/// Largest sync request.
pub const MAX_REQUEST: u64 = 4 * 1024;

/// The topic of one log: every new checkpoint of `origin`.
pub fn log_topic(origin: &str) -> String {
    format!("ian/log/1/{origin}")
}

/// One thing a peer can be asked for. Each answer is the body the HTTP API
/// gives for the same thing, and each is checkable: tiles and entries
/// against a signed checkpoint, blobs and packs against their hash, a
/// manifest against the goal hash the log's entries name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "get", rename_all = "snake_case")]
pub enum SyncRequest {
    /// The peer's logs: the newest published checkpoint of each log it
    /// serves, as a JSON array of note texts.
    Logs,
    /// A log's newest published checkpoint note
    /// (`GET /logs/<goal>/checkpoint`).
    Checkpoint {
        /// The log.
        origin: String,
    },
    /// A hash tile or entry bundle: `path` is what follows `tile/` in a
    /// c2sp.org/tlog-tiles URL, e.g. `entries/000.p/17` or `0/x001/234`.
    Tile {
        /// The log.
        origin: String,
        /// The tile path.
        path: String,
    },
    /// A content-addressed blob (component, dataset file, agent code) by
    /// its SHA-256, hex (`GET /api/v1/blobs/<hash>`).
    Blob {
        /// The hash.
        hash: String,
    },
    /// An agent pack as JSON, by pack hash (`GET /api/v1/packs/<hash>`).
    Pack {
        /// The hash.
        hash: String,
    },
    /// A goal's manifest view (`GET /api/v1/goals/<goal>/manifest`).
    Manifest {
        /// The log whose goal it is.
        origin: String,
    },
    /// A consistency proof between two sizes of a log, RFC 9162 form: the
    /// hashes, base64, one per line.
    Consistency {
        /// The log.
        origin: String,
        /// The smaller size.
        old: u64,
        /// The larger size.
        new: u64,
    },
}

/// Why a request was not answered with bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServeError {
    /// Machine-readable reason: `not_found`, `rate_limited`, `bad_request`,
    /// `too_large`, `internal`, or a code of the node's HTTP API.
    pub code: String,
    /// For people.
    pub message: String,
}

impl ServeError {
    /// An error with a code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ServeError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A response: the bytes, or why not.
pub type SyncResponse = Result<Vec<u8>, ServeError>;

const TAG_OK: u8 = 0;
const TAG_ERR: u8 = 1;

/// Reads at most `max` bytes to the end of the stream; more is an error
/// naming the limit (never a silent truncation).
async fn read_limited<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: u64,
    what: &str,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max + 1).read_to_end(&mut buf).await?;
    if buf.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what} is over the {max}-byte limit"),
        ));
    }
    Ok(buf)
}

/// The request-response codec of `/ian/sync/1`.
#[derive(Debug, Clone)]
pub struct SyncCodec {
    /// Largest response accepted.
    pub max_response: u64,
}

/// Encodes a response (exposed for the framing's test vectors).
pub fn encode_response(r: &SyncResponse) -> Vec<u8> {
    match r {
        Ok(b) => {
            let mut out = Vec::with_capacity(1 + b.len());
            out.push(TAG_OK);
            out.extend_from_slice(b);
            out
        }
        Err(e) => {
            let mut out = vec![TAG_ERR];
            out.extend(serde_json::to_vec(e).unwrap_or_default());
            out
        }
    }
}

/// Decodes a response.
pub fn decode_response(b: &[u8]) -> std::io::Result<SyncResponse> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    match b.split_first() {
        Some((&TAG_OK, rest)) => Ok(Ok(rest.to_vec())),
        Some((&TAG_ERR, rest)) => serde_json::from_slice(rest)
            .map(Err)
            .map_err(|_| bad("the error response is not {code, message} JSON")),
        Some(_) => Err(bad("unknown response tag")),
        None => Err(bad("empty response")),
    }
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let b = read_limited(io, MAX_REQUEST, "the request").await?;
        serde_json::from_slice(&b)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let b = read_limited(io, self.max_response + 1, "the response").await?;
        decode_response(&b)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let b = serde_json::to_vec(&req)?;
        io.write_all(&b).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_response(&res)).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let r = SyncRequest::Tile {
            origin: "ian.example/trading".into(),
            path: "entries/000.p/3".into(),
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(
            j,
            r#"{"get":"tile","origin":"ian.example/trading","path":"entries/000.p/3"}"#
        );
        assert_eq!(serde_json::from_str::<SyncRequest>(&j).unwrap(), r);
        assert_eq!(
            serde_json::to_string(&SyncRequest::Logs).unwrap(),
            r#"{"get":"logs"}"#
        );
    }

    #[test]
    fn responses_are_a_tag_byte_then_bytes_or_a_json_error() {
        assert_eq!(encode_response(&Ok(b"abc".to_vec())), b"\x00abc");
        let e = encode_response(&Err(ServeError::new("rate_limited", "slow down")));
        assert_eq!(
            e,
            b"\x01{\"code\":\"rate_limited\",\"message\":\"slow down\"}"
        );
        assert_eq!(
            decode_response(&e).unwrap(),
            Err(ServeError::new("rate_limited", "slow down"))
        );
        assert_eq!(decode_response(b"\x00").unwrap(), Ok(Vec::new()));
    }

    #[test]
    fn an_unknown_tag_or_empty_response_is_an_error() {
        assert!(decode_response(b"").is_err());
        assert!(decode_response(b"\x02x").is_err());
        assert!(decode_response(b"\x01not json").is_err());
    }
}
