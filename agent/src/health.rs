//! Health: whether an applied object has become what it was asked to be.
//!
//! Pure functions over the live object (and, for a k3s HelmChart, the live
//! install Job and its Pods, which the waiting loop reads); the waiting loop is
//! [`wait`].

use serde_json::Value;

use crate::config::ConditionRule;

pub mod wait;

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

/// The health of a live object by the first rule for its apiVersion and kind, else by kind.
pub fn health_with(object: &Value, rules: &[ConditionRule]) -> Health {
    let rule = rules.iter().find(|r| {
        object["apiVersion"] == r.api_version.as_str() && object["kind"] == r.kind.as_str()
    });
    let Some(rule) = rule else {
        return health_of(object);
    };
    if let Some(failed) = &rule.failed {
        if condition_is(object, &failed.condition, &failed.status) {
            let message = condition(object, &failed.condition)
                .and_then(|c| c["message"].as_str())
                .unwrap_or_default();
            return Health::Failed(format!(
                "{} is {}: {message}",
                failed.condition, failed.status
            ));
        }
    }
    if condition_is(object, &rule.current.condition, &rule.current.status) {
        // A resource whose controller reports no observedGeneration is judged by its
        // condition alone.
        let reports_generation = !object["status"]["observedGeneration"].is_null();
        return match stale_generation(object) {
            Some(stale) if reports_generation => stale,
            _ => Health::Ready,
        };
    }
    Health::Progressing(format!(
        "waiting for condition {} to be {}",
        rule.current.condition, rule.current.status
    ))
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
        // Without its Job (see `helm_chart_health`), a HelmChart's own status
        // never says it is installed.
        (HELM_GROUP, "HelmChart") => helm_chart_health(object, None, &[], 0),
        // Configuration the helm-controller merges into a HelmChart's next
        // Job: nothing of its own to become.
        (HELM_GROUP, "HelmChartConfig") => Health::Ready,
        _ => generic(object),
    }
}

/// The API group of k3s's helm-controller (HelmChart, HelmChartConfig).
const HELM_GROUP: &str = "helm.cattle.io";

/// How long after a change of a HelmChart a Job older than the change is
/// taken for the previous one, which the helm-controller is about to
/// replace, rather than for the verdict on the change. The controller reacts
/// within a second or so; a change that needs no new Job (a label) is judged
/// by the Job in place once this has passed.
pub const HELM_CHART_GRACE_SECONDS: i64 = 15;

/// The install Job a k3s HelmChart's health depends on, as (namespace,
/// name): `status.jobName` (the helm-controller names it
/// `helm-install-<name>`, in the HelmChart's own namespace). `None` for
/// every other kind, and for a HelmChart whose controller has not created
/// its Job yet.
pub fn helm_chart_job(object: &Value) -> Option<(String, String)> {
    let group = crate::render::group_of(object["apiVersion"].as_str().unwrap_or_default());
    if group != HELM_GROUP || object["kind"] != "HelmChart" {
        return None;
    }
    let name = object["status"]["jobName"]
        .as_str()
        .filter(|n| !n.is_empty())?;
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    Some((namespace.to_owned(), name.to_owned()))
}

/// The label selector of a Job's Pods when they are worth reading for its
/// health: the Job has not completed and has failed before (then the Pods
/// hold the last failure's reason), or restarts its containers in place
/// (`restartPolicy: OnFailure`, as the helm-controller's Jobs do: their
/// failures are then container restarts, counted only on the Pods).
pub fn job_pod_selector(job: &Value) -> Option<String> {
    if condition_is(job, "Complete", "True") || job["spec"]["suspend"] == true {
        return None;
    }
    let status = &job["status"];
    let on_failure = job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure";
    if int(&status["failed"]) == 0 && !(on_failure && int(&status["active"]) > 0) {
        return None;
    }
    let labels = job["spec"]["selector"]["matchLabels"].as_object()?;
    let selector: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
        .collect();
    (!selector.is_empty()).then(|| selector.join(","))
}

/// Seconds since the epoch of an RFC 3339 time.
fn seconds(time: &Value) -> Option<i64> {
    let t: k8s_openapi::jiff::Timestamp = time.as_str()?.parse().ok()?;
    Some(t.as_second())
}

/// The last time anyone but a status writer changed the object (its
/// managedFields; status updates come with `subresource: status`).
fn last_change(object: &Value) -> Option<i64> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .filter(|m| m["subresource"] != "status")
        .filter_map(|m| seconds(&m["time"]))
        .max()
}

