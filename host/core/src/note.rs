//! Signed notes (c2sp.org/signed-note), verifier keys, and timestamped
//! cosignatures (c2sp.org/tlog-cosignature `cosignature/v1`).
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one or more
//! signature lines `— <key name> base64(key id ‖ signature)`. IAN signs its
//! checkpoints as notes so that Go's `golang.org/x/mod/sumdb/note`, and
//! every other signed-note tool, verifies them unmodified; witnesses add
//! their cosignature lines to the same note.
//!
//! Key ids follow the spec: `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`,
//! type 0x01 for Ed25519 note signatures, 0x04 for cosignature/v1.

use crate::hash::Hash32;
use crate::keys::{PublicKeyBytes, SignatureBytes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

/// Signature type byte of Ed25519 note signatures (signed-note).
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures (tlog-cosignature).
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;

/// Largest note accepted by [`Note::parse`]: signed-note requires at least
/// 16 signatures to be accepted, and post-quantum ones are up to ~5 kB each.
pub const MAX_NOTE_BYTES: usize = 128 * 1024;
/// Most signature lines accepted in one note (the spec's minimum is 16).
pub const MAX_NOTE_SIGNATURES: usize = 64;

/// Why a note, a signature line or a verifier key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Over [`MAX_NOTE_BYTES`].
    #[error("note is {0} bytes, over the {MAX_NOTE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not UTF-8, or holds a control character other than newline.
    #[error("note is not UTF-8 text without control characters")]
    NotText,
    /// No blank line separating text from signatures, or text not ending in
    /// a newline.
    #[error("note has no blank line between its text and its signatures")]
    NoSeparator,
    /// A signature line that is not `— <name> <base64>`.
    #[error("malformed signature line {0:?}")]
    BadSignatureLine(String),
    /// No signature lines at all, or more than [`MAX_NOTE_SIGNATURES`].
    #[error("note has {0} signature lines; 1 to {MAX_NOTE_SIGNATURES} are accepted")]
    SignatureCount(usize),
    /// A key name that is empty or holds a space or `+`.
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    BadKeyName(String),
    /// A verifier key string that is not `name+hexid+base64(type ‖ key)`.
    #[error("invalid verifier key {vkey:?}: {reason}")]
    BadVerifierKey { vkey: String, reason: String },
    /// A signature line whose name and id match a known key but whose
    /// signature does not verify (the note is then malformed).
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    /// No signature from any of the given keys.
    #[error("the note carries no signature by {0}")]
    Unsigned(String),
}

/// Whether `name` may be a key name: non-empty, no Unicode spaces, no `+`,
/// and no control character (a note may not carry one).
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// `SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4]` as a big-endian u32.
pub fn key_id(name: &str, sig_type: u8, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// One `— <name> base64(id ‖ sig)` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line, with its trailing newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, B64.encode(raw))
    }

    /// Parses one line (without its newline).
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let bad = || NoteError::BadSignatureLine(line.chars().take(120).collect());
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(bad)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
        if !valid_key_name(name) || b64.contains(' ') {
            return Err(bad());
        }
        let raw = B64.decode(b64).map_err(|_| bad())?;
        if raw.len() < 5 {
            return Err(bad());
        }
        Ok(NoteSignature {
            name: name.to_string(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        })
    }
}

/// A parsed signed note: the text (ending in a newline) and its
/// signature lines, in order. Nothing is verified by parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    /// Signature lines, verified or not.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Splits a note at its last blank line and parses every signature
    /// line. Refuses control characters, non-UTF-8, oversized notes and
    /// malformed lines, so a parsed note always re-encodes to its input.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotText)?;
        // signed-note forbids ASCII controls other than newline (not DEL or
        // C1 controls, which Go's note package accepts too).
        if s.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::NotText);
        }
        let split = s.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::SignatureCount(0));
        };
        let lines: Vec<&str> = sigs.split('\n').collect();
        if lines.len() > MAX_NOTE_SIGNATURES {
            return Err(NoteError::SignatureCount(lines.len()));
        }
        let signatures = lines
            .into_iter()
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The note as bytes: text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.text.len() + 1 + 100 * self.signatures.len());
        s.push_str(&self.text);
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
        }
        s
    }

    /// Adds a signature line unless one with the same name and key id is
    /// already there (a second signature by one key adds nothing).
    pub fn add_signature(&mut self, sig: NoteSignature) {
        if !self
            .signatures
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            self.signatures.push(sig);
        }
    }
}

/// Signs notes with an Ed25519 key under a key name (signature type 0x01).
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteSigner({}+{:08x})", self.name, self.id)
    }
}

