//! IAN's three transaction kinds as Tau custom-stream operations.
//!
//! Every value is `#x` + lowercase hex under a numeric key >= 17, so the node
//! never reads it as a decimal number and no node mode reserves the key.
//! Layout (each row one operation key):
//!
//! | key  | goal registration      | log commit               | policy upgrade          |
//! |------|------------------------|--------------------------|-------------------------|
//! | `17` | kind `#x01`            | kind `#x02`              | kind `#x03`             |
//! | `18` | SHA-256(goal id), 32 B | SHA-256(goal id), 32 B   | SHA-256(goal id), 32 B  |
//! | `19` | goal hash, 32 B        | log size, u64 BE (8 B)   | policy hash, 32 B       |
//! | `20` | goal id UTF-8 bytes    | log root, 32 B           | log entry index, u64 BE |
//! | `21` | -                      | checkpoint signature 64 B| -                       |
//!
//! The layout is versioned by the kind byte; a decoder refuses anything else.

use crate::tx::{OperationsBuilder, TxError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Operation key of the kind byte.
pub const KEY_KIND: u32 = 17;
/// Kind byte of a goal registration.
pub const KIND_GOAL_REGISTRATION: u8 = 1;
/// Kind byte of a log commit.
pub const KIND_LOG_COMMIT: u8 = 2;
/// Kind byte of a policy upgrade.
pub const KIND_POLICY_UPGRADE: u8 = 3;
/// Length of a checkpoint signature (Ed25519).
pub const CHECKPOINT_SIGNATURE_LEN: usize = 64;
/// Longest goal id (see the goal file format).
pub const MAX_GOAL_ID_LEN: usize = 64;

/// Why a payload cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Goal ids are `[a-z0-9][a-z0-9-]{0,63}`.
    #[error("invalid goal id {0:?} (expected [a-z0-9][a-z0-9-]{{0,63}})")]
    InvalidGoalId(String),
    /// Checkpoint signatures are 64 bytes.
    #[error("checkpoint signature must be {CHECKPOINT_SIGNATURE_LEN} bytes, got {0}")]
    SignatureLength(usize),
    /// An operation the decoder needs is missing or not `#x` hex.
    #[error("operation {key}: {reason}")]
    Field {
        /// Operation key.
        key: u32,
        /// What is wrong.
        reason: String,
    },
    /// Unknown kind byte.
    #[error("unknown IAN tx kind {0}")]
    UnknownKind(u8),
    /// The goal id hash does not match the goal id carried alongside.
    #[error("goal id hash does not match the goal id")]
    GoalIdHashMismatch,
    /// Building the operations failed.
    #[error(transparent)]
    Tx(#[from] TxError),
}

/// One IAN transaction's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IanTx {
    /// A goal was published on this node.
    GoalRegistration {
        /// Goal id.
        goal_id: String,
        /// Content hash of the goal spec.
        #[serde(with = "hex32")]
        goal_hash: [u8; 32],
    },
    /// A signed checkpoint of the goal's log.
    LogCommit {
        /// Goal id (only its hash goes on chain).
        goal_id: String,
        /// Number of log entries covered.
        size: u64,
        /// Log root at `size`.
        #[serde(with = "hex32")]
        root: [u8; 32],
        /// The node's signature over the checkpoint.
        #[serde(with = "hex_vec")]
        signature: Vec<u8>,
    },
    /// The leaderboard's top entry changed: new active policy.
    PolicyUpgrade {
        /// Goal id (only its hash goes on chain).
        goal_id: String,
        /// Pack hash of the new active policy.
        #[serde(with = "hex32")]
        policy_hash: [u8; 32],
        /// Index of the log entry that introduced it.
        entry_index: u64,
    },
}

/// Validates a goal id.
pub fn check_goal_id(goal_id: &str) -> Result<(), PayloadError> {
    let b = goal_id.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_GOAL_ID_LEN
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(PayloadError::InvalidGoalId(goal_id.to_string()))
    }
}

/// `SHA-256(goal id)`: how a goal is named on chain.
pub fn goal_id_hash(goal_id: &str) -> [u8; 32] {
    Sha256::digest(goal_id.as_bytes()).into()
}

impl IanTx {
    /// The goal this transaction is about.
    pub fn goal_id(&self) -> &str {
        match self {
            IanTx::GoalRegistration { goal_id, .. }
            | IanTx::LogCommit { goal_id, .. }
            | IanTx::PolicyUpgrade { goal_id, .. } => goal_id,
        }
    }

