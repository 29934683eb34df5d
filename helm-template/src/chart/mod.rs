//! Helm charts on top of the engine: loading a chart (directory or `.tgz`), its
//! dependencies (conditions, tags, aliases, import-values), its values (coalesced as
//! Helm does, checked against `values.schema.json`), and what `helm template` renders:
//! the manifests in install order, the CRDs, and the hooks.
//!
//! ```no_run
//! use helm_template::{chart, helm};
//! let c = chart::load_dir(std::path::Path::new("charts/web")).unwrap();
//! let opts = chart::Options::new("web", "default");
//! let out = chart::render(&c, &opts).unwrap();
//! print!("{}", out.to_yaml_stream());
//! ```

pub mod archive;
mod files;
pub mod glob;
mod load;
pub mod manifest;
pub mod schema;
use crate::funcs::semver;
pub mod values;

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use crate::helm::{self, Capabilities, ChartMetadata, Release, Renderable};
use crate::value::{Map, MapKind, Value};

/// The most a chart may hold, all files together (Helm's `MaxDecompressedChartSize`).
pub const MAX_CHART_BYTES: usize = 100 << 20;
/// The most one file may hold (Helm's `MaxDecompressedFileSize`).
pub const MAX_FILE_BYTES: usize = 5 << 20;

/// A chart that does not load: the file, and what is wrong with it.
#[derive(Debug, Clone)]
pub struct Error {
    pub file: String,
    pub message: String,
}

impl Error {
    pub fn new(file: &str, message: &str) -> Error {
        Error {
            file: file.to_string(),
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for Error {}

/// A file of a chart, its name relative to the chart ("templates/a.yaml").
#[derive(Clone, Debug)]
pub struct File {
    pub name: String,
    pub data: Vec<u8>,
}

/// One `import-values` entry.
#[derive(Clone, Debug)]
pub enum ImportValue {
    /// `{child: a.b, parent: c}`
    Map { child: String, parent: String },
    /// `- name`: the child's `exports.name`.
    Export(String),
}

/// A `dependencies` entry of Chart.yaml.
#[derive(Clone, Debug, Default)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub import_values: Vec<ImportValue>,
    pub alias: String,
}

/// Chart.yaml.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: BTreeMap<String, String>,
    pub kube_version: String,
    /// None when Chart.yaml has no `dependencies` (Helm tells nil from empty).
    pub dependencies: Option<Vec<Dependency>>,
    /// `type`: "", "application" or "library".
    pub chart_type: String,
}

/// A loaded chart.
#[derive(Clone, Debug)]
pub struct Chart {
    pub metadata: Metadata,
    /// Every file under templates/.
    pub templates: Vec<File>,
    /// values.yaml (an empty map without one).
    pub values: Value,
    /// values.schema.json, as text.
    pub schema: Option<String>,
    /// The other files (`.Files`), crds/ among them.
    pub files: Vec<File>,
    /// The charts under charts/, by name.
    pub dependencies: Vec<Chart>,
}

impl Default for Chart {
    fn default() -> Chart {
        Chart {
            metadata: Metadata::default(),
            templates: Vec::new(),
            values: Value::Map(Map {
                kind: MapKind::ChartValues,
                entries: Default::default(),
            }),
            schema: None,
            files: Vec::new(),
            dependencies: Vec::new(),
        }
    }
}

impl Chart {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn is_library(&self) -> bool {
        self.metadata.chart_type.eq_ignore_ascii_case("library")
    }
}

/// Loads a chart directory (or a `.tgz` given as a path), as `helm template DIR` does;
/// symlinks are refused.
pub fn load_dir(path: &Path) -> Result<Chart, Error> {
    load::load_dir(path)
}

/// Loads a chart archive from its bytes; `name` names it in errors.
pub fn load_archive(data: &[u8], name: &str) -> Result<Chart, Error> {
    load::load_archive(data, name)
}

/// Loads a chart from files in memory, named relative to its folder; `name` names it in
/// errors.
pub fn load_memory(files: Vec<File>, name: &str) -> Result<Chart, Error> {
    load::load_memory(files, name)
}

/// What the render is for: `helm template`'s release and cluster.
#[derive(Clone)]
pub struct Options {
    pub release_name: String,
    pub namespace: String,
    /// The user's values (`--values`, `--set`), already merged: a map.
    pub values: Value,
    pub capabilities: Capabilities,
    pub seed: crate::funcs::Seed,
    pub is_upgrade: bool,
}

impl Options {
    pub fn new(release_name: &str, namespace: &str) -> Options {
        Options {
            release_name: release_name.into(),
            namespace: namespace.into(),
            values: Value::Map(Map {
                kind: MapKind::ChartValues,
                entries: Default::default(),
            }),
            capabilities: Capabilities::default(),
            seed: crate::funcs::Seed::from(1),
            is_upgrade: false,
        }
    }
}

/// One document of a rendered template.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// "chart/templates/x.yaml"
    pub source: String,
    pub text: String,
    pub kind: String,
    pub name: String,
}

