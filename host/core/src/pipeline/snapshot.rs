//! Snapshots of a [`GoalState`]: restart without replaying the log.
//!
//! Replaying a log decodes every entry, hashes it into the MMR and re-runs
//! the dedup, nonce and ranking updates. A snapshot instead records what
//! that replay would end with — the MMR node hashes, the pack hashes in
//! log order, the last nonce per contributor, the leaderboard and the
//! frontier — in the canonical encoding (tag `ian/goal-state/v3`, layout in
//! `docs/ENCODING.md`), followed by a SHA-256 checksum of everything before
//! it.
//!
//! What restoring checks, and what it cannot:
//! * the checksum catches accidental corruption anywhere;
//! * every count is checked against the bytes left before anything is
//!   allocated, so a hostile length cannot exhaust memory;
//! * every MMR parent is recomputed from its children, so the peaks commit
//!   to every leaf: a root matching the node's last signed checkpoint
//!   ([`GoalState::matches_checkpoint`]) then vouches for every leaf hash
//!   up to the checkpoint's size;
//! * leaderboard and frontier members must be ordered, fit the goal's
//!   capacities, name the pack the log has at their index and carry the
//!   score the goal's ranking gives their metrics.
//!
//! The dedup index and nonces are derived from entry bodies, which a
//! snapshot does not hold, so only the checksum vouches for them: a
//! snapshot is the node's own state, not something to accept from a peer.
//!
//! The dedup Bloom filter is not stored: it is a pure function of the
//! exact index (see `Dedup::from_index`), rebuilding it costs a few probes
//! per key, and a stored filter would have to be checked bit for bit — a
//! missing bit would be a false negative, i.e. a duplicate let through.

use super::{GoalState, NonceWindow, Usage, score_of};
use crate::checkpoint::Checkpoint;
use crate::dedup::Dedup;
use crate::encoding::{DecodeError, Decoder, Encoder, domain};
use crate::entry::{ContributionMeta, META_MIN_BYTES};
use crate::goal::{GoalManifest, RankingKind};
use crate::hash::{Hash32, sha256};
use crate::keys::PublicKeyBytes;
use crate::leaderboard::{ParetoFrontier, ranks_above};
use crate::mmr::{MemMmr, MemNodes, first_bad_parent, node_count};
use std::collections::HashMap;

/// Bytes of the trailing checksum.
const CHECKSUM_BYTES: usize = 32;
/// Bytes of one `(contributor, highest nonce, window bitmap)` record.
const NONCE_BYTES: usize = 32 + 8 + 8;
/// Bytes per quota-usage record: key, phase, phase total, day, day count.
const USAGE_BYTES: usize = 32 + 4 + 4 + 8 + 4;

