//! Kustomize's patches applied to one object: strategic merge with plumb's own
//! merge-key table (k8s-openapi carries no merge keys), RFC 6902 JSON patch, and
//! the selector that picks a patch's targets. Pure functions over JSON values;
//! the behaviour follows `kubectl kustomize` (kustomize v5.5), checked case by case.

use super::openapi::OpenApi;
use serde_json::{Map, Value};

mod json6902;
mod target;

pub use json6902::json6902;
pub use target::Target;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A strategic merge patch that plumb cannot apply as written.
    #[error("strategic merge patch at `{path}`: {reason}")]
    StrategicMerge { path: String, reason: String },
    /// A JSON 6902 operation that failed; `index` counts from 0.
    #[error("JSON patch operation {index} (`{op}` at `{path}`): {reason}")]
    JsonPatch {
        index: usize,
        op: String,
        path: String,
        reason: String,
    },
    /// A malformed field of a patch target.
    #[error("patch target `{field}`: {reason}")]
    Target { field: &'static str, reason: String },
}

/// How strategic merge combines one list; lists the table does not name are replaced whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMerge {
    /// Elements are maps merged by these keys. Keys after the first may be absent
    /// from elements; an absent `protocol` counts as `TCP`, as the API server defaults it.
    Keys(&'static [&'static str]),
    /// Primitive values merged as a set: the patch's values first, then the others.
    Set,
}

/// How strategic merge combines one list, from plumb's table or from a
/// kustomization's OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HowMerge {
    /// Maps merged by these keys (see [`ListMerge::Keys`]).
    Keys(Vec<String>),
    /// Primitive values merged as a set.
    Set,
}

/// How the list at `path` of an object of this kind merges: by the
/// kustomization's schema when one is set (it replaces the built-in one,
/// for built-in kinds too, as in kustomize), else by plumb's table.
pub fn how_list_merges(
    api_version: &str,
    kind: &str,
    path: &str,
    custom: Option<&OpenApi>,
) -> Option<HowMerge> {
    match custom {
        Some(schema) => schema.list_merge(api_version, kind, path),
        None => known_kind(api_version, kind)
            .and_then(|k| k.list_merge(path))
            .map(|how| match how {
                Keys(keys) => HowMerge::Keys(keys.iter().map(|k| (*k).to_owned()).collect()),
                Set => HowMerge::Set,
            }),
    }
}

/// One list that strategic merge merges: its path within the object (`[]` steps into elements) and how.
pub type MergeList = (&'static str, ListMerge);

/// A built-in kind whose schema plumb knows: the lists it merges, beyond [`OBJECT_META_LISTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownKind {
    pub api_versions: &'static [&'static str],
    pub kind: &'static str,
    /// Where a pod spec lives, whose lists [`POD_SPEC_LISTS`] and [`CONTAINER_LISTS`] name.
    pub pod_spec: Option<&'static str>,
    pub lists: &'static [MergeList],
}

use ListMerge::{Keys, Set};

/// Lists of every known kind's `metadata`.
pub const OBJECT_META_LISTS: &[MergeList] = &[
    ("metadata.finalizers", Set),
    ("metadata.ownerReferences", Keys(&["uid"])),
];

/// Lists of a pod spec, relative to it. `tolerations`, `readinessGates`,
/// `resourceClaims` and `schedulingGates` are replaced, as kustomize's schema (Kubernetes 1.21) has it.
pub const POD_SPEC_LISTS: &[MergeList] = &[
    ("containers", Keys(&["name"])),
    ("initContainers", Keys(&["name"])),
    ("ephemeralContainers", Keys(&["name"])),
    ("volumes", Keys(&["name"])),
    ("imagePullSecrets", Keys(&["name"])),
    ("hostAliases", Keys(&["ip"])),
    (
        "topologySpreadConstraints",
        Keys(&["topologyKey", "whenUnsatisfiable"]),
    ),
];

/// The pod spec fields that hold containers.
pub const CONTAINER_FIELDS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Lists of a container, relative to it. `envFrom`, `args`, `command` and `resizePolicy` are replaced.
pub const CONTAINER_LISTS: &[MergeList] = &[
    ("env", Keys(&["name"])),
    ("ports", Keys(&["containerPort", "protocol"])),
    ("volumeMounts", Keys(&["mountPath"])),
    ("volumeDevices", Keys(&["devicePath"])),
];

const CONDITIONS: MergeList = ("status.conditions", Keys(&["type"]));

const fn known(
    api_versions: &'static [&'static str],
    kind: &'static str,
    pod_spec: Option<&'static str>,
    lists: &'static [MergeList],
) -> KnownKind {
    KnownKind {
        api_versions,
        kind,
        pod_spec,
        lists,
    }
}

