//! Top-K leaderboard and Pareto frontier.
//!
//! Both are deterministic functions of the sequence of accepted entries, so
//! replaying a log rebuilds them exactly.

use crate::encoding::Finite;
use crate::entry::ContributionMeta;
use crate::goal::{Direction, Objective};
use crate::hash::Hash32;

/// True when `a` ranks strictly above `b`: higher score, or equal score and
/// earlier log index.
pub fn ranks_above(a: &ContributionMeta, b: &ContributionMeta) -> bool {
    let (x, y) = (a.score.get(), b.score.get());
    x > y || (x == y && a.log_index < b.log_index)
}

/// What an offer did to the leaderboard.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaderboardChange {
    /// Entered at `rank` (0 = best); `evicted` is the entry that fell off.
    Entered {
        /// 0-based rank.
        rank: usize,
        /// The previous worst, when the board was full; on a board with one
        /// row per contributor, the contributor's own previous best when the
        /// new entry replaced it.
        evicted: Option<ContributionMeta>,
    },
    /// Did not make the board.
    NotRanked,
}

/// The best `capacity` contributions by score; ties go to the earlier log
/// index, so an exact tie with a full board keeps the incumbent.
///
/// With one row per contributor the board is the top `capacity` of each
/// contributor's best entry. Offering entries one by one keeps exactly
/// that: a contributor's better entry replaces their row, and an entry of a
/// contributor who fell off can only come back by beating the worst row,
/// which their earlier best (below every row since) could not.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaderboard {
    capacity: usize,
    per_contributor: bool,
    /// Best first.
    entries: Vec<ContributionMeta>,
}

impl Leaderboard {
    /// An empty board (capacity at least 1), one row per entry.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Leaderboard {
            capacity,
            per_contributor: false,
            entries: Vec::with_capacity(capacity + 1),
        }
    }

    /// An empty board with one row per contributor: their best entry.
    pub fn per_contributor(capacity: usize) -> Self {
        Leaderboard {
            per_contributor: true,
            ..Leaderboard::new(capacity)
        }
    }

    /// True when a contributor has at most one row.
    pub fn is_per_contributor(&self) -> bool {
        self.per_contributor
    }

    /// This board emptied and refilled with `entries` (best first), as a
    /// snapshot recorded them. The caller has checked the order, the
    /// capacity and (per contributor) that no contributor appears twice.
    pub(crate) fn with_entries(&self, entries: Vec<ContributionMeta>) -> Self {
        let mut b = self.clone();
        b.entries.clear();
        b.entries.extend(entries);
        b
    }

    /// Capacity K.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries, best first.
    pub fn entries(&self) -> &[ContributionMeta] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The best entry (the goal's active policy).
    pub fn best(&self) -> Option<&ContributionMeta> {
        self.entries.first()
    }

    /// The entry that the next better contribution would evict.
    pub fn worst(&self) -> Option<&ContributionMeta> {
        self.entries.last()
    }

    /// True if a pack with this hash is on the board.
    pub fn contains(&self, pack_hash: &Hash32) -> bool {
        self.entries.iter().any(|e| e.pack_hash == *pack_hash)
    }

    /// Would `m` enter the board?
    pub fn would_enter(&self, m: &ContributionMeta) -> bool {
        self.would_rank(m.score, m.log_index)
    }

    /// Would an entry with this score and log index enter the board?
    /// (Cheap pre-check before building a [`ContributionMeta`].)
    pub fn would_rank(&self, score: Finite, log_index: u64) -> bool {
        self.entries.len() < self.capacity
            || self.entries.last().is_some_and(|w| {
                let (x, y) = (score.get(), w.score.get());
                x > y || (x == y && log_index < w.log_index)
            })
    }

    /// Offers an entry. O(log K) search plus an O(K) shift (and an O(K)
    /// scan for the contributor's row on a per-contributor board).
    pub fn offer(&mut self, m: ContributionMeta) -> LeaderboardChange {
        if !self.would_enter(&m) {
            return LeaderboardChange::NotRanked;
        }
        if self.per_contributor
            && let Some(own) = self
                .entries
                .iter()
                .position(|e| e.contributor == m.contributor)
        {
            if !ranks_above(&m, &self.entries[own]) {
                return LeaderboardChange::NotRanked;
            }
            let old = self.entries.remove(own);
            let rank = self.entries.partition_point(|e| !ranks_above(&m, e));
            self.entries.insert(rank, m);
            return LeaderboardChange::Entered {
                rank,
                evicted: Some(old),
            };
        }
        let rank = self.entries.partition_point(|e| !ranks_above(&m, e));
        self.entries.insert(rank, m);
        let evicted = if self.entries.len() > self.capacity {
            self.entries.pop()
        } else {
            None
        };
        LeaderboardChange::Entered { rank, evicted }
    }
}

