//! Our engine against Helm's: every case in tests/cases/*.cases (format in
//! tests/cases/README.md) is rendered by `helm-engine-ref` (Helm's own engine,
//! tests/tools/helm-engine-ref) and by `helm::render`, and the two must agree.
//!
//! `PLUMB_HELM_ENGINE_REF`: the reference binary (or its folder); otherwise
//! `bash tests/tools/build.sh helm` builds it once and prints its folder.
//! `PLUMB_HELM_CASES`: only the cases whose name contains this text.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use helm_template::{helm, Value};
use serde_json::Value as Json;

// ---------------------------------------------------------------- the cases

#[derive(Clone, Debug)]
enum Compare {
    Exact,
    Shape(Vec<String>),
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    /// "language.cases:12"
    at: String,
    values: String,
    templates: Vec<(String, String)>,
    compare: Compare,
}

enum Header {
    Case(String),
    /// `=== anything else`: ends the case.
    Comment,
    Values,
    Template(String),
    Compare(String),
}

/// The header a line is, or None for a content line.
fn header(line: &str) -> Result<Option<Header>, String> {
    if let Some(rest) = line.strip_prefix("=== case:") {
        let name = rest.trim();
        if name.is_empty() {
            return Err("a case needs a name".into());
        }
        return Ok(Some(Header::Case(name.to_string())));
    }
    if line.starts_with("===") {
        return Ok(Some(Header::Comment));
    }
    if line == "--- values.yaml" {
        return Ok(Some(Header::Values));
    }
    if let Some(path) = line.strip_prefix("--- templates/") {
        if path.is_empty() || path.chars().any(char::is_whitespace) {
            return Err(format!(
                "bad template header {line:?} (a path without spaces; escape content with \\)"
            ));
        }
        return Ok(Some(Header::Template(format!("templates/{path}"))));
    }
    if let Some(mode) = line.strip_prefix("--- compare:") {
        return match mode.trim() {
            "exact" | "shape" => Ok(Some(Header::Compare(mode.trim().to_string()))),
            other => Err(format!("unknown compare mode {other:?} (exact or shape)")),
        };
    }
    Ok(None)
}

/// A content line as written, less the escape: `\` before `---`/`===` (after
/// any further backslashes) is dropped.
fn unescape(line: &str) -> &str {
    let rest = line.trim_start_matches('\\');
    if rest.len() < line.len() && (rest.starts_with("---") || rest.starts_with("===")) {
        &line[1..]
    } else {
        line
    }
}

#[derive(PartialEq)]
enum Section {
    Values,
    Template(usize),
    Compare,
}

struct Partial {
    case: Case,
    section: Option<Section>,
    lines: Vec<String>,
    seen_values: bool,
    seen_compare: Option<String>,
}

impl Partial {
    /// Closes the current section; `last` drops its trailing empty lines.
    fn close_section(&mut self, last: bool) -> Result<(), String> {
        let mut lines = std::mem::take(&mut self.lines);
        if last {
            while lines.last().is_some_and(|l| l.is_empty()) {
                lines.pop();
            }
        }
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        match self.section.take() {
            None => {
                if lines.iter().any(|l| !l.is_empty()) {
                    return Err("content before the first section header".into());
                }
            }
            Some(Section::Values) => self.case.values = text,
            Some(Section::Template(i)) => self.case.templates[i].1 = text,
            Some(Section::Compare) => {
                let patterns: Vec<String> = lines.into_iter().filter(|l| !l.is_empty()).collect();
                match self.seen_compare.as_deref() {
                    Some("shape") => self.case.compare = Compare::Shape(patterns),
                    _ if !patterns.is_empty() => {
                        return Err("`compare: exact` takes no patterns".into())
                    }
                    _ => self.case.compare = Compare::Exact,
                }
            }
        }
        Ok(())
    }
}

