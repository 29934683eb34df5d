//! The cycle's sequence, against an in-memory cluster: which writes a cycle makes, in which
//! order, and which it never makes. What the API server itself does (server-side apply,
//! field managers, discovery, validation) is tested against the real one in tests/.

use serde_json::{json, Value};

use super::*;
use crate::kube::memory::MemoryCluster;
use crate::kube::ApiResource;
use crate::render::File;

fn sync(extra: &str) -> config::Sync {
    let text = format!(
        "sources: [{{name: a, url: 'git://h/r', ref: {{branch: m}}}}]\nsyncs:\n  - {{name: web, source: a, path: apps, namespace: apps, wait: false{extra}}}\n"
    );
    let settings = config::Settings::from_yaml(&text, Path::new("plumb.yaml")).unwrap();
    settings.syncs.into_iter().next().unwrap()
}

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value}\n")
}

fn revision(id: &str, files: &[(&str, String)]) -> Revision {
    let files: Vec<File> = files
        .iter()
        .map(|(path, text)| File {
            path: format!("apps/{path}"),
            bytes: text.as_bytes().to_vec(),
        })
        .collect();
    Revision {
        id: id.into(),
        selected: files.iter().map(|f| f.path.clone()).collect(),
        tree: Tree::Files(files),
        commit: None,
    }
}

/// Revision `id` holding ConfigMaps a and b.
fn a_and_b(id: &str) -> Revision {
    revision(
        id,
        &[
            ("a.yaml", config_map("a", "1")),
            ("b.yaml", config_map("b", "1")),
        ],
    )
}

/// A sync, a stateDir, and the cluster it reconciles to.
struct World {
    cluster: MemoryCluster,
    sync: config::Sync,
    state_dir: tempdir::TempDir,
    memory: SyncMemory,
}

mod tempdir {
    /// A folder removed on drop.
    pub struct TempDir(pub std::path::PathBuf);
    impl TempDir {
        pub fn new(label: &str) -> TempDir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("plumb-cycle-{label}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl World {
    fn new(label: &str, extra: &str) -> World {
        World {
            cluster: MemoryCluster::default(),
            sync: sync(extra),
            state_dir: tempdir::TempDir::new(label),
            memory: SyncMemory::default(),
        }
    }

    fn context(&self) -> Context<'_> {
        Context {
            client: &self.cluster,
            sync: &self.sync,
            node: "pi-1",
            state_dir: &self.state_dir.0,
            refused: None,
            source_failure: None,
        }
    }

    fn cycle(&mut self, revision: &Revision) -> CycleReport {
        let ctx = Context {
            client: &self.cluster,
            sync: &self.sync,
            node: "pi-1",
            state_dir: &self.state_dir.0,
            refused: None,
            source_failure: None,
        };
        run(&ctx, revision, &mut self.memory)
    }

    fn parent(&self) -> Value {
        self.cluster
            .object("configmaps", "plumb-system", "plumb-web")
            .expect("the parent was written")
    }

    fn inventory(&self) -> Vec<String> {
        let (inventory, _) = report::read_parent(Some(&self.parent())).unwrap();
        inventory.members.iter().map(|m| m.name.clone()).collect()
    }

    /// Where each write of the last cycle went, as "verb plural/name".
    fn writes(&self) -> Vec<String> {
        self.cluster
            .writes()
            .iter()
            .map(|r| format!("{} {}/{}", r.verb, r.plural, r.name))
            .collect()
    }
}

fn position(writes: &[String], write: &str) -> usize {
    writes
        .iter()
        .position(|w| w == write)
        .unwrap_or_else(|| panic!("no {write} in {writes:#?}"))
}

#[test]
fn a_first_apply_records_the_inventory_before_any_object_and_the_status_after_all() {
    let mut world = World::new("first", "");
    let rev = a_and_b("aaa1111");
    let report = world.cycle(&rev);
    assert_eq!(report.verdict, Verdict::Ready, "{}", report.summary());
    let writes = world.writes();
    let parents: Vec<usize> = writes
        .iter()
        .enumerate()
        .filter(|(_, w)| *w == "apply configmaps/plumb-web")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        parents.len(),
        2,
        "the inventory first, then the status: {writes:#?}"
    );
    let (a, b) = (
        position(&writes, "apply configmaps/a"),
        position(&writes, "apply configmaps/b"),
    );
    assert!(
        parents[0] < a.min(b) && parents[1] > a.max(b),
        "{writes:#?}"
    );
    assert!(
        position(&writes, "create events/") > parents[1],
        "{writes:#?}"
    );
    assert_eq!(world.inventory(), ["a", "b"]);
    assert_eq!(world.memory.applied.as_deref(), Some("aaa1111"));
}

