//! kustomize's replacements (api/filters/replacement, v5.5): copy one field of
//! one object into fields of others, with kyaml's path syntax
//! (`spec.containers.[name=app].image`, `*`, list indexes).

use regex_lite::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::patch::Target;
use super::Res;

/// A `replacements` entry: inline, or `path` naming a file of one or more.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Replacement {
    #[serde(default)]
    pub path: String,
    pub source: Option<Source>,
    pub targets: Option<Vec<TargetSelector>>,
}

/// Where the value comes from.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

/// kustomize's ResId as written in a selector; an empty field matches anything.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResId {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

macro_rules! id_of {
    ($t:ty) => {
        impl $t {
            fn id(&self) -> ResId {
                ResId {
                    group: self.group.clone(),
                    version: self.version.clone(),
                    kind: self.kind.clone(),
                    name: self.name.clone(),
                    namespace: self.namespace.clone(),
                }
            }
        }
    };
}
id_of!(Source);
id_of!(Selector);

/// Where the value goes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetSelector {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

/// `select` and `reject`: an id plus label and annotation selectors.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub label_selector: String,
    #[serde(default)]
    pub annotation_selector: String,
}

/// `options` of a source or target.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    /// Accepted and unused, as in kustomize.
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub create: bool,
}

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// Parses replacements the way kustomize reads files and transformer
/// configs: unknown fields are dropped, not refused (only the kustomization
/// file itself is read strictly).
pub fn parse_lenient(value: &Value) -> Result<Vec<Replacement>, String> {
    fn keep(value: &Value, allowed: &[&str]) -> Value {
        match value {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| allowed.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    const ID: [&str; 5] = ["group", "version", "kind", "name", "namespace"];
    const OPTIONS: [&str; 4] = ["delimiter", "index", "encoding", "create"];
    let selector = |v: &Value| {
        let mut allowed = ID.to_vec();
        allowed.extend(["labelSelector", "annotationSelector"]);
        keep(v, &allowed)
    };
    let one = |r: &Value| -> Value {
        let mut r = keep(r, &["path", "source", "targets"]);
        if let Some(s) = r.get_mut("source") {
            let mut allowed = ID.to_vec();
            allowed.extend(["fieldPath", "options"]);
            *s = keep(s, &allowed);
            if let Some(o) = s.get_mut("options") {
                *o = keep(o, &OPTIONS);
            }
        }
        if let Some(Value::Array(targets)) = r.get_mut("targets") {
            for t in targets.iter_mut() {
                *t = keep(t, &["select", "reject", "fieldPaths", "options"]);
                if let Some(s) = t.get_mut("select") {
                    *s = selector(s);
                }
                if let Some(Value::Array(rejects)) = t.get_mut("reject") {
                    for r in rejects.iter_mut() {
                        *r = selector(r);
                    }
                }
                if let Some(o) = t.get_mut("options") {
                    *o = keep(o, &OPTIONS);
                }
            }
        }
        r
    };
    let list = match value {
        Value::Array(items) => items.iter().map(one).collect(),
        Value::Object(_) => vec![one(value)],
        Value::Null => Vec::new(),
        _ => return Err("replacements must be a list or a mapping".into()),
    };
    serde_json::from_value(Value::Array(list)).map_err(|e| format!("invalid replacement: {e}"))
}

/// Expands `path` entries with `read` (the kustomization's file reader).
pub fn expand(
    entries: &[Replacement],
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<Replacement>, String> {
    let mut out = Vec::new();
    for r in entries {
        if r.path.is_empty() {
            out.push(r.clone());
            continue;
        }
        if r.source.is_some() || r.targets.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(format!(
                "'{}': cannot specify both path and inline replacement",
                r.path
            ));
        }
        let text = read(&r.path)?;
        let value: Value = crate::render::yaml::from_str(&text)
            .map_err(|e| format!("'{}': invalid YAML: {e}", r.path))?;
        if !value.is_array() && !value.is_object() {
            return Err(format!(
                "'{}': unsupported replacement type within replacement path (a list or a mapping is needed)",
                r.path
            ));
        }
        let found = parse_lenient(&value).map_err(|e| format!("'{}': {e}", r.path))?;
        if found.iter().any(|f| !f.path.is_empty()) {
            return Err(format!(
                "'{}': a replacement file cannot name further paths",
                r.path
            ));
        }
        out.extend(found);
    }
    Ok(out)
}

impl ResId {
    fn show(&self) -> String {
        let or = |s: &str, none: &str| {
            if s.is_empty() {
                none.to_owned()
            } else {
                s.to_owned()
            }
        };
        format!(
            "{}.{}.{}/{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]"),
            or(&self.name, "[noName]"),
            or(&self.namespace, "[noNs]")
        )
    }

    fn is_empty(&self) -> bool {
        *self == ResId::default()
    }

    /// kustomize's IsSelectedBy (selectors carry no scope, so an unset
    /// namespace is `default` on both sides).
    fn selects(&self, id: &ResId) -> bool {
        let effective = |ns: &str| {
            if ns.is_empty() {
                "default".to_owned()
            } else {
                ns.to_owned()
            }
        };
        (self.name.is_empty() || self.name == id.name)
            && (self.namespace.is_empty() || effective(&self.namespace) == effective(&id.namespace))
            && (self.group.is_empty() || self.group == id.group)
            && (self.version.is_empty() || self.version == id.version)
            && (self.kind.is_empty() || self.kind == id.kind)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.id().show())?;
        if !self.field_path.is_empty() {
            write!(f, ":{}", self.field_path)?;
        }
        if let Some(o) = self
            .options
            .as_ref()
            .filter(|o| !o.delimiter.is_empty() || o.create)
        {
            write!(f, ":{}({}), create={}", o.delimiter, o.index, o.create)?;
        }
        Ok(())
    }
}

