//! The one canonical binary encoding used for everything that is hashed or
//! signed.
//!
//! Why a hand-written encoder instead of a serde format: the bytes *are* the
//! protocol. Two implementations must produce identical bytes for identical
//! values, forever, so every layout is written down in `docs/ENCODING.md` and
//! checked against fixed vectors. The rules are few and uniform:
//!
//! * every structure starts with its domain tag, framed like a string, so
//!   bytes of one kind can never be mistaken for (or signed as) another kind;
//! * integers are fixed width, big-endian;
//! * `f64` is its IEEE-754 bit pattern, big-endian, and only finite values
//!   exist in encoded structures ([`Finite`]);
//! * variable-length fields (bytes, strings, lists) carry a `u32` big-endian
//!   length or count first, so no two field sequences concatenate to the same
//!   bytes;
//! * digests and keys are raw fixed-width bytes.
//!
//! The [`Decoder`] never panics on arbitrary input; every failure is a
//! [`DecodeError`] that names the field.

use crate::hash::{Hash32, sha256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A finite `f64` (never NaN, never ±infinity).
///
/// Metrics, scores, weights and thresholds are all `Finite`: a non-finite
/// value would make comparisons meaningless and would have no canonical
/// encoding, so it is refused where it enters (construction, JSON, TOML,
/// decoding) instead of being checked everywhere it is used.
#[derive(Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Finite(f64);

/// A value that was NaN or infinite where a finite number is required.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("number must be finite, got {0}")]
pub struct NotFinite(pub f64);

impl Finite {
    /// Zero, the neutral weight.
    pub const ZERO: Finite = Finite(0.0);
    /// One, the default reward weight.
    pub const ONE: Finite = Finite(1.0);

    /// Accepts only finite numbers.
    pub fn new(v: f64) -> Result<Self, NotFinite> {
        if v.is_finite() {
            Ok(Finite(v))
        } else {
            Err(NotFinite(v))
        }
    }

    /// The plain number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Finite {
    type Error = NotFinite;
    fn try_from(v: f64) -> Result<Self, NotFinite> {
        Finite::new(v)
    }
}

impl From<Finite> for f64 {
    fn from(v: Finite) -> f64 {
        v.0
    }
}

impl fmt::Debug for Finite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Finite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Finite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Finite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Finite::new(v).map_err(serde::de::Error::custom)
    }
}

/// Hard cap on any single length-framed field a decoder will accept, whatever
/// the caller's own limit: 64 MiB. Keeps a hostile length prefix from
/// turning into a huge allocation.
pub const MAX_FIELD_BYTES: usize = 64 * 1024 * 1024;

/// Builds the canonical bytes of one structure.
#[derive(Debug, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// Starts a structure with its domain tag (e.g. `"ian/pack/v1"`).
    pub fn new(domain: &str) -> Self {
        Self::with_buffer(Vec::with_capacity(128), domain)
    }

    /// Like [`Encoder::new`] but reuses an allocation; hot paths keep one
    /// scratch buffer instead of allocating per entry.
    pub fn with_buffer(mut buf: Vec<u8>, domain: &str) -> Self {
        buf.clear();
        let mut e = Encoder { buf };
        e.str(domain);
        e
    }

    /// Starts without a domain tag; only for nested parts whose enclosing
    /// structure already carries one.
    pub(crate) fn bare() -> Self {
        Encoder {
            buf: Vec::with_capacity(64),
        }
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// `0x00` or `0x01`.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }

    /// Four bytes, big-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Eight bytes, big-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// IEEE-754 bits, big-endian. Only finite values can reach here.
    pub fn f64(&mut self, v: Finite) -> &mut Self {
        self.u64(v.0.to_bits())
    }

    /// Raw fixed-width bytes (digests, keys, signatures): no length prefix
    /// because the width is part of the layout.
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// A 32-byte digest.
    pub fn hash(&mut self, v: &Hash32) -> &mut Self {
        self.fixed(&v.0)
    }

    /// `u32` length then the bytes.
    ///
    /// Every value that reaches an encoder has passed its type's size limits
    /// (all far below 4 GiB), so the length always fits; debug builds assert it.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        debug_assert!(v.len() <= u32::MAX as usize);
        self.u32(v.len() as u32);
        self.fixed(v)
    }

    /// UTF-8 bytes framed like [`Encoder::bytes`].
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// `u32` element count; the elements follow, encoded by the caller.
    pub fn count(&mut self, n: usize) -> &mut Self {
        debug_assert!(n <= u32::MAX as usize);
        self.u32(n as u32)
    }

    /// `0x00` for absent, `0x01` then the value for present.
    pub fn option<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
                self
            }
        }
    }

    /// The bytes so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The finished encoding.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// SHA-256 of the finished encoding.
    pub fn digest(&self) -> Hash32 {
        sha256(&self.buf)
    }
}

