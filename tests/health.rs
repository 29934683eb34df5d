//! Health, for real: the test cluster runs kube-controller-manager,
//! kube-scheduler and three nodes simulated by kwok, so Deployments,
//! StatefulSets, DaemonSets and Jobs roll out through their own controllers
//! and plumb follows what they report. No test here writes the status of a
//! built-in workload; kwok's stages (tests/cluster/kwok-stages.yaml) turn the
//! labels `plumb.test/never-ready` and `plumb.test/fail` into Pods that never
//! become Ready and Job Pods that fail.

mod common;

use common::fixture::*;
use common::{plumb, text};

/// A fixture whose sync waits for health, with this timeout.
fn waiting(prefix: &str, timeout: &str) -> Fixture {
    let f = Fixture::new(prefix, &format!("    timeout: {timeout}\n"));
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("wait: false", "wait: true");
    std::fs::write(&f.config, config).unwrap();
    f
}

fn message(f: &Fixture, condition: &str) -> String {
    f.condition(condition)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The nodes the sync's Pods run on, sorted, duplicates kept.
fn pod_nodes(f: &Fixture) -> Vec<String> {
    let out = f.kubectl(&[
        "-n",
        &f.ns,
        "get",
        "pods",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}",
    ]);
    let mut nodes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    nodes.sort();
    nodes
}

const NEVER_READY: &str = "      labels: {app: web}\n";

/// The test Deployment, its Pods labelled to run but never become Ready.
fn never_ready() -> String {
    DEPLOYMENT.replace(
        NEVER_READY,
        "      labels: {app: web, plumb.test/never-ready: \"true\"}\n",
    )
}

#[test]
fn a_deployment_that_rolls_out_becomes_ready_and_one_that_cannot_is_reported() {
    let f = waiting("rollout", "120s");
    f.write("web.yaml", DEPLOYMENT);
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("Ready"), "{out}");
    assert_eq!(f.condition("Ready")["status"], "True", "{out}");
    let live = f.get("deployment", "web").unwrap();
    assert_eq!(live["status"]["availableReplicas"], 2, "{live}");
    assert_eq!(pod_nodes(&f).len(), 2);

    // A new template whose Pods never become Ready, with a short progress
    // deadline: the controller's own verdict ends the wait, long before
    // the sync's 120 s.
    f.write(
        "web.yaml",
        &never_ready().replace(
            "  replicas: 2\n",
            "  replicas: 2\n  progressDeadlineSeconds: 5\n",
        ),
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(f.condition("Ready")["reason"], "HealthCheckFailed");
    let ready = message(&f, "Ready");
    assert!(
        ready.contains("Deployment.apps") && ready.contains("progress deadline exceeded"),
        "{ready}"
    );
    assert!(
        ready.contains("ProgressDeadlineExceeded") || ready.contains("has timed out progressing"),
        "{ready}"
    );
}

#[test]
fn pods_that_never_become_ready_stall_the_sync_at_its_timeout() {
    let f = waiting("neverready", "8s");
    f.write("web.yaml", &never_ready());
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(f.condition("Stalled")["status"], "True");
    let ready = message(&f, "Ready");
    assert!(ready.contains("0 of 2 replicas available"), "{ready}");
    // Scheduled and running, just never Ready.
    assert_eq!(pod_nodes(&f).len(), 2);
}

