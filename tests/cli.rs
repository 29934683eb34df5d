//! The `plumb` binary as a user runs it: exit codes, messages, `check`.

mod common;

use common::{plumb, temp_dir, text, Cluster};

fn write_config(body: &str) -> std::path::PathBuf {
    let dir = temp_dir("cfg");
    let path = dir.join("plumb.yaml");
    std::fs::write(&path, body).unwrap();
    path
}

/// A bare repository with one commit on main, as a file:// URL.
fn repository() -> String {
    let dir = temp_dir("repo");
    let git = |args: &[&str]| {
        common::git::git_in(&dir, args);
    };
    git(&["init", "-q", "--bare", "repo.git"]);
    git(&["init", "-q", "work"]);
    std::fs::create_dir_all(dir.join("work/clusters/pi")).unwrap();
    std::fs::write(
        dir.join("work/clusters/pi/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    )
    .unwrap();
    git(&["-C", "work", "add", "-A"]);
    git(&["-C", "work", "commit", "-q", "-m", "one"]);
    git(&[
        "-C",
        "work",
        "push",
        "-q",
        "../repo.git",
        "HEAD:refs/heads/main",
    ]);
    format!("file://{}", dir.join("repo.git").display())
}

fn config_for(cluster: &Cluster, user: &str, state_dir: &std::path::Path) -> String {
    format!(
        "kubeconfig: {}\nstateDir: {}\nsources:\n  - name: homelab\n    url: {}\n    ref: {{branch: main}}\nsyncs:\n  - name: apps\n    source: homelab\n    path: clusters/pi\n",
        cluster.kubeconfig(user).display(),
        state_dir.display(),
        repository()
    )
}

#[test]
fn version_and_help() {
    let out = plumb().arg("version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).starts_with("plumb 0."), "{}", text(&out));
    let out = plumb().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out);
    for cmd in [
        "run",
        "reconcile",
        "render",
        "validate",
        "diff",
        "status",
        "history",
        "forget",
        "check",
        "version",
    ] {
        assert!(help.contains(&format!("\n  {cmd} ")), "{help}");
    }
}

#[test]
fn usage_mistakes_exit_2() {
    for args in [&["frobnicate"][..], &["check", "--nope"], &["render"]] {
        let out = plumb().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("plumb --help"), "{}", text(&out));
    }
}

#[test]
fn validate_config_accepts_a_good_file() {
    let path = write_config(&config_for(
        &Cluster::get(),
        "admin",
        std::path::Path::new("/tmp"),
    ));
    let out = plumb()
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("valid (1 source(s), 1 sync(s))"));
    // PLUMB_CONFIG is the same as --config.
    let out = plumb()
        .env("PLUMB_CONFIG", &path)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("valid (1 source(s), 1 sync(s))"));
}

