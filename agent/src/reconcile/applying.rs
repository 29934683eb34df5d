//! The steps of a cycle that applies a revision not yet in force: create what validation
//! needs, resolve, refuse others' objects, validate, record the inventory, apply (in
//! stages, with a chart's hooks), prune, follow health, and derive the status.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Instant;

use serde_json::Value;

use super::outcome::{self, Applied, Reason};
use super::{Cycle, End, Step};
use crate::apply::{self, Created, ObjectFailure, Target, Validation};
use crate::diff::{self, Changes};
use crate::health;
use crate::kube::{ApiResource, Cluster};
use crate::plan::hooks::{self, HookRun, Phase};
use crate::plan::{self, Skipping};
use crate::prune::{self, Inventory, PruneDecision};
use crate::render::{Manifest, ObjectRef};
use crate::report;

/// What an apply cycle carries from step to step.
pub(super) struct Applying<'m> {
    /// The rendered objects.
    manifests: &'m [Manifest],
    /// The digest of the chart inputs they were rendered from (recorded with the revision
    /// once it is applied).
    chart_inputs: Option<String>,
    /// Namespaces and CRDs made so that validation could see the rest.
    created: Created,
    /// Chart CRDs their policy leaves as they are: neither validated nor applied.
    left: BTreeSet<ObjectRef>,
    /// The objects to apply, with their resources.
    targets: Vec<Target<'m>>,
    /// This sync's ApplySet id.
    id: String,
    /// Metadata of this sync's live objects before the apply.
    before: BTreeMap<ObjectRef, Value>,
    /// What validation found.
    validation: Validation,
    /// What the inventory lists once the revision is in force: never a chart's crds/ CRD,
    /// so that none is ever pruned.
    inventoried: BTreeSet<ObjectRef>,
    /// Fingerprints, as they stand after the apply and prune.
    fingerprints: BTreeMap<ObjectRef, String>,
    /// Inventory members a prune did not remove (held, failed, or prune off).
    not_pruned: Vec<ObjectRef>,
    /// What a preview (`plumb diff`) found the apply and prune would change.
    pub(super) preview: Changes,
}

impl<'m> Applying<'m> {
    pub(super) fn new(manifests: &'m [Manifest], chart_inputs: Option<String>) -> Applying<'m> {
        Applying {
            manifests,
            chart_inputs,
            created: Created::default(),
            left: BTreeSet::new(),
            targets: Vec::new(),
            id: String::new(),
            before: BTreeMap::new(),
            validation: Validation::default(),
            inventoried: BTreeSet::new(),
            fingerprints: BTreeMap::new(),
            not_pruned: Vec::new(),
            preview: Changes::default(),
        }
    }

    fn desired(&self) -> BTreeSet<ObjectRef> {
        self.manifests.iter().map(Manifest::key).collect()
    }
}

/// The steps, in order.
pub(super) fn steps<'m>() -> [(&'static str, Step<Applying<'m>>); 8] {
    [
        (
            "create namespaces and CRDs for validation",
            create_containers,
        ),
        ("resolve", resolve),
        ("refuse objects of other syncs", refuse_foreign),
        ("validate", validate),
        ("record the inventory", record_inventory),
        ("apply", apply_phases),
        ("prune", prune_step),
        ("health", health_and_status),
    ]
}

/// The steps of a preview (`plumb diff`): the apply's own up to its first write, then what
/// applying and pruning would change instead of doing it. None of them writes.
pub(super) fn preview_steps<'m>() -> [(&'static str, Step<Applying<'m>>); 4] {
    [
        ("resolve", resolve),
        ("refuse objects of other syncs", refuse_foreign),
        ("what applying would change", preview_apply),
        ("what pruning would change", preview_prune),
    ]
}

fn preview_apply(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    let (diffs, errors) = diff::object_diffs(cycle.ctx.client, &s.targets);
    s.preview.diffs = diffs;
    if errors.is_empty() {
        Continue(())
    } else {
        Break(End::Failed(Reason::ValidationFailed, errors.join("\n")))
    }
}

