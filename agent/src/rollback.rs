//! Rollback: a sync pinned to a revision it applied before. The pin lives in the sync's
//! parent ConfigMap (`data.pin`, beside the status and the inventory), not in a node's
//! stateDir, so the node that leads after a failover keeps it. A cycle of a pinned sync
//! reconciles the pinned commit, and the branch's newer commits wait.
//!
//! Which revision to go back to, whether a pin is well formed and what the status says of
//! it are pure ([`choose`], [`read`], [`condition`]); [`write`] and [`whoami`] are the I/O.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::history::Entry;
use crate::kube::{ApiResource, Cluster, Error};
use crate::prune;
use crate::report::{short, SyncStatus};

/// The key of the parent's data that holds the pin.
pub const PIN_KEY: &str = "pin";

/// The status condition a pinned sync carries.
pub const PINNED: &str = "Pinned";

/// A sync held at an earlier revision, and who held it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pin {
    /// The commit reconciled instead of the branch's.
    pub revision: String,
    /// The Kubernetes user who pinned it (from a SelfSubjectReview).
    pub by: String,
    /// The host `plumb rollback` ran on.
    pub host: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The pin a parent holds; an error, naming what is wrong, when `data.pin` is not one
/// plumb wrote (a cycle then writes nothing, as for an unreadable status).
pub fn read(parent: Option<&Value>) -> Result<Option<Pin>, String> {
    let Some(text) = parent.and_then(|p| p["data"].get(PIN_KEY)) else {
        return Ok(None);
    };
    let text = text
        .as_str()
        .ok_or_else(|| format!("data.{PIN_KEY} of the parent ConfigMap is not a string"))?;
    let mut pin: Pin = serde_json::from_str(text)
        .map_err(|e| format!("data.{PIN_KEY} of the parent ConfigMap: {e}"))?;
    // Commit ids are lower case wherever plumb compares them.
    pin.revision.make_ascii_lowercase();
    if pin.revision.len() != 40 || !pin.revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "data.{PIN_KEY} of the parent ConfigMap pins '{}', which is not a full commit id",
            pin.revision
        ));
    }
    Ok(Some(pin))
}

/// Whether an entry's revision was applied (its objects reached the cluster): a revision
/// refused before applying is no place to go back to.
fn was_applied(entry: &Entry) -> bool {
    matches!(entry.result.as_str(), "Ready" | "Stalled")
}

