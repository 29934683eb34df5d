//! Sprig's string functions (strings.go, the string entries of functions.go, url.go), with
//! the helpers they borrow from Go's `strings`, Masterminds/goutils and huandu/xstrings.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{arg_int, arg_str, Registry, Ty};
use crate::gofmt;
use crate::value::{Map, MapKind, Value};

/// The most bytes a string function builds (`repeat`): Go would try and run out of memory.
const MAX_OUTPUT: usize = 10_000_000;

pub(super) fn register(r: &mut Registry) {
    use Ty::{Any, Int, String as S};
    r.add("hello", &[], None, |_| Ok(Value::str("Hello!")));
    r.add("quote", &[], Some(Any), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| gofmt::quote(&to_str(v)))
            .collect();
        Ok(Value::string(parts.join(" ")))
    });
    r.add("squote", &[], Some(Any), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| format!("'{}'", gofmt::to_string(v)))
            .collect();
        Ok(Value::string(parts.join(" ")))
    });
    r.add("cat", &[], Some(Any), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(gofmt::to_string)
            .collect();
        Ok(Value::string(parts.join(" ")))
    });
    r.add("indent", &[Int, S], None, |a| {
        Ok(Value::string(indent(arg_int(a, 0), arg_str(a, 1))?))
    });
    r.add("nindent", &[Int, S], None, |a| {
        Ok(Value::string(format!(
            "\n{}",
            indent(arg_int(a, 0), arg_str(a, 1))?
        )))
    });
    r.add("upper", &[S], None, |a| {
        Ok(Value::string(
            arg_str(a, 0).chars().map(go_to_upper).collect(),
        ))
    });
    r.add("lower", &[S], None, |a| {
        Ok(Value::string(
            arg_str(a, 0).chars().map(go_to_lower).collect(),
        ))
    });
    r.add("title", &[S], None, |a| {
        Ok(Value::string(title(arg_str(a, 0))))
    });
    r.add("untitle", &[S], None, |a| {
        Ok(Value::string(untitle(arg_str(a, 0))))
    });
    r.add("substr", &[Int, Int, S], None, |a| {
        substr(arg_int(a, 0), arg_int(a, 1), arg_str(a, 2)).map(bytes_value)
    });
    r.add("repeat", &[Int, S], None, |a| {
        repeat(arg_int(a, 0), arg_str(a, 1)).map(Value::string)
    });
    r.add("trim", &[S], None, |a| {
        Ok(Value::str(arg_str(a, 0).trim_matches(go_is_space)))
    });
    r.add("trimAll", &[S, S], None, |a| {
        Ok(Value::str(trim_cutset(arg_str(a, 1), arg_str(a, 0))))
    });
    r.add("trimall", &[S, S], None, |a| {
        Ok(Value::str(trim_cutset(arg_str(a, 1), arg_str(a, 0))))
    });
    r.add("trimSuffix", &[S, S], None, |a| {
        let (suffix, s) = (arg_str(a, 0), arg_str(a, 1));
        Ok(Value::str(s.strip_suffix(suffix).unwrap_or(s)))
    });
    r.add("trimPrefix", &[S, S], None, |a| {
        let (prefix, s) = (arg_str(a, 0), arg_str(a, 1));
        Ok(Value::str(s.strip_prefix(prefix).unwrap_or(s)))
    });
    r.add("nospace", &[S], None, |a| {
        Ok(Value::string(nospace(arg_str(a, 0))))
    });
    r.add("abbrev", &[Int, S], None, |a| {
        let (width, s) = (arg_int(a, 0), arg_str(a, 1));
        if width < 4 {
            return Ok(Value::str(s));
        }
        Ok(bytes_value(
            abbreviate_full(s.as_bytes(), 0, width).unwrap_or_default(),
        ))
    });
    r.add("abbrevboth", &[Int, Int, S], None, |a| {
        let (left, right, s) = (arg_int(a, 0), arg_int(a, 1), arg_str(a, 2));
        if right < 4 || left > 0 && right < 7 {
            return Ok(Value::str(s));
        }
        Ok(bytes_value(
            abbreviate_full(s.as_bytes(), left, right).unwrap_or_default(),
        ))
    });
    r.add("initials", &[S], None, |a| {
        Ok(Value::string(initials(arg_str(a, 0))))
    });
    r.add("wrap", &[Int, S], None, |a| {
        Ok(bytes_value(wrap_custom(
            arg_str(a, 1),
            arg_int(a, 0),
            "",
            false,
        )))
    });
    r.add("wrapWith", &[Int, S, S], None, |a| {
        let (width, sep, text) = (arg_int(a, 0).max(1), arg_str(a, 1), arg_str(a, 2));
        let lines = text.len() / width as usize + 1;
        if lines.saturating_mul(sep.len()).saturating_add(text.len()) > MAX_OUTPUT {
            return Err("wrapWith: output too large".into());
        }
        Ok(bytes_value(wrap_custom(text, width, sep, true)))
    });
    r.add("contains", &[S, S], None, |a| {
        Ok(Value::Bool(arg_str(a, 1).contains(arg_str(a, 0))))
    });
    r.add("hasPrefix", &[S, S], None, |a| {
        Ok(Value::Bool(arg_str(a, 1).starts_with(arg_str(a, 0))))
    });
    r.add("hasSuffix", &[S, S], None, |a| {
        Ok(Value::Bool(arg_str(a, 1).ends_with(arg_str(a, 0))))
    });
    r.add("replace", &[S, S, S], None, |a| {
        let (old, new, src) = (arg_str(a, 0), arg_str(a, 1), arg_str(a, 2));
        let hits = if old.is_empty() {
            src.chars().count() + 1
        } else {
            src.matches(old).count()
        };
        if hits.saturating_mul(new.len()).saturating_add(src.len()) > MAX_OUTPUT {
            return Err("strings: Replace output too large".into());
        }
        Ok(Value::string(src.replace(old, new)))
    });
    r.add("plural", &[S, S, Int], None, |a| {
        Ok(Value::str(if arg_int(a, 2) == 1 {
            arg_str(a, 0)
        } else {
            arg_str(a, 1)
        }))
    });
    r.add("snakecase", &[S], None, |a| {
        Ok(Value::string(camel_to_lower(arg_str(a, 0), '_')))
    });
    r.add("kebabcase", &[S], None, |a| {
        Ok(Value::string(camel_to_lower(arg_str(a, 0), '-')))
    });
    r.add("camelcase", &[S], None, |a| {
        Ok(Value::string(pascal_case(arg_str(a, 0))))
    });
    r.add("swapcase", &[S], None, |a| {
        Ok(Value::string(swapcase(arg_str(a, 0))))
    });
    r.add("trunc", &[Int, S], None, |a| {
        let (c, s) = (arg_int(a, 0), arg_str(a, 1).as_bytes());
        let len = s.len() as i64;
        if c < 0 && len + c > 0 {
            return Ok(bytes_value(s[(len + c) as usize..].to_vec()));
        }
        if c >= 0 && len > c {
            return Ok(bytes_value(s[..c as usize].to_vec()));
        }
        Ok(a[1].clone())
    });
    r.add("toString", &[Any], None, |a| {
        Ok(Value::string(to_str(&a[0])))
    });
    r.add("toStrings", &[Any], None, |a| {
        Ok(Value::string_list(strslice(&a[0])))
    });
    r.add("join", &[S, Any], None, |a| {
        Ok(Value::string(strslice(&a[1]).join(arg_str(a, 0))))
    });
    r.add("sortAlpha", &[Any], None, |a| {
        let mut items = match &a[0] {
            Value::List(_) => strslice(&a[0]),
            other => vec![to_str(other)],
        };
        items.sort();
        Ok(Value::string_list(items))
    });
    r.add("split", &[S, S], None, |a| {
        Ok(split_map(go_split(arg_str(a, 1), arg_str(a, 0), -1)))
    });
    r.add("splitn", &[S, Int, S], None, |a| {
        Ok(split_map(go_split(
            arg_str(a, 2),
            arg_str(a, 0),
            arg_int(a, 1),
        )))
    });
    r.add("splitList", &[S, S], None, |a| {
        Ok(Value::string_list(
            go_split(arg_str(a, 1), arg_str(a, 0), -1)
                .into_iter()
                .map(str::to_string)
                .collect(),
        ))
    });
    r.add("urlParse", &[S], None, |a| url_parse(arg_str(a, 0)));
    r.add("urlJoin", &[Ty::Map], None, |a| url_join(&a[0]));
}

