//! The main job end to end: the `plumb` binary, a real Git repository
//! (file://), the real API server. Each test has its own repository, sync,
//! namespace and node name, so they run in parallel and the audit log tells
//! their requests apart.

mod common;

use std::process::Command;

use common::fixture::*;
use common::{eventually, plumb, temp_dir, text, unique, Cluster, KillOnDrop};
use serde_json::Value;

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

/// Hardening defect 1 and hostile input 6: names the API server would refuse
/// (a space, non-ASCII, a path, a query) crashed `plumb reconcile` when put
/// into a URL. They are render errors with file and line; nothing is applied.
#[test]
fn a_name_with_a_space_or_a_path_is_a_render_error_not_a_crash() {
    let f = Fixture::new("names", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    for (file, manifest, words) in [
        ("space.yaml", config_map("my app", "2"), "'my app'"),
        ("accent.yaml", config_map("café", "2"), "caf\\u{e9}"),
        (
            "path.yaml",
            config_map("../../kube-system/configmaps/victim", "2"),
            "metadata.name '../../kube-system/configmaps/victim'",
        ),
        (
            "query.yaml",
            config_map("x?dryRun=All&y", "2"),
            "x?dryRun=All&y",
        ),
        (
            "namespace.yaml",
            config_map("ok", "2").replace("  name: ok\n", "  name: ok\n  namespace: Bad Space\n"),
            "metadata.namespace 'Bad Space'",
        ),
        (
            "version.yaml",
            config_map("ok", "2").replace("apiVersion: v1", "apiVersion: apps/v1/x"),
            "apiVersion 'apps/v1/x'",
        ),
    ] {
        f.write("a.yaml", &config_map("a", "2"));
        f.write(file, &manifest);
        f.commit();
        for command in [vec!["reconcile"], vec!["validate", "--sync", &f.sync]] {
            let out = plumb()
                .args(&command)
                .arg("--config")
                .arg(&f.config)
                .output()
                .unwrap();
            let all = text(&out);
            assert_eq!(out.status.code(), Some(1), "{command:?} {file}: {all}");
            assert!(
                all.contains(&format!("manifests/{file}:1")),
                "{command:?} {file}: {all}"
            );
            assert!(all.contains(words), "{command:?} {file}: {all}");
            assert!(!all.contains("panicked"), "{all}");
        }
        assert_eq!(
            f.get("configmap", "a").unwrap()["data"]["key"],
            "1",
            "part of a revision with {file} was applied"
        );
        assert_eq!(f.condition("Ready")["reason"], "RenderFailed");
        f.remove(file);
    }
}

/// Hardening defect 2: a source failure read the parent with
/// `unwrap_or_default()`, so an unreadable status wrote an empty inventory
/// over it and orphaned every managed object.
#[test]
fn a_source_failure_with_an_unreadable_parent_leaves_the_inventory_alone() {
    let f = Fixture::new("unreadable", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let parent = format!("plumb-{}", f.sync);
    let inventory = || {
        text(&f.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "configmap",
            &parent,
            "-o",
            "jsonpath={.data.inventory}",
        ]))
    };
    let before = inventory();
    assert!(before.contains("\"a\""), "{before}");
    f.kubectl(&[
        "-n",
        "plumb-system",
        "patch",
        "configmap",
        &parent,
        "--type=merge",
        "-p",
        r#"{"data":{"status":"{not json"}}"#,
    ]);
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("path: manifests", "path: nowhere");
    std::fs::write(&f.config, config).unwrap();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(inventory(), before, "the inventory was overwritten");
    assert!(text(&out).contains("unreadable"), "{}", text(&out));
}

/// Hostile input 14 and 15: invalid UTF-8 in a value was replaced by U+FFFD
/// and applied; a UTF-8 byte-order mark was refused as "more than one
/// document". As kubectl: the mark is skipped, the bad byte refused at its
/// line and column, nothing applied.
#[test]
fn a_byte_order_mark_is_read_and_invalid_utf8_is_refused_at_its_line() {
    let f = Fixture::new("encoding", "");
    let dir = f.work.join("manifests");
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(config_map("bom", "1").replace("NS", &f.ns).as_bytes());
    std::fs::write(dir.join("bom.yaml"), &bom).unwrap();
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.get("configmap", "bom").unwrap()["data"]["key"], "1");

    f.write("bom.yaml", &config_map("bom", "2"));
    std::fs::write(
        dir.join("latin1.yaml"),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: latin1\ndata:\n  key: caf\xE9\n",
    )
    .unwrap();
    f.commit();
    for command in [vec!["reconcile"], vec!["validate", "--sync", &f.sync]] {
        let out = plumb()
            .args(&command)
            .arg("--config")
            .arg(&f.config)
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {all}");
        assert!(
            all.contains("manifests/latin1.yaml:6:11"),
            "{command:?}: {all}"
        );
        assert!(all.contains("not UTF-8"), "{command:?}: {all}");
    }
    assert_eq!(f.get("configmap", "bom").unwrap()["data"]["key"], "1");
    assert!(f.get("configmap", "latin1").is_none());
}

/// Hostile input 16: a manifest past the API server's request limit got 413
/// three times (150 MB sent) and was reported as "cannot reach the API
/// server: Broken pipe". It is refused at render, named with its size.
#[test]
fn an_object_too_large_for_the_api_server_is_refused_with_its_size() {
    let f = Fixture::new("toolarge", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    f.write("a.yaml", &config_map("a", "2"));
    f.write("big.yaml", &config_map("big", &"x".repeat(4 * 1024 * 1024)));
    f.commit();
    let requests_before = f.audit().len();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("manifests/big.yaml:1"), "{all}");
    assert!(all.contains("at most 3145728 bytes"), "{all}");
    assert!(!all.contains("Broken pipe"), "{all}");
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    // Only the status write: nothing was sent for the object.
    let sent: Vec<Value> = f.audit()[requests_before..]
        .iter()
        .filter(|e| e["objectRef"]["name"] == "big")
        .cloned()
        .collect();
    assert!(sent.is_empty(), "{sent:?}");
}

