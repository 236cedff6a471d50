//! Tau block headers and transaction merkle roots, so a confirmation can be
//! checked against the block that claims to contain a transaction instead of
//! trusting the node's word.
//!
//! Header bytes = `block_number` u64 BE | `previous_hash` (32) | `timestamp`
//! u64 BE | `merkle_root` (32) | `proposer_pubkey` (48, omitted only when the
//! string is empty) | `state_hash` (32); `block_hash = SHA-256(header bytes)`;
//! the proposer signs the same digest. Merkle leaves are the tx ids; pairs
//! are hashed as SHA-256 of the 64-byte concatenation, an odd level
//! duplicates its last node, one leaf is its own root, no leaves hash to
//! SHA-256 of the empty string.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A header field that is not the hex it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block field {field}: {reason}")]
pub struct BlockError {
    /// Field concerned.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// A block header as `getblocks` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height, genesis = 0.
    pub block_number: u64,
    /// Hash of the parent block (64 hex).
    pub previous_hash: String,
    /// Unix seconds.
    pub timestamp: u64,
    /// Merkle root of the tx ids (64 hex).
    pub merkle_root: String,
    /// Proposer's BLS public key (96 hex, may be empty).
    pub proposer_pubkey: String,
    /// State commitment (64 hex).
    pub state_hash: String,
    /// Not hashed.
    #[serde(default)]
    pub state_locator: String,
}

fn fixed_hex(field: &'static str, s: &str, len: usize) -> Result<Vec<u8>, BlockError> {
    let v = hex::decode(s).map_err(|e| BlockError {
        field,
        reason: e.to_string(),
    })?;
    if v.len() != len {
        return Err(BlockError {
            field,
            reason: format!("expected {len} bytes, got {}", v.len()),
        });
    }
    Ok(v)
}

impl BlockHeader {
    /// The hashed header bytes (160 bytes with a proposer, 112 without).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, BlockError> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(&self.block_number.to_be_bytes());
        out.extend(fixed_hex("previous_hash", &self.previous_hash, 32)?);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend(fixed_hex("merkle_root", &self.merkle_root, 32)?);
        if !self.proposer_pubkey.is_empty() {
            out.extend(fixed_hex("proposer_pubkey", &self.proposer_pubkey, 48)?);
        }
        out.extend(fixed_hex("state_hash", &self.state_hash, 32)?);
        Ok(out)
    }

    /// `SHA-256(header bytes)`.
    pub fn block_hash(&self) -> Result<[u8; 32], BlockError> {
        Ok(Sha256::digest(self.canonical_bytes()?).into())
    }
}

/// Merkle root over tx ids given as 64-hex strings.
pub fn merkle_root(tx_ids: &[String]) -> Result<[u8; 32], BlockError> {
    if tx_ids.is_empty() {
        return Ok(Sha256::digest([]).into());
    }
    let mut level: Vec<[u8; 32]> = tx_ids
        .iter()
        .map(|id| fixed_hex("tx_id", id, 32).map(|v| v.try_into().expect("32 bytes")))
        .collect::<Result<_, _>>()?;
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(*level.last().expect("non-empty"));
        }
        level = level
            .chunks(2)
            .map(|pair| {
                let mut h = Sha256::new();
                h.update(pair[0]);
                h.update(pair[1]);
                h.finalize().into()
            })
            .collect();
    }
    Ok(level[0])
}
