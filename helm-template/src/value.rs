//! Template values, modelled on the Go values Helm's templates see.
//!
//! Go maps are references: `set $d "k" 1` changes every holder of `$d`, so maps are
//! shared (`Rc<RefCell<…>>`). Numbers keep their Go type (`int`, `int64`, `float64`)
//! because Go's comparison and argument rules depend on it: `eq 1 .Values.one` is an
//! error in Helm, as values parsed from YAML are all `float64`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// How deep the functions that walk a value (printing, encoding, copying, comparing) go.
/// Go grows its stack for any depth; a template can build a list nested 100,000 deep in a
/// loop, and walking that on a fixed stack would abort the process, so past this depth
/// the walks stop (printing writes `...`, encoders fail as on a cycle).
pub const MAX_VALUE_DEPTH: usize = 1000;

/// A template value.
#[derive(Clone)]
pub enum Value {
    /// Go's untyped nil (a missing map key, a YAML `null`).
    Nil,
    Bool(bool),
    /// Go `int`.
    Int(i64),
    /// Go `int64`.
    Int64(i64),
    /// Go `uint64` (rare: a few Sprig functions return it).
    Uint(u64),
    /// Go `float64`.
    Float(f64),
    String(Rc<str>),
    List(List),
    Map(Map),
    /// A Go struct or pointer with fields and methods (`.Capabilities`, a parsed semver).
    Object(Rc<dyn Object>),
}

/// The Go element type of a list, which decides its `typeOf` and some functions' rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ListKind {
    /// `[]interface {}`
    Any,
    /// `[]string`
    String,
    /// `[]int`
    Int,
}

/// A Go slice. Sprig never changes a slice in place, so its items are shared but frozen.
#[derive(Clone)]
pub struct List {
    pub kind: ListKind,
    pub items: Rc<Vec<Value>>,
}

/// The Go type of a map: most are `map[string]interface {}`; `.Values` is Helm's `chartutil.Values`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MapKind {
    Any,
    ChartValues,
    /// `map[string]string`: a missing key reads as "".
    String,
}

/// A Go map with string keys, shared by reference and iterated in sorted key order (as Go's
/// `range` and `fmt` do).
#[derive(Clone)]
pub struct Map {
    pub kind: MapKind,
    pub entries: Rc<RefCell<BTreeMap<String, Value>>>,
}

/// What a Go struct exposes to templates.
pub enum Member {
    Field(Value),
    /// A method: it is called with the template's arguments.
    Method(Method),
}

/// A method bound to its receiver.
pub struct Method {
    pub params: &'static [crate::funcs::Ty],
    pub variadic: Option<crate::funcs::Ty>,
    #[allow(clippy::type_complexity)]
    pub call: Box<dyn Fn(Vec<Value>) -> Result<Value, String>>,
}

/// A Go struct or pointer to one.
pub trait Object {
    /// Go's name of the type, as `%T` prints it (`*chartutil.Capabilities`).
    fn type_name(&self) -> String;
    /// A method or an exported field, looked up as Go does: methods first.
    fn member(&self, name: &str) -> Option<Member>;
    /// What `fmt`'s `%v` prints.
    fn print(&self) -> String;
    /// What an action (`{{ .X }}`) prints, which differs when only the addressable value
    /// is a `fmt.Stringer`.
    fn print_in_template(&self) -> String {
        self.print()
    }
    /// The value `json.Marshal` sees (a map of its exported fields, as its JSON tags name
    /// them). By default the map of `json_fields`, nested structs made plain too.
    fn to_plain(&self) -> Value {
        let fields = self.json_fields().unwrap_or_default();
        Value::map(fields.into_iter().map(|(k, v)| (k, v.to_plain())).collect())
    }
    /// The same fields in the struct's declaration order, which `json.Marshal` keeps (None:
    /// `to_plain`'s sorted map is what Go writes, as for Go maps).
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// A Go map with methods (Helm's `.Files`): its entries in key order, for `range` and
    /// `len`. None for structs.
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// Whether the value is a Go pointer (`nil` checks, `kindOf` "ptr").
    fn is_pointer(&self) -> bool {
        true
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::String(Rc::from(s))
    }

