//! Any policy file text: a policy or located errors, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(errors) = iam_warden::Policy::parse(Path::new("fuzz.yaml"), text) {
        // Rendering quotes source lines at the reported positions: exercise it too.
        let _ = errors.to_string();
    }
});
