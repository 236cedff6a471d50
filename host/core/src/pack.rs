//! Agent packs (what a contributor submits) and the `.ianpack` file format.
//!
//! A pack's *identity* is its code hash, parameters and metadata; the pack
//! hash commits to all three. The component bytes themselves travel only in
//! pack files and blob stores, never inside hashed structures, so a pack with
//! known code but new parameters costs no re-upload.

use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::goal::{HARD_MAX_COMPONENT_BYTES, HARD_MAX_PARAMS_BYTES};
use crate::hash::{Hash32, sha256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most metadata entries in a pack.
pub const MAX_METADATA_ENTRIES: usize = 32;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_BYTES: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_BYTES: usize = 1024;

/// Why a pack, its metadata or a pack file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PackError {
    /// Parameter blob above the hard cap.
    #[error("params are {len} bytes, limit is {max}")]
    ParamsTooLarge { len: usize, max: usize },
    /// More metadata entries than allowed.
    #[error("{count} metadata entries, limit is {max}")]
    TooManyMetadata { count: usize, max: usize },
    /// A metadata key is empty, too long or has characters outside
    /// `[A-Za-z0-9_.:-]`.
    #[error("metadata key {0:?} is invalid (1-64 bytes of [A-Za-z0-9_.:-])")]
    BadMetadataKey(String),
    /// A metadata value is too long.
    #[error("metadata value for {key:?} is {len} bytes, limit is {max}")]
    MetadataValueTooLong { key: String, len: usize, max: usize },
    /// A metadata value holds a character that hides or reorders what
    /// people read (a control character such as NUL, or a bidirectional
    /// override/isolate), so names on boards could impersonate others.
    #[error(
        "metadata value for {key:?} contains the character U+{code:04X}, which is not allowed (control or bidirectional override)"
    )]
    UnsafeMetadataChar { key: String, code: u32 },
    /// The same metadata key twice.
    #[error("metadata key {0:?} appears more than once")]
    DuplicateMetadataKey(String),
    /// Component above the hard cap.
    #[error("component is {len} bytes, limit is {max}")]
    ComponentTooLarge { len: u64, max: u64 },
    /// A pack file's component does not hash to its recorded code hash.
    #[error("component bytes hash to {actual}, but the pack records {recorded}")]
    CodeHashMismatch { recorded: Hash32, actual: Hash32 },
    /// The bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Sorted, unique, bounded key/value strings describing a pack (name,
/// version, author, ...). Sorted so that one set of entries has one
/// encoding and one hash.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata(BTreeMap<String, String>);

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_METADATA_KEY_BYTES
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Characters refused in text people read on boards and pages: control
/// characters (NUL and all of C0 and C1, newlines and tabs included) and the
/// Unicode
/// bidirectional marks, embeddings, overrides and isolates (U+061C,
/// U+200E-U+200F, U+202A-U+202E, U+2066-U+2069), which can make one name
/// display as another.
pub fn is_unsafe_display_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

impl Metadata {
    /// Builds metadata, refusing duplicates (never silently overwriting)
    /// and anything over the limits.
    pub fn new<K: Into<String>, V: Into<String>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, PackError> {
        let mut map = BTreeMap::new();
        for (k, v) in entries {
            let (k, v) = (k.into(), v.into());
            if !valid_key(&k) {
                return Err(PackError::BadMetadataKey(k.chars().take(80).collect()));
            }
            if v.len() > MAX_METADATA_VALUE_BYTES {
                return Err(PackError::MetadataValueTooLong {
                    key: k,
                    len: v.len(),
                    max: MAX_METADATA_VALUE_BYTES,
                });
            }
            if let Some(c) = v.chars().find(|c| is_unsafe_display_char(*c)) {
                return Err(PackError::UnsafeMetadataChar {
                    key: k,
                    code: c as u32,
                });
            }
            if map.contains_key(&k) {
                return Err(PackError::DuplicateMetadataKey(k));
            }
            map.insert(k, v);
            if map.len() > MAX_METADATA_ENTRIES {
                return Err(PackError::TooManyMetadata {
                    count: map.len(),
                    max: MAX_METADATA_ENTRIES,
                });
            }
        }
        Ok(Metadata(map))
    }

