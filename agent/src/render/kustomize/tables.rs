//! The field tables of kustomize's TransformerConfig: where the built-in
//! transformers write (name prefix and suffix, namespace, labels,
//! annotations, images, replicas), where names of other objects are
//! referenced (nameReference) and where `$(VAR)`s are substituted
//! (varReference).
//!
//! Each kustomization starts from kustomize's defaults, adds the files its
//! `configurations` field lists, and takes in the tables of every folder it
//! builds under `resources` and `components`, as kustomize's accumulator
//! does: a configuration in a base reaches the overlays above it, and the
//! top's tables drive the name references of the whole build.

use serde::{Deserialize, Deserializer};

use super::fieldspec::{self, FieldSpec};
use super::kustomization::FieldSpecArgs;
use super::refs::{self, Backref};

/// A kustomize TransformerConfig.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldTables {
    #[serde(deserialize_with = "strict_specs")]
    pub name_prefix: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_specs")]
    pub name_suffix: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_specs")]
    pub namespace: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_specs")]
    pub common_labels: Vec<FieldSpecArgs>,
    /// Added to every `labels` entry's fields.
    #[serde(deserialize_with = "strict_specs")]
    pub labels: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_specs")]
    pub template_labels: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_specs")]
    pub common_annotations: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_backrefs")]
    pub name_reference: Vec<Backref>,
    #[serde(deserialize_with = "strict_specs")]
    pub var_reference: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_specs")]
    pub images: Vec<FieldSpecArgs>,
    #[serde(deserialize_with = "strict_specs")]
    pub replicas: Vec<FieldSpecArgs>,
    /// Whether anything beyond kustomize's defaults was added: merging
    /// defaults into defaults changes nothing, and most builds have no
    /// configurations, so that merge is skipped.
    #[serde(skip)]
    pub customized: bool,
}

/// A field spec in a configuration file: kustomize reads these strictly
/// (an unknown field is an error), unlike the field specs of a
/// transformer's plugin config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictSpec {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    create: bool,
}

impl From<StrictSpec> for FieldSpecArgs {
    fn from(s: StrictSpec) -> Self {
        FieldSpecArgs {
            group: s.group,
            version: s.version,
            kind: s.kind,
            path: s.path,
            create: s.create,
        }
    }
}

fn strict_specs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FieldSpecArgs>, D::Error> {
    let specs = Option::<Vec<StrictSpec>>::deserialize(d)?.unwrap_or_default();
    Ok(specs.into_iter().map(FieldSpecArgs::from).collect())
}

/// A nameReference entry in a configuration file, read strictly.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StrictBackref {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    field_specs: Option<Vec<StrictSpec>>,
}

fn strict_backrefs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Backref>, D::Error> {
    let entries = Option::<Vec<StrictBackref>>::deserialize(d)?.unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|b| Backref {
            group: b.group,
            version: b.version,
            kind: b.kind,
            referrers: b
                .field_specs
                .unwrap_or_default()
                .into_iter()
                .map(FieldSpecArgs::from)
                .collect(),
        })
        .collect())
}

fn owned(specs: &[FieldSpec]) -> Vec<FieldSpecArgs> {
    specs
        .iter()
        .map(|s| FieldSpecArgs {
            group: s.group.to_owned(),
            version: s.version.to_owned(),
            kind: s.kind.to_owned(),
            path: s.path.to_owned(),
            create: s.create,
        })
        .collect()
}

/// Borrowed field specs, for the transformers.
pub fn specs(args: &[FieldSpecArgs]) -> Vec<FieldSpec<'_>> {
    args.iter().map(FieldSpec::from).collect()
}

/// A `configurations` file's tables; `read` gives the text of a file of
/// the kustomization's folder (kustomize's load restriction applies).
pub fn read(
    read: &dyn Fn(&str) -> Result<String, String>,
    entry: &str,
) -> Result<FieldTables, String> {
    let text = read(entry)?;
    let tables: FieldTables = if text.trim().is_empty() {
        FieldTables::default()
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| format!("'{entry}': {e}"))?
    };
    Ok(FieldTables {
        customized: true,
        ..tables
    })
}

