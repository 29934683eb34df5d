//! Sprig's string functions.

use super::{Registry, Ty};
use crate::gofmt;
use crate::value::Value;

pub(super) fn register(r: &mut Registry) {
    r.add("quote", &[], Some(Ty::Any), |a| {
        let parts: Vec<String> =
            a.iter().filter(|v| !v.is_nil()).map(|v| gofmt::quote(&to_str(v))).collect();
        Ok(Value::string(parts.join(" ")))
    });
    r.add("indent", &[Ty::Int, Ty::String], None, |a| {
        Ok(Value::string(indent(super::arg_int(a, 0), super::arg_str(a, 1))))
    });
    r.add("nindent", &[Ty::Int, Ty::String], None, |a| {
        Ok(Value::string(format!("\n{}", indent(super::arg_int(a, 0), super::arg_str(a, 1)))))
    });
}

/// Sprig's `strval`: a string as is, anything else in Go's default format.
pub fn to_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => gofmt::to_string(other),
    }
}

fn indent(spaces: i64, s: &str) -> String {
    let pad = " ".repeat(spaces.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}
