//! `ian-host replay --final`: a competition's final board re-computed on
//! this machine from the node's signed log alone.
//!
//! Every leaf is fetched as c2sp.org/tlog-tiles entry bundles and must
//! rebuild the root of a checkpoint signed by the node's key; the leaves
//! must replay under the core's rules (the reveal matches the commitment,
//! final results come in the fixed order); and every final result is
//! produced again here, by evaluating its pack on the revealed hidden seeds
//! in a local sandbox, and must equal the logged leaf byte for byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ian_core::pipeline::Evaluator;
use ian_core::record::{EvalEnv, LogRecord};
use ian_core::{AgentPack, GoalState, Hash32, PublicKeyBytes};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::cli::client::Client;
use crate::cli::common::CommandError;
use crate::cli::ops::{
    SignedHead, fetch_blobs, fetch_manifest, local_dataset, local_judge, log_verifier, node_key,
    run_on_eval_thread,
};
use crate::runtime::judge::{CodeSource, SandboxEvaluator};
use crate::runtime::service::{TILE_WIDTH, tile_index_path};
use crate::runtime::views::GoalStatus;

/// What `replay --final` checked and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalReplay {
    /// Goal id.
    pub goal: String,
    /// The signed checkpoint the whole log was checked against.
    pub checkpoint: SignedHead,
    /// The key that signed it.
    pub node_key: PublicKeyBytes,
    /// Whether the key was given by the user.
    pub node_key_pinned: bool,
    /// The revealed hidden seeds.
    pub hidden_seeds: Vec<u64>,
    /// Final results re-evaluated here.
    pub finals: u64,
    /// Selected entries still without a final result in the log.
    pub pending: u64,
    /// Every final result reproduced byte for byte.
    pub identical: bool,
    /// Log indices of final results that were not.
    pub mismatches: Vec<u64>,
    /// The final board as re-computed here, best first.
    pub board: Vec<FinalRow>,
}

/// One row of a re-computed final board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalRow {
    /// 1-based rank.
    pub rank: u64,
    /// The public entry.
    pub log_index: u64,
    /// Its contributor.
    pub contributor: PublicKeyBytes,
    /// Score on the hidden seeds.
    pub score: ian_core::Finite,
}

fn usage(m: impl Into<String>) -> CommandError {
    CommandError::Usage(m.into())
}

/// Fetches leaves `[0, size)` as entry bundles.
async fn fetch_leaves(
    client: &Client,
    goal: &str,
    size: u64,
) -> Result<Vec<Vec<u8>>, CommandError> {
    let mut leaves = Vec::with_capacity(size as usize);
    let mut n = 0;
    while n * TILE_WIDTH < size {
        let width = (size - n * TILE_WIDTH).min(TILE_WIDTH);
        let path = if width == TILE_WIDTH {
            format!("/logs/{goal}/tile/entries/{}", tile_index_path(n))
        } else {
            format!("/logs/{goal}/tile/entries/{}.p/{width}", tile_index_path(n))
        };
        let r = client.raw(Method::GET, &path, None).await?;
        if !r.status.is_success() {
            return Err(usage(format!(
                "the node does not serve {path} ({})",
                r.status
            )));
        }
        let mut rest = &r.body[..];
        for _ in 0..width {
            let bad = || usage(format!("entry bundle {n} is malformed"));
            let len = u16::from_be_bytes([
                *rest.first().ok_or_else(bad)?,
                *rest.get(1).ok_or_else(bad)?,
            ]) as usize;
            leaves.push(rest.get(2..2 + len).ok_or_else(bad)?.to_vec());
            rest = &rest[2 + len..];
        }
        if !rest.is_empty() {
            return Err(usage(format!(
                "entry bundle {n} holds more than {width} entries"
            )));
        }
        n += 1;
    }
    Ok(leaves)
}