#[test]
fn each_config_mistake_exits_2_with_file_line_and_column() {
    let head = "sources:\n  - name: a\n    url: https://h/r.git\n    ref: {branch: main}\n";
    let cases = [
        (
            "interval: 1m\nintervall: 5m\n",
            ":2:1:",
            "unknown field `intervall`",
        ),
        ("interval: 5 minutes\n", ":1:11:", "invalid duration"),
        ("jitter: 1.5\n", ":1:9:", "outside 0..1"),
        (
            &format!("{head}  - name: a\n    url: git://h/u\n    ref: {{tag: v1}}\n") as &str,
            ":5:11:",
            "duplicate source name 'a'",
        ),
        (
            &format!("{head}syncs:\n  - name: s\n    source: b\n"),
            ":7:13:",
            "source 'b', which is not defined",
        ),
        (
            "sources:\n  - name: a\n    url: git://h/u\n    ref: {branch: main, tag: v1}\n",
            ":4:",
            "more than one kind",
        ),
        (
            &format!("{head}syncs:\n  - name: s\n    source: a\n    path: /etc\n"),
            ":8:11:",
            "is absolute",
        ),
        (
            &format!("{head}syncs:\n  - name: s\n    source: a\n    path: ../other\n"),
            ":8:11:",
            "climbs out",
        ),
    ];
    for (body, position, message) in cases {
        let path = write_config(body);
        let out = plumb()
            .args(["validate", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let output = text(&out);
        assert_eq!(out.status.code(), Some(2), "{body}: {output}");
        assert!(
            output.contains(&format!("{}{position}", path.display())),
            "{body}: wanted {position} in {output}"
        );
        assert!(
            output.contains(message),
            "{body}: wanted {message} in {output}"
        );
    }
    let out = plumb()
        .args(["validate", "--config", "/nonexistent/plumb.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("failed to read config file '/nonexistent/plumb.yaml'"));
}

#[test]
fn check_passes_for_admin() {
    let cluster = Cluster::get();
    let state = temp_dir("state");
    let path = write_config(&config_for(&cluster, "admin", &state));
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(0), "{output}");
    assert!(output.contains("Kubernetes v1."), "{output}");
    assert!(
        output.contains("may patch all kinds cluster-wide"),
        "{output}"
    );
    assert!(
        output.contains(&format!("stateDir {} is writable", state.display())),
        "{output}"
    );
    assert!(output.contains("all checks passed"), "{output}");
    assert!(!output.contains("FAIL"), "{output}");
}

#[test]
fn check_reads_the_notifiers_files_and_says_where_the_page_is() {
    let cluster = Cluster::get();
    let state = temp_dir("state-notify");
    let open_url = state.with_extension("url");
    std::fs::write(&open_url, "https://hooks.example/SECRET\n").unwrap();
    let config = format!(
        "{}listen: 0.0.0.0:9469\nnotify:\n  - {{name: chat, type: slack, urlFile: {}}}\n",
        config_for(&cluster, "admin", &state),
        open_url.display()
    );
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(write_config(&config))
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(
        output.contains("notifier 'chat': urlFile") && output.contains("chmod 600"),
        "{output}"
    );
    assert!(
        output.contains("status page: off on 0.0.0.0:9469"),
        "{output}"
    );
    assert!(!output.contains("SECRET"), "{output}");
}

#[test]
fn check_lists_what_the_restricted_user_lacks() {
    let cluster = Cluster::get();
    // A stateDir below a regular file can be neither created nor written.
    let blocker = temp_dir("blocked").join("file");
    std::fs::write(&blocker, "").unwrap();
    let state = blocker.join("state");
    let path = write_config(&config_for(&cluster, "restricted", &state));
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    for line in [
        "FAIL may not patch all kinds cluster-wide",
        "FAIL may not delete all kinds cluster-wide",
        "FAIL may not create events in namespace 'plumb-system'",
        "FAIL may not update leases.coordination.k8s.io in namespace 'plumb-system'",
        "warn may not escalate clusterroles.rbac.authorization.k8s.io cluster-wide",
    ] {
        assert!(output.contains(line), "wanted '{line}' in:\n{output}");
    }
    let not_writable = format!("FAIL stateDir {} is not writable", state.display());
    assert!(output.contains(&not_writable), "{output}");
}

#[test]
fn check_fails_clearly_when_the_server_is_unreachable() {
    let dir = temp_dir("down");
    let kc = dir.join("kubeconfig");
    std::fs::write(&kc, "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: x}\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\n").unwrap();
    let path = write_config(&format!(
        "kubeconfig: {}\nstateDir: {}\n",
        kc.display(),
        dir.display()
    ));
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(output.contains("FAIL API server: failed to get version: cannot reach the API server at https://127.0.0.1:1"), "{output}");
}

#[test]
fn check_reports_the_kubeconfig_search_when_none_is_found() {
    let dir = temp_dir("nokc");
    let path = write_config(&format!("stateDir: {}\n", dir.display()));
    let out = plumb()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(output.contains("no kubeconfig found"), "{output}");
    assert!(output.contains("$KUBECONFIG: not set"), "{output}");
    assert!(output.contains("/etc/rancher/k3s/k3s.yaml"), "{output}");
}

/// Hostile input 17: `plumb render DIR | head -1` died of a panic on the
/// closed pipe (SIGABRT, exit 134). A reader that goes away ends the output
/// quietly.
#[test]
fn render_into_a_closed_pipe_exits_quietly() {
    use std::io::BufRead;
    let dir = temp_dir("epipe");
    // Far more than a pipe holds, so plumb is still writing when it closes.
    let manifests: String = (0..3000)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: x}}\ndata: {{index: \"{i}\"}}\n"))
        .collect();
    std::fs::write(dir.join("many.yaml"), manifests).unwrap();
    let mut child = plumb()
        .arg("render")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "---\n");
    // The reader is dropped here, as `head -1` exits.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("failed printing"),
        "{stderr}"
    );
}

/// Hostile input 21: a stateDir that cannot be written said only "Read-only
/// file system"; the error names what plumb was doing, and where.
#[test]
fn an_unusable_state_dir_names_the_operation() {
    let dir = temp_dir("badstate");
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let config = dir.join("plumb.yaml");
    std::fs::write(
        &config,
        format!(
            "kubeconfig: {}\nstateDir: {}/state\nleaderElection: {{enabled: false}}\nsources: [{{name: s, url: 'file:///nowhere', ref: {{branch: main}}}}]\nsyncs: [{{name: x, source: s}}]\n",
            Cluster::get().kubeconfig("admin").display(),
            blocker.display()
        ),
    )
    .unwrap();
    let out = plumb()
        .args(["reconcile", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!(
            "cannot create the state folder {}/state",
            blocker.display()
        )),
        "{all}"
    );
}

/// Hostile input 13: flow mappings nested 40,000 deep in a kustomize patch
/// took super-linear time before the parser's recursion limit stopped them
/// (a 200 KB file: 206 s). The depth is checked before any parsing, for
/// patches and plain manifests alike, and named with its line and column.
#[test]
fn deep_flow_nesting_is_refused_before_it_is_parsed() {
    let dir = temp_dir("deep");
    let deep = format!("{}1{}", "{a: ".repeat(40_000), "}".repeat(40_000));
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: y}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("patch.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\ndata: {deep}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources: [cm.yaml]\npatches: [{path: patch.yaml}]\n",
    )
    .unwrap();
    let out = plumb().arg("validate").arg(&dir).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("'patch.yaml': 4:519: flow collections nested deeper than 128 levels"),
        "{all}"
    );

    let plain = temp_dir("deep-plain");
    std::fs::write(
        plain.join("deep.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\ndata: {deep}\n"),
    )
    .unwrap();
    let out = plumb().arg("validate").arg(&plain).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "deep.yaml:4:519: invalid YAML: flow collections nested deeper than 128 levels"
        ),
        "{all}"
    );
}
