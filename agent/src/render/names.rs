//! The API server's rules for names, namespaces and apiVersions, checked at
//! render so that a name the server would refuse is an error with its file
//! and line before anything is sent (and never reaches a URL unchecked).
//!
//! The rules are apimachinery's: most kinds take a DNS-1123 subdomain, a
//! Namespace a DNS-1123 label, a Service a DNS-1035 label, the RBAC kinds any
//! path segment (`system:controller:x`). Custom resources take a subdomain,
//! as the apiextensions server checks them.

/// Which of the API server's name rules a kind's `metadata.name` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// Lowercase alphanumerics, '-' and '.', alphanumeric at both ends, at most 253.
    Subdomain,
    /// Lowercase alphanumerics and '-', alphanumeric at both ends, at most 63.
    Label,
    /// A label that starts with a letter.
    Dns1035Label,
    /// Anything but '/' and '%', and not "." or "..".
    PathSegment,
}

/// The rule `metadata.name` of this group's kind follows.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035Label,
        (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        ) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn label_chars_ok(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character, at most 253 characters";
const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character, at most 63 characters";
const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character, at most 63 characters";

/// Whether `name` follows `rule`; the error says the rule as the API server words it.
pub fn check(rule: NameRule, name: &str) -> Result<(), &'static str> {
    let ok = match rule {
        NameRule::Subdomain => name.len() <= 253 && name.split('.').all(label_chars_ok),
        NameRule::Label => name.len() <= 63 && label_chars_ok(name),
        NameRule::Dns1035Label => {
            name.len() <= 63 && label_chars_ok(name) && name.as_bytes()[0].is_ascii_lowercase()
        }
        NameRule::PathSegment => {
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
        }
    };
    if ok {
        Ok(())
    } else {
        Err(match rule {
            NameRule::Subdomain => SUBDOMAIN,
            NameRule::Label => LABEL,
            NameRule::Dns1035Label => DNS1035,
            NameRule::PathSegment => "a name may not be '.' or '..' and may not contain '/' or '%'",
        })
    }
}

/// Whether an apiVersion is `VERSION` (the core group) or `GROUP/VERSION`,
/// with the group a DNS-1123 subdomain and the version a DNS-1123 label.
pub fn check_api_version(api_version: &str) -> Result<(), String> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (Some(g), v),
        None => (None, api_version),
    };
    if let Some(group) = group {
        if check(NameRule::Subdomain, group).is_err() {
            return Err(format!(
                "its group '{}' is not a DNS subdomain (GROUP/VERSION, as apps/v1)",
                group.escape_debug()
            ));
        }
    }
    if check(NameRule::Label, version).is_err() {
        return Err(format!(
            "its version '{}' is not a version such as v1 (GROUP/VERSION, as apps/v1)",
            version.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_kinds_rule() {
        for (group, kind, name, ok) in [
            ("", "ConfigMap", "web-config", true),
            ("", "ConfigMap", "web.config.v1", true),
            ("", "ConfigMap", "my app", false),
            ("", "ConfigMap", "café", false),
            ("", "ConfigMap", "Web", false),
            ("", "ConfigMap", "-web", false),
            ("", "ConfigMap", "web..x", false),
            (
                "",
                "ConfigMap",
                "../../kube-system/configmaps/victim",
                false,
            ),
            ("", "ConfigMap", "x?dryRun=All&y", false),
            ("apps", "Deployment", &"a".repeat(253), true),
            ("apps", "Deployment", &"a".repeat(254), false),
            ("", "Namespace", "apps", true),
            ("", "Namespace", "apps.prod", false),
            ("", "Namespace", &"a".repeat(64), false),
            ("", "Service", "web", true),
            ("", "Service", "1web", false),
            (
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "system:controller:x",
                true,
            ),
            ("rbac.authorization.k8s.io", "ClusterRole", "a/b", false),
            ("rbac.authorization.k8s.io", "RoleBinding", "..", false),
            ("example.com", "Widget", "w-1", true),
            ("example.com", "Widget", "W_1", false),
        ] {
            assert_eq!(
                check(name_rule(group, kind), name).is_ok(),
                ok,
                "{group}/{kind} {name:?}"
            );
        }
    }

    #[test]
    fn api_versions_are_group_slash_version() {
        for (v, ok) in [
            ("v1", true),
            ("apps/v1", true),
            ("cert-manager.io/v1", true),
            ("autoscaling/v2beta2", true),
            ("apps/v1/x", false),
            ("Apps/v1", false),
            ("apps/", false),
            ("/v1", false),
            ("v 1", false),
            ("apps/v1?x=y", false),
        ] {
            assert_eq!(check_api_version(v).is_ok(), ok, "{v}");
        }
    }
}
