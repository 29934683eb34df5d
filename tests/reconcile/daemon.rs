//! `plumb run`: signals, systemd's notify protocol and watchdog, leader election over
//! three nodes and through an API server outage, metrics and health endpoints.

use super::*;

/// Waits (bounded: only to catch hangs) until `check` holds.
#[test]
fn the_daemon_reconciles_on_sigusr1_refuses_a_broken_reload_and_stops_on_sigterm() {
    let f = Fixture::new("daemon", "");
    // A long interval: every cycle after the first is one the test asks for.
    let config = std::fs::read_to_string(&f.config).unwrap().replacen(
        "sources:",
        "interval: 1h\nsources:",
        1,
    );
    std::fs::write(&f.config, &config).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let log = std::fs::File::create(f.config.with_extension("log")).unwrap();
    let mut child = plumb()
        .arg("run")
        .arg("--config")
        .arg(&f.config)
        .stderr(log)
        .spawn()
        .unwrap();
    eventually("the first cycle", || f.get("configmap", "a").is_some());

    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    signal(&child, "USR1");
    eventually("SIGUSR1's cycle", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "2"
    });

    std::fs::write(&f.config, format!("{config}bogus: true\n")).unwrap();
    signal(&child, "HUP");
    let log_path = f.config.with_extension("log");
    eventually("the reload to be refused", || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .contains("the new configuration is refused")
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "a broken reload stopped the daemon"
    );
    // Hardening defect 4: a valid config whose kubeconfig is broken killed
    // the daemon; it is refused the same way.
    let broken = f.config.with_file_name("broken.kubeconfig");
    std::fs::write(&broken, "apiVersion: v1\nkind: Config\nclusters: [oops\n").unwrap();
    std::fs::write(
        &f.config,
        config.replace(
            &format!("kubeconfig: {}", f.cluster.kubeconfig("admin").display()),
            &format!("kubeconfig: {}", broken.display()),
        ),
    )
    .unwrap();
    signal(&child, "HUP");
    eventually("the broken kubeconfig to be refused", || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .matches("the new configuration is refused")
            .count()
            == 2
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "a reload with a broken kubeconfig stopped the daemon"
    );
    std::fs::write(&f.config, &config).unwrap();

    // The old config keeps running: another change still arrives.
    f.write("a.yaml", &config_map("a", "3"));
    f.commit();
    signal(&child, "USR1");
    eventually("a cycle after the refused reload", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "3"
    });

    signal(&child, "TERM");
    let mut code = None;
    eventually("the daemon to stop", || {
        code = child.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    assert_eq!(code.unwrap(), Some(0));
    let state = f
        .config
        .parent()
        .unwrap()
        .join("state/syncs")
        .join(format!("{}.json", f.sync));
    let memory: Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).expect("the state file is whole");
    assert!(memory["applied"].is_string());
}

