//! Human text for the node's typed views. `--json` prints the same structs
//! as JSON, so the two can never disagree about what the node said.

use std::fmt::Write as _;

use ian_core::Hash32;
use serde::{Deserialize, Serialize};

use crate::runtime::error::ErrorBody;
use crate::runtime::service::SubmitAccepted;
use crate::runtime::views::{GoalStatus, Leaderboard, LogRange, NodeInfo};

/// A number as people read it: fixed for ordinary magnitudes, scientific
/// for the very large and very small.
pub fn num(x: f64) -> String {
    if x.abs() >= 1e6 || (x != 0.0 && x.abs() < 1e-3) {
        format!("{x:.4e}")
    } else {
        format!("{x:.6}")
    }
}

/// The first 12 hex digits, enough to tell entries apart in a table.
pub fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

fn short_hash(h: &Hash32) -> String {
    short(&h.to_hex())
}

/// `ian-host status` without a goal: the node and every goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node.
    pub node: NodeInfo,
    /// Its goals.
    pub goals: Vec<GoalStatus>,
}

/// Human text for an accepted submission.
pub fn accepted(a: &SubmitAccepted) -> String {
    let e = &a.receipt.entry;
    let cp = &a.receipt.checkpoint.checkpoint;
    let rank = match a.rank {
        Some(r) => format!("rank {r} of {}", cp.size),
        None => format!("below the board's top entries ({} in the log)", cp.size),
    };
    format!(
        "accepted: goal {} entry #{} pack {}, {rank}\n  reward {}  risk {}  complexity {}  score {}  fuel {}\n  durable; checkpoint of {} size {} root {}{}",
        e.goal_id,
        e.log_index,
        short_hash(&e.pack_hash),
        num(e.metrics.reward.get()),
        num(e.metrics.risk.get()),
        num(e.metrics.complexity.get()),
        num(e.score.get()),
        e.fuel_used,
        cp.origin,
        cp.size,
        cp.root,
        if a.witnessed {
            ""
        } else {
            "\n  not yet cosigned by the witness quorum (fetch the receipt again later)"
        }
    )
}

/// Human text for a contributor's history on one goal.
pub fn history(h: &crate::runtime::views::ContributorHistory) -> String {
    let mut rows = vec![
        ["WHEN", "RESULT", "ENTRY", "PACK", "AGENT", "DETAIL"]
            .map(String::from)
            .to_vec(),
    ];
    let mut events: Vec<(u64, Vec<String>)> = Vec::new();
    for e in &h.accepted {
        let place = match e.rank {
            Some(r) => format!("rank {r} of {}", h.log_size),
            None => format!("not in the top entries of {}", h.log_size),
        };
        events.push((
            e.timestamp_ms,
            vec![
                crate::runtime::timefmt::utc(e.timestamp_ms / 1000),
                "accepted".into(),
                format!("#{}", e.log_index),
                short(&e.pack_hash),
                e.name.clone(),
                format!("score {}, {place}", num(e.score)),
            ],
        ));
    }
    for r in &h.rejected {
        events.push((
            r.time_ms,
            vec![
                crate::runtime::timefmt::utc(r.time_ms / 1000),
                format!("rejected: {}", r.code),
                "-".into(),
                short(&r.pack_hash),
                r.name.clone(),
                r.detail.clone(),
            ],
        ));
    }
    events.sort_by_key(|(t, _)| *t);
    if events.is_empty() {
        return format!(
            "goal {}: no submissions from {} (the node keeps the newest rejections of each goal)",
            h.goal,
            short(&h.contributor)
        );
    }
    rows.extend(events.into_iter().map(|(_, r)| r));
    format!(
        "goal {}: {} accepted, {} rejected\n{}",
        h.goal,
        h.accepted.len(),
        h.rejected.len(),
        table(&rows)
    )
}

/// Human text for a rejection body.
pub fn rejected(b: &ErrorBody) -> String {
    format!("rejected: {} — {}", b.error.code, b.error.message)
}

