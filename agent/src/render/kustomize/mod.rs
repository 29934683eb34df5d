//! Kustomize, built in: renders a folder holding a kustomization file the way
//! `kustomize build` (v5.5, as embedded in kubectl 1.32) does, for the fields
//! listed in docs/configuration.md. Anything else is an error naming the
//! field and the file.
//!
//! The steps follow kustomize's KustTarget: per kustomization, resources
//! (recursively), generators, components, then the built-in transformers in
//! kustomize's order; at the top, name hash suffixes, name references, and
//! kustomize's legacy kind order. Objects keep the file, document and line
//! they came from; generated ones point at the kustomization file.

pub mod fieldspec;
pub mod generator;
pub mod kustomization;
pub mod openapi;
pub mod patch;
pub mod refs;
pub mod replacements;
pub mod tables;
pub mod transform;
pub mod vars;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{File, Manifest, Origin, Reading, RenderError, KUSTOMIZATION_FILES};
use generator::GenKind;
use kustomization::{field_line, GeneratorArgs, Kustomization};
use tables::FieldTables;

/// Read access to a revision: `/`-separated paths relative to its top ("" is the top).
pub trait Fs {
    /// A file's bytes; None when there is no such file.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    /// Whether `path` is a folder.
    fn is_dir(&self, path: &str) -> bool;
    /// Every file below folder `dir` ("" for the top), sorted.
    fn files_under(&self, dir: &str) -> Vec<String>;
}

/// An in-memory revision (borrowed `render::File`s), for Git revisions and tests.
#[derive(Debug, Default, Clone)]
pub struct MemFs<'a> {
    files: BTreeMap<&'a str, &'a [u8]>,
}

impl<'a> MemFs<'a> {
    /// A revision holding these files.
    pub fn new(files: impl IntoIterator<Item = &'a File>) -> MemFs<'a> {
        MemFs {
            files: files
                .into_iter()
                .map(|f| (f.path.as_str(), f.bytes.as_slice()))
                .collect(),
        }
    }
}

impl Fs for MemFs<'_> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.files.get(path).map(|b| b.to_vec())
    }

    fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return !self.files.is_empty();
        }
        let prefix = format!("{path}/");
        self.files
            .range(prefix.as_str()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        if dir.is_empty() {
            return self.files.keys().map(|p| p.to_string()).collect();
        }
        let prefix = format!("{dir}/");
        self.files
            .range(prefix.as_str()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.to_string())
            .collect()
    }
}

/// A real folder (for `plumb render DIR`), paths relative to `root`.
#[derive(Debug, Clone)]
pub struct DirFs {
    /// The folder that stands for the revision's top.
    pub root: PathBuf,
}

impl Fs for DirFs {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        // Through a link only to a file inside the folder, as in a revision
        // (a generator's `files: [shadow]` linked to /etc/shadow reads nothing).
        let p = std::fs::canonicalize(self.root.join(path)).ok()?;
        let root = std::fs::canonicalize(&self.root).ok()?;
        if p.starts_with(&root) && p.is_file() {
            std::fs::read(p).ok()
        } else {
            None
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        self.root.join(path).is_dir()
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        fn walk(base: &std::path::Path, rel: &str, depth: usize, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(base.join(rel)) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = join(rel, &name);
                match entry.file_type() {
                    // Links are listed, not followed: reading one gives only a file inside.
                    Ok(t) if t.is_dir() && depth < 64 => walk(base, &path, depth + 1, out),
                    Ok(t) if t.is_file() || t.is_symlink() => out.push(path),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, dir, 0, &mut out);
        out.sort();
        out
    }
}

/// `dir/name`, or `name` at the top.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The kustomization file in `dir`, if any (kustomization.yaml, .yml, Kustomization).
pub fn kustomization_file(fs: &dyn Fs, dir: &str) -> Option<String> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|name| join(dir, name))
        .find(|p| fs.read(p).is_some())
}

/// Whether a resource names something outside the revision (kustomize
/// would fetch it).
fn is_remote(path: &str) -> bool {
    path.contains("://")
        || path.contains("?ref=")
        || path.starts_with("git@")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|h| path.starts_with(h))
}

