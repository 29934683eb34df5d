//! The per-test world of the end-to-end tests: a Git repository of its own
//! (file://), a sync, a namespace and a node name, so tests run in parallel
//! and the audit log tells their requests apart.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::{plumb, temp_dir, text, unique, Cluster};
use serde_json::Value;

/// The outage test stops the API server: it takes this for writing, every
/// other test that talks to the cluster takes it for reading (in Fixture).
pub static CLUSTER_IN_USE: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub struct Fixture {
    pub _shared: Option<std::sync::RwLockReadGuard<'static, ()>>,
    pub cluster: Cluster,
    pub work: PathBuf,
    pub bare: PathBuf,
    pub config: PathBuf,
    pub sync: String,
    pub ns: String,
    pub node: String,
}

pub fn git(dir: &std::path::Path, args: &[&str]) {
    super::git::git_in(dir, args);
}

impl Fixture {
    /// A repository with `manifests/`, a namespace for the sync's objects, and a config.
    pub fn new(prefix: &str, sync_extra: &str) -> Fixture {
        let shared = CLUSTER_IN_USE.read().unwrap_or_else(|e| e.into_inner());
        Fixture {
            _shared: Some(shared),
            ..Fixture::without_lock(prefix, sync_extra)
        }
    }

    /// Like `new`, for a test that already holds the cluster exclusively.
    pub fn without_lock(prefix: &str, sync_extra: &str) -> Fixture {
        let cluster = Cluster::get();
        let dir = temp_dir(prefix);
        let work = dir.join("work");
        let bare = dir.join("repo.git");
        std::fs::create_dir_all(work.join("manifests")).unwrap();
        git(&dir, &["init", "-q", "--bare", bare.to_str().unwrap()]);
        git(&dir, &["init", "-q", work.to_str().unwrap()]);
        let sync = unique("s");
        let ns = cluster.namespace(prefix);
        let node = unique("node");
        let config = dir.join("plumb.yaml");
        std::fs::write(
            &config,
            format!(
                "kubeconfig: {}\nstateDir: {}\nnodeName: {node}\nleaderElection: {{enabled: false}}\nlisten: ''\nsources:\n  - name: repo\n    url: file://{}\n    ref: {{branch: main}}\nsyncs:\n  - name: {sync}\n    source: repo\n    path: manifests\n    namespace: {ns}\n    prune: true\n    wait: false\n{sync_extra}",
                cluster.kubeconfig("admin").display(),
                dir.join("state").display(),
                bare.display()
            ),
        )
        .unwrap();
        Fixture {
            _shared: None,
            cluster,
            work,
            bare,
            config,
            sync,
            ns,
            node,
        }
    }

    /// The config `base` as another node would have it: its own node name
    /// and stateDir, in a folder of its own; returns the config's path.
    pub fn node_config(&self, base: &str, node: &str) -> PathBuf {
        let dir = self.config.parent().unwrap().join(node);
        std::fs::create_dir_all(&dir).unwrap();
        let state = self.config.parent().unwrap().join("state");
        let config = base
            .replace(
                &format!("nodeName: {}", self.node),
                &format!("nodeName: {node}"),
            )
            .replace(
                &format!("stateDir: {}", state.display()),
                &format!("stateDir: {}", dir.join("state").display()),
            );
        let path = dir.join("plumb.yaml");
        std::fs::write(&path, config).unwrap();
        path
    }

