//! IAN's pure core: the data and rules every node and verifier shares.
//!
//! Nothing here performs I/O, reads a clock, spawns a thread or touches
//! wasm: callers pass time in (`now_ms`), hand over bytes they read, and
//! plug evaluation in through traits. That keeps this crate fast to build,
//! usable by light clients, and deterministic: replaying a log through it
//! reproduces the same roots and leaderboard bit for bit.
//!
//! Map:
//! * [`encoding`] — the one canonical, domain-separated binary encoding;
//! * [`goal`] — goal ids, the goal file, limits, thresholds, ranking, the
//!   hashed [`goal::GoalManifest`];
//! * [`pack`] — agent packs and the `.ianpack` file format;
//! * [`contribution`] — signed submissions;
//! * [`dataset`] — dataset listings and the dataset hash a goal commits to;
//! * [`entry`] — log entries;
//! * [`mmr`] — the append-only log; RFC 6962 roots, inclusion and
//!   consistency proofs;
//! * [`proofs`] — optional proof bundles and their verifier;
//! * [`note`] — signed notes (c2sp.org/signed-note), verifier keys,
//!   cosignatures;
//! * [`checkpoint`] — tlog-checkpoint notes and tlog-proof receipts;
//! * [`policy`] — tlog-policy: accepted logs and witness quorums;
//! * [`leaderboard`] — top-K board and Pareto frontier;
//! * [`dedup`] — Bloom filter + exact index;
//! * [`pow`] — the optional proof-of-work price of a submission;
//! * [`verdict`] — typed evaluation outcomes: guest faults vs. inconclusive;
//! * [`pipeline`] — [`pipeline::GoalState`] and the nine-step pipeline
//!   (admit, evaluate, commit).

pub mod checkpoint;
pub mod competition;
pub mod contribution;
pub mod dataset;
pub mod dedup;
pub mod encoding;
pub mod entry;
pub mod goal;
pub mod hash;
pub mod keys;
pub mod leaderboard;
pub mod metrics;
pub mod mmr;
pub mod note;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod pack;
pub mod pipeline;
pub mod policy;
pub mod pow;
pub mod proofs;
pub mod record;
pub mod verdict;

pub use checkpoint::{Checkpoint, Receipt, SignedCheckpoint};
pub use contribution::Contribution;
pub use encoding::{DecodeError, Finite};
pub use entry::{ContributionMeta, LogEntry};
pub use goal::{
    Agents, ComplexityMode, ComplexityRule, GoalError, GoalId, GoalManifest, GoalSpec, Limits,
    Ranking, RuntimeBaseline, Thresholds,
};
pub use hash::{Hash32, sha256};
pub use keys::{PublicKeyBytes, SignatureBytes};
pub use metrics::Metrics;
pub use mmr::{
    ConsistencyProof, InclusionProof, MemMmr, Mmr, verify_consistency, verify_inclusion,
};
pub use pack::{AgentPack, Metadata, PackFile};
pub use pipeline::{
    Accepted, Admitted, Evaluation, Evaluator, GoalState, InvariantChecker, InvariantFailure,
    LogIndex, RawMetrics, Refusal, Rejection, SnapshotError, VerifiedContribution,
};
pub use proofs::{ProofBundle, ProofItem, ProofVerifier, StandardProofVerifier};
pub use verdict::{Failure, FaultKind, GuestFault, Inconclusive, InconclusiveCause, Verdict};
