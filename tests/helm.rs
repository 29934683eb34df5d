//! Helm charts end to end: the `plumb` binary, a real Git repository (file://)
//! per test, the test cluster, and the real `helm` CLI (Helm v3.22, built by
//! `tests/tools/build.sh helm`) as the reference. A chart folder in a sync is
//! rendered as `helm template <sync> DIR --namespace <sync's namespace>` with
//! its default values; its objects go through apply, prune and drift like any
//! other, and its generated values (`randAlphaNum`, `genCA`) are seeded by the
//! cluster's key in plumb-system/plumb-chart-seed.
//!
//! The fixture charts are ours (tests/fixtures/helm/): `web`, a Deployment, a
//! Service and ConfigMaps through `_helpers.tpl`, `include`, `toYaml | nindent`
//! and `tpl`, with a `cache` subchart whose default the parent overrides; and
//! `generated`, a Secret holding a random password and a CA. A missing helm is
//! a failure, never a skip. `render: helm-external` runs that helm from the plumb
//! process's PATH, and `plumb render DIR --values FILE` is compared with
//! `helm template DIR --values FILE`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::Engine as _;
use common::fixture::*;
use common::{
    built_tool, eventually, plumb, repo_root, temp_dir, text, unique, Cluster, KillOnDrop,
};
use serde::Deserialize;
use serde_json::Value;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Copies the fixture chart `chart` to `manifests/<folder>` of the test's
/// work tree; returns that folder.
fn add_chart(f: &Fixture, chart: &str, folder: &str) -> PathBuf {
    let to = f.work.join("manifests").join(folder);
    copy_dir(&repo_root().join("tests/fixtures/helm").join(chart), &to);
    to
}

/// Writes `manifests/<path>` verbatim (`Fixture::write` replaces "NS").
fn put(f: &Fixture, path: &str, content: &str) {
    let path = f.work.join("manifests").join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// The pinned `helm` binary.
fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| built_tool("helm", "helm"))
}

/// `helm template <release> <dir> --namespace <ns>`: its objects, or its error.
fn helm_template(release: &str, dir: &Path, ns: &str) -> Result<Vec<Value>, String> {
    let home = temp_dir("helm-home");
    let out = Command::new(helm())
        .arg("template")
        .arg(release)
        .arg(dir)
        .args(["--namespace", ns])
        .env("HOME", &home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(documents(&String::from_utf8_lossy(&out.stdout)))
    } else {
        Err(text(&out))
    }
}

/// The objects of a multi-document YAML stream (empty documents left out).
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{e} in:\n{yaml}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// `plumb render` with these arguments: its objects.
fn plumb_render(args: &[&std::ffi::OsStr]) -> Vec<Value> {
    let out = plumb().arg("render").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "plumb render: {}", text(&out));
    documents(&String::from_utf8_lossy(&out.stdout))
}

