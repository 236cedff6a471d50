//! SHA-256 digests as a small copyable value type.
//!
//! Every content address in IAN (code, packs, goals, log leaves, roots) is a
//! SHA-256 digest; a dedicated type keeps them from being confused with
//! arbitrary byte strings and gives them one text form (lower-case hex).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

/// Feeds only the first 8 bytes to the hasher: a digest's bytes are already
/// uniform, and the maps using it (dedup index) keep std's randomly keyed
/// SipHash, so nobody can aim keys at one bucket. Equal values still hash
/// equally; the full 32 bytes are compared on lookup.
impl std::hash::Hash for Hash32 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let b = &self.0;
        state.write_u64(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]));
    }
}

impl Hash32 {
    /// The all-zero digest; used only as a neutral value, never as a real hash.
    pub const ZERO: Hash32 = Hash32([0u8; 32]);

    /// Lower-case hex, the one text form used in JSON, logs and the CLI.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 hex digits; anything else is refused so that two
    /// spellings of one hash cannot exist.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        decode_hex_array::<32>(s).map(Hash32)
    }

    /// Borrow the raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash32::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string had the wrong number of hex digits.
    #[error("expected {expected} hex digits, got {got}")]
    Length { expected: usize, got: usize },
    /// A character was not a lower- or upper-case hex digit.
    #[error("invalid hex digit")]
    Digit,
}

/// Decodes exactly `2*N` hex digits into an array.
pub(crate) fn decode_hex_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    if s.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: s.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| HexError::Digit)?;
    Ok(out)
}

/// SHA-256 of a byte string.
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(bytes).into())
}

/// Serde helper for variable-length byte strings as hex.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s).map_err(serde::de::Error::custom)
    }
}
