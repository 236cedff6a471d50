//! Command-line interface of `ian-host`: argument definitions.
//!
//! Parsing lives here (in the library) so the flags are documented once and
//! tested; the binary matches on [`Command`] and calls library functions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default node URL for client commands.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:7878";

/// ian-host: run an IAN node, or talk to one.
#[derive(Debug, Parser)]
#[command(
    name = "ian-host",
    version,
    about = "Run an IAN node, or talk to one: publish goals, submit agents, verify receipts.",
    after_help = "Exit codes: 0 success; 1 the command failed (bad input, unreachable node, I/O); 2 wrong usage (flags); 3 the node or the local evaluation rejected the pack; 4 a verification or replay found a mismatch; 5 a local evaluation was inconclusive (not a verdict on the pack)."
)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log format on stderr: `text` or `json`.
    #[arg(long, global = true, env = "IAN_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where a client command finds the node.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Node base URL (`http://` or `https://`). Default: the node running
    /// from `$IAN_DATA_DIR` (or `./ian-data`), as its `node.addr` says,
    /// else http://127.0.0.1:7878.
    #[arg(long, env = "IAN_NODE")]
    pub node: Option<String>,
    /// PEM file of a CA to trust for an `https://` node, besides the
    /// Mozilla and system roots.
    #[arg(long, env = "IAN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl NodeArgs {
    /// The node's URL: the flag, else a local node's `node.addr`, else the
    /// default.
    pub fn url(&self) -> String {
        if let Some(n) = &self.node {
            return n.clone();
        }
        let dir = std::env::var_os("IAN_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("ian-data"));
        std::fs::read_to_string(dir.join("node.addr"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_NODE.to_string())
    }
}

/// The operator API key, for the admin routes (publish, retire, backup).
#[derive(Debug, Clone, Args)]
pub struct OperatorKeyArgs {
    /// Operator API key.
    #[arg(long, env = "IAN_OPERATOR_KEY", hide_env_values = true)]
    pub operator_key: Option<String>,
    /// File holding the operator API key (e.g. `<data_dir>/operator.key`).
    #[arg(long)]
    pub operator_key_file: Option<PathBuf>,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: HTTP API, evaluation workers, store.
    Serve(ServeArgs),
    /// Goal management.
    #[command(subcommand)]
    Goal(GoalCommand),
    /// Build an .ianpack from a component (or a core module) + params + metadata.
    Pack(PackArgs),
    /// Sign a pack and submit it; prints the receipt or the rejection.
    Submit(SubmitArgs),
    /// Choose which of your entries a competition's final evaluation
    /// counts (signed with your key; the last choice before the close
    /// counts).
    Select(SelectArgs),
    /// Node and goal status.
    Status(StatusArgs),
    /// Leaderboard of a goal (top-K and Pareto frontier), or with
    /// `--final` a competition's final board on its revealed hidden seeds.
    Leaderboard(LeaderboardArgs),
    /// A contributor's accepted and rejected submissions, with their place
    /// on each board.
    History(HistoryArgs),
    /// Log entries of a goal.
    Log(LogArgs),
    /// Inclusion proof of an entry, or consistency proof between sizes.
    Proof(ProofArgs),
    /// Verify a receipt offline against the node public key.
    Verify(VerifyArgs),
    /// Check evidence (from a witness's or mirror's `/api/v1/evidence`)
    /// offline: that the log signed what the record says it signed.
    VerifyEvidence(VerifyEvidenceArgs),
    /// The node's libp2p peers, their log keys and scores, and the logs it
    /// has heard of.
    Peers(PeersArgs),
    /// Evaluate a pack locally against a goal file (no server).
    Eval(EvalArgs),
    /// Make a contributor Ed25519 key.
    Keygen(KeygenArgs),
    /// Re-evaluate a stored entry and compare the bits.
    Replay(ReplayArgs),
    /// Tau Net commitments.
    #[command(subcommand)]
    Tau(TauCommand),
    /// Load generator: signed submissions over HTTP; reports throughput and latency.
    BenchSubmit(BenchArgs),
    /// Turn core wasm modules into components (components are copied
    /// through): `ian-host componentize IN OUT [IN OUT ...]`.
    Componentize(ComponentizeArgs),
    /// Print a shell completion script (e.g. `ian-host completions bash >
    /// /etc/bash_completion.d/ian-host`).
    Completions(CompletionsArgs),
    /// Write man pages (ian-host.1 and one per subcommand) into a directory.
    Man(ManArgs),
    /// Save a consistent online backup of a running node's store (operator
    /// key); submissions go on while it is taken.
    Backup(BackupArgs),
    /// Restore a backup into a new data directory, usable only after every
    /// checkpoint signature and every replayed root checked out.
    Restore(RestoreArgs),
    /// Write a ready project: `new agent|harness|invariant|goal DIR`.
    New(NewArgs),
    /// Build, componentize and evaluate the agent in DIR against a goal;
    /// `--watch` repeats on every change, `--sweep` tabulates parameters.
    Dev(DevArgs),
    /// Evaluate jobs from a node's NATS JetStream work queue (the node's
    /// `[workers]` section) and publish signed results, until SIGINT or
    /// SIGTERM (running jobs finish first).
    Worker(WorkerArgs),
    /// List the evaluation workers on a NATS server and the queue's depth.
    Workers(WorkersArgs),
}

/// `worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// NATS server URL with JetStream, e.g. `nats://10.0.0.5:4222`.
    #[arg(long, env = "IAN_WORKERS_NATS")]
    pub nats: String,
    /// The worker's Ed25519 key file, created when missing; its public key
    /// goes into the node's `workers.keys`.
    #[arg(long, default_value = "worker.key")]
    pub key: PathBuf,
    /// Config file with the node's `[sandbox]` and `[workers]` settings
    /// (the same sandbox settings give the same config hash; results with
    /// another are refused). `IAN_*` variables override it.
    #[arg(long, short, env = "IAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where compiled components are cached (`<dir>/compiled`).
    #[arg(long, default_value = "ian-worker")]
    pub data_dir: PathBuf,
    /// Jobs evaluated at once; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    pub jobs: u64,
    /// Name shown by `ian-host workers` (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the worker's public key (creating the key file if needed) and exit.
    #[arg(long)]
    pub print_key: bool,
}

