//! Prune: the inventory (an ApplySet, KEP-3659, that kubectl understands)
//! and the pure decisions of what to delete.
//!
//! An object is pruned only when it is in the inventory *and* carries this
//! ApplySet's part-of label; an object whose delete failed stays in the
//! inventory so it is tried again and never orphaned.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;

use serde_json::Value;

use crate::kube::{ApiResource, Cluster, Error, Propagation};
use crate::render::{Manifest, ObjectRef};

/// Label on the parent: the ApplySet's id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member: the id of its ApplySet.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Parent annotation naming the tool.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Parent annotation listing the members' group-kinds.
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// Parent annotation listing the members' namespaces other than the parent's.
pub const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// Annotation that keeps an object from ever being pruned.
pub const PRUNE_ANNOTATION: &str = "plumb.dev/prune";
/// Helm's annotation for objects that outlive their release.
pub const HELM_RESOURCE_POLICY: &str = "helm.sh/resource-policy";

/// The namespace plumb keeps its own objects in; never pruned.
pub use crate::model::SYSTEM_NAMESPACE;

/// Name of a sync's parent ConfigMap in [`SYSTEM_NAMESPACE`].
pub fn parent_name(sync: &str) -> String {
    format!("plumb-{sync}")
}

/// The ApplySet id of a ConfigMap parent, as KEP-3659 defines it:
/// `applyset-<base64url(sha256(<name>.<namespace>.ConfigMap.))>-v1`.
pub fn applyset_id(parent: &str, namespace: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{parent}.{namespace}.ConfigMap.").as_bytes(),
    );
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    )
}

/// The members plumb manages for one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Every member, sorted.
    pub members: BTreeSet<ObjectRef>,
}

impl Inventory {
    /// Serialises for the parent's data (one JSON line per member: stable, diffable).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            out.push_str(&serde_json::to_string(m).expect("serialisable"));
            out.push('\n');
        }
        out
    }

    /// The encoding gzipped, for an inventory too large to stay readable text in a
    /// ConfigMap: 20,000 members are about 1.4 MB of text, past a ConfigMap's 1 MiB.
    /// Deflate level 1: as small as level 6 here, in a third of the CPU, which every cycle
    /// of such a sync spends to compare its parent. Deterministic: the same members give the
    /// same bytes, so an idle cycle still finds its parent unchanged.
    pub fn encode_compressed(&self) -> Vec<u8> {
        let text = self.encode();
        // Raw deflate in gzip's framing, which helm-template's gunzip reads back.
        let mut z = zlib_rs::Deflate::new(1, false, 15);
        let mut deflated = vec![0u8; text.len() / 4 + 1024];
        let mut input = text.as_bytes();
        loop {
            let before_in = z.total_in();
            let at = z.total_out() as usize;
            if at == deflated.len() {
                deflated.resize(deflated.len() * 2, 0);
            }
            let status = z
                .compress(input, &mut deflated[at..], zlib_rs::DeflateFlush::Finish)
                .expect("deflate of memory into memory");
            input = &input[(z.total_in() - before_in) as usize..];
            if status == zlib_rs::Status::StreamEnd {
                deflated.truncate(z.total_out() as usize);
                break;
            }
        }
        let mut out = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend_from_slice(&deflated);
        out.extend_from_slice(&zlib_rs::crc32::crc32(0, text.as_bytes()).to_le_bytes());
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out
    }

    /// Reads what [`Inventory::encode_compressed`] wrote; more than `limit` bytes of text
    /// is refused (the parent is editable by others).
    pub fn decode_compressed(bytes: &[u8], limit: usize) -> Result<Inventory, String> {
        let text = helm_template::chart::archive::gunzip(bytes, "the compressed inventory", limit)
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8(text).map_err(|_| "the inventory is not UTF-8".to_owned())?;
        Inventory::decode(&text)
    }

    /// Reads what [`Inventory::encode`] wrote.
    pub fn decode(text: &str) -> Result<Inventory, String> {
        let mut members = BTreeSet::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let m: ObjectRef =
                serde_json::from_str(line).map_err(|e| format!("inventory line {}: {e}", i + 1))?;
            members.insert(m);
        }
        Ok(Inventory { members })
    }

    /// `Kind.group` of each member, sorted and unique, as the ApplySet annotation wants.
    pub fn group_kinds(&self) -> String {
        let set: BTreeSet<String> = self
            .members
            .iter()
            .map(|m| {
                if m.group.is_empty() {
                    m.kind.clone()
                } else {
                    format!("{}.{}", m.kind, m.group)
                }
            })
            .collect();
        set.into_iter().collect::<Vec<_>>().join(",")
    }

    /// Members' namespaces other than plumb-system, sorted and unique.
    pub fn additional_namespaces(&self) -> String {
        let set: BTreeSet<&str> = self
            .members
            .iter()
            .map(|m| m.namespace.as_str())
            .filter(|ns| !ns.is_empty() && *ns != SYSTEM_NAMESPACE)
            .collect();
        set.into_iter().collect::<Vec<_>>().join(",")
    }
}

