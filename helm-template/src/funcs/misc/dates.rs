//! Sprig's date functions, on a small model of Go's `time` package.
//!
//! Time zones: "UTC" and "" are UTC; "Local" is taken to be UTC (the zone the reference and
//! our containers run in); any other name is looked up in the system's zoneinfo files
//! (/usr/share/zoneinfo, as Go does), whose transition tables are read directly (instants
//! after the last listed transition keep its offset; the POSIX rule string is not read).
//! A name Go cannot load falls back to UTC, as Sprig does.

use std::rc::Rc;

use crate::funcs::{arg_str, Registry, Ty};
use crate::gofmt;
use crate::value::{Member, Method, Object, Value};

pub(super) fn register(r: &mut Registry) {
    r.add("now", &[], None, |_| Ok(time_value(Time::now())));
    r.add("date", &[Ty::String, Ty::Any], None, |a| {
        Ok(Value::string(date_in_zone(arg_str(a, 0), &a[1], "Local")))
    });
    r.add("htmlDate", &[Ty::Any], None, |a| {
        Ok(Value::string(date_in_zone("2006-01-02", &a[0], "Local")))
    });
    r.add("htmlDateInZone", &[Ty::Any, Ty::String], None, |a| {
        Ok(Value::string(date_in_zone(
            "2006-01-02",
            &a[0],
            arg_str(a, 1),
        )))
    });
    for name in ["dateInZone", "date_in_zone"] {
        r.add(name, &[Ty::String, Ty::Any, Ty::String], None, |a| {
            Ok(Value::string(date_in_zone(
                arg_str(a, 0),
                &a[1],
                arg_str(a, 2),
            )))
        });
    }
    for name in ["dateModify", "date_modify"] {
        r.add(name, &[Ty::String, Ty::Any], None, |a| {
            let t = time_arg(&a[1])?;
            Ok(time_value(match parse_duration(arg_str(a, 0)) {
                Ok(d) => t.add(d),
                Err(_) => t,
            }))
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        r.add(name, &[Ty::String, Ty::Any], None, |a| {
            let t = time_arg(&a[1])?;
            Ok(time_value(t.add(parse_duration(arg_str(a, 0))?)))
        });
    }
    r.add("ago", &[Ty::Any], None, |a| {
        let t = match &a[0] {
            Value::Int(i) | Value::Int64(i) => Time::unix(*i, 0),
            v => time_of(v).unwrap_or_else(Time::now),
        };
        let since = Time::now().sub(&t);
        Ok(Value::string(format_duration(round_duration(
            since,
            1_000_000_000,
        ))))
    });
    r.add("toDate", &[Ty::String, Ty::String], None, |a| {
        Ok(time_value(
            parse_time(arg_str(a, 0), arg_str(a, 1)).unwrap_or_else(|_| Time::zero()),
        ))
    });
    r.add("mustToDate", &[Ty::String, Ty::String], None, |a| {
        Ok(time_value(parse_time(arg_str(a, 0), arg_str(a, 1))?))
    });
    r.add("unixEpoch", &[Ty::Any], None, |a| {
        Ok(Value::string(time_arg(&a[0])?.secs.to_string()))
    });
    r.add("duration", &[Ty::Any], None, |a| {
        let n = match &a[0] {
            Value::String(s) => super::super::math::atoi(s),
            Value::Int64(i) => *i,
            _ => 0,
        };
        Ok(Value::string(format_duration(
            n.wrapping_mul(1_000_000_000),
        )))
    });
    r.add("durationRound", &[Ty::Any], None, |a| {
        let d = match &a[0] {
            Value::String(s) => parse_duration(s).unwrap_or(0),
            Value::Int64(i) => *i,
            v => match time_of(v) {
                Some(t) => Time::now().sub(&t),
                None => 0,
            },
        };
        Ok(Value::string(duration_round(d)))
    });
}

/// A Go parameter of type `time.Time`.
fn time_arg(v: &Value) -> Result<Time, String> {
    time_of(v).ok_or_else(|| {
        format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        )
    })
}

fn time_of(v: &Value) -> Option<Time> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => {
            // The times we hand out are remembered by what they print (Go's `String`).
            let s = o.print();
            TIME_CACHE.with(|c| {
                c.borrow()
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == s)
                    .map(|(_, t)| t.clone())
            })
        }
        _ => None,
    }
}