#[test]
fn an_idle_cycle_writes_nothing() {
    let mut world = World::new("idle", "");
    let rev = revision("aaa1111", &[("a.yaml", config_map("a", "1"))]);
    assert!(world.cycle(&rev).is_ready());
    world.cluster.forget_requests();
    let report = world.cycle(&rev);
    assert!(report.is_ready(), "{}", report.summary());
    assert_eq!(world.writes(), Vec::<String>::new());
    assert!(!report.wrote);
    let history_requests = world
        .cluster
        .requests()
        .into_iter()
        .filter(|r| r.name.ends_with("-history"))
        .count();
    assert_eq!(history_requests, 0, "an idle cycle read the history");
}

#[test]
fn the_history_holds_each_change_and_a_failure_once() {
    let mut world = World::new("history", "");
    let history = |world: &World| {
        crate::history::decode(
            world
                .cluster
                .object("configmaps", "plumb-system", "plumb-web-history")
                .as_ref(),
        )
    };
    assert!(world.cycle(&a_and_b("aaa1111")).is_ready());
    let broken = revision("bbb2222", &[("a.yaml", "kind: [".into())]);
    world.cycle(&broken);
    world.cycle(&broken);
    assert!(world
        .cycle(&revision("ccc3333", &[("a.yaml", config_map("a", "2"))]))
        .is_ready());
    let entries = history(&world);
    let seen: Vec<(&str, &str, usize, usize)> = entries
        .iter()
        .map(|e| (e.revision.as_str(), e.reason.as_str(), e.applied, e.pruned))
        .collect();
    assert_eq!(
        seen,
        [
            ("ccc3333", "Succeeded", 1, 0),
            ("bbb2222", "RenderFailed", 0, 0),
            ("aaa1111", "Succeeded", 2, 0),
        ],
        "{entries:#?}"
    );
    assert!(
        entries[1].message.contains("does not render"),
        "{entries:#?}"
    );
}

#[test]
fn a_revision_that_does_not_render_is_reported_once_and_applies_nothing() {
    let mut world = World::new("render", "");
    let good = revision("aaa1111", &[("a.yaml", config_map("a", "1"))]);
    assert!(world.cycle(&good).is_ready());
    world.cluster.forget_requests();
    let broken = revision("bbb2222", &[("a.yaml", "kind: [".into())]);
    let report = world.cycle(&broken);
    let Verdict::Failed { reason, message } = &report.verdict else {
        panic!("{}", report.summary());
    };
    assert_eq!(*reason, Reason::RenderFailed);
    assert!(message.contains("apps/a.yaml"), "{message}");
    assert_eq!(
        world.writes(),
        [
            "apply configmaps/plumb-web",
            "apply configmaps/plumb-web-history",
            "create events/"
        ],
        "the status, the history and one Event; no object"
    );
    let (_, status) = report::read_parent(Some(&world.parent())).unwrap();
    let ready = status.condition("Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "RenderFailed")
    );
    assert_eq!(world.inventory(), ["a"], "the inventory stays");
    world.cluster.forget_requests();
    world.cycle(&broken);
    assert_eq!(
        world.writes(),
        Vec::<String>::new(),
        "a repeated failure writes nothing"
    );
}

