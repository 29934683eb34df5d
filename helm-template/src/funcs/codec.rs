//! Helm's encoding functions (`toYaml`, `toYamlPretty`, `fromYaml`, `fromYamlArray`,
//! `toJson`, `fromJson`, `fromJsonArray`, `toToml`, `fromToml`), Sprig's JSON functions, and
//! the values-file reader they share with Helm's `chartutil.ReadValues`.
//!
//! `toYaml` is sigs.k8s.io/yaml's Marshal: encoding/json first, then go-yaml v2 reads that
//! JSON (integers stay integers) and writes YAML. Reading YAML is sigs.k8s.io/yaml's
//! Unmarshal: go-yaml v2 (YAML 1.1: `yes`/`on` are booleans) into `interface{}`, then JSON
//! and back, so every number becomes a float64.

mod emit;
mod json;
mod load;
mod resolve;
mod toml;

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{Registry, Ty};
use crate::value::Value;
use emit::{Node, Style};
use load::YNode;
use resolve::Resolved;

pub(super) fn register(r: &mut Registry) {
    r.add("toYaml", &[Ty::Any], None, |a| {
        Ok(Value::string(to_yaml(&a[0]).unwrap_or_default()))
    });
    r.add("toYamlPretty", &[Ty::Any], None, |a| {
        Ok(Value::string(to_yaml_pretty(&a[0])))
    });
    r.add("fromYaml", &[Ty::String], None, |a| {
        Ok(from_yaml_map(super::arg_str(a, 0)))
    });
    r.add("fromYamlArray", &[Ty::String], None, |a| {
        Ok(from_yaml_array(super::arg_str(a, 0)))
    });
    r.add("toJson", &[Ty::Any], None, |a| {
        Ok(Value::string(
            json::encode(&a[0], true, None).unwrap_or_default(),
        ))
    });
    r.add("mustToJson", &[Ty::Any], None, |a| {
        json::encode(&a[0], true, None).map(Value::string)
    });
    r.add("toPrettyJson", &[Ty::Any], None, |a| {
        Ok(Value::string(
            json::encode(&a[0], true, Some("  ")).unwrap_or_default(),
        ))
    });
    r.add("mustToPrettyJson", &[Ty::Any], None, |a| {
        json::encode(&a[0], true, Some("  ")).map(Value::string)
    });
    // Sprig's toRawJson panics on an error; text/template reports the panic as the call's error.
    r.add("toRawJson", &[Ty::Any], None, |a| {
        json::encode(&a[0], false, None).map(Value::string)
    });
    r.add("mustToRawJson", &[Ty::Any], None, |a| {
        json::encode(&a[0], false, None).map(Value::string)
    });
    r.add("fromJson", &[Ty::String], None, |a| {
        Ok(from_json_map(super::arg_str(a, 0)))
    });
    r.add("fromJsonArray", &[Ty::String], None, |a| {
        Ok(from_json_array(super::arg_str(a, 0)))
    });
    r.add("mustFromJson", &[Ty::String], None, |a| {
        json::decode(super::arg_str(a, 0))
    });
    r.add("toToml", &[Ty::Any], None, |a| {
        if a[0].is_nil() {
            // toml's encoder panics on an untyped nil; text/template reports the panic.
            return Err("reflect: call of reflect.Value.Type on zero Value".into());
        }
        Ok(Value::string(toml::encode(&a[0])))
    });
    r.add("fromToml", &[Ty::String], None, |a| {
        Ok(toml::decode_map(super::arg_str(a, 0)))
    });
}

// ------------------------------------------------------------------ writing YAML

/// go-yaml's key order (sorter.go): numbers inside keys compare by value, letters before
/// other characters.
fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let digit = |c: char| c.is_ascii_digit();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(ar[ai]) {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(br[bi]) {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// Sorts by go-yaml's key order with a merge sort, which cannot fail on an inconsistent order.
fn sort_keys<T>(items: Vec<(String, T)>) -> Vec<(String, T)> {
    if items.len() <= 1 {
        return items;
    }
    let mut items = items;
    let right = items.split_off(items.len() / 2);
    let (left, right) = (sort_keys(items), sort_keys(right));
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => {
                if key_less(&b.0, &a.0) {
                    out.extend(r.next());
                } else {
                    out.extend(l.next());
                }
            }
            (Some(_), None) => out.extend(l.next()),
            (None, Some(_)) => out.extend(r.next()),
            (None, None) => break,
        }
    }
    out
}

