//! Every scenario file under `scenarios/testdata/` as its own test (`cargo test -p scenarios
//! --test testdata -- incrementals` runs the files whose path contains that word), each run in
//! the simulated cluster with seed 0. A failure prints the file and line of the directive, a line
//! diff of expected against actual output, and the command that replays the file.
//! `REWRITE=1 cargo test -p scenarios --test testdata` rewrites the expected outputs.
//!
//! A file with a `sweep seeds=N faults=swarm` directive is also a second test, `<name>/sweep`:
//! the file across seeds 0..N with the seed's swarm faults in the background, every seed held to
//! the file's (fault-free) expected output. It fails with every failing seed's report, each with
//! its replay command. Under `REWRITE` the sweeps are skipped (a rewrite takes one fault-free
//! run).

use libtest_mimic::{Arguments, Failed, Trial};
use scenarios::testfile::{files_under, run_file, sweep_declared, sweep_file};
use std::path::Path;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let rewriting = std::env::var_os("REWRITE").is_some();
    let mut trials = Vec::new();
    for path in files_under(&root) {
        let name = path.strip_prefix(&root).unwrap_or(&path).with_extension("").to_string_lossy().replace('\\', "/");
        let declared = sweep_declared(&path);
        let one = path.clone();
        trials.push(Trial::test(name.clone(), move || match run_file(&one, 0).failure_report() {
            None => Ok(()),
            Some(report) => Err(Failed::from(report)),
        }));
        match declared {
            Ok(None) => {}
            Err(e) => trials.push(Trial::test(format!("{name}/sweep"), move || Err(Failed::from(e)))),
            Ok(Some(spec)) => trials.push(
                Trial::test(format!("{name}/sweep"), move || {
                    let runs = sweep_file(&path, 0..spec.seeds, spec.faults, spec.safety, 1, |_| {});
                    let failed: Vec<String> = runs.iter().filter_map(|r| r.failure_report().map(|rep| format!("seed {}:\n{rep}", r.seed))).collect();
                    if failed.is_empty() {
                        Ok(())
                    } else {
                        Err(Failed::from(format!("{} of {} seeds failed\n\n{}", failed.len(), runs.len(), failed.join("\n\n"))))
                    }
                })
                .with_ignored_flag(rewriting),
            ),
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
