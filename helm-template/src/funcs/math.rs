//! Sprig's math and number-conversion functions, with the conversions of
//! github.com/spf13/cast v1.7.0 (the version Sprig v3.3.0 requires) that they rest on.

use super::{Registry, Ty};
use crate::gofmt;
use crate::value::{List, ListKind, Value};
use std::rc::Rc;

/// The most items `until`, `untilStep` and `seq` make (Go would try to allocate any count).
const MAX_ITEMS: usize = 10_000_000;

pub(super) fn register(r: &mut Registry) {
    r.add("atoi", &[Ty::String], None, |a| {
        Ok(Value::Int(atoi(super::arg_str(a, 0))))
    });
    r.add("int64", &[Ty::Any], None, |a| {
        Ok(Value::Int64(to_int64(&a[0])))
    });
    r.add("int", &[Ty::Any], None, |a| Ok(Value::Int(to_int64(&a[0]))));
    r.add("float64", &[Ty::Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    r.add("toDecimal", &[Ty::Any], None, |a| {
        Ok(Value::Int64(
            parse_int(&gofmt::sprint(std::slice::from_ref(&a[0])), 8).unwrap_or(0),
        ))
    });
    r.add("seq", &[], Some(Ty::Int), seq);
    r.add("until", &[Ty::Int], None, |a| {
        let count = super::arg_int(a, 0);
        until_step(0, count, if count < 0 { -1 } else { 1 }).map(int_list)
    });
    r.add("untilStep", &[Ty::Int, Ty::Int, Ty::Int], None, |a| {
        until_step(
            super::arg_int(a, 0),
            super::arg_int(a, 1),
            super::arg_int(a, 2),
        )
        .map(int_list)
    });
    r.add("add1", &[Ty::Any], None, |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_add(1)))
    });
    r.add("add", &[], Some(Ty::Any), |a| {
        Ok(Value::Int64(
            a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v))),
        ))
    });
    r.add("sub", &[Ty::Any, Ty::Any], None, |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    r.add("mul", &[Ty::Any], Some(Ty::Any), |a| {
        Ok(Value::Int64(
            a[1..]
                .iter()
                .fold(to_int64(&a[0]), |acc, v| acc.wrapping_mul(to_int64(v))),
        ))
    });
    r.add("div", &[Ty::Any, Ty::Any], None, |a| {
        let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
        if y == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int64(x.wrapping_div(y)))
    });
    r.add("mod", &[Ty::Any, Ty::Any], None, |a| {
        let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
        if y == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int64(x.wrapping_rem(y)))
    });
    r.add("add1f", &[Ty::Any], None, |a| {
        decimal_op(&a[0], &[Value::Int(1)], Op::Add)
    });
    r.add("addf", &[], Some(Ty::Any), |a| {
        decimal_op(&Value::Float(0.0), a, Op::Add)
    });
    r.add("subf", &[Ty::Any], Some(Ty::Any), |a| {
        decimal_op(&a[0], &a[1..], Op::Sub)
    });
    r.add("mulf", &[Ty::Any], Some(Ty::Any), |a| {
        decimal_op(&a[0], &a[1..], Op::Mul)
    });
    r.add("divf", &[Ty::Any], Some(Ty::Any), |a| {
        decimal_op(&a[0], &a[1..], Op::Div)
    });
    r.add("max", &[Ty::Any], Some(Ty::Any), |a| {
        Ok(Value::Int64(
            a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max),
        ))
    });
    r.add("biggest", &[Ty::Any], Some(Ty::Any), |a| {
        Ok(Value::Int64(
            a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max),
        ))
    });
    r.add("min", &[Ty::Any], Some(Ty::Any), |a| {
        Ok(Value::Int64(
            a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min),
        ))
    });
    r.add("maxf", &[Ty::Any], Some(Ty::Any), |a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_max),
        ))
    });
    r.add("minf", &[Ty::Any], Some(Ty::Any), |a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_min),
        ))
    });
    r.add("floor", &[Ty::Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    r.add("ceil", &[Ty::Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    r.add("round", &[Ty::Any, Ty::Int], Some(Ty::Float64), |a| {
        let round_on = match a.get(2) {
            Some(Value::Float(f)) => *f,
            _ => 0.5,
        };
        Ok(Value::Float(round(
            to_float64(&a[0]),
            super::arg_int(a, 1),
            round_on,
        )))
    });
}

fn int_list(items: Vec<i64>) -> Value {
    Value::List(List {
        kind: ListKind::Int,
        items: Rc::new(items.into_iter().map(Value::Int).collect()),
    })
}

/// Sprig's `untilStep`, capped at [`MAX_ITEMS`]. Go's `int` additions wrap.
pub fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    let too_many = || Err(format!("untilStep: more than {MAX_ITEMS} items"));
    if stop < start {
        if step >= 0 {
            return Ok(v);
        }
        let mut i = start;
        while i > stop {
            if v.len() >= MAX_ITEMS {
                return too_many();
            }
            v.push(i);
            i = i.wrapping_add(step);
        }
        return Ok(v);
    }
    if step <= 0 {
        return Ok(v);
    }
    let mut i = start;
    while i < stop {
        if v.len() >= MAX_ITEMS {
            return too_many();
        }
        v.push(i);
        i = i.wrapping_add(step);
    }
    Ok(v)
}

fn seq(a: &[Value]) -> Result<Value, String> {
    let p: Vec<i64> = (0..a.len()).map(|i| super::arg_int(a, i)).collect();
    let items = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            until_step(1, end.wrapping_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(*start, end.wrapping_add(step), step)?
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if *step > 0 {
                    return Ok(Value::str(""));
                }
            }
            until_step(*start, end.wrapping_add(inc), *step)?
        }
        _ => Vec::new(),
    };
    let parts: Vec<String> = items.iter().map(i64::to_string).collect();
    Ok(Value::string(parts.join(" ")))
}

