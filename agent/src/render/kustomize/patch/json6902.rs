//! RFC 6902 JSON patch, with kustomize's leniencies: a negative index counts from the end,
//! and `replace` of a missing map key adds it.

use serde_json::Value;

use super::PatchError;

/// RFC 6902 JSON patch: `ops` is the array of operations. On error `base` is unchanged.
///
/// Like kustomize, a negative index counts from the end and `replace` of a missing map key adds it.
pub fn json6902(base: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = ops else {
        return Err(PatchError::JsonPatch {
            index: 0,
            op: String::new(),
            path: String::new(),
            reason: "the patch is not a list of operations".into(),
        });
    };
    let mut doc = base.clone();
    for (index, op) in ops.iter().enumerate() {
        let text = |key: &str| op.get(key).and_then(Value::as_str);
        apply_operation(&mut doc, op).map_err(|reason| PatchError::JsonPatch {
            index,
            op: text("op").unwrap_or("?").to_owned(),
            path: text("path").unwrap_or("?").to_owned(),
            reason,
        })?;
    }
    *base = doc;
    Ok(())
}

pub(super) fn apply_operation(doc: &mut Value, op: &Value) -> Result<(), String> {
    let field = |key: &str| {
        op.get(key)
            .ok_or_else(|| format!("the operation lacks `{key}`"))
    };
    let pointer = |key: &str| {
        field(key)?
            .as_str()
            .ok_or_else(|| format!("`{key}` is not a string"))
            .and_then(parse_pointer)
    };
    let name = field("op")?.as_str().ok_or("`op` is not a string")?;
    let path = pointer("path")?;
    match name {
        "add" => put(doc, &path, field("value")?.clone(), true),
        "remove" => remove(doc, &path).map(drop),
        "replace" => put(doc, &path, field("value")?.clone(), false),
        "move" => {
            let from = pointer("from")?;
            if path.len() > from.len() && path.starts_with(&from) {
                return Err("cannot move a value into itself".into());
            }
            let value = remove(doc, &from)?;
            put(doc, &path, value, true)
        }
        "copy" => {
            let from = pointer("from")?;
            let value = get(doc, &from)
                .cloned()
                .ok_or_else(|| format!("`from` names nothing: {}", show_pointer(&from)))?;
            put(doc, &path, value, true)
        }
        "test" => {
            let expected = field("value")?;
            match get(doc, &path) {
                Some(actual) if actual == expected => Ok(()),
                // kustomize lets `null` stand for a missing value.
                None if expected.is_null() => Ok(()),
                Some(actual) => Err(format!(
                    "test failed: the value is {actual}, not {expected}"
                )),
                None => Err(format!("test failed: nothing is there, not {expected}")),
            }
        }
        other => Err(format!(
            "unknown operation `{other}` (RFC 6902 has add, remove, replace, move, copy, test)"
        )),
    }
}

pub(super) fn parse_pointer(text: &str) -> Result<Vec<String>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(format!("the JSON pointer `{text}` does not start with `/`"));
    };
    rest.split('/')
        .map(|token| {
            let mut chars = token.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                    return Err(format!("`~` in `{text}` must be followed by 0 or 1"));
                }
            }
            Ok(token.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

pub(super) fn show_pointer(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Position `token` names in a list of `len` elements; `insert` allows one past the end.
pub(super) fn list_index(token: &str, len: usize, insert: bool) -> Result<usize, String> {
    let room = len + usize::from(insert);
    if token == "-" {
        return if insert {
            Ok(len)
        } else {
            Err("`-` names no existing element".into())
        };
    }
    let index: i64 = token
        .parse()
        .ok()
        .filter(|_| !token.starts_with('+'))
        .ok_or_else(|| format!("`{token}` is not a list index"))?;
    let resolved = if index < 0 {
        i64::try_from(room).unwrap_or(i64::MAX) + index
    } else {
        index
    };
    usize::try_from(resolved)
        .ok()
        .filter(|i| *i < room)
        .ok_or_else(|| format!("index {index} is out of bounds for a list of {len} elements"))
}

pub(super) fn get<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(doc, |value, token| match value {
        Value::Object(map) => map.get(token),
        Value::Array(list) => list.get(list_index(token, list.len(), false).ok()?),
        _ => None,
    })
}

/// The container holding the value `tokens` names, and the last token.
pub(super) fn parent_mut<'v, 't>(
    doc: &'v mut Value,
    tokens: &'t [String],
) -> Result<(&'v mut Value, &'t str), String> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err("cannot change the root of the object".into());
    };
    let mut value = doc;
    for (depth, token) in parents.iter().enumerate() {
        let missing = || format!("{} does not exist", show_pointer(&tokens[..=depth]));
        value = match value {
            Value::Object(map) => map.get_mut(token).ok_or_else(missing)?,
            Value::Array(list) => {
                let index = list_index(token, list.len(), false)?;
                list.get_mut(index).ok_or_else(missing)?
            }
            _ => return Err(missing()),
        };
    }
    Ok((value, last))
}

pub(super) fn not_container(tokens: &[String]) -> String {
    format!(
        "{} is neither a map nor a list",
        show_pointer(&tokens[..tokens.len().saturating_sub(1)])
    )
}

/// `add` inserts into a list; `replace` overwrites an element (and, like kustomize, adds a missing map key).
pub(super) fn put(
    doc: &mut Value,
    tokens: &[String],
    value: Value,
    insert: bool,
) -> Result<(), String> {
    match parent_mut(doc, tokens)? {
        (Value::Object(map), key) => {
            map.insert(key.to_owned(), value);
        }
        (Value::Array(list), token) => {
            let index = list_index(token, list.len(), insert)?;
            if insert {
                list.insert(index, value);
            } else {
                list[index] = value;
            }
        }
        _ => return Err(not_container(tokens)),
    }
    Ok(())
}

pub(super) fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    match parent_mut(doc, tokens)? {
        (Value::Object(map), key) => map
            .remove(key)
            .ok_or_else(|| format!("{} does not exist", show_pointer(tokens))),
        (Value::Array(list), token) => Ok(list.remove(list_index(token, list.len(), false)?)),
        _ => Err(not_container(tokens)),
    }
}
