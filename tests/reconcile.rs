//! The main job end to end: the `plumb` binary, a real Git repository
//! (file://), the real API server. Each test has its own repository, sync,
//! namespace and node name, so they run in parallel and the audit log tells
//! their requests apart.

mod common;

use std::process::Command;

use common::fixture::*;
use common::{eventually, plumb, temp_dir, text, unique, Cluster, KillOnDrop};
use serde_json::Value;

// Helpers several of the modules below use.

fn signal(child: &std::process::Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET on the daemon's listener: (status, body); status 0 when nothing answers.
fn scrape(port: u16, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    match agent.get(format!("http://127.0.0.1:{port}{path}")).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// The value of one sample line in a scrape, e.g. `plumb_reconciles_total{sync="x",result="ready"}`.
/// `plumb run` on the fixture's config with a metrics listener on a free
/// port (output piped); returns the port and the daemon.
fn daemon_serving_metrics(f: &Fixture) -> (u16, std::process::Child) {
    let port = free_port();
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("listen: ''", &format!("listen: 127.0.0.1:{port}"));
    let daemon_config = f.config.with_file_name("daemon.yaml");
    std::fs::write(&daemon_config, config).unwrap();
    let daemon = plumb()
        .arg("run")
        .arg("--config")
        .arg(&daemon_config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (port, daemon)
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[path = "reconcile/commands.rs"]
mod commands;
#[path = "reconcile/cycle.rs"]
mod cycle;
#[path = "reconcile/daemon.rs"]
mod daemon;
#[path = "reconcile/depends.rs"]
mod depends;
#[path = "reconcile/hostile.rs"]
mod hostile;
#[path = "reconcile/kustomize.rs"]
mod kustomize;
#[path = "reconcile/notify.rs"]
mod notify;
#[path = "reconcile/page.rs"]
mod page;
#[path = "reconcile/rollback.rs"]
mod rollback;
#[path = "reconcile/substitute.rs"]
mod substitute;
#[path = "reconcile/upgrade.rs"]
mod upgrade;
