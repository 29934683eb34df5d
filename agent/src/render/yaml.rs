//! One YAML document as kubectl reads it, into a JSON value.
//!
//! serde_yaml_ng follows YAML 1.2; kubectl reads manifests with go-yaml
//! (v2 for `kubectl apply -f`, v3 under `kubectl kustomize`), which keep two
//! YAML 1.1 habits that real repositories rely on, and this reader follows
//! them:
//!
//! - **Numbers.** A plain scalar that starts with a digit or a sign is, for
//!   go-yaml, an integer if Go's `strconv.ParseInt(s, 0, 64)` takes it once
//!   its underscores are dropped: `0644` is octal (420), as are `0o644` and
//!   `+0644`; `0x1A`/`0X1A` and `0b101`/`0B101` too; `1_000` is 1000. Failing
//!   that it is a float if it looks like one: `08` and `0648` are 8 and 648.
//!   A quoted (`'0644'`, `"0644"`), block (`|`) or `!!str`-tagged scalar stays
//!   a string. Keys are left as written (see below).
//! - **Merge keys.** A plain `<<` key whose value is a mapping, an alias of
//!   one, or a list of them merges those mappings into its own: the keys
//!   written in the mapping win over merged ones wherever `<<` stands, and an
//!   earlier mapping in a `<<` list wins over a later one (as kustomize does;
//!   `kubectl apply -f` lets a key written *before* the `<<` lose, a go-yaml
//!   v2 quirk not copied here). A quoted `"<<"` is an ordinary key.
//!
//! And one JSON habit: a float with no fraction (`1.0`, `1e3`) is written
//! as the integer kubectl sends (`1`, `1000`).
//!
//! Left as serde_yaml_ng reads them, where kubectl differs:
//! - `yes`/`no`/`on`/`off`/`y`/`n` are strings. `kubectl apply -f` (go-yaml
//!   v2) reads them as booleans, keys included (`on:` becomes `"true":`),
//!   while `kubectl kustomize` (go-yaml v3) keeps them strings, as here.
//! - Keys are their text: kubectl apply turns an unquoted `0644:` key into
//!   `"420"`, `0x10:` into `"16"`, `~:` into `"null"`; kustomize refuses
//!   non-string keys altogether.
//! - Dates (`2001-12-14`) stay strings, as for kubectl apply; kustomize
//!   writes them as `2001-12-14T00:00:00Z`.
//! - A tag on the line before its scalar (`!!str` then `0644` on the next
//!   line) is not seen, so that scalar is read as a number.
//!
//! How a scalar's style is known: serde_yaml_ng hands plain and quoted
//! scalars without escapes to `visit_borrowed_str` as a slice of the input,
//! ending, for a quoted one, just before its closing quote; escaped, block
//! and multi-line scalars come through `visit_str`, and none of them reads
//! as a number for go-yaml. So a borrowed scalar followed by a quote is
//! quoted, and one that is not is plain.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses one YAML document (as `serde_yaml_ng::from_str` does: several
/// documents are an error) the way kubectl reads it. Errors, and their
/// positions, are serde_yaml_ng's.
pub(crate) fn from_str(text: &str) -> Result<Value, serde_yaml_ng::Error> {
    from_str_as(text, Reading::Apply)
}

/// Who reads a manifest, which decides two things besides: what an
/// annotation's value is, and whether a key written with no value at all
/// (`replicas:`) is told apart from one written `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// `kubectl apply -f`: every scalar as its type.
    Apply,
    /// A resource of a kustomization. `kubectl kustomize` rewrites every
    /// object's annotations as strings of their scalars' text (`1` is "1",
    /// `0x10` "0x10", `~` "~", an empty value ""), so that an unquoted
    /// `prometheus.io/port: 9100` reaches the API server as the string it
    /// demands. Only an object's own `metadata.annotations` (a List's items
    /// are objects): a pod template's are left as written, as kustomize
    /// leaves them. And a strategic merge patch drops the keys of the object
    /// it patches that were written empty ([`take_empty_values`]).
    KustomizeResource,
    /// A kustomization's patch: annotations as text too, but a null one
    /// (`null`, `~`, nothing) stays null, which deletes the annotation.
    KustomizePatch,
}

