//! Transactions: the signing payload, the signature, the transaction hash.
//!
//! Follows the node's algorithm (PROTOCOL.md section 5):
//! 1. signing object = `{sender_pubkey, sequence_number, expiration_time,
//!    fee_limit, tx_type}` copied from the tx (`tx_type` defaults to
//!    `"user_tx"`), plus `operations` for `user_tx` (governance types add
//!    their own fields); `signature` and unknown fields never take part;
//! 2. `msg = SHA-256(canonical JSON of the signing object)`;
//! 3. `signature = BLS.Sign(sk, msg)` (min_pk, [`crate::keys::DST`]);
//! 4. `tx_hash = hex(SHA-256(canonical JSON of the whole tx as sent))`.
//!
//! Values keep the JSON type they are given: `"fee_limit":"10"` and
//! `"fee_limit":10` are both admitted but hash differently. IAN pins the
//! decimal-string form ([`FeeLimit::DecimalString`]); the integer form exists
//! only to reproduce recorded vectors.

use crate::canonical::{CanonicalError, to_canonical_string};
use crate::keys::{self, TauKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Largest `fee_limit` the node accepts (`2^63 - 1`).
pub const MAX_FEE_LIMIT: u64 = i64::MAX as u64;
/// Largest transfer amount (`bv[24]`).
pub const MAX_TRANSFER_AMOUNT: u64 = (1 << 24) - 1;
/// At most this many transfers per transaction.
pub const MAX_TRANSFERS: usize = 64;
/// At most this many numeric custom-stream keys per transaction.
pub const MAX_CUSTOM_STREAMS: usize = 16;
/// The first operation key that is free on every network and in every node
/// mode (`"13"` and `"16"` are reserved in some modes, `"2"`..`"15"` always).
pub const FIRST_FREE_OPERATION_KEY: u32 = 17;

/// Why a transaction cannot be built, signed or hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The tx contains a non-integer number.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// The value given as a transaction is not a JSON object.
    #[error("a transaction must be a JSON object")]
    NotAnObject,
    /// `fee_limit` above `2^63 - 1` (the node refuses it with INVALID_PARAMS).
    #[error("fee_limit {0} exceeds 2^63-1")]
    FeeLimitTooLarge(u64),
    /// The signing key is not the key named in `sender_pubkey`.
    #[error("signing key {key} does not match sender_pubkey {sender}")]
    KeyMismatch {
        /// Public key of the signing key.
        key: String,
        /// `sender_pubkey` of the transaction.
        sender: String,
    },
    /// An operation key the node reserves (`"0"`..`"16"`) or that is not a
    /// decimal stream number.
    #[error(
        "operation key '{0}' is reserved or not a custom stream (use {FIRST_FREE_OPERATION_KEY} and up)"
    )]
    ReservedOperationKey(String),
    /// More numeric custom keys than the node admits.
    #[error("{0} custom streams exceed the node's limit of {MAX_CUSTOM_STREAMS}")]
    TooManyCustomStreams(usize),
    /// A custom value the node would misread (an all-digit string is read as
    /// a decimal number, plain hex with a letter gets `#x` added only
    /// sometimes): IAN sends `#x`-prefixed lowercase hex only.
    #[error("custom value for stream {key} must be '#x' + lowercase hex, got {value:?}")]
    AmbiguousCustomValue {
        /// Operation key.
        key: String,
        /// Offending value.
        value: String,
    },
    /// A transfer recipient that is not a valid compressed G1 point (the node
    /// does not check and would credit an unusable address).
    #[error("transfer recipient {0} is not a valid BLS12-381 G1 public key")]
    InvalidRecipient(String),
    /// A transfer amount outside `1..=16777215`.
    #[error("transfer amount {0} outside 1..=16777215")]
    InvalidAmount(u64),
    /// Zero or more than [`MAX_TRANSFERS`] transfers.
    #[error("{0} transfers (allowed 1..=64)")]
    TransferCount(usize),
    /// A transfer to oneself (the real rules reject it).
    #[error("transfer to the sender itself")]
    SelfTransfer,
}

/// How `fee_limit` is written. The choice changes the signature and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeLimit {
    /// `"fee_limit":"10"`: what IAN always sends (the node's documented form).
    DecimalString(u64),
    /// `"fee_limit":10`: accepted by the node; kept for recorded vectors.
    Integer(u64),
}

impl FeeLimit {
    fn to_value(self) -> Result<Value, TxError> {
        match self {
            FeeLimit::DecimalString(v) | FeeLimit::Integer(v) if v > MAX_FEE_LIMIT => {
                Err(TxError::FeeLimitTooLarge(v))
            }
            FeeLimit::DecimalString(v) => Ok(Value::String(v.to_string())),
            FeeLimit::Integer(v) => Ok(Value::from(v)),
        }
    }
}