fn parse_cases(file: &str, text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let mut current: Option<Partial> = None;
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    let finish = |p: Option<Partial>, cases: &mut Vec<Case>| -> Result<(), String> {
        if let Some(mut p) = p {
            let at = p.case.at.clone();
            p.close_section(true).map_err(|e| format!("{at}: {e}"))?;
            if p.case.templates.is_empty() {
                return Err(format!("{at}: case {:?} has no template", p.case.name));
            }
            cases.push(p.case);
        }
        Ok(())
    };
    for (i, line) in lines.iter().enumerate() {
        let at = format!("{file}:{}", i + 1);
        let err = |e: String| format!("{at}: {e}");
        let Some(p) = current.as_mut() else {
            match header(line).map_err(err)? {
                Some(Header::Case(name)) => {
                    current = Some(new_case(name, at));
                    continue;
                }
                Some(Header::Comment) => continue,
                None if line.is_empty() || line.starts_with('#') => continue,
                _ => {
                    return Err(err(
                        "expected `=== case: NAME` (only comments come between cases)".into(),
                    ))
                }
            }
        };
        match header(line).map_err(err)? {
            None => p.lines.push(unescape(line).to_string()),
            Some(Header::Case(name)) => {
                finish(current.take(), &mut cases)?;
                current = Some(new_case(name, at));
            }
            Some(Header::Comment) => finish(current.take(), &mut cases)?,
            Some(h) => {
                if p.seen_compare.is_some() {
                    return Err(err("`--- compare:` must be the last section".into()));
                }
                p.close_section(false).map_err(err)?;
                p.section = Some(match h {
                    Header::Values => {
                        if std::mem::replace(&mut p.seen_values, true) {
                            return Err(err("two values.yaml sections".into()));
                        }
                        Section::Values
                    }
                    Header::Template(path) => {
                        if p.case.templates.iter().any(|(t, _)| *t == path) {
                            return Err(err(format!("{path} twice in one case")));
                        }
                        p.case.templates.push((path, String::new()));
                        Section::Template(p.case.templates.len() - 1)
                    }
                    Header::Compare(mode) => {
                        p.seen_compare = Some(mode);
                        Section::Compare
                    }
                    Header::Case(_) | Header::Comment => unreachable!(),
                });
            }
        }
    }
    finish(current.take(), &mut cases)?;
    Ok(cases)
}

