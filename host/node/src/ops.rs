//! What the CLI commands do, as library functions (tests call them too).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use hyper::Method;
use ian_core::{
    AgentPack, Contribution, GoalId, GoalSpec, Metadata, PackFile, ProofBundle, PublicKeyBytes,
};
use serde_json::{Value, json};

use crate::cli::PackArgs;
use crate::client::{Client, ClientError};
use crate::commands::{CommandError, b64, read};
use crate::service::{PublishRequest, SubmitRequest};

/// Build an `.ianpack` from a component or core module, params and metadata.
pub fn build_pack(a: &PackArgs) -> Result<Value, CommandError> {
    let wasm = read(&a.wasm)?;
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
    std::fs::write(&a.out, file.to_bytes()).map_err(|e| CommandError::File {
        path: a.out.clone(),
        message: e.to_string(),
    })?;
    Ok(json!({
        "file": a.out,
        "pack_hash": file.pack().pack_hash().to_hex(),
        "code_hash": file.pack().code_hash().to_hex(),
        "component_bytes": file.component().len(),
        "params_bytes": file.pack().params().len(),
        "input": input,
    }))
}

/// Read a pack file: `.ianpack`, or a bare `.wasm` taken as a pack with empty
/// params (handy for hostile or random inputs).
pub fn read_pack(path: &Path) -> Result<PackFile, CommandError> {
    let bytes = read(path)?;
    if bytes.starts_with(&ian_core::pack::PACK_FILE_MAGIC) {
        PackFile::from_bytes(&bytes)
            .map_err(|e| CommandError::Usage(format!("{}: {e}", path.display())))
    } else {
        PackFile::new(bytes, Vec::new(), Metadata::empty())
            .map_err(|e| CommandError::Usage(format!("{}: {e}", path.display())))
    }
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
                "{e} (named in {}; run scripts/build-guests.sh to build the components)",
                goal.display()
            ),
        })?;
        components.insert(p, b64(&bytes));
    }
    let dataset = match &spec.harness.dataset {
        None => Vec::new(),
        Some(d) => read_dataset(&base.join(d), goal)?
            .1
            .into_iter()
            .map(|(path, bytes)| crate::service::DatasetUpload {
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
) -> Result<(ian_core::dataset::DatasetListing, crate::datasets::Walked), CommandError> {
    let caps = ian_core::dataset::DatasetLimits {
        max_files: ian_core::dataset::HARD_MAX_DATASET_FILES,
        max_bytes: ian_core::dataset::HARD_MAX_DATASET_BYTES,
    };
    crate::datasets::read_dataset_dir(dir, &caps).map_err(|e| CommandError::File {
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
fn local_dataset(
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
    crate::datasets::materialise(&dataset_cache_dir(), &listing, &|f| blobs.get(f).cloned())
        .map(Some)
        .map_err(|e| CommandError::Usage(format!("dataset {h}: {e}")))
}

/// Result of a submission that reached the pipeline.
#[derive(Debug)]
pub enum SubmitOutcome {
    /// Durable; the JSON reply with the receipt.
    Accepted(Value),
    /// Rejected with a typed reason; the error body.
    Rejected(Value),
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

/// The digest proof-of-work binds to: SHA-256 of the signed message.
pub fn contribution_digest(c: &Contribution) -> [u8; 32] {
    ian_core::sha256(&c.message(&c.pack.pack_hash())).0
}

/// Build the request body for a signed contribution (solving any work).
pub fn submit_request(
    goal: &str,
    c: Contribution,
    code: Option<&[u8]>,
    bits: u32,
) -> SubmitRequest {
    let pow_nonce = (bits > 0).then(|| crate::pow::solve(goal, &contribution_digest(&c), bits));
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
    if r.status.is_success() {
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| ClientError::Decode {
            status: r.status.as_u16(),
            message: e.to_string(),
        })?;
        return Ok(SubmitOutcome::Accepted(v));
    }
    if r.status.as_u16() == 422 || r.status.as_u16() == 409 {
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| ClientError::Decode {
            status: r.status.as_u16(),
            message: e.to_string(),
        })?;
        return Ok(SubmitOutcome::Rejected(v));
    }
    Err(crate::client::decode::<Value>(r)
        .err()
        .map(CommandError::from)
        .unwrap_or_else(|| CommandError::Usage("unexpected reply".into())))
}

/// Verify a receipt file offline. Accepts a bare receipt or a submit reply
/// holding one. `node_key` is hex or a file holding hex.
pub fn verify_receipt_file(path: &Path, node_key: &str) -> Result<Value, CommandError> {
    let bytes = read(path)?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| CommandError::Usage(format!("{}: not JSON: {e}", path.display())))?;
    let receipt_v = if v.get("receipt").is_some() {
        v["receipt"].clone()
    } else {
        v
    };
    let receipt: ian_core::checkpoint::Receipt = serde_json::from_value(receipt_v)
        .map_err(|e| CommandError::Usage(format!("{}: not a receipt: {e}", path.display())))?;
    let key_text = if Path::new(node_key).is_file() {
        crate::keyfile::read_secret(Path::new(node_key))?
    } else {
        node_key.trim().to_string()
    };
    let key = PublicKeyBytes::from_hex(&key_text)
        .map_err(|e| CommandError::Usage(format!("node key: {e}")))?;
    let cp = &receipt.checkpoint.checkpoint;
    let base = json!({
        "goal": receipt.entry.goal_id.as_str(),
        "log_index": receipt.entry.log_index,
        "pack_hash": receipt.entry.pack_hash.to_hex(),
        "size": cp.size,
        "root": cp.root.to_hex(),
        "node_key": key.to_hex(),
    });
    let mut out = base;
    match receipt.verify(&key) {
        Ok(()) => out["valid"] = json!(true),
        Err(e) => {
            out["valid"] = json!(false);
            out["error"] = json!(e.to_string());
        }
    }
    Ok(out)
}

fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.abs() >= 1e6 || (x != 0.0 && x.abs() < 1e-3) => format!("{x:.4e}"),
        Some(x) => format!("{x:.6}"),
        None => v.to_string(),
    }
}

fn short(v: &Value) -> String {
    v.as_str()
        .map(|s| s.chars().take(12).collect())
        .unwrap_or_default()
}

/// Human text for an accepted submission.
pub fn render_accepted(v: &Value) -> String {
    let e = &v["receipt"]["entry"];
    let cp = &v["receipt"]["checkpoint"]["checkpoint"];
    format!(
        "accepted: goal {} entry #{} pack {}\n  reward {}  risk {}  complexity {}  score {}  fuel {}\n  durable; checkpoint size {} root {}",
        e["goal_id"].as_str().unwrap_or(""),
        e["log_index"],
        short(&e["pack_hash"]),
        f(&e["metrics"]["reward"]),
        f(&e["metrics"]["risk"]),
        f(&e["metrics"]["complexity"]),
        f(&e["score"]),
        e["fuel_used"],
        cp["size"],
        cp["root"].as_str().unwrap_or("")
    )
}

/// Human text for goal or node status.
pub fn render_status(v: &Value) -> String {
    let mut o = String::new();
    let goals: Vec<Value> = if v.get("goals").is_some() {
        v["goals"].as_array().cloned().unwrap_or_default()
    } else {
        vec![v.clone()]
    };
    if let Some(n) = v.get("node") {
        let _ = writeln!(
            o,
            "node key {}  ({}, {})",
            n["public_key"].as_str().unwrap_or(""),
            n["engine_version"].as_str().unwrap_or(""),
            n["abi_version"].as_str().unwrap_or("")
        );
    }
    let _ = writeln!(
        o,
        "{:<24} {:>8} {:>9} {:>9}  ROOT",
        "GOAL", "ENTRIES", "ACCEPTED", "REJECTED"
    );
    for g in goals {
        let _ = writeln!(
            o,
            "{:<24} {:>8} {:>9} {:>9}  {}",
            g["id"].as_str().unwrap_or(""),
            g["log_size"].to_string(),
            g["accepted"].to_string(),
            g["rejected"].to_string(),
            g["root"].as_str().unwrap_or("-")
        );
    }
    o.trim_end().to_string()
}

/// Human text for a leaderboard.
pub fn render_leaderboard(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "goal {} — top {} (ranking: {})",
        v["goal"].as_str().unwrap_or(""),
        v["top"].as_array().map_or(0, |a| a.len()),
        v["ranking"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        o,
        "{:>4} {:>6}  {:<22} {:<12} {:>12} {:>12} {:>12} {:>12}",
        "RANK", "INDEX", "AGENT", "PACK", "REWARD", "RISK", "COMPLEXITY", "SCORE"
    );
    for (i, r) in v["top"].as_array().into_iter().flatten().enumerate() {
        let _ = writeln!(
            o,
            "{:>4} {:>6}  {:<22} {:<12} {:>12} {:>12} {:>12} {:>12}",
            i + 1,
            r["log_index"].to_string(),
            r["name"].as_str().unwrap_or(""),
            short(&r["pack_hash"]),
            f(&r["metrics"]["reward"]),
            f(&r["metrics"]["risk"]),
            f(&r["metrics"]["complexity"]),
            f(&r["score"])
        );
    }
    if let Some(p) = v["pareto"].as_array().filter(|p| !p.is_empty()) {
        let _ = writeln!(
            o,
            "Pareto frontier: {} member(s): {}",
            p.len(),
            p.iter()
                .map(|m| format!("#{}", m["log_index"]))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if let Some(rs) = v["rejections"].as_array().filter(|r| !r.is_empty()) {
        let _ = writeln!(o, "recent rejections:");
        for r in rs {
            let _ = writeln!(
                o,
                "  {:<24} {:<26} {}",
                r["name"].as_str().unwrap_or(""),
                r["code"].as_str().unwrap_or(""),
                r["detail"].as_str().unwrap_or("")
            );
        }
    }
    o.trim_end().to_string()
}

/// Human text for a log range.
pub fn render_log(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:>6}  {:<12} {:<12} {:>12} {:>12} {:>12}",
        "INDEX", "PACK", "CONTRIBUTOR", "REWARD", "RISK", "SCORE"
    );
    for e in v["entries"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:>6}  {:<12} {:<12} {:>12} {:>12} {:>12}",
            e["log_index"].to_string(),
            short(&e["pack_hash"]),
            short(&e["contributor"]),
            f(&e["metrics"]["reward"]),
            f(&e["metrics"]["risk"]),
            f(&e["score"])
        );
    }
    let _ = write!(o, "log size {}", v["size"]);
    o
}