/// Sprig's `strval`: a string as is, anything else in Go's default format.
pub fn to_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => gofmt::to_string(other),
    }
}

/// Sprig's `strslice` (`toStrings`): a list's items as strings, nils left out; nil is an
/// empty list, anything else a list of one.
pub fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.items.iter().filter(|i| !i.is_nil()).map(to_str).collect(),
        Value::Nil => Vec::new(),
        other => vec![to_str(other)],
    }
}

/// A Go string of arbitrary bytes, as a template value (invalid UTF-8 becomes U+FFFD).
fn bytes_value(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::string(s),
        Err(e) => Value::string(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn indent(spaces: i64, s: &str) -> Result<String, String> {
    if spaces < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let pad_len = spaces as usize;
    let lines = s.bytes().filter(|b| *b == b'\n').count() + 1;
    if lines.saturating_mul(pad_len).saturating_add(s.len()) > MAX_OUTPUT {
        return Err("strings: Repeat output too large".into());
    }
    let pad = " ".repeat(pad_len);
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

fn repeat(count: i64, s: &str) -> Result<String, String> {
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    if (count as u128) * (s.len() as u128) > MAX_OUTPUT as u128 {
        return Err("strings: Repeat output too large".into());
    }
    Ok(s.repeat(count as usize))
}

/// Go's runtime message for a failed slice expression `s[lo:hi]` on a string of `len` bytes.
fn slice_panic(lo: Option<i64>, hi: Option<i64>, len: usize) -> String {
    let msg = match (lo, hi) {
        (None, Some(h)) if h < 0 => format!("slice bounds out of range [:{h}]"),
        (None, Some(h)) => format!("slice bounds out of range [:{h}] with length {len}"),
        (Some(l), None) if l < 0 => format!("slice bounds out of range [{l}:]"),
        (Some(l), None) => format!("slice bounds out of range [{l}:{len}]"),
        (Some(l), Some(h)) => format!("slice bounds out of range [{l}:{h}]"),
        (None, None) => String::new(),
    };
    format!("runtime error: {msg}")
}

fn substr(start: i64, end: i64, s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let len = b.len() as i64;
    if start < 0 {
        if end < 0 || end > len {
            return Err(slice_panic(None, Some(end), b.len()));
        }
        return Ok(b[..end as usize].to_vec());
    }
    if end < 0 || end > len {
        if start > len {
            return Err(slice_panic(Some(start), None, b.len()));
        }
        return Ok(b[start as usize..].to_vec());
    }
    if start > end {
        return Err(slice_panic(Some(start), Some(end), b.len()));
    }
    Ok(b[start as usize..end as usize].to_vec())
}

/// Go's `strings.Trim(s, cutset)`.
fn trim_cutset<'a>(s: &'a str, cutset: &str) -> &'a str {
    s.trim_matches(|c: char| cutset.contains(c))
}

/// Go's `strings.Split` / `SplitN` (`n < 0`: no limit; `n == 0`: nothing).
fn go_split<'a>(s: &'a str, sep: &str, n: i64) -> Vec<&'a str> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        // explode: one piece per UTF-8 sequence, the last holding the rest.
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            if n > 0 && out.len() as i64 == n - 1 {
                out.push(rest);
                return out;
            }
            let w = rest.chars().next().map(char::len_utf8).unwrap_or(1);
            out.push(&rest[..w]);
            rest = &rest[w..];
        }
        return out;
    }
    if n < 0 {
        s.split(sep).collect()
    } else {
        s.splitn(n as usize, sep).collect()
    }
}

