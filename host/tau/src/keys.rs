//! BLS12-381 keys as the tau-testnet node uses them.
//!
//! Scheme: IETF BLS "basic" (NUL) ciphersuite, minimal-pubkey-size
//! (`blst::min_pk`): public keys are compressed G1 points (48 bytes, 96 hex),
//! signatures compressed G2 points (96 bytes, 192 hex). Key generation from
//! input keying material equals py_ecc's `G2Basic.KeyGen(IKM)`, i.e.
//! `SecretKey::key_gen(ikm, &[])` (not `key_gen_v3`/`v5`).
//!
//! Nothing the node signs names a network, so a key that is funded on two Tau
//! networks can have its transactions replayed from one to the other. IAN
//! therefore binds each key to one configured network id in a small file and
//! refuses to use it elsewhere unless the operator says so explicitly
//! ([`bind_key_to_network`]).

use blst::BLST_ERROR;
use blst::min_pk::{PublicKey, SecretKey, Signature};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Domain separation tag of the node's signature scheme.
pub const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_";

/// Format tag written into key files, so a file of another kind is refused.
pub const KEY_FILE_FORMAT: &str = "ian-tau-bls12381-min-pk/1";

/// Errors about keys, key files and the key-to-network binding.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `key_gen` needs at least 32 bytes of keying material.
    #[error("input keying material must be at least 32 bytes, got {0}")]
    IkmTooShort(usize),
    /// The secret key is not 32 bytes of hex or not a scalar in `1..r`.
    #[error("invalid BLS secret key: {0}")]
    InvalidSecretKey(String),
    /// A public key that is not 96 hex characters of a valid G1 point.
    #[error("invalid BLS public key: {0}")]
    InvalidPublicKey(String),
    /// A signature that is not 192 hex characters of a valid G2 point.
    #[error("invalid BLS signature encoding: {0}")]
    InvalidSignature(String),
    /// The key file exists already; keygen never overwrites a key.
    #[error("key file {0} already exists; refusing to overwrite it")]
    KeyFileExists(PathBuf),
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The key file is not a key file of this format.
    #[error("key file {path} is malformed: {reason}")]
    MalformedKeyFile {
        /// File concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key is already bound to another network id.
    #[error(
        "key {pubkey} is bound to Tau network '{bound}' (binding file {file}); refusing to use it on '{configured}' (set allow_key_reuse to override)"
    )]
    BoundToOtherNetwork {
        /// Public key hex.
        pubkey: String,
        /// Network recorded in the binding file.
        bound: String,
        /// Network the node is configured for.
        configured: String,
        /// Binding file.
        file: PathBuf,
    },
}

/// A BLS secret key with its cached public key hex.
///
/// The public key string is the node's account id, so it is computed once
/// and always lowercase.
#[derive(Clone)]
pub struct TauKey {
    sk: SecretKey,
    public_hex: String,
}

impl std::fmt::Debug for TauKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TauKey")
            .field("public", &self.public_hex)
            .finish_non_exhaustive()
    }
}

impl TauKey {
    /// Derives a key from input keying material (>= 32 bytes) like py_ecc's
    /// `KeyGen(IKM)`.
    pub fn from_ikm(ikm: &[u8]) -> Result<Self, KeyError> {
        if ikm.len() < 32 {
            return Err(KeyError::IkmTooShort(ikm.len()));
        }
        let sk = SecretKey::key_gen(ikm, &[])
            .map_err(|e| KeyError::InvalidSecretKey(format!("{e:?}")))?;
        Ok(Self::from_sk(sk))
    }

    /// Deterministic key from a seed string (`IKM = SHA-256(seed)`), the
    /// derivation used for the reference keys `ian-tau-reference/alice` etc.
    pub fn from_seed(seed: &str) -> Result<Self, KeyError> {
        let ikm: [u8; 32] = Sha256::digest(seed.as_bytes()).into();
        Self::from_ikm(&ikm)
    }

    /// Parses a 32-byte big-endian scalar given as 64 hex characters.
    pub fn from_secret_hex(hex_sk: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(hex_sk.trim())
            .map_err(|e| KeyError::InvalidSecretKey(format!("not hex: {e}")))?;
        if bytes.len() != 32 {
            return Err(KeyError::InvalidSecretKey(format!(
                "expected 32 bytes, got {}",
                bytes.len()
            )));
        }
        let sk = SecretKey::from_bytes(&bytes)
            .map_err(|e| KeyError::InvalidSecretKey(format!("{e:?}")))?;
        Ok(Self::from_sk(sk))
    }

    /// A fresh random key (IKM from the operating system's RNG).
    pub fn generate() -> Result<Self, KeyError> {
        let mut ikm = [0u8; 32];
        getrandom::getrandom(&mut ikm)
            .map_err(|e| KeyError::InvalidSecretKey(format!("no OS randomness: {e}")))?;
        Self::from_ikm(&ikm)
    }

    fn from_sk(sk: SecretKey) -> Self {
        let public_hex = hex::encode(sk.sk_to_pk().compress());
        Self { sk, public_hex }
    }

