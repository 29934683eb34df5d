//! kubeconfig: which file, which context, and the connection settings in it.
//!
//! [`from_yaml`] is pure; [`locate`] applies the search order
//! (config key, `$KUBECONFIG`, in-cluster service account, `~/.kube/config`,
//! k3s's file) and reports every place it looked when none works.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

/// Secret text (a token or a private key) that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps secret text.
    pub fn new(text: String) -> Secret {
        Secret(text)
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How requests prove who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials (anonymous, or a client certificate only).
    None,
    /// A bearer token given inline.
    Token(Secret),
    /// A bearer token read from a file, re-read as it rotates.
    TokenFile(PathBuf),
}

/// Everything needed to connect to one API server, resolved from a kubeconfig.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Where these settings came from, for messages.
    pub origin: String,
    /// The API server's base URL, without a trailing slash.
    pub server: String,
    /// PEM of the CA bundle that signs the server's certificate; `None` uses the public roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Where the CA came from ("certificate-authority-data" or a path), for messages.
    pub ca_origin: Option<String>,
    /// Client certificate chain and key, PEM.
    pub client_cert: Option<(Vec<u8>, Secret)>,
    /// Bearer token source.
    pub credentials: Credentials,
    /// Skip verifying the server's certificate (honoured with a warning).
    pub insecure: bool,
}

/// Why no connection settings could be found or used.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// A kubeconfig file could not be read.
    #[error("failed to read kubeconfig '{path}': {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig is not valid YAML or lacks what it needs.
    #[error("kubeconfig '{origin}': {message}")]
    Invalid { origin: String, message: String },
    /// Nothing in the search order worked.
    #[error("no kubeconfig found; looked at:\n{}", tried.iter().map(|t| format!("  - {t}")).collect::<Vec<_>>().join("\n"))]
    NotFound { tried: Vec<String> },
}

#[derive(Deserialize)]
struct RawKubeconfig {
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Vec<Named<RawCluster>>,
    #[serde(default)]
    users: Vec<Named<RawUser>>,
    #[serde(default)]
    contexts: Vec<Named<RawContext>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: Option<T>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawCluster {
    server: Option<String>,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawUser {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    exec: Option<serde_yaml_ng::Value>,
    auth_provider: Option<serde_yaml_ng::Value>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct RawContext {
    cluster: String,
    user: Option<String>,
}

/// Parses kubeconfig text. `dir` resolves relative file paths, as kubectl does.
pub fn from_yaml(
    text: &str,
    origin: &str,
    dir: &Path,
    context: Option<&str>,
) -> Result<Connection, KubeconfigError> {
    let invalid = |message: String| KubeconfigError::Invalid {
        origin: origin.to_owned(),
        message,
    };
    let raw: RawKubeconfig =
        serde_yaml_ng::from_str(text).map_err(|e| invalid(format!("not a kubeconfig: {e}")))?;
    let context_name = match context {
        Some(c) => c.to_owned(),
        None => raw
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| invalid("no current-context is set and no context was given".into()))?,
    };
    let ctx = raw
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.value.as_ref())
        .ok_or_else(|| {
            let names: Vec<_> = raw.contexts.iter().map(|c| c.name.as_str()).collect();
            invalid(format!(
                "context '{context_name}' not found (contexts: {})",
                names.join(", ")
            ))
        })?;
    let cluster = raw
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.value.as_ref())
        .ok_or_else(|| invalid(format!("cluster '{}' not found", ctx.cluster)))?;
    let default_user = RawUser::default();
    let user = match &ctx.user {
        Some(name) if !name.is_empty() => raw
            .users
            .iter()
            .find(|u| &u.name == name)
            .and_then(|u| u.value.as_ref())
            .ok_or_else(|| invalid(format!("user '{name}' not found")))?,
        _ => &default_user,
    };
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("cluster '{}' has no server", ctx.cluster)))?
        .trim_end_matches('/')
        .to_owned();

    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_owned()
        } else {
            dir.join(p)
        }
    };
    let read = |p: &Path, what: &str| {
        let p = resolve(p);
        std::fs::read(&p)
            .map_err(|e| invalid(format!("failed to read {what} '{}': {e}", p.display())))
    };
    let decode = |data: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| invalid(format!("{what} is not valid base64: {e}")))
    };

    let (ca_pem, ca_origin) = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => (
            Some(decode(data, "certificate-authority-data")?),
            Some(format!(
                "certificate-authority-data of cluster '{}'",
                ctx.cluster
            )),
        ),
        (None, Some(path)) => (
            Some(read(path, "certificate-authority")?),
            Some(resolve(path).display().to_string()),
        ),
        (None, None) => (None, None),
    };

    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(invalid(format!(
            "user '{}' uses an exec or auth-provider plugin, which plumb does not run: give it a token, tokenFile or client certificate",
            ctx.user.as_deref().unwrap_or_default()
        )));
    }
    if user.username.is_some() {
        return Err(invalid(
            "basic auth (username/password) is not supported by Kubernetes since 1.19: use a token or client certificate".into(),
        ));
    }
    let cert = match (&user.client_certificate_data, &user.client_certificate) {
        (Some(d), _) => Some(decode(d, "client-certificate-data")?),
        (None, Some(p)) => Some(read(p, "client-certificate")?),
        _ => None,
    };
    let key = match (&user.client_key_data, &user.client_key) {
        (Some(d), _) => Some(decode(d, "client-key-data")?),
        (None, Some(p)) => Some(read(p, "client-key")?),
        _ => None,
    };
    let client_cert = match (cert, key) {
        (Some(c), Some(k)) => Some((
            c,
            Secret(String::from_utf8(k).map_err(|_| invalid("client key is not PEM text".into()))?),
        )),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "a client certificate needs both the certificate and its key".into(),
            ))
        }
    };
    let credentials = match (&user.token, &user.token_file) {
        (Some(t), _) if !t.is_empty() => Credentials::Token(Secret(t.trim().to_owned())),
        (_, Some(p)) => Credentials::TokenFile(resolve(p)),
        _ => Credentials::None,
    };
    Ok(Connection {
        origin: origin.to_owned(),
        server,
        ca_pem,
        ca_origin,
        client_cert,
        credentials,
        insecure: cluster.insecure_skip_tls_verify,
    })
}

