//! Reconcile: one cycle of one sync, as an ordered list of steps, the same for
//! `plumb reconcile`, `plumb run` and (its render and prune decisions) `plumb diff`.
//!
//! A cycle opens (reads its parent: inventory and status), renders, and then runs the
//! steps of an apply ([`applying`]: validate, record the inventory, apply, prune,
//! health) or, when the revision is already in force, of a drift check ([`drifting`]).
//! Every step has one signature and either lets the cycle go on or ends it with a typed
//! [`End`]; every path that opened a cycle ends in [`Cycle::end`], the one place that
//! writes status, Events and the local state (and only when something changed). The
//! status and Event themselves are derived by the pure functions of [`outcome`].

use std::ops::ControlFlow;
use std::path::Path;

use serde_json::Value;

use crate::config;
use crate::kube::Cluster;
use crate::prune::{self, Inventory};
use crate::report;

mod applying;
mod dependencies;
mod drifting;
mod outcome;
mod rendering;
mod revision;
#[cfg(test)]
mod tests;

pub use outcome::{CycleReport, Event, Reason, Verdict};
pub use rendering::{render_revision_with, ChartKey};
pub use revision::{Revision, SyncMemory, Tree};

/// What a cycle needs from around it.
pub struct Context<'a> {
    /// The cluster.
    pub client: &'a dyn Cluster,
    /// The sync's settings.
    pub sync: &'a config::Sync,
    /// This node's name, for Events.
    pub node: &'a str,
    /// stateDir, for the local state.
    pub state_dir: &'a Path,
    /// A newer revision that was refused: this cycle only checks drift of the
    /// revision in force, and leaves the refusal in the status.
    pub refused: Option<&'a str>,
    /// Why the source could not be followed, when the commit reconciled is
    /// the last good one rather than the newest: SourceReady is False.
    pub source_failure: Option<&'a str>,
}

/// One cycle in progress: what every step reads and fills in, and what [`Cycle::end`]
/// writes.
struct Cycle<'c> {
    ctx: &'c Context<'c>,
    report: CycleReport,
    /// The parent ConfigMap as read (None: there is none yet).
    parent: Option<Value>,
    /// The inventory as read when the cycle opened: what prunes decide on.
    read: Inventory,
    /// The inventory the cycle ends with, written if it changed.
    inventory: Inventory,
    memory: &'c mut SyncMemory,
    /// The Event to post when the cycle ends, if any.
    event: Option<Event>,
    /// Who made the commit reconciled, for the history and Events (None for a folder).
    commit: Option<crate::history::CommitInfo>,
    /// The revision `plumb rollback` holds the sync at, as the parent says.
    pin: Option<crate::rollback::Pin>,
    /// The branch's commit, when a pin keeps it waiting.
    waiting: Option<String>,
}

/// How a step ends a cycle.
enum End {
    /// The cycle failed: not Ready, Stalled, for this reason.
    Failed(Reason, String),
    /// The cycle is over; its verdict and Event are in the cycle.
    Done,
}

/// Whether a cycle may write: a reconcile makes plumb-system when it is missing; a preview
/// (`plumb diff`) only reads.
#[derive(Clone, Copy)]
enum Opening {
    ToWrite,
    ToRead,
}

/// A step of a cycle: it carries `S` (what the steps before it found) and goes on or ends.
type Step<S> = for<'a, 'b> fn(&'a mut Cycle<'b>, &mut S) -> ControlFlow<End>;

/// Reads a sync's parent ConfigMap as a cycle opens it (making plumb-system first when the
/// cycle is to write).
fn read_parent(ctx: &Context, opening: Opening) -> Result<Option<Value>, String> {
    let ensured = match opening {
        Opening::ToWrite => report::ensure_system_namespace(ctx.client),
        Opening::ToRead => Ok(()),
    };
    ensured
        .and_then(|()| report::get_parent(ctx.client, &ctx.sync.name))
        .map_err(|e| format!("the status could not be read: {e}"))
}

fn unreadable(e: impl std::fmt::Display) -> String {
    format!("the parent ConfigMap is unreadable, so nothing was written: {e}")
}

