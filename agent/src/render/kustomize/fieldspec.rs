//! Field specs: kustomize's way of naming where a transformer writes ("in
//! Deployments, spec/selector/matchLabels, creating it"). The tables are
//! kustomize v5.5's defaults (api/internal/konfig/builtinpluginconsts).

use serde_json::{Map, Value};

use super::kustomization::FieldSpecArgs;

/// Where a transformer acts: objects of a group/version/kind (empty matches
/// any), a `/`-separated path (`\/` escapes a slash; lists are walked
/// through), and whether missing fields are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub path: &'a str,
    pub create: bool,
}

/// Shorthand for the tables.
const fn fs(
    path: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    create: bool,
) -> FieldSpec<'static> {
    FieldSpec {
        group,
        version,
        kind,
        path,
        create,
    }
}

impl<'a> From<&'a FieldSpecArgs> for FieldSpec<'a> {
    fn from(a: &'a FieldSpecArgs) -> Self {
        FieldSpec {
            group: &a.group,
            version: &a.version,
            kind: &a.kind,
            path: &a.path,
            create: a.create,
        }
    }
}

/// `metadata/labels` of everything plus pod template labels (kustomize's
/// `templateLabels`, and the tail of `commonLabels`).
pub const TEMPLATE_LABELS: &[FieldSpec] = &[
    fs("metadata/labels", "", "", "", true),
    fs(
        "spec/template/metadata/labels",
        "",
        "v1",
        "ReplicationController",
        true,
    ),
    fs("spec/template/metadata/labels", "", "", "Deployment", true),
    fs("spec/template/metadata/labels", "", "", "ReplicaSet", true),
    fs("spec/template/metadata/labels", "", "", "DaemonSet", true),
    fs(
        "spec/template/metadata/labels",
        "apps",
        "",
        "StatefulSet",
        true,
    ),
    fs(
        "spec/volumeClaimTemplates[]/metadata/labels",
        "apps",
        "",
        "StatefulSet",
        true,
    ),
    fs("spec/template/metadata/labels", "batch", "", "Job", true),
    fs(
        "spec/jobTemplate/metadata/labels",
        "batch",
        "",
        "CronJob",
        true,
    ),
    fs(
        "spec/jobTemplate/spec/template/metadata/labels",
        "batch",
        "",
        "CronJob",
        true,
    ),
];

const AFFINITY: [&str; 5] = [
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
];

/// kustomize's `commonLabels` field specs: selectors too, then `TEMPLATE_LABELS`.
pub fn common_labels() -> Vec<FieldSpec<'static>> {
    let mut out = vec![
        fs("spec/selector", "", "v1", "Service", true),
        fs("spec/selector", "", "v1", "ReplicationController", true),
        fs("spec/selector/matchLabels", "", "", "Deployment", true),
    ];
    out.extend(AFFINITY.map(|p| fs(p, "apps", "", "Deployment", false)));
    out.push(fs("spec/selector/matchLabels", "", "", "ReplicaSet", true));
    out.push(fs("spec/selector/matchLabels", "", "", "DaemonSet", true));
    out.push(fs(
        "spec/selector/matchLabels",
        "apps",
        "",
        "StatefulSet",
        true,
    ));
    out.extend(AFFINITY.map(|p| fs(p, "apps", "", "StatefulSet", false)));
    out.extend([
        fs("spec/selector/matchLabels", "batch", "", "Job", false),
        fs(
            "spec/jobTemplate/spec/selector/matchLabels",
            "batch",
            "",
            "CronJob",
            false,
        ),
        fs(
            "spec/selector/matchLabels",
            "policy",
            "",
            "PodDisruptionBudget",
            false,
        ),
        fs(
            "spec/podSelector/matchLabels",
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            false,
        ),
        fs(
            "spec/ingress/from/podSelector/matchLabels",
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            false,
        ),
        fs(
            "spec/egress/to/podSelector/matchLabels",
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            false,
        ),
    ]);
    out.extend_from_slice(TEMPLATE_LABELS);
    out
}

/// kustomize's `commonAnnotations` field specs.
pub const COMMON_ANNOTATIONS: &[FieldSpec] = &[
    fs("metadata/annotations", "", "", "", true),
    fs(
        "spec/template/metadata/annotations",
        "",
        "v1",
        "ReplicationController",
        true,
    ),
    fs(
        "spec/template/metadata/annotations",
        "",
        "",
        "Deployment",
        true,
    ),
    fs(
        "spec/template/metadata/annotations",
        "",
        "",
        "ReplicaSet",
        true,
    ),
    fs(
        "spec/template/metadata/annotations",
        "",
        "",
        "DaemonSet",
        true,
    ),
    fs(
        "spec/template/metadata/annotations",
        "",
        "",
        "StatefulSet",
        true,
    ),
    fs(
        "spec/template/metadata/annotations",
        "batch",
        "",
        "Job",
        true,
    ),
    fs(
        "spec/jobTemplate/metadata/annotations",
        "batch",
        "",
        "CronJob",
        true,
    ),
    fs(
        "spec/jobTemplate/spec/template/metadata/annotations",
        "batch",
        "",
        "CronJob",
        true,
    ),
];

