//! The competition leaves of a log beyond accepted entries: attempts,
//! selections, the reveal and the final results, applied by
//! [`GoalState::apply_record`] with the same rules a node uses to write
//! them, so the final board is a pure function of the log.
//!
//! The final set is fixed by the reveal: for each contributor with an
//! accepted entry, their last selection before the close, or else their
//! best `final_selections` entries by rank; all of them in log-index order.
//! Final results must then follow in exactly that order, one per selected
//! entry.

use std::collections::HashMap;

use super::{
    GoalState, Hashes, Judged, Rejection, ReplayError, Step, check_fresh, judge_evaluation,
    score_of,
};
use crate::competition::SeedSecret;
use crate::contribution::Contribution;
use crate::encoding::Finite;
use crate::entry::ContributionMeta;
use crate::hash::Hash32;
use crate::keys::PublicKeyBytes;
use crate::leaderboard::{Leaderboard, LeaderboardChange};
use crate::record::{
    AttemptEntry, EvalEnv, FinalEntry, FinalOutcome, LogRecord, RecordHeader, RevealEntry,
    SelectionEntry,
};
use crate::verdict::Verdict;

/// What a goal with hidden seeds keeps for its final evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finals {
    /// Each contributor's accepted entries: (log index, score).
    pub(crate) owned: HashMap<PublicKeyBytes, Vec<(u64, Finite)>>,
    /// Each contributor's last selection and its nonce.
    pub(crate) selections: HashMap<PublicKeyBytes, (u64, Vec<u64>)>,
    /// The secret, once revealed.
    pub(crate) revealed: Option<SeedSecret>,
    /// The entries to evaluate on the hidden seeds, in order (set by the
    /// reveal).
    pub(crate) queue: Vec<Finalist>,
    /// How many of them have a final result in the log.
    pub(crate) done: usize,
    /// The final board.
    pub(crate) board: Leaderboard,
}

/// One entry of the final set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finalist {
    /// The public entry.
    pub index: u64,
    /// Its pack.
    pub pack_hash: Hash32,
    /// Its contributor.
    pub contributor: PublicKeyBytes,
}

/// Why a reveal is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevealRefusal {
    /// The goal committed to no hidden seeds.
    #[error("goal {0} has no hidden seeds to reveal")]
    NoHiddenSeeds(String),
    /// Before the last phase's close.
    #[error("the competition closes at {closes_at}; the secret may be revealed only after")]
    TooEarly {
        /// The close, RFC 3339.
        closes_at: String,
    },
    /// Already revealed.
    #[error("the hidden seeds were already revealed")]
    AlreadyRevealed,
    /// The secret does not match the manifest's commitment.
    #[error(
        "the secret does not match the goal's commitment {commitment} (its commitment is {got})"
    )]
    WrongSecret {
        /// The manifest's commitment.
        commitment: Hash32,
        /// The given secret's.
        got: Hash32,
    },
}

impl Finals {
    pub(crate) fn new(board: Leaderboard) -> Finals {
        Finals {
            owned: HashMap::new(),
            selections: HashMap::new(),
            revealed: None,
            queue: Vec::new(),
            done: 0,
            board,
        }
    }
}

fn not_acceptable(index: u64, reason: impl Into<String>) -> ReplayError {
    ReplayError::NotAcceptable {
        index,
        reason: reason.into(),
    }
}

impl GoalState {
    /// The header the next leaf must carry at `now_ms`.
    fn next_header(&self, now_ms: u64) -> RecordHeader {
        RecordHeader {
            goal_id: self.manifest.id.clone(),
            goal_hash: self.goal_hash,
            log_index: self.mmr.size(),
            timestamp_ms: self.entry_time(now_ms),
        }
    }

    /// Goal, index and time of any leaf.
    fn check_header(&self, h: &RecordHeader) -> Result<(), ReplayError> {
        self.check_position(&h.goal_id, &h.goal_hash, h.log_index, h.timestamp_ms)
    }

