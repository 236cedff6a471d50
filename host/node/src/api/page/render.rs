//! The pages as templates over plain view structs: nothing here reads the
//! node, so every page can be rendered and checked in a unit test. maud
//! escapes every interpolated value; outside text also goes through
//! [`Text`], which removes control and bidi characters.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::runtime::timefmt::{rfc3339_ms, utc};
use crate::runtime::views::{CompetitionView, ContributorHistory, RecentRejection, SeedResult};

use super::svg::{self, Axis, Point, num};
use super::text::Text;

/// Seconds between automatic reloads of pages that change (node, goal,
/// contributor): a `<meta http-equiv="refresh">`, so no script is needed.
pub const REFRESH_SECS: u32 = 30;

const CSS: &str = r#":root{color-scheme:light dark;--fg:#1b1f24;--bg:#fbfbfa;--muted:#57606a;--line:#e3e6ea;--head:#eef1f4;--accent:#0a62b8;--warn:#953800;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#8d96a0;--line:#30363d;--head:#161b22;--accent:#4493f8;--warn:#f0883e;--ok:#3fb950}}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:76rem;padding:1rem 1.2rem 3rem;color:var(--fg);background:var(--bg);line-height:1.45}
a{color:var(--accent)}
header{display:flex;flex-wrap:wrap;gap:.3rem 1rem;align-items:baseline;font-size:.95rem;border-bottom:1px solid var(--line);padding-bottom:.5rem}
header .home{font-weight:600;text-decoration:none}
h1{font-size:1.5rem;margin:1rem 0 .4rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin-top:2rem;border-bottom:2px solid var(--line);padding-bottom:.25rem}
p,dd,li{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.3rem .55rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:top}
th{background:var(--head);font-weight:600}
.n{text-align:right;font-variant-numeric:tabular-nums}
td.t{white-space:normal;min-width:14rem;overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,monospace;font-size:.85rem;overflow-wrap:anywhere}
pre{white-space:pre-wrap;word-break:break-all;background:var(--head);padding:.6rem .8rem;border-radius:6px}
.muted{color:var(--muted)}
.badge{font-size:.78rem;border:1px solid currentColor;border-radius:4px;padding:0 .35rem;vertical-align:middle;white-space:nowrap}
.badge.ok{color:var(--ok)}.badge.warn,.retired{color:var(--warn)}
tr.open td{font-weight:600}.countdown{font-size:1.05rem}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.25rem 1.2rem;margin:.5rem 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,22rem),1fr));gap:1.5rem}
figure{margin:0}figcaption{font-size:.9rem;color:var(--muted)}
svg.chart{width:100%;height:auto;display:block}
svg.chart text{font-size:12px;fill:var(--muted)}
.axes line{stroke:var(--muted);stroke-width:1}
.dot{fill:var(--muted);opacity:.55}.dot.on{fill:var(--accent);opacity:1}
polyline.front,path.best{fill:none;stroke:var(--accent);stroke-width:2}
.desc{max-width:48rem}
@media (max-width:40rem){body{padding:.6rem .7rem 2rem}.wide{display:none}dl.facts{grid-template-columns:minmax(0,1fr)}dl.facts dd{margin-bottom:.45rem}h1{font-size:1.3rem}td.t{min-width:10rem}svg.chart text{font-size:17px}}
"#;

/// One link in the trail at the top of a page.
pub struct Crumb {
    /// Target.
    pub href: String,
    /// Outside text allowed (goal titles).
    pub text: String,
}

