//! Helm's engine around the template language: what `.Release`, `.Chart`,
//! `.Capabilities` and `.Template` hold, which templates render, `<no value>` removed, and
//! errors reworded as Helm's `cleanupParseError`/`cleanupExecError` do.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::exec::{ExecError, Executor, Templates};
use crate::funcs::{codec, Registry, Ty};
use crate::value::{Map, MapKind, Member, Method, Object, Value};
use crate::Error;

/// `Chart.yaml`'s fields that templates read as `.Chart`.
#[derive(Clone, Debug, Default)]
pub struct ChartMetadata {
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub api_version: String,
    pub description: String,
    pub kube_version: String,
    pub chart_type: String,
    pub home: String,
    pub icon: String,
    pub keywords: Vec<String>,
    pub sources: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    pub deprecated: bool,
    pub is_root: bool,
}

impl ChartMetadata {
    pub fn new(name: &str, version: &str, app_version: &str) -> ChartMetadata {
        ChartMetadata {
            name: name.into(),
            version: version.into(),
            app_version: app_version.into(),
            api_version: "v2".into(),
            is_root: true,
            ..ChartMetadata::default()
        }
    }
}

/// `.Release`.
#[derive(Clone, Debug)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_install: bool,
    pub is_upgrade: bool,
    pub service: String,
}

impl Release {
    pub fn new(name: &str, namespace: &str) -> Release {
        Release {
            name: name.into(),
            namespace: namespace.into(),
            revision: 1,
            is_install: true,
            is_upgrade: false,
            service: "Helm".into(),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("Name".into(), Value::str(&self.name));
        m.insert("Namespace".into(), Value::str(&self.namespace));
        m.insert("Revision".into(), Value::Int(self.revision));
        m.insert("IsInstall".into(), Value::Bool(self.is_install));
        m.insert("IsUpgrade".into(), Value::Bool(self.is_upgrade));
        m.insert("Service".into(), Value::str(&self.service));
        Value::map(m)
    }
}

/// `.Capabilities`.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// "v1.37.0"
    pub kube_version: String,
    pub api_versions: Vec<String>,
    pub helm_version: String,
}

impl Default for Capabilities {
    /// Helm's `chartutil.DefaultCapabilities`, as the pinned Helm release has them.
    fn default() -> Capabilities {
        Capabilities {
            kube_version: DEFAULT_KUBE_VERSION.into(),
            api_versions: DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect(),
            helm_version: DEFAULT_HELM_VERSION.into(),
        }
    }
}

/// What the pinned Helm (v3.22.0, built against client-go v0.37) reports by default.
pub const DEFAULT_KUBE_VERSION: &str = "v1.37.0";
pub const DEFAULT_HELM_VERSION: &str = "v3.22.0";
/// The reference Helm is built from the module proxy, which carries no commit.
const DEFAULT_GIT_COMMIT: &str = "0000000000000000000000000000000000000000";
const DEFAULT_GO_VERSION: &str = "go1.26.8";
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "lifecycle.k8s.io/v1alpha1",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

impl Capabilities {
    fn major_minor(&self) -> (String, String) {
        let v = self.kube_version.trim_start_matches('v');
        let mut parts = v.split('.');
        let major = parts.next().unwrap_or("").to_string();
        let minor = parts.next().unwrap_or("").to_string();
        (major, minor)
    }
}

struct CapabilitiesObject(Capabilities);
struct KubeVersionObject {
    version: String,
    major: String,
    minor: String,
}
struct VersionSet(Rc<Vec<String>>);
struct HelmVersionObject(String);

impl Object for CapabilitiesObject {
    fn type_name(&self) -> String {
        "*chartutil.Capabilities".into()
    }
    fn member(&self, name: &str) -> Option<Member> {
        let (major, minor) = self.0.major_minor();
        Some(Member::Field(match name {
            "KubeVersion" => Value::Object(Rc::new(KubeVersionObject {
                version: self.0.kube_version.clone(),
                major,
                minor,
            })),
            "APIVersions" => {
                Value::Object(Rc::new(VersionSet(Rc::new(self.0.api_versions.clone()))))
            }
            "HelmVersion" => Value::Object(Rc::new(HelmVersionObject(self.0.helm_version.clone()))),
            _ => return None,
        }))
    }
    fn print(&self) -> String {
        let (major, minor) = self.0.major_minor();
        format!(
            "{{{{{} {major} {minor}}} [{}] {}}}",
            self.0.kube_version,
            self.0.api_versions.join(" "),
            HelmVersionObject(self.0.helm_version.clone()).print()
        )
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        let field = |name: &str| match self.member(name) {
            Some(Member::Field(v)) => v,
            _ => Value::Nil,
        };
        Some(vec![
            ("KubeVersion".into(), field("KubeVersion")),
            (
                "APIVersions".into(),
                Value::string_list(self.0.api_versions.clone()),
            ),
            ("HelmVersion".into(), field("HelmVersion")),
        ])
    }
}