/// Re-computes `goal`'s final board (module docs).
pub async fn replay_final(
    client: &Client,
    goal: &str,
    pinned_key: Option<&str>,
) -> Result<FinalReplay, CommandError> {
    let (key, pinned) = node_key(client, pinned_key).await?;
    let manifest = fetch_manifest(client, goal).await?;
    let status: GoalStatus = client.get(&format!("/api/v1/goals/{goal}")).await?;
    let cp = status
        .checkpoint
        .ok_or_else(|| usage(format!("goal {goal} has an empty log")))?;
    let verifier = log_verifier(&cp.checkpoint.origin, goal, &key)?;
    cp.verify(&verifier).map_err(|e| {
        usage(format!(
            "the checkpoint of {goal} is not signed by node key {}: {e}",
            key.to_hex()
        ))
    })?;
    let size = cp.checkpoint.size;
    let leaves = fetch_leaves(client, goal, size).await?;
    let mut tree = ian_core::MemMmr::new_in_memory();
    for l in &leaves {
        let _ = tree.append_leaf_hash(ian_core::mmr::leaf_hash(l));
    }
    let root = tree.root().unwrap_or(Hash32::ZERO);
    if root != cp.checkpoint.root {
        return Err(usage(format!(
            "the {size} leaves served rebuild root {root}, but the signed checkpoint is for {}",
            cp.checkpoint.root
        )));
    }
    let records = leaves
        .iter()
        .enumerate()
        .map(|(i, b)| {
            LogRecord::from_canonical_bytes(b)
                .map_err(|e| usage(format!("leaf {i} does not decode: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let replayed = GoalState::replay_records(manifest.clone(), &records)
        .map_err(|e| usage(format!("the log of {goal} does not replay: {e}")))?;
    let seeds = replayed.revealed_seeds().ok_or_else(|| {
        usage(format!(
            "goal {goal}'s hidden seeds are not revealed in its log yet"
        ))
    })?;
    // Everything the final results need: each finalist's pack and code, and
    // the goal's components.
    let mut packs: BTreeMap<Hash32, AgentPack> = BTreeMap::new();
    for r in &records {
        if let LogRecord::Final(f) = r
            && !packs.contains_key(&f.pack_hash)
        {
            let pack: AgentPack = client
                .get(&format!("/api/v1/packs/{}", f.pack_hash.to_hex()))
                .await?;
            if pack.pack_hash() != f.pack_hash {
                return Err(usage(format!(
                    "the node serves another pack for {}",
                    f.pack_hash
                )));
            }
            packs.insert(f.pack_hash, pack);
        }
    }
    let mut hashes = vec![manifest.harness.component];
    hashes.extend(manifest.invariants.iter().map(|i| i.component));
    hashes.extend(manifest.harness.dataset);
    hashes.extend(packs.values().map(AgentPack::code_hash));
    hashes.sort_unstable();
    hashes.dedup();
    let blobs = fetch_blobs(client, hashes, manifest.harness.dataset).await?;
    let goal_id = goal.to_string();
    let checkpoint = cp.checkpoint.clone();
    run_on_eval_thread(move || -> Result<FinalReplay, CommandError> {
        let judge = local_judge()?;
        let dataset = local_dataset(&manifest, &blobs)?;
        let loaded = judge
            .load_goal(&manifest, &|h| blobs.get(&h).cloned(), dataset.as_deref())
            .map_err(CommandError::Usage)?;
        let env = EvalEnv {
            fuel_used: 0,
            engine_version: judge.engine_version(),
            config_hash: judge.config_hash(),
            abi_version: judge.abi_version().to_string(),
            harness_hash: manifest.harness.component,
        };
        // The log up to its first final result, then each final result
        // produced here and compared with the logged one.
        let mut state = GoalState::new(manifest.clone());
        let (mut finals, mut mismatches) = (0u64, Vec::new());
        for r in &records {
            let LogRecord::Final(f) = r else {
                state
                    .apply_record(r)
                    .map_err(|e| usage(format!("the log does not replay: {e}")))?;
                continue;
            };
            if (f.env.engine_version.as_str(), f.env.config_hash)
                != (env.engine_version.as_str(), env.config_hash)
            {
                return Err(usage(format!(
                    "final result {} was evaluated with {} and sandbox config {}; this machine runs {} with config {}",
                    f.header.log_index,
                    f.env.engine_version,
                    f.env.config_hash,
                    env.engine_version,
                    env.config_hash
                )));
            }
            let pack = &packs[&f.pack_hash];
            let code = blobs
                .get(&pack.code_hash())
                .ok_or_else(|| usage(format!("the code of pack {} is missing", f.pack_hash)))?;
            let ev = SandboxEvaluator::new(&judge, &loaded, CodeSource::Bytes(code))
                .on_seeds(seeds.clone());
            let verdict = ev.evaluate(&manifest, pack, &f.pack_hash);
            let mine = state
                .commit_final(verdict, env.clone(), f.header.timestamp_ms)
                .ok_or_else(|| {
                    usage(format!(
                        "the local evaluation of final result {} was inconclusive",
                        f.header.log_index
                    ))
                })?;
            finals += 1;
            if mine != *r {
                mismatches.push(f.header.log_index);
                // Go on from the logged leaf, so one difference is one line.
                state = GoalState::replay_records(
                    manifest.clone(),
                    records.iter().take(f.header.log_index as usize + 1),
                )
                .map_err(|e| usage(format!("the log does not replay: {e}")))?;
            }
        }
        let (done, total) = state.final_progress().unwrap_or((0, 0));
        let board = state
            .final_board()
            .map(|b| {
                b.entries()
                    .iter()
                    .enumerate()
                    .map(|(i, m)| FinalRow {
                        rank: i as u64 + 1,
                        log_index: m.log_index,
                        contributor: m.contributor,
                        score: m.score,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(FinalReplay {
            goal: goal_id,
            checkpoint: SignedHead {
                size: checkpoint.size,
                root: checkpoint.root,
                origin: checkpoint.origin,
            },
            node_key: key,
            node_key_pinned: pinned,
            hidden_seeds: seeds,
            finals,
            pending: (total - done) as u64,
            identical: mismatches.is_empty(),
            mismatches,
            board,
        })
    })?
}

/// Human text for `replay --final`.
pub fn render_final(v: &FinalReplay) -> String {
    let mut o = format!(
        "final board of {}: {} ({} final results re-evaluated on {} hidden seeds under the signed checkpoint of size {}{})",
        v.goal,
        if v.identical { "IDENTICAL" } else { "MISMATCH" },
        v.finals,
        v.hidden_seeds.len(),
        v.checkpoint.size,
        if v.pending > 0 {
            format!("; {} still pending", v.pending)
        } else {
            String::new()
        }
    );
    for i in &v.mismatches {
        let _ = write!(
            o,
            "\n  final result {i} differs from its local re-evaluation"
        );
    }
    for r in &v.board {
        let _ = write!(
            o,
            "\n  {:>3}  entry {:<6} {}  {}",
            r.rank,
            r.log_index,
            &r.contributor.to_hex()[..16],
            r.score.get()
        );
    }
    o
}
