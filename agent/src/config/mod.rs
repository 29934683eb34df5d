//! Configuration: `plumb.yaml` parsed from text into validated settings.
//!
//! Parsing is a pure function ([`Settings::from_yaml`]); reading the file is
//! [`Settings::load`]. Every mistake is reported with the file, line and
//! column that serde_yaml attributes to it: checks that need only one value
//! run inside that value's `Deserialize`, and the two checks that need to see
//! several values (duplicate names, a sync naming a missing source) consult a
//! per-parse registry, so their errors point at the offending value too.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

mod fields;
mod raw;

pub use fields::{check_repo_path, is_variable_name, parse_duration, parse_size};
pub use raw::check_http_url;
use raw::{strip_location, with_registry, RawSettings, Registry};

/// Where the config is read from when neither `--config` nor `PLUMB_CONFIG` says.
pub const DEFAULT_PATH: &str = "/etc/plumb/plumb.yaml";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// A whole poll of a source, at most (the default of `fetchTimeout`).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// Validated settings for the whole agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Explicit kubeconfig path; `None` means the search order in `kube::kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context to use instead of its current-context.
    pub context: Option<String>,
    /// Folder for plumb's own state (Git objects, revisions, fingerprints).
    pub state_dir: PathBuf,
    /// This node's name: in the User-Agent, Events and the lock (default: the hostname).
    pub node_name: String,
    /// Default poll interval for every source and sync.
    pub interval: Duration,
    /// Each wait is `interval × (1 ± jitter)`, uniform.
    pub jitter: f64,
    /// Leader election among the nodes that run plumb.
    pub leader_election: LeaderElection,
    /// Where `plumb run` serves /metrics, /healthz, /readyz and the status page; `None`
    /// serves nothing.
    pub listen: Option<std::net::SocketAddr>,
    /// Who may read the status page (`listenAuth`): needed, or `listenPublic`, for the page
    /// on an address other than loopback.
    pub listen_auth: Option<ListenAuth>,
    /// `listenPublic: true`: the page on any address without auth, on purpose.
    pub listen_public: bool,
    /// Git repositories to pull.
    pub sources: Vec<Source>,
    /// What to apply, each from one source.
    pub syncs: Vec<Sync>,
    /// Who is told when a sync fails, recovers, drifts or applies (the `notify` list).
    pub notify: Vec<Notifier>,
}

/// How a reader of the status page proves who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAuth {
    /// `Authorization: Bearer <the file's token>` (mode 0600).
    BearerTokenFile(PathBuf),
    /// HTTP basic auth with the file's `user:password` (mode 0600).
    BasicAuthFile(PathBuf),
}

/// A receiver of notifications: a webhook of one of the kinds homelab users run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    /// Unique name: in logs instead of the URL, and in the parent's `notified-<name>` key.
    pub name: String,
    /// What the receiver speaks.
    pub kind: NotifierKind,
    /// Where to send: the URL as written, or a file holding it (mode 0600: Slack's and
    /// Discord's URLs carry their secret).
    pub url: Endpoint,
    /// A file (mode 0600) with the token: Gotify's application token, Matrix's access
    /// token, or a bearer token for a webhook or ntfy.
    pub token_file: Option<PathBuf>,
    /// Matrix: the room id (`!abc:example.org`) messages go to.
    pub room: Option<String>,
    /// CA bundle for a receiver with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Which events it is told of.
    pub events: Vec<NotifyEvent>,
    /// Which syncs it is told of; empty: all.
    pub syncs: Vec<String>,
}

/// The URL of a notifier, inline or in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Written in the config.
    Url(String),
    /// Read from this file (mode 0600) when the notifier starts.
    File(PathBuf),
}

/// What a notifier's receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifierKind {
    /// plumb's own JSON (docs/operations.md gives the schema).
    Webhook,
    /// A Slack incoming webhook (and what is compatible: Mattermost, Rocket.Chat).
    Slack,
    /// A Discord webhook.
    Discord,
    /// An ntfy topic URL.
    Ntfy,
    /// A Gotify server.
    Gotify,
    /// A Matrix homeserver.
    Matrix,
}

/// What a notifier can be told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotifyEvent {
    /// A sync failed or stalled (a failure identical to the last one sends nothing).
    Failure,
    /// A sync is Ready again after a failure was sent.
    Recovery,
    /// Drift was found (and corrected, with selfHeal).
    Drift,
    /// A revision was applied (objects created, changed or pruned).
    Applied,
}

impl NotifyEvent {
    /// As the config and the webhook body spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Failure => "failure",
            NotifyEvent::Recovery => "recovery",
            NotifyEvent::Drift => "drift",
            NotifyEvent::Applied => "applied",
        }
    }
}

/// Leader election over a Lease: only the holder polls, applies and prunes.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderElection {
    /// Off on single-node clusters.
    pub enabled: bool,
    /// How long a holder's silence must last before another node takes over.
    pub lease_duration: Duration,
    /// How often the holder renews (each renewal is a write to the datastore).
    pub renew_every: Duration,
}

/// A Git repository plumb pulls.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Unique name that syncs refer to.
    pub name: String,
    /// Remote URL (https, http, ssh, git, file).
    pub url: String,
    /// Which revision to follow.
    pub git_ref: GitRef,
    /// Credentials, read from files.
    pub auth: Option<Auth>,
    /// CA bundle for an https remote with a private CA.
    pub ca_file: Option<PathBuf>,
    /// How often to ask the remote for the ref.
    pub interval: Duration,
    /// Limit for each network step (connect, ref advertisement, fetch).
    pub timeout: Duration,
    /// Limit for a whole poll (ref advertisement and fetch together), however the server
    /// paces its bytes.
    pub fetch_timeout: Duration,
    /// Largest fetch accepted, in bytes.
    pub max_fetch_size: u64,
}

/// How a source's URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// https://, over rustls.
    Https,
    /// http:// (no TLS).
    Http,
    /// ssh://user@host/path or user@host:path, through the system's ssh.
    Ssh,
    /// git:// (git daemon).
    Git,
    /// file://, through the system's git upload-pack.
    File,
}