/// An object's ids as kustomize's MakeResIds gives them: now, then earlier
/// ones (with the current group and version).
fn ids(r: &Res) -> Vec<ResId> {
    let (group, version) = super::fieldspec::group_version(r.api_version());
    let make = |kind: &str, name: &str, namespace: &str| ResId {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: namespace.to_owned(),
    };
    let mut out = vec![make(r.kind(), r.name(), r.namespace())];
    out.extend(r.prev.iter().map(|p| make(&p.kind, &p.name, &p.namespace)));
    out
}

fn describe(r: &Res) -> String {
    r.cur().to_string()
}

/// Runs replacements over the objects, in order.
pub fn apply(objects: &mut [Res], replacements: &[Replacement]) -> Result<(), String> {
    for r in replacements {
        let (Some(source), Some(targets)) = (&r.source, &r.targets) else {
            return Err("replacements must specify a source and at least one target".into());
        };
        let value = source_value(objects, source)?;
        for target in targets {
            apply_target(objects, &value, target)?;
        }
    }
    Ok(())
}

fn source_value(objects: &[Res], source: &Source) -> Result<Value, String> {
    let mut found = None;
    for (i, r) in objects.iter().enumerate() {
        if ids(r).iter().any(|id| source.id().selects(id)) {
            if found.is_some() {
                return Err(format!("multiple matches for selector {source}"));
            }
            found = Some(i);
        }
    }
    let Some(i) = found else {
        return Err(format!("nothing selected by {source}"));
    };
    let field_path = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let parts = split_path(field_path);
    let node = lookup(&objects[i].object, &parts)
        .map_err(|e| format!("error looking up replacement source: {e}"))?;
    let node = match node {
        Some(Value::Null) | None => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(v) => Some(v),
    };
    let Some(node) = node else {
        return Err(format!(
            "fieldPath `{field_path}` is missing for replacement source {} ({})",
            source.id().show(),
            describe(&objects[i])
        ));
    };
    match source.options.as_ref().filter(|o| !o.delimiter.is_empty()) {
        None => Ok(node.clone()),
        Some(o) => {
            let Some(text) = scalar_text(node) else {
                return Err("delimiter option can only be used with scalar nodes".into());
            };
            let parts: Vec<&str> = text.split(o.delimiter.as_str()).collect();
            match usize::try_from(o.index).ok().and_then(|i| parts.get(i)) {
                Some(part) => Ok(Value::String((*part).to_owned())),
                None => Err(format!(
                    "options.index {} is out of bounds for value {text}",
                    o.index
                )),
            }
        }
    }
}