/// [`from_str`], read as `reading` says. Under
/// [`Reading::KustomizeResource`], keys written empty hold a marker until
/// [`take_empty_values`] replaces it.
pub(crate) fn from_str_as(text: &str, reading: Reading) -> Result<Value, serde_yaml_ng::Error> {
    let place = match reading {
        Reading::Apply => Place::Other,
        Reading::KustomizeResource | Reading::KustomizePatch => Place::Object,
    };
    Node {
        input: text,
        place,
        reading,
    }
    .deserialize(serde_yaml_ng::Deserializer::from_str(text))
}

/// The JSON pointer tokens of a value inside a document.
pub(crate) type Pointer = Vec<String>;

/// What a key written with no value holds between reading and
/// [`take_empty_values`]: no text YAML could hold unquoted as a value.
const EMPTY_NULL: &str = "\u{F8FF}plumb:written-empty-null";
/// The same for an annotation (kustomize's "").
const EMPTY_TEXT: &str = "\u{F8FF}plumb:written-empty-text";

/// Replaces the markers [`Reading::KustomizeResource`] left for keys
/// written with no value (`key:`, `key: # note`, `{key: }`) by what they
/// are (null; "" for an annotation) and returns where they are. kustomize
/// keeps such keys unless a strategic merge patch walks over them, which
/// drops them while keeping a `null` written out.
pub(crate) fn take_empty_values(value: &mut Value) -> Vec<Pointer> {
    fn walk(value: &mut Value, path: &mut Pointer, found: &mut Vec<Pointer>) {
        match value {
            Value::String(s) if s == EMPTY_NULL || s == EMPTY_TEXT => {
                *value = if s == EMPTY_NULL {
                    Value::Null
                } else {
                    Value::String(String::new())
                };
                found.push(path.clone());
            }
            Value::Object(map) => {
                for (key, value) in map {
                    path.push(key.clone());
                    walk(value, path, found);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter_mut().enumerate() {
                    path.push(i.to_string());
                    walk(value, path, found);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, &mut Vec::new(), &mut found);
    found
}

/// Whether the key at `span` of `input` is followed by its colon and no
/// value: the line ends (perhaps with a comment), or a flow mapping's `,`
/// or `}` comes, with at most a tag or anchor between, and no more deeply
/// indented line follows (that would be a `null` written below the key).
fn written_empty(input: &str, (start, end): (usize, usize)) -> bool {
    let bytes = input.as_bytes();
    let blank = |i: &mut usize| {
        while matches!(bytes.get(*i), Some(b' ' | b'\t')) {
            *i += 1;
        }
    };
    let mut i = end;
    if matches!(bytes.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    blank(&mut i);
    if bytes.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    loop {
        blank(&mut i);
        if !matches!(bytes.get(i), Some(b'!' | b'&')) {
            break;
        }
        while !matches!(
            bytes.get(i),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}')
        ) {
            i += 1;
        }
    }
    match bytes.get(i) {
        Some(b',' | b'}') => return true,
        None | Some(b'\n' | b'\r' | b'#') => {}
        Some(_) => return false,
    }
    let line_start = input[..start].rfind('\n').map_or(0, |n| n + 1);
    let quote = usize::from(
        matches!(bytes.get(start.wrapping_sub(1)), Some(b'"' | b'\'')) && start > line_start,
    );
    let column = start - line_start - quote;
    let rest = input[i..].split_once('\n').map_or("", |(_, rest)| rest);
    rest.lines()
        .find(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .is_none_or(|l| l.len() - l.trim_start_matches(' ').len() <= column)
}

/// How deep flow collections (`{…}`, `[…]`) may nest: serde_yaml_ng's own
/// recursion limit, which it applies only after reading the whole document.
pub(crate) const MAX_FLOW_DEPTH: usize = 128;

/// Where flow collections first nest deeper than [`MAX_FLOW_DEPTH`], found
/// by a scan of the text before any parsing: the parser reads a document
/// whole before its recursion limit applies, and deep flow nesting costs it
/// super-linear time (a 200 KB patch of `{a: {a: …}}` took minutes).
/// Quoted scalars, comments and block scalars (`|`, `>`) are skipped, so
/// braces in text never count.
pub(crate) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut block_parent: Option<usize> = None;
    let mut quote: Option<char> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_parent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_parent = None;
        }
        if depth == 0 {
            // Outside flow collections a quoted scalar ends with its line.
            quote = None;
        }
        let mut prev = ' ';
        let mut chars = line.char_indices().peekable();
        while let Some((column, c)) = chars.next() {
            match quote {
                Some('\'') => {
                    if c == '\'' {
                        if chars.peek().map(|(_, n)| *n) == Some('\'') {
                            chars.next();
                        } else {
                            quote = None;
                        }
                    }
                }
                Some(_) => {
                    if c == '\\' {
                        chars.next();
                    } else if c == '"' {
                        quote = None;
                    }
                }
                None => match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    '\'' | '"' if matches!(prev, ' ' | '\t' | ':' | ',' | '[' | '{' | '-') => {
                        quote = Some(c)
                    }
                    '{' | '[' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Some((i + 1, line[..column].chars().count() + 1));
                        }
                    }
                    '}' | ']' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
        if depth == 0 && quote.is_none() && starts_block_scalar(line) {
            block_parent = Some(indent);
        }
    }
    None
}

/// Whether a line's value is a block scalar's indicator (`|`, `>-`, `|2+`, …).
fn starts_block_scalar(line: &str) -> bool {
    let value = line.split(" #").next().unwrap_or_default().trim_end();
    let last = value.rsplit([' ', '\t']).next().unwrap_or_default();
    let mut chars = last.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| c == '-' || c == '+' || c.is_ascii_digit())
        && (value.len() == last.len()
            || value[..value.len() - last.len()]
                .trim_end()
                .ends_with([':', '-']))
}

/// The error for a text [`too_deep`] refuses, placed at line and column.
pub(crate) fn too_deep_message() -> String {
    format!("flow collections nested deeper than {MAX_FLOW_DEPTH} levels")
}

/// Any YAML node, read into a JSON value. `input` is the text the
/// deserializer reads, to place the scalars it lends.
#[derive(Clone, Copy)]
struct Node<'de> {
    input: &'de str,
    place: Place,
    reading: Reading,
}

