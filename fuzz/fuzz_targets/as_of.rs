//! `Timestamp::parse_as_of` (`AS OF SYSTEM TIME` values: decimals, intervals, date-times) and
//! `Timestamp::parse_decimal` (timestamps in manifests and traces). The first 12 bytes are the
//! "now" relative intervals are taken against. Never panics; a parsed timestamp's decimal
//! rendering parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::Timestamp;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let (now, text) = data.split_at(12);
    let Ok(text) = std::str::from_utf8(text) else { return };
    let wall = u64::from_le_bytes(now[..8].try_into().unwrap_or_default());
    let logical = u32::from_le_bytes(now[8..].try_into().unwrap_or_default());
    let now = Timestamp { wall, logical };
    for parsed in [Timestamp::parse_as_of(text, now), Timestamp::parse_decimal(text)] {
        if let Ok(ts) = parsed {
            assert_eq!(Timestamp::parse_decimal(&ts.to_string()), Ok(ts), "{text:?}");
            let _ = ts.to_datetime_string();
        }
    }
});