#[test]
fn a_restarted_daemon_does_not_call_an_unhealthy_revision_ready() {
    let f = waiting("recheck", "5s");
    // Pods that wait for a node with this label: none has it yet.
    let pool = common::unique("pool");
    f.write(
        "web.yaml",
        &DEPLOYMENT.replace(
            "    spec:\n      containers:\n",
            &format!(
                "    spec:\n      nodeSelector: {{plumb.test/pool: {pool}}}\n      containers:\n"
            ),
        ),
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(f.condition("Ready")["reason"], "HealthCheckFailed");
    // The same revision again, as a fresh daemon's first cycle sees it: no
    // apply, so a drift cycle, which must look at health again.
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("0 applied"), "{}", text(&out));
    assert_eq!(f.condition("Ready")["reason"], "HealthCheckFailed");

    // A node joins the pool: the Pods run, and a drift cycle calls it Ready.
    f.kubectl(&["label", "node", "pi-2", &format!("plumb.test/pool={pool}")]);
    common::eventually("the Pods to be available", || {
        f.get("deployment", "web").unwrap()["status"]["availableReplicas"] == 2
    });
    let out = f.reconcile();
    f.kubectl(&["label", "node", "pi-2", "plumb.test/pool-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(f.condition("Ready")["status"], "True");
    assert_eq!(f.condition("Stalled")["status"], "False");
}

#[test]
fn a_statefulset_with_a_volume_claim_and_a_daemonset_on_every_node_become_ready() {
    let f = waiting("stateful", "120s");
    f.write(
        "db.yaml",
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
        - name: db
          image: postgres:17-alpine
          volumeMounts:
            - {name: data, mountPath: /var/lib/postgresql/data}
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
        - name: agent
          image: busybox:1.37
",
    );
    f.commit();
    let out = f.reconcile_ok();
    assert_eq!(f.condition("Ready")["status"], "True", "{out}");
    let sts = f.get("statefulset", "db").unwrap();
    assert_eq!(sts["status"]["readyReplicas"], 2, "{sts}");
    let claims = f.kubectl(&[
        "-n",
        &f.ns,
        "get",
        "pvc",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert_eq!(text(&claims).trim(), "Bound Bound");
    let ds = f.get("daemonset", "agent").unwrap();
    assert_eq!(ds["status"]["desiredNumberScheduled"], 3, "{ds}");
    assert_eq!(ds["status"]["numberAvailable"], 3, "{ds}");
    let nodes = pod_nodes(&f);
    for node in ["pi-1", "pi-2", "pi-3"] {
        assert!(
            nodes.iter().any(|n| n == node),
            "no Pod on {node}: {nodes:?}"
        );
    }
}

const JOB: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: NAME
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {job: NAME}
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox:1.37
          command: [sh, -c, 'true']
";

#[test]
fn a_job_that_succeeds_is_ready_and_one_that_fails_is_reported_failed() {
    let f = waiting("jobs", "120s");
    f.write("migrate.yaml", &JOB.replace("NAME", "migrate"));
    f.commit();
    let out = f.reconcile_ok();
    assert_eq!(f.condition("Ready")["status"], "True", "{out}");
    let job = f.get("job", "migrate").unwrap();
    assert_eq!(job["status"]["succeeded"], 1, "{job}");

    f.write(
        "broken.yaml",
        &JOB.replace("NAME", "broken").replace(
            "      labels: {job: broken}\n",
            "      labels: {job: broken, plumb.test/fail: \"true\"}\n",
        ),
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ready = message(&f, "Ready");
    assert!(
        ready.contains("Job.batch") && ready.contains("broken") && ready.contains("job failed"),
        "{ready}"
    );
    assert!(!ready.contains("migrate"), "{ready}");
}

#[test]
fn a_custom_resource_follows_its_ready_condition() {
    let f = waiting("custom", "60s");
    let group = format!("{}.plumb.test", f.ns);
    f.write(
        "crd.yaml",
        &format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {{status: {{}}}}
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
---
apiVersion: {group}/v1
kind: Widget
metadata:
  name: w
spec: {{size: 1}}
"
        ),
    );
    f.commit();
    // No controller serves Widgets: the test plays it, which custom
    // resources (unlike built-in workloads) may have done here.
    let child = f.spawn_reconcile();
    // kubectl's discovery may not know the new kind yet: a failed get is "not yet".
    common::eventually("the widget", || {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(f.cluster.kubeconfig("admin"))
            .args([
                "-n",
                &f.ns,
                "get",
                &format!("widgets.{group}"),
                "w",
                "-o",
                "name",
            ])
            .output()
            .unwrap();
        out.status.success() && !out.stdout.is_empty()
    });
    f.kubectl(&[
        "-n",
        &f.ns,
        "patch",
        &format!("widgets.{group}"),
        "w",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Done","message":"ok"}]}}"#,
    ]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(f.condition("Ready")["status"], "True");
}

#[test]
fn current_apis_apply_and_become_healthy() {
    let f = waiting("current", "120s");
    f.write("web.yaml", DEPLOYMENT);
    f.write(
        "current.yaml",
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: '0 3 * * *'
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - {name: main, image: busybox:1.37}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: 80}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: web}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
    - host: web.pi.lan
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service: {name: web, port: {number: 80}}
",
    );
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("5 applied"), "{out}");
    assert_eq!(f.condition("Ready")["status"], "True", "{out}");
    for (kind, name) in [
        ("cronjobs.batch", "nightly"),
        ("horizontalpodautoscalers.autoscaling", "web"),
        ("poddisruptionbudgets.policy", "web"),
        ("ingresses.networking.k8s.io", "web"),
    ] {
        assert!(f.get(kind, name).is_some(), "{kind} {name} missing");
    }
    let pdb = f.get("poddisruptionbudgets.policy", "web").unwrap();
    assert_eq!(pdb["status"]["currentHealthy"], 2, "{pdb}");
}

#[test]
fn a_misspelt_field_fails_validation_naming_it_and_applies_nothing() {
    let f = Fixture::new("strict", "");
    f.write("cfg.yaml", &config_map("cfg", "one"));
    f.write(
        "web.yaml",
        &DEPLOYMENT.replace("  replicas: 2\n", "  replica: 2\n"),
    );
    f.commit();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("web.yaml"), "{all}");
    assert!(all.contains("Deployment"), "{all}");
    assert!(all.contains(".spec.replica"), "{all}");
    assert!(
        f.get("configmap", "cfg").is_none(),
        "something was applied: {all}"
    );
    assert!(f.get("deployment", "web").is_none());
    assert_eq!(f.condition("Ready")["reason"], "ValidationFailed");
}

#[test]
fn pruning_a_namespace_with_pods_waits_for_its_finalisation() {
    let f = waiting("nsfinal", "120s");
    let ns = common::unique("apps");
    f.write("anchor.yaml", &config_map("anchor", "1"));
    f.write(
        "apps.yaml",
        &format!(
            // Ten Deployments: their Pods outlive a Deployment deleted in the
            // background, so the namespace must see them as its dependents.
            // The Service's Endpoints (no ownerReference) and EndpointSlice
            // come from controllers.
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n{}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports:\n    - port: 80\n",
            (1..=10)
                .map(|i| DEPLOYMENT
                    .replace("  name: web\n", &format!("  name: web-{i}\n  namespace: {ns}\n")))
                .collect::<Vec<_>>()
                .join("---\n"),
        ),
    );
    f.commit();
    f.reconcile_ok();
    let pods = f.kubectl(&["-n", &ns, "get", "pods", "-o", "name"]);
    assert_eq!(text(&pods).lines().count(), 20, "{}", text(&pods));

    f.remove("apps.yaml");
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("pruned"), "{out}");
    assert!(!out.contains("kept Namespace"), "{out}");
    // The namespace controller emptied it and the namespace is gone when
    // the cycle ends: the wait covered its finalisation.
    let gone = f.kubectl(&["get", "namespace", &ns, "--ignore-not-found", "-o", "name"]);
    assert_eq!(text(&gone).trim(), "", "{out}");
}