#[test]
fn an_apply_that_fails_midway_keeps_every_object_of_the_revision_in_the_inventory() {
    let mut world = World::new("midway", "");
    world.cluster.fail("apply", "b");
    let rev = a_and_b("aaa1111");
    let report = world.cycle(&rev);
    let Verdict::Failed { reason, .. } = &report.verdict else {
        panic!("{}", report.summary());
    };
    assert_eq!(*reason, Reason::ApplyFailed);
    assert_eq!(
        world.inventory(),
        ["a", "b"],
        "b may have landed: never orphaned"
    );
    assert_eq!(world.memory.applied, None, "not in force");
    let events: Vec<Value> = world
        .cluster
        .list(&ApiResource::event(), Some("plumb-system"), None)
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["reason"], "ApplyFailed");
}

#[test]
fn an_object_that_left_git_is_pruned_after_the_rest_is_applied() {
    let mut world = World::new("prune", ", prune: true");
    let two = a_and_b("aaa1111");
    assert!(world.cycle(&two).is_ready());
    world.cluster.forget_requests();
    let one = revision("bbb2222", &[("a.yaml", config_map("a", "2"))]);
    let report = world.cycle(&one);
    assert!(report.is_ready(), "{}", report.summary());
    let writes = world.writes();
    assert!(
        position(&writes, "apply configmaps/a") < position(&writes, "delete configmaps/b"),
        "{writes:#?}"
    );
    assert_eq!(world.inventory(), ["a"]);
    assert!(world.cluster.object("configmaps", "apps", "b").is_none());
}

#[test]
fn an_emptied_revision_prunes_nothing() {
    let mut world = World::new("empty", ", prune: true");
    let one = revision("aaa1111", &[("a.yaml", config_map("a", "1"))]);
    assert!(world.cycle(&one).is_ready());
    world.cluster.forget_requests();
    let report = world.cycle(&revision("bbb2222", &[]));
    assert!(
        matches!(
            report.verdict,
            Verdict::Failed {
                reason: Reason::EmptyRevision,
                ..
            }
        ),
        "{}",
        report.summary()
    );
    assert!(
        world.writes().iter().all(|w| !w.starts_with("delete")),
        "{:#?}",
        world.writes()
    );
    assert_eq!(world.inventory(), ["a"]);
}

