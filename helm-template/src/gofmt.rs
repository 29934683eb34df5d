//! Go's `fmt` package, as far as templates reach it: `print`, `printf`, `println` and the
//! default format every action prints with.

use crate::value::{MapKind, Value};

/// `fmt.Sprint`: operands in their default format, a space between two operands when
/// neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::String(_));
        if i > 0 && !is_string && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        format_value(&mut out, arg, 'v', &Spec::default(), 0);
    }
    out
}

/// `fmt.Sprintln`: operands in their default format, spaces between, a newline after.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        format_value(&mut out, arg, 'v', &Spec::default(), 0);
    }
    out.push('\n');
    out
}

/// The default format of one value (`%v`).
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    format_value(&mut out, v, 'v', &Spec::default(), 0);
    out
}

#[derive(Default, Clone)]
struct Spec {
    /// `%#v`: Go syntax.
    sharp_v: bool,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let bytes = format.as_bytes();
    let mut i = 0;
    let mut arg_index = 0;
    let mut reordered = false;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= bytes.len() {
            break;
        }
        i += 1; // the '%'
        let mut spec = Spec::default();
        while i < bytes.len() {
            match bytes[i] {
                b'#' => spec.sharp = true,
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b'-' => spec.minus = true,
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        // Argument index [n] before the width.
        if let Some((n, next)) = arg_number(bytes, i) {
            arg_index = n;
            i = next;
            reordered = true;
        }
        if i < bytes.len() && bytes[i] == b'*' {
            i += 1;
            match args.get(arg_index) {
                Some(Value::Int(n)) | Some(Value::Int64(n)) => {
                    if *n < 0 {
                        spec.minus = true;
                        spec.width = Some(n.unsigned_abs() as usize);
                    } else {
                        spec.width = Some(*n as usize);
                    }
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_index += 1;
        } else {
            let (n, next) = parse_num(bytes, i);
            spec.width = n;
            i = next;
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            if let Some((n, next)) = arg_number(bytes, i) {
                arg_index = n;
                i = next;
                reordered = true;
            }
            if i < bytes.len() && bytes[i] == b'*' {
                i += 1;
                match args.get(arg_index) {
                    Some(Value::Int(n)) | Some(Value::Int64(n)) if *n >= 0 => {
                        spec.precision = Some(*n as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_index += 1;
            } else {
                let (n, next) = parse_num(bytes, i);
                spec.precision = Some(n.unwrap_or(0));
                i = next;
            }
        }
        if let Some((n, next)) = arg_number(bytes, i) {
            arg_index = n;
            i = next;
            reordered = true;
        }
        if i >= bytes.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        if spec.minus {
            spec.zero = false;
        }
        if verb == 'v' {
            // `%+v` only matters for structs and `%#v` is Go syntax: neither is a flag on numbers.
            spec.plus = false;
            if spec.sharp {
                spec.sharp = false;
                spec.sharp_v = true;
            }
        }
        match args.get(arg_index) {
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            Some(arg) => {
                arg_index += 1;
                if verb == 'T' {
                    pad(&mut out, &arg.type_name(), &spec);
                } else {
                    format_value(&mut out, arg, verb, &spec, 0);
                }
            }
        }
    }
    if !reordered && arg_index < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, arg) in args[arg_index..].iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            if arg.is_nil() {
                out.push_str("<nil>");
            } else {
                out.push_str(&arg.type_name());
                out.push('=');
                format_value(&mut out, arg, 'v', &Spec::default(), 0);
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(bytes: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add((bytes[i] - b'0') as usize);
        i += 1;
    }
    if i == start {
        (None, i)
    } else {
        (Some(n.min(1_000_000)), i)
    }
}

fn arg_number(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    if i >= bytes.len() || bytes[i] != b'[' {
        return None;
    }
    let (n, next) = parse_num(bytes, i + 1);
    if next < bytes.len() && bytes[next] == b']' {
        if let Some(n) = n.filter(|n| *n >= 1) {
            return Some((n - 1, next + 1));
        }
    }
    None
}

fn pad(out: &mut String, s: &str, spec: &Spec) {
    let len = s.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero {
        // Zero padding goes after a sign.
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') | Some(b'-') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_nil() {
        out.push_str("<nil>");
    } else {
        out.push_str(&v.type_name());
        out.push('=');
        format_value(out, v, 'v', &Spec::default(), 0);
    }
    out.push(')');
}

fn format_value(out: &mut String, v: &Value, verb: char, spec: &Spec, depth: usize) {
    if depth > crate::value::MAX_VALUE_DEPTH {
        out.push_str("...");
        return;
    }
    if spec.sharp_v {
        let mut s = String::new();
        go_syntax(&mut s, v, depth == 0, depth);
        pad(out, &s, spec);
        return;
    }
    match v {
        // A nil inside a slice or map prints as <nil> whatever the verb.
        Value::Nil if depth > 0 => pad(out, "<nil>", spec),
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", spec),
            _ => bad_verb(out, v, verb),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, spec),
            _ => bad_verb(out, v, verb),
        },
        Value::Int(i) | Value::Int64(i) => format_int(out, *i as i128, v, verb, spec),
        Value::Uint(u) => format_int(out, *u as i128, v, verb, spec),
        Value::Float(f) => format_float_verb(out, *f, v, verb, spec),
        Value::String(s) => format_string(out, s, v, verb, spec),
        Value::List(l) => {
            let mut inner = String::from("[");
            for (n, item) in l.items.iter().enumerate() {
                if n > 0 {
                    inner.push(' ');
                }
                format_value(&mut inner, item, verb, spec, depth + 1);
            }
            inner.push(']');
            out.push_str(&inner);
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (n, (k, item)) in m.entries.borrow().iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                format_string(out, k, &Value::str(k), verb, spec);
                out.push(':');
                format_value(out, item, verb, spec, depth + 1);
            }
            out.push(']');
        }
        Value::Object(o) => match verb {
            'v' | 's' => pad(out, &o.print(), spec),
            _ => bad_verb(out, v, verb),
        },
    }
}

fn format_int(out: &mut String, i: i128, v: &Value, verb: char, spec: &Spec) {
    let negative = i < 0;
    let magnitude = i.unsigned_abs();
    let digits = match verb {
        'v' | 'd' => magnitude.to_string(),
        'b' => format!("{magnitude:b}"),
        'o' | 'O' => format!("{magnitude:o}"),
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        'c' => {
            let c = char::from_u32(i as u32)
                .filter(|_| (0..=0x10FFFF).contains(&i))
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), spec);
            return;
        }
        'q' => {
            let c = char::from_u32(i as u32)
                .filter(|_| (0..=0x10FFFF).contains(&i))
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c), spec);
            return;
        }
        'U' => {
            let mut s = format!("U+{magnitude:04X}");
            if spec.sharp {
                if let Some(c) = char::from_u32(i as u32) {
                    s.push_str(&format!(" '{c}'"));
                }
            }
            pad(out, &s, spec);
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' | 'p' => {
            bad_verb(out, v, verb);
            return;
        }
        _ => {
            bad_verb(out, v, verb);
            return;
        }
    };
    let mut digits = digits;
    if let Some(p) = spec.precision {
        if p == 0 && magnitude == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let prefix = match (verb, spec.sharp) {
        ('x', true) => "0x",
        ('X', true) => "0X",
        ('b', true) => "0b",
        ('o', true) if !digits.starts_with('0') => "0",
        ('O', _) => "0o",
        _ => "",
    };
    let sign = if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let width = spec.width.unwrap_or(0);
    if spec.zero && spec.precision.is_none() && !spec.minus {
        let body = prefix.len() + digits.len() + sign.len();
        let mut s = String::from(sign);
        s.push_str(prefix);
        s.extend(std::iter::repeat_n('0', width.saturating_sub(body)));
        s.push_str(&digits);
        out.push_str(&s);
    } else {
        let s = format!("{sign}{prefix}{digits}");
        let spec = Spec {
            zero: false,
            ..spec.clone()
        };
        pad(out, &s, &spec);
    }
}