/// Where a node stands, as far as the kustomize readings care: the way
/// down to an object's annotations. Everything else is `Other`, as are all
/// nodes under [`Reading::Apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A document, or an item of its `items`.
    Object,
    Items,
    Metadata,
    Annotations,
    Other,
}

impl Place {
    fn of_value_under(self, key: &str) -> Place {
        match (self, key) {
            (Place::Object, "metadata") => Place::Metadata,
            (Place::Object, "items") => Place::Items,
            (Place::Metadata, "annotations") => Place::Annotations,
            _ => Place::Other,
        }
    }
}

impl<'de> Node<'de> {
    fn at(self, place: Place) -> Node<'de> {
        Node { place, ..self }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'de> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// An annotation's value under the kustomize readings: its scalar's text
/// (a null one, in a patch, null).
struct AnnotationText<'de> {
    input: &'de str,
    reading: Reading,
}

impl<'de> DeserializeSeed<'de> for AnnotationText<'de> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for AnnotationText<'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string: an annotation's value is text (kustomize would write a mapping or list as \"\", losing it)")
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value, E> {
        let null = matches!(v, "null" | "Null" | "NULL" | "~");
        if null
            && self.reading == Reading::KustomizePatch
            && plain(self.input, v)
            && !tagged(self.input, v)
        {
            return Ok(Value::Null);
        }
        Ok(Value::String(v.to_owned()))
    }
}

