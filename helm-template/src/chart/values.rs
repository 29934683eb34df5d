//! Helm's values: `chartutil.CoalesceValues`/`MergeValues` (defaults under user values,
//! globals copied down, `null` deleting a default), `Table`/`PathValue`, and
//! `ProcessDependencies` (conditions, tags, aliases, import-values).

use std::collections::{BTreeMap, BTreeSet};

use super::{Chart, Dependency, ImportValue};
use crate::funcs::semver::is_compatible_range;
use crate::value::{Map, MapKind, Value};

/// A failed coalesce ("type mismatch on sub: …").
pub type Result<T> = std::result::Result<T, String>;

const GLOBAL: &str = "global";

pub fn new_map() -> Map {
    Map {
        kind: MapKind::Any,
        entries: Default::default(),
    }
}

/// Go's `istable`: a `map[string]interface{}`.
pub fn table(v: &Value) -> Option<Map> {
    match v {
        Value::Map(m) if m.kind != MapKind::String => Some(m.clone()),
        _ => None,
    }
}

fn remove(m: &Map, k: &str) {
    m.entries.borrow_mut().remove(k);
}

fn has(m: &Map, k: &str) -> bool {
    m.entries.borrow().contains_key(k)
}

fn concat_prefix(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

fn deep_copy_map(m: &Map) -> Map {
    match Value::Map(m.clone()).deep_copy() {
        Value::Map(m) => m,
        _ => new_map(),
    }
}

fn chart_values(c: &Chart) -> Map {
    table(&c.values).unwrap_or_else(new_map)
}

/// `chartutil.CoalesceValues`: a copy of `vals` with the chart's and its dependencies'
/// defaults under it.
pub fn coalesce_values(c: &Chart, vals: &Map) -> Result<Map> {
    let copy = deep_copy_map(vals);
    coalesce(c, &copy, "", false)?;
    Ok(copy)
}

/// `chartutil.MergeValues`: as `coalesce_values`, but `null` deletes nothing.
pub fn merge_values(c: &Chart, vals: &Map) -> Result<Map> {
    let copy = deep_copy_map(vals);
    coalesce(c, &copy, "", true)?;
    Ok(copy)
}

fn coalesce(c: &Chart, dest: &Map, prefix: &str, merge: bool) -> Result<()> {
    coalesce_chart_values(c, dest, prefix, merge);
    coalesce_deps(c, dest, prefix, merge)
}

fn coalesce_deps(c: &Chart, dest: &Map, prefix: &str, merge: bool) -> Result<()> {
    for sub in &c.dependencies {
        let name = &sub.metadata.name;
        let dv = match dest.get(name) {
            None => {
                let m = new_map();
                dest.insert(name.clone(), Value::Map(m.clone()));
                m
            }
            Some(v) => match table(&v) {
                Some(m) => m,
                None => {
                    return Err(format!(
                        "type mismatch on {name}: %!t({}={})",
                        v.type_name(),
                        crate::gofmt::sprint(std::slice::from_ref(&v))
                    ))
                }
            },
        };
        let sub_prefix = concat_prefix(prefix, &c.metadata.name);
        coalesce_globals(&dv, dest, &sub_prefix);
        coalesce(sub, &dv, &sub_prefix, merge)?;
    }
    Ok(())
}

fn coalesce_globals(dest: &Map, src: &Map, prefix: &str) {
    let dg = match dest.get(GLOBAL) {
        None => new_map(),
        Some(v) => match table(&v) {
            Some(m) => m,
            None => return,
        },
    };
    let sg = match src.get(GLOBAL) {
        None => new_map(),
        Some(v) => match table(&v) {
            Some(m) => m,
            None => return,
        },
    };
    if dg.ptr_eq(&sg) {
        dest.insert(GLOBAL.into(), Value::Map(dg));
        return;
    }
    for (key, val) in sg.snapshot() {
        if let Some(vm) = table(&val) {
            let vv = Map {
                kind: vm.kind,
                entries: std::rc::Rc::new(std::cell::RefCell::new(vm.entries.borrow().clone())),
            };
            match dg.get(&key) {
                None => dg.insert(key, Value::Map(vv)),
                Some(destv) => {
                    if let Some(destvmap) = table(&destv) {
                        let sub_prefix = concat_prefix(prefix, &key);
                        coalesce_tables(&vv, &destvmap, &sub_prefix, true);
                        dg.insert(key, Value::Map(vv));
                    }
                }
            }
        } else if dg.get(&key).is_some_and(|dv| table(&dv).is_some()) {
            // "key is table. Skipping"
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert(GLOBAL.into(), Value::Map(dg));
}

fn coalesce_chart_values(c: &Chart, v: &Map, prefix: &str, merge: bool) {
    let sub_prefix = concat_prefix(prefix, &c.metadata.name);
    let vc = deep_copy_map(&chart_values(c));
    for (key, val) in vc.snapshot() {
        match v.get(&key) {
            Some(value) => {
                if value.is_nil() && !merge {
                    remove(v, &key);
                } else if let Some(dest) = table(&value) {
                    if let Some(src) = table(&val) {
                        let merge = merge || c.dependencies.iter().any(|d| d.metadata.name == key);
                        coalesce_tables(&dest, &src, &concat_prefix(&sub_prefix, &key), merge);
                    }
                }
            }
            None => v.insert(key, val),
        }
    }
}

/// `chartutil.CoalesceTables` (merge false) and `MergeTables` (merge true): `src`'s keys
/// under `dst`'s.
pub fn coalesce_tables(dst: &Map, src: &Map, prefix: &str, merge: bool) {
    if dst.ptr_eq(src) {
        return;
    }
    let src_non_nil: BTreeSet<String> = src
        .entries
        .borrow()
        .iter()
        .filter(|(_, v)| !v.is_nil())
        .map(|(k, _)| k.clone())
        .collect();
    for (key, val) in dst.snapshot() {
        if val.is_nil() {
            src.insert(key, Value::Nil);
        }
    }
    for (key, val) in src.snapshot() {
        let full = concat_prefix(prefix, &key);
        match dst.get(&key) {
            Some(dv) if !merge && dv.is_nil() && src_non_nil.contains(&key) => remove(dst, &key),
            None => dst.insert(key, val),
            Some(dv) => {
                if let Some(sv) = table(&val) {
                    if let Some(dvm) = table(&dv) {
                        coalesce_tables(&dvm, &sv, &full, merge);
                    }
                }
            }
        }
    }
}

/// `Values.Table`: the map at a dotted path.
pub fn table_at(v: &Map, path: &str) -> Option<Map> {
    let mut t = v.clone();
    for part in path.split('.') {
        t = table(&t.get(part)?)?;
    }
    Some(t)
}

/// `Values.PathValue`: the non-map value at a dotted path.
pub fn path_value(v: &Map, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let parts: Vec<&str> = path.split('.').collect();
    let (key, init) = parts.split_last()?;
    let t = if init.is_empty() {
        v.clone()
    } else {
        table_at(v, &init.join("."))?
    };
    let val = t.get(key)?;
    if table(&val).is_some() {
        return None;
    }
    Some(val)
}

/// `chartutil.ProcessDependenciesWithMerge`.
pub fn process_dependencies(c: &mut Chart, user: &Map) -> Result<()> {
    process_enabled(c, user, "")?;
    process_import_values_rec(c, true)
}

fn alias_dependency(charts: &[Chart], dep: &Dependency) -> Option<Chart> {
    for c in charts {
        if c.metadata.name != dep.name || !is_compatible_range(&dep.version, &c.metadata.version) {
            continue;
        }
        let mut out = c.clone();
        if !dep.alias.is_empty() {
            out.metadata.name = dep.alias.clone();
        }
        return Some(out);
    }
    None
}

fn process_enabled(c: &mut Chart, v: &Map, path: &str) -> Result<()> {
    let Some(mut reqs) = c.metadata.dependencies.take() else {
        return Ok(());
    };
    let existing = std::mem::take(&mut c.dependencies);
    let mut deps: Vec<Chart> = existing
        .iter()
        .filter(|e| {
            !reqs.iter().any(|r| {
                e.metadata.name == r.name && is_compatible_range(&r.version, &e.metadata.version)
            })
        })
        .cloned()
        .collect();
    for r in reqs.iter_mut() {
        if let Some(d) = alias_dependency(&existing, r) {
            deps.push(d);
        }
        if !r.alias.is_empty() {
            r.name = r.alias.clone();
        }
    }
    c.dependencies = deps;
    for r in reqs.iter_mut() {
        r.enabled = true;
    }
    c.metadata.dependencies = Some(reqs.clone());
    let cvals = coalesce_values(c, v)?;
    process_tags(&mut reqs, &cvals);
    process_conditions(&mut reqs, &cvals, path);
    let rm: BTreeSet<String> = reqs
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    let mut cd: Vec<Chart> = std::mem::take(&mut c.dependencies)
        .into_iter()
        .filter(|d| !rm.contains(&d.metadata.name))
        .collect();
    let cd_meta: Vec<Dependency> = reqs.into_iter().filter(|r| !rm.contains(&r.name)).collect();
    for t in cd.iter_mut() {
        let sub = format!("{path}{}.", t.metadata.name);
        process_enabled(t, &cvals, &sub)?;
    }
    c.metadata.dependencies = if cd_meta.is_empty() {
        None
    } else {
        Some(cd_meta)
    };
    c.dependencies = cd;
    Ok(())
}

fn process_tags(reqs: &mut [Dependency], cvals: &Map) {
    let Some(vt) = table_at(cvals, "tags") else {
        return;
    };
    for r in reqs.iter_mut() {
        let (mut has_true, mut has_false) = (false, false);
        for k in &r.tags {
            if let Some(Value::Bool(b)) = vt.get(k) {
                if b {
                    has_true = true;
                } else {
                    has_false = true;
                }
            }
        }
        if !has_true && has_false {
            r.enabled = false;
        } else if has_true || !has_false {
            r.enabled = true;
        }
    }
}

fn process_conditions(reqs: &mut [Dependency], cvals: &Map, cpath: &str) {
    for r in reqs.iter_mut() {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(cvals, &format!("{cpath}{cond}")) {
                r.enabled = b;
                break;
            }
        }
    }
}

fn path_to_map(path: &str, data: Map) -> Map {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for part in path.split('.').rev() {
        let mut m = BTreeMap::new();
        m.insert(part.to_string(), Value::Map(cur));
        cur = Map {
            kind: MapKind::Any,
            entries: std::rc::Rc::new(std::cell::RefCell::new(m)),
        };
    }
    cur
}

fn process_import_values_rec(c: &mut Chart, merge: bool) -> Result<()> {
    for d in c.dependencies.iter_mut() {
        process_import_values_rec(d, merge)?;
    }
    process_import_values(c, merge)
}

fn process_import_values(c: &mut Chart, merge: bool) -> Result<()> {
    let Some(reqs) = c.metadata.dependencies.clone() else {
        return Ok(());
    };
    let empty = new_map();
    let cvals = if merge {
        merge_values(c, &empty)?
    } else {
        coalesce_values(c, &empty)?
    };
    let b = new_map();
    let mut out_reqs = reqs.clone();
    for (r, out) in reqs.iter().zip(out_reqs.iter_mut()) {
        let mut outiv = Vec::new();
        for iv in &r.import_values {
            let (child, parent) = match iv {
                ImportValue::Map { child, parent } => (child.clone(), parent.clone()),
                ImportValue::Export(s) => (format!("exports.{s}"), ".".to_string()),
            };
            outiv.push(ImportValue::Map {
                child: child.clone(),
                parent: parent.clone(),
            });
            let Some(vv) = table_at(&cvals, &format!("{}.{child}", r.name)) else {
                continue;
            };
            let src = path_to_map(&parent, vv);
            coalesce_tables(&b, &src, "", merge);
        }
        out.import_values = outiv;
    }
    c.metadata.dependencies = Some(out_reqs);
    let base = if merge {
        deep_copy_map(&cvals)
    } else {
        trim_nil(&cvals)
    };
    coalesce_tables(&base, &b, "", merge);
    c.values = Value::Map(base);
    Ok(())
}

fn trim_nil(m: &Map) -> Map {
    let copy = deep_copy_map(m);
    for (k, v) in copy.snapshot() {
        if v.is_nil() {
            remove(&copy, &k);
        } else if let Some(t) = table(&v) {
            copy.insert(k, Value::Map(trim_nil(&t)));
        }
    }
    copy
}

/// Whether `m` holds `key` (for callers that need Go's "present but nil").
pub fn contains(m: &Map, key: &str) -> bool {
    has(m, key)
}