fn format_float_verb(out: &mut String, f: f64, v: &Value, verb: char, spec: &Spec) {
    let body = match verb {
        'v' | 'g' | 'G' => format_g(f, spec.precision, spec.sharp, verb == 'G'),
        'e' | 'E' => format_e(f, spec.precision.unwrap_or(6), verb == 'E'),
        'f' | 'F' => format_f(f, spec.precision.unwrap_or(6)),
        'x' | 'X' => format_hex_float(f, spec.precision, verb == 'X'),
        'b' => format_binary_float(f),
        _ => {
            bad_verb(out, v, verb);
            return;
        }
    };
    let body = if !body.starts_with('-') && !body.starts_with('+') {
        if spec.plus && (f.is_finite() || f.is_nan()) {
            format!("+{body}")
        } else if spec.plus && f == f64::INFINITY {
            body // "+Inf" already
        } else if spec.space {
            format!(" {body}")
        } else {
            body
        }
    } else {
        body
    };
    let spec = if !f.is_finite() {
        Spec {
            zero: false,
            ..spec.clone()
        }
    } else {
        spec.clone()
    };
    pad(out, &body, &spec);
}

/// Shortest decimal digits and the decimal point position of a finite, non-zero float:
/// the value is 0.d1d2d3… × 10^point.
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f == f64::INFINITY {
        Some("+Inf".into())
    } else if f == f64::NEG_INFINITY {
        Some("-Inf".into())
    } else {
        None
    }
}

