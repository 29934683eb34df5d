//! `plumb check`: the operator's first tool (like `flux check`). Loads the
//! config, finds the kubeconfig, connects, asks the API server whether this
//! identity may do what plumb does, and checks that stateDir is writable.
//!
//! What to ask is a plain list ([`permission_checks`]); the report is data
//! ([`Report`]) rendered in one place.

use std::path::Path;

use crate::config::Settings;
use crate::kube::{self, AccessQuestion, Client};

use crate::model::SYSTEM_NAMESPACE;

/// How much a failed item matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Passed.
    Ok,
    /// Only some features need it; does not fail the check.
    Warn,
    /// plumb cannot work without it.
    Fail,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Outcome.
    pub severity: Severity,
    /// What was checked and what was found.
    pub text: String,
}

/// The whole checklist.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Lines in the order they were checked.
    pub items: Vec<Item>,
}

impl Report {
    fn push(&mut self, severity: Severity, text: impl Into<String>) {
        self.items.push(Item {
            severity,
            text: text.into(),
        });
    }

    /// True when no item failed (warnings allowed).
    pub fn passed(&self) -> bool {
        self.items.iter().all(|i| i.severity != Severity::Fail)
    }

    /// The checklist as printed, one line per item, with a closing verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            let mark = match item.severity {
                Severity::Ok => "ok  ",
                Severity::Warn => "warn",
                Severity::Fail => "FAIL",
            };
            let mut lines = item.text.lines();
            out.push_str(&format!("{mark} {}\n", lines.next().unwrap_or_default()));
            for line in lines {
                out.push_str(&format!("     {line}\n"));
            }
        }
        let failed = self
            .items
            .iter()
            .filter(|i| i.severity == Severity::Fail)
            .count();
        if failed == 0 {
            out.push_str("all checks passed\n");
        } else {
            out.push_str(&format!("{failed} check(s) failed\n"));
        }
        out
    }
}

/// A permission to ask about, and why plumb needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionCheck {
    /// The question for the API server.
    pub question: AccessQuestion,
    /// Failing it fails the check, or only warns.
    pub severity_if_denied: Severity,
    /// What breaks without it.
    pub needed_for: &'static str,
}

fn ask(
    verb: &'static str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    severity_if_denied: Severity,
    needed_for: &'static str,
) -> PermissionCheck {
    PermissionCheck {
        question: AccessQuestion {
            verb,
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.map(str::to_owned),
        },
        severity_if_denied,
        needed_for,
    }
}

/// Everything plumb asks the API server permission for.
///
/// Managed kinds are asked as "all kinds, cluster-wide" until plumb can render
/// a revision here and ask for exactly the kinds in it. Server-side apply that
/// creates an object is authorised as create, so both create and patch count.
pub fn permission_checks() -> Vec<PermissionCheck> {
    let mut checks = Vec::new();
    for verb in ["get", "list", "create", "patch", "delete"] {
        checks.push(ask(
            verb,
            "*",
            "*",
            None,
            Severity::Fail,
            "managing objects from Git",
        ));
    }
    checks.push(ask(
        "create",
        "",
        "events",
        Some(SYSTEM_NAMESPACE),
        Severity::Fail,
        "reporting Events",
    ));
    for verb in ["get", "create", "update"] {
        checks.push(ask(
            verb,
            "coordination.k8s.io",
            "leases",
            Some(SYSTEM_NAMESPACE),
            Severity::Fail,
            "leader election",
        ));
    }
    for verb in ["get", "create", "update", "patch"] {
        checks.push(ask(
            verb,
            "",
            "configmaps",
            Some(SYSTEM_NAMESPACE),
            Severity::Fail,
            "inventory and status",
        ));
    }
    for verb in ["escalate", "bind"] {
        for resource in ["clusterroles", "roles"] {
            checks.push(ask(
                verb,
                "rbac.authorization.k8s.io",
                resource,
                None,
                Severity::Warn,
                "managing RBAC objects from Git (or use cluster-admin)",
            ));
        }
    }
    checks
}

fn describe(q: &AccessQuestion) -> String {
    let resource = match (q.group.as_str(), q.resource.as_str()) {
        ("*", "*") => "all kinds".to_owned(),
        ("", r) => r.to_owned(),
        (g, r) => format!("{r}.{g}"),
    };
    match &q.namespace {
        Some(ns) => format!("{} {resource} in namespace '{ns}'", q.verb),
        None => format!("{} {resource} cluster-wide", q.verb),
    }
}

