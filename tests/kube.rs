//! Our Kubernetes client against the real kube-apiserver of tests/cluster.sh.

mod common;

use std::time::Duration;

use common::{temp_dir, unique, Cluster};
use plumb::kube::{kubeconfig, ApiResource, ApplyOptions, Client, Error, Propagation, RetryPolicy};
use serde_json::{json, Value};

fn config_map(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns}, "data": data})
}

fn client_for(kubeconfig_text: &str) -> Result<Client, Error> {
    let dir = temp_dir("kc");
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig_text).unwrap();
    let conn = kubeconfig::read(&path, None).unwrap();
    Ok(Client::new(&conn, "plumb-tests")?.with_retry(RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
        budget: Duration::from_secs(2),
    }))
}

fn kubeconfig_with(cluster: &Cluster, cluster_extra: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster:\n    server: {}\n{cluster_extra}\nusers:\n- name: u\n  user:\n{user}\ncontexts:\n- name: t\n  context: {{cluster: c, user: u}}\n",
        cluster.server
    )
}

fn ca_line(cluster: &Cluster) -> String {
    format!(
        "    certificate-authority: {}",
        cluster.pki("ca.crt").display()
    )
}

#[test]
fn token_auth_reads_the_server_version() {
    let cluster = Cluster::get();
    let v = cluster.client("admin").version().unwrap();
    assert!(v.git_version.starts_with("v1."), "{v:?}");
}

#[test]
fn token_file_auth_works() {
    let cluster = Cluster::get();
    let dir = temp_dir("tokenfile");
    let token = dir.join("token");
    std::fs::write(&token, format!("{}\n", cluster.admin_token())).unwrap();
    let kc = kubeconfig_with(
        &cluster,
        &ca_line(&cluster),
        &format!("    tokenFile: {}", token.display()),
    );
    let client = client_for(&kc).unwrap();
    let namespaces = client.list(&ApiResource::namespace(), None, None).unwrap();
    assert!(namespaces
        .iter()
        .any(|n| n["metadata"]["name"] == "default"));
}

#[test]
fn client_certificate_auth_works_with_rsa_and_ec_keys() {
    let cluster = Cluster::get();
    // The script's kubeconfig carries the RSA (PKCS#8) key inline.
    let client = cluster.client("cert-admin");
    assert!(client
        .get(&ApiResource::namespace(), None, "default")
        .unwrap()
        .is_some());
    // The EC (SEC1) key by path.
    let user = format!(
        "    client-certificate: {}\n    client-key: {}",
        cluster.pki("cert-ec.crt").display(),
        cluster.pki("cert-ec.key").display()
    );
    let client = client_for(&kubeconfig_with(&cluster, &ca_line(&cluster), &user)).unwrap();
    assert!(client
        .get(&ApiResource::namespace(), None, "default")
        .unwrap()
        .is_some());
}

#[test]
fn an_x509_v1_client_certificate_is_an_error_not_a_crash() {
    let cluster = Cluster::get();
    let user = format!(
        "    client-certificate: {}\n    client-key: {}",
        cluster.pki("cert-v1.crt").display(),
        cluster.pki("cert-admin.key").display()
    );
    let err = client_for(&kubeconfig_with(&cluster, &ca_line(&cluster), &user))
        .err()
        .expect("a v1 certificate is refused");
    assert!(err.to_string().contains("X.509 v3 is required"), "{err}");
}

#[test]
fn a_wrong_ca_is_refused_and_named() {
    let cluster = Cluster::get();
    let wrong = cluster.pki("wrong-ca.crt");
    let kc = kubeconfig_with(
        &cluster,
        &format!("    certificate-authority: {}", wrong.display()),
        &format!("    token: {}", cluster.admin_token()),
    );
    let err = client_for(&kc).unwrap().version().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(text.contains("not signed by"), "{text}");
    assert!(text.contains(&cluster.server), "{text}");
}

#[test]
fn a_bad_token_says_the_credentials_were_rejected() {
    let cluster = Cluster::get();
    let kc = kubeconfig_with(&cluster, &ca_line(&cluster), "    token: not-a-valid-token");
    let err = client_for(&kc)
        .unwrap()
        .list(&ApiResource::namespace(), None, None)
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("rejected the credentials (401"), "{text}");
    assert!(
        !text.contains("not-a-valid-token"),
        "the token leaked: {text}"
    );
}

#[test]
fn forbidden_names_verb_resource_and_namespace() {
    let cluster = Cluster::get();
    let client = cluster.client("restricted");
    // Allowed: get and list configmaps in default.
    client
        .list(&ApiResource::config_map(), Some("default"), None)
        .unwrap();
    let err = client
        .apply(
            &ApiResource::config_map(),
            &config_map("default", "nope", json!({"a": "b"})),
            ApplyOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("not allowed to patch configmaps 'nope' in namespace 'default'"),
        "{text}"
    );
}