/// go-yaml reads the JSON that encoding/json wrote, where U+0085 (NEL) stays unescaped: in
/// a double-quoted scalar it is a line break, so it folds as line breaks fold.
fn fold_nel(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\u{85}') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{85}' {
            out.push(c);
            continue;
        }
        while out.ends_with(' ') {
            out.pop();
        }
        let mut breaks = 1;
        while let Some(&n) = chars.peek() {
            match n {
                ' ' => {}
                '\u{85}' => breaks += 1,
                _ => break,
            }
            chars.next();
        }
        if breaks == 1 {
            out.push(' ');
        } else {
            out.extend(std::iter::repeat_n('\n', breaks - 1));
        }
    }
    out.into()
}

fn v2_string(s: &str) -> Node {
    let s = &*fold_nel(s);
    let style = if s.contains('\n') {
        Style::Literal
    } else if resolve_str(s) && !resolve::is_base60_float(s) {
        Style::Plain
    } else {
        Style::Double
    };
    Node::Scalar(s.to_string(), style)
}

fn resolve_str(s: &str) -> bool {
    resolve::resolve(s) == Resolved::Str
}

fn v3_string(s: &str) -> Node {
    let style = if s.contains('\n') {
        Style::Literal
    } else if resolve_str(s) && !resolve::is_base60_float(s) && !resolve::is_old_bool(s) {
        Style::Plain
    } else {
        Style::Double
    };
    Node::Scalar(s.to_string(), style)
}

/// The document go-yaml v2 writes for the JSON of `v`.
fn v2_node(v: &Value, depth: usize) -> Result<Node, String> {
    if depth > crate::value::MAX_VALUE_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    let plain = |s: String| Ok(Node::Scalar(s, Style::Plain));
    match v {
        Value::Nil => plain("null".into()),
        Value::Bool(b) => plain(b.to_string()),
        Value::Int(i) | Value::Int64(i) => plain(i.to_string()),
        Value::Uint(u) => plain(u.to_string()),
        Value::Float(f) => {
            let text = json::format_float(*f)?;
            plain(match resolve::resolve(&text) {
                Resolved::Int(i) => i.to_string(),
                Resolved::Uint(u) => u.to_string(),
                _ => crate::gofmt::format_g(*f, None, false, false),
            })
        }
        Value::String(s) => Ok(v2_string(s)),
        Value::List(l) => Ok(Node::Seq(
            l.items
                .iter()
                .map(|i| v2_node(i, depth + 1))
                .collect::<Result<_, _>>()?,
        )),
        Value::Map(m) => {
            let entries = m.snapshot();
            let mut out = Vec::new();
            for (k, v) in sort_keys(entries) {
                out.push((v2_string(&k), v2_node(&v, depth + 1)?));
            }
            Ok(Node::Map(out))
        }
        Value::Object(o) => v2_node(&o.to_plain(), depth + 1),
    }
}

/// The document go-yaml v3 writes for `v` itself.
fn v3_node(v: &Value, depth: usize) -> Node {
    let plain = |s: String| Node::Scalar(s, Style::Plain);
    if depth > crate::value::MAX_VALUE_DEPTH {
        return plain("null".into());
    }
    match v {
        Value::Nil => plain("null".into()),
        Value::Bool(b) => plain(b.to_string()),
        Value::Int(i) | Value::Int64(i) => plain(i.to_string()),
        Value::Uint(u) => plain(u.to_string()),
        Value::Float(f) => plain(
            match crate::gofmt::format_g(*f, None, false, false).as_str() {
                "+Inf" => ".inf".into(),
                "-Inf" => "-.inf".into(),
                "NaN" => ".nan".into(),
                s => s.to_string(),
            },
        ),
        Value::String(s) => v3_string(s),
        Value::List(l) => Node::Seq(l.items.iter().map(|i| v3_node(i, depth + 1)).collect()),
        Value::Map(m) => {
            let entries = m.snapshot();
            Node::Map(
                sort_keys(entries)
                    .into_iter()
                    .map(|(k, v)| (v3_string(&k), v3_node(&v, depth + 1)))
                    .collect(),
            )
        }
        Value::Object(o) => v3_node(&o.to_plain(), depth + 1),
    }
}

