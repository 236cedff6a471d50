//! Checkpoints (c2sp.org/tlog-checkpoint) and receipts
//! (c2sp.org/tlog-proof), the two things a verifier holds.
//!
//! A checkpoint is a signed note whose text is three lines: the log's
//! origin (`<node name>/<goal id>`), its size, and the base64 RFC 6962 root.
//! The node signs it with an Ed25519 note signature under the key name
//! equal to the origin; witnesses append cosignature lines. A receipt is a
//! tlog-proof: index, RFC 6962 audit path and the checkpoint, with the log
//! entry itself in the `extra` line, so the file alone (plus the keys the
//! verifier trusts) shows that the entry is in the log.

use crate::entry::{LogEntry, MAX_ENTRY_BYTES};
use crate::hash::Hash32;
use crate::mmr::{InclusionProof, MAX_PROOF_HASHES, ProofError, verify_inclusion};
use crate::note::{
    Note, NoteError, NoteSigner, NoteVerifier, base64_decode, base64_encode, hash_from_base64,
    hash_to_base64, parse_decimal,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The first line of a receipt (c2sp.org/tlog-proof).
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Largest receipt accepted: a 64 KiB entry in base64, 64 proof lines and
/// a note with its cosignatures.
pub const MAX_RECEIPT_BYTES: usize = 320 * 1024;

/// The origin of a goal's log on a node: `<node name>/<goal id>`.
pub fn log_origin(node_name: &str, goal_id: &str) -> String {
    format!("{node_name}/{goal_id}")
}

/// A log head: "the log `origin` had `size` entries with RFC 6962 root
/// `root`". No extension lines: tlog-checkpoint does not recommend them
/// and witnesses make no statement about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The log's identity, `<node name>/<goal id>`.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 Merkle tree hash of the entries.
    pub root: Hash32,
}

/// Why a checkpoint or receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note itself is malformed, or a signature fails.
    #[error("{0}")]
    Note(#[from] NoteError),
    /// The text is not `origin\nsize\nroot\n`.
    #[error("checkpoint text is malformed: {0}")]
    Body(String),
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, one per line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            hash_to_base64(&self.root)
        )
    }

    /// Reads the first three lines of a checkpoint's text. Extension lines
    /// (other logs may send them to a witness) are allowed and ignored.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let bad = |m: &str| CheckpointError::Body(m.to_string());
        let mut lines = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("it does not end in a newline"))?
            .split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("the origin line is empty"));
        }
        let size = lines.next().ok_or_else(|| bad("no size line"))?;
        let size = parse_decimal(size).ok_or_else(|| {
            bad("the size must be a decimal number without sign or leading zeroes")
        })?;
        let root = lines.next().ok_or_else(|| bad("no root hash line"))?;
        let root =
            hash_from_base64(root).ok_or_else(|| bad("the root is not base64 of 32 bytes"))?;
        if lines.any(str::is_empty) {
            return Err(bad("an extension line is empty"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// The goal id at the end of the origin (after its last `/`).
    pub fn goal_id(&self) -> &str {
        self.origin.rsplit('/').next().unwrap_or(&self.origin)
    }
}

/// A checkpoint note: the checkpoint and every signature line it carries
/// (the log's, witnesses', unknown ones), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed first three lines.
    pub checkpoint: Checkpoint,
    /// The note: exact text and signature lines.
    pub note: Note,
}

impl SignedCheckpoint {
    /// Signs a checkpoint as its log. The signer's key name should be the
    /// checkpoint's origin (tlog-checkpoint).
    pub fn sign(checkpoint: Checkpoint, signer: &NoteSigner) -> Self {
        let text = checkpoint.body();
        let sig = signer.sign(&text);
        SignedCheckpoint {
            checkpoint,
            note: Note {
                text,
                signatures: vec![sig],
            },
        }
    }

    /// Parses a checkpoint note (signatures are not checked here).
    pub fn parse(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse_body(&note.text)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The note as text.
    pub fn to_text(&self) -> String {
        self.note.to_text()
    }

    /// The note as bytes (what is stored and served).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        self.to_text().into_bytes()
    }

    /// Same as [`SignedCheckpoint::parse`].
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, CheckpointError> {
        Self::parse(b)
    }

    /// Checks the log's signature: the note must carry a valid signature by
    /// `log` (other lines are ignored, as signed-note requires).
    pub fn verify(&self, log: &NoteVerifier) -> Result<(), CheckpointError> {
        // tlog-checkpoint: the log's key name is its origin.
        if self.checkpoint.origin != log.name {
            return Err(CheckpointError::Body(format!(
                "the checkpoint's origin {:?} is not the log key's name {:?}",
                self.checkpoint.origin, log.name
            )));
        }
        log.verify(&self.note)?;
        if Checkpoint::parse_body(&self.note.text)? != self.checkpoint {
            return Err(CheckpointError::Body(
                "the parsed checkpoint differs from the signed text".into(),
            ));
        }
        Ok(())
    }

    /// The signature bytes (after the key id) of the line by `log`, if the
    /// note carries one: the 64-byte Ed25519 signature over the text.
    pub fn signature_by(&self, log: &NoteVerifier) -> Option<&[u8]> {
        self.note
            .signatures
            .iter()
            .find(|s| log.matches(s))
            .map(|s| s.signature.as_slice())
    }

    /// The witnesses among `witnesses` whose cosignatures on this note
    /// verify, with their timestamps. A matching line that fails to verify
    /// is an error (the note is malformed).
    pub fn cosigned_by<'a>(
        &self,
        witnesses: impl IntoIterator<Item = &'a NoteVerifier>,
    ) -> Result<Vec<(&'a NoteVerifier, u64)>, CheckpointError> {
        let mut out = Vec::new();
        for w in witnesses {
            for sig in self.note.signatures.iter().filter(|s| w.matches(s)) {
                let ts = w.check(&self.note.text, sig)?.unwrap_or(0);
                if !out.iter().any(|(v, _): &(&NoteVerifier, u64)| *v == w) {
                    out.push((w, ts));
                }
            }
        }
        Ok(out)
    }
}

