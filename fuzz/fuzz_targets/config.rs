//! The configuration parser (`--config`): nothing panics; what it accepts holds the bounds scopegate relies on.
//! The properties are in `scopegate::fuzzing`; seeds in `fuzz/seeds/config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    scopegate::fuzzing::config(data);
});