/// Sprig's `split`/`splitn` result: a `map[string]string` keyed `_0`, `_1`, ….
fn split_map(parts: Vec<&str>) -> Value {
    let entries: BTreeMap<String, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Value::str(p)))
        .collect();
    Value::Map(Map {
        kind: MapKind::String,
        entries: Rc::new(std::cell::RefCell::new(entries)),
    })
}

// ---------------------------------------------------------------- Go's unicode package

/// Go's `unicode.IsSpace`.
pub fn go_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

fn is_title_case(c: char) -> bool {
    matches!(c as u32, 0x1c5 | 0x1c8 | 0x1cb | 0x1f2 | 0x1f88..=0x1f8f | 0x1f98..=0x1f9f | 0x1fa8..=0x1faf | 0x1fbc | 0x1fcc | 0x1ffc)
}

/// Go's `unicode.IsUpper` (category Lu).
fn go_is_upper(c: char) -> bool {
    c.is_uppercase()
        && !matches!(c as u32, 0x2160..=0x216f | 0x24b6..=0x24cf | 0x1f130..=0x1f149 | 0x1f150..=0x1f169 | 0x1f170..=0x1f189)
}

/// Go's `unicode.IsLower` (category Ll).
fn go_is_lower(c: char) -> bool {
    c.is_lowercase()
        && !matches!(c as u32, 0xaa | 0xba | 0x2b0..=0x2b8 | 0x2c0..=0x2c1 | 0x2e0..=0x2e4 | 0x345 | 0x37a | 0x1d2c..=0x1d6a | 0x1d78 | 0x1d9b..=0x1dbf | 0x2071 | 0x207f | 0x2090..=0x209c | 0x2170..=0x217f | 0x24d0..=0x24e9 | 0x2c7c..=0x2c7d | 0xa69c..=0xa69d | 0xa770 | 0xa7f8..=0xa7f9 | 0xab5c..=0xab5f)
}

/// Go's `unicode.IsLetter` (category L), approximately.
fn go_is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    c.is_alphabetic()
        && !c.is_numeric()
        && !matches!(c as u32, 0x345 | 0x5b0..=0x5c7 | 0x610..=0x61a | 0x64b..=0x657 | 0x900..=0x903 | 0x93a..=0x94f)
}

