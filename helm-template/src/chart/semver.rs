//! Semantic versions and constraints as Masterminds/semver (v3) reads them, for
//! `Chart.yaml` versions, dependency version ranges and `kubeVersion`.

use std::cmp::Ordering;

/// A parsed version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
}

impl Version {
    /// Masterminds' lenient `NewVersion`: "v1", "1.2", "1.2.3-rc.1+build".
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let (core, _build) = match s.split_once('+') {
            Some((c, b)) => {
                if !valid_ids(b) {
                    return None;
                }
                (c, b)
            }
            None => (s, ""),
        };
        let (nums, pre) = match core.split_once('-') {
            Some((n, p)) => {
                if !valid_ids(p) {
                    return None;
                }
                (n, p)
            }
            None => (core, ""),
        };
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut n = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if p.len() > 1 && p.starts_with('0') {
                return None;
            }
            n[i] = p.parse().ok()?;
        }
        Some(Version {
            major: n[0],
            minor: n[1],
            patch: n[2],
            pre: pre.to_string(),
        })
    }

    pub fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| compare_pre(&self.pre, &o.pre))
    }
}

fn valid_ids(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = match (pa.get(i), pb.get(i)) {
            (Some(x), Some(y)) => (*x, *y),
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (None, None) => break,
        };
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

const OPS: &[&str] = &["!=", ">=", "=>", "<=", "=<", "~>", "=", ">", "<", "~", "^"];

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(op: &str, ver: &str) -> Option<Constraint> {
    let v = ver.strip_prefix('v').unwrap_or(ver);
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let pre = rest
        .strip_prefix('-')
        .map(|p| p.split('+').next().unwrap_or(""))
        .unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let pre_suffix = if pre.is_empty() {
        String::new()
    } else {
        format!("-{pre}")
    };
    let (text, dirty, minor_dirty, patch_dirty) = if is_x(parts[0]) {
        (format!("0.0.0{pre_suffix}"), true, false, false)
    } else if parts.len() < 2 || is_x(parts[1]) {
        (format!("{}.0.0{pre_suffix}", parts[0]), true, true, false)
    } else if parts.len() < 3 || is_x(parts[2]) {
        (
            format!("{}.{}.0{pre_suffix}", parts[0], parts[1]),
            true,
            false,
            true,
        )
    } else {
        (
            format!("{}.{}.{}{pre_suffix}", parts[0], parts[1], parts[2]),
            false,
            false,
            false,
        )
    };
    let con = Version::parse(&text)?;
    Some(Constraint {
        op: op.to_string(),
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Constraint {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        let tilde = || {
            if v.compare(c) == Ordering::Less {
                return false;
            }
            if c.major == 0
                && c.minor == 0
                && c.patch == 0
                && !self.minor_dirty
                && !self.patch_dirty
            {
                return true;
            }
            v.major == c.major && (v.minor == c.minor || self.minor_dirty)
        };
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    tilde()
                } else {
                    v.compare(c) == Ordering::Equal
                }
            }
            "!=" => {
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
                        return (!v.pre.is_empty() || !c.pre.is_empty())
                            && compare_pre(&v.pre, &c.pre) != Ordering::Equal;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v.compare(c) == Ordering::Greater
            }
            "<" => v.compare(c) == Ordering::Less,
            ">=" | "=>" => v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                !(v.major > c.major
                    || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            "~" | "~>" => tilde(),
            "^" => {
                if v.compare(c) == Ordering::Less {
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
            _ => false,
        }
    }
}

fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '*')
}

/// Splits one `||` alternative into (operator, version) pairs; None when it is not a
/// constraint Masterminds accepts.
fn parse_and(s: &str) -> Option<Vec<Constraint>> {
    // Hyphen ranges: "1.2 - 1.4" is ">= 1.2, <= 1.4".
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut pending_op: Option<&str> = None;
    while i < tokens.len() {
        let t = tokens[i];
        if i + 2 < tokens.len() && tokens[i + 1] == "-" && pending_op.is_none() {
            out.push(parse_constraint(">=", t)?);
            out.push(parse_constraint("<=", tokens[i + 2])?);
            i += 3;
            continue;
        }
        let op = OPS
            .iter()
            .find(|o| t.starts_with(**o))
            .copied()
            .unwrap_or("");
        let rest = &t[op.len()..];
        if rest.is_empty() {
            if pending_op.is_some() || op.is_empty() {
                return None;
            }
            pending_op = Some(op);
            i += 1;
            continue;
        }
        if !rest.chars().all(is_version_char)
            || !rest
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || is_x(&c.to_string()) || c == 'v')
        {
            return None;
        }
        let op = match pending_op.take() {
            Some(p) if op.is_empty() => p,
            Some(_) => return None,
            None => op,
        };
        out.push(parse_constraint(op, rest)?);
        i += 1;
    }
    if pending_op.is_some() || out.is_empty() {
        return None;
    }
    Some(out)
}

/// Helm's `chartutil.IsCompatibleRange`: whether `version` satisfies `constraint`; false
/// when either does not parse.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let Some(v) = Version::parse(version) else {
        return false;
    };
    let mut alternatives = Vec::new();
    for alt in constraint.split("||") {
        match parse_and(alt) {
            Some(cs) => alternatives.push(cs),
            None => return false,
        }
    }
    alternatives.iter().any(|cs| {
        let pre = cs.iter().any(|c| !c.con.pre.is_empty());
        cs.iter().all(|c| c.check(&v, pre))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(is_compatible_range("0.1.0", "0.1.0"));
        assert!(!is_compatible_range("", "0.1.0"));
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
    }
}
