//! Snapshots of the trace summaries of pinned seeds (`snapshots/trace_summary_*.snap`): the
//! faults each seed injected, its backup job's life, storage damage and the verdict in time
//! order, and counts of everything else. A change to the implementation or the simulator that
//! changes what a seed does shows up here as a readable diff; review it with
//! `cargo insta review` and accept it only if the new story is the intended one.
//!
//! In a build with `--features planted-bugs`, `BACKUP_SIM_PLANTED=<bug>` runs these seeds with
//! that bug (the README's walkthrough uses it to show a behaviour change in review).

use scenarios::backup_scenario::run_backup;
use scenarios::cluster_scenario::run_cluster;
use scenarios::run::{FaultMix, RunOptions, RunReport};
use scenarios::summary::summarize;

fn opts(seed: u64, faults: FaultMix) -> RunOptions {
    #[allow(unused_mut)]
    let mut o = RunOptions { faults, ..RunOptions::new(seed) };
    #[cfg(feature = "planted-bugs")]
    if let Ok(name) = std::env::var("BACKUP_SIM_PLANTED") {
        o.planted = sim::planted::Planted::by_name(&name);
    }
    o
}

/// Snapshots the summary (the verdict first, so a failure shows in review), then requires the
/// run to have passed.
fn check(name: &str, report: RunReport) {
    let verdict = match &report.failure {
        None => format!("ok: {}", report.detail),
        Some(f) => format!("FAILED {}: {}", f.property, f.message.lines().next().unwrap_or("")),
    };
    let text = format!("verdict: {verdict}\n{}", summarize(&report.trace));
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
    assert!(report.failure.is_none(), "{name}: {:?}", report.failure);
}

#[test]
fn backup_seed_7_every_fault_kind() {
    check("trace_summary_backup_seed_7", run_backup(&opts(7, FaultMix::Everything)));
}

#[test]
fn backup_seed_12_swarm() {
    check("trace_summary_backup_seed_12_swarm", run_backup(&opts(12, FaultMix::Swarm)));
}

/// The coordinator is killed after one data file; another node adopts the job and resumes it
/// from the checkpoint (one span done, one to go).
#[test]
fn backup_seed_16_swarm_gateway_crashes_then_bit_rot_is_refused() {
    check("trace_summary_backup_seed_16_swarm", run_backup(&opts(16, FaultMix::Swarm)));
}

#[test]
fn cluster_seed_3_every_fault_kind() {
    check("trace_summary_cluster_seed_3", run_cluster(&opts(3, FaultMix::Everything)));
}