/// strconv.FormatFloat(f, 'g', prec, 64), with Go's `%#g` when `sharp`.
pub fn format_g(f: f64, precision: Option<usize>, sharp: bool, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, point, shortest) = if f == 0.0 {
        ("0".to_string(), 1, precision.is_none())
    } else {
        match precision {
            None => {
                let (d, p) = shortest_digits(f);
                (d, p, true)
            }
            Some(p) => {
                let p = p.max(1);
                let s = format!("{:.*e}", p - 1, f.abs());
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let d: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
                let d = d.trim_end_matches('0').to_string();
                let d = if d.is_empty() { "0".to_string() } else { d };
                (d, e.parse::<i32>().unwrap_or(0) + 1, false)
            }
        }
    };
    let mut eprec = precision
        .map(|p| p.max(1) as i32)
        .unwrap_or(digits.len() as i32);
    if shortest {
        eprec = 6;
    }
    if !shortest && eprec > digits.len() as i32 && digits.len() as i32 >= point {
        eprec = digits.len() as i32;
    }
    let exp = point - 1;
    let mut body = if exp < -4 || exp >= eprec {
        let mut m = String::new();
        m.push_str(&digits[..1]);
        let rest = &digits[1..];
        let mut rest = rest.to_string();
        if sharp {
            let want = precision.unwrap_or(6).max(1) - 1;
            while rest.len() < want {
                rest.push('0');
            }
        }
        if !rest.is_empty() || sharp {
            m.push('.');
            m.push_str(&rest);
        }
        m.push(if upper { 'E' } else { 'e' });
        m.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            m.push('0');
        }
        m.push_str(&e.to_string());
        m
    } else {
        let mut s = fixed_from_digits(&digits, point);
        if sharp {
            let want = precision.unwrap_or(6).max(1);
            let have = digits.len().max(point.max(1) as usize);
            if !s.contains('.') {
                s.push('.');
            }
            for _ in have..want {
                s.push('0');
            }
        }
        s
    };
    body.insert_str(0, sign);
    body
}

