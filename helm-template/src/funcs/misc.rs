//! Sprig's defaults, flow, reflection, path, semver, regex and date functions, and Helm's
//! `required`, `fail`, `lookup` and `getHostByName`. (Helm deletes Sprig's `env` and
//! `expandenv`, so they do not exist here.)

use super::{Registry, Ty};
use crate::value::Value;

mod dates;
mod regex;
pub mod semver;

/// Helm wraps the messages of `required` and `fail` in these, to find them again in Go's
/// error text (`HELM_ERR_START…HELM_ERR_END`).
pub const WARN_START: &str = "HELM_ERR_START";
pub const WARN_END: &str = "HELM_ERR_END";

pub(super) fn register(r: &mut Registry) {
    r.add("required", &[Ty::String, Ty::Any], None, |a| match &a[1] {
        Value::Nil => Err(format!("{WARN_START}{}{WARN_END}", super::arg_str(a, 0))),
        Value::String(s) if s.is_empty() => {
            Err(format!("{WARN_START}{}{WARN_END}", super::arg_str(a, 0)))
        }
        v => Ok(v.clone()),
    });
    r.add("fail", &[Ty::String], None, |a| {
        Err(format!("{WARN_START}{}{WARN_END}", super::arg_str(a, 0)))
    });
    r.add("default", &[Ty::Any], Some(Ty::Any), |a| {
        let given = a.get(1).cloned().unwrap_or(Value::Nil);
        if !given.truth() {
            Ok(a[0].clone())
        } else {
            Ok(given)
        }
    });
    r.add("empty", &[Ty::Any], None, |a| {
        Ok(Value::Bool(!a[0].truth()))
    });
    r.add("coalesce", &[], Some(Ty::Any), |a| {
        Ok(a.iter().find(|v| v.truth()).cloned().unwrap_or(Value::Nil))
    });
    r.add("all", &[], Some(Ty::Any), |a| {
        Ok(Value::Bool(a.iter().all(|v| v.truth())))
    });
    r.add("any", &[], Some(Ty::Any), |a| {
        Ok(Value::Bool(a.iter().any(|v| v.truth())))
    });
    r.add("ternary", &[Ty::Any, Ty::Any, Ty::Bool], None, |a| {
        Ok(if matches!(a[2], Value::Bool(true)) {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    r.add("typeOf", &[Ty::Any], None, |a| {
        Ok(Value::string(a[0].type_name()))
    });
    r.add("typeIs", &[Ty::String, Ty::Any], None, |a| {
        Ok(Value::Bool(super::arg_str(a, 0) == a[1].type_name()))
    });
    r.add("typeIsLike", &[Ty::String, Ty::Any], None, |a| {
        let (target, t) = (super::arg_str(a, 0), a[1].type_name());
        Ok(Value::Bool(target == t || format!("*{target}") == t))
    });
    r.add("kindOf", &[Ty::Any], None, |a| {
        Ok(Value::str(a[0].kind_name()))
    });
    r.add("kindIs", &[Ty::String, Ty::Any], None, |a| {
        Ok(Value::Bool(super::arg_str(a, 0) == a[1].kind_name()))
    });
    r.add("deepEqual", &[Ty::Any, Ty::Any], None, |a| {
        Ok(Value::Bool(a[0].deep_equal(&a[1])))
    });
    r.add(
        "lookup",
        &[Ty::String, Ty::String, Ty::String, Ty::String],
        None,
        |_| Ok(Value::empty_map()),
    );
    r.add("hello", &[], None, |_| Ok(Value::str("Hello!")));
    r.add("getHostByName", &[Ty::String], None, |_| Ok(Value::str("")));
    for name in ["base", "osBase"] {
        r.add(name, &[Ty::String], None, |a| {
            Ok(Value::string(path_base(super::arg_str(a, 0))))
        });
    }
    for name in ["dir", "osDir"] {
        r.add(name, &[Ty::String], None, |a| {
            Ok(Value::string(path_dir(super::arg_str(a, 0))))
        });
    }
    for name in ["clean", "osClean"] {
        r.add(name, &[Ty::String], None, |a| {
            Ok(Value::string(path_clean(super::arg_str(a, 0))))
        });
    }
    for name in ["ext", "osExt"] {
        r.add(name, &[Ty::String], None, |a| {
            Ok(Value::string(path_ext(super::arg_str(a, 0)).to_string()))
        });
    }
    for name in ["isAbs", "osIsAbs"] {
        r.add(name, &[Ty::String], None, |a| {
            Ok(Value::Bool(super::arg_str(a, 0).starts_with('/')))
        });
    }
    semver::register(r);
    regex::register(r);
    dates::register(r);
}

// ---- Go's path package (filepath is the same on Linux) ----

/// `path.Clean`.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// `path.Base`.
pub fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    match trimmed.rfind('/') {
        Some(i) => trimmed[i + 1..].to_string(),
        None => trimmed.to_string(),
    }
}

/// `path.Dir`.
pub fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

/// `path.Ext`.
pub fn path_ext(p: &str) -> &str {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return &p[i..];
        }
    }
    ""
}
