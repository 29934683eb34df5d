//! Configuration: `plumb.yaml` parsed from text into validated settings.
//!
//! Parsing is a pure function ([`Settings::from_yaml`]); reading the file is
//! [`Settings::load`]. Every mistake is reported with the file, line and
//! column that serde_yaml attributes to it: checks that need only one value
//! run inside that value's `Deserialize`, and the two checks that need to see
//! several values (duplicate names, a sync naming a missing source) consult a
//! per-parse registry, so their errors point at the offending value too.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

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
    /// Where `plumb run` serves /metrics, /healthz and /readyz; `None` serves nothing.
    pub listen: Option<std::net::SocketAddr>,
    /// Git repositories to pull.
    pub sources: Vec<Source>,
    /// What to apply, each from one source.
    pub syncs: Vec<Sync>,
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
        let raw = with_registry(None, || serde_yaml_ng::from_str::<RawSettings>(text))
            .map_err(invalid)?;
        let known: HashSet<String> = raw.sources.iter().map(|s| s.0.name.clone()).collect();
        if raw.syncs.iter().any(|s| !known.contains(&s.source)) {
            // Parse again, now knowing every source, so the error points at the
            // sync's `source` value wherever the sources are declared.
            with_registry(Some(known), || serde_yaml_ng::from_str::<RawSettings>(text))
                .map_err(invalid)?;
        }
        Ok(raw.into_settings())
    }
}

/// serde_yaml ends its messages with " at line L column C"; we print the
/// position up front instead, as compilers do.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i + 9..].contains(" column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

#[derive(Default)]
struct Registry {
    sources: HashSet<String>,
    syncs: HashSet<String>,
    known_sources: Option<HashSet<String>>,
}

