//! Helm charts in a revision, rendered by plumb's own engine (the `helm-template` crate),
//! as `helm template` renders them: the objects then go through the same validate, apply,
//! prune, drift and health path as every other object.

use std::collections::BTreeMap;

use helm_template::chart;
use helm_template::Value as TemplateValue;

use super::kustomize::Fs;
use super::{parse_file, File, Manifest, RenderError, Rendered};

/// Whether a path names a chart's metadata file, which makes its folder a chart.
pub fn is_chart_file(path: &str) -> bool {
    path == "Chart.yaml" || path.ends_with("/Chart.yaml")
}

/// What plumb does with the CRDs of a chart's crds/ folder (Flux HelmRelease's `crds`).
/// Whatever the policy, they are never pruned: deleting a CRD deletes every resource of it,
/// and Helm never deletes them either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub enum CrdPolicy {
    /// Created when missing; one that exists is left as it is (Flux's install default).
    #[default]
    Create,
    /// Created, and updated when the chart changes them.
    CreateReplace,
    /// Neither created nor updated.
    Skip,
}

/// How a chart is rendered: `helm template`'s release, values and cluster.
#[derive(Debug, Clone)]
pub struct ChartSettings {
    /// `.Release.Name`.
    pub release: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// Values over the chart's defaults, merged in order (`null` deletes a default).
    pub values: Vec<ValuesLayer>,
    /// Values files that replace the chart's values.yaml, merged in order: (path, text).
    pub values_files: Vec<(String, String)>,
    /// `.Capabilities.KubeVersion`; None: Helm's default.
    pub kube_version: Option<String>,
    /// `.Capabilities.APIVersions` beyond those below.
    pub api_versions: Vec<String>,
    /// The cluster's version and API versions, instead of Helm's defaults, when there is a
    /// cluster (as `helm install` reads them; `helm template` has only the defaults).
    pub cluster: Option<ClusterCapabilities>,
    /// The cluster's key that seeds the random and crypto functions (`randAlphaNum`,
    /// `genCA`, …) with [`chart_seed`], so that the same chart and values render the same
    /// objects on every cycle and node.
    pub key: [u8; 32],
    /// `render: helm-external`: the node's `helm template` renders the chart instead of
    /// the built-in engine.
    pub external: Option<ExternalHelm>,
    /// What the CRDs of the chart's crds/ folder get.
    pub crds: CrdPolicy,
}

/// Where and how long the node's `helm template` runs.
#[derive(Debug, Clone)]
pub struct ExternalHelm {
    /// The runtime folder, where each render writes its chart and values and removes them.
    pub base: std::path::PathBuf,
    /// The sync's timeout.
    pub timeout: std::time::Duration,
}

impl ChartSettings {
    /// A chart folder under a plain sync's path: its default values, the sync's name as the
    /// release (as Argo CD names a Helm application's release after the application).
    pub fn defaults(release: &str, namespace: &str, key: [u8; 32]) -> ChartSettings {
        ChartSettings {
            release: release.to_owned(),
            namespace: if namespace.is_empty() {
                "default".to_owned()
            } else {
                namespace.to_owned()
            },
            values: Vec::new(),
            values_files: Vec::new(),
            kube_version: None,
            api_versions: Vec::new(),
            cluster: None,
            key,
            external: None,
            crds: CrdPolicy::default(),
        }
    }
}

/// What the cluster tells `.Capabilities`.
#[derive(Debug, Clone)]
pub struct ClusterCapabilities {
    /// The server's gitVersion ("v1.31.4+k3s1").
    pub kube_version: String,
    /// Group/versions and group/version/Kinds it serves.
    pub api_versions: Vec<String>,
}

/// One source of values, merged over those before it as Flux merges a HelmRelease's:
/// maps key by key, anything else replaced.
#[derive(Debug, Clone)]
pub enum ValuesLayer {
    /// A YAML document of values, and what it is for errors ("ConfigMap plumb-system/x key
    /// values.yaml").
    Yaml { origin: String, text: String },
    /// One value at a dotted path (`valuesFrom` with `targetPath`), as a string.
    At { path: String, value: String },
    /// The sync's own `values`.
    Json(serde_json::Value),
}