/// sigs.k8s.io/yaml's Marshal, less the final line break (Helm's `toYaml`); None on error.
pub fn to_yaml(v: &Value) -> Option<String> {
    let node = v2_node(v, 0).ok()?;
    let out = emit::emit(
        &node,
        &emit::Config {
            width: 80,
            indentless: true,
        },
    );
    Some(out.strip_suffix('\n').unwrap_or(&out).to_string())
}

fn to_yaml_pretty(v: &Value) -> String {
    let out = emit::emit(
        &v3_node(v, 0),
        &emit::Config {
            width: usize::MAX / 2,
            indentless: false,
        },
    );
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

// ------------------------------------------------------------------ reading YAML

/// What go-yaml v2 decodes into `interface{}`.
enum GoY {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<GoY>),
    Map(Vec<(GoY, GoY)>),
}

impl GoY {
    fn same_key(&self, other: &GoY) -> bool {
        match (self, other) {
            (GoY::Nil, GoY::Nil) => true,
            (GoY::Bool(a), GoY::Bool(b)) => a == b,
            (GoY::Int(a), GoY::Int(b)) => a == b,
            (GoY::Uint(a), GoY::Uint(b)) => a == b,
            (GoY::Float(a), GoY::Float(b)) => a == b,
            (GoY::Str(a), GoY::Str(b)) => a == b,
            _ => false,
        }
    }
}

struct Decoder {
    decode_count: usize,
    alias_count: usize,
}

fn tag_name(r: &Resolved) -> &'static str {
    match r {
        Resolved::Null => "!!null",
        Resolved::Bool(_) => "!!bool",
        Resolved::Int(_) | Resolved::Uint(_) => "!!int",
        Resolved::Float(_) => "!!float",
        Resolved::Timestamp => "!!timestamp",
        Resolved::Str => "!!str",
    }
}

impl Decoder {
    fn count(&mut self) -> Result<(), String> {
        self.decode_count += 1;
        if self.decode_count > 5_000_000 {
            return Err("yaml: document contains excessive aliasing".into());
        }
        Ok(())
    }