/// The frame every page shares.
pub fn layout(title: &str, crumbs: &[Crumb], refresh: bool, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                @if refresh {
                    meta http-equiv="refresh" content=(REFRESH_SECS);
                }
                title { (Text(title)) " · IAN" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.home href="/" { "IAN node" }
                    @for c in crumbs {
                        span.muted { "›" }
                        a href=(c.href) { (Text(&c.text)) }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// A time as people read it, machine-readable in `datetime`.
pub fn when(ms: u64) -> Markup {
    html! { time datetime=(rfc3339_ms(ms)) { (utc(ms / 1000)) } }
}

/// A count with thousands separators (`50,000,000`).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// URL path of a goal page (ids are slugs: safe in a path).
pub fn goal_href(goal: &str) -> String {
    format!("/goals/{goal}")
}

/// URL path of an entry page.
pub fn entry_href(goal: &str, index: u64) -> String {
    format!("/goals/{goal}/entries/{index}")
}

/// URL path of a contributor page.
pub fn contributor_href(goal: &str, key: &str) -> String {
    format!("/goals/{goal}/contributors/{key}")
}

// ---------------------------------------------------------------- node ---

/// The node page.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    /// The node's name (checkpoint origins start with it).
    pub name: String,
    /// Node public key, hex.
    pub key: String,
    /// `ian-host` version.
    pub version: String,
    /// Engine (e.g. "wasmtime 48.0.8").
    pub engine: String,
    /// Sandbox configuration hash, hex.
    pub config_hash: String,
    /// Why the node refuses submissions, when it does.
    pub refusing: Option<String>,
    /// What else the node does for the network, in words.
    pub role: Option<&'static str>,
    /// Stored evidence of misbehaviour.
    pub evidence: u64,
    /// The goals.
    pub goals: Vec<GoalSummary>,
}

/// One goal on the node page.
#[derive(Debug, Clone, Default)]
pub struct GoalSummary {
    /// Goal id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Entries in the log.
    pub log_size: u64,
    /// Rejections since start.
    pub rejected: u64,
    /// The leader: log index, agent name and score.
    pub best: Option<(u64, String, f64)>,
    /// When the newest entry was accepted.
    pub last_ms: Option<u64>,
    /// Whether the goal is retired.
    pub retired: bool,
}

/// Renders the node page.
pub fn node_page(v: &NodeView) -> String {
    let body = html! {
        h1 { "IAN node " (Text(&v.name)) " "
            @match &v.refusing {
                None => span.badge.ok { "healthy" },
                Some(_) => span.badge.warn { "refusing submissions" },
            }
        }
        @if let Some(r) = &v.refusing {
            p.retired { "This node refuses submissions: " (r) ". Its logs and proofs are still served." }
        }
        dl.facts {
            dt { "Node key" } dd { code { (v.key) } }
            dt { "Version" } dd { "ian-host " (v.version) }
            dt { "Engine" } dd { (v.engine) " · sandbox config " code { (short(&v.config_hash)) } }
            @if let Some(role) = v.role {
                dt { "Role" } dd { "This node is " (role) ". Evidence of misbehaviour stored: "
                    strong { (v.evidence) } " (" a href="/api/v1/evidence" { "JSON" } ")." }
            }
        }
        h2 { "Goals" }
        @if v.goals.is_empty() {
            p { "No goals published yet." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "Goal" } th.wide { "Id" } th.n { "Entries" } th.n.wide { "Rejected" }
                    th { "Leader" } th.n { "Best score" } th.wide { "Latest entry" }
                } }
                tbody { @for g in &v.goals { tr {
                    td { a href=(goal_href(&g.id)) { (Text(&g.title)) }
                        @if g.retired { " " span.badge.retired { "retired" } } }
                    td.wide { code { (g.id) } }
                    td.n { (g.log_size) }
                    td.n.wide { (g.rejected) }
                    @match &g.best {
                        Some((index, name, score)) => {
                            td { a href=(entry_href(&g.id, *index)) {
                                @if name.is_empty() { "entry " (index) } @else { (Text(name)) } } }
                            td.n { (num(*score)) }
                        },
                        None => { td.muted { "none yet" } td.n { "—" } },
                    }
                    td.wide { @if let Some(ms) = g.last_ms { (when(ms)) } @else { "—" } }
                } } }
            } }
        }
        p.muted { "Every entry is part of an append-only log whose signed checkpoints and proofs anyone can check offline ("
            code { "ian-host verify" } ", or Go's " code { "sumdb/tlog" } "). The same data as JSON: "
            a href="/api/v1/goals" { "/api/v1/goals" } "; the API: " a href="/api/v1/openapi.json" { "OpenAPI" } "." }
    };
    layout("Node", &[], true, body)
}

// ---------------------------------------------------------------- goal ---

