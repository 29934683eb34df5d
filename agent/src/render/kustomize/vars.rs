//! kustomize's vars (deprecated, still honoured by v5.5): `$(NAME)` in the
//! varReference fields, replaced by a field of the object a var names.
//! Vars are bound to their object per kustomization (after its
//! transformers) and read at the end, after name references are fixed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::fieldspec::{self, Create, FieldSpec};
use super::Res;

/// A `vars` entry.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Var {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub objref: ObjRef,
    #[serde(default)]
    pub fieldref: FieldRef,
}

/// `objref`: the object, by its declared name.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjRef {
    #[serde(default)]
    pub api_version: String,
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
}

/// `fieldref`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldRef {
    #[serde(default)]
    pub field_path: String,
}

impl Var {
    fn field_path(&self) -> &str {
        match self.fieldref.field_path.as_str() {
            "" => "metadata.name",
            p => p,
        }
    }

    /// Group and version: apiVersion wins over group and version when set.
    fn group_version(&self) -> (String, String) {
        let o = &self.objref;
        let parts: Vec<&str> = o.api_version.split('/').collect();
        match parts.as_slice() {
            [""] => (o.group.clone(), o.version.clone()),
            [v] => (o.group.clone(), (*v).to_owned()),
            [g, v] => ((*g).to_owned(), (*v).to_owned()),
            _ => (o.group.clone(), o.version.clone()),
        }
    }
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (group, version) = self.group_version();
        let api = if group.is_empty() {
            version
        } else {
            format!("{group}/{version}")
        };
        write!(
            f,
            "{} ({} {}",
            self.name, self.objref.kind, self.objref.name
        )?;
        if !api.is_empty() {
            write!(f, ", apiVersion {api}")?;
        }
        if !self.objref.namespace.is_empty() {
            write!(f, ", namespace {}", self.objref.namespace)?;
        }
        write!(f, ", fieldPath {})", self.field_path())
    }
}

/// The vars of a whole build, in the order kustomizations declared them.
#[derive(Debug, Default)]
pub struct VarSet {
    vars: Vec<Var>,
}

impl VarSet {
    /// kustomize's MergeVars: binds each var to the one object it names (by
    /// any identity the object has had), then adds it; a name seen before
    /// anywhere in the build is an error.
    pub fn merge(&mut self, incoming: &[Var], objects: &mut [Res]) -> Result<(), String> {
        for var in incoming {
            let (group, version) = var.group_version();
            let o = &var.objref;
            let effective = |ns: &str| {
                if ns.is_empty() {
                    "default".to_owned()
                } else {
                    ns.to_owned()
                }
            };
            let matched: Vec<usize> = (0..objects.len())
                .filter(|&i| {
                    let r = &objects[i];
                    r.any_id(|id| {
                        let (g, v) = fieldspec::group_version(&id.api_version);
                        g == group
                            && v == version
                            && id.kind == o.kind
                            && id.name == o.name
                            && (o.namespace.is_empty()
                                || id.effective_namespace() == effective(&o.namespace))
                    })
                })
                .collect();
            match matched.as_slice() {
                [] => {}
                [i] => objects[*i].var_names.push(var.name.clone()),
                many => {
                    return Err(format!(
                        "found {} resId matches for var {var} (unable to disambiguate)",
                        many.len()
                    ))
                }
            }
        }
        for var in incoming {
            if self.vars.iter().any(|v| v.name == var.name) {
                return Err(format!(
                    "var '{}' already encountered (var names must be unique across the kustomizations of a build)",
                    var.name
                ));
            }
            self.vars.push(var.clone());
        }
        Ok(())
    }

    /// kustomize's ResolveVars: reads every var's value from its object,
    /// then replaces `$(NAME)` in the fields `specs` names.
    pub fn resolve(&self, objects: &mut [Res], specs: &[FieldSpec]) -> Result<(), String> {
        let mut sorted: Vec<&Var> = self.vars.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let mut values = BTreeMap::new();
        for var in sorted {
            let Some(r) = objects.iter().find(|r| r.var_names.contains(&var.name)) else {
                return Err(format!(
                    "var '{var}' cannot be mapped to a field in the set of known resources (its objref names no object of this build, or the apiVersion is missing)"
                ));
            };
            let parts = slice_indexes(super::replacements::split_path(var.field_path()));
            let value = match super::replacements::lookup(&r.object, &parts) {
                Ok(Some(v)) => v.clone(),
                _ => {
                    return Err(format!(
                        "field specified in var '{var}' not found in corresponding resource {}",
                        r.cur()
                    ))
                }
            };
            values.insert(var.name.clone(), value);
        }
        if values.is_empty() {
            return Ok(());
        }
        for r in objects.iter_mut() {
            for spec in specs {
                fieldspec::apply(&mut r.object, spec, Create::Nothing, &mut |node| {
                    substitute(node, &values)
                })?;
            }
        }
        Ok(())
    }
}