/// Hostile input 18: `plumb render DIR` followed a link in the work tree to
/// /etc/shadow into a rendered Secret, while a sync skipped every link
/// silently. One rule for both: a link to a file inside the repository is
/// read as that file; any other link is an error naming it.
#[test]
fn links_inside_the_repository_are_read_and_links_out_of_it_are_refused() {
    let f = Fixture::new("links", "");
    std::fs::create_dir_all(f.work.join("shared")).unwrap();
    std::fs::write(
        f.work.join("shared/cm.yaml"),
        config_map("linked", "1").replace("NS", &f.ns),
    )
    .unwrap();
    std::os::unix::fs::symlink("../shared/cm.yaml", f.work.join("manifests/linked.yaml")).unwrap();
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.get("configmap", "linked").unwrap()["data"]["key"], "1");
    // The same folder through `plumb render DIR` (a work tree).
    let out = plumb()
        .arg("render")
        .arg(f.work.join("manifests"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: linked"));

    // A manifest linked out of the repository, then a secretGenerator file.
    std::os::unix::fs::symlink("/etc/passwd", f.work.join("manifests/passwd.yaml")).unwrap();
    f.commit();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("manifests/passwd.yaml is a symbolic link"),
        "{all}"
    );
    assert!(all.contains("outside the repository"), "{all}");
    assert!(!all.contains("root:x:0"), "{all}");
    let out = plumb()
        .arg("validate")
        .arg(f.work.join("manifests"))
        .output()
        .unwrap();
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("passwd.yaml is a symbolic link"), "{all}");
    assert!(!all.contains("root:x:0"), "{all}");
    std::fs::remove_file(f.work.join("manifests/passwd.yaml")).unwrap();

    let kustomized = f.work.join("manifests");
    std::os::unix::fs::symlink("/etc/passwd", kustomized.join("users")).unwrap();
    std::fs::write(
        kustomized.join("kustomization.yaml"),
        "resources: [linked.yaml]\nsecretGenerator:\n  - name: stolen\n    files: [users]\n",
    )
    .unwrap();
    let out = plumb().arg("render").arg(&kustomized).output().unwrap();
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("users"), "{all}");
    assert!(
        !all.contains("cm9vdDp4OjA6"),
        "the file's content was rendered: {all}"
    );
}

/// Hostile input 1: a sync's Git could hold a ConfigMap named like a parent
/// (`plumb-system/plumb-<sync>`, its own or another's) and wipe that sync's
/// inventory and status. plumb's own objects are refused in any revision.
#[test]
fn a_revision_may_not_declare_plumbs_own_objects() {
    let f = Fixture::new("reserved", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let parent = || {
        text(&f.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "configmap",
            &format!("plumb-{}", f.sync),
            "-o",
            "jsonpath={.data.inventory}",
        ]))
    };
    let before = parent();
    for (file, manifest) in [
        (
            "parent.yaml",
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plumb-{}\n  namespace: plumb-system\ndata: {{inventory: ''}}\n", f.sync),
        ),
        (
            "lease.yaml",
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: plumb\n  namespace: plumb-system\nspec: {holderIdentity: me}\n".to_owned(),
        ),
    ] {
        f.write(file, &manifest);
        f.commit();
        let out = f.reconcile();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(all.contains(&format!("manifests/{file}:1")), "{all}");
        assert!(all.contains("is plumb's own"), "{all}");
        assert_eq!(parent(), before, "the inventory was overwritten");
        f.remove(file);
    }
}

/// Hostile input 10: after a failure, a cycle with nothing to apply printed
/// Ready but left the failure in the status (idle cycles write nothing), so
/// `plumb status` kept exiting 1. A change of verdict is written, once.
#[test]
fn a_failure_that_is_over_is_cleared_from_the_status_once() {
    let f = Fixture::new("verdict", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let good = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, good.replace("path: manifests", "path: nowhere")).unwrap();
    assert_eq!(f.reconcile().status.code(), Some(1));
    assert_eq!(f.condition("Ready")["reason"], "SourceFailed");
    std::fs::write(&f.config, &good).unwrap();
    let status = || {
        plumb()
            .args(["status", "--config"])
            .arg(&f.config)
            .output()
            .unwrap()
    };
    assert_eq!(status().status.code(), Some(1));
    // The same revision, nothing to apply: the verdict turns, and is written.
    let out = f.reconcile_ok();
    assert_eq!(f.condition("Ready")["status"], "True", "{out}");
    let out = status();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Once: the next idle cycle writes nothing.
    let before = f.writes().len();
    f.reconcile_ok();
    assert_eq!(f.writes().len(), before, "{:?}", &f.writes()[before..]);
}

/// Hostile input 9: when the source could no longer be followed, plumb
/// served the last good revision but reported Ready and exited 0: the cluster
/// silently stopped following Git. SourceReady=False (FetchFailed) beside the
/// revision in force, exit 1, a metric and an Event when it changes.
#[test]
fn a_source_that_cannot_be_followed_is_reported_not_ready() {
    let f = Fixture::new("unfollowed", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.condition("SourceReady")["status"], "True");
    // The remote goes away (a deleted repository answers like a revoked token or a deleted branch).
    let moved = f.bare.with_extension("moved");
    std::fs::rename(&f.bare, &moved).unwrap();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("the source cannot be followed"), "{all}");
    let source = f.condition("SourceReady");
    assert_eq!(source["status"], "False", "{source}");
    assert_eq!(source["reason"], "FetchFailed", "{source}");
    assert!(
        source["message"]
            .as_str()
            .unwrap()
            .contains("serving the last good revision"),
        "{source}"
    );
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    let events = || text(&f.kubectl(&["-n", "plumb-system", "get", "events", "-o", "json"]));
    assert!(events().contains("FetchFailed"), "{}", events());
    // The daemon says it too, in its metrics.
    let (port, mut daemon) = daemon_serving_metrics(&f);
    let series = format!("plumb_source_ready{{sync=\"{}\"}}", f.sync);
    eventually("the source_ready metric", || {
        let (code, body) = scrape(port, "/metrics");
        code == 200 && sample(&body, &series) == Some(0.0)
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    // Back: Ready again, and an Event says so.
    std::fs::rename(&moved, &f.bare).unwrap();
    f.reconcile_ok();
    assert_eq!(f.condition("SourceReady")["status"], "True");
    assert!(
        events().contains("the source is followed again"),
        "{}",
        events()
    );
}

/// Hostile input 2: two syncs declaring one object relabelled it every cycle
/// ("1 applied, 1 drifted" forever), and the one that dropped it pruned what
/// the other still declared. An object in another sync's ApplySet is refused,
/// naming that sync, unless moved on purpose with plumb.dev/adopt.
#[test]
fn an_object_another_sync_manages_is_refused_unless_adopted() {
    let f = Fixture::new("shared-object", "");
    let second = unique("second");
    let config = std::fs::read_to_string(&f.config).unwrap()
        + &format!(
            "  - name: {second}\n    source: repo\n    path: second\n    namespace: {}\n    prune: true\n",
            f.ns
        );
    std::fs::write(&f.config, config).unwrap();
    f.write("shared.yaml", &config_map("shared", "first"));
    let write_second = |manifest: &str| {
        std::fs::create_dir_all(f.work.join("second")).unwrap();
        std::fs::write(
            f.work.join("second/shared.yaml"),
            manifest.replace("NS", &f.ns),
        )
        .unwrap();
    };
    write_second(&config_map("shared", "second"));
    f.commit();
    let run = |sync: &str| {
        plumb()
            .args(["reconcile", "--sync", sync, "--config"])
            .arg(&f.config)
            .output()
            .unwrap()
    };
    assert_eq!(run(&f.sync).status.code(), Some(0));
    let out = run(&second);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("second/shared.yaml"), "{all}");
    assert!(
        all.contains(&format!("already managed by sync '{}'", f.sync)),
        "{all}"
    );
    assert_eq!(
        f.get("configmap", "shared").unwrap()["data"]["key"],
        "first"
    );

    // Moved on purpose: the second sync takes it; the first, once it drops
    // the object from Git, keeps its hands off (no prune).
    write_second(&config_map("shared", "second").replace(
        "  name: shared\n",
        "  name: shared\n  annotations: {plumb.dev/adopt: \"true\"}\n",
    ));
    f.remove("shared.yaml");
    f.write("other.yaml", &config_map("other", "1"));
    f.commit();
    let out = run(&second);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&f.sync);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let live = f
        .get("configmap", "shared")
        .expect("the first sync pruned the moved object");
    assert_eq!(live["data"]["key"], "second");
}

