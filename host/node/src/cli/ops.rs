//! What the CLI commands do, as library functions (tests call them too).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ian_core::{
    AgentPack, Contribution, GoalId, GoalSpec, Metadata, PackFile, ProofBundle, PublicKeyBytes,
};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cli::args::PackArgs;
use crate::cli::client::{Client, ClientError};
use crate::cli::common::{CommandError, b64, file_err, is_std_stream, read, read_at_most};
use crate::runtime::error::ErrorBody;
use crate::runtime::judge::{CodeSource, SandboxEvaluator};
use crate::runtime::service::{PublishRequest, SubmitAccepted, SubmitRequest};
use crate::runtime::views::{ConsistencyView, InclusionView, LogRange, ManifestView};
use ian_core::checkpoint::Receipt;
use ian_core::note::NoteVerifier;
use ian_core::pipeline::{Refusal, Verdict};
use ian_core::policy::Policy;

/// Build an `.ianpack` from a component or core module, params and metadata.
pub fn build_pack(a: &PackArgs) -> Result<PackReport, CommandError> {
    if !a.wasm.exists() && a.wasm.to_string_lossy().contains("wasm32-") {
        return Err(CommandError::File {
            path: a.wasm.clone(),
            message: "no such file: cargo writes a .wasm here only for a crate with `[lib] crate-type = [\"cdylib\"]` built with `cargo build --release --target wasm32-unknown-unknown` (`ian-host dev` builds and finds it for you)".into(),
        });
    }
    let wasm = read_at_most(
        &a.wasm,
        ian_core::goal::HARD_MAX_COMPONENT_BYTES,
        "the largest component any goal accepts",
    )?;
    if let Ok(wasi) = ian_componentize::wasi_imports(&wasm)
        && let Some(first) = wasi.first()
    {
        // A note, not a refusal: goals with `agents = "wasi"` take it, and
        // the node's own check (forbidden_import) stays the authority.
        let problem = if first.starts_with("wasi:") {
            format!(
                "it imports WASI (`{first}`{}), as a wasm32-wasip2 build or a language runtime \
                 does: only goals with `agents = \"wasi\"` take it (a Rust agent for any goal: \
                 build with `--target wasm32-unknown-unknown`)",
                match wasi.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                }
            )
        } else {
            crate::cli::dev::wasi_problem(&wasi).unwrap_or_default()
        };
        eprintln!("warning: {}: {problem}", a.wasm.display());
    }
    let c = ian_componentize::componentize(&wasm)
        .map_err(|e| CommandError::Usage(format!("{}: {e}", a.wasm.display())))?;
    let params = match (&a.params, &a.params_file) {
        (Some(p), _) => p.as_bytes().to_vec(),
        (None, Some(f)) => read(f)?,
        (None, None) => Vec::new(),
    };
    let mut meta = Vec::new();
    for kv in &a.meta {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(CommandError::Usage(format!(
                "--meta `{kv}` must be KEY=VALUE"
            )));
        };
        meta.push((k.to_string(), v.to_string()));
    }
    let metadata =
        Metadata::new(meta).map_err(|e| CommandError::Usage(format!("metadata: {e}")))?;
    let input = match c.input {
        ian_componentize::InputKind::Component => "component",
        ian_componentize::InputKind::CoreModule => "core module, componentized",
    };
    let file = PackFile::new(c.bytes, params, metadata)
        .map_err(|e| CommandError::Usage(format!("pack: {e}")))?;
    if is_std_stream(&a.out) {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&file.to_bytes())
            .and_then(|()| stdout.flush())
            .map_err(file_err(Path::new("<stdout>")))?;
    } else {
        std::fs::write(&a.out, file.to_bytes()).map_err(file_err(&a.out))?;
    }
    Ok(PackReport {
        file: a.out.clone(),
        pack_hash: file.pack().pack_hash(),
        code_hash: file.pack().code_hash(),
        component_bytes: file.component().len(),
        params_bytes: file.pack().params().len(),
        input: input.to_string(),
    })
}

/// Read a pack file: `.ianpack`, or a bare `.wasm` taken as a pack with empty
/// params (handy for hostile or random inputs).
pub fn read_pack(path: &Path) -> Result<PackFile, CommandError> {
    read_pack_within(
        path,
        ian_core::goal::HARD_MAX_COMPONENT_BYTES
            .saturating_add(ian_core::goal::HARD_MAX_PARAMS_BYTES)
            .saturating_add(64 << 10),
        "the largest pack any goal accepts",
    )
}

/// [`read_pack`], refusing a file over `max` bytes by its size, unread.
pub fn read_pack_within(path: &Path, max: u64, what: &str) -> Result<PackFile, CommandError> {
    let bytes = read_at_most(path, max, what)?;
    if bytes.starts_with(&ian_core::pack::PACK_FILE_MAGIC) {
        PackFile::from_bytes(&bytes)
            .map_err(|e| CommandError::Usage(format!("{}: {e}", path.display())))
    } else {
        // A bare .wasm: a component, or a core module componentized as
        // `pack` does; anything else is left to the sandbox to name.
        let bytes = componentized_or_as_is(bytes);
        PackFile::new(bytes, Vec::new(), Metadata::empty())
            .map_err(|e| CommandError::Usage(format!("{}: {e}", path.display())))
    }
}

/// A core module turned into a component (components come back as they
/// are); bytes that are neither are returned unchanged, for the sandbox to
/// refuse with its own typed fault.
fn componentized_or_as_is(bytes: Vec<u8>) -> Vec<u8> {
    match ian_componentize::componentize(&bytes) {
        Ok(c) => c.bytes,
        Err(_) => bytes,
    }
}

/// The pack's params with `key=value` overrides applied (`--params`):
/// existing keys keep their place with the new value, new keys are
/// appended. Each override may hold several entries (`a=1,b=2`). The
/// pack's params must be the text format agents parse (see
/// `ian_guest_sdk::params`), or empty.
pub fn override_params(base: &[u8], overrides: &[String]) -> Result<Vec<u8>, CommandError> {
    if overrides.is_empty() {
        return Ok(base.to_vec());
    }
    let text = std::str::from_utf8(base).map_err(|_| {
        CommandError::Usage(
            "the pack's params are not key=value text, so --params cannot override them".into(),
        )
    })?;
    let entries = |s: &str, what: &str| -> Result<Vec<(String, String)>, CommandError> {
        s.split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| match e.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(CommandError::Usage(format!(
                    "{what} entry `{e}` is not key=value"
                ))),
            })
            .collect()
    };
    let mut merged = entries(text, "the pack's params")?;
    for o in overrides {
        for (k, v) in entries(o, "--params")? {
            match merged.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => merged.push((k, v)),
            }
        }
    }
    Ok(merged
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes())
}

/// `file` with its params overridden (see [`override_params`]).
pub fn with_params(file: PackFile, overrides: &[String]) -> Result<PackFile, CommandError> {
    if overrides.is_empty() {
        return Ok(file);
    }
    let params = override_params(file.pack().params(), overrides)?;
    let metadata = file.pack().metadata().clone();
    let (_, code) = file.into_parts();
    PackFile::new(code, params, metadata).map_err(|e| CommandError::Usage(format!("--params: {e}")))
}

/// Read a goal file and every component it names into a publish request.
pub fn publish_request(goal: &Path) -> Result<PublishRequest, CommandError> {
    let text = String::from_utf8(read(goal)?)
        .map_err(|_| CommandError::Usage(format!("{}: not UTF-8 text", goal.display())))?;
    let spec = GoalSpec::from_toml(&text)
        .map_err(|e| CommandError::Usage(format!("{}: {e}", goal.display())))?;
    let base = goal.parent().unwrap_or(Path::new("."));
    let mut components = BTreeMap::new();
    let mut paths = vec![spec.harness.component.clone()];
    paths.extend(spec.invariants.iter().map(|i| i.component.clone()));
    for p in paths {
        let full = base.join(&p);
        let bytes = std::fs::read(&full).map_err(|e| CommandError::File {
            path: full.clone(),
            message: format!(
                "{e} (named in {}; build the components first: `cargo build --release` in a project from `ian-host new goal`, scripts/build-guests.sh in the IAN repository)",
                goal.display()
            ),
        })?;
        // A goal may name its components' core modules (cargo's output):
        // they are componentized here exactly as `ian-host componentize`
        // would, so the goal hash covers the component.
        let bytes = componentized_or_as_is(bytes);
        components.insert(p, b64(&bytes));
    }
    let dataset = match &spec.harness.dataset {
        None => Vec::new(),
        Some(d) => read_dataset(&base.join(d), goal)?
            .1
            .into_iter()
            .map(|(path, bytes)| crate::runtime::service::DatasetUpload {
                path,
                bytes: b64(&bytes),
            })
            .collect(),
    };
    Ok(PublishRequest {
        goal_toml: text,
        components,
        dataset,
    })
}

