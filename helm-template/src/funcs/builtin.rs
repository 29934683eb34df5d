//! Go's own template functions: `and`, `or`, `not`, `len`, `index`, `slice`, `print…`,
//! `html`, `js`, `urlquery`, `call` and the comparisons.

use super::{Imp, Registry, Ty};
use crate::gofmt;
use crate::value::{List, MapKind, Value};

pub(super) fn register(r: &mut Registry) {
    r.special("and", &[Ty::Reflect], Some(Ty::Reflect), Imp::And);
    r.special("or", &[Ty::Reflect], Some(Ty::Reflect), Imp::Or);
    r.special("call", &[Ty::Reflect], Some(Ty::Reflect), Imp::Call);
    r.add("not", &[Ty::Reflect], None, |a| {
        Ok(Value::Bool(!a[0].truth()))
    });
    r.add("len", &[Ty::Reflect], None, length);
    r.add("index", &[Ty::Reflect], Some(Ty::Reflect), index);
    r.add("slice", &[Ty::Reflect], Some(Ty::Reflect), slice);
    r.add("print", &[], Some(Ty::Any), |a| {
        Ok(Value::string(gofmt::sprint(a)))
    });
    r.add("println", &[], Some(Ty::Any), |a| {
        Ok(Value::string(gofmt::sprintln(a)))
    });
    r.add("printf", &[Ty::String], Some(Ty::Any), |a| {
        Ok(Value::string(gofmt::sprintf(
            a[0].as_str().unwrap_or(""),
            &a[1..],
        )))
    });
    r.add("html", &[], Some(Ty::Any), |a| {
        Ok(Value::string(html_escape(&eval_args(a))))
    });
    r.add("js", &[], Some(Ty::Any), |a| {
        Ok(Value::string(js_escape(&eval_args(a))))
    });
    r.add("urlquery", &[], Some(Ty::Any), |a| {
        Ok(Value::string(query_escape(&eval_args(a))))
    });
    r.add("eq", &[Ty::Reflect], Some(Ty::Reflect), |a| {
        if a.len() < 2 {
            return Err("missing argument for comparison".into());
        }
        for b in &a[1..] {
            if eq(&a[0], b)? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    });
    r.add("ne", &[Ty::Reflect, Ty::Reflect], None, |a| {
        Ok(Value::Bool(!eq(&a[0], &a[1])?))
    });
    r.add("lt", &[Ty::Reflect, Ty::Reflect], None, |a| {
        Ok(Value::Bool(lt(&a[0], &a[1])?))
    });
    r.add("le", &[Ty::Reflect, Ty::Reflect], None, |a| {
        Ok(Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1])?))
    });
    r.add("gt", &[Ty::Reflect, Ty::Reflect], None, |a| {
        Ok(Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1])?)))
    });
    r.add("ge", &[Ty::Reflect, Ty::Reflect], None, |a| {
        Ok(Value::Bool(!lt(&a[0], &a[1])?))
    });
}

/// Go's `evalArgs` for the escapers: one string as is, anything else through `fmt.Sprint`.
fn eval_args(a: &[Value]) -> String {
    if let [Value::String(s)] = a {
        return s.to_string();
    }
    let printable: Vec<Value> = a
        .iter()
        .map(|v| {
            if v.is_nil() {
                Value::str("<no value>")
            } else {
                v.clone()
            }
        })
        .collect();
    gofmt::sprint(&printable)
}

