//! Shrinking keeps the failure and drops what it does not need: a run that fails because of a
//! broken KV layer (not because of any fault) shrinks to an empty schedule that still fails the
//! same property when replayed.

use scenarios::run::{run_cluster, schedule_of, FaultMix, RunOptions, CLUSTER};
use scenarios::sabotage::Sabotage;
use scenarios::shrink::{shrink, ShrinkError};

#[test]
fn a_failure_that_needs_no_fault_shrinks_to_an_empty_schedule() {
    let base = RunOptions { faults: FaultMix::Everything, sabotage: Some(Sabotage::DropTombstones), ..RunOptions::new(4) };
    let original = schedule_of(CLUSTER, &base);
    assert!(original.len() > 10, "the seed's schedule has faults to remove");
    let s = shrink(CLUSTER, &base).expect("the sabotaged run fails");
    assert_eq!(s.property, "reads-match-oracle");
    assert_eq!(s.original, original);
    assert!(s.schedule.is_empty(), "kept {} faults it does not need: {:?}", s.schedule.len(), s.schedule);
    let replayed = run_cluster(&RunOptions { schedule: Some(s.schedule.clone()), ..base });
    assert_eq!(replayed.failure.map(|f| f.property), Some("reads-match-oracle"));
}

#[test]
fn a_passing_seed_has_nothing_to_shrink() {
    let base = RunOptions { faults: FaultMix::None, ..RunOptions::new(2) };
    assert_eq!(shrink(CLUSTER, &base).unwrap_err(), ShrinkError::Passes(2));
}
