//! Shared helpers for the replay tests: reference keys, transcripts, a
//! client configured for loopback replay.
#![allow(dead_code)]

use ian_tau::client::{ClientConfig, RetryPolicy, TauClient, TxSender};
use ian_tau::fake::{ReplayNode, Transcript};
use ian_tau::keys::TauKey;
use ian_tau::tx::{FeeLimit, UnsignedTx};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The recorded custom-data value: SHA-256("ian-tau-reference/merkle-root-1").
pub const ROOT: &str = "5463933c8c8dd0ae5a2230bdb6ac3cccd52c4003eb6658908277ff332fccec84";
/// `expiration_time` of every recorded tx.
pub const EXPIRES: u64 = 1_900_000_000;
/// Time-to-live used with [`fixed_clock`] so that expiry lands on [`EXPIRES`].
pub const TTL: u64 = 600;

pub fn alice() -> TauKey {
    TauKey::from_seed("ian-tau-reference/alice").unwrap()
}

pub fn bob() -> TauKey {
    TauKey::from_seed("ian-tau-reference/bob").unwrap()
}

pub fn transcript(rel: &str) -> Transcript {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/transcripts")
        .join(rel);
    Transcript::load(&path).unwrap()
}

/// A client for replay: no pacing (the recording decides what is limited),
/// fast retries.
pub fn client(node: &ReplayNode) -> Arc<TauClient> {
    let mut cfg = ClientConfig::new(node.endpoint());
    cfg.rate_limit = None;
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    cfg.request_timeout = Duration::from_secs(10);
    Arc::new(TauClient::new(cfg))
}

pub fn fixed_clock() -> ian_tau::client::Clock {
    Arc::new(|| EXPIRES - TTL)
}

pub fn sender(client: Arc<TauClient>, key: TauKey) -> TxSender {
    TxSender::new(client, key, 10, TTL, fixed_clock())
}

/// `{"13": ROOT}`: the recorded custom-data operations (stream 13, plain hex,
/// as the recording client sent them; IAN itself uses stream 17 and `#x`).
pub fn ops13() -> Map<String, Value> {
    json!({"13": ROOT}).as_object().unwrap().clone()
}

/// An unsigned user_tx object with the recorded defaults.
pub fn tx_map(key: &TauKey, seq: u64, ops: Value) -> Map<String, Value> {
    let mut m = UnsignedTx {
        sender_pubkey: key.public_hex().to_string(),
        sequence_number: seq,
        expiration_time: EXPIRES,
        fee_limit: FeeLimit::DecimalString(10),
        operations: Map::new(),
    }
    .to_map()
    .unwrap();
    m.insert("operations".into(), ops);
    m
}

pub fn zero_sig() -> String {
    "00".repeat(96)
}