fn goal_rows(o: &mut String, goals: &[GoalStatus]) {
    if goals.is_empty() {
        let _ = writeln!(
            o,
            "no goals yet (an operator publishes one with `ian-host goal publish goal.toml`)"
        );
        return;
    }
    let mut rows = vec![vec![
        "GOAL".to_string(),
        "ENTRIES".into(),
        "ACCEPTED".into(),
        "REJECTED".into(),
        "ROOT".into(),
        "STATUS".into(),
    ]];
    for g in goals {
        rows.push(vec![
            g.id.clone(),
            g.log_size.to_string(),
            g.accepted.to_string(),
            g.rejected.to_string(),
            g.root.to_hex(),
            g.retired_at
                .as_deref()
                .map(|t| format!("retired {t}"))
                .unwrap_or_else(|| "open".into()),
        ]);
    }
    let _ = writeln!(o, "{}", table(&rows));
}

/// Human text for the node and its goals.
pub fn status(r: &StatusReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "node key {}  ({}, {})",
        r.node.public_key.to_hex(),
        r.node.engine_version,
        r.node.abi_version
    );
    goal_rows(&mut o, &r.goals);
    o.trim_end().to_string()
}

/// Human text for one goal.
pub fn goal_status(g: &GoalStatus) -> String {
    let mut o = String::new();
    goal_rows(&mut o, std::slice::from_ref(g));
    o.trim_end().to_string()
}

/// Human text for a leaderboard.
/// A competition's final board: the public board's table, on the hidden
/// seeds, with how far the final evaluation is.
pub fn final_board(f: &crate::runtime::views::FinalBoard) -> String {
    if !f.revealed {
        return format!(
            "goal {}: the hidden seeds are not revealed yet; the final board comes after the reveal\n",
            f.goal
        );
    }
    let mut o = format!(
        "final board of {} on the hidden seeds {:?}: {} of {} selected entries evaluated\n",
        f.goal, f.hidden_seeds, f.evaluated, f.total
    );
    o.push_str(&leaderboard(&Leaderboard {
        goal: f.goal.clone(),
        ranking: "the goal's, on the hidden seeds".into(),
        size: f.evaluated,
        top: f.top.clone(),
        pareto: Vec::new(),
        rejections: Vec::new(),
    }));
    o
}