/// Reads a goal's dataset directory (plain files only, no symlinks) within
/// the hard caps; the node applies its own, usually smaller, limits.
fn read_dataset(
    dir: &Path,
    goal: &Path,
) -> Result<
    (
        ian_core::dataset::DatasetListing,
        crate::runtime::datasets::Walked,
    ),
    CommandError,
> {
    let caps = ian_core::dataset::DatasetLimits {
        max_files: ian_core::dataset::HARD_MAX_DATASET_FILES,
        max_bytes: ian_core::dataset::HARD_MAX_DATASET_BYTES,
    };
    crate::runtime::datasets::read_dataset_dir(dir, &caps).map_err(|e| CommandError::File {
        path: dir.to_path_buf(),
        message: format!("{e} (harness.dataset of {})", goal.display()),
    })
}

/// Where the CLI materialises datasets for local evaluation and replay:
/// `IAN_DATASET_CACHE_DIR`, else `<temp dir>/ian-datasets`. Directories are
/// named by dataset hash and checked against it before every use.
pub fn dataset_cache_dir() -> PathBuf {
    std::env::var_os("IAN_DATASET_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ian-datasets"))
}

/// Materialises the goal's dataset (if any) from `blobs`, which must hold
/// the listing under the dataset hash and every file under its hash.
pub(crate) fn local_dataset(
    manifest: &ian_core::GoalManifest,
    blobs: &BTreeMap<ian_core::Hash32, Vec<u8>>,
) -> Result<Option<PathBuf>, CommandError> {
    let Some(h) = manifest.harness.dataset else {
        return Ok(None);
    };
    let bytes = blobs
        .get(&h)
        .filter(|b| ian_core::sha256(b) == h)
        .ok_or_else(|| CommandError::Usage(format!("dataset listing {h} is not available")))?;
    let caps = ian_core::dataset::DatasetLimits {
        max_files: ian_core::dataset::HARD_MAX_DATASET_FILES,
        max_bytes: ian_core::dataset::HARD_MAX_DATASET_BYTES,
    };
    let listing = ian_core::dataset::DatasetListing::from_canonical_bytes(bytes, &caps)
        .map_err(|e| CommandError::Usage(format!("dataset listing {h}: {e}")))?;
    crate::runtime::datasets::materialise(&dataset_cache_dir(), &listing, &|f| {
        blobs.get(f).cloned()
    })
    .map(Some)
    .map_err(|e| CommandError::Usage(format!("dataset {h}: {e}")))
}

/// Result of a submission that reached the pipeline.
#[derive(Debug)]
pub enum SubmitOutcome {
    /// Durable; the reply with the receipt.
    Accepted(Box<SubmitAccepted>),
    /// Rejected with a typed reason; the error body.
    Rejected(ErrorBody),
}

/// Current time in microseconds: a strictly increasing nonce source for one
/// contributor submitting one pack at a time.
pub fn nonce_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Proof-of-work bits the node asks of submissions to `goal`.
pub async fn pow_bits(client: &Client, goal: &str) -> Result<u32, ClientError> {
    let v: Value = client.get(&format!("/api/v1/goals/{goal}")).await?;
    Ok(v["pow_bits"].as_u64().unwrap_or(0) as u32)
}

/// Sign a contribution for `goal` with `key`.
pub fn sign(
    goal: &str,
    pack: AgentPack,
    nonce: u64,
    key: &SigningKey,
) -> Result<Contribution, CommandError> {
    let goal_id = GoalId::new(goal).map_err(|e| CommandError::Usage(format!("goal id: {e}")))?;
    Ok(Contribution::sign(
        goal_id,
        pack,
        ProofBundle::empty(),
        nonce,
        key,
    ))
}

/// Build the request body for a signed contribution (solving any work).
pub fn submit_request(
    goal: &str,
    c: Contribution,
    code: Option<&[u8]>,
    bits: u32,
) -> SubmitRequest {
    let pow_nonce = (bits > 0)
        .then(|| ian_core::pow::solve(goal, &ian_core::pow::contribution_digest(&c), bits));
    SubmitRequest {
        contribution: c,
        code: code.map(b64),
        pow_nonce,
    }
}

/// Sign and submit a pack file's bytes.
pub async fn submit(
    client: &Client,
    goal: &str,
    pack_file: &[u8],
    key: &SigningKey,
    with_code: bool,
) -> Result<SubmitOutcome, CommandError> {
    let file = if pack_file.starts_with(&ian_core::pack::PACK_FILE_MAGIC) {
        PackFile::from_bytes(pack_file)
            .map_err(|e| CommandError::Usage(format!("pack file: {e}")))?
    } else {
        PackFile::new(pack_file.to_vec(), Vec::new(), Metadata::empty())
            .map_err(|e| CommandError::Usage(format!("pack: {e}")))?
    };
    let bits = pow_bits(client, goal).await?;
    let (pack, code) = file.into_parts();
    let c = sign(goal, pack, nonce_now(), key)?;
    let req = submit_request(goal, c, with_code.then_some(code.as_slice()), bits);
    post_submission(client, goal, &req).await
}

/// POST a submission and sort the answer into accepted / rejected / error.
pub async fn post_submission(
    client: &Client,
    goal: &str,
    req: &SubmitRequest,
) -> Result<SubmitOutcome, CommandError> {
    let body = serde_json::to_vec(req).expect("serializable");
    let r = client
        .raw(
            Method::POST,
            &format!("/api/v1/goals/{goal}/contributions"),
            Some(body),
        )
        .await?;
    let decode_err = |e: serde_json::Error| ClientError::Decode {
        status: r.status.as_u16(),
        message: e.to_string(),
    };
    if r.status.is_success() {
        let v: SubmitAccepted = serde_json::from_slice(&r.body).map_err(decode_err)?;
        return Ok(SubmitOutcome::Accepted(Box::new(v)));
    }
    if r.status.as_u16() == 422 || r.status.as_u16() == 409 {
        let v: ErrorBody = serde_json::from_slice(&r.body).map_err(decode_err)?;
        return Ok(SubmitOutcome::Rejected(v));
    }
    Err(crate::cli::client::decode::<Value>(r)
        .err()
        .map(CommandError::from)
        .unwrap_or_else(|| CommandError::Usage("unexpected reply".into())))
}

/// Reads a receipt file: a c2sp.org/tlog-proof (`.tlog-proof`), or a
/// JSON submit reply holding one under `receipt`.
pub fn read_receipt_file(path: &Path) -> Result<Receipt, CommandError> {
    let bytes = read(path)?;
    let text = if bytes.first() == Some(&b'{') {
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CommandError::Usage(format!("{}: not JSON: {e}", path.display())))?;
        match v.get("receipt").and_then(Value::as_str) {
            Some(r) => r.as_bytes().to_vec(),
            None => {
                return Err(CommandError::Usage(format!(
                    "{}: JSON without a `receipt` string (a submit reply holds one)",
                    path.display()
                )));
            }
        }
    } else {
        bytes
    };
    Receipt::parse(&text).map_err(|e| CommandError::Usage(format!("{}: {e}", path.display())))
}

/// Verify a receipt file offline against the node's key (hex or a file
/// holding hex), and, with a c2sp.org/tlog-policy file, its witness
/// cosignatures (a policy listing logs may stand in for the node key).
pub fn verify_receipt_file(
    path: &Path,
    node_key: Option<&str>,
    policy: Option<&Path>,
) -> Result<ReceiptCheck, CommandError> {
    let receipt = read_receipt_file(path)?;
    let policy =
        match policy {
            None => None,
            Some(p) => {
                let text = String::from_utf8(read(p)?).map_err(|_| {
                    CommandError::Usage(format!("{}: the policy is not UTF-8", p.display()))
                })?;
                Some(Policy::parse(&text).map_err(|e| {
                    CommandError::Usage(format!("witness policy {}: {e}", p.display()))
                })?)
            }
        };
    let cp = &receipt.checkpoint.checkpoint;
    let goal = receipt.entry.goal_id.as_str().to_string();
    let key = match node_key {
        Some(k) => {
            let key_text = if Path::new(k).is_file() {
                crate::runtime::keyfile::read_secret(Path::new(k))?
            } else {
                k.trim().to_string()
            };
            Some(
                PublicKeyBytes::from_hex(&key_text)
                    .map_err(|e| CommandError::Usage(format!("node key: {e}")))?,
            )
        }
        None => None,
    };
    let log = match (&key, &policy) {
        (Some(k), _) => log_verifier(&cp.origin, &goal, k)?,
        (None, Some(p)) => p
            .logs
            .iter()
            .map(|l| l.key.clone())
            .find(|l| l.name == cp.origin)
            .ok_or_else(|| {
                CommandError::Usage(format!(
                    "the policy lists no log with origin {}; give --node-key or add a `log` line",
                    cp.origin
                ))
            })?,
        (None, None) => {
            return Err(CommandError::Usage(
                "give the node's key (--node-key) or a policy listing the log (--witness-policy)"
                    .into(),
            ));
        }
    };
    let mut verdict = receipt.verify(&log).map_err(|e| e.to_string());
    let mut witnesses = Vec::new();
    if let (Ok(()), Some(p)) = (&verdict, &policy) {
        match p.check(&receipt.checkpoint, Some(&log)) {
            Ok(w) => witnesses = w,
            Err(e) => verdict = Err(format!("witness policy: {e}")),
        }
    }
    Ok(ReceiptCheck {
        goal,
        log_index: receipt.entry.log_index,
        pack_hash: receipt.entry.pack_hash,
        size: cp.size,
        root: cp.root,
        origin: cp.origin.clone(),
        node_key: log.key,
        witnesses,
        valid: verdict.is_ok(),
        error: verdict.err(),
    })
}

