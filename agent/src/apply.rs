//! Apply: validate the whole revision with server-side dry-runs, then apply
//! it in stages with server-side apply (fieldManager `plumb`, force: Git wins).
//!
//! Pure pieces (handing client-side-applied fields over, recognising an
//! immutable-field error) are plain functions; the rest is a thin I/O shell
//! over [`Client`] with bounded parallelism within a stage.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::kube::{ApiResource, ApplyOptions, Cluster, Error, Propagation, FIELD_MANAGER};
use crate::plan::{self, Stage};
use crate::render::{Manifest, ObjectRef, Origin, Scopes};

pub mod hooks;

/// Annotation that lets plumb delete and recreate an object whose immutable fields changed.
pub const RECREATE_ANNOTATION: &str = "plumb.dev/recreate";

/// Field managers whose fields plumb takes over on its first apply: what
/// `kubectl apply` (client-side) records.
pub const CLIENT_SIDE_MANAGERS: &[&str] = &["kubectl-client-side-apply", "kubectl"];

/// Requests in flight at once within one stage.
pub const PARALLELISM: usize = 6;

/// One object that could not be validated, applied or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// Which object.
    pub object: ObjectRef,
    /// Where Git declares it (none for prune failures).
    pub origin: Option<Origin>,
    /// What went wrong, from the server.
    pub message: String,
}

impl fmt::Display for ObjectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{} ({origin}): {}", self.object, self.message),
            None => write!(f, "{}: {}", self.object, self.message),
        }
    }
}

/// A failure of one manifest, its message cleaned of Secret values.
pub fn object_failure(m: &Manifest, message: impl Into<String>) -> ObjectFailure {
    ObjectFailure {
        object: m.key(),
        origin: Some(m.origin.clone()),
        message: redact_secret_values(&m.object, message.into()),
    }
}

/// A message about a Secret with every value of the Secret taken out: the
/// API server echoes values of a Secret of the wrong shape (`stringData:
/// VALUE`, `password: [VALUE]`) in its errors, and these reach the terminal,
/// Events, the status and logs. Values of any shape under `data` and
/// `stringData` count, as written and base64-decoded, raw and JSON-escaped.
pub fn redact_secret_values(object: &Value, message: String) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    if object["kind"] != "Secret" || !crate::render::group_of(api_version).is_empty() {
        return message;
    }
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut values = Vec::new();
    strings(&object["data"], &mut values);
    strings(&object["stringData"], &mut values);
    use base64::Engine;
    let decoded: Vec<String> = values
        .iter()
        .filter_map(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .filter_map(|b| String::from_utf8(b).ok())
        .collect();
    values.extend(decoded);
    let escaped: Vec<String> = values
        .iter()
        .filter_map(|v| serde_json::to_string(v).ok())
        .map(|q| q[1..q.len() - 1].to_owned())
        .collect();
    values.extend(escaped);
    // Longest first, so a value inside another goes with it; very short
    // values would blank out ordinary words of the message.
    values.retain(|v| v.chars().count() >= 4);
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    let mut message = message;
    for v in &values {
        message = message.replace(v.as_str(), "***");
    }
    message
}

/// A manifest with the resource it is served as.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The rendered object.
    pub manifest: &'a Manifest,
    /// Its resource, from discovery.
    pub resource: ApiResource,
}

/// What validation learned beyond "it is valid".
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Objects where applying takes fields from other managers, with those managers.
    pub conflicts: BTreeMap<ObjectRef, Vec<String>>,
    /// Objects whose immutable fields changed and that ask to be recreated.
    pub recreate: BTreeSet<ObjectRef>,
    /// Objects carrying fields that `kubectl apply` (client-side) set, to adopt.
    pub adopt: BTreeSet<ObjectRef>,
}

/// Namespaces and CRDs created before validation, so objects inside them can be dry-run.
#[derive(Debug, Clone, Default)]
pub struct Created {
    /// In creation order.
    pub objects: Vec<(ApiResource, ObjectRef)>,
    /// The Namespaces and CRDs of the revision the cluster already had (its one read of
    /// each tells): what a chart's `Create` CRD policy leaves alone.
    pub existing: BTreeSet<ObjectRef>,
}

