//! Report: the sync's status and inventory in its parent ConfigMap, and one
//! summary Event per cycle that changed something or failed.
//!
//! Building the parent and deciding whether anything must be written are pure;
//! an idle cycle writes nothing (on k3s every API write is an SD-card write).

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kube::{ApiResource, ApplyOptions, Cluster, Error};
use crate::prune::{self, Inventory};

/// One condition, as Kubernetes objects carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Ready, Reconciling or Stalled.
    #[serde(rename = "type")]
    pub kind: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// What a person reads.
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: String,
}

/// Object counts of the last cycle that changed something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Objects in the revision.
    pub managed: usize,
    /// Objects created or changed.
    pub applied: usize,
    /// Objects already as Git says.
    pub unchanged: usize,
    /// Objects deleted.
    pub pruned: usize,
    /// Objects found drifted.
    pub drifted: usize,
}

/// What the parent ConfigMap says about its sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The revision in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// When it was applied (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// The last failure's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<String>,
    /// Ready, Reconciling, Stalled.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Counts.
    #[serde(default)]
    pub counts: Counts,
    /// Health seen after the last apply, one line per object not ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<String>,
    /// Objects that left Git but were not pruned, with why ("Namespace
    /// apps: the namespace holds …"); those held stay in the inventory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
}

impl SyncStatus {
    /// The condition of that type, if set.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Sets a condition, keeping its transition time when its status is unchanged.
    pub fn set_condition(
        &mut self,
        kind: &str,
        status: bool,
        reason: &str,
        message: &str,
        now: &str,
    ) {
        let status = if status { "True" } else { "False" };
        let transition = match self.condition(kind) {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => now.to_owned(),
        };
        self.conditions.retain(|c| c.kind != kind);
        self.conditions.push(Condition {
            kind: kind.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: transition,
        });
        self.conditions.sort_by(|a, b| a.kind.cmp(&b.kind));
    }
}

/// The parent ConfigMap as plumb applies it: the ApplySet labels and
/// annotations, the inventory, and the status.
pub fn parent_object(sync: &str, inventory: &Inventory, status: &SyncStatus) -> Value {
    let name = prune::parent_name(sync);
    let text = inventory.encode();
    // Small inventories stay text, readable with kubectl; large ones go compressed, so
    // that any count a sync can apply fits the ConfigMap.
    // The text stays, empty, beside a compressed one: a non-empty text is the inventory,
    // whatever binaryData another manager may have left.
    let (data_inventory, binary) = if text.len() <= PLAIN_INVENTORY_BYTES {
        (text, None)
    } else {
        use base64::Engine as _;
        let bytes = inventory.encode_compressed();
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        (
            String::new(),
            Some(json!({ COMPRESSED_INVENTORY_KEY: encoded })),
        )
    };
    let mut parent = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": prune::SYSTEM_NAMESPACE,
            "labels": {
                prune::ID_LABEL: prune::applyset_id(&name, prune::SYSTEM_NAMESPACE),
                "app.kubernetes.io/managed-by": "plumb",
                "plumb.dev/sync": sync,
            },
            "annotations": {
                prune::TOOLING_ANNOTATION: format!("plumb/v{}", env!("CARGO_PKG_VERSION")),
                prune::GROUP_KINDS_ANNOTATION: inventory.group_kinds(),
                prune::NAMESPACES_ANNOTATION: inventory.additional_namespaces(),
            },
        },
        "data": {
            "inventory": data_inventory,
            "status": serde_json::to_string_pretty(status).expect("serialisable"),
        },
    });
    if let Some(binary) = binary {
        parent["binaryData"] = binary;
    }
    parent
}

/// Past this many bytes of text, the inventory is written compressed, under
/// `binaryData.inventory.gz` (a ConfigMap holds at most 1 MiB in all).
pub const PLAIN_INVENTORY_BYTES: usize = 256 << 10;

/// The key of the compressed inventory in the parent's binaryData.
pub const COMPRESSED_INVENTORY_KEY: &str = "inventory.gz";