/// `rel` seen from folder `dir`, with `.` and `..` resolved.
pub fn resolve(dir: &str, rel: &str) -> Result<String, String> {
    if is_remote(rel) {
        return Err(format!(
            "'{rel}' is remote; plumb reads only the synced revision (vendor it into the repository, or use render: kustomize-external)"
        ));
    }
    if rel.starts_with('/') {
        return Err(format!(
            "'{rel}' is an absolute path; paths are relative to the kustomization"
        ));
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("'{rel}' is outside the repository"));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Whether `path` is `dir` or under it.
pub(crate) fn within(dir: &str, path: &str) -> bool {
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// An earlier identity of an object (kustomize's previous ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl Id {
    /// kustomize's namespace for matching: "default" for none, a marker for cluster-scoped kinds.
    pub fn effective_namespace(&self) -> &str {
        effective_namespace(&self.api_version, &self.kind, &self.namespace)
    }

    /// kustomize's ResId.Equals: same group, version, kind, name and effective namespace.
    pub fn equals(&self, other: &Id) -> bool {
        self.api_version == other.api_version
            && self.kind == other.kind
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)?;
        if !self.namespace.is_empty() {
            write!(f, " in namespace {}", self.namespace)?;
        }
        Ok(())
    }
}

/// Whether kustomize knows a kind as cluster-scoped.
pub fn cluster_scoped(api_version: &str, kind: &str) -> bool {
    use super::Scopes;
    kind == "PodSecurityPolicy"
        || super::OfflineScopes::default().namespaced(api_version, kind) == Some(false)
}

fn effective_namespace<'a>(api_version: &str, kind: &str, namespace: &'a str) -> &'a str {
    if cluster_scoped(api_version, kind) {
        "_non_namespaceable_"
    } else if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

/// What a generated object does when its name already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Create,
    Merge,
    Replace,
}

/// An object on its way through a build, with what kustomize tracks in
/// build annotations.
#[derive(Debug, Clone)]
pub struct Res {
    pub object: Value,
    pub origin: Origin,
    /// Earlier identities, oldest first.
    pub prev: Vec<Id>,
    /// Name prefixes and suffixes given so far, innermost first.
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Whether the name gets kustomize's hash suffix at the end.
    pub hash: bool,
    pub behavior: Behavior,
    /// Vars bound to this object (kustomize's refVarNames).
    pub var_names: Vec<String>,
    /// Keys written with no value, which a strategic merge patch drops.
    pub empty_values: Vec<crate::render::Pointer>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_default()
}

impl Res {
    fn new(object: Value, origin: Origin) -> Res {
        Res {
            object,
            origin,
            prev: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            hash: false,
            behavior: Behavior::Create,
            var_names: Vec::new(),
            empty_values: Vec::new(),
        }
    }

