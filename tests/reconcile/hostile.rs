//! Hostile input and faults (the hardening and hostile-input issues): names, encodings,
//! sizes, links, plumb's own objects, other syncs' objects, kills, failed writes, planted
//! secrets, an API server gone, a Git server trickling.

use super::*;

/// Hardening defect 1 and hostile input 6: names the API server would refuse
/// (a space, non-ASCII, a path, a query) crashed `plumb reconcile` when put
/// into a URL. They are render errors with file and line; nothing is applied.
#[test]
fn a_name_with_a_space_or_a_path_is_a_render_error_not_a_crash() {
    let f = Fixture::new("names", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    for (file, manifest, words) in [
        ("space.yaml", config_map("my app", "2"), "'my app'"),
        ("accent.yaml", config_map("café", "2"), "caf\\u{e9}"),
        (
            "path.yaml",
            config_map("../../kube-system/configmaps/victim", "2"),
            "metadata.name '../../kube-system/configmaps/victim'",
        ),
        (
            "query.yaml",
            config_map("x?dryRun=All&y", "2"),
            "x?dryRun=All&y",
        ),
        (
            "namespace.yaml",
            config_map("ok", "2").replace("  name: ok\n", "  name: ok\n  namespace: Bad Space\n"),
            "metadata.namespace 'Bad Space'",
        ),
        (
            "version.yaml",
            config_map("ok", "2").replace("apiVersion: v1", "apiVersion: apps/v1/x"),
            "apiVersion 'apps/v1/x'",
        ),
    ] {
        f.write("a.yaml", &config_map("a", "2"));
        f.write(file, &manifest);
        f.commit();
        for command in [vec!["reconcile"], vec!["validate", "--sync", &f.sync]] {
            let out = plumb()
                .args(&command)
                .arg("--config")
                .arg(&f.config)
                .output()
                .unwrap();
            let all = text(&out);
            assert_eq!(out.status.code(), Some(1), "{command:?} {file}: {all}");
            assert!(
                all.contains(&format!("manifests/{file}:1")),
                "{command:?} {file}: {all}"
            );
            assert!(all.contains(words), "{command:?} {file}: {all}");
            assert!(!all.contains("panicked"), "{all}");
        }
        assert_eq!(
            f.get("configmap", "a").unwrap()["data"]["key"],
            "1",
            "part of a revision with {file} was applied"
        );
        assert_eq!(f.condition("Ready")["reason"], "RenderFailed");
        f.remove(file);
    }
}

/// Hardening defect 2: a source failure read the parent with
/// `unwrap_or_default()`, so an unreadable status wrote an empty inventory
/// over it and orphaned every managed object.
#[test]
fn a_source_failure_with_an_unreadable_parent_leaves_the_inventory_alone() {
    let f = Fixture::new("unreadable", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let parent = format!("plumb-{}", f.sync);
    let inventory = || {
        text(&f.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "configmap",
            &parent,
            "-o",
            "jsonpath={.data.inventory}",
        ]))
    };
    let before = inventory();
    assert!(before.contains("\"a\""), "{before}");
    f.kubectl(&[
        "-n",
        "plumb-system",
        "patch",
        "configmap",
        &parent,
        "--type=merge",
        "-p",
        r#"{"data":{"status":"{not json"}}"#,
    ]);
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("path: manifests", "path: nowhere");
    std::fs::write(&f.config, config).unwrap();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(inventory(), before, "the inventory was overwritten");
    assert!(text(&out).contains("unreadable"), "{}", text(&out));
}

/// Hostile input 14 and 15: invalid UTF-8 in a value was replaced by U+FFFD
/// and applied; a UTF-8 byte-order mark was refused as "more than one
/// document". As kubectl: the mark is skipped, the bad byte refused at its
/// line and column, nothing applied.
#[test]
fn a_byte_order_mark_is_read_and_invalid_utf8_is_refused_at_its_line() {
    let f = Fixture::new("encoding", "");
    let dir = f.work.join("manifests");
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(config_map("bom", "1").replace("NS", &f.ns).as_bytes());
    std::fs::write(dir.join("bom.yaml"), &bom).unwrap();
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.get("configmap", "bom").unwrap()["data"]["key"], "1");

    f.write("bom.yaml", &config_map("bom", "2"));
    std::fs::write(
        dir.join("latin1.yaml"),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: latin1\ndata:\n  key: caf\xE9\n",
    )
    .unwrap();
    f.commit();
    for command in [vec!["reconcile"], vec!["validate", "--sync", &f.sync]] {
        let out = plumb()
            .args(&command)
            .arg("--config")
            .arg(&f.config)
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {all}");
        assert!(
            all.contains("manifests/latin1.yaml:6:11"),
            "{command:?}: {all}"
        );
        assert!(all.contains("not UTF-8"), "{command:?}: {all}");
    }
    assert_eq!(f.get("configmap", "bom").unwrap()["data"]["key"], "1");
    assert!(f.get("configmap", "latin1").is_none());
}