impl Serialize for SignedCheckpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for SignedCheckpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SignedCheckpoint::parse(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// Proof, checkable offline, that an entry is in a node's log: a
/// c2sp.org/tlog-proof whose `extra` line carries the entry's canonical
/// bytes (the leaf is `SHA-256(0x00 ‖ extra)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// The entry.
    pub entry: LogEntry,
    /// Its RFC 6962 audit path at the checkpoint's size.
    pub proof: InclusionProof,
    /// The checkpoint note, with any witness cosignatures.
    pub checkpoint: SignedCheckpoint,
}

/// Why a receipt did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The text is not a tlog-proof this verifier can read.
    #[error("receipt is not a c2sp.org/tlog-proof: {0}")]
    Format(String),
    /// The checkpoint is malformed or not validly signed by the log key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// Entry and checkpoint are for different goals.
    #[error("entry is for goal {entry}, checkpoint is for log {origin}")]
    GoalMismatch { entry: String, origin: String },
    /// The contributor signature recorded in the entry does not verify.
    #[error("the contributor signature in the entry does not verify")]
    ContributorSignature,
    /// The inclusion proof does not connect the entry to the root.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

impl Receipt {
    /// Checks everything with nothing but the log's verifier key: the
    /// checkpoint signature, that the log is the entry's goal, the
    /// contributor's signature in the entry, and the RFC 6962 inclusion of
    /// the entry's leaf at its log index. Witness cosignatures are checked
    /// by a policy ([`crate::policy::Policy::check`]).
    pub fn verify(&self, log: &NoteVerifier) -> Result<(), ReceiptError> {
        self.checkpoint.verify(log)?;
        let cp = &self.checkpoint.checkpoint;
        let e = &self.entry;
        if cp.goal_id() != e.goal_id.as_str() {
            return Err(ReceiptError::GoalMismatch {
                entry: e.goal_id.to_string(),
                origin: cp.origin.clone(),
            });
        }
        if !e.verify_contributor_signature() {
            return Err(ReceiptError::ContributorSignature);
        }
        verify_inclusion(&cp.root, cp.size, e.log_index, &e.leaf_hash(), &self.proof)?;
        Ok(())
    }

    /// The tlog-proof text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str(TLOG_PROOF_HEADER);
        s.push('\n');
        s.push_str("extra ");
        s.push_str(&base64_encode(&self.entry.to_canonical_bytes()));
        s.push('\n');
        s.push_str(&format!("index {}\n", self.entry.log_index));
        for h in &self.proof.hashes {
            s.push_str(&hash_to_base64(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint.to_text());
        s
    }

    /// Reads a tlog-proof (nothing is verified here; call
    /// [`Receipt::verify`]). The `index` line must equal the entry's own
    /// log index.
    pub fn parse(b: &[u8]) -> Result<Self, ReceiptError> {
        let bad = |m: String| ReceiptError::Format(m);
        if b.len() > MAX_RECEIPT_BYTES {
            return Err(bad(format!(
                "{} bytes, over the {MAX_RECEIPT_BYTES}-byte limit",
                b.len()
            )));
        }
        let s = std::str::from_utf8(b).map_err(|_| bad("not UTF-8".into()))?;
        let (head, note) = s
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad(format!("the first line is not {TLOG_PROOF_HEADER}")));
        }
        let mut line = lines.next().unwrap_or_default();
        let extra = match line.strip_prefix("extra ") {
            Some(x) => {
                let v = base64_decode(x).ok_or_else(|| bad("extra is not base64".into()))?;
                line = lines.next().unwrap_or_default();
                v
            }
            None => return Err(bad("no extra line carrying the IAN log entry".into())),
        };
        if extra.len() > MAX_ENTRY_BYTES {
            return Err(bad(format!(
                "the entry is {} bytes, over {MAX_ENTRY_BYTES}",
                extra.len()
            )));
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("no valid index line".into()))?;
        let mut hashes = Vec::new();
        for l in lines {
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(bad("too many proof lines".into()));
            }
            hashes.push(
                hash_from_base64(l)
                    .ok_or_else(|| bad(format!("proof line {l:?} is not a base64 hash")))?,
            );
        }
        let entry = LogEntry::from_canonical_bytes(&extra)
            .map_err(|e| bad(format!("the extra line is not an IAN log entry: {e}")))?;
        if entry.log_index != index {
            return Err(bad(format!(
                "index {index} differs from the entry's log index {}",
                entry.log_index
            )));
        }
        let checkpoint = SignedCheckpoint::parse(note.as_bytes())?;
        Ok(Receipt {
            entry,
            proof: InclusionProof { hashes },
            checkpoint,
        })
    }

    /// The tlog-proof bytes.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        self.to_text().into_bytes()
    }

    /// Same as [`Receipt::parse`].
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, ReceiptError> {
        Self::parse(b)
    }
}

impl Serialize for Receipt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for Receipt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Receipt::parse(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}