    fn scalar(&self, value: &str, plain: bool, tag: Option<&str>) -> Result<GoY, String> {
        const P: &str = "tag:yaml.org,2002:";
        let short = tag.map(|t| {
            t.strip_prefix(P)
                .map(|s| format!("!!{s}"))
                .unwrap_or_else(|| t.to_string())
        });
        let r = match short.as_deref() {
            None if !plain => return Ok(GoY::Str(value.to_string())),
            None => resolve::resolve(value),
            Some("!!str") | Some("!!binary") => return Ok(GoY::Str(value.to_string())),
            Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
                let r = if value.is_empty() {
                    Resolved::Null
                } else {
                    resolve::resolve(value)
                };
                let got = tag_name(&r);
                if got != t && got != "!!null" {
                    match (t, &r) {
                        ("!!float", Resolved::Int(i)) => Resolved::Float(*i as f64),
                        _ => return Err(format!("yaml: cannot decode {got} `{value}` as a {t}")),
                    }
                } else if got == "!!null" && t != "!!null" {
                    return Err(format!("yaml: cannot decode !!null `{value}` as a {t}"));
                } else {
                    r
                }
            }
            Some(_) => return Ok(GoY::Str(value.to_string())),
        };
        Ok(match r {
            Resolved::Null => GoY::Nil,
            Resolved::Bool(b) => GoY::Bool(b),
            Resolved::Int(i) => GoY::Int(i),
            Resolved::Uint(u) => GoY::Uint(u),
            Resolved::Float(f) => GoY::Float(f),
            Resolved::Timestamp | Resolved::Str => GoY::Str(value.to_string()),
        })
    }

    fn node(&mut self, n: &Rc<YNode>, alias_depth: usize) -> Result<GoY, String> {
        self.count()?;
        if alias_depth > 0 {
            self.alias_count += 1;
        }
        if self.alias_count > 100 && self.decode_count > 1000 {
            let ratio = self.alias_count as f64 / self.decode_count as f64;
            let allowed = if self.decode_count <= 400_000 {
                0.99
            } else if self.decode_count >= 4_000_000 {
                0.10
            } else {
                0.99 - 0.89 * ((self.decode_count - 400_000) as f64 / 3_600_000.0)
            };
            if ratio > allowed {
                return Err("yaml: document contains excessive aliasing".into());
            }
        }
        let shared = Rc::strong_count(n) > 1;
        let depth = alias_depth + usize::from(shared);
        match &**n {
            YNode::Scalar { value, plain, tag } => self.scalar(value, *plain, tag.as_deref()),
            YNode::Seq(items) => Ok(GoY::Seq(
                items
                    .iter()
                    .map(|i| self.node(i, depth))
                    .collect::<Result<_, _>>()?,
            )),
            YNode::Map(entries) => {
                let mut out: Vec<(GoY, GoY)> = Vec::new();
                self.map_into(entries, &mut out, depth)?;
                Ok(GoY::Map(out))
            }
        }
    }

    fn set(out: &mut Vec<(GoY, GoY)>, k: GoY, v: GoY) {
        if let Some(slot) = out.iter_mut().find(|(ok, _)| ok.same_key(&k)) {
            slot.1 = v;
        } else {
            out.push((k, v));
        }
    }

    fn map_into(
        &mut self,
        entries: &[(Rc<YNode>, Rc<YNode>)],
        out: &mut Vec<(GoY, GoY)>,
        depth: usize,
    ) -> Result<(), String> {
        for (k, v) in entries {
            let is_merge = matches!(&**k, YNode::Scalar { value, plain, tag }
                if value == "<<" && (*plain || tag.as_deref() == Some("tag:yaml.org,2002:merge")));
            if is_merge {
                self.merge(v, out, depth)?;
                continue;
            }
            let key = self.node(k, depth)?;
            if matches!(key, GoY::Seq(_) | GoY::Map(_)) {
                return Err("yaml: invalid map key".into());
            }
            let value = self.node(v, depth)?;
            Self::set(out, key, value);
        }
        Ok(())
    }

    fn merge(
        &mut self,
        n: &Rc<YNode>,
        out: &mut Vec<(GoY, GoY)>,
        depth: usize,
    ) -> Result<(), String> {
        const WANT: &str = "yaml: map merge requires map or sequence of maps as the value";
        self.count()?;
        match &**n {
            YNode::Map(entries) => {
                self.map_into(entries, out, depth + usize::from(Rc::strong_count(n) > 1))
            }
            YNode::Seq(items) => {
                for item in items.iter().rev() {
                    self.count()?;
                    match &**item {
                        YNode::Map(entries) => self.map_into(entries, out, depth + 1)?,
                        _ => return Err(WANT.into()),
                    }
                }
                Ok(())
            }
            _ => Err(WANT.into()),
        }
    }
}

