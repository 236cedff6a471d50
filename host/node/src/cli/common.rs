//! What every `ian-host` command shares: the error type, exit codes, file
//! reading and progress lines.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::cli::client::ClientError;
use crate::runtime::keyfile::KeyFileError;

/// Why a command failed. One line each, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Talking to the node failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A key file problem.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::runtime::config::ConfigError),
    /// The node could not start or stop cleanly.
    #[error(transparent)]
    Node(#[from] crate::runtime::service::NodeError),
    /// Reading or writing a named file failed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Anything else the user must fix, as a sentence.
    #[error("{0}")]
    Usage(String),
}

pub fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> CommandError + '_ {
    move |e| CommandError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Read a whole file, refusing it by its size first: a file over `max`
/// bytes is never read into memory. `what` names the limit in the error.
pub fn read_at_most(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CommandError> {
    let len = std::fs::metadata(path).map_err(file_err(path))?.len();
    if len > max {
        return Err(CommandError::Usage(format!(
            "{} is {len} bytes, over {what} of {max} bytes; it was not read",
            path.display()
        )));
    }
    read(path)
}

/// The largest `.ianpack` file any goal could take: the hard component
/// and params caps plus room for the header and metadata.
pub const MAX_PACK_FILE_BYTES: u64 =
    ian_core::goal::HARD_MAX_COMPONENT_BYTES + ian_core::goal::HARD_MAX_PARAMS_BYTES + 64 * 1024;

/// Whether a file argument is `-`: stdin for an input, stdout for an output.
pub fn is_std_stream(path: &Path) -> bool {
    path == Path::new("-")
}

/// Read a whole file, or standard input when `path` is `-`, refusing more
/// than `max` bytes (stdin has no size to check first, so at most `max + 1`
/// bytes are read before the refusal). Lets packs flow through a pipe
/// (`ian-host pack ... --out - | ian-host submit - ...`) without a file.
pub fn read_input(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CommandError> {
    if !is_std_stream(path) {
        return read_at_most(path, max, what);
    }
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(file_err(Path::new("<stdin>")))?;
    if bytes.len() as u64 > max {
        return Err(CommandError::Usage(format!(
            "<stdin> holds more than {what} of {max} bytes; it was refused"
        )));
    }
    Ok(bytes)
}

/// Read a whole file with a clear error.
pub fn read(path: &Path) -> Result<Vec<u8>, CommandError> {
    std::fs::read(path).map_err(file_err(path))
}

/// Exit code of a submission the node rejected (the command itself worked).
pub const EXIT_REJECTED: i32 = 3;
/// Exit code of a verification or replay that found a mismatch.
pub const EXIT_MISMATCH: i32 = 4;
/// Exit code of a local evaluation the host could not decide (wall-clock
/// backstop, host failure): not a verdict on the pack.
pub const EXIT_INCONCLUSIVE: i32 = 5;

/// base64 (standard, padded) of bytes.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Show a one-line progress note on stderr for long work (only for people).
pub fn progress(enabled: bool, msg: &str) -> Option<Instant> {
    if enabled {
        eprintln!("… {msg}");
    }
    Some(Instant::now())
}

/// Finish a progress note with the elapsed time.
pub fn progress_done(enabled: bool, started: Option<Instant>, msg: &str) {
    if enabled && let Some(t) = started {
        eprintln!(
            "✓ {msg} ({:.1?})",
            t.elapsed().max(Duration::from_micros(1))
        );
    }
}

/// An error and its causes as one line, each cause once: a cause whose text
/// is already in the line (an error that prints its source itself) is not
/// repeated, and the HTTP client's wrapper layers, which say nothing the
/// line does not, are left out.
pub fn error_line(e: &dyn std::error::Error) -> String {
    let mut texts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        texts.push(c.to_string());
        cur = c.source();
    }
    let wrapper =
        |t: &str| t.starts_with("error sending request for url") || t.starts_with("client error (");
    let mut line = String::new();
    let last = texts.len() - 1;
    for (i, text) in texts.iter().enumerate() {
        if text.is_empty() || (wrapper(text) && i < last) || line.contains(text.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("key file k: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_shows_is_printed_once() {
        let e = Outer {
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(error_line(&e), "key file k: no such file");
    }

    #[test]
    fn a_cause_the_message_does_not_show_is_appended() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the goal")]
        struct Ctx(#[source] std::io::Error);
        let e = Ctx(std::io::Error::other("disk on fire"));
        assert_eq!(error_line(&e), "reading the goal: disk on fire");
    }
}