/// Which kinds are namespaced, asked of the cluster, with an offline fallback
/// for kinds whose CRD is in the revision but not yet in the cluster.
pub struct ClusterScopes<'a> {
    /// The cluster.
    pub client: &'a dyn Cluster,
    /// The fallback.
    pub offline: crate::render::OfflineScopes,
}

impl Scopes for ClusterScopes<'_> {
    fn namespaced(&self, api_version: &str, kind: &str) -> Option<bool> {
        match self.client.resolve(api_version, kind) {
            Ok(r) => Some(r.namespaced),
            Err(_) => self.offline.namespaced(api_version, kind),
        }
    }
}

/// Runs `f` over `items` with at most `width` in flight; results in input order.
pub fn parallel<T: Sync, R: Send>(items: &[T], width: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 || width <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<R>>> =
        results.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|s| {
        for _ in 0..width.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                **slots[i].lock().unwrap() = Some(r);
            });
        }
    });
    drop(slots);
    results
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Creates the Namespaces and CRDs of the revision that the cluster lacks,
/// and waits until those CRDs are Established. Existing ones are not touched (they are
/// noted in `created.existing`), nor chart CRDs their policy never creates.
/// `created` lists what was created, also on failure, for [`undo_created`].
pub fn create_missing_containers(
    client: &dyn Cluster,
    manifests: &[Manifest],
    created: &mut Created,
) -> Result<(), ObjectFailure> {
    for m in manifests {
        let key = m.key();
        let resource = match plan::stage_of(&key) {
            Stage::Namespaces => ApiResource::namespace(),
            Stage::Crds if plan::may_create(m.chart_crd) => ApiResource::crd(),
            _ => continue,
        };
        let result = client.get(&resource, None, &key.name).and_then(|live| {
            if live.is_some() {
                return Ok(false);
            }
            client.apply(
                &resource,
                &m.object,
                ApplyOptions {
                    force: true,
                    dry_run: false,
                },
            )?;
            Ok(true)
        });
        match result {
            Ok(true) => created.objects.push((resource, key)),
            Ok(false) => {
                created.existing.insert(key);
            }
            Err(e) => return Err(object_failure(m, e.to_string())),
        }
    }
    for (resource, key) in &created.objects {
        if resource.kind == "CustomResourceDefinition" {
            if let Err(message) = wait_established(client, &key.name, Duration::from_secs(60)) {
                let m = manifests
                    .iter()
                    .find(|m| &m.key() == key)
                    .expect("created from these");
                return Err(object_failure(m, message));
            }
        }
    }
    Ok(())
}

/// The objects of a revision a cycle leaves as they are: the chart CRDs whose policy
/// neither creates nor updates them (`Skip`), or only creates them and the cluster has them
/// (`Create`, `existing` from [`create_missing_containers`]'s reads).
pub fn left_alone(manifests: &[Manifest], existing: &BTreeSet<ObjectRef>) -> BTreeSet<ObjectRef> {
    manifests
        .iter()
        .filter(|m| !plan::applies(m.chart_crd, existing.contains(&m.key())))
        .map(Manifest::key)
        .collect()
}

/// Deletes what [`create_missing_containers`] created, newest first (validation failed).
pub fn undo_created(client: &dyn Cluster, created: &Created) -> Vec<ObjectFailure> {
    let mut failures = Vec::new();
    for (resource, key) in created.objects.iter().rev() {
        if let Err(e) = client.delete(resource, None, &key.name, Propagation::Background) {
            failures.push(ObjectFailure {
                object: key.clone(),
                origin: None,
                message: format!("could not delete it after validation failed: {e}"),
            });
        }
    }
    failures
}

