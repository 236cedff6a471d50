//! The `ian-host` commands. Each one is a library call plus printing: human
//! tables by default, one JSON document with `--json`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::Method;
use serde_json::{Value, json};

use crate::cli::{Cli, Command, GoalCommand, TauCommand};
use crate::client::{Client, ClientError};
use crate::keyfile::{self, KeyFileError};

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
    Config(#[from] crate::config::ConfigError),
    /// The node could not start or stop cleanly.
    #[error(transparent)]
    Node(#[from] crate::service::NodeError),
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

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> CommandError + '_ {
    move |e| CommandError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
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

/// Run one command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32, CommandError> {
    let format: crate::telemetry::LogFormat =
        cli.log_format.parse().map_err(CommandError::Usage)?;
    let out = Out { json: cli.json };
    match cli.command {
        Command::Serve(a) => crate::serve::run(a, format),
        Command::Keygen(a) => {
            crate::telemetry::init(format, "warn");
            let k = keyfile::create_signing_key(&a.out, a.force)?;
            let public = hex::encode(k.verifying_key().to_bytes());
            out.print(&json!({"public_key": public, "file": a.out}), || {
                format!(
                    "wrote contributor key {}\npublic key (contributor id): {public}",
                    a.out.display()
                )
            });
            Ok(0)
        }
        Command::Pack(a) => {
            let r = crate::ops::build_pack(&a)?;
            out.print(&r, || {
                format!(
                    "wrote {}\npack hash {}\ncode hash {}\ncomponent {} bytes ({}), params {} bytes",
                    a.out.display(),
                    r["pack_hash"].as_str().unwrap_or(""),
                    r["code_hash"].as_str().unwrap_or(""),
                    r["component_bytes"],
                    r["input"].as_str().unwrap_or(""),
                    r["params_bytes"]
                )
            });
            Ok(0)
        }
        Command::Verify(a) => {
            let r = crate::ops::verify_receipt_file(&a.receipt, &a.node_key)?;
            let okay = r["valid"].as_bool() == Some(true);
            out.print(&r, || {
                if okay {
                    format!(
                        "receipt OK: entry {} of goal {} is in the log of size {} with root {} signed by {}",
                        r["log_index"], r["goal"].as_str().unwrap_or(""), r["size"], r["root"].as_str().unwrap_or(""), r["node_key"].as_str().unwrap_or("")
                    )
                } else {
                    format!("receipt INVALID: {}", r["error"].as_str().unwrap_or(""))
                }
            });
            Ok(if okay { 0 } else { EXIT_MISMATCH })
        }
        Command::Eval(a) => {
            crate::telemetry::init(format, "warn");
            let progress = !out.json;
            let r = crate::ops::eval_local(&a.goal, &a.pack, progress)?;
            out.print(&r, || crate::ops::render_eval(&r));
            Ok(match r["verdict"].as_str() {
                Some("accepted") => 0,
                Some("inconclusive") => EXIT_INCONCLUSIVE,
                _ => EXIT_REJECTED,
            })
        }
        Command::Tau(TauCommand::Keygen(a)) => {
            crate::telemetry::init(format, "warn");
            let r = crate::tau_wiring::keygen(&a.out, a.force)?;
            out.print(&r, || {
                format!(
                    "wrote Tau key {}\nBLS public key: {}",
                    a.out.display(),
                    r["public_key"].as_str().unwrap_or("")
                )
            });
            Ok(0)
        }
        other => {
            crate::telemetry::init(format, "warn");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| CommandError::Usage(format!("cannot start the async runtime: {e}")))?;
            rt.block_on(run_client(other, out))
        }
    }
}

/// Output mode.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// JSON instead of text.
    pub json: bool,
}

impl Out {
    /// Print `v` as JSON, or the human text.
    pub fn print(&self, v: &Value, human: impl FnOnce() -> String) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(v).unwrap_or_default()
            );
        } else {
            let _ = writeln!(stdout, "{}", human());
        }
    }
}

fn node_client(url: &str) -> Result<Client, CommandError> {
    Ok(Client::new(url)?)
}