/// kustomize's `namespace` field specs, besides metadata/namespace (a
/// Namespace object is renamed to the namespace, as kustomize does).
pub const NAMESPACE: &[FieldSpec] = &[
    fs("metadata/name", "", "v1", "Namespace", true),
    fs(
        "spec/service/namespace",
        "apiregistration.k8s.io",
        "",
        "APIService",
        true,
    ),
    fs(
        "spec/conversion/webhook/clientConfig/service/namespace",
        "apiextensions.k8s.io",
        "",
        "CustomResourceDefinition",
        false,
    ),
];

/// kustomize's `replicas` field specs (kinds only).
pub const REPLICAS: &[FieldSpec] = &[
    fs("spec/replicas", "", "", "Deployment", true),
    fs("spec/replicas", "", "", "ReplicationController", true),
    fs("spec/replicas", "", "", "ReplicaSet", true),
    fs("spec/replicas", "", "", "StatefulSet", true),
];

/// Group and version of an apiVersion.
pub fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

impl FieldSpec<'_> {
    /// Whether the spec applies to objects of this apiVersion and kind.
    pub fn selects(&self, api_version: &str, kind: &str) -> bool {
        let (group, version) = group_version(api_version);
        (self.kind.is_empty() || self.kind == kind)
            && (self.group.is_empty() || self.group == group)
            && (self.version.is_empty() || self.version == version)
    }
}

/// What to create for a missing last field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create nothing (references, images).
    Nothing,
    /// An empty string (names, namespaces).
    Scalar,
    /// An empty map (labels, annotations).
    Map,
}

/// Splits a field-spec path at unescaped `/`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                parts.last_mut().expect("never empty").push('/');
                chars.next();
            }
            '/' => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

/// A setter: given the node a spec reaches, changes it.
pub type Setter<'a> = dyn FnMut(&mut Value) -> Result<(), String> + 'a;

/// Applies `set` to every node the spec reaches in `object` (if the spec
/// selects it), creating what is missing when the spec says so, as
/// kustomize's fieldspec filter does.
pub fn apply(
    object: &mut Value,
    spec: &FieldSpec,
    create: Create,
    set: &mut Setter,
) -> Result<(), String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    if !spec.selects(&api_version, &kind) {
        return Ok(());
    }
    let path = split_path(spec.path);
    walk(object, &path, spec.create, create, set).map_err(|e| format!("field '{}': {e}", spec.path))
}

fn walk(
    node: &mut Value,
    path: &[String],
    create_missing: bool,
    create: Create,
    set: &mut Setter,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return set(node);
    };
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|item| walk(item, path, create_missing, create, set)),
        Value::Object(map) => {
            let (name, is_list) = match first.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (first.as_str(), false),
            };
            let made = if !create_missing || create == Create::Nothing || is_list {
                None
            } else if rest.is_empty() {
                Some(match create {
                    Create::Map => Value::Object(Map::new()),
                    _ => Value::String(String::new()),
                })
            } else {
                Some(Value::Object(Map::new()))
            };
            let field = match made {
                Some(empty) => {
                    let field = map.entry(name).or_insert_with(|| empty.clone());
                    if field.is_null() {
                        *field = empty;
                    }
                    field
                }
                None => match map.get_mut(name) {
                    Some(f) => f,
                    None => return Ok(()),
                },
            };
            walk(field, rest, create_missing, create, set)
        }
        _ => Err("expected a list or a map on the way".into()),
    }
}

/// A setter that puts `key: value` into the map it reaches (labels, annotations).
pub fn set_entry<'a>(
    key: &'a str,
    value: &'a str,
) -> impl FnMut(&mut Value) -> Result<(), String> + 'a {
    move |node| match node {
        Value::Object(map) => {
            map.insert(key.to_owned(), Value::String(value.to_owned()));
            Ok(())
        }
        _ => Err(format!("cannot set '{key}': not a map")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_at_unescaped_slashes() {
        assert_eq!(
            split_path(r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-secret"),
            [
                "metadata",
                "annotations",
                "nginx.ingress.kubernetes.io/auth-secret"
            ]
        );
    }

    #[test]
    fn specs_walk_lists_and_create_maps() {
        let mut sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
            "spec": {"volumeClaimTemplates": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b", "labels": {"x": "1"}}}]}});
        for spec in common_labels() {
            apply(&mut sts, &spec, Create::Map, &mut set_entry("team", "a")).unwrap();
        }
        assert_eq!(sts["metadata"]["labels"]["team"], "a");
        assert_eq!(sts["spec"]["selector"]["matchLabels"]["team"], "a");
        assert_eq!(sts["spec"]["template"]["metadata"]["labels"]["team"], "a");
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["team"],
            "a"
        );
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][1]["metadata"]["labels"],
            json!({"x": "1", "team": "a"})
        );
        // Affinity selectors are only written where they exist.
        assert!(sts["spec"]["template"].get("spec").is_none());

        let mut job =
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {}});
        for spec in common_labels() {
            apply(&mut job, &spec, Create::Map, &mut set_entry("team", "a")).unwrap();
        }
        assert!(
            job["spec"].get("selector").is_none(),
            "Job selectors are not created"
        );
        assert_eq!(job["spec"]["template"]["metadata"]["labels"]["team"], "a");
    }
}
