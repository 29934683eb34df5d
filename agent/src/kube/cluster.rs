//! What a cycle asks of the cluster, as a trait: [`Client`] is the real one, and the
//! cycle's own unit tests put an in-memory cluster in its place to test its sequence
//! (what is written, in which order, and what never is). The real-server tests stay.

use serde_json::Value;

use super::client::{ApplyOptions, Client, Propagation, ServerVersion};
use super::{ApiResource, Error};

/// The calls a cycle makes: discovery, reads, server-side apply, and the few plain writes.
pub trait Cluster: Sync {
    /// The resource serving `kind` in `api_version`.
    fn resolve(&self, api_version: &str, kind: &str) -> Result<ApiResource, Error>;
    /// The preferred version's resource of a group-kind.
    fn resolve_group_kind(&self, group: &str, kind: &str) -> Result<ApiResource, Error>;
    /// Every namespaced resource served (a namespace prune looks in each).
    fn namespaced_resources(&self) -> Result<Vec<ApiResource>, Error>;
    /// Every group/version, and group/version/Kind, served (charts' `.Capabilities`).
    fn api_versions(&self) -> Result<Vec<String>, Error>;
    /// The server's version.
    fn version(&self) -> Result<ServerVersion, Error>;
    /// One object; None when it does not exist.
    fn get(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Error>;
    /// Whole objects, optionally in one namespace and matching a label selector.
    fn list(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, Error>;
    /// Objects' metadata only (`{"metadata": …}` each, managedFields left out).
    fn list_metadata(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, Error>;
    /// Server-side apply as plumb's field manager; the object as the server has it after.
    fn apply(
        &self,
        resource: &ApiResource,
        object: &Value,
        options: ApplyOptions,
    ) -> Result<Value, Error>;
    /// A JSON merge patch.
    fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, Error>;
    /// Deletes an object; false when it was already gone.
    fn delete(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        propagation: Propagation,
    ) -> Result<bool, Error>;
    /// Creates an object (an Event, the chart key); a conflict when it exists.
    fn create(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        object: &Value,
    ) -> Result<Value, Error>;
}

impl Cluster for Client {
    fn resolve(&self, api_version: &str, kind: &str) -> Result<ApiResource, Error> {
        Client::resolve(self, api_version, kind)
    }
    fn resolve_group_kind(&self, group: &str, kind: &str) -> Result<ApiResource, Error> {
        Client::resolve_group_kind(self, group, kind)
    }
    fn namespaced_resources(&self) -> Result<Vec<ApiResource>, Error> {
        Client::namespaced_resources(self)
    }
    fn api_versions(&self) -> Result<Vec<String>, Error> {
        Client::api_versions(self)
    }
    fn version(&self) -> Result<ServerVersion, Error> {
        Client::version(self)
    }
    fn get(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        Client::get(self, resource, namespace, name)
    }
    fn list(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        Client::list(self, resource, namespace, label_selector)
    }
    fn list_metadata(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        Client::list_metadata(self, resource, namespace, label_selector)
    }
    fn apply(
        &self,
        resource: &ApiResource,
        object: &Value,
        options: ApplyOptions,
    ) -> Result<Value, Error> {
        Client::apply(self, resource, object, options)
    }
    fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, Error> {
        Client::merge_patch(self, resource, namespace, name, patch)
    }
    fn delete(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        propagation: Propagation,
    ) -> Result<bool, Error> {
        Client::delete(self, resource, namespace, name, propagation)
    }
    fn create(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        object: &Value,
    ) -> Result<Value, Error> {
        Client::create(self, resource, namespace, object)
    }
}