/// Hostile input 3: kill -9 during an apply lost track of the objects applied
/// before it but not yet in the inventory (64 and 118 orphans in two runs):
/// they carry the ApplySet label, yet no later prune found them. The
/// inventory now lists the revision's objects before any is applied.
#[test]
fn a_kill_during_an_apply_orphans_nothing() {
    let f = Fixture::new("killed", "");
    for i in 0..500 {
        f.write(
            &format!("cm-{i}.yaml"),
            &config_map(&format!("cm-{i}"), "1"),
        );
    }
    f.commit();
    let labelled = || {
        let out = f.kubectl(&[
            "-n",
            &f.ns,
            "get",
            "configmaps",
            "-l",
            "applyset.kubernetes.io/part-of",
            "-o",
            "name",
        ]);
        text(&out).lines().count()
    };
    let mut child = f.spawn_reconcile();
    // Killed somewhere in the middle of the 500.
    eventually("the apply to be under way", || labelled() >= 50);
    signal(&child, "KILL");
    let _ = child.wait();
    let applied = labelled();
    assert!(
        applied < 500,
        "the apply ended before the kill ({applied} applied)"
    );
    // A commit that drops most of them: every labelled one that left Git goes.
    for i in 10..500 {
        f.remove(&format!("cm-{i}.yaml"));
    }
    f.commit();
    let out = f.reconcile_ok();
    assert_eq!(
        labelled(),
        10,
        "orphans left after the kill at {applied} objects: {out}"
    );
}

/// Hostile input 20 (its first half): when the inventory could not be
/// written (past 14,000 objects the API server refused it), the cycle still
/// printed Ready and exited 0, and nothing it applied could ever be pruned.
/// A failed status or inventory write is a failed cycle. An admission
/// policy stands in for the refusal here.
#[test]
fn a_failed_inventory_write_is_a_failed_cycle() {
    let f = Fixture::new("unwritable", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let parent = format!("plumb-{}", f.sync);
    let policy = unique("deny-parent");
    f.cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {policy}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ['']
        apiVersions: [v1]
        operations: [UPDATE]
        resources: [configmaps]
  validations:
    - expression: \"object.metadata.name != '{parent}'\"
      message: the test refuses this sync's parent
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {policy}}}
spec:
  policyName: {policy}
  validationActions: [Deny]
"
        )),
    );
    f.write("b.yaml", &config_map("b", "1"));
    f.commit();
    // The policy takes a moment to be in force.
    let mut out = f.reconcile();
    for _ in 0..20 {
        if out.status.code() != Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        f.write("b.yaml", &config_map("b", &unique("v")));
        f.commit();
        out = f.reconcile();
    }
    let all = text(&out);
    f.kubectl(&[
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("could not write the status and inventory"),
        "{all}"
    );
    assert!(all.contains("the test refuses this sync's parent"), "{all}");
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
fn render_and_validate_a_folder_without_a_cluster() {
    let dir = temp_dir("render");
    std::fs::write(dir.join("a.yaml"), config_map("a", "1")).unwrap();
    std::fs::write(dir.join("notes.md"), "ignored").unwrap();
    let out = plumb().arg("render").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("namespace: default"), "{}", text(&out));
    let out = plumb().arg("validate").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(dir.join("b.yaml"), "kind: ConfigMap\nmetadata: {name: b}\n").unwrap();
    let out = plumb().arg("validate").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("b.yaml:1 (document 0): document has no apiVersion"),
        "{}",
        text(&out)
    );
}

#[test]
fn status_reads_the_cluster() {
    let f = Fixture::new("status", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let out = plumb()
        .arg("status")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{}: rev ", f.sync))
            && text(&out).contains("Ready, 1 objects"),
        "{}",
        text(&out)
    );
}

fn signal(child: &std::process::Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits (bounded: only to catch hangs) until `check` holds.
#[test]
fn the_daemon_reconciles_on_sigusr1_refuses_a_broken_reload_and_stops_on_sigterm() {
    let f = Fixture::new("daemon", "");
    // A long interval: every cycle after the first is one the test asks for.
    let config = std::fs::read_to_string(&f.config).unwrap().replacen(
        "sources:",
        "interval: 1h\nsources:",
        1,
    );
    std::fs::write(&f.config, &config).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let log = std::fs::File::create(f.config.with_extension("log")).unwrap();
    let mut child = plumb()
        .arg("run")
        .arg("--config")
        .arg(&f.config)
        .stderr(log)
        .spawn()
        .unwrap();
    eventually("the first cycle", || f.get("configmap", "a").is_some());

    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    signal(&child, "USR1");
    eventually("SIGUSR1's cycle", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "2"
    });

    std::fs::write(&f.config, format!("{config}bogus: true\n")).unwrap();
    signal(&child, "HUP");
    let log_path = f.config.with_extension("log");
    eventually("the reload to be refused", || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .contains("the new configuration is refused")
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "a broken reload stopped the daemon"
    );
    // Hardening defect 4: a valid config whose kubeconfig is broken killed
    // the daemon; it is refused the same way.
    let broken = f.config.with_file_name("broken.kubeconfig");
    std::fs::write(&broken, "apiVersion: v1\nkind: Config\nclusters: [oops\n").unwrap();
    std::fs::write(
        &f.config,
        config.replace(
            &format!("kubeconfig: {}", f.cluster.kubeconfig("admin").display()),
            &format!("kubeconfig: {}", broken.display()),
        ),
    )
    .unwrap();
    signal(&child, "HUP");
    eventually("the broken kubeconfig to be refused", || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .matches("the new configuration is refused")
            .count()
            == 2
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "a reload with a broken kubeconfig stopped the daemon"
    );
    std::fs::write(&f.config, &config).unwrap();

    // The old config keeps running: another change still arrives.
    f.write("a.yaml", &config_map("a", "3"));
    f.commit();
    signal(&child, "USR1");
    eventually("a cycle after the refused reload", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "3"
    });

    signal(&child, "TERM");
    let mut code = None;
    eventually("the daemon to stop", || {
        code = child.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    assert_eq!(code.unwrap(), Some(0));
    let state = f
        .config
        .parent()
        .unwrap()
        .join("state/syncs")
        .join(format!("{}.json", f.sync));
    let memory: Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).expect("the state file is whole");
    assert!(memory["applied"].is_string());
}