/// Why a Job's last Pod failed, from its containers' states: the newest Pod
/// first, a terminated container (now or before its last restart) or one
/// waiting to be restarted.
fn last_pod_failure(pods: &[Value]) -> Option<String> {
    let mut pods: Vec<&Value> = pods.iter().collect();
    pods.sort_by_key(|p| {
        p["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap_or_default()
    });
    pods.iter().rev().find_map(|pod| {
        let statuses = pod["status"]["initContainerStatuses"]
            .as_array()
            .into_iter()
            .chain(pod["status"]["containerStatuses"].as_array())
            .flatten();
        for c in statuses {
            let name = c["name"].as_str().unwrap_or("?");
            for state in [&c["state"]["terminated"], &c["lastState"]["terminated"]] {
                let code = int(&state["exitCode"]);
                if code != 0 {
                    let mut why = format!("container {name} exited {code}");
                    for key in ["reason", "message"] {
                        if let Some(text) = state[key].as_str().filter(|t| !t.is_empty()) {
                            why.push_str(": ");
                            why.push_str(text.trim());
                        }
                    }
                    return Some(why);
                }
            }
            if let Some(reason) = c["state"]["waiting"]["reason"].as_str() {
                if reason != "ContainerCreating" && reason != "PodInitializing" {
                    return Some(format!("container {name} is waiting: {reason}"));
                }
            }
        }
        let reason = pod["status"]["reason"]
            .as_str()
            .or(pod["status"]["message"].as_str())?;
        Some(format!("pod {reason}"))
    })
}

/// How many times a Job's Pods have failed, as its controller counts them
/// against `backoffLimit`: failed Pods, and container restarts of the Pods
/// still there.
fn job_failures(job: &Value, pods: &[Value]) -> i64 {
    let restarts: i64 = pods
        .iter()
        .flat_map(|p| {
            p["status"]["initContainerStatuses"]
                .as_array()
                .into_iter()
                .chain(p["status"]["containerStatuses"].as_array())
                .flatten()
        })
        .map(|c| int(&c["restartCount"]))
        .sum();
    int(&job["status"]["failed"]) + restarts
}

/// The health of a k3s HelmChart: the outcome of the install Job its
/// helm-controller runs for it (k3s-io/helm-controller,
/// pkg/controllers/chart/chart.go). `job` is the live Job named by
/// `status.jobName` (`None` when not found), `pods` its Pods when
/// [`job_pod_selector`] asked for them, `now` seconds since the epoch.
///
/// Ready once the Job has completed; Failed once the Job has failed (past
/// its `backoffLimit`, 1000 by default, so a failing install retries for a
/// long time and is Progressing meanwhile, with its count of failures and
/// the last Pod's reason) or the HelmChart's own `Failed` condition says so
/// for good. A Job older than a change made in the last
/// [`HELM_CHART_GRACE_SECONDS`] is the previous change's: the controller is
/// about to replace it.
pub fn helm_chart_health(chart: &Value, job: Option<&Value>, pods: &[Value], now: i64) -> Health {
    if let (Some(job), Some(changed)) = (job, last_change(chart)) {
        let created = seconds(&job["metadata"]["creationTimestamp"]);
        if created.is_some_and(|c| c < changed) && now - changed < HELM_CHART_GRACE_SECONDS {
            return Health::Progressing(
                "waiting for the helm-controller to run a Job for the change".into(),
            );
        }
    }
    if let Some(c) = condition(chart, "Failed").filter(|c| c["status"] == "True") {
        let reason = c["reason"].as_str().unwrap_or("Failed");
        let message = c["message"].as_str().unwrap_or_default();
        // The controller retries a Job it could not generate (a values
        // Secret missing, say): not over yet.
        if reason == "Job create failed" {
            return Health::Progressing(format!(
                "the helm-controller cannot create the install Job: {message}"
            ));
        }
        return Health::Failed(format!("helm-controller: {reason}: {message}"));
    }
    let Some(name) = chart["status"]["jobName"]
        .as_str()
        .filter(|n| !n.is_empty())
    else {
        return Health::Progressing(
            "waiting for the helm-controller to create the install Job".into(),
        );
    };
    let Some(job) = job else {
        return Health::Progressing(format!("install Job {name} not found yet"));
    };
    if let Some(c) = condition(job, "Failed").filter(|c| c["status"] == "True") {
        let why = c["message"]
            .as_str()
            .or(c["reason"].as_str())
            .unwrap_or_default();
        let last = last_pod_failure(pods)
            .map(|p| format!(" (last: {p})"))
            .unwrap_or_default();
        return Health::Failed(format!("install Job {name} failed: {why}{last}"));
    }
    if condition_is(job, "Complete", "True") {
        return Health::Ready;
    }
    if job["spec"]["suspend"] == true {
        return Health::Progressing(format!(
            "install Job {name} is suspended: waiting for the helm-controller to start it"
        ));
    }
    let failures = job_failures(job, pods);
    if failures > 0 {
        let limit = job["spec"]["backoffLimit"]
            .as_i64()
            .map(|l| format!(" (backoffLimit {l})"))
            .unwrap_or_default();
        let times = if failures == 1 { "time" } else { "times" };
        let last = last_pod_failure(pods)
            .map(|p| format!(": {p}"))
            .unwrap_or_default();
        return Health::Progressing(format!(
            "install Job {name} has failed {failures} {times}{limit}{last}"
        ));
    }
    if int(&job["status"]["active"]) > 0 {
        Health::Progressing(format!("install Job {name} is running"))
    } else {
        Health::Progressing(format!("install Job {name} has not started yet"))
    }
}

/// A hook's outcome, as Helm waits for it: a Job until it completes, a Pod until it has
/// run to the end (phase Succeeded; Failed is for good), anything else as [`health_of`].
pub fn hook_health(object: &Value) -> Health {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = crate::render::group_of(api_version);
    let kind = object["kind"].as_str().unwrap_or_default();
    if (group, kind) != ("", "Pod") {
        return health_of(object);
    }
    match object["status"]["phase"].as_str().unwrap_or("Pending") {
        "Succeeded" => Health::Ready,
        "Failed" => Health::Failed(format!(
            "pod failed: {}",
            object["status"]["message"]
                .as_str()
                .or(object["status"]["reason"].as_str())
                .unwrap_or("a container exited with an error")
        )),
        phase => Health::Progressing(format!("pod is {phase}")),
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
    fn hook_pods_run_to_the_end_and_other_hooks_are_judged_as_any_object() {
        let pod = |status: Value| json!({"apiVersion": "v1", "kind": "Pod", "status": status});
        assert_eq!(
            hook_health(&pod(json!({"phase": "Succeeded"}))),
            Health::Ready
        );
        assert!(
            matches!(hook_health(&pod(json!({"phase": "Running"}))), Health::Progressing(m) if m == "pod is Running")
        );
        assert!(matches!(
            hook_health(&pod(json!({}))),
            Health::Progressing(_)
        ));
        assert!(
            matches!(hook_health(&pod(json!({"phase": "Failed", "reason": "Error"}))), Health::Failed(m) if m == "pod failed: Error")
        );
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {}});
        assert!(matches!(hook_health(&job), Health::Progressing(_)));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(hook_health(&cm), Health::Ready);
    }

    #[test]
    fn a_sync_rule_judges_its_kind_by_its_conditions() {
        use crate::config::ConditionIs;
        let rules = [ConditionRule {
            api_version: "cluster.x-k8s.io/v1beta1".into(),
            kind: "Cluster".into(),
            current: ConditionIs {
                condition: "ControlPlaneReady".into(),
                status: "True".into(),
            },
            failed: Some(ConditionIs {
                condition: "Failed".into(),
                status: "True".into(),
            }),
        }];
        let cluster = |conditions: Value| {
            json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
                   "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": conditions}})
        };
        // Ready True alone is not this rule's healthy.
        let ready_only = cluster(json!([{"type": "Ready", "status": "True"}]));
        assert!(health_of(&ready_only).is_ready());
        assert_eq!(
            health_with(&ready_only, &rules),
            Health::Progressing("waiting for condition ControlPlaneReady to be True".into())
        );
        let healthy = cluster(json!([{"type": "ControlPlaneReady", "status": "True"}]));
        assert!(health_with(&healthy, &rules).is_ready());
        let failed = cluster(
            json!([{"type": "ControlPlaneReady", "status": "True"}, {"type": "Failed", "status": "True", "message": "no quorum"}]),
        );
        assert_eq!(
            health_with(&failed, &rules),
            Health::Failed("Failed is True: no quorum".into())
        );
        let mut stale = healthy.clone();
        stale["metadata"]["generation"] = json!(2);
        assert!(!health_with(&stale, &rules).is_ready());
        let mut unreported = stale.clone();
        unreported["status"]
            .as_object_mut()
            .unwrap()
            .remove("observedGeneration");
        assert!(health_with(&unreported, &rules).is_ready());
        // Other kinds keep plumb's rules.
        let other = json!({"apiVersion": "x.io/v1", "kind": "Cluster", "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(!health_with(&other, &rules).is_ready());
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

    /// A HelmChart as plumb applied it at `applied`, with this status.
    fn chart(status: Value) -> Value {
        json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
               "metadata": {"name": "traefik", "namespace": "kube-system",
                            "managedFields": [
                                {"manager": "plumb", "operation": "Apply", "time": "2026-05-01T10:00:00Z"},
                                {"manager": "helm-controller", "operation": "Update", "subresource": "status", "time": "2026-05-01T10:05:00Z"}]},
               "spec": {"chart": "traefik"}, "status": status})
    }

    fn created() -> Value {
        json!({"jobName": "helm-install-traefik", "conditions": [
            {"type": "JobCreated", "status": "True", "reason": "Job created",
             "message": "Applying HelmChart using Job kube-system/helm-install-traefik"},
            {"type": "Failed", "status": "False"}]})
    }

    /// The helm-controller's Job (created after the chart's change), with this status.
    fn install_job(status: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "helm-install-traefik", "namespace": "kube-system",
                            "creationTimestamp": "2026-05-01T10:00:01Z"},
               "spec": {"backoffLimit": 1000,
                        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                        "template": {"spec": {"restartPolicy": "OnFailure"}}},
               "status": status})
    }

    /// Long after the chart's last change.
    const LATER: i64 = 1_900_000_000;

    fn progressing(h: Health) -> String {
        match h {
            Health::Progressing(m) => m,
            other => panic!("not progressing: {other:?}"),
        }
    }

    #[test]
    fn a_helm_chart_without_status_waits_for_the_controller() {
        let c = chart(json!({}));
        assert_eq!(helm_chart_job(&c), None);
        assert!(progressing(helm_chart_health(&c, None, &[], LATER))
            .contains("waiting for the helm-controller to create the install Job"));
        // Without its Job, health_of never calls it ready either.
        assert!(!health_of(&c).is_ready());
        assert!(!health_of(&chart(created())).is_ready());
    }

    #[test]
    fn a_helm_chart_names_its_install_job_in_its_namespace() {
        assert_eq!(
            helm_chart_job(&chart(created())),
            Some(("kube-system".into(), "helm-install-traefik".into()))
        );
        let other =
            json!({"apiVersion": "x.io/v1", "kind": "HelmChart", "status": {"jobName": "j"}});
        assert_eq!(helm_chart_job(&other), None);
        let m = progressing(helm_chart_health(&chart(created()), None, &[], LATER));
        assert!(m.contains("helm-install-traefik not found"), "{m}");
    }

    #[test]
    fn a_helm_chart_follows_its_running_suspended_and_completed_job() {
        let c = chart(created());
        let running = install_job(json!({"active": 1}));
        let m = progressing(helm_chart_health(&c, Some(&running), &[], LATER));
        assert!(m.contains("helm-install-traefik is running"), "{m}");
        let mut suspended =
            install_job(json!({"conditions": [{"type": "Suspended", "status": "True"}]}));
        suspended["spec"]["suspend"] = json!(true);
        assert!(
            progressing(helm_chart_health(&c, Some(&suspended), &[], LATER)).contains("suspended")
        );
        assert_eq!(job_pod_selector(&suspended), None);
        let done = install_job(
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            helm_chart_health(&c, Some(&done), &[], LATER),
            Health::Ready
        );
        assert_eq!(job_pod_selector(&done), None);
    }

    #[test]
    fn a_failing_install_is_progressing_with_its_failures_until_the_job_fails() {
        let c = chart(created());
        // The controller's restartPolicy: OnFailure: failures are restarts.
        let job = install_job(json!({"active": 1}));
        assert_eq!(
            job_pod_selector(&job).as_deref(),
            Some("batch.kubernetes.io/controller-uid=u1")
        );
        let pod = json!({"metadata": {"creationTimestamp": "2026-05-01T10:00:02Z"},
            "status": {"phase": "Running", "containerStatuses": [{"name": "helm", "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "Error: INSTALLATION FAILED: timed out\n"}}}]}});
        let m = progressing(helm_chart_health(&c, Some(&job), &[pod], LATER));
        assert_eq!(
            m,
            "install Job helm-install-traefik has failed 3 times (backoffLimit 1000): \
             container helm exited 1: Error: Error: INSTALLATION FAILED: timed out"
        );
        // restartPolicy: Never: failed Pods, the newest one's reason.
        let mut job = install_job(json!({"failed": 1}));
        job["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        job["spec"]["backoffLimit"] = json!(2);
        let failed = |at: &str, message: &str| {
            json!({"metadata": {"creationTimestamp": at},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "helm", "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}}}]}})
        };
        let pods = [
            failed("2026-05-01T10:00:09Z", "second"),
            failed("2026-05-01T10:00:02Z", "first"),
        ];
        assert!(job_pod_selector(&job).is_some());
        let m = progressing(helm_chart_health(&c, Some(&job), &pods[1..], LATER));
        assert!(
            m.contains("has failed 1 time (backoffLimit 2): container helm exited 1: Error: first"),
            "{m}"
        );
        job["status"]["failed"] = json!(2);
        let m = progressing(helm_chart_health(&c, Some(&job), &pods, LATER));
        assert!(
            m.ends_with(
                "has failed 2 times (backoffLimit 2): container helm exited 1: Error: second"
            ),
            "{m}"
        );
        // Never failed, not restarting in place: no Pods to read.
        let mut quiet = install_job(json!({"active": 1}));
        quiet["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(job_pod_selector(&quiet), None);

        // Past its backoffLimit: Failed.
        job["status"]["failed"] = json!(3);
        job["status"]["conditions"] = json!([{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]);
        match helm_chart_health(&c, Some(&job), &pods, LATER) {
            Health::Failed(m) => assert_eq!(
                m,
                "install Job helm-install-traefik failed: Job has reached the specified backoff limit \
                 (last: container helm exited 1: Error: second)"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_helm_chart_failed_condition_is_failed_unless_the_controller_retries() {
        let failed = chart(json!({"jobName": "helm-install-traefik", "conditions": [
            {"type": "JobCreated", "status": "True"},
            {"type": "Failed", "status": "True", "reason": "Job failed",
             "message": "Job has reached configured number of retries without succeeding"}]}));
        let job = install_job(json!({"conditions": [{"type": "Failed", "status": "True"}]}));
        assert_eq!(
            helm_chart_health(&failed, Some(&job), &[], LATER),
            Health::Failed(
                "helm-controller: Job failed: Job has reached configured number of retries without succeeding".into()
            )
        );
        let unsupported = chart(json!({"conditions": [
            {"type": "JobCreated", "status": "False"},
            {"type": "Failed", "status": "True", "reason": "Unsupported version", "message": "Only Helm v3 charts are supported"}]}));
        assert!(
            matches!(helm_chart_health(&unsupported, None, &[], LATER), Health::Failed(m) if m.contains("Only Helm v3"))
        );
        let retried = chart(json!({"conditions": [
            {"type": "JobCreated", "status": "False"},
            {"type": "Failed", "status": "True", "reason": "Job create failed", "message": "Failed to generate Job: secret not found"}]}));
        let m = progressing(helm_chart_health(&retried, None, &[], LATER));
        assert!(
            m.contains("cannot create the install Job: Failed to generate Job: secret not found"),
            "{m}"
        );
    }

    #[test]
    fn a_job_older_than_a_fresh_change_is_the_previous_one() {
        let c = chart(created());
        let mut old = install_job(
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        old["metadata"]["creationTimestamp"] = json!("2026-05-01T09:00:00Z");
        let applied = seconds(&json!("2026-05-01T10:00:00Z")).unwrap_or_default();
        let m = progressing(helm_chart_health(&c, Some(&old), &[], applied + 2));
        assert!(
            m.contains("waiting for the helm-controller to run a Job for the change"),
            "{m}"
        );
        // A stale Failed condition too, right after a fix.
        let mut failed = chart(created());
        failed["status"]["conditions"][1] =
            json!({"type": "Failed", "status": "True", "reason": "Job failed"});
        assert!(!matches!(
            helm_chart_health(&failed, Some(&old), &[], applied + 2),
            Health::Failed(_)
        ));
        // A change that needed no new Job: judged by the Job in place once the grace is over.
        assert_eq!(
            helm_chart_health(&c, Some(&old), &[], applied + HELM_CHART_GRACE_SECONDS),
            Health::Ready
        );
    }

    #[test]
    fn a_helm_chart_config_is_ready_when_applied() {
        let config = json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChartConfig",
                            "metadata": {"name": "traefik", "namespace": "kube-system"},
                            "spec": {"valuesContent": "replicas: 2"}});
        assert_eq!(health_of(&config), Health::Ready);
        assert_eq!(helm_chart_job(&config), None);
    }
}