thread_local! {
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

fn with_registry<T>(known_sources: Option<HashSet<String>>, parse: impl FnOnce() -> T) -> T {
    REGISTRY.with(|r| {
        *r.borrow_mut() = Some(Registry {
            known_sources,
            ..Registry::default()
        })
    });
    let result = parse();
    REGISTRY.with(|r| *r.borrow_mut() = None);
    result
}

fn registry<T>(f: impl FnOnce(&mut Registry) -> T) -> Option<T> {
    REGISTRY.with(|r| r.borrow_mut().as_mut().map(f))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSettings {
    kubeconfig: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    context: Option<String>,
    state_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    node_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_jitter")]
    jitter: Option<f64>,
    leader_election: Option<RawLeaderElection>,
    #[serde(default, deserialize_with = "de_listen")]
    listen: Option<Listen>,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    syncs: Vec<RawSync>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ElectionFields {
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    lease_duration: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    renew_every: Option<Duration>,
}

struct RawLeaderElection(LeaderElection);

impl<'de> Deserialize<'de> for RawLeaderElection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(d, "leader election settings", |f: ElectionFields| {
            let e = LeaderElection {
                enabled: f.enabled.unwrap_or(true),
                lease_duration: f.lease_duration.unwrap_or(Duration::from_secs(60)),
                renew_every: f.renew_every.unwrap_or(Duration::from_secs(20)),
            };
            if e.renew_every >= e.lease_duration {
                return Err(format!(
                    "renewEvery ({}s) must be shorter than leaseDuration ({}s), or the lease expires between renewals",
                    e.renew_every.as_secs(),
                    e.lease_duration.as_secs()
                ));
            }
            Ok(RawLeaderElection(e))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SourceFields {
    #[serde(deserialize_with = "de_source_name")]
    name: String,
    #[serde(deserialize_with = "de_url")]
    url: String,
    #[serde(rename = "ref")]
    git_ref: GitRef,
    auth: Option<RawAuth>,
    ca_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    fetch_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_size")]
    max_fetch_size: Option<u64>,
}

impl SourceFields {
    /// Checks between keys: the auth kind and caFile must fit the URL.
    fn check(&self) -> Result<(), String> {
        let transport = Transport::of(&self.url)?;
        let http = matches!(transport, Transport::Https | Transport::Http);
        match (&self.auth, transport) {
            (Some(RawAuth(Auth::Ssh { .. })), t) if t != Transport::Ssh => {
                return Err(format!(
                    "auth sshKeyFile needs an ssh URL, but url '{}' is not one",
                    self.url
                ))
            }
            (Some(RawAuth(Auth::Basic { .. } | Auth::Token { .. } | Auth::Bearer { .. })), _)
                if !http =>
            {
                return Err(format!(
                    "auth with a password or token needs an http(s) URL, but url '{}' is not one",
                    self.url
                ))
            }
            _ => {}
        }
        if self.ca_file.is_some() && transport != Transport::Https {
            return Err(format!(
                "caFile needs an https URL, but url '{}' is not one",
                self.url
            ));
        }
        Ok(())
    }
}

struct RawSource(SourceFields);

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(d, "a source", |fields: SourceFields| {
            fields.check()?;
            Ok(RawSource(fields))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthFields {
    username: Option<String>,
    username_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
    bearer_token_file: Option<PathBuf>,
    ssh_key_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
}

impl AuthFields {
    fn kind(self) -> Result<Auth, String> {
        let kinds = [
            self.password_file.is_some(),
            self.token_file.is_some(),
            self.bearer_token_file.is_some(),
            self.ssh_key_file.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            return Err("auth has more than one kind: give one of passwordFile, tokenFile, bearerTokenFile or sshKeyFile".into());
        }
        let user_given = self.username.is_some() || self.username_file.is_some();
        if user_given && self.password_file.is_none() {
            return Err("auth username and usernameFile go with passwordFile".into());
        }
        if self.known_hosts_file.is_some() && self.ssh_key_file.is_none() {
            return Err("auth knownHostsFile goes with sshKeyFile".into());
        }
        if let Some(password_file) = self.password_file {
            let username = match (self.username, self.username_file) {
                (Some(_), Some(_)) => {
                    return Err("auth has both username and usernameFile: give one".into())
                }
                (Some(u), None) => Username::Literal(u),
                (None, Some(f)) => Username::File(f),
                (None, None) => Username::Literal("git".into()),
            };
            return Ok(Auth::Basic {
                username,
                password_file,
            });
        }
        if let Some(token_file) = self.token_file {
            return Ok(Auth::Token { token_file });
        }
        if let Some(token_file) = self.bearer_token_file {
            return Ok(Auth::Bearer { token_file });
        }
        if let Some(key_file) = self.ssh_key_file {
            let known_hosts_file = self.known_hosts_file.ok_or(
                "auth sshKeyFile needs knownHostsFile: plumb refuses unknown ssh host keys",
            )?;
            return Ok(Auth::Ssh {
                key_file,
                known_hosts_file,
            });
        }
        Err("auth needs one of passwordFile, tokenFile, bearerTokenFile or sshKeyFile".into())
    }
}

struct RawAuth(Auth);

impl<'de> Deserialize<'de> for RawAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(d, "auth", AuthFields::kind).map(RawAuth)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSync {
    #[serde(deserialize_with = "de_sync_name")]
    name: String,
    #[serde(deserialize_with = "de_source_ref")]
    source: String,
    #[serde(default, deserialize_with = "de_repo_path")]
    path: String,
    #[serde(default, deserialize_with = "de_opt_dns_label")]
    namespace: Option<String>,
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    allow_empty: bool,
    self_heal: Option<bool>,
    wait: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    interval: Option<Duration>,
    #[serde(default)]
    suspend: bool,
    #[serde(default, deserialize_with = "de_globs")]
    exclude: Vec<String>,
    #[serde(default)]
    render: Render,
    #[serde(default)]
    helm: Option<RawHelm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHelm {
    #[serde(deserialize_with = "de_repo_path")]
    chart: String,
    #[serde(default, deserialize_with = "de_opt_release_name")]
    release_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_dns_label")]
    target_namespace: Option<String>,
    #[serde(default, deserialize_with = "de_values")]
    values: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "de_repo_paths")]
    values_files: Vec<String>,
    #[serde(default)]
    values_from: Vec<ValuesReference>,
    #[serde(default)]
    kube_version: Option<String>,
    #[serde(default)]
    api_versions: Vec<String>,
    #[serde(default)]
    crds: crate::render::helm::CrdPolicy,
}

fn de_opt_release_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d, "a release name", |text| {
        // Helm's rule: a DNS-1123 label of at most 53 characters (release Secrets add a suffix).
        check_dns_label("releaseName", text)?;
        if text.len() > 53 {
            return Err(format!(
                "releaseName '{text}' is longer than Helm's 53 characters"
            ));
        }
        Ok(Some(text.to_owned()))
    })
}

fn de_values<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Object(_) => Ok(Some(v)),
        serde_json::Value::Null => Ok(None),
        _ => Err(de::Error::custom("values must be a map of chart values")),
    }
}

fn de_repo_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let paths = Vec::<String>::deserialize(d)?;
    paths
        .iter()
        .map(|p| check_repo_path(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(de::Error::custom)
}

impl RawHelm {
    fn into_helm(self, sync: &str) -> Helm {
        let release_name = self
            .release_name
            .unwrap_or_else(|| match &self.target_namespace {
                Some(ns) => format!("{ns}-{sync}"),
                None => sync.to_owned(),
            });
        Helm {
            chart: self.chart,
            release_name,
            target_namespace: self.target_namespace,
            values: self
                .values
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            values_files: self.values_files,
            values_from: self.values_from,
            kube_version: self.kube_version,
            api_versions: self.api_versions,
            crds: self.crds,
        }
    }
}

impl RawSettings {
    fn into_settings(self) -> Settings {
        Settings {
            kubeconfig: self.kubeconfig,
            context: self.context,
            state_dir: self
                .state_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/plumb")),
            node_name: self.node_name.unwrap_or_else(crate::node::hostname),
            listen: match self.listen {
                None => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9469))),
                Some(Listen(addr)) => addr,
            },
            leader_election: self.leader_election.map(|e| e.0).unwrap_or(LeaderElection {
                enabled: true,
                lease_duration: Duration::from_secs(60),
                renew_every: Duration::from_secs(20),
            }),
            interval: self.interval.unwrap_or(DEFAULT_INTERVAL),
            jitter: self.jitter.unwrap_or(0.2),
            sources: self
                .sources
                .into_iter()
                .map(|RawSource(s)| Source {
                    name: s.name,
                    url: s.url,
                    git_ref: s.git_ref,
                    auth: s.auth.map(|a| a.0),
                    ca_file: s.ca_file,
                    interval: s.interval.or(self.interval).unwrap_or(DEFAULT_INTERVAL),
                    timeout: s.timeout.unwrap_or(Duration::from_secs(60)),
                    fetch_timeout: s.fetch_timeout.unwrap_or(DEFAULT_FETCH_TIMEOUT),
                    max_fetch_size: s.max_fetch_size.unwrap_or(256 << 20),
                })
                .collect(),
            syncs: self
                .syncs
                .into_iter()
                .map(|mut s| {
                    let helm = s.helm.take().map(|h| h.into_helm(&s.name));
                    (s, helm)
                })
                .map(|(s, helm)| Sync {
                    path: match &helm {
                        // A helm sync reads its chart's folder.
                        Some(h) if s.path.is_empty() => h.chart.clone(),
                        _ => s.path,
                    },
                    helm,
                    name: s.name,
                    source: s.source,
                    namespace: s.namespace.unwrap_or_else(|| "default".to_owned()),
                    prune: s.prune,
                    allow_empty: s.allow_empty,
                    self_heal: s.self_heal.unwrap_or(true),
                    wait: s.wait.unwrap_or(true),
                    timeout: s.timeout.unwrap_or(Duration::from_secs(120)),
                    interval: s.interval.or(self.interval).unwrap_or(DEFAULT_INTERVAL),
                    suspend: s.suspend,
                    exclude: s.exclude,
                    render: s.render,
                })
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for GitRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A map visitor of our own, so that the checks run inside the map and
        // serde_yaml places their errors at the ref itself.
        struct RefVisitor;
        impl<'de> Visitor<'de> for RefVisitor {
            type Value = GitRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a ref: {branch: NAME}, {tag: NAME} or {commit: SHA}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GitRef, A::Error> {
                const KINDS: &[&str] = &["branch", "tag", "commit"];
                let mut found = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !KINDS.contains(&key.as_str()) {
                        return Err(de::Error::unknown_field(&key, KINDS));
                    }
                    found.push((key, map.next_value::<String>()?));
                }
                git_ref_from(found).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(RefVisitor)
    }
}

fn git_ref_from(mut found: Vec<(String, String)>) -> Result<GitRef, String> {
    if found.len() > 1 {
        return Err("ref has more than one kind: give exactly one of branch, tag or commit".into());
    }
    let Some((kind, value)) = found.pop() else {
        return Err("ref needs one of branch, tag or commit".into());
    };
    if value.is_empty() {
        return Err(format!("ref {kind} must not be empty"));
    }
    match kind.as_str() {
        "branch" => Ok(GitRef::Branch(value)),
        "tag" => Ok(GitRef::Tag(value)),
        _ if value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(GitRef::Commit(value.to_ascii_lowercase()))
        }
        _ => Err(format!(
            "ref commit '{value}' is not a full 40-hex-digit commit id"
        )),
    }
}

/// Runs `check` inside the scalar's visitor, so that serde_yaml places its
/// error at the value itself rather than at the enclosing mapping.
fn scalar<'de, D, T>(
    d: D,
    expecting: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Check<F>(F, &'static str);
    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for Check<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.1)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(Check(check, expecting))
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitRef::Branch(b) => write!(f, "branch '{b}'"),
            GitRef::Tag(t) => write!(f, "tag '{t}'"),
            GitRef::Commit(c) => write!(f, "commit {c}"),
        }
    }
}