/// The most inventory text a parent may inflate to (about a million members).
const MAX_INVENTORY_TEXT: usize = 128 << 20;

/// The inventory and status a live parent holds (empty for a new sync).
pub fn read_parent(parent: Option<&Value>) -> Result<(Inventory, SyncStatus), UnreadableParent> {
    let Some(parent) = parent else {
        return Ok(Default::default());
    };
    let text = parent["data"]["inventory"].as_str().unwrap_or_default();
    let compressed = parent["binaryData"][COMPRESSED_INVENTORY_KEY]
        .as_str()
        .filter(|_| text.trim().is_empty());
    let inventory = match compressed {
        Some(encoded) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| {
                    UnreadableParent::Inventory(format!("the compressed inventory: {e}"))
                })?;
            Inventory::decode_compressed(&bytes, MAX_INVENTORY_TEXT)
        }
        None => Inventory::decode(text),
    }
    .map_err(UnreadableParent::Inventory)?;
    let status = match parent["data"]["status"].as_str() {
        Some(text) if !text.is_empty() => {
            serde_json::from_str(text).map_err(UnreadableParent::Status)?
        }
        _ => SyncStatus::default(),
    };
    Ok((inventory, status))
}

/// Why a parent ConfigMap could not be read (someone edited it, or a newer plumb wrote it).
#[derive(Debug, thiserror::Error)]
pub enum UnreadableParent {
    /// Its inventory does not decode.
    #[error("{0}")]
    Inventory(String),
    /// Its status is not the JSON plumb writes.
    #[error("status of the parent ConfigMap: {0}")]
    Status(#[source] serde_json::Error),
}

/// Whether the live parent already holds what `desired` says.
pub fn parent_unchanged(live: Option<&Value>, desired: &Value) -> bool {
    let Some(live) = live else { return false };
    let same = |path: &[&str]| {
        let (mut a, mut b) = (live, desired);
        for p in path {
            a = &a[*p];
            b = &b[*p];
        }
        match (a.as_object(), b.as_object()) {
            (Some(a), Some(b)) => b.iter().all(|(k, v)| a.get(k) == Some(v)),
            _ => a == b,
        }
    };
    // Only plumb's own key of binaryData, and only when plumb writes it: another manager's
    // keys are theirs, and a text inventory is read whatever is left there.
    let compressed = |parent: &Value| parent["binaryData"][COMPRESSED_INVENTORY_KEY].clone();
    let compressed_same = compressed(desired).is_null() || compressed(live) == compressed(desired);
    same(&["data"])
        && compressed_same
        && same(&["metadata", "labels"])
        && same(&["metadata", "annotations"])
}

/// Ensures plumb-system exists (one GET when it does).
pub fn ensure_system_namespace(client: &dyn Cluster) -> Result<(), Error> {
    let ns = ApiResource::namespace();
    if client.get(&ns, None, prune::SYSTEM_NAMESPACE)?.is_none() {
        let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": prune::SYSTEM_NAMESPACE}});
        client.apply(
            &ns,
            &object,
            ApplyOptions {
                force: true,
                dry_run: false,
            },
        )?;
    }
    Ok(())
}

/// The cluster's key for charts' generated values (`plumb-system/plumb-chart-seed`): read,
/// or when missing and `create`, made from 256 bits of the system's randomness. Two nodes
/// making it at once both end with the one the API server kept.
pub fn chart_key(client: &dyn Cluster, create: bool) -> Result<[u8; 32], Error> {
    // Read once per process: an idle cycle asks nothing. A new key (the Secret deleted)
    // takes effect when plumb restarts.
    static KEY: std::sync::Mutex<Option<[u8; 32]>> = std::sync::Mutex::new(None);
    if let Some(key) = *KEY.lock().unwrap_or_else(|e| e.into_inner()) {
        return Ok(key);
    }
    let key = read_or_make_chart_key(client, create)?;
    if key != [0; 32] {
        *KEY.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }
    Ok(key)
}

fn read_or_make_chart_key(client: &dyn Cluster, create: bool) -> Result<[u8; 32], Error> {
    let secrets = ApiResource::secret();
    let name = crate::render::helm::SEED_SECRET;
    let read = |object: &Value| -> Option<[u8; 32]> {
        use base64::Engine as _;
        let text = object["data"]["key"].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        bytes.try_into().ok()
    };
    let unreadable = |action: &'static str| {
        Error::Decode {
        action: Box::new(secrets.action(action, Some(prune::SYSTEM_NAMESPACE), Some(name))),
        cause: "data.key is not 32 bytes of base64; delete the Secret to make a new key (charts' generated values change)".into(),
    }
    };
    if let Some(object) = client.get(&secrets, Some(prune::SYSTEM_NAMESPACE), name)? {
        return read(&object).ok_or_else(|| unreadable("get"));
    }
    if !create {
        return Ok([0; 32]);
    }
    ensure_system_namespace(client)?;
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(|_| {
        Error::Decode {
            action: Box::new(secrets.action("create", Some(prune::SYSTEM_NAMESPACE), Some(name))),
            cause: "the system has no randomness to make a key from".into(),
        }
    })?;
    use base64::Engine as _;
    let object = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": prune::SYSTEM_NAMESPACE},
        "type": "Opaque",
        "data": {"key": base64::engine::general_purpose::STANDARD.encode(key)},
    });
    match client.create(&secrets, Some(prune::SYSTEM_NAMESPACE), &object) {
        Ok(_) => Ok(key),
        Err(Error::Conflict { .. }) => {
            match client.get(&secrets, Some(prune::SYSTEM_NAMESPACE), name)? {
                Some(object) => read(&object).ok_or_else(|| unreadable("get")),
                None => Err(unreadable("get")),
            }
        }
        Err(e) => Err(e),
    }
}

