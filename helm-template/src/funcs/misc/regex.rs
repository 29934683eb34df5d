//! Sprig's regex functions: Go's `regexp` (RE2 syntax, leftmost-first) run by regex-lite.
//!
//! A Go pattern is translated before regex-lite compiles it: Go's `\s` (no `\v`), `\Q…\E`,
//! octal escapes, a literal `[` inside a class and a `{` that starts no repeat are rewritten.
//! regex-lite has no Unicode classes (`\pL`, `\p{Greek}`): such patterns fail with a clear
//! error instead of a wrong answer; `(?i)` folds ASCII letters only. Go's parse errors are
//! reproduced for the common mistakes (unclosed or unmatched parentheses and brackets, bad
//! escapes, a repetition with nothing to repeat).

use regex_lite::{Captures, Regex};

use crate::funcs::{arg_int, arg_str, Registry, Ty};
use crate::value::Value;

const UNSUPPORTED: &str = "Unicode classes (\\p, \\P) are not supported by this engine";
const S3: &[Ty] = &[Ty::String, Ty::String, Ty::String];
const S2I: &[Ty] = &[Ty::String, Ty::String, Ty::Int];

pub(super) fn register(r: &mut Registry) {
    r.add(
        "regexMatch",
        &[Ty::String, Ty::String],
        None,
        |a| match compile(arg_str(a, 0)) {
            Ok(re) => Ok(Value::Bool(re.is_match(arg_str(a, 1)))),
            // Go would compile it: say so rather than answer false.
            Err(e) if e.contains(UNSUPPORTED) => Err(e),
            Err(_) => Ok(Value::Bool(false)),
        },
    );
    r.add("mustRegexMatch", &[Ty::String, Ty::String], None, |a| {
        Ok(Value::Bool(compile(arg_str(a, 0))?.is_match(arg_str(a, 1))))
    });
    r.add("regexFindAll", S2I, None, |a| {
        find_all(must_compile(arg_str(a, 0))?, a)
    });
    r.add("mustRegexFindAll", S2I, None, |a| {
        find_all(compile(arg_str(a, 0))?, a)
    });
    r.add("regexFind", &[Ty::String, Ty::String], None, |a| {
        find(must_compile(arg_str(a, 0))?, a)
    });
    r.add("mustRegexFind", &[Ty::String, Ty::String], None, |a| {
        find(compile(arg_str(a, 0))?, a)
    });
    r.add("regexReplaceAll", S3, None, |a| {
        replace(must_compile(arg_str(a, 0))?, a, false)
    });
    r.add("mustRegexReplaceAll", S3, None, |a| {
        replace(compile(arg_str(a, 0))?, a, false)
    });
    r.add("regexReplaceAllLiteral", S3, None, |a| {
        replace(must_compile(arg_str(a, 0))?, a, true)
    });
    r.add("mustRegexReplaceAllLiteral", S3, None, |a| {
        replace(compile(arg_str(a, 0))?, a, true)
    });
    r.add("regexSplit", S2I, None, |a| {
        split(must_compile(arg_str(a, 0))?, a)
    });
    r.add("mustRegexSplit", S2I, None, |a| {
        split(compile(arg_str(a, 0))?, a)
    });
    r.add("regexQuoteMeta", &[Ty::String], None, |a| {
        Ok(Value::string(quote_meta(arg_str(a, 0))))
    });
}

fn find(re: Regex, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(
        re.find(arg_str(a, 1)).map_or("", |m| m.as_str()),
    ))
}

fn find_all(re: Regex, a: &[Value]) -> Result<Value, String> {
    let s = arg_str(a, 1);
    let found: Vec<String> = all_matches(&re, s, arg_int(a, 2))
        .into_iter()
        .map(|(b, e)| s[b..e].to_string())
        .collect();
    Ok(Value::string_list(found))
}

fn replace(re: Regex, a: &[Value], literal: bool) -> Result<Value, String> {
    let (src, repl) = (arg_str(a, 1), arg_str(a, 2));
    let mut out = String::new();
    let (mut last_end, mut search) = (0, 0);
    // Go's replaceAll: no replacement for an empty match right after the previous match.
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let (b, e) = caps
            .get(0)
            .map_or((search, search), |m| (m.start(), m.end()));
        out.push_str(src.get(last_end..b).unwrap_or(""));
        if e > last_end || b == 0 {
            if literal {
                out.push_str(repl);
            } else {
                expand(&mut out, repl, &re, &caps);
            }
        }
        last_end = e;
        let width = src[search..].chars().next().map_or(0, char::len_utf8);
        if search + width > e {
            search += width;
        } else if search + 1 > e {
            search += 1;
        } else {
            search = e;
        }
    }
    out.push_str(src.get(last_end..).unwrap_or(""));
    Ok(Value::string(out))
}

