//! The cycle through the binary: first sync and idle cycle, commits, prunes (namespaces,
//! CRDs), empty and broken revisions, drift, adoption, immutable fields, conflicts, a failing
//! sync beside a healthy one, a refused revision's drift, suspend.

use super::*;

#[test]
fn first_sync_then_an_idle_cycle_writes_nothing() {
    let f = Fixture::new("idle", "");
    f.write(
        "app.yaml",
        &format!("{}---\n{DEPLOYMENT}", config_map("cfg", "one")),
    );
    f.write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n    - port: 80\n");
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("3 applied"), "{out}");
    let cm = f.get("configmap", "cfg").expect("applied");
    assert_eq!(cm["data"]["key"], "one");
    let id = cm["metadata"]["labels"]["applyset.kubernetes.io/part-of"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("applyset-"), "{id}");
    // The Service port got protocol TCP (Kubernetes 1.20 needs it for apply).
    assert_eq!(
        f.get("service", "web").unwrap()["spec"]["ports"][0]["protocol"],
        "TCP"
    );
    assert_eq!(f.condition("Ready")["status"], "True");

    let rv_before: Vec<Value> = ["configmap/cfg", "deployment/web", "service/web"]
        .iter()
        .map(|o| {
            let (k, n) = o.split_once('/').unwrap();
            f.get(k, n).unwrap()["metadata"]["resourceVersion"].clone()
        })
        .collect();
    let writes_before = f.writes();
    let requests_before = f.audit().len();
    let out = f.reconcile_ok();
    assert!(out.contains("0 applied, 3 unchanged"), "{out}");
    let rv_after: Vec<Value> = ["configmap/cfg", "deployment/web", "service/web"]
        .iter()
        .map(|o| {
            let (k, n) = o.split_once('/').unwrap();
            f.get(k, n).unwrap()["metadata"]["resourceVersion"].clone()
        })
        .collect();
    assert_eq!(rv_before, rv_after, "an idle cycle changed objects");
    assert_eq!(
        f.writes(),
        writes_before,
        "an idle cycle wrote to the cluster"
    );
    let idle_requests = f.audit().len() - requests_before;
    eprintln!("idle one-shot cycle: {idle_requests} requests");
    // Discovery (fresh process) + parent + namespace + one metadata LIST per group-kind: small and bounded.
    assert!(
        idle_requests <= 12,
        "idle cycle made {idle_requests} requests"
    );
}

#[test]
fn a_commit_changes_exactly_that_object_and_removed_files_are_pruned() {
    let f = Fixture::new("change", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.write("b.yaml", &config_map("b", "1"));
    let keep = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  annotations: {plumb.dev/prune: disabled}\ndata: {k: v}\n";
    f.write("keep.yaml", keep);
    f.commit();
    f.reconcile_ok();
    let before = f.writes().len();
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("1 applied, 2 unchanged"), "{out}");
    let new: Vec<String> = f.writes()[before..].to_vec();
    let object_writes: Vec<&String> = new
        .iter()
        .filter(|w| !w.contains("plumb-") && !w.starts_with("create events"))
        .collect();
    assert_eq!(object_writes, ["patch configmaps/a"], "all writes: {new:?}");
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "2");

    f.remove("b.yaml");
    f.remove("keep.yaml");
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("1 pruned"), "{out}");
    assert!(f.get("configmap", "b").is_none(), "b was not pruned");
    assert!(
        f.get("configmap", "keep").is_some(),
        "the prune-disabled object was deleted"
    );
    assert_eq!(f.status()["counts"]["pruned"], 1);
}