/// Go's `math.Max`.
fn go_max(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x > 0.0 || y.is_infinite() && y > 0.0 {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`.
fn go_min(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x < 0.0 || y.is_infinite() && y < 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y {
        x
    } else {
        y
    }
}

/// Sprig's `round`: `math.Pow(10, places)`, then up or down by the fraction `math.Modf` gives.
fn round(val: f64, places: i64, round_on: f64) -> f64 {
    let pow = go_pow10(places);
    let digit = pow * val;
    let frac = if digit.is_infinite() {
        f64::NAN
    } else {
        digit - digit.trunc()
    };
    let r = if frac >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

/// Go's `math.Pow(10, y)` for an integer `y`, by its own repeated squaring (not libm's pow).
fn go_pow10(y: i64) -> f64 {
    match y {
        0 => return 1.0,
        1 => return 10.0,
        _ => {}
    }
    let (mut x1, mut xe) = (0.625f64, 4i64); // Frexp(10)
    let (mut a1, mut ae) = (1.0f64, 0i64);
    let mut i = y.unsigned_abs();
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// `frac × 2^exp`, by exact steps while the result stays normal.
fn ldexp(mut frac: f64, mut exp: i64) -> f64 {
    if frac == 0.0 || !frac.is_finite() {
        return frac;
    }
    exp = exp.clamp(-2200, 2200);
    while exp > 0 {
        let k = exp.min(1000);
        frac *= f64::powi(2.0, k as i32);
        exp -= k;
    }
    while exp < 0 {
        let k = (-exp).min(1000);
        frac /= f64::powi(2.0, k as i32);
        exp += k;
    }
    frac
}

// ---- spf13/cast ----

/// Go's conversion of a float64 to int64 on amd64: NaN and out-of-range values give MinInt64.
pub fn float_to_i64(f: f64) -> i64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-TWO63..TWO63).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// `cast.ToInt64` (errors give 0). `cast.ToInt` is the same on 64-bit Go.
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => float_to_i64(*f),
        Value::String(s) => parse_int(trim_zero_decimal(s), 0).unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// `cast.ToFloat64` (errors give 0).
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::String(s) => parse_float(s).unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

/// cast's `trimZeroDecimal`: "3.00" becomes "3"; anything else stays.
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

/// `strconv.Atoi` (errors give 0).
/// (Out of range, Go's `Atoi` still gives the nearest int, which Sprig keeps.)
pub fn atoi(s: &str) -> i64 {
    parse_int(s, 10).unwrap_or_else(|| {
        let (neg, digits) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        match (
            digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()),
            neg,
        ) {
            (true, _) => 0,
            (false, true) => i64::MIN,
            (false, false) => i64::MAX,
        }
    })
}

/// strconv's `underscoreOK`.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    let mut saw = b'^';
    if let [b'+' | b'-', rest @ ..] = b {
        b = rest;
    }
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// `strconv.ParseInt(s, base, 64)`; `None` on any error.
pub fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let un = parse_uint(digits, base)?;
    if !neg && un >= 1 << 63 || neg && un > 1 << 63 {
        return None;
    }
    Some(if neg {
        (un as i64).wrapping_neg()
    } else {
        un as i64
    })
}

/// `strconv.ParseUint(s, base, 64)`; `None` on any error.
pub fn parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let base0 = base == 0;
    let mut base = base;
    let b = s.as_bytes();
    let mut rest = b;
    if base0 {
        base = 10;
        if b[0] == b'0' {
            if b.len() >= 3 && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
                base = match b[1].to_ascii_lowercase() {
                    b'b' => 2,
                    b'o' => 8,
                    _ => 16,
                };
                rest = &b[2..];
            } else {
                base = 8;
                rest = &b[1..];
            }
        }
    }
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in rest {
        let d = match c {
            b'_' if base0 => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' | b'A'..=b'Z' => c.to_ascii_lowercase() - b'a' + 10,
            _ => return None,
        };
        if u32::from(d) >= base {
            return None;
        }
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    Some(n)
}

/// `strconv.ParseFloat(s, 64)`; `None` on any error (out of range included).
pub fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" && body.len() == s.len() {
        return Some(f64::NAN);
    }
    let mut clean = body.to_string();
    if body.contains('_') {
        if !underscore_ok(s) {
            return None;
        }
        clean = body.replace('_', "");
    }
    let v = if lower.starts_with("0x") {
        parse_hex_float(&clean[2..])?
    } else {
        let ok = !clean.is_empty()
            && clean
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
            && clean
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == b'.');
        if !ok {
            return None;
        }
        clean.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// A hexadecimal float's mantissa and `p` exponent (both required by Go).
fn parse_hex_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (mant, exp) = lower.split_once('p')?;
    let exp: i64 = match exp.as_bytes().first()? {
        b'+' => exp[1..].parse().ok()?,
        _ => exp.parse().ok()?,
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut m: u128 = 0;
    let mut e = exp.clamp(-100_000, 100_000);
    let mut sticky = false;
    for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
        let d = c.to_digit(16)? as u128;
        if m >> 120 == 0 {
            m = m * 16 + d;
            if i >= int_part.len() {
                e -= 4;
            }
        } else {
            sticky |= d != 0;
            if i < int_part.len() {
                e += 4;
            }
        }
    }
    if sticky {
        m |= 1;
    }
    // m × 2^e, rounded once: convert via an exact shift into 53 bits.
    if m == 0 {
        return Some(0.0);
    }
    let bits = 128 - m.leading_zeros() as i64;
    let shift = bits - 53;
    let (mut mant53, mut e2) = if shift > 0 {
        let rem = m & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let mut q = m >> shift;
        if rem > half || rem == half && q & 1 == 1 {
            q += 1;
        }
        (q, e + shift)
    } else {
        (m << (-shift), e + shift)
    };
    if mant53 >> 53 != 0 {
        mant53 >>= 1;
        e2 += 1;
    }
    Some(ldexp(mant53 as f64, e2))
}

// ---- shopspring/decimal, as Sprig's float functions use it ----

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// A decimal number: sign, base-10 digits (most significant first, no leading zeros) × 10^exp.
#[derive(Clone, Debug)]
struct Dec {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Dec {
    fn zero() -> Dec {
        Dec {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// `decimal.NewFromFloat`: the shortest decimal that reads back as `f`.
    fn from_float(f: f64) -> Result<Dec, String> {
        if f.is_nan() || f.is_infinite() {
            return Err(format!(
                "Cannot create a Decimal from {}",
                gofmt::sprint(&[Value::Float(f)])
            ));
        }
        if f == 0.0 {
            return Ok(Dec::zero());
        }
        let s = format!("{:e}", f.abs());
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
        let digits: Vec<u8> = ip.bytes().chain(fp.bytes()).map(|c| c - b'0').collect();
        Ok(Dec {
            neg: f < 0.0,
            digits,
            exp: exp - fp.len() as i64,
        }
        .normalize())
    }

    fn normalize(mut self) -> Dec {
        let lead = self.digits.iter().take_while(|d| **d == 0).count();
        self.digits.drain(..lead);
        if self.digits.is_empty() {
            return Dec::zero();
        }
        while self.digits.last() == Some(&0) {
            self.digits.pop();
            self.exp += 1;
        }
        self
    }

    /// The digits scaled to exponent `exp` (≤ self.exp).
    fn scaled(&self, exp: i64) -> Vec<u8> {
        let mut d = self.digits.clone();
        d.extend(std::iter::repeat_n(0, (self.exp - exp).max(0) as usize));
        d
    }

    fn to_f64(&self) -> f64 {
        if self.digits.is_empty() {
            return 0.0;
        }
        let s: String = self.digits.iter().map(|d| (b'0' + d) as char).collect();
        let v: f64 = format!("{s}e{}", self.exp).parse().unwrap_or(0.0);
        if self.neg {
            -v
        } else {
            v
        }
    }
}

fn cmp_digits(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let a = &a[a.iter().take_while(|d| **d == 0).count()..];
    let b = &b[b.iter().take_while(|d| **d == 0).count()..];
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let mut s = carry;
        if i > 0 {
            i -= 1;
            s += a[i];
        }
        if j > 0 {
            j -= 1;
            s += b[j];
        }
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// a − b for a ≥ b.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        i -= 1;
        let mut s = a[i] as i8 - borrow;
        if j > 0 {
            j -= 1;
            s -= b[j] as i8;
        }
        borrow = 0;
        if s < 0 {
            s += 10;
            borrow = 1;
        }
        out.push(s as u8);
    }
    out.reverse();
    out
}

fn mul_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut acc = vec![0u64; a.len() + b.len()];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            acc[i + j + 1] += u64::from(*x) * u64::from(*y);
        }
    }
    for k in (1..acc.len()).rev() {
        let c = acc[k] / 10;
        acc[k] %= 10;
        acc[k - 1] += c;
    }
    acc.into_iter().map(|d| d as u8).collect()
}

/// Integer division: (quotient, remainder).
fn divmod_digits(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut q = Vec::with_capacity(a.len());
    let mut r: Vec<u8> = Vec::new();
    for d in a {
        r.push(*d);
        let lead = r.iter().take_while(|x| **x == 0).count();
        r.drain(..lead);
        let mut n = 0u8;
        while cmp_digits(&r, b) != std::cmp::Ordering::Less {
            r = sub_digits(&r, b);
            let lead = r.iter().take_while(|x| **x == 0).count();
            r.drain(..lead);
            n += 1;
        }
        q.push(n);
    }
    (q, r)
}

fn dec_add(a: &Dec, b: &Dec) -> Dec {
    let exp = a.exp.min(b.exp);
    let (x, y) = (a.scaled(exp), b.scaled(exp));
    let (neg, digits) = if a.neg == b.neg {
        (a.neg, add_digits(&x, &y))
    } else if cmp_digits(&x, &y) != std::cmp::Ordering::Less {
        (a.neg, sub_digits(&x, &y))
    } else {
        (b.neg, sub_digits(&y, &x))
    };
    Dec { neg, digits, exp }.normalize()
}

fn dec_mul(a: &Dec, b: &Dec) -> Dec {
    Dec {
        neg: a.neg != b.neg,
        digits: mul_digits(&a.digits, &b.digits),
        exp: a.exp + b.exp,
    }
    .normalize()
}

/// `Decimal.Div`: `DivRound(d2, 16)`, half away from zero.
fn dec_div(a: &Dec, b: &Dec) -> Result<Dec, String> {
    if b.digits.is_empty() {
        return Err("decimal division by 0".into());
    }
    const PRECISION: i64 = 16;
    let s = a.exp - b.exp + PRECISION;
    let (mut num, mut den) = (a.digits.clone(), b.digits.clone());
    if s >= 0 {
        num.extend(std::iter::repeat_n(0, s as usize));
    } else {
        den.extend(std::iter::repeat_n(0, (-s) as usize));
    }
    let (mut q, r) = divmod_digits(&num, &den);
    let twice = add_digits(&r, &r);
    if cmp_digits(&twice, &den) != std::cmp::Ordering::Less {
        q = add_digits(&q, &[1]);
    }
    Ok(Dec {
        neg: a.neg != b.neg,
        digits: q,
        exp: -PRECISION,
    }
    .normalize())
}

/// Sprig's `execDecimalOp`.
fn decimal_op(first: &Value, rest: &[Value], op: Op) -> Result<Value, String> {
    let mut acc = Dec::from_float(to_float64(first))?;
    for v in rest {
        let mut d = Dec::from_float(to_float64(v))?;
        acc = match op {
            Op::Add => dec_add(&acc, &d),
            Op::Sub => {
                d.neg = !d.neg;
                dec_add(&acc, &d)
            }
            Op::Mul => dec_mul(&acc, &d),
            Op::Div => dec_div(&acc, &d)?,
        };
        if acc.digits.len() > 10_000 {
            return Err("decimal result too large".into());
        }
    }
    Ok(Value::Float(acc.to_f64()))
}
