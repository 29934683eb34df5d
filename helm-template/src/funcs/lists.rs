//! Sprig's list functions (list.go, and `compact` from defaults.go).

use std::rc::Rc;

use super::math::{float_to_i64, to_int64};
use super::{arg_int, Registry, Ty};
use crate::value::{List, Value};

/// What Go says when Sprig calls `reflect.TypeOf(nil).Kind()`.
pub const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

pub(super) fn register(r: &mut Registry) {
    use Ty::{Any, Int};
    r.add("list", &[], Some(Any), |a| Ok(Value::list(a.to_vec())));
    r.add("tuple", &[], Some(Any), |a| Ok(Value::list(a.to_vec())));
    for name in ["append", "push", "mustAppend", "mustPush"] {
        r.add(name, &[Any, Any], None, |a| {
            let mut items = items(&a[0], "Cannot push on type")?.to_vec();
            items.push(a[1].clone());
            Ok(Value::list(items))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        r.add(name, &[Any, Any], None, |a| {
            let l = items(&a[0], "Cannot prepend on type")?;
            let mut out = Vec::with_capacity(l.len() + 1);
            out.push(a[1].clone());
            out.extend(l.iter().cloned());
            Ok(Value::list(out))
        });
    }
    for name in ["first", "mustFirst"] {
        r.add(name, &[Any], None, |a| {
            Ok(items(&a[0], "Cannot find first on type")?
                .first()
                .cloned()
                .unwrap_or(Value::Nil))
        });
    }
    for name in ["last", "mustLast"] {
        r.add(name, &[Any], None, |a| {
            Ok(items(&a[0], "Cannot find last on type")?
                .last()
                .cloned()
                .unwrap_or(Value::Nil))
        });
    }
    for name in ["rest", "mustRest"] {
        r.add(name, &[Any], None, |a| {
            let l = items(&a[0], "Cannot find rest on type")?;
            Ok(Value::list(l.get(1..).unwrap_or(&[]).to_vec()))
        });
    }
    for name in ["initial", "mustInitial"] {
        r.add(name, &[Any], None, |a| {
            let l = items(&a[0], "Cannot find initial on type")?;
            Ok(Value::list(l[..l.len().saturating_sub(1)].to_vec()))
        });
    }
    for name in ["reverse", "mustReverse"] {
        r.add(name, &[Any], None, |a| {
            Ok(Value::list(
                items(&a[0], "Cannot find reverse on type")?
                    .iter()
                    .rev()
                    .cloned()
                    .collect(),
            ))
        });
    }
    for name in ["compact", "mustCompact"] {
        r.add(name, &[Any], None, |a| {
            Ok(Value::list(
                items(&a[0], "Cannot compact on type")?
                    .iter()
                    .filter(|v| v.truth())
                    .cloned()
                    .collect(),
            ))
        });
    }
    for name in ["uniq", "mustUniq"] {
        r.add(name, &[Any], None, |a| {
            let mut out: Vec<Value> = Vec::new();
            for v in items(&a[0], "Cannot find uniq on type")? {
                if !out.iter().any(|o| v.deep_equal(o)) {
                    out.push(v.clone());
                }
            }
            Ok(Value::list(out))
        });
    }
    for name in ["without", "mustWithout"] {
        r.add(name, &[Any], Some(Any), |a| {
            let omit = &a[1..];
            let l = items(&a[0], "Cannot find without on type")?;
            Ok(Value::list(
                l.iter()
                    .filter(|v| !omit.iter().any(|o| v.deep_equal(o)))
                    .cloned()
                    .collect(),
            ))
        });
    }
    for name in ["has", "mustHas"] {
        r.add(name, &[Any, Any], None, |a| {
            if a[1].is_nil() {
                return Ok(Value::Bool(false));
            }
            Ok(Value::Bool(
                items(&a[1], "Cannot find has on type")?
                    .iter()
                    .any(|v| a[0].deep_equal(v)),
            ))
        });
    }
    for name in ["slice", "mustSlice"] {
        r.add(name, &[Any], Some(Any), slice);
    }
    r.add("concat", &[], Some(Any), |a| {
        let mut out = Vec::new();
        for l in a {
            match l {
                Value::Nil => return Err(NIL_DEREF.into()),
                Value::List(l) => out.extend(l.items.iter().cloned()),
                other => return Err(format!("Cannot concat type {} as list", other.kind_name())),
            }
        }
        Ok(Value::list(out))
    });
    for name in ["chunk", "mustChunk"] {
        r.add(name, &[Int, Any], None, |a| chunk(arg_int(a, 0), &a[1]));
    }
}

/// A list argument's items, or Sprig's error for anything else (a panic for nil).
fn items<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], String> {
    match v {
        Value::List(l) => Ok(&l.items),
        Value::Nil => Err(NIL_DEREF.into()),
        other => Err(format!("{what} {}", other.kind_name())),
    }
}

fn slice(a: &[Value]) -> Result<Value, String> {
    let l = match &a[0] {
        Value::List(l) => l,
        Value::Nil => return Err(NIL_DEREF.into()),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                other.kind_name()
            ))
        }
    };
    let len = l.items.len() as i64;
    if len == 0 {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map(to_int64).unwrap_or(0);
    let end = if a.len() < 3 { len } else { to_int64(&a[2]) };
    if start < 0 || end < start || end > len {
        return Err("reflect.Value.Slice: slice index out of bounds".into());
    }
    Ok(Value::List(List {
        kind: l.kind,
        items: Rc::new(l.items[start as usize..end as usize].to_vec()),
    }))
}

fn chunk(size: i64, list: &Value) -> Result<Value, String> {
    const MAKESLICE: &str = "runtime error: makeslice: len out of range";
    let l = items(list, "Cannot chunk type")?;
    let n = l.len() as i64;
    let cs = float_to_i64(((n - 1) as f64 / size as f64).floor() + 1.0);
    if cs < 0 {
        return Err(MAKESLICE.into());
    }
    let mut out = Vec::new();
    for i in 0..cs {
        let mut clen = size;
        if i == cs - 1 {
            clen = float_to_i64((n as f64 % size as f64).floor());
            if clen == 0 {
                clen = size;
            }
        }
        if clen < 0 {
            return Err(MAKESLICE.into());
        }
        let mut part = Vec::new();
        for j in 0..clen {
            let ix = i.wrapping_mul(size).wrapping_add(j);
            match usize::try_from(ix).ok().and_then(|ix| l.get(ix)) {
                Some(v) => part.push(v.clone()),
                None => return Err("reflect: slice index out of range".into()),
            }
        }
        out.push(Value::list(part));
    }
    Ok(Value::list(out))
}