thread_local! {
    /// Times handed out, by their key, so that a `time.Time` value can be read back from
    /// the `dyn Object` the templates pass around.
    static TIME_CACHE: std::cell::RefCell<Vec<(String, Time)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn time_value(t: Time) -> Value {
    Value::Object(Rc::new(TimeObject::new(t)))
}

/// Sprig's `dateInZone`.
fn date_in_zone(layout: &str, date: &Value, zone: &str) -> String {
    let t = match date {
        Value::Int(i) | Value::Int64(i) => Time::unix(*i, 0),
        v => time_of(v).unwrap_or_else(Time::now),
    };
    let loc = Loc::load(zone).unwrap_or(Loc::Utc);
    t.in_loc(loc).format(layout)
}

// ---- the time model ----

#[derive(Clone, Debug, PartialEq)]
enum Loc {
    Utc,
    Local,
    /// A zone from zoneinfo: its name and transitions (unix time, offset, abbreviation).
    Named(Rc<Zone>),
    /// `FixedZone(name, offset)`, as a parse with an unknown zone makes.
    Fixed(String, i64),
}

#[derive(Debug, PartialEq)]
struct Zone {
    name: String,
    /// (start, offset, abbreviation), sorted by start.
    trans: Vec<(i64, i64, String)>,
    first: (i64, String),
}

impl Loc {
    /// `time.LoadLocation`.
    fn load(name: &str) -> Option<Loc> {
        match name {
            "" | "UTC" => return Some(Loc::Utc),
            "Local" => return Some(Loc::Local),
            _ => {}
        }
        if name.contains("..") || name.starts_with('/') || name.contains('\\') {
            return None;
        }
        let data = std::fs::read(format!("/usr/share/zoneinfo/{name}")).ok()?;
        parse_tzif(name, &data).map(|z| Loc::Named(Rc::new(z)))
    }

    /// (offset seconds east of UTC, abbreviation) at a unix time.
    fn lookup(&self, secs: i64) -> (i64, String) {
        match self {
            Loc::Utc | Loc::Local => (0, "UTC".into()),
            Loc::Fixed(name, off) => (*off, name.clone()),
            Loc::Named(z) => {
                let i = z.trans.partition_point(|(start, _, _)| *start <= secs);
                if i == 0 {
                    z.first.clone()
                } else {
                    let (_, off, abbr) = &z.trans[i - 1];
                    (*off, abbr.clone())
                }
            }
        }
    }
}

fn be32(b: &[u8], at: usize) -> Option<i64> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as i64)
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads a TZif file's 64-bit (v2+) block, or its v1 block.
fn parse_tzif(name: &str, d: &[u8]) -> Option<Zone> {
    if d.get(..4)? != b"TZif" {
        return None;
    }
    let counts = |at: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (k, item) in c.iter_mut().enumerate() {
            *item = usize::try_from(be32(d, at + 20 + 4 * k)?).ok()?;
        }
        Some(c)
    };
    let c1 = counts(0)?;
    let (mut at, mut c, mut wide) = (44usize, c1, false);
    if d[4] >= b'2' {
        let start = 44 + c1[3] * 5 + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
        if d.get(start..start + 4) == Some(b"TZif") {
            c = counts(start)?;
            at = start + 44;
            wide = true;
        }
    }
    let [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = c;
    let tsize = if wide { 8 } else { 4 };
    let times_at = at;
    let idx_at = times_at + timecnt * tsize;
    let types_at = idx_at + timecnt;
    let chars_at = types_at + typecnt * 6;
    let _ = (isutcnt, isstdcnt, leapcnt);
    let abbr = |i: usize| -> String {
        let s = d.get(chars_at + i..chars_at + charcnt).unwrap_or(&[]);
        let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    };
    let ty = |i: usize| -> Option<(i64, String)> {
        let p = types_at + i * 6;
        Some((be32(d, p)?, abbr(*d.get(p + 5)? as usize)))
    };
    let mut trans = Vec::with_capacity(timecnt);
    for k in 0..timecnt {
        let t = if wide {
            be64(d, times_at + 8 * k)?
        } else {
            be32(d, times_at + 4 * k)?
        };
        let (off, ab) = ty(*d.get(idx_at + k)? as usize)?;
        trans.push((t, off, ab));
    }
    // Go: before the first transition, the first non-DST type (or type 0).
    let first = ty(0)?;
    Some(Zone {
        name: name.to_string(),
        trans,
        first,
    })
}