/// (kind, name) of an object.
fn key(o: &Value) -> (String, String) {
    (
        o["kind"].as_str().unwrap_or_default().to_owned(),
        o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Where `got` lacks a field of `want` or holds another value (the API
/// server adds defaults, so the live object may have more).
fn missing(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                match g.get(k) {
                    Some(gv) => missing(v, gv, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k}: not live; rendered {v}")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                missing(wv, gv, &format!("{at}[{i}]"), out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{at}: live {got}, rendered {want}")),
    }
}

/// The objects plumb applied in the test's namespace (those with its ApplySet
/// label), by kind and name.
fn applied(f: &Fixture) -> BTreeMap<(String, String), Value> {
    let out = f.kubectl(&[
        "-n",
        &f.ns,
        "get",
        "configmaps,secrets,services,deployments",
        "-l",
        "applyset.kubernetes.io/part-of",
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (key(o), o.clone()))
        .collect()
}

/// The live objects are exactly `want` (helm template's): the same kinds and
/// names, in the sync's namespace, with every rendered label, annotation,
/// `data`, `type` and `spec` field.
fn assert_live_matches(f: &Fixture, want: &[Value]) {
    let live = applied(f);
    let want_keys: BTreeSet<_> = want.iter().map(key).collect();
    let live_keys: BTreeSet<_> = live.keys().cloned().collect();
    assert_eq!(
        live_keys, want_keys,
        "the live objects (left) are not the ones helm template renders (right)"
    );
    let mut problems = Vec::new();
    for w in want {
        let got = &live[&key(w)];
        let at = format!("{}/{}", w["kind"].as_str().unwrap(), w["metadata"]["name"]);
        if got["apiVersion"] != w["apiVersion"] {
            problems.push(format!("{at}: apiVersion {}", got["apiVersion"]));
        }
        if got["metadata"]["namespace"] != f.ns.as_str() {
            problems.push(format!("{at}: namespace {}", got["metadata"]["namespace"]));
        }
        for field in ["labels", "annotations"] {
            if let Some(v) = w["metadata"].get(field) {
                missing(
                    v,
                    &got["metadata"][field],
                    &format!("{at} metadata.{field}"),
                    &mut problems,
                );
            }
        }
        for field in ["data", "type", "spec"] {
            if let Some(v) = w.get(field) {
                missing(v, &got[field], &format!("{at} {field}"), &mut problems);
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the live objects differ from helm template's:\n{}",
        problems.join("\n")
    );
}

/// Writes to objects since `since` writes (not plumb's own in plumb-system, not Events).
fn object_writes(f: &Fixture, since: usize) -> Vec<String> {
    f.writes()[since..]
        .iter()
        .filter(|w| !w.contains("plumb-") && !w.contains(" events/"))
        .cloned()
        .collect()
}

/// The seed Secret: its uid, resourceVersion and decoded key.
fn seed_secret(cluster: &Cluster) -> (String, String, Vec<u8>) {
    let out = cluster.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "secret",
        "plumb-chart-seed",
        "-o",
        "json",
    ]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(s["data"]["key"].as_str().expect("data.key"))
        .expect("data.key is base64");
    (
        s["metadata"]["uid"].as_str().unwrap().to_owned(),
        s["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned(),
        key,
    )
}

fn decoded(data: &Value, field: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(
            data[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in {data}")),
        )
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

fn reconcile_with(config: &Path) -> Output {
    plumb()
        .arg("reconcile")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn a_chart_folder_applies_exactly_the_objects_helm_template_renders() {
    let f = Fixture::new("helm-apply", "");
    let dir = add_chart(&f, "web", "web");
    // Ignored by .helmignore: not part of the chart (a template here would break it).
    put(
        &f,
        "web/templates/old.yaml.orig",
        "{{ this is not a template",
    );
    f.commit();
    let out = f.reconcile_ok();
    let want = helm_template(&f.sync, &dir, &f.ns).expect("helm template renders the fixture");
    // The subchart's ConfigMap, the parent's two ConfigMaps, Service, Deployment.
    assert_eq!(want.len(), 5, "{want:#?}");
    assert!(out.contains(&format!("{} applied", want.len())), "{out}");
    assert_live_matches(&f, &want);
    // What the fixture exercises, checked in words as well as against helm.
    let config = f
        .get("configmap", &format!("{}-web-config", f.sync))
        .unwrap();
    assert_eq!(
        config["data"]["greeting"],
        format!("hello from {} in {}", f.sync, f.ns),
        "tpl"
    );
    assert!(
        config["data"]["settings.yaml"]
            .as_str()
            .unwrap()
            .contains("upstreams:\n- name: api\n  port: 8080\n"),
        "toYaml | nindent: {config}"
    );
    let cache = f.get("configmap", &format!("{}-cache", f.sync)).unwrap();
    assert_eq!(
        cache["data"]["maxmemory"], "64mb",
        "the parent's value over the subchart's"
    );
    let deploy = f.get("deployment", &format!("{}-web", f.sync)).unwrap();
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(f.condition("Ready")["status"], "True");
}

#[test]
fn a_new_chart_version_without_a_template_prunes_its_object_and_keeps_the_rest() {
    let f = Fixture::new("helm-prune", "");
    let dir = add_chart(&f, "web", "web");
    f.commit();
    f.reconcile_ok();
    let extra = format!("{}-web-extra", f.sync);
    assert!(f.get("configmap", &extra).is_some(), "extra.yaml applied");
    let uids: BTreeMap<_, _> = applied(&f)
        .into_iter()
        .filter(|(k, _)| k.1 != extra)
        .map(|(k, o)| (k, o["metadata"]["uid"].clone()))
        .collect();
    assert_eq!(uids.len(), 4);

    let chart = dir.join("Chart.yaml");
    let meta = std::fs::read_to_string(&chart).unwrap();
    assert!(meta.contains("\nversion: 1.0.0\n"));
    std::fs::write(
        &chart,
        meta.replace("\nversion: 1.0.0\n", "\nversion: 1.1.0\n"),
    )
    .unwrap();
    std::fs::remove_file(dir.join("templates/extra.yaml")).unwrap();
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("1 pruned"), "{out}");
    assert!(
        f.get("configmap", &extra).is_none(),
        "the dropped template's object was not pruned"
    );
    let want = helm_template(&f.sync, &dir, &f.ns).unwrap();
    assert_eq!(want.len(), 4);
    // The new version's labels (helm.sh/chart: web-1.1.0) on what is kept.
    assert_live_matches(&f, &want);
    let deploy = f.get("deployment", &format!("{}-web", f.sync)).unwrap();
    assert_eq!(deploy["metadata"]["labels"]["helm.sh/chart"], "web-1.1.0");
    let after: BTreeMap<_, _> = applied(&f)
        .into_iter()
        .map(|(k, o)| (k, o["metadata"]["uid"].clone()))
        .collect();
    assert_eq!(after, uids, "kept objects were deleted and made again");
}

#[test]
fn generated_values_are_the_same_on_every_cycle_process_and_node() {
    let f = Fixture::new("helm-seed", "");
    add_chart(&f, "generated", "generated");
    f.commit();
    f.reconcile_ok();
    let name = format!("{}-generated", f.sync);
    let data = || f.get("secret", &name).expect("the Secret is applied")["data"].clone();
    let first = data();
    let password = decoded(&first, "password");
    assert_eq!(password.len(), 24, "{password}");
    assert!(
        password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password}"
    );
    assert!(decoded(&first, "ca.crt").starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(decoded(&first, "ca.key").starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    let (uid, _, seed) = seed_secret(&f.cluster);
    assert_eq!(seed.len(), 32, "the seed key is not 32 bytes");

    let compare = |when: &str, now: &Value, problems: &mut Vec<String>| {
        for field in ["password", "ca.crt", "ca.key"] {
            if now[field] != first[field] {
                problems.push(format!("{field} changed {when}"));
            }
        }
    };
    let mut problems = Vec::new();
    // Anything that follows the clock (seconds) shows by now.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // A second `plumb reconcile` process: the same values.
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    compare("on a second reconcile", &data(), &mut problems);
    // A new commit that changes nothing the chart renders (a README in it):
    // the same node renders the new revision, with the same values.
    std::fs::write(
        f.work.join("manifests/generated/README.md"),
        "Generated values, seeded.\n",
    )
    .unwrap();
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    compare("on a new revision", &data(), &mut problems);
    // Another node, with a state folder of its own.
    let config = std::fs::read_to_string(&f.config).unwrap();
    let other = f.node_config(&config, &unique("node"));
    let out = reconcile_with(&other);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    compare("on another node", &data(), &mut problems);
    assert_eq!(
        seed_secret(&f.cluster).0,
        uid,
        "the seed key was made again"
    );

    // `plumb render` (no cluster) seeds with a fixed key: other values than the
    // cluster's, the same on every render.
    let render = || {
        plumb_render(&[
            "--sync".as_ref(),
            f.sync.as_ref(),
            "--config".as_ref(),
            f.config.as_os_str(),
        ])
    };
    let offline = render();
    assert_eq!(
        offline.iter().map(key).collect::<Vec<_>>(),
        [("Secret".to_owned(), name.clone())]
    );
    let offline_data = &offline[0]["data"];
    assert_eq!(decoded(offline_data, "password").len(), 24);
    assert_ne!(
        offline_data["password"], first["password"],
        "plumb render used the cluster's key"
    );
    assert_ne!(offline_data["ca.key"], first["ca.key"]);
    assert_eq!(
        render()[0]["data"]["password"],
        offline_data["password"],
        "plumb render is not deterministic"
    );
    // Last, so that the checks above run even when this fails.
    assert!(
        problems.is_empty(),
        "generated values are not stable: {}\n(last reconcile: {})",
        problems.join("; "),
        text(&out)
    );
}

#[test]
fn a_broken_chart_names_its_template_and_line_and_applies_nothing() {
    let f = Fixture::new("helm-broken", "");
    let dir = add_chart(&f, "web", "web");
    f.commit();
    f.reconcile_ok();
    let config = format!("{}-web-config", f.sync);
    let greeting = || f.get("configmap", &config).unwrap()["data"]["greeting"].clone();
    let before_greeting = greeting();
    // A good change beside the broken template: it must not be applied either.
    let values = std::fs::read_to_string(dir.join("values.yaml")).unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        values.replace("greeting: \"hello from", "greeting: \"bonjour de"),
    )
    .unwrap();
    let cases = [
        (
            "broken.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"web.fullname\" . }}-broken\ndata:\n  tier: {{ .Values.podLabels.tier | quote\n",
            "web/templates/broken.yaml:6",
            "broken",
        ),
        (
            "host.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"web.fullname\" . }}-host\ndata:\n  host: {{ required \"web.hostname is required\" .Values.hostname | quote }}\n",
            "web/templates/host.yaml:6",
            "web.hostname is required",
        ),
    ];
    for (file, template, at, words) in cases {
        put(&f, &format!("web/templates/{file}"), template);
        f.commit();
        // The reference fails at the same place.
        let helm_error = helm_template(&f.sync, &dir, &f.ns).expect_err("helm refuses it too");
        assert!(helm_error.contains(at), "helm: {helm_error}");
        let before = f.writes().len();
        let out = f.reconcile();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(
            all.contains(at) && all.contains(words),
            "the error does not name {at} ({words}):\n{all}\nhelm said: {helm_error}"
        );
        assert!(
            all.contains("manifests/web"),
            "the error does not say where the chart is in the revision:\n{all}"
        );
        assert_eq!(
            object_writes(&f, before),
            Vec::<String>::new(),
            "a broken revision wrote objects"
        );
        assert_eq!(
            greeting(),
            before_greeting,
            "part of a broken revision was applied"
        );
        assert_eq!(applied(&f).len(), 5, "objects came or went");
        let ready = f.condition("Ready");
        assert_eq!(ready["status"], "False", "{ready}");
        assert!(ready["message"].as_str().unwrap().contains(at), "{ready}");
        std::fs::remove_file(dir.join("templates").join(file)).unwrap();
    }
    // Fixed: the held-back change arrives.
    f.commit();
    f.reconcile_ok();
    assert_eq!(
        greeting(),
        format!("bonjour de {} in {}", f.sync, f.ns).as_str()
    );
}

#[test]
fn a_revision_declaring_the_chart_seed_secret_is_refused_naming_the_file() {
    let f = Fixture::new("helm-reserved", "");
    add_chart(&f, "web", "web");
    f.commit();
    f.reconcile_ok();
    let (uid, rv, seed_key) = seed_secret(&f.cluster);
    let seed = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plumb-chart-seed\n  namespace: plumb-system\ntype: Opaque\ndata:\n  key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    // As a plain file beside the chart, and as one of the chart's templates.
    for file in ["seed.yaml", "web/templates/seed.yaml"] {
        put(&f, file, seed);
        f.commit();
        let before = f.writes().len();
        let out = f.reconcile();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{file}: {all}");
        assert!(
            all.contains(&format!("manifests/{file}")),
            "the refusal does not name {file}:\n{all}"
        );
        assert!(all.contains("is plumb's own"), "{all}");
        assert_eq!(object_writes(&f, before), Vec::<String>::new());
        assert!(
            !f.writes()[before..]
                .iter()
                .any(|w| w.contains("plumb-chart-seed")),
            "{:?}",
            &f.writes()[before..]
        );
        assert_eq!(
            seed_secret(&f.cluster),
            (uid.clone(), rv.clone(), seed_key.clone()),
            "the seed key was overwritten"
        );
        std::fs::remove_file(f.work.join("manifests").join(file)).unwrap();
    }
}

#[test]
fn an_idle_cycle_of_a_chart_sync_writes_nothing() {
    let f = Fixture::new("helm-idle", "");
    add_chart(&f, "web", "web");
    // A generated value in the idle chart: seeded, so it does not change.
    put(
        &f,
        "web/templates/password.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"web.fullname\" . }}-password\ndata:\n  password: {{ randAlphaNum 24 | b64enc | quote }}\n",
    );
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("6 applied"), "{out}");
    let versions = || -> BTreeMap<_, _> {
        applied(&f)
            .into_iter()
            .map(|(k, o)| (k, o["metadata"]["resourceVersion"].clone()))
            .collect()
    };
    // The Deployment controller writes the rollout's status: let it finish
    // first, so that resourceVersions move only if plumb writes.
    let name = format!("{}-web", f.sync);
    eventually("the Deployment's rollout", || {
        let d = f.get("deployment", &name).unwrap();
        d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && d["status"]["availableReplicas"] == 2
            && d["status"]["updatedReplicas"] == 2
    });
    let before_versions = versions();
    assert_eq!(before_versions.len(), 6);
    let writes_before = f.writes();
    let requests_before = f.audit().len();
    let out = f.reconcile_ok();
    assert!(out.contains("0 applied, 6 unchanged"), "{out}");
    assert_eq!(
        f.writes(),
        writes_before,
        "an idle cycle wrote to the cluster"
    );
    assert_eq!(versions(), before_versions, "an idle cycle changed objects");
    let requests: Vec<String> = f.audit()[requests_before..]
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["verb"].as_str().unwrap_or_default(),
                e["requestURI"].as_str().unwrap_or_default()
            )
        })
        .collect();
    // A process's first cycle: plumb-system and the parent; once per process the seed key,
    // the version and discovery (the capabilities, cached after); one metadata LIST per
    // kind of the chart's (ConfigMap, Secret, Service, Deployment). Nothing rendered twice,
    // no dry-run, no write.
    let lists = requests.iter().filter(|r| r.starts_with("list ")).count();
    assert_eq!(
        (requests.len(), lists),
        (10, 4),
        "an idle chart cycle's requests: {requests:#?}"
    );
}

#[test]
fn plumb_render_of_a_chart_folder_prints_what_helm_template_prints() {
    let dir = temp_dir("helm-render");
    for chart in ["web", "generated"] {
        let folder = dir.join(chart);
        copy_dir(
            &repo_root().join("tests/fixtures/helm").join(chart),
            &folder,
        );
        let ours = plumb_render(&[folder.as_os_str()]);
        // A folder is rendered as the sync "folder" in namespace default.
        let theirs = helm_template("folder", &folder, "default").unwrap();
        let set = |objects: &[Value]| -> BTreeSet<(String, String, String)> {
            objects
                .iter()
                .map(|o| {
                    let (kind, name) = key(o);
                    (o["apiVersion"].as_str().unwrap().to_owned(), kind, name)
                })
                .collect()
        };
        assert_eq!(set(&ours), set(&theirs), "{chart}: the object sets differ");
        assert_eq!(ours.len(), theirs.len(), "{chart}");
        // Whole objects, but plumb's namespace (default, where they would go),
        // its ApplySet label and the generated values.
        let comparable = |o: &Value| {
            let mut o = o.clone();
            let meta = o["metadata"].as_object_mut().unwrap();
            if meta.get("namespace").and_then(Value::as_str) == Some("default") {
                meta.remove("namespace");
            }
            // plumb's own ApplySet label, which it puts on everything it applies.
            if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
                labels.remove("applyset.kubernetes.io/part-of");
                if labels.is_empty() {
                    meta.remove("labels");
                }
            }
            if chart == "generated" {
                let fields = o["data"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>();
                o["data"] = Value::from(fields);
            }
            (key(&o), o)
        };
        let ours: BTreeMap<_, _> = ours.iter().map(comparable).collect();
        let theirs: BTreeMap<_, _> = theirs.iter().map(comparable).collect();
        for (k, want) in &theirs {
            assert_eq!(
                &ours[k], want,
                "{chart}: {k:?} differs from helm template's"
            );
        }
    }
}

/// The folder that holds the pinned helm, for a plumb process's PATH.
fn helm_dir() -> PathBuf {
    helm().parent().unwrap().to_owned()
}

/// A folder holding only git's programs (a file:// source runs `git upload-pack`): a
/// PATH without helm, kubectl or kustomize.
fn git_only_dir() -> PathBuf {
    let dir = temp_dir("git-only-path");
    let path = std::env::var_os("PATH").unwrap_or_default();
    for program in ["git", "git-upload-pack"] {
        let found = std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no {program} on PATH"));
        std::os::unix::fs::symlink(found, dir.join(program)).unwrap();
    }
    dir
}

/// PATH with git, and with helm when `with_helm`.
fn test_path(with_helm: bool) -> std::ffi::OsString {
    let mut dirs = vec![git_only_dir()];
    if with_helm {
        dirs.push(helm_dir());
    }
    std::env::join_paths(dirs).unwrap()
}

/// `plumb reconcile` with this PATH and a runtime folder of the test's own.
fn reconcile_on_path(f: &Fixture, path: &std::ffi::OsStr, runtime: &Path) -> Output {
    plumb()
        .arg("reconcile")
        .arg("--config")
        .arg(&f.config)
        .env("PATH", path)
        .env("RUNTIME_DIRECTORY", runtime)
        .output()
        .unwrap()
}

/// What is left in a runtime folder (nothing, once a render is over).
fn leftovers(runtime: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(runtime)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A generated value in the `web` chart, for the helm-external tests.
const PASSWORD_TEMPLATE: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"web.fullname\" . }}-password\ndata:\n  password: {{ randAlphaNum 24 | b64enc | quote }}\n";

#[test]
fn render_helm_external_applies_what_the_built_in_engine_renders() {
    // A helm sync: values files (values.yaml, then prod's) and values over them, rendered
    // by the node's helm; the reference is the same sync rendered by the built-in engine.
    let helm_block = "    helm:\n      chart: manifests/web\n      valuesFiles: [manifests/web/values.yaml, manifests/web/prod.yaml]\n      values: {replicaCount: 1, image: {tag: '1.28'}, settings: {upstreams: null}, cache: {size: 128}}\n";
    let f = Fixture::new(
        "helm-ext",
        &format!("    render: helm-external\n{helm_block}"),
    );
    add_chart(&f, "web", "web");
    put(&f, "web/templates/password.yaml", PASSWORD_TEMPLATE);
    put(
        &f,
        "web/prod.yaml",
        "podLabels: {tier: backend, env: prod}\nsettings:\n  log: {level: debug}\n",
    );
    f.commit();
    let runtime = temp_dir("helm-ext-runtime");
    let out = reconcile_on_path(&f, &test_path(true), &runtime);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("6 applied"), "{all}");
    assert_eq!(
        leftovers(&runtime),
        Vec::<PathBuf>::new(),
        "helm's chart and values were left in the runtime folder"
    );
    // The built-in engine's render of the same sync (without a cluster: Helm's default
    // capabilities, which this chart does not read).
    let config = std::fs::read_to_string(&f.config).unwrap();
    let built_in = f.config.with_file_name("built-in.yaml");
    std::fs::write(&built_in, config.replace("    render: helm-external\n", "")).unwrap();
    let mut want = plumb_render(&[
        "--sync".as_ref(),
        f.sync.as_ref(),
        "--config".as_ref(),
        built_in.as_os_str(),
    ]);
    assert_eq!(want.len(), 6, "{want:#?}");
    // Generated values aside: helm's are random.
    let password = format!("{}-web-password", f.sync);
    for o in &mut want {
        if key(o).1 == password {
            o.as_object_mut().unwrap().remove("data");
        }
    }
    assert_live_matches(&f, &want);
    // The values arrived, merged as the built-in engine merges them.
    let deploy = f.get("deployment", &format!("{}-web", f.sync)).unwrap();
    assert_eq!(deploy["spec"]["replicas"], 1);
    let pod = &deploy["spec"]["template"];
    assert_eq!(pod["spec"]["containers"][0]["image"], "nginx:1.28");
    assert_eq!(pod["metadata"]["labels"]["env"], "prod");
    let cache = f.get("configmap", &format!("{}-cache", f.sync)).unwrap();
    assert_eq!(cache["data"]["maxmemory"], "128mb");
    let config_map = f
        .get("configmap", &format!("{}-web-config", f.sync))
        .unwrap();
    let settings = config_map["data"]["settings.yaml"].as_str().unwrap();
    assert!(
        settings.contains("level: debug") && !settings.contains("upstreams"),
        "{settings}"
    );
    let secret = f.get("secret", &password).unwrap();
    let generated = decoded(&secret["data"], "password");
    assert!(
        generated.len() == 24 && generated.chars().all(|c| c.is_ascii_alphanumeric()),
        "{generated}"
    );
    assert_eq!(f.condition("Ready")["status"], "True");
}

#[test]
fn render_helm_external_without_helm_on_path_fails_naming_it_and_applies_nothing() {
    let f = Fixture::new("helm-ext-missing", "    render: helm-external\n");
    let dir = add_chart(&f, "web", "web");
    // A kustomization beside the chart: built in, even with helm-external.
    put(
        &f,
        "kust/kustomization.yaml",
        "resources: [cm.yaml]\nnamePrefix: k-\n",
    );
    put(
        &f,
        "kust/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kustomized\ndata:\n  a: b\n",
    );
    f.commit();
    // Only git on PATH: no helm (nor kubectl or kustomize).
    let path = test_path(false);
    let runtime = temp_dir("helm-ext-missing-runtime");
    let before = f.writes().len();
    let out = reconcile_on_path(&f, &path, &runtime);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for words in [
        "render: helm-external needs `helm` on PATH",
        &format!("PATH={}", path.to_string_lossy()),
        "manifests/web/Chart.yaml",
    ] {
        assert!(all.contains(words), "wanted {words:?} in:\n{all}");
    }
    assert_eq!(
        object_writes(&f, before),
        Vec::<String>::new(),
        "a sync whose chart cannot render wrote objects"
    );
    assert!(applied(&f).is_empty(), "objects were applied");
    assert_eq!(f.condition("Ready")["status"], "False");
    assert_eq!(leftovers(&runtime), Vec::<PathBuf>::new());

    // With helm (and only helm) on PATH: the chart as helm template renders it, and the
    // kustomization by the built-in kustomize.
    let out = reconcile_on_path(&f, &test_path(true), &runtime);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut want = helm_template(&f.sync, &dir, &f.ns).unwrap();
    assert_eq!(want.len(), 5);
    want.push(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "k-kustomized"},
        "data": {"a": "b"},
    }));
    assert_live_matches(&f, &want);
    assert_eq!(leftovers(&runtime), Vec::<PathBuf>::new());
}

