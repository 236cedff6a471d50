//! The typed bodies of the HTTP API: what the node serves and what the CLI
//! reads back. One definition for both sides means a renamed field breaks
//! the build, not a user's terminal, and renderers work on fields, not on
//! `v["..."]` look-ups that silently print nothing.

use ian_core::{
    ConsistencyProof, Finite, GoalManifest, Hash32, InclusionProof, LogEntry, Metrics,
    PublicKeyBytes, Receipt, SignedCheckpoint,
};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/node`: who this node is and what it evaluates with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeInfo {
    /// The checkpoint-signing key, hex.
    pub public_key: PublicKeyBytes,
    /// e.g. "wasmtime 48.0.8".
    pub engine_version: String,
    /// e.g. "ian:eval@0.1.0".
    pub abi_version: String,
    /// Hash of the determinism-relevant sandbox configuration.
    pub config_hash: Hash32,
    /// The node's software version.
    pub version: String,
    /// The node's name; each goal's log origin is `<name>/<goal id>`.
    pub name: String,
    /// The witness key (cosignature/v1 vkey) when this node is a witness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_vkey: Option<String>,
    /// Whether this witness re-evaluates every entry before it cosigns (a
    /// mirror): its cosignature then also states "every entry up to this
    /// size re-evaluates to the recorded bits".
    #[serde(default)]
    pub reevaluates: bool,
    /// Key rotations, oldest first: each a signed note naming the old and
    /// the new key, signed by the new key and (when it was at hand) the old
    /// one. Checkpoints signed before a rotation verify under the old key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_rotations: Vec<String>,
    /// Evaluation workers (`[workers]`), when the node hands evaluations
    /// to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<WorkersInfo>,
}

/// The `workers` part of [`NodeInfo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkersInfo {
    /// Worker keys (hex) whose results the node accepts.
    pub keys: Vec<String>,
    /// Worker keys flagged for a result that differed from the node's own
    /// re-evaluation (`workers.verify_sample`); their results are refused.
    pub flagged: Vec<String>,
    /// The fraction of results the node re-evaluates.
    pub verify_sample: f64,
}

/// A log entry as shown on a board: the fields people compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankedEntry {
    /// Position in the goal's log.
    pub log_index: u64,
    /// The pack.
    pub pack_hash: Hash32,
    /// Who submitted it.
    pub contributor: PublicKeyBytes,
    /// The pack's `name` metadata, empty when it has none.
    pub name: String,
    /// Its score under the goal's ranking.
    pub score: Finite,
    /// Its metrics.
    pub metrics: Metrics,
    /// When it was logged (ms since the Unix epoch).
    pub timestamp_ms: u64,
}

/// `GET /api/v1/goals/{goal}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GoalStatus {
    /// Goal id.
    pub id: String,
    /// Title from the goal file.
    pub title: String,
    /// The goal hash every entry commits to.
    pub goal_hash: Hash32,
    /// Entries in the log.
    pub log_size: u64,
    /// Current root.
    pub root: Hash32,
    /// Latest signed checkpoint note (none while the log is empty).
    pub checkpoint: Option<SignedCheckpoint>,
    /// The log's origin, `<node name>/<goal id>` (the checkpoint's first
    /// line and its signing key's name).
    pub origin: String,
    /// The log's verifier key (c2sp.org/signed-note vkey): what
    /// `note.NewVerifier`, witnesses and `verify --witness-policy` take.
    pub log_vkey: String,
    /// Tile prefix (c2sp.org/tlog-tiles), relative to the node's URL.
    pub tiles: String,
    /// The best entry.
    pub top: Option<RankedEntry>,
    /// Accepted since the node started (including replayed entries).
    pub accepted: u64,
    /// Rejected since the node started.
    pub rejected: u64,
    /// Proof-of-work bits a submission must carry.
    pub pow_bits: u32,
    /// The ranking rule in words.
    pub ranking: String,
    /// Tau commitment state, when Tau wiring is on.
    #[schema(value_type = Option<Object>)]
    pub tau: Option<serde_json::Value>,
    /// When the operator retired the goal (RFC 3339 UTC); absent while it
    /// takes submissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
    /// The competition's phases and where it stands; absent for a goal
    /// that is always open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competition: Option<CompetitionView>,
}

/// Where a competition stands at the time of the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompetitionView {
    /// The phases in time order, each with its state.
    pub phases: Vec<PhaseView>,
    /// The open phase's name, if one is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    /// When the last phase closes (RFC 3339 UTC): after it, the final
    /// board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<String>,
    /// Hidden seeds committed to, revealed after the close (0: none).
    pub hidden_seeds: u32,
    /// The commitment to their secret (hex), when there are hidden seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_seeds_commitment: Option<Hash32>,
    /// Entries per contributor the final evaluation counts.
    pub final_selections: u32,
    /// `per-pack` or `per-contributor`.
    pub board: String,
    /// Whether the hidden seeds were revealed.
    pub revealed: bool,
    /// Final results in the log, once revealed.
    pub final_evaluated: u64,
    /// Selected entries the final evaluation runs, once revealed.
    pub final_total: u64,
}

