//! IAN's Tau Net integration.
//!
//! * [`rules`]: the semantics of the Tau rules in `rules/` (goal
//!   registration, log commit, policy upgrade), used by the node as a
//!   pre-check before anything is sent; the same fixture files drive both.
//! * [`canonical`], [`keys`], [`tx`], [`payload`]: the tau-testnet
//!   transaction format reproduced byte-for-byte (canonical JSON, BLS12-381
//!   min_pk signatures over SHA-256 of the signing payload, tx hashes) and
//!   IAN's three transaction kinds as custom-stream operations.
//! * [`protocol`], [`client`]: the node's TCP line protocol, typed responses
//!   and a typed error for every rejection code, sequence tracking, retry
//!   with exponential backoff and jitter on transport errors.
//! * [`bridge`]: the node-facing [`bridge::TauBridge`] that turns IAN events
//!   into transactions, pre-checks them against the rules, persists them and
//!   sends them from a background task without ever blocking the caller.
//! * [`fake`]: a replaying fake of the Tau node for tests, serving recorded
//!   transcripts over real TCP and refusing any request that differs.

#![warn(missing_docs)]

pub mod block;
pub mod bridge;
pub mod canonical;
pub mod client;
pub mod fake;
pub mod keys;
pub mod payload;
pub mod protocol;
pub mod rules;
pub mod tx;

pub use keys::{KeyError, KeyInfo, TauKey};

/// Generates a new BLS key and writes it to `path` (mode 0600; never
/// overwrites an existing file). Backs `ian-host tau keygen`.
pub fn keygen(path: &std::path::Path) -> Result<KeyInfo, KeyError> {
    let key = TauKey::generate()?;
    key.write_new_key_file(path)?;
    Ok(KeyInfo {
        path: path.to_path_buf(),
        public_key: key.public_hex().to_string(),
    })
}
