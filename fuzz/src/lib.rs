//! What the fuzz targets share: the path they name files by, the check that errors name it,
//! and wrapping a fuzzed payload in a valid envelope, so that the payload decoders are fuzzed
//! past the CRC (random bytes almost never carry a matching checksum, so a target fed whole
//! files would spend its time in the envelope's checks; the `envelope` target does that).

use backup::format::{FileKind, FORMAT_VERSION};

/// The path the targets pass to decoders: every error must name it.
pub const PATH: &str = "fuzz/FILE";

/// `payload` in an envelope of `kind` at the current format version, with a correct length
/// and CRC.
pub fn frame(kind: FileKind, payload: &[u8]) -> Vec<u8> {
    backup::format::envelope::frame(kind.to_byte(), FORMAT_VERSION, payload)
}

/// Asserts that a decode error names the file it was given, as every decoder promises.
pub fn assert_names_file(error: &dyn std::fmt::Display) {
    let text = error.to_string();
    assert!(text.starts_with(&format!("{PATH}: ")), "error does not start with the file's path: {text}");
}