impl<'de> Visitor<'de> for Node<'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    // Beyond 64 bits go-yaml falls back to a float.
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value, E> {
        if plain(self.input, v) && !tagged(self.input, v) {
            if let Some(number) = yaml11_number(v) {
                return Ok(number);
            }
        }
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        let item_place = match self.place {
            Place::Items => Place::Object,
            _ => Place::Other,
        };
        while let Some(item) = seq.next_element_seed(self.at(item_place))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut own = Map::new();
        // The mappings of each `<<` key, in the order the keys come.
        let mut merges: Vec<Vec<Map<String, Value>>> = Vec::new();
        while let Some(key) = map.next_key_seed(Key { input: self.input })? {
            match key {
                KeyName::Merge => merges.push(map.next_value_seed(Merge { node: self })?),
                KeyName::Text(key, span) => {
                    let annotation = self.place == Place::Annotations;
                    let value = if annotation {
                        map.next_value_seed(AnnotationText {
                            input: self.input,
                            reading: self.reading,
                        })?
                    } else {
                        map.next_value_seed(self.at(self.place.of_value_under(&key)))?
                    };
                    let empty = || {
                        (if annotation {
                            value == ""
                        } else {
                            value.is_null()
                        }) && span.is_some_and(|span| written_empty(self.input, span))
                    };
                    let value = match self.reading {
                        Reading::KustomizeResource if empty() => {
                            Value::String(if annotation { EMPTY_TEXT } else { EMPTY_NULL }.into())
                        }
                        Reading::KustomizePatch if annotation && empty() => Value::Null,
                        _ => value,
                    };
                    own.insert(key, value);
                }
            }
        }
        // Written keys first; then a later `<<` over an earlier one (as a
        // repeated key does), and within one the earlier mapping.
        for mappings in merges.into_iter().rev() {
            for mapping in mappings {
                for (key, value) in mapping {
                    own.entry(key).or_insert(value);
                }
            }
        }
        Ok(Value::Object(own))
    }
}

