//! What `plumb status` shows a person: a sync's state in a few lines, its objects that
//! are not healthy grouped by kind and reason ("14 Deployments waiting for their pods
//! to become ready: carts, carts-db, catalogue (+11)") instead of a line per object,
//! and the same for scripts as JSON. Pure: a status in, text out; the command prints.

use serde_json::{json, Value};

use crate::report::{self, SyncStatus};

/// How many names a group lists before "(+N)".
const NAMES_SHOWN: usize = 3;

/// Colour and symbols, for a terminal; plain text otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours and the symbols ✓ ✗ ↻.
    pub colour: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn mark(self, ok: Option<bool>) -> String {
        match (self.colour, ok) {
            (false, _) => String::new(),
            (true, Some(true)) => format!("{} ", self.paint("32", "✓")),
            (true, Some(false)) => format!("{} ", self.paint("31", "✗")),
            (true, None) => format!("{} ", self.paint("33", "↻")),
        }
    }
}

/// Objects of one kind not healthy for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The kind, without its group ("Deployment").
    pub kind: String,
    /// Why, as a phrase that reads after the plural kind ("waiting for their controller").
    pub reason: String,
    /// The objects' names, as the health lines gave them (with a namespace where the
    /// objects are in more than one).
    pub names: Vec<String>,
    /// The health line's own text, when the group has a single object.
    pub detail: String,
}

/// One health line ("Deployment.apps apps/web: 0 of 2 replicas available") as kind,
/// namespace, name and message; a line of another shape (the status is editable by
/// anyone) is kept whole as the message.
fn parse_line(line: &str) -> (String, String, String, String) {
    let Some((object, message)) = line.split_once(": ") else {
        return (String::new(), String::new(), String::new(), line.to_owned());
    };
    let Some((kind, name)) = object.split_once(' ') else {
        return (String::new(), String::new(), String::new(), line.to_owned());
    };
    let kind = kind.split('.').next().unwrap_or(kind);
    let (namespace, name) = name.split_once('/').unwrap_or(("", name));
    (
        kind.to_owned(),
        namespace.to_owned(),
        name.to_owned(),
        message.to_owned(),
    )
}

/// The reason a health message gives, as a phrase shared by the objects that have it:
/// messages that differ only in their counts ("0 of 2 replicas available", "1 of 3 …")
/// are one reason.
pub fn reason_of(message: &str) -> String {
    let phrase = if message.ends_with("replicas updated")
        || message.ends_with("pods updated")
        || message.ends_with("old replicas pending termination")
    {
        "rolling out"
    } else if message.ends_with("replicas available")
        || message.ends_with("replicas ready")
        || message.ends_with("pods available")
    {
        "waiting for their pods to become ready"
    } else if message.starts_with("waiting for the controller to observe generation") {
        "waiting for their controller"
    } else if message.starts_with("progress deadline exceeded") {
        "past their progress deadline"
    } else if message.starts_with("pruned, still being deleted") {
        "pruned, still being deleted"
    } else {
        message
    };
    phrase.to_owned()
}

/// The health lines grouped by kind and reason, in the order each group first appears.
pub fn group_unhealthy(lines: &[String]) -> Vec<Group> {
    let parsed: Vec<_> = lines.iter().map(|l| parse_line(l)).collect();
    let one_namespace = parsed
        .iter()
        .map(|(_, namespace, _, _)| namespace)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        <= 1;
    let mut groups: Vec<Group> = Vec::new();
    for ((kind, namespace, name, message), line) in parsed.into_iter().zip(lines) {
        let reason = reason_of(&message);
        let shown = if one_namespace || namespace.is_empty() {
            name
        } else {
            format!("{namespace}/{name}")
        };
        match groups
            .iter_mut()
            .find(|g| g.kind == kind && g.reason == reason)
        {
            Some(group) => group.names.push(shown),
            None => groups.push(Group {
                kind,
                reason,
                names: vec![shown],
                detail: line.clone(),
            }),
        }
    }
    groups
}

/// "Deployment" → "Deployments", "Ingress" → "Ingresses", "NetworkPolicy" → "NetworkPolicies".
pub fn plural(kind: &str) -> String {
    let consonant_y = kind.ends_with('y')
        && !kind.ends_with("ay")
        && !kind.ends_with("ey")
        && !kind.ends_with("oy");
    if consonant_y {
        format!("{}ies", &kind[..kind.len() - 1])
    } else if ["s", "x", "ch", "sh"].iter().any(|end| kind.ends_with(end)) {
        format!("{kind}es")
    } else {
        format!("{kind}s")
    }
}