/// The seed of one chart: the cluster's key (the Secret [`SEED_SECRET`] in plumb-system,
/// made once with 256 random bits), the sync and the chart's folder, hashed. Another
/// cluster, sync or folder generates other values; nobody without the key can predict them.
pub fn chart_seed(key: &[u8; 32], sync: &str, root: &str) -> helm_template::Seed {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"plumb chart seed v1\0");
    ctx.update(key);
    ctx.update(sync.as_bytes());
    ctx.update(b"\0");
    ctx.update(root.as_bytes());
    let mut seed = [0u8; 32];
    seed.copy_from_slice(ctx.finish().as_ref());
    helm_template::Seed(seed)
}

/// The Secret in plumb-system that holds the cluster's chart-seed key.
pub const SEED_SECRET: &str = "plumb-chart-seed";

/// Deep `include` chains recurse; this much stack is reserved for a render (and only
/// what a chart uses of it is ever touched).
const RENDER_STACK_BYTES: usize = 64 << 20;

/// Renders the chart in folder `root` (a path in the revision; "" for its top).
pub fn build(fs: &dyn Fs, root: &str, settings: &ChartSettings) -> Rendered {
    let at = |message: String| chart_error(root, message);
    let mut files = Vec::new();
    for path in fs.files_under(root) {
        let Some(data) = fs.read(&path) else {
            return Err(at(format!("{path} cannot be read")));
        };
        let name = path
            .strip_prefix(root)
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(&path);
        files.push(chart::File {
            name: name.to_owned(),
            data,
        });
    }
    if let Some(external) = &settings.external {
        return build_external(root, files, settings, external);
    }
    let policy = settings.crds;
    let settings = settings.clone();
    let seed = chart_seed(&settings.key, &settings.release, root);
    let what = if root.is_empty() {
        ".".to_owned()
    } else {
        root.to_owned()
    };
    // Template values share maps by reference (Rc), so the whole render runs on its own
    // thread and only text crosses back.
    let rendered = std::thread::Builder::new()
        .name("helm-render".into())
        .stack_size(RENDER_STACK_BYTES)
        .spawn(move || render_files(files, &what, &settings, seed))
        .map_err(|e| at(format!("cannot start the render: {e}")))?
        .join()
        .map_err(|_| at("the chart's render failed unexpectedly".to_owned()))?
        .map_err(at)?;
    let files = rendered
        .into_iter()
        .map(|(source, text, from_crds)| (revision_path(root, &source), text, from_crds));
    parse_rendered(files, policy)
}

/// A chart's failure, reported against its Chart.yaml.
fn chart_error(root: &str, message: String) -> Vec<RenderError> {
    vec![RenderError::Kustomize {
        at: chart_file(root),
        message,
    }]
}