#[test]
fn namespaces_are_pruned_only_when_they_hold_nothing_unmanaged() {
    let f = Fixture::new("nsprune", "");
    let held = unique("held");
    let empty = unique("empty");
    for ns in [&held, &empty] {
        f.write(&format!("{ns}.yaml"), &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: {ns}\ndata: {{a: b}}\n"));
    }
    f.write("anchor.yaml", &config_map("anchor", "1"));
    f.commit();
    f.reconcile_ok();
    // Someone else's object in one of them.
    f.kubectl(&[
        "-n",
        &held,
        "create",
        "configmap",
        "not-ours",
        "--from-literal=x=y",
    ]);
    f.remove(&format!("{held}.yaml"));
    f.remove(&format!("{empty}.yaml"));
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("pruned"), "{out}");
    let ns = |name: &str| -> Value {
        serde_json::from_slice(&f.kubectl(&["get", "namespace", name, "-o", "json"]).stdout)
            .unwrap()
    };
    // The namespace controller may have finalised it already.
    let live = f
        .kubectl(&[
            "get",
            "namespace",
            &empty,
            "--ignore-not-found",
            "-o",
            "json",
        ])
        .stdout;
    let deleted = live.is_empty()
        || serde_json::from_slice::<Value>(&live).unwrap()["metadata"]["deletionTimestamp"]
            .is_string();
    assert!(deleted, "the emptied namespace was not deleted: {out}");
    assert!(
        ns(&held)["metadata"]["deletionTimestamp"].is_null(),
        "a namespace holding an unmanaged object was deleted"
    );
    assert!(
        out.contains(&format!("kept Namespace {held}")) && out.contains("ConfigMap not-ours"),
        "{out}"
    );
    // Hostile input 4: the kept Namespace left the inventory at once and was
    // never pruned after its objects went; nothing but a log line said so.
    let status = f.status();
    assert!(
        status["kept"]
            .to_string()
            .contains(&format!("Namespace {held}")),
        "{status}"
    );
    // JSON: YAML output folds long messages across lines.
    let events = text(&f.kubectl(&["-n", "plumb-system", "get", "events", "-o", "json"]));
    assert!(
        events.contains(&format!("kept Namespace {held}")),
        "{events}"
    );
    let inventory = text(&f.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "configmap",
        &format!("plumb-{}", f.sync),
        "-o",
        "jsonpath={.data.inventory}",
    ]));
    assert!(inventory.contains(&held), "{inventory}");
    // Its last unmanaged object goes: the next cycle (same revision) prunes it.
    f.kubectl(&["-n", &held, "delete", "configmap", "not-ours"]);
    let out = f.reconcile_ok();
    assert!(
        ns(&held)["metadata"]["deletionTimestamp"].is_string(),
        "the namespace was not pruned once it held nothing unmanaged: {out}"
    );
    assert!(f.status()["kept"].is_null(), "{}", f.status());
}

