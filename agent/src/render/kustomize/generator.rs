//! `configMapGenerator` and `secretGenerator`, and the name hash suffix,
//! computed exactly as kustomize v5 does (api/hasher, api/kv).

use base64::Engine;
use serde_json::{Map, Value};

use super::kustomization::{GeneratorArgs, GeneratorOptions};

/// The generated kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenKind {
    ConfigMap,
    Secret,
}

/// A key's value: a file's bytes, a literal or an env-file line.
type Pair = (String, Vec<u8>);

/// Reads a file for a generator, relative to the kustomization (load
/// restrictions are the caller's); errors are messages.
pub type Reader<'a> = dyn Fn(&str) -> Result<Vec<u8>, String> + 'a;

/// Builds the object a generator entry describes (name without hash),
/// and whether it wants the hash suffix.
pub fn generate(
    kind: GenKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    read: &Reader,
) -> Result<(Value, bool), String> {
    if args.name.is_empty() {
        return Err("an entry has no name".into());
    }
    let options = GeneratorOptions::merged(args.options.as_ref(), global);
    let mut pairs: Vec<Pair> = Vec::new();
    let envs = args
        .envs
        .iter()
        .chain((!args.env.is_empty()).then_some(&args.env));
    for path in envs {
        pairs.extend(env_file(&read(path)?).map_err(|e| format!("env file '{path}': {e}"))?);
    }
    for literal in &args.literals {
        pairs.push(literal_pair(literal)?);
    }
    for source in &args.files {
        let (key, path) = file_source(source)?;
        pairs.push((key, read(&path)?));
    }
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, value) in pairs {
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "'{key}' is not a valid key (letters, digits, '-', '_', '.')"
            ));
        }
        if data.contains_key(&key) || binary.contains_key(&key) {
            return Err(format!("{} repeats the key '{key}'", args.name));
        }
        match (kind, String::from_utf8(value)) {
            (GenKind::ConfigMap, Ok(text)) => {
                data.insert(key, Value::String(text));
            }
            (GenKind::ConfigMap, Err(e)) => {
                binary.insert(key, Value::String(encode_base64(e.as_bytes())));
            }
            (GenKind::Secret, v) => {
                let bytes = v.map_or_else(|e| e.into_bytes(), String::into_bytes);
                data.insert(key, Value::String(encode_base64(&bytes)));
            }
        }
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    let strings = |m: &std::collections::BTreeMap<String, String>| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    if !options.labels.is_empty() {
        metadata.insert("labels".into(), strings(&options.labels));
    }
    if !options.annotations.is_empty() {
        metadata.insert("annotations".into(), strings(&options.annotations));
    }
    let mut object = Map::new();
    object.insert("apiVersion".into(), "v1".into());
    object.insert("metadata".into(), Value::Object(metadata));
    match kind {
        GenKind::ConfigMap => {
            object.insert("kind".into(), "ConfigMap".into());
            if !data.is_empty() {
                object.insert("data".into(), Value::Object(data));
            }
            if !binary.is_empty() {
                object.insert("binaryData".into(), Value::Object(binary));
            }
        }
        GenKind::Secret => {
            object.insert("kind".into(), "Secret".into());
            let t = if args.type_.is_empty() {
                "Opaque"
            } else {
                &args.type_
            };
            object.insert("type".into(), t.into());
            // kustomize always writes `data`, even empty, for Secrets.
            object.insert("data".into(), Value::Object(data));
        }
    }
    if options.immutable {
        object.insert("immutable".into(), Value::Bool(true));
    }
    Ok((Value::Object(object), !options.disable_name_suffix_hash))
}

/// `key=value`, quotes around the value removed.
fn literal_pair(source: &str) -> Result<Pair, String> {
    match source.split_once('=') {
        Some((k, v)) if !k.is_empty() => {
            let b = v.as_bytes();
            let unquoted = if b.len() >= 2 && b[0] == b[b.len() - 1] && matches!(b[0], b'"' | b'\'')
            {
                &v[1..v.len() - 1]
            } else {
                v
            };
            Ok((k.to_owned(), unquoted.as_bytes().to_vec()))
        }
        // The literal is not shown: a secretGenerator's is a secret value.
        _ => Err(format!(
            "invalid literal of {} characters, expected key=value (its text is not shown: it may be a secret)",
            source.chars().count()
        )),
    }
}

