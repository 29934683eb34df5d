//! kustomize's built-in transformers, in the order a kustomization runs them
//! (PatchStrategicMerge, Patch, Namespace, Prefix, Suffix, Label,
//! Annotations, PatchJson6902, ReplicaCount, ImageTag), the same
//! transformers configured from files (`transformers:`), generator
//! configs (`generators:`), and kustomize's legacy output order.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::fieldspec::{self, Create, FieldSpec};
use super::generator::GenKind;
use super::kustomization::{FieldSpecArgs, GeneratorArgs, Image, Replica};
use super::openapi::OpenApi;
use super::patch;
use super::replacements;
use super::tables::{self, FieldTables};
use super::{Fs, Loaded, Res};
use crate::render::RenderError;

mod patches;

pub(in crate::render::kustomize) use patches::read_text;
use patches::{
    apply_patch, inline_yaml, json_ops, named, patch_by_id, patch_text, select, target_of,
    yaml_objects,
};

/// Runs a kustomization's own transformer fields over `objects`.
pub(super) fn run_builtin(
    fs: &dyn Fs,
    l: &Loaded,
    objects: &mut Vec<Res>,
    tables: &FieldTables,
    custom: Option<&OpenApi>,
) -> Result<(), Vec<RenderError>> {
    let k = &l.k;
    let at = |field: &'static str| move |e: String| vec![l.err(field, e)];
    for entry in &k.patches_strategic_merge {
        let (text, path) = match inline_yaml(entry) {
            Some(_) => (entry.clone(), ""),
            None => (
                read_text(fs, l, entry).map_err(at("patchesStrategicMerge"))?,
                entry.as_str(),
            ),
        };
        let fail = |e| at("patchesStrategicMerge")(named(path, e));
        for p in yaml_objects(&text).map_err(fail)? {
            patch_by_id(objects, &p, false, false, custom).map_err(fail)?;
        }
    }
    for p in &k.patches {
        let fail = |e| at("patches")(named(&p.path, e));
        let text = patch_text(fs, l, &p.path, &p.patch).map_err(fail)?;
        let target = p.target.as_ref().map(target_of).transpose().map_err(fail)?;
        let option = |name: &str| p.options.get(name).copied().unwrap_or(false);
        apply_patch(
            objects,
            &text,
            target.as_ref(),
            option("allowNameChange"),
            option("allowKindChange"),
            custom,
        )
        .map_err(fail)?;
    }
    if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
        let specs = tables::specs(&tables.namespace);
        namespace(objects, ns, &specs, false, Subjects::DefaultOnly).map_err(at("namespace"))?;
    }
    if let Some(p) = k.name_prefix.as_deref().filter(|p| !p.is_empty()) {
        affix(objects, p, &tables::specs(&tables.name_prefix), false).map_err(at("namePrefix"))?;
    }
    if let Some(s) = k.name_suffix.as_deref().filter(|s| !s.is_empty()) {
        affix(objects, s, &tables::specs(&tables.name_suffix), true).map_err(at("nameSuffix"))?;
    }
    let common = tables::specs(&tables.common_labels);
    for label in &k.labels {
        let mut specs: Vec<FieldSpec> = label.fields.iter().map(FieldSpec::from).collect();
        specs.extend(tables::specs(&tables.labels));
        if label.include_selectors {
            specs.extend_from_slice(&common);
        } else {
            if label.include_templates {
                specs.extend(tables::specs(&tables.template_labels));
            }
            specs.push(FieldSpec {
                group: "",
                version: "",
                kind: "",
                path: "metadata/labels",
                create: true,
            });
        }
        set_map_entries(objects, &label.pairs, &specs).map_err(at("labels"))?;
    }
    set_map_entries(objects, &k.common_labels, &common).map_err(at("commonLabels"))?;
    set_map_entries(
        objects,
        &k.common_annotations,
        &tables::specs(&tables.common_annotations),
    )
    .map_err(at("commonAnnotations"))?;
    for p in &k.patches_json6902 {
        let fail = |e| at("patchesJson6902")(named(&p.path, e));
        let text = patch_text(fs, l, &p.path, &p.patch).map_err(fail)?;
        let target = match &p.target {
            Some(t) if t["name"].as_str().is_some_and(|n| !n.is_empty()) => {
                target_of(t).map_err(fail)?
            }
            _ => return Err(fail("an entry has no target name".into())),
        };
        let ops = json_ops(&text).map_err(fail)?;
        for i in select(objects, &target).map_err(fail)? {
            patch::json6902(&mut objects[i].object, &ops).map_err(|e| fail(e.to_string()))?;
            objects[i].forget_filled_empty_values();
        }
    }
    let replica_specs = tables::specs(&tables.replicas);
    for r in &k.replicas {
        replicas(objects, r, &replica_specs).map_err(at("replicas"))?;
    }
    let image_specs = tables::specs(&tables.images);
    for image in k.images.iter().chain(&k.image_tags) {
        set_image(objects, image, &image_specs).map_err(at("images"))?;
    }
    if !k.replacements.is_empty() {
        let read = |p: &str| read_text(fs, l, p);
        let list = replacements::expand(&k.replacements, &read).map_err(at("replacements"))?;
        replacements::apply(objects, &list).map_err(at("replacements"))?;
    }
    Ok(())
}

