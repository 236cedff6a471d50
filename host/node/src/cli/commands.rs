//! The `ian-host` commands. Each one is a library call plus printing: human
//! tables by default, one JSON document with `--json`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::args::{Cli, Command, GoalCommand, TauCommand};
use crate::cli::client::Client;
use crate::cli::common::{
    CommandError, EXIT_INCONCLUSIVE, EXIT_MISMATCH, EXIT_REJECTED, MAX_PACK_FILE_BYTES, file_err,
    is_std_stream, read, read_input,
};
use crate::cli::render;
use crate::runtime::keyfile;
use crate::runtime::views::{GoalList, GoalStatus, Leaderboard, LogRange, NodeInfo};

/// Run one command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32, CommandError> {
    let format: crate::cli::telemetry::LogFormat =
        cli.log_format.parse().map_err(CommandError::Usage)?;
    let out = Out { json: cli.json };
    match cli.command {
        Command::Serve(a) => crate::cli::serve::run(a, format),
        Command::Worker(a) => crate::cli::worker::run(a, format),
        Command::Workers(a) => crate::cli::worker::list(a, out.json),
        Command::Keygen(a) => {
            crate::cli::telemetry::init(format, "warn");
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
            let r = crate::cli::ops::build_pack(&a)?;
            if is_std_stream(&a.out) {
                // The pack went to stdout: the report goes to stderr.
                out.eprint(&r, || crate::cli::ops::render_pack(&r));
            } else {
                out.print(&r, || crate::cli::ops::render_pack(&r));
            }
            Ok(0)
        }
        Command::Verify(a) => {
            let r = crate::cli::ops::verify_receipt_file(
                &a.receipt,
                a.node_key.as_deref(),
                a.witness_policy.as_deref(),
            )?;
            out.print(&r, || crate::cli::ops::render_receipt_check(&r));
            Ok(if r.valid { 0 } else { EXIT_MISMATCH })
        }
        Command::VerifyEvidence(a) => {
            let r = crate::cli::ops::verify_evidence_file(
                &a.file,
                a.log_vkey.as_deref(),
                a.node_key.as_deref(),
            )?;
            out.print(&r, || crate::cli::ops::render_evidence_checks(&r));
            Ok(if r.iter().all(|c| c.proven) {
                0
            } else {
                EXIT_MISMATCH
            })
        }
        Command::Eval(a) if a.goal_id.is_none() => {
            crate::cli::telemetry::init(format, "warn");
            let progress = !out.json;
            let goal = a.goal.clone().unwrap_or_default();
            let r = crate::cli::ops::eval_local(&goal, &a.pack, &a.params, progress)?;
            out.print(&r, || crate::cli::ops::render_eval(&r));
            Ok(match r.verdict.as_str() {
                "accepted" => 0,
                "inconclusive" => EXIT_INCONCLUSIVE,
                _ => EXIT_REJECTED,
            })
        }
        Command::Componentize(a) => {
            if !a.pairs.len().is_multiple_of(2) {
                return Err(CommandError::Usage(format!(
                    "componentize takes input and output paths in pairs (got {} paths)",
                    a.pairs.len()
                )));
            }
            let mut done = Vec::new();
            for pair in a.pairs.chunks(2) {
                let (input, output) = (&pair[0], &pair[1]);
                let bytes = read(input)?;
                let c = ian_componentize::componentize(&bytes).map_err(|e| {
                    CommandError::Usage(format!("componentizing {}: {e}", input.display()))
                })?;
                std::fs::write(output, &c.bytes).map_err(file_err(output))?;
                let what = match c.input {
                    ian_componentize::InputKind::CoreModule => "encoded",
                    ian_componentize::InputKind::Component => "copied",
                };
                done.push(json!({"input": input, "output": output, "bytes": c.bytes.len(), "action": what}));
            }
            out.print(&done, || {
                done.iter()
                    .map(|d| {
                        format!(
                            "{} {} -> {} ({} bytes)",
                            d["action"].as_str().unwrap_or(""),
                            d["input"].as_str().unwrap_or(""),
                            d["output"].as_str().unwrap_or(""),
                            d["bytes"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(0)
        }
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut cmd, "ian-host", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man(a) => {
            std::fs::create_dir_all(&a.out_dir).map_err(file_err(&a.out_dir))?;
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::generate_to(cmd, &a.out_dir).map_err(file_err(&a.out_dir))?;
            out.print(&json!({"dir": a.out_dir}), || {
                format!("wrote man pages into {}", a.out_dir.display())
            });
            Ok(0)
        }
        Command::Goal(GoalCommand::Secret(a)) => {
            let max = ian_core::competition::MAX_HIDDEN_SEEDS;
            if a.count == 0 || a.count > max {
                return Err(CommandError::Usage(format!("--count must be 1..={max}")));
            }
            let secret =
                ian_core::competition::SeedSecret::from_bytes(crate::runtime::keyfile::random32());
            crate::runtime::keyfile::write_secret(
                &a.out,
                &format!("{}\n", secret.to_hex()),
                false,
            )?;
            let commitment = secret.commitment();
            out.print(
                &json!({"file": a.out, "commitment": commitment, "count": a.count}),
                || {
                    format!(
                        "wrote the secret to {} (keep it private until the last phase closes)\n\
                         add to the goal file:\n\n[competition]\n\
                         hidden_seeds = {{ commitment = \"{commitment}\", count = {} }}",
                        a.out.display(),
                        a.count
                    )
                },
            );
            Ok(0)
        }
        Command::Goal(GoalCommand::Check(a)) => {
            crate::cli::telemetry::init(format, "warn");
            let r =
                crate::cli::ops::check_goal(&a.goal, a.baseline.as_deref(), &a.params, !out.json)?;
            out.print(&r, || crate::cli::ops::render_goal_check(&r));
            Ok(if r.problems.is_empty() { 0 } else { 1 })
        }
        Command::Goal(GoalCommand::Baseline(a)) => {
            crate::cli::telemetry::init(format, "warn");
            let r = crate::cli::ops::measure_baseline(
                &a.goal,
                &a.agent,
                &a.params,
                a.runtime.clone(),
                !out.json,
            )?;
            out.print(&r, || crate::cli::ops::render_baseline(&r));
            Ok(0)
        }
        Command::Restore(a) => {
            crate::cli::telemetry::init(format, "warn");
            let key = a
                .node_key
                .clone()
                .unwrap_or_else(|| a.data_dir.join("node.key"));
            if !key.exists() {
                return Err(CommandError::Usage(format!(
                    "restore needs the node.key of the node that made the backup: pass --node-key FILE (nothing at {})",
                    key.display()
                )));
            }
            let bar = crate::cli::progress::items(0, "checking entries and checkpoints");
            let r =
                crate::runtime::backup::restore(&a.backup, &a.data_dir, &key, &|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .map_err(|e| CommandError::Usage(format!("restore refused: {e}")));
            bar.finish_and_clear();
            let r = r?;
            out.print(&r, || {
                let tail = if r.unsigned_entries > 0 {
                    format!(
                        "\n{} entries follow their goal's last stored checkpoint (durable before the backup, not yet signed): the node signs them when it starts",
                        r.unsigned_entries
                    )
                } else {
                    String::new()
                };
                format!(
                    "restored {} goal(s), {} entries into {}: {} checkpoint signatures verified under node key {} and every root replayed{tail}\nstart it: ian-host serve --data-dir {}",
                    r.goals,
                    r.entries,
                    r.store.display(),
                    r.checkpoints,
                    r.node_key,
                    a.data_dir.display()
                )
            });
            Ok(0)
        }
        Command::New(a) => {
            let r = crate::cli::new::create_in(
                a.kind,
                a.lang,
                &a.dir,
                a.name.as_deref(),
                a.sdk.as_deref(),
            )?;
            out.print(&r, || crate::cli::new::render(&r));
            Ok(0)
        }
        Command::Dev(a) => {
            crate::cli::telemetry::init(format, "warn");
            crate::cli::dev::run(&a, out)
        }
        Command::Tau(TauCommand::Keygen(a)) => {
            crate::cli::telemetry::init(format, "warn");
            let r = crate::cli::tau::keygen(&a.out, a.force)?;
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
            crate::cli::telemetry::init(format, "warn");
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
    pub fn print<T: serde::Serialize + ?Sized>(&self, v: &T, human: impl FnOnce() -> String) {
        self.write_to(&mut std::io::stdout().lock(), v, human);
    }

    /// As `print`, to stderr: for a command whose stdout carries data.
    pub fn eprint<T: serde::Serialize + ?Sized>(&self, v: &T, human: impl FnOnce() -> String) {
        self.write_to(&mut std::io::stderr().lock(), v, human);
    }

    fn write_to<T: serde::Serialize + ?Sized>(
        &self,
        w: &mut impl std::io::Write,
        v: &T,
        human: impl FnOnce() -> String,
    ) {
        if self.json {
            let _ = writeln!(w, "{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            let _ = writeln!(w, "{}", human());
        }
    }
}

/// The operator key from the flag, the environment or a file.
fn operator_key(what: &str, a: &crate::cli::args::OperatorKeyArgs) -> Result<String, CommandError> {
    match (&a.operator_key, &a.operator_key_file) {
        (Some(k), _) => Ok(k.clone()),
        (None, Some(f)) => Ok(keyfile::read_secret(f)?),
        (None, None) => Err(CommandError::Usage(format!(
            "{what} needs the operator key: --operator-key, IAN_OPERATOR_KEY or --operator-key-file <data_dir>/operator.key"
        ))),
    }
}

/// A client that sends the operator key (admin routes).
fn admin_client(
    what: &str,
    n: &crate::cli::args::NodeArgs,
    key: &crate::cli::args::OperatorKeyArgs,
) -> Result<Client, CommandError> {
    Ok(node_client(n)?.with_operator_key(Some(operator_key(what, key)?)))
}

fn node_client(n: &crate::cli::args::NodeArgs) -> Result<Client, CommandError> {
    Ok(Client::with_ca(&n.url(), n.ca_cert.as_deref())?)
}

async fn run_client(cmd: Command, out: Out) -> Result<i32, CommandError> {
    match cmd {
        Command::Backup(a) => {
            let client = admin_client("backup", &a.node, &a.operator)?;
            if a.out.exists() {
                return Err(CommandError::Usage(format!(
                    "{} already exists; a backup is never written over a file",
                    a.out.display()
                )));
            }
            let partial = a.out.with_extension("partial");
            let mut file = std::fs::File::create(&partial).map_err(file_err(&partial))?;
            let bar = crate::cli::progress::bytes(None, "downloading the backup");
            let got = client
                .download_post("/api/v1/admin/backup", &mut file, &bar)
                .await;
            bar.finish_and_clear();
            let (bytes, sha) = match got.and_then(|r| {
                file.sync_all()
                    .map_err(|e| crate::cli::client::ClientError::Transport {
                        url: client.base().to_string(),
                        message: format!("writing the backup: {e}"),
                    })?;
                Ok(r)
            }) {
                Ok(r) => r,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e.into());
                }
            };
            std::fs::rename(&partial, &a.out).map_err(file_err(&a.out))?;
            let v = json!({"file": a.out, "bytes": bytes, "sha256": sha.to_hex()});
            out.print(&v, || {
                format!(
                    "wrote backup {} ({bytes} bytes, sha256 {})\nit holds no secret: keep node.key with it; restore with ian-host restore {} --data-dir DIR --node-key node.key",
                    a.out.display(),
                    sha.to_hex(),
                    a.out.display()
                )
            });
            Ok(0)
        }
        Command::Goal(GoalCommand::Reveal(a)) => {
            let client = admin_client("goal reveal", &a.node, &a.operator)?;
            let secret =
                std::fs::read_to_string(&a.secret_file).map_err(file_err(&a.secret_file))?;
            let secret = ian_core::competition::SeedSecret::from_hex(&secret)
                .map_err(|e| CommandError::Usage(format!("{}: {e}", a.secret_file.display())))?;
            let v: crate::runtime::views::RevealView = client
                .json(
                    Method::POST,
                    &format!("/api/v1/goals/{}/reveal", a.id),
                    Some(&crate::runtime::service::RevealRequest {
                        secret: secret.to_hex(),
                    }),
                )
                .await?;
            out.print(&v, || {
                format!(
                    "goal {}: hidden seeds revealed (log entry {}); the final evaluation of {} selected entries is running; follow it with GET /api/v1/goals/{}/final",
                    v.goal, v.log_index, v.final_total, v.goal
                )
            });
            Ok(0)
        }
        Command::Goal(GoalCommand::Retire(a)) => {
            let client = admin_client("goal retire", &a.node, &a.operator)?;
            let v: GoalStatus = client
                .json(
                    Method::POST,
                    &format!("/api/v1/goals/{}/retire", a.id),
                    None::<&Value>,
                )
                .await?;
            out.print(&v, || {
                format!(
                    "goal {} is retired (since {}): new submissions are refused; its log, leaderboard and proofs stay readable",
                    v.id,
                    v.retired_at.as_deref().unwrap_or("now")
                )
            });
            Ok(0)
        }
        Command::Goal(GoalCommand::Publish(a)) => {
            let client = admin_client("goal publish", &a.node, &a.operator)?;
            let req = crate::cli::ops::publish_request(&a.goal)?;
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
        Command::Select(a) => {
            let client = node_client(&a.node)?;
            let key = keyfile::read_signing_key(&a.key)?;
            let goal = ian_core::GoalId::new(a.goal.clone())
                .map_err(|e| CommandError::Usage(format!("goal id: {e}")))?;
            let mut selected = a.entries.clone();
            selected.sort_unstable();
            selected.dedup();
            let nonce = crate::cli::ops::nonce_now();
            let (contributor, signature) =
                ian_core::record::sign_selection(&goal, nonce, &selected, &key);
            let v: crate::runtime::views::SelectView = client
                .json(
                    Method::POST,
                    &format!("/api/v1/goals/{}/selections", a.goal),
                    Some(&crate::runtime::service::SelectRequest {
                        contributor,
                        nonce,
                        selected,
                        signature,
                    }),
                )
                .await?;
            out.print(&v, || {
                format!(
                    "goal {}: entries {:?} selected for the final evaluation (log entry {})",
                    v.goal, v.selected, v.log_index
                )
            });
            Ok(0)
        }
        Command::Submit(a) => {
            let client = node_client(&a.node)?;
            let key = keyfile::read_signing_key(&a.key)?;
            let pack = read_input(&a.pack, MAX_PACK_FILE_BYTES, "the largest pack file")?;
            match crate::cli::ops::submit(&client, &a.goal, &pack, &key, true).await? {
                crate::cli::ops::SubmitOutcome::Accepted(v) => {
                    if let Some(p) = &a.receipt_out {
                        std::fs::write(p, v.receipt.to_text()).map_err(file_err(p))?;
                    }
                    out.print(&v, || crate::cli::render::accepted(&v));
                    Ok(0)
                }
                crate::cli::ops::SubmitOutcome::Rejected(v) => {
                    out.print(&v, || crate::cli::render::rejected(&v));
                    Ok(EXIT_REJECTED)
                }
            }
        }
        Command::Status(a) => {
            let client = node_client(&a.node)?;
            match &a.goal {
                Some(g) => {
                    let v: GoalStatus = client.get(&format!("/api/v1/goals/{g}")).await?;
                    out.print(&v, || render::goal_status(&v));
                }
                None => {
                    let node: NodeInfo = client.get("/api/v1/node").await?;
                    let list: GoalList = client.get("/api/v1/goals").await?;
                    let v = render::StatusReport {
                        node,
                        goals: list.goals,
                    };
                    out.print(&v, || render::status(&v));
                }
            }
            Ok(0)
        }
        Command::History(a) => {
            let client = node_client(&a.node)?;
            let public = match (&a.key, &a.public_key) {
                (Some(f), _) => {
                    hex::encode(keyfile::read_signing_key(f)?.verifying_key().to_bytes())
                }
                (None, Some(k)) => k.clone(),
                (None, None) => unreachable!("clap requires --key or --public-key"),
            };
            let goals: Vec<String> = match &a.goal {
                Some(g) => vec![g.clone()],
                None => {
                    let list: GoalList = client.get("/api/v1/goals").await?;
                    list.goals.into_iter().map(|g| g.id).collect()
                }
            };
            let mut all = Vec::new();
            for g in goals {
                let h: crate::runtime::views::ContributorHistory = client
                    .get(&format!("/api/v1/goals/{g}/contributors/{public}"))
                    .await?;
                all.push(h);
            }
            out.print(&all, || {
                if all.is_empty() {
                    return "the node has no goals".to_string();
                }
                all.iter()
                    .map(render::history)
                    .collect::<Vec<_>>()
                    .join("\n\n")
            });
            Ok(0)
        }
        Command::Leaderboard(a) if a.final_board => {
            let client = node_client(&a.goal.node)?;
            let v: crate::runtime::views::FinalBoard = client
                .get(&format!("/api/v1/goals/{}/final", a.goal.goal))
                .await?;
            out.print(&v, || render::final_board(&v));
            Ok(0)
        }
        Command::Leaderboard(a) => {
            let client = node_client(&a.goal.node)?;
            let v: Leaderboard = client
                .get(&format!("/api/v1/goals/{}/leaderboard", a.goal.goal))
                .await?;
            out.print(&v, || render::leaderboard(&v));
            Ok(0)
        }
        Command::Log(a) => {
            let client = node_client(&a.node)?;
            let v: LogRange = client
                .get(&format!(
                    "/api/v1/goals/{}/log?start={}&limit={}",
                    a.goal, a.start, a.limit
                ))
                .await?;
            out.print(&v, || render::log(&v));
            Ok(0)
        }
        Command::Proof(a) => {
            let client = node_client(&a.node)?;
            let q = match (a.from, a.index) {
                (Some(from), _) => crate::cli::ops::ProofQuery::Consistency { from, to: a.to },
                (None, Some(index)) => crate::cli::ops::ProofQuery::Inclusion {
                    index,
                    size: a.size,
                },
                (None, None) => {
                    return Err(CommandError::Usage("give an entry index or --from".into()));
                }
            };
            let v = crate::cli::ops::proof(&client, &a.goal, q, a.node_key.as_deref()).await?;
            out.print(&v, || crate::cli::ops::render_proof(&v));
            Ok(0)
        }
        Command::Replay(a) if a.final_board => {
            let client = node_client(&a.node)?;
            let v =
                crate::cli::finals::replay_final(&client, &a.goal, a.node_key.as_deref()).await?;
            let same = v.identical;
            out.print(&v, || crate::cli::finals::render_final(&v));
            Ok(if same { 0 } else { EXIT_MISMATCH })
        }
        Command::Replay(a) => {
            let client = node_client(&a.node)?;
            let v = crate::cli::ops::replay(
                &client,
                &a.goal,
                a.index.unwrap_or(0),
                a.node_key.as_deref(),
                !out.json,
            )
            .await?;
            let same = v.identical;
            out.print(&v, || crate::cli::ops::render_replay(&v));
            Ok(if same { 0 } else { EXIT_MISMATCH })
        }
        Command::Peers(a) => {
            let client = node_client(&a.node)?;
            let v: Value = client.get("/api/v1/peers").await?;
            out.print(&v, || render::peers(&v));
            Ok(0)
        }
        Command::Goal(GoalCommand::Fetch(a)) => {
            let client = node_client(&a.node)?;
            let dir = a
                .out
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from(&a.id));
            let r = crate::cli::ops::fetch_goal_dir(&client, &a.id, &dir).await?;
            out.print(&r, || {
                format!(
                    "fetched goal {} (goal hash {}) into {}: manifest and {} blobs, {} bytes, every hash checked\nevaluate a pack against it: ian-host eval --goal {} PACK",
                    r.goal,
                    r.goal_hash,
                    r.dir.display(),
                    r.blobs,
                    r.bytes,
                    r.dir.display()
                )
            });
            Ok(0)
        }
        Command::Eval(a) => {
            let client = node_client(&a.node)?;
            let id = a.goal_id.clone().unwrap_or_default();
            let r =
                crate::cli::ops::eval_remote(&client, &id, &a.pack, &a.params, !out.json).await?;
            out.print(&r, || crate::cli::ops::render_eval(&r));
            Ok(match r.verdict.as_str() {
                "accepted" => 0,
                "inconclusive" => EXIT_INCONCLUSIVE,
                _ => EXIT_REJECTED,
            })
        }
        Command::Tau(TauCommand::Status(a)) => {
            let client = node_client(&a.node)?;
            let v: Value = client.get("/api/v1/tau").await?;
            out.print(&v, || crate::cli::tau::render_status(&v));
            Ok(0)
        }
        Command::BenchSubmit(a) => {
            let client = node_client(&a.node)?;
            let v = crate::cli::bench::run(&client, &a).await?;
            out.print(&v, || crate::cli::bench::render(&v));
            Ok(0)
        }
        Command::Serve(_)
        | Command::Worker(_)
        | Command::Workers(_)
        | Command::Keygen(_)
        | Command::Pack(_)
        | Command::Verify(_)
        | Command::VerifyEvidence(_)
        | Command::Componentize(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::New(_)
        | Command::Restore(_)
        | Command::Dev(_)
        | Command::Goal(GoalCommand::Check(_))
        | Command::Goal(GoalCommand::Baseline(_))
        | Command::Goal(GoalCommand::Secret(_))
        | Command::Tau(TauCommand::Keygen(_)) => {
            unreachable!("handled without a runtime")
        }
    }
}
