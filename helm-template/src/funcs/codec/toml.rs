//! BurntSushi/toml (v1.6.0) as Helm's `toToml` and `fromToml` use it. The encoder follows
//! toml's Encoder for maps, lists and scalars; the decoder reads the common TOML forms
//! (tables, arrays of tables, dotted keys, strings, integers, floats, booleans, arrays,
//! inline tables) and reports other input as an error.

use std::collections::BTreeMap;

use crate::value::Value;

const NIL_ELEMENT: &str = "toml: cannot encode array with nil element";

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn bare(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|r| r.is_ascii_alphanumeric() || r == '_' || r == '-')
}

fn key_part(k: &str) -> String {
    if k.is_empty() {
        "\"\"".into()
    } else if bare(k) {
        k.to_string()
    } else {
        quote(k)
    }
}

fn key_string(key: &[String]) -> String {
    key.iter()
        .map(|k| key_part(k))
        .collect::<Vec<_>>()
        .join(".")
}

fn plain(v: &Value) -> Value {
    match v {
        Value::Object(o) => o.to_plain(),
        other => other.clone(),
    }
}

#[derive(PartialEq)]
enum TomlType {
    Nil,
    Hash,
    ArrayHash,
    Other,
}

fn toml_type(v: &Value) -> Result<TomlType, String> {
    Ok(match plain(v) {
        Value::Nil => TomlType::Nil,
        Value::Map(_) => TomlType::Hash,
        Value::List(l) => {
            if l.items.is_empty() {
                return Ok(TomlType::Other);
            }
            let mut all = true;
            for i in l.items.iter() {
                let t = toml_type(i)?;
                if t == TomlType::Nil {
                    return Err(NIL_ELEMENT.into());
                }
                if t != TomlType::Hash {
                    all = false;
                }
            }
            if all {
                TomlType::ArrayHash
            } else {
                TomlType::Other
            }
        }
        _ => TomlType::Other,
    })
}

struct Enc {
    out: String,
}

impl Enc {
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn indent(key: &[String]) -> String {
        "  ".repeat(key.len().saturating_sub(1))
    }

    fn encode(&mut self, key: &[String], v: &Value, depth: usize) -> Result<(), String> {
        if depth > crate::value::MAX_VALUE_DEPTH {
            return Err("toml: nesting too deep".into());
        }
        match plain(v) {
            Value::Nil => Ok(()),
            Value::Map(m) => self.table(key, &m, depth),
            l @ Value::List(_) => {
                if toml_type(&l)? == TomlType::ArrayHash {
                    self.array_of_tables(key, &l, depth)
                } else {
                    self.key_value(key, &l, false, depth)
                }
            }
            other => self.key_value(key, &other, false, depth),
        }
    }

    fn key_value(
        &mut self,
        key: &[String],
        v: &Value,
        inline: bool,
        depth: usize,
    ) -> Result<(), String> {
        if key.is_empty() {
            return self.element(v, depth);
        }
        self.out.push_str(&Self::indent(key));
        self.out.push_str(&key_part(&key[key.len() - 1]));
        self.out.push_str(" = ");
        self.element(v, depth)?;
        if !inline {
            self.newline();
        }
        Ok(())
    }