fn apply_target(objects: &mut [Res], value: &Value, target: &TargetSelector) -> Result<(), String> {
    let Some(select) = &target.select else {
        return Err("target must specify resources to select".into());
    };
    let default_paths = [DEFAULT_FIELD_PATH.to_owned()];
    let paths: &[String] = if target.field_paths.is_empty() {
        &default_paths
    } else {
        &target.field_paths
    };
    for r in objects.iter_mut() {
        if !by_labels(&r.object, select)? {
            continue;
        }
        let mut rejected = false;
        for reject in &target.reject {
            if (!reject.label_selector.is_empty() || !reject.annotation_selector.is_empty())
                && by_labels(&r.object, reject)?
            {
                rejected = true;
            }
        }
        if rejected {
            continue;
        }
        let ids = ids(r);
        let rejected_by_id = target
            .reject
            .iter()
            .filter(|j| !j.id().is_empty())
            .any(|j| ids.iter().any(|id| j.id().selects(id)));
        if rejected_by_id || !ids.iter().any(|id| select.id().selects(id)) {
            continue;
        }
        let who = describe(r);
        for fp in paths {
            copy_to(&mut r.object, value, fp, target.options.as_ref())
                .map_err(|e| format!("{e} ({who})"))?;
        }
    }
    Ok(())
}

fn by_labels(object: &Value, s: &Selector) -> Result<bool, String> {
    let t = Target {
        label_selector: Some(s.label_selector.clone()).filter(|l| !l.is_empty()),
        annotation_selector: Some(s.annotation_selector.clone()).filter(|a| !a.is_empty()),
        ..Target::default()
    };
    t.matches(object).map_err(|e| e.to_string())
}

/// What a missing field is created as (kyaml's node kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Map,
    Seq,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Object(_) => Kind::Map,
        Value::Array(_) => Kind::Seq,
        _ => Kind::Scalar,
    }
}

fn empty(kind: Kind) -> Value {
    match kind {
        Kind::Map => Value::Object(Map::new()),
        Kind::Seq => Value::Array(Vec::new()),
        // A created scalar has no type yet: it takes the one its text resolves to.
        Kind::Scalar => Value::Null,
    }
}

fn copy_to(
    object: &mut Value,
    value: &Value,
    field_path: &str,
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    let create = options.filter(|o| o.create).map(|_| kind_of(value));
    let what = if create.is_some() {
        format!("unable to find or create field {field_path:?} in replacement target")
    } else {
        format!("unable to find field {field_path:?} in replacement target")
    };
    let parts: Vec<String> = split_path(field_path)
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    // kustomize writes label and annotation values as strings whatever they look like.
    let string_only = parts.len() == 3
        && parts[0] == "metadata"
        && (parts[1] == "labels" || parts[1] == "annotations");
    let mut set = |node: &mut Value| set_value(node, value, options, string_only);
    let found = visit(object, &parts, create, &mut set).map_err(|e| format!("{what}: {e}"))?;
    if found == 0 {
        return Err(what);
    }
    Ok(())
}

fn set_value(
    target: &mut Value,
    value: &Value,
    options: Option<&FieldOptions>,
    string_only: bool,
) -> Result<(), String> {
    let mut value = value.clone();
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        let Some(current) = scalar_text(target).or_else(|| target.is_null().then(String::new))
        else {
            return Err("delimiter option can only be used with scalar nodes".into());
        };
        let mut parts: Vec<String> = current
            .split(o.delimiter.as_str())
            .map(str::to_owned)
            .collect();
        let v = scalar_text(&value).unwrap_or_default();
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = Value::String(parts.join(&o.delimiter));
    }
    match target {
        Value::Object(_) | Value::Array(_) => *target = value,
        _ => {
            // A scalar keeps its type where the new text allows it, as
            // kustomize copies only the text into the existing node.
            let text = scalar_text(&value).unwrap_or_default();
            *target = if target.is_string() || string_only {
                Value::String(text)
            } else {
                resolve_plain(&text)
            };
        }
    }
    Ok(())
}

/// A plain YAML scalar's value: `8080` is a number, `true` a bool, the rest text.
fn resolve_plain(text: &str) -> Value {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) if !text.contains('\n') => v,
        _ => Value::String(text.to_owned()),
    }
}