/// An object as `plumb render DIR` and `helm template DIR` can both print it: without the
/// namespace `default` plumb adds, plumb's ApplySet label, and (`generated`) the values of
/// its data.
fn comparable(o: &Value, generated: bool) -> ((String, String), Value) {
    let mut o = o.clone();
    let meta = o["metadata"].as_object_mut().unwrap();
    if meta.get("namespace").and_then(Value::as_str) == Some("default") {
        meta.remove("namespace");
    }
    if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
        labels.remove("applyset.kubernetes.io/part-of");
        if labels.is_empty() {
            meta.remove("labels");
        }
    }
    if generated {
        let fields = o["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        o["data"] = Value::from(fields);
    }
    (key(&o), o)
}

/// `helm template folder DIR --namespace default --values FILE…`.
fn helm_template_values(dir: &Path, values: &[&Path]) -> Vec<Value> {
    let home = temp_dir("helm-home");
    let mut cmd = Command::new(helm());
    cmd.args(["template", "folder"])
        .arg(dir)
        .args(["--namespace", "default"])
        .env("HOME", &home)
        .env_remove("KUBECONFIG");
    for v in values {
        cmd.arg("--values").arg(v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "helm template: {}", text(&out));
    documents(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn plumb_render_with_values_files_prints_what_helm_template_with_them_prints() {
    let dir = temp_dir("helm-render-values");
    let chart = dir.join("web");
    copy_dir(&repo_root().join("tests/fixtures/helm/web"), &chart);
    let first = dir.join("first.yaml");
    std::fs::write(
        &first,
        "replicaCount: 4\nimage: {tag: '1.29'}\nsettings:\n  log: {level: warn}\n  features: [brotli]\ncache: {size: 256}\npodLabels: null\n",
    )
    .unwrap();
    let second = dir.join("second.yaml");
    std::fs::write(
        &second,
        "replicaCount: 5\nsettings: {log: {format: text}}\n",
    )
    .unwrap();
    for values in [
        vec![first.as_path()],
        vec![first.as_path(), second.as_path()],
    ] {
        let mut args: Vec<&std::ffi::OsStr> = vec![chart.as_os_str()];
        for v in &values {
            args.push("--values".as_ref());
            args.push(v.as_os_str());
        }
        let ours: BTreeMap<_, _> = plumb_render(&args)
            .iter()
            .map(|o| comparable(o, false))
            .collect();
        let theirs: BTreeMap<_, _> = helm_template_values(&chart, &values)
            .iter()
            .map(|o| comparable(o, false))
            .collect();
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{values:?}: the object sets differ"
        );
        for (k, want) in &theirs {
            assert_eq!(&ours[k], want, "{values:?}: {k:?} differs from helm's");
        }
        // The layers went over values.yaml, not instead of it.
        let deploy = &ours[&("Deployment".to_owned(), "folder-web".to_owned())];
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.29"
        );
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "100m",
            "a values.yaml default the layers do not name is gone"
        );
    }
    // A values file that is not there, and a folder without a chart: could not run.
    let out = plumb()
        .arg("render")
        .arg(&chart)
        .arg("--values")
        .arg(dir.join("missing.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing.yaml"), "{}", text(&out));
    let plain = dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("cm.yaml"), config_map("a", "b")).unwrap();
    let out = plumb()
        .arg("render")
        .arg(&plain)
        .arg("--values")
        .arg(&first)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("holds no chart"), "{}", text(&out));
}

