//! The data every stage passes along: a revision's files, the objects rendered from them
//! with where each was declared, their identity in the cluster, and plumb's namespace.

use std::fmt;

use serde_json::Value;

use crate::render::helm;

/// The namespace plumb keeps its own objects in: each sync's parent (inventory and
/// status), its Events, the leader Lease and the chart key.
pub const SYSTEM_NAMESPACE: &str = "plumb-system";

/// One file of the revision, its path relative to the repository's top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Path inside the repository, with `/` separators.
    pub path: String,
    /// Content.
    pub bytes: Vec<u8>,
}

/// Where an object was declared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// Path inside the repository.
    pub file: String,
    /// Index of the YAML document in the file, from 0.
    pub document: usize,
    /// Line (from 1) where the document starts.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} (document {})",
            self.file, self.line, self.document
        )
    }
}

/// The identity of an object in the cluster: group, kind, namespace, name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ObjectRef {
    /// API group, "" for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)?;
        } else {
            write!(f, "{}.{}", self.kind, self.group)?;
        }
        if self.namespace.is_empty() {
            write!(f, " {}", self.name)
        } else {
            write!(f, " {}/{}", self.namespace, self.name)
        }
    }
}

/// The group part of an apiVersion: "apps/v1" → "apps", "v1" → "".
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map(|(g, _)| g).unwrap_or("")
}

/// A rendered object.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object, as it will be applied.
    pub object: Value,
    /// Where it was declared.
    pub origin: Origin,
    /// Built by kustomize, whose `namespace:` also lands on kinds it cannot
    /// tell are cluster-scoped (custom ones); there, as with `kubectl apply
    /// -k`, the namespace is dropped rather than refused.
    pub kustomized: bool,
    /// A CRD from a chart's crds/ folder, with the chart's policy for them: created,
    /// updated or left as [`helm::CrdPolicy`] says, and never pruned. None for every other
    /// object (a CRD from a chart's templates/ too).
    pub chart_crd: Option<helm::CrdPolicy>,
    /// The namespace kustomize's output gave a cluster-scoped object: dropped from
    /// [`Manifest::object`] (the API server clears it, and the object's identity has
    /// none), kept here for `plumb render`, which prints it as `kubectl kustomize` does.
    pub dropped_namespace: Option<String>,
}

impl Manifest {
    /// The object's identity.
    pub fn key(&self) -> ObjectRef {
        key_of(&self.object)
    }
}

/// The identity of an object value (missing fields read as empty).
pub fn key_of(object: &Value) -> ObjectRef {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    ObjectRef {
        group: group_of(object["apiVersion"].as_str().unwrap_or_default()).to_owned(),
        kind: s(&object["kind"]),
        namespace: s(&object["metadata"]["namespace"]),
        name: s(&object["metadata"]["name"]),
    }
}
