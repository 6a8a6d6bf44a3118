//! `ENCRYPTION-INFO`'s payload decoder (salt, iteration count, key check), inside a valid
//! envelope. Never panics; an error names the file; an info that decodes re-encodes to the same
//! value. (Key derivation is not run: 64,000 PBKDF2 rounds per input would starve the fuzzer,
//! and its input is only the fixed-size salt.)
#![no_main]

use backup::crypto::EncryptionInfo;
use backup::format::FileKind;
use backup_sim_fuzz::{assert_names_file, frame, PATH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    match EncryptionInfo::decode(PATH, &frame(FileKind::EncryptionInfo, payload)) {
        Ok(info) => assert_eq!(EncryptionInfo::decode(PATH, &info.encode()), Ok(info)),
        Err(e) => assert_names_file(&e),
    }
});