/// Hostile input 16: a manifest past the API server's request limit got 413
/// three times (150 MB sent) and was reported as "cannot reach the API
/// server: Broken pipe". It is refused at render, named with its size.
#[test]
fn an_object_too_large_for_the_api_server_is_refused_with_its_size() {
    let f = Fixture::new("toolarge", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    f.write("a.yaml", &config_map("a", "2"));
    f.write("big.yaml", &config_map("big", &"x".repeat(4 * 1024 * 1024)));
    f.commit();
    let requests_before = f.audit().len();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("manifests/big.yaml:1"), "{all}");
    assert!(all.contains("at most 3145728 bytes"), "{all}");
    assert!(!all.contains("Broken pipe"), "{all}");
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    // Only the status write: nothing was sent for the object.
    let sent: Vec<Value> = f.audit()[requests_before..]
        .iter()
        .filter(|e| e["objectRef"]["name"] == "big")
        .cloned()
        .collect();
    assert!(sent.is_empty(), "{sent:?}");
}

/// Hostile input 18: `plumb render DIR` followed a link in the work tree to
/// /etc/shadow into a rendered Secret, while a sync skipped every link
/// silently. One rule for both: a link to a file inside the repository is
/// read as that file; any other link is an error naming it.
#[test]
fn links_inside_the_repository_are_read_and_links_out_of_it_are_refused() {
    let f = Fixture::new("links", "");
    std::fs::create_dir_all(f.work.join("shared")).unwrap();
    std::fs::write(
        f.work.join("shared/cm.yaml"),
        config_map("linked", "1").replace("NS", &f.ns),
    )
    .unwrap();
    std::os::unix::fs::symlink("../shared/cm.yaml", f.work.join("manifests/linked.yaml")).unwrap();
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.get("configmap", "linked").unwrap()["data"]["key"], "1");
    // The same folder through `plumb render DIR` (a work tree).
    let out = plumb()
        .arg("render")
        .arg(f.work.join("manifests"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: linked"));

    // A manifest linked out of the repository, then a secretGenerator file.
    std::os::unix::fs::symlink("/etc/passwd", f.work.join("manifests/passwd.yaml")).unwrap();
    f.commit();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("manifests/passwd.yaml is a symbolic link"),
        "{all}"
    );
    assert!(all.contains("outside the repository"), "{all}");
    assert!(!all.contains("root:x:0"), "{all}");
    let out = plumb()
        .arg("validate")
        .arg(f.work.join("manifests"))
        .output()
        .unwrap();
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("passwd.yaml is a symbolic link"), "{all}");
    assert!(!all.contains("root:x:0"), "{all}");
    std::fs::remove_file(f.work.join("manifests/passwd.yaml")).unwrap();

    let kustomized = f.work.join("manifests");
    std::os::unix::fs::symlink("/etc/passwd", kustomized.join("users")).unwrap();
    std::fs::write(
        kustomized.join("kustomization.yaml"),
        "resources: [linked.yaml]\nsecretGenerator:\n  - name: stolen\n    files: [users]\n",
    )
    .unwrap();
    let out = plumb().arg("render").arg(&kustomized).output().unwrap();
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("users"), "{all}");
    assert!(
        !all.contains("cm9vdDp4OjA6"),
        "the file's content was rendered: {all}"
    );
}