/// What `ian-host verify-evidence` found in one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceCheck {
    /// The record's kind.
    pub kind: String,
    /// The log.
    pub origin: String,
    /// Whether the log's own signatures show what the record says the log
    /// signed: a fork is then proven; for an entry it shows the log
    /// committed to those bits, and the claimed difference is re-checked by
    /// running the entry again.
    pub proven: bool,
    /// What was checked, or why it is not proven.
    pub detail: String,
}

/// Checks evidence records offline against the log's key: a fork needs
/// two valid checkpoints of one size with different roots; an entry claim
/// needs the log's valid receipt for the entry (whose re-evaluation anyone
/// can then repeat with `ian-host replay` or `eval`); a root mismatch
/// cannot be shown without the entries and is reported as not proven.
pub fn verify_evidence_file(
    path: &Path,
    log_vkey: Option<&str>,
    node_key: Option<&str>,
) -> Result<Vec<EvidenceCheck>, CommandError> {
    use crate::runtime::evidence::Evidence;
    let bytes = read(path)?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| CommandError::Usage(format!("{}: not JSON: {e}", path.display())))?;
    let items: Vec<Evidence> = match v.get("evidence") {
        Some(list) => serde_json::from_value(list.clone()),
        None => serde_json::from_value(v).map(|e| vec![e]),
    }
    .map_err(|e| CommandError::Usage(format!("{}: not evidence: {e}", path.display())))?;
    let key = match node_key {
        Some(k) => {
            let t = if Path::new(k).is_file() {
                crate::runtime::keyfile::read_secret(Path::new(k))?
            } else {
                k.trim().to_string()
            };
            Some(
                PublicKeyBytes::from_hex(&t)
                    .map_err(|e| CommandError::Usage(format!("node key: {e}")))?,
            )
        }
        None => None,
    };
    let vkey = log_vkey
        .map(NoteVerifier::parse)
        .transpose()
        .map_err(|e| CommandError::Usage(format!("log vkey: {e}")))?;
    let mut out = Vec::new();
    for ev in items {
        let verifier = match (&vkey, &key) {
            (Some(v), _) => v.clone(),
            (None, Some(k)) => NoteVerifier::new(&ev.origin, ian_core::note::TYPE_ED25519, *k)
                .map_err(|e| CommandError::Usage(format!("origin {}: {e}", ev.origin)))?,
            (None, None) => {
                return Err(CommandError::Usage("give --log-vkey or --node-key".into()));
            }
        };
        let signed =
            |cp: &ian_core::SignedCheckpoint| cp.verify(&verifier).map_err(|e| e.to_string());
        let (proven, detail) = match ev.kind.as_str() {
            "fork" => match (&ev.conflicting, signed(&ev.checkpoint)) {
                (None, _) => (false, "no conflicting checkpoint in the record".to_string()),
                (_, Err(e)) => (false, format!("checkpoint: {e}")),
                (Some(other), Ok(())) => match signed(other) {
                    Err(e) => (false, format!("conflicting checkpoint: {e}")),
                    Ok(())
                        if other.checkpoint.size == ev.checkpoint.checkpoint.size
                            && other.checkpoint.root != ev.checkpoint.checkpoint.root =>
                    {
                        (
                            true,
                            format!(
                                "the log signed two trees of size {}: roots {} and {}",
                                other.checkpoint.size,
                                other.checkpoint.root,
                                ev.checkpoint.checkpoint.root
                            ),
                        )
                    }
                    Ok(()) => (false, "the two checkpoints do not conflict".to_string()),
                },
            },
            "reevaluation_mismatch" | "invalid_entry" => match &ev.receipt {
                None => (false, "no receipt for the entry in the record".to_string()),
                Some(r)
                    if Some(r.entry.log_index) != ev.index
                        || r.checkpoint != ev.checkpoint
                        || r.checkpoint.checkpoint.origin != ev.origin =>
                {
                    (
                        false,
                        "the receipt is not for the record's entry, checkpoint and log".to_string(),
                    )
                }
                Some(r) => match r.verify(&verifier) {
                    Err(e) => (false, format!("receipt: {e}")),
                    // What the log's signature shows is that it committed to
                    // these bits; that they re-evaluate otherwise is the
                    // record's claim, which anyone re-checks by running the
                    // entry again, not by trusting the record.
                    Ok(()) => (
                        true,
                        format!(
                            "the log signed entry {} of size {} with these bits; re-run it (`ian-host replay {} {}` against the log's node, or `eval` with its pack) to check the claimed difference in {}",
                            r.entry.log_index,
                            r.checkpoint.checkpoint.size,
                            r.entry.goal_id,
                            r.entry.log_index,
                            ev.differences
                                .iter()
                                .map(|d| d.field.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                },
            },
            _ => (
                false,
                format!(
                    "{}: a {} claim needs the log's entries to check",
                    signed(&ev.checkpoint).map_or_else(|e| e, |()| "checkpoint signed".to_string()),
                    ev.kind
                ),
            ),
        };
        out.push(EvidenceCheck {
            kind: ev.kind,
            origin: ev.origin,
            proven,
            detail,
        });
    }
    Ok(out)
}

/// Human text for `verify-evidence`.
pub fn render_evidence_checks(v: &[EvidenceCheck]) -> String {
    v.iter()
        .map(|c| {
            format!(
                "{} {} of {}: {}",
                match (c.proven, c.kind.as_str()) {
                    (true, "fork") => "PROVEN",
                    (true, _) => "SIGNED BY THE LOG",
                    (false, _) => "NOT SHOWN",
                },
                c.kind,
                c.origin,
                c.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `ian-host verify` found in a receipt file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptCheck {
    /// Goal id.
    pub goal: String,
    /// The entry's index.
    pub log_index: u64,
    /// The entry's pack.
    pub pack_hash: ian_core::Hash32,
    /// The checkpoint's tree size.
    pub size: u64,
    /// The checkpoint's root.
    pub root: ian_core::Hash32,
    /// The log's origin.
    pub origin: String,
    /// The key the checkpoint was checked against.
    pub node_key: PublicKeyBytes,
    /// Witnesses (by policy name) whose cosignatures verified, when a
    /// policy was given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// Whether the receipt verifies.
    pub valid: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Human text for `verify`.
pub fn render_receipt_check(r: &ReceiptCheck) -> String {
    match &r.error {
        None if r.valid => format!(
            "receipt OK: entry {} of goal {} is in the log {} of size {} with root {} signed by {}{}",
            r.log_index,
            r.goal,
            r.origin,
            r.size,
            r.root,
            r.node_key.to_hex(),
            if r.witnesses.is_empty() {
                String::new()
            } else {
                format!(", cosigned by {}", r.witnesses.join(", "))
            }
        ),
        e => format!("receipt INVALID: {}", e.as_deref().unwrap_or("")),
    }
}

/// What `ian-host pack` wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackReport {
    /// The pack file.
    pub file: PathBuf,
    /// Its pack hash (what a submission signs).
    pub pack_hash: ian_core::Hash32,
    /// Its component's hash.
    pub code_hash: ian_core::Hash32,
    /// Component size.
    pub component_bytes: usize,
    /// Params size.
    pub params_bytes: usize,
    /// `component`, or `core module, componentized`.
    pub input: String,
}

/// Human text for `pack`.
pub fn render_pack(r: &PackReport) -> String {
    let file = if is_std_stream(&r.file) {
        "the pack to stdout".to_string()
    } else {
        r.file.display().to_string()
    };
    format!(
        "wrote {file}\npack hash {}\ncode hash {}\ncomponent {} bytes ({}), params {} bytes",
        r.pack_hash, r.code_hash, r.component_bytes, r.input, r.params_bytes
    )
}

pub(crate) fn run_on_eval_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    std::thread::Builder::new()
        .name("ian-eval-local".into())
        .stack_size(
            crate::runtime::config::Config::defaults()
                .limits
                .worker_stack_bytes as usize,
        )
        .spawn(f)
        .map_err(|e| CommandError::Usage(format!("cannot start evaluation thread: {e}")))?
        .join()
        .map_err(|_| CommandError::Usage("evaluation thread panicked".into()))
}

/// The sandbox `eval` and `replay` run in: configured exactly as a node
/// started here would be (its file-less defaults plus the `IAN_*` table,
/// `[sandbox]` keys included), so local verdicts match the node's.
pub(crate) fn local_judge() -> Result<crate::runtime::judge::Judge, CommandError> {
    let cfg = crate::runtime::config::Config::load(None)?;
    crate::runtime::judge::Judge::new(
        cfg.sandbox_config()?,
        cfg.limits.worker_stack_bytes as usize,
    )
    .map_err(CommandError::Usage)
}

/// Resolve a goal file and read its components (paths relative to the file).
pub fn load_goal_file(
    goal: &Path,
) -> Result<(ian_core::GoalManifest, BTreeMap<ian_core::Hash32, Vec<u8>>), CommandError> {
    if goal.is_dir() {
        return load_goal_dir(goal);
    }
    let req = publish_request(goal)?;
    let spec = GoalSpec::from_toml(&req.goal_toml)
        .map_err(|e| CommandError::Usage(format!("{}: {e}", goal.display())))?;
    let dataset = match &spec.harness.dataset {
        None => None,
        Some(d) => Some(read_dataset(
            &goal.parent().unwrap_or(Path::new(".")).join(d),
            goal,
        )?),
    };
    let dec = |p: &str| -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&req.components[p])
            .unwrap_or_default()
    };
    let harness = dec(&spec.harness.component);
    let invs: Vec<Vec<u8>> = spec.invariants.iter().map(|i| dec(&i.component)).collect();
    let resolved = ian_core::goal::ResolvedComponents {
        harness: ian_core::sha256(&harness),
        invariants: invs.iter().map(|b| ian_core::sha256(b)).collect(),
        dataset: dataset.as_ref().map(|(l, _)| l.hash()),
    };
    let manifest = spec
        .resolve(&resolved)
        .map_err(|e| CommandError::Usage(format!("{}: {e}", goal.display())))?;
    let mut blobs = BTreeMap::new();
    blobs.insert(resolved.harness, harness);
    for (h, b) in resolved.invariants.iter().zip(invs) {
        blobs.insert(*h, b);
    }
    if let Some((listing, files)) = dataset {
        blobs.insert(listing.hash(), listing.to_canonical_bytes());
        for (_, b) in files {
            blobs.insert(ian_core::sha256(&b), b);
        }
    }
    Ok((manifest, blobs))
}

/// Reads a pack file within what `manifest` allows: a pack holds the
/// component, the params and the metadata; the goal bounds the first two,
/// 64 KiB covers the framing and metadata.
fn read_pack_for(manifest: &ian_core::GoalManifest, pack: &Path) -> Result<PackFile, CommandError> {
    let l = &manifest.limits;
    let max = l
        .max_component_bytes
        .saturating_add(l.max_params_bytes)
        .saturating_add(64 << 10);
    read_pack_within(
        pack,
        max,
        &format!(
            "the goal's limit (max_component_bytes {} + max_params_bytes {} + 64 KiB)",
            l.max_component_bytes, l.max_params_bytes
        ),
    )
}

/// `ian-host eval`: the whole nine-step pipeline locally, against a fresh
/// log, with a throwaway contributor key.
pub fn eval_local(
    goal: &Path,
    pack: &Path,
    params: &[String],
    progress: bool,
) -> Result<EvalReport, CommandError> {
    let (manifest, blobs) = load_goal_file(goal)?;
    let file = with_params(read_pack_for(&manifest, pack)?, params)?;
    run_on_eval_thread(move || eval_manifest(manifest, blobs, file, progress))?
}

/// What `ian-host goal baseline` measured: a runtime's entry for the
/// goal's `[[complexity.baselines]]`.
#[derive(Debug, Serialize)]
pub struct BaselineReport {
    /// Goal id.
    pub goal: String,
    /// The label written into the entry.
    pub runtime: String,
    /// [`ian_sandbox::runtime_code_hash`] of the null agent.
    pub code: ian_core::Hash32,
    /// Mean fuel per `act` over every seed's steps, rounded down.
    pub act_fuel: u64,
    /// How many `act` calls the mean is over.
    pub steps: usize,
}

/// Runs a null agent on every seed of a goal, with complexity counted raw,
/// and reports its runtime fingerprint and mean fuel per `act`.
pub fn measure_baseline(
    goal: &Path,
    agent: &Path,
    params: &[String],
    runtime: Option<String>,
    progress: bool,
) -> Result<BaselineReport, CommandError> {
    let (mut manifest, blobs) = load_goal_file(goal)?;
    manifest.complexity = ian_core::ComplexityRule::default();
    let file = with_params(read_pack_for(&manifest, agent)?, params)?;
    let code = ian_sandbox::runtime_code_hash(file.component()).ok_or_else(|| {
        CommandError::Usage(format!(
            "{}: no core module with code in the component",
            agent.display()
        ))
    })?;
    let runtime = runtime
        .or_else(|| file.pack().metadata().get("toolchain").map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let r = eval_loaded(&manifest, &blobs, file, progress)?;
    if r.seeds.is_empty() {
        return Err(CommandError::Usage(format!(
            "the null agent never reached the evaluation ({}): {}",
            r.reason.as_deref().unwrap_or("refused"),
            r.message.as_deref().unwrap_or("no message")
        )));
    }
    if let Some(bad) = r.seeds.iter().find(|s| s.outcome != "ok") {
        return Err(CommandError::Usage(format!(
            "the null agent did not run cleanly on seed {}: {} ({})",
            bad.seed,
            bad.outcome,
            r.message.as_deref().unwrap_or("no message")
        )));
    }
    let steps = r.fuel_per_step.as_ref().ok_or_else(|| {
        CommandError::Usage("the harness never called act: nothing to measure".into())
    })?;
    Ok(BaselineReport {
        goal: r.goal,
        runtime,
        code: ian_core::Hash32(code),
        act_fuel: steps.mean.floor() as u64,
        steps: steps.steps,
    })
}

/// The entry to paste into the goal file.
pub fn render_baseline(r: &BaselineReport) -> String {
    format!(
        "# {goal}: mean act fuel of the null agent over {steps} steps\n\
         [complexity]\n\
         mode = \"above-baseline\"\n\n\
         [[complexity.baselines]]\n\
         runtime = {runtime:?}\n\
         code = \"{code}\"\n\
         act_fuel = {fuel}\n",
        goal = r.goal,
        steps = r.steps,
        runtime = r.runtime,
        code = r.code,
        fuel = r.act_fuel,
    )
}

/// Evaluates `file` against a loaded goal on a thread with the node's
/// worker stack size.
pub fn eval_loaded(
    manifest: &ian_core::GoalManifest,
    blobs: &BTreeMap<ian_core::Hash32, Vec<u8>>,
    file: PackFile,
    progress: bool,
) -> Result<EvalReport, CommandError> {
    let (manifest, blobs) = (manifest.clone(), blobs.clone());
    run_on_eval_thread(move || eval_manifest(manifest, blobs, file, progress))?
}

fn eval_manifest(
    manifest: ian_core::GoalManifest,
    blobs: BTreeMap<ian_core::Hash32, Vec<u8>>,
    file: PackFile,
    progress: bool,
) -> Result<EvalReport, CommandError> {
    use crate::cli::common::{progress as note, progress_done};
    let judge = local_judge()?;
    let t = note(progress, "compiling goal harness and invariants");
    let dataset = local_dataset(&manifest, &blobs)?;
    let loaded = judge
        .load_goal(&manifest, &|h| blobs.get(&h).cloned(), dataset.as_deref())
        .map_err(|e| CommandError::Usage(format!("goal components: {e}")))?;
    progress_done(progress, t, "goal components ready");
    let (pack, code) = file.into_parts();
    let t = note(
        progress,
        &format!(
            "evaluating pack over {} seed(s)",
            manifest.harness.seeds.len()
        ),
    );
    let key = SigningKey::from_bytes(&crate::runtime::keyfile::random32());
    let c = Contribution::sign(
        manifest.id.clone(),
        pack.clone(),
        ProofBundle::empty(),
        1,
        &key,
    );
    // The same admit -> evaluate -> commit the node runs, on a fresh log.
    let ev = SandboxEvaluator::new(&judge, &loaded, CodeSource::Bytes(&code));
    let mut state = ian_core::pipeline::GoalState::new(manifest.clone());
    let outcome = state.process(
        &c,
        &ev,
        &ev,
        &ian_core::StandardProofVerifier,
        nonce_now() / 1000,
    );
    progress_done(progress, t, "evaluation finished");
    let runs = ev.runs();
    let mut seeds = Vec::new();
    let mut all_steps: Vec<u64> = Vec::new();
    for r in &runs {
        let rep = &r.report;
        all_steps.extend(rep.agent_fuel_per_step.iter().copied());
        seeds.push(SeedReport {
            seed: r.seed,
            outcome: match &rep.outcome {
                Ok(_) => "ok".to_string(),
                Err(f) => f.reason_code().to_string(),
            },
            steps: rep.steps,
            agent_fuel: rep.agent_fuel,
            harness_fuel: rep.harness_fuel,
            metrics: rep.outcome.as_ref().ok().map(|m| SeedMetrics {
                reward: m.reward,
                risk: m.risk,
                extra: m.extra.clone(),
            }),
        });
    }
    let fuel_per_step = (!all_steps.is_empty()).then(|| FuelPerStep {
        steps: all_steps.len(),
        min: all_steps.iter().copied().min().unwrap_or(0),
        mean: all_steps.iter().sum::<u64>() as f64 / all_steps.len() as f64,
        max: all_steps.iter().copied().max().unwrap_or(0),
    });
    let mut v = EvalReport {
        on_board: None,
        goal: manifest.id.as_str().to_string(),
        pack_hash: pack.pack_hash(),
        code_hash: pack.code_hash(),
        seeds,
        fuel_per_step,
        fuel_total: ev.fuel(),
        verdict: String::new(),
        score: None,
        metrics: None,
        reason: None,
        step: None,
        message: None,
    };
    match outcome {
        Ok(a) => {
            v.verdict = "accepted".into();
            v.score = Some(a.entry.score.get());
            v.metrics = Some(MetricsReport::of(&a.entry.metrics));
        }
        Err(Refusal::Rejected(r)) => {
            v.verdict = "rejected".into();
            v.reason = Some(r.reason_code().to_string());
            v.step = Some(r.step().name().to_string());
            v.message = Some(r.to_string());
            if let Some(Verdict::Evaluated(e)) = ev.last_verdict() {
                v.metrics = Some(MetricsReport {
                    reward: e.metrics.reward,
                    risk: e.metrics.risk,
                    complexity: e.metrics.complexity,
                    extra: e.metrics.extra,
                });
            }
        }
        Err(Refusal::Inconclusive(i)) => {
            v.verdict = "inconclusive".into();
            v.reason = Some(i.cause.code().to_string());
            v.message = Some(i.to_string());
        }
    }
    Ok(v)
}

/// What `ian-host eval` found: the verdict the node would reach, with the
/// per-seed runs and the fuel profile behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Goal id.
    pub goal: String,
    /// Where the score would stand on the node's board (`--goal-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_board: Option<BoardPlace>,
    /// The pack.
    pub pack_hash: ian_core::Hash32,
    /// Its component.
    pub code_hash: ian_core::Hash32,
    /// One report per seed that ran.
    pub seeds: Vec<SeedReport>,
    /// Agent fuel per `act` call over all seeds.
    pub fuel_per_step: Option<FuelPerStep>,
    /// Agent fuel over all seeds, when the evaluation ran.
    pub fuel_total: Option<u64>,
    /// `accepted`, `rejected` or `inconclusive`.
    pub verdict: String,
    /// The score, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The metrics, when the evaluation produced them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsReport>,
    /// The reason code, when not accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The pipeline step that refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The whole explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Metrics as evaluated (possibly not finite when they were refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// Reward.
    pub reward: f64,
    /// Risk.
    pub risk: f64,
    /// Complexity.
    pub complexity: f64,
    /// Extras, in harness order.
    pub extra: Vec<(String, f64)>,
}

impl MetricsReport {
    fn of(m: &ian_core::Metrics) -> MetricsReport {
        MetricsReport {
            reward: m.reward.get(),
            risk: m.risk.get(),
            complexity: m.complexity.get(),
            extra: m.extra.iter().map(|(n, v)| (n.clone(), v.get())).collect(),
        }
    }
}

/// One seed's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// `ok` or the fault's reason code.
    pub outcome: String,
    /// `act` calls made.
    pub steps: u64,
    /// Agent fuel.
    pub agent_fuel: u64,
    /// Harness fuel.
    pub harness_fuel: u64,
    /// The seed's metrics, when it produced them.
    pub metrics: Option<SeedMetrics>,
}

/// A seed's metrics as the harness returned them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedMetrics {
    /// Reward.
    pub reward: f64,
    /// Risk.
    pub risk: f64,
    /// Extras.
    pub extra: Vec<(String, f64)>,
}

/// Agent fuel per `act` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuelPerStep {
    /// Calls counted.
    pub steps: usize,
    /// Least fuel in one call.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Most.
    pub max: u64,
}