impl<'c> Cycle<'c> {
    /// Opens a cycle on its parent as read. Without it a cycle could neither report nor
    /// prune safely: the error says why, and nothing is written.
    fn open(
        ctx: &'c Context<'c>,
        revision: &str,
        memory: &'c mut SyncMemory,
        parent: Result<Option<Value>, String>,
    ) -> Result<Cycle<'c>, String> {
        let parent = parent?;
        let (inventory, status) = report::read_parent(parent.as_ref()).map_err(unreadable)?;
        let pin = crate::rollback::read(parent.as_ref()).map_err(unreadable)?;
        let mut report = CycleReport::new(&ctx.sync.name, revision);
        report.status = status;
        Ok(Cycle {
            ctx,
            report,
            parent,
            read: inventory.clone(),
            inventory,
            memory,
            event: None,
            commit: None,
            pin,
            waiting: None,
        })
    }

    /// Runs steps in order until one ends the cycle; then ends it.
    fn run<S>(mut self, state: &mut S, steps: &[(&'static str, Step<S>)]) -> CycleReport {
        for (name, step) in steps {
            tracing::trace!(sync = %self.ctx.sync.name, step = name, "step");
            if let ControlFlow::Break(end) = step(&mut self, state) {
                return self.end(end);
            }
        }
        self.end(End::Done)
    }

    fn applyset_id(&self) -> String {
        prune::applyset_id(
            &prune::parent_name(&self.ctx.sync.name),
            prune::SYSTEM_NAMESPACE,
        )
    }

    fn short(&self) -> String {
        report::short(&self.report.revision).to_owned()
    }

    /// The one place a cycle ends: the status of a failure, then the parent (status and
    /// inventory) written when it changed, the Events posted (a failure identical to the
    /// last one posts nothing), and the local state saved when it changed.
    fn end(mut self, end: End) -> CycleReport {
        let now = crate::clock::now();
        let report = &mut self.report;
        if let End::Failed(reason, message) = end {
            outcome::failed(&mut report.status, reason, &message, &now);
            report.verdict = Verdict::Failed { reason, message };
        }
        let failure = outcome::failure_event(&mut report.status, &report.verdict, &now);
        let mut event = failure.or(self.event.take());
        if let (Some(event), Some(commit)) = (&mut event, &self.commit) {
            event.message = outcome::with_commit(&event.message, &report.revision, commit);
        }
        report.source_failure = self.ctx.source_failure.map(str::to_owned);
        let source_event =
            outcome::source_condition(&mut report.status, self.ctx.source_failure, &now);
        crate::rollback::condition(
            &mut report.status,
            self.pin.as_ref(),
            self.waiting.as_deref(),
            &now,
        );
        let (ctx, inventory) = (self.ctx, &self.inventory);
        let desired_parent = report::parent_object(&ctx.sync.name, inventory, &report.status);
        let mut parent_written = false;
        match report::write_parent(ctx.client, self.parent.as_ref(), &desired_parent) {
            Ok(wrote) => {
                parent_written = wrote;
                report.wrote |= wrote;
            }
            // Without its inventory written, what was applied could never be
            // pruned: the cycle failed, whatever it applied.
            Err(e) => {
                let why = format!(
                    "could not write the status and inventory ({} objects) to {}/{}: {e}",
                    inventory.members.len(),
                    prune::SYSTEM_NAMESPACE,
                    prune::parent_name(&ctx.sync.name)
                );
                report.verdict = match std::mem::replace(&mut report.verdict, Verdict::Ready) {
                    Verdict::Failed { reason, message } => Verdict::Failed {
                        reason,
                        message: format!("{message}; and {why}"),
                    },
                    _ => Verdict::Failed {
                        reason: Reason::ApplyFailed,
                        message: why,
                    },
                };
            }
        }
        let objects_changed =
            !report.applied.is_empty() || !report.pruned.is_empty() || !report.drifted.is_empty();
        if parent_written || objects_changed {
            let entry = crate::history::entry(report, self.commit.as_ref(), &now);
            match crate::history::append(ctx.client, &ctx.sync.name, entry, ctx.sync.history_limit)
            {
                Ok(written) => {
                    report.wrote |= written.is_some();
                    report.history = written;
                }
                Err(e) => report.warnings.push(format!(
                    "could not write the history to {}/{}: {e}",
                    prune::SYSTEM_NAMESPACE,
                    crate::history::history_name(&ctx.sync.name)
                )),
            }
        }
        for e in event.into_iter().chain(source_event) {
            let posted = report::post_event(
                ctx.client,
                &ctx.sync.name,
                ctx.node,
                e.severity,
                e.reason,
                &e.message,
            );
            match posted {
                Ok(()) => report.wrote = true,
                Err(e) => report
                    .warnings
                    .push(format!("could not post an Event: {e}")),
            }
        }
        report.commit = self.commit.clone();
        // Moved, not copied: the cycle is over with it, and the idle cycle stays cheap.
        report.inventory = Some(std::mem::take(&mut self.inventory.members));
        if let Some(data) = self.parent.as_ref().and_then(|p| p["data"].as_object()) {
            report.notified = data
                .iter()
                .filter_map(|(key, value)| {
                    let notifier = key.strip_prefix("notified-")?;
                    Some((notifier.to_owned(), value.as_str()?.to_owned()))
                })
                .collect();
        }
        match self.memory.save(ctx.state_dir, &ctx.sync.name) {
            Ok(wrote) => report.wrote |= wrote,
            Err(e) => report.warnings.push(format!(
                "could not save the local state in {}: {e}",
                ctx.state_dir.display()
            )),
        }
        self.report
    }
}

/// Runs one cycle of one sync.
pub fn run(ctx: &Context, revision: &Revision, memory: &mut SyncMemory) -> CycleReport {
    run_on(
        ctx,
        revision,
        memory,
        read_parent(ctx, Opening::ToWrite),
        None,
    )
}

/// Runs one cycle of one sync on its parent as read; `waiting` is the branch's commit
/// when a pin holds the sync at `revision` instead.
fn run_on(
    ctx: &Context,
    revision: &Revision,
    memory: &mut SyncMemory,
    parent: Result<Option<Value>, String>,
    waiting: Option<&str>,
) -> CycleReport {
    let mut cycle = match Cycle::open(ctx, &revision.id, memory, parent) {
        Ok(mut cycle) => {
            cycle.commit = revision.commit.clone();
            cycle.waiting = waiting.map(str::to_owned);
            cycle
        }
        Err(message) => {
            let mut report = CycleReport::new(&ctx.sync.name, &revision.id);
            report.verdict = Verdict::Failed {
                reason: Reason::StatusUnreadable,
                message,
            };
            return report;
        }
    };
    if ctx.sync.suspend {
        cycle.report.verdict = Verdict::Suspended;
        outcome::suspended(&mut cycle.report.status, &crate::clock::now());
        return cycle.end(End::Done);
    }
    let rendered = match rendering::render_for_cycle(ctx.client, ctx.sync, revision) {
        Ok(rendered) => rendered,
        Err(errors) => {
            let message = format!(
                "revision {} does not render:\n{}",
                cycle.short(),
                errors.join("\n")
            );
            return cycle.end(End::Failed(Reason::RenderFailed, message));
        }
    };
    cycle.report.rendered_charts = rendered.fresh;
    cycle.report.warnings = rendered.objects.1.clone();
    let manifests = &rendered.objects.0;
    let managed = cycle.read.members.len();
    if manifests.is_empty() && managed > 0 && !ctx.sync.allow_empty {
        let message = format!(
            "revision {} renders no objects while {managed} are managed: refusing to prune everything (check the sync's path, or set allowEmpty: true)",
            cycle.short(),
        );
        return cycle.end(End::Failed(Reason::EmptyRevision, message));
    }
    // A chart sync's values (valuesFrom) and the cluster's capabilities can change under
    // one revision: what is in force is the revision rendered from the inputs applied.
    let in_force = cycle.memory.applied.as_deref() == Some(revision.id.as_str())
        && cycle.report.status.revision.as_deref() == Some(&revision.id)
        && cycle.memory.chart_inputs == rendered.digest;
    if ctx.refused.is_some() && !in_force {
        // Only drift of the revision in force is ours to correct here.
        return cycle.report;
    }
    if in_force {
        cycle.run(&mut drifting::Checking::new(manifests), &drifting::steps())
    } else {
        let mut applying = applying::Applying::new(manifests, rendered.digest.clone());
        cycle.run(&mut applying, &applying::steps())
    }
}

/// What a cycle of `revision` would change, by the same sequence as a reconcile up to its
/// first write: open (read the parent), render, resolve, refuse other syncs' objects; then a
/// dry-run of each object against the live one and the prune decisions, instead of applying
/// and pruning (`plumb diff`). Writes nothing; errors are lines a person can act on.
pub fn preview(ctx: &Context, revision: &Revision) -> Result<crate::diff::Changes, Vec<String>> {
    let mut memory = SyncMemory::default();
    let parent = read_parent(ctx, Opening::ToRead);
    let mut cycle = Cycle::open(ctx, &revision.id, &mut memory, parent).map_err(|e| vec![e])?;
    let (manifests, _) =
        rendering::render_revision(Some(ctx.client), ctx.sync, revision, ChartKey::Read)?;
    let mut state = applying::Applying::new(&manifests, None);
    for (name, step) in applying::preview_steps() {
        tracing::trace!(sync = %ctx.sync.name, step = name, "preview step");
        match step(&mut cycle, &mut state) {
            ControlFlow::Continue(()) => {}
            ControlFlow::Break(End::Done) => break,
            ControlFlow::Break(End::Failed(_, message)) => return Err(vec![message]),
        }
    }
    Ok(state.preview)
}

/// How a cycle reaches its Git source: for as long as one step needs it
/// (reading a revision, pinning one), never across the apply and health wait,
/// so that syncs sharing a source don't wait for each other's cycles.
pub trait SourceAccess {
    /// Runs `step` with the source.
    fn with<R>(&mut self, step: impl FnOnce(&mut crate::source::GitSource) -> R) -> R;
}

impl SourceAccess for crate::source::GitSource {
    fn with<R>(&mut self, step: impl FnOnce(&mut crate::source::GitSource) -> R) -> R {
        step(self)
    }
}

/// One cycle of one sync given its source and the commit to reconcile (or
/// why there is none): reads the files, reconciles, pins what got applied.
/// When a newer revision is refused before anything of it was applied, drift
/// of the revision in force is still corrected.
pub fn sync_cycle(
    ctx: &Context,
    source: &mut impl SourceAccess,
    commit: Result<String, crate::source::SourceError>,
    memory: &mut SyncMemory,
) -> CycleReport {
    let commit = match commit {
        Ok(c) => c,
        Err(e) => {
            // Nothing was ever fetched: the source cannot be followed either.
            let why = e.to_string();
            let ctx = Context {
                source_failure: Some(&why),
                ..*ctx
            };
            return report_failure(&ctx, Reason::SourceFailed, why.clone());
        }
    };
    // The parent says whether a rollback pins the sync: read once, and handed to the cycle.
    let parent = read_parent(ctx, Opening::ToWrite);
    let pin = match &parent {
        Ok(parent) => crate::rollback::read(parent.as_ref()).unwrap_or_default(),
        Err(_) => None,
    };
    let (commit, waiting) = match &pin {
        Some(pin) if pin.revision != commit => (pin.revision.clone(), Some(commit)),
        _ => (commit, None),
    };
    if !ctx.sync.suspend {
        let revision = pin.is_none().then_some(commit.as_str());
        if let Some(why) = dependencies::check(ctx.client, ctx.sync, revision) {
            return report_failure(ctx, Reason::DependencyNotReady, why);
        }
    }
    // Once in force, the clone keeps the pinned commit: only going back needs a look.
    if pin.is_some() && source.with(|s| s.in_force(&ctx.sync.name) != Some(commit.as_str())) {
        if let Err(e) = source.with(|s| s.ensure_commit(&commit)) {
            return report_failure(ctx, Reason::SourceFailed, e.to_string());
        }
    }
    let revision = match source.with(|s| Revision::read(s, ctx.sync, &commit)) {
        Ok(r) => r,
        Err(e) => return report_failure(ctx, Reason::SourceFailed, e.to_string()),
    };
    let mut report = run_on(ctx, &revision, memory, parent, waiting.as_deref());
    drop(revision);
    match &report.verdict {
        Verdict::Ready | Verdict::Stalled(_) => {
            let keep = ctx.sync.history_limit;
            if let Err(e) = source.with(|s| s.record_in_force(&ctx.sync.name, &commit, keep)) {
                report.warnings.push(e.to_string());
            }
        }
        Verdict::Failed { .. } => {
            let refused_before_apply = report.applied.is_empty();
            if let Some(in_force) = source
                .with(|s| s.in_force(&ctx.sync.name).map(str::to_owned))
                .filter(|p| *p != commit && refused_before_apply)
            {
                if let Ok(in_force) = source.with(|s| Revision::read(s, ctx.sync, &in_force)) {
                    let fallback = Context {
                        refused: Some(&commit),
                        ..*ctx
                    };
                    let parent = read_parent(&fallback, Opening::ToWrite);
                    let drift = run_on(&fallback, &in_force, memory, parent, waiting.as_deref());
                    report.drifted = drift.drifted;
                    report.warnings.extend(drift.warnings);
                }
            }
        }
        Verdict::Suspended => {}
    }
    report
}

/// Records a failure that happened before a revision could be read (the
/// source failed): the status says so; nothing is applied or pruned. An
/// unreadable parent is reported and left alone, as a cycle does: an empty
/// inventory written over it would orphan every managed object.
pub fn report_failure(ctx: &Context, reason: Reason, message: String) -> CycleReport {
    let mut memory = SyncMemory::load(ctx.state_dir, &ctx.sync.name);
    let parent = read_parent(ctx, Opening::ToWrite);
    let mut cycle = match Cycle::open(ctx, "", &mut memory, parent) {
        Ok(cycle) => cycle,
        Err(why) => {
            let mut report = CycleReport::new(&ctx.sync.name, "");
            report.verdict = Verdict::Failed {
                reason,
                message: format!("{message}; and {why}"),
            };
            return report;
        }
    };
    cycle.report.revision = cycle.report.status.revision.clone().unwrap_or_default();
    cycle.end(End::Failed(reason, message))
}

/// What `plumb forget` did.
#[derive(Debug, Default)]
pub struct Forgotten {
    /// Objects deleted (or already gone).
    pub deleted: Vec<crate::render::ObjectRef>,
    /// Objects left for good, with why (another owner, a default namespace).
    pub kept: Vec<(crate::render::ObjectRef, String)>,
    /// How many stay in the inventory until what holds them is gone (a Namespace or CRD
    /// holding objects that are not the sync's), or because their delete failed.
    pub held: usize,
    /// Whether the parent went too: nothing of the sync is left to forget.
    pub parent_deleted: bool,
}

/// Deletes what a sync's inventory lists, as a prune of everything would (objects first,
/// then CRDs, then Namespaces; one that holds what is not the sync's stays), then its
/// parent; while something is held, the parent stays with the held objects in it.
pub fn forget(client: &dyn Cluster, sync: &str) -> Result<Forgotten, crate::error::Error> {
    use crate::error::Error;
    let Some(parent) = report::get_parent(client, sync)? else {
        return Err(Error::Usage(format!(
            "no sync '{sync}' in the cluster: {}/{} does not exist",
            prune::SYSTEM_NAMESPACE,
            prune::parent_name(sync)
        )));
    };
    let (inventory, status) =
        report::read_parent(Some(&parent)).map_err(|source| Error::UnreadableStatus {
            sync: sync.to_owned(),
            source,
        })?;
    let id = prune::applyset_id(&prune::parent_name(sync), prune::SYSTEM_NAMESPACE);
    let nothing = std::collections::BTreeSet::new();
    let mut forgotten = Forgotten::default();
    let mut remaining = Vec::new();
    for candidate in prune::prune_candidates(&inventory, &nothing) {
        match prune::prune_one(client, &candidate, &id, &inventory, &nothing) {
            Ok(prune::PruneDecision::Delete | prune::PruneDecision::Gone) => {
                forgotten.deleted.push(candidate)
            }
            Ok(prune::PruneDecision::Keep(why)) => forgotten.kept.push((candidate, why)),
            Ok(prune::PruneDecision::Hold(why)) => {
                forgotten.kept.push((candidate.clone(), why));
                remaining.push(candidate);
            }
            Err(e) => {
                forgotten
                    .kept
                    .push((candidate.clone(), format!("could not delete: {e}")));
                remaining.push(candidate);
            }
        }
    }
    forgotten.held = remaining.len();
    if remaining.is_empty() {
        client.delete(
            &crate::kube::ApiResource::config_map(),
            Some(prune::SYSTEM_NAMESPACE),
            &prune::parent_name(sync),
            crate::kube::Propagation::Background,
        )?;
        crate::history::delete(client, sync)?;
        forgotten.parent_deleted = true;
    } else {
        let inventory = prune::next_inventory(&Default::default(), &remaining);
        let desired = report::parent_object(sync, &inventory, &status);
        report::write_parent(client, Some(&parent), &desired)?;
    }
    Ok(forgotten)
}