/// The kinds strategic merge patches, as kustomize's built-in schema knows them;
/// their other lists (Role rules, Ingress rules, StatefulSet volumeClaimTemplates, …) are replaced.
/// A kind outside this table takes a strategic merge only when the patch holds no list.
#[rustfmt::skip]
pub const KNOWN_KINDS: &[KnownKind] = &[
    known(&["v1"], "Pod", Some("spec"), &[CONDITIONS, ("status.podIPs", Keys(&["ip"]))]),
    known(&["v1"], "PodTemplate", Some("template.spec"), &[]),
    known(&["v1"], "ReplicationController", Some("spec.template.spec"), &[CONDITIONS]),
    known(&["apps/v1"], "Deployment", Some("spec.template.spec"), &[CONDITIONS]),
    known(&["apps/v1"], "StatefulSet", Some("spec.template.spec"), &[CONDITIONS]),
    known(&["apps/v1"], "DaemonSet", Some("spec.template.spec"), &[CONDITIONS]),
    known(&["apps/v1"], "ReplicaSet", Some("spec.template.spec"), &[CONDITIONS]),
    known(&["batch/v1"], "Job", Some("spec.template.spec"), &[CONDITIONS]),
    known(&["batch/v1", "batch/v1beta1"], "CronJob", Some("spec.jobTemplate.spec.template.spec"), &[]),
    known(&["v1"], "Service", None, &[("spec.ports", Keys(&["port", "protocol"])), CONDITIONS]),
    known(&["v1"], "ServiceAccount", None, &[("secrets", Keys(&["name"]))]),
    known(&["v1"], "Node", None, &[("spec.podCIDRs", Set), CONDITIONS, ("status.addresses", Keys(&["type"]))]),
    known(&["v1"], "Namespace", None, &[CONDITIONS]),
    known(&["v1"], "PersistentVolumeClaim", None, &[CONDITIONS]),
    known(&["v1"], "ConfigMap", None, &[]),
    known(&["v1"], "Secret", None, &[]),
    known(&["v1"], "PersistentVolume", None, &[]),
    known(&["v1"], "Endpoints", None, &[]),
    known(&["v1"], "LimitRange", None, &[]),
    known(&["v1"], "ResourceQuota", None, &[]),
    known(&["v1", "events.k8s.io/v1"], "Event", None, &[]),
    known(&["apps/v1"], "ControllerRevision", None, &[]),
    known(&["policy/v1", "policy/v1beta1"], "PodDisruptionBudget", None, &[CONDITIONS]),
    known(&["autoscaling/v1", "autoscaling/v2beta1", "autoscaling/v2beta2"], "HorizontalPodAutoscaler", None, &[]),
    known(&["networking.k8s.io/v1", "networking.k8s.io/v1beta1"], "Ingress", None, &[]),
    known(&["networking.k8s.io/v1"], "IngressClass", None, &[]),
    known(&["networking.k8s.io/v1"], "NetworkPolicy", None, &[]),
    known(&["rbac.authorization.k8s.io/v1"], "Role", None, &[]),
    known(&["rbac.authorization.k8s.io/v1"], "ClusterRole", None, &[]),
    known(&["rbac.authorization.k8s.io/v1"], "RoleBinding", None, &[]),
    known(&["rbac.authorization.k8s.io/v1"], "ClusterRoleBinding", None, &[]),
    known(&["admissionregistration.k8s.io/v1"], "MutatingWebhookConfiguration", None, &[("webhooks", Keys(&["name"]))]),
    known(&["admissionregistration.k8s.io/v1"], "ValidatingWebhookConfiguration", None, &[("webhooks", Keys(&["name"]))]),
    known(&["apiextensions.k8s.io/v1"], "CustomResourceDefinition", None, &[]),
    known(&["apiregistration.k8s.io/v1"], "APIService", None, &[CONDITIONS]),
    known(&["storage.k8s.io/v1"], "StorageClass", None, &[]),
    known(&["storage.k8s.io/v1"], "CSIDriver", None, &[]),
    known(&["storage.k8s.io/v1"], "VolumeAttachment", None, &[]),
    known(&["scheduling.k8s.io/v1"], "PriorityClass", None, &[]),
    known(&["coordination.k8s.io/v1"], "Lease", None, &[]),
    known(&["discovery.k8s.io/v1"], "EndpointSlice", None, &[]),
    known(&["node.k8s.io/v1"], "RuntimeClass", None, &[]),
    known(&["certificates.k8s.io/v1"], "CertificateSigningRequest", None, &[]),
];

/// The table entry for an object's apiVersion and kind, if plumb knows its schema.
pub fn known_kind(api_version: &str, kind: &str) -> Option<&'static KnownKind> {
    KNOWN_KINDS
        .iter()
        .find(|k| k.kind == kind && k.api_versions.contains(&api_version))
}