/// Hostile input 5: removing a CRD from Git pruned it, and with it every
/// resource of its kind, plumb's or not. A CRD whose kind still has resources
/// plumb doesn't manage is held: kept, in the inventory, named in the status,
/// pruned once they are gone.
#[test]
fn a_crd_with_resources_plumb_does_not_manage_is_held_until_they_go() {
    let f = Fixture::new("crdguard", "");
    let group = format!("{}.plumb.test", f.ns);
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
---
apiVersion: {group}/v1
kind: Gadget
metadata:
  name: ours
spec: {{size: 1}}
"
    );
    f.write("crd.yaml", &crd);
    f.write("anchor.yaml", &config_map("anchor", "1"));
    f.commit();
    f.reconcile_ok();
    // Someone else's resource of that kind, in another namespace.
    // kubectl's discovery may not know the kind yet: a refused apply is "not yet".
    let theirs = format!(
        "apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: theirs\n  namespace: default\nspec: {{size: 2}}\n"
    );
    eventually("someone else's Gadget", || {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(f.cluster.kubeconfig("admin"))
            .args(["apply", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(theirs.as_bytes())
            .unwrap();
        child.wait().unwrap().success()
    });
    f.remove("crd.yaml");
    f.commit();
    let out = f.reconcile_ok();
    assert!(
        out.contains(&format!(
            "kept CustomResourceDefinition.apiextensions.k8s.io gadgets.{group}"
        )),
        "{out}"
    );
    assert!(out.contains("Gadget default/theirs"), "{out}");
    let theirs = text(&f.kubectl(&[
        "-n",
        "default",
        "get",
        &format!("gadgets.{group}"),
        "theirs",
        "-o",
        "name",
    ]));
    assert!(
        theirs.contains("theirs"),
        "someone else's resource was deleted"
    );
    assert!(
        f.status()["kept"].to_string().contains("gadgets."),
        "{}",
        f.status()
    );
    f.kubectl(&[
        "-n",
        "default",
        "delete",
        &format!("gadgets.{group}"),
        "theirs",
    ]);
    let out = f.reconcile_ok();
    let crd_left = text(&f.kubectl(&[
        "get",
        "crd",
        &format!("gadgets.{group}"),
        "--ignore-not-found",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]));
    let gone = text(&f.kubectl(&[
        "get",
        "crd",
        &format!("gadgets.{group}"),
        "--ignore-not-found",
        "-o",
        "name",
    ]))
    .trim()
    .is_empty();
    assert!(
        gone || !crd_left.trim().is_empty(),
        "the CRD was not pruned once its last foreign resource went: {out}"
    );
}

#[test]
fn an_empty_render_is_refused() {
    let f = Fixture::new("empty", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    f.remove("a.yaml");
    f.write("README.yaml.txt", "not a manifest");
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("renders no objects"), "{}", text(&out));
    assert!(
        f.get("configmap", "a").is_some(),
        "an empty revision pruned everything"
    );
    assert_eq!(f.condition("Ready")["reason"], "EmptyRevision");
}

#[test]
fn broken_yaml_or_an_invalid_object_applies_nothing() {
    let f = Fixture::new("broken", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    // Broken YAML beside a good change: neither is applied.
    f.write("a.yaml", &config_map("a", "2"));
    f.write(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad\n",
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("manifests/bad.yaml:"), "{}", text(&out));
    assert_eq!(
        f.get("configmap", "a").unwrap()["data"]["key"],
        "1",
        "part of a broken revision was applied"
    );
    let ready = f.condition("Ready");
    assert_eq!(ready["status"], "False");
    assert!(
        ready["message"].as_str().unwrap().contains("bad.yaml"),
        "{ready}"
    );
    // An object the server rejects (invalid field): nothing applied either.
    f.remove("bad.yaml");
    f.write(
        "web.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replicas: -3"),
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("spec.replicas"), "{}", text(&out));
    assert!(text(&out).contains("manifests/web.yaml"), "{}", text(&out));
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    assert!(f.get("deployment", "web").is_none());
}

#[test]
fn edits_and_deletes_are_corrected_with_the_manager_named() {
    let f = Fixture::new("drift", "");
    f.write("a.yaml", &config_map("a", "git"));
    f.write("b.yaml", &config_map("b", "git"));
    f.commit();
    f.reconcile_ok();
    f.kubectl(&[
        "-n",
        &f.ns,
        "patch",
        "configmap",
        "a",
        "--type=merge",
        "-p",
        r#"{"data":{"key":"edited"}}"#,
        "--field-manager=kubectl-edit",
    ]);
    f.kubectl(&["-n", &f.ns, "delete", "configmap", "b"]);
    let out = f.reconcile_ok();
    assert!(out.contains("2 drifted"), "{out}");
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "git");
    assert!(
        f.get("configmap", "b").is_some(),
        "a deleted object was not recreated"
    );
    let ready = f.condition("Ready");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("data.key") && message.contains("kubectl-edit"),
        "{message}"
    );
    assert!(message.contains("deleted"), "{message}");
}

#[test]
fn report_only_when_self_heal_is_off() {
    let f = Fixture::new("noheal", "    selfHeal: false\n");
    f.write("a.yaml", &config_map("a", "git"));
    f.commit();
    f.reconcile_ok();
    f.edit_config_map("a", "edited");
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        f.get("configmap", "a").unwrap()["data"]["key"],
        "edited",
        "selfHeal: false corrected drift"
    );
    assert_eq!(f.condition("Ready")["reason"], "DriftDetected");
}

#[test]
fn objects_from_kubectl_client_side_apply_are_adopted() {
    let f = Fixture::new("adopt", "");
    let old = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  namespace: NS\ndata:\n  keep: \"yes\"\n  dropped: soon\n".replace("NS", &f.ns);
    f.cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&old));
    f.write(
        "legacy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\ndata:\n  keep: \"yes\"\n",
    );
    f.commit();
    f.reconcile_ok();
    let cm = f.get("configmap", "legacy").unwrap();
    assert_eq!(cm["data"]["keep"], "yes");
    assert!(
        cm["data"].get("dropped").is_none(),
        "a field removed from Git stayed: {cm}"
    );
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(
        !managers.contains(&"kubectl-client-side-apply"),
        "{managers:?}"
    );
}

