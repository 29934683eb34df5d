//! plumb keeps a small Kubernetes cluster in the state declared in Git.
//!
//! The data flows config → source → render → plan → apply → prune → health →
//! report; each stage is a module named for it. This crate is the engine
//! behind the `plumb` binary, so tests and benchmarks use it directly.

#![forbid(unsafe_code)]

pub mod apply;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod drift;
pub mod error;
pub mod health;
pub mod kube;
pub mod lease;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod node;
pub mod notify;
pub mod plan;
pub mod prune;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod source;
pub mod store;
pub mod tls;
