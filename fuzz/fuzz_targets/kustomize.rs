//! A kustomization folder built by plumb's kustomize. The input is a small archive of files:
//! each starts with a line `==> PATH`; text before the first such line is kustomization.yaml.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb::render::kustomize::{self, MemFs};
use plumb::render::File;

fuzz_target!(|bytes: &[u8]| {
    let files = files_of(bytes);
    let fs = MemFs::new(&files);
    let _ = kustomize::build(&fs, "");
});

fn files_of(bytes: &[u8]) -> Vec<File> {
    let mut files = Vec::new();
    let mut path = "kustomization.yaml".to_owned();
    let mut body = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if let Some(name) = line.strip_prefix(b"==> ") {
            files.push(File {
                path: std::mem::take(&mut path),
                bytes: std::mem::take(&mut body),
            });
            path = String::from_utf8_lossy(name).trim().to_owned();
        } else {
            body.extend_from_slice(line);
        }
    }
    files.push(File { path, bytes: body });
    files
}
