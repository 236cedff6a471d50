//! Backups a node can be restored from, and the check that makes a
//! restored store usable: every stored checkpoint must verify under the
//! node's key and match the root replayed from the stored entries.
//!
//! A backup is the store's own consistent online copy
//! (`ian_store::Store::backup_to`, one read snapshot; writers continue),
//! never a copy of the live file. It holds no secret: the node key travels
//! separately, and a restore refuses to finish without it.

use std::path::{Path, PathBuf};

use ian_core::GoalManifest;
use ian_core::checkpoint::SignedCheckpoint;
use ian_core::keys::PublicKeyBytes;
use ian_core::note::{NoteVerifier, TYPE_ED25519};
use ian_core::pipeline::GoalState;
use ian_store::{Store, StoreError};
use serde::Serialize;

/// Why a backup cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The target already holds a store.
    #[error("{0} already holds a store; restore into a new or empty data directory")]
    TargetHasStore(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The backup is not a store this node can open.
    #[error("the backup is not a usable store: {0}")]
    Store(#[from] StoreError),
    /// The backup was made by a node with another key.
    #[error(
        "the backup's checkpoints were signed by key {stored}, not by the given node key {given}: restore it with the node.key of the node that made it"
    )]
    WrongKey {
        /// The key the store records.
        stored: String,
        /// The key given.
        given: String,
    },
    /// A goal's stored log does not check out.
    #[error("goal {goal}: {message}")]
    Goal {
        /// The goal.
        goal: String,
        /// What did not check out.
        message: String,
    },
}

/// What a restore checked.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Where the store now is.
    pub store: PathBuf,
    /// Goals restored.
    pub goals: usize,
    /// Log entries replayed.
    pub entries: u64,
    /// Checkpoint signatures verified (and roots matched).
    pub checkpoints: u64,
    /// Entries after the last stored checkpoint of their goal (durable
    /// before the backup, checkpoint not yet written): the restored node
    /// signs a checkpoint over them when it starts.
    pub unsigned_entries: u64,
    /// The node key they verified under (hex).
    pub node_key: String,
}

/// Checks every goal of the (closed) store at `path`: each entry decodes
/// and replays, each stored checkpoint is signed by `key` under the log's
/// origin and commits to the replayed root at its size.
///
/// `progress(done, total)` is told how many entries are replayed, every
/// 1,000 entries and at the end.
pub fn verify_store(
    path: &Path,
    key: &PublicKeyBytes,
    progress: &dyn Fn(u64, u64),
) -> Result<Verified, RestoreError> {
    let store = Store::open(path)?;
    let snap = store.snapshot()?;
    if let Some(stored) = snap.meta(crate::runtime::service::IDENTITY_KEY)? {
        let stored = String::from_utf8_lossy(&stored).into_owned();
        if stored != key.to_hex() {
            return Err(RestoreError::WrongKey {
                stored,
                given: key.to_hex(),
            });
        }
    }
    let (mut entries, mut checkpoints, mut unsigned) = (0u64, 0u64, 0u64);
    // Keys the node rotated away from still vouch for what they signed.
    let past = crate::runtime::rotate::past_keys(&snap);
    let goals = snap.goals()?;
    let total: u64 = goals.iter().map(|g| g.size).sum();
    for g in &goals {
        let bad = |message: String| RestoreError::Goal {
            goal: g.goal.clone(),
            message,
        };
        let spec = snap
            .goal_spec(&g.goal)?
            .ok_or_else(|| bad("listed without its manifest".into()))?;
        let manifest =
            GoalManifest::from_canonical_bytes(&spec).map_err(|e| bad(format!("manifest: {e}")))?;
        let mut state = GoalState::new(manifest);
        for item in snap.entries(&g.goal, 0..g.size)? {
            let (index, bytes) = item?;
            let record = ian_core::record::LogRecord::from_canonical_bytes(&bytes)
                .map_err(|e| bad(format!("entry {index}: {e}")))?;
            state
                .apply_record(&record)
                .map_err(|e| bad(format!("entry {index} does not replay: {e}")))?;
            entries += 1;
            if entries % 1000 == 0 {
                progress(entries, total);
            }
        }
        let sizes = snap.checkpoint_sizes(&g.goal)?;
        unsigned += g.size - sizes.iter().copied().max().unwrap_or(0).min(g.size);
        for size in sizes {
            let bytes = snap
                .checkpoint(&g.goal, size)?
                .ok_or_else(|| bad(format!("checkpoint {size} vanished")))?;
            let cp = SignedCheckpoint::from_canonical_bytes(&bytes)
                .map_err(|e| bad(format!("checkpoint at size {size}: {e}")))?;
            let origin = &cp.checkpoint.origin;
            if !origin.ends_with(&format!("/{}", g.goal)) || cp.checkpoint.size != size {
                return Err(bad(format!(
                    "checkpoint stored under size {size} is for log {origin} at size {}",
                    cp.checkpoint.size
                )));
            }
            NoteVerifier::new(origin, TYPE_ED25519, *key)
                .map_err(|e| bad(format!("log origin {origin}: {e}")))?;
            crate::runtime::rotate::signed_by_us(&cp, key, &past).map_err(|e| {
                bad(format!(
                    "checkpoint at size {size} does not verify under node key {}: {e}",
                    key.to_hex()
                ))
            })?;
            let root = state
                .mmr()
                .root_at(size)
                .map_err(|e| bad(format!("root at size {size}: {e}")))?;
            if root != cp.checkpoint.root {
                return Err(bad(format!(
                    "replayed root at size {size} is {root}, the signed checkpoint says {}",
                    cp.checkpoint.root
                )));
            }
            checkpoints += 1;
        }
    }
    progress(entries, total);
    drop(snap);
    store.close()?;
    Ok(Verified {
        goals: goals.len(),
        entries,
        checkpoints,
        unsigned,
    })
}