    fn element(&mut self, v: &Value, depth: usize) -> Result<(), String> {
        if depth > crate::value::MAX_VALUE_DEPTH {
            return Err("toml: nesting too deep".into());
        }
        match plain(v) {
            Value::String(s) => self.out.push_str(&quote(&s)),
            Value::Bool(b) => self.out.push_str(if b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.out.push_str(&i.to_string()),
            Value::Uint(u) => self.out.push_str(&u.to_string()),
            Value::Float(f) => {
                if f.is_nan() {
                    self.out
                        .push_str(if f.is_sign_negative() { "-nan" } else { "nan" });
                } else if f.is_infinite() {
                    self.out.push_str(if f < 0.0 { "-inf" } else { "inf" });
                } else {
                    let s = crate::gofmt::format_g(f, None, false, false);
                    self.out.push_str(&s);
                    if !s.contains('e') && !s.contains('.') {
                        self.out.push_str(".0");
                    }
                }
            }
            Value::List(l) => {
                self.out.push('[');
                for (i, item) in l.items.iter().enumerate() {
                    self.element(item, depth + 1)?;
                    if i + 1 != l.items.len() {
                        self.out.push_str(", ");
                    }
                }
                self.out.push(']');
            }
            Value::Map(m) => self.map(&[], &m, true, depth + 1)?,
            Value::Nil => return Err("toml: cannot encode a nil value".into()),
            Value::Object(_) => {}
        }
        Ok(())
    }

    fn array_of_tables(&mut self, key: &[String], l: &Value, depth: usize) -> Result<(), String> {
        if key.is_empty() {
            return Err("toml: top-level values must be Go maps or structs".into());
        }
        let Value::List(l) = l else { return Ok(()) };
        for item in l.items.iter() {
            let Value::Map(m) = plain(item) else { continue };
            self.newline();
            self.out
                .push_str(&format!("{}[[{}]]", Self::indent(key), key_string(key)));
            self.newline();
            self.map(key, &m, false, depth + 1)?;
        }
        Ok(())
    }

    fn table(&mut self, key: &[String], m: &crate::value::Map, depth: usize) -> Result<(), String> {
        if key.len() == 1 {
            self.newline();
        }
        if !key.is_empty() {
            self.out
                .push_str(&format!("{}[{}]", Self::indent(key), key_string(key)));
            self.newline();
        }
        self.map(key, m, false, depth + 1)
    }

    fn map(
        &mut self,
        key: &[String],
        m: &crate::value::Map,
        inline: bool,
        depth: usize,
    ) -> Result<(), String> {
        let entries = m.snapshot();
        let (mut direct, mut sub) = (Vec::new(), Vec::new());
        for (k, v) in entries {
            match toml_type(&v)? {
                TomlType::Hash | TomlType::ArrayHash => sub.push((k, v)),
                _ => direct.push((k, v)),
            }
        }
        if inline {
            self.out.push('{');
        }
        let has_sub = !sub.is_empty();
        for (group, trail) in [(direct, has_sub), (sub, false)] {
            let n = group.len();
            for (i, (k, v)) in group.into_iter().enumerate() {
                if v.is_nil() {
                    continue;
                }
                if inline {
                    self.key_value(std::slice::from_ref(&k), &v, true, depth)?;
                    if trail || i + 1 != n {
                        self.out.push_str(", ");
                    }
                } else {
                    let mut child = key.to_vec();
                    child.push(k);
                    self.encode(&child, &v, depth + 1)?;
                }
            }
        }
        if inline {
            self.out.push('}');
        }
        Ok(())
    }
}

/// toml.NewEncoder(…).Encode(v); on error, the error's text (as Helm returns it).
pub fn encode(v: &Value) -> String {
    let mut e = Enc { out: String::new() };
    match e.encode(&[], v, 0) {
        Ok(()) => e.out,
        Err(msg) => msg,
    }
}

// ------------------------------------------------------------------ decoding

struct Dec<'a> {
    c: Vec<char>,
    i: usize,
    _text: &'a str,
}

type R<T> = Result<T, String>;

