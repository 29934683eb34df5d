//! A chart's hooks: which run in a cycle, in what order around the chart's other objects,
//! and what is deleted after. Helm's meaning, mapped as Argo CD maps it to sync phases:
//! pre-install/pre-upgrade hooks before the chart's workloads, each weight a wave that must
//! finish before the next; post-install/post-upgrade hooks once everything else is healthy.
//! Unlike Argo CD, install and upgrade differ: a sync with nothing applied yet installs.

use serde_json::Value;

use super::Stage;

/// The Helm hook annotation: the events a hook runs on, comma-separated.
pub const HELM_HOOK: &str = "helm.sh/hook";
/// Orders hooks of one phase: lower weights first (a string holding an integer).
pub const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// When Helm deletes a hook: before-hook-creation, hook-succeeded, hook-failed.
pub const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// The events plumb runs hooks on; a hook on none of them (pre-delete, post-rollback, test)
/// is never rendered, as plumb neither uninstalls, rolls back through Helm nor runs tests.
pub const RUN_EVENTS: [&str; 4] = ["pre-install", "pre-upgrade", "post-install", "post-upgrade"];

/// One hook's annotations, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The events it runs on, trimmed.
    pub events: Vec<String>,
    /// Its weight (0 when absent or not an integer, as Helm reads it).
    pub weight: i64,
    /// When it is deleted.
    pub delete: DeletePolicy,
}

/// `helm.sh/hook-delete-policy`, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletePolicy {
    /// Deleted before it is created again (Helm's default when no policy is given).
    pub before_creation: bool,
    /// Deleted once it succeeded.
    pub succeeded: bool,
    /// Deleted once it failed.
    pub failed: bool,
}

/// The hook an object is, if it is one.
pub fn hook_of(object: &Value) -> Option<Hook> {
    let annotations = &object["metadata"]["annotations"];
    let events: Vec<String> = annotations[HELM_HOOK]
        .as_str()?
        .split(',')
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    if events.is_empty() {
        return None;
    }
    let weight = annotations[HELM_HOOK_WEIGHT]
        .as_str()
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0);
    let policies: Vec<&str> = annotations[HELM_HOOK_DELETE_POLICY]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let delete = DeletePolicy {
        before_creation: policies.is_empty() || policies.contains(&"before-hook-creation"),
        succeeded: policies.contains(&"hook-succeeded"),
        failed: policies.contains(&"hook-failed"),
    };
    Some(Hook {
        events,
        weight,
        delete,
    })
}

/// Whether a rendered hook is kept at all: it runs on an event plumb has.
pub fn is_run(events: &[String]) -> bool {
    events.iter().any(|e| RUN_EVENTS.contains(&e.as_str()))
}

/// Whether a hook runs in a cycle that installs (`install`) or upgrades the chart.
pub fn runs(hook: &Hook, install: bool) -> bool {
    let wanted: &[&str] = if install {
        &["pre-install", "post-install"]
    } else {
        &["pre-upgrade", "post-upgrade"]
    };
    hook.events.iter().any(|e| wanted.contains(&e.as_str()))
}

/// What a cycle's hooks do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookRun {
    /// The chart changed since plumb last applied it (or was never applied): hooks run.
    pub changed: bool,
    /// Nothing of the sync was applied before: install hooks, else upgrade hooks.
    pub install: bool,
    /// The sync waits for health: post- hooks wait until everything else is healthy.
    pub wait: bool,
}

/// One step of an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase<T> {
    /// Apply these, in stage order.
    Apply(Vec<T>),
    /// One wave of hooks (one weight): deleted first where their policy says so, applied,
    /// followed until each has finished, then deleted where their policy says so.
    Hooks(Vec<T>),
    /// Wait until these are healthy.
    AwaitHealthy(Vec<T>),
}

