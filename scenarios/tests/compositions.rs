//! Scenarios as compositions of named parts (`scenarios/src/parts.rs`): the cluster, backup and
//! chain scenarios written as files (`scenarios/testdata/compositions/`) run the same seeds as
//! the registered scenarios, trace for trace, so their sweeps give the same pass/fail on the same
//! seeds; and compositions no scenario makes (the idle workload, fewer checks) check what they
//! claim and no more.

use scenarios::parts::{Check, Composition, FaultMenu, Workload};
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
fn the_backup_and_chain_scenarios_as_files_run_the_same_seeds_as_the_registered_scenarios() {
    for (name, file, parts) in [("backup", "compositions/backup.txt", Composition::backup()), ("chain", "compositions/chain.txt", Composition::chain())] {
        assert!(registry::compositions().contains(&(name, parts.clone())));
        let text = std::fs::read_to_string(testdata(file)).unwrap();
        // The file spells out every part, so a reader sees what the scenario is made of.
        assert!(text.contains(&format!("compose {parts}")), "{file} does not name {name}'s parts: {parts}");
        for seed in 0..2 {
            let registered = registry::run_named(name, &RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(seed) }).unwrap();
            let from_file = run_file_with(&testdata(file), FileOptions { seed, faults: FaultMix::Swarm, safety: DEFAULT_SAFETY });
            assert!(!registered.trace.is_empty());
            assert_eq!(from_file.trace, registered.trace, "{name} seed {seed}: the file and the scenario ran differently");
            assert_eq!(from_file.failure.is_none(), registered.failure.is_none(), "{name} seed {seed}");
        }
    }
}

#[test]
fn a_composition_judges_the_checks_it_names_and_no_others() {
    // The backup operation over a cluster at rest, no faults: with its restore check it
    // restores the backup and compares it with the oracle; without, it never restores.
    let opts = RunOptions::new(3);
    let judged = Composition { workload: Workload::Idle, faults: FaultMenu::None, checks: vec![Check::RestoresMatchOracle], ..Composition::backup() };
    let run = registry::run_composition(&judged, &opts);
    assert!(run.failure.is_none(), "{:?}", run.failure);
    assert!(run.reads_matched > 0, "the restore was judged on no relation: {}", run.detail);
    assert!(run.trace.contains(" restorer "), "no restore ran");
    assert!(run.trace.contains("runner knob workload.writers=0"), "the idle workload has writers");
    let unjudged = Composition { checks: vec![Check::JobsAudit], ..judged };
    let run = registry::run_composition(&unjudged, &opts);
    assert!(run.failure.is_none(), "{:?}", run.failure);
    assert!(!run.trace.contains(" restorer "), "a restore ran that no check asked for");
    assert!(run.detail.contains("not judged"), "{}", run.detail);
    assert!(run.trace.contains(" bulk SHOW JOBS"), "the jobs audit did not run");
    // The chain operation without faults draws none, whatever the sweep's mix.
    let quiet = Composition { faults: FaultMenu::None, ..Composition::chain() };
    let run = registry::run_composition(&quiet, &RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(4) });
    assert!(run.failure.is_none(), "{:?}", run.failure);
    assert_eq!(run.faults, 0, "{}", run.swarm);
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
