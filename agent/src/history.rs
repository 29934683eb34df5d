//! Revision history: per sync, the last cycles that changed something — which commit,
//! who wrote it, what came of it, what changed — in a ConfigMap of its own,
//! `plumb-system/plumb-<sync>-history`, so that the parent's room stays the inventory's.
//!
//! What an entry says and whether a cycle adds one are pure ([`entry`], [`record`]); a
//! cycle that changed nothing reads and writes nothing here (on k3s every write is an
//! SD-card write).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kube::{ApiResource, ApplyOptions, Cluster, Error};
use crate::prune;
use crate::reconcile::{CycleReport, Verdict};

/// How many objects an entry names; the rest are counted.
pub const NAMED_OBJECTS: usize = 20;

/// How long an entry's message may be, in characters.
const MESSAGE_CHARS: usize = 300;

/// The history kept per sync when the config says nothing.
pub const DEFAULT_LIMIT: usize = 20;

/// Who made a commit and what it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitInfo {
    /// "Name <email>".
    pub author: String,
    /// The message's first paragraph, on one line.
    pub subject: String,
    /// When it was committed (RFC 3339).
    pub committed_at: String,
}

/// One cycle that changed something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The commit reconciled.
    pub revision: String,
    /// Its author.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// Its subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// When it was committed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub committed_at: String,
    /// When a cycle first reconciled it (the first entry of this revision's).
    pub fetched_at: String,
    /// When this cycle ended.
    pub at: String,
    /// Ready, Stalled, Failed or Suspended.
    pub result: String,
    /// The reason, as the Ready condition gives it.
    pub reason: String,
    /// What went wrong, first line, shortened.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Objects created or changed.
    #[serde(default)]
    pub applied: usize,
    /// Objects deleted.
    #[serde(default)]
    pub pruned: usize,
    /// Objects found drifted.
    #[serde(default)]
    pub drifted: usize,
    /// The objects that changed, at most [`NAMED_OBJECTS`]: "applied Deployment.apps a/web".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

impl Entry {
    fn same_outcome(&self, other: &Entry) -> bool {
        self.revision == other.revision
            && self.result == other.result
            && self.reason == other.reason
            && self.message == other.message
    }

    fn changes_objects(&self) -> bool {
        self.applied + self.pruned + self.drifted > 0
    }
}

/// The entry a cycle's report makes.
pub fn entry(report: &CycleReport, commit: Option<&CommitInfo>, now: &str) -> Entry {
    let (result, message) = match &report.verdict {
        Verdict::Ready => ("Ready", ""),
        Verdict::Stalled(message) => ("Stalled", message.as_str()),
        Verdict::Failed { message, .. } => ("Failed", message.as_str()),
        Verdict::Suspended => ("Suspended", ""),
    };
    let reason = report
        .status
        .condition("Ready")
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    let mut message: String = message.lines().next().unwrap_or_default().to_owned();
    if message.chars().count() > MESSAGE_CHARS {
        message = message.chars().take(MESSAGE_CHARS - 1).collect();
        message.push('…');
    }
    let changed = report
        .applied
        .iter()
        .map(|o| format!("applied {o}"))
        .chain(report.pruned.iter().map(|o| format!("pruned {o}")))
        .chain(
            report
                .drifted
                .iter()
                .map(|d| format!("drifted {}", d.object)),
        )
        .take(NAMED_OBJECTS)
        .collect();
    let commit = commit.cloned().unwrap_or_default();
    Entry {
        revision: report.revision.clone(),
        author: commit.author,
        subject: commit.subject,
        committed_at: commit.committed_at,
        fetched_at: now.to_owned(),
        at: now.to_owned(),
        result: result.to_owned(),
        reason,
        message,
        applied: report.applied.len(),
        pruned: report.pruned.len(),
        drifted: report.drifted.len(),
        changed,
    }
}