/// Why snapshot bytes could not be restored. Each variant names the part
/// that is wrong, so an operator can tell a truncated file from a snapshot
/// of another goal from a corrupt one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes are not a goal-state snapshot (another structure's tag).
    #[error("not a goal-state snapshot: domain tag is {found:?}")]
    WrongDomain {
        /// The tag found.
        found: String,
    },
    /// The input ended inside `field`, or a count needs more bytes than
    /// are left.
    #[error("snapshot is truncated: {field} needs {needed} more bytes at offset {offset}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// The trailing checksum is not the SHA-256 of the bytes before it.
    #[error(
        "snapshot checksum {stored} does not match its contents ({computed}): the bytes are corrupt"
    )]
    ChecksumMismatch {
        /// The checksum recorded at the end.
        stored: Hash32,
        /// SHA-256 of the body.
        computed: Hash32,
    },
    /// The snapshot is of another goal, or of the same id under other
    /// rules.
    #[error("snapshot is of goal hash {found}, not {expected}")]
    GoalMismatch {
        /// The manifest's goal hash.
        expected: Hash32,
        /// The snapshot's.
        found: Hash32,
    },
    /// The node count is not the one an MMR of the recorded size has.
    #[error("snapshot holds {nodes} MMR nodes, which a log of {size} entries cannot have")]
    NodeCountMismatch {
        /// Recorded log size.
        size: u64,
        /// Recorded node count (a log of `size` entries has
        /// `2·size − popcount(size)`).
        nodes: u64,
    },
    /// A parent node is not the hash of its children.
    #[error("MMR node {position} is not the hash of its two children")]
    NodeMismatch {
        /// The parent's post-order position.
        position: u64,
    },
    /// The number of pack hashes is not the log size.
    #[error("snapshot holds {packs} pack hashes for a log of {size} entries")]
    PackCountMismatch {
        /// Recorded log size.
        size: u64,
        /// Recorded pack hash count.
        packs: u64,
    },
    /// The same pack at two log indices (the pipeline never logs a pack
    /// twice).
    #[error("pack {pack_hash} appears at log indices {first} and {second}")]
    DuplicatePack {
        /// The pack.
        pack_hash: Hash32,
        /// Its first index.
        first: u64,
        /// The repeat.
        second: u64,
    },
    /// A count above what the goal or the log allows.
    #[error("{field} holds {count} items, limit is {max}")]
    TooMany {
        /// Which list.
        field: &'static str,
        /// Its count.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// Well-formed bytes describing a state no log of this goal produces
    /// (unsorted keys, a misordered board, a member that is not in the
    /// log, a wrong score, a frontier on a scalar goal, ...).
    #[error("{part} is inconsistent: {reason}")]
    Inconsistent {
        /// Which part.
        part: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Any other malformed field (non-finite number, invalid key, bad
    /// metric name, trailing bytes).
    #[error("malformed snapshot: {0}")]
    Decode(DecodeError),
}

impl From<DecodeError> for SnapshotError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::WrongDomain { found, .. } => SnapshotError::WrongDomain { found },
            DecodeError::UnexpectedEnd {
                field,
                offset,
                needed,
            } => SnapshotError::Truncated {
                field,
                offset,
                needed,
            },
            DecodeError::TooLong { field, len, max } => SnapshotError::TooMany {
                field,
                count: len,
                max,
            },
            e => SnapshotError::Decode(e),
        }
    }
}

fn inconsistent(part: &'static str, reason: impl Into<String>) -> SnapshotError {
    SnapshotError::Inconsistent {
        part,
        reason: reason.into(),
    }
}

/// Checks that `n` items of `item_bytes` each fit in the bytes left,
/// before the caller allocates for them.
fn fits(
    d: &Decoder<'_>,
    field: &'static str,
    n: u64,
    item_bytes: usize,
) -> Result<usize, SnapshotError> {
    let remaining = d.remaining();
    match usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(item_bytes))
    {
        Some(need) if need <= remaining => Ok(n as usize),
        need => Err(SnapshotError::Truncated {
            field,
            offset: d.offset(),
            needed: need.map_or(usize::MAX, |need| need - remaining),
        }),
    }
}

/// Reads `n` raw 32-byte hashes (the count was already bounded).
fn hashes(d: &mut Decoder<'_>, field: &'static str, n: usize) -> Result<Vec<Hash32>, DecodeError> {
    let raw = d.take(field, n * 32)?;
    Ok(raw
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            Hash32(h)
        })
        .collect())
}

/// Checks a leaderboard or frontier member against the restored log: in
/// range, the pack the log has at that index, the score the goal gives.
fn check_member(
    manifest: &GoalManifest,
    size: u64,
    dedup: &Dedup,
    part: &'static str,
    m: &ContributionMeta,
) -> Result<(), SnapshotError> {
    if m.log_index >= size {
        return Err(inconsistent(
            part,
            format!(
                "member log index {} is beyond the log size {size}",
                m.log_index
            ),
        ));
    }
    if dedup.lookup(&m.pack_hash) != Some(m.log_index) {
        return Err(inconsistent(
            part,
            format!(
                "member {} names pack {}, which the log does not have there",
                m.log_index, m.pack_hash
            ),
        ));
    }
    match score_of(manifest, &m.metrics) {
        Ok(s) if s.get().to_bits() == m.score.get().to_bits() => Ok(()),
        Ok(s) => Err(inconsistent(
            part,
            format!(
                "member {} records score {}, the goal's ranking gives {s}",
                m.log_index, m.score
            ),
        )),
        Err(r) => Err(inconsistent(
            part,
            format!("member {} could not have been accepted: {r}", m.log_index),
        )),
    }
}

