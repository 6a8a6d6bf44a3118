//! Formats that last: every golden backup in `scenarios/golden/` (each format version this
//! project ever wrote; see `scenarios/src/tools/golden_corpus.rs`) restores with this build to
//! the contents its source cluster held, and the check fails when a backup, its recorded
//! contents or its version label no longer agree.

use scenarios::tools::golden_corpus::{check, copy_tree, default_dir, GoldenError};
use std::path::{Path, PathBuf};

/// A copy of the corpus to damage.
fn corpus_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("golden-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&default_dir(), &dir).unwrap();
    dir
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn every_golden_backup_restores_to_its_recorded_contents() {
    let checked = check(&default_dir()).unwrap_or_else(|e| panic!("the golden corpus does not check: {e}"));
    let names: Vec<&str> = checked.entries.iter().map(|(e, _)| e.as_str()).collect();
    for kind in ["v1/full", "v1/incremental", "v1/revision-history", "v1/encrypted", "v1/cluster", "v1/collection", "v2/locality-aware"] {
        assert!(names.contains(&kind), "{kind} missing from {names:?}");
    }
    assert!(checked.entries.iter().all(|(_, q)| *q > 0));
}

#[test]
fn a_recorded_answer_that_no_longer_matches_fails_naming_the_entry_and_query() {
    let dir = corpus_copy("answer");
    let path = dir.join("v1/incremental/check.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("| brian  | 260"), "{text}");
    std::fs::write(&path, text.replacen("| brian  | 260", "| brian  | 261", 1)).unwrap();
    let e = check(&dir).unwrap_err();
    assert!(matches!(e, GoldenError::Mismatch { ref entry, .. } if entry == "v1/incremental"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_data_file_fails_the_restore() {
    let dir = corpus_copy("damaged");
    let mut files = Vec::new();
    files_under(&dir.join("v1/full/extern"), &mut files);
    let sst = files.iter().find(|p| p.extension().is_some_and(|e| e == "sst")).expect("a data file");
    let mut bytes = std::fs::read(sst).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(sst, bytes).unwrap();
    let e = check(&dir).unwrap_err().to_string();
    assert!(e.starts_with("v1/full: RESTORE"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_of_another_format_version_in_a_versions_directory_is_refused() {
    let dir = corpus_copy("version");
    let manifest = dir.join("v1/full/extern/full/BACKUP");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[9] = 7;
    std::fs::write(&manifest, bytes).unwrap();
    let e = check(&dir).unwrap_err();
    assert!(matches!(e, GoldenError::WrongVersion { found: 7, dir: 1, .. }), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corpus_without_this_builds_format_version_is_incomplete() {
    let dir = corpus_copy("missing");
    std::fs::remove_dir_all(dir.join("v1/encrypted")).unwrap();
    let e = check(&dir).unwrap_err().to_string();
    assert!(e.contains("has no v1/encrypted") && e.contains("golden-corpus write"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
