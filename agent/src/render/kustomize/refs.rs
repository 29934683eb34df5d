//! Name references: once every object has its final name (prefix, suffix,
//! hash), fields that name another object follow it, as kustomize's
//! nameReference transformer does with its default table (v5.5,
//! builtinpluginconsts/namereference.go), reproduced here.
//!
//! A reference is rewritten when it names an earlier name of exactly one
//! object of the referred kind that it may see (same namespace, or
//! cluster-scoped, or a ServiceAccount); ties are broken as kustomize does,
//! by the prefixes and suffixes both were given.

use serde_json::Value;

use super::fieldspec::{self, Create, FieldSpec};
use super::kustomization::FieldSpecArgs;
use super::{cluster_scoped, Res};

/// A field naming objects of a referred kind: (group, version, kind, path) of the referrer.
type RefSpec = (&'static str, &'static str, &'static str, String);

/// One referred kind and the fields that name objects of it, as the
/// default table writes it.
struct DefaultBackref {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    referrers: Vec<RefSpec>,
}

/// One referred kind and the fields that name objects of it (kustomize's
/// NameBackReferences): the default table's, or a `configurations` file's.
#[derive(Debug, Clone, Default)]
pub struct Backref {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub referrers: Vec<FieldSpecArgs>,
}

/// kustomize's default nameReference table.
pub fn default_table() -> Vec<Backref> {
    table()
        .into_iter()
        .map(|b| Backref {
            group: b.group.to_owned(),
            version: b.version.to_owned(),
            kind: b.kind.to_owned(),
            referrers: b
                .referrers
                .into_iter()
                .map(|(group, version, kind, path)| FieldSpecArgs {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    kind: kind.to_owned(),
                    path,
                    create: false,
                })
                .collect(),
        })
        .collect()
}

/// Where workloads keep their pod spec: (group, version, kind, path).
const POD_SPECS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "spec"),
    ("", "", "PodTemplate", "template/spec"),
    ("", "", "Deployment", "spec/template/spec"),
    ("", "", "ReplicaSet", "spec/template/spec"),
    ("", "", "DaemonSet", "spec/template/spec"),
    ("", "", "StatefulSet", "spec/template/spec"),
    ("", "", "Job", "spec/template/spec"),
    ("", "", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// The workloads whose pod spec names ServiceAccounts, PVCs and
/// PriorityClasses in kustomize's table (no ReplicaSet, no PodTemplate).
const WORKLOADS: &[&str] = &[
    "Pod",
    "StatefulSet",
    "Deployment",
    "ReplicationController",
    "CronJob",
    "Job",
    "DaemonSet",
];

/// Pod-spec fields (relative to the pod spec) in every workload of `POD_SPECS`.
fn in_pod_specs(fields: &[&str]) -> Vec<RefSpec> {
    POD_SPECS
        .iter()
        .flat_map(|&(g, v, k, base)| fields.iter().map(move |f| (g, v, k, format!("{base}/{f}"))))
        .collect()
}

/// A pod-spec field in every workload of `WORKLOADS`.
fn in_workloads(field: &str) -> Vec<RefSpec> {
    WORKLOADS
        .iter()
        .map(|&k| {
            let base = match k {
                "Pod" => "spec",
                "CronJob" => "spec/jobTemplate/spec/template/spec",
                _ => "spec/template/spec",
            };
            ("", "", k, format!("{base}/{field}"))
        })
        .collect()
}

fn plain(path: &str, group: &'static str, kind: &'static str) -> RefSpec {
    (group, "", kind, path.to_owned())
}

fn table() -> Vec<DefaultBackref> {
    let scale = |kind| DefaultBackref {
        group: "",
        version: "",
        kind,
        referrers: vec![plain(
            "spec/scaleTargetRef/name",
            "",
            "HorizontalPodAutoscaler",
        )],
    };
    let mut config_map = in_pod_specs(&[
        "volumes/configMap/name",
        "containers/env/valueFrom/configMapKeyRef/name",
        "initContainers/env/valueFrom/configMapKeyRef/name",
        "containers/envFrom/configMapRef/name",
        "initContainers/envFrom/configMapRef/name",
        "volumes/projected/sources/configMap/name",
    ]);
    config_map.extend([
        plain("spec/configSource/configMap", "", "Node"),
        plain("rules/resourceNames", "", "Role"),
        plain("rules/resourceNames", "", "ClusterRole"),
        plain(
            r"metadata/annotations/nginx.ingress.kubernetes.io\/fastcgi-params-configmap",
            "",
            "Ingress",
        ),
    ]);
    let mut secret = in_pod_specs(&[
        "volumes/secret/secretName",
        "containers/env/valueFrom/secretKeyRef/name",
        "initContainers/env/valueFrom/secretKeyRef/name",
        "containers/envFrom/secretRef/name",
        "initContainers/envFrom/secretRef/name",
        "imagePullSecrets/name",
        "volumes/projected/sources/secret/name",
    ]);
    secret.extend([
        plain("spec/tls/secretName", "", "Ingress"),
        plain(
            r"metadata/annotations/ingress.kubernetes.io\/auth-secret",
            "",
            "Ingress",
        ),
        plain(
            r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-secret",
            "",
            "Ingress",
        ),
        plain(
            r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-tls-secret",
            "",
            "Ingress",
        ),
        plain("imagePullSecrets/name", "", "ServiceAccount"),
        plain("parameters/secretName", "", "StorageClass"),
        plain("parameters/adminSecretName", "", "StorageClass"),
        plain("parameters/userSecretName", "", "StorageClass"),
        plain("parameters/secretRef", "", "StorageClass"),
        plain("rules/resourceNames", "", "Role"),
        plain("rules/resourceNames", "", "ClusterRole"),
        (
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name".into(),
        ),
        plain("spec/azureFile/secretName", "", "PersistentVolume"),
    ]);
    let admission = "admissionregistration.k8s.io";
    let rbac = "rbac.authorization.k8s.io";
    let mut service_account = vec![
        plain("subjects", rbac, "RoleBinding"),
        plain("subjects", rbac, "ClusterRoleBinding"),
    ];
    service_account.extend(in_workloads("serviceAccountName"));
    let mut storage_class = vec![
        plain("spec/storageClassName", "", "PersistentVolume"),
        plain("spec/storageClassName", "", "PersistentVolumeClaim"),
    ];
    storage_class.push(plain(
        "spec/volumeClaimTemplates/spec/storageClassName",
        "",
        "StatefulSet",
    ));
    vec![
        scale("Deployment"),
        scale("ReplicationController"),
        scale("ReplicaSet"),
        scale("StatefulSet"),
        DefaultBackref {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            referrers: config_map,
        },
        DefaultBackref {
            group: "",
            version: "v1",
            kind: "Secret",
            referrers: secret,
        },
        DefaultBackref {
            group: "",
            version: "v1",
            kind: "Service",
            referrers: vec![
                plain("spec/serviceName", "apps", "StatefulSet"),
                plain("spec/rules/http/paths/backend/serviceName", "", "Ingress"),
                plain("spec/backend/serviceName", "", "Ingress"),
                plain("spec/rules/http/paths/backend/service/name", "", "Ingress"),
                plain("spec/defaultBackend/service/name", "", "Ingress"),
                plain("spec/service/name", "apiregistration.k8s.io", "APIService"),
                plain(
                    "webhooks/clientConfig/service",
                    admission,
                    "ValidatingWebhookConfiguration",
                ),
                plain(
                    "webhooks/clientConfig/service",
                    admission,
                    "MutatingWebhookConfiguration",
                ),
            ],
        },
        DefaultBackref {
            group: rbac,
            version: "",
            kind: "Role",
            referrers: vec![plain("roleRef/name", rbac, "RoleBinding")],
        },
        DefaultBackref {
            group: rbac,
            version: "",
            kind: "ClusterRole",
            referrers: vec![
                plain("roleRef/name", rbac, "RoleBinding"),
                plain("roleRef/name", rbac, "ClusterRoleBinding"),
            ],
        },
        DefaultBackref {
            group: "",
            version: "v1",
            kind: "ServiceAccount",
            referrers: service_account,
        },
        DefaultBackref {
            group: "",
            version: "v1",
            kind: "PersistentVolumeClaim",
            referrers: in_workloads("volumes/persistentVolumeClaim/claimName"),
        },
        DefaultBackref {
            group: "",
            version: "v1",
            kind: "PersistentVolume",
            referrers: vec![
                plain("spec/volumeName", "", "PersistentVolumeClaim"),
                plain("rules/resourceNames", "", "ClusterRole"),
            ],
        },
        DefaultBackref {
            group: "storage.k8s.io",
            version: "v1",
            kind: "StorageClass",
            referrers: storage_class,
        },
        DefaultBackref {
            group: "scheduling.k8s.io",
            version: "v1",
            kind: "PriorityClass",
            referrers: in_workloads("priorityClassName"),
        },
        // kustomize's table names IngressClass with group
        // "networking.k8s.io/v1", which matches no object: references to
        // IngressClasses are left alone, as there.
        DefaultBackref {
            group: admission,
            version: "",
            kind: "ValidatingAdmissionPolicy",
            referrers: vec![plain(
                "spec/policyName",
                admission,
                "ValidatingAdmissionPolicyBinding",
            )],
        },
    ]
}

/// Rewrites every reference to a renamed object to its final name, in the
/// fields `table` lists.
pub fn fix_references(objects: &mut [Res], table: &[Backref]) -> Result<(), String> {
    // Which objects each table entry can point at, by kind: computed once,
    // since fixing references changes no object's identity (and checking
    // every object for every referrer made this quadratic).
    let of_kind: Vec<Vec<usize>> = table
        .iter()
        .map(|backref| {
            (0..objects.len())
                .filter(|&i| is_of_kind(&objects[i], backref))
                .collect()
        })
        .collect();
    for i in 0..objects.len() {
        let api_version = objects[i].api_version().to_owned();
        let org_kind = objects[i].org().kind;
        // Taken out so that the others can be read while it changes.
        let mut object = std::mem::take(&mut objects[i].object);
        let role_ref = &object["roleRef"];
        let mut referrer = Referrer {
            res: &objects[i],
            namespace: effective_namespace_of(&object),
            role_ref: role_ref["apiGroup"]
                .as_str()
                .zip(role_ref["kind"].as_str())
                .map(|(g, k)| (g.to_owned(), k.to_owned())),
            path: "",
        };
        let mut outcome = Ok(());
        for (backref, of_kind) in table.iter().zip(&of_kind) {
            let mut candidates = None;
            for spec in &backref.referrers {
                let path = spec.path.as_str();
                let wanted = FieldSpec {
                    create: false,
                    ..FieldSpec::from(spec)
                };
                if outcome.is_err() || !wanted.selects(&api_version, &org_kind) {
                    continue;
                }
                let candidates: &Vec<usize> =
                    candidates.get_or_insert_with(|| visible(objects, of_kind, &object));
                referrer.path = path;
                let any = FieldSpec {
                    group: "",
                    version: "",
                    kind: "",
                    path,
                    create: false,
                };
                let mut set = |node: &mut Value| match node {
                    Value::Array(items) => items
                        .iter_mut()
                        .try_for_each(|item| update(&referrer, candidates, objects, item)),
                    other => update(&referrer, candidates, objects, other),
                };
                outcome = fieldspec::apply(&mut object, &any, Create::Nothing, &mut set)
                    .map_err(|e| format!("updating the reference in '{path}': {e}"));
            }
        }
        objects[i].object = object;
        outcome.map_err(|e| format!("{} {}: {e}", objects[i].kind(), objects[i].name()))?;
    }
    Ok(())
}

/// The referrer, for the choice among candidates.
struct Referrer<'a> {
    res: &'a Res,
    /// Its namespace; None when cluster-scoped.
    namespace: Option<String>,
    /// Group and kind of its roleRef, for RBAC bindings.
    role_ref: Option<(String, String)>,
    path: &'a str,
}