/// strconv.FormatFloat(f, 'g', -1, 32), the way sigs.k8s.io/yaml names a float key.
fn format_g32(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return ".nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let s = format!("{:e}", x.abs());
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = e.parse().unwrap_or(0);
    let sign = if x < 0.0 { "-" } else { "" };
    // 'g' with the shortest digits: an exponent below -4 or from 6 up takes the 'e' form.
    if !(-4..6).contains(&exp) {
        let mut out = format!("{sign}{}", &digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
        return out;
    }
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{body}")
}

/// sigs.k8s.io/yaml's convertToJSONableObject, then encoding/json's round trip into
/// `interface{}`: keys become strings, numbers float64, NaN and infinities an error.
fn to_json_value(y: GoY) -> Result<Value, String> {
    Ok(match y {
        GoY::Nil => Value::Nil,
        GoY::Bool(b) => Value::Bool(b),
        GoY::Int(i) => Value::Float(i as f64),
        GoY::Uint(u) => Value::Float(u as f64),
        GoY::Float(f) => {
            json::format_float(f)?;
            Value::Float(f)
        }
        GoY::Str(s) => Value::string(s),
        GoY::Seq(items) => Value::list(
            items
                .into_iter()
                .map(to_json_value)
                .collect::<Result<_, _>>()?,
        ),
        GoY::Map(entries) => {
            let mut keyed = BTreeMap::new();
            for (k, v) in entries {
                let key = match k {
                    GoY::Str(s) => s,
                    GoY::Int(i) => i.to_string(),
                    GoY::Float(f) => format_g32(f),
                    GoY::Bool(b) => b.to_string(),
                    GoY::Nil => {
                        return Err(format!(
                            "unsupported map key of type: %!s(<nil>), key: <nil>, value: {}",
                            go_repr(&v)
                        ))
                    }
                    GoY::Uint(u) => {
                        return Err(format!(
                            "unsupported map key of type: uint64, key: 0x{u:x}, value: {}",
                            go_repr(&v)
                        ))
                    }
                    GoY::Seq(_) | GoY::Map(_) => return Err("yaml: invalid map key".into()),
                };
                keyed.insert(key, v);
            }
            let mut out = BTreeMap::new();
            for (k, v) in keyed {
                out.insert(k, to_json_value(v)?);
            }
            Value::map(out)
        }
    })
}

/// Go's `%+#v` of a decoded value, for the rare key error.
fn go_repr(v: &GoY) -> String {
    match v {
        GoY::Nil => "<nil>".into(),
        GoY::Bool(b) => b.to_string(),
        GoY::Int(i) => i.to_string(),
        GoY::Uint(u) => format!("0x{u:x}"),
        GoY::Float(f) => crate::gofmt::format_g(*f, None, false, false),
        GoY::Str(s) => crate::gofmt::quote(s),
        GoY::Seq(_) => "[]interface {}{...}".into(),
        GoY::Map(_) => "map[interface {}]interface {}{...}".into(),
    }
}

/// Whether brackets and braces (quoted or not: an upper bound) nest past the loader's depth.
fn may_nest_deeply(text: &str) -> bool {
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > load::MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The libyaml problem behind a syntax error, worded as go-yaml words it ("yaml: line N: …").
fn syntax_error(text: &str) -> Option<String> {
    let err = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).err()?;
    let msg = err.to_string();
    if msg.starts_with("duplicate entry") || msg.contains("more than one document") {
        return None;
    }
    let problem = msg.split(" at line ").next().unwrap_or(&msg);
    let problem = problem
        .split(", while ")
        .next()
        .unwrap_or(problem)
        .to_string();
    let scanner = matches!(
        problem.as_str(),
        "mapping values are not allowed in this context"
            | "found character that cannot start any token"
            | "found unexpected end of stream"
            | "could not find expected ':'"
            | "block sequence entries are not allowed in this context"
            | "found unknown escape character"
            | "did not find expected comment or line break"
            | "found unexpected document indicator"
            | "found a tab character that violates indentation"
            | "found a tab character where an indentation space is expected"
            | "did not find expected alphabetic or numeric character"
            | "did not find expected hexdecimal number"
            | "found invalid Unicode character escape code"
            | "found an indentation indicator equal to 0"
            | "did not find expected whitespace or line break"
            | "did not find URI escaped octet"
            | "did not find expected tag URI"
            | "did not find expected '>'"
            | "found extra characters"
            | "control characters are not allowed"
            | "mapping keys are not allowed in this context"
    );
    let parser = matches!(
        problem.as_str(),
        "did not find expected key"
            | "did not find expected node content"
            | "did not find expected '-' indicator"
            | "did not find expected ',' or ']'"
            | "did not find expected ',' or '}'"
            | "did not find expected <document start>"
            | "found undefined tag handle"
            | "found duplicate %YAML directive"
            | "found incompatible YAML document"
            | "found duplicate %TAG directive"
    );
    if !scanner && !parser {
        return None;
    }
    // go-yaml's parser.fail: the problem's 0-based line (plus one for scanner errors) when it
    // is not 0, else the context's 0-based line when that is not 0, else no line at all.
    let problem_line = err
        .location()
        .map(|l| l.line().saturating_sub(1))
        .unwrap_or(0);
    let context_line = msg
        .split_once(", while ")
        .and_then(|(_, c)| c.rsplit_once(" at line "))
        .and_then(|(_, at)| at.split(' ').next()?.parse::<usize>().ok())
        .map(|l| l.saturating_sub(1))
        .unwrap_or(0);
    let line = if problem_line != 0 {
        problem_line + usize::from(scanner)
    } else {
        context_line
    };
    Some(if line > 0 {
        format!("yaml: line {line}: {problem}")
    } else {
        format!("yaml: {problem}")
    })
}

/// go-yaml v2's Unmarshal of the first document, then sigs.k8s.io/yaml's JSON round trip.
/// Errors carry sigs.k8s.io/yaml's prefix.
fn yaml_to_json_value(text: &str) -> Result<Value, String> {
    let wrap = |e: String| format!("error converting YAML to JSON: {e}");
    // libyaml takes time quadratic in the depth of flow collections: text that may nest
    // deeper than our loader allows goes to the loader alone, which refuses it at once.
    if !may_nest_deeply(text) {
        if let Some(e) = syntax_error(text) {
            return Err(wrap(e));
        }
    }
    let mut loader = load::Loader::new(text);
    let root = loader.document().map_err(wrap)?;
    let Some(root) = root else {
        return Ok(Value::Nil);
    };
    let mut d = Decoder {
        decode_count: 0,
        alias_count: 0,
    };
    let y = d.node(&root, 0).map_err(wrap)?;
    to_json_value(y).map_err(wrap)
}

fn unmarshal_type_error(v: &Value, target: &str) -> String {
    format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type {target}",
        json::json_kind(v)
    )
}

