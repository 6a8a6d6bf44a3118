//! Every scenario file under `scenarios/testdata/` as its own test (`cargo test -p scenarios
//! --test testdata -- incrementals` runs the files whose path contains that word), each run in
//! the simulated cluster with seed 0. A failure prints the file and line of the directive, a line
//! diff of expected against actual output, and the command that replays the file.
//! `REWRITE=1 cargo test -p scenarios --test testdata` rewrites the expected outputs.

use libtest_mimic::{Arguments, Failed, Trial};
use scenarios::testfile::{files_under, run_file};
use std::path::Path;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let trials = files_under(&root)
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(&root).unwrap_or(&path).with_extension("").to_string_lossy().replace('\\', "/");
            Trial::test(name, move || match run_file(&path, 0).failure_report() {
                None => Ok(()),
                Some(report) => Err(Failed::from(report)),
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
