//! Charts against the real `helm template`: every chart under tests/charts/NAME/ is
//! rendered by Helm v3.22 (`helm template release DIR --namespace default --include-crds`)
//! and by `chart::render`; both outputs are split into YAML documents and compared as
//! sets of (source, object), objects sorted by kind/namespace/name, key order ignored,
//! list order kept.
//!
//! tests/charts/NAME.test.yaml, if present, sets up the case:
//!   values: [a.yaml]          # --values files (beside it)
//!   kubeVersion: 1.30.0       # --kube-version on both sides
//!   apiVersions: [x/v1]       # --api-versions on both sides
//!   tgz: [charts/sub]         # subchart directories packed into charts/sub.tgz first
//!   fail: [text, ...]         # both must fail; our error must contain each text
//!
//! `PLUMB_HELM`: the helm binary (or its folder); otherwise `bash tests/tools/build.sh helm`
//! builds it once. `PLUMB_HELM_CHARTS`: only the charts whose name contains this text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use helm_template::chart::{self, archive};
use helm_template::{helm, Value};
use serde_yaml_ng::Value as Y;

#[derive(Default)]
struct Setup {
    values: Vec<String>,
    kube_version: Option<String>,
    api_versions: Vec<String>,
    tgz: Vec<String>,
    fail: Option<Vec<String>>,
}

