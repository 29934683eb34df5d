//! Helm's encoding functions: `toYaml`, `fromYaml`, `toJson`, `fromJson`, `toToml`, and
//! the values-file reader they share.

use super::Registry;
use crate::value::Value;

pub(super) fn register(_r: &mut Registry) {}

/// Reads a values file as Helm's `chartutil.ReadValues` (sigs.k8s.io/yaml) does: every
/// number a `float64`.
pub fn from_yaml_values(text: &str) -> Result<Value, String> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    Ok(Value::from_yaml_value(&doc, true))
}
