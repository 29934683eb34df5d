//! Sprig's list functions (list.go, and `compact` from defaults.go).

use std::rc::Rc;

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
                if !out.iter().any(|o| deep_equal(v, o)) {
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
                    .filter(|v| !omit.iter().any(|o| deep_equal(v, o)))
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
                    .any(|v| deep_equal(&a[0], v)),
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
    let start = a.get(1).map(cast_to_int).unwrap_or(0);
    let end = if a.len() < 3 { len } else { cast_to_int(&a[2]) };
    if start < 0 || end < start || end > len {
        return Err("reflect.Value.Slice: slice index out of bounds".into());
    }
    Ok(Value::List(List {
        kind: l.kind,
        items: Rc::new(l.items[start as usize..end as usize].to_vec()),
    }))
}

/// Go's conversion of a float64 to int on amd64: NaN and out-of-range give the minimum.
fn go_float_to_int(f: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-LIMIT..LIMIT).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

fn chunk(size: i64, list: &Value) -> Result<Value, String> {
    const MAKESLICE: &str = "runtime error: makeslice: len out of range";
    let l = items(list, "Cannot chunk type")?;
    let n = l.len() as i64;
    let cs = go_float_to_int(((n - 1) as f64 / size as f64).floor() + 1.0);
    if cs < 0 {
        return Err(MAKESLICE.into());
    }
    let mut out = Vec::new();
    for i in 0..cs {
        let mut clen = size;
        if i == cs - 1 {
            clen = go_float_to_int((n as f64 % size as f64).floor());
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

/// spf13/cast's `ToInt` (errors give 0).
pub fn cast_to_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => go_float_to_int(f.trunc()),
        Value::Bool(b) => *b as i64,
        Value::String(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// cast's `trimZeroDecimal`: "12.00" is "12".
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    let cleaned: String = if prefixed {
        if digits.contains("__") || digits.ends_with('_') {
            return None;
        }
        digits.replace('_', "")
    } else {
        if digits.contains('_') {
            return None;
        }
        digits
    };
    if cleaned.is_empty() {
        return None;
    }
    let mag = u64::from_str_radix(&cleaned, radix).ok()?;
    if neg {
        if mag > 1 << 63 {
            return None;
        }
        Some((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).ok()
    }
}

/// Go's `reflect.DeepEqual` on template values: equal types and equal contents.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.kind == y.kind
                && x.items.len() == y.items.len()
                && x.items
                    .iter()
                    .zip(y.items.iter())
                    .all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.kind != y.kind {
                return false;
            }
            if x.ptr_eq(y) {
                return true;
            }
            let (x, y) = (x.entries.borrow(), y.entries.borrow());
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.type_name() == y.type_name() && x.print() == y.print()
        }
        _ => false,
    }
}
