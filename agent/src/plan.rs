//! Plan: pure decisions over data — the order objects are applied in, and
//! which live objects drifted since plumb last applied them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::render::helm::CrdPolicy;
use crate::render::ObjectRef;

/// Apply stages, in order: each waits for the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Namespaces, so that objects inside them can be created.
    Namespaces,
    /// CRDs, then wait until Established, so that their resources exist.
    Crds,
    /// What workloads refer to: cluster-wide RBAC, ServiceAccounts, ConfigMaps, Secrets, PVCs.
    Foundations,
    /// A chart's pre-install and pre-upgrade hooks, before its other objects.
    PreHooks,
    /// Everything else.
    Rest,
    /// A chart's post-install and post-upgrade hooks, after its other objects.
    PostHooks,
}

pub mod hooks;

/// The stage an object is applied in, its Helm hook annotation considered: hooks run in
/// their own stages around the chart's other objects, as Argo CD maps them to PreSync
/// and PostSync ([`hooks::phases`] orders and awaits them).
pub fn stage_of_object(key: &ObjectRef, object: &Value) -> Stage {
    let events = hooks::hook_of(object).map(|h| h.events).unwrap_or_default();
    let has = |prefix: &str| events.iter().any(|e| e.starts_with(prefix));
    match stage_of(key) {
        Stage::Rest | Stage::Foundations if has("pre-") => Stage::PreHooks,
        Stage::Rest | Stage::Foundations if has("post-") => Stage::PostHooks,
        other => other,
    }
}

/// The stage an object is applied in.
pub fn stage_of(key: &ObjectRef) -> Stage {
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Namespace") => Stage::Namespaces,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Stage::Crds,
        ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding")
        | ("", "ServiceAccount" | "ConfigMap" | "Secret" | "PersistentVolumeClaim") => {
            Stage::Foundations
        }
        _ => Stage::Rest,
    }
}

/// Items (manifests, or targets of them) grouped by the stage of their
/// object, in stage order, each group in the order given.
pub fn stages<T>(
    items: impl IntoIterator<Item = T>,
    stage: impl Fn(&T) -> Stage,
) -> Vec<(Stage, Vec<T>)> {
    let mut groups: BTreeMap<Stage, Vec<T>> = BTreeMap::new();
    for item in items {
        groups.entry(stage(&item)).or_default().push(item);
    }
    groups.into_iter().collect()
}

/// Whether a cycle may create an object the cluster lacks: every object but a chart's crds/
/// CRD under `Skip`.
pub fn may_create(chart_crd: Option<CrdPolicy>) -> bool {
    chart_crd != Some(CrdPolicy::Skip)
}

/// Whether a cycle applies an object (`exists`: the cluster has it, as the cycle already
/// learnt): every object but a chart's crds/ CRD that its policy leaves alone, `Skip`
/// always, `Create` once it exists.
pub fn applies(chart_crd: Option<CrdPolicy>, exists: bool) -> bool {
    match chart_crd {
        None | Some(CrdPolicy::CreateReplace) => true,
        Some(CrdPolicy::Create) => !exists,
        Some(CrdPolicy::Skip) => false,
    }
}

/// What a drift check does with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftCheck {
    /// As for any object: compare it if it moved, recreate it if it is gone.
    Compare,
    /// Nothing: its policy leaves it as it is, and it is never drift.
    Leave,
    /// A `Create` CRD plumb recorded that the labelled list no longer shows: it is created
    /// again only once a read says it is really gone (not just relabelled by someone).
    ConfirmGone,
}

/// The drift check of one object, from its chart CRD policy, its live state and whether
/// plumb recorded a fingerprint of it.
pub fn drift_check(chart_crd: Option<CrdPolicy>, state: &LiveState, recorded: bool) -> DriftCheck {
    match (chart_crd, state) {
        (None | Some(CrdPolicy::CreateReplace), _) => DriftCheck::Compare,
        (Some(CrdPolicy::Create), LiveState::Missing) if recorded => DriftCheck::ConfirmGone,
        (Some(CrdPolicy::Create | CrdPolicy::Skip), _) => DriftCheck::Leave,
    }
}