impl Object for KubeVersionObject {
    fn type_name(&self) -> String {
        "chartutil.KubeVersion".into()
    }
    fn member(&self, name: &str) -> Option<Member> {
        let method = |s: String| {
            Member::Method(Method {
                params: &[],
                variadic: None,
                call: Box::new(move |_| Ok(Value::str(&s))),
            })
        };
        Some(match name {
            "Version" => Member::Field(Value::str(&self.version)),
            "Major" => Member::Field(Value::str(&self.major)),
            "Minor" => Member::Field(Value::str(&self.minor)),
            "String" | "GitVersion" => method(self.version.clone()),
            _ => return None,
        })
    }
    fn print(&self) -> String {
        format!("{{{} {} {}}}", self.version, self.major, self.minor)
    }
    fn print_in_template(&self) -> String {
        // An addressable KubeVersion is a fmt.Stringer (its String method has a pointer receiver).
        self.version.clone()
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(vec![
            ("Version".into(), Value::str(&self.version)),
            ("Major".into(), Value::str(&self.major)),
            ("Minor".into(), Value::str(&self.minor)),
        ])
    }
    fn is_pointer(&self) -> bool {
        false
    }
}

impl Object for VersionSet {
    fn type_name(&self) -> String {
        "chartutil.VersionSet".into()
    }
    fn member(&self, name: &str) -> Option<Member> {
        match name {
            "Has" => {
                let set = self.0.clone();
                Some(Member::Method(Method {
                    params: &[Ty::String],
                    variadic: None,
                    call: Box::new(move |a| {
                        let want = a.first().and_then(Value::as_str).unwrap_or("");
                        Ok(Value::Bool(set.iter().any(|v| v == want)))
                    }),
                }))
            }
            _ => None,
        }
    }
    fn print(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn to_plain(&self) -> Value {
        Value::string_list(self.0.to_vec())
    }
    fn is_pointer(&self) -> bool {
        false
    }
}

impl Object for HelmVersionObject {
    fn type_name(&self) -> String {
        "version.BuildInfo".into()
    }
    fn member(&self, name: &str) -> Option<Member> {
        Some(Member::Field(match name {
            "Version" => Value::str(&self.0),
            "GitCommit" => Value::str(DEFAULT_GIT_COMMIT),
            "GoVersion" => Value::str(DEFAULT_GO_VERSION),
            "GitTreeState" => Value::str("clean"),
            _ => return None,
        }))
    }
    fn print(&self) -> String {
        format!(
            "{{{} {DEFAULT_GIT_COMMIT} clean {DEFAULT_GO_VERSION}}}",
            self.0
        )
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(vec![
            ("version".into(), Value::str(&self.0)),
            ("git_commit".into(), Value::str(DEFAULT_GIT_COMMIT)),
            ("git_tree_state".into(), Value::str("clean")),
            ("go_version".into(), Value::str(DEFAULT_GO_VERSION)),
        ])
    }
    fn is_pointer(&self) -> bool {
        false
    }
}

struct ChartObject(ChartMetadata);

impl Object for ChartObject {
    fn type_name(&self) -> String {
        "struct { chart.Metadata; IsRoot bool }".into()
    }
    fn member(&self, name: &str) -> Option<Member> {
        let c = &self.0;
        Some(Member::Field(match name {
            "Name" => Value::str(&c.name),
            "Home" => Value::str(&c.home),
            "Sources" => Value::string_list(c.sources.clone()),
            "Version" => Value::str(&c.version),
            "Description" => Value::str(&c.description),
            "Keywords" => Value::string_list(c.keywords.clone()),
            "Icon" => Value::str(&c.icon),
            "APIVersion" => Value::str(&c.api_version),
            "Condition" | "Tags" => Value::str(""),
            "AppVersion" => Value::str(&c.app_version),
            "Deprecated" => Value::Bool(c.deprecated),
            "Annotations" => Value::Map(Map {
                kind: MapKind::String,
                entries: Rc::new(std::cell::RefCell::new(
                    c.annotations
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::str(v)))
                        .collect(),
                )),
            }),
            "KubeVersion" => Value::str(&c.kube_version),
            "Type" => Value::str(&c.chart_type),
            "IsRoot" => Value::Bool(c.is_root),
            "Maintainers" | "Dependencies" => Value::List(crate::value::List {
                kind: crate::value::ListKind::Any,
                items: Rc::new(Vec::new()),
            }),
            _ => return None,
        }))
    }
    fn print(&self) -> String {
        let c = &self.0;
        let annotations: Vec<String> = c
            .annotations
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        format!(
            "{{{{{} {} [{}] {} {} [{}] [] {} {} {} {} {} {} map[{}] {} [] {}}} {}}}",
            c.name,
            c.home,
            c.sources.join(" "),
            c.version,
            c.description,
            c.keywords.join(" "),
            c.icon,
            c.api_version,
            "",
            "",
            c.app_version,
            c.deprecated,
            annotations.join(" "),
            c.kube_version,
            c.chart_type,
            c.is_root
        )
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        // chart.Metadata's fields in declaration order, `omitempty` each, then IsRoot.
        let c = &self.0;
        let mut fields = Vec::new();
        let mut omitempty = |k: &str, v: Value| {
            if v.truth() {
                fields.push((k.to_string(), v));
            }
        };
        omitempty("name", Value::str(&c.name));
        omitempty("home", Value::str(&c.home));
        omitempty("sources", Value::string_list(c.sources.clone()));
        omitempty("version", Value::str(&c.version));
        omitempty("description", Value::str(&c.description));
        omitempty("keywords", Value::string_list(c.keywords.clone()));
        omitempty("icon", Value::str(&c.icon));
        omitempty("apiVersion", Value::str(&c.api_version));
        omitempty("appVersion", Value::str(&c.app_version));
        omitempty("deprecated", Value::Bool(c.deprecated));
        let annotations = c
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), Value::str(v)));
        omitempty("annotations", Value::map(annotations.collect()));
        omitempty("kubeVersion", Value::str(&c.kube_version));
        omitempty("type", Value::str(&c.chart_type));
        fields.push(("IsRoot".into(), Value::Bool(c.is_root)));
        Some(fields)
    }
    fn is_pointer(&self) -> bool {
        false
    }
}