#[derive(Clone, Debug, PartialEq)]
struct Time {
    secs: i64,
    nsec: i64,
    loc: Loc,
    /// Whether it carries a monotonic reading (from `now`): `String` then shows "m=…".
    mono: Option<i64>,
}

const NANOS: i64 = 1_000_000_000;

impl Time {
    fn now() -> Time {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mono = START.with(|s| s.elapsed().as_nanos() as i64);
        Time {
            secs: d.as_secs() as i64,
            nsec: i64::from(d.subsec_nanos()),
            loc: Loc::Local,
            mono: Some(mono),
        }
    }

    fn unix(secs: i64, nsec: i64) -> Time {
        Time {
            secs,
            nsec,
            loc: Loc::Local,
            mono: None,
        }
    }

    /// Go's zero `time.Time`: January 1, year 1, 00:00:00 UTC.
    fn zero() -> Time {
        Time {
            secs: -62_135_596_800,
            nsec: 0,
            loc: Loc::Utc,
            mono: None,
        }
    }

    fn in_loc(&self, loc: Loc) -> Time {
        Time {
            loc,
            mono: None,
            ..self.clone()
        }
    }

    fn add(&self, d: i64) -> Time {
        let total = self.nsec + d.rem_euclid(NANOS);
        let secs = self
            .secs
            .wrapping_add(d.div_euclid(NANOS))
            .wrapping_add(total / NANOS);
        Time {
            secs,
            nsec: total % NANOS,
            loc: self.loc.clone(),
            mono: self.mono.map(|m| m.wrapping_add(d)),
        }
    }

    /// `t.Sub(u)` in nanoseconds, saturating.
    fn sub(&self, u: &Time) -> i64 {
        let n = (i128::from(self.secs) - i128::from(u.secs)) * i128::from(NANOS)
            + i128::from(self.nsec - u.nsec);
        n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    fn civil(&self) -> Civil {
        let (off, zone) = self.loc.lookup(self.secs);
        let local = self.secs + off;
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            min: sod % 3600 / 60,
            sec: sod % 60,
            nsec: self.nsec,
            weekday: (days + 4).rem_euclid(7),
            yday: days - days_from_civil(year, 1, 1) + 1,
            off,
            zone,
        }
    }

    fn format(&self, layout: &str) -> String {
        format_civil(&self.civil(), layout)
    }

    /// Go's `Time.String`.
    fn string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            s.push_str(&format!(
                " m={sign}{}.{:09}",
                m / 1_000_000_000,
                m % 1_000_000_000
            ));
        }
        s
    }
}

thread_local! {
    static START: std::time::Instant = std::time::Instant::now();
}

struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
    weekday: i64,
    yday: i64,
    off: i64,
    zone: String,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    PmLower,
    Tz,
    /// A numeric or ISO 8601 zone: (ISO, with colons, with seconds, hours only).
    Offset {
        iso: bool,
        colon: bool,
        secs: bool,
        hours_only: bool,
    },
    /// Fractional seconds: (digits, trim trailing zeros, separator).
    Frac(usize, bool, char),
}

