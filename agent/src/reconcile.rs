//! Reconcile: one cycle of one sync, as a thin sequence of stages —
//! render → validate → apply → prune → health → report — or, when the
//! revision is already in force, a cheap drift check.
//!
//! Each stage is a function in its own module; this one only orders them,
//! carries their results, and always ends in [`finish`], the one place that
//! writes status, Events and the local state (and only when something changed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apply::{self, ClusterScopes, Created, ObjectFailure, Target};
use crate::config;
use crate::config::Render;
use crate::health::{self, Health};
use crate::kube::{ApiResource, ApplyOptions, Client};
use crate::plan::hooks::{self, HookRun, Phase};
use crate::plan::{self, DriftCheck, LiveState};
use crate::prune::{self, Inventory, PruneDecision};
use crate::render::kustomize::{DirFs, MemFs};
use crate::render::{self, external, File, Manifest, ObjectRef, OfflineScopes};
use crate::report::{self, Severity, SyncStatus};

/// The revision to reconcile: its id (a commit), the manifests under the
/// sync's path, and where render reads them from.
#[derive(Debug, Clone)]
pub struct Revision {
    /// Commit id, or another stable id for a plain folder.
    pub id: String,
    /// The manifests `render::select` chose under the sync's path, sorted
    /// (paths relative to the revision's top).
    pub selected: Vec<String>,
    /// Where their contents are.
    pub tree: Tree,
}

/// Where render reads a revision's files.
#[derive(Debug, Clone)]
pub enum Tree {
    /// In memory: the selected files, and every other file of a Git revision
    /// when a kustomization is among them (it may refer to any folder).
    Files(Vec<File>),
    /// A folder on disk (`plumb render DIR`), read as needed.
    Folder(PathBuf),
}

impl Revision {
    /// Reads what `sync` renders at `commit`.
    pub fn read(
        source: &mut crate::source::GitSource,
        sync: &config::Sync,
        commit: &str,
    ) -> Result<Revision, crate::source::SourceError> {
        let mut files = source.files(commit, &sync.path, &sync.exclude)?;
        let selected: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        if selected
            .iter()
            .any(|p| render::is_kustomization(p) || render::helm::is_chart_file(p))
        {
            let rest = source.other_files(commit, &files)?;
            files.extend(rest);
        }
        Ok(Revision {
            id: commit.to_owned(),
            selected,
            tree: Tree::Files(files),
        })
    }
}

/// What a sync remembers between cycles; kept in memory by the daemon and
/// in `stateDir/syncs/<name>.json` for one-shot runs and restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMemory {
    /// The revision in force.
    #[serde(default)]
    pub applied: Option<String>,
    /// Fingerprint of each object, taken after plumb's own apply or check.
    #[serde(default)]
    pub fingerprints: Vec<(ObjectRef, String)>,
    /// Hash of each object as plumb last applied it, so unchanged ones are not sent again.
    #[serde(default)]
    pub applied_hashes: Vec<(ObjectRef, String)>,
    /// For a revision with charts, the digest of the chart inputs it was applied with
    /// (values read from the cluster, capabilities): a change is applied as a new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_inputs: Option<String>,
}

impl SyncMemory {
    fn path(state_dir: &Path, sync: &str) -> PathBuf {
        state_dir.join("syncs").join(format!("{sync}.json"))
    }

    /// Reads the local state; a missing or unreadable file is an empty memory.
    pub fn load(state_dir: &Path, sync: &str) -> SyncMemory {
        std::fs::read(Self::path(state_dir, sync))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the local state atomically, only when it changed.
    pub fn save(&self, state_dir: &Path, sync: &str) -> std::io::Result<bool> {
        let path = Self::path(state_dir, sync);
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        let bytes = serde_json::to_vec(self).expect("serialisable");
        crate::store::write_if_changed(&path, &bytes)
    }

    fn fingerprint_map(&self) -> BTreeMap<ObjectRef, String> {
        self.fingerprints.iter().cloned().collect()
    }
}

/// How a cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Applied (or already in force) and healthy.
    Ready,
    /// Applied, but health did not become ready within the timeout.
    Stalled(String),
    /// Nothing from the revision was applied (or only part, on an apply error).
    Failed(String),
    /// The sync is suspended.
    Suspended,
}

/// One object found drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Which object.
    pub object: ObjectRef,
    /// Fields that differ from Git ("deleted" when the object is gone).
    pub fields: Vec<String>,
    /// Field managers that own those fields now.
    pub managers: Vec<String>,
}

/// What one cycle did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    /// The sync.
    pub sync: String,
    /// The revision reconciled.
    pub revision: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Objects created or changed.
    pub applied: Vec<ObjectRef>,
    /// Objects already as Git says.
    pub unchanged: usize,
    /// Objects deleted.
    pub pruned: Vec<ObjectRef>,
    /// Prune candidates kept, with the reason.
    pub kept: Vec<(ObjectRef, String)>,
    /// Drift found.
    pub drifted: Vec<Drift>,
    /// Fields taken from other managers, by object.
    pub conflicts: BTreeMap<ObjectRef, Vec<String>>,
    /// Warnings (unknown kinds, failed Event posts).
    pub warnings: Vec<String>,
    /// Whether the cycle wrote anything (cluster or disk).
    pub wrote: bool,
    /// Whether the cycle rendered the sync's charts (a revision with charts renders once per
    /// change of its inputs).
    pub rendered_charts: bool,
    /// Why the source could not be followed (the last good revision was
    /// reconciled instead of the newest): SourceReady=False, not Ready.
    pub source_failure: Option<String>,
    /// The status as reported.
    pub status: SyncStatus,
}

impl CycleReport {
    fn new(sync: &str, revision: &str) -> CycleReport {
        CycleReport {
            sync: sync.to_owned(),
            revision: revision.to_owned(),
            verdict: Verdict::Ready,
            applied: Vec::new(),
            unchanged: 0,
            pruned: Vec::new(),
            kept: Vec::new(),
            drifted: Vec::new(),
            conflicts: BTreeMap::new(),
            warnings: Vec::new(),
            wrote: false,
            rendered_charts: false,
            source_failure: None,
            status: SyncStatus::default(),
        }
    }

    /// True when the cycle ended Ready.
    pub fn is_ready(&self) -> bool {
        self.verdict == Verdict::Ready && self.source_failure.is_none()
    }

    /// One line for logs and the CLI.
    pub fn summary(&self) -> String {
        let rev = report::short(&self.revision);
        match &self.verdict {
            Verdict::Suspended => format!("{}: suspended", self.sync),
            Verdict::Failed(m) => format!("{}: revision {rev} failed: {m}", self.sync),
            v => {
                let mut parts = vec![
                    format!("{} applied", self.applied.len()),
                    format!("{} unchanged", self.unchanged),
                ];
                if !self.pruned.is_empty() {
                    parts.push(format!("{} pruned", self.pruned.len()));
                }
                if !self.drifted.is_empty() {
                    parts.push(format!("{} drifted", self.drifted.len()));
                }
                let state = match v {
                    Verdict::Stalled(m) => format!("not ready: {m}"),
                    _ => "Ready".into(),
                };
                let source = match &self.source_failure {
                    Some(why) => format!("; but the source cannot be followed: {why}"),
                    None => String::new(),
                };
                format!(
                    "{}: revision {rev} {state} ({}){source}",
                    self.sync,
                    parts.join(", ")
                )
            }
        }
    }
}

/// What a cycle needs from around it.
pub struct Context<'a> {
    /// The cluster.
    pub client: &'a Client,
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

/// Where a render's charts get the key that seeds their generated values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKey {
    /// No cluster (`plumb render`, `plumb validate`): a fixed key, so generated values
    /// differ from the cluster's.
    Offline,
    /// The cluster's key if it has one, else the fixed key (`plumb diff` changes nothing).
    Read,
    /// The cluster's key, made on first use (a reconcile).
    Ensure,
}