/// Hardening defect 5: `plumb diff` showed prunes that reconcile would never
/// make. Both now decide through `prune::plan_one`: over an object that
/// lost the ApplySet label, one annotated `plumb.dev/prune: disabled`, a
/// Namespace holding someone else's object, and plumb-system itself, diff
/// predicts exactly reconcile's prunes and keeps.
#[test]
fn diff_predicts_the_prunes_and_keeps_reconcile_makes() {
    let f = Fixture::new("diffprune", "");
    let held = unique("held");
    f.write("plain.yaml", &config_map("plain", "1"));
    f.write(
        "disabled.yaml",
        &config_map("disabled", "1").replace(
            "  name: disabled\n",
            "  name: disabled\n  annotations: {plumb.dev/prune: disabled}\n",
        ),
    );
    f.write("relabelled.yaml", &config_map("relabelled", "1"));
    f.write(
        "held.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {held}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: {held}\ndata: {{a: b}}\n"),
    );
    f.write(
        "system.yaml",
        // Adopted: an earlier run's sync may have labelled it (it is never pruned).
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plumb-system\n  annotations: {plumb.dev/adopt: \"true\"}\n",
    );
    f.write("anchor.yaml", &config_map("anchor", "1"));
    f.commit();
    f.reconcile_ok();
    f.kubectl(&[
        "-n",
        &f.ns,
        "label",
        "configmap",
        "relabelled",
        "applyset.kubernetes.io/part-of-",
    ]);
    f.kubectl(&[
        "-n",
        &held,
        "create",
        "configmap",
        "not-ours",
        "--from-literal=x=y",
    ]);
    for file in [
        "plain.yaml",
        "disabled.yaml",
        "relabelled.yaml",
        "held.yaml",
        "system.yaml",
    ] {
        f.remove(file);
    }
    f.commit();
    let kept = |stderr: &str| -> Vec<String> {
        let mut lines: Vec<String> = stderr
            .lines()
            .filter_map(|l| l.split_once(": kept ").map(|(_, rest)| rest.to_owned()))
            .collect();
        lines.sort();
        lines
    };
    let diff = plumb()
        .arg("diff")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    let stdout = String::from_utf8_lossy(&diff.stdout).into_owned();
    // A deletion's hunk takes every line away.
    let mut predicted: Vec<&str> = stdout
        .split("--- ")
        .filter(|d| d.contains(" +0,0 @@"))
        .filter_map(|d| d.split(" (live)").next())
        .collect();
    predicted.sort();
    let predicted_kept = kept(&String::from_utf8_lossy(&diff.stderr));
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout_r = String::from_utf8_lossy(&out.stdout).into_owned();
    let made_kept = kept(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        predicted_kept,
        made_kept,
        "diff:\n{}\nreconcile:\n{}",
        text(&diff),
        text(&out)
    );
    assert_eq!(made_kept.len(), 4, "{}", text(&out));
    assert_eq!(
        predicted,
        {
            let mut expected = [
                format!("ConfigMap {held}/inside"),
                format!("ConfigMap {}/plain", f.ns),
            ];
            expected.sort();
            expected
        },
        "{stdout}\nreconcile: {}",
        text(&out)
    );
    assert!(stdout_r.contains("2 pruned"), "{}", text(&out));
    assert!(f.get("configmap", "plain").is_none());
    assert!(f.get("configmap", "disabled").is_some());
    assert!(f.get("configmap", "relabelled").is_some());
}

#[test]
fn diff_shows_what_would_change_and_exits_1() {
    let f = Fixture::new("diff", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.write("b.yaml", &config_map("b", "1"));
    f.commit();
    f.reconcile_ok();
    let diff = || {
        plumb()
            .arg("diff")
            .arg("--config")
            .arg(&f.config)
            .output()
            .unwrap()
    };
    let out = diff();
    assert_eq!(
        out.status.code(),
        Some(0),
        "nothing should change: {}",
        text(&out)
    );
    f.write("a.yaml", &config_map("a", "2"));
    f.remove("b.yaml");
    f.commit();
    let out = diff();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("-  key: '1'\n+  key: '2'")
            || shown.contains("-  key: \"1\"\n+  key: \"2\""),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("--- ConfigMap {}/b (live)", f.ns)),
        "{shown}"
    );
    assert!(
        !shown.contains("managedFields") && !shown.contains("resourceVersion"),
        "{shown}"
    );
    // diff changed nothing.
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    assert!(f.get("configmap", "b").is_some());
}

