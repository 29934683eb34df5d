//! `.Files`: Helm's `engine.files` (Get, GetBytes, Glob, AsConfig, AsSecrets, Lines).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::glob::Glob;
use crate::funcs::crypto::enc::b64_encode;
use crate::funcs::misc::path_base;
use crate::funcs::{Imp, Registry, Ty};
use crate::value::{List, ListKind, Member, Method, Object, Value};

/// A chart's files other than Chart.yaml, values, templates and subcharts.
pub struct Files(pub Rc<BTreeMap<String, Rc<Vec<u8>>>>);

impl Files {
    pub fn value(files: BTreeMap<String, Rc<Vec<u8>>>) -> Value {
        Value::Object(Rc::new(Files(Rc::new(files))))
    }
}

fn to_yaml(m: BTreeMap<String, Value>) -> String {
    let reg = Registry::helm();
    match reg.get("toYaml").map(|f| f.imp) {
        Some(Imp::Plain(f)) => f(&[Value::map(m)])
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn method(
    params: &'static [Ty],
    call: impl Fn(Vec<Value>) -> Result<Value, String> + 'static,
) -> Member {
    Member::Method(Method {
        params,
        variadic: None,
        call: Box::new(call),
    })
}

fn arg(a: &[Value]) -> String {
    a.first().and_then(Value::as_str).unwrap_or("").to_string()
}

impl Object for Files {
    fn type_name(&self) -> String {
        "engine.files".into()
    }

    fn member(&self, name: &str) -> Option<Member> {
        let files = self.0.clone();
        Some(match name {
            "Get" => method(&[Ty::String], move |a| {
                Ok(Value::string(
                    files
                        .get(&arg(&a))
                        .map(|d| String::from_utf8_lossy(d).into_owned())
                        .unwrap_or_default(),
                ))
            }),
            "GetBytes" => method(&[Ty::String], move |a| {
                let bytes = files
                    .get(&arg(&a))
                    .map(|d| d.iter().map(|b| Value::Int(i64::from(*b))).collect())
                    .unwrap_or_default();
                Ok(Value::List(List {
                    kind: ListKind::Int,
                    items: Rc::new(bytes),
                }))
            }),
            "Glob" => method(&[Ty::String], move |a| {
                let g = Glob::gobwas(&arg(&a)).or_else(|| Glob::gobwas("**"));
                let picked = files
                    .iter()
                    .filter(|(n, _)| g.as_ref().is_some_and(|g| g.matches(n)))
                    .map(|(n, d)| (n.clone(), d.clone()))
                    .collect();
                Ok(Files::value(picked))
            }),
            "AsConfig" => method(&[], move |_| {
                let m = files
                    .iter()
                    .map(|(k, v)| {
                        (
                            path_base(k),
                            Value::string(String::from_utf8_lossy(v).into_owned()),
                        )
                    })
                    .collect();
                Ok(Value::string(to_yaml(m)))
            }),
            "AsSecrets" => method(&[], move |_| {
                let m = files
                    .iter()
                    .map(|(k, v)| (path_base(k), Value::string(b64_encode(v))))
                    .collect();
                Ok(Value::string(to_yaml(m)))
            }),
            "Lines" => method(&[Ty::String], move |a| {
                let lines = match files.get(&arg(&a)) {
                    Some(d) if !d.is_empty() => {
                        let s = String::from_utf8_lossy(d).into_owned();
                        let s = s.strip_suffix('\n').unwrap_or(&s);
                        s.split('\n').map(str::to_string).collect()
                    }
                    _ => Vec::new(),
                };
                Ok(Value::string_list(lines))
            }),
            _ => return None,
        })
    }

    fn print(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}:[{}]",
                    v.iter()
                        .map(|b| b.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
            .collect();
        format!("map[{}]", items.join(" "))
    }

    fn to_plain(&self) -> Value {
        Value::map(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::string(b64_encode(v))))
                .collect(),
        )
    }

    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        let bytes = |d: &[u8]| {
            Value::List(List {
                kind: ListKind::Int,
                items: Rc::new(d.iter().map(|b| Value::Int(i64::from(*b))).collect()),
            })
        };
        Some(self.0.iter().map(|(k, d)| (k.clone(), bytes(d))).collect())
    }

    fn is_pointer(&self) -> bool {
        false
    }
}
