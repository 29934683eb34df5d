//! The Kubernetes API: connection settings, discovery, and the calls plumb makes.

pub mod client;
pub mod cluster;
pub mod discovery;
pub mod error;
pub mod kubeconfig;
pub mod memory;
mod wire;

pub use client::{AccessQuestion, ApplyOptions, Client, Propagation, RetryPolicy, FIELD_MANAGER};
pub use cluster::Cluster;
pub use discovery::ApiResource;
pub use error::{Action, Error};
pub use kubeconfig::Connection;

/// `plumb/<version> (<node>)`: lets an audit log tell plumb's requests, and each node's, apart.
pub fn user_agent(node: &str) -> String {
    format!("plumb/{} ({node})", env!("CARGO_PKG_VERSION"))
}

/// Why plumb could not connect to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No usable kubeconfig.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::KubeconfigError),
    /// A kubeconfig the client cannot use (its TLS settings, its credentials).
    #[error(transparent)]
    Client(#[from] Error),
}

/// Connects to the cluster a kubeconfig names (kubectl's search order when `kubeconfig` is
/// None), as node `node`.
pub fn connect(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
    node: &str,
) -> Result<Client, ConnectError> {
    let conn = kubeconfig::locate(kubeconfig, context)?;
    Ok(Client::new(&conn, &user_agent(node))?)
}