    /// That a leaf is for this goal, at the next index, not earlier than
    /// the last leaf.
    pub(super) fn check_position(
        &self,
        goal_id: &crate::goal::GoalId,
        goal_hash: &Hash32,
        log_index: u64,
        timestamp_ms: u64,
    ) -> Result<(), ReplayError> {
        let index = self.mmr.size();
        if *goal_id != self.manifest.id || *goal_hash != self.goal_hash {
            return Err(ReplayError::WrongGoal {
                index,
                goal_id: goal_id.to_string(),
                goal_hash: *goal_hash,
            });
        }
        if log_index != index {
            return Err(ReplayError::OutOfOrder {
                expected: index,
                found: log_index,
            });
        }
        if timestamp_ms < self.last_timestamp_ms {
            return Err(ReplayError::TimeWentBackwards {
                index,
                timestamp_ms,
                previous_ms: self.last_timestamp_ms,
            });
        }
        Ok(())
    }

    /// That a leaf's pack is not in the log yet and its nonce is unused.
    pub(super) fn check_unused(
        &self,
        index: u64,
        pack_hash: &Hash32,
        contributor: &PublicKeyBytes,
        nonce: u64,
    ) -> Result<(), ReplayError> {
        if let Some(first) = self.dedup.lookup(pack_hash) {
            return Err(ReplayError::Duplicate {
                index,
                pack_hash: *pack_hash,
                first,
            });
        }
        if let Some(w) = self.nonces.get(contributor)
            && !w.admits(nonce)
        {
            return Err(ReplayError::NonceNotIncreasing {
                index,
                nonce,
                last: w.max,
            });
        }
        Ok(())
    }

    /// Appends a leaf that passed its checks.
    fn append_record(&mut self, r: &LogRecord, timestamp_ms: u64) -> Hash32 {
        let leaf = r.leaf_hash();
        let _ = self.mmr.append_leaf_hash(leaf);
        self.last_timestamp_ms = timestamp_ms;
        leaf
    }

    /// Applies any leaf: an accepted entry as [`GoalState::apply`] does,
    /// and the competition kinds under their rules (module docs). This is
    /// what a replay of a competition's log runs.
    pub fn apply_record(&mut self, r: &LogRecord) -> Result<Hash32, ReplayError> {
        match r {
            LogRecord::Entry(e) => self.apply(e),
            LogRecord::Attempt(a) => self.apply_attempt(a),
            LogRecord::Selection(s) => self.apply_selection(s),
            LogRecord::Reveal(v) => self.apply_reveal(v),
            LogRecord::Final(f) => self.apply_final(f),
        }
    }

