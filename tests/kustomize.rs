//! Built-in kustomize against `kubectl kustomize`: each fixture rendered both ways.
//!
//! - `tests/fixtures/kustomize/<case>/` (folders starting with `_` are shared
//!   bases, components and the large fixture's generator, not cases): plumb's
//!   objects must equal kubectl's, compared as values after sorting by
//!   apiVersion, kind, namespace and name, so key order and YAML formatting
//!   do not matter but list order does. All cases run; the test fails once,
//!   listing every mismatch.
//! - `tests/fixtures/kustomize-errors/<case>/`: plumb must refuse, and its
//!   messages must hold every line of the case's `expect` file; kubectl must
//!   refuse too, unless `expect` starts with `# plumb-only` (fields kustomize
//!   has and plumb does not, remote resources, paths outside the tree).
//! - A generated fixture of 200 objects through three levels
//!   (`_large/generate.sh`, which `tests/bench.sh kustomize` runs at 1,000).
//! - `plumb render` and `plumb validate` of fixtures through the binary.
//!
//! kubectl is the reference and must be installed: a missing kubectl fails
//! the tests, it never skips them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use plumb::render::kustomize::{build, DirFs};
use serde::Deserialize;
use serde_json::Value;

use common::{plumb, temp_dir, text};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/kustomize")
}

fn error_fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/kustomize-errors")
}

/// The case folders under `dir`, sorted; `_shared` and the like are not cases.
fn cases(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_') && !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// kubectl from PATH. The reference is not optional: without it, fail.
fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl is not on PATH ({}): it is the reference these tests compare with; \
                 install it (tests/run does), the tests never skip",
                if std::env::var("CI").as_deref() == Ok("true") {
                    "CI"
                } else {
                    "local run"
                }
            )
        })
}

/// `kubectl kustomize dir`: the objects, or kubectl's error text.
fn kubectl_kustomize(dir: &Path) -> Result<Vec<Value>, String> {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .env("HOME", "/nonexistent")
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(parse_documents(&String::from_utf8_lossy(&out.stdout)))
}

/// A multi-document YAML stream as JSON values, empty documents dropped.
fn parse_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{e}:\n{text}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// How objects are sorted and told apart: apiVersion, kind, namespace, name.
fn identity(v: &Value) -> (String, String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&v["apiVersion"]),
        s(&v["kind"]),
        s(&v["metadata"]["namespace"]),
        s(&v["metadata"]["name"]),
    )
}

fn show_identity(v: &Value) -> String {
    let (api, kind, ns, name) = identity(v);
    if ns.is_empty() {
        format!("{api} {kind} {name}")
    } else {
        format!("{api} {kind} {ns}/{name}")
    }
}

