//! Azure DevOps's answers (headers and bodies) to every call scopegate makes, Git advertisements included.
//! The properties are in `scopegate::fuzzing`; seeds in `fuzz/seeds/azure_devops`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate::config::ProviderKind;

fuzz_target!(|data: &[u8]| {
    let _ = scopegate::fuzzing::provider_answers(ProviderKind::AzureDevops, data);
});