/// Go's `unicode.IsPunct` (category P), exact for ASCII and Latin-1.
fn go_is_punct(c: char) -> bool {
    if (c as u32) < 0x80 {
        return matches!(
            c,
            '!' | '"'
                | '#'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | ','
                | '-'
                | '.'
                | '/'
                | ':'
                | ';'
                | '?'
                | '@'
                | '['
                | '\\'
                | ']'
                | '_'
                | '{'
                | '}'
        );
    }
    matches!(c as u32, 0xa1 | 0xa7 | 0xab | 0xb6 | 0xb7 | 0xbb | 0xbf | 0x37e | 0x387 | 0x55a..=0x55f | 0x589..=0x58a | 0x5be | 0x5c0 | 0x5c3 | 0x5c6 | 0x5f3..=0x5f4 | 0x609..=0x60a | 0x60c..=0x60d | 0x61b | 0x61d..=0x61f | 0x66a..=0x66d | 0x6d4 | 0x964..=0x965 | 0x970 | 0x2010..=0x2027 | 0x2030..=0x2043 | 0x2045..=0x2051 | 0x2053..=0x205e | 0x207d..=0x207e | 0x208d..=0x208e | 0x2308..=0x230b | 0x2329..=0x232a | 0x2768..=0x2775 | 0x27c5..=0x27c6 | 0x27e6..=0x27ef | 0x2983..=0x2998 | 0x29d8..=0x29db | 0x29fc..=0x29fd | 0x2cf9..=0x2cfc | 0x2cfe..=0x2cff | 0x2e00..=0x2e2e | 0x2e30..=0x2e4f | 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301f | 0x3030 | 0x303d | 0x30a0 | 0x30fb | 0xfe10..=0xfe19 | 0xfe30..=0xfe52 | 0xfe54..=0xfe61 | 0xfe63 | 0xfe68 | 0xfe6a..=0xfe6b | 0xff01..=0xff03 | 0xff05..=0xff0a | 0xff0c..=0xff0f | 0xff1a..=0xff1b | 0xff1f..=0xff20 | 0xff3b..=0xff3d | 0xff3f | 0xff5b | 0xff5d | 0xff5f..=0xff65)
}

/// Go's `unicode.IsNumber` (category N).
fn go_is_number(c: char) -> bool {
    c.is_numeric()
}

