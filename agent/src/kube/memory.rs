//! An in-memory cluster behind [`Cluster`], for the cycle's own unit tests and for
//! benchmarks of its CPU cost: objects kept as applied, every request recorded, failures
//! on demand. It models little of an API server (no validation, no defaulting, and of field
//! managers only that what a merge patch set stays through an apply that leaves it out):
//! what an API server does is tested against a real one.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::client::{ApplyOptions, Propagation, ServerVersion};
use super::{Action, ApiResource, Cluster, Error};

/// A request the in-memory cluster saw: verb, resource plural and object name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// get, list, apply, dry-run, patch, delete or create.
    pub verb: &'static str,
    /// The resource's plural.
    pub plural: String,
    /// The object's name (empty for a list).
    pub name: String,
}

impl Request {
    /// Whether the request changes the cluster.
    pub fn is_write(&self) -> bool {
        matches!(self.verb, "apply" | "create" | "delete" | "patch")
    }
}

type Key = (String, String, String);

/// Objects in memory, every request recorded, and failures on demand.
#[derive(Default)]
pub struct MemoryCluster {
    objects: Mutex<BTreeMap<Key, Value>>,
    /// Per object, what merge patches set: another manager's fields, which apply keeps.
    patched: Mutex<BTreeMap<Key, Value>>,
    requests: Mutex<Vec<Request>>,
    /// (verb, name): that request fails with a 500.
    failing: Mutex<Vec<(&'static str, String)>>,
    versions: Mutex<u64>,
}

fn resource(api_version: &str, kind: &str) -> Option<ApiResource> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let (plural, namespaced) = match kind {
        "ConfigMap" => ("configmaps", true),
        "Secret" => ("secrets", true),
        "Service" => ("services", true),
        "Deployment" => ("deployments", true),
        "Event" => ("events", true),
        "Namespace" => ("namespaces", false),
        _ => return None,
    };
    Some(ApiResource {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
        listable: true,
    })
}

fn matches(labels: &Value, selector: Option<&str>) -> bool {
    selector.is_none_or(|s| {
        s.split(',').all(|term| match term.split_once('=') {
            Some((k, v)) => labels[k] == v,
            None => labels.get(term).is_some(),
        })
    })
}

impl MemoryCluster {
    fn key(r: &ApiResource, namespace: Option<&str>, name: &str) -> Key {
        let ns = if r.namespaced {
            namespace.unwrap_or_default()
        } else {
            ""
        };
        (r.plural.clone(), ns.to_owned(), name.to_owned())
    }

    fn record(&self, verb: &'static str, r: &ApiResource, name: &str) -> Result<(), Error> {
        self.requests.lock().unwrap().push(Request {
            verb,
            plural: r.plural.clone(),
            name: name.to_owned(),
        });
        let failing = self.failing.lock().unwrap();
        if failing.iter().any(|(v, n)| *v == verb && n == name) {
            return Err(Error::Status {
                action: Box::new(r.action("patch", None, Some(name))),
                code: 500,
                message: "injected".into(),
            });
        }
        Ok(())
    }

    /// Makes every `verb` request on objects named `name` fail with a 500.
    pub fn fail(&self, verb: &'static str, name: &str) {
        self.failing.lock().unwrap().push((verb, name.to_owned()));
    }

    /// The writes seen since the last [`MemoryCluster::forget_requests`].
    pub fn writes(&self) -> Vec<Request> {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|r| r.is_write()).cloned().collect()
    }

    /// The requests seen since the last [`MemoryCluster::forget_requests`], reads too.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Forgets the requests seen so far.
    pub fn forget_requests(&self) {
        self.requests.lock().unwrap().clear();
    }

    /// An object as stored, by resource plural, namespace ("" for cluster-scoped) and name.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (plural.to_owned(), namespace.to_owned(), name.to_owned());
        self.objects.lock().unwrap().get(&key).cloned()
    }

    /// Removes an object, as someone else would.
    pub fn remove(&self, plural: &str, namespace: &str, name: &str) {
        let key = (plural.to_owned(), namespace.to_owned(), name.to_owned());
        self.objects.lock().unwrap().remove(&key);
    }

    /// Stores an object as it is, as someone else would.
    pub fn put(&self, plural: &str, namespace: &str, name: &str, object: Value) {
        let key = (plural.to_owned(), namespace.to_owned(), name.to_owned());
        self.objects.lock().unwrap().insert(key, object);
    }

    fn stored(&self, mut object: Value) -> Value {
        let mut version = self.versions.lock().unwrap();
        *version += 1;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        object["metadata"]["uid"] = json!(format!("uid-{version}"));
        object
    }
}