fn strings(v: Option<&Y>) -> Vec<String> {
    v.and_then(|v| v.as_sequence())
        .map(|s| {
            s.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn setup(dir: &Path, name: &str) -> Setup {
    let f = dir.join(format!("{name}.test.yaml"));
    let Ok(text) = std::fs::read_to_string(&f) else {
        return Setup::default();
    };
    let y: Y = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    Setup {
        values: strings(y.get("values")),
        kube_version: y
            .get("kubeVersion")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        api_versions: strings(y.get("apiVersions")),
        tgz: strings(y.get("tgz")),
        fail: y.get("fail").map(|f| strings(Some(f))),
    }
}

fn helm_binary() -> PathBuf {
    if let Ok(p) = std::env::var("PLUMB_HELM") {
        let p = PathBuf::from(p);
        return if p.is_dir() { p.join("helm") } else { p };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("tests/tools/build.sh"))
        .arg("helm")
        .output()
        .expect("running tests/tools/build.sh helm");
    assert!(
        out.status.success(),
        "tests/tools/build.sh helm failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let bin = PathBuf::from(dir).join("helm");
    assert!(bin.is_file(), "no helm binary at {}", bin.display());
    bin
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            collect(&e.path(), &name, out);
        } else {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
}

/// Packs a chart directory into NAME.tgz beside it, as `helm package` lays it out, with our
/// own tar and gzip writers.
fn pack(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut files = Vec::new();
    collect(dir, &name, &mut files);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let tgz = archive::gzip_stored(&archive::tar(&entries));
    std::fs::write(dir.with_file_name(format!("{name}.tgz")), tgz).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Helm's `--values` merge (cli/values mergeMaps).
fn merge_maps(a: &Value, b: &Value) -> Value {
    let (Value::Map(am), Value::Map(bm)) = (a, b) else {
        return b.clone();
    };
    let out: BTreeMap<String, Value> = am.entries.borrow().clone();
    let mut out = out;
    for (k, v) in bm.entries.borrow().iter() {
        let merged = match (out.get(k), v) {
            (Some(old @ Value::Map(_)), Value::Map(_)) => merge_maps(old, v),
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Value::map(out)
}

/// A stream of `---`/`# Source:` documents as (source, canonical object text), sorted.
fn documents(stream: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut chunks: Vec<(String, String)> = Vec::new();
    let mut source = String::new();
    let mut cur = String::new();
    for line in stream.lines() {
        if line == "---" {
            chunks.push((source.clone(), std::mem::take(&mut cur)));
            continue;
        }
        if let Some(s) = line.strip_prefix("# Source: ") {
            if cur.trim().is_empty() {
                source = s.to_string();
                continue;
            }
        }
        cur.push_str(line);
        cur.push('\n');
    }
    chunks.push((source, cur));
    let mut out = Vec::new();
    for (source, text) in chunks {
        let y: Y = serde_yaml_ng::from_str(&text).map_err(|e| format!("{source}: {e}\n{text}"))?;
        if y.is_null() {
            continue;
        }
        let key = format!(
            "{}/{}/{}",
            y.get("kind").and_then(|v| v.as_str()).unwrap_or(""),
            y.get("metadata")
                .and_then(|m| m.get("namespace"))
                .and_then(|v| v.as_str())
                .unwrap_or(""),
            y.get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|v| v.as_str())
                .unwrap_or("")
        );
        let mut canon = String::new();
        canonical(&y, 0, &mut canon);
        out.push((key, source, canon));
    }
    out.sort();
    Ok(out)
}

fn canonical(y: &Y, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match y {
        Y::Mapping(m) => {
            let mut items: Vec<(String, &Y)> = m
                .iter()
                .map(|(k, v)| {
                    (
                        serde_yaml_ng::to_string(k)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                        v,
                    )
                })
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in items {
                out.push_str(&format!("{pad}{k}:\n"));
                canonical(v, indent + 1, out);
            }
        }
        Y::Sequence(s) => {
            for v in s {
                out.push_str(&format!("{pad}-\n"));
                canonical(v, indent + 1, out);
            }
        }
        Y::Tagged(t) => canonical(&t.value, indent, out),
        other => out.push_str(&format!(
            "{pad}{}\n",
            serde_yaml_ng::to_string(other).unwrap_or_default().trim()
        )),
    }
}

fn diff(ours: &[(String, String, String)], helms: &[(String, String, String)]) -> String {
    let mut out = String::new();
    for d in helms {
        if !ours.contains(d) {
            out.push_str(&format!(
                "  only in helm: {} ({})\n{}",
                d.0,
                d.1,
                indent(&d.2, "    - ")
            ));
        }
    }
    for d in ours {
        if !helms.contains(d) {
            out.push_str(&format!(
                "  only in ours: {} ({})\n{}",
                d.0,
                d.1,
                indent(&d.2, "    + ")
            ));
        }
    }
    out
}

fn indent(s: &str, p: &str) -> String {
    s.lines().map(|l| format!("{p}{l}\n")).collect()
}

fn run_case(
    helm_bin: &Path,
    fixtures: &Path,
    name: &str,
    scratch: &Path,
) -> Result<String, String> {
    let s = setup(fixtures, name);
    let dir = scratch.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&fixtures.join(name), &dir);
    for t in &s.tgz {
        pack(&dir.join(t));
    }
    let mut cmd = Command::new(helm_bin);
    cmd.args(["template", "release"])
        .arg(&dir)
        .args(["--namespace", "default", "--include-crds"]);
    let home = scratch.join("helm-home");
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", home.join("no-kubeconfig"));
    if let Some(kv) = &s.kube_version {
        cmd.args(["--kube-version", kv]);
    }
    if !s.api_versions.is_empty() {
        cmd.args(["--api-versions", &s.api_versions.join(",")]);
    }
    let mut user = helm::values_from_yaml("").unwrap();
    for v in &s.values {
        let path = fixtures.join(v);
        cmd.arg("--values").arg(&path);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let parsed = helm::values_from_yaml(&text).map_err(|e| format!("{v}: {e}"))?;
        user = merge_maps(&user, &parsed);
    }
    let out = cmd.output().map_err(|e| format!("running helm: {e}"))?;
    let helm_out = String::from_utf8_lossy(&out.stdout).into_owned();
    let helm_err = String::from_utf8_lossy(&out.stderr).into_owned();

    let mut opts = chart::Options::new("release", "default");
    opts.values = user;
    if let Some(kv) = &s.kube_version {
        opts.capabilities.kube_version = if kv.starts_with('v') {
            kv.clone()
        } else {
            format!("v{kv}")
        };
    }
    opts.capabilities
        .api_versions
        .extend(s.api_versions.iter().cloned());
    let ours = chart::load_dir(&dir)
        .map_err(|e| e.to_string())
        .and_then(|c| chart::render(&c, &opts).map_err(|e| e.to_string()));

    if let Some(want) = &s.fail {
        if out.status.success() {
            return Err(format!("helm should fail but rendered:\n{helm_out}"));
        }
        let err = match ours {
            Ok(r) => {
                return Err(format!(
                    "ours should fail but rendered:\n{}",
                    r.to_yaml_stream()
                ))
            }
            Err(e) => e,
        };
        let missing: Vec<&String> = want.iter().filter(|w| !err.contains(w.as_str())).collect();
        if !missing.is_empty() {
            return Err(format!(
                "our error lacks {missing:?}:\n  ours: {err}\n  helm: {}",
                helm_err.trim()
            ));
        }
        return Ok(format!(
            "both fail\n    ours: {err}\n    helm: {}",
            helm_err.trim().replace('\n', "\n          ")
        ));
    }
    if !out.status.success() {
        return Err(format!("helm failed: {}", helm_err.trim()));
    }
    let ours = ours.map_err(|e| format!("ours failed: {e}"))?;
    let a =
        documents(&ours.to_yaml_stream()).map_err(|e| format!("our output does not parse: {e}"))?;
    let b = documents(&helm_out).map_err(|e| format!("helm's output does not parse: {e}"))?;
    if a != b {
        return Err(format!("outputs differ:\n{}", diff(&a, &b)));
    }
    Ok(format!("{} documents agree", a.len()))
}

#[test]
fn charts_agree_with_helm_template() {
    let helm_bin = helm_binary();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("charts");
    std::fs::create_dir_all(&scratch).unwrap();
    let only = std::env::var("PLUMB_HELM_CHARTS").unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&only))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no charts under {}", fixtures.display());
    let mut failures = Vec::new();
    for name in &names {
        match run_case(&helm_bin, &fixtures, name, &scratch) {
            Ok(msg) => println!("ok   {name}: {msg}"),
            Err(msg) => {
                println!("FAIL {name}: {msg}");
                failures.push(name.clone());
            }
        }
    }
    println!(
        "{} of {} charts agree with helm template",
        names.len() - failures.len(),
        names.len()
    );
    assert!(failures.is_empty(), "charts that disagree: {failures:?}");
}

#[test]
fn archives_refuse_escaping_paths_and_links() {
    let bad = archive::gzip_stored(&archive::tar(&[
        ("c/Chart.yaml", b"name: c\nversion: 0.1.0\napiVersion: v2\n"),
        ("c/../../etc/x", b"x"),
    ]));
    let err = chart::load_archive(&bad, "bad.tgz").unwrap_err();
    assert!(err.to_string().contains("bad.tgz"), "{err}");
    let ok = archive::gzip_stored(&archive::tar(&[(
        "c/Chart.yaml",
        b"name: c\nversion: 0.1.0\napiVersion: v2\n",
    )]));
    assert_eq!(chart::load_archive(&ok, "ok.tgz").unwrap().name(), "c");
    let err = chart::load_archive(b"not gzip", "junk.tgz").unwrap_err();
    assert!(err.to_string().starts_with("junk.tgz"), "{err}");
    let truncated = &ok[..ok.len() / 2];
    assert!(chart::load_archive(truncated, "t.tgz").is_err());
}

#[test]
fn load_errors_name_the_file() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chart-load-errors");
    let _ = std::fs::remove_dir_all(&root);
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("a/Chart.yaml", "apiVersion: v2\nname: a\n");
    let err = chart::load_dir(&root.join("a")).unwrap_err().to_string();
    assert!(
        err.contains("a/Chart.yaml") && err.contains("version is required"),
        "{err}"
    );
    write("b/Chart.yaml", "apiVersion: v2\nname: b\nversion: 0.1.0\n");
    write("b/values.yaml", "a: [1\n");
    let err = chart::load_dir(&root.join("b")).unwrap_err().to_string();
    assert!(err.contains("b/values.yaml"), "{err}");
    write("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n");
    write("c/charts/sub/values.yaml", "x: 1\n");
    let err = chart::load_dir(&root.join("c")).unwrap_err().to_string();
    assert!(
        err.contains("c/charts/sub/Chart.yaml") && err.contains("missing"),
        "{err}"
    );
    write("d/Chart.yaml", "apiVersion: v2\nname: d\nversion: 0.1.0\n");
    std::os::unix::fs::symlink("/etc/passwd", root.join("d/passwd")).unwrap();
    let err = chart::load_dir(&root.join("d")).unwrap_err().to_string();
    assert!(err.contains("d/passwd") && err.contains("symlink"), "{err}");
    write("e/Chart.yaml", "apiVersion: v2\nname: e\nversion: 0.1.0\ndependencies:\n  - name: gone\n    version: 1.0.0\n");
    let c = chart::load_dir(&root.join("e")).unwrap();
    let err = chart::render(&c, &chart::Options::new("r", "default"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing in charts/ directory: gone"), "{err}");
}