/// The phases of an apply, and the hooks left as they are (not run in this cycle).
/// Objects keep the order given within a phase; hooks of one phase go by weight.
pub fn phases<T: Clone>(
    items: &[T],
    stage: impl Fn(&T) -> Stage,
    hook: impl Fn(&T) -> Option<Hook>,
    run: HookRun,
) -> (Vec<Phase<T>>, Vec<T>) {
    let mut early = Vec::new();
    let mut pre = Vec::new();
    let mut rest = Vec::new();
    let mut post = Vec::new();
    let mut left = Vec::new();
    for item in items {
        let stage = stage(item);
        match (stage, hook(item)) {
            (Stage::PreHooks | Stage::PostHooks, Some(h))
                if run.changed && runs(&h, run.install) =>
            {
                let weighted = (h.weight, item.clone());
                if stage == Stage::PreHooks {
                    pre.push(weighted);
                } else {
                    post.push(weighted);
                }
            }
            (Stage::PreHooks | Stage::PostHooks, _) => left.push(item.clone()),
            (s, _) if s < Stage::PreHooks => early.push(item.clone()),
            _ => rest.push(item.clone()),
        }
    }
    let mut phases = Vec::new();
    let push_waves = |phases: &mut Vec<Phase<T>>, mut hooks: Vec<(i64, T)>| {
        hooks.sort_by_key(|(w, _)| *w);
        let mut wave: Vec<T> = Vec::new();
        let mut weight = None;
        for (w, item) in hooks {
            if weight.is_some_and(|current| current != w) {
                phases.push(Phase::Hooks(std::mem::take(&mut wave)));
            }
            weight = Some(w);
            wave.push(item);
        }
        if !wave.is_empty() {
            phases.push(Phase::Hooks(wave));
        }
    };
    let everything_else: Vec<T> = early.iter().chain(&rest).cloned().collect();
    if pre.is_empty() {
        // Stage order is apply's own: one apply, as without hooks.
        if !everything_else.is_empty() {
            phases.push(Phase::Apply(everything_else.clone()));
        }
    } else {
        if !early.is_empty() {
            phases.push(Phase::Apply(early));
        }
        push_waves(&mut phases, pre);
        if !rest.is_empty() {
            phases.push(Phase::Apply(rest));
        }
    }
    if !post.is_empty() {
        if run.wait && !everything_else.is_empty() {
            phases.push(Phase::AwaitHealthy(everything_else));
        }
        push_waves(&mut phases, post);
    }
    (phases, left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, name: &str, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "annotations": annotations}})
    }

    fn stage(o: &Value) -> Stage {
        let key = crate::render::key_of(o);
        super::super::stage_of_object(&key, o)
    }

    fn names(phases: &[Phase<Value>]) -> Vec<(char, Vec<String>)> {
        phases
            .iter()
            .map(|p| {
                let (c, items) = match p {
                    Phase::Apply(i) => ('A', i),
                    Phase::Hooks(i) => ('H', i),
                    Phase::AwaitHealthy(i) => ('W', i),
                };
                let names = items
                    .iter()
                    .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
                    .collect();
                (c, names)
            })
            .collect()
    }

    #[test]
    fn a_hook_reads_its_events_weight_and_delete_policy_with_helms_defaults() {
        let h = hook_of(&object(
            "Pod",
            "p",
            json!({HELM_HOOK: " pre-install, pre-upgrade ", HELM_HOOK_WEIGHT: "-5"}),
        ))
        .unwrap();
        assert_eq!(h.events, ["pre-install", "pre-upgrade"]);
        assert_eq!(h.weight, -5);
        assert!(h.delete.before_creation && !h.delete.succeeded && !h.delete.failed);
        let h = hook_of(&object(
            "Pod",
            "p",
            json!({HELM_HOOK: "post-install", HELM_HOOK_WEIGHT: "x", HELM_HOOK_DELETE_POLICY: "hook-succeeded,hook-failed"}),
        ))
        .unwrap();
        assert_eq!(h.weight, 0);
        assert!(!h.delete.before_creation && h.delete.succeeded && h.delete.failed);
        assert_eq!(hook_of(&object("Pod", "p", json!({}))), None);
        assert_eq!(
            hook_of(&object("Pod", "p", json!({HELM_HOOK: " , "}))),
            None
        );
    }

    #[test]
    fn install_and_upgrade_hooks_run_on_their_own_event_and_others_never() {
        let h = |events: &str| hook_of(&object("Job", "j", json!({ HELM_HOOK: events }))).unwrap();
        assert!(runs(&h("pre-install"), true));
        assert!(!runs(&h("pre-install"), false));
        assert!(runs(&h("post-upgrade"), false));
        assert!(!runs(&h("post-upgrade"), true));
        assert!(runs(&h("pre-install,pre-upgrade"), false));
        assert!(!is_run(&h("pre-delete,post-rollback").events));
        assert!(!is_run(&h("test").events));
        assert!(is_run(&h("test,post-install").events));
    }

    #[test]
    fn pre_hooks_run_by_weight_between_foundations_and_workloads_and_post_hooks_after_health() {
        let hook = |name: &str, events: &str, weight: &str| {
            object(
                "Pod",
                name,
                json!({HELM_HOOK: events, HELM_HOOK_WEIGHT: weight}),
            )
        };
        let items = vec![
            object("Service", "web", json!({})),
            hook("migrate", "pre-install", "5"),
            object("ConfigMap", "cfg", json!({})),
            hook("schema", "pre-install", "-1"),
            hook("seed", "pre-install", "5"),
            hook("notify", "post-install", "0"),
            hook("upgrade-only", "pre-upgrade", "0"),
        ];
        let run = HookRun {
            changed: true,
            install: true,
            wait: true,
        };
        let (planned, left) = phases(&items, stage, hook_of, run);
        assert_eq!(
            names(&planned),
            [
                ('A', vec!["cfg".to_owned()]),
                ('H', vec!["schema".to_owned()]),
                ('H', vec!["migrate".to_owned(), "seed".to_owned()]),
                ('A', vec!["web".to_owned()]),
                ('W', vec!["cfg".to_owned(), "web".to_owned()]),
                ('H', vec!["notify".to_owned()]),
            ]
        );
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["metadata"]["name"], "upgrade-only");

        // Without waiting, post- hooks follow at once; an unchanged chart runs no hook.
        let (planned, _) = phases(&items, stage, hook_of, HookRun { wait: false, ..run });
        assert!(!planned.iter().any(|p| matches!(p, Phase::AwaitHealthy(_))));
        let (planned, left) = phases(
            &items,
            stage,
            hook_of,
            HookRun {
                changed: false,
                ..run
            },
        );
        assert_eq!(
            names(&planned),
            [('A', vec!["cfg".to_owned(), "web".to_owned()])]
        );
        assert_eq!(left.len(), 5);
    }

    #[test]
    fn objects_without_hooks_are_one_apply() {
        let items = vec![
            object("Service", "web", json!({})),
            object("ConfigMap", "cfg", json!({})),
        ];
        let run = HookRun {
            changed: true,
            install: false,
            wait: true,
        };
        let (p, left) = phases(&items, stage, hook_of, run);
        assert_eq!(names(&p), [('A', vec!["cfg".to_owned(), "web".to_owned()])]);
        assert!(left.is_empty());
    }
}