/// `ports[0]` → `ports`, `0` (kyaml's convertSliceIndex).
fn slice_indexes(parts: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for p in parts {
        let split = p
            .strip_suffix(']')
            .and_then(|s| s.rsplit_once('['))
            .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        match split {
            Some((head, n)) => {
                if !head.is_empty() {
                    out.push(head.to_owned());
                }
                out.push(n.to_owned());
            }
            None => out.push(p),
        }
    }
    out
}

fn substitute(node: &mut Value, values: &BTreeMap<String, Value>) -> Result<(), String> {
    match node {
        Value::String(s) => {
            *node = expand(s, values);
            Ok(())
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                if let Value::String(s) = v {
                    *v = expand(s, values);
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                let Value::String(s) = item else {
                    return Err(format!(
                        "invalid value type expect a string: {item} in a list where vars are replaced"
                    ));
                };
                *item = expand(s, values);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The text a value is embedded as; None for maps and lists (left as `$(NAME)`).
fn primitive_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`, an unknown or
/// unfinished reference stays as written, and a field that is exactly
/// `$(VAR)` takes the value's type (a number stays a number).
pub fn expand(input: &str, values: &BTreeMap<String, Value>) -> Value {
    let mapped = |name: &str| -> Option<&Value> {
        values
            .get(name)
            .filter(|v| !matches!(v, Value::Object(_) | Value::Array(_)))
    };
    if let Some(name) = input
        .strip_prefix("$(")
        .and_then(|r| r.strip_suffix(')'))
        .filter(|n| !n.contains(')'))
    {
        return match mapped(name) {
            Some(Value::Null) => Value::String(String::new()),
            Some(v) => v.clone(),
            None => Value::String(input.to_owned()),
        };
    }
    let mut out = String::new();
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if after.is_empty() {
            out.push('$');
            rest = after;
            break;
        }
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match mapped(name).and_then(primitive_text) {
                        Some(text) => out.push_str(&text),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Value::String(out)
}

const fn spec(path: &'static str, kind: &'static str) -> FieldSpec<'static> {
    FieldSpec {
        group: "",
        version: "",
        kind,
        path,
        create: false,
    }
}

/// kustomize v5.5's default varReference field specs (varreference.go),
/// including its CronJob `spec/jobTemplate/spec/template/volumes` path.
pub const VAR_REFERENCE: &[FieldSpec] = &[
    spec(
        "spec/jobTemplate/spec/template/spec/containers/args",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/spec/containers/command",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/spec/containers/env/value",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/spec/initContainers/args",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/spec/initContainers/command",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/spec/initContainers/env/value",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath",
        "CronJob",
    ),
    spec(
        "spec/jobTemplate/spec/template/volumes/nfs/server",
        "CronJob",
    ),
    spec("spec/template/spec/containers/args", "DaemonSet"),
    spec("spec/template/spec/containers/command", "DaemonSet"),
    spec("spec/template/spec/containers/env/value", "DaemonSet"),
    spec(
        "spec/template/spec/containers/volumeMounts/mountPath",
        "DaemonSet",
    ),
    spec("spec/template/spec/initContainers/args", "DaemonSet"),
    spec("spec/template/spec/initContainers/command", "DaemonSet"),
    spec("spec/template/spec/initContainers/env/value", "DaemonSet"),
    spec(
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        "DaemonSet",
    ),
    spec("spec/template/spec/volumes/nfs/server", "DaemonSet"),
    spec("spec/template/spec/containers/args", "Deployment"),
    spec("spec/template/spec/containers/command", "Deployment"),
    spec("spec/template/spec/containers/env/value", "Deployment"),
    spec(
        "spec/template/spec/containers/volumeMounts/mountPath",
        "Deployment",
    ),
    spec("spec/template/spec/initContainers/args", "Deployment"),
    spec("spec/template/spec/initContainers/command", "Deployment"),
    spec("spec/template/spec/initContainers/env/value", "Deployment"),
    spec(
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        "Deployment",
    ),
    spec("spec/template/spec/volumes/nfs/server", "Deployment"),
    spec("spec/template/metadata/annotations", "Deployment"),
    spec("spec/rules/host", "Ingress"),
    spec("spec/tls/hosts", "Ingress"),
    spec("spec/tls/secretName", "Ingress"),
    spec("spec/template/spec/containers/args", "Job"),
    spec("spec/template/spec/containers/command", "Job"),
    spec("spec/template/spec/containers/env/value", "Job"),
    spec(
        "spec/template/spec/containers/volumeMounts/mountPath",
        "Job",
    ),
    spec("spec/template/spec/initContainers/args", "Job"),
    spec("spec/template/spec/initContainers/command", "Job"),
    spec("spec/template/spec/initContainers/env/value", "Job"),
    spec(
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        "Job",
    ),
    spec("spec/template/spec/volumes/nfs/server", "Job"),
    spec("spec/containers/args", "Pod"),
    spec("spec/containers/command", "Pod"),
    spec("spec/containers/env/value", "Pod"),
    spec("spec/containers/volumeMounts/mountPath", "Pod"),
    spec("spec/initContainers/args", "Pod"),
    spec("spec/initContainers/command", "Pod"),
    spec("spec/initContainers/env/value", "Pod"),
    spec("spec/initContainers/volumeMounts/mountPath", "Pod"),
    spec("spec/volumes/nfs/server", "Pod"),
    spec("spec/template/spec/containers/args", "ReplicaSet"),
    spec("spec/template/spec/containers/command", "ReplicaSet"),
    spec("spec/template/spec/containers/env/value", "ReplicaSet"),
    spec(
        "spec/template/spec/containers/volumeMounts/mountPath",
        "ReplicaSet",
    ),
    spec("spec/template/spec/initContainers/args", "ReplicaSet"),
    spec("spec/template/spec/initContainers/command", "ReplicaSet"),
    spec("spec/template/spec/initContainers/env/value", "ReplicaSet"),
    spec(
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        "ReplicaSet",
    ),
    spec("spec/template/spec/volumes/nfs/server", "ReplicaSet"),
    spec("spec/ports/port", "Service"),
    spec("spec/ports/targetPort", "Service"),
    spec("spec/template/spec/containers/args", "StatefulSet"),
    spec("spec/template/spec/containers/command", "StatefulSet"),
    spec("spec/template/spec/containers/env/value", "StatefulSet"),
    spec(
        "spec/template/spec/containers/volumeMounts/mountPath",
        "StatefulSet",
    ),
    spec("spec/template/spec/initContainers/args", "StatefulSet"),
    spec("spec/template/spec/initContainers/command", "StatefulSet"),
    spec("spec/template/spec/initContainers/env/value", "StatefulSet"),
    spec(
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        "StatefulSet",
    ),
    spec("spec/volumeClaimTemplates/spec/nfs/server", "StatefulSet"),
    spec("spec/nfs/server", "PersistentVolume"),
    spec("metadata/labels", ""),
    spec("metadata/annotations", ""),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_follows_kubernetes() {
        let values: BTreeMap<String, Value> = [
            ("A".to_owned(), json!("x")),
            ("N".to_owned(), json!(8080)),
            ("M".to_owned(), json!({"k": "v"})),
        ]
        .into_iter()
        .collect();
        assert_eq!(expand("$(A)", &values), json!("x"));
        assert_eq!(
            expand("$(N)", &values),
            json!(8080),
            "a whole field keeps the type"
        );
        assert_eq!(expand("p$(N)s", &values), json!("p8080s"));
        assert_eq!(expand("$$(A) $(B) $(A", &values), json!("$(A) $(B) $(A"));
        assert_eq!(
            expand("$(M)", &values),
            json!("$(M)"),
            "maps are not substituted"
        );
        assert_eq!(expand("a$", &values), json!("a$"));
        assert_eq!(expand("é$é", &values), json!("é$é"));
    }

    #[test]
    fn slice_indexes_split() {
        assert_eq!(
            slice_indexes(vec!["ports[0]".into(), "port".into(), "[1]".into()]),
            ["ports", "0", "port", "1"]
        );
    }
}