/// The revision to pin: the one `requested` names (a commit id or a prefix of at least 4
/// characters, among the revisions the history says were applied), or else the newest
/// revision before the one in force that ended Ready.
pub fn choose(
    history: &[Entry],
    in_force: Option<&str>,
    requested: Option<&str>,
) -> Result<String, String> {
    let mut applied: Vec<&str> = Vec::new();
    for entry in history.iter().filter(|e| was_applied(e)) {
        if !applied.contains(&entry.revision.as_str()) {
            applied.push(&entry.revision);
        }
    }
    let Some(requested) = requested else {
        // Before the revision in force is before its first appearance: a rollback's own
        // entries (the pinned revision applied again) are newer than what it went back from.
        let first_in_force = in_force
            .and_then(|f| history.iter().rposition(|e| e.revision == f))
            .map_or(0, |at| at + 1);
        return history[first_in_force..]
            .iter()
            .find(|e| e.result == "Ready" && Some(e.revision.as_str()) != in_force)
            .map(|e| e.revision.clone())
            .ok_or_else(|| {
                "the history holds no earlier revision that was Ready: name one (plumb history lists them)".to_owned()
            });
    };
    let requested = requested.to_ascii_lowercase();
    if requested.len() < 4 || !requested.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "'{requested}' is not a commit id (give at least 4 hexadecimal digits)"
        ));
    }
    let matching: Vec<&str> = applied
        .iter()
        .copied()
        .filter(|r| r.starts_with(&requested))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] if history.iter().any(|e| e.revision.starts_with(&requested)) => Err(format!(
            "revision {requested} was never applied (the history shows it refused or failed): only an applied revision can be gone back to"
        )),
        [] => Err(format!(
            "revision {requested} is not in the sync's history (plumb history lists the revisions it applied)"
        )),
        many => Err(format!(
            "'{requested}' names {} revisions ({}): give more digits",
            many.len(),
            many.iter().map(|r| short(r)).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Sets or removes the Pinned condition; `waiting` is the branch's commit when it is not
/// the pinned one.
pub fn condition(status: &mut SyncStatus, pin: Option<&Pin>, waiting: Option<&str>, now: &str) {
    let Some(pin) = pin else {
        status.conditions.retain(|c| c.kind != PINNED);
        return;
    };
    let mut message = format!(
        "pinned to {} by {} on {} at {}",
        short(&pin.revision),
        pin.by,
        pin.host,
        pin.at
    );
    if let Some(waiting) = waiting.filter(|w| *w != pin.revision) {
        message.push_str(&format!(
            "; the branch is at {}, waiting (plumb rollback --release follows it again)",
            short(waiting)
        ));
    }
    status.set_condition(PINNED, true, "RolledBack", &message, now);
}

/// Writes the pin into the parent, or removes it (`None`): a merge patch of `data.pin`
/// alone, so a cycle's own write of status and inventory neither loses nor undoes it.
pub fn write(client: &dyn Cluster, sync: &str, pin: Option<&Pin>) -> Result<(), Error> {
    let value = match pin {
        Some(pin) => Value::String(serde_json::to_string(pin).expect("serialisable")),
        None => Value::Null,
    };
    client.merge_patch(
        &ApiResource::config_map(),
        Some(prune::SYSTEM_NAMESPACE),
        &prune::parent_name(sync),
        &json!({ "data": { PIN_KEY: value } }),
    )?;
    Ok(())
}

/// Who the cluster says this client is (a SelfSubjectReview); when it cannot say (an old
/// server, a denied review), what kept it from saying.
pub fn whoami(client: &dyn Cluster) -> String {
    let review = ApiResource::self_subject_review();
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    match client.create(&review, None, &body) {
        Ok(answer) => match answer["status"]["userInfo"]["username"].as_str() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => "an unnamed user".to_owned(),
        },
        Err(e) => format!("an unknown user (SelfSubjectReview: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(revision: &str, result: &str) -> Entry {
        Entry {
            revision: revision.repeat(40 / revision.len()),
            result: result.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_default_is_the_newest_ready_revision_before_the_one_in_force() {
        let history = [
            entry("c", "Ready"),
            entry("b", "Failed"),
            entry("b", "Ready"),
            entry("a", "Ready"),
        ];
        let c = history[0].revision.clone();
        let b = history[2].revision.clone();
        assert_eq!(choose(&history, Some(&c), None).unwrap(), b);
        // In force is the newest anyway: the one before it.
        let only_c = [entry("c", "Ready")];
        assert!(choose(&only_c, Some(&c), None)
            .unwrap_err()
            .contains("no earlier revision"));
        // Back again after a rollback to b: the history is b (the pin), c, b, a; before b is a.
        let again = [
            entry("b", "Ready"),
            entry("c", "Ready"),
            entry("b", "Ready"),
            entry("a", "Ready"),
        ];
        assert_eq!(
            choose(&again, Some(&b), None).unwrap(),
            again[3].revision,
            "a second rollback went forward"
        );
        // A newer revision that failed is not the one in force: the one before c still is b.
        let failed_after = [
            entry("d", "Failed"),
            entry("c", "Ready"),
            entry("b", "Ready"),
        ];
        assert_eq!(choose(&failed_after, Some(&c), None).unwrap(), b);
    }

    #[test]
    fn a_named_revision_must_be_applied_and_unambiguous() {
        let mut history = vec![
            entry("ab", "Ready"),
            entry("ac", "Stalled"),
            entry("fe", "Failed"),
        ];
        history[1].revision = format!("ab{}", "c".repeat(38));
        let first = history[0].revision.clone();
        assert_eq!(
            choose(&history, None, Some(&first[..8])).unwrap(),
            first,
            "a prefix"
        );
        assert_eq!(
            choose(&history, None, Some(&first.to_uppercase())).unwrap(),
            first
        );
        assert_eq!(
            choose(&history, None, Some("abcc")).unwrap(),
            history[1].revision,
            "a Stalled revision was applied"
        );
        assert!(choose(&history, None, Some("abcd"))
            .unwrap_err()
            .contains("abcd"));
        assert!(choose(&history, None, Some("ab"))
            .unwrap_err()
            .contains("at least 4"));
        let ambiguous = [entry("ab", "Ready"), {
            let mut e = entry("a", "Ready");
            e.revision = format!("abab{}", "0".repeat(36));
            e
        }];
        assert!(choose(&ambiguous, None, Some("abab"))
            .unwrap_err()
            .contains("2 revisions"));
        assert!(choose(&history, None, Some("fefe"))
            .unwrap_err()
            .contains("never applied"));
        assert!(choose(&history, None, Some("0123"))
            .unwrap_err()
            .contains("not in the sync's history"));
        assert!(choose(&history, None, Some("xyz1"))
            .unwrap_err()
            .contains("not a commit id"));
    }

    #[test]
    fn a_pin_is_read_strictly() {
        let pin = Pin {
            revision: "a".repeat(40),
            by: "alice".into(),
            host: "pi-1".into(),
            at: "2026-12-04T01:00:00Z".into(),
        };
        let parent = |text: Value| json!({"data": {"status": "{}", "pin": text}});
        let text = Value::String(serde_json::to_string(&pin).unwrap());
        assert_eq!(read(Some(&parent(text))).unwrap(), Some(pin.clone()));
        assert_eq!(read(Some(&json!({"data": {}}))).unwrap(), None);
        assert_eq!(read(None).unwrap(), None);
        for bad in [
            json!(3),
            json!("not json"),
            json!(r#"{"revision": "abc", "by": "a", "host": "h", "at": "t"}"#),
            json!(r#"{"revision": "<script>", "by": "a", "host": "h", "at": "t", "x": 1}"#),
        ] {
            let err = read(Some(&parent(bad.clone()))).unwrap_err();
            assert!(err.contains("data.pin"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_condition_says_who_pinned_and_what_waits() {
        let pin = Pin {
            revision: "a".repeat(40),
            by: "alice".into(),
            host: "pi-1".into(),
            at: "2026-12-04T01:00:00Z".into(),
        };
        let mut status = SyncStatus::default();
        condition(&mut status, Some(&pin), Some(&"b".repeat(40)), "now");
        let c = status.condition(PINNED).unwrap();
        assert_eq!(c.status, "True");
        assert!(
            c.message.starts_with("pinned to aaaaaaa by alice on pi-1 at 2026-12-04T01:00:00Z; the branch is at bbbbbbb, waiting"),
            "{}",
            c.message
        );
        condition(&mut status, Some(&pin), Some(&pin.revision), "now");
        assert!(!status
            .condition(PINNED)
            .unwrap()
            .message
            .contains("waiting"));
        condition(&mut status, None, None, "now");
        assert!(status.condition(PINNED).is_none());
    }
}
