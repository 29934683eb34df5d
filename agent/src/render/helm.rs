//! Helm charts in a revision, rendered by plumb's own engine (the `helm-template` crate),
//! as `helm template` renders them: the objects then go through the same validate, apply,
//! prune, drift and health path as every other object.

use std::collections::BTreeMap;

use helm_template::chart;
use helm_template::Value as TemplateValue;

use super::kustomize::Fs;
use super::{parse_file, File, RenderError, Rendered};

/// Whether a path names a chart's metadata file, which makes its folder a chart.
pub fn is_chart_file(path: &str) -> bool {
    path == "Chart.yaml" || path.ends_with("/Chart.yaml")
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
    let at = |message: String| {
        vec![RenderError::Kustomize {
            at: chart_file(root),
            message,
        }]
    };
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
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for (source, text) in rendered {
        let file = File {
            path: revision_path(root, &source),
            bytes: text.into_bytes(),
        };
        match parse_file(&file) {
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

/// Loads and renders a chart; the objects as (template, text) in Helm's install order:
/// CRDs from crds/ first, then the templates' objects. Test hooks are left out (plumb runs
/// no tests); other hooks are applied with the chart's objects.
fn render_files(
    files: Vec<chart::File>,
    what: &str,
    settings: &ChartSettings,
    seed: helm_template::Seed,
) -> Result<Vec<(String, String)>, String> {
    let mut chart = chart::load_memory(files, what).map_err(|e| e.to_string())?;
    if !settings.values_files.is_empty() {
        // Flux's valuesFiles: these files instead of the chart's values.yaml.
        let mut defaults = TemplateValue::empty_map();
        for (path, text) in &settings.values_files {
            let layer =
                helm_template::helm::values_from_yaml(text).map_err(|e| format!("{path}: {e}"))?;
            defaults = merge(defaults, layer);
        }
        chart.values = defaults;
    }
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
        out.push((crd.source, crd.text));
    }
    for m in rendered.manifests {
        out.push((m.source, m.text));
    }
    for hook in rendered.hooks {
        if hook.events.iter().any(|e| e.starts_with("test")) {
            continue;
        }
        out.push((hook.source, hook.text));
    }
    Ok(out)
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
