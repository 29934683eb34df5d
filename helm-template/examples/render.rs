//! Renders template cases given as JSON on stdin, the input `helm-engine-ref` takes, and
//! prints one JSON result per case: the benchmark runs both on the same cases.
//!
//! ```sh
//! cargo run --release -p helm-template --example render < cases.json
//! ```

use std::io::{Read, Write};

use helm_template::helm;

fn main() {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("render: reading stdin: {e}");
        std::process::exit(2);
    }
    let cases: Vec<serde_json::Value> = match serde_json::from_str(&text) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(_) => {
            eprintln!("render: stdin is not a JSON array of cases");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("render: stdin: {e}");
            std::process::exit(2);
        }
    };
    // Deep include chains recurse: give them the stack Go would grow into.
    let out = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || cases.iter().map(render).collect::<Vec<String>>())
        .expect("a render thread")
        .join()
        .expect("render thread");
    let mut stdout = std::io::stdout().lock();
    for line in out {
        let _ = writeln!(stdout, "{line}");
    }
}

fn render(case: &serde_json::Value) -> String {
    let name = case["name"].as_str().unwrap_or("");
    let templates = case["templates"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|pair| {
                    (
                        pair[0].as_str().unwrap_or("").to_string(),
                        pair[1].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let result = helm::values_from_yaml(case["values"].as_str().unwrap_or("")).and_then(|values| {
        helm::render(&helm::RenderInput {
            chart: helm::ChartMetadata::new("case", "0.1.0", "1.0.0"),
            release: helm::Release::new("release", "default"),
            capabilities: helm::Capabilities::default(),
            templates,
            values,
            seed: 1.into(),
        })
    });
    // Fields in helm-engine-ref's order, so the two outputs compare byte for byte.
    let name = serde_json::Value::from(name);
    match result {
        Ok(files) => format!("{{\"name\":{name},\"files\":{}}}", serde_json::json!(files)),
        Err(e) => format!(
            "{{\"name\":{name},\"error\":{}}}",
            serde_json::Value::from(e.to_string())
        ),
    }
}
