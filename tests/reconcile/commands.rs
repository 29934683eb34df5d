//! The other commands: render and validate without a cluster, status, diff (its prunes
//! the same as reconcile's), check of sources.

use super::*;

#[test]
fn render_and_validate_a_folder_without_a_cluster() {
    let dir = temp_dir("render");
    std::fs::write(dir.join("a.yaml"), config_map("a", "1")).unwrap();
    std::fs::write(dir.join("notes.md"), "ignored").unwrap();
    let out = plumb().arg("render").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("namespace: default"), "{}", text(&out));
    let out = plumb().arg("validate").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(dir.join("b.yaml"), "kind: ConfigMap\nmetadata: {name: b}\n").unwrap();
    let out = plumb().arg("validate").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("b.yaml:1 (document 0): document has no apiVersion"),
        "{}",
        text(&out)
    );
}

#[test]
fn status_reads_the_cluster() {
    let f = Fixture::new("status", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let out = plumb()
        .arg("status")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{}: rev ", f.sync))
            && text(&out).contains("Ready, 1 objects"),
        "{}",
        text(&out)
    );
}

/// Hardening: `plumb status` called a status it could not read a usage error, and told
/// the user to run `plumb --help`.
#[test]
fn an_unreadable_status_is_named_not_a_usage_error() {
    let f = Fixture::new("status-bad", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let parent = format!("plumb-{}", f.sync);
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
    let out = plumb()
        .arg("status")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!(
            "the status in plumb-system/{parent} cannot be read"
        )),
        "{said}"
    );
    assert!(!said.contains("--help"), "not a usage error: {said}");
}

/// Hardening defect 5: `plumb diff` showed prunes that reconcile would never
/// make. Both now decide through `prune::plan_one`: over an object that
/// lost the ApplySet label, one annotated `plumb.dev/prune: disabled`, a
/// Namespace holding someone else's object, and plumb-system itself, diff
/// predicts exactly reconcile's prunes and keeps.
#[test]
fn diff_predicts_the_prunes_and_keeps_reconcile_makes() {
    let f = Fixture::new("diffprune", "");
    let held = unique("held");
    f.write("plain.yaml", &config_map("plain", "1"));
    f.write(
        "disabled.yaml",
        &config_map("disabled", "1").replace(
            "  name: disabled\n",
            "  name: disabled\n  annotations: {plumb.dev/prune: disabled}\n",
        ),
    );
    f.write("relabelled.yaml", &config_map("relabelled", "1"));
    f.write(
        "held.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {held}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: {held}\ndata: {{a: b}}\n"),
    );
    f.write(
        "system.yaml",
        // Adopted: an earlier run's sync may have labelled it (it is never pruned).
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plumb-system\n  annotations: {plumb.dev/adopt: \"true\"}\n",
    );
    f.write("anchor.yaml", &config_map("anchor", "1"));
    f.commit();
    f.reconcile_ok();
    f.kubectl(&[
        "-n",
        &f.ns,
        "label",
        "configmap",
        "relabelled",
        "applyset.kubernetes.io/part-of-",
    ]);
    f.kubectl(&[
        "-n",
        &held,
        "create",
        "configmap",
        "not-ours",
        "--from-literal=x=y",
    ]);
    for file in [
        "plain.yaml",
        "disabled.yaml",
        "relabelled.yaml",
        "held.yaml",
        "system.yaml",
    ] {
        f.remove(file);
    }
    f.commit();
    let kept = |stderr: &str| -> Vec<String> {
        let mut lines: Vec<String> = stderr
            .lines()
            .filter_map(|l| l.split_once(": kept ").map(|(_, rest)| rest.to_owned()))
            .collect();
        lines.sort();
        lines
    };
    let diff = plumb()
        .arg("diff")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    let stdout = String::from_utf8_lossy(&diff.stdout).into_owned();
    // A deletion's hunk takes every line away.
    let mut predicted: Vec<&str> = stdout
        .split("--- ")
        .filter(|d| d.contains(" +0,0 @@"))
        .filter_map(|d| d.split(" (live)").next())
        .collect();
    predicted.sort();
    let predicted_kept = kept(&String::from_utf8_lossy(&diff.stderr));
    let out = f.reconcile();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout_r = String::from_utf8_lossy(&out.stdout).into_owned();
    let made_kept = kept(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        predicted_kept,
        made_kept,
        "diff:\n{}\nreconcile:\n{}",
        text(&diff),
        text(&out)
    );
    assert_eq!(made_kept.len(), 4, "{}", text(&out));
    assert_eq!(
        predicted,
        {
            let mut expected = [
                format!("ConfigMap {held}/inside"),
                format!("ConfigMap {}/plain", f.ns),
            ];
            expected.sort();
            expected
        },
        "{stdout}\nreconcile: {}",
        text(&out)
    );
    assert!(stdout_r.contains("2 pruned"), "{}", text(&out));
    assert!(f.get("configmap", "plain").is_none());
    assert!(f.get("configmap", "disabled").is_some());
    assert!(f.get("configmap", "relabelled").is_some());
}