/// Human table for `eval`.
pub fn render_eval(v: &EvalReport) -> String {
    use crate::cli::render::num;
    let mut o = String::new();
    let _ = writeln!(o, "goal      {}", v.goal);
    if let Some(b) = &v.on_board {
        match b.rank {
            Some(r) => {
                let _ = writeln!(o, "on board  would rank {r} of {} on the node now", b.of);
            }
            None => {
                let _ = writeln!(
                    o,
                    "on board  below the node's top {} (of {} entries)",
                    b.top, b.of
                );
            }
        }
    }
    let _ = writeln!(o, "pack      {}", v.pack_hash);
    let reason = v.reason.as_deref().unwrap_or("");
    let message = v.message.as_deref().unwrap_or("");
    match v.verdict.as_str() {
        "accepted" => {
            let _ = writeln!(
                o,
                "verdict   ACCEPTED (score {})",
                num(v.score.unwrap_or(f64::NAN))
            );
        }
        "inconclusive" => {
            let _ = writeln!(
                o,
                "verdict   INCONCLUSIVE ({reason}): not a verdict on the pack; the host stopped the run"
            );
            let _ = writeln!(o, "reason    {message}");
        }
        _ => {
            let _ = writeln!(
                o,
                "verdict   REJECTED: {reason} at step {}",
                v.step.as_deref().unwrap_or("")
            );
            let _ = writeln!(o, "reason    {message}");
            if reason == "forbidden_import" && message.contains("`wasi") {
                let _ = writeln!(
                    o,
                    "fix       the agent was built for a WASI target: build it with `--target wasm32-unknown-unknown` and `crate-type = [\"cdylib\"]`"
                );
            }
        }
    }
    if let Some(m) = &v.metrics {
        let _ = writeln!(
            o,
            "metrics   reward {}  risk {}  complexity {}",
            num(m.reward),
            num(m.risk),
            num(m.complexity)
        );
        if !m.extra.is_empty() {
            let extras: Vec<String> = m
                .extra
                .iter()
                .map(|(n, x)| format!("{n} {}", num(*x)))
                .collect();
            let _ = writeln!(o, "extra     {}", extras.join("  "));
        }
    }
    if !v.seeds.is_empty() {
        let mut rows = vec![
            [
                "SEED",
                "OUTCOME",
                "REWARD",
                "RISK",
                "STEPS",
                "AGENT FUEL",
                "HARNESS FUEL",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for s in &v.seeds {
            let (reward, risk) = s
                .metrics
                .as_ref()
                .map_or(("-".to_string(), "-".to_string()), |m| {
                    (num(m.reward), num(m.risk))
                });
            rows.push(vec![
                s.seed.to_string(),
                s.outcome.clone(),
                reward,
                risk,
                s.steps.to_string(),
                s.agent_fuel.to_string(),
                s.harness_fuel.to_string(),
            ]);
        }
        let _ = writeln!(o, "{}", crate::cli::render::table(&rows));
    }
    if let Some(p) = &v.fuel_per_step {
        let _ = writeln!(
            o,
            "fuel/step min {}  mean {}  max {}  over {} steps",
            p.min,
            num(p.mean),
            p.max,
            p.steps
        );
    }
    if let Some(f) = v.fuel_total {
        let _ = writeln!(o, "fuel total {f}");
    }
    o.trim_end().to_string()
}

/// What `goal check` found.
#[derive(Debug, Clone, Serialize)]
pub struct GoalCheck {
    /// Goal id.
    pub goal: String,
    /// The goal hash it would publish under.
    pub goal_hash: ian_core::Hash32,
    /// Harness plus invariants, all compiled.
    pub components: usize,
    /// The metrics the harness emitted for the baseline, in order.
    pub metrics: Vec<String>,
    /// The baseline's evaluation, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<EvalReport>,
    /// Everything wrong with the goal; empty when it is fit to publish.
    pub problems: Vec<String>,
    /// Things worth knowing that do not stop publication.
    pub notes: Vec<String>,
}

/// `ian-host goal check`: loads and compiles every component of a goal
/// file, runs the harness with the baseline on every seed, and checks that
/// every metric the ranking names is one the harness emits. Publishes
/// nothing.
pub fn check_goal(
    goal: &Path,
    baseline: Option<&Path>,
    params: &[String],
    progress: bool,
) -> Result<GoalCheck, CommandError> {
    let (manifest, blobs) = load_goal_file(goal)?;
    let goal_hash = manifest.goal_hash();
    let components = 1 + manifest.invariants.len();
    let mut check = GoalCheck {
        goal: manifest.id.as_str().to_string(),
        goal_hash,
        components,
        metrics: vec!["reward".into(), "risk".into(), "complexity".into()],
        baseline: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let Some(baseline) = baseline else {
        // Compile the components: a goal that does not load must not pass.
        let (m, b) = (manifest.clone(), blobs.clone());
        run_on_eval_thread(move || -> Result<(), CommandError> {
            let judge = local_judge()?;
            let dataset = local_dataset(&m, &b)?;
            judge
                .load_goal(&m, &|h| b.get(&h).cloned(), dataset.as_deref())
                .map(|_| ())
                .map_err(|e| CommandError::Usage(format!("goal components: {e}")))
        })??;
        check.notes.push(
            "no --baseline: the harness did not run, so metric names were not checked".into(),
        );
        return Ok(check);
    };
    let file = with_params(read_pack_for(&manifest, baseline)?, params)?;
    let report = eval_loaded(&manifest, &blobs, file, progress)?;
    let emitted: Vec<String> = report
        .metrics
        .as_ref()
        .map(|m| m.extra.iter().map(|(n, _)| n.clone()).collect())
        .or_else(|| {
            report.seeds.iter().find_map(|s| {
                s.metrics
                    .as_ref()
                    .map(|m| m.extra.iter().map(|(n, _)| n.clone()).collect())
            })
        })
        .unwrap_or_default();
    check.metrics.extend(emitted.iter().cloned());
    let ran = report.metrics.is_some() || report.seeds.iter().any(|s| s.metrics.is_some());
    match (report.verdict.as_str(), report.reason.as_deref()) {
        ("accepted", _) => {}
        ("inconclusive", _) => check.problems.push(format!(
            "the baseline's evaluation was inconclusive: {}",
            report.message.as_deref().unwrap_or("")
        )),
        // Reported below, by name, as an objective problem.
        (_, Some("missing_metric")) => {}
        (_, Some(r @ ("harness_fault" | "non_finite_metric"))) => check.problems.push(format!(
            "the goal's components failed on the baseline ({r}): {}",
            report.message.as_deref().unwrap_or("")
        )),
        (_, reason) => check.notes.push(format!(
            "the baseline was rejected ({}): {}",
            reason.unwrap_or(""),
            report.message.as_deref().unwrap_or("")
        )),
    }
    if ran {
        for o in &manifest.ranking.objectives {
            if !check.metrics.contains(&o.metric) {
                check.problems.push(format!(
                    "ranking objective `{}` names a metric the harness never emits (it emits: {})",
                    o.metric,
                    check.metrics.join(", ")
                ));
            }
        }
    } else {
        check
            .notes
            .push("the baseline produced no metrics, so objective names were not checked".into());
    }
    check.baseline = Some(report);
    Ok(check)
}

/// Human text for `goal check`.
pub fn render_goal_check(c: &GoalCheck) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "goal      {} (goal hash {})", c.goal, c.goal_hash);
    let _ = writeln!(o, "loaded    {} components", c.components);
    if c.baseline.is_some() {
        let _ = writeln!(o, "metrics   {}", c.metrics.join(", "));
    }
    if let Some(b) = &c.baseline {
        let _ = writeln!(o, "baseline:");
        for line in render_eval(b).lines() {
            let _ = writeln!(o, "  {line}");
        }
    }
    for n in &c.notes {
        let _ = writeln!(o, "note      {n}");
    }
    if c.problems.is_empty() {
        let _ = write!(o, "ok        the goal is fit to publish");
    } else {
        for p in &c.problems {
            let _ = writeln!(o, "problem   {p}");
        }
        let _ = write!(o, "FAILED    {} problem(s)", c.problems.len());
    }
    o
}

/// The node key a client checks signatures with: the one the user pinned
/// (`--node-key`, hex or a file holding hex), or else the one the node
/// reports (`GET /api/v1/node`), which the output then names as unpinned.
pub async fn node_key(
    client: &Client,
    pinned: Option<&str>,
) -> Result<(PublicKeyBytes, bool), CommandError> {
    let text = match pinned {
        Some(k) if Path::new(k).is_file() => crate::runtime::keyfile::read_secret(Path::new(k))?,
        Some(k) => k.trim().to_string(),
        None => {
            let info: Value = client.get("/api/v1/node").await?;
            info["public_key"].as_str().unwrap_or_default().to_string()
        }
    };
    let key = PublicKeyBytes::from_hex(&text)
        .map_err(|e| CommandError::Usage(format!("node key: {e}")))?;
    Ok((key, pinned.is_some()))
}

/// The file in a fetched goal directory that holds the manifest.
pub const GOAL_DIR_MANIFEST: &str = "manifest.json";
/// The directory in a fetched goal directory that holds its blobs, each
/// named by its SHA-256.
pub const GOAL_DIR_BLOBS: &str = "blobs";

/// What `goal fetch` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct FetchedGoal {
    /// The goal.
    pub goal: String,
    /// Its hash.
    pub goal_hash: ian_core::Hash32,
    /// The directory.
    pub dir: PathBuf,
    /// Blobs written (components, dataset listing and files).
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// `ian-host goal fetch`: the manifest and every blob the goal names, each
/// checked against its hash, written as a directory `eval --goal` reads.
pub async fn fetch_goal_dir(
    client: &Client,
    goal: &str,
    dir: &Path,
) -> Result<FetchedGoal, CommandError> {
    let (manifest, blobs) = fetch_goal(client, goal).await?;
    let blob_dir = dir.join(GOAL_DIR_BLOBS);
    std::fs::create_dir_all(&blob_dir).map_err(crate::cli::common::file_err(&blob_dir))?;
    for (h, b) in &blobs {
        let p = blob_dir.join(h.to_hex());
        std::fs::write(&p, b).map_err(crate::cli::common::file_err(&p))?;
    }
    let view = serde_json::json!({
        "goal_hash": manifest.goal_hash(),
        "manifest": manifest,
    });
    let p = dir.join(GOAL_DIR_MANIFEST);
    std::fs::write(&p, serde_json::to_vec_pretty(&view).unwrap_or_default())
        .map_err(crate::cli::common::file_err(&p))?;
    Ok(FetchedGoal {
        goal: goal.to_string(),
        goal_hash: manifest.goal_hash(),
        dir: dir.to_path_buf(),
        blobs: blobs.len(),
        bytes: blobs.values().map(|b| b.len() as u64).sum(),
    })
}

/// A goal's manifest and the blobs it names, from a node, all checked.
pub async fn fetch_goal(
    client: &Client,
    goal: &str,
) -> Result<(ian_core::GoalManifest, BTreeMap<ian_core::Hash32, Vec<u8>>), CommandError> {
    let manifest = fetch_manifest(client, goal).await?;
    let mut hashes = vec![manifest.harness.component];
    hashes.extend(manifest.invariants.iter().map(|i| i.component));
    hashes.extend(manifest.harness.dataset);
    let blobs = fetch_blobs(client, hashes, manifest.harness.dataset).await?;
    Ok((manifest, blobs))
}

/// Reads a directory written by `goal fetch`, checking the manifest against
/// its goal hash and every blob against its name.
fn load_goal_dir(
    dir: &Path,
) -> Result<(ian_core::GoalManifest, BTreeMap<ian_core::Hash32, Vec<u8>>), CommandError> {
    #[derive(Deserialize)]
    struct Stored {
        goal_hash: ian_core::Hash32,
        manifest: ian_core::GoalManifest,
    }
    let p = dir.join(GOAL_DIR_MANIFEST);
    let bytes = read(&p)?;
    let s: Stored = serde_json::from_slice(&bytes).map_err(|e| {
        CommandError::Usage(format!(
            "{}: not a goal directory's manifest (written by `ian-host goal fetch`): {e}",
            p.display()
        ))
    })?;
    if s.manifest.goal_hash() != s.goal_hash {
        return Err(CommandError::Usage(format!(
            "{}: the manifest hashes to {}, not the goal hash {} it states",
            p.display(),
            s.manifest.goal_hash(),
            s.goal_hash
        )));
    }
    let mut blobs = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join(GOAL_DIR_BLOBS))
        .map_err(crate::cli::common::file_err(&dir.join(GOAL_DIR_BLOBS)))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(h) = ian_core::Hash32::from_hex(&name) else {
            continue;
        };
        let b = read(&entry.path())?;
        if ian_core::sha256(&b) != h {
            return Err(CommandError::Usage(format!(
                "{}: the file does not hash to its name (changed since `goal fetch`?)",
                entry.path().display()
            )));
        }
        blobs.insert(h, b);
    }
    let mut needed = vec![s.manifest.harness.component];
    needed.extend(s.manifest.invariants.iter().map(|i| i.component));
    if let Some(h) = needed.iter().find(|h| !blobs.contains_key(h)) {
        return Err(CommandError::Usage(format!(
            "{}: component {h} is missing; fetch the goal again",
            dir.display()
        )));
    }
    Ok((s.manifest, blobs))
}