/// What an offer did to the frontier.
#[derive(Debug, Clone, PartialEq)]
pub enum FrontierChange {
    /// Joined; `removed` are the log indices it dominated (and any member
    /// dropped by the capacity cap).
    Joined {
        /// Log indices that left the frontier.
        removed: Vec<u64>,
    },
    /// Dominated by, or equal on every objective to, a member (an exact tie
    /// keeps the incumbent).
    NotJoined,
}

/// The non-dominated set over a goal's objectives.
///
/// `a` dominates `b` when `a` is at least as good on every objective and
/// strictly better on one. A point equal to a member on every objective
/// does not join (the incumbent is kept). If the frontier exceeds its
/// capacity, the member with the lowest score (latest log index on ties)
/// leaves, which bounds memory against adversarial inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoFrontier {
    objectives: Vec<Objective>,
    capacity: usize,
    /// In log-index order.
    members: Vec<ContributionMeta>,
}

/// Compares `a` to `b` on the objectives: `Some(Greater)` when `a`
/// dominates, `Some(Less)` when `b` dominates, `Some(Equal)` when equal on
/// all, `None` when incomparable or an objective is missing.
fn compare(
    objs: &[Objective],
    a: &ContributionMeta,
    b: &ContributionMeta,
) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering::*;
    let (mut better, mut worse) = (false, false);
    for o in objs {
        let (x, y) = (
            a.metrics.get(&o.metric)?.get(),
            b.metrics.get(&o.metric)?.get(),
        );
        let (gt, lt) = match o.direction {
            Direction::Max => (x > y, x < y),
            Direction::Min => (x < y, x > y),
        };
        better |= gt;
        worse |= lt;
    }
    match (better, worse) {
        (true, false) => Some(Greater),
        (false, true) => Some(Less),
        (false, false) => Some(Equal),
        (true, true) => None,
    }
}

impl ParetoFrontier {
    /// An empty frontier.
    pub fn new(objectives: Vec<Objective>, capacity: usize) -> Self {
        ParetoFrontier {
            objectives,
            capacity: capacity.max(1),
            members: Vec::new(),
        }
    }

    /// A frontier holding `members` (in log-index order), as a snapshot
    /// recorded it. The caller has checked the order and the capacity.
    pub(crate) fn with_members(
        objectives: Vec<Objective>,
        capacity: usize,
        members: Vec<ContributionMeta>,
    ) -> Self {
        let mut f = ParetoFrontier::new(objectives, capacity);
        f.members = members;
        f
    }

    /// Members, in log-index order.
    pub fn members(&self) -> &[ContributionMeta] {
        &self.members
    }

    /// The objectives.
    pub fn objectives(&self) -> &[Objective] {
        &self.objectives
    }

    /// Does `a` dominate `b`?
    pub fn dominates(&self, a: &ContributionMeta, b: &ContributionMeta) -> bool {
        compare(&self.objectives, a, b) == Some(std::cmp::Ordering::Greater)
    }

    /// Offers an entry. O(frontier size).
    pub fn offer(&mut self, m: ContributionMeta) -> FrontierChange {
        use std::cmp::Ordering::*;
        for x in &self.members {
            if matches!(compare(&self.objectives, x, &m), Some(Greater | Equal)) {
                return FrontierChange::NotJoined;
            }
        }
        let mut removed = Vec::new();
        let objs = &self.objectives;
        self.members.retain(|x| {
            let dominated = compare(objs, &m, x) == Some(Greater);
            if dominated {
                removed.push(x.log_index);
            }
            !dominated
        });
        self.members.push(m);
        if self.members.len() > self.capacity {
            let mut worst = 0;
            for (i, x) in self.members.iter().enumerate() {
                if ranks_above(&self.members[worst], x) {
                    worst = i;
                }
            }
            removed.push(self.members.remove(worst).log_index);
        }
        FrontierChange::Joined { removed }
    }
}
