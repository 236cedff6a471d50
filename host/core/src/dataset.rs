//! Dataset listings: the content a goal's harness reads from `/data`,
//! named by one hash.
//!
//! A goal that mounts a dataset commits to its *content*, not to a path on
//! the author's machine: the manifest carries the dataset hash, the hash of
//! the canonical listing of (relative path, file SHA-256, size) sorted by
//! path. Two nodes that hold the same listing and the same file blobs build
//! the same directory, and a node can check a directory on disk against the
//! hash before it lets a harness read it.
//!
//! Reading directories is I/O and is the caller's job; this module fixes
//! what a valid listing is (paths that cannot escape the dataset root,
//! bounded size) and how it is hashed, so every node agrees.

use std::collections::BTreeSet;

use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::hash::Hash32;

/// Longest relative path of one dataset file, in bytes.
pub const MAX_DATASET_PATH_BYTES: usize = 1024;
/// Hard cap on files per dataset, whatever a node is configured to allow.
pub const HARD_MAX_DATASET_FILES: u64 = 65_536;
/// Hard cap on a dataset's total size (1 GiB), whatever a node allows.
pub const HARD_MAX_DATASET_BYTES: u64 = 1024 * 1024 * 1024;

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DatasetFile {
    /// Path relative to the dataset root, `/`-separated (see
    /// [`check_dataset_path`]).
    pub path: String,
    /// SHA-256 of the file's bytes (also its blob address).
    pub sha256: Hash32,
    /// Size in bytes.
    pub size: u64,
}

/// How large a dataset a node accepts. The defaults are what a node uses
/// unless its operator sets `limits.dataset_max_files` /
/// `limits.dataset_max_bytes` (see `docs/OPERATOR.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetLimits {
    /// Most files. Default 1,024.
    pub max_files: u64,
    /// Most bytes over all files. Default 32 MiB.
    pub max_bytes: u64,
}