/// Where a result would stand on a node's current board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardPlace {
    /// 1-based rank by score among the node's top entries, or `None` when
    /// it falls below them.
    pub rank: Option<u64>,
    /// Entries in the node's log.
    pub of: u64,
    /// How many top entries the node shows.
    pub top: usize,
}

/// `ian-host eval --goal-id ID --node URL`: evaluates a pack locally
/// against a node's goal (its manifest and components, checked against
/// their hashes) with the node's own code path, and places the score on
/// the node's current board.
pub async fn eval_remote(
    client: &Client,
    goal: &str,
    pack: &Path,
    params: &[String],
    progress: bool,
) -> Result<EvalReport, CommandError> {
    let (manifest, blobs) = fetch_goal(client, goal).await?;
    let file = with_params(read_pack_for(&manifest, pack)?, params)?;
    let mut report = tokio::task::spawn_blocking(move || {
        run_on_eval_thread(move || eval_manifest(manifest, blobs, file, progress))
    })
    .await
    .map_err(|e| CommandError::Usage(format!("evaluation task failed: {e}")))???;
    if let Some(score) = report.score {
        report.on_board = Some(board_place(client, goal, score).await?);
    }
    Ok(report)
}

/// Where `score` would rank on the node's current board of `goal`.
pub async fn board_place(
    client: &Client,
    goal: &str,
    score: f64,
) -> Result<BoardPlace, CommandError> {
    let board: crate::runtime::views::Leaderboard = client
        .get(&format!("/api/v1/goals/{goal}/leaderboard"))
        .await?;
    // Entries already on the board win ties (they came first).
    let better = board.top.iter().filter(|e| e.score.get() >= score).count();
    Ok(BoardPlace {
        rank: (better < board.top.len() || board.top.len() as u64 == board.size)
            .then_some(better as u64 + 1),
        of: board.size + 1,
        top: board.top.len(),
    })
}

