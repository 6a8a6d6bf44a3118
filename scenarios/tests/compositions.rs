//! Scenarios as compositions of named parts (`scenarios/src/parts.rs`): the cluster scenario
//! written as a file (`scenarios/testdata/compositions/cluster.txt`) runs the same seeds as the
//! registered scenario, trace for trace, so its sweep gives the same pass/fail on the same
//! seeds; and a composition no scenario makes (the idle workload) checks what it claims.

use scenarios::parts::{Check, Composition, Workload};
use scenarios::registry;
use scenarios::run::{FaultMix, RunOptions};
use scenarios::sabotage::Sabotage;
use scenarios::testfile::{run_file_with, FileOptions, DEFAULT_SAFETY};
use std::path::Path;

fn testdata(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

#[test]
fn the_cluster_scenario_as_a_file_runs_the_same_seeds_as_the_registered_scenario() {
    let file = testdata("compositions/cluster.txt");
    // The file names exactly the registered scenario's parts.
    assert!(registry::compositions().contains(&("cluster", Composition::cluster())));
    for seed in 0..3 {
        let registered = registry::run_named("cluster", &RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(seed) }).unwrap();
        let from_file = run_file_with(&file, FileOptions { seed, faults: FaultMix::Swarm, safety: DEFAULT_SAFETY });
        assert!(!registered.trace.is_empty());
        assert_eq!(from_file.trace, registered.trace, "seed {seed}: the file and the scenario ran differently");
        assert_eq!(from_file.failure.is_none(), registered.failure.is_none(), "seed {seed}: {:?} / {:?}", from_file.failure_report(), registered.failure);
    }
}

#[test]
fn a_failing_composition_fails_its_file_with_the_property_and_the_replay() {
    // The idle workload: rows loaded once, no writers, reads at past times under faults. It
    // reads something, and a cluster that answers reads from the past wrongly fails it.
    let idle = Composition { workload: Workload::Idle, checks: vec![Check::ReadsMatchOracle], ..Composition::cluster() };
    let ok = registry::run_composition(&idle, &RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(5) });
    assert!(ok.failure.is_none(), "{:?}", ok.failure);
    assert!(ok.reads_matched > 0, "the idle composition checked no read");
    let broken = registry::run_composition(&idle, &RunOptions { faults: FaultMix::Swarm, sabotage: Some(Sabotage::StaleReads), ..RunOptions::new(5) });
    let failure = broken.failure.expect("stale reads must fail reads-match-oracle");
    assert_eq!(failure.property.to_string(), "reads-match-oracle");
    // The file of the registered scenario, with a wrong expected verdict, fails naming the seed.
    let wrong = std::env::temp_dir().join(format!("backup-sim-compose-{}.txt", std::process::id()));
    std::fs::write(&wrong, "compose workload=idle checks=reads-match-oracle\n----\nFAIL liveness: never\n").unwrap();
    let run = run_file_with(&wrong, FileOptions::new(1));
    let report = run.failure_report().expect("ok is not the expected verdict");
    assert!(report.contains("- FAIL liveness: never") && report.contains("+ ok"), "{report}");
    assert!(report.contains("--seed 1"), "{report}");
    // A part that does not exist is named.
    std::fs::write(&wrong, "compose workload=tpcc\n----\nok\n").unwrap();
    let diff = run_file_with(&wrong, FileOptions::new(1)).failure.unwrap().diff;
    assert!(diff.contains("unknown workload \"tpcc\""), "{diff}");
}
