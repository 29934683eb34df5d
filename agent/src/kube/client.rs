//! Our Kubernetes client: blocking HTTP over ureq + rustls (ring), with the
//! handful of calls plumb needs, typed errors, and bounded retries.
//!
//! ureq is blocking; under tokio these calls run on blocking threads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;
use ureq::http;
use ureq::tls::{ClientCert, PrivateKey, RootCerts, TlsConfig};
use ureq::unversioned::transport::DefaultConnector;

use super::discovery::{self, ApiResource};
use super::error::{from_status, Action, Error};
use super::kubeconfig::{Connection, Credentials, Secret};
pub use super::wire::encode_query;
pub(crate) use super::wire::percent_encode;
use super::wire::{decode, IpFirst, WithoutManagedFields};

/// The field manager plumb applies as.
pub const FIELD_MANAGER: &str = "plumb";

/// How many list items to ask for per page.
const PAGE_SIZE: usize = 500;

/// The largest request body kube-apiserver accepts.
const MAX_REQUEST_BYTES: u64 = 3 * 1024 * 1024;

/// Largest response body accepted (a page of 500 big objects fits easily).
const MAX_BODY: u64 = 64 << 20;

/// Size of each of a connection's read and write buffers, and the largest
/// response header accepted (which must fit the read buffer). ureq's default,
/// 128 KiB, is allocated and zeroed four times per TLS connection (in and out,
/// for the TLS and the TCP layer): 0.5 MiB a connection, most of a first
/// apply's heap beside the objects. API server headers are a few hundred bytes.
const BUFFER: usize = 16 << 10;