/// Hostile input 1: a sync's Git could hold a ConfigMap named like a parent
/// (`plumb-system/plumb-<sync>`, its own or another's) and wipe that sync's
/// inventory and status, or like its history. plumb's own objects are refused in any revision.
#[test]
fn a_revision_may_not_declare_plumbs_own_objects() {
    let f = Fixture::new("reserved", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let parent = || {
        text(&f.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "configmap",
            &format!("plumb-{}", f.sync),
            "-o",
            "jsonpath={.data.inventory}",
        ]))
    };
    let before = parent();
    for (file, manifest) in [
        (
            "parent.yaml",
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plumb-{}\n  namespace: plumb-system\ndata: {{inventory: ''}}\n", f.sync),
        ),
        (
            "history.yaml",
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plumb-{}-history\n  namespace: plumb-system\ndata: {{history: ''}}\n", f.sync),
        ),
        (
            "lease.yaml",
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: plumb\n  namespace: plumb-system\nspec: {holderIdentity: me}\n".to_owned(),
        ),
    ] {
        f.write(file, &manifest);
        f.commit();
        let out = f.reconcile();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(all.contains(&format!("manifests/{file}:1")), "{all}");
        assert!(all.contains("is plumb's own"), "{all}");
        assert_eq!(parent(), before, "the inventory was overwritten");
        f.remove(file);
    }
}

/// Hostile input 10: after a failure, a cycle with nothing to apply printed
/// Ready but left the failure in the status (idle cycles write nothing), so
/// `plumb status` kept exiting 1. A change of verdict is written, once.
#[test]
fn a_failure_that_is_over_is_cleared_from_the_status_once() {
    let f = Fixture::new("verdict", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let good = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, good.replace("path: manifests", "path: nowhere")).unwrap();
    assert_eq!(f.reconcile().status.code(), Some(1));
    assert_eq!(f.condition("Ready")["reason"], "SourceFailed");
    std::fs::write(&f.config, &good).unwrap();
    let status = || {
        plumb()
            .args(["status", "--config"])
            .arg(&f.config)
            .output()
            .unwrap()
    };
    assert_eq!(status().status.code(), Some(1));
    // The same revision, nothing to apply: the verdict turns, and is written.
    let out = f.reconcile_ok();
    assert_eq!(f.condition("Ready")["status"], "True", "{out}");
    let out = status();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Once: the next idle cycle writes nothing.
    let before = f.writes().len();
    f.reconcile_ok();
    assert_eq!(f.writes().len(), before, "{:?}", &f.writes()[before..]);
}

/// Hostile input 9: when the source could no longer be followed, plumb
/// served the last good revision but reported Ready and exited 0: the cluster
/// silently stopped following Git. SourceReady=False (FetchFailed) beside the
/// revision in force, exit 1, a metric and an Event when it changes.
#[test]
fn a_source_that_cannot_be_followed_is_reported_not_ready() {
    let f = Fixture::new("unfollowed", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    assert_eq!(f.condition("SourceReady")["status"], "True");
    // The remote goes away (a deleted repository answers like a revoked token or a deleted branch).
    let moved = f.bare.with_extension("moved");
    std::fs::rename(&f.bare, &moved).unwrap();
    let out = f.reconcile();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("the source cannot be followed"), "{all}");
    let source = f.condition("SourceReady");
    assert_eq!(source["status"], "False", "{source}");
    assert_eq!(source["reason"], "FetchFailed", "{source}");
    assert!(
        source["message"]
            .as_str()
            .unwrap()
            .contains("serving the last good revision"),
        "{source}"
    );
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    let events = || text(&f.kubectl(&["-n", "plumb-system", "get", "events", "-o", "json"]));
    assert!(events().contains("FetchFailed"), "{}", events());
    // The daemon says it too, in its metrics.
    let (port, mut daemon) = daemon_serving_metrics(&f);
    let series = format!("plumb_source_ready{{sync=\"{}\"}}", f.sync);
    eventually("the source_ready metric", || {
        let (code, body) = scrape(port, "/metrics");
        code == 200 && sample(&body, &series) == Some(0.0)
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    // Back: Ready again, and an Event says so.
    std::fs::rename(&moved, &f.bare).unwrap();
    f.reconcile_ok();
    assert_eq!(f.condition("SourceReady")["status"], "True");
    assert!(
        events().contains("the source is followed again"),
        "{}",
        events()
    );
}

/// Hostile input 2: two syncs declaring one object relabelled it every cycle
/// ("1 applied, 1 drifted" forever), and the one that dropped it pruned what
/// the other still declared. An object in another sync's ApplySet is refused,
/// naming that sync, unless moved on purpose with plumb.dev/adopt.
#[test]
fn an_object_another_sync_manages_is_refused_unless_adopted() {
    let f = Fixture::new("shared-object", "");
    let second = unique("second");
    let config = std::fs::read_to_string(&f.config).unwrap()
        + &format!(
            "  - name: {second}\n    source: repo\n    path: second\n    namespace: {}\n    prune: true\n",
            f.ns
        );
    std::fs::write(&f.config, config).unwrap();
    f.write("shared.yaml", &config_map("shared", "first"));
    let write_second = |manifest: &str| {
        std::fs::create_dir_all(f.work.join("second")).unwrap();
        std::fs::write(
            f.work.join("second/shared.yaml"),
            manifest.replace("NS", &f.ns),
        )
        .unwrap();
    };
    write_second(&config_map("shared", "second"));
    f.commit();
    let run = |sync: &str| {
        plumb()
            .args(["reconcile", "--sync", sync, "--config"])
            .arg(&f.config)
            .output()
            .unwrap()
    };
    assert_eq!(run(&f.sync).status.code(), Some(0));
    let out = run(&second);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("second/shared.yaml"), "{all}");
    assert!(
        all.contains(&format!("already managed by sync '{}'", f.sync)),
        "{all}"
    );
    assert_eq!(
        f.get("configmap", "shared").unwrap()["data"]["key"],
        "first"
    );

    // Moved on purpose: the second sync takes it; the first, once it drops
    // the object from Git, keeps its hands off (no prune).
    write_second(&config_map("shared", "second").replace(
        "  name: shared\n",
        "  name: shared\n  annotations: {plumb.dev/adopt: \"true\"}\n",
    ));
    f.remove("shared.yaml");
    f.write("other.yaml", &config_map("other", "1"));
    f.commit();
    let out = run(&second);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&f.sync);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let live = f
        .get("configmap", "shared")
        .expect("the first sync pruned the moved object");
    assert_eq!(live["data"]["key"], "second");
}