fn fixed_from_digits(digits: &str, point: i32) -> String {
    if point <= 0 {
        let mut s = String::from("0.");
        s.extend(std::iter::repeat_n('0', (-point) as usize));
        s.push_str(digits);
        s
    } else if point as usize >= digits.len() {
        let mut s = digits.to_string();
        s.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        s
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    }
}

/// Go's `%#v`: the value as Go source.
fn go_syntax(out: &mut String, v: &Value, top: bool, depth: usize) {
    if depth > crate::value::MAX_VALUE_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Nil => out.push_str(if top { "<nil>" } else { "interface {}(nil)" }),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&format!("0x{u:x}")),
        Value::Float(f) => out.push_str(&format_g(*f, None, false, false)),
        Value::String(s) => out.push_str(&quote(s)),
        Value::List(l) => {
            out.push_str(&v.type_name());
            out.push('{');
            for (n, item) in l.items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                go_syntax(out, item, false, depth + 1);
            }
            out.push('}');
        }
        Value::Map(m) => {
            out.push_str(&v.type_name());
            out.push('{');
            for (n, (k, item)) in m.entries.borrow().iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quote(k));
                out.push(':');
                if m.kind == MapKind::String {
                    go_syntax(out, item, true, depth + 1);
                } else {
                    go_syntax(out, item, false, depth + 1);
                }
            }
            out.push('}');
        }
        Value::Object(o) => out.push_str(&o.print()),
    }
}

/// strconv.FormatFloat(f, 'x', prec, 64): hexadecimal mantissa and binary exponent.
fn format_hex_float(f: f64, precision: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let bits = f.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if f == 0.0 {
        exp = 0;
    } else if exp == 0 {
        // Subnormal: normalise so the leading bit is the implicit one.
        exp = -1022;
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
        mant &= (1u64 << 52) - 1;
    } else {
        exp -= 1023;
    }
    let lead = if f == 0.0 { 0 } else { 1 };
    let mut digits = format!("{mant:013x}");
    if let Some(p) = precision {
        if p < 13 {
            // Round the 52-bit fraction to p hex digits, half to even.
            let shift = (13 - p) * 4;
            let full = (1u64 << 52) | mant;
            let mut kept = full >> shift;
            let rest = full & ((1u64 << shift) - 1);
            let half = 1u64 << (shift - 1);
            if rest > half || (rest == half && kept & 1 == 1) {
                kept += 1;
            }
            let mut lead2 = (kept >> (p * 4)) as i64;
            if lead2 >= 2 {
                kept >>= 1;
                exp += 1;
                lead2 = 1;
            }
            let frac = kept & ((1u64 << (p * 4)) - 1);
            digits = if p == 0 {
                String::new()
            } else {
                format!("{frac:0width$x}", width = p)
            };
            let _ = lead2;
        } else {
            while digits.len() < p {
                digits.push('0');
            }
        }
    } else {
        digits = digits.trim_end_matches('0').to_string();
    }
    let mut s = format!("{sign}0x{lead}");
    if !digits.is_empty() {
        s.push('.');
        s.push_str(&digits);
    }
    s.push('p');
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
    if upper {
        s = s.to_uppercase();
    }
    s
}

/// strconv.FormatFloat(f, 'b', -1, 64): decimal mantissa and binary exponent.
fn format_binary_float(f: f64) -> String {
    let bits = f.to_bits();
    let sign = if bits >> 63 == 1 { "-" } else { "" };
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let e = if exp == 0 {
        -1074
    } else {
        mant |= 1u64 << 52;
        exp - 1075
    };
    format!(
        "{sign}{mant}p{}{}",
        if e < 0 { "-" } else { "+" },
        e.unsigned_abs()
    )
}

