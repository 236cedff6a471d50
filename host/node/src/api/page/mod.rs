//! The web pages: the node, each goal, each contributor and each entry,
//! server-rendered with no script at all, so they read the same in a
//! terminal browser, a screen reader or headless Chromium, and refresh
//! themselves with a meta refresh.
//!
//! [`render`] holds the templates over plain view structs; this module
//! gathers the views from a [`Node`] (blocking reads: callers run it off
//! the async workers) and turns API errors into error pages.

pub mod render;
pub mod svg;
pub mod text;

use axum::response::{Html, IntoResponse, Response};
use ian_core::goal::{Direction, RankingKind};

use crate::runtime::error::ApiError;
use crate::runtime::service::{GoalRt, Node};

use render::{CheckpointView, EntryPage, GoalPage, GoalSummary, NodeView, RowView};
use svg::{Axis, Point};

/// Entries shown under "Recent entries" and rejections under "Recent
/// rejections" on a goal page.
pub const RECENT_ROWS: usize = 10;

/// The page, or an error page with the API error's status and message.
pub fn respond(page: Result<String, ApiError>) -> Response {
    match page {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            e.status,
            Html(render::error_page(e.status.as_u16(), &e.message)),
        )
            .into_response(),
    }
}

/// Runs a page builder on the blocking pool.
pub async fn build(f: impl FnOnce() -> Result<String, ApiError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(page) => respond(page),
        Err(_) => respond(Err(ApiError::internal())),
    }
}

fn role(node: &Node) -> Option<&'static str> {
    match node.witness() {
        Some(w) if w.mirror().is_some() => {
            Some("a mirror: it re-evaluates every entry of the logs it follows before it cosigns")
        }
        Some(_) => Some("a witness for other logs"),
        None if node.p2p().is_some() || node.evidence().count() > 0 => {
            Some("a peer on the libp2p network: it checks every checkpoint it hears")
        }
        None => None,
    }
}

/// `GET /`.
pub fn node_page(node: &Node) -> Result<String, ApiError> {
    let info = node.info();
    let goals = node
        .goal_list()
        .iter()
        .map(|g| {
            let st = g.state.read();
            let best = st.leaderboard().best().map(|m| {
                (
                    m.log_index,
                    g.names
                        .lock()
                        .get(&m.pack_hash)
                        .cloned()
                        .unwrap_or_default(),
                    m.score.get(),
                )
            });
            let size = st.size();
            drop(st);
            GoalSummary {
                id: g.id.clone(),
                title: g.manifest.title.clone(),
                log_size: size,
                rejected: g.rejected.load(std::sync::atomic::Ordering::Relaxed),
                best,
                last_ms: last_timestamp(node, g, size),
                retired: g.retired_at_ms.read().is_some(),
            }
        })
        .collect();
    Ok(render::node_page(&NodeView {
        name: info.name,
        key: info.public_key.to_hex(),
        version: info.version,
        engine: info.engine_version,
        config_hash: info.config_hash.to_hex(),
        refusing: node.refusing().map(str::to_string),
        role: role(node),
        evidence: node.evidence().count(),
        goals,
    }))
}

fn last_timestamp(node: &Node, g: &GoalRt, size: u64) -> Option<u64> {
    let index = size.checked_sub(1)?;
    let bytes = node.store().snapshot().ok()?.entry(&g.id, index).ok()??;
    ian_core::record::LogRecord::from_canonical_bytes(&bytes)
        .ok()
        .map(|r| r.header().timestamp_ms)
}

/// The two objectives the frontier chart plots: a Pareto goal's first two,
/// otherwise reward against risk.
fn chart_axes(g: &GoalRt) -> (Axis, Axis) {
    let r = &g.manifest.ranking;
    let axis = |o: &ian_core::goal::Objective| Axis {
        name: o.metric.clone(),
        maximize: o.direction == Direction::Max,
    };
    match (r.kind, r.objectives.as_slice()) {
        (RankingKind::Pareto, [a, b, ..]) => (axis(a), axis(b)),
        _ => (
            Axis {
                name: "reward".into(),
                maximize: true,
            },
            Axis {
                name: "risk".into(),
                maximize: false,
            },
        ),
    }
}