fn preview_prune(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    if !cycle.ctx.sync.prune {
        return Break(End::Done);
    }
    let desired = s.desired();
    let errors = diff::prune_diffs(
        cycle.ctx.client,
        &s.id,
        &cycle.read,
        &desired,
        &mut s.preview,
    );
    if errors.is_empty() {
        Break(End::Done)
    } else {
        Break(End::Failed(Reason::ValidationFailed, errors.join("\n")))
    }
}

fn create_containers(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    let client = cycle.ctx.client;
    match apply::create_missing_containers(client, s.manifests, &mut s.created) {
        Ok(()) => Continue(()),
        Err(failure) => validation_failed(cycle, s, vec![failure]),
    }
}

fn resolve(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    let targets = match apply::resolve(cycle.ctx.client, s.manifests) {
        Ok(t) => t,
        Err(failures) => return validation_failed(cycle, s, failures),
    };
    s.left = apply::left_alone(s.manifests, &s.created.existing);
    cycle.report.unchanged += s.left.len();
    s.targets = targets
        .into_iter()
        .filter(|t| !s.left.contains(&t.manifest.key()))
        .collect();
    s.id = cycle.applyset_id();
    Continue(())
}

fn refuse_foreign(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    let client = cycle.ctx.client;
    let resources: BTreeSet<ApiResource> = s.targets.iter().map(|t| t.resource.clone()).collect();
    // Every plumb-labelled object of these kinds: ours, and other syncs'.
    let mut labelled =
        prune::list_labelled(client, &resources, prune::PART_OF_LABEL).unwrap_or_default();
    let foreign = foreign_objects(client, &s.targets, &labelled, &s.id);
    if !foreign.is_empty() {
        return validation_failed(cycle, s, foreign);
    }
    labelled.retain(|_, meta| meta["labels"][prune::PART_OF_LABEL] == s.id.as_str());
    s.before = labelled;
    Continue(())
}

fn validate(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    match apply::validate(cycle.ctx.client, &s.targets) {
        Ok(v) => {
            cycle.report.conflicts = v.conflicts.clone();
            s.validation = v;
            Continue(())
        }
        Err(failures) => validation_failed(cycle, s, failures),
    }
}

/// The inventory lists every object of the revision before any is applied (as kubectl's
/// ApplySet records its group-kinds first): a kill -9 mid-apply then leaves nothing
/// labelled that a later prune cannot find.
fn record_inventory(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    s.inventoried = prune::inventoried(s.manifests);
    let superset = Inventory {
        members: cycle.read.members.union(&s.inventoried).cloned().collect(),
    };
    if superset.members.len() > cycle.read.members.len() {
        let recorded = report::parent_object(&cycle.ctx.sync.name, &superset, &cycle.report.status);
        if let Err(e) = report::write_parent(cycle.ctx.client, cycle.parent.as_ref(), &recorded) {
            let message = format!(
                "revision {} was not applied: its objects could not be recorded in the inventory first: {e}",
                cycle.short()
            );
            return Break(End::Failed(Reason::ApplyFailed, message));
        }
    }
    // From here on, whatever happens, the inventory written keeps every object of the
    // revision, applied or not (a request that failed may still have landed): never
    // orphaned; what does not exist is dropped by the next prune.
    cycle.inventory = superset;
    Continue(())
}

