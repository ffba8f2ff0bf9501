//! The review and Secret parsing path, fed arbitrary bytes as an AdmissionReview body.
//!
//! Properties: nothing panics; a parsed review always serialises an answer; the annotation patch
//! scopegate would send applies cleanly to the object it was computed from, and leaves exactly the
//! wanted `scopegate.dev/` annotations.
#![no_main]

use std::collections::BTreeMap;

use kube::core::admission::AdmissionResponse;
use libfuzzer_sys::fuzz_target;
use scopegate::fuzzing::{self as sg, RepoUrl, SecretObject, annotation};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RepoUrl::parse(text);
    }
    let Ok(req) = sg::parse_review(data) else { return };
    let answer = AdmissionResponse::from(&req).into_review();
    assert!(sg::review_to_json(&answer).is_ok(), "an answer always serialises");
    let wanted: BTreeMap<&'static str, String> = [
        (annotation::VERDICT, "ok".to_owned()),
        (annotation::ROLE, "read".to_owned()),
        (annotation::SCOPES, "repo".to_owned()),
    ]
    .into_iter()
    .collect();
    for obj in [req.object, req.old_object].into_iter().flatten() {
        let secret = SecretObject::from_dynamic(&obj);
        let _ = sg::role_of(&secret);
        let _ = sg::classify(&secret);
        let Ok(mut doc) = serde_json::to_value(&obj) else {
            continue;
        };
        let patch = sg::annotation_patch(&secret.annotations, &wanted);
        if let Err(e) = json_patch::patch(&mut doc, &patch) {
            panic!("the annotation patch does not apply: {e}");
        }
        let after = &doc["metadata"]["annotations"];
        for (k, v) in &wanted {
            assert_eq!(after[*k].as_str(), Some(v.as_str()), "{k} is set");
        }
        if let Some(map) = after.as_object() {
            for k in map.keys() {
                let ours = k.starts_with(annotation::PREFIX) && !annotation::INPUTS.contains(&k.as_str());
                assert!(!ours || wanted.contains_key(k.as_str()), "stale {k} removed");
            }
        }
    }
});
