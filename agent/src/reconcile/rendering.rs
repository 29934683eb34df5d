//! A cycle's render: a revision's files into objects, with its charts' inputs (the seed key,
//! the cluster's capabilities, `valuesFrom`) read from the cluster, and a revision with
//! charts rendered once per change of those inputs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::apply::ClusterScopes;
use crate::config::{self, Render};
use crate::kube::{ApiResource, Cluster};
use crate::prune;
use crate::render::substitute::Variables;
use crate::render::{self, external, File, Manifest, OfflineScopes};

use super::{Revision, Tree};

/// Where a render's charts get the key that seeds their generated values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKey {
    /// No cluster (`plumb render`, `plumb validate`): a fixed key, so generated values
    /// differ from the cluster's.
    Offline,
    /// The cluster's key if it has one, else the fixed key (`plumb diff` changes nothing).
    Read,
    /// The cluster's key, made on first use (a reconcile).
    Ensure,
}

/// Renders a revision into objects (discovery decides scopes, with the
/// revision's CRDs as fallback). Errors are lines a person can act on.
pub fn render_revision(
    client: Option<&dyn Cluster>,
    sync: &config::Sync,
    revision: &Revision,
    key: ChartKey,
) -> Result<(Vec<Manifest>, Vec<String>), Vec<String>> {
    render_revision_with(client, sync, revision, key, &[]).map(|s| (s.manifests, s.warnings))
}

/// What `plumb render` prints: the objects, the warnings, and the values decrypted from
/// SOPS files (masked unless asked for).
pub struct Shown {
    pub manifests: Vec<Manifest>,
    pub warnings: Vec<String>,
    pub secrets: Vec<String>,
}

/// [`render_revision`] with more values over every chart's defaults, after the sync's own
/// (`plumb render DIR --values FILE`).
pub fn render_revision_with(
    client: Option<&dyn Cluster>,
    sync: &config::Sync,
    revision: &Revision,
    key: ChartKey,
    more_values: &[render::helm::ValuesLayer],
) -> Result<Shown, Vec<String>> {
    let chart = chart_inputs(client, sync, revision, key, more_values)?;
    let vars = substitution(client, sync)?;
    let ((manifests, warnings), secrets) =
        render_with(client, sync, revision, chart, vars.as_ref())?;
    Ok(Shown {
        manifests,
        warnings,
        secrets,
    })
}

/// How a revision's charts render (nothing of it read from the cluster without charts): the
/// seed key, the cluster's capabilities and the sync's values, `valuesFrom` read.
fn chart_inputs(
    client: Option<&dyn Cluster>,
    sync: &config::Sync,
    revision: &Revision,
    key: ChartKey,
    more_values: &[render::helm::ValuesLayer],
) -> Result<render::helm::ChartSettings, Vec<String>> {
    let has_charts = !render::helm::chart_roots(&revision.selected).is_empty();
    // Only a revision with charts asks the cluster for their key and capabilities; the
    // node's helm seeds nothing, so it needs no key.
    let (key, cluster) = match client {
        Some(client) if has_charts && key != ChartKey::Offline => {
            let key = if sync.render == Render::HelmExternal {
                [0; 32]
            } else {
                crate::report::chart_key(client, key == ChartKey::Ensure).map_err(|e| {
                    vec![format!("the key that seeds charts' generated values: {e}")]
                })?
            };
            let capabilities = cluster_capabilities(client)
                .map_err(|e| vec![format!("the cluster's capabilities for charts: {e}")])?;
            (key, Some(capabilities))
        }
        _ => ([0; 32], None),
    };
    let tree = revision.tree.fs();
    let fs = &*tree;
    let mut chart = chart_settings(client, sync, fs, key)?;
    chart.values.extend(more_values.iter().cloned());
    chart.cluster = cluster;
    if sync.render == Render::HelmExternal {
        chart.external = Some(render::helm::ExternalHelm {
            base: external::runtime_dir(),
            timeout: sync.timeout,
        });
    }
    Ok(chart)
}