async fn run_client(cmd: Command, out: Out) -> Result<i32, CommandError> {
    match cmd {
        Command::Goal(GoalCommand::Publish(a)) => {
            let key = match (&a.operator_key, &a.operator_key_file) {
                (Some(k), _) => k.clone(),
                (None, Some(f)) => keyfile::read_secret(f)?,
                (None, None) => {
                    return Err(CommandError::Usage(
                        "goal publish needs the operator key: --operator-key, IAN_OPERATOR_KEY or --operator-key-file <data_dir>/operator.key".into(),
                    ));
                }
            };
            let client = node_client(&a.node.node)?.with_operator_key(Some(key));
            let req = crate::ops::publish_request(&a.goal)?;
            let v: Value = client
                .json(Method::POST, "/api/v1/goals", Some(&req))
                .await?;
            out.print(&v, || {
                format!(
                    "published goal {} ({})\ngoal hash {}",
                    v["id"].as_str().unwrap_or(""),
                    v["title"].as_str().unwrap_or(""),
                    v["goal_hash"].as_str().unwrap_or("")
                )
            });
            Ok(0)
        }
        Command::Submit(a) => {
            let client = node_client(&a.node.node)?;
            let key = keyfile::read_signing_key(&a.key)?;
            let pack = read(&a.pack)?;
            match crate::ops::submit(&client, &a.goal, &pack, &key, true).await? {
                crate::ops::SubmitOutcome::Accepted(v) => {
                    if let Some(p) = &a.receipt_out {
                        std::fs::write(
                            p,
                            serde_json::to_vec_pretty(&v["receipt"]).unwrap_or_default(),
                        )
                        .map_err(file_err(p))?;
                    }
                    out.print(&v, || crate::ops::render_accepted(&v));
                    Ok(0)
                }
                crate::ops::SubmitOutcome::Rejected(v) => {
                    out.print(&v, || {
                        format!(
                            "rejected: {} — {}",
                            v["error"]["code"].as_str().unwrap_or(""),
                            v["error"]["message"].as_str().unwrap_or("")
                        )
                    });
                    Ok(EXIT_REJECTED)
                }
            }
        }
        Command::Status(a) => {
            let client = node_client(&a.node.node)?;
            let v: Value = match &a.goal {
                Some(g) => client.get(&format!("/api/v1/goals/{g}")).await?,
                None => {
                    let info: Value = client.get("/api/v1/node").await?;
                    let goals: Value = client.get("/api/v1/goals").await?;
                    json!({"node": info, "goals": goals["goals"]})
                }
            };
            out.print(&v, || crate::ops::render_status(&v));
            Ok(0)
        }
        Command::Leaderboard(a) => {
            let client = node_client(&a.node.node)?;
            let v: Value = client
                .get(&format!("/api/v1/goals/{}/leaderboard", a.goal))
                .await?;
            out.print(&v, || crate::ops::render_leaderboard(&v));
            Ok(0)
        }
        Command::Log(a) => {
            let client = node_client(&a.node.node)?;
            let v: Value = client
                .get(&format!(
                    "/api/v1/goals/{}/log?start={}&limit={}",
                    a.goal, a.start, a.limit
                ))
                .await?;
            out.print(&v, || crate::ops::render_log(&v));
            Ok(0)
        }
        Command::Proof(a) => {
            let client = node_client(&a.node.node)?;
            let q = match (a.from, a.index) {
                (Some(from), _) => crate::ops::ProofQuery::Consistency { from, to: a.to },
                (None, Some(index)) => crate::ops::ProofQuery::Inclusion {
                    index,
                    size: a.size,
                },
                (None, None) => {
                    return Err(CommandError::Usage("give an entry index or --from".into()));
                }
            };
            let v = crate::ops::proof(&client, &a.goal, q, a.node_key.as_deref()).await?;
            out.print(&v, || crate::ops::render_proof(&v));
            Ok(0)
        }
        Command::Replay(a) => {
            let client = node_client(&a.node.node)?;
            let v = crate::ops::replay(&client, &a.goal, a.index, a.node_key.as_deref(), !out.json)
                .await?;
            let same = v["identical"].as_bool() == Some(true);
            out.print(&v, || crate::ops::render_replay(&v));
            Ok(if same { 0 } else { EXIT_MISMATCH })
        }
        Command::Tau(TauCommand::Status(a)) => {
            let client = node_client(&a.node.node)?;
            let v: Value = client.get("/api/v1/tau").await?;
            out.print(&v, || crate::tau_wiring::render_status(&v));
            Ok(0)
        }
        Command::BenchSubmit(a) => {
            let client = node_client(&a.node.node)?;
            let v = crate::bench::run(&client, &a).await?;
            out.print(&v, || crate::bench::render(&v));
            Ok(0)
        }
        Command::Serve(_)
        | Command::Keygen(_)
        | Command::Pack(_)
        | Command::Verify(_)
        | Command::Eval(_)
        | Command::Tau(TauCommand::Keygen(_)) => {
            unreachable!("handled without a runtime")
        }
    }
}

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
