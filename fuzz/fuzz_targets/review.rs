//! The review and Secret parsing path, fed arbitrary bytes as an AdmissionReview body.
//!
//! Properties (in `scopegate::fuzzing::review`): nothing panics; a parsed review always serialises an
//! answer; what the webhook reads of the Secret is what kube's types read of it; the annotation patch
//! scopegate would send applies cleanly to the object it was computed from, and leaves exactly the
//! wanted `scopegate.dev/` annotations. Seeds in `fuzz/seeds/review`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    scopegate::fuzzing::review(data);
});
