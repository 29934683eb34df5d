//! Sprig's `semver` and `semverCompare`, on github.com/Masterminds/semver/v3 v3.5.0 (the
//! version Helm 3.22 builds with): the same regular expressions, run by regex-lite, with
//! Go's `\s` spelled out (regex-lite's `\s` also holds `\v`).

use std::rc::Rc;
use std::sync::OnceLock;

use regex_lite::Regex;

use crate::funcs::{Registry, Ty};
use crate::gofmt;
use crate::value::{Member, Method, Object, Value};

pub(super) fn register(r: &mut Registry) {
    r.add("semver", &[Ty::String], None, |a| {
        let v = Version::parse(crate::funcs::arg_str(a, 0))?;
        Ok(Value::Object(Rc::new(VersionObject { v, pointer: true })))
    });
    r.add("semverCompare", &[Ty::String, Ty::String], None, |a| {
        let c = Constraints::parse(crate::funcs::arg_str(a, 0))?;
        let v = Version::parse(crate::funcs::arg_str(a, 1))?;
        Ok(Value::Bool(c.check(&v)))
    });
}

const WS: &str = r"[\t\n\f\r ]";
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Res {
    loose: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn res() -> &'static Res {
    static R: OnceLock<Res> = OnceLock::new();
    R.get_or_init(|| {
        let build = |s: String| Regex::new(&s.replace(r"\s", WS)).expect("semver's regular expressions compile");
        Res {
            loose: build(
                r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
                    .to_string(),
            ),
            constraint: build(format!(r"^\s*({OPS})\s*({CV})\s*$")),
            range: build(format!(r"\s*({CV})\s+-\s+({CV})\s*")),
            find: build(format!(r"({OPS})\s*({CV})")),
            valid: build(format!(r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$")),
        }
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

fn parse_segment(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|_| {
        let why = if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        format!(
            "error parsing version segment: strconv.ParseUint: parsing {}: {why}",
            gofmt::quote(s)
        )
    })
}

fn only(s: &str, extra_letters: bool) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_digit() || extra_letters && (c.is_ascii_alphabetic() || c == b'-'))
}

fn validate_prerelease(p: &str) -> Result<(), String> {
    for part in p.split('.') {
        if part.is_empty() {
            return Err("invalid prerelease string".into());
        } else if only(part, false) {
            if part.len() > 1 && part.starts_with('0') {
                return Err("version segment starts with 0".into());
            }
        } else if !only(part, true) {
            return Err("invalid prerelease string".into());
        }
    }
    Ok(())
}

fn validate_metadata(m: &str) -> Result<(), String> {
    if m.split('.').any(|p| p.is_empty() || !only(p, true)) {
        return Err("invalid metadata string".into());
    }
    Ok(())
}

impl Version {
    /// `semver.NewVersion` (coercing, as by default).
    pub fn parse(v: &str) -> Result<Version, String> {
        if v.len() > 256 {
            return Err("version string is too long (max 256 bytes)".into());
        }
        let m = res().loose.captures(v).ok_or("invalid semantic version")?;
        let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
        let sv = Version {
            major: parse_segment(g(1))?,
            minor: if g(2).is_empty() {
                0
            } else {
                parse_segment(&g(2)[1..])?
            },
            patch: if g(3).is_empty() {
                0
            } else {
                parse_segment(&g(3)[1..])?
            },
            pre: g(5).to_string(),
            metadata: g(8).to_string(),
            original: v.to_string(),
        };
        if !sv.pre.is_empty() {
            validate_prerelease(&sv.pre)?;
        }
        if !sv.metadata.is_empty() {
            validate_metadata(&sv.metadata)?;
        }
        Ok(sv)
    }

    fn string(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }

    fn compare(&self, o: &Version) -> i64 {
        for (a, b) in [
            (self.major, o.major),
            (self.minor, o.minor),
            (self.patch, o.patch),
        ] {
            if a != b {
                return if a < b { -1 } else { 1 };
            }
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => -1,
            _ => compare_prerelease(&self.pre, &o.pre),
        }
    }

    fn v_prefix(&self) -> &'static str {
        if self.original.starts_with('v') {
            "v"
        } else {
            ""
        }
    }

    fn with_original(mut self, prefix: &str) -> Version {
        self.original = format!("{prefix}{}", self.string());
        self
    }
}

fn compare_prerelease(v: &str, o: &str) -> i64 {
    let (s, t): (Vec<&str>, Vec<&str>) = (v.split('.').collect(), o.split('.').collect());
    for i in 0..s.len().max(t.len()) {
        let d = compare_pre_part(
            s.get(i).copied().unwrap_or(""),
            t.get(i).copied().unwrap_or(""),
        );
        if d != 0 {
            return d;
        }
    }
    0
}

fn compare_pre_part(s: &str, o: &str) -> i64 {
    if s == o {
        return 0;
    }
    if s.is_empty() {
        return -1;
    }
    if o.is_empty() {
        return 1;
    }
    let num = |x: &str| -> Option<u64> {
        if x.bytes().all(|c| c.is_ascii_digit()) {
            x.parse().ok()
        } else {
            None
        }
    };
    match (num(s), num(o)) {
        (None, None) => {
            if s > o {
                1
            } else {
                -1
            }
        }
        (_, None) => -1,
        (None, _) => 1,
        (Some(a), Some(b)) => {
            if a > b {
                1
            } else {
                -1
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

struct Constraint {
    con: Version,
    op: Op,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "*" | "X")
}

fn rewrite_range(i: &str) -> String {
    let mut o = i.to_string();
    for m in res().range.captures_iter(i) {
        let g = |k: usize| m.get(k).map_or("", |x| x.as_str());
        let t = format!(">= {}, <= {} ", g(1), g(11));
        o = o.replacen(g(0), &t, 1);
    }
    o
}

impl Constraints {
    fn parse(c: &str) -> Result<Constraints, String> {
        if c.len() > 512 {
            return Err("constraint string is too long (max 512 bytes)".into());
        }
        let c = rewrite_range(c);
        let ors: Vec<&str> = c.split("||").collect();
        if ors.len() > 32 {
            return Err("too many constraint groups (max 32)".into());
        }
        let mut groups = Vec::new();
        for v in ors {
            if !res().valid.is_match(v) {
                return Err(format!("improper constraint: {}", gofmt::quote(v)));
            }
            let mut cs: Vec<&str> = res().find.find_iter(v).map(|m| m.as_str()).collect();
            if cs.is_empty() {
                cs.push(v);
            }
            let mut result = Vec::new();
            let mut has_pre = false;
            for s in cs {
                let pc = parse_constraint(s)?;
                has_pre |= !pc.con.pre.is_empty();
                result.push(pc);
            }
            groups.push((result, has_pre));
        }
        Ok(Constraints { groups })
    }

    fn check(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|(cs, pre)| cs.iter().all(|c| c.check(v, *pre)))
    }
}

/// Helm's `chartutil.IsCompatibleRange` (dependency versions, `kubeVersion`): whether
/// `version` satisfies `constraint`; false when either does not parse.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    match (Constraints::parse(constraint), Version::parse(version)) {
        (Ok(c), Ok(v)) => c.check(&v),
        _ => false,
    }
}

fn parse_constraint(c: &str) -> Result<Constraint, String> {
    if c.is_empty() {
        let con = Version {
            major: 0,
            minor: 0,
            patch: 0,
            pre: String::new(),
            metadata: String::new(),
            original: "0.0.0".into(),
        };
        return Ok(Constraint {
            con,
            op: Op::TildeOrEqual,
            minor_dirty: false,
            patch_dirty: false,
            dirty: true,
        });
    }
    let m = res()
        .constraint
        .captures(c)
        .ok_or_else(|| format!("improper constraint: {}", gofmt::quote(c)))?;
    let g = |k: usize| m.get(k).map_or("", |x| x.as_str());
    let op = match g(1) {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        _ => Op::Caret,
    };
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let ver = if is_x(g(3)) || g(3).is_empty() {
        dirty = true;
        format!("0.0.0{}", g(6))
    } else if is_x(g(4).strip_prefix('.').unwrap_or(g(4))) || g(4).is_empty() {
        minor_dirty = true;
        dirty = true;
        format!("{}.0.0{}", g(3), g(6))
    } else if is_x(g(5).strip_prefix('.').unwrap_or(g(5))) || g(5).is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{}{}.0{}", g(3), g(4), g(6))
    } else {
        g(2).to_string()
    };
    let con = Version::parse(&ver).map_err(|_| "constraint parser error".to_string())?;
    Ok(Constraint {
        con,
        op,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

impl Constraint {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op {
            Op::NotEqual => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_prerelease(&v.pre, &c.pre) != 0;
                        }
                        return false;
                    }
                }
                v.compare(c) != 0
            }
            Op::Greater => {
                if !self.dirty {
                    return v.compare(c) == 1;
                }
                if v.major > c.major {
                    true
                } else if v.major < c.major || self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    v.compare(c) == 1
                }
            }
            Op::Less => v.compare(c) < 0,
            Op::GreaterEqual => v.compare(c) >= 0,
            Op::LessEqual => {
                if !self.dirty {
                    return v.compare(c) <= 0;
                }
                !(v.major > c.major || v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            Op::Tilde => self.tilde(v),
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v.compare(c) == 0
                }
            }
            Op::Caret => {
                if v.compare(c) < 0 {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                c.patch == v.patch
            }
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) < 0 {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

/// `*semver.Version` (pointer) or `semver.Version` (what `IncMajor` and friends return).
struct VersionObject {
    v: Version,
    pointer: bool,
}

fn method0(f: impl Fn() -> Value + 'static) -> Member {
    Member::Method(Method {
        params: &[],
        variadic: None,
        call: Box::new(move |_| Ok(f())),
    })
}

fn other_version(a: &[Value]) -> Result<Version, String> {
    match a.first() {
        Some(Value::Object(o)) if o.type_name() == "*semver.Version" => Version::parse(&o.print()),
        Some(v) => Err(format!(
            "wrong type for value; expected *semver.Version; got {}",
            v.type_name()
        )),
        None => Err("missing argument".into()),
    }
}

fn value_object(v: Version) -> Value {
    Value::Object(Rc::new(VersionObject { v, pointer: false }))
}

impl Object for VersionObject {
    fn type_name(&self) -> String {
        if self.pointer {
            "*semver.Version".into()
        } else {
            "semver.Version".into()
        }
    }

    fn member(&self, name: &str) -> Option<Member> {
        let v = self.v.clone();
        let cmp = |f: fn(i64) -> Value| {
            let v = self.v.clone();
            Member::Method(Method {
                params: &[Ty::Any],
                variadic: None,
                call: Box::new(move |a| Ok(f(v.compare(&other_version(&a)?)))),
            })
        };
        Some(match name {
            "String" => method0(move || Value::string(v.string())),
            "Major" => method0(move || Value::Uint(v.major)),
            "Minor" => method0(move || Value::Uint(v.minor)),
            "Patch" => method0(move || Value::Uint(v.patch)),
            "Prerelease" => method0(move || Value::str(&v.pre)),
            "Metadata" => method0(move || Value::str(&v.metadata)),
            "IncPatch" => method0(move || {
                let mut n = v.clone();
                if n.pre.is_empty() {
                    n.patch = n.patch.wrapping_add(1);
                }
                n.pre.clear();
                n.metadata.clear();
                value_object(n.with_original(v.v_prefix()))
            }),
            "IncMinor" => method0(move || {
                let mut n = v.clone();
                n.pre.clear();
                n.metadata.clear();
                n.patch = 0;
                n.minor = n.minor.wrapping_add(1);
                value_object(n.with_original(v.v_prefix()))
            }),
            "IncMajor" => method0(move || {
                let mut n = v.clone();
                n.pre.clear();
                n.metadata.clear();
                n.patch = 0;
                n.minor = 0;
                n.major = n.major.wrapping_add(1);
                value_object(n.with_original(v.v_prefix()))
            }),
            "Original" if self.pointer => method0(move || Value::str(&v.original)),
            "Compare" if self.pointer => cmp(Value::Int),
            "LessThan" if self.pointer => cmp(|d| Value::Bool(d < 0)),
            "LessThanEqual" if self.pointer => cmp(|d| Value::Bool(d <= 0)),
            "GreaterThan" if self.pointer => cmp(|d| Value::Bool(d > 0)),
            "GreaterThanEqual" if self.pointer => cmp(|d| Value::Bool(d >= 0)),
            "Equal" if self.pointer => cmp(|d| Value::Bool(d == 0)),
            _ => return None,
        })
    }

    fn print(&self) -> String {
        self.v.string()
    }

    fn to_plain(&self) -> Value {
        Value::string(self.v.string())
    }

    fn is_pointer(&self) -> bool {
        self.pointer
    }
}

#[cfg(test)]
mod range_tests {
    use super::is_compatible_range;

    #[test]
    fn dependency_and_kube_version_ranges() {
        assert!(is_compatible_range("0.1.0", "0.1.0"));
        assert!(is_compatible_range(">=1.2.0 <2", "1.5.0"));
        assert!(is_compatible_range("~1.2", "1.2.9"));
        assert!(!is_compatible_range("~1.2", "1.3.0"));
        assert!(is_compatible_range("^0.2.1", "0.2.5"));
        assert!(!is_compatible_range("^0.2.1", "0.3.0"));
        assert!(is_compatible_range("1.x", "1.9.0"));
        assert!(is_compatible_range("*", "3.0.0"));
        assert!(is_compatible_range(">= 1.0, < 3.0 || 5.x", "5.1.0"));
        assert!(is_compatible_range("1.0 - 2.0", "2.0.0"));
        assert!(!is_compatible_range(">=1.20.0", "v1.19.3"));
        assert!(is_compatible_range(">=1.20.0-0", "v1.37.0"));
        assert!(!is_compatible_range("not a range", "1.0.0"));
    }
}