/// How the namespace transformer treats RBAC binding subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subjects {
    /// Subjects named `default` (kustomize's default).
    DefaultOnly,
    /// Every ServiceAccount subject.
    AllServiceAccounts,
    /// None.
    None,
}

/// kustomize's namespace transformer.
pub fn namespace(
    objects: &mut [Res],
    ns: &str,
    specs: &[FieldSpec],
    unset_only: bool,
    subjects: Subjects,
) -> Result<(), String> {
    let mut setter = |node: &mut Value| match node {
        Value::Object(_) | Value::Array(_) => {
            Err("namespace field specs must name plain values".to_owned())
        }
        Value::String(s) if unset_only && !s.is_empty() => Ok(()),
        other => {
            *other = Value::String(ns.to_owned());
            Ok(())
        }
    };
    for r in objects.iter_mut() {
        r.store_prev();
        if !r.is_cluster_scoped() {
            let meta = FieldSpec {
                group: "",
                version: "",
                kind: "",
                path: "metadata/namespace",
                create: true,
            };
            fieldspec::apply(&mut r.object, &meta, Create::Scalar, &mut setter)?;
        }
        let binding = matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding");
        if binding && subjects != Subjects::None {
            if let Some(list) = r.object.get_mut("subjects").and_then(Value::as_array_mut) {
                for s in list.iter_mut().filter_map(Value::as_object_mut) {
                    let chosen = match subjects {
                        Subjects::DefaultOnly => {
                            s.get("name").and_then(Value::as_str) == Some("default")
                        }
                        _ => s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"),
                    };
                    if chosen {
                        let entry = s
                            .entry("namespace")
                            .or_insert_with(|| Value::String(String::new()));
                        setter(entry)?;
                    }
                }
            }
        }
        let api_version = r.api_version().to_owned();
        for spec in specs {
            let skip = spec.path == "metadata/namespace"
                || (spec.path == "metadata/name" && api_version != "v1")
                || (binding && spec.path == "subjects/namespace");
            if !skip {
                fieldspec::apply(&mut r.object, spec, Create::Scalar, &mut setter)?;
            }
        }
    }
    for (i, r) in objects.iter().enumerate() {
        let id = r.cur();
        if objects[..i].iter().any(|o| o.is(&id)) {
            return Err(format!("setting the namespace makes two objects {id}"));
        }
    }
    Ok(())
}