#[test]
fn immutable_changes_error_unless_recreate_is_asked() {
    let f = Fixture::new("immutable", "");
    let job = |image: &str, recreate: bool| {
        let annotations = if recreate {
            "  annotations: {plumb.dev/recreate: \"true\"}\n"
        } else {
            ""
        };
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n{annotations}spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: c\n          image: {image}\n")
    };
    f.write("job.yaml", &job("busybox:1.36", false));
    f.commit();
    f.reconcile_ok();
    let uid = f.get("job", "once").unwrap()["metadata"]["uid"].clone();
    f.write("job.yaml", &job("busybox:1.37", false));
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("immutable") && text(&out).contains("plumb.dev/recreate"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("Job.batch"), "{}", text(&out));
    f.write("job.yaml", &job("busybox:1.37", true));
    f.commit();
    f.reconcile_ok();
    let job = f.get("job", "once").unwrap();
    assert_ne!(job["metadata"]["uid"], uid, "not recreated");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.37"
    );
}

#[test]
fn a_crd_and_its_resource_and_a_namespace_with_objects_in_one_commit() {
    let f = Fixture::new("crd", "");
    let group = format!("{}.plumb.test", unique("g"));
    let ns = unique("fresh");
    f.write("crd.yaml", &format!("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{kind: Gadget, plural: gadgets, singular: gadget}}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"));
    f.write(
        "gadget.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec: {{size: 2}}\n"
        ),
    );
    f.write("ns.yaml", &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: {ns}\ndata: {{a: b}}\n"));
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("4 applied"), "{out}");
    f.kubectl(&["-n", &f.ns, "get", &format!("gadgets.{group}"), "g1"]);
    f.kubectl(&["-n", &ns, "get", "configmap", "inside"]);
}

#[test]
fn another_managers_conflict_is_forced_and_reported() {
    let f = Fixture::new("conflict", "");
    let theirs = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: NS\ndata:\n  key: theirs\n".replace("NS", &f.ns);
    f.cluster.kubectl_stdin(
        &["apply", "--server-side", "--field-manager=helm", "-f", "-"],
        Some(&theirs),
    );
    f.write("shared.yaml", &config_map("shared", "ours"));
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.get("configmap", "shared").unwrap()["data"]["key"], "ours");
    let events = text(&f.kubectl(&["-n", "plumb-system", "get", "events", "-o", "json"]));
    assert!(
        events.contains(&format!(
            "took fields of ConfigMap {}/shared from helm",
            f.ns
        )),
        "{events}"
    );
}

#[test]
fn one_failing_sync_does_not_block_a_healthy_one() {
    let f = Fixture::new("twosyncs", "");
    let broken = unique("broken");
    let config = std::fs::read_to_string(&f.config).unwrap()
        + &format!(
            "  - name: {broken}\n    source: repo\n    path: nowhere\n    namespace: {}\n",
            f.ns
        );
    std::fs::write(&f.config, config).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("has no folder 'nowhere'"),
        "{}",
        text(&out)
    );
    assert!(
        f.get("configmap", "a").is_some(),
        "the healthy sync was blocked"
    );
}

#[test]
fn drift_is_corrected_against_the_revision_in_force_while_a_newer_one_is_refused() {
    let f = Fixture::new("fallback", "");
    f.write("a.yaml", &config_map("a", "good"));
    f.commit();
    f.reconcile_ok();
    f.write("bad.yaml", "this: [is not\n");
    f.commit();
    f.edit_config_map("a", "edited");
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        f.get("configmap", "a").unwrap()["data"]["key"],
        "good",
        "drift was not corrected: {}",
        text(&out)
    );
    let ready = f.condition("Ready");
    assert_eq!(
        ready["status"], "False",
        "the refusal must stay in the status: {ready}"
    );
    assert_eq!(ready["reason"], "RenderFailed");
}

#[test]
fn a_suspended_sync_is_neither_applied_nor_pruned() {
    let f = Fixture::new("suspend", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.write("b.yaml", &config_map("b", "1"));
    f.commit();
    f.reconcile_ok();
    // Suspended, then a commit that changes one object and removes the other.
    let config = std::fs::read_to_string(&f.config).unwrap() + "    suspend: true\n";
    std::fs::write(&f.config, config).unwrap();
    f.write("a.yaml", &config_map("a", "2"));
    f.remove("b.yaml");
    f.commit();
    // Suspended is not Ready: exit 1, as for any sync that is not Ready.
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("suspended"), "{}", text(&out));
    assert_eq!(
        f.get("configmap", "a").unwrap()["data"]["key"],
        "1",
        "a suspended sync applied"
    );
    assert!(f.get("configmap", "b").is_some(), "a suspended sync pruned");
    assert_eq!(f.condition("Ready")["reason"], "Suspended");
}
