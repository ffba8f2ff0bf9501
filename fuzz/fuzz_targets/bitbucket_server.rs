//! Bitbucket Data Center's answers (headers and bodies) to every call scopegate makes.
//! The properties are in `scopegate::fuzzing`; seeds in `fuzz/seeds/bitbucket_server`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate::config::ProviderKind;

fuzz_target!(|data: &[u8]| {
    let _ = scopegate::fuzzing::provider_answers(ProviderKind::BitbucketServer, data);
});
