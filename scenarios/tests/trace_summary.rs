//! Snapshots of the trace summaries of pinned seeds (`snapshots/trace_summary__*.snap`): the
//! faults each seed injected, its backup job's life, storage damage and the verdict in time
//! order, and counts of everything else. A change to the implementation or the simulator that
//! changes what a seed does shows up here as a readable diff; review it with
//! `cargo insta review` and accept it only if the new story is the intended one.

use scenarios::backup_scenario::run_backup;
use scenarios::run::{run_cluster, FaultMix, RunOptions};
use scenarios::summary::summarize;

fn check(name: &str, report: scenarios::run::RunReport) {
    assert!(report.failure.is_none(), "{name}: {:?}", report.failure);
    let text = format!("verdict: {}\n{}", report.detail, summarize(&report.trace));
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn backup_seed_7_every_fault_kind() {
    check("trace_summary_backup_seed_7", run_backup(&RunOptions::new(7)));
}

#[test]
fn backup_seed_12_swarm() {
    check("trace_summary_backup_seed_12_swarm", run_backup(&RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(12) }));
}

#[test]
fn cluster_seed_3_every_fault_kind() {
    check("trace_summary_cluster_seed_3", run_cluster(&RunOptions::new(3)));
}