    /// Rebuilds a goal's state from every kind of leaf.
    pub fn replay_records<'a>(
        manifest: crate::goal::GoalManifest,
        records: impl IntoIterator<Item = &'a LogRecord>,
    ) -> Result<GoalState, ReplayError> {
        let mut s = GoalState::new(manifest);
        for r in records {
            s.apply_record(r)?;
        }
        Ok(s)
    }

    /// Whether this goal logs attempts: one with phases, whose quotas
    /// count evaluated submissions.
    fn logs_attempts(&self) -> bool {
        self.manifest
            .competition
            .as_ref()
            .is_some_and(|c| !c.phases.is_empty())
    }

    /// Logs an evaluated submission that was rejected (at the invariants,
    /// the evaluation or the thresholds) as an attempt, for a goal with
    /// phases: it uses up the contribution's nonce and counts against the
    /// contributor's quotas. `None` (nothing logged) for any other goal or
    /// rejection, and for a contribution that is stale or outside its
    /// phase or quota by now; those are refusals that cost nothing.
    pub fn commit_attempt(
        &mut self,
        c: &Contribution,
        rejection: &Rejection,
        env: EvalEnv,
        now_ms: u64,
    ) -> Option<LogRecord> {
        if !self.logs_attempts() {
            return None;
        }
        let step = match rejection.step() {
            Step::Invariants => 3,
            Step::Evaluation => 5,
            Step::Thresholds => 6,
            _ => return None,
        };
        let hashes = Hashes::of(c);
        check_fresh(self, c, &hashes.pack).ok()?;
        let header = self.next_header(now_ms);
        self.check_open(&c.contributor, header.timestamp_ms).ok()?;
        let a = AttemptEntry {
            header,
            pack_hash: hashes.pack,
            contributor: c.contributor,
            nonce: c.nonce,
            proofs_hash: hashes.proofs,
            signature: c.signature,
            step,
            reason: rejection.reason_code().to_string(),
            env,
        };
        let r = LogRecord::Attempt(a.clone());
        self.append_record(&r, a.header.timestamp_ms);
        self.record_nonce(a.contributor, a.nonce);
        self.count_usage(a.contributor, a.header.timestamp_ms);
        Some(r)
    }

    fn apply_attempt(&mut self, a: &AttemptEntry) -> Result<Hash32, ReplayError> {
        self.check_header(&a.header)?;
        let index = a.header.log_index;
        if !self.logs_attempts() {
            return Err(not_acceptable(index, "an attempt in a goal without phases"));
        }
        self.check_unused(index, &a.pack_hash, &a.contributor, a.nonce)?;
        self.check_open(&a.contributor, a.header.timestamp_ms)
            .map_err(|r| not_acceptable(index, r.to_string()))?;
        if a.env.harness_hash != self.manifest.harness.component {
            return Err(not_acceptable(index, "not judged by the goal's harness"));
        }
        if a.reason.is_empty() {
            return Err(not_acceptable(index, "an attempt without a reason code"));
        }
        let leaf = self.append_record(&LogRecord::Attempt(a.clone()), a.header.timestamp_ms);
        self.record_nonce(a.contributor, a.nonce);
        self.count_usage(a.contributor, a.header.timestamp_ms);
        Ok(leaf)
    }

    fn apply_selection(&mut self, s: &SelectionEntry) -> Result<Hash32, ReplayError> {
        self.check_header(&s.header)?;
        let index = s.header.log_index;
        self.check_selection(s)
            .map_err(|why| not_acceptable(index, why))?;
        let leaf = self.append_record(&LogRecord::Selection(s.clone()), s.header.timestamp_ms);
        if let Some(f) = self.finals.as_mut() {
            f.selections
                .insert(s.contributor, (s.nonce, s.selected.clone()));
        }
        Ok(leaf)
    }

    /// Whether `s` may be the contributor's selection now (its time, its
    /// signature, its nonce, and that it names their own entries).
    fn check_selection(&self, s: &SelectionEntry) -> Result<(), String> {
        let (Some(f), Some(c)) = (self.finals.as_ref(), self.manifest.competition.as_ref()) else {
            return Err("this goal has no final evaluation to select for".into());
        };
        if let Some(close) = c.closes_at()
            && s.header.timestamp_ms >= close.0
        {
            return Err(format!("selections close with the competition at {close}"));
        }
        if !s.verify_signature() {
            return Err("the selection's signature does not verify".into());
        }
        if let Some((last, _)) = f.selections.get(&s.contributor)
            && s.nonce <= *last
        {
            return Err(format!(
                "selection nonce {} is not above the contributor's last {last}",
                s.nonce
            ));
        }
        let max = c.options.final_selections as usize;
        if s.selected.is_empty() || s.selected.len() > max {
            return Err(format!("a selection names 1 to {max} entries"));
        }
        if s.selected.windows(2).any(|w| w[0] >= w[1]) {
            return Err("selected indices must be strictly increasing".into());
        }
        let own = f.owned.get(&s.contributor).map_or(&[][..], Vec::as_slice);
        for i in &s.selected {
            if own.binary_search_by_key(i, |(j, _)| *j).is_err() {
                return Err(format!(
                    "entry {i} is not an accepted entry of this contributor"
                ));
            }
        }
        Ok(())
    }

    fn apply_reveal(&mut self, v: &RevealEntry) -> Result<Hash32, ReplayError> {
        self.check_header(&v.header)?;
        let index = v.header.log_index;
        self.check_reveal(&v.secret, v.header.timestamp_ms)
            .map_err(|r| not_acceptable(index, r.to_string()))?;
        let leaf = self.append_record(&LogRecord::Reveal(v.clone()), v.header.timestamp_ms);
        self.open_finals(v.secret.clone());
        Ok(leaf)
    }

    fn check_reveal(&self, secret: &SeedSecret, t_ms: u64) -> Result<(), RevealRefusal> {
        let hidden = self
            .manifest
            .competition
            .as_ref()
            .and_then(|c| c.options.hidden_seeds.map(|h| (c, h)));
        let Some((c, h)) = hidden else {
            return Err(RevealRefusal::NoHiddenSeeds(self.manifest.id.to_string()));
        };
        if let Some(close) = c.closes_at()
            && t_ms < close.0
        {
            return Err(RevealRefusal::TooEarly {
                closes_at: close.to_string(),
            });
        }
        if self.finals.as_ref().is_some_and(|f| f.revealed.is_some()) {
            return Err(RevealRefusal::AlreadyRevealed);
        }
        let got = secret.commitment();
        if got != h.commitment {
            return Err(RevealRefusal::WrongSecret {
                commitment: h.commitment,
                got,
            });
        }
        Ok(())
    }

    /// [`GoalState::open_finals`] for a snapshot being restored.
    pub(super) fn open_finals_for_restore(&mut self, secret: SeedSecret) {
        self.open_finals(secret);
    }

    /// Fixes the final set (module docs) once the secret is known.
    fn open_finals(&mut self, secret: SeedSecret) {
        let n = self
            .manifest
            .competition
            .as_ref()
            .map_or(1, |c| c.options.final_selections as usize);
        let mut packs: HashMap<u64, Hash32> = HashMap::new();
        let Some(f) = self.finals.as_mut() else {
            return;
        };
        let mut chosen: Vec<(u64, PublicKeyBytes)> = Vec::new();
        for (k, own) in &f.owned {
            match f.selections.get(k) {
                Some((_, sel)) => chosen.extend(sel.iter().map(|i| (*i, *k))),
                None => {
                    let mut best = own.clone();
                    // Rank order: higher score, then the earlier entry.
                    best.sort_by(|a, b| {
                        b.1.get().total_cmp(&a.1.get()).then_with(|| a.0.cmp(&b.0))
                    });
                    chosen.extend(best.iter().take(n).map(|(i, _)| (*i, *k)));
                }
            }
        }
        chosen.sort_unstable_by_key(|(i, _)| *i);
        if !chosen.is_empty() {
            packs.reserve(chosen.len());
            let wanted: std::collections::HashSet<u64> = chosen.iter().map(|(i, _)| *i).collect();
            for (h, i) in self.dedup.pairs() {
                if wanted.contains(&i) {
                    packs.insert(i, *h);
                }
            }
        }
        f.queue = chosen
            .into_iter()
            .map(|(index, contributor)| Finalist {
                index,
                pack_hash: packs.get(&index).copied().unwrap_or(Hash32::ZERO),
                contributor,
            })
            .collect();
        f.revealed = Some(secret);
        f.done = 0;
    }

    fn apply_final(&mut self, r: &FinalEntry) -> Result<Hash32, ReplayError> {
        self.check_header(&r.header)?;
        let index = r.header.log_index;
        let Some(next) = self.final_pending() else {
            return Err(not_acceptable(
                index,
                "a final result with no selected entry left to evaluate (before the reveal, or after the last)",
            ));
        };
        if (r.of_index, r.pack_hash, r.contributor)
            != (next.index, next.pack_hash, next.contributor)
        {
            return Err(not_acceptable(
                index,
                format!(
                    "the final result for entry {} comes where entry {}'s is due",
                    r.of_index, next.index
                ),
            ));
        }
        if r.env.harness_hash != self.manifest.harness.component {
            return Err(not_acceptable(index, "not judged by the goal's harness"));
        }
        match &r.outcome {
            FinalOutcome::Scored { metrics, score } => {
                let computed = score_of(&self.manifest, metrics)
                    .map_err(|e| not_acceptable(index, e.to_string()))?;
                if computed.get().to_bits() != score.get().to_bits() {
                    return Err(ReplayError::ScoreMismatch {
                        index,
                        recorded: score.get(),
                        computed: computed.get(),
                    });
                }
            }
            FinalOutcome::Failed { reason } if reason.is_empty() => {
                return Err(not_acceptable(
                    index,
                    "a failed final result without a reason",
                ));
            }
            FinalOutcome::Failed { .. } => {}
        }
        let leaf = self.append_record(&LogRecord::Final(r.clone()), r.header.timestamp_ms);
        self.record_final(r);
        Ok(leaf)
    }

    fn record_final(&mut self, r: &FinalEntry) -> Option<LeaderboardChange> {
        let f = self.finals.as_mut()?;
        f.done += 1;
        match &r.outcome {
            FinalOutcome::Scored { metrics, score } => Some(f.board.offer(ContributionMeta {
                log_index: r.of_index,
                pack_hash: r.pack_hash,
                contributor: r.contributor,
                score: *score,
                metrics: metrics.clone(),
                timestamp_ms: r.header.timestamp_ms,
            })),
            FinalOutcome::Failed { .. } => None,
        }
    }

    /// Counts an accepted entry towards its contributor's final set.
    pub(super) fn record_owned(&mut self, contributor: PublicKeyBytes, index: u64, score: Finite) {
        if let Some(f) = self.finals.as_mut() {
            f.owned.entry(contributor).or_default().push((index, score));
        }
    }

    /// The hidden seeds, once revealed: what the final evaluation runs on.
    pub fn revealed_seeds(&self) -> Option<Vec<u64>> {
        let f = self.finals.as_ref()?;
        let count = self
            .manifest
            .competition
            .as_ref()?
            .options
            .hidden_seeds?
            .count;
        f.revealed.as_ref().map(|s| s.seeds(count))
    }

    /// The next selected entry to evaluate on the hidden seeds, if any.
    pub fn final_pending(&self) -> Option<Finalist> {
        let f = self.finals.as_ref()?;
        f.revealed.as_ref()?;
        f.queue.get(f.done).copied()
    }

    /// The next `n` selected entries to evaluate on the hidden seeds, in
    /// order: a node evaluates them side by side and commits the results
    /// in this order.
    pub fn final_batch(&self, n: usize) -> Vec<Finalist> {
        let Some(f) = self.finals.as_ref() else {
            return Vec::new();
        };
        if f.revealed.is_none() {
            return Vec::new();
        }
        f.queue.iter().skip(f.done).take(n).copied().collect()
    }

    /// How many final results are in the log, of how many due.
    pub fn final_progress(&self) -> Option<(usize, usize)> {
        let f = self.finals.as_ref()?;
        f.revealed.as_ref()?;
        Some((f.done, f.queue.len()))
    }

    /// The final board (after the reveal).
    pub fn final_board(&self) -> Option<&Leaderboard> {
        let f = self.finals.as_ref()?;
        f.revealed.as_ref()?;
        Some(&f.board)
    }

    /// A contributor's current selection.
    pub fn selection_of(&self, contributor: &PublicKeyBytes) -> Option<&[u64]> {
        self.finals
            .as_ref()?
            .selections
            .get(contributor)
            .map(|(_, s)| s.as_slice())
    }

    /// The reveal leaf for `secret` at `now_ms`, appended if it passes
    /// every check [`GoalState::apply_record`] makes; the final set is
    /// fixed from then on.
    pub fn commit_reveal(
        &mut self,
        secret: SeedSecret,
        now_ms: u64,
    ) -> Result<LogRecord, RevealRefusal> {
        let header = self.next_header(now_ms);
        self.check_reveal(&secret, header.timestamp_ms)?;
        let r = LogRecord::Reveal(RevealEntry {
            header: header.clone(),
            secret: secret.clone(),
        });
        self.append_record(&r, header.timestamp_ms);
        self.open_finals(secret);
        Ok(r)
    }

    /// A contributor's selection at `now_ms`, appended if it passes every
    /// check a replay makes; the reason otherwise.
    pub fn commit_selection(
        &mut self,
        contributor: PublicKeyBytes,
        nonce: u64,
        selected: Vec<u64>,
        signature: crate::keys::SignatureBytes,
        now_ms: u64,
    ) -> Result<LogRecord, String> {
        let s = SelectionEntry {
            header: self.next_header(now_ms),
            contributor,
            nonce,
            selected,
            signature,
        };
        self.check_selection(&s)?;
        let r = LogRecord::Selection(s.clone());
        self.append_record(&r, s.header.timestamp_ms);
        if let Some(f) = self.finals.as_mut() {
            f.selections.insert(contributor, (nonce, s.selected));
        }
        Ok(r)
    }

    /// The final result of the pending finalist from its verdict on the
    /// hidden seeds: a score when it evaluated within the thresholds, a
    /// reason code otherwise. `None` when nothing is pending, or when the
    /// verdict is inconclusive (nothing is recorded; evaluate again).
    /// `failure_env` is the evaluating engine as the caller knows it; a
    /// failed run records it with no fuel.
    pub fn commit_final(
        &mut self,
        verdict: Verdict,
        failure_env: EvalEnv,
        now_ms: u64,
    ) -> Option<LogRecord> {
        let next = self.final_pending()?;
        let (outcome, env) = judge_final(&self.manifest, verdict, failure_env)?;
        let r = FinalEntry {
            header: self.next_header(now_ms),
            of_index: next.index,
            pack_hash: next.pack_hash,
            contributor: next.contributor,
            outcome,
            env,
        };
        let record = LogRecord::Final(r.clone());
        self.append_record(&record, r.header.timestamp_ms);
        self.record_final(&r);
        Some(record)
    }
}