/// Deserializes a map into `T`, then converts it with `convert` while still
/// inside the map, so that serde_yaml places a failed check at the map itself.
fn checked_map<'de, D, T, U>(
    d: D,
    expecting: &'static str,
    convert: impl FnOnce(T) -> Result<U, String>,
) -> Result<U, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Checked<T, F>(F, &'static str, std::marker::PhantomData<T>);
    impl<'de, T, U, F> Visitor<'de> for Checked<T, F>
    where
        T: Deserialize<'de>,
        F: FnOnce(T) -> Result<U, String>,
    {
        type Value = U;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.1)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<U, A::Error> {
            let value = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
            (self.0)(value).map_err(de::Error::custom)
        }
    }
    d.deserialize_map(Checked(convert, expecting, std::marker::PhantomData))
}

/// Parses a byte size: "256Mi", "1Gi", "500k", "1048576".
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid size '{text}': use a number with an optional unit Ki, Mi, Gi (or k, M, G), such as 256Mi")
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err(bad()),
    };
    let size = n.checked_mul(factor).ok_or_else(bad)?;
    if size == 0 {
        return Err(format!("size '{text}' must be larger than zero"));
    }
    Ok(size)
}

fn de_opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    scalar(d, "a size such as 256Mi", |text| parse_size(text).map(Some))
}

