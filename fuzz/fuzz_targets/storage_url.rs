//! `StorageUrl::parse` and `redact_location`: every location a statement names. Never panics;
//! a parsed URL's full rendering parses back to the same URL, and its redacted rendering to
//! the same redacted text; redaction of any text never panics.
#![no_main]

use backup::storage::url::{redact_location, StorageUrl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = redact_location(text);
    let Ok(url) = StorageUrl::parse(text) else { return };
    let full = url.expose();
    let again = StorageUrl::parse(&full).unwrap_or_else(|e| panic!("the rendering {:?} of {text:?} does not parse: {e}", url.redacted()));
    assert!(again == url, "{:?} renders as {:?}, which parses to another URL {:?}", text, url.redacted(), again.redacted());
    assert_eq!(again.redacted(), url.redacted());
    let _ = (url.auth(), url.nodelocal_target(), url.without_credentials(), url.root(), url.join("20200327/100000.00"));
});