    /// After a change other than a strategic merge: forgets the keys
    /// written empty that are gone or hold a value now.
    fn forget_filled_empty_values(&mut self) {
        let object = &self.object;
        self.empty_values.retain(|pointer| {
            pointer
                .iter()
                .try_fold(object, |node, token| match node {
                    Value::Object(map) => map.get(token.as_str()),
                    Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                    _ => None,
                })
                .is_some_and(|v| v.is_null() || v == "")
        });
    }
    /// apiVersion.
    pub fn api_version(&self) -> &str {
        str_at(&self.object, &["apiVersion"])
    }
    /// kind.
    pub fn kind(&self) -> &str {
        str_at(&self.object, &["kind"])
    }
    /// metadata.name.
    pub fn name(&self) -> &str {
        str_at(&self.object, &["metadata", "name"])
    }
    /// metadata.namespace, "" when unset.
    pub fn namespace(&self) -> &str {
        str_at(&self.object, &["metadata", "namespace"])
    }
    /// The identity now.
    pub fn cur(&self) -> Id {
        Id {
            api_version: self.api_version().to_owned(),
            kind: self.kind().to_owned(),
            name: self.name().to_owned(),
            namespace: self.namespace().to_owned(),
        }
    }
    /// Whether its identity now is `id` (kustomize's ResId.Equals), without
    /// building an [`Id`]: duplicate checks ask this of every pair.
    pub fn is(&self, id: &Id) -> bool {
        self.name() == id.name
            && self.kind() == id.kind
            && self.api_version() == id.api_version
            && self.effective_namespace() == id.effective_namespace()
    }
    /// The identity it was declared with.
    pub fn org(&self) -> Id {
        self.prev.first().cloned().unwrap_or_else(|| self.cur())
    }
    /// Records the identity now as an earlier one (before a rename).
    pub fn store_prev(&mut self) {
        let id = self.cur();
        self.prev.push(id);
    }
    /// Whether any identity, earlier or now, satisfies `f`.
    pub fn any_id(&self, f: impl Fn(&Id) -> bool) -> bool {
        self.prev.iter().any(&f) || f(&self.cur())
    }
    /// Whether kustomize knows its kind as cluster-scoped.
    pub fn is_cluster_scoped(&self) -> bool {
        cluster_scoped(self.api_version(), self.kind())
    }
    /// Namespace for matching (see `Id::effective_namespace`).
    pub fn effective_namespace(&self) -> &str {
        effective_namespace(self.api_version(), self.kind(), self.namespace())
    }
    /// The effective namespace it was declared with.
    pub fn org_effective_namespace(&self) -> String {
        self.org().effective_namespace().to_owned()
    }
    /// Sets metadata.name.
    pub fn set_name(&mut self, name: String) {
        if let Some(m) = self.object["metadata"].as_object_mut() {
            m.insert("name".into(), Value::String(name));
        }
    }
}

/// Adds an object; an identity already present is an error, as in kustomize.
fn append(objects: &mut Vec<Res>, res: Res) -> Result<(), String> {
    let id = res.cur();
    if let Some(other) = objects.iter().find(|o| o.is(&id)) {
        return Err(format!(
            "{id} is declared twice: at {} and at {}",
            other.origin, res.origin
        ));
    }
    objects.push(res);
    Ok(())
}

/// Adds a generated object: created, or merged into / replacing the one of
/// that identity (kustomize's appendReplaceOrMerge).
fn absorb(objects: &mut Vec<Res>, mut res: Res) -> Result<(), String> {
    let id = res.cur();
    let matches: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].any_id(|o| o.equals(&id)))
        .collect();
    match (matches.as_slice(), res.behavior) {
        ([], Behavior::Create) => {
            objects.push(res);
            Ok(())
        }
        ([], _) => Err(format!(
            "{id} does not exist, so behavior merge or replace has nothing to work on"
        )),
        ([i], Behavior::Merge | Behavior::Replace) => {
            let old = &objects[*i];
            for field in ["labels", "annotations"] {
                let mut merged = old.object["metadata"][field]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                if let Some(new) = res.object["metadata"][field].as_object() {
                    merged.extend(new.clone());
                }
                if !merged.is_empty() {
                    res.object["metadata"][field] = Value::Object(merged);
                }
            }
            if res.behavior == Behavior::Merge {
                for field in ["data", "binaryData"] {
                    let mut merged = old.object[field].as_object().cloned().unwrap_or_default();
                    if let Some(new) = res.object[field].as_object() {
                        merged.extend(new.clone());
                    }
                    if !merged.is_empty() {
                        res.object[field] = Value::Object(merged);
                    }
                }
            }
            res.set_name(old.name().to_owned());
            match old.namespace() {
                "" => {
                    if let Some(m) = res.object["metadata"].as_object_mut() {
                        m.remove("namespace");
                    }
                }
                ns => res.object["metadata"]["namespace"] = Value::String(ns.to_owned()),
            }
            res.prev = old.prev.clone();
            res.prefixes = old.prefixes.clone();
            res.suffixes = old.suffixes.clone();
            res.origin = old.origin.clone();
            objects[*i] = res;
            Ok(())
        }
        ([_], Behavior::Create) => Err(format!(
            "{id} already exists; a generator for it needs behavior merge or replace"
        )),
        _ => Err(format!("{id} matches several objects")),
    }
}

/// A loaded kustomization file.
struct Loaded {
    dir: String,
    file: String,
    text: String,
    k: Kustomization,
}