fn apply_phases(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    let client = cycle.ctx.client;
    let sync = cycle.ctx.sync;
    let mut hashes: BTreeMap<ObjectRef, String> =
        cycle.memory.applied_hashes.iter().cloned().collect();
    s.fingerprints = cycle.memory.fingerprint_map();
    let live_prints: BTreeMap<ObjectRef, String> = s
        .before
        .iter()
        .map(|(k, m)| (k.clone(), plan::fingerprint(m)))
        .collect();
    let desired_hashes: Vec<(ObjectRef, String)> = s
        .manifests
        .iter()
        .map(|m| (m.key(), plan::manifest_hash(&m.object)))
        .collect();
    // A chart's hooks run when it changed since plumb last applied it, as `helm upgrade`
    // runs them; install hooks while nothing of the sync was ever applied (a failed first
    // attempt still installs, as a failed Helm install).
    let hook_run = HookRun {
        changed: desired_hashes
            .iter()
            .any(|(key, hash)| hashes.get(key) != Some(hash)),
        install: cycle.report.status.revision.is_none(),
        wait: sync.wait,
    };
    let (phases, hooks_left) = hooks::phases(
        &s.targets,
        |t| plan::stage_of_object(&t.manifest.key(), &t.manifest.object),
        |t| hooks::hook_of(&t.manifest.object),
        hook_run,
    );
    let hooks_left: BTreeSet<ObjectRef> = hooks_left.iter().map(|t| t.manifest.key()).collect();
    let hooks_run: BTreeSet<ObjectRef> = phases
        .iter()
        .filter_map(|p| match p {
            Phase::Hooks(wave) => Some(wave.iter().map(|t| t.manifest.key())),
            _ => None,
        })
        .flatten()
        .collect();
    let v = &s.validation;
    let forced: BTreeSet<ObjectRef> = v
        .recreate
        .iter()
        .chain(&v.adopt)
        .chain(v.conflicts.keys())
        .cloned()
        .collect();
    let skip = plan::skip_set(
        desired_hashes.iter().map(|(k, h)| (k, h.clone())),
        Skipping {
            left_alone: &s.left,
            hooks_run: &hooks_run,
            hooks_left: &hooks_left,
            forced: &forced,
            applied_hashes: &hashes,
            live: &live_prints,
            recorded: &s.fingerprints,
        },
    );
    cycle.report.unchanged += skip.len();
    let mut applied = Vec::new();
    let mut failures = Vec::new();
    let mut reason = Reason::ApplyFailed;
    for (at, phase) in phases.iter().enumerate() {
        failures = match phase {
            Phase::Apply(group) => match apply::apply_all(client, group, v, &skip) {
                Ok(a) => {
                    applied.extend(a);
                    Vec::new()
                }
                Err((a, f)) => {
                    applied.extend(a);
                    f
                }
            },
            Phase::Hooks(wave) => {
                let (a, f) = apply::hooks::run_wave(client, wave, v, sync.timeout);
                applied.extend(a);
                if !f.is_empty() {
                    reason = Reason::HookFailed;
                }
                f
            }
            Phase::AwaitHealthy(group) => {
                let lines = health::wait::wait_healthy(
                    client,
                    &without_hooks(group),
                    &sync.health_check_conditions,
                    sync.timeout,
                );
                let waiting = phases[at..].iter().find_map(|p| match p {
                    Phase::Hooks(wave) => wave.first(),
                    _ => None,
                });
                match (lines.is_empty(), waiting) {
                    (false, Some(hook)) => {
                        reason = Reason::HookFailed;
                        vec![apply::object_failure(
                            hook.manifest,
                            format!(
                                "post- hooks not run: the chart's objects are not healthy within {}s: {}",
                                sync.timeout.as_secs(),
                                lines.join("; ")
                            ),
                        )]
                    }
                    _ => Vec::new(),
                }
            }
        };
        if !failures.is_empty() {
            break;
        }
    }
    let applied_keys: BTreeSet<&ObjectRef> = applied.iter().map(|a| &a.object).collect();
    for (key, hash) in desired_hashes {
        if applied_keys.contains(&key) {
            hashes.insert(key, hash);
        }
    }
    let desired = s.desired();
    hashes.retain(|k, _| desired.contains(k));
    cycle.memory.applied_hashes = hashes.into_iter().collect();
    let created: BTreeSet<&ObjectRef> = s.created.objects.iter().map(|(_, k)| k).collect();
    for a in &applied {
        let created_early = created.contains(&a.object);
        let before = s
            .before
            .get(&a.object)
            .and_then(|m| m["resourceVersion"].as_str());
        if plan::changed_by_apply(created_early, before, &a.resource_version) {
            cycle.report.applied.push(a.object.clone());
        } else {
            cycle.report.unchanged += 1;
        }
        s.fingerprints
            .insert(a.object.clone(), a.fingerprint.clone());
    }
    if failures.is_empty() {
        return Continue(());
    }
    cycle.memory.fingerprints = std::mem::take(&mut s.fingerprints).into_iter().collect();
    let lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
    let message = match reason {
        Reason::HookFailed => format!(
            "revision {}: a hook of the chart failed; what follows it was not applied:\n{}",
            cycle.short(),
            lines.join("\n")
        ),
        _ => format!(
            "revision {} failed to apply:\n{}",
            cycle.short(),
            lines.join("\n")
        ),
    };
    Break(End::Failed(reason, message))
}

