//! A Secret's URL and the provider it is matched to: every URL scopegate would call stays on the configured origin.
//! The properties are in `scopegate::fuzzing`; seeds in `fuzz/seeds/url_and_host`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    scopegate::fuzzing::url_and_host(data);
});