impl KnownKind {
    /// How this kind merges the list at `path` (`None`: replaced whole).
    pub fn list_merge(&self, path: &str) -> Option<ListMerge> {
        let find = |lists: &[MergeList], p: &str| {
            lists.iter().find(|(at, _)| *at == p).map(|(_, how)| *how)
        };
        if let Some(how) = find(OBJECT_META_LISTS, path).or_else(|| find(self.lists, path)) {
            return Some(how);
        }
        let in_pod = path.strip_prefix(self.pod_spec?)?.strip_prefix('.')?;
        if let Some(how) = find(POD_SPEC_LISTS, in_pod) {
            return Some(how);
        }
        let (field, in_container) = in_pod.split_once("[].")?;
        CONTAINER_FIELDS
            .contains(&field)
            .then(|| find(CONTAINER_LISTS, in_container))
            .flatten()
    }
}

const DIRECTIVE: &str = "$patch";

enum Directive {
    Merge,
    Replace,
    Delete,
}

fn smp_error(path: &str, reason: impl Into<String>) -> PatchError {
    PatchError::StrategicMerge {
        path: if path.is_empty() {
            "(top)".into()
        } else {
            path.into()
        },
        reason: reason.into(),
    }
}

fn directive(map: &Map<String, Value>, path: &str) -> Result<Directive, PatchError> {
    match map.get(DIRECTIVE) {
        None => Ok(Directive::Merge),
        Some(Value::String(s)) if s == "merge" => Ok(Directive::Merge),
        Some(Value::String(s)) if s == "replace" => Ok(Directive::Replace),
        Some(Value::String(s)) if s == "delete" => Ok(Directive::Delete),
        Some(other) => Err(smp_error(
            path,
            format!("unknown `$patch: {other}` (plumb knows merge, replace and delete)"),
        )),
    }
}

/// A list element `{$patch: replace}` that makes its list replace the base's.
fn is_replace_marker(item: &Value) -> bool {
    item.as_object().is_some_and(|m| {
        m.len() == 1 && m.get(DIRECTIVE).and_then(Value::as_str) == Some("replace")
    })
}