/// `path` (the key is the file name) or `key=path`.
fn file_source(source: &str) -> Result<(String, String), String> {
    match source.matches('=').count() {
        0 => Ok((
            source.rsplit('/').next().unwrap_or(source).to_owned(),
            source.to_owned(),
        )),
        1 => match source.split_once('=') {
            Some((k, p)) if !k.is_empty() && !p.is_empty() => Ok((k.to_owned(), p.to_owned())),
            _ => Err(format!("'{source}' needs both a key and a file path")),
        },
        _ => Err(format!("'{source}': the key or the file path contains '='")),
    }
}

/// An env file: `KEY=value` lines; blank lines and `#` comments skipped;
/// leading space trimmed, the value kept as written; `KEY` alone is empty.
fn env_file(bytes: &[u8]) -> Result<Vec<Pair>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_owned())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let valid = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(format!(
                "line {}: '{key}' is not a valid variable name",
                i + 1
            ));
        }
        out.push((key.to_owned(), value.as_bytes().to_vec()));
    }
    Ok(out)
}

/// Base64 as kustomize writes it: lines of 70 characters, each ending in a
/// newline, once the text is 70 characters or longer.
pub fn encode_base64(bytes: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    if text.len() < 70 {
        return text;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 70 + 1);
    for chunk in text.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// kustomize's name hash of a ConfigMap or Secret: SHA-256 over Go's JSON
/// of kind, name, data (and binaryData, or type and stringData), first ten
/// hex digits with 0,1,3,a,e remapped. kustomize looks the name up at a
/// path that never exists, so the name hashed is always "".
pub fn name_hash(object: &Value) -> String {
    let mut m = Map::new();
    let kind = object["kind"].as_str().unwrap_or_default();
    m.insert("kind".into(), kind.into());
    m.insert("name".into(), "".into());
    let field = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v) => v.clone(),
    };
    m.insert("data".into(), field("data"));
    if kind == "Secret" {
        m.insert("type".into(), field("type"));
        if object["stringData"].is_object() {
            m.insert("stringData".into(), field("stringData"));
        }
    } else if object["binaryData"].is_object() {
        m.insert("binaryData".into(), field("binaryData"));
    }
    let mut json = String::new();
    go_json(&Value::Object(m), &mut json);
    let digest = ring::digest::digest(&ring::digest::SHA256, json.as_bytes());
    digest.as_ref()[..5]
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|n| match n {
            0 => 'g',
            1 => 'h',
            3 => 'k',
            0xa => 'm',
            0xe => 't',
            n => char::from_digit(n.into(), 16).expect("a nibble"),
        })
        .collect()
}

/// JSON as Go's encoding/json writes it: sorted keys, and `<`, `>`, `&`,
/// U+2028, U+2029 escaped (the hash depends on these bytes).
fn go_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(v, out);
            }
            out.push(']');
        }
        Value::String(s) => go_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Names and hashes from `kubectl kustomize` (kustomize v5.5.0).
    #[test]
    fn hashes_match_kustomize() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p-app-config-s"},
            "data": {"A": "1", "B": "quoted & <html>"}});
        assert_eq!(name_hash(&cm), "6c72htb8hf");
        let long = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYW\nFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\n";
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "type": "Opaque",
            "data": {"long": long, "password": "aHVudGVyMg=="}});
        assert_eq!(name_hash(&secret), "8585dm7tk8");
    }

    #[test]
    fn generated_objects_follow_kustomize() {
        let args = GeneratorArgs {
            name: "creds".into(),
            literals: vec![
                "password=hunter2".into(),
                format!("long={}", "a".repeat(90)),
            ],
            ..Default::default()
        };
        let no_files = |p: &str| Err(format!("no {p}"));
        let (secret, hash) = generate(GenKind::Secret, &args, None, &no_files).unwrap();
        assert!(hash);
        assert_eq!(name_hash(&secret), "8585dm7tk8");
        assert_eq!(secret["data"]["password"], "aHVudGVyMg==");

        let env = b"\xef\xbb\xbf# comment\n  A=1\nB= spaced \"q\"\r\n\nC\n";
        assert_eq!(
            env_file(env).unwrap(),
            [
                ("A".to_owned(), b"1".to_vec()),
                ("B".to_owned(), b" spaced \"q\"".to_vec()),
                ("C".to_owned(), b"".to_vec())
            ]
        );
        assert_eq!(
            literal_pair("k='v=w'").unwrap(),
            ("k".to_owned(), b"v=w".to_vec())
        );
        assert_eq!(
            file_source("conf/app.ini").unwrap(),
            ("app.ini".to_owned(), "conf/app.ini".to_owned())
        );
        assert_eq!(file_source("k=conf/app.ini").unwrap().0, "k");
        assert!(file_source("=x").is_err() && file_source("a=b=c").is_err());
    }
}
