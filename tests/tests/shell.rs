//! Shell completions and man pages, generated from the same clap
//! definitions the binary parses with.

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