    /// No entries.
    pub fn empty() -> Self {
        Metadata(BTreeMap::new())
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Looks up one key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn encode_into(&self, e: &mut Encoder) {
        e.count(self.0.len());
        for (k, v) in &self.0 {
            e.str(k).str(v);
        }
    }

    pub(crate) fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let n = d.count("metadata", MAX_METADATA_ENTRIES, 8)?;
        let mut map = BTreeMap::new();
        let mut last: Option<String> = None;
        for _ in 0..n {
            let k = d.str("metadata.key", MAX_METADATA_KEY_BYTES)?.to_string();
            let v = d
                .str("metadata.value", MAX_METADATA_VALUE_BYTES)?
                .to_string();
            if !valid_key(&k) {
                return Err(DecodeError::invalid("metadata.key", format!("{k:?}")));
            }
            // The same rule as `Metadata::new`: bytes cannot carry what the
            // constructor refuses.
            if let Some(c) = v.chars().find(|c| is_unsafe_display_char(*c)) {
                return Err(DecodeError::invalid(
                    "metadata.value",
                    format!(
                        "value for {k:?} contains U+{:04X} (control or bidirectional override)",
                        c as u32
                    ),
                ));
            }
            // Strictly increasing keys: sorted and unique, so one metadata
            // set has exactly one encoding.
            if let Some(prev) = &last
                && prev.as_str() >= k.as_str()
            {
                return Err(DecodeError::invalid(
                    "metadata",
                    "keys must be strictly increasing",
                ));
            }
            last = Some(k.clone());
            map.insert(k, v);
        }
        Ok(Metadata(map))
    }
}

impl Serialize for Metadata {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of string keys to string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Metadata, A::Error> {
                let mut v: Vec<(String, String)> = Vec::new();
                while let Some((k, val)) = a.next_entry::<String, String>()? {
                    if v.len() > MAX_METADATA_ENTRIES {
                        break;
                    }
                    v.push((k, val));
                }
                Metadata::new(v).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

/// An agent pack: code hash, parameters, metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PackJson")]
pub struct AgentPack {
    code_hash: Hash32,
    #[serde(with = "crate::hash::hex_bytes")]
    params: Vec<u8>,
    metadata: Metadata,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackJson {
    code_hash: Hash32,
    #[serde(with = "crate::hash::hex_bytes")]
    params: Vec<u8>,
    #[serde(default)]
    metadata: Metadata,
}

impl TryFrom<PackJson> for AgentPack {
    type Error = PackError;
    fn try_from(j: PackJson) -> Result<Self, PackError> {
        AgentPack::new(j.code_hash, j.params, j.metadata)
    }
}

impl AgentPack {
    /// A pack whose parameters are within the hard cap (1 MiB); the goal's
    /// own, smaller limit is checked by the pipeline.
    pub fn new(code_hash: Hash32, params: Vec<u8>, metadata: Metadata) -> Result<Self, PackError> {
        if params.len() as u64 > HARD_MAX_PARAMS_BYTES {
            return Err(PackError::ParamsTooLarge {
                len: params.len(),
                max: HARD_MAX_PARAMS_BYTES as usize,
            });
        }
        Ok(AgentPack {
            code_hash,
            params,
            metadata,
        })
    }

    /// SHA-256 of the component bytes.
    pub fn code_hash(&self) -> Hash32 {
        self.code_hash
    }

    /// Opaque parameter bytes passed to the agent's `init`.
    pub fn params(&self) -> &[u8] {
        &self.params
    }

    /// Metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Canonical bytes: `"ian/pack/v1" ‖ code hash ‖ params ‖ metadata`.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::PACK);
        self.encode_fields(&mut e);
        e.finish()
    }