/// One board row or log entry.
#[derive(Debug, Clone, Default)]
pub struct RowView {
    /// Place on the board (1 = best); `None` for log rows off the board.
    pub rank: Option<usize>,
    /// Log index.
    pub index: u64,
    /// Agent name from the pack metadata.
    pub name: String,
    /// Pack hash, hex.
    pub pack: String,
    /// Contributor key, hex.
    pub contributor: String,
    /// Ranking score.
    pub score: f64,
    /// Metrics.
    pub reward: f64,
    /// Metrics.
    pub risk: f64,
    /// Metrics.
    pub complexity: f64,
    /// Extra metrics, in the order of [`GoalPage::extras`].
    pub extra: Vec<Option<f64>>,
    /// Acceptance time.
    pub timestamp_ms: u64,
}

/// The latest checkpoint.
#[derive(Debug, Clone, Default)]
pub struct CheckpointView {
    /// Its origin line.
    pub origin: String,
    /// Log size it commits to.
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// The signed note, as served.
    pub note: String,
}

/// The goal page.
#[derive(Debug, Clone, Default)]
pub struct GoalPage {
    /// Goal id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The author's description.
    pub description: String,
    /// Ranking rule in words.
    pub ranking: String,
    /// Acceptance thresholds in words.
    pub thresholds: Vec<String>,
    /// Limits, name and value.
    pub limits: Vec<(&'static str, String)>,
    /// Public seeds.
    pub seeds: Vec<u64>,
    /// Entries in the log.
    pub log_size: u64,
    /// Latest signed checkpoint.
    pub checkpoint: Option<CheckpointView>,
    /// Names of the extra metrics shown as columns.
    pub extras: Vec<String>,
    /// Board, best first.
    pub board: Vec<RowView>,
    /// Newest log entries, newest first.
    pub recent: Vec<RowView>,
    /// Newest rejections, newest first.
    pub rejections: Vec<RecentRejection>,
    /// Axes of the frontier chart.
    pub axes: (Axis, Axis),
    /// Points of the frontier chart.
    pub scatter: Vec<Point>,
    /// Every entry that took the lead, oldest first (x = time in ms).
    pub leaders: Vec<Point>,
    /// When the page was made (ms): the best-score line runs to here.
    pub now_ms: u64,
    /// When the goal was retired.
    pub retired_at_ms: Option<u64>,
    /// The competition's phases and rules, for a goal that has them.
    pub competition: Option<CompetitionView>,
    /// After the reveal: the board on the hidden seeds, best first.
    pub final_board: Option<Vec<RowView>>,
}

/// Renders a goal page.
pub fn goal_page(g: &GoalPage) -> String {
    let body = html! {
        h1 { (Text(&g.title)) " " span.muted { "(" (g.id) ")" }
            @if g.retired_at_ms.is_some() { " " span.badge.retired { "retired" } } }
        @if let Some(at) = g.retired_at_ms {
            p.retired { "Retired " (when(at)) ": no new submissions. The log, board and proofs stay verifiable." }
        }
        @if !g.description.is_empty() {
            div.desc { @for para in g.description.split("\n\n") { p { (Text(para)) } } }
        }
        @if let Some(c) = &g.competition { (competition(c, g.now_ms)) }
        dl.facts {
            dt { "Ranking" } dd { (g.ranking) }
            dt { "Thresholds" } dd { @if g.thresholds.is_empty() { "none" } @else { (g.thresholds.join(", ")) } }
            @for (k, v) in &g.limits { dt { (k) } dd { (v) } }
            dt { "Public seeds" } dd { @if g.seeds.is_empty() { "none" } @else {
                code { (g.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) } } }
            dt { "Log" } dd { (g.log_size) " entries · "
                a href={"/logs/" (g.id) "/checkpoint"} { "checkpoint" } " · "
                a href={"/api/v1/goals/" (g.id)} { "JSON" } " · "
                a href={"/api/v1/goals/" (g.id) "/manifest"} { "manifest" } }
        }
        @if let Some(rows_final) = &g.final_board {
            h2 { "Final board (hidden seeds)" }
            @if let Some(c) = &g.competition {
                p.muted { (c.final_evaluated) " of " (c.final_total)
                    " selected entries evaluated on the " (c.hidden_seeds)
                    " revealed hidden seeds; the public board follows." }
            }
            @if rows_final.is_empty() { p { "No final results yet." } } @else {
                (rows(&g.id, rows_final, &g.extras, true))
            }
        }
        h2 { @if g.final_board.is_some() { "Public board" } @else { "Board" } }
        @if g.board.is_empty() {
            p { "No accepted agents yet." }
        } @else {
            (rows(&g.id, &g.board, &g.extras, true))
        }
        div.charts {
            figure {
                h2 { "Pareto frontier" }
                @if g.scatter.is_empty() { p { "Nothing to plot yet." } } @else {
                    (svg::scatter(&g.scatter, &g.axes.0, &g.axes.1, "Entries on the board by two objectives"))
                    figcaption { "Entries on the board by " (g.axes.0.name) " and " (g.axes.1.name)
                        "; the highlighted points, joined by the line, are those no other entry beats on both." }
                }
            }
            figure {
                h2 { "Best score over time" }
                @if g.leaders.is_empty() { p { "Nothing to plot yet." } } @else {
                    (svg::steps(&g.leaders, g.now_ms as f64, "score", "Best score over time"))
                    figcaption { (g.leaders.len()) " entries took the lead; each point links to its entry." }
                }
            }
        }
        h2 { "Latest checkpoint" }
        @match &g.checkpoint {
            None => p { "No entries yet." },
            Some(c) => {
                dl.facts {
                    dt { "Origin" } dd { code { (c.origin) } }
                    dt { "Size" } dd { (c.size) }
                    dt { "Root" } dd { code { (c.root) } }
                }
                details { summary { "Signed note (c2sp.org/tlog-checkpoint)" } pre { (c.note) } }
            }
        }
        h2 { "Recent entries" }
        @if g.recent.is_empty() { p { "The log is empty." } } @else { (rows(&g.id, &g.recent, &g.extras, false)) }
        h2 { "Recent rejections" }
        @if g.rejections.is_empty() { p { "None." } } @else { (rejections(&g.id, &g.rejections)) }
    };
    layout(
        &g.title,
        &[Crumb {
            href: goal_href(&g.id),
            text: g.title.clone(),
        }],
        true,
        body,
    )
}

/// The phase timeline with a countdown to the next opening or closing
/// (the page refreshes itself, so the countdown stays current without a
/// script).
fn competition(c: &CompetitionView, now_ms: u64) -> Markup {
    let ms = |t: &str| {
        ian_core::competition::UtcTime::parse(t)
            .map(|t| t.0)
            .unwrap_or(0)
    };
    let open = c.phases.iter().find(|p| p.state == "open");
    let next = c.phases.iter().find(|p| p.state == "upcoming");
    html! {
        h2 { "Competition" }
        p.countdown {
            @if let Some(p) = open {
                "Phase " strong { (p.name) } " is open: it closes in "
                strong { (countdown(ms(&p.closes_at).saturating_sub(now_ms))) }
                " (" (when(ms(&p.closes_at))) ")."
            } @else if let Some(p) = next {
                "Phase " strong { (p.name) } " opens in "
                strong { (countdown(ms(&p.opens_at).saturating_sub(now_ms))) }
                " (" (when(ms(&p.opens_at))) ")."
            } @else if let Some(at) = &c.closes_at {
                "The competition closed " (when(ms(at))) "."
            }
        }
        @if !c.phases.is_empty() {
            div.scroll { table.phases {
                thead { tr { th { "Phase" } th { "Opens" } th { "Closes" } th { "Quota per contributor" } th { "State" } } }
                tbody { @for p in &c.phases { tr class=(p.state) {
                    td { (p.name) }
                    td { (when(ms(&p.opens_at))) }
                    td { (when(ms(&p.closes_at))) }
                    td { @match (p.max_per_day, p.max_total) {
                        (None, None) => "none",
                        (Some(d), None) => { (d) " a day" },
                        (None, Some(t)) => { (t) " in all" },
                        (Some(d), Some(t)) => { (d) " a day, " (t) " in all" },
                    } }
                    td { (p.state) }
                } } }
            } }
        }
        dl.facts {
            @if c.hidden_seeds > 0 {
                dt { "Hidden seeds" }
                dd { (c.hidden_seeds) " seeds, revealed after the close; commitment "
                    @if let Some(h) = &c.hidden_seeds_commitment { code { (h.to_hex()) } } }
                dt { "Final selections" } dd { (c.final_selections) " entries per contributor" }
            }
            dt { "Board" } dd { @if c.board == "per-contributor" { "one row per contributor" } @else { "one row per agent" } }
        }
    }
}

/// A duration for people: the two largest units (`3 d 4 h`, `12 min 5 s`).
pub fn countdown(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec} s"),
        (0, 0, _) => format!("{m} min {sec} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

fn rows(goal: &str, rows: &[RowView], extras: &[String], ranked: bool) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                @if ranked { th.n { "Rank" } } @else { th.n { "Index" } }
                th { "Agent" } th { "Contributor" } th.n { "Score" }
                th.n.wide { "Reward" } th.n.wide { "Risk" } th.n.wide { "Complexity" }
                @for e in extras { th.n.wide { (Text(e)) } }
                th.wide { "Accepted" }
            } }
            tbody { @for r in rows { tr {
                td.n { @if ranked { (r.rank.unwrap_or(0)) } @else { (r.index) } }
                td { a href=(entry_href(goal, r.index)) {
                    @if r.name.is_empty() { code { (short(&r.pack)) } } @else { (Text(&r.name)) } } }
                td { a href=(contributor_href(goal, &r.contributor)) { code { (short(&r.contributor)) } } }
                td.n { (num(r.score)) }
                td.n.wide { (num(r.reward)) } td.n.wide { (num(r.risk)) } td.n.wide { (num(r.complexity)) }
                @for e in &r.extra { td.n.wide { @if let Some(v) = e { (num(*v)) } @else { "—" } } }
                td.wide { (when(r.timestamp_ms)) }
            } } }
        } }
    }
}