impl Transport {
    /// The transport of a Git URL, or why it has none we support.
    pub fn of(url: &str) -> Result<Transport, String> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => Ok(Transport::Https),
            Some("http") => Ok(Transport::Http),
            Some("ssh") | Some("git+ssh") => Ok(Transport::Ssh),
            Some("git") => Ok(Transport::Git),
            Some("file") => Ok(Transport::File),
            Some(other) => Err(format!(
                "url scheme '{other}' is not supported: use https, http, ssh, git or file"
            )),
            // scp-like syntax: user@host:path
            None if url.contains('@') && url.contains(':') && !url.starts_with('/') => {
                Ok(Transport::Ssh)
            }
            None => Err(format!(
                "url '{url}' has no scheme: write https://, ssh://, git:// or file:// (or user@host:path for ssh)"
            )),
        }
    }
}

/// The revision a source follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// The tip of a branch.
    Branch(String),
    /// A tag, peeled to its commit.
    Tag(String),
    /// One exact commit (40 hex digits).
    Commit(String),
}

/// Credentials for a source; only paths are held here, never the secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic auth.
    Basic {
        /// The user name, or a file holding it.
        username: Username,
        /// File holding the password.
        password_file: PathBuf,
    },
    /// HTTP basic auth with username `git` and the file's content as password
    /// (what GitHub, GitLab, Gitea and Forgejo accept for tokens).
    Token {
        /// File holding the token.
        token_file: PathBuf,
    },
    /// An `Authorization: Bearer` header.
    Bearer {
        /// File holding the token.
        token_file: PathBuf,
    },
    /// An ssh deploy key, checked against known hosts.
    Ssh {
        /// The private key.
        key_file: PathBuf,
        /// known_hosts holding the server's host key; others are refused.
        known_hosts_file: PathBuf,
    },
}

/// A basic-auth user name, given inline or read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Username {
    /// Given in the config.
    Literal(String),
    /// Read from this file.
    File(PathBuf),
}

/// What to apply from a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Sync {
    /// Unique name; also names the sync's objects in the cluster.
    pub name: String,
    /// The source's name.
    pub source: String,
    /// Folder inside the repository, relative, never escaping it ("" is the top).
    pub path: String,
    /// Namespace given to namespaced objects that name none.
    pub namespace: String,
    /// Delete objects that left Git.
    pub prune: bool,
    /// Allow a revision that renders no objects to prune everything.
    pub allow_empty: bool,
    /// Correct drift (false: report it only).
    pub self_heal: bool,
    /// Follow health after applying.
    pub wait: bool,
    /// How long health is followed after an apply.
    pub timeout: Duration,
    /// How often the sync reconciles.
    pub interval: Duration,
    /// Neither apply nor prune.
    pub suspend: bool,
    /// Globs, relative to `path`, of files to leave out.
    pub exclude: Vec<String>,
    /// How kustomization folders are rendered.
    pub render: Render,
    /// The chart this sync renders, with its values (Flux's HelmRelease); None: the
    /// sync reads `path` as plain YAML, kustomizations and chart folders.
    pub helm: Option<Helm>,
    /// Syncs that must be Ready (at this sync's revision, when they share its source) before
    /// this one reconciles (Flux's `dependsOn`).
    pub depends_on: Vec<Dependency>,
    /// Objects followed until healthy after an apply, besides (or, without `wait`, instead
    /// of) the sync's own (Flux's `healthChecks`).
    pub health_checks: Vec<HealthCheck>,
    /// How objects of a kind plumb has no rule for are judged: by a condition's status
    /// (the stand-in for Flux's CEL `healthCheckExprs`).
    pub health_check_conditions: Vec<ConditionRule>,
    /// Variables substituted into the rendered objects (Flux's post-build substitution);
    /// None: nothing is substituted.
    pub substitution: Option<Substitution>,
    /// How many entries its revision history keeps (0: none).
    pub history_limit: usize,
    /// How SOPS-encrypted files are decrypted (`decryption`, else the top-level default);
    /// None: an encrypted file is an error.
    pub decryption: Option<Decryption>,
}

/// A sync's own rule for a kind plumb has no rule for (`healthCheckConditions`): healthy
/// when a condition has a status, failed when another (or the same) has one. The simple
/// stand-in for Flux's CEL `healthCheckExprs`, covering what most of them say.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionRule {
    pub api_version: String,
    pub kind: String,
    /// The condition that says it is healthy.
    pub current: ConditionIs,
    /// The condition that says it failed for good.
    #[serde(default)]
    pub failed: Option<ConditionIs>,
}

/// A condition's type and the status it must have.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionIs {
    #[serde(rename = "type")]
    pub condition: String,
    #[serde(default = "condition_true")]
    pub status: String,
}

fn condition_true() -> String {
    "True".to_owned()
}

/// One `healthChecks` entry: an object by apiVersion, kind, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Default: the sync's namespace (for a namespaced kind).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// One `dependsOn` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The sync depended on.
    pub name: String,
    /// It follows the same source: it must then be Ready at the same revision.
    pub same_source: bool,
}

/// `decryption: {provider: sops, ageKeyFile}`: SOPS files decrypted with age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decryption {
    /// The age identities (`AGE-SECRET-KEY-1…`, one a line); mode 0600, owned by plumb's
    /// user, read at each render (a rotated key needs no restart).
    pub age_key_file: PathBuf,
}

/// A sync's post-build substitution: `substitute`, `substituteFrom`, `substituteStrict`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    /// `substitute`: variables given inline, over those read from `from`.
    pub vars: BTreeMap<String, String>,
    /// `substituteFrom`: ConfigMaps and Secrets in plumb-system whose keys are variables,
    /// read in order (a later one's key wins).
    pub from: Vec<SubstituteReference>,
    /// `substituteStrict` (default true): a variable without a value or default is an error.
    pub strict: bool,
}

/// One `substituteFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// Its name, in plumb-system.
    pub name: String,
    /// A missing object is then no error.
    #[serde(default)]
    pub optional: bool,
}