/// Hostile input 3: kill -9 during an apply lost track of the objects applied
/// before it but not yet in the inventory (64 and 118 orphans in two runs):
/// they carry the ApplySet label, yet no later prune found them. The
/// inventory now lists the revision's objects before any is applied.
#[test]
fn a_kill_during_an_apply_orphans_nothing() {
    let f = Fixture::new("killed", "");
    for i in 0..500 {
        f.write(
            &format!("cm-{i}.yaml"),
            &config_map(&format!("cm-{i}"), "1"),
        );
    }
    f.commit();
    let labelled = || {
        let out = f.kubectl(&[
            "-n",
            &f.ns,
            "get",
            "configmaps",
            "-l",
            "applyset.kubernetes.io/part-of",
            "-o",
            "name",
        ]);
        text(&out).lines().count()
    };
    let mut child = f.spawn_reconcile();
    // Killed somewhere in the middle of the 500.
    eventually("the apply to be under way", || labelled() >= 50);
    signal(&child, "KILL");
    let _ = child.wait();
    let applied = labelled();
    assert!(
        applied < 500,
        "the apply ended before the kill ({applied} applied)"
    );
    // A commit that drops most of them: every labelled one that left Git goes.
    for i in 10..500 {
        f.remove(&format!("cm-{i}.yaml"));
    }
    f.commit();
    let out = f.reconcile_ok();
    assert_eq!(
        labelled(),
        10,
        "orphans left after the kill at {applied} objects: {out}"
    );
}

/// Hostile input 20 (its first half): when the inventory could not be
/// written (past 14,000 objects the API server refused it), the cycle still
/// printed Ready and exited 0, and nothing it applied could ever be pruned.
/// A failed status or inventory write is a failed cycle. An admission
/// policy stands in for the refusal here.
#[test]
fn a_failed_inventory_write_is_a_failed_cycle() {
    let f = Fixture::new("unwritable", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let parent = format!("plumb-{}", f.sync);
    let policy = unique("deny-parent");
    f.cluster.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {policy}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ['']
        apiVersions: [v1]
        operations: [UPDATE]
        resources: [configmaps]
  validations:
    - expression: \"object.metadata.name != '{parent}'\"
      message: the test refuses this sync's parent
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {policy}}}
spec:
  policyName: {policy}
  validationActions: [Deny]