impl Dec<'_> {
    fn line(&self) -> usize {
        self.c[..self.i.min(self.c.len())]
            .iter()
            .filter(|&&c| c == '\n')
            .count()
            + 1
    }

    fn err(&self, msg: &str) -> String {
        format!("toml: line {}: {msg}", self.line())
    }

    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.i += 1;
        }
    }

    fn ws_nl(&mut self) {
        loop {
            self.ws();
            match self.peek() {
                Some('\n' | '\r') => self.i += 1,
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn key(&mut self) -> R<Vec<String>> {
        let mut parts = Vec::new();
        loop {
            self.ws();
            let part = match self.peek() {
                Some(q @ ('"' | '\'')) => self.string(q)?,
                _ => {
                    let start = self.i;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        self.i += 1;
                    }
                    if start == self.i {
                        return Err(self.err("expected a key"));
                    }
                    self.c[start..self.i].iter().collect()
                }
            };
            parts.push(part);
            self.ws();
            if self.peek() == Some('.') {
                self.i += 1;
            } else {
                return Ok(parts);
            }
        }
    }

    /// A basic (`"…"`, with escapes) or literal (`'…'`, without) string on one line.
    fn string(&mut self, quote: char) -> R<String> {
        self.i += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => return Err(self.err("unexpected end of string")),
                Some(c) if c == quote => {
                    self.i += 1;
                    return Ok(s);
                }
                Some('\\') if quote == '"' => {
                    self.i += 1;
                    let e = self
                        .peek()
                        .ok_or_else(|| self.err("unexpected end of string"))?;
                    self.i += 1;
                    let ch = match e {
                        'b' => '\u{8}',
                        't' => '\t',
                        'n' => '\n',
                        'f' => '\u{c}',
                        'r' => '\r',
                        'e' => '\u{1b}',
                        '"' => '"',
                        '\\' => '\\',
                        'u' | 'U' => {
                            let n = if e == 'u' { 4 } else { 8 };
                            let hex: String = self.c[self.i..(self.i + n).min(self.c.len())]
                                .iter()
                                .collect();
                            self.i += n;
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err("invalid escape"))?
                        }
                        _ => return Err(self.err(&format!("invalid escape character {e:?}"))),
                    };
                    s.push(ch);
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn value(&mut self, depth: usize) -> R<Value> {
        if depth > 500 {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            Some('"') => {
                if self.c.get(self.i + 1) == Some(&'"') && self.c.get(self.i + 2) == Some(&'"') {
                    return Err(self.err("multi-line strings are not supported"));
                }
                Ok(Value::string(self.string('"')?))
            }
            Some('\'') => Ok(Value::string(self.string('\'')?)),
            Some('[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws_nl();
                    if self.peek() == Some(']') {
                        self.i += 1;
                        return Ok(Value::list(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.ws_nl();
                    match self.peek() {
                        Some(',') => self.i += 1,
                        Some(']') => {}
                        _ => return Err(self.err("expected a comma or array terminator")),
                    }
                }
            }
            Some('{') => {
                self.i += 1;
                let table = Value::empty_map();
                self.ws();
                if self.peek() == Some('}') {
                    self.i += 1;
                    return Ok(table);
                }
                loop {
                    let key = self.key()?;
                    self.ws();
                    if self.peek() != Some('=') {
                        return Err(self.err("expected '='"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    self.assign(&table, &key, v)?;
                    self.ws();
                    match self.peek() {
                        Some(',') => self.i += 1,
                        Some('}') => {
                            self.i += 1;
                            return Ok(table);
                        }
                        _ => return Err(self.err("expected a comma or an inline table terminator")),
                    }
                }
            }
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | ']' | '}' | '\n' | '#' | ' ' | '\t' | '\r'))
                {
                    self.i += 1;
                }
                let word: String = self.c[start..self.i].iter().collect();
                match word.as_str() {
                    "true" => return Ok(Value::Bool(true)),
                    "false" => return Ok(Value::Bool(false)),
                    "inf" | "+inf" => return Ok(Value::Float(f64::INFINITY)),
                    "-inf" => return Ok(Value::Float(f64::NEG_INFINITY)),
                    "nan" | "+nan" | "-nan" => return Ok(Value::Float(f64::NAN)),
                    _ => {}
                }
                let clean = word.replace('_', "");
                let (neg, body) = match clean.strip_prefix('-') {
                    Some(b) => (true, b.to_string()),
                    None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
                };
                for (p, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
                    if let Some(d) = body.strip_prefix(p) {
                        if let Ok(i) = i64::from_str_radix(d, radix) {
                            return Ok(Value::Int64(i));
                        }
                    }
                }
                if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit()) {
                    if let Ok(i) = clean.parse::<i64>() {
                        let _ = neg;
                        return Ok(Value::Int64(i));
                    }
                }
                if super::resolve::yaml_style_float(&clean)
                    && !clean.starts_with('.')
                    && !clean.ends_with('.')
                {
                    if let Ok(f) = clean.parse::<f64>() {
                        return Ok(Value::Float(f));
                    }
                }
                Err(self.err(&format!("invalid value {word:?}")))
            }
        }
    }

    /// Sets a dotted key in `table`, creating the tables on the way.
    fn assign(&self, table: &Value, key: &[String], v: Value) -> R<()> {
        let mut cur = table.clone();
        for (i, k) in key.iter().enumerate() {
            let Value::Map(m) = cur.clone() else {
                return Err(self.err("key is not a table"));
            };
            if i + 1 == key.len() {
                if m.get(k).is_some() {
                    return Err(self.already_defined(key));
                }
                m.insert(k.clone(), v);
                return Ok(());
            }
            cur = match m.get(k) {
                Some(t @ Value::Map(_)) => t,
                Some(_) => return Err(self.already_defined(key)),
                None => {
                    let t = Value::empty_map();
                    m.insert(k.clone(), t.clone());
                    t
                }
            };
        }
        Ok(())
    }

    fn already_defined(&self, key: &[String]) -> String {
        self.err(&format!(
            "Key '{}' has already been defined.",
            key.join(".")
        ))
    }

    fn table_at(&self, root: &Value, key: &[String], array: bool) -> R<Value> {
        let mut cur = root.clone();
        for (i, k) in key.iter().enumerate() {
            let Value::Map(m) = cur.clone() else {
                return Err(self.err("key is not a table"));
            };
            let last = i + 1 == key.len();
            if last && array {
                let t = Value::empty_map();
                let mut items = match m.get(k) {
                    Some(Value::List(l)) => l.items.to_vec(),
                    None => Vec::new(),
                    Some(_) => return Err(self.already_defined(key)),
                };
                items.push(t.clone());
                m.insert(k.clone(), Value::list(items));
                return Ok(t);
            }
            cur = match m.get(k) {
                Some(t @ Value::Map(_)) => t,
                Some(Value::List(l)) if !last => match l.items.last() {
                    Some(t @ Value::Map(_)) => t.clone(),
                    _ => return Err(self.err("key is not a table")),
                },
                Some(_) => return Err(self.already_defined(key)),
                None => {
                    let t = Value::empty_map();
                    m.insert(k.clone(), t.clone());
                    t
                }
            };
        }
        Ok(cur)
    }

    fn document(&mut self) -> R<Value> {
        let root = Value::empty_map();
        let mut current = root.clone();
        loop {
            self.ws_nl();
            match self.peek() {
                None => return Ok(root),
                Some('[') => {
                    self.i += 1;
                    let array = self.peek() == Some('[');
                    if array {
                        self.i += 1;
                    }
                    let key = self.key()?;
                    for _ in 0..(1 + usize::from(array)) {
                        if self.peek() != Some(']') {
                            return Err(self.err("expected the end of a table name"));
                        }
                        self.i += 1;
                    }
                    current = self.table_at(&root, &key, array)?;
                }
                Some(_) => {
                    let key = self.key()?;
                    self.ws();
                    if self.peek() != Some('=') {
                        return Err(self.err("expected '=' after a key"));
                    }
                    self.i += 1;
                    let v = self.value(0)?;
                    self.assign(&current, &key, v)?;
                }
            }
            self.ws();
            match self.peek() {
                None | Some('\n' | '\r' | '#') => {}
                Some(c) => return Err(self.err(&format!("expected a newline, found {c:?}"))),
            }
        }
    }
}

/// toml.Unmarshal into map[string]interface{}; the error under "Error".
pub fn decode_map(text: &str) -> Value {
    let mut d = Dec {
        c: text.chars().collect(),
        i: 0,
        _text: text,
    };
    match d.document() {
        Ok(v) => v,
        Err(e) => {
            let mut m = BTreeMap::new();
            m.insert("Error".to_string(), Value::string(e));
            Value::map(m)
        }
    }
}
