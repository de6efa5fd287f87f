//! The planner's answer parser on arbitrary model output: an action or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vibectl_client::vibe::plan::parse(text);
    }
});