/// Renders a revision into objects (discovery decides scopes, with the
/// revision's CRDs as fallback). Errors are lines a person can act on.
pub fn render_revision(
    client: Option<&Client>,
    sync: &config::Sync,
    revision: &Revision,
    key: ChartKey,
) -> Result<(Vec<Manifest>, Vec<String>), Vec<String>> {
    render_revision_with(client, sync, revision, key, &[])
}

/// [`render_revision`] with more values over every chart's defaults, after the sync's own
/// (`plumb render DIR --values FILE`).
pub fn render_revision_with(
    client: Option<&Client>,
    sync: &config::Sync,
    revision: &Revision,
    key: ChartKey,
    more_values: &[render::helm::ValuesLayer],
) -> Result<Rendered, Vec<String>> {
    let chart = chart_inputs(client, sync, revision, key, more_values)?;
    render_with(client, sync, revision, chart)
}

/// How a revision's charts render (nothing of it read from the cluster without charts): the
/// seed key, the cluster's capabilities and the sync's values, `valuesFrom` read.
fn chart_inputs(
    client: Option<&Client>,
    sync: &config::Sync,
    revision: &Revision,
    key: ChartKey,
    more_values: &[render::helm::ValuesLayer],
) -> Result<render::helm::ChartSettings, Vec<String>> {
    let has_charts = !render::helm::chart_roots(&revision.selected).is_empty();
    // Only a revision with charts asks the cluster for their key and capabilities; the
    // node's helm seeds nothing, so it needs no key.
    let (key, cluster) = match client {
        Some(client) if has_charts && key != ChartKey::Offline => {
            let key = if sync.render == Render::HelmExternal {
                [0; 32]
            } else {
                crate::report::chart_key(client, key == ChartKey::Ensure).map_err(|e| {
                    vec![format!("the key that seeds charts' generated values: {e}")]
                })?
            };
            let capabilities = cluster_capabilities(client)
                .map_err(|e| vec![format!("the cluster's capabilities for charts: {e}")])?;
            (key, Some(capabilities))
        }
        _ => ([0; 32], None),
    };
    let (mem, dir);
    let fs: &dyn render::kustomize::Fs = match &revision.tree {
        Tree::Files(files) => {
            mem = MemFs::new(files);
            &mem
        }
        Tree::Folder(root) => {
            dir = DirFs { root: root.clone() };
            &dir
        }
    };
    let mut chart = chart_settings(client, sync, fs, key)?;
    chart.values.extend(more_values.iter().cloned());
    chart.cluster = cluster;
    if sync.render == Render::HelmExternal {
        chart.external = Some(render::helm::ExternalHelm {
            base: external::runtime_dir(),
            timeout: sync.timeout,
        });
    }
    Ok(chart)
}