/// Fetches a goal's manifest and checks that it hashes to the goal hash the
/// node states for it.
pub(crate) async fn fetch_manifest(
    client: &Client,
    goal: &str,
) -> Result<ian_core::GoalManifest, CommandError> {
    let man: ManifestView = client
        .get(&format!("/api/v1/goals/{goal}/manifest"))
        .await?;
    let manifest = man.manifest;
    if manifest.goal_hash() != man.goal_hash {
        return Err(CommandError::Usage(format!(
            "the node's manifest for {goal} hashes to {}, not the goal hash {} it states",
            manifest.goal_hash(),
            man.goal_hash
        )));
    }
    Ok(manifest)
}

/// Fetches blobs by hash, each checked against its name; a dataset
/// listing pulls in its files.
pub(crate) async fn fetch_blobs(
    client: &Client,
    mut hashes: Vec<ian_core::Hash32>,
    dataset: Option<ian_core::Hash32>,
) -> Result<BTreeMap<ian_core::Hash32, Vec<u8>>, CommandError> {
    let mut blobs = BTreeMap::new();
    let mut i = 0;
    while i < hashes.len() {
        let h = hashes[i];
        i += 1;
        let r = client
            .raw(Method::GET, &format!("/api/v1/blobs/{}", h.to_hex()), None)
            .await?;
        if !r.status.is_success() {
            return Err(CommandError::Usage(format!("node does not serve blob {h}")));
        }
        if ian_core::sha256(&r.body) != h {
            return Err(CommandError::Usage(format!(
                "blob {h} from the node does not hash to its name"
            )));
        }
        if Some(h) == dataset {
            // The dataset listing: its files are blobs too.
            let caps = ian_core::dataset::DatasetLimits {
                max_files: ian_core::dataset::HARD_MAX_DATASET_FILES,
                max_bytes: ian_core::dataset::HARD_MAX_DATASET_BYTES,
            };
            let listing = ian_core::dataset::DatasetListing::from_canonical_bytes(&r.body, &caps)
                .map_err(|e| CommandError::Usage(format!("dataset listing {h}: {e}")))?;
            hashes.extend(listing.files().iter().map(|f| f.sha256));
        }
        blobs.insert(h, r.body.to_vec());
    }
    Ok(blobs)
}