fn rejections(goal: &str, rs: &[RecentRejection]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr { th.wide { "When" } th { "Agent" } th.wide { "Contributor" } th { "Reason" } th { "Detail" } } }
            tbody { @for r in rs { tr {
                td.wide { @if r.time_ms > 0 { (when(r.time_ms)) } @else { "—" } }
                td { @if r.name.is_empty() { code { (short(&r.pack_hash)) } } @else { (Text(&r.name)) } }
                td.wide { @if r.contributor.is_empty() { span.muted { "unverified" } } @else {
                    a href=(contributor_href(goal, &r.contributor)) { code { (short(&r.contributor)) } } } }
                td { code { (Text(&r.code)) } @if !r.step.is_empty() { br; span.muted { (Text(&r.step)) } } }
                td.t { (Text(&r.detail)) }
            } } }
        } }
    }
}

// --------------------------------------------------------- contributor ---

/// Renders a contributor's page.
pub fn contributor_page(goal_title: &str, h: &ContributorHistory) -> String {
    let body = html! {
        h1 { "Contributor " code { (short(&h.contributor)) } }
        dl.facts {
            dt { "Key" } dd { code { (h.contributor) } }
            dt { "Goal" } dd { a href=(goal_href(&h.goal)) { (Text(goal_title)) } }
            dt { "Accepted" } dd { (h.accepted.len()) " of the log's " (h.log_size) " entries" }
            dt { "Rejected" } dd { (h.rejected.len()) " stored" }
        }
        h2 { "Accepted entries" }
        @if h.accepted.is_empty() { p { "None." } } @else {
            div.scroll { table {
                thead { tr { th.n { "Index" } th { "Agent" } th.n { "Score" } th.n { "Rank" } th { "Accepted" } } }
                tbody { @for e in h.accepted.iter().rev() { tr {
                    td.n { a href=(entry_href(&h.goal, e.log_index)) { (e.log_index) } }
                    td { @if e.name.is_empty() { code { (short(&e.pack_hash)) } } @else { (Text(&e.name)) } }
                    td.n { (num(e.score)) }
                    td.n { @match e.rank { Some(r) => (r), None => span.muted { "off the board" } } }
                    td { (when(e.timestamp_ms)) }
                } } }
            } }
        }
        h2 { "Rejected submissions" }
        @if h.rejected.is_empty() { p { "None stored." } } @else {
            (rejections(&h.goal, &h.rejected.iter().rev().cloned().collect::<Vec<_>>()))
        }
        p.muted { "The same as JSON: " a href={"/api/v1/goals/" (h.goal) "/contributors/" (h.contributor)} { "API" }
            "; from a terminal: " code { "ian-host history --public-key " (h.contributor) " --goal " (h.goal) } }
    };
    layout(
        &format!("Contributor {}", short(&h.contributor)),
        &[
            Crumb {
                href: goal_href(&h.goal),
                text: goal_title.to_string(),
            },
            Crumb {
                href: contributor_href(&h.goal, &h.contributor),
                text: format!("contributor {}", short(&h.contributor)),
            },
        ],
        true,
        body,
    )
}

