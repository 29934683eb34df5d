//! Upgrades: a sync that the previous plumb (the commit pinned as plumb-previous in
//! tests/tools/versions, built by tests/tools/previous-plumb.sh) applied is taken over by
//! this one, reading the inventory, status and local state the old one wrote.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::*;

/// The previous release's binary; building it is part of the tests, a failure fails them.
fn previous_plumb() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/tools/previous-plumb.sh");
        let out = Command::new("bash").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "tests/tools/previous-plumb.sh failed: the previous plumb could not be built:\n{}",
            text(&out)
        );
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("plumb");
        assert!(bin.is_file(), "no plumb at {}", bin.display());
        bin
    })
}

/// Issue 13: reading today's inventory and status formats keeps working. The previous
/// plumb applies a sync; this one then finds the revision in force (no object written),
/// corrects drift, prunes what leaves Git through the old inventory, and keeps the status.
#[test]
fn an_upgrade_from_the_previous_release_takes_over_its_sync() {
    let f = Fixture::new("upgrade", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.write("b.yaml", &config_map("b", "1"));
    f.commit();
    let old = Command::new(previous_plumb())
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent")
        .arg("reconcile")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(
        old.status.code(),
        Some(0),
        "the previous plumb:\n{}",
        text(&old)
    );
    let applied_at = f.status()["appliedAt"].clone();
    let writes = f.writes();
    let out = f.reconcile_ok();
    assert!(out.contains("0 applied, 2 unchanged"), "{out}");
    assert_eq!(f.writes(), writes, "the upgrade rewrote what was in force");
    assert_eq!(f.status()["appliedAt"], applied_at);
    assert_eq!(f.condition("Ready")["status"], "True");
    // Drift is still seen through the old fingerprints.
    f.edit_config_map("a", "edited");
    let out = f.reconcile_ok();
    assert!(out.contains("1 drifted"), "{out}");
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    // The old inventory still prunes.
    f.remove("b.yaml");
    f.commit();
    let out = f.reconcile_ok();
    assert!(out.contains("1 pruned"), "{out}");
    assert!(f.get("configmap", "b").is_none(), "b was not pruned");
}