/// The objects of a chart's rendered files, (revision path, text, from crds/), each
/// file's origin its template's path.
fn parse_rendered(
    files: impl Iterator<Item = (String, String, bool)>,
    policy: CrdPolicy,
) -> Rendered {
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for (path, mut text, from_crds) in files {
        // Helm prints every manifest followed by a line break (`helm
        // template`, and the release manifest Flux applies), so a block
        // scalar on a template's last line keeps its final line break.
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let file = File {
            path,
            bytes: text.into_bytes(),
        };
        match parse_file(&file) {
            Ok(found) => {
                manifests.extend(mark_crds(found, from_crds, policy).into_iter().filter(|m| {
                    crate::plan::hooks::hook_of(&m.object)
                        .is_none_or(|h| crate::plan::hooks::is_run(&h.events))
                }))
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

/// The objects of one rendered file, those of a crds/ file marked with the chart's policy
/// (a crds/ file holds CRDs only; anything else in it is an ordinary object).
fn mark_crds(found: Vec<Manifest>, from_crds: bool, policy: CrdPolicy) -> Vec<Manifest> {
    found
        .into_iter()
        .map(|m| {
            let is_crd = m.object["kind"] == "CustomResourceDefinition"
                && super::group_of(m.object["apiVersion"].as_str().unwrap_or_default())
                    == "apiextensions.k8s.io";
            Manifest {
                chart_crd: (from_crds && is_crd).then_some(policy),
                ..m
            }
        })
        .collect()
}

/// Whether a template name of `helm template`'s output ("web/crds/a.yaml",
/// "web/charts/db/crds/b.yaml") is a file of a chart's crds/ folder, not a template.
fn is_crd_source(source: &str) -> bool {
    let mut parts = source.split('/').skip(1);
    loop {
        match parts.next() {
            Some("charts") => {
                if parts.next().is_none() {
                    return false;
                }
            }
            Some("crds") => return parts.next().is_some(),
            _ => return false,
        }
    }
}

fn chart_file(root: &str) -> String {
    if root.is_empty() {
        "Chart.yaml".to_owned()
    } else {
        format!("{root}/Chart.yaml")
    }
}

/// Where a rendered template lives in the revision: "mychart/templates/a.yaml" (Helm names
/// it after the chart) → "apps/mychart/templates/a.yaml".
fn revision_path(root: &str, source: &str) -> String {
    let inside = source.split_once('/').map_or(source, |(_, rest)| rest);
    if root.is_empty() {
        inside.to_owned()
    } else {
        format!("{root}/{inside}")
    }
}

/// Loads and renders a chart; the objects as (template, text, from crds/) in Helm's install order:
/// CRDs from crds/ first, then the templates' objects. Hooks on none of the install and
/// upgrade events are left out (plumb runs no tests, and neither uninstalls nor rolls back
/// through Helm); the others run as [`crate::plan::hooks`] says.
fn render_files(
    files: Vec<chart::File>,
    what: &str,
    settings: &ChartSettings,
    seed: helm_template::Seed,
) -> Result<Vec<(String, String, bool)>, String> {
    let mut chart = chart::load_memory(files, what).map_err(|e| e.to_string())?;
    if let Some(defaults) = replaced_defaults(settings)? {
        chart.values = defaults;
    }
    let values = user_values(settings)?;
    let mut options = chart::Options::new(&settings.release, &settings.namespace);
    options.values = values;
    options.seed = seed;
    if let Some(cluster) = &settings.cluster {
        options.capabilities.kube_version = cluster.kube_version.clone();
        options.capabilities.api_versions = cluster.api_versions.clone();
    }
    if let Some(v) = &settings.kube_version {
        options.capabilities.kube_version = if v.starts_with('v') {
            v.clone()
        } else {
            format!("v{v}")
        };
    }
    for v in &settings.api_versions {
        if !options.capabilities.api_versions.contains(v) {
            options.capabilities.api_versions.push(v.clone());
        }
    }
    let rendered = chart::render(&chart, &options).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for crd in rendered.crds {
        out.push((crd.source, crd.text, true));
    }
    for m in rendered.manifests {
        out.push((m.source, m.text, false));
    }
    for hook in rendered.hooks {
        out.push((hook.source, hook.text, false));
    }
    Ok(out)
}

/// Flux's `valuesFiles`, merged: the chart's values.yaml instead of its own; None without them.
fn replaced_defaults(settings: &ChartSettings) -> Result<Option<TemplateValue>, String> {
    if settings.values_files.is_empty() {
        return Ok(None);
    }
    let mut defaults = TemplateValue::empty_map();
    for (path, text) in &settings.values_files {
        let layer =
            helm_template::helm::values_from_yaml(text).map_err(|e| format!("{path}: {e}"))?;
        defaults = merge(defaults, layer);
    }
    Ok(Some(defaults))
}

/// The user values, every layer merged in order: what Helm coalesces over the chart's
/// values (`helm template --values`).
fn user_values(settings: &ChartSettings) -> Result<TemplateValue, String> {
    let mut values = TemplateValue::empty_map();
    for layer in &settings.values {
        let layer = match layer {
            ValuesLayer::Yaml { origin, text } => {
                helm_template::helm::values_from_yaml(text).map_err(|e| format!("{origin}: {e}"))?
            }
            ValuesLayer::At { path, value } => at_path(path, TemplateValue::str(value)),
            ValuesLayer::Json(v) => template_value(v),
        };
        values = merge(values, layer);
    }
    Ok(values)
}

/// Values as a YAML document Helm reads back to the same values (Helm's own `toYaml`).
fn values_yaml(values: &TemplateValue, what: &str) -> Result<String, String> {
    helm_template::funcs::codec::to_yaml(values)
        .map(|text| format!("{text}\n"))
        .ok_or_else(|| format!("{what} cannot be written as YAML for helm"))
}

/// `.Capabilities` as `helm template` is told them: the version (the sync's, else the
/// cluster's; None: Helm's default) and the API versions added to Helm's defaults.
fn external_capabilities(settings: &ChartSettings) -> (Option<String>, Vec<String>) {
    let kube_version = settings
        .kube_version
        .as_ref()
        .map(|v| {
            if v.starts_with('v') {
                v.clone()
            } else {
                format!("v{v}")
            }
        })
        .or_else(|| settings.cluster.as_ref().map(|c| c.kube_version.clone()));
    let mut api_versions = settings
        .cluster
        .as_ref()
        .map(|c| c.api_versions.clone())
        .unwrap_or_default();
    for v in &settings.api_versions {
        if !api_versions.contains(v) {
            api_versions.push(v.clone());
        }
    }
    (kube_version, api_versions)
}

/// What `helm template` gets for the chart in `root`: its files (values.yaml replaced by
/// the merged `valuesFiles`, as the built-in path replaces it), the merged user values, the
/// release and capabilities.
fn helm_template_input(
    root: &str,
    files: Vec<chart::File>,
    settings: &ChartSettings,
) -> Result<super::external::HelmTemplate, String> {
    let mut files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.data)).collect();
    if let Some(defaults) = replaced_defaults(settings)? {
        files.retain(|(name, _)| name != "values.yaml");
        files.push((
            "values.yaml".to_owned(),
            values_yaml(&defaults, "the merged valuesFiles")?.into_bytes(),
        ));
    }
    let values = values_yaml(&user_values(settings)?, "the merged values")?;
    let (kube_version, api_versions) = external_capabilities(settings);
    Ok(super::external::HelmTemplate {
        root: root.to_owned(),
        files,
        release: settings.release.clone(),
        namespace: settings.namespace.clone(),
        values,
        kube_version,
        api_versions,
    })
}

/// A hash of everything a `helm template` run is given.
fn input_hash(input: &super::external::HelmTemplate) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut field = |bytes: &[u8]| {
        ctx.update(&(bytes.len() as u64).to_le_bytes());
        ctx.update(bytes);
    };
    field(input.root.as_bytes());
    field(input.release.as_bytes());
    field(input.namespace.as_bytes());
    field(input.values.as_bytes());
    field(input.kube_version.as_deref().unwrap_or("\0none").as_bytes());
    for v in &input.api_versions {
        field(v.as_bytes());
    }
    for (name, bytes) in &input.files {
        field(name.as_bytes());
        field(bytes);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Each chart's last `helm template` output in this process, with the hash of its input:
/// while nothing the chart is given changes, helm is not run again (helm's generated values
/// are random, and would otherwise change on every cycle).
type Kept = BTreeMap<(String, String, String), ([u8; 32], Vec<u8>)>;
static KEPT: std::sync::Mutex<Kept> = std::sync::Mutex::new(BTreeMap::new());

/// Renders the chart in `root` with the node's `helm template` (`render: helm-external`).
fn build_external(
    root: &str,
    files: Vec<chart::File>,
    settings: &ChartSettings,
    external: &ExternalHelm,
) -> Rendered {
    let at = |message: String| chart_error(root, message);
    let input = helm_template_input(root, files, settings).map_err(at)?;
    let hash = input_hash(&input);
    let slot = (
        settings.release.clone(),
        settings.namespace.clone(),
        root.to_owned(),
    );
    let kept = KEPT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&slot)
        .filter(|(h, _)| *h == hash)
        .map(|(_, out)| out.clone());
    let output = match kept {
        Some(output) => output,
        None => {
            let output = super::external::helm_template(&external.base, &input, external.timeout)
                .map_err(|e| at(e.to_string()))?;
            KEPT.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(slot, (hash, output.clone()));
            output
        }
    };
    let text = String::from_utf8(output).map_err(|_| {
        at(format!(
            "`{}` printed text that is not UTF-8",
            input.shown()
        ))
    })?;
    let files = split_sources(&text).into_iter().map(|(source, chunk)| {
        let from_crds = source.as_deref().is_some_and(is_crd_source);
        let path = match source {
            Some(source) => revision_path(root, &source),
            None => format!(
                "{} (helm template)",
                if root.is_empty() { "." } else { root }
            ),
        };
        (path, chunk, from_crds)
    });
    parse_rendered(files, settings.crds)
}

/// `helm template`'s output cut at each `---` followed by `# Source: <template>`: the
/// template (None before the first) and its documents.
fn split_sources(text: &str) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    let mut current: (Option<String>, String) = (None, String::new());
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let source = lines
            .peek()
            .and_then(|next| next.trim_end().strip_prefix("# Source: "));
        match source {
            Some(source) if line.trim_end() == "---" => {
                let source = source.to_owned();
                lines.next();
                let done = std::mem::replace(&mut current, (Some(source), String::new()));
                if !done.1.trim().is_empty() {
                    out.push(done);
                }
            }
            _ => current.1.push_str(line),
        }
    }
    if !current.1.trim().is_empty() {
        out.push(current);
    }
    out
}

