//! The two kustomization fields that teach kustomize about kinds it has no
//! schema for, read as kustomize 5.5 reads them:
//!
//! - `openapi: {path: schema.json}`: an OpenAPI v2 document (what
//!   `kustomize openapi fetch` writes) whose `x-kubernetes-patch-strategy`
//!   and merge keys decide how a strategic merge patch merges lists. It
//!   replaces the built-in schema for the whole build from the kustomization
//!   that sets it on (kustomize's schema is global and set once), built-in
//!   kinds included: a Deployment the document lacks has its lists replaced
//!   whole. `openapi: {version: v1.21.2}` names kustomize's built-in schema,
//!   which is plumb's table.
//! - `crds: [file]`: OpenAPI definitions by Go type name (`{"pkg.Kind":
//!   {"Schema": …}}`), whose `x-kubernetes-*` extensions add field specs:
//!   `x-kubernetes-annotation` (commonAnnotations), `x-kubernetes-label-selector`
//!   (commonLabels), `x-kubernetes-identity` (namePrefix) and
//!   `x-kubernetes-object-ref-api-version`/`-kind`/`-name-key` (nameReference).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::kustomization::FieldSpecArgs;
use super::patch::HowMerge;
use super::refs::Backref;
use super::tables::FieldTables;

/// kustomize 5.5's one built-in schema version.
const BUILT_IN_VERSION: &str = "v1.21.2";

/// The schema a build's strategic merge patches follow.
#[derive(Debug, Default)]
pub enum Schema {
    /// No kustomization has set one yet: plumb's table.
    #[default]
    Unset,
    /// `openapi: {version: v1.21.2}`: plumb's table, set for good.
    BuiltIn,
    /// `openapi: {path: …}`.
    Custom(OpenApi),
}

impl Schema {
    /// What a kustomization's `openapi` field makes of the schema: it
    /// sets it only while nothing has, as kustomize does.
    pub fn set_from(
        &mut self,
        field: &Map<String, Value>,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<(), String> {
        if !matches!(self, Schema::Unset) {
            return Ok(());
        }
        let text = |key: &str| -> Result<Option<&str>, String> {
            match field.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(format!("openapi.{key} must be a string, not {other}")),
            }
        };
        for key in field.keys() {
            text(key)?;
        }
        match (text("path")?, text("version")?.filter(|v| !v.is_empty())) {
            (Some(_), Some(_)) => Err("builtin version and custom schema provided, cannot use both".into()),
            (Some(path), None) => {
                let schema = OpenApi::parse(&read(path)?).map_err(|e| format!("openapi.path '{path}': {e}"))?;
                *self = Schema::Custom(schema);
                Ok(())
            }
            (None, Some(BUILT_IN_VERSION)) => {
                *self = Schema::BuiltIn;
                Ok(())
            }
            (None, Some(version)) => Err(format!(
                "openapi.version '{version}': the specified OpenAPI version is not built in (kustomize 5.5 has only {BUILT_IN_VERSION})"
            )),
            (None, None) => Ok(()),
        }
    }

    pub fn custom(&self) -> Option<&OpenApi> {
        match self {
            Schema::Custom(schema) => Some(schema),
            Schema::Unset | Schema::BuiltIn => None,
        }
    }
}

/// An OpenAPI v2 document's definitions, indexed by the kinds they describe.
#[derive(Debug)]
pub struct OpenApi {
    definitions: Map<String, Value>,
    /// (apiVersion, kind) → definition name.
    kinds: HashMap<(String, String), String>,
}

/// How far `$ref`s may chain when resolving one node: deeper is a cycle.
const MAX_REFS: usize = 64;

impl OpenApi {
    pub fn parse(text: &str) -> Result<OpenApi, String> {
        let document = read_document(text)?;
        let Some(Value::Object(definitions)) = document.get("definitions").cloned() else {
            return Err("no `definitions` mapping (an OpenAPI v2 document, as `kustomize openapi fetch` writes, is expected)".into());
        };
        let mut kinds = HashMap::new();
        for (name, definition) in &definitions {
            let gvks = definition
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for gvk in gvks {
                let field = |key: &str| gvk[key].as_str().unwrap_or_default();
                let api_version = match field("group") {
                    "" => field("version").to_owned(),
                    group => format!("{group}/{}", field("version")),
                };
                kinds.insert((api_version, field("kind").to_owned()), name.clone());
            }
        }
        Ok(OpenApi { definitions, kinds })
    }

