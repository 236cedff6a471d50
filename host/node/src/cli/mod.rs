//! The `ian-host` subcommands: argument parsing ([`args`]), dispatch
//! ([`commands`]), the HTTP client of a node ([`client`]), local work
//! ([`ops`]: pack, eval, replay, proof checks) and the `serve` entry point.
//! Renderers print the typed views of [`crate::runtime::views`].

pub mod args;
pub mod bench;
pub mod client;
pub mod commands;
pub mod common;
pub mod dev;
pub mod finals;
pub mod new;
pub mod ops;
pub mod progress;
pub mod render;
pub mod serve;
pub mod tau;
pub mod telemetry;
pub mod worker;

/// The whole `ian-host` program: parse the process arguments, run one
/// command, print any error as one clear line (JSON with `--json`), and
/// return the exit code. A function rather than the binary's `main` so a
/// program that links this library runs exactly the same command line.
pub fn main() -> i32 {
    use clap::Parser;
    let cli = args::Cli::parse();
    let json = cli.json;
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let line = common::error_line(&e);
            if json {
                let body =
                    serde_json::json!({"error": {"code": "command_failed", "message": line}});
                println!("{body}");
            } else {
                eprintln!("error: {line}");
            }
            1
        }
    }
}