fn new_case(name: String, at: String) -> Partial {
    Partial {
        case: Case {
            name,
            at,
            values: String::new(),
            templates: Vec::new(),
            compare: Compare::Exact,
        },
        section: None,
        lines: Vec::new(),
        seen_values: false,
        seen_compare: None,
    }
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Every case of every file, names unique.
fn all_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/cases")
        .map(|e| e.expect("tests/cases entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cases"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tests/cases/*.cases files");
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        match parse_cases(&name, &text) {
            Ok(c) => cases.extend(c),
            Err(e) => problems.push(e),
        }
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for c in &cases {
        if let Some(first) = seen.insert(&c.name, &c.at) {
            problems.push(format!(
                "{}: case name {:?} already used at {first}",
                c.at, c.name
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "bad case files:\n{}",
        problems.join("\n")
    );
    cases
}

// ---------------------------------------------------------------- the reference program

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The helm-engine-ref binary; builds it when needed. Panics (never skips)
/// when it can't be had.
fn reference_binary() -> PathBuf {
    let path = match std::env::var_os("PLUMB_HELM_ENGINE_REF") {
        Some(p) => PathBuf::from(p),
        None => {
            let out = Command::new("bash")
                .arg("tests/tools/build.sh")
                .arg("helm")
                .current_dir(repo_root())
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("running bash tests/tools/build.sh helm: {e}"));
            assert!(
                out.status.success(),
                "`bash tests/tools/build.sh helm` failed ({}): the reference engine could not be built; \
                 it needs Go 1.26 in /usr/local/go and the Go module proxy (or set PLUMB_HELM_ENGINE_REF)",
                out.status
            );
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    let bin = if path.is_dir() {
        path.join("helm-engine-ref")
    } else {
        path
    };
    assert!(
        bin.is_file(),
        "the reference engine {} does not exist",
        bin.display()
    );
    bin
}

/// Runs the reference with `args`, `input` on stdin; its stdout.
fn run_reference(bin: &Path, args: &[&str], input: String) -> String {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .expect("reading the reference's output");
    let out = child.wait_with_output().expect("waiting for the reference");
    writer
        .join()
        .unwrap()
        .expect("writing the cases to the reference");
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}): {}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

type Outcome = Result<BTreeMap<String, String>, String>;

fn reference_outcomes(bin: &Path, cases: &[Case]) -> Vec<Outcome> {
    let input: Vec<Json> = cases
        .iter()
        .map(|c| serde_json::json!({"name": c.name, "values": c.values, "templates": c.templates}))
        .collect();
    let stdout = run_reference(bin, &[], Json::from(input).to_string());
    let results: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        results.len(),
        cases.len(),
        "the reference answered {} of {} cases",
        results.len(),
        cases.len()
    );
    cases
        .iter()
        .zip(results)
        .map(|(c, line)| {
            let r: Json = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("the reference's answer {line:?}: {e}"));
            assert_eq!(
                r.get("name").and_then(Json::as_str),
                Some(c.name.as_str()),
                "the reference's answers are out of order"
            );
            if let Some(e) = r.get("error") {
                return Err(e.as_str().expect("error is a string").to_string());
            }
            let Some(Json::Object(files)) = r.get("files") else {
                panic!("the reference's answer {line:?} has no files")
            };
            Ok(files
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().expect("output is a string").to_string(),
                    )
                })
                .collect())
        })
        .collect()
}

/// Whether each Go regexp matches its whole text, asked of the reference.
fn full_matches(bin: &Path, pairs: &[(String, String)]) -> Vec<bool> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let out = run_reference(bin, &["match"], serde_json::json!(pairs).to_string());
    let Ok(Json::Array(a)) = serde_json::from_str(out.trim()) else {
        panic!("match answered {out:?}")
    };
    assert_eq!(a.len(), pairs.len(), "match answered {out:?}");
    a.iter().map(|b| matches!(b, Json::Bool(true))).collect()
}

// ---------------------------------------------------------------- our engine

/// Our render of a case, on its own thread (a big stack, a deadline) so that
/// one panic, hang or deep recursion costs one case, not the run.
fn our_outcome(case: &Case) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let values = case.values.clone();
    let templates = case.templates.clone();
    let spawned = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let result = std::panic::catch_unwind(move || -> Outcome {
                let values: Value = helm::values_from_yaml(&values).map_err(|e| e.to_string())?;
                let input = helm::RenderInput {
                    chart: helm::ChartMetadata::new("case", "0.1.0", "1.0.0"),
                    release: helm::Release::new("release", "default"),
                    capabilities: helm::Capabilities::default(),
                    templates,
                    values,
                    seed: 1.into(),
                };
                helm::render(&input).map_err(|e| e.to_string())
            });
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(format!("<<harness: cannot spawn: {e}>>"));
    }
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("<<our engine panicked: {msg}>>"))
        }
        Err(_) => Err("<<our engine: no answer in 20 s>>".into()),
    }
}

// ---------------------------------------------------------------- comparing

struct Mismatch {
    case: String,
    at: String,
    file: String,
    offset: Option<usize>,
    expected: String,
    got: String,
}

fn first_difference(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// About 36 bytes of `s` from a little before `offset`, escaped.
fn snippet(s: &str, offset: usize) -> String {
    let mut start = offset.saturating_sub(10).min(s.len());
    while !s.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + 36).min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let body = format!("{:?}", &s[start..end]);
    format!(
        "{}{}{}",
        if start > 0 { "…" } else { "" },
        body,
        if end < s.len() { "…" } else { "" }
    )
}

/// `s` in at most `n` characters.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Ok(files) => format!(
            "ok: {}",
            files.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        // The end of a message says most: "…: function \"dict\" not defined".
        Err(e) => format!("error: {}", snippet(e, e.len().saturating_sub(26))),
    }
}

fn compare_exact(c: &Case, want: &Outcome, got: &Outcome, out: &mut Vec<Mismatch>) {
    let mut push = |file: &str, offset: Option<usize>, expected: String, got: String| {
        out.push(Mismatch {
            case: c.name.clone(),
            at: c.at.clone(),
            file: file.to_string(),
            offset,
            expected,
            got,
        })
    };
    match (want, got) {
        (Ok(w), Ok(g)) => {
            let names: BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            for name in names {
                match (w.get(name), g.get(name)) {
                    (Some(a), Some(b)) if a == b => {}
                    (Some(a), Some(b)) => {
                        let at = first_difference(a, b);
                        push(name, Some(at), snippet(a, at), snippet(b, at));
                    }
                    (Some(a), None) => push(name, None, snippet(a, 0), "(no such file)".into()),
                    (None, Some(b)) => push(name, None, "(no such file)".into(), snippet(b, 0)),
                    (None, None) => unreachable!(),
                }
            }
        }
        (Err(a), Err(b)) if a == b => {}
        (Err(a), Err(b)) => {
            let at = first_difference(a, b);
            push("(error)", Some(at), snippet(a, at), snippet(b, at));
        }
        _ => push("(outcome)", None, describe(want), describe(got)),
    }
}

#[test]
fn helm_agrees() {
    let filter = std::env::var("PLUMB_HELM_CASES").ok();
    let cases: Vec<Case> = all_cases()
        .into_iter()
        .filter(|c| filter.as_deref().is_none_or(|f| c.name.contains(f)))
        .collect();
    assert!(
        !cases.is_empty(),
        "no case matches PLUMB_HELM_CASES={filter:?}"
    );
    let bin = reference_binary();
    let reference = reference_outcomes(&bin, &cases);

    let mut mismatches = Vec::new();
    // Shape cases: (case index, side, file, pattern) for each pair sent to `match`.
    let mut shape_checks: Vec<(usize, &str, String, String)> = Vec::new();
    let mut pairs = Vec::new();
    let mut failed: BTreeSet<usize> = BTreeSet::new();
    let (mut exact_cases, mut exact_identical) = (0, 0);
    let ours: Vec<Outcome> = cases.iter().map(our_outcome).collect();
    for (i, ((c, want), got)) in cases.iter().zip(&reference).zip(&ours).enumerate() {
        let before = mismatches.len();
        match &c.compare {
            Compare::Exact => {
                exact_cases += 1;
                compare_exact(c, want, got, &mut mismatches);
                if mismatches.len() == before {
                    exact_identical += 1;
                }
            }
            Compare::Shape(patterns) => match (want, got) {
                (Err(_), Err(_)) => {}
                (Ok(w), Ok(g)) if w.keys().eq(g.keys()) => {
                    for (side, files) in [("expected", w), ("got", g)] {
                        for (file, text) in files {
                            for p in patterns {
                                shape_checks.push((i, side, file.clone(), p.clone()));
                                pairs.push((p.clone(), text.clone()));
                            }
                        }
                    }
                }
                _ => mismatches.push(Mismatch {
                    case: c.name.clone(),
                    at: c.at.clone(),
                    file: "(outcome)".into(),
                    offset: None,
                    expected: describe(want),
                    got: describe(got),
                }),
            },
        }
        if mismatches.len() > before {
            failed.insert(i);
        }
    }
    for ((i, side, file, pattern), ok) in shape_checks.into_iter().zip(full_matches(&bin, &pairs)) {
        if !ok {
            let c = &cases[i];
            let outcome = if side == "expected" {
                &reference[i]
            } else {
                &ours[i]
            };
            let text = match outcome {
                Ok(files) => files.get(&file).map(|t| snippet(t, 0)).unwrap_or_default(),
                Err(_) => String::new(),
            };
            let (expected, got) = if side == "expected" {
                (
                    format!("Helm's output does not match /{pattern}/ (fix the case): {text}"),
                    String::new(),
                )
            } else {
                (
                    format!("/{pattern}/"),
                    format!("ours does not match: {text}"),
                )
            };
            failed.insert(i);
            mismatches.push(Mismatch {
                case: c.name.clone(),
                at: c.at.clone(),
                file,
                offset: None,
                expected,
                got,
            });
        }
    }

    let total = cases.len();
    let passed = total - failed.len();
    let pct = |a: usize, b: usize| {
        if b == 0 {
            100.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    if !mismatches.is_empty() {
        println!(
            "\n{} mismatches in {} cases:",
            mismatches.len(),
            failed.len()
        );
        let row = |at: &str, case: &str, file: &str, byte: &str, expected: &str, got: &str| {
            println!(
                "{at:<20} {:<40} {:<22} {byte:>5}  {expected:<50} {got}",
                clip(case, 40),
                clip(file, 22)
            )
        };
        row(
            "where",
            "case",
            "file",
            "byte",
            "expected (Helm)",
            "got (ours)",
        );
        for m in &mismatches {
            let offset = m
                .offset
                .map(|o| o.to_string())
                .unwrap_or_else(|| "-".into());
            let file = m.file.strip_prefix("case/").unwrap_or(&m.file);
            row(&m.at, &m.case, file, &offset, &m.expected, &m.got);
        }
    }
    println!(
        "\nreference: {total} cases ({exact_cases} exact, {} shape); {passed} agree ({:.1}%); \
         byte-identical: {exact_identical} of {exact_cases} exact cases ({:.1}%)",
        total - exact_cases,
        pct(passed, total),
        pct(exact_identical, exact_cases)
    );
    assert!(
        mismatches.is_empty(),
        "{} of {total} cases disagree with Helm (table above)",
        failed.len()
    );
}

// ---------------------------------------------------------------- coverage of the function list

/// Identifiers in the actions of a template that could be function calls:
/// not fields (`.x`), not variables (`$x`), outside string and char literals.
fn called_identifiers(text: &str, out: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let b = rest.as_bytes();
        let mut i = open + 2;
        // A comment: {{/* */}} or {{- /* */ -}}.
        let body = rest[i..].trim_start_matches('-').trim_start();
        if body.starts_with("/*") {
            let from = rest.len() - body.len();
            i = rest[from..].find("*/").map_or(rest.len(), |e| from + e + 2);
            rest = &rest[i..];
            continue;
        }
        let mut prev: u8 = b' ';
        while i < b.len() {
            let ch = b[i];
            if ch == b'}' && b.get(i + 1) == Some(&b'}') {
                break;
            }
            match ch {
                b'"' | b'\'' => {
                    i += 1;
                    while i < b.len() && b[i] != ch {
                        if b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                    prev = ch;
                }
                b'`' => {
                    i += 1;
                    while i < b.len() && b[i] != b'`' {
                        i += 1;
                    }
                    i += 1;
                    prev = ch;
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    if prev != b'.' && prev != b'$' && !prev.is_ascii_digit() {
                        out.insert(rest[start..i].to_string());
                    }
                    prev = b'a';
                }
                c => {
                    prev = c;
                    i += 1;
                }
            }
        }
        rest = &rest[i.min(rest.len())..];
    }
}