/// A digest of everything a render depends on besides the revision's files: the revision,
/// the sync's settings, the chart inputs of a revision with charts (values read from the
/// cluster, capabilities, key: None without charts) and the substitution's variables.
fn inputs_digest(
    sync: &config::Sync,
    revision: &Revision,
    chart: Option<&render::helm::ChartSettings>,
    vars: Option<&Variables>,
) -> String {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        revision.id.clone(),
        revision.selected.join("\n"),
        format!("{sync:?}"),
        format!("{chart:?}"),
    ] {
        digest.update(&(part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    if let Some(vars) = vars {
        vars.digest_into(&mut digest);
    }
    digest
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A render's objects and warnings.
type Rendered = (Vec<Manifest>, Vec<String>);

/// What a cycle renders.
pub(super) struct CycleRender {
    /// The objects and warnings (shared with the render kept for the next cycle).
    pub objects: std::sync::Arc<Rendered>,
    /// For a revision with charts or a sync with substitution, the digest of the render's
    /// inputs ([`inputs_digest`]): a change of it is a change of what is in force.
    pub digest: Option<String>,
    /// Whether this cycle rendered its charts (rather than taking the last render).
    pub fresh: bool,
}

/// What a reconcile renders: a revision with charts renders once per change of its inputs
/// ([`inputs_digest`]); an idle cycle takes the last render (kept for each sync as long as
/// the process runs) and renders nothing. A sync with substitution reads its variables once
/// per cycle: their change, like a new commit, is a new render to apply.
pub(super) fn render_for_cycle(
    client: &dyn Cluster,
    sync: &config::Sync,
    revision: &Revision,
) -> Result<CycleRender, Vec<String>> {
    use std::sync::{Arc, Mutex};
    type Last = BTreeMap<String, (String, Arc<Rendered>)>;
    static LAST: Mutex<Last> = Mutex::new(BTreeMap::new());
    let chart = chart_inputs(Some(client), sync, revision, ChartKey::Ensure, &[])?;
    let vars = substitution(Some(client), sync)?;
    if render::helm::chart_roots(&revision.selected).is_empty() {
        let digest = vars
            .as_ref()
            .map(|vars| inputs_digest(sync, revision, None, Some(vars)));
        let (rendered, _) = render_with(Some(client), sync, revision, chart, vars.as_ref())?;
        return Ok(CycleRender {
            objects: Arc::new(rendered),
            digest,
            fresh: false,
        });
    }
    let digest = inputs_digest(sync, revision, Some(&chart), vars.as_ref());
    let last = LAST
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&sync.name)
        .cloned();
    if let Some((seen, objects)) = last {
        if seen == digest {
            return Ok(CycleRender {
                objects,
                digest: Some(digest),
                fresh: false,
            });
        }
    }
    // The previous render goes first: two full renders are never held at once.
    LAST.lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&sync.name);
    let (rendered, _) = render_with(Some(client), sync, revision, chart, vars.as_ref())?;
    let objects = Arc::new(rendered);
    LAST.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(sync.name.clone(), (digest.clone(), objects.clone()));
    Ok(CycleRender {
        objects,
        digest: Some(digest),
        fresh: true,
    })
}

/// Renders a revision with its charts' inputs and the sync's substitution; with the
/// values decrypted from its SOPS files.
fn render_with(
    client: Option<&dyn Cluster>,
    sync: &config::Sync,
    revision: &Revision,
    chart: render::helm::ChartSettings,
    vars: Option<&Variables>,
) -> Result<(Rendered, Vec<String>), Vec<String>> {
    let lines = |e: Vec<render::RenderError>| e.iter().map(ToString::to_string).collect::<Vec<_>>();
    let selected = &revision.selected;
    let tree = revision.tree.fs();
    let decrypting = render::decrypt::Decrypting::new(&*tree, sync.decryption.as_ref());
    let fs = &decrypting;
    let parsed = match (&revision.tree, sync.render) {
        // Charts go to the node's helm (chart.external); kustomizations stay built in.
        (_, Render::Auto | Render::HelmExternal) => render::parse_tree(fs, selected, &chart),
        (Tree::Files(files), Render::KustomizeExternal) => {
            let base = external::runtime_dir();
            let build = &mut |dir: &str| {
                external_output(
                    dir,
                    external::build_revision(
                        &base,
                        &sync.name,
                        &revision.id,
                        files,
                        dir,
                        sync.timeout,
                    ),
                )
            };
            render::parse_tree_with(fs, selected, build, &chart)
        }
        (Tree::Folder(root), Render::KustomizeExternal) => {
            let build = &mut |dir: &str| {
                external_output(dir, external::build_folder(root, dir, sync.timeout))
            };
            render::parse_tree_with(fs, selected, build, &chart)
        }
    };
    // A file that could not be decrypted read as empty: its errors alone say what is wrong.
    let parsed = parsed.map(|mut parsed| {
        decrypting.secret_values(&mut parsed);
        parsed
    });
    let secrets = decrypting.finish().map_err(lines)?;
    let parsed = parsed.map_err(lines)?;
    // After kustomize and before every check, as Flux's post-build substitution.
    let parsed = match vars {
        Some(vars) => {
            let roots = render::helm::chart_roots(selected);
            render::substitute::substitute_all(parsed, vars, &roots).map_err(lines)?
        }
        None => parsed,
    };
    let offline = OfflineScopes::with_crds(parsed.iter().map(|m| &m.object));
    let id = prune::applyset_id(&prune::parent_name(&sync.name), prune::SYSTEM_NAMESPACE);
    let labels = BTreeMap::from([(prune::PART_OF_LABEL.to_owned(), id)]);
    let defaults = render::Defaults {
        namespace: &chart.namespace,
        labels: &labels,
    };
    let result = match client {
        Some(client) => render::finish(parsed, &defaults, &ClusterScopes { client, offline }),
        None => render::finish(parsed, &defaults, &offline),
    };
    result.map(|rendered| (rendered, secrets)).map_err(lines)
}

/// What the cluster tells charts' `.Capabilities`, asked at most every ten minutes (an
/// upgraded API server or a new CRD shows within that), so that idle cycles ask nothing.
fn cluster_capabilities(
    client: &dyn Cluster,
) -> Result<render::helm::ClusterCapabilities, crate::kube::Error> {
    type Cached = Option<(std::time::Instant, render::helm::ClusterCapabilities)>;
    static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
    const FRESH: Duration = Duration::from_secs(600);
    if let Some((at, caps)) = &*CACHE.lock().unwrap_or_else(|e| e.into_inner()) {
        if at.elapsed() < FRESH {
            return Ok(caps.clone());
        }
    }
    let caps = render::helm::ClusterCapabilities {
        kube_version: client.version()?.git_version,
        api_versions: client.api_versions()?,
    };
    *CACHE.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((std::time::Instant::now(), caps.clone()));
    Ok(caps)
}

/// How this sync's charts render: a chart folder under a plain sync's path with its
/// defaults; a `helm` sync's chart with its release, values and capabilities, its
/// `valuesFrom` read from plumb-system (none without a cluster: `plumb render` says so).
fn chart_settings(
    client: Option<&dyn Cluster>,
    sync: &config::Sync,
    fs: &dyn render::kustomize::Fs,
    key: [u8; 32],
) -> Result<render::helm::ChartSettings, Vec<String>> {
    use render::helm::{ChartSettings, ValuesLayer};
    let Some(helm) = &sync.helm else {
        return Ok(ChartSettings::defaults(&sync.name, &sync.namespace, key));
    };
    let namespace = helm.target_namespace.as_deref().unwrap_or(&sync.namespace);
    let mut settings = ChartSettings::defaults(&helm.release_name, namespace, key);
    let mut errors = Vec::new();
    if fs
        .read(format!("{}/Chart.yaml", helm.chart).trim_start_matches('/'))
        .is_none()
    {
        errors.push(format!("helm.chart '{}' holds no Chart.yaml", helm.chart));
    }
    for path in &helm.values_files {
        match fs.read(path).map(String::from_utf8) {
            Some(Ok(text)) => settings.values_files.push((path.clone(), text)),
            Some(Err(_)) => errors.push(format!("{path}: not UTF-8 (helm.valuesFiles)")),
            None => errors.push(format!(
                "{path}: no such file in the revision (helm.valuesFiles)"
            )),
        }
    }
    for reference in &helm.values_from {
        match values_from(client, reference) {
            Ok(Some(layer)) => settings.values.push(layer),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    settings.values.push(ValuesLayer::Json(helm.values.clone()));
    settings.kube_version = helm.kube_version.clone();
    settings.api_versions = helm.api_versions.clone();
    settings.crds = helm.crds;
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}

/// A ConfigMap or Secret in plumb-system (None: there is none); `what` names it in errors.
fn read_system_object(
    client: Option<&dyn Cluster>,
    kind: config::ValuesKind,
    name: &str,
    what: &str,
) -> Result<Option<serde_json::Value>, String> {
    let Some(client) = client else {
        return Err(format!(
            "{what}: read from the cluster only (plumb render has none)"
        ));
    };
    let resource = match kind {
        config::ValuesKind::ConfigMap => ApiResource::config_map(),
        config::ValuesKind::Secret => ApiResource::secret(),
    };
    client
        .get(&resource, Some(prune::SYSTEM_NAMESPACE), name)
        .map_err(|e| format!("{what}: {e}"))
}

/// One `valuesFrom` entry read from plumb-system; None when it is optional and missing.
fn values_from(
    client: Option<&dyn Cluster>,
    reference: &config::ValuesReference,
) -> Result<Option<render::helm::ValuesLayer>, String> {
    use render::helm::ValuesLayer;
    let what = format!(
        "helm.valuesFrom: {:?} {}/{} key {}",
        reference.kind,
        prune::SYSTEM_NAMESPACE,
        reference.name,
        reference.values_key
    );
    let object = read_system_object(client, reference.kind, &reference.name, &what)?;
    let text = object.as_ref().and_then(|o| match reference.kind {
        config::ValuesKind::ConfigMap => {
            o["data"][&reference.values_key].as_str().map(str::to_owned)
        }
        config::ValuesKind::Secret => {
            use base64::Engine as _;
            let encoded = o["data"][&reference.values_key].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            String::from_utf8(bytes).ok()
        }
    });
    match (text, &reference.target_path) {
        (None, _) if reference.optional => Ok(None),
        (None, _) => Err(format!("{what}: missing (set optional: true if it may be)")),
        (Some(value), Some(path)) => Ok(Some(ValuesLayer::At {
            path: path.clone(),
            value,
        })),
        (Some(text), None) => Ok(Some(ValuesLayer::Yaml { origin: what, text })),
    }
}

/// A sync's substitution variables: its `substituteFrom` objects read from plumb-system in
/// order (each key a variable; a later object's key wins), then its inline `substitute`
/// over them. None: the sync substitutes nothing.
fn substitution(
    client: Option<&dyn Cluster>,
    sync: &config::Sync,
) -> Result<Option<Variables>, Vec<String>> {
    let Some(substitution) = &sync.substitution else {
        return Ok(None);
    };
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for reference in &substitution.from {
        match substitute_from(client, reference) {
            Ok(read) => values.extend(read),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    values.extend(substitution.vars.clone());
    Ok(Some(Variables::new(values, substitution.strict)))
}

/// One `substituteFrom` entry's variables; none when it is optional and missing. Errors
/// name the object and key, never a value.
fn substitute_from(
    client: Option<&dyn Cluster>,
    reference: &config::SubstituteReference,
) -> Result<BTreeMap<String, String>, String> {
    let what = format!(
        "substituteFrom: {:?} {}/{}",
        reference.kind,
        prune::SYSTEM_NAMESPACE,
        reference.name
    );
    let object = read_system_object(client, reference.kind, &reference.name, &what)?;
    let Some(object) = object else {
        return if reference.optional {
            Ok(BTreeMap::new())
        } else {
            Err(format!("{what}: missing (set optional: true if it may be)"))
        };
    };
    let mut vars = BTreeMap::new();
    let Some(data) = object["data"].as_object() else {
        return Ok(vars);
    };
    for (key, value) in data {
        if !config::is_variable_name(key) {
            return Err(format!(
                "{what}: key '{key}' is not a variable name (a letter or _, then letters, digits or _)"
            ));
        }
        let text = match (reference.kind, value.as_str()) {
            (config::ValuesKind::ConfigMap, Some(text)) => Some(text.to_owned()),
            (config::ValuesKind::Secret, Some(encoded)) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
            }
            _ => None,
        };
        let Some(text) = text else {
            return Err(format!("{what}: key '{key}' is not UTF-8 text"));
        };
        vars.insert(key.clone(), text);
    }
    Ok(vars)
}

/// An external build's output, parsed; a failure names the folder.
fn external_output(
    dir: &str,
    output: Result<File, external::ExternalError>,
) -> Result<Vec<Manifest>, Vec<render::RenderError>> {
    match output {
        Ok(file) => render::parse_file(&file).map(|objects| {
            objects
                .into_iter()
                .map(|m| Manifest {
                    kustomized: true,
                    chart_crd: None,
                    ..m
                })
                .collect()
        }),
        Err(e) => Err(vec![render::RenderError::Kustomize {
            at: if dir.is_empty() {
                ".".into()
            } else {
                dir.to_owned()
            },
            message: e.to_string(),
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helm_sync(block: &str) -> config::Sync {
        let text = format!(
            "sources: [{{name: a, url: 'git://h/r', ref: {{branch: m}}}}]\nsyncs:\n  - {{name: web, source: a, namespace: apps, helm: {block}}}\n"
        );
        let settings =
            config::Settings::from_yaml(&text, std::path::Path::new("plumb.yaml")).unwrap();
        settings.syncs.into_iter().next().unwrap()
    }

    fn chart_revision(extra: &[(&str, &str)]) -> Revision {
        let mut files = vec![
            ("c/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"),
            ("c/values.yaml", "replicas: 1\ncolor: red\nsize: s\n"),
            (
                "c/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  ns: {{ .Release.Namespace }}\n  replicas: {{ .Values.replicas | quote }}\n  color: {{ .Values.color }}\n  size: {{ .Values.size | default \"none\" }}\n  kube: {{ .Capabilities.KubeVersion.Version }}\n  monitoring: {{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" | quote }}\n",
            ),
        ];
        files.extend_from_slice(extra);
        let files: Vec<File> = files
            .into_iter()
            .map(|(p, t)| File {
                path: p.into(),
                bytes: t.as_bytes().to_vec(),
            })
            .collect();
        Revision {
            id: "abc".into(),
            // What a helm sync selects: the chart's folder (its `path`).
            selected: files
                .iter()
                .map(|f| f.path.clone())
                .filter(|p| p.starts_with("c/") && p.ends_with(".yaml"))
                .collect(),
            tree: Tree::Files(files),
            commit: None,
        }
    }

    #[test]
    fn a_helm_sync_renders_its_chart_with_values_files_and_values_over_them() {
        let sync = helm_sync(
            "{chart: c, targetNamespace: shop, values: {replicas: 3}, valuesFiles: [env/prod.yaml], kubeVersion: 1.31.2, apiVersions: [monitoring.coreos.com/v1]}",
        );
        // valuesFiles replace the chart's values.yaml (Flux): size is gone, color is prod's.
        let revision = chart_revision(&[("env/prod.yaml", "color: blue\nreplicas: 2\n")]);
        let (manifests, _) = render_revision(None, &sync, &revision, ChartKey::Offline).unwrap();
        assert_eq!(manifests.len(), 1);
        let cm = &manifests[0].object;
        assert_eq!(cm["metadata"]["name"], "shop-web", "Flux's release name");
        assert_eq!(cm["metadata"]["namespace"], "shop", "targetNamespace wins");
        assert_eq!(cm["data"]["ns"], "shop");
        assert_eq!(cm["data"]["replicas"], "3", "values win over valuesFiles");
        assert_eq!(cm["data"]["color"], "blue");
        assert_eq!(cm["data"]["size"], "none");
        assert_eq!(cm["data"]["kube"], "v1.31.2");
        assert_eq!(cm["data"]["monitoring"], "true");
        assert_eq!(manifests[0].origin.file, "c/templates/cm.yaml");
    }

    #[test]
    fn a_helm_sync_without_its_chart_or_values_file_is_refused() {
        let sync = helm_sync("{chart: nowhere, valuesFiles: [missing.yaml]}");
        let errors =
            render_revision(None, &sync, &chart_revision(&[]), ChartKey::Offline).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("helm.chart 'nowhere' holds no Chart.yaml")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("missing.yaml: no such file")),
            "{errors:?}"
        );
        let sync = helm_sync("{chart: c, valuesFrom: [{kind: ConfigMap, name: v}]}");
        let errors =
            render_revision(None, &sync, &chart_revision(&[]), ChartKey::Offline).unwrap_err();
        assert!(
            errors[0].contains("read from the cluster only"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_chart_template_error_names_the_template_and_line() {
        let sync = helm_sync("{chart: c}");
        let revision = chart_revision(&[(
            "c/templates/bad.yaml",
            "a: b\nc: {{ required \"set image\" .Values.image }}\n",
        )]);
        let errors = render_revision(None, &sync, &revision, ChartKey::Offline).unwrap_err();
        assert!(
            errors[0].contains("c/Chart.yaml")
                && errors[0].contains("web/templates/bad.yaml:2:6")
                && errors[0].contains("set image"),
            "{errors:?}"
        );
    }
}