/// Parses "30s", "5m", "1h", and sums of them such as "1h30m".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration '{text}': use a number with a unit s, m or h, such as 30s, 5m or 1h"
        )
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    scalar(d, "a duration such as 30s, 5m or 1h", |text| {
        let duration = parse_duration(text)?;
        if duration.is_zero() {
            return Err(format!("duration '{text}' must be longer than zero"));
        }
        Ok(Some(duration))
    })
}

fn de_opt_jitter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct Jitter;
    impl Jitter {
        fn check<E: de::Error>(jitter: f64) -> Result<Option<f64>, E> {
            if (0.0..1.0).contains(&jitter) {
                Ok(Some(jitter))
            } else {
                Err(E::custom(format!(
                    "jitter {jitter} is outside 0..1 (0 means none, 0.2 means ±20%)"
                )))
            }
        }
    }
    impl<'de> Visitor<'de> for Jitter {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number from 0 up to (not including) 1")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
            Jitter::check(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
            Jitter::check(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
            Jitter::check(v as f64)
        }
    }
    d.deserialize_f64(Jitter)
}

fn de_opt_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d, "a non-empty string", |text| {
        if text.is_empty() {
            Err("value must not be empty".into())
        } else {
            Ok(Some(text.to_owned()))
        }
    })
}