impl NoteSigner {
    /// A signer for `name`, which must be a valid key name.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_string()));
        }
        let id = key_id(name, TYPE_ED25519, key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_string(),
            key,
            id,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier that checks this signer's notes.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            sig_type: TYPE_ED25519,
            key: PublicKeyBytes::of(&self.key),
        }
    }

    /// The signature line over `text`.
    pub fn sign(&self, text: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.id,
            signature: SignatureBytes::sign(&self.key, text.as_bytes()).0.to_vec(),
        }
    }
}

/// A public key that checks one kind of note signature: an Ed25519 note
/// signature (type 0x01) or a cosignature/v1 (type 0x04). Its text form is
/// the vkey `name+hex(id)+base64(type ‖ key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    /// Key name.
    pub name: String,
    /// Key id.
    pub id: u32,
    /// Signature type byte.
    pub sig_type: u8,
    /// The Ed25519 public key.
    pub key: PublicKeyBytes,
}

impl NoteVerifier {
    /// A verifier for `name` and `key` of a type, with the spec's key id.
    pub fn new(name: &str, sig_type: u8, key: PublicKeyBytes) -> Result<Self, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_string()));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            id: key_id(name, sig_type, &key.0),
            sig_type,
            key,
        })
    }

    /// Parses a vkey string. Only Ed25519 (0x01) and cosignature/v1 (0x04)
    /// keys are accepted, and the id must be the one the spec derives.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = |reason: &str| NoteError::BadVerifierKey {
            vkey: vkey.chars().take(200).collect(),
            reason: reason.to_string(),
        };
        // The base64 key may itself hold '+': only the first two split.
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+id+key"));
        };
        if !valid_key_name(name) {
            return Err(bad("the key name is empty or holds a space"));
        }
        if id.len() != 8 {
            return Err(bad("the key id must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the key id is not hex"))?;
        let raw = B64.decode(b64).map_err(|_| bad("the key is not base64"))?;
        let (&sig_type, key) = raw.split_first().ok_or_else(|| bad("the key is empty"))?;
        if sig_type != TYPE_ED25519 && sig_type != TYPE_COSIGNATURE_V1 {
            return Err(bad(&format!(
                "signature type 0x{sig_type:02x} is not supported (0x01 Ed25519, 0x04 cosignature/v1)"
            )));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key = PublicKeyBytes::new(key).map_err(|_| bad("not a valid Ed25519 point"))?;
        let v = NoteVerifier::new(name, sig_type, key)?;
        if v.id != id {
            return Err(bad(&format!(
                "key id {id:08x} is not the id of this name and key ({:08x})",
                v.id
            )));
        }
        Ok(v)
    }

    /// The vkey string.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![self.sig_type];
        raw.extend_from_slice(&self.key.0);
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }

    /// Whether a signature line claims to be by this key.
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_id == self.id
    }

    /// Checks a matching signature line over the note `text`. For a
    /// cosignature, returns its timestamp.
    pub fn check(&self, text: &str, sig: &NoteSignature) -> Result<Option<u64>, NoteError> {
        let bad = || NoteError::BadSignature(format!("{}+{:08x}", self.name, self.id));
        match self.sig_type {
            TYPE_COSIGNATURE_V1 => {
                let (ts, s) = sig.signature.split_at_checked(8).ok_or_else(bad)?;
                let ts = u64::from_be_bytes(ts.try_into().map_err(|_| bad())?);
                let s: [u8; 64] = s.try_into().map_err(|_| bad())?;
                if ts > i64::MAX as u64 {
                    return Err(bad());
                }
                let msg = cosignature_message(ts, text);
                if self.key.verify_strict(msg.as_bytes(), &SignatureBytes(s)) {
                    Ok(Some(ts))
                } else {
                    Err(bad())
                }
            }
            _ => {
                let s: [u8; 64] = sig.signature.as_slice().try_into().map_err(|_| bad())?;
                if self.key.verify_strict(text.as_bytes(), &SignatureBytes(s)) {
                    Ok(None)
                } else {
                    Err(bad())
                }
            }
        }
    }

    /// Verifies a note against this key per the spec: lines by other keys
    /// are ignored, a matching line that fails makes the note bad, and at
    /// least one matching line must verify.
    pub fn verify(&self, note: &Note) -> Result<Option<u64>, NoteError> {
        let mut ok = None;
        for sig in note.signatures.iter().filter(|s| self.matches(s)) {
            ok = Some(self.check(&note.text, sig)?);
        }
        ok.ok_or_else(|| NoteError::Unsigned(format!("{}+{:08x}", self.name, self.id)))
    }
}

/// The message a cosignature/v1 signs: `cosignature/v1\ntime <ts>\n` and
/// the checkpoint's note text.
pub fn cosignature_message(timestamp: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// Cosigns checkpoints as a witness (tlog-cosignature, Ed25519, type 0x04).
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({}+{:08x})", self.name, self.id)
    }
}