/// Polls a CRD until its Established condition is True, and its kind is served.
pub fn wait_established(client: &dyn Cluster, name: &str, timeout: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        match client.get(&ApiResource::crd(), None, name) {
            Ok(Some(crd)) if crate::health::health_of(&crd).is_ready() => {
                let group = crd["spec"]["group"].as_str().unwrap_or_default();
                let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or_default();
                let served = crd["spec"]["versions"]
                    .as_array()
                    .and_then(|vs| vs.iter().find(|v| v["served"] == true))
                    .and_then(|v| v["name"].as_str())
                    .unwrap_or_default();
                if client.resolve(&format!("{group}/{served}"), kind).is_ok() {
                    return Ok(());
                }
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "CRD {name} did not become Established within {}s",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Counts connection-level failures across the workers of a stage: past a
/// few, the API server is clearly gone (stopped, frozen, unreachable), and
/// the objects left are not tried, since each would only wait out its
/// retries for the same answer. The cycle reports that once; the next one
/// tries again.
#[derive(Debug, Default)]
pub struct Breaker {
    connection_failures: AtomicUsize,
}

/// Connection failures after which a stage stops trying objects.
const GIVE_UP_AFTER: usize = 3;

impl Breaker {
    fn note(&self, e: &Error) {
        if matches!(e, Error::Connect { .. }) {
            self.connection_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn open(&self) -> bool {
        self.connection_failures.load(Ordering::Relaxed) >= GIVE_UP_AFTER
    }

    /// The one failure that stands for every object not tried.
    fn not_tried(&self, first: &Manifest, count: usize) -> ObjectFailure {
        object_failure(
            first,
            format!(
                "not tried, nor {} more: the API server stopped answering ({} connection failures); the next cycle tries again",
                count - 1,
                self.connection_failures.load(Ordering::Relaxed)
            ),
        )
    }
}

/// Finds the resource of every manifest; all failures are reported.
pub fn resolve<'a>(
    client: &dyn Cluster,
    manifests: &'a [Manifest],
) -> Result<Vec<Target<'a>>, Vec<ObjectFailure>> {
    let mut targets = Vec::new();
    let mut failures = Vec::new();
    for m in manifests {
        let api_version = m.object["apiVersion"].as_str().unwrap_or_default();
        let kind = m.object["kind"].as_str().unwrap_or_default();
        match client.resolve(api_version, kind) {
            Ok(resource) => targets.push(Target {
                manifest: m,
                resource,
            }),
            Err(e) => failures.push(object_failure(m, e.to_string())),
        }
    }
    if failures.is_empty() {
        Ok(targets)
    } else {
        Err(failures)
    }
}

fn namespace_of<'a>(t: &'a Target) -> Option<&'a str> {
    t.resource
        .namespaced
        .then(|| t.manifest.object["metadata"]["namespace"].as_str())
        .flatten()
}

/// True when a 422 says an immutable field changed.
pub fn is_immutable_change(err: &Error) -> bool {
    matches!(err, Error::Invalid { causes, .. } if causes.iter().any(|c| c.contains("field is immutable")))
}

fn wants_recreate(m: &Manifest) -> bool {
    // A hook deleted before each run is created anew anyway (a Job's template is immutable).
    m.object["metadata"]["annotations"][RECREATE_ANNOTATION] == "true"
        || plan::hooks::hook_of(&m.object).is_some_and(|h| h.delete.before_creation)
}

/// Dry-runs every object, without force first so that conflicts with other
/// field managers are seen and recorded, then with force to validate the
/// content. Nothing is persisted.
pub fn validate(
    client: &dyn Cluster,
    targets: &[Target],
) -> Result<Validation, Vec<ObjectFailure>> {
    enum Outcome {
        Fine {
            conflict: Option<Vec<String>>,
            adopt: bool,
        },
        Recreate,
        Failed(ObjectFailure),
        NotTried,
    }
    let breaker = Breaker::default();
    let outcomes = parallel(targets, PARALLELISM, |t| {
        if breaker.open() {
            return Outcome::NotTried;
        }
        let m = t.manifest;
        let dry = |force| {
            client.apply(
                &t.resource,
                &m.object,
                ApplyOptions {
                    force,
                    dry_run: true,
                },
            )
        };
        let (result, conflict) = match dry(false) {
            Err(Error::ApplyConflict { managers, .. }) => (dry(true), Some(managers)),
            other => (other, None),
        };
        if let Err(e) = &result {
            breaker.note(e);
        }
        match result {
            Ok(after) => Outcome::Fine {
                conflict,
                adopt: adoption(&after["metadata"]["managedFields"]).is_some(),
            },
            Err(e) if is_immutable_change(&e) && wants_recreate(m) => Outcome::Recreate,
            Err(e) if is_immutable_change(&e) => Outcome::Failed(object_failure(
                m,
                format!("{e}\nan immutable field changed: add the annotation {RECREATE_ANNOTATION}: \"true\" to let plumb delete and recreate the object"),
            )),
            Err(e) => Outcome::Failed(object_failure(m, e.to_string())),
        }
    });
    let mut validation = Validation::default();
    let mut failures = Vec::new();
    let mut not_tried = Vec::new();
    for (t, outcome) in targets.iter().zip(outcomes) {
        let key = t.manifest.key();
        match outcome {
            Outcome::Fine { conflict, adopt } => {
                if let Some(managers) = conflict {
                    validation.conflicts.insert(key.clone(), managers);
                }
                if adopt {
                    validation.adopt.insert(key);
                }
            }
            Outcome::Recreate => {
                validation.recreate.insert(key);
            }
            Outcome::Failed(f) => failures.push(f),
            Outcome::NotTried => not_tried.push(t.manifest),
        }
    }
    if let Some(first) = not_tried.first() {
        failures.push(breaker.not_tried(first, not_tried.len()));
    }
    if failures.is_empty() {
        Ok(validation)
    } else {
        Err(failures)
    }
}

/// Whether applying would change the live object: compares the dry-run result
/// with the live object, ignoring metadata the server maintains.
pub fn differs(after: &Value, before: &Value) -> bool {
    strip_volatile(after) != strip_volatile(before)
}

/// The object without the fields that change on every write or belong to the server.
pub fn strip_volatile(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(meta) = o["metadata"].as_object_mut() {
        for k in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
            "selfLink",
        ] {
            meta.remove(k);
        }
    }
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
    }
    o
}