fn normalise(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(identity);
    objects
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// None when equal; otherwise what differs, readably: the objects only one
/// side has, and the first object both have that differs (a line diff and
/// both objects in full).
fn compare(expected: Vec<Value>, actual: Vec<Value>) -> Option<String> {
    let expected = normalise(expected);
    let actual = normalise(actual);
    if expected == actual {
        return None;
    }
    let mut report = String::new();
    let ids = |objects: &[Value]| -> Vec<String> { objects.iter().map(show_identity).collect() };
    let (want, got) = (ids(&expected), ids(&actual));
    let missing: Vec<&String> = want.iter().filter(|i| !got.contains(i)).collect();
    let extra: Vec<&String> = got.iter().filter(|i| !want.contains(i)).collect();
    if !missing.is_empty() {
        report.push_str(&format!("  only kubectl has: {missing:?}\n"));
    }
    if !extra.is_empty() {
        report.push_str(&format!("  only plumb has: {extra:?}\n"));
    }
    if expected.len() != actual.len() {
        report.push_str(&format!(
            "  kubectl: {} objects, plumb: {} objects\n",
            expected.len(),
            actual.len()
        ));
    }
    let first = expected.iter().find_map(|e| {
        let twin = actual.iter().find(|a| identity(a) == identity(e))?;
        (twin != e).then_some((e, twin))
    });
    if let Some((e, a)) = first {
        let (e_text, a_text) = (pretty(e), pretty(a));
        let diff = similar::TextDiff::from_lines(&e_text, &a_text);
        report.push_str(&format!(
            "  first differing object: {}\n  --- kubectl\n  +++ plumb\n{}",
            show_identity(e),
            diff.unified_diff().context_radius(4)
        ));
        report.push_str(&format!(
            "  kubectl's object in full:\n{e_text}\n  plumb's object in full:\n{a_text}\n"
        ));
    }
    Some(report)
}

/// plumb's build of `dir` under `root`, as values, or its errors as text.
fn plumb_build(root: &Path, dir: &str) -> Result<Vec<Value>, String> {
    let fs = DirFs {
        root: root.to_owned(),
    };
    match build(&fs, dir) {
        Ok(manifests) => Ok(manifests.into_iter().map(|m| m.object).collect()),
        Err(errors) => Err(errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

#[test]
fn every_fixture_renders_as_kubectl_kustomize_does() {
    let root = fixtures();
    let names = cases(&root);
    assert!(
        names.len() >= 30,
        "expected at least 30 kustomize fixtures in {}, found {}: {names:?}",
        root.display(),
        names.len()
    );
    let mut failures = Vec::new();
    for name in &names {
        let expected = match kubectl_kustomize(&root.join(name)) {
            Ok(objects) => objects,
            Err(e) => {
                failures.push(format!(
                    "{name}: kubectl kustomize refuses the fixture (fix the fixture):\n{e}"
                ));
                continue;
            }
        };
        assert!(!expected.is_empty(), "{name}: kubectl rendered nothing");
        match plumb_build(&root, name) {
            Err(e) => failures.push(format!("{name}: plumb refused it:\n{e}")),
            Ok(actual) => {
                if let Some(diff) = compare(expected, actual) {
                    failures.push(format!(
                        "{name}: plumb's objects differ from kubectl's\n{diff}"
                    ));
                }
            }
        }
    }
    fail_if_any(
        &failures,
        names.len(),
        "fixtures differ from kubectl kustomize",
    );
}

/// The lines of an error case's `expect` file, and whether kustomize itself
/// accepts the input (`# plumb-only`).
fn expectations(case: &Path) -> (Vec<String>, bool) {
    let path = case.join("expect");
    let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let plumb_only = body.lines().next() == Some("# plumb-only");
    let lines: Vec<String> = body
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(
        !lines.is_empty(),
        "{}: lists nothing the error must say",
        path.display()
    );
    (lines, plumb_only)
}

#[test]
fn every_error_fixture_is_refused_naming_file_and_field() {
    let root = error_fixtures();
    let names = cases(&root);
    assert!(
        names.len() >= 18,
        "expected at least 18 error fixtures in {}, found {}: {names:?}",
        root.display(),
        names.len()
    );
    let mut failures = Vec::new();
    let mut plumb_only = 0;
    for name in &names {
        let case = root.join(name);
        let (wanted, only_plumb) = expectations(&case);
        // The case folder is the whole tree plumb sees: paths climbing out
        // of it are outside the revision.
        match plumb_build(&case, "") {
            Ok(objects) => failures.push(format!(
                "{name}: plumb accepted it and rendered {} objects",
                objects.len()
            )),
            Err(message) => {
                let absent: Vec<&String> = wanted
                    .iter()
                    .filter(|w| !message.contains(w.as_str()))
                    .collect();
                if !absent.is_empty() {
                    failures.push(format!(
                        "{name}: plumb's error lacks {absent:?}; it said:\n{message}"
                    ));
                }
            }
        }
        if only_plumb {
            plumb_only += 1;
        } else if let Ok(objects) = kubectl_kustomize(&case) {
            failures.push(format!(
                "{name}: kubectl kustomize accepts it ({} objects); mark the case `# plumb-only` or fix it",
                objects.len()
            ));
        }
    }
    assert!(
        plumb_only < names.len(),
        "every error case is plumb-only: nothing checks kustomize's refusals"
    );
    fail_if_any(&failures, names.len(), "error fixtures fail");
}

/// The large fixture's generator, run into a fresh folder; returns the entry.
fn generate_large(apps: usize) -> PathBuf {
    let out = temp_dir("kustomize-large");
    let status = Command::new("bash")
        .arg(fixtures().join("_large/generate.sh"))
        .arg(&out)
        .arg(apps.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("bash runs");
    assert!(status.success(), "generate.sh failed");
    out
}

#[test]
fn a_generated_fixture_of_200_objects_renders_as_kubectl_does() {
    let out = generate_large(25);
    let expected = kubectl_kustomize(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(expected.len(), 200, "the generator's object count changed");
    let actual = plumb_build(&out, "").unwrap_or_else(|e| panic!("plumb refused it:\n{e}"));
    if let Some(diff) = compare(expected, actual) {
        panic!("the generated fixture differs from kubectl kustomize:\n{diff}");
    }
}

/// The names kubectl gives a fixture's objects.
fn kubectl_names(case: &Path) -> Vec<String> {
    kubectl_kustomize(case)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn plumb_render_prints_a_kustomization_with_hashed_names() {
    let case = fixtures().join("realistic-homelab");
    let out = plumb().arg("render").arg(&case).output().unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(0), "{output}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let objects = parse_documents(&stdout);
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or_default())
        .collect();
    // kustomize's hash suffixes, and the references to them.
    for name in [
        "home-assistant-config-dm769cf5h4",
        "home-assistant-secrets-7k5g5k5dmm",
        "mqtt-credentials-6g8cgdf5gg",
    ] {
        assert!(names.contains(&name), "{name} not among {names:?}");
    }
    assert!(
        stdout.contains("secretName: home-assistant-secrets-7k5g5k5dmm"),
        "{stdout}"
    );
    let mut want = kubectl_names(&case);
    let mut got: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "plumb render printed other objects than kubectl");
    assert!(
        !stdout.contains("kustomization.yaml") && !stdout.contains("kind: Kustomization"),
        "the kustomization itself was rendered as an object:\n{stdout}"
    );
}

#[test]
fn plumb_render_of_nested_kustomizations_prints_kubectls_objects() {
    // `plumb render DIR` reads DIR as the whole revision, so this fixture
    // keeps its bases inside (no `../_shared`).
    let case = fixtures().join("realistic-flux-cluster");
    let out = plumb().arg("render").arg(&case).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // plumb render adds its own label and default namespaces
    // before printing, so the objects are compared by identity here; the
    // library test above compares them in full.
    let ids = |objects: &[Value]| {
        let mut ids: Vec<String> = objects.iter().map(show_identity).collect();
        ids.sort();
        ids
    };
    let expected = kubectl_kustomize(&case).unwrap();
    assert_eq!(ids(&parse_documents(&stdout)), ids(&expected), "{stdout}");
    assert!(
        stdout.contains("image: ghcr.io/stefanprodan/podinfo:6.7.0"),
        "{stdout}"
    );
}

#[test]
fn plumb_render_prints_the_namespace_kubectl_keeps_on_cluster_scoped_kinds() {
    // plumb applies these objects without it (the API server clears it, and
    // their identity has none), but prints what kubectl prints.
    let case = fixtures().join("cluster-scoped-namespace");
    let out = plumb().arg("render").arg(&case).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ids = |objects: &[Value]| {
        let mut ids: Vec<String> = objects.iter().map(show_identity).collect();
        ids.sort();
        ids
    };
    let expected = kubectl_kustomize(&case).unwrap();
    let got = ids(&parse_documents(&stdout));
    assert_eq!(got, ids(&expected), "{stdout}");
    assert!(
        got.iter()
            .any(|id| id.ends_with("ClusterRole kube-system/reader")),
        "{got:?}"
    );
}

#[test]
fn plumb_validate_of_a_broken_kustomization_names_the_file_and_field() {
    let case = error_fixtures().join("unknown-field");
    let out = plumb().arg("validate").arg(&case).output().unwrap();
    let output = text(&out);
    // A revision that cannot be rendered is an answer (problems found): 1.
    assert_eq!(out.status.code(), Some(1), "{output}");
    for word in ["kustomization.yaml", "resourses", "problem(s)"] {
        assert!(output.contains(word), "wanted {word:?} in:\n{output}");
    }
    let case = error_fixtures().join("smp-patch-no-match");
    let out = plumb().arg("validate").arg(&case).output().unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    for word in ["patch.yaml", "absent"] {
        assert!(output.contains(word), "wanted {word:?} in:\n{output}");
    }
}

#[test]
fn plumb_validate_counts_a_kustomizations_objects() {
    let case = fixtures().join("realistic-media-stack");
    let expected = kubectl_kustomize(&case).unwrap().len();
    let out = plumb().arg("validate").arg(&case).output().unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(0), "{output}");
    assert!(
        output.contains(&format!("valid ({expected} objects from")),
        "wanted {expected} objects in:\n{output}"
    );
}

#[test]
fn every_object_names_the_file_it_came_from() {
    let root = fixtures();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for name in cases(&root) {
        let fs = DirFs { root: root.clone() };
        let Ok(manifests) = build(&fs, &name) else {
            continue; // the comparison test reports refusals
        };
        for m in manifests {
            checked += 1;
            let file = &m.origin.file;
            let kind = m.object["kind"].as_str().unwrap_or_default();
            let in_kustomization = plumb::render::KUSTOMIZATION_FILES
                .iter()
                .any(|k| file == k || file.ends_with(&format!("/{k}")));
            // Declared objects point at their file and line; generated ones
            // (ConfigMaps, Secrets) at the kustomization or generator file.
            if !root.join(file).is_file()
                || m.origin.line == 0
                || (in_kustomization && !matches!(kind, "ConfigMap" | "Secret"))
            {
                wrong.push(format!(
                    "{name}: {} from '{}'",
                    show_identity(&m.object),
                    m.origin
                ));
            }
        }
    }
    assert!(checked > 150, "only {checked} objects checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Fails once, listing every failing case (each failure starts with its
/// case's name and a colon) and then the details.
fn fail_if_any(failures: &[String], total: usize, what: &str) {
    if !failures.is_empty() {
        let list: Vec<&str> = failures
            .iter()
            .map(|f| f.split(':').next().unwrap())
            .collect();
        panic!(
            "{} of {total} {what}: {list:?}\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}
