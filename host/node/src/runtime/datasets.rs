//! Dataset directories on disk: reading an author's directory into a
//! listing, and materialising a listing from content-addressed blobs as a
//! read-only directory a harness may mount.
//!
//! Every file is opened through a cap-std [`Dir`] handle rooted at the
//! dataset (or datasets) directory, so no listed path, symlink or `..` can
//! reach outside it, whatever the listing says. A materialised directory is
//! trusted only after its content hashes to the goal's dataset hash: it is
//! built in a temporary sibling, every file checked against the listing
//! before it is written, then renamed into place in one step; on reuse
//! (restart) it is walked and hashed again, and rebuilt from the blobs when
//! anything differs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Permissions, PermissionsExt as _};
use ian_core::dataset::{DatasetError, DatasetFile, DatasetLimits, DatasetListing};
use ian_core::{Hash32, sha256};

/// Why a dataset could not be read or materialised.
#[derive(Debug, thiserror::Error)]
pub enum DatasetIoError {
    /// The listing itself is invalid or over the limits.
    #[error(transparent)]
    Listing(#[from] DatasetError),
    /// A symlink, device, socket or other non-regular entry.
    #[error(
        "dataset entry {path:?} is not a regular file or directory ({kind}); datasets hold plain files only"
    )]
    NotRegular {
        /// Relative path.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A file name that is not UTF-8.
    #[error("dataset entry {0:?} has a name that is not UTF-8")]
    NotUtf8(String),
    /// A blob needed to build the directory is missing.
    #[error("dataset file {path:?}: blob {sha256} is not available")]
    MissingBlob {
        /// Relative path.
        path: String,
        /// Its content hash.
        sha256: Hash32,
    },
    /// A blob's bytes do not match the listing.
    #[error(
        "dataset file {path:?}: blob bytes hash to {actual} ({size} bytes), the listing says {expected} ({expected_size} bytes)"
    )]
    BlobMismatch {
        /// Relative path.
        path: String,
        /// Listed hash.
        expected: Hash32,
        /// Listed size.
        expected_size: u64,
        /// Hash of the bytes found.
        actual: Hash32,
        /// Size of the bytes found.
        size: u64,
    },
    /// A file system operation failed.
    #[error("dataset {path}: {message}")]
    Io {
        /// Where.
        path: String,
        /// What failed.
        message: String,
    },
}

fn io(path: impl std::fmt::Display, e: std::io::Error) -> DatasetIoError {
    DatasetIoError::Io {
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// Walked files: relative path and bytes.
pub type Walked = Vec<(String, Vec<u8>)>;

/// Walks `dir` (no symlinks followed, none accepted), reading every
/// regular file; stops as soon as `limits` are exceeded.
fn walk(dir: &Dir, limits: &DatasetLimits) -> Result<Walked, DatasetIoError> {
    let mut out = Vec::new();
    let mut bytes = 0u64;
    let mut stack: Vec<String> = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let sub = if rel.is_empty() {
            dir.try_clone().map_err(|e| io(".", e))?
        } else {
            dir.open_dir(&rel).map_err(|e| io(&rel, e))?
        };
        for entry in sub.entries().map_err(|e| io(&rel, e))? {
            let entry = entry.map_err(|e| io(&rel, e))?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| DatasetIoError::NotUtf8(name.to_string_lossy().into_owned()))?;
            let path = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            // `file_type` of a directory entry does not follow symlinks.
            let ft = entry.file_type().map_err(|e| io(&path, e))?;
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let data = sub.read(name).map_err(|e| io(&path, e))?;
                bytes = bytes.saturating_add(data.len() as u64);
                if bytes > limits.max_bytes {
                    return Err(DatasetError::TooManyBytes {
                        bytes,
                        max: limits.max_bytes,
                    }
                    .into());
                }
                out.push((path, data));
                if out.len() as u64 > limits.max_files {
                    return Err(DatasetError::TooManyFiles {
                        count: out.len() as u64,
                        max: limits.max_files,
                    }
                    .into());
                }
            } else {
                let kind = if ft.is_symlink() {
                    "a symlink"
                } else {
                    "not a file"
                };
                return Err(DatasetIoError::NotRegular { path, kind });
            }
        }
    }
    Ok(out)
}

fn listing_of(files: &Walked, limits: &DatasetLimits) -> Result<DatasetListing, DatasetIoError> {
    let list = files
        .iter()
        .map(|(p, b)| DatasetFile {
            path: p.clone(),
            sha256: sha256(b),
            size: b.len() as u64,
        })
        .collect();
    Ok(DatasetListing::new(list, limits)?)
}

/// Reads an author's dataset directory: every regular file under `root`
/// (symlinks and special files are refused, not followed), checked and
/// bounded by `limits`. Returns the listing and the files' bytes by path.
pub fn read_dataset_dir(
    root: &Path,
    limits: &DatasetLimits,
) -> Result<(DatasetListing, Walked), DatasetIoError> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| io(root.display(), e))?;
    if !meta.is_dir() {
        return Err(DatasetIoError::NotRegular {
            path: root.display().to_string(),
            kind: "not a directory",
        });
    }
    let dir =
        Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| io(root.display(), e))?;
    let files = walk(&dir, limits)?;
    let listing = listing_of(&files, limits)?;
    Ok((listing, files))
}