/// Hardening defect 3: a one-shot run took the Lease once and never renewed
/// it, so after one lease duration every write (here: the status at the end
/// of a long health wait) was refused as NotLeader.
#[test]
fn a_one_shot_run_longer_than_its_lease_renews_it_and_keeps_writing() {
    let f = waiting("longrun", "10s");
    // The only test of this binary that takes the Lease: a stale one from an
    // earlier run (another node's name) would be waited out first.
    f.kubectl(&[
        "-n",
        "plumb-system",
        "delete",
        "lease",
        "plumb",
        "--ignore-not-found",
    ]);
    let config = std::fs::read_to_string(&f.config).unwrap().replace(
        "leaderElection: {enabled: false}",
        "leaderElection: {leaseDuration: 4s, renewEvery: 1s}",
    );
    std::fs::write(&f.config, config).unwrap();
    f.write("web.yaml", &never_ready());
    f.commit();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("leader lease"), "{all}");
    // Written after the 10 s wait, well past the 4 s lease.
    assert_eq!(f.condition("Ready")["reason"], "HealthCheckFailed", "{all}");
}

/// Hardening defect 4: the daemon held a source's lock for a whole cycle,
/// health wait included, so syncs sharing a source ran one after another.
#[test]
fn syncs_sharing_a_source_do_not_wait_for_each_others_health() {
    let f = waiting("shared", "90s");
    let other = common::unique("other");
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replacen("sources:", "interval: 1h\nsources:", 1)
        .replacen(
            "    ref: {branch: main}\n",
            "    ref: {branch: main}\n    interval: 1s\n",
            1,
        )
        + &format!(
            "  - name: {other}\n    source: repo\n    path: other\n    namespace: {}\n    interval: 1s\n",
            f.ns
        );
    std::fs::write(&f.config, config).unwrap();
    f.write("web.yaml", &never_ready());
    let write_other = |value: &str| {
        std::fs::create_dir_all(f.work.join("other")).unwrap();
        std::fs::write(
            f.work.join("other/cm.yaml"),
            config_map("other", value).replace("NS", &f.ns),
        )
        .unwrap();
    };
    write_other("1");
    f.commit();
    let _daemon = common::KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&f.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The first sync is now in its 90 s health wait.
    common::eventually("the Deployment", || f.get("deployment", "web").is_some());
    write_other("2");
    f.commit();
    common::eventually("the other sync's next revision", || {
        f.get("configmap", "other")
            .is_some_and(|cm| cm["data"]["key"] == "2")
    });
    // This sync's cycle has not ended: no status says HealthCheckFailed yet.
    let status = f.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "configmap",
        &format!("plumb-{}", f.sync),
        "--ignore-not-found",
        "-o",
        "jsonpath={.data.status}",
    ]);
    assert!(
        !text(&status).contains("HealthCheckFailed"),
        "the other sync waited for this one's health wait to end: {}",
        text(&status)
    );
}