#[test]
fn sigterm_in_the_middle_of_a_cycle_stops_promptly_and_leaves_whole_files() {
    let f = Fixture::new("sigterm", "    timeout: 120s\n");
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("wait: false", "wait: true");
    std::fs::write(&f.config, config).unwrap();
    // A Deployment whose Pods never become Ready (kwok's stage for the
    // label): the cycle waits on its health.
    f.write(
        "web.yaml",
        &DEPLOYMENT.replace(
            "      labels: {app: web}\n",
            "      labels: {app: web, plumb.test/never-ready: \"true\"}\n",
        ),
    );
    f.commit();
    let mut child = plumb()
        .arg("run")
        .arg("--config")
        .arg(&f.config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the apply", || f.get("deployment", "web").is_some());
    let stopped_at = std::time::Instant::now();
    signal(&child, "TERM");
    let mut code = None;
    eventually("the daemon to stop", || {
        code = child.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    // Generous bound: it only catches a daemon that waits for the 120 s health timeout.
    assert!(
        stopped_at.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        stopped_at.elapsed()
    );
    let state_dir = f.config.parent().unwrap().join("state");
    for entry in std::fs::read_dir(state_dir.join("sources/repo")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()).expect("whole JSON");
        }
        assert!(
            !path.to_string_lossy().ends_with(".tmp"),
            "a temp file was left: {}",
            path.display()
        );
    }
}

#[test]
fn the_daemon_tells_systemd_ready_status_and_pings_the_watchdog() {
    let f = Fixture::new("notify", "");
    let config = std::fs::read_to_string(&f.config).unwrap().replacen(
        "sources:",
        "interval: 1h\nsources:",
        1,
    );
    std::fs::write(&f.config, &config).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let socket_path = f.config.with_extension("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut child = plumb()
        .arg("run")
        .arg("--config")
        .arg(&f.config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let wanted = |seen: &[String]| {
        seen.iter().any(|m| m == "READY=1")
            && seen.iter().any(|m| {
                m.starts_with("STATUS=")
                    && m.contains(&format!("{}: rev ", f.sync))
                    && m.contains("Ready, 1 objects")
            })
            && seen.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2
    };
    while !wanted(&seen) {
        let n = socket
            .recv(&mut buf)
            .expect("a notification within the timeout");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    signal(&child, "TERM");
    loop {
        let n = socket
            .recv(&mut buf)
            .expect("STOPPING=1 within the timeout");
        if &buf[..n] == b"STOPPING=1" {
            break;
        }
    }
    child.wait().unwrap();
}

/// Audit entries of every plumb node whose name starts with `prefix`: (node, verb, resource, timestamp).
fn writes_by_node(cluster: &Cluster, prefix: &str) -> Vec<(String, String, String, String)> {
    let log = std::fs::read_to_string(cluster.dir.join("audit.log")).unwrap();
    log.lines()
        .filter(|l| l.contains(prefix))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && !matches!(e["verb"].as_str(), Some("get" | "list" | "watch"))
        })
        .filter(|e| {
            !e["requestURI"]
                .as_str()
                .unwrap_or_default()
                .contains("dryRun=All")
        })
        .filter_map(|e| {
            let ua = e["userAgent"].as_str()?;
            let node = ua.split('(').nth(1)?.trim_end_matches(')').to_owned();
            Some((
                node,
                e["verb"].as_str()?.to_owned(),
                e["objectRef"]["resource"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["requestReceivedTimestamp"].as_str()?.to_owned(),
            ))
        })
        .filter(|(node, ..)| node.starts_with(prefix))
        .collect()
}

fn lease_holder(cluster: &Cluster) -> String {
    let out = cluster.kubectl(&[
        "-n",
        "plumb-system",
        "get",
        "lease",
        "plumb",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn three_nodes_elect_one_writer_and_a_standby_takes_over_when_it_dies() {
    let f = Fixture::new("leader", "");
    let prefix = unique("elect");
    // A Lease left by an earlier run (of another node name) would make the
    // test wait out its duration first.
    f.kubectl(&[
        "-n",
        "plumb-system",
        "delete",
        "lease",
        "plumb",
        "--ignore-not-found",
    ]);
    // Served over plain HTTP by the test Git servers, whose access log shows
    // which nodes (plumb's User-Agent names them) reached the Git server.
    let servers = common::git::Servers::get();
    let remote = common::git::Remote::create(&servers, "leader");
    let ns = f.ns.clone();
    let push = |value: &str| {
        remote.write(
            "manifests/a.yaml",
            config_map("a", value).replace("NS", &ns),
        );
        remote.commit_and_push(value);
    };
    let base = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace(
            "leaderElection: {enabled: false}",
            "leaderElection: {leaseDuration: 4s, renewEvery: 1s}",
        )
        .replace(
            &format!("file://{}", f.bare.display()),
            &servers.http_url(&remote),
        )
        .replacen("sources:", "interval: 2s\nsources:", 1);
    push("1");
    let mut nodes: Vec<(String, KillOnDrop)> = (0..4)
        .map(|i| {
            let node = format!("{prefix}-{i}");
            let path = f.node_config(&base, &node);
            (node, path)
        })
        .collect::<Vec<_>>()
        .into_iter()
        // The fourth node runs no daemon: it is for the one-shot run below.
        .take(3)
        .map(|(node, path)| {
            let log = std::fs::File::create(path.with_file_name("log")).unwrap();
            let child = plumb()
                .arg("run")
                .arg("--config")
                .arg(&path)
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            (node, KillOnDrop(child))
        })
        .collect();
    eventually("the first apply", || f.get("configmap", "a").is_some());
    eventually("a leader", || lease_holder(&f.cluster).starts_with(&prefix));
    let leader = lease_holder(&f.cluster);
    // Let a few cycles and renewals pass, then check that only the leader wrote anything but the Lease.
    push("2");
    eventually("the change", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "2"
    });
    let writers: std::collections::BTreeSet<String> = writes_by_node(&f.cluster, &prefix)
        .into_iter()
        .filter(|(_, _, r, _)| r != "leases" && r != "namespaces")
        .map(|(n, ..)| n)
        .collect();
    assert!(
        writers.len() == 1 && writers.contains(&leader),
        "only the leader may write: {writers:?}"
    );

    // kill -9 the leader: another takes over within about a lease duration.
    let (_, child) = nodes.iter_mut().find(|(n, _)| *n == leader).unwrap();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    push("3");
    eventually("a new leader", || {
        let h = lease_holder(&f.cluster);
        h.starts_with(&prefix) && h != leader
    });
    eventually("the new leader's apply", || {
        f.get("configmap", "a").unwrap()["data"]["key"] == "3"
    });
    let new_leader = lease_holder(&f.cluster);

    // A one-shot run on a fourth node names the holder and writes nothing.
    let one_shot = f
        .config
        .parent()
        .unwrap()
        .join(format!("{prefix}-3"))
        .join("plumb.yaml");
    let out = plumb()
        .arg("reconcile")
        .arg("--config")
        .arg(&one_shot)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("node '{new_leader}' holds the leader lease")),
        "{}",
        text(&out)
    );
    drop(nodes);
    // No two nodes wrote objects in overlapping windows (by the API server's clock).
    let mut windows: std::collections::BTreeMap<String, (String, String)> =
        std::collections::BTreeMap::new();
    for (node, _, resource, at) in writes_by_node(&f.cluster, &prefix) {
        if resource == "leases" || resource == "namespaces" {
            continue;
        }
        let w = windows.entry(node).or_insert((at.clone(), at.clone()));
        if at < w.0 {
            w.0 = at.clone();
        }
        if at > w.1 {
            w.1 = at;
        }
    }
    let spans: Vec<&(String, String)> = windows.values().collect();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            assert!(a.1 < b.0 || b.1 < a.0, "overlapping writers: {windows:?}");
        }
    }
    assert!(
        windows.len() >= 2,
        "the takeover wrote nothing: {windows:?}"
    );
}

#[test]
fn metrics_health_and_readiness_are_served_by_the_daemon() {
    let f = Fixture::new("metrics", "");
    let port = free_port();
    let good = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("listen: ''", &format!("listen: '127.0.0.1:{port}'"))
        .replacen("sources:", "interval: 1h\nsources:", 1);
    // First against an API server that isn't there: alive, not ready.
    let unreachable = f.config.with_file_name("nowhere.kubeconfig");
    std::fs::write(&unreachable, "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: x}\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\n").unwrap();
    let bad = good.replace(
        &f.cluster.kubeconfig("admin").display().to_string(),
        &unreachable.display().to_string(),
    );
    let bad_path = f.config.with_file_name("bad.yaml");
    std::fs::write(&bad_path, &bad).unwrap();
    f.write("a.yaml", &config_map("a", "1"));
    // A planted secret that must never reach the metrics.
    f.write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: planted\nstringData:\n  password: planted-m3trics-secret\n");
    f.commit();
    {
        let _daemon = KillOnDrop(
            plumb()
                .arg("run")
                .arg("--config")
                .arg(&bad_path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        eventually("/healthz", || scrape(port, "/healthz").0 == 200);
        assert_eq!(
            scrape(port, "/readyz").0,
            503,
            "ready without ever reaching the cluster"
        );
        let (code, text) = scrape(port, "/metrics");
        assert_eq!(code, 200);
        assert!(
            text.contains("plumb_api_requests_total{verb=") && text.contains("code=\"none\""),
            "{text}"
        );
    }
    std::fs::write(&f.config, &good).unwrap();
    let daemon = KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&f.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = format!(
        "plumb_reconciles_total{{sync=\"{}\",result=\"ready\"}}",
        f.sync
    );
    eventually("a ready cycle in the metrics", || {
        sample(&scrape(port, "/metrics").1, &ready) == Some(1.0)
    });
    assert_eq!(scrape(port, "/readyz").0, 200);
    let text = scrape(port, "/metrics").1;
    assert_eq!(
        sample(
            &text,
            &format!("plumb_objects_managed{{sync=\"{}\"}}", f.sync)
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("plumb_objects_applied_total{{sync=\"{}\"}}", f.sync)
        ),
        Some(2.0),
        "{text}"
    );
    for series in [
        format!("plumb_leader{{sync=\"{}\"}}", f.sync),
        format!(
            "plumb_reconcile_duration_seconds_count{{sync=\"{}\"}}",
            f.sync
        ),
        "plumb_source_fetch_duration_seconds_count{source=\"repo\"}".to_owned(),
    ] {
        assert_eq!(sample(&text, &series), Some(1.0), "{series} in\n{text}");
    }
    assert!(
        text.contains(&format!(
            "plumb_applied_revision_info{{sync=\"{}\",revision=\"",
            f.sync
        )),
        "{text}"
    );
    assert!(
        sample(&text, "plumb_resident_memory_bytes").unwrap() > 1e6,
        "{text}"
    );
    let patches = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("plumb_api_requests_total{verb=\"patch\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let patches_before = patches(&text);
    assert!(patches_before > 0.0, "{text}");
    // Values move: a change and SIGUSR1 make a second cycle that applies one object.
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    signal(&daemon.0, "USR1");
    eventually("the second cycle", || {
        sample(&scrape(port, "/metrics").1, &ready) == Some(2.0)
    });
    let text = scrape(port, "/metrics").1;
    assert_eq!(
        sample(
            &text,
            &format!("plumb_objects_applied_total{{sync=\"{}\"}}", f.sync)
        ),
        Some(3.0),
        "{text}"
    );
    assert!(patches(&text) > patches_before, "{text}");
    assert!(
        !text.contains("password") && !text.contains("token"),
        "{text}"
    );
}

#[test]
fn an_api_server_outage_causes_no_double_leadership() {
    let _exclusive = CLUSTER_IN_USE.write().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::without_lock("outage", "");
    let prefix = unique("outage");
    // A Lease left by an earlier run (of another node name) would make the
    // test wait out its duration first.
    f.kubectl(&[
        "-n",
        "plumb-system",
        "delete",
        "lease",
        "plumb",
        "--ignore-not-found",
    ]);
    let base = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace(
            "leaderElection: {enabled: false}",
            "leaderElection: {leaseDuration: 4s, renewEvery: 1s}",
        )
        .replacen("sources:", "interval: 2s\nsources:", 1);
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let nodes: Vec<KillOnDrop> = (0..2)
        .map(|i| {
            let path = f.node_config(&base, &format!("{prefix}-{i}"));
            let log = std::fs::File::create(path.with_file_name("log")).unwrap();
            KillOnDrop(
                plumb()
                    .arg("run")
                    .arg("--config")
                    .arg(&path)
                    .stdout(std::process::Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    eventually("the first apply", || f.get("configmap", "a").is_some());
    // Longer than the lease: the holder's gate closes while nobody can renew.
    let repo_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let out = Command::new("bash")
        .arg(repo_root.join("tests/cluster.sh"))
        .args(["restart-apiserver", "6"])
        .env("PLUMB_TEST_CLUSTER", &f.cluster.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    f.write("a.yaml", &config_map("a", "2"));
    f.commit();
    eventually("an apply after the outage", || {
        f.get("configmap", "a")
            .is_some_and(|c| c["data"]["key"] == "2")
    });
    drop(nodes);
    // Writes (other than the Lease's) by each node, in time order: the writer
    // changes at most once per takeover, and never back and forth in one burst.
    // (Every node makes sure plumb-system exists when it starts, before any
    // election: that bootstrap write is not leadership.)
    let writes: Vec<(String, String)> = writes_by_node(&f.cluster, &prefix)
        .into_iter()
        .filter(|(_, _, r, _)| r != "leases" && r != "namespaces")
        .map(|(node, _, _, at)| (at, node))
        .collect();
    let mut sorted = writes.clone();
    sorted.sort();
    let mut switches = 0;
    for pair in sorted.windows(2) {
        if pair[0].1 != pair[1].1 {
            switches += 1;
        }
    }
    assert!(
        switches <= 1,
        "writers alternated, a sign of double leadership: {sorted:?}"
    );
}
