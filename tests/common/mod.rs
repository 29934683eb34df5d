//! Shared helpers for the integration tests: the test cluster that
//! `tests/cluster.sh up` started, temp folders, unique names.
//!
//! A missing cluster is a failure, never a skip: run the tests through
//! `tests/run`, which starts it.

#![allow(dead_code)]

pub mod fixture;
pub mod git;
pub mod receiver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use plumb::kube::{kubeconfig, Client};

/// The running test cluster.
pub struct Cluster {
    /// Folder with kubeconfigs, PKI, logs.
    pub dir: PathBuf,
    /// https://127.0.0.1:<port>
    pub server: String,
}

/// The repository's top folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `binary` of the pinned test tool `name`, built by `tests/tools/build.sh NAME` when it
/// is not cached; building it is part of the tests, a failure fails them.
pub fn built_tool(name: &str, binary: &str) -> PathBuf {
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("tests/tools/build.sh"))
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("running bash tests/tools/build.sh {name}: {e}"));
    assert!(
        out.status.success(),
        "`bash tests/tools/build.sh {name}` failed: the reference {name} could not be built:\n{}",
        text(&out)
    );
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(binary);
    assert!(bin.is_file(), "no {binary} at {}", bin.display());
    bin
}

impl Cluster {
    /// The cluster started by `tests/cluster.sh up`; panics with a fix when absent.
    pub fn get() -> Cluster {
        let dir = std::env::var_os("PLUMB_TEST_CLUSTER")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/test-cluster"));
        let server = std::fs::read_to_string(dir.join("server")).unwrap_or_else(|e| {
            panic!(
                "no test cluster at {} ({e}): run the tests with ./tests/run, or start it with tests/cluster.sh up",
                dir.display()
            )
        });
        Cluster {
            dir,
            server: server.trim().to_owned(),
        }
    }

    /// Path of a kubeconfig the script wrote: admin, restricted, cert-admin.
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.kubeconfig"))
    }

    /// A file in the cluster's PKI folder.
    pub fn pki(&self, file: &str) -> PathBuf {
        self.dir.join("pki").join(file)
    }

    /// The admin token.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin.token")).unwrap()
    }

    /// A client for one of the script's kubeconfigs.
    pub fn client(&self, user: &str) -> Client {
        let conn = kubeconfig::read(&self.kubeconfig(user), None).unwrap();
        Client::new(&conn, "plumb-tests").unwrap()
    }

    /// Runs kubectl as admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl as admin, feeding `stdin`.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig("admin"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl is installed");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Creates a fresh namespace for one test.
    pub fn namespace(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.kubectl(&["create", "namespace", &name]);
        name
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{:x}{:x}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new empty folder under target/, kept after the test for inspection.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = repo_root().join("target/test-tmp").join(unique(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The plumb binary under test.
pub fn plumb() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plumb"));
    // Hermetic: no kubeconfig or config from the host.
    cmd.env_remove("KUBECONFIG")
        .env_remove("PLUMB_CONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", "/nonexistent");
    cmd
}

/// stdout + stderr as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `check` every 200 ms until it holds; fails after 60 s naming `what`.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A child process (`plumb run`) stopped when the test ends, even when it fails.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
