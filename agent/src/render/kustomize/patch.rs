//! Kustomize's patches applied to one object: strategic merge with plumb's own
//! merge-key table (k8s-openapi carries no merge keys), RFC 6902 JSON patch, and
//! the selector that picks a patch's targets. Pure functions over JSON values;
//! the behaviour follows `kubectl kustomize` (kustomize v5.5), checked case by case.

use regex_lite::Regex;
use serde_json::{Map, Value};

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A strategic merge patch holds a list, on a kind outside [`KNOWN_KINDS`].
    #[error(
        "the strategic merge patch for {kind} ({api_version}) holds a list at `{path}`: \
         merging lists needs the schema of that kind, which plumb's built-in table lacks; \
         write it as a JSON 6902 patch, or set `render: kustomize-external` to have kubectl kustomize render this folder"
    )]
    ListOfUnknownKind {
        api_version: String,
        kind: String,
        path: String,
    },
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

/// Strategic merge (kustomize's patchesStrategicMerge / `patches` with a map body) of `patch` into `base`.
///
/// A top-level `$patch: delete` leaves `base` as `Value::Null`: the caller drops the object.
/// On error `base` is unchanged.
pub fn strategic_merge(base: &mut Value, patch: &Value) -> Result<(), PatchError> {
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
    };
    let Value::Object(base) = base else {
        return Err(smp_error("", "the object to patch is not a map"));
    };
    let mut merged = base.clone();
    merger.merge_map(&mut merged, patch, "")?;
    *base = merged;
    Ok(())
}

struct Merger {
    api_version: String,
    kind: String,
}

