//! Ed25519 keys and signatures as plain bytes with one hex text form.
//!
//! Keys are stored as bytes (not `VerifyingKey`) so that structures stay
//! cheap to copy, compare and hash; they are parsed into curve points only
//! when verified, and a key that is not a valid point is refused where it
//! enters (JSON, TOML, decoding).

use crate::hash::decode_hex_array;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An Ed25519 public key (32 bytes). A contributor's id is its hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublicKeyBytes(pub [u8; 32]);

/// Feeds 8 bytes to the (randomly keyed) hasher; see [`crate::Hash32`]'s
/// `Hash` impl for why that is enough.
impl std::hash::Hash for PublicKeyBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let b = &self.0;
        state.write_u64(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]));
    }
}

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 64 (key) / 128 (signature) hex digits.
    #[error("{what}: {reason}")]
    Hex { what: &'static str, reason: String },
    /// 32 bytes that are not a valid Ed25519 point.
    #[error("not a valid Ed25519 public key")]
    NotAPoint,
}

impl PublicKeyBytes {
    /// Checks that the bytes are a valid Ed25519 point.
    pub fn new(b: [u8; 32]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(&b).map_err(|_| KeyError::NotAPoint)?;
        Ok(PublicKeyBytes(b))
    }

    /// Parses 64 hex digits that form a valid Ed25519 point.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let b = decode_hex_array::<32>(s).map_err(|e| KeyError::Hex {
            what: "public key",
            reason: e.to_string(),
        })?;
        Self::new(b)
    }

    /// The public key of a signing key.
    pub fn of(key: &SigningKey) -> Self {
        PublicKeyBytes(key.verifying_key().to_bytes())
    }

    /// Lower-case hex; this is the contributor id.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The curve point, for verification.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::NotAPoint)
    }

    /// Strict Ed25519 verification (`verify_strict`: rejects small-order
    /// keys and non-canonical encodings, so one message has one valid
    /// signature per key).
    pub fn verify_strict(&self, msg: &[u8], sig: &SignatureBytes) -> bool {
        match self.verifying_key() {
            Ok(vk) => vk
                .verify_strict(msg, &Signature::from_bytes(&sig.0))
                .is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for PublicKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for PublicKeyBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PublicKeyBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PublicKeyBytes::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureBytes(pub [u8; 64]);

impl SignatureBytes {
    /// Signs `msg` (Ed25519 signing is deterministic: no randomness needed).
    pub fn sign(key: &SigningKey, msg: &[u8]) -> Self {
        SignatureBytes(key.sign(msg).to_bytes())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 128 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        decode_hex_array::<64>(s)
            .map(SignatureBytes)
            .map_err(|e| KeyError::Hex {
                what: "signature",
                reason: e.to_string(),
            })
    }
}

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SignatureBytes::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