/// One chart to render: its templates (names relative to the chart, "templates/a.yaml"),
/// its coalesced values, and what Helm passes beside them.
pub struct RenderInput {
    pub chart: ChartMetadata,
    pub release: Release,
    pub capabilities: Capabilities,
    pub templates: Vec<(String, String)>,
    pub values: Value,
    /// Seeds every random and crypto function: the same seed gives the same output.
    pub seed: crate::funcs::Seed,
}

/// Parses a values file as Helm's `chartutil.ReadValues` does.
pub fn values_from_yaml(text: &str) -> Result<Value, Error> {
    let v = codec::from_yaml_values(text).map_err(Error::Values)?;
    Ok(match v {
        Value::Map(m) => Value::Map(Map {
            kind: MapKind::ChartValues,
            entries: m.entries.clone(),
        }),
        Value::Nil => Value::Map(Map {
            kind: MapKind::ChartValues,
            entries: Default::default(),
        }),
        _ => {
            return Err(Error::Values(
                "error unmarshaling JSON: cannot unmarshal into chartutil.Values".into(),
            ))
        }
    })
}

/// Helm's order for parsing templates: deeper paths first, and within a depth, names in
/// reverse order. Later definitions of a name replace earlier ones, so this decides which
/// `define` wins.
fn sort_templates(names: &mut [String]) {
    names.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
}

/// Renders every template of a chart that is not a partial, as Helm's `engine.Render` does.
pub fn render(input: &RenderInput) -> Result<BTreeMap<String, String>, Error> {
    let prefix = &input.chart.name;
    let top = top_values(input);
    let tpls: Vec<Renderable> = input
        .templates
        .iter()
        .map(|(n, t)| Renderable {
            name: format!("{prefix}/{n}"),
            text: t.clone(),
            vals: top.clone(),
            base_path: format!("{prefix}/templates"),
        })
        .collect();
    render_all(&tpls, input.seed)
}

/// One template file as Helm's engine holds it (its `renderable`): the full name
/// ("root/charts/sub/templates/a.yaml"), the text, the values its chart sees (a map
/// shared by every template of that chart: `.Template` is set in it before each render),
/// and its chart's `.Template.BasePath`.
pub struct Renderable {
    pub name: String,
    pub text: String,
    pub vals: Value,
    pub base_path: String,
}