/// `workers`.
#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// NATS server URL with JetStream.
    #[arg(long, env = "IAN_WORKERS_NATS")]
    pub nats: String,
}

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup (must not exist).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// The operator API key.
    #[command(flatten)]
    pub operator: OperatorKeyArgs,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file (from `ian-host backup`).
    pub backup: PathBuf,
    /// The data directory to restore into (must hold no store).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The node.key of the node that made the backup (default: the one
    /// already in the data directory). Copied into the data directory.
    #[arg(long)]
    pub node_key: Option<PathBuf>,
}

/// `new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// What to create.
    #[arg(value_enum)]
    pub kind: crate::cli::new::Kind,
    /// The project directory (created; must be new or empty).
    pub dir: PathBuf,
    /// Package (or goal) name. Default: the directory's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Use this ian-guest-sdk directory instead of a vendored copy.
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
    /// The agent's language (agents only): each template implements the
    /// same policy, built with pinned tools (componentize-py, jco with
    /// QuickJS, wit-bindgen + clang + wasi-libc).
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: crate::cli::new::Lang,
}

/// `dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// The agent's cargo project (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Goal file (TOML), or a directory written by `goal fetch`.
    #[arg(long, required_unless_present = "goal_id", conflicts_with = "goal_id")]
    pub goal: Option<PathBuf>,
    /// A goal on a node (`--node`), fetched once and checked; the result is
    /// placed on the node's current board.
    #[arg(long)]
    pub goal_id: Option<String>,
    /// The node, with `--goal-id`.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Agent params, `key=value` (repeatable; `a=1,b=2` sets two).
    #[arg(long, value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Evaluate once per value and print a table: `--sweep lookback=5,10,20`
    /// (repeatable: every combination).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub sweep: Vec<String>,
    /// Rebuild and evaluate again whenever a file in DIR changes (outside
    /// `target/`), until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// The package to build, in a workspace with several cdylibs.
    #[arg(long, short = 'p')]
    pub package: Option<String>,
}

/// `componentize`.
#[derive(Debug, Args)]
pub struct ComponentizeArgs {
    /// Input and output paths in pairs: `in.wasm out.wasm [in2.wasm out2.wasm ...]`.
    #[arg(required = true, num_args = 2.., value_name = "IN OUT")]
    pub pairs: Vec<PathBuf>,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,
}

/// `peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML). `IAN_*` variables override it.
    #[arg(long, short, env = "IAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override `server.listen`.
    #[arg(long)]
    pub listen: Option<String>,
    /// Override `server.data_dir`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Rotate the node key of the existing store first: a new `node.key`,
    /// the old one kept as `node.key.retired-<id>`, and a rotation
    /// statement signed by the new key and the old one (when `node.key`
    /// still holds it) recorded in the store and served at
    /// `/api/v1/node`. Receipts already given out keep verifying under the
    /// old key.
    #[arg(long)]
    pub new_identity: bool,
}