pub fn leaderboard(b: &Leaderboard) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "goal {} — top {} (ranking: {})",
        b.goal,
        b.top.len(),
        b.ranking
    );
    if b.top.is_empty() {
        let _ = writeln!(o, "no accepted entries yet");
    } else {
        let mut rows = vec![
            [
                "RANK",
                "INDEX",
                "AGENT",
                "PACK",
                "REWARD",
                "RISK",
                "COMPLEXITY",
                "SCORE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for (i, r) in b.top.iter().enumerate() {
            rows.push(vec![
                (i + 1).to_string(),
                r.log_index.to_string(),
                r.name.clone(),
                short_hash(&r.pack_hash),
                num(r.metrics.reward.get()),
                num(r.metrics.risk.get()),
                num(r.metrics.complexity.get()),
                num(r.score.get()),
            ]);
        }
        let _ = writeln!(o, "{}", table(&rows));
    }
    if !b.pareto.is_empty() {
        let _ = writeln!(
            o,
            "Pareto frontier: {} member(s): {}",
            b.pareto.len(),
            b.pareto
                .iter()
                .map(|m| format!("#{}", m.log_index))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if !b.rejections.is_empty() {
        let mut rows = vec![["AGENT", "CODE", "DETAIL"].map(String::from).to_vec()];
        for r in &b.rejections {
            rows.push(vec![r.name.clone(), r.code.clone(), r.detail.clone()]);
        }
        let _ = writeln!(o, "recent rejections:\n{}", table(&rows));
    }
    o.trim_end().to_string()
}

/// Human text for a log range.
pub fn log(l: &LogRange) -> String {
    let mut o = String::new();
    if l.entries.is_empty() {
        let _ = writeln!(o, "no entries in this range");
    } else {
        let mut rows = vec![
            ["INDEX", "PACK", "CONTRIBUTOR", "REWARD", "RISK", "SCORE"]
                .map(String::from)
                .to_vec(),
        ];
        for e in &l.entries {
            rows.push(vec![
                e.log_index.to_string(),
                short_hash(&e.pack_hash),
                short(&e.contributor.to_hex()),
                num(e.metrics.reward.get()),
                num(e.metrics.risk.get()),
                num(e.score.get()),
            ]);
        }
        let _ = writeln!(o, "{}", table(&rows));
    }
    let _ = write!(o, "log size {}", l.size);
    o
}

/// `ian-host peers`: one line per peer, then one per log heard of.
pub fn peers(v: &serde_json::Value) -> String {
    if v["enabled"].as_bool() != Some(true) {
        return "libp2p is off on this node (set p2p.enabled = true or IAN_P2P=true)".into();
    }
    let s = &v["status"];
    let text = |x: &serde_json::Value| x.as_str().unwrap_or("").to_string();
    let mut o = format!("peer id {}\n", text(&s["peer_id"]));
    for a in s["listen"].as_array().into_iter().flatten() {
        o.push_str(&format!("  listening on {}\n", text(a)));
    }
    let peers = s["peers"].as_array().cloned().unwrap_or_default();
    o.push_str(&format!("{} peers\n", peers.len()));
    for p in &peers {
        o.push_str(&format!(
            "  {} {} score={:.1} invalid={} rate_limited={} served={} bad_answers={} [{}]\n",
            text(&p["peer_id"]),
            if p["connected"].as_bool() == Some(true) {
                "connected"
            } else {
                "known"
            },
            p["score"].as_f64().unwrap_or(0.0),
            p["invalid_messages"],
            p["rate_limited"],
            p["served"],
            p["bad_answers"],
            text(&p["agent"]),
        ));
        for k in p["log_vkeys"].as_array().into_iter().flatten() {
            o.push_str(&format!("      log key {}\n", text(k)));
        }
    }
    let logs = s["logs"].as_array().cloned().unwrap_or_default();
    o.push_str(&format!("{} logs heard of\n", logs.len()));
    for l in &logs {
        o.push_str(&format!(
            "  {} size={} holders={}{}\n",
            text(&l["origin"]),
            l["size"],
            l["holders"].as_array().map_or(0, Vec::len),
            if l["forked"].as_bool() == Some(true) {
                " FORKED"
            } else {
                ""
            },
        ));
    }
    o.trim_end().to_string()
}

/// Aligns rows of cells into columns (two spaces apart, numbers to the
/// right) with `comfy-table`; the first row is the header. Never prints an
/// empty table: no data rows gives "(none)". No borders and no wrapping, so
/// the output stays one record per line for `grep` and `awk`.
pub fn table(rows: &[Vec<String>]) -> String {
    use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
    if rows.len() < 2 {
        return "(none)".to_string();
    }
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let numeric = |c: usize| {
        rows[1..].iter().all(|r| {
            r.get(c)
                .is_none_or(|v| v == "—" || v == "-" || v.replace(',', "").parse::<f64>().is_ok())
        })
    };
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(rows[0].clone());
    for r in &rows[1..] {
        t.add_row(r.clone());
    }
    for c in 0..cols {
        if let Some(col) = t.column_mut(c) {
            col.set_padding((0, if c + 1 == cols { 0 } else { 2 }));
            if numeric(c) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    t.lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_is_said_in_words_not_printed_as_a_header() {
        assert_eq!(table(&[vec!["A".into(), "B".into()]]), "(none)");
        assert_eq!(
            table(&[
                vec!["A".into(), "BB".into()],
                vec!["xyz".into(), "1".into()]
            ]),
            "A    BB\nxyz   1"
        );
    }

    #[test]
    fn numeric_columns_align_right_and_text_columns_left() {
        let t = table(&[
            vec!["agent".into(), "score".into()],
            vec!["a".into(), "1.5".into()],
            vec!["longer".into(), "-10.25".into()],
        ]);
        assert_eq!(t, "agent    score\na          1.5\nlonger  -10.25");
    }

    #[test]
    fn numbers_switch_to_scientific_only_at_the_extremes() {
        assert_eq!(num(0.5), "0.500000");
        assert_eq!(num(2_000_000.0), "2.0000e6");
        assert_eq!(num(0.0001), "1.0000e-4");
        assert_eq!(num(0.0), "0.000000");
    }
}
