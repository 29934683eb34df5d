//! plumb's config file: parsed and validated, or refused at a line and column.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = plumb::config::Settings::from_yaml(
            text,
            std::path::Path::new("/etc/plumb/config.yaml"),
        );
    }
});