    /// How the list at `path` (fields joined by `.`, `[]` stepping into a
    /// list's elements) of an object of this kind merges; `None` when the
    /// document has no merge strategy for it (replaced whole).
    pub fn list_merge(&self, api_version: &str, kind: &str, path: &str) -> Option<HowMerge> {
        let name = self.kinds.get(&(api_version.to_owned(), kind.to_owned()))?;
        let mut node = self.definitions.get(name)?;
        let mut field = node;
        for step in path.split('.') {
            let (name, elements) = match step.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (step, false),
            };
            field = self.resolve(node)?.get("properties")?.get(name)?;
            node = field;
            if elements {
                node = self.resolve(field)?.get("items")?;
            }
        }
        let extension = |key: &str| {
            field
                .get(key)
                .or_else(|| self.resolve(field).and_then(|f| f.get(key)))
        };
        let strategy = extension("x-kubernetes-patch-strategy")?.as_str()?;
        if !strategy.split(',').any(|s| s == "merge") {
            return None;
        }
        let keys: Vec<String> = match extension("x-kubernetes-list-map-keys") {
            Some(Value::Array(keys)) => keys
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            _ => extension("x-kubernetes-patch-merge-key")
                .and_then(Value::as_str)
                .map(|k| vec![k.to_owned()])
                .unwrap_or_default(),
        };
        Some(if keys.is_empty() {
            HowMerge::Set
        } else {
            HowMerge::Keys(keys)
        })
    }

    /// The node a `$ref` (`#/definitions/name`) leads to, or the node itself.
    fn resolve<'a>(&'a self, mut node: &'a Value) -> Option<&'a Value> {
        for _ in 0..MAX_REFS {
            let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
                return Some(node);
            };
            node = self
                .definitions
                .get(reference.strip_prefix("#/definitions/")?)?;
        }
        None
    }
}

fn read_document(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))
    } else {
        crate::render::yaml::from_str(text).map_err(|e| format!("invalid YAML: {e}"))
    }
}

/// The field tables a `crds` file adds, as kustomize's LoadConfigFromCRDs
/// makes them: for each definition that looks like a Kubernetes type
/// (`kind`, `apiVersion` and `metadata` properties), named by the last
/// `.`-part of its Go type name and matching that kind in any group.
pub fn crd_tables(text: &str) -> Result<FieldTables, String> {
    let document = read_document(text)?;
    let Value::Object(types) = document else {
        return Err("not a mapping of Go type names to OpenAPI definitions".into());
    };
    // Go's encoding/json matches `Schema` in any case.
    let schema_of = |definition: &Value| -> Result<Option<Value>, String> {
        let Value::Object(fields) = definition else {
            return Err("a definition is not a mapping".into());
        };
        Ok(fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schema"))
            .map(|(_, v)| v.clone()))
    };
    let mut schemas = HashMap::new();
    for (name, definition) in &types {
        if let Some(schema) = schema_of(definition).map_err(|e| format!("'{name}': {e}"))? {
            schemas.insert(name.as_str(), schema);
        }
    }
    let mut tables = FieldTables::default();
    let mut names: Vec<&&str> = schemas.keys().collect();
    names.sort();
    for name in names {
        let properties = &schemas[*name]["properties"];
        if ["kind", "apiVersion", "metadata"]
            .iter()
            .all(|p| properties.get(p).is_some())
        {
            let kind = name.rsplit('.').next().unwrap_or(name);
            let mut walk = CrdWalk {
                schemas: &schemas,
                kind,
                tables: &mut tables,
                through: Vec::new(),
            };
            walk.definition(name, &mut Vec::new())?;
        }
    }
    tables.customized = true;
    Ok(tables)
}