#[test]
fn every_documented_function_has_a_case() {
    let mut used = BTreeSet::new();
    for c in all_cases() {
        for (_, text) in &c.templates {
            called_identifiers(text, &mut used);
        }
    }
    let missing: Vec<&str> = helm_template::functions()
        .into_iter()
        .filter(|f| !used.contains(*f))
        .collect();
    assert!(
        missing.is_empty(),
        "{} functions appear in no case template (tests/cases/*.cases): {}",
        missing.len(),
        missing.join(" ")
    );
}

#[test]
fn case_format() {
    let text = "# comment\n\n=== case: one\n--- values.yaml\na: 1\n--- templates/a.yaml\n\\--- values.yaml\n---\n\
                \\\\=== x\n\n--- compare: shape\nx+\n\n\n=== case: two\n--- templates/b.yaml\n{{ 1 }}\n\n\
                === more ===\n# c\n\n=== case: three\n--- templates/c.yaml\n\\=== c\n";
    let cases = parse_cases("t.cases", text).unwrap();
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[2].templates[0].1, "=== c\n");
    assert_eq!(cases[0].values, "a: 1\n");
    assert_eq!(
        cases[0].templates,
        vec![(
            "templates/a.yaml".to_string(),
            "--- values.yaml\n---\n\\=== x\n\n".to_string()
        )]
    );
    assert!(matches!(&cases[0].compare, Compare::Shape(p) if p == &["x+".to_string()]));
    assert_eq!(cases[1].templates[0].1, "{{ 1 }}\n");
    assert!(matches!(cases[1].compare, Compare::Exact));
    assert!(parse_cases("t", "junk\n").is_err());
    assert!(parse_cases("t", "=== case: x\n--- templates/a\n=== end\njunk\n").is_err());
    assert!(parse_cases("t", "=== case: x\n--- values.yaml\n").is_err());
    assert!(parse_cases("t", "=== case: x\n--- templates/a b\n").is_err());
    assert!(parse_cases("t", "=== case: x\n--- templates/a\n--- compare: nope\n").is_err());
    let mut ids = BTreeSet::new();
    called_identifiers(
        "a {{ quote .x | upper $y \"lower\" 'c' `raw` (b 1) }} trim {{ end }}{{- /* no */ -}}",
        &mut ids,
    );
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        ["b", "end", "quote", "upper"]
    );
}
