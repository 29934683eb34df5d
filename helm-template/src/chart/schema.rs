//! A JSON Schema subset for `values.schema.json`: type, properties, patternProperties,
//! additionalProperties, required, items/prefixItems, enum, const, numeric bounds,
//! string lengths and pattern, array sizes and uniqueItems, min/maxProperties,
//! multipleOf, allOf/anyOf/oneOf/not, if/then/else, and `$ref` into `#/definitions`
//! and `#/$defs`.

use serde_yaml_ng::Value as J;

use crate::value::Value;

const MAX_DEPTH: usize = 64;

/// Validates `values` against the schema text; the errors name the value's path and
/// the rule it breaks, one per line.
pub fn validate(schema_text: &str, values: &Value) -> Result<(), String> {
    let schema: J = serde_yaml_ng::from_str(schema_text)
        .map_err(|e| format!("the schema is not valid JSON: {e}"))?;
    let mut errs = Vec::new();
    let v = Validator { root: &schema };
    v.check(&schema, values, "", &mut errs, 0);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.iter().map(|e| format!("- {e}\n")).collect())
    }
}

struct Validator<'a> {
    root: &'a J,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::Int64(_) | Value::Uint(_) => "integer",
        Value::Float(f) => {
            if f.fract() == 0.0 && f.is_finite() {
                "integer"
            } else {
                "number"
            }
        }
        Value::String(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) => "object",
        Value::Object(_) => "object",
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) | Value::Int64(i) => Some(*i as f64),
        Value::Uint(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn jnum(j: &J) -> Option<f64> {
    match j {
        J::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => crate::gofmt::sprint(std::slice::from_ref(other)),
    }
}

/// JSON equality between a value and a schema literal.
fn eq_json(v: &Value, j: &J) -> bool {
    match (v, j) {
        (Value::Nil, J::Null) => true,
        (Value::Bool(a), J::Bool(b)) => a == b,
        (Value::String(a), J::String(b)) => &**a == b.as_str(),
        (a, J::Number(_)) => num(a).zip(jnum(j)).is_some_and(|(x, y)| x == y),
        (Value::List(l), J::Sequence(s)) => {
            l.items.len() == s.len() && l.items.iter().zip(s).all(|(a, b)| eq_json(a, b))
        }
        (Value::Map(m), J::Mapping(o)) => {
            let e = m.entries.borrow();
            e.len() == o.len()
                && o.iter().all(|(k, jv)| {
                    k.as_str()
                        .and_then(|k| e.get(k))
                        .is_some_and(|mv| eq_json(mv, jv))
                })
        }
        _ => false,
    }
}

fn eq_values(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.items.len() == y.items.len()
                && x.items
                    .iter()
                    .zip(y.items.iter())
                    .all(|(p, q)| eq_values(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (ex, ey) = (x.entries.borrow(), y.entries.borrow());
            ex.len() == ey.len()
                && ex
                    .iter()
                    .all(|(k, v)| ey.get(k).is_some_and(|w| eq_values(v, w)))
        }
        (p, q) => num(p).zip(num(q)).is_some_and(|(m, n)| m == n),
    }
}

fn at(path: &str) -> String {
    format!("at '{}'", if path.is_empty() { "" } else { path })
}

impl<'a> Validator<'a> {
    fn resolve(&self, r: &str) -> Option<&'a J> {
        let pointer = r.strip_prefix('#')?;
        let mut cur = self.root;
        for part in pointer.split('/').skip(1) {
            let part = part.replace("~1", "/").replace("~0", "~");
            cur = match cur {
                J::Mapping(m) => m.get(part.as_str())?,
                J::Sequence(s) => s.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    fn ok(&self, s: &J, v: &Value, depth: usize) -> bool {
        let mut errs = Vec::new();
        self.check(s, v, "", &mut errs, depth);
        errs.is_empty()
    }

    fn check(&self, s: &J, v: &Value, path: &str, errs: &mut Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            errs.push(format!(
                "{}: the schema nests too deeply (a $ref loop?)",
                at(path)
            ));
            return;
        }
        let m = match s {
            J::Bool(true) => return,
            J::Bool(false) => {
                errs.push(format!("{}: false schema: no value is allowed", at(path)));
                return;
            }
            J::Mapping(m) => m,
            _ => return,
        };
        let get = |k: &str| m.get(k);
        if let Some(J::String(r)) = get("$ref") {
            match self.resolve(r) {
                Some(target) => self.check(target, v, path, errs, depth + 1),
                None => errs.push(format!("{}: $ref {r:?} does not resolve", at(path))),
            }
        }
        if let Some(t) = get("type") {
            let types: Vec<&str> = match t {
                J::String(s) => vec![s.as_str()],
                J::Sequence(items) => items.iter().filter_map(|i| i.as_str()).collect(),
                _ => vec![],
            };
            let k = kind(v);
            let fits = types
                .iter()
                .any(|t| *t == k || (*t == "number" && k == "integer"));
            if !types.is_empty() && !fits {
                errs.push(format!(
                    "{}: type: got {k}, want {}",
                    at(path),
                    types.join(" or ")
                ));
                return;
            }
        }
        if let Some(e) = get("enum").and_then(|e| e.as_sequence()) {
            if !e.iter().any(|j| eq_json(v, j)) {
                let want: Vec<String> = e
                    .iter()
                    .map(|j| {
                        serde_yaml_ng::to_string(j)
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    })
                    .collect();
                errs.push(format!(
                    "{}: enum: value must be one of {}, got {}",
                    at(path),
                    want.join(", "),
                    show(v)
                ));
            }
        }
        if let Some(c) = get("const") {
            if !eq_json(v, c) {
                errs.push(format!(
                    "{}: const: value must be {}",
                    at(path),
                    serde_yaml_ng::to_string(c).unwrap_or_default().trim()
                ));
            }
        }
        if let Some(n) = num(v) {
            let bound = |k: &str| get(k).and_then(jnum);
            if let Some(min) = bound("minimum") {
                let excl = matches!(get("exclusiveMinimum"), Some(J::Bool(true)));
                if n < min || (excl && n == min) {
                    errs.push(format!("{}: minimum: {n} is less than {min}", at(path)));
                }
            }
            if let Some(max) = bound("maximum") {
                let excl = matches!(get("exclusiveMaximum"), Some(J::Bool(true)));
                if n > max || (excl && n == max) {
                    errs.push(format!("{}: maximum: {n} is greater than {max}", at(path)));
                }
            }
            if let Some(x) = bound("exclusiveMinimum") {
                if n <= x {
                    errs.push(format!(
                        "{}: exclusiveMinimum: {n} is not greater than {x}",
                        at(path)
                    ));
                }
            }
            if let Some(x) = bound("exclusiveMaximum") {
                if n >= x {
                    errs.push(format!(
                        "{}: exclusiveMaximum: {n} is not less than {x}",
                        at(path)
                    ));
                }
            }
            if let Some(d) = bound("multipleOf") {
                if d > 0.0 && ((n / d) - (n / d).round()).abs() > 1e-9 {
                    errs.push(format!(
                        "{}: multipleOf: {n} is not a multiple of {d}",
                        at(path)
                    ));
                }
            }
        }
        if let Value::String(text) = v {
            let len = text.chars().count() as f64;
            if let Some(min) = get("minLength").and_then(jnum) {
                if len < min {
                    errs.push(format!(
                        "{}: minLength: length must be >= {min}, but got {len}",
                        at(path)
                    ));
                }
            }
            if let Some(max) = get("maxLength").and_then(jnum) {
                if len > max {
                    errs.push(format!(
                        "{}: maxLength: length must be <= {max}, but got {len}",
                        at(path)
                    ));
                }
            }
            if let Some(J::String(p)) = get("pattern") {
                match regex_lite::Regex::new(p) {
                    Ok(re) if !re.is_match(text) => {
                        errs.push(format!(
                            "{}: pattern: {:?} does not match pattern {p:?}",
                            at(path),
                            &**text
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => errs.push(format!(
                        "{}: pattern {p:?} is not a valid regular expression: {e}",
                        at(path)
                    )),
                }
            }
        }
        if let Value::List(l) = v {
            let n = l.items.len() as f64;
            if let Some(min) = get("minItems").and_then(jnum) {
                if n < min {
                    errs.push(format!(
                        "{}: minItems: got {n} items, want at least {min}",
                        at(path)
                    ));
                }
            }
            if let Some(max) = get("maxItems").and_then(jnum) {
                if n > max {
                    errs.push(format!(
                        "{}: maxItems: got {n} items, want at most {max}",
                        at(path)
                    ));
                }
            }
            if matches!(get("uniqueItems"), Some(J::Bool(true))) {
                'outer: for i in 0..l.items.len() {
                    for j in i + 1..l.items.len() {
                        if eq_values(&l.items[i], &l.items[j]) {
                            errs.push(format!(
                                "{}: uniqueItems: items at {i} and {j} are equal",
                                at(path)
                            ));
                            break 'outer;
                        }
                    }
                }
            }
            let mut start = 0;
            let tuple = match (get("prefixItems"), get("items")) {
                (Some(J::Sequence(p)), _) => Some(p),
                (_, Some(J::Sequence(p))) => Some(p),
                _ => None,
            };
            if let Some(t) = tuple {
                for (i, (item, s)) in l.items.iter().zip(t.iter()).enumerate() {
                    self.check(s, item, &format!("{path}/{i}"), errs, depth + 1);
                }
                start = t.len();
                if let Some(add) = get("additionalItems") {
                    for (i, item) in l.items.iter().enumerate().skip(start) {
                        self.check(add, item, &format!("{path}/{i}"), errs, depth + 1);
                    }
                }
            }
            let each = match get("items") {
                Some(s @ (J::Mapping(_) | J::Bool(_))) => Some(s),
                _ => None,
            };
            if let Some(s) = each {
                for (i, item) in l.items.iter().enumerate().skip(start) {
                    self.check(s, item, &format!("{path}/{i}"), errs, depth + 1);
                }
            }
            if let Some(c) = get("contains") {
                if !l.items.iter().any(|i| self.ok(c, i, depth + 1)) {
                    errs.push(format!("{}: contains: no item matches", at(path)));
                }
            }
        }
        if let Value::Map(obj) = v {
            let entries = obj.snapshot();
            if let Some(J::Sequence(req)) = get("required") {
                let missing: Vec<&str> = req
                    .iter()
                    .filter_map(|r| r.as_str())
                    .filter(|r| !entries.iter().any(|(k, _)| k == r))
                    .collect();
                if !missing.is_empty() {
                    errs.push(format!(
                        "{}: required: missing properties {}",
                        at(path),
                        missing
                            .iter()
                            .map(|m| format!("'{m}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            let n = entries.len() as f64;
            if let Some(min) = get("minProperties").and_then(jnum) {
                if n < min {
                    errs.push(format!(
                        "{}: minProperties: got {n} properties, want at least {min}",
                        at(path)
                    ));
                }
            }
            if let Some(max) = get("maxProperties").and_then(jnum) {
                if n > max {
                    errs.push(format!(
                        "{}: maxProperties: got {n} properties, want at most {max}",
                        at(path)
                    ));
                }
            }
            let props = get("properties").and_then(|p| p.as_mapping());
            let patterns: Vec<(regex_lite::Regex, &J)> = get("patternProperties")
                .and_then(|p| p.as_mapping())
                .map(|pm| {
                    pm.iter()
                        .filter_map(|(k, s)| Some((regex_lite::Regex::new(k.as_str()?).ok()?, s)))
                        .collect()
                })
                .unwrap_or_default();
            let mut extra = Vec::new();
            for (k, val) in &entries {
                let sub = format!("{path}/{k}");
                let mut matched = false;
                if let Some(s) = props.and_then(|p| p.get(k.as_str())) {
                    matched = true;
                    self.check(s, val, &sub, errs, depth + 1);
                }
                for (re, s) in &patterns {
                    if re.is_match(k) {
                        matched = true;
                        self.check(s, val, &sub, errs, depth + 1);
                    }
                }
                if !matched {
                    extra.push((k, val, sub));
                }
            }
            match get("additionalProperties") {
                Some(J::Bool(false)) if !extra.is_empty() => {
                    let names: Vec<String> =
                        extra.iter().map(|(k, _, _)| format!("'{k}'")).collect();
                    errs.push(format!(
                        "{}: additionalProperties {} not allowed",
                        at(path),
                        names.join(", ")
                    ));
                }
                Some(s @ J::Mapping(_)) => {
                    for (_, val, sub) in &extra {
                        self.check(s, val, sub, errs, depth + 1);
                    }
                }
                _ => {}
            }
        }
        if let Some(J::Sequence(all)) = get("allOf") {
            for s in all {
                self.check(s, v, path, errs, depth + 1);
            }
        }
        if let Some(J::Sequence(any)) = get("anyOf") {
            if !any.iter().any(|s| self.ok(s, v, depth + 1)) {
                errs.push(format!(
                    "{}: anyOf: the value matches none of the schemas",
                    at(path)
                ));
            }
        }
        if let Some(J::Sequence(one)) = get("oneOf") {
            let n = one.iter().filter(|s| self.ok(s, v, depth + 1)).count();
            if n != 1 {
                errs.push(format!(
                    "{}: oneOf: the value matches {n} of the schemas, want exactly 1",
                    at(path)
                ));
            }
        }
        if let Some(not) = get("not") {
            if self.ok(not, v, depth + 1) {
                errs.push(format!(
                    "{}: not: the value must not match the schema",
                    at(path)
                ));
            }
        }
        if let Some(cond) = get("if") {
            let branch = if self.ok(cond, v, depth + 1) {
                get("then")
            } else {
                get("else")
            };
            if let Some(b) = branch {
                self.check(b, v, path, errs, depth + 1);
            }
        }
    }
}
