//! Flux's post-build substitution over rendered objects: `${VAR}` and the other
//! [`envsubst`] forms, in every string and key of an object.
//!
//! Flux substitutes in the text of each object written back to YAML from JSON, then reads
//! that text again. So a string that Go's YAML writer writes unquoted (`replicas: ${N}`)
//! takes the type its substituted text reads as (`3` is a number, `true` a boolean, as YAML
//! 1.1 reads them), whatever quotes the source had; one it writes quoted (`"${A}: ${B}"`)
//! stays a string. This module follows that per value, without the round trip: the
//! decisions are [`written_plain`] (how Go's writer writes a string) and [`read_plain`]
//! (what Go's reader makes of the substituted text). A substituted text that would read as
//! YAML structure (`[a, b]`, `a: b`) or cut a comment (`a #b`) is refused instead of
//! guessed at.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use super::envsubst::{self, EnvsubstError};
use super::{Manifest, RenderError};

/// The label or annotation that, set to `disabled`, leaves an object unsubstituted: Flux's,
/// and plumb's own.
pub const DISABLE_KEYS: [&str; 2] = [
    "kustomize.toolkit.fluxcd.io/substitute",
    "plumb.dev/substitute",
];

/// The variables of one sync's substitution (its Debug form names them, never their
/// values: they may come from a Secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Variables {
    /// Name → value (line breaks already removed, as Flux does).
    pub values: BTreeMap<String, String>,
    /// A variable without a value or default is an error (else it is empty).
    pub strict: bool,
}

impl Variables {
    /// Variables with Flux's treatment of a value: its line breaks are removed.
    pub fn new(values: impl IntoIterator<Item = (String, String)>, strict: bool) -> Variables {
        Variables {
            values: values
                .into_iter()
                .map(|(k, v)| (k, v.replace('\n', "")))
                .collect(),
            strict,
        }
    }

