//! Go's encoding/json: `Marshal`, `MarshalIndent`, an `Encoder` without HTML escaping,
//! and `Unmarshal` into `interface{}` (numbers as float64), with Go's error wording.

use std::collections::BTreeMap;

use crate::value::Value;

/// encoding/json's float format: 'f' for 1e-6 <= |x| < 1e21, else 'e' with a short exponent.
pub fn format_float(f: f64) -> Result<String, String> {
    if f.is_nan() || f.is_infinite() {
        return Err(format!(
            "json: unsupported value: {}",
            crate::gofmt::format_g(f, None, false, false)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return Ok(format!("{m}e{sign}{}", e.abs()));
    }
    Ok(crate::gofmt::format_f_shortest(f))
}

fn write_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// json.Marshal (`indent` None) or json.MarshalIndent(v, "", indent).
pub fn encode(v: &Value, html: bool, indent: Option<&str>) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, html, indent, 0, 0)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_value(
    out: &mut String,
    v: &Value,
    html: bool,
    indent: Option<&str>,
    depth: usize,
    nesting: usize,
) -> Result<(), String> {
    if nesting > crate::value::MAX_VALUE_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&format_float(*f)?),
        Value::String(s) => write_string(out, s, html),
        Value::List(l) => write_container(
            out,
            ['[', ']'],
            l.items.iter(),
            indent,
            depth,
            |out, item| write_value(out, item, html, indent, depth + 1, nesting + 1),
        )?,
        Value::Map(m) => {
            let entries = m.entries.borrow();
            let fields = entries.iter().map(|(k, v)| (k.as_str(), v));
            write_fields(out, fields, html, indent, depth, nesting)?;
        }
        Value::Object(o) => match o.json_fields() {
            // A struct: encoding/json writes its fields in declaration order.
            Some(fields) if !fields.is_empty() => {
                let fields = fields.iter().map(|(k, v)| (k.as_str(), v));
                write_fields(out, fields, html, indent, depth, nesting)?;
            }
            _ => write_value(out, &o.to_plain(), html, indent, depth, nesting + 1)?,
        },
    }
    Ok(())
}

/// A map's or struct's fields as a JSON object.
fn write_fields<'a>(
    out: &mut String,
    fields: impl Iterator<Item = (&'a str, &'a Value)>,
    html: bool,
    indent: Option<&str>,
    depth: usize,
    nesting: usize,
) -> Result<(), String> {
    write_container(out, ['{', '}'], fields, indent, depth, |out, (k, item)| {
        write_string(out, k, html);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        write_value(out, item, html, indent, depth + 1, nesting + 1)
    })
}

/// An array or object: its items between the brackets, one a line when indenting; an
/// empty one is just the brackets, as Go writes it.
fn write_container<T>(
    out: &mut String,
    brackets: [char; 2],
    items: impl Iterator<Item = T>,
    indent: Option<&str>,
    depth: usize,
    mut write_item: impl FnMut(&mut String, T) -> Result<(), String>,
) -> Result<(), String> {
    out.push(brackets[0]);
    let mut empty = true;
    for item in items {
        if !empty {
            out.push(',');
        }
        empty = false;
        newline(out, indent, depth + 1);
        write_item(out, item)?;
    }
    if !empty {
        newline(out, indent, depth);
    }
    out.push(brackets[1]);
    Ok(())
}

// ------------------------------------------------------------------ decoding

/// How encoding/json quotes a byte in its syntax errors.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        _ => {
            let q = crate::gofmt::quote(&char::from(c).to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

type PResult<T> = Result<T, String>;

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err(&self, context: &str) -> String {
        match self.b.get(self.i) {
            None => "unexpected end of JSON input".into(),
            Some(&c) => format!("invalid character {} {context}", quote_char(c)),
        }
    }

    /// An error inside a literal or a number: at the end of the input Go's scanner feeds a
    /// space to finish it.
    fn err_eof_space(&self, context: &str) -> String {
        let c = self.b.get(self.i).copied().unwrap_or(b' ');
        format!("invalid character {} {context}", quote_char(c))
    }

    fn value(&mut self, depth: usize) -> PResult<Value> {
        if depth > crate::value::MAX_VALUE_DEPTH {
            return Err("exceeded max depth".into());
        }
        self.ws();
        match self.b.get(self.i) {
            None => Err("unexpected end of JSON input".into()),
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::map(m));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.err("looking for beginning of object key string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.err("after object key"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    m.insert(k, v);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::map(m));
                        }
                        _ => return Err(self.err("after object key:value pair")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::list(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::list(items));
                        }
                        _ => return Err(self.err("after array element")),
                    }
                }
            }
            Some(b'"') => Ok(Value::string(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Nil),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> PResult<Value> {
        for (k, &w) in word.as_bytes().iter().enumerate() {
            match self.b.get(self.i) {
                Some(&c) if c == w => self.i += 1,
                _ => {
                    let _ = k;
                    return Err(self.err_eof_space(&format!(
                        "in literal {word} (expecting {})",
                        quote_char(w)
                    )));
                }
            }
        }
        Ok(v)
    }

    fn number(&mut self) -> PResult<Value> {
        let start = self.i;
        let digits = |p: &mut Parser| {
            let s = p.i;
            while p.i < p.b.len() && p.b[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i - s
        };
        if self.b[self.i] == b'-' {
            self.i += 1;
            match self.b.get(self.i) {
                Some(b'0'..=b'9') => {}
                _ => return Err(self.err_eof_space("in numeric literal")),
            }
        }
        if self.b[self.i] == b'0' {
            self.i += 1;
        } else {
            digits(self);
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err_eof_space("after decimal point in numeric literal"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err_eof_space("in exponent of numeric literal"));
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("0");
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(format!(
                "json: cannot unmarshal number {text} into Go value of type float64"
            )),
        }
    }

    fn hex4(&mut self) -> PResult<u32> {
        let mut v = 0;
        for _ in 0..4 {
            match self.b.get(self.i) {
                Some(&c) if c.is_ascii_hexdigit() => {
                    v = v * 16 + (c as char).to_digit(16).unwrap_or(0);
                    self.i += 1;
                }
                None => return Err("unexpected end of JSON input".into()),
                Some(_) => return Err(self.err("in \\u hexadecimal character escape")),
            }
        }
        Ok(v)
    }

    fn string(&mut self) -> PResult<String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err("unexpected end of JSON input".into());
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return Err("unexpected end of JSON input".into());
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let u = self.hex4()?;
                            if (0xD800..0xDC00).contains(&u)
                                && self.b.get(self.i) == Some(&b'\\')
                                && self.b.get(self.i + 1) == Some(&b'u')
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    self.i = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(u).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.err("in string escape code"));
                        }
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("in string literal")),
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

/// json.Unmarshal into `interface{}`: numbers float64; the error as Go words it.
pub fn decode(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i < p.b.len() {
        return Err(p.err("after top-level value"));
    }
    Ok(v)
}

/// The JSON type name encoding/json's UnmarshalTypeError gives a value.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Int64(_) | Value::Uint(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) | Value::Object(_) => "object",
    }
}
