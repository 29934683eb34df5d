//! Following health: the cycle's waits, reading live objects until they are ready (or
//! gone, after a prune) or the sync's timeout passes. What "ready" means is the pure
//! [`super::health_of`] and its kin; when a wait stops is [`wait_over`].

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Health;
use crate::apply::Target;
use crate::kube::Cluster;
use crate::render::ObjectRef;

/// Whether a health wait is over: nothing is pending, something failed for good (waiting
/// longer would change nothing), or the time is up.
pub fn wait_over(pending: usize, failed: usize, elapsed: Duration, timeout: Duration) -> bool {
    pending == 0 || failed > 0 || elapsed >= timeout
}

/// Follows pruned objects until they are gone (a Namespace until its
/// controller has emptied and finalised it, an object until its finalizers
/// ran) or the timeout passes; returns a line per object still there.
pub fn wait_gone(client: &dyn Cluster, pruned: &[ObjectRef], timeout: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut pending: Vec<&ObjectRef> = pruned.iter().collect();
    loop {
        let mut still = Vec::new();
        let mut lines = Vec::new();
        for key in pending {
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            let live = client
                .resolve_group_kind(&key.group, &key.kind)
                .and_then(|resource| client.get(&resource, ns, &key.name));
            match live {
                // A kind no longer served went with its CRD.
                Ok(None) | Err(crate::kube::Error::UnknownKind { .. }) => {}
                Ok(Some(_)) => {
                    lines.push(format!("{key}: pruned, still being deleted"));
                    still.push(key);
                }
                Err(e) => {
                    lines.push(format!("{key}: pruned, {e}"));
                    still.push(key);
                }
            }
        }
        if still.is_empty() || started.elapsed() >= timeout {
            return lines;
        }
        pending = still;
        std::thread::sleep(Duration::from_secs(1).min(timeout.saturating_sub(started.elapsed())));
    }
}

/// An object's health, reading what it depends on first: a k3s HelmChart's
/// install Job and, when it has failed before, the Job's Pods.
fn judge(client: &dyn Cluster, live: &Value, rules: &[crate::config::ConditionRule]) -> Health {
    let Some((ns, name)) = super::helm_chart_job(live) else {
        return super::health_with(live, rules);
    };
    let job = match client
        .resolve("batch/v1", "Job")
        .and_then(|jobs| client.get(&jobs, Some(&ns), &name))
    {
        Ok(job) => job,
        Err(e) => return Health::Progressing(format!("cannot read install Job {ns}/{name}: {e}")),
    };
    // The Pods only add the last failure's reason and restarts: unreadable, they are left out.
    let pods = job
        .as_ref()
        .and_then(super::job_pod_selector)
        .and_then(|selector| {
            let pods = client.resolve("v1", "Pod").ok()?;
            client.list(&pods, Some(&ns), Some(&selector)).ok()
        })
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    super::helm_chart_health(live, job.as_ref(), &pods, now)
}

/// Follows health until every object is ready or the timeout passes;
/// returns a line per object still not ready.
pub fn wait_healthy(
    client: &dyn Cluster,
    targets: &[Target],
    rules: &[crate::config::ConditionRule],
    timeout: Duration,
) -> Vec<String> {
    let started = Instant::now();
    let mut pending: Vec<&Target> = targets.iter().collect();
    loop {
        let mut still = Vec::new();
        let mut lines = Vec::new();
        for t in pending {
            let key = t.manifest.key();
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            match client.get(&t.resource, ns, &key.name) {
                Ok(Some(live)) => match judge(client, &live, rules) {
                    Health::Ready => {}
                    Health::Progressing(m) => {
                        lines.push(format!("{key}: {m}"));
                        still.push(t);
                    }
                    Health::Failed(m) => lines.push(format!("{key}: {m}")),
                },
                Ok(None) => {
                    lines.push(format!("{key}: not found"));
                    still.push(t);
                }
                Err(e) => {
                    lines.push(format!("{key}: {e}"));
                    still.push(t);
                }
            }
        }
        let failed = lines.len() - still.len();
        if wait_over(still.len(), failed, started.elapsed(), timeout) {
            return lines;
        }
        pending = still;
        std::thread::sleep(Duration::from_secs(2).min(timeout.saturating_sub(started.elapsed())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_when_all_are_ready_one_failed_or_time_is_up() {
        let (s, t) = (Duration::from_secs, Duration::from_secs(120));
        // (pending, failed for good, elapsed, over)
        let cases = [
            (0, 0, s(0), true),
            (3, 0, s(10), false),
            (3, 1, s(10), true),
            (0, 1, s(10), true),
            (3, 0, s(120), true),
            (3, 0, s(121), true),
        ];
        for (pending, failed, elapsed, over) in cases {
            assert_eq!(
                wait_over(pending, failed, elapsed, t),
                over,
                "{pending} pending, {failed} failed, {elapsed:?}"
            );
        }
        // A zero timeout looks once: a drift cycle's recheck never sleeps.
        assert!(wait_over(2, 0, s(0), Duration::ZERO));
    }
}