    /// Feeds names and values to a digest (a change of either is a change of the render).
    pub fn digest_into(&self, digest: &mut ring::digest::Context) {
        digest.update(&[u8::from(self.strict)]);
        for (name, value) in &self.values {
            for part in [name, value] {
                digest.update(&(part.len() as u64).to_le_bytes());
                digest.update(part.as_bytes());
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        match self.values.get(name) {
            Some(value) => Some(value.clone()),
            None if self.strict => None,
            None => Some(String::new()),
        }
    }
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variables")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("strict", &self.strict)
            .finish()
    }
}

/// Substitutes every object not from a chart (whose folder is one of `chart_roots`: Flux
/// never substitutes Helm's output, whose scripts hold `${…}` of their own) and not opted
/// out; every failure is reported.
pub fn substitute_all(
    manifests: Vec<Manifest>,
    vars: &Variables,
    chart_roots: &[String],
) -> Result<Vec<Manifest>, Vec<RenderError>> {
    let from_chart = |file: &str| {
        chart_roots
            .iter()
            .any(|root| root.is_empty() || file.starts_with(&format!("{root}/")))
    };
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(manifests.len());
    let mut left = MAX_RENDER_OUTPUT;
    for mut m in manifests {
        if !from_chart(&m.origin.file) && !disabled(&m.object) {
            let mut budget = left.min(envsubst::MAX_OUTPUT);
            let before = budget;
            let substituted = value(&m.object, vars, &mut String::new(), &mut budget);
            left -= before - budget;
            match substituted {
                Ok(object) => m.object = object,
                Err(error) => {
                    errors.push(RenderError::Substitute {
                        object: Box::new(m.key()),
                        origin: m.origin.clone(),
                        error,
                    });
                    continue;
                }
            }
        }
        out.push(m);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Why an object could not be substituted; `field` is where ("spec.template.spec.containers[0].image").
/// Never holds a variable's value: it may come from a Secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct SubstituteError {
    pub field: String,
    pub why: Why,
}

/// What went wrong at a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    /// The template itself: bad syntax, or a variable not set in strict mode.
    #[error("{0}")]
    Envsubst(#[from] EnvsubstError),
    /// The substituted text reads as YAML structure or is cut by a comment.
    #[error("the substituted text would read as YAML structure, not one value (it starts with one of - ? : , [ ] {{ }} # & * ! | > ' \" % @ ` or holds ': ' or ' #'); Flux reads it so too: quote it where it is used, as with ${{quote}}${{VAR}}${{quote}} and quote: '\"'")]
    Structure,
    /// `.inf` or `.nan`, which JSON cannot hold.
    #[error("the substituted text reads as a number JSON cannot hold (.inf or .nan)")]
    NotJson,
    /// Two keys of one map are the same after substitution.
    #[error("key {0:?} appears twice after substitution")]
    DuplicateKey(String),
}

/// Whether the object opts out with `…/substitute: disabled` as a label or annotation.
pub fn disabled(object: &Value) -> bool {
    ["labels", "annotations"].iter().any(|map| {
        DISABLE_KEYS
            .iter()
            .any(|key| object["metadata"][map][key] == "disabled")
    })
}

/// The object with its strings and keys substituted.
pub fn substitute(object: &Value, vars: &Variables) -> Result<Value, SubstituteError> {
    let mut field = String::new();
    let mut budget = envsubst::MAX_OUTPUT;
    value(object, vars, &mut field, &mut budget)
}

/// The most all of a render's substituted strings may hold together: a revision must not
/// make plumb build gigabytes out of one variable, one object under the limit at a time.
pub const MAX_RENDER_OUTPUT: usize = 64 * 1024 * 1024;

/// `budget`: how many bytes the substituted strings may still hold, in this object and in
/// the render (the smaller of the two).
fn value(
    v: &Value,
    vars: &Variables,
    field: &mut String,
    budget: &mut usize,
) -> Result<Value, SubstituteError> {
    let fail = |field: &str, why: Why| SubstituteError {
        field: field.to_owned(),
        why,
    };
    match v {
        Value::String(s) if s.contains('$') => {
            let text = envsubst::eval(s, &|name| vars.lookup(name))
                .map_err(|e| fail(field, Why::Envsubst(e)))?;
            *budget = budget.checked_sub(text.len()).ok_or_else(|| {
                fail(
                    field,
                    Why::Envsubst(EnvsubstError::TooLarge(envsubst::MAX_OUTPUT)),
                )
            })?;
            if written_plain(s) {
                read_plain(&text).map_err(|why| fail(field, why))
            } else {
                Ok(Value::String(text))
            }
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = field.len();
                field.push_str(&format!("[{i}]"));
                out.push(value(item, vars, field, budget)?);
                field.truncate(len);
            }
            Ok(Value::Array(out))
        }
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, item) in map {
                let len = field.len();
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
                let key = if key.contains('$') {
                    let text = envsubst::eval(key, &|name| vars.lookup(name))
                        .map_err(|e| fail(field, Why::Envsubst(e)))?;
                    if written_plain(key) && plain_trouble(text.trim_matches([' ', '\t'])) {
                        return Err(fail(field, Why::Structure));
                    }
                    text
                } else {
                    key.clone()
                };
                let item = value(item, vars, field, budget)?;
                if out.insert(key.clone(), item).is_some() {
                    return Err(fail(field, Why::DuplicateKey(key)));
                }
                field.truncate(len);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Whether Go's YAML writer (go-yaml v2, as sigs.k8s.io/yaml's JSONToYAML runs it) writes
/// this string as a plain scalar in block context; else quoted or as a block, and then it
/// reads back as a string whatever is substituted into it.
pub fn written_plain(s: &str) -> bool {
    !s.is_empty()
        && !s.contains('\n')
        && s.chars().all(printable)
        && !plain_trouble(s)
        && !s.starts_with("---")
        && !s.starts_with("...")
}

/// What libyaml prints unescaped (a tab is not among them; a Rust char is never a surrogate).
fn printable(c: char) -> bool {
    matches!(c, ' '..='~')
        || (c >= '\u{A0}' && c != '\u{FEFF}' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Whether a text cannot be one plain scalar in block context: it starts with an
/// indicator, starts or ends with a space, holds `: ` or ` #`, or ends with `:`.
fn plain_trouble(s: &str) -> bool {
    let bytes = s.as_bytes();
    let blank_or_end = |i: usize| matches!(bytes.get(i), None | Some(b' ' | b'\t' | b'\r' | b'\n'));
    let Some(&first) = bytes.first() else {
        return false;
    };
    if b"#,[]{}&*!|>'\"%@`".contains(&first) || (b"-?:".contains(&first) && blank_or_end(1)) {
        return true;
    }
    if matches!(first, b' ' | b'\t') || matches!(bytes.last(), Some(b' ' | b'\t')) {
        return true;
    }
    bytes
        .iter()
        .enumerate()
        .skip(1)
        .any(|(i, &b)| (b == b':' && blank_or_end(i + 1)) || (b == b'#' && blank_or_end(i - 1)))
        || bytes.iter().any(|&b| b < b' ' && b != b'\t')
}

/// What Go's YAML reader (go-yaml v2, with sigs.k8s.io/yaml's YAMLToJSON) makes of a
/// substituted text where a plain scalar was: YAML 1.1's null, booleans (`yes`, `off`),
/// integers (`0x1f`, `0o17`, `017` octal, `0b101`, `1_000`) and floats; a quoted scalar
/// (Flux's `${quote}…${quote}` idiom) is a string; anything else is the text.
pub fn read_plain(text: &str) -> Result<Value, Why> {
    let text = text.trim_matches([' ', '\t']);
    if text.starts_with(['"', '\'']) {
        return match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
            Ok(serde_yaml_ng::Value::String(s)) => Ok(Value::String(s)),
            _ => Err(Why::Structure),
        };
    }
    if plain_trouble(text) {
        return Err(Why::Structure);
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Value::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Err(Why::NotJson),
        _ => match text.as_bytes()[0] {
            b'.' => text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map_or_else(|| Value::String(text.to_owned()), float),
            // A timestamp (`2024-01-02`) reads as a string into JSON, and is no number.
            b'+' | b'-' | b'0'..=b'9' => {
                number(text).unwrap_or_else(|| Value::String(text.to_owned()))
            }
            _ => Value::String(text.to_owned()),
        },
    })
}

/// go-yaml v2's number reading for a text starting with a sign or digit.
fn number(text: &str) -> Option<Value> {
    let plain = text.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return Some(Value::Number(i.into()));
    }
    if let Some(u) = go_parse_uint(&plain) {
        return Some(Value::Number(u.into()));
    }
    if yaml_style_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            if f.is_finite() {
                return Some(float(f));
            }
        }
    }
    None
}

