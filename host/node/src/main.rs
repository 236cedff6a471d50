//! `ian-host`: the thin binary over the `ian_node` library. Parses flags,
//! runs one command, and prints any error as one clear line.

use clap::Parser;

fn main() {
    let cli = ian_node::cli::args::Cli::parse();
    let json = cli.json;
    match ian_node::cli::commands::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let line = ian_node::cli::common::error_line(&e);
            if json {
                let body =
                    serde_json::json!({"error": {"code": "command_failed", "message": line}});
                println!("{body}");
            } else {
                eprintln!("error: {line}");
            }
            std::process::exit(1);
        }
    }
}