/// What a verdict on the hidden seeds becomes in a final result: a score
/// when it evaluated within the thresholds, the reason code otherwise
/// (failures record `failure_env` with no fuel); `None` for an
/// inconclusive verdict. A mirror compares a logged result with this.
pub fn judge_final(
    manifest: &crate::goal::GoalManifest,
    verdict: Verdict,
    failure_env: EvalEnv,
) -> Option<(FinalOutcome, EvalEnv)> {
    let failed = |reason: &str| {
        (
            FinalOutcome::Failed {
                reason: reason.to_string(),
            },
            EvalEnv {
                fuel_used: 0,
                ..failure_env.clone()
            },
        )
    };
    Some(match verdict {
        Verdict::Inconclusive(_) => return None,
        Verdict::Failed(g) => failed(g.kind.code()),
        Verdict::Evaluated(ev) => match judge_evaluation(manifest, ev) {
            Ok(Judged {
                metrics,
                score,
                fuel_used,
                engine_version,
                config_hash,
                abi_version,
            }) => (
                FinalOutcome::Scored { metrics, score },
                EvalEnv {
                    fuel_used,
                    engine_version,
                    config_hash,
                    abi_version,
                    harness_hash: manifest.harness.component,
                },
            ),
            Err(r) => failed(r.reason_code()),
        },
    })
}