/// Kubernetes DNS label: what a sync's name becomes part of, and what a namespace must be.
fn check_dns_label(what: &str, text: &str) -> Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} '{text}' is not a valid name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
        ))
    }
}

fn de_opt_dns_label<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d, "a namespace name", |text| {
        check_dns_label("namespace", text)?;
        Ok(Some(text.to_owned()))
    })
}

fn de_source_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a source name", |name| {
        check_dns_label("source name", name)?;
        if registry(|r| r.sources.insert(name.to_owned())) == Some(false) {
            return Err(format!("duplicate source name '{name}'"));
        }
        Ok(name.to_owned())
    })
}

fn de_sync_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a sync name", |name| {
        check_dns_label("sync name", name)?;
        if registry(|r| r.syncs.insert(name.to_owned())) == Some(false) {
            return Err(format!("duplicate sync name '{name}'"));
        }
        Ok(name.to_owned())
    })
}

fn de_source_ref<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "the name of a source", |name| {
        let known = registry(|r| {
            r.known_sources
                .as_ref()
                .map(|k| (k.contains(name), k.iter().cloned().collect::<Vec<_>>()))
        })
        .flatten();
        if let Some((false, mut names)) = known {
            names.sort();
            let names = if names.is_empty() {
                "none is defined".to_owned()
            } else {
                format!("defined: {}", names.join(", "))
            };
            return Err(format!(
                "sync names source '{name}', which is not defined ({names})"
            ));
        }
        Ok(name.to_owned())
    })
}

fn de_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a Git URL", |url| {
        if url.trim().is_empty() {
            Err("url must not be empty".into())
        } else {
            Ok(url.to_owned())
        }
    })
}

/// A path inside the repository: relative, and never climbing out of it.
pub fn check_repo_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(format!(
            "path '{path}' is absolute: give a folder relative to the repository's top"
        ));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "path '{path}' climbs out of the repository ('..' is not allowed)"
                ))
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// `listen` as written: an address, or "" for off.
struct Listen(Option<std::net::SocketAddr>);

fn de_listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Listen>, D::Error> {
    scalar(
        d,
        "an address such as 127.0.0.1:9469, or \"\" for off",
        |text| {
            if text.is_empty() {
                return Ok(Some(Listen(None)));
            }
            text.parse::<std::net::SocketAddr>()
            .map(|a| Some(Listen(Some(a))))
            .map_err(|_| format!("listen '{text}' is not an address with a port, such as 127.0.0.1:9469 or [::1]:9469"))
        },
    )
}

fn de_globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Globs;
    impl<'de> Visitor<'de> for Globs {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of globs relative to path")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(glob) = seq.next_element::<String>()? {
                if glob.is_empty() || glob.starts_with('/') || glob.split('/').any(|p| p == "..") {
                    return Err(de::Error::custom(format!(
                        "exclude glob '{glob}' must be relative to path, without '..'"
                    )));
                }
                out.push(glob);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Globs)
}

fn de_repo_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a folder inside the repository", check_repo_path)
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