struct CrdWalk<'a> {
    schemas: &'a HashMap<&'a str, Value>,
    kind: &'a str,
    tables: &'a mut FieldTables,
    /// The definitions being walked, to refuse a `$ref` cycle (kustomize
    /// recurses until its stack runs out).
    through: Vec<String>,
}

impl CrdWalk<'_> {
    fn definition(&mut self, name: &str, path: &mut Vec<String>) -> Result<(), String> {
        let Some(schema) = self.schemas.get(name) else {
            return Ok(());
        };
        if self.through.iter().any(|t| t == name) {
            return Err(format!(
                "'{name}' refers to itself through $ref ({})",
                self.through.join(" → ")
            ));
        }
        self.through.push(name.to_owned());
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            self.through.pop();
            return Ok(());
        };
        let mut props: Vec<(&String, &Value)> = properties.iter().collect();
        props.sort_by(|a, b| a.0.cmp(b.0));
        for (name, property) in props {
            path.push(name.clone());
            let extension = |key: &str| property.get(key).and_then(Value::as_str);
            let spec = |path: &[String]| FieldSpecArgs {
                group: String::new(),
                version: String::new(),
                kind: self.kind.to_owned(),
                path: path.join("/"),
                create: false,
            };
            if extension("x-kubernetes-annotation").is_some() {
                self.tables.common_annotations.push(spec(path));
            }
            if extension("x-kubernetes-label-selector").is_some() {
                self.tables.common_labels.push(spec(path));
            }
            if extension("x-kubernetes-identity").is_some() {
                self.tables.name_prefix.push(spec(path));
            }
            if let (Some(version), Some(kind)) = (
                extension("x-kubernetes-object-ref-api-version"),
                extension("x-kubernetes-object-ref-kind"),
            ) {
                let key = extension("x-kubernetes-object-ref-name-key").unwrap_or("name");
                let mut at = path.clone();
                at.push(key.to_owned());
                let referrer = spec(&at);
                match self
                    .tables
                    .name_reference
                    .iter_mut()
                    .find(|b| b.kind == kind && b.version == version && b.group.is_empty())
                {
                    Some(backref) => backref.referrers.push(referrer),
                    None => self.tables.name_reference.push(Backref {
                        group: String::new(),
                        version: version.to_owned(),
                        kind: kind.to_owned(),
                        referrers: vec![referrer],
                    }),
                }
            }
            if let Some(reference) = property.get("$ref").and_then(Value::as_str) {
                self.definition(reference, path)?;
            }
            path.pop();
        }
        self.through.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_schema_gives_merge_keys_through_refs_and_elements() {
        let schema = OpenApi::parse(
            r##"{"definitions": {
              "w": {"x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Widget"}],
                    "properties": {"spec": {"$ref": "#/definitions/spec"}}},
              "spec": {"properties": {
                "parts": {"type": "array", "items": {"$ref": "#/definitions/part"},
                          "x-kubernetes-patch-strategy": "merge,retainKeys", "x-kubernetes-patch-merge-key": "id"},
                "ports": {"type": "array", "items": {"$ref": "#/definitions/part"},
                          "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-map-keys": ["port", "protocol"]},
                "tags": {"type": "array", "x-kubernetes-patch-strategy": "merge"},
                "plain": {"type": "array", "x-kubernetes-patch-merge-key": "id"}}},
              "part": {"properties": {"subs": {"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "n"}}},
              "loop": {"$ref": "#/definitions/loop"}
            }}"##,
        )
        .unwrap();
        let how = |path: &str| schema.list_merge("example.com/v1", "Widget", path);
        assert_eq!(how("spec.parts"), Some(HowMerge::Keys(vec!["id".into()])));
        assert_eq!(
            how("spec.ports"),
            Some(HowMerge::Keys(vec!["port".into(), "protocol".into()]))
        );
        assert_eq!(how("spec.tags"), Some(HowMerge::Set));
        assert_eq!(how("spec.plain"), None);
        assert_eq!(
            how("spec.parts[].subs"),
            Some(HowMerge::Keys(vec!["n".into()]))
        );
        assert_eq!(how("spec.missing"), None);
        assert_eq!(
            schema.list_merge("example.com/v2", "Widget", "spec.parts"),
            None
        );
        assert_eq!(schema.resolve(&schema.definitions["loop"]), None);
        assert!(OpenApi::parse("swagger: '2.0'\n").is_err());
    }

    #[test]
    fn the_openapi_field_is_set_once_and_checked() {
        let read = |path: &str| -> Result<String, String> {
            match path {
                "schema.yaml" => Ok("definitions: {}\n".into()),
                _ => Err(format!("'{path}': no such file")),
            }
        };
        let field = |text: &str| {
            crate::render::yaml::from_str(text)
                .unwrap()
                .as_object()
                .unwrap()
                .clone()
        };
        let mut schema = Schema::default();
        schema.set_from(&field("{}"), &read).unwrap();
        assert!(matches!(schema, Schema::Unset));
        schema
            .set_from(&field("{path: schema.yaml}"), &read)
            .unwrap();
        assert!(schema.custom().is_some());
        schema.set_from(&field("{version: v9}"), &read).unwrap();
        assert!(
            schema.custom().is_some(),
            "a later kustomization changes nothing"
        );
        let mut fresh = Schema::default();
        for (text, error) in [
            ("{version: v1.27.0}", "not built in"),
            ("{version: v1.21.2, path: schema.yaml}", "cannot use both"),
            ("{path: other.json}", "no such file"),
            ("{path: [a]}", "must be a string"),
        ] {
            let message = fresh.set_from(&field(text), &read).unwrap_err();
            assert!(message.contains(error), "{text}: {message}");
        }
        fresh.set_from(&field("{version: v1.21.2}"), &read).unwrap();
        assert!(matches!(fresh, Schema::BuiltIn));
    }

    #[test]
    fn crd_definitions_add_field_specs_and_name_references() {
        let tables = crd_tables(
            r#"{
              "example.com/v1.MyKind": {"Schema": {"properties": {
                "apiVersion": {}, "kind": {}, "metadata": {},
                "spec": {"$ref": "example.com/v1.MySpec"}}}},
              "example.com/v1.MySpec": {"schema": {"properties": {
                "secretRef": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "Secret"},
                "beeRef": {"x-kubernetes-object-ref-api-version": "v1beta1", "x-kubernetes-object-ref-kind": "Bee", "x-kubernetes-object-ref-name-key": "id"},
                "selector": {"x-kubernetes-label-selector": ""},
                "notes": {"x-kubernetes-annotation": ""},
                "alias": {"x-kubernetes-identity": ""},
                "flag": {"x-kubernetes-identity": true}}}},
              "example.com/v1.NotAType": {"Schema": {"properties": {"spec": {}}}}
            }"#,
        )
        .unwrap();
        let paths = |specs: &[FieldSpecArgs]| {
            specs
                .iter()
                .map(|s| format!("{}:{}", s.kind, s.path))
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(&tables.common_labels), ["MyKind:spec/selector"]);
        assert_eq!(paths(&tables.common_annotations), ["MyKind:spec/notes"]);
        assert_eq!(paths(&tables.name_prefix), ["MyKind:spec/alias"]);
        let refs: Vec<String> = tables
            .name_reference
            .iter()
            .map(|b| format!("{}/{} <- {:?}", b.version, b.kind, paths(&b.referrers)))
            .collect();
        assert_eq!(
            refs,
            [
                "v1beta1/Bee <- [\"MyKind:spec/beeRef/id\"]",
                "v1/Secret <- [\"MyKind:spec/secretRef/name\"]"
            ]
        );
        let cycle = r#"{"a.K": {"Schema": {"properties": {"apiVersion": {}, "kind": {}, "metadata": {}, "spec": {"$ref": "a.S"}}}},
                        "a.S": {"Schema": {"properties": {"next": {"$ref": "a.S"}}}}}"#;
        assert!(crd_tables(cycle).unwrap_err().contains("refers to itself"));
        assert!(crd_tables("[1]").is_err());
    }
}