/// Go's `nextStdChunk`: (literal prefix, the element, the rest).
fn next_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let off = |iso, colon, secs, hours_only| {
        Some(Std::Offset {
            iso,
            colon,
            secs,
            hours_only,
        })
    };
    for i in 0..b.len() {
        let rest = &layout[i..];
        let hit = |len: usize, std: Option<Std>| Some((len, std));
        let found: Option<(usize, Option<Std>)> = match b[i] {
            b'J' if rest.starts_with("January") => hit(7, Some(Std::LongMonth)),
            b'J' if rest.starts_with("Jan") => hit(3, Some(Std::Month)),
            b'M' if rest.starts_with("Monday") => hit(6, Some(Std::LongWeekDay)),
            b'M' if rest.starts_with("Mon") => hit(3, Some(Std::WeekDay)),
            b'M' if rest.starts_with("MST") => hit(3, Some(Std::Tz)),
            b'0' if rest.starts_with("002") => hit(3, Some(Std::ZeroYearDay)),
            b'0' if b.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => hit(
                2,
                Some(match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                }),
            ),
            b'1' if rest.starts_with("15") => hit(2, Some(Std::Hour)),
            b'1' => hit(1, Some(Std::NumMonth)),
            b'2' if rest.starts_with("2006") => hit(4, Some(Std::LongYear)),
            b'2' => hit(1, Some(Std::Day)),
            b'_' if rest.starts_with("_2006") => {
                return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
            }
            b'_' if rest.starts_with("__2") => hit(3, Some(Std::UnderYearDay)),
            b'_' if rest.starts_with("_2") => hit(2, Some(Std::UnderDay)),
            b'3' => hit(1, Some(Std::Hour12)),
            b'4' => hit(1, Some(Std::Minute)),
            b'5' => hit(1, Some(Std::Second)),
            b'P' if rest.starts_with("PM") => hit(2, Some(Std::Pm)),
            b'p' if rest.starts_with("pm") => hit(2, Some(Std::PmLower)),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                let r = &rest[1..];
                if r.starts_with("070000") {
                    hit(7, off(iso, false, true, false))
                } else if r.starts_with("07:00:00") {
                    hit(9, off(iso, true, true, false))
                } else if r.starts_with("0700") {
                    hit(5, off(iso, false, false, false))
                } else if r.starts_with("07:00") {
                    hit(6, off(iso, true, false, false))
                } else if r.starts_with("07") {
                    hit(3, off(iso, false, false, true))
                } else {
                    None
                }
            }
            b'.' | b',' if b.get(i + 1).is_some_and(|c| *c == b'0' || *c == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    hit(j - i, Some(Std::Frac(j - i - 1, ch == b'9', b[i] as char)))
                }
            }
            _ => None,
        };
        if let Some((len, std)) = found {
            return (&layout[..i], std, &layout[i + len..]);
        }
    }
    (layout, None, "")
}

fn pad(out: &mut String, n: i64, width: usize, fill: char) {
    let s = n.unsigned_abs().to_string();
    if n < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push(fill);
    }
    out.push_str(&s);
}

