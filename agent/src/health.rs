//! Health: whether an applied object has become what it was asked to be.
//!
//! A pure function over the live object; the waiting loop lives in the reconcile.

use serde_json::Value;

/// An object's health after an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Ready, or a kind with no notion of readiness.
    Ready,
    /// Not there yet; the text says what is missing.
    Progressing(String),
    /// Failed for good (a Job that failed, a Deployment past its deadline).
    Failed(String),
}

impl Health {
    /// True for [`Health::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready)
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn condition_is(object: &Value, kind: &str, status: &str) -> bool {
    condition(object, kind).is_some_and(|c| c["status"] == status)
}

/// The generation the controller has not caught up with yet, if any.
fn stale_generation(object: &Value) -> Option<Health> {
    let generation = int(&object["metadata"]["generation"]);
    let observed = int(&object["status"]["observedGeneration"]);
    (observed < generation).then(|| {
        Health::Progressing(format!(
            "waiting for the controller to observe generation {generation} (observed {observed})"
        ))
    })
}

/// The health of a live object, by kind.
pub fn health_of(object: &Value) -> Health {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = crate::render::group_of(api_version);
    let kind = object["kind"].as_str().unwrap_or_default();
    let status = &object["status"];
    match (group, kind) {
        ("apps", "Deployment") => {
            if let Some(c) = condition(object, "Progressing") {
                if c["reason"] == "ProgressDeadlineExceeded" {
                    return Health::Failed(format!(
                        "progress deadline exceeded: {}",
                        c["message"].as_str().unwrap_or_default()
                    ));
                }
            }
            if let Some(h) = stale_generation(object) {
                return h;
            }
            let want = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = int(&status["updatedReplicas"]);
            let available = int(&status["availableReplicas"]);
            let total = int(&status["replicas"]);
            if updated < want {
                Health::Progressing(format!("{updated} of {want} replicas updated"))
            } else if total > updated {
                Health::Progressing(format!(
                    "{} old replicas pending termination",
                    total - updated
                ))
            } else if available < want {
                Health::Progressing(format!("{available} of {want} replicas available"))
            } else {
                Health::Ready
            }
        }
        ("apps", "StatefulSet") => {
            if let Some(h) = stale_generation(object) {
                return h;
            }
            let want = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int(&status["readyReplicas"]);
            let updated = int(&status["updatedReplicas"]);
            let rolling = object["spec"]["updateStrategy"]["type"] != "OnDelete";
            if ready < want {
                Health::Progressing(format!("{ready} of {want} replicas ready"))
            } else if rolling && updated < want {
                Health::Progressing(format!("{updated} of {want} replicas updated"))
            } else if rolling && status["currentRevision"] != status["updateRevision"] {
                Health::Progressing("rolling update in progress".into())
            } else {
                Health::Ready
            }
        }
        ("apps", "DaemonSet") => {
            if let Some(h) = stale_generation(object) {
                return h;
            }
            let want = int(&status["desiredNumberScheduled"]);
            let updated = int(&status["updatedNumberScheduled"]);
            let available = int(&status["numberAvailable"]);
            if updated < want {
                Health::Progressing(format!("{updated} of {want} pods updated"))
            } else if available < want {
                Health::Progressing(format!("{available} of {want} pods available"))
            } else {
                Health::Ready
            }
        }
        ("batch", "Job") => {
            if condition_is(object, "Failed", "True") {
                let c = condition(object, "Failed").expect("checked");
                Health::Failed(format!(
                    "job failed: {}",
                    c["message"]
                        .as_str()
                        .or(c["reason"].as_str())
                        .unwrap_or_default()
                ))
            } else if condition_is(object, "Complete", "True") {
                Health::Ready
            } else {
                Health::Progressing("job has not completed".into())
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if condition_is(object, "Established", "True") {
                Health::Ready
            } else {
                Health::Progressing("CRD not established yet".into())
            }
        }
        ("", "Namespace") => match status["phase"].as_str() {
            Some("Active") | None => Health::Ready,
            Some(phase) => Health::Progressing(format!("namespace is {phase}")),
        },
        ("", "PersistentVolumeClaim") => match status["phase"].as_str() {
            Some("Bound") => Health::Ready,
            Some("Lost") => Health::Failed("claim lost its volume".into()),
            phase => Health::Progressing(format!("claim is {}", phase.unwrap_or("Pending"))),
        },
        _ => generic(object),
    }
}

/// Any object with a Ready or Available condition follows it.
fn generic(object: &Value) -> Health {
    for kind in ["Ready", "Available"] {
        if let Some(c) = condition(object, kind) {
            if c["status"] == "True" {
                return Health::Ready;
            }
            let message = c["message"]
                .as_str()
                .or(c["reason"].as_str())
                .unwrap_or("not ready");
            return Health::Progressing(format!(
                "{kind} is {}: {message}",
                c["status"].as_str().unwrap_or("Unknown")
            ));
        }
    }
    Health::Ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn deployments_follow_generation_and_replicas() {
        assert!(
            matches!(health_of(&deployment(json!({}))), Health::Progressing(m) if m.contains("generation 2"))
        );
        let rolling = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2});
        assert!(
            matches!(health_of(&deployment(rolling)), Health::Progressing(m) if m.contains("old replicas"))
        );
        let ready = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert_eq!(health_of(&deployment(ready)), Health::Ready);
        let stuck = json!({"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]});
        assert!(
            matches!(health_of(&deployment(stuck)), Health::Failed(m) if m.contains("timed out"))
        );
    }

    #[test]
    fn jobs_crds_namespaces_claims_and_conditions() {
        let job = |c: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [c]}});
        assert_eq!(
            health_of(&job(json!({"type": "Complete", "status": "True"}))),
            Health::Ready
        );
        assert!(matches!(
            health_of(&job(
                json!({"type": "Failed", "status": "True", "message": "backoff"})
            )),
            Health::Failed(_)
        ));
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(health_of(&crd), Health::Ready);
        let ns =
            json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Terminating"}});
        assert!(!health_of(&ns).is_ready());
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}});
        assert!(!health_of(&pvc).is_ready());
        let custom = json!({"apiVersion": "x.io/v1", "kind": "Thing", "status": {"conditions": [{"type": "Ready", "status": "False", "message": "warming"}]}});
        assert!(matches!(health_of(&custom), Health::Progressing(m) if m.contains("warming")));
        let plain = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(health_of(&plain), Health::Ready);
    }
}
