//! Discovery: apiVersion + kind → resource path and scope.
//!
//! Plain functions over the API's resource lists; the cache and the requests
//! live in [`super::Client::resolve`].

use super::error::Action;

/// A resource type the API server serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiResource {
    /// API group, "" for the core group.
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// Kind, as manifests spell it.
    pub kind: String,
    /// Plural resource name used in URLs.
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether the resource supports list.
    pub listable: bool,
}

impl ApiResource {
    fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        ApiResource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            listable: true,
        }
    }

    /// core/v1 ConfigMap.
    pub fn config_map() -> Self {
        Self::builtin("", "v1", "ConfigMap", "configmaps", true)
    }
    /// core/v1 Secret.
    pub fn secret() -> Self {
        Self::builtin("", "v1", "Secret", "secrets", true)
    }
    /// authentication.k8s.io/v1 SelfSubjectReview: who the client is.
    pub fn self_subject_review() -> Self {
        Self::builtin(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
        )
    }
    /// core/v1 Namespace.
    pub fn namespace() -> Self {
        Self::builtin("", "v1", "Namespace", "namespaces", false)
    }
    /// core/v1 Event.
    pub fn event() -> Self {
        Self::builtin("", "v1", "Event", "events", true)
    }
    /// coordination.k8s.io/v1 Lease.
    pub fn lease() -> Self {
        Self::builtin("coordination.k8s.io", "v1", "Lease", "leases", true)
    }
    /// apiextensions.k8s.io/v1 CustomResourceDefinition.
    pub fn crd() -> Self {
        Self::builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
    }
    /// authorization.k8s.io/v1 SelfSubjectAccessReview.
    pub fn self_subject_access_review() -> Self {
        Self::builtin(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        )
    }

    /// "v1" or "apps/v1".
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// "configmaps" or "deployments.apps", as kubectl and RBAC messages say it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// URL path of the collection (name `None`) or of one object.
    pub fn path(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        let mut path = group_version_path(&self.api_version());
        // Names come from Git: each is one path segment, whatever it holds.
        if self.namespaced {
            if let Some(ns) = namespace {
                path.push_str("/namespaces/");
                path.push_str(&segment(ns));
            }
        }
        path.push('/');
        path.push_str(&self.plural);
        if let Some(name) = name {
            path.push('/');
            path.push_str(&segment(name));
        }
        path
    }

    /// Describes a request on this resource, for errors.
    pub fn action(
        &self,
        verb: &'static str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Action {
        Action {
            verb,
            resource: self.qualified(),
            namespace: namespace.filter(|_| self.namespaced).map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }
}

/// One URL path segment holding `text` exactly: percent-encoded, and "." or
/// ".." (which a server would resolve as a path step) spelt as %2E.
fn segment(text: &str) -> String {
    if text.bytes().all(|b| b == b'.') {
        return "%2E".repeat(text.len());
    }
    super::client::percent_encode(text)
}

/// `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
pub fn group_version_path(api_version: &str) -> String {
    if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    }
}

/// The Accept header that asks `/api` and `/apis` for aggregated discovery
/// (apidiscovery.k8s.io/v2, GA since Kubernetes 1.30): every group, version
/// and resource in one answer each, instead of one request per group-version.
pub const AGGREGATED_ACCEPT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// An APIGroupDiscoveryList as the server sends it.
#[derive(Debug, serde::Deserialize)]
pub struct DiscoveryList {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    items: Vec<DiscoveryGroup>,
}

