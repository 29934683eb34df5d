//! Kustomize's patchers: a strategic-merge patch and a JSON 6902 patch applied to an object.
//! The input is two YAML documents (the object, then the patch) split by a line `---`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb::render::kustomize::patch;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let (base, overlay) = text.split_once("\n---\n").unwrap_or((text, "{}"));
    let (Ok(base), Ok(overlay)) = (object_of(base), object_of(overlay)) else {
        return;
    };
    let mut merged = base.clone();
    let _ = patch::strategic_merge(&mut merged, &overlay);
    let mut patched = base;
    let _ = patch::json6902(&mut patched, &overlay);
});

fn object_of(text: &str) -> Result<serde_json::Value, ()> {
    plumb::render::parse_file(&plumb::render::File {
        path: "patch.yaml".into(),
        bytes: text.as_bytes().to_vec(),
    })
    .map_err(|_| ())
    .and_then(|mut m| {
        if m.len() == 1 {
            Ok(m.remove(0).object)
        } else {
            Err(())
        }
    })
}
