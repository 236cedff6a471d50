//! Progress for long operations (backup downloads, restore checks, bench
//! runs) through `indicatif`, drawn on stderr only when stderr is a
//! terminal: in a pipe, a log file or CI nothing is printed and stdout
//! (JSON included) is never touched.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress would be drawn at all.
pub fn drawn() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal()
}

fn target() -> ProgressDrawTarget {
    if drawn() {
        ProgressDrawTarget::stderr_with_hz(10)
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A bar counting bytes (`len` when known, else a spinner with the count).
pub fn bytes(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, target());
    let style = match len {
        Some(_) => ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        ),
        None => {
            ProgressStyle::with_template("{spinner} {msg} {binary_bytes} {binary_bytes_per_sec}")
        }
    };
    if let Ok(s) = style {
        bar.set_style(s.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A bar counting items out of `len`.
pub fn items(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target());
    if let Ok(s) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(s.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_off_a_terminal_are_hidden_but_still_count() {
        // The test harness captures stderr: not a terminal.
        if drawn() {
            return;
        }
        let b = items(10, "checking");
        b.inc(3);
        assert!(b.is_hidden());
        assert_eq!(b.position(), 3);
        let b = bytes(None, "downloading");
        b.inc(4096);
        assert!(b.is_hidden());
        assert_eq!(b.position(), 4096);
    }
}
