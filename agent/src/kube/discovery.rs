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
        if self.namespaced {
            if let Some(ns) = namespace {
                path.push_str("/namespaces/");
                path.push_str(ns);
            }
        }
        path.push('/');
        path.push_str(&self.plural);
        if let Some(name) = name {
            path.push('/');
            path.push_str(name);
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

/// `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
pub fn group_version_path(api_version: &str) -> String {
    if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    }
}

/// An APIResourceList as the server sends it.
#[derive(Debug, serde::Deserialize)]
pub struct ResourceList {
    #[serde(default)]
    resources: Vec<RawResource>,
}

#[derive(Debug, serde::Deserialize)]
struct RawResource {
    name: String,
    kind: String,
    #[serde(default)]
    namespaced: bool,
    #[serde(default)]
    verbs: Vec<String>,
}

/// The resources of one group-version, subresources left out.
pub fn resources(api_version: &str, list: ResourceList) -> Vec<ApiResource> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    list.resources
        .into_iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| ApiResource {
            group: group.into(),
            version: version.into(),
            kind: r.kind,
            plural: r.name,
            namespaced: r.namespaced,
            listable: r.verbs.iter().any(|v| v == "list"),
        })
        .collect()
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
    fn resource_lists_skip_subresources() {
        let list: ResourceList = serde_json::from_str(
            r#"{"resources":[{"name":"deployments","kind":"Deployment","namespaced":true},{"name":"deployments/status","kind":"Deployment","namespaced":true}]}"#,
        )
        .unwrap();
        let rs = resources("apps/v1", list);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].group, "apps");
        assert_eq!(find(&rs, "Deployment").unwrap().plural, "deployments");
        assert!(hint(&rs, "deployment").contains("did you mean 'Deployment'"));
        assert!(hint(&[], "X").contains("not served"));
    }
}
