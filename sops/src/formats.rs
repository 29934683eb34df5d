//! The file formats sops writes: where each keeps its metadata, and how its
//! values are laid out.

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::age::Identity;
use crate::metadata::Metadata;
use crate::tree::Walk;
use crate::{Decrypted, SopsError};

/// A file format, chosen from the file's name as sops chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    /// Any other file: its whole content is one value, in a JSON wrapper.
    Binary,
}

impl Format {
    pub fn of_path(path: &str) -> Format {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json | Format::Binary => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
        }
    }
}

const METADATA_KEY: &str = "sops";
const FLAT_PREFIX: &str = "sops_";

pub fn is_encrypted(format: Format, bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    match format {
        Format::Yaml | Format::Json | Format::Binary => {
            has(b"sops")
                && has(b"mac")
                && has(b"ENC[AES256_GCM")
                && tree_has_metadata(format, bytes)
        }
        Format::Dotenv => bytes
            .split(|&b| b == b'\n')
            .any(|line| line.starts_with(b"sops_mac=")),
        Format::Ini => bytes
            .split(|&b| b == b'\n')
            .any(|line| line.trim_ascii() == b"[sops]"),
    }
}

fn tree_has_metadata(format: Format, bytes: &[u8]) -> bool {
    match documents(format, bytes) {
        Ok(docs) => docs
            .first()
            .and_then(|d| d.as_mapping())
            .and_then(|m| m.get(METADATA_KEY))
            .is_some_and(|meta| meta.get("mac").is_some()),
        Err(_) => false,
    }
}

