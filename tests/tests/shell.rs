//! What the shell sees: completions and man pages generated from the same
//! clap definitions the binary parses with, and logs without colour codes
//! when they do not go to a terminal.

use ian_tests::*;

#[test]
fn bash_completion_is_a_valid_script_that_knows_every_subcommand() {
    let o = cli(&["completions", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = stdout(&o);
    for sub in [
        "serve",
        "submit",
        "verify-evidence",
        "peers",
        "completions",
        "man",
    ] {
        assert!(script.contains(sub), "bash completion lacks {sub}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("ian-host.bash");
    std::fs::write(&f, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn completions_exist_for_zsh_fish_and_powershell_and_an_unknown_shell_is_refused() {
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let o = cli(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        assert!(stdout(&o).contains("ian-host"), "{shell}");
    }
    let o = cli(&["completions", "tcsh"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("tcsh"), "{}", stderr(&o));
}

#[test]
fn man_writes_a_page_for_the_binary_and_each_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    let o = cli(&["man", "--out-dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let main = std::fs::read_to_string(dir.join("ian-host.1")).unwrap();
    assert!(main.starts_with(".ie") || main.contains(".TH"), "{main}");
    assert!(main.contains("ian\\-host"), "{main}");
    for page in ["ian-host-submit.1", "ian-host-serve.1", "ian-host-peers.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let o = cli(&["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for code in [
        "0 success",
        "1 the command failed",
        "2 wrong usage",
        "3 ",
        "4 ",
        "5 ",
    ] {
        assert!(
            text.contains("Exit codes: ") && text.contains(code),
            "{code}: {text}"
        );
    }
}

#[test]
fn componentize_turns_a_core_module_into_a_component_the_eval_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    // scripts/build-guests.sh builds the guests' core modules next to the
    // components it makes from them.
    let core = components()
        .parent()
        .unwrap()
        .join("guests/wasm32-unknown-unknown/release/buy_and_hold.wasm");
    if !core.is_file() {
        // The guests are built by scripts/build-guests.sh before the suite.
        panic!("{} missing: run ./scripts/build-guests.sh", core.display());
    }
    let out = tmp.path().join("bh.wasm");
    let o = cli(&[
        "componentize",
        core.to_str().unwrap(),
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json_out(&o);
    assert_eq!(r[0]["action"], "encoded", "{r}");
    let bytes = std::fs::read(&out).unwrap();
    // A component's preamble: magic, then layer 1 (version 0x0d).
    assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0");
    let goal = trading_goal(tmp.path(), "g", false);
    let e = cli(&[
        "eval",
        "--goal",
        goal.to_str().unwrap(),
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(e.status.success(), "{}{}", stdout(&e), stderr(&e));
    assert_eq!(json_out(&e)["verdict"], "accepted");
    let odd = cli(&["componentize", core.to_str().unwrap()]);
    assert!(!odd.status.success());
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(&tmp.path().join("data"), &[]);
    assert!(node.stop());
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(log.contains("INFO"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape in a log file: {log:?}"
    );
}
