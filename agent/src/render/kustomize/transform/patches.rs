//! A kustomization's patches — `patches` with their targets and options,
//! `patchesStrategicMerge` matched by identity, `patchesJson6902` — read from their files
//! or inline, and applied to the objects in order.

use serde_json::Value;

use super::super::openapi::OpenApi;
use super::super::patch::{self, Target};
use super::super::{Fs, Loaded, Res};

/// A message about the file at `path` (none for inline text).
pub(super) fn named(path: &str, message: String) -> String {
    if path.is_empty() {
        message
    } else {
        format!("'{path}': {message}")
    }
}

/// A value that parses as a YAML mapping: an inline patch or config rather than a path.
pub(super) fn inline_yaml(entry: &str) -> Option<Value> {
    if crate::render::yaml::too_deep(entry).is_some() {
        return None;
    }
    serde_yaml_ng::from_str::<Value>(entry)
        .ok()
        .filter(Value::is_object)
}

pub(in crate::render::kustomize) fn read_text(
    fs: &dyn Fs,
    l: &Loaded,
    path: &str,
) -> Result<String, String> {
    let bytes = l.read(fs, path)?;
    String::from_utf8(bytes).map_err(|_| format!("'{path}' is not UTF-8 text"))
}

/// The text of a `patches` entry: its `patch`, or the file at its `path`.
pub(super) fn patch_text(
    fs: &dyn Fs,
    l: &Loaded,
    path: &str,
    inline: &str,
) -> Result<String, String> {
    match (path.is_empty(), inline.trim().is_empty()) {
        (true, true) => Err("an entry has neither path nor patch".into()),
        (false, false) => Err("an entry has both path and patch".into()),
        (true, false) => Ok(inline.to_owned()),
        (false, true) => read_text(fs, l, path),
    }
}

/// The non-empty YAML documents of a text, which must be mappings.
pub(super) fn yaml_objects(text: &str) -> Result<Vec<Value>, String> {
    let docs = crate::render::yaml_documents("patch", text, crate::render::Reading::KustomizePatch)
        .map_err(|e| {
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    docs.into_iter()
        .map(|document| document.value)
        .filter(|v| !v.is_null())
        .map(|v| {
            if v.is_object() {
                Ok(v)
            } else {
                Err("a patch document is not a mapping".to_owned())
            }
        })
        .collect()
}

/// JSON 6902 operations, written as JSON or YAML.
pub(super) fn json_ops(text: &str) -> Result<Value, String> {
    // kubectl's YAML reading (octal modes, merge keys), as for resources.
    let ops: Value =
        crate::render::yaml::from_str(text).map_err(|e| format!("invalid JSON 6902 patch: {e}"))?;
    match &ops {
        Value::Array(items) if !items.is_empty() => Ok(ops),
        _ => Err("a JSON 6902 patch must be a non-empty list of operations".into()),
    }
}

pub(super) fn target_of(value: &Value) -> Result<Target, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("invalid target: {e}"))
}

/// A `patches` entry: strategic merge (one or more documents) or JSON
/// 6902 (a list of operations), told apart as kustomize does.
pub(super) fn apply_patch(
    objects: &mut Vec<Res>,
    text: &str,
    target: Option<&Target>,
    allow_name: bool,
    allow_kind: bool,
    custom: Option<&OpenApi>,
) -> Result<(), String> {
    if let Some((line, column)) = crate::render::yaml::too_deep(text) {
        return Err(format!(
            "{line}:{column}: {}",
            crate::render::yaml::too_deep_message()
        ));
    }
    let first = serde_yaml_ng::from_str::<Value>(text).ok();
    if let Some(Value::Array(_)) = first {
        let Some(target) = target else {
            return Err("a JSON 6902 patch needs a target".into());
        };
        let ops = json_ops(text)?;
        for i in select(objects, target)? {
            objects[i].store_prev();
            patch::json6902(&mut objects[i].object, &ops).map_err(|e| e.to_string())?;
            objects[i].forget_filled_empty_values();
        }
        return Ok(());
    }
    let patches = yaml_objects(text)
        .map_err(|e| format!("neither a strategic merge nor a JSON 6902 patch: {e}"))?;
    match target {
        Some(target) => {
            let [p] = patches.as_slice() else {
                return Err(
                    "an entry with a target may hold only one strategic merge patch".into(),
                );
            };
            let chosen = select(objects, target)?;
            let mut keep = vec![true; objects.len()];
            for i in chosen {
                keep[i] = smp(&mut objects[i], p, allow_name, allow_kind, custom)?;
            }
            let mut flags = keep.into_iter();
            objects.retain(|_| flags.next().unwrap_or(true));
            Ok(())
        }
        None => patches
            .iter()
            .try_for_each(|p| patch_by_id(objects, p, allow_name, allow_kind, custom)),
    }
}