/// What a chart's templates see at the top: Helm's `recAllTpls` map.
pub struct Scope<'a> {
    pub chart: &'a ChartMetadata,
    pub files: Value,
    pub release: &'a Release,
    pub capabilities: &'a Capabilities,
    pub values: Value,
    pub subcharts: Value,
}

/// Builds the top-level map a chart's templates see (`.Chart`, `.Files`, `.Release`,
/// `.Capabilities`, `.Values`, `.Subcharts`).
pub fn scope_value(s: Scope<'_>) -> Value {
    let mut top = BTreeMap::new();
    top.insert(
        "Chart".into(),
        Value::Object(Rc::new(ChartObject(s.chart.clone()))),
    );
    top.insert(
        "Capabilities".into(),
        Value::Object(Rc::new(CapabilitiesObject(s.capabilities.clone()))),
    );
    top.insert("Release".into(), s.release.to_value());
    top.insert("Values".into(), s.values);
    top.insert("Files".into(), s.files);
    top.insert("Subcharts".into(), s.subcharts);
    Value::map(top)
}

/// Parses every template in Helm's order and renders those that are not partials, as
/// Helm's `engine.render` does over all charts of a release.
pub fn render_all(
    tpls: &[Renderable],
    seed: crate::funcs::Seed,
) -> Result<BTreeMap<String, String>, Error> {
    let funcs = Registry::helm();
    let mut set = Templates::new();
    let mut names: Vec<String> = tpls.iter().map(|t| t.name.clone()).collect();
    names.sort();
    names.dedup();
    sort_templates(&mut names);
    // A later entry with the same name replaces an earlier one, as Go's map does.
    let by_name: BTreeMap<&str, &Renderable> = tpls.iter().map(|t| (t.name.as_str(), t)).collect();
    for name in &names {
        let Some(r) = by_name.get(name.as_str()) else {
            continue;
        };
        set.parse(name, &r.text, &funcs)
            .map_err(|e| Error::Parse(cleanup_parse_error(name, &e.0)))?;
    }
    let executor = Executor::new(&funcs, seed);
    let mut out = BTreeMap::new();
    for name in &names {
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.starts_with('_') {
            continue;
        }
        let Some(r) = by_name.get(name.as_str()) else {
            continue;
        };
        if let Value::Map(m) = &r.vals {
            let mut t = BTreeMap::new();
            t.insert("Name".to_string(), Value::str(name));
            t.insert("BasePath".to_string(), Value::str(&r.base_path));
            m.insert(
                "Template".into(),
                Value::Map(Map {
                    kind: MapKind::ChartValues,
                    entries: Rc::new(std::cell::RefCell::new(t)),
                }),
            );
        }
        let text = executor
            .execute(&set, name, &r.vals)
            .map_err(|e| Error::Exec(cleanup_exec_error(name, &e)))?;
        out.insert(name.clone(), text.replace("<no value>", ""));
    }
    Ok(out)
}

fn top_values(input: &RenderInput) -> Value {
    let mut top = BTreeMap::new();
    top.insert(
        "Chart".into(),
        Value::Object(Rc::new(ChartObject(input.chart.clone()))),
    );
    top.insert(
        "Capabilities".into(),
        Value::Object(Rc::new(CapabilitiesObject(input.capabilities.clone()))),
    );
    top.insert("Release".into(), input.release.to_value());
    top.insert("Values".into(), input.values.clone());
    top.insert("Files".into(), Value::map(BTreeMap::new()));
    top.insert("Subcharts".into(), Value::map(BTreeMap::new()));
    Value::map(top)
}

/// Helm's `cleanupParseError`: "parse error at (FILE:LINE): MESSAGE".
fn cleanup_parse_error(name: &str, err: &str) -> String {
    let tokens: Vec<&str> = err.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({name}): {err}");
    }
    format!(
        "parse error at ({}): {}",
        tokens[1],
        tokens[tokens.len() - 1]
    )
}

/// Helm's `cleanupExecError`: `required` and `fail` messages as "execution error at
/// (FILE:LINE:COL): MESSAGE"; other errors as Go words them.
fn cleanup_exec_error(name: &str, err: &ExecError) -> String {
    let ExecError::Exec(msg) = err else {
        return err.to_string();
    };
    let tokens: Vec<&str> = msg.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({name}): {msg}");
    }
    let (start, end) = (crate::funcs::WARN_START, crate::funcs::WARN_END);
    if let Some(s) = tokens[2].find(start) {
        let rest = &tokens[2][s + start.len()..];
        if let Some(e) = rest.rfind(end) {
            return format!("execution error at ({}): {}", tokens[1], &rest[..e]);
        }
    }
    msg.clone()
}
