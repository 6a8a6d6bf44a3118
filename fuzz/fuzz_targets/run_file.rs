//! `RunFile::parse`: the fault schedule file `replay --schedule` reads (a run file, or the bare
//! list of faults `--print-schedule` writes). Never panics; a parsed file written back as JSON
//! parses to the same file. (Applying it to a run's options, `scenarios::shrink::apply`, only
//! copies its fields.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim::run_file::RunFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(file) = RunFile::parse(text) else { return };
    let json = serde_json::to_string(&file).expect("a run file serializes");
    let again = RunFile::parse(&json).unwrap_or_else(|e| panic!("{json:?} (from {text:?}) does not parse back: {e}"));
    assert_eq!(serde_json::to_string(&again).ok(), Some(json));
});