/// The history with `entry` added, newest first and at most `limit` long; None when
/// nothing is to be written: no history kept, or the newest entry already says the same
/// and nothing changed in the cluster (a failure seen again, a restart).
pub fn record(history: &[Entry], mut entry: Entry, limit: usize) -> Option<Vec<Entry>> {
    if limit == 0 {
        return None;
    }
    if let Some(newest) = history.first() {
        if newest.same_outcome(&entry) && !entry.changes_objects() {
            return None;
        }
    }
    if let Some(first_seen) = history.iter().find(|e| e.revision == entry.revision) {
        entry.fetched_at = first_seen.fetched_at.clone();
    }
    let mut next = Vec::with_capacity(limit.min(history.len() + 1));
    next.push(entry);
    next.extend(history.iter().take(limit - 1).cloned());
    Some(next)
}

/// The history ConfigMap's name.
pub fn history_name(sync: &str) -> String {
    format!("{}-history", prune::parent_name(sync))
}

/// The entries a history ConfigMap holds, newest first: one JSON object per line. A line
/// someone broke is skipped, so that the history goes on.
pub fn decode(config_map: Option<&Value>) -> Vec<Entry> {
    let text = config_map
        .and_then(|cm| cm["data"]["history"].as_str())
        .unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The history ConfigMap holding `entries`.
pub fn config_map(sync: &str, entries: &[Entry]) -> Value {
    let lines: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(e).expect("entries serialise"))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": history_name(sync),
            "namespace": prune::SYSTEM_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "plumb", "plumb.dev/history-of": sync},
        },
        "data": {"history": lines.join("\n")},
    })
}

/// Reads a sync's history.
pub fn read(client: &dyn Cluster, sync: &str) -> Result<Vec<Entry>, Error> {
    let live = client.get(
        &ApiResource::config_map(),
        Some(prune::SYSTEM_NAMESPACE),
        &history_name(sync),
    )?;
    Ok(decode(live.as_ref()))
}

/// Adds what a cycle did to its sync's history, when there is something to add: one GET
/// and one apply. The history as written, or None when nothing was.
pub fn append(
    client: &dyn Cluster,
    sync: &str,
    entry: Entry,
    limit: usize,
) -> Result<Option<Vec<Entry>>, Error> {
    if limit == 0 {
        return Ok(None);
    }
    let history = read(client, sync)?;
    let Some(next) = record(&history, entry, limit) else {
        return Ok(None);
    };
    client.apply(
        &ApiResource::config_map(),
        &config_map(sync, &next),
        ApplyOptions {
            force: true,
            dry_run: false,
        },
    )?;
    Ok(Some(next))
}

/// Deletes a sync's history (`plumb forget`); false when there was none.
pub fn delete(client: &dyn Cluster, sync: &str) -> Result<bool, Error> {
    client.delete(
        &ApiResource::config_map(),
        Some(prune::SYSTEM_NAMESPACE),
        &history_name(sync),
        crate::kube::Propagation::Background,
    )
}

