//! The data file payload decoder and validation (sorted MVCC entries of one span), inside a
//! valid envelope. Never panics; an error names the file; a data file that decodes re-encodes
//! to the same value, and reads back as the file a manifest would list for it.
#![no_main]

use backup::format::{DataFile, FileInfo, FileKind};
use backup_sim_fuzz::{assert_names_file, frame, PATH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let bytes = frame(FileKind::Data, payload);
    match DataFile::decode(PATH, &bytes) {
        Ok(d) => {
            let _ = d.counts();
            let again = d.encode();
            assert_eq!(DataFile::decode(PATH, &again).as_ref(), Ok(&d));
            let info = FileInfo::new("data/1.sst", &d, &bytes);
            assert_eq!(DataFile::decode_listed(PATH, &info, &bytes), Ok(d));
        }
        Err(e) => assert_names_file(&e),
    }
});
