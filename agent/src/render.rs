//! Render: the files of one revision → the Kubernetes objects to apply, each
//! with the file, document and line it came from.
//!
//! Pure: the source hands over file contents; which kinds are namespaced
//! comes from a [`Scopes`] (discovery when a cluster is at hand, a built-in
//! table plus the revision's CRDs offline). Every error names the file, the
//! document's index and its line, and all errors are reported, not just the first.

pub mod decrypt;
mod documents;
pub mod envsubst;
pub mod external;
pub mod helm;
pub mod kustomize;
pub mod names;
pub mod output;
mod scopes;
pub mod substitute;
mod yaml;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

pub use crate::model::{group_of, key_of, File, Manifest, ObjectRef, Origin};
pub use documents::parse_file;
pub(crate) use documents::{parse_file_as, text_of, yaml_documents};
pub use scopes::{OfflineScopes, Scopes};
pub(crate) use yaml::{Pointer, Reading};

/// A mistake in the revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The file is not valid YAML or JSON.
    #[error("{file}:{line}:{column}: invalid {format}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        format: &'static str,
        message: String,
    },
    /// A document that is not a Kubernetes object.
    #[error(
        "{origin}: {message}; if this file is not a Kubernetes manifest, list it in .plumbignore"
    )]
    NotAnObject { origin: Origin, message: String },
    /// An object without a name.
    #[error("{origin}: {kind} has no metadata.name")]
    NoName { origin: Origin, kind: String },
    /// The same object declared twice.
    #[error("{object} is declared twice: at {first} and at {second}")]
    Duplicate {
        object: Box<ObjectRef>,
        first: Origin,
        second: Origin,
    },
    /// A SOPS-encrypted file that cannot be decrypted (the message holds no plaintext).
    #[error("{file}: cannot be decrypted: {message}")]
    Decrypt { file: String, message: String },
    /// An object that reached the end of render still SOPS-encrypted (built by an external
    /// kustomize or a chart, which plumb does not decrypt).
    #[error("{origin}: {object} is still SOPS-encrypted (it has a 'sops' key): plumb decrypts the revision's files as it reads them, so an encrypted file must be read by plumb's own render, not an external kustomize or a chart")]
    StillEncrypted {
        origin: Origin,
        object: Box<ObjectRef>,
    },
    /// A kustomization that cannot be built; `at` is its file (and line).
    #[error("{at}: {message}")]
    Kustomize { at: String, message: String },
    /// An object plumb keeps for itself: a sync's parent, the leader Lease.
    #[error("{origin}: {object} is plumb's own ({what}); no revision may declare it")]
    Reserved {
        origin: Origin,
        object: Box<ObjectRef>,
        what: &'static str,
    },
    /// An object larger than the API server takes in one request.
    #[error("{origin}: {object} is {bytes} bytes as JSON; the API server takes at most {limit} bytes per request (3 MiB), so it could never be applied")]
    TooLarge {
        origin: Origin,
        object: Box<ObjectRef>,
        bytes: u64,
        limit: u64,
    },
    /// A name, namespace or apiVersion the API server would refuse.
    #[error("{origin}: {kind} {field} '{value}' is invalid: {rule}")]
    Invalid {
        origin: Origin,
        kind: String,
        /// "metadata.name", "metadata.namespace", "apiVersion", or a label
        /// or annotation ("metadata.labels.app").
        field: String,
        /// The value, with control and non-ASCII characters escaped.
        value: String,
        rule: String,
    },
    /// A substitution (a sync's `substitute`, `substituteFrom`) that failed in an object.
    #[error("{origin}: {object}: substitution at {error}")]
    Substitute {
        origin: Origin,
        object: Box<ObjectRef>,
        error: substitute::SubstituteError,
    },
    /// A cluster-scoped object given a namespace.
    #[error("{origin}: {object} is cluster-scoped but names namespace '{namespace}'")]
    NamespaceOnClusterScoped {
        origin: Origin,
        object: Box<ObjectRef>,
        namespace: String,
    },
}

/// File names that make a folder a kustomization.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Whether a path names a kustomization file.
pub fn is_kustomization(path: &str) -> bool {
    KUSTOMIZATION_FILES.contains(&path.rsplit('/').next().unwrap_or(path))
}

/// Whether a path is a manifest plumb reads: `*.yaml`, `*.yml`, `*.json`, or a kustomization file.
pub fn is_manifest_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    KUSTOMIZATION_FILES.contains(&name)
        || name.ends_with(".yaml")
        || name.ends_with(".yml")
        || name.ends_with(".json")
}