/// Annotations a controller writes on objects plumb applies, a moment after
/// each apply: they are no one's drift, and counting them would cost a
/// dry-run per Deployment in the cycle after every rollout.
const CONTROLLER_ANNOTATIONS: &[&str] = &["deployment.kubernetes.io/revision"];

/// A cheap summary of a live object that moves when someone changes it.
///
/// Kinds with a generation: the generation plus a hash of labels and
/// annotations (less the controllers' own), so that status updates by
/// controllers don't count as drift. Others: the resourceVersion.
pub fn fingerprint(metadata: &Value) -> String {
    match metadata["generation"].as_i64() {
        Some(generation) => {
            let mut text = String::new();
            for field in ["labels", "annotations"] {
                if let Some(map) = metadata[field].as_object() {
                    // serde_json maps are sorted, so this is stable.
                    for (k, v) in map
                        .iter()
                        .filter(|(k, _)| !CONTROLLER_ANNOTATIONS.contains(&k.as_str()))
                    {
                        text.push_str(k);
                        text.push('=');
                        text.push_str(v.as_str().unwrap_or_default());
                        text.push('\n');
                    }
                }
                text.push('\u{0}');
            }
            format!("g{generation}:{:016x}", fnv1a(text.as_bytes()))
        }
        None => format!(
            "rv{}",
            metadata["resourceVersion"].as_str().unwrap_or_default()
        ),
    }
}

/// A hash of a desired object as plumb applies it (serde_json maps are
/// sorted, so equal objects hash equally).
pub fn manifest_hash(object: &Value) -> String {
    format!("{:016x}", fnv1a(object.to_string().as_bytes()))
}

/// Whether an apply can be skipped: Git's object is the one plumb last
/// applied, and the live object has not moved since.
pub fn can_skip(
    desired_hash: &str,
    applied_hash: Option<&String>,
    live: Option<&String>,
    recorded: Option<&String>,
) -> bool {
    applied_hash.map(String::as_str) == Some(desired_hash) && live.is_some() && live == recorded
}

/// What decides which objects of a revision an apply cycle does not send again.
#[derive(Debug, Clone, Copy)]
pub struct Skipping<'a> {
    /// Chart CRDs their policy leaves as they are: neither sent nor skipped (counted apart).
    pub left_alone: &'a BTreeSet<ObjectRef>,
    /// A chart's hooks that run in this cycle: always sent.
    pub hooks_run: &'a BTreeSet<ObjectRef>,
    /// Hooks this cycle does not run (the chart did not change): never sent.
    pub hooks_left: &'a BTreeSet<ObjectRef>,
    /// Objects validation wants sent whatever their hashes: to recreate, to adopt, or to
    /// take fields from another manager.
    pub forced: &'a BTreeSet<ObjectRef>,
    /// Each object's hash as plumb last applied it.
    pub applied_hashes: &'a BTreeMap<ObjectRef, String>,
    /// Each live object's fingerprint now.
    pub live: &'a BTreeMap<ObjectRef, String>,
    /// Each object's fingerprint recorded after plumb's last apply or check.
    pub recorded: &'a BTreeMap<ObjectRef, String>,
}