/// `goal ...`.
#[derive(Debug, Subcommand)]
pub enum GoalCommand {
    /// Publish a goal file and its components to a node (operator key).
    Publish(PublishArgs),
    /// Download a goal from a node (manifest, components, dataset; every
    /// hash checked) into a directory `eval --goal DIR` uses as is.
    Fetch(FetchArgs),
    /// Check a goal file without publishing it: load its components, run
    /// the harness with a baseline agent on every seed, and refuse
    /// objectives that name metrics the harness never emits.
    Check(CheckArgs),
    /// Measure a language runtime's baseline on a goal: run a null agent
    /// (one that does no work in `act`) on every seed and print the
    /// `[[complexity.baselines]]` entry to paste into the goal file.
    Baseline(BaselineArgs),
    /// Retire a goal on a node (operator key): no new submissions; its
    /// log, board and proofs stay readable and verifiable.
    Retire(RetireArgs),
    /// Make a hidden-seed secret for a competition: writes it (owner-only)
    /// and prints the `[competition]` lines with its commitment for the
    /// goal file. Keep the file off the node until the close.
    Secret(SecretArgs),
    /// Reveal a competition's hidden-seed secret on a node after its
    /// close (operator key): the node checks it against the goal's
    /// commitment, logs it, and evaluates every selected entry on the
    /// hidden seeds.
    Reveal(RevealArgs),
}

/// `goal reveal`.
#[derive(Debug, Args)]
pub struct RevealArgs {
    /// The goal id on the node.
    pub id: String,
    /// The secret file `goal secret` wrote.
    #[arg(long)]
    pub secret_file: PathBuf,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// The operator API key.
    #[command(flatten)]
    pub operator: OperatorKeyArgs,
}

/// `goal secret`.
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// Where to write the secret (64 hex digits); refused if it exists.
    #[arg(long)]
    pub out: PathBuf,
    /// How many hidden seeds the goal derives from it.
    #[arg(long, default_value_t = 8)]
    pub count: u32,
}

/// `goal check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The goal file (TOML); component paths are relative to it.
    pub goal: PathBuf,
    /// A baseline agent (.ianpack, or a .wasm component or core module) run
    /// on every seed.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Params for the baseline, `key=value` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

/// `goal baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// The goal file (TOML), or a directory written by `goal fetch`.
    pub goal: PathBuf,
    /// The null agent (.ianpack, or a .wasm component), built with the
    /// runtime and version contributors will use.
    pub agent: PathBuf,
    /// A label for the runtime (e.g. `componentize-py 0.25.1`). Default:
    /// the pack's `toolchain` metadata, else `unknown`.
    #[arg(long)]
    pub runtime: Option<String>,
    /// Params for the agent, `key=value` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

/// `goal retire`.
#[derive(Debug, Args)]
pub struct RetireArgs {
    /// The goal id on the node.
    pub id: String,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// The operator API key.
    #[command(flatten)]
    pub operator: OperatorKeyArgs,
}

/// `goal fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The goal id on the node.
    pub id: String,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Directory to write (default: `./<id>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `goal publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The goal file (TOML); component paths are relative to it.
    pub goal: PathBuf,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// The operator API key.
    #[command(flatten)]
    pub operator: OperatorKeyArgs,
}

/// `pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// Component (or core module: it is componentized) .wasm file.
    pub wasm: PathBuf,
    /// Parameters as text, e.g. `short=5,long=20`.
    #[arg(long, conflicts_with = "params_file")]
    pub params: Option<String>,
    /// Parameters from a file (bytes).
    #[arg(long)]
    pub params_file: Option<PathBuf>,
    /// Metadata `key=value` (repeatable), e.g. `--meta name=ma-crossover`.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Output file; `-` writes the pack to stdout (the report then goes to
    /// stderr), e.g. to pipe it into `ian-host submit -`.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// `select`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Log indices of your accepted entries.
    #[arg(required = true)]
    pub entries: Vec<u64>,
    /// Goal id.
    #[arg(long)]
    pub goal: String,
    /// Contributor key file (from `ian-host keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The .ianpack file, or `-` to read it from stdin.
    pub pack: PathBuf,
    /// Goal id.
    #[arg(long)]
    pub goal: String,
    /// Contributor key file (from `ian-host keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Write the receipt to this file.
    #[arg(long)]
    pub receipt_out: Option<PathBuf>,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Goal id (omit for all goals).
    pub goal: Option<String>,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// A goal on a node.
