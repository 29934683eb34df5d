//! A kubeconfig, as kubectl's search order finds one. Relative paths resolve under a folder
//! that does not exist, so no input reads a file of this machine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let dir = std::path::Path::new("/nonexistent/plumb-fuzz");
        let _ = plumb::kube::kubeconfig::from_yaml(text, "fuzz", dir, None);
        let _ = plumb::kube::kubeconfig::from_yaml(text, "fuzz", dir, Some("other"));
    }
});