/// Chooses, from the paths under a sync's folder (relative to it), the
/// manifests to read, sorted: hidden files and folders are skipped, and so is
/// whatever `.plumbignore` (gitignore syntax, at the top of the folder) or the
/// sync's `exclude` globs leave out.
pub fn select(paths: &[String], plumbignore: Option<&[u8]>, exclude: &[String]) -> Vec<String> {
    use gix_ignore::glob::pattern::Case;
    let mut search = gix_ignore::Search::default();
    let parse = gix_ignore::search::Ignore {
        support_precious: false,
    };
    if let Some(bytes) = plumbignore {
        // Only fails on I/O, which a buffer has none of.
        let _ = search.add_patterns_buffer(bytes, ".plumbignore", None, parse);
    }
    if !exclude.is_empty() {
        let _ = search.add_patterns_buffer(exclude.join("\n").as_bytes(), "exclude", None, parse);
    }
    let ignored = |path: &str, is_dir: bool| {
        search
            .pattern_matching_relative_path(bstr::BStr::new(path), Some(is_dir), Case::Sensitive)
            .is_some_and(|m| !m.pattern.is_negative())
    };
    let mut out: Vec<String> = paths
        .iter()
        .filter(|p| is_manifest_path(p))
        .filter(|p| !p.split('/').any(|part| part.starts_with('.')))
        .filter(|p| {
            // As in Git, a file in an ignored folder cannot be brought back.
            let parts: Vec<&str> = p.split('/').collect();
            let dirs_ok = (1..parts.len()).all(|i| !ignored(&parts[..i].join("/"), true));
            dirs_ok && !ignored(p, false)
        })
        .cloned()
        .collect();
    out.sort();
    out
}

/// Objects, or every mistake found.
pub type Rendered = Result<Vec<Manifest>, Vec<RenderError>>;

/// Parses a sync's folder: folders holding a kustomization file are built
/// with kustomize and folders holding a Chart.yaml are rendered as Helm charts
/// (the topmost such folder wins; nothing under it is read as plain YAML),
/// every other selected manifest is parsed as plain YAML. `selected` are the
/// paths `select` chose (relative to the revision top, sorted).
pub fn parse_tree(
    fs: &dyn kustomize::Fs,
    selected: &[String],
    chart: &helm::ChartSettings,
) -> Result<Vec<Manifest>, Vec<RenderError>> {
    parse_tree_with(fs, selected, &mut |root| kustomize::build(fs, root), chart)
}

/// [`parse_tree`] with another way to build a kustomization folder
/// (`render: kustomize-external`).
pub fn parse_tree_with(
    fs: &dyn kustomize::Fs,
    selected: &[String],
    build: &mut dyn FnMut(&str) -> Rendered,
    chart: &helm::ChartSettings,
) -> Rendered {
    let parent = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    let kustomizations: Vec<String> = selected
        .iter()
        .filter(|p| is_kustomization(p))
        .map(|p| parent(p))
        .collect();
    let charts: Vec<String> = helm::chart_roots(selected)
        .into_iter()
        .filter(|d| !kustomizations.contains(d))
        .collect();
    let dirs: Vec<&String> = kustomizations.iter().chain(&charts).collect();
    let roots: Vec<&String> = dirs
        .iter()
        .copied()
        .filter(|d| !dirs.iter().any(|o| o != d && kustomize::within(o, d)))
        .collect();
    let mut built: Vec<&String> = Vec::new();
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for path in selected {
        let result = match roots.iter().find(|r| kustomize::within(r, path)) {
            Some(root) if built.contains(root) => continue,
            Some(root) => {
                built.push(root);
                if charts.contains(root) {
                    helm::build(fs, root, chart)
                } else {
                    build(root)
                }
            }
            None => match fs.read(path) {
                Some(bytes) => parse_file(&File {
                    path: path.clone(),
                    bytes,
                }),
                None => Err(vec![RenderError::Kustomize {
                    at: path.clone(),
                    message: "cannot be read".into(),
                }]),
            },
        };
        match result {
            Ok(mut found) => manifests.append(&mut found),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

/// What plumb keeps in its namespace for itself, which a revision that
/// declared it would overwrite (one sync's Git wiping another's inventory):
/// the parent ConfigMaps `plumb-<sync>`, the histories `plumb-<sync>-history` (and
/// anything else plumb names `plumb-…` there) and the leader Lease.
fn reserved(key: &ObjectRef, namespace: Option<&str>) -> Option<&'static str> {
    if namespace != Some(crate::prune::SYSTEM_NAMESPACE) {
        return None;
    }
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "ConfigMap") if key.name.starts_with("plumb-") => {
            Some("a sync's inventory and status, or its history")
        }
        ("coordination.k8s.io", "Lease") if key.name == crate::lease::LEASE_NAME => {
            Some("the leader election's Lease")
        }
        ("", "Secret") if key.name == helm::SEED_SECRET => {
            Some("the key that seeds charts' generated values")
        }
        _ => None,
    }
}

