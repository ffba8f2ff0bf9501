//! GitHub's answers (headers and bodies) to every call scopegate makes, for tokens and GitHub Apps.
//! The properties are in `scopegate::fuzzing`; seeds in `fuzz/seeds/github`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate::config::ProviderKind;

fuzz_target!(|data: &[u8]| {
    let _ = scopegate::fuzzing::provider_answers(ProviderKind::Github, data);
});
