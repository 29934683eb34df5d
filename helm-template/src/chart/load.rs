//! Loading charts from directories and archives, as Helm's `chart/loader` does.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value as Y;

use super::archive;
use super::glob::Glob;
use super::semver;
use super::{
    Chart, Dependency, Error, File, ImportValue, Metadata, MAX_CHART_BYTES, MAX_FILE_BYTES,
};
use crate::funcs::misc::path_clean;
use crate::Value;

const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// `.helmignore` rules, with Helm's semantics (including its reading of `!` rules).
struct Rules {
    patterns: Vec<Pattern>,
}

enum Scope {
    /// A rule with a '/': matched against the whole path.
    Path,
    /// A rule without one: matched against the base name.
    Base,
}

struct Pattern {
    negate: bool,
    must_dir: bool,
    scope: Scope,
    glob: Glob,
}

impl Rules {
    fn parse(text: &str, file: &str) -> Result<Rules, Error> {
        let mut r = Rules {
            patterns: Vec::new(),
        };
        for (i, line) in text.lines().enumerate() {
            r.add(line)
                .map_err(|m| Error::new(&format!("{file}:{}", i + 1), &m))?;
        }
        Ok(r)
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let mut rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        if Glob::go(rule).is_none() {
            return Err(format!("syntax error in pattern {rule:?}"));
        }
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let must_dir = rule.ends_with('/');
        if must_dir {
            rule = &rule[..rule.len() - 1];
        }
        let (scope, text) = if let Some(r) = rule.strip_prefix('/') {
            (Scope::Path, r)
        } else if rule.contains('/') {
            (Scope::Path, rule)
        } else {
            (Scope::Base, rule)
        };
        let glob = Glob::go(text).ok_or_else(|| format!("syntax error in pattern {rule:?}"))?;
        self.patterns.push(Pattern {
            negate,
            must_dir,
            scope,
            glob,
        });
        Ok(())
    }

    fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let subject = match p.scope {
                Scope::Path => path,
                Scope::Base => path.rsplit('/').next().unwrap_or(path),
            };
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !p.glob.matches(subject) {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if p.glob.matches(subject) {
                return true;
            }
        }
        false
    }
}