    pub fn write(&self, path: &str, content: &str) {
        let path = self.work.join("manifests").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content.replace("NS", &self.ns)).unwrap();
    }

    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.work.join("manifests").join(path)).unwrap();
    }

    pub fn commit(&self) {
        self.commit_by("t <t@t>", "change");
    }

    /// Commits everything as `author` ("Name <email>") with `subject`, and pushes.
    pub fn commit_by(&self, author: &str, subject: &str) {
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "--author",
                author,
                "-m",
                subject,
            ],
        );
        git(
            &self.work,
            &[
                "push",
                "-q",
                "-f",
                self.bare.to_str().unwrap(),
                "HEAD:refs/heads/main",
            ],
        );
    }

    /// The work tree's HEAD commit.
    pub fn head(&self) -> String {
        let out = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&self.work)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `plumb reconcile` in the background, its output piped.
    pub fn spawn_reconcile(&self) -> std::process::Child {
        plumb()
            .arg("reconcile")
            .arg("--config")
            .arg(&self.config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn reconcile(&self) -> Output {
        plumb()
            .arg("reconcile")
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap()
    }

    pub fn reconcile_ok(&self) -> String {
        let out = self.reconcile();
        assert_eq!(
            out.status.code(),
            Some(0),
            "reconcile failed:\n{}",
            text(&out)
        );
        text(&out)
    }

    /// Another manager's edit: sets the ConfigMap's `key`.
    pub fn edit_config_map(&self, name: &str, value: &str) {
        let patch = format!(r#"{{"data":{{"key":"{value}"}}}}"#);
        let out = self.kubectl(&[
            "-n",
            &self.ns,
            "patch",
            "configmap",
            name,
            "--type=merge",
            "-p",
            &patch,
        ]);
        assert!(out.status.success(), "kubectl patch: {}", text(&out));
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.cluster.kubectl(args)
    }

    /// The object as JSON, or None when it does not exist.
    pub fn get(&self, kind: &str, name: &str) -> Option<Value> {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.cluster.kubeconfig("admin"))
            .args([
                "-n",
                &self.ns,
                "get",
                kind,
                name,
                "-o",
                "json",
                "--ignore-not-found",
                "--show-managed-fields",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        if out.stdout.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&out.stdout).unwrap())
        }
    }

    /// A ConfigMap of plumb's own in plumb-system, if it exists.
    pub fn system_config_map(&self, name: &str) -> Option<Value> {
        let out = self.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "configmap",
            name,
            "--ignore-not-found",
            "-o",
            "json",
        ]);
        (!out.stdout.is_empty()).then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    pub fn status(&self) -> Value {
        let out = self.kubectl(&[
            "-n",
            "plumb-system",
            "get",
            "configmap",
            &format!("plumb-{}", self.sync),
            "-o",
            "json",
        ]);
        let cm: Value = serde_json::from_slice(&out.stdout).unwrap();
        serde_json::from_str(cm["data"]["status"].as_str().unwrap()).unwrap()
    }

    pub fn condition(&self, kind: &str) -> Value {
        let status = self.status();
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Audit-log entries of this test's plumb (by its node name in the User-Agent).
    pub fn audit(&self) -> Vec<Value> {
        let log = std::fs::read_to_string(self.cluster.dir.join("audit.log")).unwrap();
        let marker = format!("({})", self.node);
        log.lines()
            .filter(|l| l.contains(&marker))
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| {
                e["stage"] == "ResponseComplete"
                    && e["userAgent"]
                        .as_str()
                        .unwrap_or_default()
                        .ends_with(&marker)
            })
            .collect()
    }

    pub fn writes(&self) -> Vec<String> {
        self.audit()
            .iter()
            .filter(|e| !matches!(e["verb"].as_str(), Some("get" | "list" | "watch")))
            .filter(|e| {
                !e["requestURI"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("dryRun=All")
            })
            .filter(|e| e["objectRef"]["resource"] != "selfsubjectaccessreviews")
            .map(|e| {
                format!(
                    "{} {}/{}",
                    e["verb"].as_str().unwrap(),
                    e["objectRef"]["resource"].as_str().unwrap_or_default(),
                    e["objectRef"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }
}

pub const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  key: \"VALUE\"\n";

pub fn config_map(name: &str, value: &str) -> String {
    CONFIG_MAP.replace("NAME", name).replace("VALUE", value)
}

pub const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27-alpine
          ports:
            - containerPort: 80
";
