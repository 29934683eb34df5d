//! Sprig's dict functions (dict.go). Go maps are references: `set`, `unset` and the
//! `merge` family change their first argument in place and return it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::{arg_str, Registry, Ty};
use crate::funcs::strings::to_str;
use crate::value::{Map, MapKind, Value};

/// How deep `merge` follows nested maps before giving up (Go would overflow its stack on a
/// map that contains itself).
const MAX_MERGE_DEPTH: usize = 1000;

pub(super) fn register(r: &mut Registry) {
    use Ty::{Any, Map as M, String as S};
    r.add("dict", &[], Some(Any), |a| {
        let mut m = BTreeMap::new();
        for pair in a.chunks(2) {
            let value = pair.get(1).cloned().unwrap_or_else(|| Value::str(""));
            m.insert(to_str(&pair[0]), value);
        }
        Ok(Value::map(m))
    });
    r.add("get", &[M, S], None, |a| {
        Ok(map_of(&a[0])
            .and_then(|m| m.get(arg_str(a, 1)))
            .unwrap_or_else(|| Value::str("")))
    });
    r.add("set", &[M, S, Any], None, |a| {
        let Some(m) = map_of(&a[0]) else {
            return Err("assignment to entry in nil map".into());
        };
        m.insert(arg_str(a, 1).to_string(), a[2].clone());
        Ok(as_go_map(&a[0]))
    });
    r.add("unset", &[M, S], None, |a| {
        if let Some(m) = map_of(&a[0]) {
            m.entries.borrow_mut().remove(arg_str(a, 1));
        }
        Ok(as_go_map(&a[0]))
    });
    r.add("hasKey", &[M, S], None, |a| {
        Ok(Value::Bool(map_of(&a[0]).is_some_and(|m| {
            m.entries.borrow().contains_key(arg_str(a, 1))
        })))
    });
    r.add("pluck", &[S], Some(M), |a| {
        let key = arg_str(a, 0);
        Ok(Value::list(
            a[1..]
                .iter()
                .filter_map(|d| map_of(d).and_then(|m| m.get(key)))
                .collect(),
        ))
    });
    r.add("keys", &[], Some(M), |a| {
        let mut out = Vec::new();
        for d in a {
            if let Some(m) = map_of(d) {
                out.extend(m.entries.borrow().keys().cloned());
            }
        }
        Ok(Value::string_list(out))
    });
    r.add("values", &[M], None, |a| {
        Ok(Value::list(
            map_of(&a[0])
                .map(|m| m.entries.borrow().values().cloned().collect())
                .unwrap_or_default(),
        ))
    });
    r.add("pick", &[M], Some(S), |a| {
        let mut out = BTreeMap::new();
        if let Some(m) = map_of(&a[0]) {
            for k in &a[1..] {
                let k = k.as_str().unwrap_or("");
                if let Some(v) = m.get(k) {
                    out.insert(k.to_string(), v);
                }
            }
        }
        Ok(Value::map(out))
    });
    r.add("omit", &[M], Some(S), |a| {
        let omit: Vec<&str> = a[1..].iter().map(|k| k.as_str().unwrap_or("")).collect();
        let mut out = BTreeMap::new();
        if let Some(m) = map_of(&a[0]) {
            for (k, v) in m.entries.borrow().iter() {
                if !omit.contains(&k.as_str()) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Value::map(out))
    });
    r.add("merge", &[M], Some(M), |a| merge(a, false));
    r.add("mustMerge", &[M], Some(M), |a| merge(a, false));
    r.add("mergeOverwrite", &[M], Some(M), |a| merge(a, true));
    r.add("mustMergeOverwrite", &[M], Some(M), |a| merge(a, true));
    for name in ["deepCopy", "mustDeepCopy"] {
        r.add(name, &[Any], None, |a| match &a[0] {
            Value::Nil => Err("reflect: call of reflect.Value.Type on zero Value".into()),
            v => Ok(v.deep_copy()),
        });
    }
    r.add("dig", &[], Some(Any), dig);
}

fn map_of(v: &Value) -> Option<&Map> {
    match v {
        Value::Map(m) => Some(m),
        _ => None,
    }
}

/// The map as a `map[string]interface {}` (the same map: a `chartutil.Values` passed to a
/// Sprig function comes back with the plain map type). Nil is an empty map.
fn as_go_map(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(Map {
            kind: MapKind::Any,
            entries: m.entries.clone(),
        }),
        _ => Value::empty_map(),
    }
}

fn merge(a: &[Value], overwrite: bool) -> Result<Value, String> {
    let dst = match &a[0] {
        Value::Map(m) => Map {
            kind: MapKind::Any,
            entries: m.entries.clone(),
        },
        _ => Map {
            kind: MapKind::Any,
            entries: Rc::new(RefCell::new(BTreeMap::new())),
        },
    };
    for src in &a[1..] {
        if let Some(src) = map_of(src) {
            merge_into(&dst, src, overwrite, 0)?;
        }
    }
    Ok(Value::Map(dst))
}

/// mergo's `deepMerge` of two `map[string]interface {}` (`Merge`, or `MergeWithOverwrite`).
fn merge_into(dst: &Map, src: &Map, overwrite: bool, depth: usize) -> Result<(), String> {
    if depth > MAX_MERGE_DEPTH {
        return Err("merge: maps nested too deeply".into());
    }
    let entries = src.snapshot();
    for (key, sv) in entries {
        let dv = dst.get(&key);
        if sv.is_nil() {
            if overwrite {
                dst.insert(key, Value::Nil);
            }
            continue;
        }
        if let (Value::Map(sm), Some(Value::Map(dm))) = (&sv, &dv) {
            merge_into(dm, sm, overwrite, depth + 1)?;
        }
        if let Some(d) = &dv {
            if d.truth() {
                if matches!(sv, Value::List(_)) {
                    // mergo's slice branch has already put the source list in when overwriting.
                    if overwrite {
                        dst.insert(key, sv);
                    }
                    continue;
                }
                if matches!(sv, Value::Map(_)) && matches!(d, Value::Map(_)) {
                    continue;
                }
            }
        }
        if overwrite || dv.as_ref().is_none_or(|v| !v.truth()) {
            dst.insert(key, sv);
        }
    }
    Ok(())
}

/// Go's message for a failed type assertion `x.(T)`.
fn assertion(v: &Value, want: &str) -> String {
    let got = if v.is_nil() {
        "nil".to_string()
    } else {
        v.type_name()
    };
    format!("interface conversion: interface {{}} is {got}, not {want}")
}

fn dig(a: &[Value]) -> Result<Value, String> {
    if a.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let as_dict = |v: &Value| -> Result<Map, String> {
        match v {
            Value::Map(m) if m.kind == MapKind::Any => Ok(m.clone()),
            other => Err(assertion(other, "map[string]interface {}")),
        }
    };
    let mut dict = as_dict(&a[a.len() - 1])?;
    let default = &a[a.len() - 2];
    let mut keys = Vec::new();
    for k in &a[..a.len() - 2] {
        match k {
            Value::String(s) => keys.push(s.clone()),
            other => return Err(assertion(other, "string")),
        }
    }
    for (i, k) in keys.iter().enumerate() {
        let Some(step) = dict.get(k) else {
            return Ok(default.clone());
        };
        if i == keys.len() - 1 {
            return Ok(step);
        }
        dict = as_dict(&step)?;
    }
    Ok(default.clone())
}
