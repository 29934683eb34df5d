//! A manifest file as Git holds it: read with kubectl's YAML rules, then named, scoped and
//! labelled as a render finishes it. Any input renders or fails; none panics.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use plumb::render::{self, Defaults, File, OfflineScopes};

fuzz_target!(|bytes: &[u8]| {
    let file = File {
        path: "apps/fuzz.yaml".into(),
        bytes: bytes.to_vec(),
    };
    let Ok(manifests) = render::parse_file(&file) else {
        return;
    };
    let scopes = OfflineScopes::with_crds(manifests.iter().map(|m| &m.object));
    let labels = BTreeMap::from([("applyset.kubernetes.io/part-of".to_owned(), "x".to_owned())]);
    let defaults = Defaults {
        namespace: "default",
        labels: &labels,
    };
    let _ = render::finish(manifests, &defaults, &scopes);
});
