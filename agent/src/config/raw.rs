//! The raw forms serde reads `plumb.yaml` into, with the checks that run inside each
//! value's `Deserialize` (so that every error points at the value), and the per-parse
//! registry for the checks that see several values (duplicate names, a sync naming a
//! missing source).

use super::fields::*;
use super::*;

/// serde_yaml ends its messages with " at line L column C"; we print the
/// position up front instead, as compilers do.
pub(super) fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i + 9..].contains(" column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

#[derive(Default)]
pub(super) struct Registry {
    pub(super) sources: HashSet<String>,
    pub(super) syncs: HashSet<String>,
    pub(super) notifiers: HashSet<String>,
    pub(super) known_sources: Option<HashSet<String>>,
    /// On the second parse: every sync's name, for `dependsOn`.
    pub(super) known_syncs: Option<HashSet<String>>,
    /// On the second parse: the syncs in a `dependsOn` cycle, with the cycle written out.
    pub(super) in_cycles: BTreeMap<String, String>,
}

thread_local! {
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

pub(super) fn with_registry<T>(registry: Registry, parse: impl FnOnce() -> T) -> T {
    REGISTRY.with(|r| *r.borrow_mut() = Some(registry));
    let result = parse();
    REGISTRY.with(|r| *r.borrow_mut() = None);
    result
}

pub(super) fn registry<T>(f: impl FnOnce(&mut Registry) -> T) -> Option<T> {
    REGISTRY.with(|r| r.borrow_mut().as_mut().map(f))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSettings {
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
    listen_auth: Option<RawListenAuth>,
    #[serde(default)]
    listen_public: bool,
    #[serde(default)]
    pub(super) sources: Vec<RawSource>,
    #[serde(default)]
    pub(super) syncs: Vec<RawSync>,
    #[serde(default)]
    pub(super) notify: Vec<RawNotifier>,
    /// The syncs' default `decryption`.
    decryption: Option<RawDecryption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DecryptionFields {
    provider: String,
    age_key_file: Option<PathBuf>,
}

/// `decryption: {provider: sops, ageKeyFile: FILE}`, as Flux's Kustomization spec.decryption.
pub(super) struct RawDecryption(Decryption);

impl<'de> Deserialize<'de> for RawDecryption {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(
            d,
            "decryption: {provider: sops, ageKeyFile: FILE}",
            |f: DecryptionFields| {
                if f.provider != "sops" {
                    return Err(format!(
                        "decryption provider '{}' is not supported: the only provider is 'sops'",
                        f.provider
                    ));
                }
                match f.age_key_file {
                Some(file) if file.is_absolute() => Ok(RawDecryption(Decryption { age_key_file: file })),
                Some(file) => Err(format!(
                    "ageKeyFile '{}' must be an absolute path",
                    file.display()
                )),
                None => Err("decryption needs ageKeyFile: the file of age identities (AGE-SECRET-KEY-1…) that SOPS files are decrypted with".into()),
            }
            },
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListenAuthFields {
    bearer_token_file: Option<PathBuf>,
    basic_auth_file: Option<PathBuf>,
}

pub(super) struct RawListenAuth(ListenAuth);

impl<'de> Deserialize<'de> for RawListenAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(d, "listenAuth", |f: ListenAuthFields| {
            match (f.bearer_token_file, f.basic_auth_file) {
                (Some(file), None) => Ok(RawListenAuth(ListenAuth::BearerTokenFile(file))),
                (None, Some(file)) => Ok(RawListenAuth(ListenAuth::BasicAuthFile(file))),
                _ => Err("listenAuth takes one of bearerTokenFile or basicAuthFile".into()),
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct NotifierFields {
    #[serde(deserialize_with = "de_notifier_name")]
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    url: Option<String>,
    url_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    room: Option<String>,
    ca_file: Option<PathBuf>,
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_notified_syncs")]
    syncs: Vec<String>,
}

pub(super) struct RawNotifier(Notifier);

impl RawNotifier {
    pub(super) fn syncs(&self) -> &[String] {
        &self.0.syncs
    }
}

impl<'de> Deserialize<'de> for RawNotifier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(d, "a notifier", |f: NotifierFields| {
            let kind = match f.kind.as_str() {
                "webhook" => NotifierKind::Webhook,
                "slack" => NotifierKind::Slack,
                "discord" => NotifierKind::Discord,
                "ntfy" => NotifierKind::Ntfy,
                "gotify" => NotifierKind::Gotify,
                "matrix" => NotifierKind::Matrix,
                other => {
                    return Err(format!(
                        "notifier '{}': type '{other}' is not one plumb speaks: use webhook, slack, discord, ntfy, gotify or matrix",
                        f.name
                    ))
                }
            };
            let url = match (f.url, f.url_file) {
                (Some(url), None) => {
                    check_http_url(&url).map_err(|why| format!("notifier '{}': {why}", f.name))?;
                    Endpoint::Url(url)
                }
                (None, Some(file)) => Endpoint::File(file),
                _ => {
                    return Err(format!(
                        "notifier '{}' needs url or urlFile (one of them)",
                        f.name
                    ))
                }
            };
            let needs_token = matches!(kind, NotifierKind::Gotify | NotifierKind::Matrix);
            if needs_token && f.token_file.is_none() {
                return Err(format!(
                    "notifier '{}': a {} notifier needs tokenFile",
                    f.name, f.kind
                ));
            }
            if matches!(kind, NotifierKind::Slack | NotifierKind::Discord) && f.token_file.is_some()
            {
                return Err(format!(
                    "notifier '{}': a {} webhook's secret is its URL: put it in urlFile instead of tokenFile",
                    f.name, f.kind
                ));
            }
            match (&f.room, kind) {
                (None, NotifierKind::Matrix) => {
                    return Err(format!(
                        "notifier '{}': a matrix notifier needs room (its id, such as '!abc:example.org')",
                        f.name
                    ))
                }
                (Some(room), NotifierKind::Matrix) if !room.starts_with('!') || !room.contains(':') => {
                    return Err(format!(
                        "notifier '{}': room '{room}' is not a room id ('!abc:example.org'; an alias such as '#room:server' is not accepted)",
                        f.name
                    ))
                }
                (Some(_), NotifierKind::Matrix) => {}
                (Some(_), _) => {
                    return Err(format!(
                        "notifier '{}': room goes with type matrix",
                        f.name
                    ))
                }
                _ => {}
            }
            let mut events = Vec::new();
            for event in f
                .events
                .unwrap_or_else(|| vec!["failure".into(), "recovery".into()])
            {
                let event = match event.as_str() {
                    "failure" => NotifyEvent::Failure,
                    "recovery" => NotifyEvent::Recovery,
                    "drift" => NotifyEvent::Drift,
                    "applied" => NotifyEvent::Applied,
                    other => {
                        return Err(format!(
                            "notifier '{}': event '{other}' is not one of failure, recovery, drift, applied",
                            f.name
                        ))
                    }
                };
                if !events.contains(&event) {
                    events.push(event);
                }
            }
            if events.is_empty() {
                return Err(format!(
                    "notifier '{}': events is empty, so it would never send (remove the notifier instead)",
                    f.name
                ));
            }
            Ok(RawNotifier(Notifier {
                name: f.name,
                kind,
                url,
                token_file: f.token_file,
                room: f.room,
                ca_file: f.ca_file,
                events,
                syncs: f.syncs,
            }))
        })
    }
}

/// An http(s) URL with a host, as a notifier posts to.
pub fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "url must start with https:// or http://".to_owned())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || url.contains(['\n', '\r']) {
        return Err("url has no host".into());
    }
    Ok(())
}

fn de_notifier_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a notifier name", |name| {
        check_dns_label("notifier name", name)?;
        if registry(|r| r.notifiers.insert(name.to_owned())) == Some(false) {
            return Err(format!("notifier '{name}' is defined twice"));
        }
        Ok(name.to_owned())
    })
}

fn de_notified_syncs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    for name in &names {
        let known = registry(|r| r.known_syncs.as_ref().map(|k| k.contains(name))).flatten();
        if known == Some(false) {
            return Err(de::Error::custom(format!(
                "syncs names sync '{name}', which is not defined"
            )));
        }
    }
    Ok(names)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ElectionFields {
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    lease_duration: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    renew_every: Option<Duration>,
}

pub(super) struct RawLeaderElection(LeaderElection);

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
pub(super) struct SourceFields {
    #[serde(deserialize_with = "de_source_name")]
    pub(super) name: String,
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

pub(super) struct RawSource(pub(super) SourceFields);

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
pub(super) struct AuthFields {
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

pub(super) struct RawAuth(Auth);

impl<'de> Deserialize<'de> for RawAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(d, "auth", AuthFields::kind).map(RawAuth)
    }
}

/// A sync as written, with the checks that see several of its fields (a helm sync has no
/// substitution), placed at the sync.
pub(super) struct RawSync(RawSyncFields);

impl<'de> Deserialize<'de> for RawSync {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_map(d, "a sync", |s: RawSyncFields| {
            if let Some(cycle) = registry(|r| r.in_cycles.get(&s.name).cloned()).flatten() {
                return Err(format!(
                    "sync '{}' depends on itself through dependsOn: {cycle}",
                    s.name
                ));
            }
            if s.health_check_exprs.is_some() {
                return Err(format!(
                    "sync '{}': healthCheckExprs (CEL) is not supported: a custom resource is healthy when its Ready (or else Available) condition is True, and one with neither once it exists; say which condition for a kind in healthCheckConditions ({{apiVersion, kind, current: {{type, status}}, failed: {{type, status}}}}), and list other objects to follow in healthChecks",
                    s.name
                ));
            }
            let substitutes = s.substitute.is_some() || !s.substitute_from.is_empty();
            if substitutes && s.helm.is_some() {
                return Err(format!(
                    "sync '{}': substitute and substituteFrom do not apply to a helm sync (as in Flux, a chart's output is never substituted)",
                    s.name
                ));
            }
            if s.decryption.is_some() && s.render == Render::KustomizeExternal {
                return Err(format!(
                    "sync '{}': decryption with render: kustomize-external would hand the plaintext to an external kustomize through files under /run; use the built-in kustomize (render: auto) to decrypt in memory",
                    s.name
                ));
            }
            if s.substitute_strict.is_some() && !substitutes {
                return Err(format!(
                    "sync '{}': substituteStrict without substitute or substituteFrom has nothing to do",
                    s.name
                ));
            }
            Ok(RawSync(s))
        })
    }
}

impl RawSync {
    pub(super) fn source(&self) -> &str {
        &self.0.source
    }

    pub(super) fn name(&self) -> &str {
        &self.0.name
    }

    pub(super) fn depends_on(&self) -> &[String] {
        &self.0.depends_on
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSyncFields {
    #[serde(deserialize_with = "de_sync_name")]
    name: String,
    #[serde(deserialize_with = "de_source_ref")]
    pub(super) source: String,
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
    #[serde(default, deserialize_with = "de_substitute")]
    substitute: Option<BTreeMap<String, String>>,
    #[serde(default)]
    substitute_from: Vec<SubstituteReference>,
    #[serde(default)]
    substitute_strict: Option<bool>,
    #[serde(default, deserialize_with = "de_depends_on")]
    depends_on: Vec<String>,
    #[serde(default)]
    health_checks: Vec<HealthCheck>,
    #[serde(default)]
    health_check_conditions: Vec<ConditionRule>,
    #[serde(default)]
    health_check_exprs: Option<de::IgnoredAny>,
    #[serde(default, deserialize_with = "de_history_limit")]
    history_limit: Option<usize>,
    decryption: Option<RawDecryption>,
}

/// At most 100 entries: the history is one ConfigMap, read and written whole.
fn de_history_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let limit = usize::deserialize(d)?;
    if limit > 100 {
        return Err(de::Error::custom(format!(
            "historyLimit {limit} is more than 100"
        )));
    }
    Ok(Some(limit))
}

fn de_depends_on<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of sync names")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                let known =
                    registry(|r| r.known_syncs.as_ref().map(|k| k.contains(&name))).flatten();
                if known == Some(false) {
                    return Err(de::Error::custom(format!(
                        "dependsOn names sync '{name}', which is not defined"
                    )));
                }
                if names.contains(&name) {
                    return Err(de::Error::custom(format!(
                        "dependsOn names sync '{name}' twice"
                    )));
                }
                names.push(name);
            }
            Ok(names)
        }
    }
    d.deserialize_seq(Names)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawHelm {
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

pub(super) fn de_opt_release_name<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
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

pub(super) fn de_values<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Object(_) => Ok(Some(v)),
        serde_json::Value::Null => Ok(None),
        _ => Err(de::Error::custom("values must be a map of chart values")),
    }
}