fn members(
    d: &mut Decoder<'_>,
    field: &'static str,
    max: usize,
) -> Result<Vec<ContributionMeta>, SnapshotError> {
    let n = d.count(field, max, META_MIN_BYTES)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(ContributionMeta::decode_from(d)?);
    }
    Ok(v)
}

impl GoalState {
    /// The whole in-memory state as canonical bytes (tag
    /// `ian/goal-state/v3`), so that a node can restart from it instead of
    /// replaying its log; see [`GoalState::restore`]. Deterministic: equal
    /// states give identical bytes (the nonces are sorted by key, the pack
    /// hashes are in log order), which lets a node compare or dedupe
    /// snapshots by hash.
    pub fn snapshot(&self) -> Vec<u8> {
        let nodes = &self.mmr.store().0;
        let size = self.mmr.size();
        // The pipeline logs each pack once, so the dedup index maps onto
        // 0..size exactly: write it as one pack hash per log index.
        // Leaves that are not accepted entries (attempts, selections, the
        // reveal, final results) hold no pack: their slot stays zero.
        let mut packs = vec![Hash32::ZERO; usize::try_from(size).unwrap_or(0)];
        for (h, i) in self.dedup.pairs() {
            debug_assert!(i < size, "dedup index {i} beyond log size {size}");
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| packs.get_mut(i)) {
                *slot = *h;
            }
        }
        let mut nonces: Vec<(&PublicKeyBytes, &NonceWindow)> = self.nonces.iter().collect();
        nonces.sort_unstable_by_key(|(k, _)| *k);
        let frontier = self.frontier.as_ref().map_or(&[][..], |f| f.members());
        let metas = (self.leaderboard.len() + frontier.len()) * 256;
        let capacity = 128
            + 32 * (nodes.len() + packs.len() + 1)
            + NONCE_BYTES * nonces.len()
            + metas
            + CHECKSUM_BYTES;
        let mut e = Encoder::with_buffer(Vec::with_capacity(capacity), domain::GOAL_STATE);
        e.hash(&self.goal_hash).u64(size);
        e.u64(nodes.len() as u64);
        for n in nodes {
            e.hash(n);
        }
        e.u64(packs.len() as u64);
        for p in &packs {
            e.hash(p);
        }
        e.u64(nonces.len() as u64);
        for (k, w) in nonces {
            e.fixed(&k.0).u64(w.max).u64(w.seen);
        }
        e.u64(self.last_timestamp_ms);
        let mut usage: Vec<(&PublicKeyBytes, &Usage)> = self.usage.iter().collect();
        usage.sort_unstable_by_key(|(k, _)| *k);
        e.u64(usage.len() as u64);
        for (k, u) in usage {
            e.fixed(&k.0)
                .u32(u.phase)
                .u32(u.phase_total)
                .u64(u.day)
                .u32(u.day_count);
        }
        e.count(self.leaderboard.len());
        for m in self.leaderboard.entries() {
            m.encode_into(&mut e);
        }
        e.option(self.frontier.as_ref(), |e, f| {
            e.count(f.members().len());
            for m in f.members() {
                m.encode_into(e);
            }
        });
        e.option(self.finals.as_deref(), |e, f| {
            let mut owned: Vec<_> = f.owned.iter().collect();
            owned.sort_unstable_by_key(|(k, _)| *k);
            e.u64(owned.len() as u64);
            for (k, v) in owned {
                e.fixed(&k.0).u64(v.len() as u64);
                for (i, score) in v {
                    e.u64(*i).f64(*score);
                }
            }
            let mut sel: Vec<_> = f.selections.iter().collect();
            sel.sort_unstable_by_key(|(k, _)| *k);
            e.u64(sel.len() as u64);
            for (k, (nonce, v)) in sel {
                e.fixed(&k.0).u64(*nonce).count(v.len());
                for i in v {
                    e.u64(*i);
                }
            }
            e.option(f.revealed.as_ref(), |e, s| {
                e.fixed(s.as_bytes());
            });
            e.u64(f.done as u64);
            e.count(f.board.len());
            for m in f.board.entries() {
                m.encode_into(e);
            }
        });
        let checksum = e.digest();
        e.hash(&checksum);
        e.finish()
    }

    /// Rebuilds the state [`GoalState::snapshot`] recorded, for `manifest`.
    /// The result is `==` to the snapshotted state and answers every query
    /// alike; further entries [`GoalState::apply`] to it exactly as to the
    /// replayed state. Refuses, with a typed error and without panicking or
    /// allocating more than the input justifies, bytes that are truncated,
    /// corrupt, of another goal, or inconsistent (see the module docs for
    /// what is checked). A node should then check the restored root against
    /// its last signed checkpoint ([`GoalState::matches_checkpoint`]) and
    /// fall back to a replay when either step fails.
    pub fn restore(manifest: GoalManifest, bytes: &[u8]) -> Result<GoalState, SnapshotError> {
        // The tag first, so that another kind of file is named as such
        // rather than reported as corrupt.
        let d = Decoder::new(bytes, domain::GOAL_STATE)?;
        let body_len = bytes
            .len()
            .checked_sub(CHECKSUM_BYTES)
            .filter(|&n| n >= d.offset())
            .ok_or_else(|| SnapshotError::Truncated {
                field: "checksum",
                offset: d.offset(),
                needed: CHECKSUM_BYTES.saturating_sub(d.remaining()),
            })?;
        let (body, tail) = bytes.split_at(body_len);
        let mut stored = [0u8; CHECKSUM_BYTES];
        stored.copy_from_slice(tail);
        let (stored, computed) = (Hash32(stored), sha256(body));
        if stored != computed {
            return Err(SnapshotError::ChecksumMismatch { stored, computed });
        }

        let mut d = Decoder::new(body, domain::GOAL_STATE)?;
        let expected = manifest.goal_hash();
        let found = d.hash("goal_hash")?;
        if found != expected {
            return Err(SnapshotError::GoalMismatch { expected, found });
        }
        let mut s = GoalState::new(manifest);

        // MMR: the node count follows from the size; every parent must be
        // the hash of its children.
        let size = d.u64("size")?;
        let nodes = d.u64("mmr.node_count")?;
        let want = size
            .checked_mul(2)
            .map(|t| t - u64::from(size.count_ones()));
        if want != Some(nodes) {
            return Err(SnapshotError::NodeCountMismatch { size, nodes });
        }
        let n = fits(&d, "mmr.nodes", nodes, 32)?;
        let nodes = hashes(&mut d, "mmr.nodes", n)?;
        if let Some(position) = first_bad_parent(&nodes) {
            return Err(SnapshotError::NodeMismatch { position });
        }
        debug_assert_eq!(node_count(size), nodes.len() as u64);
        s.mmr = MemMmr::open(MemNodes(nodes)).map_err(|_| SnapshotError::NodeCountMismatch {
            size,
            nodes: n as u64,
        })?;

        // Dedup: one pack hash per log index.
        let packs = d.u64("dedup.pack_count")?;
        if packs != size {
            return Err(SnapshotError::PackCountMismatch { size, packs });
        }
        let n = fits(&d, "dedup.packs", packs, 32)?;
        let mut index = HashMap::with_capacity(n);
        for (i, h) in hashes(&mut d, "dedup.packs", n)?.into_iter().enumerate() {
            if h == Hash32::ZERO {
                continue;
            }
            if let Some(first) = index.insert(h, i as u64) {
                return Err(SnapshotError::DuplicatePack {
                    pack_hash: h,
                    first,
                    second: i as u64,
                });
            }
        }
        s.dedup = Dedup::from_index(index);

        // Nonces: at most one contributor per entry, keys strictly
        // increasing so that one state has one encoding.
        let n = d.u64("nonces")?;
        let n = fits(&d, "nonces", n, NONCE_BYTES)?;
        if n as u64 > size {
            return Err(SnapshotError::TooMany {
                field: "nonces",
                count: n as u64,
                max: size,
            });
        }
        s.nonces.reserve(n);
        let mut prev: Option<PublicKeyBytes> = None;
        for _ in 0..n {
            let key = PublicKeyBytes::new(d.array("nonces.contributor")?)
                .map_err(|e| DecodeError::invalid("nonces.contributor", e))?;
            if prev.is_some_and(|p| p >= key) {
                return Err(inconsistent(
                    "nonces",
                    "contributors are not in strictly increasing key order",
                ));
            }
            prev = Some(key);
            let max = d.u64("nonces.max")?;
            let seen = d.u64("nonces.seen")?;
            s.nonces.insert(key, NonceWindow { max, seen });
        }

        // Time and quota usage: at most one usage record per contributor
        // with an entry, keys strictly increasing, each within its phase.
        s.last_timestamp_ms = d.u64("last_timestamp_ms")?;
        let n = d.u64("usage")?;
        let n = fits(&d, "usage", n, USAGE_BYTES)?;
        if n > s.nonces.len() {
            return Err(SnapshotError::TooMany {
                field: "usage",
                count: n as u64,
                max: s.nonces.len() as u64,
            });
        }
        let phases = s
            .manifest
            .competition
            .as_ref()
            .map_or(0, |c| c.phases.len());
        let mut prev: Option<PublicKeyBytes> = None;
        for _ in 0..n {
            let key = PublicKeyBytes::new(d.array("usage.contributor")?)
                .map_err(|e| DecodeError::invalid("usage.contributor", e))?;
            if prev.is_some_and(|p| p >= key) || !s.nonces.contains_key(&key) {
                return Err(inconsistent(
                    "usage",
                    "contributors are not in strictly increasing key order, or have no entry",
                ));
            }
            prev = Some(key);
            let u = Usage {
                phase: d.u32("usage.phase")?,
                phase_total: d.u32("usage.phase_total")?,
                day: d.u64("usage.day")?,
                day_count: d.u32("usage.day_count")?,
            };
            if u.phase as usize >= phases || u.day_count == 0 || u.day_count > u.phase_total {
                return Err(inconsistent("usage", "a count outside its phase"));
            }
            s.usage.insert(key, u);
        }

        // Leaderboard, best first.
        let board = members(&mut d, "leaderboard", s.leaderboard.capacity())?;
        for (i, m) in board.iter().enumerate() {
            check_member(&s.manifest, size, &s.dedup, "leaderboard", m)?;
            if i > 0 && !ranks_above(&board[i - 1], m) {
                return Err(inconsistent(
                    "leaderboard",
                    format!("entry {i} does not rank below entry {}", i - 1),
                ));
            }
        }
        if s.leaderboard.is_per_contributor() {
            let mut seen = std::collections::HashSet::with_capacity(board.len());
            if !board.iter().all(|m| seen.insert(m.contributor)) {
                return Err(inconsistent(
                    "leaderboard",
                    "a contributor holds two rows on a per-contributor board",
                ));
            }
        }
        s.leaderboard = s.leaderboard.with_entries(board);

        // Frontier, in log-index order; present exactly for Pareto goals.
        let present = d.option_tag("frontier")?;
        let pareto = s.manifest.ranking.kind == RankingKind::Pareto;
        if present != pareto {
            return Err(inconsistent(
                "frontier",
                if pareto {
                    "missing for a Pareto goal"
                } else {
                    "present for a scalar goal"
                },
            ));
        }
        if let Some(f) = s.frontier.take() {
            let cap = s.manifest.leaderboard.frontier_capacity as usize;
            let ms = members(&mut d, "frontier", cap.max(1))?;
            for (i, m) in ms.iter().enumerate() {
                check_member(&s.manifest, size, &s.dedup, "frontier", m)?;
                if i > 0 && ms[i - 1].log_index >= m.log_index {
                    return Err(inconsistent(
                        "frontier",
                        "members are not in increasing log-index order",
                    ));
                }
            }
            s.frontier = Some(ParetoFrontier::with_members(
                f.objectives().to_vec(),
                cap,
                ms,
            ));
        }

        // Final evaluation state; present exactly for goals with hidden seeds.
        let present = d.option_tag("finals")?;
        if present != s.finals.is_some() {
            return Err(inconsistent(
                "finals",
                "present exactly for a goal with hidden seeds",
            ));
        }
        if present {
            restore_finals(&mut s, &mut d, size)?;
        }
        d.finish()?;
        Ok(s)
    }

    /// Whether this state's log is the one `checkpoint` signed: the goal
    /// its origin names, at least as many entries, and the same root at the checkpoint's
    /// size. After [`GoalState::restore`] (which has checked every MMR
    /// parent) a match means every leaf hash up to that size is the signed
    /// log's.
    pub fn matches_checkpoint(&self, checkpoint: &Checkpoint) -> bool {
        checkpoint.goal_id() == self.manifest.id.as_str()
            && self
                .mmr
                .root_at(checkpoint.size)
                .is_ok_and(|r| r == checkpoint.root)
    }
}

