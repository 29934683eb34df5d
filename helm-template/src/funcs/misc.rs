//! Sprig's defaults and flow functions, and Helm's `required` and `fail`.

use super::{Registry, Ty};
use crate::value::Value;

/// Helm wraps the messages of `required` and `fail` in these, to find them again in Go's
/// error text (`HELM_ERR_START…HELM_ERR_END`).
pub const WARN_START: &str = "HELM_ERR_START";
pub const WARN_END: &str = "HELM_ERR_END";

pub(super) fn register(r: &mut Registry) {
    r.add("required", &[Ty::String, Ty::Any], None, |a| match &a[1] {
        Value::Nil => Err(format!("{WARN_START}{}{WARN_END}", super::arg_str(a, 0))),
        Value::String(s) if s.is_empty() => Err(format!("{WARN_START}{}{WARN_END}", super::arg_str(a, 0))),
        v => Ok(v.clone()),
    });
    r.add("fail", &[Ty::String], None, |a| Err(format!("{WARN_START}{}{WARN_END}", super::arg_str(a, 0))));
    r.add("default", &[Ty::Any], Some(Ty::Any), |a| {
        let given = a.get(1).cloned().unwrap_or(Value::Nil);
        if empty(&given) {
            Ok(a[0].clone())
        } else {
            Ok(given)
        }
    });
}

/// Sprig's `empty`: the zero value of its type, or nil.
pub fn empty(v: &Value) -> bool {
    !v.truth()
}
