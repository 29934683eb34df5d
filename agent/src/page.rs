//! The status page, as HTML (pure): an overview of every sync and a page per sync, from
//! what the daemon holds ([`Board`]). Server-rendered with its CSS inside and no script
//! and no external asset (a Pi may have no internet), readable on a phone, refreshed by
//! the browser every 15 s. Every string from Git or the cluster is escaped.

use std::fmt::Write as _;

use crate::history::Entry;
use crate::report::{short, SyncStatus};

/// What the page shows: the daemon's view of its syncs.
#[derive(Debug, Clone, Default)]
pub struct Board {
    /// This node.
    pub node: String,
    /// None when this node leads; else the node that holds the Lease (as last seen).
    pub standby_for: Option<String>,
    /// The syncs, in the config's order.
    pub syncs: Vec<SyncView>,
    /// When the page was made (RFC 3339).
    pub now: String,
}

/// One sync as the page shows it.
#[derive(Debug, Clone, Default)]
pub struct SyncView {
    /// The sync's name.
    pub name: String,
    /// Its status, as its last cycle reported it (or its parent said).
    pub status: SyncStatus,
    /// Its revision history, newest first.
    pub history: Vec<Entry>,
    /// Its inventory, one line per object ("Deployment.apps shop/web").
    pub objects: Vec<String>,
    /// The last drift found: when, and one line per object.
    pub last_drift: Option<(String, Vec<String>)>,
    /// Nothing is known yet (no cycle ran, nothing was read).
    pub unknown: bool,
}

/// How often the browser reloads the page.
const REFRESH_SECS: u32 = 15;

/// Escapes text for HTML, attributes included.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The link to a sync's page (its name is a DNS label, but escape anyway).
fn sync_href(name: &str) -> String {
    format!("/sync/{}", esc(name))
}