/// strconv.FormatFloat(f, 'e', prec, 64).
pub fn format_e(f: f64, precision: usize, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let s = format!("{:.*e}", precision, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let mut out = m.to_string();
    if f == 0.0 && f.is_sign_negative() && !out.starts_with('-') {
        out.insert(0, '-');
    }
    out.push(if upper { 'E' } else { 'e' });
    out.push(if e < 0 { '-' } else { '+' });
    if e.abs() < 10 {
        out.push('0');
    }
    out.push_str(&e.abs().to_string());
    out
}

/// strconv.FormatFloat(f, 'f', prec, 64).
pub fn format_f(f: f64, precision: usize) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let mut s = format!("{:.*}", precision, f);
    if f == 0.0 && f.is_sign_negative() && !s.starts_with('-') {
        s.insert(0, '-');
    }
    s
}

/// strconv.FormatFloat(f, 'f', -1, 64): the shortest digits, never an exponent.
pub fn format_f_shortest(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (digits, point) = shortest_digits(f);
    let s = fixed_from_digits(&digits, point);
    if f < 0.0 {
        format!("-{s}")
    } else {
        s
    }
}

fn format_string(out: &mut String, s: &str, v: &Value, verb: char, spec: &Spec) {
    let s_prec: String;
    let s = match spec.precision {
        Some(p) if matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') => {
            s_prec = s.chars().take(p).collect();
            s_prec.as_str()
        }
        _ => s,
    };
    match verb {
        'v' | 's' => pad(out, s, spec),
        'q' => {
            let q = if spec.sharp
                && !s.contains('`')
                && s.chars()
                    .all(|c| c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
            {
                format!("`{s}`")
            } else {
                quote_with(s, spec.plus)
            };
            pad(out, &q, spec)
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (n, b) in s.bytes().enumerate() {
                if spec.space && n > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || n == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &h, spec)
        }
        _ => bad_verb(out, v, verb),
    }
}

/// strconv.Quote: Go's double-quoted string with Go's escapes.
pub fn quote(s: &str) -> String {
    quote_with(s, false)
}

/// strconv.Quote, or strconv.QuoteToASCII when `ascii`.
pub fn quote_with(s: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_char(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_char(&mut out, c, '\'', false);
    out.push('\'');
    out
}

fn escape_char(out: &mut String, c: char, quote: char, ascii: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii {
        if (c as u32) < 0x80 && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of Go's `unicode.IsPrint`: graphic characters and the ASCII space.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    // Format characters, private use, surrogates and unassigned planes Go treats as not printable.
    !matches!(u, 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFFFE | 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(format_g(1e6, None, false, false), "1e+06");
        assert_eq!(format_g(123456.0, None, false, false), "123456");
        assert_eq!(format_g(3.0, None, false, false), "3");
        assert_eq!(format_g(0.0001, None, false, false), "0.0001");
        assert_eq!(format_g(0.00001, None, false, false), "1e-05");
        assert_eq!(format_g(1e21, None, false, false), "1e+21");
        assert_eq!(format_g(-2.5, None, false, false), "-2.5");
        assert_eq!(format_g(100.0, Some(2), false, false), "1e+02");
        assert_eq!(format_e(1234.5678, 2, false), "1.23e+03");
        assert_eq!(format_f(1.23456, 2), "1.23");
    }

    #[test]
    fn printf_verbs() {
        let args = [Value::Int(42), Value::str("hi"), Value::Float(2.5)];
        assert_eq!(sprintf("%d %s %v", &args), "42 hi 2.5");
        assert_eq!(sprintf("%05d|%-4s|%6.2f", &args), "00042|hi  |  2.50");
        assert_eq!(
            sprintf("%x %q", &[Value::Int(255), Value::str("a\"b")]),
            "ff \"a\\\"b\""
        );
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
        assert_eq!(sprintf("%d", &[Value::str("x")]), "%!d(string=x)");
        assert_eq!(sprintf("x", &[Value::Int(1)]), "x%!(EXTRA int=1)");
    }
}