/// Links a root at `size` to the signed checkpoint: equal when `size` is
/// the signed size, otherwise through a consistency proof the node serves
/// and this client verifies.
async fn link_to_checkpoint(
    client: &Client,
    goal: &str,
    size: u64,
    root: &ian_core::Hash32,
    cp: &ian_core::Checkpoint,
) -> Result<(), CommandError> {
    if size == cp.size {
        if *root != cp.root {
            return Err(CommandError::Usage(format!(
                "the node's root at size {size} is {root}, but its signed checkpoint says {}",
                cp.root
            )));
        }
        return Ok(());
    }
    let c: Value = client
        .get(&format!(
            "/api/v1/goals/{goal}/consistency?from={size}&to={}",
            cp.size
        ))
        .await?;
    let proof: ian_core::ConsistencyProof = serde_json::from_value(c["proof"].clone())
        .map_err(|e| CommandError::Usage(format!("consistency proof: {e}")))?;
    ian_core::verify_consistency(size, root, cp.size, &cp.root, &proof).map_err(|e| {
        CommandError::Usage(format!(
            "the root at size {size} is not consistent with the signed checkpoint of size {}: {e}",
            cp.size
        ))
    })
}

/// What `ian-host proof` asks for.
pub enum ProofQuery {
    /// Inclusion of `index` at `size` (default: the signed size).
    Inclusion {
        /// Entry index.
        index: u64,
        /// Tree size.
        size: Option<u64>,
    },
    /// Consistency from `from` to `to` (default: the signed size).
    Consistency {
        /// Old size.
        from: u64,
        /// New size.
        to: Option<u64>,
    },
}

/// `ian-host proof`: fetches a proof and verifies it before printing it:
/// the node's latest checkpoint signature, the proof itself (with the leaf
/// hash computed here from the entry, not taken from the node) and the link
/// from the proof's root to the signed checkpoint.
pub async fn proof(
    client: &Client,
    goal: &str,
    q: ProofQuery,
    pinned_key: Option<&str>,
) -> Result<ProofReport, CommandError> {
    let (key, pinned) = node_key(client, pinned_key).await?;
    let scp: ian_core::SignedCheckpoint = client
        .get(&format!("/api/v1/goals/{goal}/checkpoint"))
        .await?;
    let log = log_verifier(&scp.checkpoint.origin, goal, &key)?;
    scp.verify(&log).map_err(|e| {
        CommandError::Usage(format!(
            "the checkpoint of {goal} does not verify under node key {}: {e}",
            key.to_hex()
        ))
    })?;
    let cp = scp.checkpoint.clone();
    let view = match q {
        ProofQuery::Inclusion { index, size } => {
            let size = size.unwrap_or(cp.size);
            if size > cp.size {
                return Err(CommandError::Usage(format!(
                    "size {size} is beyond the latest signed checkpoint (size {})",
                    cp.size
                )));
            }
            let v: InclusionView = client
                .get(&format!(
                    "/api/v1/goals/{goal}/log/{index}/proof?size={size}"
                ))
                .await?;
            let (proof, root) = (&v.proof, v.root);
            let log: LogRange = client
                .get(&format!("/api/v1/goals/{goal}/log?start={index}&limit=1"))
                .await?;
            let entry = log
                .entries
                .into_iter()
                .find(|e| e.log_index == index)
                .ok_or_else(|| CommandError::Usage(format!("goal {goal} has no entry {index}")))?;
            let leaf = entry.leaf_hash();
            if v.index != index || v.size != size || v.goal != goal {
                return Err(CommandError::Usage(format!(
                    "the node answered with a proof of entry {} at size {} of {}",
                    v.index, v.size, v.goal
                )));
            }
            ian_core::verify_inclusion(&root, size, index, &leaf, proof).map_err(|e| {
                CommandError::Usage(format!(
                    "the inclusion proof of entry {index} at size {size} does not verify: {e}"
                ))
            })?;
            link_to_checkpoint(client, goal, size, &root, &cp).await?;
            // The leaf hash shown is the one computed here from the entry.
            let mut v = v;
            v.leaf_hash = leaf;
            ProofView::Inclusion(v)
        }
        ProofQuery::Consistency { from, to } => {
            let to = to.unwrap_or(cp.size);
            if to > cp.size {
                return Err(CommandError::Usage(format!(
                    "size {to} is beyond the latest signed checkpoint (size {})",
                    cp.size
                )));
            }
            let v: ConsistencyView = client
                .get(&format!(
                    "/api/v1/goals/{goal}/consistency?from={from}&to={to}"
                ))
                .await?;
            if v.from != from || v.to != to || v.goal != goal {
                return Err(CommandError::Usage(format!(
                    "the node answered with a proof from {} to {} of {}",
                    v.from, v.to, v.goal
                )));
            }
            let (old_root, new_root, proof) = (v.old_root, v.new_root, &v.proof);
            ian_core::verify_consistency(from, &old_root, to, &new_root, proof).map_err(|e| {
                CommandError::Usage(format!(
                    "the consistency proof from {from} to {to} does not verify: {e}"
                ))
            })?;
            link_to_checkpoint(client, goal, to, &new_root, &cp).await?;
            ProofView::Consistency(v)
        }
    };
    Ok(ProofReport {
        proof: view,
        verified: true,
        checkpoint: SignedHead {
            size: cp.size,
            root: cp.root,
            origin: cp.origin.clone(),
        },
        node_key: key,
        node_key_pinned: pinned,
    })
}

