//! The Kubernetes API: connection settings, discovery, and the calls plumb makes.

pub mod client;
pub mod cluster;
pub mod discovery;
pub mod error;
pub mod kubeconfig;

pub use client::{AccessQuestion, ApplyOptions, Client, Propagation, RetryPolicy, FIELD_MANAGER};
pub use cluster::Cluster;
pub use discovery::ApiResource;
pub use error::{Action, Error};
pub use kubeconfig::Connection;

/// `plumb/<version> (<node>)`: lets an audit log tell plumb's requests, and each node's, apart.
pub fn user_agent(node: &str) -> String {
    format!("plumb/{} ({node})", env!("CARGO_PKG_VERSION"))
}