/// One phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhaseView {
    /// Name.
    pub name: String,
    /// Opens (RFC 3339 UTC).
    pub opens_at: String,
    /// Closes (RFC 3339 UTC).
    pub closes_at: String,
    /// `upcoming`, `open` or `closed`.
    pub state: String,
    /// Evaluated submissions per contributor per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_day: Option<u32>,
    /// Evaluated submissions per contributor in the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total: Option<u32>,
}

impl CompetitionView {
    /// The view of `manifest`'s competition at `now_ms`, or `None`.
    pub fn of(
        manifest: &GoalManifest,
        now_ms: u64,
        state: &ian_core::GoalState,
    ) -> Option<CompetitionView> {
        let c = manifest.competition.as_ref()?;
        let phases = c
            .phases
            .iter()
            .map(|p| PhaseView {
                name: p.name.clone(),
                opens_at: p.opens_at.to_string(),
                closes_at: p.closes_at.to_string(),
                state: if now_ms < p.opens_at.0 {
                    "upcoming"
                } else if now_ms < p.closes_at.0 {
                    "open"
                } else {
                    "closed"
                }
                .to_string(),
                max_per_day: p.max_per_day,
                max_total: p.max_total,
            })
            .collect();
        let h = c.options.hidden_seeds;
        Some(CompetitionView {
            phases,
            current_phase: c.phase_at(now_ms).ok().flatten().map(|p| p.name.clone()),
            closes_at: c.closes_at().map(|t| t.to_string()),
            hidden_seeds: h.map_or(0, |h| h.count),
            hidden_seeds_commitment: h.map(|h| h.commitment),
            final_selections: c.options.final_selections,
            board: match c.options.board {
                ian_core::competition::BoardRows::PerPack => "per-pack",
                ian_core::competition::BoardRows::PerContributor => "per-contributor",
            }
            .to_string(),
            revealed: state.revealed_seeds().is_some(),
            final_evaluated: state.final_progress().map_or(0, |p| p.0 as u64),
            final_total: state.final_progress().map_or(0, |p| p.1 as u64),
        })
    }
}

/// `GET /api/v1/goals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GoalList {
    /// Every goal's status.
    pub goals: Vec<GoalStatus>,
}

/// A rejection kept for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecentRejection {
    /// Pack hash, hex.
    pub pack_hash: String,
    /// Agent name from metadata.
    pub name: String,
    /// Reason code.
    pub code: String,
    /// Pipeline step.
    pub step: String,
    /// Message.
    pub detail: String,
    /// The contributor's public key, hex.
    #[serde(default)]
    pub contributor: String,
    /// When the node refused it (ms since the Unix epoch).
    #[serde(default)]
    pub time_ms: u64,
    /// Position among this goal's stored rejections (0 = the first ever).
    #[serde(default)]
    pub seq: u64,
}

/// `GET /api/v1/goals/{goal}/contributors/{key}`: one contributor's
/// submissions to a goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContributorHistory {
    /// Goal id.
    pub goal: String,
    /// The contributor's public key, hex.
    pub contributor: String,
    /// Entries in the log (the board's `M` in "N of M").
    pub log_size: u64,
    /// Accepted entries, oldest first, with their place on the board.
    pub accepted: Vec<HistoryEntry>,
    /// Stored rejections (the newest `limits.stored_rejections` of the
    /// goal), oldest first.
    pub rejected: Vec<RecentRejection>,
}

/// One accepted entry in a contributor's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Log index.
    pub log_index: u64,
    /// Pack hash, hex.
    pub pack_hash: String,
    /// Agent name from metadata.
    pub name: String,
    /// Score.
    pub score: f64,
    /// When it was accepted (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// Its place on the board now (1 = best), when it is in the top-K.
    pub rank: Option<u64>,
}

/// One seed's result for an accepted entry, as the node measured it when
/// it accepted the entry. The log keeps only the mean over seeds; these are
/// kept beside it (display data, re-computable by `ian-host replay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Reward on this seed.
    pub reward: f64,
    /// Risk on this seed.
    pub risk: f64,
    /// Complexity (agent fuel per `act`) on this seed.
    pub complexity: f64,
    /// Extra metrics, in the harness's order.
    #[serde(default)]
    pub extra: Vec<(String, f64)>,
    /// All agent fuel on this seed.
    pub agent_fuel: u64,
    /// Harness fuel on this seed.
    pub harness_fuel: u64,
    /// `act` calls served.
    pub steps: u64,
}

/// `GET /api/v1/goals/{goal}/leaderboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Leaderboard {
    /// Goal id.
    pub goal: String,
    /// The ranking rule in words.
    pub ranking: String,
    /// Entries in the log.
    pub size: u64,
    /// Top-K, best first.
    pub top: Vec<RankedEntry>,
    /// Pareto frontier (Pareto goals only).
    pub pareto: Vec<RankedEntry>,
    /// Most recent rejections, newest first.
    pub rejections: Vec<RecentRejection>,
}