fn prune_step(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    let desired = s.desired();
    if !cycle.ctx.sync.prune {
        // Without prune, objects that left Git stay in the inventory: turning prune on
        // later then removes them.
        s.not_pruned = cycle.read.members.difference(&desired).cloned().collect();
        return Continue(());
    }
    for candidate in prune::prune_candidates(&cycle.read, &desired) {
        let decision = prune::prune_one(cycle.ctx.client, &candidate, &s.id, &cycle.read, &desired);
        match decision {
            Ok(PruneDecision::Delete) => {
                s.fingerprints.remove(&candidate);
                cycle.report.pruned.push(candidate);
            }
            Ok(PruneDecision::Gone) => {
                s.fingerprints.remove(&candidate);
            }
            Ok(PruneDecision::Keep(reason)) => {
                s.fingerprints.remove(&candidate);
                cycle.report.kept.push((candidate, reason));
            }
            Ok(PruneDecision::Hold(reason)) => {
                // Stays in the inventory: pruned once what it holds is gone.
                s.not_pruned.push(candidate.clone());
                cycle.report.kept.push((candidate, reason));
            }
            Err(message) => {
                cycle
                    .report
                    .warnings
                    .push(format!("could not prune {candidate}: {message}"));
                s.not_pruned.push(candidate);
            }
        }
    }
    Continue(())
}

fn health_and_status(cycle: &mut Cycle, s: &mut Applying) -> ControlFlow<End> {
    cycle.inventory = prune::next_inventory(&s.inventoried, &s.not_pruned);
    cycle.memory.fingerprints = std::mem::take(&mut s.fingerprints).into_iter().collect();
    cycle.memory.applied = Some(cycle.report.revision.clone());
    cycle.memory.chart_inputs = s.chart_inputs.take();
    let sync = cycle.ctx.sync;
    let started = Instant::now();
    let mut unhealthy = if sync.wait {
        // Hooks have ended (or were left as they are) already; some are deleted.
        let settled = without_hooks(&s.targets);
        let mut lines = health::wait::wait_healthy(
            cycle.ctx.client,
            &settled,
            &sync.health_check_conditions,
            sync.timeout,
        );
        if lines.is_empty() {
            let left = sync.timeout.saturating_sub(started.elapsed());
            lines = health::wait::wait_gone(cycle.ctx.client, &cycle.report.pruned, left);
        }
        lines
    } else {
        Vec::new()
    };
    if unhealthy.is_empty() && !sync.health_checks.is_empty() {
        let left = sync.timeout.saturating_sub(started.elapsed());
        unhealthy = wait_health_checks(cycle.ctx.client, sync, left);
    }
    let report = &mut cycle.report;
    let now = crate::clock::now();
    let applied = Applied {
        revision: &report.revision,
        counts: report::Counts {
            managed: s.manifests.len(),
            applied: report.applied.len(),
            unchanged: report.unchanged,
            pruned: report.pruned.len(),
            drifted: 0,
        },
        changed: !report.applied.is_empty() || !report.pruned.is_empty(),
        unhealthy,
        kept: report
            .kept
            .iter()
            .map(|(object, why)| format!("{object}: {why}"))
            .collect(),
        timeout: sync.timeout,
    };
    report.verdict = outcome::applied(&mut report.status, applied, &now);
    cycle.event = outcome::changes_event(&cycle.report);
    Break(End::Done)
}