/// Reads a sync's parent ConfigMap.
pub fn get_parent(client: &dyn Cluster, sync: &str) -> Result<Option<Value>, Error> {
    client.get(
        &ApiResource::config_map(),
        Some(prune::SYSTEM_NAMESPACE),
        &prune::parent_name(sync),
    )
}

/// Writes the parent when it differs from `live`; returns whether it wrote.
pub fn write_parent(
    client: &dyn Cluster,
    live: Option<&Value>,
    desired: &Value,
) -> Result<bool, Error> {
    if parent_unchanged(live, desired) {
        return Ok(false);
    }
    client.apply(
        &ApiResource::config_map(),
        desired,
        ApplyOptions {
            force: true,
            dry_run: false,
        },
    )?;
    Ok(true)
}

/// Event type: Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something changed as it should.
    Normal,
    /// Something failed.
    Warning,
}

/// Posts one Event about a sync, on its parent ConfigMap.
pub fn post_event(
    client: &dyn Cluster,
    sync: &str,
    node: &str,
    severity: Severity,
    reason: &str,
    message: &str,
) -> Result<(), Error> {
    let parent = prune::parent_name(sync);
    let stamp = crate::clock::timestamp();
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{parent}.")),
            namespace: Some(prune::SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: Some(parent),
            namespace: Some(prune::SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        reason: Some(reason.into()),
        // Events cap their message at 1 KiB.
        message: Some(message.chars().take(1000).collect()),
        type_: Some(match severity {
            Severity::Normal => "Normal".into(),
            Severity::Warning => "Warning".into(),
        }),
        source: Some(EventSource {
            component: Some("plumb".into()),
            host: Some(node.into()),
        }),
        reporting_component: Some("plumb".into()),
        reporting_instance: Some(node.into()),
        action: Some("Reconcile".into()),
        first_timestamp: Some(Time(stamp)),
        last_timestamp: Some(Time(stamp)),
        event_time: Some(MicroTime(stamp)),
        count: Some(1),
        ..Default::default()
    };
    let resource = ApiResource::event();
    let event = serde_json::to_value(&event).map_err(|e| Error::Decode {
        action: Box::new(resource.action("create", Some(prune::SYSTEM_NAMESPACE), None)),
        cause: e.to_string(),
    })?;
    client.create(&resource, Some(prune::SYSTEM_NAMESPACE), &event)?;
    Ok(())
}

/// Counts of each condition, for logs and `plumb status`.
pub fn summary(status: &SyncStatus) -> String {
    let ready = status.condition("Ready");
    let state = match ready {
        Some(c) if c.status == "True" => "Ready".to_owned(),
        Some(c) => format!("not Ready ({})", c.reason),
        None => "never reconciled".to_owned(),
    };
    let rev = status.revision.as_deref().map(short).unwrap_or("none");
    format!("rev {rev} {state}, {} objects", status.counts.managed)
}

/// The first 7 characters of a commit id (or the whole of a shorter id).
pub fn short(revision: &str) -> &str {
    // The status ConfigMap is editable by others: any text may come back here.
    match revision.char_indices().nth(7) {
        Some((end, _)) => &revision[..end],
        None => revision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::ObjectRef;
    use std::collections::BTreeSet;

    #[test]
    fn short_revisions_cut_at_characters_not_bytes() {
        assert_eq!(short("0123456789abcdef"), "0123456");
        assert_eq!(short("abc"), "abc");
        // A status edited by someone else: multi-byte characters must not panic.
        assert_eq!(short("ééééééééé"), "ééééééé");
        assert_eq!(short("€"), "€");
    }

    #[test]
    fn conditions_keep_transition_times() {
        let mut s = SyncStatus::default();
        s.set_condition("Ready", true, "Synced", "ok", "t1");
        s.set_condition("Ready", true, "Synced", "still ok", "t2");
        assert_eq!(s.condition("Ready").unwrap().last_transition_time, "t1");
        s.set_condition("Ready", false, "Failed", "bad", "t3");
        assert_eq!(s.condition("Ready").unwrap().last_transition_time, "t3");
        s.set_condition("Stalled", false, "", "", "t3");
        let kinds: Vec<_> = s.conditions.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["Ready", "Stalled"]);
    }

    #[test]
    fn parent_round_trips_and_detects_change() {
        let inv = Inventory {
            members: BTreeSet::from([ObjectRef {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: "web".into(),
                name: "web".into(),
            }]),
        };
        let mut status = SyncStatus {
            revision: Some("abc".into()),
            ..Default::default()
        };
        status.counts.managed = 1;
        let parent = parent_object("apps", &inv, &status);
        assert_eq!(
            parent["metadata"]["annotations"][prune::GROUP_KINDS_ANNOTATION],
            "Deployment.apps"
        );
        assert_eq!(
            parent["metadata"]["annotations"][prune::NAMESPACES_ANNOTATION],
            "web"
        );
        let (inv2, status2) = read_parent(Some(&parent)).unwrap();
        assert_eq!((inv2, status2), (inv.clone(), status.clone()));
        // The live object has more (server metadata); unchanged all the same.
        let mut live = parent.clone();
        live["metadata"]["resourceVersion"] = json!("5");
        live["metadata"]["labels"]["extra"] = json!("x");
        assert!(parent_unchanged(Some(&live), &parent));
        status.counts.managed = 2;
        assert!(!parent_unchanged(
            Some(&live),
            &parent_object("apps", &inv, &status)
        ));
        assert!(!parent_unchanged(None, &parent));
        assert_eq!(read_parent(None).unwrap(), Default::default());
    }

    #[test]
    fn summary_reads_well() {
        let mut s = SyncStatus {
            revision: Some("3f2a91c0ffee".into()),
            ..Default::default()
        };
        s.counts.managed = 42;
        s.set_condition("Ready", true, "Synced", "", "t");
        assert_eq!(summary(&s), "rev 3f2a91c Ready, 42 objects");
        assert!(crate::clock::now().ends_with('Z'));
    }

    fn members(count: usize) -> Inventory {
        Inventory {
            members: (0..count)
                .map(|i| ObjectRef {
                    group: if i % 2 == 0 {
                        String::new()
                    } else {
                        "apps".into()
                    },
                    kind: if i % 2 == 0 {
                        "ConfigMap"
                    } else {
                        "Deployment"
                    }
                    .into(),
                    namespace: format!("team-{}", i % 7),
                    name: format!("app-{i:06}-config"),
                })
                .collect(),
        }
    }

    #[test]
    fn an_inventory_of_20000_objects_fits_its_configmap_compressed_and_reads_back() {
        // Hostile input 20: past about 14,000 objects the inventory's text outgrew the
        // ConfigMap, its write failed, and nothing applied could ever be pruned.
        let inventory = members(20_000);
        assert!(
            inventory.encode().len() > 1 << 20,
            "the text alone would not fit"
        );
        let status = SyncStatus::default();
        let parent = parent_object("apps", &inventory, &status);
        let size = serde_json::to_vec(&parent).unwrap().len();
        assert!(size < 256 << 10, "{size} bytes");
        assert_eq!(
            parent["data"]["inventory"], "",
            "the text is emptied, not left"
        );
        let (read, _) = read_parent(Some(&parent)).unwrap();
        assert_eq!(read, inventory);
        // The same members, the same bytes: an idle cycle finds its parent unchanged.
        assert!(parent_unchanged(
            Some(&parent),
            &parent_object("apps", &inventory, &status)
        ));
    }

    #[test]
    fn a_small_inventory_stays_text_and_a_change_of_form_is_a_change() {
        let status = SyncStatus::default();
        let small = parent_object("apps", &members(10), &status);
        assert!(small["data"]["inventory"]
            .as_str()
            .unwrap()
            .contains("app-000003-config"));
        assert!(small.get("binaryData").is_none());
        let large = parent_object("apps", &members(20_000), &status);
        assert!(!parent_unchanged(Some(&small), &large));
        assert!(!parent_unchanged(Some(&large), &small));
    }

    #[test]
    fn a_forged_compressed_inventory_is_refused_not_inflated_without_bound() {
        use base64::Engine as _;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let parent = |encoded: String| json!({"binaryData": {COMPRESSED_INVENTORY_KEY: encoded}});
        let garbage = read_parent(Some(&parent(encode(b"not gzip at all")))).unwrap_err();
        assert!(
            garbage
                .to_string()
                .contains("the compressed inventory: is not a gzipped"),
            "{garbage}"
        );
        let not_base64 = read_parent(Some(&parent("!!!".into()))).unwrap_err();
        assert!(
            not_base64.to_string().contains("compressed inventory"),
            "{not_base64}"
        );
        // More text than the limit allows: refused before it is all held.
        let zeros = Inventory::decode_compressed(&members(50_000).encode_compressed(), 1 << 20)
            .unwrap_err();
        assert!(zeros.contains("decompresses to more than 1 MiB"), "{zeros}");
        let cut = members(1_000).encode_compressed();
        let short = Inventory::decode_compressed(&cut[..cut.len() / 2], 1 << 20).unwrap_err();
        assert!(short.contains("is truncated"), "{short}");
    }

    #[test]
    fn a_text_inventory_wins_over_a_compressed_one_left_behind_and_others_keys_are_theirs() {
        let status = SyncStatus::default();
        let large = parent_object("apps", &members(20_000), &status);
        let mut small = parent_object("apps", &members(10), &status);
        // What a shrink leaves when another manager co-owns the old key, plus a key of theirs.
        small["binaryData"] = large["binaryData"].clone();
        small["binaryData"]["theirs"] = json!("eA==");
        let (read, _) = read_parent(Some(&small)).unwrap();
        assert_eq!(read, members(10));
        let desired = parent_object("apps", &members(10), &status);
        assert!(
            parent_unchanged(Some(&small), &desired),
            "binaryData left by others made every idle cycle write"
        );
    }
}