/// A scalar's text; None for maps and lists.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// kyaml's SmarterPathSplitter on `.`: `\.` escapes, `[a.b]` and
/// `[name=a.b]` stay whole.
pub fn split_path(path: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    let pieces: Vec<&str> = path.split('.').collect();
    let pieces = if pieces.len() > 1 && pieces[0].is_empty() {
        &pieces[1..]
    } else {
        &pieces[..]
    };
    for (i, p) in pieces.iter().enumerate() {
        match raw.last_mut() {
            Some(last) if i > 0 && last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(p);
            }
            _ => raw.push((*p).to_owned()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let elem = &raw[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut bracketed = vec![elem.clone()];
            while i + 1 < raw.len() {
                i += 1;
                bracketed.push(raw[i].clone());
                if raw[i].ends_with(']') {
                    break;
                }
            }
            let joined = bracketed.join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(|c| c == '[' || c == ']').to_owned());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    out
}

fn is_list_index(p: &str) -> bool {
    p.starts_with('[') && p.ends_with(']')
}

fn is_index(p: &str) -> bool {
    p.parse::<i64>().is_ok_and(|i| i >= 0)
}

fn split_name_value(p: &str) -> Result<(&str, &str), String> {
    let inner = p.strip_prefix('[').unwrap_or(p);
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    inner.split_once('=').ok_or_else(|| {
        "list path element must contain fieldName=fieldValue for element to match".to_owned()
    })
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

/// kyaml's Lookup (the source side): no wildcards, `[k=v]` matched exactly.
pub fn lookup<'a>(node: &'a Value, parts: &[String]) -> Result<Option<&'a Value>, String> {
    let mut node = node;
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if node.is_null() {
            return Ok(None);
        }
        let next = if let Ok(i) = part.parse::<i64>() {
            if i < 0 {
                return Err(format!("array index {i} cannot be negative"));
            }
            match node {
                Value::Array(items) => usize::try_from(i).ok().and_then(|i| items.get(i)),
                other => return Err(wrong_kind("SequenceNode", other)),
            }
        } else if part == "-" {
            match node {
                Value::Array(items) => items.last(),
                other => return Err(wrong_kind("SequenceNode", other)),
            }
        } else if part == "*" {
            return Err("wildcard is not supported in PathGetter".into());
        } else if is_list_index(part) {
            let (name, value) = split_name_value(part)?;
            match node {
                Value::Array(items) => items.iter().find(|item| {
                    if name.is_empty() {
                        scalar_text(item).is_some_and(|t| t == value)
                    } else {
                        item.get(name)
                            .and_then(scalar_text)
                            .is_some_and(|t| t == value)
                    }
                }),
                other => return Err(wrong_kind("SequenceNode", other)),
            }
        } else {
            match node {
                Value::Object(m) => m.get(part),
                other => return Err(wrong_kind("MappingNode", other)),
            }
        };
        match next {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

fn wrong_kind(expected: &str, got: &Value) -> String {
    format!(
        "wrong node kind: expected {expected} but got {}",
        kind_name(got)
    )
}

fn part_kind(next: Option<&String>, leaf: Kind) -> Kind {
    match next {
        Some(n) if is_list_index(n) || is_index(n) => Kind::Seq,
        Some(_) => Kind::Map,
        None => leaf,
    }
}

/// kyaml's PathMatcher (the target side): `*` and `[k=v]` (a regular
/// expression, unanchored, as kyaml matches it) may reach several fields;
/// `create` makes what is missing. Returns how many fields `set` saw.
fn visit(
    node: &mut Value,
    parts: &[String],
    create: Option<Kind>,
    set: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<usize, String> {
    let Some((part, rest)) = parts.split_first() else {
        set(node)?;
        return Ok(1);
    };
    if node.is_null() {
        match create {
            Some(_) if is_index(part) || is_list_index(part) => *node = Value::Array(Vec::new()),
            Some(_) if part != "*" => *node = Value::Object(Map::new()),
            _ => return Ok(0),
        }
    }
    let leaf = create.unwrap_or(Kind::Scalar);
    if is_index(part) {
        let Value::Array(items) = node else {
            return Err(wrong_kind("SequenceNode", node));
        };
        let i: usize = part.parse().map_err(|_| format!("bad index {part}"))?;
        if items.len() == i && create.is_some() {
            items.push(empty(part_kind(rest.first(), leaf)));
        }
        let len = items.len();
        let Some(item) = items.get_mut(i) else {
            return Err(format!("index {i} specified but only {len} elements found"));
        };
        return visit(item, rest, create, set);
    }
    if is_list_index(part) {
        let (name, pattern) = split_name_value(part)?;
        let regex = Regex::new(pattern).map_err(|e| format!("bad expression `{pattern}`: {e}"))?;
        let Value::Array(items) = node else {
            return Err(wrong_kind("SequenceNode", node));
        };
        let mut count = 0;
        let mut matched = false;
        for item in items.iter_mut() {
            if name.is_empty() {
                if scalar_text(item).is_some_and(|t| regex.is_match(t.trim())) && !item.is_null() {
                    matched = true;
                    set(item)?;
                    count += 1;
                }
            } else if item
                .get(name)
                .and_then(scalar_text)
                .is_some_and(|t| !t.is_empty() && regex.is_match(t.trim()))
            {
                matched = true;
                count += visit(item, rest, create, set)?;
            }
        }
        if matched || create.is_none() {
            return Ok(count);
        }
        let element = if name.is_empty() {
            Value::String(pattern.to_owned())
        } else {
            let mut m = Map::new();
            m.insert(name.to_owned(), Value::String(pattern.to_owned()));
            Value::Object(m)
        };
        items.push(element);
        return visit(node, parts, create, set);
    }
    if part == "*" {
        let Value::Array(items) = node else {
            return Err(wrong_kind("SequenceNode", node));
        };
        let mut count = 0;
        for item in items.iter_mut() {
            count += visit(item, rest, create, set)?;
        }
        return Ok(count);
    }
    let Value::Object(map) = node else {
        return Err(wrong_kind("MappingNode", node));
    };
    if !map.contains_key(part.as_str()) {
        if create.is_none() {
            return Ok(0);
        }
        map.insert(part.clone(), empty(part_kind(rest.first(), leaf)));
    }
    match map.get_mut(part.as_str()) {
        Some(field) => visit(field, rest, create, set),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Origin;
    use serde_json::json;

    fn res(object: Value) -> Res {
        Res::new(
            object,
            Origin {
                file: "t.yaml".into(),
                document: 0,
                line: 1,
            },
        )
    }

    fn parse(yaml: &str) -> Vec<Replacement> {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn paths_split_like_kyaml() {
        assert_eq!(
            split_path("spec.containers.[name=a.b].image"),
            ["spec", "containers", "[name=a.b]", "image"]
        );
        assert_eq!(
            split_path(r"metadata.annotations.[a.b/c]"),
            ["metadata", "annotations", "a.b/c"]
        );
        assert_eq!(split_path(r"a\.b.c"), ["a.b", "c"]);
    }

    #[test]
    fn values_reach_list_entries_and_keep_types() {
        let mut objects = vec![
            res(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"tag": "1.2", "n": "3", "hosts": "a.x,b.x"}}),
            ),
            res(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [
                    {"name": "app", "image": "img:old"}, {"name": "sidecar", "image": "s"}]}}}}),
            ),
        ];
        let r = parse(
            "- source: {kind: ConfigMap, fieldPath: data.tag}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: ['spec.template.spec.containers.[name=app].image']\n    options: {delimiter: ':', index: 1}\n- source: {kind: ConfigMap, fieldPath: data.n}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.replicas, spec.template.metadata.labels.n]\n    options: {create: true}\n- source: {kind: ConfigMap, fieldPath: data.hosts, options: {delimiter: ',', index: 1}}\n  targets:\n  - select: {name: web}\n    fieldPaths: ['spec.template.spec.containers.*.env.0.value']\n    options: {create: true}\n",
        );
        apply(&mut objects, &r).unwrap();
        let d = &objects[1].object;
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "img:1.2"
        );
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(
            d["spec"]["template"]["metadata"]["labels"]["n"], 3,
            "created, so typed by its text"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["env"][0]["value"],
            "b.x"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let mut objects = vec![
            res(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}}),
            ),
            res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}})),
        ];
        let run = |objects: &mut Vec<Res>, y: &str| apply(objects, &parse(y)).unwrap_err();
        let e = run(&mut objects, "- source: {kind: ConfigMap}\n  targets: []\n");
        assert!(
            e.contains("multiple matches for selector ConfigMap.[noVer].[noGrp]/[noName].[noNs]"),
            "{e}"
        );
        let e = run(&mut objects, "- source: {kind: Secret}\n  targets: []\n");
        assert!(e.contains("nothing selected by Secret"), "{e}");
        let e = run(
            &mut objects,
            "- source: {name: b, fieldPath: data.x}\n  targets: []\n",
        );
        assert!(
            e.contains("fieldPath `data.x` is missing for replacement source"),
            "{e}"
        );
        let e = run(&mut objects, "- source: {name: a, fieldPath: data.x, options: {delimiter: ',', index: 2}}\n  targets: []\n");
        assert!(
            e.contains("options.index 2 is out of bounds for value 1"),
            "{e}"
        );
        let e = run(&mut objects, "- source: {name: a, fieldPath: data.x}\n  targets:\n  - select: {name: b}\n    fieldPaths: [data.y]\n");
        assert!(
            e.contains("unable to find field \"data.y\" in replacement target"),
            "{e}"
        );
        let e = run(&mut objects, "- source: {name: a}\n");
        assert!(
            e.contains("must specify a source and at least one target"),
            "{e}"
        );
    }
}
