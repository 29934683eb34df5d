//! Flux's substitution language, plumb's port against Flux's own code: every case is
//! substituted by `envsubst-ref` (Flux's github.com/fluxcd/pkg/envsubst on JSON cases,
//! tests/tools/envsubst-ref, built by `bash tests/tools/build.sh flux-envsubst`) and by
//! `plumb::render::envsubst::eval`, and the two must agree: the same text, or errors with
//! the same message.
//!
//! The cases: tests/fixtures/substitute/text.yaml (ours), every character through the
//! casing operators and as a variable name, and pseudo-random texts. Where Go panics
//! (`${a:1:-1}`) plumb says "bad substitution". The reference runs once for all the cases.
//! Outside CI a reference that can't be built skips the test (saying so); under CI=true it
//! fails it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use plumb::render::envsubst::{eval, EnvsubstError};
use serde::Deserialize;
use serde_json::{json, Value};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The envsubst-ref binary: `PLUMB_ENVSUBST_REF` (the binary or its folder), or built by
/// tests/tools/build.sh. None (after saying why) when it can't be had outside CI.
fn reference_binary() -> Option<PathBuf> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY.get_or_init(find_reference).clone()
}

fn find_reference() -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let unavailable = |why: String| {
        assert!(!ci, "{why}");
        eprintln!("skipped: {why}");
        None
    };
    let path = match std::env::var_os("PLUMB_ENVSUBST_REF") {
        Some(p) => PathBuf::from(p),
        None => {
            let out = match Command::new("bash")
                .arg("tests/tools/build.sh")
                .arg("flux-envsubst")
                .current_dir(repo_root())
                .stderr(Stdio::inherit())
                .output()
            {
                Ok(out) => out,
                Err(e) => {
                    return unavailable(format!(
                        "running bash tests/tools/build.sh flux-envsubst: {e}"
                    ))
                }
            };
            if !out.status.success() {
                return unavailable(format!(
                    "`bash tests/tools/build.sh flux-envsubst` failed ({}): the reference could \
                     not be built; it needs Go 1.26 in /usr/local/go and the Go module proxy \
                     (or set PLUMB_ENVSUBST_REF)",
                    out.status
                ));
            }
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    let bin = if path.is_dir() {
        path.join("envsubst-ref")
    } else {
        path
    };
    if !bin.is_file() {
        return unavailable(format!("the reference {} does not exist", bin.display()));
    }
    Some(bin)
}

/// Runs cases (a JSON array of `{"mode": "text" | "object", "input": ..., "vars": {...},
/// "strict": bool}`) through Flux's envsubst, in one process; the results, in order:
/// `{"output": <text or JSON value>, "error": null}` or `{"output": null, "error": "..."}`.
/// Panics when the reference can't be had or fails.
pub fn reference(cases: &Value) -> Value {
    let bin = reference_binary().expect("the reference envsubst-ref is not available");
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let input = serde_json::to_vec(cases).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{} failed: {}",
        bin.display(),
        out.status
    );
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = cases.as_array().map_or(0, Vec::len);
    assert_eq!(
        results.as_array().map(Vec::len),
        Some(n),
        "{} answered {n} cases with something else",
        bin.display()
    );
    results
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextCase {
    name: String,
    text: String,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    strict: bool,
}

/// The fixture's cases, then the generated ones.
fn cases() -> Vec<TextCase> {
    let path = repo_root().join("tests/fixtures/substitute/text.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut cases: Vec<TextCase> =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fixture = cases.len();
    assert!(fixture >= 120, "{fixture} cases in {}", path.display());

    // Every character through Go's simple case mappings (a newer Unicode in Rust maps
    // more characters than Go's 15.0 does).
    // In ranges of 0x40000 code points, each well under envsubst::MAX_OUTPUT as text.
    const RANGE: u32 = 0x40000;
    for start in (1..=0x10FFFFu32).step_by(RANGE as usize) {
        let end = (start + RANGE - 1).min(0x10FFFF);
        let range: String = (start..=end).filter_map(char::from_u32).collect();
        assert!(range.len() * 2 < plumb::render::envsubst::MAX_OUTPUT);
        for op in ["^^", ",,"] {
            cases.push(TextCase {
                name: format!("every character U+{start:04X}..U+{end:04X} through {op}"),
                text: format!("${{range{op}}}"),
                vars: BTreeMap::from([("range".to_string(), range.clone())]),
                strict: false,
            });
        }
    }
    // Every character that may be a letter or a digit, in a variable's name.
    for c in (0x80..=0x10FFFFu32).filter_map(char::from_u32) {
        if c.is_alphanumeric() {
            cases.push(TextCase {
                name: format!("U+{:04X} in a name", u32::from(c)),
                text: format!("${{x{c}}}"),
                vars: BTreeMap::from([(format!("x{c}"), "letter".to_string())]),
                strict: true,
            });
        }
    }
    // Pseudo-random texts from the operators' alphabet (a fixed xorshift).
    const ALPHABET: &[&str] = &[
        "$", "{", "}", ":", "-", "=", "+", "?", "#", "%", "/", ",", "^", "\\", "a", "b", "1", " ",
        "é", "*", "[", "]",
    ];
    const VALUES: &[&str] = &["", "a", "ab/é", "é1b", "-1", "2", "*a*", "$${a}"];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    for i in 0..20_000 {
        let text: String = (0..next() % 20)
            .map(|_| ALPHABET[next() % ALPHABET.len()])
            .collect();
        let mut vars = BTreeMap::new();
        for name in ["a", "b"] {
            if next() % 4 != 0 {
                vars.insert(name.to_string(), VALUES[next() % VALUES.len()].to_string());
            }
        }
        cases.push(TextCase {
            name: format!("random #{i}"),
            text,
            vars,
            strict: i % 2 == 0,
        });
    }
    cases
}

/// Ours, as the reference tool writes it: the text, or the error's message.
fn ours(case: &TextCase) -> Result<String, EnvsubstError> {
    let lookup = |name: &str| match case.vars.get(name) {
        Some(v) => Some(v.clone()),
        None if case.strict => None,
        None => Some(String::new()),
    };
    eval(&case.text, &lookup)
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 200 {
        format!("{s:?}")
    } else {
        format!(
            "{:?}... ({} bytes)",
            s.chars().take(200).collect::<String>(),
            s.len()
        )
    }
}

#[test]
fn text_cases_match_flux() {
    if reference_binary().is_none() {
        return;
    }
    let cases = cases();
    let input: Vec<Value> = cases
        .iter()
        .map(|c| json!({"mode": "text", "input": c.text, "vars": c.vars, "strict": c.strict}))
        .collect();
    let results = reference(&Value::Array(input));
    let mut mismatches = Vec::new();
    for (case, result) in cases.iter().zip(results.as_array().unwrap()) {
        let theirs = match (&result["output"], &result["error"]) {
            (Value::String(out), Value::Null) => Ok(out.as_str()),
            (Value::Null, Value::String(e)) => Err(e.as_str()),
            other => panic!("{}: the reference answered {other:?}", case.name),
        };
        let ours = ours(case);
        let agree = match (&ours, theirs) {
            (Ok(a), Ok(b)) => a == b,
            // Go panics slicing; plumb says so.
            (Err(EnvsubstError::BadSubstitution), Err(e)) if e.starts_with("panic: ") => true,
            (Err(a), Err(b)) => a.to_string() == b,
            _ => false,
        };
        if !agree {
            mismatches.push(format!(
                "{}: text {}, vars {:?}, strict {}\n  flux:  {}\n  plumb: {}",
                case.name,
                shorten(&case.text),
                case.vars.keys().collect::<Vec<_>>(),
                case.strict,
                match theirs {
                    Ok(s) => shorten(s),
                    Err(e) => format!("error: {e}"),
                },
                match &ours {
                    Ok(s) => shorten(s),
                    Err(e) => format!("error: {e}"),
                },
            ));
        }
    }
    eprintln!(
        "{} cases through Flux's envsubst and plumb's, {} differ",
        cases.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ from Flux's envsubst:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectCase {
    name: String,
    object: Value,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default = "yes")]
    strict: bool,
    /// plumb refuses what Flux reads as YAML structure.
    #[serde(default)]
    refused: bool,
}

fn yes() -> bool {
    true
}

/// Whole objects: Flux's round trip through YAML against plumb's typing of each value.
#[test]
fn object_cases_match_flux() {
    use plumb::render::substitute::{substitute, Variables, Why};
    if reference_binary().is_none() {
        return;
    }
    let path = repo_root().join("tests/fixtures/substitute/objects.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let cases: Vec<ObjectCase> =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        cases.len() >= 30,
        "{} cases in {}",
        cases.len(),
        path.display()
    );
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            // Flux removes line breaks when it loads the variables, before varSubstitution.
            let vars: BTreeMap<&String, String> = c
                .vars
                .iter()
                .map(|(k, v)| (k, v.replace('\n', "")))
                .collect();
            json!({"mode": "object", "input": c.object, "vars": vars, "strict": c.strict})
        })
        .collect();
    let results = reference(&Value::Array(input));
    let mut mismatches = Vec::new();
    for (case, result) in cases.iter().zip(results.as_array().unwrap()) {
        let vars = Variables::new(case.vars.clone(), case.strict);
        let ours = substitute(&case.object, &vars);
        let agree = match (&ours, &result["error"]) {
            (Err(e), _) if case.refused => e.why == Why::Structure,
            (_, _) if case.refused => false,
            (Ok(ours), Value::Null) => *ours == result["output"],
            (Err(_), Value::String(_)) => true,
            _ => false,
        };
        if !agree {
            mismatches.push(format!(
                "{}:\n  flux:  {}\n  plumb: {}",
                case.name,
                match &result["error"] {
                    Value::String(e) => format!("error: {e}"),
                    _ => result["output"].to_string(),
                },
                match &ours {
                    Ok(v) => v.to_string(),
                    Err(e) => format!("error: {e}"),
                }
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} objects differ from Flux's substitution:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