/// One object plumb applied: only what later stages need of the server's
/// answer, so that a large revision doesn't hold every object in memory.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Which object.
    pub object: ObjectRef,
    /// Its resourceVersion after the apply.
    pub resource_version: String,
    /// Its fingerprint after the apply.
    pub fingerprint: String,
}

/// Applies every target but those in `skip` (unchanged since plumb last
/// applied them) in stage order (force: Git wins); within a stage, bounded
/// parallelism. Stops at the first stage with a failure.
pub fn apply_all(
    client: &dyn Cluster,
    targets: &[Target],
    validation: &Validation,
    skip: &BTreeSet<ObjectRef>,
) -> Result<Vec<Applied>, (Vec<Applied>, Vec<ObjectFailure>)> {
    let mut applied = Vec::new();
    let to_apply = targets.iter().filter(|t| !skip.contains(&t.manifest.key()));
    let breaker = Breaker::default();
    for (stage, group) in plan::stages(to_apply, |t| {
        plan::stage_of_object(&t.manifest.key(), &t.manifest.object)
    }) {
        // Each worker boils the server's answer down to an `Applied` at once:
        // a stage's answers, kept whole until the stage ends, were the largest
        // part of a first apply's peak heap (2.9 of 8.2 MB for 300 objects).
        let results = parallel(&group, PARALLELISM, |t| {
            if breaker.open() {
                return None;
            }
            Some(apply_one(client, t, validation, &breaker).map(|live| {
                Applied {
                    object: t.manifest.key(),
                    resource_version: live["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    fingerprint: plan::fingerprint(&live["metadata"]),
                }
            }))
        });
        let mut failures = Vec::new();
        let mut not_tried = Vec::new();
        for (t, r) in group.iter().zip(results) {
            match r {
                Some(Ok(a)) => applied.push(a),
                Some(Err(e)) => failures.push(object_failure(t.manifest, e)),
                None => not_tried.push(t.manifest),
            }
        }
        if let Some(first) = not_tried.first() {
            failures.push(breaker.not_tried(first, not_tried.len()));
        }
        if failures.is_empty() && stage == Stage::Crds {
            for t in &group {
                if let Err(e) =
                    wait_established(client, &t.manifest.key().name, Duration::from_secs(60))
                {
                    failures.push(object_failure(t.manifest, e));
                }
            }
        }
        if !failures.is_empty() {
            return Err((applied, failures));
        }
    }
    Ok(applied)
}

fn apply_one(
    client: &dyn Cluster,
    t: &Target,
    validation: &Validation,
    breaker: &Breaker,
) -> Result<Value, String> {
    let key = t.manifest.key();
    let ns = namespace_of(t);
    if validation.recreate.contains(&key) {
        client
            // Background: the object goes now, its dependents after it, so
            // that the name is free for the new one at once.
            .delete(&t.resource, ns, &key.name, Propagation::Background)
            .map_err(|e| e.to_string())?;
        wait_gone(client, t, Duration::from_secs(60))?;
    }
    if validation.adopt.contains(&key) {
        adopt(client, t)
            .map_err(|e| format!("could not take over the fields of kubectl apply: {e}"))?;
    }
    client
        .apply(
            &t.resource,
            &t.manifest.object,
            ApplyOptions {
                force: true,
                dry_run: false,
            },
        )
        .map_err(|e| {
            breaker.note(&e);
            e.to_string()
        })
}

fn wait_gone(client: &dyn Cluster, t: &Target, timeout: Duration) -> Result<(), String> {
    let key = t.manifest.key();
    let started = Instant::now();
    while client
        .get(&t.resource, namespace_of(t), &key.name)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        if started.elapsed() > timeout {
            return Err(format!(
                "deleted for recreation, but still there after {}s (finalizers?)",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Moves the fields that `kubectl apply` (client-side) owns to plumb's
/// manager, so that a field later removed from Git is removed from the object.
fn adopt(client: &dyn Cluster, t: &Target) -> Result<(), Error> {
    let key = t.manifest.key();
    let ns = namespace_of(t);
    let Some(live) = client.get(&t.resource, ns, &key.name)? else {
        return Ok(());
    };
    if let Some(fields) = adoption(&live["metadata"]["managedFields"]) {
        let patch = json!({"metadata": {
            "managedFields": fields,
            "resourceVersion": live["metadata"]["resourceVersion"],
        }});
        client.merge_patch(&t.resource, ns, &key.name, &patch)?;
    }
    Ok(())
}

/// The managedFields with client-side-apply entries turned into plumb's
/// Apply entry (merged with plumb's own, per apiVersion); `None` when there
/// is nothing to adopt.
pub fn adoption(managed_fields: &Value) -> Option<Vec<Value>> {
    let entries = managed_fields.as_array()?;
    let is_csa = |e: &Value| {
        CLIENT_SIDE_MANAGERS.contains(&e["manager"].as_str().unwrap_or_default())
            && e["operation"] == "Update"
    };
    if !entries.iter().any(is_csa) {
        return None;
    }
    let mut out: Vec<Value> = Vec::new();
    let mut ours: BTreeMap<String, Value> = BTreeMap::new();
    for e in entries {
        let mine = e["manager"] == FIELD_MANAGER && e["operation"] == "Apply";
        if is_csa(e) || mine {
            let api_version = e["apiVersion"].as_str().unwrap_or_default().to_owned();
            let entry = ours.entry(api_version).or_insert_with(|| {
                let mut base = e.clone();
                base["manager"] = json!(FIELD_MANAGER);
                base["operation"] = json!("Apply");
                base["fieldsV1"] = json!({});
                base.as_object_mut().map(|m| m.remove("subresource"));
                base
            });
            merge_fields(&mut entry["fieldsV1"], &e["fieldsV1"]);
        } else {
            out.push(e.clone());
        }
    }
    out.extend(ours.into_values());
    Some(out)
}

/// Union of two fieldsV1 trees.
fn merge_fields(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (k, v) in from {
        match into.get_mut(k) {
            Some(existing) => merge_fields(existing, v),
            None => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Managers other than plumb that own `field` (a dotted path) in managedFields.
pub fn managers_of(managed_fields: &Value, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in managed_fields.as_array().into_iter().flatten() {
        let manager = e["manager"].as_str().unwrap_or_default();
        if manager == FIELD_MANAGER {
            continue;
        }
        let mut node = &e["fieldsV1"];
        let mut owns = true;
        for part in field.split('.') {
            let name = part.split('[').next().unwrap_or(part);
            match node.get(format!("f:{name}")) {
                Some(next) => node = next,
                None => {
                    owns = false;
                    break;
                }
            }
        }
        if owns && !out.iter().any(|m| m == manager) {
            out.push(manager.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_crds_are_left_alone_as_their_policy_says() {
        use crate::render::helm::CrdPolicy;
        let m = |name: &str, chart_crd| Manifest {
            object: json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name}}),
            origin: Origin {
                file: "f".into(),
                document: 0,
                line: 1,
            },
            kustomized: false,
            chart_crd,
            dropped_namespace: None,
        };
        let revision = vec![
            m("new-create", Some(CrdPolicy::Create)),
            m("old-create", Some(CrdPolicy::Create)),
            m("old-replace", Some(CrdPolicy::CreateReplace)),
            m("new-skip", Some(CrdPolicy::Skip)),
            m("old-skip", Some(CrdPolicy::Skip)),
            m("old-template", None),
        ];
        let existing: BTreeSet<ObjectRef> = revision
            .iter()
            .map(Manifest::key)
            .filter(|k| k.name.starts_with("old-"))
            .collect();
        let names: Vec<String> = left_alone(&revision, &existing)
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(names, ["new-skip", "old-create", "old-skip"]);
    }

    #[test]
    fn secret_values_are_taken_out_of_messages_in_every_shape() {
        let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "stringData": "planted-value-1",
            "data": {"password": ["planted-value-2"], "token": "cGxhbnRlZC12YWx1ZS0z"}});
        let message = "invalid: \"planted-value-1\" and [planted-value-2] and planted-value-3 and cGxhbnRlZC12YWx1ZS0z".to_owned();
        let out = redact_secret_values(&secret, message);
        assert!(!out.contains("planted"), "{out}");
        assert!(!out.contains("cGxhbnRl"), "{out}");
        assert!(out.starts_with("invalid: "), "{out}");
        let config_map =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "visible"}});
        assert_eq!(
            redact_secret_values(&config_map, "visible".into()),
            "visible"
        );
    }

    #[test]
    fn parallel_keeps_order_and_runs_everything() {
        let items: Vec<u32> = (0..50).collect();
        let out = parallel(&items, 4, |i| i * 2);
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(parallel(&[7u32], 4, |i| i + 1), [8]);
    }

    #[test]
    fn adoption_moves_client_side_fields_to_plumb() {
        let managed = json!([
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}, "f:old": {}}}},
            {"manager": "plumb", "operation": "Apply", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}
        ]);
        let out = adoption(&managed).unwrap();
        assert_eq!(out.len(), 2);
        let ours = out.iter().find(|e| e["manager"] == "plumb").unwrap();
        assert_eq!(ours["operation"], "Apply");
        assert_eq!(
            ours["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:old": {}, "f:b": {}}})
        );
        assert!(out
            .iter()
            .any(|e| e["manager"] == "kube-controller-manager"));
        assert!(adoption(&json!([{"manager": "plumb", "operation": "Apply"}])).is_none());
    }

    #[test]
    fn managers_of_a_field() {
        let managed = json!([
            {"manager": "kubectl-scale", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "plumb", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:data": {"f:x": {}}}}
        ]);
        assert_eq!(managers_of(&managed, "spec.replicas"), ["kubectl-scale"]);
        assert_eq!(managers_of(&managed, "data.x"), ["kubectl-edit"]);
        assert!(managers_of(&managed, "data.y").is_empty());
    }

    #[test]
    fn volatile_metadata_does_not_count_as_change() {
        let a = json!({"metadata": {"name": "x", "resourceVersion": "1", "managedFields": []}, "data": {"a": "1"}, "status": {"x": 1}});
        let b = json!({"metadata": {"name": "x", "resourceVersion": "2"}, "data": {"a": "1"}});
        assert!(!differs(&a, &b));
        let c = json!({"metadata": {"name": "x"}, "data": {"a": "2"}});
        assert!(differs(&a, &c));
    }

    #[test]
    fn immutable_errors_are_recognised() {
        let action = crate::kube::Action {
            verb: "patch",
            resource: "jobs.batch".into(),
            namespace: None,
            name: None,
        };
        let e = Error::Invalid {
            action: Box::new(action.clone()),
            causes: vec!["spec.template: Invalid value: ...: field is immutable".into()],
        };
        assert!(is_immutable_change(&e));
        let e = Error::Invalid {
            action: Box::new(action),
            causes: vec!["spec.replicas: must be >= 0".into()],
        };
        assert!(!is_immutable_change(&e));
    }
}