/// kustomize's prefix or suffix transformer (CRDs, APIServices and
/// Namespaces keep their names).
pub fn affix(
    objects: &mut [Res],
    text: &str,
    specs: &[FieldSpec],
    suffix: bool,
) -> Result<(), String> {
    for r in objects.iter_mut() {
        let org = r.org();
        let (group, _) = fieldspec::group_version(&org.api_version);
        if org.kind == "CustomResourceDefinition"
            || org.kind == "Namespace"
            || (org.kind == "APIService" && group == "apiregistration.k8s.io")
        {
            continue;
        }
        for spec in specs
            .iter()
            .filter(|s| s.selects(&org.api_version, &org.kind))
        {
            if spec.path == "metadata/name" {
                if suffix {
                    r.suffixes.push(text.to_owned());
                } else {
                    r.prefixes.push(text.to_owned());
                }
                r.store_prev();
            }
            fieldspec::apply(
                &mut r.object,
                spec,
                Create::Scalar,
                &mut |node| match node {
                    Value::String(s) => {
                        *s = if suffix {
                            format!("{s}{text}")
                        } else {
                            format!("{text}{s}")
                        };
                        Ok(())
                    }
                    _ => Err("names must be strings".into()),
                },
            )?;
        }
    }
    Ok(())
}

/// Labels or annotations: each pair into the maps the specs reach.
pub fn set_map_entries(
    objects: &mut [Res],
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), String> {
    for r in objects.iter_mut() {
        for (k, v) in pairs {
            for spec in specs {
                fieldspec::apply(
                    &mut r.object,
                    spec,
                    Create::Map,
                    &mut fieldspec::set_entry(k, v),
                )?;
            }
        }
    }
    Ok(())
}

/// kustomize's replica count transformer: objects with that name (now or
/// declared) of the specs' kinds; none is an error.
pub fn replicas(objects: &mut [Res], replica: &Replica, specs: &[FieldSpec]) -> Result<(), String> {
    let mut found = false;
    for spec in specs {
        for r in objects.iter_mut() {
            if r.any_id(|id| id.name == replica.name && spec.selects(&id.api_version, &id.kind)) {
                found = true;
                fieldspec::apply(&mut r.object, spec, Create::Scalar, &mut |node| {
                    *node = Value::from(replica.count);
                    Ok(())
                })?;
            }
        }
    }
    if found {
        Ok(())
    } else {
        Err(format!(
            "no Deployment, ReplicationController, ReplicaSet or StatefulSet is named '{}'",
            replica.name
        ))
    }
}