#[derive(Debug, Args)]
pub struct GoalArgs {
    /// Goal id.
    pub goal: String,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `leaderboard`.
#[derive(Debug, Args)]
pub struct LeaderboardArgs {
    /// Goal and node.
    #[command(flatten)]
    pub goal: GoalArgs,
    /// The final board (after the reveal) instead of the public one.
    #[arg(long = "final")]
    pub final_board: bool,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Contributor key file (from `ian-host keygen`): its public half is
    /// looked up.
    #[arg(
        long,
        required_unless_present = "public_key",
        conflicts_with = "public_key"
    )]
    pub key: Option<PathBuf>,
    /// Or the contributor's public key, hex.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Only this goal (default: every goal on the node).
    #[arg(long)]
    pub goal: Option<String>,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Goal id.
    pub goal: String,
    /// First index.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Most entries.
    #[arg(long, default_value_t = 20)]
    pub limit: u64,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Goal id.
    pub goal: String,
    /// Entry index (inclusion proof).
    #[arg(required_unless_present = "from")]
    pub index: Option<u64>,
    /// Tree size for the inclusion proof (default: the latest signed checkpoint's).
    #[arg(long)]
    pub size: Option<u64>,
    /// Consistency proof: old size.
    #[arg(long, conflicts_with = "index")]
    pub from: Option<u64>,
    /// Consistency proof: new size (default: the latest signed checkpoint's).
    #[arg(long, requires = "from")]
    pub to: Option<u64>,
    /// Node public key (hex, or a file holding it) to check the checkpoint
    /// with; without it the key the node reports is used.
    #[arg(long)]
    pub node_key: Option<String>,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Receipt file: a c2sp.org/tlog-proof as written by `submit
    /// --receipt-out`, or the JSON printed by `submit --json`.
    pub receipt: PathBuf,
    /// Node public key (hex), or a file holding it.
    #[arg(long, required_unless_present = "witness_policy")]
    pub node_key: Option<String>,
    /// A c2sp.org/tlog-policy file: the checkpoint must carry its witness
    /// quorum; its `log` lines may stand in for --node-key.
    #[arg(long)]
    pub witness_policy: Option<PathBuf>,
}

/// `verify-evidence`.
#[derive(Debug, Args)]
pub struct VerifyEvidenceArgs {
    /// Evidence file: one record, or the `{"evidence": [...]}` list.
    pub file: PathBuf,
    /// The log's verifier key (c2sp.org/signed-note vkey; its name is the
    /// log's origin).
    #[arg(long, required_unless_present = "node_key")]
    pub log_vkey: Option<String>,
    /// Or the log node's public key (hex), or a file holding it.
    #[arg(long)]
    pub node_key: Option<String>,
}

/// `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Goal file (TOML), or a directory written by `goal fetch`.
    #[arg(long, required_unless_present = "goal_id", conflicts_with = "goal_id")]
    pub goal: Option<PathBuf>,
    /// A goal on a node (`--node`): its manifest and components are fetched
    /// and checked, the pack is evaluated here with the node's code path,
    /// and the score is placed on the node's current board.
    #[arg(long)]
    pub goal_id: Option<String>,
    /// The node, with `--goal-id`.
    #[command(flatten)]
    pub node: NodeArgs,
    /// The .ianpack file, or a bare .wasm (component or core module,
    /// evaluated with empty params).
    pub pack: PathBuf,
    /// Override the pack's params, `key=value` (repeatable; `a=1,b=2` sets
    /// two): what-if runs without repacking.
    #[arg(long, value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

/// `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (hex, mode 0600).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Goal id.
    pub goal: String,
    /// Entry index.
    #[arg(required_unless_present = "final_board")]
    pub index: Option<u64>,
    /// Re-compute a competition's final board instead: fetch the whole
    /// signed log, check every leaf (the reveal against the commitment,
    /// the order of the final results), re-evaluate every final result on
    /// the revealed hidden seeds here, and compare bit for bit.
    #[arg(long = "final", id = "final_board", conflicts_with = "index")]
    pub final_board: bool,
    /// Node public key (hex, or a file holding it) to check the entry's
    /// signed checkpoint with; without it the key the node reports is used.
    #[arg(long)]
    pub node_key: Option<String>,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `tau ...`.
#[derive(Debug, Subcommand)]
pub enum TauCommand {
    /// Last committed checkpoint per goal and pending transactions.
    Status(StatusArgs),
    /// Make a BLS12-381 key for Tau transactions.
    Keygen(KeygenArgs),
}

/// `bench-submit`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Goal id.
    #[arg(long)]
    pub goal: String,
    /// The .ianpack whose code is used; params vary per submission.
    #[arg(long)]
    pub pack: PathBuf,
    /// Number of submissions.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Params template; `{n}` is replaced by the submission number.
    #[arg(long, default_value = "{n}")]
    pub params: String,
    /// Node.
    #[command(flatten)]
    pub node: NodeArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_eval_with_json_flag_anywhere() {
        let c = Cli::try_parse_from([
            "ian-host",
            "eval",
            "--goal",
            "g.toml",
            "p.ianpack",
            "--json",
        ])
        .unwrap();
        assert!(c.json);
        assert!(matches!(c.command, Command::Eval(_)));
    }
}
