//! `ian-host serve --new-identity`: a new node key for an existing store,
//! without breaking anything already handed out.
//!
//! The store keeps the key history: the new key becomes the identity
//! (`node-public-key`), the old one joins `node-key-history`, and a
//! rotation statement is kept under `key-rotation/<n>`: a signed note
//!
//! ```text
//! ian node key rotation
//! <node name>
//! old <old public key, hex | lost>
//! new <new public key, hex>
//! at <RFC 3339 time>
//! ```
//!
//! signed under the node's name by the new key and, when it is still at
//! hand, by the old one, so whoever trusts the old key can follow the
//! handoff. Stored checkpoints are never rewritten (the store refuses
//! that): they keep verifying under the key that signed them, which the
//! node accepts from its history. Receipts already given out keep
//! verifying under the old key; the node signs everything new with the new
//! one, starting with its latest checkpoint of each log, which it serves
//! with both signatures.
//!
//! Crash safety: the new key is written to `node.key.new` first, then the
//! store records the rotation (durably), then `node.key` moves to
//! `node.key.retired-<first 8 hex digits>` and `node.key.new` becomes
//! `node.key`. A rotation cut short is finished by the next
//! `--new-identity` start.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ian_core::note::NoteSigner;
use ian_core::{PublicKeyBytes, SignedCheckpoint};
use ian_store::Store;

use crate::runtime::keyfile::{read_signing_key, write_secret};
use crate::runtime::service::IDENTITY_KEY;

/// Node metadata: the keys that signed this store before the current one
/// (JSON list of hex public keys, oldest first).
pub const KEY_HISTORY: &str = "node-key-history";

/// Node metadata: the node name its logs' origins start with, kept at the
/// first rotation so a name derived from the old key outlives it.
pub const NODE_NAME: &str = "node-name";

/// Node metadata: the `n`-th rotation statement (a signed note).
pub fn rotation_key(n: usize) -> String {
    format!("key-rotation/{n}")
}

/// Why a rotation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Nothing to rotate.
    #[error(
        "{0} holds no store: a new node makes its key on its first start; --new-identity rotates the key of an existing store"
    )]
    NoStore(PathBuf),
    /// `node.key` is some third key.
    #[error(
        "{path} holds key {found}, but this store was signed by key {stored}: put that node.key back to rotate it (signed by both keys), or remove {path} to rotate without it (signed by the new key alone)"
    )]
    ForeignKey {
        /// The key file.
        path: PathBuf,
        /// Its public key.
        found: String,
        /// The store's identity.
        stored: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] ian_store::StoreError),
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rotation {
    /// The node name the statement is signed under.
    pub name: String,
    /// The old public key (hex).
    pub old_key: String,
    /// Whether the old key signed the statement (it was in `node.key`).
    pub old_key_signed: bool,
    /// The new public key (hex).
    pub new_key: String,
    /// The signed statement.
    pub statement: String,
    /// Where the old key file went, if there was one.
    pub retired_key_file: Option<PathBuf>,
}

fn file_err(path: &Path) -> impl Fn(std::io::Error) -> RotateError + '_ {
    move |e| RotateError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Rotates the key of the (closed) store in `data_dir`. `configured_name`
