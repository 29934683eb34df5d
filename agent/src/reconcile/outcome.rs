//! How a cycle ends, as data: its verdict with a typed reason, what it did, and the pure
//! functions that derive the status's conditions and the Event from them. No I/O here:
//! `Cycle::end` (in `reconcile`) is the one place that writes them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::drift::Drift;
use crate::render::ObjectRef;
use crate::report::{self, Counts, Severity, SyncStatus};

/// Why a cycle ended as it did: the reason of the status's Ready condition and of the
/// Event (Flux's words where Flux has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Applied, healthy, or in force and ready.
    Succeeded,
    /// The sync is suspended.
    Suspended,
    /// The source could not be read or followed.
    SourceFailed,
    /// The revision does not render.
    RenderFailed,
    /// The revision renders nothing while objects are managed.
    EmptyRevision,
    /// The API server refused an object, or another sync owns it; nothing was applied.
    ValidationFailed,
    /// An apply (or the inventory written before it) failed.
    ApplyFailed,
    /// A chart's hook failed, or its post- hooks could not run.
    HookFailed,
    /// Applied, but not healthy within the timeout.
    HealthCheckFailed,
    /// The objects in force could not be compared with Git.
    DriftCheckFailed,
    /// Drift was found and corrected.
    DriftCorrected,
    /// Drift was found, and selfHeal is off.
    DriftDetected,
    /// The parent (inventory and status) could not be read: the cycle wrote nothing.
    StatusUnreadable,
    /// A sync in `dependsOn` is not Ready (at this revision): nothing was applied yet.
    DependencyNotReady,
}

impl Reason {
    /// The word in the status and Events (API: kubectl and alerts match on it).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Succeeded => "Succeeded",
            Reason::Suspended => "Suspended",
            Reason::SourceFailed => "SourceFailed",
            Reason::RenderFailed => "RenderFailed",
            Reason::EmptyRevision => "EmptyRevision",
            Reason::ValidationFailed => "ValidationFailed",
            Reason::ApplyFailed => "ApplyFailed",
            Reason::HookFailed => "HookFailed",
            Reason::HealthCheckFailed => "HealthCheckFailed",
            Reason::DriftCheckFailed => "DriftCheckFailed",
            Reason::DriftCorrected => "DriftCorrected",
            Reason::DriftDetected => "DriftDetected",
            Reason::StatusUnreadable => "StatusUnreadable",
            Reason::DependencyNotReady => "DependencyNotReady",
        }
    }
}

/// One Event to post about a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Normal or Warning.
    pub severity: Severity,
    /// Its reason.
    pub reason: &'static str,
    /// Its message.
    pub message: String,
}

impl Event {
    fn normal(reason: &'static str, message: String) -> Event {
        Event {
            severity: Severity::Normal,
            reason,
            message,
        }
    }
}

/// An Event's message with the commit it is about: "…; commit 1a2b3c4 by Ada
/// <ada@example.com>: Scale the shop".
pub fn with_commit(message: &str, revision: &str, commit: &crate::history::CommitInfo) -> String {
    // Events keep 1,000 characters: the commit must not be what is cut.
    let message: String = message.chars().take(600).collect();
    format!(
        "{message}; commit {} by {}: {}",
        report::short(revision),
        commit.author,
        commit.subject
    )
}

/// How a cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Applied (or already in force) and healthy.
    Ready,
    /// Applied, but health did not become ready within the timeout.
    Stalled(String),
    /// Nothing from the revision was applied (or only part, on an apply error).
    Failed {
        /// Why, as the status's Ready condition and the Event say it.
        reason: Reason,
        /// What happened, for a person.
        message: String,
    },
    /// The sync is suspended.
    Suspended,
}