/// Reads the final-evaluation part of a snapshot into `s` (which has an
/// empty one): owned entries, selections, the secret, progress and board.
fn restore_finals(s: &mut GoalState, d: &mut Decoder<'_>, size: u64) -> Result<(), SnapshotError> {
    let key = |d: &mut Decoder<'_>, field: &'static str| {
        PublicKeyBytes::new(d.array(field)?).map_err(|e| DecodeError::invalid(field, e))
    };
    let n = d.u64("finals.owned")?;
    let n = fits(d, "finals.owned", n, 40)?;
    let mut owned = std::collections::HashMap::with_capacity(n);
    let mut prev: Option<PublicKeyBytes> = None;
    for _ in 0..n {
        let k = key(d, "finals.owned.contributor")?;
        if prev.is_some_and(|p| p >= k) {
            return Err(inconsistent("finals.owned", "keys not strictly increasing"));
        }
        prev = Some(k);
        let m = d.u64("finals.owned.count")?;
        let m = fits(d, "finals.owned.entries", m, 16)?;
        let mut v: Vec<(u64, crate::encoding::Finite)> = Vec::with_capacity(m);
        for _ in 0..m {
            let i = d.u64("finals.owned.index")?;
            if i >= size || v.last().is_some_and(|(j, _)| *j >= i) {
                return Err(inconsistent(
                    "finals.owned",
                    "an index out of order or beyond the log",
                ));
            }
            v.push((i, d.f64("finals.owned.score")?));
        }
        owned.insert(k, v);
    }
    let n = d.u64("finals.selections")?;
    let n = fits(d, "finals.selections", n, 44)?;
    let mut selections = std::collections::HashMap::with_capacity(n);
    for _ in 0..n {
        let k = key(d, "finals.selections.contributor")?;
        let nonce = d.u64("finals.selections.nonce")?;
        let m = d.count(
            "finals.selections.entries",
            crate::competition::MAX_FINAL_SELECTIONS as usize,
            8,
        )?;
        let mut v = Vec::with_capacity(m);
        for _ in 0..m {
            v.push(d.u64("finals.selections.index")?);
        }
        selections.insert(k, (nonce, v));
    }
    let revealed = if d.option_tag("finals.revealed")? {
        Some(crate::competition::SeedSecret::from_bytes(
            d.array("finals.revealed")?,
        ))
    } else {
        None
    };
    let done = d.u64("finals.done")?;
    let Some(f) = s.finals.as_mut() else {
        return Ok(());
    };
    f.owned = owned;
    f.selections = selections;
    let cap = f.board.capacity();
    let board = members(d, "finals.board", cap)?;
    if let Some(secret) = revealed {
        s.open_finals_for_restore(secret);
    }
    let Some(f) = s.finals.as_mut() else {
        return Ok(());
    };
    if done > f.queue.len() as u64 {
        return Err(inconsistent(
            "finals.done",
            "more results than selected entries",
        ));
    }
    f.done = done as usize;
    f.board = f.board.with_entries(board);
    Ok(())
}