    /// Short name for logs and metrics labels.
    pub fn kind_name(&self) -> &'static str {
        match self {
            IanTx::GoalRegistration { .. } => "goal_registration",
            IanTx::LogCommit { .. } => "log_commit",
            IanTx::PolicyUpgrade { .. } => "policy_upgrade",
        }
    }

    /// Encodes as an `operations` object.
    pub fn to_operations(&self) -> Result<Map<String, Value>, PayloadError> {
        check_goal_id(self.goal_id())?;
        let gid = goal_id_hash(self.goal_id());
        let b = OperationsBuilder::new();
        let b = match self {
            IanTx::GoalRegistration { goal_id, goal_hash } => b
                .custom_bytes(KEY_KIND, &[KIND_GOAL_REGISTRATION])?
                .custom_bytes(18, &gid)?
                .custom_bytes(19, goal_hash)?
                .custom_bytes(20, goal_id.as_bytes())?,
            IanTx::LogCommit {
                size,
                root,
                signature,
                ..
            } => {
                if signature.len() != CHECKPOINT_SIGNATURE_LEN {
                    return Err(PayloadError::SignatureLength(signature.len()));
                }
                b.custom_bytes(KEY_KIND, &[KIND_LOG_COMMIT])?
                    .custom_bytes(18, &gid)?
                    .custom_bytes(19, &size.to_be_bytes())?
                    .custom_bytes(20, root)?
                    .custom_bytes(21, signature)?
            }
            IanTx::PolicyUpgrade {
                policy_hash,
                entry_index,
                ..
            } => b
                .custom_bytes(KEY_KIND, &[KIND_POLICY_UPGRADE])?
                .custom_bytes(18, &gid)?
                .custom_bytes(19, policy_hash)?
                .custom_bytes(20, &entry_index.to_be_bytes())?,
        };
        Ok(b.build())
    }

    /// Decodes an `operations` object. For commits and upgrades only the
    /// goal id hash is on chain, so the caller supplies the goal id to check
    /// against it (`known_goal_id`); registrations carry the id itself.
    pub fn from_operations(
        ops: &Map<String, Value>,
        known_goal_id: Option<&str>,
    ) -> Result<Self, PayloadError> {
        let kind = field(ops, KEY_KIND, Some(1))?[0];
        let gid: [u8; 32] = field(ops, 18, Some(32))?
            .try_into()
            .expect("length checked");
        let goal_for_hash = |goal_id: String| {
            check_goal_id(&goal_id)?;
            if goal_id_hash(&goal_id) == gid {
                Ok(goal_id)
            } else {
                Err(PayloadError::GoalIdHashMismatch)
            }
        };
        let known = || -> Result<String, PayloadError> {
            let id = known_goal_id.ok_or(PayloadError::Field {
                key: 18,
                reason: "goal id needed to check the goal id hash".into(),
            })?;
            goal_for_hash(id.to_string())
        };
        match kind {
            KIND_GOAL_REGISTRATION => {
                let id_bytes = field(ops, 20, None)?;
                let goal_id = String::from_utf8(id_bytes).map_err(|_| PayloadError::Field {
                    key: 20,
                    reason: "goal id is not UTF-8".into(),
                })?;
                Ok(IanTx::GoalRegistration {
                    goal_id: goal_for_hash(goal_id)?,
                    goal_hash: field(ops, 19, Some(32))?
                        .try_into()
                        .expect("length checked"),
                })
            }
            KIND_LOG_COMMIT => Ok(IanTx::LogCommit {
                goal_id: known()?,
                size: u64::from_be_bytes(field(ops, 19, Some(8))?.try_into().expect("checked")),
                root: field(ops, 20, Some(32))?
                    .try_into()
                    .expect("length checked"),
                signature: field(ops, 21, Some(CHECKPOINT_SIGNATURE_LEN))?,
            }),
            KIND_POLICY_UPGRADE => Ok(IanTx::PolicyUpgrade {
                goal_id: known()?,
                policy_hash: field(ops, 19, Some(32))?
                    .try_into()
                    .expect("length checked"),
                entry_index: u64::from_be_bytes(
                    field(ops, 20, Some(8))?.try_into().expect("checked"),
                ),
            }),
            other => Err(PayloadError::UnknownKind(other)),
        }
    }
}

fn field(ops: &Map<String, Value>, key: u32, len: Option<usize>) -> Result<Vec<u8>, PayloadError> {
    let err = |reason: String| PayloadError::Field { key, reason };
    let v = ops
        .get(&key.to_string())
        .ok_or_else(|| err("missing".into()))?;
    let s = v.as_str().ok_or_else(|| err("not a string".into()))?;
    let h = s
        .strip_prefix("#x")
        .ok_or_else(|| err("missing #x prefix".into()))?;
    let bytes = hex::decode(h).map_err(|e| err(format!("bad hex: {e}")))?;
    if let Some(n) = len
        && bytes.len() != n
    {
        return Err(err(format!("expected {n} bytes, got {}", bytes.len())));
    }
    Ok(bytes)
}

/// Serde helper: `[u8; 32]` as hex.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as lowercase hex.
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// Parses 64 hex characters.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

/// Serde helper: bytes as hex.
pub mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as lowercase hex.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// Parses hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s).map_err(serde::de::Error::custom)
    }
}