/// What one cycle did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    /// The sync.
    pub sync: String,
    /// The revision reconciled.
    pub revision: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Objects created or changed.
    pub applied: Vec<ObjectRef>,
    /// Objects already as Git says.
    pub unchanged: usize,
    /// Objects deleted.
    pub pruned: Vec<ObjectRef>,
    /// Prune candidates kept, with the reason.
    pub kept: Vec<(ObjectRef, String)>,
    /// Drift found.
    pub drifted: Vec<Drift>,
    /// Fields taken from other managers, by object.
    pub conflicts: BTreeMap<ObjectRef, Vec<String>>,
    /// Warnings (unknown kinds, failed Event posts).
    pub warnings: Vec<String>,
    /// Whether the cycle wrote anything (cluster or disk).
    pub wrote: bool,
    /// Whether the cycle rendered the sync's charts (a revision with charts renders once per
    /// change of its inputs).
    pub rendered_charts: bool,
    /// Why the source could not be followed (the last good revision was
    /// reconciled instead of the newest): SourceReady=False, not Ready.
    pub source_failure: Option<String>,
    /// The status as reported.
    pub status: SyncStatus,
    /// Who made the commit reconciled and what it says (None for a folder or an unread one).
    pub commit: Option<crate::history::CommitInfo>,
    /// What each notifier was last told of the sync, as the parent said when the cycle
    /// opened: notifier → the value of its `notified-<name>` key.
    pub notified: BTreeMap<String, String>,
    /// The revision history, when this cycle wrote it (newest first).
    pub history: Option<Vec<crate::history::Entry>>,
    /// The inventory the cycle ended with, when it opened one: what the status page lists.
    pub inventory: Option<std::collections::BTreeSet<ObjectRef>>,
}

impl CycleReport {
    pub(crate) fn new(sync: &str, revision: &str) -> CycleReport {
        CycleReport {
            sync: sync.to_owned(),
            revision: revision.to_owned(),
            verdict: Verdict::Ready,
            applied: Vec::new(),
            unchanged: 0,
            pruned: Vec::new(),
            kept: Vec::new(),
            drifted: Vec::new(),
            conflicts: BTreeMap::new(),
            warnings: Vec::new(),
            wrote: false,
            rendered_charts: false,
            source_failure: None,
            status: SyncStatus::default(),
            commit: None,
            notified: BTreeMap::new(),
            history: None,
            inventory: None,
        }
    }

    /// True when the cycle ended Ready.
    pub fn is_ready(&self) -> bool {
        self.verdict == Verdict::Ready && self.source_failure.is_none()
    }

    /// One line for logs and the CLI.
    pub fn summary(&self) -> String {
        let rev = report::short(&self.revision);
        match &self.verdict {
            Verdict::Suspended => format!("{}: suspended", self.sync),
            Verdict::Failed { message, .. } => {
                format!("{}: revision {rev} failed: {message}", self.sync)
            }
            v => {
                let mut parts = vec![
                    format!("{} applied", self.applied.len()),
                    format!("{} unchanged", self.unchanged),
                ];
                if !self.pruned.is_empty() {
                    parts.push(format!("{} pruned", self.pruned.len()));
                }
                if !self.drifted.is_empty() {
                    parts.push(format!("{} drifted", self.drifted.len()));
                }
                let state = match v {
                    Verdict::Stalled(m) => format!("not ready: {m}"),
                    _ => "Ready".into(),
                };
                let source = match &self.source_failure {
                    Some(why) => format!("; but the source cannot be followed: {why}"),
                    None => String::new(),
                };
                format!(
                    "{}: revision {rev} {state} ({}){source}",
                    self.sync,
                    parts.join(", ")
                )
            }
        }
    }
}

/// The status of a cycle that failed: not Ready, Stalled, for `reason`.
pub fn failed(status: &mut SyncStatus, reason: Reason, message: &str, now: &str) {
    if reason == Reason::DependencyNotReady {
        // Waiting is progress, not a dead end: it goes on by itself once the dependency is.
        let reason = reason.as_str();
        status.set_condition("Ready", false, reason, message, now);
        status.set_condition("Reconciling", true, reason, message, now);
        status.set_condition("Stalled", false, reason, "", now);
        return;
    }
    let reason = reason.as_str();
    status.set_condition("Ready", false, reason, message, now);
    status.set_condition("Reconciling", false, reason, "", now);
    status.set_condition("Stalled", true, reason, message, now);
}

