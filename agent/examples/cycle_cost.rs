//! What one first apply of N ConfigMaps costs plumb itself, with no API server in the way:
//! the cycle runs against the in-memory cluster. `tests/bench.sh cycle-cost` runs it under
//! callgrind for several N and compares instruction counts (hostile input 19: the cost after
//! the last apply grew with the square of the object count).
//!
//!   cargo run --release -p plumb --example cycle_cost -- N

use std::path::Path;

use plumb::config::Settings;
use plumb::kube::memory::MemoryCluster;
use plumb::reconcile::{self, Context, Revision, SyncMemory, Tree};
use plumb::render::File;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let text = "sources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs: [{name: bench, source: a, path: apps, namespace: apps, prune: true, wait: false}]\n";
    let settings = Settings::from_yaml(text, Path::new("bench.yaml")).expect("a good config");
    let sync = &settings.syncs[0];
    let files: Vec<File> = (0..count)
        .map(|i| File {
            path: format!("apps/cm-{i:06}.yaml"),
            bytes: format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:06}\n  labels: {{app: bench}}\ndata:\n  key: \"value {i}\"\n"
            )
            .into_bytes(),
        })
        .collect();
    let revision = Revision {
        id: "0123456789abcdef0123456789abcdef01234567".into(),
        selected: files.iter().map(|f| f.path.clone()).collect(),
        tree: Tree::Files(files),
        commit: None,
    };
    let state_dir = std::env::temp_dir().join(format!("plumb-cycle-cost-{}", std::process::id()));
    let cluster = MemoryCluster::default();
    let ctx = Context {
        client: &cluster,
        sync,
        node: "bench",
        state_dir: &state_dir,
        refused: None,
        source_failure: None,
    };
    let mut memory = SyncMemory::default();
    let report = reconcile::run(&ctx, &revision, &mut memory);
    let _ = std::fs::remove_dir_all(&state_dir);
    assert!(report.is_ready(), "{}", report.summary());
    println!("{}", report.summary());
}