/// Objects of the referred kind that the referrer may name
/// (kustomize's SubsetThatCouldBeReferencedByResource), among `of_kind`.
fn visible(objects: &[Res], of_kind: &[usize], object: &Value) -> Vec<usize> {
    let referrer_ns = effective_namespace_of(object);
    let binding_namespaces: Vec<String> = if object["kind"] == "RoleBinding" {
        object["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["kind"] == "ServiceAccount")
            .filter_map(|s| s["namespace"].as_str().map(str::to_owned))
            .collect()
    } else {
        Vec::new()
    };
    of_kind
        .iter()
        .copied()
        .filter(|&i| {
            let o = &objects[i];
            referrer_ns.is_none()
                || o.is_cluster_scoped()
                || o.effective_namespace() == referrer_ns.as_deref().unwrap_or_default()
                || binding_namespaces.iter().any(|n| n == o.namespace())
        })
        .collect()
}

/// Whether an object was ever of the kind a table entry points at.
fn is_of_kind(o: &Res, backref: &Backref) -> bool {
    o.prev.iter().any(|id| {
        let (g, v) = fieldspec::group_version(&id.api_version);
        id.kind == backref.kind
            && (backref.group.is_empty() || backref.group == g)
            && (backref.version.is_empty() || backref.version == v)
    })
}

/// The namespace an object is in for matching: None when cluster-scoped.
fn effective_namespace_of(object: &Value) -> Option<String> {
    let api = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if cluster_scoped(api, kind) {
        return None;
    }
    match object["metadata"]["namespace"].as_str().unwrap_or_default() {
        "" => Some("default".into()),
        ns => Some(ns.into()),
    }
}

/// kustomize's nameref setScalar / setMapping for one node: a name, or a
/// map with `name` (and `namespace`, which follows the object too).
fn update(
    referrer: &Referrer,
    candidates: &[usize],
    objects: &[Res],
    node: &mut Value,
) -> Result<(), String> {
    match node {
        Value::String(old) => {
            if let Some(i) = select(referrer, candidates, objects, old, false)? {
                *old = objects[i].name().to_owned();
            }
            Ok(())
        }
        Value::Object(map) => {
            let Some(old) = map.get("name").and_then(Value::as_str) else {
                return Err("no 'name' field in the reference".into());
            };
            let pool: Vec<usize> = match map.get("namespace").and_then(Value::as_str) {
                None => candidates.to_vec(),
                Some(ns) => {
                    let by_org: Vec<usize> = candidates
                        .iter()
                        .copied()
                        .filter(|&i| objects[i].org_effective_namespace() == ns)
                        .collect();
                    if by_org.is_empty() {
                        candidates
                            .iter()
                            .copied()
                            .filter(|&i| objects[i].effective_namespace() == ns)
                            .collect()
                    } else {
                        by_org
                    }
                }
            };
            let Some(i) = select(referrer, &pool, objects, old, true)? else {
                return Ok(());
            };
            let (name, namespace) = (objects[i].name(), objects[i].namespace());
            if name == old && namespace.is_empty() {
                return Ok(());
            }
            map.insert("name".into(), Value::String(name.to_owned()));
            if !namespace.is_empty() {
                map.insert("namespace".into(), Value::String(namespace.to_owned()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// kustomize's selectReferral: the one object an old name refers to.
fn select(
    referrer: &Referrer,
    pool: &[usize],
    objects: &[Res],
    old: &str,
    with_namespace: bool,
) -> Result<Option<usize>, String> {
    let role_ref = referrer
        .role_ref
        .as_ref()
        .filter(|_| referrer.path.ends_with("roleRef/name"));
    let referrer_ns = &referrer.namespace;
    let mut found: Vec<usize> =
        pool.iter()
            .copied()
            .filter(|&i| objects[i].prev.iter().any(|id| id.name == old))
            .filter(|&i| match role_ref {
                Some((group, kind)) => objects[i].prev.iter().any(|id| {
                    &id.kind == kind && fieldspec::group_version(&id.api_version).0 == group
                }),
                None => true,
            })
            .filter(|&i| {
                let o = &objects[i];
                referrer_ns.is_none()
                    || o.is_cluster_scoped()
                    || o.kind() == "ServiceAccount"
                    || Some(o.effective_namespace()) == referrer_ns.as_deref()
            })
            .collect();
    if found.len() == 1 {
        return Ok(found.pop());
    }
    let me = referrer.res;
    found.retain(|&i| affixes_match(&objects[i], me, true));
    if found.len() > 1 {
        found.retain(|&i| affixes_match(&objects[i], me, false));
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        [first, rest @ ..] => {
            let same = |&i: &usize| {
                objects[i].name() == objects[*first].name()
                    && (!with_namespace || objects[i].namespace() == objects[*first].namespace())
            };
            if rest.iter().all(same) {
                Ok(Some(*first))
            } else {
                let names: Vec<String> = found
                    .iter()
                    .map(|&i| format!("{} {}", objects[i].kind(), objects[i].name()))
                    .collect();
                Err(format!(
                    "'{old}' could refer to any of {}",
                    names.join(", ")
                ))
            }
        }
    }
}

/// kustomize's PrefixesSuffixesEquals.
fn affixes_match(a: &Res, b: &Res, allow_empty: bool) -> bool {
    let same_ending = |x: &[String], y: &[String]| {
        let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
        if short.is_empty() {
            return long.is_empty();
        }
        long.ends_with(short)
    };
    let ok = |x: &[String], y: &[String]| {
        (allow_empty && (x.is_empty() || y.is_empty())) || same_ending(x, y)
    };
    ok(&a.prefixes, &b.prefixes) && ok(&a.suffixes, &b.suffixes)
}