"
        )),
    );
    f.write("b.yaml", &config_map("b", "1"));
    f.commit();
    // The policy takes a moment to be in force.
    let mut out = f.reconcile();
    for _ in 0..20 {
        if out.status.code() != Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        f.write("b.yaml", &config_map("b", &unique("v")));
        f.commit();
        out = f.reconcile();
    }
    let all = text(&out);
    f.kubectl(&[
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("could not write the status and inventory"),
        "{all}"
    );
    assert!(all.contains("the test refuses this sync's parent"), "{all}");
}

#[test]
fn a_planted_secret_never_appears_in_logs_events_status_diffs_notifications_or_the_page() {
    const PLANTED: &str = "planted-s3cret-7f3a9c";
    let f = Fixture::new("secret", "");
    // Every notification body too: a webhook told of everything.
    let hook = common::receiver::Receiver::start(common::receiver::Answer::Ok);
    let mut config = std::fs::read_to_string(&f.config).unwrap();
    config.push_str(&format!(
        "notify:\n  - {{name: hook, type: webhook, url: '{}', events: [failure, recovery, drift, applied]}}\n",
        hook.url("/hook")
    ));
    std::fs::write(&f.config, config).unwrap();
    let bodies = |seen: &mut String| {
        for r in hook.received() {
            seen.push_str(&r.text());
            seen.push('\n');
        }
    };
    f.write("secret.yaml", &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {PLANTED}\n"));
    f.commit();
    let mut seen = String::new();
    let run = |args: &[&str], seen: &mut String| {
        let out = plumb()
            .args(args)
            .arg("--config")
            .arg(&f.config)
            .env("PLUMB_LOG", "debug")
            .output()
            .unwrap();
        seen.push_str(&text(&out));
    };
    run(&["reconcile", "--log-format", "json"], &mut seen);
    assert!(f.get("secret", "creds").is_some(), "{seen}");
    // Drift on the Secret, then a change in Git: both reported, both diffed.
    f.kubectl(&[
        "-n",
        &f.ns,
        "patch",
        "secret",
        "creds",
        "--type=merge",
        "-p",
        r#"{"stringData":{"password":"edited-by-hand"}}"#,
    ]);
    run(&["diff"], &mut seen);
    run(&["reconcile"], &mut seen);
    f.write("secret.yaml", &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: {PLANTED}-v2\n"));
    f.commit();
    run(&["diff"], &mut seen);
    run(&["reconcile", "--log-format", "json"], &mut seen);
    run(&["status"], &mut seen);
    run(&["status", "-o", "json"], &mut seen);
    run(&["history"], &mut seen);
    run(&["history", "-o", "json"], &mut seen);
    seen.push_str(&text(&f.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "events",
        "-o",
        "yaml",
    ])));
    seen.push_str(&f.status().to_string());
    bodies(&mut seen);
    assert!(
        seen.contains("\"event\":\"drift\"") && seen.contains("\"event\":\"applied\""),
        "no notification was received: {seen}"
    );
    assert!(
        seen.contains("Secret"),
        "the runs said nothing about the Secret: {seen}"
    );
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(PLANTED);
    assert!(
        !seen.contains(PLANTED) && !seen.contains(&encoded[..16]),
        "the planted secret leaked:\n{seen}"
    );

    // Hostile input 7: Secrets of the wrong shape, whose API errors echo the
    // value, and a secretGenerator literal without '=': the value must reach
    // no output, Event, status, log or metric.
    let mut seen = String::new();
    let events = |seen: &mut String| {
        seen.push_str(&text(&f.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "events",
            "-o",
            "yaml",
        ])));
        seen.push_str(&f.status().to_string());
        let history = f.system_config_map(&format!("plumb-{}-history", f.sync));
        seen.push_str(
            &history
                .expect("the failures are in the history")
                .to_string(),
        );
    };
    for (i, shape) in [
        format!("stringData: {PLANTED}-shape\n"),
        format!("stringData:\n  password: [{PLANTED}-shape]\n"),
        format!("data:\n  password: {PLANTED}-shape\n"),
    ]
    .iter()
    .enumerate()
    {
        f.write(
            "secret.yaml",
            &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n{shape}"),
        );
        f.write("marker.yaml", &config_map("marker", &i.to_string()));
        f.commit();
        let out = f.reconcile();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        seen.push_str(&text(&out));
        run(&["reconcile", "--log-format", "json"], &mut seen);
        events(&mut seen);
    }
    f.write("secret.yaml", "");
    f.write(
        "kustomization.yaml",
        &format!("resources: [marker.yaml]\nsecretGenerator:\n  - name: gen\n    literals: [{PLANTED}-literal]\n"),
    );
    f.commit();
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    seen.push_str(&text(&out));
    events(&mut seen);
    // The daemon's metrics, on a port of its own, after one cycle.
    let (port, mut daemon) = daemon_serving_metrics(&f);
    eventually("the daemon's metrics", || {
        let (code, body) = scrape(port, "/metrics");
        code == 200 && body.contains("plumb_reconciles_total")
    });
    seen.push_str(&scrape(port, "/metrics").1);
    // The status page, overview and the sync's own, with its objects and history.
    let (code, page) = scrape(port, "/");
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("Secret") || page.contains("literal"),
        "{page}"
    );
    seen.push_str(&page);
    seen.push_str(&scrape(port, &format!("/sync/{}", f.sync)).1);
    let _ = daemon.kill();
    let out = daemon.wait_with_output().unwrap();
    seen.push_str(&text(&out));
    bodies(&mut seen);
    assert!(
        seen.contains("\"event\":\"failure\""),
        "no failure was notified: {seen}"
    );
    assert!(
        seen.contains("literal") && seen.contains("Secret"),
        "the runs said nothing about the Secrets: {seen}"
    );
    assert!(!seen.contains(PLANTED), "a planted secret leaked:\n{seen}");
}

