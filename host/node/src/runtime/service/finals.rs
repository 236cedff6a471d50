//! A competition's close on the node: the reveal of the hidden-seed
//! secret and the final evaluation of every selected entry on the hidden
//! seeds, each result a log leaf.
//!
//! Architecture Invariant: the reveal and every final result are durable
//! before a checkpoint covering them is signed, and the final evaluation
//! goes through the same sandbox path as a submission's (only the seeds
//! differ); finalists are evaluated side by side on the worker count and
//! committed one at a time in the order the core fixes, so a restart
//! resumes exactly where the log stops and any replay reaches the same
//! board.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ian_core::competition::SeedSecret;
use ian_core::pipeline::{Evaluator, RevealRefusal};
use ian_core::record::EvalEnv;
use ian_core::{AgentPack, Checkpoint, SignedCheckpoint};
use ian_store::Ticket;
use tracing::{error, info, warn};

use super::{GoalRt, Node, internal, now_ms};
use crate::runtime::error::ApiError;
use crate::runtime::judge::{CodeSource, SandboxEvaluator};
use crate::runtime::views::{RevealView, SelectView};
use axum::http::StatusCode;

/// Final results written between two signed checkpoints.
const FINALS_PER_CHECKPOINT: usize = 256;
/// Times an inconclusive final evaluation is retried before the runner
/// stops (it resumes at the next start).
const INCONCLUSIVE_RETRIES: u32 = 3;

fn reveal_error(r: RevealRefusal) -> ApiError {
    let (status, code) = match &r {
        RevealRefusal::NoHiddenSeeds(_) => (StatusCode::CONFLICT, "no_hidden_seeds"),
        RevealRefusal::TooEarly { .. } => (StatusCode::FORBIDDEN, "competition_open"),
        RevealRefusal::AlreadyRevealed => (StatusCode::CONFLICT, "already_revealed"),
        RevealRefusal::WrongSecret { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "wrong_secret"),
    };
    ApiError::new(status, code, r.to_string())
}

impl Node {
    /// `POST /api/v1/goals/{goal}/reveal`: checks the secret against the
    /// goal's commitment and the close, appends the reveal durably under a
    /// signed checkpoint, and starts the final evaluation.
    pub fn reveal(self: &Arc<Self>, goal: &str, secret_hex: &str) -> Result<RevealView, ApiError> {
        let g = self.goal(goal)?;
        let secret = SeedSecret::from_hex(secret_hex)
            .map_err(|e| ApiError::bad_request("invalid_secret", e.to_string()))?;
        if self.failed.load(Ordering::Relaxed) {
            return Err(ApiError::unavailable(
                "the node's store failed; it writes nothing until restarted",
            ));
        }
        let (index, ticket) = self.append_leaf(&g, "the reveal", |st| {
            st.commit_reveal(secret, now_ms()).map_err(reveal_error)
        })?;
        self.sign_durable(&g, vec![ticket], index + 1)?;
        let (done, total) = g.state.read().final_progress().unwrap_or((0, 0));
        info!(goal = %g.id, index, finalists = total, "hidden seeds revealed; final evaluation starts");
        self.start_finals(&g);
        Ok(RevealView {
            goal: g.id.clone(),
            log_index: index,
            final_evaluated: done as u64,
            final_total: total as u64,
        })
    }