    pub fn string(s: String) -> Value {
        Value::String(Rc::from(s))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(List {
            kind: ListKind::Any,
            items: Rc::new(items),
        })
    }

    pub fn string_list(items: Vec<String>) -> Value {
        Value::List(List {
            kind: ListKind::String,
            items: Rc::new(items.into_iter().map(Value::string).collect()),
        })
    }

    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Map {
            kind: MapKind::Any,
            entries: Rc::new(RefCell::new(entries)),
        })
    }

    pub fn empty_map() -> Value {
        Value::map(BTreeMap::new())
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's type name, as `%T` and error messages print it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Uint(_) => "uint64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(l) => match l.kind {
                ListKind::Any => "[]interface {}".into(),
                ListKind::String => "[]string".into(),
                ListKind::Int => "[]int".into(),
            },
            Value::Map(m) => match m.kind {
                MapKind::Any => "map[string]interface {}".into(),
                MapKind::ChartValues => "chartutil.Values".into(),
                MapKind::String => "map[string]string".into(),
            },
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's `reflect.Kind` name, as Sprig's `kindOf` prints it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Uint(_) => "uint64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(o) => {
                if o.is_pointer() {
                    "ptr"
                } else {
                    "struct"
                }
            }
        }
    }

    /// Go's truth (text/template's `isTrue`): the zero value of any type is false. Its
    /// negation is also Sprig's `empty` and mergo's `isEmptyValue` (a struct is never empty).
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Map(m) => !m.entries.borrow().is_empty(),
            Value::Object(_) => true,
        }
    }

    /// What `json.Marshal` sees: a struct as the map of its fields, anything else as it is.
    pub fn to_plain(&self) -> Value {
        match self {
            Value::Object(o) => o.to_plain(),
            other => other.clone(),
        }
    }

    /// Go's `reflect.DeepEqual` on template values: equal types and equal contents.
    pub fn deep_equal(&self, other: &Value) -> bool {
        self.deep_equal_at(other, 0)
    }

    fn deep_equal_at(&self, other: &Value, depth: usize) -> bool {
        if depth > MAX_VALUE_DEPTH {
            // Past the depth a fixed stack allows, only the same value is equal.
            return match (self, other) {
                (Value::List(x), Value::List(y)) => Rc::ptr_eq(&x.items, &y.items),
                (Value::Map(x), Value::Map(y)) => x.ptr_eq(y),
                _ => false,
            };
        }
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
            (Value::Uint(x), Value::Uint(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::String(x), Value::String(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                x.kind == y.kind
                    && x.items.len() == y.items.len()
                    && x.items
                        .iter()
                        .zip(y.items.iter())
                        .all(|(p, q)| p.deep_equal_at(q, depth + 1))
            }
            (Value::Map(x), Value::Map(y)) => {
                if x.kind != y.kind {
                    return false;
                }
                if x.ptr_eq(y) {
                    return true;
                }
                let (x, y) = (x.entries.borrow(), y.entries.borrow());
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| v.deep_equal_at(w, depth + 1)))
            }
            (Value::Object(x), Value::Object(y)) => {
                Rc::ptr_eq(x, y) || x.type_name() == y.type_name() && x.print() == y.print()
            }
            _ => false,
        }
    }

    /// The length Go's `len` gives, if the value has one.
    pub fn length(&self) -> Option<usize> {
        match self {
            Value::String(s) => Some(s.len()),
            Value::List(l) => Some(l.items.len()),
            Value::Map(m) => Some(m.entries.borrow().len()),
            Value::Object(o) => o.map_entries().map(|e| e.len()),
            _ => None,
        }
    }

    /// A copy that shares nothing mutable with the original (Sprig's `deepCopy`), down to
    /// [`MAX_VALUE_DEPTH`]; below that, the original's values are shared.
    pub fn deep_copy(&self) -> Value {
        self.deep_copy_at(0)
    }

    fn deep_copy_at(&self, depth: usize) -> Value {
        if depth > MAX_VALUE_DEPTH {
            return self.clone();
        }
        match self {
            Value::List(l) => Value::List(List {
                kind: l.kind,
                items: Rc::new(l.items.iter().map(|v| v.deep_copy_at(depth + 1)).collect()),
            }),
            Value::Map(m) => Value::Map(Map {
                kind: m.kind,
                entries: Rc::new(RefCell::new(
                    m.entries
                        .borrow()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.deep_copy_at(depth + 1)))
                        .collect(),
                )),
            }),
            other => other.clone(),
        }
    }

    /// Converts a YAML or JSON document as Go's decoders into `interface{}` give it:
    /// numbers become `float64` when `floats`, else `int` or `float64` by their form.
    pub fn from_yaml_value(v: &serde_yaml_ng::Value, floats: bool) -> Value {
        use serde_yaml_ng::Value as Y;
        match v {
            Y::Null => Value::Nil,
            Y::Bool(b) => Value::Bool(*b),
            Y::Number(n) => {
                if let Some(i) = n.as_i64().filter(|_| !floats) {
                    Value::Int(i)
                } else if let Some(f) = n.as_f64() {
                    Value::Float(f)
                } else {
                    Value::Nil
                }
            }
            Y::String(s) => Value::str(s),
            Y::Sequence(items) => Value::list(
                items
                    .iter()
                    .map(|i| Value::from_yaml_value(i, floats))
                    .collect(),
            ),
            Y::Mapping(m) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        other => crate::gofmt::sprint(&[Value::from_yaml_value(other, floats)]),
                    };
                    out.insert(key, Value::from_yaml_value(v, floats));
                }
                Value::map(out)
            }
            Y::Tagged(t) => Value::from_yaml_value(&t.value, floats),
        }
    }
}

