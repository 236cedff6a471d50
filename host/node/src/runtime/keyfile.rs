//! Secret key files: 32 bytes as hex on one line, created with mode 0600.
//!
//! Used for the node's Ed25519 checkpoint key, contributor keys and the
//! operator API key file. Written through a temporary file and a rename so a
//! crash never leaves a half-written key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// I/O on the file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("key file {0} already exists (use --force to overwrite)")]
    Exists(PathBuf),
    /// The content is not 64 hex digits.
    #[error("key file {0} does not hold a 32-byte hex key")]
    Malformed(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fresh random 32 bytes from the OS.
pub fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("OS randomness is available");
    b
}

/// Write `text` to `path` with mode 0600, atomically.
pub fn write_secret(path: &Path, text: &str, force: bool) -> Result<(), KeyFileError> {
    if path.exists() && !force {
        return Err(KeyFileError::Exists(path.to_path_buf()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io(&tmp))?;
        f.write_all(b"\n").map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

/// Read a text secret (trimmed).
pub fn read_secret(path: &Path) -> Result<String, KeyFileError> {
    Ok(std::fs::read_to_string(path)
        .map_err(io(path))?
        .trim()
        .to_string())
}

/// Read 32 hex-encoded bytes.
pub fn read_key32(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let text = read_secret(path)?;
    let v = hex::decode(&text).map_err(|_| KeyFileError::Malformed(path.to_path_buf()))?;
    v.try_into()
        .map_err(|_| KeyFileError::Malformed(path.to_path_buf()))
}

/// Read an Ed25519 signing key.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    Ok(SigningKey::from_bytes(&read_key32(path)?))
}

/// Make a new Ed25519 key file; returns the key.
pub fn create_signing_key(path: &Path, force: bool) -> Result<SigningKey, KeyFileError> {
    let k = SigningKey::from_bytes(&random32());
    write_secret(path, &hex::encode(k.to_bytes()), force)?;
    Ok(k)
}

/// Load the key at `path`, creating it on first use.
pub fn load_or_create_signing_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    if path.exists() {
        read_signing_key(path)
    } else {
        create_signing_key(path, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_reads_back_and_is_private() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        let k = create_signing_key(&p, false).unwrap();
        assert_eq!(read_signing_key(&p).unwrap().to_bytes(), k.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(matches!(
            create_signing_key(&p, false),
            Err(KeyFileError::Exists(_))
        ));
    }

    #[test]
    fn malformed_key_file_is_a_typed_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        std::fs::write(&p, "not hex").unwrap();
        assert!(matches!(
            read_signing_key(&p),
            Err(KeyFileError::Malformed(_))
        ));
    }
}
