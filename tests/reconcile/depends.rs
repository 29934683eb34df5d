//! `dependsOn` through the binary: three layers (a CRD with its controller, a custom
//! resource of it, an app that depends on both), held back while a layer below is not
//! Ready, applied in order by one `plumb reconcile`, and by the daemon as soon as each
//! layer below is Ready rather than an interval later.

use super::*;

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.GROUP
spec:
  group: GROUP
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

/// The fixture's sync becomes the app layer (`manifests/apps`, after `-config` and
/// `-crds`); `-config` (a Widget) depends on `-crds` (the CRD and its controller, followed
/// until healthy). The config lists the app first: the order is dependsOn's, not the file's.
fn three_layers(prefix: &str, interval: &str) -> (Fixture, String) {
    let f = Fixture::new(prefix, "");
    let group = format!("{}.plumb.test", unique("g"));
    let s = &f.sync;
    let config = std::fs::read_to_string(&f.config).unwrap().replace(
        "    path: manifests\n",
        &format!("    path: manifests/apps\n    dependsOn: [{s}-config, {s}-crds]\n"),
    );
    let config = format!(
        "{config}  - name: {s}-config\n    source: repo\n    path: manifests/config\n    namespace: {ns}\n    dependsOn: [{s}-crds]\n  - name: {s}-crds\n    source: repo\n    path: manifests/crds\n    namespace: {ns}\n    timeout: 50s\n",
        ns = f.ns
    )
    .replacen("sources:", &format!("interval: {interval}\nsources:"), 1);
    std::fs::write(&f.config, config).unwrap();
    f.write("crds/crd.yaml", &WIDGET_CRD.replace("GROUP", &group));
    f.write(
        "crds/controller.yaml",
        &DEPLOYMENT.replace("name: web\n", "name: controller\n"),
    );
    f.write(
        "config/widget.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: blue\nspec:\n  color: blue\n"
        ),
    );
    f.write("apps/app.yaml", &config_map("app", "uses-blue"));
    (f, group)
}

/// The creates of this test's objects, in the order the API server saw them.
fn creates(f: &Fixture) -> Vec<String> {
    f.writes()
        .into_iter()
        .filter(|w| w.starts_with("create ") || w.starts_with("patch ") || w.starts_with("update "))
        .filter(|w| {
            ["widgets/blue", "configmaps/app", "deployments/controller"]
                .iter()
                .any(|o| w.ends_with(o))
                || w.contains("customresourcedefinitions/widgets.")
        })
        .collect()
}

#[test]
fn a_layer_waits_for_the_one_below_and_a_one_shot_run_goes_in_order() {
    let (f, _) = three_layers("depends", "1m");
    // The bottom layer is broken: the others wait, naming it and why.
    f.write(
        "crds/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n",
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let config_status = |f: &Fixture| {
        let out = f.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "configmap",
            &format!("plumb-{}-config", f.sync),
            "-o",
            "jsonpath={.data.status}",
        ]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let status = config_status(&f);
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "DependencyNotReady");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "dependency '{}-crds' is not Ready (RenderFailed",
            f.sync
        )),
        "{message}"
    );
    let ready = f.condition("Ready");
    assert_eq!(ready["reason"], "DependencyNotReady", "{ready}");
    assert!(
        f.get("configmap", "app").is_none(),
        "the app was applied over a broken layer"
    );

    // Fixed: one run applies the three in dependsOn's order.
    f.remove("crds/broken.yaml");
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.lines().count() >= 3, "{out}");
    assert_eq!(
        f.get("configmap", "app").unwrap()["data"]["key"],
        "uses-blue"
    );
    let order = creates(&f);
    let first = |what: &str| {
        order
            .iter()
            .position(|w| w.contains(what))
            .unwrap_or_else(|| panic!("{what} never written: {order:?}"))
    };
    assert!(
        first("customresourcedefinitions/") < first("widgets/blue")
            && first("deployments/controller") < first("widgets/blue")
            && first("widgets/blue") < first("configmaps/app"),
        "{order:?}"
    );
}

#[test]
fn the_daemon_runs_a_dependant_as_soon_as_its_dependency_is_ready() {
    // An hour's interval: only the dependencies' ringing can bring the upper layers.
    let (f, group) = three_layers("depends-daemon", "1h");
    f.commit();
    let _daemon = KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&f.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("the app layer applied", || {
        f.get("configmap", "app").is_some()
    });
    let widget = f.kubectl(&[
        "-n",
        &f.ns,
        "get",
        &format!("widgets.{group}"),
        "blue",
        "-o",
        "name",
    ]);
    assert!(widget.status.success(), "{}", text(&widget));
    let order = creates(&f);
    let first = |what: &str| order.iter().position(|w| w.contains(what)).unwrap();
    assert!(
        first("customresourcedefinitions/") < first("widgets/blue")
            && first("widgets/blue") < first("configmaps/app"),
        "{order:?}"
    );
    assert_eq!(f.condition("Ready")["status"], "True");
}

