//! The steps of a cycle whose revision is in force: resolve, list what lives, compare and
//! correct drift, retry prunes held back, and derive the status (which an idle cycle
//! leaves as it is: no write).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow::{self, Break, Continue};

use serde_json::Value;

use super::outcome::{self, Drifted, Reason, Settle, Verdict};
use super::{Cycle, End, Step};
use crate::apply::{self, Target};
use crate::drift::{self, Drift};
use crate::health;
use crate::kube::{ApiResource, ApplyOptions};
use crate::plan::hooks;
use crate::plan::{self, DriftCheck, LiveState};
use crate::prune::{self, Inventory, PruneDecision};
use crate::render::{self, Manifest, ObjectRef};

/// What a drift cycle carries from step to step.
pub(super) struct Checking<'m> {
    /// The rendered objects of the revision in force.
    manifests: &'m [Manifest],
    /// What drift and health follow: neither a chart's hooks (they run when the chart
    /// changes, and may delete themselves) nor a `Skip` chart CRD.
    targets: Vec<Target<'m>>,
    /// Metadata of this sync's live objects.
    live: BTreeMap<ObjectRef, Value>,
    /// Prunes held back that went now, for the Event.
    released: bool,
}

impl<'m> Checking<'m> {
    pub(super) fn new(manifests: &'m [Manifest]) -> Checking<'m> {
        Checking {
            manifests,
            targets: Vec::new(),
            live: BTreeMap::new(),
            released: false,
        }
    }
}

/// The steps, in order.
pub(super) fn steps<'m>() -> [(&'static str, Step<Checking<'m>>); 5] {
    [
        ("resolve", resolve),
        ("list live objects", list_live),
        ("compare and correct", correct_drift),
        ("retry held prunes", retry_held),
        ("status", status),
    ]
}

fn resolve(cycle: &mut Cycle, s: &mut Checking) -> ControlFlow<End> {
    match apply::resolve(cycle.ctx.client, s.manifests) {
        Ok(targets) => {
            s.targets = targets
                .into_iter()
                .filter(|t| t.manifest.chart_crd != Some(render::helm::CrdPolicy::Skip))
                .filter(|t| hooks::hook_of(&t.manifest.object).is_none())
                .collect();
            Continue(())
        }
        Err(failures) => {
            let lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
            Break(End::Failed(Reason::DriftCheckFailed, lines.join("\n")))
        }
    }
}

fn list_live(cycle: &mut Cycle, s: &mut Checking) -> ControlFlow<End> {
    let resources: BTreeSet<ApiResource> = s.targets.iter().map(|t| t.resource.clone()).collect();
    let selector = format!("{}={}", prune::PART_OF_LABEL, cycle.applyset_id());
    match prune::list_labelled(cycle.ctx.client, &resources, &selector) {
        Ok(live) => {
            s.live = live;
            Continue(())
        }
        Err(e) => Break(End::Failed(Reason::DriftCheckFailed, e.to_string())),
    }
}

fn correct_drift(cycle: &mut Cycle, s: &mut Checking) -> ControlFlow<End> {
    let client = cycle.ctx.client;
    let report = &mut cycle.report;
    let live_prints: BTreeMap<ObjectRef, String> = s
        .live
        .iter()
        .map(|(k, m)| (k.clone(), plan::fingerprint(m)))
        .collect();
    let hooks = s
        .manifests
        .iter()
        .filter(|m| hooks::hook_of(&m.object).is_some())
        .count();
    let desired: Vec<ObjectRef> = s
        .manifests
        .iter()
        .filter(|m| hooks::hook_of(&m.object).is_none())
        .map(Manifest::key)
        .collect();
    let mut fingerprints = cycle.memory.fingerprint_map();
    let states = plan::live_states(&desired, &fingerprints, &live_prints);
    report.unchanged = hooks
        + states
            .values()
            .filter(|s| **s == LiveState::Unchanged)
            .count();
    for t in &s.targets {
        let key = t.manifest.key();
        let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
        let state = &states[&key];
        match plan::drift_check(t.manifest.chart_crd, state, fingerprints.contains_key(&key)) {
            DriftCheck::Compare => {}
            DriftCheck::Leave => {
                if *state != LiveState::Unchanged {
                    report.unchanged += 1;
                }
                continue;
            }
            DriftCheck::ConfirmGone => match client.get(&t.resource, ns, &key.name) {
                Ok(None) => {}
                Ok(Some(_)) => {
                    // There, without plumb's label: someone's now; not looked for again.
                    fingerprints.remove(&key);
                    report.unchanged += 1;
                    continue;
                }
                Err(e) => {
                    report.warnings.push(format!("could not read {key}: {e}"));
                    continue;
                }
            },
        }
        let found = match state {
            LiveState::Unchanged => continue,
            LiveState::Missing => Some(Drift::deleted(key.clone())),
            LiveState::Moved => match drift::precise_drift(client, t) {
                Ok(d) => d,
                Err(e) => {
                    report.warnings.push(apply::redact_secret_values(
                        &t.manifest.object,
                        format!("could not compare {key}: {e}"),
                    ));
                    continue;
                }
            },
        };
        let Some(found) = found else {
            // Moved for reasons that don't matter (a controller's annotation).
            report.unchanged += 1;
            if let Some(print) = live_prints.get(&key) {
                fingerprints.insert(key, print.clone());
            }
            continue;
        };
        if cycle.ctx.sync.self_heal {
            let options = ApplyOptions {
                force: true,
                dry_run: false,
            };
            match client.apply(&t.resource, &t.manifest.object, options) {
                Ok(after) => {
                    fingerprints.insert(key.clone(), plan::fingerprint(&after["metadata"]));
                    report.applied.push(key);
                }
                Err(e) => report.warnings.push(apply::redact_secret_values(
                    &t.manifest.object,
                    format!("could not correct drift of {key}: {e}"),
                )),
            }
        }
        report.drifted.push(found);
    }
    cycle.memory.fingerprints = fingerprints.into_iter().collect();
    Continue(())
}