impl Merger {
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
        let Some(known) = known_kind(&self.api_version, &self.kind) else {
            return Err(PatchError::ListOfUnknownKind {
                api_version: self.api_version.clone(),
                kind: self.kind.clone(),
                path: path.to_owned(),
            });
        };
        let replace = patch.iter().any(is_replace_marker);
        let items: Vec<&Value> = patch
            .iter()
            .filter(|item| !is_replace_marker(item))
            .collect();
        let base: &[Value] = match base {
            Some(Value::Array(base)) if !replace => base,
            _ => &[],
        };
        match known.list_merge(path) {
            Some(Keys(keys)) => self.merge_keyed(base, &items, keys, path),
            Some(Set) => {
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

/// RFC 6902 JSON patch: `ops` is the array of operations. On error `base` is unchanged.
///
/// Like kustomize, a negative index counts from the end and `replace` of a missing map key adds it.
pub fn json6902(base: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = ops else {
        return Err(PatchError::JsonPatch {
            index: 0,
            op: String::new(),
            path: String::new(),
            reason: "the patch is not a list of operations".into(),
        });
    };
    let mut doc = base.clone();
    for (index, op) in ops.iter().enumerate() {
        let text = |key: &str| op.get(key).and_then(Value::as_str);
        apply_operation(&mut doc, op).map_err(|reason| PatchError::JsonPatch {
            index,
            op: text("op").unwrap_or("?").to_owned(),
            path: text("path").unwrap_or("?").to_owned(),
            reason,
        })?;
    }
    *base = doc;
    Ok(())
}

fn apply_operation(doc: &mut Value, op: &Value) -> Result<(), String> {
    let field = |key: &str| {
        op.get(key)
            .ok_or_else(|| format!("the operation lacks `{key}`"))
    };
    let pointer = |key: &str| {
        field(key)?
            .as_str()
            .ok_or_else(|| format!("`{key}` is not a string"))
            .and_then(parse_pointer)
    };
    let name = field("op")?.as_str().ok_or("`op` is not a string")?;
    let path = pointer("path")?;
    match name {
        "add" => put(doc, &path, field("value")?.clone(), true),
        "remove" => remove(doc, &path).map(drop),
        "replace" => put(doc, &path, field("value")?.clone(), false),
        "move" => {
            let from = pointer("from")?;
            if path.len() > from.len() && path.starts_with(&from) {
                return Err("cannot move a value into itself".into());
            }
            let value = remove(doc, &from)?;
            put(doc, &path, value, true)
        }
        "copy" => {
            let from = pointer("from")?;
            let value = get(doc, &from)
                .cloned()
                .ok_or_else(|| format!("`from` names nothing: {}", show_pointer(&from)))?;
            put(doc, &path, value, true)
        }
        "test" => {
            let expected = field("value")?;
            match get(doc, &path) {
                Some(actual) if actual == expected => Ok(()),
                // kustomize lets `null` stand for a missing value.
                None if expected.is_null() => Ok(()),
                Some(actual) => Err(format!(
                    "test failed: the value is {actual}, not {expected}"
                )),
                None => Err(format!("test failed: nothing is there, not {expected}")),
            }
        }
        other => Err(format!(
            "unknown operation `{other}` (RFC 6902 has add, remove, replace, move, copy, test)"
        )),
    }
}

fn parse_pointer(text: &str) -> Result<Vec<String>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(format!("the JSON pointer `{text}` does not start with `/`"));
    };
    rest.split('/')
        .map(|token| {
            let mut chars = token.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                    return Err(format!("`~` in `{text}` must be followed by 0 or 1"));
                }
            }
            Ok(token.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

fn show_pointer(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Position `token` names in a list of `len` elements; `insert` allows one past the end.
fn list_index(token: &str, len: usize, insert: bool) -> Result<usize, String> {
    let room = len + usize::from(insert);
    if token == "-" {
        return if insert {
            Ok(len)
        } else {
            Err("`-` names no existing element".into())
        };
    }
    let index: i64 = token
        .parse()
        .ok()
        .filter(|_| !token.starts_with('+'))
        .ok_or_else(|| format!("`{token}` is not a list index"))?;
    let resolved = if index < 0 {
        i64::try_from(room).unwrap_or(i64::MAX) + index
    } else {
        index
    };
    usize::try_from(resolved)
        .ok()
        .filter(|i| *i < room)
        .ok_or_else(|| format!("index {index} is out of bounds for a list of {len} elements"))
}

fn get<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(doc, |value, token| match value {
        Value::Object(map) => map.get(token),
        Value::Array(list) => list.get(list_index(token, list.len(), false).ok()?),
        _ => None,
    })
}

/// The container holding the value `tokens` names, and the last token.
fn parent_mut<'v, 't>(
    doc: &'v mut Value,
    tokens: &'t [String],
) -> Result<(&'v mut Value, &'t str), String> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err("cannot change the root of the object".into());
    };
    let mut value = doc;
    for (depth, token) in parents.iter().enumerate() {
        let missing = || format!("{} does not exist", show_pointer(&tokens[..=depth]));
        value = match value {
            Value::Object(map) => map.get_mut(token).ok_or_else(missing)?,
            Value::Array(list) => {
                let index = list_index(token, list.len(), false)?;
                list.get_mut(index).ok_or_else(missing)?
            }
            _ => return Err(missing()),
        };
    }
    Ok((value, last))
}

fn not_container(tokens: &[String]) -> String {
    format!(
        "{} is neither a map nor a list",
        show_pointer(&tokens[..tokens.len().saturating_sub(1)])
    )
}

/// `add` inserts into a list; `replace` overwrites an element (and, like kustomize, adds a missing map key).
fn put(doc: &mut Value, tokens: &[String], value: Value, insert: bool) -> Result<(), String> {
    match parent_mut(doc, tokens)? {
        (Value::Object(map), key) => {
            map.insert(key.to_owned(), value);
        }
        (Value::Array(list), token) => {
            let index = list_index(token, list.len(), insert)?;
            if insert {
                list.insert(index, value);
            } else {
                list[index] = value;
            }
        }
        _ => return Err(not_container(tokens)),
    }
    Ok(())
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    match parent_mut(doc, tokens)? {
        (Value::Object(map), key) => map
            .remove(key)
            .ok_or_else(|| format!("{} does not exist", show_pointer(tokens))),
        (Value::Array(list), token) => Ok(list.remove(list_index(token, list.len(), false)?)),
        _ => Err(not_container(tokens)),
    }
}

/// kustomize's patch target selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

impl Target {
    /// Whether `object` is selected. Errors on a bad regex or selector.
    ///
    /// The five names are regular expressions matched against the whole value; an
    /// unset or empty one matches anything. The core group is `""`, and an object
    /// without a namespace counts as in `default`.
    pub fn matches(&self, object: &Value) -> Result<bool, PatchError> {
        fn text(value: Option<&Value>) -> &str {
            value.and_then(Value::as_str).unwrap_or_default()
        }
        let api_version = text(object.get("apiVersion"));
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let metadata = object.get("metadata");
        let namespace = match text(metadata.and_then(|m| m.get("namespace"))) {
            "" => "default",
            namespace => namespace,
        };
        let fields = [
            ("group", &self.group, group),
            ("version", &self.version, version),
            ("kind", &self.kind, text(object.get("kind"))),
            (
                "name",
                &self.name,
                text(metadata.and_then(|m| m.get("name"))),
            ),
            ("namespace", &self.namespace, namespace),
        ];
        let mut selected = true;
        for (field, pattern, value) in fields {
            let Some(pattern) = pattern.as_deref().filter(|p| !p.is_empty()) else {
                continue;
            };
            let regex =
                Regex::new(&format!("^(?:{pattern})$")).map_err(|e| PatchError::Target {
                    field,
                    reason: format!("bad regular expression `{pattern}`: {e}"),
                })?;
            selected &= regex.is_match(value);
        }
        let selectors = [
            ("labelSelector", &self.label_selector, "labels"),
            (
                "annotationSelector",
                &self.annotation_selector,
                "annotations",
            ),
        ];
        for (field, selector, section) in selectors {
            let Some(selector) = selector.as_deref() else {
                continue;
            };
            let requirements =
                parse_selector(selector).map_err(|reason| PatchError::Target { field, reason })?;
            let values = metadata
                .and_then(|m| m.get(section))
                .and_then(Value::as_object);
            selected &= requirements.iter().all(|r| r.matches(values));
        }
        Ok(selected)
    }
}

#[derive(Debug, PartialEq)]
enum Operator {
    Exists,
    Missing,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

#[derive(Debug, PartialEq)]
struct Requirement {
    key: String,
    operator: Operator,
}

impl Requirement {
    fn matches(&self, values: Option<&Map<String, Value>>) -> bool {
        let value = values.and_then(|v| v.get(&self.key)).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let number = || value.as_deref().and_then(|v| v.parse::<i64>().ok());
        match &self.operator {
            Operator::Exists => value.is_some(),
            Operator::Missing => value.is_none(),
            Operator::Equals(want) => value.as_ref() == Some(want),
            Operator::NotEquals(want) => value.as_ref() != Some(want),
            Operator::In(set) => value.is_some_and(|v| set.contains(&v)),
            Operator::NotIn(set) => !value.is_some_and(|v| set.contains(&v)),
            Operator::GreaterThan(bound) => number().is_some_and(|n| n > *bound),
            Operator::LessThan(bound) => number().is_some_and(|n| n < *bound),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Symbol(&'static str),
}

fn tokenize(text: &str) -> Vec<Token> {
    const SYMBOLS: [&str; 9] = ["!=", "==", "!", "=", ">", "<", "(", ")", ","];
    let mut tokens = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            tokens.push(Token::Symbol(symbol));
            rest = &rest[symbol.len()..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || "!=<>(),".contains(c))
                .unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..end].to_owned()));
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    tokens
}

/// Kubernetes label selector syntax, as `kubectl get -l` takes it.
fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    let mut tokens = tokenize(text).into_iter().peekable();
    let mut requirements = Vec::new();
    let word = |token: Option<Token>, what: &str| match token {
        Some(Token::Word(w)) => Ok(w),
        Some(Token::Symbol(s)) => Err(format!("found `{s}` where {what} belongs, in `{text}`")),
        None => Err(format!("`{text}` ends where {what} belongs")),
    };
    while tokens.peek().is_some() {
        let requirement = if tokens.next_if_eq(&Token::Symbol("!")).is_some() {
            Requirement {
                key: word(tokens.next(), "a key")?,
                operator: Operator::Missing,
            }
        } else {
            let key = word(tokens.next(), "a key")?;
            let operator = match tokens.next_if(|t| t != &Token::Symbol(",")) {
                None => Operator::Exists,
                Some(Token::Symbol("=" | "==")) => Operator::Equals(optional_value(&mut tokens)),
                Some(Token::Symbol("!=")) => Operator::NotEquals(optional_value(&mut tokens)),
                Some(Token::Symbol(bound @ (">" | "<"))) => {
                    let number = word(tokens.next(), "a number")?;
                    let number = number
                        .parse()
                        .map_err(|_| format!("`{number}` is not an integer, in `{text}`"))?;
                    if bound == ">" {
                        Operator::GreaterThan(number)
                    } else {
                        Operator::LessThan(number)
                    }
                }
                Some(Token::Word(set_operator))
                    if set_operator == "in" || set_operator == "notin" =>
                {
                    if tokens.next() != Some(Token::Symbol("(")) {
                        return Err(format!("expected `(` after `{set_operator}`, in `{text}`"));
                    }
                    let mut set = Vec::new();
                    while tokens.next_if_eq(&Token::Symbol(")")).is_none() {
                        if !set.is_empty() && tokens.next() != Some(Token::Symbol(",")) {
                            return Err(format!(
                                "expected `,` or `)` in the set of `{key}`, in `{text}`"
                            ));
                        }
                        set.push(word(tokens.next(), "a value")?);
                    }
                    if set_operator == "in" {
                        Operator::In(set)
                    } else {
                        Operator::NotIn(set)
                    }
                }
                Some(other) => {
                    return Err(format!("unexpected {other:?} after `{key}`, in `{text}`"))
                }
            };
            Requirement { key, operator }
        };
        validate_requirement(&requirement)?;
        requirements.push(requirement);
        match tokens.next() {
            None => {}
            Some(Token::Symbol(",")) if tokens.peek().is_some() => {}
            Some(Token::Symbol(",")) => return Err(format!("`{text}` ends with `,`")),
            Some(other) => {
                return Err(format!(
                    "expected `,` or the end before {other:?}, in `{text}`"
                ))
            }
        }
    }
    Ok(requirements)
}

/// A value after `=`, which may be empty (`app=` selects an empty label).
fn optional_value(tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>) -> String {
    match tokens.next_if(|t| matches!(t, Token::Word(_))) {
        Some(Token::Word(value)) => value,
        _ => String::new(),
    }
}

fn validate_requirement(requirement: &Requirement) -> Result<(), String> {
    let name_like = |s: &str, max: usize| {
        s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let key = &requirement.key;
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let prefix_ok = prefix.is_empty() || (name_like(prefix, 253) && !prefix.contains('_'));
    if !prefix_ok || !name_like(name, 63) {
        return Err(format!("`{key}` is not a valid label key"));
    }
    let values: &[String] = match &requirement.operator {
        Operator::Equals(v) | Operator::NotEquals(v) => std::slice::from_ref(v),
        Operator::In(set) | Operator::NotIn(set) => set,
        _ => &[],
    };
    match values.iter().find(|v| !v.is_empty() && !name_like(v, 63)) {
        Some(bad) => Err(format!("`{bad}` is not a valid label value (for `{key}`)")),
        None => Ok(()),
    }
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
        strategic_merge(&mut base, patch).expect("the patch applies");
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
            let error = strategic_merge(&mut object, &patch)
                .expect_err("refused")
                .to_string();
            assert!(error.contains(message), "{error}");
            assert_eq!(object, base);
        }
    }

    #[test]
    fn unknown_kinds_take_map_patches_only() {
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 1, "items": [1]}});
        let patch =
            json!({"spec": {"size": 2, "color": "red", "gone": {"$patch": "delete", "x": [1]}}});
        assert_eq!(
            merged(widget.clone(), &patch)["spec"],
            json!({"size": 2, "items": [1], "color": "red"})
        );
        let error = strategic_merge(&mut widget.clone(), &json!({"spec": {"items": [2]}}))
            .expect_err("refused");
        assert_eq!(
            error,
            PatchError::ListOfUnknownKind {
                api_version: "example.com/v1".into(),
                kind: "Widget".into(),
                path: "spec.items".into()
            }
        );
        assert!(error.to_string().contains("render: kustomize-external"));
        // kustomize's schema has no old API versions either.
        let old = json!({"apiVersion": "apps/v1beta1", "kind": "Deployment"});
        assert!(strategic_merge(
            &mut old.clone(),
            &json!({"metadata": {"finalizers": ["a"]}})
        )
        .is_err());
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