/// Flux's `MergeMaps`: `over`'s maps merged into `base`'s key by key, anything else
/// (lists, scalars, null) replacing what was there.
fn merge(base: TemplateValue, over: TemplateValue) -> TemplateValue {
    match (base, over) {
        (TemplateValue::Map(b), TemplateValue::Map(o)) => {
            let mut out = b.entries.borrow().clone();
            for (k, v) in o.entries.borrow().iter() {
                let merged = match out.remove(k) {
                    Some(old) => merge(old, v.clone()),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            TemplateValue::map(out)
        }
        (_, over) => over,
    }
}

/// `{a: {b: value}}` for the dotted path "a.b".
fn at_path(path: &str, value: TemplateValue) -> TemplateValue {
    path.rsplit('.').fold(value, |inner, key| {
        let mut m = BTreeMap::new();
        m.insert(key.to_owned(), inner);
        TemplateValue::map(m)
    })
}

/// A JSON value as a template value: numbers are `float64`, as Helm reads values files.
fn template_value(v: &serde_json::Value) -> TemplateValue {
    match v {
        serde_json::Value::Null => TemplateValue::Nil,
        serde_json::Value::Bool(b) => TemplateValue::Bool(*b),
        serde_json::Value::Number(n) => TemplateValue::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => TemplateValue::str(s),
        serde_json::Value::Array(items) => {
            TemplateValue::list(items.iter().map(template_value).collect())
        }
        serde_json::Value::Object(m) => TemplateValue::map(
            m.iter()
                .map(|(k, v)| (k.clone(), template_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// The revision's chart folders: those holding a Chart.yaml among `selected`.
pub fn chart_roots(selected: &[String]) -> Vec<String> {
    selected
        .iter()
        .filter(|p| is_chart_file(p))
        .map(|p| p.rsplit_once('/').map_or("", |(d, _)| d).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ChartSettings {
        let mut s = ChartSettings::defaults("web", "shop", [0; 32]);
        s.values = vec![
            ValuesLayer::Yaml {
                origin: "a".into(),
                text: "image: {tag: v1, repo: nginx}\nreplicas: 2\nlist: [1, 2]\ndrop: x\n".into(),
            },
            ValuesLayer::At {
                path: "image.tag".into(),
                value: "v2".into(),
            },
            ValuesLayer::Json(
                serde_json::json!({"list": [3], "drop": null, "port": 8080, "on": "yes"}),
            ),
        ];
        s
    }

    #[test]
    fn the_values_helm_is_given_read_back_to_the_built_in_merge() {
        let merged = user_values(&settings()).unwrap();
        let text = values_yaml(&merged, "values").unwrap();
        let back = helm_template::helm::values_from_yaml(&text).unwrap();
        let json = |v: &TemplateValue| helm_template::funcs::codec::to_yaml(v).unwrap();
        assert_eq!(json(&back), json(&merged), "{text}");
        // Maps merged key by key, lists replaced, null kept (it deletes a chart default).
        assert!(text.contains("tag: v2"), "{text}");
        assert!(text.contains("repo: nginx"), "{text}");
        assert!(text.contains("list:\n- 3\n"), "{text}");
        assert!(text.contains("drop: null"), "{text}");
        // A string that reads as a YAML 1.1 boolean stays a string.
        assert!(
            text.contains("\"on\": \"yes\"") || text.contains("on: \"yes\""),
            "{text}"
        );
    }

    #[test]
    fn helm_is_told_the_sync_s_capabilities_over_the_cluster_s() {
        let mut s = settings();
        assert_eq!(external_capabilities(&s), (None, vec![]));
        s.cluster = Some(ClusterCapabilities {
            kube_version: "v1.31.4+k3s1".into(),
            api_versions: vec!["v1".into(), "apps/v1".into()],
        });
        s.api_versions = vec!["apps/v1".into(), "monitoring.coreos.com/v1".into()];
        assert_eq!(
            external_capabilities(&s),
            (
                Some("v1.31.4+k3s1".into()),
                vec![
                    "v1".into(),
                    "apps/v1".into(),
                    "monitoring.coreos.com/v1".into()
                ]
            )
        );
        s.kube_version = Some("1.30.0".into());
        assert_eq!(external_capabilities(&s).0.as_deref(), Some("v1.30.0"));
    }

    #[test]
    fn values_files_replace_the_copied_values_yaml() {
        let mut s = settings();
        s.values_files = vec![
            ("env/a.yaml".into(), "color: red\nsize: s\n".into()),
            ("env/b.yaml".into(), "color: blue\n".into()),
        ];
        let files = vec![
            chart::File {
                name: "Chart.yaml".into(),
                data: b"name: web\n".to_vec(),
            },
            chart::File {
                name: "values.yaml".into(),
                data: b"color: green\nweight: 1\n".to_vec(),
            },
        ];
        let input = helm_template_input("apps/web", files, &s).unwrap();
        let values: Vec<_> = input
            .files
            .iter()
            .filter(|(n, _)| n == "values.yaml")
            .collect();
        assert_eq!(values.len(), 1);
        assert_eq!(
            String::from_utf8_lossy(&values[0].1),
            "color: blue\nsize: s\n"
        );
        assert_eq!(input.release, "web");
        assert_eq!(input.namespace, "shop");
        assert!(input
            .shown()
            .contains("helm template web apps/web --namespace shop"));
        assert_ne!(
            input_hash(&input),
            input_hash(&super::super::external::HelmTemplate {
                values: "x: 1\n".into(),
                ..input.clone()
            })
        );
    }

    #[test]
    fn crds_folder_files_are_told_from_templates() {
        assert!(is_crd_source("web/crds/a.yaml"));
        assert!(is_crd_source("web/charts/db/crds/b.yaml"));
        assert!(is_crd_source("web/crds/sub/c.yaml"));
        assert!(!is_crd_source("web/templates/crds/a.yaml"));
        assert!(!is_crd_source("web/charts/db/templates/crd.yaml"));
        assert!(!is_crd_source("web/crds"));
        assert!(!is_crd_source("web/charts/crds"));
    }

    #[test]
    fn only_crds_from_crds_are_marked_with_the_policy() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.ex.com}\nspec: {group: ex.com, names: {kind: Widget, plural: widgets}, scope: Namespaced, versions: []}\n";
        let files = [
            chart::File {
                name: "Chart.yaml".into(),
                data: b"apiVersion: v2\nname: web\nversion: 0.1.0\n".to_vec(),
            },
            chart::File {
                name: "crds/widgets.yaml".into(),
                data: crd.as_bytes().to_vec(),
            },
            chart::File {
                name: "templates/gadgets.yaml".into(),
                data: crd
                    .replace("widgets", "gadgets")
                    .replace("Widget", "Gadget")
                    .into_bytes(),
            },
            chart::File {
                name: "templates/w.yaml".into(),
                data: b"apiVersion: ex.com/v1\nkind: Widget\nmetadata: {name: w}\n".to_vec(),
            },
        ];
        let revision: Vec<File> = files
            .iter()
            .map(|f| File {
                path: format!("web/{}", f.name),
                bytes: f.data.clone(),
            })
            .collect();
        let fs = super::super::kustomize::MemFs::new(&revision);
        let mut s = ChartSettings::defaults("web", "shop", [0; 32]);
        s.crds = CrdPolicy::CreateReplace;
        let out = build(&fs, "web", &s).unwrap();
        let marks: BTreeMap<String, Option<CrdPolicy>> =
            out.iter().map(|m| (m.key().name, m.chart_crd)).collect();
        assert_eq!(
            marks,
            BTreeMap::from([
                ("widgets.ex.com".to_owned(), Some(CrdPolicy::CreateReplace)),
                ("gadgets.ex.com".to_owned(), None),
                ("w".to_owned(), None),
            ])
        );
    }

    #[test]
    fn helm_output_is_cut_at_each_template() {
        let out = "---\n# Source: web/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n---\n# Source: web/templates/b.yaml\na: 1\n---\nb: 2\n---\n# Source: web/crds/c.yaml\nc: 3\n";
        assert_eq!(
            split_sources(out),
            vec![
                (
                    Some("web/templates/a.yaml".into()),
                    "apiVersion: v1\nkind: ConfigMap\n".into()
                ),
                (
                    Some("web/templates/b.yaml".into()),
                    "a: 1\n---\nb: 2\n".into()
                ),
                (Some("web/crds/c.yaml".into()), "c: 3\n".into()),
            ]
        );
        assert_eq!(split_sources(""), vec![]);
        assert_eq!(
            revision_path("apps/web", "web/templates/a.yaml"),
            "apps/web/templates/a.yaml"
        );
    }
}