/// A sync's `helm` block: one chart from the revision, as a Flux HelmRelease names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Helm {
    /// The chart's folder in the revision (it becomes the sync's `path`).
    pub chart: String,
    /// `.Release.Name`; default the sync's name, prefixed with `targetNamespace-` when
    /// that is set (as Flux names a HelmRelease's release).
    pub release_name: String,
    /// `.Release.Namespace`, and the namespace of namespaced objects that name none; default
    /// the sync's `namespace`.
    pub target_namespace: Option<String>,
    /// Values over everything else (a JSON object).
    pub values: serde_json::Value,
    /// Values files in the revision that replace the chart's values.yaml, merged in order
    /// (Flux's `valuesFiles`).
    pub values_files: Vec<String>,
    /// ConfigMaps and Secrets in plumb-system whose keys hold values, merged in order before
    /// `values` (Flux's `valuesFrom`).
    pub values_from: Vec<ValuesReference>,
    /// `.Capabilities.KubeVersion` instead of the cluster's ("v1.31.0").
    pub kube_version: Option<String>,
    /// More `.Capabilities.APIVersions` than the cluster serves ("monitoring.coreos.com/v1").
    pub api_versions: Vec<String>,
    /// What the CRDs of the chart's crds/ folder get (Flux's `crds`); default `Create`.
    pub crds: crate::render::helm::CrdPolicy,
}

/// One `valuesFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// Its name, in plumb-system.
    pub name: String,
    /// The key holding YAML values; default `values.yaml`.
    #[serde(default = "default_values_key")]
    pub values_key: String,
    /// Where the key's value goes, as a dotted path (`a.b`): then the key holds one value,
    /// not a YAML map.
    #[serde(default)]
    pub target_path: Option<String>,
    /// A missing object or key is then no error.
    #[serde(default)]
    pub optional: bool,
}

fn default_values_key() -> String {
    "values.yaml".to_owned()
}

/// What a `valuesFrom` entry reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ValuesKind {
    ConfigMap,
    Secret,
}

/// How a sync renders folders holding a kustomization file or a Chart.yaml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Render {
    /// Built-in kustomize where a kustomization file exists, the built-in Helm engine where a
    /// Chart.yaml does, plain YAML elsewhere.
    #[default]
    Auto,
    /// `kustomize build` or `kubectl kustomize` from the node's PATH; charts built in.
    KustomizeExternal,
    /// `helm template` from the node's PATH for charts; kustomizations built in.
    HelmExternal,
}

/// Why the config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read config file '{path}': {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid config; the position is where the mistake is.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Settings {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Settings::from_yaml(&text, path)
    }

    /// Parses and validates config text; `origin` only labels errors.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Settings, ConfigError> {
        let invalid = |err: serde_yaml_ng::Error| {
            let (line, column) = err
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            ConfigError::Invalid {
                path: origin.to_owned(),
                line,
                column,
                message: strip_location(&err.to_string()),
            }
        };
        let raw = with_registry(Registry::default(), || {
            serde_yaml_ng::from_str::<RawSettings>(text)
        })
        .map_err(invalid)?;
        let known: HashSet<String> = raw.sources.iter().map(|s| s.0.name.clone()).collect();
        let syncs: HashSet<String> = raw.syncs.iter().map(|s| s.name().to_owned()).collect();
        let graph: Vec<(&str, &[String])> = raw
            .syncs
            .iter()
            .map(|s| (s.name(), s.depends_on()))
            .collect();
        let in_cycles = dependency_cycles(&graph);
        let unknown_dependency = graph
            .iter()
            .any(|(_, deps)| deps.iter().any(|d| !syncs.contains(d)));
        let unknown_notified = raw
            .notify
            .iter()
            .any(|n| n.syncs().iter().any(|s| !syncs.contains(s)));
        let history_taken = syncs.iter().any(|name| {
            name.strip_suffix("-history")
                .is_some_and(|base| syncs.contains(base))
        });
        if raw.syncs.iter().any(|s| !known.contains(s.source()))
            || unknown_dependency
            || !in_cycles.is_empty()
            || history_taken
            || unknown_notified
        {
            // Parse again, now knowing every source and sync, so the error points at the
            // sync's `source` value, `dependsOn` or name wherever the others are declared.
            let registry = Registry {
                known_sources: Some(known),
                known_syncs: Some(syncs),
                in_cycles,
                ..Registry::default()
            };
            with_registry(registry, || serde_yaml_ng::from_str::<RawSettings>(text))
                .map_err(invalid)?;
        }
        Ok(raw.into_settings())
    }
}

/// The syncs that depend on themselves through `dependsOn`, each with its cycle written out
/// ("a → b → a"); names that are not syncs are left to the parse to report.
fn dependency_cycles(graph: &[(&str, &[String])]) -> BTreeMap<String, String> {
    let edges: BTreeMap<&str, &[String]> = graph.iter().copied().collect();
    let mut cycles = BTreeMap::new();
    for &(start, _) in graph {
        // A depth-first walk from `start`, looking for a way back to it.
        let mut path = vec![start];
        let mut next = vec![edges.get(start).copied().unwrap_or_default().iter()];
        let mut seen = HashSet::new();
        while let Some(children) = next.last_mut() {
            match children.next().map(String::as_str) {
                Some(child) if child == start => {
                    path.push(start);
                    cycles.insert(start.to_owned(), path.join(" → "));
                    break;
                }
                Some(child) if seen.insert(child) && edges.contains_key(child) => {
                    path.push(child);
                    next.push(edges[child].iter());
                }
                Some(_) => {}
                None => {
                    next.pop();
                    path.pop();
                }
            }
        }
    }
    cycles
}