/// Inventory members no longer in the revision, in the order to delete
/// them: ordinary objects first, then CRDs, then Namespaces.
pub fn prune_candidates(old: &Inventory, desired: &BTreeSet<ObjectRef>) -> Vec<ObjectRef> {
    let rank = |m: &ObjectRef| match (m.group.as_str(), m.kind.as_str()) {
        ("", "Namespace") => 2,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 1,
        _ => 0,
    };
    let mut out: Vec<ObjectRef> = old.members.difference(desired).cloned().collect();
    out.sort_by_key(|m| rank(m));
    out
}

/// What to do with one prune candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneDecision {
    /// Delete it.
    Delete,
    /// Already gone: just drop it from the inventory.
    Gone,
    /// Keep it, and say why; it leaves the inventory.
    Keep(String),
    /// Not yet: it still holds what plumb doesn't manage (a Namespace with
    /// someone's objects, a CRD with someone's resources). It stays in the
    /// inventory, so it goes once they do; the status says why.
    Hold(String),
}

/// The live facts a prune decision needs about one candidate.
#[derive(Debug, Clone, Default)]
pub struct LiveFacts {
    /// Whether the object exists.
    pub exists: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// For a Namespace: objects in it that plumb does not manage (by "Kind
    /// name"); for a CRD: its resources that plumb does not manage.
    pub unmanaged_inside: Vec<String>,
}

/// Decides one candidate: delete only what carries our part-of label, is
/// not marked to keep, and (for a Namespace) holds nothing unmanaged.
pub fn decide(candidate: &ObjectRef, live: &LiveFacts, id: &str) -> PruneDecision {
    if !live.exists {
        return PruneDecision::Gone;
    }
    if candidate.group.is_empty()
        && candidate.kind == "Namespace"
        && candidate.name == SYSTEM_NAMESPACE
    {
        return PruneDecision::Keep(format!("{SYSTEM_NAMESPACE} is never pruned"));
    }
    if live.labels.get(PART_OF_LABEL).map(String::as_str) != Some(id) {
        return PruneDecision::Keep(format!(
            "it does not carry the label {PART_OF_LABEL}={id}, so it may not be ours"
        ));
    }
    if live.annotations.get(PRUNE_ANNOTATION).map(String::as_str) == Some("disabled") {
        return PruneDecision::Keep(format!("annotation {PRUNE_ANNOTATION}: disabled"));
    }
    // Helm's own way to say it: `helm uninstall` leaves such objects, and so does a prune.
    if live
        .annotations
        .get(HELM_RESOURCE_POLICY)
        .map(String::as_str)
        == Some("keep")
    {
        return PruneDecision::Keep(format!("annotation {HELM_RESOURCE_POLICY}: keep"));
    }
    if !live.unmanaged_inside.is_empty() {
        let mut some = live.unmanaged_inside.clone();
        let more = some.len().saturating_sub(3);
        some.truncate(3);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let holds = if candidate.kind == "CustomResourceDefinition" {
            "its kind still has resources plumb does not manage, which deleting it would delete"
        } else {
            "the namespace holds objects plumb does not manage"
        };
        return PruneDecision::Hold(format!(
            "{holds}: {}{more}; it stays in the inventory and goes once they do",
            some.join(", ")
        ));
    }
    PruneDecision::Delete
}