impl Loaded {
    /// An error about `field` of this file, at the field's line.
    fn err(&self, field: &str, message: impl std::fmt::Display) -> RenderError {
        let at = match field_line(&self.text, field) {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        };
        RenderError::Kustomize {
            at,
            message: format!("{field}: {message}"),
        }
    }

    /// The origin given to objects this file generates.
    fn origin(&self, field: &str) -> Origin {
        Origin {
            file: self.file.clone(),
            document: 0,
            line: field_line(&self.text, field).unwrap_or(1),
        }
    }

    /// A file a generator, patch or transformer of this kustomization
    /// reads. kustomize's default load restriction (LoadRestrictionsRootOnly)
    /// allows only files in or under the kustomization's folder.
    fn read(&self, fs: &dyn Fs, rel: &str) -> Result<Vec<u8>, String> {
        let path = resolve(&self.dir, rel)?;
        if !within(&self.dir, &path) {
            return Err(format!(
                "'{rel}' is outside this kustomization's folder; kustomize's default load restriction (LoadRestrictionsRootOnly) allows only files in or under it"
            ));
        }
        fs.read(&path)
            .ok_or_else(|| format!("'{rel}': no such file"))
    }
}

/// The state of one build.
struct Builder<'a> {
    fs: &'a dyn Fs,
    /// Folders being built, outermost first, to find cycles.
    chain: Vec<String>,
    /// The vars of every kustomization built so far.
    vars: vars::VarSet,
    /// The strategic merge schema, which the first kustomization to set
    /// `openapi` sets for the rest of the build.
    schema: openapi::Schema,
}

/// What a folder must be when built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Top,
    Resource,
    Component,
}

/// `kustomize build dir`.
pub fn build(fs: &dyn Fs, dir: &str) -> Result<Vec<crate::render::Manifest>, Vec<RenderError>> {
    let mut builder = Builder {
        fs,
        chain: Vec::new(),
        vars: vars::VarSet::default(),
        schema: openapi::Schema::default(),
    };
    let top = builder.load(dir).map_err(|e| vec![e])?;
    let mut tables = FieldTables::defaults();
    let mut objects = builder.target(&top, Vec::new(), Role::Top, &mut tables)?;
    let fail = |e: String| vec![top.err("resources", e)];
    for res in objects.iter_mut().filter(|r| r.hash) {
        let hash = generator::name_hash(&res.object);
        res.store_prev();
        let name = format!("{}-{hash}", res.name());
        res.set_name(name);
    }
    refs::fix_references(&mut objects, &tables.name_reference).map_err(fail)?;
    let var_reference = tables::specs(&tables.var_reference);
    builder
        .vars
        .resolve(&mut objects, &var_reference)
        .map_err(|e| vec![top.err("vars", e)])?;
    for res in &mut objects {
        annotations_as_text(&mut res.object);
    }
    // kustomize drops objects marked as local configuration.
    objects.retain(|r| {
        r.object["metadata"]["annotations"]["config.kubernetes.io/local-config"] != "true"
    });
    match &top.k.sort_options {
        Some(s) if s.order == "fifo" => {}
        Some(s) if s.order == "legacy" => {
            let (first, last) = s
                .legacy_sort_options
                .as_ref()
                .map(|l| (l.order_first.clone(), l.order_last.clone()))
                .unwrap_or_else(transform::default_order);
            transform::legacy_sort(&mut objects, &first, &last);
        }
        Some(s) => {
            return Err(vec![top.err(
                "sortOptions",
                format!("order '{}' is neither legacy nor fifo", s.order),
            )])
        }
        None => {
            let (first, last) = transform::default_order();
            transform::legacy_sort(&mut objects, &first, &last);
        }
    }
    Ok(objects
        .into_iter()
        .map(|r| Manifest {
            object: r.object,
            origin: r.origin,
            kustomized: true,
            chart_crd: None,
            dropped_namespace: None,
        })
        .collect())
}