#[test]
fn a_source_failure_over_an_unreadable_parent_writes_nothing() {
    let world = World::new("unreadable", "");
    world.cluster.put(
        "namespaces",
        "",
        "plumb-system",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plumb-system"}}),
    );
    world.cluster.put(
        "configmaps",
        "plumb-system",
        "plumb-web",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plumb-web", "namespace": "plumb-system"}, "data": {"inventory": "not an inventory", "status": "{"}}),
    );
    let ctx = Context {
        source_failure: Some("the remote is gone"),
        ..world.context()
    };
    let report = report_failure(&ctx, Reason::SourceFailed, "the remote is gone".into());
    assert!(
        matches!(
            report.verdict,
            Verdict::Failed {
                reason: Reason::SourceFailed,
                ..
            }
        ),
        "{}",
        report.summary()
    );
    assert_eq!(world.writes(), Vec::<String>::new());
}

#[test]
fn drift_of_the_revision_in_force_is_corrected_in_one_write() {
    let mut world = World::new("drift", "");
    let rev = a_and_b("aaa1111");
    assert!(world.cycle(&rev).is_ready());
    world.cluster.remove("configmaps", "apps", "b");
    world.cluster.forget_requests();
    let report = world.cycle(&rev);
    assert!(report.is_ready(), "{}", report.summary());
    assert_eq!(report.drifted.len(), 1);
    assert_eq!(report.drifted[0].fields, ["deleted"]);
    let writes = world.writes();
    assert_eq!(
        writes
            .iter()
            .filter(|w| w.starts_with("apply"))
            .collect::<Vec<_>>(),
        [
            "apply configmaps/b",
            "apply configmaps/plumb-web",
            "apply configmaps/plumb-web-history"
        ],
        "the object, then the status and the history"
    );
    assert!(world.cluster.object("configmaps", "apps", "b").is_some());
}

#[test]
fn a_suspended_sync_applies_nothing_and_says_so() {
    let mut world = World::new("suspend", ", suspend: true");
    let report = world.cycle(&revision("aaa1111", &[("a.yaml", config_map("a", "1"))]));
    assert_eq!(report.verdict, Verdict::Suspended);
    assert!(
        world.writes().iter().all(|w| !w.ends_with("/a")),
        "{:#?}",
        world.writes()
    );
    let (_, status) = report::read_parent(Some(&world.parent())).unwrap();
    assert_eq!(status.condition("Ready").unwrap().reason, "Suspended");
}

#[test]
fn a_preview_runs_the_cycle_up_to_its_first_write_and_writes_nothing() {
    let mut world = World::new("preview", ", prune: true");
    let two = a_and_b("aaa1111");
    assert!(world.cycle(&two).is_ready());
    world.cluster.forget_requests();
    let next = revision("bbb2222", &[("a.yaml", config_map("a", "2"))]);
    let changes = preview(&world.context(), &next).unwrap();
    assert_eq!(world.writes(), Vec::<String>::new());
    assert_eq!(changes.diffs.len(), 2, "{:#?}", changes.diffs);
    assert!(
        changes.diffs[0].contains("-  k: 1\n+  k: 2\n"),
        "{}",
        changes.diffs[0]
    );
    assert!(
        changes.diffs[1].starts_with("--- ConfigMap apps/b (live)"),
        "{}",
        changes.diffs[1]
    );
    // What the preview said is what the cycle does.
    let report = world.cycle(&next);
    assert_eq!(report.applied.len(), 1);
    assert_eq!(report.pruned.len(), 1);
}

#[test]
fn a_preview_of_a_sync_never_reconciled_writes_nothing_not_even_plumb_system() {
    // The preview opened its cycle as a reconcile does, and made plumb-system when missing.
    let world = World::new("preview-fresh", "");
    let changes = preview(&world.context(), &a_and_b("aaa1111")).unwrap();
    assert_eq!(changes.diffs.len(), 2);
    assert_eq!(world.writes(), Vec::<String>::new());
    assert!(world
        .cluster
        .object("namespaces", "", "plumb-system")
        .is_none());
}

#[test]
fn a_pin_shows_in_the_status_once_and_an_unreadable_pin_writes_nothing() {
    let mut world = World::new("pinned", "");
    let rev = a_and_b("aaa1111");
    assert!(world.cycle(&rev).is_ready());
    let pin = crate::rollback::Pin {
        revision: "a".repeat(40),
        by: "alice".into(),
        host: "pi-2".into(),
        at: "2026-12-04T01:00:00Z".into(),
    };
    crate::rollback::write(&world.cluster, "web", Some(&pin)).unwrap();
    world.cluster.forget_requests();
    let report = world.cycle(&rev);
    assert!(report.is_ready(), "{}", report.summary());
    let pinned = report
        .status
        .condition("Pinned")
        .expect("a Pinned condition");
    assert!(
        pinned.message.contains("by alice on pi-2"),
        "{}",
        pinned.message
    );
    assert_eq!(world.writes(), ["apply configmaps/plumb-web"]);
    // The cycle's own write of the parent keeps the pin.
    assert!(
        world.parent()["data"]["pin"].is_string(),
        "{}",
        world.parent()
    );
    world.cluster.forget_requests();
    assert!(world.cycle(&rev).is_ready());
    assert_eq!(world.writes(), Vec::<String>::new(), "pinned and idle");

    crate::rollback::write(&world.cluster, "web", None).unwrap();
    let report = world.cycle(&rev);
    assert!(report.status.condition("Pinned").is_none());
    assert!(world.parent()["data"].get("pin").is_none());

    world
        .cluster
        .merge_patch(
            &ApiResource::config_map(),
            Some("plumb-system"),
            "plumb-web",
            &json!({"data": {"pin": "{\"revision\": \"HEAD~1\"}"}}),
        )
        .unwrap();
    world.cluster.forget_requests();
    let report = world.cycle(&rev);
    let Verdict::Failed { reason, message } = &report.verdict else {
        panic!("an unreadable pin was reconciled: {}", report.summary());
    };
    assert_eq!(*reason, Reason::StatusUnreadable);
    assert!(message.contains("data.pin"), "{message}");
    assert_eq!(world.writes(), Vec::<String>::new());
}