fn documents(format: Format, bytes: &[u8]) -> Result<Vec<Value>, SopsError> {
    let syntax = |e: serde_yaml_ng::Error| SopsError::Syntax {
        format: format.name(),
        message: e.to_string(),
    };
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_slice(bytes) {
        let value = Value::deserialize(doc).map_err(syntax)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

pub fn decrypt(
    format: Format,
    bytes: &[u8],
    identities: &[Identity],
) -> Result<Decrypted, SopsError> {
    match format {
        Format::Yaml | Format::Json => decrypt_tree(format, bytes, identities),
        Format::Binary => decrypt_binary(bytes, identities),
        Format::Dotenv => decrypt_dotenv(bytes, identities),
        Format::Ini => decrypt_ini(bytes, identities),
    }
}

/// The metadata of the first document, removed from every document (sops
/// writes it into each document of a multi-document YAML file).
fn take_metadata(docs: &mut [Value]) -> Result<Metadata, SopsError> {
    let mut meta = None;
    for (i, doc) in docs.iter_mut().enumerate() {
        let Some(map) = doc.as_mapping_mut() else {
            return Err(SopsError::Metadata(format!(
                "document {} is not a mapping",
                i + 1
            )));
        };
        let found = map.shift_remove(METADATA_KEY);
        if i == 0 {
            meta = found;
        }
    }
    let meta = meta.ok_or_else(|| SopsError::Metadata("the file has no 'sops' key".into()))?;
    Metadata::parse(meta)
}

fn decrypt_tree(
    format: Format,
    bytes: &[u8],
    identities: &[Identity],
) -> Result<Decrypted, SopsError> {
    let mut docs = documents(format, bytes)?;
    let meta = take_metadata(&mut docs)?;
    let key = meta.data_key(identities)?;
    let mut walk = Walk::new(key, &meta);
    for doc in &mut docs {
        walk.document(doc)?;
    }
    let secrets = walk.finish()?;
    let mut text = Vec::new();
    match format {
        Format::Json => {
            let doc = docs
                .first()
                .cloned()
                .unwrap_or(Value::Mapping(Mapping::new()));
            text = serde_json::to_vec_pretty(&doc).map_err(|e| SopsError::Syntax {
                format: "JSON",
                message: e.to_string(),
            })?;
            text.push(b'\n');
        }
        _ => {
            // Each document as JSON, which is YAML: every string quoted, so that no
            // reader's YAML 1.1 rules turn a decrypted "yes" or "0755" into another type
            // (go-yaml's sops quotes them; serde_yaml_ng's YAML 1.2 would not).
            for (i, doc) in docs.iter().enumerate() {
                if i > 0 {
                    text.extend_from_slice(b"---\n");
                }
                serde_json::to_writer_pretty(&mut text, doc).map_err(|e| SopsError::Syntax {
                    format: "YAML",
                    message: e.to_string(),
                })?;
                text.push(b'\n');
            }
        }
    }
    Ok(Decrypted { text, secrets })
}

/// A binary file: `{"data": "ENC[…]", "sops": {…}}`.
fn decrypt_binary(bytes: &[u8], identities: &[Identity]) -> Result<Decrypted, SopsError> {
    let mut docs = documents(Format::Binary, bytes)?;
    let meta = take_metadata(&mut docs)?;
    let data = docs
        .first()
        .and_then(|d| d.get("data"))
        .and_then(Value::as_str)
        .ok_or_else(|| SopsError::Metadata("a binary file's 'data' is missing".into()))?
        .to_owned();
    let key = meta.data_key(identities)?;
    let mut walk = Walk::new(key, &meta);
    let plain = walk.text_leaf(&["data".to_owned()], &data)?;
    let secrets = walk.finish()?;
    Ok(Decrypted {
        text: plain.into_bytes(),
        secrets,
    })
}

/// Turns flattened metadata keys (`age__list_0__map_recipient`) back into a tree.
fn unflatten(entries: Vec<(String, String)>) -> Result<Value, SopsError> {
    enum Step {
        Key(String),
        Index(usize),
    }
    fn steps(key: &str) -> Result<Vec<Step>, SopsError> {
        let mut out = Vec::new();
        let mut rest = key;
        let mut first = true;
        loop {
            let next = [rest.find("__map_"), rest.find("__list_")]
                .into_iter()
                .flatten()
                .min();
            let (head, tail) = match next {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if first {
                out.push(Step::Key(head.to_owned()));
                first = false;
            }
            if tail.is_empty() {
                return Ok(out);
            }
            let (step, after) = if let Some(t) = tail.strip_prefix("__map_") {
                let end = [t.find("__map_"), t.find("__list_")]
                    .into_iter()
                    .flatten()
                    .min();
                let end = end.unwrap_or(t.len());
                (Step::Key(t[..end].to_owned()), &t[end..])
            } else {
                let t = &tail["__list_".len()..];
                let end = [t.find("__map_"), t.find("__list_")]
                    .into_iter()
                    .flatten()
                    .min();
                let end = end.unwrap_or(t.len());
                let index = t[..end]
                    .parse()
                    .map_err(|_| SopsError::Metadata(format!("a broken metadata key '{key}'")))?;
                (Step::Index(index), &t[end..])
            };
            out.push(step);
            rest = after;
            if rest.is_empty() {
                return Ok(out);
            }
        }
    }
    let mut root = Value::Mapping(Mapping::new());
    for (key, value) in entries {
        let mut node = &mut root;
        for step in steps(&key)? {
            node = match step {
                Step::Key(k) => {
                    if !node.is_mapping() {
                        *node = Value::Mapping(Mapping::new());
                    }
                    let map = node.as_mapping_mut().expect("a mapping");
                    map.entry(Value::String(k)).or_insert(Value::Null)
                }
                Step::Index(i) => {
                    if !node.is_sequence() {
                        *node = Value::Sequence(Vec::new());
                    }
                    let seq = node.as_sequence_mut().expect("a sequence");
                    while seq.len() <= i {
                        seq.push(Value::Null);
                    }
                    &mut seq[i]
                }
            };
        }
        *node = match key.as_str() {
            "mac_only_encrypted" => Value::Bool(value == "true"),
            "shamir_threshold" => value
                .parse::<u64>()
                .map(|n| Value::Number(n.into()))
                .unwrap_or(Value::String(value)),
            _ => Value::String(value),
        };
    }
    Ok(root)
}

/// dotenv: `KEY=value` lines, `\n` escaped, metadata as `sops_…` keys.
fn decrypt_dotenv(bytes: &[u8], identities: &[Identity]) -> Result<Decrypted, SopsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SopsError::Syntax {
        format: "dotenv",
        message: "not UTF-8 text".into(),
    })?;
    // Entries in order: Ok((key, value)) or Err(comment).
    let mut entries: Vec<Result<(String, String), String>> = Vec::new();
    let mut meta = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            entries.push(Err(comment.to_owned()));
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| SopsError::Syntax {
            format: "dotenv",
            message: format!("line {} has no '='", n + 1),
        })?;
        let value = value.replace("\\n", "\n");
        match key.strip_prefix(FLAT_PREFIX) {
            Some(meta_key) => meta.push((meta_key.to_owned(), value)),
            None => entries.push(Ok((key.to_owned(), value))),
        }
    }
    let meta = Metadata::parse(unflatten(meta)?)?;
    let key = meta.data_key(identities)?;
    let mut walk = Walk::new(key, &meta);
    let mut out = String::new();
    for entry in entries {
        match entry {
            Ok((name, value)) => {
                let plain = walk.text_leaf(std::slice::from_ref(&name), &value)?;
                out.push_str(&format!("{name}={}\n", plain.replace('\n', "\\n")));
            }
            Err(comment) => out.push_str(&format!("#{}\n", walk.comment(&[], &comment))),
        }
    }
    let secrets = walk.finish()?;
    Ok(Decrypted {
        text: out.into_bytes(),
        secrets,
    })
}

