//! The `BACKUP` manifest's payload decoder and validation, fed payloads inside a valid envelope
//! (so the fuzzer works on the postcard payload, not on guessing CRCs). Never panics; an error
//! names the file; a manifest that decodes re-encodes to bytes that decode to the same value,
//! and everything a reader then does with it (dump for SHOW BACKUP, the catalog for RESTORE)
//! never panics.
#![no_main]

use backup::format::{FileKind, Manifest};
use backup_sim_fuzz::{assert_names_file, frame, PATH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    match Manifest::decode(PATH, &frame(FileKind::Manifest, payload)) {
        Ok(m) => {
            let bytes = m.encode();
            assert_eq!(Manifest::decode(PATH, &bytes).map(|m| m.encode()), Ok(bytes));
            let _ = m.dump();
            let _ = m.catalog();
            let _ = m.is_full();
            for f in &m.files {
                let _ = (m.file_window(f), f.counts());
            }
        }
        Err(e) => assert_names_file(&e),
    }
});