/// A `user_tx` before signing. Every field is signed.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsignedTx {
    /// Sender's compressed G1 public key, 96 lowercase hex (its account id).
    pub sender_pubkey: String,
    /// Per-account sequence number (JSON integer; a string is rejected).
    pub sequence_number: u64,
    /// Unix seconds after which the node refuses the tx (JSON integer).
    pub expiration_time: u64,
    /// Maximum fee the sender pays.
    pub fee_limit: FeeLimit,
    /// The `operations` object (keys are decimal stream numbers).
    pub operations: Map<String, Value>,
}

impl UnsignedTx {
    /// The transaction as a JSON object without `signature`.
    pub fn to_map(&self) -> Result<Map<String, Value>, TxError> {
        let mut m = Map::new();
        m.insert("tx_type".into(), Value::from("user_tx"));
        m.insert(
            "sender_pubkey".into(),
            Value::from(self.sender_pubkey.clone()),
        );
        m.insert("sequence_number".into(), Value::from(self.sequence_number));
        m.insert("expiration_time".into(), Value::from(self.expiration_time));
        m.insert("fee_limit".into(), self.fee_limit.to_value()?);
        m.insert("operations".into(), Value::Object(self.operations.clone()));
        Ok(m)
    }

    /// The exact canonical JSON whose SHA-256 is signed.
    pub fn signing_payload(&self) -> Result<String, TxError> {
        signing_payload(&self.to_map()?)
    }

    /// Signs with `key`, which must be the key named in `sender_pubkey`.
    pub fn sign(&self, key: &TauKey) -> Result<SignedTx, TxError> {
        if key.public_hex() != self.sender_pubkey {
            return Err(TxError::KeyMismatch {
                key: key.public_hex().to_string(),
                sender: self.sender_pubkey.clone(),
            });
        }
        sign_map(self.to_map()?, key)
    }
}

/// The signing object the node derives from a transaction object.
pub fn signing_object(tx: &Map<String, Value>) -> Value {
    let mut s = Map::new();
    for field in [
        "sender_pubkey",
        "sequence_number",
        "expiration_time",
        "fee_limit",
    ] {
        if let Some(v) = tx.get(field) {
            s.insert(field.into(), v.clone());
        }
    }
    let tx_type = tx
        .get("tx_type")
        .cloned()
        .unwrap_or_else(|| Value::from("user_tx"));
    match tx_type.as_str() {
        Some("consensus_rule_update") => {
            for field in [
                "rule_revisions",
                "activate_at_height",
                "host_contract_patch",
            ] {
                if let Some(v) = tx.get(field) {
                    s.insert(field.into(), v.clone());
                }
            }
        }
        Some("consensus_rule_vote") => {
            if let Some(v) = tx.get("update_id") {
                s.insert("update_id".into(), v.clone());
            }
            s.insert(
                "approve".into(),
                tx.get("approve").cloned().unwrap_or(Value::Bool(true)),
            );
        }
        Some("user_tx") => {
            if let Some(v) = tx.get("operations") {
                s.insert("operations".into(), v.clone());
            }
        }
        // Any other type signs the common fields only (the node refuses it
        // with TX_REJECTED after verifying).
        _ => {}
    }
    s.insert("tx_type".into(), tx_type);
    Value::Object(s)
}

/// Canonical JSON of the signing object of `tx`.
pub fn signing_payload(tx: &Map<String, Value>) -> Result<String, TxError> {
    Ok(to_canonical_string(&signing_object(tx))?)
}

/// `SHA-256(signing payload)`: the 32-byte BLS message.
pub fn signing_digest(tx: &Map<String, Value>) -> Result<[u8; 32], TxError> {
    Ok(Sha256::digest(signing_payload(tx)?.as_bytes()).into())
}

/// Signs an arbitrary transaction object with any key and returns it with
/// `signature` set. Used for the typed path and to reproduce recorded
/// requests byte-for-byte (including deliberately wrong ones).
pub fn sign_map(mut tx: Map<String, Value>, key: &TauKey) -> Result<SignedTx, TxError> {
    let digest = signing_digest(&tx)?;
    tx.insert("signature".into(), Value::from(key.sign_hex(&digest)));
    SignedTx::from_map(tx)
}

/// A transaction as it goes on the wire, with its canonical text and hash
/// computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedTx {
    map: Map<String, Value>,
    canonical: String,
    hash: String,
}