#[test]
fn check_reports_whether_each_source_answers() {
    let f = Fixture::new("checksrc", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ok   source 'repo': file://")
            && text(&out).contains("branch 'main' is at "),
        "{}",
        text(&out)
    );
    let broken = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("repo.git", "missing.git");
    std::fs::write(&f.config, broken).unwrap();
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("FAIL source 'repo': cannot fetch from file://"),
        "{}",
        text(&out)
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

#[test]
fn sigterm_in_the_middle_of_a_cycle_stops_promptly_and_leaves_whole_files() {
    let f = Fixture::new("sigterm", "    timeout: 120s\n");
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("wait: false", "wait: true");
    std::fs::write(&f.config, config).unwrap();
    // A Deployment whose Pods never become Ready (kwok's stage for the
    // label): the cycle waits on its health.
    f.write(
        "web.yaml",
        &DEPLOYMENT.replace(
            "      labels: {app: web}\n",
            "      labels: {app: web, plumb.test/never-ready: \"true\"}\n",
        ),
    );
    f.commit();
    let mut child = plumb()
        .arg("run")
        .arg("--config")
        .arg(&f.config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the apply", || f.get("deployment", "web").is_some());
    let stopped_at = std::time::Instant::now();
    signal(&child, "TERM");
    let mut code = None;
    eventually("the daemon to stop", || {
        code = child.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    // Generous bound: it only catches a daemon that waits for the 120 s health timeout.
    assert!(
        stopped_at.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        stopped_at.elapsed()
    );
    let state_dir = f.config.parent().unwrap().join("state");
    for entry in std::fs::read_dir(state_dir.join("sources/repo")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()).expect("whole JSON");
        }
        assert!(
            !path.to_string_lossy().ends_with(".tmp"),
            "a temp file was left: {}",
            path.display()
        );
    }
}

#[test]
fn the_daemon_tells_systemd_ready_status_and_pings_the_watchdog() {
    let f = Fixture::new("notify", "");
    let config = std::fs::read_to_string(&f.config).unwrap().replacen(
        "sources:",
        "interval: 1h\nsources:",
        1,
    );
    std::fs::write(&f.config, &config).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let socket_path = f.config.with_extension("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut child = plumb()
        .arg("run")
        .arg("--config")
        .arg(&f.config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let wanted = |seen: &[String]| {
        seen.iter().any(|m| m == "READY=1")
            && seen.iter().any(|m| {
                m.starts_with("STATUS=")
                    && m.contains(&format!("{}: rev ", f.sync))
                    && m.contains("Ready, 1 objects")
            })
            && seen.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2
    };
    while !wanted(&seen) {
        let n = socket
            .recv(&mut buf)
            .expect("a notification within the timeout");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    signal(&child, "TERM");
    loop {
        let n = socket
            .recv(&mut buf)
            .expect("STOPPING=1 within the timeout");
        if &buf[..n] == b"STOPPING=1" {
            break;
        }
    }
    child.wait().unwrap();
}

#[test]
fn a_planted_secret_never_appears_in_logs_events_status_or_diffs() {
    const PLANTED: &str = "planted-s3cret-7f3a9c";
    let f = Fixture::new("secret", "");
    f.write("secret.yaml", &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {PLANTED}\n"));
    f.commit();
    let mut seen = String::new();
    let run = |args: &[&str], seen: &mut String| {
        let out = plumb()
            .args(args)
            .arg("--config")
            .arg(&f.config)
            .env("PLUMB_LOG", "debug")
            .output()
            .unwrap();
        seen.push_str(&text(&out));
    };
    run(&["reconcile", "--log-format", "json"], &mut seen);
    assert!(f.get("secret", "creds").is_some(), "{seen}");
    // Drift on the Secret, then a change in Git: both reported, both diffed.
    f.kubectl(&[
        "-n",
        &f.ns,
        "patch",
        "secret",
        "creds",
        "--type=merge",
        "-p",
        r#"{"stringData":{"password":"edited-by-hand"}}"#,
    ]);
    run(&["diff"], &mut seen);
    run(&["reconcile"], &mut seen);
    f.write("secret.yaml", &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {PLANTED}-v2\n"));
    f.commit();
    run(&["diff"], &mut seen);
    run(&["reconcile", "--log-format", "json"], &mut seen);
    run(&["status"], &mut seen);
    seen.push_str(&text(&f.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "events",
        "-o",
        "yaml",
    ])));
    seen.push_str(&f.status().to_string());
    assert!(
        seen.contains("Secret"),
        "the runs said nothing about the Secret: {seen}"
    );
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(PLANTED);
    assert!(
        !seen.contains(PLANTED) && !seen.contains(&encoded[..16]),
        "the planted secret leaked:\n{seen}"
    );

    // Hostile input 7: Secrets of the wrong shape, whose API errors echo the
    // value, and a secretGenerator literal without '=': the value must reach
    // no output, Event, status, log or metric.
    let mut seen = String::new();
    let events = |seen: &mut String| {
        seen.push_str(&text(&f.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "events",
            "-o",
            "yaml",
        ])));
        seen.push_str(&f.status().to_string());
    };
    for (i, shape) in [
        format!("stringData: {PLANTED}-shape\n"),
        format!("stringData:\n  password: [{PLANTED}-shape]\n"),
        format!("data:\n  password: {PLANTED}-shape\n"),
    ]
    .iter()
    .enumerate()
    {
        f.write(
            "secret.yaml",
            &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n{shape}"),
        );
        f.write("marker.yaml", &config_map("marker", &i.to_string()));
        f.commit();
        let out = f.reconcile();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        seen.push_str(&text(&out));
        run(&["reconcile", "--log-format", "json"], &mut seen);
        events(&mut seen);
    }
    f.write("secret.yaml", "");
    f.write(
        "kustomization.yaml",
        &format!("resources: [marker.yaml]\nsecretGenerator:\n  - name: gen\n    literals: [{PLANTED}-literal]\n"),
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    seen.push_str(&text(&out));
    events(&mut seen);
    // The daemon's metrics, on a port of its own, after one cycle.
    let (port, mut daemon) = daemon_serving_metrics(&f);
    eventually("the daemon's metrics", || {
        let (code, body) = scrape(port, "/metrics");
        code == 200 && body.contains("plumb_reconciles_total")
    });
    seen.push_str(&scrape(port, "/metrics").1);
    let _ = daemon.kill();
    let out = daemon.wait_with_output().unwrap();
    seen.push_str(&text(&out));
    assert!(
        seen.contains("literal") && seen.contains("Secret"),
        "the runs said nothing about the Secrets: {seen}"
    );
    assert!(!seen.contains(PLANTED), "a planted secret leaked:\n{seen}");
}

/// Audit entries of every plumb node whose name starts with `prefix`: (node, verb, resource, timestamp).
fn writes_by_node(cluster: &Cluster, prefix: &str) -> Vec<(String, String, String, String)> {
    let log = std::fs::read_to_string(cluster.dir.join("audit.log")).unwrap();
    log.lines()
        .filter(|l| l.contains(prefix))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && !matches!(e["verb"].as_str(), Some("get" | "list" | "watch"))
        })
        .filter(|e| {
            !e["requestURI"]
                .as_str()
                .unwrap_or_default()
                .contains("dryRun=All")
        })
        .filter_map(|e| {
            let ua = e["userAgent"].as_str()?;
            let node = ua.split('(').nth(1)?.trim_end_matches(')').to_owned();
            Some((
                node,
                e["verb"].as_str()?.to_owned(),
                e["objectRef"]["resource"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["requestReceivedTimestamp"].as_str()?.to_owned(),
            ))
        })
        .filter(|(node, ..)| node.starts_with(prefix))
        .collect()
}

fn lease_holder(cluster: &Cluster) -> String {
    let out = cluster.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "lease",
        "plumb",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn three_nodes_elect_one_writer_and_a_standby_takes_over_when_it_dies() {
    let f = Fixture::new("leader", "");
    let prefix = unique("elect");
    // A Lease left by an earlier run (of another node name) would make the
    // test wait out its duration first.
    f.kubectl(&[
        "-n",
        "plumb-system",
        "delete",
        "lease",
        "plumb",
        "--ignore-not-found",
    ]);
    // Served over plain HTTP by the test Git servers, whose access log shows
    // which nodes (plumb's User-Agent names them) reached the Git server.
    let servers = common::git::Servers::get();
    let remote = common::git::Remote::create(&servers, "leader");
    let ns = f.ns.clone();
    let push = |value: &str| {
        remote.write(
            "manifests/a.yaml",
            config_map("a", value).replace("NS", &ns),
        );
        remote.commit_and_push(value);
    };
    let base = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace(
            "leaderElection: {enabled: false}",
            "leaderElection: {leaseDuration: 4s, renewEvery: 1s}",
        )
        .replace(
            &format!("file://{}", f.bare.display()),
            &servers.http_url(&remote),
        )
        .replacen("sources:", "interval: 2s\nsources:", 1);
    push("1");
    let mut nodes: Vec<(String, KillOnDrop)> = (0..4)
        .map(|i| {
            let node = format!("{prefix}-{i}");
            let path = f.node_config(&base, &node);
            (node, path)
        })
        .collect::<Vec<_>>()
        .into_iter()
        // The fourth node runs no daemon: it is for the one-shot run below.
        .take(3)
        .map(|(node, path)| {
            let log = std::fs::File::create(path.with_file_name("log")).unwrap();
            let child = plumb()
                .arg("run")
                .arg("--config")
                .arg(&path)
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            (node, KillOnDrop(child))
        })
        .collect();
    eventually("the first apply", || f.get("configmap", "a").is_some());
    eventually("a leader", || lease_holder(&f.cluster).starts_with(&prefix));
    let leader = lease_holder(&f.cluster);
    // Let a few cycles and renewals pass, then check that only the leader wrote anything but the Lease.
    push("2");
    eventually("the change", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "2"
    });
    let writers: std::collections::BTreeSet<String> = writes_by_node(&f.cluster, &prefix)
        .into_iter()
        .filter(|(_, _, r, _)| r != "leases" && r != "namespaces")
        .map(|(n, ..)| n)
        .collect();
    assert!(
        writers.len() == 1 && writers.contains(&leader),
        "only the leader may write: {writers:?}"
    );

    // kill -9 the leader: another takes over within about a lease duration.
    let (_, child) = nodes.iter_mut().find(|(n, _)| *n == leader).unwrap();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    push("3");
    eventually("a new leader", || {
        let h = lease_holder(&f.cluster);
        h.starts_with(&prefix) && h != leader
    });
    eventually("the new leader's apply", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "3"
    });
    let new_leader = lease_holder(&f.cluster);

    // A one-shot run on a fourth node names the holder and writes nothing.
    let one_shot = f
        .config
        .parent()
        .unwrap()
        .join(format!("{prefix}-3"))
        .join("plumb.yaml");
    let out = plumb()
        .arg("reconcile")
        .arg("--config")
        .arg(&one_shot)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("node '{new_leader}' holds the leader lease")),
        "{}",
        text(&out)
    );
    drop(nodes);
    // No two nodes wrote objects in overlapping windows (by the API server's clock).
    let mut windows: std::collections::BTreeMap<String, (String, String)> =
        std::collections::BTreeMap::new();
    for (node, _, resource, at) in writes_by_node(&f.cluster, &prefix) {
        if resource == "leases" || resource == "namespaces" {
            continue;
        }
        let w = windows.entry(node).or_insert((at.clone(), at.clone()));
        if at < w.0 {
            w.0 = at.clone();
        }
        if at > w.1 {
            w.1 = at;
        }
    }
    let spans: Vec<&(String, String)> = windows.values().collect();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            assert!(a.1 < b.0 || b.1 < a.0, "overlapping writers: {windows:?}");
        }
    }
    assert!(
        windows.len() >= 2,
        "the takeover wrote nothing: {windows:?}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET on the daemon's listener: (status, body); status 0 when nothing answers.
fn scrape(port: u16, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    match agent.get(format!("http://127.0.0.1:{port}{path}")).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// The value of one sample line in a scrape, e.g. `plumb_reconciles_total{sync="x",result="ready"}`.
/// `plumb run` on the fixture's config with a metrics listener on a free
/// port (output piped); returns the port and the daemon.
fn daemon_serving_metrics(f: &Fixture) -> (u16, std::process::Child) {
    let port = free_port();
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("listen: ''", &format!("listen: 127.0.0.1:{port}"));
    let daemon_config = f.config.with_file_name("daemon.yaml");
    std::fs::write(&daemon_config, config).unwrap();
    let daemon = plumb()
        .arg("run")
        .arg("--config")
        .arg(&daemon_config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (port, daemon)
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[test]
fn metrics_health_and_readiness_are_served_by_the_daemon() {
    let f = Fixture::new("metrics", "");
    let port = free_port();
    let good = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("listen: ''", &format!("listen: '127.0.0.1:{port}'"))
        .replacen("sources:", "interval: 1h\nsources:", 1);
    // First against an API server that isn't there: alive, not ready.
    let unreachable = f.config.with_file_name("nowhere.kubeconfig");
    std::fs::write(&unreachable, "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: x}\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\n").unwrap();
    let bad = good.replace(
        &f.cluster.kubeconfig("admin").display().to_string(),
        &unreachable.display().to_string(),
    );
    let bad_path = f.config.with_file_name("bad.yaml");
    std::fs::write(&bad_path, &bad).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    // A planted secret that must never reach the metrics.
    f.write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: planted\nstringData:\n  password: planted-m3trics-secret\n");
    f.commit();
    {
        let _daemon = KillOnDrop(
            plumb()
                .arg("run")
                .arg("--config")
                .arg(&bad_path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        eventually("/healthz", || scrape(port, "/healthz").0 == 200);
        assert_eq!(
            scrape(port, "/readyz").0,
            503,
            "ready without ever reaching the cluster"
        );
        let (code, text) = scrape(port, "/metrics");
        assert_eq!(code, 200);
        assert!(
            text.contains("plumb_api_requests_total{verb=") && text.contains("code=\"none\""),
            "{text}"
        );
    }
    std::fs::write(&f.config, &good).unwrap();
    let daemon = KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&f.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = format!(
        "plumb_reconciles_total{{sync=\"{}\",result=\"ready\"}}",
        f.sync
    );
    eventually("a ready cycle in the metrics", || {
        sample(&scrape(port, "/metrics").1, &ready) == Some(1.0)
    });
    assert_eq!(scrape(port, "/readyz").0, 200);
    let text = scrape(port, "/metrics").1;
    assert_eq!(
        sample(
            &text,
            &format!("plumb_objects_managed{{sync=\"{}\"}}", f.sync)
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("plumb_objects_applied_total{{sync=\"{}\"}}", f.sync)
        ),
        Some(2.0),
        "{text}"
    );
    for series in [
        format!("plumb_leader{{sync=\"{}\"}}", f.sync),
        format!(
            "plumb_reconcile_duration_seconds_count{{sync=\"{}\"}}",
            f.sync
        ),
        "plumb_source_fetch_duration_seconds_count{source=\"repo\"}".to_owned(),
    ] {
        assert_eq!(sample(&text, &series), Some(1.0), "{series} in\n{text}");
    }
    assert!(
        text.contains(&format!(
            "plumb_applied_revision_info{{sync=\"{}\",revision=\"",
            f.sync
        )),
        "{text}"
    );
    assert!(
        sample(&text, "plumb_resident_memory_bytes").unwrap() > 1e6,
        "{text}"
    );
    let patches = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("plumb_api_requests_total{verb=\"patch\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let patches_before = patches(&text);
    assert!(patches_before > 0.0, "{text}");
    // Values move: a change and SIGUSR1 make a second cycle that applies one object.
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    signal(&daemon.0, "USR1");
    eventually("the second cycle", || {
        sample(&scrape(port, "/metrics").1, &ready) == Some(2.0)
    });
    let text = scrape(port, "/metrics").1;
    assert_eq!(
        sample(
            &text,
            &format!("plumb_objects_applied_total{{sync=\"{}\"}}", f.sync)
        ),
        Some(3.0),
        "{text}"
    );
    assert!(patches(&text) > patches_before, "{text}");
    assert!(
        !text.contains("password") && !text.contains("token"),
        "{text}"
    );
}

/// Hostile input 11: an API server that went away mid-apply got every
/// remaining object tried (84 s, 301 near-identical errors). After a few
/// connection failures the cycle stops, says so once, and the next retries.
#[test]
fn an_api_server_gone_mid_apply_stops_the_cycle_after_a_few_failures() {
    let _exclusive = CLUSTER_IN_USE.write().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::without_lock("gone", "");
    for i in 0..300 {
        f.write(
            &format!("cm-{i}.yaml"),
            &config_map(&format!("cm-{i}"), "1"),
        );
    }
    f.commit();
    let child = f.spawn_reconcile();
    // The first objects are in: now the API server goes away for 20 s.
    eventually("the apply to start", || {
        let out = f.kubectl(&["-n", &f.ns, "get", "configmaps", "-o", "name"]);
        text(&out).lines().count() > 3
    });
    let repo_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let outage = std::thread::spawn({
        let dir = f.cluster.dir.clone();
        move || {
            Command::new("bash")
                .arg(repo_root.join("tests/cluster.sh"))
                .args(["restart-apiserver", "20"])
                .env("PLUMB_TEST_CLUSTER", dir)
                .output()
                .unwrap()
        }
    });
    let out = child.wait_with_output().unwrap();
    let restarted = outage.join().unwrap();
    assert!(restarted.status.success(), "{}", text(&restarted));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let unreachable = all.matches("cannot reach the API server").count();
    assert!(
        (1..=2 * 3 + 6).contains(&unreachable),
        "{unreachable} connection errors reported:\n{all}"
    );
    assert!(all.contains("the API server stopped answering"), "{all}");
    // The next cycle finishes the job.
    let out = f.reconcile_ok();
    assert!(out.contains("Ready"), "{out}");
}

#[test]
fn an_api_server_outage_causes_no_double_leadership() {
    let _exclusive = CLUSTER_IN_USE.write().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::without_lock("outage", "");
    let prefix = unique("outage");
    // A Lease left by an earlier run (of another node name) would make the
    // test wait out its duration first.
    f.kubectl(&[
        "-n",
        "plumb-system",
        "delete",
        "lease",
        "plumb",
        "--ignore-not-found",
    ]);
    let base = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace(
            "leaderElection: {enabled: false}",
            "leaderElection: {leaseDuration: 4s, renewEvery: 1s}",
        )
        .replacen("sources:", "interval: 2s\nsources:", 1);
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let nodes: Vec<KillOnDrop> = (0..2)
        .map(|i| {
            let path = f.node_config(&base, &format!("{prefix}-{i}"));
            let log = std::fs::File::create(path.with_file_name("log")).unwrap();
            KillOnDrop(
                plumb()
                    .arg("run")
                    .arg("--config")
                    .arg(&path)
                    .stdout(std::process::Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    eventually("the first apply", || f.get("configmap", "a").is_some());
    // Longer than the lease: the holder's gate closes while nobody can renew.
    let repo_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let out = Command::new("bash")
        .arg(repo_root.join("tests/cluster.sh"))
        .args(["restart-apiserver", "6"])
        .env("PLUMB_TEST_CLUSTER", &f.cluster.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    eventually("an apply after the outage", || {
        f.get("configmap", "a")
            .is_some_and(|c| c["data"]["key"] == "2")
    });
    drop(nodes);
    // Writes (other than the Lease's) by each node, in time order: the writer
    // changes at most once per takeover, and never back and forth in one burst.
    // (Every node makes sure plumb-system exists when it starts, before any
    // election: that bootstrap write is not leadership.)
    let writes: Vec<(String, String)> = writes_by_node(&f.cluster, &prefix)
        .into_iter()
        .filter(|(_, _, r, _)| r != "leases" && r != "namespaces")
        .map(|(node, _, _, at)| (at, node))
        .collect();
    let mut sorted = writes.clone();
    sorted.sort();
    let mut switches = 0;
    for pair in sorted.windows(2) {
        if pair[0].1 != pair[1].1 {
            switches += 1;
        }
    }
    assert!(
        switches <= 1,
        "writers alternated, a sign of double leadership: {sorted:?}"
    );
}

/// A base outside the sync's folder: a Deployment reading a generated ConfigMap.
fn kustomize_base(f: &Fixture, greeting: &str) {
    f.write(
        "../base/kustomization.yaml",
        &format!("resources: [deploy.yaml]\nconfigMapGenerator:\n  - name: web-config\n    literals: [greeting={greeting}]\n"),
    );
    f.write(
        "../base/deploy.yaml",
        &DEPLOYMENT.replace(
            "          ports:",
            "          envFrom:\n            - configMapRef: {name: web-config}\n          ports:",
        ),
    );
}

/// The generated ConfigMap's name and the one the Deployment refers to.
fn generated_names(f: &Fixture) -> (Vec<String>, String) {
    let out = f.kubectl(&["-n", &f.ns, "get", "configmaps", "-o", "name"]);
    let names = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("configmap/"))
        .filter(|n| n.starts_with("prod-web-config-"))
        .map(str::to_owned)
        .collect();
    let deploy = f.get("deployment", "prod-web").expect("prod-web applied");
    let referred = deploy["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
        ["configMapRef"]["name"]
        .as_str()
        .expect("envFrom kept")
        .to_owned();
    (names, referred)
}

/// What `kubectl kustomize` names the generated ConfigMap, for the same tree.
fn kubectl_kustomize_name(f: &Fixture) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(f.work.join("manifests"))
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl kustomize: {}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix("name: "))
        .find(|n| n.starts_with("prod-web-config-"))
        .expect("kubectl kustomize generates the ConfigMap")
        .to_owned()
}

#[test]
fn a_kustomize_overlay_over_a_base_elsewhere_in_the_repository_is_applied_and_rolls() {
    let f = Fixture::new("kustomize", "");
    kustomize_base(&f, "hello");
    f.write(
        "kustomization.yaml",
        "resources: [../base]\nnamePrefix: prod-\ncommonLabels: {tier: web}\n",
    );
    // Beside a kustomization, plain YAML is not read (as with kustomize).
    f.write("stray.yaml", &config_map("stray", "1"));
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("2 applied"), "{out}");
    assert!(
        f.get("configmap", "stray").is_none(),
        "a file beside the kustomization was applied"
    );
    let (names, referred) = generated_names(&f);
    assert_eq!(
        names,
        [kubectl_kustomize_name(&f)],
        "the hash differs from kustomize's"
    );
    assert_eq!(
        referred, names[0],
        "the Deployment does not follow the generated name"
    );
    let deploy = f.get("deployment", "prod-web").unwrap();
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["tier"], "web");
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"]["tier"],
        "web"
    );

    // A new literal: a new name, the Deployment follows, the old one is pruned.
    kustomize_base(&f, "bonjour");
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("1 pruned"), "{out}");
    let (after, referred) = generated_names(&f);
    assert_eq!(after, [kubectl_kustomize_name(&f)]);
    assert_ne!(
        after, names,
        "the generated name did not change with its data"
    );
    assert_eq!(referred, after[0]);
}

#[test]
fn a_broken_kustomization_applies_nothing_and_names_file_and_field() {
    let f = Fixture::new("kustomize-broken", "");
    f.write("kustomization.yaml", "resources: [cm.yaml]\n");
    f.write("cm.yaml", &config_map("first", "1"));
    f.commit();
    f.reconcile_ok();
    f.write("cm.yaml", &config_map("first", "2"));
    f.write(
        "kustomization.yaml",
        "resources: [cm.yaml]\nnamePrefixx: x-\n",
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = text(&out);
    assert!(
        message.contains("manifests/kustomization.yaml") && message.contains("namePrefixx"),
        "{message}"
    );
    assert_eq!(
        f.get("configmap", "first").unwrap()["data"]["key"],
        "1",
        "a broken revision was applied"
    );
}

#[test]
fn render_kustomize_external_runs_the_nodes_kubectl_and_fails_clearly_without_one() {
    let f = Fixture::new("kustomize-external", "    render: kustomize-external\n");
    // `replacements` is outside the built-in set.
    f.write(
        "kustomization.yaml",
        "resources: [cm.yaml]\nreplacements:\n  - source: {kind: ConfigMap, name: source, fieldPath: data.key}\n    targets:\n      - select: {kind: ConfigMap, name: target}\n        fieldPaths: [data.key]\n",
    );
    f.write(
        "cm.yaml",
        &format!(
            "{}---\n{}",
            config_map("source", "from-source"),
            config_map("target", "unset")
        ),
    );
    f.commit();
    let runtime = temp_dir("kustomize-runtime");
    let run = |path: &str| {
        plumb()
            .arg("reconcile")
            .arg("--config")
            .arg(&f.config)
            .env("RUNTIME_DIRECTORY", &runtime)
            .env("PATH", path)
            .output()
            .unwrap()
    };
    // Only git on PATH (file:// needs it): a clear error, nothing applied.
    let only_git = temp_dir("only-git");
    std::os::unix::fs::symlink(
        String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v git"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
        only_git.join("git"),
    )
    .unwrap();
    let out = run(only_git.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("needs `kustomize` or `kubectl` on PATH"),
        "{}",
        text(&out)
    );
    assert!(f.get("configmap", "target").is_none());

    // Hardening defect 4: a program that hangs is stopped at the sync's
    // timeout (here 3 s), with nothing applied.
    let hanging = temp_dir("hanging-kubectl");
    std::fs::write(hanging.join("kubectl"), "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(
        hanging.join("kubectl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink(only_git.join("git"), hanging.join("git")).unwrap();
    let config = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, format!("{config}    timeout: 3s\n")).unwrap();
    let out = run(&format!("{}:/usr/bin:/bin", hanging.display()));
    std::fs::write(&f.config, &config).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("did not finish within 3s"),
        "{}",
        text(&out)
    );
    assert!(f.get("configmap", "target").is_none());

    let out = run(&std::env::var("PATH").unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        f.get("configmap", "target").unwrap()["data"]["key"],
        "from-source"
    );
    // The revision was written out once, under the runtime folder.
    let written: Vec<_> = std::fs::read_dir(runtime.join(&f.sync)).unwrap().collect();
    assert_eq!(written.len(), 1, "{written:?}");
    // Its build is kept: the next cycle of the same revision starts no program.
    let out = run(only_git.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_git_server_trickling_its_answer_fails_the_reconcile_at_fetch_timeout() {
    let f = Fixture::new("trickle", "");
    let servers = common::git::Servers::get();
    let remote = common::git::Remote::create(&servers, "trickle");
    remote.write("manifests/a.yaml", config_map("a", "1"));
    remote.commit_and_push("first");
    let proxy = common::git::Proxy::start(servers.daemon_addr());
    proxy.trickle_after(0, std::time::Duration::from_millis(200));
    let config = std::fs::read_to_string(&f.config).unwrap().replace(
        &format!("url: file://{}", f.bare.display()),
        &format!(
            "url: git://127.0.0.1:{}/{}.git\n    timeout: 5s\n    fetchTimeout: 3s",
            proxy.port, remote.name
        ),
    );
    std::fs::write(&f.config, config).unwrap();
    let mut child = f.spawn_reconcile();
    let started = std::time::Instant::now();
    // Without a deadline over the whole poll, a byte every 200 ms keeps it going for good.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("plumb reconcile was still polling the trickling server after 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("took longer than fetchTimeout (3s)"),
        "{said}"
    );
    assert!(
        f.get("configmap", "a").is_none(),
        "applied from a cut-off poll"
    );
}