/// Copies the `gizmos` chart to `manifests/gizmos` with a CRD group of the test's own (CRDs
/// are cluster-wide); returns the chart's folder and the CRD's name.
fn add_gizmos(f: &Fixture) -> (PathBuf, String) {
    let dir = add_chart(f, "gizmos", "gizmos");
    let group = format!("{}.plumb.test", f.sync);
    for file in ["crds/gizmos.yaml", "templates/gizmo.yaml"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("GROUP", &group)).unwrap();
    }
    (dir, format!("gizmos.{group}"))
}

/// The chart's CRD gains a printer column.
fn add_printer_column(dir: &Path) {
    let path = dir.join("crds/gizmos.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "      served: true\n",
            "      served: true\n      additionalPrinterColumns:\n        - {name: Size, type: string, jsonPath: .spec.size}\n",
        ),
    )
    .unwrap();
}

fn printer_columns(f: &Fixture, crd: &str) -> Value {
    let live = f
        .get("customresourcedefinition", crd)
        .unwrap_or_else(|| panic!("CRD {crd} is not in the cluster"));
    live["spec"]["versions"][0]["additionalPrinterColumns"].clone()
}

fn delete_crd(f: &Fixture, crd: &str) {
    f.kubectl(&["delete", "crd", crd, "--ignore-not-found", "--wait=false"]);
}