// Values nested deeper than the stack allows (a template can build them in a loop) must
// still be freed: the last owner of a list or map takes its children out and frees them
// from a heap stack, so dropping never recurses more than one level.
impl Drop for List {
    fn drop(&mut self) {
        if let Some(items) = Rc::get_mut(&mut self.items) {
            let mut pending: Vec<Value> = std::mem::take(items);
            free_iteratively(&mut pending);
        }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        if let Some(entries) = Rc::get_mut(&mut self.entries) {
            let mut pending: Vec<Value> = std::mem::take(entries.get_mut()).into_values().collect();
            free_iteratively(&mut pending);
        }
    }
}

fn free_iteratively(pending: &mut Vec<Value>) {
    while let Some(v) = pending.pop() {
        match v {
            Value::List(mut l) => {
                if let Some(items) = Rc::get_mut(&mut l.items) {
                    pending.append(items);
                }
            }
            Value::Map(mut m) => {
                if let Some(entries) = Rc::get_mut(&mut m.entries) {
                    pending.extend(std::mem::take(entries.get_mut()).into_values());
                }
            }
            _ => {}
        }
    }
}

impl Map {
    pub fn get(&self, key: &str) -> Option<Value> {
        self.entries.borrow().get(key).cloned()
    }

    pub fn insert(&self, key: String, value: Value) {
        self.entries.borrow_mut().insert(key, value);
    }

    /// A copy of the entries in key order, so that the map can change while they are walked.
    pub fn snapshot(&self) -> Vec<(String, Value)> {
        self.entries
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn ptr_eq(&self, other: &Map) -> bool {
        Rc::ptr_eq(&self.entries, &other.entries)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({})",
            self.type_name(),
            crate::gofmt::sprint(std::slice::from_ref(self))
        )
    }
}
