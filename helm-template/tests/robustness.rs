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

/// A template can build a value nested 100,000 deep in a loop. Walking it (printing,
/// encoding, copying, comparing, merging) and freeing it must not overflow the stack,
/// which would abort the process rather than fail the render.
#[test]
fn values_nested_past_the_stack_are_walked_and_freed_without_overflow() {
    let build_list = "{{ $x := list }}{{ range until 100000 }}{{ $x = list $x }}{{ end }}";
    let build_dict = "{{ $x := dict }}{{ range until 100000 }}{{ $x = dict \"a\" $x }}{{ end }}";
    let uses = [
        "{{ toYaml $x | len }}",
        "{{ toJson $x | len }}",
        "{{ toToml $x | len }}",
        "{{ toString $x | len }}",
        "{{ printf \"%v %#v\" $x $x | len }}",
        "{{ deepCopy $x | len }}",
        "{{ deepEqual $x $x }}",
        "{{ merge (dict) (dict \"k\" $x) | len }}",
        "{{ mergeOverwrite (dict) (dict \"k\" $x) | len }}",
        "{{ $x }}",
        "",
    ];
    let outcome = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut rendered = 0;
            for build in [build_list, build_dict] {
                for used in uses {
                    if render(&format!("{build}{used}")) {
                        rendered += 1;
                    }
                }
            }
            rendered
        })
        .expect("a thread")
        .join()
        .expect("the render thread");
    assert_eq!(
        outcome,
        2 * uses.len(),
        "every render returned (an error is fine)"
    );
}

/// A values file nested deeper than any real one is refused, not parsed into a stack
/// overflow (on a test thread's default 2 MiB stack).
#[test]
fn values_files_nested_too_deep_are_an_error() {
    let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let mut block = String::new();
    for i in 0..600 {
        block.push_str(&" ".repeat(i));
        block.push_str("a:\n");
    }
    for text in [flow, block] {
        let e = helm::values_from_yaml(&text).expect_err("too deep");
        assert!(e.to_string().contains("exceeded max depth"), "{e}");
    }
    let fine = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
    assert!(helm::values_from_yaml(&fine).is_ok());
}
