//! The leaderboard web page: server-rendered HTML with a little CSS and no
//! script at all, so it reads the same in a terminal browser, a screen
//! reader or headless Chromium.

use std::fmt::Write as _;

use ian_core::LogEntry;

use crate::runtime::service::Node;

/// What the page shows for one goal.
#[derive(Debug, Clone, Default)]
pub struct GoalView {
    /// Goal id.
    pub id: String,
    /// Goal title.
    pub title: String,
    /// Ranking rule in words.
    pub ranking: String,
    /// Entries in the log.
    pub log_size: u64,
    /// Latest signed checkpoint, if any entry exists.
    pub checkpoint: Option<CheckpointView>,
    /// Top-K rows, best first.
    pub top: Vec<RowView>,
    /// Most recent log entries, newest first.
    pub recent: Vec<RowView>,
    /// Most recent rejections, newest first.
    pub rejections: Vec<RejectionView>,
    /// When the goal was retired (RFC 3339), if it was.
    pub retired_at: Option<String>,
}

/// A checkpoint as displayed.
#[derive(Debug, Clone, Default)]
pub struct CheckpointView {
    /// Log size.
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// The log's origin.
    pub origin: String,
    /// The whole checkpoint note (c2sp.org/tlog-checkpoint), signatures
    /// included, as anyone can verify it.
    pub note: String,
}

/// One leaderboard row or log entry.
#[derive(Debug, Clone, Default)]
pub struct RowView {
    /// Rank (1-based) for leaderboard rows; 0 for log rows.
    pub rank: usize,
    /// Log index.
    pub index: u64,
    /// Pack hash, hex.
    pub pack: String,
    /// Contributor public key, hex.
    pub contributor: String,
    /// Agent name from the pack metadata, if any.
    pub name: String,
    /// Metrics.
    pub reward: f64,
    /// Metrics.
    pub risk: f64,
    /// Metrics.
    pub complexity: f64,
    /// Score under the goal's ranking (scalar), if any.
    pub score: Option<f64>,
}

/// A rejected contribution as displayed.
#[derive(Debug, Clone, Default)]
pub struct RejectionView {
    /// Pack hash, hex.
    pub pack: String,
    /// Agent name from metadata, if any.
    pub name: String,
    /// Stable reason code.
    pub code: String,
    /// Human-readable detail.
    pub detail: String,
}

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

pub use crate::runtime::timefmt::utc;