/// One rune's simple case mapping, as Go's `unicode.ToUpper`.
pub fn go_to_upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    match c as u32 {
        0x1c5 | 0x1c6 => return '\u{1c4}',
        0x1c8 | 0x1c9 => return '\u{1c7}',
        0x1cb | 0x1cc => return '\u{1ca}',
        0x1f2 | 0x1f3 => return '\u{1f1}',
        _ => {}
    }
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// One rune's simple case mapping, as Go's `unicode.ToLower`.
pub fn go_to_lower(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    match c as u32 {
        0x130 => return 'i',
        0x1c4 | 0x1c5 => return '\u{1c6}',
        0x1c7 | 0x1c8 => return '\u{1c9}',
        0x1ca | 0x1cb => return '\u{1cc}',
        0x1f1 | 0x1f2 => return '\u{1f3}',
        _ => {}
    }
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Go's `unicode.ToTitle`.
fn go_to_title(c: char) -> char {
    match c as u32 {
        0x1c4..=0x1c6 => '\u{1c5}',
        0x1c7..=0x1c9 => '\u{1c8}',
        0x1ca..=0x1cc => '\u{1cb}',
        0x1f1..=0x1f3 => '\u{1f2}',
        _ if is_title_case(c) => c,
        _ => go_to_upper(c),
    }
}

// ---------------------------------------------------------------- case changes

/// Go's `strings.Title`.
fn title(s: &str) -> String {
    fn is_separator(c: char) -> bool {
        if (c as u32) <= 0x7f {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        // Letters and digits are not separators, and only spaces are.
        go_is_space(c)
    }
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) {
                go_to_title(c)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// goutils' `Uncapitalize` with whitespace delimiters.
fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if go_is_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                go_to_lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils' `SwapCase`.
fn swapcase(s: &str) -> String {
    let mut whitespace = true;
    s.chars()
        .map(|c| {
            if go_is_upper(c) || is_title_case(c) {
                whitespace = false;
                go_to_lower(c)
            } else if go_is_lower(c) {
                if whitespace {
                    whitespace = false;
                    go_to_title(c)
                } else {
                    go_to_upper(c)
                }
            } else {
                whitespace = go_is_space(c);
                c
            }
        })
        .collect()
}

/// A byte read as Go's `rune(str[i])`: Latin-1.
fn latin1(b: u8) -> char {
    char::from(b)
}

/// goutils' `DeleteWhiteSpace`, which works on bytes.
fn nospace(s: &str) -> String {
    let kept: Vec<char> = s.bytes().map(latin1).filter(|c| !go_is_space(*c)).collect();
    if kept.len() == s.len() {
        return s.to_string();
    }
    kept.into_iter().collect()
}

/// goutils' `Initials` with whitespace delimiters, which works on bytes.
fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for c in s.bytes().map(latin1) {
        if go_is_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// goutils' `AbbreviateFull` (None: its errors).
fn abbreviate_full(s: &[u8], offset: i64, max_width: i64) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    if max_width < 4 {
        return None;
    }
    let len = s.len() as i64;
    if len <= max_width {
        return Some(s.to_vec());
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    let marker = b"...";
    if offset <= 4 {
        let mut out = s[..(max_width - 3) as usize].to_vec();
        out.extend_from_slice(marker);
        return Some(out);
    }
    if max_width < 7 {
        return None;
    }
    let mut out = marker.to_vec();
    if offset + max_width - 3 < len {
        out.extend(abbreviate_full(&s[offset as usize..], 0, max_width - 3).unwrap_or_default());
    } else {
        out.extend_from_slice(&s[(len - (max_width - 3)) as usize..]);
    }
    Some(out)
}

/// goutils' `WrapCustom`, on bytes.
fn wrap_custom(s: &str, wrap_length: i64, newline: &str, wrap_long: bool) -> Vec<u8> {
    let s = s.as_bytes();
    if s.is_empty() {
        return Vec::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline }.as_bytes();
    let wrap = wrap_length.max(1) as usize;
    let len = s.len();
    let mut offset = 0usize;
    let mut out = Vec::new();
    while len - offset > wrap {
        if s[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = wrap + offset + 1;
        let space = s[offset..end].iter().rposition(|b| *b == b' ');
        if let Some(sp) = space.map(|p| p + offset) {
            out.extend_from_slice(&s[offset..sp]);
            out.extend_from_slice(newline);
            offset = sp + 1;
        } else if wrap_long {
            out.extend_from_slice(&s[offset..wrap + offset]);
            out.extend_from_slice(newline);
            offset += wrap;
        } else {
            let end = wrap + offset;
            match s[end..].iter().position(|b| *b == b' ') {
                None => {
                    out.extend_from_slice(&s[offset..]);
                    offset = len;
                }
                Some(i) => {
                    let sp = i + end;
                    out.extend_from_slice(&s[offset..sp]);
                    out.extend_from_slice(newline);
                    offset = sp + 1;
                }
            }
        }
    }
    out.extend_from_slice(&s[offset..]);
    out
}

// ---------------------------------------------------------------- xstrings

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || go_is_space(c)
}

/// xstrings' `isAlphabet`: a letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    if !go_is_letter(c) {
        return false;
    }
    !matches!(c as u32, 0x4e00..=0x9fcc | 0x3400..=0x4d85 | 0x20000..=0x2b81d)
}

/// xstrings' `ToPascalCase` (Sprig's `camelcase`).
fn pascal_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let mut i = 0;
    let mut first_upper = false;
    let mut r0 = '\0';
    while i < chars.len() {
        r0 = chars[i];
        i += 1;
        if !is_connector(r0) {
            first_upper = go_is_upper(r0);
            r0 = go_to_upper(r0);
            break;
        }
        out.push(r0);
    }
    if i >= chars.len() {
        // Go writes the last rune read again, even a connector.
        out.push(r0);
        return out;
    }
    while i < chars.len() {
        let r1 = r0;
        r0 = chars[i];
        i += 1;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = go_is_upper(r0);
            r0 = go_to_upper(r0);
        } else {
            if first_upper {
                if go_is_upper(r0) {
                    r0 = go_to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextWord`, on a valid UTF-8 string.
fn next_word(s: &str) -> (Word, &str, &str) {
    let mut it = s.char_indices();
    let Some((_, r)) = it.next() else {
        return (Word::Invalid, "", "");
    };
    let first = r.len_utf8();
    let take_while = |start: usize, pred: &dyn Fn(char) -> bool| -> usize {
        let mut end = start;
        for c in s[start..].chars() {
            if !pred(c) {
                break;
            }
            end += c.len_utf8();
        }
        end
    };
    let (wt, end) = if is_connector(r) {
        (Word::Connector, take_while(first, &is_connector))
    } else if go_is_punct(r) {
        (Word::Punct, take_while(first, &go_is_punct))
    } else if go_is_upper(r) {
        let mut end = first;
        if let Some(r2) = s[first..].chars().next() {
            if go_is_upper(r2) {
                let mut prev_size = r2.len_utf8();
                end = first + prev_size;
                let mut next = None;
                for c in s[end..].chars() {
                    if !go_is_upper(c) {
                        next = Some(c);
                        break;
                    }
                    prev_size = c.len_utf8();
                    end += prev_size;
                }
                if let Some(c) = next {
                    if is_alphabet(c) {
                        end -= prev_size;
                    }
                }
            } else if is_alphabet(r2) {
                end = take_while(first, &|c| is_alphabet(c) && !go_is_upper(c));
            }
        }
        (Word::Upper, end)
    } else if is_alphabet(r) {
        (
            Word::Alphabet,
            take_while(first, &|c| is_alphabet(c) && !go_is_upper(c)),
        )
    } else if go_is_number(r) {
        (Word::Number, take_while(first, &go_is_number))
    } else {
        (
            Word::Other,
            take_while(first, &|c| {
                !(is_connector(c) || is_alphabet(c) || go_is_number(c) || go_is_punct(c))
            }),
        )
    };
    (wt, &s[..end], &s[end..])
}

fn to_lower_word(out: &mut String, wt: Word, word: &str, connector: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            out.push(connector);
        } else if go_is_upper(c) {
            out.push(go_to_lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' `camelCaseToLowerCase` (`snakecase`, `kebabcase`).
fn camel_to_lower(s: &str, connector: char) -> String {
    if s.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let (mut wt, mut word, mut remaining) = next_word(s);
    while !remaining.is_empty() {
        if wt != Word::Connector {
            to_lower_word(&mut out, wt, word, connector);
        }
        let prev = wt;
        let last = word;
        (wt, word, remaining) = next_word(remaining);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower_word(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Punct && wt != Word::Connector {
                    out.push(connector);
                }
            }
            Word::Connector => to_lower_word(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if remaining.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, remaining) = next_word(remaining);
                if wt != Word::Alphabet {
                    to_lower_word(&mut out, Word::Number, last, connector);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                out.push(connector);
                to_lower_word(&mut out, Word::Number, last, connector);
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower_word(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Connector && wt != Word::Punct {
                    out.push(connector);
                }
            }
        }
    }
    to_lower_word(&mut out, wt, word, connector);
    out
}

// ---------------------------------------------------------------- urls

fn url_parse(s: &str) -> Result<Value, String> {
    let u = url::parse(s).map_err(|e| format!("unable to parse url: {e}"))?;
    let mut m = BTreeMap::new();
    let host = u.host.clone();
    m.insert("scheme".to_string(), Value::string(u.scheme));
    m.insert("hostname".to_string(), Value::string(url::hostname(&host)));
    m.insert("host".to_string(), Value::string(host));
    m.insert("path".to_string(), Value::string(u.path));
    m.insert("query".to_string(), Value::string(u.raw_query));
    m.insert("opaque".to_string(), Value::string(u.opaque));
    m.insert("fragment".to_string(), Value::string(u.fragment));
    m.insert(
        "userinfo".to_string(),
        Value::string(u.user.map(|u| u.to_string()).unwrap_or_default()),
    );
    Ok(Value::map(m))
}

fn url_join(d: &Value) -> Result<Value, String> {
    let get = |key: &str| -> Result<String, String> {
        let v = match d {
            Value::Map(m) => m.get(key),
            _ => None,
        };
        match v {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            Some(Value::Nil) => {
                Err("runtime error: invalid memory address or nil pointer dereference".into())
            }
            Some(other) => Err(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                other.kind_name()
            )),
        }
    };
    let mut u = url::Url {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        raw_query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        ..Default::default()
    };
    let userinfo = get("userinfo")?;
    if !userinfo.is_empty() {
        let t = url::parse(&format!("proto://{userinfo}@host"))
            .map_err(|e| format!("unable to parse userinfo in dict: {e}"))?;
        u.user = t.user;
    }
    Ok(Value::string(u.to_string()))
}

/// Go's `net/url`, as far as `urlParse` and `urlJoin` reach it.
mod url {
    use std::fmt;

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Path,
        Host,
        Zone,
        UserPassword,
        QueryComponent,
        Fragment,
    }

    fn should_escape(c: u8, mode: Mode) -> bool {
        if c.is_ascii_alphanumeric() {
            return false;
        }
        if (mode == Mode::Host || mode == Mode::Zone)
            && matches!(
                c,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'<'
                    | b'>'
                    | b'"'
            )
        {
            return false;
        }
        match c {
            b'-' | b'_' | b'.' | b'~' => return false,
            b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
                Mode::Path => return c == b'?',
                Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
                Mode::QueryComponent => return true,
                Mode::Fragment => return false,
                _ => {}
            },
            _ => {}
        }
        if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
            return false;
        }
        true
    }

    fn unhex(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c.wrapping_sub(b'A').wrapping_add(10),
        }
    }

    fn lossy(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    fn unescape(s: &str, mode: Mode) -> Result<String, String> {
        let b = s.as_bytes();
        let mut n = 0;
        let mut has_plus = false;
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    n += 1;
                    if i + 2 >= b.len()
                        || !b[i + 1].is_ascii_hexdigit()
                        || !b[i + 2].is_ascii_hexdigit()
                    {
                        let end = (i + 3).min(b.len());
                        let bad = lossy(b[i..end].to_vec());
                        return Err(format!("invalid URL escape {}", crate::gofmt::quote(&bad)));
                    }
                    let esc = &b[i..i + 3];
                    if mode == Mode::Host && unhex(b[i + 1]) < 8 && esc != b"%25" {
                        return Err(format!(
                            "invalid URL escape {}",
                            crate::gofmt::quote(&lossy(esc.to_vec()))
                        ));
                    }
                    if mode == Mode::Zone {
                        let v = unhex(b[i + 1]) << 4 | unhex(b[i + 2]);
                        if esc != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                            return Err(format!(
                                "invalid URL escape {}",
                                crate::gofmt::quote(&lossy(esc.to_vec()))
                            ));
                        }
                    }
                    i += 3;
                }
                b'+' => {
                    has_plus = mode == Mode::QueryComponent;
                    i += 1;
                }
                c => {
                    if (mode == Mode::Host || mode == Mode::Zone)
                        && c < 0x80
                        && should_escape(c, mode)
                    {
                        let bad = (c as char).to_string();
                        return Err(format!(
                            "invalid character {} in host name",
                            crate::gofmt::quote(&bad)
                        ));
                    }
                    i += 1;
                }
            }
        }
        if n == 0 && !has_plus {
            return Ok(s.to_string());
        }
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    out.push(unhex(b[i + 1]) << 4 | unhex(b[i + 2]));
                    i += 2;
                }
                b'+' => out.push(if mode == Mode::QueryComponent {
                    b' '
                } else {
                    b'+'
                }),
                c => out.push(c),
            }
            i += 1;
        }
        Ok(lossy(out))
    }

    fn escape(s: &str, mode: Mode) -> String {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = Vec::with_capacity(s.len());
        for c in s.bytes() {
            if c == b' ' && mode == Mode::QueryComponent {
                out.push(b'+');
            } else if should_escape(c, mode) {
                out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
            } else {
                out.push(c);
            }
        }
        lossy(out)
    }

    #[derive(Clone, Default)]
    pub struct User {
        username: String,
        password: Option<String>,
    }

    impl fmt::Display for User {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", escape(&self.username, Mode::UserPassword))?;
            if let Some(p) = &self.password {
                write!(f, ":{}", escape(p, Mode::UserPassword))?;
            }
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    pub struct Url {
        pub scheme: String,
        pub opaque: String,
        pub user: Option<User>,
        pub host: String,
        pub path: String,
        pub raw_path: String,
        pub omit_host: bool,
        pub force_query: bool,
        pub raw_query: String,
        pub fragment: String,
        pub raw_fragment: String,
    }

    fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
        for (i, c) in raw.bytes().enumerate() {
            match c {
                b'a'..=b'z' | b'A'..=b'Z' => {}
                b'0'..=b'9' | b'+' | b'-' | b'.' => {
                    if i == 0 {
                        return Ok(("", raw));
                    }
                }
                b':' => {
                    if i == 0 {
                        return Err("missing protocol scheme".into());
                    }
                    return Ok((&raw[..i], &raw[i + 1..]));
                }
                _ => return Ok(("", raw)),
            }
        }
        Ok(("", raw))
    }

    /// Go's `url.Parse`; errors as `*url.Error` prints them.
    pub fn parse(raw: &str) -> Result<Url, String> {
        let (u, frag) = match raw.find('#') {
            Some(i) => (&raw[..i], &raw[i + 1..]),
            None => (raw, ""),
        };
        let wrap = |e: String, what: &str| format!("parse {}: {e}", crate::gofmt::quote(what));
        let mut url = parse_inner(u).map_err(|e| wrap(e, u))?;
        if frag.is_empty() {
            return Ok(url);
        }
        url.fragment = unescape(frag, Mode::Fragment).map_err(|e| wrap(e, raw))?;
        if escape(&url.fragment, Mode::Fragment) != frag {
            url.raw_fragment = frag.to_string();
        }
        Ok(url)
    }

    fn parse_inner(raw: &str) -> Result<Url, String> {
        if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
            return Err("net/url: invalid control character in URL".into());
        }
        let mut url = Url::default();
        if raw == "*" {
            url.path = "*".into();
            return Ok(url);
        }
        let (scheme, rest) = get_scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        let mut rest = rest;
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else if let Some(i) = rest.find('?') {
            url.raw_query = rest[i + 1..].to_string();
            rest = &rest[..i];
        }
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                url.opaque = rest.to_string();
                return Ok(url);
            }
            let segment = rest.split('/').next().unwrap_or("");
            if segment.contains(':') {
                return Err("first path segment in URL cannot contain colon".into());
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let mut authority = &rest[2..];
            rest = "";
            if let Some(i) = authority.find('/') {
                rest = &authority[i..];
                authority = &authority[..i];
            }
            let (user, host) = parse_authority(&url.scheme, authority)?;
            url.user = user;
            url.host = host;
        } else if !url.scheme.is_empty() && rest.starts_with('/') {
            url.omit_host = true;
        }
        url.path = unescape(rest, Mode::Path)?;
        if escape(&url.path, Mode::Path) != rest {
            url.raw_path = rest.to_string();
        }
        Ok(url)
    }

    fn valid_userinfo(s: &str) -> bool {
        s.chars().all(|r| {
            r.is_ascii_alphanumeric()
                || matches!(
                    r,
                    '-' | '.'
                        | '_'
                        | ':'
                        | '~'
                        | '!'
                        | '$'
                        | '&'
                        | '\''
                        | '('
                        | ')'
                        | '*'
                        | '+'
                        | ','
                        | ';'
                        | '='
                        | '%'
                        | '@'
                )
        })
    }

    fn parse_authority(scheme: &str, authority: &str) -> Result<(Option<User>, String), String> {
        let at = authority.rfind('@');
        let host = parse_host(scheme, at.map_or(authority, |i| &authority[i + 1..]))?;
        let Some(i) = at else {
            return Ok((None, host));
        };
        let userinfo = &authority[..i];
        if !valid_userinfo(userinfo) {
            return Err("net/url: invalid userinfo".into());
        }
        let user = match userinfo.split_once(':') {
            None => User {
                username: unescape(userinfo, Mode::UserPassword)?,
                password: None,
            },
            Some((u, p)) => User {
                username: unescape(u, Mode::UserPassword)?,
                password: Some(unescape(p, Mode::UserPassword)?),
            },
        };
        Ok((Some(user), host))
    }

    fn valid_optional_port(port: &str) -> bool {
        match port.strip_prefix(':') {
            _ if port.is_empty() => true,
            Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
            None => false,
        }
    }

    fn parse_host(scheme: &str, host: &str) -> Result<String, String> {
        match host.rfind('[') {
            Some(i) if i > 0 => return Err("invalid IP-literal".into()),
            Some(_) => {
                let Some(close) = host.rfind(']') else {
                    return Err("missing ']' in host".into());
                };
                let colon_port = &host[close + 1..];
                if !valid_optional_port(colon_port) {
                    return Err(format!(
                        "invalid port {} after host",
                        crate::gofmt::quote(colon_port)
                    ));
                }
                let colon_port = unescape(colon_port, Mode::Host)?;
                let hostname = &host[1..close];
                let unescaped = match hostname.find("%25") {
                    Some(z) => {
                        unescape(&hostname[..z], Mode::Host)?
                            + &unescape(&hostname[z..], Mode::Zone)?
                    }
                    None => unescape(hostname, Mode::Host)?,
                };
                let addr_part = unescaped.split('%').next().unwrap_or("");
                match addr_part.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(_)) => return Err("invalid IP-literal".into()),
                    Ok(_) => {}
                    Err(_) => {
                        return Err(format!(
                            "invalid host: ParseAddr({}): unable to parse IP",
                            crate::gofmt::quote(&unescaped)
                        ))
                    }
                }
                return Ok(format!("[{unescaped}]{colon_port}"));
            }
            None => {}
        }
        if let Some(mut i) = host.find(':') {
            let last = host.rfind(':').unwrap_or(i);
            if last != i && scheme != "http" && scheme != "https" {
                i = last;
            }
            let colon_port = &host[i..];
            if !valid_optional_port(colon_port) {
                return Err(format!(
                    "invalid port {} after host",
                    crate::gofmt::quote(colon_port)
                ));
            }
        }
        unescape(host, Mode::Host)
    }

    /// `URL.Hostname` of a host[:port].
    pub fn hostname(host: &str) -> String {
        let mut h = host;
        if let Some(c) = h.rfind(':') {
            if valid_optional_port(&h[c..]) {
                h = &h[..c];
            }
        }
        if h.starts_with('[') && h.ends_with(']') && h.len() >= 2 {
            h = &h[1..h.len() - 1];
        }
        h.to_string()
    }

    impl Url {
        fn escaped_path(&self) -> String {
            if !self.raw_path.is_empty() && valid_encoded(&self.raw_path, Mode::Path) {
                if let Ok(p) = unescape(&self.raw_path, Mode::Path) {
                    if p == self.path {
                        return self.raw_path.clone();
                    }
                }
            }
            if self.path == "*" {
                return "*".into();
            }
            escape(&self.path, Mode::Path)
        }

        fn escaped_fragment(&self) -> String {
            if !self.raw_fragment.is_empty() && valid_encoded(&self.raw_fragment, Mode::Fragment) {
                if let Ok(f) = unescape(&self.raw_fragment, Mode::Fragment) {
                    if f == self.fragment {
                        return self.raw_fragment.clone();
                    }
                }
            }
            escape(&self.fragment, Mode::Fragment)
        }
    }

    fn valid_encoded(s: &str, mode: Mode) -> bool {
        s.bytes().all(|c| {
            matches!(
                c,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'['
                    | b']'
                    | b'%'
            ) || !should_escape(c, mode)
        })
    }

    impl fmt::Display for Url {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut buf = String::new();
            if !self.scheme.is_empty() {
                buf.push_str(&self.scheme);
                buf.push(':');
            }
            if !self.opaque.is_empty() {
                buf.push_str(&self.opaque);
            } else {
                if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                    if self.omit_host && self.host.is_empty() && self.user.is_none() {
                        // omit the empty host
                    } else {
                        if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                            buf.push_str("//");
                        }
                        if let Some(u) = &self.user {
                            buf.push_str(&u.to_string());
                            buf.push('@');
                        }
                        if !self.host.is_empty() {
                            buf.push_str(&escape(&self.host, Mode::Host));
                        }
                    }
                }
                let path = self.escaped_path();
                if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                    buf.push('/');
                }
                if buf.is_empty() && path.split('/').next().unwrap_or("").contains(':') {
                    buf.push_str("./");
                }
                buf.push_str(&path);
            }
            if self.force_query || !self.raw_query.is_empty() {
                buf.push('?');
                buf.push_str(&self.raw_query);
            }
            if !self.fragment.is_empty() {
                buf.push('#');
                buf.push_str(&self.escaped_fragment());
            }
            f.write_str(&buf)
        }
    }
}
