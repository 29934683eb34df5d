//! kustomize's patch target: group, version, kind, name and namespace (regular
//! expressions, anchored) and label and annotation selectors with Kubernetes' syntax.

use regex_lite::Regex;
use serde_json::{Map, Value};

use super::PatchError;

/// kustomize's patch target selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

impl Target {
    /// Whether `object` is selected. Errors on a bad regex or selector.
    ///
    /// The five names are regular expressions matched against the whole value; an
    /// unset or empty one matches anything. The core group is `""`, and an object
    /// without a namespace counts as in `default`.
    pub fn matches(&self, object: &Value) -> Result<bool, PatchError> {
        fn text(value: Option<&Value>) -> &str {
            value.and_then(Value::as_str).unwrap_or_default()
        }
        let api_version = text(object.get("apiVersion"));
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let metadata = object.get("metadata");
        let namespace = match text(metadata.and_then(|m| m.get("namespace"))) {
            "" => "default",
            namespace => namespace,
        };
        let fields = [
            ("group", &self.group, group),
            ("version", &self.version, version),
            ("kind", &self.kind, text(object.get("kind"))),
            (
                "name",
                &self.name,
                text(metadata.and_then(|m| m.get("name"))),
            ),
            ("namespace", &self.namespace, namespace),
        ];
        let mut selected = true;
        for (field, pattern, value) in fields {
            let Some(pattern) = pattern.as_deref().filter(|p| !p.is_empty()) else {
                continue;
            };
            let regex =
                Regex::new(&format!("^(?:{pattern})$")).map_err(|e| PatchError::Target {
                    field,
                    reason: format!("bad regular expression `{pattern}`: {e}"),
                })?;
            selected &= regex.is_match(value);
        }
        let selectors = [
            ("labelSelector", &self.label_selector, "labels"),
            (
                "annotationSelector",
                &self.annotation_selector,
                "annotations",
            ),
        ];
        for (field, selector, section) in selectors {
            let Some(selector) = selector.as_deref() else {
                continue;
            };
            let requirements =
                parse_selector(selector).map_err(|reason| PatchError::Target { field, reason })?;
            let values = metadata
                .and_then(|m| m.get(section))
                .and_then(Value::as_object);
            selected &= requirements.iter().all(|r| r.matches(values));
        }
        Ok(selected)
    }
}