fn num(v: f64) -> String {
    if v.abs() >= 1e6 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24;background:#fbfbfa}\
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:2px solid #d0d7de;padding-bottom:.3rem}h3{font-size:1.05rem;margin-top:1.5rem}\
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e6ea;text-align:left}\
th{background:#f0f2f4}td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.85rem}\
.cp{background:#f0f2f4;padding:.6rem .8rem;border-radius:6px;font-size:.9rem;overflow-wrap:anywhere}.muted{color:#57606a}.retired{font-size:.8rem;background:#fff1e5;color:#953800;border:1px solid #ffb77c;border-radius:4px;padding:.05rem .4rem;vertical-align:middle}.retired-note{color:#953800}\
nav a{margin-right:1rem}";

/// Render the whole page.
pub fn render_page(node_key_hex: &str, goals: &[GoalView]) -> String {
    let mut o = String::with_capacity(8192);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>IAN leaderboard</title><style>{CSS}</style></head><body><h1>IAN leaderboard</h1>\
<p class=\"muted\">Node key <code>{}</code>. Every row below is an entry of an append-only log; receipts verify offline with <code>ian-host verify</code>.</p>",
        escape(node_key_hex)
    );
    if goals.is_empty() {
        o.push_str("<p>No goals published yet.</p>");
    } else {
        o.push_str("<nav aria-label=\"Goals\">Goals: ");
        for g in goals {
            let _ = write!(o, "<a href=\"#goal-{0}\">{0}</a>", escape(&g.id));
        }
        o.push_str("</nav>");
    }
    for g in goals {
        render_goal(&mut o, g);
    }
    o.push_str("</body></html>");
    o
}

fn render_goal(o: &mut String, g: &GoalView) {
    let _ = write!(
        o,
        "<section id=\"goal-{id}\"><h2>{title} <span class=\"muted\">({id})</span>{retired}</h2><p>Ranking: {rank}. Log entries: {size}.</p>",
        id = escape(&g.id),
        title = escape(&g.title),
        retired = if g.retired_at.is_some() {
            " <span class=\"retired\">retired</span>"
        } else {
            ""
        },
        rank = escape(&g.ranking),
        size = g.log_size
    );
    if let Some(at) = &g.retired_at {
        let _ = write!(
            o,
            "<p class=\"retired-note\">Retired {}: no new submissions. The log, board and proofs below stay verifiable.</p>",
            escape(at)
        );
    }
    match &g.checkpoint {
        Some(c) => {
            let _ = write!(
                o,
                "<h3>Latest checkpoint</h3><p class=\"cp\">log <code>{}</code> &middot; size {} &middot; root <code>{}</code></p><details><summary>signed note</summary><pre>{}</pre></details>",
                escape(&c.origin),
                c.size,
                escape(&c.root),
                escape(&c.note)
            );
        }
        None => o.push_str("<h3>Latest checkpoint</h3><p class=\"cp\">No entries yet.</p>"),
    }
    o.push_str("<h3>Top agents</h3>");
    if g.top.is_empty() {
        o.push_str("<p>No accepted agents yet.</p>");
    } else {
        rows_table(o, &g.top, true);
    }
    o.push_str("<h3>Recent log entries</h3>");
    if g.recent.is_empty() {
        o.push_str("<p>The log is empty.</p>");
    } else {
        rows_table(o, &g.recent, false);
    }
    if !g.rejections.is_empty() {
        o.push_str("<h3>Recent rejections</h3><table><thead><tr><th>Agent</th><th>Pack</th><th>Reason</th><th>Detail</th></tr></thead><tbody>");
        for r in &g.rejections {
            let _ = write!(
                o,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&r.name),
                escape(&short(&r.pack)),
                escape(&r.code),
                escape(&r.detail)
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>");
}

fn rows_table(o: &mut String, rows: &[RowView], ranked: bool) {
    o.push_str("<table><thead><tr>");
    if ranked {
        o.push_str("<th>Rank</th>");
    }
    o.push_str("<th>Log index</th><th>Agent</th><th>Pack</th><th>Contributor</th><th>Reward</th><th>Risk</th><th>Complexity</th><th>Score</th></tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        if ranked {
            let _ = write!(o, "<td class=\"n\">{}</td>", r.rank);
        }
        let _ = write!(
            o,
            "<td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            r.index,
            escape(&r.name),
            escape(&short(&r.pack)),
            escape(&short(&r.contributor)),
            num(r.reward),
            num(r.risk),
            num(r.complexity),
            r.score.map(num).unwrap_or_else(|| "&mdash;".into())
        );
    }
    o.push_str("</tbody></table>");
}

/// The leaderboard page of every goal on `node`.
pub fn page(node: &Node) -> String {
    let mut views = Vec::new();
    for g in node.goal_list() {
        let st = g.state.read();
        let names = g.names.lock().clone();
        let row = |rank: usize, m: &ian_core::ContributionMeta| RowView {
            rank,
            index: m.log_index,
            pack: m.pack_hash.to_hex(),
            contributor: m.contributor.to_hex(),
            name: names.get(&m.pack_hash).cloned().unwrap_or_default(),
            reward: m.metrics.reward.get(),
            risk: m.metrics.risk.get(),
            complexity: m.metrics.complexity.get(),
            score: Some(m.score.get()),
        };
        let top: Vec<RowView> = st
            .leaderboard()
            .entries()
            .iter()
            .enumerate()
            .map(|(i, m)| row(i + 1, m))
            .collect();
        let size = st.size();
        drop(st);
        let mut recent = Vec::new();
        if size > 0
            && let Ok(snap) = node.store().snapshot()
            && let Ok(items) = snap.entries(&g.id, size.saturating_sub(10)..size)
        {
            for (_, bytes) in items.flatten() {
                if let Ok(e) = LogEntry::from_canonical_bytes(&bytes) {
                    recent.push(row(0, &e.meta()));
                }
            }
        }
        recent.reverse();
        let cp = g.checkpoint.read().clone().map(|c| CheckpointView {
            size: c.checkpoint.size,
            root: c.checkpoint.root.to_hex(),
            origin: c.checkpoint.origin.clone(),
            note: c.to_text(),
        });
        let rejections = g
            .rejections
            .lock()
            .iter()
            .take(10)
            .map(|r| RejectionView {
                pack: r.pack_hash.clone(),
                name: r.name.clone(),
                code: r.code.clone(),
                detail: r.detail.clone(),
            })
            .collect();
        views.push(GoalView {
            id: g.id.clone(),
            title: g.manifest.title.clone(),
            ranking: crate::runtime::service::ranking_text(&g.manifest),
            log_size: size,
            checkpoint: cp,
            top,
            recent,
            rejections,
            retired_at: g
                .retired_at_ms
                .read()
                .map(crate::runtime::timefmt::rfc3339_ms),
        });
    }
    let mut html = render_page(&node.public_key().to_hex(), &views);
    let n = node.evidence().count();
    let role = match node.witness() {
        Some(w) if w.mirror().is_some() => {
            Some("a mirror: it re-evaluates every entry of the logs it follows before it cosigns")
        }
        Some(_) => Some("a witness for other logs"),
        None if node.p2p().is_some() || n > 0 => {
            Some("a peer on the libp2p network: it checks every checkpoint it hears")
        }
        None => None,
    };
    if let Some(role) = role {
        let section = format!(
            "<h2>Witnessing</h2><p class=\"cp\">This node is {role}. Evidence of misbehaviour stored: <strong>{n}</strong> (<a href=\"/api/v1/evidence\">/api/v1/evidence</a>).</p>"
        );
        if let Some(at) = html.rfind("</body>") {
            html.insert_str(at, &section);
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_seconds_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn escapes_agent_supplied_text() {
        let g = GoalView {
            id: "g".into(),
            title: "T".into(),
            top: vec![RowView {
                rank: 1,
                name: "<script>alert(1)</script>".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let page = render_page("ab", &[g]);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}
