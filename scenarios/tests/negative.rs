//! Each check fails when what it checks is broken. A sabotaged KV layer sits between the
//! workload and the correct cluster; the run must fail with the right property.

use scenarios::cluster_scenario::run_cluster;
use scenarios::property::Property;
use scenarios::run::{FaultMix, RunOptions};
use scenarios::sabotage::Sabotage;

fn sabotaged(seed: u64, kind: Sabotage) -> RunOptions {
    let mut o = RunOptions::new(seed);
    o.faults = FaultMix::None;
    o.sabotage = Some(kind);
    o
}

#[test]
fn a_store_that_drops_tombstones_fails_the_oracle_comparison() {
    let r = run_cluster(&sabotaged(1, Sabotage::DropTombstones));
    let f = r.failure.expect("dropping tombstones must be caught");
    assert_eq!(f.property, Property::ReadsMatchOracle, "{}", f.message);
    assert!(f.message.contains("expected (absent), found ("), "the diff names a key the oracle deleted: {}", f.message);
}

#[test]
fn stale_reads_fail_the_oracle_comparison() {
    let r = run_cluster(&sabotaged(2, Sabotage::StaleReads));
    let f = r.failure.expect("stale reads must be caught");
    assert_eq!(f.property, Property::ReadsMatchOracle, "{}", f.message);
}

#[test]
fn a_cluster_that_stops_committing_fails_liveness() {
    let r = run_cluster(&sabotaged(3, Sabotage::HangCommits));
    let f = r.failure.expect("a hung cluster must be caught");
    assert_eq!(f.property, Property::Liveness, "{}", f.message);
}

#[test]
fn the_same_runs_unsabotaged_pass() {
    for seed in 1..=3 {
        let mut o = RunOptions::new(seed);
        o.faults = FaultMix::None;
        let r = run_cluster(&o);
        assert!(r.failure.is_none(), "seed {seed}: {:?}", r.failure);
    }
}