/// Loads a chart directory (Helm's `loader.LoadDir`), refusing symlinks.
pub fn load_dir(dir: &Path) -> Result<Chart, Error> {
    let shown = dir.display().to_string();
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::new(&shown, &e.to_string()))?;
    if meta.is_file() {
        let data = read_capped(dir, &shown)?;
        return load_archive(&data, &shown);
    }
    if !meta.is_dir() {
        return Err(Error::new(&shown, "is not a chart directory"));
    }
    let mut rules = Rules {
        patterns: Vec::new(),
    };
    let ignore_file = dir.join(".helmignore");
    if ignore_file.is_file() {
        let text = std::fs::read_to_string(&ignore_file)
            .map_err(|e| Error::new(&ignore_file.display().to_string(), &e.to_string()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        rules = Rules::parse(text, &ignore_file.display().to_string())?;
    }
    rules
        .add("templates/.?*")
        .map_err(|m| Error::new(&shown, &m))?;
    let mut files = Vec::new();
    let mut total = 0usize;
    walk(dir, "", &rules, &mut files, &mut total, 0)?;
    load_files(files, &shown)
}

/// Loads a chart from files already in memory (a Git revision), named relative to the
/// chart's folder, with the same rules as a directory: `.helmignore`, no hidden files under
/// templates/, the size limits, a byte-order mark dropped.
pub fn load_memory(files: Vec<File>, what: &str) -> Result<Chart, Error> {
    let mut rules = Rules {
        patterns: Vec::new(),
    };
    if let Some(f) = files.iter().find(|f| f.name == ".helmignore") {
        let shown = format!("{what}/.helmignore");
        let text = std::str::from_utf8(&f.data).map_err(|_| Error::new(&shown, "is not UTF-8"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        rules = Rules::parse(text, &shown)?;
    }
    rules
        .add("templates/.?*")
        .map_err(|m| Error::new(what, &m))?;
    let mut kept = Vec::new();
    let mut total = 0usize;
    for mut f in files {
        let parts: Vec<&str> = f.name.split('/').collect();
        let ignored = (1..parts.len()).any(|i| rules.ignore(&parts[..i].join("/"), true))
            || rules.ignore(&f.name, false);
        if ignored {
            continue;
        }
        let shown = format!("{what}/{}", f.name);
        if f.data.len() > MAX_FILE_BYTES {
            return Err(Error::new(
                &shown,
                &format!("is larger than the maximum file size {MAX_FILE_BYTES}"),
            ));
        }
        total += f.data.len();
        if total > MAX_CHART_BYTES {
            return Err(Error::new(
                &shown,
                &format!("makes the chart larger than {} MiB", MAX_CHART_BYTES >> 20),
            ));
        }
        if f.data.starts_with(BOM) {
            f.data.drain(..3);
        }
        kept.push(f);
    }
    load_files(kept, what)
}

fn read_capped(path: &Path, shown: &str) -> Result<Vec<u8>, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::new(shown, &e.to_string()))?;
    if meta.len() > MAX_CHART_BYTES as u64 {
        return Err(Error::new(
            shown,
            &format!("is larger than {} MiB", MAX_CHART_BYTES >> 20),
        ));
    }
    std::fs::read(path).map_err(|e| Error::new(shown, &e.to_string()))
}

fn walk(
    dir: &Path,
    rel: &str,
    rules: &Rules,
    out: &mut Vec<File>,
    total: &mut usize,
    depth: usize,
) -> Result<(), Error> {
    let shown = dir.display().to_string();
    if depth > 64 {
        return Err(Error::new(&shown, "is nested too deeply"));
    }
    let mut entries: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| Error::new(&shown, &e.to_string()))?
        .map(|e| e.map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::new(&shown, &e.to_string()))?;
    entries.sort();
    for (name, path) in entries {
        let n = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let shown = path.display().to_string();
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| Error::new(&shown, &e.to_string()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            if rules.ignore(&n, true) {
                continue;
            }
            walk(&path, &n, rules, out, total, depth + 1)?;
            continue;
        }
        if rules.ignore(&n, false) {
            continue;
        }
        if ft.is_symlink() {
            return Err(Error::new(
                &shown,
                "is a symlink; charts may not contain links",
            ));
        }
        if !ft.is_file() {
            return Err(Error::new(&shown, "is not a regular file"));
        }
        if meta.len() > MAX_FILE_BYTES as u64 {
            return Err(Error::new(
                &shown,
                &format!("is larger than the maximum file size {MAX_FILE_BYTES}"),
            ));
        }
        *total += meta.len() as usize;
        if *total > MAX_CHART_BYTES {
            return Err(Error::new(
                &shown,
                &format!("makes the chart larger than {} MiB", MAX_CHART_BYTES >> 20),
            ));
        }
        let mut data = std::fs::read(&path).map_err(|e| Error::new(&shown, &e.to_string()))?;
        if data.starts_with(BOM) {
            data.drain(..3);
        }
        out.push(File { name: n, data });
    }
    Ok(())
}