/// `GET /api/v1/goals/{goal}/log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogRange {
    /// Goal id.
    pub goal: String,
    /// First index asked for.
    pub start: u64,
    /// Entries in the log.
    pub size: u64,
    /// The accepted entries in the range, in log order.
    pub entries: Vec<LogEntry>,
    /// The range's other leaves (a competition's reveal and final
    /// results), in log order; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordView>,
}

/// `GET /api/v1/goals/{goal}/final`: the board on the hidden seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FinalBoard {
    /// Goal id.
    pub goal: String,
    /// Whether the secret was revealed (nothing below before that).
    pub revealed: bool,
    /// The hidden seeds, once revealed.
    pub hidden_seeds: Vec<u64>,
    /// Final results in the log.
    pub evaluated: u64,
    /// Selected entries to evaluate.
    pub total: u64,
    /// Best first; `log_index` is the public entry, the metrics and score
    /// are on the hidden seeds.
    pub top: Vec<RankedEntry>,
}

/// `POST /api/v1/goals/{goal}/selections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelectView {
    /// Goal id.
    pub goal: String,
    /// Where the selection is in the log.
    pub log_index: u64,
    /// The entries selected.
    pub selected: Vec<u64>,
}

/// `POST /api/v1/goals/{goal}/reveal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevealView {
    /// Goal id.
    pub goal: String,
    /// Where the reveal is in the log.
    pub log_index: u64,
    /// Final results in the log so far.
    pub final_evaluated: u64,
    /// Selected entries the final evaluation runs.
    pub final_total: u64,
}

/// A leaf that is not an accepted entry, as people read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordView {
    /// Position in the log.
    pub log_index: u64,
    /// `attempt`, `selection`, `reveal` or `final`.
    pub kind: String,
    /// Node time (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// The contributor it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contributor: Option<PublicKeyBytes>,
    /// For a final result: the public entry it re-evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of_index: Option<u64>,
    /// For a scored final result: its metrics on the hidden seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// For a scored final result: its score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub score: Option<Finite>,
    /// For an attempt or a failed final result: the reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a selection: the entries selected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected: Vec<u64>,
    /// For a reveal: the hidden seeds' secret (hex), public from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl RecordView {
    /// The view of a leaf; `None` for an accepted entry (shown as one).
    pub fn of(r: &ian_core::record::LogRecord) -> Option<RecordView> {
        use ian_core::record::{FinalOutcome, LogRecord};
        let h = r.header();
        let mut v = RecordView {
            log_index: h.log_index,
            kind: r.kind().to_string(),
            timestamp_ms: h.timestamp_ms,
            contributor: None,
            of_index: None,
            metrics: None,
            score: None,
            reason: None,
            selected: Vec::new(),
            secret: None,
        };
        match r {
            LogRecord::Entry(_) => return None,
            LogRecord::Attempt(a) => {
                v.contributor = Some(a.contributor);
                v.reason = Some(a.reason.clone());
            }
            LogRecord::Selection(s) => {
                v.contributor = Some(s.contributor);
                v.selected = s.selected.clone();
            }
            LogRecord::Reveal(x) => v.secret = Some(x.secret.to_hex()),
            LogRecord::Final(f) => {
                v.contributor = Some(f.contributor);
                v.of_index = Some(f.of_index);
                match &f.outcome {
                    FinalOutcome::Scored { metrics, score } => {
                        v.metrics = Some(metrics.clone());
                        v.score = Some(*score);
                    }
                    FinalOutcome::Failed { reason } => v.reason = Some(reason.clone()),
                }
            }
        }
        Some(v)
    }
}

/// `GET /api/v1/goals/{goal}/log/{index}/proof`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionView {
    /// Goal id.
    pub goal: String,
    /// Entry index.
    pub index: u64,
    /// Tree size the proof is for.
    pub size: u64,
    /// Root at that size.
    pub root: Hash32,
    /// The entry's leaf hash.
    pub leaf_hash: Hash32,
    /// The proof.
    pub proof: InclusionProof,
}

/// `GET /api/v1/goals/{goal}/consistency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyView {
    /// Goal id.
    pub goal: String,
    /// Old size.
    pub from: u64,
    /// New size.
    pub to: u64,
    /// Root at the old size.
    pub old_root: Hash32,
    /// Root at the new size.
    pub new_root: Hash32,
    /// The proof.
    pub proof: ConsistencyProof,
}

/// `GET /api/v1/goals/{goal}/manifest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManifestView {
    /// The goal file as published.
    pub goal_toml: String,
    /// The resolved manifest.
    #[schema(value_type = Object)]
    pub manifest: GoalManifest,
    /// Its hash, as the node computes it.
    pub goal_hash: Hash32,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unhealthy` (HTTP 503) while the node refuses submissions.
    pub status: String,
    /// Number of goals.
    pub goals: usize,
    /// Why the node is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/v1/goals/{goal}/receipts/{index}` and the by-pack route: the
/// entry as JSON beside its c2sp.org/tlog-proof receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptView {
    /// The entry (the same one the receipt's `extra` line carries).
    pub entry: LogEntry,
    /// The tlog-proof text.
    pub receipt: Receipt,
    /// Whether the receipt's checkpoint carries the witness policy's
    /// quorum (always true without a policy).
    pub witnessed: bool,
}
