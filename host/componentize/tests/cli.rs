//! Specifications of the `ian-componentize` binary used by build scripts.

use std::process::Command;

use ian_componentize::{World, embed_world, surface};

const AGENT_WAT: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "ian:eval/agent@0.1.0#init") (param i32 i32) (result i32)
    (i32.store8 (i32.const 8) (i32.const 0)) (i32.const 8))
  (func (export "ian:eval/agent@0.1.0#act") (param i64 i32 i32) (result i32)
    (i32.store (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) (i32.const 0)) (i32.const 16))
)
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ian-componentize"))
}

fn agent_module() -> Vec<u8> {
    embed_world(&wat::parse_str(AGENT_WAT).unwrap(), World::AgentPack).unwrap()
}

#[test]
fn converts_every_input_output_pair_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let module = agent_module();
    let (a_in, b_in) = (dir.path().join("a.wasm"), dir.path().join("b.wasm"));
    std::fs::write(&a_in, &module).unwrap();
    std::fs::write(&b_in, &module).unwrap();
    let (a_out, b_out) = (dir.path().join("out/a.wasm"), dir.path().join("out/b.wasm"));
    let status = bin().args([&a_in, &a_out, &b_in, &b_out]).status().unwrap();
    assert!(status.success());
    for out in [a_out, b_out] {
        let bytes = std::fs::read(out).unwrap();
        assert_eq!(
            surface(&bytes).unwrap().exports,
            vec!["ian:eval/agent@0.1.0".to_string()]
        );
    }
}

#[test]
fn leaves_an_up_to_date_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.wasm");
    let output = dir.path().join("a.component.wasm");
    std::fs::write(&input, agent_module()).unwrap();
    assert!(bin().arg(&input).arg(&output).status().unwrap().success());
    let first = std::fs::metadata(&output).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = bin().arg(&input).arg(&output).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("unchanged"));
    assert_eq!(
        std::fs::metadata(&output).unwrap().modified().unwrap(),
        first
    );
}

#[test]
fn refuses_an_odd_number_of_arguments() {
    let out = bin().arg("only-input.wasm").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pairs"));
}

#[test]
fn names_the_file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("junk.wasm");
    std::fs::write(&input, b"junk").unwrap();
    let out = bin()
        .arg(&input)
        .arg(dir.path().join("o.wasm"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("junk.wasm") && stderr.contains("not a WebAssembly binary"),
        "{stderr}"
    );
}