fn split(re: Regex, a: &[Value]) -> Result<Value, String> {
    let (s, n) = (arg_str(a, 1), arg_int(a, 2));
    if n == 0 {
        return Ok(Value::string_list(Vec::new()));
    }
    if !re.as_str().is_empty() && s.is_empty() {
        return Ok(Value::string_list(vec![String::new()]));
    }
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (b, e) in all_matches(&re, s, n) {
        if n > 0 && parts.len() as i64 == n - 1 {
            break;
        }
        end = b;
        if e != 0 {
            parts.push(s[beg..end].to_string());
        }
        beg = e;
    }
    if end != s.len() {
        parts.push(s[beg..].to_string());
    }
    Ok(Value::string_list(parts))
}

/// Go's `allMatches`: successive matches; an empty match abutting the previous match is dropped.
fn all_matches(re: &Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut out = Vec::new();
    let mut pos = 0;
    let mut prev_end: Option<usize> = None;
    while out.len() < limit && pos <= s.len() {
        let Some(m) = re.find_at(s, pos) else { break };
        let (b, e) = (m.start(), m.end());
        let mut accept = true;
        if e == b {
            if prev_end == Some(b) {
                accept = false;
            }
            pos += s[pos.min(s.len())..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
        } else {
            pos = e;
        }
        prev_end = Some(e);
        if accept {
            out.push((b, e));
        }
    }
    out
}

/// Go's `Regexp.Expand` for `ReplaceAllString`: `$1`, `${1}`, `$name`, `${name}`, `$$`.
/// A name is the longest run of letters, digits and `_`, so `$1x` names the group "1x".
fn expand(out: &mut String, template: &str, re: &Regex, caps: &Captures) {
    let mut t = template;
    while let Some(i) = t.find('$') {
        out.push_str(&t[..i]);
        t = &t[i + 1..];
        if let Some(rest) = t.strip_prefix('$') {
            out.push('$');
            t = rest;
            continue;
        }
        let Some((name, rest)) = extract(t) else {
            out.push('$');
            continue;
        };
        t = rest;
        let num = if name.bytes().all(|c| c.is_ascii_digit())
            && !(name.len() > 1 && name.starts_with('0'))
        {
            name.parse::<usize>().ok().filter(|n| *n < 100_000_000)
        } else {
            None
        };
        let group = match num {
            Some(n) => caps.get(n),
            None => re
                .capture_names()
                .position(|g| g == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(g) = group {
            out.push_str(g.as_str());
        }
    }
    out.push_str(t);
}

fn extract(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let mut rest = &body[len..];
    if brace {
        rest = rest.strip_prefix('}')?;
    }
    Some((name, rest))
}

/// Go's `regexp.QuoteMeta`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `regexp.MustCompile`: Go panics, and Helm reports the panic.
fn must_compile(p: &str) -> Result<Regex, String> {
    compile(p).map_err(|e| format!("regexp: Compile({}): {e}", go_backquote(p)))
}

/// Go's `strconv.Quote`-or-backquote as `regexp.MustCompile`'s panic message writes it.
fn go_backquote(p: &str) -> String {
    if p.contains('`') || p.chars().any(|c| c.is_control() && c != '\t') {
        crate::gofmt::quote(p)
    } else {
        format!("`{p}`")
    }
}

/// `regexp.Compile`.
pub fn compile(p: &str) -> Result<Regex, String> {
    let translated =
        translate(p).map_err(|(code, expr)| format!("error parsing regexp: {code}: `{expr}`"))?;
    Regex::new(&translated).map_err(|e| {
        let msg = e.to_string();
        let first = msg
            .lines()
            .last()
            .unwrap_or("invalid pattern")
            .trim()
            .to_string();
        format!("error parsing regexp: {first}: `{p}`")
    })
}

/// Checks a Go pattern for Go's common syntax errors and rewrites it for regex-lite.
/// The error is (Go's error code text, the expression Go shows).
fn translate(p: &str) -> Result<String, (&'static str, String)> {
    let chars: Vec<(usize, char)> = p.char_indices().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut depth: Vec<usize> = Vec::new();
    let mut i = 0;
    // Whether the last item can take a repetition operator, and whether it already has one.
    let mut can_repeat = false;
    let mut repeated: Option<usize> = None;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            '\\' => {
                let (text, next) = escape(p, &chars, i, false)?;
                out.push_str(&text);
                i = next;
                can_repeat = true;
                repeated = None;
                continue;
            }
            '[' => {
                let (text, next) = class(p, &chars, i)?;
                out.push_str(&text);
                i = next;
                can_repeat = true;
                repeated = None;
                continue;
            }
            '(' => {
                depth.push(at);
                out.push('(');
                can_repeat = false;
                repeated = None;
                if p[at..].starts_with("(?") {
                    // Flags or a named group: copy through to the `:` or `)` or `>`.
                    let mut j = i + 1;
                    while j < chars.len() && !matches!(chars[j].1, ')' | ':' | '>') {
                        out.push(chars[j].1);
                        j += 1;
                    }
                    if j < chars.len() {
                        if chars[j].1 == ')' {
                            depth.pop();
                            can_repeat = false;
                        }
                        out.push(chars[j].1);
                        j += 1;
                    }
                    i = j;
                    continue;
                }
            }
            ')' => {
                if depth.pop().is_none() {
                    return Err(("unexpected )", p.to_string()));
                }
                out.push(')');
                can_repeat = true;
                repeated = None;
            }
            '|' => {
                out.push('|');
                can_repeat = false;
                repeated = None;
            }
            '*' | '+' | '?' | '{' => {
                let len = if c == '{' {
                    repeat_len(&chars, i)
                } else {
                    Some(1)
                };
                let Some(mut len) = len else {
                    out.push_str("\\{");
                    i += 1;
                    can_repeat = true;
                    repeated = None;
                    continue;
                };
                if chars.get(i + len).is_some_and(|(_, c)| *c == '?') {
                    len += 1;
                }
                let end = chars.get(i + len).map_or(p.len(), |(b, _)| *b);
                let op = &p[at..end];
                if let Some(prev) = repeated {
                    return Err((
                        "invalid nested repetition operator",
                        p[prev..end].to_string(),
                    ));
                }
                if !can_repeat {
                    return Err(("missing argument to repetition operator", op.to_string()));
                }
                if c == '{' {
                    let inner = op
                        .trim_start_matches('{')
                        .trim_end_matches('?')
                        .trim_end_matches('}');
                    let (lo, hi) = match inner.split_once(',') {
                        Some((lo, "")) => (lo.parse::<u64>().unwrap_or(u64::MAX), None),
                        Some((lo, hi)) => (
                            lo.parse().unwrap_or(u64::MAX),
                            Some(hi.parse().unwrap_or(u64::MAX)),
                        ),
                        None => (
                            inner.parse().unwrap_or(u64::MAX),
                            Some(inner.parse().unwrap_or(u64::MAX)),
                        ),
                    };
                    if lo > 1000 || hi.is_some_and(|h| h > 1000 || lo > h) {
                        return Err(("invalid repeat count", op.trim_end_matches('?').to_string()));
                    }
                }
                out.push_str(op);
                repeated = Some(at);
                i += len;
                continue;
            }
            '}' => {
                out.push_str("\\}");
                can_repeat = true;
                repeated = None;
            }
            '^' | '$' => {
                out.push(c);
                can_repeat = true;
                repeated = None;
            }
            c => {
                out.push(c);
                can_repeat = true;
                repeated = None;
            }
        }
        i += 1;
    }
    if !depth.is_empty() {
        return Err(("missing closing )", p.to_string()));
    }
    Ok(out)
}

/// The length in chars of a Go repeat `{n}`, `{n,}`, `{n,m}` starting at `i`, if it is one.
fn repeat_len(chars: &[(usize, char)], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let digits = |j: &mut usize| {
        let s = *j;
        while chars.get(*j).is_some_and(|(_, c)| c.is_ascii_digit()) {
            *j += 1;
        }
        *j > s
    };
    if !digits(&mut j) {
        return None;
    }
    if chars.get(j).is_some_and(|(_, c)| *c == ',') {
        j += 1;
        digits(&mut j);
    }
    if chars.get(j).is_some_and(|(_, c)| *c == '}') {
        Some(j + 1 - i)
    } else {
        None
    }
}

/// One escape at `chars[i]` (a `\`): its regex-lite text and the index after it.
fn escape(
    p: &str,
    chars: &[(usize, char)],
    i: usize,
    in_class: bool,
) -> Result<(String, usize), (&'static str, String)> {
    let Some(&(_, c)) = chars.get(i + 1) else {
        return Err(("trailing backslash at end of expression", String::new()));
    };
    let at = chars[i].0;
    let text = match c {
        'p' | 'P' => {
            return Err((UNSUPPORTED, p.to_string()));
        }
        's' if in_class => "\\t\\n\\f\\r ".to_string(),
        's' => "[\\t\\n\\f\\r ]".to_string(),
        'S' if in_class => "\\S\\x0B".to_string(),
        'S' => "[^\\t\\n\\f\\r ]".to_string(),
        'Q' => {
            let rest = &p[chars.get(i + 2).map_or(p.len(), |(b, _)| *b)..];
            let (lit, after) = match rest.find("\\E") {
                Some(e) => (&rest[..e], p.len() - rest.len() + e + 2),
                None => (rest, p.len()),
            };
            let next = chars
                .iter()
                .position(|(b, _)| *b >= after)
                .unwrap_or(chars.len());
            return Ok((regex_lite::escape(lit), next));
        }
        '0'..='7' => {
            let mut n = c as u32 - '0' as u32;
            let mut j = i + 2;
            let is_oct = |j: usize| chars.get(j).is_some_and(|(_, d)| ('0'..='7').contains(d));
            if c != '0' && !is_oct(j) {
                return Err(("invalid escape sequence", format!("\\{c}")));
            }
            while j < i + 4 && is_oct(j) {
                n = n * 8 + (chars[j].1 as u32 - '0' as u32);
                j += 1;
            }
            return Ok((format!("\\x{{{n:X}}}"), j));
        }
        'd' | 'D' | 'w' | 'W' | 'a' | 'f' | 't' | 'n' | 'r' | 'v' => format!("\\{c}"),
        'b' | 'B' | 'A' | 'z' if !in_class => format!("\\{c}"),
        'x' => {
            // \xFF or \x{10FFFF}: copy through what Go accepts.
            let start = chars.get(i + 2).map_or(p.len(), |(b, _)| *b);
            let rest = &p[start..];
            let len = if rest.starts_with('{') {
                rest.find('}').map(|e| e + 1)
            } else if rest.len() >= 2 && rest.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit) {
                Some(2)
            } else {
                None
            };
            let Some(len) = len else {
                return Err(("invalid escape sequence", p[at..].chars().take(2).collect()));
            };
            let end = start + len;
            let next = chars
                .iter()
                .position(|(b, _)| *b >= end)
                .unwrap_or(chars.len());
            return Ok((format!("\\x{}", &p[start..end]), next));
        }
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => {
            let s = c.to_string();
            let e = regex_lite::escape(&s);
            if e == s && in_class && matches!(c, '&' | '~' | '-' | '[' | ']' | '^') {
                format!("\\{c}")
            } else {
                e
            }
        }
        _ => return Err(("invalid escape sequence", format!("\\{c}"))),
    };
    Ok((text, i + 2))
}