#[test]
fn unreachable_server_is_named() {
    let kc = "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: x}\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\n";
    let err = client_for(kc).unwrap().version().unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("cannot reach the API server at https://127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn discovery_finds_a_crd_created_during_the_test() {
    let cluster = Cluster::get();
    let client = cluster.client("admin");
    let group = format!("{}.plumb.test", unique("g"));
    let api_version = format!("{group}/v1");
    // Looked up (and cached as absent) before the CRD exists.
    let err = client.resolve(&api_version, "Widget").unwrap_err();
    assert!(matches!(err, Error::UnknownKind { .. }), "{err:?}");
    assert!(err.to_string().contains("not served"), "{err}");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    client
        .apply(
            &ApiResource::crd(),
            &crd,
            ApplyOptions {
                force: true,
                dry_run: false,
            },
        )
        .unwrap();
    // The API server serves a new group a moment after Established.
    let mut found = None;
    for _ in 0..100 {
        match client.resolve(&api_version, "Widget") {
            Ok(r) => {
                found = Some(r);
                break;
            }
            Err(Error::UnknownKind { .. }) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("{e}"),
        }
    }
    let widget = found.expect("the new kind is discovered");
    assert_eq!(widget.plural, "widgets");
    assert!(widget.namespaced);
    let ns = cluster.namespace("disc");
    let obj = json!({"apiVersion": api_version, "kind": "Widget",
                     "metadata": {"name": "w", "namespace": ns}, "spec": {"size": 3}});
    client
        .apply(&widget, &obj, ApplyOptions::default())
        .unwrap();
    assert!(client.get(&widget, Some(&ns), "w").unwrap().is_some());
}

#[test]
fn server_side_apply_creates_leaves_alone_and_changes() {
    let cluster = Cluster::get();
    let client = cluster.client("admin");
    let ns = cluster.namespace("ssa");
    let cm = ApiResource::config_map();
    let created = client
        .apply(
            &cm,
            &config_map(&ns, "app", json!({"a": "1"})),
            ApplyOptions::default(),
        )
        .unwrap();
    let rv1 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let managers: Vec<&str> = created["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["plumb"]);
    let same = client
        .apply(
            &cm,
            &config_map(&ns, "app", json!({"a": "1"})),
            ApplyOptions::default(),
        )
        .unwrap();
    assert_eq!(
        same["metadata"]["resourceVersion"],
        rv1.as_str(),
        "a no-op apply must not write"
    );
    let changed = client
        .apply(
            &cm,
            &config_map(&ns, "app", json!({"a": "2"})),
            ApplyOptions::default(),
        )
        .unwrap();
    assert_ne!(changed["metadata"]["resourceVersion"], rv1.as_str());
    let live = client.get(&cm, Some(&ns), "app").unwrap().unwrap();
    assert_eq!(live["data"]["a"], "2");
}

#[test]
fn dry_run_leaves_nothing_behind() {
    let cluster = Cluster::get();
    let client = cluster.client("admin");
    let ns = cluster.namespace("dry");
    let cm = ApiResource::config_map();
    let answer = client
        .apply(
            &cm,
            &config_map(&ns, "ghost", json!({"a": "1"})),
            ApplyOptions {
                force: true,
                dry_run: true,
            },
        )
        .unwrap();
    assert_eq!(answer["data"]["a"], "1");
    assert!(client.get(&cm, Some(&ns), "ghost").unwrap().is_none());
    // An invalid object is rejected by the dry run with the field named.
    let err = client
        .apply(
            &cm,
            &config_map(&ns, "Bad_Name", json!({})),
            ApplyOptions {
                force: true,
                dry_run: true,
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("Bad_Name"), "{err}");
}

#[test]
fn conflict_names_the_other_field_manager() {
    let cluster = Cluster::get();
    let client = cluster.client("admin");
    let ns = cluster.namespace("conflict");
    cluster.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=intruder",
            "-f",
            "-",
        ],
        Some(&config_map(&ns, "shared", json!({"a": "theirs"})).to_string()),
    );
    let cm = ApiResource::config_map();
    let ours = config_map(&ns, "shared", json!({"a": "ours"}));
    let err = client
        .apply(&cm, &ours, ApplyOptions::default())
        .unwrap_err();
    match &err {
        Error::ApplyConflict { managers, .. } => assert_eq!(managers, &["intruder"]),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("intruder"), "{err}");
    let forced = client
        .apply(
            &cm,
            &ours,
            ApplyOptions {
                force: true,
                dry_run: false,
            },
        )
        .unwrap();
    assert_eq!(forced["data"]["a"], "ours");
}

#[test]
fn list_follows_pages_past_500_objects() {
    let cluster = Cluster::get();
    let client = cluster.client("admin");
    let ns = cluster.namespace("page");
    let cm = ApiResource::config_map();
    let total = 520;
    std::thread::scope(|s| {
        for part in 0..4 {
            let (client, ns, cm) = (&client, &ns, &cm);
            s.spawn(move || {
                for i in (part..total).step_by(4) {
                    let mut obj = config_map(ns, &format!("cm-{i}"), json!({"i": i.to_string()}));
                    obj["metadata"]["labels"] = json!({"page-test": "yes"});
                    client.apply(cm, &obj, ApplyOptions::default()).unwrap();
                }
            });
        }
    });
    let all = client.list(&cm, Some(&ns), Some("page-test=yes")).unwrap();
    assert_eq!(all.len(), total);
    let metadata_only = client
        .list_metadata(&cm, Some(&ns), Some("page-test=yes"))
        .unwrap();
    assert_eq!(metadata_only.len(), total);
    assert!(
        metadata_only[0].get("data").is_none(),
        "metadata-only list carried data"
    );
    assert!(metadata_only[0]["metadata"]["resourceVersion"].is_string());
    assert!(client
        .list(&cm, Some(&ns), Some("page-test=no"))
        .unwrap()
        .is_empty());
}

#[test]
fn delete_removes_and_reports_absence() {
    let cluster = Cluster::get();
    let client = cluster.client("admin");
    let ns = cluster.namespace("del");
    let cm = ApiResource::config_map();
    client
        .apply(
            &cm,
            &config_map(&ns, "doomed", json!({})),
            ApplyOptions::default(),
        )
        .unwrap();
    assert!(client
        .delete(&cm, Some(&ns), "doomed", Propagation::Background)
        .unwrap());
    assert!(client.get(&cm, Some(&ns), "doomed").unwrap().is_none());
    assert!(!client
        .delete(&cm, Some(&ns), "doomed", Propagation::Background)
        .unwrap());
}

#[test]
fn access_review_answers_for_each_identity() {
    let cluster = Cluster::get();
    let question = plumb::kube::AccessQuestion {
        verb: "delete",
        group: "".into(),
        resource: "configmaps".into(),
        namespace: Some("default".into()),
    };
    assert!(cluster.client("admin").may(&question).unwrap().allowed);
    assert!(!cluster.client("restricted").may(&question).unwrap().allowed);
    let list = plumb::kube::AccessQuestion {
        verb: "list",
        ..question
    };
    assert!(cluster.client("restricted").may(&list).unwrap().allowed);
}

/// Hostile input 20: past about 14,000 objects a sync's inventory, one JSON line per object
/// in its parent ConfigMap, outgrew what the API server takes, so nothing applied could
/// ever be pruned. Written compressed, 20,000 are accepted and read back whole, and the
/// same inventory written again is no write at all.
#[test]
fn an_inventory_of_20000_objects_is_accepted_by_the_api_server_and_read_back() {
    use plumb::prune::Inventory;
    use plumb::render::ObjectRef;
    use plumb::report;
    let cluster = Cluster::get();
    let client = cluster.client("admin");
    let sync = unique("inventory");
    let inventory = Inventory {
        members: (0..20_000)
            .map(|i| ObjectRef {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: format!("team-{}", i % 13),
                name: format!("service-{i:06}-deployment"),
            })
            .collect(),
    };
    report::ensure_system_namespace(&client).unwrap();
    let status = report::SyncStatus::default();
    let plain = {
        let mut p = report::parent_object(&sync, &inventory, &status);
        p["data"]["inventory"] = json!(inventory.encode());
        p.as_object_mut().unwrap().remove("binaryData");
        p
    };
    // The text alone is refused: what the old format did at this count.
    let refused = client.apply(&ApiResource::config_map(), &plain, ApplyOptions::default());
    assert!(
        refused.is_err(),
        "a {} byte inventory was accepted",
        inventory.encode().len()
    );
    let desired = report::parent_object(&sync, &inventory, &status);
    assert!(report::write_parent(&client, None, &desired).unwrap());
    let live = report::get_parent(&client, &sync).unwrap();
    let (read, _) = report::read_parent(live.as_ref()).unwrap();
    assert_eq!(read.members.len(), 20_000);
    assert_eq!(read, inventory);
    assert!(
        !report::write_parent(&client, live.as_ref(), &desired).unwrap(),
        "the same inventory was written again"
    );
    client
        .delete(
            &ApiResource::config_map(),
            Some("plumb-system"),
            &format!("plumb-{sync}"),
            Propagation::Background,
        )
        .unwrap();
}