/// Why bytes could not be decoded. Each variant names the field so that a
/// corrupt file or hostile request gets a precise message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside `field`.
    #[error("input ended while reading {field} (needed {needed} more bytes at offset {offset})")]
    UnexpectedEnd {
        field: &'static str,
        offset: usize,
        needed: usize,
    },
    /// The structure's domain tag was not the expected one.
    #[error("wrong domain tag: expected {expected:?}, found {found:?}")]
    WrongDomain {
        expected: &'static str,
        found: String,
    },
    /// A length prefix exceeded the limit for `field`.
    #[error("{field} is {len} bytes/items long, limit is {max}")]
    TooLong {
        field: &'static str,
        len: u64,
        max: u64,
    },
    /// A float field held NaN or ±infinity.
    #[error("{field} is not a finite number")]
    NonFinite { field: &'static str },
    /// A string field was not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    /// A tag byte (bool, option, enum) had an undefined value.
    #[error("{field} has undefined tag {value}")]
    InvalidTag { field: &'static str, value: u8 },
    /// Bytes were left over after the structure ended.
    #[error("{0} trailing bytes after the end of the structure")]
    TrailingBytes(usize),
    /// The bytes were well-formed but the value is not allowed
    /// (e.g. an invalid goal id, unsorted metadata).
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A file did not start with the expected magic bytes.
    #[error("not an {what} file (bad magic bytes)")]
    BadMagic { what: &'static str },
    /// A file declared a format version this code does not read.
    #[error("unsupported {what} format version {version}")]
    UnsupportedVersion { what: &'static str, version: u32 },
}

impl DecodeError {
    /// Shorthand for a semantic validation failure.
    pub fn invalid(field: &'static str, reason: impl fmt::Display) -> Self {
        DecodeError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

/// Reads canonical bytes back, checking every length against a limit.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Starts decoding a structure that must begin with `domain`.
    pub fn new(buf: &'a [u8], domain: &'static str) -> Result<Self, DecodeError> {
        let mut d = Decoder { buf, pos: 0 };
        d.expect_domain(domain)?;
        Ok(d)
    }

    /// Starts decoding with no domain tag (files with magic bytes, nested parts).
    pub fn bare(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Reads a domain tag and checks it.
    pub fn expect_domain(&mut self, domain: &'static str) -> Result<(), DecodeError> {
        let found = self.bytes("domain tag", 256)?;
        if found != domain.as_bytes() {
            return Err(DecodeError::WrongDomain {
                expected: domain,
                found: String::from_utf8_lossy(found).into_owned(),
            });
        }
        Ok(())
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Current offset into the input.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Takes exactly `n` raw bytes.
    pub fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd {
                field,
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Fixed-width array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    /// `0x00`/`0x01` only.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidTag { field, value }),
        }
    }

    /// Big-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Big-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A finite `f64`; NaN and ±infinity are refused.
    pub fn f64(&mut self, field: &'static str) -> Result<Finite, DecodeError> {
        let v = f64::from_bits(self.u64(field)?);
        Finite::new(v).map_err(|_| DecodeError::NonFinite { field })
    }

    /// A 32-byte digest.
    pub fn hash(&mut self, field: &'static str) -> Result<Hash32, DecodeError> {
        Ok(Hash32(self.array(field)?))
    }

    /// Length-framed bytes of at most `max` bytes.
    pub fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)? as usize;
        let max = max.min(MAX_FIELD_BYTES);
        if len > max {
            return Err(DecodeError::TooLong {
                field,
                len: len as u64,
                max: max as u64,
            });
        }
        self.take(field, len)
    }

    /// Length-framed UTF-8 of at most `max` bytes.
    pub fn str(&mut self, field: &'static str, max: usize) -> Result<&'a str, DecodeError> {
        let b = self.bytes(field, max)?;
        std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    /// An element count of at most `max`. The count is also checked against
    /// the bytes left (each element takes at least `min_item_bytes`), so a
    /// hostile count cannot make the caller pre-allocate.
    pub fn count(
        &mut self,
        field: &'static str,
        max: usize,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.u32(field)? as usize;
        if n > max {
            return Err(DecodeError::TooLong {
                field,
                len: n as u64,
                max: max as u64,
            });
        }
        if n.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(DecodeError::UnexpectedEnd {
                field,
                offset: self.pos,
                needed: n * min_item_bytes.max(1) - self.remaining(),
            });
        }
        Ok(n)
    }

    /// An option tag: `false` for absent, `true` for present.
    pub fn option_tag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidTag { field, value }),
        }
    }

    /// Ends decoding; leftover bytes are an error so that one value has one
    /// encoding.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Domain tags, one per hashed or signed structure. Changing a layout means a
/// new tag (`/v2`), never a silent change.
pub mod domain {
    /// Agent pack identity -> pack hash.
    pub const PACK: &str = "ian/pack/v1";
    /// Resolved goal manifest -> goal hash.
    pub const GOAL: &str = "ian/goal/v1";
    /// A goal manifest with competition rules (v1's fields, then the
    /// competition's); a goal without them keeps v1 and its hash.
    pub const GOAL_V2: &str = "ian/goal/v2";
    /// A goal manifest whose agents get deterministic WASI (v1's fields,
    /// an optional competition, the agent runtime); a goal with pure agents
    /// keeps v1 or v2 and its hash.
    pub const GOAL_V3: &str = "ian/goal/v3";
    /// A hidden-seed secret -> the commitment a manifest carries.
    pub const HIDDEN_SEEDS_COMMITMENT: &str = "ian/hidden-seeds-commitment/v1";
    /// A hidden-seed secret and an index -> one hidden seed.
    pub const HIDDEN_SEED: &str = "ian/hidden-seed/v1";
    /// The message a contributor signs.
    pub const CONTRIBUTION_MESSAGE: &str = "ian/contribution/v1";
    /// A whole contribution (message fields + key + signature), for transport.
    pub const CONTRIBUTION: &str = "ian/contribution-envelope/v1";
    /// A proof bundle -> proofs hash.
    pub const PROOF_BUNDLE: &str = "ian/proof-bundle/v1";
    /// The message an attester signs over a pack.
    pub const ATTESTATION: &str = "ian/attestation/v1";
    /// One log entry (the MMR leaf content).
    pub const LOG_ENTRY: &str = "ian/log-entry/v1";
    /// An evaluated, rejected submission (a log leaf).
    pub const ATTEMPT_ENTRY: &str = "ian/attempt-entry/v1";
    /// The message a contributor signs to select entries for the final.
    pub const SELECTION_MESSAGE: &str = "ian/selection/v1";
    /// A contributor's final selection (a log leaf).
    pub const SELECTION_ENTRY: &str = "ian/selection-entry/v1";
    /// The published hidden-seed secret (a log leaf).
    pub const REVEAL_ENTRY: &str = "ian/reveal-entry/v1";
    /// One selected entry's result on the hidden seeds (a log leaf).
    pub const FINAL_ENTRY: &str = "ian/final-entry/v1";
    /// Inclusion proof.
    pub const INCLUSION_PROOF: &str = "ian/inclusion-proof/v2";
    /// Consistency proof.
    pub const CONSISTENCY_PROOF: &str = "ian/consistency-proof/v2";
    /// Dataset listing -> dataset hash.
    pub const DATASET: &str = "ian/dataset/v1";
    /// A goal's whole in-memory state, for restarting without a replay.
    pub const GOAL_STATE: &str = "ian/goal-state/v3";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_refuses_nan_and_infinities() {
        assert!(Finite::new(f64::NAN).is_err());
        assert!(Finite::new(f64::INFINITY).is_err());
        assert!(Finite::new(f64::NEG_INFINITY).is_err());
        assert_eq!(
            Finite::new(-0.0).unwrap().get().to_bits(),
            (-0.0f64).to_bits()
        );
    }

    #[test]
    fn decoder_refuses_nan_bits() {
        let mut e = Encoder::bare();
        e.u64(f64::NAN.to_bits());
        let bytes = e.finish();
        let mut d = Decoder::bare(&bytes);
        assert_eq!(d.f64("x"), Err(DecodeError::NonFinite { field: "x" }));
    }

    #[test]
    fn decoder_refuses_length_above_limit_without_reading_it() {
        let mut e = Encoder::bare();
        e.u32(1000);
        let bytes = e.finish();
        let mut d = Decoder::bare(&bytes);
        assert_eq!(
            d.bytes("params", 10),
            Err(DecodeError::TooLong {
                field: "params",
                len: 1000,
                max: 10
            })
        );
    }

    #[test]
    fn decoder_refuses_wrong_domain() {
        let bytes = Encoder::new("ian/a/v1").finish();
        assert!(matches!(
            Decoder::new(&bytes, "ian/b/v1"),
            Err(DecodeError::WrongDomain { .. })
        ));
    }

    #[test]
    fn domain_tag_is_length_framed() {
        let bytes = Encoder::new("ian/pack/v1").finish();
        assert_eq!(hex::encode(&bytes), "0000000b69616e2f7061636b2f7631");
    }
}