/// The objects of `desired` (each with the hash of Git's object) whose apply is skipped.
pub fn skip_set<'k>(
    desired: impl IntoIterator<Item = (&'k ObjectRef, String)>,
    by: Skipping,
) -> BTreeSet<ObjectRef> {
    desired
        .into_iter()
        .filter(|(key, _)| !by.left_alone.contains(key) && !by.hooks_run.contains(key))
        .filter(|(key, hash)| {
            by.hooks_left.contains(key)
                || (!by.forced.contains(key)
                    && can_skip(
                        hash,
                        by.applied_hashes.get(key),
                        by.live.get(key),
                        by.recorded.get(key),
                    ))
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// Whether an apply changed an object: created for validation (its apply then changes
/// nothing, but the cycle made it), or its resourceVersion moved.
pub fn changed_by_apply(created_early: bool, before: Option<&str>, after: &str) -> bool {
    created_early || before != Some(after)
}

/// 64-bit FNV-1a: tiny, stable across versions and machines.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// What a drift check found for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveState {
    /// The fingerprint is the one recorded after plumb's apply.
    Unchanged,
    /// The fingerprint moved: compare precisely (dry-run) before deciding.
    Moved,
    /// The object is gone: recreate it.
    Missing,
}

/// Compares the recorded fingerprints with the live ones (from one
/// metadata-only LIST per group-kind). Objects with no record are `Moved`,
/// so that they get one precise comparison.
pub fn live_states(
    desired: &[ObjectRef],
    recorded: &BTreeMap<ObjectRef, String>,
    live: &BTreeMap<ObjectRef, String>,
) -> BTreeMap<ObjectRef, LiveState> {
    desired
        .iter()
        .map(|key| {
            let state = match (live.get(key), recorded.get(key)) {
                (None, _) => LiveState::Missing,
                (Some(now), Some(then)) if now == then => LiveState::Unchanged,
                _ => LiveState::Moved,
            };
            (key.clone(), state)
        })
        .collect()
}

/// Which fields of `desired` differ in `live`, as dotted paths (for reports).
/// Only fields that Git sets are compared: fields added by the server or
/// other controllers don't count.
pub fn changed_fields(desired: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(desired, live, String::new(), &mut out);
    out
}

fn diff_into(desired: &Value, live: &Value, path: String, out: &mut Vec<String>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match l.get(k) {
                    Some(lv) => diff_into(dv, lv, p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                diff_into(dv, lv, format!("{path}[{i}]"), out);
            }
        }
        (d, l) if numbers_equal(d, l) || d == l => {}
        _ => out.push(path),
    }
}

/// YAML `1` and JSON `1.0` are the same number to the API server.
fn numbers_equal(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Manifest, Origin};
    use serde_json::json;

    fn key(group: &str, kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            kind: kind.into(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    #[test]
    fn stages_run_namespaces_crds_foundations_rest() {
        let m = |api: &str, kind: &str, name: &str| Manifest {
            object: json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
            origin: Origin {
                file: "f".into(),
                document: 0,
                line: 1,
            },
            kustomized: false,
            chart_crd: None,
            dropped_namespace: None,
        };
        let hook = |mut m: Manifest, events: &str| {
            m.object["metadata"]["annotations"] = json!({ hooks::HELM_HOOK: events });
            m
        };
        let ms = vec![
            m("apps/v1", "Deployment", "web"),
            m("v1", "ConfigMap", "cfg"),
            m("ex.com/v1", "Widget", "w"),
            m(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "widgets.ex.com",
            ),
            m("v1", "Namespace", "apps"),
            m("rbac.authorization.k8s.io/v1", "ClusterRole", "r"),
            hook(m("batch/v1", "Job", "migrate"), "pre-install,pre-upgrade"),
            hook(m("batch/v1", "Job", "notify"), "post-install"),
            hook(m("v1", "ConfigMap", "hook-config"), "pre-upgrade"),
        ];
        let order: Vec<(Stage, Vec<String>)> =
            stages(&ms, |m| stage_of_object(&m.key(), &m.object))
                .into_iter()
                .map(|(s, g)| (s, g.iter().map(|m| m.key().name).collect()))
                .collect();
        assert_eq!(
            order,
            [
                (Stage::Namespaces, vec!["apps".to_owned()]),
                (Stage::Crds, vec!["widgets.ex.com".to_owned()]),
                (Stage::Foundations, vec!["cfg".to_owned(), "r".to_owned()]),
                (
                    Stage::PreHooks,
                    vec!["migrate".to_owned(), "hook-config".to_owned()]
                ),
                (Stage::Rest, vec!["web".to_owned(), "w".to_owned()]),
                (Stage::PostHooks, vec!["notify".to_owned()]),
            ]
        );
    }

    #[test]
    fn fingerprints_ignore_the_deployment_controllers_revision() {
        let applied = json!({"generation": 1, "annotations": {"a": "1"}});
        let annotated = json!({"generation": 1, "annotations": {"a": "1", "deployment.kubernetes.io/revision": "1"}});
        assert_eq!(fingerprint(&applied), fingerprint(&annotated));
        let edited = json!({"generation": 1, "annotations": {"a": "2", "deployment.kubernetes.io/revision": "1"}});
        assert_ne!(fingerprint(&annotated), fingerprint(&edited));
    }

    #[test]
    fn fingerprints_ignore_status_but_see_spec_and_labels() {
        let a = json!({"generation": 3, "resourceVersion": "10", "labels": {"x": "1"}});
        let status_update = json!({"generation": 3, "resourceVersion": "11", "labels": {"x": "1"}});
        let relabelled = json!({"generation": 3, "resourceVersion": "12", "labels": {"x": "2"}});
        let scaled = json!({"generation": 4, "resourceVersion": "13", "labels": {"x": "1"}});
        assert_eq!(fingerprint(&a), fingerprint(&status_update));
        assert_ne!(fingerprint(&a), fingerprint(&relabelled));
        assert_ne!(fingerprint(&a), fingerprint(&scaled));
        assert_eq!(fingerprint(&json!({"resourceVersion": "7"})), "rv7");
    }

    #[test]
    fn skipping_needs_the_same_object_and_an_unmoved_live_one() {
        let h = manifest_hash(&json!({"a": 1}));
        assert_eq!(h, manifest_hash(&json!({"a": 1})));
        assert_ne!(h, manifest_hash(&json!({"a": 2})));
        let (fp, other) = ("rv1".to_owned(), "rv2".to_owned());
        assert!(can_skip(&h, Some(&h), Some(&fp), Some(&fp)));
        assert!(
            !can_skip(&h, Some(&"x".into()), Some(&fp), Some(&fp)),
            "Git changed"
        );
        assert!(
            !can_skip(&h, Some(&h), Some(&other), Some(&fp)),
            "live moved"
        );
        assert!(!can_skip(&h, Some(&h), None, Some(&fp)), "live is gone");
        assert!(!can_skip(&h, None, Some(&fp), Some(&fp)), "never applied");
    }

    #[test]
    fn chart_crds_are_applied_as_their_policy_says() {
        use CrdPolicy::*;
        for exists in [false, true] {
            assert!(applies(None, exists), "ordinary objects always");
            assert!(applies(Some(CreateReplace), exists));
            assert!(!applies(Some(Skip), exists));
        }
        assert!(applies(Some(Create), false), "created when missing");
        assert!(!applies(Some(Create), true), "never updated once there");
        assert!(may_create(None) && may_create(Some(Create)) && may_create(Some(CreateReplace)));
        assert!(!may_create(Some(Skip)));
    }

    #[test]
    fn drift_leaves_chart_crds_their_policy_does_not_update() {
        use CrdPolicy::*;
        use LiveState::*;
        for state in [Unchanged, Moved, Missing] {
            for recorded in [false, true] {
                assert_eq!(drift_check(None, &state, recorded), DriftCheck::Compare);
                assert_eq!(
                    drift_check(Some(CreateReplace), &state, recorded),
                    DriftCheck::Compare
                );
                assert_eq!(drift_check(Some(Skip), &state, recorded), DriftCheck::Leave);
            }
        }
        assert_eq!(
            drift_check(Some(Create), &Unchanged, true),
            DriftCheck::Leave
        );
        assert_eq!(
            drift_check(Some(Create), &Moved, true),
            DriftCheck::Leave,
            "edited in the cluster: neither drift nor corrected"
        );
        assert_eq!(
            drift_check(Some(Create), &Missing, true),
            DriftCheck::ConfirmGone
        );
        assert_eq!(
            drift_check(Some(Create), &Missing, false),
            DriftCheck::Leave,
            "one plumb never created (someone else's) is not looked for"
        );
    }

    #[test]
    fn live_states_classify() {
        let (a, b, c) = (
            key("", "ConfigMap", "a"),
            key("", "ConfigMap", "b"),
            key("", "ConfigMap", "c"),
        );
        let recorded =
            BTreeMap::from([(a.clone(), "rv1".to_owned()), (b.clone(), "rv1".to_owned())]);
        let live = BTreeMap::from([(a.clone(), "rv1".to_owned()), (b.clone(), "rv2".to_owned())]);
        let states = live_states(&[a.clone(), b.clone(), c.clone()], &recorded, &live);
        assert_eq!(states[&a], LiveState::Unchanged);
        assert_eq!(states[&b], LiveState::Moved);
        assert_eq!(states[&c], LiveState::Missing);
    }

    #[test]
    fn changed_fields_compare_only_what_git_sets() {
        let desired =
            json!({"spec": {"replicas": 2, "template": {"x": [1, 2]}}, "data": {"a": "1"}});
        let live = json!({"spec": {"replicas": 5, "template": {"x": [1, 2]}, "extra": true}, "data": {"a": "1"}, "status": {}});
        assert_eq!(changed_fields(&desired, &live), ["spec.replicas"]);
        assert!(changed_fields(&json!({"n": 1}), &json!({"n": 1.0})).is_empty());
        assert_eq!(
            changed_fields(&json!({"d": {"k": "v"}}), &json!({"d": {}})),
            ["d.k"]
        );
    }

    #[test]
    fn the_skip_set_sends_what_changed_was_forced_or_is_a_running_hook() {
        let key = |name: &str| ObjectRef {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "a".into(),
            name: name.into(),
        };
        let names = [
            "same",
            "new-hash",
            "moved",
            "missing",
            "forced",
            "left",
            "hook-run",
            "hook-left",
            "never",
        ];
        let set = |names: &[&str]| names.iter().map(|n| key(n)).collect::<BTreeSet<_>>();
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| (key(n), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let everyone: Vec<(&str, &str)> = names.iter().map(|n| (*n, "h")).collect();
        let mut hashes = map(&everyone);
        hashes.insert(key("new-hash"), "old".into());
        hashes.remove(&key("never"));
        let recorded = map(&everyone
            .iter()
            .map(|(n, _)| (*n, "rv1"))
            .collect::<Vec<_>>());
        let mut live = recorded.clone();
        live.insert(key("moved"), "rv2".into());
        live.remove(&key("missing"));
        let keys: Vec<ObjectRef> = names.iter().map(|n| key(n)).collect();
        let skipped = skip_set(
            keys.iter().map(|k| (k, "h".to_owned())),
            Skipping {
                left_alone: &set(&["left"]),
                hooks_run: &set(&["hook-run"]),
                hooks_left: &set(&["hook-left"]),
                forced: &set(&["forced"]),
                applied_hashes: &hashes,
                live: &live,
                recorded: &recorded,
            },
        );
        assert_eq!(skipped, set(&["same", "hook-left"]));
    }

    #[test]
    fn an_apply_changed_an_object_created_early_or_whose_version_moved() {
        for (created_early, before, after, changed) in [
            (false, Some("5"), "5", false),
            (false, Some("5"), "6", true),
            (false, None, "1", true),
            (true, Some("3"), "3", true),
        ] {
            assert_eq!(
                changed_by_apply(created_early, before, after),
                changed,
                "{created_early} {before:?} {after}"
            );
        }
    }
}