/// The annotation that moves an object from another sync's ApplySet to the
/// one whose revision declares it.
pub const ADOPT_ANNOTATION: &str = "plumb.dev/adopt";

/// The ApplySet id of another sync that owns an object this sync declares,
/// unless the declaration moves it on purpose (`plumb.dev/adopt: "true"`):
/// two syncs must never take one object from each other every cycle.
pub fn foreign_owner<'a>(live_part_of: Option<&'a str>, id: &str, adopt: bool) -> Option<&'a str> {
    live_part_of.filter(|owner| *owner != id && !adopt)
}

/// Objects every namespace gets by itself; they don't make a namespace "in use".
pub fn is_namespace_default(kind: &str, name: &str) -> bool {
    matches!(
        (kind, name),
        ("ConfigMap", "kube-root-ca.crt") | ("ServiceAccount", "default")
    ) || (kind == "Secret" && name.starts_with("default-token-"))
}

/// A live object in a namespace about to be pruned.
#[derive(Debug, Clone)]
pub struct LiveObject {
    /// Which object.
    pub key: ObjectRef,
    /// Its uid.
    pub uid: String,
    /// Its ownerReferences.
    pub owners: Vec<Owner>,
}

/// One ownerReference of a live object.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The owner's uid.
    pub uid: String,
    /// Whether the owner's kind is namespaced (then it lives in the same
    /// namespace, and its absence there means it is gone).
    pub namespaced: bool,
}

/// The objects of a namespace that plumb does not manage: neither in the
/// inventory (`managed`), nor owned through ownerReferences by something
/// managed (a Deployment's ReplicaSets and their Pods, a Service's
/// EndpointSlices), nor the Endpoints that the endpoints controller keeps
/// for a managed Service under its name (they carry no ownerReference), nor
/// what the garbage collector is about to remove (every owner namespaced and
/// gone: the Pods of a ReplicaSet deleted a moment ago), nor what every
/// namespace gets by default.
pub fn unmanaged<'a>(
    objects: &'a [LiveObject],
    managed: &BTreeSet<&ObjectRef>,
) -> Vec<&'a ObjectRef> {
    let mirrors_managed_service = |k: &ObjectRef| {
        k.group.is_empty()
            && k.kind == "Endpoints"
            && managed.contains(&ObjectRef {
                kind: "Service".into(),
                ..k.clone()
            })
    };
    let mut managed_uids: BTreeSet<&str> = objects
        .iter()
        .filter(|o| managed.contains(&o.key) || mirrors_managed_service(&o.key))
        .map(|o| o.uid.as_str())
        .collect();
    let present: BTreeSet<&str> = objects.iter().map(|o| o.uid.as_str()).collect();
    let collected = |o: &LiveObject| {
        !o.owners.is_empty()
            && o.owners
                .iter()
                .all(|owner| owner.namespaced && !present.contains(owner.uid.as_str()))
    };
    loop {
        let before = managed_uids.len();
        for o in objects {
            if collected(o)
                || o.owners
                    .iter()
                    .any(|owner| managed_uids.contains(owner.uid.as_str()))
            {
                managed_uids.insert(&o.uid);
            }
        }
        if managed_uids.len() == before {
            break;
        }
    }
    objects
        .iter()
        .filter(|o| {
            !managed_uids.contains(o.uid.as_str())
                && !is_namespace_default(&o.key.kind, &o.key.name)
        })
        .map(|o| &o.key)
        .collect()
}