/// INI: `[section]` and `key = value` lines; metadata in a `[sops]` section.
fn decrypt_ini(bytes: &[u8], identities: &[Identity]) -> Result<Decrypted, SopsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SopsError::Syntax {
        format: "INI",
        message: "not UTF-8 text".into(),
    })?;
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_owned(), Vec::new()));
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| SopsError::Syntax {
            format: "INI",
            message: format!("line {} is neither a [section] nor key = value", n + 1),
        })?;
        if sections.is_empty() {
            sections.push(("DEFAULT".into(), Vec::new()));
        }
        let section = sections.last_mut().expect("a section");
        section
            .1
            .push((key.trim().to_owned(), value.trim().replace("\\n", "\n")));
    }
    let meta_index = sections
        .iter()
        .position(|(name, _)| name == METADATA_KEY)
        .ok_or_else(|| SopsError::Metadata("the file has no [sops] section".into()))?;
    let (_, meta) = sections.remove(meta_index);
    let meta = Metadata::parse(unflatten(meta)?)?;
    let key = meta.data_key(identities)?;
    let mut walk = Walk::new(key, &meta);
    let mut out = String::new();
    for (name, entries) in sections {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[{name}]\n"));
        // As go-ini writes a section: the `=` aligned.
        let width = entries
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (key, value) in entries {
            let plain = walk.text_leaf(&[name.clone(), key.clone()], &value)?;
            out.push_str(&format!("{key:<width$} = {plain}\n"));
        }
    }
    let secrets = walk.finish()?;
    Ok(Decrypted {
        text: out.into_bytes(),
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(Format::of_path("a/secret.sops.yaml"), Format::Yaml);
        assert_eq!(Format::of_path("x.json"), Format::Json);
        assert_eq!(Format::of_path("app.env"), Format::Dotenv);
        assert_eq!(Format::of_path("tls.key"), Format::Binary);
    }

    #[test]
    fn flattened_metadata_unflattens() {
        let tree = unflatten(vec![
            ("age__list_0__map_recipient".into(), "age1x".into()),
            ("age__list_0__map_enc".into(), "E".into()),
            ("age__list_1__map_recipient".into(), "age1y".into()),
            ("mac".into(), "M".into()),
        ])
        .unwrap();
        assert_eq!(tree["age"][0]["recipient"], "age1x");
        assert_eq!(tree["age"][0]["enc"], "E");
        assert_eq!(tree["age"][1]["recipient"], "age1y");
        assert_eq!(tree["mac"], "M");
    }

    #[test]
    fn plain_manifests_are_not_encrypted() {
        let plain = b"apiVersion: v1\nkind: Secret\nmetadata: {name: sops}\n";
        assert!(!is_encrypted(Format::Yaml, plain));
        assert!(!is_encrypted(Format::Dotenv, b"A=b\n"));
    }
}