    /// The pack hash: SHA-256 of the canonical bytes. This is what dedup,
    /// signatures and the log refer to.
    pub fn pack_hash(&self) -> Hash32 {
        sha256(&self.to_canonical_bytes())
    }

    pub(crate) fn encode_fields(&self, e: &mut Encoder) {
        e.hash(&self.code_hash).bytes(&self.params);
        self.metadata.encode_into(e);
    }

    pub(crate) fn decode_fields(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let code_hash = d.hash("pack.code_hash")?;
        let params = d
            .bytes("pack.params", HARD_MAX_PARAMS_BYTES as usize)?
            .to_vec();
        let metadata = Metadata::decode_from(d)?;
        Ok(AgentPack {
            code_hash,
            params,
            metadata,
        })
    }

    /// Reads canonical pack bytes.
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(b, domain::PACK)?;
        let p = Self::decode_fields(&mut d)?;
        d.finish()?;
        Ok(p)
    }
}

/// The first eight bytes of every `.ianpack` file. The leading 0x89 byte
/// keeps it from being mistaken for text (the PNG trick).
pub const PACK_FILE_MAGIC: [u8; 8] = *b"\x89IANPACK";
/// The pack file format version this code writes and reads.
pub const PACK_FILE_VERSION: u32 = 1;

/// A `.ianpack` file: a pack together with its component bytes, as a
/// contributor uploads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFile {
    pack: AgentPack,
    component: Vec<u8>,
}

impl PackFile {
    /// Builds a pack file from the component bytes; the code hash is
    /// computed here so it cannot disagree with the bytes.
    pub fn new(component: Vec<u8>, params: Vec<u8>, metadata: Metadata) -> Result<Self, PackError> {
        if component.len() as u64 > HARD_MAX_COMPONENT_BYTES {
            return Err(PackError::ComponentTooLarge {
                len: component.len() as u64,
                max: HARD_MAX_COMPONENT_BYTES,
            });
        }
        let pack = AgentPack::new(sha256(&component), params, metadata)?;
        Ok(PackFile { pack, component })
    }

    /// The pack (identity) part.
    pub fn pack(&self) -> &AgentPack {
        &self.pack
    }

    /// The component bytes.
    pub fn component(&self) -> &[u8] {
        &self.component
    }

    /// Splits into pack and component bytes.
    pub fn into_parts(self) -> (AgentPack, Vec<u8>) {
        (self.pack, self.component)
    }

    /// `magic ‖ u32 version ‖ code hash ‖ params ‖ metadata ‖ component`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::bare();
        e.fixed(&PACK_FILE_MAGIC).u32(PACK_FILE_VERSION);
        self.pack.encode_fields(&mut e);
        e.bytes(&self.component);
        e.finish()
    }

    /// Parses a pack file, checking magic, version, every limit and that the
    /// component hashes to the recorded code hash.
    pub fn from_bytes(b: &[u8]) -> Result<Self, PackError> {
        let mut d = Decoder::bare(b);
        let magic: [u8; 8] = d
            .array("magic")
            .map_err(|_| DecodeError::BadMagic { what: ".ianpack" })?;
        if magic != PACK_FILE_MAGIC {
            return Err(DecodeError::BadMagic { what: ".ianpack" }.into());
        }
        let version = d.u32("version")?;
        if version != PACK_FILE_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: ".ianpack",
                version,
            }
            .into());
        }
        let pack = AgentPack::decode_fields(&mut d)?;
        let component = d
            .bytes("component", HARD_MAX_COMPONENT_BYTES as usize)?
            .to_vec();
        d.finish()?;
        let actual = sha256(&component);
        if actual != pack.code_hash {
            return Err(PackError::CodeHashMismatch {
                recorded: pack.code_hash,
                actual,
            });
        }
        Ok(PackFile { pack, component })
    }
}