/// The objects of a revision the inventory lists: all but the CRDs of charts' crds/ folders.
/// Only inventory members are ever pruned, so such a CRD stays in the cluster when it
/// leaves its chart (as Helm never deletes them: deleting a CRD deletes every resource of
/// it), with no mark to carry past the revision it left in. Prune candidates are still
/// taken against every object of the revision ([`prune_candidates`] with all keys), so a
/// chart CRD an older inventory lists is dropped from it, never deleted, while the chart
/// declares it.
pub fn inventoried(manifests: &[Manifest]) -> BTreeSet<ObjectRef> {
    manifests
        .iter()
        .filter(|m| m.chart_crd.is_none())
        .map(Manifest::key)
        .collect()
}

/// The next inventory: what the revision applied, plus candidates whose
/// delete failed (tried again next time, never orphaned).
pub fn next_inventory(applied: &BTreeSet<ObjectRef>, failed_deletes: &[ObjectRef]) -> Inventory {
    let mut members = applied.clone();
    members.extend(failed_deletes.iter().cloned());
    Inventory { members }
}

// ---------------------------------------------------------------- the I/O

/// What pruning one candidate would do, read from the live object: the
/// decision `decide` makes of it, and the object. Writes nothing; `plumb
/// diff` shows exactly these decisions, and `prune_one` carries them out.
pub fn plan_one(
    client: &dyn Cluster,
    candidate: &ObjectRef,
    id: &str,
    inventory: &Inventory,
    desired: &BTreeSet<ObjectRef>,
) -> Result<PrunePlan, Error> {
    let resource = client.resolve_group_kind(&candidate.group, &candidate.kind)?;
    let ns = (!candidate.namespace.is_empty()).then_some(candidate.namespace.as_str());
    let live = client.get(&resource, ns, &candidate.name)?;
    let mut facts = LiveFacts::default();
    if let Some(live) = &live {
        facts.exists = true;
        let strings = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        facts.labels = strings(&live["metadata"]["labels"]);
        facts.annotations = strings(&live["metadata"]["annotations"]);
        if candidate.group.is_empty()
            && candidate.kind == "Namespace"
            && facts.labels.get(PART_OF_LABEL).map(String::as_str) == Some(id)
        {
            let managed: BTreeSet<&ObjectRef> =
                inventory.members.iter().chain(desired.iter()).collect();
            facts.unmanaged_inside = unmanaged_in_namespace(client, &candidate.name, &managed)?;
        }
        if candidate.group == "apiextensions.k8s.io"
            && candidate.kind == "CustomResourceDefinition"
            && facts.labels.get(PART_OF_LABEL).map(String::as_str) == Some(id)
        {
            let managed: BTreeSet<&ObjectRef> =
                inventory.members.iter().chain(desired.iter()).collect();
            facts.unmanaged_inside = unmanaged_of_crd(client, live, &managed)?;
        }
    }
    Ok(PrunePlan {
        decision: decide(candidate, &facts, id),
        resource,
        live,
    })
}

/// One candidate's prune, planned.
pub struct PrunePlan {
    /// What to do.
    pub decision: PruneDecision,
    /// Its resource.
    pub resource: ApiResource,
    /// The live object, when it exists.
    pub live: Option<Value>,
}

/// Prunes one candidate as `plan_one` decides.
pub fn prune_one(
    client: &dyn Cluster,
    candidate: &ObjectRef,
    id: &str,
    inventory: &Inventory,
    desired: &BTreeSet<ObjectRef>,
) -> Result<PruneDecision, Error> {
    let plan = plan_one(client, candidate, id, inventory, desired)?;
    if plan.decision == PruneDecision::Delete {
        let ns = (!candidate.namespace.is_empty()).then_some(candidate.namespace.as_str());
        client.delete(&plan.resource, ns, &candidate.name, Propagation::Background)?;
    }
    Ok(plan.decision)
}