/// kustomize's image transformer: every `image` in a `containers` or
/// `initContainers` list anywhere in an object (CRDs excepted) whose name
/// matches, with or without tag and digest, then every image the field
/// specs reach. Like kustomize, it visits a Deployment's containers twice,
/// which only a `tagSuffix` shows (it is appended twice there, as kubectl
/// does).
pub fn set_image(objects: &mut [Res], image: &Image, specs: &[FieldSpec]) -> Result<(), String> {
    // kustomize puts the name into the pattern unescaped; so does plumb.
    let pattern = format!(
        "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
        image.name
    );
    let re = regex_lite::Regex::new(&pattern)
        .map_err(|e| format!("image name '{}': {e}", image.name))?;
    fn walk(node: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        match node {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    walk(value, f);
                    if key == "containers" || key == "initContainers" {
                        if let Value::Array(items) = value {
                            items
                                .iter_mut()
                                .filter_map(|c| c.get_mut("image"))
                                .for_each(&mut *f);
                        }
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, f)),
            _ => {}
        }
    }
    for r in objects
        .iter_mut()
        .filter(|r| r.kind() != "CustomResourceDefinition")
    {
        let mut update = |node: &mut Value| {
            if let Value::String(s) = node {
                if re.is_match(s) {
                    *s = new_image(s, image);
                }
            }
        };
        walk(&mut r.object, &mut update);
        for spec in specs {
            fieldspec::apply(&mut r.object, spec, Create::Nothing, &mut |node| {
                update(node);
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// kustomize's image.Split: name, tag, digest.
fn split_image(image: &str) -> (&str, &str, &str) {
    let start = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[start..];
    let at = search.find('@').map(|i| i + start);
    let colon = search.find(':').map(|i| i + start);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (c, Some(d)) if c.is_none_or(|c| d < c) => (&image[..d], "", &image[d + 1..]),
        (Some(c), Some(d)) => (&image[..c], &image[c + 1..d], &image[d + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
        (None, Some(_)) => unreachable!("covered above"),
    }
}

fn new_image(old: &str, image: &Image) -> String {
    let (name, tag, digest) = split_image(old);
    let name = if image.new_name.is_empty() {
        name
    } else {
        &image.new_name
    };
    let suffixed;
    let (tag, digest) = match (image.new_tag.as_str(), image.digest.as_str()) {
        ("", "") if !image.tag_suffix.is_empty() => {
            suffixed = format!("{tag}{}", image.tag_suffix);
            (suffixed.as_str(), "")
        }
        ("", "") => (tag, digest),
        (t, "") => (t, ""),
        ("", d) => ("", d),
        (t, d) => (t, d),
    };
    let mut out = name.to_owned();
    if !tag.is_empty() {
        out = format!("{out}:{tag}");
    }
    if !digest.is_empty() {
        out = format!("{out}@{digest}");
    }
    out
}

/// Field specs as written in transformer configs.
fn specs_of(args: &[FieldSpecArgs]) -> Vec<FieldSpec<'_>> {
    args.iter().map(FieldSpec::from).collect()
}

/// The documents a `transformers` or `generators` entry holds: inline
/// YAML, or a file in the kustomization's folder.
fn configs(fs: &dyn Fs, l: &Loaded, entry: &str) -> Result<(Vec<Value>, String), String> {
    let (text, label) = match inline_yaml(entry) {
        Some(_) => (entry.to_owned(), "an inline config".to_owned()),
        None => {
            let path = super::resolve(&l.dir, entry)?;
            if fs.is_dir(&path) {
                return Err(format!("'{entry}' is a folder; plumb reads transformer and generator configs only from files"));
            }
            (read_text(fs, l, entry)?, format!("'{entry}'"))
        }
    };
    let docs = yaml_objects(&text).map_err(|e| format!("{label}: {e}"))?;
    Ok((docs, label))
}

/// The kind of a built-in plugin config, or an error for anything else.
fn builtin_kind(config: &Value) -> Result<&str, String> {
    let kind = config["kind"].as_str().unwrap_or_default();
    if config["apiVersion"] != "builtin" {
        return Err(format!(
            "'{}' {kind}: plumb runs only kustomize's built-in plugins (apiVersion: builtin); use render: kustomize-external for others",
            config["apiVersion"].as_str().unwrap_or_default()
        ));
    }
    Ok(kind)
}

/// A built-in transformer config, as kustomize reads it (unknown fields ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TransformerConfig {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    prefix: String,
    suffix: String,
    metadata: Meta,
    field_specs: Option<Vec<FieldSpecArgs>>,
    unset_only: bool,
    set_role_binding_subjects: String,
    image_tag: Image,
    replica: Replica,
    path: String,
    patch: String,
    target: Option<Value>,
    options: BTreeMap<String, bool>,
    replacements: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    name: String,
    namespace: String,
}

/// Runs the transformers a `transformers` entry configures.
pub(super) fn run_config(
    fs: &dyn Fs,
    l: &Loaded,
    entry: &str,
    objects: &mut Vec<Res>,
    custom: Option<&OpenApi>,
) -> Result<(), String> {
    let (docs, label) = configs(fs, l, entry)?;
    docs.into_iter()
        .try_for_each(|config| run_one(fs, l, config, objects, custom))
        .map_err(|e| format!("{label}: {e}"))
}

/// Runs one built-in transformer config.
fn run_one(
    fs: &dyn Fs,
    l: &Loaded,
    config: Value,
    objects: &mut Vec<Res>,
    custom: Option<&OpenApi>,
) -> Result<(), String> {
    let kind = builtin_kind(&config)?.to_owned();
    let c: TransformerConfig =
        serde_json::from_value(config).map_err(|e| format!("{kind}: {e}"))?;
    let specs = c.field_specs.as_deref().map(specs_of);
    let specs_or =
        |default: &[FieldSpec<'static>]| specs.clone().unwrap_or_else(|| default.to_vec());
    match kind.as_str() {
        "LabelTransformer" => set_map_entries(objects, &c.labels, &specs_or(&[]))?,
        "AnnotationsTransformer" => set_map_entries(objects, &c.annotations, &specs_or(&[]))?,
        "PrefixTransformer" | "SuffixTransformer" | "PrefixSuffixTransformer" => {
            let Some(specs) = &specs else {
                return Err(format!("{kind} has no fieldSpecs"));
            };
            // PrefixSuffixTransformer is kustomize's Prefix then Suffix on one config.
            if kind != "SuffixTransformer" && !c.prefix.is_empty() {
                affix(objects, &c.prefix, specs, false)?;
            }
            if kind != "PrefixTransformer" && !c.suffix.is_empty() {
                affix(objects, &c.suffix, specs, true)?;
            }
        }
        "NamespaceTransformer" => {
            let subjects = match c.set_role_binding_subjects.as_str() {
                "" | "defaultOnly" => Subjects::DefaultOnly,
                "allServiceAccounts" => Subjects::AllServiceAccounts,
                "none" => Subjects::None,
                other => return Err(format!("setRoleBindingSubjects '{other}' is not defaultOnly, allServiceAccounts or none")),
            };
            if !c.metadata.namespace.is_empty() {
                namespace(objects, &c.metadata.namespace, &specs_or(&[]), c.unset_only, subjects)?;
            }
        }
        "ImageTagTransformer" => set_image(objects, &c.image_tag, &specs_or(&[]))?,
        "ReplicaCountTransformer" => replicas(objects, &c.replica, &specs_or(fieldspec::REPLICAS))?,
        "PatchTransformer" => {
            let text = patch_text(fs, l, &c.path, &c.patch)?;
            let target = c.target.as_ref().map(target_of).transpose()?;
            let option = |name: &str| c.options.get(name).copied().unwrap_or(false);
            apply_patch(objects, &text, target.as_ref(), option("allowNameChange"), option("allowKindChange"), custom)?;
        }
        "ReplacementTransformer" => {
            let entries = replacements::parse_lenient(&c.replacements)?;
            let read = |p: &str| read_text(fs, l, p);
            let list = replacements::expand(&entries, &read)?;
            replacements::apply(objects, &list)?;
        }
        other => {
            return Err(format!(
                "{other} is not among the built-in transformers plumb runs (LabelTransformer, AnnotationsTransformer, PrefixTransformer, SuffixTransformer, PrefixSuffixTransformer, NamespaceTransformer, ImageTagTransformer, ReplicaCountTransformer, PatchTransformer, ReplacementTransformer)"
            ))
        }
    }
    Ok(())
}

/// The generator entries a `generators` entry configures.
pub(super) fn generator_configs(
    fs: &dyn Fs,
    l: &Loaded,
    entry: &str,
) -> Result<Vec<(GenKind, GeneratorArgs)>, String> {
    let mut out = Vec::new();
    let (docs, label) = configs(fs, l, entry)?;
    for mut config in docs {
        let kind = match builtin_kind(&config).map_err(|e| format!("{label}: {e}"))? {
            "ConfigMapGenerator" => GenKind::ConfigMap,
            "SecretGenerator" => GenKind::Secret,
            other => return Err(format!("{label}: {other} is not among the built-in generators plumb runs (ConfigMapGenerator, SecretGenerator)")),
        };
        let map = config.as_object_mut().expect("checked to be a mapping");
        let meta: Meta =
            serde_json::from_value(map.remove("metadata").unwrap_or_default()).unwrap_or_default();
        map.remove("apiVersion");
        map.remove("kind");
        let mut args: GeneratorArgs =
            serde_json::from_value(config).map_err(|e| format!("{label}: {e}"))?;
        if args.name.is_empty() {
            args.name = meta.name;
        }
        if args.namespace.is_empty() {
            args.namespace = meta.namespace;
        }
        out.push((kind, args));
    }
    Ok(out)
}

/// kustomize's default legacy order: these kinds first, these last.
pub fn default_order() -> (Vec<String>, Vec<String>) {
    let first = [
        "Namespace",
        "ResourceQuota",
        "StorageClass",
        "CustomResourceDefinition",
        "ServiceAccount",
        "PodSecurityPolicy",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "ConfigMap",
        "Secret",
        "Endpoints",
        "Service",
        "LimitRange",
        "PriorityClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "Deployment",
        "StatefulSet",
        "CronJob",
        "PodDisruptionBudget",
    ];
    let last = [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ];
    (
        first.iter().map(|s| s.to_string()).collect(),
        last.iter().map(|s| s.to_string()).collect(),
    )
}

/// kustomize's legacy sort: by kind rank, then group/version/kind, then
/// namespace and name.
pub fn legacy_sort(objects: &mut [Res], first: &[String], last: &[String]) {
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        last.iter()
            .position(|k| k == kind)
            .map_or(0, |i| i as i64 + 1)
    };
    let or = |s: &str, empty: &str| {
        if s.is_empty() {
            empty.to_owned()
        } else {
            s.to_owned()
        }
    };
    let gvk_key = |r: &Res| {
        let (g, v) = fieldspec::group_version(r.api_version());
        format!("{}_{}_{}", or(g, "~G"), or(v, "~V"), or(r.kind(), "~K"))
    };
    let id_key = |r: &Res| {
        let (g, v) = fieldspec::group_version(r.api_version());
        format!(
            "{}.{}.{}|{}|{}",
            or(r.kind(), "[noKind]"),
            or(v, "[noVer]"),
            or(g, "[noGrp]"),
            or(r.namespace(), "~X"),
            or(r.name(), "~N")
        )
    };
    objects.sort_by(|a, b| {
        if a.api_version() == b.api_version() && a.kind() == b.kind() {
            return id_key(a).cmp(&id_key(b));
        }
        let by_rank = rank(a.kind()).cmp(&rank(b.kind()));
        if by_rank.is_ne() {
            return by_rank;
        }
        let (ga, _) = fieldspec::group_version(a.api_version());
        let (gb, _) = fieldspec::group_version(b.api_version());
        if a.kind() == "Namespace" && b.kind() == "Namespace" && (ga.is_empty() || gb.is_empty()) {
            gvk_key(b).cmp(&gvk_key(a))
        } else {
            gvk_key(a).cmp(&gvk_key(b))
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_and_update_like_kustomize() {
        assert_eq!(split_image("nginx"), ("nginx", "", ""));
        assert_eq!(split_image("nginx:1.2"), ("nginx", "1.2", ""));
        assert_eq!(
            split_image("localhost:5000/app:v1"),
            ("localhost:5000/app", "v1", "")
        );
        assert_eq!(split_image("app@sha256:abc"), ("app", "", "sha256:abc"));
        assert_eq!(
            split_image("reg/app:v1@sha256:abc"),
            ("reg/app", "v1", "sha256:abc")
        );
        let image = Image {
            name: "nginx".into(),
            new_name: "my/nginx".into(),
            new_tag: "2".into(),
            ..Default::default()
        };
        assert_eq!(new_image("nginx:1@sha256:x", &image), "my/nginx:2");
        let digest = Image {
            name: "nginx".into(),
            digest: "sha256:d".into(),
            ..Default::default()
        };
        assert_eq!(new_image("nginx:1", &digest), "nginx@sha256:d");
    }
}
