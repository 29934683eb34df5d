//! Drift: how an object whose fingerprint moved is compared with Git — a server-side dry-run
//! of Git's object against the live one — shared by the drift cycle and `plumb diff`.

use serde_json::Value;

use crate::apply::{self, Target};
use crate::kube::{ApplyOptions, Cluster};
use crate::plan;
use crate::render::ObjectRef;

/// One object found drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Which object.
    pub object: ObjectRef,
    /// Fields that differ from Git ("deleted" when the object is gone).
    pub fields: Vec<String>,
    /// Field managers that own those fields now.
    pub managers: Vec<String>,
}

impl Drift {
    /// One line for people: "ConfigMap apps/a: data.key by kubectl-edit".
    pub fn describe(&self) -> String {
        let by = if self.managers.is_empty() {
            String::new()
        } else {
            format!(" by {}", self.managers.join(", "))
        };
        format!("{}: {}{by}", self.object, self.fields.join(", "))
    }

    /// An object that is gone.
    pub fn deleted(object: ObjectRef) -> Drift {
        Drift {
            object,
            fields: vec!["deleted".into()],
            managers: Vec::new(),
        }
    }
}

/// The live object a target names; None when it does not exist.
pub fn read_live(client: &dyn Cluster, t: &Target) -> Result<Option<Value>, crate::kube::Error> {
    let key = t.manifest.key();
    let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
    client.get(&t.resource, ns, &key.name)
}

/// What applying Git's object would make of it: a server-side dry-run, forced as plumb's
/// applies are.
pub fn dry_run(client: &dyn Cluster, t: &Target) -> Result<Value, crate::kube::Error> {
    let options = ApplyOptions {
        force: true,
        dry_run: true,
    };
    client.apply(&t.resource, &t.manifest.object, options)
}

/// Compares an object whose fingerprint moved: a server-side dry-run of the
/// desired object against the live one. `None` when nothing Git sets differs.
pub fn precise_drift(
    client: &dyn Cluster,
    t: &Target,
) -> Result<Option<Drift>, crate::kube::Error> {
    let key = t.manifest.key();
    let Some(live) = read_live(client, t)? else {
        return Ok(Some(Drift::deleted(key)));
    };
    let would_be = dry_run(client, t)?;
    if !apply::differs(&would_be, &live) {
        return Ok(None);
    }
    // Name the fields Git sets that differ, with values as the server normalises them.
    let projected = project(&t.manifest.object, &would_be);
    let mut fields = plan::changed_fields(&projected, &live);
    fields.retain(|f| !f.starts_with("metadata.managedFields"));
    if fields.is_empty() {
        fields.push("fields Git does not set".into());
    }
    let mut managers = Vec::new();
    for f in &fields {
        for m in apply::managers_of(&live["metadata"]["managedFields"], f) {
            if !managers.contains(&m) {
                managers.push(m);
            }
        }
    }
    Ok(Some(Drift {
        object: key,
        fields,
        managers,
    }))
}

/// `actual` cut to the shape of `shape` (objects by key; other values whole).
fn project(shape: &Value, actual: &Value) -> Value {
    match (shape, actual) {
        (Value::Object(s), Value::Object(a)) => Value::Object(
            s.iter()
                .filter_map(|(k, sv)| a.get(k).map(|av| (k.clone(), project(sv, av))))
                .collect(),
        ),
        (_, a) => a.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_the_shape_of_git() {
        let shape = json!({"spec": {"replicas": 2, "template": {"a": 1}}});
        let actual =
            json!({"spec": {"replicas": 5, "template": {"a": 1, "b": 2}, "x": 1}, "status": {}});
        assert_eq!(
            project(&shape, &actual),
            json!({"spec": {"replicas": 5, "template": {"a": 1}}})
        );
    }
}