/// The status of a suspended sync.
pub fn suspended(status: &mut SyncStatus, now: &str) {
    let reason = Reason::Suspended.as_str();
    status.set_condition("Ready", false, reason, "the sync is suspended", now);
    status.set_condition("Reconciling", false, reason, "", now);
}

/// What an apply cycle that applied its revision leaves for the status.
#[derive(Debug, Clone)]
pub struct Applied<'a> {
    /// The revision now in force.
    pub revision: &'a str,
    /// Its counts.
    pub counts: Counts,
    /// Whether it created, changed or pruned anything.
    pub changed: bool,
    /// A line per object not healthy within the timeout.
    pub unhealthy: Vec<String>,
    /// Prune candidates kept, "OBJECT: why".
    pub kept: Vec<String>,
    /// The sync's timeout.
    pub timeout: Duration,
}

/// The status of an applied revision: Ready, or Stalled (HealthCheckFailed) when something
/// is not healthy; the verdict to match.
pub fn applied(status: &mut SyncStatus, applied: Applied, now: &str) -> Verdict {
    let short = report::short(applied.revision);
    if status.revision.as_deref() != Some(applied.revision) || applied.changed {
        status.applied_at = Some(now.to_owned());
    }
    status.revision = Some(applied.revision.to_owned());
    status.counts = applied.counts;
    status.health = applied.unhealthy.clone();
    status.kept = applied.kept;
    let ok = Reason::Succeeded.as_str();
    status.set_condition("Reconciling", false, ok, "", now);
    if applied.unhealthy.is_empty() {
        status.set_condition("Ready", true, ok, &format!("applied revision {short}"), now);
        status.set_condition("Stalled", false, ok, "", now);
        return Verdict::Ready;
    }
    let message = format!(
        "revision {short} applied, but not healthy within {}s: {}",
        applied.timeout.as_secs(),
        applied.unhealthy.join("; ")
    );
    let unhealthy = Reason::HealthCheckFailed.as_str();
    status.set_condition("Ready", false, unhealthy, &message, now);
    status.set_condition("Stalled", true, unhealthy, &message, now);
    Verdict::Stalled(message)
}

/// The Event of an apply cycle that changed something (applied, pruned or kept an object);
/// None when it changed nothing.
pub fn changes_event(report: &CycleReport) -> Option<Event> {
    if report.applied.is_empty() && report.pruned.is_empty() && report.kept.is_empty() {
        return None;
    }
    let list = |objs: &[ObjectRef]| {
        let mut names: Vec<String> = objs.iter().take(10).map(ToString::to_string).collect();
        if objs.len() > 10 {
            names.push(format!("and {} more", objs.len() - 10));
        }
        names.join(", ")
    };
    let mut parts = Vec::new();
    if !report.applied.is_empty() {
        parts.push(format!("applied {}", list(&report.applied)));
    }
    if !report.pruned.is_empty() {
        parts.push(format!("pruned {}", list(&report.pruned)));
    }
    for (object, why) in &report.kept {
        parts.push(format!("kept {object} ({why})"));
    }
    for (object, managers) in &report.conflicts {
        parts.push(format!(
            "took fields of {object} from {}",
            managers.join(", ")
        ));
    }
    let message = format!(
        "revision {}: {}",
        report::short(&report.revision),
        parts.join("; ")
    );
    Some(Event::normal("ReconciliationSucceeded", message))
}

/// The Event of a drift cycle that pruned objects held back before (their Namespace or CRD
/// emptied).
pub fn released_event(revision: &str, pruned: &[ObjectRef]) -> Event {
    let pruned: Vec<String> = pruned.iter().map(ToString::to_string).collect();
    Event::normal(
        "ReconciliationSucceeded",
        format!(
            "revision {}: pruned {} that had been held back",
            report::short(revision),
            pruned.join(", ")
        ),
    )
}

/// What a drift cycle found, for its status and Event.
#[derive(Debug, Clone)]
pub struct Drifted<'a> {
    /// The revision in force.
    pub revision: &'a str,
    /// The objects drifted.
    pub drifted: &'a [Drift],
    /// How many of them were corrected.
    pub corrected: usize,
    /// Whether the sync corrects drift.
    pub self_heal: bool,
    /// A newer revision refused: its refusal stays the status's word on readiness.
    pub refused: Option<&'a str>,
}