#[test]
fn diff_shows_what_would_change_and_exits_1() {
    let f = Fixture::new("diff", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.write("b.yaml", &config_map("b", "1"));
    f.commit();
    f.reconcile_ok();
    let diff = || {
        plumb()
            .arg("diff")
            .arg("--config")
            .arg(&f.config)
            .output()
            .unwrap()
    };
    let out = diff();
    assert_eq!(
        out.status.code(),
        Some(0),
        "nothing should change: {}",
        text(&out)
    );
    f.write("a.yaml", &config_map("a", "2"));
    f.remove("b.yaml");
    f.commit();
    let out = diff();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("-  key: '1'\n+  key: '2'")
            || shown.contains("-  key: \"1\"\n+  key: \"2\""),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("--- ConfigMap {}/b (live)", f.ns)),
        "{shown}"
    );
    assert!(
        !shown.contains("managedFields") && !shown.contains("resourceVersion"),
        "{shown}"
    );
    // diff changed nothing.
    assert_eq!(f.get("configmap", "a").unwrap()["data"]["key"], "1");
    assert!(f.get("configmap", "b").is_some());
}

#[test]
fn check_reports_whether_each_source_answers() {
    let f = Fixture::new("checksrc", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ok   source 'repo': file://")
            && text(&out).contains("branch 'main' is at "),
        "{}",
        text(&out)
    );
    let broken = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("repo.git", "missing.git");
    std::fs::write(&f.config, broken).unwrap();
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("FAIL source 'repo': cannot fetch from file://"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_sync_removed_from_the_config_keeps_its_objects_until_forget_deletes_them() {
    let f = Fixture::new("forget", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS-own\n",
    );
    f.write(
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: NS-own\ndata: {key: b}\n",
    );
    f.commit();
    f.reconcile_ok();
    let forget = |config: &std::path::Path| {
        plumb()
            .arg("forget")
            .arg("--sync")
            .arg(&f.sync)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap()
    };
    // Still in the config: refused, nothing deleted.
    let out = forget(&f.config);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is in the config"), "{}", text(&out));
    assert!(f.get("configmap", "a").is_some());

    // Removed from the config: a reconcile leaves its objects and its parent alone.
    let config = std::fs::read_to_string(&f.config).unwrap();
    let (head, _) = config.split_once("syncs:\n").unwrap();
    let removed = f.config.with_file_name("removed.yaml");
    std::fs::write(&removed, format!("{head}syncs: []\n")).unwrap();
    let out = plumb()
        .arg("reconcile")
        .arg("--config")
        .arg(&removed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        f.get("configmap", "a").is_some(),
        "a removed sync's object was deleted"
    );
    assert_eq!(
        f.status()["counts"]["managed"],
        3,
        "the parent is gone or changed"
    );

    // Forgotten on purpose: its objects (the namespace last), then its parent.
    let out = forget(&removed);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = text(&out);
    assert!(printed.contains("3 deleted, 0 kept"), "{printed}");
    let deleted: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("deleted "))
        .collect();
    assert!(deleted.last().unwrap().contains("Namespace"), "{deleted:?}");
    assert!(f.get("configmap", "a").is_none());
    assert!(
        f.system_config_map(&format!("plumb-{}", f.sync)).is_none(),
        "the parent is left"
    );
    assert!(
        f.system_config_map(&format!("plumb-{}-history", f.sync))
            .is_none(),
        "the history is left"
    );
    // Nothing left to forget: a usage error naming it.
    let out = forget(&removed);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
}

fn history(f: &Fixture) -> Vec<Value> {
    let out = plumb()
        .args(["history", "--output", "json", "--sync", &f.sync, "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all[0]["sync"], f.sync.as_str());
    all[0]["history"].as_array().unwrap().clone()
}

#[test]
fn history_keeps_each_change_with_its_commit_and_author_and_idle_cycles_add_nothing() {
    let f = Fixture::new("history", "    historyLimit: 2\n");
    f.write("a.yaml", &config_map("a", "1"));
    f.write("b.yaml", &config_map("b", "1"));
    f.commit_by("Ada Lovelace <ada@example.com>", "Add a and b");
    f.reconcile_ok();
    f.write("a.yaml", &config_map("a", "2"));
    f.remove("b.yaml");
    f.commit_by("Ada Lovelace <ada@example.com>", "Change a, drop b");
    f.reconcile_ok();
    let entries = history(&f);
    let subjects: Vec<&str> = entries
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Change a, drop b", "Add a and b"], "{entries:?}");
    let newest = &entries[0];
    assert_eq!(newest["author"], "Ada Lovelace <ada@example.com>");
    assert_eq!(
        (newest["result"].as_str(), newest["reason"].as_str()),
        (Some("Ready"), Some("Succeeded"))
    );
    assert_eq!(
        (newest["applied"].as_u64(), newest["pruned"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        newest["changed"],
        serde_json::json!([
            format!("applied ConfigMap {}/a", f.ns),
            format!("pruned ConfigMap {}/b", f.ns)
        ])
    );
    assert_eq!(entries[1]["applied"], 2);
    assert_eq!(newest["revision"].as_str().unwrap().len(), 40);

    // An idle cycle neither writes nor adds.
    let version = || {
        f.system_config_map(&format!("plumb-{}-history", f.sync))
            .expect("the history exists")["metadata"]["resourceVersion"]
            .clone()
    };
    let before = version();
    f.reconcile_ok();
    assert_eq!(version(), before, "an idle cycle wrote the history");

    // Drift corrected is an entry of the same revision; the limit drops the oldest.
    f.edit_config_map("a", "edited");
    f.reconcile_ok();
    let entries = history(&f);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["drifted"], 1, "{entries:?}");
    assert_eq!(entries[0]["revision"], entries[1]["revision"]);
    assert_eq!(
        entries[0]["fetchedAt"], entries[1]["fetchedAt"],
        "first seen once"
    );
    assert_eq!(entries[1]["subject"], "Change a, drop b");

    // For people; and the Event names the commit and its author.
    f.write("a.yaml", &config_map("a", "3"));
    f.commit_by("Ada Lovelace <ada@example.com>", "Third change");
    f.reconcile_ok();
    let out = plumb()
        .args(["history", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.starts_with(&format!("{}:\n", f.sync)), "{shown}");
    assert!(
        shown.contains("Third change (Ada Lovelace <ada@example.com>)"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("applied ConfigMap {}/a", f.ns)),
        "{shown}"
    );
    assert!(
        !shown.contains("Add a and b"),
        "the limit kept more than 2: {shown}"
    );
    let events = f.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name=plumb-{}", f.sync),
        "-o",
        "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
    ]);
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    assert!(
        events.contains("by Ada Lovelace <ada@example.com>: Third change"),
        "{events}"
    );
}

#[test]
fn status_and_diff_speak_json_for_scripts() {
    let f = Fixture::new("json", "");
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    f.reconcile_ok();
    let out = plumb()
        .args(["status", "-o", "json", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status[0]["sync"], f.sync.as_str());
    assert_eq!(status[0]["ready"], true);
    assert_eq!(status[0]["status"]["counts"]["managed"], 1);
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    let out = plumb()
        .args(["diff", "--output", "json", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = diff[0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{diff}");
    assert!(changes[0].as_str().unwrap().contains("+  key:"), "{diff}");
    // --watch looks again every 2 s: a line of JSON per look.
    let mut watch = KillOnDrop(
        plumb()
            .args(["status", "--watch", "-o", "json", "--config"])
            .arg(&f.config)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut looks =
        std::io::BufRead::lines(std::io::BufReader::new(watch.0.stdout.take().unwrap()));
    for _ in 0..2 {
        let look: Value = serde_json::from_str(&looks.next().unwrap().unwrap()).unwrap();
        assert_eq!(look[0]["sync"], f.sync.as_str(), "{look}");
    }
    drop(watch);
    // Not a terminal: no colour, whatever TERM says.
    let out = plumb()
        .args(["status", "--config"])
        .arg(&f.config)
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert!(!text(&out).contains('\x1b'), "{}", text(&out));
}