fn reject_unsupported_directive(key: &str, path: &str) -> Result<(), PatchError> {
    let reason = if key.starts_with("$setElementOrder/") {
        "is not supported (kustomize leaves it in its output as a field); order the list in the patch instead"
    } else if key == "$retainKeys" {
        "is not supported (kustomize leaves it in its output as a field); use `$patch: replace` on the map instead"
    } else if key.starts_with("$deleteFromPrimitiveList/") {
        "is not supported (kustomize leaves it in its output as a field); use a JSON 6902 `remove` operation instead"
    } else {
        return Ok(());
    };
    Err(smp_error(path, format!("the directive `{key}` {reason}")))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Drops the keys that were written with no value (`replicas:`; see
/// [`crate::render::yaml::take_empty_values`]) from an object a strategic
/// merge patch is about to patch: kustomize's merge walks the whole object
/// and leaves them out, through maps and the lists it merges by key, while
/// a list it replaces whole is copied as it is. A key that since got a
/// value (a replacement, a JSON patch) stays.
pub fn drop_written_empty(object: &mut Value, empties: &[Vec<String>], custom: Option<&OpenApi>) {
    let text = |key: &str| object[key].as_str().unwrap_or_default().to_owned();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let keyed = |path: &str| {
        matches!(
            how_list_merges(&api_version, &kind, path, custom),
            Some(HowMerge::Keys(_))
        )
    };
    for pointer in empties {
        let Some((last, on_the_way)) = pointer.split_last() else {
            continue;
        };
        if let Some(map) = walked_map(object, on_the_way, &keyed) {
            if map
                .get(last.as_str())
                .is_some_and(|v| v.is_null() || v == "")
            {
                map.remove(last.as_str());
            }
        }
    }
}

/// The map at `pointer`, if a strategic merge reaches it: through maps and
/// lists merged by key.
fn walked_map<'v>(
    object: &'v mut Value,
    pointer: &[String],
    keyed: &dyn Fn(&str) -> bool,
) -> Option<&'v mut Map<String, Value>> {
    let mut node = object;
    let mut path = String::new();
    for token in pointer {
        node = match node {
            Value::Object(map) => {
                path = join(&path, token);
                map.get_mut(token.as_str())?
            }
            Value::Array(items) => {
                if !keyed(&path) {
                    return None;
                }
                path.push_str("[]");
                items.get_mut(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    node.as_object_mut()
}

/// Strategic merge (kustomize's patchesStrategicMerge / `patches` with a map body) of `patch` into `base`.
///
/// A top-level `$patch: delete` leaves `base` as `Value::Null`: the caller drops the object.
/// On error `base` is unchanged.
pub fn strategic_merge(
    base: &mut Value,
    patch: &Value,
    custom: Option<&OpenApi>,
) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        return Err(smp_error("", "the patch is not a map"));
    };
    match directive(patch, "")? {
        Directive::Delete => {
            *base = Value::Null;
            return Ok(());
        }
        Directive::Replace => {
            return Err(smp_error(
                "",
                "`$patch: replace` at the top of a patch is not supported (kustomize ignores such a patch whole); \
                 put it on the maps or lists to replace",
            ))
        }
        Directive::Merge => {}
    }
    let text = |key: &str| {
        base.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let merger = Merger {
        api_version: text("apiVersion"),
        kind: text("kind"),
        custom,
    };
    let Value::Object(base) = base else {
        return Err(smp_error("", "the object to patch is not a map"));
    };
    let mut merged = base.clone();
    merger.merge_map(&mut merged, patch, "")?;
    *base = merged;
    Ok(())
}

struct Merger<'s> {
    api_version: String,
    kind: String,
    custom: Option<&'s OpenApi>,
}

impl Merger<'_> {
    fn merge_map(
        &self,
        base: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        path: &str,
    ) -> Result<(), PatchError> {
        for (key, value) in patch {
            if key == DIRECTIVE {
                continue;
            }
            reject_unsupported_directive(key, path)?;
            let at = join(path, key);
            match value {
                Value::Null => {
                    base.remove(key);
                }
                Value::Object(map) => match directive(map, &at)? {
                    Directive::Delete => {
                        base.remove(key);
                    }
                    Directive::Replace => {
                        base.insert(key.clone(), self.fresh_map(map, &at)?);
                    }
                    Directive::Merge => match base.get_mut(key) {
                        Some(Value::Object(target)) => self.merge_map(target, map, &at)?,
                        _ => {
                            base.insert(key.clone(), self.fresh_map(map, &at)?);
                        }
                    },
                },
                Value::Array(items) => {
                    let merged = self.merge_list(base.get(key), items, &at)?;
                    base.insert(key.clone(), merged);
                }
                scalar => {
                    base.insert(key.clone(), scalar.clone());
                }
            }
        }
        Ok(())
    }

    /// A patch map where the base has nothing to merge with: its nulls and directives resolved.
    fn fresh_map(&self, patch: &Map<String, Value>, path: &str) -> Result<Value, PatchError> {
        let mut fresh = Map::new();
        self.merge_map(&mut fresh, patch, path)?;
        Ok(Value::Object(fresh))
    }

    fn merge_list(
        &self,
        base: Option<&Value>,
        patch: &[Value],
        path: &str,
    ) -> Result<Value, PatchError> {
        // Without a schema (a custom resource, a HelmRelease's values),
        // kustomize replaces every list whole, ObjectMeta's too.
        let how = how_list_merges(&self.api_version, &self.kind, path, self.custom);
        let replace = patch.iter().any(is_replace_marker);
        let items: Vec<&Value> = patch
            .iter()
            .filter(|item| !is_replace_marker(item))
            .collect();
        let base: &[Value] = match base {
            Some(Value::Array(base)) if !replace => base,
            _ => &[],
        };
        match how {
            Some(HowMerge::Keys(keys)) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                self.merge_keyed(base, &items, &keys, path)
            }
            Some(HowMerge::Set) => {
                let mut merged: Vec<Value> = Vec::new();
                for value in items.into_iter().chain(base) {
                    if !merged.contains(value) {
                        merged.push(value.clone());
                    }
                }
                Ok(Value::Array(merged))
            }
            // kustomize copies the elements of a replaced list verbatim, nulls included.
            None => match items.iter().position(|item| item.get(DIRECTIVE).is_some()) {
                Some(index) => Err(smp_error(
                    path,
                    format!("element {index} carries `$patch`, but this list has no merge key: it is replaced whole"),
                )),
                None => Ok(Value::Array(items.into_iter().cloned().collect())),
            },
        }
    }

    fn merge_keyed(
        &self,
        base: &[Value],
        items: &[&Value],
        keys: &[&str],
        path: &str,
    ) -> Result<Value, PatchError> {
        enum Slot {
            Base(usize),
            New(Value),
        }
        let element_path = format!("{path}[]");
        // kustomize orders a list with secondary merge keys in use differently:
        // new elements first, then the base's in place; otherwise the patch's elements come first.
        let in_place = keys.len() > 1
            && base
                .iter()
                .chain(items.iter().copied())
                .any(|e| keys[1..].iter().any(|k| e.get(k).is_some()));
        let base_ids: Vec<Option<Vec<Value>>> = base.iter().map(|e| identity(e, keys)).collect();
        let mut slots: Vec<Option<Value>> = base.iter().cloned().map(Some).collect();
        let mut front: Vec<Slot> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Value::Object(map) = item else {
                return Err(smp_error(
                    path,
                    format!(
                        "element {index} is not a map, but this list merges maps by `{}`",
                        keys[0]
                    ),
                ));
            };
            let delete = match directive(map, path)? {
                Directive::Delete => true,
                Directive::Merge => false,
                Directive::Replace => {
                    return Err(smp_error(
                        path,
                        format!(
                            "`$patch: replace` on element {index} is not supported (kustomize drops such an element); \
                             replace the whole list with a `- $patch: replace` element"
                        ),
                    ))
                }
            };
            let id = identity(item, keys)
                .filter(|id| !id[0].is_null())
                .ok_or_else(|| {
                    smp_error(
                        path,
                        format!("element {index} lacks the merge key `{}`", keys[0]),
                    )
                })?;
            match base_ids.iter().position(|b| b.as_ref() == Some(&id)) {
                Some(at) => {
                    if delete {
                        slots[at] = None;
                    } else if let Some(Value::Object(target)) = &mut slots[at] {
                        self.merge_map(target, map, &element_path)?;
                        if !in_place
                            && !front.iter().any(|s| matches!(s, Slot::Base(b) if *b == at))
                        {
                            front.push(Slot::Base(at));
                        }
                    }
                }
                None if delete => {}
                None => front.push(Slot::New(self.fresh_map(map, &element_path)?)),
            }
        }
        let mut merged = Vec::with_capacity(front.len() + slots.len());
        for slot in front {
            match slot {
                Slot::Base(at) => merged.extend(slots[at].take()),
                Slot::New(value) => merged.push(value),
            }
        }
        merged.extend(slots.into_iter().flatten());
        Ok(Value::Array(merged))
    }
}