impl Cosigner {
    /// A cosigner for `name`. Its key must not sign anything else: a
    /// cosignature/v1 does not commit to the cosigner's name.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_string()));
        }
        let id = key_id(name, TYPE_COSIGNATURE_V1, key.verifying_key().as_bytes());
        Ok(Cosigner {
            name: name.to_string(),
            key,
            id,
        })
    }

    /// The verifier of this cosigner's signatures.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            sig_type: TYPE_COSIGNATURE_V1,
            key: PublicKeyBytes::of(&self.key),
        }
    }

    /// The cosignature line over a checkpoint's note text at `timestamp`
    /// (POSIX seconds).
    pub fn cosign(&self, text: &str, timestamp: u64) -> NoteSignature {
        let sig = SignatureBytes::sign(&self.key, cosignature_message(timestamp, text).as_bytes());
        let mut s = Vec::with_capacity(72);
        s.extend_from_slice(&timestamp.to_be_bytes());
        s.extend_from_slice(&sig.0);
        NoteSignature {
            name: self.name.clone(),
            key_id: self.id,
            signature: s,
        }
    }
}

/// Parses the decimal the transparency-log text formats use: ASCII
/// digits only, no sign, no leading zero (but `0` itself), no overflow, so
/// one number has one spelling.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Standard base64 of a hash, the form checkpoints and proofs use.
pub fn hash_to_base64(h: &Hash32) -> String {
    B64.encode(h.0)
}

/// Parses the standard base64 of exactly 32 bytes.
pub fn hash_from_base64(s: &str) -> Option<Hash32> {
    let v = B64.decode(s).ok()?;
    Some(Hash32(v.try_into().ok()?))
}

/// Standard base64 (for byte strings that ride in notes and proofs).
pub fn base64_encode(b: &[u8]) -> String {
    B64.encode(b)
}

/// Parses standard base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_verifier_key_verifies_the_spec_example_note() {
        // c2sp.org/signed-note, "Example".
        let v = NoteVerifier::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap();
        let note = Note::parse("This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n".as_bytes()).unwrap();
        assert_eq!(v.verify(&note), Ok(None));
        let mut bad = note.clone();
        bad.text = "This is an example message!\n".into();
        assert!(matches!(v.verify(&bad), Err(NoteError::BadSignature(_))));
    }

    #[test]
    fn a_vkey_whose_base64_holds_a_plus_parses() {
        // Seed 98's cosigner key encodes with '+' in its base64.
        let c = Cosigner::new("w.example", SigningKey::from_bytes(&[98; 32])).unwrap();
        let vkey = c.verifier().to_vkey();
        assert!(vkey.matches('+').count() > 2, "{vkey}");
        assert_eq!(NoteVerifier::parse(&vkey).unwrap(), c.verifier());
    }

    #[test]
    fn a_vkey_with_a_wrong_key_id_is_refused() {
        let e = NoteVerifier::parse(
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap_err();
        assert!(e.to_string().contains("is not the id"), "{e}");
    }

    #[test]
    fn signatures_by_unknown_keys_are_ignored_but_one_known_key_is_required() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let s = NoteSigner::new("log.example/a", k).unwrap();
        let other = NoteSigner::new("log.example/b", SigningKey::from_bytes(&[8; 32])).unwrap();
        let text = "log.example/a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".to_string();
        let mut note = Note {
            signatures: vec![other.sign(&text)],
            text,
        };
        assert!(matches!(
            s.verifier().verify(&note),
            Err(NoteError::Unsigned(_))
        ));
        note.signatures.push(s.sign(&note.text));
        assert_eq!(s.verifier().verify(&note), Ok(None));
        let back = Note::parse(note.to_text().as_bytes()).unwrap();
        assert_eq!(back, note);
    }

    #[test]
    fn a_cosignature_verifies_and_carries_its_timestamp() {
        let c = Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[9; 32])).unwrap();
        let text = "log.example/a\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let line = c.cosign(text, 1_679_315_147);
        let v = NoteVerifier::parse(&c.verifier().to_vkey()).unwrap();
        assert_eq!(v.check(text, &line), Ok(Some(1_679_315_147)));
        // The timestamp is signed: changing it breaks the signature.
        let mut moved = line.clone();
        moved.signature[7] ^= 1;
        assert!(v.check(text, &moved).is_err());
    }

    #[test]
    fn decimals_have_one_spelling() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("42"), Some(42));
        for bad in ["", "+5", "05", "-1", " 5", "5 ", "18446744073709551616"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn control_characters_and_missing_separators_are_refused() {
        assert_eq!(
            Note::parse(b"a\tb\n\n\xe2\x80\x94 x AAAAAAA=\n"),
            Err(NoteError::NotText)
        );
        assert_eq!(Note::parse(b"abc\n"), Err(NoteError::NoSeparator));
        assert!(Note::parse("a\n\n\u{2014} x\n".as_bytes()).is_err());
    }
}