/// The gizmos chart through three revisions: the first creates its CRD (crds/) and the
/// Gizmo (templates/), the second adds a printer column to the CRD, the third drops the CRD
/// from crds/; returns the printer columns live after the second.
/// Whether `plumb diff` shows a change of the CRD `crd`.
fn diff_shows(f: &Fixture, crd: &str) -> bool {
    let out = plumb()
        .arg("diff")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "plumb diff failed: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).contains(&format!(
        "--- CustomResourceDefinition.apiextensions.k8s.io {crd} (live)"
    ))
}

/// A chart CRD through revisions: created, then changed (the printer columns after the
/// cycle are returned, and whether `plumb diff` showed the change first), then removed
/// from crds/ (never pruned).
fn crd_revisions(f: &Fixture, dir: &Path, crd: &str) -> (Value, bool) {
    f.commit();
    f.reconcile_ok();
    assert!(printer_columns(f, crd).is_null());
    let gizmo = format!("{}-gizmo", f.sync);
    // As resource.group: every test's CRD is a `gizmo`.
    assert!(f.get(crd, &gizmo).is_some(), "the Gizmo was not created");
    add_printer_column(dir);
    f.commit();
    let diff_showed = diff_shows(f, crd);
    f.reconcile_ok();
    let columns = printer_columns(f, crd);
    // A cycle of the revision in force (drift) leaves it as the apply did.
    f.reconcile_ok();
    assert_eq!(printer_columns(f, crd), columns);
    std::fs::remove_file(dir.join("crds/gizmos.yaml")).unwrap();
    f.commit();
    let out = f.reconcile_ok();
    assert!(!out.contains("pruned") || out.contains("0 pruned"), "{out}");
    assert!(
        f.get("customresourcedefinition", crd).is_some(),
        "the CRD that left crds/ was deleted"
    );
    assert!(f.get(crd, &gizmo).is_some(), "the Gizmo went with it");
    // And no later cycle prunes it either.
    f.reconcile_ok();
    assert!(f.get("customresourcedefinition", crd).is_some());
    (columns, diff_showed)
}