/// The status, verdict and Event of a drift cycle that found drift (there is always one).
pub fn drifted(status: &mut SyncStatus, found: Drifted, now: &str) -> (Verdict, Event) {
    let lines: Vec<String> = found
        .drifted
        .iter()
        .map(|d| {
            let by = if d.managers.is_empty() {
                String::new()
            } else {
                format!(" by {}", d.managers.join(", "))
            };
            format!("{} ({}){by}", d.object, d.fields.join(", "))
        })
        .collect();
    let short = report::short(found.revision);
    let (reason, severity, message) = if found.self_heal {
        (
            Reason::DriftCorrected,
            Severity::Normal,
            format!("revision {short}: corrected drift of {}", lines.join("; ")),
        )
    } else {
        (
            Reason::DriftDetected,
            Severity::Warning,
            format!(
                "revision {short}: drift (selfHeal is off) in {}",
                lines.join("; ")
            ),
        )
    };
    let ready = found.self_heal && found.corrected == found.drifted.len();
    // A revision whose health check failed stays Stalled through drift corrected: only
    // its objects turning healthy (the next drift check's look) make it Ready.
    let unhealthy = status
        .condition("Stalled")
        .filter(|c| c.status == "True")
        .map(|c| c.message.clone());
    let message = match found.refused {
        Some(refused) => format!(
            "{message} (while revision {} is refused)",
            report::short(refused)
        ),
        None => {
            if !(ready && unhealthy.is_some()) {
                status.set_condition("Ready", ready, reason.as_str(), &message, now);
            }
            message
        }
    };
    let verdict = match (ready, unhealthy) {
        (true, None) => Verdict::Ready,
        (true, Some(stalled)) => Verdict::Stalled(stalled),
        (false, _) => Verdict::Stalled(message.clone()),
    };
    let event = Event {
        severity,
        reason: reason.as_str(),
        message,
    };
    (verdict, event)
}

/// What an idle drift cycle does about a status that is not Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Nothing: the status is Ready already, or a refusal is its word.
    Leave,
    /// A revision that failed its health check: look at its objects once first.
    RecheckHealth(String),
    /// A failure the revision in force has come through: Ready again.
    Ready,
}

/// Whether an idle drift cycle's status should turn Ready: a failure the revision in force
/// came through (a source, API server or drift-check failure) is over; one whose health
/// check failed stays so until its objects are healthy, so a restarted daemon never calls
/// it Ready on the strength of an idle cycle.
pub fn settle(status: &SyncStatus, refused: bool, wait: bool) -> Settle {
    match status.condition("Ready") {
        None => Settle::Leave,
        Some(ready) if ready.status == "True" || refused => Settle::Leave,
        Some(ready) if ready.reason == Reason::HealthCheckFailed.as_str() && wait => {
            Settle::RecheckHealth(ready.message.clone())
        }
        Some(_) => Settle::Ready,
    }
}

/// The status of a revision in force found ready again, and its Event.
pub fn settled(status: &mut SyncStatus, revision: &str, now: &str) -> Event {
    let message = format!("revision {} is in force and ready", report::short(revision));
    let ok = Reason::Succeeded.as_str();
    status.health.clear();
    status.set_condition("Ready", true, ok, &message, now);
    status.set_condition("Stalled", false, ok, "", now);
    status.set_condition("Reconciling", false, ok, "", now);
    Event::normal("Succeeded", message)
}

/// The SourceReady condition from this cycle's fetch: False with reason FetchFailed while
/// the source cannot be followed (a full disk, a revoked token, a deleted branch) and the
/// last good revision stays in force, True again once it can. The Event when it changed.
pub fn source_condition(
    status: &mut SyncStatus,
    failure: Option<&str>,
    now: &str,
) -> Option<Event> {
    let was_ready = status
        .condition("SourceReady")
        .is_none_or(|c| c.status == "True");
    match failure {
        Some(why) => {
            status.set_condition("SourceReady", false, "FetchFailed", why, now);
            was_ready.then(|| Event {
                severity: Severity::Warning,
                reason: "FetchFailed",
                message: why.to_owned(),
            })
        }
        None => {
            status.set_condition("SourceReady", true, "Succeeded", "", now);
            (!was_ready)
                .then(|| Event::normal("SourceReady", "the source is followed again".to_owned()))
        }
    }
}