impl FieldTables {
    /// kustomize v5.5's default tables (builtinpluginconsts).
    pub fn defaults() -> FieldTables {
        let name = owned(&[FieldSpec {
            group: "",
            version: "",
            kind: "",
            path: "metadata/name",
            create: false,
        }]);
        let image = |path: &'static str| FieldSpec {
            group: "",
            version: "",
            kind: "",
            path,
            create: true,
        };
        FieldTables {
            name_prefix: name.clone(),
            name_suffix: name,
            namespace: owned(fieldspec::NAMESPACE),
            common_labels: owned(&fieldspec::common_labels()),
            labels: Vec::new(),
            template_labels: owned(fieldspec::TEMPLATE_LABELS),
            common_annotations: owned(fieldspec::COMMON_ANNOTATIONS),
            name_reference: refs::default_table(),
            var_reference: owned(super::vars::VAR_REFERENCE),
            images: owned(&[
                image("spec/containers[]/image"),
                image("spec/initContainers[]/image"),
                image("spec/template/spec/containers[]/image"),
                image("spec/template/spec/initContainers[]/image"),
            ]),
            replicas: owned(fieldspec::REPLICAS),
            customized: false,
        }
    }

    /// Adds `other`'s entries, as kustomize's TransformerConfig.Merge does:
    /// a field spec already covered (same path, and the same kind where the
    /// new one names one) is not
    /// added again, and one that differs only in `create` is an error;
    /// nameReference entries of the same kind merge their field specs.
    pub fn merge(&mut self, other: FieldTables) -> Result<(), String> {
        if !other.customized {
            return Ok(());
        }
        self.customized = true;
        let lists = [
            ("namePrefix", &mut self.name_prefix, other.name_prefix),
            ("nameSuffix", &mut self.name_suffix, other.name_suffix),
            ("namespace", &mut self.namespace, other.namespace),
            ("commonLabels", &mut self.common_labels, other.common_labels),
            ("labels", &mut self.labels, other.labels),
            (
                "templateLabels",
                &mut self.template_labels,
                other.template_labels,
            ),
            (
                "commonAnnotations",
                &mut self.common_annotations,
                other.common_annotations,
            ),
            ("varReference", &mut self.var_reference, other.var_reference),
            ("images", &mut self.images, other.images),
            ("replicas", &mut self.replicas, other.replicas),
        ];
        for (table, into, from) in lists {
            merge_specs(into, from).map_err(|e| format!("{table}: {e}"))?;
        }
        for entry in other.name_reference {
            match self.name_reference.iter_mut().find(|b| {
                b.group == entry.group && b.version == entry.version && b.kind == entry.kind
            }) {
                Some(existing) => merge_specs(&mut existing.referrers, entry.referrers)
                    .map_err(|e| format!("nameReference of {}: {e}", entry.kind))?,
                None => self.name_reference.push(entry),
            }
        }
        Ok(())
    }
}

/// kustomize's FsSlice.MergeAll.
fn merge_specs(into: &mut Vec<FieldSpecArgs>, from: Vec<FieldSpecArgs>) -> Result<(), String> {
    for spec in from {
        // kustomize's effectivelyEquals: the new spec's group, version and
        // kind, where set, are the existing one's.
        let same = |have: &str, new: &str| new.is_empty() || have == new;
        let covered = into.iter().find(|have| {
            have.path == spec.path
                && same(&have.group, &spec.group)
                && same(&have.version, &spec.version)
                && same(&have.kind, &spec.kind)
        });
        match covered {
            Some(have) if have.create != spec.create => {
                return Err(format!(
                    "conflicting field specs for '{}'{}: one creates the field, the other does not",
                    spec.path,
                    if spec.kind.is_empty() {
                        String::new()
                    } else {
                        format!(" of kind {}", spec.kind)
                    }
                ))
            }
            Some(_) => {}
            None => into.push(spec),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, path: &str, create: bool) -> FieldSpecArgs {
        FieldSpecArgs {
            kind: kind.into(),
            path: path.into(),
            create,
            ..FieldSpecArgs::default()
        }
    }

    #[test]
    fn merging_adds_new_specs_once_and_refuses_conflicts() {
        let mut tables = FieldTables::defaults();
        let before = tables.common_labels.len();
        let added: FieldTables = serde_yaml_ng::from_str(
            "commonLabels:\n- {kind: Widget, path: spec/selector, create: true}\n- {path: metadata/labels, create: true}\nnameReference:\n- kind: ConfigMap\n  version: v1\n  fieldSpecs:\n  - {kind: HelmRelease, path: spec/valuesFrom/name}\n- kind: Widget\n  fieldSpecs:\n  - {kind: Gadget, path: spec/widget}\n",
        )
        .unwrap();
        let added = FieldTables {
            customized: true,
            ..added
        };
        tables.merge(added.clone()).unwrap();
        assert_eq!(
            tables.common_labels.len(),
            before + 1,
            "metadata/labels of any kind is there already"
        );
        let config_map = tables
            .name_reference
            .iter()
            .find(|b| b.kind == "ConfigMap")
            .unwrap();
        assert!(config_map
            .referrers
            .iter()
            .any(|r| r.kind == "HelmRelease" && r.path == "spec/valuesFrom/name"));
        assert!(tables.name_reference.iter().any(|b| b.kind == "Widget"));
        let len = tables.name_reference.len();
        tables.merge(added).unwrap();
        assert_eq!(
            tables.name_reference.len(),
            len,
            "merging twice adds nothing"
        );

        let mut conflict = FieldTables::defaults();
        let other = FieldTables {
            replicas: vec![spec("Deployment", "spec/replicas", false)],
            customized: true,
            ..FieldTables::default()
        };
        let e = conflict.merge(other).unwrap_err();
        assert!(
            e.starts_with(
                "replicas: conflicting field specs for 'spec/replicas' of kind Deployment"
            ),
            "{e}"
        );
    }

    #[test]
    fn configuration_files_are_read_strictly() {
        let e = serde_yaml_ng::from_str::<FieldTables>(
            "nameReference:\n- kind: ConfigMap\n  fieldSpec: []\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `fieldSpec`"), "{e}");
        let e =
            serde_yaml_ng::from_str::<FieldTables>("images:\n- {path: spec/image, crate: true}\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("unknown field `crate`"), "{e}");
        let e = serde_yaml_ng::from_str::<FieldTables>("nameReferences: []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `nameReferences`"), "{e}");
    }
}
