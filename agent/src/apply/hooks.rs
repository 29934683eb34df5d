//! One wave of a chart's hooks, run as Helm runs them: the previous run deleted first
//! (`before-hook-creation`, Helm's default), applied, followed until each has finished
//! (however long the sync's `wait` setting; a pre-install migration must end before the
//! workloads that need it), then deleted where `hook-succeeded` or `hook-failed` says so.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{
    apply_all, namespace_of, object_failure, wait_gone, Applied, ObjectFailure, Target, Validation,
};
use crate::health::{hook_health, Health};
use crate::kube::{Cluster, Propagation};
use crate::plan::hooks::hook_of;

/// Runs one wave; what was applied, and a failure per hook that failed, did not finish
/// within `timeout`, or could not be deleted or applied. Hooks are waited on together.
pub fn run_wave(
    client: &dyn Cluster,
    wave: &[Target],
    validation: &Validation,
    timeout: Duration,
) -> (Vec<Applied>, Vec<ObjectFailure>) {
    let mut failures = Vec::new();
    for t in wave {
        let policy = hook_of(&t.manifest.object).map(|h| h.delete);
        if !policy.is_some_and(|p| p.before_creation) {
            continue;
        }
        let key = t.manifest.key();
        let deleted = client
            .delete(
                &t.resource,
                namespace_of(t),
                &key.name,
                Propagation::Background,
            )
            .map_err(|e| e.to_string())
            .and_then(|existed| match existed {
                true => wait_gone(client, t, Duration::from_secs(60)),
                false => Ok(()),
            });
        if let Err(e) = deleted {
            failures.push(object_failure(
                t.manifest,
                format!("hook: could not delete the previous run (before-hook-creation): {e}"),
            ));
        }
    }
    if !failures.is_empty() {
        return (Vec::new(), failures);
    }
    let applied = match apply_all(client, wave, validation, &BTreeSet::new()) {
        Ok(applied) => applied,
        Err((applied, failures)) => return (applied, failures),
    };
    for (t, health) in wave.iter().zip(follow(client, wave, timeout)) {
        let policy = hook_of(&t.manifest.object).map(|h| h.delete);
        let (delete, failure) = match &health {
            Health::Ready => (policy.is_some_and(|p| p.succeeded), None),
            Health::Failed(m) => (policy.is_some_and(|p| p.failed), Some(m.clone())),
            Health::Progressing(m) => (
                false,
                Some(format!(
                    "hook did not finish within {}s: {m}",
                    timeout.as_secs()
                )),
            ),
        };
        if let Some(message) = failure {
            failures.push(object_failure(
                t.manifest,
                format!("hook failed: {message}"),
            ));
        }
        if delete {
            let key = t.manifest.key();
            if let Err(e) = client.delete(
                &t.resource,
                namespace_of(t),
                &key.name,
                Propagation::Background,
            ) {
                failures.push(object_failure(
                    t.manifest,
                    format!("hook: could not delete it after it ended: {e}"),
                ));
            }
        }
    }
    (applied, failures)
}

/// Each hook's health once all have finished (or failed), or as it was at the timeout.
fn follow(client: &dyn Cluster, wave: &[Target], timeout: Duration) -> Vec<Health> {
    let started = Instant::now();
    let mut outcomes: Vec<Health> = vec![Health::Progressing("not read yet".into()); wave.len()];
    loop {
        for (t, outcome) in wave.iter().zip(outcomes.iter_mut()) {
            if !matches!(outcome, Health::Progressing(_)) {
                continue;
            }
            let key = t.manifest.key();
            *outcome = match client.get(&t.resource, namespace_of(t), &key.name) {
                Ok(Some(live)) => hook_health(&live),
                // Not there (yet, or again): no outcome to read; the timeout ends it.
                Ok(None) => Health::Progressing("not found".into()),
                Err(e) => Health::Progressing(e.to_string()),
            };
        }
        let pending = outcomes.iter().any(|h| matches!(h, Health::Progressing(_)));
        if !pending || started.elapsed() >= timeout {
            return outcomes;
        }
        std::thread::sleep(Duration::from_secs(1).min(timeout.saturating_sub(started.elapsed())));
    }
}