/// Follows the sync's `healthChecks` (objects it need not have applied: a controller's) as
/// it follows its own; a kind the cluster does not serve is a line of its own.
fn wait_health_checks(
    client: &dyn Cluster,
    sync: &crate::config::Sync,
    timeout: std::time::Duration,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut watched = Vec::new();
    for (i, check) in sync.health_checks.iter().enumerate() {
        match client.resolve(&check.api_version, &check.kind) {
            Ok(resource) => {
                let mut metadata = serde_json::json!({"name": check.name});
                if resource.namespaced {
                    metadata["namespace"] =
                        Value::String(check.namespace.clone().unwrap_or(sync.namespace.clone()));
                }
                let object = serde_json::json!({
                    "apiVersion": check.api_version, "kind": check.kind, "metadata": metadata,
                });
                let manifest = Manifest {
                    object,
                    origin: crate::render::Origin {
                        file: "healthChecks".into(),
                        document: i,
                        line: 0,
                    },
                    kustomized: false,
                    chart_crd: None,
                    dropped_namespace: None,
                };
                watched.push((manifest, resource));
            }
            Err(e) => lines.push(format!(
                "healthChecks[{i}] {} {}: {e}",
                check.kind, check.name
            )),
        }
    }
    let targets: Vec<Target> = watched
        .iter()
        .map(|(manifest, resource)| Target {
            manifest,
            resource: resource.clone(),
        })
        .collect();
    lines.extend(health::wait::wait_healthy(
        client,
        &targets,
        &sync.health_check_conditions,
        timeout,
    ));
    lines
}

/// The targets that are not a chart's hooks: what health and drift follow.
pub(super) fn without_hooks<'a>(targets: &[Target<'a>]) -> Vec<Target<'a>> {
    targets
        .iter()
        .filter(|t| hooks::hook_of(&t.manifest.object).is_none())
        .cloned()
        .collect()
}

/// Objects of this revision that another sync's ApplySet holds: refused,
/// naming the other sync, unless the manifest moves them on purpose.
fn foreign_objects(
    client: &dyn Cluster,
    targets: &[Target],
    labelled: &BTreeMap<ObjectRef, Value>,
    id: &str,
) -> Vec<ObjectFailure> {
    let mut foreign = Vec::new();
    for t in targets {
        let key = t.manifest.key();
        let Some(meta) = labelled.get(&key) else {
            continue;
        };
        let adopt = t.manifest.object["metadata"]["annotations"][prune::ADOPT_ANNOTATION] == "true";
        if let Some(owner) =
            prune::foreign_owner(meta["labels"][prune::PART_OF_LABEL].as_str(), id, adopt)
        {
            foreign.push((t.manifest, owner.to_owned()));
        }
    }
    if foreign.is_empty() {
        return Vec::new();
    }
    // The other syncs by name: their parents carry the id.
    let names: BTreeMap<String, String> = client
        .list_metadata(
            &ApiResource::config_map(),
            Some(prune::SYSTEM_NAMESPACE),
            Some(prune::ID_LABEL),
        )
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let id = p["metadata"]["labels"][prune::ID_LABEL].as_str()?;
            let name = p["metadata"]["name"].as_str()?.strip_prefix("plumb-")?;
            Some((id.to_owned(), name.to_owned()))
        })
        .collect();
    foreign
        .into_iter()
        .map(|(m, owner)| {
            let who = match names.get(&owner) {
                Some(sync) => format!("sync '{sync}'"),
                None => format!("another ApplySet ({owner})"),
            };
            apply::object_failure(
                m,
                format!(
                    "already managed by {who}; remove it from that sync first, or annotate it {}: \"true\" here to move it",
                    prune::ADOPT_ANNOTATION
                ),
            )
        })
        .collect()
}

/// Ends a cycle whose revision failed validation: what was created for it is deleted
/// again, and nothing was applied.
fn validation_failed(
    cycle: &mut Cycle,
    s: &Applying,
    failures: Vec<ObjectFailure>,
) -> ControlFlow<End> {
    let mut lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
    lines.extend(
        apply::undo_created(cycle.ctx.client, &s.created)
            .iter()
            .map(ToString::to_string),
    );
    let message = format!(
        "revision {} failed validation; nothing was applied:\n{}",
        cycle.short(),
        lines.join("\n")
    );
    Break(End::Failed(Reason::ValidationFailed, message))
}
