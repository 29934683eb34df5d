//! The status page in a real browser: headless Chromium (Debian's package) loads it from a
//! daemon on the test cluster with 300 objects, a stalled sync, a failing one and a
//! drifted object; the text that matters is checked, screenshots go under
//! target/page-screenshots/. Page views send the API server nothing. And who may read it:
//! listenAuth's token, and no page on a public address without auth or listenPublic.

use std::path::{Path, PathBuf};

use super::*;

fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.exists(),
        "no /usr/bin/chromium: run the tests with ./tests/run, which installs Debian's chromium"
    );
    path
}

/// Chromium, headless, on `url`, with `args` (--dump-dom, --screenshot=…).
fn browse(url: &str, args: &[&str], profile: &Path) -> std::process::Output {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium: {}", text(&out));
    out
}

fn get(url: &str, authorization: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(a) = authorization {
        request = request.header("Authorization", a);
    }
    match request.call() {
        Ok(mut answer) => (
            answer.status().as_u16(),
            answer.body_mut().read_to_string().unwrap_or_default(),
        ),
        // Not listening yet.
        Err(_) => (0, String::new()),
    }
}

#[test]
fn the_status_page_shows_syncs_their_trouble_and_drift_in_a_real_browser() {
    let f = Fixture::new("page", "    timeout: 5s\n");
    let port = free_port();
    let broken = format!("{}-broken", f.sync);
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("wait: false", "wait: true")
        .replace("listen: ''", &format!("listen: 127.0.0.1:{port}"))
        .replacen("sources:", "interval: 1h\nsources:", 1);
    std::fs::write(
        &f.config,
        format!(
            "{config}  - name: {broken}\n    source: repo\n    path: broken\n    namespace: {}\n",
            f.ns
        ),
    )
    .unwrap();
    for i in 0..298 {
        f.write(
            &format!("cm-{i:03}.yaml"),
            &config_map(&format!("cm-{i:03}"), "1"),
        );
    }
    for name in ["front", "back"] {
        f.write(
            &format!("{name}.yaml"),
            &DEPLOYMENT
                .replace("name: web", &format!("name: {name}"))
                .replace(
                    "      labels: {app: web}\n",
                    "      labels: {app: web, plumb.test/never-ready: \"true\"}\n",
                ),
        );
    }
    std::fs::create_dir_all(f.work.join("broken")).unwrap();
    std::fs::write(
        f.work.join("broken/bad.yaml"),
        "kind: ConfigMap\nmetadata: [oops\n",
    )
    .unwrap();
    f.commit_by("Eve <eve@example.com>", "<script>alert(1)</script> deploy");
    let mut daemon = KillOnDrop(
        plumb()
            .arg("run")
            .arg("--config")
            .arg(&f.config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let page = format!("http://127.0.0.1:{port}/");
    eventually("both syncs on the page", || {
        let (code, html) = get(&page, None);
        code == 200 && html.contains("HealthCheckFailed") && html.contains("RenderFailed")
    });
    f.edit_config_map("cm-007", "edited by hand");
    signal(&daemon.0, "USR1");
    eventually("the drift on the page", || {
        get(&page, None).1.contains("Last drift")
    });

    // Looking sends the API server nothing: the page is made from what the daemon holds.
    let requests = f.audit().len();
    for _ in 0..5 {
        assert_eq!(get(&page, None).0, 200);
        let sync_page = format!("{page}sync/{}", f.sync);
        assert_eq!(get(&sync_page, None).0, 200);
    }
    assert_eq!(
        f.audit().len(),
        requests,
        "a page view sent requests to the API server"
    );

    let profile = temp_dir("chromium");
    let dom = String::from_utf8(browse(&page, &["--dump-dom"], &profile).stdout).unwrap();
    for wanted in [
        "2 of 2 syncs need attention",
        &f.sync,
        &broken,
        "Stalled",
        "HealthCheckFailed",
        "RenderFailed",
        "bad.yaml",
        "2 Deployments",
        "front",
        "back",
        "Last drift",
        &format!("ConfigMap {}/cm-007", f.ns),
        "300 objects",
        "Eve &lt;eve@example.com&gt;",
        "&lt;script&gt;alert(1)&lt;/script&gt; deploy",
    ] {
        assert!(dom.contains(wanted), "the page lacks {wanted:?}:\n{dom}");
    }
    assert!(
        !dom.contains("<script"),
        "a commit subject became a script:\n{dom}"
    );
    let sync_page = format!("{page}sync/{}", f.sync);
    let dom = String::from_utf8(browse(&sync_page, &["--dump-dom"], &profile).stdout).unwrap();
    assert!(dom.contains("Objects (300)"), "{dom}");
    assert!(dom.contains(&format!("ConfigMap {}/cm-297", f.ns)), "{dom}");
    assert!(
        dom.contains(&format!("Deployment.apps {}/front", f.ns)),
        "{dom}"
    );

    let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/page-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, url, size) in [
        ("overview.png", page.as_str(), "1280,1800"),
        ("sync.png", sync_page.as_str(), "1280,1800"),
        ("phone.png", page.as_str(), "390,1600"),
    ] {
        let path = shots.join(name);
        let _ = std::fs::remove_file(&path);
        browse(
            url,
            &[
                &format!("--screenshot={}", path.display()),
                &format!("--window-size={size}"),
            ],
            &profile,
        );
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(bytes > 10_000, "{} is {bytes} bytes", path.display());
    }
    signal(&daemon.0, "TERM");
    let _ = daemon.0.wait();
}

/// `plumb run` on `config` (its text written to `name` beside the fixture's config),
/// listening on `port`; returns the daemon and its URL once /healthz answers.
fn daemon_listening(f: &Fixture, name: &str, config: &str, port: u16) -> (KillOnDrop, String) {
    let path = f.config.with_file_name(name);
    std::fs::write(&path, config).unwrap();
    let daemon = KillOnDrop(
        plumb()
            .args(["run", "--config"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    eventually("the daemon to listen", || {
        get(&format!("{url}/healthz"), None).0 == 200
    });
    (daemon, url)
}

fn stop(mut daemon: KillOnDrop) {
    signal(&daemon.0, "TERM");
    let _ = daemon.0.wait();
}

#[test]
fn the_page_asks_for_listen_auth_and_is_off_on_a_public_address_without_it() {
    let f = Fixture::new("page-auth", "");
    let dir = f.config.parent().unwrap().to_owned();
    let token = common::git::secret_file(&dir, "page.token", "page-s3cret\n");
    let port = free_port();
    let base = std::fs::read_to_string(&f.config).unwrap();
    let with_auth = base.replace(
        "listen: ''",
        &format!(
            "listen: 127.0.0.1:{port}\nlistenAuth: {{bearerTokenFile: {}}}",
            token.display()
        ),
    );
    f.write("a.yaml", &config_map("a", "1"));
    f.commit();
    let (mut daemon, url) = daemon_listening(&f, "auth.yaml", &with_auth, port);
    assert_eq!(get(&format!("{url}/"), None).0, 401);
    assert_eq!(get(&format!("{url}/"), Some("Bearer wrong")).0, 401);
    let (code, html) = get(&format!("{url}/"), Some("Bearer page-s3cret"));
    assert_eq!(code, 200, "{html}");
    assert!(!html.contains("page-s3cret"));
    assert_eq!(
        get(&format!("{url}/metrics"), None).0,
        200,
        "metrics stay open"
    );
    // A reload whose token file others can read is refused; the daemon goes on as it was.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    signal(&daemon.0, "HUP");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "the reload stopped the daemon"
    );
    assert_eq!(get(&format!("{url}/"), Some("Bearer page-s3cret")).0, 200);
    stop(daemon);

    // On every address, without listenAuth or listenPublic: no page, metrics as ever.
    let port = free_port();
    let public = base.replace("listen: ''", &format!("listen: 0.0.0.0:{port}"));
    let (daemon, url) = daemon_listening(&f, "public.yaml", &public, port);
    let (code, body) = get(&format!("{url}/"), None);
    assert_eq!(code, 403);
    assert!(body.contains("listenPublic"), "{body}");
    assert_eq!(get(&format!("{url}/metrics"), None).0, 200);
    stop(daemon);
    let port = free_port();
    let public = base.replace(
        "listen: ''",
        &format!("listen: 0.0.0.0:{port}\nlistenPublic: true"),
    );
    let (daemon, url) = daemon_listening(&f, "public.yaml", &public, port);
    assert_eq!(get(&format!("{url}/"), None).0, 200, "listenPublic: true");
    stop(daemon);
}