/// The proof a node served, as `ian-host proof` checked it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProofView {
    /// An inclusion proof.
    Inclusion(InclusionView),
    /// A consistency proof.
    Consistency(ConsistencyView),
}

/// What `ian-host proof` prints: the node's proof (its fields as served)
/// plus what this client verified it against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProofReport {
    /// The proof.
    #[serde(flatten)]
    pub proof: ProofView,
    /// Always true: a proof that does not verify is an error, not a report.
    pub verified: bool,
    /// The signed checkpoint it links to.
    pub checkpoint: SignedHead,
    /// The key that signed it.
    pub node_key: PublicKeyBytes,
    /// Whether the key was given by the user.
    pub node_key_pinned: bool,
}

/// Human text for `proof`.
pub fn render_proof(v: &ProofReport) -> String {
    let head = match &v.proof {
        ProofView::Inclusion(p) => format!(
            "entry #{} of {} is included at size {} (root {}); proof of {} hashes VERIFIED",
            p.index,
            p.goal,
            p.size,
            p.root,
            p.proof.hashes.len()
        ),
        ProofView::Consistency(p) => format!(
            "{} grows consistently from size {} (root {}) to {} (root {}): VERIFIED",
            p.goal, p.from, p.old_root, p.to, p.new_root
        ),
    };
    format!(
        "{head}\nlinked to the checkpoint of size {} (root {}) signed by {}{}",
        v.checkpoint.size,
        v.checkpoint.root,
        v.node_key.to_hex(),
        if v.node_key_pinned {
            ""
        } else {
            " (key as reported by the node; pin it with --node-key)"
        }
    )
}

/// `ian-host replay`: fetch the goal, the entry (as a receipt), its pack and
/// code from the node; check the receipt against the node's signed
/// checkpoint, the manifest against the entry's goal hash and the pack
/// against the entry's pack hash; then re-run code validation, the
/// invariants and the evaluation locally through the same pipeline
/// functions the node uses, and compare every recorded field bit for bit.
pub async fn replay(
    client: &Client,
    goal: &str,
    index: u64,
    pinned_key: Option<&str>,
    progress: bool,
) -> Result<ReplayReport, CommandError> {
    let (key, pinned) = node_key(client, pinned_key).await?;
    let manifest = fetch_manifest(client, goal).await?;
    let view: crate::runtime::views::ReceiptView = client
        .get(&format!("/api/v1/goals/{goal}/receipts/{index}"))
        .await?;
    let receipt = view.receipt;
    let log = log_verifier(&receipt.checkpoint.checkpoint.origin, goal, &key)?;
    receipt.verify(&log).map_err(|e| {
        CommandError::Usage(format!(
            "entry {index} of {goal} is not under a valid signed checkpoint of node key {}: {e}",
            key.to_hex()
        ))
    })?;
    let entry = receipt.entry.clone();
    if entry.log_index != index || entry.goal_id.as_str() != goal {
        return Err(CommandError::Usage(format!(
            "the node answered with entry {} of {}, not entry {index} of {goal}",
            entry.log_index, entry.goal_id
        )));
    }
    if entry.goal_hash != manifest.goal_hash() {
        return Err(CommandError::Usage(format!(
            "entry {index} was logged under goal hash {}, but the node's manifest hashes to {}",
            entry.goal_hash,
            manifest.goal_hash()
        )));
    }
    let pack: AgentPack = client
        .get(&format!("/api/v1/packs/{}", entry.pack_hash.to_hex()))
        .await?;
    if pack.pack_hash() != entry.pack_hash {
        return Err(CommandError::Usage(format!(
            "the pack the node serves hashes to {}, not the entry's pack hash {}",
            pack.pack_hash(),
            entry.pack_hash
        )));
    }
    let mut hashes = vec![manifest.harness.component, pack.code_hash()];
    hashes.extend(manifest.invariants.iter().map(|i| i.component));
    hashes.extend(manifest.harness.dataset);
    let blobs = fetch_blobs(client, hashes, manifest.harness.dataset).await?;
    let code = blobs[&pack.code_hash()].clone();
    let checkpoint = receipt.checkpoint.checkpoint.clone();
    let v = run_on_eval_thread(move || -> Result<ReplayReport, CommandError> {
        use crate::cli::common::{progress as note, progress_done};
        let judge = local_judge()?;
        let t = note(progress, "compiling goal and agent");
        let dataset = local_dataset(&manifest, &blobs)?;
        let loaded = judge
            .load_goal(&manifest, &|h| blobs.get(&h).cloned(), dataset.as_deref())
            .map_err(CommandError::Usage)?;
        progress_done(progress, t, "compiled");
        let t = note(progress, "re-evaluating");
        let judged =
            crate::runtime::judge::rejudge_entry(&judge, &loaded, &manifest, &pack, &code, &entry);
        progress_done(progress, t, "re-evaluated");
        let (differences, outcome) = match judged {
            Ok(d) => (d, "accepted".to_string()),
            Err(Refusal::Rejected(r)) => (Vec::new(), format!("rejected: {r}")),
            Err(Refusal::Inconclusive(i)) => {
                return Err(CommandError::Usage(format!(
                    "the local re-evaluation was inconclusive, so nothing can be compared: {i}"
                )));
            }
        };
        let identical = outcome == "accepted" && differences.is_empty();
        Ok(ReplayReport {
            goal: entry.goal_id.as_str().to_string(),
            index: entry.log_index,
            pack_hash: entry.pack_hash,
            goal_hash: entry.goal_hash,
            checkpoint: SignedHead {
                size: checkpoint.size,
                root: checkpoint.root,
                origin: checkpoint.origin.clone(),
            },
            node_key: key,
            node_key_pinned: pinned,
            replayed_outcome: outcome,
            identical,
            differences,
            fuel_used: entry.fuel_used,
            metrics: entry.metrics,
            score: entry.score,
        })
    })??;
    Ok(v)
}

/// What `ian-host replay` checked and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Goal id.
    pub goal: String,
    /// Entry index.
    pub index: u64,
    /// The entry's pack.
    pub pack_hash: ian_core::Hash32,
    /// The goal hash the entry commits to (the manifest hashed to it).
    pub goal_hash: ian_core::Hash32,
    /// The signed checkpoint the entry was proven under.
    pub checkpoint: SignedHead,
    /// The key that signed it.
    pub node_key: PublicKeyBytes,
    /// Whether the key was given by the user (else reported by the node).
    pub node_key_pinned: bool,
    /// `accepted` or `rejected: <reason>` for the local re-evaluation.
    pub replayed_outcome: String,
    /// Accepted again with every recorded field reproduced bit for bit.
    pub identical: bool,
    /// Fields that differ.
    pub differences: Vec<ian_core::pipeline::Mismatch>,
    /// Recorded fuel.
    pub fuel_used: u64,
    /// Recorded metrics.
    pub metrics: ian_core::Metrics,
    /// Recorded score.
    pub score: ian_core::Finite,
}

/// The size and root of a signed checkpoint a client checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedHead {
    /// Tree size.
    pub size: u64,
    /// Root.
    pub root: ian_core::Hash32,
    /// The log's origin (`<node name>/<goal id>`).
    pub origin: String,
}

/// The verifier of a log's checkpoints given the node's public key: the
/// key name is the checkpoint's origin (c2sp.org/tlog-checkpoint), and the
/// origin must name `goal`, so a checkpoint of another goal is refused.
pub fn log_verifier(
    origin: &str,
    goal: &str,
    key: &PublicKeyBytes,
) -> Result<NoteVerifier, CommandError> {
    if origin.rsplit('/').next() != Some(goal) {
        return Err(CommandError::Usage(format!(
            "the checkpoint is for log {origin}, not for goal {goal}"
        )));
    }
    NoteVerifier::new(origin, ian_core::note::TYPE_ED25519, *key)
        .map_err(|e| CommandError::Usage(format!("checkpoint origin: {e}")))
}

/// Human text for `replay`.
pub fn render_replay(v: &ReplayReport) -> String {
    if v.identical {
        return format!(
            "replay of {} entry #{}: IDENTICAL (under the signed checkpoint of size {}; metric and score bits, fuel {}, ABI, engine, config and harness hashes all match)",
            v.goal, v.index, v.checkpoint.size, v.fuel_used
        );
    }
    let mut o = format!(
        "replay of {} entry #{}: MISMATCH ({})",
        v.goal, v.index, v.replayed_outcome
    );
    for d in &v.differences {
        let _ = write!(
            o,
            "\n  {}: recorded {}, replayed {}",
            d.field, d.recorded, d.replayed
        );
    }
    o
}