/// is `server.name` (empty: the name the store's checkpoints carry, or the
/// one derived from the old key).
pub fn rotate(
    data_dir: &Path,
    configured_name: &str,
    now_ms: u64,
) -> Result<Rotation, RotateError> {
    let key_file = data_dir.join("node.key");
    let pending = data_dir.join("node.key.new");
    let store_file = data_dir.join("ian.redb");
    if !store_file.exists() {
        return Err(RotateError::NoStore(data_dir.to_path_buf()));
    }
    let store = Store::open(&store_file)?;
    let snap = store.snapshot()?;
    let stored = snap
        .meta(IDENTITY_KEY)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let read = |p: &Path| {
        read_signing_key(p).map_err(|e| RotateError::File {
            path: p.to_path_buf(),
            message: e.to_string(),
        })
    };
    // A rotation cut short after the store recorded it: finish the files.
    if pending.exists() {
        let new = read(&pending)?;
        if stored.as_deref() == Some(PublicKeyBytes::of(&new).to_hex().as_str()) {
            drop(snap);
            store.close()?;
            let retired = retire_files(data_dir, &key_file, &pending)?;
            return Ok(Rotation {
                name: String::new(),
                old_key: String::new(),
                old_key_signed: false,
                new_key: PublicKeyBytes::of(&new).to_hex(),
                statement: String::new(),
                retired_key_file: retired,
            });
        }
    }
    let old = if key_file.exists() {
        let k = read(&key_file)?;
        let hex = PublicKeyBytes::of(&k).to_hex();
        match &stored {
            Some(s) if *s != hex => {
                return Err(RotateError::ForeignKey {
                    path: key_file,
                    found: hex,
                    stored: s.clone(),
                });
            }
            _ => Some(k),
        }
    } else {
        None
    };
    let old_hex = match (&old, &stored) {
        (Some(k), _) => PublicKeyBytes::of(k).to_hex(),
        (None, Some(s)) => s.clone(),
        (None, None) => "lost".to_string(),
    };
    let name = node_name(&snap, configured_name, &old_hex)?;
    let new = SigningKey::from_bytes(&crate::runtime::keyfile::random32());
    let new_hex = PublicKeyBytes::of(&new).to_hex();
    write_secret(&pending, &hex::encode(new.to_bytes()), true).map_err(|e| RotateError::File {
        path: pending.clone(),
        message: e.to_string(),
    })?;
    let text = format!(
        "ian node key rotation\n{name}\nold {old_hex}\nnew {new_hex}\nat {}\n",
        crate::runtime::timefmt::rfc3339_ms(now_ms)
    );
    let sign = |k: &SigningKey| {
        NoteSigner::new(&name, k.clone())
            .map(|s| s.sign(&text))
            .map_err(|e| RotateError::File {
                path: store_file.clone(),
                message: format!("node name {name:?}: {e}"),
            })
    };
    let mut signatures = vec![sign(&new)?];
    if let Some(k) = &old {
        signatures.push(sign(k)?);
    }
    let statement = ian_core::note::Note {
        text: text.clone(),
        signatures,
    }
    .to_text();
    let mut history: Vec<String> = snap
        .meta(KEY_HISTORY)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if old_hex != "lost" && !history.contains(&old_hex) {
        history.push(old_hex.clone());
    }
    let n = (0..)
        .find(|i| snap.meta(&rotation_key(*i)).ok().flatten().is_none())
        .unwrap_or(0);
    drop(snap);
    let tickets = [
        store.put_meta(&rotation_key(n), statement.clone().into_bytes())?,
        store.put_meta(
            KEY_HISTORY,
            serde_json::to_vec(&history).unwrap_or_default(),
        )?,
        store.put_meta(NODE_NAME, name.clone().into_bytes())?,
        store.put_meta(IDENTITY_KEY, new_hex.clone().into_bytes())?,
    ];
    for t in tickets {
        t.wait()?;
    }
    store.close()?;
    let retired = retire_files(data_dir, &key_file, &pending)?;
    Ok(Rotation {
        name,
        old_key: old_hex,
        old_key_signed: old.is_some(),
        new_key: new_hex,
        statement,
        retired_key_file: retired,
    })
}

/// The name the store's logs go by: `server.name` when set, else the one
/// a stored checkpoint's origin carries, else a rotation's record, else
/// the name derived from the old key.
fn node_name(
    snap: &ian_store::Snapshot,
    configured: &str,
    old_hex: &str,
) -> Result<String, RotateError> {
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    if let Some(n) = snap.meta(NODE_NAME)? {
        return Ok(String::from_utf8_lossy(&n).into_owned());
    }
    for g in snap.goals()? {
        if let Some(size) = snap.checkpoint_sizes(&g.goal)?.into_iter().max()
            && let Some(bytes) = snap.checkpoint(&g.goal, size)?
            && let Ok(cp) = SignedCheckpoint::from_canonical_bytes(&bytes)
            && let Some(name) = cp.checkpoint.origin.strip_suffix(&format!("/{}", g.goal))
        {
            return Ok(name.to_string());
        }
    }
    let key = hex::decode(old_hex).unwrap_or_default();
    Ok(format!("ian-{}", &ian_core::sha256(&key).to_hex()[..8]))
}

/// `node.key` -> `node.key.retired-<id>`, `node.key.new` -> `node.key`.
fn retire_files(
    data_dir: &Path,
    key_file: &Path,
    pending: &Path,
) -> Result<Option<PathBuf>, RotateError> {
    let retired = if key_file.exists() {
        let old = read_signing_key(key_file).map_err(|e| RotateError::File {
            path: key_file.to_path_buf(),
            message: e.to_string(),
        })?;
        let id = &PublicKeyBytes::of(&old).to_hex()[..8];
        let to = data_dir.join(format!("node.key.retired-{id}"));
        std::fs::rename(key_file, &to).map_err(file_err(key_file))?;
        Some(to)
    } else {
        None
    };
    std::fs::rename(pending, key_file).map_err(file_err(pending))?;
    if let Ok(d) = std::fs::File::open(data_dir) {
        let _ = d.sync_all();
    }
    Ok(retired)
}

/// The keys that signed this store before the current one.
pub fn past_keys(snap: &ian_store::Snapshot) -> Vec<PublicKeyBytes> {
    snap.meta(KEY_HISTORY)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|h| PublicKeyBytes::from_hex(h).ok())
        .collect()
}

/// The stored rotation statements, oldest first.
pub fn statements(snap: &ian_store::Snapshot) -> Vec<String> {
    (0..)
        .map_while(|i| snap.meta(&rotation_key(i)).ok().flatten())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

/// Whether `cp` is signed, under its origin, by `current` or one of
/// `past` keys.
pub fn signed_by_us(
    cp: &SignedCheckpoint,
    current: &PublicKeyBytes,
    past: &[PublicKeyBytes],
) -> Result<(), ian_core::checkpoint::CheckpointError> {
    let origin = &cp.checkpoint.origin;
    let mut result = Ok(());
    for key in std::iter::once(current).chain(past) {
        let Ok(v) = ian_core::note::NoteVerifier::new(origin, ian_core::note::TYPE_ED25519, *key)
        else {
            continue;
        };
        result = cp.verify(&v);
        if result.is_ok() {
            return Ok(());
        }
    }
    result
}