fn format_civil(c: &Civil, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (prefix, std, after) = next_chunk(rest);
        out.push_str(prefix);
        rest = after;
        let Some(std) = std else { break };
        match std {
            Std::Year => pad(&mut out, c.year.rem_euclid(100), 2, '0'),
            Std::LongYear => pad(&mut out, c.year, 4, '0'),
            Std::Month => out.push_str(&MONTHS[(c.month - 1) as usize][..3]),
            Std::LongMonth => out.push_str(MONTHS[(c.month - 1) as usize]),
            Std::NumMonth => pad(&mut out, c.month, 0, '0'),
            Std::ZeroMonth => pad(&mut out, c.month, 2, '0'),
            Std::WeekDay => out.push_str(&DAYS[c.weekday as usize][..3]),
            Std::LongWeekDay => out.push_str(DAYS[c.weekday as usize]),
            Std::Day => pad(&mut out, c.day, 0, '0'),
            Std::UnderDay => pad(&mut out, c.day, 2, ' '),
            Std::ZeroDay => pad(&mut out, c.day, 2, '0'),
            Std::UnderYearDay => pad(&mut out, c.yday, 3, ' '),
            Std::ZeroYearDay => pad(&mut out, c.yday, 3, '0'),
            Std::Hour => pad(&mut out, c.hour, 2, '0'),
            Std::Hour12 | Std::ZeroHour12 => {
                let h = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
                pad(&mut out, h, if std == Std::Hour12 { 0 } else { 2 }, '0');
            }
            Std::Minute => pad(&mut out, c.min, 0, '0'),
            Std::ZeroMinute => pad(&mut out, c.min, 2, '0'),
            Std::Second => pad(&mut out, c.sec, 0, '0'),
            Std::ZeroSecond => pad(&mut out, c.sec, 2, '0'),
            Std::Pm => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            Std::PmLower => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Std::Offset {
                iso,
                colon,
                secs,
                hours_only,
            } => {
                if iso && c.off == 0 {
                    out.push('Z');
                    continue;
                }
                let zone = c.off / 60;
                let abs = c.off.abs();
                out.push(if zone < 0 { '-' } else { '+' });
                pad(&mut out, zone.abs() / 60, 2, '0');
                if !hours_only {
                    if colon {
                        out.push(':');
                    }
                    pad(&mut out, zone.abs() % 60, 2, '0');
                }
                if secs {
                    if colon {
                        out.push(':');
                    }
                    pad(&mut out, abs % 60, 2, '0');
                }
            }
            Std::Tz => {
                if !c.zone.is_empty() {
                    out.push_str(&c.zone);
                } else {
                    let z = c.off / 60;
                    out.push(if z < 0 { '-' } else { '+' });
                    pad(&mut out, z.abs() / 60, 2, '0');
                    pad(&mut out, z.abs() % 60, 2, '0');
                }
            }
            Std::Frac(n, trim, sep) => {
                let digits = format!("{:09}", c.nsec);
                let mut d = &digits[..n.min(9)];
                if trim {
                    d = d.trim_end_matches('0');
                    if d.is_empty() {
                        continue;
                    }
                }
                out.push(sep);
                out.push_str(d);
                for _ in 9..n {
                    out.push('0');
                }
            }
        }
    }
    out
}

// ---- parsing ----

fn parse_error(value: &str, layout: &str, velem: &str, lelem: &str) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        gofmt::quote(value),
        gofmt::quote(layout),
        gofmt::quote(velem),
        gofmt::quote(lelem)
    )
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    if !b.get(1).is_some_and(u8::is_ascii_digit) {
        if fixed {
            return None;
        }
        return Some((i64::from(b[0] - b'0'), &s[1..]));
    }
    Some((
        i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0'),
        &s[2..],
    ))
}

fn getnum3(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let n = s.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if n == 0 || fixed && n != 3 {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

fn lookup_name<'a>(names: &[&str], short: bool, s: &'a str) -> Option<(i64, &'a str)> {
    for (i, name) in names.iter().enumerate() {
        let name = if short { &name[..3] } else { name };
        if s.len() >= name.len() && s.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            return Some((i as i64, &s[name.len()..]));
        }
    }
    None
}