const STYLE: &str = "
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#cf222e;--busy:#9a6700;--line:#8884}
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:60rem;padding:0 .8rem 2rem}
header{padding:.9rem 1rem;margin:.8rem 0;border-radius:.4rem;color:#fff;font-weight:600;font-size:1.1rem}
header.ok{background:var(--ok)}header.bad{background:var(--bad)}header.busy{background:var(--busy)}
.meta{opacity:.75;font-size:.85rem;margin:.2rem 0 1rem}
section{border:1px solid var(--line);border-radius:.4rem;padding:.2rem 1rem .8rem;margin:0 0 1rem}
h2{font-size:1.15rem;margin:.7rem 0 .3rem}h2 a{color:inherit}
h3{font-size:.95rem;margin:.8rem 0 .2rem}
.badge{font-size:.8rem;padding:.1rem .45rem;border-radius:.8rem;color:#fff;vertical-align:middle;margin-left:.3rem}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.busy{background:var(--busy)}
table{border-collapse:collapse;width:100%;font-size:.88rem}
td,th{text-align:left;padding:.2rem .4rem;border-top:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
code{font-size:.85rem}ul{margin:.2rem 0;padding-left:1.2rem}.msg{white-space:pre-wrap;overflow-wrap:anywhere}
.ok-text{color:var(--ok)}.bad-text{color:var(--bad)}
@media (max-width:40rem){table,tbody,tr,td{display:block}tr:first-child{display:none}tr{border-top:1px solid var(--line);padding:.3rem 0}td{border:0;padding:.05rem .2rem}}
";

/// How many lines of a message the page shows (a render failure lists its errors).
const MESSAGE_LINES: usize = 12;

/// A message as the page shows it: its first line without the unhealthy objects (shown
/// grouped), then its other lines, at most [`MESSAGE_LINES`].
fn message_text(message: &str, health: &[String]) -> String {
    let mut lines = vec![crate::view::condition_message(message, health)];
    lines.extend(message.lines().skip(1).take(MESSAGE_LINES - 1));
    let more = message.lines().count().saturating_sub(MESSAGE_LINES);
    let mut text = lines.join("\n");
    if more > 0 {
        text.push_str(&format!("\n… and {more} more lines"));
    }
    text
}

/// How a sync is doing, for its badge: (class, word).
fn standing(view: &SyncView) -> (&'static str, &'static str) {
    if view.unknown {
        return ("busy", "Unknown");
    }
    let is = |kind: &str| view.status.condition(kind).map(|c| c.status == "True");
    let reason = view
        .status
        .condition("Ready")
        .map(|c| c.reason.as_str())
        .unwrap_or_default();
    match reason {
        "Suspended" => return ("busy", "Suspended"),
        "DependencyNotReady" => return ("busy", "Waiting"),
        _ => {}
    }
    match (is("Ready"), is("Stalled"), is("Reconciling")) {
        (Some(true), _, _) => ("ok", "Ready"),
        (_, Some(true), _) => ("bad", "Stalled"),
        (_, _, Some(true)) => ("busy", "Reconciling"),
        (Some(false), _, _) => ("bad", "Not ready"),
        _ => ("busy", "Unknown"),
    }
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(title)
    );
}

fn banner(out: &mut String, board: &Board) {
    let total = board.syncs.len();
    let bad = board
        .syncs
        .iter()
        .filter(|s| standing(s).0 == "bad")
        .count();
    let busy = board
        .syncs
        .iter()
        .filter(|s| standing(s).0 == "busy")
        .count();
    let (class, text) = if bad > 0 {
        ("bad", format!("{bad} of {total} syncs need attention"))
    } else if busy > 0 {
        ("busy", format!("{busy} of {total} syncs not settled yet"))
    } else {
        ("ok", format!("All {total} syncs Ready"))
    };
    let _ = write!(out, "<header class=\"{class}\">{}</header>", esc(&text));
    let role = match &board.standby_for {
        None => "leads".to_owned(),
        Some(leader) if leader.is_empty() => "stands by".to_owned(),
        Some(leader) => format!("stands by; {leader} leads"),
    };
    let _ = write!(
        out,
        "<p class=\"meta\">node {} {} · {} · refreshed every {REFRESH_SECS} s</p>",
        esc(&board.node),
        esc(&role),
        esc(&board.now)
    );
}

/// "5 min ago" between two RFC 3339 times; empty when either is unreadable.
fn age(then: &str, now: &str) -> String {
    let (Ok(then), Ok(now)) = (
        then.parse::<k8s_openapi::jiff::Timestamp>(),
        now.parse::<k8s_openapi::jiff::Timestamp>(),
    ) else {
        return String::new();
    };
    let secs = now.as_second() - then.as_second();
    match secs {
        s if s < 0 => String::new(),
        s if s < 90 => format!("{s} s ago"),
        s if s < 90 * 60 => format!("{} min ago", s / 60),
        s if s < 36 * 3600 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86400),
    }
}

fn section(out: &mut String, view: &SyncView, now: &str, history_shown: usize) {
    let (class, word) = standing(view);
    let _ = write!(
        out,
        "<section><h2><a href=\"{}\">{}</a><span class=\"badge {class}\">{word}</span></h2>",
        sync_href(&view.name),
        esc(&view.name)
    );
    if view.unknown {
        out.push_str(
            "<p>No cycle has run since plumb started, and nothing was read yet.</p></section>",
        );
        return;
    }
    let status = &view.status;
    let newest = view
        .history
        .iter()
        .find(|e| Some(&e.revision) == status.revision.as_ref());
    match (&status.revision, newest) {
        (Some(revision), Some(entry)) => {
            let _ = write!(
                out,
                "<p>revision <code>{}</code> “{}” by {}, applied {}</p>",
                esc(short(revision)),
                esc(&entry.subject),
                esc(&entry.author),
                esc(&status
                    .applied_at
                    .as_deref()
                    .map(|a| age(a, now))
                    .unwrap_or_default())
            );
        }
        (Some(revision), None) => {
            let _ = write!(
                out,
                "<p>revision <code>{}</code>, applied {}</p>",
                esc(short(revision)),
                esc(&status
                    .applied_at
                    .as_deref()
                    .map(|a| age(a, now))
                    .unwrap_or_default())
            );
        }
        (None, _) => out.push_str("<p>no revision applied yet</p>"),
    }
    out.push_str(
        "<table><tr><th>condition</th><th>status</th><th>reason</th><th>message</th></tr>",
    );
    for c in &status.conditions {
        let first = message_text(&c.message, &status.health);
        let mark = match (c.kind.as_str(), c.status.as_str()) {
            ("Ready" | "SourceReady", "True") | ("Stalled" | "Reconciling", "False") => "ok-text",
            ("Ready" | "SourceReady", "False") | ("Stalled", "True") => "bad-text",
            _ => "",
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{mark}\">{}</td><td>{}</td><td class=\"msg\">{}</td></tr>",
            esc(&c.kind),
            esc(&c.status),
            esc(&c.reason),
            esc(&first)
        );
    }
    out.push_str("</table>");
    let counts = &status.counts;
    let _ = write!(
        out,
        "<p>{} objects · last change: {} applied, {} unchanged, {} pruned, {} drifted</p>",
        counts.managed, counts.applied, counts.unchanged, counts.pruned, counts.drifted
    );
    if !status.health.is_empty() {
        out.push_str("<h3>Needs attention</h3><ul>");
        for group in crate::view::group_unhealthy(&status.health) {
            let _ = write!(out, "<li>{}</li>", esc(&crate::view::group_line(&group)));
        }
        out.push_str("</ul>");
    }
    if !status.kept.is_empty() {
        out.push_str("<h3>Kept instead of pruned</h3><ul>");
        for line in &status.kept {
            let _ = write!(out, "<li>{}</li>", esc(line));
        }
        out.push_str("</ul>");
    }
    if let Some((at, lines)) = &view.last_drift {
        let _ = write!(out, "<h3>Last drift, {}</h3><ul>", esc(&age(at, now)));
        for line in lines {
            let _ = write!(out, "<li>{}</li>", esc(line));
        }
        out.push_str("</ul>");
    }
    if let Some(failure) = &status.last_failure {
        let _ = write!(
            out,
            "<h3>Last failure, {}</h3><p class=\"msg\">{}</p>",
            esc(&status
                .last_failure_at
                .as_deref()
                .map(|a| age(a, now))
                .unwrap_or_default()),
            esc(&message_text(failure, &status.health))
        );
    }
    if !view.history.is_empty() {
        out.push_str("<h3>History</h3><table><tr><th>when</th><th>revision</th><th>result</th><th>what</th></tr>");
        for entry in view.history.iter().take(history_shown) {
            let what = if entry.result == "Ready" || entry.result == "Stalled" {
                format!(
                    "{} applied, {} pruned, {} drifted",
                    entry.applied, entry.pruned, entry.drifted
                )
            } else {
                entry.message.clone()
            };
            let class = match entry.result.as_str() {
                "Ready" => "ok-text",
                "Failed" | "Stalled" => "bad-text",
                _ => "",
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td><code>{}</code> {} <small>{}</small></td><td class=\"{class}\">{} <small>{}</small></td><td>{}</td></tr>",
                esc(&age(&entry.at, now)),
                esc(short(&entry.revision)),
                esc(&entry.subject),
                esc(&entry.author),
                esc(&entry.result),
                esc(&entry.reason),
                esc(&what)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

/// The overview: the banner and every sync.
pub fn overview(board: &Board) -> String {
    let mut out = String::with_capacity(8 << 10);
    head(&mut out, &format!("plumb · {}", board.node));
    banner(&mut out, board);
    for view in &board.syncs {
        section(&mut out, view, &board.now, 5);
    }
    out.push_str("</body></html>");
    out
}

/// A sync's own page: its section, its whole history and its objects with their health;
/// None when there is no such sync.
pub fn sync_page(board: &Board, name: &str) -> Option<String> {
    let view = board.syncs.iter().find(|s| s.name == name)?;
    let mut out = String::with_capacity(16 << 10);
    head(&mut out, &format!("plumb · {name}"));
    banner(&mut out, board);
    out.push_str("<p><a href=\"/\">← all syncs</a></p>");
    section(&mut out, view, &board.now, usize::MAX);
    let _ = write!(
        out,
        "<section><h2>Objects ({})</h2><table><tr><th>object</th><th>health</th></tr>",
        view.objects.len()
    );
    for object in &view.objects {
        let unhealthy = view
            .status
            .health
            .iter()
            .find(|line| {
                line.strip_prefix(object.as_str())
                    .is_some_and(|rest| rest.starts_with(':'))
            })
            .map(|line| line[object.len() + 1..].trim());
        let (class, health) = match unhealthy {
            Some(why) => ("bad-text", why.to_owned()),
            None => ("ok-text", "ok".to_owned()),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{class}\">{}</td></tr>",
            esc(object),
            esc(&health)
        );
    }
    out.push_str("</table></section></body></html>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> Board {
        let mut status = SyncStatus {
            revision: Some("1a2b3c4d5e".repeat(4)),
            applied_at: Some("2026-12-04T01:00:00Z".into()),
            health: vec![
                "Deployment.apps shop/a: 0 of 1 replicas available".into(),
                "Deployment.apps shop/b: 0 of 1 replicas available".into(),
            ],
            ..Default::default()
        };
        status.set_condition("Ready", false, "HealthCheckFailed", "not healthy", "t");
        status.set_condition("Stalled", true, "HealthCheckFailed", "not healthy", "t");
        Board {
            node: "pi-1".into(),
            standby_for: None,
            now: "2026-12-04T01:05:00Z".into(),
            syncs: vec![
                SyncView {
                    name: "shop".into(),
                    status,
                    history: vec![Entry {
                        revision: "1a2b3c4d5e".repeat(4),
                        subject: "<script>alert('x')</script>".into(),
                        author: "Eve <eve@example.com>".into(),
                        at: "2026-12-04T01:00:00Z".into(),
                        result: "Stalled".into(),
                        ..Default::default()
                    }],
                    objects: vec![
                        "Deployment.apps shop/a".into(),
                        "Deployment.apps shop/b".into(),
                        "Service shop/a".into(),
                    ],
                    last_drift: Some((
                        "2026-12-04T01:04:00Z".into(),
                        vec!["ConfigMap shop/c: .data.key by kubectl-edit".into()],
                    )),
                    unknown: false,
                },
                SyncView {
                    name: "db".into(),
                    unknown: true,
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn the_overview_groups_what_needs_attention_and_escapes_everything() {
        let html = overview(&board());
        assert!(
            html.contains("<header class=\"bad\">1 of 2 syncs need attention</header>"),
            "{html}"
        );
        assert!(html.contains("2 Deployments waiting"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("Eve &lt;eve@example.com&gt;"));
        assert!(html.contains("applied 5 min ago"), "{html}");
        assert!(html.contains("Last drift, 60 s ago"), "{html}");
        assert!(html.contains(".data.key by kubectl-edit"));
        assert!(html.contains("node pi-1 leads"));
        assert!(html.contains("No cycle has run"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "an external asset"
        );
    }

    #[test]
    fn a_sync_page_lists_its_objects_with_their_health() {
        let html = sync_page(&board(), "shop").unwrap();
        assert!(html.contains("Objects (3)"));
        assert!(html.contains("<td>Deployment.apps shop/a</td><td class=\"bad-text\">0 of 1 replicas available</td>"), "{html}");
        assert!(
            html.contains("<td>Service shop/a</td><td class=\"ok-text\">ok</td>"),
            "{html}"
        );
        assert!(sync_page(&board(), "nope").is_none());
        let mut standby = board();
        standby.standby_for = Some("pi-2".into());
        assert!(overview(&standby).contains("stands by; pi-2 leads"));
    }
}