/// Loads a chart archive (Helm's `loader.LoadArchive`); `what` names it in errors.
pub fn load_archive(data: &[u8], what: &str) -> Result<Chart, Error> {
    let tar = archive::gunzip(data, what, MAX_CHART_BYTES)?;
    let entries = archive::untar(&tar, what)?;
    let mut files = Vec::new();
    for e in entries {
        let delim = if e.name.contains('\\') { '\\' } else { '/' };
        let parts: Vec<&str> = e.name.split(delim).collect();
        let n = parts[1..].join("/");
        if n.starts_with('/') {
            return Err(Error::new(
                &format!("{what}: {}", e.name),
                "is an absolute path",
            ));
        }
        let n = path_clean(&n);
        if n == "." {
            return Err(Error::new(
                &format!("{what}: {}", e.name),
                "is outside the chart's base directory",
            ));
        }
        if n.starts_with("..") {
            return Err(Error::new(
                &format!("{what}: {}", e.name),
                "references the parent directory",
            ));
        }
        if n.len() >= 3 && n.as_bytes()[0].is_ascii_alphabetic() && n.as_bytes()[1..3] == *b":/" {
            return Err(Error::new(
                &format!("{what}: {}", e.name),
                "is an illegally named file",
            ));
        }
        if parts[0] == "Chart.yaml" {
            return Err(Error::new(
                what,
                "has its Chart.yaml outside a base directory",
            ));
        }
        let mut data = e.data;
        if data.starts_with(BOM) {
            data.drain(..3);
        }
        files.push(File { name: n, data });
    }
    if files.is_empty() {
        return Err(Error::new(what, "has no files in the chart archive"));
    }
    load_files(files, what)
}

fn yaml_doc(data: &[u8], file: &str) -> Result<Y, Error> {
    let text = std::str::from_utf8(data).map_err(|_| Error::new(file, "is not UTF-8"))?;
    serde_yaml_ng::from_str(text).map_err(|e| Error::new(file, &e.to_string()))
}

/// Helm's `LoadFiles`: which file is what, then the subcharts under charts/.
pub fn load_files(files: Vec<File>, what: &str) -> Result<Chart, Error> {
    let mut metadata: Option<Metadata> = None;
    for f in &files {
        if f.name == "Chart.yaml" {
            let doc = yaml_doc(&f.data, &format!("{what}/Chart.yaml"))?;
            let mut md = parse_metadata(&doc, &format!("{what}/Chart.yaml"))?;
            if md.api_version.is_empty() {
                md.api_version = "v1".into();
            }
            metadata = Some(md);
        }
    }
    let mut c = Chart {
        metadata: metadata.clone().unwrap_or_default(),
        ..Chart::default()
    };
    let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" | "Chart.lock" | "requirements.lock" => {}
            "values.yaml" => {
                let file = format!("{what}/values.yaml");
                let text =
                    std::str::from_utf8(&f.data).map_err(|_| Error::new(&file, "is not UTF-8"))?;
                c.values = crate::helm::values_from_yaml(text)
                    .map_err(|e| Error::new(&file, &e.to_string()))?;
            }
            "values.schema.json" => {
                let file = format!("{what}/values.schema.json");
                c.schema =
                    Some(String::from_utf8(f.data).map_err(|_| Error::new(&file, "is not UTF-8"))?);
            }
            "requirements.yaml" => {
                let file = format!("{what}/requirements.yaml");
                let doc = yaml_doc(&f.data, &file)?;
                if let Some(deps) = doc.get("dependencies") {
                    c.metadata.dependencies = parse_dependencies(deps, &file)?;
                }
                if c.metadata.api_version == "v1" {
                    c.files.push(f);
                }
            }
            n if n.starts_with("templates/") => c.templates.push(f),
            n if n.starts_with("charts/") => {
                if n.ends_with(".prov") {
                    c.files.push(f);
                    continue;
                }
                let fname = &n["charts/".len()..];
                let cname = fname.split('/').next().unwrap_or("").to_string();
                subcharts.entry(cname).or_default().push(File {
                    name: fname.to_string(),
                    data: f.data,
                });
            }
            _ => c.files.push(f),
        }
    }
    if metadata.is_none() {
        return Err(Error::new(&format!("{what}/Chart.yaml"), "is missing"));
    }
    validate(&c.metadata, &format!("{what}/Chart.yaml"))?;
    for (n, files) in subcharts {
        if n.starts_with('_') || n.starts_with('.') {
            continue;
        }
        let sub_what = format!("{what}/charts/{n}");
        let sc = if n.ends_with(".tgz") {
            let Some(file) = files.into_iter().next().filter(|f| f.name == n) else {
                return Err(Error::new(
                    &sub_what,
                    "is a directory named like an archive",
                ));
            };
            load_archive(&file.data, &sub_what)?
        } else {
            let buff: Vec<File> = files
                .into_iter()
                .filter_map(|f| {
                    let (_, rest) = f.name.split_once('/')?;
                    Some(File {
                        name: rest.to_string(),
                        data: f.data,
                    })
                })
                .collect();
            load_files(buff, &sub_what)?
        };
        c.dependencies.push(sc);
    }
    Ok(c)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