/// A float as JSON: integral ones as integers, as Go's encoding/json writes
/// them; infinities and NaN, which JSON lacks, as null (serde_json's choice).
fn float(v: f64) -> Value {
    // 2^63: every integral f64 below it in magnitude is an exact i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.fract() == 0.0 && v.abs() < LIMIT {
        Value::from(v as i64)
    } else {
        Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

/// Where `scalar` sits in `input`, if it is a slice of it.
fn offset(input: &str, scalar: &str) -> Option<usize> {
    let start = (scalar.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    (start + scalar.len() <= input.len()).then_some(start)
}

/// A scalar lent from the input is plain unless a quote closes it.
fn plain(input: &str, scalar: &str) -> bool {
    match offset(input, scalar) {
        Some(start) => !matches!(
            input.as_bytes().get(start + scalar.len()),
            Some(b'\'' | b'"')
        ),
        None => false,
    }
}

/// Whether a tag (`!!str`, `!foo`) stands before the scalar on its line,
/// perhaps with an anchor (`&a`) on either side.
fn tagged(input: &str, scalar: &str) -> bool {
    let Some(start) = offset(input, scalar) else {
        return false;
    };
    let before = &input.as_bytes()[..start];
    let mut end = before.len();
    for _ in 0..2 {
        while end > 0 && matches!(before[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        let token_start = before[..end]
            .iter()
            .rposition(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b','))
            .map_or(0, |i| i + 1);
        match before.get(token_start) {
            Some(b'!') if token_start < end => return true,
            Some(b'&') if token_start < end => end = token_start,
            _ => return false,
        }
    }
    false
}

/// What go-yaml makes of a plain scalar serde_yaml_ng left a string: an
/// integer per Go's `ParseInt(s, 0, 64)` (then `ParseUint`) with the
/// underscores dropped, else a float if it has a float's shape, else none.
fn yaml11_number(scalar: &str) -> Option<Value> {
    let first = *scalar.as_bytes().first()?;
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return None;
    }
    let plain: String = scalar.chars().filter(|&c| c != '_').collect();
    let (negative, unsigned) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    if let Some(magnitude) = go_parse_uint(unsigned) {
        let limit = 1u64 << 63;
        if negative && magnitude <= limit {
            return Some(Value::from((magnitude as i64).wrapping_neg()));
        }
        if !negative && magnitude < limit {
            return Some(Value::from(magnitude as i64));
        }
        // ParseUint takes no sign.
        if plain.as_bytes()[0].is_ascii_digit() {
            return Some(Value::from(magnitude));
        }
    }
    if float_shaped(&plain) {
        return plain
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(float);
    }
    None
}

/// Go's `strconv.ParseUint(s, 0, 64)` for an underscore-free `s`: a `0x`,
/// `0o` or `0b` prefix (any case) picks the base, a lone leading `0` means
/// octal, anything else is decimal.
fn go_parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let (radix, digits) = match b {
        [] => return None,
        [b'0', p, _, ..] if matches!(p.to_ascii_lowercase(), b'x' | b'o' | b'b') => {
            let radix = match p.to_ascii_lowercase() {
                b'x' => 16,
                b'o' => 8,
                _ => 2,
            };
            (radix, &s[2..])
        }
        [b'0', ..] => (8, &s[1..]),
        _ => (10, s),
    };
    if digits.is_empty() {
        return Some(0);
    }
    // from_str_radix also takes a sign, which Go does not here.
    if !digits.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// go-yaml's float shape: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn float_shaped(s: &str) -> bool {
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let rest = if let Some(fraction) = s.strip_prefix('.') {
        let n = digits(fraction);
        if n == 0 {
            return false;
        }
        &fraction[n..]
    } else {
        let n = digits(s);
        if n == 0 {
            return false;
        }
        let rest = &s[n..];
        match rest.strip_prefix('.') {
            Some(fraction) => &fraction[digits(fraction)..],
            None => rest,
        }
    };
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exponent) => {
            let exponent = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
            let n = digits(exponent);
            n > 0 && n == exponent.len()
        }
    }
}

/// A mapping key: its text, as serde_json reads keys (the scalar as written:
/// `1`, `~`, `0644`), or a plain `<<`.
struct Key<'de> {
    input: &'de str,
}

enum KeyName {
    Merge,
    /// A key, and where its text is in the input when it is a slice of it.
    Text(String, Option<(usize, usize)>),
}

impl<'de> DeserializeSeed<'de> for Key<'de> {
    type Value = KeyName;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<KeyName, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'de> {
    type Value = KeyName;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<KeyName, E> {
        if v == "<<" && plain(self.input, v) {
            return Ok(KeyName::Merge);
        }
        let span = offset(self.input, v).map(|start| (start, start + v.len()));
        Ok(KeyName::Text(v.to_owned(), span))
    }

    fn visit_str<E>(self, v: &str) -> Result<KeyName, E> {
        Ok(KeyName::Text(v.to_owned(), None))
    }

    fn visit_string<E>(self, v: String) -> Result<KeyName, E> {
        Ok(KeyName::Text(v, None))
    }
}

/// The value of a `<<` key: a mapping, or a list of mappings.
struct Merge<'de> {
    node: Node<'de>,
}

const MERGE: &str = "a mapping or a list of mappings to merge (`<<`)";

impl<'de> DeserializeSeed<'de> for Merge<'de> {
    type Value = Vec<Map<String, Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Merge<'de> {
    type Value = Vec<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(MERGE)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(vec![mapping(self.node.visit_map(map)?)])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut mappings = Vec::new();
        while let Some(m) = seq.next_element_seed(MergeItem { node: self.node })? {
            mappings.push(m);
        }
        Ok(mappings)
    }
}

/// One mapping of a `<<` list.
struct MergeItem<'de> {
    node: Node<'de>,
}