/// How transient failures (connection errors, 429, 5xx) are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// First backoff; doubles each time, with full jitter.
    pub base: Duration,
    /// Largest single backoff.
    pub cap: Duration,
    /// No new try starts after this much time since the first.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
            budget: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1` (attempt counts from 1): full jitter
    /// over an exponential ceiling, or the server's Retry-After when it said one.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.cap);
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        ceiling.mul_f64(random.clamp(0.0, 1.0))
    }
}

/// Options for a server-side apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Take ownership of fields other managers own (Git wins).
    pub force: bool,
    /// Validate and compute the result without persisting it.
    pub dry_run: bool,
}

/// One API server connection, shared by every stage.
pub struct Client {
    agent: ureq::Agent,
    server: String,
    origin: String,
    credentials: Credentials,
    file_token: Mutex<Option<(Instant, Secret)>>,
    retry: RetryPolicy,
    served: Mutex<Option<Arc<discovery::Served>>>,
    write_gate: Option<Arc<dyn WriteGate>>,
    observer: Option<Arc<dyn RequestObserver>>,
}

/// Whether this node may write now: the client asks before each attempt of every write but
/// the Lease's (the leader lease is one).
pub trait WriteGate: Send + Sync {
    /// True while writes may go out.
    fn is_open(&self) -> bool;
}

/// Sees every request the client makes, by verb and status code (metrics are one).
pub trait RequestObserver: Send + Sync {
    /// One request ended: with a status code, or none when the server was not reached.
    fn api_request(&self, verb: &str, code: Option<u16>);
}

/// A response whose status is already known to be a success.
struct Reply {
    body: Vec<u8>,
}

impl Client {
    /// Builds a client from resolved kubeconfig settings.
    pub fn new(conn: &Connection, user_agent: &str) -> Result<Client, Error> {
        let setup = |cause: String| Error::Tls {
            action: Box::new(Action {
                verb: "connect to",
                resource: "the API server".into(),
                namespace: None,
                name: None,
            }),
            server: conn.server.clone(),
            cause,
        };
        let mut tls = TlsConfig::builder();
        if let Some(pem) = &conn.ca_pem {
            let certs = crate::tls::parse_certs(pem).map_err(|e| {
                setup(format!(
                    "CA {} is not a PEM certificate: {e}",
                    conn.ca_origin.as_deref().unwrap_or("bundle")
                ))
            })?;
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let Some((cert_pem, key_pem)) = &conn.client_cert {
            let certs = crate::tls::parse_certs(cert_pem)
                .map_err(|e| setup(format!("client certificate is not PEM: {e}")))?;
            // ureq panics on a certificate rustls cannot use (an X.509 v1
            // certificate, say); check it first so the user gets a message.
            let der = rustls::pki_types::CertificateDer::from(certs[0].der());
            webpki::EndEntityCert::try_from(&der).map_err(|e| {
                setup(format!(
                    "client certificate cannot be used: {e:?} (X.509 v3 is required)"
                ))
            })?;
            let key = PrivateKey::from_pem(key_pem.expose().as_bytes()).map_err(|_| {
                setup("client key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)".into())
            })?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&certs, key)));
        }
        if conn.insecure {
            tracing::warn!(server = %conn.server, "insecure-skip-tls-verify is set: the API server's certificate is not verified");
            tls = tls.disable_verification(true);
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .user_agent(user_agent)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections_per_host(8)
            .input_buffer_size(BUFFER)
            .output_buffer_size(BUFFER)
            .max_response_header_size(BUFFER)
            .build();
        let agent =
            ureq::Agent::with_parts(config, DefaultConnector::default(), IpFirst::default());
        Ok(Client {
            agent,
            server: conn.server.clone(),
            origin: conn.origin.clone(),
            credentials: conn.credentials.clone(),
            file_token: Mutex::new(None),
            retry: RetryPolicy::default(),
            served: Mutex::new(None),
            write_gate: None,
            observer: None,
        })
    }

    /// The API server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Refuses every write but the Lease's while `gate` is closed: a leader
    /// that could not renew in time stops writing at once.
    pub fn with_write_gate(mut self, gate: Arc<dyn WriteGate>) -> Client {
        self.write_gate = Some(gate);
        self
    }

    /// Shows every request to `observer`, by verb and status code.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Client {
        self.observer = Some(observer);
        self
    }

    /// Replaces the retry policy (tests use a short one).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Client {
        self.retry = retry;
        self
    }

    fn bearer(&self) -> Result<Option<String>, String> {
        match &self.credentials {
            Credentials::None => Ok(None),
            Credentials::Token(t) => Ok(Some(t.expose().to_owned())),
            Credentials::TokenFile(path) => {
                // Projected service-account tokens rotate; re-read once a minute.
                let mut cached = self.file_token.lock().unwrap();
                if let Some((at, token)) = cached.as_ref() {
                    if at.elapsed() < Duration::from_secs(60) {
                        return Ok(Some(token.expose().to_owned()));
                    }
                }
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("failed to read tokenFile '{}': {e}", path.display()))?;
                let token = text.trim().to_owned();
                *cached = Some((Instant::now(), Secret::new(token.clone())));
                Ok(Some(token))
            }
        }
    }

    /// Sends one request, retrying transient failures, and maps errors.
    fn send(
        &self,
        action: &Action,
        method: http::Method,
        path_and_query: &str,
        body: Option<(&str, &[u8])>,
        accept: &str,
    ) -> Result<Reply, Error> {
        let gated = self
            .write_gate
            .as_ref()
            .filter(|_| method != http::Method::GET && !action.resource.starts_with("leases."));
        if let Some((_, bytes)) = body.filter(|(_, b)| b.len() as u64 > MAX_REQUEST_BYTES) {
            // The server would close the connection mid-upload (a broken
            // pipe, retried): say what it is instead, and send nothing.
            return Err(Error::Request {
                action: Box::new(action.clone()),
                cause: format!(
                    "the request body is {} bytes; the API server takes at most {MAX_REQUEST_BYTES} (3 MiB)",
                    bytes.len()
                ),
            });
        }
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            // Before each attempt: a retry must not land after leadership ended.
            if gated.is_some_and(|gate| !gate.is_open()) {
                return Err(Error::NotLeader {
                    action: Box::new(action.clone()),
                });
            }
            attempt += 1;
            let (error, retry_after) =
                match self.send_once(action, method.clone(), path_and_query, body, accept) {
                    Ok(Outcome::Done(reply)) => return Ok(reply),
                    Ok(Outcome::Transient { error, retry_after }) => (error, retry_after),
                    Err(error @ Error::Connect { .. }) => (error, None),
                    Err(error) => return Err(error),
                };
            let wait = self.retry.backoff(attempt, retry_after, fastrand::f64());
            if attempt >= self.retry.attempts || started.elapsed() + wait > self.retry.budget {
                return Err(error);
            }
            // Not the server's words: they may echo a Secret's value, and
            // only the final error is redacted by the stage that knows the object.
            tracing::debug!(%action, attempt, ?wait, "retrying API request after a transient failure");
            std::thread::sleep(wait);
        }
    }

    fn send_once(
        &self,
        action: &Action,
        method: http::Method,
        path_and_query: &str,
        body: Option<(&str, &[u8])>,
        accept: &str,
    ) -> Result<Outcome, Error> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.server, path_and_query))
            .header("Accept", accept);
        if let Some(token) = self.bearer().map_err(|cause| Error::Credentials {
            action: Box::new(action.clone()),
            cause,
        })? {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let unbuildable = |e: http::Error| Error::Request {
            action: Box::new(action.clone()),
            cause: e.to_string(),
        };
        let result = match body {
            Some((content_type, bytes)) => self.agent.run(
                request
                    .header("Content-Type", content_type)
                    .body(bytes)
                    .map_err(unbuildable)?,
            ),
            None => self.agent.run(request.body(()).map_err(unbuildable)?),
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                if let Some(m) = &self.observer {
                    m.api_request(action.verb, None);
                }
                return Err(self.transport_error(action, e));
            }
        };
        let status = response.status().as_u16();
        if let Some(m) = &self.observer {
            m.api_request(action.verb, Some(status));
        }
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| self.transport_error(action, e))?;
        if (200..300).contains(&status) {
            return Ok(Outcome::Done(Reply { body: bytes }));
        }
        let error = from_status(action.clone(), status, &bytes, &self.server, &self.origin);
        if status == 429 || (500..600).contains(&status) && status != 501 {
            Ok(Outcome::Transient { error, retry_after })
        } else {
            Err(error)
        }
    }

    fn transport_error(&self, action: &Action, err: ureq::Error) -> Error {
        let server = self.server.clone();
        let action = Box::new(action.clone());
        match err {
            e if crate::tls::rustls_error(&e).is_some() => Error::Tls {
                action,
                server,
                cause: crate::tls::describe(
                    crate::tls::rustls_error(&e).expect("checked"),
                    &self.ca_hint(),
                ),
            },
            ureq::Error::Tls(e) => Error::Tls {
                action,
                server,
                cause: e.to_string(),
            },
            ureq::Error::HostNotFound => Error::Connect {
                action,
                server,
                cause: "host name not found".into(),
            },
            ureq::Error::Timeout(t) => Error::Connect {
                action,
                server,
                cause: format!("timed out ({t})"),
            },
            other => Error::Connect {
                action,
                server,
                cause: other.to_string(),
            },
        }
    }

    fn ca_hint(&self) -> String {
        format!("the CA in {}", self.origin)
    }

    fn get_json<T: DeserializeOwned>(&self, action: &Action, path: &str) -> Result<T, Error> {
        let reply = self.send(action, http::Method::GET, path, None, "application/json")?;
        decode(action, &reply.body)
    }

    /// The server's version, as `/version` reports it.
    pub fn version(&self) -> Result<ServerVersion, Error> {
        let action = Action {
            verb: "get",
            resource: "version".into(),
            namespace: None,
            name: None,
        };
        self.get_json(&action, "/version")
    }

    /// What the server serves, from the cache or else from aggregated discovery.
    fn served(&self) -> Result<Arc<discovery::Served>, Error> {
        if let Some(served) = self.served.lock().unwrap().clone() {
            return Ok(served);
        }
        self.discover()
    }

    /// Fetches aggregated discovery (two requests: `/api` and `/apis`) and caches it.
    fn discover(&self) -> Result<Arc<discovery::Served>, Error> {
        let mut served = discovery::Served::default();
        for path in ["/api", "/apis"] {
            let action = Action {
                verb: "get",
                resource: format!("discovery ({path})"),
                namespace: None,
                name: None,
            };
            let reply = self.send(
                &action,
                http::Method::GET,
                path,
                None,
                discovery::AGGREGATED_ACCEPT,
            )?;
            let list: discovery::DiscoveryList = decode(&action, &reply.body)?;
            served.add(list).map_err(|cause| Error::Decode {
                action: Box::new(action.clone()),
                cause,
            })?;
        }
        let served = Arc::new(served);
        *self.served.lock().unwrap() = Some(served.clone());
        Ok(served)
    }

    /// Resolves apiVersion + kind to a resource, from the discovery cache.
    /// A miss fetches discovery again once, so a CRD created a moment ago is found.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Result<ApiResource, Error> {
        let cached = self.served()?;
        if let Some(r) = cached
            .by_version
            .get(api_version)
            .and_then(|list| discovery::find(list, kind))
        {
            return Ok(r.clone());
        }
        let fresh = self.discover()?;
        let list = fresh
            .by_version
            .get(api_version)
            .cloned()
            .unwrap_or_default();
        discovery::find(&list, kind)
            .cloned()
            .ok_or_else(|| Error::UnknownKind {
                api_version: api_version.into(),
                kind: kind.into(),
                hint: discovery::hint(&list, kind),
            })
    }

    /// Resolves a group and kind (no version, as inventories keep them) via
    /// the group's preferred version.
    pub fn resolve_group_kind(&self, group: &str, kind: &str) -> Result<ApiResource, Error> {
        if group.is_empty() {
            return self.resolve("v1", kind);
        }
        let preferred =
            |served: &discovery::Served| served.preferred_version(group).map(str::to_owned);
        let gv = match preferred(&*self.served()?) {
            Some(gv) => Some(gv),
            None => preferred(&*self.discover()?),
        };
        match gv {
            Some(gv) => self.resolve(&gv, kind),
            None => Err(Error::UnknownKind {
                api_version: group.into(),
                kind: kind.into(),
                hint: ": that API group is not served (is its CRD installed?)".into(),
            }),
        }
    }

    /// What Helm's `.Capabilities.APIVersions` holds for this server: every served
    /// group/version, and group/version/Kind for each of its kinds (Helm's `GetVersionSet`).
    pub fn api_versions(&self) -> Result<Vec<String>, Error> {
        let served = self.served()?;
        let mut out = Vec::new();
        let mut versions: Vec<&String> = served.by_version.keys().collect();
        versions.sort();
        for gv in versions {
            out.push(gv.clone());
            for r in served.by_version[gv].iter() {
                let entry = format!("{gv}/{}", r.kind);
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }

    /// Every namespaced resource the server serves that can be listed, at
    /// its group's preferred version (fresh discovery).
    pub fn namespaced_resources(&self) -> Result<Vec<ApiResource>, Error> {
        Ok(self.discover()?.namespaced_resources())
    }

    /// Gets one object; `None` when it does not exist.
    pub fn get(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        let action = resource.action("get", namespace, Some(name));
        match self.get_json(&action, &resource.path(namespace, Some(name))) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists objects (all namespaces when `namespace` is `None`), page by page.
    pub fn list(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        self.list_as(resource, namespace, label_selector, "application/json")
    }

    /// Lists only the objects' metadata (PartialObjectMetadataList), and
    /// that without `metadata.managedFields`: cheaper for drift checks.
    pub fn list_metadata(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        let items: Vec<WithoutManagedFields> = self.list_as(
            resource,
            namespace,
            label_selector,
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        )?;
        Ok(items.into_iter().map(|item| item.0).collect())
    }

    fn list_as<T: DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        accept: &str,
    ) -> Result<Vec<T>, Error> {
        #[derive(serde::Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Page<T> {
            // An empty metadata-only list comes as `"items": null`.
            #[serde(default)]
            items: Option<Vec<T>>,
            #[serde(default)]
            metadata: PageMeta,
        }
        #[derive(serde::Deserialize, Default)]
        struct PageMeta {
            #[serde(rename = "continue", default)]
            next: Option<String>,
        }
        let action = resource.action("list", namespace, None);
        let base = resource.path(namespace, None);
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut query = vec![("limit", PAGE_SIZE.to_string())];
            if let Some(sel) = label_selector {
                query.push(("labelSelector", sel.to_owned()));
            }
            if let Some(token) = &next {
                query.push(("continue", token.clone()));
            }
            let path = format!("{base}?{}", encode_query(&query));
            let reply = self.send(&action, http::Method::GET, &path, None, accept)?;
            let page: Page<T> = decode(&action, &reply.body)?;
            items.extend(page.items.unwrap_or_default());
            match page.metadata.next.filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token),
                None => return Ok(items),
            }
        }
    }

    /// Server-side apply of one object (fieldManager `plumb`); returns the object as the server has it.
    pub fn apply(
        &self,
        resource: &ApiResource,
        object: &Value,
        options: ApplyOptions,
    ) -> Result<Value, Error> {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = resource
            .namespaced
            .then(|| object["metadata"]["namespace"].as_str())
            .flatten();
        let action = resource.action("patch", namespace, Some(name));
        // Strict: a field the schema doesn't declare (`replica:`, `contianers:`)
        // is an error naming it, not silently dropped.
        let mut query = vec![
            ("fieldManager", FIELD_MANAGER.to_owned()),
            ("fieldValidation", "Strict".to_owned()),
        ];
        if options.force {
            query.push(("force", "true".into()));
        }
        if options.dry_run {
            query.push(("dryRun", "All".into()));
        }
        let path = format!(
            "{}?{}",
            resource.path(namespace, Some(name)),
            encode_query(&query)
        );
        let body = serde_json::to_vec(object).expect("JSON values serialize");
        let reply = self.send(
            &action,
            http::Method::PATCH,
            &path,
            Some(("application/apply-patch+yaml", &body)),
            "application/json",
        )?;
        decode(&action, &reply.body)
    }

    /// JSON merge patch of one object (used to hand client-side-applied fields over to plumb).
    pub fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, Error> {
        let action = resource.action("patch", namespace, Some(name));
        let body = serde_json::to_vec(patch).expect("JSON values serialize");
        let reply = self.send(
            &action,
            http::Method::PATCH,
            &resource.path(namespace, Some(name)),
            Some(("application/merge-patch+json", &body)),
            "application/json",
        )?;
        decode(&action, &reply.body)
    }

    /// Deletes one object with the given propagation policy; `false` when it was already gone.
    pub fn delete(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        propagation: Propagation,
    ) -> Result<bool, Error> {
        let action = resource.action("delete", namespace, Some(name));
        let path = format!(
            "{}?propagationPolicy={}",
            resource.path(namespace, Some(name)),
            propagation.as_str()
        );
        match self.send(
            &action,
            http::Method::DELETE,
            &path,
            None,
            "application/json",
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates an object with POST (Events, Leases, reviews); returns what the server stored.
    pub fn create<T: serde::Serialize + DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        object: &T,
    ) -> Result<T, Error> {
        let action = resource.action("create", namespace, None);
        let body = serde_json::to_vec(object).map_err(|e| Error::Decode {
            action: Box::new(action.clone()),
            cause: e.to_string(),
        })?;
        let reply = self.send(
            &action,
            http::Method::POST,
            &resource.path(namespace, None),
            Some(("application/json", &body)),
            "application/json",
        )?;
        decode(&action, &reply.body)
    }

    /// Replaces an object with PUT (Leases); a stale resourceVersion is a 409.
    pub fn update<T: serde::Serialize + DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        object: &T,
    ) -> Result<T, Error> {
        let action = resource.action("update", namespace, Some(name));
        let body = serde_json::to_vec(object).map_err(|e| Error::Decode {
            action: Box::new(action.clone()),
            cause: e.to_string(),
        })?;
        let reply = self.send(
            &action,
            http::Method::PUT,
            &resource.path(namespace, Some(name)),
            Some(("application/json", &body)),
            "application/json",
        )?;
        decode(&action, &reply.body)
    }

    /// Gets a typed object; `None` when it does not exist.
    pub fn get_typed<T: DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<T>, Error> {
        let action = resource.action("get", namespace, Some(name));
        match self.get_json(&action, &resource.path(namespace, Some(name))) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Asks the server whether this identity may do `verb` on a resource (SelfSubjectAccessReview).
    pub fn may(&self, question: &AccessQuestion) -> Result<AccessAnswer, Error> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(question.verb.into()),
                    group: Some(question.group.clone()),
                    resource: Some(question.resource.clone()),
                    namespace: question.namespace.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let resource = ApiResource::self_subject_access_review();
        let answer = self.create(&resource, None, &review)?;
        let status = answer.status.unwrap_or_default();
        Ok(AccessAnswer {
            allowed: status.allowed,
            reason: status.reason.unwrap_or_default(),
        })
    }
}

enum Outcome {
    Done(Reply),
    Transient {
        error: Error,
        retry_after: Option<Duration>,
    },
}

/// How a delete reaches the object's dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete now; the garbage collector removes dependents afterwards.
    Background,
    /// Dependents first, then the object.
    Foreground,
    /// Leave dependents behind.
    Orphan,
}

impl Propagation {
    fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// A question for [`Client::may`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessQuestion {
    /// Kubernetes verb.
    pub verb: &'static str,
    /// API group, "" for the core group, "*" for all.
    pub group: String,
    /// Resource (plural), "*" for all.
    pub resource: String,
    /// Namespace; `None` asks cluster-wide.
    pub namespace: Option<String>,
}

/// The server's answer to an [`AccessQuestion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessAnswer {
    /// Whether the verb is allowed.
    pub allowed: bool,
    /// The authorizer's reason, often empty.
    pub reason: String,
}

/// `/version` of the API server.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    /// For example "v1.20.2".
    pub git_version: String,
    /// For example "linux/arm64".
    #[serde(default)]
    pub platform: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, None, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(3, None, 1.0), Duration::from_millis(800));
        assert_eq!(p.backoff(30, None, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(3, None, 0.5), Duration::from_millis(400));
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(2)), 0.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(600)), 0.0),
            Duration::from_secs(5)
        );
    }
}