/// Objects held back from a prune (a Namespace or CRD still holding what plumb doesn't
/// manage) stay in the inventory; each drift cycle tries them again, so they go once what
/// they held is gone.
fn retry_held(cycle: &mut Cycle, s: &mut Checking) -> ControlFlow<End> {
    let desired: BTreeSet<ObjectRef> = s.manifests.iter().map(Manifest::key).collect();
    let held = prune::prune_candidates(&cycle.read, &desired);
    if !cycle.ctx.sync.prune || held.is_empty() || cycle.ctx.refused.is_some() {
        return Continue(());
    }
    let id = cycle.applyset_id();
    let report = &mut cycle.report;
    let mut members = cycle.read.members.clone();
    let mut kept = Vec::new();
    for candidate in held {
        match prune::prune_one(cycle.ctx.client, &candidate, &id, &cycle.read, &desired) {
            Ok(PruneDecision::Delete) => {
                members.remove(&candidate);
                report.pruned.push(candidate);
                s.released = true;
            }
            Ok(PruneDecision::Gone) => {
                members.remove(&candidate);
                s.released = true;
            }
            Ok(PruneDecision::Keep(why)) => {
                members.remove(&candidate);
                kept.push(format!("{candidate}: {why}"));
                report.kept.push((candidate, why));
                s.released = true;
            }
            Ok(PruneDecision::Hold(why)) => kept.push(format!("{candidate}: {why}")),
            Err(e) => report
                .warnings
                .push(format!("could not prune {candidate}: {e}")),
        }
    }
    report.status.kept = kept;
    if s.released {
        report.status.counts.pruned = report.pruned.len();
    }
    cycle.inventory = Inventory { members };
    Continue(())
}

fn status(cycle: &mut Cycle, s: &mut Checking) -> ControlFlow<End> {
    let now = crate::clock::now();
    let report = &mut cycle.report;
    if !report.drifted.is_empty() {
        report.status.counts.drifted = report.drifted.len();
        report.status.counts.applied = report.applied.len();
        report.status.counts.unchanged = report.unchanged;
        report.status.counts.pruned = 0;
        let found = Drifted {
            revision: &report.revision,
            drifted: &report.drifted,
            corrected: report.applied.len(),
            self_heal: cycle.ctx.sync.self_heal,
            refused: cycle.ctx.refused,
        };
        let (verdict, event) = outcome::drifted(&mut report.status, found, &now);
        report.verdict = verdict;
        cycle.event = Some(event);
        return Break(End::Done);
    }
    if s.released {
        cycle.event = Some(outcome::released_event(&report.revision, &report.pruned));
        return Break(End::Done);
    }
    let settle = outcome::settle(
        &report.status,
        cycle.ctx.refused.is_some(),
        cycle.ctx.sync.wait,
    );
    if let Settle::RecheckHealth(message) = &settle {
        let lines = health::wait::wait_healthy(
            cycle.ctx.client,
            &s.targets,
            &cycle.ctx.sync.health_check_conditions,
            Default::default(),
        );
        if !lines.is_empty() {
            report.verdict = Verdict::Stalled(message.clone());
            return Break(End::Done);
        }
    }
    if settle != Settle::Leave {
        cycle.event = Some(outcome::settled(&mut report.status, &report.revision, &now));
    }
    // Idle: the parent and status stay as they are; only changed fingerprints are saved.
    Break(End::Done)
}