/// A digest of everything a chart sync's render depends on: the revision, the sync's
/// settings, and the chart inputs (values read from the cluster, capabilities, key).
fn inputs_digest(
    sync: &config::Sync,
    revision: &Revision,
    chart: &render::helm::ChartSettings,
) -> String {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        revision.id.clone(),
        revision.selected.join("\n"),
        format!("{sync:?}"),
        format!("{chart:?}"),
    ] {
        digest.update(&(part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    digest
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A render's objects and warnings.
type Rendered = (Vec<Manifest>, Vec<String>);

/// What a reconcile renders: a revision with charts renders once per change of its inputs
/// ([`inputs_digest`]); an idle cycle takes the last render (kept for each sync as long as
/// the process runs) and renders nothing. The digest, for a revision with charts.
fn render_for_cycle(
    client: &Client,
    sync: &config::Sync,
    revision: &Revision,
) -> Result<(std::sync::Arc<Rendered>, Option<String>, bool), Vec<String>> {
    use std::sync::{Arc, Mutex};
    type Last = BTreeMap<String, (String, Arc<Rendered>)>;
    static LAST: Mutex<Last> = Mutex::new(BTreeMap::new());
    let chart = chart_inputs(Some(client), sync, revision, ChartKey::Ensure, &[])?;
    if render::helm::chart_roots(&revision.selected).is_empty() {
        let rendered = render_with(Some(client), sync, revision, chart)?;
        return Ok((Arc::new(rendered), None, false));
    }
    let digest = inputs_digest(sync, revision, &chart);
    let last = LAST
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&sync.name)
        .cloned();
    if let Some((seen, rendered)) = last {
        if seen == digest {
            return Ok((rendered, Some(digest), false));
        }
    }
    // The previous render goes first: two full renders are never held at once.
    LAST.lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&sync.name);
    let rendered = Arc::new(render_with(Some(client), sync, revision, chart)?);
    LAST.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(sync.name.clone(), (digest.clone(), rendered.clone()));
    Ok((rendered, Some(digest), true))
}

/// Renders a revision with its charts' inputs.
fn render_with(
    client: Option<&Client>,
    sync: &config::Sync,
    revision: &Revision,
    chart: render::helm::ChartSettings,
) -> Result<Rendered, Vec<String>> {
    let lines = |e: Vec<render::RenderError>| e.iter().map(ToString::to_string).collect::<Vec<_>>();
    let selected = &revision.selected;
    let (mem, dir);
    let fs: &dyn render::kustomize::Fs = match &revision.tree {
        Tree::Files(files) => {
            mem = MemFs::new(files);
            &mem
        }
        Tree::Folder(root) => {
            dir = DirFs { root: root.clone() };
            &dir
        }
    };
    let parsed = match (&revision.tree, sync.render) {
        // Charts go to the node's helm (chart.external); kustomizations stay built in.
        (_, Render::Auto | Render::HelmExternal) => render::parse_tree(fs, selected, &chart),
        (Tree::Files(files), Render::KustomizeExternal) => {
            let base = external::runtime_dir();
            let build = &mut |dir: &str| {
                external_output(
                    dir,
                    external::build_revision(
                        &base,
                        &sync.name,
                        &revision.id,
                        files,
                        dir,
                        sync.timeout,
                    ),
                )
            };
            render::parse_tree_with(fs, selected, build, &chart)
        }
        (Tree::Folder(root), Render::KustomizeExternal) => {
            let build = &mut |dir: &str| {
                external_output(dir, external::build_folder(root, dir, sync.timeout))
            };
            render::parse_tree_with(fs, selected, build, &chart)
        }
    }
    .map_err(lines)?;
    let offline = OfflineScopes::with_crds(parsed.iter().map(|m| &m.object));
    let id = prune::applyset_id(&prune::parent_name(&sync.name), prune::SYSTEM_NAMESPACE);
    let labels = BTreeMap::from([(prune::PART_OF_LABEL.to_owned(), id)]);
    let defaults = render::Defaults {
        namespace: &chart.namespace,
        labels: &labels,
    };
    let result = match client {
        Some(client) => render::finish(parsed, &defaults, &ClusterScopes { client, offline }),
        None => render::finish(parsed, &defaults, &offline),
    };
    result.map_err(lines)
}

/// What the cluster tells charts' `.Capabilities`, asked at most every ten minutes (an
/// upgraded API server or a new CRD shows within that), so that idle cycles ask nothing.
fn cluster_capabilities(
    client: &Client,
) -> Result<render::helm::ClusterCapabilities, crate::kube::Error> {
    type Cached = Option<(std::time::Instant, render::helm::ClusterCapabilities)>;
    static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
    const FRESH: Duration = Duration::from_secs(600);
    if let Some((at, caps)) = &*CACHE.lock().unwrap_or_else(|e| e.into_inner()) {
        if at.elapsed() < FRESH {
            return Ok(caps.clone());
        }
    }
    let caps = render::helm::ClusterCapabilities {
        kube_version: client.version()?.git_version,
        api_versions: client.api_versions()?,
    };
    *CACHE.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((std::time::Instant::now(), caps.clone()));
    Ok(caps)
}

/// How this sync's charts render: a chart folder under a plain sync's path with its
/// defaults; a `helm` sync's chart with its release, values and capabilities, its
/// `valuesFrom` read from plumb-system (none without a cluster: `plumb render` says so).
fn chart_settings(
    client: Option<&Client>,
    sync: &config::Sync,
    fs: &dyn render::kustomize::Fs,
    key: [u8; 32],
) -> Result<render::helm::ChartSettings, Vec<String>> {
    use render::helm::{ChartSettings, ValuesLayer};
    let Some(helm) = &sync.helm else {
        return Ok(ChartSettings::defaults(&sync.name, &sync.namespace, key));
    };
    let namespace = helm.target_namespace.as_deref().unwrap_or(&sync.namespace);
    let mut settings = ChartSettings::defaults(&helm.release_name, namespace, key);
    let mut errors = Vec::new();
    if fs
        .read(format!("{}/Chart.yaml", helm.chart).trim_start_matches('/'))
        .is_none()
    {
        errors.push(format!("helm.chart '{}' holds no Chart.yaml", helm.chart));
    }
    for path in &helm.values_files {
        match fs.read(path).map(String::from_utf8) {
            Some(Ok(text)) => settings.values_files.push((path.clone(), text)),
            Some(Err(_)) => errors.push(format!("{path}: not UTF-8 (helm.valuesFiles)")),
            None => errors.push(format!(
                "{path}: no such file in the revision (helm.valuesFiles)"
            )),
        }
    }
    for reference in &helm.values_from {
        match values_from(client, reference) {
            Ok(Some(layer)) => settings.values.push(layer),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    settings.values.push(ValuesLayer::Json(helm.values.clone()));
    settings.kube_version = helm.kube_version.clone();
    settings.api_versions = helm.api_versions.clone();
    settings.crds = helm.crds;
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}

/// One `valuesFrom` entry read from plumb-system; None when it is optional and missing.
fn values_from(
    client: Option<&Client>,
    reference: &config::ValuesReference,
) -> Result<Option<render::helm::ValuesLayer>, String> {
    use render::helm::ValuesLayer;
    let what = format!(
        "helm.valuesFrom: {:?} {}/{} key {}",
        reference.kind,
        prune::SYSTEM_NAMESPACE,
        reference.name,
        reference.values_key
    );
    let Some(client) = client else {
        return Err(format!(
            "{what}: read from the cluster only (plumb render has none)"
        ));
    };
    let resource = match reference.kind {
        config::ValuesKind::ConfigMap => ApiResource::config_map(),
        config::ValuesKind::Secret => ApiResource::secret(),
    };
    let object = client
        .get(&resource, Some(prune::SYSTEM_NAMESPACE), &reference.name)
        .map_err(|e| format!("{what}: {e}"))?;
    let text = object.as_ref().and_then(|o| match reference.kind {
        config::ValuesKind::ConfigMap => {
            o["data"][&reference.values_key].as_str().map(str::to_owned)
        }
        config::ValuesKind::Secret => {
            use base64::Engine as _;
            let encoded = o["data"][&reference.values_key].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            String::from_utf8(bytes).ok()
        }
    });
    match (text, &reference.target_path) {
        (None, _) if reference.optional => Ok(None),
        (None, _) => Err(format!("{what}: missing (set optional: true if it may be)")),
        (Some(value), Some(path)) => Ok(Some(ValuesLayer::At {
            path: path.clone(),
            value,
        })),
        (Some(text), None) => Ok(Some(ValuesLayer::Yaml { origin: what, text })),
    }
}

/// An external build's output, parsed; a failure names the folder.
fn external_output(
    dir: &str,
    output: Result<File, external::ExternalError>,
) -> Result<Vec<Manifest>, Vec<render::RenderError>> {
    match output {
        Ok(file) => render::parse_file(&file).map(|objects| {
            objects
                .into_iter()
                .map(|m| Manifest {
                    kustomized: true,
                    chart_crd: None,
                    ..m
                })
                .collect()
        }),
        Err(e) => Err(vec![render::RenderError::Kustomize {
            at: if dir.is_empty() {
                ".".into()
            } else {
                dir.to_owned()
            },
            message: e.to_string(),
        }]),
    }
}

/// Runs one cycle of one sync.
pub fn run(ctx: &Context, revision: &Revision, memory: &mut SyncMemory) -> CycleReport {
    let mut report = CycleReport::new(&ctx.sync.name, &revision.id);
    let parent = match report::ensure_system_namespace(ctx.client)
        .and_then(|()| report::get_parent(ctx.client, &ctx.sync.name))
    {
        Ok(p) => p,
        Err(e) => {
            // Without the parent we can neither report nor prune safely.
            report.verdict = Verdict::Failed(e.to_string());
            return report;
        }
    };
    let (inventory, status) = match report::read_parent(parent.as_ref()) {
        Ok(x) => x,
        Err(e) => {
            report.verdict = Verdict::Failed(format!("the parent ConfigMap is unreadable: {e}"));
            return report;
        }
    };
    report.status = status;
    if ctx.sync.suspend {
        report.verdict = Verdict::Suspended;
        let now = report::now();
        report
            .status
            .set_condition("Ready", false, "Suspended", "the sync is suspended", &now);
        report
            .status
            .set_condition("Reconciling", false, "Suspended", "", &now);
        return finish(ctx, report, parent.as_ref(), inventory, memory, None);
    }
    let (rendered, chart_inputs) = match render_for_cycle(ctx.client, ctx.sync, revision) {
        Ok((rendered, digest, fresh)) => {
            report.rendered_charts = fresh;
            (rendered, digest)
        }
        Err(errors) => {
            let message = format!(
                "revision {} does not render:\n{}",
                report::short(&revision.id),
                errors.join("\n")
            );
            return fail(
                ctx,
                report,
                parent.as_ref(),
                inventory,
                memory,
                "RenderFailed",
                message,
            );
        }
    };
    let manifests = &rendered.0;
    report.warnings = rendered.1.clone();
    if manifests.is_empty() && !inventory.members.is_empty() && !ctx.sync.allow_empty {
        let message = format!(
            "revision {} renders no objects while {} are managed: refusing to prune everything (check the sync's path, or set allowEmpty: true)",
            report::short(&revision.id),
            inventory.members.len()
        );
        return fail(
            ctx,
            report,
            parent.as_ref(),
            inventory,
            memory,
            "EmptyRevision",
            message,
        );
    }
    // A chart sync's values (valuesFrom) and the cluster's capabilities can change under
    // one revision: what is in force is the revision rendered from the inputs applied.
    let in_force = memory.applied.as_deref() == Some(revision.id.as_str())
        && report.status.revision.as_deref() == Some(&revision.id)
        && memory.chart_inputs == chart_inputs;
    if ctx.refused.is_some() && !in_force {
        // Only drift of the revision in force is ours to correct here.
        return report;
    }
    if in_force {
        drift_cycle(ctx, report, parent.as_ref(), inventory, memory, manifests)
    } else {
        let applied = Applying {
            manifests,
            chart_inputs,
        };
        apply_cycle(ctx, report, parent.as_ref(), inventory, memory, applied)
    }
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
            return report_failure(&ctx, "SourceFailed", why.clone());
        }
    };
    let revision = match source.with(|s| Revision::read(s, ctx.sync, &commit)) {
        Ok(r) => r,
        Err(e) => return report_failure(ctx, "SourceFailed", e.to_string()),
    };
    let mut report = run(ctx, &revision, memory);
    drop(revision);
    match &report.verdict {
        Verdict::Ready | Verdict::Stalled(_) => {
            if let Err(e) = source.with(|s| s.pin(&ctx.sync.name, &commit)) {
                report.warnings.push(e.to_string());
            }
        }
        Verdict::Failed(_) => {
            let refused_before_apply = report.applied.is_empty();
            if let Some(pinned) = source
                .with(|s| s.pinned(&ctx.sync.name).map(str::to_owned))
                .filter(|p| *p != commit && refused_before_apply)
            {
                if let Ok(in_force) = source.with(|s| Revision::read(s, ctx.sync, &pinned)) {
                    let fallback = Context {
                        refused: Some(&commit),
                        ..*ctx
                    };
                    let drift = run(&fallback, &in_force, memory);
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
/// source failed): the status says so; nothing is applied or pruned.
pub fn report_failure(ctx: &Context, reason: &str, message: String) -> CycleReport {
    let mut report = CycleReport::new(&ctx.sync.name, "");
    let parent = match report::ensure_system_namespace(ctx.client)
        .and_then(|()| report::get_parent(ctx.client, &ctx.sync.name))
    {
        Ok(p) => p,
        Err(e) => {
            report.verdict =
                Verdict::Failed(format!("{message}; and the status could not be read: {e}"));
            return report;
        }
    };
    // An unreadable parent is reported and left alone, as the cycle does: an
    // empty inventory written over it would orphan every managed object.
    let (inventory, status) = match report::read_parent(parent.as_ref()) {
        Ok(x) => x,
        Err(e) => {
            report.verdict = Verdict::Failed(format!(
                "{message}; and the parent ConfigMap is unreadable, so nothing was written: {e}"
            ));
            return report;
        }
    };
    report.status = status;
    report.revision = report.status.revision.clone().unwrap_or_default();
    let mut memory = SyncMemory::load(ctx.state_dir, &ctx.sync.name);
    fail(
        ctx,
        report,
        parent.as_ref(),
        inventory,
        &mut memory,
        reason,
        message,
    )
}

fn fail(
    ctx: &Context,
    mut report: CycleReport,
    parent: Option<&Value>,
    inventory: Inventory,
    memory: &mut SyncMemory,
    reason: &str,
    message: String,
) -> CycleReport {
    let now = report::now();
    report
        .status
        .set_condition("Ready", false, reason, &message, &now);
    report
        .status
        .set_condition("Reconciling", false, reason, "", &now);
    report
        .status
        .set_condition("Stalled", true, reason, &message, &now);
    report.verdict = Verdict::Failed(message);
    finish(ctx, report, parent, inventory, memory, None)
}

/// Metadata of the live objects of some group-kinds that carry this sync's
/// label: one metadata-only LIST per group-kind.
fn list_live(
    client: &Client,
    resources: &BTreeSet<ApiResource>,
    id: &str,
) -> Result<BTreeMap<ObjectRef, Value>, String> {
    list_labelled(client, resources, &format!("{}={id}", prune::PART_OF_LABEL))
}

/// Metadata of the live objects of some group-kinds that match `selector`.
fn list_labelled(
    client: &Client,
    resources: &BTreeSet<ApiResource>,
    selector: &str,
) -> Result<BTreeMap<ObjectRef, Value>, String> {
    let selector = selector.to_owned();
    let mut live = BTreeMap::new();
    for r in resources {
        let items = client
            .list_metadata(r, None, Some(&selector))
            .map_err(|e| e.to_string())?;
        for mut item in items {
            let meta = item["metadata"].take();
            let key = ObjectRef {
                group: r.group.clone(),
                kind: r.kind.clone(),
                namespace: meta["namespace"].as_str().unwrap_or_default().to_owned(),
                name: meta["name"].as_str().unwrap_or_default().to_owned(),
            };
            live.insert(key, meta);
        }
    }
    Ok(live)
}

/// What an apply cycle applies: the rendered objects, and the digest of the chart inputs
/// they were rendered from (recorded with the revision once it is applied).
struct Applying<'a> {
    manifests: &'a [Manifest],
    chart_inputs: Option<String>,
}

fn apply_cycle(
    ctx: &Context,
    mut report: CycleReport,
    parent: Option<&Value>,
    inventory: Inventory,
    memory: &mut SyncMemory,
    applying: Applying,
) -> CycleReport {
    let manifests = applying.manifests;
    let client = ctx.client;
    let short = report::short(&report.revision).to_owned();
    // 1. Validate everything before changing anything.
    let mut created = Created::default();
    if let Err(f) = apply::create_missing_containers(client, manifests, &mut created) {
        let mut lines = vec![f.to_string()];
        lines.extend(
            apply::undo_created(client, &created)
                .iter()
                .map(ToString::to_string),
        );
        let message = format!(
            "revision {short} failed validation; nothing was applied:\n{}",
            lines.join("\n")
        );
        return fail(
            ctx,
            report,
            parent,
            inventory,
            memory,
            "ValidationFailed",
            message,
        );
    }
    let targets = match apply::resolve(client, manifests) {
        Ok(t) => t,
        Err(failures) => {
            return validation_failed(ctx, report, parent, inventory, memory, &created, failures)
        }
    };
    // Chart CRDs their policy leaves as they are: neither validated nor applied.
    let left = apply::left_alone(manifests, &created.existing);
    report.unchanged += left.len();
    let targets: Vec<Target> = targets
        .into_iter()
        .filter(|t| !left.contains(&t.manifest.key()))
        .collect();
    let id = prune::applyset_id(&prune::parent_name(&ctx.sync.name), prune::SYSTEM_NAMESPACE);
    let resources: BTreeSet<ApiResource> = targets.iter().map(|t| t.resource.clone()).collect();
    // Every plumb-labelled object of these kinds: ours, and other syncs'.
    let mut labelled = list_labelled(client, &resources, prune::PART_OF_LABEL).unwrap_or_default();
    let foreign = foreign_objects(client, &targets, &labelled, &id);
    if !foreign.is_empty() {
        return validation_failed(ctx, report, parent, inventory, memory, &created, foreign);
    }
    let validation = match apply::validate(client, &targets) {
        Ok(v) => v,
        Err(failures) => {
            return validation_failed(ctx, report, parent, inventory, memory, &created, failures)
        }
    };
    labelled.retain(|_, meta| meta["labels"][prune::PART_OF_LABEL] == id.as_str());
    let before = labelled;
    report.conflicts = validation.conflicts.clone();
    // 2. Apply in stages.
    let desired: BTreeSet<ObjectRef> = manifests.iter().map(Manifest::key).collect();
    // What the inventory lists: never a chart's crds/ CRD, so that none is ever pruned.
    let inventoried = prune::inventoried(manifests);
    let mut fingerprints = memory.fingerprint_map();
    let mut hashes: BTreeMap<ObjectRef, String> = memory.applied_hashes.iter().cloned().collect();
    let live_prints: BTreeMap<ObjectRef, String> = before
        .iter()
        .map(|(k, m)| (k.clone(), plan::fingerprint(m)))
        .collect();
    // A chart's hooks run when it changed since plumb last applied it, as `helm upgrade`
    // runs them; install hooks while nothing of the sync was ever applied.
    let hook_run = HookRun {
        changed: manifests
            .iter()
            .any(|m| hashes.get(&m.key()) != Some(&plan::manifest_hash(&m.object))),
        // Never applied (a failed first attempt still installs), as a failed Helm install.
        install: report.status.revision.is_none(),
        wait: ctx.sync.wait,
    };
    let (phases, hooks_left) = hooks::phases(
        &targets,
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
    let skip: BTreeSet<ObjectRef> = manifests
        .iter()
        .filter(|m| !left.contains(&m.key()) && !hooks_run.contains(&m.key()))
        .filter(|m| {
            if hooks_left.contains(&m.key()) {
                return true;
            }
            let key = m.key();
            let forced = validation.recreate.contains(&key)
                || validation.adopt.contains(&key)
                || validation.conflicts.contains_key(&key);
            !forced
                && plan::can_skip(
                    &plan::manifest_hash(&m.object),
                    hashes.get(&key),
                    live_prints.get(&key),
                    fingerprints.get(&key),
                )
        })
        .map(Manifest::key)
        .collect();
    report.unchanged += skip.len();
    // The inventory lists every object of the revision before any is applied
    // (as kubectl's ApplySet records its group-kinds first): a kill -9
    // mid-apply then leaves nothing labelled that a later prune cannot find.
    let superset = Inventory {
        members: inventory.members.union(&inventoried).cloned().collect(),
    };
    if superset.members.len() > inventory.members.len() {
        let recorded = report::parent_object(&ctx.sync.name, &superset, &report.status);
        if let Err(e) = report::write_parent(client, parent, &recorded) {
            let message = format!(
                "revision {short} was not applied: its objects could not be recorded in the inventory first: {e}"
            );
            return fail(
                ctx,
                report,
                parent,
                inventory,
                memory,
                "ApplyFailed",
                message,
            );
        }
    }
    let mut applied = Vec::new();
    let mut apply_failures = Vec::new();
    let mut failed_reason = "ApplyFailed";
    for (at, phase) in phases.iter().enumerate() {
        let failures = match phase {
            Phase::Apply(group) => match apply::apply_all(client, group, &validation, &skip) {
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
                let (a, f) = apply::hooks::run_wave(client, wave, &validation, ctx.sync.timeout);
                applied.extend(a);
                if !f.is_empty() {
                    failed_reason = "HookFailed";
                }
                f
            }
            Phase::AwaitHealthy(group) => {
                let lines = wait_healthy(client, &without_hooks(group), ctx.sync.timeout);
                let waiting = phases[at..].iter().find_map(|p| match p {
                    Phase::Hooks(wave) => wave.first(),
                    _ => None,
                });
                match (lines.is_empty(), waiting) {
                    (false, Some(hook)) => {
                        failed_reason = "HookFailed";
                        vec![apply::object_failure(
                            hook.manifest,
                            format!(
                                "post- hooks not run: the chart's objects are not healthy within {}s: {}",
                                ctx.sync.timeout.as_secs(),
                                lines.join("; ")
                            ),
                        )]
                    }
                    _ => Vec::new(),
                }
            }
        };
        if !failures.is_empty() {
            apply_failures = failures;
            break;
        }
    }
    for m in manifests {
        if applied.iter().any(|a| a.object == m.key()) {
            hashes.insert(m.key(), plan::manifest_hash(&m.object));
        }
    }
    hashes.retain(|k, _| desired.contains(k));
    memory.applied_hashes = hashes.into_iter().collect();
    for a in &applied {
        // Created for validation counts as applied, though its apply changed nothing.
        let created_early = created.objects.iter().any(|(_, k)| *k == a.object);
        let changed = created_early
            || before
                .get(&a.object)
                .map(|m| &m["resourceVersion"])
                .and_then(Value::as_str)
                != Some(a.resource_version.as_str());
        if changed {
            report.applied.push(a.object.clone());
        } else {
            report.unchanged += 1;
        }
        fingerprints.insert(a.object.clone(), a.fingerprint.clone());
    }
    if !apply_failures.is_empty() {
        // Keep every object of the revision in the inventory, applied or
        // not (a request that failed may still have landed): never orphaned;
        // what does not exist is dropped by the next prune.
        let members = superset.members;
        memory.fingerprints = fingerprints.into_iter().collect();
        let lines: Vec<String> = apply_failures.iter().map(ToString::to_string).collect();
        let message = match failed_reason {
            "HookFailed" => format!(
                "revision {short}: a hook of the chart failed; what follows it was not applied:\n{}",
                lines.join("\n")
            ),
            _ => format!("revision {short} failed to apply:\n{}", lines.join("\n")),
        };
        return fail(
            ctx,
            report,
            parent,
            Inventory { members },
            memory,
            failed_reason,
            message,
        );
    }
    // 3. Prune.
    let mut failed_deletes = Vec::new();
    if ctx.sync.prune {
        let candidates = prune::prune_candidates(&inventory, &desired);
        for candidate in candidates {
            match prune::prune_one(client, &candidate, &id, &inventory, &desired) {
                Ok(PruneDecision::Delete) => {
                    fingerprints.remove(&candidate);
                    report.pruned.push(candidate);
                }
                Ok(PruneDecision::Gone) => {
                    fingerprints.remove(&candidate);
                }
                Ok(PruneDecision::Keep(reason)) => {
                    fingerprints.remove(&candidate);
                    report.kept.push((candidate, reason));
                }
                Ok(PruneDecision::Hold(reason)) => {
                    // Stays in the inventory: pruned once what it holds is gone.
                    failed_deletes.push(candidate.clone());
                    report.kept.push((candidate, reason));
                }
                Err(message) => {
                    report
                        .warnings
                        .push(format!("could not prune {candidate}: {message}"));
                    failed_deletes.push(candidate);
                }
            }
        }
    } else {
        // Without prune, objects that left Git stay in the inventory: turning
        // prune on later then removes them.
        failed_deletes.extend(inventory.members.difference(&desired).cloned());
    }
    let next = prune::next_inventory(&inventoried, &failed_deletes);
    memory.fingerprints = fingerprints.into_iter().collect();
    memory.applied = Some(report.revision.clone());
    memory.chart_inputs = applying.chart_inputs;
    // 4. Health.
    let unhealthy = if ctx.sync.wait {
        let started = Instant::now();
        // Hooks have ended (or were left as they are) already; some are deleted.
        let settled = without_hooks(&targets);
        let mut lines = wait_healthy(client, &settled, ctx.sync.timeout);
        if lines.is_empty() {
            let left = ctx.sync.timeout.saturating_sub(started.elapsed());
            lines = wait_gone(client, &report.pruned, left);
        }
        lines
    } else {
        Vec::new()
    };
    // 5. Status.
    let now = report::now();
    let status = &mut report.status;
    if status.revision.as_deref() != Some(&report.revision)
        || !report.applied.is_empty()
        || !report.pruned.is_empty()
    {
        status.applied_at = Some(now.clone());
    }
    status.revision = Some(report.revision.clone());
    status.counts = report::Counts {
        managed: desired.len(),
        applied: report.applied.len(),
        unchanged: report.unchanged,
        pruned: report.pruned.len(),
        drifted: 0,
    };
    status.health = unhealthy.clone();
    status.kept = report
        .kept
        .iter()
        .map(|(object, why)| format!("{object}: {why}"))
        .collect();
    status.set_condition("Reconciling", false, "Succeeded", "", &now);
    if unhealthy.is_empty() {
        status.set_condition(
            "Ready",
            true,
            "Succeeded",
            &format!("applied revision {short}"),
            &now,
        );
        status.set_condition("Stalled", false, "Succeeded", "", &now);
    } else {
        let message = format!(
            "revision {short} applied, but not healthy within {}s: {}",
            ctx.sync.timeout.as_secs(),
            unhealthy.join("; ")
        );
        status.set_condition("Ready", false, "HealthCheckFailed", &message, &now);
        status.set_condition("Stalled", true, "HealthCheckFailed", &message, &now);
        report.verdict = Verdict::Stalled(message);
    }
    let event = if report.applied.is_empty() && report.pruned.is_empty() && report.kept.is_empty() {
        None
    } else {
        Some(describe_changes(&report))
    };
    finish(ctx, report, parent, next, memory, event)
}

/// The targets that are not a chart's hooks: what health and drift follow.
fn without_hooks<'a>(targets: &[Target<'a>]) -> Vec<Target<'a>> {
    targets
        .iter()
        .filter(|t| hooks::hook_of(&t.manifest.object).is_none())
        .cloned()
        .collect()
}

/// Objects of this revision that another sync's ApplySet holds: refused,
/// naming the other sync, unless the manifest moves them on purpose.
fn foreign_objects(
    client: &Client,
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

fn validation_failed(
    ctx: &Context,
    report: CycleReport,
    parent: Option<&Value>,
    inventory: Inventory,
    memory: &mut SyncMemory,
    created: &Created,
    failures: Vec<ObjectFailure>,
) -> CycleReport {
    let mut lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
    lines.extend(
        apply::undo_created(ctx.client, created)
            .iter()
            .map(ToString::to_string),
    );
    let message = format!(
        "revision {} failed validation; nothing was applied:\n{}",
        report::short(&report.revision),
        lines.join("\n")
    );
    fail(
        ctx,
        report,
        parent,
        inventory,
        memory,
        "ValidationFailed",
        message,
    )
}

fn describe_changes(report: &CycleReport) -> (Severity, &'static str, String) {
    let mut message = format!("revision {}: ", report::short(&report.revision));
    let list = |objs: &[ObjectRef]| {
        let mut names: Vec<String> = objs.iter().take(10).map(ToString::to_string).collect();
        if objs.len() > 10 {
            names.push(format!("and {} more", objs.len() - 10));
        }
        names.join(", ")
    };
    let mut parts = Vec::new();
    if !report.applied.is_empty() {
        parts.push(format!("applied {}", list(&report.applied)));
    }
    if !report.pruned.is_empty() {
        parts.push(format!("pruned {}", list(&report.pruned)));
    }
    for (object, why) in &report.kept {
        parts.push(format!("kept {object} ({why})"));
    }
    for (object, managers) in &report.conflicts {
        parts.push(format!(
            "took fields of {object} from {}",
            managers.join(", ")
        ));
    }
    message.push_str(&parts.join("; "));
    (Severity::Normal, "ReconciliationSucceeded", message)
}

/// Sets the SourceReady condition from this cycle's fetch: False with reason
/// FetchFailed while the source cannot be followed (a full disk, a revoked
/// token, a deleted branch) and the last good revision stays in force, True
/// again once it can. Returns the Event to send when it changed.
fn source_condition(
    report: &mut CycleReport,
    failure: Option<&str>,
) -> Option<(Severity, &'static str, String)> {
    let was_ready = report
        .status
        .condition("SourceReady")
        .is_none_or(|c| c.status == "True");
    let now = report::now();
    report.source_failure = failure.map(str::to_owned);
    match failure {
        Some(why) => {
            report
                .status
                .set_condition("SourceReady", false, "FetchFailed", why, &now);
            was_ready.then(|| (Severity::Warning, "FetchFailed", why.to_owned()))
        }
        None => {
            report
                .status
                .set_condition("SourceReady", true, "Succeeded", "", &now);
            (!was_ready).then(|| {
                (
                    Severity::Normal,
                    "SourceReady",
                    "the source is followed again".to_owned(),
                )
            })
        }
    }
}

/// Objects held back from a prune (a Namespace or CRD still holding what
/// plumb doesn't manage) stay in the inventory; each drift cycle tries them
/// again, so they go once what they held is gone. Returns the inventory and,
/// when something was pruned or let go, the Event to send (the status then
/// changes, and is written once).
fn retry_held(
    ctx: &Context,
    report: &mut CycleReport,
    inventory: Inventory,
    manifests: &[Manifest],
) -> (Inventory, Option<(Severity, &'static str, String)>) {
    let desired: BTreeSet<ObjectRef> = manifests.iter().map(Manifest::key).collect();
    let held = prune::prune_candidates(&inventory, &desired);
    if !ctx.sync.prune || held.is_empty() || ctx.refused.is_some() {
        return (inventory, None);
    }
    let id = prune::applyset_id(&prune::parent_name(&ctx.sync.name), prune::SYSTEM_NAMESPACE);
    let mut members = inventory.members.clone();
    let mut kept = Vec::new();
    let mut changed = false;
    for candidate in held {
        match prune::prune_one(ctx.client, &candidate, &id, &inventory, &desired) {
            Ok(PruneDecision::Delete) => {
                members.remove(&candidate);
                report.pruned.push(candidate);
                changed = true;
            }
            Ok(PruneDecision::Gone) => {
                members.remove(&candidate);
                changed = true;
            }
            Ok(PruneDecision::Keep(why)) => {
                members.remove(&candidate);
                report.kept.push((candidate.clone(), why.clone()));
                kept.push(format!("{candidate}: {why}"));
                changed = true;
            }
            Ok(PruneDecision::Hold(why)) => kept.push(format!("{candidate}: {why}")),
            Err(e) => report
                .warnings
                .push(format!("could not prune {candidate}: {e}")),
        }
    }
    report.status.kept = kept;
    if !changed {
        return (Inventory { members }, None);
    }
    report.status.counts.pruned = report.pruned.len();
    let mut message = format!("revision {}: ", report::short(&report.revision));
    let pruned: Vec<String> = report.pruned.iter().map(ToString::to_string).collect();
    message.push_str(&format!(
        "pruned {} that had been held back",
        pruned.join(", ")
    ));
    (
        Inventory { members },
        Some((Severity::Normal, "ReconciliationSucceeded", message)),
    )
}

/// The verdict of a drift cycle that found nothing to correct, when the
/// status still says otherwise. A failure the revision in force has come
/// through (a source, API server or drift-check failure) is over: the status
/// says Ready again, written once. A revision whose health check failed
/// stays unhealthy until its objects are healthy: one look at each (no
/// waiting), so a restarted daemon never calls it Ready on the strength of
/// an idle cycle. Returns the Event to send when the verdict turned Ready.
fn settle_verdict(
    ctx: &Context,
    report: &mut CycleReport,
    targets: &[Target],
) -> Option<(Severity, &'static str, String)> {
    let ready = report.status.condition("Ready")?;
    if ready.status == "True" || ctx.refused.is_some() {
        return None;
    }
    if ready.reason == "HealthCheckFailed" && ctx.sync.wait {
        let message = ready.message.clone();
        if !wait_healthy(ctx.client, targets, Duration::ZERO).is_empty() {
            report.verdict = Verdict::Stalled(message);
            return None;
        }
    }
    let now = report::now();
    let message = format!(
        "revision {} is in force and ready",
        report::short(&report.revision)
    );
    report.status.health.clear();
    report
        .status
        .set_condition("Ready", true, "Succeeded", &message, &now);
    report
        .status
        .set_condition("Stalled", false, "Succeeded", "", &now);
    report
        .status
        .set_condition("Reconciling", false, "Succeeded", "", &now);
    Some((Severity::Normal, "Succeeded", message))
}

/// Follows pruned objects until they are gone (a Namespace until its
/// controller has emptied and finalised it, an object until its finalizers
/// ran) or the timeout passes; returns a line per object still there.
fn wait_gone(client: &Client, pruned: &[ObjectRef], timeout: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut pending: Vec<&ObjectRef> = pruned.iter().collect();
    loop {
        let mut still = Vec::new();
        let mut lines = Vec::new();
        for key in pending {
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            let live = client
                .resolve_group_kind(&key.group, &key.kind)
                .and_then(|resource| client.get(&resource, ns, &key.name));
            match live {
                // A kind no longer served went with its CRD.
                Ok(None) | Err(crate::kube::Error::UnknownKind { .. }) => {}
                Ok(Some(_)) => {
                    lines.push(format!("{key}: pruned, still being deleted"));
                    still.push(key);
                }
                Err(e) => {
                    lines.push(format!("{key}: pruned, {e}"));
                    still.push(key);
                }
            }
        }
        if still.is_empty() || started.elapsed() >= timeout {
            return lines;
        }
        pending = still;
        std::thread::sleep(Duration::from_secs(1).min(timeout.saturating_sub(started.elapsed())));
    }
}

/// An object's health, reading what it depends on first: a k3s HelmChart's
/// install Job and, when it has failed before, the Job's Pods.
fn judge(client: &Client, live: &Value) -> Health {
    let Some((ns, name)) = health::helm_chart_job(live) else {
        return health::health_of(live);
    };
    let job = match client
        .resolve("batch/v1", "Job")
        .and_then(|jobs| client.get(&jobs, Some(&ns), &name))
    {
        Ok(job) => job,
        Err(e) => return Health::Progressing(format!("cannot read install Job {ns}/{name}: {e}")),
    };
    // The Pods only add the last failure's reason and restarts: unreadable, they are left out.
    let pods = job
        .as_ref()
        .and_then(health::job_pod_selector)
        .and_then(|selector| {
            let pods = client.resolve("v1", "Pod").ok()?;
            client.list(&pods, Some(&ns), Some(&selector)).ok()
        })
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    health::helm_chart_health(live, job.as_ref(), &pods, now)
}

/// Follows health until every object is ready or the timeout passes;
/// returns a line per object still not ready.
fn wait_healthy(client: &Client, targets: &[Target], timeout: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut pending: Vec<&Target> = targets.iter().collect();
    loop {
        let mut still = Vec::new();
        let mut lines = Vec::new();
        for t in pending {
            let key = t.manifest.key();
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            match client.get(&t.resource, ns, &key.name) {
                Ok(Some(live)) => match judge(client, &live) {
                    Health::Ready => {}
                    Health::Progressing(m) => {
                        lines.push(format!("{key}: {m}"));
                        still.push(t);
                    }
                    Health::Failed(m) => lines.push(format!("{key}: {m}")),
                },
                Ok(None) => {
                    lines.push(format!("{key}: not found"));
                    still.push(t);
                }
                Err(e) => {
                    lines.push(format!("{key}: {e}"));
                    still.push(t);
                }
            }
        }
        let failed = lines.len() > still.len();
        if still.is_empty() || failed || started.elapsed() >= timeout {
            return lines;
        }
        pending = still;
        std::thread::sleep(Duration::from_secs(2).min(timeout.saturating_sub(started.elapsed())));
    }
}

fn drift_cycle(
    ctx: &Context,
    mut report: CycleReport,
    parent: Option<&Value>,
    inventory: Inventory,
    memory: &mut SyncMemory,
    manifests: &[Manifest],
) -> CycleReport {
    let client = ctx.client;
    let targets = match apply::resolve(client, manifests) {
        // A `Skip` chart CRD is none of the cycle's business, nor of its health; nor are a
        // chart's hooks, which run when the chart changes (and may delete themselves).
        Ok(t) => t
            .into_iter()
            .filter(|t| t.manifest.chart_crd != Some(render::helm::CrdPolicy::Skip))
            .filter(|t| hooks::hook_of(&t.manifest.object).is_none())
            .collect::<Vec<_>>(),
        Err(failures) => {
            let lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
            return fail(
                ctx,
                report,
                parent,
                inventory,
                memory,
                "DriftCheckFailed",
                lines.join("\n"),
            );
        }
    };
    let id = prune::applyset_id(&prune::parent_name(&ctx.sync.name), prune::SYSTEM_NAMESPACE);
    let resources: BTreeSet<ApiResource> = targets.iter().map(|t| t.resource.clone()).collect();
    let live = match list_live(client, &resources, &id) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                ctx,
                report,
                parent,
                inventory,
                memory,
                "DriftCheckFailed",
                e,
            )
        }
    };
    let live_prints: BTreeMap<ObjectRef, String> = live
        .iter()
        .map(|(k, m)| (k.clone(), plan::fingerprint(m)))
        .collect();
    let (hooks, others): (Vec<&Manifest>, Vec<&Manifest>) = manifests
        .iter()
        .partition(|m| hooks::hook_of(&m.object).is_some());
    let desired: Vec<ObjectRef> = others.iter().map(|m| m.key()).collect();
    let mut fingerprints = memory.fingerprint_map();
    let states = plan::live_states(&desired, &fingerprints, &live_prints);
    report.unchanged = hooks.len();
    report.unchanged += states
        .values()
        .filter(|s| **s == LiveState::Unchanged)
        .count();
    for t in &targets {
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
        let drift = match state {
            LiveState::Unchanged => continue,
            LiveState::Missing => Some(Drift {
                object: key.clone(),
                fields: vec!["deleted".into()],
                managers: Vec::new(),
            }),
            LiveState::Moved => match precise_drift(client, t, ns) {
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
        match drift {
            None => {
                // Moved for reasons that don't matter (a controller's annotation).
                report.unchanged += 1;
                if let Some(print) = live_prints.get(&key) {
                    fingerprints.insert(key, print.clone());
                }
            }
            Some(drift) => {
                if ctx.sync.self_heal {
                    match client.apply(
                        &t.resource,
                        &t.manifest.object,
                        ApplyOptions {
                            force: true,
                            dry_run: false,
                        },
                    ) {
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
                report.drifted.push(drift);
            }
        }
    }
    memory.fingerprints = fingerprints.into_iter().collect();
    let (inventory, released) = retry_held(ctx, &mut report, inventory, manifests);
    if report.drifted.is_empty() {
        if let Some(event) = released {
            return finish(ctx, report, parent, inventory, memory, Some(event));
        }
        if let Some(event) = settle_verdict(ctx, &mut report, &targets) {
            return finish(ctx, report, parent, inventory, memory, Some(event));
        }
        // Idle: the parent and status stay as they are; only changed fingerprints are saved.
        return finish(ctx, report, parent, inventory, memory, None);
    }
    let now = report::now();
    report.status.counts.drifted = report.drifted.len();
    report.status.counts.applied = report.applied.len();
    report.status.counts.unchanged = report.unchanged;
    report.status.counts.pruned = 0;
    let lines: Vec<String> = report
        .drifted
        .iter()
        .map(|d| {
            let by = if d.managers.is_empty() {
                String::new()
            } else {
                format!(" by {}", d.managers.join(", "))
            };
            format!("{} ({}){by}", d.object, d.fields.join(", "))
        })
        .collect();
    let (reason, message) = if ctx.sync.self_heal {
        (
            "DriftCorrected",
            format!(
                "revision {}: corrected drift of {}",
                report::short(&report.revision),
                lines.join("; ")
            ),
        )
    } else {
        (
            "DriftDetected",
            format!(
                "revision {}: drift (selfHeal is off) in {}",
                report::short(&report.revision),
                lines.join("; ")
            ),
        )
    };
    let ready = ctx.sync.self_heal && report.applied.len() == report.drifted.len();
    let message = match ctx.refused {
        // The refusal stays the status's word on readiness.
        Some(refused) => format!(
            "{message} (while revision {} is refused)",
            report::short(refused)
        ),
        None => {
            report
                .status
                .set_condition("Ready", ready, reason, &message, &now);
            message
        }
    };
    let severity = if ctx.sync.self_heal {
        Severity::Normal
    } else {
        Severity::Warning
    };
    if !ready {
        report.verdict = Verdict::Stalled(message.clone());
    }
    finish(
        ctx,
        report,
        parent,
        inventory,
        memory,
        Some((severity, reason, message)),
    )
}

/// Compares an object whose fingerprint moved: a server-side dry-run of the
/// desired object against the live one. `None` when nothing Git sets differs.
fn precise_drift(client: &Client, t: &Target, ns: Option<&str>) -> Result<Option<Drift>, String> {
    let key = t.manifest.key();
    let Some(live) = client
        .get(&t.resource, ns, &key.name)
        .map_err(|e| e.to_string())?
    else {
        return Ok(Some(Drift {
            object: key,
            fields: vec!["deleted".into()],
            managers: Vec::new(),
        }));
    };
    let would_be = client
        .apply(
            &t.resource,
            &t.manifest.object,
            ApplyOptions {
                force: true,
                dry_run: true,
            },
        )
        .map_err(|e| e.to_string())?;
    if !apply::differs(&would_be, &live) {
        return Ok(None);
    }
    // Name the fields Git sets that differ, with values as the server normalises them.
    let projected = project(&t.manifest.object, &would_be);
    let mut fields = plan::changed_fields(&projected, &live);
    fields.retain(|f| !f.starts_with("metadata.managedFields"));
    if fields.is_empty() {
        fields.push("fields Git does not set".into());
    }
    let mut managers = Vec::new();
    for f in &fields {
        for m in apply::managers_of(&live["metadata"]["managedFields"], f) {
            if !managers.contains(&m) {
                managers.push(m);
            }
        }
    }
    Ok(Some(Drift {
        object: key,
        fields,
        managers,
    }))
}

/// `actual` cut to the shape of `shape` (objects by key; other values whole).
fn project(shape: &Value, actual: &Value) -> Value {
    match (shape, actual) {
        (Value::Object(s), Value::Object(a)) => Value::Object(
            s.iter()
                .filter_map(|(k, sv)| a.get(k).map(|av| (k.clone(), project(sv, av))))
                .collect(),
        ),
        (_, a) => a.clone(),
    }
}

/// The one place a cycle ends: writes the parent (status and inventory) when
/// it changed, posts the Event when there is one (a failure identical to the
/// last one posts nothing), and saves the local state when it changed.
fn finish(
    ctx: &Context,
    mut report: CycleReport,
    parent: Option<&Value>,
    inventory: Inventory,
    memory: &mut SyncMemory,
    event: Option<(Severity, &'static str, String)>,
) -> CycleReport {
    let client = ctx.client;
    let mut event = event;
    let source_event = source_condition(&mut report, ctx.source_failure);
    if let Verdict::Failed(message) = &report.verdict {
        let repeated = report.status.last_failure.as_deref() == Some(message.as_str());
        if !repeated {
            report.status.last_failure = Some(message.clone());
            report.status.last_failure_at = Some(report::now());
            let reason = report
                .status
                .condition("Ready")
                .map(|c| c.reason.clone())
                .unwrap_or_default();
            let reason: &'static str = match reason.as_str() {
                "RenderFailed" => "RenderFailed",
                "EmptyRevision" => "EmptyRevision",
                "ApplyFailed" => "ApplyFailed",
                "SourceFailed" => "SourceFailed",
                "DriftCheckFailed" => "DriftCheckFailed",
                _ => "ValidationFailed",
            };
            event = Some((Severity::Warning, reason, message.clone()));
        }
    }
    let desired_parent = report::parent_object(&ctx.sync.name, &inventory, &report.status);
    match report::write_parent(client, parent, &desired_parent) {
        Ok(wrote) => report.wrote |= wrote,
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
                Verdict::Failed(m) => Verdict::Failed(format!("{m}; and {why}")),
                _ => Verdict::Failed(why),
            };
        }
    }
    for (severity, reason, message) in event.into_iter().chain(source_event) {
        match report::post_event(client, &ctx.sync.name, ctx.node, severity, reason, &message) {
            Ok(()) => report.wrote = true,
            Err(e) => report
                .warnings
                .push(format!("could not post an Event: {e}")),
        }
    }
    match memory.save(ctx.state_dir, &ctx.sync.name) {
        Ok(wrote) => report.wrote |= wrote,
        Err(e) => report.warnings.push(format!(
            "could not save the local state in {}: {e}",
            ctx.state_dir.display()
        )),
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn helm_sync(block: &str) -> config::Sync {
        let text = format!(
            "sources: [{{name: a, url: 'git://h/r', ref: {{branch: m}}}}]\nsyncs:\n  - {{name: web, source: a, namespace: apps, helm: {block}}}\n"
        );
        let settings =
            config::Settings::from_yaml(&text, std::path::Path::new("plumb.yaml")).unwrap();
        settings.syncs.into_iter().next().unwrap()
    }

    fn chart_revision(extra: &[(&str, &str)]) -> Revision {
        let mut files = vec![
            ("c/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"),
            ("c/values.yaml", "replicas: 1\ncolor: red\nsize: s\n"),
            (
                "c/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  ns: {{ .Release.Namespace }}\n  replicas: {{ .Values.replicas | quote }}\n  color: {{ .Values.color }}\n  size: {{ .Values.size | default \"none\" }}\n  kube: {{ .Capabilities.KubeVersion.Version }}\n  monitoring: {{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" | quote }}\n",
            ),
        ];
        files.extend_from_slice(extra);
        let files: Vec<File> = files
            .into_iter()
            .map(|(p, t)| File {
                path: p.into(),
                bytes: t.as_bytes().to_vec(),
            })
            .collect();
        Revision {
            id: "abc".into(),
            // What a helm sync selects: the chart's folder (its `path`).
            selected: files
                .iter()
                .map(|f| f.path.clone())
                .filter(|p| p.starts_with("c/") && p.ends_with(".yaml"))
                .collect(),
            tree: Tree::Files(files),
        }
    }

    #[test]
    fn a_helm_sync_renders_its_chart_with_values_files_and_values_over_them() {
        let sync = helm_sync(
            "{chart: c, targetNamespace: shop, values: {replicas: 3}, valuesFiles: [env/prod.yaml], kubeVersion: 1.31.2, apiVersions: [monitoring.coreos.com/v1]}",
        );
        // valuesFiles replace the chart's values.yaml (Flux): size is gone, color is prod's.
        let revision = chart_revision(&[("env/prod.yaml", "color: blue\nreplicas: 2\n")]);
        let (manifests, _) = render_revision(None, &sync, &revision, ChartKey::Offline).unwrap();
        assert_eq!(manifests.len(), 1);
        let cm = &manifests[0].object;
        assert_eq!(cm["metadata"]["name"], "shop-web", "Flux's release name");
        assert_eq!(cm["metadata"]["namespace"], "shop", "targetNamespace wins");
        assert_eq!(cm["data"]["ns"], "shop");
        assert_eq!(cm["data"]["replicas"], "3", "values win over valuesFiles");
        assert_eq!(cm["data"]["color"], "blue");
        assert_eq!(cm["data"]["size"], "none");
        assert_eq!(cm["data"]["kube"], "v1.31.2");
        assert_eq!(cm["data"]["monitoring"], "true");
        assert_eq!(manifests[0].origin.file, "c/templates/cm.yaml");
    }

    #[test]
    fn a_helm_sync_without_its_chart_or_values_file_is_refused() {
        let sync = helm_sync("{chart: nowhere, valuesFiles: [missing.yaml]}");
        let errors =
            render_revision(None, &sync, &chart_revision(&[]), ChartKey::Offline).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("helm.chart 'nowhere' holds no Chart.yaml")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("missing.yaml: no such file")),
            "{errors:?}"
        );
        let sync = helm_sync("{chart: c, valuesFrom: [{kind: ConfigMap, name: v}]}");
        let errors =
            render_revision(None, &sync, &chart_revision(&[]), ChartKey::Offline).unwrap_err();
        assert!(
            errors[0].contains("read from the cluster only"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_chart_template_error_names_the_template_and_line() {
        let sync = helm_sync("{chart: c}");
        let revision = chart_revision(&[(
            "c/templates/bad.yaml",
            "a: b\nc: {{ required \"set image\" .Values.image }}\n",
        )]);
        let errors = render_revision(None, &sync, &revision, ChartKey::Offline).unwrap_err();
        assert!(
            errors[0].contains("c/Chart.yaml")
                && errors[0].contains("web/templates/bad.yaml:2:6")
                && errors[0].contains("set image"),
            "{errors:?}"
        );
    }

    #[test]
    fn projection_keeps_the_shape_of_git() {
        let shape = json!({"spec": {"replicas": 2, "template": {"a": 1}}});
        let actual =
            json!({"spec": {"replicas": 5, "template": {"a": 1, "b": 2}, "x": 1}, "status": {}});
        assert_eq!(
            project(&shape, &actual),
            json!({"spec": {"replicas": 5, "template": {"a": 1}}})
        );
    }

    #[test]
    fn memory_round_trips_and_saves_only_changes() {
        let dir = std::env::temp_dir().join(format!("plumb-mem-{}", std::process::id()));
        let key = ObjectRef {
            group: "".into(),
            kind: "ConfigMap".into(),
            namespace: "a".into(),
            name: "b".into(),
        };
        let memory = SyncMemory {
            applied: Some("abc".into()),
            fingerprints: vec![(key.clone(), "rv1".into())],
            applied_hashes: vec![(key, "h".into())],
            chart_inputs: Some("d".into()),
        };
        assert!(memory.save(&dir, "apps").unwrap());
        assert!(!memory.save(&dir, "apps").unwrap());
        assert_eq!(SyncMemory::load(&dir, "apps"), memory);
        assert_eq!(SyncMemory::load(&dir, "other"), SyncMemory::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