fn run_on_eval_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    std::thread::Builder::new()
        .name("ian-eval-local".into())
        .stack_size(crate::config::Config::defaults().limits.worker_stack_bytes as usize)
        .spawn(f)
        .map_err(|e| CommandError::Usage(format!("cannot start evaluation thread: {e}")))?
        .join()
        .map_err(|_| CommandError::Usage("evaluation thread panicked".into()))
}

/// Resolve a goal file and read its components (paths relative to the file).
pub fn load_goal_file(
    goal: &Path,
) -> Result<(ian_core::GoalManifest, BTreeMap<ian_core::Hash32, Vec<u8>>), CommandError> {
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

/// `ian-host eval`: the whole nine-step pipeline locally, against a fresh
/// log, with a throwaway contributor key.
pub fn eval_local(goal: &Path, pack: &Path, progress: bool) -> Result<Value, CommandError> {
    let (manifest, blobs) = load_goal_file(goal)?;
    let file = read_pack(pack)?;
    run_on_eval_thread(move || eval_manifest(manifest, blobs, file, progress))?
}

fn eval_manifest(
    manifest: ian_core::GoalManifest,
    blobs: BTreeMap<ian_core::Hash32, Vec<u8>>,
    file: PackFile,
    progress: bool,
) -> Result<Value, CommandError> {
    use crate::commands::{progress as note, progress_done};
    let judge = crate::judge::Judge::new(
        crate::config::Config::defaults().limits.worker_stack_bytes as usize,
    )
    .map_err(CommandError::Usage)?;
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
    let pre = judge.precompute(
        &loaded,
        &manifest,
        &pack,
        crate::judge::CodeSource::Bytes(&code),
    );
    progress_done(progress, t, "evaluation finished");
    let key = SigningKey::from_bytes(&crate::keyfile::random32());
    let c = Contribution::sign(
        manifest.id.clone(),
        pack.clone(),
        ProofBundle::empty(),
        1,
        &key,
    );
    let mut state = ian_core::pipeline::GoalState::new(manifest.clone());
    let outcome = state.process(
        &c,
        &pre,
        &pre,
        &ian_core::StandardProofVerifier,
        nonce_now() / 1000,
    );
    let mut seeds = Vec::new();
    let mut all_steps: Vec<u64> = Vec::new();
    for r in &pre.runs {
        let rep = &r.report;
        all_steps.extend(rep.agent_fuel_per_step.iter().copied());
        seeds.push(json!({
            "seed": r.seed,
            "outcome": match &rep.outcome { Ok(_) => "ok".to_string(), Err(f) => f.reason_code().to_string() },
            "steps": rep.steps,
            "agent_fuel": rep.agent_fuel,
            "harness_fuel": rep.harness_fuel,
            "metrics": rep.outcome.as_ref().ok().map(|m| json!({"reward": m.reward, "risk": m.risk, "extra": m.extra})),
        }));
    }
    let step_summary = if all_steps.is_empty() {
        Value::Null
    } else {
        let min = *all_steps.iter().min().unwrap_or(&0);
        let max = *all_steps.iter().max().unwrap_or(&0);
        let mean = all_steps.iter().sum::<u64>() as f64 / all_steps.len() as f64;
        json!({"steps": all_steps.len(), "min": min, "mean": mean, "max": max})
    };
    let mut v = json!({
        "goal": manifest.id.as_str(),
        "pack_hash": pack.pack_hash().to_hex(),
        "code_hash": pack.code_hash().to_hex(),
        "seeds": seeds,
        "fuel_per_step": step_summary,
        "fuel_total": pre.fuel(),
    });
    match outcome {
        Ok(a) => {
            v["verdict"] = json!("accepted");
            v["metrics"] = serde_json::to_value(&a.entry.metrics).unwrap_or(Value::Null);
            v["score"] = json!(a.entry.score.get());
        }
        Err(r) => {
            let rep = r.report();
            v["verdict"] = json!("rejected");
            v["reason"] = json!(rep.detail.clone().unwrap_or_else(|| rep.code.to_string()));
            v["step"] = serde_json::to_value(rep.step).unwrap_or(Value::Null);
            v["message"] = json!(rep.message);
            if let Some(Ok(e)) = pre.evaluation_result() {
                v["metrics"] = json!({"reward": e.metrics.reward, "risk": e.metrics.risk, "complexity": e.metrics.complexity});
            }
        }
    }
    Ok(v)
}

/// Human table for `eval`.
pub fn render_eval(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "goal      {}", v["goal"].as_str().unwrap_or(""));
    let _ = writeln!(o, "pack      {}", v["pack_hash"].as_str().unwrap_or(""));
    let verdict = v["verdict"].as_str().unwrap_or("");
    if verdict == "accepted" {
        let _ = writeln!(o, "verdict   ACCEPTED (score {})", f(&v["score"]));
    } else {
        let _ = writeln!(
            o,
            "verdict   REJECTED: {} at step {}",
            v["reason"].as_str().unwrap_or(""),
            v["step"].as_str().unwrap_or("")
        );
        let _ = writeln!(o, "reason    {}", v["message"].as_str().unwrap_or(""));
    }
    if v["metrics"].is_object() {
        let m = &v["metrics"];
        let _ = writeln!(
            o,
            "metrics   reward {}  risk {}  complexity {}",
            f(&m["reward"]),
            f(&m["risk"]),
            f(&m["complexity"])
        );
    }
    let _ = writeln!(
        o,
        "{:>6} {:>8} {:>8} {:>14} {:>14}",
        "SEED", "OUTCOME", "STEPS", "AGENT FUEL", "HARNESS FUEL"
    );
    for s in v["seeds"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:>6} {:>8} {:>8} {:>14} {:>14}",
            s["seed"].to_string(),
            s["outcome"].as_str().unwrap_or(""),
            s["steps"].to_string(),
            s["agent_fuel"].to_string(),
            s["harness_fuel"].to_string()
        );
    }
    if v["fuel_per_step"].is_object() {
        let p = &v["fuel_per_step"];
        let _ = writeln!(
            o,
            "fuel/step min {}  mean {}  max {}  over {} steps",
            p["min"],
            f(&p["mean"]),
            p["max"],
            p["steps"]
        );
    }
    let _ = write!(o, "fuel total {}", v["fuel_total"]);
    o
}