/// A HelmChart (and its HelmChartConfig) for k3s's helm-controller.
const HELM_CHART: &str = "apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: NAME
spec:
  repo: https://charts.example.test
  chart: NAME
  version: 1.0.0
---
apiVersion: helm.cattle.io/v1
kind: HelmChartConfig
metadata:
  name: NAME
spec:
  valuesContent: 'replicas: 2'
";

/// Sets the sync's health timeout.
fn set_timeout(f: &Fixture, timeout: &str) {
    let config = std::fs::read_to_string(&f.config).unwrap();
    let (head, tail) = config.split_once("    timeout: ").unwrap();
    let rest = tail.split_once('\n').map_or("", |(_, r)| r);
    std::fs::write(&f.config, format!("{head}    timeout: {timeout}\n{rest}")).unwrap();
}

/// Plays k3s's helm-controller for the HelmChart `name`: creates its
/// install Job and records it in the HelmChart's status, as
/// pkg/controllers/chart/chart.go does.
fn run_install_job(f: &Fixture, name: &str, suspend: bool, limit: u32, labels: &str) {
    let job = include_str!("fixtures/helmchart/install-job.yaml")
        .replace("NAME", name)
        .replace("NS", &f.ns)
        .replace("SUSPEND", &suspend.to_string())
        .replace("LIMIT", &limit.to_string())
        .replace("LABELS", labels);
    f.cluster.kubectl_stdin(&["create", "-f", "-"], Some(&job));
    let status = format!(
        r#"{{"status":{{"jobName":"helm-install-{name}","conditions":[{{"type":"JobCreated","status":"True","reason":"Job created","message":"Applying HelmChart using Job {ns}/helm-install-{name}"}},{{"type":"Failed","status":"False"}}]}}}}"#,
        ns = f.ns
    );
    f.kubectl(&[
        "-n",
        &f.ns,
        "patch",
        "helmcharts.helm.cattle.io",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
}

/// A new revision (the Git commit changes, no object does): an apply cycle,
/// whose health wait follows every object of the sync.
fn touch(f: &Fixture, n: u32) {
    f.write("touch.yaml", &config_map("touch", &n.to_string()));
    f.commit();
}

#[test]
fn a_k3s_helm_chart_follows_its_install_job() {
    let f = waiting("helmchart", "5s");
    f.write("crds.yaml", include_str!("fixtures/helmchart/crds.yaml"));
    f.write("app.yaml", &HELM_CHART.replace("NAME", "app"));
    f.commit();
    // No helm-controller here: nothing creates the install Job.
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(f.condition("Ready")["reason"], "HealthCheckFailed");
    let ready = message(&f, "Ready");
    assert!(
        ready.contains("HelmChart.helm.cattle.io")
            && ready.contains("waiting for the helm-controller to create the install Job"),
        "{ready}"
    );
    assert!(!ready.contains("HelmChartConfig"), "{ready}");

    // The controller creates its Job suspended: not done yet. (Each check
    // below makes a new revision: a drift cycle's one look keeps the
    // status's message.)
    run_install_job(&f, "app", true, 0, "plumb.test/role: install");
    touch(&f, 1);
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ready = message(&f, "Ready");
    assert!(
        ready.contains("install Job helm-install-app is suspended"),
        "{ready}"
    );

    // Resumed, the Job runs and succeeds: the health wait follows it to Ready.
    set_timeout(&f, "60s");
    f.kubectl(&[
        "-n",
        &f.ns,
        "patch",
        "job",
        "helm-install-app",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    touch(&f, 2);
    let out = f.reconcile_ok();
    assert_eq!(f.condition("Ready")["status"], "True", "{out}");
    let job = f.get("job", "helm-install-app").unwrap();
    assert_eq!(job["status"]["succeeded"], 1, "{job}");

    // A chart whose install fails, with a Job that gives up after one retry
    // (the controller's default backoffLimit is 1000).
    set_timeout(&f, "5s");
    f.write("broken.yaml", &HELM_CHART.replace("NAME", "broken"));
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    run_install_job(&f, "broken", false, 1, "plumb.test/fail: \"true\"");
    // The first Pod failed; the Job controller waits 10 s before the next,
    // while a cycle with a 2 s wait looks.
    common::eventually("the first failure", || {
        let job = f.get("job", "helm-install-broken").unwrap();
        job["status"]["failed"] == 1
    });
    set_timeout(&f, "2s");
    touch(&f, 3);
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ready = message(&f, "Ready");
    assert!(
        ready.contains(
            "install Job helm-install-broken has failed 1 time (backoffLimit 1): \
             container helm exited 1: Error: the test asked this Pod to fail"
        ),
        "{ready}"
    );
    assert!(!ready.contains("helm-install-app"), "{ready}");

    // The health wait follows the retry, and ends when the Job fails, well
    // before the sync's timeout.
    set_timeout(&f, "90s");
    touch(&f, 4);
    let started = std::time::Instant::now();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(f.condition("Ready")["reason"], "HealthCheckFailed");
    let ready = message(&f, "Ready");
    assert!(
        ready.contains("install Job helm-install-broken failed: ")
            && ready.contains("the test asked this Pod to fail"),
        "{ready}"
    );
    assert!(!ready.contains("helm-install-app"), "{ready}");
}

/// `plumb status` groups what is not healthy: a line per kind and reason, not per object,
/// and Stalled does not repeat Ready's message.
#[test]
fn status_groups_objects_that_are_not_healthy_by_kind_and_reason() {
    let f = waiting("grouped", "8s");
    for name in ["web1", "web2", "web3", "web4"] {
        f.write(
            &format!("{name}.yaml"),
            &never_ready()
                .replace("name: web\n", &format!("name: {name}\n"))
                .replace("app: web", &format!("app: {name}")),
        );
    }
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let status = |args: &[&str]| {
        plumb()
            .arg("status")
            .args(args)
            .arg("--config")
            .arg(&f.config)
            .output()
            .unwrap()
    };
    let out = status(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains(
            "    4 Deployments waiting for their pods to become ready: web1, web2, web3 (+1)\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("Stalled: True (HealthCheckFailed) (as Ready)"),
        "{shown}"
    );
    assert_eq!(shown.matches("web4").count(), 0, "{shown}");
    let out = status(&["--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["ready"], false);
    assert_eq!(
        json[0]["unhealthy"],
        serde_json::json!([{"kind": "Deployment", "reason": "waiting for their pods to become ready", "names": ["web1", "web2", "web3", "web4"]}])
    );
}