/// The largest request body kube-apiserver accepts (`MaxRequestBodyBytes`).
pub const MAX_OBJECT_BYTES: u64 = 3 * 1024 * 1024;

/// How many bytes `value` takes as JSON, counted without building the text.
fn json_size(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The first of apiVersion, name and namespace that the API server would
/// refuse, checked before any of them is put into a request path.
fn invalid_identity(
    m: &Manifest,
    api_version: &str,
    default_namespace: &str,
) -> Option<RenderError> {
    let key = m.key();
    let invalid = |field: &str, value: &str, rule: String| RenderError::Invalid {
        origin: m.origin.clone(),
        kind: key.kind.clone(),
        field: field.to_owned(),
        value: value.escape_default().to_string(),
        rule,
    };
    if let Err(rule) = names::check_api_version(api_version) {
        return Some(invalid("apiVersion", api_version, rule));
    }
    if let Err(rule) = names::check(names::name_rule(&key.group, &key.kind), &key.name) {
        return Some(invalid("metadata.name", &key.name, rule.to_owned()));
    }
    let namespace = m.object["metadata"]["namespace"]
        .as_str()
        .unwrap_or(default_namespace);
    if !namespace.is_empty() {
        if let Err(rule) = names::check(names::NameRule::Label, namespace) {
            return Some(invalid("metadata.namespace", namespace, rule.to_owned()));
        }
    }
    // The API server takes only strings here; `port: 9100` unquoted would
    // pass every other check and fail at apply, after other objects went.
    for (field, article, one) in [
        ("labels", "a", "label"),
        ("annotations", "an", "annotation"),
    ] {
        match &m.object["metadata"][field] {
            Value::Null => {}
            Value::Object(entries) => {
                if let Some((name, value)) = entries.iter().find(|(_, v)| !v.is_string()) {
                    return Some(invalid(
                        &format!("metadata.{field}.{name}"),
                        &value.to_string(),
                        format!(
                            "{article} {one}'s value must be a string; quote it (\"{}\")",
                            plain_text(value)
                        ),
                    ));
                }
            }
            other => {
                return Some(invalid(
                    &format!("metadata.{field}"),
                    &other.to_string(),
                    format!("{field} must be a mapping of names to strings"),
                ))
            }
        }
    }
    None
}

/// A scalar as a person wrote it, near enough to suggest quoting it.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What render adds to every object.
#[derive(Debug, Clone)]
pub struct Defaults<'a> {
    /// Namespace for namespaced objects that name none.
    pub namespace: &'a str,
    /// Labels added to every object (the ApplySet membership label).
    pub labels: &'a BTreeMap<String, String>,
}