impl SignedTx {
    /// Wraps a transaction object (signature included or not; the node
    /// decides). Fails only on values canonical JSON cannot express.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, TxError> {
        let canonical = to_canonical_string(&Value::Object(map.clone()))?;
        let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
        Ok(Self {
            map,
            canonical,
            hash,
        })
    }

    /// Parses a transaction from JSON text (any formatting).
    pub fn from_json(text: &str) -> Result<Self, TxError> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Self::from_map(m),
            _ => Err(TxError::NotAnObject),
        }
    }

    /// The transaction object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// Canonical JSON text, what IAN sends.
    pub fn canonical_json(&self) -> &str {
        &self.canonical
    }

    /// `hex(SHA-256(canonical JSON))`: the id the node reports.
    pub fn tx_hash(&self) -> &str {
        &self.hash
    }

    /// The `sequence_number` when it is a JSON integer.
    pub fn sequence_number(&self) -> Option<u64> {
        self.map.get("sequence_number").and_then(Value::as_u64)
    }

    /// The `sender_pubkey` string.
    pub fn sender(&self) -> Option<&str> {
        self.map.get("sender_pubkey").and_then(Value::as_str)
    }

    /// The `signature` string.
    pub fn signature(&self) -> Option<&str> {
        self.map.get("signature").and_then(Value::as_str)
    }

    /// Whether the signature verifies for `sender_pubkey` like the node
    /// checks it.
    pub fn verify_signature(&self) -> bool {
        let (Some(pk), Some(sig)) = (self.sender(), self.signature()) else {
            return false;
        };
        let Ok(digest) = signing_digest(&self.map) else {
            return false;
        };
        keys::verify(pk, &digest, sig)
    }
}

/// Builds an `operations` object under IAN's client-side rules, refusing
/// anything the node would reserve, reject or misread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationsBuilder {
    ops: Map<String, Value>,
    custom: usize,
}

impl OperationsBuilder {
    /// An empty `operations` object (admitted by the node; one fee step).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds custom data for stream `key` (>= 17) as `#x` + lowercase hex of
    /// `bytes`: never ambiguous with a decimal number.
    pub fn custom_bytes(self, key: u32, bytes: &[u8]) -> Result<Self, TxError> {
        self.custom_value(key, format!("#x{}", hex::encode(bytes)))
    }

    /// Adds a custom stream value that must already be `#x` + lowercase hex.
    pub fn custom_value(mut self, key: u32, value: String) -> Result<Self, TxError> {
        if key < FIRST_FREE_OPERATION_KEY {
            return Err(TxError::ReservedOperationKey(key.to_string()));
        }
        if !is_hex_literal(&value) {
            return Err(TxError::AmbiguousCustomValue {
                key: key.to_string(),
                value,
            });
        }
        if self
            .ops
            .insert(key.to_string(), Value::String(value))
            .is_none()
        {
            self.custom += 1;
        }
        if self.custom > MAX_CUSTOM_STREAMS {
            return Err(TxError::TooManyCustomStreams(self.custom));
        }
        Ok(self)
    }

    /// Sets the transfer list (operation `"1"`): every recipient is checked
    /// to be a real G1 point because the node does not check it.
    pub fn transfers(mut self, from: &str, to_amounts: &[(&str, u64)]) -> Result<Self, TxError> {
        if to_amounts.is_empty() || to_amounts.len() > MAX_TRANSFERS {
            return Err(TxError::TransferCount(to_amounts.len()));
        }
        let mut list = Vec::with_capacity(to_amounts.len());
        for (to, amount) in to_amounts {
            if keys::parse_public_key(to).is_err() || to.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(TxError::InvalidRecipient((*to).to_string()));
            }
            if *to == from {
                return Err(TxError::SelfTransfer);
            }
            if *amount == 0 || *amount > MAX_TRANSFER_AMOUNT {
                return Err(TxError::InvalidAmount(*amount));
            }
            list.push(Value::Array(vec![
                Value::from(from),
                Value::from(*to),
                Value::from(amount.to_string()),
            ]));
        }
        self.ops.insert("1".into(), Value::Array(list));
        Ok(self)
    }

    /// The finished `operations` object.
    pub fn build(self) -> Map<String, Value> {
        self.ops
    }
}

/// `#x` followed by one or more lowercase hex digits.
pub fn is_hex_literal(value: &str) -> bool {
    value.strip_prefix("#x").is_some_and(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Checks an `operations` object against the client-side rules used by
/// [`OperationsBuilder`], for operations that arrive from elsewhere (e.g.
/// the persisted queue).
pub fn check_custom_operations(ops: &Map<String, Value>) -> Result<(), TxError> {
    let mut custom = 0;
    for (key, value) in ops {
        let n: u32 = key
            .parse()
            .map_err(|_| TxError::ReservedOperationKey(key.clone()))?;
        if n.to_string() != *key || n < FIRST_FREE_OPERATION_KEY {
            return Err(TxError::ReservedOperationKey(key.clone()));
        }
        match value.as_str() {
            Some(s) if is_hex_literal(s) => {}
            _ => {
                return Err(TxError::AmbiguousCustomValue {
                    key: key.clone(),
                    value: value.to_string(),
                });
            }
        }
        custom += 1;
    }
    if custom > MAX_CUSTOM_STREAMS {
        return Err(TxError::TooManyCustomStreams(custom));
    }
    Ok(())
}