    /// `POST /api/v1/goals/{goal}/selections`: a contributor's signed choice
    /// of their entries for the final evaluation, checked under the core's
    /// rules and logged durably before the answer. The last one before the
    /// close counts.
    pub fn select(
        &self,
        goal: &str,
        req: crate::runtime::service::SelectRequest,
    ) -> Result<SelectView, ApiError> {
        let g = self.goal(goal)?;
        if self.failed.load(Ordering::Relaxed) {
            return Err(ApiError::unavailable(
                "the node's store failed; it writes nothing until restarted",
            ));
        }
        if let Err(secs) = self.contributor_limiter.check(&req.contributor.0) {
            return Err(ApiError::too_many(
                "rate_limited",
                "too many requests from this contributor",
                secs,
            ));
        }
        let (index, ticket) = self.append_leaf(&g, "a selection", |st| {
            st.commit_selection(
                req.contributor,
                req.nonce,
                req.selected.clone(),
                req.signature,
                now_ms(),
            )
            .map_err(|why| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_selection", why)
            })
        })?;
        self.sign_durable(&g, vec![ticket], index + 1)?;
        info!(goal = %g.id, index, contributor = %req.contributor.to_hex(), selected = ?req.selected, "final selection logged");
        Ok(SelectView {
            goal: g.id.clone(),
            log_index: index,
            selected: req.selected,
        })
    }

    /// For a goal with phases, logs a submission rejected at the
    /// invariants, the evaluation or the thresholds as an attempt (with its
    /// pack and code, so anyone can re-run it), durably under a signed
    /// checkpoint, before the contributor hears of the rejection. Anything
    /// else logs nothing.
    pub(super) fn log_attempt(
        &self,
        g: &GoalRt,
        c: &ian_core::Contribution,
        r: &ian_core::Rejection,
        fuel: u64,
        code: Option<&[u8]>,
    ) {
        let env = EvalEnv {
            fuel_used: fuel,
            engine_version: self.judge.engine_version(),
            config_hash: self.judge.config_hash(),
            abi_version: self.judge.abi_version().to_string(),
            harness_hash: g.manifest.harness.component,
        };
        let written = {
            let mut st = g.state.write();
            let Some(record) = st.commit_attempt(c, r, env, now_ms()) else {
                return;
            };
            let index = record.header().log_index;
            let pack_hash = c.pack.pack_hash();
            (|| -> Result<_, ian_store::StoreError> {
                let mut blobs = Vec::new();
                if let Some(bytes) = code
                    && !self.store.has_blob(&c.pack.code_hash().0)?
                {
                    blobs.push(self.store.put_blob(c.pack.code_hash().0, bytes.to_vec())?);
                }
                if !self.store.has_blob(&pack_hash.0)? {
                    blobs.push(
                        self.store
                            .put_blob(pack_hash.0, c.pack.to_canonical_bytes())?,
                    );
                }
                let t = self
                    .store
                    .append(&g.id, index, record.to_canonical_bytes())?;
                Ok((index, blobs, t))
            })()
        };
        let (index, blobs, ticket) = match written {
            Ok(w) => w,
            Err(e) => {
                self.halt(g, &format!("store refused an attempt: {e}"));
                return;
            }
        };
        for b in blobs {
            if let Err(e) = b.wait() {
                self.halt(g, &format!("an attempt's pack or code is not durable: {e}"));
                return;
            }
        }
        if self.sign_durable(g, vec![ticket], index + 1).is_ok() {
            info!(goal = %g.id, index, contributor = %c.contributor.to_hex(), reason = r.reason_code(), "attempt logged");
        }
    }

    /// Commits one leaf to the goal's state with `commit` and queues it for
    /// the store under the same lock, so leaves reach the store in log
    /// order; a store that refuses halts the node. The caller waits on the
    /// ticket (through `sign_durable`).
    fn append_leaf(
        &self,
        g: &GoalRt,
        what: &str,
        commit: impl FnOnce(&mut ian_core::GoalState) -> Result<ian_core::record::LogRecord, ApiError>,
    ) -> Result<(u64, Ticket<u64>), ApiError> {
        let mut st = g.state.write();
        let record = commit(&mut st)?;
        let index = record.header().log_index;
        match self.store.append(&g.id, index, record.to_canonical_bytes()) {
            Ok(t) => Ok((index, t)),
            Err(e) => {
                drop(st);
                self.halt(g, &format!("store refused {what}: {e}"));
                Err(ApiError::internal())
            }
        }
    }

    /// Starts (or resumes, after a restart) the final evaluation of a
    /// revealed goal in its own thread, unless it is done or running.
    pub(super) fn start_finals(self: &Arc<Self>, g: &Arc<GoalRt>) {
        if g.state.read().final_pending().is_none() {
            return;
        }
        if !self.finals_running.lock().insert(g.id.clone()) {
            return;
        }
        let (node, goal) = (Arc::clone(self), Arc::clone(g));
        let spawned = std::thread::Builder::new()
            .name(format!("ian-finals-{}", g.id))
            .stack_size(self.cfg.limits.worker_stack_bytes as usize)
            .spawn(move || {
                node.run_finals(&goal);
                node.finals_running.lock().remove(&goal.id);
            });
        if let Err(e) = spawned {
            error!(goal = %g.id, error = %e, "cannot start the final evaluation thread");
            self.finals_running.lock().remove(&g.id);
        }
    }

    /// Evaluates every pending finalist on the hidden seeds, appending each
    /// result, signing a checkpoint every [`FINALS_PER_CHECKPOINT`] results
    /// and at the end. Stops at shutdown or on a store failure; what is in
    /// the log stays, and a restart resumes from there.
    fn run_finals(&self, g: &GoalRt) {
        let Some(seeds) = g.state.read().revealed_seeds() else {
            return;
        };
        let env = EvalEnv {
            fuel_used: 0,
            engine_version: self.judge.engine_version(),
            config_hash: self.judge.config_hash(),
            abi_version: self.judge.abi_version().to_string(),
            harness_hash: g.manifest.harness.component,
        };
        let mut tickets: Vec<Ticket<u64>> = Vec::new();
        let mut signed_to = 0;
        let mut retries = 0;
        let width = self.cfg.worker_count().max(1);
        'run: loop {
            if self.queue.lock().is_none() || self.failed.load(Ordering::Relaxed) {
                break;
            }
            let batch = g.state.read().final_batch(width);
            if batch.is_empty() {
                break;
            }
            // Side by side on the worker count, each on a thread with the
            // evaluation stack; committed below in the fixed order.
            let verdicts = std::thread::scope(|s| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|f| {
                        let seeds = &seeds;
                        std::thread::Builder::new()
                            .name("ian-final-eval".into())
                            .stack_size(self.cfg.limits.worker_stack_bytes as usize)
                            .spawn_scoped(s, move || self.evaluate_finalist(g, f, seeds))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| match h {
                        Ok(h) => h
                            .join()
                            .unwrap_or_else(|_| Err("the evaluation thread panicked".into())),
                        Err(e) => Err(format!("cannot start an evaluation thread: {e}")),
                    })
                    .collect::<Vec<_>>()
            });
            for (next, verdict) in batch.into_iter().zip(verdicts) {
                let verdict = match verdict {
                    Ok(v) => v,
                    Err(e) => {
                        error!(goal = %g.id, index = next.index, error = %e, "final evaluation stops");
                        break 'run;
                    }
                };
                let mut st = g.state.write();
                if st.final_pending() != Some(next) {
                    continue 'run;
                }
                let Some(record) = st.commit_final(verdict, env.clone(), now_ms()) else {
                    drop(st);
                    retries += 1;
                    if retries > INCONCLUSIVE_RETRIES {
                        warn!(goal = %g.id, index = next.index, "final evaluation inconclusive; it resumes at the next start");
                        break 'run;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    continue 'run;
                };
                retries = 0;
                let index = record.header().log_index;
                match self.store.append(&g.id, index, record.to_canonical_bytes()) {
                    Ok(t) => tickets.push(t),
                    Err(e) => {
                        drop(st);
                        self.halt(g, &format!("store refused a final result: {e}"));
                        return;
                    }
                }
                drop(st);
                signed_to = index + 1;
            }
            if tickets.len() >= FINALS_PER_CHECKPOINT
                && self
                    .sign_durable(g, std::mem::take(&mut tickets), signed_to)
                    .is_err()
            {
                return;
            }
        }
        if !tickets.is_empty() && self.sign_durable(g, tickets, signed_to).is_err() {
            return;
        }
        if let Some((done, total)) = g.state.read().final_progress() {
            info!(goal = %g.id, done, total, "final evaluation {}", if done == total { "complete" } else { "paused" });
        }
    }

    /// One finalist's verdict on the hidden seeds, through the sandbox
    /// path a submission takes; `Err` when its pack is not in the store.
    fn evaluate_finalist(
        &self,
        g: &GoalRt,
        f: &ian_core::pipeline::Finalist,
        seeds: &[u64],
    ) -> Result<ian_core::Verdict, String> {
        let pack = self.load_pack(&f.pack_hash)?;
        let ev = SandboxEvaluator::new(&self.judge, &g.loaded, CodeSource::Store(&self.store))
            .on_seeds(seeds.to_vec());
        Ok(ev.evaluate(&g.manifest, &pack, &f.pack_hash))
    }

    fn load_pack(&self, pack_hash: &ian_core::Hash32) -> Result<AgentPack, String> {
        let bytes = self
            .store
            .blob(&pack_hash.0)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("pack {pack_hash} is missing"))?;
        AgentPack::from_canonical_bytes(&bytes).map_err(|e| e.to_string())
    }

    /// Waits until `tickets` are on disk, then signs, stores and publishes
    /// one checkpoint at `size`. The store's single writer commits in
    /// order, so every leaf below `size` is durable too.
    fn sign_durable(
        &self,
        g: &GoalRt,
        tickets: Vec<Ticket<u64>>,
        size: u64,
    ) -> Result<(), ApiError> {
        for t in tickets {
            if let Err(e) = t.wait() {
                self.halt(g, &format!("a leaf did not become durable: {e}"));
                return Err(ApiError::internal());
            }
        }
        let root = g.state.read().mmr().root_at(size).map_err(internal)?;
        let cp = SignedCheckpoint::sign(
            Checkpoint {
                origin: g.log.name().to_string(),
                size,
                root,
            },
            &g.log,
        );
        let stored = self
            .store
            .put_checkpoint(&g.id, size, cp.to_canonical_bytes())
            .map_err(|e| e.to_string())
            .and_then(|t| t.wait().map_err(|e| e.to_string()));
        if let Err(e) = stored {
            self.halt(g, &format!("checkpoint record not durable: {e}"));
            return Err(ApiError::internal());
        }
        {
            let mut cur = g.checkpoint.write();
            if cur.as_ref().is_none_or(|c| c.checkpoint.size < size) {
                *cur = Some(cp.clone());
            }
        }
        self.metrics.checkpoints_signed.inc();
        if let Some(t) = self.tau() {
            t.entry_appended(&g.id, &cp, None);
        }
        if self.collector.is_some() {
            self.witness_wake.notify_one();
        } else {
            self.announce(&cp);
        }
        Ok(())
    }
}