// --------------------------------------------------------------- entry ---

/// The entry page.
#[derive(Debug, Clone)]
pub struct EntryPage {
    /// Goal id.
    pub goal: String,
    /// Goal title.
    pub goal_title: String,
    /// The entry.
    pub entry: ian_core::LogEntry,
    /// Agent name.
    pub name: String,
    /// Current place on the board.
    pub rank: Option<usize>,
    /// Per-seed results, when this node kept them.
    pub seeds: Option<Vec<SeedResult>>,
    /// Node key, hex (what `verify --node-key` takes).
    pub node_key: String,
    /// Base URL of this node as the client addressed it.
    pub base_url: String,
}

impl EntryPage {
    /// The file name the receipt downloads as.
    pub fn receipt_file(&self) -> String {
        format!("{}-{}.receipt.json", self.goal, self.entry.log_index)
    }

    /// The receipt's URL path.
    pub fn receipt_path(&self) -> String {
        format!(
            "/api/v1/goals/{}/receipts/{}",
            self.goal, self.entry.log_index
        )
    }

    /// The commands shown on the page that fetch and check the receipt.
    pub fn verify_commands(&self) -> String {
        format!(
            "curl -fsS -o {file} {base}{path}\nian-host verify {file} --node-key {key}",
            file = self.receipt_file(),
            base = self.base_url,
            path = self.receipt_path(),
            key = self.node_key
        )
    }
}