/// What [`verify_store`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Goals.
    pub goals: usize,
    /// Entries replayed.
    pub entries: u64,
    /// Checkpoints verified.
    pub checkpoints: u64,
    /// Entries after their goal's last checkpoint.
    pub unsigned: u64,
}

/// `ian-host restore`: copies `backup` into `data_dir` as its store, next
/// to `key_file` (copied to `node.key` unless it already is that file),
/// and makes it usable only once [`verify_store`] passed. A failed restore
/// leaves no store behind.
pub fn restore(
    backup: &Path,
    data_dir: &Path,
    key_file: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<RestoreReport, RestoreError> {
    let file_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| RestoreError::File {
            path,
            message: e.to_string(),
        }
    };
    let target = data_dir.join("ian.redb");
    if target.exists() {
        return Err(RestoreError::TargetHasStore(data_dir.to_path_buf()));
    }
    let signing =
        crate::runtime::keyfile::read_signing_key(key_file).map_err(|e| RestoreError::File {
            path: key_file.to_path_buf(),
            message: e.to_string(),
        })?;
    let public = PublicKeyBytes::of(&signing);
    std::fs::create_dir_all(data_dir).map_err(file_err(data_dir))?;
    let partial = data_dir.join("ian.redb.restoring");
    let _ = std::fs::remove_file(&partial);
    std::fs::copy(backup, &partial).map_err(file_err(backup))?;
    let cleanup = |e: RestoreError| {
        let _ = std::fs::remove_file(&partial);
        e
    };
    let v = verify_store(&partial, &public, progress).map_err(cleanup)?;
    let node_key = data_dir.join("node.key");
    let mut wrote_key = false;
    match crate::runtime::keyfile::read_signing_key(&node_key) {
        // The same key already there (given as itself or as a copy).
        Ok(k) if k.to_bytes() == signing.to_bytes() => {}
        Ok(_) => {
            return Err(cleanup(RestoreError::File {
                path: node_key,
                message: "holds another key; restore into an empty data directory".into(),
            }));
        }
        Err(_) if node_key.exists() => {
            return Err(cleanup(RestoreError::File {
                path: node_key,
                message: "is not a readable key; restore into an empty data directory".into(),
            }));
        }
        Err(_) => {
            crate::runtime::keyfile::write_secret(
                &node_key,
                &hex::encode(signing.to_bytes()),
                false,
            )
            .map_err(|e| {
                cleanup(RestoreError::File {
                    path: node_key.clone(),
                    message: e.to_string(),
                })
            })?;
            wrote_key = true;
        }
    }
    if let Err(e) = std::fs::rename(&partial, &target) {
        if wrote_key {
            let _ = std::fs::remove_file(&node_key);
        }
        return Err(cleanup(RestoreError::File {
            path: target,
            message: e.to_string(),
        }));
    }
    Ok(RestoreReport {
        store: target,
        goals: v.goals,
        entries: v.entries,
        checkpoints: v.checkpoints,
        unsigned_entries: v.unsigned,
        node_key: public.to_hex(),
    })
}
