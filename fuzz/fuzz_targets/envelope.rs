//! Whole files as a restore reads them from storage: `peek_kind` and the decoder of every kind
//! on the same bytes. Never panics; an error names the file; a file that decodes re-encodes to
//! bytes that decode to the same value (checked by its encoding, so no `PartialEq` of floats
//! gets in the way).
#![no_main]

use backup::crypto::EncryptionInfo;
use backup::format::{file_checksum, peek_kind, Checkpoint, DataFile, FileKind, Manifest};
use backup_sim_fuzz::{assert_names_file, PATH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = file_checksum(data);
    let kind = peek_kind(PATH, data);
    if let Err(e) = &kind {
        assert_names_file(e);
    }
    match Manifest::decode(PATH, data) {
        Ok(m) => {
            assert_eq!(kind, Ok(FileKind::Manifest));
            let bytes = m.encode();
            assert_eq!(Manifest::decode(PATH, &bytes).map(|m| m.encode()), Ok(bytes));
        }
        Err(e) => assert_names_file(&e),
    }
    match Checkpoint::decode(PATH, data) {
        Ok(c) => {
            assert_eq!(kind, Ok(FileKind::Checkpoint));
            let bytes = c.encode();
            assert_eq!(Checkpoint::decode(PATH, &bytes).map(|c| c.encode()), Ok(bytes));
        }
        Err(e) => assert_names_file(&e),
    }
    match DataFile::decode(PATH, data) {
        Ok(d) => {
            assert_eq!(kind, Ok(FileKind::Data));
            let bytes = d.encode();
            assert_eq!(DataFile::decode(PATH, &bytes), Ok(d));
        }
        Err(e) => assert_names_file(&e),
    }
    match EncryptionInfo::decode(PATH, data) {
        Ok(i) => {
            assert_eq!(kind, Ok(FileKind::EncryptionInfo));
            assert_eq!(EncryptionInfo::decode(PATH, &i.encode()), Ok(i));
        }
        Err(e) => assert_names_file(&e),
    }
});
