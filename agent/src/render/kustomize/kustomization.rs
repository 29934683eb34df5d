//! The kustomization file, typed: an unknown field is an error with its line,
//! as `kustomize build` refuses it too, and fields plumb does not implement
//! are refused by name rather than ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A kustomization file (`kind: Kustomization` or `kind: Component`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    /// Read and ignored, as kustomize does.
    pub metadata: Option<Value>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub image_tags: Vec<Image>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub secret_generator: Vec<GeneratorArgs>,
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub patches_json6902: Vec<Patch>,
    #[serde(default)]
    pub transformers: Vec<String>,
    #[serde(default)]
    pub generators: Vec<String>,
    pub sort_options: Option<SortOptions>,
    /// Files of field tables (see `tables`).
    #[serde(default)]
    pub configurations: Vec<String>,
    #[serde(default)]
    pub vars: Vec<super::vars::Var>,
    #[serde(default)]
    pub replacements: Vec<super::replacements::Replacement>,
    /// Files of OpenAPI definitions adding field specs (see `openapi`).
    #[serde(default)]
    pub crds: Vec<String>,
    /// The schema for strategic merge patches (see `openapi`).
    #[serde(default)]
    pub openapi: Option<serde_json::Map<String, Value>>,
    // Known to kustomize, refused by plumb (see `REFUSED`).
    pub helm_charts: Option<Value>,
    pub helm_globals: Option<Value>,
    pub helm_chart_inflation_generator: Option<Value>,
    pub build_metadata: Option<Value>,
    pub validators: Option<Value>,
}

/// An entry of `labels`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Label {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<FieldSpecArgs>,
}

/// A field spec as written in a file (`labels[].fields`, transformer configs).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpecArgs {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub create: bool,
}

/// An entry of `images`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub new_name: String,
    #[serde(default)]
    pub new_tag: String,
    #[serde(default)]
    pub digest: String,
    /// Appended to the tag written in the object, when no newTag or digest is given.
    #[serde(default)]
    pub tag_suffix: String,
}

/// An entry of `replicas`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// An entry of `configMapGenerator` or `secretGenerator`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorArgs {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub behavior: String,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    /// The older single-file form of `envs`.
    #[serde(default)]
    pub env: String,
    pub options: Option<GeneratorOptions>,
    /// Secrets only (kustomize accepts and ignores it on ConfigMaps).
    #[serde(default, rename = "type")]
    pub type_: String,
}

/// `generatorOptions`, or a generator's `options`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub disable_name_suffix_hash: bool,
    #[serde(default)]
    pub immutable: bool,
}

impl GeneratorOptions {
    /// kustomize's MergeGlobalOptionsIntoLocal: the local maps win per key,
    /// the booleans are or-ed.
    pub fn merged(local: Option<&GeneratorOptions>, global: Option<&GeneratorOptions>) -> Self {
        let mut out = local.cloned().unwrap_or_default();
        if let Some(g) = global {
            for (k, v) in &g.labels {
                out.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &g.annotations {
                out.annotations
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            out.disable_name_suffix_hash |= g.disable_name_suffix_hash;
            out.immutable |= g.immutable;
        }
        out
    }
}

/// An entry of `patches` or `patchesJson6902`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patch {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub patch: String,
    pub target: Option<Value>,
    #[serde(default)]
    pub options: BTreeMap<String, bool>,
}

/// `sortOptions`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SortOptions {
    pub order: String,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// Fields kustomize knows that plumb's built-in kustomize does not implement.
pub const REFUSED: &[&str] = &[
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
    "buildMetadata",
    "validators",
];

impl Kustomization {
    /// The refused fields this file sets, in `REFUSED` order.
    pub fn refused(&self) -> Vec<&'static str> {
        let set = [
            self.helm_charts.is_some(),
            self.helm_globals.is_some(),
            self.helm_chart_inflation_generator.is_some(),
            self.build_metadata.is_some(),
            self.validators.is_some(),
        ];
        REFUSED
            .iter()
            .zip(set)
            .filter(|(_, s)| *s)
            .map(|(f, _)| *f)
            .collect()
    }
}

/// Whether a kustomization file, as parsed YAML, sets nothing but apiVersion
/// and kind: kustomize refuses that ("kustomization.yaml is empty"), while a
/// file that sets a field to an empty value (`resources: []`) builds to
/// nothing. kustomize compares the parsed struct with an empty one, so a
/// null or an empty string counts as unset, an empty list or map as set,
/// except `bases` and `imageTags`, which it folds into `resources` and
/// `images` before comparing (appending nothing to nothing leaves nothing).
pub fn sets_nothing(document: &Value) -> bool {
    let Some(fields) = document.as_object() else {
        return true;
    };
    fields
        .iter()
        .all(|(key, value)| match (key.as_str(), value) {
            ("apiVersion" | "kind", _) | (_, Value::Null) => true,
            (_, Value::String(s)) => s.is_empty(),
            ("bases" | "imageTags", Value::Array(items)) => items.is_empty(),
            _ => false,
        })
}

/// The line (from 1) of a top-level field in the file's text, if written there.
pub fn field_line(text: &str, field: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.strip_prefix(field)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}