impl<'de> DeserializeSeed<'de> for MergeItem<'de> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MergeItem<'de> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(MERGE)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(mapping(self.node.visit_map(map)?))
    }
}

fn mapping(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => unreachable!("visit_map builds an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Value {
        from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn kustomize_reads_an_objects_annotations_as_their_text() {
        let text = "kind: ConfigMap\nmetadata:\n  annotations:\n    port: 9100\n    hex: 0x10\n    float: 1.50\n    tilde: ~\n    null: null\n    empty:\n    yes: True\n    quoted: '1'\n  labels:\n    n: 1\ndata:\n  annotations:\n    x: 1\nitems:\n- metadata:\n    annotations:\n      a: 2\n  spec:\n    template:\n      metadata:\n        annotations:\n          b: 3\n";
        let mut read = from_str_as(text, Reading::KustomizeResource).unwrap();
        assert_eq!(
            take_empty_values(&mut read),
            [vec![
                "metadata".to_owned(),
                "annotations".into(),
                "empty".into()
            ]]
        );
        assert_eq!(
            read["metadata"]["annotations"],
            json!({"port": "9100", "hex": "0x10", "float": "1.50", "tilde": "~",
                   "null": "null", "empty": "", "yes": "True", "quoted": "1"})
        );
        assert_eq!(read["metadata"]["labels"]["n"], json!(1));
        assert_eq!(read["data"]["annotations"]["x"], json!(1));
        assert_eq!(read["items"][0]["metadata"]["annotations"]["a"], json!("2"));
        assert_eq!(
            read["items"][0]["spec"]["template"]["metadata"]["annotations"]["b"],
            json!(3)
        );
        let applied = from_str(text).unwrap();
        assert_eq!(applied["metadata"]["annotations"]["port"], json!(9100));
        let nested = "metadata:\n  annotations:\n    a:\n      b: c\n";
        assert!(from_str_as(nested, Reading::KustomizeResource).is_err());
    }

    #[test]
    fn keys_written_empty_are_told_from_nulls_written_out() {
        let text = "\
a:
b: null
c: ~
d: # a note
e: {f: , g: 1, h: null}
'i':
j:
  null
k:
  # a note, then a sibling
l: ''
m: !!str
seq:
- n:
  o: 1
- p:
    ~
";
        let mut read = from_str_as(text, Reading::KustomizeResource).unwrap();
        let empties: Vec<String> = take_empty_values(&mut read)
            .iter()
            .map(|p| p.join("/"))
            .collect();
        assert_eq!(empties, ["a", "d", "e/f", "i", "k", "seq/0/n"]);
        assert_eq!(read, from_str(text).unwrap());
        let mut patch = from_str_as(text, Reading::KustomizePatch).unwrap();
        assert!(take_empty_values(&mut patch).is_empty());
        assert_eq!(patch, read);
        let annotations = "metadata:\n  annotations:\n    a:\n    b: null\n    c: ~\n    d: ''\n    e: !!str null\n";
        let patch = from_str_as(annotations, Reading::KustomizePatch).unwrap();
        assert_eq!(
            patch["metadata"]["annotations"],
            json!({"a": null, "b": null, "c": null, "d": "", "e": "null"})
        );
    }

    #[test]
    fn deep_flow_nesting_is_found_before_parsing_and_text_never_counts() {
        let deep = format!("data: {}1{}\n", "{a: ".repeat(200), "}".repeat(200));
        assert_eq!(too_deep(&deep), Some((1, 6 + 4 * 128 + 1)));
        let shallow = format!("data: {}1{}\n", "{a: ".repeat(100), "}".repeat(100));
        assert_eq!(too_deep(&shallow), None);
        let braces = "{".repeat(300);
        for text in [
            format!("a: '{braces}'\n"),
            format!("a: \"{braces}\"\n"),
            format!("a: 1 # {braces}\n"),
            format!("script: |\n  {braces}\n  more\nnext: 1\n"),
            format!("- >-\n    {braces}\n"),
            format!("a: [\"{braces}\", 'it''s {braces}']\n"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
        // After a block scalar ends, flow nesting counts again.
        assert!(too_deep(&format!("s: |\n  x\n{deep}")).is_some());
    }

    #[test]
    fn plain_octal_is_a_number_quoted_stays_a_string() {
        let text = "\
plain: 0644
single: '0644'
double: \"0644\"
block: |
  0644
folded: >-
  0644
escaped: \"\\x30644\"
continued: \"\\
  0644\"
tagged: !!str 0644
anchoredTag: &a !!str 0755
o: 0o600
seq: [0644, '0644', \"0400\", 0755]
blockSeq:
  - 0400
  - '0400'
map: {mode: 0755, quoted: '0755'}
";
        assert_eq!(
            read(text),
            json!({
                "plain": 420, "single": "0644", "double": "0644",
                "block": "0644\n", "folded": "0644", "escaped": "0644",
                "continued": "0644", "tagged": "0644", "anchoredTag": "0755",
                "o": 384,
                "seq": [420, "0644", "0400", 493],
                "blockSeq": [256, "0400"],
                "map": {"mode": 493, "quoted": "0755"},
            })
        );
    }

    /// Each as `kubectl label --local -o json` (go-yaml v2) and `kubectl
    /// kustomize` (go-yaml v3) read it, checked with kubectl 1.32.
    #[test]
    fn numbers_follow_go_yaml() {
        let cases = [
            ("0644", json!(420)),
            ("0o644", json!(420)),
            ("+0644", json!(420)),
            ("-0644", json!(-420)),
            ("0_644", json!(420)),
            ("1_000", json!(1000)),
            ("0x1A", json!(26)),
            ("0X1A", json!(26)),
            ("0x_1A", json!(26)),
            ("0b101", json!(5)),
            ("0B101", json!(5)),
            ("08", json!(8)),
            ("0900", json!(900)),
            ("0648", json!(648)),
            ("00", json!(0)),
            ("0", json!(0)),
            ("+12", json!(12)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000)),
            ("1.", json!(1)),
            (".5", json!(0.5)),
            ("0.50", json!(0.5)),
            ("1:30", json!("1:30")),
            ("2001-12-14", json!("2001-12-14")),
            ("0x", json!("0x")),
            ("0b2", json!("0b2")),
            ("09.5", json!(9.5)),
            ("-0x1A", json!(-26)),
            ("01777777777777777777777", json!(u64::MAX)),
            ("-01000000000000000000000", json!(i64::MIN)),
            ("1e400", json!("1e400")),
            ("yes", json!("yes")),
            ("on", json!("on")),
            ("true", json!(true)),
            ("~", json!(null)),
            ("_1", json!("_1")),
            ("1.0", json!(1)),
            ("0O17", json!(15)),
            ("+0x1A", json!(26)),
            ("1_000.5", json!(1000.5)),
        ];
        for (scalar, want) in cases {
            assert_eq!(read(&format!("v: {scalar}\n"))["v"], want, "{scalar}");
        }
    }

    #[test]
    fn keys_keep_their_text() {
        let value = read("0644: a\n1: b\n~: c\n'0644x': d\nyes: e\n");
        assert_eq!(
            value,
            json!({"0644": "a", "1": "b", "~": "c", "0644x": "d", "yes": "e"})
        );
    }

    #[test]
    fn aliases_of_octal_scalars_are_numbers() {
        let value = read("a: &m 0644\nb: *m\nc: &q '0644'\nd: *q\n");
        assert_eq!(value, json!({"a": 420, "b": 420, "c": "0644", "d": "0644"}));
    }

    #[test]
    fn merge_key_single_mapping() {
        let text = "\
base: &base {a: 1, b: 2}
after:
  <<: *base
  a: own
before:
  a: own
  <<: *base
inline:
  <<: {x: 1, y: 2}
  y: 3
";
        assert_eq!(
            read(text),
            json!({
                "base": {"a": 1, "b": 2},
                "after": {"a": "own", "b": 2},
                "before": {"a": "own", "b": 2},
                "inline": {"x": 1, "y": 3},
            })
        );
    }

    #[test]
    fn merge_key_list_earlier_wins_and_own_keys_win() {
        let text = "\
base: &base {a: base-a, b: base-b, c: base-c}
other: &other {a: other-a, d: other-d}
list:
  <<: [*other, *base]
own:
  b: own
  <<: [*base, *other]
twice:
  <<: *base
  <<: *other
";
        let value = read(text);
        assert_eq!(
            value["list"],
            json!({"a": "other-a", "b": "base-b", "c": "base-c", "d": "other-d"})
        );
        assert_eq!(
            value["own"],
            json!({"a": "base-a", "b": "own", "c": "base-c", "d": "other-d"})
        );
        // A repeated `<<`: the later wins, as for any repeated key.
        assert_eq!(
            value["twice"],
            json!({"a": "other-a", "b": "base-b", "c": "base-c", "d": "other-d"})
        );
    }

    #[test]
    fn merges_nest_and_quoted_merge_keys_are_keys() {
        let text = "\
base: &base {a: 1, m: 0644}
holder: &holder
  <<: *base
  z: 2
deep:
  <<: *holder
  a: 3
items:
  - <<: *base
    c: 4
quoted:
  \"<<\": *base
";
        let value = read(text);
        assert_eq!(value["deep"], json!({"a": 3, "m": 420, "z": 2}));
        assert_eq!(value["items"], json!([{"a": 1, "m": 420, "c": 4}]));
        assert_eq!(value["quoted"], json!({"<<": {"a": 1, "m": 420}}));
    }

    #[test]
    fn merging_a_scalar_is_an_error_at_the_scalar() {
        let err = from_str("s: &s hello\nm:\n  a: 1\n  <<: *s\n").unwrap_err();
        assert!(
            err.to_string().contains("expected a mapping or a list"),
            "{err}"
        );
        assert_eq!(err.location().map(|l| l.line()), Some(1), "{err}");
        let err = from_str("m:\n  <<: [{a: 1}, 2]\n").unwrap_err();
        assert!(err.to_string().contains("invalid type: integer"), "{err}");
        assert_eq!(err.location().map(|l| l.line()), Some(2), "{err}");
    }

    /// Errors, their text and their places, are serde_yaml_ng's.
    #[test]
    fn errors_are_serde_yaml_ngs() {
        for text in [
            "a: 1\nb: [unclosed\n",
            "a: 1\n  b: 2\n",
            "a:\n  - 1\n  b: 2\n",
            "a: 1\n---\nb: 2\n",
            "a: *nowhere\n",
            "? [1, 2]\n: x\n",
            "a: !custom 1\n",
            "a: 1\nb:\n  c: {d: [1, \"x\n",
        ] {
            let ours = from_str(text).unwrap_err();
            let theirs = serde_yaml_ng::from_str::<Value>(text).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string(), "{text}");
            assert_eq!(
                ours.location().map(|l| (l.line(), l.column())),
                theirs.location().map(|l| (l.line(), l.column())),
                "{text}"
            );
        }
    }

    /// What serde_yaml_ng already reads as kubectl does reads the same.
    #[test]
    fn the_rest_reads_as_before() {
        let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: a, labels: {app: a}}
data:
  s: hello world
  multi: |
    line 1
    line 2
  empty: ''
n: null
e:
t: True
i: -12
h: 0x10
f: 1.5
inf: .inf
u: 'it''s'
dup: 1
dup: 2
";
        let mut before = serde_yaml_ng::from_str::<Value>(text).unwrap();
        // The one change: a float with no fraction is an integer.
        assert_eq!(before["f"], json!(1.5));
        assert_eq!(read(text), before);
        before["x"] = json!(1);
        assert_ne!(read(text), before);
    }
}