/// A float as Go's JSON writes it and Kubernetes reads it back: a whole one is an integer.
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e18 {
        Value::Number((f as i64).into())
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: a sign, then `0x`, `0o`, `0b`, a leading `0` (octal)
/// or decimal digits.
fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = go_parse_uint(rest)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn go_parse_uint(s: &str) -> Option<u64> {
    let (radix, digits) = match s.as_bytes() {
        [b'0', b'x' | b'X', ..] => (16, &s[2..]),
        [b'0', b'o' | b'O', ..] => (8, &s[2..]),
        [b'0', b'b' | b'B', ..] => (2, &s[2..]),
        [b'0', _, ..] => (8, &s[1..]),
        _ => (10, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    } else {
        if !digits(&mut i) {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables::new(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            true,
        )
    }

    #[test]
    fn values_written_plain_take_the_type_their_text_reads_as() {
        let v = vars(&[
            ("N", "3"),
            ("ON", "yes"),
            ("HEX", "0x1f"),
            ("OCT", "017"),
            ("F", "1.5"),
            ("E", "1e3"),
            ("NAME", "web"),
            ("DAY", "2024-01-02"),
            ("Q", "\""),
            ("EMPTY", ""),
        ]);
        let object = json!({"spec": {
            "replicas": "${N}",
            "enabled": "${ON}",
            "hex": "${HEX}",
            "oct": "${OCT}",
            "f": "${F}",
            "e": "${E}",
            "name": "${NAME}-app",
            "day": "${DAY}",
            "quoted": "${Q}${N}${Q}",
            "spaced": "a ${N}",
            "null": "${EMPTY}",
            "kept": "${N}: x",
            "list": ["${N}", "- ${N}"],
            "${NAME}": "key",
        }});
        let out = substitute(&object, &v).unwrap();
        assert_eq!(
            out["spec"],
            json!({
                "replicas": 3, "enabled": true, "hex": 31, "oct": 15, "f": 1.5, "e": 1000,
                "name": "web-app", "day": "2024-01-02", "quoted": "3", "spaced": "a 3",
                "null": null, "kept": "3: x", "list": [3, "- 3"], "web": "key",
            })
        );
    }

    #[test]
    fn structure_and_unset_variables_are_refused_naming_the_field() {
        let v = vars(&[("A", "a: b"), ("L", "[1, 2]"), ("C", "x #y")]);
        for (template, why) in [
            ("${A}", Why::Structure),
            ("${L}", Why::Structure),
            ("${C}", Why::Structure),
            (
                "${MISSING}",
                Why::Envsubst(EnvsubstError::NotSet("MISSING".into())),
            ),
        ] {
            let object = json!({"spec": {"containers": [{"image": template}]}});
            let error = substitute(&object, &v).unwrap_err();
            assert_eq!(error.field, "spec.containers[0].image", "{template}");
            assert_eq!(error.why, why, "{template}");
        }
        // Non-strict: unset is empty.
        let lax = Variables::new([], false);
        let out = substitute(&json!({"a": "x${MISSING}y"}), &lax).unwrap();
        assert_eq!(out, json!({"a": "xy"}));
    }

    #[test]
    fn substitutions_may_not_grow_an_object_or_a_render_without_bound() {
        let v = vars(&[("BIG", &"x".repeat(1 << 20))]);
        let object = json!({"data": {"a": "${BIG}", "b": "${BIG}", "c": "${BIG}", "d": "${BIG}"}});
        let error = substitute(&object, &v).unwrap_err();
        assert_eq!(
            (error.field.as_str(), error.why),
            (
                "data.d",
                Why::Envsubst(EnvsubstError::TooLarge(envsubst::MAX_OUTPUT))
            )
        );
        // Objects of 2 MiB each: the render stops at its own limit, naming the objects past it.
        let manifest = |i: usize| Manifest {
            object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("m{i}")}, "data": {"a": "${BIG}", "b": "${BIG}"}}),
            origin: crate::render::Origin {
                file: format!("m{i}.yaml"),
                document: 0,
                line: 1,
            },
            kustomized: false,
            chart_crd: None,
            dropped_namespace: None,
        };
        let many: Vec<Manifest> = (0..40).map(manifest).collect();
        let errors = substitute_all(many, &v, &[]).unwrap_err();
        assert_eq!(errors.len(), 40 - 32, "{errors:?}");
        assert!(errors[0].to_string().contains("m32.yaml"), "{}", errors[0]);
    }

    #[test]
    fn strings_without_a_dollar_and_other_values_are_untouched() {
        let object = json!({"a": "yes", "b": 1, "c": [true, null], "d": "$${X}"});
        let out = substitute(&object, &vars(&[])).unwrap();
        assert_eq!(
            out,
            json!({"a": "yes", "b": 1, "c": [true, null], "d": "${X}"})
        );
    }

    #[test]
    fn an_object_opts_out_by_label_or_annotation() {
        for (map, key) in [
            ("labels", DISABLE_KEYS[0]),
            ("annotations", DISABLE_KEYS[1]),
        ] {
            assert!(disabled(&json!({"metadata": {map: {key: "disabled"}}})));
        }
        assert!(!disabled(
            &json!({"metadata": {"labels": {DISABLE_KEYS[0]: "off"}}})
        ));
    }

    #[test]
    fn go_yaml_writes_these_strings_plain() {
        for s in [
            "${A}",
            "a ${B}",
            "${A},${B}",
            "http://${H}/x",
            "-${A}",
            "a:b${C}",
        ] {
            assert!(written_plain(s), "{s}");
        }
        for s in [
            "- ${A}", "${A}: b", "[${A}]", "${A} #c", " ${A}", "${A} ", "#${A}", "a\tb${A}",
            "---${A}", "${A}:",
        ] {
            assert!(!written_plain(s), "{s}");
        }
    }

    #[test]
    fn numbers_as_go_yaml_reads_them() {
        for (text, want) in [
            ("10", json!(10)),
            ("-10", json!(-10)),
            ("+10", json!(10)),
            ("1_000", json!(1000)),
            ("0o17", json!(15)),
            ("0b101", json!(5)),
            ("-0b101", json!(-5)),
            ("08", json!(8)),
            (".5", json!(0.5)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("1.2.3", json!("1.2.3")),
            ("0x", json!("0x")),
            ("12abc", json!("12abc")),
            ("2024-01-02", json!("2024-01-02")),
        ] {
            assert_eq!(read_plain(text).unwrap(), want, "{text}");
        }
        assert_eq!(read_plain(".inf"), Err(Why::NotJson));
    }
}
