//! No template, however broken, makes the engine panic: every case template, cut short
//! and with characters replaced, must render or fail with an error.

use std::panic::AssertUnwindSafe;

use helm_template::helm;

/// The templates of every case file (section bodies under `--- templates/`).
fn case_templates() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cases"))
    {
        let text = std::fs::read_to_string(path).expect("a case file");
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.starts_with("--- ") || line.starts_with("=== ") {
                out.extend(current.take());
                if line.starts_with("--- templates/") {
                    current = Some(String::new());
                }
                continue;
            }
            if let Some(t) = current.as_mut() {
                t.push_str(line);
                t.push('\n');
            }
        }
        out.extend(current);
    }
    out
}

/// Mutations of a text: cut at several places, and characters that matter to the lexer put
/// in at several places (deterministic, so a failure repeats).
fn mutations(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    if chars.is_empty() {
        return out;
    }
    for k in 1..=4 {
        out.push(chars[..chars.len() * k / 5].iter().collect());
    }
    let inserts = [
        "}}", "{{", "(", ")", "|", "$", ".", "\"", "`", "-", " end ", "'", "0x", "\\",
    ];
    for (n, insert) in inserts.iter().enumerate() {
        let at = (n * 7919 + 13) % chars.len();
        let mut s: String = chars[..at].iter().collect();
        s.push_str(insert);
        s.extend(&chars[at..]);
        out.push(s);
    }
    out
}

fn render(text: &str) -> bool {
    let input = helm::RenderInput {
        chart: helm::ChartMetadata::new("case", "0.1.0", "1.0.0"),
        release: helm::Release::new("release", "default"),
        capabilities: helm::Capabilities::default(),
        templates: vec![("templates/a.yaml".into(), text.to_string())],
        values: helm::values_from_yaml("a: 1\nlist: [1, 2]\nm: {k: v}\ns: text\n").expect("values"),
        seed: 1.into(),
    };
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = helm::render(&input);
    }))
    .is_ok()
}

#[test]
fn broken_templates_fail_without_a_panic() {
    // Key generation is slow in a debug build and its inputs are not what is tested here.
    let slow = [
        "genCA",
        "genSigned",
        "genSelfSigned",
        "genPrivateKey",
        "buildCustomCert",
        "WithKey",
    ];
    let templates: Vec<String> = case_templates()
        .into_iter()
        .filter(|t| !slow.iter().any(|s| t.contains(s)))
        .collect();
    assert!(
        templates.len() > 1000,
        "the case files hold the templates ({})",
        templates.len()
    );
    let panics = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let mut panics = Vec::new();
            let mut rendered = 0;
            for t in &templates {
                for m in mutations(t) {
                    rendered += 1;
                    if !render(&m) {
                        panics.push(m);
                    }
                }
            }
            (rendered, panics)
        })
        .expect("a thread")
        .join()
        .expect("the render thread");
    let (rendered, panics) = panics;
    assert!(rendered > 10_000, "{rendered} renders");
    assert!(
        panics.is_empty(),
        "{} of {rendered} broken templates panicked; the first:\n{}",
        panics.len(),
        panics[0]
    );
}