fn field_str(m: &Y, key: &str, file: &str) -> Result<String, Error> {
    match m.get(key) {
        None | Some(Y::Null) => Ok(String::new()),
        Some(Y::String(s)) => Ok(s.clone()),
        Some(other) => Err(Error::new(
            file,
            &format!("{key} must be a string, not {}", kind(other)),
        )),
    }
}

fn kind(v: &Y) -> &'static str {
    match v {
        Y::Null => "null",
        Y::Bool(_) => "a boolean",
        Y::Number(_) => "a number",
        Y::String(_) => "a string",
        Y::Sequence(_) => "a list",
        Y::Mapping(_) => "a map",
        Y::Tagged(_) => "a tagged value",
    }
}

fn field_strings(m: &Y, key: &str, file: &str) -> Result<Vec<String>, Error> {
    match m.get(key) {
        None | Some(Y::Null) => Ok(Vec::new()),
        Some(Y::Sequence(items)) => items
            .iter()
            .map(|i| match i {
                Y::String(s) => Ok(s.clone()),
                other => Err(Error::new(
                    file,
                    &format!("{key} must list strings, not {}", kind(other)),
                )),
            })
            .collect(),
        Some(other) => Err(Error::new(
            file,
            &format!("{key} must be a list, not {}", kind(other)),
        )),
    }
}

fn field_bool(m: &Y, key: &str, file: &str) -> Result<bool, Error> {
    match m.get(key) {
        None | Some(Y::Null) => Ok(false),
        Some(Y::Bool(b)) => Ok(*b),
        Some(other) => Err(Error::new(
            file,
            &format!("{key} must be a boolean, not {}", kind(other)),
        )),
    }
}

fn parse_metadata(doc: &Y, file: &str) -> Result<Metadata, Error> {
    if doc.is_null() {
        return Ok(Metadata::default());
    }
    if !doc.is_mapping() {
        return Err(Error::new(
            file,
            &format!("must be a map, not {}", kind(doc)),
        ));
    }
    let mut annotations = BTreeMap::new();
    match doc.get("annotations") {
        None | Some(Y::Null) => {}
        Some(Y::Mapping(m)) => {
            for (k, v) in m {
                let (Y::String(k), Y::String(v)) = (k, v) else {
                    return Err(Error::new(file, "annotations must map strings to strings"));
                };
                annotations.insert(k.clone(), v.clone());
            }
        }
        Some(other) => {
            return Err(Error::new(
                file,
                &format!("annotations must be a map, not {}", kind(other)),
            ))
        }
    }
    let dependencies = match doc.get("dependencies") {
        None | Some(Y::Null) => None,
        Some(d) => parse_dependencies(d, file)?,
    };
    Ok(Metadata {
        name: sanitize(&field_str(doc, "name", file)?),
        home: sanitize(&field_str(doc, "home", file)?),
        sources: field_strings(doc, "sources", file)?
            .iter()
            .map(|s| sanitize(s))
            .collect(),
        version: field_str(doc, "version", file)?,
        description: sanitize(&field_str(doc, "description", file)?),
        keywords: field_strings(doc, "keywords", file)?
            .iter()
            .map(|s| sanitize(s))
            .collect(),
        icon: sanitize(&field_str(doc, "icon", file)?),
        api_version: field_str(doc, "apiVersion", file)?,
        condition: sanitize(&field_str(doc, "condition", file)?),
        tags: sanitize(&field_str(doc, "tags", file)?),
        app_version: sanitize(&field_str(doc, "appVersion", file)?),
        deprecated: field_bool(doc, "deprecated", file)?,
        annotations,
        kube_version: sanitize(&field_str(doc, "kubeVersion", file)?),
        dependencies,
        chart_type: field_str(doc, "type", file)?,
    })
}

