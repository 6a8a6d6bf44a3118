//! Shrinking keeps the failure and drops what it does not need: a run that fails because of a
//! broken KV layer (not because of any fault) shrinks to an empty schedule and a much smaller
//! workload that still fail the same property when replayed from the run file.

use scenarios::cluster_scenario::{run_cluster, CLUSTER};
use scenarios::property::Property;
use scenarios::registry::schedule_of;
use scenarios::run::{FaultMix, RunOptions};
use scenarios::sabotage::Sabotage;
use scenarios::shrink::{shrink, RunFile, ShrinkError};

#[test]
fn a_failure_that_needs_no_fault_shrinks_to_an_empty_schedule() {
    let base = RunOptions { faults: FaultMix::Everything, sabotage: Some(Sabotage::DropTombstones), ..RunOptions::new(4) };
    let original = schedule_of(CLUSTER, &base);
    assert!(original.len() > 10, "the seed's schedule has faults to remove");
    let s = shrink(CLUSTER, &base).expect("the sabotaged run fails");
    assert_eq!(s.property, Property::ReadsMatchOracle);
    assert_eq!(s.original, original);
    assert!(s.schedule.is_empty(), "kept {} faults it does not need: {:?}", s.schedule.len(), s.schedule);
    // Dropped tombstones need a delete to show: a handful of operations, not the default
    // 2 writers x 120. Shrinking cuts writers and operations, so count operations in all.
    let total = |w: &sim::run_file::WorkloadSteps| w.writers * w.ops_per_writer;
    assert!(total(&s.workload) * 4 < total(&s.original_workload), "workload barely shrank: {:?} -> {:?}", s.original_workload, s.workload);
    assert!(s.workload.ops_per_writer > 0);
    // The run file round-trips through JSON and replays the same failure.
    let file = RunFile::parse(&serde_json::to_string(&s.run_file()).unwrap()).unwrap();
    let mut opts = base.clone();
    scenarios::shrink::apply(&file, &mut opts);
    let replayed = run_cluster(&opts);
    assert_eq!(replayed.failure.map(|f| f.property), Some(Property::ReadsMatchOracle));
    // One fewer operation per writer passes (or fails otherwise): the count found is minimal
    // for this binary search.
    let mut fewer = opts.clone();
    fewer.workload.ops_per_writer -= 1;
    assert_ne!(run_cluster(&fewer).failure.map(|f| f.property), Some(Property::ReadsMatchOracle));
}

#[test]
fn a_passing_seed_has_nothing_to_shrink() {
    let base = RunOptions { faults: FaultMix::None, ..RunOptions::new(2) };
    assert_eq!(shrink(CLUSTER, &base).unwrap_err(), ShrinkError::Passes(2));
}

#[test]
fn a_bare_schedule_is_still_a_run_file() {
    let f = RunFile::parse("[]").unwrap();
    assert!(f.faults.is_empty() && f.workload.is_none());
    assert!(RunFile::parse("{").unwrap_err().contains("neither a run file nor a list of faults"));
}
