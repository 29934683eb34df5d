//! What `helm template` prints: Helm's `releaseutil.SplitManifests` and `SortManifests`
//! (documents split, hooks set apart, both in install order by kind).

use serde_yaml_ng::Value as Y;

use super::{Hook, Manifest};
use crate::funcs::math::parse_int;

/// Helm's install order of kinds; other kinds come after these, by name.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

const EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// Helm's `SplitManifests`: the text split on `(?:^|\s*\n)---\s*`, each document trimmed,
/// empty ones dropped, in order.
pub fn split_manifests(big: &str) -> Vec<String> {
    let s = big.trim();
    let b = s.as_bytes();
    let mut docs = Vec::new();
    let mut last = 0usize;
    let mut pos = 0usize;
    loop {
        // The leftmost match at or after `pos`.
        let mut found: Option<(usize, usize)> = None;
        if pos == 0 && b.starts_with(b"---") {
            found = Some((0, 3));
        } else {
            let mut k = pos + 1;
            while k + 3 <= b.len() {
                if b[k - 1] == b'\n' && &b[k..k + 3] == b"---" {
                    let mut i = k - 1;
                    while i > pos && is_space(b[i - 1]) {
                        i -= 1;
                    }
                    found = Some((i, k + 3));
                    break;
                }
                k += 1;
            }
        }
        let Some((start, mut end)) = found else { break };
        while end < b.len() && is_space(b[end]) {
            end += 1;
        }
        docs.push(&s[last..start]);
        last = end;
        pos = end;
    }
    docs.push(&s[last..]);
    docs.into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim().to_string())
        .collect()
}

/// The fields Helm reads from each document (`releaseutil.SimpleHead`).
#[derive(Default)]
struct Head {
    kind: String,
    name: String,
    annotations: Option<Vec<(String, String)>>,
}

fn head(doc: &str, path: &str) -> Result<Head, String> {
    let err = |m: &str| format!("YAML parse error on {path}: {m}");
    let y: Y = serde_yaml_ng::from_str(doc).map_err(|e| err(&e.to_string()))?;
    let mut h = Head::default();
    let m = match &y {
        Y::Null => return Ok(h),
        Y::Mapping(m) => m,
        _ => return Err(err("error unmarshaling JSON: the document is not a map")),
    };
    let string = |v: Option<&Y>, what: &str| -> Result<String, String> {
        match v {
            None | Some(Y::Null) => Ok(String::new()),
            Some(Y::String(s)) => Ok(s.clone()),
            Some(_) => Err(err(&format!(
                "error unmarshaling JSON: {what} must be a string"
            ))),
        }
    };
    string(m.get("apiVersion"), "apiVersion")?;
    h.kind = string(m.get("kind"), "kind")?;
    match m.get("metadata") {
        None | Some(Y::Null) => {}
        Some(Y::Mapping(md)) => {
            h.name = string(md.get("name"), "metadata.name")?;
            match md.get("annotations") {
                None | Some(Y::Null) => {}
                Some(Y::Mapping(a)) => {
                    let mut out = Vec::new();
                    for (k, v) in a {
                        let k =
                            match k {
                                Y::String(s) => s.clone(),
                                _ => return Err(err(
                                    "error unmarshaling JSON: an annotation key is not a string",
                                )),
                            };
                        out.push((k, string(Some(v), "an annotation")?));
                    }
                    h.annotations = Some(out);
                }
                Some(_) => {
                    return Err(err(
                        "error unmarshaling JSON: metadata.annotations must be a map",
                    ))
                }
            }
        }
        Some(_) => return Err(err("error unmarshaling JSON: metadata must be a map")),
    }
    Ok(h)
}

fn kind_rank(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

/// Helm's `lessByKind` under a stable sort.
fn less_by_kind(a: &str, b: &str) -> bool {
    match (kind_rank(a), kind_rank(b)) {
        (None, None) => a < b,
        (None, Some(_)) => false,
        (Some(_), None) => true,
        (Some(x), Some(y)) => x < y,
    }
}

fn sort_by_kind<T>(items: &mut [T], kind: impl Fn(&T) -> &str) {
    // A stable insertion sort by Go's `less`, as `sort.SliceStable` gives.
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && less_by_kind(kind(&items[j]), kind(&items[j - 1])) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Helm's `SortManifests` over rendered files (name → text).
pub fn sort_manifests(
    files: &std::collections::BTreeMap<String, String>,
) -> Result<(Vec<Manifest>, Vec<Hook>), String> {
    let mut generic = Vec::new();
    let mut hooks = Vec::new();
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(content) {
            let h = head(&doc, path)?;
            let hook_types = h
                .annotations
                .as_ref()
                .filter(|a| !a.is_empty())
                .and_then(|a| {
                    a.iter()
                        .find(|(k, _)| k == "helm.sh/hook")
                        .map(|(_, v)| v.clone())
                });
            let Some(hook_types) = hook_types else {
                generic.push(Manifest {
                    source: path.clone(),
                    text: doc,
                    kind: h.kind,
                    name: h.name,
                });
                continue;
            };
            let ann = h.annotations.unwrap_or_default();
            let get = |k: &str| ann.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let weight = get("helm.sh/hook-weight")
                .and_then(|w| parse_int(&w, 10)) // strconv.Atoi
                .unwrap_or(0);
            let mut events = Vec::new();
            let mut unknown = false;
            for t in hook_types.split(',') {
                let t = t.trim().to_lowercase();
                let t = if t == "test-success" {
                    "test".to_string()
                } else {
                    t
                };
                if !EVENTS.contains(&t.as_str()) {
                    unknown = true;
                    break;
                }
                events.push(t);
            }
            if unknown {
                continue;
            }
            let list = |k: &str| {
                get(k)
                    .map(|v| v.split(',').map(|p| p.trim().to_lowercase()).collect())
                    .unwrap_or_default()
            };
            hooks.push(Hook {
                source: path.clone(),
                text: doc,
                kind: h.kind,
                name: h.name,
                events,
                weight,
                delete_policies: list("helm.sh/hook-delete-policy"),
                output_log_policies: list("helm.sh/hook-output-log-policy"),
                annotations: ann.clone(),
            });
        }
    }
    sort_by_kind(&mut hooks, |h| h.kind.as_str());
    sort_by_kind(&mut generic, |m| m.kind.as_str());
    Ok((generic, hooks))
}

#[cfg(test)]
mod tests {
    use super::split_manifests;

    #[test]
    fn split() {
        assert_eq!(
            split_manifests("---\na: 1\n---\nb: 2\n"),
            vec!["a: 1", "b: 2"]
        );
        assert_eq!(
            split_manifests("a: 1\n  ---\nb: 2"),
            vec!["a: 1\n  ---\nb: 2"]
        );
        assert_eq!(split_manifests("a: 1  \n---\nb: 2"), vec!["a: 1", "b: 2"]);
        assert_eq!(split_manifests("a: |\n  x---y\n"), vec!["a: |\n  x---y"]);
        assert_eq!(split_manifests("\n\n"), Vec::<String>::new());
        assert_eq!(
            split_manifests("a: 1\n--- # c\nb: 2"),
            vec!["a: 1", "# c\nb: 2"]
        );
    }
}