/// A document with a `helm.sh/hook` annotation.
#[derive(Clone, Debug)]
pub struct Hook {
    pub source: String,
    pub text: String,
    pub kind: String,
    pub name: String,
    /// "pre-install", "post-upgrade", "test", …
    pub events: Vec<String>,
    pub weight: i64,
    pub delete_policies: Vec<String>,
    pub output_log_policies: Vec<String>,
    pub annotations: Vec<(String, String)>,
}

/// A file of crds/ (never templated).
#[derive(Clone, Debug)]
pub struct Crd {
    /// "chart/crds/x.yaml"
    pub source: String,
    pub text: String,
}

/// What `helm template` renders.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// The objects, in Helm's install order.
    pub manifests: Vec<Manifest>,
    pub crds: Vec<Crd>,
    pub hooks: Vec<Hook>,
    /// The root chart's templates/NOTES.txt, rendered.
    pub notes: String,
}

impl Rendered {
    /// The stream `helm template --include-crds` prints.
    pub fn to_yaml_stream(&self) -> String {
        let mut out = String::new();
        for c in &self.crds {
            out.push_str(&format!("---\n# Source: {}\n{}\n", c.source, c.text));
        }
        for m in &self.manifests {
            out.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.text));
        }
        for h in &self.hooks {
            out.push_str(&format!("---\n# Source: {}\n{}\n", h.source, h.text));
        }
        out
    }
}

fn user_map(v: &Value) -> Map {
    match v {
        Value::Map(m) => m.clone(),
        _ => values::new_map(),
    }
}

fn chart_metadata(md: &Metadata, is_root: bool) -> ChartMetadata {
    ChartMetadata {
        name: md.name.clone(),
        version: md.version.clone(),
        app_version: md.app_version.clone(),
        api_version: md.api_version.clone(),
        description: md.description.clone(),
        kube_version: md.kube_version.clone(),
        chart_type: md.chart_type.clone(),
        home: md.home.clone(),
        icon: md.icon.clone(),
        keywords: md.keywords.clone(),
        sources: md.sources.clone(),
        annotations: md.annotations.clone(),
        deprecated: md.deprecated,
        is_root,
    }
}

fn values_error(e: String) -> crate::Error {
    crate::Error::Values(e)
}

/// Renders a chart as `helm template` does.
pub fn render(chart: &Chart, opts: &Options) -> Result<Rendered, crate::Error> {
    if !matches!(chart.metadata.chart_type.as_str(), "" | "application") {
        return Err(values_error(format!(
            "{}: {} charts are not installable",
            chart.name(),
            chart.metadata.chart_type
        )));
    }
    if let Some(reqs) = &chart.metadata.dependencies {
        let missing: Vec<&str> = reqs
            .iter()
            .filter(|r| !chart.dependencies.iter().any(|d| d.metadata.name == r.name))
            .map(|r| r.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(values_error(format!(
                "{}/Chart.yaml: found in Chart.yaml, but missing in charts/ directory: {}",
                chart.name(),
                missing.join(", ")
            )));
        }
    }
    let user = user_map(&opts.values);
    let mut c = chart.clone();
    values::process_dependencies(&mut c, &user)
        .map_err(|e| values_error(format!("{}: {e}", chart.name())))?;
    let vals = values::coalesce_values(&c, &user)
        .map_err(|e| values_error(format!("{}: {e}", chart.name())))?;
    let mut report = String::new();
    validate_schemas(&c, &Value::Map(vals.clone()), &mut report);
    if !report.is_empty() {
        return Err(values_error(format!(
            "values don't meet the specifications of the schema(s) in the following chart(s):\n{report}"
        )));
    }
    let caps = &opts.capabilities;
    if !c.metadata.kube_version.is_empty()
        && !semver::is_compatible_range(&c.metadata.kube_version, &caps.kube_version)
    {
        return Err(values_error(format!(
            "chart requires kubeVersion: {} which is incompatible with Kubernetes {}",
            c.metadata.kube_version, caps.kube_version
        )));
    }
    let mut release = Release::new(&opts.release_name, &opts.namespace);
    release.is_upgrade = opts.is_upgrade;
    release.is_install = !opts.is_upgrade;
    let root_values = Value::Map(Map {
        kind: MapKind::ChartValues,
        entries: vals.entries.clone(),
    });
    let mut tpls = Vec::new();
    rec_all_tpls(&c, None, &root_values, &release, caps, c.name(), &mut tpls);
    let mut files = helm::render_all(&tpls, opts.seed)?;
    let notes_key = format!("{}/templates/NOTES.txt", c.name());
    let notes = files.get(&notes_key).cloned().unwrap_or_default();
    files.retain(|k, _| !k.ends_with("NOTES.txt"));
    let (manifests, hooks) = manifest::sort_manifests(&files).map_err(crate::Error::Exec)?;
    let mut crds = Vec::new();
    crd_objects(&c, c.name(), &mut crds);
    Ok(Rendered {
        manifests,
        crds,
        hooks,
        notes,
    })
}