/// Reads a values file as Helm's `chartutil.ReadValues` (sigs.k8s.io/yaml) does: every
/// number a `float64`.
pub fn from_yaml_values(text: &str) -> Result<Value, String> {
    match yaml_to_json_value(text)? {
        v @ (Value::Map(_) | Value::Nil) => Ok(v),
        other => Err(unmarshal_type_error(&other, "chartutil.Values")),
    }
}

fn error_map(msg: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Error".to_string(), Value::string(msg));
    Value::map(m)
}

fn from_yaml_map(text: &str) -> Value {
    match yaml_to_json_value(text) {
        Ok(v @ Value::Map(_)) => v,
        Ok(Value::Nil) => Value::empty_map(),
        Ok(other) => error_map(unmarshal_type_error(&other, "map[string]interface {}")),
        Err(e) => error_map(e),
    }
}

fn from_yaml_array(text: &str) -> Value {
    match yaml_to_json_value(text) {
        Ok(v @ Value::List(_)) => v,
        Ok(Value::Nil) => Value::list(Vec::new()),
        Ok(other) => Value::list(vec![Value::string(unmarshal_type_error(
            &other,
            "[]interface {}",
        ))]),
        Err(e) => Value::list(vec![Value::string(e)]),
    }
}

fn from_json_map(text: &str) -> Value {
    match json::decode(text) {
        Ok(v @ Value::Map(_)) => v,
        Ok(Value::Nil) => Value::empty_map(),
        Ok(other) => error_map(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json::json_kind(&other)
        )),
        Err(e) => error_map(e),
    }
}

fn from_json_array(text: &str) -> Value {
    match json::decode(text) {
        Ok(v @ Value::List(_)) => v,
        Ok(Value::Nil) => Value::list(Vec::new()),
        Ok(other) => Value::list(vec![Value::string(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            json::json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::string(e)]),
    }
}