impl Cluster for MemoryCluster {
    fn resolve(&self, api_version: &str, kind: &str) -> Result<ApiResource, Error> {
        resource(api_version, kind).ok_or_else(|| Error::UnknownKind {
            api_version: api_version.into(),
            kind: kind.into(),
            hint: String::new(),
        })
    }
    fn resolve_group_kind(&self, group: &str, kind: &str) -> Result<ApiResource, Error> {
        let version = match group {
            "" => "v1".to_owned(),
            g => format!("{g}/v1"),
        };
        self.resolve(&version, kind)
    }
    fn namespaced_resources(&self) -> Result<Vec<ApiResource>, Error> {
        Ok(["ConfigMap", "Secret", "Service"]
            .iter()
            .filter_map(|k| resource("v1", k))
            .collect())
    }
    fn api_versions(&self) -> Result<Vec<String>, Error> {
        Ok(vec!["v1".into(), "apps/v1".into()])
    }
    fn version(&self) -> Result<ServerVersion, Error> {
        Ok(ServerVersion {
            git_version: "v1.33.0".into(),
            platform: "linux/arm64".into(),
        })
    }
    fn get(&self, r: &ApiResource, ns: Option<&str>, name: &str) -> Result<Option<Value>, Error> {
        self.record("get", r, name)?;
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&Self::key(r, ns, name))
            .cloned())
    }
    fn list(
        &self,
        r: &ApiResource,
        ns: Option<&str>,
        sel: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        self.record("list", r, "")?;
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .iter()
            .filter(|((plural, o_ns, _), _)| *plural == r.plural && ns.is_none_or(|n| n == o_ns))
            .filter(|(_, o)| matches(&o["metadata"]["labels"], sel))
            .map(|(_, o)| o.clone())
            .collect())
    }
    fn list_metadata(
        &self,
        r: &ApiResource,
        ns: Option<&str>,
        sel: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        let items = self.list(r, ns, sel)?;
        Ok(items
            .into_iter()
            .map(|o| json!({"metadata": o["metadata"]}))
            .collect())
    }
    fn apply(
        &self,
        r: &ApiResource,
        object: &Value,
        options: ApplyOptions,
    ) -> Result<Value, Error> {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let ns = object["metadata"]["namespace"].as_str();
        if options.dry_run {
            self.record("dry-run", r, name)?;
            let live = self
                .objects
                .lock()
                .unwrap()
                .get(&Self::key(r, ns, name))
                .cloned();
            let mut would_be = object.clone();
            would_be["metadata"]["resourceVersion"] =
                live.map_or(json!("0"), |l| l["metadata"]["resourceVersion"].clone());
            return Ok(would_be);
        }
        self.record("apply", r, name)?;
        let key = Self::key(r, ns, name);
        let mut object = object.clone();
        if let Some(patched) = self.patched.lock().unwrap().get(&key) {
            keep_others(&mut object, patched);
        }
        let object = &object;
        let live = self.objects.lock().unwrap().get(&key).cloned();
        // What apply leaves as it was: the same object keeps its version.
        if let Some(live) = live.filter(|l| {
            let mut same = object.clone();
            same["metadata"]["resourceVersion"] = l["metadata"]["resourceVersion"].clone();
            same["metadata"]["uid"] = l["metadata"]["uid"].clone();
            same == *l
        }) {
            return Ok(live);
        }
        let stored = self.stored(object.clone());
        self.objects.lock().unwrap().insert(key, stored.clone());
        Ok(stored)
    }
    fn merge_patch(
        &self,
        r: &ApiResource,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, Error> {
        self.record("patch", r, name)?;
        let key = Self::key(r, ns, name);
        let mut objects = self.objects.lock().unwrap();
        let object = objects.get_mut(&key).ok_or_else(|| Error::NotFound {
            action: Box::new(r.action("patch", ns, Some(name))),
            message: String::new(),
        })?;
        merge(object, patch);
        let mut patched = self.patched.lock().unwrap();
        merge(patched.entry(key).or_insert(Value::Null), patch);
        Ok(object.clone())
    }
    fn delete(
        &self,
        r: &ApiResource,
        ns: Option<&str>,
        name: &str,
        _: Propagation,
    ) -> Result<bool, Error> {
        self.record("delete", r, name)?;
        Ok(self
            .objects
            .lock()
            .unwrap()
            .remove(&Self::key(r, ns, name))
            .is_some())
    }
    fn create(&self, r: &ApiResource, ns: Option<&str>, object: &Value) -> Result<Value, Error> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.record("create", r, &name)?;
        let key = Self::key(r, ns, &name);
        let stored = self.stored(object.clone());
        let mut objects = self.objects.lock().unwrap();
        if objects.contains_key(&key) && !name.is_empty() {
            return Err(Error::Conflict {
                action: Box::new(Action {
                    verb: "create",
                    resource: r.plural.clone(),
                    namespace: ns.map(str::to_owned),
                    name: Some(name),
                }),
                message: "exists".into(),
            });
        }
        // Events are named by the server (generateName): one key per Event.
        let key = if name.is_empty() {
            (key.0, key.1, format!("event-{}", objects.len()))
        } else {
            key
        };
        objects.insert(key, stored.clone());
        Ok(stored)
    }
}

/// A JSON merge patch (RFC 7386), as the API server applies one: objects merge key by key,
/// a null removes the key, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Adds to an applied object the fields another manager set that it leaves out.
fn keep_others(applied: &mut Value, others: &Value) {
    let (Some(applied), Some(others)) = (applied.as_object_mut(), others.as_object()) else {
        return;
    };
    for (key, value) in others {
        match applied.get_mut(key) {
            Some(mine) => keep_others(mine, value),
            None => {
                applied.insert(key.clone(), value.clone());
            }
        }
    }
}