/// `time.ParseInLocation(layout, value, time.Local)`, Local being UTC.
fn parse_time(layout: &str, value0: &str) -> Result<Time, String> {
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut pm_set = false;
    let mut am_set = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name: Option<String> = None;
    let mut value = value0;
    let mut lay = layout;
    loop {
        let (prefix, std, after) = next_chunk(lay);
        let std_str = &lay[prefix.len()..lay.len() - after.len()];
        let Some(v) = value.strip_prefix(prefix) else {
            return Err(parse_error(value0, layout, value, prefix));
        };
        value = v;
        let Some(std) = std else {
            if !value.is_empty() {
                return Err(format!(
                    "parsing time {}: extra text: {}",
                    gofmt::quote(value0),
                    gofmt::quote(value)
                ));
            }
            break;
        };
        lay = after;
        let hold = value;
        let bad = || parse_error(value0, layout, hold, std_str);
        let range =
            |what: &str| format!("parsing time {}: {what} out of range", gofmt::quote(value0));
        match std {
            Std::Year => {
                let (n, r) = getnum(value, true).ok_or_else(bad)?;
                year = if n >= 69 { n + 1900 } else { n + 2000 };
                value = r;
            }
            Std::LongYear => {
                if value.len() < 4 || !value.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                year = value[..4].parse().map_err(|_| bad())?;
                value = &value[4..];
            }
            Std::Month | Std::LongMonth => {
                let (n, r) = lookup_name(&MONTHS, std == Std::Month, value).ok_or_else(bad)?;
                month = n + 1;
                value = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (n, r) = getnum(value, std == Std::ZeroMonth).ok_or_else(bad)?;
                if !(1..=12).contains(&n) {
                    return Err(range("month"));
                }
                month = n;
                value = r;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let (_, r) = lookup_name(&DAYS, std == Std::WeekDay, value).ok_or_else(bad)?;
                value = r;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.starts_with(' ') {
                    value = &value[1..];
                }
                let (n, r) = getnum(value, std == Std::ZeroDay).ok_or_else(bad)?;
                day = n;
                value = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.starts_with(' ') {
                        value = &value[1..];
                    }
                }
                let (n, r) = getnum3(value, std == Std::ZeroYearDay).ok_or_else(bad)?;
                yday = n;
                value = r;
            }
            Std::Hour => {
                let (n, r) = getnum(value, false).ok_or_else(bad)?;
                if !(0..24).contains(&n) {
                    return Err(range("hour"));
                }
                hour = n;
                value = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (n, r) = getnum(value, std == Std::ZeroHour12).ok_or_else(bad)?;
                if !(0..=12).contains(&n) {
                    return Err(range("hour"));
                }
                hour = n;
                value = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (n, r) = getnum(value, std == Std::ZeroMinute).ok_or_else(bad)?;
                if !(0..60).contains(&n) {
                    return Err(range("minute"));
                }
                min = n;
                value = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (n, r) = getnum(value, std == Std::ZeroSecond).ok_or_else(bad)?;
                if !(0..60).contains(&n) {
                    return Err(range("second"));
                }
                sec = n;
                value = r;
                // A fraction in the value with none in the layout is still read.
                let b = value.as_bytes();
                if b.len() >= 2 && (b[0] == b'.' || b[0] == b',') && b[1].is_ascii_digit() {
                    let (_, next, _) = next_chunk(lay);
                    if !matches!(next, Some(Std::Frac(..))) {
                        let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nsec = frac_nanos(&value[1..n]);
                        value = &value[n..];
                    }
                }
            }
            Std::Pm | Std::PmLower => {
                let p = value.get(..2).ok_or_else(bad)?;
                match (std, p) {
                    (Std::Pm, "PM") | (Std::PmLower, "pm") => pm_set = true,
                    (Std::Pm, "AM") | (Std::PmLower, "am") => am_set = true,
                    _ => return Err(bad()),
                }
                value = &value[2..];
            }
            Std::Offset {
                iso,
                colon,
                secs,
                hours_only,
            } => {
                if iso && value.starts_with('Z') {
                    value = &value[1..];
                    zone_offset = Some(0);
                    zone_name = Some("UTC".into());
                    continue;
                }
                let b = value.as_bytes();
                let sign = match b.first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(bad()),
                };
                let mut want = 3 + if hours_only {
                    0
                } else {
                    2 + usize::from(colon)
                };
                if secs {
                    want += 2 + usize::from(colon);
                }
                let s = value.get(..want).ok_or_else(bad)?;
                let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
                if colon && !hours_only && s.as_bytes().get(3) != Some(&b':')
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                {
                    return Err(bad());
                }
                let num = |k: usize| {
                    digits
                        .get(k..k + 2)
                        .and_then(|x| x.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let (hh, mm, ss) = (num(0), num(2), num(4));
                if hh > 24 || mm > 60 || ss > 60 {
                    return Err(range("time zone offset"));
                }
                zone_offset = Some(sign * (hh * 3600 + mm * 60 + ss));
                value = &value[want..];
            }
            Std::Tz => {
                if value.starts_with("UTC") {
                    zone_name = Some("UTC".into());
                    value = &value[3..];
                    continue;
                }
                let n = value.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return Err(bad());
                }
                zone_name = Some(value[..n].to_string());
                value = &value[n..];
            }
            Std::Frac(n, trim, _) => {
                let b = value.as_bytes();
                if !trim {
                    if b.len() < n + 1
                        || !(b[0] == b'.' || b[0] == b',')
                        || !b[1..=n].iter().all(u8::is_ascii_digit)
                    {
                        return Err(bad());
                    }
                    nsec = frac_nanos(&value[1..=n]);
                    value = &value[n + 1..];
                } else {
                    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !b[1].is_ascii_digit() {
                        continue;
                    }
                    let k = 1 + b[1..]
                        .iter()
                        .take(9)
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    nsec = frac_nanos(&value[1..k]);
                    value = &value[k..];
                }
            }
        }
    }
    if pm_set && hour < 12 {
        hour += 12;
    } else if am_set && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let leap = days_in(2, year) == 29;
        if yday < 1 || yday > 365 + i64::from(leap) {
            return Err(format!(
                "parsing time {}: day-of-year out of range",
                gofmt::quote(value0)
            ));
        }
        let (mut m, mut d) = (1, yday);
        while d > days_in(m, year) {
            d -= days_in(m, year);
            m += 1;
        }
        if month >= 0 && month != m || day >= 0 && day != d {
            return Err(format!(
                "parsing time {}: day-of-year does not match month",
                gofmt::quote(value0)
            ));
        }
        month = m;
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return Err(format!(
            "parsing time {}: day out of range",
            gofmt::quote(value0)
        ));
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
    if let Some(off) = zone_offset {
        let t = Time {
            secs: secs - off,
            nsec,
            loc: Loc::Local,
            mono: None,
        };
        if off == 0 && zone_name.as_deref().is_none_or(|n| n == "UTC") {
            return Ok(t);
        }
        return Ok(Time {
            loc: Loc::Fixed(zone_name.unwrap_or_default(), off),
            ..t
        });
    }
    if let Some(name) = zone_name {
        if name == "UTC" {
            return Ok(Time {
                secs,
                nsec,
                loc: Loc::Local,
                mono: None,
            });
        }
        let mut off = 0;
        if name.len() > 3 && name.starts_with("GMT") {
            off = super::super::math::atoi(&name[3..]) * 3600;
        }
        return Ok(Time {
            secs: secs - off,
            nsec,
            loc: Loc::Fixed(name, off),
            mono: None,
        });
    }
    Ok(Time {
        secs,
        nsec,
        loc: Loc::Local,
        mono: None,
    })
}