pub(super) fn de_repo_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
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
    pub(super) fn into_settings(self) -> Settings {
        let sources_of: BTreeMap<String, String> = self
            .syncs
            .iter()
            .map(|s| (s.0.name.clone(), s.0.source.clone()))
            .collect();
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
            listen_auth: self.listen_auth.map(|a| a.0),
            listen_public: self.listen_public,
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
                .map(|RawSync(mut s)| {
                    let helm = s.helm.take().map(|h| h.into_helm(&s.name));
                    (s, helm)
                })
                .map(|(mut s, helm)| {
                    let depends_on = std::mem::take(&mut s.depends_on)
                        .into_iter()
                        .map(|name| Dependency {
                            same_source: sources_of.get(&name) == Some(&s.source),
                            name,
                        })
                        .collect();
                    (s, helm, depends_on)
                })
                .map(|(s, helm, depends_on)| Sync {
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
                    depends_on,
                    health_checks: s.health_checks,
                    health_check_conditions: s.health_check_conditions,
                    history_limit: s.history_limit.unwrap_or(crate::history::DEFAULT_LIMIT),
                    // The default never reaches a kustomize-external sync: its files
                    // would be decrypted under /run.
                    decryption: match (s.decryption, s.render) {
                        (Some(RawDecryption(d)), _) => Some(d),
                        (None, Render::KustomizeExternal) => None,
                        (None, _) => self.decryption.as_ref().map(|d| d.0.clone()),
                    },
                    substitution: (s.substitute.is_some() || !s.substitute_from.is_empty()).then(
                        || Substitution {
                            vars: s.substitute.unwrap_or_default(),
                            from: s.substitute_from,
                            strict: s.substitute_strict.unwrap_or(true),
                        },
                    ),
                })
                .collect(),
            notify: self.notify.into_iter().map(|n| n.0).collect(),
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

pub(super) fn git_ref_from(mut found: Vec<(String, String)>) -> Result<GitRef, String> {
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
pub(super) fn scalar<'de, D, T>(
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
pub(super) fn checked_map<'de, D, T, U>(
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

pub(super) fn de_source_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a source name", |name| {
        check_dns_label("source name", name)?;
        if registry(|r| r.sources.insert(name.to_owned())) == Some(false) {
            return Err(format!("duplicate source name '{name}'"));
        }
        Ok(name.to_owned())
    })
}

pub(super) fn de_sync_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a sync name", |name| {
        check_dns_label("sync name", name)?;
        if registry(|r| r.syncs.insert(name.to_owned())) == Some(false) {
            return Err(format!("duplicate sync name '{name}'"));
        }
        if let Some(base) = name.strip_suffix("-history") {
            if registry(|r| r.known_syncs.as_ref().map(|k| k.contains(base))).flatten()
                == Some(true)
            {
                return Err(format!(
                    "sync name '{name}': its status ConfigMap would be the name of sync '{base}''s history ({}); rename one",
                    crate::history::history_name(base)
                ));
            }
        }
        Ok(name.to_owned())
    })
}

pub(super) fn de_source_ref<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
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
