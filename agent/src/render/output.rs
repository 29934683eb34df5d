//! Objects written back as YAML (`plumb render`), readable by every YAML
//! reader kubectl uses. serde_yaml_ng writes YAML 1.2, which leaves
//! `no`, `on`, `y`, `1_000`, `1:20` or `2001-12-14` unquoted; go-yaml v2
//! (`kubectl apply -f -`) reads those as YAML 1.1 booleans, numbers and
//! timestamps, so "no" would reach the cluster as `false`. Such strings,
//! keys included, are written quoted (single quotes here; kubectl writes
//! double quotes, which every reader takes the same way).

use serde_json::{Map, Value};

/// One object as a YAML document (without the `---`).
pub fn to_yaml(object: &Value) -> String {
    let mut quoted = Vec::new();
    // A placeholder no string of the object holds: each string to quote is
    // swapped for a numbered one, which serde_yaml_ng writes plain.
    let text = serde_json::to_string(object).unwrap_or_default();
    let mut salt = 0u32;
    let tag = loop {
        let tag = format!("PLUMBQUOTED{salt}X");
        if !text.contains(&tag) {
            break tag;
        }
        salt += 1;
    };
    let marked = mark(object, &tag, &mut quoted);
    let yaml = serde_yaml_ng::to_string(&marked).unwrap_or_default();
    // One pass over the text: a replace per quoted string would scan a
    // large render once for each of them.
    let mut out = String::with_capacity(yaml.len());
    let mut rest = yaml.as_str();
    while let Some(at) = rest.find(&tag) {
        out.push_str(&rest[..at]);
        let after = &rest[at + tag.len()..];
        let digits = after.find('Z').unwrap_or(0);
        match after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| quoted.get(n))
        {
            Some(s) => {
                out.push('\'');
                out.push_str(&s.replace('\'', "''"));
                out.push('\'');
                rest = &after[digits + 1..];
            }
            None => {
                out.push_str(&tag);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn mark(value: &Value, tag: &str, quoted: &mut Vec<String>) -> Value {
    let swap = |s: &str, quoted: &mut Vec<String>| {
        if needs_quotes(s) {
            quoted.push(s.to_owned());
            format!("{tag}{}Z", quoted.len() - 1)
        } else {
            s.to_owned()
        }
    };
    match value {
        Value::String(s) => Value::String(swap(s, quoted)),
        Value::Array(items) => Value::Array(items.iter().map(|v| mark(v, tag, quoted)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = swap(k, quoted);
                out.insert(key, mark(v, tag, quoted));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Whether YAML 1.1 reads this plain scalar as something other than a
/// string: its booleans and nulls, `=` and `<<`, and anything that starts
/// like a number or a timestamp (quoting a few more strings than needed,
/// `1.2.3`, changes nothing a reader sees).
fn needs_quotes(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL", "=",
        "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let starts_like_number = s
        .strip_prefix(['+', '-'])
        .unwrap_or(s)
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    starts_like_number
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '+' | '-' | ' '))
}

/// The values decrypted from SOPS files, to mask in what `plumb render` prints: a string
/// equal to one of them, or to one in base64 (a Secret's `data`, a generator's output).
pub struct Secrets {
    plain: std::collections::HashSet<String>,
}

impl Secrets {
    pub fn new(values: &[String]) -> Secrets {
        use base64::Engine;
        let base64 = &base64::engine::general_purpose::STANDARD;
        let plain = values
            .iter()
            .flat_map(|v| [v.clone(), base64.encode(v)])
            .collect();
        Secrets { plain }
    }

    /// Replaces every decrypted value in `object` with a mark.
    pub fn mask(&self, object: &mut Value) {
        if self.plain.is_empty() {
            return;
        }
        match object {
            Value::String(s) if self.plain.contains(s.as_str()) => {
                *s = "*** (decrypted from SOPS; --show-secrets prints it)".into();
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_1_1_look_alikes_are_quoted_and_read_back_the_same() {
        let object = json!({"data": {
            "a": "no", "b": "on", "c": "Y", "d": "2001-12-14", "e": "1_000", "f": "1:20",
            "g": "0777", "h": "plain", "i": "it's", "j": "v1.2", "k": "-5", "l": ".inf",
            "m": "2001-12-14 21:59:43.10 -5", "no": "key too", "n": "a\nb",
            "o": "PLUMBQUOTED0X"
        }});
        let yaml = to_yaml(&object);
        for line in [
            "a: 'no'",
            "b: 'on'",
            "c: 'Y'",
            "d: '2001-12-14'",
            "e: '1_000'",
            "f: '1:20'",
            "g: '0777'",
            "h: plain",
            "j: v1.2",
            "'no': key too",
            "k: '-5'",
        ] {
            assert!(yaml.contains(line), "{line} in:\n{yaml}");
        }
        let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back, object, "{yaml}");
    }
}