/// A sync's history for a person, newest first.
pub fn text(sync: &str, entries: &[Entry]) -> String {
    let mut out = format!("{sync}:\n");
    if entries.is_empty() {
        out.push_str("  no history yet\n");
    }
    for e in entries {
        let reason = if e.reason.is_empty() || e.reason == e.result {
            String::new()
        } else {
            format!(" ({})", e.reason)
        };
        out.push_str(&format!(
            "  {}  {}  {}{reason}: {} applied, {} pruned, {} drifted\n",
            e.at,
            crate::report::short(&e.revision),
            e.result,
            e.applied,
            e.pruned,
            e.drifted
        ));
        if !e.subject.is_empty() || !e.author.is_empty() {
            out.push_str(&format!("      {} ({})\n", e.subject, e.author));
        }
        if !e.message.is_empty() {
            out.push_str(&format!("      {}\n", e.message));
        }
        let named = e.changed.len();
        let total = e.applied + e.pruned + e.drifted;
        for change in &e.changed {
            out.push_str(&format!("      {change}\n"));
        }
        if total > named {
            out.push_str(&format!("      and {} more\n", total - named));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reason;
    use crate::render::ObjectRef;

    fn object(name: &str) -> ObjectRef {
        ObjectRef {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    fn report(revision: &str, verdict: Verdict, applied: usize) -> CycleReport {
        let mut report = CycleReport::new("web", revision);
        report.verdict = verdict;
        report.applied = (0..applied).map(|i| object(&format!("app-{i}"))).collect();
        let reason = match &report.verdict {
            Verdict::Failed { reason, .. } => reason.as_str(),
            _ => "Succeeded",
        };
        report
            .status
            .set_condition("Ready", true, reason, "", "2026-12-03T10:00:00Z");
        report
    }

    fn commit() -> CommitInfo {
        CommitInfo {
            author: "Ada <ada@example.com>".into(),
            subject: "Scale the shop".into(),
            committed_at: "2026-12-03T09:59:00Z".into(),
        }
    }

    #[test]
    fn an_entry_names_the_commit_the_result_and_at_most_twenty_objects() {
        let e = entry(
            &report("1a2b3c4d", Verdict::Ready, 25),
            Some(&commit()),
            "2026-12-03T10:00:00Z",
        );
        assert_eq!(e.author, "Ada <ada@example.com>");
        assert_eq!(e.subject, "Scale the shop");
        assert_eq!(
            (e.result.as_str(), e.reason.as_str()),
            ("Ready", "Succeeded")
        );
        assert_eq!(e.applied, 25);
        assert_eq!(e.changed.len(), NAMED_OBJECTS);
        assert_eq!(e.changed[0], "applied Deployment.apps shop/app-0");
        let shown = text("web", &[e]);
        assert!(
            shown.contains("Scale the shop (Ada <ada@example.com>)"),
            "{shown}"
        );
        assert!(shown.contains("and 5 more"), "{shown}");
    }

    #[test]
    fn a_long_failure_is_cut_to_its_first_line_and_three_hundred_characters() {
        let message = format!("{}\nsecond line", "x".repeat(1000));
        let failed = Verdict::Failed {
            reason: Reason::ValidationFailed,
            message,
        };
        let e = entry(&report("1a2b", failed, 0), None, "t");
        assert_eq!(e.result, "Failed");
        assert_eq!(e.reason, "ValidationFailed");
        assert_eq!(e.message.chars().count(), 300);
        assert!(!e.message.contains("second"));
    }

    #[test]
    fn only_a_new_outcome_or_a_change_is_recorded_and_the_oldest_go() {
        let first = entry(&report("aaa", Verdict::Ready, 2), None, "t1");
        let history = record(&[], first, 3).unwrap();
        // The same revision, Ready, nothing changed: an idle cycle or a restart.
        let idle = entry(&report("aaa", Verdict::Ready, 0), None, "t2");
        assert_eq!(record(&history, idle, 3), None);
        // Drift corrected under the same revision is a change.
        let mut drift = report("aaa", Verdict::Ready, 1);
        drift.drifted = vec![crate::drift::Drift::deleted(object("x"))];
        let history = record(&history, entry(&drift, None, "t3"), 3).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].fetched_at, "t1", "first seen at t1");
        // A failure, then the same failure again.
        let failed = || Verdict::Failed {
            reason: Reason::RenderFailed,
            message: "bad".into(),
        };
        let history = record(&history, entry(&report("bbb", failed(), 0), None, "t4"), 3).unwrap();
        assert_eq!(
            record(&history, entry(&report("bbb", failed(), 0), None, "t5"), 3),
            None
        );
        let history = record(
            &history,
            entry(&report("ccc", Verdict::Ready, 1), None, "t6"),
            3,
        )
        .unwrap();
        let at: Vec<&str> = history.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(at, ["t6", "t4", "t3"]);
        assert_eq!(
            record(
                &history,
                entry(&report("ddd", Verdict::Ready, 1), None, "t7"),
                0
            ),
            None
        );
    }

    #[test]
    fn the_config_map_round_trips_and_a_broken_line_is_skipped() {
        let entries = vec![
            entry(&report("bbb", Verdict::Ready, 1), Some(&commit()), "t2"),
            entry(&report("aaa", Verdict::Ready, 1), None, "t1"),
        ];
        let mut cm = config_map("web", &entries);
        assert_eq!(cm["metadata"]["name"], "plumb-web-history");
        assert_eq!(decode(Some(&cm)), entries);
        let text = cm["data"]["history"]
            .as_str()
            .unwrap()
            .replacen('{', "{oops", 1);
        cm["data"]["history"] = Value::String(text);
        assert_eq!(decode(Some(&cm)), entries[1..]);
        assert_eq!(decode(None), []);
    }
}