#[test]
fn a_chart_crd_is_created_but_never_updated_nor_pruned_by_default() {
    // A chart folder in a plain sync: crds: Create, as a helm sync's default.
    let f = Fixture::new("helm-crd-create", "");
    let (dir, crd) = add_gizmos(&f);
    let (columns, diff_showed) = crd_revisions(&f, &dir, &crd);
    assert!(
        columns.is_null(),
        "Create updated the existing CRD: {columns}"
    );
    assert!(
        !diff_showed,
        "plumb diff showed a change Create never applies"
    );
    delete_crd(&f, &crd);
}

#[test]
fn a_chart_crd_is_updated_under_create_replace_and_never_pruned() {
    let f = Fixture::new(
        "helm-crd-replace",
        "    helm:\n      chart: manifests/gizmos\n      crds: CreateReplace\n",
    );
    let (dir, crd) = add_gizmos(&f);
    let (columns, diff_showed) = crd_revisions(&f, &dir, &crd);
    assert_eq!(
        columns[0]["name"], "Size",
        "CreateReplace did not update the CRD: {columns}"
    );
    assert!(
        diff_showed,
        "plumb diff did not show the change CreateReplace applies"
    );
    delete_crd(&f, &crd);
}

#[test]
fn skip_creates_nothing_from_crds() {
    let f = Fixture::new(
        "helm-crd-skip",
        "    helm:\n      chart: manifests/gizmos\n      crds: Skip\n",
    );
    let (dir, crd) = add_gizmos(&f);
    // Without its CRD, the Gizmo could not be applied.
    std::fs::remove_file(dir.join("templates/gizmo.yaml")).unwrap();
    f.commit();
    f.reconcile_ok();
    assert!(
        f.get("configmap", &format!("{}-gizmos", f.sync)).is_some(),
        "the chart's templates are applied"
    );
    assert!(
        f.get("customresourcedefinition", &crd).is_none(),
        "Skip created the CRD"
    );
    // Nor on a cycle of the revision in force.
    f.reconcile_ok();
    assert!(f.get("customresourcedefinition", &crd).is_none());
    assert_eq!(f.condition("Ready")["status"], "True");
}