/// Whether the directory `name` under `datasets` holds exactly `listing`.
fn verify(datasets: &Dir, name: &str, listing: &DatasetListing) -> Result<(), String> {
    let dir = datasets.open_dir(name).map_err(|e| e.to_string())?;
    let limits = DatasetLimits {
        max_files: listing.files().len() as u64,
        max_bytes: listing.total_bytes(),
    };
    let files = walk(&dir, &limits).map_err(|e| e.to_string())?;
    let found = listing_of(&files, &limits).map_err(|e| e.to_string())?;
    if found.hash() != listing.hash() {
        return Err(format!(
            "content hashes to {}, expected {}",
            found.hash(),
            listing.hash()
        ));
    }
    Ok(())
}

/// Makes a directory tree writable again so it can be removed.
fn remove_tree(datasets: &Dir, name: &str) -> std::io::Result<()> {
    fn writable(d: &Dir) -> std::io::Result<()> {
        for e in d.entries()? {
            let e = e?;
            if e.file_type()?.is_dir() {
                d.set_permissions(e.file_name(), Permissions::from_mode(0o755))?;
                writable(&d.open_dir(e.file_name())?)?;
            }
        }
        Ok(())
    }
    if datasets.symlink_metadata(name)?.is_dir() {
        datasets.set_permissions(name, Permissions::from_mode(0o755))?;
        writable(&datasets.open_dir(name)?)?;
        datasets.remove_dir_all(name)
    } else {
        datasets.remove_file(name)
    }
}

fn read_only(d: &Dir) -> std::io::Result<()> {
    for e in d.entries()? {
        let e = e?;
        if e.file_type()?.is_dir() {
            read_only(&d.open_dir(e.file_name())?)?;
            d.set_permissions(e.file_name(), Permissions::from_mode(0o555))?;
        } else {
            d.set_permissions(e.file_name(), Permissions::from_mode(0o444))?;
        }
    }
    Ok(())
}

/// Makes `<root>/<dataset hash>/` hold exactly `listing`, read-only, and
/// returns its path. An existing directory is reused only if it verifies;
/// otherwise (absent, tampered, half-written) it is rebuilt from `blob`,
/// whose bytes are checked against the listing before they are written.
pub fn materialise(
    root: &Path,
    listing: &DatasetListing,
    blob: &dyn Fn(&Hash32) -> Option<Vec<u8>>,
) -> Result<PathBuf, DatasetIoError> {
    let name = listing.hash().to_hex();
    std::fs::create_dir_all(root).map_err(|e| io(root.display(), e))?;
    let datasets =
        Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| io(root.display(), e))?;
    if datasets.exists(&name) {
        match verify(&datasets, &name, listing) {
            Ok(()) => return Ok(root.join(&name)),
            Err(why) => {
                tracing::warn!(dataset = %name, reason = %why, "dataset directory does not match its hash; rebuilding from blobs");
                remove_tree(&datasets, &name).map_err(|e| io(&name, e))?;
            }
        }
    }
    // A build directory private to this call: concurrent builders (two CLI
    // runs sharing a cache) never touch each other's files, and leftovers of
    // an interrupted build are never trusted (only the final name is).
    let nonce = hex::encode(crate::runtime::keyfile::random32());
    let tmp = format!("{name}.tmp-{}-{}", std::process::id(), &nonce[..16]);
    datasets.create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    let built = build_into(&datasets, &tmp, listing, blob);
    if let Err(e) = built {
        let _ = remove_tree(&datasets, &tmp);
        return Err(e);
    }
    if let Err(e) = datasets.rename(&tmp, &datasets, &name) {
        let _ = remove_tree(&datasets, &tmp);
        // Another builder may have won the race; its result must verify too.
        verify(&datasets, &name, listing).map_err(|why| DatasetIoError::Io {
            path: name.clone(),
            message: format!("{e}; the existing directory does not verify: {why}"),
        })?;
        return Ok(root.join(&name));
    }
    datasets
        .set_permissions(&name, Permissions::from_mode(0o555))
        .map_err(|e| io(&name, e))?;
    // Make the rename durable before the directory is relied on.
    std::fs::File::open(root)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(root.display(), e))?;
    Ok(root.join(&name))
}

/// Writes every listed file into `datasets/<tmp>`, checking each blob
/// against the listing first, and leaves the files read-only.
fn build_into(
    datasets: &Dir,
    tmp: &str,
    listing: &DatasetListing,
    blob: &dyn Fn(&Hash32) -> Option<Vec<u8>>,
) -> Result<(), DatasetIoError> {
    let build = datasets.open_dir(tmp).map_err(|e| io(tmp, e))?;
    for f in listing.files() {
        let bytes = blob(&f.sha256).ok_or_else(|| DatasetIoError::MissingBlob {
            path: f.path.clone(),
            sha256: f.sha256,
        })?;
        let actual = sha256(&bytes);
        if actual != f.sha256 || bytes.len() as u64 != f.size {
            return Err(DatasetIoError::BlobMismatch {
                path: f.path.clone(),
                expected: f.sha256,
                expected_size: f.size,
                actual,
                size: bytes.len() as u64,
            });
        }
        if let Some((parent, _)) = f.path.rsplit_once('/') {
            build.create_dir_all(parent).map_err(|e| io(&f.path, e))?;
        }
        let mut file = build.create(&f.path).map_err(|e| io(&f.path, e))?;
        file.write_all(&bytes).map_err(|e| io(&f.path, e))?;
        file.sync_all().map_err(|e| io(&f.path, e))?;
    }
    read_only(&build).map_err(|e| io(tmp, e))
}