fn validate_schemas(c: &Chart, values: &Value, report: &mut String) {
    if let Some(s) = &c.schema {
        if let Err(e) = schema::validate(s, values) {
            report.push_str(&format!("{}:\n{e}", c.name()));
        }
    }
    let Value::Map(m) = values else { return };
    for sub in &c.dependencies {
        match m.get(sub.name()) {
            None | Some(Value::Nil) => {}
            Some(v @ Value::Map(_)) => validate_schemas(sub, &v, report),
            Some(other) => report.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.name(),
                other.type_name()
            )),
        }
    }
}

/// Helm's `recAllTpls`: each chart's templates with the values its scope sees.
fn rec_all_tpls(
    c: &Chart,
    parent_values: Option<&Value>,
    root_values: &Value,
    release: &Release,
    caps: &Capabilities,
    full_path: &str,
    out: &mut Vec<Renderable>,
) -> Value {
    let values = match parent_values {
        None => root_values.clone(),
        Some(Value::Map(pv)) => match values::table_at(pv, c.name()) {
            Some(t) => Value::Map(Map {
                kind: MapKind::ChartValues,
                entries: t.entries.clone(),
            }),
            None => Value::Map(Map {
                kind: MapKind::ChartValues,
                entries: Default::default(),
            }),
        },
        Some(_) => Value::Map(Map {
            kind: MapKind::ChartValues,
            entries: Default::default(),
        }),
    };
    let subcharts = values::new_map();
    let file_map: BTreeMap<String, Rc<Vec<u8>>> = c
        .files
        .iter()
        .map(|f| (f.name.clone(), Rc::new(f.data.clone())))
        .collect();
    let md = chart_metadata(&c.metadata, parent_values.is_none());
    let next = helm::scope_value(helm::Scope {
        chart: &md,
        files: files::Files::value(file_map),
        release,
        capabilities: caps,
        values: values.clone(),
        subcharts: Value::Map(subcharts.clone()),
    });
    for child in &c.dependencies {
        let child_path = format!("{full_path}/charts/{}", child.name());
        let v = rec_all_tpls(
            child,
            Some(&values),
            root_values,
            release,
            caps,
            &child_path,
            out,
        );
        subcharts.insert(child.name().to_string(), v);
    }
    for t in &c.templates {
        if c.is_library() && !t.name.rsplit('/').next().unwrap_or("").starts_with('_') {
            continue;
        }
        out.push(Renderable {
            name: join(full_path, &t.name),
            text: String::from_utf8_lossy(&t.data).into_owned(),
            vals: next.clone(),
            base_path: format!("{full_path}/templates"),
        });
    }
    next
}

/// Go's `path.Join` for a prefix and a relative name.
fn join(a: &str, b: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in a.split('/').chain(b.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    parts.join("/")
}

fn crd_objects(c: &Chart, full_path: &str, out: &mut Vec<Crd>) {
    for f in &c.files {
        let ext = f
            .name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if f.name.starts_with("crds/") && matches!(ext.as_str(), "yaml" | "yml" | "json") {
            out.push(Crd {
                source: join(full_path, &f.name),
                text: String::from_utf8_lossy(&f.data).into_owned(),
            });
        }
    }
    for d in &c.dependencies {
        crd_objects(d, &format!("{full_path}/charts/{}", d.name()), out);
    }
}