fn frac_nanos(digits: &str) -> i64 {
    let mut s: String = digits.chars().take(9).collect();
    while s.len() < 9 {
        s.push('0');
    }
    s.parse().unwrap_or(0)
}

// ---- durations ----

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_duration(s0: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", gofmt::quote(s0));
    let mut s = s0;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let nd = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for c in &b[..nd] {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or_else(invalid)?;
        }
        s = &s[nd..];
        let pre = nd > 0;
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(r) = s.strip_prefix('.') {
            s = r;
            let nf = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for c in s[..nf].bytes() {
                if overflow {
                    continue;
                }
                if f > (1u64 << 63) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > 1 << 63 {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = nf > 0;
            s = &s[nf..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let nu = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if nu == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                gofmt::quote(s0)
            ));
        }
        let unit: u64 = match &s[..nu] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    gofmt::quote(u),
                    gofmt::quote(s0)
                ))
            }
        };
        s = &s[nu..];
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > (1u64 << 63) - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// Go's `Duration.String`.
pub fn format_duration(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    let frac = |u: u64, prec: u32| -> (String, u64) {
        let p = 10u64.pow(prec);
        let f = u % p;
        if f == 0 {
            return (String::new(), u / p);
        }
        let s = format!("{f:0width$}", width = prec as usize);
        (format!(".{}", s.trim_end_matches('0')), u / p)
    };
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".into(),
            1..=999 => ("ns", 0),
            1_000..=999_999 => ("\u{b5}s", 3),
            _ => ("ms", 6),
        };
        let (f, whole) = frac(u, prec);
        out.push_str(&format!("{whole}{f}{unit}"));
    } else {
        let (f, secs) = frac(u, 9);
        u = secs;
        let s = format!("{}{f}s", u % 60);
        u /= 60;
        if u > 0 {
            let m = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&s);
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Go's `Duration.Round(m)`.
fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if r + r < m {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if r + r < m {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}

/// Sprig's `durationRound`.
fn duration_round(d: i64) -> String {
    let u = d.unsigned_abs();
    const H: u64 = 3_600_000_000_000;
    let units: [(u64, &str); 6] = [
        (H * 24 * 365, "y"),
        (H * 24 * 30, "mo"),
        (H * 24, "d"),
        (H, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ];
    for (size, name) in units {
        if u > size {
            return format!("{}{name}", u / size);
        }
    }
    "0s".into()
}

// ---- time.Time as a template value ----

struct TimeObject {
    t: Time,
}

impl TimeObject {
    fn new(t: Time) -> TimeObject {
        let key = t.string();
        TIME_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if !c.iter().any(|(k, _)| *k == key) {
                if c.len() > 10_000 {
                    c.remove(0);
                }
                c.push((key.clone(), t.clone()));
            }
        });
        TimeObject { t }
    }
}

impl Object for TimeObject {
    fn type_name(&self) -> String {
        "time.Time".into()
    }

    fn member(&self, name: &str) -> Option<Member> {
        let t = self.t.clone();
        let m0 = |f: Box<dyn Fn(&Time) -> Value>| {
            let t = t.clone();
            Member::Method(Method {
                params: &[],
                variadic: None,
                call: Box::new(move |_| Ok(f(&t))),
            })
        };
        Some(match name {
            "Unix" => m0(Box::new(|t| Value::Int64(t.secs))),
            "UnixNano" => m0(Box::new(|t| {
                Value::Int64(t.secs.wrapping_mul(NANOS).wrapping_add(t.nsec))
            })),
            "Year" => m0(Box::new(|t| Value::Int(t.civil().year))),
            "Day" => m0(Box::new(|t| Value::Int(t.civil().day))),
            "Hour" => m0(Box::new(|t| Value::Int(t.civil().hour))),
            "Minute" => m0(Box::new(|t| Value::Int(t.civil().min))),
            "Second" => m0(Box::new(|t| Value::Int(t.civil().sec))),
            "Nanosecond" => m0(Box::new(|t| Value::Int(t.nsec))),
            "YearDay" => m0(Box::new(|t| Value::Int(t.civil().yday))),
            "String" => m0(Box::new(|t| Value::string(t.string()))),
            "IsZero" => m0(Box::new(|t| {
                Value::Bool(t.secs == -62_135_596_800 && t.nsec == 0)
            })),
            "UTC" => m0(Box::new(|t| time_value(t.in_loc(Loc::Utc)))),
            "Format" => Member::Method(Method {
                params: &[Ty::String],
                variadic: None,
                call: Box::new(move |a| Ok(Value::string(t.format(arg_str(&a, 0))))),
            }),
            _ => return None,
        })
    }

    fn print(&self) -> String {
        self.t.string()
    }

    /// `json.Marshal` of a `time.Time`: RFC 3339 with nanoseconds.
    fn to_plain(&self) -> Value {
        Value::string(self.t.format("2006-01-02T15:04:05.999999999Z07:00"))
    }

    fn is_pointer(&self) -> bool {
        false
    }
}