/// A strategic merge patch without target applies to the object its own
/// apiVersion, kind, name and namespace name (earlier names count).
pub(super) fn patch_by_id(
    objects: &mut Vec<Res>,
    p: &Value,
    allow_name: bool,
    allow_kind: bool,
    custom: Option<&OpenApi>,
) -> Result<(), String> {
    let s = |path: &[&str]| super::super::str_at(p, path).to_owned();
    let id = super::super::Id {
        api_version: s(&["apiVersion"]),
        kind: s(&["kind"]),
        name: s(&["metadata", "name"]),
        namespace: s(&["metadata", "namespace"]),
    };
    let found: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].any_id(|o| o.equals(&id)))
        .collect();
    let i = match found.as_slice() {
        [i] => *i,
        [] => {
            return Err(format!(
                "no object matches the strategic merge patch for {id} ({})",
                id.api_version
            ))
        }
        _ => {
            return Err(format!(
                "several objects match the strategic merge patch for {id}"
            ))
        }
    };
    if !smp(&mut objects[i], p, allow_name, allow_kind, custom)? {
        objects.remove(i);
    }
    Ok(())
}

/// kustomize's ApplySmPatch: the patch takes the object's apiVersion; name,
/// kind and namespace stay unless allowed to change. False when the patch
/// deletes the object.
pub(super) fn smp(
    r: &mut Res,
    p: &Value,
    allow_name: bool,
    allow_kind: bool,
    custom: Option<&OpenApi>,
) -> Result<bool, String> {
    let (name, namespace, kind) = (
        r.name().to_owned(),
        r.namespace().to_owned(),
        r.kind().to_owned(),
    );
    if allow_name || allow_kind {
        r.store_prev();
    }
    let mut p = p.clone();
    set(&mut p, &["apiVersion"], Some(r.api_version().into()));
    patch::drop_written_empty(&mut r.object, &std::mem::take(&mut r.empty_values), custom);
    patch::strategic_merge(&mut r.object, &p, custom).map_err(|e| e.to_string())?;
    if r.object.as_object().is_none_or(|m| m.is_empty()) {
        return Ok(false);
    }
    if !allow_kind {
        set(&mut r.object, &["kind"], Some(kind.into()));
    }
    if !allow_name {
        set(&mut r.object, &["metadata", "name"], Some(name.into()));
    }
    set(
        &mut r.object,
        &["metadata", "namespace"],
        (!namespace.is_empty()).then(|| namespace.into()),
    );
    Ok(true)
}

/// Sets (or with None removes) a field, creating maps on the way; a
/// non-map on the way leaves the object as it is.
pub(super) fn set(v: &mut Value, path: &[&str], new: Option<Value>) {
    let Some((last, on_the_way)) = path.split_last() else {
        return;
    };
    let mut node = v;
    for key in on_the_way {
        let Some(map) = node.as_object_mut() else {
            return;
        };
        node = map
            .entry(*key)
            .or_insert_with(|| Value::Object(Default::default()));
        if node.is_null() {
            *node = Value::Object(Default::default());
        }
    }
    if let Some(map) = node.as_object_mut() {
        match new {
            Some(value) => {
                map.insert((*last).to_owned(), value);
            }
            None => {
                map.remove(*last);
            }
        }
    }
}

/// The objects a target selects: kind and group as they are now; name and
/// namespace as they are now or were declared (kustomize's Select).
pub(super) fn select(objects: &[Res], target: &Target) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for (i, r) in objects.iter().enumerate() {
        let (org, cur) = (r.org(), r.cur());
        let stub = |name: &str, namespace: &str| {
            let mut metadata = serde_json::Map::new();
            metadata.insert("name".into(), name.into());
            if !namespace.is_empty() {
                metadata.insert("namespace".into(), namespace.into());
            }
            for field in ["labels", "annotations"] {
                if let Some(m) = r.object["metadata"].get(field) {
                    metadata.insert(field.into(), m.clone());
                }
            }
            serde_json::json!({"apiVersion": cur.api_version, "kind": cur.kind, "metadata": metadata})
        };
        let mut pairs = vec![(&cur.name, &cur.namespace)];
        pairs.extend([
            (&org.name, &cur.namespace),
            (&cur.name, &org.namespace),
            (&org.name, &org.namespace),
        ]);
        pairs.dedup();
        for (name, namespace) in pairs {
            if target
                .matches(&stub(name, namespace))
                .map_err(|e| e.to_string())?
            {
                out.push(i);
                break;
            }
        }
    }
    Ok(out)
}