/// The values of an element's merge keys; `None` for an element that is not a map.
fn identity(element: &Value, keys: &[&str]) -> Option<Vec<Value>> {
    let map = element.as_object()?;
    let value = |key: &str| match map.get(key) {
        Some(v) => v.clone(),
        None if key == "protocol" => Value::String("TCP".into()),
        None => Value::Null,
    };
    Some(keys.iter().map(|k| value(k)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Deployment around `pod_spec`: the usual subject of these patches.
    fn deploy(pod_spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": pod_spec}}})
    }

    fn merged(mut base: Value, patch: &Value) -> Value {
        strategic_merge(&mut base, patch, None).expect("the patch applies");
        base
    }

    fn pod_spec(object: &Value) -> &Value {
        &object["spec"]["template"]["spec"]
    }

    // Each expectation below is kubectl kustomize's (v5.5) output for the same input.
    #[test]
    fn keyed_lists_put_the_patch_elements_first() {
        let base = deploy(json!({"containers": [
            {"name": "c1", "image": "a", "env": [{"name": "A", "value": "1"}, {"name": "B"}],
             "args": ["x", "y"], "envFrom": [{"configMapRef": {"name": "cm1"}}]},
            {"name": "c2"}, {"name": "c3"}]}));
        let patch = deploy(json!({"containers": [
            {"name": "c3", "image": "C"}, {"name": "c4"},
            {"name": "c1", "env": [{"name": "C"}, {"name": "A", "value": "1b"}],
             "args": ["z"], "envFrom": [{"configMapRef": {"name": "cm2"}}]}]}));
        assert_eq!(
            pod_spec(&merged(base, &patch))["containers"],
            json!([
            {"name": "c3", "image": "C"}, {"name": "c4"},
            {"name": "c1", "image": "a", "env": [{"name": "C"}, {"name": "A", "value": "1b"}, {"name": "B"}],
             "args": ["z"], "envFrom": [{"configMapRef": {"name": "cm2"}}]},
            {"name": "c2"}])
        );
    }

    #[test]
    fn pod_spec_lists_merge_or_replace_per_the_table() {
        let base = deploy(json!({
            "volumes": [{"name": "v1"}, {"name": "v2"}], "tolerations": [{"key": "k1"}],
            "hostAliases": [{"ip": "1.1.1.1"}], "imagePullSecrets": [{"name": "s1"}],
            "containers": [{"name": "c", "ports": [{"containerPort": 80}],
                            "volumeMounts": [{"mountPath": "/a", "name": "v1"}]}]}));
        let patch = deploy(json!({
            "volumes": [{"name": "v3"}, {"$patch": "delete", "name": "v1"}],
            "tolerations": [{"key": "k2", "value": null}],
            "hostAliases": [{"ip": "2.2.2.2"}], "imagePullSecrets": [{"name": "s2"}],
            "containers": [{"name": "c", "ports": [{"containerPort": 81}],
                            "volumeMounts": [{"mountPath": "/b", "name": "v3", "readOnly": null}]}]}));
        assert_eq!(
            pod_spec(&merged(base, &patch)),
            &json!({
            "volumes": [{"name": "v3"}, {"name": "v2"}], "tolerations": [{"key": "k2", "value": null}],
            "hostAliases": [{"ip": "2.2.2.2"}, {"ip": "1.1.1.1"}],
            "imagePullSecrets": [{"name": "s2"}, {"name": "s1"}],
            "containers": [{"name": "c", "ports": [{"containerPort": 81}, {"containerPort": 80}],
                            "volumeMounts": [{"mountPath": "/b", "name": "v3"},
                                             {"mountPath": "/a", "name": "v1"}]}]})
        );
    }

    #[test]
    fn every_pod_spec_location_and_metadata_list_is_known() {
        let pod_spec_at = |base: Value, spec_path: &[&str]| {
            let wrap = |spec: Value| {
                spec_path
                    .iter()
                    .rev()
                    .fold(spec, |inner, key| json!({ *key: inner }))
            };
            let mut object = wrap(json!({"initContainers": [{"name": "a"}]}));
            object["apiVersion"] = base["apiVersion"].clone();
            object["kind"] = base["kind"].clone();
            let out = merged(object, &wrap(json!({"initContainers": [{"name": "b"}]})));
            let spec = spec_path.iter().fold(&out, |v, key| &v[key]);
            assert_eq!(
                spec["initContainers"],
                json!([{"name": "b"}, {"name": "a"}]),
                "{base}"
            );
        };
        let template = ["spec", "template", "spec"];
        pod_spec_at(
            json!({"apiVersion": "batch/v1", "kind": "CronJob"}),
            &["spec", "jobTemplate", "spec", "template", "spec"],
        );
        pod_spec_at(json!({"apiVersion": "v1", "kind": "Pod"}), &["spec"]);
        pod_spec_at(
            json!({"apiVersion": "v1", "kind": "PodTemplate"}),
            &["template", "spec"],
        );
        pod_spec_at(json!({"apiVersion": "batch/v1", "kind": "Job"}), &template);
        pod_spec_at(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet"}),
            &template,
        );

        let base = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "finalizers": ["a", "b"], "ownerReferences": [{"uid": "u1"}]}});
        let patch =
            json!({"metadata": {"finalizers": ["c", "a"], "ownerReferences": [{"uid": "u2"}]}});
        assert_eq!(
            merged(base, &patch)["metadata"],
            json!({
            "finalizers": ["c", "a", "b"], "ownerReferences": [{"uid": "u2"}, {"uid": "u1"}]})
        );
    }

    #[test]
    fn secondary_merge_keys_keep_the_base_order_once_used() {
        let service =
            |ports: Value| json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": ports}});
        let out = merged(
            service(
                json!([{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}, {"port": 80}]),
            ),
            &service(json!([{"port": 80, "name": "x"}, {"port": 443},
                            {"port": 53, "protocol": "UDP", "name": "y"}])),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 443}, {"port": 53, "protocol": "TCP"},
            {"port": 53, "protocol": "UDP", "name": "y"}, {"port": 80, "name": "x"}])
        );
        let out = merged(
            service(json!([{"port": 80, "name": "a"}, {"port": 443, "name": "b"}])),
            &service(json!([{"port": 443, "targetPort": 8443}, {"port": 90}])),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([
            {"port": 443, "name": "b", "targetPort": 8443}, {"port": 90}, {"port": 80, "name": "a"}])
        );
    }

    #[test]
    fn directives_and_nulls() {
        let base = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                     "template": {"spec": {"nodeSelector": {"a": "b"}, "containers": [
                         {"name": "c1", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}, {"name": "c2"}]}}}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}},
            "spec": {"replicas": null, "strategy": {"$patch": "replace", "type": "Recreate"},
                     "template": {"spec": {"nodeSelector": {"$patch": "delete"},
                                           "containers": [{"name": "c9"}, {"$patch": "replace"}]}}}});
        assert_eq!(
            merged(base.clone(), &patch),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"labels": {"b": "2", "c": "3"}},
            "spec": {"strategy": {"type": "Recreate"}, "template": {"spec": {"containers": [{"name": "c9"}]}}}})
        );

        let patch =
            deploy(json!({"containers": [{"name": "c1", "resources": {"limits": {"cpu": null}}}]}));
        let out = merged(base.clone(), &patch);
        assert_eq!(
            pod_spec(&out)["containers"][0]["resources"],
            json!({"limits": {"memory": "1Gi"}})
        );

        assert_eq!(merged(base, &json!({"$patch": "delete"})), Value::Null);
    }

    #[test]
    fn unsupported_patches_are_refused_and_leave_the_base_alone() {
        let base = deploy(json!({"containers": [{"name": "c"}]}));
        let refused = [
            (json!({"$patch": "replace"}), "at the top"),
            (
                deploy(json!({"$setElementOrder/containers": [{"name": "c"}]})),
                "$setElementOrder",
            ),
            (
                json!({"spec": {"strategy": {"$retainKeys": ["type"]}}}),
                "$retainKeys",
            ),
            (
                deploy(
                    json!({"containers": [{"name": "c", "$deleteFromPrimitiveList/args": ["x"]}]}),
                ),
                "$deleteFromPrimitiveList",
            ),
            (
                deploy(json!({"containers": [{"name": "d"}, {"image": "x"}]})),
                "element 1 lacks the merge key `name`",
            ),
            (
                deploy(json!({"containers": ["c"]})),
                "element 0 is not a map",
            ),
            (
                deploy(json!({"containers": [{"name": "c", "$patch": "replace"}]})),
                "element 0",
            ),
            (
                deploy(json!({"tolerations": [{"$patch": "delete", "key": "a"}]})),
                "replaced whole",
            ),
            (
                json!({"spec": {"strategy": {"$patch": "frob"}}}),
                "unknown `$patch",
            ),
            (json!([]), "not a map"),
        ];
        for (patch, message) in refused {
            let mut object = base.clone();
            let error = strategic_merge(&mut object, &patch, None)
                .expect_err("refused")
                .to_string();
            assert!(error.contains(message), "{error}");
            assert_eq!(object, base);
        }
    }

    #[test]
    fn unknown_kinds_have_their_lists_replaced_whole() {
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "finalizers": ["a"]},
            "spec": {"size": 1, "items": [{"name": "x", "v": 1}, {"name": "y"}]}});
        let patch =
            json!({"spec": {"size": 2, "color": "red", "gone": {"$patch": "delete", "x": [1]}}});
        assert_eq!(
            merged(widget.clone(), &patch)["spec"],
            json!({"size": 2, "items": [{"name": "x", "v": 1}, {"name": "y"}], "color": "red"})
        );
        let out = merged(
            widget.clone(),
            &json!({"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "x", "v": 2}]}}),
        );
        assert_eq!(
            out["spec"]["items"],
            json!([{"name": "x", "v": 2}]),
            "no merge by name without a schema"
        );
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["b"]),
            "nor ObjectMeta's lists"
        );
        let error = strategic_merge(
            &mut widget.clone(),
            &json!({"spec": {"items": [{"name": "x", "$patch": "delete"}]}}),
            None,
        )
        .expect_err("a directive in a list replaced whole");
        assert!(error.to_string().contains("replaced whole"), "{error}");
    }

    #[test]
    fn table_lookups() {
        let deployment = known_kind("apps/v1", "Deployment").expect("known");
        let lookup = |path: &str| deployment.list_merge(path);
        assert_eq!(
            lookup("spec.template.spec.initContainers[].volumeMounts"),
            Some(Keys(&["mountPath"]))
        );
        assert_eq!(lookup("spec.template.spec.tolerations"), None);
        assert_eq!(lookup("spec.template.spec.volumes[].env"), None);
        assert_eq!(lookup("metadata.finalizers"), Some(Set));
        assert!(known_kind("autoscaling/v2", "HorizontalPodAutoscaler").is_none());
    }

    fn patched(ops: Value) -> Result<Value, PatchError> {
        let mut doc = json!({"data": {"a": "1", "x/y": "2", "t~": "3"}, "list": ["x", "y", "z"]});
        json6902(&mut doc, &ops).map(|()| doc)
    }

    #[test]
    fn json6902_operations() {
        let out = patched(json!([
            {"op": "add", "path": "/list/-", "value": "end"},
            {"op": "add", "path": "/list/0", "value": "start"},
            {"op": "add", "path": "/list/-1", "value": "last"},
            {"op": "remove", "path": "/list/-1"},
            {"op": "replace", "path": "/data/x~1y", "value": "slash"},
            {"op": "replace", "path": "/data/new", "value": "added"},
            {"op": "remove", "path": "/data/t~0"},
            {"op": "copy", "from": "/list/1", "path": "/data/copied"},
            {"op": "move", "from": "/data/a", "path": "/moved"},
            {"op": "test", "path": "/moved", "value": "1"},
            {"op": "test", "path": "/absent", "value": null},
        ]));
        assert_eq!(
            out,
            Ok(
                json!({"data": {"x/y": "slash", "new": "added", "copied": "x"}, "moved": "1",
            "list": ["start", "x", "y", "z", "end"]})
            )
        );
    }

    #[test]
    fn json6902_errors_name_the_operation() {
        let test_a = |value: &str| json!({"op": "test", "path": "/data/a", "value": value});
        let cases = [
            (json!([test_a("1"), test_a("2")]), 1, "test failed"),
            (
                json!([{"op": "add", "path": "/list/4", "value": "q"}]),
                0,
                "out of bounds",
            ),
            (
                json!([{"op": "remove", "path": "/data/zz"}]),
                0,
                "/data/zz does not exist",
            ),
            (
                json!([{"op": "add", "path": "/nope/zz", "value": 1}]),
                0,
                "/nope does not exist",
            ),
            (
                json!([{"op": "add", "path": "data", "value": 1}]),
                0,
                "does not start with `/`",
            ),
            (
                json!([{"op": "add", "path": "/data/a~2", "value": 1}]),
                0,
                "followed by 0 or 1",
            ),
            (json!([{"op": "add", "path": "", "value": 1}]), 0, "root"),
            (
                json!([{"op": "add", "path": "/data/a/b", "value": 1}]),
                0,
                "neither a map nor a list",
            ),
            (
                json!([{"op": "move", "from": "/data", "path": "/data/x"}]),
                0,
                "into itself",
            ),
            (
                json!([{"op": "frob", "path": "/data"}]),
                0,
                "unknown operation",
            ),
            (
                json!([{"op": "add", "path": "/data/b"}]),
                0,
                "lacks `value`",
            ),
            (
                json!([{"op": "remove", "path": "/list/x"}]),
                0,
                "not a list index",
            ),
        ];
        for (ops, index, message) in cases {
            match patched(ops) {
                Err(PatchError::JsonPatch {
                    index: at, reason, ..
                }) => {
                    assert_eq!(at, index, "{reason}");
                    assert!(reason.contains(message), "{reason}");
                }
                other => panic!("expected an error with {message}, got {other:?}"),
            }
        }
        let mut doc = json!({"a": 1});
        let ops = json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/c"}]);
        assert!(json6902(&mut doc, &ops).is_err());
        assert_eq!(doc, json!({"a": 1}), "a failed patch changes nothing");
    }

    fn target(fields: Value) -> Target {
        serde_json::from_value(fields).expect("a valid target")
    }

    #[test]
    fn targets_match_like_kustomize() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
            "name": "web", "namespace": "ns1", "labels": {"app": "web", "tier": "fe", "n": "5"},
            "annotations": {"a": "x"}}});
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-cm"}});
        let cases = [
            (json!({}), true, true),
            (json!({"group": "", "kind": "Deployment"}), true, false),
            (json!({"group": "apps"}), true, false),
            (json!({"group": "app"}), false, false),
            (json!({"version": "v1"}), true, true),
            (json!({"kind": "Deploy"}), false, false),
            (json!({"kind": "Deployment|ConfigMap"}), true, true),
            (json!({"name": "web.*"}), true, true),
            (json!({"name": "eb"}), false, false),
            (json!({"namespace": "default"}), false, true),
            (json!({"namespace": "ns1"}), true, false),
            (json!({"labelSelector": "app=web"}), true, false),
            (json!({"labelSelector": "app == web, tier"}), true, false),
            (json!({"labelSelector": "app!=web"}), false, true),
            (json!({"labelSelector": "!tier"}), false, true),
            (
                json!({"labelSelector": " tier in ( fe , be ) "}),
                true,
                false,
            ),
            (json!({"labelSelector": "tier notin (fe)"}), false, true),
            (json!({"labelSelector": "app in ()"}), false, false),
            (json!({"labelSelector": "n>4,n<6"}), true, false),
            (json!({"labelSelector": "app="}), false, false),
            (json!({"labelSelector": ""}), true, true),
            (json!({"annotationSelector": "a=x"}), true, false),
        ];
        for (fields, selects_deployment, selects_config_map) in cases {
            let t = target(fields.clone());
            assert_eq!(
                t.matches(&deployment),
                Ok(selects_deployment),
                "{fields} on the Deployment"
            );
            assert_eq!(
                t.matches(&config_map),
                Ok(selects_config_map),
                "{fields} on the ConfigMap"
            );
        }
    }

    #[test]
    fn bad_targets_are_errors() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let label = "labelSelector";
        for (fields, field) in [
            (json!({"name": "(web"}), "name"),
            (json!({label: "app in web"}), label),
            (json!({label: "app=web tier=fe"}), label),
            (json!({label: "app=web,"}), label),
            (json!({label: "app=we*b"}), label),
            (json!({label: "app>x"}), label),
            (json!({label: "-app"}), label),
            (json!({"annotationSelector": "(a)"}), "annotationSelector"),
        ] {
            match target(fields.clone()).matches(&object) {
                Err(PatchError::Target { field: at, .. }) => assert_eq!(at, field, "{fields}"),
                other => panic!("{fields}: expected an error, got {other:?}"),
            }
        }
        assert!(serde_json::from_value::<Target>(json!({"names": "x"})).is_err());
    }
}
