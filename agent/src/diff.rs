//! `plumb diff`: what apply and prune would change, as a unified diff of
//! YAML — the live object against a server-side dry-run of Git's, with
//! managedFields, status and server-maintained metadata left out. The cycle
//! runs it (`reconcile::preview`): the same sequence as a reconcile up to the
//! first write.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::apply::{self, Target};
use crate::kube::Cluster;
use crate::prune;
use crate::render::ObjectRef;

/// The YAML a diff shows of an object; a Secret's values are masked (as
/// `kubectl diff` does), with a short hash so that a change still shows.
pub fn shown(object: &Value) -> String {
    let mut object = apply::strip_volatile(object);
    if object["kind"] == "Secret"
        && crate::render::group_of(object["apiVersion"].as_str().unwrap_or_default()).is_empty()
    {
        for field in ["data", "stringData"] {
            if let Some(map) = object[field].as_object_mut() {
                for value in map.values_mut() {
                    let hash = crate::plan::manifest_hash(value);
                    *value = Value::String(format!("*** (hash {})", &hash[..8]));
                }
            }
        }
    }
    serde_yaml_ng::to_string(&object).expect("JSON values serialise")
}

/// A unified diff between two texts, labelled; empty when they are equal.
pub fn unified(label: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{label} (live)"), &format!("{label} (Git)"))
        .to_string()
}

/// What `plumb diff` found: a unified diff per object that applying the
/// revision would change or pruning would delete, and a note per object
/// pruning would keep (with why, as reconcile says it).
#[derive(Debug, Default)]
pub struct Changes {
    /// Diffs, each one change.
    pub diffs: Vec<String>,
    /// "kept OBJECT: why" lines, which are not changes.
    pub kept: Vec<String>,
}

/// Diffs of every target that applying would change (a server-side dry-run against the
/// live object), and the errors, each naming its object.
pub fn object_diffs(client: &dyn Cluster, targets: &[Target]) -> (Vec<String>, Vec<String>) {
    let results = apply::parallel(targets, apply::PARALLELISM, |t| {
        let key = t.manifest.key();
        let live = crate::drift::read_live(client, t).map_err(|e| format!("{key}: {e}"))?;
        // A chart's crds/ CRD its policy leaves as it is would not change.
        if !crate::plan::applies(t.manifest.chart_crd, live.is_some()) {
            return Ok(String::new());
        }
        let after = crate::drift::dry_run(client, t)
            .map_err(|e| format!("{key} ({}): {e}", t.manifest.origin))?;
        let before = live.as_ref().map(shown).unwrap_or_default();
        Ok::<String, String>(unified(&key.to_string(), &before, &shown(&after)))
    });
    let (mut diffs, mut errors) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(d) if !d.is_empty() => diffs.push(d),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    (diffs, errors)
}

/// What pruning would do to the inventory members no longer desired, decided exactly as
/// the cycle decides (`prune::plan_one`): a diff per delete, a "kept" line per object kept.
pub fn prune_diffs(
    client: &dyn Cluster,
    id: &str,
    inventory: &prune::Inventory,
    desired: &BTreeSet<ObjectRef>,
    changes: &mut Changes,
) -> Vec<String> {
    let mut errors = Vec::new();
    for gone in prune::prune_candidates(inventory, desired) {
        match prune::plan_one(client, &gone, id, inventory, desired) {
            Ok(plan) => match (plan.decision, plan.live) {
                (prune::PruneDecision::Delete, Some(live)) => {
                    changes
                        .diffs
                        .push(unified(&gone.to_string(), &shown(&live), ""))
                }
                (prune::PruneDecision::Keep(why) | prune::PruneDecision::Hold(why), _) => {
                    changes.kept.push(format!("kept {gone}: {why}"))
                }
                _ => {}
            },
            Err(e) => errors.push(format!("{gone}: {e}")),
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_leave_out_server_fields() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "5", "managedFields": []}, "data": {"k": "old"}});
        let git = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "5"}, "data": {"k": "new"}});
        let d = unified("ConfigMap a", &shown(&live), &shown(&git));
        assert!(d.contains("-  k: old\n+  k: new\n"), "{d}");
        assert!(
            !d.contains("resourceVersion") && !d.contains("managedFields"),
            "{d}"
        );
        assert!(
            d.starts_with("--- ConfigMap a (live)\n+++ ConfigMap a (Git)\n"),
            "{d}"
        );
        assert_eq!(unified("x", "same\n", "same\n"), "");
    }

    #[test]
    fn secret_values_never_show() {
        let secret = |v: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": v}, "data": {"key": "aHVudGVyMg=="}});
        let (a, b) = (shown(&secret("hunter2")), shown(&secret("hunter3")));
        assert!(!a.contains("hunter2") && !a.contains("aHVudGVyMg=="), "{a}");
        assert_ne!(a, b, "a change must still show");
    }
}
