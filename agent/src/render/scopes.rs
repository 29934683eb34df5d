//! Which kinds are namespaced: discovery when a cluster is at hand, else Kubernetes'
//! built-in kinds plus the CRDs found in the revision.

use std::collections::HashMap;

use serde_json::Value;

use super::group_of;

/// Which kinds are namespaced.
pub trait Scopes {
    /// `Some(true)` namespaced, `Some(false)` cluster-scoped, `None` unknown.
    fn namespaced(&self, api_version: &str, kind: &str) -> Option<bool>;
}

/// The built-in kinds of Kubernetes, plus CRDs found in the revision.
#[derive(Debug, Default, Clone)]
pub struct OfflineScopes {
    crds: HashMap<(String, String), bool>,
}

pub(super) const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
];

pub(super) const NAMESPACED: &[(&str, &str)] = &[
    ("", "Pod"),
    ("", "Service"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "ServiceAccount"),
    ("", "PersistentVolumeClaim"),
    ("", "ReplicationController"),
    ("", "PodTemplate"),
    ("", "Endpoints"),
    ("", "LimitRange"),
    ("", "ResourceQuota"),
    ("", "Event"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("apps", "ControllerRevision"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("policy", "PodDisruptionBudget"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("coordination.k8s.io", "Lease"),
    ("events.k8s.io", "Event"),
];

impl OfflineScopes {
    /// The built-in table plus the CRDs among `objects`.
    pub fn with_crds<'a>(objects: impl IntoIterator<Item = &'a Value>) -> OfflineScopes {
        let mut crds = HashMap::new();
        for o in objects {
            if o["kind"] == "CustomResourceDefinition"
                && group_of(o["apiVersion"].as_str().unwrap_or_default()) == "apiextensions.k8s.io"
            {
                let group = o["spec"]["group"].as_str().unwrap_or_default().to_owned();
                let kind = o["spec"]["names"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let namespaced = o["spec"]["scope"] != "Cluster";
                crds.insert((group, kind), namespaced);
            }
        }
        OfflineScopes { crds }
    }
}

impl Scopes for OfflineScopes {
    fn namespaced(&self, api_version: &str, kind: &str) -> Option<bool> {
        let group = group_of(api_version);
        if CLUSTER_SCOPED.contains(&(group, kind)) {
            return Some(false);
        }
        if NAMESPACED.contains(&(group, kind)) {
            return Some(true);
        }
        self.crds.get(&(group.to_owned(), kind.to_owned())).copied()
    }
}