/// Reads a kubeconfig file and resolves `context` (or its current-context).
pub fn read(path: &Path, context: Option<&str>) -> Result<Connection, KubeconfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| KubeconfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    from_yaml(&text, &path.display().to_string(), dir, context)
}

const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const K3S_KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";

/// The in-cluster service account, when running in a pod.
fn in_cluster(host: &str, port: &str) -> Result<Connection, String> {
    let dir = Path::new(SERVICE_ACCOUNT_DIR);
    let token = dir.join("token");
    if !token.exists() {
        return Err(format!("{} does not exist", token.display()));
    }
    let ca =
        std::fs::read(dir.join("ca.crt")).map_err(|e| format!("{}/ca.crt: {e}", dir.display()))?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok(Connection {
        origin: "in-cluster service account".into(),
        server: format!("https://{host}:{port}"),
        ca_pem: Some(ca),
        ca_origin: Some(format!("{}/ca.crt", dir.display())),
        client_cert: None,
        credentials: Credentials::TokenFile(token),
        insecure: false,
    })
}

/// Finds the connection settings by the documented search order.
///
/// An explicit path (`kubeconfig` in plumb.yaml) that fails is an error on its
/// own; otherwise each candidate is tried and every failure is reported.
pub fn locate(
    explicit: Option<&Path>,
    context: Option<&str>,
) -> Result<Connection, KubeconfigError> {
    if let Some(path) = explicit {
        return read(path, context);
    }
    let mut tried = Vec::new();
    if let Some(env) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        // Like kubectl, the first file of a list that exists; we don't merge.
        for path in std::env::split_paths(&env) {
            if path.exists() {
                return read(&path, context);
            }
            tried.push(format!("$KUBECONFIG: {} does not exist", path.display()));
        }
    } else {
        tried.push("$KUBECONFIG: not set".into());
    }
    match (
        std::env::var("KUBERNETES_SERVICE_HOST"),
        std::env::var("KUBERNETES_SERVICE_PORT"),
    ) {
        (Ok(host), Ok(port)) => match in_cluster(&host, &port) {
            Ok(c) => return Ok(c),
            Err(e) => tried.push(format!("in-cluster: {e}")),
        },
        _ => tried.push("in-cluster: KUBERNETES_SERVICE_HOST is not set".into()),
    }
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".kube/config"));
    }
    candidates.push(PathBuf::from(K3S_KUBECONFIG));
    for path in candidates {
        match std::fs::metadata(&path) {
            Ok(_) => return read(&path, context),
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    Err(KubeconfigError::NotFound { tried })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KC: &str = "\
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c1
  cluster: {server: 'https://127.0.0.1:6443/', certificate-authority: ca.pem}
- name: c2
  cluster: {server: 'https://10.0.0.1:6443', insecure-skip-tls-verify: true}
users:
- name: u1
  user: {token: abc}
- name: u2
  user: {tokenFile: tok}
- name: u3
  user: {exec: {command: aws}}
contexts:
- name: a
  context: {cluster: c1, user: u1}
- name: b
  context: {cluster: c2, user: u2}
- name: x
  context: {cluster: c2, user: u3}
";

    #[test]
    fn current_context_and_relative_paths() {
        let dir = std::env::temp_dir().join(format!("plumb-kc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), b"PEM").unwrap();
        let c = from_yaml(KC, "kc", &dir, None).unwrap();
        assert_eq!(c.server, "https://127.0.0.1:6443");
        assert_eq!(c.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(c.credentials, Credentials::Token(Secret("abc".into())));
        let c = from_yaml(KC, "kc", &dir, Some("b")).unwrap();
        assert!(c.insecure);
        assert_eq!(c.credentials, Credentials::TokenFile(dir.join("tok")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clear_errors() {
        let dir = Path::new("/nonexistent");
        let err = from_yaml(KC, "kc", dir, Some("zz"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("context 'zz' not found") && err.contains("a, b, x"),
            "{err}"
        );
        let err = from_yaml(KC, "kc", dir, Some("x")).unwrap_err().to_string();
        assert!(err.contains("exec"), "{err}");
        let err = from_yaml(KC, "kc", dir, None).unwrap_err().to_string();
        assert!(err.contains("ca.pem"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        let c = Credentials::Token(s);
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
