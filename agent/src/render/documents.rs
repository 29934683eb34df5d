//! A manifest file read as kubectl reads it: UTF-8 (a byte-order mark skipped), YAML 1.1's
//! rules, documents split with their lines, Lists flattened, and each object checked for
//! the fields every object has, with the file, document and line of each mistake.

use serde_json::{Map, Value};

use super::yaml::{self, Pointer, Reading};
use super::{File, Manifest, Origin, RenderError};

/// A file's text, as kubectl reads it: a leading byte-order mark is
/// skipped, and a byte that is not UTF-8 is an error at its line and column
/// (never replaced by U+FFFD and applied).
pub(crate) fn text_of(bytes: &[u8]) -> Result<&str, (usize, usize)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
        let line = good.matches('\n').count() + 1;
        let column = good.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        (line, column)
    })
}

/// Parses one file into its objects, with origins, as `kubectl apply -f` reads it.
pub fn parse_file(file: &File) -> Result<Vec<Manifest>, Vec<RenderError>> {
    Ok(parse_file_as(file, Reading::Apply)?
        .into_iter()
        .map(|(manifest, _)| manifest)
        .collect())
}

/// [`parse_file`], read as `reading` says, with each object's keys written
/// empty (see [`yaml::take_empty_values`]; none for a List's items when
/// the List holds Lists).
pub(crate) fn parse_file_as(
    file: &File,
    reading: Reading,
) -> Result<Vec<(Manifest, Vec<Pointer>)>, Vec<RenderError>> {
    let text = text_of(&file.bytes).map_err(|(line, column)| {
        vec![RenderError::Syntax {
            file: file.path.clone(),
            line,
            column,
            format: "text",
            message: "not UTF-8 (manifests must be UTF-8 text)".into(),
        }]
    })?;
    let documents = if file.path.ends_with(".json") {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            vec![RenderError::Syntax {
                file: file.path.clone(),
                line: e.line(),
                column: e.column(),
                format: "JSON",
                message: e.to_string(),
            }]
        })?;
        vec![Document {
            index: 0,
            line: 1,
            value,
            empty_values: Vec::new(),
        }]
    } else {
        yaml_documents(&file.path, text, reading)?
    };
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for document in documents {
        let Document {
            index,
            line,
            value,
            empty_values: empties,
        } = document;
        let origin = Origin {
            file: file.path.clone(),
            document: index,
            line,
        };
        if value.is_null() {
            continue;
        }
        let listed = value["kind"].as_str().is_some_and(|k| k.ends_with("List"))
            && value.get("items").is_some();
        let items = value["items"].as_array().map_or(0, Vec::len);
        match objects_of(value, &origin) {
            Ok(objects) => {
                let count = objects.len();
                let empties_of = |i: usize| -> Vec<Pointer> {
                    if !listed {
                        return empties.clone();
                    }
                    if count != items {
                        return Vec::new();
                    }
                    empties
                        .iter()
                        .filter(|p| p.len() > 2 && p[0] == "items" && p[1] == i.to_string())
                        .map(|p| p[2..].to_vec())
                        .collect()
                };
                for (i, object) in objects.into_iter().enumerate() {
                    let empties = empties_of(i);
                    manifests.push((
                        Manifest {
                            object,
                            origin: origin.clone(),
                            kustomized: false,
                            chart_crd: None,
                            dropped_namespace: None,
                        },
                        empties,
                    ));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

/// One YAML document of a file.
pub(crate) struct Document {
    /// Counted from 0, empty documents included.
    pub index: usize,
    /// The line its content starts on.
    pub line: usize,
    pub value: Value,
    /// Its keys written with no value (see [`yaml::take_empty_values`]).
    pub empty_values: Vec<Pointer>,
}

/// Splits YAML text at document markers and parses each document, keeping
/// its index and the line its content starts on. A `---` at the start of a
/// line always begins a document in YAML (block scalars are indented), so
/// splitting on it is exact.
pub(crate) fn yaml_documents(
    path: &str,
    text: &str,
    reading: Reading,
) -> Result<Vec<Document>, Vec<RenderError>> {
    struct Chunk {
        start: usize,
        explicit: bool,
        text: String,
    }
    let mut chunks = vec![Chunk {
        start: 1,
        explicit: false,
        text: String::new(),
    }];
    // Lines keep their own ending: a block scalar on a last line without
    // one has no final line break (`key: |` then `value` at the end of the
    // file is "value", as for kubectl), so none may be added.
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let marker = line.starts_with("---")
            && line[3..]
                .chars()
                .next()
                .is_none_or(|c| c == ' ' || c == '\t');
        if marker {
            let rest = line[3..].trim();
            let mut text = String::new();
            if !rest.is_empty() && !rest.starts_with('#') {
                text.push_str(rest);
            }
            text.push('\n');
            chunks.push(Chunk {
                start: i + 1,
                explicit: true,
                text,
            });
        } else if line == "..." {
            chunks.push(Chunk {
                start: i + 2,
                explicit: false,
                text: String::new(),
            });
        } else {
            chunks.last_mut().expect("never empty").text.push_str(raw);
        }
    }
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    let blank = |t: &str| {
        t.lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    };
    // A document is what a `---` starts, or any other chunk with content.
    let counted = chunks.into_iter().filter(|c| c.explicit || !blank(&c.text));
    for (index, chunk) in counted.enumerate() {
        if blank(&chunk.text) {
            continue;
        }
        if let Some((line, column)) = yaml::too_deep(&chunk.text) {
            errors.push(RenderError::Syntax {
                file: path.to_owned(),
                line: chunk.start + line - 1,
                column,
                format: "YAML",
                message: yaml::too_deep_message(),
            });
            continue;
        }
        match yaml::from_str_as(&chunk.text, reading) {
            Ok(mut value) => {
                let empty_values = match reading {
                    Reading::KustomizeResource => yaml::take_empty_values(&mut value),
                    Reading::Apply | Reading::KustomizePatch => Vec::new(),
                };
                documents.push(Document {
                    index,
                    line: chunk.start + first_content_line(&chunk.text),
                    value,
                    empty_values,
                })
            }
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((1, 1));
                errors.push(RenderError::Syntax {
                    file: path.to_owned(),
                    line: chunk.start + line - 1,
                    column,
                    format: "YAML",
                    message: strip_location(&e.to_string()),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(documents)
    } else {
        Err(errors)
    }
}

/// Lines to skip before a chunk's first content (blank lines and comments).
pub(super) fn first_content_line(chunk: &str) -> usize {
    chunk
        .lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .unwrap_or(0)
}

pub(super) fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// One document → its objects: itself, or the items of a list. As in
/// kustomize and kubectl, any kind ending in `List` that has `items` is a
/// list (a `ConfigMapList` too), lists inside lists are flattened, `items:
/// null` holds nothing, and a `...List` kind without `items` is an object.
pub(super) fn objects_of(value: Value, origin: &Origin) -> Result<Vec<Value>, RenderError> {
    let not_object = |message: &str| RenderError::NotAnObject {
        origin: origin.clone(),
        message: message.to_owned(),
    };
    let Value::Object(map) = value else {
        return Err(not_object("document is not a mapping"));
    };
    check_object(&map, origin, "document")?;
    let mut objects = Vec::new();
    flatten(map, origin, "document", &mut objects)?;
    Ok(objects)
}

/// Adds an object, or a list's items, to `out`.
fn flatten(
    map: Map<String, Value>,
    origin: &Origin,
    what: &str,
    out: &mut Vec<Value>,
) -> Result<(), RenderError> {
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    if !kind.ends_with("List") || !map.contains_key("items") {
        check_name(&map, origin)?;
        out.push(Value::Object(map));
        return Ok(());
    }
    let kind = kind.to_owned();
    let items = match map.get("items") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) => Vec::new(),
        _ => {
            return Err(RenderError::NotAnObject {
                origin: origin.clone(),
                message: format!("{what} of kind {kind}: items is not a list"),
            })
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let what = format!("{kind} item {i}");
        let Value::Object(m) = item else {
            return Err(RenderError::NotAnObject {
                origin: origin.clone(),
                message: format!("{what} is not a mapping"),
            });
        };
        check_object(&m, origin, &what)?;
        flatten(m, origin, &what, out)?;
    }
    Ok(())
}

pub(super) fn check_object(
    map: &Map<String, Value>,
    origin: &Origin,
    what: &str,
) -> Result<(), RenderError> {
    for field in ["apiVersion", "kind"] {
        match map.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(RenderError::NotAnObject {
                    origin: origin.clone(),
                    message: format!("{what} has no {field}"),
                })
            }
        }
    }
    Ok(())
}

pub(super) fn check_name(map: &Map<String, Value>, origin: &Origin) -> Result<(), RenderError> {
    match map.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        _ => Err(RenderError::NoName {
            origin: origin.clone(),
            kind: map["kind"].as_str().unwrap_or_default().to_owned(),
        }),
    }
}