/// Where a write of `resource/name` sits among `writes`, if there is one.
fn written_at(writes: &[String], resource: &str, name: &str) -> Option<usize> {
    let suffix = format!(" {resource}/{name}");
    writes.iter().position(|w| w.ends_with(&suffix))
}

#[test]
fn chart_hooks_run_around_the_workloads_as_their_events_weights_and_policies_say() {
    let f = Fixture::new("helm-hooks", "");
    let dir = add_chart(&f, "hooks", "hooks");
    let set_values = |fail: bool, greeting: &str| {
        std::fs::write(
            dir.join("values.yaml"),
            format!("failMigration: {fail}\ngreeting: {greeting}\n"),
        )
        .unwrap()
    };
    let name = |what: &str| format!("{}-{what}", f.sync);
    let uid = |kind: &str, what: &str| {
        f.get(kind, &name(what))
            .map(|o| o["metadata"]["uid"].as_str().unwrap().to_owned())
    };

    // A failing pre-install hook: the cycle fails naming it, and nothing after it is applied.
    set_values(true, "hello");
    f.commit();
    let out = f.reconcile();
    let said = text(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("hook failed") && said.contains(&name("migrate")),
        "{said}"
    );
    assert_eq!(f.condition("Ready")["reason"], "HookFailed", "{said}");
    assert_eq!(
        uid("deployment", "app"),
        None,
        "the workload was applied after a failed hook"
    );
    assert_eq!(
        uid("job", "schema"),
        None,
        "a later wave ran after a failed hook"
    );
    assert_eq!(
        uid("job", "notify"),
        None,
        "a post- hook ran after a failed hook"
    );

    // Fixed: the failed run is deleted first, each wave is awaited, then the workloads, then
    // the post- hook; hook-succeeded deletes, the default policy keeps.
    set_values(false, "hello");
    f.commit();
    let since = f.writes().len();
    let said = f.reconcile_ok();
    let writes = f.writes()[since..].to_vec();
    let at = |resource: &str, what: &str| {
        written_at(&writes, resource, &name(what))
            .unwrap_or_else(|| panic!("no write of {resource}/{}: {writes:?}\n{said}", name(what)))
    };
    assert!(at("jobs", "migrate") < at("jobs", "schema"), "{writes:?}");
    assert!(
        at("jobs", "schema") < at("deployments", "app"),
        "{writes:?}"
    );
    assert!(
        at("deployments", "app") < at("jobs", "notify"),
        "{writes:?}"
    );
    let schema = f
        .get("job", &name("schema"))
        .expect("the schema Job is kept");
    assert!(
        schema["status"]["conditions"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["type"] == "Complete" && c["status"] == "True")),
        "the workloads were applied before the schema hook completed: {schema}"
    );
    eventually("hook-succeeded Jobs deleted", || {
        uid("job", "migrate").is_none() && uid("job", "notify").is_none()
    });
    assert_eq!(uid("job", "cleanup"), None, "a pre-delete hook was applied");
    assert_eq!(uid("pod", "test"), None, "a test hook was applied");

    // Idle: no hook runs again.
    let since = f.writes().len();
    f.reconcile_ok();
    let idle: Vec<_> = f.writes()[since..]
        .iter()
        .filter(|w| w.contains(" jobs/"))
        .cloned()
        .collect();
    assert!(idle.is_empty(), "an idle cycle ran hooks: {idle:?}");

    // An upgrade: pre-upgrade and post-upgrade hooks run again, pre-install ones do not.
    let schema_before = uid("job", "schema");
    set_values(false, "bonjour");
    f.commit();
    let since = f.writes().len();
    f.reconcile_ok();
    let writes = f.writes()[since..].to_vec();
    assert_eq!(
        written_at(&writes, "jobs", &name("migrate")),
        None,
        "{writes:?}"
    );
    assert!(
        written_at(&writes, "jobs", &name("notify")).is_some(),
        "{writes:?}"
    );
    assert_ne!(
        uid("job", "schema"),
        schema_before,
        "the schema hook did not run again"
    );
    assert_eq!(
        f.get("configmap", &name("greeting")).unwrap()["data"]["greeting"],
        "bonjour"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One sample of the daemon's metrics on `port`, e.g. `plumb_chart_renders_total{sync="x"}`.
fn metric(port: u16, series: &str) -> Option<f64> {
    let text = ureq::get(format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn a_daemon_renders_a_chart_once_per_change_of_its_values_from_the_cluster() {
    let values = unique("values");
    let f = Fixture::new(
        "helm-once",
        &format!("    helm:\n      chart: manifests/hooks\n      valuesFrom:\n        - kind: ConfigMap\n          name: {values}\n"),
    );
    add_chart(&f, "hooks", "hooks");
    f.commit();
    let set_greeting = |greeting: &str| {
        let manifest = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {values}\n  namespace: plumb-system\ndata:\n  values.yaml: 'greeting: {greeting}'\n");
        let out = f
            .cluster
            .kubectl_stdin(&["apply", "-f", "-"], Some(&manifest));
        assert!(out.status.success(), "{}", text(&out));
    };
    set_greeting("from-the-cluster");
    let port = free_port();
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("listen: ''", &format!("listen: 127.0.0.1:{port}"))
        .replacen("sources:", "interval: 2s\nsources:", 1);
    let daemon_config = f.config.with_file_name("daemon.yaml");
    std::fs::write(&daemon_config, config).unwrap();
    let _daemon = KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&daemon_config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let greeting = || {
        f.get("configmap", &format!("{}-greeting", f.sync))
            .map(|c| c["data"]["greeting"].clone())
    };
    let ready = format!(
        "plumb_reconciles_total{{sync=\"{}\",result=\"ready\"}}",
        f.sync
    );
    let renders = format!("plumb_chart_renders_total{{sync=\"{}\"}}", f.sync);
    eventually("the chart applied with the cluster's values", || {
        greeting() == Some("from-the-cluster".into())
    });
    // Idle cycles, with nothing changed: the render of the first is the only one.
    let after_first = metric(port, &ready).unwrap_or(0.0);
    eventually("three more ready cycles", || {
        metric(port, &ready).is_some_and(|n| n >= after_first + 3.0)
    });
    assert_eq!(
        metric(port, &renders),
        Some(1.0),
        "idle cycles rendered the chart"
    );

    // The values change in the cluster, under the same commit: rendered again, and applied.
    set_greeting("changed");
    eventually("the changed values applied", || {
        greeting() == Some("changed".into())
    });
    // The metrics count a cycle once it ended (after its hooks and health).
    eventually("the second render counted", || {
        metric(port, &renders) == Some(2.0)
    });
    let after_change = metric(port, &ready).unwrap_or(0.0);
    eventually("two more ready cycles", || {
        metric(port, &ready).is_some_and(|n| n >= after_change + 2.0)
    });
    assert_eq!(
        metric(port, &renders),
        Some(2.0),
        "idle cycles rendered the chart"
    );
    let out = f
        .cluster
        .kubectl(&["-n", "plumb-system", "delete", "configmap", &values]);
    assert!(out.status.success(), "{}", text(&out));
}
