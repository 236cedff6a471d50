//! `ian-host` with a wall clock the test moves: the same command line
//! (`ian_node::cli::main`), except that the node's clock reads the
//! milliseconds since the Unix epoch written in the file named by
//! `IAN_TEST_CLOCK_FILE`, re-read at every use. Tests cross a UTC midnight
//! with it (a daily quota's reset) by rewriting the file.
//!
//! It exists only in this unpublished tests package: the shipped `ian-host`
//! has no way to move its clock (`ian_node::runtime::clock`).

use std::path::PathBuf;
use std::sync::OnceLock;

/// Names the file holding the clock's current time, in milliseconds.
const CLOCK_FILE_ENV: &str = "IAN_TEST_CLOCK_FILE";

static CLOCK_FILE: OnceLock<PathBuf> = OnceLock::new();

/// The time written in the clock file. Tests replace the file atomically
/// (write and rename), so a read never sees half a number.
fn file_clock() -> u64 {
    let path = CLOCK_FILE.get().expect("clock file set before the clock");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{CLOCK_FILE_ENV}={}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|e| {
        panic!(
            "{CLOCK_FILE_ENV}={}: {text:?} is not milliseconds since the epoch: {e}",
            path.display()
        )
    })
}

fn main() {
    let Some(path) = std::env::var_os(CLOCK_FILE_ENV) else {
        eprintln!("error: set {CLOCK_FILE_ENV} to a file holding milliseconds since the epoch");
        std::process::exit(2);
    };
    CLOCK_FILE.get_or_init(|| PathBuf::from(path));
    // Read once now, so a bad file fails here and not inside the node.
    file_clock();
    ian_node::runtime::clock::replace_source(file_clock).expect("nothing read the clock yet");
    std::process::exit(ian_node::cli::main());
}