/// Hostile input 11: an API server that went away mid-apply got every
/// remaining object tried (84 s, 301 near-identical errors). After a few
/// connection failures the cycle stops, says so once, and the next retries.
#[test]
fn an_api_server_gone_mid_apply_stops_the_cycle_after_a_few_failures() {
    let _exclusive = CLUSTER_IN_USE.write().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::without_lock("gone", "");
    for i in 0..300 {
        f.write(
            &format!("cm-{i}.yaml"),
            &config_map(&format!("cm-{i}"), "1"),
        );
    }
    f.commit();
    let child = f.spawn_reconcile();
    // The first objects are in: now the API server goes away for 20 s.
    eventually("the apply to start", || {
        let out = f.kubectl(&["-n", &f.ns, "get", "configmaps", "-o", "name"]);
        text(&out).lines().count() > 3
    });
    let repo_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let outage = std::thread::spawn({
        let dir = f.cluster.dir.clone();
        move || {
            Command::new("bash")
                .arg(repo_root.join("tests/cluster.sh"))
                .args(["restart-apiserver", "20"])
                .env("PLUMB_TEST_CLUSTER", dir)
                .output()
                .unwrap()
        }
    });
    let out = child.wait_with_output().unwrap();
    let restarted = outage.join().unwrap();
    assert!(restarted.status.success(), "{}", text(&restarted));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let unreachable = all.matches("cannot reach the API server").count();
    assert!(
        (1..=2 * 3 + 6).contains(&unreachable),
        "{unreachable} connection errors reported:\n{all}"
    );
    assert!(all.contains("the API server stopped answering"), "{all}");
    // The next cycle finishes the job.
    let out = f.reconcile_ok();
    assert!(out.contains("Ready"), "{out}");
}

#[test]
fn a_git_server_trickling_its_answer_fails_the_reconcile_at_fetch_timeout() {
    let f = Fixture::new("trickle", "");
    let servers = common::git::Servers::get();
    let remote = common::git::Remote::create(&servers, "trickle");
    remote.write("manifests/a.yaml", config_map("a", "1"));
    remote.commit_and_push("first");
    let proxy = common::git::Proxy::start(servers.daemon_addr());
    proxy.trickle_after(0, std::time::Duration::from_millis(200));
    let config = std::fs::read_to_string(&f.config).unwrap().replace(
        &format!("url: file://{}", f.bare.display()),
        &format!(
            "url: git://127.0.0.1:{}/{}.git\n    timeout: 5s\n    fetchTimeout: 3s",
            proxy.port, remote.name
        ),
    );
    std::fs::write(&f.config, config).unwrap();
    let mut child = f.spawn_reconcile();
    let started = std::time::Instant::now();
    // Without a deadline over the whole poll, a byte every 200 ms keeps it going for good.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("plumb reconcile was still polling the trickling server after 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("took longer than fetchTimeout (3s)"),
        "{said}"
    );
    assert!(
        f.get("configmap", "a").is_none(),
        "applied from a cut-off poll"
    );
}