/// The Event of a failed cycle, and the failure recorded in the status; None when the
/// failure is the one already recorded (a failure repeated each interval posts once).
pub fn failure_event(status: &mut SyncStatus, verdict: &Verdict, now: &str) -> Option<Event> {
    let Verdict::Failed { reason, message } = verdict else {
        return None;
    };
    if status.last_failure.as_deref() == Some(message.as_str()) {
        return None;
    }
    status.last_failure = Some(message.clone());
    status.last_failure_at = Some(now.to_owned());
    Some(Event {
        severity: Severity::Warning,
        reason: reason.as_str(),
        message: message.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-02T12:00:00Z";

    fn status_with_ready(status: bool, reason: Reason) -> SyncStatus {
        let mut s = SyncStatus::default();
        s.set_condition("Ready", status, reason.as_str(), "why", NOW);
        s
    }

    #[test]
    fn a_failure_is_posted_once_until_another_replaces_it() {
        let mut status = SyncStatus::default();
        let failed = |m: &str| Verdict::Failed {
            reason: Reason::RenderFailed,
            message: m.into(),
        };
        let first = failure_event(&mut status, &failed("a.yaml:3: bad"), NOW).unwrap();
        assert_eq!(
            (first.severity, first.reason),
            (Severity::Warning, "RenderFailed")
        );
        assert_eq!(
            failure_event(&mut status, &failed("a.yaml:3: bad"), NOW),
            None
        );
        assert!(failure_event(&mut status, &failed("b.yaml:1: bad"), NOW).is_some());
        assert_eq!(failure_event(&mut status, &Verdict::Ready, NOW), None);
        assert_eq!(status.last_failure.as_deref(), Some("b.yaml:1: bad"));
    }

    #[test]
    fn a_hook_failure_is_its_own_reason_in_the_status_and_event() {
        // The Event's reason used to be read back from the status, and an unknown one
        // (HookFailed) was posted as ValidationFailed.
        let mut status = SyncStatus::default();
        failed(&mut status, Reason::HookFailed, "job failed", NOW);
        let verdict = Verdict::Failed {
            reason: Reason::HookFailed,
            message: "job failed".into(),
        };
        let event = failure_event(&mut status, &verdict, NOW).unwrap();
        assert_eq!(event.reason, "HookFailed");
        for (kind, value) in [
            ("Ready", "False"),
            ("Stalled", "True"),
            ("Reconciling", "False"),
        ] {
            let c = status.condition(kind).unwrap();
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                (value, "HookFailed")
            );
        }
    }

    #[test]
    fn source_ready_turns_false_and_back_with_one_event_each_way() {
        let mut status = SyncStatus::default();
        let none = source_condition(&mut status, None, NOW);
        assert_eq!(none, None, "ready from the start: nothing to say");
        let lost = source_condition(&mut status, Some("token revoked"), NOW).unwrap();
        assert_eq!(
            (lost.severity, lost.reason),
            (Severity::Warning, "FetchFailed")
        );
        assert_eq!(
            source_condition(&mut status, Some("token revoked"), NOW),
            None
        );
        let back = source_condition(&mut status, None, NOW).unwrap();
        assert_eq!(back.reason, "SourceReady");
        assert_eq!(status.condition("SourceReady").unwrap().status, "True");
    }

    #[test]
    fn an_idle_cycle_settles_only_what_it_has_come_through() {
        use Settle::*;
        // (Ready status, its reason, refused, wait) → what the idle cycle does
        let cases = [
            (true, Reason::Succeeded, false, true, Leave),
            (false, Reason::SourceFailed, false, true, Ready),
            (false, Reason::DriftCheckFailed, false, false, Ready),
            (false, Reason::SourceFailed, true, true, Leave),
            (
                false,
                Reason::HealthCheckFailed,
                false,
                true,
                RecheckHealth("why".into()),
            ),
            (false, Reason::HealthCheckFailed, false, false, Ready),
        ];
        for (ready, reason, refused, wait, want) in cases {
            let status = status_with_ready(ready, reason);
            assert_eq!(
                settle(&status, refused, wait),
                want,
                "{ready} {reason:?} {refused} {wait}"
            );
        }
        assert_eq!(settle(&SyncStatus::default(), false, true), Leave);
    }

    #[test]
    fn an_applied_revision_is_ready_or_stalled_on_its_health() {
        let applied_with = |unhealthy: Vec<String>| Applied {
            revision: "abcdef123456",
            counts: Counts::default(),
            changed: true,
            unhealthy,
            kept: vec![],
            timeout: Duration::from_secs(120),
        };
        let mut status = SyncStatus::default();
        assert_eq!(
            applied(&mut status, applied_with(vec![]), NOW),
            Verdict::Ready
        );
        assert_eq!(status.revision.as_deref(), Some("abcdef123456"));
        assert_eq!(
            status.condition("Ready").unwrap().message,
            "applied revision abcdef1"
        );
        let verdict = applied(
            &mut status,
            applied_with(vec!["Deployment web: 0/2".into()]),
            NOW,
        );
        let Verdict::Stalled(message) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(
            message.contains("not healthy within 120s: Deployment web: 0/2"),
            "{message}"
        );
        assert_eq!(
            status.condition("Ready").unwrap().reason,
            "HealthCheckFailed"
        );
        assert_eq!(status.health, ["Deployment web: 0/2"]);
    }

    fn config_map_a_b() -> ObjectRef {
        ObjectRef {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "a".into(),
            name: "b".into(),
        }
    }

    #[test]
    fn drift_is_ready_only_when_every_object_was_corrected() {
        let drift = [Drift::deleted(config_map_a_b())];
        // (selfHeal, corrected, refused) → ready, reason, severity
        let cases = [
            (true, 1, None, true, "DriftCorrected", Severity::Normal),
            (true, 0, None, false, "DriftCorrected", Severity::Normal),
            (false, 0, None, false, "DriftDetected", Severity::Warning),
            (
                true,
                1,
                Some("fedcba9"),
                true,
                "DriftCorrected",
                Severity::Normal,
            ),
        ];
        for (self_heal, corrected, refused, ready, reason, severity) in cases {
            let mut status = status_with_ready(false, Reason::ValidationFailed);
            let found = Drifted {
                revision: "abcdef1",
                drifted: &drift,
                corrected,
                self_heal,
                refused,
            };
            let (verdict, event) = drifted(&mut status, found, NOW);
            assert_eq!(
                verdict == Verdict::Ready,
                ready,
                "{self_heal} {corrected} {refused:?}"
            );
            assert_eq!((event.reason, event.severity), (reason, severity));
            let condition = status.condition("Ready").unwrap();
            match refused {
                // A refused revision keeps the refusal as the status's word.
                Some(_) => {
                    assert_eq!(condition.reason, "ValidationFailed");
                    assert!(event.message.contains("while revision fedcba9 is refused"));
                }
                None => assert_eq!(condition.reason, reason),
            }
        }
    }

    #[test]
    fn drift_corrected_in_an_unhealthy_revision_leaves_it_stalled() {
        let drift = [Drift::deleted(config_map_a_b())];
        let mut status = SyncStatus::default();
        status.set_condition("Ready", false, "HealthCheckFailed", "not healthy", NOW);
        status.set_condition("Stalled", true, "HealthCheckFailed", "not healthy", NOW);
        let found = Drifted {
            revision: "abcdef1",
            drifted: &drift,
            corrected: 1,
            self_heal: true,
            refused: None,
        };
        let (verdict, event) = drifted(&mut status, found, NOW);
        assert_eq!(verdict, Verdict::Stalled("not healthy".into()));
        assert_eq!(event.reason, "DriftCorrected");
        assert_eq!(
            status.condition("Ready").unwrap().reason,
            "HealthCheckFailed"
        );
    }
}