fn parse_dependencies(d: &Y, file: &str) -> Result<Option<Vec<Dependency>>, Error> {
    let Y::Sequence(items) = d else {
        return Err(Error::new(
            file,
            &format!("dependencies must be a list, not {}", kind(d)),
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{file}: dependencies[{i}]");
        if item.is_null() {
            return Err(Error::new(
                file,
                "dependencies must not contain empty or null nodes",
            ));
        }
        if !item.is_mapping() {
            return Err(Error::new(
                &at,
                &format!("must be a map, not {}", kind(item)),
            ));
        }
        let mut import_values = Vec::new();
        match item.get("import-values") {
            None | Some(Y::Null) => {}
            Some(Y::Sequence(ivs)) => {
                for iv in ivs {
                    match iv {
                        Y::String(s) => import_values.push(ImportValue::Export(s.clone())),
                        Y::Mapping(_) => {
                            let show = |k: &str| match iv.get(k) {
                                Some(v) => crate::gofmt::sprint(&[Value::from_yaml_value(v, true)]),
                                None => "<nil>".to_string(),
                            };
                            import_values.push(ImportValue::Map {
                                child: show("child"),
                                parent: show("parent"),
                            });
                        }
                        _ => {}
                    }
                }
            }
            Some(other) => {
                return Err(Error::new(
                    &at,
                    &format!("import-values must be a list, not {}", kind(other)),
                ));
            }
        }
        out.push(Dependency {
            name: sanitize(&field_str(item, "name", &at)?),
            version: sanitize(&field_str(item, "version", &at)?),
            repository: sanitize(&field_str(item, "repository", &at)?),
            condition: sanitize(&field_str(item, "condition", &at)?),
            tags: field_strings(item, "tags", &at)?
                .iter()
                .map(|s| sanitize(s))
                .collect(),
            enabled: field_bool(item, "enabled", &at)?,
            import_values,
            alias: field_str(item, "alias", &at)?,
        });
    }
    Ok(Some(out))
}

/// Helm's `Metadata.Validate`.
fn validate(md: &Metadata, file: &str) -> Result<(), Error> {
    let bad = |m: &str| Err(Error::new(file, m));
    if md.api_version.is_empty() {
        return bad("apiVersion is required");
    }
    if md.name.is_empty() {
        return bad("name is required");
    }
    if md.name == "." || md.name == ".." || md.name.contains('/') {
        return bad(&format!("name {:?} is invalid", md.name));
    }
    if md.version.is_empty() {
        return bad("version is required");
    }
    if semver::Version::parse(&md.version).is_err() {
        return bad(&format!(
            "version {:?} is not a semantic version",
            md.version
        ));
    }
    if !matches!(md.chart_type.as_str(), "" | "application" | "library") {
        return bad("type must be application or library");
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in md.dependencies.iter().flatten() {
        if !d.alias.is_empty()
            && !d
                .alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad(&format!(
                "dependency {:?} has disallowed characters in the alias",
                d.name
            ));
        }
        let key = if d.alias.is_empty() {
            &d.name
        } else {
            &d.alias
        };
        if !seen.insert(key.clone()) {
            return bad(&format!(
                "more than one dependency with name or alias {key:?}"
            ));
        }
    }
    Ok(())
}
