//! Errors from talking to the API server, each saying what a person can do about it.

use std::fmt;

/// What a request was about, for messages: the verb, the resource and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Kubernetes verb: get, list, create, patch, update, delete.
    pub verb: &'static str,
    /// Resource with its group, as kubectl prints it: "deployments.apps", "configmaps".
    pub resource: String,
    /// Namespace, for namespaced requests.
    pub namespace: Option<String>,
    /// Object name, when the request is about one object.
    pub name: Option<String>,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " '{name}'")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace '{ns}'")?;
        }
        Ok(())
    }
}

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached (refused, unresolvable, timed out).
    #[error("failed to {action}: cannot reach the API server at {server}: {cause}")]
    Connect {
        action: Box<Action>,
        server: String,
        cause: String,
    },
    /// The TLS handshake failed.
    #[error("failed to {action}: TLS with the API server at {server} failed: {cause}")]
    Tls {
        action: Box<Action>,
        server: String,
        cause: String,
    },
    /// A request that cannot be built (a path or header the HTTP layer refuses).
    #[error("failed to {action}: cannot build the request: {cause}")]
    Request { action: Box<Action>, cause: String },
    /// The credentials could not be read (a tokenFile that is missing).
    #[error("failed to {action}: {cause}")]
    Credentials { action: Box<Action>, cause: String },
    /// 401: the server did not accept who we say we are.
    #[error("failed to {action}: the API server at {server} rejected the credentials (401 Unauthorized): check the token or client certificate in {origin}")]
    Unauthorized {
        action: Box<Action>,
        server: String,
        origin: String,
    },
    /// 403: RBAC does not allow the verb on the resource.
    #[error("forbidden: not allowed to {action}: {message}")]
    Forbidden {
        action: Box<Action>,
        message: String,
    },
    /// 404: the object or the resource type does not exist.
    #[error("failed to {action}: not found: {message}")]
    NotFound {
        action: Box<Action>,
        message: String,
    },
    /// 409 from server-side apply: other field managers own fields we set.
    #[error("failed to {action}: conflict with field manager(s) {}: {message}", managers.join(", "))]
    ApplyConflict {
        action: Box<Action>,
        managers: Vec<String>,
        message: String,
    },
    /// 409 otherwise (already exists, stale resourceVersion).
    #[error("failed to {action}: conflict: {message}")]
    Conflict {
        action: Box<Action>,
        message: String,
    },
    /// 422: the object is invalid; one line per field error.
    #[error("failed to {action}: the server rejected the object as invalid:\n{}", causes.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        action: Box<Action>,
        causes: Vec<String>,
    },
    /// Any other error status.
    #[error("failed to {action}: {code} from the API server: {message}")]
    Status {
        action: Box<Action>,
        code: u16,
        message: String,
    },
    /// This node lost (or never held) the lease, so it may not write.
    #[error("refused to {action}: this node does not hold the leader lease, so it does not write")]
    NotLeader { action: Box<Action> },
    /// A response that is not what the API promises.
    #[error("failed to {action}: unexpected response from the API server: {cause}")]
    Decode { action: Box<Action>, cause: String },
    /// apiVersion/kind that the server does not serve.
    #[error("the API server does not serve kind '{kind}' in '{api_version}'{hint}")]
    UnknownKind {
        api_version: String,
        kind: String,
        hint: String,
    },
}

impl Error {
    /// True for 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// The parts of a `Status` body we use.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct StatusBody {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub details: Option<StatusDetails>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct StatusDetails {
    #[serde(default)]
    pub causes: Vec<StatusCause>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct StatusCause {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub field: String,
}

/// Turns an error status and its body into a typed error.
pub(crate) fn from_status(
    action: Action,
    code: u16,
    body: &[u8],
    server: &str,
    origin: &str,
) -> Error {
    let status: StatusBody = serde_json::from_slice(body).unwrap_or_else(|_| StatusBody {
        message: String::from_utf8_lossy(body)
            .trim()
            .chars()
            .take(500)
            .collect(),
        ..StatusBody::default()
    });
    let action = Box::new(action);
    let causes = status.details.map(|d| d.causes).unwrap_or_default();
    let message = status.message;
    match code {
        401 => Error::Unauthorized {
            action,
            server: server.to_owned(),
            origin: origin.to_owned(),
        },
        403 => Error::Forbidden { action, message },
        404 => Error::NotFound { action, message },
        409 if causes.iter().any(|c| c.reason == "FieldManagerConflict") => {
            let mut managers: Vec<String> = causes
                .iter()
                .filter(|c| c.reason == "FieldManagerConflict")
                .filter_map(|c| manager_of(&c.message))
                .collect();
            managers.sort();
            managers.dedup();
            Error::ApplyConflict {
                action,
                managers,
                message,
            }
        }
        409 => Error::Conflict { action, message },
        422 if !causes.is_empty() => Error::Invalid {
            action,
            causes: causes
                .iter()
                .map(|c| {
                    if c.field.is_empty() || c.message.contains(&c.field) {
                        c.message.clone()
                    } else {
                        format!("{}: {}", c.field, c.message)
                    }
                })
                .collect(),
        },
        422 => Error::Invalid {
            action,
            causes: vec![message],
        },
        _ => Error::Status {
            action,
            code,
            message: if message.is_empty() {
                status.reason
            } else {
                message
            },
        },
    }
}

/// `conflict with "kubectl-edit" using v1` → `kubectl-edit`.
fn manager_of(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    Some(message[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> Action {
        Action {
            verb: "patch",
            resource: "configmaps".into(),
            namespace: Some("default".into()),
            name: Some("x".into()),
        }
    }

    #[test]
    fn apply_conflict_names_managers() {
        let body = br#"{"kind":"Status","message":"Apply failed with 2 conflicts: conflict with \"kubectl-edit\" using v1: .data.a","reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"kubectl-edit\" using v1","field":".data.a"},{"reason":"FieldManagerConflict","message":"conflict with \"helm\" using v1","field":".data.b"}]},"code":409}"#;
        let err = from_status(action(), 409, body, "s", "o");
        match &err {
            Error::ApplyConflict { managers, .. } => {
                assert_eq!(managers, &["helm", "kubectl-edit"])
            }
            e => panic!("{e:?}"),
        }
        assert!(err.to_string().contains("helm, kubectl-edit"));
    }

    #[test]
    fn invalid_lists_field_errors() {
        let body = br#"{"kind":"Status","message":"x","details":{"causes":[{"reason":"FieldValueInvalid","message":"Invalid value: -1: must be >= 0","field":"spec.replicas"}]},"code":422}"#;
        let text = from_status(action(), 422, body, "s", "o").to_string();
        assert!(text.contains("spec.replicas: Invalid value: -1"), "{text}");
    }

    #[test]
    fn non_json_bodies_still_say_something() {
        let text = from_status(action(), 503, b"upstream down", "s", "o").to_string();
        assert!(
            text.contains("503") && text.contains("upstream down"),
            "{text}"
        );
    }
}