/// A group as one line.
pub fn group_line(group: &Group) -> String {
    if group.names.len() == 1 || group.kind.is_empty() {
        return group.detail.clone();
    }
    let mut names = group.names[..NAMES_SHOWN.min(group.names.len())].join(", ");
    if group.names.len() > NAMES_SHOWN {
        names.push_str(&format!(" (+{})", group.names.len() - NAMES_SHOWN));
    }
    format!(
        "{} {} {}: {names}",
        group.names.len(),
        plural(&group.kind),
        group.reason
    )
}

/// A condition's message without the list of unhealthy objects the health failure
/// appends (shown grouped instead), and only its first line.
pub(crate) fn condition_message<'a>(message: &'a str, health: &[String]) -> &'a str {
    let first = message.lines().next().unwrap_or_default();
    if health.is_empty() {
        return first;
    }
    let list = format!(": {}", health.join("; "));
    match first.find(&list) {
        Some(at) => &first[..at],
        None => first,
    }
}

/// A sync's status for a person, each line ending in a line break.
pub fn status_text(name: &str, status: &SyncStatus, style: Style) -> String {
    let mut out = String::new();
    let ready = status.condition("Ready").map(|c| c.status == "True");
    let reconciling = status
        .condition("Reconciling")
        .is_some_and(|c| c.status == "True");
    let mark = style.mark(match ready {
        Some(false) if reconciling => None,
        other => Some(other.unwrap_or(false)),
    });
    out.push_str(&format!(
        "{mark}{}: {}\n",
        style.paint("1", name),
        report::summary(status)
    ));
    if let Some(at) = &status.applied_at {
        out.push_str(&format!("  applied at: {at}\n"));
    }
    let mut said: Vec<(&str, &str)> = Vec::new();
    for c in &status.conditions {
        let own = condition_message(&c.message, &status.health);
        // Ready and Stalled often say the same thing: once is enough.
        let message = match said.iter().find(|(_, m)| *m == own && !m.is_empty()) {
            Some((kind, _)) => format!("(as {kind})"),
            None => own.to_owned(),
        };
        said.push((c.kind.as_str(), own));
        out.push_str(&format!("  {}: {} ({})", c.kind, c.status, c.reason));
        if !message.is_empty() {
            out.push_str(&format!(" {message}"));
        }
        out.push('\n');
    }
    let n = &status.counts;
    out.push_str(&format!(
        "  objects: {} managed, {} applied, {} unchanged, {} pruned, {} drifted\n",
        n.managed, n.applied, n.unchanged, n.pruned, n.drifted
    ));
    if !status.health.is_empty() {
        out.push_str(&format!("  not healthy ({}):\n", status.health.len()));
        for group in group_unhealthy(&status.health) {
            out.push_str(&format!("    {}\n", group_line(&group)));
        }
    }
    if !status.kept.is_empty() {
        out.push_str("  kept, not pruned:\n");
        for line in &status.kept {
            out.push_str(&format!("    {line}\n"));
        }
    }
    if let (Some(failure), Some(at)) = (&status.last_failure, &status.last_failure_at) {
        out.push_str(&format!("  last failure at {at}:\n"));
        for line in failure.lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// A sync's status for scripts: its name, whether it is Ready, the status as the parent
/// holds it, and the unhealthy objects grouped as the text shows them.
pub fn status_json(name: &str, status: &SyncStatus) -> Value {
    let groups: Vec<Value> = group_unhealthy(&status.health)
        .into_iter()
        .map(|g| json!({"kind": g.kind, "reason": g.reason, "names": g.names}))
        .collect();
    json!({
        "sync": name,
        "ready": status.condition("Ready").is_some_and(|c| c.status == "True"),
        "status": status,
        "unhealthy": groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn objects_group_by_kind_and_reason_whatever_their_counts() {
        let health = lines(&[
            "Deployment.apps shop/carts: 0 of 2 replicas available",
            "Deployment.apps shop/carts-db: 0 of 1 replicas available",
            "Service shop/front: not found",
            "Deployment.apps shop/catalogue: 1 of 3 replicas available",
            "Deployment.apps shop/orders: 0 of 1 replicas available",
            "Deployment.apps shop/user: 0 of 2 replicas updated",
        ]);
        let groups = group_unhealthy(&health);
        let shown: Vec<String> = groups.iter().map(group_line).collect();
        assert_eq!(
            shown,
            [
                "4 Deployments waiting for their pods to become ready: carts, carts-db, catalogue (+1)",
                "Service shop/front: not found",
                "Deployment.apps shop/user: 0 of 2 replicas updated",
            ]
        );
        assert_eq!(groups[0].names.len(), 4);
    }

    #[test]
    fn names_carry_their_namespace_only_when_there_are_several() {
        let health = lines(&[
            "Deployment.apps a/web: waiting for the controller to observe generation 2 (observed 1)",
            "Deployment.apps b/web: waiting for the controller to observe generation 3 (observed 2)",
        ]);
        assert_eq!(
            group_line(&group_unhealthy(&health)[0]),
            "2 Deployments waiting for their controller: a/web, b/web"
        );
    }

    #[test]
    fn lines_of_another_shape_are_kept_as_they_are() {
        // The status ConfigMap is editable: any text may come back.
        let health = lines(&[
            "something odd",
            "odd: but shaped",
            "Job x: failed",
            "Job y: failed",
        ]);
        let shown: Vec<String> = group_unhealthy(&health).iter().map(group_line).collect();
        assert_eq!(
            shown,
            ["something odd", "odd: but shaped", "2 Jobs failed: x, y"]
        );
    }

    #[test]
    fn kinds_are_made_plural_as_english_does() {
        for (kind, many) in [
            ("Deployment", "Deployments"),
            ("Ingress", "Ingresses"),
            ("NetworkPolicy", "NetworkPolicies"),
            ("Gateway", "Gateways"),
            ("Mailbox", "Mailboxes"),
        ] {
            assert_eq!(plural(kind), many);
        }
    }

    fn unhealthy_status() -> SyncStatus {
        let health = lines(&[
            "Deployment.apps shop/a: 0 of 2 replicas available",
            "Deployment.apps shop/b: 0 of 2 replicas available",
        ]);
        let message = format!(
            "revision 1a2b3c4 applied, but not healthy within 120s: {}",
            health.join("; ")
        );
        let mut status = SyncStatus {
            revision: Some("1a2b3c4d5e".into()),
            health,
            ..SyncStatus::default()
        };
        let now = "2026-12-03T10:00:00Z";
        status.set_condition("Ready", false, "HealthCheckFailed", &message, now);
        status.set_condition("Stalled", true, "HealthCheckFailed", &message, now);
        status.set_condition("Reconciling", false, "Idle", "", now);
        status
    }

    #[test]
    fn a_health_failure_is_said_once_with_its_objects_grouped() {
        let text = status_text("shop", &unhealthy_status(), Style { colour: false });
        assert_eq!(
            text,
            "shop: rev 1a2b3c4 not Ready (HealthCheckFailed), 0 objects\n\
             \x20 Ready: False (HealthCheckFailed) revision 1a2b3c4 applied, but not healthy within 120s\n\
             \x20 Reconciling: False (Idle)\n\
             \x20 Stalled: True (HealthCheckFailed) (as Ready)\n\
             \x20 objects: 0 managed, 0 applied, 0 unchanged, 0 pruned, 0 drifted\n\
             \x20 not healthy (2):\n\
             \x20   2 Deployments waiting for their pods to become ready: a, b\n"
        );
        assert!(!text.contains('\x1b'));
        let coloured = status_text("shop", &unhealthy_status(), Style { colour: true });
        assert!(coloured.starts_with("\x1b[31m✗\x1b[0m "), "{coloured}");
    }

    #[test]
    fn scripts_get_the_status_and_the_groups() {
        let value = status_json("shop", &unhealthy_status());
        assert_eq!(value["sync"], "shop");
        assert_eq!(value["ready"], false);
        assert_eq!(value["status"]["revision"], "1a2b3c4d5e");
        assert_eq!(value["unhealthy"][0]["names"], json!(["a", "b"]));
        assert_eq!(value["unhealthy"][0]["kind"], "Deployment");
    }
}