/// A class at `chars[i]` (a `[`): its regex-lite text and the index after it.
fn class(
    p: &str,
    chars: &[(usize, char)],
    i: usize,
) -> Result<(String, usize), (&'static str, String)> {
    let start = chars[i].0;
    let mut out = String::from("[");
    let mut j = i + 1;
    if chars.get(j).is_some_and(|(_, c)| *c == '^') {
        out.push('^');
        j += 1;
    }
    let first = j;
    loop {
        let Some(&(at, c)) = chars.get(j) else {
            return Err(("missing closing ]", p[start..].to_string()));
        };
        match c {
            ']' if j > first => {
                out.push(']');
                return Ok((out, j + 1));
            }
            '[' if p[at..].starts_with("[:") => {
                let Some(e) = p[at + 2..].find(":]") else {
                    out.push_str("\\[");
                    j += 1;
                    continue;
                };
                let end = at + 2 + e + 2;
                out.push_str(&p[at..end]);
                j = chars
                    .iter()
                    .position(|(b, _)| *b >= end)
                    .unwrap_or(chars.len());
            }
            '\\' => {
                let (text, next) = escape(p, chars, j, true)?;
                out.push_str(&text);
                j = next;
            }
            '[' | ']' | '&' | '~' => {
                out.push('\\');
                out.push(c);
                j += 1;
            }
            '-' if out.ends_with('-') => {
                out.push_str("\\-");
                j += 1;
            }
            '-' if j > first
                && chars
                    .get(j + 1)
                    .is_some_and(|(_, n)| *n != ']' && *n != '\\') =>
            {
                let (lo, hi) = (chars[j - 1].1, chars[j + 1].1);
                if chars[j - 1].1 != '\\' && lo > hi && !(j >= 2 && chars[j - 2].1 == '\\') {
                    let from = chars[j - 1].0;
                    let to = chars.get(j + 2).map_or(p.len(), |(b, _)| *b);
                    return Err(("invalid character class range", p[from..to].to_string()));
                }
                out.push('-');
                j += 1;
            }
            c => {
                out.push(c);
                j += 1;
            }
        }
    }
}