/// Renders an entry's page.
pub fn entry_page(p: &EntryPage) -> String {
    let e = &p.entry;
    let extras: Vec<&str> = e.metrics.extra.iter().map(|(n, _)| n.as_str()).collect();
    let body = html! {
        h1 { "Entry " (e.log_index) @if !p.name.is_empty() { " · " (Text(&p.name)) } }
        dl.facts {
            dt { "Goal" } dd { a href=(goal_href(&p.goal)) { (Text(&p.goal_title)) } }
            dt { "Accepted" } dd { (when(e.timestamp_ms)) }
            dt { "Contributor" } dd { a href=(contributor_href(&p.goal, &e.contributor.to_hex())) { code { (e.contributor.to_hex()) } } }
            dt { "Pack" } dd { code { (e.pack_hash.to_hex()) } }
            dt { "Score" } dd { (num(e.score.get())) " · "
                @match p.rank { Some(r) => { "rank " (r) " on the board" }, None => "not on the board" } }
            dt { "Reward" } dd { (num(e.metrics.reward.get())) }
            dt { "Risk" } dd { (num(e.metrics.risk.get())) }
            dt { "Complexity" } dd { (num(e.metrics.complexity.get())) }
            @for (n, v) in &e.metrics.extra { dt { (Text(n)) } dd { (num(v.get())) } }
            dt { "Agent fuel" } dd { (count(e.fuel_used)) " (all seeds)" }
            dt { "Engine" } dd { (Text(&e.engine_version)) " · " (Text(&e.abi_version)) }
            dt { "Sandbox config" } dd { code { (e.config_hash.to_hex()) } }
            dt { "Harness" } dd { code { (e.harness_hash.to_hex()) } }
            dt { "Goal manifest" } dd { code { (e.goal_hash.to_hex()) } }
        }
        h2 { "Per seed" }
        @match &p.seeds {
            None => p.muted { "This node did not keep per-seed results for this entry; "
                code { "ian-host replay" } " re-runs it seed by seed." },
            Some(seeds) => div.scroll { table {
                thead { tr { th.n { "Seed" } th.n { "Reward" } th.n { "Risk" } th.n.wide { "Complexity" }
                    @for n in &extras { th.n.wide { (Text(n)) } }
                    th.n { "Agent fuel" } th.n.wide { "Harness fuel" } th.n.wide { "Steps" } } }
                tbody { @for s in seeds { tr {
                    td.n { (s.seed) } td.n { (num(s.reward)) } td.n { (num(s.risk)) } td.n.wide { (num(s.complexity)) }
                    @for n in &extras { td.n.wide {
                        @match s.extra.iter().find(|(k, _)| k == n) { Some((_, v)) => (num(*v)), None => "—" } } }
                    td.n { (count(s.agent_fuel)) } td.n.wide { (count(s.harness_fuel)) } td.n.wide { (count(s.steps)) }
                } } }
            } },
        }
        h2 { "Check it yourself" }
        p { a href=(p.receipt_path()) download=(p.receipt_file()) { "Download the receipt" }
            " (the entry with its inclusion proof and the signed checkpoint), then check it offline:" }
        pre.verify { (p.verify_commands()) }
        p.muted { "Re-running the evaluation reproduces the metrics bit for bit: "
            code { "ian-host replay " (p.goal) " " (e.log_index) } "." }
    };
    layout(
        &format!("Entry {} of {}", e.log_index, p.goal),
        &[
            Crumb {
                href: goal_href(&p.goal),
                text: p.goal_title.clone(),
            },
            Crumb {
                href: entry_href(&p.goal, e.log_index),
                text: format!("entry {}", e.log_index),
            },
        ],
        false,
        body,
    )
}