    /// Compressed G1 public key, 96 lowercase hex characters: the account id.
    pub fn public_hex(&self) -> &str {
        &self.public_hex
    }

    /// The secret scalar as 64 hex characters (for the key file only).
    pub fn secret_hex(&self) -> String {
        hex::encode(self.sk.to_bytes())
    }

    /// Signs `msg` as-is (for transactions `msg` is the 32-byte SHA-256 of
    /// the canonical signing payload). Returns the compressed G2 signature.
    pub fn sign(&self, msg: &[u8]) -> [u8; 96] {
        self.sk.sign(msg, DST, &[]).compress()
    }

    /// [`TauKey::sign`] as lowercase hex, the form carried in a transaction.
    pub fn sign_hex(&self, msg: &[u8]) -> String {
        hex::encode(self.sign(msg))
    }

    /// Loads a key file written by [`TauKey::write_new_key_file`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: KeyFile =
            serde_json::from_str(&text).map_err(|e| KeyError::MalformedKeyFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if file.format != KEY_FILE_FORMAT {
            return Err(KeyError::MalformedKeyFile {
                path: path.to_path_buf(),
                reason: format!("format '{}', expected '{KEY_FILE_FORMAT}'", file.format),
            });
        }
        let key = Self::from_secret_hex(&file.secret_key)?;
        if key.public_hex != file.public_key.to_ascii_lowercase() {
            return Err(KeyError::MalformedKeyFile {
                path: path.to_path_buf(),
                reason: "public_key does not match secret_key".into(),
            });
        }
        Ok(key)
    }

    /// Writes this key to a new file (mode 0600 on Unix). Never overwrites.
    pub fn write_new_key_file(&self, path: &Path) -> Result<(), KeyError> {
        let file = KeyFile {
            format: KEY_FILE_FORMAT.to_string(),
            public_key: self.public_hex.clone(),
            secret_key: self.secret_hex(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("key file serialises");
        text.push('\n');
        write_new_file(path, text.as_bytes(), true)
    }
}

/// On-disk key file.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    public_key: String,
    secret_key: String,
}

fn write_new_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::KeyFileExists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

/// Parses and validates a public key (G1 point, subgroup-checked, not the
/// point at infinity).
pub fn parse_public_key(pk_hex: &str) -> Result<PublicKey, KeyError> {
    let bytes = hex::decode(pk_hex).map_err(|e| KeyError::InvalidPublicKey(e.to_string()))?;
    if bytes.len() != 48 {
        return Err(KeyError::InvalidPublicKey(format!(
            "expected 48 bytes, got {}",
            bytes.len()
        )));
    }
    PublicKey::key_validate(&bytes).map_err(|e| KeyError::InvalidPublicKey(format!("{e:?}")))
}

/// Verifies a signature the way the node does (group checks on both points).
/// Any malformed input is simply "not valid".
pub fn verify(pk_hex: &str, msg: &[u8], sig_hex: &str) -> bool {
    let Ok(pk) = parse_public_key(pk_hex) else {
        return false;
    };
    let Ok(sig_bytes) = hex::decode(sig_hex) else {
        return false;
    };
    let Ok(sig) = Signature::from_bytes(&sig_bytes) else {
        return false;
    };
    sig.verify(true, msg, DST, &[], &pk, true) == BLST_ERROR::BLST_SUCCESS
}

/// Binds `pubkey` to `network_id` in the JSON file at `binding_file`.
///
/// First use records the binding; later uses with the same network pass; a
/// different network is refused with [`KeyError::BoundToOtherNetwork`] unless
/// `allow_reuse` is set, in which case the new network is added (the file
/// then lists every network the key was knowingly used on).
pub fn bind_key_to_network(
    binding_file: &Path,
    pubkey: &str,
    network_id: &str,
    allow_reuse: bool,
) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: binding_file.to_path_buf(),
        source,
    };
    let mut bindings: BTreeMap<String, Vec<String>> = match fs::read_to_string(binding_file) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| KeyError::MalformedKeyFile {
            path: binding_file.to_path_buf(),
            reason: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(io(e)),
    };
    let networks = bindings.entry(pubkey.to_string()).or_default();
    if networks.iter().any(|n| n == network_id) {
        return Ok(());
    }
    if let Some(bound) = networks.first()
        && !allow_reuse
    {
        return Err(KeyError::BoundToOtherNetwork {
            pubkey: pubkey.to_string(),
            bound: bound.clone(),
            configured: network_id.to_string(),
            file: binding_file.to_path_buf(),
        });
    }
    networks.push(network_id.to_string());
    let text = serde_json::to_string_pretty(&bindings).expect("bindings serialise") + "\n";
    // Write-then-rename so a crash never leaves a half-written binding.
    let tmp = binding_file.with_extension("tmp");
    if let Some(parent) = binding_file.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent).map_err(io)?;
    }
    fs::write(&tmp, text).map_err(io)?;
    fs::rename(&tmp, binding_file).map_err(io)?;
    Ok(())
}

/// Summary of a key written by [`crate::keygen`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Where the key was written.
    pub path: PathBuf,
    /// Its public key (the Tau account id).
    pub public_key: String,
}
