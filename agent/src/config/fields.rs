//! One value of `plumb.yaml` at a time: sizes, durations, names, URLs, paths and globs,
//! parsed and checked, each with a message saying what a good one looks like.

use super::raw::scalar;
use super::*;

/// Parses a byte size: "256Mi", "1Gi", "500k", "1048576".
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid size '{text}': use a number with an optional unit Ki, Mi, Gi (or k, M, G), such as 256Mi")
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err(bad()),
    };
    let size = n.checked_mul(factor).ok_or_else(bad)?;
    if size == 0 {
        return Err(format!("size '{text}' must be larger than zero"));
    }
    Ok(size)
}

pub(super) fn de_opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    scalar(d, "a size such as 256Mi", |text| parse_size(text).map(Some))
}

/// Parses "30s", "5m", "1h", and sums of them such as "1h30m".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration '{text}': use a number with a unit s, m or h, such as 30s, 5m or 1h"
        )
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

pub(super) fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    scalar(d, "a duration such as 30s, 5m or 1h", |text| {
        let duration = parse_duration(text)?;
        if duration.is_zero() {
            return Err(format!("duration '{text}' must be longer than zero"));
        }
        Ok(Some(duration))
    })
}

pub(super) fn de_opt_jitter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct Jitter;
    impl Jitter {
        fn check<E: de::Error>(jitter: f64) -> Result<Option<f64>, E> {
            if (0.0..1.0).contains(&jitter) {
                Ok(Some(jitter))
            } else {
                Err(E::custom(format!(
                    "jitter {jitter} is outside 0..1 (0 means none, 0.2 means ±20%)"
                )))
            }
        }
    }
    impl<'de> Visitor<'de> for Jitter {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number from 0 up to (not including) 1")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
            Jitter::check(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
            Jitter::check(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
            Jitter::check(v as f64)
        }
    }
    d.deserialize_f64(Jitter)
}

pub(super) fn de_opt_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d, "a non-empty string", |text| {
        if text.is_empty() {
            Err("value must not be empty".into())
        } else {
            Ok(Some(text.to_owned()))
        }
    })
}

/// Kubernetes DNS label: what a sync's name becomes part of, and what a namespace must be.
pub(super) fn check_dns_label(what: &str, text: &str) -> Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} '{text}' is not a valid name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
        ))
    }
}

pub(super) fn de_opt_dns_label<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    scalar(d, "a namespace name", |text| {
        check_dns_label("namespace", text)?;
        Ok(Some(text.to_owned()))
    })
}

pub(super) fn de_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a Git URL", |url| {
        if url.trim().is_empty() {
            Err("url must not be empty".into())
        } else {
            Ok(url.to_owned())
        }
    })
}

/// A path inside the repository: relative, and never climbing out of it.
pub fn check_repo_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(format!(
            "path '{path}' is absolute: give a folder relative to the repository's top"
        ));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "path '{path}' climbs out of the repository ('..' is not allowed)"
                ))
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// `listen` as written: an address, or "" for off.
pub(super) struct Listen(pub(super) Option<std::net::SocketAddr>);

pub(super) fn de_listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Listen>, D::Error> {
    scalar(
        d,
        "an address such as 127.0.0.1:9469, or \"\" for off",
        |text| {
            if text.is_empty() {
                return Ok(Some(Listen(None)));
            }
            text.parse::<std::net::SocketAddr>()
            .map(|a| Some(Listen(Some(a))))
            .map_err(|_| format!("listen '{text}' is not an address with a port, such as 127.0.0.1:9469 or [::1]:9469"))
        },
    )
}

pub(super) fn de_globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Globs;
    impl<'de> Visitor<'de> for Globs {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of globs relative to path")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(glob) = seq.next_element::<String>()? {
                if glob.is_empty() || glob.starts_with('/') || glob.split('/').any(|p| p == "..") {
                    return Err(de::Error::custom(format!(
                        "exclude glob '{glob}' must be relative to path, without '..'"
                    )));
                }
                out.push(glob);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Globs)
}

pub(super) fn de_repo_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d, "a folder inside the repository", check_repo_path)
}

/// Whether `name` can be a substitution variable: Flux's `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

pub(super) fn de_substitute<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Vars;
    impl<'de> Visitor<'de> for Vars {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of variable names to string values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut vars = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                if !is_variable_name(&name) {
                    return Err(de::Error::custom(format!(
                        "substitute: '{name}' is not a variable name (a letter or _, then letters, digits or _)"
                    )));
                }
                let value = map.next_value::<serde_json::Value>()?;
                let serde_json::Value::String(value) = value else {
                    return Err(de::Error::custom(format!(
                        "substitute: {name} must be a string (quote it: \"{value}\")"
                    )));
                };
                vars.insert(name, value);
            }
            Ok(vars)
        }
    }
    d.deserialize_map(Vars).map(Some)
}
