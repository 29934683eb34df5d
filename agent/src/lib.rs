//! plumb keeps a small Kubernetes cluster in the state declared in Git.
//!
//! The data flows config → source → render → plan → apply → prune → health →
//! report; each stage is a module named for it. This crate is the engine
//! behind the `plumb` binary, so tests and benchmarks use it directly.

#![forbid(unsafe_code)]

pub(crate) mod apply;
pub(crate) mod board;
pub(crate) mod check;
pub mod cli;
pub(crate) mod clock;
pub mod config;
pub mod daemon;
pub(crate) mod diff;
pub(crate) mod drift;
pub(crate) mod error;
pub(crate) mod health;
pub mod history;
pub mod kube;
pub(crate) mod lease;
pub(crate) mod logging;
pub(crate) mod metrics;
pub mod model;
pub(crate) mod node;
pub mod notifications;
pub(crate) mod notify;
pub(crate) mod page;
pub(crate) mod plan;
pub mod prune;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod rollback;
pub mod source;
pub(crate) mod store;
pub(crate) mod tls;
pub(crate) mod view;