/// A page for a request that went wrong, with the API's message.
pub fn error_page(status: u16, message: &str) -> String {
    let body = html! {
        h1 { "Not here" }
        p { (Text(message)) }
        p.muted { "HTTP " (status) ". " a href="/" { "Back to the node" } }
    };
    layout("Not here", &[], false, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_carry_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(50_000_000), "50,000,000");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn a_node_without_goals_says_so_and_refreshes_itself() {
        let page = node_page(&NodeView::default());
        assert!(page.contains("No goals published yet."));
        assert!(page.contains(&format!(
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">"
        )));
    }

    #[test]
    fn a_refusing_node_says_why_on_its_page() {
        let page = node_page(&NodeView {
            refusing: Some("the store failed".into()),
            ..Default::default()
        });
        assert!(page.contains("refusing submissions"));
        assert!(page.contains("the store failed"));
    }

    #[test]
    fn countdowns_show_the_two_largest_units() {
        assert_eq!(countdown(0), "0 s");
        assert_eq!(countdown(999), "1 s");
        assert_eq!(countdown(125_000), "2 min 5 s");
        assert_eq!(countdown(3 * 3_600_000 + 60_000), "3 h 1 min");
        assert_eq!(countdown(2 * 86_400_000 + 7_200_000), "2 d 2 h");
    }

    #[test]
    fn an_open_phase_shows_its_countdown_and_the_timeline() {
        use crate::runtime::views::PhaseView;
        let page = goal_page(&GoalPage {
            id: "g".into(),
            now_ms: 1_796_558_400_000,
            competition: Some(CompetitionView {
                phases: vec![PhaseView {
                    name: "main".into(),
                    opens_at: "2026-12-06T00:00:00Z".into(),
                    closes_at: "2026-12-07T00:00:00Z".into(),
                    state: "open".into(),
                    max_per_day: Some(5),
                    max_total: None,
                }],
                current_phase: Some("main".into()),
                closes_at: Some("2026-12-07T00:00:00Z".into()),
                hidden_seeds: 3,
                hidden_seeds_commitment: None,
                final_selections: 2,
                board: "per-contributor".into(),
                revealed: false,
                final_evaluated: 0,
                final_total: 0,
            }),
            ..Default::default()
        });
        assert!(
            page.contains("it closes in <strong>12 h 0 min</strong>"),
            "{page}"
        );
        assert!(page.contains("5 a day"));
        assert!(page.contains("one row per contributor"));
    }

    #[test]
    fn agent_names_on_the_board_are_escaped_and_cleaned() {
        let page = goal_page(&GoalPage {
            id: "g".into(),
            title: "T".into(),
            board: vec![RowView {
                rank: Some(1),
                name: "<img src=x onerror=alert(1)>\u{202E}".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert!(!page.contains("<img"));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;\u{FFFD}"));
    }
}