/// Defaults namespaces, adds labels, and refuses
/// duplicates. Returns the objects and warnings (kinds of unknown scope).
pub fn finish(
    manifests: Vec<Manifest>,
    defaults: &Defaults,
    scopes: &dyn Scopes,
) -> Result<(Vec<Manifest>, Vec<String>), Vec<RenderError>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut seen: HashMap<ObjectRef, Origin> = HashMap::new();
    let mut out = Vec::with_capacity(manifests.len());
    for mut m in manifests {
        let key = m.key();
        let api_version = m.object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match scopes.namespaced(&api_version, &key.kind) {
            Some(true) if key.namespace.is_empty() => {
                m.object["metadata"]["namespace"] = Value::String(defaults.namespace.to_owned());
            }
            Some(false) if !key.namespace.is_empty() && m.kustomized => {
                if let Some(meta) = m.object["metadata"].as_object_mut() {
                    m.dropped_namespace = meta.remove("namespace").and_then(|ns| match ns {
                        Value::String(ns) => Some(ns),
                        _ => None,
                    });
                }
            }
            Some(false) if !key.namespace.is_empty() => {
                errors.push(RenderError::NamespaceOnClusterScoped {
                    origin: m.origin.clone(),
                    namespace: key.namespace.clone(),
                    object: Box::new(key),
                });
                continue;
            }
            None => warnings.push(format!(
                "{}: kind {} of group '{}' is unknown here (neither a built-in kind nor a CRD in the revision); its namespace is left as written",
                m.origin, key.kind, key.group
            )),
            _ => {}
        }
        if m.object["sops"].get("mac").is_some() {
            errors.push(RenderError::StillEncrypted {
                origin: m.origin.clone(),
                object: Box::new(m.key()),
            });
            continue;
        }
        if let Some(error) = invalid_identity(&m, &api_version, defaults.namespace) {
            errors.push(error);
            continue;
        }
        if let Some(what) = reserved(&m.key(), m.object["metadata"]["namespace"].as_str()) {
            errors.push(RenderError::Reserved {
                origin: m.origin.clone(),
                object: Box::new(m.key()),
                what,
            });
            continue;
        }
        let bytes = json_size(&m.object);
        if bytes > MAX_OBJECT_BYTES {
            errors.push(RenderError::TooLarge {
                origin: m.origin.clone(),
                object: Box::new(m.key()),
                bytes,
                limit: MAX_OBJECT_BYTES,
            });
            continue;
        }
        if !defaults.labels.is_empty() {
            let labels = m.object["metadata"]
                .as_object_mut()
                .expect("checked to have a name")
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(labels) = labels {
                for (k, v) in defaults.labels {
                    labels.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        let key = m.key();
        if let Some(first) = seen.get(&key) {
            errors.push(RenderError::Duplicate {
                object: Box::new(key),
                first: first.clone(),
                second: m.origin.clone(),
            });
            continue;
        }
        seen.insert(key, m.origin.clone());
        out.push(m);
    }
    if errors.is_empty() {
        Ok((out, warnings))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders exactly these files (a revision with nothing else in it).
    fn parse_files(files: &[File]) -> Rendered {
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        parse_tree(
            &kustomize::MemFs::new(files),
            &paths,
            &helm::ChartSettings::defaults("test", "", [0; 32]),
        )
    }

    fn file(path: &str, text: &str) -> File {
        File {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn render(files: &[File]) -> Result<Vec<Manifest>, Vec<RenderError>> {
        let parsed = parse_files(files)?;
        let scopes = OfflineScopes::with_crds(parsed.iter().map(|m| &m.object));
        let labels =
            BTreeMap::from([("applyset.kubernetes.io/part-of".to_owned(), "id".to_owned())]);
        finish(
            parsed,
            &Defaults {
                namespace: "apps",
                labels: &labels,
            },
            &scopes,
        )
        .map(|(m, _)| m)
    }

    #[test]
    fn label_and_annotation_values_must_be_strings() {
        let cases = [
            ("metadata: {name: a, annotations: {prometheus.io/port: 9100}}", "metadata.annotations.prometheus.io/port '9100' is invalid: an annotation's value must be a string; quote it (\"9100\")"),
            ("metadata: {name: a, labels: {tier: null}}", "metadata.labels.tier 'null' is invalid: a label's value must be a string"),
            ("metadata: {name: a, labels: [x]}", "metadata.labels '[\\\"x\\\"]' is invalid: labels must be a mapping"),
        ];
        for (metadata, expected) in cases {
            let text = format!("apiVersion: v1\nkind: ConfigMap\n{metadata}\n");
            let errors = render(&[file("x/a.yaml", &text)]).unwrap_err();
            let message = errors[0].to_string();
            assert!(
                message.starts_with("x/a.yaml:1 (document 0): ConfigMap "),
                "{message}"
            );
            assert!(message.contains(expected), "{message}");
        }
        let quoted = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {n: '1'}, annotations: {p: '9100'}}\n";
        render(&[file("x/a.yaml", quoted)]).unwrap();
    }

    #[test]
    fn multi_document_yaml_keeps_origins() {
        let text = "# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n# empty above\n\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n--- # trailing comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: other}\n";
        let out = render(&[file("x/app.yaml", text)]).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|m| (m.key().to_string(), m.origin.document, m.origin.line))
            .collect();
        assert_eq!(
            got,
            [
                ("ConfigMap apps/a".to_owned(), 0, 2),
                ("Namespace apps".to_owned(), 2, 9),
                ("ConfigMap other/b".to_owned(), 3, 14),
            ]
        );
        assert_eq!(
            out[0].object["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
            "id"
        );
        assert!(out[1].object["metadata"].get("namespace").is_none());
    }

    #[test]
    fn lists_flatten_and_json_parses() {
        let list = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n";
        let json = r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}"#;
        let out = render(&[file("l.yaml", list), file("j.json", json)]).unwrap();
        let names: Vec<_> = out.iter().map(|m| m.key().name).collect();
        assert_eq!(names, ["a", "s", "j"]);
    }

    #[test]
    fn errors_name_file_document_and_line() {
        let bad_yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [unclosed\n";
        let errors = render(&[file("bad.yaml", bad_yaml)]).unwrap_err();
        let text = errors[0].to_string();
        assert!(text.starts_with("bad.yaml:"), "{text}");
        assert!(
            matches!(&errors[0], RenderError::Syntax { line, .. } if *line >= 6),
            "{text}"
        );

        let no_kind = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nfoo: bar\n";
        let errors = render(&[file("values.yaml", no_kind)]).unwrap_err();
        let text = errors[0].to_string();
        assert!(text.contains("values.yaml:5 (document 1)"), "{text}");
        assert!(
            text.contains("no apiVersion") && text.contains(".plumbignore"),
            "{text}"
        );

        let no_name = "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n";
        let text = render(&[file("n.yaml", no_name)]).unwrap_err()[0].to_string();
        assert!(
            text.contains("n.yaml:1 (document 0): ConfigMap has no metadata.name"),
            "{text}"
        );

        let not_map = "- a\n- b\n";
        let text = render(&[file("s.yaml", not_map)]).unwrap_err()[0].to_string();
        assert!(text.contains("not a mapping"), "{text}");
    }

    #[test]
    fn duplicates_are_refused_with_both_places() {
        let a = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        let b = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: apps}\n";
        let errors = render(&[file("a.yaml", a), file("b.yaml", b)]).unwrap_err();
        let text = errors[0].to_string();
        assert!(text.contains("ConfigMap apps/x is declared twice: at a.yaml:1 (document 0) and at b.yaml:1 (document 0)"), "{text}");
    }

    #[test]
    fn chart_folders_are_rendered_the_topmost_wins_and_a_kustomization_beside_one_wins() {
        let chart = |name: &str| format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n");
        let cm = |name: &str| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{release: \"{{{{ .Release.Name }}}}\"}}\n")
        };
        let files = [
            // A chart with a subchart: the subchart renders once, as the parent's dependency.
            file("web/Chart.yaml", &chart("web")),
            file("web/templates/cm.yaml", &cm("web")),
            file("web/charts/db/Chart.yaml", &chart("db")),
            file("web/charts/db/templates/cm.yaml", &cm("db")),
            // Both a kustomization and a Chart.yaml: built as the kustomization.
            file("both/kustomization.yaml", "resources: [cm.yaml]\n"),
            file("both/Chart.yaml", &chart("both")),
            file(
                "both/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kustomized}\n",
            ),
        ];
        let parsed = parse_files(&files).unwrap();
        let names: Vec<String> = parsed.iter().map(|m| m.key().name).collect();
        assert_eq!(names, ["db", "web", "kustomized"]);
        let web = parsed.iter().find(|m| m.key().name == "web").unwrap();
        assert_eq!(
            web.object["data"]["release"], "test",
            "the sync's name is the release"
        );
        assert_eq!(web.origin.file, "web/templates/cm.yaml");
    }

    #[test]
    fn kustomization_folders_are_built_and_the_rest_read_as_yaml() {
        let cm =
            |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n");
        let files = [
            file(
                "app/kustomization.yaml",
                "namePrefix: p-\nresources: [cm.yaml, nested]\n",
            ),
            file("app/cm.yaml", &cm("a")),
            file("app/nested/kustomization.yaml", "resources: [cm.yaml]\n"),
            file("app/nested/cm.yaml", &cm("b")),
            // Not listed by app/kustomization.yaml: not applied either.
            file("app/stray.yaml", &cm("stray")),
            file("plain/cm.yaml", &cm("c")),
        ];
        let names: Vec<String> = render(&files)
            .unwrap()
            .iter()
            .map(|m| m.key().name)
            .collect();
        assert_eq!(names, ["p-a", "p-b", "c"]);

        let errors = render(&[file(
            "base/kustomization.yaml",
            "resources: [a.yaml]\nvalidators: []\n",
        )])
        .unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "base/kustomization.yaml:2: validators: not supported by plumb's built-in kustomize; use `render: kustomize-external` for this sync"
        );
    }

    #[test]
    fn kustomizes_namespace_on_a_cluster_scoped_custom_kind_is_dropped() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: issuers.ex.com}\nspec: {group: ex.com, scope: Cluster, names: {kind: ClusterIssuer, plural: issuers}}\n";
        let issuer = "apiVersion: ex.com/v1\nkind: ClusterIssuer\nmetadata: {name: letsencrypt}\n";
        let rendered = render(&[
            file("crd.yaml", crd),
            file(
                "certs/kustomization.yaml",
                "namespace: certs\nresources: [issuer.yaml]\n",
            ),
            file("certs/issuer.yaml", issuer),
        ])
        .unwrap();
        let built = rendered
            .iter()
            .find(|m| m.key().kind == "ClusterIssuer")
            .unwrap();
        assert_eq!(built.key().namespace, "", "{:?}", built.object);
        // Written by hand, the same namespace is a mistake worth refusing.
        let by_hand = issuer.replace(
            "{name: letsencrypt}",
            "{name: letsencrypt, namespace: certs}",
        );
        assert!(render(&[file("crd.yaml", crd), file("issuer.yaml", &by_hand)]).is_err());
    }

    #[test]
    fn a_kustomized_cluster_scoped_namespace_is_dropped_but_kept_for_printing() {
        let mut parsed = parse_files(&[file(
            "r.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: kube-system}\n",
        )])
        .unwrap();
        parsed[0].kustomized = true;
        let labels = BTreeMap::new();
        let defaults = Defaults {
            namespace: "d",
            labels: &labels,
        };
        let (out, _) = finish(parsed, &defaults, &OfflineScopes::default()).unwrap();
        assert_eq!(
            out[0].key().to_string(),
            "ClusterRole.rbac.authorization.k8s.io r"
        );
        assert!(out[0].object["metadata"].get("namespace").is_none());
        assert_eq!(out[0].dropped_namespace.as_deref(), Some("kube-system"));
    }

    #[test]
    fn scopes_come_from_builtins_and_revision_crds() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.ex.com}\nspec: {group: ex.com, scope: Cluster, names: {kind: Widget, plural: widgets}}\n---\napiVersion: ex.com/v1\nkind: Widget\nmetadata: {name: w}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: oops}\n";
        let errors = render(&[file("c.yaml", crd)]).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("ClusterRole.rbac.authorization.k8s.io oops/r is cluster-scoped but names namespace 'oops'"), "{}", errors[0]);
        let parsed = parse_files(&[file(
            "u.yaml",
            "apiVersion: x.io/v1\nkind: Thing\nmetadata: {name: t}\n",
        )])
        .unwrap();
        let labels = BTreeMap::new();
        let (out, warnings) = finish(
            parsed,
            &Defaults {
                namespace: "d",
                labels: &labels,
            },
            &OfflineScopes::default(),
        )
        .unwrap();
        assert!(out[0].object["metadata"].get("namespace").is_none());
        assert!(
            warnings[0].contains("kind Thing of group 'x.io' is unknown"),
            "{warnings:?}"
        );
    }

    #[test]
    fn manifest_paths() {
        assert!(
            is_manifest_path("a/b.yaml") && is_manifest_path("c.yml") && is_manifest_path("d.json")
        );
        assert!(is_manifest_path("x/Kustomization"));
        assert!(!is_manifest_path("README.md") && !is_manifest_path("x.yaml.bak"));
    }

    #[test]
    fn selection_skips_hidden_ignored_and_excluded() {
        let paths: Vec<String> = [
            "app/deploy.yaml",
            "app/svc.yml",
            "app/values.json",
            "README.md",
            ".github/ci.yaml",
            "app/.hidden.yaml",
            "tests/t.yaml",
            "charts/x/values.yaml",
            "charts/x/keep.yaml",
            "docs/a.yaml",
            "z.yaml",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ignore = b"# comment\ncharts/x/values.yaml\ndocs/\n";
        let out = select(&paths, Some(ignore), &["tests/**".into(), "*.json".into()]);
        assert_eq!(
            out,
            [
                "app/deploy.yaml",
                "app/svc.yml",
                "charts/x/keep.yaml",
                "z.yaml"
            ]
        );
        let negated = select(&paths, Some(b"*.yaml\n!z.yaml\n"), &[]);
        assert_eq!(negated, ["app/svc.yml", "app/values.json", "z.yaml"]);
    }
}