/// The status page's auth file and the notifiers' URL, token and CA files, read as the
/// daemon reads them when it starts.
fn check_listener_and_notifiers(report: &mut Report, settings: &Settings) {
    if let Some(addr) = settings.listen {
        match crate::metrics::Access::of(settings, addr) {
            Ok(crate::metrics::Access::Refused) => report.push(
                Severity::Warn,
                format!("status page: off on {addr} (not loopback; set listenAuth, or listenPublic: true)"),
            ),
            Ok(_) => report.push(Severity::Ok, format!("status page: http://{addr}/")),
            Err(e) => report.push(Severity::Fail, format!("status page: {e}")),
        }
    }
    if settings.notify.is_empty() {
        return;
    }
    match crate::notifications::Notifiers::check(&settings.notify) {
        Ok(()) => report.push(
            Severity::Ok,
            format!(
                "notifiers: {} ({}), their files readable",
                settings.notify.len(),
                settings
                    .notify
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Err(e) => report.push(Severity::Fail, e),
    }
}

/// Runs every check; never stops at the first failure, so the operator sees all.
pub fn run(config_path: &Path, settings: &Settings, context: Option<&str>) -> Report {
    let mut report = Report::default();
    report.push(
        Severity::Ok,
        format!(
            "config {}: {} source(s), {} sync(s)",
            config_path.display(),
            settings.sources.len(),
            settings.syncs.len()
        ),
    );
    check_state_dir(&mut report, &settings.state_dir);
    check_sources(&mut report, settings);
    check_listener_and_notifiers(&mut report, settings);
    check_age_keys(&mut report, settings);
    let context = context.or(settings.context.as_deref());
    let conn = match kube::kubeconfig::locate(settings.kubeconfig.as_deref(), context) {
        Ok(c) => {
            report.push(
                Severity::Ok,
                format!("kubeconfig: {} (server {})", c.origin, c.server),
            );
            c
        }
        Err(e) => {
            report.push(Severity::Fail, format!("kubeconfig: {e}"));
            return report;
        }
    };
    let client = match Client::new(&conn, &kube::user_agent(&settings.node_name)) {
        Ok(c) => c,
        Err(e) => {
            report.push(Severity::Fail, e.to_string());
            return report;
        }
    };
    match client.version() {
        Ok(v) => report.push(
            Severity::Ok,
            format!(
                "API server {} answers: Kubernetes {} {}",
                client.server(),
                v.git_version,
                v.platform
            ),
        ),
        Err(e) => {
            report.push(Severity::Fail, format!("API server: {e}"));
            return report;
        }
    }
    for check in permission_checks() {
        let what = describe(&check.question);
        match client.may(&check.question) {
            Ok(answer) if answer.allowed => report.push(Severity::Ok, format!("may {what}")),
            Ok(answer) => {
                let reason = if answer.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", answer.reason)
                };
                report.push(
                    check.severity_if_denied,
                    format!("may not {what}{reason}: needed for {}", check.needed_for),
                );
            }
            Err(e) => report.push(
                Severity::Fail,
                format!("could not ask whether plumb may {what}: {e}"),
            ),
        }
    }
    report
}

/// Asks each source's remote for its ref (one ls-refs each; nothing is fetched).
fn check_sources(report: &mut Report, settings: &Settings) {
    let user_agent = kube::user_agent(&settings.node_name);
    for s in &settings.sources {
        let url = crate::source::http::redact(&s.url);
        let answer = crate::source::GitSource::open(s, &settings.state_dir, &user_agent)
            .and_then(|mut source| source.remote_commit());
        match answer {
            Ok(commit) => report.push(
                Severity::Ok,
                format!(
                    "source '{}': {url} answers; {} is at {}",
                    s.name,
                    s.git_ref,
                    crate::report::short(&commit)
                ),
            ),
            Err(e) => report.push(Severity::Fail, e.to_string()),
        }
    }
}

/// Each age key file the syncs decrypt with, read as a render reads it.
fn check_age_keys(report: &mut Report, settings: &Settings) {
    let mut files: Vec<&Path> = settings
        .syncs
        .iter()
        .filter_map(|s| s.decryption.as_ref().map(|d| d.age_key_file.as_path()))
        .collect();
    files.sort();
    files.dedup();
    for file in files {
        match crate::render::decrypt::load_identities(file) {
            Ok(ids) => report.push(
                Severity::Ok,
                format!(
                    "ageKeyFile {}: {} identity(ies), for {}",
                    file.display(),
                    ids.len(),
                    ids.iter()
                        .map(|i| i.recipient())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Err(e) => report.push(Severity::Fail, e),
        }
    }
}

fn check_state_dir(report: &mut Report, dir: &Path) {
    // plumb creates stateDir when it is missing, as systemd's StateDirectory= would.
    let probe = dir.join(format!(".plumb-check-{}", std::process::id()));
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&probe, b"")) {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            report.push(
                Severity::Ok,
                format!("stateDir {} is writable", dir.display()),
            );
        }
        Err(e) => report.push(
            Severity::Fail,
            format!("stateDir {} is not writable: {e}", dir.display()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_list_covers_what_plumb_does() {
        let checks = permission_checks();
        let has = |verb: &str, resource: &str| {
            checks
                .iter()
                .any(|c| c.question.verb == verb && c.question.resource == resource)
        };
        for verb in ["get", "list", "create", "patch", "delete"] {
            assert!(has(verb, "*"), "{verb}");
        }
        assert!(has("create", "events"));
        assert!(has("update", "leases"));
        assert!(has("escalate", "clusterroles") && has("bind", "roles"));
        assert!(checks
            .iter()
            .filter(|c| c.question.verb == "bind")
            .all(|c| c.severity_if_denied == Severity::Warn));
    }

    #[test]
    fn report_renders_and_judges() {
        let mut r = Report::default();
        r.push(Severity::Ok, "a");
        r.push(Severity::Warn, "b\nmore");
        assert!(r.passed());
        assert!(r.render().ends_with("all checks passed\n"));
        assert!(r.render().contains("warn b\n     more\n"));
        r.push(Severity::Fail, "c");
        assert!(!r.passed());
        assert!(r.render().contains("FAIL c\n") && r.render().contains("1 check(s) failed"));
        assert_eq!(
            describe(&permission_checks()[0].question),
            "get all kinds cluster-wide"
        );
    }
}