/// The syncs in an order where each comes after those it depends on, and otherwise in the
/// order written (`plumb reconcile`).
pub fn dependency_order(syncs: &[Sync]) -> Vec<&Sync> {
    let mut done: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(syncs.len());
    while out.len() < syncs.len() {
        let before = out.len();
        for sync in syncs {
            if !done.contains(sync.name.as_str())
                && sync.depends_on.iter().all(|d| {
                    done.contains(d.name.as_str()) || !syncs.iter().any(|s| s.name == d.name)
                })
            {
                done.insert(&sync.name);
                out.push(sync);
            }
        }
        if out.len() == before {
            // A cycle, which the parse refuses: keep the rest in written order.
            out.extend(syncs.iter().filter(|s| !done.contains(s.name.as_str())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_yaml(text, Path::new("plumb.yaml"))
    }

    fn error_at(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    const GOOD: &str = "\
kubeconfig: /etc/rancher/k3s/k3s.yaml
context: default
stateDir: /var/lib/plumb
interval: 1m
jitter: 0.2
sources:
  - name: homelab
    url: https://git.example.com/me/homelab.git
    ref: {branch: main}
    auth: {tokenFile: /etc/plumb/token}
    caFile: /etc/plumb/git-ca.pem
syncs:
  - name: apps
    source: homelab
    path: clusters/pi
    namespace: default
";

    #[test]
    fn parses_the_documented_example() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.interval, Duration::from_secs(60));
        assert_eq!(s.jitter, 0.2);
        assert_eq!(s.sources[0].git_ref, GitRef::Branch("main".into()));
        assert_eq!(
            s.sources[0].auth,
            Some(Auth::Token {
                token_file: "/etc/plumb/token".into()
            })
        );
        assert_eq!(s.sources[0].timeout, Duration::from_secs(60));
        assert_eq!(s.sources[0].max_fetch_size, 256 << 20);
        assert_eq!(s.sources[0].fetch_timeout, DEFAULT_FETCH_TIMEOUT);
        assert_eq!(s.sources[0].interval, Duration::from_secs(60));
        assert_eq!(s.syncs[0].path, "clusters/pi");
        assert_eq!(s.syncs[0].source, "homelab");
    }

    #[test]
    fn defaults_apply_to_a_minimal_config() {
        let s = parse("sources: []\n").unwrap();
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/plumb"));
        assert_eq!(s.interval, Duration::from_secs(60));
        assert_eq!(s.jitter, 0.2);
        assert!(s.kubeconfig.is_none());
        let s = parse(
            "sources: [{name: a, url: file:///r, ref: {tag: v1}}]\nsyncs: [{name: s, source: a}]\n",
        )
        .unwrap();
        assert_eq!(s.syncs[0].namespace, "default");
        assert_eq!(s.syncs[0].path, "");
        assert_eq!(s.sources[0].git_ref, GitRef::Tag("v1".into()));
    }

    #[test]
    fn unknown_key_is_located() {
        let (line, col, msg) = error_at("interval: 1m\nintervall: 2m\n");
        assert_eq!((line, col), (2, 1));
        assert!(msg.contains("unknown field `intervall`"), "{msg}");
        let text = GOOD.replace("    caFile:", "    cafile:");
        let (line, col, msg) = error_at(&text);
        assert_eq!((line, col), (11, 5));
        assert!(
            msg.contains("sources[0]") && msg.contains("cafile"),
            "{msg}"
        );
    }

    #[test]
    fn bad_durations_are_located() {
        for bad in ["5", "5x", "m", "1.5m", "-1m", "0s"] {
            let (line, col, msg) = error_at(&format!("jitter: 0.1\ninterval: {bad}\n"));
            assert_eq!((line, col), (2, 11), "{bad}: {msg}");
            assert!(msg.contains("duration"), "{msg}");
        }
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    }

    #[test]
    fn jitter_outside_range_is_located() {
        for bad in ["1", "1.5", "-0.1"] {
            let (line, col, msg) = error_at(&format!("interval: 1m\njitter: {bad}\n"));
            assert_eq!((line, col), (2, 9), "{msg}");
            assert!(msg.contains("outside 0..1"), "{msg}");
        }
        assert_eq!(parse("jitter: 0\n").unwrap().jitter, 0.0);
    }

    #[test]
    fn decryption_is_a_sync_s_or_the_default_and_never_an_external_kustomize_s() {
        let head = "sources: [{name: a, url: 'git://h/r', ref: {branch: main}}]\n";
        let s = parse(&format!(
            "{head}decryption: {{provider: sops, ageKeyFile: /etc/plumb/age.key}}\nsyncs:\n  - {{name: web, source: a}}\n  - {{name: db, source: a, decryption: {{provider: sops, ageKeyFile: /k}}}}\n  - {{name: ext, source: a, render: kustomize-external}}\n"
        ))
        .unwrap();
        let file = |i: usize| {
            s.syncs[i]
                .decryption
                .as_ref()
                .map(|d| d.age_key_file.clone())
        };
        assert_eq!(file(0), Some(PathBuf::from("/etc/plumb/age.key")));
        assert_eq!(file(1), Some(PathBuf::from("/k")));
        assert_eq!(file(2), None);
        assert_eq!(
            parse(&format!("{head}syncs: [{{name: web, source: a}}]\n"))
                .unwrap()
                .syncs[0]
                .decryption,
            None
        );
        for (sync, want) in [
            (
                "decryption: {provider: vault, ageKeyFile: /k}",
                "provider 'vault' is not supported",
            ),
            (
                "decryption: {provider: sops, ageKeyFile: k}",
                "must be an absolute path",
            ),
            (
                "decryption: {provider: sops}",
                "decryption needs ageKeyFile",
            ),
            (
                "decryption: {provider: sops, ageKeyFile: /k, kmsKey: x}",
                "unknown field",
            ),
            (
                "render: kustomize-external, decryption: {provider: sops, ageKeyFile: /k}",
                "would hand the plaintext",
            ),
        ] {
            let (line, _, msg) = error_at(&format!(
                "{head}syncs:\n  - {{name: web, source: a, {sync}}}\n"
            ));
            assert_eq!(line, 3, "{msg}");
            assert!(msg.contains(want), "{want}: {msg}");
        }
    }

    #[test]
    fn a_history_is_twenty_entries_unless_said_and_its_name_is_no_other_sync_s() {
        let head = "sources: [{name: a, url: 'git://h/r', ref: {branch: main}}]\nsyncs:\n";
        let s = parse(&format!(
            "{head}  - {{name: web, source: a}}\n  - {{name: db, source: a, historyLimit: 0}}\n"
        ))
        .unwrap();
        assert_eq!(s.syncs[0].history_limit, 20);
        assert_eq!(s.syncs[1].history_limit, 0);
        let (line, _, msg) = error_at(&format!(
            "{head}  - {{name: web, source: a, historyLimit: 101}}\n"
        ));
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("historyLimit 101 is more than 100"), "{msg}");
        // plumb-web-history is web's history: a sync named web-history would take it.
        let (line, _, msg) = error_at(&format!(
            "{head}  - {{name: web, source: a}}\n  - {{name: web-history, source: a}}\n"
        ));
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("plumb-web-history"), "{msg}");
    }

    #[test]
    fn duplicate_names_point_at_the_second() {
        let text = "sources:\n  - {name: a, url: 'git://h/r', ref: {branch: main}}\n  - name: a\n    url: git://h/v\n    ref: {branch: main}\n";
        let (line, col, msg) = error_at(text);
        assert_eq!((line, col), (3, 11), "{msg}");
        assert!(msg.contains("duplicate source name 'a'"), "{msg}");
        let text = "sources: [{name: a, url: 'git://h/r', ref: {branch: main}}]\nsyncs:\n  - {name: s, source: a}\n  - {name: s, source: a}\n";
        let (line, col, msg) = error_at(text);
        assert_eq!((line, col), (4, 12), "{msg}");
        assert!(msg.contains("duplicate sync name 's'"), "{msg}");
    }

    #[test]
    fn missing_source_is_located_even_when_sources_come_later() {
        let text = "syncs:\n  - name: s\n    source: nope\nsources:\n  - {name: a, url: 'git://h/r', ref: {branch: main}}\n";
        let (line, col, msg) = error_at(text);
        assert_eq!((line, col), (3, 13), "{msg}");
        assert!(
            msg.contains("'nope'") && msg.contains("defined: a"),
            "{msg}"
        );
    }

    #[test]
    fn ref_with_two_kinds_is_located() {
        let text = "sources:\n  - name: a\n    url: git://h/r\n    ref: {branch: main, tag: v1}\n";
        let (line, col, msg) = error_at(text);
        assert_eq!(line, 4, "{msg}");
        assert!(col >= 10, "{col}");
        assert!(msg.contains("more than one kind"), "{msg}");
        let (_, _, msg) = error_at("sources: [{name: a, url: 'git://h/r', ref: {}}]\n");
        assert!(msg.contains("one of branch, tag or commit"), "{msg}");
        let (_, _, msg) = error_at("sources: [{name: a, url: 'git://h/r', ref: {commit: abc}}]\n");
        assert!(msg.contains("40-hex"), "{msg}");
        let (_, _, msg) = error_at("sources: [{name: a, url: 'git://h/r', ref: {brunch: main}}]\n");
        assert!(msg.contains("unknown field `brunch`"), "{msg}");
    }

    #[test]
    fn absolute_or_escaping_paths_are_refused() {
        for (bad, want) in [
            ("/etc", "absolute"),
            ("../up", "climbs out"),
            ("a/../../b", "climbs out"),
        ] {
            let text = format!(
                "sources: [{{name: a, url: 'git://h/r', ref: {{branch: m}}}}]\nsyncs:\n  - name: s\n    source: a\n    path: {bad}\n"
            );
            let (line, col, msg) = error_at(&text);
            assert_eq!((line, col), (5, 11), "{msg}");
            assert!(msg.contains(want), "{msg}");
        }
        assert_eq!(check_repo_path("./a//b/").unwrap(), "a/b");
    }

    #[test]
    fn bad_names_and_syntax_are_located() {
        let (line, _, msg) =
            error_at("sources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs:\n  - {name: Apps_1, source: a}\n");
        assert_eq!(line, 3);
        assert!(msg.contains("sync name 'Apps_1'"), "{msg}");
        let (line, _, msg) = error_at("interval: 1m\nsources: [\n");
        assert!(line >= 2, "{msg}");
        let (line, _, msg) = error_at("interval: [1m]\n");
        assert_eq!(line, 1, "{msg}");
    }

    fn source_with(extra: &str, url: &str) -> String {
        format!("interval: 5m\nsources:\n  - name: a\n    url: {url}\n    ref: {{branch: main}}\n{extra}")
    }

    #[test]
    fn source_keys_and_auth_kinds() {
        let s = parse(&source_with(
            "    interval: 30s\n    timeout: 10s\n    fetchTimeout: 2m\n    maxFetchSize: 1Mi\n",
            "https://h/r",
        ))
        .unwrap();
        let src = &s.sources[0];
        assert_eq!(src.interval, Duration::from_secs(30));
        assert_eq!(src.timeout, Duration::from_secs(10));
        assert_eq!(src.max_fetch_size, 1 << 20);
        assert_eq!(src.fetch_timeout, Duration::from_secs(120));
        let s = parse(&source_with("", "https://h/r")).unwrap();
        assert_eq!(
            s.sources[0].interval,
            Duration::from_secs(300),
            "inherits the top level"
        );
        let auth = |extra: &str, url: &str| {
            parse(&source_with(extra, url)).map(|s| s.sources[0].auth.clone().unwrap())
        };
        assert_eq!(
            auth("    auth: {passwordFile: /p}\n", "https://h/r").unwrap(),
            Auth::Basic {
                username: Username::Literal("git".into()),
                password_file: "/p".into()
            }
        );
        assert_eq!(
            auth(
                "    auth: {usernameFile: /u, passwordFile: /p}\n",
                "http://h/r"
            )
            .unwrap(),
            Auth::Basic {
                username: Username::File("/u".into()),
                password_file: "/p".into()
            }
        );
        assert_eq!(
            auth("    auth: {bearerTokenFile: /t}\n", "https://h/r").unwrap(),
            Auth::Bearer {
                token_file: "/t".into()
            }
        );
        assert_eq!(
            auth(
                "    auth: {sshKeyFile: /k, knownHostsFile: /kh}\n",
                "git@h:me/r.git"
            )
            .unwrap(),
            Auth::Ssh {
                key_file: "/k".into(),
                known_hosts_file: "/kh".into()
            }
        );
    }

    #[test]
    fn auth_mistakes_are_located() {
        for (extra, url, line, want) in [
            (
                "    auth: {tokenFile: /t, bearerTokenFile: /b}\n",
                "https://h/r",
                6,
                "more than one kind",
            ),
            (
                "    auth: {sshKeyFile: /k}\n",
                "ssh://h/r",
                6,
                "needs knownHostsFile",
            ),
            (
                "    auth: {username: me}\n",
                "https://h/r",
                6,
                "go with passwordFile",
            ),
            (
                "    auth: {tokenFile: /t, tokn: x}\n",
                "https://h/r",
                6,
                "unknown field `tokn`",
            ),
            (
                "    auth: {sshKeyFile: /k, knownHostsFile: /kh}\n",
                "https://h/r",
                3,
                "needs an ssh URL",
            ),
            (
                "    auth: {tokenFile: /t}\n",
                "git://h/r",
                3,
                "needs an http(s) URL",
            ),
            (
                "    caFile: /ca.pem\n",
                "http://h/r",
                3,
                "caFile needs an https URL",
            ),
            ("", "ftp://h/r", 3, "scheme 'ftp' is not supported"),
            ("", "just-a-name", 3, "has no scheme"),
            (
                "    maxFetchSize: 12 parsecs\n",
                "https://h/r",
                6,
                "invalid size",
            ),
        ] {
            let (l, _, msg) = error_at(&source_with(extra, url));
            assert_eq!(l, line, "{extra}: {msg}");
            assert!(msg.contains(want), "{extra}: wanted {want} in {msg}");
        }
    }

    #[test]
    fn notifiers_are_checked_where_written() {
        let head = "sources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs: [{name: web, source: a}]\nnotify:\n";
        let settings = parse(&format!(
            "{head}  - {{name: phone, type: ntfy, url: 'https://ntfy.example/plumb'}}\n  - {{name: chat, type: matrix, url: 'https://m.example', room: '!r:m.example', tokenFile: /t, events: [failure, drift, failure], syncs: [web]}}\n"
        ))
        .unwrap();
        assert_eq!(settings.notify.len(), 2);
        let phone = &settings.notify[0];
        assert_eq!(
            (phone.kind, &phone.events[..]),
            (
                NotifierKind::Ntfy,
                &[NotifyEvent::Failure, NotifyEvent::Recovery][..]
            ),
            "failure and recovery unless said"
        );
        assert_eq!(
            phone.url,
            Endpoint::Url("https://ntfy.example/plumb".into())
        );
        assert_eq!(
            settings.notify[1].events,
            [NotifyEvent::Failure, NotifyEvent::Drift]
        );
        for (notifier, want) in [
            ("{name: x, type: pager, url: 'https://h'}", "type 'pager'"),
            ("{name: x, type: slack}", "needs url or urlFile"),
            (
                "{name: x, type: slack, url: 'https://h', urlFile: /u}",
                "needs url or urlFile",
            ),
            (
                "{name: x, type: slack, url: 'ftp://h'}",
                "https:// or http://",
            ),
            ("{name: x, type: slack, url: 'https:///path'}", "no host"),
            (
                "{name: x, type: gotify, url: 'https://h'}",
                "needs tokenFile",
            ),
            (
                "{name: x, type: discord, urlFile: /u, tokenFile: /t}",
                "put it in urlFile",
            ),
            (
                "{name: x, type: matrix, url: 'https://h', tokenFile: /t}",
                "needs room",
            ),
            (
                "{name: x, type: matrix, url: 'https://h', tokenFile: /t, room: '#a:h'}",
                "not a room id",
            ),
            (
                "{name: x, type: ntfy, url: 'https://h', room: '!a:h'}",
                "room goes with type matrix",
            ),
            (
                "{name: x, type: ntfy, url: 'https://h', events: [failed]}",
                "event 'failed'",
            ),
            (
                "{name: x, type: ntfy, url: 'https://h', events: []}",
                "never send",
            ),
            (
                "{name: x, type: ntfy, url: 'https://h', syncs: [db]}",
                "sync 'db', which is not defined",
            ),
            (
                "{name: X, type: ntfy, url: 'https://h'}",
                "not a valid name",
            ),
            (
                "{name: x, type: ntfy, url: 'https://h', token: abc}",
                "unknown field `token`",
            ),
        ] {
            let (line, _, message) = error_at(&format!("{head}  - {notifier}\n"));
            assert_eq!(line, 4, "{notifier}: {message}");
            assert!(
                message.contains(want),
                "{notifier}: wanted {want} in {message}"
            );
        }
        let (line, _, message) = error_at(&format!(
            "{head}  - {{name: x, type: ntfy, url: 'https://h'}}\n  - {{name: x, type: slack, url: 'https://h'}}\n"
        ));
        assert_eq!(line, 5, "{message}");
        assert!(message.contains("defined twice"), "{message}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256Mi"), Ok(256 << 20));
        assert_eq!(parse_size("2G"), Ok(2_000_000_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1.5Mi").is_err());
        assert!(parse_size("Mi").is_err());
    }

    #[test]
    fn transports() {
        assert_eq!(Transport::of("https://h/r"), Ok(Transport::Https));
        assert_eq!(Transport::of("git@github.com:me/r.git"), Ok(Transport::Ssh));
        assert_eq!(Transport::of("ssh://git@h:2222/r"), Ok(Transport::Ssh));
        assert_eq!(Transport::of("file:///srv/r.git"), Ok(Transport::File));
        assert_eq!(Transport::of("git://h/r"), Ok(Transport::Git));
        assert!(Transport::of("/srv/r.git").is_err());
    }

    #[test]
    fn depends_on_names_syncs_without_cycles_and_orders_a_one_shot_run() {
        let head = "sources: [{name: a, url: 'git://h/r', ref: {branch: m}}, {name: b, url: 'git://h/s', ref: {branch: m}}]\nsyncs:\n";
        let s = parse(&format!(
            "{head}  - {{name: apps, source: a, dependsOn: [config, crds]}}\n  - {{name: config, source: a, dependsOn: [crds]}}\n  - {{name: crds, source: b}}\n"
        ))
        .unwrap();
        assert_eq!(
            s.syncs[0].depends_on,
            [
                Dependency {
                    name: "config".into(),
                    same_source: true
                },
                Dependency {
                    name: "crds".into(),
                    same_source: false
                }
            ]
        );
        let order: Vec<&str> = dependency_order(&s.syncs)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(order, ["crds", "config", "apps"]);
        for (syncs, line, want) in [
            (
                "  - name: apps\n    source: a\n    dependsOn:\n      - nowhere\n",
                4,
                "dependsOn names sync 'nowhere', which is not defined",
            ),
            (
                "  - name: apps\n    source: a\n    dependsOn: [crds, crds]\n  - {name: crds, source: a}\n",
                3,
                "names sync 'crds' twice",
            ),
            (
                "  - {name: x, source: a}\n  - name: apps\n    source: a\n    dependsOn: [config]\n  - name: config\n    source: a\n    dependsOn: [apps]\n",
                4,
                "sync 'apps' depends on itself through dependsOn: apps → config → apps",
            ),
            (
                "  - name: apps\n    source: a\n    dependsOn: [apps]\n",
                1,
                "sync 'apps' depends on itself through dependsOn: apps → apps",
            ),
        ] {
            let (l, _, msg) = error_at(&format!("{head}{syncs}"));
            assert!(msg.contains(want), "{syncs}: wanted {want} in {msg}");
            assert!(l >= line && l <= line + 2, "{syncs}: line {l}: {msg}");
        }
    }

    #[test]
    fn health_checks_name_objects_and_cel_is_refused_saying_why() {
        let head = "sources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs:\n";
        let s = parse(&format!(
            "{head}  - name: web\n    source: a\n    healthChecks:\n      - {{apiVersion: apps/v1, kind: Deployment, name: ctl, namespace: infra}}\n      - {{apiVersion: v1, kind: Service, name: web}}\n"
        ))
        .unwrap();
        let checks = &s.syncs[0].health_checks;
        let rules = parse(&format!(
            "{head}  - name: web\n    source: a\n    healthCheckConditions:\n      - {{apiVersion: x.io/v1, kind: X, current: {{type: Baked}}, failed: {{type: Burnt, status: 'True'}}}}\n"
        ))
        .unwrap();
        let rule = &rules.syncs[0].health_check_conditions[0];
        assert_eq!(
            (
                rule.current.condition.as_str(),
                rule.current.status.as_str()
            ),
            ("Baked", "True")
        );
        assert_eq!(rule.failed.as_ref().unwrap().condition, "Burnt");
        assert_eq!(checks[0].namespace.as_deref(), Some("infra"));
        assert_eq!(
            (checks[1].kind.as_str(), checks[1].namespace.as_ref()),
            ("Service", None)
        );
        let (_, _, msg) = error_at(&format!(
            "{head}  - name: web\n    source: a\n    healthCheckExprs:\n      - {{apiVersion: x/v1, kind: X, current: 'true'}}\n"
        ));
        assert!(
            msg.contains("healthCheckExprs (CEL) is not supported"),
            "{msg}"
        );
        let (_, _, msg) = error_at(&format!(
            "{head}  - name: web\n    source: a\n    healthChecks: [{{kind: X, name: y}}]\n"
        ));
        assert!(msg.contains("apiVersion"), "{msg}");
    }

    #[test]
    fn substitution_is_read_with_flux_names_and_checked_where_written() {
        let head = "sources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs:\n";
        let s = parse(&format!(
            "{head}  - name: web\n    source: a\n    substitute: {{DOMAIN: pi.example, _n1: '3'}}\n    substituteFrom: [{{kind: ConfigMap, name: vars}}, {{kind: Secret, name: keys, optional: true}}]\n"
        ))
        .unwrap();
        let substitution = s.syncs[0].substitution.as_ref().unwrap();
        assert!(substitution.strict, "strict by default");
        assert_eq!(substitution.vars["DOMAIN"], "pi.example");
        assert_eq!(substitution.vars["_n1"], "3");
        assert_eq!(substitution.from[1].kind, ValuesKind::Secret);
        assert!(substitution.from[1].optional && !substitution.from[0].optional);
        let lax = parse(&format!(
            "{head}  - {{name: web, source: a, substituteFrom: [{{kind: ConfigMap, name: v}}], substituteStrict: false}}\n"
        ))
        .unwrap();
        assert!(!lax.syncs[0].substitution.as_ref().unwrap().strict);
        let none = parse(&format!("{head}  - {{name: web, source: a}}\n")).unwrap();
        assert_eq!(none.syncs[0].substitution, None);
        for (sync, line, want) in [
            (
                "  - name: web\n    source: a\n    substitute:\n      my-var: x\n",
                4,
                "'my-var' is not a variable name",
            ),
            (
                "  - name: web\n    source: a\n    substitute:\n      N: 3\n",
                4,
                "N must be a string",
            ),
            (
                "  - name: web\n    source: a\n    substituteFrom: [{kind: Pod, name: p}]\n",
                5,
                "unknown variant `Pod`",
            ),
            (
                "  - name: web\n    source: a\n    substituteStrict: false\n",
                3,
                "substituteStrict without substitute or substituteFrom",
            ),
            (
                "  - name: web\n    source: a\n    helm: {chart: c}\n    substitute: {A: b}\n",
                3,
                "do not apply to a helm sync",
            ),
        ] {
            let (l, _, msg) = error_at(&format!("{head}{sync}"));
            assert!(msg.contains(want), "{sync}: wanted {want} in {msg}");
            assert!(l >= line && l <= line + 2, "{sync}: line {l}: {msg}");
        }
    }

    #[test]
    fn a_helm_block_names_the_chart_its_release_and_values() {
        let head = "sources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs:\n";
        let s = parse(&format!(
            "{head}  - name: web\n    source: a\n    namespace: apps\n    helm:\n      chart: charts/web\n      values: {{replicas: 2, image: {{tag: v1}}}}\n      valuesFiles: [charts/web/prod.yaml]\n      valuesFrom: [{{kind: Secret, name: web-values}}, {{kind: ConfigMap, name: cm, valuesKey: extra, targetPath: a.b, optional: true}}]\n      kubeVersion: v1.31.0\n      apiVersions: [monitoring.coreos.com/v1]\n"
        ))
        .unwrap();
        let sync = &s.syncs[0];
        let helm = sync.helm.as_ref().unwrap();
        assert_eq!(
            sync.path, "charts/web",
            "a helm sync reads its chart's folder"
        );
        assert_eq!(helm.release_name, "web");
        assert_eq!(helm.target_namespace, None);
        assert_eq!(helm.values["image"]["tag"], "v1");
        assert_eq!(helm.values_files, ["charts/web/prod.yaml"]);
        assert_eq!(helm.values_from[0].kind, ValuesKind::Secret);
        assert_eq!(helm.values_from[0].values_key, "values.yaml");
        assert_eq!(helm.values_from[1].target_path.as_deref(), Some("a.b"));
        assert!(helm.values_from[1].optional);
        assert_eq!(helm.kube_version.as_deref(), Some("v1.31.0"));
        for (text, policy) in [
            ("Create", crate::render::helm::CrdPolicy::Create),
            (
                "CreateReplace",
                crate::render::helm::CrdPolicy::CreateReplace,
            ),
            ("Skip", crate::render::helm::CrdPolicy::Skip),
        ] {
            let s = parse(&format!(
                "{head}  - {{name: web, source: a, helm: {{chart: c, crds: {text}}}}}\n"
            ))
            .unwrap();
            assert_eq!(s.syncs[0].helm.as_ref().unwrap().crds, policy);
        }
        // Flux's default release name with a target namespace.
        let s = parse(&format!(
            "{head}  - {{name: web, source: a, helm: {{chart: c, targetNamespace: shop}}}}\n"
        ))
        .unwrap();
        assert_eq!(s.syncs[0].helm.as_ref().unwrap().release_name, "shop-web");
        assert_eq!(
            s.syncs[0].helm.as_ref().unwrap().crds,
            crate::render::helm::CrdPolicy::Create,
            "Create by default, as Flux installs"
        );
        for (block, wanted) in [
            ("{chart: ../c}", "climbs out"),
            ("{values: {a: 1}}", "missing field `chart`"),
            ("{chart: c, releaseName: Web}", "releaseName"),
            ("{chart: c, values: [1]}", "values must be a map"),
            (
                "{chart: c, valuesFrom: [{kind: Pod, name: x}]}",
                "unknown variant `Pod`",
            ),
            ("{chart: c, crds: Replace}", "unknown variant `Replace`"),
        ] {
            let (line, _, msg) = error_at(&format!(
                "{head}  - {{name: s, source: a, helm: {block}}}\n"
            ));
            assert_eq!(line, 3, "{block}: {msg}");
            assert!(msg.contains(wanted), "{block}: {msg}");
        }
    }

    #[test]
    fn sync_keys_and_defaults() {
        let head =
            "interval: 3m\nsources: [{name: a, url: 'git://h/r', ref: {branch: m}}]\nsyncs:\n";
        let s = parse(&format!("{head}  - {{name: s, source: a}}\n")).unwrap();
        let sync = &s.syncs[0];
        assert!(!sync.prune && !sync.allow_empty && sync.self_heal && sync.wait && !sync.suspend);
        assert_eq!(sync.timeout, Duration::from_secs(120));
        assert_eq!(sync.interval, Duration::from_secs(180));
        assert!(sync.exclude.is_empty());
        assert_eq!(sync.render, Render::Auto);
        let s = parse(&format!(
            "{head}  - {{name: s, source: a, prune: true, allowEmpty: true, selfHeal: false, wait: false, timeout: 30s, interval: 10s, suspend: true, exclude: ['*.md', 'tests/**'], render: kustomize-external}}\n"
        ))
        .unwrap();
        assert_eq!(s.syncs[0].render, Render::KustomizeExternal);
        let h = parse(&format!(
            "{head}  - {{name: s, source: a, render: helm-external}}\n"
        ))
        .unwrap();
        assert_eq!(h.syncs[0].render, Render::HelmExternal);
        let (line, _, msg) = error_at(&format!("{head}  - {{name: s, source: a, render: helm}}\n"));
        assert_eq!(line, 4);
        assert!(
            msg.contains("auto")
                && msg.contains("kustomize-external")
                && msg.contains("helm-external"),
            "{msg}"
        );
        let sync = &s.syncs[0];
        assert!(sync.prune && sync.allow_empty && !sync.self_heal && !sync.wait && sync.suspend);
        assert_eq!(sync.timeout, Duration::from_secs(30));
        assert_eq!(sync.interval, Duration::from_secs(10));
        assert_eq!(sync.exclude, ["*.md", "tests/**"]);
        let (line, _, msg) = error_at(&format!(
            "{head}  - {{name: s, source: a, exclude: ['../x']}}\n"
        ));
        assert_eq!(line, 4);
        assert!(msg.contains("exclude glob '../x'"), "{msg}");
        let (_, _, msg) = error_at(&format!("{head}  - {{name: s, source: a, prune: maybe}}\n"));
        assert!(msg.contains("prune"), "{msg}");
    }

    #[test]
    fn leader_election_keys() {
        let s = parse("sources: []\n").unwrap();
        assert!(s.leader_election.enabled);
        assert_eq!(s.leader_election.lease_duration, Duration::from_secs(60));
        assert_eq!(s.leader_election.renew_every, Duration::from_secs(20));
        let s = parse("leaderElection: {enabled: false}\n").unwrap();
        assert!(!s.leader_election.enabled);
        let s = parse("leaderElection: {leaseDuration: 2m, renewEvery: 30s}\n").unwrap();
        assert_eq!(s.leader_election.lease_duration, Duration::from_secs(120));
        let (line, _, msg) =
            error_at("interval: 1m\nleaderElection: {leaseDuration: 10s, renewEvery: 10s}\n");
        assert_eq!(line, 2);
        assert!(msg.contains("must be shorter than leaseDuration"), "{msg}");
    }

    #[test]
    fn listen_address() {
        assert_eq!(
            parse("sources: []\n").unwrap().listen,
            Some("127.0.0.1:9469".parse().unwrap())
        );
        assert_eq!(parse("listen: ''\n").unwrap().listen, None);
        assert_eq!(
            parse("listen: '0.0.0.0:9000'\n").unwrap().listen,
            Some("0.0.0.0:9000".parse().unwrap())
        );
        let (line, _, msg) = error_at("interval: 1m\nlisten: localhost\n");
        assert_eq!(line, 2);
        assert!(msg.contains("not an address"), "{msg}");
    }
}
