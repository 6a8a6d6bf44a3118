//! The `BACKUP-CHECKPOINT` payload decoder and validation (a resumed job trusts it), inside a
//! valid envelope. Never panics; an error names the file; a checkpoint that decodes re-encodes
//! to the same value, and what a resumed job does with it (remaining spans, totals, the dump,
//! turning it into the manifest) never panics.
#![no_main]

use backup::format::{Checkpoint, FileKind};
use backup_sim_fuzz::{assert_names_file, frame, PATH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    match Checkpoint::decode(PATH, &frame(FileKind::Checkpoint, payload)) {
        Ok(c) => {
            let bytes = c.encode();
            assert_eq!(Checkpoint::decode(PATH, &bytes).map(|c| c.encode()), Ok(bytes));
            let _ = (c.dump(), c.remaining_spans(), c.is_complete(), c.counts());
            if let Ok(m) = c.into_manifest() {
                assert!(m.validate().is_ok(), "a checkpoint became an invalid manifest");
            }
        }
        Err(e) => assert_names_file(&e),
    }
});