/// The resources of a CRD's kind, in every namespace, that plumb does not
/// manage (by "Kind namespace/name"): deleting the CRD would delete them.
fn unmanaged_of_crd(
    client: &dyn Cluster,
    crd: &Value,
    managed: &BTreeSet<&ObjectRef>,
) -> Result<Vec<String>, Error> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let served = spec["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["served"] == true))
        .and_then(|v| v["name"].as_str());
    let Some(version) = served else {
        return Ok(Vec::new());
    };
    let resource = ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        plural: spec["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        namespaced: spec["scope"] == "Namespaced",
        listable: true,
    };
    let items = client.list_metadata(&resource, None, None)?;
    Ok(items
        .iter()
        .map(|item| ObjectRef {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: item["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            name: item["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .filter(|key| !managed.contains(key))
        .map(|key| {
            if key.namespace.is_empty() {
                format!("{} {}", key.kind, key.name)
            } else {
                format!("{} {}/{}", key.kind, key.namespace, key.name)
            }
        })
        .collect())
}

/// Objects in a namespace that plumb does not manage, directly or through
/// ownerReferences, leaving out what every namespace has by itself and Events.
fn unmanaged_in_namespace(
    client: &dyn Cluster,
    namespace: &str,
    managed: &BTreeSet<&ObjectRef>,
) -> Result<Vec<String>, Error> {
    let resources = client.namespaced_resources()?;
    let namespaced: BTreeSet<(&str, &str)> = resources
        .iter()
        .map(|r| (r.group.as_str(), r.kind.as_str()))
        .collect();
    let mut objects: Vec<LiveObject> = Vec::new();
    for r in resources.iter().filter(|r| r.kind != "Event") {
        let items = client.list_metadata(r, Some(namespace), None)?;
        for item in items {
            let meta = &item["metadata"];
            let owners = meta["ownerReferences"]
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter_map(|r| {
                            let group = crate::render::group_of(r["apiVersion"].as_str()?);
                            Some(Owner {
                                uid: r["uid"].as_str()?.to_owned(),
                                namespaced: namespaced.contains(&(group, r["kind"].as_str()?)),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            objects.push(LiveObject {
                key: ObjectRef {
                    group: r.group.clone(),
                    kind: r.kind.clone(),
                    namespace: namespace.to_owned(),
                    name: meta["name"].as_str().unwrap_or_default().to_owned(),
                },
                uid: meta["uid"].as_str().unwrap_or_default().to_owned(),
                owners,
            });
        }
    }
    Ok(unmanaged(&objects, managed)
        .into_iter()
        .map(|k| format!("{} {}", k.kind, k.name))
        .collect())
}

/// Metadata of the live objects of some group-kinds that match `selector`.
pub fn list_labelled(
    client: &dyn Cluster,
    resources: &BTreeSet<ApiResource>,
    selector: &str,
) -> Result<BTreeMap<ObjectRef, Value>, Error> {
    let selector = selector.to_owned();
    let mut live = BTreeMap::new();
    for r in resources {
        let items = client.list_metadata(r, None, Some(&selector))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(group: &str, kind: &str, ns: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn chart_crds_are_never_inventoried_nor_pruned() {
        use crate::render::helm::CrdPolicy;
        let m = |api: &str, kind: &str, name: &str, chart_crd| Manifest {
            object: serde_json::json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
            origin: crate::render::Origin {
                file: "f".into(),
                document: 0,
                line: 1,
            },
            kustomized: false,
            chart_crd,
            dropped_namespace: None,
        };
        let crd = "apiextensions.k8s.io/v1";
        let revision = vec![
            m(
                crd,
                "CustomResourceDefinition",
                "a.ex.com",
                Some(CrdPolicy::Create),
            ),
            m(
                crd,
                "CustomResourceDefinition",
                "b.ex.com",
                Some(CrdPolicy::Skip),
            ),
            m(crd, "CustomResourceDefinition", "t.ex.com", None),
            m("ex.com/v1", "A", "x", None),
        ];
        let crd_ref =
            |name: &str| obj("apiextensions.k8s.io", "CustomResourceDefinition", "", name);
        let listed = inventoried(&revision);
        assert_eq!(
            listed,
            BTreeSet::from([crd_ref("t.ex.com"), obj("ex.com", "A", "", "x")]),
            "a CRD from templates/ is an ordinary object"
        );
        // An older inventory that lists a chart CRD still in the chart: dropped, not pruned.
        let all: BTreeSet<ObjectRef> = revision.iter().map(Manifest::key).collect();
        let old = Inventory {
            members: BTreeSet::from([crd_ref("a.ex.com"), crd_ref("gone.ex.com")]),
        };
        assert_eq!(prune_candidates(&old, &all), [crd_ref("gone.ex.com")]);
        assert!(!next_inventory(&listed, &[])
            .members
            .contains(&crd_ref("a.ex.com")));
        // Once the chart drops it, nothing lists it: no prune can ever pick it.
        let next = next_inventory(&listed, &[]);
        assert!(prune_candidates(&next, &BTreeSet::new())
            .iter()
            .all(|c| c.name != "a.ex.com" && c.name != "b.ex.com"));
    }

    #[test]
    fn an_object_of_another_applyset_is_foreign_unless_adopted() {
        assert_eq!(
            foreign_owner(Some("applyset-b"), "applyset-a", false),
            Some("applyset-b")
        );
        assert_eq!(foreign_owner(Some("applyset-b"), "applyset-a", true), None);
        assert_eq!(foreign_owner(Some("applyset-a"), "applyset-a", false), None);
        assert_eq!(foreign_owner(None, "applyset-a", false), None);
    }

    #[test]
    fn unmanaged_objects_are_those_no_managed_object_owns_or_mirrors() {
        let key = |kind: &str, name: &str| ObjectRef {
            group: if kind == "Deployment" || kind == "ReplicaSet" {
                "apps".into()
            } else {
                String::new()
            },
            kind: kind.into(),
            namespace: "apps".into(),
            name: name.into(),
        };
        let live = |kind: &str, name: &str, uid: &str, owners: &[&str]| LiveObject {
            key: key(kind, name),
            uid: uid.into(),
            // "cluster:x" stands for a cluster-scoped owner.
            owners: owners
                .iter()
                .map(|o| Owner {
                    uid: o.trim_start_matches("cluster:").to_string(),
                    namespaced: !o.starts_with("cluster:"),
                })
                .collect(),
        };
        let objects = [
            live("Deployment", "web", "d", &[]),
            live("ReplicaSet", "web-1", "rs", &["d"]),
            live("Pod", "web-1-a", "p", &["rs"]),
            live("Service", "web", "s", &[]),
            live("Endpoints", "web", "e", &[]),
            live("Endpoints", "other", "e2", &[]),
            live("ConfigMap", "kube-root-ca.crt", "root", &[]),
            live("ServiceAccount", "default", "sa", &[]),
            live("ConfigMap", "not-ours", "x", &[]),
            // Its ReplicaSet was deleted a moment ago: the collector's.
            live("Pod", "collected", "c", &["gone"]),
            // Owned by something cluster-scoped that plumb doesn't manage.
            live("ConfigMap", "cluster-owned", "co", &["cluster:node"]),
            live("Pod", "orphan", "o", &[]),
        ];
        let (deployment, service) = (key("Deployment", "web"), key("Service", "web"));
        let managed: BTreeSet<&ObjectRef> = [&deployment, &service].into_iter().collect();
        let names: Vec<String> = unmanaged(&objects, &managed)
            .iter()
            .map(|k| format!("{} {}", k.kind, k.name))
            .collect();
        assert_eq!(
            names,
            [
                "Endpoints other",
                "ConfigMap not-ours",
                "ConfigMap cluster-owned",
                "Pod orphan"
            ]
        );
    }

    #[test]
    fn applyset_id_matches_kubectl() {
        // kubectl's own algorithm on the same parent gives this value
        // (sha256 of "plumb-apps.plumb-system.ConfigMap.", base64url without padding).
        let id = applyset_id("plumb-apps", "plumb-system");
        assert_eq!(
            id,
            "applyset-QJ9dc-5f4DcsGAx0siFBRPsOMJXjPOCdA3-4uQwRw_0-v1"
        );
        assert_ne!(id, applyset_id("plumb-other", "plumb-system"));
    }

    #[test]
    fn inventory_round_trips_and_summarises() {
        let inv = Inventory {
            members: BTreeSet::from([
                obj("apps", "Deployment", "web", "web"),
                obj("", "ConfigMap", "web", "cfg"),
                obj("", "Namespace", "", "web"),
                obj("", "ConfigMap", "db", "cfg"),
            ]),
        };
        assert_eq!(Inventory::decode(&inv.encode()).unwrap(), inv);
        assert_eq!(inv.group_kinds(), "ConfigMap,Deployment.apps,Namespace");
        assert_eq!(inv.additional_namespaces(), "db,web");
        assert!(Inventory::decode("{bad")
            .unwrap_err()
            .contains("inventory line 1"));
    }

    #[test]
    fn candidates_delete_namespaces_and_crds_last() {
        let old = Inventory {
            members: BTreeSet::from([
                obj("", "Namespace", "", "a"),
                obj(
                    "apiextensions.k8s.io",
                    "CustomResourceDefinition",
                    "",
                    "w.ex.com",
                ),
                obj("", "ConfigMap", "a", "gone"),
                obj("", "ConfigMap", "a", "stays"),
            ]),
        };
        let desired = BTreeSet::from([obj("", "ConfigMap", "a", "stays")]);
        let kinds: Vec<String> = prune_candidates(&old, &desired)
            .into_iter()
            .map(|m| m.kind)
            .collect();
        assert_eq!(
            kinds,
            ["ConfigMap", "CustomResourceDefinition", "Namespace"]
        );
    }

    #[test]
    fn decisions_are_safe() {
        let id = "applyset-x-v1";
        let cm = obj("", "ConfigMap", "a", "c");
        let mut live = LiveFacts {
            exists: true,
            labels: BTreeMap::from([(PART_OF_LABEL.to_owned(), id.to_owned())]),
            ..LiveFacts::default()
        };
        assert_eq!(decide(&cm, &live, id), PruneDecision::Delete);
        assert_eq!(decide(&cm, &LiveFacts::default(), id), PruneDecision::Gone);
        assert!(
            matches!(decide(&cm, &live, "applyset-other-v1"), PruneDecision::Keep(r) if r.contains("does not carry"))
        );
        live.annotations
            .insert(PRUNE_ANNOTATION.into(), "disabled".into());
        assert!(matches!(decide(&cm, &live, id), PruneDecision::Keep(r) if r.contains("disabled")));
        live.annotations.clear();
        live.annotations
            .insert(HELM_RESOURCE_POLICY.into(), "keep".into());
        assert!(
            matches!(decide(&cm, &live, id), PruneDecision::Keep(r) if r.contains("helm.sh/resource-policy: keep"))
        );
        live.annotations.clear();
        let ns = obj("", "Namespace", "", "a");
        live.unmanaged_inside = vec!["ConfigMap x".into()];
        assert!(
            matches!(decide(&ns, &live, id), PruneDecision::Hold(r) if r.contains("ConfigMap x"))
        );
        live.unmanaged_inside.clear();
        assert_eq!(decide(&ns, &live, id), PruneDecision::Delete);
        let system = obj("", "Namespace", "", SYSTEM_NAMESPACE);
        assert!(matches!(decide(&system, &live, id), PruneDecision::Keep(_)));
        assert!(is_namespace_default("ConfigMap", "kube-root-ca.crt"));
        assert!(is_namespace_default("Secret", "default-token-abcde"));
        assert!(!is_namespace_default("ConfigMap", "app"));
    }

    #[test]
    fn failed_deletes_stay_in_the_inventory() {
        // Regression of the Flux bug (fluxcd/kustomize-controller#1664): an
        // object whose delete failed must not become an untracked orphan.
        let applied = BTreeSet::from([obj("", "ConfigMap", "a", "new")]);
        let failed = vec![obj("", "ConfigMap", "a", "stuck")];
        let next = next_inventory(&applied, &failed);
        assert!(next.members.contains(&obj("", "ConfigMap", "a", "stuck")));
        assert!(next.members.contains(&obj("", "ConfigMap", "a", "new")));
    }
}
