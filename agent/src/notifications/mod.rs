//! Notifications: a sync's failures, recoveries, drift and applied revisions told to the
//! webhooks homelab users run (a generic JSON webhook, Slack, Discord, ntfy, Gotify, Matrix).
//!
//! What to tell whom after a cycle is pure ([`decide`]), as is each receiver's request
//! ([`message`]) and the retry and rate-limit policy ([`sender::retry_after`],
//! [`sender::Bucket`]). The sending runs on a thread per notifier behind a bounded queue
//! ([`sender`]), so a receiver that is down or slow never holds a cycle up. A failure or
//! recovery told is remembered in the sync's parent ConfigMap (`data.notified-<name>`,
//! written once it was delivered), so the node that leads after a failover neither repeats
//! nor loses one, and a failure identical to the last one sends nothing.

pub mod message;
pub mod sender;

use serde::Serialize;

use crate::config::{Notifier, NotifyEvent};
use crate::reconcile::{CycleReport, Reason, Verdict};

pub use sender::Notifiers;

/// The parent's data key that remembers what `notifier` last told of its sync.
pub fn state_key(notifier: &str) -> String {
    format!("notified-{notifier}")
}

/// What remembers a delivered notice in the sync's parent: a merge patch of its
/// `notified-<name>` key alone, beside what the cycles write.
pub fn remember_in(
    client: std::sync::Arc<dyn crate::kube::Cluster + Send + Sync>,
) -> sender::Remember {
    std::sync::Arc::new(move |sync: &str, key: &str, value: &str| {
        client
            .merge_patch(
                &crate::kube::ApiResource::config_map(),
                Some(crate::prune::SYSTEM_NAMESPACE),
                &crate::prune::parent_name(sync),
                &serde_json::json!({ "data": { key: value } }),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// How long a notice's message may be, in characters.
const MESSAGE_CHARS: usize = 1000;

/// How many objects a notice names.
const NAMED_OBJECTS: usize = 20;

/// What one notification says: the generic webhook's body is this, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The schema's version.
    pub version: u32,
    /// failure, recovery, drift or applied.
    pub event: &'static str,
    /// The sync.
    pub sync: String,
    /// error for a failure, warning for drift, info otherwise.
    pub severity: &'static str,
    /// The Ready condition's reason.
    pub reason: String,
    /// What happened, for people (secret values already masked by the cycle).
    pub message: String,
    /// The commit reconciled.
    pub revision: String,
    /// Its author, "Name <email>".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// Its subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// The node that ran the cycle.
    pub node: String,
    /// When the cycle ended (RFC 3339).
    pub at: String,
    /// At most 20 of the objects concerned: "applied ConfigMap shop/web", "drifted …".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
}

/// A notice for one notifier, and what to remember of it once delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What to send, if anything (a recovery-only notifier remembers a failure unsent).
    pub notice: Option<Notice>,
    /// The value of the parent's `notified-<name>` once sent: the failure's key, or
    /// "ready".
    pub remember: Option<String>,
    /// Drift left as it is (`selfHeal: false`) is found again by every cycle: what it is
    /// known by, so that the same drift is told once.
    pub drift: Option<String>,
}

/// What some lines are known by: 8 bytes of their SHA-256, in hex.
fn digest(lines: &[impl AsRef<str>]) -> String {
    let lines: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, lines.join("\n").as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a cycle's failure is known by: its reason and a digest of its message, so that
/// the same failure seen again sends nothing and a different one does.
fn failure_key(reason: &str, message: &str) -> String {
    format!("failure {reason} {}", digest(&[message]))
}

const READY: &str = "ready";

/// What `notifier` is to be told after a cycle, given what it was last told of the sync
/// (`last`: the parent's `notified-<name>`, or what this process sent since) and the
/// uncorrected drift it was last told of (`last_drift`).
pub fn decide(
    notifier: &Notifier,
    last: Option<&str>,
    last_drift: Option<&str>,
    report: &CycleReport,
    node: &str,
    now: &str,
) -> Vec<Decision> {
    if !notifier.syncs.is_empty() && !notifier.syncs.contains(&report.sync) {
        return Vec::new();
    }
    let wants = |e: NotifyEvent| notifier.events.contains(&e);
    let reason = report
        .status
        .condition("Ready")
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    let notice = |event: NotifyEvent, severity, message: String, objects: Vec<String>| {
        let commit = report.commit.clone().unwrap_or_default();
        Notice {
            version: 1,
            event: event.as_str(),
            sync: report.sync.clone(),
            severity,
            reason: reason.clone(),
            message: shortened(&message),
            revision: report.revision.clone(),
            author: commit.author,
            subject: commit.subject,
            node: node.to_owned(),
            at: now.to_owned(),
            objects: objects.into_iter().take(NAMED_OBJECTS).collect(),
        }
    };
    let mut decisions = Vec::new();
    let failure = match &report.verdict {
        // Waiting for a dependency is no failure of this sync's: its dependency tells.
        Verdict::Failed {
            reason: Reason::DependencyNotReady,
            ..
        }
        | Verdict::Suspended => None,
        Verdict::Failed { message, .. } | Verdict::Stalled(message) => Some(message.as_str()),
        Verdict::Ready => {
            if last.is_some_and(|l| l.starts_with("failure"))
                && (wants(NotifyEvent::Recovery) || wants(NotifyEvent::Failure))
            {
                let text = format!("Ready again at {}", crate::report::short(&report.revision));
                decisions.push(Decision {
                    notice: wants(NotifyEvent::Recovery)
                        .then(|| notice(NotifyEvent::Recovery, "info", text, Vec::new())),
                    remember: Some(READY.to_owned()),
                    drift: None,
                });
            }
            None
        }
    };
    if let Some(message) = failure {
        let key = failure_key(&reason, message);
        if last != Some(key.as_str())
            && (wants(NotifyEvent::Failure) || wants(NotifyEvent::Recovery))
        {
            decisions.push(Decision {
                notice: wants(NotifyEvent::Failure).then(|| {
                    let objects = report.status.health.clone();
                    notice(NotifyEvent::Failure, "error", message.to_owned(), objects)
                }),
                remember: Some(key),
                drift: None,
            });
        }
    }
    let applied_or_stalled = matches!(report.verdict, Verdict::Ready | Verdict::Stalled(_));
    if !report.drifted.is_empty() && wants(NotifyEvent::Drift) {
        let objects: Vec<String> = report
            .drifted
            .iter()
            .map(|d| format!("drifted {}", d.describe()))
            .collect();
        let left = report.applied.is_empty();
        let key = left.then(|| digest(&objects));
        if key.is_none() || key.as_deref() != last_drift {
            let corrected = if left {
                "found (selfHeal is off: not corrected)"
            } else {
                "corrected"
            };
            let text = format!(
                "{} object(s) drifted from revision {}, {corrected}",
                report.drifted.len(),
                crate::report::short(&report.revision)
            );
            decisions.push(Decision {
                notice: Some(notice(NotifyEvent::Drift, "warning", text, objects)),
                remember: None,
                drift: key,
            });
        }
    } else if applied_or_stalled
        && report.drifted.is_empty()
        && (!report.applied.is_empty() || !report.pruned.is_empty())
        && wants(NotifyEvent::Applied)
    {
        let objects: Vec<String> = report
            .applied
            .iter()
            .map(|o| format!("applied {o}"))
            .chain(report.pruned.iter().map(|o| format!("pruned {o}")))
            .collect();
        let text = format!(
            "applied revision {}: {} applied, {} pruned",
            crate::report::short(&report.revision),
            report.applied.len(),
            report.pruned.len()
        );
        decisions.push(Decision {
            notice: Some(notice(NotifyEvent::Applied, "info", text, objects)),
            remember: None,
            drift: None,
        });
    }
    decisions
}

fn shortened(message: &str) -> String {
    if message.chars().count() <= MESSAGE_CHARS {
        return message.to_owned();
    }
    let mut text: String = message.chars().take(MESSAGE_CHARS - 1).collect();
    text.push('…');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Endpoint, NotifierKind};
    use crate::history::CommitInfo;

    fn notifier(events: &[NotifyEvent]) -> Notifier {
        Notifier {
            name: "phone".into(),
            kind: NotifierKind::Ntfy,
            url: Endpoint::Url("https://ntfy.example/t".into()),
            token_file: None,
            room: None,
            ca_file: None,
            events: events.to_vec(),
            syncs: Vec::new(),
        }
    }

    fn report(verdict: Verdict) -> CycleReport {
        let mut report = CycleReport::new("shop", &"a".repeat(40));
        report.verdict = verdict;
        report.commit = Some(CommitInfo {
            author: "Ada <ada@example.com>".into(),
            subject: "Scale the shop".into(),
            committed_at: String::new(),
        });
        report
    }

    fn failed(message: &str) -> CycleReport {
        let mut r = report(Verdict::Failed {
            reason: Reason::ApplyFailed,
            message: message.into(),
        });
        r.status
            .set_condition("Ready", false, "ApplyFailed", message, "now");
        r
    }

    const DEFAULT: &[NotifyEvent] = &[NotifyEvent::Failure, NotifyEvent::Recovery];

    #[test]
    fn a_failure_is_told_once_and_its_recovery_once() {
        let n = notifier(DEFAULT);
        let first = decide(&n, None, None, &failed("boom"), "pi-1", "t1");
        let [Decision {
            notice: Some(notice),
            remember: Some(key),
            ..
        }] = &first[..]
        else {
            panic!("{first:?}")
        };
        assert_eq!(
            (notice.event, notice.severity, notice.reason.as_str()),
            ("failure", "error", "ApplyFailed")
        );
        assert_eq!(notice.author, "Ada <ada@example.com>");
        assert_eq!(notice.message, "boom");
        // The same failure again: nothing; another one: told.
        assert!(decide(&n, Some(key), None, &failed("boom"), "pi-1", "t2").is_empty());
        let other = decide(&n, Some(key), None, &failed("bang"), "pi-1", "t2");
        assert_eq!(other.len(), 1);
        assert_ne!(other[0].remember.as_ref(), Some(key));
        // Ready after it: a recovery, remembered as ready; Ready again: nothing.
        let ready = decide(&n, Some(key), None, &report(Verdict::Ready), "pi-1", "t3");
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].notice.as_ref().unwrap().event, "recovery");
        assert_eq!(ready[0].remember.as_deref(), Some("ready"));
        assert!(decide(
            &n,
            Some("ready"),
            None,
            &report(Verdict::Ready),
            "pi-1",
            "t4"
        )
        .is_empty());
        assert!(decide(&n, None, None, &report(Verdict::Ready), "pi-1", "t4").is_empty());
    }

    #[test]
    fn only_what_a_notifier_asks_for_about_the_syncs_it_names() {
        // Recovery only: the failure is remembered, not sent.
        let n = notifier(&[NotifyEvent::Recovery]);
        let d = decide(&n, None, None, &failed("boom"), "pi-1", "t");
        assert_eq!(d.len(), 1);
        assert!(d[0].notice.is_none() && d[0].remember.is_some());
        // Drift only: failures leave no state.
        let n = notifier(&[NotifyEvent::Drift]);
        assert!(decide(&n, None, None, &failed("boom"), "pi-1", "t").is_empty());
        let mut n = notifier(DEFAULT);
        n.syncs = vec!["db".into()];
        assert!(decide(&n, None, None, &failed("boom"), "pi-1", "t").is_empty());
        // Waiting for a dependency and being suspended tell nothing.
        let n = notifier(DEFAULT);
        let waiting = report(Verdict::Failed {
            reason: Reason::DependencyNotReady,
            message: "db is not Ready".into(),
        });
        assert!(decide(&n, None, None, &waiting, "pi-1", "t").is_empty());
        assert!(decide(&n, None, None, &report(Verdict::Suspended), "pi-1", "t").is_empty());
    }

    #[test]
    fn drift_and_applied_revisions_name_their_objects() {
        use crate::render::ObjectRef;
        let n = notifier(&[NotifyEvent::Drift, NotifyEvent::Applied]);
        let object = ObjectRef {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "shop".into(),
            name: "web".into(),
        };
        let mut applied = report(Verdict::Ready);
        applied.applied = vec![object.clone()];
        applied.pruned = vec![object.clone()];
        let d = decide(&n, None, None, &applied, "pi-1", "t");
        let notice = d[0].notice.as_ref().unwrap();
        assert_eq!(notice.event, "applied");
        assert_eq!(
            notice.objects,
            ["applied ConfigMap shop/web", "pruned ConfigMap shop/web"]
        );
        assert_eq!(d[0].remember, None);
        let mut drifted = report(Verdict::Ready);
        drifted.applied = vec![object.clone()];
        drifted.drifted = vec![crate::drift::Drift {
            object,
            fields: vec![".data.key".into()],
            managers: vec!["kubectl-edit".into()],
        }];
        let d = decide(&n, None, None, &drifted, "pi-1", "t");
        assert_eq!(d.len(), 1, "drift, not an applied revision: {d:?}");
        let notice = d[0].notice.as_ref().unwrap();
        assert_eq!((notice.event, notice.severity), ("drift", "warning"));
        assert!(notice.message.contains("corrected"), "{}", notice.message);
        assert_eq!(
            notice.objects,
            ["drifted ConfigMap shop/web: .data.key by kubectl-edit"]
        );
    }

    #[test]
    fn drift_left_as_it_is_is_told_once() {
        use crate::render::ObjectRef;
        let n = notifier(&[NotifyEvent::Drift]);
        let mut left = report(Verdict::Stalled("drift".into()));
        left.drifted = vec![crate::drift::Drift {
            object: ObjectRef {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: "shop".into(),
                name: "web".into(),
            },
            fields: vec![".spec.replicas".into()],
            managers: vec!["kubectl".into()],
        }];
        let first = decide(&n, None, None, &left, "pi-1", "t");
        let key = first[0].drift.clone().expect("a drift key");
        assert!(first[0]
            .notice
            .as_ref()
            .unwrap()
            .message
            .contains("not corrected"));
        assert!(decide(&n, None, Some(&key), &left, "pi-1", "t").is_empty());
        left.drifted[0].fields.push(".spec.template".into());
        assert_eq!(
            decide(&n, None, Some(&key), &left, "pi-1", "t").len(),
            1,
            "other drift"
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let n = notifier(DEFAULT);
        let d = decide(&n, None, None, &failed(&"x".repeat(5000)), "pi-1", "t");
        let message = &d[0].notice.as_ref().unwrap().message;
        assert_eq!(message.chars().count(), MESSAGE_CHARS);
        assert!(message.ends_with('…'));
    }
}