/// kustomize writes every annotation's value as a string. YAML files were
/// read so ([`Reading::KustomizeResource`]); this catches what JSON files and JSON
/// patches brought: `true` is "true", `6` "6", null "null", as kubectl
/// writes them. A mapping or list stays, for validation to refuse (kubectl
/// would write "" and lose it).
fn annotations_as_text(object: &mut Value) {
    let Some(annotations) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for value in annotations.values_mut() {
        let text = match value {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        *value = Value::String(text);
    }
}

impl Builder<'_> {
    /// Reads and checks the kustomization file of `dir`.
    fn load(&self, dir: &str) -> Result<Loaded, RenderError> {
        let found: Vec<String> = KUSTOMIZATION_FILES
            .iter()
            .map(|n| join(dir, n))
            .filter(|p| self.fs.read(p).is_some())
            .collect();
        let file = match found.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(RenderError::Kustomize {
                    at: if dir.is_empty() { ".".into() } else { dir.to_owned() },
                    message: "no kustomization.yaml, kustomization.yml or Kustomization in this folder, which kustomize needs for every folder it builds".into(),
                })
            }
            [first, ..] => {
                return Err(RenderError::Kustomize {
                    at: first.clone(),
                    message: format!("the folder holds several kustomization files: {}", found.join(", ")),
                })
            }
        };
        let bytes = self.fs.read(&file).unwrap_or_default();
        let text = super::text_of(&bytes).map_err(|(line, column)| RenderError::Kustomize {
            at: format!("{file}:{line}:{column}"),
            message: "not UTF-8 (a kustomization must be UTF-8 text)".into(),
        })?;
        if let Some((line, column)) = super::yaml::too_deep(text) {
            return Err(RenderError::Kustomize {
                at: format!("{file}:{line}:{column}"),
                message: super::yaml::too_deep_message(),
            });
        }
        let k: Kustomization = if text.trim().is_empty() {
            Kustomization::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| {
                let at = match e.location() {
                    Some(l) => format!("{file}:{}:{}", l.line(), l.column()),
                    None => file.clone(),
                };
                let message = e.to_string();
                let message = match message.rfind(" at line ") {
                    Some(i) => message[..i].to_owned(),
                    None => message,
                };
                RenderError::Kustomize {
                    at,
                    message: format!("invalid kustomization: {message}"),
                }
            })?
        };
        let loaded = Loaded {
            dir: dir.to_owned(),
            file,
            text: text.to_owned(),
            k,
        };
        if let Some(field) = loaded.k.refused().first() {
            return Err(loaded.err(
                field,
                "not supported by plumb's built-in kustomize; use `render: kustomize-external` for this sync",
            ));
        }
        let sets_nothing = serde_yaml_ng::from_str::<Value>(text)
            .is_ok_and(|document| kustomization::sets_nothing(&document));
        if sets_nothing {
            return Err(RenderError::Kustomize {
                at: loaded.file.clone(),
                message: "the kustomization is empty".into(),
            });
        }
        let kind = loaded.k.kind.as_deref().unwrap_or("Kustomization");
        let wanted_version = match kind {
            "Kustomization" => "kustomize.config.k8s.io/v1beta1",
            "Component" => "kustomize.config.k8s.io/v1alpha1",
            other => {
                return Err(loaded.err(
                    "kind",
                    format!("'{other}' should be Kustomization or Component"),
                ))
            }
        };
        match loaded.k.api_version.as_deref() {
            Some(v) if v != wanted_version => Err(loaded.err(
                "apiVersion",
                format!("'{v}' should be {wanted_version} for kind {kind}"),
            )),
            _ => Ok(loaded),
        }
    }

    /// A folder to build from a `resources` or `components` entry.
    fn enter(&self, l: &Loaded, field: &str, path: &str) -> Result<Loaded, RenderError> {
        if let Some(visited) = self.chain.iter().find(|c| within(path, c)) {
            return Err(l.err(
                field,
                format!(
                    "cycle: '{}' holds '{}', which is being built",
                    show(path),
                    show(visited)
                ),
            ));
        }
        self.load(path)
    }

    /// Builds one kustomization onto `objects` (empty unless it is a
    /// component), adding its field tables to `tables`.
    fn target(
        &mut self,
        l: &Loaded,
        objects: Vec<Res>,
        role: Role,
        tables: &mut FieldTables,
    ) -> Result<Vec<Res>, Vec<RenderError>> {
        let is_component = l.k.kind.as_deref() == Some("Component");
        if role == Role::Component && !is_component {
            return Err(vec![RenderError::Kustomize {
                at: l.file.clone(),
                message: "listed under components, but its kind is not Component".into(),
            }]);
        }
        if role == Role::Resource && is_component {
            return Err(vec![RenderError::Kustomize {
                at: l.file.clone(),
                message: "a Component cannot be listed under resources; list it under components"
                    .into(),
            }]);
        }
        self.chain.push(l.dir.clone());
        let result = self.steps(l, objects, tables);
        self.chain.pop();
        result
    }

    fn steps(
        &mut self,
        l: &Loaded,
        mut objects: Vec<Res>,
        tables: &mut FieldTables,
    ) -> Result<Vec<Res>, Vec<RenderError>> {
        let k = &l.k;
        if let Some(field) = &k.openapi {
            let read = |p: &str| transform::read_text(self.fs, l, p);
            self.schema
                .set_from(field, &read)
                .map_err(|e| vec![l.err("openapi", e)])?;
        }
        // Resources.
        let mut errors = Vec::new();
        let entries = k.resources.iter().map(|r| ("resources", r));
        for (field, entry) in entries.chain(k.bases.iter().map(|b| ("bases", b))) {
            match self.resource(l, field, entry, tables) {
                Ok(found) => {
                    for res in found {
                        if let Err(e) = append(&mut objects, res) {
                            errors.push(l.err(field, e));
                        }
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for entry in &k.configurations {
            let own = tables::read(&|p| transform::read_text(self.fs, l, p), entry)
                .map_err(|e| vec![l.err("configurations", e)])?;
            tables
                .merge(own)
                .map_err(|e| vec![l.err("configurations", format!("'{entry}': {e}"))])?;
        }
        for entry in &k.crds {
            let fail = |e: String| vec![l.err("crds", e)];
            let text = transform::read_text(self.fs, l, entry).map_err(fail)?;
            let own = openapi::crd_tables(&text).map_err(|e| {
                fail(format!(
                    "'{entry}': unable to parse open API definition: {e}"
                ))
            })?;
            tables
                .merge(own)
                .map_err(|e| fail(format!("'{entry}': {e}")))?;
        }
        // Generators.
        let kinds = [
            (
                "configMapGenerator",
                GenKind::ConfigMap,
                &k.config_map_generator,
            ),
            ("secretGenerator", GenKind::Secret, &k.secret_generator),
        ];
        for (field, kind, list) in kinds {
            for args in list.iter() {
                let res = self
                    .generate(l, field, kind, args)
                    .map_err(|e| vec![l.err(field, e)])?;
                absorb(&mut objects, res).map_err(|e| vec![l.err(field, e)])?;
            }
        }
        for entry in &k.generators {
            for (kind, args) in transform::generator_configs(self.fs, l, entry)
                .map_err(|e| vec![l.err("generators", e)])?
            {
                let res = self
                    .generate(l, "generators", kind, &args)
                    .map_err(|e| vec![l.err("generators", e)])?;
                absorb(&mut objects, res).map_err(|e| vec![l.err("generators", e)])?;
            }
        }
        // Components.
        for entry in &k.components {
            let path = resolve(&l.dir, entry).map_err(|e| vec![l.err("components", e)])?;
            if !self.fs.is_dir(&path) {
                return Err(vec![
                    l.err("components", format!("'{entry}' is not a folder"))
                ]);
            }
            let sub = self.enter(l, "components", &path).map_err(|e| vec![e])?;
            objects = self.target(&sub, objects, Role::Component, tables)?;
        }
        // Transformers.
        transform::run_builtin(self.fs, l, &mut objects, tables, self.schema.custom())?;
        for entry in &k.transformers {
            transform::run_config(self.fs, l, entry, &mut objects, self.schema.custom())
                .map_err(|e| vec![l.err("transformers", e)])?;
        }
        self.vars
            .merge(&k.vars, &mut objects)
            .map_err(|e| vec![l.err("vars", e)])?;
        Ok(objects)
    }

    /// The objects one `resources` entry stands for: a file's, or a folder's build.
    fn resource(
        &mut self,
        l: &Loaded,
        field: &str,
        entry: &str,
        tables: &mut FieldTables,
    ) -> Result<Vec<Res>, Vec<RenderError>> {
        let path = resolve(&l.dir, entry).map_err(|e| vec![l.err(field, e)])?;
        if let Some(bytes) = self.fs.read(&path) {
            if !within(&l.dir, &path) {
                return Err(vec![l.err(field, format!("the file '{entry}' is outside this kustomization's folder; kustomize's default load restriction (LoadRestrictionsRootOnly) allows only files in or under it (list a folder with its own kustomization instead)"))]);
            }
            let manifests =
                super::parse_file_as(&File { path, bytes }, Reading::KustomizeResource)?;
            return Ok(manifests
                .into_iter()
                .map(|(m, empty_values)| Res {
                    empty_values,
                    ..Res::new(m.object, m.origin)
                })
                .collect());
        }
        if !self.fs.is_dir(&path) {
            return Err(vec![l.err(
                field,
                format!("'{entry}': no such file or folder in the revision"),
            )]);
        }
        if kustomization_file(self.fs, &path).is_none() {
            return Err(vec![l.err(field, format!("'{entry}' is a folder without a kustomization file; kustomize builds only folders that have one (list its files instead)"))]);
        }
        let sub = self.enter(l, field, &path).map_err(|e| vec![e])?;
        let mut below = FieldTables::defaults();
        let objects = self.target(&sub, Vec::new(), Role::Resource, &mut below)?;
        tables
            .merge(below)
            .map_err(|e| vec![l.err(field, format!("'{entry}': {e}"))])?;
        Ok(objects)
    }

    /// One generator entry's object.
    fn generate(
        &self,
        l: &Loaded,
        field: &str,
        kind: GenKind,
        args: &GeneratorArgs,
    ) -> Result<Res, String> {
        let read = |p: &str| l.read(self.fs, p);
        let (object, hash) = generator::generate(kind, args, l.k.generator_options.as_ref(), &read)
            .map_err(|e| format!("'{}': {e}", args.name))?;
        let mut res = Res::new(object, l.origin(field));
        res.hash = hash;
        // kustomize reads any other word (`add`, a typo) as unspecified,
        // which it treats as create.
        res.behavior = match args.behavior.as_str() {
            "merge" => Behavior::Merge,
            "replace" => Behavior::Replace,
            _ => Behavior::Create,
        };
        Ok(res)
    }
}

/// A folder for messages.
fn show(dir: &str) -> &str {
    if dir.is_empty() {
        "."
    } else {
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(files: &[(&str, &str)]) -> Vec<File> {
        files
            .iter()
            .map(|(p, t)| File {
                path: (*p).into(),
                bytes: t.as_bytes().to_vec(),
            })
            .collect()
    }

    fn errors(fs: &MemFs, dir: &str) -> String {
        let e = build(fs, dir).unwrap_err();
        e.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn paths_resolve_inside_the_revision_only() {
        assert_eq!(resolve("a/b", "../c/./d.yaml").unwrap(), "a/c/d.yaml");
        assert_eq!(resolve("", "x/..").unwrap(), "");
        assert!(resolve("a", "../../x")
            .unwrap_err()
            .contains("outside the repository"));
        for remote in [
            "https://github.com/x/y",
            "github.com/x/y?ref=v1",
            "git@github.com:x/y.git",
        ] {
            assert!(resolve("", remote)
                .unwrap_err()
                .contains("plumb reads only the synced revision"));
        }
        let files = revision(&[("a/b/c.yaml", "")]);
        let m = MemFs::new(&files);
        assert!(
            m.is_dir("a")
                && m.is_dir("a/b")
                && m.is_dir("")
                && !m.is_dir("a/b/c.yaml")
                && !m.is_dir("a/bb")
        );
    }

    #[test]
    fn prefixes_and_hashes_reach_references() {
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      serviceAccountName: sa\n      containers:\n      - name: c\n        image: nginx:1\n        envFrom: [{configMapRef: {name: cfg}}]\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n";
        let files = revision(&[
            ("base/kustomization.yaml", "resources: [deploy.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [A=1, 'B=quoted & <html>']\n"),
            ("base/deploy.yaml", deploy),
            ("prod/kustomization.yaml", "resources: [../base]\nnamePrefix: p-\nnameSuffix: -s\nnamespace: prod\nimages: [{name: nginx, newTag: '2'}]\n"),
        ]);
        let m = MemFs::new(&files);
        let out = build(&m, "prod").unwrap();
        let kinds: Vec<&str> = out
            .iter()
            .map(|m| m.object["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["ServiceAccount", "ConfigMap", "Deployment"],
            "kustomize's legacy order"
        );
        // The hash of kubectl kustomize for the same data.
        assert_eq!(out[1].object["metadata"]["name"], "p-cfg-s-6c72htb8hf");
        assert_eq!(out[1].origin.file, "base/kustomization.yaml");
        let pod = &out[2].object["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            "p-cfg-s-6c72htb8hf"
        );
        assert_eq!(pod["serviceAccountName"], "p-sa-s");
        assert_eq!(pod["containers"][0]["image"], "nginx:2");
        assert_eq!(out[2].object["metadata"]["namespace"], "prod");
        assert_eq!(
            (out[2].origin.file.as_str(), out[2].origin.line),
            ("base/deploy.yaml", 1)
        );
    }

    #[test]
    fn mistakes_name_the_file_and_field() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        let files = revision(&[
            (
                "k/kustomization.yaml",
                "resources:\n- cm.yaml\nnamePrefx: p-\n",
            ),
            ("k/cm.yaml", cm),
            ("loop/kustomization.yaml", "resources: [../loop]\n"),
            ("up/kustomization.yaml", "resources: [../k/cm.yaml]\n"),
            ("plain/kustomization.yaml", "resources: [../k2]\n"),
            ("k2/cm.yaml", cm),
            (
                "gen/kustomization.yaml",
                "configMapGenerator:\n- name: g\n  files: [../k/cm.yaml]\n",
            ),
            ("twice/kustomization.yaml", "resources: [a.yaml, b.yaml]\n"),
            ("twice/a.yaml", cm),
            ("twice/b.yaml", cm),
        ]);
        let m = MemFs::new(&files);
        let e = errors(&m, "k");
        assert!(
            e.starts_with("k/kustomization.yaml:3:") && e.contains("unknown field `namePrefx`"),
            "{e}"
        );
        let e = errors(&m, "loop");
        assert!(
            e.contains("loop/kustomization.yaml:1: resources: cycle"),
            "{e}"
        );
        let e = errors(&m, "up");
        assert!(
            e.contains("resources: the file '../k/cm.yaml' is outside this kustomization's folder")
                && e.contains("LoadRestrictionsRootOnly"),
            "{e}"
        );
        let e = errors(&m, "plain");
        assert!(
            e.contains("'../k2' is a folder without a kustomization file"),
            "{e}"
        );
        let e = errors(&m, "gen");
        assert!(
            e.starts_with(
                "gen/kustomization.yaml:1: configMapGenerator: 'g': '../k/cm.yaml' is outside"
            ),
            "{e}"
        );
        let e = errors(&m, "twice");
        assert!(e.contains("ConfigMap x is declared twice: at twice/a.yaml:1 (document 0) and at twice/b.yaml:1 (document 0)"), "{e}");
    }

    #[test]
    fn generators_merge_into_base_objects() {
        let files = revision(&[
            ("base/kustomization.yaml", "configMapGenerator:\n- name: cfg\n  literals: [A=1, B=2]\n"),
            ("over/kustomization.yaml", "resources: [../base]\nnamePrefix: o-\nconfigMapGenerator:\n- name: cfg\n  behavior: merge\n  literals: [B=3]\n  options: {labels: {x: y}}\n"),
        ]);
        let m = MemFs::new(&files);
        let out = build(&m, "over").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].object["data"],
            serde_json::json!({"A": "1", "B": "3"})
        );
        assert_eq!(out[0].object["metadata"]["labels"]["x"], "y");
        let name = out[0].object["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with("o-cfg-") && name.len() == "o-cfg-".len() + 10,
            "{name}"
        );
    }
}