#[test]
fn health_checks_follow_objects_the_sync_did_not_apply() {
    let f = Fixture::new("health-checks", "");
    let config = std::fs::read_to_string(&f.config).unwrap().replace(
        "    wait: false\n",
        "    wait: false\n    timeout: 3s\n    healthChecks:\n      - {apiVersion: apps/v1, kind: Deployment, name: controller}\n",
    );
    std::fs::write(&f.config, config).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    // The controller is someone else's and not there yet: not healthy, named.
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ready = f.condition("Ready");
    assert_eq!(ready["reason"], "HealthCheckFailed", "{ready}");
    assert!(
        ready["message"].as_str().unwrap().contains("Deployment")
            && ready.to_string().contains("controller"),
        "{ready}"
    );
    // It arrives (kwok runs its pods): the next revision's apply finds it healthy.
    let out = f.cluster.kubectl_stdin(
        &["-n", &f.ns, "apply", "-f", "-"],
        Some(&DEPLOYMENT.replace("name: web\n", "name: controller\n")),
    );
    assert!(out.status.success(), "{}", text(&out));
    eventually("the controller available", || {
        f.get("deployment", "controller")
            .is_some_and(|d| d["status"]["availableReplicas"] == 2)
    });
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.condition("Ready")["status"], "True");
}

#[test]
fn a_kind_is_judged_by_the_condition_the_sync_names() {
    let f = Fixture::new("health-conditions", "");
    let group = format!("{}.plumb.test", unique("g"));
    let config = std::fs::read_to_string(&f.config).unwrap().replace(
        "    wait: false\n",
        &format!("    timeout: 3s\n    healthCheckConditions:\n      - apiVersion: {group}/v1\n        kind: Widget\n        current: {{type: Baked}}\n        failed: {{type: Burnt}}\n"),
    );
    std::fs::write(&f.config, config).unwrap();
    f.write("crd.yaml", &WIDGET_CRD.replace("GROUP", &group));
    // Without a status subresource, the status is the manifest's own: each revision says it.
    let widget = |conditions: &str| {
        format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: blue\nstatus:\n  conditions: {conditions}\n")
    };
    f.write("widget.yaml", &widget("[{type: Ready, status: 'True'}]"));
    f.commit();
    let out = f.reconcile();
    assert_eq!(
        out.status.code(),
        Some(1),
        "Ready alone passed: {}",
        text(&out)
    );
    let ready = f.condition("Ready");
    assert_eq!(ready["reason"], "HealthCheckFailed", "{ready}");
    assert!(
        ready
            .to_string()
            .contains("waiting for condition Baked to be True"),
        "{ready}"
    );

    f.write(
        "widget.yaml",
        &widget(
            "[{type: Baked, status: 'True'}, {type: Burnt, status: 'True', message: too long}]",
        ),
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(f
        .condition("Ready")
        .to_string()
        .contains("Burnt is True: too long"));

    f.write("widget.yaml", &widget("[{type: Baked, status: 'True'}]"));
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.condition("Ready")["status"], "True");
}

#[test]
fn layers_leaving_git_go_top_down_the_crd_after_the_resources_of_it() {
    let (f, group) = three_layers("depends-prune", "1m");
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace(
            "    path: manifests/config\n",
            "    path: manifests/config\n    prune: true\n    allowEmpty: true\n",
        )
        .replace(
            "    path: manifests/crds\n",
            "    path: manifests/crds\n    prune: true\n    allowEmpty: true\n",
        );
    std::fs::write(&f.config, config).unwrap();
    f.commit();
    f.reconcile_ok();
    // Both lower layers leave Git. The CRDs' sync runs first (dependsOn's order), but the
    // Widget of the other sync holds its CRD back; the Widget goes, then the CRD.
    f.remove("crds/crd.yaml");
    f.remove("crds/controller.yaml");
    f.remove("config/widget.yaml");
    f.write("crds/.keep.yaml", "");
    f.write("config/.keep.yaml", "");
    f.commit();
    let out = f.reconcile();
    let printed = text(&out);
    let crd = format!("widgets.{group}");
    let crd_exists = || {
        let out = f.kubectl(&["get", "crd", &crd, "--ignore-not-found", "-o", "name"]);
        !out.stdout.is_empty()
    };
    assert!(
        crd_exists(),
        "the CRD went before the Widget of another sync: {printed}"
    );
    assert!(printed.contains("kept"), "{printed}");
    let widget = f.kubectl(&[
        "-n",
        &f.ns,
        "get",
        &crd,
        "blue",
        "--ignore-not-found",
        "-o",
        "name",
    ]);
    assert!(
        widget.stdout.is_empty(),
        "the Widget was not pruned: {printed}"
    );
    eventually("the CRD pruned by a later cycle", || {
        f.reconcile();
        !crd_exists()
    });
}