#[derive(Debug, PartialEq)]
pub(super) enum Operator {
    Exists,
    Missing,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

#[derive(Debug, PartialEq)]
pub(super) struct Requirement {
    key: String,
    operator: Operator,
}

impl Requirement {
    fn matches(&self, values: Option<&Map<String, Value>>) -> bool {
        let value = values.and_then(|v| v.get(&self.key)).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let number = || value.as_deref().and_then(|v| v.parse::<i64>().ok());
        match &self.operator {
            Operator::Exists => value.is_some(),
            Operator::Missing => value.is_none(),
            Operator::Equals(want) => value.as_ref() == Some(want),
            Operator::NotEquals(want) => value.as_ref() != Some(want),
            Operator::In(set) => value.is_some_and(|v| set.contains(&v)),
            Operator::NotIn(set) => !value.is_some_and(|v| set.contains(&v)),
            Operator::GreaterThan(bound) => number().is_some_and(|n| n > *bound),
            Operator::LessThan(bound) => number().is_some_and(|n| n < *bound),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Word(String),
    Symbol(&'static str),
}

pub(super) fn tokenize(text: &str) -> Vec<Token> {
    const SYMBOLS: [&str; 9] = ["!=", "==", "!", "=", ">", "<", "(", ")", ","];
    let mut tokens = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            tokens.push(Token::Symbol(symbol));
            rest = &rest[symbol.len()..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || "!=<>(),".contains(c))
                .unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..end].to_owned()));
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    tokens
}

/// Kubernetes label selector syntax, as `kubectl get -l` takes it.
pub(super) fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    let mut tokens = tokenize(text).into_iter().peekable();
    let mut requirements = Vec::new();
    let word = |token: Option<Token>, what: &str| match token {
        Some(Token::Word(w)) => Ok(w),
        Some(Token::Symbol(s)) => Err(format!("found `{s}` where {what} belongs, in `{text}`")),
        None => Err(format!("`{text}` ends where {what} belongs")),
    };
    while tokens.peek().is_some() {
        let requirement = if tokens.next_if_eq(&Token::Symbol("!")).is_some() {
            Requirement {
                key: word(tokens.next(), "a key")?,
                operator: Operator::Missing,
            }
        } else {
            let key = word(tokens.next(), "a key")?;
            let operator = match tokens.next_if(|t| t != &Token::Symbol(",")) {
                None => Operator::Exists,
                Some(Token::Symbol("=" | "==")) => Operator::Equals(optional_value(&mut tokens)),
                Some(Token::Symbol("!=")) => Operator::NotEquals(optional_value(&mut tokens)),
                Some(Token::Symbol(bound @ (">" | "<"))) => {
                    let number = word(tokens.next(), "a number")?;
                    let number = number
                        .parse()
                        .map_err(|_| format!("`{number}` is not an integer, in `{text}`"))?;
                    if bound == ">" {
                        Operator::GreaterThan(number)
                    } else {
                        Operator::LessThan(number)
                    }
                }
                Some(Token::Word(set_operator))
                    if set_operator == "in" || set_operator == "notin" =>
                {
                    if tokens.next() != Some(Token::Symbol("(")) {
                        return Err(format!("expected `(` after `{set_operator}`, in `{text}`"));
                    }
                    let mut set = Vec::new();
                    while tokens.next_if_eq(&Token::Symbol(")")).is_none() {
                        if !set.is_empty() && tokens.next() != Some(Token::Symbol(",")) {
                            return Err(format!(
                                "expected `,` or `)` in the set of `{key}`, in `{text}`"
                            ));
                        }
                        set.push(word(tokens.next(), "a value")?);
                    }
                    if set_operator == "in" {
                        Operator::In(set)
                    } else {
                        Operator::NotIn(set)
                    }
                }
                Some(other) => {
                    return Err(format!("unexpected {other:?} after `{key}`, in `{text}`"))
                }
            };
            Requirement { key, operator }
        };
        validate_requirement(&requirement)?;
        requirements.push(requirement);
        match tokens.next() {
            None => {}
            Some(Token::Symbol(",")) if tokens.peek().is_some() => {}
            Some(Token::Symbol(",")) => return Err(format!("`{text}` ends with `,`")),
            Some(other) => {
                return Err(format!(
                    "expected `,` or the end before {other:?}, in `{text}`"
                ))
            }
        }
    }
    Ok(requirements)
}

/// A value after `=`, which may be empty (`app=` selects an empty label).
pub(super) fn optional_value(
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
) -> String {
    match tokens.next_if(|t| matches!(t, Token::Word(_))) {
        Some(Token::Word(value)) => value,
        _ => String::new(),
    }
}

pub(super) fn validate_requirement(requirement: &Requirement) -> Result<(), String> {
    let name_like = |s: &str, max: usize| {
        s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let key = &requirement.key;
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let prefix_ok = prefix.is_empty() || (name_like(prefix, 253) && !prefix.contains('_'));
    if !prefix_ok || !name_like(name, 63) {
        return Err(format!("`{key}` is not a valid label key"));
    }
    let values: &[String] = match &requirement.operator {
        Operator::Equals(v) | Operator::NotEquals(v) => std::slice::from_ref(v),
        Operator::In(set) | Operator::NotIn(set) => set,
        _ => &[],
    };
    match values.iter().find(|v| !v.is_empty() && !name_like(v, 63)) {
        Some(bad) => Err(format!("`{bad}` is not a valid label value (for `{key}`)")),
        None => Ok(()),
    }
}