fn length(a: &[Value]) -> Result<Value, String> {
    match &a[0] {
        Value::Nil => Err("len of nil pointer".into()),
        v => match v.length() {
            Some(n) => Ok(Value::Int(n as i64)),
            None => Err(format!("len of type {}", v.type_name())),
        },
    }
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x: i128 = match index {
        Value::Int(i) | Value::Int64(i) => *i as i128,
        Value::Uint(u) => *u as i128,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if x < 0 || x > cap as i128 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(a: &[Value]) -> Result<Value, String> {
    let mut item = a[0].clone();
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    // A byte of a string is a Go uint8, which our values hold as a uint64.
    let mut byte = false;
    for idx in &a[1..] {
        if byte {
            return Err("can't index item of type uint8".into());
        }
        item = match &item {
            Value::Nil => return Err("index of nil pointer".into()),
            Value::List(l) => {
                let x = index_arg(idx, l.items.len())?;
                match l.items.get(x) {
                    Some(v) => v.clone(),
                    None => return Err("reflect: slice index out of range".into()),
                }
            }
            Value::String(s) => {
                let x = index_arg(idx, s.len())?;
                byte = true;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Uint(*b as u64),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            Value::Map(m) => match idx {
                Value::String(k) => match m.get(k) {
                    Some(v) => v,
                    None if m.kind == MapKind::String => Value::str(""),
                    None => Value::Nil,
                },
                Value::Nil => return Err("value is nil; should be of type string".into()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(a: &[Value]) -> Result<Value, String> {
    let item = &a[0];
    if item.is_nil() {
        return Err("slice of untyped nil".into());
    }
    let indexes = &a[1..];
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.items.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::String(s) => match s.get(idx[0]..idx[1]) {
            Some(sub) => Value::str(sub),
            None => {
                Value::string(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
            }
        },
        Value::List(l) => Value::List(List {
            kind: l.kind,
            items: std::rc::Rc::new(l.items[idx[0]..idx[1]].to_vec()),
        }),
        _ => unreachable!("checked above"),
    })
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

fn uint_of(v: &Value) -> u64 {
    match v {
        Value::Uint(u) => *u,
        _ => 0,
    }
}

/// Go's `eq` for one pair.
pub fn eq(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) => Ok(int_of(a) >= 0 && int_of(a) as u64 == uint_of(b)),
            (Kind::Uint, Kind::Int) => Ok(int_of(b) >= 0 && uint_of(a) == int_of(b) as u64),
            _ if !a.is_nil() && !b.is_nil() => Err(format!(
                "incompatible types for comparison: {} and {}",
                a.type_name(),
                b.type_name()
            )),
            _ => Ok(false),
        };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        _ if k1 == Kind::Int => int_of(a) == int_of(b),
        _ if k1 == Kind::Uint => uint_of(a) == uint_of(b),
        (Value::Nil, Value::Nil) => true,
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::Map(_), _) | (Value::List(_), _) => {
            let different_kind = std::mem::discriminant(a) != std::mem::discriminant(b);
            if different_kind {
                return Err(format!(
                    "non-comparable types {}: {}, {}: {}",
                    gofmt::to_string(a),
                    a.type_name(),
                    b.type_name(),
                    gofmt::to_string(b)
                ));
            }
            return Err(format!(
                "non-comparable type {}: {}",
                gofmt::sprintf("%s", std::slice::from_ref(b)),
                b.type_name()
            ));
        }
        (Value::Object(x), Value::Object(y)) => std::rc::Rc::ptr_eq(x, y),
        _ => {
            return Err(format!(
                "non-comparable types {}: {}, {}: {}",
                gofmt::to_string(a),
                a.type_name(),
                b.type_name(),
                gofmt::to_string(b)
            ))
        }
    })
}

/// Go's `lt`.
pub fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    if k1 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    let k2 = basic_kind(b);
    if k2 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) => Ok(int_of(a) < 0 || (int_of(a) as u64) < uint_of(b)),
            (Kind::Uint, Kind::Int) => Ok(int_of(b) >= 0 && uint_of(a) < int_of(b) as u64),
            _ => Err(format!(
                "incompatible types for comparison: {} and {}",
                a.type_name(),
                b.type_name()
            )),
        };
    }
    Ok(match (a, b) {
        (Value::Bool(_), _) => return Err("invalid type for comparison".into()),
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(x), Value::String(y)) => x.as_bytes() < y.as_bytes(),
        _ if k1 == Kind::Int => int_of(a) < int_of(b),
        _ => uint_of(a) < uint_of(b),
    })
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
