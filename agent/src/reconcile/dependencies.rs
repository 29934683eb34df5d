//! `dependsOn`: a sync reconciles only when every sync it depends on is Ready, and, when
//! it follows the same source, Ready at the revision this one is about to apply (as Flux's
//! kustomize-controller checks a dependency's last applied revision) — unless either is
//! pinned by `plumb rollback`, which holds it at another revision on purpose.

use crate::config;
use crate::kube::Cluster;
use crate::report::{self, SyncStatus};

/// Why `sync` must wait before reconciling `revision`, given each dependency's status as
/// read (None: it has none yet); None when every dependency is ready. A suspended
/// dependency holds nothing back: it keeps what it applied, as Flux leaves a suspended
/// Kustomization's Ready condition as it was. `revision` is None for a pinned sync: its
/// dependencies need only be Ready.
pub fn held_back(
    revision: Option<&str>,
    dependencies: &[(&config::Dependency, Option<SyncStatus>)],
) -> Option<String> {
    for (dependency, status) in dependencies {
        let name = &dependency.name;
        let Some(status) = status else {
            return Some(format!("dependency '{name}' has not reconciled yet"));
        };
        match status.condition("Ready") {
            Some(ready) if ready.reason == super::Reason::Suspended.as_str() => continue,
            Some(ready) if ready.status == "True" => {}
            Some(ready) => {
                let why = ready.message.lines().next().unwrap_or_default();
                return Some(format!(
                    "dependency '{name}' is not Ready ({}: {why})",
                    ready.reason
                ));
            }
            None => return Some(format!("dependency '{name}' has not reconciled yet")),
        }
        let pinned = status
            .condition(crate::rollback::PINNED)
            .is_some_and(|c| c.status == "True");
        match revision {
            Some(revision)
                if dependency.same_source
                    && !pinned
                    && status.revision.as_deref() != Some(revision) =>
            {
                return Some(format!(
                    "dependency '{name}' is Ready at revision {}, not yet at {}",
                    status.revision.as_deref().map_or("none", report::short),
                    report::short(revision)
                ));
            }
            _ => {}
        }
    }
    None
}

/// Reads the dependencies' statuses (one GET each) and decides; an unreadable one holds
/// the sync back too.
pub fn check(client: &dyn Cluster, sync: &config::Sync, revision: Option<&str>) -> Option<String> {
    let mut read = Vec::with_capacity(sync.depends_on.len());
    for dependency in &sync.depends_on {
        let status = report::get_parent(client, &dependency.name)
            .map_err(|e| e.to_string())
            .and_then(|parent| match parent {
                None => Ok(None),
                Some(parent) => report::read_parent(Some(&parent))
                    .map(|(_, status)| Some(status))
                    .map_err(|e| e.to_string()),
            });
        match status {
            Ok(status) => read.push((dependency, status)),
            Err(e) => {
                return Some(format!(
                    "the status of dependency '{}' could not be read: {e}",
                    dependency.name
                ))
            }
        }
    }
    held_back(revision, &read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(ready: Option<(bool, &str)>, revision: &str) -> SyncStatus {
        let mut status = SyncStatus {
            revision: Some(revision.to_owned()),
            ..SyncStatus::default()
        };
        if let Some((ok, reason)) = ready {
            status.set_condition("Ready", ok, reason, "first line\nsecond", "now");
        }
        status
    }

    #[test]
    fn a_dependency_holds_back_until_ready_at_the_same_revision() {
        let same = config::Dependency {
            name: "crds".into(),
            same_source: true,
        };
        let other = config::Dependency {
            name: "infra".into(),
            same_source: false,
        };
        let ready = || Some(status(Some((true, "Succeeded")), "abc1234567"));
        assert_eq!(
            held_back(Some("abc1234567"), &[(&same, ready()), (&other, ready())]),
            None
        );
        assert_eq!(
            held_back(Some("def7654321"), &[(&same, ready())]).as_deref(),
            Some("dependency 'crds' is Ready at revision abc1234, not yet at def7654")
        );
        // Another source's revision is its own.
        assert_eq!(held_back(Some("def7654321"), &[(&other, ready())]), None);
        assert_eq!(
            held_back(Some("abc"), &[(&same, None)]).as_deref(),
            Some("dependency 'crds' has not reconciled yet")
        );
        assert_eq!(
            held_back(
                Some("abc1234567"),
                &[(
                    &same,
                    Some(status(Some((false, "HealthCheckFailed")), "abc1234567"))
                )]
            )
            .as_deref(),
            Some("dependency 'crds' is not Ready (HealthCheckFailed: first line)")
        );
        assert_eq!(
            held_back(
                Some("def"),
                &[(&same, Some(status(Some((false, "Suspended")), "abc")))]
            ),
            None
        );
        assert_eq!(
            held_back(Some("abc"), &[(&same, Some(status(None, "abc")))]).as_deref(),
            Some("dependency 'crds' has not reconciled yet")
        );
        // A pinned sync needs its dependencies Ready, at any revision; a pinned dependency
        // is Ready at its pin, whatever this one applies.
        assert_eq!(held_back(None, &[(&same, ready())]), None);
        let mut pinned = status(Some((true, "Succeeded")), "abc1234567");
        pinned.set_condition("Pinned", true, "RolledBack", "pinned to abc1234", "now");
        assert_eq!(
            held_back(Some("def7654321"), &[(&same, Some(pinned))]),
            None
        );
        assert!(held_back(
            None,
            &[(&same, Some(status(Some((false, "ApplyFailed")), "x")))]
        )
        .is_some());
    }
}
