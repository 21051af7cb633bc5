//! Any SQS message body: the parser answers events or `Malformed`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = iam_warden::parse_cloudtrail(body);
});
