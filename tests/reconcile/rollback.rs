//! `plumb rollback`: a sync pinned to an earlier applied revision, end to end — across a
//! prune, with new commits waiting, drift corrected toward the pin, a daemon restarted while
//! pinned, a pinned revision a force-push took off the branch, the release, and the
//! mistakes refused without a change.

use super::*;

fn rollback(f: &Fixture, extra: &[&str]) -> std::process::Output {
    plumb()
        .args(["rollback", "--sync", &f.sync, "--config"])
        .arg(&f.config)
        .args(extra)
        .output()
        .unwrap()
}

fn value_of(f: &Fixture, name: &str) -> Option<String> {
    f.get("configmap", name)
        .map(|c| c["data"]["key"].as_str().unwrap_or_default().to_owned())
}

fn pin_in_parent(f: &Fixture) -> Option<Value> {
    let parent = f.system_config_map(&format!("plumb-{}", f.sync))?;
    parent["data"]["pin"]
        .as_str()
        .map(|t| serde_json::from_str(t).unwrap())
}

#[test]
fn a_rollback_pins_an_earlier_revision_until_released_across_prunes_restarts_and_force_pushes() {
    let f = Fixture::new("rollback", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.write("b.yaml", &config_map("b", "1"));
    f.commit_by("Ada <ada@example.com>", "Add a and b");
    let first = f.head();
    f.reconcile_ok();
    f.write("a.yaml", &config_map("a", "2"));
    f.remove("b.yaml");
    f.commit_by("Ada <ada@example.com>", "Change a, drop b");
    let second = f.head();
    f.reconcile_ok();
    assert_eq!(value_of(&f, "b"), None, "b was pruned");

    // The default: the revision before the one in force, applied at once (no daemon here),
    // including the object the newer revision pruned.
    let out = rollback(&f, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("pinned to {} (Add a and b)", &first[..7])),
        "{}",
        text(&out)
    );
    assert_eq!(value_of(&f, "a").as_deref(), Some("1"));
    assert_eq!(value_of(&f, "b").as_deref(), Some("1"), "b is back");
    let pin = pin_in_parent(&f).expect("the pin is in the parent");
    assert_eq!(pin["revision"], first.as_str());
    assert_eq!(pin["host"], f.node.as_str());
    assert!(
        !pin["by"].as_str().unwrap().contains("unknown"),
        "the SelfSubjectReview named no one: {pin}"
    );
    let pinned = f.condition("Pinned");
    assert_eq!(pinned["status"], "True", "{pinned}");
    assert_eq!(f.status()["revision"], first.as_str());

    // A new commit is fetched but waits; drift is corrected toward the pin.
    f.write("a.yaml", &config_map("a", "3"));
    f.commit_by("Bob <bob@example.com>", "Third");
    let third = f.head();
    f.reconcile_ok();
    assert_eq!(
        value_of(&f, "a").as_deref(),
        Some("1"),
        "the new commit was applied"
    );
    let message = f.condition("Pinned")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&format!("the branch is at {}, waiting", &third[..7])),
        "{message}"
    );
    f.edit_config_map("a", "edited");
    // diff compares with the pinned revision, not the waiting one.
    let out = plumb()
        .args(["diff", "--sync", &f.sync, "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains("+  key: '1'"), "{shown}");
    assert!(
        !shown.contains("key: '3'"),
        "diff showed the waiting revision: {shown}"
    );
    assert!(text(&out).contains("pinned to"), "{}", text(&out));
    f.reconcile_ok();
    assert_eq!(
        value_of(&f, "a").as_deref(),
        Some("1"),
        "drift toward the pin"
    );

    // A daemon started while pinned stays pinned (the pin is in the cluster, not in a
    // process): it corrects drift toward the pinned revision, not the branch's.
    let config = std::fs::read_to_string(&f.config).unwrap().replacen(
        "sources:",
        "interval: 1s\nsources:",
        1,
    );
    let daemon_config = f.config.with_file_name("daemon.yaml");
    std::fs::write(&daemon_config, config).unwrap();
    let daemon = KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&daemon_config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    f.edit_config_map("a", "edited again");
    eventually("the daemon to correct drift toward the pin", || {
        value_of(&f, "a").as_deref() == Some("1")
    });
    // With the daemon holding this node's state folder, rollback only writes the pin.
    let out = rollback(&f, &[&second[..10]]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("its next cycle"), "{}", text(&out));
    eventually("the daemon to apply the new pin", || {
        value_of(&f, "a").as_deref() == Some("2") && value_of(&f, "b").is_none()
    });
    signal(&daemon.0, "TERM");
    drop(daemon);

    // A force-push takes every earlier commit off the branch: the pinned revisions are
    // still in the local clone, so going back to one works.
    git(&f.work, &["checkout", "-q", "--orphan", "rewritten"]);
    f.write("a.yaml", &config_map("a", "4"));
    f.commit_by("Eve <eve@example.com>", "History rewritten");
    let rewritten = f.head();
    f.reconcile_ok();
    assert_eq!(value_of(&f, "a").as_deref(), Some("2"), "still pinned");
    let out = rollback(&f, &[&first[..12]]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(value_of(&f, "a").as_deref(), Some("1"));
    assert_eq!(value_of(&f, "b").as_deref(), Some("1"));

    // Mistakes change nothing.
    for (revision, why) in [
        ("ffffffff", "not in the sync's history"),
        ("zz", "not a commit id"),
    ] {
        let out = rollback(&f, &[revision]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
        assert_eq!(pin_in_parent(&f).unwrap()["revision"], first.as_str());
    }
    let out = plumb()
        .args(["rollback", "--sync", "no-such-sync", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // Released: the branch is followed again.
    let out = rollback(&f, &["--release"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("released"), "{}", text(&out));
    assert_eq!(value_of(&f, "a").as_deref(), Some("4"));
    assert_eq!(value_of(&f, "b"), None, "b pruned again");
    assert!(pin_in_parent(&f).is_none());
    assert!(f.condition("Pinned").is_null(), "{}", f.condition("Pinned"));
    assert_eq!(f.status()["revision"], rewritten.as_str());
    let out = rollback(&f, &["--release"]);
    assert!(text(&out).contains("is not pinned"), "{}", text(&out));
}