/// `GET /goals/{goal}`.
pub fn goal_page(node: &Node, goal: &str) -> Result<String, ApiError> {
    let g = node.goal(goal)?;
    let m = &g.manifest;
    let (board, frontier, size) = {
        let st = g.state.read();
        let frontier: Vec<_> = st
            .frontier()
            .map(|f| f.members().to_vec())
            .unwrap_or_default();
        (st.leaderboard().entries().to_vec(), frontier, st.size())
    };
    let extras: Vec<String> = board
        .first()
        .map(|b| b.metrics.extra.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let names = g.names.lock().clone();
    let name_of = |h: &ian_core::Hash32| names.get(h).cloned().unwrap_or_default();
    let row = |rank: Option<usize>, m: &ian_core::ContributionMeta| RowView {
        rank,
        index: m.log_index,
        name: name_of(&m.pack_hash),
        pack: m.pack_hash.to_hex(),
        contributor: m.contributor.to_hex(),
        score: m.score.get(),
        reward: m.metrics.reward.get(),
        risk: m.metrics.risk.get(),
        complexity: m.metrics.complexity.get(),
        extra: extras
            .iter()
            .map(|n| m.metrics.get(n).map(|v| v.get()))
            .collect(),
        timestamp_ms: m.timestamp_ms,
    };
    let snap = node.store().snapshot().map_err(|_| ApiError::internal())?;
    let mut recent = Vec::new();
    for item in snap
        .entries(&g.id, size.saturating_sub(RECENT_ROWS as u64)..size)
        .map_err(|_| ApiError::internal())?
    {
        let (_, bytes) = item.map_err(|_| ApiError::internal())?;
        let Ok(ian_core::record::LogRecord::Entry(e)) =
            ian_core::record::LogRecord::from_canonical_bytes(&bytes)
        else {
            continue;
        };
        let meta = e.meta();
        let rank = board
            .iter()
            .position(|b| b.log_index == meta.log_index)
            .map(|i| i + 1);
        recent.push(row(rank, &meta));
    }
    recent.reverse();
    let leaders: Vec<Point> = node
        .log_index(&g, &snap, size)?
        .best_over_time()
        .iter()
        .map(|b| Point {
            x: b.timestamp_ms as f64,
            y: b.score.get(),
            label: format!("#{} {}", b.log_index, name_of(&b.pack_hash)),
            href: render::entry_href(&g.id, b.log_index),
        })
        .collect();
    let axes = chart_axes(&g);
    let mut plotted: Vec<&ian_core::ContributionMeta> = board.iter().collect();
    for f in &frontier {
        if !plotted.iter().any(|p| p.log_index == f.log_index) {
            plotted.push(f);
        }
    }
    let scatter = plotted
        .iter()
        .filter_map(|p| {
            Some(Point {
                x: p.metrics.get(&axes.0.name)?.get(),
                y: p.metrics.get(&axes.1.name)?.get(),
                label: format!("#{} {}", p.log_index, name_of(&p.pack_hash)),
                href: render::entry_href(&g.id, p.log_index),
            })
        })
        .collect();
    let t = &m.thresholds;
    let thresholds = [
        t.min_reward.map(|v| format!("reward ≥ {}", v.get())),
        t.max_risk.map(|v| format!("risk ≤ {}", v.get())),
        t.max_complexity
            .map(|v| format!("complexity ≤ {}", v.get())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let l = &m.limits;
    let limits = vec![
        ("Fuel per evaluation", render::count(l.fuel_per_evaluation)),
        ("Fuel per call", render::count(l.fuel_per_call)),
        ("Memory", format!("{} MiB", l.memory_bytes / (1024 * 1024))),
        (
            "Largest agent",
            format!("{} KiB", l.max_component_bytes / 1024),
        ),
        ("Proof of work", format!("{} bits", node.pow_bits(&g))),
        (
            "Agents",
            match m.agents {
                ian_core::Agents::Pure => "IAN types only".to_string(),
                ian_core::Agents::Wasi => "deterministic WASI (no files, no network)".to_string(),
            },
        ),
        ("Complexity", complexity_text(&m.complexity)),
    ];
    let checkpoint = g.checkpoint.read().clone().map(|c| CheckpointView {
        origin: c.checkpoint.origin.clone(),
        size: c.checkpoint.size,
        root: c.checkpoint.root.to_hex(),
        note: c.to_text(),
    });
    let rejections = g
        .rejections
        .lock()
        .iter()
        .take(RECENT_ROWS)
        .cloned()
        .collect();
    Ok(render::goal_page(&GoalPage {
        id: g.id.clone(),
        title: m.title.clone(),
        description: m.description.clone(),
        ranking: crate::runtime::service::ranking_text(m),
        thresholds,
        limits,
        seeds: m.harness.seeds.clone(),
        log_size: size,
        checkpoint,
        board: board
            .iter()
            .enumerate()
            .map(|(i, b)| row(Some(i + 1), b))
            .collect(),
        recent,
        rejections,
        extras: extras.clone(),
        axes,
        scatter,
        leaders,
        now_ms: crate::runtime::service::now_ms(),
        retired_at_ms: *g.retired_at_ms.read(),
        competition: crate::runtime::views::CompetitionView::of(
            m,
            crate::runtime::service::now_ms(),
            &g.state.read(),
        ),
        final_board: g.state.read().final_board().map(|b| {
            b.entries()
                .iter()
                .enumerate()
                .map(|(i, m)| row(Some(i + 1), m))
                .collect()
        }),
    }))
}

/// `GET /goals/{goal}/contributors/{key}`.
pub fn contributor_page(node: &Node, goal: &str, key: &str) -> Result<String, ApiError> {
    let h = node.contributor_history(goal, key)?;
    let title = node.goal(goal)?.manifest.title.clone();
    Ok(render::contributor_page(&title, &h))
}

/// `GET /goals/{goal}/entries/{index}`; `base_url` is how the client
/// addressed the node (for the commands the page shows).
pub fn entry_page(
    node: &Node,
    goal: &str,
    index: &str,
    base_url: String,
) -> Result<String, ApiError> {
    let g = node.goal(goal)?;
    let index: u64 = index.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_index",
            "the entry index must be a non-negative integer",
        )
    })?;
    let signed = g.signed_size();
    if index >= signed {
        return Err(ApiError::not_found(
            "no_entry",
            format!("goal {goal} has no entry {index}: its log holds {signed} signed entries"),
        ));
    }
    let bytes = node
        .store()
        .snapshot()
        .and_then(|s| s.entry(&g.id, index))
        .map_err(|_| ApiError::internal())?
        .ok_or_else(ApiError::internal)?;
    let entry = match ian_core::record::LogRecord::from_canonical_bytes(&bytes) {
        Ok(ian_core::record::LogRecord::Entry(e)) => e,
        Ok(other) => {
            return Err(ApiError::not_found(
                "not_an_entry",
                format!(
                    "leaf {index} of goal {goal} is a {} record, not an accepted entry (see /api/v1/goals/{goal}/log?start={index}&limit=1)",
                    other.kind()
                ),
            ));
        }
        Err(_) => return Err(ApiError::internal()),
    };
    let rank = g
        .state
        .read()
        .leaderboard()
        .entries()
        .iter()
        .position(|m| m.log_index == index)
        .map(|i| i + 1);
    let name = g
        .names
        .lock()
        .get(&entry.pack_hash)
        .cloned()
        .unwrap_or_default();
    Ok(render::entry_page(&EntryPage {
        goal: g.id.clone(),
        goal_title: g.manifest.title.clone(),
        rank,
        name,
        seeds: node.seed_results(&g.id, index),
        node_key: node.public_key().to_hex(),
        base_url,
        entry,
    }))
}

/// How the goal counts complexity, in words; the raw figure is the
/// `raw_complexity` column whenever the ranked one is not raw.
fn complexity_text(c: &ian_core::ComplexityRule) -> String {
    match c.mode {
        ian_core::ComplexityMode::Raw => "mean agent fuel per step".to_string(),
        ian_core::ComplexityMode::Off => "not counted (0); raw fuel in raw_complexity".to_string(),
        ian_core::ComplexityMode::AboveBaseline => {
            let runtimes: Vec<String> = c
                .baselines
                .iter()
                .map(|b| format!("{} {}", b.runtime, render::count(b.act_fuel)))
                .collect();
            format!(
                "fuel per step above the runtime's baseline ({}); raw fuel in raw_complexity",
                runtimes.join(", ")
            )
        }
    }
}