#[derive(Debug, serde::Deserialize)]
struct DiscoveryGroup {
    #[serde(default)]
    metadata: GroupMeta,
    #[serde(default)]
    versions: Vec<DiscoveryVersion>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct GroupMeta {
    #[serde(default)]
    name: String,
}

#[derive(Debug, serde::Deserialize)]
struct DiscoveryVersion {
    version: String,
    #[serde(default)]
    resources: Vec<DiscoveryResource>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscoveryResource {
    resource: String,
    #[serde(default)]
    response_kind: Option<ResponseKind>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    verbs: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ResponseKind {
    #[serde(default)]
    kind: String,
}

/// What the server serves: each group-version's resources, and each group's
/// versions in the server's order of preference.
#[derive(Debug, Default, Clone)]
pub struct Served {
    /// "v1", "apps/v1", … → resources.
    pub by_version: std::collections::HashMap<String, std::sync::Arc<Vec<ApiResource>>>,
    /// group → its group-versions, preferred first ("" is the core group).
    pub preferred: std::collections::HashMap<String, Vec<String>>,
}

impl Served {
    /// Adds one aggregated discovery answer (`/api` or `/apis`); an answer of
    /// another kind (a server without aggregated discovery) is an error.
    pub fn add(&mut self, list: DiscoveryList) -> Result<(), String> {
        if list.kind != "APIGroupDiscoveryList" {
            return Err(format!(
                "the server answered discovery with '{}', not an aggregated APIGroupDiscoveryList (plumb needs Kubernetes 1.33 or later)",
                list.kind
            ));
        }
        for group in list.items {
            let name = group.metadata.name;
            let mut versions = Vec::new();
            for v in group.versions {
                let api_version = if name.is_empty() {
                    v.version.clone()
                } else {
                    format!("{name}/{}", v.version)
                };
                let resources = v
                    .resources
                    .into_iter()
                    .filter_map(|r| {
                        Some(ApiResource {
                            group: name.clone(),
                            version: v.version.clone(),
                            kind: r.response_kind.filter(|k| !k.kind.is_empty())?.kind,
                            plural: r.resource,
                            namespaced: r.scope == "Namespaced",
                            listable: r.verbs.iter().any(|v| v == "list"),
                        })
                    })
                    .collect();
                self.by_version
                    .insert(api_version.clone(), std::sync::Arc::new(resources));
                versions.push(api_version);
            }
            self.preferred.insert(name, versions);
        }
        Ok(())
    }

    /// The group's preferred group-version, if the group is served.
    pub fn preferred_version(&self, group: &str) -> Option<&str> {
        self.preferred
            .get(group)
            .and_then(|vs| vs.first())
            .map(String::as_str)
    }

    /// Every namespaced, listable resource at its group's preferred version.
    pub fn namespaced_resources(&self) -> Vec<ApiResource> {
        let mut out: Vec<ApiResource> = self
            .preferred
            .values()
            .filter_map(|vs| vs.first())
            .filter_map(|gv| self.by_version.get(gv))
            .flat_map(|list| list.iter().filter(|r| r.namespaced && r.listable).cloned())
            .collect();
        out.sort();
        out
    }
}

/// The resource for `kind`, if the group-version serves it.
pub fn find<'a>(list: &'a [ApiResource], kind: &str) -> Option<&'a ApiResource> {
    list.iter().find(|r| r.kind == kind)
}

/// Extra words for an unknown kind: a near-miss in spelling, or an unserved group-version.
pub fn hint(list: &[ApiResource], kind: &str) -> String {
    if list.is_empty() {
        return ": that API version is not served (is its CRD installed?)".into();
    }
    match list.iter().find(|r| r.kind.eq_ignore_ascii_case(kind)) {
        Some(r) => format!(": did you mean '{}'?", r.kind),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names() {
        let cm = ApiResource::config_map();
        assert_eq!(
            cm.path(Some("a"), Some("b")),
            "/api/v1/namespaces/a/configmaps/b"
        );
        assert_eq!(cm.path(None, None), "/api/v1/configmaps");
        assert_eq!(
            cm.path(Some("a"), Some("../../kube-system/configmaps/victim")),
            "/api/v1/namespaces/a/configmaps/..%2F..%2Fkube-system%2Fconfigmaps%2Fvictim"
        );
        assert_eq!(
            cm.path(Some("a b"), Some("x?dryRun=All&y")),
            "/api/v1/namespaces/a%20b/configmaps/x%3FdryRun%3DAll%26y"
        );
        assert_eq!(
            cm.path(Some("a"), Some("..")),
            "/api/v1/namespaces/a/configmaps/%2E%2E"
        );
        let crd = ApiResource::crd();
        assert_eq!(
            crd.path(Some("ignored"), Some("x")),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x"
        );
        assert_eq!(
            crd.qualified(),
            "customresourcedefinitions.apiextensions.k8s.io"
        );
        assert_eq!(crd.action("get", Some("ns"), None).namespace, None);
    }

    #[test]
    fn aggregated_discovery_keeps_preference_order_and_skips_subresources() {
        let apis: DiscoveryList = serde_json::from_str(
            r#"{"kind":"APIGroupDiscoveryList","items":[
              {"metadata":{"name":"apps"},"versions":[{"version":"v1","resources":[
                {"resource":"deployments","responseKind":{"group":"","version":"","kind":"Deployment"},"scope":"Namespaced","verbs":["get","list"],
                 "subresources":[{"subresource":"status","responseKind":{"kind":"Deployment"}}]}]}]},
              {"metadata":{"name":"autoscaling"},"versions":[
                {"version":"v2","resources":[{"resource":"horizontalpodautoscalers","responseKind":{"kind":"HorizontalPodAutoscaler"},"scope":"Namespaced","verbs":["list"]}]},
                {"version":"v1","resources":[{"resource":"horizontalpodautoscalers","responseKind":{"kind":"HorizontalPodAutoscaler"},"scope":"Namespaced","verbs":["list"]}]}]},
              {"metadata":{"name":"rbac.authorization.k8s.io"},"versions":[{"version":"v1","resources":[
                {"resource":"clusterroles","responseKind":{"kind":"ClusterRole"},"scope":"Cluster","verbs":["list"]}]}]}]}"#,
        )
        .unwrap();
        let core: DiscoveryList = serde_json::from_str(
            r#"{"kind":"APIGroupDiscoveryList","items":[{"metadata":{},"versions":[{"version":"v1","resources":[
              {"resource":"configmaps","responseKind":{"kind":"ConfigMap"},"scope":"Namespaced","verbs":["create","list"]},
              {"resource":"bindings","responseKind":{"kind":"Binding"},"scope":"Namespaced","verbs":["create"]}]}]}]}"#,
        )
        .unwrap();
        let mut served = Served::default();
        served.add(core).unwrap();
        served.add(apis).unwrap();
        let apps = &served.by_version["apps/v1"];
        assert_eq!(apps.len(), 1);
        assert_eq!(find(apps, "Deployment").unwrap().plural, "deployments");
        assert!(
            find(&served.by_version["v1"], "ConfigMap")
                .unwrap()
                .namespaced
        );
        assert_eq!(
            served.preferred_version("autoscaling"),
            Some("autoscaling/v2")
        );
        assert_eq!(served.preferred_version(""), Some("v1"));
        assert_eq!(served.preferred_version("nope"), None);
        let listed: Vec<String> = served
            .namespaced_resources()
            .iter()
            .map(|r| format!("{}/{}", r.api_version(), r.plural))
            .collect();
        assert_eq!(
            listed,
            [
                "v1/configmaps",
                "apps/v1/deployments",
                "autoscaling/v2/horizontalpodautoscalers"
            ]
        );
        assert!(hint(apps, "deployment").contains("did you mean 'Deployment'"));
        assert!(hint(&[], "X").contains("not served"));
    }

    #[test]
    fn an_unaggregated_answer_is_refused() {
        let plain: DiscoveryList =
            serde_json::from_str(r#"{"kind":"APIGroupList","groups":[]}"#).unwrap();
        let err = Served::default().add(plain).unwrap_err();
        assert!(err.contains("APIGroupList"), "{err}");
    }
}