impl Default for DatasetLimits {
    fn default() -> Self {
        DatasetLimits {
            max_files: 1024,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why a dataset listing was refused. Every variant names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    /// A path that is empty, absolute, has `.`/`..`/empty components, a
    /// backslash or a control character, or is too long.
    #[error("dataset path {path:?}: {reason}")]
    BadPath {
        /// The path (shortened to 200 characters).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same path listed twice.
    #[error("dataset path {0:?} appears twice")]
    Duplicate(String),
    /// A path used both as a file and as a directory of another file.
    #[error("dataset path {0:?} is a file and also the directory of another file")]
    FileIsDirectory(String),
    /// No files at all.
    #[error("the dataset has no files")]
    Empty,
    /// More files than allowed.
    #[error("the dataset has {count} files, the limit is {max}")]
    TooManyFiles {
        /// Files listed (or seen so far).
        count: u64,
        /// The limit.
        max: u64,
    },
    /// More bytes than allowed.
    #[error("the dataset holds {bytes} bytes, the limit is {max}")]
    TooManyBytes {
        /// Bytes listed (or seen so far).
        bytes: u64,
        /// The limit.
        max: u64,
    },
}

/// Checks one relative dataset path: non-empty, at most 1024 bytes,
/// `/`-separated components that are neither empty, `.` nor `..`, no
/// leading `/`, no backslash, no control characters. Such a path can only
/// name something *inside* the dataset root, on every platform.
pub fn check_dataset_path(path: &str) -> Result<(), DatasetError> {
    let bad = |reason| DatasetError::BadPath {
        path: path.chars().take(200).collect(),
        reason,
    };
    if path.is_empty() {
        return Err(bad("is empty"));
    }
    if path.len() > MAX_DATASET_PATH_BYTES {
        return Err(bad("is longer than 1024 bytes"));
    }
    if path.starts_with('/') {
        return Err(bad("is absolute; paths are relative to the dataset root"));
    }
    if path.contains('\\') {
        return Err(bad("contains a backslash; use `/` between components"));
    }
    if path.chars().any(char::is_control) {
        return Err(bad("contains a control character"));
    }
    for c in path.split('/') {
        match c {
            "" => return Err(bad("has an empty component")),
            "." => return Err(bad("has a `.` component")),
            ".." => return Err(bad("has a `..` component, which would escape the dataset")),
            _ => {}
        }
    }
    Ok(())
}

/// A checked dataset listing, sorted by path: what a goal's dataset hash
/// commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetListing {
    files: Vec<DatasetFile>,
}

impl DatasetListing {
    /// Checks every path, refuses duplicates and file/directory clashes,
    /// and enforces `limits`; the order of `files` does not matter.
    pub fn new(
        mut files: Vec<DatasetFile>,
        limits: &DatasetLimits,
    ) -> Result<DatasetListing, DatasetError> {
        if files.is_empty() {
            return Err(DatasetError::Empty);
        }
        let max_files = limits.max_files.min(HARD_MAX_DATASET_FILES);
        if files.len() as u64 > max_files {
            return Err(DatasetError::TooManyFiles {
                count: files.len() as u64,
                max: max_files,
            });
        }
        let max_bytes = limits.max_bytes.min(HARD_MAX_DATASET_BYTES);
        let total = files.iter().fold(0u64, |acc, f| acc.saturating_add(f.size));
        if total > max_bytes {
            return Err(DatasetError::TooManyBytes {
                bytes: total,
                max: max_bytes,
            });
        }
        for f in &files {
            check_dataset_path(&f.path)?;
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut seen = BTreeSet::new();
        for f in &files {
            if !seen.insert(f.path.as_str()) {
                return Err(DatasetError::Duplicate(f.path.clone()));
            }
        }
        for f in &files {
            let mut prefix = f.path.as_str();
            while let Some((dir, _)) = prefix.rsplit_once('/') {
                if seen.contains(dir) {
                    return Err(DatasetError::FileIsDirectory(dir.to_string()));
                }
                prefix = dir;
            }
        }
        Ok(DatasetListing { files })
    }

    /// The files, sorted by path (byte order).
    pub fn files(&self) -> &[DatasetFile] {
        &self.files
    }

    /// Sum of the file sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Canonical bytes (domain `ian/dataset/v1`, layout in
    /// `docs/ENCODING.md`). Nodes store and serve the listing as the blob
    /// whose address is the dataset hash.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(domain::DATASET);
        e.count(self.files.len());
        for f in &self.files {
            e.str(&f.path).hash(&f.sha256).u64(f.size);
        }
        e.finish()
    }

    /// The dataset hash: SHA-256 of the canonical bytes.
    pub fn hash(&self) -> Hash32 {
        crate::hash::sha256(&self.to_canonical_bytes())
    }

    /// Reads canonical bytes back; the listing must be sorted, valid and
    /// within `limits`.
    pub fn from_canonical_bytes(
        b: &[u8],
        limits: &DatasetLimits,
    ) -> Result<DatasetListing, DecodeError> {
        let mut d = Decoder::new(b, domain::DATASET)?;
        let max = limits.max_files.min(HARD_MAX_DATASET_FILES) as usize;
        let n = d.count("dataset.files", max, 4 + 32 + 8)?;
        let mut files = Vec::with_capacity(n);
        for _ in 0..n {
            let path = d
                .str("dataset.file.path", MAX_DATASET_PATH_BYTES)?
                .to_string();
            let sha256 = d.hash("dataset.file.sha256")?;
            let size = d.u64("dataset.file.size")?;
            files.push(DatasetFile { path, sha256, size });
        }
        d.finish()?;
        if files.windows(2).any(|w| w[0].path >= w[1].path) {
            return Err(DecodeError::invalid(
                "dataset.files",
                "paths are not sorted and unique",
            ));
        }
        DatasetListing::new(files, limits).map_err(|e| DecodeError::invalid("dataset", e))
    }
}