/// `ian-host replay`: fetch the goal, the entry, its pack and code from the
/// node, re-evaluate locally and compare the bits.
pub async fn replay(
    client: &Client,
    goal: &str,
    index: u64,
    progress: bool,
) -> Result<Value, CommandError> {
    let man: Value = client
        .get(&format!("/api/v1/goals/{goal}/manifest"))
        .await?;
    let manifest: ian_core::GoalManifest = serde_json::from_value(man["manifest"].clone())
        .map_err(|e| CommandError::Usage(format!("manifest: {e}")))?;
    let log: Value = client
        .get(&format!("/api/v1/goals/{goal}/log?start={index}&limit=1"))
        .await?;
    let entry: ian_core::LogEntry = serde_json::from_value(log["entries"][0].clone())
        .map_err(|_| CommandError::Usage(format!("goal {goal} has no entry {index}")))?;
    let pack: AgentPack = client
        .get(&format!("/api/v1/packs/{}", entry.pack_hash.to_hex()))
        .await?;
    let mut hashes = vec![manifest.harness.component, pack.code_hash()];
    hashes.extend(manifest.invariants.iter().map(|i| i.component));
    hashes.extend(manifest.harness.dataset);
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
        if Some(h) == manifest.harness.dataset {
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
    let code = blobs[&pack.code_hash()].clone();
    let e2 = entry.clone();
    let v = run_on_eval_thread(move || -> Result<Value, CommandError> {
        use crate::commands::{progress as note, progress_done};
        let judge = crate::judge::Judge::new(
            crate::config::Config::defaults().limits.worker_stack_bytes as usize,
        )
        .map_err(CommandError::Usage)?;
        let t = note(progress, "compiling goal and agent");
        let dataset = local_dataset(&manifest, &blobs)?;
        let loaded = judge
            .load_goal(&manifest, &|h| blobs.get(&h).cloned(), dataset.as_deref())
            .map_err(CommandError::Usage)?;
        progress_done(progress, t, "compiled");
        let t = note(progress, "re-evaluating");
        let pre = judge.precompute(
            &loaded,
            &manifest,
            &pack,
            crate::judge::CodeSource::Bytes(&code),
        );
        progress_done(progress, t, "re-evaluated");
        let mut diffs = Vec::new();
        match pre.evaluation_result() {
            Some(Ok(ev)) => {
                let m = &e2.metrics;
                let pairs = [
                    ("reward", m.reward.get(), ev.metrics.reward),
                    ("risk", m.risk.get(), ev.metrics.risk),
                    ("complexity", m.complexity.get(), ev.metrics.complexity),
                ];
                for (name, a, b) in pairs {
                    if a.to_bits() != b.to_bits() {
                        diffs.push(json!({"field": name, "recorded": a, "replayed": b}));
                    }
                }
                if m.extra.len() != ev.metrics.extra.len() || m.extra.iter().zip(&ev.metrics.extra).any(|(a, b)| a.0 != b.0 || a.1.get().to_bits() != b.1.to_bits()) {
                    diffs.push(json!({"field": "extra"}));
                }
                if e2.fuel_used != ev.fuel_used {
                    diffs.push(json!({"field": "fuel_used", "recorded": e2.fuel_used, "replayed": ev.fuel_used}));
                }
                if e2.engine_version != ev.engine_version {
                    diffs.push(json!({"field": "engine_version", "recorded": e2.engine_version, "replayed": ev.engine_version}));
                }
                if e2.config_hash != ev.config_hash {
                    diffs.push(json!({"field": "config_hash", "recorded": e2.config_hash, "replayed": ev.config_hash}));
                }
            }
            Some(Err(f)) => diffs.push(json!({"field": "outcome", "recorded": "accepted", "replayed": f.code})),
            None => diffs.push(json!({"field": "outcome", "recorded": "accepted", "replayed": "invariants failed"})),
        }
        Ok(json!({
            "goal": e2.goal_id.as_str(),
            "index": e2.log_index,
            "pack_hash": e2.pack_hash.to_hex(),
            "identical": diffs.is_empty(),
            "differences": diffs,
            "fuel_used": e2.fuel_used,
            "metrics": e2.metrics,
        }))
    })??;
    Ok(v)
}

/// Human text for `replay`.
pub fn render_replay(v: &Value) -> String {
    if v["identical"].as_bool() == Some(true) {
        format!(
            "replay of {} entry #{}: IDENTICAL (metrics bits, fuel {}, engine and config hash all match)",
            v["goal"].as_str().unwrap_or(""),
            v["index"],
            v["fuel_used"]
        )
    } else {
        format!(
            "replay of {} entry #{}: MISMATCH {}",
            v["goal"].as_str().unwrap_or(""),
            v["index"],
            v["differences"]
        )
    }
}
